/* The catalog (appliance/core/catalog*.c): the table of kinds, apply of
 * each kind, refusals, deletes refused while something refers to the
 * object, and export applied again changing nothing. No keyholder:
 * certificates are stored directly, as a token would have matched them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "catalog.h"
#include "catalog_int.h"
#include "fixture.h"
#include "format.h"
#include "request.h"

/* A catalog with one of each kind; the policy names the certificate,
 * the identity and the user, the build system names the identity. */
static const char tc_doc[] =
    "{\"identities\": ["
    "  {\"name\": \"ci-runner\", \"type\": \"client-certificate\","
    "   \"subject\": \"CN=ci-runner,O=Example\","
    "   \"issuer\": \"CN=Example CA,O=Example\"},"
    "  {\"name\": \"ci-spare\", \"type\": \"client-certificate\","
    "   \"sha256Fingerprint\": "
    "\"00112233445566778899AABBCCDDEEFF00112233445566778899aabbccddeeff\"}],"
    " \"users\": ["
    "  {\"name\": \"alice\", \"email\": \"alice@example.test\","
    "   \"roles\": [\"security-officer\"]},"
    "  {\"name\": \"spare\", \"roles\": []}],"
    " \"buildSystems\": ["
    "  {\"name\": \"gh\", \"identities\": [\"ci-runner\"],"
    "   \"preset\": \"github\"}],"
    " \"projects\": ["
    "  {\"slug\": \"app\", \"name\": \"App\","
    "   \"repositoryUrls\": [\"https://github.com/example/app\"],"
    "   \"webhooks\": [{\"url\": \"https://hooks.example.test/signet\","
    "     \"secret\": \"0123456789abcdef0123\"}],"
    "   \"signingPolicies\": ["
    "    {\"slug\": \"test\", \"name\": \"Test\", \"certificate\": \"tc-cert\","
    "     \"purpose\": \"test\", \"requiredApprovals\": 1,"
    "     \"submitters\": [\"ci-runner\"], \"approvers\": [\"alice\"]}]},"
    "  {\"slug\": \"empty\", \"name\": \"Empty\"}]}";

struct tc {
	struct fx *fx;
	FILE *report;
	char *text;
	size_t len;
	char err[512];
};

static void
tc_put_cert(struct store *s, const char *name, const char *purpose)
{
	struct store_txn *t = NULL;
	json_t *c = json_pack("{s:s, s:s, s:s, s:s, s:s}", "name", name,
	    "keyId", "00ff", "purpose", purpose, "chainPem", "",
	    "notAfter", "2999-01-01T00:00:00Z");

	assert_non_null(c);
	assert_int_equal(store_txn_begin(s, 1, &t), 0);
	assert_int_equal(store_put_json(t, STORE_CERTIFICATES, name, c), 0);
	assert_int_equal(store_txn_commit(&t), 0);
	json_decref(c);
}

/* Applies text; the report is kept in tc->text. */
static int
tc_apply(struct tc *c, const char *text, int dry_run)
{
	json_error_t jerr;
	json_t *doc = json_loads(text, 0, &jerr);
	int r;

	if (doc == NULL)
		fail_msg("not JSON: %s", jerr.text);
	if (c->report != NULL)
		fclose(c->report);
	free(c->text);
	c->text = NULL;
	assert_non_null(c->report = open_memstream(&c->text, &c->len));
	r = catalog_apply(c->fx->s, NULL, doc, NULL, dry_run, "user", "admin",
	    c->report, c->err, sizeof(c->err));
	fflush(c->report);
	json_decref(doc);
	return r;
}

static int
tc_setup(void **state)
{
	struct tc *c = calloc(1, sizeof(*c));

	assert_non_null(c);
	fx_setup((void **)&c->fx);
	tc_put_cert(c->fx->s, "tc-cert", "test");
	assert_int_equal(tc_apply(c, tc_doc, 0), 0);
	*state = c;
	return 0;
}

static int
tc_teardown(void **state)
{
	struct tc *c = *state;

	if (c->report != NULL)
		fclose(c->report);
	free(c->text);
	fx_teardown((void **)&c->fx);
	free(c);
	return 0;
}

static json_t *
tc_list(struct tc *c, const char *segment)
{
	struct store_txn *t = NULL;
	json_t *out = NULL;

	assert_int_equal(store_txn_begin(c->fx->s, 0, &t), 0);
	assert_int_equal(catalog_list(t, segment, &out), 0);
	store_txn_abort(&t);
	return out;
}

