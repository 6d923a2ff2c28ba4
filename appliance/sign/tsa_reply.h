/* What signetd asks an external time-stamping authority and what it
 * believes of the answer (RFC 3161; the network is tsa_client.c's). */
#ifndef SIGNET_TSA_REPLY_H
#define SIGNET_TSA_REPLY_H

#include <stddef.h>

#include <openssl/ts.h>

#include "err.h"

/* A query over data: a SHA-256 imprint (RFC 3161 appendix A: the
 * time-stamp of a signature is over its value), a random 64-bit nonce,
 * certReq. NULL when out of memory. */
TS_REQ *tsa_reply_query(const unsigned char *data, size_t len);

/* The answer buf[len] (untrusted, at most SIGNET_MAX_TSR bytes) to req:
 * 0 and the DER TimeStampToken in *token (OPENSSL_free) when it is one
 * DER TimeStampResp, granted, over req's imprint and nonce, and its token
 * verifies against the PEM certificates ca_pem with a signer whose
 * extended key usage is timeStamping (critical). Otherwise
 * SIGNET_ERR_INVALID (or NOMEM) and err says which check failed. */
int tsa_reply_check(const char *ca_pem, TS_REQ *req,
    const unsigned char *buf, size_t len, unsigned char **token,
    size_t *toklen, char *err, size_t elen) SIGNET_WUR;

#endif
