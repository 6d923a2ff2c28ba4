/* Content-addressed artifact store: artifacts/sha256/ab/abcdef… . Uploads
 * go to artifacts/tmp/, are hashed while they stream, fsync'ed and renamed
 * into place, so a file under sha256/ is always whole and named by its
 * content. */
#ifndef SIGNET_CAS_H
#define SIGNET_CAS_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

#define CAS_HEX_LEN 64

struct cas;
struct cas_upload;

/* Creates the directories and removes what a crash left in tmp/. */
int cas_open(const char *state_dir, struct cas **out) SIGNET_WUR;
void cas_close(struct cas *c);

int cas_upload_begin(struct cas *c, uint64_t max_size,
    struct cas_upload **out) SIGNET_WUR;
/* SIGNET_ERR_TOO_LARGE once more than max_size bytes were written. */
int cas_upload_write(struct cas_upload *u, const void *p, size_t n) SIGNET_WUR;
/* Makes the upload durable under its hash; frees u in every case. */
int cas_upload_finish(struct cas_upload *u, char hex[CAS_HEX_LEN + 1],
    uint64_t *size) SIGNET_WUR;
/* As cas_upload_finish, except that an upload of at most held_max bytes
 * is not stored: its bytes come back in *held (malloc'd, the caller's,
 * to be kept in the database with the record naming them; an empty
 * upload is a buffer of one byte) and the temporary file is removed.
 * A larger one is stored as by cas_upload_finish, *held NULL. */
int cas_upload_finish_held(struct cas_upload *u, size_t held_max,
    char hex[CAS_HEX_LEN + 1], uint64_t *size,
    unsigned char **held) SIGNET_WUR;
/* Removes the temporary file; accepts NULL. */
void cas_upload_abort(struct cas_upload *u);
uint64_t cas_upload_size(const struct cas_upload *u);
/* Appends len bytes of fd from off: read in bounded blocks and hashed as
 * they are copied (SIGNET_ERR_TRUNCATED when fd ends first). */
int cas_upload_copy(struct cas_upload *u, int fd, uint64_t off,
    uint64_t len) SIGNET_WUR;
/* Hands every byte written from now on also to fn(arg, ...), in order
 * (a second digest of what is stored): on the caller's thread
 * (CAS_TAP_CALLER; fn NULL ends it), or on a thread of its own beside
 * the one that takes the SHA-256 (CAS_TAP_WRITER: set before the first
 * write, else SIGNET_ERR_INTERNAL, and done with only once
 * cas_upload_flush() returned). An error from fn fails the upload. */
enum cas_tap { CAS_TAP_CALLER, CAS_TAP_WRITER };
int cas_upload_tap(struct cas_upload *u, enum cas_tap where,
    int (*fn)(void *arg, const void *p, size_t n), void *arg) SIGNET_WUR;
/* Everything written so far on the disk's way and every tap done with;
 * the upload takes no more bytes afterwards. */
int cas_upload_flush(struct cas_upload *u) SIGNET_WUR;
/* What has been written so far, opened for reading (O_CLOEXEC): the
 * submission's checks read an upload before it is made durable, so that
 * a refused one leaves nothing in the store. Close *fd. */
int cas_upload_open_read(struct cas_upload *u, int *fd) SIGNET_WUR;

int cas_put(struct cas *c, const void *p, size_t n,
    char hex[CAS_HEX_LEN + 1]) SIGNET_WUR;
/* The name n bytes at p have in the store (their SHA-256), without
 * storing them. */
int cas_name(const void *p, size_t n, char hex[CAS_HEX_LEN + 1]) SIGNET_WUR;
/* Opens an artifact for reading (O_CLOEXEC); *size is its length. */
int cas_open_read(struct cas *c, const char *hex, int *fd,
    uint64_t *size) SIGNET_WUR;
int cas_remove(struct cas *c, const char *hex) SIGNET_WUR;
/* Calls fn for every stored hash (for garbage collection at startup). */
int cas_walk(struct cas *c, int (*fn)(const char *hex, void *arg),
    void *arg) SIGNET_WUR;
/* Files currently in tmp/ (tests, health). */
int cas_tmp_count(struct cas *c);
/* The file system holding the artifacts: bytes an unprivileged writer
 * may still use, and its size (statvfs). */
int cas_space(struct cas *c, uint64_t *avail, uint64_t *total) SIGNET_WUR;
/* A valid lowercase SHA-256 hex string? */
int cas_valid_hex(const char *hex);

#endif
