/* Compound files ([MS-CFB]): the bounded reader and the writer (cfb.h).
 *
 * Nothing read from the file is used before it is checked: every sector
 * number against the sectors the file holds, every chain for loops and
 * for sectors another structure owns (a map with one byte per sector),
 * every directory entry's ids against the directory, the tree for loops,
 * and every stream's size against its chain. Reads are bounded preads;
 * the parsing goes through the bounded reader (rd.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cfb.h"
#include "rd.h"
#include "signet_limits.h"

#define HDR_LEN		512	/* [MS-CFB] 2.2, whatever the sector size */
#define ENTRY_LEN	128	/* 2.6 */
#define MINI_LEN	64	/* 2.2: mini sector shift 6 */
#define MINI_CUTOFF	4096	/* 2.2: streams below it live in the mini stream */
#define HDR_DIFAT	109	/* 2.2: DIFAT entries in the header */

/* 2.1 sector numbers with a meaning */
#define MAXREGSECT	0xFFFFFFFAu
#define DIFSECT		0xFFFFFFFCu
#define FATSECT		0xFFFFFFFDu
#define ENDOFCHAIN	0xFFFFFFFEu
#define FREESECT	0xFFFFFFFFu

#define COLOR_RED	0
#define COLOR_BLACK	1

#define IO_CHUNK	(64 * 1024)

/* what owns a sector (or a mini sector) while the file is checked */
enum { OWN_FREE = 0, OWN_TAKEN = 1, OWN_THIS = 2 };

static const uint8_t cfb_magic[8] = {
	0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1
};

struct cfb {
	int fd;
	uint64_t size;
	uint32_t ss;		/* sector size: 512 (version 3) or 4096 (4) */
	uint16_t minor, major;
	uint8_t hdr_clsid[16];
	uint32_t nsec;		/* sectors after the header sector */
	uint32_t *fat;		/* nsec entries */
	uint32_t nmini;		/* mini sectors in the mini stream */
	uint32_t *minifat;	/* nmini entries */
	uint32_t *mchain;	/* the mini stream's sectors in order */
	uint32_t nmchain;
	struct cfb_entry *ent;
	uint32_t nent;
	uint32_t *kids;		/* every storage's children, in tree order */
	uint32_t *kid_off, *kid_n;	/* per entry: where and how many */
	uint32_t nkids;
	uint8_t *seen;		/* per entry: in the tree (checked) */
};

/* ---- reading ---- */

static int
cfb_pread(const struct cfb *c, uint64_t off, void *buf, size_t n,
    const char *what, char *m, size_t mlen)
{
	uint8_t *p = buf;
	ssize_t got;

	if (off > c->size || n > c->size - off)
		return signet_errf(m, mlen, SIGNET_ERR_TRUNCATED,
		    "%s runs past the end of the file", what);
	while (n > 0) {
		got = pread(c->fd, p, n, (off_t)off);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0)
			return signet_errf(m, mlen, SIGNET_ERR_IO,
			    "the file could not be read");
		if (got == 0)
			return signet_errf(m, mlen, SIGNET_ERR_TRUNCATED,
			    "%s runs past the end of the file", what);
		p += got;
		n -= (size_t)got;
		off += (uint64_t)got;
	}
	return 0;
}

static uint64_t
sec_off(const struct cfb *c, uint32_t s)
{
	/* 2.2: sector 0 follows the header sector */
	return ((uint64_t)s + 1) * c->ss;
}

/* Windows Installer packs two characters of [0-9A-Za-z._] into one code
 * unit of 0x3800..0x47FF, one into 0x4800..0x483F, and marks its tables
 * with 0x4840 (msitools, libmsi's decode of stream names): shown
 * unpacked, so that a message names the stream msiinfo lists. */
