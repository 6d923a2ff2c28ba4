/* The LMDB environment: every record Signet keeps. Records are JSON
 * objects carrying a schema version ("v"); a write is one transaction, so a
 * signing request is recorded whole or not at all. */
#ifndef SIGNET_STORE_H
#define SIGNET_STORE_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "err.h"

#define STORE_SCHEMA_VERSION 1

enum store_db {
	STORE_META,		/* "schema" → version */
	STORE_PROJECTS,		/* slug → project */
	STORE_POLICIES,		/* "project/slug" → signing policy */
	STORE_IDENTITIES,	/* name → identity */
	STORE_CERTMAP,		/* "fp:<sha256>" | "dn:<issuer>\n<subject>" → name */
	STORE_CERTIFICATES,	/* name → certificate chain and its key */
	STORE_REQUESTS,		/* id → signing request */
	STORE_REQ_BY_TIME,	/* be64 created ns ‖ id → id */
	STORE_PENDING,		/* id → "" while queued for the signer */
	STORE_ARTIFACTS,	/* sha256 hex → {"size", "refs"} */
	STORE_USERS,		/* name → user (roles, password hash) */
	STORE_SESSIONS,		/* sha256(token) hex → session */
	STORE_AUDIT,		/* be64 sequence → audit entry */
	STORE_OUTBOX,		/* be64 sequence → notification to deliver */
	STORE_BUILD_SYSTEMS,	/* name → trusted build system (origin.c) */
	STORE_IDEMPOTENCY,	/* "type:submitter\nkey" → {"id", "sha256"} */
	STORE_BLOBS,		/* sha256 hex → the bytes of a small artifact */
	STORE_DB_COUNT
};

struct store;
struct store_txn;

int store_open(const char *dir, uint64_t map_size, struct store **out) SIGNET_WUR;
/* The appliance's database: STORE_DIR inside the state directory. */
#define STORE_DIR "db"
int store_open_state(const char *state_dir, uint64_t map_size,
    struct store **out) SIGNET_WUR;
void store_close(struct store *s);
/* Lets the map grow while running, doubling whenever less than a quarter
 * is free (or a write found it full), up to max_map bytes ([store]
 * max_map_size); max_map below the present size means it does not grow.
 * May be called again to raise the ceiling. */
int store_set_max_map(struct store *s, uint64_t max_map) SIGNET_WUR;

/* What the store holds against its limits (health, metrics). */
struct store_usage {
	uint64_t map_used;	/* bytes of the map in use */
	uint64_t map_size;	/* the map now */
	uint64_t max_map;	/* its ceiling */
	uint64_t disk_avail;	/* the file system of the database */
	uint64_t disk_total;
	int full;		/* the last write found it full: 1 the map,
				 * 2 the disk, 0 no */
};
int store_usage(struct store *s, struct store_usage *u) SIGNET_WUR;
/* Before a write that adds a record (a submission): SIGNET_ERR_STORAGE_FULL
 * and msg naming the limit when the map is at its ceiling but for the
 * reserve kept for changes of what is stored (approvals, results) and
 * the bytes `owed` to work already accepted (the signer's results of
 * the queue), or the disk is full; 0 otherwise. */
int store_admit(struct store *s, uint64_t owed, char *msg,
    size_t len) SIGNET_WUR;
/* After SIGNET_ERR_STORAGE_FULL: which limit, for the caller's message. */
void store_describe_full(struct store *s, char *msg, size_t len);
/* Compacting copy of the environment into dir (for backups and tests). */
int store_copy(struct store *s, const char *dir) SIGNET_WUR;

int store_txn_begin(struct store *s, int write, struct store_txn **out) SIGNET_WUR;
/* Both end the transaction whatever happens and set *t to NULL, so no
 * error path can leave LMDB's writer lock held (commit frees the handle
 * even when the commit fails). Abort accepts NULL and *t == NULL. */
int store_txn_commit(struct store_txn **t) SIGNET_WUR;
void store_txn_abort(struct store_txn **t);

/*
 * A write that shares its commit with those of other threads (group
 * commit). fn makes the change through t and hands its results back
 * through arg; it neither commits nor aborts t (trying to is an error and
 * keeps nothing). Returns 0 once the change is on the disk, or fn's error
 * (nothing of the change is kept), or the commit's error. The writes
 * queued together are committed in one transaction and one flush, each
 * in a nested transaction of its own, in the order they came; a write
 * sees those before it as if they were committed. fn runs on whichever
 * thread commits the batch, and may run more than once: a write whose
 * outcome could depend on the others (the map or the disk near a limit,
 * a commit that failed) is run again alone. So each run starts afresh
 * from arg and changes nothing but what it writes through t and hands
 * back. The caller holds no write transaction (it would wait for
 * itself).
 */
typedef int (*store_write_fn)(struct store_txn *t, void *arg);
int store_write(struct store *s, store_write_fn fn, void *arg) SIGNET_WUR;
/* On by default; off, every store_write is a transaction and a flush of
 * its own, as the writes that do not use it are (the comparison in
 * tests/bench/bench_commit.c). */
void store_set_group_commit(struct store *s, int on);
/* Writes queued for the next commit, not yet taken (tests). */
size_t store_writes_waiting(struct store *s);

/* Raw values: *v points into the map and is valid until the txn ends. */
int store_get(struct store_txn *t, enum store_db db, const void *k,
    size_t klen, const void **v, size_t *vlen) SIGNET_WUR;
int store_put(struct store_txn *t, enum store_db db, const void *k,
    size_t klen, const void *v, size_t vlen) SIGNET_WUR;
int store_del(struct store_txn *t, enum store_db db, const void *k,
    size_t klen) SIGNET_WUR;

/* JSON records keyed by a string; get checks the schema version and
 * returns a new reference. */
int store_get_json(struct store_txn *t, enum store_db db, const char *key,
    json_t **out) SIGNET_WUR;
int store_put_json(struct store_txn *t, enum store_db db, const char *key,
    json_t *v) SIGNET_WUR;

/* Walks db from the key after `after` (or the first/last key when NULL),
 * forward or backward, calling fn until it returns non-zero (returned;
 * 1 means "stop, no error"). Only keys starting with prefix are visited. */
typedef int (*store_walk_fn)(const void *k, size_t klen, const void *v,
    size_t vlen, void *arg);
int store_walk(struct store_txn *t, enum store_db db, const void *prefix,
    size_t plen, const void *after, size_t alen, int backward,
    store_walk_fn fn, void *arg) SIGNET_WUR;

#endif