static int
tc_delete(struct tc *c, const char *kind, const char *project,
    const char *name)
{
	c->err[0] = '\0';
	return catalog_delete(c->fx->s, kind, project, name, "user", "admin",
	    c->err, sizeof(c->err));
}

static int
tc_one(struct tc *c, const char *kind, const char *project,
    const char *text, int must_create)
{
	json_t *obj = json_loads(text, 0, NULL);
	FILE *f = fopen("/dev/null", "w");
	int r;

	assert_non_null(obj);
	assert_non_null(f);
	c->err[0] = '\0';
	r = catalog_apply_one(c->fx->s, NULL, kind, project, obj, must_create,
	    "user", "admin", f, c->err, sizeof(c->err));
	fclose(f);
	json_decref(obj);
	return r;
}

static void
test_kind_table(void **state)
{
	static const char *const names[] = { "certificate", "identity", "user",
	    "build-system", "project", "policy", "webhook" };
	const struct catalog_kind *k;
	size_t i, j;

	(void)state;
	for (i = 0; i < CATALOG_KIND_COUNT; i++) {
		k = catalog_kind_at(i);
		assert_non_null(k);
		assert_int_equal(k->id, i);
		assert_string_equal(k->name, names[i]);
		assert_ptr_equal(catalog_kind_find(k->name), k);
		if (k->segment != NULL)
			assert_ptr_equal(catalog_kind_by_segment(k->segment), k);
		/* what is inside another is written and shown with it */
		if (k->doc_key == NULL)
			assert_int_not_equal(k->parent, CATALOG_KIND_COUNT);
		for (j = 0; j < i; j++)
			assert_string_not_equal(catalog_kind_at(j)->name, k->name);
	}
	assert_null(catalog_kind_at(CATALOG_KIND_COUNT));
	assert_null(catalog_kind_find("policies"));
	assert_null(catalog_kind_find(NULL));
	assert_null(catalog_kind_by_segment("user"));
	assert_string_equal(catalog_kind_by_segment("build-systems")->name,
	    "build-system");
	assert_string_equal(catalog_kind_by_segment("signing-policies")->name,
	    "policy");
	assert_int_equal(catalog_kind_find("policy")->db, STORE_POLICIES);
	assert_true(catalog_kind_find("policy")->per_project);
	assert_string_equal(catalog_kind_find("project")->key, "slug");
	assert_string_equal(catalog_kind_find("user")->key, "name");
}

static void
test_apply_each_kind(void **state)
{
	struct tc *c = *state;
	struct store_txn *t = NULL;
	char who[CATALOG_MAX_NAME + 1];
	json_t *o = NULL, *l;

	assert_non_null(strstr(c->text, "created identity ci-runner\n"));
	assert_non_null(strstr(c->text, "created user alice\n"));
	assert_non_null(strstr(c->text, "created build-system gh\n"));
	assert_non_null(strstr(c->text, "created project app\n"));
	assert_non_null(strstr(c->text, "created policy app/test\n"));
	assert_non_null(strstr(c->text, "8 changes\n"));

	assert_int_equal(store_txn_begin(c->fx->s, 0, &t), 0);
	assert_int_equal(catalog_get_project(t, "app", &o), 0);
	assert_string_equal(json_string_value(json_object_get(json_array_get(
	    json_object_get(o, "webhooks"), 0), "secret")),
	    "0123456789abcdef0123");
	json_decref(o);
	assert_int_equal(catalog_get_policy(t, "app", "test", &o), 0);
	assert_int_equal(json_integer_value(json_object_get(o,
	    "requiredApprovals")), 1);
	assert_true(catalog_policy_lists(o, "submitters", "ci-runner"));
	assert_false(catalog_policy_lists(o, "approvers", "ci-runner"));
	json_decref(o);
	assert_true(catalog_may_read_project(t, "app", "alice"));
	assert_false(catalog_may_read_project(t, "app", "spare"));
	assert_false(catalog_may_read_project(t, "empty", "alice"));
	store_txn_abort(&t);

	/* the certificate map finds an identity by its names */
	assert_int_equal(store_txn_begin(c->fx->s, 0, &t), 0);
	assert_int_equal(catalog_lookup(t, "fp:00112233445566778899aabbccddeeff"
	    "00112233445566778899aabbccddeeff", who), 0);
	assert_string_equal(who, "ci-spare");
	store_txn_abort(&t);

	l = tc_list(c, "users");
	assert_int_equal(json_array_size(l), 2);
	/* no password hash, no lockout state in the public shape */
	assert_null(json_object_get(json_array_get(l, 0), "passwordHash"));
	json_decref(l);
	l = tc_list(c, "projects");
	assert_int_equal(json_array_size(l), 2);
	o = json_array_get(l, 0);
	assert_string_equal(json_string_value(json_object_get(o, "slug")),
	    "app");
	assert_int_equal(json_array_size(json_object_get(o,
	    "signingPolicies")), 1);
	/* a webhook is shown by its URL; its secret never leaves */
	assert_null(json_object_get(json_array_get(json_object_get(o,
	    "webhooks"), 0), "secret"));
	assert_non_null(json_object_get(json_array_get(json_object_get(o,
	    "webhooks"), 0), "url"));
	json_decref(l);
	l = tc_list(c, "build-systems");
	assert_int_equal(json_array_size(l), 1);
	json_decref(l);

	/* applied again: nothing changes */
	assert_int_equal(tc_apply(c, tc_doc, 0), 0);
	assert_string_equal(c->text, "0 changes\n");
}

