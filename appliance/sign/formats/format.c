#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ac_cab.h"
#include "ac_msi.h"
#include "ac_pe.h"
#include "ac_script.h"
#include "authenticode.h"
#include "cms.h"
#include "format.h"
#include "log.h"
#include "signet_limits.h"

_Static_assert(AC_PE_SUMS_LEN <= FORMAT_RECORDED_MAX,
    "a PE image's recorded sums fit format_streamed.recorded");

static int format_ac_sign(const struct format_job *job,
    const struct format_key *key, struct format_output *out, char *reason,
    size_t rlen);

/* Authenticode's signed files keep their names; the media type is the
 * container's. */
static const struct format formats[] = {
	{ "detached-cms", ".p7s", "application/pkcs7-signature",
	    "detached CMS signature (RFC 5652)", cms_format_sign, NULL, 0 },
	{ FORMAT_HASH_SLUG, ".sig", "application/octet-stream",
	    "hash signing: the build machine hashes, the appliance signs the "
	    "digest", NULL, NULL, 0 },
	{ "authenticode", "", "application/octet-stream",
	    "Authenticode, embedded; the container (PE/EFI, MSI, CAB, "
	    "PowerShell script) is recognised from the content",
	    format_ac_sign, NULL, 1 },
	{ "authenticode-pe", "", "application/vnd.microsoft.portable-executable",
	    "Authenticode-signed PE/COFF image (EXE, DLL, SYS, UEFI)",
	    format_ac_sign, &ac_pe_format, 0 },
	{ "authenticode-msi", "", "application/x-msi",
	    "Authenticode-signed Windows Installer package (.msi, .msp)",
	    format_ac_sign, &ac_msi_format, 0 },
	{ "authenticode-cab", "", "application/vnd.ms-cab-compressed",
	    "Authenticode-signed cabinet (.cab)", format_ac_sign,
	    &ac_cab_format, 0 },
	{ "authenticode-script", "", "text/plain",
	    "Authenticode-signed PowerShell script (.ps1, .psm1, .psd1, "
	    ".ps1xml)", format_ac_sign, &ac_script_format, 0 },
};

/* The containers "authenticode" chooses from, in the order their magic
 * is tried: binary formats first, the script last, since it has no magic
 * and is chosen only for content that is text. */
static const struct ac_format *const format_containers[] = {
	&ac_pe_format,
	&ac_msi_format,
	&ac_cab_format,
	&ac_script_format,
};

#define FORMAT_N (sizeof(formats) / sizeof(formats[0]))

const struct format *
format_find(const char *slug)
{
	size_t i;

	if (slug == NULL)
		return NULL;
	for (i = 0; i < FORMAT_N; i++)
		if (strcmp(formats[i].slug, slug) == 0)
			return &formats[i];
	return NULL;
}

size_t
format_count(void)
{
	return FORMAT_N;
}

const struct format *
format_at(size_t i)
{
	return i < format_count() ? &formats[i] : NULL;
}

const struct format *
format_default(void)
{
	return &formats[0];
}

void
format_slugs(char *out, size_t len)
{
	size_t i, used = 0;
	int n;

	if (len == 0)
		return;
	out[0] = '\0';
	for (i = 0; i < format_count(); i++) {
		n = snprintf(out + used, len - used, "%s%s", i ? ", " : "",
		    formats[i].slug);
		if (n < 0 || (size_t)n >= len - used)
			return;
		used += (size_t)n;
	}
}

/* The registry row of a container format. */
static const struct format *
format_of_container(const struct ac_format *ac)
{
	size_t i;

	for (i = 0; i < FORMAT_N; i++)
		if (formats[i].ac == ac)
			return &formats[i];
	return NULL;
}

