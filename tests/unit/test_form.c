/* The submission form: limits, unknown and repeated fields, streaming of
 * the artifact, and that a refused form leaves nothing behind. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "form.h"

struct fx {
	char dir[64];
	struct cas *cas;
	struct form f;
};

static int
setup(void **state)
{
	struct fx *x = calloc(1, sizeof(*x));

	snprintf(x->dir, sizeof(x->dir), "/tmp/signet-form-XXXXXX");
	assert_non_null(mkdtemp(x->dir));
	assert_int_equal(cas_open(x->dir, &x->cas), 0);
	form_init(&x->f, x->cas, 1000);
	*state = x;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *x = *state;
	char cmd[128];

	form_free(&x->f);
	assert_int_equal(cas_tmp_count(x->cas), 0);
	cas_close(x->cas);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", x->dir);
	assert_int_equal(system(cmd), 0);
	free(x);
	return 0;
}

static int
text(struct form *f, const char *name, const char *value)
{
	if (form_field(f, name, NULL) != 0)
		return -1;
	return form_data(f, value, strlen(value));
}

/* The fields an artifact needs before it. */
static void
slugs(struct form *f)
{
	assert_int_equal(text(f, "projectSlug", "p"), 0);
	assert_int_equal(text(f, "signingPolicySlug", "s"), 0);
}

static void
test_complete_form(void **state)
{
	struct fx *x = *state;
	struct form *f = &x->f;

	assert_int_equal(form_field(f, "projectSlug", ""), 0);
	assert_int_equal(form_data(f, "demo-app", 8), 0);
	assert_int_equal(text(f, "signingPolicySlug", "test-signing"), 0);
	assert_int_equal(text(f, "parameters.version", "1.2.3"), 0);
	assert_int_equal(text(f, "origin.commitId", "abc123"), 0);
	assert_int_equal(text(f, "description", "line one\nline two"), 0);
	assert_int_equal(form_field(f, "artifact", "dir/app.bin"), 0);
	assert_int_equal(form_data(f, "ab", 2), 0);
	/* CivetWeb may hand over empty chunks */
	assert_int_equal(form_data(f, "", 0), 0);
	assert_int_equal(form_data(f, "c", 1), 0);
	assert_int_equal(form_finish(f), 0);
	/* small: its bytes held for the database, not stored as a file */
	assert_non_null(f->held);
	assert_memory_equal(f->held, "abc", 3);
	assert_int_equal(cas_tmp_count(f->cas), 0);
	assert_string_equal(form_get(f, "projectSlug"), "demo-app");
	assert_string_equal(form_get(f, "signingPolicySlug"), "test-signing");
	assert_string_equal(f->artifact_name, "app.bin");
	assert_int_equal(f->size, 3);
	assert_string_equal(f->sha256, "ba7816bf8f01cfea414140de5dae2223"
	    "b00361a396177a9cb410ff61f20015ad");
	assert_string_equal(json_string_value(json_object_get(f->parameters,
	    "version")), "1.2.3");
	assert_string_equal(json_string_value(json_object_get(f->origin,
	    "commitId")), "abc123");
}

/* The tap sees the artifact's bytes in order, in the same pass; its
 * refusal refuses the upload. */
struct tap {
	char seen[16];
	size_t n;
	int refuse;
};

static int
tap_fn(void *arg, const void *p, size_t n)
{
	struct tap *t = arg;

	if (t->refuse)
		return -1;
	assert_true(t->n + n <= sizeof(t->seen));
	memcpy(t->seen + t->n, p, n);
	t->n += n;
	return 0;
}

static void
test_tap(void **state)
{
	struct fx *x = *state;
	struct tap t = { "", 0, 0 };

	slugs(&x->f);
	form_set_tap(&x->f, tap_fn, &t);
	assert_int_equal(form_field(&x->f, "artifact", "a.bin"), 0);
	assert_int_equal(form_data(&x->f, "MZ", 2), 0);
	assert_int_equal(form_data(&x->f, "\x90\x00", 2), 0);
	/* the tap runs beside the store's digest: all seen once flushed */
	assert_int_equal(cas_upload_flush(x->f.upload), 0);
	assert_int_equal(t.n, 4);
	assert_memory_equal(t.seen, "MZ\x90\x00", 4);
	/* the upload takes no more bytes after the flush */
	assert_int_equal(form_data(&x->f, "x", 1), -1);
	assert_int_equal(x->f.status, 503);
}