static void
test_list_refuses_inner_kinds(void **state)
{
	struct tc *c = *state;
	struct store_txn *t = NULL;
	json_t *out = (json_t *)1;

	assert_int_equal(store_txn_begin(c->fx->s, 0, &t), 0);
	assert_int_equal(catalog_list(t, "signing-policies", &out),
	    SIGNET_ERR_INVALID);
	assert_null(out);
	assert_int_equal(catalog_list(t, "webhooks", &out), SIGNET_ERR_INVALID);
	assert_int_equal(catalog_list(t, "user", &out), SIGNET_ERR_INVALID);
	store_txn_abort(&t);
}

/* What jansson's strict unpack says of the same document. */
static void
tc_strict_text(const char *text, char *out, size_t len)
{
	json_t *doc = json_loads(text, JSON_DECODE_ANY, NULL), *x;
	json_error_t jerr;

	assert_non_null(doc);
	assert_int_not_equal(json_unpack_ex(doc, &jerr, JSON_STRICT,
	    "{s?:o, s?:o, s?:o, s?:o, s?:o}", "certificates", &x, "identities",
	    &x, "users", &x, "buildSystems", &x, "projects", &x), 0);
	snprintf(out, len, "document: %s", jerr.text);
	json_decref(doc);
}

/* A policy without artifactConfigurations allows every registered
 * format. */
static void
test_policy_formats_default(void **state)
{
	struct tc *c = *state;
	struct store_txn *t = NULL;
	json_t *p = NULL, *confs;
	size_t i, n;

	assert_int_equal(tc_apply(c, "{\"projects\": [{\"slug\": \"fmt\", "
	    "\"name\": \"F\", \"signingPolicies\": [{\"slug\": \"all\", "
	    "\"name\": \"A\", \"certificate\": \"tc-cert\"}]}]}", 0), 0);
	assert_int_equal(store_txn_begin(c->fx->s, 0, &t), 0);
	assert_int_equal(catalog_get_policy(t, "fmt", "all", &p), 0);
	store_txn_abort(&t);
	confs = json_object_get(p, "artifactConfigurations");
	/* hash signing is never a default: allowHashSigning turns it on */
	for (i = 0, n = 0; i < format_count(); i++) {
		if (format_digest_only(format_at(i)))
			continue;
		assert_string_equal(json_string_value(json_array_get(confs, n)),
		    format_at(i)->slug);
		n++;
	}
	assert_int_equal(json_array_size(confs), n);
	json_decref(p);
}

