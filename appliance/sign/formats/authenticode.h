/* Authenticode: what every embedded signature format (PE and EFI, MSI,
 * CAB, PowerShell scripts) provides to the one SignedData builder in
 * authenticode.c. A container format is a file ac_<name>.c exporting one
 * struct ac_format; it reads the untrusted file through the bounded
 * reader (rd.h) or bounded preads, never trusts an offset or a size it
 * read, and says in m what is wrong with a file it refuses, in words for
 * the submitter ("the PE section table runs past the end of the file").
 *
 * The builder asks the format for the file's Authenticode digest and its
 * SpcIndirectDataContent, signs that through the token key (PKCS#7
 * SignedData, Authenticode's profile), and hands the DER back to the
 * format, which writes the signed file into a sink. */
#ifndef SIGNET_AUTHENTICODE_H
#define SIGNET_AUTHENTICODE_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "err.h"

/* How many leading bytes detect() is shown (fewer for shorter files). */
#define AC_MAGIC_LEN 512

/* Why a file was refused or could not be signed; for the submitter. */
struct ac_msg {
	char text[256];
};

/* Where a format writes the signed file, in order. copy() appends len
 * bytes of fd from off (unchanged input), so the whole file is never held
 * in memory. Both return 0 or an error. */
struct ac_sink {
	int (*write)(void *arg, const void *p, size_t n);
	int (*copy)(void *arg, int fd, uint64_t off, uint64_t len);
	/* Optional: every byte written from now on is also handed to fn,
	 * in order (the digest of the signed file as it is written). */
	void (*tap)(void *arg, int (*fn)(void *, const void *, size_t),
	    void *fnarg);
	void *arg;
};

/* A digest taken from a signed file's bytes as embed() writes them: the
 * signature it embeds is left out by the format's own rules, so it is
 * the digest of the file that was submitted. */
struct ac_written {
	int (*begin)(const EVP_MD *md, void **state);
	int (*feed)(void *state, const void *p, size_t n);
	int (*end)(void *state, unsigned char *digest, struct ac_msg *m);
	/* Optional: what else the written file must be (after end(), its
	 * digest found right); 0 or an error with m set. */
	int (*check)(void *state, struct ac_msg *m);
	void (*free)(void *state);
};

struct ac_format {
	const char *slug;	/* "authenticode-cab" */
	const char *title;	/* for people */
	/* 1 when head (the first n bytes, n <= AC_MAGIC_LEN) is this
	 * format's magic; 0 otherwise. Content, never the file name. */
	int (*detect)(const unsigned char *head, size_t n);
	/* The whole structure checked against the file's size and the
	 * limits in signet_limits.h. 0, or SIGNET_ERR_INVALID,
	 * SIGNET_ERR_TRUNCATED or SIGNET_ERR_TOO_LARGE with m set. */
	int (*check)(int fd, uint64_t size, struct ac_msg *m);
	/* The Authenticode digest with md (SHA-256/384/512) of the file as
	 * its signature covers it (any existing signature left out); out
	 * holds EVP_MD_get_size(md) bytes. */
	int (*digest)(int fd, uint64_t size, const EVP_MD *md,
	    unsigned char *out, struct ac_msg *m);
	/* The DER of the SpcIndirectDataContent for that digest (its data
	 * part is the format's: SpcPeImageData, SpcSipInfo, ...); *der is
	 * freed with OPENSSL_free. */
	int (*indirect)(const EVP_MD *md, const unsigned char *digest,
	    unsigned char **der, size_t *len);
	/* The signature the file already carries (a PKCS#7 ContentInfo DER,
	 * freed with OPENSSL_free), or *der = NULL, *len = 0 when unsigned. */
	int (*existing)(int fd, uint64_t size, unsigned char **der,
	    size_t *len, struct ac_msg *m);
	/* Writes the file with p7 as its signature, replacing any it had. */
	int (*embed)(int fd, uint64_t size, const unsigned char *p7,
	    size_t len, const struct ac_sink *out, struct ac_msg *m);
	/* Optional (NULL: not offered): the digest of what embed() writes.
	 * With it a file whose digest was recorded at submission is signed
	 * over that digest and checked once, on the signed file as it is
	 * written, instead of being read once more before signing. */
	const struct ac_written *written;
	/* Optional: embed() (keep: beside the signatures the file has, as
	 * ac_pe_embed_append()) with what the format's reader recorded
	 * while the file streamed in (ac_sign_opts.recorded), which spares
	 * it a pass over the file. Text it does not take is ignored. */
	int (*embed_recorded)(int fd, uint64_t size, int keep,
	    const unsigned char *p7, size_t len, const char *recorded,
	    const struct ac_sink *out, struct ac_msg *m);
};

