/* The JSON API under /api/v1 (README.md "API", docs/architecture.md): routing,
 * authentication and the helpers every handler uses. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <civetweb.h>
#include <openssl/crypto.h>

#include "api.h"
#include "app.h"
#include "audit.h"
#include "catalog.h"
#include "catalog_read.h"
#include "events.h"
#include "form.h"
#include "http.h"
#include "keys.h"
#include "log.h"
#include "multipart.h"
#include "notify.h"
#include "request.h"
#include "signer.h"
#include "signet_limits.h"
#include "tsa.h"
#include "urlform.h"
#include "users.h"
#include "wbuf.h"
#include "workflow.h"


/* A session's user becomes the caller. */
static void
api_set_user(struct api *a)
{
	const char *name = json_string_value(json_object_get(a->user, "name"));

	snprintf(a->identity, sizeof(a->identity), "%s", name ? name : "");
	a->identity_type = "user";
	a->who.type = a->identity_type;
	a->who.name = a->identity;
	a->who.user = a->user;
}

static int
api_auth_bearer(struct api *a, const char *hdr)
{
	int r;

	if (strncasecmp(hdr, "Bearer ", 7) != 0) {
		http_error(a->c, 401, "unauthenticated", "use 'Authorization: "
		    "Bearer TOKEN' with a token from POST /api/v1/sessions");
		return -1;
	}
	r = users_bearer_session(a->app->store, hdr + 7, &a->user,
	    a->session_key);
	if (r == SIGNET_ERR_UNAUTHENTICATED) {
		http_error(a->c, 401, "invalid_token", "the session token is "
		    "unknown, expired or revoked; log in again with POST "
		    "/api/v1/sessions");
		return -1;
	}
	if (r != 0) {
		api_fail(a, r, "looking up the session");
		return -1;
	}
	api_set_user(a);
	return 0;
}

static int
api_safe_method(const char *m)
{
	return strcmp(m, "GET") == 0 || strcmp(m, "HEAD") == 0;
}

/* The web interface's session: the cookie names it, and a request that
 * changes state must also carry its CSRF token in a header, which a
 * page of another origin cannot read or set (OWASP CSRF cheat sheet,
 * "synchronizer token"; SameSite=Strict is the second line). */
static int
api_auth_cookie(struct api *a, char *token)
{
	const char *site = mg_get_header(a->c, "Sec-Fetch-Site");
	int r;

	r = users_cookie_session(a->app->store, token,
	    a->app->cfg.idle_timeout, &a->user, a->session_key);
	OPENSSL_cleanse(token, strlen(token));
	if (r == SIGNET_ERR_UNAUTHENTICATED) {
		http_error(a->c, 401, "session_expired", "your session has "
		    "ended (logged out, unused for more than %u minutes, or "
		    "older than %u hours); log in again",
		    a->app->cfg.idle_timeout / 60, a->app->cfg.session_ttl / 3600);
		return -1;
	}
	if (r != 0) {
		api_fail(a, r, "looking up the session");
		return -1;
	}
	a->cookie = 1;
	if (!api_safe_method(a->ri->request_method) &&
	    ((site != NULL && strcmp(site, "same-origin") != 0) ||
	    !users_csrf_check(a->session_key, mg_get_header(a->c,
	    API_CSRF_HEADER)))) {
		http_error(a->c, 403, "csrf", "a request that changes state "
		    "must come from this appliance's pages and carry the "
		    API_CSRF_HEADER " header of the session (from the login "
		    "answer or GET /api/v1/me); reload the page");
		return -1;
	}
	api_set_user(a);
	return 0;
}

/* Verified client certificate → identity. CivetWeb (OpenSSL) already
 * refused certificates that do not chain to client_ca or have expired.
 * An Authorization header wins, then the web session cookie. */
