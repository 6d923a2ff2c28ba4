/*
 * bulk.h: large sequential reads and writes on threads of their own.
 *
 * A writer holds three BULK_BLOCK buffers (the caller fills one, a
 * hashing thread runs each() over the one before, a writing thread
 * writes the one before that), four with a second digest (a thread of
 * its own runs also() between the two); a reader holds four, two for each of
 * its two reading threads, while the caller drains one. So the disk and
 * the hashing overlap. Direct I/O wants the buffer, the file offset
 * and the length aligned; the buffers are page aligned, whole blocks
 * start at aligned offsets, and only a file's last piece can be short,
 * so a writer turns O_DIRECT off for that one and a reader simply gets
 * fewer bytes back. A file shorter than a block never uses O_DIRECT or
 * a thread: it is read or written in one call, through the cache.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "bulk.h"
#include "log.h"
#include "signet_limits.h"

/* Direct I/O's alignment: the page size covers every logical block size
 * a disk reports (512 or 4096). */
#define BULK_ALIGN 4096u

static int
bulk_errno(int e)
{
	return e == ENOSPC || e == EDQUOT ? SIGNET_ERR_STORAGE_FULL :
	    SIGNET_ERR_IO;
}

/* Buffers are mapped for the one file and unmapped after it: a peak of
 * a few of them per transfer, and none kept in the allocator's arenas
 * between uploads. */
static uint8_t *
bulk_alloc(void)
{
	void *p = mmap(NULL, BULK_BLOCK, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

static void
bulk_unmap(uint8_t *p)
{
	if (p != NULL)
		(void)munmap(p, BULK_BLOCK);
}

/*
 * A writer's first bytes go into a small buffer from the allocator; the
 * first block is mapped only when the file outgrows it. Most files
 * stored are small (a signature, an artifact of a few KiB), and mapping
 * and unmapping a block for each costs more than the file: the unmap
 * of a multithreaded process interrupts every CPU it ran on to flush
 * their TLBs.
 */
#define BULK_FIRST (64u << 10)

/* O_DIRECT on or off for fd; 0, or -1 when the file system refuses. */
static int
bulk_set_direct(int fd, int on)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0)
		return -1;
	fl = on ? fl | O_DIRECT : fl & ~O_DIRECT;
	return fcntl(fd, F_SETFL, fl);
}

/* ------------------------------------------------------------ writer */

/*
 * The buffers go round: the caller fills one, a hashing thread runs
 * each() over the one before, a second one the other digest (also())
 * over the one before that, and a writing thread writes the oldest, so
 * that neither digest waits for the other or for the disk.
 */
#define BULK_EACH_MAX 2
#define BULK_WSLOTS (2 + BULK_EACH_MAX)

/* a slot's state: free, at digest stage k (BW_EACH + k), being written */
enum { BW_FREE, BW_WRITE, BW_EACH };

struct bulk_wslot {
	uint8_t *buf;
	size_t len;
	uint64_t off;
	int state;		/* under mu */
};

struct bulk_writer {
	int fd;
	int direct;		/* O_DIRECT is set on fd (writing thread's) */
	struct bulk_each {
		struct bulk_writer *w;
		int k;		/* its stage */
		int (*fn)(void *, const void *, size_t);
		void *arg;
		pthread_t th;
	} each[BULK_EACH_MAX];
	int neach;
	struct bulk_wslot slot[BULK_WSLOTS];
	int first_small;	/* slot 0's buffer is BULK_FIRST, malloc'd */
	int cur;		/* the slot the caller fills */
	uint64_t off;		/* file offset of its first byte */
	int done;		/* finished: no more bytes */

	pthread_t io;
	int started;		/* threads run, or (inline) it was decided not */
	int inline_;		/* the caller does each() and the writes */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int stop;		/* under mu */
	int err;		/* under mu: the first error */
};

/* The slots that go round: the caller's, one per digest, the disk's;
 * three at least, so that the caller fills one while a single digest
 * and the disk work. */
static int
bulk_nslots(const struct bulk_writer *w)
{
	return w->neach < 1 ? 3 : 2 + w->neach;
}

