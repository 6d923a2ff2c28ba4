/*
 * Authenticode for PE/COFF images (ac_pe.h).
 *
 * Layout (Microsoft's "PE Format" specification, from "MS-DOS Stub" to
 * "The Attribute Certificate Table (Image Only)"):
 *   0x00       DOS header ("MZ"); e_lfanew at 0x3c
 *   e_lfanew   "PE\0\0", then the COFF file header (20 bytes)
 *   +24        the optional header (SizeOfOptionalHeader bytes): Magic
 *              0x10b (PE32) or 0x20b (PE32+), SizeOfHeaders at +60,
 *              CheckSum at +64, Subsystem at +68, NumberOfRvaAndSizes
 *              and the data directories at +92/+96 (PE32) or +108/+112
 *              (PE32+); directory 4 is the certificate table, as a file
 *              offset and a size
 *   then       the section table, 40 bytes a section
 * and at the very end of the file, 8-byte aligned, the attribute
 * certificate table: WIN_CERTIFICATE entries { dwLength, wRevision
 * 0x0200, wCertificateType 0x0002, PKCS#7 SignedData }, each starting on
 * an 8-byte boundary.
 *
 * Every value read from the file is checked before it is used as an
 * offset or a size; the headers are read through the bounded reader and
 * the rest of the file in bounded chunks, never mapped or held.
 */
#include <endian.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/x509.h>

#include "ac_pe.h"
#include "bulk.h"
#include "rd.h"
#include "signet_limits.h"

#define PE_ERR(m, e, ...) signet_errf((m)->text, sizeof((m)->text), (e), \
	__VA_ARGS__)

#define PE_DOS_HEADER	64
#define PE_LFANEW_AT	0x3c
#define PE_SIG_COFF	24	/* "PE\0\0" and the COFF file header */
#define PE_SECTION	40
#define PE_CERT_DIR	4	/* IMAGE_DIRECTORY_ENTRY_SECURITY */
#define PE_WIN_CERT	8	/* WIN_CERTIFICATE up to bCertificate */
#define PE_CERT_REV_2	0x0200	/* WIN_CERT_REVISION_2_0 */
#define PE_CERT_PKCS7	0x0002	/* WIN_CERT_TYPE_PKCS_SIGNED_DATA */
/* how much of the file is read at a time */

/* Machine types signed ("Machine Types"); the digest does not depend on
 * it, but an image for anything else is not one we mean to sign. */
static const struct {
	uint16_t machine;
	const char *name;
} pe_machines[] = {
	{ 0x014c, "x86" },
	{ 0x8664, "x64" },
	{ 0x01c4, "ARM" },
	{ 0xaa64, "ARM64" },
};

/* IMAGE_SUBSYSTEM_EFI_APPLICATION .. IMAGE_SUBSYSTEM_EFI_ROM ("Windows
 * Subsystem") */
#define PE_SUBSYSTEM_EFI_FIRST	10
#define PE_SUBSYSTEM_EFI_LAST	13

/* What the headers say, every offset checked against the header prefix. */
struct pe_hdr {
	uint32_t lfanew;
	uint16_t machine;
	uint16_t nsections;
	uint16_t subsystem;
	int pe32plus;
	uint32_t size_of_headers;
	uint32_t cs_off;	/* the optional header's CheckSum */
	uint32_t dd_off;	/* the certificate-table directory entry */
	uint32_t cert_off;	/* the table, 0 and 0 when unsigned */
	uint32_t cert_len;
	uint32_t prefix;	/* headers up to the end of the section table */
	/* the section whose raw data ends last */
	uint64_t sect_end;
	uint32_t sect_ptr, sect_size;
	unsigned sect_index;
	char sect_name[9];
	unsigned nsig;		/* certificate table entries */
};

/* Walks the certificate table as its bytes go by, checking each
 * WIN_CERTIFICATE header ("The Attribute Certificate Table"). */
struct pe_certs {
	uint32_t len;		/* the table's size */
	uint32_t pos;		/* table bytes seen */
	uint32_t next;		/* where the next entry begins */
	unsigned count;
	uint8_t hdr[PE_WIN_CERT];
	size_t hn;
	/* each entry's bCertificate: offset in the table and length */
	uint32_t off[SIGNET_MAX_PE_SIGNATURES];
	uint32_t clen[SIGNET_MAX_PE_SIGNATURES];
};

/*
 * The optional header's CheckSum (the algorithm of imagehlp's
 * CheckSumMappedFile): the file's 16-bit little-endian words summed with
 * the carries folded back in, CheckSum itself counted as zero, plus the
 * file's length.
 */
struct pe_sum {
	uint64_t acc;		/* congruent to the words' sum modulo 0xffff,
				 * and 0 only while every word was: folded
				 * at the end, it is the same as folding
				 * after each word */
	uint64_t n;		/* bytes summed */
	uint8_t lo;		/* a word's first byte, while n is odd */
};

static void
pe_sum_add(struct pe_sum *s, const uint8_t *p, size_t len)
{
	uint64_t x, lo = 0, hi = 0;
	size_t i = 0;

	if (len > 0 && s->n % 2 != 0) {
		s->acc += (uint32_t)s->lo | (uint32_t)p[0] << 8;
		i = 1;
	}
	/* eight bytes at a time as two 32-bit little-endian words: as
	 * 0x10000 is 1 modulo 0xffff, a 32-bit word counts as its two
	 * 16-bit words do; each lane adds less than 2^32 per step, so it
	 * cannot overflow before 2^32 steps (32 GiB) */
	for (; i + 8 <= len; i += 8) {
		memcpy(&x, p + i, 8);
		x = le64toh(x);
		lo += (uint32_t)x;
		hi += x >> 32;
	}
	/* the same rule folds the lanes and the sum: 2^32 is 1 too, and
	 * a sum that is not 0 does not become 0 */
	lo = (lo & 0xffffffffULL) + (lo >> 32);
	hi = (hi & 0xffffffffULL) + (hi >> 32);
	s->acc += lo + hi;
	for (; i + 1 < len; i += 2)
		s->acc += (uint32_t)p[i] | (uint32_t)p[i + 1] << 8;
	s->acc = (s->acc & 0xffffffffULL) + (s->acc >> 32);
	if (i < len)
		s->lo = p[i];
	s->n += len;
}

static uint32_t
pe_sum_end(struct pe_sum *s)
{
	uint64_t acc = s->acc;

	if (s->n % 2 != 0)
		acc += s->lo;
	while (acc >> 16 != 0)
		acc = (acc & 0xffff) + (acc >> 16);
	return (uint32_t)(acc + s->n);
}

/* The sum as one number: a trailing odd byte counted as a word whose
 * high byte is zero (what the zeros that pad a file to the table's
 * boundary make of it). */
static uint64_t
pe_sum_value(const struct pe_sum *s)
{
	return s->acc + (s->n % 2 != 0 ? s->lo : 0);
}

