/* Bounded buffers (appliance/lib/wbuf.c): the maximum holds, a failed append
 * frees the buffer, text can be formatted and read as a C string. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "rd.h"
#include "wbuf.h"

static void
test_round_trip(void **state)
{
	struct wbuf b;
	struct rd r;
	uint32_t u32;
	uint64_t u64;
	char s[16];

	(void)state;
	wbuf_init(&b, 64);
	assert_int_equal(wbuf_u32(&b, 0xdeadbeef), 0);
	assert_int_equal(wbuf_u64(&b, 42), 0);
	assert_int_equal(wbuf_cstr(&b, "signet"), 0);
	rd_init(&r, b.buf, b.len);
	assert_int_equal(rd_u32(&r, &u32), 0);
	assert_int_equal(u32, 0xdeadbeef);
	assert_int_equal(rd_u64(&r, &u64), 0);
	assert_true(u64 == 42);
	assert_int_equal(rd_cstr(&r, s, sizeof(s)), 0);
	assert_string_equal(s, "signet");
	assert_int_equal(rd_end(&r), 0);
	wbuf_free(&b);
}

static void
test_maximum_frees(void **state)
{
	struct wbuf b;

	(void)state;
	wbuf_init(&b, 8);
	assert_int_equal(wbuf_add(&b, "12345678", 8), 0);
	assert_int_equal(wbuf_u8(&b, 'x'), SIGNET_ERR_TOO_LARGE);
	/* nothing half-written is left */
	assert_null(b.buf);
	assert_int_equal(b.len, 0);
	wbuf_free(&b);
}

static void
test_addf_and_str(void **state)
{
	struct wbuf b;
	const char *s;
	char *long_arg;

	(void)state;
	wbuf_init(&b, 4096);
	assert_int_equal(wbuf_str(&b, &s), 0);
	assert_string_equal(s, "");
	assert_int_equal(wbuf_addf(&b, "%s=%d", "n", 7), 0);
	assert_int_equal(wbuf_addf(&b, ";%04x", 0xbeefu), 0);
	assert_int_equal(wbuf_str(&b, &s), 0);
	assert_string_equal(s, "n=7;beef");
	/* the NUL is not part of the contents */
	assert_int_equal(b.len, 8);
	/* longer than the internal first attempt */
	long_arg = malloc(1001);
	assert_non_null(long_arg);
	memset(long_arg, 'a', 1000);
	long_arg[1000] = '\0';
	assert_int_equal(wbuf_addf(&b, "[%s]", long_arg), 0);
	assert_int_equal(b.len, 8 + 1002);
	assert_int_equal(wbuf_str(&b, &s), 0);
	assert_int_equal(strlen(s), 1010);
	assert_int_equal(s[1009], ']');
	wbuf_free(&b);

	/* past the maximum: refused and freed */
	wbuf_init(&b, 100);
	assert_int_equal(wbuf_addf(&b, "%s", long_arg), SIGNET_ERR_TOO_LARGE);
	assert_null(b.buf);
	/* the terminating NUL must fit too */
	wbuf_init(&b, 4);
	assert_int_equal(wbuf_addf(&b, "abcd"), 0);
	assert_int_equal(wbuf_str(&b, &s), SIGNET_ERR_TOO_LARGE);
	wbuf_free(&b);
	free(long_arg);
}

static void
test_take(void **state)
{
	struct wbuf b;
	uint8_t *p;
	size_t n;

	(void)state;
	wbuf_init_secret(&b, 1 << 20);
	for (int i = 0; i < 1000; i++)
		assert_int_equal(wbuf_u8(&b, (uint8_t)i), 0);
	p = wbuf_take(&b, &n);
	assert_int_equal(n, 1000);
	assert_int_equal(p[999], (uint8_t)999);
	assert_null(b.buf);
	assert_int_equal(b.len, 0);
	free(p);
	wbuf_free(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_maximum_frees),
		cmocka_unit_test(test_addf_and_str),
		cmocka_unit_test(test_take),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