static void
test_apply_refusals(void **state)
{
	static const char *const strict[] = {
		"{\"users\": [], \"extra\": 1, \"more\": {}}",
		"{\"projekts\": []}",
	};
	static const struct {
		const char *doc;
		const char *says;
	} bad[] = {
		{ "{\"projects\": {}}", "document: certificates, identities, "
		    "users, buildSystems and projects must be lists" },
		{ "{\"users\": null}", "must be lists" },
		{ "{\"projects\": [{\"slug\": \"Bad_Slug\", \"name\": \"x\"}]}",
		    "project slug 'Bad_Slug' must be lowercase" },
		{ "{\"users\": [{\"name\": \"ci-runner\"}]}",
		    "a CI identity already has that name" },
		{ "{\"identities\": [{\"name\": \"alice\", \"type\": "
		    "\"client-certificate\", \"subject\": \"CN=a\", "
		    "\"issuer\": \"CN=b\"}]}", "a user already has that name" },
		{ "{\"projects\": [{\"slug\": \"app\", \"name\": \"App\", "
		    "\"signingPolicies\": [{\"slug\": \"rel\", \"name\": \"R\", "
		    "\"certificate\": \"tc-cert\", \"approvers\": "
		    "[\"ci-runner\"]}]}]}", "approver 'ci-runner' is a CI identity" },
		{ "{\"projects\": [{\"slug\": \"app\", \"name\": \"App\", "
		    "\"signingPolicies\": [{\"slug\": \"rel\", \"name\": \"R\", "
		    "\"certificate\": \"tc-cert\", \"purpose\": \"release\"}]}]}",
		    "is a test certificate" },
		{ "{\"projects\": [{\"slug\": \"app\", \"name\": \"App\", "
		    "\"signingPolicies\": [{\"slug\": \"rel\", \"name\": \"R\", "
		    "\"certificate\": \"nope\"}]}]}",
		    "certificate 'nope' is neither in the document" },
		{ "{\"buildSystems\": [{\"name\": \"gl\", \"identities\": "
		    "[\"ci-runner\"], \"preset\": \"gitlab\"}]}",
		    "already belongs to build system 'gh'" },
		{ "{\"certificates\": [{\"name\": \"c2\", \"key\": \"k\", "
		    "\"purpose\": \"test\", \"chainPem\": \"x\"}]}",
		    "not a list of PEM certificates" },
		{ "{\"projects\": [{\"slug\": \"p2\", \"name\": \"P\", "
		    "\"webhooks\": [{\"url\": \"https://h.example.test/\", "
		    "\"secretFile\": \"/etc/passwd\"}]}]}",
		    "carries its contents inline" },
		{ "{\"projects\": [{\"slug\": \"p2\", \"name\": \"P\", "
		    "\"webhooks\": [{\"url\": \"http://h.example.test/\", "
		    "\"secret\": \"0123456789abcdef0123\"}]}]}",
		    "the URL must be https://" },
		/* formats come from the registry, and the message lists it */
		{ "{\"projects\": [{\"slug\": \"app\", \"name\": \"App\", "
		    "\"signingPolicies\": [{\"slug\": \"rel\", \"name\": \"R\", "
		    "\"certificate\": \"tc-cert\", \"artifactConfigurations\": "
		    "[\"detached-cms\", \"no-such-format\"]}]}]}",
		    "unknown artifact configuration (supported: detached-cms" },
	};
	struct tc *c = *state;
	char want[512];
	json_t *before, *after;
	size_t i;

	before = tc_list(c, "projects");
	for (i = 0; i < sizeof(strict) / sizeof(strict[0]); i++) {
		tc_strict_text(strict[i], want, sizeof(want));
		assert_int_equal(tc_apply(c, strict[i], 0), SIGNET_ERR_INVALID);
		assert_string_equal(c->err, want);
	}
	/* not an object: the same words as the strict unpack */
	assert_int_equal(tc_apply(c, "[]", 0), SIGNET_ERR_INVALID);
	assert_string_equal(c->err, "document: Expected object, got array");
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int r = tc_apply(c, bad[i].doc, 0);

		if (r == 0 || strstr(c->err, bad[i].says) == NULL)
			fail_msg("%s: %d, '%s' (wanted '%s')", bad[i].doc, r,
			    c->err, bad[i].says);
	}
	/* and nothing was written */
	after = tc_list(c, "projects");
	assert_true(json_equal(before, after));
	json_decref(before);
	json_decref(after);
}

