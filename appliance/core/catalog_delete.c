/* Deleting one catalog object, refused while anything refers to it. */
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
struct catalog_refs {
	const char *name;	/* certificate, user or identity */
	const char *project;	/* policies of one project */
	json_t *found;		/* "project/slug" of referring policies */
};

static int
catalog_refs_cb(const void *k, size_t klen, const void *v, size_t vlen,
    void *arg)
{
	struct catalog_refs *c = arg;
	json_t *p = json_loadb(v, vlen, 0, NULL);
	const char *cert;

	if (p == NULL)
		return 0;
	cert = json_string_value(json_object_get(p, "certificate"));
	if (c->project != NULL ||
	    (cert != NULL && strcmp(cert, c->name) == 0) ||
	    catalog_policy_lists(p, "submitters", c->name) ||
	    catalog_policy_lists(p, "approvers", c->name))
		json_array_append_new(c->found, json_stringn(k, klen));
	json_decref(p);
	return 0;
}

/* "a/b, c/d" of the policies that refer to name (or belong to project) */
static int
catalog_referrers(struct store_txn *t, const char *name, const char *project,
    char *out, size_t len)
{
	struct catalog_refs c = { name, project, json_array() };
	char prefix[SIGNET_MAX_SLUG + 2] = "";
	json_t *e;
	size_t i, used = 0;
	int r, n;

	if (c.found == NULL)
		return SIGNET_ERR_NOMEM;
	if (project != NULL)
		snprintf(prefix, sizeof(prefix), "%s/", project);
	r = store_walk(t, STORE_POLICIES, prefix, strlen(prefix), NULL, 0, 0,
	    catalog_refs_cb, &c);
	out[0] = '\0';
	json_array_foreach(c.found, i, e) {
		n = snprintf(out + used, len - used, "%s%s", i ? ", " : "",
		    json_string_value(e));
		if (n < 0 || (size_t)n >= len - used)
			break;
		used += (size_t)n;
	}
	n = (int)json_array_size(c.found);
	json_decref(c.found);
	return r != 0 ? r : n;
}

struct catalog_live {
	const char *project;
	const char *policy;
	int n;
};

static int
catalog_live_cb(const void *k, size_t klen, const void *v, size_t vlen,
    void *arg)
{
	struct catalog_live *l = arg;
	json_t *rec = json_loadb(v, vlen, 0, NULL);
	const char *w;

	(void)k;
	(void)klen;
	if (rec == NULL)
		return 0;
	w = json_string_value(json_object_get(rec, "workflowStatus"));
	if (w != NULL && !request_is_final(w) &&
	    strcmp(json_string_value(json_object_get(rec, "projectSlug")),
	    l->project) == 0 && (l->policy == NULL ||
	    strcmp(json_string_value(json_object_get(rec,
	    "signingPolicySlug")), l->policy) == 0))
		l->n++;
	json_decref(rec);
	return 0;
}

/* Certificates, users and CI identities: the signing policies that name
 * them. */
int
catalog_delete_policy_refs(struct store_txn *t, const struct catalog_kind *k,
    const char *project, const char *name, char *errbuf, size_t errlen)
{
	char refs[512];
	int n;

	(void)project;
	if ((n = catalog_referrers(t, name, NULL, refs, sizeof(refs))) < 0)
		return n;
	if (n == 0)
		return 0;
	snprintf(errbuf, errlen, "%s '%s' is still used by signing polic%s %s; "
	    "change %s first", k->name, name, n == 1 ? "y" : "ies", refs,
	    n == 1 ? "it" : "them");
	return SIGNET_ERR_CONFLICT;
}

/* A CI identity: the policies, and (like policies) the build system
 * that names it. */