/* --- the SignedData builder (authenticode.c) ------------------------ */

#include <openssl/x509.h>

#include "cas.h"

/* Authenticode's object identifiers ([MS-OSHARED] 2.3.2, "Windows
 * Authenticode Portable Executable Signature Format" 1.0). */
#define AC_OID_INDIRECT_DATA	"1.3.6.1.4.1.311.2.1.4"
#define AC_OID_STATEMENT_TYPE	"1.3.6.1.4.1.311.2.1.11"
#define AC_OID_OPUS_INFO	"1.3.6.1.4.1.311.2.1.12"
#define AC_OID_INDIVIDUAL	"1.3.6.1.4.1.311.2.1.21"
#define AC_OID_SIP_INFO		"1.3.6.1.4.1.311.2.1.30"
#define AC_OID_NESTED		"1.3.6.1.4.1.311.2.4.1"
#define AC_OID_RFC3161		"1.3.6.1.4.1.311.3.3.1"

/* How a file is signed. */
struct ac_sign_opts {
	const EVP_MD *md;		/* SHA-256, -384 or -512 */
	int append;			/* nest beside an existing signature */
	const char *program_name;	/* SpcSpOpusInfo; may be NULL */
	const char *url;		/* SpcSpOpusInfo moreInfo; may be NULL */
	const char *request_id;		/* journaled by the keyholder */
	/* the Authenticode digest recorded at submission; NULL: none */
	const unsigned char *expect;
	size_t expect_len;
	/* what the container's reader recorded at submission besides
	 * (ac_format.embed_recorded); NULL: nothing */
	const char *recorded;
	/* Containers with several signatures side by side (a UEFI image's
	 * certificate table): every one of them, for the already-signed
	 * check (NULL: existing() alone); and, for append, one more
	 * side by side instead of a nested one (NULL: nested). */
	int (*signatures)(int fd, uint64_t size,
	    int (*fn)(const unsigned char *p7, size_t len, void *arg),
	    void *arg, struct ac_msg *m);
	int (*embed_append)(int fd, uint64_t size, const unsigned char *p7,
	    size_t len, const struct ac_sink *out, struct ac_msg *m);
	/* An RFC 3161 TimeStampToken over the new signature's value (the
	 * policy's `timestamp: builtin`, format_job.timestamp); NULL: none */
	int (*timestamp)(void *arg, const unsigned char *data, size_t len,
	    unsigned char **token, size_t *toklen);
	void *timestamp_arg;
};

/* What signing did. */
struct ac_result {
	int unchanged;	/* the certificate had signed the file already */
	int nested;	/* the new signature was nested into the old one */
	int beside;	/* ... or added beside it (embed_append) */
};

/* Digest algorithm by name ("sha256", "sha384", "sha512"), or NULL. */
const EVP_MD *ac_md_by_name(const char *name);

/* The DER of SpcIndirectDataContent ([MS-OSHARED], Authenticode 1.0
 * section "SpcIndirectDataContent"): data = { type, value } (value is the
 * DER of the format's structure), messageDigest = DigestInfo { md with
 * NULL parameters, digest }. For the formats' indirect(). */
