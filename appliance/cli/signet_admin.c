/* `signet admin …`: every administration endpoint of the API as a
 * subcommand, table output for people and --json for scripts. Talks to a
 * running appliance over HTTPS as an administrator (bearer token). */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "catalog.h"
#include "client.h"
#include "num.h"
#include "pki.h"
#include "prompt.h"
#include "table.h"
#include "signet_limits.h"
#include "signet_admin.h"

/* Exit codes, as the other network commands use them. */
#define ADM_OK		0
#define ADM_USAGE	2
#define ADM_REFUSED	3
#define ADM_UNAVAILABLE	4
#define ADM_IO		6

#define ADM_MAX_LIST	64	/* repeated flags (--submitter …) */
/* a file sent to the appliance fits in one admin request */
#define ADM_MAX_FILE	SIGNET_MAX_ADMIN_BODY

struct adm_cmd;

struct adm {
	struct client *c;
	int json;
	const struct adm_cmd *cmd;	/* the one being run */
};

struct adm_cmd {
	const char *res;
	const char *verb;
	const char *args;	/* usage after "signet admin RES VERB" */
	const char *help;
	int (*fn)(struct adm *, int, char **);
};

static const struct adm_cmd adm_cmds[];

static int
adm_usage_of(const char *res, const char *verb, FILE *f)
{
	const struct adm_cmd *c;
	int n = 0;

	for (c = adm_cmds; c->res != NULL; c++) {
		if (res != NULL && strcmp(res, c->res) != 0)
			continue;
		if (verb != NULL && strcmp(verb, c->verb) != 0)
			continue;
		fprintf(f, "  signet admin %s %s%s%s\n      %s\n", c->res,
		    c->verb, c->args[0] ? " " : "", c->args, c->help);
		n++;
	}
	return n;
}

static void
adm_usage(FILE *f)
{
	fprintf(f,
	    "usage: signet admin [--url URL] [--cacert FILE] [--token TOKEN]\n"
	    "                    [--json] RESOURCE VERB [ARGS]\n"
	    "\n"
	    "Administration of a running appliance as an administrator. The\n"
	    "connection comes from the flags or SIGNET_URL, SIGNET_CACERT,\n"
	    "SIGNET_TOKEN (signet login --username admin prints one).\n"
	    "Exit codes: 0 done, 2 usage, 3 refused by the server (its message\n"
	    "is printed), 4 appliance unavailable, 6 local file error.\n\n");
	adm_usage_of(NULL, NULL, f);
	fprintf(f, "\n  signet -c CONFIG admin backup DIR | restore DIR   "
	    "(on the appliance itself)\n");
}

/* Prints the client's failure and maps it to an exit code. */
static int
adm_fail(struct adm *a, int r)
{
	fprintf(stderr, "signet: %s\n", client_message(a->c));
	if (r == SIGNET_ERR_UNAVAILABLE)
		return ADM_UNAVAILABLE;
	if (r == SIGNET_ERR_IO)
		return ADM_IO;
	if (r == SIGNET_ERR_CONFIG || r == SIGNET_ERR_NOMEM)
		return ADM_IO;
	return ADM_REFUSED;
}

static void
adm_print_json(const json_t *j)
{
	json_dumpf(j, stdout, JSON_INDENT(2) | JSON_SORT_KEYS);
	fputc('\n', stdout);
}

static int
adm_get_print(struct adm *a, const char *path, const char *const *cols)
{
	json_t *out = NULL;
	int r;

	if ((r = client_get_json(a->c, path, &out)) != 0)
		return adm_fail(a, r);
	if (a->json || cols == NULL)
		adm_print_json(out);
	else
		table_print(json_object_get(out, "items"), cols);
	json_decref(out);
	return ADM_OK;
}

/* Prints what the server says it changed. */
static int
adm_changes(struct adm *a, json_t *out)
{
	const json_t *e;
	size_t i;

	if (a->json) {
		adm_print_json(out);
		return ADM_OK;
	}
	json_array_foreach(json_object_get(out, "changes"), i, e)
		printf("%s\n", json_string_value(e));
	if (json_array_size(json_object_get(out, "changes")) == 0)
		printf("no changes\n");
	return ADM_OK;
}

static int
adm_send(struct adm *a, const char *method, const char *path, json_t *body)
{
	json_t *out = NULL;
	int r, rc;

	r = client_call_json(a->c, method, path, body, &out);
	if (r != 0)
		return adm_fail(a, r);
	if (out == NULL) {
		if (!a->json)
			printf("done\n");
		return ADM_OK;
	}
	rc = json_object_get(out, "changes") != NULL ? adm_changes(a, out) :
	    (adm_print_json(out), ADM_OK);
	json_decref(out);
	return rc;
}

/* Reads a whole (small) file. */
static int
adm_read_file(const char *path, unsigned char **buf, size_t *len)
{
	FILE *f;
	long n;

	*buf = NULL;
	if ((f = fopen(path, "rb")) == NULL) {
		fprintf(stderr, "signet: %s: %s\n", path, strerror(errno));
		return ADM_IO;
	}
	if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 ||
	    n > ADM_MAX_FILE || fseek(f, 0, SEEK_SET) != 0 ||
	    (*buf = malloc((size_t)n + 1)) == NULL ||
	    fread(*buf, 1, (size_t)n, f) != (size_t)n) {
		fprintf(stderr, "signet: %s: unreadable or larger than 4 MiB\n",
		    path);
		free(*buf);
		*buf = NULL;
		fclose(f);
		return ADM_IO;
	}
	(*buf)[n] = '\0';
	*len = (size_t)n;
	fclose(f);
	return ADM_OK;
}

/* --- option parsing shared by the subcommands --------------------- */

enum {
	O_NAME = 256, O_SLUG, O_EMAIL, O_ROLE, O_REPO, O_WEBHOOK, O_WHSECRET,
	O_CERT, O_PURPOSE, O_APPROVALS, O_SUBMITTER, O_APPROVER, O_ARTCONF,
	O_SUBJECT, O_ISSUER, O_FPR, O_CERTFILE, O_LABEL, O_TYPE, O_EXT, O_OUT,
	O_DAYS, O_KEY, O_DRYRUN, O_IDENTITY, O_AUDIENCE, O_JWKSFILE,
	O_JWKSURL, O_PRESET, O_CLAIM, O_PREFIX, O_NOISSUER, O_HELP
};

struct adm_opts {
	const char *name, *slug, *email, *cert, *purpose, *subject, *issuer,
	    *fpr, *certfile, *label, *type, *out, *key, *audience, *jwksfile,
	    *jwksurl, *preset, *prefix;
	const char *roles[ADM_MAX_LIST], *repos[ADM_MAX_LIST],
	    *hooks[ADM_MAX_LIST], *secrets[ADM_MAX_LIST], *subs[ADM_MAX_LIST],
	    *apprs[ADM_MAX_LIST], *confs[ADM_MAX_LIST], *exts[ADM_MAX_LIST],
	    *ids[ADM_MAX_LIST], *claims[ADM_MAX_LIST];
	size_t nroles, nrepos, nhooks, nsecrets, nsubs, napprs, nconfs, nexts,
	    nids, nclaims;
	int approvals, has_approvals, days, dry_run, set_roles, set_subs,
	    set_apprs, set_repos, no_issuer;
};

