/* Authenticode for cabinets. The layout is [MS-CAB] (sections cited as
 * "2.2" etc.); where the signature goes is not in [MS-CAB]: signtool and
 * osslsigncode (cab.c) put it after the last CFDATA block, padded with
 * zeros to a multiple of 8, and find it through a header reserve
 * (cbCFHeader = 20, cbCFFolder = cbCFData = 0) whose abReserve reads
 *
 *   offset 40  u32  0x00100000 (a constant both tools write)
 *   offset 44  u32  where the signature begins (= cbCabinet)
 *   offset 48  u32  its size with the padding (it ends the file)
 *   offset 52  u8[8] zero
 *
 * The digest covers the header except reserved1 (4..7) and 34..55
 * (iCabinet, cbCFHeader, cbCFFolder, cbCFData and abReserve up to the
 * zero bytes), then the CFFOLDER entries and every byte after them up to
 * the signature. An unsigned cabinet is hashed as it
 * will be once signed: the reserve inserted after the fixed header, so
 * cbCabinet, coffFiles and each coffCabStart grow by 24 and flags gains
 * cfhdrRESERVE_PRESENT. The fields the digest leaves out must hold the one
 * value they can have (reserved1 = 0, iCabinet = 0, bytes 52..55 zero), so
 * that nothing the signature does not cover can carry meaning. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/objects.h>
#include <openssl/pkcs7.h>
#include <openssl/x509.h>

#include "ac_cab.h"
#include "rd.h"
#include "signet_limits.h"

/* 2.2 CFHEADER: the fixed part, then (with cfhdrRESERVE_PRESENT)
 * cbCFHeader (u16), cbCFFolder and cbCFData (u8 each), abReserve */
#define CAB_HDR			36
#define CAB_RESERVE		24	/* what a signature's reserve adds */
#define CAB_SIGNED_HDR		(CAB_HDR + CAB_RESERVE)
#define CAB_SIG_CBCFHEADER	20
#define CAB_SIG_MAGIC		0x00100000u
#define CAB_MAGIC		0x4643534Du	/* "MSCF", 2.2 signature */
#define CAB_VERSION_MAJOR	1	/* 2.2 versionMajor, versionMinor */
#define CAB_VERSION_MINOR	3
/* 2.2 flags */
#define CAB_PREV_CABINET	0x0001
#define CAB_NEXT_CABINET	0x0002
#define CAB_RESERVE_PRESENT	0x0004
#define CAB_FLAGS_KNOWN		0x0007
/* field offsets in CFHEADER (2.2) */
#define CAB_OFF_CBCABINET	8
#define CAB_OFF_COFFFILES	16
#define CAB_OFF_FLAGS		30
#define CAB_OFF_ICABINET	34
#define CAB_OFF_SIGPOS		44
#define CAB_OFF_SIGLEN		48
#define CAB_OFF_COVERED		56	/* the last 4 reserve bytes are hashed */
#define CAB_FOLDER		8	/* 2.3 CFFOLDER, no per-folder reserve */
#define CAB_FILE		16	/* 2.4 CFFILE up to szName */
#define CAB_DATA		8	/* 2.5 CFDATA header, no reserve */
/* 2.3 typeCompress: the low four bits; 0 none .. 3 LZX */
#define CAB_COMPRESS_MASK	0x000F
#define CAB_COMPRESS_MAX	3
#define CAB_SIG_ALIGN		8
#define CAB_CHUNK		(64 * 1024)

/* A cabinet as check() accepted it, described by the signed file it
 * makes: hdr is that file's header with the signature's size still 0. */
struct cab {
	uint8_t hdr[CAB_SIGNED_HDR];
	uint32_t in_hdr;	/* where the CFFOLDER entries begin in fd */
	uint32_t shift;		/* what the reserve adds: 24, or 0 when there */
	uint32_t end;		/* where the cabinet ends in fd: the signature */
	uint32_t siglen;	/* the signature's size in fd (0: unsigned) */
	uint16_t folders;
	uint16_t files;
};

#define cab_err(m, err, ...) \
	signet_errf((m)->text, sizeof((m)->text), (err), __VA_ARGS__)

static void
cab_put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void
cab_put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static uint32_t
cab_get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	    (uint32_t)p[3] << 24;
}

/* Exactly n bytes at off; the caller has checked them against the size,
 * so a short read means the file changed under us. */
