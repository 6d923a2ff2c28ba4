/* The JSON API under /api/v1 (design.md "Public interface"). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include <civetweb.h>

#include "app.h"
#include "catalog.h"
#include "events.h"
#include "form.h"
#include "http.h"
#include "khclient.h"
#include "log.h"
#include "request.h"
#include "server.h"
#include "signer.h"
#include "signet_limits.h"
#include "wbuf.h"
#include "audit.h"
#include "notify.h"
#include "users.h"
#include "workflow.h"

#define API_MAX_SEGMENTS 8
#define API_MAX_PATH 512
/* room for the form's text fields around the artifact */
#define API_FORM_OVERHEAD (1024 * 1024)

struct api {
	struct mg_connection *c;
	const struct mg_request_info *ri;
	struct app *app;
	char path[API_MAX_PATH];
	char *seg[API_MAX_SEGMENTS];
	int nseg;
	char identity[CATALOG_MAX_NAME + 1];
	const char *identity_type;
	json_t *user;			/* bearer sessions: the user record */
	char session_key[65];
	struct principal who;
};

static int
api_is(const struct api *a, const char *method, int nseg, ...)
	__attribute__((sentinel));

/* Does the request match method and the literal segments given (NULL
 * in the list matches any one segment)? */
static int
api_is(const struct api *a, const char *method, int nseg, ...)
{
	va_list ap;
	const char *s;
	int i, ok = 1;

	if (a->nseg != nseg || strcmp(a->ri->request_method, method) != 0)
		return 0;
	va_start(ap, nseg);
	for (i = 0; i < nseg; i++) {
		s = va_arg(ap, const char *);
		if (s != NULL && strcmp(s, "*") != 0 && strcmp(s, a->seg[i]) != 0)
			ok = 0;
	}
	va_end(ap);
	return ok;
}

static int
api_path_known(const struct api *a)
{
	if (a->nseg >= 1 && strcmp(a->seg[0], "signing-requests") == 0)
		return a->nseg <= 3;
	if (a->nseg == 1 && strcmp(a->seg[0], "health") == 0)
		return 1;
	if (a->nseg >= 1 && a->nseg <= 2 && strcmp(a->seg[0], "sessions") == 0)
		return 1;
	if (a->nseg == 1 && strcmp(a->seg[0], "audit") == 0)
		return 1;
	if (a->nseg == 5 && strcmp(a->seg[0], "projects") == 0)
		return 1;
	return 0;
}

/* Verified client certificate → identity. CivetWeb (OpenSSL) already
 * refused certificates that do not chain to client_ca or have expired. */
static int
api_auth_bearer(struct api *a, const char *hdr)
{
	struct store_txn *t = NULL;
	const char *name;
	int r;

	if (strncasecmp(hdr, "Bearer ", 7) != 0) {
		http_error(a->c, 401, "unauthenticated", "use 'Authorization: "
		    "Bearer TOKEN' with a token from POST /api/v1/sessions");
		return -1;
	}
	if ((r = store_txn_begin(a->app->store, 0, &t)) != 0) {
		http_error(a->c, 500, "internal", "database error");
		return -1;
	}
	r = users_session(t, hdr + 7, &a->user, a->session_key);
	store_txn_abort(t);
	if (r == SIGNET_ERR_UNAUTHENTICATED) {
		http_error(a->c, 401, "invalid_token", "the session token is "
		    "unknown, expired or revoked; log in again with POST "
		    "/api/v1/sessions");
		return -1;
	}
	if (r != 0) {
		http_error(a->c, 500, "internal", "database error");
		return -1;
	}
	name = json_string_value(json_object_get(a->user, "name"));
	snprintf(a->identity, sizeof(a->identity), "%s", name ? name : "");
	a->identity_type = "user";
	a->who.type = a->identity_type;
	a->who.name = a->identity;
	a->who.user = a->user;
	return 0;
}

static int
api_auth(struct api *a)
{
	struct store_txn *t = NULL;
	const char *hdr = mg_get_header(a->c, "Authorization");
	X509 *cert;
	int r;

	if (hdr != NULL)
		return api_auth_bearer(a, hdr);
	if (a->ri->client_cert == NULL ||
	    (cert = a->ri->client_cert->peer_cert) == NULL) {
		http_error(a->c, 401, "unauthenticated", "a client "
		    "certificate is required (curl: --cert FILE --key FILE)");
		return -1;
	}
	if ((r = store_txn_begin(a->app->store, 0, &t)) != 0) {
		http_error(a->c, 500, "internal", "the database is not "
		    "available");
		return -1;
	}
	r = catalog_identity_for_cert(t, cert, a->identity);
	store_txn_abort(t);
	if (r == SIGNET_ERR_NOT_FOUND) {
		http_error(a->c, 403, "unknown_identity", "this client "
		    "certificate (subject %.200s) is not registered as an "
		    "identity; ask an administrator to add it",
		    a->ri->client_cert->subject ? a->ri->client_cert->subject :
		    "?");
		return -1;
	}
	if (r != 0) {
		http_error(a->c, 500, "internal", "identity lookup failed");
		return -1;
	}
	a->identity_type = "client-certificate";
	a->who.type = a->identity_type;
	a->who.name = a->identity;
	a->who.user = NULL;
	return 0;
}