static const struct option adm_long[] = {
	{ "name", required_argument, NULL, O_NAME },
	{ "slug", required_argument, NULL, O_SLUG },
	{ "email", required_argument, NULL, O_EMAIL },
	{ "role", required_argument, NULL, O_ROLE },
	{ "repository-url", required_argument, NULL, O_REPO },
	{ "webhook", required_argument, NULL, O_WEBHOOK },
	{ "webhook-secret-file", required_argument, NULL, O_WHSECRET },
	{ "certificate", required_argument, NULL, O_CERT },
	{ "purpose", required_argument, NULL, O_PURPOSE },
	{ "approvals", required_argument, NULL, O_APPROVALS },
	{ "submitter", required_argument, NULL, O_SUBMITTER },
	{ "approver", required_argument, NULL, O_APPROVER },
	{ "artifact-configuration", required_argument, NULL, O_ARTCONF },
	{ "subject", required_argument, NULL, O_SUBJECT },
	{ "issuer", required_argument, NULL, O_ISSUER },
	{ "fingerprint", required_argument, NULL, O_FPR },
	{ "certificate-file", required_argument, NULL, O_CERTFILE },
	{ "label", required_argument, NULL, O_LABEL },
	{ "type", required_argument, NULL, O_TYPE },
	{ "extension", required_argument, NULL, O_EXT },
	{ "out", required_argument, NULL, O_OUT },
	{ "days", required_argument, NULL, O_DAYS },
	{ "key", required_argument, NULL, O_KEY },
	{ "dry-run", no_argument, NULL, O_DRYRUN },
	{ "identity", required_argument, NULL, O_IDENTITY },
	{ "audience", required_argument, NULL, O_AUDIENCE },
	{ "jwks-file", required_argument, NULL, O_JWKSFILE },
	{ "jwks-url", required_argument, NULL, O_JWKSURL },
	{ "preset", required_argument, NULL, O_PRESET },
	{ "claim", required_argument, NULL, O_CLAIM },
	{ "repository-url-prefix", required_argument, NULL, O_PREFIX },
	{ "no-issuer", no_argument, NULL, O_NOISSUER },
	{ "help", no_argument, NULL, O_HELP },
	{ NULL, 0, NULL, 0 },
};

static int
adm_push(const char **list, size_t *n, const char *v)
{
	if (*n >= ADM_MAX_LIST) {
		fprintf(stderr, "signet: at most %d values per flag\n",
		    ADM_MAX_LIST);
		return -1;
	}
	list[(*n)++] = v;
	return 0;
}

/* Parses flags; positional arguments are left in argv[optind..]. */
static int
adm_parse(int argc, char **argv, struct adm_opts *o, const char *res,
    const char *verb)
{
	long v;
	int ch, r = 0;

	memset(o, 0, sizeof(*o));
	o->days = 365;
	optind = 0;
	while (r == 0 && (ch = getopt_long(argc, argv, "", adm_long,
	    NULL)) != -1) {
		switch (ch) {
		case O_NAME: o->name = optarg; break;
		case O_SLUG: o->slug = optarg; break;
		case O_EMAIL: o->email = optarg; break;
		case O_ROLE:
			o->set_roles = 1;
			r = adm_push(o->roles, &o->nroles, optarg);
			break;
		case O_REPO:
			o->set_repos = 1;
			r = adm_push(o->repos, &o->nrepos, optarg);
			break;
		case O_WEBHOOK: r = adm_push(o->hooks, &o->nhooks, optarg); break;
		case O_WHSECRET:
			r = adm_push(o->secrets, &o->nsecrets, optarg);
			break;
		case O_CERT: o->cert = optarg; break;
		case O_PURPOSE: o->purpose = optarg; break;
		case O_APPROVALS:
			if (num_parse_long(optarg, 0, 16, &v) != 0) {
				fprintf(stderr, "signet: --approvals is 0 to 16\n");
				r = -1;
			}
			o->approvals = (int)v;
			o->has_approvals = 1;
			break;
		case O_SUBMITTER:
			o->set_subs = 1;
			r = adm_push(o->subs, &o->nsubs, optarg);
			break;
		case O_APPROVER:
			o->set_apprs = 1;
			r = adm_push(o->apprs, &o->napprs, optarg);
			break;
		case O_ARTCONF: r = adm_push(o->confs, &o->nconfs, optarg); break;
		case O_SUBJECT: o->subject = optarg; break;
		case O_ISSUER: o->issuer = optarg; break;
		case O_FPR: o->fpr = optarg; break;
		case O_CERTFILE: o->certfile = optarg; break;
		case O_LABEL: o->label = optarg; break;
		case O_TYPE: o->type = optarg; break;
		case O_EXT: r = adm_push(o->exts, &o->nexts, optarg); break;
		case O_OUT: o->out = optarg; break;
		case O_KEY: o->key = optarg; break;
		case O_DRYRUN: o->dry_run = 1; break;
		case O_IDENTITY: r = adm_push(o->ids, &o->nids, optarg); break;
		case O_AUDIENCE: o->audience = optarg; break;
		case O_JWKSFILE: o->jwksfile = optarg; break;
		case O_JWKSURL: o->jwksurl = optarg; break;
		case O_PRESET: o->preset = optarg; break;
		case O_CLAIM: r = adm_push(o->claims, &o->nclaims, optarg); break;
		case O_PREFIX: o->prefix = optarg; break;
		case O_NOISSUER: o->no_issuer = 1; break;
		case O_DAYS:
			if (num_parse_long(optarg, 1, 3650, &v) != 0) {
				fprintf(stderr, "signet: --days is 1 to 3650\n");
				r = -1;
			}
			o->days = (int)v;
			break;
		case O_HELP:
			adm_usage_of(res, verb, stdout);
			return 1;
		default:
			r = -1;
		}
	}
	if (r != 0) {
		fprintf(stderr, "usage:\n");
		adm_usage_of(res, verb, stderr);
	}
	return r;
}

static int
adm_positional(int argc, int want, const char *res, const char *verb)
{
	if (argc - optind == want)
		return 0;
	fprintf(stderr, "usage:\n");
	adm_usage_of(res, verb, stderr);
	return -1;
}

static json_t *
adm_strings(const char *const *list, size_t n)
{
	json_t *a = json_array();
	size_t i;

	for (i = 0; a != NULL && i < n; i++)
		json_array_append_new(a, json_string(list[i]));
	return a;
}

/* --- resources -------------------------------------------------------- */