static int
cab_pread(int fd, uint64_t off, void *buf, size_t n, struct ac_msg *m)
{
	uint8_t *p = buf;
	ssize_t got;

	while (n > 0) {
		got = pread(fd, p, n, (off_t)off);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			return cab_err(m, SIGNET_ERR_IO,
			    "the cabinet could not be read at byte %llu",
			    (unsigned long long)off);
		p += got;
		off += (uint64_t)got;
		n -= (size_t)got;
	}
	return 0;
}

/* 2.2 CFHEADER and, when present, the signature's reserve. */
static int
cab_header(int fd, uint64_t size, struct cab *c, uint32_t *coff_files,
    struct ac_msg *m)
{
	uint8_t h[CAB_SIGNED_HDR];
	struct rd r;
	uint32_t magic, res1, cb, res2, res3, sigmagic, sigpos, siglen, zero;
	uint16_t flags, set_id, icab, cbheader;
	uint8_t vminor, vmajor, cbfolder, cbdata;
	size_t n;
	int rc;

	if (size < CAB_HDR)
		return cab_err(m, SIGNET_ERR_TRUNCATED, "the file is %llu bytes, "
		    "shorter than a cabinet's %d-byte header (CFHEADER, "
		    "[MS-CAB] 2.2)", (unsigned long long)size, CAB_HDR);
	/* room for the reserve and the largest signature, so that the
	 * signed file's 32-bit offsets cannot overflow */
	if (size > SIGNET_MAX_CAB_SIZE - CAB_RESERVE - SIGNET_MAX_CAB_SIGNATURE -
	    CAB_SIG_ALIGN)
		return cab_err(m, SIGNET_ERR_TOO_LARGE, "the cabinet is %llu "
		    "bytes; signed it would exceed the %llu bytes a cabinet "
		    "can have", (unsigned long long)size, SIGNET_MAX_CAB_SIZE);
	n = size < CAB_SIGNED_HDR ? (size_t)size : CAB_SIGNED_HDR;
	if ((rc = cab_pread(fd, 0, h, n, m)) != 0)
		return rc;
	rd_init(&r, h, n);
	if (rd_u32le(&r, &magic) != 0 || rd_u32le(&r, &res1) != 0 ||
	    rd_u32le(&r, &cb) != 0 || rd_u32le(&r, &res2) != 0 ||
	    rd_u32le(&r, coff_files) != 0 || rd_u32le(&r, &res3) != 0 ||
	    rd_u8(&r, &vminor) != 0 || rd_u8(&r, &vmajor) != 0 ||
	    rd_u16le(&r, &c->folders) != 0 || rd_u16le(&r, &c->files) != 0 ||
	    rd_u16le(&r, &flags) != 0 || rd_u16le(&r, &set_id) != 0 ||
	    rd_u16le(&r, &icab) != 0)
		return cab_err(m, SIGNET_ERR_INTERNAL, "CFHEADER misread");
	if (magic != CAB_MAGIC)
		return cab_err(m, SIGNET_ERR_INVALID, "not a cabinet: the file "
		    "does not begin with \"MSCF\" ([MS-CAB] 2.2)");
	if (res1 != 0)
		return cab_err(m, SIGNET_ERR_INVALID, "the cabinet's reserved1 "
		    "field is 0x%08x; [MS-CAB] 2.2 has it 0, and the "
		    "signature would not cover it", res1);
	if (vmajor != CAB_VERSION_MAJOR || vminor != CAB_VERSION_MINOR)
		return cab_err(m, SIGNET_ERR_INVALID, "the cabinet is version "
		    "%u.%u; [MS-CAB] 2.2 defines only %d.%d", vmajor, vminor,
		    CAB_VERSION_MAJOR, CAB_VERSION_MINOR);
	if ((flags & ~CAB_FLAGS_KNOWN) != 0)
		return cab_err(m, SIGNET_ERR_INVALID, "the cabinet's flags "
		    "0x%04x hold bits [MS-CAB] 2.2 does not define", flags);
	/* the szCabinetPrev/Next strings would follow the reserve, and the
	 * tools disagree on whether the digest covers them */
	if ((flags & (CAB_PREV_CABINET | CAB_NEXT_CABINET)) != 0)
		return cab_err(m, SIGNET_ERR_INVALID, "the cabinet is part of a "
		    "multi-cabinet set (flags 0x%04x); only single cabinets "
		    "can be signed", flags);
	if (icab != 0)
		return cab_err(m, SIGNET_ERR_INVALID, "the cabinet's iCabinet "
		    "is %u; a single cabinet is number 0, and the signature "
		    "would not cover it", icab);
	if (c->folders > SIGNET_MAX_CAB_FOLDERS)
		return cab_err(m, SIGNET_ERR_TOO_LARGE, "the cabinet has %u "
		    "folders (cFolders); at most %d are accepted", c->folders,
		    SIGNET_MAX_CAB_FOLDERS);
	if (c->files > SIGNET_MAX_CAB_FILES)
		return cab_err(m, SIGNET_ERR_TOO_LARGE, "the cabinet has %u "
		    "files (cFiles); at most %d are accepted", c->files,
		    SIGNET_MAX_CAB_FILES);

