/* The content-addressed artifact store (appliance/store/cas.c). */
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

static void
test_cas_roundtrip(void **state)
{
	struct fx *f = *state;
	struct cas_upload *u;
	char hex[CAS_HEX_LEN + 1];
	uint64_t size;
	int fd;
	char buf[16];

	assert_int_equal(cas_upload_begin(f->cas, 100, &u), 0);
	assert_int_equal(cas_tmp_count(f->cas), 1);
	assert_int_equal(cas_upload_write(u, "abc", 3), 0);
	assert_int_equal(cas_upload_finish(u, hex, &size), 0);
	assert_int_equal(size, 3);
	assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223"
	    "b00361a396177a9cb410ff61f20015ad");
	assert_int_equal(cas_tmp_count(f->cas), 0);
	assert_int_equal(cas_open_read(f->cas, hex, &fd, &size), 0);
	assert_int_equal(read(fd, buf, sizeof(buf)), 3);
	close(fd);
	assert_int_equal(cas_open_read(f->cas, "../../etc/passwd", &fd,
	    &size), SIGNET_ERR_INVALID);
}

static void
test_cas_limit_and_abort(void **state)
{
	struct fx *f = *state;
	struct cas_upload *u;

	assert_int_equal(cas_upload_begin(f->cas, 4, &u), 0);
	assert_int_equal(cas_upload_write(u, "abcd", 4), 0);
	assert_int_equal(cas_upload_write(u, "e", 1), SIGNET_ERR_TOO_LARGE);
	cas_upload_abort(u);
	assert_int_equal(cas_tmp_count(f->cas), 0);
}

static void
test_cas_crash_leftovers(void **state)
{
	struct fx *f = *state;
	struct cas_upload *u;
	struct cas *again;

	/* an upload a crash interrupted: its file stays until reopening */
	assert_int_equal(cas_upload_begin(f->cas, 100, &u), 0);
	assert_int_equal(cas_upload_write(u, "partial", 7), 0);
	assert_int_equal(cas_tmp_count(f->cas), 1);
	assert_int_equal(cas_open(f->dir, &again), 0);
	assert_int_equal(cas_tmp_count(again), 0);
	cas_close(again);
	cas_upload_abort(u);
}

/* An upload of at most held_max bytes comes back held, under the same
 * name, and leaves nothing in the store or in tmp/; a larger one is
 * stored as by cas_upload_finish. */
static void
test_cas_held(void **state)
{
	static const size_t sizes[] = { 0, 1, 4095, 4096, 4097 };
	struct fx *f = *state;
	struct cas_upload *u;
	char hex[CAS_HEX_LEN + 1], want[CAS_HEX_LEN + 1];
	unsigned char *held, buf[4097];
	uint64_t size;
	size_t i, k;
	int fd;

	for (k = 0; k < sizeof(buf); k++)
		buf[k] = (unsigned char)(k * 7 + 3);
	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		assert_int_equal(cas_name(buf, sizes[i], want), 0);
		assert_int_equal(cas_upload_begin(f->cas, 1 << 20, &u), 0);
		assert_int_equal(cas_upload_write(u, buf, sizes[i]), 0);
		assert_int_equal(cas_upload_finish_held(u, 4096, hex, &size,
		    &held), 0);
		assert_string_equal(hex, want);
		assert_true(size == sizes[i]);
		assert_int_equal(cas_tmp_count(f->cas), 0);
		if (sizes[i] <= 4096) {
			assert_non_null(held);
			assert_memory_equal(held, buf, sizes[i]);
			assert_int_equal(cas_open_read(f->cas, hex, &fd, &size),
			    SIGNET_ERR_NOT_FOUND);
		} else {
			assert_null(held);
			assert_int_equal(cas_open_read(f->cas, hex, &fd, &size),
			    0);
			assert_true(size == sizes[i]);
			close(fd);
		}
		free(held);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_cas_roundtrip, fx_setup,
		    fx_teardown),
		cmocka_unit_test_setup_teardown(test_cas_held, fx_setup,
		    fx_teardown),
		cmocka_unit_test_setup_teardown(test_cas_limit_and_abort, fx_setup,
		    fx_teardown),
		cmocka_unit_test_setup_teardown(test_cas_crash_leftovers, fx_setup,
		    fx_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
