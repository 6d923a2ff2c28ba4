/* The registry of signature formats. Each format is one entry: its slug
 * (what policies list as artifact configurations and submitters name as
 * artifactConfigurationSlug), the file name extension and media type of
 * what it produces, and its sign function. The signer dispatches through
 * it; the catalog, the API, the CLI and the web interface take their
 * lists from it. A new format is a file in this folder and a row in
 * format.c. */
#ifndef SIGNET_FORMAT_H
#define SIGNET_FORMAT_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "cas.h"
#include "err.h"

/* The token key a policy signs with, and its certificate chain. */
struct format_key {
	EVP_PKEY *key;		/* private operation in the keyholder */
	X509 *leaf;
	STACK_OF(X509) *chain;	/* leaf first */
};

/* What is to be signed: the stored artifact and the digest recorded when
 * it was uploaded (the digest the approvers decided over). */
struct format_job {
	struct cas *cas;
	const char *request_id;		/* journaled by the keyholder */
	const char *artifact_sha256;	/* hex, CAS_HEX_LEN */
	uint64_t artifact_size;
	/* The policy's time-stamping (`timestamp: builtin`): a DER
	 * TimeStampToken (RFC 3161) over len bytes of data into *token
	 * (OPENSSL_free), for formats that carry one; NULL: none. */
	int (*timestamp)(void *arg, const unsigned char *data, size_t len,
	    unsigned char **token, size_t *toklen);
	void *timestamp_arg;
};

/* The signed output, written into the artifact store by the format. */
struct format_output {
	char sha256[CAS_HEX_LEN + 1];
	uint64_t size;
};

/* Signs job with key and stores the result. On failure returns the error
 * and says why in reason[rlen] (for the request's history). */
typedef int (*format_sign_fn)(const struct format_job *job,
    const struct format_key *key, struct format_output *out, char *reason,
    size_t rlen);

struct format {
	const char *slug;	/* "detached-cms" */
	const char *extension;	/* appended to the artifact's name: ".p7s" */
	const char *media_type;	/* of the signed output */
	const char *title;	/* for people */
	format_sign_fn sign;	/* NULL: digest only (format_digest_only) */
};

/* A row without a sign function is hash signing: the build machine
 * hashes (the PKCS#11 module, pkcs11/signet_p11.c) and the appliance
 * signs only the digest. No artifact is stored, the signer signs through
 * the keyholder directly, and a policy takes it only with
 * allowHashSigning: true, never by listing it or by default. */
static inline int
format_digest_only(const struct format *f)
{
	return f != NULL && f->sign == NULL;
}

/* The format named slug, or NULL. */
const struct format *format_find(const char *slug);
/* The i-th format (i < format_count()), in a stable order. */
size_t format_count(void);
const struct format *format_at(size_t i);
/* The slug of hash signing (the one digest-only row). */
#define FORMAT_HASH_SLUG "hash"

/* The format a submission without artifactConfigurationSlug gets, when
 * its policy allows it. */
const struct format *format_default(void);
/* The slugs, joined by ", " into out[len] (for messages and help). */
void format_slugs(char *out, size_t len);

#endif