/* What p[n] at file offset off adds to a sum, wherever it is. */
static uint64_t
pe_sum_at(uint64_t off, const uint8_t *p, size_t n)
{
	uint64_t v = 0;
	size_t i;

	for (i = 0; i < n; i++)
		v += (uint64_t)p[i] << ((off + i) % 2 != 0 ? 8 : 0);
	return v;
}

struct ac_pe_stream {
	EVP_MD_CTX *ctx;
	uint8_t *buf;		/* the header prefix */
	size_t have;
	uint64_t total;		/* bytes fed */
	enum { PS_HEAD, PS_FULL, PS_BODY, PS_FAILED } state;
	int r;
	struct ac_msg msg;
	struct pe_hdr h;
	struct pe_certs certs;
	/* what is wrong in the certificate table, told after what
	 * pe_fit() finds, in the order check() tells them */
	int cr;
	struct ac_msg cmsg;
	/* the CheckSum's sums, CheckSum and the certificate-table entry
	 * counted as zeros: up to the table, and of everything fed */
	struct pe_sum to_table, all;
	uint8_t cs_was[4], dd_was[8];
};

static uint32_t
pe_pad8(uint64_t n)
{
	return (uint32_t)((8 - n % 8) % 8);
}

static void
pe_le32(uint8_t *b, uint32_t v)
{
	b[0] = (uint8_t)v;
	b[1] = (uint8_t)(v >> 8);
	b[2] = (uint8_t)(v >> 16);
	b[3] = (uint8_t)(v >> 24);
}

static int
pe_md_ok(const EVP_MD *md)
{
	int t = md != NULL ? EVP_MD_get_type(md) : NID_undef;

	return t == NID_sha256 || t == NID_sha384 || t == NID_sha512;
}

static const char *
pe_machine_name(uint16_t machine)
{
	size_t i;

	for (i = 0; i < sizeof(pe_machines) / sizeof(pe_machines[0]); i++)
		if (pe_machines[i].machine == machine)
			return pe_machines[i].name;
	return NULL;
}

/* A section name for a message: printable ASCII, at most 8 bytes. */
static void
pe_name(const uint8_t raw[8], char out[9])
{
	size_t i;

	for (i = 0; i < 8 && raw[i] != '\0'; i++)
		out[i] = raw[i] >= 0x20 && raw[i] < 0x7f ? (char)raw[i] : '?';
	out[i] = '\0';
}

/* The headers need more than the n bytes there are so far: wait for
 * more, unless SIGNET_MAX_PE_HEADERS are there already. */
static int
pe_wait(size_t n, struct ac_msg *m)
{
	if (n < SIGNET_MAX_PE_HEADERS)
		return 1;
	return PE_ERR(m, SIGNET_ERR_TOO_LARGE, "the PE headers and section "
	    "table run past the first %d bytes of the file, more than "
	    "Signet reads", SIGNET_MAX_PE_HEADERS);
}

/*
 * Parses the header prefix from buf[n], the first n bytes of the file
 * (eof: all of it). 0 when parsed, 1 when more bytes are needed (only
 * without eof), or an error with m set. Nothing here depends on the
 * file's size; pe_fit() checks that.
 */
static int
pe_headers(const uint8_t *buf, size_t n, int eof, struct pe_hdr *h,
    struct ac_msg *m)
{
	struct rd r;
	uint8_t sig[4], raw[8];
	uint16_t mz, opt_size, magic, chars;
	uint32_t lfanew, nrva, dirs, opt, ptr, size, i;
	uint64_t need;

	memset(h, 0, sizeof(*h));
	rd_init(&r, buf, n);
	if (n == 0 && eof)
		return PE_ERR(m, SIGNET_ERR_INVALID,
		    "not a PE image: the file is empty");
	if (rd_u16le(&r, &mz) == 0 && mz != 0x5a4d)
		return PE_ERR(m, SIGNET_ERR_INVALID, "not a PE image: the file "
		    "does not begin with a DOS header (\"MZ\")");
	if (n < PE_DOS_HEADER) {
		if (!eof)
			return 1;
		return PE_ERR(m, SIGNET_ERR_TRUNCATED, "the file ends inside "
		    "the DOS header (%zu of its %d bytes)", n, PE_DOS_HEADER);
	}
	rd_init(&r, buf, n);
	if (rd_skip(&r, PE_LFANEW_AT) != 0 || rd_u32le(&r, &lfanew) != 0)
		return SIGNET_ERR_INTERNAL;
	if (lfanew < PE_DOS_HEADER)
		return PE_ERR(m, SIGNET_ERR_INVALID, "e_lfanew (0x%x) points "
		    "into the DOS header", lfanew);
	/* the optional header's fields are 4-byte aligned, and the
	 * checksum (it sums 16-bit words) needs CheckSum on a word */
	if (lfanew % 4 != 0)
		return PE_ERR(m, SIGNET_ERR_INVALID, "e_lfanew (0x%x) is not "
		    "4-byte aligned", lfanew);
	need = (uint64_t)lfanew + PE_SIG_COFF;
	if (need > n) {
		if (!eof)
			return pe_wait(n, m);
		return PE_ERR(m, SIGNET_ERR_TRUNCATED, "e_lfanew (0x%x) points "
		    "past the end of the file (%zu bytes)", lfanew, n);
	}
	rd_init(&r, buf, n);
	if (rd_skip(&r, lfanew) != 0 || rd_copy(&r, sig, 4) != 0 ||
	    rd_u16le(&r, &h->machine) != 0 ||
	    rd_u16le(&r, &h->nsections) != 0 || rd_skip(&r, 12) != 0 ||
	    rd_u16le(&r, &opt_size) != 0 || rd_u16le(&r, &chars) != 0)
		return SIGNET_ERR_INTERNAL;
	if (memcmp(sig, "PE\0\0", 4) != 0)
		return PE_ERR(m, SIGNET_ERR_INVALID, "no PE signature "
		    "(\"PE\\0\\0\") at e_lfanew (0x%x)", lfanew);
	if (pe_machine_name(h->machine) == NULL)
		return PE_ERR(m, SIGNET_ERR_INVALID, "the machine type 0x%04x "
		    "is not one Signet signs (x86, x64, ARM, ARM64)",
		    h->machine);
	if (h->nsections > SIGNET_MAX_PE_SECTIONS)
		return PE_ERR(m, SIGNET_ERR_TOO_LARGE, "the image has %u "
		    "sections, more than the %d Signet accepts",
		    h->nsections, SIGNET_MAX_PE_SECTIONS);
	if (opt_size < 2)
		return PE_ERR(m, SIGNET_ERR_INVALID, "the optional header "
		    "size (%u bytes) is too small for an optional header",
		    opt_size);
	opt = lfanew + PE_SIG_COFF;
	need = (uint64_t)opt + opt_size + (uint64_t)h->nsections * PE_SECTION;
	if (need > n) {
		if (!eof)
			return pe_wait(n, m);
		return PE_ERR(m, SIGNET_ERR_TRUNCATED, "the file (%zu bytes) "
		    "ends inside the optional header or the section table "
		    "(which end at 0x%llx)", n, (unsigned long long)need);
	}
	h->lfanew = lfanew;
	h->prefix = (uint32_t)need;

