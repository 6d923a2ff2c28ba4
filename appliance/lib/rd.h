/* The bounded reader: every parser of untrusted bytes (IPC messages, LMDB
 * records, form fields) reads through it. Each read checks what is left;
 * a failed read leaves the cursor where it was. */
#ifndef SIGNET_RD_H
#define SIGNET_RD_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

struct rd {
	const uint8_t *buf;
	size_t len;
	size_t off;
};

static inline void
rd_init(struct rd *r, const void *buf, size_t len)
{
	r->buf = buf;
	r->len = len;
	r->off = 0;
}

static inline size_t
rd_left(const struct rd *r)
{
	return r->len - r->off;
}

int rd_u8(struct rd *r, uint8_t *v) SIGNET_WUR;
int rd_u32(struct rd *r, uint32_t *v) SIGNET_WUR;	/* big endian */
int rd_u64(struct rd *r, uint64_t *v) SIGNET_WUR;	/* big endian */
/* Little endian, as PE/COFF, CAB and OpenPGP's v4+ packets lay them out. */
int rd_u16le(struct rd *r, uint16_t *v) SIGNET_WUR;
int rd_u32le(struct rd *r, uint32_t *v) SIGNET_WUR;
int rd_u64le(struct rd *r, uint64_t *v) SIGNET_WUR;
/* Moves the cursor n bytes on without reading them. */
int rd_skip(struct rd *r, size_t n) SIGNET_WUR;
/* n bytes, copied into out */
int rd_copy(struct rd *r, void *out, size_t n) SIGNET_WUR;
/* A u32 length then that many bytes, returned in place (not copied);
 * SIGNET_ERR_TOO_LARGE when the length exceeds max. */
int rd_blob(struct rd *r, size_t max, const uint8_t **p, size_t *n) SIGNET_WUR;
/* A blob copied into out[cap] and NUL-terminated; refuses embedded NULs
 * and lengths >= cap. */
int rd_cstr(struct rd *r, char *out, size_t cap) SIGNET_WUR;
/* The bytes up to the next delim, returned in place; the delimiter is
 * consumed. SIGNET_ERR_TRUNCATED when there is none,
 * SIGNET_ERR_TOO_LARGE when more than max bytes come before it. */
int rd_until(struct rd *r, uint8_t delim, size_t max, const uint8_t **p,
    size_t *n) SIGNET_WUR;
/* n bytes, returned in place (not copied). */
int rd_take(struct rd *r, size_t n, const uint8_t **p) SIGNET_WUR;
/* Where the next occurrence of needle[0..n) begins, counted from the
 * cursor, in *at; the cursor does not move. SIGNET_ERR_TRUNCATED when
 * what is left does not hold it. */
int rd_find(const struct rd *r, const void *needle, size_t n, size_t *at)
    SIGNET_WUR;
/* Everything not yet read (at most max bytes), returned in place. */
int rd_rest(struct rd *r, size_t max, const uint8_t **p, size_t *n) SIGNET_WUR;
/* SIGNET_ERR_INVALID unless every byte has been read. */
int rd_end(const struct rd *r) SIGNET_WUR;

#endif
