/* Authenticode for MSI packages (appliance/sign/formats/ac_msi.c), checked
 * against the real tools: packages wixl builds during the test
 * (tests/unit/msi_fixture.sh), signed by osslsigncode with a throwaway
 * certificate. digest() and indirect() must give exactly the
 * SpcIndirectDataContent osslsigncode signed; existing() the signature it
 * embedded; embed() of that signature into the unsigned package must pass
 * `osslsigncode verify`, with the same streams and tables as msiinfo
 * reads them. A missing tool fails the test. */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pkcs7.h>

#include "ac_msi.h"
#include "cfb.h"

static char dir[64];
static const struct ac_format *F = &ac_msi_format;

static void
run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* runs a shell command in dir; the test fails unless it succeeds */
static void
run(const char *fmt, ...)
{
	char cmd[1024], line[900];
	va_list ap;
	int r;

	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	snprintf(cmd, sizeof cmd, "cd '%s' && %s", dir, line);
	if ((r = system(cmd)) != 0)
		fail_msg("`%s` failed (%d)", line, r);
}

/* the exit status of a shell command in dir */
static int
status(const char *line)
{
	char cmd[1024];

	snprintf(cmd, sizeof cmd, "cd '%s' && %s", dir, line);
	return system(cmd);
}

static char *
path(const char *name)
{
	static char p[4][160];
	static int i;

	i = (i + 1) % 4;
	snprintf(p[i], sizeof p[i], "%s/%s", dir, name);
	return p[i];
}

