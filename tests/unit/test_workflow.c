/* The rules of the request workflow (appliance/core/workflow.c), shared
 * by the API and the officer console: who may submit (the policy's
 * submitters, its artifact configurations, the origin rules), who may
 * decide, who may see a request, resubmission, and submissions of many
 * threads recorded in one commit. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "audit.h"
#include "fixture.h"
#include "request.h"
#include "store.h"
#include "workflow.h"

#define SHA "0000000000000000000000000000000000000000000000000000000000000000"

static json_t *alice_rec, *bob_rec, *carol_rec;
static struct principal alice, bob, carol, ci;

static void
put(struct fx *f, enum store_db db, const char *key, const char *text)
{
	struct store_txn *t = NULL;
	json_t *v = json_loads(text, 0, NULL);

	assert_non_null(v);
	assert_int_equal(store_txn_begin(f->s, 1, &t), 0);
	assert_int_equal(store_put_json(t, db, key, v), 0);
	assert_int_equal(store_txn_commit(&t), 0);
	json_decref(v);
}

/* demo/test: alice and ci-runner submit, bob approves (one approval);
 * demo/strict: the same but requires a verified origin; demo/other:
 * only ci-runner submits. carol is in no policy. */
static int
setup(void **state)
{
	struct fx *f;

	if (fx_setup(state) != 0)
		return -1;
	f = *state;
	put(f, STORE_PROJECTS, "demo", "{\"slug\": \"demo\"}");
	put(f, STORE_POLICIES, "demo/test", "{\"slug\": \"test\", "
	    "\"submitters\": [\"alice\", \"ci-runner\"], \"approvers\": "
	    "[\"bob\", \"alice\"], \"artifactConfigurations\": "
	    "[\"detached-cms\"], \"requiredApprovals\": 1}");
	put(f, STORE_POLICIES, "demo/strict", "{\"slug\": \"strict\", "
	    "\"submitters\": [\"alice\"], \"approvers\": [\"bob\"], "
	    "\"artifactConfigurations\": [\"detached-cms\"], "
	    "\"requiredApprovals\": 1, \"requireVerifiedOrigin\": true}");
	put(f, STORE_POLICIES, "demo/other", "{\"slug\": \"other\", "
	    "\"submitters\": [\"ci-runner\"], \"approvers\": [\"bob\"], "
	    "\"artifactConfigurations\": [\"detached-cms\"], "
	    "\"requiredApprovals\": 0}");
	alice_rec = json_pack("{s:s, s:[]}", "name", "alice", "roles");
	bob_rec = json_pack("{s:s, s:[]}", "name", "bob", "roles");
	carol_rec = json_pack("{s:s, s:[]}", "name", "carol", "roles");
	alice = (struct principal){ "user", "alice", alice_rec };
	bob = (struct principal){ "user", "bob", bob_rec };
	carol = (struct principal){ "user", "carol", carol_rec };
	ci = (struct principal){ "client-certificate", "bob", NULL };
	return 0;
}

static int
teardown(void **state)
{
	json_decref(alice_rec);
	json_decref(bob_rec);
	json_decref(carol_rec);
	return fx_teardown(state);
}

static size_t
count_requests(struct fx *f)
{
	struct request_filter rf;
	struct store_txn *t = NULL;
	json_t *items = NULL;
	char next[REQUEST_CURSOR_LEN + 1];
	size_t n;

	memset(&rf, 0, sizeof(rf));
	assert_int_equal(store_txn_begin(f->s, 0, &t), 0);
	assert_int_equal(request_list(t, &rf, 100, "", &items, next), 0);
	store_txn_abort(&t);
	n = json_array_size(items);
	json_decref(items);
	return n;
}

static int
check(struct fx *f, const struct principal *p, const char *project,
    const char *policy, const char *conf, const char **code)
{
	json_t *origin = json_object();
	char msg[512] = "";
	int r;

	r = workflow_submit_check(f->s, p, project, policy, conf, origin,
	    time(NULL), NULL, code, msg, sizeof(msg));
	if (r != 0)
		assert_true(msg[0] != '\0');
	json_decref(origin);
	return r;
}

