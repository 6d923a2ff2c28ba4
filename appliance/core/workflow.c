#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/x509.h>

#include "audit.h"
#include "cas.h"
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

static const char *
workflow_ac_digest_name(const json_t *policy)
{
	const char *d = json_string_value(json_object_get(policy,
	    "digestAlgorithm"));

	return d != NULL ? d : "sha256";
}

/* The program name an Authenticode signature shows (SpcSpOpusInfo):
 * parameters.programName, or the description's first line; text in the
 * Basic Multilingual Plane (a BMPString holds nothing else). */
static int
workflow_ac_program(const json_t *params, const char *description,
    char *out, size_t cap, char *msg, size_t len)
{
	const char *pn = json_string_value(json_object_get(params,
	    "programName"));
	const char *src = pn != NULL ? pn : description;
	size_t i, n = 0;

	out[0] = '\0';
	if (src == NULL)
		return 0;
	for (i = 0; src[i] != '\0' && src[i] != '\n' && src[i] != '\r'; i++) {
		if ((unsigned char)src[i] >= 0xf0) {
			if (pn != NULL)
				return signet_errf(msg, len, SIGNET_ERR_INVALID,
				    "parameters.programName holds a character "
				    "beyond U+FFFF, which an Authenticode "
				    "program name cannot hold");
			break;
		}
		n = i + 1;
	}
	if (n >= cap) {
		if (pn != NULL)
			return signet_errf(msg, len, SIGNET_ERR_INVALID,
			    "parameters.programName is longer than %zu bytes",
			    cap - 1);
		/* a long description is cut at a character boundary */
		for (n = cap - 1; n > 0 &&
		    ((unsigned char)src[n] & 0xc0) == 0x80; n--)
			;
	}
	memcpy(out, src, n);
	out[n] = '\0';
	return 0;
}

/* The Authenticode record of a request under policy: the mode the
 * policy fixes, or the one the request asks for, or replace. */
static int
workflow_ac_record(const json_t *policy, const json_t *params,
    const char *description, const char *format, const char *alg,
    const char *digest, const char *recorded, json_t **out, char *msg,
    size_t len)
{
	const char *fixed = json_string_value(json_object_get(policy,
	    "signatureMode"));
	const char *asked = json_string_value(json_object_get(params,
	    "signatureMode"));
	char program[SIGNET_MAX_AC_PROGRAM_NAME + 1];
	int r;

	*out = NULL;
	if (strcmp(alg, workflow_ac_digest_name(policy)) != 0)
		return signet_errf(msg, len, SIGNET_ERR_CONFLICT, "the signing "
		    "policy now signs with %s, not %s: submit the file again",
		    workflow_ac_digest_name(policy), alg);
	if (asked != NULL && strcmp(asked, "replace") != 0 &&
	    strcmp(asked, "append") != 0)
		return signet_errf(msg, len, SIGNET_ERR_INVALID,
		    "parameters.signatureMode must be \"replace\" or "
		    "\"append\"");
	if (fixed != NULL && asked != NULL && strcmp(fixed, asked) != 0)
		return signet_errf(msg, len, SIGNET_ERR_INVALID, "the signing "
		    "policy fixes signatureMode \"%s\"; leave "
		    "parameters.signatureMode out or ask for \"%s\"", fixed,
		    fixed);
	if ((r = workflow_ac_program(params, description, program,
	    sizeof(program), msg, len)) != 0)
		return r;
	*out = json_pack("{s:s, s:s, s:s, s:s, s:s*, s:s*}", "format", format,
	    "digestAlgorithm", alg, "digest", digest, "signatureMode",
	    fixed != NULL ? fixed : asked != NULL ? asked : "replace",
	    "programName", program[0] ? program : NULL,
	    "recorded", recorded != NULL && recorded[0] ? recorded : NULL);
	return *out != NULL ? 0 : SIGNET_ERR_NOMEM;
}

int
workflow_submit_check(struct store *s, const struct principal *p,
    const char *project, const char *slug, const char *conf,
    json_t *origin, time_t now, struct workflow_policy_facts *facts,
    const char **code, char *msg, size_t len)
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
	if (r == 0 && facts != NULL)
		snprintf(facts->digest_algorithm,
		    sizeof(facts->digest_algorithm), "%s",
		    workflow_ac_digest_name(policy));
	json_decref(policy);
	json_decref(ev);
	return r;
}

