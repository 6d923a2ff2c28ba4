/* Compound files and MSI Authenticode (appliance/sign/formats/cfb.c,
 * ac_msi.c) on untrusted packages: cfb_open and the format's check,
 * digest and existing, then embed.
 *
 * Input: the file's bytes.
 *
 * Invariants: what cfb_open accepts, cfb_write turns into a file that
 * cfb_open accepts again, with the same number of root entries (one
 * stream set, none dropped); for an accepted MSI, the file embed() writes
 * is an accepted MSI with the same Authenticode digest (the digest leaves
 * the signature streams out and embed changes nothing else). */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "ac_msi.h"
#include "cfb.h"
#include "fuzz.h"

struct fz_buf {
	unsigned char *p;
	size_t n, cap;
};

static int
fz_put(void *arg, const void *p, size_t n)
{
	struct fz_buf *b = arg;
	unsigned char *q;

	if (b->n + n > b->cap) {
		b->cap = (b->n + n) * 2;
		if ((q = realloc(b->p, b->cap)) == NULL)
			return SIGNET_ERR_NOMEM;
		b->p = q;
	}
	memcpy(b->p + b->n, p, n);
	b->n += n;
	return 0;
}

/* an fd holding n bytes of p, or -1 */
static int
fz_fd(const void *p, size_t n)
{
	int fd = memfd_create("fuzz-msi", MFD_CLOEXEC);

	if (fd < 0)
		return -1;
	if (n > 0 && write(fd, p, n) != (ssize_t)n) {
		close(fd);
		return -1;
	}
	return fd;
}

static uint32_t
fz_root_entries(const struct cfb *c)
{
	uint32_t n;

	(void)cfb_children(c, CFB_ROOT_ID, &n);
	return n;
}

static void
fz_cfb(int fd, size_t size)
{
	static const unsigned char sig[] = { 0x30, 0x03, 0x02, 0x01, 0x01 };
	struct cfb_edit e = { .set = "\005Fuzz", .data = sig, .len = sizeof sig };
	struct fz_buf out = { NULL, 0, 0 };
	struct cfb *c = NULL, *back = NULL;
	char m[256];
	int fd2 = -1;

	if (cfb_open(fd, size, &c, m, sizeof m) != 0)
		return;
	if (cfb_write(c, &e, fz_put, &out, m, sizeof m) != 0)
		goto out;	/* out of memory, or a read that failed */
	if ((fd2 = fz_fd(out.p, out.n)) < 0)
		goto out;
	if (cfb_open(fd2, out.n, &back, m, sizeof m) != 0)
		fuzz_fail("cfb_write wrote a file cfb_open refuses");
	if (fz_root_entries(back) != fz_root_entries(c) +
	    (cfb_find(c, CFB_ROOT_ID, "\005Fuzz") == CFB_NOSTREAM))
		fuzz_fail("cfb_write lost or added a root entry");
out:
	cfb_free(back);
	cfb_free(c);
	if (fd2 >= 0)
		close(fd2);
	free(out.p);
}

static void
fz_msi(int fd, size_t size)
{
	const struct ac_format *f = &ac_msi_format;
	static const unsigned char p7[] = { 0x30, 0x03, 0x02, 0x01, 0x01 };
	struct ac_sink sink;
	struct fz_buf out = { NULL, 0, 0 };
	struct ac_msg m;
	unsigned char d0[32], d1[32], *der = NULL;
	size_t len;
	int fd2 = -1;

	(void)f->detect;
	if (f->check(fd, size, &m) != 0)
		return;
	if (f->digest(fd, size, EVP_sha256(), d0, &m) != 0)
		return;	/* a stream's data past the end of the file */
	if (f->existing(fd, size, &der, &len, &m) == 0 && der != NULL &&
	    (len == 0 || len > size))
		fuzz_fail("existing returned a signature of an impossible size");
	OPENSSL_free(der);
	sink.write = fz_put;
	sink.copy = NULL;
	sink.arg = &out;
	if (f->embed(fd, size, p7, sizeof p7, &sink, &m) != 0)
		goto out;
	if ((fd2 = fz_fd(out.p, out.n)) < 0)
		goto out;
	if (f->check(fd2, out.n, &m) != 0)
		fuzz_fail("embed wrote an MSI check refuses");
	if (f->digest(fd2, out.n, EVP_sha256(), d1, &m) != 0 ||
	    memcmp(d0, d1, sizeof d0) != 0)
		fuzz_fail("embed changed the Authenticode digest");
out:
	if (fd2 >= 0)
		close(fd2);
	free(out.p);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int fd;

	if ((fd = fz_fd(data, size)) < 0)
		return 0;
	(void)ac_msi_format.detect(data, size < AC_MAGIC_LEN ? size :
	    AC_MAGIC_LEN);
	fz_cfb(fd, size);
	fz_msi(fd, size);
	close(fd);
	return 0;
}
