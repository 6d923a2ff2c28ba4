/* The hashes the Signet PKCS#11 module signs, and the DigestInfo
 * (RFC 8017 section 9.2) a caller of CKM_RSA_PKCS hands over instead of
 * a bare digest: the module must learn which hash it is to ask the
 * appliance for a hash signature. */
#ifndef SIGNET_P11_DI_H
#define SIGNET_P11_DI_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

#define SP11_MAX_DIGEST	64

enum sp11_hash { SP11_SHA256, SP11_SHA384, SP11_SHA512, SP11_NHASH };

/* "sha256" ... as the appliance names them; NULL for no hash. */
const char *sp11_hash_name(int hash);
/* The digest length of hash, 0 for no hash. */
size_t sp11_hash_len(int hash);
/* The hash whose digest is len bytes long (CKM_ECDSA), or -1. */
int sp11_hash_of_len(size_t len);

/* Parses in[len] as a DER DigestInfo of SHA-256, -384 or -512 (the
 * AlgorithmIdentifier with NULL parameters or none, RFC 8017 appendix
 * A.2.4 and its note on absent parameters) and nothing after it. 0 and
 * the hash and the digest (pointing into in), or SIGNET_ERR_INVALID. */
int sp11_di_parse(const uint8_t *in, size_t len, int *hash,
    const uint8_t **digest, size_t *dlen) SIGNET_WUR;

#endif
