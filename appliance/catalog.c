#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/pem.h>

#include "catalog.h"
#include "khclient.h"
#include "log.h"
#include "notify.h"
#include "users.h"
#include "audit.h"
#include "pki.h"
#include "signet_limits.h"

int
catalog_valid_slug(const char *s)
{
	size_t i, n = strlen(s);

	if (n == 0 || n > SIGNET_MAX_SLUG || s[0] == '-')
		return 0;
	for (i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') ||
		    (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
			return 0;
	return 1;
}

static int
catalog_valid_name(const char *s)
{
	size_t i, n = strlen(s);

	if (n == 0 || n > CATALOG_MAX_NAME)
		return 0;
	for (i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') ||
		    (s[i] >= 'A' && s[i] <= 'Z') ||
		    (s[i] >= '0' && s[i] <= '9') ||
		    s[i] == '-' || s[i] == '_' || s[i] == '.' || s[i] == '@'))
			return 0;
	return 1;
}

static int
catalog_lookup(struct store_txn *t, const char *key, char *name)
{
	const void *v;
	size_t vlen;
	int r;

	if ((r = store_get(t, STORE_CERTMAP, key, strlen(key), &v, &vlen)) != 0)
		return r;
	if (vlen == 0 || vlen > CATALOG_MAX_NAME)
		return SIGNET_ERR_STORE;
	memcpy(name, v, vlen);
	name[vlen] = '\0';
	return 0;
}

static char *
catalog_dn_key(const char *issuer, const char *subject)
{
	char *k;

	if (asprintf(&k, "dn:%s\n%s", issuer, subject) < 0)
		return NULL;
	return k;
}

int
catalog_identity_for_cert(struct store_txn *t, X509 *cert,
    char name[CATALOG_MAX_NAME + 1])
{
	char fp[65], key[80];
	char *subject = NULL, *issuer = NULL, *dn = NULL;
	int r;

	if ((r = pki_cert_sha256(cert, fp)) != 0)
		return r;
	snprintf(key, sizeof(key), "fp:%s", fp);
	if ((r = catalog_lookup(t, key, name)) != SIGNET_ERR_NOT_FOUND)
		return r;
	if ((subject = pki_name_text(X509_get_subject_name(cert))) == NULL ||
	    (issuer = pki_name_text(X509_get_issuer_name(cert))) == NULL ||
	    (dn = catalog_dn_key(issuer, subject)) == NULL) {
		r = SIGNET_ERR_NOMEM;
		goto out;
	}
	r = catalog_lookup(t, dn, name);
out:
	free(subject);
	free(issuer);
	free(dn);
	return r;
}

int
catalog_get_project(struct store_txn *t, const char *slug, json_t **out)
{
	*out = NULL;
	if (!catalog_valid_slug(slug))
		return SIGNET_ERR_NOT_FOUND;
	return store_get_json(t, STORE_PROJECTS, slug, out);
}

int
catalog_get_policy(struct store_txn *t, const char *project,
    const char *slug, json_t **out)
{
	char key[2 * SIGNET_MAX_SLUG + 2];

	*out = NULL;
	if (!catalog_valid_slug(project) || !catalog_valid_slug(slug))
		return SIGNET_ERR_NOT_FOUND;
	snprintf(key, sizeof(key), "%s/%s", project, slug);
	return store_get_json(t, STORE_POLICIES, key, out);
}

int
catalog_get_certificate(struct store_txn *t, const char *name, json_t **out)
{
	*out = NULL;
	if (!catalog_valid_name(name))
		return SIGNET_ERR_NOT_FOUND;
	return store_get_json(t, STORE_CERTIFICATES, name, out);
}

int
catalog_policy_lists(const json_t *policy, const char *list,
    const char *identity)
{
	const json_t *a = json_object_get(policy, list), *e;
	size_t i;

	json_array_foreach(a, i, e)
		if (json_is_string(e) && strcmp(json_string_value(e),
		    identity) == 0)
			return 1;
	return 0;
}

struct catalog_read {
	const char *identity;
	int found;
};

static int
catalog_read_cb(const void *k, size_t klen, const void *v, size_t vlen,
    void *arg)
{
	struct catalog_read *cr = arg;
	json_t *p;

	(void)k;
	(void)klen;
	if ((p = json_loadb(v, vlen, 0, NULL)) == NULL)
		return 0;
	if (catalog_policy_lists(p, "submitters", cr->identity) ||
	    catalog_policy_lists(p, "approvers", cr->identity))
		cr->found = 1;
	json_decref(p);
	return cr->found;
}

int
catalog_may_read_project(struct store_txn *t, const char *project,
    const char *identity)
{
	struct catalog_read cr = { identity, 0 };
	char prefix[SIGNET_MAX_SLUG + 2];

	if (!catalog_valid_slug(project))
		return 0;
	snprintf(prefix, sizeof(prefix), "%s/", project);
	if (store_walk(t, STORE_POLICIES, prefix, strlen(prefix), NULL, 0, 0,
	    catalog_read_cb, &cr) != 0)
		return 0;
	return cr.found;
}

/* --- apply --------------------------------------------------------- */

struct apply {
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
	const char *actor_type;
	const char *actor;
};

static int
apply_fail(struct apply *a, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(a->errbuf, a->errlen, fmt, ap);
	va_end(ap);
	return SIGNET_ERR_INVALID;
}

/* Writes rec under key unless an equal record is already there. */
static int
apply_put(struct apply *a, enum store_db db, const char *what,
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
apply_read_file(struct apply *a, const char *rel, char **out, size_t *len)
{
	char *path = NULL, *buf = NULL;
	int fd = -1, r = SIGNET_ERR_IO;
	struct stat st;
	ssize_t n;

	*out = NULL;
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
	if (st.st_size > 1024 * 1024) {
		r = apply_fail(a, "%s: larger than 1 MiB", path);
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

static int
apply_certificate(struct apply *a, json_t *c)
{
	const char *name, *key, *purpose, *file = NULL, *inline_pem = NULL;
	char *pem = NULL, *norm = NULL, *subject = NULL, fp[65], na[32];
	size_t len = 0;
	json_error_t jerr;
	STACK_OF(X509) *chain = NULL;
	X509 *leaf;
	EVP_PKEY *pub = NULL;
	struct kh_key_info ki;
	json_t *rec = NULL;
	int r;

	if (json_unpack_ex(c, &jerr, JSON_STRICT, "{s:s, s:s, s:s, s?:s, s?:s}",
	    "name", &name, "key", &key, "purpose", &purpose,
	    "chainFile", &file, "chainPem", &inline_pem) != 0)
		return apply_fail(a, "certificates: %s", jerr.text);
	if (!catalog_valid_name(name))
		return apply_fail(a, "certificate '%s': name must be 1-64 "
		    "letters, digits, '-', '_', '.'", name);
	if (strcmp(purpose, "test") != 0 && strcmp(purpose, "release") != 0)
		return apply_fail(a, "certificate '%s': purpose must be "
		    "\"test\" or \"release\"", name);
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
	json_object_set_new(a->doc_certs, name, json_true());
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

/* Drops the certmap entries that point at an identity. */
static int
apply_unmap(struct apply *a, json_t *old)
{
	const char *fp = NULL, *subject = NULL, *issuer = NULL;
	char key[80], *dn;
	int r = 0;

	if (json_unpack(old, "{s?:s, s?:s, s?:s}", "sha256Fingerprint", &fp,
	    "subject", &subject, "issuer", &issuer) != 0)
		return 0;
	if (fp != NULL) {
		snprintf(key, sizeof(key), "fp:%s", fp);
		r = store_del(a->t, STORE_CERTMAP, key, strlen(key));
	}
	if ((r == 0 || r == SIGNET_ERR_NOT_FOUND) && subject && issuer) {
		if ((dn = catalog_dn_key(issuer, subject)) == NULL)
			return SIGNET_ERR_NOMEM;
		r = store_del(a->t, STORE_CERTMAP, dn, strlen(dn));
		free(dn);
	}
	return r == SIGNET_ERR_NOT_FOUND ? 0 : r;
}

static int
apply_identity(struct apply *a, json_t *id)
{
	const char *name, *type, *subject = NULL, *issuer = NULL, *fp = NULL;
	char key[80], fpl[65], *dn = NULL, owner[CATALOG_MAX_NAME + 1];
	json_error_t jerr;
	json_t *rec = NULL, *old = NULL;
	size_t i;
	int r;

	if (json_unpack_ex(id, &jerr, JSON_STRICT,
	    "{s:s, s:s, s?:s, s?:s, s?:s}", "name", &name, "type", &type,
	    "subject", &subject, "issuer", &issuer,
	    "sha256Fingerprint", &fp) != 0)
		return apply_fail(a, "identities: %s", jerr.text);
	if (!catalog_valid_name(name))
		return apply_fail(a, "identity '%s': name must be 1-64 letters, "
		    "digits, '-', '_', '.', '@'", name);
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
	r = store_get_json(a->t, STORE_IDENTITIES, name, &old);
	if (r == 0)
		r = apply_unmap(a, old);
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

static int
apply_user(struct apply *a, json_t *u)
{
	const char *name, *email = NULL;
	json_t *roles = NULL, *old = NULL, *rec = NULL, *e, *cmp;
	json_error_t jerr;
	size_t i;
	int r;

	if (json_unpack_ex(u, &jerr, JSON_STRICT, "{s:s, s?:s, s?:o}",
	    "name", &name, "email", &email, "roles", &roles) != 0)
		return apply_fail(a, "users: %s", jerr.text);
	if (!catalog_valid_name(name))
		return apply_fail(a, "user '%s': name must be 1-64 letters, "
		    "digits, '-', '_', '.', '@'", name);
	if (json_object_get(a->doc_idents, name) != NULL)
		return apply_fail(a, "user '%s': a CI identity has that name; "
		    "names of people and build systems must differ", name);
	if (email != NULL && !notify_valid_address(email))
		return apply_fail(a, "user '%s': '%s' is not an e-mail address",
		    name, email);
	if (roles != NULL && !json_is_array(roles))
		return apply_fail(a, "user '%s': roles must be a list", name);
	json_array_foreach(roles, i, e)
		if (!json_is_string(e) || !users_valid_role(json_string_value(e)))
			return apply_fail(a, "user '%s': unknown role (roles: "
			    "administrator, security-officer, auditor)", name);
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
	    "user.updated" : "user.created", name, NULL)) != 0)
		goto out;
	r = store_put_json(a->t, STORE_USERS, name, rec);
out:
	json_decref(rec);
	json_decref(old);
	return r;
}

static int
apply_webhooks(struct apply *a, const char *project, json_t *hooks,
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
		if ((secret == NULL) == (file == NULL))
			return apply_fail(a, "project '%s': webhook %s: give "
			    "exactly one of secret or secretFile", project, url);
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
			    "must be https:// and the secret 16-256 printable "
			    "characters", project, url);
		}
		json_array_append_new(*out, json_pack("{s:s, s:s}", "url", url,
		    "secret", secret));
		if (buf != NULL) {
			OPENSSL_cleanse(buf, len);
			free(buf);
			buf = NULL;
		}
	}
	return 0;
}

