/* The url-encoded form reader: strict escapes, UTF-8 and control
 * characters, duplicate and empty names, limits; and the text check every
 * form path shares. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "urlform.h"

static const struct urlform_limits lim = {
	.max_fields = 4,
	.max_name = 16,
	.max_value = 32,
	.multiline = 1,
};

static int
parse(const char *body, json_t **out, char *err, size_t errlen)
{
	return urlform_parse(body, strlen(body), &lim, out, err, errlen);
}

/* Refused with the given code, and the message contains want. */
static void
refused(const char *body, int code, const char *want)
{
	json_t *o = (json_t *)1;
	char err[256];

	assert_int_equal(parse(body, &o, err, sizeof(err)), code);
	assert_null(o);
	if (strstr(err, want) == NULL)
		fail_msg("'%s': message '%s' lacks '%s'", body, err, want);
}

static void
test_decodes(void **state)
{
	json_t *o;
	char err[256];

	(void)state;
	assert_int_equal(parse("username=al+ice&password=p%25w%3D%26x&e=",
	    &o, err, sizeof(err)), 0);
	assert_int_equal(json_object_size(o), 3);
	assert_string_equal(json_string_value(json_object_get(o, "username")),
	    "al ice");
	assert_string_equal(json_string_value(json_object_get(o, "password")),
	    "p%w=&x");
	assert_string_equal(json_string_value(json_object_get(o, "e")), "");
	json_decref(o);
	/* UTF-8 in names and values; line breaks in values; %xx in either
	 * case; empty sequences are no fields */
	assert_int_equal(parse("&&n%C3%A4me=l1%0al2%0D%0A&&", &o, err,
	    sizeof(err)), 0);
	assert_string_equal(json_string_value(json_object_get(o,
	    "n\xc3\xa4me")), "l1\nl2\r\n");
	json_decref(o);
	assert_int_equal(parse("", &o, err, sizeof(err)), 0);
	assert_int_equal(json_object_size(o), 0);
	json_decref(o);
	assert_int_equal(parse("&&&", &o, err, sizeof(err)), 0);
	assert_int_equal(json_object_size(o), 0);
	json_decref(o);
}

static void
test_bad_escapes(void **state)
{
	(void)state;
	/* the body that sent CivetWeb's parser into an endless loop */
	refused("username=%", SIGNET_ERR_INVALID, "'username'");
	refused("username=%0", SIGNET_ERR_INVALID, "two hex digits");
	refused("username=%zz", SIGNET_ERR_INVALID, "'username'");
	refused("username=%0g&password=x", SIGNET_ERR_INVALID, "'username'");
	refused("username=a%", SIGNET_ERR_INVALID, "'username'");
	refused("a%=1", SIGNET_ERR_INVALID, "name");
	refused("%=1", SIGNET_ERR_INVALID, "name");
	refused("%%%%=1", SIGNET_ERR_INVALID, "name");
}

static void
test_not_text(void **state)
{
	(void)state;
	refused("a=%00", SIGNET_ERR_INVALID, "'a' is not valid UTF-8");
	refused("a=x%00y", SIGNET_ERR_INVALID, "'a'");
	refused("a=%01", SIGNET_ERR_INVALID, "'a'");
	refused("a=%7f", SIGNET_ERR_INVALID, "'a'");
	refused("a=%ff", SIGNET_ERR_INVALID, "'a'");
	refused("a=%c3", SIGNET_ERR_INVALID, "'a'");		/* cut short */
	refused("a=%c0%af", SIGNET_ERR_INVALID, "'a'");		/* overlong */
	refused("a=%ed%a0%80", SIGNET_ERR_INVALID, "'a'");	/* surrogate */
	refused("a=%f4%90%80%80", SIGNET_ERR_INVALID, "'a'");	/* > U+10FFFF */
	refused("a=%c2%85", SIGNET_ERR_INVALID, "'a'");		/* C1 NEL */
	refused("n%00=1", SIGNET_ERR_INVALID, "name");
	refused("n%ff=1", SIGNET_ERR_INVALID, "name");
	refused("n%0a=1", SIGNET_ERR_INVALID, "name");	/* names: one line */
}

static void
test_shape(void **state)
{
	(void)state;
	refused("=", SIGNET_ERR_INVALID, "no name");
	refused("=x", SIGNET_ERR_INVALID, "no name");
	refused("username", SIGNET_ERR_INVALID, "no '='");
	refused("a=1&b", SIGNET_ERR_INVALID, "no '='");
	refused("a=1&a=2", SIGNET_ERR_INVALID, "'a' is given twice");
	refused("a=1&%61=2", SIGNET_ERR_INVALID, "'a' is given twice");
}

