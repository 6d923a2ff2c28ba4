/* Authenticode for PE/COFF images (appliance/sign/formats/ac_pe.c),
 * checked against the real tools. ac_pe_fixture.sh builds the inputs
 * (mingw-w64 programs and a DLL, PE32 and PE32+, one with an overlay,
 * one relabelled ARM64) and signs them with osslsigncode; Debian's
 * vendor-signed shim and GRUB are the UEFI inputs.
 *
 * - digest() and the streaming digest (fed in odd chunks) of each
 *   unsigned file equal the digest osslsigncode signed, and indirect()
 *   is byte for byte the SpcIndirectDataContent it signed, for
 *   SHA-256, SHA-384 and SHA-512; the vendors' signatures of shim and
 *   GRUB sign our digest of those files;
 * - embed() (and ac_pe_embed_append()) of osslsigncode's PKCS#7 into the
 *   unsigned file writes osslsigncode's signed file exactly, which `osslsigncode verify`
 *   passes with a correct checksum (and python3-pefile agrees), and
 *   fails once a byte of code is changed;
 * - on shim and GRUB, embed() replaces the vendor's signatures and
 *   ac_pe_embed_append() adds sbsign's after them: sbverify lists them
 *   all, verifies ours, and the vendor's entries are unchanged;
 * - malformed images are refused by check(), digest(), the stream and
 *   embed() alike, with the same code and a message that names the
 *   fault.
 * A tool that is missing fails the test. */
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pkcs7.h>

#include "ac_pe.h"
#include "signet_limits.h"

static char dir[PATH_MAX];

static const char *const inputs[] = {
	"pe64.exe", "pe32.exe", "dll64.dll", "overlay.exe", "arm64.exe",
};

static const struct {
	const char *name;
	const EVP_MD *(*md)(void);
} mds[] = {
	{ "sha256", EVP_sha256 },
	{ "sha384", EVP_sha384 },
	{ "sha512", EVP_sha512 },
};

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

static void
path(char *out, size_t n, const char *fmt, ...)
{
	char name[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(name, sizeof(name), fmt, ap);
	va_end(ap);
	assert_true((size_t)snprintf(out, n, "%s/%s", dir, name) < n);
}

static unsigned char *
slurp(const char *p, size_t *len)
{
	struct stat st;
	unsigned char *buf;
	int fd = open(p, O_RDONLY | O_CLOEXEC);

	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &st), 0);
	buf = malloc((size_t)st.st_size + 1);
	assert_non_null(buf);
	assert_int_equal(read(fd, buf, (size_t)st.st_size), st.st_size);
	close(fd);
	*len = (size_t)st.st_size;
	return buf;
}

static void
spit(const char *p, const void *buf, size_t len)
{
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, buf, len), (ssize_t)len);
	close(fd);
}

static int
open_size(const char *p, uint64_t *size)
{
	struct stat st;
	int fd = open(p, O_RDONLY | O_CLOEXEC);

	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &st), 0);
	*size = (uint64_t)st.st_size;
	return fd;
}