static void
test_tap_refuses(void **state)
{
	struct fx *x = *state;
	struct tap t = { "", 0, 1 };

	slugs(&x->f);
	form_set_tap(&x->f, tap_fn, &t);
	assert_int_equal(form_field(&x->f, "artifact", "a.bin"), 0);
	assert_int_equal(form_data(&x->f, "MZ", 2), 0);
	/* a tap's error fails the upload */
	assert_int_not_equal(cas_upload_flush(x->f.upload), 0);
}

static void
test_artifact_too_large(void **state)
{
	struct fx *x = *state;
	char big[600];

	memset(big, 'x', sizeof(big));
	slugs(&x->f);
	assert_int_equal(form_field(&x->f, "artifact", "a.bin"), 0);
	assert_int_equal(form_data(&x->f, big, sizeof(big)), 0);
	assert_int_equal(form_data(&x->f, big, sizeof(big)), -1);
	assert_int_equal(x->f.status, 413);
	assert_string_equal(x->f.code, "artifact_too_large");
	assert_non_null(strstr(x->f.message, "max_artifact_size"));
}

static void
test_field_limits(void **state)
{
	struct fx *x = *state;
	char slug[SIGNET_MAX_SLUG + 2];

	memset(slug, 'a', sizeof(slug) - 1);
	slug[sizeof(slug) - 1] = '\0';
	assert_int_equal(text(&x->f, "projectSlug", slug), -1);
	assert_int_equal(x->f.status, 400);
	assert_string_equal(x->f.code, "field_too_long");
	assert_non_null(strstr(x->f.message, "projectSlug"));
}

static void
test_unknown_field(void **state)
{
	struct fx *x = *state;

	assert_int_equal(form_field(&x->f, "projectslug", NULL), -1);
	assert_int_equal(x->f.status, 400);
	assert_string_equal(x->f.code, "unknown_field");
}

static void
test_unknown_origin_field(void **state)
{
	struct fx *x = *state;

	assert_int_equal(form_field(&x->f, "origin.commit", NULL), -1);
	assert_string_equal(x->f.code, "unknown_field");
}

static void
test_duplicate_field(void **state)
{
	struct fx *x = *state;

	assert_int_equal(text(&x->f, "projectSlug", "a"), 0);
	assert_int_equal(text(&x->f, "projectSlug", "b"), -1);
	assert_string_equal(x->f.code, "duplicate_field");
}

static void
test_too_many_parameters(void **state)
{
	struct fx *x = *state;
	char name[32];
	int i;

	for (i = 0; i < SIGNET_MAX_PARAMETERS; i++) {
		snprintf(name, sizeof(name), "parameters.p%d", i);
		assert_int_equal(text(&x->f, name, "v"), 0);
	}
	assert_int_equal(text(&x->f, "parameters.one-more", "v"), -1);
	assert_string_equal(x->f.code, "too_many_parameters");
}

static void
test_bad_parameter_name(void **state)
{
	struct fx *x = *state;

	assert_int_equal(form_field(&x->f, "parameters.a b", NULL), -1);
	assert_string_equal(x->f.code, "invalid_field");
	form_free(&x->f);
	form_init(&x->f, x->cas, 1000);
	assert_int_equal(form_field(&x->f, "parameters.", NULL), -1);
}

static void
test_control_characters(void **state)
{
	struct fx *x = *state;

	assert_int_equal(text(&x->f, "projectSlug", "a\nb"), 0);
	/* refused when the field closes */
	assert_int_equal(form_finish(&x->f), -1);
	assert_string_equal(x->f.code, "invalid_field");
}

static void
test_invalid_utf8(void **state)
{
	struct fx *x = *state;

	assert_int_equal(text(&x->f, "description", "\xff\xfe"), 0);
	assert_int_equal(form_field(&x->f, "projectSlug", NULL), -1);
	assert_string_equal(x->f.code, "invalid_field");
}

static void
test_two_artifacts(void **state)
{
	struct fx *x = *state;

	slugs(&x->f);
	assert_int_equal(form_field(&x->f, "artifact", "a"), 0);
	assert_int_equal(form_field(&x->f, "artifact", "b"), -1);
	assert_string_equal(x->f.code, "artifact_not_last");
}

/* Nothing may follow the artifact: it would be read only once the
 * artifact had been stored. */