int
workflow_valid_idempotency_key(const char *key)
{
	size_t i, n;

	if (key == NULL || (n = strlen(key)) == 0 ||
	    n > SIGNET_MAX_IDEMPOTENCY_KEY)
		return 0;
	for (i = 0; i < n; i++)
		if ((unsigned char)key[i] < 0x21 || (unsigned char)key[i] > 0x7e)
			return 0;
	return 1;
}

/* The record of an idempotency key: per submitter, so one client's key
 * never finds another's request. */
static int
workflow_idem_key(const struct principal *p, const char *key, char *out,
    size_t len)
{
	int n = snprintf(out, len, "%s:%s\n%s", p->type, p->name, key);

	return n < 0 || (size_t)n >= len ? SIGNET_ERR_TOO_LARGE : 0;
}

/* A repeat of a submission (RFC draft "The Idempotency-Key HTTP Header
 * Field", section 2.6): the same key and artifact give the first
 * request back; the same key with another artifact is a conflict. 1 and
 * *rec for a repeat, 0 for a new key, or an error with msg. */
static int
workflow_idem_find(struct store_txn *t, const char *ik,
    const struct workflow_submission *sub, json_t **rec, char *msg,
    size_t len)
{
	json_t *m = NULL;
	const char *id, *sha;
	int r;

	*rec = NULL;
	if ((r = store_get_json(t, STORE_IDEMPOTENCY, ik, &m)) != 0)
		return r == SIGNET_ERR_NOT_FOUND ? 0 : r;
	id = json_string_value(json_object_get(m, "id"));
	sha = json_string_value(json_object_get(m, "sha256"));
	if (id == NULL || sha == NULL) {
		r = SIGNET_ERR_STORE;
		goto out;
	}
	if (strcmp(sha, sub->artifact_sha256) != 0) {
		r = signet_errf(msg, len, SIGNET_ERR_CONFLICT, "idempotency key "
		    "'%.64s' was used for request %s with another artifact "
		    "(sha256 %s); a retry must send the same artifact, other "
		    "work needs a new key", sub->idempotency_key, id, sha);
		goto out;
	}
	if ((r = request_get(t, id, rec)) != 0)
		goto out;
	r = 1;
out:
	json_decref(m);
	return r;
}

int
workflow_discard_artifact(struct store *s, struct cas *c, const char *sha256)
{
	struct store_txn *t = NULL;
	int r;

	if (sha256 == NULL || !cas_valid_hex(sha256))
		return SIGNET_ERR_INVALID;
	/* in a write transaction: no request naming it commits between the
	 * look and the removal (writers take turns). A submission of the
	 * same bytes still streaming is not seen; its file is renamed into
	 * place again when it finishes. */
	if ((r = store_txn_begin(s, 1, &t)) != 0)
		return r;
	r = request_artifact_known(t, sha256) ? 0 : cas_remove(c, sha256);
	store_txn_abort(&t);
	return r;
}

/* A submission as a write of the store's group commit (store_write):
 * what workflow_submit checks and records, and what it hands back. */
struct workflow_submit_w {
	struct store *s;
	const struct principal *p;
	const struct workflow_submission *sub;
	json_t *out;		/* the request */
	const char *code;
	char *msg;
	size_t len;
	int repeated;
	int ran;		/* the write ran at least once */
	int last;		/* what its last run returned */
};

/* Runs in t, which store_write commits; may run again, so it starts from
 * nothing each time and changes nothing but t and w's results (the
 * origin's ID token is left for workflow_submit to wipe). */
