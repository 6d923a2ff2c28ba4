#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/x509.h>

#include "catalog.h"
#include "events.h"
#include "format.h"
#include "hashreq.h"
#include "log.h"
#include "origin.h"
#include "pki.h"
#include "request.h"
#include "signet_limits.h"
#include "users.h"
#include "workflow.h"

int
workflow_is_admin(const struct principal *p)
{
	return p->user != NULL && users_has_role(p->user, ROLE_ADMIN);
}

int
workflow_is_auditor(const struct principal *p)
{
	return p->user != NULL && users_has_role(p->user, ROLE_AUDITOR);
}

int
workflow_may_read(struct store_txn *t, const struct principal *p,
    const char *project)
{
	if (workflow_is_admin(p) || workflow_is_auditor(p))
		return 1;
	return catalog_may_read_project(t, project, p->name);
}

int
workflow_get_visible(struct store_txn *t, const struct principal *p,
    const char *id, json_t **rec, char *msg, size_t len)
{
	int r;

	*rec = NULL;
	if ((r = request_get(t, id, rec)) == 0 && !workflow_may_read(t, p,
	    json_string_value(json_object_get(*rec, "projectSlug")))) {
		json_decref(*rec);
		*rec = NULL;
		r = SIGNET_ERR_NOT_FOUND;
	}
	if (r == SIGNET_ERR_NOT_FOUND)
		return signet_errf(msg, len, r, "there is no signing request "
		    "'%.40s' visible to you", id);
	if (r != 0)
		return signet_errf(msg, len, r, "signing request '%.40s' "
		    "cannot be read: %s", id, signet_strerror(r));
	return 0;
}

int
workflow_read(struct store *s, const struct principal *p, const char *id,
    json_t **rec, char *msg, size_t len)
{
	struct store_txn *t = NULL;
	int r;

	*rec = NULL;
	if ((r = store_txn_begin(s, 0, &t)) != 0)
		return signet_errf(msg, len, r, "the database is not "
		    "available: %s", signet_strerror(r));
	r = workflow_get_visible(t, p, id, rec, msg, len);
	store_txn_abort(&t);
	return r;
}

struct workflow_vis {
	struct store_txn *t;
	const struct principal *p;
	json_t *cache;	/* project → true/false */
};

static int
workflow_visible(const json_t *rec, void *arg)
{
	struct workflow_vis *v = arg;
	const char *prj = json_string_value(json_object_get(rec,
	    "projectSlug"));
	json_t *hit;
	int ok;

	if (prj == NULL)
		return 0;
	if ((hit = json_object_get(v->cache, prj)) != NULL)
		return json_is_true(hit);
	ok = workflow_may_read(v->t, v->p, prj);
	json_object_set_new(v->cache, prj, json_boolean(ok));
	return ok;
}

int
workflow_list_visible(struct store *s, const struct principal *p,
    struct request_filter *f, size_t page_size, const char *cursor,
    json_t **items, char *next)
{
	struct store_txn *t = NULL;
	struct workflow_vis vis;
	int r;

	*items = NULL;
	next[0] = '\0';
	if ((r = store_txn_begin(s, 0, &t)) != 0)
		return r;
	vis.t = t;
	vis.p = p;
	if ((vis.cache = json_object()) == NULL) {
		store_txn_abort(&t);
		return SIGNET_ERR_NOMEM;
	}
	f->visible = workflow_visible;
	f->arg = &vis;
	r = request_list(t, f, page_size, cursor, items, next);
	f->visible = NULL;
	f->arg = NULL;
	store_txn_abort(&t);
	json_decref(vis.cache);
	return r;
}