static void
test_apply_one(void **state)
{
	struct tc *c = *state;
	json_t *l;

	assert_int_equal(tc_one(c, "user", NULL, "{\"name\": \"alice\"}", 1),
	    SIGNET_ERR_EXISTS);
	assert_non_null(strstr(c->err, "user 'alice' already exists"));
	assert_int_equal(tc_one(c, "project", NULL, "{\"name\": \"x\"}", 1),
	    SIGNET_ERR_INVALID);
	assert_string_equal(c->err, "project: slug is required");
	assert_int_equal(tc_one(c, "policy", "nope", "{\"slug\": \"p\", "
	    "\"name\": \"P\", \"certificate\": \"tc-cert\"}", 1),
	    SIGNET_ERR_NOT_FOUND);
	assert_string_equal(c->err, "there is no project 'nope'");
	assert_int_equal(tc_one(c, "policy", "app", "{\"slug\": \"test\", "
	    "\"name\": \"T\", \"certificate\": \"tc-cert\"}", 1),
	    SIGNET_ERR_EXISTS);
	/* a webhook is written with its project, not on its own */
	assert_int_equal(tc_one(c, "webhook", "app", "{\"url\": "
	    "\"https://h.example.test/\"}", 1), SIGNET_ERR_INTERNAL);
	assert_int_equal(tc_one(c, "nonsense", NULL, "{\"name\": \"x\"}", 1),
	    SIGNET_ERR_INTERNAL);
	assert_int_equal(tc_one(c, "user", NULL, "[]", 1), SIGNET_ERR_INVALID);

	assert_int_equal(tc_one(c, "user", NULL, "{\"name\": \"bob\", "
	    "\"roles\": [\"auditor\"]}", 1), 0);
	assert_int_equal(tc_one(c, "policy", "empty", "{\"slug\": \"p\", "
	    "\"name\": \"P\", \"certificate\": \"tc-cert\", \"approvers\": "
	    "[\"bob\"]}", 1), 0);
	/* PUT of what is there changes it */
	assert_int_equal(tc_one(c, "user", NULL, "{\"name\": \"bob\", "
	    "\"email\": \"bob@example.test\"}", 0), 0);
	l = tc_list(c, "users");
	assert_int_equal(json_array_size(l), 3);
	json_decref(l);
}

static void
test_delete_referenced_refused(void **state)
{
	struct tc *c = *state;
	struct store_txn *t = NULL;
	char who[CATALOG_MAX_NAME + 1];
	json_t *l;

	assert_int_equal(tc_delete(c, "certificate", NULL, "tc-cert"),
	    SIGNET_ERR_CONFLICT);
	assert_string_equal(c->err, "certificate 'tc-cert' is still used by "
	    "signing policy app/test; change it first");
	assert_int_equal(tc_delete(c, "user", NULL, "alice"),
	    SIGNET_ERR_CONFLICT);
	assert_non_null(strstr(c->err, "user 'alice' is still used by"));
	assert_int_equal(tc_delete(c, "identity", NULL, "ci-runner"),
	    SIGNET_ERR_CONFLICT);
	assert_non_null(strstr(c->err, "signing policy app/test"));
	assert_int_equal(tc_delete(c, "project", NULL, "app"),
	    SIGNET_ERR_CONFLICT);
	assert_string_equal(c->err, "project 'app' still has signing policy "
	    "app/test; delete it first");
	assert_int_equal(tc_delete(c, "user", NULL, "nobody"),
	    SIGNET_ERR_NOT_FOUND);
	assert_string_equal(c->err, "there is no user 'nobody'");
	assert_int_equal(tc_delete(c, "policy", "app", "nope"),
	    SIGNET_ERR_NOT_FOUND);
	assert_int_equal(tc_delete(c, "webhook", "app",
	    "https://hooks.example.test/signet"), SIGNET_ERR_INTERNAL);

	/* the policy goes (no request), then what it named may go; the
	 * identity still is the build system's */
	assert_int_equal(tc_delete(c, "policy", "app", "test"), 0);
	assert_int_equal(tc_delete(c, "identity", NULL, "ci-runner"),
	    SIGNET_ERR_CONFLICT);
	assert_string_equal(c->err, "identity 'ci-runner' is still used by "
	    "build system gh; change it first");
	assert_int_equal(tc_delete(c, "build-system", NULL, "gh"), 0);
	assert_int_equal(tc_delete(c, "identity", NULL, "ci-runner"), 0);
	assert_int_equal(tc_delete(c, "identity", NULL, "ci-spare"), 0);
	assert_int_equal(tc_delete(c, "certificate", NULL, "tc-cert"), 0);
	assert_int_equal(tc_delete(c, "user", NULL, "alice"), 0);
	assert_int_equal(tc_delete(c, "project", NULL, "app"), 0);

	/* the identities' certificate map entries went with them */
	assert_int_equal(store_txn_begin(c->fx->s, 0, &t), 0);
	assert_int_equal(catalog_lookup(t, "fp:00112233445566778899aabbccddeeff"
	    "00112233445566778899aabbccddeeff", who), SIGNET_ERR_NOT_FOUND);
	store_txn_abort(&t);
	l = tc_list(c, "projects");
	assert_int_equal(json_array_size(l), 1);
	json_decref(l);
	l = tc_list(c, "identities");
	assert_int_equal(json_array_size(l), 0);
	json_decref(l);
}