	if ((flags & CAB_RESERVE_PRESENT) == 0) {
		/* unsigned: the signed file gets the reserve after the fixed
		 * header, which moves everything after it by 24 bytes */
		if (cb != size)
			return cab_err(m, SIGNET_ERR_INVALID, "the cabinet says "
			    "it is %u bytes (cbCabinet) but the file has %llu",
			    cb, (unsigned long long)size);
		c->in_hdr = CAB_HDR;
		c->shift = CAB_RESERVE;
		c->end = (uint32_t)size;
		memcpy(c->hdr, h, CAB_HDR);
		cab_put32(c->hdr + CAB_OFF_CBCABINET, cb + CAB_RESERVE);
		cab_put32(c->hdr + CAB_OFF_COFFFILES, *coff_files + CAB_RESERVE);
		cab_put16(c->hdr + CAB_OFF_FLAGS, flags | CAB_RESERVE_PRESENT);
		cab_put16(c->hdr + CAB_HDR, CAB_SIG_CBCFHEADER);
		c->hdr[CAB_HDR + 2] = 0;	/* cbCFFolder */
		c->hdr[CAB_HDR + 3] = 0;	/* cbCFData */
		cab_put32(c->hdr + CAB_HDR + 4, CAB_SIG_MAGIC);
		cab_put32(c->hdr + CAB_OFF_SIGPOS, cb + CAB_RESERVE);
		memset(c->hdr + CAB_OFF_SIGLEN, 0, CAB_SIGNED_HDR - CAB_OFF_SIGLEN);
		return 0;
	}

	if (rd_u16le(&r, &cbheader) != 0 || rd_u8(&r, &cbfolder) != 0 ||
	    rd_u8(&r, &cbdata) != 0 || rd_u32le(&r, &sigmagic) != 0 ||
	    rd_u32le(&r, &sigpos) != 0 || rd_u32le(&r, &siglen) != 0 ||
	    rd_u32le(&r, &zero) != 0)
		return cab_err(m, SIGNET_ERR_TRUNCATED, "the cabinet's header "
		    "reserve runs past the end of the file (%llu bytes)",
		    (unsigned long long)size);
	if (cbheader != CAB_SIG_CBCFHEADER || cbfolder != 0 || cbdata != 0)
		return cab_err(m, SIGNET_ERR_INVALID, "the cabinet has reserve "
		    "areas (cbCFHeader %u, cbCFFolder %u, cbCFData %u) that "
		    "are not an Authenticode signature's (%d, 0, 0)", cbheader,
		    cbfolder, cbdata, CAB_SIG_CBCFHEADER);
	if (sigmagic != CAB_SIG_MAGIC || zero != 0)
		return cab_err(m, SIGNET_ERR_INVALID, "the cabinet's header "
		    "reserve does not describe an Authenticode signature");
	if (sigpos == 0 || siglen == 0)
		return cab_err(m, SIGNET_ERR_INVALID, "the cabinet's signature "
		    "reserve is empty (offset %u, size %u)", sigpos, siglen);
	if (sigpos >= size)
		return cab_err(m, SIGNET_ERR_INVALID, "the cabinet's signature "
		    "(offset %u, size %u) lies outside the file (%llu bytes)",
		    sigpos, siglen, (unsigned long long)size);
	if ((uint64_t)sigpos + siglen > size)
		return cab_err(m, SIGNET_ERR_TRUNCATED, "the cabinet's signature "
		    "(offset %u, size %u) runs past the end of the file (%llu "
		    "bytes)", sigpos, siglen, (unsigned long long)size);
	if ((uint64_t)sigpos + siglen != size)
		return cab_err(m, SIGNET_ERR_INVALID, "the cabinet's signature "
		    "(offset %u, size %u) ends at byte %llu, not at the end of "
		    "the file (%llu bytes)", sigpos, siglen,
		    (unsigned long long)sigpos + siglen,
		    (unsigned long long)size);
	if (sigpos < CAB_SIGNED_HDR)
		return cab_err(m, SIGNET_ERR_INVALID, "the cabinet's signature "
		    "begins at byte %u, inside the header", sigpos);
	if (siglen > SIGNET_MAX_CAB_SIGNATURE)
		return cab_err(m, SIGNET_ERR_TOO_LARGE, "the cabinet's signature "
		    "is %u bytes; at most %d are accepted", siglen,
		    SIGNET_MAX_CAB_SIGNATURE);
	if (cb != sigpos)
		return cab_err(m, SIGNET_ERR_INVALID, "the cabinet says it is "
		    "%u bytes (cbCabinet) but its signature begins at byte %u; "
		    "in a signed cabinet they are equal", cb, sigpos);
	c->in_hdr = CAB_SIGNED_HDR;
	c->shift = 0;
	c->end = sigpos;
	c->siglen = siglen;
	memcpy(c->hdr, h, CAB_SIGNED_HDR);
	cab_put32(c->hdr + CAB_OFF_SIGLEN, 0);
	return 0;
}

