/* The web interface's path check (web/files.c files_valid_path): what a
 * request path may name below the static root. Everything refused here
 * answers 404 before any file system call is made. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "files.h"

static void
test_accepts_files_of_the_interface(void **state)
{
	static const char *const ok[] = {
		"index.html",
		"app.css",
		"icon.svg",
		"js/app.js",
		"js/pages/request.js",
		"fonts/Inter-Regular_v4.woff2",
		"A-Z_0-9.txt",
		/* dots inside a name are no dot-segment */
		"js/app..js",
		"js/app.min.js",
		"a.",
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
		if (!files_valid_path(ok[i]))
			fail_msg("refused '%s'", ok[i]);
}

static void
test_refuses_traversal_and_dot_segments(void **state)
{
	static const char *const bad[] = {
		"..",
		".",
		"../etc/passwd",
		"../../index.html",
		"js/..",
		"js/../index.html",
		"js/../../etc/passwd",
		"./index.html",
		"js/./app.js",
		"js/.",
		/* hidden files: a segment starting with a dot */
		".htaccess",
		"js/.secret.js",
		"...",
		"js/...",
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (files_valid_path(bad[i]))
			fail_msg("accepted '%s'", bad[i]);
}

static void
test_refuses_encodings_and_other_separators(void **state)
{
	static const char *const bad[] = {
		/* CivetWeb's decode_url is off: these reach us literally and
		 * must not be decoded into a traversal anywhere later */
		"%2e%2e/etc/passwd",
		"..%2findex.html",
		"js%2fapp.js",
		"index.html%00.js",
		"%00",
		/* Windows separators and drive letters */
		"js\\app.js",
		"..\\index.html",
		"\\index.html",
		"C:index.html",
		/* query and fragment never belong to a file name */
		"index.html?x=1",
		"index.html#top",
		/* spaces, controls, non-ASCII */
		"index .html",
		"index\t.html",
		"index\n.html",
		"caf\xc3\xa9.html",
		"\x7f",
		"~/index.html",
		"js/*.js",
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (files_valid_path(bad[i]))
			fail_msg("accepted '%s'", bad[i]);
}

static void
test_refuses_empty_segments_and_absolute_paths(void **state)
{
	static const char *const bad[] = {
		"",
		"/",
		"/index.html",
		"//index.html",
		"js//app.js",
		"js/",
		"js/pages/",
		"js///app.js",
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (files_valid_path(bad[i]))
			fail_msg("accepted '%s'", bad[i]);
}

/* FILES_MAX_PATH and FILES_MAX_DEPTH: the longest and deepest path
 * accepted, and one more refused. */
static void
test_limits(void **state)
{
	char p[FILES_MAX_PATH + 8];
	size_t i, n;

	(void)state;
	memset(p, 'a', sizeof(p));
	p[FILES_MAX_PATH - 1] = '\0';
	assert_true(files_valid_path(p));
	p[FILES_MAX_PATH - 1] = 'a';
	p[FILES_MAX_PATH] = '\0';
	assert_false(files_valid_path(p));

	/* "a/a/…/a": FILES_MAX_DEPTH segments, then one more */
	for (n = 0, i = 0; i < FILES_MAX_DEPTH; i++) {
		p[n++] = 'a';
		p[n++] = '/';
	}
	p[n - 1] = '\0';
	assert_true(files_valid_path(p));
	p[n - 1] = '/';
	p[n] = 'a';
	p[n + 1] = '\0';
	assert_false(files_valid_path(p));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_accepts_files_of_the_interface),
		cmocka_unit_test(test_refuses_traversal_and_dot_segments),
		cmocka_unit_test(test_refuses_encodings_and_other_separators),
		cmocka_unit_test(test_refuses_empty_segments_and_absolute_paths),
		cmocka_unit_test(test_limits),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