static int
submit(struct fx *f, const struct principal *p, const char *policy,
    json_t **rec, const char **code)
{
	struct workflow_submission sub;
	json_t *origin = json_pack("{s:s, s:s}", "repositoryUrl",
	    "https://git.example/demo", "idToken", "not.a.token");
	char msg[512] = "";
	int r;

	memset(&sub, 0, sizeof(sub));
	sub.project = "demo";
	sub.policy = policy;
	sub.artifact_configuration = "detached-cms";
	sub.origin = origin;
	sub.artifact_name = "app.bin";
	sub.artifact_sha256 = SHA;
	sub.artifact_size = 1;
	sub.now = time(NULL);
	r = workflow_submit(f->s, p, &sub, rec, code, msg, sizeof(msg));
	/* the credential never outlives the submission */
	assert_null(json_object_get(origin, "idToken"));
	json_decref(origin);
	return r;
}

/* An Authenticode submission records what format_check found and how it
 * is signed: the policy's mode, else the request's, else replace; a mode
 * the policy does not allow, a policy that changed its digest meanwhile
 * and a file nobody checked are refused. */
static int
ac_submit(struct fx *f, const char *policy, const char *alg,
    const char *mode, const char *format, json_t **rec, char *msg,
    size_t len)
{
	struct workflow_submission sub;
	json_t *params = json_object();
	const char *code;
	int r;

	if (mode != NULL)
		json_object_set_new(params, "signatureMode", json_string(mode));
	json_object_set_new(params, "programName", json_string("Tool"));
	memset(&sub, 0, sizeof(sub));
	sub.project = "demo";
	sub.policy = policy;
	sub.artifact_configuration = "authenticode";
	sub.parameters = params;
	sub.artifact_name = "a.ps1";
	sub.artifact_sha256 = SHA;
	sub.artifact_size = 1;
	sub.now = time(NULL);
	sub.ac_format = format;
	sub.ac_digest_algorithm = alg;
	sub.ac_digest = SHA;
	r = workflow_submit(f->s, &ci, &sub, rec, &code, msg, len);
	json_decref(params);
	return r;
}

static void
test_submit_authenticode(void **state)
{
	struct fx *f = *state;
	json_t *rec = NULL, *ac;
	char msg[512] = "";
	size_t n;

	put(f, STORE_POLICIES, "demo/ac", "{\"slug\": \"ac\", "
	    "\"submitters\": [\"bob\"], \"approvers\": [], "
	    "\"artifactConfigurations\": [\"authenticode\"], "
	    "\"requiredApprovals\": 0}");
	put(f, STORE_POLICIES, "demo/ac-fixed", "{\"slug\": \"ac-fixed\", "
	    "\"submitters\": [\"bob\"], \"approvers\": [], "
	    "\"artifactConfigurations\": [\"authenticode\"], "
	    "\"requiredApprovals\": 0, \"signatureMode\": \"append\", "
	    "\"digestAlgorithm\": \"sha384\"}");
	n = count_requests(f);
	assert_int_equal(ac_submit(f, "ac", "sha256", NULL,
	    "authenticode-script", &rec, msg, sizeof(msg)), 0);
	ac = json_object_get(rec, "authenticode");
	assert_string_equal(json_string_value(json_object_get(ac, "format")),
	    "authenticode-script");
	assert_string_equal(json_string_value(json_object_get(ac,
	    "signatureMode")), "replace");
	assert_string_equal(json_string_value(json_object_get(ac,
	    "programName")), "Tool");
	assert_string_equal(json_string_value(json_object_get(ac, "digest")),
	    SHA);
	json_decref(rec);
	rec = NULL;
	assert_int_equal(ac_submit(f, "ac", "sha256", "append",
	    "authenticode-script", &rec, msg, sizeof(msg)), 0);
	assert_string_equal(json_string_value(json_object_get(json_object_get(
	    rec, "authenticode"), "signatureMode")), "append");
	json_decref(rec);
	rec = NULL;
	assert_int_equal(ac_submit(f, "ac", "sha256", "sideways",
	    "authenticode-script", &rec, msg, sizeof(msg)), SIGNET_ERR_INVALID);
	assert_non_null(strstr(msg, "parameters.signatureMode"));
	/* the policy fixes append and sha384 */
	assert_int_equal(ac_submit(f, "ac-fixed", "sha384", "replace",
	    "authenticode-script", &rec, msg, sizeof(msg)), SIGNET_ERR_INVALID);
	assert_non_null(strstr(msg, "fixes signatureMode"));
	assert_int_equal(ac_submit(f, "ac-fixed", "sha256", NULL,
	    "authenticode-script", &rec, msg, sizeof(msg)), SIGNET_ERR_CONFLICT);
	assert_non_null(strstr(msg, "submit the file again"));
	assert_int_equal(ac_submit(f, "ac-fixed", "sha384", NULL,
	    "authenticode-script", &rec, msg, sizeof(msg)), 0);
	assert_string_equal(json_string_value(json_object_get(json_object_get(
	    rec, "authenticode"), "signatureMode")), "append");
	json_decref(rec);
	rec = NULL;
	/* a file format_check never saw */
	assert_int_not_equal(ac_submit(f, "ac", "sha256", NULL, NULL, &rec,
	    msg, sizeof(msg)), 0);
	assert_null(rec);
	assert_int_equal(count_requests(f), n + 3);
}

