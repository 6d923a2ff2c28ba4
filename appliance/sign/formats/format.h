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
	/* the stored artifact opened for reading, for the formats that read
	 * it (Authenticode; the caller's to close), else -1 */
	int artifact_fd;
	/* Authenticode (unused by the other formats): the container the
	 * request resolved to, its digest algorithm and the Authenticode
	 * digest recorded at submission, the signature mode, SpcSpOpusInfo */
	const struct ac_format *ac;
	const EVP_MD *md;
	const unsigned char *ac_digest;	/* NULL: none recorded */
	size_t ac_digest_len;
	const char *ac_recorded;	/* ac_sign_opts.recorded; may be NULL */
	int append;
	const char *program_name;	/* may be NULL */
	const char *url;		/* may be NULL */
	/* The policy's time-stamping (`timestamp: builtin`): a DER
	 * TimeStampToken (RFC 3161) over len bytes of data into *token
	 * (OPENSSL_free), for formats that carry one; NULL: none. */
	int (*timestamp)(void *arg, const unsigned char *data, size_t len,
	    unsigned char **token, size_t *toklen);
	void *timestamp_arg;
};

/* The signed output, written into the artifact store by the format, or
 * when it is small (SIGNET_INLINE_RESULT_MAX) held for the database: its
 * bytes in held (malloc'd, the caller's to free), named sha256. */
struct format_output {
	char sha256[CAS_HEX_LEN + 1];
	uint64_t size;
	unsigned char *held;
	int unchanged;	/* signed by this certificate already: as it was */
	int nested;	/* appended as a nested signature */
	int beside;	/* appended beside the file's (UEFI certificate table) */
};

/* Signs job with key and stores the result. On failure returns the error
 * and says why in reason[rlen] (for the request's history). */
typedef int (*format_sign_fn)(const struct format_job *job,
    const struct format_key *key, struct format_output *out, char *reason,
    size_t rlen);

struct ac_format;

struct format {
	const char *slug;	/* "detached-cms" */
	const char *extension;	/* appended to the artifact's name: ".p7s" */
	const char *media_type;	/* of the signed output */
	const char *title;	/* for people */
	format_sign_fn sign;	/* NULL: digest only (format_digest_only) */
	/* Authenticode: the container format (embedded signatures; the
	 * signed file keeps its name), or NULL */
	const struct ac_format *ac;
	/* 1 for "authenticode": the container is chosen from the content */
	int pick;
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
/* Checks a submitted file (fd[size], not yet durable) for configuration
 * conf before its request is recorded: for Authenticode its structure,
 * and its Authenticode digest with the named algorithm ("sha256",
 * "sha384", "sha512"; NULL: SHA-256) into digest (EVP_MAX_MD_SIZE bytes,
 * *dlen set; 0 for formats without one). *resolved is the format that
 * signs it: conf's, or for "authenticode" the container its content
 * matched. SIGNET_ERR_INVALID (or TOO_LARGE, TRUNCATED) with msg saying
 * what is wrong with the file. */
struct format_streamed;
int format_check(const char *conf, int fd, uint64_t size,
    const char *digest_alg, const struct format_streamed *st,
    const struct format **resolved, unsigned char *digest, size_t *dlen,
    char *msg, size_t mlen) SIGNET_WUR;

/* A container's check and digest done while the upload streamed in (PE:
 * ac_pe_stream_*), so that format_check need not read the file again
 * when the configuration resolves to that container. */
/* The longest note a container's reader records (with its NUL). */
#define FORMAT_RECORDED_MAX 64

struct format_streamed {
	const struct ac_format *ac;
	int r;				/* the stream's verdict */
	unsigned char digest[EVP_MAX_MD_SIZE];
	char msg[256];			/* why, when r != 0 */
	/* what the reader noted besides, for the signer
	 * (ac_sign_opts.recorded); "" when nothing */
	char recorded[FORMAT_RECORDED_MAX];
};
/* For the audit: every signature in a file signed with Authenticode
 * container `slug` (a UEFI image's every certificate table entry, and
 * the signatures nested in each) through ac_signed_digests(). */
int format_ac_signed_digests(const char *slug, int fd, uint64_t size,
    int (*fn)(const unsigned char *attrs, size_t alen,
    const unsigned char *content, size_t clen, void *arg), void *arg,
    char *msg, size_t mlen) SIGNET_WUR;
/* The slugs, joined by ", " into out[len] (for messages and help). */
void format_slugs(char *out, size_t len);

#endif
