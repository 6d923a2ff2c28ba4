/* A private key whose private operation is a round trip to the keyholder:
 * an EVP_PKEY that OpenSSL (CMS, X509_sign, X509_REQ_sign) uses like any
 * other, holding only the public half in signetd. */
#ifndef SIGNET_RKEY_H
#define SIGNET_RKEY_H

#include <openssl/evp.h>

#include "err.h"

struct kh;

/* kh must outlive the key. RSA keys sign with PKCS#1 v1.5, EC keys with
 * ECDSA; SHA-256/384/512 digests. Every signature names what it is for
 * and the keyholder journals it (pkcs11/PROTOCOL.md): a key from
 * rkey_load signs for the signing request bound to the calling thread
 * (rkey_bind_request) and refuses when none is. */
int rkey_load(struct kh *kh, const char *key_id, EVP_PKEY **out) SIGNET_WUR;
/* A key for an administrator's certificate work (CSR, self-signed
 * certificate): each signature is journaled as admin's (1..64 bytes). */
int rkey_load_admin(struct kh *kh, const char *key_id, const char *admin,
    EVP_PKEY **out) SIGNET_WUR;
/* Binds the calling thread's signatures to a signing request until the
 * next call; NULL unbinds. */
void rkey_bind_request(const char *request_id);
/* Why the calling thread's last private operation failed, as the
 * keyholder client said (SIGNET_ERR_KEYHOLDER: the channel is gone,
 * SIGNET_ERR_TOKEN: the token refused, ...), and forgets it; 0 when none
 * failed since the last call. OpenSSL's callbacks can only say "failed",
 * so the code travels beside them: a caller tells a dead keyholder from
 * a key that refuses. */
int rkey_take_error(void);

#endif