static int
workflow_submit_write(struct store_txn *t, void *arg)
{
	struct workflow_submit_w *w = arg;
	const struct principal *p = w->p;
	const struct workflow_submission *sub = w->sub;
	struct request_new n;
	json_t *policy = NULL, *ev = NULL, *rec = NULL, *ac = NULL,
	    *kept = NULL;
	const struct format *fmt;
	char ik[2 * CATALOG_MAX_NAME + SIGNET_MAX_IDEMPOTENCY_KEY + 8];
	char *msg = w->msg;
	size_t len = w->len;
	int r;

	json_decref(w->out);
	w->out = NULL;
	w->code = NULL;
	w->repeated = 0;
	w->ran = 1;
	if (msg != NULL && len > 0)
		msg[0] = '\0';
	/* hash requests carry no key (their API takes none) */
	if (sub->idempotency_key != NULL && sub->artifact_sha256 != NULL) {
		if (!workflow_valid_idempotency_key(sub->idempotency_key)) {
			r = signet_errf(msg, len, SIGNET_ERR_INVALID, "the "
			    "idempotency key must be 1-%d printable ASCII "
			    "characters without spaces",
			    SIGNET_MAX_IDEMPOTENCY_KEY);
			w->code = "invalid_idempotency_key";
			goto out;
		}
		if ((r = workflow_idem_key(p, sub->idempotency_key, ik,
		    sizeof(ik))) != 0)
			goto out;
		if ((r = workflow_idem_find(t, ik, sub, &rec, msg, len)) < 0) {
			if (r == SIGNET_ERR_CONFLICT)
				w->code = "idempotency_key_reused";
			goto out;
		}
		if (r == 1) {
			/* the first request, as it is now; nothing recorded */
			w->repeated = 1;
			w->out = rec;
			rec = NULL;
			r = 0;
			goto out;
		}
	}
	/* a new record stops before the reserve kept for approvals and
	 * results of what is already stored (a repeat, above, adds none) */
	if ((r = store_admit(w->s, sub->owed_bytes, msg, len)) != 0)
		goto out;
	if ((r = workflow_submit_judge(t, p, sub->project, sub->policy,
	    sub->artifact_configuration, sub->origin, sub->now, &policy, &ev,
	    &w->code, msg, len)) != 0)
		goto out;
	/* an embedded signature is signed only over a file whose structure
	 * was checked and whose Authenticode digest was recorded */
	if (sub->ac_format == NULL && (fmt = format_find(
	    sub->artifact_configuration)) != NULL && (fmt->ac != NULL ||
	    fmt->pick)) {
		r = signet_errf(msg, len, SIGNET_ERR_INTERNAL, "the file was "
		    "not checked for %s", fmt->slug);
		goto out;
	}
	if (sub->ac_format != NULL && (r = workflow_ac_record(policy,
	    sub->parameters, sub->description, sub->ac_format,
	    sub->ac_digest_algorithm, sub->ac_digest, sub->ac_recorded, &ac,
	    msg, len)) != 0)
		goto out;
	if (sub->hash != NULL &&
	    (r = workflow_hash_fits(t, policy, sub->hash, msg, len)) != 0)
		goto out;
	/* verified (or not): the evidence is kept, the credential is not;
	 * the record takes a copy without it, whose values are the
	 * origin's own (json_copy), so no second copy of the token is made */
	if (sub->origin != NULL) {
		if ((kept = json_copy(sub->origin)) == NULL) {
			r = SIGNET_ERR_NOMEM;
			goto out;
		}
		json_object_del(kept, "idToken");
	}
	memset(&n, 0, sizeof(n));
	n.authenticode = ac;
	n.project = sub->project;
	n.policy = sub->policy;
	n.artifact_configuration = sub->artifact_configuration;
	n.description = sub->description;
	n.parameters = sub->parameters;
	n.origin = kept;
	n.origin_verification = ev;
	n.submitter_type = p->type;
	n.submitter = p->name;
	n.artifact_name = sub->artifact_name;
	n.artifact_sha256 = sub->artifact_sha256;
	n.artifact_size = sub->artifact_size;
	n.artifact_held = sub->artifact_held;
	n.hash = sub->hash;
	n.required_approvals = (int)json_integer_value(json_object_get(policy,
	    "requiredApprovals"));
	if ((r = request_create(t, &n, &rec)) != 0) {
		r = signet_errf(msg, len, r, "the request could not be "
		    "recorded: %s", signet_strerror(r));
		goto out;
	}
	if (sub->idempotency_key != NULL && sub->artifact_sha256 != NULL) {
		json_t *m = json_pack("{s:O, s:s}", "id",
		    json_object_get(rec, "id"), "sha256", sub->artifact_sha256);

		r = m == NULL ? SIGNET_ERR_NOMEM :
		    store_put_json(t, STORE_IDEMPOTENCY, ik, m);
		json_decref(m);
		if (r != 0) {
			r = signet_errf(msg, len, r, "the request could not be "
			    "recorded: %s", signet_strerror(r));
			goto out;
		}
	}
	if ((r = events_request(t, rec, p->type, p->name,
	    "signing-request.submitted", NULL)) != 0) {
		r = signet_errf(msg, len, r, "the request could not be "
		    "recorded: %s", signet_strerror(r));
		goto out;
	}
	w->out = rec;
	rec = NULL;
	r = 0;
out:
	json_decref(rec);
	json_decref(policy);
	json_decref(ev);
	json_decref(ac);
	json_decref(kept);
	w->last = r;
	return r;
}

