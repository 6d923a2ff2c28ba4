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
	struct store_txn *t;
	json_t *out;
	int (*fn)(struct store_txn *t, json_t *rec, json_t *out);
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
	r = c->fn(c->t, rec, c->out);
	json_decref(rec);
	return r;
}

/* The shapes of a kind's records (under prefix: one project's). */
static int
catalog_collect(struct store_txn *t, const struct catalog_kind *k,
    const char *prefix, json_t *out)
{
	struct catalog_collect c = { t, out, k->shape };

	return store_walk(t, k->db, prefix, prefix ? strlen(prefix) : 0, NULL,
	    0, 0, catalog_collect_cb, &c);
}

int
catalog_export_user(struct store_txn *t, json_t *u, json_t *out)
{
	json_t *o = json_pack("{s:O, s:O}", "name", json_object_get(u, "name"),
	    "roles", json_object_get(u, "roles"));

	(void)t;
	if (o == NULL)
		return SIGNET_ERR_NOMEM;
	if (json_object_get(u, "email") != NULL)
		json_object_set(o, "email", json_object_get(u, "email"));
	return json_array_append_new(out, o) ? SIGNET_ERR_NOMEM : 0;
}

int
catalog_export_copy(struct store_txn *t, json_t *rec, json_t *out)
{
	(void)t;
	return json_array_append(out, rec) ? SIGNET_ERR_NOMEM : 0;
}

int
catalog_export_certificate(struct store_txn *t, json_t *c, json_t *out)
{
	json_t *o = json_pack("{s:O, s:O, s:O, s:O}", "name",
	    json_object_get(c, "name"), "key", json_object_get(c, "keyId"),
	    "purpose", json_object_get(c, "purpose"), "chainPem",
	    json_object_get(c, "chainPem"));

	(void)t;
	if (o == NULL)
		return SIGNET_ERR_NOMEM;
	return json_array_append_new(out, o) ? SIGNET_ERR_NOMEM : 0;
}

int
catalog_export_policy(struct store_txn *t, json_t *p, json_t *out)
{
	(void)t;
	json_object_del(p, "project");
	return json_array_append(out, p) ? SIGNET_ERR_NOMEM : 0;
}

/* A project with its webhooks (their URLs) and signing policies. */
int
catalog_export_project(struct store_txn *t, json_t *p, json_t *out)
{
	const struct catalog_kind *pk = catalog_kind_at(CATALOG_POLICY),
	    *wk = catalog_kind_at(CATALOG_WEBHOOK);
	json_t *o, *hooks = json_array(), *pols = json_array(), *h;
	char prefix[SIGNET_MAX_SLUG + 2];
	size_t i;
	int r;

	o = json_pack("{s:O, s:O, s:O}", "slug", json_object_get(p, "slug"),
	    "name", json_object_get(p, "name"), "repositoryUrls",
	    json_object_get(p, "repositoryUrls"));
	if (o == NULL || hooks == NULL || pols == NULL) {
		r = SIGNET_ERR_NOMEM;
		goto fail;
	}
	if (json_object_get(p, "url") != NULL)
		json_object_set(o, "url", json_object_get(p, "url"));
	json_array_foreach(json_object_get(p, wk->in_parent), i, h)
		json_array_append_new(hooks, json_pack("{s:O}", wk->key,
		    json_object_get(h, wk->key)));
	snprintf(prefix, sizeof(prefix), "%s/",
	    json_string_value(json_object_get(p, "slug")));
	if ((r = catalog_collect(t, pk, prefix, pols)) != 0)
		goto fail;
	json_object_set_new(o, wk->in_parent, hooks);
	json_object_set_new(o, pk->in_parent, pols);
	return json_array_append_new(out, o) ? SIGNET_ERR_NOMEM : 0;
fail:
	json_decref(o);
	json_decref(hooks);
	json_decref(pols);
	return r;
}

int
catalog_list(struct store_txn *t, const char *kind, json_t **out)
{
	const struct catalog_kind *k = catalog_kind_by_segment(kind);
	int r;

	if ((*out = json_array()) == NULL)
		return SIGNET_ERR_NOMEM;
	/* a kind stored inside another is listed with it */
	if (k == NULL || k->shape == NULL || k->parent != CATALOG_KIND_COUNT)
		r = SIGNET_ERR_INVALID;
	else
		r = catalog_collect(t, k, NULL, *out);
	if (r != 0) {
		json_decref(*out);
		*out = NULL;
	}
	return r;
}

int
catalog_export(struct store_txn *t, json_t **doc)
{
	const struct catalog_kind *k;
	json_t *list = NULL;
	size_t i;
	int r;

	if ((*doc = json_object()) == NULL)
		return SIGNET_ERR_NOMEM;
	for (i = 0; i < CATALOG_KIND_COUNT; i++) {
		k = catalog_kind_at(i);
		if (k->doc_key == NULL)
			continue;
		if ((r = catalog_list(t, k->segment, &list)) != 0)
			goto fail;
		if (json_object_set_new(*doc, k->doc_key, list) != 0) {
			r = SIGNET_ERR_NOMEM;
			goto fail;
		}
	}
	return 0;
fail:
	json_decref(*doc);
	*doc = NULL;
	return r;
}
