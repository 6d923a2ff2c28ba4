/* X.509 helpers around token keys: certificate chains, PKCS#10 requests
 * and self-signed test certificates, names and fingerprints. */
#ifndef SIGNET_PKI_H
#define SIGNET_PKI_H

#include <stddef.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include <jansson.h>

#include "err.h"

/* PEM certificates, leaf first, at most SIGNET_MAX_CHAIN; nothing else
 * may be in the text. */
int pki_chain_from_pem(const char *pem, size_t len,
    STACK_OF(X509) **out) SIGNET_WUR;
int pki_chain_to_pem(STACK_OF(X509) *chain, char **pem) SIGNET_WUR;
/* "CN=Name,O=Org" (RFC 2253 order: most specific first) → X509_NAME */
int pki_parse_name(const char *s, X509_NAME **out) SIGNET_WUR;
/* RFC 2253 text (malloc'ed), as `openssl x509 -nameopt RFC2253` prints */
char *pki_name_text(const X509_NAME *n);
int pki_cert_sha256(X509 *x, char hex[65]) SIGNET_WUR;
/* RFC 3339 UTC text of an ASN1_TIME */
int pki_time_text(const ASN1_TIME *t, char out[32]) SIGNET_WUR;
/* PKCS#10 request signed by key (a token key through rkey) */
int pki_make_csr(EVP_PKEY *key, const char *subject, char **pem) SIGNET_WUR;
/* The same with requested extensions: name → OpenSSL config value, e.g.
 * "extendedKeyUsage" → "codeSigning"; NULL for none. */
int pki_make_csr_ext(EVP_PKEY *key, const char *subject,
    const json_t *extensions, char **pem) SIGNET_WUR;
/* Certificates in any of the forms CAs hand out: PEM, DER, PKCS#7
 * (PEM or DER). At most SIGNET_MAX_CHAIN. */
int pki_chain_from_any(const unsigned char *buf, size_t len,
    STACK_OF(X509) **out) SIGNET_WUR;
/* Reorders sk: leaf (whose key is pub) first, then each issuer as found;
 * certificates not on that path are dropped. */
int pki_order_chain(STACK_OF(X509) *sk, EVP_PKEY *pub,
    STACK_OF(X509) **out) SIGNET_WUR;
/* Whole days from now until an RFC 3339 UTC time (negative: past). */
int pki_days_left(const char *rfc3339, long *days) SIGNET_WUR;
/* Is x a time-stamping authority's certificate as RFC 3161 section 2.3
 * asks: extended key usage timeStamping alone, critical (OpenSSL's
 * verifier refuses anything else, X509_PURPOSE_TIMESTAMP_SIGN)? 0, or
 * SIGNET_ERR_INVALID with what is wrong in msg. */
int pki_check_timestamping(X509 *x, char *msg, size_t len) SIGNET_WUR;
/* Self-signed code-signing certificate for test-signing policies */
int pki_self_signed(EVP_PKEY *key, const char *subject, int days,
    char **pem) SIGNET_WUR;

#endif