static void
test_artifact_is_last(void **state)
{
	static const char *const after[] = {
		"signingPolicySlug", "description", "parameters.v",
		"origin.commitId", "artifactConfigurationSlug", "projectSlug",
	};
	struct fx *x = *state;
	size_t i;

	for (i = 0; i < sizeof(after) / sizeof(after[0]); i++) {
		form_free(&x->f);
		form_init(&x->f, x->cas, 1000);
		slugs(&x->f);
		assert_int_equal(form_field(&x->f, "artifact", "a.bin"), 0);
		assert_int_equal(form_data(&x->f, "abc", 3), 0);
		assert_int_equal(form_field(&x->f, after[i], NULL), -1);
		assert_int_equal(x->f.status, 400);
		assert_string_equal(x->f.code, "artifact_not_last");
		assert_non_null(strstr(x->f.message, after[i]));
		assert_non_null(strstr(x->f.message, "last part"));
		/* and the form stays refused */
		assert_int_equal(form_data(&x->f, "x", 1), -1);
		assert_int_equal(form_finish(&x->f), -1);
	}
}

/* An artifact before projectSlug or signingPolicySlug is refused before
 * a byte of it is stored. */
static void
test_slugs_before_artifact(void **state)
{
	struct fx *x = *state;

	assert_int_equal(form_field(&x->f, "artifact", "a.bin"), -1);
	assert_string_equal(x->f.code, "missing_field");
	assert_non_null(strstr(x->f.message, "before the artifact"));
	assert_null(x->f.upload);
	form_free(&x->f);
	form_init(&x->f, x->cas, 1000);
	assert_int_equal(text(&x->f, "projectSlug", "p"), 0);
	assert_int_equal(form_field(&x->f, "artifact", "a.bin"), -1);
	assert_non_null(strstr(x->f.message, "signingPolicySlug"));
	form_free(&x->f);
	form_init(&x->f, x->cas, 1000);
	assert_int_equal(text(&x->f, "projectSlug", "p"), 0);
	assert_int_equal(text(&x->f, "signingPolicySlug", ""), 0);
	assert_int_equal(form_field(&x->f, "artifact", "a.bin"), -1);
	assert_null(x->f.upload);
}

struct check_seen {
	int calls;
	char project[16];
	char commit[16];
	int refuse;
};

static int
check_cb(struct form *f, void *arg)
{
	struct check_seen *c = arg;
	const char *commit = json_string_value(json_object_get(f->origin,
	    "commitId"));

	c->calls++;
	snprintf(c->project, sizeof(c->project), "%s", form_get(f,
	    "projectSlug"));
	snprintf(c->commit, sizeof(c->commit), "%s", commit ? commit : "");
	return c->refuse ? -1 : 0;
}

/* The check sees every field before the artifact (the last one too),
 * and a refusal stops the form before anything is stored. */
static void
test_check_before_artifact(void **state)
{
	struct fx *x = *state;
	struct check_seen c;

	memset(&c, 0, sizeof(c));
	form_set_check(&x->f, check_cb, &c);
	slugs(&x->f);
	assert_int_equal(text(&x->f, "origin.commitId", "abc"), 0);
	assert_int_equal(form_field(&x->f, "artifact", "a.bin"), 0);
	assert_int_equal(c.calls, 1);
	assert_string_equal(c.project, "p");
	assert_string_equal(c.commit, "abc");
	assert_int_equal(form_data(&x->f, "abc", 3), 0);
	assert_int_equal(form_finish(&x->f), 0);

	form_free(&x->f);
	form_init(&x->f, x->cas, 1000);
	memset(&c, 0, sizeof(c));
	c.refuse = 1;
	form_set_check(&x->f, check_cb, &c);
	slugs(&x->f);
	assert_int_equal(form_field(&x->f, "artifact", "a.bin"), -1);
	assert_int_equal(c.calls, 1);
	assert_true(x->f.answered);
	assert_null(x->f.upload);
	assert_int_equal(cas_tmp_count(x->cas), 0);
	assert_int_equal(form_data(&x->f, "abc", 3), -1);
	assert_int_equal(cas_tmp_count(x->cas), 0);
}

/* File names, values and field names must be text: jansson refuses
 * anything else when the record is written. */
