#include <stdio.h>
#include <string.h>

#include "audit.h"
#include "catalog.h"
#include "events.h"
#include "log.h"
#include "notify.h"
#include "request.h"

static int
events_email_user(struct store_txn *t, const char *name, const char *subject,
    const char *text)
{
	json_t *u = NULL;
	const char *to;
	int r;

	r = store_get_json(t, STORE_USERS, name, &u);
	if (r == SIGNET_ERR_NOT_FOUND)
		return 0;	/* a CI identity: it polls or has webhooks */
	if (r != 0)
		return r;
	to = json_string_value(json_object_get(u, "email"));
	r = to != NULL && *to != '\0' ?
	    notify_enqueue_email(t, to, subject, text) : 0;
	json_decref(u);
	return r;
}

static int
events_webhooks(struct store_txn *t, const char *project, const char *type,
    const json_t *rec)
{
	json_t *p = NULL, *body = NULL, *hook;
	char now[32];
	size_t i;
	int r;

	if ((r = catalog_get_project(t, project, &p)) != 0)
		return r == SIGNET_ERR_NOT_FOUND ? 0 : r;
	request_now(now, NULL);
	body = json_pack("{s:s, s:s, s:o}", "type", type, "createdAt", now,
	    "signingRequest", request_api(rec));
	if (body == NULL) {
		r = SIGNET_ERR_NOMEM;
		goto out;
	}
	json_array_foreach(json_object_get(p, "webhooks"), i, hook) {
		const char *url = json_string_value(json_object_get(hook, "url"));
		const char *sec = json_string_value(json_object_get(hook,
		    "secret"));

		if (url != NULL && sec != NULL &&
		    (r = notify_enqueue_webhook(t, url, sec, body)) != 0)
			goto out;
	}
	r = 0;
out:
	json_decref(body);
	json_decref(p);
	return r;
}

static int
events_notify(struct store_txn *t, const json_t *rec)
{
	const char *w = json_string_value(json_object_get(rec, "workflowStatus"));
	const char *id = json_string_value(json_object_get(rec, "id"));
	const char *project = json_string_value(json_object_get(rec,
	    "projectSlug"));
	const char *policy = json_string_value(json_object_get(rec,
	    "signingPolicySlug"));
	const json_t *sub = json_object_get(rec, "submitter");
	const json_t *art = json_object_get(rec, "unsignedArtifact");
	char subject[256], text[2048], type[64];
	json_t *pol = NULL, *e;
	size_t i;
	int r = 0;

	if (w == NULL || id == NULL || project == NULL || policy == NULL)
		return SIGNET_ERR_STORE;
	if (strcmp(w, RQ_WAITING) == 0) {
		snprintf(type, sizeof(type), "signing-request.waiting-for-approval");
		snprintf(subject, sizeof(subject), "[Signet] Approval needed: "
		    "%s/%s %s", project, policy, id);
		snprintf(text, sizeof(text),
		    "A signing request waits for your decision.\n\n"
		    "Request:   %s\nProject:   %s\nPolicy:    %s\n"
		    "Submitter: %s\nArtifact:  %s\nSHA-256:   %s\n\n"
		    "Approve or deny it on the appliance console, in the web "
		    "interface, or with 'signet approve %s'.\n",
		    id, project, policy,
		    json_string_value(json_object_get(sub, "name")),
		    request_is_hash(rec) ? "(hash signing: the appliance has "
		    "not seen the file)" :
		    json_string_value(json_object_get(art, "name")),
		    request_is_hash(rec) ? json_string_value(json_object_get(
		    json_object_get(rec, "hash"), "digest")) :
		    json_string_value(json_object_get(art, "sha256")), id);
		if ((r = catalog_get_policy(t, project, policy, &pol)) != 0)
			return r == SIGNET_ERR_NOT_FOUND ? 0 : r;
		json_array_foreach(json_object_get(pol, "approvers"), i, e)
			if (json_is_string(e) && (r = events_email_user(t,
			    json_string_value(e), subject, text)) != 0)
				break;
		json_decref(pol);
	} else if (request_is_final(w)) {
		snprintf(type, sizeof(type), "signing-request.%s",
		    strcmp(w, RQ_COMPLETED) == 0 ? "completed" :
		    strcmp(w, RQ_FAILED) == 0 ? "failed" :
		    strcmp(w, RQ_DENIED) == 0 ? "denied" : "canceled");
		snprintf(subject, sizeof(subject), "[Signet] %s: %s/%s %s", w,
		    project, policy, id);
		snprintf(text, sizeof(text),
		    "Your signing request is %s.\n\n"
		    "Request:   %s\nProject:   %s\nPolicy:    %s\n"
		    "Artifact:  %s\nSHA-256:   %s\n%s%s\n",
		    w, id, project, policy,
		    json_string_value(json_object_get(art, "name")),
		    json_string_value(json_object_get(art, "sha256")),
		    json_is_string(json_object_get(rec, "failureReason")) ?
		    "Reason:    " : "",
		    json_is_string(json_object_get(rec, "failureReason")) ?
		    json_string_value(json_object_get(rec, "failureReason")) :
		    "");
		if (json_is_string(json_object_get(sub, "name")))
			r = events_email_user(t, json_string_value(
			    json_object_get(sub, "name")), subject, text);
	} else {
		return 0;
	}
	if (r != 0)
		return r;
	return events_webhooks(t, project, type, rec);
}

int
events_request(struct store_txn *t, const json_t *rec, const char *actor_type,
    const char *actor, const char *action, const json_t *details)
{
	json_t *d;
	const char *w;
	int r;

	d = details != NULL ? json_deep_copy(details) : json_object();
	if (d == NULL)
		return SIGNET_ERR_NOMEM;
	json_object_set(d, "workflowStatus", json_object_get(rec,
	    "workflowStatus"));
	json_object_set(d, "projectSlug", json_object_get(rec, "projectSlug"));
	json_object_set(d, "signingPolicySlug", json_object_get(rec,
	    "signingPolicySlug"));
	if (request_is_hash(rec))
		json_object_set(d, "hash", json_object_get(rec, "hash"));
	else
		json_object_set(d, "artifactSha256", json_object_get(
		    json_object_get(rec, "unsignedArtifact"), "sha256"));
	r = audit_append(t, actor_type, actor, action,
	    json_string_value(json_object_get(rec, "id")), d);
	json_decref(d);
	if (r != 0)
		return r;
	w = json_string_value(json_object_get(rec, "workflowStatus"));
	/* approvers hear of a request once, when it starts waiting */
	if (w != NULL && (request_is_final(w) || (strcmp(w, RQ_WAITING) == 0 &&
	    strstr(action, "submitted") != NULL)))
		return events_notify(t, rec);
	return 0;
}
