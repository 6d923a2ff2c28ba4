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

/* Loads text as a configuration; 0 or the error, with err. */
static int
load(const char *text, struct config *c, char *err, size_t len)
{
	char path[] = "/tmp/signet-test-config-XXXXXX";
	FILE *f;
	int fd, r;

	assert_true((fd = mkstemp(path)) >= 0);
	assert_non_null(f = fdopen(fd, "w"));
	fprintf(f, "[store]\nstate_dir = /tmp/x\n%s", text);
	fclose(f);
	r = config_load(path, c, err, len);
	unlink(path);
	return r;
}

/* Writes text as it is to a temporary file and loads it; returns
 * config_load's result, *c filled on success, err the message on
 * failure. */
static int
load_raw(const char *text, struct config *c, char *err, size_t errlen)
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

/* The fault and storage settings: defaults, validation, messages. */
static void
test_config_fault_settings(void **state)
{
	struct config c;
	char err[512];

	(void)state;
	assert_int_equal(load("", &c, err, sizeof(err)), 0);
	assert_true(c.max_map_size >= c.map_size);
	assert_int_equal(c.max_queue, 10000);
	assert_int_equal(c.drain_timeout, 10);
	assert_true(c.retention_s == 0);
	assert_null(c.metrics_listen);
	config_free(&c);

	assert_int_equal(load("map_size = 1M\nmax_map_size = 8M\n"
	    "retention = 90d\n[signer]\nmax_queue = 0\n[server]\n"
	    "drain_timeout = 0\n[metrics]\nlisten = 127.0.0.1:9464\n", &c,
	    err, sizeof(err)), 0);
	assert_true(c.max_map_size == 8ULL << 20);
	assert_true(c.retention_s == 90ULL * 86400);
	assert_int_equal(c.max_queue, 0);
	assert_int_equal(c.drain_timeout, 0);
	assert_string_equal(c.metrics_listen, "127.0.0.1:9464");
	config_free(&c);

	assert_int_not_equal(load("map_size = 8M\nmax_map_size = 4M\n", &c,
	    err, sizeof(err)), 0);
	assert_non_null(strstr(err, "max_map_size must be at least map_size"));
	assert_int_not_equal(load("[metrics]\nlisten = 0.0.0.0:9464\n", &c,
	    err, sizeof(err)), 0);
	assert_non_null(strstr(err, "loopback"));
	assert_int_not_equal(load("retention = 5y\n", &c, err, sizeof(err)),
	    0);
	assert_non_null(strstr(err, "retention"));
	assert_int_not_equal(load("[signer]\nmax_queue = -1\n", &c, err,
	    sizeof(err)), 0);
	assert_int_not_equal(load("[server]\ndrain_timeout = 99999\n", &c,
	    err, sizeof(err)), 0);
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
	assert_int_equal(load_raw("[store]\nstate_dir = /tmp/x\n", &c, err,
	    sizeof(err)), 0);
	assert_null(c.kh_socket);
	config_free(&c);
	assert_int_equal(load_raw("[store]\nstate_dir = /tmp/x\n[keyholder]\n"
	    "socket = /run/signet/keyholder.sock\n", &c, err, sizeof(err)), 0);
	assert_string_equal(c.kh_socket, "/run/signet/keyholder.sock");
	config_free(&c);
	assert_int_not_equal(load_raw("[store]\nstate_dir = /tmp/x\n[keyholder]\n"
	    "socket = run/keyholder.sock\n", &c, err, sizeof(err)), 0);
	assert_non_null(strstr(err, "absolute"));
	memset(longp, 'a', sizeof(longp) - 1);
	longp[0] = '/';
	longp[sizeof(longp) - 1] = '\0';
	snprintf(text, sizeof(text), "[store]\nstate_dir = /tmp/x\n"
	    "[keyholder]\nsocket = %s\n", longp);
	assert_int_not_equal(load_raw(text, &c, err, sizeof(err)), 0);
	assert_non_null(strstr(err, "too long"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_config_sizes),
		cmocka_unit_test(test_config_fault_settings),
		cmocka_unit_test(test_config_kh_socket),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