static int
api_query(const struct api *a, const char *name, char *buf, size_t len,
    int *present)
{
	const char *q = a->ri->query_string;
	int n;

	*present = 0;
	buf[0] = '\0';
	if (q == NULL)
		return 0;
	n = mg_get_var(q, strlen(q), name, buf, len);
	if (n == -1)
		return 0;
	if (n < 0) {
		http_error(a->c, 400, "invalid_query", "query parameter '%s' "
		    "is too long", name);
		return -1;
	}
	*present = 1;
	return 0;
}

static void
api_health(struct api *a)
{
	struct kh_status st;
	json_t *body;
	int r;

	memset(&st, 0, sizeof(st));
	r = kh_status(a->app->kh, &st);
	body = json_pack("{s:s, s:s, s:{s:b, s:b, s:s, s:i}}",
	    "status", r == 0 && st.present && st.logged_in ? "ok" : "degraded",
	    "version", "0.1.0",
	    "token", "present", r == 0 && st.present,
	    "loggedIn", r == 0 && st.logged_in,
	    "label", st.label, "keys", (int)st.key_count);
	if (r != 0)
		json_object_set_new(json_object_get(body, "token"), "error",
		    json_string(signet_strerror(r)));
	http_json(a->c, 200, body, NULL);
}

/* After a commit: a request ready for signing goes to a worker, and the
 * notifications recorded with the change go out. */
static void
api_after_commit(struct api *a, const json_t *rec)
{
	const char *id = json_string_value(json_object_get(rec, "id"));
	const char *w = json_string_value(json_object_get(rec,
	    "workflowStatus"));

	if (w != NULL && strcmp(w, RQ_QUEUED) == 0 &&
	    signer_enqueue(a->app->signer, id) != 0)
		log_err("api: %s is recorded but not queued; it will be "
		    "signed after a restart", id);
	notify_kick(a->app->notify);
}

static int api_field_store(const char *path, long long size, void *user);

/* A small body of named text values: JSON object, or a form. */
struct api_small {
	json_t *obj;
	char cur[64];
	struct wbuf val;
	int fail;
};

static int
api_small_close(struct api_small *s)
{
	json_t *v;

	if (s->cur[0] == '\0')
		return 0;
	v = json_stringn(s->val.len ? (const char *)s->val.buf : "", s->val.len);
	if (v == NULL || json_object_set_new(s->obj, s->cur, v) != 0)
		return -1;
	s->cur[0] = '\0';
	wbuf_free(&s->val);
	return 0;
}

static int
api_small_found(const char *key, const char *filename, char *path,
    size_t pathlen, void *user)
{
	struct api_small *s = user;

	(void)path;
	(void)pathlen;
	if (api_small_close(s) != 0 || (filename != NULL && *filename != '\0') ||
	    strlen(key) >= 64 ||
	    json_object_size(s->obj) >= 16) {
		s->fail = 1;
		return MG_FORM_FIELD_STORAGE_ABORT;
	}
	snprintf(s->cur, sizeof(s->cur), "%s", key);
	wbuf_init(&s->val, SIGNET_MAX_DESCRIPTION);
	return MG_FORM_FIELD_STORAGE_GET;
}

static int
api_small_get(const char *key, const char *value, size_t len, void *user)
{
	struct api_small *s = user;

	(void)key;
	if (wbuf_add(&s->val, value, len) != 0) {
		s->fail = 1;
		return MG_FORM_FIELD_HANDLE_ABORT;
	}
	return MG_FORM_FIELD_HANDLE_GET;
}

