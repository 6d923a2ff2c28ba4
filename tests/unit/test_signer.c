/* The signer pool (appliance/daemon/signer.c) against a fresh store: a
 * queued request whose artifact configuration names no signature format
 * of this appliance fails, with a reason that names it, before any key is
 * asked for (so no keyholder is needed here). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "app.h"
#include "fixture.h"
#include "request.h"
#include "signer.h"

/* A queued request (no approvals) for this artifact configuration. */
static void
queue(struct fx *f, const char *conf, char id[REQUEST_ID_LEN + 1])
{
	struct store_txn *t = NULL;
	struct request_new n;
	json_t *rec = NULL;
	const char *w;

	memset(&n, 0, sizeof(n));
	n.project = "demo";
	n.policy = "release";
	n.artifact_configuration = conf;
	n.submitter_type = "client-certificate";
	n.submitter = "ci-runner";
	n.artifact_name = "app.bin";
	n.artifact_sha256 =
	    "0000000000000000000000000000000000000000000000000000000000000000";
	n.artifact_size = 1;
	n.required_approvals = 0;
	assert_int_equal(store_txn_begin(f->s, 1, &t), 0);
	assert_int_equal(request_create(t, &n, &rec), 0);
	assert_int_equal(store_txn_commit(&t), 0);
	w = json_string_value(json_object_get(rec, "workflowStatus"));
	assert_non_null(w);
	assert_string_equal(w, RQ_QUEUED);
	snprintf(id, REQUEST_ID_LEN + 1, "%s",
	    json_string_value(json_object_get(rec, "id")));
	json_decref(rec);
}

/* The request's record once it is final (or NULL after 10 s). */
static json_t *
wait_final(struct fx *f, const char *id)
{
	struct timespec ts = { 0, 50 * 1000 * 1000 };
	struct store_txn *t = NULL;
	json_t *rec;
	int i;

	for (i = 0; i < 200; i++) {
		rec = NULL;
		assert_int_equal(store_txn_begin(f->s, 0, &t), 0);
		assert_int_equal(request_get(t, id, &rec), 0);
		store_txn_abort(&t);
		if (request_is_final(json_string_value(json_object_get(rec,
		    "workflowStatus"))))
			return rec;
		json_decref(rec);
		nanosleep(&ts, NULL);
	}
	return NULL;
}

static void
t_unknown_configuration_fails(void **state)
{
	struct fx *f = *state;
	struct app app;
	struct signer *s = NULL;
	char id[REQUEST_ID_LEN + 1];
	const char *reason;
	json_t *rec;

	memset(&app, 0, sizeof(app));
	app.store = f->s;
	app.cas = f->cas;
	queue(f, "no-such-format", id);
	/* the pending request is picked up when the pool starts */
	assert_int_equal(signer_start(&app, 1, &s), 0);
	rec = wait_final(f, id);
	signer_stop(s);
	assert_non_null(rec);
	assert_string_equal(json_string_value(json_object_get(rec,
	    "workflowStatus")), RQ_FAILED);
	assert_false(json_is_object(json_object_get(rec, "signedArtifact")));
	reason = json_string_value(json_object_get(rec, "failureReason"));
	assert_non_null(reason);
	assert_non_null(strstr(reason, "'no-such-format'"));
	assert_non_null(strstr(reason, "not a signature format"));
	json_decref(rec);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(t_unknown_configuration_fails,
		    fx_setup, fx_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
