/* The catalog in its public shape: the admin lists and the exported
 * document. */
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
struct catalog_collect {
	json_t *out;
	int (*fn)(json_t *rec, json_t *out);
};

static int
catalog_collect_cb(const void *k, size_t klen, const void *v, size_t vlen,
    void *arg)
{
	struct catalog_collect *c = arg;
	json_t *rec = json_loadb(v, vlen, JSON_REJECT_DUPLICATES, NULL);
	int r;

	(void)k;
	(void)klen;
	if (rec == NULL)
		return SIGNET_ERR_STORE;
	json_object_del(rec, "v");
	r = c->fn(rec, c->out);
	json_decref(rec);
	return r;
}

static int
catalog_collect(struct store_txn *t, enum store_db db, const char *prefix,
    int (*fn)(json_t *, json_t *), json_t *out)
{
	struct catalog_collect c = { out, fn };

	return store_walk(t, db, prefix, prefix ? strlen(prefix) : 0, NULL, 0,
	    0, catalog_collect_cb, &c);
}

/* The public shapes: what an administrator sees and what export writes.
 * Password hashes, lockout state and webhook secrets never leave. */
static int
catalog_shape_user(json_t *u, json_t *out)
{
	json_t *o = json_pack("{s:O, s:O}", "name", json_object_get(u, "name"),
	    "roles", json_object_get(u, "roles"));

	if (o == NULL)
		return SIGNET_ERR_NOMEM;
	if (json_object_get(u, "email") != NULL)
		json_object_set(o, "email", json_object_get(u, "email"));
	return json_array_append_new(out, o) ? SIGNET_ERR_NOMEM : 0;
}

static int
catalog_shape_copy(json_t *rec, json_t *out)
{
	return json_array_append(out, rec) ? SIGNET_ERR_NOMEM : 0;
}

static int
catalog_shape_cert(json_t *c, json_t *out)
{
	json_t *o = json_pack("{s:O, s:O, s:O, s:O}", "name",
	    json_object_get(c, "name"), "key", json_object_get(c, "keyId"),
	    "purpose", json_object_get(c, "purpose"), "chainPem",
	    json_object_get(c, "chainPem"));

	if (o == NULL)
		return SIGNET_ERR_NOMEM;
	return json_array_append_new(out, o) ? SIGNET_ERR_NOMEM : 0;
}

static int
catalog_shape_policy(json_t *p, json_t *out)
{
	json_object_del(p, "project");
	return json_array_append(out, p) ? SIGNET_ERR_NOMEM : 0;
}

static json_t *
catalog_project_shape(struct store_txn *t, json_t *p, int *err)
{
	json_t *o, *hooks = json_array(), *pols = json_array(), *h;
	char prefix[SIGNET_MAX_SLUG + 2];
	size_t i;

	o = json_pack("{s:O, s:O, s:O}", "slug", json_object_get(p, "slug"),
	    "name", json_object_get(p, "name"), "repositoryUrls",
	    json_object_get(p, "repositoryUrls"));
	if (o == NULL || hooks == NULL || pols == NULL) {
		*err = SIGNET_ERR_NOMEM;
		goto fail;
	}
	json_array_foreach(json_object_get(p, "webhooks"), i, h)
		json_array_append_new(hooks, json_pack("{s:O}", "url",
		    json_object_get(h, "url")));
	snprintf(prefix, sizeof(prefix), "%s/",
	    json_string_value(json_object_get(p, "slug")));
	if ((*err = catalog_collect(t, STORE_POLICIES, prefix,
	    catalog_shape_policy, pols)) != 0)
		goto fail;
	json_object_set_new(o, "webhooks", hooks);
	json_object_set_new(o, "signingPolicies", pols);
	return o;
fail:
	json_decref(o);
	json_decref(hooks);
	json_decref(pols);
	return NULL;
}

struct catalog_projects {
	struct store_txn *t;
	json_t *out;
	int err;
};

static int
catalog_projects_cb(const void *k, size_t klen, const void *v, size_t vlen,
    void *arg)
{
	struct catalog_projects *c = arg;
	json_t *p = json_loadb(v, vlen, 0, NULL), *o;

	(void)k;
	(void)klen;
	if (p == NULL)
		return SIGNET_ERR_STORE;
	o = catalog_project_shape(c->t, p, &c->err);
	json_decref(p);
	if (o == NULL)
		return c->err;
	return json_array_append_new(c->out, o) ? SIGNET_ERR_NOMEM : 0;
}

int
catalog_list(struct store_txn *t, const char *kind, json_t **out)
{
	struct catalog_projects cp;
	int r;

	if ((*out = json_array()) == NULL)
		return SIGNET_ERR_NOMEM;
	if (strcmp(kind, "users") == 0)
		r = catalog_collect(t, STORE_USERS, NULL, catalog_shape_user,
		    *out);
	else if (strcmp(kind, "identities") == 0)
		r = catalog_collect(t, STORE_IDENTITIES, NULL,
		    catalog_shape_copy, *out);
	else if (strcmp(kind, "certificates") == 0)
		r = catalog_collect(t, STORE_CERTIFICATES, NULL,
		    catalog_shape_cert, *out);
	else if (strcmp(kind, "build-systems") == 0)
		/* nothing secret: public keys and claim names */
		r = catalog_collect(t, STORE_BUILD_SYSTEMS, NULL,
		    catalog_shape_copy, *out);
	else if (strcmp(kind, "projects") == 0) {
		cp.t = t;
		cp.out = *out;
		cp.err = 0;
		r = store_walk(t, STORE_PROJECTS, NULL, 0, NULL, 0, 0,
		    catalog_projects_cb, &cp);
	} else
		r = SIGNET_ERR_INVALID;
	if (r != 0) {
		json_decref(*out);
		*out = NULL;
	}
	return r;
}

int
catalog_export(struct store_txn *t, json_t **doc)
{
	json_t *certs = NULL, *ids = NULL, *users = NULL, *projects = NULL,
	    *bss = NULL;
	int r;

	*doc = NULL;
	if ((r = catalog_list(t, "certificates", &certs)) != 0 ||
	    (r = catalog_list(t, "identities", &ids)) != 0 ||
	    (r = catalog_list(t, "users", &users)) != 0 ||
	    (r = catalog_list(t, "build-systems", &bss)) != 0 ||
	    (r = catalog_list(t, "projects", &projects)) != 0)
		goto fail;
	*doc = json_pack("{s:o, s:o, s:o, s:o, s:o}", "certificates", certs,
	    "identities", ids, "users", users, "buildSystems", bss,
	    "projects", projects);
	return *doc != NULL ? 0 : SIGNET_ERR_NOMEM;
fail:
	json_decref(bss);
	json_decref(certs);
	json_decref(ids);
	json_decref(users);
	json_decref(projects);
	return r;
}
