/* Shared by the catalog's files (catalog*.c) and nothing else. */
#ifndef SIGNET_CATALOG_INT_H
#define SIGNET_CATALOG_INT_H

#include <jansson.h>

#include "catalog.h"
#include "store.h"

/* The identity a certmap key ("fp:HEX" or the catalog_dn_key of a
 * certificate's names) maps to. */
int catalog_lookup(struct store_txn *t, const char *key,
    char name[CATALOG_MAX_NAME + 1]) SIGNET_WUR;
/* The certmap key of an issuer and subject (malloc'd), or NULL. */
char *catalog_dn_key(const char *issuer, const char *subject);
/* Drops the certmap entries that point at a stored identity. */
int catalog_unmap(struct store_txn *t, json_t *old) SIGNET_WUR;
/* Is there such an object (project: the policy's)? */
int catalog_exists(struct store_txn *t, const char *kind,
    const char *project, const char *name);

#endif