/* 2.4 CFFILE entries from coff_files; *files_end is where they stop. */
static int
cab_file_entries(int fd, const struct cab *c, uint32_t coff_files,
    uint32_t *files_end, struct ac_msg *m)
{
	uint8_t buf[CAB_FILE + SIGNET_MAX_CAB_NAME];
	const uint8_t *name;
	uint32_t cbfile, uoff;
	uint16_t ifolder, date, time, attribs;
	uint64_t off = coff_files;
	struct rd r;
	size_t n, len;
	unsigned int i;
	int rc;

	for (i = 0; i < c->files; i++) {
		if (off > c->end || c->end - off < CAB_FILE)
			return cab_err(m, SIGNET_ERR_TRUNCATED, "file entry %u "
			    "of %u (CFFILE, [MS-CAB] 2.4) runs past the end of "
			    "the cabinet", i + 1, c->files);
		n = c->end - off < sizeof(buf) ? (size_t)(c->end - off) :
		    sizeof(buf);
		if ((rc = cab_pread(fd, off, buf, n, m)) != 0)
			return rc;
		rd_init(&r, buf, n);
		if (rd_u32le(&r, &cbfile) != 0 || rd_u32le(&r, &uoff) != 0 ||
		    rd_u16le(&r, &ifolder) != 0 || rd_u16le(&r, &date) != 0 ||
		    rd_u16le(&r, &time) != 0 || rd_u16le(&r, &attribs) != 0)
			return cab_err(m, SIGNET_ERR_INTERNAL, "CFFILE misread");
		rc = rd_until(&r, 0, SIGNET_MAX_CAB_NAME - 1, &name, &len);
		if (rc != 0 && n < sizeof(buf))
			return cab_err(m, SIGNET_ERR_TRUNCATED, "the name of "
			    "file entry %u runs past the end of the cabinet",
			    i + 1);
		if (rc != 0)
			return cab_err(m, SIGNET_ERR_TOO_LARGE, "the name of "
			    "file entry %u is longer than %d bytes ([MS-CAB] "
			    "2.4)", i + 1, SIGNET_MAX_CAB_NAME - 1);
		if (len == 0)
			return cab_err(m, SIGNET_ERR_INVALID, "file entry %u has "
			    "an empty name", i + 1);
		if (ifolder >= c->folders)
			return cab_err(m, SIGNET_ERR_INVALID, "file entry %u is "
			    "in folder %u but the cabinet has %u (values from "
			    "0xFFFD continue a multi-cabinet set)", i + 1,
			    ifolder, c->folders);
		off += r.off;
	}
	*files_end = (uint32_t)off;
	return 0;
}

/* The CFFOLDER entries (at most SIGNET_MAX_CAB_FOLDERS * 8 bytes), as
 * they are in fd. *out is freed with free(). */
static int
cab_folder_entries(int fd, const struct cab *c, uint8_t **out,
    struct ac_msg *m)
{
	size_t n = (size_t)c->folders * CAB_FOLDER;
	int rc;

	*out = NULL;
	if ((*out = malloc(n > 0 ? n : 1)) == NULL)
		return cab_err(m, SIGNET_ERR_NOMEM, "out of memory");
	if ((rc = cab_pread(fd, c->in_hdr, *out, n, m)) != 0) {
		free(*out);
		*out = NULL;
	}
	return rc;
}

