/* signetd.conf parsing (appliance/core/config.c). */
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

#include "config.h"

static void
test_config_sizes(void **state)
{
	uint64_t v;

	(void)state;
	assert_int_equal(config_parse_size("4G", &v), 0);
	assert_true(v == 4ULL << 30);
	assert_int_equal(config_parse_size("10", &v), 0);
	assert_true(v == 10);
	assert_int_not_equal(config_parse_size("-1", &v), 0);
	assert_int_not_equal(config_parse_size("1T", &v), 0);
	assert_int_not_equal(config_parse_size("", &v), 0);
	assert_int_not_equal(config_parse_size("99999999999999999999G", &v), 0);
}

/* Writes text to a temporary file and loads it; returns config_load's
 * result, *c filled on success, err the message on failure. */
static int
load(const char *text, struct config *c, char *err, size_t errlen)
{
	char path[] = "/tmp/signet-config-XXXXXX";
	FILE *f;
	int fd, r;

	fd = mkstemp(path);
	assert_true(fd >= 0);
	f = fdopen(fd, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	err[0] = '\0';
	r = config_load(path, c, err, errlen);
	unlink(path);
	return r;
}

/* [keyholder] socket: an absolute path that fits a Unix socket address;
 * unset, signetd starts the keyholder itself. */
static void
test_config_kh_socket(void **state)
{
	char err[512], text[512], longp[128];
	struct config c;

	(void)state;
	memset(&c, 0, sizeof(c));
	assert_int_equal(load("[store]\nstate_dir = /tmp/x\n", &c, err,
	    sizeof(err)), 0);
	assert_null(c.kh_socket);
	config_free(&c);
	assert_int_equal(load("[store]\nstate_dir = /tmp/x\n[keyholder]\n"
	    "socket = /run/signet/keyholder.sock\n", &c, err, sizeof(err)), 0);
	assert_string_equal(c.kh_socket, "/run/signet/keyholder.sock");
	config_free(&c);
	assert_int_not_equal(load("[store]\nstate_dir = /tmp/x\n[keyholder]\n"
	    "socket = run/keyholder.sock\n", &c, err, sizeof(err)), 0);
	assert_non_null(strstr(err, "absolute"));
	memset(longp, 'a', sizeof(longp) - 1);
	longp[0] = '/';
	longp[sizeof(longp) - 1] = '\0';
	snprintf(text, sizeof(text), "[store]\nstate_dir = /tmp/x\n"
	    "[keyholder]\nsocket = %s\n", longp);
	assert_int_not_equal(load(text, &c, err, sizeof(err)), 0);
	assert_non_null(strstr(err, "too long"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_config_sizes),
		cmocka_unit_test(test_config_kh_socket),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