/* Reads the body into a JSON object of strings; 0 or an error sent. */
static int
api_small_body(struct api *a, json_t **out)
{
	const char *ct = mg_get_header(a->c, "Content-Type");
	char buf[SIGNET_MAX_JSON_BODY + 1];
	struct mg_form_data_handler fdh;
	struct api_small s;
	json_error_t jerr;
	json_t *v;
	const char *k;
	int n, got = 0;

	*out = NULL;
	if (a->ri->content_length > SIGNET_MAX_JSON_BODY) {
		http_error(a->c, 413, "payload_too_large", "the body is larger "
		    "than %d bytes", SIGNET_MAX_JSON_BODY);
		return -1;
	}
	if (ct == NULL || a->ri->content_length == 0) {
		*out = json_object();
		return 0;
	}
	if (strncasecmp(ct, "application/json", 16) == 0) {
		while (got < SIGNET_MAX_JSON_BODY && (n = mg_read(a->c,
		    buf + got, (size_t)(SIGNET_MAX_JSON_BODY - got))) > 0)
			got += n;
		if (got == SIGNET_MAX_JSON_BODY && mg_read(a->c, buf, 1) > 0) {
			http_error(a->c, 413, "payload_too_large", "the body is "
			    "larger than %d bytes", SIGNET_MAX_JSON_BODY);
			return -1;
		}
		*out = json_loadb(buf, (size_t)got, JSON_REJECT_DUPLICATES,
		    &jerr);
		if (*out == NULL || !json_is_object(*out)) {
			http_error(a->c, 400, "invalid_json", "the body must be "
			    "a JSON object (%s)", *out ? "not an object" :
			    jerr.text);
			json_decref(*out);
			*out = NULL;
			return -1;
		}
		json_object_foreach(*out, k, v) {
			if (!json_is_string(v)) {
				http_error(a->c, 400, "invalid_field", "'%.64s' "
				    "must be a string", k);
				json_decref(*out);
				*out = NULL;
				return -1;
			}
		}
		return 0;
	}
	memset(&s, 0, sizeof(s));
	s.obj = json_object();
	wbuf_init(&s.val, 0);
	memset(&fdh, 0, sizeof(fdh));
	fdh.field_found = api_small_found;
	fdh.field_get = api_small_get;
	fdh.field_store = api_field_store;
	fdh.user_data = &s;
	if (mg_handle_form_request(a->c, &fdh) < 0 || s.fail ||
	    api_small_close(&s) != 0) {
		wbuf_free(&s.val);
		json_decref(s.obj);
		http_error(a->c, 400, "invalid_form", "send JSON or a form of at "
		    "most 16 short text fields");
		return -1;
	}
	wbuf_free(&s.val);
	*out = s.obj;
	return 0;
}

