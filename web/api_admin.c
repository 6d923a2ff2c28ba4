/* Administration under /api/v1/admin: projects, signing policies, users,
 * CI identities, trusted build systems, webhooks, keys in the token, certificates, the token's
 * state and the declarative configuration. Administrators only; every
 * change is audited (by catalog.c and here). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <civetweb.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "api.h"
#include "app.h"
#include "audit.h"
#include "catalog.h"
#include "catalog_read.h"
#include "http.h"
#include "jwks_refresh.h"
#include "keys.h"
#include "log.h"
#include "pki.h"
#include "rkey.h"
#include "signet_limits.h"
#include "users.h"
#include "wbuf.h"

static int
admin_only(struct api *a)
{
	if (workflow_is_admin(&a->who))
		return 0;
	http_error(a->c, 403, "forbidden", "administration is for users with "
	    "the administrator role");
	return -1;
}

/* path segment → catalog kind */
static const char *
admin_kind(const char *seg)
{
	if (strcmp(seg, "users") == 0)
		return "user";
	if (strcmp(seg, "identities") == 0)
		return "identity";
	if (strcmp(seg, "certificates") == 0)
		return "certificate";
	if (strcmp(seg, "projects") == 0)
		return "project";
	if (strcmp(seg, "build-systems") == 0)
		return "build-system";
	return NULL;
}

/* The catalog's refusals in the API's words where clients check them
 * (a conflict is an object still referenced; a limit is an invalid
 * document, 400); the rest as the error table says. */