static unsigned char *
slurp(const char *name, size_t *len)
{
	unsigned char *p;
	long n;
	FILE *f;

	if ((f = fopen(path(name), "rb")) == NULL)
		fail_msg("%s is missing", name);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	assert_true((n = ftell(f)) >= 0);
	rewind(f);
	assert_non_null(p = malloc((size_t)n + 1));
	assert_int_equal(fread(p, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	*len = (size_t)n;
	return p;
}

static void
spit(const char *name, const unsigned char *p, size_t n)
{
	FILE *f;

	assert_non_null(f = fopen(path(name), "wb"));
	assert_int_equal(fwrite(p, 1, n, f), n);
	assert_int_equal(fclose(f), 0);
}

static int
open_file(const char *name, uint64_t *size)
{
	struct stat st;
	int fd;

	assert_true((fd = open(path(name), O_RDONLY | O_CLOEXEC)) >= 0);
	assert_int_equal(fstat(fd, &st), 0);
	*size = (uint64_t)st.st_size;
	return fd;
}

static int
setup(void **state)
{
	const char *fixture = getenv("SIGNET_MSI_FIXTURE");
	char cmd[512];

	(void)state;
	if (fixture == NULL) {
		fprintf(stderr, "SIGNET_MSI_FIXTURE is not set\n");
		return -1;
	}
	snprintf(dir, sizeof dir, "/tmp/test_ac_msi.XXXXXX");
	if (mkdtemp(dir) == NULL)
		return -1;
	snprintf(cmd, sizeof cmd, "'%s' '%s' > /dev/null", fixture, dir);
	if (system(cmd) != 0) {
		fprintf(stderr, "msi_fixture.sh failed (wixl missing?)\n");
		return -1;
	}
	return 0;
}

static int
teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* osslsigncode signs in with md_name into out and extracts its PKCS#7
 * into out.p7 */
static void
ossl_sign(const char *in, const char *out, const char *md_name,
    const char *extra)
{
	run("osslsigncode sign -certs c.pem -key k.pem -h %s %s -in %s "
	    "-out %s > /dev/null", md_name, extra, in, out);
	run("osslsigncode extract-signature -in %s -out %s.p7 > /dev/null",
	    out, out);
}

static int
ossl_verifies(const char *name)
{
	char line[256];

	snprintf(line, sizeof line, "osslsigncode verify -CAfile c.pem -in %s "
	    "> %s.verify 2>&1", name, name);
	return status(line) == 0;
}

/* The SpcIndirectDataContent (DER) a PKCS#7 signed. */
static void
signed_content(const unsigned char *der, size_t len, unsigned char **out,
    size_t *outlen)
{
	const unsigned char *q = der;
	char oid[64];
	ASN1_TYPE *t;
	PKCS7 *p7;

	assert_non_null(p7 = d2i_PKCS7(NULL, &q, (long)len));
	assert_true(PKCS7_type_is_signed(p7));
	/* SPC_INDIRECT_DATA_OBJID */
	assert_true(OBJ_obj2txt(oid, sizeof oid, p7->d.sign->contents->type,
	    1) > 0);
	assert_string_equal(oid, "1.3.6.1.4.1.311.2.1.4");
	t = p7->d.sign->contents->d.other;
	assert_non_null(t);
	assert_int_equal(t->type, V_ASN1_SEQUENCE);
	*outlen = (size_t)t->value.sequence->length;
	assert_non_null(*out = malloc(*outlen));
	memcpy(*out, t->value.sequence->data, *outlen);
	PKCS7_free(p7);
}

static void
digest_of(const char *name, const EVP_MD *md, unsigned char *out)
{
	struct ac_msg m = { { 0 } };
	uint64_t size;
	int fd = open_file(name, &size);

	if (F->digest(fd, size, md, out, &m) != 0)
		fail_msg("digest of %s: %s", name, m.text);
	close(fd);
}

struct file_sink {
	FILE *f;
	size_t n;
};

static int
to_file(void *arg, const void *p, size_t n)
{
	struct file_sink *s = arg;

	s->n += n;
	return fwrite(p, 1, n, s->f) == n ? 0 : SIGNET_ERR_IO;
}

/* embed() of the PKCS#7 in p7name into in, written to out; returns the
 * code, with the message in m */
static int
embed(const char *in, const char *p7name, const char *out, struct ac_msg *m,
    size_t *written)
{
	struct file_sink s = { NULL, 0 };
	struct ac_sink sink = { .write = to_file, .copy = NULL, .arg = &s };
	unsigned char *p7;
	uint64_t size;
	size_t len;
	int fd, r;

	p7 = slurp(p7name, &len);
	fd = open_file(in, &size);
	assert_non_null(s.f = fopen(path(out), "wb"));
	r = F->embed(fd, size, p7, len, &sink, m);
	assert_int_equal(fclose(s.f), 0);
	close(fd);
	free(p7);
	if (written != NULL)
		*written = s.n;
	return r;
}

static void
existing_is(const char *name, const char *p7name)
{
	struct ac_msg m = { { 0 } };
	unsigned char *der, *want;
	size_t len, wlen;
	uint64_t size;
	int fd = open_file(name, &size);

	assert_int_equal(F->existing(fd, size, &der, &len, &m), 0);
	close(fd);
	if (p7name == NULL) {
		assert_null(der);
		assert_int_equal(len, 0);
		return;
	}
	assert_non_null(der);
	want = slurp(p7name, &wlen);
	assert_int_equal(len, wlen);
	assert_memory_equal(der, want, len);
	OPENSSL_free(der);
	free(want);
}

static void
test_detect(void **state)
{
	static const unsigned char cfb[] = { 0xD0, 0xCF, 0x11, 0xE0, 0xA1,
	    0xB1, 0x1A, 0xE1, 0x00 };
	static const unsigned char pe[] = { 'M', 'Z', 0x90, 0, 3, 0, 0, 0, 4 };

	(void)state;
	assert_string_equal(F->slug, "authenticode-msi");
	assert_int_equal(F->detect(cfb, sizeof cfb), 1);
	assert_int_equal(F->detect(cfb, 7), 0);
	assert_int_equal(F->detect(pe, sizeof pe), 0);
}

static void
test_check(void **state)
{
	struct ac_msg m = { { 0 } };
	unsigned char *b;
	uint64_t size;
	size_t len, o;
	int fd;

	(void)state;
	fd = open_file("a.msi", &size);
	assert_int_equal(F->check(fd, size, &m), 0);
	close(fd);
	/* the same compound file with another root CLSID: an Office
	 * document, say, is no MSI */
	b = slurp("a.msi", &len);
	o = ((size_t)(b[48] | b[49] << 8) + 1) * 512;	/* the root entry */
	assert_int_equal(b[o + 66], 5);
	b[o + 80] ^= 0xFF;
	spit("office.doc", b, len);
	fd = open_file("office.doc", &size);
	assert_int_equal(F->check(fd, size, &m), SIGNET_ERR_INVALID);
	assert_non_null(strstr(m.text, "not a Windows Installer package"));
	close(fd);
	/* and a broken one says what is broken */
	b[0] = 'M';
	spit("broken.msi", b, len);
	fd = open_file("broken.msi", &size);
	assert_int_equal(F->check(fd, size, &m), SIGNET_ERR_INVALID);
	assert_non_null(strstr(m.text, "bad magic"));
	close(fd);
	free(b);
}

/* digest() and indirect() give the content osslsigncode signed, for
 * each digest; digest() of the signed file is that of the unsigned. */
static void
test_digest_and_indirect_match_osslsigncode(void **state)
{
	static const char *const mds[] = { "sha256", "sha384", "sha512" };
	unsigned char d[EVP_MAX_MD_SIZE], ds[EVP_MAX_MD_SIZE];
	unsigned char *p7, *content, *der;
	char out[32], p7name[40];
	size_t len, clen, dlen, i;
	const EVP_MD *md;

	(void)state;
	for (i = 0; i < 3; i++) {
		md = EVP_get_digestbyname(mds[i]);
		snprintf(out, sizeof out, "s_%s.msi", mds[i]);
		snprintf(p7name, sizeof p7name, "%s.p7", out);
		ossl_sign("a.msi", out, mds[i], "");
		digest_of("a.msi", md, d);
		p7 = slurp(p7name, &len);
		signed_content(p7, len, &content, &clen);
		/* the DigestInfo's digest ends the content */
		assert_true(clen > (size_t)EVP_MD_get_size(md));
		assert_memory_equal(content + clen - EVP_MD_get_size(md), d,
		    EVP_MD_get_size(md));
		assert_int_equal(F->indirect(md, d, &der, &dlen), 0);
		assert_int_equal(dlen, clen);
		assert_memory_equal(der, content, clen);
		OPENSSL_free(der);
		digest_of(out, md, ds);
		assert_memory_equal(ds, d, EVP_MD_get_size(md));
		free(p7);
		free(content);
	}
}

static void
test_existing(void **state)
{
	(void)state;
	existing_is("a.msi", NULL);
	ossl_sign("a.msi", "e1.msi", "sha256", "");
	existing_is("e1.msi", "e1.msi.p7");
}

struct mem {
	unsigned char *p;
	size_t n, cap;
};

static int
to_mem(void *arg, const void *p, size_t n)
{
	struct mem *b = arg;

	if (b->n + n > b->cap) {
		b->cap = (b->n + n) * 2;
		assert_non_null(b->p = realloc(b->p, b->cap));
	}
	memcpy(b->p + b->n, p, n);
	b->n += n;
	return 0;
}

/* a.msi with a root stream DigitalSignature of these bytes, as name */
static void
with_signature_stream(const char *name, const unsigned char *data,
    size_t len)
{
	struct cfb_edit e = { .set = "\005DigitalSignature", .data = data,
	    .len = len };
	struct mem out = { NULL, 0, 0 };
	struct cfb *c;
	char m[256];
	uint64_t size;
	int fd = open_file("a.msi", &size);

	assert_int_equal(cfb_open(fd, size, &c, m, sizeof m), 0);
	assert_int_equal(cfb_write(c, &e, to_mem, &out, m, sizeof m), 0);
	spit(name, out.p, out.n);
	cfb_free(c);
	close(fd);
	free(out.p);
}

/* An empty DigitalSignature stream is no signature; one that is no
 * PKCS#7 is refused with a message saying so. */
static void
test_existing_odd_streams(void **state)
{
	static const unsigned char junk[] = "not a signature";
	struct ac_msg m = { { 0 } };
	static unsigned char x;
	unsigned char *der = &x;
	uint64_t size;
	size_t len = 1;
	int fd;

	(void)state;
	with_signature_stream("empty_sig.msi", junk, 0);
	existing_is("empty_sig.msi", NULL);
	with_signature_stream("junk_sig.msi", junk, sizeof junk);
	fd = open_file("junk_sig.msi", &size);
	assert_int_equal(F->existing(fd, size, &der, &len, &m),
	    SIGNET_ERR_INVALID);
	assert_non_null(strstr(m.text, "not a PKCS#7"));
	assert_null(der);
	assert_int_equal(len, 0);
	close(fd);
}

/* the sorted lines of a command's output, in a file */
static void
listing(const char *cmd, const char *to)
{
	run("{ %s; } | LC_ALL=C sort > %s", cmd, to);
}

static void
test_embed_verifies(void **state)
{
	struct ac_msg m = { { 0 } };

	(void)state;
	ossl_sign("a.msi", "v.msi", "sha256", "");
	if (embed("a.msi", "v.msi.p7", "out.msi", &m, NULL) != 0)
		fail_msg("embed: %s", m.text);
	if (!ossl_verifies("out.msi"))
		fail_msg("osslsigncode verify refuses the embedded signature "
		    "(see %s)", path("out.msi.verify"));
	existing_is("out.msi", "v.msi.p7");
	/* the same streams plus DigitalSignature, the same tables */
	listing("msiinfo streams a.msi; printf '\\005DigitalSignature\\n'",
	    "streams.want");
	listing("msiinfo streams out.msi", "streams.got");
	run("cmp streams.want streams.got");
	run("msiinfo export a.msi File > file.want && "
	    "msiinfo export out.msi File > file.got && cmp file.want file.got");
	run("msiinfo tables a.msi > tables.want && "
	    "msiinfo tables out.msi > tables.got && cmp tables.want tables.got");
	/* and the package still unpacks to the same file */
	run("mkdir x && cd x && msiextract ../out.msi > /dev/null && "
	    "cmp \"$(find . -name payload.bin)\" ../payload.bin");
}

/* One byte changed inside a stream (the cabinet) of the package the
 * signature was made for: the embedded signature no longer verifies. */
static void
test_changed_byte_fails_verification(void **state)
{
	struct ac_msg m = { { 0 } };
	unsigned char *b, d0[32], d1[32];
	size_t len, i;

	(void)state;
	ossl_sign("a.msi", "t.msi", "sha256", "");
	b = slurp("a.msi", &len);
	for (i = 0; i + 4 <= len; i++)
		if (memcmp(b + i, "MSCF", 4) == 0)
			break;
	assert_true(i + 200 < len);
	b[i + 100] ^= 0x01;
	spit("changed.msi", b, len);
	free(b);
	digest_of("a.msi", EVP_sha256(), d0);
	digest_of("changed.msi", EVP_sha256(), d1);
	assert_memory_not_equal(d0, d1, 32);
	assert_int_equal(embed("changed.msi", "t.msi.p7", "bad.msi", &m, NULL),
	    0);
	assert_false(ossl_verifies("bad.msi"));
	/* the control: unchanged, it verifies */
	assert_int_equal(embed("a.msi", "t.msi.p7", "good.msi", &m, NULL), 0);
	assert_true(ossl_verifies("good.msi"));
}

/* In a signed package the signature is replaced, not added. */
static void
test_embed_replaces(void **state)
{
	struct ac_msg m = { { 0 } };

	(void)state;
	ossl_sign("a.msi", "r1.msi", "sha256", "");
	ossl_sign("a.msi", "r2.msi", "sha384", "");
	if (embed("r1.msi", "r2.msi.p7", "r.msi", &m, NULL) != 0)
		fail_msg("embed: %s", m.text);
	assert_true(ossl_verifies("r.msi"));
	existing_is("r.msi", "r2.msi.p7");
	run("test \"$(msiinfo streams r.msi | grep -c DigitalSignature)\" = 1");
	run("grep -q SHA384 r.msi.verify");
}

/* A package signed with MsiDigitalSignatureEx: the digest leaves that
 * stream out, and embed() drops it (its digest is not computed here). */
static void
test_digital_signature_ex_dropped(void **state)
{
	struct ac_msg m = { { 0 } };
	unsigned char d0[32], d1[32];

	(void)state;
	ossl_sign("a.msi", "x.msi", "sha256", "-add-msi-dse");
	run("msiinfo streams x.msi | grep -q MsiDigitalSignatureEx");
	digest_of("a.msi", EVP_sha256(), d0);
	digest_of("x.msi", EVP_sha256(), d1);
	assert_memory_equal(d0, d1, 32);
	ossl_sign("a.msi", "plain.msi", "sha256", "");
	if (embed("x.msi", "plain.msi.p7", "xo.msi", &m, NULL) != 0)
		fail_msg("embed: %s", m.text);
	assert_true(ossl_verifies("xo.msi"));
	assert_int_not_equal(status("msiinfo streams xo.msi | "
	    "grep -q MsiDigitalSignatureEx"), 0);
}

/* A signature longer than 4096 bytes lives in sectors of its own, not in
 * the mini stream. */
static void
test_long_signature(void **state)
{
	struct ac_msg m = { { 0 } };
	size_t len;

	(void)state;
	ossl_sign("a.msi", "l.msi", "sha256", "-ac extra.pem");
	free(slurp("l.msi.p7", &len));
	assert_true(len > 4096);
	if (embed("a.msi", "l.msi.p7", "lo.msi", &m, NULL) != 0)
		fail_msg("embed: %s", m.text);
	assert_true(ossl_verifies("lo.msi"));
	existing_is("lo.msi", "l.msi.p7");
}

/* A package of 8 MB has more FAT sectors than the header lists (109):
 * the DIFAT is read and written. */
static void
test_large_package(void **state)
{
	const char *fixture = getenv("SIGNET_MSI_FIXTURE");
	struct ac_msg m = { { 0 } };
	unsigned char d[32], *p7, *content;
	size_t len, clen;

	(void)state;
	run("'%s' big 8000000 > /dev/null", fixture);
	run("cp c.pem k.pem big/");
	ossl_sign("big/a.msi", "big/s.msi", "sha256", "");
	digest_of("big/a.msi", EVP_sha256(), d);
	p7 = slurp("big/s.msi.p7", &len);
	signed_content(p7, len, &content, &clen);
	assert_memory_equal(content + clen - 32, d, 32);
	if (embed("big/a.msi", "big/s.msi.p7", "big/o.msi", &m, NULL) != 0)
		fail_msg("embed: %s", m.text);
	assert_true(ossl_verifies("big/o.msi"));
	run("msiinfo export big/a.msi File > big/f1 && "
	    "msiinfo export big/o.msi File > big/f2 && cmp big/f1 big/f2");
	free(p7);
	free(content);
}

/* Compound files wixl does not write: version 4 (4096-byte sectors), and
 * a storage in the root, from tests/fuzz/gen_corpus.py's seeds (it builds
 * them during the test); osslsigncode signs any compound file. */
static void
test_version_4_and_storages(void **state)
{
	static const char *const seeds[] = { "valid_v3", "valid_v4" };
	const char *gen = getenv("SIGNET_GEN_CORPUS");
	struct ac_msg m = { { 0 } };
	unsigned char d[32], d1[32], *p7, *content, *b;
	char in[40], out[40], p7name[48], e[40];
	size_t len, clen, i, j;

	(void)state;
	assert_non_null(gen);
	run("SIGNET_CORPUS=msi python3 '%s' corp > /dev/null", gen);
	for (i = 0; i < 2; i++) {
		snprintf(in, sizeof in, "%s.msi", seeds[i]);
		snprintf(out, sizeof out, "%s.s.msi", seeds[i]);
		snprintf(p7name, sizeof p7name, "%s.p7", out);
		snprintf(e, sizeof e, "%s.e.msi", seeds[i]);
		run("cp corp/msi/%s %s", seeds[i], in);
		ossl_sign(in, out, "sha256", "");
		digest_of(in, EVP_sha256(), d);
		p7 = slurp(p7name, &len);
		signed_content(p7, len, &content, &clen);
		assert_memory_equal(content + clen - 32, d, 32);
		if (embed(in, p7name, e, &m, NULL) != 0)
			fail_msg("embed: %s", m.text);
		assert_true(ossl_verifies(e));
		/* a stream inside the storage is part of the digest */
		b = slurp(in, &len);
		for (j = 0; j + 8 <= len; j++)
			if (memcmp(b + j, "inininin", 8) == 0)
				break;
		assert_true(j + 8 <= len);
		b[j] = 'X';
		spit("inner.msi", b, len);
		digest_of("inner.msi", EVP_sha256(), d1);
		assert_memory_not_equal(d, d1, 32);
		free(b);
		free(p7);
		free(content);
	}
}

/* Nothing is written for a file that is refused, or for no signature. */
static void
test_embed_refused(void **state)
{
	struct ac_msg m = { { 0 } };
	unsigned char *b;
	size_t len, written = 1;

	(void)state;
	ossl_sign("a.msi", "n.msi", "sha256", "");
	b = slurp("a.msi", &len);
	spit("short.msi", b, 300);
	free(b);
	assert_int_equal(embed("short.msi", "n.msi.p7", "no.msi", &m, &written),
	    SIGNET_ERR_TRUNCATED);
	assert_non_null(strstr(m.text, "header is truncated"));
	assert_int_equal(written, 0);
	spit("empty.p7", (const unsigned char *)"", 0);
	written = 1;
	assert_int_equal(embed("a.msi", "empty.p7", "no.msi", &m, &written),
	    SIGNET_ERR_TOO_LARGE);
	assert_int_equal(written, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_detect),
		cmocka_unit_test(test_check),
		cmocka_unit_test(test_digest_and_indirect_match_osslsigncode),
		cmocka_unit_test(test_existing),
		cmocka_unit_test(test_existing_odd_streams),
		cmocka_unit_test(test_embed_verifies),
		cmocka_unit_test(test_changed_byte_fails_verification),
		cmocka_unit_test(test_embed_replaces),
		cmocka_unit_test(test_digital_signature_ex_dropped),
		cmocka_unit_test(test_long_signature),
		cmocka_unit_test(test_large_package),
		cmocka_unit_test(test_version_4_and_storages),
		cmocka_unit_test(test_embed_refused),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