/* 2.3: each folder's data begins after the file entries and inside the
 * cabinet, with a compression [MS-CAB] knows. */
static int
cab_check_folders(const struct cab *c, const uint8_t *f, uint32_t files_end,
    struct ac_msg *m)
{
	uint32_t start;
	uint16_t ndata, compress;
	struct rd r;
	unsigned int i;

	rd_init(&r, f, (size_t)c->folders * CAB_FOLDER);
	for (i = 0; i < c->folders; i++) {
		if (rd_u32le(&r, &start) != 0 || rd_u16le(&r, &ndata) != 0 ||
		    rd_u16le(&r, &compress) != 0)
			return cab_err(m, SIGNET_ERR_INTERNAL, "CFFOLDER misread");
		if ((compress & CAB_COMPRESS_MASK) > CAB_COMPRESS_MAX)
			return cab_err(m, SIGNET_ERR_INVALID, "folder %u uses "
			    "compression type %u, which [MS-CAB] 2.3 does not "
			    "define", i + 1, compress & CAB_COMPRESS_MASK);
		if (start < files_end)
			return cab_err(m, SIGNET_ERR_INVALID, "the data of folder "
			    "%u begins at byte %u (coffCabStart, [MS-CAB] 2.3), "
			    "before the end of the file entries at byte %u",
			    i + 1, start, files_end);
		if ((uint64_t)start + (ndata > 0 ? CAB_DATA : 0) > c->end)
			return cab_err(m, SIGNET_ERR_INVALID, "the data of folder "
			    "%u begins at byte %u (coffCabStart, [MS-CAB] 2.3), "
			    "past the end of the cabinet (%u bytes)", i + 1,
			    start, c->end);
	}
	return 0;
}

/* 2.5: a CFDATA block's cbUncomp is at most 32 KiB (0x8000) */
#define CAB_MAX_UNCOMP		0x8000

struct cab_span {
	uint32_t from, to;	/* a folder's data blocks: [from, to) */
	unsigned folder;
};

static int
cab_span_cmp(const void *a, const void *b)
{
	const struct cab_span *x = a, *y = b;

	return x->from < y->from ? -1 : x->from > y->from;
}

/*
 * 2.5: each folder's cCFData blocks, walked from its coffCabStart: every
 * CFDATA header and its cbData bytes inside the cabinet, cbUncomp within
 * what a block may hold, and no two folders' blocks over each other.
 * The headers are read through a window of CAB_CHUNK bytes.
 */
static int
cab_walk_data(int fd, const struct cab *c, const uint8_t *f,
    struct ac_msg *m)
{
	struct cab_span *sp = NULL;
	uint8_t *win = NULL;
	uint64_t woff = 0, off;
	size_t wlen = 0, total = 0;
	uint32_t start;
	uint16_t ndata, compress, cbdata, cbuncomp;
	unsigned int i, j;
	struct rd r;
	int rc = SIGNET_ERR_NOMEM;

