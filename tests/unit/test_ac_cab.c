/* Authenticode for cabinets (appliance/sign/formats/ac_cab.c), against
 * the real tools: cabinets are made with gcab (stored and MSZIP), signed
 * with osslsigncode and a throwaway key; the digest and the
 * SpcIndirectDataContent must be osslsigncode's, a signature embedded
 * here must pass `osslsigncode verify`, and the signed cabinet must still
 * list and extract with gcab. Malformed cabinets are refused with a
 * message naming what is wrong. A missing tool fails the test. */
#include <fcntl.h>
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

#include "ac_cab.h"
#include "signet_limits.h"

static const struct ac_format *F = &ac_cab_format;
static char dir[64];

/* Runs a shell command in the scratch directory; its exit status. */
static int
sh(const char *fmt, ...)
{
	char cmd[2048], full[2300];
	va_list ap;
	int st;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	snprintf(full, sizeof(full), "cd '%s' && { %s; } > /dev/null 2>&1",
	    dir, cmd);
	st = system(full);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void
path_of(char *out, size_t n, const char *name)
{
	snprintf(out, n, "%s/%s", dir, name);
}

/* The whole of a scratch file (test inputs are small). */
static unsigned char *
slurp(const char *name, size_t *len)
{
	char p[256];
	unsigned char *buf;
	struct stat st;
	FILE *f;

	path_of(p, sizeof(p), name);
	if ((f = fopen(p, "rb")) == NULL || fstat(fileno(f), &st) != 0)
		fail_msg("cannot read %s", p);
	buf = malloc((size_t)st.st_size + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)st.st_size, f),
	    (size_t)st.st_size);
	fclose(f);
	*len = (size_t)st.st_size;
	return buf;
}

