/* A fresh SoftHSM2 token for unit tests that start the real keyholder. */
#ifndef SIGNET_TEST_TOKEN_FIXTURE_H
#define SIGNET_TEST_TOKEN_FIXTURE_H

#include <sys/types.h>

struct token_fx {
	char dir[64];
	char conf[128];
	char env_conf[160];
	char pin[33];
	char pin_file[128];
	char journal[128];
	const char *keyholder;
	const char *module;
	const char *env[4];
	char env_lsan[512], env_asan[512];
};

/* The one token of a test program. */
extern struct token_fx T;

/* Makes the token in a new directory from dir_template (mkdtemp's
 * XXXXXX); journal is the keyholder's journal path inside it. SIGNET_KEYHOLDER
 * names the keyholder, SIGNET_PKCS11_MODULE the module (default SoftHSM2). */
int token_fx_setup(const char *dir_template, const char *journal);
/* Removes the directory. */
int token_fx_teardown(void);
void token_fx_write_file(const char *path, const char *text, mode_t mode);

#endif
