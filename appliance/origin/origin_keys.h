/* A build system's OIDC settings and its issuer's keys (origin_keys.c). */
#ifndef SIGNET_ORIGIN_KEYS_H
#define SIGNET_ORIGIN_KEYS_H

#include <stddef.h>

#include <jansson.h>

#include "err.h"

/* Checks the OIDC part of a build system record as the catalog stores it
 * (issuer, audience, jwks, jwksUrl, preset, claims, repositoryUrlPrefix);
 * err says what is wrong. Identities are the catalog's business. */
int origin_check_build_system(const json_t *bs, char *err,
    size_t errlen) SIGNET_WUR;

#endif
