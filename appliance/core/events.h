/* What happens to a signing request is recorded and told: one audit entry
 * per change and, where the workflow calls for it, notifications to the
 * policy's approvers, the submitter and the project's webhooks. Runs
 * inside the transaction that makes the change. */
#ifndef SIGNET_EVENTS_H
#define SIGNET_EVENTS_H

#include <jansson.h>

#include "err.h"
#include "store.h"

/* action: "signing-request.submitted", ".resubmitted", ".approved",
 * ".denied", ".canceled", ".completed", ".failed". details borrowed. */
int events_request(struct store_txn *t, const json_t *rec,
    const char *actor_type, const char *actor, const char *action,
    const json_t *details) SIGNET_WUR;

#endif