/* The state after digest stage k (or, for k == -1, after the caller). */
static int
bulk_next(const struct bulk_writer *w, int k)
{
	return k + 1 < w->neach ? BW_EACH + k + 1 : BW_WRITE;
}

static int
bulk_pwrite_all(int fd, const uint8_t *p, size_t n, uint64_t off)
{
	ssize_t k;

	while (n > 0) {
		k = pwrite(fd, p, n, (off_t)off);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return -errno;
		p += k;
		n -= (size_t)k;
		off += (uint64_t)k;
	}
	return 0;
}

/* One piece to the file: its aligned part directly, a short tail (the
 * file's end) through the cache. A file system that sets O_DIRECT but
 * then refuses it (EINVAL) gets the rest of the file through the cache. */
static int
bulk_put(struct bulk_writer *w, const uint8_t *p, size_t n, uint64_t off)
{
	size_t a = w->direct ? n & ~(size_t)(BULK_ALIGN - 1) : 0;
	int e = 0;

	if (a > 0) {
		e = bulk_pwrite_all(w->fd, p, a, off);
		if (e == -EINVAL) {
			(void)bulk_set_direct(w->fd, 0);
			w->direct = 0;
			a = 0;
			e = 0;
		}
	}
	if (e == 0 && a < n) {
		if (w->direct) {
			(void)bulk_set_direct(w->fd, 0);
			w->direct = 0;
		}
		e = bulk_pwrite_all(w->fd, p + a, n - a, off + a);
	}
	if (e != 0) {
		log_err("bulk: write at %llu: %s", (unsigned long long)off,
		    strerror(-e));
		return bulk_errno(-e);
	}
	return 0;
}

/* A stage: takes the slots in turn that are in state from, does its work
 * on each (none after an error) and passes it on as to. */
static void
bulk_stage(struct bulk_writer *w, int from, int to)
{
	struct bulk_wslot *s;
	int i = 0, r, skip;

	pthread_mutex_lock(&w->mu);
	for (;;) {
		s = &w->slot[i];
		while (s->state != from && !w->stop)
			pthread_cond_wait(&w->cv, &w->mu);
		if (s->state != from)
			break;
		skip = w->err != 0;
		pthread_mutex_unlock(&w->mu);
		r = 0;
		if (!skip && from >= BW_EACH)
			r = w->each[from - BW_EACH].fn(w->each[from - BW_EACH].arg,
			    s->buf, s->len);
		else if (!skip)
			r = bulk_put(w, s->buf, s->len, s->off);
		pthread_mutex_lock(&w->mu);
		if (r != 0 && w->err == 0)
			w->err = r;
		s->state = to;
		pthread_cond_broadcast(&w->cv);
		i = (i + 1) % bulk_nslots(w);
	}
	pthread_mutex_unlock(&w->mu);
}

static void *
bulk_hasher_main(void *arg)
{
	struct bulk_each *e = arg;

	bulk_stage(e->w, BW_EACH + e->k, bulk_next(e->w, e->k));
	return NULL;
}

static void *
bulk_io_main(void *arg)
{
	bulk_stage(arg, BW_WRITE, BW_FREE);
	return NULL;
}

int
bulk_writer_new(int fd, int (*each)(void *, const void *, size_t),
    void *arg, struct bulk_writer **out)
{
	struct bulk_writer *w;

	*out = NULL;
	if ((w = calloc(1, sizeof(*w))) == NULL)
		return SIGNET_ERR_NOMEM;
	w->fd = fd;
	if (each != NULL) {
		w->each[0].fn = each;
		w->each[0].arg = arg;
		w->neach = 1;
	}
	if ((w->slot[0].buf = malloc(BULK_FIRST)) == NULL) {
		free(w);
		return SIGNET_ERR_NOMEM;
	}
	w->first_small = 1;
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->cv, NULL);
	*out = w;
	return 0;
}

int
bulk_writer_also(struct bulk_writer *w, int (*fn)(void *, const void *,
    size_t), void *arg)
{
	if (w->started || w->off > 0 || w->slot[w->cur].len > 0 || w->done ||
	    w->neach == BULK_EACH_MAX || fn == NULL)
		return SIGNET_ERR_INTERNAL;
	w->each[w->neach].fn = fn;
	w->each[w->neach].arg = arg;
	w->neach++;
	return 0;
}

