#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <civetweb.h>

#include "err.h"
#include "http.h"
#include "log.h"
#include "signet_limits.h"
#include "urlform.h"

/* The status of each error code is in the error table (err.h). */
int
http_status(int err)
{
	return signet_err_http(err);
}

const char *
http_reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 201: return "Created";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 409: return "Conflict";
	case 411: return "Length Required";
	case 413: return "Content Too Large";
	case 415: return "Unsupported Media Type";
	case 429: return "Too Many Requests";
	case 503: return "Service Unavailable";
	default: return status < 500 ? "Error" : "Internal Server Error";
	}
}

void
http_common_headers(struct mg_connection *c)
{
	mg_response_header_add(c, "Cache-Control", "no-store", -1);
	mg_response_header_add(c, "X-Content-Type-Options", "nosniff", -1);
	mg_response_header_add(c, "Strict-Transport-Security",
	    "max-age=31536000", -1);
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

void
http_json(struct mg_connection *c, int status, json_t *body,
    const char *extra)
{
	char *text = NULL, len[32];

	if (body != NULL)
		text = json_dumps(body, JSON_COMPACT);
	json_decref(body);
	if (text == NULL) {
		status = 500;
		text = strdup("{\"error\":\"internal\",\"message\":"
		    "\"the response could not be built\"}");
	}
	mg_response_header_start(c, status);
	mg_response_header_add(c, "Content-Type",
	    "application/json; charset=utf-8", -1);
	snprintf(len, sizeof(len), "%zu", text ? strlen(text) + 1 : 0);
	mg_response_header_add(c, "Content-Length", len, -1);
	http_common_headers(c);
	if (extra != NULL)
		mg_response_header_add_lines(c, extra);
	mg_response_header_send(c);
	if (text != NULL) {
		/* one write, one TLS record */
		size_t n = strlen(text);
		char *nl = realloc(text, n + 2);

		if (nl != NULL) {
			text = nl;
			text[n] = '\n';
			text[n + 1] = '\0';
			mg_write(c, text, n + 1);
		} else {
			mg_write(c, text, n);
		}
	}
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
