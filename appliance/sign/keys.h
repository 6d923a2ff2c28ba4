/* The keys in the token as administrators work with them, for the admin
 * API and the signet CLI alike: the key types Signet generates, key
 * generation with its audit entry, the token's keys as a list,
 * certificate signing requests and self-signed certificates made with a
 * token key (through rkey and pki), and the token key a certificate
 * chain certifies. */
#ifndef SIGNET_KEYS_H
#define SIGNET_KEYS_H

#include <stddef.h>

#include <jansson.h>
#include <openssl/x509.h>

#include "err.h"
#include "khclient.h"
#include "store.h"

/* Days a self-signed certificate may be valid. */
#define KEYS_MIN_DAYS 1
#define KEYS_MAX_DAYS 3650

struct keys_type {
	const char *name;	/* "rsa3072", what callers send */
	int type;		/* enum kh_key_type */
	unsigned bits;
};

/* The key type called name, or NULL. */
const struct keys_type *keys_type_find(const char *name);
/* "rsa3072, rsa4096, p256, p384": the names, for messages. */
const char *keys_type_names(void);
/* "rsa", "ec" or "unknown" for an enum kh_key_type. */
const char *keys_type_family(int type);

/* Who acts: written in the audit log and the keyholder's journal. */
struct keys_actor {
	const char *type;	/* "user", "system" */
	const char *name;	/* 1..64 bytes */
};

/* The token's state. */
int keys_status(struct kh *kh, struct kh_status *st) SIGNET_WUR;
/* The token's keys as [{id, label, type, bits}] (new array). */
int keys_list(struct kh *kh, json_t **out) SIGNET_WUR;
/* Generates a key pair labelled label of the type called type in the
 * token and records key.generated in the audit log of s. 0 and the key;
 * *unaudited is set when the key was made but s is NULL or the entry
 * could not be written. SIGNET_ERR_INVALID (unknown type, bad label),
 * SIGNET_ERR_EXISTS (label taken) or the keyholder's error, with msg. */
int keys_generate(struct kh *kh, struct store *s, const struct keys_actor *who,
    const char *label, const char *type, struct kh_key_info *out,
    int *unaudited, char *msg, size_t len) SIGNET_WUR;
/* A PKCS#10 request for subject, signed with the token key key (id or
 * label), with the requested extensions (name → OpenSSL value; NULL for
 * none). 0, the key's id and the PEM (free()); SIGNET_ERR_NOT_FOUND (no
 * such key), SIGNET_ERR_INVALID (subject or extensions) or the token's
 * error, with msg. */
int keys_csr(struct kh *kh, const struct keys_actor *who, const char *key,
    const char *subject, const json_t *extensions,
    char key_id[KH_KEY_ID_HEX + 1], char **pem, char *msg,
    size_t len) SIGNET_WUR;
/* A self-signed certificate for subject, days long (KEYS_MIN_DAYS to
 * KEYS_MAX_DAYS), for test signing; as keys_csr. */
int keys_self_signed(struct kh *kh, const struct keys_actor *who,
    const char *key, const char *subject, int days,
    char key_id[KH_KEY_ID_HEX + 1], char **pem, char *msg,
    size_t len) SIGNET_WUR;
/* The token key (want: its id or label, or NULL for any) whose
 * certificate is in sk, and sk ordered from that leaf up (pki_order_chain).
 * SIGNET_ERR_NOT_FOUND: no certificate in sk certifies such a key. */
int keys_match_chain(struct kh *kh, STACK_OF(X509) *sk, const char *want,
    STACK_OF(X509) **ordered, char key_id[KH_KEY_ID_HEX + 1]) SIGNET_WUR;

#endif
