/* Numbers from text (appliance/lib/num.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <limits.h>

#include <cmocka.h>

#include "num.h"

static void
test_accepts(void **state)
{
	long v = 0;

	(void)state;
	assert_int_equal(num_parse_long("0", 0, 16, &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(num_parse_long("16", 0, 16, &v), 0);
	assert_int_equal(v, 16);
	assert_int_equal(num_parse_long("-5", -10, 10, &v), 0);
	assert_int_equal(v, -5);
	assert_int_equal(num_parse_long("0007", 0, 10, &v), 0);
	assert_int_equal(v, 7);
}

static void
test_refuses(void **state)
{
	static const char *const bad[] = { "", " 7", "+7", "7 ", "7x", "x",
	    "-", "--1", "1e3", "0x10", "17", "-1",
	    "99999999999999999999999" };
	long v = 42;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(num_parse_long(bad[i], 0, 16, &v),
		    SIGNET_ERR_INVALID);
		assert_int_equal(v, 42);
	}
	assert_int_equal(num_parse_long(NULL, 0, 16, &v), SIGNET_ERR_INVALID);
	assert_int_equal(num_parse_long("9223372036854775808", 0, LONG_MAX,
	    &v), SIGNET_ERR_INVALID);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_accepts),
		cmocka_unit_test(test_refuses),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