#define ADM_PARSE(res, verb, npos)					\
	struct adm_opts o;						\
	int pr = adm_parse(argc, argv, &o, res, verb);			\
	if (pr != 0)							\
		return pr > 0 ? ADM_OK : ADM_USAGE;			\
	if (adm_positional(argc, npos, res, verb) != 0)		\
		return ADM_USAGE

/* The catalog's resources (catalog_kind.h): list, show and delete have
 * one shape for all of them, and create and update send the document
 * they build to the same places. */
struct adm_res {
	const char *res;		/* the subcommand: "build-systems" */
	const char *kind;		/* catalog_kind_find */
	const char *noun;		/* for messages: "build system" */
	const char *const *cols;	/* the list's table */
	/* names refused here unless catalog_valid_name: they go into the
	 * URL path as they are */
	int check_name;
	/* builds the document from the flags and sends it; NULL: made
	 * another way (certificates import) */
	int (*put)(struct adm *a, const struct adm_res *res, int argc,
	    char **argv, int create);
};

/* /api/v1/admin/SEGMENT[/NAME], or, for a kind stored per project,
 * /api/v1/admin/projects/PROJECT/SEGMENT[/NAME]. */
static void
adm_res_path(const struct adm_res *r, const char *project, const char *name,
    char *path, size_t len)
{
	const struct catalog_kind *k = catalog_kind_find(r->kind);
	int n;

	if (k->per_project)
		n = snprintf(path, len, "/api/v1/admin/%s/%s/%s",
		    catalog_kind_at(k->parent)->segment, project, k->segment);
	else
		n = snprintf(path, len, "/api/v1/admin/%s", k->segment);
	if (name != NULL && n >= 0 && (size_t)n < len)
		snprintf(path + n, len - (size_t)n, "/%s", name);
}

/* Webhooks from --webhook URL / --webhook-secret-file FILE pairs; a
 * webhook given without a secret keeps the one it has. */
static int
adm_webhooks(struct adm_opts *o, json_t **out)
{
	unsigned char *sec = NULL;
	size_t i, len;
	json_t *h;

	*out = json_array();
	if (o->nsecrets > o->nhooks) {
		fprintf(stderr, "signet: each --webhook-secret-file follows its "
		    "--webhook\n");
		return ADM_USAGE;
	}
	for (i = 0; i < o->nhooks; i++) {
		h = json_pack("{s:s}", "url", o->hooks[i]);
		if (i < o->nsecrets) {
			if (adm_read_file(o->secrets[i], &sec, &len) != 0)
				return ADM_IO;
			while (len > 0 && (sec[len - 1] == '\n' ||
			    sec[len - 1] == '\r'))
				sec[--len] = '\0';
			json_object_set_new(h, "secret",
			    json_stringn((const char *)sec, len));
			OPENSSL_cleanse(sec, len);
			free(sec);
		}
		json_array_append_new(*out, h);
	}
	return ADM_OK;
}

static int
adm_project_put(struct adm *a, const struct adm_res *res, int argc,
    char **argv, int create)
{
	json_t *body = NULL, *hooks = NULL;
	char path[256];
	int rc;

	ADM_PARSE(res->res, create ? "create" : "update", create ? 0 : 1);
	if (create && (o.slug == NULL || o.name == NULL)) {
		fprintf(stderr, "signet: --slug and --name are required\n");
		return ADM_USAGE;
	}
	if (!create) {
		adm_res_path(res, NULL, argv[optind], path, sizeof(path));
		if ((rc = client_get_json(a->c, path, &body)) != 0)
			return adm_fail(a, rc);
		/* the policies have their own commands */
		json_object_del(body, "signingPolicies");
	} else {
		body = json_pack("{s:s}", "slug", o.slug);
		adm_res_path(res, NULL, NULL, path, sizeof(path));
	}
	if (o.name != NULL)
		json_object_set_new(body, "name", json_string(o.name));
	if (create || o.set_repos)
		json_object_set_new(body, "repositoryUrls",
		    adm_strings(o.repos, o.nrepos));
	if (create || o.nhooks > 0) {
		if ((rc = adm_webhooks(&o, &hooks)) != ADM_OK) {
			json_decref(hooks);
			json_decref(body);
			return rc;
		}
		json_object_set_new(body, "webhooks", hooks);
	}
	rc = adm_send(a, create ? "POST" : "PUT", path, body);
	json_decref(body);
	return rc;
}

static int
adm_policy_put(struct adm *a, const struct adm_res *res, int argc,
    char **argv, int create)
{
	json_t *body = NULL;
	char path[300];
	int rc;

	ADM_PARSE(res->res, create ? "create" : "update", create ? 1 : 2);
	if (create && (o.slug == NULL || o.name == NULL || o.cert == NULL)) {
		fprintf(stderr, "signet: --slug, --name and --certificate are "
		    "required\n");
		return ADM_USAGE;
	}
	if (create) {
		adm_res_path(res, argv[optind], NULL, path, sizeof(path));
		body = json_pack("{s:s}", "slug", o.slug);
	} else {
		adm_res_path(res, argv[optind], argv[optind + 1], path,
		    sizeof(path));
		if ((rc = client_get_json(a->c, path, &body)) != 0)
			return adm_fail(a, rc);
	}
	if (o.name != NULL)
		json_object_set_new(body, "name", json_string(o.name));
	if (o.cert != NULL)
		json_object_set_new(body, "certificate", json_string(o.cert));
	if (o.purpose != NULL)
		json_object_set_new(body, "purpose", json_string(o.purpose));
	if (o.has_approvals)
		json_object_set_new(body, "requiredApprovals",
		    json_integer(o.approvals));
	if (create || o.set_subs)
		json_object_set_new(body, "submitters",
		    adm_strings(o.subs, o.nsubs));
	if (create || o.set_apprs)
		json_object_set_new(body, "approvers",
		    adm_strings(o.apprs, o.napprs));
	if (o.nconfs > 0)
		json_object_set_new(body, "artifactConfigurations",
		    adm_strings(o.confs, o.nconfs));
	rc = adm_send(a, create ? "POST" : "PUT", path, body);
	json_decref(body);
	return rc;
}

static int
adm_user_put(struct adm *a, const struct adm_res *res, int argc,
    char **argv, int create)
{
	json_t *body = NULL;
	char path[256];
	int rc;

	ADM_PARSE(res->res, create ? "create" : "update", create ? 0 : 1);
	if (create && o.name == NULL) {
		fprintf(stderr, "signet: --name is required\n");
		return ADM_USAGE;
	}
	if (create) {
		adm_res_path(res, NULL, NULL, path, sizeof(path));
		body = json_pack("{s:s}", "name", o.name);
	} else {
		adm_res_path(res, NULL, argv[optind], path, sizeof(path));
		if ((rc = client_get_json(a->c, path, &body)) != 0)
			return adm_fail(a, rc);
	}
	if (o.email != NULL)
		json_object_set_new(body, "email", json_string(o.email));
	if (create || o.set_roles)
		json_object_set_new(body, "roles",
		    adm_strings(o.roles, o.nroles));
	rc = adm_send(a, create ? "POST" : "PUT", path, body);
	json_decref(body);
	return rc;
}