/* A shell command's exit status, its output in out[n] when out. */
static int
run(char *out, size_t n, const char *fmt, ...)
{
	char cmd[4096];
	size_t got = 0, k;
	va_list ap;
	FILE *f;
	int st;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	assert_non_null(f = popen(cmd, "r"));
	if (out != NULL) {
		while (got + 1 < n && (k = fread(out + got, 1, n - 1 - got,
		    f)) > 0)
			got += k;
		out[got] = '\0';
	}
	while (fgetc(f) != EOF)
		;
	st = pclose(f);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int
count_lines(const char *text, const char *prefix)
{
	const char *p = text;
	int n = 0;

	while (p != NULL && *p != '\0') {
		if (strncmp(p, prefix, strlen(prefix)) == 0)
			n++;
		p = strchr(p, '\n');
		if (p != NULL)
			p++;
	}
	return n;
}

/* ---- a sink into a file, counting what goes through it ---- */

struct fsink {
	int fd;
	size_t calls;
};

static int
fs_write(void *arg, const void *p, size_t n)
{
	struct fsink *s = arg;

	s->calls++;
	return write(s->fd, p, n) == (ssize_t)n ? 0 : SIGNET_ERR_IO;
}

static int
fs_copy(void *arg, int fd, uint64_t off, uint64_t len)
{
	struct fsink *s = arg;
	unsigned char buf[65536];
	ssize_t k;

	s->calls++;
	while (len > 0) {
		k = pread(fd, buf, len < sizeof(buf) ? (size_t)len :
		    sizeof(buf), (off_t)off);
		if (k <= 0 || write(s->fd, buf, (size_t)k) != k)
			return SIGNET_ERR_IO;
		off += (uint64_t)k;
		len -= (uint64_t)k;
	}
	return 0;
}

/* embed() (append: ac_pe_embed_append()), or with sums given
 * embed_recorded(), of the PKCS#7 in p7path into in, written to out. */
static int
embed_with(const char *in, const char *p7path, const char *out, int append,
    const char *sums, struct ac_msg *m, size_t *calls)
{
	struct fsink fs;
	struct ac_sink sink = { .write = fs_write, .copy = fs_copy, .arg = &fs };
	unsigned char *p7;
	size_t p7len;
	uint64_t size;
	int fd, r;

	p7 = slurp(p7path, &p7len);
	fd = open_size(in, &size);
	fs.fd = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	fs.calls = 0;
	assert_true(fs.fd >= 0);
	if (sums != NULL)
		r = ac_pe_format.embed_recorded(fd, size, append, p7, p7len,
		    sums, &sink, m);
	else if (append)
		r = ac_pe_embed_append(fd, size, p7, p7len, &sink, m);
	else
		r = ac_pe_format.embed(fd, size, p7, p7len, &sink, m);
	close(fs.fd);
	close(fd);
	free(p7);
	if (calls != NULL)
		*calls = fs.calls;
	return r;
}

static int
embed_file(const char *in, const char *p7path, const char *out, int append,
    struct ac_msg *m, size_t *calls)
{
	return embed_with(in, p7path, out, append, NULL, m, calls);
}

static int
digest_file(const char *p, const EVP_MD *md, unsigned char *out,
    struct ac_msg *m)
{
	uint64_t size;
	int fd = open_size(p, &size), r;

	r = ac_pe_format.digest(fd, size, md, out, m);
	close(fd);
	return r;
}

/* The streaming digest of buf, fed in chunks of the sizes in turn. */
static int
stream_digest(const unsigned char *buf, size_t len, const EVP_MD *md,
    unsigned char *out, struct ac_msg *m)
{
	static const size_t sizes[] = { 1, 7, 3, 61, 4093, 65536, 13,
	    1 << 20, 2 };
	struct ac_pe_stream *s;
	size_t off = 0, i = 0, k;
	int r;

	assert_int_equal(ac_pe_stream_new(md, &s), 0);
	while (off < len) {
		k = sizes[i++ % NELEM(sizes)];
		if (k > len - off)
			k = len - off;
		assert_int_equal(ac_pe_stream_update(s, buf + off, k), 0);
		off += k;
	}
	r = ac_pe_stream_final(s, out, m);
	ac_pe_stream_free(s);
	return r;
}

/* The SpcIndirectDataContent DER (the whole SEQUENCE) a PKCS#7
 * SignedData signs. */
static unsigned char *
p7_content(const unsigned char *der, size_t len, size_t *clen)
{
	const unsigned char *p = der;
	PKCS7 *p7 = d2i_PKCS7(NULL, &p, (long)len);
	PKCS7 *inner;
	ASN1_OBJECT *spc = OBJ_txt2obj("1.3.6.1.4.1.311.2.1.4", 1);
	ASN1_TYPE *t;
	unsigned char *out;

	assert_non_null(p7);
	assert_true(PKCS7_type_is_signed(p7));
	inner = p7->d.sign->contents;
	/* SPC_INDIRECT_DATA_OBJID */
	assert_int_equal(OBJ_cmp(inner->type, spc), 0);
	ASN1_OBJECT_free(spc);
	t = inner->d.other;
	assert_non_null(t);
	assert_int_equal(t->type, V_ASN1_SEQUENCE);
	*clen = (size_t)ASN1_STRING_length(t->value.sequence);
	out = malloc(*clen);
	assert_non_null(out);
	memcpy(out, ASN1_STRING_get0_data(t->value.sequence), *clen);
	PKCS7_free(p7);
	return out;
}

static int
checksum_ok(const char *p)
{
	return run(NULL, 0, "/usr/bin/python3 -c 'import pefile, sys; "
	    "pe = pefile.PE(sys.argv[1], fast_load=True); "
	    "sys.exit(pe.OPTIONAL_HEADER.CheckSum != pe.generate_checksum())' "
	    "'%s'", p) == 0;
}

static int
osslsigncode_ok(const char *p)
{
	static char out[65536];
	int rc = run(out, sizeof(out), "osslsigncode verify -CAfile '%s/cert.pem' "
	    "-in '%s' 2>&1", dir, p);

	if (rc == 0 && strstr(out, "invalid PE checksum") != NULL)
		rc = -2;
	if (rc == 0 && strstr(out, "Signature verification: ok") == NULL)
		rc = -3;
	if (rc != 0)
		print_message("osslsigncode verify %s: %d\n%s\n", p, rc, out);
	return rc == 0;
}

static uint32_t
le32(const unsigned char *b)
{
	return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 |
	    (uint32_t)b[3] << 24;
}

static void
put32(unsigned char *b, uint32_t v)
{
	b[0] = (unsigned char)v;
	b[1] = (unsigned char)(v >> 8);
	b[2] = (unsigned char)(v >> 16);
	b[3] = (unsigned char)(v >> 24);
}

/* offsets in a PE32+ image: the certificate-table directory entry, the
 * first section header */
static size_t
dd_at(const unsigned char *b)
{
	return le32(b + 0x3c) + 24 + 112 + 32;
}

static size_t
sect_at(const unsigned char *b)
{
	size_t lfanew = le32(b + 0x3c);

	return lfanew + 24 + ((size_t)b[lfanew + 20] | (size_t)b[lfanew + 21] << 8);
}

/* ---- digest and indirect against osslsigncode ---- */

static void
test_digest_osslsigncode(void **state)
{
	unsigned char d[EVP_MAX_MD_SIZE], d2[EVP_MAX_MD_SIZE], *buf, *p7, *c, *der;
	char in[PATH_MAX], signedp[PATH_MAX], p7p[PATH_MAX];
	size_t i, j, len, p7len, clen, derlen, mdlen;
	struct ac_msg m;

	(void)state;
	for (i = 0; i < NELEM(inputs); i++) {
		for (j = 0; j < NELEM(mds); j++) {
			const EVP_MD *md = mds[j].md();

			mdlen = (size_t)EVP_MD_get_size(md);
			path(in, sizeof(in), "%s", inputs[i]);
			path(signedp, sizeof(signedp), "%s.%s.signed",
			    inputs[i], mds[j].name);
			path(p7p, sizeof(p7p), "%s.%s.p7", inputs[i],
			    mds[j].name);
			assert_int_equal(digest_file(in, md, d, &m), 0);
			assert_int_equal(ac_pe_format.indirect(md, d, &der,
			    &derlen), 0);
			p7 = slurp(p7p, &p7len);
			c = p7_content(p7, p7len, &clen);
			/* what osslsigncode signed, byte for byte */
			assert_int_equal(derlen, clen);
			assert_memory_equal(der, c, clen);
			assert_memory_equal(c + clen - mdlen, d, mdlen);
			/* the signature is left out of the digest */
			assert_int_equal(digest_file(signedp, md, d2, &m), 0);
			assert_memory_equal(d, d2, mdlen);
			/* the stream, in odd chunks, agrees */
			buf = slurp(in, &len);
			memset(d2, 0, sizeof(d2));
			assert_int_equal(stream_digest(buf, len, md, d2, &m), 0);
			assert_memory_equal(d, d2, mdlen);
			free(buf);
			buf = slurp(signedp, &len);
			memset(d2, 0, sizeof(d2));
			assert_int_equal(stream_digest(buf, len, md, d2, &m), 0);
			assert_memory_equal(d, d2, mdlen);
			free(buf);
			OPENSSL_free(der);
			free(c);
			free(p7);
		}
	}
}

static void
test_indirect_refuses(void **state)
{
	unsigned char d[64] = { 0 }, *der;
	size_t len;

	(void)state;
	assert_int_equal(ac_pe_format.indirect(EVP_sha1(), d, &der, &len),
	    SIGNET_ERR_INVALID);
	assert_null(der);
	assert_int_equal(len, 0);
	assert_int_equal(ac_pe_format.indirect(EVP_md5(), d, &der, &len),
	    SIGNET_ERR_INVALID);
}

/* ---- embed against osslsigncode ---- */

static void
test_embed_osslsigncode(void **state)
{
	char in[PATH_MAX], p7p[PATH_MAX], out[PATH_MAX], ref[PATH_MAX];
	unsigned char *a, *b, d[32], d2[32];
	size_t i, alen, blen, off;
	struct ac_msg m;

	(void)state;
	for (i = 0; i < NELEM(inputs); i++) {
		path(in, sizeof(in), "%s", inputs[i]);
		path(p7p, sizeof(p7p), "%s.sha256.p7", inputs[i]);
		path(ref, sizeof(ref), "%s.sha256.signed", inputs[i]);
		path(out, sizeof(out), "%s.embedded", inputs[i]);
		assert_int_equal(embed_file(in, p7p, out, 0, &m, NULL), 0);
		assert_true(osslsigncode_ok(out));
		assert_true(checksum_ok(out));
		/* the file osslsigncode wrote, exactly */
		a = slurp(out, &alen);
		b = slurp(ref, &blen);
		assert_int_equal(alen, blen);
		assert_memory_equal(a, b, alen);
		assert_int_equal(alen % 8, 0);
		/* the digest is unchanged by the signature */
		assert_int_equal(digest_file(in, EVP_sha256(), d, &m), 0);
		assert_int_equal(digest_file(out, EVP_sha256(), d2, &m), 0);
		assert_memory_equal(d, d2, sizeof(d));
		/* one byte of the first section changed: refused */
		off = le32(a + sect_at(a) + 20) + 0x40;
		a[off] ^= 0x01;
		path(out, sizeof(out), "%s.tampered", inputs[i]);
		spit(out, a, alen);
		assert_int_not_equal(run(NULL, 0, "osslsigncode verify "
		    "-CAfile '%s/cert.pem' -in '%s' > /dev/null 2>&1", dir,
		    out), 0);
		free(a);
		free(b);
	}
}

/* embed() into a signed file replaces its signature */
static void
test_embed_replace(void **state)
{
	char in[PATH_MAX], p7p[PATH_MAX], out[PATH_MAX];
	unsigned char *p7, *der;
	size_t p7len, derlen;
	struct ac_pe_info info;
	struct ac_msg m;
	uint64_t size;
	int fd;

	(void)state;
	path(in, sizeof(in), "pe64.exe.sha256.signed");
	path(p7p, sizeof(p7p), "pe64.exe.sha512.p7");
	path(out, sizeof(out), "pe64.exe.replaced");
	assert_int_equal(embed_file(in, p7p, out, 0, &m, NULL), 0);
	assert_true(osslsigncode_ok(out));
	assert_true(checksum_ok(out));
	fd = open_size(out, &size);
	assert_int_equal(ac_pe_info(fd, size, &info, &m), 0);
	assert_int_equal(info.nsignatures, 1);
	assert_int_equal(ac_pe_format.existing(fd, size, &der, &derlen, &m), 0);
	close(fd);
	p7 = slurp(p7p, &p7len);
	assert_int_equal(derlen, p7len);
	assert_memory_equal(der, p7, p7len);
	OPENSSL_free(der);
	free(p7);
}

/* appending to an unsigned file is embedding into it */
static void
test_append_unsigned(void **state)
{
	char in[PATH_MAX], p7p[PATH_MAX], out[PATH_MAX], ref[PATH_MAX];
	unsigned char *a, *b;
	size_t alen, blen;
	struct ac_msg m;

	(void)state;
	path(in, sizeof(in), "overlay.exe");
	path(p7p, sizeof(p7p), "overlay.exe.sha384.p7");
	path(ref, sizeof(ref), "overlay.exe.sha384.signed");
	path(out, sizeof(out), "overlay.exe.appended");
	assert_int_equal(embed_file(in, p7p, out, 1, &m, NULL), 0);
	a = slurp(out, &alen);
	b = slurp(ref, &blen);
	assert_int_equal(alen, blen);
	assert_memory_equal(a, b, alen);
	free(a);
	free(b);
}

/* The stream's notes of file p (ac_pe_stream_sums); *cs_ok: its
 * CheckSum is right. */
static void
stream_sums(const char *p, char sums[AC_PE_SUMS_LEN], int *cs_ok)
{
	unsigned char dg[EVP_MAX_MD_SIZE], *buf;
	struct ac_pe_stream *s;
	struct ac_msg m;
	size_t len;

	buf = slurp(p, &len);
	assert_int_equal(ac_pe_stream_new(EVP_sha256(), &s), 0);
	assert_int_equal(ac_pe_stream_update(s, buf, len), 0);
	assert_int_equal(ac_pe_stream_final(s, dg, &m), 0);
	assert_int_equal(ac_pe_stream_sums(s, sums, AC_PE_SUMS_LEN), 0);
	*cs_ok = ac_pe_stream_checksum_ok(s);
	ac_pe_stream_free(s);
	free(buf);
}

/* Files a and b hold the same bytes. */
static void
same_file(const char *a, const char *b)
{
	unsigned char *x, *y;
	size_t xl, yl;

	x = slurp(a, &xl);
	y = slurp(b, &yl);
	assert_int_equal(xl, yl);
	assert_memory_equal(x, y, xl);
	free(x);
	free(y);
}

/*
 * The CheckSum from the sums recorded while a file streamed in gives the
 * very file the pass over it gives: unsigned, with an overlay, of odd
 * length, signed (replaced, and kept beside); the signed file's stream
 * finds its CheckSum right. Sums of another file give a wrong CheckSum,
 * which the stream over the result sees; text that is no sums is
 * ignored (the pass is made).
 */
static void
test_embed_recorded(void **state)
{
	static const char *const files[] = { "pe64.exe", "overlay.exe",
	    "odd.exe", "pe64.exe.sha256.signed" };
	char in[PATH_MAX], p7p[PATH_MAX], a[PATH_MAX], b[PATH_MAX];
	char sums[AC_PE_SUMS_LEN], other[AC_PE_SUMS_LEN];
	unsigned char *x;
	size_t xl, i;
	struct ac_msg m;
	int keep, ok;

	(void)state;
	/* an odd length: the overlay one byte longer */
	path(in, sizeof(in), "overlay.exe");
	x = slurp(in, &xl);
	x = realloc(x, xl + 1);
	x[xl] = 0x5a;
	path(a, sizeof(a), "odd.exe");
	spit(a, x, xl + 1);
	free(x);
	path(p7p, sizeof(p7p), "pe64.exe.sha512.p7");
	path(in, sizeof(in), "pe32.exe");
	stream_sums(in, other, &ok);
	for (i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		for (keep = 0; keep <= 1; keep++) {
			path(in, sizeof(in), "%s", files[i]);
			path(a, sizeof(a), "%s.pass", files[i]);
			path(b, sizeof(b), "%s.recorded", files[i]);
			stream_sums(in, sums, &ok);
			assert_int_equal(embed_file(in, p7p, a, keep, &m,
			    NULL), 0);
			assert_int_equal(embed_with(in, p7p, b, keep,
			    sums, &m, NULL), 0);
			same_file(a, b);
			assert_true(checksum_ok(b));
			stream_sums(b, sums, &ok);
			assert_true(ok);
			/* another file's sums: a wrong CheckSum, seen */
			assert_int_equal(embed_with(in, p7p, b, keep,
			    other, &m, NULL), 0);
			assert_false(checksum_ok(b));
			stream_sums(b, sums, &ok);
			assert_false(ok);
			/* no sums: the pass, the same file */
			assert_int_equal(embed_with(in, p7p, b, keep,
			    "not sums", &m, NULL), 0);
			same_file(a, b);
		}
	}
}

struct collect {
	unsigned n;
	unsigned char *der[8];
	size_t len[8];
};

static int
collect_one(const unsigned char *p7, size_t len, void *arg)
{
	struct collect *c = arg;

	assert_true(c->n < 8);
	c->der[c->n] = malloc(len);
	memcpy(c->der[c->n], p7, len);
	c->len[c->n++] = len;
	return 0;
}

static void
collect_free(struct collect *c)
{
	unsigned i;

	for (i = 0; i < c->n; i++)
		free(c->der[i]);
	c->n = 0;
}

static int
stop_at_first(const unsigned char *p7, size_t len, void *arg)
{
	(void)p7;
	(void)len;
	(*(int *)arg)++;
	return 7;
}

static unsigned char p7len_marker[1];

static void
test_existing(void **state)
{
	char p[PATH_MAX];
	unsigned char *der, *p7;
	size_t derlen, p7len;
	struct collect c = { 0 };
	struct ac_msg m;
	uint64_t size;
	int fd, calls = 0;

	(void)state;
	path(p, sizeof(p), "pe32.exe");
	fd = open_size(p, &size);
	der = p7len_marker;
	assert_int_equal(ac_pe_format.existing(fd, size, &der, &derlen, &m), 0);
	assert_null(der);
	assert_int_equal(derlen, 0);
	assert_int_equal(ac_pe_signatures(fd, size, collect_one, &c, &m), 0);
	assert_int_equal(c.n, 0);
	close(fd);

	path(p, sizeof(p), "pe32.exe.sha384.signed");
	fd = open_size(p, &size);
	assert_int_equal(ac_pe_format.existing(fd, size, &der, &derlen, &m), 0);
	path(p, sizeof(p), "pe32.exe.sha384.p7");
	p7 = slurp(p, &p7len);
	/* the DER without the entry's padding */
	assert_int_equal(derlen, p7len);
	assert_memory_equal(der, p7, p7len);
	assert_int_equal(ac_pe_signatures(fd, size, collect_one, &c, &m), 0);
	assert_int_equal(c.n, 1);
	assert_memory_equal(c.der[0], p7, p7len);
	assert_int_equal(ac_pe_signatures(fd, size, stop_at_first, &calls,
	    &m), 7);
	assert_int_equal(calls, 1);
	close(fd);
	collect_free(&c);
	OPENSSL_free(der);
	free(p7);
}

static void
test_info(void **state)
{
	static const struct {
		const char *file;
		int pe32plus;
		uint16_t machine;
		int efi;
		unsigned nsig;
	} want[] = {
		{ "pe64.exe", 1, 0x8664, 0, 0 },
		{ "pe32.exe", 0, 0x014c, 0, 0 },
		{ "dll64.dll", 1, 0x8664, 0, 0 },
		{ "arm64.exe", 1, 0xaa64, 0, 0 },
		{ "pe32.exe.sha256.signed", 0, 0x014c, 0, 1 },
		{ "shim.efi", 1, 0x8664, 1, 2 },
		{ "grub.efi", 1, 0x8664, 1, 1 },
	};
	struct ac_pe_info info;
	struct ac_msg m;
	char p[PATH_MAX];
	uint64_t size;
	size_t i;
	int fd;

	(void)state;
	for (i = 0; i < NELEM(want); i++) {
		path(p, sizeof(p), "%s", want[i].file);
		fd = open_size(p, &size);
		assert_int_equal(ac_pe_format.check(fd, size, &m), 0);
		assert_int_equal(ac_pe_info(fd, size, &info, &m), 0);
		close(fd);
		assert_int_equal(info.pe32plus, want[i].pe32plus);
		assert_int_equal(info.machine, want[i].machine);
		assert_int_equal(info.efi, want[i].efi);
		assert_int_equal(info.nsignatures, want[i].nsig);
		if (want[i].efi)
			assert_int_equal(info.subsystem, 10);
		else
			assert_int_equal(info.subsystem, 3);
	}
}

static void
test_detect(void **state)
{
	unsigned char head[AC_MAGIC_LEN], *b;
	char p[PATH_MAX];
	size_t len;

	(void)state;
	path(p, sizeof(p), "pe32.exe");
	b = slurp(p, &len);
	assert_true(ac_pe_format.detect(b, AC_MAGIC_LEN));
	assert_true(ac_pe_format.detect(b, 200));
	assert_false(ac_pe_format.detect(b, 100));	/* PE\0\0 at 0x80 */
	memcpy(head, b, sizeof(head));
	head[0x81] = 'X';
	assert_false(ac_pe_format.detect(head, sizeof(head)));
	memcpy(head, b, sizeof(head));
	put32(head + 0x3c, 0x1000);	/* beyond what it is shown */
	assert_true(ac_pe_format.detect(head, sizeof(head)));
	/* e_lfanew no image can have: text beginning with "MZ", or one
	 * unaligned, or in the DOS header */
	memset(head, ' ', sizeof(head));
	memcpy(head, "MZ Write-Output 'text'", 22);
	assert_false(ac_pe_format.detect(head, sizeof(head)));
	memcpy(head, b, sizeof(head));
	put32(head + 0x3c, 0x82);
	assert_false(ac_pe_format.detect(head, sizeof(head)));
	put32(head + 0x3c, 0x20);
	assert_false(ac_pe_format.detect(head, sizeof(head)));
	assert_false(ac_pe_format.detect((const unsigned char *)
	    "\177ELF\2\1\1", 7));
	assert_false(ac_pe_format.detect((const unsigned char *)"MZ", 2));
	assert_false(ac_pe_format.detect((const unsigned char *)"", 0));
	free(b);
	assert_string_equal(ac_pe_format.slug, "authenticode-pe");
}

/* ---- UEFI: shim and GRUB as Debian ships them ---- */

static int
vendor_signs_digest(const unsigned char *p7, size_t len, void *arg)
{
	const unsigned char *d = arg;
	unsigned char *c;
	size_t clen;

	c = p7_content(p7, len, &clen);
	/* DigestInfo ends the content: OCTET STRING of 32 bytes */
	assert_true(clen > 34);
	assert_int_equal(c[clen - 34], 0x04);
	assert_int_equal(c[clen - 33], 32);
	assert_memory_equal(c + clen - 32, d, 32);
	free(c);
	return 0;
}

static void
test_efi_vendor_digest(void **state)
{
	static const char *const files[] = { "shim.efi", "grub.efi" };
	unsigned char d[32], d2[32], *buf;
	char p[PATH_MAX];
	struct ac_msg m;
	uint64_t size;
	size_t i, len;
	int fd;

	(void)state;
	for (i = 0; i < NELEM(files); i++) {
		path(p, sizeof(p), "%s", files[i]);
		assert_int_equal(digest_file(p, EVP_sha256(), d, &m), 0);
		fd = open_size(p, &size);
		/* Microsoft's signatures are over our digest */
		assert_int_equal(ac_pe_signatures(fd, size,
		    vendor_signs_digest, d, &m), 0);
		close(fd);
		buf = slurp(p, &len);
		assert_int_equal(stream_digest(buf, len, EVP_sha256(), d2,
		    &m), 0);
		assert_memory_equal(d, d2, sizeof(d));
		free(buf);
	}
}

static void
test_efi_replace(void **state)
{
	char in[PATH_MAX], p7p[PATH_MAX], out[PATH_MAX], text[65536];
	unsigned char *a, *b;
	size_t alen, blen;
	struct ac_msg m;

	(void)state;
	path(in, sizeof(in), "shim.efi");
	path(p7p, sizeof(p7p), "shim.efi.sha256.p7");
	path(out, sizeof(out), "shim.efi.replaced");
	assert_int_equal(embed_file(in, p7p, out, 0, &m, NULL), 0);
	assert_true(osslsigncode_ok(out));
	assert_true(checksum_ok(out));
	assert_int_equal(run(NULL, 0, "sbverify --cert '%s/cert.pem' '%s' "
	    "> /dev/null 2>&1", dir, out), 0);
	assert_int_equal(run(text, sizeof(text), "sbverify --list '%s' 2>&1",
	    out), 0);
	assert_int_equal(count_lines(text, "signature "), 1);
	a = slurp(out, &alen);
	path(out, sizeof(out), "shim.efi.sha256.signed");
	b = slurp(out, &blen);
	assert_int_equal(alen, blen);
	assert_memory_equal(a, b, alen);
	free(a);
	free(b);
}

static void
append_check(const char *file, unsigned vendor, const char *issuer,
    int control)
{
	char in[PATH_MAX], p7p[PATH_MAX], out[PATH_MAX], text[65536];
	unsigned char *a, *b, d[32], d2[32];
	size_t alen, blen, dd;
	struct collect c = { 0 };
	struct ac_pe_info info;
	struct ac_msg m;
	uint64_t size;
	uint32_t toff, tlen;
	int fd;

	path(in, sizeof(in), "%s", file);
	path(p7p, sizeof(p7p), "%s.sb.p7", file);
	path(out, sizeof(out), "%s.appended", file);
	/* the control: the vendor's file does not verify with our cert
	 * (sbverify passes shim, signed twice, with any certificate) */
	if (control)
		assert_int_not_equal(run(NULL, 0, "sbverify --cert "
		    "'%s/cert.pem' '%s' > /dev/null 2>&1", dir, in), 0);
	assert_int_equal(embed_file(in, p7p, out, 1, &m, NULL), 0);
	assert_int_equal(run(NULL, 0, "sbverify --cert '%s/cert.pem' '%s' "
	    "> /dev/null 2>&1", dir, out), 0);
	assert_int_equal(run(text, sizeof(text), "sbverify --list '%s' 2>&1",
	    out), 0);
	assert_int_equal(count_lines(text, "signature "), vendor + 1);
	assert_non_null(strstr(text, issuer));
	assert_non_null(strstr(text, "Signet test code signing"));
	assert_true(checksum_ok(out));
	/* the vendor's entries are where they were, unchanged */
	a = slurp(out, &alen);
	b = slurp(in, &blen);
	dd = dd_at(b);
	toff = le32(b + dd);
	tlen = le32(b + dd + 4);
	assert_int_equal(le32(a + dd), toff);
	assert_true(alen > blen);
	assert_memory_equal(a + toff, b + toff, tlen);
	assert_int_equal(le32(a + dd + 4), alen - toff);
	/* the digest is unchanged */
	assert_int_equal(digest_file(in, EVP_sha256(), d, &m), 0);
	assert_int_equal(digest_file(out, EVP_sha256(), d2, &m), 0);
	assert_memory_equal(d, d2, sizeof(d));
	fd = open_size(out, &size);
	assert_int_equal(ac_pe_info(fd, size, &info, &m), 0);
	assert_int_equal(info.nsignatures, vendor + 1);
	assert_int_equal(ac_pe_signatures(fd, size, collect_one, &c, &m), 0);
	close(fd);
	assert_int_equal(c.n, vendor + 1);
	free(a);
	a = slurp(p7p, &alen);
	assert_int_equal(c.len[vendor], alen);
	assert_memory_equal(c.der[vendor], a, alen);
	/* sbsign signed our digest of the image */
	assert_int_equal(vendor_signs_digest(a, alen, d), 0);
	collect_free(&c);
	free(a);
	free(b);
}

static void
test_efi_append_grub(void **state)
{
	(void)state;
	append_check("grub.efi", 1, "Debian Secure Boot CA", 1);
}

static void
test_efi_append_shim(void **state)
{
	(void)state;
	append_check("shim.efi", 2, "Microsoft Corporation UEFI CA 2011", 0);
}

/* ---- malformed images ---- */

struct bad {
	const char *what;
	unsigned char *buf;
	size_t len;
	int err;
	const char *text;
};

/* check(), digest(), the stream and embed() all refuse it alike */
static void
refused(const struct bad *b)
{
	char p[PATH_MAX], out[PATH_MAX], p7p[PATH_MAX];
	unsigned char d[32];
	struct ac_msg m, m2;
	uint64_t size;
	size_t calls;
	int fd;

	print_message("%s\n", b->what);
	path(p, sizeof(p), "bad.bin");
	spit(p, b->buf, b->len);
	fd = open_size(p, &size);
	memset(&m, 0, sizeof(m));
	assert_int_equal(ac_pe_format.check(fd, size, &m), b->err);
	if (strstr(m.text, b->text) == NULL)
		fail_msg("%s: \"%s\" does not say \"%s\"", b->what, m.text,
		    b->text);
	close(fd);
	assert_int_equal(digest_file(p, EVP_sha256(), d, &m2), b->err);
	assert_string_equal(m2.text, m.text);
	memset(&m2, 0, sizeof(m2));
	assert_int_equal(stream_digest(b->buf, b->len, EVP_sha256(), d, &m2),
	    b->err);
	assert_string_equal(m2.text, m.text);
	path(out, sizeof(out), "bad.out");
	path(p7p, sizeof(p7p), "pe64.exe.sha256.p7");
	assert_int_equal(embed_file(p, p7p, out, 0, &m2, &calls), b->err);
	assert_int_equal(calls, 0);
	assert_int_equal(embed_file(p, p7p, out, 1, &m2, &calls), b->err);
	assert_int_equal(calls, 0);
}

static unsigned char *
copy_of(const char *file, size_t *len, size_t extra)
{
	char p[PATH_MAX];
	unsigned char *b, *c;

	path(p, sizeof(p), "%s", file);
	b = slurp(p, len);
	c = calloc(1, *len + extra);
	assert_non_null(c);
	memcpy(c, b, *len);
	free(b);
	return c;
}

static void
test_malformed(void **state)
{
	static unsigned char notpe[] = "#!/bin/sh\necho hi\n";
	struct bad b;
	size_t len, slen, lfanew, sect, dd;
	unsigned char *u, *s;
	uint32_t toff;

	(void)state;
	u = copy_of("pe64.exe", &len, 200 * 1024);
	s = copy_of("pe64.exe.sha256.signed", &slen, 64);
	lfanew = le32(u + 0x3c);
	sect = sect_at(u);
	dd = dd_at(s);
	toff = le32(s + dd);

#define BAD(w, buf_, len_, e, t) do {					\
	b.what = (w); b.buf = (buf_); b.len = (len_); b.err = (e);	\
	b.text = (t); refused(&b);					\
} while (0)
#define WITH(buf_, len_, change, ...) do {				\
	unsigned char *w_ = calloc(1, (len_) + 200 * 1024);		\
	memcpy(w_, (buf_), (len_));					\
	{ unsigned char *x = w_; change; }				\
	BAD(__VA_ARGS__);						\
	free(w_);							\
} while (0)

	BAD("not a PE at all", notpe, sizeof(notpe) - 1,
	    SIGNET_ERR_INVALID, "does not begin with a DOS header");
	BAD("empty", u, 0, SIGNET_ERR_INVALID, "the file is empty");
	BAD("truncated DOS header", u, 40, SIGNET_ERR_TRUNCATED,
	    "ends inside the DOS header (40 of its 64 bytes)");
	WITH(u, len, put32(x + 0x3c, 0x10000), "e_lfanew past the end", w_,
	    len, SIGNET_ERR_TRUNCATED, "e_lfanew (0x10000) points past the "
	    "end of the file");
	WITH(u, len, put32(x + 0x3c, 0x20), "e_lfanew in the DOS header", w_,
	    len, SIGNET_ERR_INVALID, "points into the DOS header");
	WITH(u, len, put32(x + 0x3c, 0x82), "e_lfanew unaligned", w_, len,
	    SIGNET_ERR_INVALID, "not 4-byte aligned");
	/* the headers beyond what is read: file large enough */
	WITH(u, len, put32(x + 0x3c, 0x20000), "headers too far", w_,
	    len + 200 * 1024, SIGNET_ERR_TOO_LARGE, "run past the first 65536 "
	    "bytes");
	WITH(u, len, x[lfanew + 1] = 'X', "bad PE signature", w_, len,
	    SIGNET_ERR_INVALID, "no PE signature");
	WITH(u, len, (x[lfanew + 4] = 0x00, x[lfanew + 5] = 0x02),
	    "unknown machine", w_, len, SIGNET_ERR_INVALID,
	    "machine type 0x0200 is not one Signet signs");
	WITH(u, len, (x[lfanew + 6] = 97, x[lfanew + 7] = 0),
	    "too many sections", w_, len, SIGNET_ERR_TOO_LARGE,
	    "97 sections, more than the 96");
	WITH(u, len, (x[lfanew + 20] = 96, x[lfanew + 21] = 0),
	    "optional header too small", w_, len, SIGNET_ERR_INVALID,
	    "(96 bytes) is too small for a PE32+ optional header (112)");
	WITH(u, len, (x[lfanew + 20] = 112 + 40, x[lfanew + 21] = 0),
	    "optional header too small for its directories", w_, len,
	    SIGNET_ERR_INVALID, "too small for its 16 data directories");
	WITH(u, len, (x[lfanew + 24] = 0x07, x[lfanew + 25] = 0x01),
	    "ROM image", w_, len, SIGNET_ERR_INVALID,
	    "magic 0x0107 is neither PE32");
	WITH(u, len, put32(x + lfanew + 24 + 108, 4), "no security entry", w_,
	    len, SIGNET_ERR_INVALID, "no certificate-table directory entry");
	WITH(u, len, put32(x + lfanew + 24 + 108, 17), "too many directories",
	    w_, len, SIGNET_ERR_TOO_LARGE, "NumberOfRvaAndSizes is 17");
	WITH(u, len, put32(x + lfanew + 24 + 60, 0x100),
	    "SizeOfHeaders before the section table's end", w_, len,
	    SIGNET_ERR_INVALID, "past the end of the headers");
	WITH(u, len, put32(x + sect + 20, (uint32_t)len - 0x10),
	    "section raw data past the end of the file", w_, len,
	    SIGNET_ERR_TRUNCATED, "section 1 (.text): its raw data");
	BAD("file ends in the section table", u, sect + 20,
	    SIGNET_ERR_TRUNCATED, "ends inside the optional header or the "
	    "section table");
	WITH(u, len, put32(x + dd, (uint32_t)len), "directory entry offset "
	    "only", w_, len, SIGNET_ERR_INVALID, "directory entry is "
	    "malformed");

	/* the certificate table */
	WITH(s, slen, (void)x, "certificate table not at the end", w_,
	    slen + 16, SIGNET_ERR_INVALID, "does not end the file: 16 bytes "
	    "follow it");
	BAD("certificate table past the end", s, slen - 8,
	    SIGNET_ERR_TRUNCATED, "the certificate table (");
	WITH(s, slen, (put32(x + dd, toff + 4), put32(x + dd + 4,
	    (uint32_t)slen - toff - 4)), "certificate table unaligned", w_,
	    slen, SIGNET_ERR_INVALID, "not 8-byte aligned");
	WITH(s, slen, put32(x + dd, 0x200), "certificate table in the "
	    "headers", w_, slen, SIGNET_ERR_INVALID, "overlaps the headers");
	WITH(s, slen, put32(x + dd + 4, SIGNET_MAX_PE_CERT_TABLE + 8),
	    "certificate table too large", w_, slen, SIGNET_ERR_TOO_LARGE,
	    "more than the 1048576 Signet reads");
	WITH(s, slen, put32(x + toff, 4), "WIN_CERTIFICATE length too small",
	    w_, slen, SIGNET_ERR_INVALID, "WIN_CERTIFICATE 1: its length (4) "
	    "is shorter than its own header");
	WITH(s, slen, put32(x + toff, (uint32_t)(slen - toff) + 8),
	    "WIN_CERTIFICATE length too large", w_, slen, SIGNET_ERR_INVALID,
	    "runs past the end of the certificate table");
	WITH(s, slen, put32(x + toff, 8), "WIN_CERTIFICATE empty", w_, slen,
	    SIGNET_ERR_INVALID, "WIN_CERTIFICATE 1 holds no signature");
	WITH(s, slen, x[toff + 5] = 0x01, "WIN_CERTIFICATE revision", w_,
	    slen, SIGNET_ERR_INVALID, "revision 0x0100");
	WITH(s, slen, x[toff + 6] = 0x01, "WIN_CERTIFICATE type", w_, slen,
	    SIGNET_ERR_INVALID, "type 0x0001, not PKCS#7 SignedData");
	/* a second entry header cut short */
	WITH(s, slen, (put32(x + dd + 4, (uint32_t)(slen - toff) + 4),
	    memset(x + slen, 0, 4)),
	    "table ends inside an entry header", w_, slen + 4,
	    SIGNET_ERR_INVALID, "ends inside the header of WIN_CERTIFICATE 2");
	WITH(s, slen, put32(x + sect_at(s) + 16, toff + 0x100),
	    "section reaching into the certificate table", w_, slen,
	    SIGNET_ERR_INVALID, "runs into the certificate table");
