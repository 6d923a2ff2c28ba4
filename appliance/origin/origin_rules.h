/* The origin rules and the one form of refs and URLs (origin_rules.c). */
#ifndef SIGNET_ORIGIN_RULES_H
#define SIGNET_ORIGIN_RULES_H

#include <stddef.h>

#include <jansson.h>

#include "err.h"

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

#endif
