/* The multipart/form-data reader (web/multipart.c), as api_submit calls
 * it: the Content-Type's boundary, then the body pulled in reads.
 *
 * Input: byte 0 sets the reads (its low 7 bits are the read size, 0 for
 * the whole body at once; bit 7 makes the handler stop at the third
 * part), then the Content-Type up to the first '\n', then the body.
 *
 * Invariants: a refused Content-Type says why, and an accepted one gives
 * a boundary of 1-70 characters; the body reads to the same result, the
 * same parts and the same content in reads of the given size as in one
 * read of it all, up to where it was refused (what the reader does
 * cannot depend on where TCP cut the stream); a refused body says why, an accepted or stopped one says
 * nothing; no more content comes out than went in. */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "multipart.h"
#include "wbuf.h"

struct fz_src {
	const uint8_t *p;
	size_t len, off, chunk;
};

static ssize_t
fz_read(void *arg, void *buf, size_t n)
{
	struct fz_src *s = arg;

	if (s->chunk > 0 && n > s->chunk)
		n = s->chunk;
	if (n > s->len - s->off)
		n = s->len - s->off;
	memcpy(buf, s->p + s->off, n);
	s->off += n;
	return (ssize_t)n;
}

struct fz_seen {
	struct wbuf log;
	size_t parts, content, stop_at;
};

/* The log is what was seen, cut-free: a part is \1 'P' name \0, and
 * \1 'F' filename \0 when it has one; content follows as it is, with
 * each \1 doubled, so that the same bytes in other spans log the same. */
static int
fz_part(void *arg, const char *name, const char *filename)
{
	struct fz_seen *s = arg;

	if (++s->parts == s->stop_at)
		return -1;
	/* names are C strings: a NUL cannot be inside one */
	if (wbuf_add(&s->log, "\1P", 2) != 0 ||
	    wbuf_add(&s->log, name, strlen(name) + 1) != 0 ||
	    (filename != NULL && (wbuf_add(&s->log, "\1F", 2) != 0 ||
	    wbuf_add(&s->log, filename, strlen(filename) + 1) != 0)))
		fuzz_fail("the log of parts grew past its bound");
	return 0;
}

static int
fz_data(void *arg, const void *p, size_t n)
{
	struct fz_seen *s = arg;
	const uint8_t *c = p;
	size_t i;

	if (n == 0)
		fuzz_fail("a content span of no bytes");
	s->content += n;
	for (i = 0; i < n; i++)
		if ((c[i] == 1 && wbuf_add(&s->log, "\1", 1) != 0) ||
		    wbuf_add(&s->log, c + i, 1) != 0)
			fuzz_fail("the log of content grew past its bound");
	return 0;
}

static int
fz_parse(const char *boundary, const uint8_t *body, size_t len,
    size_t chunk, size_t stop_at, struct fz_seen *sn, char *err,
    size_t errlen)
{
	struct fz_src s = { body, len, 0, chunk };
	struct multipart_handler h = { fz_part, fz_data, sn };

	memset(sn, 0, sizeof(*sn));
	sn->stop_at = stop_at;
	wbuf_init(&sn->log, 4 * len + 64);
	return multipart_parse(boundary, fz_read, &s, &h, err, errlen);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char ct[512], boundary[MULTIPART_MAX_BOUNDARY + 1], err[512],
	    err2[512];
	struct fz_seen a, b;
	const uint8_t *nl, *body;
	size_t ctlen, blen, chunk, stop_at;
	int ra, rb;

	if (size < 1)
		return 0;
	chunk = data[0] & 0x7f;
	stop_at = data[0] & 0x80 ? 3 : 0;
	nl = memchr(data + 1, '\n', size - 1);
	ctlen = nl != NULL ? (size_t)(nl - (data + 1)) : size - 1;
	if (ctlen >= sizeof(ct))
		return 0;
	memcpy(ct, data + 1, ctlen);
	ct[ctlen] = '\0';
	body = nl != NULL ? nl + 1 : data + size;
	blen = (size_t)(data + size - body);
	err[0] = '\0';
	if (multipart_boundary(ct, boundary, err, sizeof(err)) != 0) {
		if (err[0] == '\0')
			fuzz_fail("a refused Content-Type without a message");
		memcpy(boundary, "b", 2);
	} else if (strlen(boundary) < 1 ||
	    strlen(boundary) > MULTIPART_MAX_BOUNDARY) {
		fuzz_fail("a boundary of a length RFC 2046 does not allow");
	}
	ra = fz_parse(boundary, body, blen, chunk, stop_at, &a, err,
	    sizeof(err));
	rb = fz_parse(boundary, body, blen, 0, stop_at, &b, err2,
	    sizeof(err2));
	if (ra != rb)
		fuzz_fail("the result depends on how the body was read");
	if ((ra < 0) != (err[0] != '\0') || (rb < 0) != (err2[0] != '\0'))
		fuzz_fail("a refusal without a message, or a message without one");
	if (a.content > blen)
		fuzz_fail("more content came out than the body held");
	/* also when it was refused: what came out before the fault is
	 * the same however the body was cut */
	if (a.log.len != b.log.len || (a.log.len > 0 &&
	    memcmp(a.log.buf, b.log.buf, a.log.len) != 0))
		fuzz_fail("the parts read depend on how the body was read");
	if (a.parts != b.parts)
		fuzz_fail("the number of parts depends on the reads");
	wbuf_free(&a.log);
	wbuf_free(&b.log);
	return 0;
}
