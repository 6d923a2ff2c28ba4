/* Cabinets as submitters upload them (appliance/sign/formats/ac_cab.c):
 * detect, check, digest and existing over the input as a file, then
 * embed of a fixed signature and the same questions of what it wrote.
 *
 * Input: the file's bytes.
 *
 * Invariants: a refusal is one of INVALID, TRUNCATED, TOO_LARGE with a
 * message; a cabinet check() accepts has a digest and an existing
 * signature (or none) that is a PKCS#7 within the limit; embedding a
 * signature into it gives a cabinet check() accepts, whose signature is
 * the one embedded and whose digest is the original's, since the digest
 * leaves the signature out. */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pkcs7.h>

#include "ac_cab.h"
#include "fuzz.h"
#include "signet_limits.h"

static const struct ac_format *F = &ac_cab_format;

/* A memfd holding exactly data. */
static int
fz_file(const void *data, size_t size)
{
	int fd;

	if ((fd = memfd_create("fuzz-cab", MFD_CLOEXEC)) < 0)
		fuzz_fail("memfd_create failed");
	if (size > 0 && write(fd, data, size) != (ssize_t)size)
		fuzz_fail("memfd write failed");
	return fd;
}

static int
fz_write(void *arg, const void *p, size_t n)
{
	int fd = *(int *)arg;

	return n == 0 || write(fd, p, n) == (ssize_t)n ? 0 : SIGNET_ERR_IO;
}

static int
fz_copy(void *arg, int fd, uint64_t off, uint64_t len)
{
	unsigned char buf[4096];
	ssize_t got;
	size_t n;

	while (len > 0) {
		n = len < sizeof(buf) ? (size_t)len : sizeof(buf);
		if ((got = pread(fd, buf, n, (off_t)off)) <= 0)
			return SIGNET_ERR_IO;
		if (fz_write(arg, buf, (size_t)got) != 0)
			return SIGNET_ERR_IO;
		off += (uint64_t)got;
		len -= (uint64_t)got;
	}
	return 0;
}

/* An empty SignedData: what embed() is handed, structurally. */
static unsigned char *
fz_signature(size_t *len)
{
	static unsigned char *der;
	static size_t n;
	PKCS7 *p7;
	int l;

	if (der == NULL) {
		if ((p7 = PKCS7_new()) == NULL ||
		    PKCS7_set_type(p7, NID_pkcs7_signed) != 1 ||
		    PKCS7_content_new(p7, NID_pkcs7_data) != 1 ||
		    (l = i2d_PKCS7(p7, &der)) <= 0)
			fuzz_fail("no signature to embed");
		n = (size_t)l;
		PKCS7_free(p7);
	}
	*len = n;
	return der;
}

static void
fz_refusal(int rc, const struct ac_msg *m)
{
	if (rc != SIGNET_ERR_INVALID && rc != SIGNET_ERR_TRUNCATED &&
	    rc != SIGNET_ERR_TOO_LARGE)
		fuzz_fail("a cabinet was refused with an unexpected code");
	if (m->text[0] == '\0')
		fuzz_fail("a cabinet was refused without a message");
}

/* The signed cabinet embed() wrote from fd: accepted, carrying sig, with
 * the digest d. */
static void
fz_embedded(int fd, uint64_t size, const unsigned char *d)
{
	unsigned char d2[EVP_MAX_MD_SIZE], *sig, *der = NULL;
	struct ac_sink sink;
	struct ac_msg m;
	size_t siglen, len;
	off_t osize;
	int out;

	sig = fz_signature(&siglen);
	if ((out = memfd_create("fuzz-cab-out", MFD_CLOEXEC)) < 0)
		fuzz_fail("memfd_create failed");
	sink.write = fz_write;
	sink.copy = fz_copy;
	sink.arg = &out;
	if (F->embed(fd, size, sig, siglen, &sink, &m) != 0)
		fuzz_fail("embed refused a cabinet check() accepted");
	if ((osize = lseek(out, 0, SEEK_END)) < 0)
		fuzz_fail("lseek failed");
	m.text[0] = '\0';
	if (F->check(out, (uint64_t)osize, &m) != 0)
		fuzz_fail(m.text);
	if (F->digest(out, (uint64_t)osize, EVP_sha256(), d2, &m) != 0 ||
	    memcmp(d, d2, 32) != 0)
		fuzz_fail("embedding a signature changed the digest");
	if (F->existing(out, (uint64_t)osize, &der, &len, &m) != 0 ||
	    der == NULL || len != siglen || memcmp(der, sig, len) != 0)
		fuzz_fail("the embedded signature does not read back");
	OPENSSL_free(der);
	close(out);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned char d[EVP_MAX_MD_SIZE], *der = NULL;
	const unsigned char *p;
	struct ac_msg m;
	PKCS7 *p7;
	size_t len = 1;
	int fd, rc;

	(void)F->detect(data, size < AC_MAGIC_LEN ? size : AC_MAGIC_LEN);
	fd = fz_file(data, size);
	m.text[0] = '\0';
	rc = F->check(fd, size, &m);
	if (rc != 0) {
		fz_refusal(rc, &m);
		/* the others refuse it too, or only its signature was bad */
		if (F->existing(fd, size, &der, &len, &m) == 0)
			fuzz_fail("existing accepted a cabinet check() refused");
		if (der != NULL || len != 0)
			fuzz_fail("a refused cabinet returned a signature");
		m.text[0] = '\0';
		if ((rc = F->digest(fd, size, EVP_sha256(), d, &m)) != 0)
			fz_refusal(rc, &m);
		goto out;
	}
	if (F->digest(fd, size, EVP_sha384(), d, &m) != 0 ||
	    F->digest(fd, size, EVP_sha256(), d, &m) != 0)
		fuzz_fail("no digest of a cabinet check() accepted");
	if (F->existing(fd, size, &der, &len, &m) != 0)
		fuzz_fail("existing refused a cabinet check() accepted");
	if (der != NULL) {
		p = der;
		if (len == 0 || len > SIGNET_MAX_CAB_SIGNATURE ||
		    (p7 = d2i_PKCS7(NULL, &p, (long)len)) == NULL ||
		    (size_t)(p - der) != len)
			fuzz_fail("an existing signature is not one PKCS#7");
		PKCS7_free(p7);
		OPENSSL_free(der);
	} else if (len != 0) {
		fuzz_fail("no signature, but a length");
	}
	fz_embedded(fd, size, d);
out:
	close(fd);
	return 0;
}