#undef WITH
#undef BAD
	free(u);
	free(s);
}

static void
test_stream_not_pe(void **state)
{
	struct ac_pe_stream *s;
	unsigned char d[64], junk[70000];
	struct ac_msg m;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(junk); i++)
		junk[i] = (unsigned char)(i * 7);
	assert_int_equal(ac_pe_stream_new(EVP_sha256(), &s), 0);
	for (i = 0; i < 20; i++)
		assert_int_equal(ac_pe_stream_update(s, junk, sizeof(junk)), 0);
	assert_int_equal(ac_pe_stream_final(s, d, &m), SIGNET_ERR_INVALID);
	assert_non_null(strstr(m.text, "not a PE image"));
	ac_pe_stream_free(s);
	ac_pe_stream_free(NULL);
	assert_int_equal(ac_pe_stream_new(EVP_sha1(), &s), SIGNET_ERR_INVALID);
	assert_null(s);
}

static void
test_embed_refuses_empty(void **state)
{
	char p[PATH_MAX], out[PATH_MAX];
	struct fsink fs = { -1, 0 };
	struct ac_sink sink = { .write = fs_write, .copy = fs_copy, .arg = &fs };
	struct ac_msg m;
	uint64_t size;
	int fd;

	(void)state;
	path(p, sizeof(p), "pe64.exe");
	path(out, sizeof(out), "empty.out");
	fd = open_size(p, &size);
	assert_int_equal(ac_pe_format.embed(fd, size,
	    (const unsigned char *)"", 0, &sink, &m), SIGNET_ERR_INVALID);
	assert_non_null(strstr(m.text, "no signature"));
	assert_int_equal(fs.calls, 0);
	close(fd);
}

