/* The LMDB store (appliance/store/store.c): schema versions of records,
 * prefix walks, transactions that cannot be left open. */
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

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_txn_end_clears_handle,
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
