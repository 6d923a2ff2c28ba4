/* Origin collection. Each CI names the same facts differently; the
 * mapping below follows each system's documented variables:
 *   GitHub: docs.github.com/actions/learn-github-actions/variables
 *   GitLab: docs.gitlab.com/ee/ci/variables/predefined_variables.html
 *   Jenkins: the git plugin (GIT_*) and multibranch (BRANCH_NAME, TAG_NAME).
 *
 * branchName carries a branch as its short name ("main") and anything else
 * as its full ref ("refs/tags/v1.2", "refs/pull/7/merge"), so a policy's
 * branch rules (main, release/..., refs/tags/v...) can tell a tag from
 * a branch of the same name. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <jansson.h>
#include <openssl/crypto.h>

#include "ci_origin.h"
#include "client.h"
#include "signet_limits.h"

static const char *const ci_origin_names[CI_ORIGIN_NFIELDS] = {
	[CI_ORIGIN_REPOSITORY_URL] = "repositoryUrl",
	[CI_ORIGIN_COMMIT_ID] = "commitId",
	[CI_ORIGIN_BRANCH_NAME] = "branchName",
	[CI_ORIGIN_BUILD_URL] = "buildUrl",
	[CI_ORIGIN_BUILD_ID] = "buildId",
};

const char *
ci_origin_field_name(int field)
{
	if (field < 0 || field >= CI_ORIGIN_NFIELDS)
		return NULL;
	return ci_origin_names[field];
}

int
ci_origin_field_by_name(const char *name)
{
	int i;

	for (i = 0; i < CI_ORIGIN_NFIELDS; i++)
		if (strcmp(name, ci_origin_names[i]) == 0)
			return i;
	return -1;
}

/* An unset and an empty variable mean the same: not known. */
static const char *
ci_origin_env(const char *name)
{
	const char *v = getenv(name);

	return v != NULL && *v != '\0' ? v : NULL;
}

/* value = the parts joined (a NULL-terminated list), refused when longer
 * than the appliance accepts rather than cut: a cut URL names another
 * place. */
static int
ci_origin_put(struct ci_origin *o, int field, const char *const *parts,
    char *err, size_t errlen)
{
	size_t n = 0, i, off = 0, l;
	char *v;

	for (i = 0; parts[i] != NULL; i++)
		n += strlen(parts[i]);
	if (n > SIGNET_MAX_ORIGIN_VALUE) {
		snprintf(err, errlen, "origin.%s from the %s environment is "
		    "longer than %d bytes", ci_origin_names[field],
		    o->system ? o->system : "command line",
		    SIGNET_MAX_ORIGIN_VALUE);
		return SIGNET_ERR_TOO_LARGE;
	}
	if ((v = malloc(n + 1)) == NULL)
		return SIGNET_ERR_NOMEM;
	for (i = 0; parts[i] != NULL; i++) {
		l = strlen(parts[i]);
		memcpy(v + off, parts[i], l);
		off += l;
	}
	v[off] = '\0';
	free(o->value[field]);
	o->value[field] = v;
	return 0;
}

int
ci_origin_set(struct ci_origin *o, int field, const char *value)
{
	const char *parts[] = { value, NULL };
	char err[8];

	if (field < 0 || field >= CI_ORIGIN_NFIELDS)
		return SIGNET_ERR_INVALID;
	return ci_origin_put(o, field, parts, err, sizeof(err));
}

/* A compact JWS (RFC 7515 section 7.1): three base64url parts. Checked
 * here only so that a wrong variable is named before the upload. */
static int
ci_origin_jwt_shape(const char *t, size_t n)
{
	size_t i, dots = 0;

	if (n == 0 || n > SIGNET_MAX_ID_TOKEN)
		return 0;
	for (i = 0; i < n; i++) {
		if (t[i] == '.')
			dots++;
		else if (!((t[i] >= 'A' && t[i] <= 'Z') ||
		    (t[i] >= 'a' && t[i] <= 'z') ||
		    (t[i] >= '0' && t[i] <= '9') || t[i] == '-' || t[i] == '_'))
			return 0;
	}
	return dots == 2;
}