/* Ends the threads started so far; none of them holds a slot (they
 * have none yet, or every slot came back). */
static void
bulk_join(struct bulk_writer *w, int io, int neach)
{
	int k;

	pthread_mutex_lock(&w->mu);
	w->stop = 1;
	pthread_cond_broadcast(&w->cv);
	pthread_mutex_unlock(&w->mu);
	if (io)
		pthread_join(w->io, NULL);
	for (k = 0; k < neach; k++)
		pthread_join(w->each[k].th, NULL);
	w->stop = 0;
}

/* Writers with threads and their blocks at once (SIGNET_MAX_BULK_WRITERS). */
static atomic_int bulk_threaded;

/* The threads, with the first full buffer: a file of one block or less
 * is written by finish alone, through the cache. Past the limit of
 * writers with threads, this one works on the caller's thread with its
 * one block: slower, but many uploads at once cannot take more than
 * SIGNET_MAX_BULK_WRITERS times a writer's blocks and threads. */
static int
bulk_start(struct bulk_writer *w)
{
	int i, k;

	if (atomic_fetch_add(&bulk_threaded, 1) >= SIGNET_MAX_BULK_WRITERS) {
		atomic_fetch_sub(&bulk_threaded, 1);
		w->direct = bulk_set_direct(w->fd, 1) == 0;
		w->inline_ = 1;
		w->started = 1;
		return 0;
	}
	for (i = 1; i < bulk_nslots(w); i++)
		if (w->slot[i].buf == NULL &&
		    (w->slot[i].buf = bulk_alloc()) == NULL)
			goto fail;
	w->direct = bulk_set_direct(w->fd, 1) == 0;
	if (pthread_create(&w->io, NULL, bulk_io_main, w) != 0)
		goto fail;
	for (k = 0; k < w->neach; k++) {
		w->each[k].w = w;
		w->each[k].k = k;
		if (pthread_create(&w->each[k].th, NULL, bulk_hasher_main,
		    &w->each[k]) != 0) {
			bulk_join(w, 1, k);
			goto fail;
		}
	}
	w->started = 1;
	return 0;
fail:
	atomic_fetch_sub(&bulk_threaded, 1);
	if (w->direct)
		(void)bulk_set_direct(w->fd, 0);
	w->direct = 0;
	return SIGNET_ERR_NOMEM;
}

/* A writer without threads: its one block hashed and written here. */
static int
bulk_hand_inline(struct bulk_writer *w, size_t len)
{
	struct bulk_wslot *s = &w->slot[0];
	int k, r = w->err;

	for (k = 0; r == 0 && k < w->neach; k++)
		r = w->each[k].fn(w->each[k].arg, s->buf, len);
	if (r == 0)
		r = bulk_put(w, s->buf, len, w->off);
	if (r != 0 && w->err == 0)
		w->err = r;
	w->off += len;
	s->len = 0;
	return r;
}

/* The caller's slot on its way; the next one, once free, is the
 * caller's. */
static int
bulk_hand(struct bulk_writer *w, size_t len)
{
	struct bulk_wslot *s = &w->slot[w->cur];
	int r;

	if (!w->started && (r = bulk_start(w)) != 0)
		return r;
	if (w->inline_)
		return bulk_hand_inline(w, len);
	pthread_mutex_lock(&w->mu);
	s->len = len;
	s->off = w->off;
	s->state = bulk_next(w, -1);
	pthread_cond_broadcast(&w->cv);
	w->cur = (w->cur + 1) % bulk_nslots(w);
	s = &w->slot[w->cur];
	while (s->state != BW_FREE)
		pthread_cond_wait(&w->cv, &w->mu);
	r = w->err;
	pthread_mutex_unlock(&w->mu);
	w->off += len;
	s->len = 0;
	return r;
}

/* Slot 0 outgrows its small buffer: a whole block, with what it held. */
static int
bulk_grow_first(struct bulk_writer *w)
{
	struct bulk_wslot *s = &w->slot[0];
	uint8_t *blk = bulk_alloc();

	if (blk == NULL)
		return SIGNET_ERR_NOMEM;
	memcpy(blk, s->buf, s->len);
	free(s->buf);
	s->buf = blk;
	w->first_small = 0;
	return 0;
}

