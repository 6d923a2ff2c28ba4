/* LMDB store, artifact store and signing request records. */
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

#include "cas.h"
#include "config.h"
#include "request.h"
#include "store.h"

struct fx {
	char dir[64];
	char db[96];
	struct store *s;
	struct cas *cas;
};

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	snprintf(f->dir, sizeof(f->dir), "/tmp/signet-unit-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->db, sizeof(f->db), "%s/db", f->dir);
	assert_int_equal(store_open(f->db, 64 << 20, &f->s), 0);
	assert_int_equal(cas_open(f->dir, &f->cas), 0);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;
	char cmd[128];

	store_close(f->s);
	cas_close(f->cas);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

static json_t *
new_request(struct fx *f, const char *project, int approvals)
{
	struct store_txn *t;
	struct request_new n;
	json_t *rec = NULL;

	memset(&n, 0, sizeof(n));
	n.project = project;
	n.policy = "test-signing";
	n.artifact_configuration = "detached-cms";
	n.submitter_type = "client-certificate";
	n.submitter = "ci-runner";
	n.artifact_name = "app.bin";
	n.artifact_sha256 =
	    "0000000000000000000000000000000000000000000000000000000000000000";
	n.artifact_size = 1;
	n.required_approvals = approvals;
	assert_int_equal(store_txn_begin(f->s, 1, &t), 0);
	assert_int_equal(request_create(t, &n, &rec), 0);
	assert_int_equal(store_txn_commit(&t), 0);
	return rec;
}

static void
pending_count(const char *id, void *arg)
{
	(void)id;
	(*(int *)arg)++;
}

static void
test_request_lifecycle(void **state)
{
	struct fx *f = *state;
	struct store_txn *t;
	json_t *rec = new_request(f, "demo", 0), *got, *api;
	const char *id = json_string_value(json_object_get(rec, "id"));
	int n = 0;

	assert_true(request_valid_id(id));
	assert_string_equal(json_string_value(json_object_get(rec,
	    "workflowStatus")), RQ_QUEUED);
	assert_int_equal(store_txn_begin(f->s, 1, &t), 0);
	assert_int_equal(request_pending(t, pending_count, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(request_get(t, id, &got), 0);
	assert_int_equal(request_transition(t, got, RQ_PROCESSING, NULL), 0);
	assert_int_equal(request_transition(t, got, RQ_COMPLETED, NULL), 0);
	/* final is final */
	assert_int_equal(request_transition(t, got, RQ_QUEUED, NULL),
	    SIGNET_ERR_CONFLICT);
	n = 0;
	assert_int_equal(request_pending(t, pending_count, &n), 0);
	assert_int_equal(n, 0);
	assert_int_equal(store_txn_commit(&t), 0);

	api = request_api(got);
	assert_string_equal(json_string_value(json_object_get(api, "status")),
	    "Completed");
	assert_true(json_is_true(json_object_get(api, "isFinalStatus")));
	assert_null(json_object_get(api, "v"));
	assert_int_equal(json_array_size(json_object_get(api, "history")), 3);
	json_decref(api);
	json_decref(got);
	json_decref(rec);
}

static void
test_waiting_not_pending(void **state)
{
	struct fx *f = *state;
	struct store_txn *t;
	json_t *rec = new_request(f, "demo", 1), *api;
	int n = 0;

	assert_string_equal(json_string_value(json_object_get(rec,
	    "workflowStatus")), RQ_WAITING);
	api = request_api(rec);
	assert_string_equal(json_string_value(json_object_get(api, "status")),
	    "WaitingForApproval");
	assert_true(json_is_false(json_object_get(api, "isFinalStatus")));
	assert_int_equal(store_txn_begin(f->s, 0, &t), 0);
	assert_int_equal(request_pending(t, pending_count, &n), 0);
	assert_int_equal(n, 0);
	store_txn_abort(&t);
	json_decref(api);
	json_decref(rec);
}

static void
test_list_paging(void **state)
{
	struct fx *f = *state;
	struct store_txn *t;
	struct request_filter flt;
	json_t *ids[5], *items;
	char next[REQUEST_CURSOR_LEN + 1], cur[REQUEST_CURSOR_LEN + 1];
	int i;

	for (i = 0; i < 5; i++)
		ids[i] = new_request(f, i % 2 ? "odd" : "even", 0);
	memset(&flt, 0, sizeof(flt));
	assert_int_equal(store_txn_begin(f->s, 0, &t), 0);
	assert_int_equal(request_list(t, &flt, 2, "", &items, next), 0);
	assert_int_equal(json_array_size(items), 2);
	/* newest first */
	assert_string_equal(json_string_value(json_object_get(
	    json_array_get(items, 0), "id")),
	    json_string_value(json_object_get(ids[4], "id")));
	assert_true(next[0] != '\0');
	json_decref(items);
	memcpy(cur, next, sizeof(cur));
	assert_int_equal(request_list(t, &flt, 2, cur, &items, next), 0);
	assert_int_equal(json_array_size(items), 2);
	assert_string_equal(json_string_value(json_object_get(
	    json_array_get(items, 1), "id")),
	    json_string_value(json_object_get(ids[1], "id")));
	json_decref(items);
	memcpy(cur, next, sizeof(cur));
	assert_int_equal(request_list(t, &flt, 2, cur, &items, next), 0);
	assert_int_equal(json_array_size(items), 1);
	assert_string_equal(next, "");
	json_decref(items);
	/* a page that exactly fits has no successor */
	flt.project = "odd";
	assert_int_equal(request_list(t, &flt, 2, "", &items, next), 0);
	assert_int_equal(json_array_size(items), 2);
	assert_string_equal(next, "");
	json_decref(items);
	/* a cursor not made by the server */
	assert_int_equal(request_list(t, &flt, 2, "zz", &items, next),
	    SIGNET_ERR_INVALID);
	store_txn_abort(&t);
	for (i = 0; i < 5; i++)
		json_decref(ids[i]);
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

static void
test_cas_roundtrip(void **state)
{
	struct fx *f = *state;
	struct cas_upload *u;
	char hex[CAS_HEX_LEN + 1];
	uint64_t size;
	int fd;
	char buf[16];

	assert_int_equal(cas_upload_begin(f->cas, 100, &u), 0);
	assert_int_equal(cas_tmp_count(f->cas), 1);
	assert_int_equal(cas_upload_write(u, "abc", 3), 0);
	assert_int_equal(cas_upload_finish(u, hex, &size), 0);
	assert_int_equal(size, 3);
	assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223"
	    "b00361a396177a9cb410ff61f20015ad");
	assert_int_equal(cas_tmp_count(f->cas), 0);
	assert_int_equal(cas_open_read(f->cas, hex, &fd, &size), 0);
	assert_int_equal(read(fd, buf, sizeof(buf)), 3);
	close(fd);
	assert_int_equal(cas_open_read(f->cas, "../../etc/passwd", &fd,
	    &size), SIGNET_ERR_INVALID);
}

static void
test_cas_limit_and_abort(void **state)
{
	struct fx *f = *state;
	struct cas_upload *u;

	assert_int_equal(cas_upload_begin(f->cas, 4, &u), 0);
	assert_int_equal(cas_upload_write(u, "abcd", 4), 0);
	assert_int_equal(cas_upload_write(u, "e", 1), SIGNET_ERR_TOO_LARGE);
	cas_upload_abort(u);
	assert_int_equal(cas_tmp_count(f->cas), 0);
}

static void
test_cas_crash_leftovers(void **state)
{
	struct fx *f = *state;
	struct cas_upload *u;
	struct cas *again;

	/* an upload a crash interrupted: its file stays until reopening */
	assert_int_equal(cas_upload_begin(f->cas, 100, &u), 0);
	assert_int_equal(cas_upload_write(u, "partial", 7), 0);
	assert_int_equal(cas_tmp_count(f->cas), 1);
	assert_int_equal(cas_open(f->dir, &again), 0);
	assert_int_equal(cas_tmp_count(again), 0);
	cas_close(again);
	cas_upload_abort(u);
}

static void
test_config_sizes(void **state)
{
	uint64_t v;

	(void)state;
	assert_int_equal(config_parse_size("4G", &v), 0);
	assert_true(v == 4ULL << 30);
	assert_int_equal(config_parse_size("10", &v), 0);
	assert_true(v == 10);
	assert_int_not_equal(config_parse_size("-1", &v), 0);
	assert_int_not_equal(config_parse_size("1T", &v), 0);
	assert_int_not_equal(config_parse_size("", &v), 0);
	assert_int_not_equal(config_parse_size("99999999999999999999G", &v), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_request_lifecycle, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_waiting_not_pending, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_list_paging, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_record_version_checked,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_walk_prefix, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_cas_roundtrip, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_cas_limit_and_abort, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_cas_crash_leftovers, setup,
		    teardown),
		cmocka_unit_test(test_config_sizes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
