/*
 * PowerShell scripts under Authenticode. There is no specification; the
 * layout is PowerShell's (about_Signing) as osslsigncode's script.c reads
 * and writes it, and what is computed here has to agree with both:
 *
 * - Encoding: UTF-16LE when the file starts with the byte order mark
 *   FF FE, UTF-8 otherwise (with or without EF BB BF). UTF-16BE is not
 *   what PowerShell writes and is refused.
 * - XML files (.ps1xml: the text begins, past white space, with '<' and
 *   a name, '?' or '!') take XML comments; everything else "# ".
 * - The signature block is the last lines of the file:
 *       # SIG # Begin signature block
 *       # MIIx...   (base64 of the PKCS#7 DER, 64 characters a line)
 *       # SIG # End signature block
 *   in "<!-- ... -->" comments for XML (.ps1xml) files, each line preceded
 *   by a line break and the whole followed by one.
 * - The digest covers the text before the block (up to the line break
 *   that precedes its first line) as UTF-16LE: UTF-16 files as they are,
 *   UTF-8 files (their byte order mark included) converted.
 * - SpcIndirectDataContent's data is SpcSipInfo with PowerShell's SIP
 *   GUID {603BCC1F-4B59-4E08-B724-D2C6297EF351}.
 *
 * Line breaks of the block follow the file's own (its first line break,
 * CR LF when it has none), and so does its encoding.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pkcs7.h>

#include "ac_script.h"
#include "rd.h"
#include "signet_limits.h"

#define SC_LINE_PREFIX	128	/* code points kept of a line to compare */
#define SC_B64_MAX	100	/* base64 characters on one block line */

static const char sc_begin[] = "SIG # Begin signature block";
static const char sc_end[] = "SIG # End signature block";

/* PowerShell's SIP: SpcSipInfo { 65536, GUID, 0, 0, 0, 0, 0 } */
static const unsigned char sc_sip_guid[16] = {
	0x1f, 0xcc, 0x3b, 0x60, 0x59, 0x4b, 0x08, 0x4e,
	0xb7, 0x24, 0xd2, 0xc6, 0x29, 0x7e, 0xf3, 0x51,
};