int
workflow_submit(struct store *s, const struct principal *p,
    const struct workflow_submission *sub, json_t **out, const char **code,
    char *msg, size_t len)
{
	struct workflow_submit_w w;
	int r;

	*out = NULL;
	*code = NULL;
	if ((r = workflow_path_fits(sub->artifact_configuration,
	    sub->hash != NULL, code, msg, len)) != 0)
		goto out;
	memset(&w, 0, sizeof(w));
	w.s = s;
	w.p = p;
	w.sub = sub;
	w.msg = msg;
	w.len = len;
	/* recorded with the submissions of other threads in one commit:
	 * returns once the request is on the disk */
	r = store_write(s, workflow_submit_write, &w);
	*code = w.code;
	/* not the write's own refusal: its transaction could not begin, or
	 * the commit failed */
	if (r != 0 && w.ran && w.last == 0)
		r = signet_errf(msg, len, r, "the request could not be "
		    "recorded: %s", signet_strerror(r));
	else if (r != 0 && (!w.ran || r != w.last)) {
		*code = NULL;
		r = signet_errf(msg, len, r, "the database is not "
		    "available: %s", signet_strerror(r));
	}
	if (r == 0) {
		if (w.repeated && sub->repeated != NULL)
			*sub->repeated = 1;
		*out = w.out;
		w.out = NULL;
	}
	json_decref(w.out);
out:
	if (r == SIGNET_ERR_STORAGE_FULL && msg != NULL && len > 0 &&
	    strstr(msg, "max_map_size") == NULL &&
	    strstr(msg, "disk") == NULL)
		store_describe_full(s, msg, len);
	/* refused or recorded, the credential is not kept */
	origin_forget_token(sub->origin);
	return r;
}

/* A resubmission as a write of the group commit (store_write), as for
 * workflow_submit_write: each run starts afresh. */
struct workflow_resubmit_w {
	const struct principal *p;
	const char *id;
	const char *slug;
	const char *description;
	json_t *out;
	char *msg;
	size_t len;
};

static int
workflow_resubmit_write(struct store_txn *t, void *arg)
{
	struct workflow_resubmit_w *w = arg;
	const struct principal *p = w->p;
	const char *id = w->id, *slug = w->slug;
	const char *description = w->description;
	json_t *orig = NULL, *policy = NULL, *rec = NULL, *d = NULL, *art,
	    *prj = NULL, *origin = NULL, *ac = NULL, *old_ac, *hash = NULL;
	struct request_new n;
	const char *project, *conf, *code;
	char *msg = w->msg;
	size_t len = w->len;
	int r;

	json_decref(w->out);
	w->out = NULL;
	if (msg != NULL && len > 0)
		msg[0] = '\0';
	if ((r = workflow_load(t, p, id, &orig, msg, len)) != 0)
		goto out;
	if (json_object_get(orig, "artifactsRemovedAt") != NULL) {
		r = signet_errf(msg, len, SIGNET_ERR_CONFLICT, "the artifacts "
		    "of request %s were removed ([store] retention); submit "
		    "the artifact again", id);
		goto out;
	}
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
	/* an Authenticode digest is the new policy's to sign only when it
	 * uses the same algorithm; the mode is judged anew */
	if (json_is_object(old_ac = json_object_get(orig, "authenticode"))) {
		json_t *params = json_deep_copy(n.parameters);

		if (params == NULL) {
			r = SIGNET_ERR_NOMEM;
			goto out;
		}
		if (json_object_get(policy, "signatureMode") != NULL &&
		    json_object_get(params, "signatureMode") == NULL)
			;	/* the new policy's mode applies */
		else if (json_object_get(params, "signatureMode") == NULL)
			json_object_set(params, "signatureMode",
			    json_object_get(old_ac, "signatureMode"));
		r = workflow_ac_record(policy, params, n.description,
		    json_string_value(json_object_get(old_ac, "format")),
		    json_string_value(json_object_get(old_ac,
		    "digestAlgorithm")), json_string_value(json_object_get(
		    old_ac, "digest")), json_string_value(json_object_get(
		    old_ac, "recorded")), &ac, msg, len);
		json_decref(params);
		if (r != 0)
			goto out;
		n.authenticode = ac;
	}
	if ((r = request_create(t, &n, &rec)) != 0)
		goto out;
	d = json_pack("{s:s}", "originalSigningRequestId", id);
	if ((r = events_request(t, rec, p->type, p->name,
	    "signing-request.resubmitted", d)) != 0)
		goto out;
	w->out = rec;
	rec = NULL;
	r = 0;
out:
	json_decref(d);
	json_decref(rec);
	json_decref(orig);
	json_decref(policy);
	json_decref(prj);
	json_decref(origin);
	json_decref(ac);
	json_decref(hash);
	return r;
}

