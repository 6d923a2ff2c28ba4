/* The LMDB store (appliance/store/store.c): schema versions of records,
 * prefix walks, transactions that cannot be left open, the map's growth,
 * and writes that share their commit. */
#include <pthread.h>
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

#include "fixture.h"
#include "metrics.h"
#include "store.h"

/* A write transaction left open keeps LMDB's writer lock: the next
 * store_txn_begin(..., 1, ...) would wait forever. The alarm turns such a
 * wait into a failed test. */
static void
begin_write_or_die(struct store *s, struct store_txn **t)
{
	alarm(10);
	assert_int_equal(store_txn_begin(s, 1, t), 0);
	alarm(0);
}

static void
test_txn_end_clears_handle(void **state)
{
	struct fx *f = *state;
	struct store_txn *t = NULL;

	begin_write_or_die(f->s, &t);
	assert_int_equal(store_put(t, STORE_META, "k", 1, "v", 1), 0);
	store_txn_abort(&t);
	assert_null(t);
	/* abort of an ended transaction, and of NULL, is a no-op */
	store_txn_abort(&t);
	store_txn_abort(NULL);
	begin_write_or_die(f->s, &t);
	assert_int_equal(store_put(t, STORE_META, "k", 1, "v", 1), 0);
	assert_int_equal(store_txn_commit(&t), 0);
	assert_null(t);
	/* committing nothing is an error, not a crash */
	assert_int_equal(store_txn_commit(&t), SIGNET_ERR_INTERNAL);
	begin_write_or_die(f->s, &t);
	store_txn_abort(&t);
}

/* A write that fails inside the transaction (here: the map is full) and
 * the abort on the error path leave the store writable. */
static void
test_failed_write_releases_lock(void **state)
{
	struct fx *f = *state;
	struct store *small = NULL;
	struct store_txn *t = NULL;
	char dir[128], *big;
	size_t n = 1 << 20;
	int r = 0, i;

	(void)f;
	snprintf(dir, sizeof(dir), "%s/small", f->dir);
	assert_int_equal(store_open(dir, 256 << 10, &small), 0);
	big = calloc(1, n);
	assert_non_null(big);
	begin_write_or_die(small, &t);
	for (i = 0; i < 8 && r == 0; i++) {
		char k[8];

		snprintf(k, sizeof(k), "k%d", i);
		r = store_put(t, STORE_META, k, strlen(k), big, n);
	}
	assert_int_not_equal(r, 0);
	store_txn_abort(&t);
	assert_null(t);
	begin_write_or_die(small, &t);
	assert_int_equal(store_put(t, STORE_META, "ok", 2, "1", 1), 0);
	assert_int_equal(store_txn_commit(&t), 0);
	free(big);
	store_close(small);
}

static void
test_record_version_checked(void **state)
{
	struct fx *f = *state;
	struct store_txn *t;
	json_t *j;
	const char *bad = "{\"v\":99,\"x\":1}";

	assert_int_equal(store_txn_begin(f->s, 1, &t), 0);
	assert_int_equal(store_put(t, STORE_PROJECTS, "p", 1, bad,
	    strlen(bad)), 0);
	assert_int_equal(store_get_json(t, STORE_PROJECTS, "p", &j),
	    SIGNET_ERR_STORE);
	assert_int_equal(store_put(t, STORE_PROJECTS, "q", 1, "{", 1), 0);
	assert_int_equal(store_get_json(t, STORE_PROJECTS, "q", &j),
	    SIGNET_ERR_STORE);
	assert_int_equal(store_get_json(t, STORE_PROJECTS, "r", &j),
	    SIGNET_ERR_NOT_FOUND);
	store_txn_abort(&t);
}

static int
count_cb(const void *k, size_t klen, const void *v, size_t vlen, void *arg)
{
	(void)k;
	(void)klen;
	(void)v;
	(void)vlen;
	(*(int *)arg)++;
	return 0;
}

