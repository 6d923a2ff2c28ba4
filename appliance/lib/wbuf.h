/* A growing byte buffer with a hard maximum (curl's dynbuf idea): an
 * append past the maximum fails with SIGNET_ERR_TOO_LARGE and frees the
 * buffer, so a failed buffer never holds half a message. */
#ifndef SIGNET_WBUF_H
#define SIGNET_WBUF_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

struct wbuf {
	uint8_t *buf;
	size_t len;
	size_t cap;
	size_t max;
	int secret;	/* wipe on free and on growth */
};

void wbuf_init(struct wbuf *b, size_t max);
/* Same, but the contents are wiped before memory is released. */
void wbuf_init_secret(struct wbuf *b, size_t max);
void wbuf_free(struct wbuf *b);
void wbuf_reset(struct wbuf *b);
int wbuf_add(struct wbuf *b, const void *p, size_t n) SIGNET_WUR;
int wbuf_u8(struct wbuf *b, uint8_t v) SIGNET_WUR;
int wbuf_u32(struct wbuf *b, uint32_t v) SIGNET_WUR;	/* big endian */
int wbuf_u64(struct wbuf *b, uint64_t v) SIGNET_WUR;	/* big endian */
/* u32 length, then the bytes (the form rd_blob reads) */
int wbuf_blob(struct wbuf *b, const void *p, size_t n) SIGNET_WUR;
int wbuf_cstr(struct wbuf *b, const char *s) SIGNET_WUR;
/* printf-style text appended (without its NUL). */
int wbuf_addf(struct wbuf *b, const char *fmt, ...) SIGNET_WUR
    __attribute__((format(printf, 2, 3)));
/* The contents as a C string: a NUL is kept after the last byte (not
 * counted in len) so the buffer can be read as text; "" when empty.
 * Fails like wbuf_add when the NUL does not fit under the maximum. */
int wbuf_str(struct wbuf *b, const char **s) SIGNET_WUR;
/* Hands the bytes to the caller (to free()) and leaves b empty. */
uint8_t *wbuf_take(struct wbuf *b, size_t *len);

#endif
