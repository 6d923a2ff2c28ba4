/* Refreshing a trusted build system's JWKS from its jwksUrl
 * (docs/origin.md): the appliance is offline, but a URL inside the
 * firewall may serve the issuer's current keys. One thread fetches every
 * build system's jwksUrl at start and then every interval; an
 * administrator may ask for one build system at once. A document is
 * judged exactly as apply judges a build system's jwks; a failed fetch or
 * a refused document changes nothing, so the stored set keeps working. */
#ifndef SIGNET_JWKS_REFRESH_H
#define SIGNET_JWKS_REFRESH_H

#include <stddef.h>

#include <jansson.h>

#include "err.h"
#include "store.h"

struct jwks_refresh;

struct jwks_refresh_opts {
	const char *ca_file;	/* CAs of the JWKS servers; NULL = system */
	unsigned interval_s;	/* 0: no thread, refresh on request only */
};

/* Starts the thread (unless interval_s is 0). Stop it before closing the
 * store. */
int jwks_refresh_start(struct store *s, const struct jwks_refresh_opts *o,
    struct jwks_refresh **out) SIGNET_WUR;
/* Stops the thread, aborting a fetch in progress. Accepts NULL. */
void jwks_refresh_stop(struct jwks_refresh *j);

/* Fetches build system name's jwksUrl now. When the document is
 * acceptable and differs from the stored jwks, the record is rewritten
 * with an audit entry (build-system.jwks-refreshed, by actor) in one
 * write transaction. 0 with *changed and *key_ids (a new array of the
 * kids now stored); else err says why and nothing changed:
 * SIGNET_ERR_NOT_FOUND no such build system, SIGNET_ERR_CONFLICT it has
 * no jwksUrl (or it changed during the fetch), SIGNET_ERR_UNAVAILABLE
 * the fetch failed, SIGNET_ERR_INVALID / SIGNET_ERR_TOO_LARGE the
 * document is refused; other errors are internal. */
int jwks_refresh_one(struct jwks_refresh *j, const char *name,
    const char *actor_type, const char *actor, int *changed,
    json_t **key_ids, char *err, size_t errlen) SIGNET_WUR;

#endif
