/* Signing requests: submit, read, list, download, decide, resubmit;
 * the policy certificate chain. */
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
#include "events.h"
#include "form.h"
#include "http.h"
#include "khclient.h"
#include "log.h"
#include "notify.h"
#include "origin.h"
#include "request.h"
#include "signer.h"
#include "signet_limits.h"
#include "users.h"
#include "wbuf.h"
#include "workflow.h"



/* --- submit ---------------------------------------------------------- */

/* A refused field is still taken as GET: CivetWeb reads the whole part
 * of a field it was told to abort or skip (it looks for the next
 * boundary), while the first data callback of a GET field can stop it
 * at once, within one buffer. */
static int
api_field_found(const char *key, const char *filename, char *path,
    size_t pathlen, void *user)
{
	(void)path;
	(void)pathlen;
	if (form_field(user, key, filename) != 0)
		return MG_FORM_FIELD_STORAGE_GET;	/* form_data refuses */
	return MG_FORM_FIELD_STORAGE_GET;
}

static int
api_field_get(const char *key, const char *value, size_t len, void *user)
{
	(void)key;
	return form_data(user, value, len) == 0 ?
	    MG_FORM_FIELD_HANDLE_GET : MG_FORM_FIELD_HANDLE_ABORT;
}

/* Checks a submission against the catalog and its origin against the
 * policy's origin rules (docs/origin.md); 0 and the policy and the
 * origin's evidence, or an HTTP error sent. */
static int
api_check_submit(struct api *a, struct store_txn *t, const char *project,
    const char *policy_slug, const char *conf, json_t *origin, time_t now,
    json_t **policy, json_t **evidence)
{
	json_t *p = NULL, *prj = NULL, *confs, *e, *ev = NULL;
	char msg[512];	/* what http_error sends whole */
	size_t i;
	int r, ok = 0;

	*policy = NULL;
	*evidence = NULL;
	if ((r = catalog_get_project(t, project, &prj)) != 0) {
		if (r == SIGNET_ERR_NOT_FOUND)
			http_error(a->c, 404, "project_not_found", "there is no "
			    "project '%.64s'", project);
		else
			http_error(a->c, 500, "internal", "database error");
		return -1;
	}
	if ((r = catalog_get_policy(t, project, policy_slug, &p)) != 0) {
		if (r == SIGNET_ERR_NOT_FOUND)
			http_error(a->c, 404, "policy_not_found", "project "
			    "'%s' has no signing policy '%.64s'", project,
			    policy_slug);
		else
			http_error(a->c, 500, "internal", "database error");
		json_decref(prj);
		return -1;
	}
	if (!catalog_policy_lists(p, "submitters", a->identity)) {
		http_error(a->c, 403, "forbidden", "'%s' may not submit to "
		    "signing policy '%s/%s'", a->identity, project,
		    policy_slug);
		goto fail;
	}
	confs = json_object_get(p, "artifactConfigurations");
	json_array_foreach(confs, i, e)
		if (strcmp(json_string_value(e), conf) == 0)
			ok = 1;
	if (!ok) {
		http_error(a->c, 400, "invalid_artifact_configuration",
		    "signing policy '%s/%s' does not accept artifact "
		    "configuration '%.64s'", project, policy_slug, conf);
		goto fail;
	}
	if ((r = origin_verify(t, a->identity_type, a->identity, origin, now,
	    &ev)) != 0) {
		http_error(a->c, http_status(r), "internal", "the origin could "
		    "not be verified: %s", signet_strerror(r));
		goto fail;
	}
	if (origin_rules(prj, p, origin, ev, msg, sizeof(msg)) != 0) {
		log_info("api: %s: refused by origin rule: %s", a->identity,
		    msg);
		http_error(a->c, 403, "origin_rule", "%s", msg);
		goto fail;
	}
	json_decref(prj);
	*policy = p;
	*evidence = ev;
	return 0;
fail:
	json_decref(ev);
	json_decref(prj);
	json_decref(p);
	return -1;
}

struct api_submit_check {
	struct api *a;
	time_t now;
};

/* The artifact part begins: the fields before it name the project and
 * the policy, and the caller's right to submit there (and the origin)
 * is checked before a byte of the artifact is stored. */
static int
api_submit_check(struct form *f, void *arg)
{
	struct api_submit_check *sc = arg;
	struct store_txn *t = NULL;
	json_t *policy = NULL, *ev = NULL;
	const char *conf = form_get(f, "artifactConfigurationSlug");
	int r;

	if (conf == NULL || *conf == '\0')
		conf = "detached-cms";
	if (store_txn_begin(sc->a->app->store, 0, &t) != 0) {
		http_error(sc->a->c, 500, "internal", "database error");
		return -1;
	}
	r = api_check_submit(sc->a, t, form_get(f, "projectSlug"),
	    form_get(f, "signingPolicySlug"), conf, f->origin, sc->now,
	    &policy, &ev);
	store_txn_abort(&t);
	json_decref(policy);
	json_decref(ev);
	return r;
}