static int
apply_known_principal(struct apply *a, const char *name)
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
apply_string_list(struct apply *a, const char *what, json_t *list)
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

static int
apply_policy(struct apply *a, const char *project, json_t *p)
{
	const char *slug, *name, *cert;
	json_int_t approvals = 0;
	json_t *subs = NULL, *apprs = NULL, *confs = NULL, *rec = NULL,
	    *crec = NULL, *e;
	json_error_t jerr;
	char key[2 * SIGNET_MAX_SLUG + 2], what[160];
	size_t i;
	int r;

	if (json_unpack_ex(p, &jerr, JSON_STRICT,
	    "{s:s, s:s, s:s, s?:I, s?:o, s?:o, s?:o}", "slug", &slug,
	    "name", &name, "certificate", &cert,
	    "requiredApprovals", &approvals, "submitters", &subs,
	    "approvers", &apprs, "artifactConfigurations", &confs) != 0)
		return apply_fail(a, "project '%s': signingPolicies: %s",
		    project, jerr.text);
	if (!catalog_valid_slug(slug))
		return apply_fail(a, "project '%s': policy slug '%s' must be "
		    "lowercase letters, digits and '-'", project, slug);
	snprintf(what, sizeof(what), "policy '%s/%s'", project, slug);
	if (approvals < 0 || approvals > 16)
		return apply_fail(a, "%s: requiredApprovals must be 0 to 16",
		    what);
	if ((r = apply_string_list(a, what, subs)) != 0 ||
	    (r = apply_string_list(a, what, apprs)) != 0)
		return r;
	if (confs != NULL) {
		if (!json_is_array(confs) || json_array_size(confs) == 0)
			return apply_fail(a, "%s: artifactConfigurations must "
			    "be a non-empty list", what);
		json_array_foreach(confs, i, e)
			if (!json_is_string(e) || strcmp(json_string_value(e),
			    "detached-cms") != 0)
				return apply_fail(a, "%s: unknown artifact "
				    "configuration (supported: detached-cms)",
				    what);
	}
	if (json_object_get(a->doc_certs, cert) == NULL) {
		r = catalog_get_certificate(a->t, cert, &crec);
		json_decref(crec);
		if (r != 0)
			return apply_fail(a, "%s: certificate '%s' is neither "
			    "in the document nor in the appliance", what, cert);
	}
	/* "o" steals: hand over a reference of our own */
	rec = json_pack("{s:s, s:s, s:s, s:s, s:I, s:o, s:o, s:o}",
	    "project", project, "slug", slug, "name", name,
	    "certificate", cert, "requiredApprovals", approvals,
	    "submitters", subs ? json_incref(subs) : json_array(),
	    "approvers", apprs ? json_incref(apprs) : json_array(),
	    "artifactConfigurations", confs ? json_incref(confs) :
	    json_pack("[s]", "detached-cms"));
	if (rec == NULL)
		return SIGNET_ERR_NOMEM;
	snprintf(key, sizeof(key), "%s/%s", project, slug);
	r = apply_put(a, STORE_POLICIES, "policy", key, rec);
	json_decref(rec);
	return r;
}

