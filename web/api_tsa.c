/* The time-stamping authority over HTTP (RFC 3161 section 3.4, "Time-
 * Stamp Protocol via HTTP"): POST /api/v1/timestamp takes an
 * application/timestamp-query and answers an application/timestamp-reply;
 * GET /api/v1/timestamp/certificate hands out the TSA's chain. On the main
 * listener the query needs an authenticated principal (any: a registered
 * client certificate or a user's session); on the [tsa] listener
 * (server_tsa.c) anyone may ask, within its rate. The token is made by
 * the sign part (appliance/sign/tsa.c); this file reads and writes bytes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <civetweb.h>
#include <openssl/crypto.h>

#include "api.h"
#include "app.h"
#include "http.h"
#include "signet_limits.h"
#include "tsa.h"

#define API_TSA_QUERY "application/timestamp-query"
#define API_TSA_REPLY "application/timestamp-reply"

static void
api_tsa_send(struct mg_connection *c, int status, const char *type,
    const void *body, size_t len, const char *extra_name,
    const char *extra_value)
{
	char n[32];

	mg_response_header_start(c, status);
	mg_response_header_add(c, "Content-Type", type, -1);
	snprintf(n, sizeof(n), "%zu", len);
	mg_response_header_add(c, "Content-Length", n, -1);
	if (extra_name != NULL)
		mg_response_header_add(c, extra_name, extra_value, -1);
	http_common_headers(c);
	mg_response_header_send(c);
	mg_write(c, body, len);
}

/* The whole body, at most SIGNET_MAX_TSQ bytes; 0, or -1 with an error
 * sent. */
static int
api_tsa_body(struct mg_connection *c, const struct mg_request_info *ri,
    unsigned char *buf, size_t *len)
{
	int n;

	*len = 0;
	if (ri->content_length > SIGNET_MAX_TSQ) {
		http_error(c, 413, "payload_too_large", "a time-stamp query is "
		    "at most %d bytes", SIGNET_MAX_TSQ);
		http_close(c);
		return -1;
	}
	for (;;) {
		n = mg_read(c, buf + *len, SIGNET_MAX_TSQ + 1 - *len);
		if (n <= 0)
			break;
		*len += (size_t)n;
		if (*len > SIGNET_MAX_TSQ) {
			http_error(c, 413, "payload_too_large", "a time-stamp "
			    "query is at most %d bytes", SIGNET_MAX_TSQ);
			http_close(c);
			return -1;
		}
	}
	return 0;
}

void
api_tsa_query(struct mg_connection *c, struct app *app)
{
	const struct mg_request_info *ri = mg_get_request_info(c);
	const char *ct = mg_get_header(c, "Content-Type");
	unsigned char buf[SIGNET_MAX_TSQ + 1];
	struct tsa_reply rep;
	size_t len;
	int r;

	if (app->tsa == NULL) {
		http_error(c, 404, "tsa_off", "this appliance has no "
		    "time-stamping authority ([tsa] certificate is not set)");
		http_close(c);
		return;
	}
	if (ct == NULL || strncasecmp(ct, API_TSA_QUERY,
	    strlen(API_TSA_QUERY)) != 0 || (ct[strlen(API_TSA_QUERY)] != '\0' &&
	    ct[strlen(API_TSA_QUERY)] != ';' &&
	    ct[strlen(API_TSA_QUERY)] != ' ')) {
		http_error(c, 415, "unsupported_media_type", "send a DER "
		    "TimeStampReq as " API_TSA_QUERY " (RFC 3161 section 3.4)");
		http_close(c);
		return;
	}
	if (api_tsa_body(c, ri, buf, &len) != 0)
		return;
	r = tsa_respond(app->tsa, buf, len, &rep);
	if (r != 0) {
		http_error(c, http_status(r), signet_err_api(r), "no time-stamp "
		    "token can be made now: %s%s", signet_strerror(r),
		    r == SIGNET_ERR_CONFIG ? " (the [tsa] certificate is not a "
		    "timestamping certificate in the catalog; see signetd's log)" :
		    "");
		return;
	}
	api_tsa_send(c, rep.http_status, API_TSA_REPLY, rep.der, rep.len,
	    rep.http_status == 503 ? "Retry-After" : NULL, "60");
	tsa_reply_free(&rep);
}

void
api_tsa_chain(struct mg_connection *c, struct app *app)
{
	char *pem = NULL;
	int r;

	if ((r = tsa_chain_pem(app->tsa, &pem)) != 0) {
		if (r == SIGNET_ERR_NOT_FOUND && app->tsa == NULL)
			http_error(c, 404, "tsa_off", "this appliance has no "
			    "time-stamping authority ([tsa] certificate is not "
			    "set)");
		else
			http_error(c, http_status(r), signet_err_api(r), "the "
			    "TSA's certificate cannot be read: %s",
			    signet_strerror(r));
		return;
	}
	api_tsa_send(c, 200, "application/pem-certificate-chain", pem,
	    strlen(pem), NULL, NULL);
	free(pem);
}

static void
api_tsa_post(struct api *a)
{
	api_tsa_query(a->c, a->app);
}

static void
api_tsa_get_chain(struct api *a)
{
	api_tsa_chain(a->c, a->app);
}

const struct api_route api_tsa_routes[] = {
	{ "POST", 1, { "timestamp" }, 0, api_tsa_post },
	{ "GET", 2, { "timestamp", "certificate" }, 1, api_tsa_get_chain },
	{ NULL, 0, { NULL }, 0, NULL },
};