	/* "Optional Header (Image Only)" */
	rd_init(&r, buf, h->prefix);
	if (rd_skip(&r, opt) != 0 || rd_u16le(&r, &magic) != 0)
		return SIGNET_ERR_INTERNAL;
	if (magic == 0x10b)
		h->pe32plus = 0;
	else if (magic == 0x20b)
		h->pe32plus = 1;
	else
		return PE_ERR(m, SIGNET_ERR_INVALID, "the optional header magic "
		    "0x%04x is neither PE32 (0x10b) nor PE32+ (0x20b)", magic);
	dirs = h->pe32plus ? 112 : 96;
	if (opt_size < dirs)
		return PE_ERR(m, SIGNET_ERR_INVALID, "the optional header size "
		    "(%u bytes) is too small for a %s optional header (%u)",
		    opt_size, h->pe32plus ? "PE32+" : "PE32", dirs);
	rd_init(&r, buf, h->prefix);
	if (rd_skip(&r, opt + 60) != 0 ||
	    rd_u32le(&r, &h->size_of_headers) != 0 ||
	    rd_skip(&r, 4) != 0 || rd_u16le(&r, &h->subsystem) != 0)
		return SIGNET_ERR_INTERNAL;
	rd_init(&r, buf, h->prefix);
	if (rd_skip(&r, opt + dirs - 4) != 0 || rd_u32le(&r, &nrva) != 0)
		return SIGNET_ERR_INTERNAL;
	if (nrva > SIGNET_MAX_PE_DATA_DIRS)
		return PE_ERR(m, SIGNET_ERR_TOO_LARGE, "NumberOfRvaAndSizes is "
		    "%u, more than the %d data directories the specification "
		    "defines", nrva, SIGNET_MAX_PE_DATA_DIRS);
	if (nrva <= PE_CERT_DIR)
		return PE_ERR(m, SIGNET_ERR_INVALID, "NumberOfRvaAndSizes is "
		    "%u: the image has no certificate-table directory entry",
		    nrva);
	if (opt_size < dirs + 8 * nrva)
		return PE_ERR(m, SIGNET_ERR_INVALID, "the optional header size "
		    "(%u bytes) is too small for its %u data directories "
		    "(%u bytes)", opt_size, nrva, dirs + 8 * nrva);
	h->cs_off = opt + 64;
	h->dd_off = opt + dirs + 8 * PE_CERT_DIR;
	rd_init(&r, buf, h->prefix);
	if (rd_skip(&r, h->dd_off) != 0 || rd_u32le(&r, &h->cert_off) != 0 ||
	    rd_u32le(&r, &h->cert_len) != 0)
		return SIGNET_ERR_INTERNAL;
	if (h->size_of_headers < h->prefix)
		return PE_ERR(m, SIGNET_ERR_INVALID, "the section table ends at "
		    "0x%x, past the end of the headers (SizeOfHeaders 0x%x)",
		    h->prefix, h->size_of_headers);

	/* "Section Table (Section Headers)": remember the raw data that
	 * ends last */
	rd_init(&r, buf, h->prefix);
	if (rd_skip(&r, opt + opt_size) != 0)
		return SIGNET_ERR_INTERNAL;
	for (i = 0; i < h->nsections; i++) {
		if (rd_copy(&r, raw, sizeof(raw)) != 0 || rd_skip(&r, 8) != 0 ||
		    rd_u32le(&r, &size) != 0 || rd_u32le(&r, &ptr) != 0 ||
		    rd_skip(&r, 16) != 0)
			return SIGNET_ERR_INTERNAL;
		if (size != 0 && (uint64_t)ptr + size > h->sect_end) {
			h->sect_end = (uint64_t)ptr + size;
			h->sect_ptr = ptr;
			h->sect_size = size;
			h->sect_index = i + 1;
			pe_name(raw, h->sect_name);
		}
	}

	/* the certificate table's place ("The Attribute Certificate
	 * Table") */
	if ((h->cert_off == 0) != (h->cert_len == 0))
		return PE_ERR(m, SIGNET_ERR_INVALID, "the certificate-table "
		    "directory entry is malformed (offset 0x%x, size %u)",
		    h->cert_off, h->cert_len);
	if (h->cert_len != 0) {
		if (h->cert_off % 8 != 0)
			return PE_ERR(m, SIGNET_ERR_INVALID, "the certificate "
			    "table at 0x%x is not 8-byte aligned, as the PE "
			    "specification requires", h->cert_off);
		if (h->cert_len > SIGNET_MAX_PE_CERT_TABLE)
			return PE_ERR(m, SIGNET_ERR_TOO_LARGE, "the certificate "
			    "table is %u bytes, more than the %d Signet reads",
			    h->cert_len, SIGNET_MAX_PE_CERT_TABLE);
		if (h->cert_off < h->size_of_headers)
			return PE_ERR(m, SIGNET_ERR_INVALID, "the certificate "
			    "table at 0x%x overlaps the headers "
			    "(SizeOfHeaders 0x%x)", h->cert_off,
			    h->size_of_headers);
	}
	return 0;
}

/* What the headers say against the file's size. */
static int
pe_fit(const struct pe_hdr *h, uint64_t size, struct ac_msg *m)
{
	uint64_t end = size;

	/* the table's offset is 32 bits */
	if (size > UINT32_MAX)
		return PE_ERR(m, SIGNET_ERR_TOO_LARGE, "the file is %llu bytes: "
		    "a PE image's certificate table cannot follow more than "
		    "4 GiB", (unsigned long long)size);
	if (h->size_of_headers > size)
		return PE_ERR(m, SIGNET_ERR_TRUNCATED, "the file (%llu bytes) "
		    "ends inside its headers (SizeOfHeaders 0x%x)",
		    (unsigned long long)size, h->size_of_headers);
	if (h->cert_len != 0) {
		end = (uint64_t)h->cert_off + h->cert_len;
		/* since MS12-024 nothing may follow the table */
		if (end > size)
			return PE_ERR(m, SIGNET_ERR_TRUNCATED, "the certificate "
			    "table (%u bytes at 0x%x) runs past the end of the "
			    "file (%llu bytes)", h->cert_len, h->cert_off,
			    (unsigned long long)size);
		if (end < size)
			return PE_ERR(m, SIGNET_ERR_INVALID, "the certificate "
			    "table (%u bytes at 0x%x) does not end the file: "
			    "%llu bytes follow it", h->cert_len, h->cert_off,
			    (unsigned long long)(size - end));
		end = h->cert_off;
	}
	if (h->sect_end > size)
		return PE_ERR(m, SIGNET_ERR_TRUNCATED, "section %u (%s): its "
		    "raw data (0x%x bytes at 0x%x) runs past the end of the "
		    "file (%llu bytes)", h->sect_index, h->sect_name,
		    h->sect_size, h->sect_ptr, (unsigned long long)size);
	/* the table is not hashed: no section may reach into it */
	if (h->sect_end > end)
		return PE_ERR(m, SIGNET_ERR_INVALID, "section %u (%s): its raw "
		    "data (0x%x bytes at 0x%x) runs into the certificate table "
		    "at 0x%x", h->sect_index, h->sect_name, h->sect_size,
		    h->sect_ptr, h->cert_off);
	return 0;
}

