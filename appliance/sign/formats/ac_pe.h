/* Authenticode for PE/COFF images: Windows EXE, DLL and SYS files and
 * UEFI binaries, PE32 and PE32+, for x86, x64, ARM and ARM64.
 *
 * The image's signature is the attribute certificate table the
 * certificate-table data directory entry points at (Microsoft's "PE
 * Format", "The Attribute Certificate Table (Image Only)"),
 * which must be the last thing in the file. Its digest covers the file
 * except the optional header's CheckSum, that directory entry and the
 * table itself ("Windows Authenticode Portable Executable Signature
 * Format", "Calculating the PE Image Hash"), the way osslsigncode and
 * Windows compute it: the bytes in file order, data after the sections
 * included, an unsigned file padded with zeros to 8 bytes, as embedding
 * the table pads it. */
#ifndef SIGNET_AC_PE_H
#define SIGNET_AC_PE_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "authenticode.h"
#include "err.h"

/* slug "authenticode-pe" */
extern const struct ac_format ac_pe_format;

/* The Authenticode digest computed while the upload streams in (the same
 * pass as its SHA-256): fed the file's bytes in order in chunks of any
 * size. Only the header prefix (at most SIGNET_MAX_PE_HEADERS bytes) is
 * held. update() never fails on input that is not a usable PE image (it
 * notes why and only counts the rest); final() checks everything
 * check() does, then gives the digest, equal to ac_pe_format.digest() of
 * the same bytes, or the reason in m. final() is called once. */
struct ac_pe_stream;
int ac_pe_stream_new(const EVP_MD *md, struct ac_pe_stream **out) SIGNET_WUR;
int ac_pe_stream_update(struct ac_pe_stream *s, const void *p,
    size_t n) SIGNET_WUR;
int ac_pe_stream_final(struct ac_pe_stream *s, unsigned char *digest,
    struct ac_msg *m) SIGNET_WUR;
void ac_pe_stream_free(struct ac_pe_stream *s);	/* accepts NULL */
/* After final() returned 0: the partial sums of the optional header's
 * CheckSum over the file (CheckSum and the certificate-table entry
 * counted as zeros), up to the certificate table and of the whole file,
 * as text for the request's record ("<hex>:<hex>", AC_PE_SUMS_LEN
 * bytes with the NUL). Recorded at submission, they spare the signer
 * the pass over the file that the new CheckSum would otherwise need
 * (ac_pe_format.embed_recorded). */
#define AC_PE_SUMS_LEN 34
int ac_pe_stream_sums(const struct ac_pe_stream *s, char *out,
    size_t len) SIGNET_WUR;
/* After final() returned 0: 1 when the CheckSum field holds the file's
 * checksum (a signed file as embed() wrote it does), else 0. */
int ac_pe_stream_checksum_ok(const struct ac_pe_stream *s);

/* Facts about a checked image, for the request's details and the
 * builder. efi: the subsystem is one of UEFI's (application, boot
 * service or runtime driver, ROM). nsignatures: entries in the
 * certificate table. */
struct ac_pe_info {
	int pe32plus;
	uint16_t machine;	/* IMAGE_FILE_MACHINE_*: 0x14c, 0x8664, ... */
	uint16_t subsystem;	/* IMAGE_SUBSYSTEM_* */
	int efi;
	unsigned nsignatures;
};
int ac_pe_info(int fd, uint64_t size, struct ac_pe_info *info,
    struct ac_msg *m) SIGNET_WUR;

/* For UEFI binaries: writes the file with p7 as one more certificate
 * table entry after those it has (UEFI firmware, shim and sbverify read
 * them all), the directory entry and CheckSum updated; the digest does
 * not change. Like embed() on an unsigned file. Windows reads only the
 * first entry: a second signature for it is nested in the first. */
int ac_pe_embed_append(int fd, uint64_t size, const unsigned char *p7,
    size_t len, const struct ac_sink *out, struct ac_msg *m) SIGNET_WUR;

/* check() reads each WIN_CERTIFICATE's header, not its PKCS#7: a
 * bCertificate that is not DER is refused here and by existing().
 * Calls fn with each signature of the certificate table (the PKCS#7
 * ContentInfo DER of a WIN_CERT_TYPE_PKCS_SIGNED_DATA entry, without its
 * padding), in order. A nonzero return from fn stops the walk and is
 * returned. An unsigned file calls fn never and returns 0. */
int ac_pe_signatures(int fd, uint64_t size,
    int (*fn)(const unsigned char *p7, size_t len, void *arg), void *arg,
    struct ac_msg *m) SIGNET_WUR;

#endif
