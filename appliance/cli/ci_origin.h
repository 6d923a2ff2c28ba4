/* Origin data of a build, collected from the CI system's environment
 * (GitHub Actions, GitLab CI, Jenkins), and the OIDC ID token the CI
 * issues to the job, which lets the appliance verify that origin. */
#ifndef SIGNET_CI_ORIGIN_H
#define SIGNET_CI_ORIGIN_H

#include <stddef.h>

#include "err.h"

#define CI_ORIGIN_DEFAULT_AUDIENCE	"signet"
#define CI_ORIGIN_DEFAULT_GITLAB_VAR	"SIGNET_ID_TOKEN"
/* --audience: it ends up in a URL query and in the token's aud claim */
#define CI_ORIGIN_MAX_AUDIENCE		256

/* The submission's origin.* fields, in the order they are sent. */
enum ci_origin_field {
	CI_ORIGIN_REPOSITORY_URL,
	CI_ORIGIN_COMMIT_ID,
	CI_ORIGIN_BRANCH_NAME,
	CI_ORIGIN_BUILD_URL,
	CI_ORIGIN_BUILD_ID,
	CI_ORIGIN_NFIELDS
};

struct ci_origin {
	const char *system;		/* "GitHub Actions" ...; NULL: none */
	char *value[CI_ORIGIN_NFIELDS];	/* NULL where unknown */
	char *id_token;			/* a credential: never printed */
	size_t id_token_len;
	const char *note;		/* advice when no token was found */
};

struct ci_origin_opts {
	const char *audience;		/* GitHub's token; NULL: default */
	const char *gitlab_var;		/* NULL: CI_ORIGIN_DEFAULT_GITLAB_VAR */
	int gitlab_var_given;		/* named by the user: must exist */
	int retries;			/* for the ID-token endpoint */
};

/* "repositoryUrl" ...; NULL for an unknown field */
const char *ci_origin_field_name(int field);
/* The field called name, or -1. */
int ci_origin_field_by_name(const char *name);

/*
 * Fills o from the environment; a job outside a known CI gets an empty
 * origin (system NULL). Returns SIGNET_ERR_TOO_LARGE or SIGNET_ERR_INVALID
 * when a variable breaks the appliance's limits or is no JWT,
 * SIGNET_ERR_NOT_FOUND when a named token variable is missing, or the
 * client error of the ID-token request; err explains (never the token).
 */
int ci_origin_collect(const struct ci_origin_opts *opts, struct ci_origin *o,
    char *err, size_t errlen) SIGNET_WUR;
/* Sets (replaces) one field, e.g. from --origin NAME=VALUE. */
int ci_origin_set(struct ci_origin *o, int field, const char *value)
    SIGNET_WUR;
/* Wipes the ID token and frees everything; o may be all zero. */
void ci_origin_free(struct ci_origin *o);

#endif