static void
pe_certs_init(struct pe_certs *c, uint32_t len)
{
	memset(c, 0, sizeof(*c));
	c->len = len;
}

/* One WIN_CERTIFICATE header, complete in c->hdr, its entry starting at
 * c->pos - 8. */
static int
pe_certs_entry(struct pe_certs *c, struct ac_msg *m)
{
	struct rd r;
	uint32_t dwlen, start = c->pos - PE_WIN_CERT, left = c->len - start;
	uint16_t rev, type;
	uint64_t next;
	unsigned i = c->count + 1;

	rd_init(&r, c->hdr, sizeof(c->hdr));
	if (rd_u32le(&r, &dwlen) != 0 || rd_u16le(&r, &rev) != 0 ||
	    rd_u16le(&r, &type) != 0)
		return SIGNET_ERR_INTERNAL;
	if (dwlen < PE_WIN_CERT)
		return PE_ERR(m, SIGNET_ERR_INVALID, "WIN_CERTIFICATE %u: its "
		    "length (%u) is shorter than its own header (%d bytes)",
		    i, dwlen, PE_WIN_CERT);
	if (dwlen > left)
		return PE_ERR(m, SIGNET_ERR_INVALID, "WIN_CERTIFICATE %u: its "
		    "length (%u) runs past the end of the certificate table "
		    "(%u bytes left)", i, dwlen, left);
	if (dwlen == PE_WIN_CERT)
		return PE_ERR(m, SIGNET_ERR_INVALID, "WIN_CERTIFICATE %u holds "
		    "no signature", i);
	if (rev != PE_CERT_REV_2)
		return PE_ERR(m, SIGNET_ERR_INVALID, "WIN_CERTIFICATE %u: "
		    "revision 0x%04x, not WIN_CERT_REVISION_2_0 (0x0200)", i,
		    rev);
	if (type != PE_CERT_PKCS7)
		return PE_ERR(m, SIGNET_ERR_INVALID, "WIN_CERTIFICATE %u: type "
		    "0x%04x, not PKCS#7 SignedData (0x0002)", i, type);
	if (c->count >= SIGNET_MAX_PE_SIGNATURES)
		return PE_ERR(m, SIGNET_ERR_TOO_LARGE, "the certificate table "
		    "holds more than %d signatures", SIGNET_MAX_PE_SIGNATURES);
	c->off[c->count] = start + PE_WIN_CERT;
	c->clen[c->count] = dwlen - PE_WIN_CERT;
	c->count++;
	/* entries start on 8-byte boundaries; a last one's padding may
	 * be left out of dwLength (sbsign) or counted in it (signtool) */
	next = (uint64_t)start + dwlen + pe_pad8(dwlen);
	c->next = next > c->len ? c->len : (uint32_t)next;
	return 0;
}

/* The table's bytes from c->pos on (never more than are left). */
static int
pe_certs_feed(struct pe_certs *c, const uint8_t *p, size_t n,
    struct ac_msg *m)
{
	struct rd r;
	size_t k;
	int e;

	rd_init(&r, p, n);
	while (rd_left(&r) > 0 && c->pos < c->len) {
		if (c->pos < c->next) {
			k = rd_left(&r);
			if (k > c->next - c->pos)
				k = c->next - c->pos;
			if (rd_skip(&r, k) != 0)
				return SIGNET_ERR_INTERNAL;
			c->pos += (uint32_t)k;
			continue;
		}
		if (c->hn == 0 && c->len - c->pos < PE_WIN_CERT)
			return PE_ERR(m, SIGNET_ERR_INVALID, "the certificate "
			    "table ends inside the header of WIN_CERTIFICATE "
			    "%u", c->count + 1);
		if (rd_u8(&r, &c->hdr[c->hn]) != 0)
			return SIGNET_ERR_INTERNAL;
		c->hn++;
		c->pos++;
		if (c->hn == PE_WIN_CERT) {
			c->hn = 0;
			if ((e = pe_certs_entry(c, m)) != 0)
				return e;
		}
	}
	return 0;
}

static int
pe_certs_end(const struct pe_certs *c, struct ac_msg *m)
{
	if (c->pos != c->len || c->hn != 0)
		return PE_ERR(m, SIGNET_ERR_TRUNCATED,
		    "the certificate table is incomplete");
	return 0;
}

/* n bytes of fd at off, all of them. */
static int
pe_pread(int fd, void *buf, size_t n, uint64_t off, struct ac_msg *m)
{
	size_t done = 0;
	ssize_t k;

	while (done < n) {
		k = pread(fd, (uint8_t *)buf + done, n - done,
		    (off_t)(off + done));
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return PE_ERR(m, SIGNET_ERR_IO, "the file could not be "
			    "read at 0x%llx", (unsigned long long)(off + done));
		done += (size_t)k;
	}
	return 0;
}

/*
 * Checks the file: headers, size, certificate table. With table != NULL
 * the table is read whole into *table (free()) for its entries in c.
 */
static int
pe_load(int fd, uint64_t size, struct pe_hdr *h, uint8_t **table,
    struct pe_certs *c, struct ac_msg *m)
{
	struct pe_certs local;
	uint8_t *buf = NULL, *tab = NULL;
	size_t n = size < SIGNET_MAX_PE_HEADERS ? (size_t)size :
	    SIGNET_MAX_PE_HEADERS;
	uint64_t off;
	size_t k;
	int r = SIGNET_ERR_NOMEM;

	if (table != NULL)
		*table = NULL;
	if (c == NULL)
		c = &local;
	if ((buf = malloc(SIGNET_MAX_PE_HEADERS)) == NULL)
		goto out;
	if ((r = pe_pread(fd, buf, n, 0, m)) != 0)
		goto out;
	r = pe_headers(buf, n, size <= SIGNET_MAX_PE_HEADERS, h, m);
	if (r > 0)
		r = SIGNET_ERR_INTERNAL;
	if (r != 0 || (r = pe_fit(h, size, m)) != 0)
		goto out;
	pe_certs_init(c, h->cert_len);
	if (h->cert_len != 0 && table != NULL) {
		r = SIGNET_ERR_NOMEM;
		if ((tab = malloc(h->cert_len)) == NULL)
			goto out;
		if ((r = pe_pread(fd, tab, h->cert_len, h->cert_off, m)) != 0 ||
		    (r = pe_certs_feed(c, tab, h->cert_len, m)) != 0)
			goto out;
	} else {
		for (off = 0; off < h->cert_len; off += k) {
			k = h->cert_len - off < SIGNET_MAX_PE_HEADERS ?
			    (size_t)(h->cert_len - off) : SIGNET_MAX_PE_HEADERS;
			if ((r = pe_pread(fd, buf, k, h->cert_off + off,
			    m)) != 0 || (r = pe_certs_feed(c, buf, k, m)) != 0)
				goto out;
		}
	}
	if (h->cert_len != 0 && (r = pe_certs_end(c, m)) != 0)
		goto out;
	h->nsig = c->count;
	if (table != NULL) {
		*table = tab;
		tab = NULL;
	}
	r = 0;
out:
	free(tab);
	free(buf);
	return r;
}

