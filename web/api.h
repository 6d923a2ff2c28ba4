/* The API's request context and the helpers its handlers share. Each
 * api_*.c file holds the handlers of one area and its route table; api.c
 * routes, authenticates and reads small bodies. */
#ifndef SIGNET_API_H
#define SIGNET_API_H

#include <stddef.h>

#include <jansson.h>

#include "catalog.h"
#include "signet_limits.h"
#include "workflow.h"

struct app;
struct mg_connection;
struct mg_request_info;

#define API_MAX_SEGMENTS SIGNET_MAX_PATH_SEGMENTS
/* The web interface's session cookie (api_sessions.c sets it; the
 * __Host- prefix, RFC 6265bis 4.1.3.2, makes browsers take it only when
 * Secure, from this origin, with Path=/ and no Domain, so no other host
 * of the domain can plant one) and the header that must repeat the
 * session's CSRF token on every request that changes state. */
#define API_COOKIE "__Host-signet_session"
#define API_CSRF_HEADER "X-CSRF-Token"
#define API_MAX_PATH SIGNET_MAX_PATH

struct api {
	struct mg_connection *c;
	const struct mg_request_info *ri;
	struct app *app;
	char path[API_MAX_PATH];
	char *seg[API_MAX_SEGMENTS];
	int nseg;
	char identity[CATALOG_MAX_NAME + 1];
	const char *identity_type;
	json_t *user;			/* sessions: the user record */
	char session_key[65];
	int cookie;			/* authenticated by the web session cookie */
	struct principal who;
};

/* A route: method and path segments after /api/v1 ("*" matches any one
 * segment, available to the handler as a->seg[i]). */
struct api_route {
	const char *method;
	int nseg;
	const char *seg[API_MAX_SEGMENTS];
	int public;		/* no authentication */
	void (*fn)(struct api *a);
};

extern const struct api_route api_request_routes[];
extern const struct api_route api_session_routes[];
extern const struct api_route api_audit_routes[];
extern const struct api_route api_admin_routes[];
extern const struct api_route api_metrics_routes[];
struct wbuf;
/* The metrics text (api_metrics.c), for the API and the plain listener. */
int api_metrics_text(struct app *app, struct wbuf *b);
void api_metrics_send(struct mg_connection *c, struct app *app);
extern const struct api_route api_tsa_routes[];

/* A query parameter; 0, or -1 with an error sent. */
int api_query(const struct api *a, const char *name, char *buf, size_t len,
    int *present);
/* The body as a JSON object of strings (JSON or form); 0, or -1 with an
 * error sent. */
int api_small_body(struct api *a, json_t **out);
const char *api_str(const json_t *o, const char *k);
/* The body as any JSON object of at most max bytes; 0, or -1 with an
 * error sent. */
int api_json_body(struct api *a, size_t max, json_t **out);
/* Sends the HTTP error for a failure of a core function: status from
 * the error table (err.h), code the precise one given, else the API's
 * own word for r where it has one, else the table's; msg, or the
 * table's text when msg is empty. */
void api_workflow_error(struct api *a, int r, const char *code,
    const char *msg);
/* Sends the error for r from the error table while doing what
 * ("reading the audit log"): for failures with no message of their own. */
void api_fail(struct api *a, int r, const char *what);
/* After a commit that changed rec: queue it for signing if it is ready,
 * and let the notifications go. */
void api_after_commit(struct api *a, const json_t *rec);

#endif