int
workflow_policy_chain(struct store *s, const struct principal *p,
    const char *project, const char *slug, char **pem, const char **code,
    char *msg, size_t len)
{
	struct store_txn *t = NULL;
	json_t *policy = NULL, *cert = NULL;
	const char *chain;
	int r;

	*pem = NULL;
	*code = NULL;
	if ((r = store_txn_begin(s, 0, &t)) != 0)
		return signet_errf(msg, len, r, "the database is not "
		    "available: %s", signet_strerror(r));
	if (!workflow_may_read(t, p, project) ||
	    catalog_get_policy(t, project, slug, &policy) != 0) {
		*code = "policy_not_found";
		r = signet_errf(msg, len, SIGNET_ERR_NOT_FOUND, "there is no "
		    "signing policy '%.64s/%.64s' visible to you", project,
		    slug);
		goto out;
	}
	if (catalog_get_certificate(t, json_string_value(json_object_get(
	    policy, "certificate")), &cert) != 0 ||
	    (chain = json_string_value(json_object_get(cert, "chainPem"))) ==
	    NULL) {
		*code = "certificate_not_found";
		r = signet_errf(msg, len, SIGNET_ERR_NOT_FOUND, "signing "
		    "policy '%s/%s' has no certificate", project, slug);
		goto out;
	}
	r = (*pem = strdup(chain)) != NULL ? 0 : SIGNET_ERR_NOMEM;
out:
	store_txn_abort(&t);
	json_decref(policy);
	json_decref(cert);
	return r;
}

/* The request, if the principal may see it (workflow_get_visible). */
static int
workflow_load(struct store_txn *t, const struct principal *p, const char *id,
    json_t **rec, char *msg, size_t len)
{
	return workflow_get_visible(t, p, id, rec, msg, len);
}

static int
workflow_same(const json_t *who, const struct principal *p)
{
	const char *type = json_string_value(json_object_get(who, "type"));
	const char *name = json_string_value(json_object_get(who, "name"));

	/* a principal is its type and its name: never the name alone */
	return type != NULL && name != NULL && strcmp(type, p->type) == 0 &&
	    strcmp(name, p->name) == 0;
}

static int
workflow_comment(const char *comment, char *msg, size_t len)
{
	size_t i;

	if (comment == NULL)
		return 0;
	if (strlen(comment) > WORKFLOW_MAX_COMMENT)
		return signet_errf(msg, len, SIGNET_ERR_INVALID, "comment is "
		    "longer than %d bytes", WORKFLOW_MAX_COMMENT);
	for (i = 0; comment[i] != '\0'; i++)
		if ((unsigned char)comment[i] < 0x20 && comment[i] != '\n' &&
		    comment[i] != '\r' && comment[i] != '\t')
			return signet_errf(msg, len, SIGNET_ERR_INVALID,
			    "comment contains control characters");
	return 0;
}

/* The start of a decision: the comment is acceptable, and the request
 * is loaded, for the principal to see, in a write transaction. */
static int
workflow_begin(struct store *s, const struct principal *p, const char *id,
    const char *comment, struct store_txn **t, json_t **rec, char *msg,
    size_t len)
{
	int r;

	if ((r = workflow_comment(comment, msg, len)) != 0)
		return r;
	if ((r = store_txn_begin(s, 1, t)) != 0)
		return r;
	return workflow_load(*t, p, id, rec, msg, len);
}

/* Records the change (audit entry, notifications) and commits it with
 * the request; hands the request to the caller. t is consumed. */
static int
workflow_commit(struct store_txn **t, json_t **rec, const struct principal *p,
    const char *action, const json_t *details, json_t **out)
{
	int r;

	if ((r = events_request(*t, *rec, p->type, p->name, action,
	    details)) != 0) {
		store_txn_abort(t);
		return r;
	}
	if ((r = store_txn_commit(t)) != 0)
		return r;
	*out = *rec;
	*rec = NULL;
	return 0;
}

/* The number of distinct users who approved: a principal is its type
 * and its name together, and only users count (README "Approvals"). */
