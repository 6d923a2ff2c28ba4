/* Where an artifact comes from (docs/origin.md): trusted build systems,
 * the verification of a submission's origin data (the CI identity over
 * mTLS and, where the build system has an OIDC issuer, its ID token) and
 * the origin rules of a signing policy. */
#ifndef SIGNET_ORIGIN_H
#define SIGNET_ORIGIN_H

#include <stddef.h>
#include <time.h>

#include <jansson.h>

#include "err.h"
#include "store.h"

/* Checks the OIDC part of a build system record as the catalog stores it
 * (issuer, audience, jwks, jwksUrl, preset, claims, repositoryUrlPrefix);
 * err says what is wrong. Identities are the catalog's business. */
int origin_check_build_system(const json_t *bs, char *err,
    size_t errlen) SIGNET_WUR;

/* The token check alone, against one build system record: signature by
 * a key of its JWKS, iss, aud, exp/nbf/iat at time now, and the claims
 * against the origin fields. Fields the token vouches for and the
 * submitter left out are filled into origin. 0 and *evidence
 * ({keyId, algorithm, claims}); SIGNET_ERR_FORBIDDEN with reason (which
 * never contains the token); other errors are internal. */
int origin_verify_token(const json_t *bs, const char *token, json_t *origin,
    time_t now, json_t **evidence, char *reason, size_t rlen) SIGNET_WUR;

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

/* The origin rules of policy (requireVerifiedOrigin, allowedBranches)
 * and of project (repositoryUrls) against recorded origin data and its
 * evidence (may be NULL: not verified). 0, or SIGNET_ERR_ORIGIN_RULE and
 * msg naming the rule, what was seen and how to fix it. */
int origin_rules(const json_t *project, const json_t *policy,
    const json_t *origin, const json_t *evidence, char *msg,
    size_t len) SIGNET_WUR;

/* The full ref (refs/heads/main, refs/tags/v1) that a branchName
 * names: a value starting with "refs/" is a full ref, anything else a
 * branch's short name. The one normalisation rules and verification
 * use; SIGNET_ERR_INVALID for what git would not take as a ref name. */
int origin_ref_full(const char *name, char *out, size_t len) SIGNET_WUR;

/* Checks a URL for a project's repositoryUrls: one that the repository
 * rule could never match is refused; err says why. */
int origin_check_repository_url(const char *url, char *err,
    size_t errlen) SIGNET_WUR;

/* Checks a policy's allowedBranches (NULL is fine); err says why not. */
int origin_check_branch_patterns(const json_t *patterns, char *err,
    size_t errlen) SIGNET_WUR;

/* The build system an identity belongs to (a new reference), or
 * SIGNET_ERR_NOT_FOUND. */
int origin_build_system_of(struct store_txn *t, const char *identity,
    json_t **bs) SIGNET_WUR;

#endif
