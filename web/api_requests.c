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
#include <openssl/evp.h>

#include "ac_pe.h"
#include "api.h"
#include "authenticode.h"
#include "app.h"
#include "audit.h"
#include "catalog.h"
#include "events.h"
#include "form.h"
#include "format.h"
#include "hashreq.h"
#include "http.h"
#include "log.h"
#include "metrics.h"
#include "multipart.h"
#include "notify.h"
#include "num.h"
#include "origin.h"
#include "request.h"
#include "signer.h"
#include "signet_limits.h"
#include "users.h"
#include "wbuf.h"
#include "workflow.h"



/* --- submit ---------------------------------------------------------- */

static int
api_part(void *arg, const char *name, const char *filename)
{
	return form_field(arg, name, filename);
}

static int
api_part_data(void *arg, const void *p, size_t n)
{
	return form_data(arg, p, n);
}

struct api_submit_check {
	struct api *a;
	time_t now;
	struct workflow_policy_facts facts;
	/* a PE image's Authenticode digest, computed while it streams in */
	struct ac_pe_stream *pe;
};

static int
api_pe_tap(void *arg, const void *p, size_t n)
{
	return ac_pe_stream_update(arg, p, n);
}

/* The artifact part begins: the fields before it name the project and
 * the policy, and the caller's right to submit there (and the origin)
 * is checked before a byte of the artifact is stored. */
static int
api_submit_check(struct form *f, void *arg)
{
	struct api_submit_check *sc = arg;
	const char *conf = form_get(f, "artifactConfigurationSlug"), *code;
	char msg[512];	/* origin rules say what they saw */
	int r;

	if (conf == NULL || *conf == '\0')
		conf = format_default()->slug;
	r = workflow_submit_check(sc->a->app->store, &sc->a->who,
	    form_get(f, "projectSlug"), form_get(f, "signingPolicySlug"), conf,
	    f->origin, sc->now, &sc->facts, &code, msg, sizeof(msg));
	if (r != 0) {
		api_workflow_error(sc->a, r, code, msg);
		return -1;
	}
	/* a PE image (or what may be one) is digested in the same pass as
	 * its SHA-256: the file is read once at submission */
	if ((strcmp(conf, ac_pe_format.slug) == 0 ||
	    (format_find(conf) != NULL && format_find(conf)->pick)) &&
	    ac_md_by_name(sc->facts.digest_algorithm) != NULL) {
		if (ac_pe_stream_new(ac_md_by_name(sc->facts.digest_algorithm),
		    &sc->pe) != 0) {
			http_error(sc->a->c, 503, "internal", "out of memory");
			return -1;
		}
		form_set_tap(f, api_pe_tap, sc->pe);
	}
	return 0;
}

/* The structure of an Authenticode file checked while it is still an
 * unfinished upload, its Authenticode digest computed (format_check);
 * for other formats nothing is read. 0, or the client has its answer:
 * 422 naming what is wrong with the file. */
static int
api_submit_file(struct api *a, struct form *f, const char *conf,
    const char *alg, const struct format_streamed *st,
    const struct format **resolved, char dhex[2 * EVP_MAX_MD_SIZE + 1])
{
	const struct format *fmt = format_find(conf);
	unsigned char dg[EVP_MAX_MD_SIZE];
	char msg[320];
	size_t dlen = 0, i;
	int fd = -1, r;

	*resolved = fmt;
	dhex[0] = '\0';
	if (fmt == NULL || (fmt->ac == NULL && !fmt->pick) || f->upload == NULL)
		return 0;
	if ((r = cas_upload_open_read(f->upload, &fd)) != 0) {
		(void)form_storage_failed(f, r);
		http_error(a->c, f->status, f->code, "%s", f->message);
		return -1;
	}
	r = format_check(conf, fd, cas_upload_size(f->upload),
	    alg[0] ? alg : NULL, st, resolved, dg, &dlen, msg, sizeof(msg));
	close(fd);
	if (r == SIGNET_ERR_TOO_LARGE) {
		http_error(a->c, 413, "artifact_too_large", "%s", msg);
		return -1;
	}
	if (r != 0) {
		http_error(a->c, r == SIGNET_ERR_IO || r == SIGNET_ERR_NOMEM ?
		    503 : 422, "invalid_artifact", "%s", msg);
		return -1;
	}
	for (i = 0; i < dlen; i++)
		snprintf(dhex + 2 * i, 3, "%02x", dg[i]);
	return 0;
}

