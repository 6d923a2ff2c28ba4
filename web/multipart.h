/* multipart/form-data bodies (RFC 7578 on RFC 2046 5.1.1), read as they
 * stream in: the body is pulled through a read function into one buffer,
 * each part's headers are parsed there, and its content is handed on in
 * spans as large as the buffer allows, without a copy of its own. The
 * boundary is found with a skipping search (rd_find), so an artifact of a
 * gigabyte costs a fraction of a second here, not a compare per byte.
 *
 * Strict where a lax reading could be misread: a body must begin with its
 * boundary (or a short preamble) and end with the closing boundary, so a
 * body cut short is an error and never a shorter artifact; a line that
 * begins with the boundary and goes on is refused rather than taken as
 * content; every part names itself with Content-Disposition: form-data
 * and a name; part headers, preamble and epilogue are bounded
 * (signet_limits.h). Independent of CivetWeb so that it can be tested
 * and fuzzed alone. */
#ifndef SIGNET_MULTIPART_H
#define SIGNET_MULTIPART_H

#include <stddef.h>
#include <sys/types.h>

#include "err.h"

/* RFC 2046 5.1.1: a boundary is 1 to 70 characters. */
#define MULTIPART_MAX_BOUNDARY	70

/* multipart_parse: a handler's callback stopped the parse. */
#define MULTIPART_STOPPED	1

/* Fills buf with up to n bytes of the body: the count, 0 at its end, or
 * negative when the connection failed. */
typedef ssize_t (*multipart_read_fn)(void *arg, void *buf, size_t n);

struct multipart_handler {
	/* A part begins: its name, and its file name or NULL when it has
	 * none, as the client wrote them (NUL-terminated, quotes and
	 * backslash escapes removed). Nonzero stops the parse. */
	int (*part)(void *arg, const char *name, const char *filename);
	/* The next n > 0 bytes of the part's content. Nonzero stops. */
	int (*data)(void *arg, const void *p, size_t n);
	void *arg;
};

/* Takes the boundary parameter of a Content-Type header value
 * (multipart/form-data; boundary=...) into out[MULTIPART_MAX_BOUNDARY +
 * 1]; 0, or SIGNET_ERR_INVALID with why in err. */
int multipart_boundary(const char *content_type, char *out, char *err,
    size_t errlen) SIGNET_WUR;

/* Reads a whole body with the given boundary, calling h for each part.
 * 0 once the closing boundary has been read (and the epilogue after it,
 * to the body's end). MULTIPART_STOPPED when a callback stopped it (err
 * is left empty: the callback knows why); SIGNET_ERR_INVALID for a
 * malformed body, SIGNET_ERR_TRUNCATED for one that ended or broke off
 * early, SIGNET_ERR_TOO_LARGE past a limit, SIGNET_ERR_NOMEM; err says
 * what is wrong and how to send it right. */
int multipart_parse(const char *boundary, multipart_read_fn rd, void *rarg,
    const struct multipart_handler *h, char *err, size_t errlen) SIGNET_WUR;

#endif