static void
test_file_name_not_text(void **state)
{
	static const char *const bad[] = {
		"a\xff.bin", "\xc3", "a\xc0\xaf" "b", "x\x01y", "dir/\x7f",
		"tab\there", "\xed\xa0\x80",
	};
	struct fx *x = *state;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		form_free(&x->f);
		form_init(&x->f, x->cas, 1000);
		slugs(&x->f);
		assert_int_equal(form_field(&x->f, "artifact", bad[i]), -1);
		assert_int_equal(x->f.status, 400);
		assert_non_null(strstr(x->f.message, "file name"));
		assert_null(x->f.upload);
	}
	form_free(&x->f);
	form_init(&x->f, x->cas, 1000);
	slugs(&x->f);
	assert_int_equal(form_field(&x->f, "artifact", "r\xc3\xa9" "sum\xc3\xa9.bin"),
	    0);
	assert_string_equal(x->f.artifact_name, "r\xc3\xa9" "sum\xc3\xa9.bin");
}

static void
test_values_not_text(void **state)
{
	static const char *const fields[] = {
		"description", "parameters.v", "origin.commitId",
		"origin.branchName", "projectSlug",
	};
	static const char *const bad[] = { "\xff", "a\0b", "\x1b[2J", "\xe2\x82" };
	struct fx *x = *state;
	size_t i, j;

	for (i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
		for (j = 0; j < sizeof(bad) / sizeof(bad[0]); j++) {
			form_free(&x->f);
			form_init(&x->f, x->cas, 1000);
			assert_int_equal(form_field(&x->f, fields[i], NULL), 0);
			assert_int_equal(form_data(&x->f, bad[j], j == 1 ? 3 :
			    strlen(bad[j])), 0);
			assert_int_equal(form_end(&x->f), -1);
			assert_int_equal(x->f.status, 400);
			assert_string_equal(x->f.code, "invalid_field");
			assert_non_null(strstr(x->f.message, fields[i]));
		}
	form_free(&x->f);
	form_init(&x->f, x->cas, 1000);
	assert_int_equal(form_field(&x->f, "unknown\xff", NULL), -1);
	assert_int_equal(x->f.status, 400);
}

static void
test_artifact_not_a_file(void **state)
{
	struct fx *x = *state;

	slugs(&x->f);
	assert_int_equal(form_field(&x->f, "artifact", NULL), -1);
	form_free(&x->f);
	form_init(&x->f, x->cas, 1000);
	slugs(&x->f);
	/* CivetWeb's way of saying "not a file" */
	assert_int_equal(form_field(&x->f, "artifact", ""), -1);
	form_free(&x->f);
	form_init(&x->f, x->cas, 1000);
	slugs(&x->f);
	assert_int_equal(form_field(&x->f, "artifact", ".."), -1);
}

/* The last field is complete once the body ends, not only when another
 * field begins. */
static void
test_last_text_field(void **state)
{
	struct fx *x = *state;

	assert_int_equal(text(&x->f, "projectSlug", "a"), 0);
	assert_int_equal(text(&x->f, "signingPolicySlug", "b"), 0);
	assert_null(form_get(&x->f, "signingPolicySlug"));
	assert_int_equal(form_end(&x->f), 0);
	assert_string_equal(form_get(&x->f, "signingPolicySlug"), "b");
}

static void
test_missing_artifact(void **state)
{
	struct fx *x = *state;

	assert_int_equal(text(&x->f, "projectSlug", "a"), 0);
	assert_int_equal(form_finish(&x->f), -1);
	assert_string_equal(x->f.code, "missing_field");
}

int
main(void)
{
#define T(n) cmocka_unit_test_setup_teardown(n, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_complete_form),
		T(test_tap),
		T(test_tap_refuses),
		T(test_artifact_too_large),
		T(test_field_limits),
		T(test_unknown_field),
		T(test_unknown_origin_field),
		T(test_duplicate_field),
		T(test_too_many_parameters),
		T(test_bad_parameter_name),
		T(test_control_characters),
		T(test_invalid_utf8),
		T(test_two_artifacts),
		T(test_artifact_is_last),
		T(test_slugs_before_artifact),
		T(test_check_before_artifact),
		T(test_file_name_not_text),
		T(test_values_not_text),
		T(test_artifact_not_a_file),
		T(test_last_text_field),
		T(test_missing_artifact),
	};
#undef T

	return cmocka_run_group_tests(tests, NULL, NULL);
}
