/* The bounded reader (appliance/lib/rd.c): every read checks what is left and
 * a failed read leaves the cursor where it was. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "rd.h"

static void
test_big_endian(void **state)
{
	static const uint8_t b[] = { 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07,
	    0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d };
	struct rd r;
	uint8_t u8;
	uint32_t u32;
	uint64_t u64;

	(void)state;
	rd_init(&r, b, sizeof(b));
	assert_int_equal(rd_u8(&r, &u8), 0);
	assert_int_equal(u8, 0x01);
	assert_int_equal(rd_u32(&r, &u32), 0);
	assert_int_equal(u32, 0x02030405);
	assert_int_equal(rd_u64(&r, &u64), 0);
	assert_true(u64 == 0x060708090a0b0c0dULL);
	assert_int_equal(rd_u8(&r, &u8), SIGNET_ERR_TRUNCATED);
	assert_int_equal(rd_end(&r), 0);
}

static void
test_little_endian(void **state)
{
	static const uint8_t b[] = { 0x4d, 0x5a, 0x78, 0x56, 0x34, 0x12,
	    0xf0, 0xde, 0xbc, 0x9a, 0x78, 0x56, 0x34, 0x12 };
	struct rd r;
	uint16_t u16;
	uint32_t u32;
	uint64_t u64;

	(void)state;
	rd_init(&r, b, sizeof(b));
	assert_int_equal(rd_u16le(&r, &u16), 0);
	assert_int_equal(u16, 0x5a4d);	/* "MZ" */
	assert_int_equal(rd_u32le(&r, &u32), 0);
	assert_int_equal(u32, 0x12345678);
	assert_int_equal(rd_u64le(&r, &u64), 0);
	assert_true(u64 == 0x123456789abcdef0ULL);
	assert_int_equal(rd_end(&r), 0);
}

/* A read that does not fit fails and does not move the cursor, so the
 * caller can report where the input ended. */
static void
test_truncated_reads_leave_cursor(void **state)
{
	static const uint8_t b[] = { 0xaa, 0xbb, 0xcc };
	struct rd r;
	uint16_t u16;
	uint32_t u32;
	uint64_t u64;
	uint8_t out[4];

	(void)state;
	rd_init(&r, b, sizeof(b));
	assert_int_equal(rd_skip(&r, 1), 0);
	assert_int_equal(rd_u32le(&r, &u32), SIGNET_ERR_TRUNCATED);
	assert_int_equal(rd_u32(&r, &u32), SIGNET_ERR_TRUNCATED);
	assert_int_equal(rd_u64le(&r, &u64), SIGNET_ERR_TRUNCATED);
	assert_int_equal(rd_u64(&r, &u64), SIGNET_ERR_TRUNCATED);
	assert_int_equal(rd_copy(&r, out, 3), SIGNET_ERR_TRUNCATED);
	assert_int_equal(rd_skip(&r, 3), SIGNET_ERR_TRUNCATED);
	assert_int_equal(r.off, 1);
	assert_int_equal(rd_u16le(&r, &u16), 0);
	assert_int_equal(u16, 0xccbb);
	assert_int_equal(rd_u16le(&r, &u16), SIGNET_ERR_TRUNCATED);
	assert_int_equal(rd_skip(&r, 0), 0);
}

static void
test_blob_and_cstr(void **state)
{
	static const uint8_t b[] = { 0, 0, 0, 3, 'a', 'b', 'c',
	    0, 0, 0, 2, 'x', 0,
	    0xff, 0xff, 0xff, 0xff };
	struct rd r;
	const uint8_t *p;
	size_t n;
	char s[8];

	(void)state;
	rd_init(&r, b, sizeof(b));
	assert_int_equal(rd_blob(&r, 2, &p, &n), SIGNET_ERR_TOO_LARGE);
	assert_int_equal(r.off, 0);
	assert_int_equal(rd_cstr(&r, s, 3), SIGNET_ERR_TOO_LARGE);
	assert_int_equal(rd_cstr(&r, s, sizeof(s)), 0);
	assert_string_equal(s, "abc");
	/* an embedded NUL is refused and the cursor stays */
	assert_int_equal(rd_cstr(&r, s, sizeof(s)), SIGNET_ERR_INVALID);
	assert_int_equal(r.off, 7);
	assert_int_equal(rd_blob(&r, 8, &p, &n), 0);
	assert_int_equal(n, 2);
	/* a length past the end is truncation, not an overread */
	assert_int_equal(rd_blob(&r, SIZE_MAX, &p, &n), SIGNET_ERR_TRUNCATED);
	assert_int_equal(r.off, 13);
	assert_int_equal(rd_end(&r), SIGNET_ERR_INVALID);
}

static void
test_until_and_rest(void **state)
{
	static const char t[] = "key=value;rest";
	struct rd r;
	const uint8_t *p;
	size_t n;

	(void)state;
	rd_init(&r, t, sizeof(t) - 1);
	assert_int_equal(rd_until(&r, '=', 2, &p, &n), SIGNET_ERR_TOO_LARGE);
	assert_int_equal(rd_until(&r, '=', 3, &p, &n), 0);
	assert_int_equal(n, 3);
	assert_memory_equal(p, "key", 3);
	assert_int_equal(rd_until(&r, '#', 64, &p, &n), SIGNET_ERR_TRUNCATED);
	assert_int_equal(rd_until(&r, ';', 64, &p, &n), 0);
	assert_memory_equal(p, "value", 5);
	assert_int_equal(rd_rest(&r, 3, &p, &n), SIGNET_ERR_TOO_LARGE);
	assert_int_equal(rd_rest(&r, 4, &p, &n), 0);
	assert_memory_equal(p, "rest", 4);
	assert_int_equal(rd_end(&r), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_big_endian),
		cmocka_unit_test(test_little_endian),
		cmocka_unit_test(test_truncated_reads_leave_cursor),
		cmocka_unit_test(test_blob_and_cstr),
		cmocka_unit_test(test_until_and_rest),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