static void
api_submit(struct api *a)
{
	struct api_submit_check sc;
	struct format_streamed st;
	int body_read = 0, counted = 0;
	struct form f;
	struct multipart_handler mh = { api_part, api_part_data, &f };
	char boundary[MULTIPART_MAX_BOUNDARY + 1];
	struct workflow_submission sub;
	json_t *rec = NULL;
	const char *ctype, *project, *slug, *conf, *code, *idem, *fkey;
	const struct format *resolved = NULL;
	int repeated = 0;
	unsigned queue_max, depth;
	char loc[128], msg[512];	/* origin rules say what they saw */
	char dhex[2 * EVP_MAX_MD_SIZE + 1] = "";
	int r;
	uint64_t max = a->app->cfg.max_artifact_size;
	/* one moment for both checks: the token is judged once */
	time_t now = time(NULL);

	form_init(&f, a->app->cas, max);
	memset(&sc, 0, sizeof(sc));
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
	/* counted before the look at draining, which drain() sets before
	 * it looks at the count (both sequentially consistent): either this
	 * upload is refused or the drain waits for it */
	__atomic_add_fetch(&a->app->uploads, 1, __ATOMIC_SEQ_CST);
	counted = 1;
	if (__atomic_load_n(&a->app->draining, __ATOMIC_SEQ_CST)) {
		char ra[48];

		snprintf(ra, sizeof(ra), "Retry-After: %d",
		    SIGNET_QUEUE_RETRY_AFTER_S);
		http_json(a->c, 503, json_pack("{s:s, s:s}", "error",
		    "stopping", "message", "the appliance is stopping; submit "
		    "again after Retry-After seconds"), ra);
		goto out;
	}
	/* back-pressure: above [signer] max_queue a submission is refused
	 * before its body is read; approvals and the console go on */
	queue_max = __atomic_load_n(&a->app->cfg.max_queue, __ATOMIC_RELAXED);
	if (queue_max > 0 && (depth = signer_depth(a->app->signer)) >=
	    queue_max) {
		char ra[48];

		snprintf(ra, sizeof(ra), "Retry-After: %d",
		    SIGNET_QUEUE_RETRY_AFTER_S);
		http_json(a->c, 503, json_pack("{s:s, s:s}", "error",
		    "queue_full", "message", "the signing queue is full "
		    "([signer] max_queue); submit again after Retry-After "
		    "seconds"), ra);
		log_warn("api: %s refused: %u requests queued, max_queue %u",
		    a->identity, depth, queue_max);
		metrics_count(METRICS_SUBMISSIONS_REFUSED_QUEUE);
		goto out;
	}
	ctype = mg_get_header(a->c, "Content-Type");
	if (ctype == NULL || strncasecmp(ctype, "multipart/form-data", 19) != 0) {
		http_error(a->c, 415, "unsupported_media_type", "send a "
		    "multipart/form-data body (curl: -F projectSlug=... "
		    "-F artifact=@FILE)");
		goto out;
	}
	if (multipart_boundary(ctype, boundary, msg, sizeof(msg)) != 0) {
		http_error(a->c, 400, "invalid_form", "%s", msg);
		goto out;
	}
	http_continue(a->c);
	r = multipart_parse(boundary, http_body_read, a->c, &mh, msg,
	    sizeof(msg));
	if (f.status == 0 && r != 0)
		form_fail_parse(&f, r, msg);
	if (f.status != 0 || form_end(&f) != 0) {
		form_discard_upload(&f);
		if (f.status == 507)
			metrics_count(METRICS_SUBMISSIONS_REFUSED_STORAGE);
		if (!f.answered)
			http_error(a->c, f.status, f.code, "%s", f.message);
		goto out;
	}
	body_read = 1;
	project = form_get(&f, "projectSlug");
	slug = form_get(&f, "signingPolicySlug");
	conf = form_get(&f, "artifactConfigurationSlug");
	if (conf == NULL || *conf == '\0')
		conf = format_default()->slug;
	if (project == NULL || *project == '\0') {
		form_discard_upload(&f);
		http_error(a->c, 400, "missing_field", "projectSlug is required");
		goto out;
	}
	if (slug == NULL || *slug == '\0') {
		form_discard_upload(&f);
		http_error(a->c, 400, "missing_field", "signingPolicySlug is "
		    "required");
		goto out;
	}
	if (f.upload == NULL) {
		form_discard_upload(&f);
		http_error(a->c, 400, "missing_field", "no artifact: send the "
		    "file as form field 'artifact'");
		goto out;
	}
	/* an embedded signature's file is checked before it is kept: a
	 * malformed one is answered here and leaves nothing behind */
	if (sc.pe != NULL) {
		struct ac_msg pm = { "" };

		memset(&st, 0, sizeof(st));
		if ((r = cas_upload_flush(f.upload)) != 0) {
			(void)form_storage_failed(&f, r);
			form_discard_upload(&f);
			http_error(a->c, f.status, f.code, "%s", f.message);
			goto out;
		}
		st.ac = &ac_pe_format;
		st.r = ac_pe_stream_final(sc.pe, st.digest, &pm);
		snprintf(st.msg, sizeof(st.msg), "%s", pm.text);
		st.recorded[0] = '\0';
		if (st.r == 0 && ac_pe_stream_sums(sc.pe, st.recorded,
		    sizeof(st.recorded)) != 0)
			st.recorded[0] = '\0';
	}
	if (api_submit_file(a, &f, conf, sc.facts.digest_algorithm,
	    sc.pe != NULL ? &st : NULL, &resolved, dhex) != 0) {
		form_discard_upload(&f);
		goto out;
	}
	/* api_submit_check passed when the artifact began; it is checked
	 * again below, in the transaction that records the request */
	if (form_finish(&f) != 0) {
		form_discard_upload(&f);
		http_error(a->c, f.status, f.code, "%s", f.message);
		goto out;
	}
	memset(&sub, 0, sizeof(sub));
	sub.project = project;
	sub.policy = slug;
	sub.artifact_configuration = conf;
	sub.description = form_get(&f, "description");
	sub.parameters = f.parameters;
	sub.origin = f.origin;
	sub.artifact_name = f.artifact_name;
	sub.artifact_sha256 = f.sha256;
	sub.artifact_size = f.size;
	sub.artifact_held = f.held;
	sub.now = now;
	if (resolved != NULL && resolved->ac != NULL) {
		sub.ac_format = resolved->slug;
		sub.ac_digest_algorithm = sc.facts.digest_algorithm;
		sub.ac_digest = dhex;
		/* the stream's notes are of the PE image it read */
		if (sc.pe != NULL && st.r == 0 && resolved->ac == st.ac)
			sub.ac_recorded = st.recorded;
	}
	sub.owed_bytes = (uint64_t)signer_depth(a->app->signer) *
	    SIGNET_STORE_RESULT_BYTES;
	/* a client's retry names its first try (header or field) */
	idem = mg_get_header(a->c, "Idempotency-Key");
	fkey = form_get(&f, "idempotencyKey");
	if (idem != NULL && fkey != NULL && *fkey != '\0' &&
	    strcmp(idem, fkey) != 0) {
		if (workflow_discard_artifact(a->app->store, a->app->cas,
		    f.sha256) != 0)
			log_warn("api: %s stays until the next start", f.sha256);
		http_error(a->c, 400, "invalid_idempotency_key", "the "
		    "Idempotency-Key header and the idempotencyKey field "
		    "differ; send one");
		goto out;
	}
	sub.idempotency_key = idem != NULL ? idem :
	    fkey != NULL && *fkey != '\0' ? fkey : NULL;
	sub.repeated = &repeated;
	if ((r = workflow_submit(a->app->store, &a->who, &sub, &rec, &code,
	    msg, sizeof(msg))) != 0) {
		if (r == SIGNET_ERR_STORAGE_FULL)
			metrics_count(METRICS_SUBMISSIONS_REFUSED_STORAGE);
		/* stored but not recorded: nothing refers to it */
		if (workflow_discard_artifact(a->app->store, a->app->cas,
		    f.sha256) != 0)
			log_warn("api: %s stays until the next start", f.sha256);
		api_workflow_error(a, r, code, msg);
		goto out;
	}
	const char *id = json_string_value(json_object_get(rec, "id"));
	if (repeated) {
		log_info("api: %s repeated %s (idempotency key)", a->identity,
		    id);
		snprintf(loc, sizeof(loc), "Location: /api/v1/signing-requests/"
		    "%s", id);
		http_json(a->c, 200, request_api(rec), loc);
		goto out;
	}
	log_info("api: %s submitted %s (%s/%s, %s, %llu bytes)", a->identity,
	    id, project, slug, f.sha256, (unsigned long long)f.size);
	api_after_commit(a, rec);
	snprintf(loc, sizeof(loc), "Location: /api/v1/signing-requests/%s", id);
	http_json(a->c, 201, request_api(rec), loc);
out:
	json_decref(rec);
	/* the rest of a body refused early is not read: CivetWeb would
	 * otherwise drain it, however large, before the next request */
	if (!body_read)
		http_close(a->c);
	/* a submission refused early still holds its token */
	origin_forget_token(f.origin);
	form_free(&f);
	ac_pe_stream_free(sc.pe);
	if (counted)
		__atomic_sub_fetch(&a->app->uploads, 1, __ATOMIC_SEQ_CST);
}

