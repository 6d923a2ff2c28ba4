/* Projects, signing policies, identities and certificates: the lookups
 * the request core and the web layer make, the certificate map of CI
 * identities, and certificate expiry. Apply, delete and export are in
 * catalog_apply.c, catalog_delete.c and catalog_export.c. */
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

int
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

int
catalog_lookup(struct store_txn *t, const char *key,
    char name[CATALOG_MAX_NAME + 1])
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

char *
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

/* Drops the certmap entries that point at an identity. */
int
catalog_unmap(struct store_txn *t, json_t *old)
{
	const char *fp = NULL, *subject = NULL, *issuer = NULL;
	char key[80], *dn;
	int r = 0;

	if (json_unpack(old, "{s?:s, s?:s, s?:s}", "sha256Fingerprint", &fp,
	    "subject", &subject, "issuer", &issuer) != 0)
		return 0;
	if (fp != NULL) {
		snprintf(key, sizeof(key), "fp:%s", fp);
		r = store_del(t, STORE_CERTMAP, key, strlen(key));
	}
	if ((r == 0 || r == SIGNET_ERR_NOT_FOUND) && subject && issuer) {
		if ((dn = catalog_dn_key(issuer, subject)) == NULL)
			return SIGNET_ERR_NOMEM;
		r = store_del(t, STORE_CERTMAP, dn, strlen(dn));
		free(dn);
	}
	return r == SIGNET_ERR_NOT_FOUND ? 0 : r;
}

int
catalog_exists(struct store_txn *t, const struct catalog_kind *k,
    const char *project, const char *name)
{
	char key[CATALOG_MAX_KEY + 1];
	json_t *rec = NULL;
	int r;

	if (k == NULL || name == NULL ||
	    catalog_kind_key(k, project, name, key, sizeof(key)) != 0)
		return 0;
	r = store_get_json(t, k->db, key, &rec);
	json_decref(rec);
	return r == 0;
}

struct catalog_expiry {
	long within;
	json_t *out;
};

static int
catalog_expiry_cb(const void *k, size_t klen, const void *v, size_t vlen,
    void *arg)
{
	struct catalog_expiry *e = arg;
	json_t *c = json_loadb(v, vlen, 0, NULL);
	const char *na;
	long days;

	(void)k;
	(void)klen;
	if (c == NULL)
		return 0;
	na = json_string_value(json_object_get(c, "notAfter"));
	if (na != NULL && pki_days_left(na, &days) == 0 && days < e->within)
		json_array_append_new(e->out, json_pack("{s:O, s:s, s:I}",
		    "name", json_object_get(c, "name"), "notAfter", na,
		    "daysLeft", (json_int_t)days));
	json_decref(c);
	return 0;
}

int
catalog_expiring(struct store_txn *t, long within_days, json_t **out)
{
	struct catalog_expiry e = { within_days, json_array() };
	int r;

	*out = NULL;
	if (e.out == NULL)
		return SIGNET_ERR_NOMEM;
	if ((r = store_walk(t, STORE_CERTIFICATES, NULL, 0, NULL, 0, 0,
	    catalog_expiry_cb, &e)) != 0) {
		json_decref(e.out);
		return r;
	}
	*out = e.out;
	return 0;
}