static size_t
workflow_approvers(const json_t *approvals)
{
	const json_t *a, *b, *by;
	size_t i, j, n = 0;
	int seen;

	json_array_foreach(approvals, i, a) {
		by = json_object_get(a, "by");
		if (!json_is_string(json_object_get(a, "decision")) ||
		    strcmp(json_string_value(json_object_get(a, "decision")),
		    "approved") != 0 || !json_is_string(json_object_get(by,
		    "name")) || !json_is_string(json_object_get(by, "type")) ||
		    strcmp(json_string_value(json_object_get(by, "type")),
		    "user") != 0)
			continue;
		seen = 0;
		for (j = 0; j < i && !seen; j++) {
			b = json_array_get(approvals, j);
			seen = json_is_string(json_object_get(b, "decision")) &&
			    strcmp(json_string_value(json_object_get(b,
			    "decision")), "approved") == 0 &&
			    json_equal(json_object_get(b, "by"), by);
		}
		if (!seen)
			n++;
	}
	return n;
}

int
workflow_may_decide(struct store_txn *t, const struct principal *p,
    const json_t *rec, char *msg, size_t len)
{
	const char *id = json_string_value(json_object_get(rec, "id"));
	const char *w = json_string_value(json_object_get(rec,
	    "workflowStatus"));
	const char *project = json_string_value(json_object_get(rec,
	    "projectSlug"));
	const char *slug = json_string_value(json_object_get(rec,
	    "signingPolicySlug"));
	json_t *policy = NULL, *a;
	size_t i;
	int r;

	if (project == NULL || slug == NULL ||
	    catalog_get_policy(t, project, slug, &policy) != 0)
		return signet_errf(msg, len, SIGNET_ERR_CONFLICT, "signing "
		    "policy %s/%s no longer exists", project ? project : "?",
		    slug ? slug : "?");
	/* approvers are users: a person, or a release-management system's
	 * service account with a bearer token; a CI identity's
	 * certificate stands for a build, never for an approver, whatever
	 * its name */
	if (strcmp(p->type, "user") != 0 || p->user == NULL) {
		r = signet_errf(msg, len, SIGNET_ERR_FORBIDDEN, "CI identity "
		    "'%s' cannot approve or deny: decisions are made by users "
		    "(a person, or a service account with a bearer token from "
		    "POST /api/v1/sessions)", p->name);
		goto out;
	}
	if (!catalog_policy_lists(policy, "approvers", p->name)) {
		r = signet_errf(msg, len, SIGNET_ERR_FORBIDDEN, "'%s' is not "
		    "an approver of signing policy %s/%s", p->name, project,
		    slug);
		goto out;
	}
	if (w == NULL || strcmp(w, RQ_WAITING) != 0) {
		r = signet_errf(msg, len, SIGNET_ERR_CONFLICT, "request %s is "
		    "%s; only requests waiting for approval can be decided",
		    id ? id : "?", w ? w : "in no known status");
		goto out;
	}
	if (workflow_same(json_object_get(rec, "submitter"), p)) {
		r = signet_errf(msg, len, SIGNET_ERR_FORBIDDEN, "the submitter "
		    "of a request cannot decide on it; another approver must");
		goto out;
	}
	json_array_foreach(json_object_get(rec, "approvals"), i, a) {
		if (workflow_same(json_object_get(a, "by"), p)) {
			r = signet_errf(msg, len, SIGNET_ERR_CONFLICT, "'%s' "
			    "has already decided on request %s", p->name,
			    id ? id : "?");
			goto out;
		}
	}
	r = 0;
out:
	json_decref(policy);
	return r;
}

