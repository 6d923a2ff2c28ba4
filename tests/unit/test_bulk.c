/* Large sequential reads and writes (appliance/lib/bulk.c), on a disk file
 * system (O_DIRECT) and on tmpfs (through the cache): every size around
 * the block boundaries comes back byte for byte, the writer's each()
 * sees every byte once and in order, its error fails the file, and the
 * reader returns exactly the range asked for, or SIGNET_ERR_TRUNCATED
 * when the file ends first. */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "bulk.h"
#include "signet_limits.h"

/* the byte at file offset i: not periodic in any block size */
static uint8_t
pattern(uint64_t i)
{
	return (uint8_t)((i * 2654435761u) >> 13 ^ i >> 20);
}

struct seen {
	uint64_t n;		/* bytes seen so far */
	int bad;		/* one was not the pattern's */
	int fail_at;		/* each() fails once n passes this (0: never) */
};

static int
each(void *arg, const void *p, size_t n)
{
	struct seen *s = arg;
	const uint8_t *b = p;
	size_t i;

	for (i = 0; i < n; i++)
		if (b[i] != pattern(s->n + i))
			s->bad = 1;
	s->n += n;
	if (s->fail_at != 0 && s->n > (uint64_t)s->fail_at)
		return SIGNET_ERR_IO;
	return 0;
}

static int
tmpfile_in(const char *dir, char *path, size_t len)
{
	int fd;

	snprintf(path, len, "%s/signet-test-bulk-XXXXXX", dir);
	fd = mkstemp(path);
	assert_true(fd >= 0);
	return fd;
}

/* Writes n pattern bytes in pieces of odd sizes up to maxpiece, with a
 * second digest beside each() when two is set; checks the file and what
 * both saw. */
static void
write_and_check_by(const char *dir, uint64_t n, int two, size_t maxpiece)
{
	static uint8_t piece[300007];
	struct bulk_writer *w;
	struct seen s = { 0, 0, 0 }, s2 = { 0, 0, 0 };
	char path[256];
	uint64_t off = 0, i;
	size_t k;
	int fd = tmpfile_in(dir, path, sizeof(path)), rfd;
	struct stat st;
	uint8_t *back;

	assert_int_equal(bulk_writer_new(fd, each, &s, &w), 0);
	if (two)
		assert_int_equal(bulk_writer_also(w, each, &s2), 0);
	while (off < n) {
		k = (size_t)(n - off < maxpiece ? n - off : maxpiece);
		k = k > 7 ? k - (size_t)(off % 7) : k;
		for (i = 0; i < k; i++)
			piece[i] = pattern(off + i);
		assert_int_equal(bulk_write(w, piece, k), 0);
		off += k;
	}
	assert_int_equal(bulk_writer_finish(w), 0);
	/* finished: no more bytes */
	assert_int_not_equal(bulk_write(w, piece, 1), 0);
	bulk_writer_free(w);
	/* O_DIRECT is off again, for the caller's own writes */
	assert_false(fcntl(fd, F_GETFL) & O_DIRECT);
	assert_true(s.n == n);
	assert_false(s.bad);
	assert_true(s2.n == (two ? n : 0));
	assert_false(s2.bad);
	assert_int_equal(fstat(fd, &st), 0);
	assert_true((uint64_t)st.st_size == n);
	rfd = open(path, O_RDONLY | O_CLOEXEC);
	assert_true(rfd >= 0);
	back = malloc(n + 1);
	assert_non_null(back);
	assert_true(pread(rfd, back, n + 1, 0) == (ssize_t)n);
	for (i = 0; i < n; i++)
		if (back[i] != pattern(i))
			fail_msg("%s: byte %llu of %llu differs", dir,
			    (unsigned long long)i, (unsigned long long)n);
	free(back);
	close(rfd);
	close(fd);
	unlink(path);
}

static void
write_and_check(const char *dir, uint64_t n, int two)
{
	write_and_check_by(dir, n, two, 300007);
}

/* 64 KiB: the writer's first buffer, before it maps a block */
static const uint64_t sizes[] = {
	0, 1, 4095, 4096, 4097, 65535, 65536, 65537, BULK_BLOCK - 1,
	BULK_BLOCK, BULK_BLOCK + 1,
	3 * (uint64_t)BULK_BLOCK + 4093, 7 * (uint64_t)BULK_BLOCK,
};

/* every size, written on the disk (O_DIRECT) and on tmpfs (the cache) */
static void
test_write(void **state)
{
	static const char *const dirs[] = { "/var/tmp", "/dev/shm" };
	size_t d, i;

	(void)state;
	for (d = 0; d < sizeof(dirs) / sizeof(dirs[0]); d++)
		for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
			write_and_check(dirs[d], sizes[i], 0);
			write_and_check(dirs[d], sizes[i], 1);
		}
}

/* Pieces that fill the writer's first buffer exactly, cross it by one
 * byte or in the middle of a piece, and go on past a block. */
