/* The declarative document (catalog_apply) and one object at a time
 * (catalog_apply_one): validated, then written in one transaction. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/pem.h>

#include "authenticode.h"
#include "catalog.h"
#include "format.h"
#include "catalog_int.h"
#include "khclient.h"
#include "log.h"
#include "notify.h"
#include "origin.h"
#include "users.h"
#include "audit.h"
#include "pki.h"
#include "request.h"
#include "signet_limits.h"
/* --- apply --------------------------------------------------------- */

struct catalog_apply {
	struct store_txn *t;
	struct kh *kh;
	const char *basedir;
	FILE *report;
	char *errbuf;
	size_t errlen;
	int changes;
	json_t *doc_certs;	/* names defined by the document */
	json_t *doc_idents;
	json_t *doc_users;
	json_t *doc_bs;		/* identity → build system of the document */
	const char *actor_type;
	const char *actor;
	char *kept;		/* a webhook secret kept from before */
};

static int apply_fail(struct catalog_apply *a, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int
apply_fail(struct catalog_apply *a, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(a->errbuf, a->errlen, fmt, ap);
	va_end(ap);
	return SIGNET_ERR_INVALID;
}

/* Writes rec under key unless an equal record is already there. */
static int
apply_put(struct catalog_apply *a, enum store_db db, const char *what,
    const char *key, json_t *rec)
{
	json_t *old = NULL;
	char action[64];
	int r, exists;

	r = store_get_json(a->t, db, key, &old);
	if (r != 0 && r != SIGNET_ERR_NOT_FOUND)
		return r;
	exists = r == 0;
	if (exists) {
		json_object_del(old, "v");
		if (json_equal(old, rec)) {
			json_decref(old);
			return 0;
		}
		json_decref(old);
	}
	fprintf(a->report, "%s %s %s\n", exists ? "updated" : "created", what,
	    key);
	a->changes++;
	snprintf(action, sizeof(action), "%s.%s", what, exists ? "updated" :
	    "created");
	if ((r = audit_append(a->t, a->actor_type, a->actor, action, key,
	    NULL)) != 0)
		return r;
	return store_put_json(a->t, db, key, rec);
}

static int
apply_read_file(struct catalog_apply *a, const char *rel, char **out, size_t *len)
{
	char *path = NULL, *buf = NULL;
	int fd = -1, r = SIGNET_ERR_IO;
	struct stat st;
	ssize_t n;

	*out = NULL;
	/* a document that came over the network names no files on the
	 * appliance: that would let it read anything signetd can */
	if (a->basedir == NULL)
		return apply_fail(a, "'%.64s': a document sent to the appliance "
		    "carries its contents inline (chainPem, secret), not file "
		    "names", rel);
	if (rel[0] == '/')
		path = strdup(rel);
	else if (asprintf(&path, "%s/%s", a->basedir, rel) < 0)
		path = NULL;
	if (path == NULL)
		return SIGNET_ERR_NOMEM;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0 || fstat(fd, &st) != 0) {
		r = apply_fail(a, "%s: %s", path, strerror(errno));
		goto out;
	}
	if (st.st_size > SIGNET_MAX_REFERENCED_FILE) {
		r = apply_fail(a, "%s: larger than %d KiB", path,
		    SIGNET_MAX_REFERENCED_FILE / 1024);
		goto out;
	}
	if ((buf = malloc((size_t)st.st_size + 1)) == NULL) {
		r = SIGNET_ERR_NOMEM;
		goto out;
	}
	if ((n = read(fd, buf, (size_t)st.st_size)) != st.st_size) {
		r = apply_fail(a, "%s: short read", path);
		goto out;
	}
	buf[n] = '\0';
	*out = buf;
	*len = (size_t)n;
	buf = NULL;
	r = 0;
out:
	if (fd >= 0)
		close(fd);
	free(buf);
	free(path);
	return r;
}

int
catalog_apply_certificate(struct catalog_apply *a, const char *project,
    json_t *c)
{
	const char *name, *key, *purpose, *file = NULL, *inline_pem = NULL;
	char *pem = NULL, *norm = NULL, *subject = NULL, fp[65], na[32],
	    err[256];
	size_t len = 0;
	json_error_t jerr;
	STACK_OF(X509) *chain = NULL;
	X509 *leaf;
	EVP_PKEY *pub = NULL;
	struct kh_key_info ki;
	json_t *rec = NULL;
	int r;

	(void)project;
	if (json_unpack_ex(c, &jerr, JSON_STRICT, "{s:s, s:s, s:s, s?:s, s?:s}",
	    "name", &name, "key", &key, "purpose", &purpose,
	    "chainFile", &file, "chainPem", &inline_pem) != 0)
		return apply_fail(a, "certificates: %s", jerr.text);
	if (!catalog_valid_name(name))
		return apply_fail(a, "certificate '%s': name must be 1-64 "
		    "letters, digits, '-', '_', '.'", name);
	if (strcmp(purpose, "test") != 0 && strcmp(purpose, "release") != 0 &&
	    strcmp(purpose, "timestamping") != 0)
		return apply_fail(a, "certificate '%s': purpose must be "
		    "\"test\", \"release\" or \"timestamping\"", name);
	if ((file == NULL) == (inline_pem == NULL))
		return apply_fail(a, "certificate '%s': give exactly one of "
		    "chainFile or chainPem", name);
	if (file != NULL) {
		if ((r = apply_read_file(a, file, &pem, &len)) != 0)
			return r;
	} else if ((pem = strdup(inline_pem)) == NULL) {
		return SIGNET_ERR_NOMEM;
	} else {
		len = strlen(pem);
	}
	if (pki_chain_from_pem(pem, len, &chain) != 0) {
		r = apply_fail(a, "certificate '%s': the chain is not a list of "
		    "PEM certificates (leaf first, at most %d)", name,
		    SIGNET_MAX_CHAIN);
		goto out;
	}
	leaf = sk_X509_value(chain, 0);
	if (strcmp(purpose, "timestamping") == 0 &&
	    pki_check_timestamping(leaf, err, sizeof(err)) != 0) {
		r = apply_fail(a, "certificate '%s' cannot be a timestamping "
		    "certificate: %s", name, err);
		goto out;
	}
	if (a->kh == NULL) {
		r = apply_fail(a, "certificate '%s': the token is needed to "
		    "match it to its key", name);
		goto out;
	}
	if ((r = kh_find_key(a->kh, key, &ki)) != 0) {
		r = apply_fail(a, "certificate '%s': key '%s' is not in the "
		    "token (%s); generate it with 'signet key generate'", name,
		    key, signet_strerror(r));
		goto out;
	}
	if ((r = kh_public_key(a->kh, ki.id, &pub)) != 0) {
		r = apply_fail(a, "certificate '%s': cannot read key '%s': %s",
		    name, key, signet_strerror(r));
		goto out;
	}
	if (EVP_PKEY_eq(pub, X509_get0_pubkey(leaf)) != 1) {
		r = apply_fail(a, "certificate '%s': its public key is not the "
		    "one of token key '%s'", name, key);
		goto out;
	}
	if ((r = pki_chain_to_pem(chain, &norm)) != 0 ||
	    (r = pki_cert_sha256(leaf, fp)) != 0 ||
	    (r = pki_time_text(X509_get0_notAfter(leaf), na)) != 0)
		goto out;
	if ((subject = pki_name_text(X509_get_subject_name(leaf))) == NULL) {
		r = SIGNET_ERR_NOMEM;
		goto out;
	}
	if ((rec = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}",
	    "name", name, "keyId", ki.id, "keyLabel", ki.label,
	    "purpose", purpose, "chainPem", norm, "subject", subject,
	    "notAfter", na, "sha256", fp)) == NULL) {
		r = SIGNET_ERR_NOMEM;
		goto out;
	}
	json_object_set_new(a->doc_certs, name, json_string(purpose));
	r = apply_put(a, STORE_CERTIFICATES, "certificate", name, rec);