int
catalog_delete_identity_refs(struct store_txn *t,
    const struct catalog_kind *k, const char *project, const char *name,
    char *errbuf, size_t errlen)
{
	json_t *bs = NULL;
	int r;

	if ((r = catalog_delete_policy_refs(t, k, project, name, errbuf,
	    errlen)) != 0)
		return r;
	if ((r = origin_build_system_of(t, name, &bs)) == 0) {
		snprintf(errbuf, errlen, "identity '%s' is still used by build "
		    "system %s; change it first", name,
		    json_string_value(json_object_get(bs, "name")));
		json_decref(bs);
		return SIGNET_ERR_CONFLICT;
	}
	return r == SIGNET_ERR_NOT_FOUND ? 0 : r;
}

/* A project goes only once its signing policies have. */
int
catalog_delete_project_policies(struct store_txn *t,
    const struct catalog_kind *k, const char *project, const char *name,
    char *errbuf, size_t errlen)
{
	char refs[512];
	int n;

	(void)k;
	(void)project;
	if ((n = catalog_referrers(t, "", name, refs, sizeof(refs))) < 0)
		return n;
	if (n == 0)
		return 0;
	snprintf(errbuf, errlen, "project '%s' still has signing polic%s %s; "
	    "delete %s first", name, n == 1 ? "y" : "ies", refs,
	    n == 1 ? "it" : "them");
	return SIGNET_ERR_CONFLICT;
}

/* A signing policy: the requests under it that are not final. */
int
catalog_delete_live_requests(struct store_txn *t,
    const struct catalog_kind *k, const char *project, const char *name,
    char *errbuf, size_t errlen)
{
	struct catalog_live live = { project, name, 0 };
	int r;

	(void)k;
	if ((r = store_walk(t, STORE_REQUESTS, NULL, 0, NULL, 0, 0,
	    catalog_live_cb, &live)) != 0)
		return r;
	if (live.n == 0)
		return 0;
	snprintf(errbuf, errlen, "signing policy '%s/%s' has %d signing "
	    "request%s not yet final; wait for them or cancel them first",
	    project, name, live.n, live.n == 1 ? "" : "s");
	return SIGNET_ERR_CONFLICT;
}

/* A CI identity's certificate map entries go with it. */
int
catalog_delete_identity_map(struct store_txn *t, const char *name)
{
	json_t *old = NULL;
	int r;

	if ((r = store_get_json(t, STORE_IDENTITIES, name, &old)) == 0)
		r = catalog_unmap(t, old);
	json_decref(old);
	return r;
}

/* A removed user's sessions go with it. */
int
catalog_delete_user_sessions(struct store_txn *t, const char *name)
{
	return users_drop_sessions(t, name);
}

int
catalog_delete(struct store *s, const char *kind, const char *project,
    const char *name, const char *actor_type, const char *actor,
    char *errbuf, size_t errlen)
{
	const struct catalog_kind *k = catalog_kind_find(kind);
	struct store_txn *t = NULL;
	char key[CATALOG_MAX_KEY + 1], action[64];
	int r;

	errbuf[0] = '\0';
	/* a webhook goes with a change of its project */
	if (k == NULL || k->apply == NULL)
		return SIGNET_ERR_INTERNAL;
	if ((r = store_txn_begin(s, 1, &t)) != 0)
		return r;
	if (!catalog_exists(t, k, project, name)) {
		snprintf(errbuf, errlen, "there is no %s '%.64s'", kind, name);
		r = SIGNET_ERR_NOT_FOUND;
		goto out;
	}
	if ((r = catalog_kind_key(k, project, name, key, sizeof(key))) != 0 ||
	    (k->in_use != NULL &&
	    (r = k->in_use(t, k, project, name, errbuf, errlen)) != 0) ||
	    (k->on_delete != NULL && (r = k->on_delete(t, name)) != 0))
		goto out;
	snprintf(action, sizeof(action), "%s.deleted", kind);
	if ((r = store_del(t, k->db, key, strlen(key))) != 0 ||
	    (r = audit_append(t, actor_type, actor, action, key, NULL)) != 0)
		goto out;
	r = store_txn_commit(&t);
out:
	store_txn_abort(&t);
	return r;
}