	if (c->folders == 0)
		return 0;
	if ((sp = calloc(c->folders, sizeof(*sp))) == NULL ||
	    (win = malloc(CAB_CHUNK)) == NULL)
		goto out;
	rd_init(&r, f, (size_t)c->folders * CAB_FOLDER);
	for (i = 0; i < c->folders; i++) {
		if (rd_u32le(&r, &start) != 0 || rd_u16le(&r, &ndata) != 0 ||
		    rd_u16le(&r, &compress) != 0) {
			rc = cab_err(m, SIGNET_ERR_INTERNAL, "CFFOLDER misread");
			goto out;
		}
		total += ndata;
		if (total > SIGNET_MAX_CAB_DATA_BLOCKS) {
			rc = cab_err(m, SIGNET_ERR_TOO_LARGE, "the cabinet's "
			    "folders have more than %d data blocks (cCFData, "
			    "[MS-CAB] 2.3)", SIGNET_MAX_CAB_DATA_BLOCKS);
			goto out;
		}
		off = start;
		for (j = 0; j < ndata; j++) {
			struct rd h;

			if (off + CAB_DATA > c->end) {
				rc = cab_err(m, SIGNET_ERR_TRUNCATED, "data "
				    "block %u of folder %u (CFDATA, [MS-CAB] "
				    "2.5) begins at byte %llu, and its header "
				    "runs past the end of the cabinet (%u "
				    "bytes)", j + 1, i + 1,
				    (unsigned long long)off, c->end);
				goto out;
			}
			if (off < woff || off + CAB_DATA > woff + wlen) {
				wlen = c->end - off < CAB_CHUNK ?
				    (size_t)(c->end - off) : CAB_CHUNK;
				woff = off;
				if ((rc = cab_pread(fd, off, win, wlen, m)) != 0)
					goto out;
			}
			rd_init(&h, win + (off - woff), CAB_DATA);
			if (rd_skip(&h, 4) != 0 || rd_u16le(&h, &cbdata) != 0 ||
			    rd_u16le(&h, &cbuncomp) != 0) {
				rc = cab_err(m, SIGNET_ERR_INTERNAL, "CFDATA "
				    "misread");
				goto out;
			}
			if (cbuncomp > CAB_MAX_UNCOMP) {
				rc = cab_err(m, SIGNET_ERR_INVALID, "data block "
				    "%u of folder %u says it holds %u bytes "
				    "(cbUncomp); [MS-CAB] 2.5 allows at most "
				    "%u", j + 1, i + 1, cbuncomp,
				    CAB_MAX_UNCOMP);
				goto out;
			}
			off += CAB_DATA + cbdata;
			if (off > c->end) {
				rc = cab_err(m, SIGNET_ERR_TRUNCATED, "data "
				    "block %u of folder %u (%u bytes, cbData) "
				    "runs past the end of the cabinet (%u "
				    "bytes)", j + 1, i + 1, cbdata, c->end);
				goto out;
			}
		}
		sp[i].from = start;
		sp[i].to = (uint32_t)off;
		sp[i].folder = i + 1;
	}
	/* by start; a folder's blocks must begin where those of every
	 * folder before have ended (the one reaching furthest is kept) */
	qsort(sp, c->folders, sizeof(*sp), cab_span_cmp);
	for (i = 0, j = c->folders; i < c->folders; i++) {
		if (sp[i].to == sp[i].from)
			continue;	/* no blocks */
		if (j < c->folders && sp[i].from < sp[j].to) {
			rc = cab_err(m, SIGNET_ERR_INVALID, "the data blocks of "
			    "folders %u and %u lie over each other (bytes "
			    "%u-%u and %u-%u)", sp[j].folder, sp[i].folder,
			    sp[j].from, sp[j].to, sp[i].from, sp[i].to);
			goto out;
		}
		if (j == c->folders || sp[i].to > sp[j].to)
			j = i;
	}
	rc = 0;
out:
	free(win);
	free(sp);
	return rc;
}

/* The whole structure; *folders (freed with free()) holds the CFFOLDER
 * entries as they are in fd when folders is not NULL. */
static int
cab_parse(int fd, uint64_t size, struct cab *c, uint8_t **folders,
    struct ac_msg *m)
{
	uint32_t coff_files, want, files_end;
	uint8_t *f = NULL;
	int rc;

	memset(c, 0, sizeof(*c));
	if (folders != NULL)
		*folders = NULL;
	if ((rc = cab_header(fd, size, c, &coff_files, m)) != 0)
		goto out;
	want = c->in_hdr + (uint32_t)c->folders * CAB_FOLDER;
	if (want > c->end) {
		rc = cab_err(m, SIGNET_ERR_TRUNCATED, "the cabinet's %u folder "
		    "entries (CFFOLDER, [MS-CAB] 2.3) run past its end",
		    c->folders);
		goto out;
	}
	/* the digest hashes the folder entries and then everything from
	 * there on: the file entries must follow the folders directly */
	if (coff_files != want) {
		rc = cab_err(m, SIGNET_ERR_INVALID, "the cabinet's file entries "
		    "begin at byte %u (coffFiles, [MS-CAB] 2.2), not right "
		    "after its folder entries at byte %u", coff_files, want);
		goto out;
	}
	if ((rc = cab_file_entries(fd, c, coff_files, &files_end, m)) != 0)
		goto out;
	if ((rc = cab_folder_entries(fd, c, &f, m)) != 0)
		goto out;
	if ((rc = cab_check_folders(c, f, files_end, m)) != 0 ||
	    (rc = cab_walk_data(fd, c, f, m)) != 0)
		goto out;
	if (folders != NULL) {
		*folders = f;
		f = NULL;
	}
	rc = 0;
out:
	free(f);
	return rc;
}