out:
	json_decref(rec);
	EVP_PKEY_free(pub);
	sk_X509_pop_free(chain, X509_free);
	free(pem);
	free(norm);
	free(subject);
	return r;
}

/* Users and CI identities share one name space: decisions, submitter
 * lists and audit entries name principals, and a certificate named like
 * a person must never be taken for that person. Refused both ways, in
 * the document and against what is stored. */
static int
apply_name_free(struct catalog_apply *a, const char *kind, const char *name)
{
	int ident = strcmp(kind, "identity") == 0;
	json_t *doc = ident ? a->doc_users : a->doc_idents, *rec = NULL;
	int r;

	if (json_object_get(doc, name) != NULL)
		r = 0;
	else if ((r = store_get_json(a->t, ident ? STORE_USERS :
	    STORE_IDENTITIES, name, &rec)) == SIGNET_ERR_NOT_FOUND)
		return 0;
	json_decref(rec);
	if (r != 0)
		return r;
	apply_fail(a, "%s '%s': a %s already has that name; names are unique "
	    "across users and CI identities, so that a certificate is never "
	    "taken for a person. Choose another name", kind, name, ident ?
	    "user" : "CI identity");
	return SIGNET_ERR_EXISTS;
}

int
catalog_apply_identity(struct catalog_apply *a, const char *project,
    json_t *id)
{
	const char *name, *type, *subject = NULL, *issuer = NULL, *fp = NULL;
	char key[80], fpl[65], *dn = NULL, owner[CATALOG_MAX_NAME + 1];
	json_error_t jerr;
	json_t *rec = NULL, *old = NULL, *roles = NULL, *e;
	size_t i;
	int r;

	(void)project;
	if (json_unpack_ex(id, &jerr, JSON_STRICT,
	    "{s:s, s:s, s?:s, s?:s, s?:s, s?:o}", "name", &name, "type", &type,
	    "subject", &subject, "issuer", &issuer,
	    "sha256Fingerprint", &fp, "roles", &roles) != 0)
		return apply_fail(a, "identities: %s", jerr.text);
	/* a client certificate may read the metrics (a scraper) and nothing
	 * more than an identity can otherwise */
	if (roles != NULL && !json_is_array(roles))
		return apply_fail(a, "identity '%s': roles must be a list", name);
	json_array_foreach(roles, i, e)
		if (!json_is_string(e) || strcmp(json_string_value(e),
		    ROLE_METRICS) != 0)
			return apply_fail(a, "identity '%s': unknown role (an "
			    "identity's only role is metrics)", name);
	if (!catalog_valid_name(name))
		return apply_fail(a, "identity '%s': name must be 1-64 letters, "
		    "digits, '-', '_', '.', '@'", name);
	if ((r = apply_name_free(a, "identity", name)) != 0)
		return r;
	if (strcmp(type, "client-certificate") != 0)
		return apply_fail(a, "identity '%s': type must be "
		    "\"client-certificate\"", name);
	if (fp == NULL && (subject == NULL || issuer == NULL))
		return apply_fail(a, "identity '%s': give sha256Fingerprint, "
		    "or subject and issuer (RFC 2253, as `openssl x509 "
		    "-nameopt RFC2253` prints them)", name);
	if ((subject == NULL) != (issuer == NULL))
		return apply_fail(a, "identity '%s': subject and issuer go "
		    "together", name);
	if (fp != NULL) {
		size_t j = 0;

		/* accept "AB:CD:…" as openssl prints it */
		for (i = 0; fp[i] != '\0' && j < 64; i++) {
			if (fp[i] == ':')
				continue;
			fpl[j++] = (char)(fp[i] >= 'A' && fp[i] <= 'F' ?
			    fp[i] - 'A' + 'a' : fp[i]);
		}
		fpl[j] = '\0';
		if (fp[i] != '\0' || j != 64 || strspn(fpl,
		    "0123456789abcdef") != 64)
			return apply_fail(a, "identity '%s': sha256Fingerprint "
			    "must be 64 hex digits", name);
	}
	if ((rec = json_pack("{s:s, s:s}", "name", name, "type", type)) == NULL)
		return SIGNET_ERR_NOMEM;
	if (fp != NULL)
		json_object_set_new(rec, "sha256Fingerprint", json_string(fpl));
	if (subject != NULL) {
		json_object_set_new(rec, "subject", json_string(subject));
		json_object_set_new(rec, "issuer", json_string(issuer));
	}
	if (roles != NULL && json_array_size(roles) > 0)
		json_object_set_new(rec, "roles", json_deep_copy(roles));
	r = store_get_json(a->t, STORE_IDENTITIES, name, &old);
	if (r == 0)
		r = catalog_unmap(a->t, old);
	else if (r == SIGNET_ERR_NOT_FOUND)
		r = 0;
	if (r != 0)
		goto out;
	if (fp != NULL) {
		snprintf(key, sizeof(key), "fp:%s", fpl);
		if (catalog_lookup(a->t, key, owner) == 0 &&
		    strcmp(owner, name) != 0) {
			r = apply_fail(a, "identity '%s': that fingerprint "
			    "already belongs to '%s'", name, owner);
			goto out;
		}
		if ((r = store_put(a->t, STORE_CERTMAP, key, strlen(key), name,
		    strlen(name))) != 0)
			goto out;
	}
	if (subject != NULL) {
		if ((dn = catalog_dn_key(issuer, subject)) == NULL) {
			r = SIGNET_ERR_NOMEM;
			goto out;
		}
		if (catalog_lookup(a->t, dn, owner) == 0 &&
		    strcmp(owner, name) != 0) {
			r = apply_fail(a, "identity '%s': that subject and "
			    "issuer already belong to '%s'", name, owner);
			goto out;
		}
		if ((r = store_put(a->t, STORE_CERTMAP, dn, strlen(dn), name,
		    strlen(name))) != 0)
			goto out;
	}
	json_object_set_new(a->doc_idents, name, json_true());
	r = apply_put(a, STORE_IDENTITIES, "identity", name, rec);
out:
	free(dn);
	json_decref(old);
	json_decref(rec);
	return r;
}