static void
test_write_small_pieces(void **state)
{
	static const size_t pieces[] = { 1, 4096, 65536, 65535, 65537, 9999 };
	static const uint64_t total[] = { 65536, 65537, 131072, 200003,
	    BULK_BLOCK + 7 };
	size_t i, j;

	(void)state;
	for (i = 0; i < sizeof(pieces) / sizeof(pieces[0]); i++)
		for (j = 0; j < sizeof(total) / sizeof(total[0]); j++) {
			if (pieces[i] == 1 && total[j] > 200003)
				continue;	/* a byte at a time: slow */
			write_and_check_by("/var/tmp", total[j], 1, pieces[i]);
		}
}

/* Writes 8 blocks of zeros and finishes: the first error. */
static int
write_zeros(struct bulk_writer *w)
{
	static uint8_t piece[65536];
	uint64_t off;
	int r = 0;

	for (off = 0; off < 8 * (uint64_t)BULK_BLOCK && r == 0;
	    off += sizeof(piece))
		r = bulk_write(w, piece, sizeof(piece));
	return r != 0 ? r : bulk_writer_finish(w);
}

/* A second digest only before the first byte; its error fails the
 * file as each()'s does. */
static void
test_also(void **state)
{
	static uint8_t piece[65536];
	struct bulk_writer *w;
	struct seen s = { 0, 0, 0 }, s2 = { 0, 0, 0 };
	char path[256];
	int fd = tmpfile_in("/var/tmp", path, sizeof(path));

	(void)state;
	assert_int_equal(bulk_writer_new(fd, each, &s, &w), 0);
	assert_int_equal(bulk_write(w, piece, 1), 0);
	assert_int_equal(bulk_writer_also(w, each, &s2), SIGNET_ERR_INTERNAL);
	bulk_writer_free(w);
	assert_int_equal(ftruncate(fd, 0), 0);
	memset(&s, 0, sizeof(s));
	s2.fail_at = 3 * BULK_BLOCK;
	assert_int_equal(bulk_writer_new(fd, each, &s, &w), 0);
	assert_int_equal(bulk_writer_also(w, each, &s2), 0);
	assert_int_equal(bulk_writer_also(w, each, &s2), SIGNET_ERR_INTERNAL);
	assert_int_equal(write_zeros(w), SIGNET_ERR_IO);
	bulk_writer_free(w);
	close(fd);
	unlink(path);
}

static void
test_each_error_fails(void **state)
{
	struct bulk_writer *w;
	struct seen s = { 0, 0, 0 };
	char path[256];
	int fd = tmpfile_in("/var/tmp", path, sizeof(path));

	(void)state;
	s.fail_at = 2 * BULK_BLOCK;
	assert_int_equal(bulk_writer_new(fd, each, &s, &w), 0);
	assert_int_equal(write_zeros(w), SIGNET_ERR_IO);
	bulk_writer_free(w);
	close(fd);
	unlink(path);
}

/* Past SIGNET_MAX_BULK_WRITERS writers with threads, the others work on
 * the caller's thread; every file is still whole, and a writer that
 * finished gives its threads back to the next. */
static void
test_writers_past_the_limit_work_inline(void **state)
{
	enum { N = SIGNET_MAX_BULK_WRITERS + 3, BLOCKS = 3 };
	static uint8_t piece[BULK_BLOCK];
	struct bulk_writer *w[N], *late;
	struct seen s[N], sl;
	char path[N][256], lpath[256];
	int fd[N], lfd, i, b, threaded = 0;
	uint64_t j, off;

	(void)state;
	for (i = 0; i < N; i++) {
		memset(&s[i], 0, sizeof(s[i]));
		fd[i] = tmpfile_in("/var/tmp", path[i], sizeof(path[i]));
		assert_int_equal(bulk_writer_new(fd[i], each, &s[i], &w[i]), 0);
	}
	for (b = 0; b < BLOCKS; b++) {
		off = (uint64_t)b * BULK_BLOCK;
		for (j = 0; j < BULK_BLOCK; j++)
			piece[j] = pattern(off + j);
		for (i = 0; i < N; i++)
			assert_int_equal(bulk_write(w[i], piece, BULK_BLOCK), 0);
	}
	for (i = 0; i < N; i++)
		threaded += bulk_writer_threaded(w[i]);
	assert_int_equal(threaded, SIGNET_MAX_BULK_WRITERS);
	for (i = 0; i < N; i++) {
		assert_int_equal(bulk_writer_finish(w[i]), 0);
		assert_false(bulk_writer_threaded(w[i]));
		bulk_writer_free(w[i]);
		assert_true(s[i].n == (uint64_t)BLOCKS * BULK_BLOCK);
		assert_false(s[i].bad);
		assert_false(fcntl(fd[i], F_GETFL) & O_DIRECT);
		for (off = 0; off < (uint64_t)BLOCKS * BULK_BLOCK;
		    off += BULK_BLOCK) {
			assert_true(pread(fd[i], piece, BULK_BLOCK, (off_t)off) ==
			    (ssize_t)BULK_BLOCK);
			for (j = 0; j < BULK_BLOCK; j++)
				if (piece[j] != pattern(off + j))
					fail_msg("writer %d: byte %llu differs", i,
					    (unsigned long long)(off + j));
		}
		close(fd[i]);
		unlink(path[i]);
	}
	/* all given back: a new writer has threads again */
	memset(&sl, 0, sizeof(sl));
	lfd = tmpfile_in("/var/tmp", lpath, sizeof(lpath));
	assert_int_equal(bulk_writer_new(lfd, each, &sl, &late), 0);
	for (j = 0; j < BULK_BLOCK; j++)
		piece[j] = pattern(j);
	assert_int_equal(bulk_write(late, piece, BULK_BLOCK), 0);
	assert_true(bulk_writer_threaded(late));
	assert_int_equal(bulk_writer_finish(late), 0);
	bulk_writer_free(late);
	close(lfd);
	unlink(lpath);
}

