/* The error table (appliance/lib/err.h): every code has its text, HTTP
 * status and wire words; the values and words pkcs11/PROTOCOL.md names
 * are the ones the table has (they are frozen: the keyholder protocol and
 * the console carry them). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "err.h"

static const struct {
	const char *name;
	int value;
} rows[] = {
#define ROW(name, value, text, http, wire, api) { #name, value },
	SIGNET_ERRORS(ROW)
#undef ROW
};
#define NROWS (sizeof(rows) / sizeof(rows[0]))

static void
test_every_code_described(void **state)
{
	size_t i, j;

	(void)state;
	assert_int_equal(NROWS, -SIGNET_ERR_MAX - 1);
	for (i = 0; i < NROWS; i++) {
		int e = rows[i].value;

		/* consecutive, in order, no gaps */
		assert_int_equal(e, -(int)i - 1);
		assert_string_not_equal(signet_strerror(e), "unknown error");
		assert_true(signet_err_http(e) >= 400 &&
		    signet_err_http(e) <= 599);
		assert_true(strlen(signet_err_wire(e)) > 0);
		assert_true(strlen(signet_err_api(e)) > 0);
		for (j = 0; j < i; j++)
			assert_string_not_equal(rows[i].name, rows[j].name);
	}
	assert_string_equal(signet_strerror(0), "success");
	assert_string_equal(signet_strerror(SIGNET_ERR_MAX), "unknown error");
	assert_string_equal(signet_strerror(1), "unknown error");
	assert_int_equal(signet_err_http(-1000), 500);
	assert_string_equal(signet_err_wire(-1000), "internal");
	assert_string_equal(signet_err_api(7), "internal");
}

/* What callers rely on: the statuses the API has always answered. */
static void
test_http_statuses(void **state)
{
	(void)state;
	assert_int_equal(signet_err_http(SIGNET_ERR_INVALID), 400);
	assert_int_equal(signet_err_http(SIGNET_ERR_TRUNCATED), 400);
	assert_int_equal(signet_err_http(SIGNET_ERR_UNAUTHENTICATED), 401);
	assert_int_equal(signet_err_http(SIGNET_ERR_FORBIDDEN), 403);
	assert_int_equal(signet_err_http(SIGNET_ERR_ORIGIN_RULE), 403);
	assert_int_equal(signet_err_http(SIGNET_ERR_NOT_FOUND), 404);
	assert_int_equal(signet_err_http(SIGNET_ERR_EXISTS), 409);
	assert_int_equal(signet_err_http(SIGNET_ERR_CONFLICT), 409);
	assert_int_equal(signet_err_http(SIGNET_ERR_TOO_LARGE), 413);
	assert_int_equal(signet_err_http(SIGNET_ERR_TOKEN_LOCKED), 503);
	assert_int_equal(signet_err_http(SIGNET_ERR_KEYHOLDER), 503);
	assert_int_equal(signet_err_http(SIGNET_ERR_UNAVAILABLE), 503);
	assert_int_equal(signet_err_http(SIGNET_ERR_STORE), 500);
}

static int
value_of(const char *name, size_t n)
{
	size_t i;

	for (i = 0; i < NROWS; i++)
		if (strlen(rows[i].name) == n &&
		    strncmp(rows[i].name, name, n) == 0)
			return rows[i].value;
	return 0;
}

/* Every "`SIGNET_ERR_NAME` (-N)" in PROTOCOL.md is the table's value, and
 * the words of the console login answer are the table's wire words. */
static void
test_protocol_md_frozen(void **state)
{
	char path[4096], *doc, *p;
	const char *src = getenv("SIGNET_SOURCE_ROOT");
	FILE *f;
	long len;
	int found = 0;

	(void)state;
	assert_non_null(src);
	snprintf(path, sizeof(path), "%s/pkcs11/PROTOCOL.md", src);
	assert_non_null(f = fopen(path, "r"));
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	assert_true((len = ftell(f)) > 0);
	rewind(f);
	assert_non_null(doc = calloc(1, (size_t)len + 1));
	assert_int_equal(fread(doc, 1, (size_t)len, f), (size_t)len);
	fclose(f);
	for (p = doc; (p = strstr(p, "`SIGNET_ERR_")) != NULL; p++) {
		const char *name = p + 12, *end = strchr(name, '`');
		char *num;
		long v;

		assert_non_null(end);
		if (strncmp(end, "` (-", 4) != 0)
			continue;
		v = strtol(end + 3, &num, 10);
		assert_true(num != end + 3 && *num == ')');
		if (value_of(name, (size_t)(end - name)) != (int)v)
			fail_msg("PROTOCOL.md says %.*s is %ld", (int)(end - name),
			    name, v);
		found++;
	}
	/* the failure-code table lists at least these */
	assert_true(found >= 8);
	assert_string_equal(signet_err_wire(SIGNET_ERR_PIN_INCORRECT),
	    "pin-incorrect");
	assert_string_equal(signet_err_wire(SIGNET_ERR_PIN_LOCKED),
	    "pin-locked");
	assert_string_equal(signet_err_wire(SIGNET_ERR_TOKEN), "token");
	assert_string_equal(signet_err_wire(SIGNET_ERR_INVALID), "invalid");
	assert_string_equal(signet_err_wire(SIGNET_ERR_UNAVAILABLE),
	    "unavailable");
	assert_string_equal(signet_err_wire(SIGNET_ERR_FORBIDDEN),
	    "forbidden");
	free(doc);
}

/* The signer leaves work that met one of these queued (it belongs to no
 * request); the rest fail the request with its reason. */
static void
test_transient(void **state)
{
	static const int transient[] = {
		SIGNET_ERR_KEYHOLDER, SIGNET_ERR_PROTOCOL, SIGNET_ERR_TOKEN_LOCKED,
		SIGNET_ERR_STORE, SIGNET_ERR_IO, SIGNET_ERR_STORAGE_FULL,
		SIGNET_ERR_NOMEM, SIGNET_ERR_UNAVAILABLE,
	};
	static const int final[] = {
		0, SIGNET_ERR_TOKEN, SIGNET_ERR_INVALID, SIGNET_ERR_CRYPTO,
		SIGNET_ERR_TOO_LARGE, SIGNET_ERR_NOT_FOUND, SIGNET_ERR_FORBIDDEN,
		SIGNET_ERR_INTERNAL, SIGNET_ERR_CONFIG, SIGNET_ERR_MAX, -1000, 5,
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(transient) / sizeof(transient[0]); i++)
		if (!signet_err_transient(transient[i]))
			fail_msg("%s should be transient",
			    signet_strerror(transient[i]));
	for (i = 0; i < sizeof(final) / sizeof(final[0]); i++)
		if (signet_err_transient(final[i]))
			fail_msg("%d (%s) should not be transient", final[i],
			    signet_strerror(final[i]));
	assert_int_equal(signet_err_http(SIGNET_ERR_STORAGE_FULL), 507);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_code_described),
		cmocka_unit_test(test_http_statuses),
		cmocka_unit_test(test_protocol_md_frozen),
		cmocka_unit_test(test_transient),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
