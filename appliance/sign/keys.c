#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "audit.h"
#include "keys.h"
#include "log.h"
#include "pki.h"
#include "rkey.h"

/* The key types Signet generates: those the keyholder accepts
 * (khproto_valid_gen) that a code-signing CA still certifies. RSA keys
 * of 2048 bits are left out: the CA/Browser Forum's Baseline
 * Requirements for Code Signing Certificates (6.1.5) ask for 3072 bits
 * at least since June 2021. */
static const struct keys_type keys_types[] = {
	{ "rsa3072", KH_KEY_RSA, 3072 },
	{ "rsa4096", KH_KEY_RSA, 4096 },
	{ "p256", KH_KEY_EC, 256 },
	{ "p384", KH_KEY_EC, 384 },
};

#define KEYS_NTYPES (sizeof(keys_types) / sizeof(keys_types[0]))

const struct keys_type *
keys_type_find(const char *name)
{
	size_t i;

	for (i = 0; name != NULL && i < KEYS_NTYPES; i++)
		if (strcmp(keys_types[i].name, name) == 0)
			return &keys_types[i];
	return NULL;
}

const char *
keys_type_names(void)
{
	static char names[64];
	size_t i, n = 0;

	if (names[0] != '\0')
		return names;
	for (i = 0; i < KEYS_NTYPES && n < sizeof(names); i++)
		n += (size_t)snprintf(names + n, sizeof(names) - n, "%s%s",
		    i ? ", " : "", keys_types[i].name);
	return names;
}

const char *
keys_type_family(int type)
{
	return type == KH_KEY_RSA ? "rsa" : type == KH_KEY_EC ? "ec" :
	    "unknown";
}

int
keys_status(struct kh *kh, struct kh_status *st)
{
	return kh_status(kh, st);
}

int
keys_list(struct kh *kh, json_t **out)
{
	struct kh_key_info *keys = NULL;
	json_t *a = NULL, *e;
	size_t n = 0, i;
	int r;

	*out = NULL;
	if ((r = kh_list_keys(kh, &keys, &n)) != 0)
		return r;
	if ((a = json_array()) == NULL) {
		r = SIGNET_ERR_NOMEM;
		goto out;
	}
	for (i = 0; i < n; i++) {
		e = json_pack("{s:s, s:s, s:s, s:i}", "id", keys[i].id,
		    "label", keys[i].label, "type",
		    keys_type_family(keys[i].type), "bits", (int)keys[i].bits);
		if (e == NULL || json_array_append_new(a, e) != 0) {
			r = SIGNET_ERR_NOMEM;
			goto out;
		}
	}
	*out = a;
	a = NULL;
	r = 0;
out:
	json_decref(a);
	free(keys);
	return r;
}

/* The audit entry of a generated key, in a transaction of its own. */
static int
keys_audit(struct store *s, const struct keys_actor *who,
    const struct kh_key_info *ki, const char *type)
{
	struct store_txn *t = NULL;
	json_t *d;
	int r;

	if (s == NULL)
		return SIGNET_ERR_INVALID;
	if ((d = json_pack("{s:s, s:s, s:i}", "label", ki->label, "type",
	    type, "bits", (int)ki->bits)) == NULL)
		return SIGNET_ERR_NOMEM;
	if ((r = store_txn_begin(s, 1, &t)) == 0 &&
	    (r = audit_append(t, who->type, who->name, "key.generated", ki->id,
	    d)) == 0)
		r = store_txn_commit(&t);
	store_txn_abort(&t);
	json_decref(d);
	return r;
}

int
keys_generate(struct kh *kh, struct store *s, const struct keys_actor *who,
    const char *label, const char *type, struct kh_key_info *out,
    int *unaudited, char *msg, size_t len)
{
	const struct keys_type *kt = keys_type_find(type);
	struct kh_key_info ki;
	int r;

	*unaudited = 0;
	memset(out, 0, sizeof(*out));
	if (label == NULL || *label == '\0' || kt == NULL)
		return signet_errf(msg, len, SIGNET_ERR_INVALID, "a key needs a "
		    "label and a type: %s", keys_type_names());
	if (kh_find_key(kh, label, &ki) == 0)
		return signet_errf(msg, len, SIGNET_ERR_EXISTS, "the token already "
		    "has a key labelled '%.64s' (id %s)", label, ki.id);
	if ((r = kh_generate(kh, label, kt->type, kt->bits, who->name,
	    out)) != 0)
		return signet_errf(msg, len, r, "generating the key failed: %s",
		    signet_strerror(r));
	if (keys_audit(s, who, out, kt->name) != 0) {
		log_err("keys: key %s generated but not audited", out->id);
		*unaudited = 1;
	}
	log_info("keys: %s generated key %s (%s)", who->name, out->id,
	    kt->name);
	return 0;
}