/* A pattern file of n bytes in dir. */
static int
pattern_file(const char *dir, uint64_t n, char *path, size_t len)
{
	static uint8_t piece[65536];
	uint64_t off, i;
	size_t k;
	int fd = tmpfile_in(dir, path, len);

	for (off = 0; off < n; off += k) {
		k = (size_t)(n - off < sizeof(piece) ? n - off : sizeof(piece));
		for (i = 0; i < k; i++)
			piece[i] = pattern(off + i);
		assert_true(pwrite(fd, piece, k, (off_t)off) == (ssize_t)k);
	}
	return fd;
}

static void
read_range(int fd, uint64_t off, uint64_t len)
{
	struct bulk_reader *r;
	const uint8_t *p;
	uint64_t at = off, i;
	size_t n;

	assert_int_equal(bulk_reader_new(fd, off, len, &r), 0);
	while (bulk_read(r, &p, &n) == 0 && n > 0) {
		for (i = 0; i < n; i++)
			if (p[i] != pattern(at + i))
				fail_msg("range %llu+%llu: byte %llu differs",
				    (unsigned long long)off,
				    (unsigned long long)len,
				    (unsigned long long)(at + i));
		at += n;
	}
	assert_true(at == off + len);
	/* after the end, still the end */
	assert_int_equal(bulk_read(r, &p, &n), 0);
	assert_true(n == 0);
	bulk_reader_free(r);
}

static void
reads_in(const char *dir)
{
	const uint64_t size = 5 * (uint64_t)BULK_BLOCK + 1234;
	const uint64_t ranges[][2] = {
		{ 0, size }, { 1, size - 2 }, { 4095, 4097 },
		{ BULK_BLOCK - 3, BULK_BLOCK + 6 }, { 17, 0 }, { 0, 1 },
		{ size - 1, 1 }, { 3 * BULK_BLOCK + 511, 2 * BULK_BLOCK },
	};
	struct bulk_reader *r;
	const uint8_t *p;
	char path[256];
	size_t i, n;
	int fd = pattern_file(dir, size, path, sizeof(path)), e = 0;

	for (i = 0; i < sizeof(ranges) / sizeof(ranges[0]); i++)
		read_range(fd, ranges[i][0], ranges[i][1]);
	/* past the end of the file: truncated, for a short and a long range */
	assert_int_equal(bulk_reader_new(fd, size - 10, 20, &r), 0);
	while ((e = bulk_read(r, &p, &n)) == 0 && n > 0)
		;
	assert_int_equal(e, SIGNET_ERR_TRUNCATED);
	bulk_reader_free(r);
	assert_int_equal(bulk_reader_new(fd, 0, size + BULK_BLOCK, &r), 0);
	while ((e = bulk_read(r, &p, &n)) == 0 && n > 0)
		;
	assert_int_equal(e, SIGNET_ERR_TRUNCATED);
	bulk_reader_free(r);
	/* a reader freed half way stops its threads */
	assert_int_equal(bulk_reader_new(fd, 0, size, &r), 0);
	assert_int_equal(bulk_read(r, &p, &n), 0);
	bulk_reader_free(r);
	close(fd);
	unlink(path);
}

static void
test_read_disk(void **state)
{
	(void)state;
	reads_in("/var/tmp");
}

static void
test_read_tmpfs(void **state)
{
	(void)state;
	reads_in("/dev/shm");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_write),
		cmocka_unit_test(test_write_small_pieces),
		cmocka_unit_test(test_each_error_fails),
		cmocka_unit_test(test_also),
		cmocka_unit_test(test_writers_past_the_limit_work_inline),
		cmocka_unit_test(test_read_disk),
		cmocka_unit_test(test_read_tmpfs),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