static int
adm_users_password(struct adm *a, int argc, char **argv)
{
	char pw[SIGNET_MAX_PASSWORD + 2], path[256], q[160];
	json_t *body;
	size_t len;
	int rc;

	ADM_PARSE("users", "password", 1);
	snprintf(q, sizeof(q), "new password for %.64s: ", argv[optind]);
	if (prompt_password(q, pw, sizeof(pw), &len) != 0) {
		fprintf(stderr, "signet: no password read (%d to %d characters "
		    "on one line)\n", SIGNET_MIN_PASSWORD, SIGNET_MAX_PASSWORD);
		return 1;
	}
	snprintf(path, sizeof(path), "/api/v1/admin/users/%s/password",
	    argv[optind]);
	body = json_pack("{s:s}", "password", pw);
	OPENSSL_cleanse(pw, sizeof(pw));
	rc = adm_send(a, "POST", path, body);
	/* jansson's copy of the password */
	if (json_string_value(json_object_get(body, "password")) != NULL)
		OPENSSL_cleanse((void *)(uintptr_t)json_string_value(
		    json_object_get(body, "password")), len);
	json_decref(body);
	return rc;
}

/* Subject and issuer of a client certificate, as signetd compares them. */
static int
adm_cert_names(const char *file, char **subject, char **issuer)
{
	unsigned char *buf = NULL;
	STACK_OF(X509) *sk = NULL;
	size_t len;
	int rc;

	*subject = *issuer = NULL;
	if ((rc = adm_read_file(file, &buf, &len)) != ADM_OK)
		return rc;
	if (pki_chain_from_any(buf, len, &sk) != 0) {
		fprintf(stderr, "signet: %s is not a certificate\n", file);
		free(buf);
		return ADM_IO;
	}
	*subject = pki_name_text(X509_get_subject_name(sk_X509_value(sk, 0)));
	*issuer = pki_name_text(X509_get_issuer_name(sk_X509_value(sk, 0)));
	sk_X509_pop_free(sk, X509_free);
	free(buf);
	return *subject && *issuer ? ADM_OK : ADM_IO;
}

static int
adm_identity_put(struct adm *a, const struct adm_res *res, int argc,
    char **argv, int create)
{
	char *subject = NULL, *issuer = NULL, path[256];
	json_t *body;
	int rc;

	ADM_PARSE(res->res, create ? "create" : "update", create ? 0 : 1);
	if (create && o.name == NULL) {
		fprintf(stderr, "signet: --name is required\n");
		return ADM_USAGE;
	}
	if (o.certfile != NULL && (rc = adm_cert_names(o.certfile, &subject,
	    &issuer)) != ADM_OK)
		return rc;
	body = json_pack("{s:s, s:s}", "name", create ? o.name : argv[optind],
	    "type", "client-certificate");
	if (subject != NULL || o.subject != NULL)
		json_object_set_new(body, "subject", json_string(subject ?
		    subject : o.subject));
	if (issuer != NULL || o.issuer != NULL)
		json_object_set_new(body, "issuer", json_string(issuer ?
		    issuer : o.issuer));
	if (o.fpr != NULL)
		json_object_set_new(body, "sha256Fingerprint",
		    json_string(o.fpr));
	adm_res_path(res, NULL, create ? NULL : argv[optind], path,
	    sizeof(path));
	rc = adm_send(a, create ? "POST" : "PUT", path, body);
	free(subject);
	free(issuer);
	json_decref(body);
	return rc;
}

/* --- trusted build systems (docs/origin.md) ---------------------------- */

/* The issuer's keys from a file: a JWK Set (RFC 7517 5) as the issuer's
 * jwks_uri serves it, or one JWK, made a set of one. Which keys are
 * acceptable (public, strong enough, with a kid) is the server's check. */
static int
adm_jwks_file(const char *file, json_t **jwks)
{
	unsigned char *buf = NULL;
	json_t *doc = NULL;
	json_error_t jerr;
	size_t len;
	int rc;

	*jwks = NULL;
	if ((rc = adm_read_file(file, &buf, &len)) != ADM_OK)
		goto out;
	rc = ADM_IO;
	if ((doc = json_loadb((const char *)buf, len, JSON_REJECT_DUPLICATES,
	    &jerr)) == NULL) {
		fprintf(stderr, "signet: %s:%d:%d: %s\n", file, jerr.line,
		    jerr.column, jerr.text);
		goto out;
	}
	if (json_is_object(doc) && json_is_array(json_object_get(doc,
	    "keys"))) {
		*jwks = doc;
		doc = NULL;
	} else if (json_is_object(doc) && json_is_string(json_object_get(doc,
	    "kty"))) {
		if ((*jwks = json_pack("{s:[O]}", "keys", doc)) == NULL)
			goto out;
	} else {
		fprintf(stderr, "signet: %s is neither a JWK Set ({\"keys\": "
		    "[...]}) nor a JWK\n", file);
		goto out;
	}
	rc = ADM_OK;
out:
	json_decref(doc);
	free(buf);
	return rc;
}

/* --claim FIELD=CLAIM, repeated: the generic preset's claims object. */
static int
adm_claims(const struct adm_opts *o, json_t **claims)
{
	char field[CATALOG_MAX_NAME + 1];
	const char *eq;
	json_t *c;
	size_t i;
	int rc = ADM_IO;

	*claims = NULL;
	if ((c = json_object()) == NULL)
		goto out;
	for (i = 0; i < o->nclaims; i++) {
		eq = strchr(o->claims[i], '=');
		if (eq == NULL || eq == o->claims[i] || eq[1] == '\0' ||
		    (size_t)(eq - o->claims[i]) >= sizeof(field)) {
			fprintf(stderr, "signet: --claim FIELD=CLAIM, e.g. "
			    "commitId=git_sha\n");
			rc = ADM_USAGE;
			goto out;
		}
		snprintf(field, sizeof(field), "%.*s", (int)(eq - o->claims[i]),
		    o->claims[i]);
		if (json_object_set_new(c, field, json_string(eq + 1)) != 0) {
			fprintf(stderr, "signet: --claim %s: not UTF-8\n", field);
			rc = ADM_USAGE;
			goto out;
		}
	}
	*claims = c;
	c = NULL;
	rc = ADM_OK;
out:
	json_decref(c);
	return rc;
}

/* create: the record from the flags; update: the stored record with the
 * flags applied, so that what is not named stays as it is. */