static int sc_fail(struct ac_msg *m, int r, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
sc_fail(struct ac_msg *m, int r, const char *fmt, ...)
{
	va_list ap;

	if (m != NULL) {
		va_start(ap, fmt);
		vsnprintf(m->text, sizeof(m->text), fmt, ap);
		va_end(ap);
	}
	return r;
}

/* The next code point; *cp, or an error naming the byte offset. */
static int
sc_next(struct rd *r, int utf16, uint32_t *cp, struct ac_msg *m)
{
	size_t at = r->off;
	uint16_t u, v;
	uint8_t b[4];
	uint32_t c;
	int need, i;

	if (utf16) {
		if (rd_u16le(r, &u) != 0)
			return sc_fail(m, SIGNET_ERR_INVALID, "the UTF-16 text "
			    "ends in half a character (an odd number of bytes)");
		if (u >= 0xdc00 && u <= 0xdfff)
			return sc_fail(m, SIGNET_ERR_INVALID, "the UTF-16 text "
			    "holds a lone low surrogate at byte %zu", at);
		if (u >= 0xd800 && u <= 0xdbff) {
			if (rd_u16le(r, &v) != 0 || v < 0xdc00 || v > 0xdfff) {
				r->off = at;
				return sc_fail(m, SIGNET_ERR_INVALID, "the UTF-16 "
				    "text holds a lone high surrogate at byte "
				    "%zu", at);
			}
			c = 0x10000 + ((uint32_t)(u - 0xd800) << 10) +
			    (uint32_t)(v - 0xdc00);
		} else {
			c = u;
		}
	} else {
		if (rd_u8(r, &b[0]) != 0)
			return SIGNET_ERR_TRUNCATED;
		if (b[0] < 0x80) {
			c = b[0];
			need = 0;
		} else if (b[0] >= 0xc2 && b[0] <= 0xdf) {
			c = b[0] & 0x1f;
			need = 1;
		} else if (b[0] >= 0xe0 && b[0] <= 0xef) {
			c = b[0] & 0x0f;
			need = 2;
		} else if (b[0] >= 0xf0 && b[0] <= 0xf4) {
			c = b[0] & 0x07;
			need = 3;
		} else {
			r->off = at;
			return sc_fail(m, SIGNET_ERR_INVALID, "the text is not "
			    "valid UTF-8 (byte %zu); save the script as UTF-8 "
			    "or UTF-16LE", at);
		}
		for (i = 1; i <= need; i++) {
			if (rd_u8(r, &b[i]) != 0 || (b[i] & 0xc0) != 0x80) {
				r->off = at;
				return sc_fail(m, SIGNET_ERR_INVALID, "the text "
				    "is not valid UTF-8 (byte %zu); save the "
				    "script as UTF-8 or UTF-16LE", at);
			}
			c = c << 6 | (b[i] & 0x3f);
		}
		/* overlong forms, surrogates, beyond U+10FFFF (RFC 3629 3) */
		if ((need == 2 && c < 0x800) || (need == 3 && c < 0x10000) ||
		    (c >= 0xd800 && c <= 0xdfff) || c > 0x10ffff) {
			r->off = at;
			return sc_fail(m, SIGNET_ERR_INVALID, "the text is not "
			    "valid UTF-8 (byte %zu); save the script as UTF-8 "
			    "or UTF-16LE", at);
		}
	}
	if (c == 0) {
		r->off = at;
		return sc_fail(m, SIGNET_ERR_INVALID, "the script holds a NUL "
		    "character at byte %zu: it is not text", at);
	}
	*cp = c;
	return 0;
}

/* A line as the block parser sees it. */
struct sc_line {
	size_t start;		/* byte offset of its first character */
	size_t lf;		/* byte offset of its LF; == end without one */
	int has_lf, cr;		/* ends in LF; in CR LF */
	size_t n;		/* code points, the line break left out */
	char text[SC_LINE_PREFIX];	/* ASCII prefix; 0x7f: other */
};

static int
sc_is(const struct sc_line *l, const char *open, const char *mid,
    const char *close)
{
	size_t a = strlen(open), b = strlen(mid), c = strlen(close);

	return l->n == a + b + c && a + b + c <= SC_LINE_PREFIX &&
	    memcmp(l->text, open, a) == 0 && memcmp(l->text + a, mid, b) == 0 &&
	    memcmp(l->text + a + b, close, c) == 0;
}

/* Does the line begin like a signature block's first or last line? */
static int
sc_looks_like(const struct sc_line *l, const char *mid)
{
	static const char *const opens[] = { "# ", "<!-- " };
	size_t i, a, b = strlen(mid);

	for (i = 0; i < sizeof(opens) / sizeof(opens[0]); i++) {
		a = strlen(opens[i]);
		if (l->n >= a + b && a + b <= SC_LINE_PREFIX &&
		    memcmp(l->text, opens[i], a) == 0 &&
		    memcmp(l->text + a, mid, b) == 0)
			return 1;
	}
	return 0;
}

static int
sc_b64_char(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	    (c >= '0' && c <= '9') || c == '+' || c == '/' || c == '=';
}

int
ac_script_parse(const uint8_t *buf, size_t len, struct ac_script_info *si,
    struct ac_msg *m)
{
	const char *open, *close;
	struct sc_line l, prev;
	struct rd r;
	size_t lineno = 0, k, a, c;
	uint32_t cp = 0;
	int phase = 0, first_break = 1, rv, lead = 1;

	memset(si, 0, sizeof(*si));
	memset(&prev, 0, sizeof(prev));
	if (len == 0)
		return sc_fail(m, SIGNET_ERR_INVALID, "the script is empty");
	if (len > SIGNET_MAX_SCRIPT)
		return sc_fail(m, SIGNET_ERR_TOO_LARGE, "the script is larger "
		    "than %d bytes", SIGNET_MAX_SCRIPT);
	if (len >= 2 && buf[0] == 0xfe && buf[1] == 0xff)
		return sc_fail(m, SIGNET_ERR_INVALID, "the script is UTF-16 "
		    "big-endian; save it as UTF-8 or UTF-16LE");
	si->utf16 = len >= 2 && buf[0] == 0xff && buf[1] == 0xfe;
	si->crlf = 1;	/* PowerShell's own, for a file of one line */
	rd_init(&r, buf, len);
	if (si->utf16 && rd_skip(&r, 2) != 0)
		return SIGNET_ERR_INTERNAL;
	if (!si->utf16 && len >= 3 && buf[0] == 0xef && buf[1] == 0xbb &&
	    buf[2] == 0xbf && rd_skip(&r, 3) != 0)
		return SIGNET_ERR_INTERNAL;
	open = "# ";
	close = "";
	while (rd_left(&r) > 0) {
		memset(&l, 0, sizeof(l));
		l.start = r.off;
		for (;;) {
			size_t at = r.off;

			if (rd_left(&r) == 0) {
				l.lf = r.off;
				break;
			}
			if ((rv = sc_next(&r, si->utf16, &cp, m)) != 0)
				return rv;
			/* '<' then a name, '?' or '!' opens XML; "<#" is
			 * a PowerShell block comment */
			if (lead == 2) {
				lead = 0;
				if ((cp >= 'A' && cp <= 'Z') ||
				    (cp >= 'a' && cp <= 'z') || cp == '?' ||
				    cp == '!') {
					si->xml = 1;
					open = "<!-- ";
					close = " -->";
				}
			} else if (lead == 1 && cp != ' ' && cp != '\t' &&
			    cp != '\r' && cp != '\n' && cp != 0xfeff) {
				lead = cp == '<' ? 2 : 0;
			}
			if (cp == '\n') {
				l.lf = at;
				l.has_lf = 1;
				break;
			}
			if (l.n < SC_LINE_PREFIX)
				l.text[l.n] = cp < 0x7f ? (char)cp : 0x7f;
			l.n++;
		}
		/* a CR before the LF belongs to the line break */
		if (l.has_lf && l.n > 0 && l.n <= SC_LINE_PREFIX &&
		    l.text[l.n - 1] == '\r') {
			l.cr = 1;
			l.n--;
		} else if (l.has_lf && l.n > SC_LINE_PREFIX) {
			/* long lines are text, never block lines: the CR is
			 * found from the bytes */
			size_t cu = si->utf16 ? 2 : 1;

			l.cr = l.lf >= l.start + cu && buf[l.lf - cu] == '\r' &&
			    (!si->utf16 || buf[l.lf - 1] == 0);
			if (l.cr)
				l.n--;
		}
		if (l.has_lf && first_break) {
			si->crlf = l.cr;
			first_break = 0;
		}
		lineno++;
		if (phase == 0) {
			if (sc_is(&l, open, sc_begin, close)) {
				if (lineno == 1)
					return sc_fail(m, SIGNET_ERR_INVALID,
					    "the script is only a signature "
					    "block: there is no text to sign");
				if (!l.has_lf)
					return sc_fail(m, SIGNET_ERR_INVALID,
					    "the signature block (line %zu) "
					    "has no lines after its first",
					    lineno);
				/* the digest ends at the line break before the
				 * block; osslsigncode finds it from the header
				 * line's break, so both must agree */
				if (l.cr != prev.cr)
					return sc_fail(m, SIGNET_ERR_INVALID,
					    "the signature block (line %zu) "
					    "and the line before it end in "
					    "different line breaks", lineno);
				si->end = prev.lf - (prev.cr ?
				    (si->utf16 ? 2 : 1) : 0);
				si->has_sig = 1;
				si->sig_off = l.start;
				phase = 1;
			} else if (sc_looks_like(&l, sc_begin)) {
				return sc_fail(m, SIGNET_ERR_INVALID, "line %zu "
				    "begins a signature block but is not \"%s%s%s\"",
				    lineno, open, sc_begin, close);
			} else if (sc_looks_like(&l, sc_end)) {
				return sc_fail(m, SIGNET_ERR_INVALID, "line %zu "
				    "ends a signature block that never began",
				    lineno);
			}
		} else if (phase == 1) {
			if (sc_is(&l, open, sc_end, close)) {
				phase = 2;
				si->sig_len = r.off - si->sig_off;
			} else {
				a = strlen(open);
				c = strlen(close);
				if (l.n <= a + c || l.n > a + c + SC_B64_MAX ||
				    memcmp(l.text, open, a) != 0 ||
				    memcmp(l.text + l.n - c, close, c) != 0)
					return sc_fail(m, SIGNET_ERR_INVALID,
					    "line %zu of the signature block is "
					    "not a \"%s\" comment line of base64",
					    lineno, open);
				for (k = a; k < l.n - c; k++)
					if (!sc_b64_char(l.text[k]))
						return sc_fail(m,
						    SIGNET_ERR_INVALID, "line %zu "
						    "of the signature block holds "
						    "a character that is not "
						    "base64", lineno);
				if (!l.has_lf)
					return sc_fail(m, SIGNET_ERR_INVALID,
					    "the signature block has no last "
					    "line (\"%s%s%s\")", open, sc_end,
					    close);
			}
		} else {
			return sc_fail(m, SIGNET_ERR_INVALID, "line %zu comes "
			    "after the signature block: the block must be the "
			    "end of the file", lineno);
		}
		prev = l;
	}
	if (phase == 1)
		return sc_fail(m, SIGNET_ERR_INVALID, "the signature block has "
		    "no last line (\"%s%s%s\")", open, sc_end, close);
	if (!si->has_sig)
		si->end = len;
	return 0;
}

int
ac_script_signature(const uint8_t *buf, size_t len,
    const struct ac_script_info *si, unsigned char **der, size_t *dlen,
    struct ac_msg *m)
{
	EVP_ENCODE_CTX *ctx = NULL;
	unsigned char *b64 = NULL, *out = NULL;
	const char *open = si->xml ? "<!-- " : "# ";
	const char *close = si->xml ? " -->" : "";
	size_t nb = 0, a = strlen(open), c = strlen(close), i, ln, skip;
	struct rd r;
	uint32_t cp;
	char line[SC_LINE_PREFIX + 1];
	int n = 0, fin = 0, rv = SIGNET_ERR_INVALID, first = 1;

	*der = NULL;
	*dlen = 0;
	if (!si->has_sig)
		return 0;
	if (si->sig_off > len || si->sig_len > len - si->sig_off)
		return SIGNET_ERR_INVALID;
	/* the block was checked by ac_script_parse(): ASCII lines, each a
	 * comment around base64, the first and last the markers */
	if ((b64 = malloc(si->sig_len + 1)) == NULL ||
	    (out = malloc(si->sig_len + 1)) == NULL) {
		rv = SIGNET_ERR_NOMEM;
		goto out;
	}
	rd_init(&r, buf + si->sig_off, si->sig_len);
	while (rd_left(&r) > 0) {
		ln = 0;
		for (;;) {
			if (rd_left(&r) == 0 ||
			    sc_next(&r, si->utf16, &cp, NULL) != 0 || cp == '\n')
				break;
			if (cp != '\r' && ln < SC_LINE_PREFIX)
				line[ln++] = (char)cp;
		}
		line[ln] = '\0';
		if (first) {
			first = 0;
			continue;	/* the begin marker */
		}
		if (ln == a + strlen(sc_end) + c &&
		    memcmp(line + a, sc_end, strlen(sc_end)) == 0)
			break;
		skip = ln >= a + c ? ln - a - c : 0;
		for (i = 0; i < skip; i++)
			b64[nb++] = (unsigned char)line[a + i];
	}
	if ((ctx = EVP_ENCODE_CTX_new()) == NULL) {
		rv = SIGNET_ERR_NOMEM;
		goto out;
	}
	EVP_DecodeInit(ctx);
	if (nb > INT_MAX || EVP_DecodeUpdate(ctx, out, &n, b64, (int)nb) < 0 ||
	    EVP_DecodeFinal(ctx, out + n, &fin) != 1 || n + fin <= 0) {
		rv = sc_fail(m, SIGNET_ERR_INVALID, "the signature block's "
		    "base64 does not decode");
		goto out;
	}
	*der = OPENSSL_memdup(out, (size_t)(n + fin));
	if (*der == NULL) {
		rv = SIGNET_ERR_NOMEM;
		goto out;
	}
	*dlen = (size_t)(n + fin);
	rv = 0;
out:
	EVP_ENCODE_CTX_free(ctx);
	free(b64);
	free(out);
	return rv;
}

int
ac_script_digest_buf(const uint8_t *buf, const struct ac_script_info *si,
    const EVP_MD *md, unsigned char *out)
{
	EVP_MD_CTX *mc = NULL;
	unsigned char blk[4096];
	size_t k = 0;
	unsigned int dl = 0;
	struct rd r;
	uint32_t cp, v;
	int rv = SIGNET_ERR_CRYPTO;

	if ((mc = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestInit_ex(mc, md, NULL) != 1)
		goto out;
	if (si->utf16) {
		/* already UTF-16LE: hashed as it is, its BOM included */
		if (EVP_DigestUpdate(mc, buf, si->end) != 1)
			goto out;
	} else {
		rd_init(&r, buf, si->end);
		while (rd_left(&r) > 0) {
			if (sc_next(&r, 0, &cp, NULL) != 0) {
				rv = SIGNET_ERR_INVALID;
				goto out;
			}
			if (k + 4 > sizeof(blk)) {
				if (EVP_DigestUpdate(mc, blk, k) != 1)
					goto out;
				k = 0;
			}
			if (cp >= 0x10000) {
				v = 0xd800 + ((cp - 0x10000) >> 10);
				blk[k++] = (unsigned char)v;
				blk[k++] = (unsigned char)(v >> 8);
				v = 0xdc00 + ((cp - 0x10000) & 0x3ff);
				blk[k++] = (unsigned char)v;
				blk[k++] = (unsigned char)(v >> 8);
			} else {
				blk[k++] = (unsigned char)cp;
				blk[k++] = (unsigned char)(cp >> 8);
			}
		}
		if (EVP_DigestUpdate(mc, blk, k) != 1)
			goto out;
	}
	if (EVP_DigestFinal_ex(mc, out, &dl) != 1)
		goto out;
	rv = 0;
out:
	EVP_MD_CTX_free(mc);
	return rv;
}

/* --- the format ---------------------------------------------------- */

/* Reads the whole script (at most SIGNET_MAX_SCRIPT bytes). */
static int
sc_load(int fd, uint64_t size, uint8_t **buf, struct ac_msg *m)
{
	uint8_t *b;
	size_t got = 0;
	ssize_t n;

	*buf = NULL;
	if (size == 0)
		return sc_fail(m, SIGNET_ERR_INVALID, "the script is empty");
	if (size > SIGNET_MAX_SCRIPT)
		return sc_fail(m, SIGNET_ERR_TOO_LARGE, "the script is larger "
		    "than %d bytes", SIGNET_MAX_SCRIPT);
	if ((b = malloc((size_t)size)) == NULL)
		return SIGNET_ERR_NOMEM;
	while (got < size) {
		n = pread(fd, b + got, (size_t)size - got, (off_t)got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			free(b);
			return sc_fail(m, n == 0 ? SIGNET_ERR_TRUNCATED :
			    SIGNET_ERR_IO, "the script could not be read");
		}
		got += (size_t)n;
	}
	*buf = b;
	return 0;
}

/* Text, not a binary: no NUL byte and no control character but tab, line
 * breaks and form feed in what is shown, valid UTF-8 (a character cut
 * off at the end of head is allowed) or UTF-16LE with its BOM. */
static int
sc_detect(const unsigned char *head, size_t n)
{
	struct rd r;
	uint32_t cp;
	size_t at;
	int utf16;

	if (n == 0)
		return 0;
	utf16 = n >= 2 && head[0] == 0xff && head[1] == 0xfe;
	rd_init(&r, head, n);
	if (utf16 && rd_skip(&r, 2) != 0)
		return 0;
	while (rd_left(&r) > 0) {
		at = r.off;
		if (sc_next(&r, utf16, &cp, NULL) != 0)
			/* a character cut by the end of what is shown */
			return n == AC_MAGIC_LEN && n - at < 4 &&
			    memchr(head + at, 0, n - at) == NULL;
		if (cp < 0x20 && cp != '\t' && cp != '\n' && cp != '\r' &&
		    cp != '\f')
			return 0;
		if (cp == 0x7f)
			return 0;
	}
	return 1;
}

static int
sc_check(int fd, uint64_t size, struct ac_msg *m)
{
	struct ac_script_info si;
	unsigned char *der = NULL;
	uint8_t *buf = NULL;
	size_t dlen = 0;
	int r;

	if ((r = sc_load(fd, size, &buf, m)) != 0)
		return r;
	if ((r = ac_script_parse(buf, (size_t)size, &si, m)) == 0)
		r = ac_script_signature(buf, (size_t)size, &si, &der, &dlen, m);
	if (r == 0 && der != NULL) {
		const unsigned char *p = der;
		PKCS7 *p7 = d2i_PKCS7(NULL, &p, (long)dlen);

		if (p7 == NULL || p != der + dlen || !PKCS7_type_is_signed(p7))
			r = sc_fail(m, SIGNET_ERR_INVALID, "the signature "
			    "block does not hold a PKCS#7 SignedData");
		PKCS7_free(p7);
	}
	OPENSSL_free(der);
	free(buf);
	return r;
}

static int
sc_digest(int fd, uint64_t size, const EVP_MD *md, unsigned char *out,
    struct ac_msg *m)
{
	struct ac_script_info si;
	uint8_t *buf = NULL;
	int r;

	if ((r = sc_load(fd, size, &buf, m)) == 0 &&
	    (r = ac_script_parse(buf, (size_t)size, &si, m)) == 0)
		r = ac_script_digest_buf(buf, &si, md, out);
	free(buf);
	return r;
}

static int
sc_indirect(const EVP_MD *md, const unsigned char *digest,
    unsigned char **der, size_t *len)
{
	unsigned char *sip = NULL;
	size_t slen = 0;
	int r;

	*der = NULL;
	*len = 0;
	/* PowerShell's SIP: version 65536, as signtool and osslsigncode */
	if ((r = ac_sip_info_der(65536, sc_sip_guid, &sip, &slen)) == 0)
		r = ac_indirect_der(AC_OID_SIP_INFO, sip, slen, md, digest,
		    der, len);
	OPENSSL_free(sip);
	return r;
}

static int
sc_existing(int fd, uint64_t size, unsigned char **der, size_t *len,
    struct ac_msg *m)
{
	struct ac_script_info si;
	uint8_t *buf = NULL;
	int r;

	*der = NULL;
	*len = 0;
	if ((r = sc_load(fd, size, &buf, m)) == 0 &&
	    (r = ac_script_parse(buf, (size_t)size, &si, m)) == 0)
		r = ac_script_signature(buf, (size_t)size, &si, der, len, m);
	free(buf);
	return r;
}

/* Does the text (before any block) end in a CR, in its encoding? */
static int
sc_ends_in_cr(const uint8_t *buf, const struct ac_script_info *si)
{
	if (si->utf16)
		return si->end >= 4 && buf[si->end - 2] == '\r' &&
		    buf[si->end - 1] == 0;
	return si->end >= 1 && buf[si->end - 1] == '\r';
}

/* One line of the block in the file's encoding: break, open, s, close. */
static int
sc_put_line(const struct ac_sink *out, const struct ac_script_info *si,
    const char *s, size_t n)
{
	unsigned char line[2 * (2 + 5 + 64 + 4 + 32)];
	const char *open = si->xml ? "<!-- " : "# ";
	const char *close = si->xml ? " -->" : "";
	char text[2 + 5 + 64 + 4 + 32];
	size_t k = 0, i, t;

	if (n > 64 + 28)
		return SIGNET_ERR_INTERNAL;
	t = (size_t)snprintf(text, sizeof(text), "%s%s%.*s%s",
	    si->crlf ? "\r\n" : "\n", open, (int)n, s, close);
	if (t >= sizeof(text))
		return SIGNET_ERR_INTERNAL;
	for (i = 0; i < t; i++) {
		line[k++] = (unsigned char)text[i];
		if (si->utf16)
			line[k++] = 0;
	}
	return out->write(out->arg, line, k);
}

static int
sc_embed(int fd, uint64_t size, const unsigned char *p7, size_t len,
    const struct ac_sink *out, struct ac_msg *m)
{
	struct ac_script_info si;
	uint8_t *buf = NULL;
	char *b64 = NULL;
	size_t blen, i;
	int r;

	if ((r = sc_load(fd, size, &buf, m)) != 0 ||
	    (r = ac_script_parse(buf, (size_t)size, &si, m)) != 0)
		goto out;
	if (len > INT_MAX / 2 || (b64 = malloc(4 * ((len + 2) / 3) + 1)) ==
	    NULL) {
		r = SIGNET_ERR_NOMEM;
		goto out;
	}
	blen = (size_t)EVP_EncodeBlock((unsigned char *)b64, p7, (int)len);
	/* A text that ends in a bare CR would make a CRLF of it and the LF
	 * of a block that breaks its lines with LF alone: the break before
	 * the block would then take the text's last CR, and the header line
	 * end otherwise (a block the parser refuses, and that osslsigncode
	 * digests without that CR). Such a block breaks its lines with CRLF,
	 * after the text's CR. */
	if (sc_ends_in_cr(buf, &si))
		si.crlf = 1;
	/* the text as it was, without any block it had, then the block */
	if ((r = out->write(out->arg, buf, si.end)) != 0 ||
	    (r = sc_put_line(out, &si, sc_begin, strlen(sc_begin))) != 0)
		goto out;
	for (i = 0; i < blen; i += 64)
		if ((r = sc_put_line(out, &si, b64 + i,
		    blen - i < 64 ? blen - i : 64)) != 0)
			goto out;
	if ((r = sc_put_line(out, &si, sc_end, strlen(sc_end))) != 0)
		goto out;
	if (si.utf16)
		r = out->write(out->arg, si.crlf ? "\r\0\n\0" : "\n\0",
		    si.crlf ? 4 : 2);
	else
		r = out->write(out->arg, si.crlf ? "\r\n" : "\n",
		    si.crlf ? 2 : 1);
out:
	free(b64);
	free(buf);
	return r;
}

const struct ac_format ac_script_format = {
	.slug = "authenticode-script",
	.title = "Authenticode-signed PowerShell script (.ps1, .psm1, .psd1, "
	    ".ps1xml)",
	.detect = sc_detect,
	.check = sc_check,
	.digest = sc_digest,
	.indirect = sc_indirect,
	.existing = sc_existing,
	.embed = sc_embed,
};