static int
ci_origin_take_token(struct ci_origin *o, const char *t, const char *from,
    char *err, size_t errlen)
{
	size_t n = strlen(t);

	if (!ci_origin_jwt_shape(t, n)) {
		snprintf(err, errlen, "%s does not hold an ID token (a JWT of "
		    "at most %d bytes)", from, SIGNET_MAX_ID_TOKEN);
		return SIGNET_ERR_INVALID;
	}
	if ((o->id_token = malloc(n + 1)) == NULL)
		return SIGNET_ERR_NOMEM;
	memcpy(o->id_token, t, n + 1);
	o->id_token_len = n;
	return 0;
}

/* GitHub's OIDC provider: GET the request URL with the audience added,
 * authenticated with the request token; the answer is {"value": JWT}.
 * Both variables exist only for jobs granted `id-token: write`. */
static int
ci_origin_github_token(const struct ci_origin_opts *opts, struct ci_origin *o,
    char *err, size_t errlen)
{
	const char *url = ci_origin_env("ACTIONS_ID_TOKEN_REQUEST_URL");
	const char *req = ci_origin_env("ACTIONS_ID_TOKEN_REQUEST_TOKEN");
	const char *aud = opts->audience ? opts->audience :
	    CI_ORIGIN_DEFAULT_AUDIENCE, *v;
	struct client_opts co;
	struct client *c = NULL;
	char *esc = NULL, *full = NULL;
	json_t *j = NULL;
	size_t n;
	int r = SIGNET_ERR_NOMEM;

	if (url == NULL || req == NULL) {
		o->note = "no ID token: GitHub offers one to jobs with "
		    "`permissions: id-token: write`";
		return 0;
	}
	if (strlen(aud) > CI_ORIGIN_MAX_AUDIENCE) {
		snprintf(err, errlen, "--audience is longer than %d bytes",
		    CI_ORIGIN_MAX_AUDIENCE);
		return SIGNET_ERR_TOO_LARGE;
	}
	if ((esc = curl_easy_escape(NULL, aud, 0)) == NULL)
		goto out;
	n = strlen(url) + strlen(esc) + sizeof("&audience=");
	if ((full = malloc(n)) == NULL)
		goto out;
	snprintf(full, n, "%s%caudience=%s", url,
	    strchr(url, '?') != NULL ? '&' : '?', esc);
	memset(&co, 0, sizeof(co));
	co.url = full;
	co.token = req;
	co.retries = opts->retries;
	if ((r = client_new(&co, &c)) != 0) {
		snprintf(err, errlen, "ACTIONS_ID_TOKEN_REQUEST_URL is not an "
		    "https:// URL");
		goto out;
	}
	if ((r = client_get_json(c, "", &j)) != 0) {
		snprintf(err, errlen, "requesting the ID token from GitHub "
		    "failed: %s", client_message(c));
		goto out;
	}
	if ((v = json_string_value(json_object_get(j, "value"))) == NULL) {
		snprintf(err, errlen, "GitHub's ID-token endpoint answered "
		    "without a token (\"value\")");
		r = SIGNET_ERR_INVALID;
		goto out;
	}
	r = ci_origin_take_token(o, v, "GitHub's ID-token answer", err,
	    errlen);
out:
	/* jansson memory is wiped on free (client_global_init) */
	json_decref(j);
	client_free(c);
	curl_free(esc);
	free(full);
	return r;
}

/* Sets field f to its parts joined when the first part is known (the
 * others are known by then). */
#define PUT(f, first, ...) do {						\
	if ((first) != NULL && (r = ci_origin_put(o, (f),		\
	    (const char *const[]){ (first), __VA_ARGS__ }, err,	\
	    errlen)) != 0)						\
		return r;						\
} while (0)

