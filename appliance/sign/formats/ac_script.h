/* PowerShell scripts (.ps1 .psm1 .psd1 .ps1xml) signed with Authenticode:
 * the signature is a base64 block in comment lines at the end of the
 * text, "# SIG # Begin signature block" ... "# SIG # End signature block"
 * (XML comments for .ps1xml), and the digest covers the text before the
 * block as UTF-16LE, the way PowerShell's SIP and osslsigncode compute
 * it. */
#ifndef SIGNET_AC_SCRIPT_H
#define SIGNET_AC_SCRIPT_H

#include <stddef.h>
#include <stdint.h>

#include "authenticode.h"

extern const struct ac_format ac_script_format;

/* What a script's text is, as parsed from its bytes. */
struct ac_script_info {
	int utf16;		/* UTF-16LE with a byte order mark; else UTF-8 */
	int xml;		/* <!-- --> comments (.ps1xml); else "# " */
	int crlf;		/* line breaks are CR LF; else LF */
	size_t end;		/* bytes the signature covers (before the block) */
	int has_sig;		/* a signature block follows end */
	size_t sig_off, sig_len; /* the block's lines (for existing()) */
};

/* Parses buf[len] (the whole script): encoding, line breaks and any
 * signature block, which must be well formed and last. 0, or
 * SIGNET_ERR_INVALID / SIGNET_ERR_TOO_LARGE with m saying why. */
int ac_script_parse(const uint8_t *buf, size_t len, struct ac_script_info *si,
    struct ac_msg *m) SIGNET_WUR;

/* The PKCS#7 DER in a parsed script's signature block (OPENSSL_free). */
int ac_script_signature(const uint8_t *buf, size_t len,
    const struct ac_script_info *si, unsigned char **der, size_t *dlen,
    struct ac_msg *m) SIGNET_WUR;

/* The script's Authenticode digest (the text before the block, UTF-16LE). */
int ac_script_digest_buf(const uint8_t *buf, const struct ac_script_info *si,
    const EVP_MD *md, unsigned char *out) SIGNET_WUR;

#endif
