/* Signing requests: records, their lifecycle (docs/architecture.md) and listing. */
#ifndef SIGNET_REQUEST_H
#define SIGNET_REQUEST_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "err.h"
#include "store.h"

struct cas;

#define REQUEST_ID_LEN 36	/* UUID text */
#define REQUEST_CURSOR_LEN (2 * (8 + REQUEST_ID_LEN))

/* workflowStatus values */
#define RQ_WAITING	"WaitingForApproval"
#define RQ_QUEUED	"QueuedForProcessing"
#define RQ_PROCESSING	"Processing"
#define RQ_COMPLETED	"Completed"
#define RQ_FAILED	"Failed"
#define RQ_DENIED	"Denied"
#define RQ_CANCELED	"Canceled"

struct request_new {
	const char *project;
	const char *policy;
	const char *artifact_configuration;
	const char *description;	/* may be NULL */
	json_t *parameters;		/* object, borrowed; may be NULL */
	json_t *origin;			/* object, borrowed; may be NULL */
	json_t *origin_verification;	/* object, borrowed; may be NULL */
	const char *submitter_type;	/* "client-certificate", "user" */
	const char *submitter;
	const char *artifact_name;
	const char *artifact_sha256;
	uint64_t artifact_size;
	/* the artifact's bytes when it is small enough to be kept in the
	 * database (SIGNET_INLINE_ARTIFACT_MAX); NULL: a file of the
	 * artifact store, or one the store has already */
	const unsigned char *artifact_held;
	int required_approvals;
	const char *original_id;	/* resubmit; may be NULL */
	json_t *authenticode;		/* object, borrowed; may be NULL */
	/* hash signing (hashreq.h): the stated digest instead of an
	 * artifact, whose fields are then unused; NULL otherwise */
	const json_t *hash;
};

struct request_filter {
	const char *status;		/* coarse or workflow status */
	const char *project;
	const char *policy;
	const char *submitter;		/* a user's or CI identity's name */
	const char *original_id;	/* resubmitted from this request */
	int (*visible)(const json_t *rec, void *arg);	/* may be NULL */
	void *arg;
};

/* Records a new request, its artifact reference and, when it needs no
 * approval, its place in the signer's queue. */
int request_create(struct store_txn *t, const struct request_new *n,
    json_t **rec) SIGNET_WUR;
int request_get(struct store_txn *t, const char *id, json_t **rec) SIGNET_WUR;
/* Moves rec to a new workflow status: history, pending queue, record. */
int request_transition(struct store_txn *t, json_t *rec, const char *to,
    const char *reason) SIGNET_WUR;
/* The same with a note on the history entry (why a request waits). */
int request_transition_note(struct store_txn *t, json_t *rec, const char *to,
    const char *note) SIGNET_WUR;
int request_put(struct store_txn *t, json_t *rec) SIGNET_WUR;
/* Adds one reference to an artifact (creating its entry). held: its size
 * bytes, kept in the database (STORE_BLOBS) unless the artifact is there
 * already, as a file or in the database; NULL: a stored file. */
int request_artifact_ref(struct store_txn *t, const char *sha256,
    uint64_t size, const unsigned char *held) SIGNET_WUR;
/* Takes one reference away; at none the entry goes, with the bytes kept
 * in the database, and *gone is 1 (its file, if any, is for the caller
 * to remove once t is committed). No entry: 0 and *gone 0. */
int request_artifact_unref(struct store_txn *t, const char *sha256,
    int *gone) SIGNET_WUR;
/* Opens a stored artifact's bytes for reading (O_CLOEXEC), from the
 * database when they are kept there (a sealed memory file), else from
 * the artifact store; *size is its length. SIGNET_ERR_NOT_FOUND when
 * neither has it. */
int request_artifact_open(struct store *s, struct cas *c, const char *sha256,
    int *fd, uint64_t *size) SIGNET_WUR;
/* The same in t, a transaction of the caller's. */
int request_artifact_open_in(struct store_txn *t, struct cas *c,
    const char *sha256, int *fd, uint64_t *size) SIGNET_WUR;
/* The artifacts kept in the database: how many, and their bytes. */
int request_held_usage(struct store *s, uint64_t *count,
    uint64_t *bytes) SIGNET_WUR;
/* Is rec a hash signing request (no artifact, a "hash" object)? */
int request_is_hash(const json_t *rec);
/* The API representation (a new object). */
json_t *request_api(const json_t *rec);
int request_is_final(const char *workflow);
const char *request_coarse(const char *workflow);
int request_valid_status(const char *s);
int request_valid_id(const char *id);
/* Newest first; cursor is "" for the first page; next is "" at the end. */
int request_list(struct store_txn *t, const struct request_filter *f,
    size_t page_size, const char *cursor, json_t **items,
    char next[REQUEST_CURSOR_LEN + 1]) SIGNET_WUR;
/* Ids waiting for the signer, oldest first. */
int request_pending(struct store_txn *t, void (*fn)(const char *id, void *),
    void *arg) SIGNET_WUR;
/* Does any request reference the artifact? (garbage collection) */
int request_artifact_known(struct store_txn *t, const char *sha256);
/* Current time as RFC 3339 UTC with milliseconds. */
void request_now(char out[32], uint64_t *ns);

#endif