int
workflow_decide(struct store *s, const struct principal *p, const char *id,
    int approve, const char *comment, json_t **out, char *msg, size_t len)
{
	struct store_txn *t = NULL;
	json_t *rec = NULL, *approvals, *a, *d = NULL;
	char now[32];
	size_t approved = 0;
	int r;

	*out = NULL;
	if ((r = workflow_begin(s, p, id, comment, &t, &rec, msg, len)) != 0)
		goto out;
	if ((r = workflow_may_decide(t, p, rec, msg, len)) != 0)
		goto out;
	approvals = json_object_get(rec, "approvals");
	request_now(now, NULL);
	/* the decision is bound to the artifact it was made over */
	a = json_pack("{s:s, s:{s:s, s:s}, s:s, s:s?, s:O?}",
	    "decision", approve ? "approved" : "denied",
	    "by", "type", p->type, "name", p->name,
	    "at", now, "comment", comment,
	    "artifactSha256", json_object_get(json_object_get(rec,
	    "unsignedArtifact"), "sha256"));
	/* a hash request's decision is bound to the digest it states */
	if (a != NULL && request_is_hash(rec))
		json_object_set(a, "hashDigest", json_object_get(
		    json_object_get(rec, "hash"), "digest"));
	if (a == NULL || json_array_append_new(approvals, a) != 0) {
		r = SIGNET_ERR_NOMEM;
		goto out;
	}
	approved = workflow_approvers(approvals);
	if (!approve)
		r = request_transition(t, rec, RQ_DENIED, NULL);
	else if ((json_int_t)approved >= json_integer_value(json_object_get(
	    rec, "requiredApprovals")))
		r = request_transition(t, rec, RQ_QUEUED, NULL);
	else
		r = request_put(t, rec);
	if (r != 0)
		goto out;
	d = json_pack("{s:s?}", "comment", comment);
	r = workflow_commit(&t, &rec, p, approve ?
	    "signing-request.approved" : "signing-request.denied", d, out);
out:
	store_txn_abort(&t);
	json_decref(d);
	json_decref(rec);
	return r;
}

int
workflow_cancel(struct store *s, const struct principal *p, const char *id,
    const char *comment, json_t **out, char *msg, size_t len)
{
	struct store_txn *t = NULL;
	json_t *rec = NULL, *d = NULL;
	const char *w;
	int r;

	*out = NULL;
	if ((r = workflow_begin(s, p, id, comment, &t, &rec, msg, len)) != 0)
		goto out;
	if (!workflow_same(json_object_get(rec, "submitter"), p) &&
	    !workflow_is_admin(p)) {
		r = signet_errf(msg, len, SIGNET_ERR_FORBIDDEN, "only the "
		    "submitter or an administrator can cancel request %s", id);
		goto out;
	}
	w = json_string_value(json_object_get(rec, "workflowStatus"));
	/* once a worker has taken it, the signature is being made */
	if (strcmp(w, RQ_WAITING) != 0 && strcmp(w, RQ_QUEUED) != 0) {
		r = signet_errf(msg, len, SIGNET_ERR_CONFLICT, "request %s is "
		    "%s; only requests not yet being signed can be canceled",
		    id, w);
		goto out;
	}
	if ((r = request_transition(t, rec, RQ_CANCELED, NULL)) != 0)
		goto out;
	d = json_pack("{s:s?}", "comment", comment);
	r = workflow_commit(&t, &rec, p,
	    "signing-request.canceled", d, out);
out:
	store_txn_abort(&t);
	json_decref(d);
	json_decref(rec);
	return r;
}

/* Whether orig may be resubmitted to policy slug: it is final (a request
 * still waiting could be signed twice, once per policy), and neither it
 * nor any request it was resubmitted from was denied under that policy.
 * A deny is the approvers' decision on these bytes for that policy; a
 * chain through another policy must not turn it into a fresh request
 * (P denies A; B = A resubmitted to Q; B resubmitted to P is refused).
 * Final statuses never change, so walking the chain now is enough. */
