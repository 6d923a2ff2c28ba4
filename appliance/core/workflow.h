/* The decisions on a signing request, shared by the API and the officer
 * console: approve, deny, cancel, resubmit, and who may see what. */
#ifndef SIGNET_WORKFLOW_H
#define SIGNET_WORKFLOW_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <jansson.h>

#include "err.h"
#include "request.h"
#include "signet_limits.h"
#include "store.h"

#define WORKFLOW_MAX_COMMENT SIGNET_MAX_COMMENT

/* Who is acting: a CI identity (client certificate) or a user. */
struct principal {
	const char *type;	/* "client-certificate" | "user" */
	const char *name;
	const json_t *user;	/* the user record (roles); NULL for CI */
};

int workflow_is_admin(const struct principal *p);
int workflow_is_auditor(const struct principal *p);
/* Project members (submitters and approvers of its policies), auditors
 * and administrators see a project's requests. */
int workflow_may_read(struct store_txn *t, const struct principal *p,
    const char *project);
/* The request id, if p may see it (0 and a new reference); one p may
 * not see is SIGNET_ERR_NOT_FOUND like a missing one, so that its
 * existence is not revealed. msg says so; it may be NULL. */
int workflow_get_visible(struct store_txn *t, const struct principal *p,
    const char *id, json_t **rec, char *msg, size_t len) SIGNET_WUR;
/* The same in a read transaction of its own. */
int workflow_read(struct store *s, const struct principal *p,
    const char *id, json_t **rec, char *msg, size_t len) SIGNET_WUR;
/* One page of the requests p may see (request_list's filter, page and
 * cursor; f->visible is set here). SIGNET_ERR_INVALID: a cursor this
 * server did not hand out. */
int workflow_list_visible(struct store *s, const struct principal *p,
    struct request_filter *f, size_t page_size, const char *cursor,
    json_t **items, char *next) SIGNET_WUR;
/* The certificate chain (PEM, new string) of a signing policy p may
 * see; SIGNET_ERR_NOT_FOUND with code "policy_not_found" or
 * "certificate_not_found" and msg. */
int workflow_policy_chain(struct store *s, const struct principal *p,
    const char *project, const char *policy, char **pem, const char **code,
    char *msg, size_t len) SIGNET_WUR;

/* Whether p may approve or deny rec now: it waits, p is a user and one
 * of its policy's approvers, did not submit it and has not decided on
 * it yet. 0, or the error and msg (may be NULL) saying why not.
 * workflow_decide asks the same in its transaction. */
int workflow_may_decide(struct store_txn *t, const struct principal *p,
    const json_t *rec, char *msg, size_t len) SIGNET_WUR;

/* A new submission: what the form said and the stored artifact. */
struct workflow_submission {
	const char *project;
	const char *policy;
	const char *artifact_configuration;
	const char *description;	/* may be NULL */
	json_t *parameters;		/* borrowed; may be NULL */
	json_t *origin;			/* borrowed; its idToken is wiped */
	const char *artifact_name;
	const char *artifact_sha256;
	uint64_t artifact_size;
	/* its bytes when it is kept in the database (request_new) */
	const unsigned char *artifact_held;
	time_t now;			/* the moment the token is judged at */
	/* Authenticode, from format_check (all NULL for other formats):
	 * the container the configuration resolved to, and the file's
	 * Authenticode digest (hex) with its algorithm */
	const char *ac_format;
	const char *ac_digest_algorithm;
	const char *ac_digest;
	/* what the container's reader noted besides (format_streamed);
	 * may be NULL */
	const char *ac_recorded;
	uint64_t owed_bytes;		/* what accepted work will still write
					 * (store_admit) */
	const char *idempotency_key;	/* may be NULL; a repeat of the same
					 * key, submitter and artifact digest
					 * returns the first request */
	int *repeated;			/* may be NULL; set to 1 for a repeat */
	/* hash signing (hashreq.h): the parsed "hash" object, and then
	 * no artifact; NULL for an uploaded artifact */
	const json_t *hash;
};

/* What the checks before the artifact learnt of its policy. */
struct workflow_policy_facts {
	/* Authenticode's digest: the policy's digestAlgorithm, "sha256"
	 * when it names none */
	char digest_algorithm[8];
};

/* Whether p may submit to project/policy with artifact configuration
 * conf and this origin: p is one of the policy's submitters, the policy
 * takes conf, the origin is verified and meets the origin rules. Read
 * only, for the check before an artifact is stored. 0, or the error,
 * *code (the API's word for it, or NULL: the error table's) and msg. */
int workflow_submit_check(struct store *s, const struct principal *p,
    const char *project, const char *policy, const char *conf,
    json_t *origin, time_t now, struct workflow_policy_facts *facts,
    const char **code, char *msg, size_t len) SIGNET_WUR;
/* The same checks again and the request recorded with its audit entry
 * and events, in one write transaction (committed with the submissions
 * of other threads, store_write); 0 and the request, once on the disk,
 * or the error of this submission alone. For
 * Authenticode also the signature mode (the policy's signatureMode, or
 * when it names none the request's parameters.signatureMode, "replace"
 * by default; a request may not ask for another mode than its policy
 * fixes) and the program name (parameters.programName, else the
 * description's first line) are recorded in the request's
 * "authenticode" object. */
int workflow_submit(struct store *s, const struct principal *p,
    const struct workflow_submission *sub, json_t **rec, const char **code,
    char *msg, size_t len) SIGNET_WUR;
/* 1 when key can be an idempotency key: 1 to SIGNET_MAX_IDEMPOTENCY_KEY
 * printable ASCII characters, no spaces. */
int workflow_valid_idempotency_key(const char *key);
/* After a submission whose artifact was stored but whose request was not
 * recorded: removes the artifact unless a request refers to it. */
struct cas;
int workflow_discard_artifact(struct store *s, struct cas *c,
    const char *sha256) SIGNET_WUR;

/* Each returns 0 and the updated request (new reference), or an error
 * with msg telling the caller what to do. The change, its audit entry
 * and its notifications commit together. */
int workflow_decide(struct store *s, const struct principal *p,
    const char *id, int approve, const char *comment, json_t **rec,
    char *msg, size_t len) SIGNET_WUR;
int workflow_cancel(struct store *s, const struct principal *p,
    const char *id, const char *comment, json_t **rec, char *msg,
    size_t len) SIGNET_WUR;
/* A new request for the very same stored artifact under another signing
 * policy: everything but policy and description copied from the
 * original, which names it in originalSigningRequestId. Committed as
 * workflow_submit's are. */
int workflow_resubmit(struct store *s, const struct principal *p,
    const char *id, const char *policy, const char *description,
    json_t **rec, char *msg, size_t len) SIGNET_WUR;

/* Requests by "project/policy" and workflow status, {"p/q": {"Completed":
 * 3, ...}}, for the metrics: one read of every request. */
int workflow_tally(struct store *s, json_t **out) SIGNET_WUR;

/* Retention ([store] retention): the artifacts of requests final for
 * more than seconds are removed (a file goes once no request refers to
 * it); the records stay, marked "artifactsRemovedAt", and each removal is
 * audited. At most SIGNET_RETENTION_BATCH requests a call. */
int workflow_expire_artifacts(struct store *s, struct cas *c,
    uint64_t seconds, time_t now, unsigned *removed) SIGNET_WUR;

#endif
