/* The audit log: appending inside the caller's transaction, paging,
 * export and verification of the hash chain, and that every kind of
 * tampering with an export is found at the right line. */
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
#include <openssl/sha.h>

#include "audit.h"
#include "audit_cli.h"
#include "signet_limits.h"
#include "store.h"

#define N_ENTRIES	7
#define ZEROS \
    "0000000000000000000000000000000000000000000000000000000000000000"

struct fx {
	char dir[64];
	char db[96];
	char exp[96];	/* the export */
	char alt[96];	/* a tampered copy */
	struct store *s;
	char *lines[N_ENTRIES + 1];
	size_t n;
};

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	snprintf(f->dir, sizeof(f->dir), "/tmp/signet-audit-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->db, sizeof(f->db), "%s/db", f->dir);
	snprintf(f->exp, sizeof(f->exp), "%s/export.jsonl", f->dir);
	snprintf(f->alt, sizeof(f->alt), "%s/tampered.jsonl", f->dir);
	assert_int_equal(store_open(f->db, 64 << 20, &f->s), 0);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;
	char cmd[128];
	size_t i;

	for (i = 0; i < f->n; i++)
		free(f->lines[i]);
	store_close(f->s);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

/* Seven entries: three in one transaction, one alone, three more in a
 * third; details exercise the escaping rules of the canonical form. */
static void
fill(struct fx *f)
{
	struct store_txn *t;
	json_t *d;

	d = json_pack("{s:s, s:I, s:[i, b, n, {}], s:{s:s}}",
	    "comment", "caf\xc3\xa9 \xf0\x9f\x94\x8f tab\t nl\n del\x7f "
	    "quote\" backslash\\ slash/ ctl\x01",
	    "size", (json_int_t)-9007199254740993LL,
	    "list", 1, 1,
	    "nested", "z\xe2\x80\xa8", "last");
	assert_non_null(d);
	assert_int_equal(store_txn_begin(f->s, 1, &t), 0);
	assert_int_equal(audit_append(t, "client-certificate", "ci-runner",
	    "signing-request.submitted", "8c1f0f6e-5d3a-4b7e-9a41-2f0d1c2b3a4e",
	    d), 0);
	assert_int_equal(audit_append(t, "system", "signetd",
	    "signing-request.waiting-for-approval",
	    "8c1f0f6e-5d3a-4b7e-9a41-2f0d1c2b3a4e", NULL), 0);
	assert_int_equal(audit_append(t, "user", "alice",
	    "session.login", "alice", NULL), 0);
	assert_int_equal(store_txn_commit(&t), 0);
	json_decref(d);

	assert_int_equal(store_txn_begin(f->s, 1, &t), 0);
	assert_int_equal(audit_append(t, "user", "alice",
	    "signing-request.approved", "8c1f0f6e-5d3a-4b7e-9a41-2f0d1c2b3a4e",
	    NULL), 0);
	assert_int_equal(store_txn_commit(&t), 0);

	d = json_pack("{s:s}", "reason", "wrong password");
	assert_int_equal(store_txn_begin(f->s, 1, &t), 0);
	assert_int_equal(audit_append(t, "user", "mallory",
	    "session.login-failed", NULL, d), 0);
	assert_int_equal(audit_append(t, "user", "bob", "policy.updated",
	    "firmware/release-signing", NULL), 0);
	assert_int_equal(audit_append(t, "system", "signet-cli:root",
	    "user.password-set", "bob", NULL), 0);
	assert_int_equal(store_txn_commit(&t), 0);
	json_decref(d);
}

/* Pages of three, the way an exporter walks the log. */
static void
export(struct fx *f, const char *path)
{
	struct store_txn *t;
	json_t *items, *e;
	uint64_t after = 0, next;
	size_t i;
	char *line;
	FILE *out = fopen(path, "w");

	assert_non_null(out);
	assert_int_equal(store_txn_begin(f->s, 0, &t), 0);
	do {
		assert_int_equal(audit_list(t, after, 3, &items, &next), 0);
		json_array_foreach(items, i, e) {
			assert_non_null(line = audit_line(e));
			fprintf(out, "%s\n", line);
			free(line);
		}
		json_decref(items);
		after = next;
	} while (next != 0);
	store_txn_abort(&t);
	assert_int_equal(fclose(out), 0);
}

static void
load_lines(struct fx *f, const char *path)
{
	FILE *in = fopen(path, "r");
	char *buf = NULL;
	size_t cap = 0;
	ssize_t n;

	assert_non_null(in);
	while ((n = getline(&buf, &cap, in)) > 0) {
		assert_true(f->n < N_ENTRIES + 1);
		f->lines[f->n++] = strdup(buf);
	}
	free(buf);
	fclose(in);
}

static void
write_lines(const char *path, char *const *lines, const size_t *order,
    size_t n)
{
	FILE *out = fopen(path, "w");
	size_t i;

	assert_non_null(out);
	for (i = 0; i < n; i++)
		fputs(lines[order[i]], out);
	assert_int_equal(fclose(out), 0);
}

static int
verify_path(const char *path, char *msg, size_t len)
{
	FILE *in = fopen(path, "r");
	int r;

	assert_non_null(in);
	r = audit_verify(in, msg, len);
	fclose(in);
	return r;
}

static void
expect_broken(const char *path, const char *prefix, const char *why)
{
	char msg[512];

	assert_int_equal(verify_path(path, msg, sizeof(msg)),
	    SIGNET_ERR_INVALID);
	print_message("  %s\n", msg);
	assert_int_equal(strncmp(msg, prefix, strlen(prefix)), 0);
	assert_non_null(strstr(msg, why));
	assert_int_equal(audit_cli_verify(path), 1);
}

/* An export with line `at` replaced by `line` (which ends in \n). */
static void
write_with(struct fx *f, size_t at, const char *line)
{
	char *copy[N_ENTRIES];
	size_t order[N_ENTRIES], i;

	for (i = 0; i < f->n; i++) {
		copy[i] = i == at ? (char *)(uintptr_t)line : f->lines[i];
		order[i] = i;
	}
	write_lines(f->alt, copy, order, f->n);
}

static void
test_append_list(void **state)
{
	struct fx *f = *state;
	struct store_txn *t;
	json_t *items, *e, *prev = NULL;
	uint64_t next;
	size_t i;

	fill(f);
	assert_int_equal(store_txn_begin(f->s, 0, &t), 0);
	assert_int_equal(audit_list(t, 0, 3, &items, &next), 0);
	assert_int_equal(json_array_size(items), 3);
	assert_int_equal(next, 3);
	json_decref(items);
	assert_int_equal(audit_list(t, 3, 3, &items, &next), 0);
	assert_int_equal(json_array_size(items), 3);
	assert_int_equal(json_integer_value(json_object_get(
	    json_array_get(items, 0), "seq")), 4);
	assert_int_equal(next, 6);
	json_decref(items);
	/* the last page ends exactly at the head: no successor */
	assert_int_equal(audit_list(t, 4, 3, &items, &next), 0);
	assert_int_equal(json_array_size(items), 3);
	assert_int_equal(next, 0);
	json_decref(items);
	assert_int_equal(audit_list(t, 7, 3, &items, &next), 0);
	assert_int_equal(json_array_size(items), 0);
	assert_int_equal(next, 0);
	json_decref(items);
	assert_int_equal(audit_list(t, 0, 0, &items, &next),
	    SIGNET_ERR_INVALID);
	assert_null(items);
	assert_int_equal(audit_list(t, 0, SIGNET_MAX_AUDIT_PAGE + 1, &items,
	    &next), SIGNET_ERR_INVALID);

	/* the chain, field by field; no schema "v" leaks into an entry */
	assert_int_equal(audit_list(t, 0, 100, &items, &next), 0);
	assert_int_equal(json_array_size(items), N_ENTRIES);
	json_array_foreach(items, i, e) {
		assert_int_equal(json_object_size(e), 8);
		assert_null(json_object_get(e, "v"));
		assert_int_equal(json_integer_value(json_object_get(e, "seq")),
		    i + 1);
		assert_int_equal(strlen(json_string_value(json_object_get(e,
		    "at"))), 24);
		assert_true(json_is_object(json_object_get(e, "details")));
		assert_string_equal(json_string_value(json_object_get(e,
		    "prevHash")), prev == NULL ? ZEROS :
		    json_string_value(json_object_get(prev, "hash")));
		prev = e;
	}
	e = json_array_get(items, 4);
	assert_true(json_is_null(json_object_get(e, "target")));
	assert_string_equal(json_string_value(json_object_get(json_object_get(
	    e, "actor"), "name")), "mallory");
	assert_string_equal(json_string_value(json_object_get(json_object_get(
	    e, "actor"), "type")), "user");
	assert_int_equal(json_object_size(json_object_get(json_array_get(items,
	    1), "details")), 0);
	json_decref(items);
	store_txn_abort(&t);
}

static void
test_export_verify(void **state)
{
	struct fx *f = *state;
	char msg[512], *line;
	size_t order[N_ENTRIES] = { 3, 4, 5, 6 };
	json_t *e;

	fill(f);
	export(f, f->exp);
	load_lines(f, f->exp);
	assert_int_equal(f->n, N_ENTRIES);
	assert_int_equal(verify_path(f->exp, msg, sizeof(msg)), 0);
	print_message("  %s\n", msg);
	assert_non_null(strstr(msg, "7 entries, seq 1..7, chain intact, head "));
	assert_ptr_equal(strstr(msg, "7 entries"), msg);
	assert_non_null(strstr(msg, "beginning of the log"));
	/* the head in the summary is the last entry's hash */
	assert_non_null(e = json_loads(f->lines[6], 0, NULL));
	assert_non_null(strstr(msg, json_string_value(json_object_get(e,
	    "hash"))));
	json_decref(e);
	/* the export's bytes are what was stored and hashed: non-ASCII and
	 * controls escaped, DEL and '/' as they are */
	assert_non_null(strstr(f->lines[0], "caf\\u00E9 \\uD83D\\uDD0F tab\\t "
	    "nl\\n del\x7f quote\\\" backslash\\\\ slash/ ctl\\u0001"));
	assert_int_equal(audit_cli_verify(f->exp), 0);

	/* a later page verifies on its own and reports its anchor */
	write_lines(f->alt, f->lines, order, 4);
	assert_int_equal(verify_path(f->alt, msg, sizeof(msg)), 0);
	print_message("  %s\n", msg);
	assert_int_equal(strncmp(msg, "4 entries, seq 4..7, chain intact", 33),
	    0);
	assert_non_null(e = json_loads(f->lines[3], 0, NULL));
	assert_non_null(strstr(msg, json_string_value(json_object_get(e,
	    "prevHash"))));
	json_decref(e);
	/* a final line without its newline is still a whole entry */
	line = strdup(f->lines[6]);
	line[strlen(line) - 1] = '\0';
	write_with(f, 6, line);
	assert_int_equal(verify_path(f->alt, msg, sizeof(msg)), 0);
	free(line);
	assert_int_equal(audit_cli_verify("/nonexistent/signet-audit.jsonl"),
	    2);
}

static void
test_tamper_field(void **state)
{
	struct fx *f = *state;
	char *line, *p;

	fill(f);
	export(f, f->exp);
	load_lines(f, f->exp);
	line = strdup(f->lines[2]);
	assert_non_null(p = strstr(line, "\"name\":\"alice\""));
	memcpy(p + 8, "alicf", 5);
	write_with(f, 2, line);
	free(line);
	expect_broken(f->alt, "line 3 (seq 3): ", "hash does not match");
}

static void
test_tamper_remove(void **state)
{
	struct fx *f = *state;
	size_t order[] = { 0, 1, 2, 4, 5, 6 };

	fill(f);
	export(f, f->exp);
	load_lines(f, f->exp);
	write_lines(f->alt, f->lines, order, 6);
	expect_broken(f->alt, "line 4 (seq 5): ", "expected seq 4");
}

static void
test_tamper_swap(void **state)
{
	struct fx *f = *state;
	size_t order[] = { 0, 1, 3, 2, 4, 5, 6 };

	fill(f);
	export(f, f->exp);
	load_lines(f, f->exp);
	write_lines(f->alt, f->lines, order, N_ENTRIES);
	expect_broken(f->alt, "line 3 (seq 4): ", "expected seq 3");
}

/* The forger recomputes the changed entry's hash (per docs/audit.md) but
 * cannot change what the next entry committed to. */
static void
test_tamper_rehash(void **state)
{
	struct fx *f = *state;
	unsigned char md[SHA256_DIGEST_LENGTH];
	char hex[2 * SHA256_DIGEST_LENGTH + 1], *canon, *line, buf[70000];
	json_t *e;
	size_t i;

	fill(f);
	export(f, f->exp);
	load_lines(f, f->exp);
	assert_non_null(e = json_loads(f->lines[3], 0, NULL));
	json_object_set_new(json_object_get(e, "actor"), "name",
	    json_string("mallory"));
	json_object_del(e, "hash");
	canon = json_dumps(e, JSON_COMPACT | JSON_SORT_KEYS |
	    JSON_ENSURE_ASCII);
	SHA256((const unsigned char *)canon, strlen(canon), md);
	for (i = 0; i < sizeof(md); i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	json_object_set_new(e, "hash", json_string(hex));
	line = json_dumps(e, JSON_COMPACT | JSON_SORT_KEYS |
	    JSON_ENSURE_ASCII);
	snprintf(buf, sizeof(buf), "%s\n", line);
	write_with(f, 3, buf);
	free(canon);
	free(line);
	json_decref(e);
	expect_broken(f->alt, "line 5 (seq 5): ", "prevHash does not match "
	    "the hash of the entry before it (line 4, seq 4)");
}

static void
test_tamper_garbage(void **state)
{
	struct fx *f = *state;
	char *line, *p, buf[70000];
	FILE *out;

	fill(f);
	export(f, f->exp);
	load_lines(f, f->exp);

	/* truncated last line */
	line = strdup(f->lines[6]);
	line[strlen(line) / 2] = '\0';
	write_with(f, 6, line);
	free(line);
	expect_broken(f->alt, "line 7 (seq ?): ", "not valid JSON");

	write_with(f, 1, "\x1b[2J{\"seq\": garbage\n");
	expect_broken(f->alt, "line 2 (seq ?): ", "not valid JSON");
	write_with(f, 1, "\n");
	expect_broken(f->alt, "line 2 (seq ?): ", "empty line");
	write_with(f, 1, "[1, 2]\n");
	expect_broken(f->alt, "line 2 (seq ?): ", "not an audit entry");

	/* an extra member is not part of the format */
	snprintf(buf, sizeof(buf), "{\"extra\":1,%s", f->lines[1] + 1);
	write_with(f, 1, buf);
	expect_broken(f->alt, "line 2 (seq 2): ", "not an audit entry");

	/* the same entry re-encoded: the hash still holds, the bytes not */
	assert_non_null(p = strstr(f->lines[1], "\"action\":"));
	snprintf(buf, sizeof(buf), "%.*s\"action\": %s",
	    (int)(p - f->lines[1]), f->lines[1], p + 9);
	write_with(f, 1, buf);
	expect_broken(f->alt, "line 2 (seq 2): ", "not in canonical form");

	/* a real number cannot come from Signet */
	line = strdup(f->lines[1]);
	assert_non_null(strstr(line, "\"details\":{}"));
	snprintf(buf, sizeof(buf), "%.*s\"details\":{\"x\":1.5}%s",
	    (int)(strstr(line, "\"details\":{}") - line), line,
	    strstr(line, "\"details\":{}") + 12);
	free(line);
	write_with(f, 1, buf);
	expect_broken(f->alt, "line 2 (seq 2): ", "real number");

	/* empty file */
	assert_non_null(out = fopen(f->alt, "w"));
	fclose(out);
	expect_broken(f->alt, "line 1 (seq ?): ", "no entries");

	/* a line over the verify limit is refused before parsing */
	assert_non_null(out = fopen(f->alt, "w"));
	fputs(f->lines[0], out);
	for (size_t i = 0; i < SIGNET_MAX_AUDIT_LINE + 10; i++)
		fputc('x', out);
	fputc('\n', out);
	fclose(out);
	expect_broken(f->alt, "line 2 (seq ?): ", "longer than");
}

/* seq 1 must start from zeros: a forged "first" entry is not anchored. */
static void
test_first_anchor(void **state)
{
	struct fx *f = *state;
	char *line, *p;

	fill(f);
	export(f, f->exp);
	load_lines(f, f->exp);
	line = strdup(f->lines[0]);
	assert_non_null(p = strstr(line, "\"prevHash\":\"0"));
	p[12] = '1';
	write_with(f, 0, line);
	free(line);
	expect_broken(f->alt, "line 1 (seq 1): ", "64 zeros");
}

static size_t
count_entries(struct fx *f)
{
	struct store_txn *t;
	json_t *items;
	uint64_t next;
	size_t n;

	assert_int_equal(store_txn_begin(f->s, 0, &t), 0);
	assert_int_equal(audit_list(t, 0, SIGNET_MAX_AUDIT_PAGE, &items,
	    &next), 0);
	n = json_array_size(items);
	json_decref(items);
	store_txn_abort(&t);
	return n;
}

static void
test_abort(void **state)
{
	struct fx *f = *state;
	struct store_txn *t;
	char msg[512];

	fill(f);
	assert_int_equal(store_txn_begin(f->s, 1, &t), 0);
	assert_int_equal(audit_append(t, "user", "eve", "policy.updated",
	    "firmware/release-signing", NULL), 0);
	assert_int_equal(audit_append(t, "user", "eve", "user.created",
	    "eve2", NULL), 0);
	store_txn_abort(&t);
	assert_int_equal(count_entries(f), N_ENTRIES);
	/* the head did not move: the next entry continues the chain */
	assert_int_equal(store_txn_begin(f->s, 1, &t), 0);
	assert_int_equal(audit_append(t, "system", "signetd",
	    "token.logged-in", NULL, NULL), 0);
	assert_int_equal(store_txn_commit(&t), 0);
	assert_int_equal(count_entries(f), N_ENTRIES + 1);
	export(f, f->exp);
	assert_int_equal(verify_path(f->exp, msg, sizeof(msg)), 0);
	assert_int_equal(strncmp(msg, "8 entries, seq 1..8, chain intact", 33),
	    0);
}

static void
test_refused(void **state)
{
	struct fx *f = *state;
	struct store_txn *t;
	json_t *d, *deep, *o;
	char *big;
	int i;

	assert_int_equal(store_txn_begin(f->s, 1, &t), 0);
	assert_int_equal(audit_append(t, "robot", "x", "policy.updated",
	    NULL, NULL), SIGNET_ERR_INVALID);
	assert_int_equal(audit_append(t, "user", "", "policy.updated", NULL,
	    NULL), SIGNET_ERR_INVALID);
	assert_int_equal(audit_append(t, "user", "x", "updated", NULL, NULL),
	    SIGNET_ERR_INVALID);
	assert_int_equal(audit_append(t, "user", "x", "Policy.Updated", NULL,
	    NULL), SIGNET_ERR_INVALID);
	assert_int_equal(audit_append(t, "user", "x", "policy..updated", NULL,
	    NULL), SIGNET_ERR_INVALID);
	assert_int_equal(audit_append(t, "user", "x", "policy.updated.", NULL,
	    NULL), SIGNET_ERR_INVALID);
	assert_int_equal(audit_append(t, "user", "\xff\xfe", "policy.updated",
	    NULL, NULL), SIGNET_ERR_INVALID);
	assert_int_equal(audit_append(t, "user", "x", "policy.updated",
	    "\xc3", NULL), SIGNET_ERR_INVALID);

	d = json_array();
	assert_int_equal(audit_append(t, "user", "x", "policy.updated", NULL,
	    d), SIGNET_ERR_INVALID);
	json_decref(d);
	d = json_pack("{s:f}", "ratio", 0.1);
	assert_int_equal(audit_append(t, "user", "x", "policy.updated", NULL,
	    d), SIGNET_ERR_INVALID);
	json_decref(d);
	d = json_pack("{s:[s, o]}", "a", "b", json_stringn("c\0d", 3));
	assert_int_equal(audit_append(t, "user", "x", "policy.updated", NULL,
	    d), SIGNET_ERR_INVALID);
	json_decref(d);

	/* nesting: SIGNET_MAX_JSON_DEPTH levels pass, one more does not */
	deep = json_object();
	for (i = 1; i < SIGNET_MAX_JSON_DEPTH; i++) {
		o = json_object();
		json_object_set_new(o, "n", deep);
		deep = o;
	}
	assert_int_equal(audit_append(t, "user", "x", "policy.updated", NULL,
	    deep), 0);
	o = json_array();
	json_array_append_new(o, deep);
	d = json_pack("{s:o}", "wrap", o);
	assert_int_equal(audit_append(t, "user", "x", "policy.updated", NULL,
	    d), SIGNET_ERR_INVALID);
	json_decref(d);

	big = malloc(SIGNET_MAX_AUDIT_ENTRY + 1);
	memset(big, 'a', SIGNET_MAX_AUDIT_ENTRY);
	big[SIGNET_MAX_AUDIT_ENTRY] = '\0';
	d = json_pack("{s:s}", "blob", big);
	assert_int_equal(audit_append(t, "user", "x", "policy.updated", NULL,
	    d), SIGNET_ERR_TOO_LARGE);
	json_decref(d);
	free(big);
	assert_int_equal(store_txn_commit(&t), 0);
	/* only the one well-formed entry was written */
	assert_int_equal(count_entries(f), 1);

	/* a read transaction cannot append */
	assert_int_equal(store_txn_begin(f->s, 0, &t), 0);
	assert_int_equal(audit_append(t, "user", "x", "policy.updated", NULL,
	    NULL), SIGNET_ERR_STORE);
	store_txn_abort(&t);
}

/* Append-only: an entry beyond the head is never overwritten. */
static void
test_no_overwrite(void **state)
{
	struct fx *f = *state;
	struct store_txn *t;
	const unsigned char key[8] = { 0, 0, 0, 0, 0, 0, 0, 8 };

	fill(f);
	assert_int_equal(store_txn_begin(f->s, 1, &t), 0);
	assert_int_equal(store_put(t, STORE_AUDIT, key, sizeof(key), "{}", 2),
	    0);
	assert_int_equal(store_txn_commit(&t), 0);
	assert_int_equal(store_txn_begin(f->s, 1, &t), 0);
	assert_int_equal(audit_append(t, "user", "x", "policy.updated", NULL,
	    NULL), SIGNET_ERR_STORE);
	store_txn_abort(&t);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_append_list, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_export_verify, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_tamper_field, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_tamper_remove, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_tamper_swap, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_tamper_rehash, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_tamper_garbage, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_first_anchor, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_abort, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_overwrite, setup,
		    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
