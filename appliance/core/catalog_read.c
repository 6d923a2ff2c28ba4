#include <stdlib.h>
#include <string.h>

#include "catalog_read.h"
#include "pki.h"
#include "signet_limits.h"

int
catalog_read_list(struct store *s, const char *kind, json_t **out)
{
	struct store_txn *t = NULL;
	int r;

	*out = NULL;
	if ((r = store_txn_begin(s, 0, &t)) != 0)
		return r;
	r = catalog_list(t, kind, out);
	store_txn_abort(&t);
	return r;
}

/* kind → the list it is shown in; policies are shown in their project */
static const struct {
	const char *kind;
	const char *list;
	const char *key;
} catalog_read_kinds[] = {
	{ "user", "users", "name" },
	{ "identity", "identities", "name" },
	{ "certificate", "certificates", "name" },
	{ "build-system", "build-systems", "name" },
	{ "project", "projects", "slug" },
	{ "policy", "projects", "slug" },
};

static int
catalog_read_is(const json_t *o, const char *key, const char *value)
{
	const char *v = json_string_value(json_object_get(o, key));

	return v != NULL && value != NULL && strcmp(v, value) == 0;
}

int
catalog_read_find(struct store *s, const char *kind, const char *project,
    const char *name, json_t **out)
{
	json_t *list = NULL, *e, *p;
	size_t i, k, n = sizeof(catalog_read_kinds) /
	    sizeof(catalog_read_kinds[0]);
	int r, policy;

	*out = NULL;
	for (k = 0; k < n; k++)
		if (kind != NULL && strcmp(catalog_read_kinds[k].kind, kind) == 0)
			break;
	if (k == n)
		return SIGNET_ERR_INVALID;
	policy = strcmp(kind, "policy") == 0;
	if ((r = catalog_read_list(s, catalog_read_kinds[k].list, &list)) != 0)
		return r;
	r = SIGNET_ERR_NOT_FOUND;
	json_array_foreach(list, i, e) {
		if (!catalog_read_is(e, catalog_read_kinds[k].key, policy ?
		    project : name))
			continue;
		if (!policy) {
			*out = json_incref(e);
			r = 0;
			break;
		}
		json_array_foreach(json_object_get(e, "signingPolicies"), i, p)
			if (catalog_read_is(p, "slug", name)) {
				*out = json_incref(p);
				r = 0;
				break;
			}
		break;
	}
	json_decref(list);
	return r;
}

int
catalog_read_export(struct store *s, json_t **doc)
{
	struct store_txn *t = NULL;
	int r;

	*doc = NULL;
	if ((r = store_txn_begin(s, 0, &t)) != 0)
		return r;
	r = catalog_export(t, doc);
	store_txn_abort(&t);
	return r;
}

int
catalog_read_expiring(struct store *s, long within_days, json_t **out)
{
	struct store_txn *t = NULL;
	int r;

	*out = NULL;
	if ((r = store_txn_begin(s, 0, &t)) != 0)
		return r;
	r = catalog_expiring(t, within_days, out);
	store_txn_abort(&t);
	return r;
}

int
catalog_read_identity(struct store *s, X509 *cert,
    char name[CATALOG_MAX_NAME + 1])
{
	struct store_txn *t = NULL;
	int r;

	if ((r = store_txn_begin(s, 0, &t)) != 0)
		return r;
	r = catalog_identity_for_cert(t, cert, name);
	store_txn_abort(&t);
	return r;
}

int
catalog_read_identity_role(struct store *s, const char *name,
    const char *role)
{
	struct store_txn *t = NULL;
	json_t *rec = NULL, *e;
	size_t i;
	int yes = 0;

	if (store_txn_begin(s, 0, &t) != 0)
		return 0;
	if (store_get_json(t, STORE_IDENTITIES, name, &rec) == 0)
		json_array_foreach(json_object_get(rec, "roles"), i, e)
			if (json_is_string(e) &&
			    strcmp(json_string_value(e), role) == 0)
				yes = 1;
	store_txn_abort(&t);
	json_decref(rec);
	return yes;
}

/* One certificate record with its expiry, or NULL when its chain cannot
 * be read. */
