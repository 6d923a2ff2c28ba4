/* signet submit | resubmit | status | download | approve | deny | cancel |
 * login: the appliance's API from a CI job or a shell. Connection settings
 * come from flags or the SIGNET_* variables .dev/env exports. Exit codes
 * are part of the interface (docs/ci.md): pipelines branch on them. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sys/stat.h>

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "ci_origin.h"
#include "client.h"
#include "num.h"
#include "prompt.h"
#include "request.h"
#include "signet_ci.h"
#include "signet_limits.h"
#include "users.h"

#define CI_EXIT_OK		0	/* done; Completed when waiting */
#define CI_EXIT_NOT_COMPLETED	1	/* ended Failed, Denied, Canceled */
#define CI_EXIT_USAGE		2	/* flags, files named, settings */
#define CI_EXIT_REFUSED		3	/* the server refused (4xx) */
#define CI_EXIT_UNAVAILABLE	4	/* 5xx, network, after retries */
#define CI_EXIT_TIMEOUT		5	/* --wait ran out of time */
#define CI_EXIT_LOCAL		6	/* local I/O (or memory) */

/* Approvals by people take time: a working day is not unusual. */
/* "signet-cli-" and a SHA-256 in hex */
#define CI_IDEM_KEY_LEN		(11 + 64)
#define CI_DEFAULT_WAIT_S	(6L * 3600)
#define CI_MAX_WAIT_S		(7L * 24 * 3600)
/* Polling while waiting: 1 s, doubling, at most 15 s between reads. */
#define CI_POLL_FIRST_MS	1000L
#define CI_POLL_MAX_MS		15000L
/* Progress lines on a terminal, at most this often. */
#define CI_PROGRESS_MS		250L
#define CI_MAX_PATH		256

/* Options, as bits: each command accepts its own set. */
enum {
	O_PROJECT = 1 << 0, O_POLICY = 1 << 1, O_CONF = 1 << 2,
	O_ARTIFACT = 1 << 3, O_DESCRIPTION = 1 << 4, O_PARAM = 1 << 5,
	O_WAIT = 1 << 6, O_TIMEOUT = 1 << 7, O_OUTPUT = 1 << 8,
	O_ORIGIN = 1 << 9, O_AUDIENCE = 1 << 10, O_GITLAB = 1 << 11,
	O_UNSIGNED = 1 << 12, O_COMMENT = 1 << 13, O_USERNAME = 1 << 14,
};

enum {
	OPT_URL = 256, OPT_CACERT, OPT_CERT, OPT_KEY, OPT_TOKEN, OPT_RETRIES,
	OPT_JSON, OPT_HELP, OPT_PROJECT, OPT_POLICY, OPT_CONF, OPT_ARTIFACT,
	OPT_DESCRIPTION, OPT_PARAM, OPT_WAIT, OPT_TIMEOUT, OPT_OUTPUT,
	OPT_ORIGIN_ENV, OPT_NO_ORIGIN, OPT_ORIGIN, OPT_AUDIENCE, OPT_GITLAB,
	OPT_UNSIGNED, OPT_COMMENT, OPT_USERNAME,
};

struct ci {
	struct client_opts co;
	struct client *c;
	const char *cmd;
	const char *id;
	int json;
	const char *project;
	const char *policy;
	const char *conf;
	const char *artifact;
	const char *description;
	const char *params[SIGNET_MAX_PARAMETERS];
	size_t nparams;
	const char *origin_set[CI_ORIGIN_NFIELDS];
	int origin_env;
	int wait;
	long timeout_s;
	const char *output;
	const char *audience;
	const char *gitlab_var;
	int unsigned_artifact;
	const char *comment;
	const char *username;
	/* upload progress */
	int progress_shown;
	int progress_done;
	struct timespec progress_at;
};

struct ci_command {
	const char *name;
	int (*run)(struct ci *);
	int opts;		/* O_* accepted */
	int takes_id;
	const char *synopsis;
	const char *help;
};

static const char ci_connection_help[] =
    "Connection (flags, else the environment):\n"
    "  --url URL         SIGNET_URL          https://appliance[:port]\n"
    "  --cacert FILE     SIGNET_CACERT       CA of the appliance's TLS "
    "certificate\n"
    "  --cert FILE       SIGNET_CLIENT_CERT  client certificate (CI systems)\n"
    "  --key FILE        SIGNET_CLIENT_KEY   its private key\n"
    "  --token TOKEN     SIGNET_TOKEN        bearer token from `signet "
    "login` (people);\n"
    "                                        prefer the variable: flags "
    "show in ps\n"
    "  --retries N       SIGNET_RETRIES      retries on 429/502/503/504 and "
    "connection\n"
    "                                        failures, with backoff "
    "(default 5)\n"
    "  --json            machine-readable output on stdout\n";

static const char ci_exit_help[] =
    "Exit codes:\n"
    "  0  success (with --wait: the request is Completed)\n"
    "  1  the request ended Failed, Denied or Canceled\n"
    "  2  usage error (flags, settings, unusable CA/certificate/key file)\n"
    "  3  the server refused the call (4xx); its message is printed\n"
    "  4  server or network unavailable after the retries (5xx, 429, "
    "TLS, connection)\n"
    "  5  --timeout reached while waiting (the request goes on)\n"
    "  6  local I/O error (artifact unreadable, output not writable)\n";

static int ci_submit(struct ci *);
static int ci_resubmit(struct ci *);
static int ci_status(struct ci *);
static int ci_download(struct ci *);
static int ci_decide(struct ci *);
static int ci_login(struct ci *);

