/* PE/COFF images for Authenticode (appliance/sign/formats/ac_pe.c), as
 * a submitter uploads them: the input is the file. It goes through
 * check(), digest(), existing(), ac_pe_info() and ac_pe_signatures() as
 * a file, and through the streaming digest in uneven chunks.
 *
 * Invariants: check(), digest() and the stream agree on every input
 * (the same code and message, the same digest); existing() is the first
 * of ac_pe_signatures() (which also reads the DER of the others). An accepted image with a signature embedded
 * (embed(), and ac_pe_embed_append()) is accepted again, with the same
 * digest, that signature in its place, a correct CheckSum and the
 * certificate table ending the file. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "ac_pe.h"
#include "fuzz.h"
#include "signet_limits.h"

/* a DER SEQUENCE, all embed() needs to see */
static const unsigned char fz_p7[] = { 0x30, 0x03, 0x02, 0x01, 0x05 };
/* its WIN_CERTIFICATE: 8 bytes of header, padded to 8 */
#define PE_FZ_ENTRY 16

struct fz_buf {
	uint8_t *p;
	size_t len, cap;
};

static int
fz_write(void *arg, const void *p, size_t n)
{
	struct fz_buf *b = arg;
	uint8_t *q;

	if (n > b->cap - b->len) {
		if ((q = realloc(b->p, b->len + n + 4096)) == NULL)
			return SIGNET_ERR_NOMEM;
		b->p = q;
		b->cap = b->len + n + 4096;
	}
	memcpy(b->p + b->len, p, n);
	b->len += n;
	return 0;
}

static int
fz_copy(void *arg, int fd, uint64_t off, uint64_t len)
{
	uint8_t chunk[4096];
	size_t k;
	int r;

	while (len > 0) {
		k = len < sizeof(chunk) ? (size_t)len : sizeof(chunk);
		if (pread(fd, chunk, k, (off_t)off) != (ssize_t)k)
			return SIGNET_ERR_IO;
		if ((r = fz_write(arg, chunk, k)) != 0)
			return r;
		off += k;
		len -= k;
	}
	return 0;
}

static int
fz_file(const char *name, const uint8_t *p, size_t n)
{
	const char *d = fuzz_tmpdir();
	char path[256];
	int fd;

	if (d == NULL)
		fuzz_fail("no scratch directory");
	snprintf(path, sizeof(path), "%s/%s", d, name);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || (n > 0 && write(fd, p, n) != (ssize_t)n))
		fuzz_fail("the scratch file could not be written");
	return fd;
}

static uint32_t
fz_le32(const uint8_t *b)
{
	return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 |
	    (uint32_t)b[3] << 24;
}

/* The CheckSum of b the slow way: every 16-bit word, CheckSum as 0. */
static uint32_t
fz_checksum(const uint8_t *b, size_t n, size_t cs)
{
	uint64_t sum = 0;
	size_t i;

	for (i = 0; i + 1 < n; i += 2)
		if (i != cs && i != cs + 2)
			sum += (uint32_t)b[i] | (uint32_t)b[i + 1] << 8;
	if (n % 2 != 0)
		sum += b[n - 1];
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint32_t)(sum + n);
}

/* keeps the first signature it is called with */
static int
fz_first(const unsigned char *p7, size_t len, void *arg)
{
	struct fz_buf *b = arg;

	if (b->p == NULL && fz_write(b, p7, len) != 0)
		fuzz_fail("out of memory");
	return 0;
}

static int
fz_count(const unsigned char *p7, size_t len, void *arg)
{
	(void)p7;
	(void)len;
	(*(unsigned *)arg)++;
	return 0;
}

/* The streaming digest of p[n], in chunks the input's bytes choose. */
static int
fz_stream(const uint8_t *p, size_t n, unsigned char *d, struct ac_msg *m)
{
	struct ac_pe_stream *s;
	size_t off = 0, k, i = 0;
	int r;

	if (ac_pe_stream_new(EVP_sha256(), &s) != 0)
		fuzz_fail("no stream");
	while (off < n) {
		k = 1 + (size_t)p[i++ % n] * 37;
		if (k > n - off)
			k = n - off;
		if (ac_pe_stream_update(s, p + off, k) != 0)
			fuzz_fail("stream update failed");
		off += k;
	}
	r = ac_pe_stream_final(s, d, m);
	ac_pe_stream_free(s);
	return r;
}

/* embed() or append into an accepted image: the output is accepted,
 * with the same digest, fz_p7 as its last signature (first when
 * replaced), a correct CheckSum. */