static int
workflow_may_resubmit(struct store_txn *t, const json_t *orig,
    const char *slug, char *msg, size_t len)
{
	const char *id = json_string_value(json_object_get(orig, "id"));
	const char *w = json_string_value(json_object_get(orig,
	    "workflowStatus"));
	const char *project = json_string_value(json_object_get(orig,
	    "projectSlug"));
	const char *next, *cid, *cpol, *cw;
	json_t *cur = NULL, *up = NULL;
	int depth, r;

	if (w == NULL || !request_is_final(w))
		return signet_errf(msg, len, SIGNET_ERR_CONFLICT, "request %s "
		    "is %s: only a request in a final status (Completed, "
		    "Failed, Denied, Canceled) can be resubmitted. Wait until "
		    "it is decided and signed, or cancel it first", id,
		    w ? w : "in no known status");
	cur = json_incref((json_t *)(uintptr_t)orig);
	for (depth = 0; cur != NULL; depth++) {
		cid = json_string_value(json_object_get(cur, "id"));
		cpol = json_string_value(json_object_get(cur,
		    "signingPolicySlug"));
		cw = json_string_value(json_object_get(cur, "workflowStatus"));
		if (cw != NULL && strcmp(cw, RQ_DENIED) == 0 && cpol != NULL &&
		    strcmp(cpol, slug) == 0) {
			if (depth == 0)
				r = signet_errf(msg, len, SIGNET_ERR_CONFLICT,
				    "request %s was denied under signing "
				    "policy %s/%s; a resubmission to that "
				    "policy would undo the deny. Resubmit to "
				    "another signing policy, or submit a new "
				    "build for the approvers to judge", id,
				    project, slug);
			else
				r = signet_errf(msg, len, SIGNET_ERR_CONFLICT,
				    "request %s was resubmitted from request "
				    "%s, which was denied under signing policy "
				    "%s/%s; a resubmission to that policy would "
				    "undo the deny. Resubmit to another signing "
				    "policy, or submit a new build for the "
				    "approvers to judge", id, cid, project,
				    slug);
			goto out;
		}
		next = json_string_value(json_object_get(cur,
		    "originalSigningRequestId"));
		if (next == NULL)
			break;
		if (depth + 1 >= SIGNET_MAX_RESUBMIT_CHAIN) {
			r = signet_errf(msg, len, SIGNET_ERR_CONFLICT, "request "
			    "%s is at the end of a chain of more than %d "
			    "resubmissions; submit the artifact anew", id,
			    SIGNET_MAX_RESUBMIT_CHAIN);
			goto out;
		}
		if ((r = request_get(t, next, &up)) != 0) {
			/* a history that cannot be read cannot be cleared */
			if (r == SIGNET_ERR_NOT_FOUND)
				r = signet_errf(msg, len, SIGNET_ERR_CONFLICT,
				    "request %s was resubmitted from request "
				    "%s, which cannot be found; its decisions "
				    "cannot be checked. Submit the artifact "
				    "anew", id, next);
			goto out;
		}
		json_decref(cur);
		cur = up;
		up = NULL;
	}
	r = 0;
out:
	json_decref(cur);
	return r;
}

/* Whether p may submit to project/slug with artifact configuration
 * conf: the project and the policy exist, p is one of the policy's
 * submitters and the policy takes conf. 0 and the project and policy
 * records, or the error with *code and msg. Resubmissions are judged by
 * the same rules under their new policy. */
static int
workflow_submit_rules(struct store_txn *t, const struct principal *p,
    const char *project, const char *slug, const char *conf, json_t **prj,
    json_t **policy, const char **code, char *msg, size_t len)
{
	const json_t *e;
	size_t i;
	int r, ok = 0;

	*prj = *policy = NULL;
	*code = NULL;
	if ((r = catalog_get_project(t, project, prj)) != 0) {
		if (r != SIGNET_ERR_NOT_FOUND)
			return signet_errf(msg, len, r, "project '%.64s' cannot "
			    "be read: %s", project, signet_strerror(r));
		*code = "project_not_found";
		return signet_errf(msg, len, r, "there is no project '%.64s'",
		    project);
	}
	if ((r = catalog_get_policy(t, project, slug, policy)) != 0) {
		if (r != SIGNET_ERR_NOT_FOUND)
			return signet_errf(msg, len, r, "signing policy "
			    "'%s/%.64s' cannot be read: %s", project, slug,
			    signet_strerror(r));
		*code = "policy_not_found";
		return signet_errf(msg, len, r, "project '%s' has no signing "
		    "policy '%.64s'", project, slug);
	}
	if (!catalog_policy_lists(*policy, "submitters", p->name))
		return signet_errf(msg, len, SIGNET_ERR_FORBIDDEN, "'%s' may "
		    "not submit to signing policy '%s/%s'", p->name, project,
		    slug);
	/* hash signing is allowed by its own switch, never by a list */
	if (conf != NULL && format_find(conf) != NULL &&
	    format_digest_only(format_find(conf))) {
		if (json_is_true(json_object_get(*policy, "allowHashSigning")))
			return 0;
		*code = "hash_signing_not_allowed";
		return signet_errf(msg, len, SIGNET_ERR_FORBIDDEN, "signing "
		    "policy '%s/%s' does not allow hash signing (the "
		    "appliance would sign a digest of a file it never sees); "
		    "an administrator enables it with allowHashSigning: true",
		    project, slug);
	}
	json_array_foreach(json_object_get(*policy, "artifactConfigurations"),
	    i, e)
		if (json_is_string(e) && conf != NULL &&
		    strcmp(json_string_value(e), conf) == 0)
			ok = 1;
	if (!ok) {
		*code = "invalid_artifact_configuration";
		return signet_errf(msg, len, SIGNET_ERR_INVALID, "signing "
		    "policy '%s/%s' does not accept artifact configuration "
		    "'%.64s'", project, slug, conf ? conf : "");
	}
	return 0;
}