static const struct ci_command ci_commands[] = {
	{ "submit", ci_submit, O_PROJECT | O_POLICY | O_CONF | O_ARTIFACT |
	    O_DESCRIPTION | O_PARAM | O_WAIT | O_TIMEOUT | O_OUTPUT |
	    O_ORIGIN | O_AUDIENCE | O_GITLAB, 0,
	    "submit --project P --policy S --artifact FILE [options]",
	    "Submits FILE for signing under project P's signing policy S and "
	    "prints the\nrequest's id on stdout (its URL on stderr).\n\n"
	    "  --configuration C            a signature format the policy "
	    "allows: detached-cms,\n"
	    "                               authenticode (chosen from the "
	    "file), authenticode-pe,\n"
	    "                               -msi, -cab, -script (default: "
	    "the appliance's default\n"
	    "                               format; also "
	    "--artifact-configuration)\n"
	    "  --description D\n"
	    "  --param NAME=VALUE           a parameter; repeat for more\n"
	    "  --wait                       wait until the request is final "
	    "(polls 1 s .. 15 s)\n"
	    "  --timeout SECONDS            how long --wait waits (default "
	    "21600: 6 h,\n"
	    "                               approvals by people take time)\n"
	    "  --output FILE                with --wait: download the signed "
	    "artifact\n"
	    "  --origin-from-env            collect origin data from GitHub "
	    "Actions, GitLab CI\n"
	    "                               or Jenkins variables (default)\n"
	    "  --no-origin                  send no origin data\n"
	    "  --origin NAME=VALUE          set one origin field yourself "
	    "(repositoryUrl,\n"
	    "                               commitId, branchName, buildUrl, "
	    "buildId)\n"
	    "  --audience AUD               audience of GitHub's ID token "
	    "(default signet)\n"
	    "  --gitlab-id-token-var NAME   GitLab id_tokens variable "
	    "(default SIGNET_ID_TOKEN)\n\n"
	    "branchName is the branch's name (main) or the full ref of "
	    "anything else\n(refs/tags/v1.2). Upload progress is shown when "
	    "stderr is a terminal.\n" },
	{ "resubmit", ci_resubmit, O_POLICY | O_DESCRIPTION | O_WAIT |
	    O_TIMEOUT | O_OUTPUT, 1,
	    "resubmit ID --policy S [--description D] [--wait [--timeout "
	    "SECONDS]] [--output FILE]",
	    "Creates a new request for request ID's artifact under signing "
	    "policy S (same\nproject, parameters and origin) and prints its "
	    "id. --wait, --timeout and\n--output work as for submit.\n" },
	{ "status", ci_status, 0, 1, "status ID [--json]",
	    "Shows a signing request.\n" },
	{ "download", ci_download, O_UNSIGNED | O_OUTPUT, 1,
	    "download ID [--unsigned] --output FILE",
	    "Downloads the signed artifact (a detached DER CMS signature), "
	    "or with\n--unsigned the artifact as submitted, into FILE "
	    "(written whole or not at all).\n" },
	{ "approve", ci_decide, O_COMMENT, 1, "approve ID [--comment C]",
	    "Approves a request waiting for approval (an approver of its "
	    "policy).\n" },
	{ "deny", ci_decide, O_COMMENT, 1, "deny ID [--comment C]",
	    "Denies a request waiting for approval; it ends Denied.\n" },
	{ "cancel", ci_decide, O_COMMENT, 1, "cancel ID [--comment C]",
	    "Cancels a request that is not yet signed.\n" },
	{ "login", ci_login, O_USERNAME, 0, "login --username U",
	    "Logs in and prints `export SIGNET_TOKEN=...` for a shell:\n"
	    "  eval \"$(signet login --username officer)\"\n"
	    "The password is read from stdin, or asked for without echo on a "
	    "terminal.\n" },
};

#define CI_NCOMMANDS (sizeof(ci_commands) / sizeof(ci_commands[0]))

/* --- helpers ----------------------------------------------------------- */

static void
ci_help(const struct ci_command *cmd, FILE *f)
{
	fprintf(f, "usage: signet %s\n\n%s\n%s", cmd->synopsis, cmd->help,
	    ci_connection_help);
	if (strcmp(cmd->name, "login") != 0)
		fprintf(f, "\n%s", ci_exit_help);
}

static int
ci_usage(struct ci *ci, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int
ci_usage(struct ci *ci, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "signet %s: ", ci->cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n(signet %s --help)\n", ci->cmd);
	return CI_EXIT_USAGE;
}

static const char *
ci_env(const char *name)
{
	const char *v = getenv(name);

	return v != NULL && *v != '\0' ? v : NULL;
}

/* The exit code a failed call means. */
static int
ci_exit_for(const struct ci *ci, int r)
{
	long st = ci->c != NULL ? client_status(ci->c) : 0;

	switch (r) {
	case 0:
		return CI_EXIT_OK;
	case SIGNET_ERR_IO:
	case SIGNET_ERR_NOMEM:
		return CI_EXIT_LOCAL;
	case SIGNET_ERR_CONFIG:
		return CI_EXIT_USAGE;
	case SIGNET_ERR_UNAVAILABLE:
		return CI_EXIT_UNAVAILABLE;
	default:
		return st >= 400 && st < 500 ? CI_EXIT_REFUSED :
		    CI_EXIT_UNAVAILABLE;
	}
}

/* Prints why a call failed (the server's own message for a refusal) and
 * returns the exit code. */
static int
ci_fail(struct ci *ci, int r, const char *what)
{
	long st = client_status(ci->c);
	const char *code = client_error_code(ci->c);

	if (st >= 400 && st < 500)
		fprintf(stderr, "signet: %s: the server refused (HTTP %ld%s%s): "
		    "%s\n", what, st, *code ? " " : "", code,
		    client_message(ci->c));
	else
		fprintf(stderr, "signet: %s: %s\n", what, client_message(ci->c));
	return ci_exit_for(ci, r);
}

static const char *
ci_str(const json_t *o, const char *key)
{
	const char *v = json_string_value(json_object_get(o, key));

	return v != NULL ? v : "";
}

/* Ids go into URL paths: only what the server issues (a UUID). */
static int
ci_check_id(struct ci *ci)
{
	if (!request_valid_id(ci->id))
		return ci_usage(ci, "'%s' is not a signing request id (a "
		    "lower-case UUID)", ci->id);
	return 0;
}

static void
ci_print_json(const json_t *j)
{
	json_dumpf(j, stdout, JSON_INDENT(2) | JSON_SORT_KEYS);
	fputc('\n', stdout);
}

static long
ci_elapsed_ms(const struct timespec *since)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (long)(now.tv_sec - since->tv_sec) * 1000L +
	    (now.tv_nsec - since->tv_nsec) / 1000000L;
}