static void
fz_embedded(int fd, size_t n, int append, const unsigned char *digest,
    const struct ac_pe_info *before)
{
	struct fz_buf out = { 0 };
	struct ac_sink sink = { .write = fz_write, .copy = fz_copy, .arg = &out };
	struct ac_pe_info info;
	struct ac_msg m;
	unsigned char d[32], *der = NULL;
	size_t derlen, cs;
	unsigned count = 0;
	int ofd, r;

	if (append)
		r = ac_pe_embed_append(fd, n, fz_p7, sizeof(fz_p7), &sink, &m);
	else
		r = ac_pe_format.embed(fd, n, fz_p7, sizeof(fz_p7), &sink, &m);
	if (r != 0) {
		/* only the limits may refuse an accepted image */
		if (r != SIGNET_ERR_TOO_LARGE)
			fuzz_fail("embed refused an accepted image");
		free(out.p);
		return;
	}
	if (out.len % 8 != 0)
		fuzz_fail("the signed file is not 8-byte aligned");
	if (append && out.len < n + PE_FZ_ENTRY)
		fuzz_fail("appending did not add an entry");
	cs = fz_le32(out.p + 0x3c) + 88;
	if (fz_le32(out.p + cs) != fz_checksum(out.p, out.len, cs))
		fuzz_fail("the signed file's CheckSum is wrong");
	ofd = fz_file("signed", out.p, out.len);
	if (ac_pe_format.check(ofd, out.len, &m) != 0)
		fuzz_fail("the signed file is refused");
	if (ac_pe_format.digest(ofd, out.len, EVP_sha256(), d, &m) != 0 ||
	    memcmp(d, digest, sizeof(d)) != 0)
		fuzz_fail("signing changed the digest");
	if (ac_pe_info(ofd, out.len, &info, &m) != 0)
		fuzz_fail("no info for the signed file");
	if (info.nsignatures != (append ? before->nsignatures + 1 : 1))
		fuzz_fail("the signed file has the wrong number of signatures");
	if (!append) {
		if (ac_pe_format.existing(ofd, out.len, &der, &derlen,
		    &m) != 0 || derlen != sizeof(fz_p7) ||
		    memcmp(der, fz_p7, derlen) != 0)
			fuzz_fail("the embedded signature does not read back");
	} else if (ac_pe_signatures(ofd, out.len, fz_count, &count, &m) ==
	    0 && count != info.nsignatures)
		fuzz_fail("the signatures walked are not those counted");
	OPENSSL_free(der);
	close(ofd);
	free(out.p);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz_buf first = { 0 };
	struct ac_pe_info info;
	struct ac_msg m1, m2, m3;
	unsigned char d1[32], d2[32], *der = NULL;
	size_t derlen;
	int fd, r1, r2, r3, rs, re;

	if (size > 1024 * 1024)
		return 0;
	fd = fz_file("in", data, size);
	memset(&m1, 0, sizeof(m1));
	memset(&m2, 0, sizeof(m2));
	memset(&m3, 0, sizeof(m3));
	r1 = ac_pe_format.check(fd, size, &m1);
	r2 = ac_pe_format.digest(fd, size, EVP_sha256(), d1, &m2);
	r3 = fz_stream(data, size, d2, &m3);
	if (r1 != r2 || r2 != r3)
		fuzz_fail("check, digest and the stream disagree");
	if (r1 != 0 && (strcmp(m1.text, m2.text) != 0 ||
	    strcmp(m2.text, m3.text) != 0 || m1.text[0] == '\0'))
		fuzz_fail("check, digest and the stream say different things");
	if (r1 == 0 && memcmp(d1, d2, sizeof(d1)) != 0)
		fuzz_fail("the stream's digest is not digest()'s");
	if (r1 == 0) {
		if (ac_pe_info(fd, size, &info, &m1) != 0)
			fuzz_fail("no info for an accepted image");
		/* existing() reads the first entry's DER, the walk each */
		rs = ac_pe_signatures(fd, size, fz_first, &first, &m1);
		re = ac_pe_format.existing(fd, size, &der, &derlen, &m2);
		if (rs == 0 && re != 0)
			fuzz_fail("existing fails where the signatures do not");
		if (re == 0 && first.p != NULL && (derlen != first.len ||
		    memcmp(der, first.p, derlen) != 0))
			fuzz_fail("existing is not the first signature");
		if (re == 0 && (info.nsignatures == 0) != (der == NULL))
			fuzz_fail("existing and the count disagree");
		OPENSSL_free(der);
		free(first.p);
		fz_embedded(fd, size, 0, d1, &info);
		fz_embedded(fd, size, 1, d1, &info);
	}
	close(fd);
	return 0;
}
