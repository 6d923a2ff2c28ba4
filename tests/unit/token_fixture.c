/* A fresh SoftHSM2 token for the unit tests that start the real
 * signet-keyholder (test_keyholder, test_signer): its configuration, a
 * random user PIN in a PIN file, the environment the keyholder gets, and a
 * journal path. */
#include <fcntl.h>
#include <ftw.h>
#include <setjmp.h>
#include <spawn.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/rand.h>

#include "token_fixture.h"

#define SOFTHSM_MODULE	"/usr/lib/softhsm/libsofthsm2.so"

struct token_fx T;

static int
rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void
random_hex(char *out, size_t bytes)
{
	static const char digits[] = "0123456789abcdef";
	uint8_t b[32];
	size_t i;

	assert_true(bytes <= sizeof(b));
	assert_int_equal(RAND_bytes(b, (int)bytes), 1);
	for (i = 0; i < bytes; i++) {
		out[2 * i] = digits[b[i] >> 4];
		out[2 * i + 1] = digits[b[i] & 0xf];
	}
	out[2 * bytes] = '\0';
}

void
token_fx_write_file(const char *path, const char *text, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	size_t n = strlen(text);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, n), (ssize_t)n);
	assert_int_equal(fchmod(fd, mode), 0);
	close(fd);
}

/* Runs argv with the single environment entry env; its exit status. */
static int
run(const char *const *argv, const char *env)
{
	char *av[16], *ev[2] = { NULL, NULL };
	size_t i, n = 0;
	pid_t pid;
	int st, r = -1;

	while (argv[n] != NULL && n < 15)
		n++;
	for (i = 0; i < n; i++)
		av[i] = strdup(argv[i]);
	av[n] = NULL;
	ev[0] = strdup(env);
	if (posix_spawnp(&pid, av[0], NULL, NULL, av, ev) == 0 &&
	    waitpid(pid, &st, 0) == pid && WIFEXITED(st))
		r = WEXITSTATUS(st);
	for (i = 0; i < n; i++)
		free(av[i]);
	free(ev[0]);
	return r;
}

int
token_fx_setup(const char *dir_template, const char *journal)
{
	char so_pin[33], text[512], tokens[128];
	size_t n;
	const char *argv[] = {
		"softhsm2-util", "--init-token", "--free", "--label",
		"signet-test", "--pin", T.pin, "--so-pin", so_pin, NULL
	};

	if ((T.keyholder = getenv("SIGNET_KEYHOLDER")) == NULL) {
		fprintf(stderr, "SIGNET_KEYHOLDER is not set\n");
		return -1;
	}
	if ((T.module = getenv("SIGNET_PKCS11_MODULE")) == NULL)
		T.module = SOFTHSM_MODULE;
	snprintf(T.dir, sizeof(T.dir), "%s", dir_template);
	if (mkdtemp(T.dir) == NULL)
		return -1;
	snprintf(T.conf, sizeof(T.conf), "%s/softhsm2.conf", T.dir);
	snprintf(tokens, sizeof(tokens), "%s/tokens", T.dir);
	if (mkdir(tokens, 0700) != 0)
		return -1;
	snprintf(text, sizeof(text), "directories.tokendir = %s\n"
	    "objectstore.backend = file\nlog.level = ERROR\n", tokens);
	token_fx_write_file(T.conf, text, 0600);
	snprintf(T.env_conf, sizeof(T.env_conf), "SOFTHSM2_CONF=%s", T.conf);
	/* the keyholder gets only what we give it: under the sanitizers,
	 * their settings (suppressions) too */
	n = 0;
	T.env[n++] = T.env_conf;
	if (getenv("LSAN_OPTIONS") != NULL) {
		snprintf(T.env_lsan, sizeof(T.env_lsan), "LSAN_OPTIONS=%s",
		    getenv("LSAN_OPTIONS"));
		T.env[n++] = T.env_lsan;
	}
	if (getenv("ASAN_OPTIONS") != NULL) {
		snprintf(T.env_asan, sizeof(T.env_asan), "ASAN_OPTIONS=%s",
		    getenv("ASAN_OPTIONS"));
		T.env[n++] = T.env_asan;
	}
	T.env[n] = NULL;
	random_hex(T.pin, 8);
	random_hex(so_pin, 8);
	if (run(argv, T.env_conf) != 0) {
		fprintf(stderr, "softhsm2-util --init-token failed\n");
		return -1;
	}
	snprintf(T.pin_file, sizeof(T.pin_file), "%s/pin", T.dir);
	snprintf(T.journal, sizeof(T.journal), "%s/%s", T.dir, journal);
	snprintf(text, sizeof(text), "%s\n", T.pin);
	token_fx_write_file(T.pin_file, text, 0600);
	return 0;
}

int
token_fx_teardown(void)
{
	if (T.dir[0] != '\0')
		nftw(T.dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	return 0;
}
