/* The kinds of catalog object, described once: what each is called (in
 * the admin API, the document, the audit log), where it is stored under
 * which key, how one is applied, shown and deleted, and what refers to
 * it. Apply, delete, lists and export are driven by this table. */
#ifndef SIGNET_CATALOG_KIND_H
#define SIGNET_CATALOG_KIND_H

#include <stddef.h>

#include <jansson.h>

#include "err.h"
#include "store.h"

enum catalog_kind_id {
	CATALOG_CERTIFICATE,
	CATALOG_IDENTITY,
	CATALOG_USER,
	CATALOG_BUILD_SYSTEM,
	CATALOG_PROJECT,
	CATALOG_POLICY,
	CATALOG_WEBHOOK,
	CATALOG_KIND_COUNT
};

/* An apply in progress (catalog_apply.c). */
struct catalog_apply;

struct catalog_kind {
	enum catalog_kind_id id;
	/* "build-system": catalog_apply_one, catalog_delete, the audit
	 * actions ("build-system.created") and messages */
	const char *name;
	/* "build-systems": the admin API's path segment and catalog_list;
	 * NULL: no list of its own */
	const char *segment;
	/* "buildSystems": the list in the declarative document and its
	 * export, in this table's order (what is referred to comes first);
	 * NULL: inside the parent's record */
	const char *doc_key;
	const char *key;		/* the field that names one: "name", "slug" */
	enum store_db db;
	/* stored under "project/key", below the project in the API */
	int per_project;
	/* CATALOG_KIND_COUNT, or the kind whose record holds this one
	 * (in the parent's field in_parent) */
	enum catalog_kind_id parent;
	const char *in_parent;
	/* validates and writes one object (project: the parent's slug);
	 * NULL: only as part of its parent */
	int (*apply)(struct catalog_apply *a, const char *project,
	    json_t *obj);
	/* appends rec's public shape (no secrets) to out; NULL: shown
	 * inside its parent's */
	int (*shape)(struct store_txn *t, json_t *rec, json_t *out);
	/* what refers to it: SIGNET_ERR_CONFLICT and errbuf saying what,
	 * while anything does; NULL: nothing refers to it */
	int (*in_use)(struct store_txn *t, const struct catalog_kind *k,
	    const char *project, const char *name, char *errbuf,
	    size_t errlen);
	/* what goes with it when it is deleted (sessions, certificate map
	 * entries); NULL: nothing */
	int (*on_delete)(struct store_txn *t, const char *name);
};

/* By name ("build-system"), or NULL. */
const struct catalog_kind *catalog_kind_find(const char *name);
/* By admin API path segment ("build-systems", "signing-policies"), or
 * NULL. */
const struct catalog_kind *catalog_kind_by_segment(const char *segment);
/* The i-th kind (0 to CATALOG_KIND_COUNT - 1) in the table's order. */
const struct catalog_kind *catalog_kind_at(size_t i);
/* The store key of one object: name, or "project/name" for a kind
 * stored per project. SIGNET_ERR_INVALID when it does not fit. */
int catalog_kind_key(const struct catalog_kind *k, const char *project,
    const char *name, char *key, size_t len) SIGNET_WUR;

#endif
