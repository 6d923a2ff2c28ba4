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
	void *arg;
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
};

#endif