static int
adm_build_system_put(struct adm *a, const struct adm_res *res, int argc,
    char **argv, int create)
{
	json_t *body = NULL, *jwks = NULL, *claims = NULL;
	const char *name;
	char path[256];
	int r, rc = ADM_IO;

	ADM_PARSE(res->res, create ? "create" : "update", create ? 0 : 1);
	if (create && (o.name == NULL || o.nids == 0)) {
		fprintf(stderr, "signet: --name and --identity are required\n");
		return ADM_USAGE;
	}
	if (!create && o.name != NULL) {
		fprintf(stderr, "signet: a build system keeps its name: create "
		    "one with the new name, then delete this one\n");
		return ADM_USAGE;
	}
	if (o.no_issuer && (o.issuer != NULL || o.audience != NULL ||
	    o.jwksfile != NULL || o.jwksurl != NULL || o.nclaims > 0)) {
		fprintf(stderr, "signet: --no-issuer takes the issuer away with "
		    "its audience, keys and claims; give none of them with it\n");
		return ADM_USAGE;
	}
	name = create ? o.name : argv[optind];
	/* the name goes into the URL path as it is: the catalog's alphabet
	 * cannot add a segment or a query (the server checks it again) */
	if (!catalog_valid_name(name)) {
		fprintf(stderr, "signet: a build system's name is 1-%d letters, "
		    "digits, '-', '_', '.', '@'\n", CATALOG_MAX_NAME);
		return ADM_USAGE;
	}
	if (o.jwksfile != NULL &&
	    (rc = adm_jwks_file(o.jwksfile, &jwks)) != ADM_OK)
		goto out;
	if (o.nclaims > 0 && (rc = adm_claims(&o, &claims)) != ADM_OK)
		goto out;
	if (create) {
		adm_res_path(res, NULL, NULL, path, sizeof(path));
		body = json_pack("{s:s}", "name", name);
	} else {
		adm_res_path(res, NULL, name, path, sizeof(path));
		if ((r = client_get_json(a->c, path, &body)) != 0) {
			rc = adm_fail(a, r);
			goto out;
		}
	}
	rc = ADM_IO;
	if (!json_is_object(body))
		goto out;
	if (o.nids > 0)
		json_object_set_new(body, "identities",
		    adm_strings(o.ids, o.nids));
	if (o.preset != NULL) {
		json_object_set_new(body, "preset", json_string(o.preset));
		/* claims are the generic preset's own mapping: switching to
		 * github or gitlab replaces it */
		if (strcmp(o.preset, "generic") != 0 && claims == NULL)
			json_object_del(body, "claims");
	}
	if (o.no_issuer) {
		json_object_del(body, "issuer");
		json_object_del(body, "audience");
		json_object_del(body, "jwks");
		json_object_del(body, "jwksUrl");
		json_object_del(body, "claims");
	}
	if (o.issuer != NULL)
		json_object_set_new(body, "issuer", json_string(o.issuer));
	if (o.audience != NULL)
		json_object_set_new(body, "audience", json_string(o.audience));
	if (jwks != NULL)
		json_object_set(body, "jwks", jwks);
	if (o.jwksurl != NULL)
		json_object_set_new(body, "jwksUrl", json_string(o.jwksurl));
	if (claims != NULL)
		json_object_set(body, "claims", claims);
	/* an empty prefix: back to the preset's default */
	if (o.prefix != NULL && o.prefix[0] == '\0')
		json_object_del(body, "repositoryUrlPrefix");
	else if (o.prefix != NULL)
		json_object_set_new(body, "repositoryUrlPrefix",
		    json_string(o.prefix));
	rc = adm_send(a, create ? "POST" : "PUT", path, body);
out:
	json_decref(claims);
	json_decref(jwks);
	json_decref(body);
	return rc;
}

/* Fetches the build system's jwksUrl now; the appliance says whether
 * the stored set changed and which keys it holds. */
static int
adm_build_systems_refresh_jwks(struct adm *a, int argc, char **argv)
{
	json_t *out = NULL, *e;
	char path[256];
	size_t i;
	int r;

	ADM_PARSE("build-systems", "refresh-jwks", 1);
	if (!catalog_valid_name(argv[optind])) {
		fprintf(stderr, "signet: '%s' is not a build system name\n",
		    argv[optind]);
		return ADM_USAGE;
	}
	snprintf(path, sizeof(path),
	    "/api/v1/admin/build-systems/%s/refresh-jwks", argv[optind]);
	if ((r = client_call_json(a->c, "POST", path, NULL, &out)) != 0) {
		/* the fetch failed: the appliance answered, so it is not
		 * "unavailable" (exit 4) */
		if (strcmp(client_error_code(a->c), "jwks_refresh_failed") == 0) {
			fprintf(stderr, "signet: %s\n", client_message(a->c));
			return ADM_REFUSED;
		}
		return adm_fail(a, r);
	}
	if (a->json) {
		adm_print_json(out);
	} else {
		printf("%s: JWKS %s; key ids:", argv[optind],
		    json_is_true(json_object_get(out, "changed")) ? "replaced" :
		    "unchanged");
		json_array_foreach(json_object_get(out, "keyIds"), i, e) {
			char cell[256];

			table_cell(e, cell, sizeof(cell));
			printf(" %s", cell);
		}
		printf("\n");
	}
	json_decref(out);
	return ADM_OK;
}

static int
adm_keys_list(struct adm *a, int argc, char **argv)
{
	static const char *const cols[] = { "id", "label", "type", "bits",
	    "certificates", NULL };

	ADM_PARSE("keys", "list", 0);
	return adm_get_print(a, "/api/v1/admin/keys", cols);
}

static int
adm_keys_generate(struct adm *a, int argc, char **argv)
{
	json_t *body;
	int rc;

	ADM_PARSE("keys", "generate", 0);
	if (o.label == NULL || o.type == NULL) {
		fprintf(stderr, "signet: --label and --type are required\n");
		return ADM_USAGE;
	}
	body = json_pack("{s:s, s:s}", "label", o.label, "type", o.type);
	rc = adm_send(a, "POST", "/api/v1/admin/keys", body);
	json_decref(body);
	return rc;
}

static int
adm_write_out(const char *out, const char *text)
{
	FILE *f = stdout;

	if (out != NULL && (f = fopen(out, "w")) == NULL) {
		fprintf(stderr, "signet: %s: %s\n", out, strerror(errno));
		return ADM_IO;
	}
	fputs(text, f);
	if (f != stdout && fclose(f) != 0) {
		fprintf(stderr, "signet: %s: %s\n", out, strerror(errno));
		return ADM_IO;
	}
	return ADM_OK;
}