/* A prefix walk ends quietly where the prefix ends, whatever follows. */
static void
test_walk_prefix(void **state)
{
	struct fx *f = *state;
	struct store_txn *t;
	int n;

	assert_int_equal(store_txn_begin(f->s, 1, &t), 0);
	assert_int_equal(store_put(t, STORE_POLICIES, "a/x", 3, "1", 1), 0);
	assert_int_equal(store_put(t, STORE_POLICIES, "b/x", 3, "1", 1), 0);
	assert_int_equal(store_put(t, STORE_POLICIES, "b/y", 3, "1", 1), 0);
	assert_int_equal(store_put(t, STORE_POLICIES, "c/x", 3, "1", 1), 0);
	n = 0;
	assert_int_equal(store_walk(t, STORE_POLICIES, "b/", 2, NULL, 0, 0,
	    count_cb, &n), 0);
	assert_int_equal(n, 2);
	n = 0;
	assert_int_equal(store_walk(t, STORE_POLICIES, "b/", 2, NULL, 0, 1,
	    count_cb, &n), 0);
	assert_int_equal(n, 2);
	n = 0;
	/* nothing with the prefix, keys after it */
	assert_int_equal(store_walk(t, STORE_POLICIES, "a0", 2, NULL, 0, 0,
	    count_cb, &n), 0);
	assert_int_equal(n, 0);
	n = 0;
	assert_int_equal(store_walk(t, STORE_POLICIES, "zz", 2, NULL, 0, 0,
	    count_cb, &n), 0);
	assert_int_equal(n, 0);
	store_txn_abort(&t);
}

/* Fills a store with 32 KiB records, one per transaction, until a write
 * fails; returns how many went in and the error that stopped them. */
static int
fill(struct store *s, int from, int max, int *err)
{
	static char val[32 * 1024];
	struct store_txn *t;
	char k[16];
	int i, r = 0;

	memset(val, 'x', sizeof(val));
	for (i = from; i < from + max; i++) {
		snprintf(k, sizeof(k), "r%06d", i);
		if ((r = store_txn_begin(s, 1, &t)) != 0)
			break;
		if ((r = store_put(t, STORE_META, k, strlen(k), val,
		    sizeof(val))) != 0) {
			store_txn_abort(&t);
			break;
		}
		if ((r = store_txn_commit(&t)) != 0)
			break;
	}
	*err = r;
	return i - from;
}

/* The map grows while in use up to its ceiling, then a write is
 * SIGNET_ERR_STORAGE_FULL (not a generic database error), submissions
 * are refused before the reserve with a message naming the limit, what
 * was stored is still read, and a raised ceiling lets writes go on. */
static void
test_map_grows_to_ceiling(void **state)
{
	struct fx *f = *state;
	struct store *s = NULL;
	struct store_usage u;
	struct store_txn *t = NULL;
	const void *v;
	size_t vlen;
	char dir[128], msg[256];
	int n, more, err;

	snprintf(dir, sizeof(dir), "%s/grow", f->dir);
	assert_int_equal(store_open(dir, 1 << 20, &s), 0);
	assert_int_equal(store_set_max_map(s, 4 << 20), 0);
	assert_int_equal(store_admit(s, 0, msg, sizeof(msg)), 0);
	n = fill(s, 0, 1000, &err);
	assert_int_equal(err, SIGNET_ERR_STORAGE_FULL);
	/* far more than the first 1 MiB held */
	assert_true(n > 60);
	assert_int_equal(store_usage(s, &u), 0);
	assert_int_equal(u.map_size, 4 << 20);
	assert_int_equal(u.max_map, 4 << 20);
	assert_int_equal(u.full, 1);
	assert_true(u.map_used > (3 << 20));
	assert_int_equal(store_admit(s, 0, msg, sizeof(msg)),
	    SIGNET_ERR_STORAGE_FULL);
	assert_non_null(strstr(msg, "max_map_size = 4 MiB"));
	/* reads go on */
	assert_int_equal(store_txn_begin(s, 0, &t), 0);
	assert_int_equal(store_get(t, STORE_META, "r000000", 7, &v, &vlen), 0);
	assert_int_equal(vlen, 32 * 1024);
	store_txn_abort(&t);
	/* a raised ceiling: the map grows again, without reopening */
	assert_int_equal(store_set_max_map(s, 8 << 20), 0);
	more = fill(s, n, 20, &err);
	assert_int_equal(err, 0);
	assert_int_equal(more, 20);
	assert_int_equal(store_usage(s, &u), 0);
	assert_true(u.map_size > (4 << 20));
	assert_int_equal(u.full, 0);
	store_close(s);
	/* reopened, it keeps the size it grew to */
	assert_int_equal(store_open(dir, 1 << 20, &s), 0);
	assert_int_equal(store_usage(s, &u), 0);
	assert_true(u.map_size > (4 << 20));
	store_close(s);
}

/* A thread holding a read transaction does not stop another thread's
 * write from growing the map for long: the grower gives up after a
 * moment and the write goes on in the map there is (or fails full). */
