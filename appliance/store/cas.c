#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

#include "bulk.h"
#include "cas.h"
#include "log.h"

struct cas {
	char *root;	/* .../artifacts */
	int dirfd;	/* root */
	int tmpfd;	/* root/tmp */
	int shafd;	/* root/sha256 */
};

struct cas_upload {
	struct cas *c;
	int fd;
	char name[64];	/* in tmp/ */
	EVP_MD_CTX *md;		/* fed by the writer, in file order */
	uint64_t size;
	uint64_t max;
	struct bulk_writer *w;
	int flushed;		/* everything written: no more bytes */
	int (*tap)(void *, const void *, size_t);	/* CAS_TAP_CALLER */
	void *tap_arg;
};

int
cas_valid_hex(const char *hex)
{
	size_t i;

	for (i = 0; i < CAS_HEX_LEN; i++)
		if (!((hex[i] >= '0' && hex[i] <= '9') ||
		    (hex[i] >= 'a' && hex[i] <= 'f')))
			return 0;
	return hex[CAS_HEX_LEN] == '\0';
}

/* A full disk (or quota) is its own error: the API answers it with 507
 * and the signer waits for space instead of failing the request. */
static int
cas_errno(int e)
{
	return e == ENOSPC || e == EDQUOT ? SIGNET_ERR_STORAGE_FULL :
	    SIGNET_ERR_IO;
}

