/* Hash signing requests: a build machine (the PKCS#11 module,
 * pkcs11/signet_p11.c) hashes a file the appliance never sees and asks
 * for a signature over the digest. This module checks what it states
 * (algorithm, digest, mechanism, file name, tool, origin) and turns it
 * into the request's "hash" object; the signer reads the same object
 * back into the keyholder's SIGN parameters. */
#ifndef SIGNET_HASHREQ_H
#define SIGNET_HASHREQ_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "err.h"
#include "signet_limits.h"

#define HASHREQ_MAX_DIGEST	64	/* SHA-512 */

/* Parses the body of POST .../hash-signing-requests (an object of
 * strings: hashAlgorithm, digest (hex), signatureAlgorithm, fileName,
 * tool, description, origin.repositoryUrl ... origin.idToken). 0 and
 * *hash {algorithm, digest, mechanism, fileName, tool} and *origin (new
 * objects), or SIGNET_ERR_INVALID with msg naming the field (a digest of
 * the wrong length names the length its algorithm has). */
int hashreq_parse(const json_t *body, json_t **hash, json_t **origin,
    char *msg, size_t len) SIGNET_WUR;
/* Whether the mechanism of hash fits a key of OpenSSL base type
 * key_type (EVP_PKEY_RSA, EVP_PKEY_EC); SIGNET_ERR_INVALID and msg. */
int hashreq_fits_key(const json_t *hash, int key_type, char *msg,
    size_t len) SIGNET_WUR;
/* The keyholder's SIGN parameters (enum kh_mech, enum kh_hash, the
 * digest) of a recorded hash object; SIGNET_ERR_STORE when it is not
 * one hashreq_parse made. */
int hashreq_kh(const json_t *hash, int *mech, int *kh_hash,
    uint8_t digest[HASHREQ_MAX_DIGEST], size_t *dlen) SIGNET_WUR;

#endif
