/* Projects, signing policies, identities and certificates: lookups and the
 * declarative document that `signet apply` loads. */
#ifndef SIGNET_CATALOG_H
#define SIGNET_CATALOG_H

#include <stdio.h>

#include <jansson.h>
#include <openssl/x509.h>

#include "err.h"
#include "store.h"

struct kh;

#define CATALOG_MAX_NAME 64

/* Maps a verified client certificate to an identity name: by SHA-256
 * fingerprint first, then by issuer and subject. */
int catalog_identity_for_cert(struct store_txn *t, X509 *cert,
    char name[CATALOG_MAX_NAME + 1]) SIGNET_WUR;
int catalog_get_project(struct store_txn *t, const char *slug,
    json_t **out) SIGNET_WUR;
int catalog_get_policy(struct store_txn *t, const char *project,
    const char *slug, json_t **out) SIGNET_WUR;
int catalog_get_certificate(struct store_txn *t, const char *name,
    json_t **out) SIGNET_WUR;
/* Does the identity appear in the policy's list ("submitters", ...)? */
int catalog_policy_lists(const json_t *policy, const char *list,
    const char *identity);
/* May the identity see the project's requests (it submits to or
 * approves on one of its policies)? */
int catalog_may_read_project(struct store_txn *t, const char *project,
    const char *identity);
/* Lowercase letters, digits and '-', starting with a letter or digit. */
int catalog_valid_slug(const char *s);

/* Validates the whole document, then writes it in one transaction
 * (unless dry_run); prints one line per change to report. On a
 * validation error, errbuf says which entry and why. */
int catalog_apply(struct store *s, struct kh *kh, json_t *doc,
    const char *basedir, int dry_run, const char *actor_type,
    const char *actor, FILE *report, char *errbuf,
    size_t errlen) SIGNET_WUR;

#endif