static json_t *
catalog_read_expiry(const json_t *c)
{
	STACK_OF(X509) *sk = NULL;
	const char *pem = json_string_value(json_object_get(c, "chainPem"));
	char na[32] = "", *subject = NULL;
	json_t *o;
	long days;

	if (pem == NULL || pki_chain_from_pem(pem, strlen(pem), &sk) != 0)
		return NULL;
	if (pki_time_text(X509_get0_notAfter(sk_X509_value(sk, 0)), na) != 0 ||
	    pki_days_left(na, &days) != 0)
		days = 0;
	subject = pki_name_text(X509_get_subject_name(sk_X509_value(sk, 0)));
	o = json_pack("{s:O, s:O, s:O, s:s?, s:s, s:I, s:b}",
	    "name", json_object_get(c, "name"),
	    "key", json_object_get(c, "key"),
	    "purpose", json_object_get(c, "purpose"),
	    "subject", subject, "notAfter", na,
	    "daysLeft", (json_int_t)days,
	    "expiringSoon", days < SIGNET_EXPIRY_WARN_DAYS);
	free(subject);
	sk_X509_pop_free(sk, X509_free);
	return o;
}

int
catalog_read_certificates(struct store *s, const char *key_id, json_t **out)
{
	json_t *list = NULL, *c, *o;
	const char *key;
	size_t i;
	int r;

	*out = NULL;
	if ((r = catalog_read_list(s, "certificates", &list)) != 0)
		return r;
	if ((*out = json_array()) == NULL) {
		json_decref(list);
		return SIGNET_ERR_NOMEM;
	}
	json_array_foreach(list, i, c) {
		key = json_string_value(json_object_get(c, "key"));
		if (key_id != NULL && (key == NULL || strcmp(key, key_id) != 0))
			continue;
		if ((o = catalog_read_expiry(c)) != NULL)
			json_array_append_new(*out, o);
	}
	json_decref(list);
	return 0;
}

struct catalog_read_mine {
	const char *name;
	json_t *submit;
	json_t *approve;
	int err;
};

/* One signing policy record (key "project/slug") name is named in. */
static int
catalog_read_mine_cb(const void *k, size_t klen, const void *v, size_t vlen,
    void *arg)
{
	struct catalog_read_mine *m = arg;
	json_t *p = json_loadb(v, vlen, JSON_REJECT_DUPLICATES, NULL), *e;
	const char *slash = memchr(k, '/', klen);
	int sub, appr;

	if (p == NULL || slash == NULL) {
		json_decref(p);
		return 0;
	}
	sub = catalog_policy_lists(p, "submitters", m->name);
	appr = catalog_policy_lists(p, "approvers", m->name);
	if (sub || appr) {
		e = json_pack("{s:s%, s:s%, s:O?, s:O?, s:O?, s:O?, s:O*, "
		    "s:O*, s:b}",
		    "project", (const char *)k, (size_t)(slash - (const char *)k),
		    "policy", slash + 1, klen - (size_t)(slash - (const char *)k)
		    - 1,
		    "name", json_object_get(p, "name"),
		    "purpose", json_object_get(p, "purpose"),
		    "requiredApprovals", json_object_get(p, "requiredApprovals"),
		    "artifactConfigurations", json_object_get(p,
		    "artifactConfigurations"),
		    "digestAlgorithm", json_object_get(p, "digestAlgorithm"),
		    "signatureMode", json_object_get(p, "signatureMode"),
		    /* the PKCS#11 module shows one token per such policy */
		    "allowHashSigning", json_is_true(json_object_get(p,
		    "allowHashSigning")));
		if (e == NULL ||
		    (sub && json_array_append(m->submit, e) != 0) ||
		    (appr && json_array_append(m->approve, e) != 0))
			m->err = SIGNET_ERR_NOMEM;
		json_decref(e);
	}
	json_decref(p);
	return m->err;
}

int
catalog_read_policies_of(struct store *s, const char *name, json_t **submit,
    json_t **approve)
{
	struct store_txn *t = NULL;
	struct catalog_read_mine m;
	int r;

	*submit = *approve = NULL;
	memset(&m, 0, sizeof(m));
	m.name = name;
	m.submit = json_array();
	m.approve = json_array();
	if (m.submit == NULL || m.approve == NULL) {
		r = SIGNET_ERR_NOMEM;
		goto out;
	}
	if ((r = store_txn_begin(s, 0, &t)) != 0)
		goto out;
	r = store_walk(t, STORE_POLICIES, NULL, 0, NULL, 0, 0,
	    catalog_read_mine_cb, &m);
	store_txn_abort(&t);
	if (r == 0) {
		*submit = m.submit;
		*approve = m.approve;
		m.submit = m.approve = NULL;
	}
out:
	json_decref(m.submit);
	json_decref(m.approve);
	return r;
}
