#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "catalog.h"
#include "events.h"
#include "origin.h"
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

static int workflow_msg(char *msg, size_t len, int err, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int
workflow_msg(char *msg, size_t len, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, len, fmt, ap);
	va_end(ap);
	return err;
}

/* The request, if the principal may see it; a request it may not see is
 * reported as missing, so that its existence is not revealed. */
static int
workflow_load(struct store_txn *t, const struct principal *p, const char *id,
    json_t **rec, char *msg, size_t len)
{
	int r;

	if ((r = request_get(t, id, rec)) == 0 && !workflow_may_read(t, p,
	    json_string_value(json_object_get(*rec, "projectSlug")))) {
		json_decref(*rec);
		*rec = NULL;
		r = SIGNET_ERR_NOT_FOUND;
	}
	if (r == SIGNET_ERR_NOT_FOUND)
		return workflow_msg(msg, len, r, "there is no signing request "
		    "'%.40s' visible to you", id);
	return r;
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
		return workflow_msg(msg, len, SIGNET_ERR_INVALID, "comment is "
		    "longer than %d bytes", WORKFLOW_MAX_COMMENT);
	for (i = 0; comment[i] != '\0'; i++)
		if ((unsigned char)comment[i] < 0x20 && comment[i] != '\n' &&
		    comment[i] != '\r' && comment[i] != '\t')
			return workflow_msg(msg, len, SIGNET_ERR_INVALID,
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
workflow_decide(struct store *s, const struct principal *p, const char *id,
    int approve, const char *comment, json_t **out, char *msg, size_t len)
{
	struct store_txn *t = NULL;
	json_t *rec = NULL, *policy = NULL, *approvals, *a, *d = NULL;
	const char *w, *project, *slug;
	char now[32];
	size_t i, approved = 0;
	int r;

	*out = NULL;
	if ((r = workflow_begin(s, p, id, comment, &t, &rec, msg, len)) != 0)
		goto out;
	w = json_string_value(json_object_get(rec, "workflowStatus"));
	project = json_string_value(json_object_get(rec, "projectSlug"));
	slug = json_string_value(json_object_get(rec, "signingPolicySlug"));
	if ((r = catalog_get_policy(t, project, slug, &policy)) != 0) {
		r = workflow_msg(msg, len, SIGNET_ERR_CONFLICT, "signing policy "
		    "%s/%s no longer exists", project, slug);
		goto out;
	}
	/* approvers are users: a person, or a release-management system's
	 * service account with a bearer token; a CI identity's
	 * certificate stands for a build, never for an approver, whatever
	 * its name */
	if (strcmp(p->type, "user") != 0 || p->user == NULL) {
		r = workflow_msg(msg, len, SIGNET_ERR_FORBIDDEN, "CI identity "
		    "'%s' cannot approve or deny: decisions are made by users "
		    "(a person, or a service account with a bearer token from "
		    "POST /api/v1/sessions)", p->name);
		goto out;
	}
	if (!catalog_policy_lists(policy, "approvers", p->name)) {
		r = workflow_msg(msg, len, SIGNET_ERR_FORBIDDEN, "'%s' is not "
		    "an approver of signing policy %s/%s", p->name, project,
		    slug);
		goto out;
	}
	if (strcmp(w, RQ_WAITING) != 0) {
		r = workflow_msg(msg, len, SIGNET_ERR_CONFLICT, "request %s is "
		    "%s; only requests waiting for approval can be decided",
		    id, w);
		goto out;
	}
	if (workflow_same(json_object_get(rec, "submitter"), p)) {
		r = workflow_msg(msg, len, SIGNET_ERR_FORBIDDEN, "the submitter "
		    "of a request cannot decide on it; another approver must");
		goto out;
	}
	approvals = json_object_get(rec, "approvals");
	json_array_foreach(approvals, i, a) {
		if (workflow_same(json_object_get(a, "by"), p)) {
			r = workflow_msg(msg, len, SIGNET_ERR_CONFLICT, "'%s' "
			    "has already decided on request %s", p->name, id);
			goto out;
		}
	}
	request_now(now, NULL);
	/* the decision is bound to the artifact it was made over */
	a = json_pack("{s:s, s:{s:s, s:s}, s:s, s:s?, s:O}",
	    "decision", approve ? "approved" : "denied",
	    "by", "type", p->type, "name", p->name,
	    "at", now, "comment", comment,
	    "artifactSha256", json_object_get(json_object_get(rec,
	    "unsignedArtifact"), "sha256"));
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
	json_decref(policy);
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
		r = workflow_msg(msg, len, SIGNET_ERR_FORBIDDEN, "only the "
		    "submitter or an administrator can cancel request %s", id);
		goto out;
	}
	w = json_string_value(json_object_get(rec, "workflowStatus"));
	/* once a worker has taken it, the signature is being made */
	if (strcmp(w, RQ_WAITING) != 0 && strcmp(w, RQ_QUEUED) != 0) {
		r = workflow_msg(msg, len, SIGNET_ERR_CONFLICT, "request %s is "
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
		return workflow_msg(msg, len, SIGNET_ERR_CONFLICT, "request %s "
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
				r = workflow_msg(msg, len, SIGNET_ERR_CONFLICT,
				    "request %s was denied under signing "
				    "policy %s/%s; a resubmission to that "
				    "policy would undo the deny. Resubmit to "
				    "another signing policy, or submit a new "
				    "build for the approvers to judge", id,
				    project, slug);
			else
				r = workflow_msg(msg, len, SIGNET_ERR_CONFLICT,
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
			r = workflow_msg(msg, len, SIGNET_ERR_CONFLICT, "request "
			    "%s is at the end of a chain of more than %d "
			    "resubmissions; submit the artifact anew", id,
			    SIGNET_MAX_RESUBMIT_CHAIN);
			goto out;
		}
		if ((r = request_get(t, next, &up)) != 0) {
			/* a history that cannot be read cannot be cleared */
			if (r == SIGNET_ERR_NOT_FOUND)
				r = workflow_msg(msg, len, SIGNET_ERR_CONFLICT,
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

int
workflow_resubmit(struct store *s, const struct principal *p, const char *id,
    const char *slug, const char *description, json_t **out, char *msg,
    size_t len)
{
	struct store_txn *t = NULL;
	json_t *orig = NULL, *policy = NULL, *rec = NULL, *d = NULL, *art,
	    *prj = NULL, *origin = NULL;
	struct request_new n;
	const char *project, *conf;
	json_t *e, *confs;
	size_t i;
	int r, ok = 0;

	*out = NULL;
	if (slug == NULL || *slug == '\0')
		return workflow_msg(msg, len, SIGNET_ERR_INVALID,
		    "signingPolicySlug is required: name the signing policy "
		    "to resubmit to");
	if (description != NULL && (strlen(description) >
	    SIGNET_MAX_DESCRIPTION || workflow_comment(description, msg,
	    len) != 0))
		return workflow_msg(msg, len, SIGNET_ERR_INVALID, "description "
		    "must be at most %d bytes without control characters",
		    SIGNET_MAX_DESCRIPTION);
	if ((r = store_txn_begin(s, 1, &t)) != 0)
		return r;
	if ((r = workflow_load(t, p, id, &orig, msg, len)) != 0)
		goto out;
	project = json_string_value(json_object_get(orig, "projectSlug"));
	if ((r = catalog_get_policy(t, project, slug, &policy)) != 0) {
		r = workflow_msg(msg, len, r == SIGNET_ERR_NOT_FOUND ?
		    SIGNET_ERR_NOT_FOUND : r, "project '%s' has no signing "
		    "policy '%.64s'", project, slug);
		goto out;
	}
	/* permissions are those of the new policy */
	if (!catalog_policy_lists(policy, "submitters", p->name)) {
		r = workflow_msg(msg, len, SIGNET_ERR_FORBIDDEN, "'%s' may not "
		    "submit to signing policy %s/%s", p->name, project, slug);
		goto out;
	}
	if ((r = workflow_may_resubmit(t, orig, slug, msg, len)) != 0)
		goto out;
	conf = json_string_value(json_object_get(orig,
	    "artifactConfigurationSlug"));
	confs = json_object_get(policy, "artifactConfigurations");
	json_array_foreach(confs, i, e)
		if (strcmp(json_string_value(e), conf) == 0)
			ok = 1;
	if (!ok) {
		r = workflow_msg(msg, len, SIGNET_ERR_INVALID, "signing policy "
		    "%s/%s does not accept artifact configuration '%s'",
		    project, slug, conf);
		goto out;
	}
	/* origin rules are the new policy's, over what the original
	 * recorded: its origin data and the evidence verified when it was
	 * submitted (the ID token may have expired since; it is not
	 * verified again) */
	if ((r = catalog_get_project(t, project, &prj)) != 0) {
		r = workflow_msg(msg, len, r, "project '%s' cannot be read",
		    project);
		goto out;
	}
	if ((r = origin_rules(prj, policy, json_object_get(orig, "origin"),
	    json_object_get(orig, "originVerification"), msg, len)) != 0)
		goto out;
	art = json_object_get(orig, "unsignedArtifact");
	memset(&n, 0, sizeof(n));
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
	return r;
}