int
catalog_apply_user(struct catalog_apply *a, const char *project,
    json_t *u)
{
	const char *name, *email = NULL;
	json_t *roles = NULL, *old = NULL, *rec = NULL, *e, *cmp;
	json_error_t jerr;
	size_t i;
	int r;

	(void)project;
	if (json_unpack_ex(u, &jerr, JSON_STRICT, "{s:s, s?:s, s?:o}",
	    "name", &name, "email", &email, "roles", &roles) != 0)
		return apply_fail(a, "users: %s", jerr.text);
	if (!catalog_valid_name(name))
		return apply_fail(a, "user '%s': name must be 1-64 letters, "
		    "digits, '-', '_', '.', '@'", name);
	if ((r = apply_name_free(a, "user", name)) != 0)
		return r;
	if (email != NULL && !notify_valid_address(email))
		return apply_fail(a, "user '%s': '%s' is not an e-mail address",
		    name, email);
	if (roles != NULL && !json_is_array(roles))
		return apply_fail(a, "user '%s': roles must be a list", name);
	json_array_foreach(roles, i, e)
		if (!json_is_string(e) || !users_valid_role(json_string_value(e)))
			return apply_fail(a, "user '%s': unknown role (roles: "
			    "administrator, security-officer, auditor, metrics)",
			    name);
	r = store_get_json(a->t, STORE_USERS, name, &old);
	if (r != 0 && r != SIGNET_ERR_NOT_FOUND)
		return r;
	/* the document manages who a user is; the password and lockout
	 * state stay as they are */
	rec = old != NULL ? json_deep_copy(old) : json_object();
	if (rec == NULL) {
		r = SIGNET_ERR_NOMEM;
		goto out;
	}
	json_object_del(rec, "v");
	json_object_set_new(rec, "name", json_string(name));
	if (email != NULL)
		json_object_set_new(rec, "email", json_string(email));
	else
		json_object_del(rec, "email");
	json_object_set_new(rec, "roles", roles ? json_deep_copy(roles) :
	    json_array());
	json_object_set_new(a->doc_users, name, json_true());
	cmp = old;
	if (cmp != NULL)
		json_object_del(cmp, "v");
	if (cmp != NULL && json_equal(cmp, rec)) {
		r = 0;
		goto out;
	}
	fprintf(a->report, "%s user %s\n", old ? "updated" : "created", name);
	a->changes++;
	if ((r = audit_append(a->t, a->actor_type, a->actor, old ?
	    "user.updated" : "user.created", name, NULL)) != 0 ||
	    (r = users_record_update(a->t, name, old, rec)) != 0)
		goto out;
	r = store_put_json(a->t, STORE_USERS, name, rec);
out:
	json_decref(rec);
	json_decref(old);
	return r;
}

/* The stored secret of a project's webhook (a->kept, wiped after use). */
static const char *
apply_kept_secret(struct catalog_apply *a, const char *project, const char *url)
{
	json_t *p = NULL, *h;
	const char *u, *sec;
	size_t i;

	if (catalog_get_project(a->t, project, &p) != 0)
		return NULL;
	json_array_foreach(json_object_get(p, "webhooks"), i, h) {
		u = json_string_value(json_object_get(h, "url"));
		sec = json_string_value(json_object_get(h, "secret"));
		if (u != NULL && sec != NULL && strcmp(u, url) == 0) {
			a->kept = strdup(sec);
			break;
		}
	}
	json_decref(p);
	return a->kept;
}