/* --- waiting and downloading ------------------------------------------ */

static int
ci_path(char *buf, const char *id, const char *suffix)
{
	int n = snprintf(buf, CI_MAX_PATH, "/api/v1/signing-requests/%s%s",
	    id, suffix);

	return n > 0 && n < CI_MAX_PATH ? 0 : SIGNET_ERR_TOO_LARGE;
}

/* Polls until the request is final. A server that cannot be reached for
 * a while (an appliance restarting during a long approval) does not end
 * the wait: only the deadline or a refusal does. */
static int
ci_wait(struct ci *ci, const char *id, json_t **final)
{
	struct timespec start;
	char path[CI_MAX_PATH], last[64] = "";
	long delay = CI_POLL_FIRST_MS, left;
	json_t *rec = NULL;
	int r, said_unavailable = 0;

	*final = NULL;
	if (ci_path(path, id, "") != 0)
		return CI_EXIT_USAGE;
	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		r = client_get_json(ci->c, path, &rec);
		if (r == 0) {
			said_unavailable = 0;
			if (strcmp(last, ci_str(rec, "workflowStatus")) != 0) {
				snprintf(last, sizeof(last), "%s",
				    ci_str(rec, "workflowStatus"));
				fprintf(stderr, "signet: %s: %s\n", id, last);
			}
			if (json_is_true(json_object_get(rec, "isFinalStatus"))) {
				*final = rec;
				return CI_EXIT_OK;
			}
			json_decref(rec);
			rec = NULL;
		} else if (r == SIGNET_ERR_UNAVAILABLE) {
			if (!said_unavailable)
				fprintf(stderr, "signet: %s: %s; still waiting\n",
				    id, client_message(ci->c));
			said_unavailable = 1;
		} else {
			return ci_fail(ci, r, "reading the request");
		}
		left = ci->timeout_s * 1000L - ci_elapsed_ms(&start);
		if (left <= 0) {
			fprintf(stderr, "signet: %s is still %s after %ld s "
			    "(--timeout); it goes on: signet status %s\n", id,
			    last[0] ? last : "not readable", ci->timeout_s, id);
			return CI_EXIT_TIMEOUT;
		}
		client_sleep_ms(delay < left ? delay : left);
		delay = delay * 2 > CI_POLL_MAX_MS ? CI_POLL_MAX_MS : delay * 2;
	}
}

/* Downloads into ci->output; the bytes must have the digest the request
 * records, so a file that arrives is the one that was signed. */
static int
ci_fetch(struct ci *ci, const json_t *rec, int unsigned_artifact)
{
	const char *id = ci_str(rec, "id");
	const char *want = ci_str(json_object_get(rec, unsigned_artifact ?
	    "unsignedArtifact" : "signedArtifact"), "sha256");
	char path[CI_MAX_PATH], got[CLIENT_SHA256_HEX];
	int r;

	if (ci_path(path, id, unsigned_artifact ? "/unsigned-artifact" :
	    "/signed-artifact") != 0)
		return CI_EXIT_USAGE;
	if ((r = client_download(ci->c, path, ci->output, want, got)) != 0)
		return ci_fail(ci, r, "downloading");
	fprintf(stderr, "signet: %s artifact of %s written to %s (SHA-256 %s)\n",
	    unsigned_artifact ? "unsigned" : "signed", id, ci->output, got);
	return CI_EXIT_OK;
}

/* After submit or resubmit: prints the new request, waits, downloads. */
static int
ci_created(struct ci *ci, json_t *rec)
{
	const char *id = ci_str(rec, "id");
	const char *status;
	json_t *final = NULL;
	int rc;

	fprintf(stderr, "signet: signing request %s is %s: "
	    "%s/api/v1/signing-requests/%s\n", id, ci_str(rec, "workflowStatus"),
	    client_base_url(ci->c), id);
	if (!ci->json) {
		printf("%s\n", id);
		fflush(stdout);
	}
	if (!ci->wait) {
		if (ci->json)
			ci_print_json(rec);
		return CI_EXIT_OK;
	}
	if ((rc = ci_wait(ci, id, &final)) != CI_EXIT_OK)
		return rc;
	if (ci->json)
		ci_print_json(final);
	status = ci_str(final, "workflowStatus");
	if (strcmp(status, "Completed") != 0) {
		fprintf(stderr, "signet: %s ended %s%s%s\n", id, status,
		    json_object_get(final, "failureReason") ? ": " : "",
		    ci_str(final, "failureReason"));
		rc = CI_EXIT_NOT_COMPLETED;
	} else if (ci->output != NULL) {
		rc = ci_fetch(ci, final, 0);
	}
	json_decref(final);
	return rc;
}

/* --- submit ------------------------------------------------------------ */

/* Upload progress, only where someone watches (stderr a terminal). */
static void
ci_progress(void *arg, uint64_t sent, uint64_t total)
{
	struct ci *ci = arg;
	int done = sent >= total;

	/* curl keeps calling while the server answers: the last line once */
	if (ci->progress_done || (done && !ci->progress_shown) ||
	    (!done && ci->progress_shown &&
	    ci_elapsed_ms(&ci->progress_at) < CI_PROGRESS_MS))
		return;
	clock_gettime(CLOCK_MONOTONIC, &ci->progress_at);
	ci->progress_shown = 1;
	ci->progress_done = done;
	fprintf(stderr, "\rsignet: uploading %.1f of %.1f MiB (%3d%%)%s",
	    (double)sent / 1048576.0, (double)total / 1048576.0,
	    total ? (int)(sent * 100 / total) : 100, done ? "\n" : "");
	fflush(stderr);
}