static int
cas_mkdirat(int dfd, const char *name)
{
	if (mkdirat(dfd, name, 0700) != 0 && errno != EEXIST)
		return -1;
	return openat(dfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

static void
cas_clean_tmp(struct cas *c)
{
	DIR *d;
	struct dirent *e;
	int fd, n = 0;

	if ((fd = dup(c->tmpfd)) < 0 || (d = fdopendir(fd)) == NULL) {
		if (fd >= 0)
			close(fd);
		return;
	}
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		if (unlinkat(c->tmpfd, e->d_name, 0) == 0)
			n++;
	}
	closedir(d);
	if (n > 0) {
		log_info("cas: removed %d unfinished upload(s)", n);
		fsync(c->tmpfd);
	}
}

int
cas_open(const char *state_dir, struct cas **out)
{
	struct cas *c;
	int sfd = -1, r = SIGNET_ERR_IO;

	*out = NULL;
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return SIGNET_ERR_NOMEM;
	c->dirfd = c->tmpfd = c->shafd = -1;
	if (asprintf(&c->root, "%s/artifacts", state_dir) < 0) {
		c->root = NULL;
		r = SIGNET_ERR_NOMEM;
		goto out;
	}
	if ((sfd = open(state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0 ||
	    (c->dirfd = cas_mkdirat(sfd, "artifacts")) < 0 ||
	    (c->tmpfd = cas_mkdirat(c->dirfd, "tmp")) < 0 ||
	    (c->shafd = cas_mkdirat(c->dirfd, "sha256")) < 0) {
		log_err("cas: %s: %s", c->root, strerror(errno));
		goto out;
	}
	cas_clean_tmp(c);
	*out = c;
	c = NULL;
	r = 0;
out:
	if (sfd >= 0)
		close(sfd);
	cas_close(c);
	return r;
}

void
cas_close(struct cas *c)
{
	if (c == NULL)
		return;
	if (c->dirfd >= 0)
		close(c->dirfd);
	if (c->tmpfd >= 0)
		close(c->tmpfd);
	if (c->shafd >= 0)
		close(c->shafd);
	free(c->root);
	free(c);
}

/* The name is the SHA-256 of what reaches the disk: the writer's thread
 * hashes each block just before it is written (a tap of the writer runs
 * beside it, bulk_writer_also). */
static int
cas_hash(void *arg, const void *p, size_t n)
{
	struct cas_upload *u = arg;

	if (EVP_DigestUpdate(u->md, p, n) != 1)
		return SIGNET_ERR_CRYPTO;
	return 0;
}

int
cas_upload_begin(struct cas *c, uint64_t max_size, struct cas_upload **out)
{
	struct cas_upload *u;
	unsigned char rnd[16];
	int i;

	*out = NULL;
	if ((u = calloc(1, sizeof(*u))) == NULL)
		return SIGNET_ERR_NOMEM;
	u->c = c;
	u->fd = -1;
	u->max = max_size;
	if ((u->md = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestInit_ex(u->md, EVP_sha256(), NULL) != 1 ||
	    RAND_bytes(rnd, sizeof(rnd)) != 1) {
		cas_upload_abort(u);
		return SIGNET_ERR_NOMEM;
	}
	memcpy(u->name, "upload-", 7);
	for (i = 0; i < 16; i++)
		snprintf(u->name + 7 + 2 * i, 3, "%02x", rnd[i]);
	u->fd = openat(c->tmpfd, u->name,
	    O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (u->fd < 0) {
		int e = errno;

		log_err("cas: create %s/tmp/%s: %s", c->root, u->name,
		    strerror(e));
		u->name[0] = '\0';
		cas_upload_abort(u);
		return cas_errno(e);
	}
	if (bulk_writer_new(u->fd, cas_hash, u, &u->w) != 0) {
		cas_upload_abort(u);
		return SIGNET_ERR_NOMEM;
	}
	*out = u;
	return 0;
}

int
cas_upload_write(struct cas_upload *u, const void *p, size_t n)
{
	int r;

	if (u->flushed)
		return SIGNET_ERR_INTERNAL;
	if (n > u->max || u->size > u->max - n)
		return SIGNET_ERR_TOO_LARGE;
	u->size += n;
	if (u->tap != NULL && (r = u->tap(u->tap_arg, p, n)) != 0)
		return r;
	return bulk_write(u->w, p, n);
}

int
cas_upload_tap(struct cas_upload *u, enum cas_tap where,
    int (*fn)(void *arg, const void *p, size_t n), void *arg)
{
	if (where == CAS_TAP_WRITER)
		return bulk_writer_also(u->w, fn, arg);
	u->tap = fn;
	u->tap_arg = fn != NULL ? arg : NULL;
	return 0;
}

int
cas_upload_flush(struct cas_upload *u)
{
	if (u->flushed)
		return 0;
	u->flushed = 1;
	return bulk_writer_finish(u->w);
}

uint64_t
cas_upload_size(const struct cas_upload *u)
{
	return u->size;
}

/*
 * copy_file_range() would move the bytes inside the kernel, but the
 * artifact store names a file by its SHA-256, so every byte has to pass
 * through user space to be hashed anyway; copying in the kernel and then
 * reading the copy back to hash it reads the data twice. The bulk reader
 * reads ahead while the writer hashes and writes behind.
 */
int
cas_upload_copy(struct cas_upload *u, int fd, uint64_t off, uint64_t len)
{
	struct bulk_reader *rd;
	const uint8_t *p;
	size_t n;
	int r;

	if ((r = bulk_reader_new(fd, off, len, &rd)) != 0)
		return r;
	while ((r = bulk_read(rd, &p, &n)) == 0 && n > 0)
		if ((r = cas_upload_write(u, p, n)) != 0)
			break;
	bulk_reader_free(rd);
	return r;
}

int
cas_upload_open_read(struct cas_upload *u, int *fd)
{
	int r;

	*fd = -1;
	if ((r = cas_upload_flush(u)) != 0)
		return r;
	if ((*fd = openat(u->c->tmpfd, u->name, O_RDONLY | O_CLOEXEC)) < 0) {
		log_err("cas: open tmp/%s: %s", u->name, strerror(errno));
		return SIGNET_ERR_IO;
	}
	return 0;
}

static void
cas_hex(const unsigned char *md, char hex[CAS_HEX_LEN + 1])
{
	int i;

	for (i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
}

int
cas_upload_finish(struct cas_upload *u, char hex[CAS_HEX_LEN + 1],
    uint64_t *size)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen;
	char sub[3];
	int subfd = -1, r = SIGNET_ERR_IO;

	if ((r = cas_upload_flush(u)) != 0)
		goto out;
	r = SIGNET_ERR_IO;
	if (fdatasync(u->fd) != 0) {
		r = cas_errno(errno);
		log_err("cas: fsync: %s", strerror(errno));
		goto out;
	}
	if (EVP_DigestFinal_ex(u->md, md, &mdlen) != 1 || mdlen != 32) {
		r = SIGNET_ERR_CRYPTO;
		goto out;
	}
	cas_hex(md, hex);
	memcpy(sub, hex, 2);
	sub[2] = '\0';
	if ((subfd = cas_mkdirat(u->c->shafd, sub)) < 0) {
		r = cas_errno(errno);
		log_err("cas: mkdir sha256/%s: %s", sub, strerror(errno));
		goto out;
	}
	/* Same content, same name: an existing file is already this one. */
	if (renameat(u->c->tmpfd, u->name, subfd, hex) != 0) {
		log_err("cas: rename to sha256/%s/%s: %s", sub, hex,
		    strerror(errno));
		goto out;
	}
	u->name[0] = '\0';
	if (fsync(subfd) != 0 || fsync(u->c->tmpfd) != 0) {
		log_err("cas: fsync directory: %s", strerror(errno));
		goto out;
	}
	*size = u->size;
	r = 0;
out:
	if (subfd >= 0)
		close(subfd);
	cas_upload_abort(u);
	return r;
}

int
cas_upload_finish_held(struct cas_upload *u, size_t held_max,
    char hex[CAS_HEX_LEN + 1], uint64_t *size, unsigned char **held)
{
	unsigned char md[EVP_MAX_MD_SIZE], *buf = NULL;
	unsigned int mdlen;
	size_t got = 0;
	ssize_t k;
	int fd = -1, r;

	*held = NULL;
	if ((r = cas_upload_flush(u)) != 0)
		goto out;
	if (u->size > held_max)
		return cas_upload_finish(u, hex, size);
	/* the file as written: through the cache (a file this small never
	 * uses O_DIRECT), so it is read back from memory */
	r = SIGNET_ERR_IO;
	if ((buf = malloc(u->size > 0 ? (size_t)u->size : 1)) == NULL) {
		r = SIGNET_ERR_NOMEM;
		goto out;
	}
	if ((fd = openat(u->c->tmpfd, u->name, O_RDONLY | O_CLOEXEC)) < 0) {
		log_err("cas: open tmp/%s: %s", u->name, strerror(errno));
		goto out;
	}
	while (got < u->size) {
		k = pread(fd, buf + got, (size_t)u->size - got, (off_t)got);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0) {
			log_err("cas: read tmp/%s: %s", u->name,
			    k < 0 ? strerror(errno) : "it ended early");
			goto out;
		}
		got += (size_t)k;
	}
	if (EVP_DigestFinal_ex(u->md, md, &mdlen) != 1 || mdlen != 32) {
		r = SIGNET_ERR_CRYPTO;
		goto out;
	}
	cas_hex(md, hex);
	*size = u->size;
	*held = buf;
	buf = NULL;
	r = 0;
out:
	if (fd >= 0)
		close(fd);
	free(buf);
	cas_upload_abort(u);
	return r;
}

int
cas_name(const void *p, size_t n, char hex[CAS_HEX_LEN + 1])
{
	unsigned char md[32];

	if (EVP_Digest(p, n, md, NULL, EVP_sha256(), NULL) != 1)
		return SIGNET_ERR_CRYPTO;
	cas_hex(md, hex);
	return 0;
}

void
cas_upload_abort(struct cas_upload *u)
{
	if (u == NULL)
		return;
	bulk_writer_free(u->w);
	if (u->fd >= 0)
		close(u->fd);
	if (u->name[0] != '\0')
		(void)unlinkat(u->c->tmpfd, u->name, 0);
	EVP_MD_CTX_free(u->md);
	free(u);
}

int
cas_put(struct cas *c, const void *p, size_t n, char hex[CAS_HEX_LEN + 1])
{
	struct cas_upload *u;
	uint64_t size;
	int r;

	if ((r = cas_upload_begin(c, n, &u)) != 0)
		return r;
	if ((r = cas_upload_write(u, p, n)) != 0) {
		cas_upload_abort(u);
		return r;
	}
	return cas_upload_finish(u, hex, &size);
}

static int
cas_rel(const char *hex, char *buf, size_t len)
{
	if (!cas_valid_hex(hex))
		return SIGNET_ERR_INVALID;
	snprintf(buf, len, "%.2s/%s", hex, hex);
	return 0;
}

int
cas_open_read(struct cas *c, const char *hex, int *fd, uint64_t *size)
{
	char rel[80];
	struct stat st;
	int r;

	*fd = -1;
	if ((r = cas_rel(hex, rel, sizeof(rel))) != 0)
		return r;
	if ((*fd = openat(c->shafd, rel, O_RDONLY | O_CLOEXEC)) < 0) {
		log_err("cas: open sha256/%s: %s", rel, strerror(errno));
		return errno == ENOENT ? SIGNET_ERR_NOT_FOUND : SIGNET_ERR_IO;
	}
	if (fstat(*fd, &st) != 0) {
		close(*fd);
		*fd = -1;
		return SIGNET_ERR_IO;
	}
	*size = (uint64_t)st.st_size;
	return 0;
}

int
cas_remove(struct cas *c, const char *hex)
{
	char rel[80];
	int r;

	if ((r = cas_rel(hex, rel, sizeof(rel))) != 0)
		return r;
	if (unlinkat(c->shafd, rel, 0) != 0 && errno != ENOENT)
		return SIGNET_ERR_IO;
	return 0;
}

int
cas_walk(struct cas *c, int (*fn)(const char *hex, void *arg), void *arg)
{
	DIR *top = NULL, *sub;
	struct dirent *e, *f;
	int fd, subfd, r = 0;

	if ((fd = dup(c->shafd)) < 0)
		return SIGNET_ERR_IO;
	if ((top = fdopendir(fd)) == NULL) {
		close(fd);
		return SIGNET_ERR_IO;
	}
	rewinddir(top);
	while (r == 0 && (e = readdir(top)) != NULL) {
		if (e->d_name[0] == '.' || strlen(e->d_name) != 2)
			continue;
		subfd = openat(c->shafd, e->d_name,
		    O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (subfd < 0 || (sub = fdopendir(subfd)) == NULL) {
			if (subfd >= 0)
				close(subfd);
			continue;
		}
		while (r == 0 && (f = readdir(sub)) != NULL) {
			if (cas_valid_hex(f->d_name) &&
			    strncmp(f->d_name, e->d_name, 2) == 0)
				r = fn(f->d_name, arg);
		}
		closedir(sub);
	}
	closedir(top);
	return r;
}

int
cas_tmp_count(struct cas *c)
{
	DIR *d;
	struct dirent *e;
	int fd, n = 0;

	if ((fd = dup(c->tmpfd)) < 0)
		return -1;
	if ((d = fdopendir(fd)) == NULL) {
		close(fd);
		return -1;
	}
	rewinddir(d);
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

int
cas_space(struct cas *c, uint64_t *avail, uint64_t *total)
{
	struct statvfs st;

	*avail = *total = 0;
	if (fstatvfs(c->dirfd, &st) != 0)
		return SIGNET_ERR_IO;
	*avail = (uint64_t)st.f_bavail * st.f_frsize;
	*total = (uint64_t)st.f_blocks * st.f_frsize;
	return 0;
}
