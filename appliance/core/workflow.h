/* The decisions on a signing request, shared by the API and the officer
 * console: approve, deny, cancel, resubmit, and who may see what. */
#ifndef SIGNET_WORKFLOW_H
#define SIGNET_WORKFLOW_H

#include <stddef.h>

#include <jansson.h>

#include "err.h"
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
 * original, which names it in originalSigningRequestId. */
int workflow_resubmit(struct store *s, const struct principal *p,
    const char *id, const char *policy, const char *description,
    json_t **rec, char *msg, size_t len) SIGNET_WUR;

#endif
