/* The signing worker pool: takes requests that are QueuedForProcessing,
 * signs them through the keyholder and records the result. The queue is
 * kept in LMDB (STORE_PENDING), so a restart resumes where it stopped. */
#ifndef SIGNET_SIGNER_H
#define SIGNET_SIGNER_H

#include <stddef.h>
#include <time.h>

#include "err.h"

struct app;
struct signer;

/* Starts the workers and queues every pending request. */
int signer_start(struct app *app, int workers, struct signer **out) SIGNET_WUR;
/* Wakes a worker for a request just committed as QueuedForProcessing. */
int signer_enqueue(struct signer *s, const char *id) SIGNET_WUR;
/* Takes no more requests from now on (those signing finish); the queue
 * stays in LMDB for the next start. For when something the signer
 * needs is gone for good (the keyholder). Accepts NULL. */
void signer_halt(struct signer *s);
/* Requests the signer holds (queued, waiting, signing), and the one
 * queued longest (its id into oldest, "" when none, and since when).
 * For health, metrics and back-pressure; s may be NULL. */
void signer_stats(struct signer *s, unsigned *depth, char *oldest,
    size_t oldest_len, time_t *oldest_at);
unsigned signer_depth(struct signer *s);
/* 1 once the signer takes no more requests (or there is none). */
int signer_halted(struct signer *s);
/* Lets running signatures finish, then joins the workers; accepts NULL. */
void signer_stop(struct signer *s);

#endif