int
workflow_resubmit(struct store *s, const struct principal *p, const char *id,
    const char *slug, const char *description, json_t **out, char *msg,
    size_t len)
{
	struct workflow_resubmit_w w;
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
	memset(&w, 0, sizeof(w));
	w.p = p;
	w.id = id;
	w.slug = slug;
	w.description = description;
	w.msg = msg;
	w.len = len;
	/* with the submissions of other threads, in one commit */
	if ((r = store_write(s, workflow_resubmit_write, &w)) == 0) {
		*out = w.out;
		w.out = NULL;
	}
	json_decref(w.out);
	return r;
}

struct workflow_tally {
	json_t *out;
};

static int
workflow_tally_cb(const void *k, size_t klen, const void *v, size_t vlen,
    void *arg)
{
	struct workflow_tally *w = arg;
	json_t *rec, *by;
	char key[2 * SIGNET_MAX_SLUG + 2];
	const char *proj, *pol, *st;
	json_int_t n;

	(void)k;
	(void)klen;
	if ((rec = json_loadb(v, vlen, 0, NULL)) == NULL)
		return 0;	/* an unreadable record is not counted */
	proj = json_string_value(json_object_get(rec, "projectSlug"));
	pol = json_string_value(json_object_get(rec, "signingPolicySlug"));
	st = json_string_value(json_object_get(rec, "workflowStatus"));
	if (proj != NULL && pol != NULL && st != NULL &&
	    request_valid_status(st)) {
		snprintf(key, sizeof(key), "%s/%s", proj, pol);
		if ((by = json_object_get(w->out, key)) == NULL) {
			by = json_object();
			if (by == NULL || json_object_set_new(w->out, key, by)) {
				json_decref(rec);
				return SIGNET_ERR_NOMEM;
			}
		}
		n = json_integer_value(json_object_get(by, st));
		json_object_set_new(by, st, json_integer(n + 1));
	}
	json_decref(rec);
	return 0;
}

int
workflow_tally(struct store *s, json_t **out)
{
	struct workflow_tally w;
	struct store_txn *t = NULL;
	int r;

	*out = NULL;
	if ((w.out = json_object()) == NULL)
		return SIGNET_ERR_NOMEM;
	if ((r = store_txn_begin(s, 0, &t)) != 0 ||
	    (r = store_walk(t, STORE_REQUESTS, NULL, 0, NULL, 0, 0,
	    workflow_tally_cb, &w)) != 0) {
		store_txn_abort(&t);
		json_decref(w.out);
		return r;
	}
	store_txn_abort(&t);
	*out = w.out;
	return 0;
}

/* One request whose artifacts are past retention: its references go, and
 * a file no other request refers to is named in gone[] for removal once
 * the change is recorded. */