static int
adm_keys_csr(struct adm *a, int argc, char **argv)
{
	json_t *body, *exts, *out = NULL;
	char path[256], name[64];
	const char *eq;
	size_t i;
	int r, rc;

	ADM_PARSE("keys", "csr", 1);
	if (o.subject == NULL) {
		fprintf(stderr, "signet: --subject is required\n");
		return ADM_USAGE;
	}
	exts = json_object();
	for (i = 0; i < o.nexts; i++) {
		if ((eq = strchr(o.exts[i], '=')) == NULL ||
		    (size_t)(eq - o.exts[i]) >= sizeof(name)) {
			fprintf(stderr, "signet: --extension NAME=VALUE, e.g. "
			    "extendedKeyUsage=codeSigning\n");
			json_decref(exts);
			return ADM_USAGE;
		}
		snprintf(name, sizeof(name), "%.*s", (int)(eq - o.exts[i]),
		    o.exts[i]);
		json_object_set_new(exts, name, json_string(eq + 1));
	}
	body = json_pack("{s:s, s:o}", "subject", o.subject, "extensions",
	    exts);
	snprintf(path, sizeof(path), "/api/v1/admin/keys/%s/csr", argv[optind]);
	r = client_call_json(a->c, "POST", path, body, &out);
	json_decref(body);
	if (r != 0)
		return adm_fail(a, r);
	rc = a->json ? (adm_print_json(out), ADM_OK) :
	    adm_write_out(o.out, json_string_value(json_object_get(out,
	    "csrPem")));
	json_decref(out);
	return rc;
}

static int
adm_keys_self_signed(struct adm *a, int argc, char **argv)
{
	json_t *body;
	char path[256];
	int rc;

	ADM_PARSE("keys", "self-signed", 1);
	if (o.name == NULL || o.subject == NULL) {
		fprintf(stderr, "signet: --name and --subject are required\n");
		return ADM_USAGE;
	}
	body = json_pack("{s:s, s:s, s:i}", "name", o.name, "subject",
	    o.subject, "days", o.days);
	snprintf(path, sizeof(path), "/api/v1/admin/keys/%s/self-signed",
	    argv[optind]);
	rc = adm_send(a, "POST", path, body);
	json_decref(body);
	return rc;
}

static int
adm_certificates_import(struct adm *a, int argc, char **argv)
{
	unsigned char *buf = NULL;
	char *b64 = NULL;
	json_t *body;
	size_t len;
	int rc;

	ADM_PARSE("certificates", "import", 1);
	if (o.name == NULL || o.purpose == NULL) {
		fprintf(stderr, "signet: --name and --purpose are required\n");
		return ADM_USAGE;
	}
	if ((rc = adm_read_file(argv[optind], &buf, &len)) != ADM_OK)
		return rc;
	body = json_pack("{s:s, s:s}", "name", o.name, "purpose", o.purpose);
	if (o.key != NULL)
		json_object_set_new(body, "key", json_string(o.key));
	if (memmem(buf, len, "-----BEGIN", 10) != NULL) {
		json_object_set_new(body, "chainPem",
		    json_stringn((const char *)buf, len));
	} else {
		/* DER or PKCS#7 travels as base64 */
		if ((b64 = malloc(4 * ((len + 2) / 3) + 1)) == NULL) {
			free(buf);
			json_decref(body);
			return ADM_IO;
		}
		EVP_EncodeBlock((unsigned char *)b64, buf, (int)len);
		json_object_set_new(body, "chainBase64", json_string(b64));
	}
	rc = adm_send(a, "POST", "/api/v1/admin/certificates", body);
	free(b64);
	free(buf);
	json_decref(body);
	return rc;
}

static void
adm_bytes_row(const char *what, const json_t *o, const char *used,
    const char *limit)
{
	printf("%-10s %8.1f MiB of %8.1f MiB\n", what,
	    (double)json_integer_value(json_object_get(o, used)) / 1048576.0,
	    (double)json_integer_value(json_object_get(o, limit)) / 1048576.0);
}

static int
adm_storage(struct adm *a, int argc, char **argv)
{
	json_t *out = NULL, *db, *art;
	const char *why;
	int r;

	ADM_PARSE("storage", "status", 0);
	if ((r = client_get_json(a->c, "/api/v1/admin/storage", &out)) != 0)
		return adm_fail(a, r);
	if (a->json) {
		adm_print_json(out);
	} else {
		db = json_object_get(out, "database");
		art = json_object_get(out, "artifacts");
		adm_bytes_row("database", db, "usedBytes", "maxMapSizeBytes");
		printf("%-10s %8.1f MiB now (grows to the ceiling, [store] "
		    "max_map_size)\n", "map",
		    (double)json_integer_value(json_object_get(db,
		    "mapSizeBytes")) / 1048576.0);
		printf("%-10s %8.1f MiB free of %8.1f MiB\n", "disk",
		    (double)json_integer_value(json_object_get(db,
		    "diskFreeBytes")) / 1048576.0,
		    (double)json_integer_value(json_object_get(db,
		    "diskTotalBytes")) / 1048576.0);
		printf("%-10s %lld file(s), %.1f MiB (%.1f MiB free)\n",
		    "artifacts",
		    (long long)json_integer_value(json_object_get(art, "count")),
		    (double)json_integer_value(json_object_get(art, "bytes")) /
		    1048576.0, (double)json_integer_value(json_object_get(art,
		    "diskFreeBytes")) / 1048576.0);
		printf("%-10s %lld request(s)\n", "queue", (long long)
		    json_integer_value(json_object_get(out, "queueDepth")));
		why = json_string_value(json_object_get(out, "reason"));
		printf("%-10s %s\n", "writable", why != NULL ? why : "yes");
	}
	json_decref(out);
	return 0;
}

static int
adm_token(struct adm *a, int argc, char **argv)
{
	json_t *out = NULL;
	int r;

	ADM_PARSE("token", "status", 0);
	if ((r = client_get_json(a->c, "/api/v1/admin/token", &out)) != 0)
		return adm_fail(a, r);
	if (a->json) {
		adm_print_json(out);
	} else {
		static const char *const cols[] = { "id", "label", "type",
		    "bits", "certificates", NULL };

		printf("token     %s (%s %s, serial %s)\n",
		    json_string_value(json_object_get(out, "label")),
		    json_string_value(json_object_get(out, "manufacturer")),
		    json_string_value(json_object_get(out, "model")),
		    json_string_value(json_object_get(out, "serial")));
		printf("present   %s\nlogged in %s\nslots     %lld (%lld free)\n\n",
		    json_is_true(json_object_get(out, "present")) ? "yes" : "no",
		    json_is_true(json_object_get(out, "loggedIn")) ? "yes" :
		    "no", (long long)json_integer_value(json_object_get(out,
		    "slots")), (long long)json_integer_value(json_object_get(out,
		    "freeSlots")));
		table_print(json_object_get(out, "keys"), cols);
	}
	json_decref(out);
	return ADM_OK;
}

static int
adm_export(struct adm *a, int argc, char **argv)
{
	json_t *out = NULL;
	int r;

	ADM_PARSE("config", "export", 0);
	if ((r = client_get_json(a->c, "/api/v1/admin/export", &out)) != 0)
		return adm_fail(a, r);
	adm_print_json(out);
	json_decref(out);
	return ADM_OK;
}