static int
ci_collect_origin(struct ci *ci, struct ci_origin *o)
{
	struct ci_origin_opts oo;
	char err[512];
	int i, r;

	memset(o, 0, sizeof(*o));
	if (ci->origin_env) {
		memset(&oo, 0, sizeof(oo));
		oo.audience = ci->audience;
		oo.gitlab_var = ci->gitlab_var;
		oo.gitlab_var_given = ci->gitlab_var != NULL;
		oo.retries = ci->co.retries;
		if ((r = ci_origin_collect(&oo, o, err, sizeof(err))) != 0) {
			fprintf(stderr, "signet: origin: %s\n", err);
			if (r == SIGNET_ERR_TOO_LARGE || r == SIGNET_ERR_INVALID ||
			    r == SIGNET_ERR_NOT_FOUND || r == SIGNET_ERR_CONFIG)
				return CI_EXIT_USAGE;
			return r == SIGNET_ERR_UNAVAILABLE ? CI_EXIT_UNAVAILABLE :
			    r == SIGNET_ERR_NOMEM ? CI_EXIT_LOCAL :
			    CI_EXIT_REFUSED;
		}
	}
	for (i = 0; i < CI_ORIGIN_NFIELDS; i++)
		if (ci->origin_set[i] != NULL &&
		    (r = ci_origin_set(o, i, ci->origin_set[i])) != 0)
			return ci_usage(ci, "--origin %s is too long",
			    ci_origin_field_name(i));
	if (o->system != NULL)
		fprintf(stderr, "signet: origin from %s: %s at %s (%s)%s\n",
		    o->system,
		    o->value[CI_ORIGIN_REPOSITORY_URL] ?
		    o->value[CI_ORIGIN_REPOSITORY_URL] : "?",
		    o->value[CI_ORIGIN_COMMIT_ID] ?
		    o->value[CI_ORIGIN_COMMIT_ID] : "?",
		    o->value[CI_ORIGIN_BRANCH_NAME] ?
		    o->value[CI_ORIGIN_BRANCH_NAME] : "?",
		    o->id_token != NULL ? ", with an ID token" : "");
	if (o->system != NULL && o->id_token == NULL && o->note != NULL)
		fprintf(stderr, "signet: %s\n", o->note);
	return CI_EXIT_OK;
}

/* The submission's idempotency key: the same for every try of this
 * invocation, so a retry after a lost answer (a connection error, a 5xx)
 * returns the first request instead of making a second. Derived from the
 * CI run (its build id), the project, policy, the artifact file as it is
 * (path, size, modification time) and a random value of this invocation:
 * a second `signet submit` in the same job is a submission of its own.
 * SIGNET_IDEMPOTENCY_KEY gives a key that spans invocations (a pipeline
 * step that is retried as a whole). */
static int
ci_idempotency_key(struct ci *ci, const struct ci_origin *o,
    char out[CI_IDEM_KEY_LEN + 1])
{
	unsigned char md[32], rnd[16];
	char run[64], real[PATH_MAX];
	const char *id;
	struct stat st;
	EVP_MD_CTX *mc = NULL;
	unsigned int dl = 0;
	int i, r = SIGNET_ERR_CRYPTO;

	if ((id = ci_env("SIGNET_IDEMPOTENCY_KEY")) != NULL) {
		if (strlen(id) > CI_IDEM_KEY_LEN)
			return SIGNET_ERR_TOO_LARGE;
		snprintf(out, CI_IDEM_KEY_LEN + 1, "%s", id);
		return 0;
	}
	id = o->value[CI_ORIGIN_BUILD_ID] ? o->value[CI_ORIGIN_BUILD_ID] : "";
	/* a file that cannot be read is reported by the upload */
	memset(&st, 0, sizeof(st));
	if (stat(ci->artifact, &st) != 0 || realpath(ci->artifact, real) == NULL)
		snprintf(real, sizeof(real), "%s", ci->artifact);
	if (RAND_bytes(rnd, sizeof(rnd)) != 1)
		return SIGNET_ERR_CRYPTO;
	for (i = 0; i < 16; i++)
		snprintf(run + 2 * i, 3, "%02x", rnd[i]);
	if ((mc = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestInit_ex(mc, EVP_sha256(), NULL) != 1)
		goto out;
#define CI_HASH(p, n) if (EVP_DigestUpdate(mc, p, n) != 1 || \
	    EVP_DigestUpdate(mc, "", 1) != 1) goto out
	CI_HASH(id, strlen(id));
	CI_HASH(run, strlen(run));
	CI_HASH(ci->project, strlen(ci->project));
	CI_HASH(ci->policy, strlen(ci->policy));
	CI_HASH(real, strlen(real));
	CI_HASH(&st.st_size, sizeof(st.st_size));
	CI_HASH(&st.st_mtim, sizeof(st.st_mtim));
#undef CI_HASH
	if (EVP_DigestFinal_ex(mc, md, &dl) != 1 || dl != 32)
		goto out;
	memcpy(out, "signet-cli-", 11);
	for (i = 0; i < 32; i++)
		snprintf(out + 11 + 2 * i, 3, "%02x", md[i]);
	r = 0;
out:
	EVP_MD_CTX_free(mc);
	return r;
}