/* ---- the streaming digest ---- */

int
ac_pe_stream_new(const EVP_MD *md, struct ac_pe_stream **out)
{
	struct ac_pe_stream *s = NULL;
	int r = SIGNET_ERR_INVALID;

	*out = NULL;
	if (!pe_md_ok(md))
		goto out;
	r = SIGNET_ERR_NOMEM;
	if ((s = calloc(1, sizeof(*s))) == NULL ||
	    (s->buf = malloc(SIGNET_MAX_PE_HEADERS)) == NULL ||
	    (s->ctx = EVP_MD_CTX_new()) == NULL)
		goto out;
	r = SIGNET_ERR_CRYPTO;
	if (EVP_DigestInit_ex(s->ctx, md, NULL) != 1)
		goto out;
	s->state = PS_HEAD;
	*out = s;
	s = NULL;
	r = 0;
out:
	ac_pe_stream_free(s);
	return r;
}

void
ac_pe_stream_free(struct ac_pe_stream *s)
{
	if (s == NULL)
		return;
	EVP_MD_CTX_free(s->ctx);
	free(s->buf);
	free(s);
}

static int
pe_hash(struct ac_pe_stream *s, const void *p, size_t n)
{
	if (n > 0 && EVP_DigestUpdate(s->ctx, p, n) != 1)
		return SIGNET_ERR_CRYPTO;
	return 0;
}

/* buf[from .. from + len) of buf[n], through the bounded reader; NULL
 * when that is not inside it. */
static const uint8_t *
pe_span(const uint8_t *buf, size_t n, size_t from, size_t len)
{
	struct rd r;
	const uint8_t *q;
	size_t k;

	if (from > n || len > n - from)
		return NULL;
	rd_init(&r, buf, from + len);
	if (rd_skip(&r, from) != 0 || rd_rest(&r, len, &q, &k) != 0)
		return NULL;
	return q;
}

/* Bytes at file offset off, past the header prefix: hashed up to the
 * certificate table, walked from there. */
static int
pe_body(struct ac_pe_stream *s, uint64_t off, const uint8_t *p, size_t n)
{
	const uint8_t *q;
	uint64_t tab_end;
	size_t k = n, left;
	int e;

	if (s->h.cert_len != 0) {
		if (off >= s->h.cert_off)
			k = 0;
		else if (s->h.cert_off - off < k)
			k = (size_t)(s->h.cert_off - off);
	}
	pe_sum_add(&s->all, p, n);
	/* before the table both sums have seen the same bytes */
	if (k == n)
		s->to_table = s->all;
	else
		pe_sum_add(&s->to_table, p, k);
	if (k > 0 && ((q = pe_span(p, n, 0, k)) == NULL ||
	    (e = pe_hash(s, q, k)) != 0))
		return q == NULL ? SIGNET_ERR_INTERNAL : e;
	if (k == n)
		return 0;
	/* in the table; whatever follows it pe_fit() refuses */
	off += k;
	tab_end = (uint64_t)s->h.cert_off + s->h.cert_len;
	if (off >= tab_end)
		return 0;
	left = n - k;
	if (left > tab_end - off)
		left = (size_t)(tab_end - off);
	if ((q = pe_span(p, n, k, left)) == NULL)
		return SIGNET_ERR_INTERNAL;
	if (s->cr == 0)
		s->cr = pe_certs_feed(&s->certs, q, left, &s->cmsg);
	return 0;
}

/* The header prefix is complete: hash it without CheckSum and the
 * certificate-table entry, then go on with what came after it. */
static int
pe_head_done(struct ac_pe_stream *s)
{
	const struct pe_hdr *h = &s->h;
	const uint8_t *a, *b, *c, *rest;
	int e;

	a = pe_span(s->buf, s->have, 0, h->cs_off);
	b = pe_span(s->buf, s->have, h->cs_off + 4, h->dd_off - h->cs_off - 4);
	c = pe_span(s->buf, s->have, h->dd_off + 8, h->prefix - h->dd_off - 8);
	rest = pe_span(s->buf, s->have, h->prefix, s->have - h->prefix);
	if (a == NULL || b == NULL || c == NULL || rest == NULL)
		return SIGNET_ERR_INTERNAL;
	if ((e = pe_hash(s, a, h->cs_off)) != 0 ||
	    (e = pe_hash(s, b, h->dd_off - h->cs_off - 4)) != 0 ||
	    (e = pe_hash(s, c, h->prefix - h->dd_off - 8)) != 0)
		return e;
	/* summed with the two fields as zeros; what they held is kept */
	memcpy(s->cs_was, s->buf + h->cs_off, 4);
	memcpy(s->dd_was, s->buf + h->dd_off, 8);
	memset(s->buf + h->cs_off, 0, 4);
	memset(s->buf + h->dd_off, 0, 8);
	pe_sum_add(&s->all, s->buf, h->prefix);
	pe_sum_add(&s->to_table, s->buf, h->cert_len != 0 &&
	    h->cert_off < h->prefix ? h->cert_off : h->prefix);
	pe_certs_init(&s->certs, h->cert_len);
	s->state = PS_BODY;
	return pe_body(s, h->prefix, rest, s->have - h->prefix);
}

static void
pe_stream_fail(struct ac_pe_stream *s, int r)
{
	s->state = PS_FAILED;
	s->r = r;
	if (s->msg.text[0] == '\0')
		PE_ERR(&s->msg, r, "the PE image could not be read (%s)",
		    signet_strerror(r));
}

int
ac_pe_stream_update(struct ac_pe_stream *s, const void *p, size_t n)
{
	const uint8_t *q = p;
	size_t k;
	int r;

	while (n > 0) {
		switch (s->state) {
		case PS_HEAD:
			k = SIGNET_MAX_PE_HEADERS - s->have;
			if (k > n)
				k = n;
			memcpy(s->buf + s->have, q, k);
			s->have += k;
			s->total += k;
			q += k;
			n -= k;
			r = pe_headers(s->buf, s->have, 0, &s->h, &s->msg);
			if (r == 1)
				break;
			if (r < 0 && s->have == SIGNET_MAX_PE_HEADERS) {
				/* final() decides, knowing where the
				 * file ends */
				s->msg.text[0] = '\0';
				s->state = PS_FULL;
				break;
			}
			if (r == 0)
				r = pe_head_done(s);
			if (r != 0)
				pe_stream_fail(s, r);
			break;
		case PS_BODY:
			if ((r = pe_body(s, s->total, q, n)) != 0)
				pe_stream_fail(s, r);
			s->total += n;
			n = 0;
			break;
		case PS_FULL:
		case PS_FAILED:
			s->total += n;
			n = 0;
			break;
		}
	}
	return 0;
}

int
ac_pe_stream_final(struct ac_pe_stream *s, unsigned char *digest,
    struct ac_msg *m)
{
	static const uint8_t zero[8];
	unsigned int len;
	int r;

