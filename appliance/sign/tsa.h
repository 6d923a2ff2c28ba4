/* The time-stamping authority: RFC 3161 tokens (with RFC 5816's
 * ESSCertIDv2) signed by a token key whose certificate (catalog purpose
 * "timestamping", extended key usage timeStamping, critical) is named by
 * [tsa] certificate. The query is checked here (tsa_query), the token is
 * made by OpenSSL's TS_RESP_CTX around the key behind the keyholder
 * (rkey), each signature journaled as "tsa-<serial>" under serials
 * reserved in blocks (tsa_serial); issuance goes to the audit log in
 * batches ("tsa.tokens-issued"). */
#ifndef SIGNET_TSA_H
#define SIGNET_TSA_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "err.h"
#include "store.h"

struct kh;
struct tsa;

struct tsa_opts {
	const char *certificate;	/* catalog certificate name */
	const char *policy;		/* TSA policy OID, dotted */
	unsigned accuracy_ms;
	int allow_unsynchronized;	/* issue while the clock is not */
};

/* The kernel's view of the system clock (adjtimex(2)). */
struct tsa_clock {
	int synchronized;	/* not TIME_ERROR, STA_UNSYNC clear */
	long esterror_us;	/* estimated error */
	long maxerror_us;	/* maximum error */
};

int tsa_clock_read(struct tsa_clock *c) SIGNET_WUR;
/* {"synchronized", "estimatedErrorUs", "maxErrorUs"} (new reference) */
json_t *tsa_clock_json(void);

/* s and kh must outlive the TSA. The key and certificate are loaded at
 * the first query (the token may be activated after signetd starts). */
int tsa_open(struct store *s, struct kh *kh, const struct tsa_opts *o,
    struct tsa **out) SIGNET_WUR;
/* Writes the issuance not yet in the audit log; accepts NULL. */
void tsa_close(struct tsa *t);

struct tsa_reply {
	unsigned char *der;	/* TimeStampResp (OPENSSL_free) */
	size_t len;
	int http_status;	/* 200, 400 (badDataFormat), 503 (clock) */
	int granted;
	uint64_t serial;	/* granted: the token's serial */
};

/* Answers the DER query q: 0 and a reply (a token, or a rejection that
 * says why), or an error when no reply can be made (the certificate is
 * missing, the token is locked, the keyholder is gone). */
int tsa_respond(struct tsa *t, const unsigned char *q, size_t len,
    struct tsa_reply *out) SIGNET_WUR;
void tsa_reply_free(struct tsa_reply *r);
/* A token over data for a signature made here (RFC 3161 appendix A: the
 * time-stamp of a signature is over its value): SHA-256, certReq, a
 * random nonce; the DER TimeStampToken into *token (OPENSSL_free). The
 * signature of format_job's timestamp; t is the struct tsa. */
int tsa_stamp(void *t, const unsigned char *data, size_t len,
    unsigned char **token, size_t *toklen) SIGNET_WUR;
/* The TSA's chain, PEM, leaf first (free()). */
int tsa_chain_pem(struct tsa *t, char **pem) SIGNET_WUR;
/* Tokens issued by this process (for metrics). */
uint64_t tsa_tokens_issued(void);
/* {"enabled", "certificate", "policy", "tokensIssued"} (new reference);
 * t may be NULL (the TSA is off). */
json_t *tsa_status_json(const struct tsa *t);

#endif
