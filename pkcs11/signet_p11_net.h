/* What the Signet PKCS#11 module asks the appliance: the signing
 * policies the caller may sign hashes with (GET /api/v1/me, then each
 * policy's certificate chain), and a hash signature (POST
 * .../hash-signing-requests, then the request polled until it is
 * final). Built on the CLI's HTTP client and origin collection
 * (appliance/cli/client.c, ci_origin.c). */
#ifndef SIGNET_P11_NET_H
#define SIGNET_P11_NET_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "err.h"
#include "signet_limits.h"
#include "signet_p11_conf.h"
#include "signet_p11_di.h"

#define SP11_MAX_TOKENS		SIGNET_P11_MAX_TOKENS
#define SP11_MAX_CHAIN_PEM	SIGNET_P11_MAX_CHAIN_PEM
#define SP11_MAX_CHAIN		SIGNET_P11_MAX_CHAIN
#define SP11_MAX_SIG		1024	/* RSA-8192, as the keyholder */
#define SP11_MSG		1024

/* One policy, one token: its certificate chain and public key. */
struct sp11_policy {
	char project[SIGNET_MAX_SLUG + 1];
	char policy[SIGNET_MAX_SLUG + 1];
	char label[2 * SIGNET_MAX_SLUG + 2];	/* project/policy */
	STACK_OF(X509) *chain;			/* leaf first */
	EVP_PKEY *pub;
	int rsa;				/* else EC */
	size_t sig_len;		/* modulus bytes; EC: 2 * order bytes */
};

/* What came of a signature. */
enum sp11_outcome {
	SP11_SIGNED,
	SP11_REJECTED,	/* refused, denied, canceled: the server said no */
	SP11_FAILED,	/* unreachable, or the appliance failed to sign */
	SP11_TIMEOUT,	/* not final within the wait; canceled */
};

/* The tokens of conf's identity: policies it may submit to that allow
 * hash signing, filtered by project and policy. 0 and *out[*n] (free
 * with sp11_policies_free), or an error and msg. */
int sp11_net_policies(const struct sp11_conf *conf, struct sp11_policy **out,
    size_t *n, char *msg, size_t len) SIGNET_WUR;
void sp11_policies_free(struct sp11_policy *p, size_t n);

/* Asks for a signature of digest (of hash) with mechanism ("rsa-pkcs1",
 * "rsa-pss", "ecdsa") under pol and waits until the request is final.
 * SP11_SIGNED: sig[*siglen] holds the signature as the appliance keeps
 * it (ECDSA: DER). Otherwise msg says why (the server's words). */
enum sp11_outcome sp11_net_sign(const struct sp11_conf *conf,
    const struct sp11_policy *pol, int hash, const uint8_t *digest,
    size_t dlen, const char *mechanism, uint8_t sig[SP11_MAX_SIG],
    size_t *siglen, char *msg, size_t len);

/* The module's log: the file at path (conf's log), or stderr. */
void sp11_log_open(const char *path);
void sp11_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void sp11_log_close(void);

#endif
