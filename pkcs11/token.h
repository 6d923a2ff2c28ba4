/* The PKCS#11 token as the keyholder sees it: one slot of one module.
 * libp11 does slots, keys and signing; the raw PKCS#11 API (same module,
 * same application) does login, token flags and key generation. Only the
 * keyholder links this. Not thread-safe: the keyholder is single-threaded. */
#ifndef SIGNET_TOKEN_H
#define SIGNET_TOKEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "khproto.h"

struct token;

/* Loads the module and picks the token by label (NULL: the first slot with
 * a token). A missing token is not an error: status reports it absent and
 * every other operation fails with SIGNET_ERR_TOKEN. */
int token_open(const char *module, const char *label,
    struct token **out) SIGNET_WUR;
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
/* sig has room for KH_MAX_SIG bytes */
int token_sign(struct token *t, const struct kh_sign_req *q, uint8_t *sig,
    size_t *siglen) SIGNET_WUR;
int token_generate(struct token *t, const struct kh_gen_req *q,
    struct kh_key_info *out) SIGNET_WUR;

#endif
