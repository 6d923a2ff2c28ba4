/* A policy's external time-stamping authority (`timestamp: url`): an
 * RFC 3161 server in the network, reached over HTTP(S) through the
 * outbound rules (appliance/notify/outbound.h: [outbound] allow_internal,
 * no proxy, no redirects), whose answers are believed only when they
 * verify against the CA the policy names (timestampCaPem). */
#ifndef SIGNET_TSA_CLIENT_H
#define SIGNET_TSA_CLIENT_H

#include <stddef.h>

#include "err.h"

struct tsa_client {
	const char *url;	/* http:// or https:// */
	const char *ca_pem;	/* the CA certificates the token chains to */
	const char *tls_ca_pem;	/* https: the server's CA; NULL: the system's */
	char err[256];		/* why the last stamp failed, for the history */
};

/* The signature of format_job's timestamp; arg is a struct tsa_client.
 * A SHA-256 query over data with a random nonce and certReq, POSTed as
 * application/timestamp-query (RFC 3161 section 3.4); the reply must be
 * granted, over the same imprint and nonce, and its token must verify
 * against ca_pem with a signer whose extended key usage is timeStamping
 * (critical). Tried SIGNET_TSA_URL_ATTEMPTS times with doubling backoff;
 * then an error, and c->err names the TSA and says what went wrong. */
int tsa_client_stamp(void *arg, const unsigned char *data, size_t len,
    unsigned char **token, size_t *toklen) SIGNET_WUR;

#endif