static void
spit(const char *name, const void *buf, size_t len)
{
	char p[256];
	FILE *f;

	path_of(p, sizeof(p), name);
	assert_non_null(f = fopen(p, "wb"));
	assert_int_equal(fwrite(buf, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

static int
open_in(const char *name, uint64_t *size)
{
	char p[256];
	struct stat st;
	int fd;

	path_of(p, sizeof(p), name);
	fd = open(p, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &st), 0);
	*size = (uint64_t)st.st_size;
	return fd;
}

/* A sink into a file, counting what it was given. */
struct fsink {
	FILE *f;
	uint64_t n;
};

static int
fs_write(void *arg, const void *p, size_t n)
{
	struct fsink *s = arg;

	s->n += n;
	return fwrite(p, 1, n, s->f) == n ? 0 : SIGNET_ERR_IO;
}

static int
fs_copy(void *arg, int fd, uint64_t off, uint64_t len)
{
	struct fsink *s = arg;
	unsigned char buf[4096];
	ssize_t got;
	size_t n;

	while (len > 0) {
		n = len < sizeof(buf) ? (size_t)len : sizeof(buf);
		if ((got = pread(fd, buf, n, (off_t)off)) <= 0)
			return SIGNET_ERR_IO;
		if (fs_write(arg, buf, (size_t)got) != 0)
			return SIGNET_ERR_IO;
		off += (uint64_t)got;
		len -= (uint64_t)got;
	}
	(void)s;
	return 0;
}

/* embed() of the DER file sig into cabinet in, written to out; its
 * return, with m's text. *written is what the sink was given. */
static int
embed_file(const char *in, const unsigned char *sig, size_t siglen,
    const char *out, struct ac_msg *m, uint64_t *written)
{
	struct fsink s = { NULL, 0 };
	struct ac_sink sink = { .write = fs_write, .copy = fs_copy, .arg = &s };
	char p[256];
	uint64_t size;
	int fd, rc;

	path_of(p, sizeof(p), out);
	assert_non_null(s.f = fopen(p, "wb"));
	fd = open_in(in, &size);
	rc = F->embed(fd, size, sig, siglen, &sink, m);
	close(fd);
	assert_int_equal(fclose(s.f), 0);
	if (written != NULL)
		*written = s.n;
	return rc;
}

static int
digest_file(const char *name, const EVP_MD *md, unsigned char *out,
    struct ac_msg *m)
{
	uint64_t size;
	int fd, rc;

	fd = open_in(name, &size);
	rc = F->digest(fd, size, md, out, m);
	close(fd);
	return rc;
}

static int
check_file(const char *name, struct ac_msg *m)
{
	uint64_t size;
	int fd, rc;

	fd = open_in(name, &size);
	m->text[0] = '\0';
	rc = F->check(fd, size, m);
	close(fd);
	return rc;
}

static unsigned char *
existing_file(const char *name, size_t *len)
{
	unsigned char *der = NULL;
	struct ac_msg m;
	uint64_t size;
	int fd;

	fd = open_in(name, &size);
	assert_int_equal(F->existing(fd, size, &der, len, &m), 0);
	close(fd);
	return der;
}

static const char *const mds[] = { "sha256", "sha384", "sha512" };
/* gcab writes one folder; "folders" is built here with one per file */
static const char *const kinds[] = { "plain", "mszip", "folders" };
#define NKINDS (sizeof(kinds) / sizeof(kinds[0]))

/* Pseudo-random bytes (xorshift) that compress poorly, so that the
 * cabinets span several CFDATA blocks and more than one read chunk. */
static void
fill(unsigned char *p, size_t n, uint32_t seed)
{
	size_t i;

	for (i = 0; i < n; i++) {
		seed ^= seed << 13;
		seed ^= seed >> 17;
		seed ^= seed << 5;
		p[i] = (unsigned char)(seed >> 24);
	}
}

static void
put16(unsigned char *p, uint16_t v)
{
	p[0] = (unsigned char)v;
	p[1] = (unsigned char)(v >> 8);
}

static void
put32(unsigned char *p, uint32_t v)
{
	put16(p, (uint16_t)v);
	put16(p + 2, (uint16_t)(v >> 16));
}

static uint16_t
get16(const unsigned char *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t
get32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	    (uint32_t)p[3] << 24;
}

/* The CFDATA checksum ([MS-CAB] 2.5 csum, 4 "Checksum"): the 32-bit
 * little-endian words XORed, the last one to three bytes taken high
 * byte first. */
static uint32_t
cab_csum(const unsigned char *p, size_t n, uint32_t seed)
{
	size_t i;

	for (i = 0; i + 4 <= n; i += 4)
		seed ^= get32(p + i);
	switch (n - i) {
	case 3:
		seed ^= (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
		break;
	case 2:
		seed ^= (uint32_t)p[i] << 8 | p[i + 1];
		break;
	case 1:
		seed ^= p[i];
		break;
	default:
		break;
	}
	return seed;
}

/* A cabinet with one stored folder per file, in CFDATA blocks of at
 * most 32 KiB: what gcab does not write, an offset to move per folder. */
static void
make_folders_cab(const char *out, const char *const *names, size_t nfiles)
{
	unsigned char *data[8], *cab, *p;
	size_t len[8], total, i, off, left, n, entries = 0, blocks = 0;
	uint32_t start;

	assert_true(nfiles <= 8);
	for (i = 0; i < nfiles; i++) {
		data[i] = slurp(names[i], &len[i]);
		entries += 16 + strlen(names[i]) + 1;
		blocks += (len[i] + 32767) / 32768;
	}
	total = 36 + 8 * nfiles + entries + 8 * blocks;
	for (i = 0; i < nfiles; i++)
		total += len[i];
	assert_non_null(cab = calloc(1, total));
	memcpy(cab, "MSCF", 4);
	put32(cab + 8, (uint32_t)total);
	put32(cab + 16, (uint32_t)(36 + 8 * nfiles));
	cab[24] = 3;
	cab[25] = 1;
	put16(cab + 26, (uint16_t)nfiles);
	put16(cab + 28, (uint16_t)nfiles);
	put16(cab + 32, 0x5167);
	/* file entries: each alone at the start of its folder */
	p = cab + 36 + 8 * nfiles;
	for (i = 0; i < nfiles; i++) {
		put32(p, (uint32_t)len[i]);
		put16(p + 8, (uint16_t)i);
		put16(p + 10, 0x5b82);	/* 2025-12-02 */
		put16(p + 14, 0x20);
		memcpy(p + 16, names[i], strlen(names[i]) + 1);
		p += 16 + strlen(names[i]) + 1;
	}
	for (i = 0; i < nfiles; i++) {
		start = (uint32_t)(p - cab);
		put32(cab + 36 + 8 * i, start);
		put16(cab + 36 + 8 * i + 4, (uint16_t)((len[i] + 32767) / 32768));
		for (off = 0, left = len[i]; left > 0; off += n, left -= n) {
			n = left < 32768 ? left : 32768;
			put16(p + 4, (uint16_t)n);
			put16(p + 6, (uint16_t)n);
			memcpy(p + 8, data[i] + off, n);
			put32(p, cab_csum(p + 4, 4, cab_csum(p + 8, n, 0)));
			p += 8 + n;
		}
		free(data[i]);
	}
	assert_int_equal((size_t)(p - cab), total);
	spit(out, cab, total);
	free(cab);
}

static int teardown(void **state);

/* The inputs, made fresh for each run; a tool that is missing or fails
 * fails the whole group. */
static int
make_inputs(void)
{
	static const char *const names[] = { "a.txt", "b.bin", "c.dat" };
	static unsigned char big[150000];
	size_t i, j;

	fill(big, sizeof(big), 0x5167e7);
	spit("b.bin", big, sizeof(big));
	spit("a.txt", "a cabinet's first file\n", 23);
	/* half text, so MSZIP has something to do */
	memset(big, 'x', sizeof(big) / 2);
	spit("c.dat", big, sizeof(big));
	if (sh("command -v gcab && command -v osslsigncode && "
	    "command -v openssl") != 0) {
		fprintf(stderr, "test_ac_cab needs gcab, osslsigncode and "
		    "openssl (scripts/deps.sh)\n");
		return -1;
	}
	make_folders_cab("folders.cab", names, 3);
	if (sh("gcab -c plain.cab a.txt b.bin c.dat") != 0 ||
	    sh("gcab -cz mszip.cab a.txt b.bin c.dat") != 0 ||
	    sh("openssl req -x509 -newkey rsa:2048 -nodes -keyout key.pem "
	    "-out cert.pem -subj /CN=signet-cab-test -days 2") != 0)
		return -1;
	for (i = 0; i < NKINDS; i++)
		for (j = 0; j < 3; j++)
			if (sh("osslsigncode sign -certs cert.pem -key key.pem "
			    "-h %s -in %s.cab -out %s-%s.cab && "
			    "osslsigncode extract-signature -in %s-%s.cab "
			    "-out %s-%s.p7", mds[j], kinds[i], kinds[i], mds[j],
			    kinds[i], mds[j], kinds[i], mds[j]) != 0)
				return -1;
	return 0;
}

static int
setup(void **state)
{
	snprintf(dir, sizeof(dir), "/tmp/signet-test-cab-XXXXXX");
	if (mkdtemp(dir) == NULL) {
		dir[0] = '\0';
		return -1;
	}
	if (make_inputs() != 0) {
		teardown(state);
		return -1;
	}
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	if (dir[0] != '\0')
		sh("cd / && rm -rf '%s'", dir);
	return 0;
}

static void
test_detect(void **state)
{
	size_t len;
	unsigned char *b;

	(void)state;
	assert_string_equal(F->slug, "authenticode-cab");
	assert_non_null(F->title);
	b = slurp("plain.cab", &len);
	assert_true(F->detect(b, len < AC_MAGIC_LEN ? len : AC_MAGIC_LEN));
	assert_false(F->detect(b, 3));
	b[0] = 'N';
	assert_false(F->detect(b, 64));
	assert_false(F->detect((const unsigned char *)"MZ\x90\0", 4));
	free(b);
}

/* The digest osslsigncode printed for a signed cabinet. */
static void
ossl_digest(const char *signed_cab, unsigned char *out, size_t n)
{
	char cmd[512], line[512], *p;
	const char *key = "Current message digest";
	size_t i, got = 0;
	unsigned int v;
	FILE *f;

	snprintf(cmd, sizeof(cmd), "cd '%s' && osslsigncode verify -CAfile "
	    "cert.pem -in '%s' 2>&1", dir, signed_cab);
	assert_non_null(f = popen(cmd, "r"));
	while (fgets(line, sizeof(line), f) != NULL) {
		if (strncmp(line, key, strlen(key)) != 0 ||
		    (p = strchr(line, ':')) == NULL)
			continue;
		for (p++; *p == ' '; p++)
			;
		for (i = 0; i < n && sscanf(p + 2 * i, "%2x", &v) == 1; i++)
			out[i] = (unsigned char)v;
		got = i;
	}
	assert_int_equal(pclose(f), 0);
	assert_int_equal(got, n);
}

/* The SpcIndirectDataContent osslsigncode signed. */
static void
ossl_indirect(const char *p7file, unsigned char **der, size_t *len)
{
	const unsigned char *p;
	unsigned char *buf;
	char oid[64];
	ASN1_TYPE *t;
	PKCS7 *p7;
	size_t n;

	buf = slurp(p7file, &n);
	p = buf;
	assert_non_null(p7 = d2i_PKCS7(NULL, &p, (long)n));
	assert_true(PKCS7_type_is_signed(p7));
	/* SPC_INDIRECT_DATA_OBJID */
	assert_true(OBJ_obj2txt(oid, sizeof(oid), p7->d.sign->contents->type,
	    1) > 0);
	assert_string_equal(oid, "1.3.6.1.4.1.311.2.1.4");
	t = p7->d.sign->contents->d.other;
	assert_int_equal(t->type, V_ASN1_SEQUENCE);
	*len = (size_t)t->value.sequence->length;
	*der = malloc(*len);
	memcpy(*der, t->value.sequence->data, *len);
	PKCS7_free(p7);
	free(buf);
}

/* digest() of the unsigned cabinet is what osslsigncode signed and what
 * it computes for its signed cabinet, and so is digest() of that signed
 * cabinet; indirect() is the very SpcIndirectDataContent it signed. */
static void
test_digest_matches_osslsigncode(void **state)
{
	unsigned char d[EVP_MAX_MD_SIZE], ds[EVP_MAX_MD_SIZE],
	    want[EVP_MAX_MD_SIZE], *ours, *theirs;
	char in[32], out[32], p7[32];
	size_t i, j, n, ol, tl;
	struct ac_msg m;
	const EVP_MD *md;

	(void)state;
	for (i = 0; i < NKINDS; i++)
		for (j = 0; j < 3; j++) {
			md = EVP_get_digestbyname(mds[j]);
			n = (size_t)EVP_MD_get_size(md);
			snprintf(in, sizeof(in), "%s.cab", kinds[i]);
			snprintf(out, sizeof(out), "%s-%s.cab", kinds[i], mds[j]);
			snprintf(p7, sizeof(p7), "%s-%s.p7", kinds[i], mds[j]);
			assert_int_equal(check_file(in, &m), 0);
			assert_int_equal(check_file(out, &m), 0);
			assert_int_equal(digest_file(in, md, d, &m), 0);
			assert_int_equal(digest_file(out, md, ds, &m), 0);
			ossl_digest(out, want, n);
			assert_memory_equal(d, want, n);
			assert_memory_equal(ds, want, n);

			assert_int_equal(F->indirect(md, d, &ours, &ol), 0);
			ossl_indirect(p7, &theirs, &tl);
			assert_int_equal(ol, tl);
			assert_memory_equal(ours, theirs, ol);
			OPENSSL_free(ours);
			free(theirs);
		}
	/* another cabinet, another digest */
	md = EVP_sha256();
	assert_int_equal(digest_file("plain.cab", md, d, &m), 0);
	assert_int_equal(digest_file("mszip.cab", md, ds, &m), 0);
	assert_memory_not_equal(d, ds, 32);
}

/* existing(): none in a cabinet gcab made, osslsigncode's (without its
 * padding) in the one it signed. */
static void
test_existing(void **state)
{
	unsigned char *der, *want;
	size_t len, wl;

	(void)state;
	der = existing_file("plain.cab", &len);
	assert_null(der);
	assert_int_equal(len, 0);
	der = existing_file("mszip-sha384.cab", &len);
	want = slurp("mszip-sha384.p7", &wl);
	assert_non_null(der);
	assert_int_equal(len, wl);
	assert_memory_equal(der, want, len);
	OPENSSL_free(der);
	free(want);
}

/* The files of cab list and extract as they were put in. */
static void
assert_cab_intact(const char *cab)
{
	assert_int_equal(sh("gcab -l %s > list && grep -q '^a.txt 23 ' list && "
	    "grep -q '^b.bin 150000 ' list && grep -q '^c.dat 150000 ' list && "
	    "test $(wc -l < list) = 3", cab), 0);
	assert_int_equal(sh("rm -rf x && mkdir x && gcab -x -C x %s && "
	    "cmp x/a.txt a.txt && cmp x/b.bin b.bin && cmp x/c.dat c.dat",
	    cab), 0);
}

/* embed() of osslsigncode's signature into the unsigned cabinet: the
 * result verifies, still extracts, and is byte for byte what
 * osslsigncode wrote. */
static void
test_embed_verifies(void **state)
{
	unsigned char *sig, *ours, *theirs, d[32], ds[32];
	char p7[32], in[32], ref[32];
	size_t i, sl, ol, tl;
	struct ac_msg m;
	uint64_t written;

	(void)state;
	for (i = 0; i < NKINDS; i++) {
		snprintf(p7, sizeof(p7), "%s-sha256.p7", kinds[i]);
		snprintf(in, sizeof(in), "%s.cab", kinds[i]);
		snprintf(ref, sizeof(ref), "%s-sha256.cab", kinds[i]);
		sig = slurp(p7, &sl);
		assert_int_equal(embed_file(in, sig, sl, "e.cab", &m, &written),
		    0);
		assert_int_equal(sh("osslsigncode verify -CAfile cert.pem "
		    "-in e.cab"), 0);
		assert_cab_intact("e.cab");
		ours = slurp("e.cab", &ol);
		theirs = slurp(ref, &tl);
		assert_int_equal(written, ol);
		assert_int_equal(ol, tl);
		assert_memory_equal(ours, theirs, ol);
		assert_int_equal(check_file("e.cab", &m), 0);
		assert_int_equal(digest_file(in, EVP_sha256(), d, &m), 0);
		assert_int_equal(digest_file("e.cab", EVP_sha256(), ds, &m), 0);
		assert_memory_equal(d, ds, 32);
		free(ours);
		free(theirs);
		free(sig);
	}
}

/* One changed byte after signing (in the data, in a hashed header field,
 * in a folder entry) and verification fails. */
static void
test_embed_tamper(void **state)
{
	static const size_t at[] = { 5000, 32, 64 };	/* data, setID, cCFData */
	unsigned char *sig, *b;
	size_t i, sl, bl;
	struct ac_msg m;

	(void)state;
	sig = slurp("plain-sha256.p7", &sl);
	assert_int_equal(embed_file("plain.cab", sig, sl, "e.cab", &m, NULL), 0);
	assert_int_equal(sh("osslsigncode verify -CAfile cert.pem -in e.cab"), 0);
	b = slurp("e.cab", &bl);
	for (i = 0; i < sizeof(at) / sizeof(at[0]); i++) {
		b[at[i]] ^= 0x01;
		spit("t.cab", b, bl);
		assert_int_not_equal(sh("osslsigncode verify -CAfile cert.pem "
		    "-in t.cab"), 0);
		b[at[i]] ^= 0x01;
	}
	spit("t.cab", b, bl);
	assert_int_equal(sh("osslsigncode verify -CAfile cert.pem -in t.cab"), 0);
	free(b);
	free(sig);
}

/* embed() into a signed cabinet replaces its signature. */
static void
test_reembed_replaces(void **state)
{
	unsigned char *s384, *s512, *got, *b, *u;
	size_t l384, l512, len, bl, ul;
	struct ac_msg m;

	(void)state;
	s384 = slurp("mszip-sha384.p7", &l384);
	s512 = slurp("mszip-sha512.p7", &l512);
	assert_int_equal(embed_file("mszip-sha256.cab", s384, l384, "r1.cab",
	    &m, NULL), 0);
	assert_int_equal(sh("osslsigncode verify -CAfile cert.pem -in r1.cab"),
	    0);
	got = existing_file("r1.cab", &len);
	assert_int_equal(len, l384);
	assert_memory_equal(got, s384, len);
	OPENSSL_free(got);
	/* and again, from the replaced one */
	assert_int_equal(embed_file("r1.cab", s512, l512, "r2.cab", &m, NULL),
	    0);
	assert_int_equal(sh("osslsigncode verify -CAfile cert.pem -in r2.cab"),
	    0);
	assert_cab_intact("r2.cab");
	got = existing_file("r2.cab", &len);
	assert_int_equal(len, l512);
	assert_memory_equal(got, s512, len);
	OPENSSL_free(got);
	/* the cabinet is where it was, with one padded signature after it */
	u = slurp("mszip.cab", &ul);
	b = slurp("r2.cab", &bl);
	assert_int_equal(bl, ul + 24 + ((l512 + 7) & ~(size_t)7));
	assert_memory_equal(b + bl - ((l512 + 7) & ~(size_t)7), s512, l512);
	free(u);
	free(b);
	free(s384);
	free(s512);
}

/* check() of b[0..len) written to a file: rc and the message; existing()
 * refuses it too. Unless only its signature is broken (which digest()
 * leaves out and embed() replaces), digest() and embed() refuse it as
 * well and embed() writes nothing. */
static void
refused_as(const unsigned char *b, size_t len, int rc, const char *words,
    int sig_only)
{
	static unsigned char junk[1];
	unsigned char d[32], *der = junk, *sig;
	struct ac_msg m;
	uint64_t written, size;
	size_t sl, dl = 7;
	int fd;

	spit("bad.cab", b, len);
	if (check_file("bad.cab", &m) != rc)
		fail_msg("check: \"%s\", not the %s expected (\"%s\")", m.text,
		    signet_strerror(rc), words);
	if (strstr(m.text, words) == NULL)
		fail_msg("message \"%s\" does not say \"%s\"", m.text, words);
	fd = open_in("bad.cab", &size);
	assert_int_equal(F->existing(fd, size, &der, &dl, &m), rc);
	assert_null(der);
	assert_int_equal(dl, 0);
	close(fd);
	if (sig_only)
		return;
	assert_int_equal(digest_file("bad.cab", EVP_sha256(), d, &m), rc);
	sig = slurp("plain-sha256.p7", &sl);
	assert_int_equal(embed_file("bad.cab", sig, sl, "out.cab", &m,
	    &written), rc);
	assert_int_equal(written, 0);
	free(sig);
}

static void
refused(const unsigned char *b, size_t len, int rc, const char *words)
{
	refused_as(b, len, rc, words, 0);
}

static void
test_refuses_header(void **state)
{
	unsigned char *b;
	size_t len;
	uint32_t cb;

	(void)state;
	b = slurp("plain.cab", &len);
	refused(b, 20, SIGNET_ERR_TRUNCATED, "shorter than a cabinet's 36-byte");
	refused(b, 0, SIGNET_ERR_TRUNCATED, "shorter than");
	b[3] = 'E';
	refused(b, len, SIGNET_ERR_INVALID, "does not begin with \"MSCF\"");
	b[3] = 'F';
	cb = get32(b + 8);
	put32(b + 8, cb + 1);
	refused(b, len, SIGNET_ERR_INVALID, "(cbCabinet) but the file has");
	put32(b + 8, cb - 1);
	refused(b, len, SIGNET_ERR_INVALID, "(cbCabinet) but the file has");
	put32(b + 8, cb);
	b[4] = 1;
	refused(b, len, SIGNET_ERR_INVALID, "reserved1");
	b[4] = 0;
	b[24] = 4;
	refused(b, len, SIGNET_ERR_INVALID, "version 1.4");
	b[24] = 3;
	put16(b + 26, SIGNET_MAX_CAB_FOLDERS + 1);
	refused(b, len, SIGNET_ERR_TOO_LARGE, "4097 folders");
	put16(b + 26, 1);
	put16(b + 28, SIGNET_MAX_CAB_FILES + 1);
	refused(b, len, SIGNET_ERR_TOO_LARGE, "32769 files");
	put16(b + 28, 3);
	put16(b + 30, 0x0002);
	refused(b, len, SIGNET_ERR_INVALID, "multi-cabinet set");
	put16(b + 30, 0x0010);
	refused(b, len, SIGNET_ERR_INVALID, "does not define");
	put16(b + 30, 0);
	put16(b + 34, 1);
	refused(b, len, SIGNET_ERR_INVALID, "iCabinet");
	put16(b + 34, 0);
	/* a header reserve that is not a signature's */
	put16(b + 30, 0x0004);
	refused(b, len, SIGNET_ERR_INVALID, "not an Authenticode signature's");
	put16(b + 30, 0);
	spit("ok.cab", b, len);
	assert_int_equal(check_file("ok.cab", &(struct ac_msg){ { 0 } }), 0);
	free(b);
}

static void
test_refuses_entries(void **state)
{
	unsigned char *b;
	size_t len;
	uint32_t coff, start;

	(void)state;
	b = slurp("plain.cab", &len);
	coff = get32(b + 16);
	assert_int_equal(coff, 36 + 8);	/* one folder */
	start = get32(b + 36);
	/* the folder's data past the end, or inside the file entries */
	put32(b + 36, (uint32_t)len + 100);
	refused(b, len, SIGNET_ERR_INVALID, "past the end of the cabinet");
	put32(b + 36, coff + 10);
	refused(b, len, SIGNET_ERR_INVALID, "before the end of the file entries");
	put32(b + 36, start);
	put16(b + 42, 7);
	refused(b, len, SIGNET_ERR_INVALID, "compression type 7");
	put16(b + 42, 0);
	/* file entries elsewhere than right after the folders */
	put32(b + 16, coff + 1);
	refused(b, len, SIGNET_ERR_INVALID, "coffFiles");
	put32(b + 16, coff);
	/* more folders than the header has room for */
	put16(b + 26, 4000);
	put32(b + 8, 100);
	refused(b, 100, SIGNET_ERR_TRUNCATED, "folder entries (CFFOLDER");
	put16(b + 26, 1);
	/* file entries cut: in the fixed part, then in a name */
	put32(b + 8, coff + 10);
	refused(b, coff + 10, SIGNET_ERR_TRUNCATED, "file entry 1 of 3");
	put32(b + 8, coff + 16 + 3);
	refused(b, coff + 16 + 3, SIGNET_ERR_TRUNCATED,
	    "name of file entry 1 runs past");
	put32(b + 8, (uint32_t)len);
	/* a file in a folder the cabinet does not have */
	put16(b + coff + 8, 0xFFFD);
	refused(b, len, SIGNET_ERR_INVALID, "continue a multi-cabinet set");
	put16(b + coff + 8, 0);
	/* an empty name, a name longer than [MS-CAB] allows */
	b[coff + 16] = 0;
	refused(b, len, SIGNET_ERR_INVALID, "empty name");
	b[coff + 16] = 'a';
	/* the data blocks (CFDATA): one longer than the cabinet, one that
	 * says it unpacks to more than 32 KiB, more blocks than there are */
	{
		put32(b + 8, (uint32_t)len - 10);
		refused(b, len - 10, SIGNET_ERR_TRUNCATED, "runs past the end "
		    "of the cabinet");
		put32(b + 8, (uint32_t)len);
		put16(b + start + 6, 0x9000);
		refused(b, len, SIGNET_ERR_INVALID, "(cbUncomp)");
		put16(b + start + 6, get16(b + start + 4));
		put16(b + 40, (uint16_t)(get16(b + 40) + 1));
		refused(b, len, SIGNET_ERR_TRUNCATED, "its header runs past");
	}
	free(b);
	/* two folders whose blocks lie over each other */
	b = slurp("folders.cab", &len);
	assert_true(get16(b + 26) >= 2);
	put32(b + 36 + 8, get32(b + 36));
	put16(b + 36 + 8 + 4, 1);
	refused(b, len, SIGNET_ERR_INVALID, "lie over each other");
	free(b);
	{
		unsigned char *big = calloc(1, 4096);

		memcpy(big, b = slurp("plain.cab", &len), 36 + 8 + 16);
		memset(big + 36 + 8 + 16, 'n', 400);
		put32(big + 8, 4096);
		put16(big + 28, 1);
		put32(big + 36, 4000);
		refused(big, 4096, SIGNET_ERR_TOO_LARGE, "longer than 255 bytes");
		free(big);
		free(b);
	}
}

static void
test_refuses_signature(void **state)
{
	unsigned char *b, *c;
	size_t len;
	uint32_t pos, sl;

	(void)state;
	b = slurp("plain-sha256.cab", &len);
	pos = get32(b + 44);
	sl = get32(b + 48);
	assert_int_equal((size_t)pos + sl, len);
	/* pointing outside the file, or running past its end */
	put32(b + 48, sl + 8);
	refused(b, len, SIGNET_ERR_TRUNCATED, "runs past the end of the file");
	refused(b, len - 8, SIGNET_ERR_TRUNCATED, "runs past the end of the file");
	put32(b + 48, sl);
	put32(b + 44, 0x7fff0000);
	refused(b, len, SIGNET_ERR_INVALID, "lies outside the file");
	/* not at the end */
	put32(b + 44, pos);
	put32(b + 48, sl - 8);
	refused(b, len, SIGNET_ERR_INVALID, "not at the end of the file");
	put32(b + 48, sl);
	c = malloc(len + 8);
	memcpy(c, b, len);
	memset(c + len, 0, 8);
	refused(c, len + 8, SIGNET_ERR_INVALID, "not at the end of the file");
	free(c);
	/* an empty reserve, cbCabinet not where the signature begins */
	put32(b + 44, 0);
	put32(b + 48, 0);
	refused(b, len, SIGNET_ERR_INVALID, "reserve is empty");
	put32(b + 44, pos);
	put32(b + 48, sl);
	put32(b + 8, pos - 8);
	refused(b, len, SIGNET_ERR_INVALID, "in a signed cabinet they are equal");
	put32(b + 8, pos);
	/* bytes the digest leaves out must be zero */
	b[53] = 1;
	refused(b, len, SIGNET_ERR_INVALID, "does not describe");
	b[53] = 0;
	/* no PKCS#7 where the signature should be, junk in the padding */
	b[pos] ^= 0xff;
	refused_as(b, len, SIGNET_ERR_INVALID, "is not a PKCS#7 SignedData", 1);
	b[pos] ^= 0xff;
	b[len - 1] = 0x55;
	refused_as(b, len, SIGNET_ERR_INVALID, "not zero padding", 1);
	b[len - 1] = 0;
	spit("ok.cab", b, len);
	assert_int_equal(check_file("ok.cab", &(struct ac_msg){ { 0 } }), 0);
	free(b);
}

/* embed() takes only one DER SignedData of bounded size. */
static void
test_embed_refuses_bad_signature(void **state)
{
	unsigned char *sig, *big;
	struct ac_msg m;
	uint64_t written;
	size_t sl;

	(void)state;
	sig = slurp("plain-sha256.p7", &sl);
	assert_int_equal(embed_file("plain.cab", sig, sl - 1, "out.cab", &m,
	    &written), SIGNET_ERR_INVALID);
	assert_non_null(strstr(m.text, "not one DER PKCS#7 SignedData"));
	assert_int_equal(written, 0);
	assert_int_equal(embed_file("plain.cab", sig, 0, "out.cab", &m,
	    &written), SIGNET_ERR_INVALID);
	big = calloc(1, SIGNET_MAX_CAB_SIGNATURE + 1);
	memcpy(big, sig, sl);
	assert_int_equal(embed_file("plain.cab", big,
	    SIGNET_MAX_CAB_SIGNATURE + 1, "out.cab", &m, &written),
	    SIGNET_ERR_TOO_LARGE);
	assert_int_equal(written, 0);
	/* trailing bytes after the DER */
	assert_int_equal(embed_file("plain.cab", big, sl + 1, "out.cab", &m,
	    &written), SIGNET_ERR_INVALID);
	free(big);
	free(sig);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_detect),
		cmocka_unit_test(test_digest_matches_osslsigncode),
		cmocka_unit_test(test_existing),
		cmocka_unit_test(test_embed_verifies),
		cmocka_unit_test(test_embed_tamper),
		cmocka_unit_test(test_reembed_replaces),
		cmocka_unit_test(test_refuses_header),
		cmocka_unit_test(test_refuses_entries),
		cmocka_unit_test(test_refuses_signature),
		cmocka_unit_test(test_embed_refuses_bad_signature),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
