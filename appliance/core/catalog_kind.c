/* The table of catalog kinds (catalog_kind.h). */
#include <stdio.h>
#include <string.h>

#include "catalog_int.h"
#include "catalog_kind.h"

static const struct catalog_kind catalog_kinds[CATALOG_KIND_COUNT] = {
	{ CATALOG_CERTIFICATE, "certificate", "certificates", "certificates",
	    "name", STORE_CERTIFICATES, 0, CATALOG_KIND_COUNT, NULL,
	    catalog_apply_certificate, catalog_export_certificate,
	    catalog_delete_policy_refs, NULL },
	{ CATALOG_IDENTITY, "identity", "identities", "identities",
	    "name", STORE_IDENTITIES, 0, CATALOG_KIND_COUNT, NULL,
	    catalog_apply_identity, catalog_export_copy,
	    catalog_delete_identity_refs, catalog_delete_identity_map },
	{ CATALOG_USER, "user", "users", "users",
	    "name", STORE_USERS, 0, CATALOG_KIND_COUNT, NULL,
	    catalog_apply_user, catalog_export_user,
	    catalog_delete_policy_refs, catalog_delete_user_sessions },
	/* nothing secret in a build system: public keys and claim names */
	{ CATALOG_BUILD_SYSTEM, "build-system", "build-systems",
	    "buildSystems", "name", STORE_BUILD_SYSTEMS, 0,
	    CATALOG_KIND_COUNT, NULL,
	    catalog_apply_build_system, catalog_export_copy, NULL, NULL },
	{ CATALOG_PROJECT, "project", "projects", "projects",
	    "slug", STORE_PROJECTS, 0, CATALOG_KIND_COUNT, NULL,
	    catalog_apply_project, catalog_export_project,
	    catalog_delete_project_policies, NULL },
	{ CATALOG_POLICY, "policy", "signing-policies", NULL,
	    "slug", STORE_POLICIES, 1, CATALOG_PROJECT, "signingPolicies",
	    catalog_apply_policy, catalog_export_policy,
	    catalog_delete_live_requests, NULL },
	/* a project's webhooks are written, shown (without their secrets)
	 * and deleted with the project */
	{ CATALOG_WEBHOOK, "webhook", NULL, NULL,
	    "url", STORE_PROJECTS, 1, CATALOG_PROJECT, "webhooks",
	    NULL, NULL, NULL, NULL },
};

const struct catalog_kind *
catalog_kind_at(size_t i)
{
	return i < CATALOG_KIND_COUNT ? &catalog_kinds[i] : NULL;
}

const struct catalog_kind *
catalog_kind_find(const char *name)
{
	size_t i;

	for (i = 0; name != NULL && i < CATALOG_KIND_COUNT; i++)
		if (strcmp(catalog_kinds[i].name, name) == 0)
			return &catalog_kinds[i];
	return NULL;
}

const struct catalog_kind *
catalog_kind_by_segment(const char *segment)
{
	size_t i;

	for (i = 0; segment != NULL && i < CATALOG_KIND_COUNT; i++)
		if (catalog_kinds[i].segment != NULL &&
		    strcmp(catalog_kinds[i].segment, segment) == 0)
			return &catalog_kinds[i];
	return NULL;
}

int
catalog_kind_key(const struct catalog_kind *k, const char *project,
    const char *name, char *key, size_t len)
{
	int n;

	if (k->per_project)
		n = snprintf(key, len, "%s/%s", project != NULL ? project : "",
		    name);
	else
		n = snprintf(key, len, "%s", name);
	return n < 0 || (size_t)n >= len ? SIGNET_ERR_INVALID : 0;
}