static int
ci_submit(struct ci *ci)
{
	struct client_field f[5 + SIGNET_MAX_PARAMETERS + CI_ORIGIN_NFIELDS + 1];
	char idem[CI_IDEM_KEY_LEN + 1];
	char *pnames[SIGNET_MAX_PARAMETERS];
	char onames[CI_ORIGIN_NFIELDS][32], sha[CLIENT_SHA256_HEX];
	struct ci_origin o;
	json_t *rec = NULL;
	const char *eq;
	size_t n = 0, i, len;
	int r, rc;

	memset(pnames, 0, sizeof(pnames));
	memset(&o, 0, sizeof(o));
	if ((rc = ci_collect_origin(ci, &o)) != CI_EXIT_OK)
		goto out;
	rc = CI_EXIT_LOCAL;
	f[n].name = "projectSlug";
	f[n++].value = ci->project;
	f[n].name = "signingPolicySlug";
	f[n++].value = ci->policy;
	if (ci->conf != NULL) {
		f[n].name = "artifactConfigurationSlug";
		f[n++].value = ci->conf;
	}
	if (ci->description != NULL) {
		f[n].name = "description";
		f[n++].value = ci->description;
	}
	if (ci_idempotency_key(ci, &o, idem) != 0) {
		fprintf(stderr, "signet: SIGNET_IDEMPOTENCY_KEY is longer than "
		    "%d characters\n", CI_IDEM_KEY_LEN);
		rc = CI_EXIT_USAGE;
		goto out;
	}
	f[n].name = "idempotencyKey";
	f[n++].value = idem;
	for (i = 0; i < ci->nparams; i++) {
		eq = strchr(ci->params[i], '=');
		len = (size_t)(eq - ci->params[i]) + sizeof("parameters.");
		if ((pnames[i] = malloc(len)) == NULL)
			goto out;
		snprintf(pnames[i], len, "parameters.%.*s",
		    (int)(eq - ci->params[i]), ci->params[i]);
		f[n].name = pnames[i];
		f[n++].value = eq + 1;
	}
	for (i = 0; i < CI_ORIGIN_NFIELDS; i++) {
		if (o.value[i] == NULL)
			continue;
		snprintf(onames[i], sizeof(onames[i]), "origin.%s",
		    ci_origin_field_name((int)i));
		f[n].name = onames[i];
		f[n++].value = o.value[i];
	}
	if (o.id_token != NULL) {
		f[n].name = "origin.idToken";
		f[n++].value = o.id_token;
	}
	r = client_post_file(ci->c, "/api/v1/signing-requests", f, n,
	    "artifact", ci->artifact, isatty(STDERR_FILENO) ? ci_progress :
	    NULL, ci, sha, &rec);
	/* the token has done its work */
	ci_origin_free(&o);
	if (ci->progress_shown && !ci->progress_done)
		fputc('\n', stderr);
	if (r != 0) {
		rc = ci_fail(ci, r, "submitting");
		goto out;
	}
	if (strcmp(ci_str(json_object_get(rec, "unsignedArtifact"), "sha256"),
	    sha) != 0) {
		fprintf(stderr, "signet: the appliance recorded other bytes "
		    "(SHA-256 %s) than were sent (%s) as request %s\n",
		    ci_str(json_object_get(rec, "unsignedArtifact"), "sha256"),
		    sha, ci_str(rec, "id"));
		rc = CI_EXIT_UNAVAILABLE;
		goto out;
	}
	rc = ci_created(ci, rec);
out:
	ci_origin_free(&o);
	for (i = 0; i < SIGNET_MAX_PARAMETERS; i++)
		free(pnames[i]);
	json_decref(rec);
	return rc;
}

/* --- the other commands ------------------------------------------------ */

static int
ci_resubmit(struct ci *ci)
{
	char path[CI_MAX_PATH];
	json_t *body = NULL, *rec = NULL;
	int r, rc = CI_EXIT_LOCAL;

	if (ci_path(path, ci->id, "/resubmit") != 0)
		return CI_EXIT_USAGE;
	if ((body = json_pack("{s:s, s:s*}", "signingPolicySlug", ci->policy,
	    "description", ci->description)) == NULL)
		goto out;
	if ((r = client_post_json(ci->c, path, body, &rec)) != 0) {
		rc = ci_fail(ci, r, "resubmitting");
		goto out;
	}
	fprintf(stderr, "signet: resubmitted %s to %s\n", ci->id, ci->policy);
	rc = ci_created(ci, rec);
out:
	json_decref(body);
	json_decref(rec);
	return rc;
}

static void
ci_row(const char *name, const char *value)
{
	if (value != NULL && *value != '\0')
		printf("%-22s %s\n", name, value);
}

static void
ci_table(json_t *rec)
{
	static const struct {
		const char *label;
		const char *key;
	} origin[] = {
		{ "origin repository", "repositoryUrl" },
		{ "origin commit", "commitId" },
		{ "origin branch", "branchName" },
		{ "origin build", "buildUrl" },
		{ "origin build id", "buildId" },
	};
	const json_t *u = json_object_get(rec, "unsignedArtifact");
	const json_t *s = json_object_get(rec, "signedArtifact");
	const json_t *o = json_object_get(rec, "origin");
	const json_t *ac = json_object_get(rec, "authenticode");
	json_t *a, *p;
	const char *k;
	char line[512];
	size_t i;

	ci_row("id", ci_str(rec, "id"));
	snprintf(line, sizeof(line), "%s (%s)", ci_str(rec, "status"),
	    ci_str(rec, "workflowStatus"));
	ci_row("status", line);
	ci_row("failure reason", ci_str(rec, "failureReason"));
	ci_row("project", ci_str(rec, "projectSlug"));
	ci_row("signing policy", ci_str(rec, "signingPolicySlug"));
	ci_row("artifact configuration", ci_str(rec,
	    "artifactConfigurationSlug"));
	ci_row("description", ci_str(rec, "description"));
	if (json_is_object(ac)) {
		ci_row("authenticode format", ci_str(ac, "format"));
		ci_row("program name", ci_str(ac, "programName"));
		ci_row("signature mode", ci_str(ac, "signatureMode"));
		snprintf(line, sizeof(line), "authenticode %s",
		    ci_str(ac, "digestAlgorithm"));
		ci_row(line, ci_str(ac, "digest"));
	}
	snprintf(line, sizeof(line), "%s (%s)", ci_str(json_object_get(rec,
	    "submitter"), "name"), ci_str(json_object_get(rec, "submitter"),
	    "type"));
	ci_row("submitter", line);
	ci_row("created", ci_str(rec, "createdAt"));
	ci_row("updated", ci_str(rec, "updatedAt"));
	if (json_is_object(json_object_get(rec, "hash"))) {
		/* the file stayed on the build machine (the PKCS#11 module) */
		const json_t *h = json_object_get(rec, "hash");

		ci_row("hash signing", "the appliance has not seen the file");
		snprintf(line, sizeof(line), "%s (stated), tool %s",
		    ci_str(h, "fileName"), ci_str(h, "tool"));
		ci_row("file", line);
		snprintf(line, sizeof(line), "%s %s", ci_str(h, "algorithm"),
		    ci_str(h, "mechanism"));
		ci_row("hash, signature", line);
		ci_row("digest", ci_str(h, "digest"));
		ci_row("signature (base64)", ci_str(h, "signature"));
	} else {
		snprintf(line, sizeof(line), "%s, %" JSON_INTEGER_FORMAT
		    " bytes", ci_str(u, "name"), json_integer_value(
		    json_object_get(u, "size")));
		ci_row("artifact", line);
		ci_row("artifact sha256", ci_str(u, "sha256"));
		ci_row("signed sha256", ci_str(s, "sha256"));
	}
	json_object_foreach(json_object_get(rec, "parameters"), k, p) {
		snprintf(line, sizeof(line), "%s=%s", k, json_string_value(p) ?
		    json_string_value(p) : "");
		ci_row("parameter", line);
	}
	for (i = 0; i < sizeof(origin) / sizeof(origin[0]); i++)
		ci_row(origin[i].label, ci_str(o, origin[i].key));
	if (json_integer_value(json_object_get(rec, "requiredApprovals")) > 0) {
		snprintf(line, sizeof(line), "%zu of %" JSON_INTEGER_FORMAT,
		    json_array_size(json_object_get(rec, "approvals")),
		    json_integer_value(json_object_get(rec,
		    "requiredApprovals")));
		ci_row("approvals", line);
	}
	json_array_foreach(json_object_get(rec, "approvals"), i, a) {
		snprintf(line, sizeof(line), "%s %s by %s%s%s", ci_str(a, "at"),
		    ci_str(a, "decision"), ci_str(json_object_get(a, "by"),
		    "name"),
		    *ci_str(a, "comment") ? ": " : "", ci_str(a, "comment"));
		ci_row("decision", line);
	}
	ci_row("resubmitted from", ci_str(rec, "originalSigningRequestId"));
}