static int
apply_webhooks(struct catalog_apply *a, const char *project, json_t *hooks,
    json_t **out)
{
	const char *url, *secret = NULL, *file = NULL;
	char *buf = NULL;
	size_t i, len;
	json_error_t jerr;
	json_t *h;
	int r;

	*out = json_array();
	if (hooks == NULL)
		return 0;
	if (!json_is_array(hooks) || json_array_size(hooks) > 16)
		return apply_fail(a, "project '%s': webhooks must be a list of "
		    "at most 16", project);
	json_array_foreach(hooks, i, h) {
		secret = file = NULL;
		if (json_unpack_ex(h, &jerr, JSON_STRICT, "{s:s, s?:s, s?:s}",
		    "url", &url, "secret", &secret, "secretFile", &file) != 0)
			return apply_fail(a, "project '%s': webhooks: %s",
			    project, jerr.text);
		if (secret != NULL && file != NULL)
			return apply_fail(a, "project '%s': webhook %s: give "
			    "secret or secretFile, not both", project, url);
		if (secret == NULL && file == NULL &&
		    (secret = apply_kept_secret(a, project, url)) == NULL)
			return apply_fail(a, "project '%s': webhook %s: give its "
			    "secret or secretFile (exports leave secrets out; "
			    "a webhook already here keeps its own)", project,
			    url);
		if (file != NULL) {
			if ((r = apply_read_file(a, file, &buf, &len)) != 0)
				return r;
			while (len > 0 && (buf[len - 1] == '\n' ||
			    buf[len - 1] == '\r'))
				buf[--len] = '\0';
			secret = buf;
		}
		if (!notify_valid_webhook(url, secret)) {
			free(buf);
			return apply_fail(a, "project '%s': webhook %s: the URL "
			    "must be https:// and the secret 16-256 visible "
			    "ASCII characters (no spaces or control "
			    "characters)", project, url);
		}
		json_array_append_new(*out, json_pack("{s:s, s:s}", "url", url,
		    "secret", secret));
		if (a->kept != NULL) {
			OPENSSL_cleanse(a->kept, strlen(a->kept));
			free(a->kept);
			a->kept = NULL;
		}
		if (buf != NULL) {
			OPENSSL_cleanse(buf, len);
			free(buf);
			buf = NULL;
		}
	}
	return 0;
}

static int
apply_known_principal(struct catalog_apply *a, const char *name)
{
	json_t *rec = NULL;

	if (json_object_get(a->doc_idents, name) != NULL ||
	    json_object_get(a->doc_users, name) != NULL)
		return 1;
	if (store_get_json(a->t, STORE_USERS, name, &rec) == 0 ||
	    store_get_json(a->t, STORE_IDENTITIES, name, &rec) == 0) {
		json_decref(rec);
		return 1;
	}
	return 0;
}

static int
apply_string_list(struct catalog_apply *a, const char *what, json_t *list)
{
	json_t *e;
	size_t i;

	if (list == NULL)
		return 0;
	if (!json_is_array(list) || json_array_size(list) > 256)
		return apply_fail(a, "%s: must be a list of at most 256 names",
		    what);
	json_array_foreach(list, i, e)
		if (!json_is_string(e) ||
		    !catalog_valid_name(json_string_value(e)))
			return apply_fail(a, "%s: entry %zu is not a valid "
			    "name", what, i);
	json_array_foreach(list, i, e)
		if (!apply_known_principal(a, json_string_value(e)))
			return apply_fail(a, "%s: '%s' is neither a user nor a "
			    "CI identity", what, json_string_value(e));
	return 0;
}

/* Approvers are users: people, or the service account of a release
 * management system that approves through the API with a bearer token.
 * A CI identity is a build system's certificate: it submits builds and
 * must never be the one to approve them. */
static int
apply_approvers(struct catalog_apply *a, const char *what, json_t *list)
{
	const char *name;
	json_t *e, *rec = NULL;
	size_t i;
	int r;

	json_array_foreach(list, i, e) {
		name = json_string_value(e);
		if (json_object_get(a->doc_users, name) != NULL)
			continue;
		if ((r = store_get_json(a->t, STORE_USERS, name, &rec)) == 0) {
			json_decref(rec);
			rec = NULL;
			continue;
		}
		if (r != SIGNET_ERR_NOT_FOUND)
			return r;
		return apply_fail(a, "%s: approver '%s' is a CI identity; "
		    "approvers must be users (a person, or a release "
		    "management system's service account that approves with "
		    "a bearer token), never a build system's certificate. "
		    "Name a user in approvers, and the identity in submitters",
		    what, name);
	}
	return 0;
}

struct apply_bs_owner {
	const char *identity;
	const char *self;
	char owner[CATALOG_MAX_NAME + 1];
};

static int
apply_bs_owner_cb(const void *k, size_t klen, const void *v, size_t vlen,
    void *arg)
{
	struct apply_bs_owner *o = arg;
	json_t *bs = json_loadb(v, vlen, 0, NULL), *e;
	size_t i;
	int found = 0;

	if (bs == NULL)
		return SIGNET_ERR_STORE;
	if (klen != strlen(o->self) || memcmp(k, o->self, klen) != 0)
		json_array_foreach(json_object_get(bs, "identities"), i, e)
			if (json_is_string(e) && strcmp(json_string_value(e),
			    o->identity) == 0) {
				snprintf(o->owner, sizeof(o->owner), "%.*s",
				    (int)klen, (const char *)k);
				found = 1;
			}
	json_decref(bs);
	return found;
}

/* A trusted build system (docs/origin.md): the CI identities whose
 * client certificates stand for it and, optionally, the OIDC issuer
 * whose ID tokens vouch for the origin data it sends. */
