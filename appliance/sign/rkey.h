/* A private key whose private operation is a round trip to the keyholder:
 * an EVP_PKEY that OpenSSL (CMS, X509_sign, X509_REQ_sign) uses like any
 * other, holding only the public half in signetd. */
#ifndef SIGNET_RKEY_H
#define SIGNET_RKEY_H

#include <openssl/evp.h>

#include "err.h"

struct kh;

/* kh must outlive the key. RSA keys sign with PKCS#1 v1.5, EC keys with
 * ECDSA; SHA-256/384/512 digests. */
int rkey_load(struct kh *kh, const char *key_id, EVP_PKEY **out) SIGNET_WUR;

#endif