static void
test_submit_check(void **state)
{
	struct fx *f = *state;
	const char *code;

	assert_int_equal(check(f, &alice, "demo", "test", "detached-cms",
	    &code), 0);
	assert_null(code);
	assert_int_equal(check(f, &carol, "demo", "test", "detached-cms",
	    &code), SIGNET_ERR_FORBIDDEN);
	/* alice is not among demo/other's submitters */
	assert_int_equal(check(f, &alice, "demo", "other", "detached-cms",
	    &code), SIGNET_ERR_FORBIDDEN);
	assert_int_equal(check(f, &alice, "nope", "test", "detached-cms",
	    &code), SIGNET_ERR_NOT_FOUND);
	assert_string_equal(code, "project_not_found");
	assert_int_equal(check(f, &alice, "demo", "nope", "detached-cms",
	    &code), SIGNET_ERR_NOT_FOUND);
	assert_string_equal(code, "policy_not_found");
	assert_int_equal(check(f, &alice, "demo", "test", "authenticode",
	    &code), SIGNET_ERR_INVALID);
	assert_string_equal(code, "invalid_artifact_configuration");
	/* a user's submission has no verified origin */
	assert_int_equal(check(f, &alice, "demo", "strict", "detached-cms",
	    &code), SIGNET_ERR_ORIGIN_RULE);
	/* the check records nothing */
	assert_int_equal(count_requests(f), 0);
}

static void
test_submit_records(void **state)
{
	struct fx *f = *state;
	struct store_txn *t = NULL;
	json_t *rec = NULL, *items = NULL, *e;
	const char *code;
	uint64_t next;
	size_t i;
	int seen = 0;

	assert_int_equal(submit(f, &carol, "test", &rec, &code),
	    SIGNET_ERR_FORBIDDEN);
	assert_null(rec);
	assert_int_equal(submit(f, &alice, "strict", &rec, &code),
	    SIGNET_ERR_ORIGIN_RULE);
	assert_int_equal(count_requests(f), 0);
	assert_int_equal(submit(f, &alice, "test", &rec, &code), 0);
	assert_string_equal(json_string_value(json_object_get(rec,
	    "workflowStatus")), RQ_WAITING);
	assert_string_equal(json_string_value(json_object_get(json_object_get(
	    rec, "submitter"), "name")), "alice");
	assert_null(json_object_get(json_object_get(rec, "origin"), "idToken"));
	assert_int_equal(count_requests(f), 1);
	/* with its audit entry, in the same transaction */
	assert_int_equal(store_txn_begin(f->s, 0, &t), 0);
	assert_int_equal(audit_list(t, 0, 100, &items, &next), 0);
	store_txn_abort(&t);
	json_array_foreach(items, i, e)
		if (strcmp(json_string_value(json_object_get(e, "action")),
		    "signing-request.submitted") == 0)
			seen = 1;
	assert_true(seen);
	json_decref(items);
	json_decref(rec);
}