	m->text[0] = '\0';
	switch (s->state) {
	case PS_FAILED:
		*m = s->msg;
		return s->r;
	case PS_HEAD:
	case PS_FULL:
		r = pe_headers(s->buf, s->have, s->total == s->have, &s->h, m);
		return r < 0 ? r : PE_ERR(m, SIGNET_ERR_INTERNAL,
		    "the PE headers were not read");
	case PS_BODY:
		break;
	}
	if ((r = pe_fit(&s->h, s->total, m)) != 0)
		return r;
	if (s->cr != 0) {
		*m = s->cmsg;
		return s->cr;
	}
	if (s->h.cert_len != 0 && (r = pe_certs_end(&s->certs, m)) != 0)
		return r;
	/* an unsigned file is hashed as embed() writes it: padded with
	 * zeros to the 8-byte boundary the certificate table starts on */
	if (s->h.cert_len == 0 &&
	    (r = pe_hash(s, zero, pe_pad8(s->total))) != 0)
		return r;
	if (EVP_DigestFinal_ex(s->ctx, digest, &len) != 1)
		return SIGNET_ERR_CRYPTO;
	return 0;
}

int
ac_pe_stream_sums(const struct ac_pe_stream *s, char *out, size_t len)
{
	int n;

	if (s->state != PS_BODY)
		return SIGNET_ERR_INVALID;
	n = snprintf(out, len, "%016llx:%016llx",
	    (unsigned long long)pe_sum_value(&s->to_table),
	    (unsigned long long)pe_sum_value(&s->all));
	return n > 0 && (size_t)n < len ? 0 : SIGNET_ERR_TOO_LARGE;
}

int
ac_pe_stream_checksum_ok(const struct ac_pe_stream *s)
{
	struct pe_sum all = s->all;
	uint32_t cs = (uint32_t)s->cs_was[0] | (uint32_t)s->cs_was[1] << 8 |
	    (uint32_t)s->cs_was[2] << 16 | (uint32_t)s->cs_was[3] << 24;

	if (s->state != PS_BODY)
		return 0;
	all.acc += pe_sum_at(s->h.dd_off, s->dd_was, sizeof(s->dd_was));
	return pe_sum_end(&all) == cs;
}

/* ---- the format ---- */

static int
pe_detect(const unsigned char *head, size_t n)
{
	struct rd r;
	uint16_t mz;
	uint32_t lfanew;
	uint8_t sig[4];

	rd_init(&r, head, n);
	if (rd_u16le(&r, &mz) != 0 || mz != 0x5a4d ||
	    rd_skip(&r, PE_LFANEW_AT - 2) != 0 || rd_u32le(&r, &lfanew) != 0)
		return 0;
	/* an e_lfanew no image check() takes can have is text that begins
	 * with "MZ": the other formats may have it */
	if (lfanew < PE_DOS_HEADER || lfanew % 4 != 0 ||
	    (uint64_t)lfanew + PE_SIG_COFF > SIGNET_MAX_PE_HEADERS)
		return 0;
	rd_init(&r, head, n);
	if (rd_skip(&r, lfanew) != 0 || rd_copy(&r, sig, 4) != 0)
		/* beyond what detect() is shown: check() will tell */
		return n == AC_MAGIC_LEN;
	return memcmp(sig, "PE\0\0", 4) == 0;
}

static int
pe_check(int fd, uint64_t size, struct ac_msg *m)
{
	struct pe_hdr h;

	return pe_load(fd, size, &h, NULL, NULL, m);
}

/*
 * The Authenticode specification ("Calculating the PE Image Hash") hashes
 * the headers, then the sections sorted by PointerToRawData, then what
 * follows them up to the certificate table. osslsigncode hashes the file
 * in order instead, gaps between sections included, and Windows accepts
 * its signatures; Microsoft's own signatures of shim, whose sections
 * leave gaps, are over that digest too (test_ac_pe). So this hashes the
 * file in order, through the stream, so that a file read here and one
 * streamed in get one digest.
 */
static int
pe_digest(int fd, uint64_t size, const EVP_MD *md, unsigned char *out,
    struct ac_msg *m)
{
	struct ac_pe_stream *s = NULL;
	struct bulk_reader *rd = NULL;
	const uint8_t *p;
	size_t k;
	int r;

	if ((r = ac_pe_stream_new(md, &s)) != 0) {
		PE_ERR(m, r, "the digest could not be set up");
		goto out;
	}
	if ((r = bulk_reader_new(fd, 0, size, &rd)) != 0) {
		PE_ERR(m, r, "the file could not be read (%s)",
		    signet_strerror(r));
		goto out;
	}
	while ((r = bulk_read(rd, &p, &k)) == 0 && k > 0)
		if ((r = ac_pe_stream_update(s, p, k)) != 0)
			goto out;
	if (r != 0) {
		PE_ERR(m, r, "the file could not be read (%s)",
		    signet_strerror(r));
		goto out;
	}
	r = ac_pe_stream_final(s, out, m);
out:
	bulk_reader_free(rd);
	ac_pe_stream_free(s);
	return r;
}

/*
 * SpcIndirectDataContent (Authenticode PE, "Authenticode-Specific
 * Structures") as signtool and osslsigncode write it for a PE image:
 *
 *   SpcIndirectDataContent ::= SEQUENCE {
 *       data           SpcAttributeTypeAndOptionalValue,
 *       messageDigest  DigestInfo }
 *   SpcAttributeTypeAndOptionalValue ::= SEQUENCE {
 *       type   OBJECT IDENTIFIER,      -- SPC_PE_IMAGE_DATAOBJ
 *       value  SpcPeImageData }
 *   SpcPeImageData ::= SEQUENCE {
 *       flags  SpcPeImageFlags DEFAULT { includeResources },
 *       file   [0] EXPLICIT SpcLink OPTIONAL }
 *   SpcLink ::= CHOICE { ..., file [2] EXPLICIT SpcString }
 *   SpcString ::= CHOICE { unicode [0] IMPLICIT BMPString, ... }
 *
 * The file link is the fixed "<<<Obsolete>>>" the specification says
 * to write; only what is written is modelled.
 */
#define AC_PE_SPC_PE_IMAGE_DATAOBJ	"1.3.6.1.4.1.311.2.1.15"

static int
pe_indirect(const EVP_MD *md, const unsigned char *digest,
    unsigned char **der, size_t *len)
{
	/* SpcPeImageData { flags includeResources (bit 0, as osslsigncode
	 * sets it: 03 02 07 80), file [0] EXPLICIT SpcLink } */
	static const unsigned char flags[] = { 0x03, 0x02, 0x07, 0x80 };
	unsigned char *link = NULL, *data = NULL;
	size_t llen = 0, n;
	int r = SIGNET_ERR_INVALID;

	*der = NULL;
	*len = 0;
	if (!pe_md_ok(md) || digest == NULL)
		return r;
	if ((r = ac_spc_link_obsolete(&link, &llen)) != 0)
		goto out;
	r = SIGNET_ERR_NOMEM;
	/* both short: one-octet lengths (X.690 8.1.3.4) */
	if (llen > 0x7f - 2 - sizeof(flags) ||
	    (data = OPENSSL_malloc(2 + sizeof(flags) + 2 + llen)) == NULL)
		goto out;
	n = 0;
	data[n++] = 0x30;
	data[n++] = (unsigned char)(sizeof(flags) + 2 + llen);
	memcpy(data + n, flags, sizeof(flags));
	n += sizeof(flags);
	data[n++] = 0xa0;
	data[n++] = (unsigned char)llen;
	memcpy(data + n, link, llen);
	n += llen;
	r = ac_indirect_der(AC_PE_SPC_PE_IMAGE_DATAOBJ, data, n, md, digest,
	    der, len);
out:
	OPENSSL_free(link);
	OPENSSL_free(data);
	return r;
}