static int
ci_status(struct ci *ci)
{
	char path[CI_MAX_PATH];
	json_t *rec = NULL;
	int r;

	if (ci_path(path, ci->id, "") != 0)
		return CI_EXIT_USAGE;
	if ((r = client_get_json(ci->c, path, &rec)) != 0)
		return ci_fail(ci, r, "reading the request");
	if (ci->json)
		ci_print_json(rec);
	else
		ci_table(rec);
	json_decref(rec);
	return CI_EXIT_OK;
}

static int
ci_download(struct ci *ci)
{
	char path[CI_MAX_PATH];
	json_t *rec = NULL;
	int r, rc;

	if (ci_path(path, ci->id, "") != 0)
		return CI_EXIT_USAGE;
	/* the record names the digest the bytes must have */
	if ((r = client_get_json(ci->c, path, &rec)) != 0)
		return ci_fail(ci, r, "reading the request");
	rc = ci_fetch(ci, rec, ci->unsigned_artifact);
	json_decref(rec);
	return rc;
}

static int
ci_decide(struct ci *ci)
{
	char path[CI_MAX_PATH], suffix[16];
	json_t *body = NULL, *rec = NULL;
	int r, rc = CI_EXIT_LOCAL;

	snprintf(suffix, sizeof(suffix), "/%s", ci->cmd);
	if (ci_path(path, ci->id, suffix) != 0)
		return CI_EXIT_USAGE;
	if ((body = json_pack("{s:s*}", "comment", ci->comment)) == NULL)
		goto out;
	if ((r = client_post_json(ci->c, path, body, &rec)) != 0) {
		rc = ci_fail(ci, r, ci->cmd);
		goto out;
	}
	if (ci->json)
		ci_print_json(rec);
	else
		printf("%s %s\n", ci->id, ci_str(rec, "workflowStatus"));
	fprintf(stderr, "signet: %s: %s done; the request is %s\n", ci->id,
	    ci->cmd, ci_str(rec, "workflowStatus"));
	rc = CI_EXIT_OK;
out:
	json_decref(body);
	json_decref(rec);
	return rc;
}

/* The password: a line on stdin (scripts), or typed without echo. */
static int
ci_read_password(const char *user, char *pw, size_t cap, size_t *len)
{
	char q[160];

	snprintf(q, sizeof(q), "password for %s: ", user);
	if (prompt_password(q, pw, cap, len) != 0)
		return -1;
	return *len <= SIGNET_MAX_PASSWORD ? 0 : -1;
}

/* The token goes into a shell command line the user evaluates: only
 * characters a shell takes literally. */
static int
ci_token_safe(const char *t)
{
	size_t i, n = strlen(t);

	if (n == 0 || n > CLIENT_MAX_TOKEN)
		return 0;
	for (i = 0; i < n; i++)
		if (!((t[i] >= 'A' && t[i] <= 'Z') || (t[i] >= 'a' &&
		    t[i] <= 'z') || (t[i] >= '0' && t[i] <= '9') ||
		    t[i] == '_' || t[i] == '-' || t[i] == '.'))
			return 0;
	return 1;
}

static int
ci_login(struct ci *ci)
{
	char pw[SIGNET_MAX_PASSWORD + 2];
	json_t *body = NULL, *ans = NULL;
	const char *tok;
	size_t len = 0;
	int r, rc = CI_EXIT_USAGE;

	if (ci_read_password(ci->username, pw, sizeof(pw), &len) != 0) {
		fprintf(stderr, "signet: no password read (1 to %d "
		    "characters on stdin)\n", SIGNET_MAX_PASSWORD);
		goto out;
	}
	rc = CI_EXIT_LOCAL;
	if ((body = json_pack("{s:s, s:s%}", "username", ci->username,
	    "password", pw, len)) == NULL)
		goto out;
	OPENSSL_cleanse(pw, sizeof(pw));
	if ((r = client_post_json(ci->c, "/api/v1/sessions", body, &ans)) != 0) {
		rc = ci_fail(ci, r, "logging in");
		goto out;
	}
	tok = ci_str(ans, "token");
	if (!ci_token_safe(tok)) {
		fprintf(stderr, "signet: the server's answer holds no usable "
		    "token\n");
		rc = CI_EXIT_UNAVAILABLE;
		goto out;
	}
	if (ci->json)
		ci_print_json(ans);
	else
		printf("export SIGNET_TOKEN=%s\n", tok);
	fprintf(stderr, "signet: logged in as %s until %s\n", ci->username,
	    ci_str(ans, "expiresAt"));
	rc = CI_EXIT_OK;
out:
	OPENSSL_cleanse(pw, sizeof(pw));
	/* jansson's memory is wiped on free (client_global_init) */
	json_decref(body);
	json_decref(ans);
	return rc;
}