/* Whether a hash request's mechanism fits the key of policy's
 * certificate (RSA mechanisms for RSA keys, ECDSA for EC keys), so that
 * a request the keyholder would refuse is refused when it is made. */
static int
workflow_hash_fits(struct store_txn *t, const json_t *policy,
    const json_t *hash, char *msg, size_t len)
{
	const char *cname = json_string_value(json_object_get(policy,
	    "certificate")), *pem;
	STACK_OF(X509) *chain = NULL;
	json_t *cert = NULL;
	int r;

	if (cname == NULL || catalog_get_certificate(t, cname, &cert) != 0 ||
	    (pem = json_string_value(json_object_get(cert, "chainPem"))) ==
	    NULL || pki_chain_from_pem(pem, strlen(pem), &chain) != 0) {
		r = signet_errf(msg, len, SIGNET_ERR_CONFLICT, "the signing "
		    "policy's certificate cannot be read");
		goto out;
	}
	r = hashreq_fits_key(hash, EVP_PKEY_get_base_id(X509_get0_pubkey(
	    sk_X509_value(chain, 0))), msg, len);
out:
	sk_X509_pop_free(chain, X509_free);
	json_decref(cert);
	return r;
}

/* A hash request comes only with a digest, an artifact only without:
 * the artifact upload cannot name hash signing (no file would be
 * signed) and the hash endpoint cannot name a file format. */
static int
workflow_path_fits(const char *conf, int is_hash, const char **code,
    char *msg, size_t len)
{
	const struct format *f = conf != NULL ? format_find(conf) : NULL;

	if (f == NULL || (format_digest_only(f) != 0) == (is_hash != 0))
		return 0;
	*code = "invalid_artifact_configuration";
	return signet_errf(msg, len, SIGNET_ERR_INVALID, is_hash ?
	    "a hash signing request is signed as '%s' only" :
	    "artifact configuration '%s' is for hash signing: send the "
	    "digest to POST /api/v1/projects/PROJECT/signing-policies/"
	    "POLICY/hash-signing-requests (or use the PKCS#11 module)",
	    is_hash ? FORMAT_HASH_SLUG : conf);
}

/* The rules of a new submission (docs/origin.md): workflow_submit_rules,
 * then the origin verified and held to the project's and the policy's
 * origin rules. 0 and the policy and the origin's evidence. */
static int
workflow_submit_judge(struct store_txn *t, const struct principal *p,
    const char *project, const char *slug, const char *conf,
    json_t *origin, time_t now, json_t **policy, json_t **evidence,
    const char **code, char *msg, size_t len)
{
	json_t *prj = NULL, *ev = NULL;
	int r;

	*policy = *evidence = NULL;
	if ((r = workflow_submit_rules(t, p, project, slug, conf, &prj, policy,
	    code, msg, len)) != 0)
		goto fail;
	if ((r = origin_verify(t, p->type, p->name, origin, now, &ev)) != 0) {
		r = signet_errf(msg, len, r, "the origin could not be "
		    "verified: %s", signet_strerror(r));
		goto fail;
	}
	if ((r = origin_rules(prj, *policy, origin, ev, msg, len)) != 0) {
		log_info("workflow: %s: refused by origin rule: %s", p->name,
		    msg != NULL ? msg : "");
		goto fail;
	}
	json_decref(prj);
	*evidence = ev;
	return 0;
fail:
	json_decref(ev);
	json_decref(prj);
	json_decref(*policy);
	*policy = NULL;
	return r;
}

