/* ID-token verification against one build system (origin_token.c). */
#ifndef SIGNET_ORIGIN_TOKEN_H
#define SIGNET_ORIGIN_TOKEN_H

#include <stddef.h>
#include <time.h>

#include <jansson.h>

#include "err.h"

/* The token check alone, against one build system record: signature by
 * a key of its JWKS, iss, aud, exp/nbf/iat at time now, and the claims
 * against the origin fields. Fields the token vouches for and the
 * submitter left out are filled into origin. 0 and *evidence
 * ({keyId, algorithm, claims}); SIGNET_ERR_FORBIDDEN with reason (which
 * never contains the token); other errors are internal. */
int origin_verify_token(const json_t *bs, const char *token, json_t *origin,
    time_t now, json_t **evidence, char *reason, size_t rlen) SIGNET_WUR;

#endif
