/* The LMDB store (appliance/store/store.c): schema versions of records,
 * prefix walks, transactions that cannot be left open. */
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
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