/* A branch by its short name, unless that name itself starts with
 * "refs/": the appliance reads such a value as a full ref, so branch
 * "refs/tags/v1" goes as "refs/heads/refs/tags/v1" (docs/origin.md). */
#define PUT_BRANCH(name) do {						\
	if ((name) != NULL && strncmp((name), "refs/", 5) == 0)		\
		PUT(CI_ORIGIN_BRANCH_NAME, "refs/heads/", (name), NULL);	\
	else								\
		PUT(CI_ORIGIN_BRANCH_NAME, (name), NULL);		\
} while (0)

static int
ci_origin_github(const struct ci_origin_opts *opts, struct ci_origin *o,
    char *err, size_t errlen)
{
	const char *server = ci_origin_env("GITHUB_SERVER_URL");
	const char *repo = ci_origin_env("GITHUB_REPOSITORY");
	const char *ref = ci_origin_env("GITHUB_REF");
	const char *run = ci_origin_env("GITHUB_RUN_ID");
	const char *attempt = ci_origin_env("GITHUB_RUN_ATTEMPT");
	const char *name = ci_origin_env("GITHUB_REF_NAME");
	const char *type = ci_origin_env("GITHUB_REF_TYPE");
	int r;

	o->system = "GitHub Actions";
	if (server == NULL)
		server = "https://github.com";
	if (repo != NULL) {
		PUT(CI_ORIGIN_REPOSITORY_URL, server, "/", repo, NULL);
		/* a re-run is another attempt of the same run; the
		 * attempt's page shows the job that built this artifact */
		if (run != NULL && attempt != NULL)
			PUT(CI_ORIGIN_BUILD_URL, server, "/", repo,
			    "/actions/runs/", run, "/attempts/", attempt, NULL);
		else if (run != NULL)
			PUT(CI_ORIGIN_BUILD_URL, server, "/", repo,
			    "/actions/runs/", run, NULL);
	}
	PUT(CI_ORIGIN_COMMIT_ID, ci_origin_env("GITHUB_SHA"), NULL);
	if (ref != NULL && strncmp(ref, "refs/heads/", 11) == 0)
		PUT_BRANCH(ref + 11);
	else if (ref != NULL)
		PUT(CI_ORIGIN_BRANCH_NAME, ref, NULL);
	else if (name != NULL && type != NULL && strcmp(type, "tag") == 0)
		PUT(CI_ORIGIN_BRANCH_NAME, "refs/tags/", name, NULL);
	else if (name != NULL)
		PUT_BRANCH(name);
	/* the run id alone: it is what the token's run_id claim holds */
	PUT(CI_ORIGIN_BUILD_ID, run, NULL);
	return ci_origin_github_token(opts, o, err, errlen);
}