struct holder {
	struct store *s;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int state;	/* 1 holding, 2 release */
};

static void *
hold_read(void *arg)
{
	struct holder *h = arg;
	struct store_txn *t = NULL;

	assert_int_equal(store_txn_begin(h->s, 0, &t), 0);
	pthread_mutex_lock(&h->mu);
	h->state = 1;
	pthread_cond_broadcast(&h->cv);
	while (h->state != 2)
		pthread_cond_wait(&h->cv, &h->mu);
	pthread_mutex_unlock(&h->mu);
	store_txn_abort(&t);
	return NULL;
}

static void
test_grow_with_reader_open(void **state)
{
	struct fx *f = *state;
	struct holder h;
	pthread_t th;
	char dir[128];
	int n, err;

	snprintf(dir, sizeof(dir), "%s/grow2", f->dir);
	memset(&h, 0, sizeof(h));
	assert_int_equal(store_open(dir, 1 << 20, &h.s), 0);
	assert_int_equal(store_set_max_map(h.s, 2 << 20), 0);
	pthread_mutex_init(&h.mu, NULL);
	pthread_cond_init(&h.cv, NULL);
	assert_int_equal(pthread_create(&th, NULL, hold_read, &h), 0);
	pthread_mutex_lock(&h.mu);
	while (h.state != 1)
		pthread_cond_wait(&h.cv, &h.mu);
	pthread_mutex_unlock(&h.mu);
	/* returns (full or not) instead of waiting for the reader */
	n = fill(h.s, 0, 100, &err);
	assert_int_equal(err, SIGNET_ERR_STORAGE_FULL);
	pthread_mutex_lock(&h.mu);
	h.state = 2;
	pthread_cond_broadcast(&h.cv);
	pthread_mutex_unlock(&h.mu);
	pthread_join(th, NULL);
	/* the reader gone, the next write grows the map and goes in */
	assert_int_equal(fill(h.s, n, 5, &err), 5);
	assert_int_equal(err, 0);
	store_close(h.s);
	pthread_mutex_destroy(&h.mu);
	pthread_cond_destroy(&h.cv);
}

/* ---- group commit (store_write) ---- */

/* One write of a batch: counts itself in "count" (what it saw is its
 * result), keeps "w<i>", and fails as it is told. */
enum gw_fail { GW_OK, GW_REFUSE, GW_COMMIT, GW_BIG };

struct gw {
	struct store *s;
	int i;
	enum gw_fail fail;
	size_t size;		/* of its value */
	int runs;
	long seen;		/* the count before it */
	int r;			/* store_write's */
	pthread_t th;
};

static int
gw_write(struct store_txn *t, void *arg)
{
	struct gw *w = arg;
	struct store_txn *own = t;
	const void *v;
	size_t vlen;
	char k[16], num[24], *val;
	long n = 0;
	int r;

	w->runs++;
	w->seen = -1;
	if ((r = store_get(t, STORE_META, "count", 5, &v, &vlen)) == 0) {
		if (vlen >= sizeof(num))
			return SIGNET_ERR_STORE;
		memcpy(num, v, vlen);
		num[vlen] = '\0';
		n = strtol(num, NULL, 10);
	} else if (r != SIGNET_ERR_NOT_FOUND) {
		return r;
	}
	snprintf(num, sizeof(num), "%ld", n + 1);
	if ((r = store_put(t, STORE_META, "count", 5, num, strlen(num))) != 0)
		return r;
	snprintf(k, sizeof(k), "w%d", w->i);
	if ((val = calloc(1, w->size)) == NULL)
		return SIGNET_ERR_NOMEM;
	memset(val, 'a' + w->i % 26, w->size);
	r = store_put(t, STORE_META, k, strlen(k), val, w->size);
	free(val);
	if (r != 0)
		return r;
	if (w->fail == GW_REFUSE)
		return SIGNET_ERR_CONFLICT;
	if (w->fail == GW_COMMIT) {
		/* the store's to end: refused, and nothing is kept */
		if ((r = store_txn_commit(&own)) != SIGNET_ERR_INTERNAL)
			return SIGNET_ERR_STORE;
		return 0;
	}
	w->seen = n;
	return 0;
}

static void *
gw_run(void *arg)
{
	struct gw *w = arg;

	w->r = store_write(w->s, gw_write, w);
	return NULL;
}

/* Starts n writes behind a gate, so that they are committed as one
 * batch, and waits for every outcome. */