int
bulk_write(struct bulk_writer *w, const void *p, size_t n)
{
	struct bulk_wslot *s;
	const uint8_t *b = p;
	size_t take;
	int r;

	if (w->done)
		return SIGNET_ERR_INTERNAL;
	if (w->first_small && n > BULK_FIRST - w->slot[0].len &&
	    (r = bulk_grow_first(w)) != 0)
		return r;
	while (n > 0) {
		s = &w->slot[w->cur];
		take = BULK_BLOCK - s->len;
		if (take > n)
			take = n;
		memcpy(s->buf + s->len, b, take);
		s->len += take;
		b += take;
		n -= take;
		if (s->len == BULK_BLOCK && (r = bulk_hand(w, s->len)) != 0)
			return r;
	}
	return 0;
}

/* Waits for every slot to come back (discard: unwritten) and ends the
 * threads. */
static int
bulk_writer_stop(struct bulk_writer *w, int discard)
{
	int i, r;

	if (!w->started)
		return 0;
	if (w->inline_) {
		w->started = 0;
		if (w->direct)
			(void)bulk_set_direct(w->fd, 0);
		w->direct = 0;
		return w->err;
	}
	pthread_mutex_lock(&w->mu);
	if (discard && w->err == 0)
		w->err = SIGNET_ERR_INTERNAL;
	for (i = 0; i < bulk_nslots(w); i++)
		while (w->slot[i].state != BW_FREE)
			pthread_cond_wait(&w->cv, &w->mu);
	r = w->err;
	pthread_mutex_unlock(&w->mu);
	bulk_join(w, 1, w->neach);
	atomic_fetch_sub(&bulk_threaded, 1);
	w->started = 0;
	if (w->direct) {
		(void)bulk_set_direct(w->fd, 0);
		w->direct = 0;
	}
	return r;
}

int
bulk_writer_threaded(const struct bulk_writer *w)
{
	return w->started && !w->inline_;
}

int
bulk_writer_finish(struct bulk_writer *w)
{
	struct bulk_wslot *s = &w->slot[w->cur];
	int r = 0, e, k;

	if (w->done)
		return SIGNET_ERR_INTERNAL;
	w->done = 1;
	if (w->started) {
		if (s->len > 0)
			r = bulk_hand(w, s->len);
		e = bulk_writer_stop(w, 0);
		return r != 0 ? r : e;
	}
	if (s->len == 0)
		return 0;
	for (k = 0; k < w->neach; k++)
		if ((r = w->each[k].fn(w->each[k].arg, s->buf, s->len)) != 0)
			return r;
	return bulk_put(w, s->buf, s->len, w->off);
}

void
bulk_writer_free(struct bulk_writer *w)
{
	int i;

	if (w == NULL)
		return;
	(void)bulk_writer_stop(w, 1);
	pthread_cond_destroy(&w->cv);
	pthread_mutex_destroy(&w->mu);
	for (i = 0; i < BULK_WSLOTS; i++) {
		if (i == 0 && w->first_small)
			free(w->slot[i].buf);
		else
			bulk_unmap(w->slot[i].buf);
	}
	free(w);
}

/* ------------------------------------------------------------ reader */

/* Reads in flight at once: a disk, and a virtual one more so, answers
 * two queued reads sooner than one after the other. Each thread owns
 * two slots, so it reads its next block while the caller has its last. */
#define BULK_READERS 2
#define BULK_SLOTS (2 * BULK_READERS)

struct bulk_slot {
	uint8_t *buf;
	uint64_t at;		/* file offset of buf[0] */
	size_t len;		/* bytes read into it */
	uint64_t blk;		/* the block it holds, when full */
	int full;		/* under mu */
};

struct bulk_reader {
	int fd;			/* the caller's */
	int dfd;		/* the same file with O_DIRECT, or -1 */
	atomic_int cached;	/* O_DIRECT refused: read fd instead */
	uint64_t start, end;	/* the range wanted */
	uint64_t base;		/* file offset of block 0 */
	uint64_t stop_at;	/* reads end here (end, aligned up if direct) */
	uint64_t nblk;
	struct bulk_slot slot[BULK_SLOTS];
	int small;		/* slot 0 is malloc'd, the range's size */
	uint64_t next;		/* the block the caller gets next */
	int out;		/* the slot the caller holds, or -1 */