/* The token key key (id or label) as a key object for certificate work. */
static int
keys_load(struct kh *kh, const struct keys_actor *who, const char *key,
    char key_id[KH_KEY_ID_HEX + 1], EVP_PKEY **pk, char *msg, size_t len)
{
	struct kh_key_info ki;
	int r;

	*pk = NULL;
	if (key == NULL || kh_find_key(kh, key, &ki) != 0)
		return signet_errf(msg, len, SIGNET_ERR_NOT_FOUND, "the token has "
		    "no key '%.64s'", key ? key : "");
	if ((r = rkey_load_admin(kh, ki.id, who->name, pk)) != 0)
		return signet_errf(msg, len, r, "key %s cannot be used: %s", ki.id,
		    signet_strerror(r));
	memcpy(key_id, ki.id, sizeof(ki.id));
	return 0;
}

int
keys_csr(struct kh *kh, const struct keys_actor *who, const char *key,
    const char *subject, const json_t *extensions,
    char key_id[KH_KEY_ID_HEX + 1], char **pem, char *msg, size_t len)
{
	EVP_PKEY *pk = NULL;
	int r;

	*pem = NULL;
	if (subject == NULL)
		return signet_errf(msg, len, SIGNET_ERR_INVALID, "a certificate "
		    "signing request needs a subject (\"CN=...,O=...\")");
	if ((r = keys_load(kh, who, key, key_id, &pk, msg, len)) != 0)
		return r;
	r = pki_make_csr_ext(pk, subject, extensions, pem);
	if (r == SIGNET_ERR_INVALID)
		r = signet_errf(msg, len, r, "the subject must look like "
		    "\"CN=Name,O=Organization\" and extensions map OpenSSL "
		    "extension names to values");
	else if (r != 0)
		r = signet_errf(msg, len, r, "the request could not be signed: %s",
		    signet_strerror(r));
	EVP_PKEY_free(pk);
	return r;
}

int
keys_self_signed(struct kh *kh, const struct keys_actor *who,
    const char *key, const char *subject, int days,
    char key_id[KH_KEY_ID_HEX + 1], char **pem, char *msg, size_t len)
{
	EVP_PKEY *pk = NULL;
	int r;

	*pem = NULL;
	if (subject == NULL || days < KEYS_MIN_DAYS || days > KEYS_MAX_DAYS)
		return signet_errf(msg, len, SIGNET_ERR_INVALID, "a self-signed "
		    "certificate needs a subject (\"CN=...\") and %d to %d days",
		    KEYS_MIN_DAYS, KEYS_MAX_DAYS);
	if ((r = keys_load(kh, who, key, key_id, &pk, msg, len)) != 0)
		return r;
	r = pki_self_signed(pk, subject, days, pem);
	if (r == SIGNET_ERR_INVALID)
		r = signet_errf(msg, len, r, "the subject must look like "
		    "\"CN=Name,O=Organization\"");
	else if (r != 0)
		r = signet_errf(msg, len, r, "the certificate could not be made: "
		    "%s", signet_strerror(r));
	EVP_PKEY_free(pk);
	return r;
}

int
keys_match_chain(struct kh *kh, STACK_OF(X509) *sk, const char *want,
    STACK_OF(X509) **ordered, char key_id[KH_KEY_ID_HEX + 1])
{
	struct kh_key_info *keys = NULL;
	EVP_PKEY *pub = NULL;
	size_t n = 0, i;
	int r;

	*ordered = NULL;
	if ((r = kh_list_keys(kh, &keys, &n)) != 0)
		return r;
	for (i = 0; i < n && *ordered == NULL; i++) {
		if (want != NULL && strcmp(want, keys[i].id) != 0 &&
		    strcmp(want, keys[i].label) != 0)
			continue;
		if (kh_public_key(kh, keys[i].id, &pub) != 0)
			continue;
		if (pki_order_chain(sk, pub, ordered) == 0)
			memcpy(key_id, keys[i].id, sizeof(keys[i].id));
		EVP_PKEY_free(pub);
		pub = NULL;
	}
	free(keys);
	return *ordered != NULL ? 0 : SIGNET_ERR_NOT_FOUND;
}