/* --- options ----------------------------------------------------------- */

static int
ci_number(const char *s, long min, long max, long *out)
{
	return num_parse_long(s, min, max, out) == 0 ? 0 : -1;
}

static int
ci_check_param(struct ci *ci, const char *p)
{
	const char *eq = strchr(p, '=');

	if (eq == NULL || eq == p)
		return ci_usage(ci, "--param takes NAME=VALUE, not '%s'", p);
	if (ci->nparams == SIGNET_MAX_PARAMETERS)
		return ci_usage(ci, "more than %d --param (the appliance's "
		    "limit)", SIGNET_MAX_PARAMETERS);
	ci->params[ci->nparams++] = p;
	return 0;
}

static int
ci_check_origin(struct ci *ci, char *p)
{
	char *eq = strchr(p, '=');
	int f;

	if (eq == NULL)
		return ci_usage(ci, "--origin takes NAME=VALUE, not '%s'", p);
	*eq = '\0';
	f = ci_origin_field_by_name(p);
	*eq = '=';
	if (f < 0)
		return ci_usage(ci, "--origin: unknown field in '%s' "
		    "(repositoryUrl, commitId, branchName, buildUrl, buildId)",
		    p);
	ci->origin_set[f] = eq + 1;
	return 0;
}

static int
ci_parse(struct ci *ci, const struct ci_command *cmd, int argc, char **argv)
{
	static const struct {
		struct option o;
		int need;
	} table[] = {
		{ { "url", required_argument, NULL, OPT_URL }, 0 },
		{ { "cacert", required_argument, NULL, OPT_CACERT }, 0 },
		{ { "cert", required_argument, NULL, OPT_CERT }, 0 },
		{ { "key", required_argument, NULL, OPT_KEY }, 0 },
		{ { "token", required_argument, NULL, OPT_TOKEN }, 0 },
		{ { "retries", required_argument, NULL, OPT_RETRIES }, 0 },
		{ { "json", no_argument, NULL, OPT_JSON }, 0 },
		{ { "help", no_argument, NULL, OPT_HELP }, 0 },
		{ { "project", required_argument, NULL, OPT_PROJECT }, O_PROJECT },
		{ { "policy", required_argument, NULL, OPT_POLICY }, O_POLICY },
		{ { "artifact-configuration", required_argument, NULL,
		    OPT_CONF }, O_CONF },
		{ { "configuration", required_argument, NULL, OPT_CONF },
		    O_CONF },
		{ { "artifact", required_argument, NULL, OPT_ARTIFACT },
		    O_ARTIFACT },
		{ { "description", required_argument, NULL, OPT_DESCRIPTION },
		    O_DESCRIPTION },
		{ { "param", required_argument, NULL, OPT_PARAM }, O_PARAM },
		{ { "wait", no_argument, NULL, OPT_WAIT }, O_WAIT },
		{ { "timeout", required_argument, NULL, OPT_TIMEOUT }, O_TIMEOUT },
		{ { "output", required_argument, NULL, OPT_OUTPUT }, O_OUTPUT },
		{ { "origin-from-env", no_argument, NULL, OPT_ORIGIN_ENV },
		    O_ORIGIN },
		{ { "no-origin", no_argument, NULL, OPT_NO_ORIGIN }, O_ORIGIN },
		{ { "origin", required_argument, NULL, OPT_ORIGIN }, O_ORIGIN },
		{ { "audience", required_argument, NULL, OPT_AUDIENCE },
		    O_AUDIENCE },
		{ { "gitlab-id-token-var", required_argument, NULL, OPT_GITLAB },
		    O_GITLAB },
		{ { "unsigned", no_argument, NULL, OPT_UNSIGNED }, O_UNSIGNED },
		{ { "comment", required_argument, NULL, OPT_COMMENT }, O_COMMENT },
		{ { "username", required_argument, NULL, OPT_USERNAME },
		    O_USERNAME },
	};
	struct option longopts[sizeof(table) / sizeof(table[0]) + 1];
	size_t i, n = 0;
	long v;
	int ch, rc;

	/* only the options this command takes: others are usage errors */
	for (i = 0; i < sizeof(table) / sizeof(table[0]); i++)
		if (table[i].need == 0 || (cmd->opts & table[i].need) != 0)
			longopts[n++] = table[i].o;
	memset(&longopts[n], 0, sizeof(longopts[n]));
	optind = 1;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'h':
		case OPT_HELP:
			ci_help(cmd, stdout);
			return -1;
		case OPT_URL: ci->co.url = optarg; break;
		case OPT_CACERT: ci->co.cacert = optarg; break;
		case OPT_CERT: ci->co.cert = optarg; break;
		case OPT_KEY: ci->co.key = optarg; break;
		case OPT_TOKEN: ci->co.token = optarg; break;
		case OPT_RETRIES:
			if (ci_number(optarg, 0, CLIENT_MAX_RETRIES, &v) != 0)
				return ci_usage(ci, "--retries takes 0 to 20, "
				    "not '%s'", optarg);
			ci->co.retries = (int)v;
			break;
		case OPT_JSON: ci->json = 1; break;
		case OPT_PROJECT: ci->project = optarg; break;
		case OPT_POLICY: ci->policy = optarg; break;
		case OPT_CONF: ci->conf = optarg; break;
		case OPT_ARTIFACT: ci->artifact = optarg; break;
		case OPT_DESCRIPTION: ci->description = optarg; break;
		case OPT_PARAM:
			if ((rc = ci_check_param(ci, optarg)) != 0)
				return rc;
			break;
		case OPT_WAIT: ci->wait = 1; break;
		case OPT_TIMEOUT:
			if (ci_number(optarg, 1, CI_MAX_WAIT_S, &v) != 0)
				return ci_usage(ci, "--timeout takes 1 to 604800 "
				    "seconds, not '%s'", optarg);
			ci->timeout_s = v;
			break;
		case OPT_OUTPUT: ci->output = optarg; break;
		case OPT_ORIGIN_ENV: ci->origin_env = 1; break;
		case OPT_NO_ORIGIN: ci->origin_env = 0; break;
		case OPT_ORIGIN:
			if ((rc = ci_check_origin(ci, optarg)) != 0)
				return rc;
			break;
		case OPT_AUDIENCE: ci->audience = optarg; break;
		case OPT_GITLAB: ci->gitlab_var = optarg; break;
		case OPT_UNSIGNED: ci->unsigned_artifact = 1; break;
		case OPT_COMMENT: ci->comment = optarg; break;
		case OPT_USERNAME: ci->username = optarg; break;
		case ':':
			return ci_usage(ci, "%s needs a value", argv[optind - 1]);
		default:
			return ci_usage(ci, "unknown option '%s'",
			    argv[optind - 1]);
		}
	}
	if (cmd->takes_id) {
		if (optind != argc - 1)
			return ci_usage(ci, "takes one request id");
		ci->id = argv[optind];
		if ((rc = ci_check_id(ci)) != 0)
			return rc;
	} else if (optind != argc) {
		return ci_usage(ci, "unexpected argument '%s'", argv[optind]);
	}
	return 0;
}

