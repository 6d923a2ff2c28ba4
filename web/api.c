/* The JSON API under /api/v1 (design.md "Public interface"). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <civetweb.h>

#include "app.h"
#include "catalog.h"
#include "form.h"
#include "http.h"
#include "khclient.h"
#include "log.h"
#include "request.h"
#include "server.h"
#include "signer.h"
#include "signet_limits.h"

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
	if (a->nseg == 5 && strcmp(a->seg[0], "projects") == 0)
		return 1;
	return 0;
}

/* Verified client certificate → identity. CivetWeb (OpenSSL) already
 * refused certificates that do not chain to client_ca or have expired. */
static int
api_auth(struct api *a)
{
	struct store_txn *t = NULL;
	X509 *cert;
	int r;

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
	if (strcmp(json_string_value(json_object_get(rec, "workflowStatus")),
	    RQ_QUEUED) == 0 && signer_enqueue(a->app->signer, id) != 0)
		log_err("api: %s is recorded but not queued; it will be "
		    "signed after a restart", id);
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
	if (r == 0 && !catalog_may_read_project(t, json_string_value(
	    json_object_get(*rec, "projectSlug")), a->identity)) {
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
	const char *identity;
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
	ok = catalog_may_read_project(v->t, p, v->identity);
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
	vis.identity = a->identity;
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
	if (!catalog_may_read_project(t, project, a->identity) ||
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
	if (!api_path_known(&a)) {
		http_error(c, 404, "not_found", "no such API path; see "
		    "/api/v1/signing-requests");
		return 1;
	}
	if (api_auth(&a) != 0)
		return 1;
	if (api_is(&a, "POST", 1, "signing-requests", NULL))
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
	else
		http_error(c, 405, "method_not_allowed", "%s is not allowed "
		    "on this path", a.ri->request_method);
	return 1;
}
