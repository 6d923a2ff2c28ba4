#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <civetweb.h>

#include "err.h"
#include "http.h"
#include "log.h"

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

void
http_error(struct mg_connection *c, int status, const char *code,
    const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	http_json(c, status, json_pack("{s:s, s:s}", "error", code,
	    "message", msg), NULL);
}