static int
api_auth(struct api *a)
{
	const char *hdr = mg_get_header(a->c, "Authorization");
	const char *cookies = mg_get_header(a->c, "Cookie"), *p;
	char token[USERS_TOKEN_LEN + 2];
	X509 *cert;
	int r;

	if (hdr != NULL)
		return api_auth_bearer(a, hdr);
	/* CivetWeb finds a cookie whatever the case of its name, but only
	 * the name as set (with its __Host- prefix) is one a browser keeps
	 * from this origin alone: the value is read where that name is */
	for (p = cookies; p != NULL && (p = strstr(p, API_COOKIE "=")) != NULL;
	    p++)
		if (p == cookies || p[-1] == ' ' || p[-1] == ';')
			break;
	cookies = p;
	/* a value too long for a token is no session of ours: the client
	 * certificate decides; any other value is checked (and refused
	 * unless it names a live web session) */
	if (cookies != NULL && (r = mg_get_cookie(cookies, API_COOKIE, token,
	    sizeof(token))) >= 0) {
		if (r == 0) {
			http_error(a->c, 401, "session_expired", "you are logged "
			    "out; log in again");
			return -1;
		}
		return api_auth_cookie(a, token);
	}
	if (a->ri->client_cert == NULL ||
	    (cert = a->ri->client_cert->peer_cert) == NULL) {
		http_error(a->c, 401, "unauthenticated", "a client "
		    "certificate is required (curl: --cert FILE --key FILE)");
		return -1;
	}
	r = catalog_read_identity(a->app->store, cert, a->identity);
	if (r == SIGNET_ERR_NOT_FOUND) {
		http_error(a->c, 403, "unknown_identity", "this client "
		    "certificate (subject %.200s) is not registered as an "
		    "identity; ask an administrator to add it",
		    a->ri->client_cert->subject ? a->ri->client_cert->subject :
		    "?");
		return -1;
	}
	if (r != 0) {
		api_fail(a, r, "looking up the client certificate's identity");
		return -1;
	}
	a->identity_type = "client-certificate";
	a->who.type = a->identity_type;
	a->who.name = a->identity;
	a->who.user = NULL;
	return 0;
}
/* Query strings are read by urlform (strict escapes, UTF-8, no
 * controls, each name once), never by CivetWeb's decoder: mg_get_var
 * passes on bad escapes and bytes that are not text. */
int
api_query(const struct api *a, const char *name, char *buf, size_t len,
    int *present)
{
	static const struct urlform_limits lim = {
		.max_fields = SIGNET_MAX_QUERY_PARAMS,
		.max_name = SIGNET_MAX_FIELD_NAME,
		.max_value = SIGNET_MAX_QUERY_VALUE,
		.multiline = 0,
	};
	const char *q = a->ri->query_string;
	char err[256];
	json_t *obj = NULL, *v;
	int r = -1;

	*present = 0;
	buf[0] = '\0';
	if (q == NULL)
		return 0;
	if (urlform_parse(q, strlen(q), &lim, &obj, err, sizeof(err)) != 0) {
		http_error(a->c, 400, "invalid_query", "the query string cannot "
		    "be read: %s", err);
		return -1;
	}
	if ((v = json_object_get(obj, name)) == NULL) {
		r = 0;
	} else if (json_string_length(v) >= len) {
		http_error(a->c, 400, "invalid_query", "query parameter '%s' "
		    "is longer than %zu bytes", name, len - 1);
	} else {
		memcpy(buf, json_string_value(v), json_string_length(v) + 1);
		*present = 1;
		r = 0;
	}
	json_decref(obj);
	return r;
}

/* What the store holds against its limits, and whether a submission
 * would be taken; NULL on failure. */