/* --- hash signing ---------------------------------------------------- */

/* POST /api/v1/projects/P/signing-policies/S/hash-signing-requests: a
 * digest the build machine computed (the PKCS#11 module's C_Sign), with
 * what it says about the file and its origin. The request goes through
 * the same rules, approvals, audit and notifications as an upload; no
 * artifact is stored, and the signer signs the digest. */
static void
api_submit_hash(struct api *a)
{
	struct workflow_submission sub;
	json_t *body = NULL, *hash = NULL, *origin = NULL, *rec = NULL;
	const char *code = NULL, *id;
	char loc[128], msg[512];
	int r;

	if (api_small_body(a, &body) != 0)
		return;
	if ((r = hashreq_parse(body, &hash, &origin, msg, sizeof(msg))) != 0) {
		api_workflow_error(a, r, NULL, msg);
		goto out;
	}
	memset(&sub, 0, sizeof(sub));
	sub.project = a->seg[1];
	sub.policy = a->seg[3];
	sub.artifact_configuration = FORMAT_HASH_SLUG;
	sub.description = api_str(body, "description");
	sub.origin = origin;
	sub.hash = hash;
	sub.now = time(NULL);
	if ((r = workflow_submit(a->app->store, &a->who, &sub, &rec, &code,
	    msg, sizeof(msg))) != 0) {
		api_workflow_error(a, r, code, msg);
		goto out;
	}
	id = json_string_value(json_object_get(rec, "id"));
	log_info("api: %s submitted hash request %s (%s/%s, %s %s)",
	    a->identity, id, sub.project, sub.policy, api_str(hash,
	    "algorithm"), api_str(hash, "digest"));
	api_after_commit(a, rec);
	snprintf(loc, sizeof(loc), "Location: /api/v1/signing-requests/%s", id);
	http_json(a->c, 201, request_api(rec), loc);
out:
	/* shared with body: one wipe covers both */
	origin_forget_token(origin);
	json_decref(rec);
	json_decref(hash);
	json_decref(origin);
	json_decref(body);
}