/* The folder entries as the signed file has them: coffCabStart moved by
 * the inserted reserve. */
static void
cab_shift_folders(const struct cab *c, uint8_t *f)
{
	unsigned int i;

	for (i = 0; i < c->folders; i++)
		cab_put32(f + i * CAB_FOLDER,
		    cab_get32(f + i * CAB_FOLDER) + c->shift);
}

/* The signature in fd: one PKCS#7 SignedData, then only zero padding.
 * *der (when der is not NULL) is freed with OPENSSL_free. */
static int
cab_signature(int fd, const struct cab *c, unsigned char **der, size_t *len,
    struct ac_msg *m)
{
	unsigned char *buf = NULL;
	const unsigned char *p;
	PKCS7 *p7 = NULL;
	size_t used, i;
	int rc;

	if ((buf = OPENSSL_malloc(c->siglen)) == NULL) {
		rc = cab_err(m, SIGNET_ERR_NOMEM, "out of memory");
		goto out;
	}
	if ((rc = cab_pread(fd, c->end, buf, c->siglen, m)) != 0)
		goto out;
	p = buf;
	p7 = d2i_PKCS7(NULL, &p, (long)c->siglen);
	if (p7 == NULL || !PKCS7_type_is_signed(p7)) {
		rc = cab_err(m, SIGNET_ERR_INVALID, "the cabinet's signature "
		    "(%u bytes at byte %u) is not a PKCS#7 SignedData",
		    c->siglen, c->end);
		goto out;
	}
	used = (size_t)(p - buf);
	for (i = used; i < c->siglen; i++)
		if (buf[i] != 0) {
			rc = cab_err(m, SIGNET_ERR_INVALID, "the cabinet's "
			    "signature is followed by %zu bytes that are not "
			    "zero padding", c->siglen - used);
			goto out;
		}
	if (der != NULL) {
		*der = buf;
		*len = used;
		buf = NULL;
	}
	rc = 0;
out:
	PKCS7_free(p7);
	OPENSSL_free(buf);
	return rc;
}

static int
cab_detect(const unsigned char *head, size_t n)
{
	return n >= 4 && memcmp(head, "MSCF", 4) == 0;
}

static int
cab_check(int fd, uint64_t size, struct ac_msg *m)
{
	struct cab c;
	int rc;

	if ((rc = cab_parse(fd, size, &c, NULL, m)) != 0)
		return rc;
	if (c.siglen > 0)
		return cab_signature(fd, &c, NULL, NULL, m);
	return 0;
}

static int
cab_digest(int fd, uint64_t size, const EVP_MD *md, unsigned char *out,
    struct ac_msg *m)
{
	EVP_MD_CTX *ctx = NULL;
	uint8_t *f = NULL, *buf = NULL;
	uint64_t off, left;
	size_t n;
	struct cab c;
	int rc;

	if ((rc = cab_parse(fd, size, &c, &f, m)) != 0)
		goto out;
	rc = SIGNET_ERR_CRYPTO;
	if ((buf = malloc(CAB_CHUNK)) == NULL ||
	    (ctx = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestInit_ex(ctx, md, NULL) != 1)
		goto out;
	cab_shift_folders(&c, f);
	/* signature, then cbCabinet .. setID (reserved1 is left out), then
	 * the reserve's last four bytes; iCabinet and the signature's
	 * offset and size are not covered */
	if (EVP_DigestUpdate(ctx, c.hdr, 4) != 1 ||
	    EVP_DigestUpdate(ctx, c.hdr + CAB_OFF_CBCABINET,
	    CAB_OFF_ICABINET - CAB_OFF_CBCABINET) != 1 ||
	    EVP_DigestUpdate(ctx, c.hdr + CAB_OFF_COVERED,
	    CAB_SIGNED_HDR - CAB_OFF_COVERED) != 1 ||
	    EVP_DigestUpdate(ctx, f, (size_t)c.folders * CAB_FOLDER) != 1)
		goto out;
	/* then everything from the file entries to the signature */
	off = c.in_hdr + (uint64_t)c.folders * CAB_FOLDER;
	for (left = c.end - off; left > 0; left -= n, off += n) {
		n = left < CAB_CHUNK ? (size_t)left : CAB_CHUNK;
		if ((rc = cab_pread(fd, off, buf, n, m)) != 0)
			goto out;
		rc = SIGNET_ERR_CRYPTO;
		if (EVP_DigestUpdate(ctx, buf, n) != 1)
			goto out;
	}
	if (EVP_DigestFinal_ex(ctx, out, NULL) != 1)
		goto out;
	rc = 0;
out:
	if (rc == SIGNET_ERR_CRYPTO)
		cab_err(m, rc, "the cabinet's digest could not be computed");
	EVP_MD_CTX_free(ctx);
	free(buf);
	free(f);
	return rc;
}

/* SpcIndirectDataContent for a cabinet (Authenticode PE specification,
 * "SpcIndirectDataContent"): data is SpcAttributeTypeAndOptionalValue
 * with type SPC_CAB_DATA_OBJID and, as signtool and osslsigncode write
 * it, an SpcLink whose file is the Unicode string "<<<Obsolete>>>". */
#define CAB_SPC_CAB_DATA_OBJID	"1.3.6.1.4.1.311.2.1.25"

static int
cab_indirect(const EVP_MD *md, const unsigned char *digest,
    unsigned char **der, size_t *len)
{
	unsigned char *link = NULL;
	size_t llen = 0;
	int rc;

	*der = NULL;
	*len = 0;
	if ((rc = ac_spc_link_obsolete(&link, &llen)) == 0)
		rc = ac_indirect_der(CAB_SPC_CAB_DATA_OBJID, link, llen, md,
		    digest, der, len);
	OPENSSL_free(link);
	return rc;
}

static int
cab_existing(int fd, uint64_t size, unsigned char **der, size_t *len,
    struct ac_msg *m)
{
	struct cab c;
	int rc;