int
catalog_apply_build_system(struct catalog_apply *a, const char *project,
    json_t *b)
{
	const char *name, *preset = "generic", *issuer = NULL, *aud = NULL,
	    *url = NULL, *prefix = NULL, *id, *other;
	json_t *ids = NULL, *jwks = NULL, *claims = NULL, *rec = NULL, *e,
	    *idrec = NULL;
	struct apply_bs_owner o;
	json_error_t jerr;
	char err[400];
	size_t i;
	int r;

	(void)project;
	if (json_unpack_ex(b, &jerr, JSON_STRICT,
	    "{s:s, s:o, s?:s, s?:s, s?:s, s?:o, s?:s, s?:o, s?:s}",
	    "name", &name, "identities", &ids, "preset", &preset,
	    "issuer", &issuer, "audience", &aud, "jwks", &jwks,
	    "jwksUrl", &url, "claims", &claims,
	    "repositoryUrlPrefix", &prefix) != 0)
		return apply_fail(a, "buildSystems: %s", jerr.text);
	if (!catalog_valid_name(name))
		return apply_fail(a, "build system '%s': name must be 1-64 "
		    "letters, digits, '-', '_', '.', '@'", name);
	if (!json_is_array(ids) || json_array_size(ids) == 0 ||
	    json_array_size(ids) > SIGNET_MAX_BUILD_SYSTEM_IDENTITIES)
		return apply_fail(a, "build system '%s': identities must list "
		    "1-%d CI identities (their client certificates stand for "
		    "the build system)", name,
		    SIGNET_MAX_BUILD_SYSTEM_IDENTITIES);
	json_array_foreach(ids, i, e) {
		if (!json_is_string(e) ||
		    !catalog_valid_name(json_string_value(e)))
			return apply_fail(a, "build system '%s': identities "
			    "entry %zu is not a valid name", name, i);
		id = json_string_value(e);
		if (json_object_get(a->doc_idents, id) == NULL) {
			if (store_get_json(a->t, STORE_IDENTITIES, id,
			    &idrec) != 0)
				return apply_fail(a, "build system '%s': '%s' is "
				    "not a CI identity; add it under identities "
				    "first", name, id);
			json_decref(idrec);
			idrec = NULL;
		}
		/* a client certificate stands for one build system: whose
		 * issuer and claims apply must never be a guess */
		other = json_string_value(json_object_get(a->doc_bs, id));
		if (other != NULL && strcmp(other, name) != 0)
			return apply_fail(a, "build system '%s': identity '%s' "
			    "already belongs to build system '%s'", name, id,
			    other);
		memset(&o, 0, sizeof(o));
		o.identity = id;
		o.self = name;
		if ((r = store_walk(a->t, STORE_BUILD_SYSTEMS, NULL, 0, NULL, 0,
		    0, apply_bs_owner_cb, &o)) != 0)
			return r;
		if (o.owner[0] != '\0')
			return apply_fail(a, "build system '%s': identity '%s' "
			    "already belongs to build system '%s'; take it out "
			    "there first", name, id, o.owner);
	}
	rec = json_pack("{s:s, s:O, s:s}", "name", name, "identities", ids,
	    "preset", preset);
	if (rec == NULL)
		return SIGNET_ERR_NOMEM;
	if (issuer != NULL)
		json_object_set_new(rec, "issuer", json_string(issuer));
	if (aud != NULL)
		json_object_set_new(rec, "audience", json_string(aud));
	if (jwks != NULL)
		json_object_set(rec, "jwks", jwks);
	if (url != NULL)
		json_object_set_new(rec, "jwksUrl", json_string(url));
	if (claims != NULL)
		json_object_set(rec, "claims", claims);
	if (prefix != NULL)
		json_object_set_new(rec, "repositoryUrlPrefix",
		    json_string(prefix));
	if ((r = origin_check_build_system(rec, err, sizeof(err))) != 0) {
		if (r != SIGNET_ERR_NOMEM)
			r = apply_fail(a, "build system '%s': %s", name, err);
		goto out;
	}
	json_array_foreach(ids, i, e)
		json_object_set_new(a->doc_bs, json_string_value(e),
		    json_string(name));
	r = apply_put(a, STORE_BUILD_SYSTEMS, "build-system", name, rec);
out:
	json_decref(rec);
	return r;
}

/* A policy that names no artifact configurations allows every format of
 * the registry. */
static json_t *
apply_all_formats(void)
{
	json_t *all = json_array();
	size_t i;

	for (i = 0; all != NULL && i < format_count(); i++)
		if (!format_digest_only(format_at(i)) && json_array_append_new(all,
		    json_string(format_at(i)->slug)) != 0) {
			json_decref(all);
			return NULL;
		}
	return all;
}

/* `timestamp: url`: the RFC 3161 server's address and the CA its tokens
 * must chain to, given inline (a document names no files on the
 * appliance, like chainPem), and for https the CA of its TLS certificate
 * when the system's store does not hold it. The CA is not a catalog certificate: those
 * are chains of this token's keys, and an external TSA's key is not. */
static int
apply_tsa_url(struct catalog_apply *a, const char *what, const char *tstamp,
    const char *url, const char *ca, const char *tls)
{
	STACK_OF(X509) *chain = NULL;
	size_t i, n;

	if (tstamp == NULL || strcmp(tstamp, "url") != 0) {
		if (url != NULL || ca != NULL || tls != NULL)
			return apply_fail(a, "%s: timestampUrl, timestampCaPem "
			    "and timestampTlsCaPem go with timestamp \"url\"",
			    what);
		return 0;
	}
	if (url == NULL || ca == NULL)
		return apply_fail(a, "%s: timestamp \"url\" needs timestampUrl "
		    "and timestampCaPem (the PEM certificates of the TSA's "
		    "CA, inline)", what);
	n = strlen(url);
	if (n == 0 || n > SIGNET_MAX_TSA_URL ||
	    (strncasecmp(url, "https://", 8) != 0 &&
	    strncasecmp(url, "http://", 7) != 0))
		return apply_fail(a, "%s: timestampUrl must be an http:// or "
		    "https:// URL of at most %d characters", what,
		    SIGNET_MAX_TSA_URL);
	for (i = 0; i < n; i++)
		if ((unsigned char)url[i] <= ' ' || url[i] == 0x7f)
			return apply_fail(a, "%s: timestampUrl must not "
			    "contain spaces or control characters", what);
	if (strlen(ca) > SIGNET_MAX_TSA_CA_PEM ||
	    pki_chain_from_pem(ca, strlen(ca), &chain) != 0)
		return apply_fail(a, "%s: timestampCaPem is not a list of PEM "
		    "certificates (at most %d, %d KiB)", what, SIGNET_MAX_CHAIN,
		    SIGNET_MAX_TSA_CA_PEM / 1024);
	sk_X509_pop_free(chain, X509_free);
	chain = NULL;
	/* https: the server's own CA, when it is not in the system's store */
	if (tls != NULL && (strlen(tls) > SIGNET_MAX_TSA_CA_PEM ||
	    strncasecmp(url, "https://", 8) != 0 ||
	    pki_chain_from_pem(tls, strlen(tls), &chain) != 0))
		return apply_fail(a, "%s: timestampTlsCaPem goes with an "
		    "https:// timestampUrl and is a list of PEM certificates",
		    what);
	sk_X509_pop_free(chain, X509_free);
	return 0;
}

