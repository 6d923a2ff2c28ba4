/* The audit log: every state change, decision, login and administrative
 * change, appended to a hash chain in LMDB (STORE_AUDIT, head in
 * STORE_META "audit_head"). Each entry carries the SHA-256 of the one
 * before, so an export can be re-checked by anyone (docs/audit.md gives the
 * exact encoding and an independent verifier). */
#ifndef SIGNET_AUDIT_H
#define SIGNET_AUDIT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "err.h"
#include "signet_limits.h"
#include "store.h"

#define AUDIT_HASH_HEX_LEN	64	/* SHA-256, lowercase hex */

/* Appends an entry inside the caller's write transaction, so the entry and
 * the change it records commit together or not at all. details is
 * borrowed, may be NULL. actor_type: "user", "client-certificate",
 * "system". action: dotted verb such as "signing-request.submitted",
 * "signing-request.approved", "session.login-failed", "policy.updated".
 * target: what it is about (request id, user name, "project/policy"), may
 * be NULL. details must be an object without real numbers or NUL
 * characters, nested at most SIGNET_MAX_JSON_DEPTH deep
 * (SIGNET_ERR_INVALID); an entry over SIGNET_MAX_AUDIT_ENTRY is
 * SIGNET_ERR_TOO_LARGE. */
int audit_append(struct store_txn *t, const char *actor_type,
    const char *actor, const char *action, const char *target,
    const json_t *details) SIGNET_WUR;

/* Entries with seq > after, oldest first, at most limit (1 to
 * SIGNET_MAX_AUDIT_PAGE, else SIGNET_ERR_INVALID); *next = seq of the
 * last returned when more exist, else 0. *items is a new array of entry
 * objects (as exported). */
int audit_list(struct store_txn *t, uint64_t after, size_t limit,
    json_t **items, uint64_t *next) SIGNET_WUR;

/* The canonical JSON line of an entry (what export writes and verify
 * reads), without the newline. malloc'ed; NULL when out of memory. */
char *audit_line(const json_t *entry);
/* audit_list in a read transaction of its own. */
int audit_page(struct store *s, uint64_t after, size_t limit,
    json_t **items, uint64_t *next) SIGNET_WUR;
/* The whole log from after on, one entry at a time as audit_line
 * writes it, in one read transaction (a consistent cut). fn returning
 * non-zero stops; an entry that cannot be read or encoded ends the walk
 * with its error (the lines before it were given). */
int audit_export(struct store *s, uint64_t after,
    int (*fn)(const char *line, void *arg), void *arg) SIGNET_WUR;

/* Verifies a JSON-lines export read from f: every line parses, seq
 * increases by exactly 1, prevHash equals the previous entry's hash (the
 * first entry's prevHash is accepted as the anchor, and reported), hash
 * equals SHA-256 of the canonical encoding of the entry without "hash",
 * and each line is exactly its canonical encoding. On failure returns
 * SIGNET_ERR_INVALID and writes "line N (seq S): <what is wrong>" into
 * msg; SIGNET_ERR_IO when f cannot be read. On success writes a summary
 * ("N entries, seq A..B, chain intact, head <hash>; ..."). */
int audit_verify(FILE *f, char *msg, size_t len) SIGNET_WUR;

#endif