static json_t *
api_health_store(struct api *a, int *writable)
{
	struct store_usage u;
	char why[256] = "";
	json_t *o;

	*writable = store_admit(a->app->store,
	    (uint64_t)signer_depth(a->app->signer) * SIGNET_STORE_RESULT_BYTES,
	    why, sizeof(why)) == 0;
	if (store_usage(a->app->store, &u) != 0)
		memset(&u, 0, sizeof(u));
	o = json_pack("{s:b, s:I, s:I, s:I, s:I, s:I}", "writable", *writable,
	    "mapUsedBytes", (json_int_t)u.map_used,
	    "mapSizeBytes", (json_int_t)u.map_size,
	    "maxMapSizeBytes", (json_int_t)u.max_map,
	    "diskFreeBytes", (json_int_t)u.disk_avail,
	    "diskTotalBytes", (json_int_t)u.disk_total);
	if (o != NULL && !*writable)
		json_object_set_new(o, "reason", json_string(why));
	return o;
}

/* The truth about signing: 503 when it cannot proceed (token locked or
 * gone, keyholder gone, store full), with what is wrong named. */
static void
api_health(struct api *a)
{
	struct kh_status st;
	json_t *body, *expiring = NULL, *store;
	char oldest[64];
	time_t oldest_at;
	unsigned depth;
	int r, writable, signing, halted;

	memset(&st, 0, sizeof(st));
	r = keys_status(a->app->kh, &st);
	if (catalog_read_expiring(a->app->store, SIGNET_EXPIRY_WARN_DAYS,
	    &expiring) != 0)
		expiring = NULL;
	store = api_health_store(a, &writable);
	signer_stats(a->app->signer, &depth, oldest, sizeof(oldest),
	    &oldest_at);
	halted = signer_halted(a->app->signer);
	signing = r == 0 && st.present && st.logged_in && writable && !halted &&
	    !__atomic_load_n(&a->app->draining, __ATOMIC_RELAXED);
	body = json_pack("{s:s, s:s, s:{s:b, s:b, s:s, s:i, s:i, s:i}, "
	    "s:{s:b}, s:o, s:{s:i}, s:o}",
	    "status", signing ? "ok" : "degraded",
	    "version", "0.1.0",
	    "token", "present", r == 0 && st.present,
	    "loggedIn", r == 0 && st.logged_in,
	    "label", st.label, "keys", (int)st.key_count,
	    "slots", (int)st.slots, "freeSlots", (int)st.free_slots,
	    "keyholder", "available", r != SIGNET_ERR_KEYHOLDER &&
	    r != SIGNET_ERR_PROTOCOL && !halted,
	    "store", store ? store : json_object(),
	    "queue", "depth", (int)depth,
	    "expiringCertificates", expiring ? expiring : json_array());
	if (body == NULL) {
		api_fail(a, SIGNET_ERR_NOMEM, "health");
		return;
	}
	if (__atomic_load_n(&a->app->draining, __ATOMIC_RELAXED))
		json_object_set_new(body, "stopping", json_true());
	if (oldest[0] != '\0') {
		json_object_set_new(json_object_get(body, "queue"), "oldestId",
		    json_string(oldest));
		json_object_set_new(json_object_get(body, "queue"),
		    "oldestWaitSeconds", json_integer((json_int_t)(time(NULL) -
		    oldest_at)));
	}
	if (r != 0)
		json_object_set_new(json_object_get(body, "token"), "error",
		    json_string(signet_strerror(r)));
	/* the clock a time-stamp's genTime comes from */
	json_object_set_new(body, "clock", tsa_clock_json());
	json_object_set_new(body, "timestamping", tsa_status_json(a->app->tsa));
	http_json(a->c, signing ? 200 : 503, body, NULL);
}
/* After a commit: a request ready for signing goes to a worker, and the
 * notifications recorded with the change go out. */
void
api_after_commit(struct api *a, const json_t *rec)
{
	/* shared with the officer console */
	app_after_commit(a->app, rec);
}

/* A small body of named text values: JSON object, a url-encoded form
 * (read by urlform) or a multipart form (CivetWeb's parser, fed only
 * multipart bodies). */
struct api_small {
	json_t *obj;
	char cur[SIGNET_MAX_FIELD_NAME + 1];
	struct wbuf val;
	char err[384];
};