int
workflow_submit_check(struct store *s, const struct principal *p,
    const char *project, const char *slug, const char *conf,
    json_t *origin, time_t now, const char **code, char *msg, size_t len)
{
	struct store_txn *t = NULL;
	json_t *policy = NULL, *ev = NULL;
	int r;

	*code = NULL;
	/* only the artifact upload asks before its body is read */
	if ((r = workflow_path_fits(conf, 0, code, msg, len)) != 0)
		return r;
	if ((r = store_txn_begin(s, 0, &t)) != 0)
		return signet_errf(msg, len, r, "the database is not "
		    "available: %s", signet_strerror(r));
	r = workflow_submit_judge(t, p, project, slug, conf, origin, now,
	    &policy, &ev, code, msg, len);
	store_txn_abort(&t);
	json_decref(policy);
	json_decref(ev);
	return r;
}

int
workflow_submit(struct store *s, const struct principal *p,
    const struct workflow_submission *sub, json_t **out, const char **code,
    char *msg, size_t len)
{
	struct store_txn *t = NULL;
	struct request_new n;
	json_t *policy = NULL, *ev = NULL, *rec = NULL;
	int r;

	*out = NULL;
	*code = NULL;
	if ((r = workflow_path_fits(sub->artifact_configuration,
	    sub->hash != NULL, code, msg, len)) != 0)
		goto out;
	if ((r = store_txn_begin(s, 1, &t)) != 0) {
		r = signet_errf(msg, len, r, "the database is not "
		    "available: %s", signet_strerror(r));
		goto out;
	}
	if ((r = workflow_submit_judge(t, p, sub->project, sub->policy,
	    sub->artifact_configuration, sub->origin, sub->now, &policy, &ev,
	    code, msg, len)) != 0)
		goto out;
	if (sub->hash != NULL &&
	    (r = workflow_hash_fits(t, policy, sub->hash, msg, len)) != 0)
		goto out;
	/* verified (or not): the evidence is kept, the credential is not */
	origin_forget_token(sub->origin);
	memset(&n, 0, sizeof(n));
	n.project = sub->project;
	n.policy = sub->policy;
	n.artifact_configuration = sub->artifact_configuration;
	n.description = sub->description;
	n.parameters = sub->parameters;
	n.origin = sub->origin;
	n.origin_verification = ev;
	n.submitter_type = p->type;
	n.submitter = p->name;
	n.artifact_name = sub->artifact_name;
	n.artifact_sha256 = sub->artifact_sha256;
	n.artifact_size = sub->artifact_size;
	n.hash = sub->hash;
	n.required_approvals = (int)json_integer_value(json_object_get(policy,
	    "requiredApprovals"));
	if ((r = request_create(t, &n, &rec)) != 0) {
		r = signet_errf(msg, len, r, "the request could not be "
		    "recorded: %s", signet_strerror(r));
		goto out;
	}
	if ((r = workflow_commit(&t, &rec, p, "signing-request.submitted",
	    NULL, out)) != 0)
		r = signet_errf(msg, len, r, "the request could not be "
		    "recorded: %s", signet_strerror(r));
out:
	store_txn_abort(&t);
	/* refused or recorded, the credential is not kept */
	origin_forget_token(sub->origin);
	json_decref(rec);
	json_decref(policy);
	json_decref(ev);
	return r;
}

