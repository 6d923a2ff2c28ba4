#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <civetweb.h>

#include "err.h"
#include "http.h"
#include "log.h"
#include "signet_limits.h"
#include "urlform.h"
#include "wbuf.h"

/* The status of each error code is in the error table (err.h). */
int
http_status(int err)
{
	return signet_err_http(err);
}

static const char *const http_common[][2] = {
	{ "Cache-Control", "no-store" },
	{ "X-Content-Type-Options", "nosniff" },
	{ "Strict-Transport-Security", "max-age=31536000" },
};

void
http_common_headers(struct mg_connection *c)
{
	size_t i;

	for (i = 0; i < sizeof(http_common) / sizeof(http_common[0]); i++)
		mg_response_header_add(c, http_common[i][0], http_common[i][1],
		    -1);
}

void
http_page_headers(struct mg_connection *c)
{
	mg_response_header_add(c, "Content-Security-Policy", HTTP_PAGE_CSP, -1);
	mg_response_header_add(c, "X-Frame-Options", "DENY", -1);
	mg_response_header_add(c, "Referrer-Policy", "no-referrer", -1);
	mg_response_header_add(c, "Cross-Origin-Opener-Policy", "same-origin",
	    -1);
	mg_response_header_add(c, "Cross-Origin-Resource-Policy", "same-origin",
	    -1);
	mg_response_header_add(c, "Permissions-Policy",
	    "camera=(), microphone=(), geolocation=(), payment=()", -1);
}

/* What CivetWeb would say in Connection (its should_keep_alive): the
 * client's own wish, else HTTP/1.1's default. Where CivetWeb closes
 * anyway (must_close), the answer is whole by its Content-Length. */
static const char *
http_connection(struct mg_connection *c)
{
	const struct mg_request_info *ri = mg_get_request_info(c);
	const char *h = mg_get_header(c, "Connection");

	if (h != NULL)
		return strcasestr(h, "keep-alive") != NULL ? "keep-alive" :
		    "close";
	return ri != NULL && ri->http_version != NULL &&
	    strcmp(ri->http_version, "1.1") == 0 ? "keep-alive" : "close";
}

/* Room for an answer's head beside its body and extra line: the status
 * line, six headers of fixed words and a date take under 400 bytes. */
#define HTTP_JSON_HEAD	1024

/*
 * A JSON answer is written whole, head and body, in one mg_write: one
 * TLS record and one system call. CivetWeb's header calls write each
 * line on its own (a record and a write(2) per header, ten for an
 * answer); and after a "100 Continue" (http_continue) they refuse.
 */
void
http_json(struct mg_connection *c, int status, json_t *body,
    const char *extra)
{
	static const char fallback[] = "{\"error\":\"internal\",\"message\":"
	    "\"the response could not be built\"}";
	char *text = NULL, date[64];
	struct wbuf out;
	struct tm tm;
	time_t now = time(NULL);
	size_t i, n;
	int r;

	if (body != NULL)
		text = json_dumps(body, JSON_COMPACT);
	json_decref(body);
	if (text == NULL)
		status = 500;
	n = strlen(text != NULL ? text : fallback);
	/* RFC 9110 5.6.7: IMF-fixdate */
	if (gmtime_r(&now, &tm) == NULL ||
	    strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", &tm) == 0)
		date[0] = '\0';
	wbuf_init(&out, n + HTTP_JSON_HEAD + (extra != NULL ? strlen(extra) :
	    0));
	r = wbuf_addf(&out, "HTTP/1.1 %d %s\r\nContent-Type: application/json; "
	    "charset=utf-8\r\nContent-Length: %zu\r\n", status,
	    mg_get_response_code_text(c, status), n + 1);
	for (i = 0; r == 0 && i < sizeof(http_common) / sizeof(http_common[0]);
	    i++)
		r = wbuf_addf(&out, "%s: %s\r\n", http_common[i][0],
		    http_common[i][1]);
	if (r == 0 && extra != NULL)
		r = wbuf_addf(&out, "%s\r\n", extra);
	if (r == 0 && date[0] != '\0')
		r = wbuf_addf(&out, "Date: %s\r\n", date);
	if (r == 0)
		r = wbuf_addf(&out, "Connection: %s\r\n\r\n", http_connection(c));
	if (r == 0)
		r = wbuf_add(&out, text != NULL ? text : fallback, n);
	if (r == 0)
		r = wbuf_add(&out, "\n", 1);
	if (r == 0)
		(void)mg_write(c, out.buf, out.len);
	else
		log_err("http: an answer of %zu bytes could not be built", n);
	wbuf_free(&out);
	free(text);
}

/* Messages quote what a client sent (names, slugs, ids), and jansson
 * refuses a string that is not UTF-8 (the answer would be a 500): a
 * byte that does not start a valid character becomes '?'. This also
 * mends a character that a "%.64s" cut in half. */
static void
http_clean_text(char *s)
{
	size_t i = 0, n = strlen(s), len;
	unsigned char c;

	while (i < n) {
		c = (unsigned char)s[i];
		len = c < 0x80 ? 1 : c < 0xe0 ? 2 : c < 0xf0 ? 3 : 4;
		if (len > n - i || !urlform_text_ok(s + i, len, 1)) {
			s[i++] = '?';
			continue;
		}
		i += len;
	}
}

void
http_error(struct mg_connection *c, int status, const char *code,
    const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	http_clean_text(msg);
	http_json(c, status, json_pack("{s:s, s:s}", "error", code,
	    "message", msg), NULL);
}

/* The answer has gone out; the rest of the body is not read to its end.
 * A client that sends it all before reading (most do) would lose the
 * answer if the connection closed under it at once (a close with unread
 * data is a TCP reset), so up to SIGNET_MAX_DRAIN more bytes are read and
 * dropped; a body small by its Content-Length is left to CivetWeb, which
 * drops it after the handler (discard_unread_request_data). Beyond that
 * the connection is closed: CivetWeb has no call for this, but its own
 * error answer marks the connection must_close, and with a status that
 * has no body and the response already sent, that is all it does (the
 * header calls refuse, nothing is written). */
void
http_close(struct mg_connection *c)
{
	const struct mg_request_info *ri = mg_get_request_info(c);
	char buf[8192];
	size_t left;
	int n;

	if (ri != NULL && ri->content_length >= 0 &&
	    ri->content_length <= SIGNET_MAX_DRAIN)
		return;
	for (left = SIGNET_MAX_DRAIN; left > 0; left -= (size_t)n)
		if ((n = mg_read(c, buf, left < sizeof(buf) ? left :
		    sizeof(buf))) <= 0)
			break;
	(void)mg_send_http_error(c, 204, "%s", "");
}

void
http_continue(struct mg_connection *c)
{
	const struct mg_request_info *ri = mg_get_request_info(c);
	const char *expect = mg_get_header(c, "Expect");

	/* RFC 9110 10.1.1: not to an HTTP/1.0 client; CivetWeb sends it
	 * only where it reads a body itself (PUT), never for a handler */
	if (ri == NULL || expect == NULL || ri->http_version == NULL ||
	    strcmp(ri->http_version, "1.1") != 0 ||
	    strcasecmp(expect, "100-continue") != 0)
		return;
	(void)mg_printf(c, "HTTP/1.1 100 Continue\r\n\r\n");
}

ssize_t
http_body_read(void *conn, void *buf, size_t n)
{
	return mg_read(conn, buf, n > INT_MAX ? INT_MAX : n);
}