static int
apply_project(struct apply *a, json_t *p)
{
	const char *slug, *name;
	json_t *urls = NULL, *pols = NULL, *rec, *e, *hooks = NULL, *hk = NULL;
	json_error_t jerr;
	size_t i;
	int r;

	if (json_unpack_ex(p, &jerr, JSON_STRICT, "{s:s, s:s, s?:o, s?:o, s?:o}",
	    "slug", &slug, "name", &name, "repositoryUrls", &urls,
	    "signingPolicies", &pols, "webhooks", &hooks) != 0)
		return apply_fail(a, "projects: %s", jerr.text);
	if (!catalog_valid_slug(slug))
		return apply_fail(a, "project slug '%s' must be lowercase "
		    "letters, digits and '-' (at most %d)", slug,
		    SIGNET_MAX_SLUG);
	if (urls != NULL && (!json_is_array(urls) ||
	    json_array_size(urls) > 64))
		return apply_fail(a, "project '%s': repositoryUrls must be a "
		    "list of at most 64 URLs", slug);
	json_array_foreach(urls, i, e)
		if (!json_is_string(e) || json_string_length(e) > 2048)
			return apply_fail(a, "project '%s': repositoryUrls "
			    "entry %zu is not a URL", slug, i);
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
	r = apply_put(a, STORE_PROJECTS, "project", slug, rec);
	json_decref(rec);
	if (r != 0)
		return r;
	json_array_foreach(pols, i, e)
		if ((r = apply_policy(a, slug, e)) != 0)
			return r;
	return 0;
}