	*der = NULL;
	*len = 0;
	if ((rc = cab_parse(fd, size, &c, NULL, m)) != 0)
		return rc;
	if (c.siglen == 0)
		return 0;
	return cab_signature(fd, &c, der, len, m);
}

static int
cab_embed(int fd, uint64_t size, const unsigned char *p7, size_t len,
    const struct ac_sink *out, struct ac_msg *m)
{
	static const uint8_t zeros[CAB_SIG_ALIGN];
	const unsigned char *p = p7;
	PKCS7 *sig = NULL;
	uint8_t *f = NULL;
	uint64_t body;
	size_t pad;
	struct cab c;
	int rc;

	if ((rc = cab_parse(fd, size, &c, &f, m)) != 0)
		goto out;
	if (len > SIGNET_MAX_CAB_SIGNATURE) {
		rc = cab_err(m, SIGNET_ERR_TOO_LARGE, "the signature is %zu "
		    "bytes; a cabinet takes at most %d", len,
		    SIGNET_MAX_CAB_SIGNATURE);
		goto out;
	}
	if (len == 0 || (sig = d2i_PKCS7(NULL, &p, (long)len)) == NULL ||
	    !PKCS7_type_is_signed(sig) || (size_t)(p - p7) != len) {
		rc = cab_err(m, SIGNET_ERR_INVALID, "the signature to embed is "
		    "not one DER PKCS#7 SignedData");
		goto out;
	}
	/* the signature is padded to a multiple of 8 and its reserve size
	 * includes the padding (osslsigncode, signtool) */
	pad = (CAB_SIG_ALIGN - len % CAB_SIG_ALIGN) % CAB_SIG_ALIGN;
	cab_put32(c.hdr + CAB_OFF_SIGLEN, (uint32_t)(len + pad));
	cab_shift_folders(&c, f);
	body = c.in_hdr + (uint64_t)c.folders * CAB_FOLDER;
	if ((rc = out->write(out->arg, c.hdr, sizeof(c.hdr))) != 0 ||
	    (rc = out->write(out->arg, f, (size_t)c.folders * CAB_FOLDER)) != 0 ||
	    (rc = out->copy(out->arg, fd, body, c.end - body)) != 0 ||
	    (rc = out->write(out->arg, p7, len)) != 0 ||
	    (pad > 0 && (rc = out->write(out->arg, zeros, pad)) != 0)) {
		cab_err(m, rc, "the signed cabinet could not be written");
		goto out;
	}
	rc = 0;
out:
	PKCS7_free(sig);
	free(f);
	return rc;
}

const struct ac_format ac_cab_format = {
	.slug = "authenticode-cab",
	.title = "Authenticode (Microsoft Cabinet)",
	.detect = cab_detect,
	.check = cab_check,
	.digest = cab_digest,
	.indirect = cab_indirect,
	.existing = cab_existing,
	.embed = cab_embed,
};