static void
test_limits(void **state)
{
	char big[512];
	json_t *o;
	char err[256];

	(void)state;
	refused("a=1&b=2&c=3&d=4&e=5", SIGNET_ERR_TOO_LARGE, "at most 4");
	assert_int_equal(parse("a=1&b=2&c=3&d=4", &o, err, sizeof(err)), 0);
	json_decref(o);
	/* names: 16 bytes decoded */
	refused("abcdefghijklmnopq=1", SIGNET_ERR_TOO_LARGE, "at most 16");
	assert_int_equal(parse("abcdefghijklmnop=1", &o, err, sizeof(err)), 0);
	json_decref(o);
	/* a long encoding of a short name is judged by what it decodes to,
	 * a very long one before it is decoded */
	memset(big, 'n', sizeof(big));
	memcpy(big + sizeof(big) - 3, "=1", 3);
	refused(big, SIGNET_ERR_TOO_LARGE, "names are at most");
	/* values: 32 bytes decoded */
	refused("v=123456789012345678901234567890123", SIGNET_ERR_TOO_LARGE,
	    "'v' is longer than 32");
	refused("v=%41%41%41%41%41%41%41%41%41%41%41%41%41%41%41%41%41%41%41"
	    "%41%41%41%41%41%41%41%41%41%41%41%41%41%41", SIGNET_ERR_TOO_LARGE,
	    "'v'");
	assert_int_equal(parse("v=%41%41%41%41%41%41%41%41%41%41%41%41%41%41"
	    "%41%41%41%41%41%41%41%41%41%41%41%41%41%41%41%41%41%41", &o, err,
	    sizeof(err)), 0);
	assert_int_equal(json_string_length(json_object_get(o, "v")), 32);
	json_decref(o);
	memset(big, 'x', sizeof(big));
	memcpy(big, "v=", 2);
	big[sizeof(big) - 1] = '\0';
	refused(big, SIGNET_ERR_TOO_LARGE, "'v' is longer");
}

static void
test_single_line(void **state)
{
	static const struct urlform_limits one = {
		.max_fields = 4, .max_name = 16, .max_value = 32, .multiline = 0,
	};
	json_t *o;
	char err[256];

	(void)state;
	assert_int_equal(urlform_parse("q=a%0ab", 7, &one, &o, err,
	    sizeof(err)), SIGNET_ERR_INVALID);
	assert_null(o);
	assert_int_equal(urlform_parse("q=a%09b", 7, &one, &o, err,
	    sizeof(err)), SIGNET_ERR_INVALID);
	assert_int_equal(urlform_parse("q=a+b", 5, &one, &o, err,
	    sizeof(err)), 0);
	json_decref(o);
	/* a NUL in the input itself, not only an encoded one */
	assert_int_equal(urlform_parse("q=a\0b", 5, &one, &o, err,
	    sizeof(err)), SIGNET_ERR_INVALID);
}

static void
test_text_ok(void **state)
{
	(void)state;
	assert_true(urlform_text_ok("", 0, 0));
	assert_true(urlform_text_ok("plain.bin", 9, 0));
	assert_true(urlform_text_ok("\xc3\xa4\xe2\x82\xac\xf0\x9f\x98\x80", 9,
	    0));
	assert_true(urlform_text_ok("a\tb\nc\r", 6, 1));
	assert_false(urlform_text_ok("a\tb", 3, 0));
	assert_false(urlform_text_ok("a\0b", 3, 1));
	assert_false(urlform_text_ok("\x7f", 1, 1));
	assert_false(urlform_text_ok("\x1b[31m", 5, 1));
	assert_false(urlform_text_ok("\xff", 1, 0));
	assert_false(urlform_text_ok("\x80", 1, 0));
	assert_false(urlform_text_ok("\xc1\xbf", 2, 0));
	assert_false(urlform_text_ok("\xe0\x80\xaf", 3, 0));
	assert_false(urlform_text_ok("\xf0\x80\x80\xaf", 4, 0));
	assert_false(urlform_text_ok("\xf5\x80\x80\x80", 4, 0));
	assert_false(urlform_text_ok("\xe2\x82", 2, 0));
	assert_false(urlform_text_ok("\xe2\x28\xa1", 3, 0));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_decodes),
		cmocka_unit_test(test_bad_escapes),
		cmocka_unit_test(test_not_text),
		cmocka_unit_test(test_shape),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_single_line),
		cmocka_unit_test(test_text_ok),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
