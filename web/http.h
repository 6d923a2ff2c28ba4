/* HTTP responses: JSON bodies, errors as {"error", "message"}, and the
 * one table that maps Signet's error codes to HTTP status codes. */
#ifndef SIGNET_HTTP_H
#define SIGNET_HTTP_H

#include <stddef.h>
#include <sys/types.h>

#include <jansson.h>

struct mg_connection;

/* Sends body (and drops the reference) with the given status; extra is
 * NULL or one more header line without CRLF (e.g. Location). */
void http_json(struct mg_connection *c, int status, json_t *body,
    const char *extra);
void http_error(struct mg_connection *c, int status, const char *code,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* Status code for a SIGNET_ERR_* value. */
int http_status(int err);
/* Sets the headers every response carries. */
void http_common_headers(struct mg_connection *c);
/* The page policy of the web interface's files (web/static): scripts,
 * styles and images from this origin only, no inline script or style,
 * never framed, no referrer. */
#define HTTP_PAGE_CSP "default-src 'none'; script-src 'self'; " \
	"style-src 'self'; img-src 'self' data:; connect-src 'self'; " \
	"form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
void http_page_headers(struct mg_connection *c);
/* After the answer to a request whose body was not read to its end:
 * read and drop at most SIGNET_MAX_DRAIN more bytes, then close the
 * connection rather than read the rest. */
void http_close(struct mg_connection *c);
/* Once the request may have its body (the checks that need no body have
 * passed): "100 Continue" to a client that waits for it (RFC 9110
 * 10.1.1); curl waits a second for it before a body over 1 MiB. After
 * it, the answer must be http_json's (or http_error's): CivetWeb's own
 * header calls refuse once anything was written. */
void http_continue(struct mg_connection *c);
/* Reads up to n bytes of the request body (a multipart_read_fn; conn
 * is the struct mg_connection): the count, 0 at its end, -1. */
ssize_t http_body_read(void *conn, void *buf, size_t n);

#endif