static int
workflow_expire_one(struct store_txn *t, const char *id, const char *cutoff,
    char gone[2][CAS_HEX_LEN + 1], int *ngone)
{
	static const char *const which[] = { "unsignedArtifact",
	    "signedArtifact" };
	json_t *rec = NULL;
	const char *w, *up, *sha;
	char now[32];
	size_t i;
	int r, last;

	*ngone = 0;
	if ((r = request_get(t, id, &rec)) != 0)
		return r;
	w = json_string_value(json_object_get(rec, "workflowStatus"));
	up = json_string_value(json_object_get(rec, "updatedAt"));
	if (w == NULL || !request_is_final(w) || up == NULL ||
	    strcmp(up, cutoff) >= 0 ||
	    json_object_get(rec, "artifactsRemovedAt") != NULL) {
		r = 1;	/* changed meanwhile: nothing to do */
		goto out;
	}
	for (i = 0; i < 2; i++) {
		sha = json_string_value(json_object_get(json_object_get(rec,
		    which[i]), "sha256"));
		if (sha == NULL || !cas_valid_hex(sha))
			continue;
		if ((r = request_artifact_unref(t, sha, &last)) != 0)
			goto out;
		if (last)
			snprintf(gone[(*ngone)++], CAS_HEX_LEN + 1, "%s", sha);
	}
	request_now(now, NULL);
	json_object_set_new(rec, "artifactsRemovedAt", json_string(now));
	r = request_put(t, rec);
out:
	json_decref(rec);
	return r;
}

struct workflow_expire_walk {
	const char *cutoff;
	json_t *ids;
};

static int
workflow_expire_cb(const void *k, size_t klen, const void *v, size_t vlen,
    void *arg)
{
	struct workflow_expire_walk *w = arg;
	json_t *rec;
	const char *st, *up, *id;

	(void)k;
	(void)klen;
	if ((rec = json_loadb(v, vlen, 0, NULL)) == NULL)
		return 0;
	st = json_string_value(json_object_get(rec, "workflowStatus"));
	up = json_string_value(json_object_get(rec, "updatedAt"));
	id = json_string_value(json_object_get(rec, "id"));
	if (st != NULL && request_is_final(st) && up != NULL && id != NULL &&
	    strcmp(up, w->cutoff) < 0 &&
	    json_object_get(rec, "artifactsRemovedAt") == NULL &&
	    json_array_size(w->ids) < SIGNET_RETENTION_BATCH)
		json_array_append_new(w->ids, json_string(id));
	json_decref(rec);
	return json_array_size(w->ids) >= SIGNET_RETENTION_BATCH ? 1 : 0;
}

int
workflow_expire_artifacts(struct store *s, struct cas *c, uint64_t seconds,
    time_t now, unsigned *removed)
{
	struct workflow_expire_walk w;
	struct store_txn *t = NULL;
	char cutoff[32], gone[2][CAS_HEX_LEN + 1];
	time_t when = now - (time_t)seconds;
	struct tm tm;
	size_t i;
	int r, ng, j;

	*removed = 0;
	gmtime_r(&when, &tm);
	strftime(cutoff, sizeof(cutoff), "%Y-%m-%dT%H:%M:%S.000Z", &tm);
	w.cutoff = cutoff;
	if ((w.ids = json_array()) == NULL)
		return SIGNET_ERR_NOMEM;
	if ((r = store_txn_begin(s, 0, &t)) != 0 ||
	    (r = store_walk(t, STORE_REQUESTS, NULL, 0, NULL, 0, 0,
	    workflow_expire_cb, &w)) != 0)
		goto out;
	store_txn_abort(&t);
	/* one transaction per request: the writer lock is held briefly */
	for (i = 0; i < json_array_size(w.ids); i++) {
		const char *id = json_string_value(json_array_get(w.ids, i));

		if ((r = store_txn_begin(s, 1, &t)) != 0)
			goto out;
		r = workflow_expire_one(t, id, cutoff, gone, &ng);
		if (r == 1) {
			store_txn_abort(&t);
			continue;
		}
		if (r != 0 || (r = audit_append(t, "system", "retention",
		    "signing-request.artifacts-removed", id, NULL)) != 0 ||
		    (r = store_txn_commit(&t)) != 0)
			goto out;
		for (j = 0; j < ng; j++)
			if (cas_remove(c, gone[j]) != 0)
				log_warn("retention: %s stays on disk", gone[j]);
		(*removed)++;
	}
	r = 0;
out:
	store_txn_abort(&t);
	json_decref(w.ids);
	return r;
}