static void
api_submit(struct api *a)
{
	struct api_submit_check sc;
	int body_read = 0;
	struct form f;
	struct mg_form_data_handler fdh;
	struct store_txn *t = NULL;
	struct request_new n;
	json_t *policy = NULL, *rec = NULL, *ev = NULL;
	const char *ctype, *project, *slug, *conf;
	char loc[128];
	int r;
	uint64_t max = a->app->cfg.max_artifact_size;
	/* one moment for both checks: the token is judged once */
	time_t now = time(NULL);

	form_init(&f, a->app->cas, max);
	sc.a = a;
	sc.now = now;
	form_set_check(&f, api_submit_check, &sc);
	if (a->ri->content_length > 0 &&
	    (uint64_t)a->ri->content_length > max + SIGNET_FORM_OVERHEAD) {
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
	if (f.status != 0 || form_end(&f) != 0) {
		if (!f.answered)
			http_error(a->c, f.status, f.code, "%s", f.message);
		goto out;
	}
	body_read = 1;
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
	/* api_submit_check passed when the artifact began; it is checked
	 * again below, in the transaction that records the request */
	if (form_finish(&f) != 0) {
		http_error(a->c, f.status, f.code, "%s", f.message);
		goto out;
	}
	if ((r = store_txn_begin(a->app->store, 1, &t)) != 0) {
		http_error(a->c, 500, "internal", "database error");
		goto out;
	}
	if (api_check_submit(a, t, project, slug, conf, f.origin, now, &policy,
	    &ev) != 0)
		goto out;
	/* verified (or not): the evidence is kept, the credential is not */
	origin_forget_token(f.origin);
	memset(&n, 0, sizeof(n));
	n.project = project;
	n.policy = slug;
	n.artifact_configuration = conf;
	n.description = form_get(&f, "description");
	n.parameters = f.parameters;
	n.origin = f.origin;
	n.origin_verification = ev;
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
	    (r = store_txn_commit(&t)) != 0) {
		http_error(a->c, http_status(r), "internal", "the request could "
		    "not be recorded: %s", signet_strerror(r));
		goto out;
	}
	const char *id = json_string_value(json_object_get(rec, "id"));
	log_info("api: %s submitted %s (%s/%s, %s, %llu bytes)", a->identity,
	    id, project, slug, f.sha256, (unsigned long long)f.size);
	api_after_commit(a, rec);
	snprintf(loc, sizeof(loc), "Location: /api/v1/signing-requests/%s", id);
	http_json(a->c, 201, request_api(rec), loc);
out:
	store_txn_abort(&t);
	json_decref(policy);
	json_decref(ev);
	json_decref(rec);
	/* the rest of a body refused early is not read: CivetWeb would
	 * otherwise drain it, however large, before the next request */
	if (!body_read)
		http_close(a->c);
	/* a submission refused early still holds its token */
	origin_forget_token(f.origin);
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
	store_txn_abort(&t);
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
api_get(struct api *a)
{
	const char *id = a->seg[1];
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
	char submitter[CATALOG_MAX_NAME + 1], original[REQUEST_ID_LEN + 1];
	int has_status, has_project, has_policy, has_size, has_cursor, r;
	int has_submitter, has_original;
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
	    api_query(a, "cursor", cursor, sizeof(cursor), &has_cursor) ||
	    api_query(a, "submitter", submitter, sizeof(submitter),
	    &has_submitter) ||
	    api_query(a, "originalSigningRequestId", original,
	    sizeof(original), &has_original))
		return;
	/* a value that cannot name anyone is a mistake to report, not a
	 * filter that quietly matches nothing */
	if (has_submitter && !catalog_valid_name(submitter)) {
		http_error(a->c, 400, "invalid_query", "submitter must be the "
		    "name of a user or CI identity: 1-%d letters, digits, '-', "
		    "'_', '.', '@'", CATALOG_MAX_NAME);
		return;
	}
	if (has_original && !request_valid_id(original)) {
		http_error(a->c, 400, "invalid_query", "originalSigningRequestId "
		    "must be a signing request id (a lowercase UUID such as "
		    "0f8fad5b-d9cb-469f-a165-70867728950e)");
		return;
	}
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
	f.submitter = has_submitter ? submitter : NULL;
	f.original_id = has_original ? original : NULL;
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
	store_txn_abort(&t);
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
api_download(struct api *a)
{
	const char *id = a->seg[1];
	int signed_artifact = strcmp(a->seg[2], "signed-artifact") == 0;
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
api_certificate(struct api *a)
{
	const char *project = a->seg[1], *slug = a->seg[3];
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
	store_txn_abort(&t);
	json_decref(policy);
	json_decref(cert);
}

static void
api_decide(struct api *a)
{
	const char *id = a->seg[1], *what = a->seg[2];
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
api_resubmit(struct api *a)
{
	const char *id = a->seg[1];
	json_t *body = NULL, *rec = NULL;
	char msg[512] = "", loc[128];	/* origin rules say what they saw */
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
const struct api_route api_request_routes[] = {
	{ "POST", 1, { "signing-requests" }, 0, api_submit },
	{ "GET", 1, { "signing-requests" }, 0, api_list },
	{ "GET", 2, { "signing-requests", "*" }, 0, api_get },
	{ "GET", 3, { "signing-requests", "*", "unsigned-artifact" }, 0,
	    api_download },
	{ "GET", 3, { "signing-requests", "*", "signed-artifact" }, 0,
	    api_download },
	{ "POST", 3, { "signing-requests", "*", "approve" }, 0, api_decide },
	{ "POST", 3, { "signing-requests", "*", "deny" }, 0, api_decide },
	{ "POST", 3, { "signing-requests", "*", "cancel" }, 0, api_decide },
	{ "POST", 3, { "signing-requests", "*", "resubmit" }, 0, api_resubmit },
	{ "GET", 5, { "projects", "*", "signing-policies", "*", "certificate" },
	    0, api_certificate },
	{ NULL, 0, { NULL }, 0, NULL },
};