	pthread_t th[BULK_READERS];
	int nth;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int stop;		/* under mu */
	int err;		/* under mu: the first error */
};

struct bulk_thread {
	struct bulk_reader *r;
	int t;
};

/* Up to n bytes at off; fewer only at the end of the file. */
static int
bulk_pread_some(struct bulk_reader *r, uint8_t *p, size_t n, uint64_t off,
    size_t *got)
{
	ssize_t k;
	int fd, direct;

	*got = 0;
	while (*got < n) {
		direct = r->dfd >= 0 && !atomic_load(&r->cached);
		fd = direct ? r->dfd : r->fd;
		k = pread(fd, p + *got, n - *got, (off_t)(off + *got));
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0 && errno == EINVAL && direct) {
			/* O_DIRECT opened but refused: the cache, then */
			atomic_store(&r->cached, 1);
			continue;
		}
		if (k < 0) {
			log_err("bulk: read at %llu: %s",
			    (unsigned long long)(off + *got), strerror(errno));
			return SIGNET_ERR_IO;
		}
		if (k == 0)
			break;
		*got += (size_t)k;
		/* a short direct read is the file's end (reading on from an
		 * unaligned offset would be refused) */
		if (direct && *got < n)
			break;
	}
	return 0;
}

/* Block b into s. */
static int
bulk_fill(struct bulk_reader *r, struct bulk_slot *s, uint64_t b)
{
	uint64_t at = r->base + b * BULK_BLOCK, want = r->stop_at - at;
	size_t got;
	int e;

	if (want > BULK_BLOCK)
		want = BULK_BLOCK;
	if ((e = bulk_pread_some(r, s->buf, (size_t)want, at, &got)) != 0)
		return e;
	if (at + got < r->end && got < want)
		return SIGNET_ERR_TRUNCATED;
	s->at = at;
	s->len = got;
	s->blk = b;
	return 0;
}

static void *
bulk_reader_main(void *arg)
{
	struct bulk_thread *bt = arg;
	struct bulk_reader *r = bt->r;
	struct bulk_slot *s;
	uint64_t b;
	int e;

	for (b = (uint64_t)bt->t; b < r->nblk; b += BULK_READERS) {
		s = &r->slot[b % BULK_SLOTS];
		pthread_mutex_lock(&r->mu);
		while (s->full && !r->stop)
			pthread_cond_wait(&r->cv, &r->mu);
		if (r->stop || r->err != 0) {
			pthread_mutex_unlock(&r->mu);
			break;
		}
		pthread_mutex_unlock(&r->mu);
		e = bulk_fill(r, s, b);
		pthread_mutex_lock(&r->mu);
		if (e != 0 && r->err == 0)
			r->err = e;
		if (e == 0)
			s->full = 1;
		pthread_cond_broadcast(&r->cv);
		pthread_mutex_unlock(&r->mu);
		if (e != 0)
			break;
	}
	free(bt);
	return NULL;
}

static void
bulk_reader_stop(struct bulk_reader *r)
{
	int i;

	pthread_mutex_lock(&r->mu);
	r->stop = 1;
	pthread_cond_broadcast(&r->cv);
	pthread_mutex_unlock(&r->mu);
	for (i = 0; i < r->nth; i++)
		pthread_join(r->th[i], NULL);
	r->nth = 0;
}