static int
ci_origin_gitlab(const struct ci_origin_opts *opts, struct ci_origin *o,
    char *err, size_t errlen)
{
	const char *var = opts->gitlab_var ? opts->gitlab_var :
	    CI_ORIGIN_DEFAULT_GITLAB_VAR;
	const char *tag = ci_origin_env("CI_COMMIT_TAG");
	const char *branch = ci_origin_env("CI_COMMIT_BRANCH");
	const char *refname = ci_origin_env("CI_COMMIT_REF_NAME");
	const char *pipeline = ci_origin_env("CI_PIPELINE_URL");
	const char *tok;
	char from[128];
	int r;

	o->system = "GitLab CI";
	PUT(CI_ORIGIN_REPOSITORY_URL, ci_origin_env("CI_PROJECT_URL"), NULL);
	PUT(CI_ORIGIN_COMMIT_ID, ci_origin_env("CI_COMMIT_SHA"), NULL);
	if (tag != NULL)
		PUT(CI_ORIGIN_BRANCH_NAME, "refs/tags/", tag, NULL);
	else if (branch != NULL)
		PUT_BRANCH(branch);
	else
		PUT_BRANCH(refname);
	PUT(CI_ORIGIN_BUILD_URL, pipeline != NULL ? pipeline :
	    ci_origin_env("CI_JOB_URL"), NULL);
	/* the pipeline: what the token's pipeline_id claim holds */
	PUT(CI_ORIGIN_BUILD_ID, ci_origin_env("CI_PIPELINE_ID"), NULL);
	/* GitLab puts a job's id_tokens into variables the pipeline names */
	if ((tok = ci_origin_env(var)) == NULL) {
		if (opts->gitlab_var_given) {
			snprintf(err, errlen, "the variable %.64s (--gitlab-id-"
			    "token-var) is not set; declare it under id_tokens "
			    "in .gitlab-ci.yml", var);
			return SIGNET_ERR_NOT_FOUND;
		}
		o->note = "no ID token: declare id_tokens: " 
		    CI_ORIGIN_DEFAULT_GITLAB_VAR " in the job";
		return 0;
	}
	snprintf(from, sizeof(from), "the variable %.64s", var);
	return ci_origin_take_token(o, tok, from, err, errlen);
}

static int
ci_origin_jenkins(struct ci_origin *o, char *err, size_t errlen)
{
	const char *tag = ci_origin_env("TAG_NAME");
	const char *branch = ci_origin_env("BRANCH_NAME");
	const char *git = ci_origin_env("GIT_BRANCH");
	int r;

	o->system = "Jenkins";
	PUT(CI_ORIGIN_REPOSITORY_URL, ci_origin_env("GIT_URL"), NULL);
	PUT(CI_ORIGIN_COMMIT_ID, ci_origin_env("GIT_COMMIT"), NULL);
	/* multibranch pipelines name the branch or tag; the git plugin
	 * names the remote-tracking branch ("origin/main") */
	if (tag != NULL)
		PUT(CI_ORIGIN_BRANCH_NAME, "refs/tags/", tag, NULL);
	else if (branch != NULL)
		PUT_BRANCH(branch);
	else if (git != NULL && strncmp(git, "origin/", 7) == 0)
		PUT_BRANCH(git + 7);
	else if (git != NULL && strncmp(git, "refs/heads/", 11) == 0)
		PUT_BRANCH(git + 11);
	else
		PUT(CI_ORIGIN_BRANCH_NAME, git, NULL);
	PUT(CI_ORIGIN_BUILD_URL, ci_origin_env("BUILD_URL"), NULL);
	PUT(CI_ORIGIN_BUILD_ID, ci_origin_env("BUILD_ID"), NULL);
	return 0;
}

#undef PUT_BRANCH
#undef PUT

int
ci_origin_collect(const struct ci_origin_opts *opts, struct ci_origin *o,
    char *err, size_t errlen)
{
	const char *gh = ci_origin_env("GITHUB_ACTIONS");
	const char *gl = ci_origin_env("GITLAB_CI");

	memset(o, 0, sizeof(*o));
	err[0] = '\0';
	if (gh != NULL && strcmp(gh, "true") == 0)
		return ci_origin_github(opts, o, err, errlen);
	if (gl != NULL && strcmp(gl, "true") == 0)
		return ci_origin_gitlab(opts, o, err, errlen);
	if (ci_origin_env("JENKINS_URL") != NULL)
		return ci_origin_jenkins(o, err, errlen);
	return 0;
}

void
ci_origin_free(struct ci_origin *o)
{
	int i;

	if (o == NULL)
		return;
	for (i = 0; i < CI_ORIGIN_NFIELDS; i++) {
		free(o->value[i]);
		o->value[i] = NULL;
	}
	if (o->id_token != NULL)
		OPENSSL_clear_free(o->id_token, o->id_token_len);
	o->id_token = NULL;
	o->id_token_len = 0;
}
