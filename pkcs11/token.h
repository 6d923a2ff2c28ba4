/* The PKCS#11 token as the keyholder sees it: one slot of one module.
 * Everything goes through the module's raw PKCS#11 API, one function list
 * and so one application: slots, keys, login, token flags, key
 * generation, and signing on sessions of its own. Only the keyholder
 * links this. The keyholder's main thread makes every call but
 * token_sign; token_sign may run on as many threads at once as there are
 * signing sessions, each thread with its own session number. */
#ifndef SIGNET_TOKEN_H
#define SIGNET_TOKEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "khproto.h"

struct token;

/* Loads the module and picks the token by label (NULL: the first slot with
 * a token), and opens up to sessions signing sessions (fewer when the
 * token's ulMaxSessionCount leaves less room). A missing token is not an
 * error: status reports it absent and every other operation fails with
 * SIGNET_ERR_TOKEN. */
int token_open(const char *module, const char *label, unsigned sessions,
    struct token **out) SIGNET_WUR;
/* Signing sessions open: token_sign takes 0 .. this - 1. */
unsigned token_sessions(const struct token *t);
void token_close(struct token *t);

/* One C_Login as the user. SIGNET_ERR_PIN_INCORRECT, SIGNET_ERR_PIN_LOCKED
 * or SIGNET_ERR_TOKEN; the PIN is not kept. */
int token_login(struct token *t, const uint8_t *pin, size_t len) SIGNET_WUR;
int token_status(struct token *t, struct kh_status *st) SIGNET_WUR;
/* keys [offset, offset + max) of the usable keys; *total counts them all */
int token_list(struct token *t, uint32_t offset, struct kh_key_info *out,
    size_t max, size_t *n, uint32_t *total) SIGNET_WUR;
/* SubjectPublicKeyInfo DER, malloc'ed */
int token_pubkey(struct token *t, const char *key_id, uint8_t **der,
    size_t *len) SIGNET_WUR;
/* On signing session sess, through the raw API (C_SignInit, C_Sign):
 * RSA_PKCS1 as CKM_RSA_PKCS over a DigestInfo, RSA_PSS encoded here and
 * signed with CKM_RSA_X_509, ECDSA with CKM_ECDSA and returned DER. sig
 * has room for KH_MAX_SIG bytes. ready(arg), when not NULL, runs once the
 * token has taken the operation (the key exists and fits) and before it
 * signs; when it fails, the signature is made, wiped and not returned,
 * and its code is the result. */
int token_sign(struct token *t, unsigned sess, const struct kh_sign_req *q,
    int (*ready)(void *arg), void *arg, uint8_t *sig,
    size_t *siglen) SIGNET_WUR;
int token_generate(struct token *t, const struct kh_gen_req *q,
    struct kh_key_info *out) SIGNET_WUR;

#endif