static int
setup(void **state)
{
	const char *fixture = getenv("AC_PE_FIXTURE");
	const char *tmp = getenv("TMPDIR");

	(void)state;
	if (fixture == NULL) {
		fprintf(stderr, "AC_PE_FIXTURE is not set\n");
		return -1;
	}
	snprintf(dir, sizeof(dir), "%s/signet-ac-pe-XXXXXX",
	    tmp != NULL ? tmp : "/tmp");
	if (mkdtemp(dir) == NULL)
		return -1;
	if (run(NULL, 0, "'%s' '%s' 2>&1 >&2", fixture, dir) != 0) {
		fprintf(stderr, "the fixture could not be built\n");
		return -1;
	}
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	if (dir[0] != '\0')
		(void)run(NULL, 0, "rm -rf '%s'", dir);
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_digest_osslsigncode),
		cmocka_unit_test(test_indirect_refuses),
		cmocka_unit_test(test_embed_osslsigncode),
		cmocka_unit_test(test_embed_replace),
		cmocka_unit_test(test_append_unsigned),
		cmocka_unit_test(test_embed_recorded),
		cmocka_unit_test(test_existing),
		cmocka_unit_test(test_info),
		cmocka_unit_test(test_detect),
		cmocka_unit_test(test_efi_vendor_digest),
		cmocka_unit_test(test_efi_replace),
		cmocka_unit_test(test_efi_append_grub),
		cmocka_unit_test(test_efi_append_shim),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_stream_not_pe),
		cmocka_unit_test(test_embed_refuses_empty),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