static void
gw_batch(struct store *s, struct gw *ws, size_t n)
{
	struct fx_gate *g = fx_gate_hold(s);
	size_t i;

	for (i = 0; i < n; i++)
		assert_int_equal(pthread_create(&ws[i].th, NULL, gw_run,
		    &ws[i]), 0);
	assert_int_equal(fx_gate_release(g, n), 0);
	for (i = 0; i < n; i++)
		pthread_join(ws[i].th, NULL);
}

/* The value of "w<i>" in s: its length, or -1 when it is not there. */
static long
gw_stored(struct store *s, int i)
{
	struct store_txn *t = NULL;
	const void *v;
	size_t vlen;
	char k[16];
	long n;

	snprintf(k, sizeof(k), "w%d", i);
	assert_int_equal(store_txn_begin(s, 0, &t), 0);
	n = store_get(t, STORE_META, k, strlen(k), &v, &vlen) == 0 ?
	    (long)vlen : -1;
	store_txn_abort(&t);
	return n;
}

/* Many writers at once share one commit and each gets its own outcome:
 * the writes that succeed saw each other in order (the counts they saw
 * are distinct and without gaps), a write that fails, or that tries to
 * end its transaction, leaves nothing, and everything acknowledged is
 * there after the store is opened again. */
static void
test_group_commit_results(void **state)
{
	struct fx *f = *state;
	struct gw ws[24];
	uint64_t flushes, writes, batched;
	int seen[24], i, ok = 0;

	flushes = metrics_get(METRICS_STORE_FLUSHES);
	writes = metrics_get(METRICS_STORE_WRITES);
	batched = metrics_get(METRICS_STORE_BATCHED_WRITES);
	memset(ws, 0, sizeof(ws));
	for (i = 0; i < 24; i++) {
		ws[i].s = f->s;
		ws[i].i = i;
		ws[i].size = 100 + i;
		ws[i].fail = i % 4 == 1 ? GW_REFUSE : i == 6 ? GW_COMMIT :
		    GW_OK;
	}
	gw_batch(f->s, ws, 24);
	memset(seen, 0, sizeof(seen));
	for (i = 0; i < 24; i++) {
		assert_int_equal(ws[i].runs, 1);
		if (ws[i].fail == GW_REFUSE) {
			assert_int_equal(ws[i].r, SIGNET_ERR_CONFLICT);
			continue;
		}
		if (ws[i].fail == GW_COMMIT) {
			assert_int_equal(ws[i].r, SIGNET_ERR_INTERNAL);
			continue;
		}
		assert_int_equal(ws[i].r, 0);
		assert_in_range(ws[i].seen, 0, 23);
		assert_int_equal(seen[ws[i].seen], 0);
		seen[ws[i].seen] = 1;
		ok++;
	}
	assert_int_equal(ok, 17);
	for (i = 0; i < ok; i++)
		assert_int_equal(seen[i], 1);
	/* the gate's commit and the batch's: two flushes for 18 writes */
	assert_int_equal(metrics_get(METRICS_STORE_FLUSHES) - flushes, 2);
	assert_int_equal(metrics_get(METRICS_STORE_WRITES) - writes, 18);
	assert_int_equal(metrics_get(METRICS_STORE_BATCHED_WRITES) - batched,
	    17);
	store_close(f->s);
	f->s = NULL;
	assert_int_equal(store_open(f->db, 64 << 20, &f->s), 0);
	for (i = 0; i < 24; i++)
		assert_int_equal(gw_stored(f->s, i), ws[i].fail == GW_OK ?
		    (long)ws[i].size : -1);
}

/* A write of a batch that finds the map full is decided alone, as it
 * would be without the batch: SIGNET_ERR_STORAGE_FULL; the others of the
 * batch are kept, and the map grows before the next write, as after any
 * write that found it full. */