static char
cfb_mime(unsigned x)
{
	static const char set[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "abcdefghijklmnopqrstuvwxyz._";

	return set[x & 0x3F];
}

void
cfb_name_text(const struct cfb_entry *e, char *out, size_t cap)
{
	size_t i, n = 0;
	unsigned u;

	if (cap == 0)
		return;
	for (i = 0; i + 1 < e->name_len && n + 2 < cap; i += 2) {
		u = e->name[i] | (unsigned)e->name[i + 1] << 8;
		if (u == 0)
			break;
		if (u >= 0x3800 && u < 0x4800) {
			out[n++] = cfb_mime(u - 0x3800);
			out[n++] = cfb_mime((u - 0x3800) >> 6);
		} else if (u >= 0x4800 && u < 0x4840)
			out[n++] = cfb_mime(u - 0x4800);
		else if (u == 0x4840)
			out[n++] = '!';
		else
			out[n++] = u >= 0x20 && u < 0x7F ? (char)u : '?';
	}
	out[n] = '\0';
}

/* The 512-byte header, [MS-CFB] 2.2. */
struct cfb_hdr {
	uint32_t ndir, nfat, dir0, minifat0, nminifat, difat0, ndifat;
	uint32_t difat[HDR_DIFAT];
};

static int
cfb_parse_header(struct cfb *c, const uint8_t *buf, struct cfb_hdr *h,
    char *m, size_t mlen)
{
	struct rd r;
	uint8_t magic[8];
	uint16_t order, shift, mshift;
	uint32_t transaction, cutoff;
	int i;

	rd_init(&r, buf, HDR_LEN);
	if (rd_copy(&r, magic, sizeof magic) != 0 ||
	    rd_copy(&r, c->hdr_clsid, 16) != 0 ||
	    rd_u16le(&r, &c->minor) != 0 || rd_u16le(&r, &c->major) != 0 ||
	    rd_u16le(&r, &order) != 0 || rd_u16le(&r, &shift) != 0 ||
	    rd_u16le(&r, &mshift) != 0 || rd_skip(&r, 6) != 0 ||
	    rd_u32le(&r, &h->ndir) != 0 || rd_u32le(&r, &h->nfat) != 0 ||
	    rd_u32le(&r, &h->dir0) != 0 || rd_u32le(&r, &transaction) != 0 ||
	    rd_u32le(&r, &cutoff) != 0 || rd_u32le(&r, &h->minifat0) != 0 ||
	    rd_u32le(&r, &h->nminifat) != 0 || rd_u32le(&r, &h->difat0) != 0 ||
	    rd_u32le(&r, &h->ndifat) != 0)
		return signet_errf(m, mlen, SIGNET_ERR_TRUNCATED,
		    "the compound file header is truncated");
	for (i = 0; i < HDR_DIFAT; i++)
		if (rd_u32le(&r, &h->difat[i]) != 0)
			return signet_errf(m, mlen, SIGNET_ERR_TRUNCATED,
			    "the compound file header is truncated");
	if (memcmp(magic, cfb_magic, sizeof magic) != 0)
		return signet_errf(m, mlen, SIGNET_ERR_INVALID,
		    "not a compound file (bad magic)");
	/* 2.2: version 3 has 512-byte sectors, version 4 has 4096-byte */
	if (!((c->major == 3 && shift == 9) || (c->major == 4 && shift == 12)))
		return signet_errf(m, mlen, SIGNET_ERR_INVALID,
		    "the compound file header has version %u with sector "
		    "shift %u (only 3 with 9 and 4 with 12 exist)",
		    c->major, shift);
	if (order != 0xFFFE)
		return signet_errf(m, mlen, SIGNET_ERR_INVALID,
		    "the compound file header's byte order mark is 0x%04x, "
		    "not 0xfffe", order);
	if (mshift != 6 || cutoff != MINI_CUTOFF)
		return signet_errf(m, mlen, SIGNET_ERR_INVALID,
		    "the compound file header's mini sector shift (%u) or "
		    "mini stream cutoff (%u) is not 6 and 4096", mshift,
		    cutoff);
	if (c->major == 3 && h->ndir != 0)
		return signet_errf(m, mlen, SIGNET_ERR_INVALID,
		    "a version 3 compound file header counts directory "
		    "sectors");
	c->ss = 1u << shift;
	return 0;
}

/* Walks the chain from start through tab (n entries), marking each
 * element in own (n bytes) and writing it to list (cap entries; when the
 * chain is longer, SIGNET_ERR_TOO_LARGE, or with exact set, INVALID).
 * Sectors another structure owns, or one coming twice, are refused. */
struct cfb_walk {
	const uint32_t *tab;
	uint32_t n;
	uint8_t *own;
	const char *unit;	/* "sector", "mini sector" */
};

static int
cfb_chain(const struct cfb_walk *w, uint32_t start, uint32_t *list,
    uint32_t cap, int exact, uint32_t *len, const char *what, char *m,
    size_t mlen)
{
	uint32_t s = start, k = 0, i;

	while (s != ENDOFCHAIN) {
		if (s >= MAXREGSECT)
			return signet_errf(m, mlen, SIGNET_ERR_INVALID,
			    "the chain of %s runs into a free or reserved "
			    "%s number (0x%08x)", what, w->unit, s);
		if (s >= w->n)
			return signet_errf(m, mlen, SIGNET_ERR_INVALID,
			    "%s %u in the chain of %s is out of range (%u "
			    "exist)", w->unit, s, what, w->n);
		if (w->own[s] == OWN_THIS)
			return signet_errf(m, mlen, SIGNET_ERR_INVALID,
			    "the chain of %s loops (%s %u comes twice)",
			    what, w->unit, s);
		if (w->own[s] != OWN_FREE)
			return signet_errf(m, mlen, SIGNET_ERR_INVALID,
			    "%s %u is in the chain of %s and in another "
			    "structure", w->unit, s, what);
		if (k == cap)
			return exact ? signet_errf(m, mlen, SIGNET_ERR_INVALID,
			    "the chain of %s is longer than its size needs",
			    what) : signet_errf(m, mlen, SIGNET_ERR_TOO_LARGE,
			    "the chain of %s is longer than %u %ss", what, cap,
			    w->unit);
		w->own[s] = OWN_THIS;
		if (list != NULL)
			list[k] = s;
		k++;
		s = w->tab[s];
	}
	if (exact && k < cap)
		return signet_errf(m, mlen, SIGNET_ERR_INVALID,
		    "%s needs %u %ss but its chain holds only %u", what, cap,
		    w->unit, k);
	/* the chain is taken now: walk it again (it ends, it was checked) */
	for (s = start, i = 0; i < k; i++, s = w->tab[s])
		w->own[s] = OWN_TAKEN;
	*len = k;
	return 0;
}

/* Reads the FAT sectors the header and the DIFAT list, 2.5 and 2.3. */
static int
cfb_read_fat(struct cfb *c, const struct cfb_hdr *h, uint8_t *own,
    uint8_t *buf, char *m, size_t mlen)
{
	uint32_t *fatsec = NULL, nlisted = 0, per = c->ss / 4, s, v;
	uint32_t i, j, k, difats = 0;
	struct rd r;
	int rc = SIGNET_ERR_INTERNAL;

	if (h->nfat > c->nsec) {
		rc = signet_errf(m, mlen, SIGNET_ERR_INVALID,
		    "the header counts %u FAT sectors but the file holds "
		    "only %u sectors", h->nfat, c->nsec);
		goto out;
	}
	if ((fatsec = calloc(h->nfat + 1, sizeof *fatsec)) == NULL ||
	    (c->fat = malloc(((size_t)c->nsec + 1) * sizeof *c->fat)) == NULL) {
		rc = SIGNET_ERR_NOMEM;
		goto out;
	}
	for (i = 0; i < c->nsec; i++)
		c->fat[i] = FREESECT;
	for (i = 0; i < HDR_DIFAT && nlisted < h->nfat; i++)
		fatsec[nlisted++] = h->difat[i];
	/* 2.3: each DIFAT sector lists per - 1 FAT sectors, then the next */
	s = h->difat0;
	while (nlisted < h->nfat) {
		if (difats == h->ndifat || s >= c->nsec) {
			rc = signet_errf(m, mlen, SIGNET_ERR_INVALID,
			    "the DIFAT lists %u FAT sectors, the header counts "
			    "%u", nlisted, h->nfat);
			goto out;
		}
		if (own[s] != OWN_FREE) {
			rc = signet_errf(m, mlen, SIGNET_ERR_INVALID,
			    "the DIFAT chain loops at sector %u", s);
			goto out;
		}
		own[s] = OWN_TAKEN;
		difats++;
		if ((rc = cfb_pread(c, sec_off(c, s), buf, c->ss,
		    "a DIFAT sector", m, mlen)) != 0)
			goto out;
		rd_init(&r, buf, c->ss);
		for (j = 0; j + 1 < per && nlisted < h->nfat; j++)
			if (rd_u32le(&r, &fatsec[nlisted++]) != 0)
				goto out;
		if (rd_skip(&r, (per - 1 - j) * 4) != 0 ||
		    rd_u32le(&r, &s) != 0)
			goto out;
	}
	for (i = 0; i < h->nfat; i++) {
		s = fatsec[i];
		if (s >= c->nsec) {
			rc = signet_errf(m, mlen, SIGNET_ERR_INVALID,
			    "FAT sector %u is at sector %u, outside the file",
			    i, s);
			goto out;
		}
		if (own[s] != OWN_FREE) {
			rc = signet_errf(m, mlen, SIGNET_ERR_INVALID,
			    "sector %u is listed as a FAT sector twice or is "
			    "also a DIFAT sector", s);
			goto out;
		}
		own[s] = OWN_TAKEN;
		if ((rc = cfb_pread(c, sec_off(c, s), buf, c->ss,
		    "a FAT sector", m, mlen)) != 0)
			goto out;
		rd_init(&r, buf, c->ss);
		for (j = 0; j < per; j++) {
			if (rd_u32le(&r, &v) != 0)
				goto out;
			k = i * per + j;
			if (k < c->nsec)
				c->fat[k] = v;
		}
	}
	/* 2.5: the FAT marks its own sectors and the DIFAT's */
	for (i = 0; i < h->nfat; i++)
		if (c->fat[fatsec[i]] != FATSECT) {
			rc = signet_errf(m, mlen, SIGNET_ERR_INVALID,
			    "the FAT does not mark its own sector %u",
			    fatsec[i]);
			goto out;
		}
	for (i = 0; i < c->nsec; i++)
		if (c->fat[i] == DIFSECT && own[i] == OWN_FREE)
			own[i] = OWN_TAKEN;	/* a spare DIFAT sector */
	rc = 0;
out:
	free(fatsec);
	return rc;
}

static int
cfb_parse_entry(struct cfb *c, struct rd *r, struct cfb_entry *e)
{
	uint32_t lo, hi;

	if (rd_copy(r, e->name, sizeof e->name) != 0 ||
	    rd_u16le(r, &e->name_len) != 0 || rd_u8(r, &e->type) != 0 ||
	    rd_u8(r, &e->color) != 0 || rd_u32le(r, &e->left) != 0 ||
	    rd_u32le(r, &e->right) != 0 || rd_u32le(r, &e->child) != 0 ||
	    rd_copy(r, e->clsid, 16) != 0 || rd_copy(r, e->state, 4) != 0 ||
	    rd_copy(r, e->times, 16) != 0 || rd_u32le(r, &e->start) != 0 ||
	    rd_u32le(r, &lo) != 0 || rd_u32le(r, &hi) != 0)
		return SIGNET_ERR_TRUNCATED;
	/* 2.6.3: a version 3 file's high 32 bits of the size were left
	 * uninitialised by older writers and are ignored */
	e->size = c->major == 3 ? lo : ((uint64_t)hi << 32 | lo);
	return 0;
}

/* 2.6.1: a name of at most 31 UTF-16 code units and its NUL, no NUL
 * before it, surrogates in pairs. */
static int
cfb_name_ok(const struct cfb_entry *e)
{
	uint32_t i, n, u, v;

	if (e->name_len < 2 || e->name_len > 64 || e->name_len % 2 != 0)
		return 0;
	n = e->name_len / 2;
	for (i = 0; i < n; i++) {
		u = e->name[2 * i] | (uint32_t)e->name[2 * i + 1] << 8;
		if ((u == 0) != (i == n - 1))
			return 0;
		if (u >= 0xDC00 && u <= 0xDFFF)
			return 0;
		if (u >= 0xD800 && u <= 0xDBFF) {
			if (i + 1 >= n)
				return 0;
			v = e->name[2 * i + 2] | (uint32_t)e->name[2 * i + 3] << 8;
			if (v < 0xDC00 || v > 0xDFFF)
				return 0;
			i++;
		}
	}
	return 1;
}

static int
cfb_cmp_exact(const void *a, const void *b)
{
	const struct cfb_entry *x = *(const struct cfb_entry *const *)a;
	const struct cfb_entry *y = *(const struct cfb_entry *const *)b;

	if (x->name_len != y->name_len)
		return x->name_len < y->name_len ? -1 : 1;
	return memcmp(x->name, y->name, x->name_len);
}

/* Collects the children of storage id in tree order (an in-order walk
 * with an explicit stack), checking every id, then does the same in each
 * child storage. seen marks the entries reached so far. */
static int
cfb_tree(struct cfb *c, uint32_t id, unsigned depth, uint8_t *seen,
    uint32_t *stack, char *m, size_t mlen)
{
	const struct cfb_entry **sorted = NULL;
	struct cfb_entry *e;
	uint32_t sp = 0, cur, from, i, n;
	char name[64];
	int rc = SIGNET_ERR_INTERNAL;

	if (depth > SIGNET_MAX_CFB_DEPTH)
		return signet_errf(m, mlen, SIGNET_ERR_TOO_LARGE,
		    "storages are nested more than %d deep",
		    SIGNET_MAX_CFB_DEPTH);
	c->kid_off[id] = c->nkids;
	from = id;
	cur = c->ent[id].child;
	for (;;) {
		while (cur != CFB_NOSTREAM) {
			if (cur >= c->nent || cur == CFB_ROOT_ID)
				return signet_errf(m, mlen, SIGNET_ERR_INVALID,
				    "directory entry %u names entry %u, which is "
				    "%s", from, cur, cur == CFB_ROOT_ID ?
				    "the root (the tree loops)" :
				    "past the end of the directory");
			if (seen[cur])
				return signet_errf(m, mlen, SIGNET_ERR_INVALID,
				    "the directory tree loops (entry %u is "
				    "reached twice)", cur);
			seen[cur] = 1;
			e = &c->ent[cur];
			if (e->type != CFB_STORAGE && e->type != CFB_STREAM)
				return signet_errf(m, mlen, SIGNET_ERR_INVALID,
				    "directory entry %u in the tree is of type "
				    "%u, not a storage or a stream", cur,
				    e->type);
			if (!cfb_name_ok(e))
				return signet_errf(m, mlen, SIGNET_ERR_INVALID,
				    "directory entry %u's name is not UTF-16 of "
				    "at most 31 characters ending in a NUL", cur);
			if (e->type == CFB_STREAM && e->child != CFB_NOSTREAM)
				return signet_errf(m, mlen, SIGNET_ERR_INVALID,
				    "stream entry %u has a child", cur);
			stack[sp++] = cur;	/* each entry once: sp < nent */
			from = cur;
			cur = e->left;
		}
		if (sp == 0)
			break;
		cur = stack[--sp];
		c->kids[c->nkids++] = cur;
		from = cur;
		cur = c->ent[cur].right;
	}
	n = c->kid_n[id] = c->nkids - c->kid_off[id];
	/* names are unique in a storage (2.6.4); the digest order relies
	 * on it */
	if (n > 1) {
		if ((sorted = malloc(n * sizeof *sorted)) == NULL)
			return SIGNET_ERR_NOMEM;
		for (i = 0; i < n; i++)
			sorted[i] = &c->ent[c->kids[c->kid_off[id] + i]];
		qsort(sorted, n, sizeof *sorted, cfb_cmp_exact);
		for (i = 1; i < n; i++)
			if (cfb_cmp_exact(&sorted[i - 1], &sorted[i]) == 0) {
				cfb_name_text(sorted[i], name, sizeof name);
				rc = signet_errf(m, mlen, SIGNET_ERR_INVALID,
				    "storage %u holds two entries named '%s'", id,
				    name);
				goto out;
			}
	}
	for (i = 0; i < n; i++) {
		cur = c->kids[c->kid_off[id] + i];
		if (c->ent[cur].type == CFB_STORAGE &&
		    (rc = cfb_tree(c, cur, depth + 1, seen, stack, m, mlen)) != 0)
			goto out;
	}
	rc = 0;
out:
	free(sorted);
	return rc;
}

static uint32_t
div_up(uint64_t a, uint32_t b)
{
	return (uint32_t)((a + b - 1) / b);
}

int
cfb_open(int fd, uint64_t size, struct cfb **out, char *m, size_t mlen)
{
	struct cfb *c = NULL;
	struct cfb_hdr h;
	struct cfb_walk w;
	struct rd r;
	uint8_t *own = NULL, *mown = NULL, *seen = NULL, *buf = NULL;
	uint32_t *dirsec = NULL, *stack = NULL, *mfsec = NULL;
	uint32_t ndirsec, nmfsec, per, i, j, k, len, v;
	struct cfb_entry *e;
	char what[80], name[64];
	int rc = SIGNET_ERR_INTERNAL;

	*out = NULL;
	if ((c = calloc(1, sizeof *c)) == NULL ||
	    (buf = malloc(4096)) == NULL) {
		rc = SIGNET_ERR_NOMEM;
		goto out;
	}
	c->fd = fd;
	c->size = size;
	if (size >= sizeof cfb_magic) {
		if ((rc = cfb_pread(c, 0, buf, sizeof cfb_magic, "the header",
		    m, mlen)) != 0)
			goto out;
		if (memcmp(buf, cfb_magic, sizeof cfb_magic) != 0) {
			rc = signet_errf(m, mlen, SIGNET_ERR_INVALID,
			    "not a compound file (bad magic)");
			goto out;
		}
	}
	if (size < HDR_LEN) {
		rc = signet_errf(m, mlen, SIGNET_ERR_TRUNCATED,
		    "the compound file header is truncated (the file has "
		    "%llu bytes, the header 512)", (unsigned long long)size);
		goto out;
	}
	if (size > SIGNET_MAX_CFB_SIZE) {
		rc = signet_errf(m, mlen, SIGNET_ERR_TOO_LARGE,
		    "the compound file is larger than %llu bytes",
		    (unsigned long long)SIGNET_MAX_CFB_SIZE);
		goto out;
	}
	if ((rc = cfb_pread(c, 0, buf, HDR_LEN, "the header", m, mlen)) != 0 ||
	    (rc = cfb_parse_header(c, buf, &h, m, mlen)) != 0)
		goto out;
	if (size < 2 * (uint64_t)c->ss) {
		rc = signet_errf(m, mlen, SIGNET_ERR_TRUNCATED,
		    "the compound file ends after its header");
		goto out;
	}
	c->nsec = div_up(size - c->ss, c->ss);
	if ((own = calloc(c->nsec, 1)) == NULL) {
		rc = SIGNET_ERR_NOMEM;
		goto out;
	}
	rc = SIGNET_ERR_INTERNAL;
	if ((rc = cfb_read_fat(c, &h, own, buf, m, mlen)) != 0)
		goto out;
	w.tab = c->fat;
	w.n = c->nsec;
	w.own = own;
	w.unit = "sector";

	/* 2.6: the directory, at most SIGNET_MAX_CFB_ENTRIES entries */
	per = c->ss / ENTRY_LEN;
	k = SIGNET_MAX_CFB_ENTRIES / per;
	if ((dirsec = malloc(k * sizeof *dirsec)) == NULL) {
		rc = SIGNET_ERR_NOMEM;
		goto out;
	}
	if ((rc = cfb_chain(&w, h.dir0, dirsec, k, 0, &ndirsec,
	    "the directory", m, mlen)) != 0)
		goto out;
	if (ndirsec == 0) {
		rc = signet_errf(m, mlen, SIGNET_ERR_INVALID,
		    "the compound file has no directory");
		goto out;
	}
	c->nent = ndirsec * per;
	if ((c->ent = calloc(c->nent, sizeof *c->ent)) == NULL) {
		rc = SIGNET_ERR_NOMEM;
		goto out;
	}
	for (i = 0; i < ndirsec; i++) {
		if ((rc = cfb_pread(c, sec_off(c, dirsec[i]), buf, c->ss,
		    "a directory sector", m, mlen)) != 0)
			goto out;
		rd_init(&r, buf, c->ss);
		for (j = 0; j < per; j++)
			if (cfb_parse_entry(c, &r, &c->ent[i * per + j]) != 0) {
				rc = SIGNET_ERR_INTERNAL;
				goto out;
			}
	}
	e = &c->ent[CFB_ROOT_ID];
	if (e->type != CFB_ROOT || !cfb_name_ok(e)) {
		rc = signet_errf(m, mlen, SIGNET_ERR_INVALID,
		    "the first directory entry is not the root storage");
		goto out;
	}

	/* 2.4: the mini stream, held in the root entry's chain, and the
	 * mini FAT; each stream below 4096 bytes is at most 64 mini
	 * sectors, which bounds them */
	if (e->size > (uint64_t)SIGNET_MAX_CFB_ENTRIES * MINI_CUTOFF ||
	    e->size > size) {
		rc = signet_errf(m, mlen, SIGNET_ERR_INVALID,
		    "the mini stream's size (%llu bytes) is larger than the "
		    "file or its entries could use",
		    (unsigned long long)e->size);
		goto out;
	}
	c->nmchain = div_up(e->size, c->ss);
	c->nmini = (uint32_t)(e->size / MINI_LEN);
	if ((c->mchain = malloc(((size_t)c->nmchain + 1) * sizeof *c->mchain)) == NULL ||
	    (c->minifat = malloc(((size_t)c->nmini + 1) * sizeof *c->minifat)) == NULL ||
	    (mown = calloc((size_t)c->nmini + 1, 1)) == NULL) {
		rc = SIGNET_ERR_NOMEM;
		goto out;
	}
	if (c->nmchain > 0 && (rc = cfb_chain(&w, e->start, c->mchain,
	    c->nmchain, 1, &len, "the mini stream", m, mlen)) != 0)
		goto out;
	for (i = 0; i < c->nmini; i++)
		c->minifat[i] = FREESECT;
	if (h.nminifat > c->nsec) {
		rc = signet_errf(m, mlen, SIGNET_ERR_INVALID,
		    "the header counts %u mini FAT sectors but the file holds "
		    "only %u sectors", h.nminifat, c->nsec);
		goto out;
	}
	if (h.nminifat > 0) {
		if ((mfsec = malloc(h.nminifat * sizeof *mfsec)) == NULL) {
			rc = SIGNET_ERR_NOMEM;
			goto out;
		}
		if ((rc = cfb_chain(&w, h.minifat0, mfsec, h.nminifat, 1,
		    &nmfsec, "the mini FAT", m, mlen)) != 0)
			goto out;
		for (i = 0; i < nmfsec; i++) {
			if ((rc = cfb_pread(c, sec_off(c, mfsec[i]), buf, c->ss,
			    "a mini FAT sector", m, mlen)) != 0)
				goto out;
			rd_init(&r, buf, c->ss);
			for (j = 0; j < c->ss / 4; j++) {
				if (rd_u32le(&r, &v) != 0) {
					rc = SIGNET_ERR_INTERNAL;
					goto out;
				}
				k = i * (c->ss / 4) + j;
				if (k < c->nmini)
					c->minifat[k] = v;
			}
		}
	}

	/* 2.6.4: the tree of each storage, from the root */
	if ((seen = c->seen = calloc(c->nent, 1)) == NULL ||
	    (stack = malloc(c->nent * sizeof *stack)) == NULL ||
	    (c->kids = malloc(c->nent * sizeof *c->kids)) == NULL ||
	    (c->kid_off = calloc(c->nent, sizeof *c->kid_off)) == NULL ||
	    (c->kid_n = calloc(c->nent, sizeof *c->kid_n)) == NULL) {
		rc = SIGNET_ERR_NOMEM;
		goto out;
	}
	seen[CFB_ROOT_ID] = 1;
	if ((rc = cfb_tree(c, CFB_ROOT_ID, 0, seen, stack, m, mlen)) != 0)
		goto out;

	/* every stream's chain holds its size: big ones in the FAT, the
	 * others in the mini FAT */
	for (i = 1; i < c->nent; i++) {
		e = &c->ent[i];
		if (!seen[i] || e->type != CFB_STREAM)
			continue;
		cfb_name_text(e, name, sizeof name);
		if (e->size > size) {
			rc = signet_errf(m, mlen, SIGNET_ERR_INVALID,
			    "stream '%s' (entry %u) claims %llu bytes, more "
			    "than the file has", name, i,
			    (unsigned long long)e->size);
			goto out;
		}
		if (e->size == 0)
			continue;
		snprintf(what, sizeof what, "stream '%s'", name);
		if (e->size >= MINI_CUTOFF) {
			rc = cfb_chain(&w, e->start, NULL,
			    div_up(e->size, c->ss), 1, &len, what, m, mlen);
		} else {
			struct cfb_walk mw = { c->minifat, c->nmini, mown,
			    "mini sector" };

			rc = cfb_chain(&mw, e->start, NULL,
			    div_up(e->size, MINI_LEN), 1, &len, what, m, mlen);
		}
		if (rc != 0)
			goto out;
	}
	*out = c;
	c = NULL;
	rc = 0;
out:
	cfb_free(c);
	free(own);
	free(mown);
	free(buf);
	free(dirsec);
	free(stack);
	free(mfsec);
	return rc;
}

void
cfb_free(struct cfb *c)
{
	if (c == NULL)
		return;
	free(c->fat);
	free(c->minifat);
	free(c->mchain);
	free(c->ent);
	free(c->kids);
	free(c->kid_off);
	free(c->kid_n);
	free(c->seen);
	free(c);
}

const struct cfb_entry *
cfb_entry(const struct cfb *c, uint32_t id)
{
	return id < c->nent ? &c->ent[id] : NULL;
}

const uint32_t *
cfb_children(const struct cfb *c, uint32_t id, uint32_t *n)
{
	*n = 0;
	if (id >= c->nent || !c->seen[id] || (c->ent[id].type != CFB_STORAGE &&
	    c->ent[id].type != CFB_ROOT))
		return NULL;
	*n = c->kid_n[id];
	return c->kids + c->kid_off[id];
}

/* name (ASCII) as a directory entry's name field */
static int
cfb_name_of(const char *name, uint8_t out[64], uint16_t *len)
{
	size_t i, n = strlen(name);

	if (n > 31)
		return SIGNET_ERR_INVALID;
	memset(out, 0, 64);
	for (i = 0; i < n; i++)
		out[2 * i] = (uint8_t)name[i];
	*len = (uint16_t)(2 * n + 2);
	return 0;
}

uint32_t
cfb_find(const struct cfb *c, uint32_t storage, const char *name)
{
	const uint32_t *kid;
	uint8_t raw[64];
	uint16_t len;
	uint32_t i, n;

	if (cfb_name_of(name, raw, &len) != 0)
		return CFB_NOSTREAM;
	kid = cfb_children(c, storage, &n);
	for (i = 0; i < n; i++)
		if (c->ent[kid[i]].name_len == len &&
		    memcmp(c->ent[kid[i]].name, raw, len) == 0)
			return kid[i];
	return CFB_NOSTREAM;
}

/* Pieces of a stream read in file order, joined while they are
 * adjacent in the file. */
struct cfb_reader {
	const struct cfb *c;
	uint8_t *buf;
	uint64_t off;		/* file offset of the pending run */
	size_t n;		/* its length */
	cfb_out_fn fn;
	void *arg;
	const char *what;
};

static int
cfb_flush(struct cfb_reader *rr, char *m, size_t mlen)
{
	int rc;

	if (rr->n == 0)
		return 0;
	if ((rc = cfb_pread(rr->c, rr->off, rr->buf, rr->n, rr->what, m,
	    mlen)) != 0)
		return rc;
	if ((rc = rr->fn(rr->arg, rr->buf, rr->n)) != 0)
		return rc;
	rr->n = 0;
	return 0;
}

static int
cfb_piece(struct cfb_reader *rr, uint64_t off, size_t n, char *m,
    size_t mlen)
{
	int rc;

	if (rr->n > 0 && off == rr->off + rr->n && rr->n + n <= IO_CHUNK) {
		rr->n += n;
		return 0;
	}
	if ((rc = cfb_flush(rr, m, mlen)) != 0)
		return rc;
	rr->off = off;
	rr->n = n;
	return 0;
}

int
cfb_read(const struct cfb *c, uint32_t id, cfb_out_fn fn, void *arg,
    char *m, size_t mlen)
{
	const struct cfb_entry *e;
	struct cfb_reader rr = { .c = c, .fn = fn, .arg = arg };
	uint64_t left, moff;
	uint32_t s, i, piece;
	int rc = SIGNET_ERR_INTERNAL;

	if ((e = cfb_entry(c, id)) == NULL || !c->seen[id] ||
	    (e->type != CFB_STREAM && e->type != CFB_ROOT))
		return SIGNET_ERR_INVALID;
	if ((rr.buf = malloc(IO_CHUNK)) == NULL)
		return SIGNET_ERR_NOMEM;
	rr.what = "a stream";
	left = e->size;
	if (e->type == CFB_ROOT) {
		for (i = 0; i < c->nmchain && left > 0; i++) {
			piece = left < c->ss ? (uint32_t)left : c->ss;
			if ((rc = cfb_piece(&rr, sec_off(c, c->mchain[i]), piece,
			    m, mlen)) != 0)
				goto out;
			left -= piece;
		}
	} else if (e->size >= MINI_CUTOFF) {
		/* cfb_open checked that the chain holds the size */
		for (s = e->start; left > 0; s = c->fat[s]) {
			piece = left < c->ss ? (uint32_t)left : c->ss;
			if ((rc = cfb_piece(&rr, sec_off(c, s), piece, m,
			    mlen)) != 0)
				goto out;
			left -= piece;
		}
	} else {
		for (s = e->start; left > 0; s = c->minifat[s]) {
			piece = left < MINI_LEN ? (uint32_t)left : MINI_LEN;
			moff = (uint64_t)s * MINI_LEN;
			if ((rc = cfb_piece(&rr,
			    sec_off(c, c->mchain[moff / c->ss]) + moff % c->ss,
			    piece, m, mlen)) != 0)
				goto out;
			left -= piece;
		}
	}
	rc = cfb_flush(&rr, m, mlen);
out:
	free(rr.buf);
	return rc;
}

/* ---- writing ---- */

static void
put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void
put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

/* An entry of the new directory: an input entry or the set stream. */
struct wr_ent {
	const struct cfb_entry *src;	/* NULL: the stream e->set */
	uint32_t src_id;
	uint32_t left, right, child;
	uint8_t color;
	uint32_t start;
	uint64_t size;
};

/* A run of sectors in the new file and what the FAT says of them. */
struct wr_run {
	uint32_t n;
	uint32_t mark;		/* 0: a chain, else FATSECT or DIFSECT */
};

struct wr {
	const struct cfb *c;
	const struct cfb_edit *e;
	cfb_out_fn fn;
	void *arg;
	struct wr_ent *ent;
	uint32_t nent;
	uint8_t set_name[64];
	uint16_t set_len;
	uint8_t *sec;		/* one sector being filled */
	uint32_t fill;
	uint64_t written;	/* bytes of the stream being copied */
};

/* [MS-CFB] 2.6.4: shorter names first, then code unit by code unit in
 * upper case. Only the set stream is placed by it (the input's order is
 * kept), so the simple case mapping of Latin-1 is enough for the names
 * it is compared with to fall on the right side. */
static unsigned
cfb_upper(unsigned u)
{
	if ((u >= 'a' && u <= 'z') || (u >= 0xE0 && u <= 0xFE && u != 0xF7))
		return u - 0x20;
	return u;
}

static int
cfb_cmp_tree(const uint8_t *a, uint16_t alen, const uint8_t *b,
    uint16_t blen)
{
	unsigned i, x, y;

	if (alen != blen)
		return alen < blen ? -1 : 1;
	for (i = 0; i + 1 < alen; i += 2) {
		x = cfb_upper(a[i] | (unsigned)a[i + 1] << 8);
		y = cfb_upper(b[i] | (unsigned)b[i + 1] << 8);
		if (x != y)
			return x < y ? -1 : 1;
	}
	return 0;
}

static int
wr_dropped(const struct wr *w, const struct cfb_entry *x)
{
	uint8_t raw[64];
	uint16_t len;
	size_t i;

	if (w->e->set != NULL && x->name_len == w->set_len &&
	    memcmp(x->name, w->set_name, w->set_len) == 0)
		return 1;	/* replaced */
	for (i = 0; i < w->e->ndrop; i++)
		if (cfb_name_of(w->e->drop[i], raw, &len) == 0 &&
		    x->name_len == len && memcmp(x->name, raw, len) == 0)
			return 1;
	return 0;
}

/* The balanced tree over ent[lo, hi): its root, every node at depth
 * below full (the levels that are complete) black, the rest red, which
 * keeps every path's black count equal ([MS-CFB] 2.6.4). */
static uint32_t
wr_tree(struct wr *w, uint32_t lo, uint32_t hi, unsigned depth,
    unsigned full)
{
	uint32_t mid;

	if (lo >= hi)
		return CFB_NOSTREAM;
	mid = lo + (hi - lo) / 2;
	w->ent[mid].left = wr_tree(w, lo, mid, depth + 1, full);
	w->ent[mid].right = wr_tree(w, mid + 1, hi, depth + 1, full);
	w->ent[mid].color = depth < full ? COLOR_BLACK : COLOR_RED;
	return mid;
}

/* The new directory: the root, then each storage's children in a row
 * (breadth first), so each storage's tree is over a range of ids. */
static int
wr_directory(struct wr *w)
{
	const struct cfb *c = w->c;
	const uint32_t *kid;
	struct wr_ent *x;
	uint32_t i, j, n, first, placed;
	unsigned full;

	if ((w->ent = calloc((size_t)c->nent + 1, sizeof *w->ent)) == NULL)
		return SIGNET_ERR_NOMEM;
	w->ent[0].src = &c->ent[CFB_ROOT_ID];
	w->ent[0].src_id = CFB_ROOT_ID;
	w->ent[0].color = COLOR_BLACK;
	w->ent[0].left = w->ent[0].right = CFB_NOSTREAM;
	w->nent = 1;
	for (i = 0; i < w->nent; i++) {
		x = &w->ent[i];
		x->child = CFB_NOSTREAM;
		if (x->src == NULL || x->src->type == CFB_STREAM)
			continue;
		kid = cfb_children(c, x->src_id, &n);
		first = w->nent;
		placed = i != 0 || w->e->set == NULL;
		for (j = 0; j <= n; j++) {
			const struct cfb_entry *k = j < n ? &c->ent[kid[j]] : NULL;

			if (!placed && (k == NULL || cfb_cmp_tree(w->set_name,
			    w->set_len, k->name, k->name_len) < 0)) {
				w->ent[w->nent].src = NULL;
				w->ent[w->nent].size = w->e->len;
				w->nent++;
				placed = 1;
			}
			if (k == NULL)
				break;
			if (i == 0 && k->type == CFB_STREAM && wr_dropped(w, k))
				continue;
			w->ent[w->nent].src = k;
			w->ent[w->nent].src_id = kid[j];
			w->ent[w->nent].size = k->type == CFB_STREAM ? k->size : 0;
			w->nent++;
		}
		n = w->nent - first;
		for (full = 0; ((uint64_t)2 << full) - 1 <= n; full++)
			;
		x->child = wr_tree(w, first, w->nent, 0, full);
	}
	return 0;
}

static int
wr_out(void *arg, const void *p, size_t n)
{
	struct wr *w = arg;

	w->written += n;
	return w->fn(w->arg, p, n);
}

static int
wr_zeros(struct wr *w, uint64_t n)
{
	static const uint8_t zero[512];
	size_t k;
	int rc;

	while (n > 0) {
		k = n < sizeof zero ? (size_t)n : sizeof zero;
		if ((rc = w->fn(w->arg, zero, k)) != 0)
			return rc;
		n -= k;
	}
	return 0;
}

/* One stream's bytes (the input's, or the set data), then zeros to a
 * multiple of unit. */
static int
wr_stream(struct wr *w, const struct wr_ent *x, uint32_t unit, char *m,
    size_t mlen)
{
	int rc;

	w->written = 0;
	if (x->src == NULL)
		rc = wr_out(w, w->e->data, w->e->len);
	else
		rc = cfb_read(w->c, x->src_id, wr_out, w, m, mlen);
	if (rc != 0)
		return rc;
	if (w->written != x->size)
		return signet_errf(m, mlen, SIGNET_ERR_INTERNAL,
		    "a stream changed its size while it was copied");
	return wr_zeros(w, (unit - x->size % unit) % unit);
}

/* 32-bit table entries (FAT, mini FAT, DIFAT) a sector at a time */
static int
wr_u32(struct wr *w, uint32_t v)
{
	int rc;

	put32(w->sec + w->fill, v);
	w->fill += 4;
	if (w->fill == w->c->ss) {
		w->fill = 0;
		if ((rc = w->fn(w->arg, w->sec, w->c->ss)) != 0)
			return rc;
	}
	return 0;
}

static int
wr_chain(struct wr *w, uint32_t first, uint32_t n)
{
	uint32_t i;
	int rc;

	for (i = 0; i < n; i++)
		if ((rc = wr_u32(w, i + 1 < n ? first + i + 1 : ENDOFCHAIN)) != 0)
			return rc;
	return 0;
}

static int
wr_pad_table(struct wr *w)
{
	int rc;

	while (w->fill != 0)
		if ((rc = wr_u32(w, FREESECT)) != 0)
			return rc;
	return 0;
}

static void
wr_entry_bytes(const struct wr *w, const struct wr_ent *x, uint8_t *p)
{
	const struct cfb_entry *s = x->src;

	memset(p, 0, ENTRY_LEN);
	if (s != NULL) {
		memcpy(p, s->name, s->name_len);
		put16(p + 64, s->name_len);
		p[66] = s->type;
		memcpy(p + 80, s->clsid, 16);
		memcpy(p + 96, s->state, 4);
		memcpy(p + 100, s->times, 16);
	} else {
		memcpy(p, w->set_name, w->set_len);
		put16(p + 64, w->set_len);
		p[66] = CFB_STREAM;
	}
	p[67] = x->color;
	put32(p + 68, x->left);
	put32(p + 72, x->right);
	put32(p + 76, x->child);
	put32(p + 116, x->start);
	put32(p + 120, (uint32_t)x->size);
	put32(p + 124, (uint32_t)(x->size >> 32));
}

int
cfb_write(const struct cfb *c, const struct cfb_edit *e, cfb_out_fn fn,
    void *arg, char *m, size_t mlen)
{
	struct wr w = { .c = c, .e = e, .fn = fn, .arg = arg };
	struct wr_run runs[8];
	struct wr_ent *x;
	uint8_t hdr[HDR_LEN], ent[ENTRY_LEN];
	uint32_t ss = c->ss, per = ss / 4, i, j, nruns = 0;
	uint32_t nbig = 0, nmini = 0, nmsec, nmfsec, ndirsec, nfat, ndif;
	uint32_t before, total, fat0, s;
	uint64_t k;
	int rc = SIGNET_ERR_INTERNAL;

	if ((w.sec = malloc(ss)) == NULL) {
		rc = SIGNET_ERR_NOMEM;
		goto out;
	}
	if (e->set != NULL && (cfb_name_of(e->set, w.set_name, &w.set_len) != 0 ||
	    e->len > SIGNET_MAX_CFB_SIZE)) {
		rc = signet_errf(m, mlen, SIGNET_ERR_INVALID,
		    "the stream to set has a name or a size a compound file "
		    "cannot hold");
		goto out;
	}
	if (e->set != NULL) {
		uint32_t old = cfb_find(c, CFB_ROOT_ID, e->set);

		if (old != CFB_NOSTREAM && c->ent[old].type != CFB_STREAM) {
			rc = signet_errf(m, mlen, SIGNET_ERR_INVALID,
			    "the root entry '%s' is a storage, not a stream",
			    e->set);
			goto out;
		}
	}
	if ((rc = wr_directory(&w)) != 0)
		goto out;

	/* the layout: big streams, the mini stream, the mini FAT, the
	 * directory, the FAT, the DIFAT */
	for (i = 1; i < w.nent; i++) {
		x = &w.ent[i];
		/* 2.6.3: storages have start 0 and size 0, empty streams
		 * no chain */
		if (x->src != NULL && x->src->type == CFB_STORAGE) {
			x->start = 0;
			continue;
		}
		x->start = ENDOFCHAIN;
		if (x->size >= MINI_CUTOFF) {
			x->start = nbig;
			nbig += div_up(x->size, ss);
		} else if (x->size > 0) {
			x->start = nmini;
			nmini += div_up(x->size, MINI_LEN);
		}
	}
	w.ent[0].size = (uint64_t)nmini * MINI_LEN;
	nmsec = div_up(w.ent[0].size, ss);
	w.ent[0].start = nmsec > 0 ? nbig : ENDOFCHAIN;
	nmfsec = div_up((uint64_t)nmini * 4, ss);
	ndirsec = div_up((uint64_t)w.nent * ENTRY_LEN, ss);
	before = nbig + nmsec + nmfsec + ndirsec;
	nfat = ndif = 0;
	do {	/* the FAT covers itself and the DIFAT */
		total = before + nfat + ndif;
		i = div_up(total, per);
		j = i > HDR_DIFAT ? div_up(i - HDR_DIFAT, per - 1) : 0;
		if (i == nfat && j == ndif)
			break;
		nfat = i;
		ndif = j;
	} while (1);
	fat0 = before;

	/* the header, [MS-CFB] 2.2 */
	memset(hdr, 0, sizeof hdr);
	memcpy(hdr, cfb_magic, sizeof cfb_magic);
	memcpy(hdr + 8, c->hdr_clsid, 16);
	put16(hdr + 24, c->minor);
	put16(hdr + 26, c->major);
	put16(hdr + 28, 0xFFFE);
	put16(hdr + 30, ss == 4096 ? 12 : 9);
	put16(hdr + 32, 6);
	put32(hdr + 40, c->major == 4 ? ndirsec : 0);
	put32(hdr + 44, nfat);
	put32(hdr + 48, nbig + nmsec + nmfsec);
	put32(hdr + 56, MINI_CUTOFF);
	put32(hdr + 60, nmfsec > 0 ? nbig + nmsec : ENDOFCHAIN);
	put32(hdr + 64, nmfsec);
	put32(hdr + 68, ndif > 0 ? fat0 + nfat : ENDOFCHAIN);
	put32(hdr + 72, ndif);
	for (i = 0; i < HDR_DIFAT; i++)
		put32(hdr + 76 + 4 * i, i < nfat ? fat0 + i : FREESECT);
	if ((rc = fn(arg, hdr, sizeof hdr)) != 0 ||
	    (rc = wr_zeros(&w, ss - HDR_LEN)) != 0)
		goto out;

	for (i = 1; i < w.nent; i++)
		if (w.ent[i].size >= MINI_CUTOFF &&
		    (rc = wr_stream(&w, &w.ent[i], ss, m, mlen)) != 0)
			goto out;
	for (i = 1; i < w.nent; i++)
		if (w.ent[i].size > 0 && w.ent[i].size < MINI_CUTOFF &&
		    (w.ent[i].src == NULL || w.ent[i].src->type == CFB_STREAM) &&
		    (rc = wr_stream(&w, &w.ent[i], MINI_LEN, m, mlen)) != 0)
			goto out;
	if ((rc = wr_zeros(&w, (uint64_t)nmsec * ss - w.ent[0].size)) != 0)
		goto out;
	/* the mini FAT: each small stream's mini sectors in a row */
	for (i = 1, s = 0; i < w.nent; i++) {
		x = &w.ent[i];
		if (x->size == 0 || x->size >= MINI_CUTOFF ||
		    (x->src != NULL && x->src->type == CFB_STORAGE))
			continue;
		j = div_up(x->size, MINI_LEN);
		if ((rc = wr_chain(&w, s, j)) != 0)
			goto out;
		s += j;
	}
	if ((rc = wr_pad_table(&w)) != 0)
		goto out;
	/* the directory, then unused entries to the end of its sector */
	for (i = 0; i < w.nent; i++) {
		wr_entry_bytes(&w, &w.ent[i], ent);
		if ((rc = fn(arg, ent, sizeof ent)) != 0)
			goto out;
	}
	memset(ent, 0, sizeof ent);
	put32(ent + 68, CFB_NOSTREAM);
	put32(ent + 72, CFB_NOSTREAM);
	put32(ent + 76, CFB_NOSTREAM);
	for (k = w.nent; k < (uint64_t)ndirsec * (ss / ENTRY_LEN); k++)
		if ((rc = fn(arg, ent, sizeof ent)) != 0)
			goto out;

	/* the FAT: each big stream's chain, the mini stream's, the mini
	 * FAT's, the directory's, then the FAT and DIFAT sectors */
	for (i = 1, s = 0; i < w.nent; i++) {
		x = &w.ent[i];
		if (x->size < MINI_CUTOFF || (x->src != NULL &&
		    x->src->type == CFB_STORAGE))
			continue;
		j = div_up(x->size, ss);
		if ((rc = wr_chain(&w, s, j)) != 0)
			goto out;
		s += j;
	}
	runs[nruns++] = (struct wr_run){ nmsec, 0 };
	runs[nruns++] = (struct wr_run){ nmfsec, 0 };
	runs[nruns++] = (struct wr_run){ ndirsec, 0 };
	runs[nruns++] = (struct wr_run){ nfat, FATSECT };
	runs[nruns++] = (struct wr_run){ ndif, DIFSECT };
	for (i = 0; i < nruns; i++) {
		for (j = 0; j < runs[i].n && runs[i].mark != 0; j++)
			if ((rc = wr_u32(&w, runs[i].mark)) != 0)
				goto out;
		if (runs[i].mark == 0 && (rc = wr_chain(&w, s, runs[i].n)) != 0)
			goto out;
		s += runs[i].n;
	}
	if ((rc = wr_pad_table(&w)) != 0)
		goto out;
	/* the DIFAT, 2.3: the FAT sectors past the header's 109 */
	for (i = 0; i < ndif; i++) {
		for (j = 0; j + 1 < per; j++) {
			k = HDR_DIFAT + (uint64_t)i * (per - 1) + j;
			if ((rc = wr_u32(&w, k < nfat ? fat0 + (uint32_t)k :
			    FREESECT)) != 0)
				goto out;
		}
		if ((rc = wr_u32(&w, i + 1 < ndif ? fat0 + nfat + i + 1 :
		    ENDOFCHAIN)) != 0)
			goto out;
	}
	rc = 0;
out:
	free(w.ent);
	free(w.sec);
	return rc;
}