/* The DER of entry i's bCertificate, without the padding that may
 * follow it inside dwLength. */
static int
pe_entry_der(const uint8_t *table, const struct pe_certs *c, unsigned i,
    const uint8_t **der, size_t *len, struct ac_msg *m)
{
	const unsigned char *p, *q;
	long plen;
	int tag, cls, ret;

	if ((p = pe_span(table, c->len, c->off[i], c->clen[i])) == NULL)
		return SIGNET_ERR_INTERNAL;
	q = p;
	ret = ASN1_get_object(&q, &plen, &tag, &cls, (long)c->clen[i]);
	if ((ret & 0x80) != 0 || ret != V_ASN1_CONSTRUCTED ||
	    tag != V_ASN1_SEQUENCE || cls != V_ASN1_UNIVERSAL) {
		ERR_clear_error();
		return PE_ERR(m, SIGNET_ERR_INVALID, "WIN_CERTIFICATE %u does "
		    "not hold a DER PKCS#7 structure", i + 1);
	}
	*der = p;
	*len = (size_t)(q - p) + (size_t)plen;
	return 0;
}

static int
pe_existing(int fd, uint64_t size, unsigned char **der, size_t *len,
    struct ac_msg *m)
{
	struct pe_hdr h;
	struct pe_certs c;
	uint8_t *table = NULL;
	const uint8_t *p;
	size_t n;
	int r;

	*der = NULL;
	*len = 0;
	if ((r = pe_load(fd, size, &h, &table, &c, m)) != 0 ||
	    h.cert_len == 0)
		goto out;
	if ((r = pe_entry_der(table, &c, 0, &p, &n, m)) != 0)
		goto out;
	r = SIGNET_ERR_NOMEM;
	if ((*der = OPENSSL_memdup(p, n)) == NULL)
		goto out;
	*len = n;
	r = 0;
out:
	free(table);
	return r;
}

int
ac_pe_signatures(int fd, uint64_t size,
    int (*fn)(const unsigned char *p7, size_t len, void *arg), void *arg,
    struct ac_msg *m)
{
	struct pe_hdr h;
	struct pe_certs c;
	uint8_t *table = NULL;
	/* set by pe_entry_der on success; the release build (-O3) cannot
	 * see that and fails on -Werror=maybe-uninitialized */
	const uint8_t *p = NULL;
	size_t n = 0;
	unsigned i;
	int r;

	if ((r = pe_load(fd, size, &h, &table, &c, m)) != 0)
		goto out;
	for (i = 0; i < c.count; i++) {
		if ((r = pe_entry_der(table, &c, i, &p, &n, m)) != 0 ||
		    (r = fn(p, n, arg)) != 0)
			goto out;
	}
	r = 0;
out:
	free(table);
	return r;
}

int
ac_pe_info(int fd, uint64_t size, struct ac_pe_info *info, struct ac_msg *m)
{
	struct pe_hdr h;
	int r;

	memset(info, 0, sizeof(*info));
	if ((r = pe_load(fd, size, &h, NULL, NULL, m)) != 0)
		return r;
	info->pe32plus = h.pe32plus;
	info->machine = h.machine;
	info->subsystem = h.subsystem;
	info->efi = h.subsystem >= PE_SUBSYSTEM_EFI_FIRST &&
	    h.subsystem <= PE_SUBSYSTEM_EFI_LAST;
	info->nsignatures = h.nsig;
	return 0;
}

/* Puts val[vn] over buf[n] where file offset at lands in the chunk that
 * starts at file offset off. */
static void
pe_patch(uint8_t *buf, size_t n, uint64_t off, uint64_t at,
    const uint8_t *val, size_t vn)
{
	size_t i;

	for (i = 0; i < vn; i++)
		if (at + i >= off && at + i < off + n)
			buf[at + i - off] = val[i];
}

/* The CheckSum's sum over the input up to base, with CheckSum as zeros
 * and the certificate-table entry as dd: the headers, then the rest. */
static int
pe_sum_input(int fd, const struct pe_hdr *h, uint64_t base,
    const uint8_t dd[8], struct pe_sum *sum, struct ac_msg *m)
{
	static const uint8_t zero[4];
	struct bulk_reader *rd;
	uint64_t head = base < h->dd_off + 8 ? base : h->dd_off + 8;
	const uint8_t *p;
	uint8_t *buf;
	size_t k;
	int r;

	if ((buf = malloc((size_t)head)) == NULL)
		return SIGNET_ERR_NOMEM;
	if ((r = pe_pread(fd, buf, (size_t)head, 0, m)) == 0) {
		pe_patch(buf, (size_t)head, 0, h->cs_off, zero, 4);
		pe_patch(buf, (size_t)head, 0, h->dd_off, dd, 8);
		pe_sum_add(sum, buf, (size_t)head);
	}
	free(buf);
	if (r != 0)
		return r;
	if ((r = bulk_reader_new(fd, head, base - head, &rd)) == 0) {
		while ((r = bulk_read(rd, &p, &k)) == 0 && k > 0)
			pe_sum_add(sum, p, k);
		bulk_reader_free(rd);
	}
	if (r != 0)
		PE_ERR(m, r, "the file could not be read (%s)",
		    signet_strerror(r));
	return r;
}

/* Recorded sums ("<hex>:<hex>", ac_pe_stream_sums()); 0 or -1. */
static int
pe_parse_sums(const char *t, uint64_t *to_table, uint64_t *all)
{
	char *end;

	if (t == NULL || strlen(t) != AC_PE_SUMS_LEN - 1 || t[16] != ':')
		return -1;
	errno = 0;
	*to_table = strtoull(t, &end, 16);
	if (errno != 0 || end != t + 16)
		return -1;
	*all = strtoull(t + 17, &end, 16);
	return errno != 0 || *end != '\0' ? -1 : 0;
}

/*
 * embed(), ac_pe_embed_append() and embed_recorded(). The output is the
 * input up to base, with CheckSum and the certificate-table entry
 * changed, zeros to the table's 8-byte boundary, then the new
 * WIN_CERTIFICATE. The checksum is the sum of those bytes of the input
 * (with the changed fields put in), from the sums recorded at submission
 * or a first pass over the input, and of the new tail; then the file is
 * written through the sink, the unchanged ranges as copies.
 */