int
workflow_resubmit(struct store *s, const struct principal *p, const char *id,
    const char *slug, const char *description, json_t **out, char *msg,
    size_t len)
{
	struct store_txn *t = NULL;
	json_t *orig = NULL, *policy = NULL, *rec = NULL, *d = NULL, *art,
	    *prj = NULL, *origin = NULL, *hash = NULL;
	struct request_new n;
	const char *project, *conf, *code;
	int r;

	*out = NULL;
	if (slug == NULL || *slug == '\0')
		return signet_errf(msg, len, SIGNET_ERR_INVALID,
		    "signingPolicySlug is required: name the signing policy "
		    "to resubmit to");
	if (description != NULL && (strlen(description) >
	    SIGNET_MAX_DESCRIPTION || workflow_comment(description, msg,
	    len) != 0))
		return signet_errf(msg, len, SIGNET_ERR_INVALID, "description "
		    "must be at most %d bytes without control characters",
		    SIGNET_MAX_DESCRIPTION);
	if ((r = store_txn_begin(s, 1, &t)) != 0)
		return r;
	if ((r = workflow_load(t, p, id, &orig, msg, len)) != 0)
		goto out;
	project = json_string_value(json_object_get(orig, "projectSlug"));
	conf = json_string_value(json_object_get(orig,
	    "artifactConfigurationSlug"));
	/* permissions are those of the new policy */
	if ((r = workflow_submit_rules(t, p, project, slug, conf, &prj,
	    &policy, &code, msg, len)) != 0)
		goto out;
	if ((r = workflow_may_resubmit(t, orig, slug, msg, len)) != 0)
		goto out;
	/* origin rules are the new policy's, over what the original
	 * recorded: its origin data and the evidence verified when it was
	 * submitted (the ID token may have expired since; it is not
	 * verified again) */
	if ((r = origin_rules(prj, policy, json_object_get(orig, "origin"),
	    json_object_get(orig, "originVerification"), msg, len)) != 0)
		goto out;
	/* a hash request goes on as one: the same stated digest, under a
	 * policy that allows hash signing with a key its mechanism fits */
	if (request_is_hash(orig)) {
		if ((hash = json_deep_copy(json_object_get(orig, "hash"))) ==
		    NULL) {
			r = SIGNET_ERR_NOMEM;
			goto out;
		}
		json_object_del(hash, "signature");
		if ((r = workflow_hash_fits(t, policy, hash, msg, len)) != 0)
			goto out;
	}
	art = json_object_get(orig, "unsignedArtifact");
	memset(&n, 0, sizeof(n));
	n.hash = hash;
	n.project = project;
	n.policy = slug;
	n.artifact_configuration = conf;
	n.description = description != NULL ? description :
	    json_string_value(json_object_get(orig, "description"));
	n.parameters = json_object_get(orig, "parameters");
	/* records from before origin.c dropped tokens may hold one: it
	 * is not copied on */
	if ((origin = json_deep_copy(json_object_get(orig, "origin"))) ==
	    NULL) {
		r = SIGNET_ERR_NOMEM;
		goto out;
	}
	origin_forget_token(origin);
	n.origin = origin;
	/* the origin's evidence travels with the data it vouches for */
	n.origin_verification = json_object_get(orig, "originVerification");
	n.submitter_type = p->type;
	n.submitter = p->name;
	n.artifact_name = json_string_value(json_object_get(art, "name"));
	n.artifact_sha256 = json_string_value(json_object_get(art, "sha256"));
	n.artifact_size = (uint64_t)json_integer_value(json_object_get(art,
	    "size"));
	n.required_approvals = (int)json_integer_value(json_object_get(policy,
	    "requiredApprovals"));
	n.original_id = id;
	if ((r = request_create(t, &n, &rec)) != 0)
		goto out;
	d = json_pack("{s:s}", "originalSigningRequestId", id);
	r = workflow_commit(&t, &rec, p,
	    "signing-request.resubmitted", d, out);
out:
	store_txn_abort(&t);
	json_decref(d);
	json_decref(rec);
	json_decref(orig);
	json_decref(policy);
	json_decref(prj);
	json_decref(origin);
	json_decref(hash);
	return r;
}
