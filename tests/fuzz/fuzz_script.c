/* PowerShell scripts under Authenticode (appliance/sign/formats/ac_script.c):
 * detect() on the head, the parser of the text and its signature block,
 * the digest, and embed().
 *
 * Input: the script's bytes.
 *
 * Invariants: a script that parses can be signed: embedding a signature
 * block writes a file that parses again, carries the block, yields the
 * very signature bytes back and has the same Authenticode digest (the
 * block is outside what the digest covers), in the same encoding. */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "ac_script.h"
#include "fuzz.h"

struct membuf {
	unsigned char *p;
	size_t n;
};

static int
mb_write(void *arg, const void *p, size_t n)
{
	struct membuf *b = arg;
	unsigned char *np = realloc(b->p, b->n + n + 1);

	if (np == NULL)
		return SIGNET_ERR_NOMEM;
	memcpy(np + b->n, p, n);
	b->p = np;
	b->n += n;
	return 0;
}

static int
mb_copy(void *arg, int fd, uint64_t off, uint64_t len)
{
	(void)arg;
	(void)fd;
	(void)off;
	(void)len;
	return SIGNET_ERR_INTERNAL;	/* embed() writes, it does not copy */
}

static int
memfd_of(const uint8_t *data, size_t size)
{
	int fd = memfd_create("script", MFD_CLOEXEC);

	if (fd < 0)
		return -1;
	if (size > 0 && write(fd, data, size) != (ssize_t)size) {
		close(fd);
		return -1;
	}
	return fd;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const unsigned char fake[] = { 0x30, 0x03, 0x02, 0x01, 0x07,
	    0xff, 0x00, 0x41 };
	struct ac_script_info si, so;
	struct ac_msg m;
	struct ac_sink sink;
	struct membuf out = { NULL, 0 };
	unsigned char d1[64], d2[64], *der = NULL;
	size_t dlen = 0;
	int fd = -1;

	(void)ac_script_format.detect(data, size < AC_MAGIC_LEN ? size :
	    AC_MAGIC_LEN);
	if (ac_script_parse(data, size, &si, &m) != 0)
		return 0;
	if (si.end > size || (si.has_sig && (si.sig_off < si.end ||
	    si.sig_off > size || si.sig_len > size - si.sig_off)))
		fuzz_fail("a parsed script's block lies outside the file");
	if (ac_script_signature(data, size, &si, &der, &dlen, &m) == 0)
		OPENSSL_free(der);
	der = NULL;
	if (ac_script_digest_buf(data, &si, EVP_sha256(), d1) != 0)
		fuzz_fail("a parsed script has no digest");
	if ((fd = memfd_of(data, size)) < 0)
		return 0;
	sink.write = mb_write;
	sink.copy = mb_copy;
	sink.arg = &out;
	if (ac_script_format.embed(fd, size, fake, sizeof(fake), &sink, &m) != 0)
		fuzz_fail("a parsed script could not take a signature block");
	close(fd);
	if (ac_script_parse(out.p, out.n, &so, &m) != 0)
		fuzz_fail(m.text);
	if (!so.has_sig || so.utf16 != si.utf16 || so.end != si.end)
		fuzz_fail("an embedded block is not where the digest ends");
	if (ac_script_digest_buf(out.p, &so, EVP_sha256(), d2) != 0 ||
	    memcmp(d1, d2, 32) != 0)
		fuzz_fail("embedding a block changed the digest");
	if (ac_script_signature(out.p, out.n, &so, &der, &dlen, &m) != 0 ||
	    dlen != sizeof(fake) || memcmp(der, fake, dlen) != 0)
		fuzz_fail("an embedded signature does not read back");
	OPENSSL_free(der);
	free(out.p);
	return 0;
}