int
format_check(const char *conf, int fd, uint64_t size, const char *digest_alg,
    const struct format_streamed *st, const struct format **resolved,
    unsigned char *digest, size_t *dlen, char *msg, size_t mlen)
{
	const struct format *f = format_find(conf);
	const struct ac_format *ac = NULL;
	unsigned char head[AC_MAGIC_LEN];
	struct ac_msg m = { "" };
	const EVP_MD *md;
	ssize_t n = 0;
	size_t i;
	int r;

	*resolved = NULL;
	*dlen = 0;
	if (f == NULL) {
		snprintf(msg, mlen, "'%.64s' is not a signature format of "
		    "this appliance", conf ? conf : "");
		return SIGNET_ERR_INVALID;
	}
	if (f->ac == NULL && !f->pick) {
		*resolved = f;	/* detached: any bytes can be signed */
		return 0;
	}
	if ((md = ac_md_by_name(digest_alg)) == NULL) {
		snprintf(msg, mlen, "digest algorithm '%.16s' is not one "
		    "Authenticode signs with (sha256, sha384, sha512)",
		    digest_alg);
		return SIGNET_ERR_INVALID;
	}
	if (f->pick) {
		do
			n = pread(fd, head, size < sizeof(head) ?
			    (size_t)size : sizeof(head), 0);
		while (n < 0 && errno == EINTR);
		if (n < 0) {
			snprintf(msg, mlen, "the file could not be read");
			return SIGNET_ERR_IO;
		}
		/* by content only: a file's name says what it is called,
		 * not what it is */
		for (i = 0; i < sizeof(format_containers) /
		    sizeof(format_containers[0]) && ac == NULL; i++)
			if (format_containers[i]->detect(head, (size_t)n))
				ac = format_containers[i];
		if (ac == NULL) {
			snprintf(msg, mlen, "the file is none of the formats "
			    "Authenticode signs here: its first bytes are no "
			    "PE/EFI, MSI or CAB header, and it is not text "
			    "(a PowerShell script)");
			return SIGNET_ERR_INVALID;
		}
		f = format_of_container(ac);
		if (f == NULL)
			return SIGNET_ERR_INTERNAL;
	}
	if (st != NULL && st->ac == f->ac) {
		/* read once: checked and digested as it streamed in */
		r = st->r;
		snprintf(m.text, sizeof(m.text), "%s", st->msg);
		if (r == 0)
			memcpy(digest, st->digest, (size_t)EVP_MD_get_size(md));
	} else {
		r = ac_check_digest(f->ac, fd, size, md, digest, &m);
	}
	if (r != 0) {
		snprintf(msg, mlen, "not a valid file for %s: %s", f->slug,
		    m.text[0] ? m.text : signet_strerror(r));
		return r == SIGNET_ERR_TOO_LARGE || r == SIGNET_ERR_TRUNCATED ||
		    r == SIGNET_ERR_NOMEM || r == SIGNET_ERR_IO ? r :
		    SIGNET_ERR_INVALID;
	}
	*dlen = (size_t)EVP_MD_get_size(md);
	*resolved = f;
	return 0;
}

/* Every Authenticode configuration: the container named by the job (the
 * one recorded at submission), signed into a new stored artifact. */
static int
format_ac_sign(const struct format_job *job, const struct format_key *key,
    struct format_output *out, char *reason, size_t rlen)
{
	struct ac_sign_opts o;
	struct ac_result res;
	struct ac_msg m = { "" };
	struct ac_sink sink;
	struct cas_upload *u = NULL;
	struct stat st;
	uint64_t size = 0;
	int fd, r;

