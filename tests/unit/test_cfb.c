/* The compound file reader and writer (appliance/sign/formats/cfb.c), on a
 * Windows Installer package wixl builds during the test
 * (tests/unit/msi_fixture.sh) and on copies of it broken by hand: each
 * broken structure is refused with a message that names it. The writer's
 * output reads back with the same streams, and every storage's tree in it
 * is a red-black tree in the [MS-CFB] 2.6.4 order. */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "cfb.h"
#include "signet_limits.h"

#define SS 512

static char dir[64];
static unsigned char *orig;
static size_t orig_len;

static unsigned char *
slurp(const char *path, size_t *len)
{
	unsigned char *p;
	long n;
	FILE *f;

	assert_non_null(f = fopen(path, "rb"));
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	assert_true((n = ftell(f)) >= 0);
	rewind(f);
	assert_non_null(p = malloc((size_t)n + 1));
	assert_int_equal(fread(p, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	*len = (size_t)n;
	return p;
}

static void
spit(const char *path, const unsigned char *p, size_t n)
{
	FILE *f;

	assert_non_null(f = fopen(path, "wb"));
	assert_int_equal(fwrite(p, 1, n, f), n);
	assert_int_equal(fclose(f), 0);
}

static int
setup(void **state)
{
	const char *fixture = getenv("SIGNET_MSI_FIXTURE");
	char cmd[512], path[128];

	(void)state;
	if (fixture == NULL) {
		fprintf(stderr, "SIGNET_MSI_FIXTURE is not set\n");
		return -1;
	}
	snprintf(dir, sizeof dir, "/tmp/test_cfb.XXXXXX");
	if (mkdtemp(dir) == NULL)
		return -1;
	snprintf(cmd, sizeof cmd, "'%s' '%s' > /dev/null", fixture, dir);
	if (system(cmd) != 0) {
		fprintf(stderr, "msi_fixture.sh failed (wixl missing?)\n");
		return -1;
	}
	snprintf(path, sizeof path, "%s/a.msi", dir);
	orig = slurp(path, &orig_len);
	return 0;
}

static int
teardown(void **state)
{
	char cmd[128];

	(void)state;
	free(orig);
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static uint32_t
le32(const unsigned char *p)
{
	return p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	    (uint32_t)p[3] << 24;
}

static void
set32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)v;
	p[1] = (unsigned char)(v >> 8);
	p[2] = (unsigned char)(v >> 16);
	p[3] = (unsigned char)(v >> 24);
}

/* where the FAT entry of sector s is (wixl's packages have few FAT
 * sectors: all in the header's DIFAT) */
static size_t
fat_off(const unsigned char *b, uint32_t s)
{
	uint32_t fs = le32(b + 76 + 4 * (s / (SS / 4)));

	return ((size_t)fs + 1) * SS + (s % (SS / 4)) * 4;
}

/* where directory entry i is, through the directory's chain */
static size_t
entry_off(const unsigned char *b, uint32_t i)
{
	uint32_t s = le32(b + 48);

	while (i >= SS / 128) {
		s = le32(b + fat_off(b, s));
		i -= SS / 128;
	}
	return ((size_t)s + 1) * SS + (size_t)i * 128;
}

static uint32_t
entries(const unsigned char *b)
{
	uint32_t s = le32(b + 48), n = 0;

	while (s < 0xFFFFFFFA) {
		n += SS / 128;
		s = le32(b + fat_off(b, s));
	}
	return n;
}

/* the first stream entry whose size is in [lo, hi) */
static uint32_t
stream_sized(const unsigned char *b, uint32_t lo, uint32_t hi)
{
	uint32_t i, n = entries(b);
	size_t o;

	for (i = 1; i < n; i++) {
		o = entry_off(b, i);
		if (b[o + 66] == CFB_STREAM && le32(b + o + 120) >= lo &&
		    le32(b + o + 120) < hi)
			return i;
	}
	fail_msg("no stream of %u..%u bytes in the fixture", lo, hi);
	return 0;
}

/* Opens the n bytes of b as a compound file; returns the code, with the
 * message in m and the fd in *fd (closed by the caller). */
static int
open_bytes(const unsigned char *b, size_t n, struct cfb **c, int *fd,
    char *m, size_t mlen)
{
	char path[128];

	snprintf(path, sizeof path, "%s/t.msi", dir);
	spit(path, b, n);
	assert_true((*fd = open(path, O_RDONLY | O_CLOEXEC)) >= 0);
	m[0] = '\0';
	return cfb_open(*fd, n, c, m, mlen);
}

/* b refused with code and a message containing want */
static void
refused(const unsigned char *b, size_t n, int code, const char *want)
{
	struct cfb *c = NULL;
	char m[256];
	int fd, r;

	r = open_bytes(b, n, &c, &fd, m, sizeof m);
	close(fd);
	fprintf(stderr, "refused: %s\n", m);
	if (r != code || strstr(m, want) == NULL)
		fail_msg("got %d \"%s\", wanted %d \"...%s...\"", r, m, code,
		    want);
	assert_null(c);
}

static unsigned char *
copy(void)
{
	unsigned char *p = malloc(orig_len);

	assert_non_null(p);
	memcpy(p, orig, orig_len);
	return p;
}

struct sink {
	unsigned char *p;
	size_t n, cap;
};

static int
to_sink(void *arg, const void *p, size_t n)
{
	struct sink *s = arg;

	if (s->n + n > s->cap) {
		s->cap = (s->n + n) * 2;
		assert_non_null(s->p = realloc(s->p, s->cap));
	}
	memcpy(s->p + s->n, p, n);
	s->n += n;
	return 0;
}

static void
read_all(const struct cfb *c, uint32_t id, struct sink *s)
{
	char m[256];

	s->n = 0;
	assert_int_equal(cfb_read(c, id, to_sink, s, m, sizeof m), 0);
	assert_int_equal(s->n, cfb_entry(c, id)->size);
}

static void
test_reads_the_package(void **state)
{
	struct sink s = { 0 };
	const uint32_t *kid;
	unsigned char *cab;
	struct cfb *c;
	char m[256], cmd[512], path[128];
	size_t cablen;
	uint32_t i, n, found = 0;
	int fd;

	(void)state;
	assert_int_equal(open_bytes(orig, orig_len, &c, &fd, m, sizeof m), 0);
	assert_int_equal(cfb_entry(c, CFB_ROOT_ID)->type, CFB_ROOT);
	assert_int_not_equal(cfb_find(c, CFB_ROOT_ID, "\005SummaryInformation"),
	    CFB_NOSTREAM);
	assert_int_equal(cfb_find(c, CFB_ROOT_ID, "\005DigitalSignature"),
	    CFB_NOSTREAM);
	/* the cabinet as msiextract's library reads it */
	snprintf(cmd, sizeof cmd, "cd '%s' && msiinfo extract a.msi a.cab > "
	    "cab.out", dir);
	assert_int_equal(system(cmd), 0);
	snprintf(path, sizeof path, "%s/cab.out", dir);
	cab = slurp(path, &cablen);
	assert_true(cablen > 4096);
	kid = cfb_children(c, CFB_ROOT_ID, &n);
	assert_true(n >= 10);	/* the tables, the cabinet, the summary */
	for (i = 0; i < n; i++) {
		read_all(c, kid[i], &s);
		if (s.n == cablen && memcmp(s.p, cab, cablen) == 0)
			found++;
	}
	assert_int_equal(found, 1);
	/* the tree's order is the directory's, not a stream's own */
	assert_null(cfb_children(c, kid[0], &n));
	assert_int_equal(n, 0);
	free(cab);
	free(s.p);
	cfb_free(c);
	close(fd);
}

static void
test_bad_magic(void **state)
{
	unsigned char *b = copy();

	(void)state;
	b[0] ^= 0x01;
	refused(b, orig_len, SIGNET_ERR_INVALID, "bad magic");
	free(b);
}

static void
test_truncated_header(void **state)
{
	(void)state;
	refused(orig, 300, SIGNET_ERR_TRUNCATED, "header is truncated");
	refused(orig, 8, SIGNET_ERR_TRUNCATED, "header is truncated");
}

static void
test_truncated_file(void **state)
{
	struct cfb *c = NULL;
	char m[256];
	int fd, r;

	(void)state;
	/* wixl writes the FAT and the directory at the end */
	r = open_bytes(orig, orig_len - SS, &c, &fd, m, sizeof m);
	close(fd);
	assert_true(r == SIGNET_ERR_INVALID || r == SIGNET_ERR_TRUNCATED);
	assert_true(strlen(m) > 10);
	assert_null(c);
}

static void
test_bad_version(void **state)
{
	unsigned char *b = copy();

	(void)state;
	b[26] = 4;	/* version 4 with 512-byte sectors */
	refused(b, orig_len, SIGNET_ERR_INVALID, "sector shift");
	free(b);
}

static void
test_sector_chain_loop(void **state)
{
	unsigned char *b = copy();
	uint32_t id = stream_sized(b, 4096, 0xFFFFFFFF), s;

	(void)state;
	s = le32(b + entry_off(b, id) + 116);
	set32(b + fat_off(b, s), s);
	refused(b, orig_len, SIGNET_ERR_INVALID, "loops");
	free(b);
}

static void
test_sector_out_of_range(void **state)
{
	unsigned char *b = copy();
	uint32_t id = stream_sized(b, 4096, 0xFFFFFFFF), s;

	(void)state;
	s = le32(b + entry_off(b, id) + 116);
	set32(b + fat_off(b, s), 0x00100000);
	refused(b, orig_len, SIGNET_ERR_INVALID, "out of range");
	/* and the start itself */
	memcpy(b, orig, orig_len);
	set32(b + entry_off(b, id) + 116, 0x00200000);
	refused(b, orig_len, SIGNET_ERR_INVALID, "out of range");
	free(b);
}

static void
test_chains_sharing_a_sector(void **state)
{
	unsigned char *b = copy();
	uint32_t id = stream_sized(b, 4096, 0xFFFFFFFF);

	(void)state;
	/* the stream starts on the directory's first sector */
	set32(b + entry_off(b, id) + 116, le32(b + 48));
	refused(b, orig_len, SIGNET_ERR_INVALID, "another structure");
	free(b);
}

static void
test_stream_size_past_chain(void **state)
{
	unsigned char *b = copy();
	uint32_t id = stream_sized(b, 4096, 0xFFFFFFFF);
	size_t o = entry_off(b, id) + 120;

	(void)state;
	set32(b + o, le32(b + o) + 2 * SS);
	refused(b, orig_len, SIGNET_ERR_INVALID, "its chain holds only");
	/* larger than the whole file */
	set32(b + o, (uint32_t)orig_len + 1);
	refused(b, orig_len, SIGNET_ERR_INVALID, "more than the file has");
	free(b);
}

static void
test_mini_chain_loop(void **state)
{
	unsigned char *b = copy();
	uint32_t id = stream_sized(b, 65, 4096), s, mf;

	(void)state;
	s = le32(b + entry_off(b, id) + 116);
	mf = le32(b + 60);	/* the mini FAT's first sector */
	assert_true(s < SS / 4);
	set32(b + ((size_t)mf + 1) * SS + 4 * s, s);
	refused(b, orig_len, SIGNET_ERR_INVALID, "loops (mini sector");
	free(b);
}

static void
test_directory_cycle(void **state)
{
	unsigned char *b = copy();
	uint32_t top = le32(b + entry_off(b, 0) + 76);

	(void)state;
	/* the root's tree names its own top entry as a left sibling */
	set32(b + entry_off(b, top) + 68, top);
	refused(b, orig_len, SIGNET_ERR_INVALID, "directory tree loops");
	/* and a child that is the root */
	memcpy(b, orig, orig_len);
	set32(b + entry_off(b, top) + 72, 0);
	refused(b, orig_len, SIGNET_ERR_INVALID, "the tree loops");
	free(b);
}

static void
test_directory_id_out_of_range(void **state)
{
	unsigned char *b = copy();

	(void)state;
	set32(b + entry_off(b, 0) + 76, 100000);
	refused(b, orig_len, SIGNET_ERR_INVALID, "past the end of the directory");
	free(b);
}

static void
test_bad_names(void **state)
{
	unsigned char *b = copy();
	uint32_t top = le32(b + entry_off(b, 0) + 76);
	size_t o = entry_off(b, top);

	(void)state;
	b[o + 64] = 65;		/* odd, past 64 */
	refused(b, orig_len, SIGNET_ERR_INVALID, "name is not UTF-16");
	memcpy(b, orig, orig_len);
	b[o] = 0x00;		/* an unpaired low surrogate */
	b[o + 1] = 0xDC;
	refused(b, orig_len, SIGNET_ERR_INVALID, "name is not UTF-16");
	memcpy(b, orig, orig_len);
	b[o + b[o + 64] - 2] = 'x';	/* no NUL at its end */
	refused(b, orig_len, SIGNET_ERR_INVALID, "name is not UTF-16");
	free(b);
}

static void
test_duplicate_names(void **state)
{
	unsigned char *b = copy();
	uint32_t top = le32(b + entry_off(b, 0) + 76), other;
	size_t o = entry_off(b, top);

	(void)state;
	other = le32(b + o + 68) != 0xFFFFFFFF ? le32(b + o + 68) :
	    le32(b + o + 72);
	assert_int_not_equal(other, 0xFFFFFFFF);
	memcpy(b + entry_off(b, other), b + o, 66);
	refused(b, orig_len, SIGNET_ERR_INVALID, "two entries named");
	free(b);
}

static void
test_fat_not_marking_itself(void **state)
{
	unsigned char *b = copy();
	uint32_t fs = le32(b + 76);

	(void)state;
	set32(b + fat_off(b, fs), 0xFFFFFFFE);
	refused(b, orig_len, SIGNET_ERR_INVALID, "does not mark its own");
	/* a FAT sector count the file cannot hold */
	memcpy(b, orig, orig_len);
	set32(b + 44, 1000000);
	refused(b, orig_len, SIGNET_ERR_INVALID, "FAT sectors");
	free(b);
}

static void
test_not_the_root(void **state)
{
	unsigned char *b = copy();

	(void)state;
	b[entry_off(b, 0) + 66] = CFB_STORAGE;
	refused(b, orig_len, SIGNET_ERR_INVALID, "not the root storage");
	free(b);
}

/* The limits: the file's size, and storages nested deeper than
 * SIGNET_MAX_CFB_DEPTH (compound files from tests/fuzz/gen_corpus.py,
 * built during the test). */
static void
test_limits(void **state)
{
	const char *gen = getenv("SIGNET_GEN_CORPUS");
	struct cfb *c = NULL;
	char m[256], cmd[512], p[160];
	unsigned char *b;
	size_t len;
	int fd;

	(void)state;
	snprintf(p, sizeof p, "%s/a.msi", dir);
	assert_true((fd = open(p, O_RDONLY | O_CLOEXEC)) >= 0);
	assert_int_equal(cfb_open(fd, SIGNET_MAX_CFB_SIZE + 1, &c, m, sizeof m),
	    SIGNET_ERR_TOO_LARGE);
	assert_non_null(strstr(m, "larger than"));
	assert_null(c);
	close(fd);
	assert_non_null(gen);
	snprintf(cmd, sizeof cmd, "SIGNET_CORPUS=msi python3 '%s' '%s/corp' "
	    "> /dev/null", gen, dir);
	assert_int_equal(system(cmd), 0);
	snprintf(p, sizeof p, "%s/corp/msi/deep_16", dir);
	b = slurp(p, &len);
	assert_int_equal(open_bytes(b, len, &c, &fd, m, sizeof m), 0);
	cfb_free(c);
	close(fd);
	free(b);
	snprintf(p, sizeof p, "%s/corp/msi/deep_17", dir);
	b = slurp(p, &len);
	refused(b, len, SIGNET_ERR_TOO_LARGE, "nested more than 16 deep");
	free(b);
}

/* [MS-CFB] 2.6.4 order (shorter first, then upper-cased code units) */
static int
tree_cmp(const struct cfb_entry *a, const struct cfb_entry *b)
{
	unsigned i, x, y;

	if (a->name_len != b->name_len)
		return a->name_len < b->name_len ? -1 : 1;
	for (i = 0; i < a->name_len; i += 2) {
		x = a->name[i] | (unsigned)a->name[i + 1] << 8;
		y = b->name[i] | (unsigned)b->name[i + 1] << 8;
		x = x >= 'a' && x <= 'z' ? x - 32 : x;
		y = y >= 'a' && y <= 'z' ? y - 32 : y;
		if (x != y)
			return x < y ? -1 : 1;
	}
	return 0;
}

/* the black height of the tree at id; fails on a red-red edge */
static int
black_height(const struct cfb *c, uint32_t id, int parent_red)
{
	const struct cfb_entry *e;
	int l, r;

	if (id == CFB_NOSTREAM)
		return 1;
	e = cfb_entry(c, id);
	assert_non_null(e);
	if (parent_red)
		assert_int_equal(e->color, 1);
	l = black_height(c, e->left, e->color == 0);
	r = black_height(c, e->right, e->color == 0);
	assert_int_equal(l, r);
	return l + (e->color == 1);
}

static void
check_trees(const struct cfb *c, uint32_t storage)
{
	const struct cfb_entry *top;
	const uint32_t *kid;
	uint32_t i, n;

	kid = cfb_children(c, storage, &n);
	for (i = 1; i < n; i++)
		assert_true(tree_cmp(cfb_entry(c, kid[i - 1]),
		    cfb_entry(c, kid[i])) < 0);
	if (n > 0) {
		top = cfb_entry(c, cfb_entry(c, storage)->child);
		assert_int_equal(top->color, 1);
		(void)black_height(c, cfb_entry(c, storage)->child, 0);
	}
	for (i = 0; i < n; i++)
		if (cfb_entry(c, kid[i])->type == CFB_STORAGE)
			check_trees(c, kid[i]);
}

/* every stream of a is in b, under the same name, with the same bytes */
static void
same_streams(const struct cfb *a, const struct cfb *b, uint32_t skip)
{
	struct sink x = { 0 }, y = { 0 };
	const uint32_t *ka, *kb;
	uint32_t i, j, na, nb;

	ka = cfb_children(a, CFB_ROOT_ID, &na);
	kb = cfb_children(b, CFB_ROOT_ID, &nb);
	for (i = 0; i < na; i++) {
		const struct cfb_entry *e = cfb_entry(a, ka[i]);

		if (ka[i] == skip)
			continue;
		for (j = 0; j < nb; j++)
			if (cfb_entry(b, kb[j])->name_len == e->name_len &&
			    memcmp(cfb_entry(b, kb[j])->name, e->name,
			    e->name_len) == 0)
				break;
		assert_true(j < nb);
		assert_memory_equal(cfb_entry(b, kb[j])->clsid, e->clsid, 16);
		assert_memory_equal(cfb_entry(b, kb[j])->times, e->times, 16);
		if (e->type != CFB_STREAM)
			continue;
		read_all(a, ka[i], &x);
		read_all(b, kb[j], &y);
		assert_int_equal(x.n, y.n);
		assert_memory_equal(x.p, y.p, x.n);
	}
	free(x.p);
	free(y.p);
}

static void
write_and_reopen(const struct cfb *c, const struct cfb_edit *e,
    struct sink *out, struct cfb **back, int *fd)
{
	char m[256];
	unsigned char *p;

	out->n = 0;
	assert_int_equal(cfb_write(c, e, to_sink, out, m, sizeof m), 0);
	assert_int_equal(out->n % SS, 0);
	/* open_bytes rewrites t.msi: keep a copy of the output */
	assert_non_null(p = malloc(out->n));
	memcpy(p, out->p, out->n);
	if (open_bytes(p, out->n, back, fd, m, sizeof m) != 0)
		fail_msg("the written file does not read back: %s", m);
	free(p);
}

static void
test_write_unchanged(void **state)
{
	struct cfb_edit none = { 0 };
	struct sink out = { 0 };
	struct cfb *c, *back;
	char m[256];
	int fd, fd2;
	uint32_t n1, n2;

	(void)state;
	/* open_bytes rewrites t.msi: c reads a.msi */
	snprintf(m, sizeof m, "%s/a.msi", dir);
	assert_true((fd = open(m, O_RDONLY | O_CLOEXEC)) >= 0);
	assert_int_equal(cfb_open(fd, orig_len, &c, m, sizeof m), 0);
	write_and_reopen(c, &none, &out, &back, &fd2);
	(void)cfb_children(c, CFB_ROOT_ID, &n1);
	(void)cfb_children(back, CFB_ROOT_ID, &n2);
	assert_int_equal(n1, n2);
	assert_memory_equal(cfb_entry(back, 0)->clsid,
	    cfb_entry(c, 0)->clsid, 16);
	same_streams(c, back, CFB_NOSTREAM);
	check_trees(back, CFB_ROOT_ID);
	cfb_free(back);
	cfb_free(c);
	close(fd);
	close(fd2);
	free(out.p);
}

static void
test_write_set_and_drop(void **state)
{
	static const char *const drop[] = { "\005SummaryInformation" };
	struct sink out = { 0 }, s = { 0 };
	struct cfb_edit e = { 0 };
	struct cfb *c, *back;
	unsigned char data[5000];
	char m[256];
	uint32_t id, n1, n2;
	size_t i;
	int fd, fd2;

	(void)state;
	for (i = 0; i < sizeof data; i++)
		data[i] = (unsigned char)(i * 7 + 3);
	snprintf(m, sizeof m, "%s/a.msi", dir);
	assert_true((fd = open(m, O_RDONLY | O_CLOEXEC)) >= 0);
	assert_int_equal(cfb_open(fd, orig_len, &c, m, sizeof m), 0);
	(void)cfb_children(c, CFB_ROOT_ID, &n1);
	/* a stream of whole sectors, and a mini stream one */
	for (i = 0; i < 2; i++) {
		e.set = "\005DigitalSignature";
		e.data = data;
		e.len = i == 0 ? sizeof data : 100;
		e.drop = drop;
		e.ndrop = 1;
		write_and_reopen(c, &e, &out, &back, &fd2);
		id = cfb_find(back, CFB_ROOT_ID, "\005DigitalSignature");
		assert_int_not_equal(id, CFB_NOSTREAM);
		read_all(back, id, &s);
		assert_int_equal(s.n, e.len);
		assert_memory_equal(s.p, data, e.len);
		assert_int_equal(cfb_find(back, CFB_ROOT_ID,
		    "\005SummaryInformation"), CFB_NOSTREAM);
		(void)cfb_children(back, CFB_ROOT_ID, &n2);
		assert_int_equal(n2, n1);	/* one in, one out */
		same_streams(c, back, cfb_find(c, CFB_ROOT_ID,
		    "\005SummaryInformation"));
		check_trees(back, CFB_ROOT_ID);
		cfb_free(back);
		close(fd2);
	}
	cfb_free(c);
	close(fd);
	free(out.p);
	free(s.p);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reads_the_package),
		cmocka_unit_test(test_bad_magic),
		cmocka_unit_test(test_truncated_header),
		cmocka_unit_test(test_truncated_file),
		cmocka_unit_test(test_bad_version),
		cmocka_unit_test(test_sector_chain_loop),
		cmocka_unit_test(test_sector_out_of_range),
		cmocka_unit_test(test_chains_sharing_a_sector),
		cmocka_unit_test(test_stream_size_past_chain),
		cmocka_unit_test(test_mini_chain_loop),
		cmocka_unit_test(test_directory_cycle),
		cmocka_unit_test(test_directory_id_out_of_range),
		cmocka_unit_test(test_bad_names),
		cmocka_unit_test(test_duplicate_names),
		cmocka_unit_test(test_fat_not_marking_itself),
		cmocka_unit_test(test_not_the_root),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_write_unchanged),
		cmocka_unit_test(test_write_set_and_drop),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