static int
adm_apply(struct adm *a, int argc, char **argv)
{
	json_t *doc;
	json_error_t jerr;
	int rc;

	ADM_PARSE("config", "apply", 1);
	if ((doc = json_load_file(argv[optind], JSON_REJECT_DUPLICATES,
	    &jerr)) == NULL) {
		fprintf(stderr, "signet: %s:%d:%d: %s\n", argv[optind],
		    jerr.line, jerr.column, jerr.text);
		return ADM_IO;
	}
	rc = adm_send(a, "POST", o.dry_run ? "/api/v1/admin/apply?dryRun=true" :
	    "/api/v1/admin/apply", doc);
	json_decref(doc);
	return rc;
}

static const char *const adm_cols_projects[] = { "slug", "name",
    "repositoryUrls", "signingPolicies", "webhooks", NULL };
static const char *const adm_cols_policies[] = { "slug", "name", "purpose",
    "certificate", "requiredApprovals", "submitters", "approvers", NULL };
static const char *const adm_cols_users[] = { "name", "email", "roles",
    NULL };
static const char *const adm_cols_identities[] = { "name", "type",
    "subject", "issuer", "sha256Fingerprint", NULL };
static const char *const adm_cols_build_systems[] = { "name", "identities",
    "preset", "issuer", "audience", "repositoryUrlPrefix", NULL };
static const char *const adm_cols_certificates[] = { "name", "purpose",
    "key", "subject", "notAfter", "daysLeft", "expiringSoon", NULL };

static const struct adm_res adm_resources[] = {
	{ "projects", "project", "project", adm_cols_projects, 0,
	    adm_project_put },
	{ "policies", "policy", "signing policy", adm_cols_policies, 0,
	    adm_policy_put },
	{ "users", "user", "user", adm_cols_users, 0, adm_user_put },
	{ "identities", "identity", "CI identity", adm_cols_identities, 0,
	    adm_identity_put },
	{ "build-systems", "build-system", "build system",
	    adm_cols_build_systems, 1, adm_build_system_put },
	{ "certificates", "certificate", "certificate", adm_cols_certificates,
	    0, NULL },
	{ NULL, NULL, NULL, NULL, 0, NULL },
};

static const struct adm_res *
adm_res_of(const struct adm *a)
{
	const struct adm_res *r;

	for (r = adm_resources; r->res != NULL; r++)
		if (strcmp(r->res, a->cmd->res) == 0)
			return r;
	return NULL;
}

/* The positional arguments of show and delete: [PROJECT] NAME. */
static int
adm_res_args(const struct adm_res *r, int argc, char **argv, const char *verb,
    int with_name)
{
	const struct catalog_kind *k = catalog_kind_find(r->kind);
	int npos = (k->per_project ? 1 : 0) + (with_name ? 1 : 0);

	ADM_PARSE(r->res, verb, npos);
	if (with_name && r->check_name &&
	    !catalog_valid_name(argv[optind + npos - 1])) {
		fprintf(stderr, "signet: '%s' is not a %s name\n",
		    argv[optind + npos - 1], r->noun);
		return ADM_USAGE;
	}
	return -1;
}

static int
adm_res_list(struct adm *a, int argc, char **argv)
{
	const struct adm_res *r = adm_res_of(a);
	char path[512];
	int rc;

	if ((rc = adm_res_args(r, argc, argv, "list", 0)) != -1)
		return rc;
	adm_res_path(r, catalog_kind_find(r->kind)->per_project ?
	    argv[optind] : NULL, NULL, path, sizeof(path));
	return adm_get_print(a, path, r->cols);
}

/* PROJECT NAME or NAME: the object's path. */
static void
adm_res_object(const struct adm_res *r, char **argv, char *path, size_t len)
{
	if (catalog_kind_find(r->kind)->per_project)
		adm_res_path(r, argv[optind], argv[optind + 1], path, len);
	else
		adm_res_path(r, NULL, argv[optind], path, len);
}

static int
adm_res_show(struct adm *a, int argc, char **argv)
{
	const struct adm_res *r = adm_res_of(a);
	char path[512];
	int rc;

	if ((rc = adm_res_args(r, argc, argv, "show", 1)) != -1)
		return rc;
	adm_res_object(r, argv, path, sizeof(path));
	return adm_get_print(a, path, NULL);
}

static int
adm_res_delete(struct adm *a, int argc, char **argv)
{
	const struct adm_res *r = adm_res_of(a);
	char path[512];
	int rc;

	if ((rc = adm_res_args(r, argc, argv, "delete", 1)) != -1)
		return rc;
	adm_res_object(r, argv, path, sizeof(path));
	return adm_send(a, "DELETE", path, NULL);
}

static int
adm_res_create(struct adm *a, int argc, char **argv)
{
	const struct adm_res *r = adm_res_of(a);

	return r->put(a, r, argc, argv, 1);
}

static int
adm_res_update(struct adm *a, int argc, char **argv)
{
	const struct adm_res *r = adm_res_of(a);

	return r->put(a, r, argc, argv, 0);
}

