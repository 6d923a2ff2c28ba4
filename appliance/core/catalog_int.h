/* Shared by the catalog's files (catalog*.c) and nothing else: the
 * functions the table of kinds (catalog_kind.c) names, and the
 * certificate map. */
#ifndef SIGNET_CATALOG_INT_H
#define SIGNET_CATALOG_INT_H

#include <stddef.h>

#include <jansson.h>

#include "catalog.h"
#include "catalog_kind.h"
#include "store.h"

/* The longest store key of a catalog object: "project/slug". */
#define CATALOG_MAX_KEY	(SIGNET_MAX_SLUG + 1 + \
	(SIGNET_MAX_SLUG > CATALOG_MAX_NAME ? SIGNET_MAX_SLUG : CATALOG_MAX_NAME))

/* catalog.c: the identity a certmap key ("fp:HEX" or the catalog_dn_key
 * of a certificate's names) maps to. */
int catalog_lookup(struct store_txn *t, const char *key,
    char name[CATALOG_MAX_NAME + 1]) SIGNET_WUR;
/* The certmap key of an issuer and subject (malloc'd), or NULL. */
char *catalog_dn_key(const char *issuer, const char *subject);
/* Drops the certmap entries that point at a stored identity. */
int catalog_unmap(struct store_txn *t, json_t *old) SIGNET_WUR;
/* Is there such an object (project: the parent's key, per_project)? */
int catalog_exists(struct store_txn *t, const struct catalog_kind *k,
    const char *project, const char *name);

/* catalog_apply.c: one object of each kind, validated and written
 * within an apply. */
int catalog_apply_certificate(struct catalog_apply *a, const char *project,
    json_t *c) SIGNET_WUR;
int catalog_apply_identity(struct catalog_apply *a, const char *project,
    json_t *id) SIGNET_WUR;
int catalog_apply_user(struct catalog_apply *a, const char *project,
    json_t *u) SIGNET_WUR;
int catalog_apply_build_system(struct catalog_apply *a, const char *project,
    json_t *b) SIGNET_WUR;
int catalog_apply_project(struct catalog_apply *a, const char *project,
    json_t *p) SIGNET_WUR;
int catalog_apply_policy(struct catalog_apply *a, const char *project,
    json_t *p) SIGNET_WUR;

/* catalog_export.c: the public shapes. Password hashes, lockout state
 * and webhook secrets never leave. */
int catalog_export_user(struct store_txn *t, json_t *u, json_t *out) SIGNET_WUR;
int catalog_export_copy(struct store_txn *t, json_t *rec,
    json_t *out) SIGNET_WUR;
int catalog_export_certificate(struct store_txn *t, json_t *c,
    json_t *out) SIGNET_WUR;
int catalog_export_policy(struct store_txn *t, json_t *p,
    json_t *out) SIGNET_WUR;
int catalog_export_project(struct store_txn *t, json_t *p,
    json_t *out) SIGNET_WUR;

/* catalog_delete.c: what refers to an object, and what goes with it. */
int catalog_delete_policy_refs(struct store_txn *t,
    const struct catalog_kind *k, const char *project, const char *name,
    char *errbuf, size_t errlen) SIGNET_WUR;
int catalog_delete_identity_refs(struct store_txn *t,
    const struct catalog_kind *k, const char *project, const char *name,
    char *errbuf, size_t errlen) SIGNET_WUR;
int catalog_delete_project_policies(struct store_txn *t,
    const struct catalog_kind *k, const char *project, const char *name,
    char *errbuf, size_t errlen) SIGNET_WUR;
int catalog_delete_live_requests(struct store_txn *t,
    const struct catalog_kind *k, const char *project, const char *name,
    char *errbuf, size_t errlen) SIGNET_WUR;
int catalog_delete_identity_map(struct store_txn *t,
    const char *name) SIGNET_WUR;
int catalog_delete_user_sessions(struct store_txn *t,
    const char *name) SIGNET_WUR;

#endif