/* --- read ------------------------------------------------------------ */

/* Loads a request the caller may see; 404 for one it may not (its
 * existence is not revealed). */
static int
api_load_request(struct api *a, const char *id, json_t **rec)
{
	char msg[256];
	int r;

	if ((r = workflow_read(a->app->store, &a->who, id, rec, msg,
	    sizeof(msg))) != 0) {
		api_workflow_error(a, r, NULL, msg);
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
	json_t *items = NULL;

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
		if (num_parse_long(size, 1, SIGNET_MAX_PAGE_SIZE, &page) != 0) {
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
	r = workflow_list_visible(a->app->store, &a->who, &f, (size_t)page,
	    has_cursor ? cursor : "", &items, next);
	if (r == SIGNET_ERR_INVALID) {
		http_error(a->c, 400, "invalid_query", "cursor is not one this "
		    "server returned as nextCursor");
		return;
	}
	if (r != 0) {
		api_fail(a, r, "listing signing requests");
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

	if ((r = request_artifact_open(a->app->store, a->app->cas, hex, &fd,
	    &size)) != 0) {
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

/* The media type of a request's signed output: recorded with it, or (for
 * requests signed before it was recorded) its format's. */
static const char *
api_signed_media_type(const json_t *rec)
{
	const struct format *f;
	const char *t = json_string_value(json_object_get(json_object_get(rec,
	    "signedArtifact"), "mediaType"));

	if (t != NULL)
		return t;
	f = format_find(json_string_value(json_object_get(rec,
	    "artifactConfigurationSlug")));
	return (f != NULL ? f : format_default())->media_type;
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
	if (request_is_hash(rec)) {
		http_error(a->c, 409, "hash_request", "request %s is a hash "
		    "signing request: the appliance never had the file, and "
		    "its signature is hash.signature in the request (GET "
		    "/api/v1/signing-requests/%s)", id, id);
	} else if (json_object_get(rec, "artifactsRemovedAt") != NULL) {
		http_error(a->c, 410, "artifact_removed", "the artifacts of "
		    "request %s were removed at %s ([store] retention); its "
		    "record and digests are kept", id, json_string_value(
		    json_object_get(rec, "artifactsRemovedAt")));
	} else if (!json_is_object(art)) {
		http_error(a->c, 409, "not_signed", "request %s is %s; the "
		    "signed artifact exists once it is Completed", id,
		    json_string_value(json_object_get(rec, "workflowStatus")));
	} else {
		api_send_file(a, json_string_value(json_object_get(art,
		    "sha256")), json_string_value(json_object_get(art, "name")),
		    signed_artifact ? api_signed_media_type(rec) :
		    "application/octet-stream");
	}
	json_decref(rec);
}

static void
api_certificate(struct api *a)
{
	const char *project = a->seg[1], *slug = a->seg[3], *code;
	char *pem = NULL, len[32], msg[256];
	int r;

	if ((r = workflow_policy_chain(a->app->store, &a->who, project, slug,
	    &pem, &code, msg, sizeof(msg))) != 0) {
		api_workflow_error(a, r, code, msg);
		return;
	}
	mg_response_header_start(a->c, 200);
	mg_response_header_add(a->c, "Content-Type",
	    "application/pem-certificate-chain", -1);
	snprintf(len, sizeof(len), "%zu", strlen(pem));
	mg_response_header_add(a->c, "Content-Length", len, -1);
	http_common_headers(a->c);
	mg_response_header_send(a->c);
	mg_write(a->c, pem, strlen(pem));
	free(pem);
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
		api_workflow_error(a, r, NULL, msg);
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
		api_workflow_error(a, r, NULL, msg);
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
/* The signature formats this appliance signs (the registry in
 * appliance/sign/formats/format.c): what policies may list as artifact
 * configurations. */
static void
api_formats(struct api *a)
{
	json_t *items = json_array(), *it;
	size_t i;

	for (i = 0; items != NULL && i < format_count(); i++) {
		const struct format *f = format_at(i);

		it = json_pack("{s:s, s:s, s:s, s:s, s:b}", "slug", f->slug,
		    "extension", f->extension, "mediaType", f->media_type,
		    "title", f->title, "default", f == format_default());
		if (it == NULL || json_array_append_new(items, it) != 0) {
			json_decref(items);
			items = NULL;
		}
	}
	if (items == NULL) {
		api_fail(a, SIGNET_ERR_NOMEM, "listing the signature formats");
		return;
	}
	http_json(a->c, 200, json_pack("{s:o}", "items", items), NULL);
}

const struct api_route api_request_routes[] = {
	{ "GET", 1, { "signature-formats" }, 0, api_formats },
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
	{ "POST", 5, { "projects", "*", "signing-policies", "*",
	    "hash-signing-requests" }, 0, api_submit_hash },
	{ NULL, 0, { NULL }, 0, NULL },
};
