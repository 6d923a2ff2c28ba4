/* Projects, signing policies, users, CI identities, build systems,
 * certificates and webhooks: lookups, the declarative document that
 * `signet apply` loads, one object at a time, delete and export. The
 * kinds are one table (catalog_kind.h): catalog_kind_find("build-system"),
 * catalog_kind_by_segment("build-systems"). */
#ifndef SIGNET_CATALOG_H
#define SIGNET_CATALOG_H

#include <stdio.h>

#include <jansson.h>
#include <openssl/x509.h>

#include "catalog_kind.h"
#include "err.h"
#include "signet_limits.h"
#include "store.h"

struct kh;

#define CATALOG_MAX_NAME SIGNET_MAX_NAME

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
/* The name of a user, CI identity or build system: 1-CATALOG_MAX_NAME
 * letters, digits, '-', '_', '.', '@'. */
int catalog_valid_name(const char *s);

/* Validates the whole document, then writes it in one transaction
 * (basedir: where chainFile/secretFile are; NULL: no file may be named)
 * (unless dry_run); prints one line per change to report. On a
 * validation error, errbuf says which entry and why. */
int catalog_apply(struct store *s, struct kh *kh, json_t *doc,
    const char *basedir, int dry_run, const char *actor_type,
    const char *actor, FILE *report, char *errbuf,
    size_t errlen) SIGNET_WUR;

/* Creates (must_create: refuses an existing one) or updates one object
 * of a kind that has an apply of its own (catalog_kind_find: "certificate",
 * "identity", "user", "build-system", "project" or "policy" of project),
 * validated as apply does, audited. */
int catalog_apply_one(struct store *s, struct kh *kh, const char *kind,
    const char *project, json_t *obj, int must_create, const char *actor_type,
    const char *actor, FILE *report, char *errbuf, size_t errlen) SIGNET_WUR;
/* Deletes one object; refuses (SIGNET_ERR_CONFLICT, errbuf says by what)
 * while anything still refers to it. */
int catalog_delete(struct store *s, const char *kind, const char *project,
    const char *name, const char *actor_type, const char *actor,
    char *errbuf, size_t errlen) SIGNET_WUR;
/* The objects of a top-level kind by its segment ("users", "identities",
 * "certificates", "build-systems", "projects": with their policies and
 * webhooks) in their public shape: no password hashes, no webhook
 * secrets. SIGNET_ERR_INVALID for any other segment. */
int catalog_list(struct store_txn *t, const char *kind, json_t **out) SIGNET_WUR;
/* The declarative document of the whole configuration, secrets left out;
 * catalog_apply of it changes nothing. */
int catalog_export(struct store_txn *t, json_t **doc) SIGNET_WUR;

/* Certificates whose end is less than within_days away (or past):
 * [{name, notAfter, daysLeft}]. */
int catalog_expiring(struct store_txn *t, long within_days,
    json_t **out) SIGNET_WUR;

#endif