int
catalog_apply(struct store *s, struct kh *kh, json_t *doc,
    const char *basedir, int dry_run, const char *actor_type,
    const char *actor, FILE *report, char *errbuf, size_t errlen)
{
	struct apply a;
	json_t *certs = NULL, *idents = NULL, *projects = NULL, *users = NULL,
	    *e;
	json_error_t jerr;
	size_t i;
	int r;

	memset(&a, 0, sizeof(a));
	a.kh = kh;
	a.basedir = basedir;
	a.report = report;
	a.errbuf = errbuf;
	a.errlen = errlen;
	errbuf[0] = '\0';
	if (json_unpack_ex(doc, &jerr, JSON_STRICT, "{s?:o, s?:o, s?:o, s?:o}",
	    "certificates", &certs, "identities", &idents, "users", &users,
	    "projects", &projects) != 0)
		return apply_fail(&a, "document: %s", jerr.text);
	if ((certs && !json_is_array(certs)) ||
	    (idents && !json_is_array(idents)) ||
	    (projects && !json_is_array(projects)) ||
	    (users && !json_is_array(users)))
		return apply_fail(&a, "document: certificates, identities and "
		    "projects must be lists");
	a.actor_type = actor_type;
	a.actor = actor;
	if ((a.doc_certs = json_object()) == NULL ||
	    (a.doc_idents = json_object()) == NULL ||
	    (a.doc_users = json_object()) == NULL) {
		r = SIGNET_ERR_NOMEM;
		goto out;
	}
	if ((r = store_txn_begin(s, 1, &a.t)) != 0)
		goto out;
	json_array_foreach(certs, i, e)
		if ((r = apply_certificate(&a, e)) != 0)
			goto out;
	json_array_foreach(idents, i, e)
		if ((r = apply_identity(&a, e)) != 0)
			goto out;
	json_array_foreach(users, i, e)
		if ((r = apply_user(&a, e)) != 0)
			goto out;
	json_array_foreach(projects, i, e)
		if ((r = apply_project(&a, e)) != 0)
			goto out;
	if (dry_run || a.changes == 0) {
		store_txn_abort(a.t);
		a.t = NULL;
	} else {
		r = store_txn_commit(a.t);
		a.t = NULL;
		if (r != 0)
			goto out;
	}
	fprintf(report, "%d change%s%s\n", a.changes, a.changes == 1 ? "" : "s",
	    dry_run ? " (dry run, nothing written)" : "");
	r = 0;
out:
	store_txn_abort(a.t);
	json_decref(a.doc_certs);
	json_decref(a.doc_idents);
	json_decref(a.doc_users);
	return r;
}