static const struct adm_cmd adm_cmds[] = {
	{ "projects", "list", "", "projects, their policies and webhooks",
	    adm_res_list },
	{ "projects", "show", "SLUG", "one project", adm_res_show },
	{ "projects", "create", "--slug S --name N [--repository-url U]... "
	    "[--webhook URL --webhook-secret-file F]...", "a new project",
	    adm_res_create },
	{ "projects", "update", "SLUG [--name N] [--repository-url U]... "
	    "[--webhook URL [--webhook-secret-file F]]...",
	    "change a project (lists given replace the old ones)",
	    adm_res_update },
	{ "projects", "delete", "SLUG", "a project without signing policies",
	    adm_res_delete },
	{ "policies", "list", "PROJECT", "a project's signing policies",
	    adm_res_list },
	{ "policies", "show", "PROJECT SLUG", "one signing policy",
	    adm_res_show },
	{ "policies", "create", "PROJECT --slug S --name N --certificate C "
	    "[--purpose test|release] [--approvals K] [--submitter X]... "
	    "[--approver Y]... [--artifact-configuration C]...",
	    "a new signing policy", adm_res_create },
	{ "policies", "update", "PROJECT SLUG [the flags of create]",
	    "change a signing policy (lists given replace the old ones)",
	    adm_res_update },
	{ "policies", "delete", "PROJECT SLUG",
	    "a policy with no request in progress", adm_res_delete },
	{ "users", "list", "", "users and their roles", adm_res_list },
	{ "users", "show", "NAME", "one user", adm_res_show },
	{ "users", "create", "--name N [--email E] [--role R]...",
	    "roles: administrator, security-officer, auditor",
	    adm_res_create },
	{ "users", "update", "NAME [--email E] [--role R]...",
	    "change a user", adm_res_update },
	{ "users", "delete", "NAME", "a user no policy names",
	    adm_res_delete },
	{ "users", "password", "NAME", "set the password (read from stdin)",
	    adm_users_password },
	{ "identities", "list", "", "CI identities (client certificates)",
	    adm_res_list },
	{ "identities", "show", "NAME", "one CI identity",
	    adm_res_show },
	{ "identities", "create", "--name N (--certificate-file PEM | "
	    "--subject S --issuer I | --fingerprint SHA256)",
	    "a build system's client certificate", adm_res_create },
	{ "identities", "update", "NAME (--certificate-file PEM | --subject S "
	    "--issuer I | --fingerprint SHA256)", "change a CI identity",
	    adm_res_update },
	{ "identities", "delete", "NAME", "a CI identity no policy names",
	    adm_res_delete },
	{ "build-systems", "list", "", "trusted build systems: their CI "
	    "identities and OIDC issuers", adm_res_list },
	{ "build-systems", "show", "NAME", "one build system, with its JWKS",
	    adm_res_show },
	{ "build-systems", "create", "--name N --identity I... "
	    "[--preset github|gitlab|generic] [--issuer URL --audience A "
	    "--jwks-file FILE [--jwks-url URL]] [--claim FIELD=CLAIM]... "
	    "[--repository-url-prefix URL]",
	    "the CI identities whose client certificates are this build "
	    "system and, with --issuer, the OIDC issuer whose ID tokens vouch "
	    "for its origin data (--jwks-file: a JWK Set or one JWK; --claim: "
	    "the generic preset's claims, e.g. commitId=git_sha; see "
	    "docs/origin.md)", adm_res_create },
	{ "build-systems", "update", "NAME [--identity I]... [--preset P] "
	    "[--issuer URL] [--audience A] [--jwks-file FILE] [--jwks-url URL] "
	    "[--claim FIELD=CLAIM]... [--repository-url-prefix URL] "
	    "[--no-issuer]", "change a build system (lists given replace the "
	    "old ones; an empty --repository-url-prefix is the preset's; "
	    "--no-issuer: the client certificate alone vouches)",
	    adm_res_update },
	{ "build-systems", "delete", "NAME", "a build system (its identities "
	    "stay, as CI identities without one)", adm_res_delete },
	{ "build-systems", "refresh-jwks", "NAME", "fetch the build system's "
	    "jwksUrl now; a new, acceptable JWKS replaces the stored one",
	    adm_build_systems_refresh_jwks },
	{ "keys", "list", "", "keys in the token and their certificates",
	    adm_keys_list },
	{ "keys", "generate", "--label L --type rsa3072|rsa4096|p256|p384",
	    "a key pair made inside the token (never extractable)",
	    adm_keys_generate },
	{ "keys", "csr", "KEY --subject S [--extension NAME=VALUE]... "
	    "[--out FILE]", "a PKCS#10 request for a CA, made with the key",
	    adm_keys_csr },
	{ "keys", "self-signed", "KEY --name CERT --subject S [--days N]",
	    "a self-signed test certificate (purpose test)",
	    adm_keys_self_signed },
	{ "certificates", "list", "", "certificates, their keys and expiry",
	    adm_res_list },
	{ "certificates", "show", "NAME", "one certificate chain",
	    adm_res_show },
	{ "certificates", "import", "--name N --purpose test|release|timestamping "
	    "[--key K] FILE", "a CA's chain (PEM, DER or PKCS#7) for a token "
	    "key", adm_certificates_import },
	{ "certificates", "delete", "NAME", "a certificate no policy uses",
	    adm_res_delete },
	{ "token", "status", "", "the token: present, logged in, keys",
	    adm_token },
	{ "storage", "status", "", "the database and the artifacts against "
	    "their limits, the queue", adm_storage },
	{ "config", "export", "", "the whole configuration as one document "
	    "(no secrets)", adm_export },
	{ "config", "apply", "FILE [--dry-run]", "make the configuration be "
	    "the document (idempotent; prints the changes)", adm_apply },
	{ NULL, NULL, NULL, NULL, NULL },
};

int
signet_admin_main(int argc, char **argv)
{
	static const struct option conn[] = {
		{ "url", required_argument, NULL, 'u' },
		{ "cacert", required_argument, NULL, 'a' },
		{ "token", required_argument, NULL, 't' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct client_opts co;
	const struct adm_cmd *cmd;
	const char *res, *verb;
	struct adm a;
	int ch, rc;

	memset(&a, 0, sizeof(a));
	memset(&co, 0, sizeof(co));
	co.url = getenv("SIGNET_URL");
	co.cacert = getenv("SIGNET_CACERT");
	co.token = getenv("SIGNET_TOKEN");
	co.retries = -1;
	optind = 0;
	/* "+": stop at the resource, its flags are its own */
	while ((ch = getopt_long(argc, argv, "+", conn, NULL)) != -1) {
		switch (ch) {
		case 'u': co.url = optarg; break;
		case 'a': co.cacert = optarg; break;
		case 't': co.token = optarg; break;
		case 'j': a.json = 1; break;
		case 'h':
			adm_usage(stdout);
			return ADM_OK;
		default:
			adm_usage(stderr);
			return ADM_USAGE;
		}
	}
	if (argc - optind < 1) {
		adm_usage(stderr);
		return ADM_USAGE;
	}
	res = argv[optind];
	/* "export" and "apply" read better without "config" */
	if (strcmp(res, "export") == 0 || strcmp(res, "apply") == 0) {
		verb = res;
		res = "config";
		argc -= optind;
		argv += optind;
	} else if ((strcmp(res, "token") == 0 ||
	    strcmp(res, "storage") == 0) && (argc - optind == 1 ||
	    argv[optind + 1][0] == '-')) {
		verb = "status";
		argc -= optind;
		argv += optind;
	} else {
		if (argc - optind < 2) {
			fprintf(stderr, "usage:\n");
			if (adm_usage_of(res, NULL, stderr) == 0)
				adm_usage(stderr);
			return ADM_USAGE;
		}
		verb = argv[optind + 1];
		argc -= optind + 1;
		argv += optind + 1;
	}
	for (cmd = adm_cmds; cmd->res != NULL; cmd++)
		if (strcmp(cmd->res, res) == 0 && strcmp(cmd->verb, verb) == 0)
			break;
	if (cmd->res == NULL) {
		fprintf(stderr, "signet: unknown command 'admin %s %s'\n", res,
		    verb);
		if (adm_usage_of(res, NULL, stderr) == 0)
			adm_usage(stderr);
		return ADM_USAGE;
	}
	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "--help") == 0) {
			adm_usage_of(res, verb, stdout);
			return ADM_OK;
		}
	if (co.url == NULL) {
		fprintf(stderr, "signet: no appliance: give --url or set "
		    "SIGNET_URL\n");
		return ADM_USAGE;
	}
	if (co.token == NULL) {
		fprintf(stderr, "signet: administration needs a session: run "
		    "'signet login --username NAME' and set SIGNET_TOKEN\n");
		return ADM_USAGE;
	}
	if (client_global_init() != 0 || client_new(&co, &a.c) != 0) {
		fprintf(stderr, "signet: cannot use %s (https:// only)\n",
		    co.url);
		return ADM_USAGE;
	}
	a.cmd = cmd;
	rc = cmd->fn(&a, argc, argv);
	client_free(a.c);
	client_global_cleanup();
	return rc;
}