int
catalog_apply_policy(struct catalog_apply *a, const char *project,
    json_t *p)
{
	const char *slug, *name, *cert, *purpose = NULL, *cpurpose = NULL;
	const char *digest = NULL, *mode = NULL, *tstamp = NULL;
	const char *tsurl = NULL, *tsca = NULL, *tstls = NULL;
	json_int_t approvals = 0;
	json_t *subs = NULL, *apprs = NULL, *confs = NULL, *rec = NULL,
	    *crec = NULL, *e, *branches = NULL;
	json_error_t jerr;
	char key[2 * SIGNET_MAX_SLUG + 2], what[160], pbuf[16], err[300];
	size_t i;
	int r, verified = 0, hash = 0;

	if (json_unpack_ex(p, &jerr, JSON_STRICT,
	    "{s:s, s:s, s:s, s?:s, s?:I, s?:o, s?:o, s?:o, s?:b, s?:o, s?:s,"
	    " s?:s, s?:s, s?:b, s?:s, s?:s, s?:s}",
	    "slug", &slug, "name", &name, "certificate", &cert,
	    "purpose", &purpose, "requiredApprovals", &approvals,
	    "submitters", &subs, "approvers", &apprs,
	    "artifactConfigurations", &confs,
	    "requireVerifiedOrigin", &verified,
	    "allowedBranches", &branches, "digestAlgorithm", &digest,
	    "signatureMode", &mode, "timestamp", &tstamp,
	    "allowHashSigning", &hash, "timestampUrl", &tsurl,
	    "timestampCaPem", &tsca, "timestampTlsCaPem", &tstls) != 0)
		return apply_fail(a, "project '%s': signingPolicies: %s",
		    project, jerr.text);
	if (!catalog_valid_slug(slug))
		return apply_fail(a, "project '%s': policy slug '%s' must be "
		    "lowercase letters, digits and '-'", project, slug);
	snprintf(what, sizeof(what), "policy '%s/%s'", project, slug);
	if (approvals < 0 || approvals > 16)
		return apply_fail(a, "%s: requiredApprovals must be 0 to 16",
		    what);
	if (tstamp != NULL && strcmp(tstamp, "builtin") != 0 &&
	    strcmp(tstamp, "none") != 0 && strcmp(tstamp, "url") != 0)
		return apply_fail(a, "%s: timestamp must be \"builtin\" (the "
		    "appliance's TSA, [tsa]), \"url\" (an RFC 3161 server: "
		    "timestampUrl, timestampCaPem) or \"none\"", what);
	if ((r = apply_tsa_url(a, what, tstamp, tsurl, tsca, tstls)) != 0)
		return r;
	if ((r = apply_string_list(a, what, subs)) != 0 ||
	    (r = apply_string_list(a, what, apprs)) != 0 ||
	    (r = apply_approvers(a, what, apprs)) != 0)
		return r;
	if (origin_check_branch_patterns(branches, err, sizeof(err)) != 0)
		return apply_fail(a, "%s: %s", what, err);
	/* Authenticode: the digest its signatures use, and whether a new
	 * signature replaces the file's or is nested beside it; a policy
	 * that names no mode lets each request choose (replace unless it
	 * asks for append) */
	if (digest != NULL && ac_md_by_name(digest) == NULL)
		return apply_fail(a, "%s: digestAlgorithm must be \"sha256\", "
		    "\"sha384\" or \"sha512\"", what);
	if (mode != NULL && strcmp(mode, "replace") != 0 &&
	    strcmp(mode, "append") != 0)
		return apply_fail(a, "%s: signatureMode must be \"replace\" or "
		    "\"append\"", what);
	if (confs != NULL) {
		if (!json_is_array(confs) || json_array_size(confs) == 0)
			return apply_fail(a, "%s: artifactConfigurations must "
			    "be a non-empty list", what);
		json_array_foreach(confs, i, e) {
			char known[256];

			const struct format *f = json_is_string(e) ?
			    format_find(json_string_value(e)) : NULL;

			if (format_digest_only(f))
				return apply_fail(a, "%s: '%s' is not listed in "
				    "artifactConfigurations; a policy signs "
				    "digests only with allowHashSigning: true",
				    what, f->slug);
			if (f != NULL)
				continue;
			format_slugs(known, sizeof(known));
			return apply_fail(a, "%s: unknown artifact "
			    "configuration (supported: %s)", what, known);
		}
	}
	if (json_object_get(a->doc_certs, cert) != NULL) {
		cpurpose = json_string_value(json_object_get(a->doc_certs,
		    cert));
	} else {
		r = catalog_get_certificate(a->t, cert, &crec);
		if (r != 0)
			return apply_fail(a, "%s: certificate '%s' is neither "
			    "in the document nor in the appliance", what, cert);
		cpurpose = json_string_value(json_object_get(crec, "purpose"));
	}
	snprintf(key, sizeof(key), "%s/%s", project, slug);
	if (purpose == NULL) {
		/* unmarked: keeps its mark, or takes the certificate's */
		json_t *old = NULL;

		if (store_get_json(a->t, STORE_POLICIES, key, &old) == 0)
			snprintf(pbuf, sizeof(pbuf), "%s", json_string_value(
			    json_object_get(old, "purpose")) ?
			    json_string_value(json_object_get(old, "purpose")) :
			    cpurpose ? cpurpose : "release");
		else
			snprintf(pbuf, sizeof(pbuf), "%s",
			    cpurpose ? cpurpose : "release");
		json_decref(old);
		purpose = pbuf;
	}
	if (strcmp(purpose, "test") != 0 && strcmp(purpose, "release") != 0) {
		json_decref(crec);
		return apply_fail(a, "%s: purpose must be \"test\" or "
		    "\"release\"", what);
	}
	if (cpurpose != NULL && strcmp(cpurpose, purpose) != 0) {
		r = apply_fail(a, "%s is a %s-signing policy and certificate "
		    "'%s' is a %s certificate; use a %s certificate", what,
		    purpose, cert, cpurpose, purpose);
		json_decref(crec);
		return r;
	}
	json_decref(crec);
	/* "o" steals: hand over a reference of our own */
	rec = json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:o, s:o, s:o}",
	    "project", project, "slug", slug, "name", name,
	    "certificate", cert, "purpose", purpose,
	    "requiredApprovals", approvals,
	    "submitters", subs ? json_incref(subs) : json_array(),
	    "approvers", apprs ? json_incref(apprs) : json_array(),
	    "artifactConfigurations", confs ? json_incref(confs) :
	    apply_all_formats());
	if (rec == NULL)
		return SIGNET_ERR_NOMEM;
	/* origin rules (docs/origin.md) are recorded when set, so that
	 * policies without them keep the shape they always had */
	if (verified)
		json_object_set_new(rec, "requireVerifiedOrigin", json_true());
	if (json_array_size(branches) > 0)
		json_object_set(rec, "allowedBranches", branches);
	if (digest != NULL)
		json_object_set_new(rec, "digestAlgorithm", json_string(digest));
	if (mode != NULL)
		json_object_set_new(rec, "signatureMode", json_string(mode));
	/* the same for time-stamping (README "Time stamping") */
	if (tstamp != NULL && strcmp(tstamp, "builtin") == 0)
		json_object_set_new(rec, "timestamp", json_string("builtin"));
	if (tstamp != NULL && strcmp(tstamp, "url") == 0) {
		json_object_set_new(rec, "timestamp", json_string("url"));
		json_object_set_new(rec, "timestampUrl", json_string(tsurl));
		json_object_set_new(rec, "timestampCaPem", json_string(tsca));
		if (tstls != NULL)
			json_object_set_new(rec, "timestampTlsCaPem",
			    json_string(tstls));
	}
	/* off unless asked for: the appliance then signs digests of files
	 * it never sees (docs/architecture.md, hash signing) */
	if (hash)
		json_object_set_new(rec, "allowHashSigning", json_true());
	r = apply_put(a, STORE_POLICIES, "policy", key, rec);
	json_decref(rec);
	return r;
}

