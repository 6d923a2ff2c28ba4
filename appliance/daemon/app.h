/* What signetd's parts share: configuration, store, artifacts, the
 * keyholder, the signer and the background threads. One instance, made in signetd.c. */
#ifndef SIGNET_APP_H
#define SIGNET_APP_H

#include <jansson.h>

#include "cas.h"
#include "config.h"
#include "store.h"

struct kh;
struct signer;
struct notify;
struct jwks_refresh;
struct tsa;

struct app {
	struct config cfg;
	struct store *store;
	struct cas *cas;
	struct kh *kh;
	struct signer *signer;
	struct notify *notify;
	struct jwks_refresh *jwks_refresh;
	int draining;	/* stopping: submissions are refused (atomic) */
	unsigned uploads;	/* submissions being received (atomic): a
				 * drain lets them finish */
	struct tsa *tsa;	/* NULL: [tsa] is off */
};

/* After a commit that changed rec (the API, the officer console): a
 * request now QueuedForProcessing goes to a signing worker, and the
 * notifications recorded with the change go out. */
void app_after_commit(struct app *app, const json_t *rec);

#endif