static void
test_delete_policy_with_live_request(void **state)
{
	struct tc *c = *state;
	struct store_txn *t = NULL;
	json_t *req = json_pack("{s:s, s:s, s:s, s:s}", "id", "r1",
	    "projectSlug", "app", "signingPolicySlug", "test",
	    "workflowStatus", "AWAITING_APPROVAL");

	assert_non_null(req);
	assert_false(request_is_final("AWAITING_APPROVAL"));
	assert_int_equal(store_txn_begin(c->fx->s, 1, &t), 0);
	assert_int_equal(store_put_json(t, STORE_REQUESTS, "r1", req), 0);
	assert_int_equal(store_txn_commit(&t), 0);
	json_decref(req);
	assert_int_equal(tc_delete(c, "policy", "app", "test"),
	    SIGNET_ERR_CONFLICT);
	assert_string_equal(c->err, "signing policy 'app/test' has 1 signing "
	    "request not yet final; wait for them or cancel them first");
}

static void
test_export_round_trip(void **state)
{
	struct tc *c = *state;
	struct store_txn *t = NULL;
	json_t *doc = NULL, *again = NULL, *k;
	const char *key;
	char *text;
	size_t i = 0;
	static const char *const order[] = { "certificates", "identities",
	    "users", "buildSystems", "projects" };

	assert_int_equal(store_txn_begin(c->fx->s, 0, &t), 0);
	assert_int_equal(catalog_export(t, &doc), 0);
	store_txn_abort(&t);
	/* the document's lists in the order apply reads them */
	json_object_foreach(doc, key, k) {
		assert_true(i < 5);
		assert_string_equal(key, order[i++]);
	}
	assert_int_equal(i, 5);
	text = json_dumps(doc, JSON_COMPACT);
	assert_non_null(text);
	/* secrets left out */
	assert_null(strstr(text, "0123456789abcdef0123"));
	/* the certificate's chain is in the export: applying it needs the
	 * token, so take it out and apply the rest */
	json_object_set_new(doc, "certificates", json_array());
	free(text);
	text = json_dumps(doc, JSON_COMPACT);
	assert_int_equal(tc_apply(c, text, 0), 0);
	assert_string_equal(c->text, "0 changes\n");
	free(text);

	assert_int_equal(store_txn_begin(c->fx->s, 0, &t), 0);
	assert_int_equal(catalog_export(t, &again), 0);
	store_txn_abort(&t);
	json_object_set_new(again, "certificates", json_array());
	assert_true(json_equal(doc, again));
	json_decref(again);
	/* the webhook kept its secret */
	assert_int_equal(store_txn_begin(c->fx->s, 0, &t), 0);
	assert_int_equal(catalog_get_project(t, "app", &again), 0);
	store_txn_abort(&t);
	assert_string_equal(json_string_value(json_object_get(json_array_get(
	    json_object_get(again, "webhooks"), 0), "secret")),
	    "0123456789abcdef0123");
	json_decref(again);
	json_decref(doc);
}

static void
test_dry_run_writes_nothing(void **state)
{
	struct tc *c = *state;
	json_t *l;

	assert_int_equal(tc_apply(c, "{\"users\": [{\"name\": \"carol\"}]}", 1),
	    0);
	assert_non_null(strstr(c->text, "created user carol\n"));
	assert_non_null(strstr(c->text, "(dry run, nothing written)"));
	l = tc_list(c, "users");
	assert_int_equal(json_array_size(l), 2);
	json_decref(l);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kind_table),
		cmocka_unit_test_setup_teardown(test_apply_each_kind, tc_setup,
		    tc_teardown),
		cmocka_unit_test_setup_teardown(test_list_refuses_inner_kinds,
		    tc_setup, tc_teardown),
		cmocka_unit_test_setup_teardown(test_policy_formats_default,
		    tc_setup, tc_teardown),
		cmocka_unit_test_setup_teardown(test_apply_refusals, tc_setup,
		    tc_teardown),
		cmocka_unit_test_setup_teardown(test_apply_one, tc_setup,
		    tc_teardown),
		cmocka_unit_test_setup_teardown(test_delete_referenced_refused,
		    tc_setup, tc_teardown),
		cmocka_unit_test_setup_teardown(
		    test_delete_policy_with_live_request, tc_setup, tc_teardown),
		cmocka_unit_test_setup_teardown(test_export_round_trip, tc_setup,
		    tc_teardown),
		cmocka_unit_test_setup_teardown(test_dry_run_writes_nothing,
		    tc_setup, tc_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