static int
apply_ascii_url(const char *u)
{
	for (; *u != '\0'; u++)
		if ((unsigned char)*u <= 0x20 || (unsigned char)*u >= 0x7f ||
		    *u == '"' || *u == '<' || *u == '>')
			return 0;
	return 1;
}

int
catalog_apply_project(struct catalog_apply *a, const char *project,
    json_t *p)
{
	const char *slug, *name, *url = NULL;
	json_t *urls = NULL, *pols = NULL, *rec, *e, *hooks = NULL, *hk = NULL;
	json_error_t jerr;
	char err[300];
	size_t i;
	int r;

	(void)project;
	if (json_unpack_ex(p, &jerr, JSON_STRICT, "{s:s, s:s, s?:o, s?:o, s?:o,"
	    " s?:s}", "slug", &slug, "name", &name, "repositoryUrls", &urls,
	    "signingPolicies", &pols, "webhooks", &hooks, "url", &url) != 0)
		return apply_fail(a, "projects: %s", jerr.text);
	if (!catalog_valid_slug(slug))
		return apply_fail(a, "project slug '%s' must be lowercase "
		    "letters, digits and '-' (at most %d)", slug,
		    SIGNET_MAX_SLUG);
	if (urls != NULL && (!json_is_array(urls) ||
	    json_array_size(urls) > 64))
		return apply_fail(a, "project '%s': repositoryUrls must be a "
		    "list of at most 64 URLs", slug);
	json_array_foreach(urls, i, e) {
		if (!json_is_string(e) || json_string_length(e) > 2048)
			return apply_fail(a, "project '%s': repositoryUrls "
			    "entry %zu is not a URL", slug, i);
		if (origin_check_repository_url(json_string_value(e), err,
		    sizeof(err)) != 0)
			return apply_fail(a, "project '%s': repositoryUrls: %s",
			    slug, err);
	}
	/* the project's home page: an Authenticode signature's moreInfo
	 * (SpcSpOpusInfo), shown by Windows; an IA5String, so ASCII */
	if (url != NULL && (strlen(url) > SIGNET_MAX_PROJECT_URL ||
	    (strncmp(url, "https://", 8) != 0 &&
	    strncmp(url, "http://", 7) != 0) || !apply_ascii_url(url)))
		return apply_fail(a, "project '%s': url must be an http(s) URL "
		    "of at most %d printable ASCII characters", slug,
		    SIGNET_MAX_PROJECT_URL);
	if (pols != NULL && !json_is_array(pols))
		return apply_fail(a, "project '%s': signingPolicies must be a "
		    "list", slug);
	if ((r = apply_webhooks(a, slug, hooks, &hk)) != 0) {
		json_decref(hk);
		return r;
	}
	rec = json_pack("{s:s, s:s, s:o, s:o}", "slug", slug, "name", name,
	    "repositoryUrls", urls ? json_incref(urls) : json_array(),
	    "webhooks", hk);
	if (rec == NULL)
		return SIGNET_ERR_NOMEM;
	if (url != NULL)
		json_object_set_new(rec, "url", json_string(url));
	r = apply_put(a, STORE_PROJECTS, "project", slug, rec);
	json_decref(rec);
	if (r != 0)
		return r;
	json_array_foreach(pols, i, e)
		if ((r = catalog_apply_policy(a, slug, e)) != 0)
			return r;
	return 0;
}

/* Sets up a (dry or real) apply: the caller's report and error buffer,
 * the names the document defines, and the write transaction. */
static int
apply_open(struct catalog_apply *a, struct store *s, struct kh *kh,
    const char *basedir, const char *actor_type, const char *actor,
    FILE *report, char *errbuf, size_t errlen)
{
	memset(a, 0, sizeof(*a));
	a->kh = kh;
	a->basedir = basedir;
	a->report = report;
	a->errbuf = errbuf;
	a->errlen = errlen;
	a->actor_type = actor_type;
	a->actor = actor;
	errbuf[0] = '\0';
	if ((a->doc_certs = json_object()) == NULL ||
	    (a->doc_idents = json_object()) == NULL ||
	    (a->doc_users = json_object()) == NULL ||
	    (a->doc_bs = json_object()) == NULL)
		return SIGNET_ERR_NOMEM;
	return store_txn_begin(s, 1, &a->t);
}