	if (job->ac == NULL || job->md == NULL) {
		snprintf(reason, rlen, "the request names no Authenticode "
		    "container format");
		return SIGNET_ERR_INVALID;
	}
	if ((fd = job->artifact_fd) < 0 || fstat(fd, &st) != 0) {
		snprintf(reason, rlen, "the stored artifact cannot be read");
		return SIGNET_ERR_IO;
	}
	size = (uint64_t)st.st_size;
	memset(&o, 0, sizeof(o));
	o.md = job->md;
	o.append = job->append;
	o.program_name = job->program_name;
	o.url = job->url;
	o.request_id = job->request_id;
	o.expect = job->ac_digest;
	o.expect_len = job->ac_digest_len;
	o.recorded = job->ac_recorded;
	o.timestamp = job->timestamp;
	o.timestamp_arg = job->timestamp_arg;
	/* a PE image may carry several certificate table entries, all of
	 * them looked at; a UEFI image's signatures stand side by side
	 * (firmware, shim and sbverify read every entry), so append adds
	 * one more there instead of nesting */
	if (job->ac == &ac_pe_format) {
		struct ac_pe_info info;

		if ((r = ac_pe_info(fd, size, &info, &m)) != 0) {
			snprintf(reason, rlen, "%s", m.text[0] ? m.text :
			    signet_strerror(r));
			goto out;
		}
		o.signatures = ac_pe_signatures;
		if (info.efi)
			o.embed_append = ac_pe_embed_append;
	}
	/* room for the file, its signature and any it had */
	if ((r = cas_upload_begin(job->cas, size + 4 * SIGNET_MAX_AC_DER,
	    &u)) != 0) {
		snprintf(reason, rlen, "the signed file cannot be stored");
		goto out;
	}
	ac_sink_cas(&sink, u);
	if ((r = ac_sign_file(job->ac, fd, size, &o, key->key, key->leaf,
	    key->chain, &sink, &res, &m)) != 0) {
		snprintf(reason, rlen, "%s", m.text[0] ? m.text :
		    signet_strerror(r));
		goto out;
	}
	if (res.unchanged) {
		/* the very file: the stored artifact is the result */
		snprintf(out->sha256, sizeof(out->sha256), "%s",
		    job->artifact_sha256);
		out->size = size;
		out->unchanged = 1;
		r = 0;
		goto out;
	}
	r = cas_upload_finish_held(u, SIGNET_INLINE_RESULT_MAX, out->sha256,
	    &out->size, &out->held);
	u = NULL;
	if (r != 0) {
		snprintf(reason, rlen, "storing the signed file failed");
		goto out;
	}
	out->nested = res.nested;
	out->beside = res.beside;
out:
	cas_upload_abort(u);
	return r;
}

struct format_walk {
	ac_digests_fn fn;
	void *arg;
};

static int
format_walk_one(const unsigned char *p7, size_t len, void *arg)
{
	const struct format_walk *w = arg;
	int r = ac_signed_digests(p7, len, w->fn, w->arg);

	/* an entry that is none of Authenticode's is not one Signet made:
	 * the others are still looked at */
	return r == SIGNET_ERR_INVALID ? 0 : r;
}

int
format_ac_signed_digests(const char *slug, int fd, uint64_t size,
    ac_digests_fn fn, void *arg, char *msg, size_t mlen)
{
	const struct format *f = format_find(slug);
	struct format_walk w = { fn, arg };
	struct ac_msg m = { "" };
	unsigned char *der = NULL;
	size_t len = 0;
	int r;

	if (f == NULL || f->ac == NULL) {
		snprintf(msg, mlen, "'%.64s' is no Authenticode container",
		    slug ? slug : "");
		return SIGNET_ERR_INVALID;
	}
	if (f->ac == &ac_pe_format) {
		r = ac_pe_signatures(fd, size, format_walk_one, &w, &m);
	} else if ((r = f->ac->existing(fd, size, &der, &len, &m)) == 0) {
		r = der != NULL ? ac_signed_digests(der, len, fn, arg) :
		    SIGNET_ERR_NOT_FOUND;
		if (der == NULL)
			snprintf(m.text, sizeof(m.text), "the file carries no "
			    "signature");
	}
	OPENSSL_free(der);
	if (r < 0)
		snprintf(msg, mlen, "%s", m.text[0] ? m.text :
		    signet_strerror(r));
	return r;
}
