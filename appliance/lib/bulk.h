/*
 * Large files read or written from start to end: an artifact arriving,
 * a signed copy being written, a file being hashed. The bytes move in
 * BULK_BLOCK pieces on threads of their own, so the disk works while
 * the caller (and the writer's digest) hashes, and with O_DIRECT where
 * the file system takes it: an artifact is written once, flushed and
 * seldom read again, and copying it through the page cache costs more
 * CPU time than the disk takes (and pushes the store's own pages out).
 * Without O_DIRECT (tmpfs, some network file systems) the same code
 * reads and writes through the cache.
 *
 * Errors are SIGNET_ERR codes; a full disk is SIGNET_ERR_STORAGE_FULL.
 */
#ifndef SIGNET_BULK_H
#define SIGNET_BULK_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

/* The piece moved at once; a writer holds three (four with a second
 * digest), a reader four. */
#define BULK_BLOCK (2u << 20)

struct bulk_writer;

/*
 * Writes fd, an empty regular file open for writing, from offset 0.
 * each, when not NULL, is called with every piece in file order just
 * before it is written (a digest of what reaches the disk): on a thread
 * of its own for a file of more than one block, else on the caller's in
 * finish(). A nonzero return stops the writer with that error.
 */
int bulk_writer_new(int fd, int (*each)(void *arg, const void *p, size_t n),
    void *arg, struct bulk_writer **out) SIGNET_WUR;
/* A second digest beside each(): fn sees the same pieces in the same
 * order on a thread of its own (for a file of more than one block), so
 * two digests of one upload take the time of one. Only before the
 * first byte is written; SIGNET_ERR_INTERNAL otherwise. */
int bulk_writer_also(struct bulk_writer *w, int (*fn)(void *arg,
    const void *p, size_t n), void *arg) SIGNET_WUR;
/* Copies p[n] in; returns an error the writer met earlier, if any. */
int bulk_write(struct bulk_writer *w, const void *p, size_t n) SIGNET_WUR;
/* 1 while w has threads of its own: from its first full block, unless
 * SIGNET_MAX_BULK_WRITERS others have theirs (then its caller does the
 * work), until finish. */
int bulk_writer_threaded(const struct bulk_writer *w);
/* Writes what is left and waits for it. fd then has O_DIRECT off again;
 * flushing it to stable storage is the caller's. The writer takes no
 * more bytes afterwards. */
int bulk_writer_finish(struct bulk_writer *w) SIGNET_WUR;
/* Stops the threads (discarding what they had not written) and frees
 * w; accepts NULL. */
void bulk_writer_free(struct bulk_writer *w);

struct bulk_reader;

/* Reads fd[off .. off + len) in order, reading ahead. fd itself is left
 * as it is (the reader opens the file again for O_DIRECT). */
int bulk_reader_new(int fd, uint64_t off, uint64_t len,
    struct bulk_reader **out) SIGNET_WUR;
/* The next piece, valid until the next call; *n == 0 after the last.
 * SIGNET_ERR_TRUNCATED when the file ends before off + len. */
int bulk_read(struct bulk_reader *r, const uint8_t **p,
    size_t *n) SIGNET_WUR;
void bulk_reader_free(struct bulk_reader *r);

#endif
