/* The registry of signature formats (appliance/sign/formats/format.c):
 * every entry is complete, slugs are unique, lookups of unknown slugs
 * fail. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "format.h"

static void
test_entries_complete(void **state)
{
	size_t i, j;

	(void)state;
	assert_true(format_count() >= 1);
	for (i = 0; i < format_count(); i++) {
		const struct format *f = format_at(i);

		assert_non_null(f);
		assert_non_null(f->slug);
		assert_true(strlen(f->slug) > 0 && strlen(f->slug) <= 64);
		assert_non_null(f->extension);
		assert_int_equal(f->extension[0], '.');
		assert_non_null(strchr(f->media_type, '/'));
		assert_non_null(f->title);
		/* a digest-only row signs in the signer, never a file */
		assert_true((f->sign != NULL) != (format_digest_only(f) != 0));
		assert_ptr_equal(format_find(f->slug), f);
		for (j = 0; j < i; j++)
			assert_string_not_equal(f->slug, format_at(j)->slug);
	}
	assert_null(format_at(format_count()));
}

static void
test_lookup(void **state)
{
	char slugs[256];

	(void)state;
	assert_non_null(format_find("detached-cms"));
	assert_string_equal(format_find("detached-cms")->extension, ".p7s");
	assert_string_equal(format_default()->slug, "detached-cms");
	assert_null(format_find("Detached-CMS"));
	assert_null(format_find("detached-cms "));
	assert_null(format_find(""));
	assert_null(format_find(NULL));
	assert_non_null(format_find(FORMAT_HASH_SLUG));
	assert_true(format_digest_only(format_find(FORMAT_HASH_SLUG)));
	assert_false(format_digest_only(format_default()));
	format_slugs(slugs, sizeof(slugs));
	assert_non_null(strstr(slugs, "detached-cms"));
	/* a buffer too small is cut, never overrun */
	format_slugs(slugs, 4);
	assert_true(strlen(slugs) < 4);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_entries_complete),
		cmocka_unit_test(test_lookup),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
