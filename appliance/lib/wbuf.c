#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "wbuf.h"

void
wbuf_init(struct wbuf *b, size_t max)
{
	memset(b, 0, sizeof(*b));
	b->max = max;
}

void
wbuf_init_secret(struct wbuf *b, size_t max)
{
	wbuf_init(b, max);
	b->secret = 1;
}

void
wbuf_free(struct wbuf *b)
{
	if (b == NULL)
		return;
	if (b->secret && b->buf != NULL)
		OPENSSL_cleanse(b->buf, b->cap);
	free(b->buf);
	b->buf = NULL;
	b->len = b->cap = 0;
}

void
wbuf_reset(struct wbuf *b)
{
	if (b->secret && b->buf != NULL && b->len > 0)
		OPENSSL_cleanse(b->buf, b->len);
	b->len = 0;
}

int
wbuf_add(struct wbuf *b, const void *p, size_t n)
{
	size_t need, ncap;
	uint8_t *nb;

	if (n > b->max || b->len > b->max - n) {
		wbuf_free(b);
		return SIGNET_ERR_TOO_LARGE;
	}
	need = b->len + n;
	if (need > b->cap) {
		ncap = b->cap ? b->cap : 64;
		while (ncap < need)
			ncap = ncap > b->max / 2 ? b->max : ncap * 2;
		if (b->secret) {
			/* realloc could leave a copy behind */
			if ((nb = malloc(ncap)) == NULL) {
				wbuf_free(b);
				return SIGNET_ERR_NOMEM;
			}
			if (b->len > 0)
				memcpy(nb, b->buf, b->len);
			if (b->buf != NULL)
				OPENSSL_cleanse(b->buf, b->cap);
			free(b->buf);
		} else if ((nb = realloc(b->buf, ncap)) == NULL) {
			wbuf_free(b);
			return SIGNET_ERR_NOMEM;
		}
		b->buf = nb;
		b->cap = ncap;
	}
	if (n > 0)
		memcpy(b->buf + b->len, p, n);
	b->len += n;
	return 0;
}

int
wbuf_u8(struct wbuf *b, uint8_t v)
{
	return wbuf_add(b, &v, 1);
}

int
wbuf_u32(struct wbuf *b, uint32_t v)
{
	uint8_t p[4] = { v >> 24, v >> 16, v >> 8, v };

	return wbuf_add(b, p, sizeof(p));
}

int
wbuf_u64(struct wbuf *b, uint64_t v)
{
	int e;

	if ((e = wbuf_u32(b, (uint32_t)(v >> 32))) != 0)
		return e;
	return wbuf_u32(b, (uint32_t)v);
}

int
wbuf_blob(struct wbuf *b, const void *p, size_t n)
{
	int e;

	if (n > UINT32_MAX)
		return SIGNET_ERR_TOO_LARGE;
	if ((e = wbuf_u32(b, (uint32_t)n)) != 0)
		return e;
	return wbuf_add(b, p, n);
}

int
wbuf_cstr(struct wbuf *b, const char *s)
{
	return wbuf_blob(b, s, strlen(s));
}

int
wbuf_addf(struct wbuf *b, const char *fmt, ...)
{
	va_list ap;
	char small[256], *big = NULL;
	int n, e;

	va_start(ap, fmt);
	n = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	if (n < 0) {
		wbuf_free(b);
		return SIGNET_ERR_INVALID;
	}
	if ((size_t)n < sizeof(small)) {
		e = wbuf_add(b, small, (size_t)n);
		if (b->secret)
			OPENSSL_cleanse(small, sizeof(small));
		return e;
	}
	if ((size_t)n > b->max || (big = malloc((size_t)n + 1)) == NULL) {
		wbuf_free(b);
		return big == NULL && (size_t)n <= b->max ? SIGNET_ERR_NOMEM :
		    SIGNET_ERR_TOO_LARGE;
	}
	va_start(ap, fmt);
	vsnprintf(big, (size_t)n + 1, fmt, ap);
	va_end(ap);
	e = wbuf_add(b, big, (size_t)n);
	if (b->secret)
		OPENSSL_cleanse(big, (size_t)n);
	free(big);
	return e;
}

int
wbuf_str(struct wbuf *b, const char **s)
{
	int e;

	/* the NUL goes in as a byte, then is taken off the length again */
	if ((e = wbuf_u8(b, 0)) != 0)
		return e;
	b->len--;
	*s = (const char *)b->buf;
	return 0;
}

uint8_t *
wbuf_take(struct wbuf *b, size_t *len)
{
	uint8_t *p = b->buf;

	if (len != NULL)
		*len = b->len;
	b->buf = NULL;
	b->len = b->cap = 0;
	return p;
}