static void
test_decide_rules(void **state)
{
	struct fx *f = *state;
	struct store_txn *t = NULL;
	json_t *rec = NULL, *got = NULL;
	const char *code;
	char msg[256], id[REQUEST_ID_LEN + 1];

	assert_int_equal(submit(f, &alice, "test", &rec, &code), 0);
	snprintf(id, sizeof(id), "%s", json_string_value(json_object_get(rec,
	    "id")));
	json_decref(rec);
	assert_int_equal(store_txn_begin(f->s, 0, &t), 0);
	assert_int_equal(workflow_get_visible(t, &alice, id, &got, msg,
	    sizeof(msg)), 0);
	/* the submitter, though an approver, may not decide */
	assert_int_equal(workflow_may_decide(t, &alice, got, msg, sizeof(msg)),
	    SIGNET_ERR_FORBIDDEN);
	/* a CI identity named like an approver is not that approver */
	assert_int_equal(workflow_may_decide(t, &ci, got, msg, sizeof(msg)),
	    SIGNET_ERR_FORBIDDEN);
	assert_int_equal(workflow_may_decide(t, &carol, got, NULL, 0),
	    SIGNET_ERR_FORBIDDEN);
	assert_int_equal(workflow_may_decide(t, &bob, got, NULL, 0), 0);
	/* who is in no policy of the project does not see its requests */
	json_decref(got);
	assert_int_equal(workflow_get_visible(t, &carol, id, &got, msg,
	    sizeof(msg)), SIGNET_ERR_NOT_FOUND);
	assert_null(got);
	store_txn_abort(&t);
	assert_int_equal(workflow_read(f->s, &carol, id, &got, msg,
	    sizeof(msg)), SIGNET_ERR_NOT_FOUND);
	assert_int_equal(workflow_decide(f->s, &carol, id, 1, NULL, &got, msg,
	    sizeof(msg)), SIGNET_ERR_NOT_FOUND);
	assert_int_equal(workflow_decide(f->s, &alice, id, 1, NULL, &got, msg,
	    sizeof(msg)), SIGNET_ERR_FORBIDDEN);
	assert_int_equal(workflow_decide(f->s, &bob, id, 1, "ok", &got, msg,
	    sizeof(msg)), 0);
	assert_string_equal(json_string_value(json_object_get(got,
	    "workflowStatus")), RQ_QUEUED);
	/* decided: nobody may decide again */
	assert_int_equal(store_txn_begin(f->s, 0, &t), 0);
	assert_int_equal(workflow_may_decide(t, &bob, got, NULL, 0),
	    SIGNET_ERR_CONFLICT);
	store_txn_abort(&t);
	json_decref(got);
}

static void
test_resubmit_rules(void **state)
{
	struct fx *f = *state;
	json_t *rec = NULL, *got = NULL, *re = NULL;
	const char *code;
	char msg[512], id[REQUEST_ID_LEN + 1];

	assert_int_equal(submit(f, &alice, "test", &rec, &code), 0);
	snprintf(id, sizeof(id), "%s", json_string_value(json_object_get(rec,
	    "id")));
	json_decref(rec);
	/* not final yet */
	assert_int_equal(workflow_resubmit(f->s, &alice, id, "test", NULL, &re,
	    msg, sizeof(msg)), SIGNET_ERR_CONFLICT);
	assert_int_equal(workflow_decide(f->s, &bob, id, 0, "no", &got, msg,
	    sizeof(msg)), 0);
	json_decref(got);
	/* the new policy's submitters, the same rules as a submission */
	assert_int_equal(workflow_resubmit(f->s, &alice, id, "other", NULL, &re,
	    msg, sizeof(msg)), SIGNET_ERR_FORBIDDEN);
	assert_int_equal(workflow_resubmit(f->s, &alice, id, "nope", NULL, &re,
	    msg, sizeof(msg)), SIGNET_ERR_NOT_FOUND);
	assert_int_equal(workflow_resubmit(f->s, &alice, id, "strict", NULL,
	    &re, msg, sizeof(msg)), SIGNET_ERR_ORIGIN_RULE);
	/* denied under test: not again under test */
	assert_int_equal(workflow_resubmit(f->s, &alice, id, "test", NULL, &re,
	    msg, sizeof(msg)), SIGNET_ERR_CONFLICT);
	assert_null(re);
}

/* Submissions of many threads at once, committed together. */
struct cs {
	struct fx *f;
	const struct principal *p;
	const char *policy;
	const char *key;	/* idempotency key, or NULL */
	char name[32];
	char sha[65];
	json_t *origin;
	json_t *rec;
	const char *code;
	char msg[512];
	int repeated;
	int r;
	pthread_t th;
};

static void *
cs_run(void *arg)
{
	struct cs *c = arg;
	struct workflow_submission sub;

	memset(&sub, 0, sizeof(sub));
	sub.project = "demo";
	sub.policy = c->policy;
	sub.artifact_configuration = "detached-cms";
	sub.origin = c->origin;
	sub.artifact_name = c->name;
	sub.artifact_sha256 = c->sha;
	sub.artifact_size = 1;
	sub.now = time(NULL);
	sub.idempotency_key = c->key;
	sub.repeated = &c->repeated;
	c->r = workflow_submit(c->f->s, c->p, &sub, &c->rec, &c->code, c->msg,
	    sizeof(c->msg));
	return NULL;
}