static void
admin_catalog_error(struct api *a, int r, const char *msg)
{
	static const struct {
		int err;
		int status;
		const char *code;
	} words[] = {
		{ SIGNET_ERR_CONFLICT, 409, "still_referenced" },
		{ SIGNET_ERR_INVALID, 400, "invalid" },
		{ SIGNET_ERR_TOO_LARGE, 400, "invalid" },
	};
	size_t i;

	for (i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		if (words[i].err == r) {
			http_error(a->c, words[i].status, words[i].code, "%s",
			    msg[0] ? msg : signet_strerror(r));
			return;
		}
	api_workflow_error(a, r, NULL, msg);
}

/* Runs fn's output (one change per line) into a JSON array. */
struct admin_report {
	char *buf;
	size_t len;
	FILE *f;
};

static int
admin_report_open(struct admin_report *rep)
{
	memset(rep, 0, sizeof(*rep));
	rep->f = open_memstream(&rep->buf, &rep->len);
	return rep->f != NULL ? 0 : SIGNET_ERR_NOMEM;
}

static json_t *
admin_report_close(struct admin_report *rep)
{
	json_t *a = json_array();
	char *line, *save = NULL;

	fclose(rep->f);
	for (line = strtok_r(rep->buf, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save))
		json_array_append_new(a, json_string(line));
	free(rep->buf);
	return a;
}

/* The object as the list shows it (by name), or NULL with the error
 * sent. */
static json_t *
admin_find(struct api *a, const char *kind, const char *project,
    const char *name)
{
	json_t *o = NULL;
	int r;

	r = catalog_read_find(a->app->store, kind, project, name, &o);
	if (r == SIGNET_ERR_NOT_FOUND && project != NULL)
		http_error(a->c, 404, "not_found", "project '%.64s' has no "
		    "signing policy '%.64s'", project, name);
	else if (r == SIGNET_ERR_NOT_FOUND)
		http_error(a->c, 404, "not_found", "there is no %s '%.64s'",
		    kind, name);
	else if (r != 0)
		api_fail(a, r, "reading the catalog");
	return o;
}

static void
admin_list(struct api *a)
{
	json_t *items = NULL;
	int r;

	if (admin_only(a) != 0)
		return;
	if ((r = catalog_read_list(a->app->store, a->seg[1], &items)) != 0) {
		api_fail(a, r, "listing the catalog");
		return;
	}
	http_json(a->c, 200, json_pack("{s:o}", "items", items), NULL);
}

static void
admin_get(struct api *a)
{
	const char *kind = admin_kind(a->seg[1]);
	json_t *o;

	if (admin_only(a) != 0)
		return;
	if ((o = admin_find(a, kind, NULL, a->seg[2])) == NULL)
		return;
	http_json(a->c, 200, o, NULL);
}

/* POST creates, PUT creates or replaces the object at its path. */
static void
admin_put(struct api *a, const char *kind, const char *project,
    const char *path_name)
{
	struct admin_report rep;
	json_t *body = NULL, *changes;
	const char *key = strcmp(kind, "project") == 0 ||
	    strcmp(kind, "policy") == 0 ? "slug" : "name";
	char err[512] = "", loc[300];
	int r;

	if (admin_only(a) != 0 ||
	    api_json_body(a, SIGNET_MAX_ADMIN_BODY, &body) != 0)
		return;
	if (path_name != NULL) {
		if (api_str(body, key) == NULL)
			json_object_set_new(body, key, json_string(path_name));
		else if (strcmp(api_str(body, key), path_name) != 0) {
			http_error(a->c, 400, "invalid", "the %s in the body "
			    "(%.64s) is not the one in the path (%.64s)", key,
			    api_str(body, key), path_name);
			goto out;
		}
	}
	if ((r = admin_report_open(&rep)) != 0) {
		api_fail(a, r, "preparing the report of changes");
		goto out;
	}
	r = catalog_apply_one(a->app->store, a->app->kh, kind, project, body,
	    path_name == NULL, a->who.type, a->who.name, rep.f, err,
	    sizeof(err));
	changes = admin_report_close(&rep);
	if (r != 0) {
		json_decref(changes);
		admin_catalog_error(a, r, err);
		goto out;
	}
	log_info("admin: %s changed %s %s", a->identity, kind,
	    api_str(body, key));
	if (path_name == NULL) {
		snprintf(loc, sizeof(loc), "Location: %s/%s", a->ri->local_uri,
		    api_str(body, key));
		http_json(a->c, 201, json_pack("{s:o}", "changes", changes), loc);
	} else {
		http_json(a->c, 200, json_pack("{s:o}", "changes", changes),
		    NULL);
	}
out:
	json_decref(body);
}

static void
admin_create(struct api *a)
{
	admin_put(a, admin_kind(a->seg[1]), NULL, NULL);
}

static void
admin_replace(struct api *a)
{
	admin_put(a, admin_kind(a->seg[1]), NULL, a->seg[2]);
}

static void
admin_delete_common(struct api *a, const char *kind, const char *project,
    const char *name)
{
	char err[512] = "";
	int r;

	if (admin_only(a) != 0)
		return;
	r = catalog_delete(a->app->store, kind, project, name, a->who.type,
	    a->who.name, err, sizeof(err));
	if (r != 0) {
		admin_catalog_error(a, r, err);
		return;
	}
	log_info("admin: %s deleted %s %s", a->identity, kind, name);
	mg_response_header_start(a->c, 204);
	http_common_headers(a->c);
	mg_response_header_send(a->c);
}

static void
admin_delete(struct api *a)
{
	admin_delete_common(a, admin_kind(a->seg[1]), NULL, a->seg[2]);
}

static void
admin_policies(struct api *a)
{
	json_t *p;

	if (admin_only(a) != 0)
		return;
	if ((p = admin_find(a, "project", NULL, a->seg[2])) == NULL)
		return;
	http_json(a->c, 200, json_pack("{s:O}", "items",
	    json_object_get(p, "signingPolicies")), NULL);
	json_decref(p);
}

static void
admin_policy_get(struct api *a)
{
	json_t *o;

	if (admin_only(a) != 0)
		return;
	if ((o = admin_find(a, "policy", a->seg[2], a->seg[4])) == NULL)
		return;
	http_json(a->c, 200, o, NULL);
}

static void
admin_policy_create(struct api *a)
{
	admin_put(a, "policy", a->seg[2], NULL);
}

static void
admin_policy_replace(struct api *a)
{
	admin_put(a, "policy", a->seg[2], a->seg[4]);
}

static void
admin_policy_delete(struct api *a)
{
	admin_delete_common(a, "policy", a->seg[2], a->seg[4]);
}

static void
admin_password(struct api *a)
{
	json_t *body = NULL;
	const char *pw;
	int r;

	if (admin_only(a) != 0 || api_small_body(a, &body) != 0)
		return;
	if ((pw = api_str(body, "password")) == NULL) {
		http_error(a->c, 400, "missing_field", "send {\"password\": ...}");
		goto out;
	}
	r = users_change_password(a->app->store, a->who.type, a->who.name,
	    a->seg[2], pw, strlen(pw));
	if (r == SIGNET_ERR_NOT_FOUND) {
		http_error(a->c, 404, "not_found", "there is no user '%.64s'",
		    a->seg[2]);
	} else if (r == SIGNET_ERR_INVALID) {
		http_error(a->c, 400, "invalid", "a password has 12 to %d "
		    "characters", USERS_MAX_PASSWORD);
	} else if (r != 0) {
		api_fail(a, r, "setting the password");
	} else {
		mg_response_header_start(a->c, 204);
		http_common_headers(a->c);
		mg_response_header_send(a->c);
	}
out:
	if (pw != NULL)
		OPENSSL_cleanse((void *)(uintptr_t)pw, strlen(pw));
	json_decref(body);
}

/* --- keys, certificates, token -------------------------------------- */

/* The actor of a key operation: the caller. */
static struct keys_actor
admin_actor(const struct api *a)
{
	struct keys_actor who = { a->who.type, a->who.name };

	return who;
}

/* The answer to a failed key operation: the keys module's message,
 * with the API's words for the token's failures. */
static void
admin_key_error(struct api *a, int r, const char *msg)
{
	static const struct {
		int err;
		const char *code;
	} words[] = {
		{ SIGNET_ERR_INVALID, "invalid" },
		{ SIGNET_ERR_NOT_FOUND, "not_found" },
		{ SIGNET_ERR_EXISTS, "exists" },
	};
	const char *code = "token";
	size_t i;

	for (i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		if (words[i].err == r)
			code = words[i].code;
	api_workflow_error(a, r, code, msg);
}

/* Certificates with their expiry: daysLeft, expiringSoon; an empty
 * list when the catalog cannot be read (the token's state is shown
 * whatever the database's). */
static json_t *
admin_certificates(struct api *a, const char *key_id)
{
	json_t *out = NULL;

	if (catalog_read_certificates(a->app->store, key_id, &out) != 0)
		return json_array();
	return out;
}

static void
admin_certificates_list(struct api *a)
{
	if (admin_only(a) != 0)
		return;
	http_json(a->c, 200, json_pack("{s:o}", "items",
	    admin_certificates(a, NULL)), NULL);
}

static json_t *
admin_keys_json(struct api *a, int *err)
{
	json_t *out = NULL, *k;
	size_t i;

	if ((*err = keys_list(a->app->kh, &out)) != 0)
		return NULL;
	json_array_foreach(out, i, k)
		json_object_set_new(k, "certificates", admin_certificates(a,
		    api_str(k, "id")));
	return out;
}

static void
admin_keys(struct api *a)
{
	json_t *keys;
	int r;

	if (admin_only(a) != 0)
		return;
	if ((keys = admin_keys_json(a, &r)) == NULL) {
		http_error(a->c, http_status(r), "token", "the token's keys "
		    "cannot be listed: %s", signet_strerror(r));
		return;
	}
	http_json(a->c, 200, json_pack("{s:o}", "items", keys), NULL);
}

static void
admin_token(struct api *a)
{
	struct kh_status st;
	json_t *keys = NULL;
	int r, kr = 0;

	if (admin_only(a) != 0)
		return;
	memset(&st, 0, sizeof(st));
	r = keys_status(a->app->kh, &st);
	if (r == 0 && st.logged_in)
		keys = admin_keys_json(a, &kr);
	http_json(a->c, 200, json_pack("{s:b, s:b, s:s, s:s, s:s, s:s, s:i,"
	    " s:i, s:i, s:{s:b, s:b, s:b}, s:o, s:s?}",
	    "present", r == 0 && st.present, "loggedIn", r == 0 && st.logged_in,
	    "label", st.label, "manufacturer", st.manufacturer,
	    "model", st.model, "serial", st.serial, "keyCount",
	    (int)st.key_count, "slots", (int)st.slots, "freeSlots",
	    (int)st.free_slots, "pin",
	    "countLow", (st.flags & 0x00010000) != 0,	/* CKF_USER_PIN_COUNT_LOW */
	    "finalTry", (st.flags & 0x00020000) != 0,	/* CKF_USER_PIN_FINAL_TRY */
	    "locked", (st.flags & 0x00040000) != 0,	/* CKF_USER_PIN_LOCKED */
	    "keys", keys ? keys : json_array(),
	    "error", r != 0 ? signet_strerror(r) : kr != 0 ?
	    signet_strerror(kr) : NULL), NULL);
}

static void
admin_key_generate(struct api *a)
{
	struct keys_actor who = admin_actor(a);
	struct kh_key_info ki;
	json_t *body = NULL;
	char msg[256];
	int r, unaudited;

	if (admin_only(a) != 0 || api_small_body(a, &body) != 0)
		return;
	if (api_str(body, "label") == NULL ||
	    keys_type_find(api_str(body, "type")) == NULL) {
		http_error(a->c, 400, "invalid", "send {\"label\": ..., "
		    "\"type\": one of %s}", keys_type_names());
		goto out;
	}
	if ((r = keys_generate(a->app->kh, a->app->store, &who,
	    api_str(body, "label"), api_str(body, "type"), &ki, &unaudited,
	    msg, sizeof(msg))) != 0) {
		admin_key_error(a, r, msg);
		goto out;
	}
	http_json(a->c, 201, json_pack("{s:s, s:s, s:s, s:i}", "id", ki.id,
	    "label", ki.label, "type", keys_type_family(ki.type), "bits",
	    (int)ki.bits), NULL);
out:
	json_decref(body);
}

static void
admin_key_csr(struct api *a)
{
	struct keys_actor who = admin_actor(a);
	char key_id[KH_KEY_ID_HEX + 1], msg[256];
	json_t *body = NULL;
	char *pem = NULL;
	int r;

	if (admin_only(a) != 0 || api_json_body(a, SIGNET_MAX_JSON_BODY,
	    &body) != 0)
		return;
	if (api_str(body, "subject") == NULL) {
		http_error(a->c, 400, "missing_field", "send {\"subject\": "
		    "\"CN=...,O=...\", \"extensions\": {\"extendedKeyUsage\": "
		    "\"codeSigning\"}}");
		goto out;
	}
	if ((r = keys_csr(a->app->kh, &who, a->seg[2], api_str(body,
	    "subject"), json_object_get(body, "extensions"), key_id, &pem, msg,
	    sizeof(msg))) != 0) {
		admin_key_error(a, r, msg);
		goto out;
	}
	http_json(a->c, 200, json_pack("{s:s, s:s}", "key", key_id, "csrPem",
	    pem), NULL);
out:
	free(pem);
	json_decref(body);
}

/* Applies a certificate record built here (chainPem) as the catalog
 * does, answering 201 or the error. */
static void
admin_store_certificate(struct api *a, json_t *cert)
{
	struct admin_report rep;
	json_t *changes;
	char err[512] = "";
	int r;

	if ((r = admin_report_open(&rep)) != 0) {
		api_fail(a, r, "preparing the report of changes");
		return;
	}
	r = catalog_apply_one(a->app->store, a->app->kh, "certificate", NULL,
	    cert, 1, a->who.type, a->who.name, rep.f, err, sizeof(err));
	changes = admin_report_close(&rep);
	if (r != 0) {
		json_decref(changes);
		admin_catalog_error(a, r, err);
		return;
	}
	http_json(a->c, 201, json_pack("{s:O, s:O, s:O, s:o}", "name",
	    json_object_get(cert, "name"), "key", json_object_get(cert, "key"),
	    "purpose", json_object_get(cert, "purpose"), "changes", changes),
	    NULL);
}

static void
admin_key_self_signed(struct api *a)
{
	struct keys_actor who = admin_actor(a);
	char key_id[KH_KEY_ID_HEX + 1], msg[256];
	json_t *body = NULL, *cert = NULL;
	json_int_t days = 365;
	const char *name, *subject;
	char *pem = NULL;
	int r;

	if (admin_only(a) != 0 || api_json_body(a, SIGNET_MAX_JSON_BODY,
	    &body) != 0)
		return;
	name = api_str(body, "name");
	subject = api_str(body, "subject");
	if (json_is_integer(json_object_get(body, "days")))
		days = json_integer_value(json_object_get(body, "days"));
	if (name == NULL || subject == NULL || days < KEYS_MIN_DAYS ||
	    days > KEYS_MAX_DAYS) {
		http_error(a->c, 400, "invalid", "send {\"name\": certificate "
		    "name, \"subject\": \"CN=...\", \"days\": %d-%d}",
		    KEYS_MIN_DAYS, KEYS_MAX_DAYS);
		goto out;
	}
	if ((r = keys_self_signed(a->app->kh, &who, a->seg[2], subject,
	    (int)days, key_id, &pem, msg, sizeof(msg))) != 0) {
		admin_key_error(a, r, msg);
		goto out;
	}
	/* self-signed certificates are for test-signing only */
	cert = json_pack("{s:s, s:s, s:s, s:s}", "name", name, "key", key_id,
	    "purpose", "test", "chainPem", pem);
	if (cert != NULL)
		admin_store_certificate(a, cert);
	else
		api_fail(a, SIGNET_ERR_NOMEM, "building the certificate record");
out:
	free(pem);
	json_decref(cert);
	json_decref(body);
}

/* A certificate chain from a CA: PEM, DER or PKCS#7 (base64 in JSON),
 * matched to the token key its leaf certifies. */
static void
admin_certificate_import(struct api *a)
{
	json_t *body = NULL, *cert = NULL;
	const char *name, *purpose, *pem_in, *b64, *want;
	STACK_OF(X509) *sk = NULL, *ordered = NULL;
	unsigned char *der = NULL;
	char *pem = NULL, key_id[KH_KEY_ID_HEX + 1] = "";
	int len = 0, r;

	if (admin_only(a) != 0 || api_json_body(a, SIGNET_MAX_ADMIN_BODY, &body) != 0)
		return;
	name = api_str(body, "name");
	purpose = api_str(body, "purpose");
	pem_in = api_str(body, "chainPem");
	b64 = api_str(body, "chainBase64");
	want = api_str(body, "key");
	if (name == NULL || purpose == NULL || (pem_in == NULL) == (b64 == NULL)) {
		http_error(a->c, 400, "invalid", "send {\"name\", \"purpose\": "
		    "\"test\" | \"release\" | \"timestamping\", and \"chainPem\" (PEM) or "
		    "\"chainBase64\" (DER or PKCS#7), optionally \"key\"}");
		goto out;
	}
	if (pem_in != NULL) {
		r = pki_chain_from_any((const unsigned char *)pem_in,
		    strlen(pem_in), &sk);
	} else {
		size_t blen = strlen(b64);

		if ((der = malloc(blen / 4 * 3 + 3)) == NULL ||
		    (len = EVP_DecodeBlock(der, (const unsigned char *)b64,
		    (int)blen)) <= 0) {
			http_error(a->c, 400, "invalid", "chainBase64 is not "
			    "base64");
			goto out;
		}
		/* EVP_DecodeBlock counts padding as data */
		while (blen > 0 && b64[blen - 1] == '=') {
			blen--;
			len--;
		}
		r = pki_chain_from_any(der, (size_t)len, &sk);
	}
	if (r != 0) {
		http_error(a->c, 400, "invalid", "the chain is not PEM, DER or "
		    "PKCS#7 certificates (at most %d)", SIGNET_MAX_CHAIN);
		goto out;
	}
	r = keys_match_chain(a->app->kh, sk, want, &ordered, key_id);
	if (r != 0 && r != SIGNET_ERR_NOT_FOUND) {
		http_error(a->c, http_status(r), "token", "the token's keys "
		    "cannot be listed: %s", signet_strerror(r));
		goto out;
	}
	if (ordered == NULL) {
		http_error(a->c, 400, "no_matching_key", "no certificate in this "
		    "chain certifies %s; import the chain issued for a CSR "
		    "made with a token key", want ? "that token key" :
		    "a key in the token");
		goto out;
	}
	if ((r = pki_chain_to_pem(ordered, &pem)) != 0) {
		api_fail(a, r, "encoding the chain");
		goto out;
	}
	cert = json_pack("{s:s, s:s, s:s, s:s}", "name", name, "key", key_id,
	    "purpose", purpose, "chainPem", pem);
	if (cert != NULL)
		admin_store_certificate(a, cert);
out:
	free(der);
	free(pem);
	sk_X509_pop_free(sk, X509_free);
	sk_X509_pop_free(ordered, X509_free);
	json_decref(cert);
	json_decref(body);
}

/* Fetches a build system's jwksUrl now (docs/origin.md). The caller is
 * the audit entry's actor. A fetch that fails or a document that is
 * refused is a 502: the appliance acted as a client of that server. */
static void
admin_refresh_jwks(struct api *a)
{
	json_t *ids = NULL;
	char err[1024] = "";
	int changed = 0, r;

	if (admin_only(a) != 0)
		return;
	if (!catalog_valid_name(a->seg[2])) {
		http_error(a->c, 404, "not_found", "there is no build-system "
		    "'%.64s'", a->seg[2]);
		return;
	}
	r = jwks_refresh_one(a->app->jwks_refresh, a->seg[2], a->who.type,
	    a->who.name, &changed, &ids, err, sizeof(err));
	switch (r) {
	case 0:
		log_info("admin: %s refreshed the JWKS of build system %s%s",
		    a->identity, a->seg[2], changed ? "" : " (unchanged)");
		http_json(a->c, 200, json_pack("{s:b, s:o}", "changed", changed,
		    "keyIds", ids), NULL);
		break;
	case SIGNET_ERR_NOT_FOUND:
		http_error(a->c, 404, "not_found", "%s", err);
		break;
	case SIGNET_ERR_CONFLICT:
		http_error(a->c, 409, "conflict", "%s", err);
		break;
	case SIGNET_ERR_UNAVAILABLE:
	case SIGNET_ERR_INVALID:
	case SIGNET_ERR_TOO_LARGE:
		http_error(a->c, 502, "jwks_refresh_failed", "%s; the stored "
		    "JWKS stays in use", err);
		break;
	default:
		api_fail(a, r, "refreshing the JWKS");
	}
}

/* --- the declarative document --------------------------------------- */

static void
admin_export(struct api *a)
{
	json_t *doc = NULL;
	int r;

	if (admin_only(a) != 0)
		return;
	if ((r = catalog_read_export(a->app->store, &doc)) != 0) {
		api_fail(a, r, "exporting the configuration");
		return;
	}
	http_json(a->c, 200, doc, NULL);
}

static void
admin_apply(struct api *a)
{
	struct admin_report rep;
	json_t *doc = NULL, *changes;
	char dry[8], err[512] = "";
	int has_dry, dry_run, r;

	if (admin_only(a) != 0 ||
	    api_query(a, "dryRun", dry, sizeof(dry), &has_dry) != 0 ||
	    api_json_body(a, SIGNET_MAX_ADMIN_BODY, &doc) != 0)
		return;
	dry_run = has_dry && (strcmp(dry, "true") == 0 || strcmp(dry, "1") == 0);
	if ((r = admin_report_open(&rep)) != 0) {
		api_fail(a, r, "preparing the report of changes");
		goto out;
	}
	/* chainFile names a file on the appliance: not what a remote
	 * administrator means; chainPem is */
	r = catalog_apply(a->app->store, a->app->kh, doc, NULL,
	    dry_run, a->who.type, a->who.name, rep.f, err, sizeof(err));
	changes = admin_report_close(&rep);
	if (r != 0) {
		json_decref(changes);
		admin_catalog_error(a, r, err);
		goto out;
	}
	http_json(a->c, 200, json_pack("{s:o, s:b}", "changes", changes,
	    "dryRun", dry_run), NULL);
out:
	json_decref(doc);
}

const struct api_route api_admin_routes[] = {
	{ "GET", 2, { "admin", "export" }, 0, admin_export },
	{ "POST", 2, { "admin", "apply" }, 0, admin_apply },
	{ "GET", 2, { "admin", "token" }, 0, admin_token },
	{ "GET", 2, { "admin", "keys" }, 0, admin_keys },
	{ "POST", 2, { "admin", "keys" }, 0, admin_key_generate },
	{ "POST", 4, { "admin", "keys", "*", "csr" }, 0, admin_key_csr },
	{ "POST", 4, { "admin", "keys", "*", "self-signed" }, 0,
	    admin_key_self_signed },
	{ "GET", 2, { "admin", "certificates" }, 0, admin_certificates_list },
	{ "POST", 2, { "admin", "certificates" }, 0, admin_certificate_import },
	{ "GET", 3, { "admin", "certificates", "*" }, 0, admin_get },
	{ "DELETE", 3, { "admin", "certificates", "*" }, 0, admin_delete },
	{ "POST", 4, { "admin", "users", "*", "password" }, 0, admin_password },
	{ "GET", 4, { "admin", "projects", "*", "signing-policies" }, 0,
	    admin_policies },
	{ "POST", 4, { "admin", "projects", "*", "signing-policies" }, 0,
	    admin_policy_create },
	{ "GET", 5, { "admin", "projects", "*", "signing-policies", "*" }, 0,
	    admin_policy_get },
	{ "PUT", 5, { "admin", "projects", "*", "signing-policies", "*" }, 0,
	    admin_policy_replace },
	{ "DELETE", 5, { "admin", "projects", "*", "signing-policies", "*" }, 0,
	    admin_policy_delete },
	{ "GET", 2, { "admin", "users" }, 0, admin_list },
	{ "GET", 2, { "admin", "identities" }, 0, admin_list },
	{ "GET", 2, { "admin", "projects" }, 0, admin_list },
	{ "POST", 2, { "admin", "users" }, 0, admin_create },
	{ "POST", 2, { "admin", "identities" }, 0, admin_create },
	{ "POST", 2, { "admin", "projects" }, 0, admin_create },
	{ "GET", 3, { "admin", "users", "*" }, 0, admin_get },
	{ "GET", 3, { "admin", "identities", "*" }, 0, admin_get },
	{ "GET", 3, { "admin", "projects", "*" }, 0, admin_get },
	{ "PUT", 3, { "admin", "users", "*" }, 0, admin_replace },
	{ "PUT", 3, { "admin", "identities", "*" }, 0, admin_replace },
	{ "PUT", 3, { "admin", "projects", "*" }, 0, admin_replace },
	{ "DELETE", 3, { "admin", "users", "*" }, 0, admin_delete },
	{ "DELETE", 3, { "admin", "identities", "*" }, 0, admin_delete },
	{ "DELETE", 3, { "admin", "projects", "*" }, 0, admin_delete },
	/* trusted build systems (docs/origin.md) */
	{ "GET", 2, { "admin", "build-systems" }, 0, admin_list },
	{ "POST", 2, { "admin", "build-systems" }, 0, admin_create },
	{ "GET", 3, { "admin", "build-systems", "*" }, 0, admin_get },
	{ "PUT", 3, { "admin", "build-systems", "*" }, 0, admin_replace },
	{ "DELETE", 3, { "admin", "build-systems", "*" }, 0, admin_delete },
	{ "POST", 4, { "admin", "build-systems", "*", "refresh-jwks" }, 0,
	    admin_refresh_jwks },
	{ NULL, 0, { NULL }, 0, NULL },
};
