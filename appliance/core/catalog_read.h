/* Reading the catalog for the API, each in a read transaction of its
 * own: the lists and objects of the admin API, the declarative
 * document, certificates and their expiry, the identity a client
 * certificate stands for, and the signing policies a principal is named
 * in. Changes go through catalog.c. */
#ifndef SIGNET_CATALOG_READ_H
#define SIGNET_CATALOG_READ_H

#include <jansson.h>
#include <openssl/x509.h>

#include "catalog.h"
#include "err.h"
#include "store.h"

/* catalog_list of kind ("users", "identities", "certificates",
 * "build-systems", "projects"). */
int catalog_read_list(struct store *s, const char *kind,
    json_t **out) SIGNET_WUR;
/* One object as catalog_read_list shows it: kind "user", "identity",
 * "certificate", "build-system", "project" by name (slug), or "policy"
 * name of project; SIGNET_ERR_NOT_FOUND. */
int catalog_read_find(struct store *s, const char *kind, const char *project,
    const char *name, json_t **out) SIGNET_WUR;
/* catalog_export in one read transaction: a consistent document. */
int catalog_read_export(struct store *s, json_t **doc) SIGNET_WUR;
/* catalog_expiring. */
int catalog_read_expiring(struct store *s, long within_days,
    json_t **out) SIGNET_WUR;
/* catalog_identity_for_cert. */
int catalog_read_identity(struct store *s, X509 *cert,
    char name[CATALOG_MAX_NAME + 1]) SIGNET_WUR;
/* The certificates (of token key key_id, or all when NULL) with their
 * expiry: [{name, key, purpose, subject, notAfter, daysLeft,
 * expiringSoon}]; a stored chain that cannot be read is left out. */
int catalog_read_certificates(struct store *s, const char *key_id,
    json_t **out) SIGNET_WUR;
/* The signing policies name may submit to and approve on:
 * [{project, policy, name, purpose, requiredApprovals, allowHashSigning,
 * artifactConfigurations}] each. */
int catalog_read_policies_of(struct store *s, const char *name,
    json_t **submit, json_t **approve) SIGNET_WUR;

/* 1 when identity name has role ("roles" of its record), else 0. */
int catalog_read_identity_role(struct store *s, const char *name,
    const char *role);

#endif
