#include <string.h>

#include "rd.h"

int
rd_u8(struct rd *r, uint8_t *v)
{
	if (rd_left(r) < 1)
		return SIGNET_ERR_TRUNCATED;
	*v = r->buf[r->off++];
	return 0;
}

int
rd_u32(struct rd *r, uint32_t *v)
{
	const uint8_t *p;

	if (rd_left(r) < 4)
		return SIGNET_ERR_TRUNCATED;
	p = r->buf + r->off;
	*v = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | (uint32_t)p[3];
	r->off += 4;
	return 0;
}

int
rd_u64(struct rd *r, uint64_t *v)
{
	uint32_t hi, lo;
	size_t save = r->off;

	if (rd_u32(r, &hi) != 0 || rd_u32(r, &lo) != 0) {
		r->off = save;
		return SIGNET_ERR_TRUNCATED;
	}
	*v = (uint64_t)hi << 32 | lo;
	return 0;
}

/* n little-endian bytes (n <= 8) into *v; the cursor moves only on
 * success. */
static int
rd_le(struct rd *r, size_t n, uint64_t *v)
{
	uint64_t x = 0;
	size_t i;

	if (rd_left(r) < n)
		return SIGNET_ERR_TRUNCATED;
	for (i = n; i > 0; i--)
		x = x << 8 | r->buf[r->off + i - 1];
	r->off += n;
	*v = x;
	return 0;
}

int
rd_u16le(struct rd *r, uint16_t *v)
{
	uint64_t x;
	int e;

	if ((e = rd_le(r, 2, &x)) != 0)
		return e;
	*v = (uint16_t)x;
	return 0;
}

int
rd_u32le(struct rd *r, uint32_t *v)
{
	uint64_t x;
	int e;

	if ((e = rd_le(r, 4, &x)) != 0)
		return e;
	*v = (uint32_t)x;
	return 0;
}

int
rd_u64le(struct rd *r, uint64_t *v)
{
	return rd_le(r, 8, v);
}

int
rd_skip(struct rd *r, size_t n)
{
	if (rd_left(r) < n)
		return SIGNET_ERR_TRUNCATED;
	r->off += n;
	return 0;
}

int
rd_copy(struct rd *r, void *out, size_t n)
{
	if (rd_left(r) < n)
		return SIGNET_ERR_TRUNCATED;
	if (n > 0)
		memcpy(out, r->buf + r->off, n);
	r->off += n;
	return 0;
}

int
rd_blob(struct rd *r, size_t max, const uint8_t **p, size_t *n)
{
	uint32_t len;
	size_t save = r->off;
	int e;

	if ((e = rd_u32(r, &len)) != 0)
		return e;
	if (len > max) {
		r->off = save;
		return SIGNET_ERR_TOO_LARGE;
	}
	if (rd_left(r) < len) {
		r->off = save;
		return SIGNET_ERR_TRUNCATED;
	}
	*p = r->buf + r->off;
	*n = len;
	r->off += len;
	return 0;
}

int
rd_cstr(struct rd *r, char *out, size_t cap)
{
	const uint8_t *p;
	size_t n, save = r->off;
	int e;

	if (cap == 0)
		return SIGNET_ERR_INTERNAL;
	if ((e = rd_blob(r, cap - 1, &p, &n)) != 0)
		return e;
	if (n > 0 && memchr(p, '\0', n) != NULL) {
		r->off = save;
		return SIGNET_ERR_INVALID;
	}
	memcpy(out, p, n);
	out[n] = '\0';
	return 0;
}

int
rd_until(struct rd *r, uint8_t delim, size_t max, const uint8_t **p,
    size_t *n)
{
	const uint8_t *start = r->buf + r->off, *d;
	size_t len;

	if ((d = memchr(start, delim, rd_left(r))) == NULL)
		return SIGNET_ERR_TRUNCATED;
	len = (size_t)(d - start);
	if (len > max)
		return SIGNET_ERR_TOO_LARGE;
	*p = start;
	*n = len;
	r->off += len + 1;
	return 0;
}

int
rd_take(struct rd *r, size_t n, const uint8_t **p)
{
	if (rd_left(r) < n)
		return SIGNET_ERR_TRUNCATED;
	*p = r->buf + r->off;
	r->off += n;
	return 0;
}

int
rd_find(const struct rd *r, const void *needle, size_t n, size_t *at)
{
	const uint8_t *start = r->buf + r->off, *hit;

	if (n == 0 || rd_left(r) < n)
		return SIGNET_ERR_TRUNCATED;
	/* glibc's memmem skips ahead by a shift table: the search runs at
	 * memory speed, not a compare per byte */
	if ((hit = memmem(start, rd_left(r), needle, n)) == NULL)
		return SIGNET_ERR_TRUNCATED;
	*at = (size_t)(hit - start);
	return 0;
}

int
rd_rest(struct rd *r, size_t max, const uint8_t **p, size_t *n)
{
	if (rd_left(r) > max)
		return SIGNET_ERR_TOO_LARGE;
	*p = r->buf + r->off;
	*n = rd_left(r);
	r->off = r->len;
	return 0;
}

int
rd_end(const struct rd *r)
{
	return rd_left(r) == 0 ? 0 : SIGNET_ERR_INVALID;
}
