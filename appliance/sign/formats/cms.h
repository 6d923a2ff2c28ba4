/* Detached CMS SignedData (RFC 5652) over an artifact's recorded digest. */
#ifndef SIGNET_CMS_H
#define SIGNET_CMS_H

#include <stddef.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "err.h"
#include "format.h"

/* Signs the SHA-256 digest of content that is not included: signed
 * attributes contentType, signingTime and messageDigest (RFC 5652 5.3),
 * the whole chain in certificates. request_id names the signing request
 * the signature is for: the keyholder journals it (rkey.h). Free *der
 * with OPENSSL_free(). */
int cms_sign_detached(EVP_PKEY *key, X509 *signer, STACK_OF(X509) *chain,
    const unsigned char sha256[32], const char *request_id,
    unsigned char **der, size_t *derlen) SIGNET_WUR;

/* The detached-cms entry of the format registry: signs the job's recorded
 * digest and stores the DER signature. */
int cms_format_sign(const struct format_job *job, const struct format_key *key,
    struct format_output *out, char *reason, size_t rlen) SIGNET_WUR;

/* For the audit (signet audit reconcile): from a detached CMS with one
 * signer, the SHA-256 of its signed attributes (what the key signed, and
 * what the keyholder journaled) and its messageDigest (the content's
 * SHA-256). SIGNET_ERR_INVALID when der is not such a CMS. */
int cms_signed_digests(const unsigned char *der, size_t len,
    unsigned char attrs_sha256[32],
    unsigned char content_sha256[32]) SIGNET_WUR;

#endif