/* What each command cannot do without. */
static int
ci_validate(struct ci *ci)
{
	const char *cmd = ci->cmd;

	if (strcmp(cmd, "submit") == 0) {
		if (ci->project == NULL)
			return ci_usage(ci, "--project is required");
		if (ci->artifact == NULL)
			return ci_usage(ci, "--artifact FILE is required");
	}
	if ((strcmp(cmd, "submit") == 0 || strcmp(cmd, "resubmit") == 0) &&
	    ci->policy == NULL)
		return ci_usage(ci, "--policy is required");
	if ((strcmp(cmd, "submit") == 0 || strcmp(cmd, "resubmit") == 0) &&
	    ci->output != NULL && !ci->wait)
		return ci_usage(ci, "--output needs --wait");
	if (strcmp(cmd, "download") == 0 && ci->output == NULL)
		return ci_usage(ci, "--output FILE is required");
	if (strcmp(cmd, "login") == 0 && ci->username == NULL)
		return ci_usage(ci, "--username is required");
	if (ci->co.url == NULL)
		return ci_usage(ci, "no server: give --url or set SIGNET_URL");
	if ((ci->co.cert == NULL) != (ci->co.key == NULL))
		return ci_usage(ci, "--cert and --key go together");
	return 0;
}

int
signet_ci_command(const char *name)
{
	size_t i;

	for (i = 0; i < CI_NCOMMANDS; i++)
		if (strcmp(ci_commands[i].name, name) == 0)
			return 1;
	return 0;
}

int
signet_ci_main(int argc, char **argv)
{
	const struct ci_command *cmd = NULL;
	struct ci ci;
	const char *retries;
	size_t i;
	long v;
	int r, rc = CI_EXIT_USAGE;

	for (i = 0; i < CI_NCOMMANDS; i++)
		if (strcmp(ci_commands[i].name, argv[0]) == 0)
			cmd = &ci_commands[i];
	if (cmd == NULL)
		return CI_EXIT_USAGE;
	memset(&ci, 0, sizeof(ci));
	ci.cmd = cmd->name;
	ci.origin_env = 1;
	ci.timeout_s = CI_DEFAULT_WAIT_S;
	ci.co.retries = -1;
	ci.co.url = ci_env("SIGNET_URL");
	ci.co.cacert = ci_env("SIGNET_CACERT");
	ci.co.cert = ci_env("SIGNET_CLIENT_CERT");
	ci.co.key = ci_env("SIGNET_CLIENT_KEY");
	ci.co.token = ci_env("SIGNET_TOKEN");
	if ((retries = ci_env("SIGNET_RETRIES")) != NULL) {
		if (ci_number(retries, 0, CLIENT_MAX_RETRIES, &v) != 0)
			return ci_usage(&ci, "SIGNET_RETRIES takes 0 to 20, not "
			    "'%s'", retries);
		ci.co.retries = (int)v;
	}
	if ((r = ci_parse(&ci, cmd, argc, argv)) != 0)
		return r < 0 ? CI_EXIT_OK : r;
	/* a server closing early or a closed stdout is an error to report,
	 * not a silent death */
	signal(SIGPIPE, SIG_IGN);
	if ((r = ci_validate(&ci)) != 0)
		return r;
	/* a login makes a token; an old one would only be sent along */
	if (strcmp(cmd->name, "login") == 0)
		ci.co.token = NULL;
	if (client_global_init() != 0) {
		fprintf(stderr, "signet: cannot initialise libcurl\n");
		return CI_EXIT_LOCAL;
	}
	if ((r = client_new(&ci.co, &ci.c)) != 0) {
		if (r == SIGNET_ERR_CONFIG)
			rc = ci_usage(&ci, "the server URL '%s' is not https:// "
			    "(http:// only to localhost), or the token is "
			    "malformed", ci.co.url);
		else
			rc = CI_EXIT_LOCAL;
		goto out;
	}
	rc = cmd->run(&ci);
out:
	client_free(ci.c);
	client_global_cleanup();
	fflush(stdout);
	if (ferror(stdout) && rc == CI_EXIT_OK) {
		fprintf(stderr, "signet: writing to stdout failed\n");
		rc = CI_EXIT_LOCAL;
	}
	return rc;
}