int
bulk_reader_new(int fd, uint64_t off, uint64_t len, struct bulk_reader **out)
{
	struct bulk_reader *r;
	struct bulk_thread *bt;
	char path[64];
	int i;

	*out = NULL;
	/* the end, aligned up, must be a file offset */
	if (off > (uint64_t)INT64_MAX - BULK_ALIGN ||
	    len > (uint64_t)INT64_MAX - BULK_ALIGN - off)
		return SIGNET_ERR_INVALID;
	if ((r = calloc(1, sizeof(*r))) == NULL)
		return SIGNET_ERR_NOMEM;
	r->fd = fd;
	r->dfd = -1;
	r->start = off;
	r->end = off + len;
	r->base = off;
	r->stop_at = r->end;
	r->out = -1;
	atomic_init(&r->cached, 0);
	pthread_mutex_init(&r->mu, NULL);
	pthread_cond_init(&r->cv, NULL);
	if (len <= BULK_FIRST) {
		/* one small piece: a buffer of its size (BULK_FIRST) */
		if ((r->slot[0].buf = malloc(len > 0 ? len : 1)) == NULL)
			goto nomem;
		r->small = 1;
		r->nblk = len > 0;
		*out = r;
		return 0;
	}
	if ((r->slot[0].buf = bulk_alloc()) == NULL)
		goto nomem;
	if (len <= BULK_BLOCK) {
		r->nblk = len > 0;	/* one piece, read by the caller */
		*out = r;
		return 0;
	}
	for (i = 1; i < BULK_SLOTS; i++)
		if ((r->slot[i].buf = bulk_alloc()) == NULL)
			goto nomem;
	/* a second open file description of the same file, direct */
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	r->dfd = open(path, O_RDONLY | O_DIRECT | O_CLOEXEC);
	if (r->dfd >= 0) {
		r->base = off & ~(uint64_t)(BULK_ALIGN - 1);
		r->stop_at = (r->end + BULK_ALIGN - 1) &
		    ~(uint64_t)(BULK_ALIGN - 1);
	}
	r->nblk = (r->stop_at - r->base + BULK_BLOCK - 1) / BULK_BLOCK;
	for (i = 0; i < BULK_READERS; i++) {
		if ((bt = malloc(sizeof(*bt))) == NULL)
			goto fail;
		bt->r = r;
		bt->t = i;
		if (pthread_create(&r->th[i], NULL, bulk_reader_main,
		    bt) != 0) {
			free(bt);
			goto fail;
		}
		r->nth++;
	}
	*out = r;
	return 0;
fail:
	bulk_reader_stop(r);
nomem:
	bulk_reader_free(r);
	return SIGNET_ERR_NOMEM;
}

/* The useful part of s: [start, end) of what it holds. */
static void
bulk_trim(const struct bulk_reader *r, const struct bulk_slot *s,
    const uint8_t **p, size_t *n)
{
	uint64_t from = s->at, to = s->at + s->len;

	if (from < r->start)
		from = r->start;
	if (to > r->end)
		to = r->end;
	*p = s->buf + (from - s->at);
	*n = to > from ? (size_t)(to - from) : 0;
}

int
bulk_read(struct bulk_reader *r, const uint8_t **p, size_t *n)
{
	struct bulk_slot *s;
	int e;

	*p = NULL;
	*n = 0;
	if (r->next >= r->nblk)
		return 0;
	if (r->nth == 0) {
		if ((e = bulk_fill(r, &r->slot[0], 0)) != 0)
			return e;
		r->next = 1;
		bulk_trim(r, &r->slot[0], p, n);
		return 0;
	}
	s = &r->slot[r->next % BULK_SLOTS];
	pthread_mutex_lock(&r->mu);
	if (r->out >= 0) {
		r->slot[r->out].full = 0;
		r->out = -1;
		pthread_cond_broadcast(&r->cv);
	}
	while (!(s->full && s->blk == r->next) && r->err == 0)
		pthread_cond_wait(&r->cv, &r->mu);
	if (!(s->full && s->blk == r->next)) {
		e = r->err;
		pthread_mutex_unlock(&r->mu);
		return e;
	}
	r->out = (int)(r->next % BULK_SLOTS);
	r->next++;
	pthread_mutex_unlock(&r->mu);
	bulk_trim(r, s, p, n);
	return 0;
}

void
bulk_reader_free(struct bulk_reader *r)
{
	int i;

	if (r == NULL)
		return;
	bulk_reader_stop(r);
	if (r->dfd >= 0)
		close(r->dfd);
	pthread_cond_destroy(&r->cv);
	pthread_mutex_destroy(&r->mu);
	for (i = 0; i < BULK_SLOTS; i++) {
		if (i == 0 && r->small)
			free(r->slot[i].buf);
		else
			bulk_unmap(r->slot[i].buf);
	}
	free(r);
}