static int
cs_line(const char *line, void *arg)
{
	return fputs(line, arg) < 0 || fputc('\n', arg) == EOF ? -1 : 0;
}

/* Each gets its own outcome, with its own message and code: the refused
 * are refused as alone, the recorded have their own artifact, the two
 * sharing an idempotency key get one request, whichever came first; the
 * audit log's chain runs through the batch unbroken, and no credential
 * is left in any origin. */
static void
test_submit_concurrent(void **state)
{
	struct fx *f = *state;
	struct cs cs[20];
	struct fx_gate *g;
	char path[128], vmsg[256];
	const char *nm;
	json_t *art;
	FILE *out;
	size_t before = count_requests(f), recorded = 0;
	int i, repeats = 0;

	memset(cs, 0, sizeof(cs));
	for (i = 0; i < 20; i++) {
		cs[i].f = f;
		cs[i].p = i % 5 == 3 ? &carol : &alice;
		cs[i].policy = i % 5 == 4 ? "nope" : "test";
		cs[i].key = i < 2 ? "same-build" : NULL;
		snprintf(cs[i].name, sizeof(cs[i].name), "t%02d.bin", i);
		snprintf(cs[i].sha, sizeof(cs[i].sha), "%064x", i < 2 ? 1 : i);
		cs[i].origin = json_pack("{s:s, s:s}", "repositoryUrl",
		    "https://git.example/demo", "idToken", "not.a.token");
		assert_non_null(cs[i].origin);
	}
	g = fx_gate_hold(f->s);
	for (i = 0; i < 20; i++)
		assert_int_equal(pthread_create(&cs[i].th, NULL, cs_run,
		    &cs[i]), 0);
	assert_int_equal(fx_gate_release(g, 20), 0);
	for (i = 0; i < 20; i++) {
		pthread_join(cs[i].th, NULL);
		assert_null(json_object_get(cs[i].origin, "idToken"));
		json_decref(cs[i].origin);
		if (i % 5 == 3) {
			assert_int_equal(cs[i].r, SIGNET_ERR_FORBIDDEN);
			assert_non_null(strstr(cs[i].msg, "carol"));
			assert_null(cs[i].rec);
			continue;
		}
		if (i % 5 == 4) {
			assert_int_equal(cs[i].r, SIGNET_ERR_NOT_FOUND);
			assert_string_equal(cs[i].code, "policy_not_found");
			assert_null(cs[i].rec);
			continue;
		}
		assert_int_equal(cs[i].r, 0);
		assert_non_null(cs[i].rec);
		art = json_object_get(cs[i].rec, "unsignedArtifact");
		nm = json_string_value(json_object_get(art, "name"));
		assert_non_null(nm);
		assert_string_equal(json_string_value(json_object_get(art,
		    "sha256")), cs[i].sha);
		/* a repeat is the first request, with the first one's name */
		if (cs[i].repeated) {
			repeats++;
			assert_true(i < 2);
			continue;
		}
		assert_string_equal(nm, cs[i].name);
		assert_null(json_object_get(json_object_get(cs[i].rec,
		    "origin"), "idToken"));
		recorded++;
	}
	assert_int_equal(repeats, 1);
	assert_string_equal(json_string_value(json_object_get(cs[0].rec,
	    "id")), json_string_value(json_object_get(cs[1].rec, "id")));
	for (i = 0; i < 20; i++)
		json_decref(cs[i].rec);
	assert_int_equal(recorded, 11);
	assert_int_equal(count_requests(f), before + recorded);
	snprintf(path, sizeof(path), "%s/audit.jsonl", f->dir);
	out = fopen(path, "w");
	assert_non_null(out);
	assert_int_equal(audit_export(f->s, 0, cs_line, out), 0);
	assert_int_equal(fclose(out), 0);
	out = fopen(path, "r");
	assert_non_null(out);
	assert_int_equal(audit_verify(out, vmsg, sizeof(vmsg)), 0);
	fclose(out);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_submit_authenticode, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_submit_check, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_submit_records, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_decide_rules, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_resubmit_rules, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_submit_concurrent, setup,
		    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