/* Ends an apply that was not committed, and frees what apply_open made. */
static void
apply_close(struct catalog_apply *a)
{
	store_txn_abort(&a->t);
	json_decref(a->doc_certs);
	json_decref(a->doc_idents);
	json_decref(a->doc_users);
	json_decref(a->doc_bs);
}

/* The document is an object of the kinds' lists (doc_key), in the
 * table's order; the messages are the ones a strict json_unpack gives. */
static int
apply_document(struct catalog_apply *a, json_t *doc,
    json_t *lists[CATALOG_KIND_COUNT])
{
	const struct catalog_kind *k;
	char text[JSON_ERROR_TEXT_LENGTH], names[200];
	json_error_t jerr;
	const char *key;
	size_t i, c, n = 0, used = 0, nk = 0, left = 0;
	json_t *v;
	int w;

	if (!json_is_object(doc)) {
		if (json_unpack_ex(doc, &jerr, 0, "{}") != 0)
			return apply_fail(a, "document: %s", jerr.text);
		return SIGNET_ERR_INVALID;
	}
	text[0] = names[0] = '\0';
	json_object_foreach(doc, key, v) {
		for (i = 0; i < CATALOG_KIND_COUNT; i++) {
			k = catalog_kind_at(i);
			if (k->doc_key != NULL && strcmp(k->doc_key, key) == 0)
				break;
		}
		if (i < CATALOG_KIND_COUNT)
			continue;
		w = snprintf(text + used, sizeof(text) - used, "%s%s",
		    left ? ", " : "", key);
		if (w > 0)
			used = used + (size_t)w < sizeof(text) ? used + (size_t)w :
			    sizeof(text) - 1;
		left++;
	}
	if (left > 0)
		return apply_fail(a, "document: %zu object item(s) left "
		    "unpacked: %s", left, text);
	for (i = 0; i < CATALOG_KIND_COUNT; i++)
		if (catalog_kind_at(i)->doc_key != NULL)
			nk++;
	for (i = 0, c = 0; i < CATALOG_KIND_COUNT; i++) {
		k = catalog_kind_at(i);
		lists[i] = NULL;
		if (k->doc_key == NULL)
			continue;
		w = snprintf(names + n, sizeof(names) - n, "%s%s", c == 0 ? "" :
		    c + 1 == nk ? " and " : ", ", k->doc_key);
		if (w > 0 && (size_t)w < sizeof(names) - n)
			n += (size_t)w;
		c++;
		lists[i] = json_object_get(doc, k->doc_key);
	}
	for (i = 0; i < CATALOG_KIND_COUNT; i++)
		if (lists[i] != NULL && !json_is_array(lists[i]))
			return apply_fail(a, "document: %s must be lists", names);
	return 0;
}

int
catalog_apply(struct store *s, struct kh *kh, json_t *doc,
    const char *basedir, int dry_run, const char *actor_type,
    const char *actor, FILE *report, char *errbuf, size_t errlen)
{
	struct catalog_apply a;
	json_t *lists[CATALOG_KIND_COUNT], *e;
	size_t i, j;
	int r;

	if ((r = apply_open(&a, s, kh, basedir, actor_type, actor, report,
	    errbuf, errlen)) != 0 ||
	    (r = apply_document(&a, doc, lists)) != 0)
		goto out;
	for (i = 0; i < CATALOG_KIND_COUNT; i++)
		json_array_foreach(lists[i], j, e)
			if ((r = catalog_kind_at(i)->apply(&a, NULL, e)) != 0)
				goto out;
	if (dry_run || a.changes == 0) {
		store_txn_abort(&a.t);
	} else {
		r = store_txn_commit(&a.t);
		if (r != 0)
			goto out;
	}
	fprintf(report, "%d change%s%s\n", a.changes, a.changes == 1 ? "" : "s",
	    dry_run ? " (dry run, nothing written)" : "");
	r = 0;
out:
	apply_close(&a);
	return r;
}

/* --- one object at a time (the admin API) -------------------------- */

int
catalog_apply_one(struct store *s, struct kh *kh, const char *kind,
    const char *project, json_t *obj, int must_create, const char *actor_type,
    const char *actor, FILE *report, char *errbuf, size_t errlen)
{
	const struct catalog_kind *k = catalog_kind_find(kind);
	struct catalog_apply a;
	const char *name;
	int r;

	if (k == NULL || k->apply == NULL)
		return SIGNET_ERR_INTERNAL;
	if (!json_is_object(obj)) {
		snprintf(errbuf, errlen, "the body must be a JSON object");
		return SIGNET_ERR_INVALID;
	}
	if ((name = json_string_value(json_object_get(obj, k->key))) == NULL) {
		snprintf(errbuf, errlen, "%s: %s is required", kind, k->key);
		return SIGNET_ERR_INVALID;
	}
	/* a document over the network names no files (basedir NULL) */
	if ((r = apply_open(&a, s, kh, NULL, actor_type, actor, report, errbuf,
	    errlen)) != 0)
		goto out;
	if (must_create && catalog_exists(a.t, k, project, name)) {
		r = SIGNET_ERR_EXISTS;
		snprintf(errbuf, errlen, "%s '%s' already exists; change it with "
		    "PUT", kind, name);
		goto out;
	}
	if (k->per_project && (project == NULL ||
	    !catalog_exists(a.t, catalog_kind_at(k->parent), NULL, project))) {
		r = SIGNET_ERR_NOT_FOUND;
		snprintf(errbuf, errlen, "there is no %s '%.64s'",
		    catalog_kind_at(k->parent)->name, project ? project : "");
		goto out;
	}
	if ((r = k->apply(&a, project, obj)) != 0)
		goto out;
	r = store_txn_commit(&a.t);
out:
	apply_close(&a);
	return r;
}