int ac_indirect_der(const char *type_oid, const unsigned char *value,
    size_t vlen, const EVP_MD *md, const unsigned char *digest,
    unsigned char **der, size_t *len) SIGNET_WUR;

/* The pieces the containers' data is made of (the same specification,
 * "Authenticode-Specific Structures"), each as DER for ac_indirect_der:
 * - SpcLink { file [2] EXPLICIT SpcString { unicode [0] IMPLICIT
 *   BMPString "<<<Obsolete>>>" } }, what PE and CAB data carry (the
 *   specification says to write that string);
 * - SpcSipInfo { version INTEGER, guid OCTET STRING, five INTEGERs 0 },
 *   the subject interface package of MSI packages and scripts, as
 *   signtool writes it. */
int ac_spc_link_obsolete(unsigned char **der, size_t *len) SIGNET_WUR;
int ac_sip_info_der(long version, const unsigned char guid[16],
    unsigned char **der, size_t *len) SIGNET_WUR;

/* A new PKCS#7 SignedData with contentType SpcIndirectDataContent
 * holding indirect[ilen], signed through key (signer leaf, chain leaf
 * first) with the attributes Authenticode requires. */
int ac_signed_data(const unsigned char *indirect, size_t ilen,
    const struct ac_sign_opts *o, EVP_PKEY *key, X509 *leaf,
    STACK_OF(X509) *chain, unsigned char **der, size_t *len) SIGNET_WUR;

/* outer with inner added as a nested signature (unsigned attribute
 * 1.3.6.1.4.1.311.2.4.1 of outer's first SignerInfo; a further value when
 * it has one already). */
int ac_nest(const unsigned char *outer, size_t olen,
    const unsigned char *inner, size_t ilen, unsigned char **der,
    size_t *len) SIGNET_WUR;

/* 1 when leaf signed p7 (its signer or any nested signature, at any
 * depth), 0 when not, or SIGNET_ERR_INVALID when p7 is no PKCS#7
 * SignedData. */
int ac_signed_by(const unsigned char *p7, size_t len, X509 *leaf) SIGNET_WUR;

/* For the audit (signet audit reconcile): calls fn for every SignerInfo
 * of p7 and of its nested signatures, at any depth, with the digest of
 * its signed attributes (with the SignerInfo's digest algorithm, over
 * the DER SET OF: what the key signed, and what the keyholder journaled)
 * and the digest its SpcIndirectDataContent names (what the signature
 * says the file's Authenticode digest is). A nonzero return from fn stops
 * the walk and is returned; SIGNET_ERR_INVALID when p7 is no SignedData
 * with an SpcIndirectDataContent. */
typedef int (*ac_digests_fn)(const unsigned char *attrs, size_t alen,
    const unsigned char *content, size_t clen, void *arg);
int ac_signed_digests(const unsigned char *p7, size_t len, ac_digests_fn fn,
    void *arg) SIGNET_WUR;

/* Checks a stored file with format f: check(), then digest() with md
 * into out (EVP_MD_get_size(md) bytes). */
int ac_check_digest(const struct ac_format *f, int fd, uint64_t size,
    const EVP_MD *md, unsigned char *out, struct ac_msg *m) SIGNET_WUR;

/* Signs the file fd[size] with f and writes the signed file into out.
 * When the leaf has signed it already the file is written unchanged
 * and r->unchanged says so. */
int ac_sign_file(const struct ac_format *f, int fd, uint64_t size,
    const struct ac_sign_opts *o, EVP_PKEY *key, X509 *leaf,
    STACK_OF(X509) *chain, const struct ac_sink *out, struct ac_result *r,
    struct ac_msg *m) SIGNET_WUR;

/* A sink writing into an artifact store upload. */
void ac_sink_cas(struct ac_sink *s, struct cas_upload *u);

#endif