static const char *
api_str(const json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

static void
api_workflow_error(struct api *a, int r, const char *msg)
{
	static const struct {
		int err;
		const char *code;
	} codes[] = {
		{ SIGNET_ERR_NOT_FOUND, "not_found" },
		{ SIGNET_ERR_FORBIDDEN, "forbidden" },
		{ SIGNET_ERR_CONFLICT, "conflict" },
		{ SIGNET_ERR_INVALID, "invalid_field" },
	};
	size_t i;

	for (i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
		if (codes[i].err == r) {
			http_error(a->c, http_status(r), codes[i].code, "%s",
			    msg);
			return;
		}
	http_error(a->c, 500, "internal", "%s", signet_strerror(r));
}

static void
api_decide(struct api *a, const char *id, const char *what)
{
	json_t *body = NULL, *rec = NULL;
	char msg[256] = "";
	int r;

	if (api_small_body(a, &body) != 0)
		return;
	if (strcmp(what, "cancel") == 0)
		r = workflow_cancel(a->app->store, &a->who, id,
		    api_str(body, "comment"), &rec, msg, sizeof(msg));
	else
		r = workflow_decide(a->app->store, &a->who, id,
		    strcmp(what, "approve") == 0, api_str(body, "comment"),
		    &rec, msg, sizeof(msg));
	if (r != 0) {
		api_workflow_error(a, r, msg);
	} else {
		log_info("api: %s: %s %s", a->identity, what, id);
		api_after_commit(a, rec);
		http_json(a->c, 200, request_api(rec), NULL);
	}
	json_decref(rec);
	json_decref(body);
}

static void
api_resubmit(struct api *a, const char *id)
{
	json_t *body = NULL, *rec = NULL;
	char msg[256] = "", loc[128];
	int r;

	if (api_small_body(a, &body) != 0)
		return;
	r = workflow_resubmit(a->app->store, &a->who, id,
	    api_str(body, "signingPolicySlug"), api_str(body, "description"),
	    &rec, msg, sizeof(msg));
	if (r != 0) {
		api_workflow_error(a, r, msg);
	} else {
		log_info("api: %s resubmitted %s as %s", a->identity, id,
		    api_str(rec, "id"));
		api_after_commit(a, rec);
		snprintf(loc, sizeof(loc),
		    "Location: /api/v1/signing-requests/%s", api_str(rec, "id"));
		http_json(a->c, 201, request_api(rec), loc);
	}
	json_decref(rec);
	json_decref(body);
}

static void
api_login(struct api *a)
{
	json_t *body = NULL;
	const char *user, *pw;
	char token[USERS_TOKEN_LEN + 1], exp[32], remote[64];
	struct users_policy up;
	uint64_t expires = 0;
	time_t secs;
	struct tm tm;
	int r;

	if (api_small_body(a, &body) != 0)
		return;
	user = api_str(body, "username");
	pw = api_str(body, "password");
	if (user == NULL || pw == NULL) {
		http_error(a->c, 400, "missing_field", "send {\"username\": "
		    "..., \"password\": ...}");
		goto out;
	}
	up.session_ttl = a->app->cfg.session_ttl;
	up.lockout_failures = a->app->cfg.lockout_failures;
	up.lockout_seconds = a->app->cfg.lockout_seconds;
	snprintf(remote, sizeof(remote), "%s", a->ri->remote_addr);
	r = users_login(a->app->store, &up, user, pw, strlen(pw), remote,
	    token, &expires);
	if (r == SIGNET_ERR_UNAUTHENTICATED) {
		http_error(a->c, 401, "invalid_credentials", "the user name or "
		    "password is wrong, or the account is locked for a while "
		    "after repeated failures");
		goto out;
	}
	if (r != 0) {
		http_error(a->c, 500, "internal", "login failed: %s",
		    signet_strerror(r));
		goto out;
	}
	secs = (time_t)(expires / 1000000000ULL);
	gmtime_r(&secs, &tm);
	strftime(exp, sizeof(exp), "%Y-%m-%dT%H:%M:%SZ", &tm);
	http_json(a->c, 201, json_pack("{s:s, s:s, s:s, s:s}", "token", token,
	    "tokenType", "Bearer", "expiresAt", exp, "username", user), NULL);
	OPENSSL_cleanse(token, sizeof(token));
out:
	/* the password was in this JSON object */
	if (pw != NULL)
		OPENSSL_cleanse((void *)(uintptr_t)pw, strlen(pw));
	json_decref(body);
}

static void
api_logout(struct api *a)
{
	if (a->user == NULL) {
		http_error(a->c, 400, "not_a_session", "this call ends a bearer "
		    "session; client certificates have none");
		return;
	}
	if (users_logout(a->app->store, a->session_key, a->identity) != 0) {
		http_error(a->c, 500, "internal", "the session could not be "
		    "ended");
		return;
	}
	mg_response_header_start(a->c, 204);
	http_common_headers(a->c);
	mg_response_header_send(a->c);
}

static void
api_audit(struct api *a)
{
	char after[24], lim[8], fmt[8];
	int has_after, has_lim, has_fmt, r;
	unsigned long long from = 0;
	long limit = 100;
	uint64_t next = 0;
	struct store_txn *t = NULL;
	json_t *items = NULL, *e;
	char *end, *line;
	size_t i;

	if (!workflow_is_admin(&a->who) && !workflow_is_auditor(&a->who)) {
		http_error(a->c, 403, "forbidden", "the audit log is for "
		    "auditors and administrators");
		return;
	}
	if (api_query(a, "after", after, sizeof(after), &has_after) ||
	    api_query(a, "limit", lim, sizeof(lim), &has_lim) ||
	    api_query(a, "format", fmt, sizeof(fmt), &has_fmt))
		return;
	if (has_after) {
		errno = 0;
		from = strtoull(after, &end, 10);
		if (errno || *end || end == after) {
			http_error(a->c, 400, "invalid_query", "after must be a "
			    "sequence number");
			return;
		}
	}
	if (has_lim) {
		errno = 0;
		limit = strtol(lim, &end, 10);
		if (errno || *end || limit < 1 || limit > 1000) {
			http_error(a->c, 400, "invalid_query", "limit must be 1 "
			    "to 1000");
			return;
		}
	}
	if (has_fmt && strcmp(fmt, "jsonl") != 0 && strcmp(fmt, "json") != 0) {
		http_error(a->c, 400, "invalid_query", "format is json or "
		    "jsonl");
		return;
	}
	if (has_fmt && strcmp(fmt, "jsonl") == 0) {
		/* the whole log as JSON lines, the form 'signet audit
		 * verify' checks; one read transaction: a consistent cut */
		if ((r = store_txn_begin(a->app->store, 0, &t)) != 0) {
			http_error(a->c, 500, "internal", "database error");
			return;
		}
		mg_response_header_start(a->c, 200);
		mg_response_header_add(a->c, "Content-Type",
		    "application/x-ndjson", -1);
		mg_response_header_add(a->c, "Content-Disposition",
		    "attachment; filename=\"signet-audit.jsonl\"", -1);
		http_common_headers(a->c);
		mg_response_header_send(a->c);
		do {
			if (audit_list(t, from, 1000, &items, &next) != 0) {
				/* the export ends early; its summary head shows
				 * where, and the log says why */
				log_err("api: audit export stopped after seq %llu",
				    (unsigned long long)from);
				break;
			}
			json_array_foreach(items, i, e) {
				if ((line = audit_line(e)) == NULL) {
					log_err("api: audit export: cannot encode an "
					    "entry");
					next = 0;
					break;
				}
				mg_write(a->c, line, strlen(line));
				mg_write(a->c, "\n", 1);
				free(line);
			}
			json_decref(items);
			items = NULL;
			from = next;
		} while (next != 0);
		store_txn_abort(t);
		return;
	}
	if ((r = store_txn_begin(a->app->store, 0, &t)) != 0 ||
	    (r = audit_list(t, from, (size_t)limit, &items, &next)) != 0) {
		store_txn_abort(t);
		http_error(a->c, 500, "internal", "database error");
		return;
	}
	store_txn_abort(t);
	if (next != 0)
		snprintf(after, sizeof(after), "%llu", (unsigned long long)next);
	http_json(a->c, 200, json_pack("{s:o, s:s?}", "items", items,
	    "nextAfter", next != 0 ? after : NULL), NULL);
}

/* --- submit ---------------------------------------------------------- */

static int
api_field_found(const char *key, const char *filename, char *path,
    size_t pathlen, void *user)
{
	(void)path;
	(void)pathlen;
	return form_field(user, key, filename) == 0 ?
	    MG_FORM_FIELD_STORAGE_GET : MG_FORM_FIELD_STORAGE_ABORT;
}

static int
api_field_get(const char *key, const char *value, size_t len, void *user)
{
	(void)key;
	return form_data(user, value, len) == 0 ?
	    MG_FORM_FIELD_HANDLE_GET : MG_FORM_FIELD_HANDLE_ABORT;
}

static int
api_field_store(const char *path, long long size, void *user)
{
	(void)path;
	(void)size;
	(void)user;
	return MG_FORM_FIELD_HANDLE_ABORT;
}

/* Checks a submission against the catalog; 0 or an HTTP error sent. */
static int
api_check_submit(struct api *a, struct store_txn *t, const char *project,
    const char *policy_slug, const char *conf, json_t **policy)
{
	json_t *p = NULL, *confs, *e;
	size_t i;
	int r, ok = 0;

	*policy = NULL;
	if ((r = catalog_get_project(t, project, &p)) != 0) {
		if (r == SIGNET_ERR_NOT_FOUND)
			http_error(a->c, 404, "project_not_found", "there is no "
			    "project '%.64s'", project);
		else
			http_error(a->c, 500, "internal", "database error");
		return -1;
	}
	json_decref(p);
	if ((r = catalog_get_policy(t, project, policy_slug, &p)) != 0) {
		if (r == SIGNET_ERR_NOT_FOUND)
			http_error(a->c, 404, "policy_not_found", "project "
			    "'%s' has no signing policy '%.64s'", project,
			    policy_slug);
		else
			http_error(a->c, 500, "internal", "database error");
		return -1;
	}
	if (!catalog_policy_lists(p, "submitters", a->identity)) {
		http_error(a->c, 403, "forbidden", "'%s' may not submit to "
		    "signing policy '%s/%s'", a->identity, project,
		    policy_slug);
		json_decref(p);
		return -1;
	}
	confs = json_object_get(p, "artifactConfigurations");
	json_array_foreach(confs, i, e)
		if (strcmp(json_string_value(e), conf) == 0)
			ok = 1;
	if (!ok) {
		http_error(a->c, 400, "invalid_artifact_configuration",
		    "signing policy '%s/%s' does not accept artifact "
		    "configuration '%.64s'", project, policy_slug, conf);
		json_decref(p);
		return -1;
	}
	*policy = p;
	return 0;
}

static void
api_submit(struct api *a)
{
	struct form f;
	struct mg_form_data_handler fdh;
	struct store_txn *t = NULL;
	struct request_new n;
	json_t *policy = NULL, *rec = NULL;
	const char *ctype, *project, *slug, *conf;
	char loc[128];
	int r;
	uint64_t max = a->app->cfg.max_artifact_size;

	form_init(&f, a->app->cas, max);
	if (a->ri->content_length > 0 &&
	    (uint64_t)a->ri->content_length > max + API_FORM_OVERHEAD) {
		/* refuse before reading: nothing of it touches the disk */
		http_error(a->c, 413, "artifact_too_large", "the upload is "
		    "larger than this appliance accepts (%llu bytes, [store] "
		    "max_artifact_size)", (unsigned long long)max);
		goto out;
	}
	ctype = mg_get_header(a->c, "Content-Type");
	if (ctype == NULL || strncasecmp(ctype, "multipart/form-data", 19) != 0) {
		http_error(a->c, 415, "unsupported_media_type", "send a "
		    "multipart/form-data body (curl: -F projectSlug=... "
		    "-F artifact=@FILE)");
		goto out;
	}
	memset(&fdh, 0, sizeof(fdh));
	fdh.field_found = api_field_found;
	fdh.field_get = api_field_get;
	fdh.field_store = api_field_store;
	fdh.user_data = &f;
	r = mg_handle_form_request(a->c, &fdh);
	if (f.status == 0 && r < 0)
		form_fail_parse(&f);
	if (f.status != 0) {
		http_error(a->c, f.status, f.code, "%s", f.message);
		goto out;
	}
	project = form_get(&f, "projectSlug");
	slug = form_get(&f, "signingPolicySlug");
	conf = form_get(&f, "artifactConfigurationSlug");
	if (conf == NULL || *conf == '\0')
		conf = "detached-cms";
	if (project == NULL || *project == '\0') {
		http_error(a->c, 400, "missing_field", "projectSlug is required");
		goto out;
	}
	if (slug == NULL || *slug == '\0') {
		http_error(a->c, 400, "missing_field", "signingPolicySlug is "
		    "required");
		goto out;
	}
	if (f.upload == NULL) {
		http_error(a->c, 400, "missing_field", "no artifact: send the "
		    "file as form field 'artifact'");
		goto out;
	}
	/* refuse before the artifact enters the store */
	if ((r = store_txn_begin(a->app->store, 0, &t)) != 0) {
		http_error(a->c, 500, "internal", "database error");
		goto out;
	}
	r = api_check_submit(a, t, project, slug, conf, &policy);
	store_txn_abort(t);
	t = NULL;
	if (r != 0)
		goto out;
	json_decref(policy);
	policy = NULL;
	if (form_finish(&f) != 0) {
		http_error(a->c, f.status, f.code, "%s", f.message);
		goto out;
	}
	if ((r = store_txn_begin(a->app->store, 1, &t)) != 0) {
		http_error(a->c, 500, "internal", "database error");
		goto out;
	}
	if (api_check_submit(a, t, project, slug, conf, &policy) != 0)
		goto out;
	memset(&n, 0, sizeof(n));
	n.project = project;
	n.policy = slug;
	n.artifact_configuration = conf;
	n.description = form_get(&f, "description");
	n.parameters = f.parameters;
	n.origin = f.origin;
	n.submitter_type = a->identity_type;
	n.submitter = a->identity;
	n.artifact_name = f.artifact_name;
	n.artifact_sha256 = f.sha256;
	n.artifact_size = f.size;
	n.required_approvals = (int)json_integer_value(json_object_get(policy,
	    "requiredApprovals"));
	if ((r = request_create(t, &n, &rec)) != 0 ||
	    (r = events_request(t, rec, a->who.type, a->who.name,
	    "signing-request.submitted", NULL)) != 0 ||
	    (r = store_txn_commit(t)) != 0) {
		t = NULL;
		http_error(a->c, http_status(r), "internal", "the request could "
		    "not be recorded: %s", signet_strerror(r));
		goto out;
	}
	t = NULL;
	const char *id = json_string_value(json_object_get(rec, "id"));
	log_info("api: %s submitted %s (%s/%s, %s, %llu bytes)", a->identity,
	    id, project, slug, f.sha256, (unsigned long long)f.size);
	api_after_commit(a, rec);
	snprintf(loc, sizeof(loc), "Location: /api/v1/signing-requests/%s", id);
	http_json(a->c, 201, request_api(rec), loc);
out:
	store_txn_abort(t);
	json_decref(policy);
	json_decref(rec);
	form_free(&f);
}

/* --- read ------------------------------------------------------------ */

/* Loads a request the caller may see; 404 for one it may not (its
 * existence is not revealed). */
static int
api_load_request(struct api *a, const char *id, json_t **rec)
{
	struct store_txn *t = NULL;
	int r;

	*rec = NULL;
	if ((r = store_txn_begin(a->app->store, 0, &t)) != 0) {
		http_error(a->c, 500, "internal", "database error");
		return -1;
	}
	r = request_get(t, id, rec);
	if (r == 0 && !workflow_may_read(t, &a->who, json_string_value(
	    json_object_get(*rec, "projectSlug")))) {
		json_decref(*rec);
		*rec = NULL;
		r = SIGNET_ERR_NOT_FOUND;
	}
	store_txn_abort(t);
	if (r == SIGNET_ERR_NOT_FOUND) {
		http_error(a->c, 404, "not_found", "there is no signing request "
		    "'%.40s' visible to you", id);
		return -1;
	}
	if (r != 0) {
		http_error(a->c, 500, "internal", "database error");
		return -1;
	}
	return 0;
}

static void
api_get(struct api *a, const char *id)
{
	json_t *rec;

	if (api_load_request(a, id, &rec) != 0)
		return;
	http_json(a->c, 200, request_api(rec), NULL);
	json_decref(rec);
}

struct api_visible {
	struct store_txn *t;
	const struct principal *who;
	json_t *cache;	/* project → true/false */
};

static int
api_visible(const json_t *rec, void *arg)
{
	struct api_visible *v = arg;
	const char *p = json_string_value(json_object_get(rec, "projectSlug"));
	json_t *hit;
	int ok;

	if (p == NULL)
		return 0;
	if ((hit = json_object_get(v->cache, p)) != NULL)
		return json_is_true(hit);
	ok = workflow_may_read(v->t, v->who, p);
	json_object_set_new(v->cache, p, json_boolean(ok));
	return ok;
}

static void
api_list(struct api *a)
{
	char status[32], project[SIGNET_MAX_SLUG + 1], policy[SIGNET_MAX_SLUG + 1];
	char size[8], cursor[REQUEST_CURSOR_LEN + 1], next[REQUEST_CURSOR_LEN + 1];
	int has_status, has_project, has_policy, has_size, has_cursor, r;
	long page = SIGNET_DEFAULT_PAGE_SIZE;
	struct request_filter f;
	struct api_visible vis;
	struct store_txn *t = NULL;
	json_t *items = NULL;
	char *end;

	if (api_query(a, "status", status, sizeof(status), &has_status) ||
	    api_query(a, "projectSlug", project, sizeof(project), &has_project) ||
	    api_query(a, "signingPolicySlug", policy, sizeof(policy),
	    &has_policy) ||
	    api_query(a, "pageSize", size, sizeof(size), &has_size) ||
	    api_query(a, "cursor", cursor, sizeof(cursor), &has_cursor))
		return;
	if (has_status && !request_valid_status(status)) {
		http_error(a->c, 400, "invalid_query", "unknown status '%s' "
		    "(InProgress, WaitingForApproval, QueuedForProcessing, "
		    "Processing, Completed, Failed, Denied, Canceled)", status);
		return;
	}
	if (has_size) {
		errno = 0;
		page = strtol(size, &end, 10);
		if (errno != 0 || *end != '\0' || end == size || page < 1 ||
		    page > SIGNET_MAX_PAGE_SIZE) {
			http_error(a->c, 400, "invalid_query", "pageSize must be "
			    "a number from 1 to %d", SIGNET_MAX_PAGE_SIZE);
			return;
		}
	}
	memset(&f, 0, sizeof(f));
	f.status = has_status ? status : NULL;
	f.project = has_project ? project : NULL;
	f.policy = has_policy ? policy : NULL;
	if ((r = store_txn_begin(a->app->store, 0, &t)) != 0) {
		http_error(a->c, 500, "internal", "database error");
		return;
	}
	vis.t = t;
	vis.who = &a->who;
	vis.cache = json_object();
	f.visible = api_visible;
	f.arg = &vis;
	r = request_list(t, &f, (size_t)page, has_cursor ? cursor : "", &items,
	    next);
	store_txn_abort(t);
	json_decref(vis.cache);
	if (r == SIGNET_ERR_INVALID) {
		http_error(a->c, 400, "invalid_query", "cursor is not one this "
		    "server returned as nextCursor");
		return;
	}
	if (r != 0) {
		http_error(a->c, 500, "internal", "database error");
		return;
	}
	http_json(a->c, 200, json_pack("{s:o, s:s?}", "items", items,
	    "nextCursor", next[0] ? next : NULL), NULL);
}

static void
api_send_file(struct api *a, const char *hex, const char *name,
    const char *ctype)
{
	char len[32], disp[SIGNET_MAX_ARTIFACT_NAME + 64], buf[65536], safe[SIGNET_MAX_ARTIFACT_NAME + 1];
	uint64_t size, left;
	ssize_t n;
	size_t i;
	int fd, r;

	if ((r = cas_open_read(a->app->cas, hex, &fd, &size)) != 0) {
		http_error(a->c, 500, "artifact_missing", "the stored artifact "
		    "cannot be read; check the appliance's storage");
		return;
	}
	/* the name came from a client: keep quotes and controls out of
	 * the header */
	for (i = 0; name[i] != '\0' && i < sizeof(safe) - 1; i++)
		safe[i] = (name[i] == '"' || name[i] == '\\' ||
		    (unsigned char)name[i] < 0x20) ? '_' : name[i];
	safe[i] = '\0';
	mg_response_header_start(a->c, 200);
	mg_response_header_add(a->c, "Content-Type", ctype, -1);
	snprintf(len, sizeof(len), "%llu", (unsigned long long)size);
	mg_response_header_add(a->c, "Content-Length", len, -1);
	snprintf(disp, sizeof(disp), "attachment; filename=\"%s\"", safe);
	mg_response_header_add(a->c, "Content-Disposition", disp, -1);
	http_common_headers(a->c);
	mg_response_header_send(a->c);
	for (left = size; left > 0; left -= (uint64_t)n) {
		n = read(fd, buf, left < sizeof(buf) ? left : sizeof(buf));
		if (n <= 0 || mg_write(a->c, buf, (size_t)n) <= 0)
			break;
	}
	close(fd);
}

static void
api_download(struct api *a, const char *id, int signed_artifact)
{
	json_t *rec, *art;

	if (api_load_request(a, id, &rec) != 0)
		return;
	art = json_object_get(rec, signed_artifact ? "signedArtifact" :
	    "unsignedArtifact");
	if (!json_is_object(art)) {
		http_error(a->c, 409, "not_signed", "request %s is %s; the "
		    "signed artifact exists once it is Completed", id,
		    json_string_value(json_object_get(rec, "workflowStatus")));
	} else {
		api_send_file(a, json_string_value(json_object_get(art,
		    "sha256")), json_string_value(json_object_get(art, "name")),
		    signed_artifact ? "application/pkcs7-signature" :
		    "application/octet-stream");
	}
	json_decref(rec);
}

static void
api_certificate(struct api *a, const char *project, const char *slug)
{
	struct store_txn *t = NULL;
	json_t *policy = NULL, *cert = NULL;
	const char *pem;
	char len[32];
	int r;

	if ((r = store_txn_begin(a->app->store, 0, &t)) != 0) {
		http_error(a->c, 500, "internal", "database error");
		return;
	}
	if (!workflow_may_read(t, &a->who, project) ||
	    catalog_get_policy(t, project, slug, &policy) != 0) {
		http_error(a->c, 404, "policy_not_found", "there is no signing "
		    "policy '%.64s/%.64s' visible to you", project, slug);
		goto out;
	}
	if (catalog_get_certificate(t, json_string_value(json_object_get(
	    policy, "certificate")), &cert) != 0 ||
	    (pem = json_string_value(json_object_get(cert, "chainPem"))) ==
	    NULL) {
		http_error(a->c, 404, "certificate_not_found", "signing policy "
		    "'%s/%s' has no certificate", project, slug);
		goto out;
	}
	mg_response_header_start(a->c, 200);
	mg_response_header_add(a->c, "Content-Type",
	    "application/pem-certificate-chain", -1);
	snprintf(len, sizeof(len), "%zu", strlen(pem));
	mg_response_header_add(a->c, "Content-Length", len, -1);
	http_common_headers(a->c);
	mg_response_header_send(a->c);
	mg_write(a->c, pem, strlen(pem));
out:
	store_txn_abort(t);
	json_decref(policy);
	json_decref(cert);
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
	for (int i = 0; i < a->nseg; i++)
		if (a->seg[i][0] == '\0' || a->seg[i][0] == '.' ||
		    strpbrk(a->seg[i], "%\\") != NULL)
			return -1;
	return 0;
}

int
api_handler(struct mg_connection *c, void *arg)
{
	struct api a;

	memset(&a, 0, sizeof(a));
	a.c = c;
	a.ri = mg_get_request_info(c);
	a.app = arg;
	if (api_split(&a) != 0) {
		http_error(c, 404, "not_found", "no such API path");
		return 1;
	}
	if (api_is(&a, "GET", 1, "health", NULL)) {
		api_health(&a);
		return 1;
	}
	if (api_is(&a, "POST", 1, "sessions", NULL)) {
		api_login(&a);
		return 1;
	}
	if (!api_path_known(&a)) {
		http_error(c, 404, "not_found", "no such API path; see "
		    "/api/v1/signing-requests");
		return 1;
	}
	if (api_auth(&a) != 0)
		goto out;
	if (api_is(&a, "DELETE", 2, "sessions", "current", NULL))
		api_logout(&a);
	else if (api_is(&a, "GET", 1, "audit", NULL))
		api_audit(&a);
	else if (api_is(&a, "POST", 1, "signing-requests", NULL))
		api_submit(&a);
	else if (api_is(&a, "GET", 1, "signing-requests", NULL))
		api_list(&a);
	else if (api_is(&a, "GET", 2, "signing-requests", "*", NULL))
		api_get(&a, a.seg[1]);
	else if (api_is(&a, "GET", 3, "signing-requests", "*",
	    "unsigned-artifact", NULL))
		api_download(&a, a.seg[1], 0);
	else if (api_is(&a, "GET", 3, "signing-requests", "*",
	    "signed-artifact", NULL))
		api_download(&a, a.seg[1], 1);
	else if (api_is(&a, "GET", 5, "projects", "*", "signing-policies", "*",
	    "certificate", NULL))
		api_certificate(&a, a.seg[1], a.seg[3]);
	else if (api_is(&a, "POST", 3, "signing-requests", "*", "approve", NULL) ||
	    api_is(&a, "POST", 3, "signing-requests", "*", "deny", NULL) ||
	    api_is(&a, "POST", 3, "signing-requests", "*", "cancel", NULL))
		api_decide(&a, a.seg[1], a.seg[2]);
	else if (api_is(&a, "POST", 3, "signing-requests", "*", "resubmit",
	    NULL))
		api_resubmit(&a, a.seg[1]);
	else
		http_error(c, 405, "method_not_allowed", "%s is not allowed "
		    "on this path", a.ri->request_method);
out:
	json_decref(a.user);
	return 1;
}