static int
pe_write(int fd, uint64_t size, int keep, const unsigned char *p7,
    size_t len, const char *sums, const struct ac_sink *out,
    struct ac_msg *m)
{
	static const uint8_t zero[8];
	struct pe_hdr h;
	struct pe_sum sum = { 0 };
	uint8_t cs[4], dd[8], win[PE_WIN_CERT];
	uint64_t base, outlen, rec_to, rec_all;
	uint32_t pad, epad, elen, toff, tlen;
	int r;

	m->text[0] = '\0';
	if ((r = pe_load(fd, size, &h, NULL, NULL, m)) != 0)
		return r;
	if (p7 == NULL || len == 0)
		return PE_ERR(m, SIGNET_ERR_INVALID, "no signature to embed");
	if (len > SIGNET_MAX_PE_CERT_TABLE - PE_WIN_CERT)
		return PE_ERR(m, SIGNET_ERR_TOO_LARGE, "the signature is %zu "
		    "bytes, more than a certificate table of %d bytes holds",
		    len, SIGNET_MAX_PE_CERT_TABLE);
	epad = pe_pad8(PE_WIN_CERT + len);
	elen = (uint32_t)(PE_WIN_CERT + len + epad);
	if (h.cert_len != 0 && keep) {
		if (h.nsig >= SIGNET_MAX_PE_SIGNATURES)
			return PE_ERR(m, SIGNET_ERR_TOO_LARGE, "the certificate "
			    "table already holds %u signatures, the most "
			    "Signet accepts", h.nsig);
		base = size;
		pad = pe_pad8(h.cert_len);
		toff = h.cert_off;
		tlen = h.cert_len + pad + elen;
	} else if (h.cert_len != 0) {
		base = h.cert_off;
		pad = 0;
		toff = h.cert_off;
		tlen = elen;
	} else {
		base = size;
		pad = pe_pad8(size);
		toff = (uint32_t)(size + pad);
		tlen = elen;
	}
	outlen = base + pad + elen;
	if (tlen > SIGNET_MAX_PE_CERT_TABLE)
		return PE_ERR(m, SIGNET_ERR_TOO_LARGE, "the certificate table "
		    "would be %u bytes, more than the %d Signet writes", tlen,
		    SIGNET_MAX_PE_CERT_TABLE);
	if (outlen > UINT32_MAX || size + pad > UINT32_MAX)
		return PE_ERR(m, SIGNET_ERR_TOO_LARGE, "the signed file would "
		    "be larger than the 4 GiB a PE image's certificate table "
		    "can follow");
	/* dwLength counts the padding, as signtool and osslsigncode do */
	pe_le32(win, elen);
	win[4] = (uint8_t)PE_CERT_REV_2;
	win[5] = (uint8_t)(PE_CERT_REV_2 >> 8);
	win[6] = (uint8_t)PE_CERT_PKCS7;
	win[7] = (uint8_t)(PE_CERT_PKCS7 >> 8);
	pe_le32(dd, toff);
	pe_le32(dd + 4, tlen);

	/* the checksum: from the sums recorded when the file streamed in,
	 * or a pass over the input */
	if (pe_parse_sums(sums, &rec_to, &rec_all) == 0 &&
	    (base == size || (h.cert_len != 0 && base == h.cert_off))) {
		sum.acc = (base == size ? rec_all : rec_to) +
		    pe_sum_at(h.dd_off, dd, sizeof(dd));
		sum.n = base;
	} else if ((r = pe_sum_input(fd, &h, base, dd, &sum, m)) != 0) {
		return r;
	}
	pe_sum_add(&sum, zero, pad);
	pe_sum_add(&sum, win, sizeof(win));
	pe_sum_add(&sum, p7, len);
	pe_sum_add(&sum, zero, epad);
	pe_le32(cs, pe_sum_end(&sum));

	/* then the file */
	r = out->copy(out->arg, fd, 0, h.cs_off);
	if (r == 0)
		r = out->write(out->arg, cs, sizeof(cs));
	if (r == 0)
		r = out->copy(out->arg, fd, h.cs_off + 4,
		    h.dd_off - h.cs_off - 4);
	if (r == 0)
		r = out->write(out->arg, dd, sizeof(dd));
	if (r == 0 && base > h.dd_off + 8)
		r = out->copy(out->arg, fd, h.dd_off + 8, base - h.dd_off - 8);
	if (r == 0 && pad > 0)
		r = out->write(out->arg, zero, pad);
	if (r == 0)
		r = out->write(out->arg, win, sizeof(win));
	if (r == 0)
		r = out->write(out->arg, p7, len);
	if (r == 0 && epad > 0)
		r = out->write(out->arg, zero, epad);
	if (r != 0 && m->text[0] == '\0')
		PE_ERR(m, r, "the signed file could not be written (%s)",
		    signet_strerror(r));
	return r;
}

static int
pe_embed(int fd, uint64_t size, const unsigned char *p7, size_t len,
    const struct ac_sink *out, struct ac_msg *m)
{
	return pe_write(fd, size, 0, p7, len, NULL, out, m);
}

static int
pe_embed_recorded(int fd, uint64_t size, int keep, const unsigned char *p7,
    size_t len, const char *recorded, const struct ac_sink *out,
    struct ac_msg *m)
{
	return pe_write(fd, size, keep, p7, len, recorded, out, m);
}

int
ac_pe_embed_append(int fd, uint64_t size, const unsigned char *p7,
    size_t len, const struct ac_sink *out, struct ac_msg *m)
{
	return pe_write(fd, size, 1, p7, len, NULL, out, m);
}

/* The signed image's digest as it is written: the stream reads the new
 * certificate-table entry from the headers and leaves the table out. */
static int
pe_written_begin(const EVP_MD *md, void **state)
{
	struct ac_pe_stream *s;
	int r = ac_pe_stream_new(md, &s);

	*state = r == 0 ? s : NULL;
	return r;
}

static int
pe_written_feed(void *state, const void *p, size_t n)
{
	return ac_pe_stream_update(state, p, n);
}

static int
pe_written_end(void *state, unsigned char *digest, struct ac_msg *m)
{
	return ac_pe_stream_final(state, digest, m);
}

static int
pe_written_check(void *state, struct ac_msg *m)
{
	if (!ac_pe_stream_checksum_ok(state))
		return PE_ERR(m, SIGNET_ERR_INTERNAL, "the signed file's "
		    "CheckSum is not the file's checksum; it was not kept");
	return 0;
}

static void
pe_written_free(void *state)
{
	ac_pe_stream_free(state);
}

static const struct ac_written pe_written = {
	.begin = pe_written_begin,
	.feed = pe_written_feed,
	.end = pe_written_end,
	.check = pe_written_check,
	.free = pe_written_free,
};

const struct ac_format ac_pe_format = {
	.slug = "authenticode-pe",
	.title = "Authenticode in a PE image (EXE, DLL, SYS, UEFI)",
	.detect = pe_detect,
	.check = pe_check,
	.digest = pe_digest,
	.indirect = pe_indirect,
	.existing = pe_existing,
	.embed = pe_embed,
	.embed_recorded = pe_embed_recorded,
	.written = &pe_written,
};
