/* Signing request records (appliance/core/request.c): creation, the
 * lifecycle, the queue of pending work, listing. */
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
#include "fixture.h"
#include "request.h"
#include "store.h"

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


/* open: fd's bytes, all of them, equal to want[n] */
static void
read_back(int fd, uint64_t size, const void *want, size_t n)
{
	char buf[64];

	assert_true(size == n && n < sizeof(buf));
	assert_int_equal(read(fd, buf, sizeof(buf)), (ssize_t)n);
	assert_memory_equal(buf, want, n);
	/* a sealed memory file: it cannot be changed through it */
	assert_true(write(fd, "x", 1) < 0);
	close(fd);
}

/* A small artifact's bytes are kept with its entry in the transaction
 * that references it, read back through a sealed memory file, kept while
 * any reference is left and removed with the last; a file of the
 * artifact store is found when the database has none. */
static void
test_artifact_held(void **state)
{
	struct fx *f = *state;
	const char *data = "held in the database";
	struct store_txn *t = NULL;
	char hex[CAS_HEX_LEN + 1], fhex[CAS_HEX_LEN + 1];
	uint64_t size;
	int fd, gone;

	assert_int_equal(cas_name(data, strlen(data), hex), 0);
	assert_int_equal(request_artifact_open(f->s, f->cas, hex, &fd, &size),
	    SIGNET_ERR_NOT_FOUND);
	/* two references; the second one's bytes are not written again */
	assert_int_equal(store_txn_begin(f->s, 1, &t), 0);
	assert_int_equal(request_artifact_ref(t, hex, strlen(data),
	    (const unsigned char *)data), 0);
	assert_int_equal(request_artifact_ref(t, hex, strlen(data),
	    (const unsigned char *)"other bytes of the same size"), 0);
	assert_int_equal(store_txn_commit(&t), 0);
	assert_int_equal(request_artifact_open(f->s, f->cas, hex, &fd, &size),
	    0);
	read_back(fd, size, data, strlen(data));
	/* an aborted write keeps nothing */
	assert_int_equal(store_txn_begin(f->s, 1, &t), 0);
	assert_int_equal(request_artifact_unref(t, hex, &gone), 0);
	assert_int_equal(gone, 0);
	assert_int_equal(request_artifact_unref(t, hex, &gone), 0);
	assert_int_equal(gone, 1);
	store_txn_abort(&t);
	assert_int_equal(request_artifact_open(f->s, f->cas, hex, &fd, &size),
	    0);
	close(fd);
	assert_int_equal(store_txn_begin(f->s, 1, &t), 0);
	assert_int_equal(request_artifact_unref(t, hex, &gone), 0);
	assert_int_equal(gone, 0);
	assert_true(request_artifact_known(t, hex));
	assert_int_equal(request_artifact_unref(t, hex, &gone), 0);
	assert_int_equal(gone, 1);
	assert_false(request_artifact_known(t, hex));
	/* no entry: nothing to take away */
	assert_int_equal(request_artifact_unref(t, hex, &gone), 0);
	assert_int_equal(gone, 0);
	assert_int_equal(store_txn_commit(&t), 0);
	assert_int_equal(request_artifact_open(f->s, f->cas, hex, &fd, &size),
	    SIGNET_ERR_NOT_FOUND);
	/* a stored file, referenced without held bytes, is read as a file */
	assert_int_equal(cas_put(f->cas, "a file", 6, fhex), 0);
	assert_int_equal(store_txn_begin(f->s, 1, &t), 0);
	assert_int_equal(request_artifact_ref(t, fhex, 6, NULL), 0);
	assert_int_equal(store_txn_commit(&t), 0);
	assert_int_equal(request_artifact_open(f->s, f->cas, fhex, &fd, &size),
	    0);
	read_back(fd, size, "a file", 6);
	assert_int_equal(request_artifact_open(f->s, f->cas, "../x", &fd,
	    &size), SIGNET_ERR_INVALID);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_artifact_held, fx_setup,
		    fx_teardown),
		cmocka_unit_test_setup_teardown(test_request_lifecycle, fx_setup,
		    fx_teardown),
		cmocka_unit_test_setup_teardown(test_waiting_not_pending, fx_setup,
		    fx_teardown),
		cmocka_unit_test_setup_teardown(test_list_paging, fx_setup,
		    fx_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