static void
test_group_commit_map_full(void **state)
{
	struct fx *f = *state;
	struct store *s = NULL;
	struct store_usage u;
	struct gw ws[8], more;
	char dir[128];
	int i;

	snprintf(dir, sizeof(dir), "%s/gcfull", f->dir);
	assert_int_equal(store_open(dir, 1 << 20, &s), 0);
	assert_int_equal(store_set_max_map(s, 4 << 20), 0);
	memset(ws, 0, sizeof(ws));
	for (i = 0; i < 8; i++) {
		ws[i].s = s;
		ws[i].i = i;
		ws[i].size = i == 5 ? (size_t)(1536 << 10) : 8192;
	}
	gw_batch(s, ws, 8);
	for (i = 0; i < 8; i++) {
		if (i == 5) {
			assert_int_equal(ws[i].r, SIGNET_ERR_STORAGE_FULL);
			assert_int_equal(gw_stored(s, i), -1);
		} else {
			assert_int_equal(ws[i].r, 0);
			assert_int_equal(gw_stored(s, i), 8192);
		}
	}
	/* the one that found it full was run again alone, once more only */
	assert_true(ws[5].runs <= 2);
	memset(&more, 0, sizeof(more));
	more.s = s;
	more.i = 5;
	more.size = 1536 << 10;
	gw_run(&more);
	assert_int_equal(more.r, 0);
	assert_int_equal(store_usage(s, &u), 0);
	assert_int_equal(u.full, 0);
	assert_true(u.map_size > (1 << 20));
	store_close(s);
}

/* One write of the batch: admitted or not, then 16 KiB. */
struct aw {
	struct store *s;
	int i;
	int runs;
	int r;
	char msg[256];
	pthread_t th;
};

static int
aw_write(struct store_txn *t, void *arg)
{
	static char val[16 * 1024];
	struct aw *w = arg;
	char k[16];
	int r;

	w->runs++;
	if ((r = store_admit(w->s, 0, w->msg, sizeof(w->msg))) != 0)
		return r;
	snprintf(k, sizeof(k), "a%03d", w->i);
	memset(val, 'v', sizeof(val));
	return store_put(t, STORE_META, k, strlen(k), val, sizeof(val));
}

static void *
aw_run(void *arg)
{
	struct aw *w = arg;

	w->r = store_write(w->s, aw_write, w);
	return NULL;
}

/* Near the reserve store_admit keeps (a map at its ceiling), a batch
 * admits as writes one by one would: refused with the limit named, and
 * never more than one write past the reserve's line, although the writes
 * after the first of a batch cannot see what the batch added. */
static void
test_group_commit_admit(void **state)
{
	struct fx *f = *state;
	struct store *s = NULL;
	struct store_usage u;
	struct fx_gate *g;
	struct aw ws[24];
	char dir[128], msg[256];
	int i, n, err, admitted = 0, refused = 0, again = 0;

	snprintf(dir, sizeof(dir), "%s/gcadmit", f->dir);
	assert_int_equal(store_open(dir, 2 << 20, &s), 0);
	/* 32 KiB records up to 256 KiB under the line (max - max / 8) */
	for (n = 0;; n += 1) {
		assert_int_equal(store_usage(s, &u), 0);
		if (u.map_used + (256 << 10) + (256 << 10) > u.max_map)
			break;
		assert_int_equal(fill(s, n, 1, &err), 1);
	}
	g = fx_gate_hold(s);
	memset(ws, 0, sizeof(ws));
	for (i = 0; i < 24; i++) {
		ws[i].s = s;
		ws[i].i = i;
		assert_int_equal(pthread_create(&ws[i].th, NULL, aw_run,
		    &ws[i]), 0);
	}
	assert_int_equal(fx_gate_release(g, 24), 0);
	for (i = 0; i < 24; i++) {
		pthread_join(ws[i].th, NULL);
		again += ws[i].runs > 1;
		if (ws[i].r == 0) {
			admitted++;
			continue;
		}
		assert_int_equal(ws[i].r, SIGNET_ERR_STORAGE_FULL);
		assert_non_null(strstr(ws[i].msg, "max_map_size = 2 MiB"));
		refused++;
	}
	assert_true(admitted > 0);
	assert_true(refused > 0);
	/* some were decided again alone, on what was committed */
	assert_true(again > 0);
	/* past the line by one write's pages at most */
	assert_int_equal(store_usage(s, &u), 0);
	assert_true(u.map_used <= u.max_map - u.max_map / 8 + (24 << 10));
	assert_int_equal(store_admit(s, 0, msg, sizeof(msg)),
	    SIGNET_ERR_STORAGE_FULL);
	store_close(s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_txn_end_clears_handle,
		    fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_map_grows_to_ceiling,
		    fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_grow_with_reader_open,
		    fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_failed_write_releases_lock,
		    fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_record_version_checked, fx_setup,
		    fx_teardown),
		cmocka_unit_test_setup_teardown(test_walk_prefix, fx_setup,
		    fx_teardown),
		cmocka_unit_test_setup_teardown(test_group_commit_results,
		    fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_group_commit_map_full,
		    fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_group_commit_admit,
		    fx_setup, fx_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