static int api_small_fail(struct api_small *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int
api_small_fail(struct api_small *s, const char *fmt, ...)
{
	va_list ap;

	if (s->err[0] == '\0') {
		va_start(ap, fmt);
		vsnprintf(s->err, sizeof(s->err), fmt, ap);
		va_end(ap);
	}
	return -1;
}

static int
api_small_close(struct api_small *s)
{
	json_t *v;

	if (s->cur[0] == '\0')
		return 0;
	if (!urlform_text_ok(s->val.buf, s->val.len, 1))
		return api_small_fail(s, "field '%s' is not valid UTF-8 text "
		    "or holds control characters", s->cur);
	v = json_stringn(s->val.len ? (const char *)s->val.buf : "", s->val.len);
	if (v == NULL || json_object_set_new(s->obj, s->cur, v) != 0)
		return api_small_fail(s, "out of memory");
	s->cur[0] = '\0';
	wbuf_free(&s->val);
	return 0;
}

static int
api_small_part(void *arg, const char *key, const char *filename)
{
	struct api_small *s = arg;

	if (api_small_close(s) != 0)
		return -1;
	if (filename != NULL)
		return api_small_fail(s, "field '%.64s' is a file; this call "
		    "takes text fields only", key);
	if (*key == '\0' || strlen(key) > SIGNET_MAX_FIELD_NAME ||
	    !urlform_text_ok(key, strlen(key), 0))
		return api_small_fail(s, "form field names are 1-%d bytes of "
		    "text", SIGNET_MAX_FIELD_NAME);
	if (json_object_get(s->obj, key) != NULL)
		return api_small_fail(s, "field '%s' is given twice", key);
	if (json_object_size(s->obj) >= SIGNET_MAX_SMALL_FIELDS)
		return api_small_fail(s, "at most %d form fields are accepted",
		    SIGNET_MAX_SMALL_FIELDS);
	snprintf(s->cur, sizeof(s->cur), "%s", key);
	wbuf_init_secret(&s->val, SIGNET_MAX_DESCRIPTION);
	return 0;
}

static int
api_small_data(void *arg, const void *p, size_t n)
{
	struct api_small *s = arg;

	if (wbuf_add(&s->val, p, n) != 0)
		return api_small_fail(s, "field '%s' is longer than %d bytes",
		    s->cur, SIGNET_MAX_DESCRIPTION);
	return 0;
}

/* Reads the whole body, at most max bytes, into b (a wiping buffer:
 * bodies may hold passwords); 0, or -1 with an error sent. */
static int
api_read_body(struct api *a, size_t max, struct wbuf *b)
{
	char chunk[8192];
	int n, r = 0;

	wbuf_init_secret(b, max);
	if (a->ri->content_length > 0 &&
	    (uint64_t)a->ri->content_length > max)
		r = -1;
	while (r == 0 && (n = mg_read(a->c, chunk, sizeof(chunk))) > 0)
		if (wbuf_add(b, chunk, (size_t)n) != 0)
			r = -1;
	OPENSSL_cleanse(chunk, sizeof(chunk));
	if (r != 0) {
		http_error(a->c, 413, "payload_too_large", "the body is larger "
		    "than %zu bytes", max);
		http_close(a->c);
		wbuf_free(b);
	}
	return r;
}

int
api_json_body(struct api *a, size_t max, json_t **out)
{
	struct wbuf b;
	json_error_t jerr;

	*out = NULL;
	if (api_read_body(a, max, &b) != 0)
		return -1;
	/* jansson's own depth limit bounds nesting; duplicates are an
	 * error, not a silent last-wins */
	*out = json_loadb(b.len ? (const char *)b.buf : "", b.len,
	    JSON_REJECT_DUPLICATES, &jerr);
	wbuf_free(&b);
	if (*out == NULL || !json_is_object(*out)) {
		http_error(a->c, 400, "invalid_json", "the body must be a JSON "
		    "object (%s)", *out ? "not an object" : jerr.text);
		json_decref(*out);
		*out = NULL;
		return -1;
	}
	return 0;
}

static int
api_small_multipart(struct api *a, const char *ct, json_t **out)
{
	struct api_small s;
	struct multipart_handler mh = { api_small_part, api_small_data, &s };
	char boundary[MULTIPART_MAX_BOUNDARY + 1];
	int r;

	memset(&s, 0, sizeof(s));
	if ((s.obj = json_object()) == NULL) {
		api_fail(a, SIGNET_ERR_NOMEM, "reading the form");
		return -1;
	}
	wbuf_init(&s.val, 0);
	r = multipart_boundary(ct, boundary, s.err, sizeof(s.err));
	if (r == 0)
		r = multipart_parse(boundary, http_body_read, a->c, &mh,
		    s.err, sizeof(s.err));
	if (r == 0)
		(void)api_small_close(&s);
	wbuf_free(&s.val);
	if (s.err[0] != '\0' || r != 0) {
		json_decref(s.obj);
		http_error(a->c, 400, "invalid_form", "%s (send JSON or at most "
		    "%d short text fields)", s.err[0] != '\0' ? s.err :
		    "the form could not be read", SIGNET_MAX_SMALL_FIELDS);
		http_close(a->c);
		return -1;
	}
	*out = s.obj;
	return 0;
}

static int
api_small_urlencoded(struct api *a, json_t **out)
{
	static const struct urlform_limits lim = {
		.max_fields = SIGNET_MAX_SMALL_FIELDS,
		.max_name = SIGNET_MAX_FIELD_NAME,
		.max_value = SIGNET_MAX_DESCRIPTION,
		.multiline = 1,
	};
	struct wbuf b;
	char err[256];
	int r;

	if (api_read_body(a, SIGNET_MAX_JSON_BODY, &b) != 0)
		return -1;
	r = urlform_parse(b.buf, b.len, &lim, out, err, sizeof(err));
	wbuf_free(&b);
	if (r != 0) {
		http_error(a->c, r == SIGNET_ERR_TOO_LARGE ? 413 : 400,
		    "invalid_form", "%s", err);
		return -1;
	}
	return 0;
}

/* Reads the body into a JSON object of strings; 0 or an error sent. */
int
api_small_body(struct api *a, json_t **out)
{
	const char *ct = mg_get_header(a->c, "Content-Type");
	json_t *v;
	const char *k;

	*out = NULL;
	if (a->ri->content_length > SIGNET_MAX_JSON_BODY) {
		http_error(a->c, 413, "payload_too_large", "the body is larger "
		    "than %d bytes", SIGNET_MAX_JSON_BODY);
		http_close(a->c);
		return -1;
	}
	if (ct == NULL || a->ri->content_length == 0) {
		*out = json_object();
		return 0;
	}
	if (strncasecmp(ct, "application/x-www-form-urlencoded", 33) == 0)
		return api_small_urlencoded(a, out);
	if (strncasecmp(ct, "multipart/form-data", 19) == 0)
		return api_small_multipart(a, ct, out);
	if (strncasecmp(ct, "application/json", 16) != 0) {
		http_error(a->c, 415, "unsupported_media_type", "send "
		    "application/json (or a form: "
		    "application/x-www-form-urlencoded, multipart/form-data)");
		http_close(a->c);
		return -1;
	}
	if (api_json_body(a, SIGNET_MAX_JSON_BODY, out) != 0)
		return -1;
	json_object_foreach(*out, k, v) {
		if (!json_is_string(v) || !urlform_text_ok(json_string_value(v),
		    json_string_length(v), 1)) {
			http_error(a->c, 400, "invalid_field", "'%.64s' must be "
			    "a string of text without control characters", k);
			json_decref(*out);
			*out = NULL;
			return -1;
		}
	}
	return 0;
}
const char *
api_str(const json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}
void
api_workflow_error(struct api *a, int r, const char *code, const char *msg)
{
	/* the API's words where they are not the table's (clients and
	 * tests check them) */
	static const struct {
		int err;
		const char *code;
	} words[] = {
		{ SIGNET_ERR_INVALID, "invalid_field" },
	};
	size_t i;

	for (i = 0; code == NULL && i < sizeof(words) / sizeof(words[0]); i++)
		if (words[i].err == r)
			code = words[i].code;
	http_error(a->c, signet_err_http(r), code ? code : signet_err_api(r),
	    "%s", msg != NULL && msg[0] != '\0' ? msg : signet_strerror(r));
}

void
api_fail(struct api *a, int r, const char *what)
{
	http_error(a->c, signet_err_http(r), signet_err_api(r), "%s failed: %s",
	    what, signet_strerror(r));
}

/* Splits the path after /api/v1 into segments; no empty, dot or encoded
 * segments (decode_url is off, so '%' is literal and refused). */
static int
api_split(struct api *a)
{
	const char *uri = a->ri->local_uri;
	char *p;

	if (strncmp(uri, "/api/v1", 7) != 0)
		return -1;
	uri += 7;
	if (*uri == '/')
		uri++;
	if (strlen(uri) >= sizeof(a->path))
		return -1;
	snprintf(a->path, sizeof(a->path), "%s", uri);
	a->nseg = 0;
	if (a->path[0] == '\0')
		return 0;
	for (p = a->path; p != NULL; ) {
		if (a->nseg == API_MAX_SEGMENTS)
			return -1;
		a->seg[a->nseg++] = p;
		if ((p = strchr(p, '/')) != NULL)
			*p++ = '\0';
	}
	/* ids, slugs and names are printable ASCII; anything else would
	 * reach records and error messages as bytes that are not text */
	for (int i = 0; i < a->nseg; i++) {
		if (a->seg[i][0] == '\0' || a->seg[i][0] == '.' ||
		    strpbrk(a->seg[i], "%\\") != NULL)
			return -1;
		for (p = a->seg[i]; *p != '\0'; p++)
			if ((unsigned char)*p < 0x21 || (unsigned char)*p > 0x7e)
				return -1;
	}
	return 0;
}
static const struct api_route api_base_routes[] = {
	{ "GET", 1, { "health" }, 1, api_health },
	{ NULL, 0, { NULL }, 0, NULL },
};

static const struct api_route *const api_tables[] = {
	api_base_routes, api_session_routes, api_request_routes,
	api_audit_routes, api_admin_routes, api_metrics_routes, api_tsa_routes,
};

static int
api_match(const struct api *a, const struct api_route *r)
{
	int i;

	if (r->nseg != a->nseg)
		return 0;
	for (i = 0; i < r->nseg; i++)
		if (strcmp(r->seg[i], "*") != 0 && strcmp(r->seg[i],
		    a->seg[i]) != 0)
			return 0;
	return 1;
}

int
api_handler(struct mg_connection *c, void *arg)
{
	const struct api_route *r, *found = NULL;
	struct api a;
	size_t t;
	int path_known = 0;

	memset(&a, 0, sizeof(a));
	a.c = c;
	a.ri = mg_get_request_info(c);
	a.app = arg;
	if (api_split(&a) != 0) {
		http_error(c, 404, "not_found", "no such API path");
		return 1;
	}
	for (t = 0; t < sizeof(api_tables) / sizeof(api_tables[0]) &&
	    found == NULL; t++) {
		for (r = api_tables[t]; r->method != NULL; r++) {
			if (!api_match(&a, r))
				continue;
			path_known = 1;
			if (strcmp(r->method, a.ri->request_method) == 0) {
				found = r;
				break;
			}
		}
	}
	if (found == NULL) {
		if (path_known)
			http_error(c, 405, "method_not_allowed", "%s is not "
			    "allowed on this path", a.ri->request_method);
		else
			http_error(c, 404, "not_found", "no such API path; "
			    "see /api/v1/signing-requests");
		return 1;
	}
	if (found->public || api_auth(&a) == 0)
		found->fn(&a);
	json_decref(a.user);
	return 1;
}
