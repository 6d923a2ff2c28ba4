/* Where an artifact comes from (docs/origin.md): trusted build systems,
 * the verification of a submission's origin data (the CI identity over
 * mTLS and, where the build system has an OIDC issuer, its ID token) and
 * the origin rules of a signing policy. This header is the part's: the
 * issuer's keys are in origin_keys.h, the ID token in origin_token.h, the
 * rules in origin_rules.h. */
#ifndef SIGNET_ORIGIN_H
#define SIGNET_ORIGIN_H

#include <stddef.h>
#include <time.h>

#include <jansson.h>

#include "err.h"
#include "origin_keys.h"
#include "origin_rules.h"
#include "origin_token.h"
#include "store.h"

/* What a submission's origin is worth: *evidence is the request's
 * originVerification ({verified, buildSystem, issuer, keyId, claims,
 * verifiedAt, reason}), made for every submission. A token that does not
 * verify is evidence with verified false, not an error; errors are
 * internal only. submitter_type is "client-certificate" for CI
 * identities. */
int origin_verify(struct store_txn *t, const char *submitter_type,
    const char *submitter, json_t *origin, time_t now,
    json_t **evidence) SIGNET_WUR;

/* Wipes the ID token out of origin: once verified, the evidence is what
 * is kept (an ID token is a credential until it expires). */
void origin_forget_token(json_t *origin);

/* The build system an identity belongs to (a new reference), or
 * SIGNET_ERR_NOT_FOUND. */
int origin_build_system_of(struct store_txn *t, const char *identity,
    json_t **bs) SIGNET_WUR;

#endif
