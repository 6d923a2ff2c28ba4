/* Sign rate of one RSA-3072 (or P-256) key in a fresh SoftHSM2 token:
 * through libp11 in this process (the floor: what the token costs), then
 * through the keyholder (what signetd sees: the token plus one IPC round
 * trip).
 *
 *   bench_sign [seconds per run, default 5] [keyholder path] [rsa3072|p256]
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <libp11.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>

#include "khclient.h"
#include "khproto.h"

#ifndef SIGNET_KEYHOLDER_PATH
#define SIGNET_KEYHOLDER_PATH	"signet-keyholder"
#endif
#define MODULE	"/usr/lib/softhsm/libsofthsm2.so"
#define LABEL	"signet-bench"

extern char **environ;

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int
rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int
write_file(const char *path, const char *text)
{
	FILE *f;
	int fd;

	if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
	    0600)) < 0 || (f = fdopen(fd, "w")) == NULL)
		return -1;
	fputs(text, f);
	return fclose(f) == 0 ? 0 : -1;
}

static void
hex(char *out, const unsigned char *p, size_t n)
{
	static const char d[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < n; i++) {
		out[2 * i] = d[p[i] >> 4];
		out[2 * i + 1] = d[p[i] & 0xf];
	}
	out[2 * n] = '\0';
}

static void
report(const char *what, unsigned long n, double secs)
{
	printf("%-34s %8lu signatures in %6.2f s  %9.1f sig/s  %8.0f us/sig\n",
	    what, n, secs, (double)n / secs, secs * 1e6 / (double)n);
}

/* RSA-3072 PKCS#1 v1.5 (or ECDSA when ec) over SHA-256 with libp11 in
 * this process. */
static int
bench_libp11(const char *pin, const char *key_id, int ec, double secs)
{
	PKCS11_CTX *ctx = NULL;
	PKCS11_SLOT *slots = NULL, *slot = NULL;
	PKCS11_KEY *keys = NULL, *key = NULL;
	EVP_PKEY *pk = NULL;
	EVP_PKEY_CTX *pc = NULL;
	unsigned int nslots = 0, nkeys = 0, i;
	unsigned char d[32], sig[512];
	char id[KH_KEY_ID_HEX + 1];
	unsigned long n = 0;
	double t0, t;
	size_t siglen;
	int r = -1;

	memset(d, 0x11, sizeof(d));
	if ((ctx = PKCS11_CTX_new()) == NULL || PKCS11_CTX_load(ctx, MODULE))
		goto out;
	if (PKCS11_enumerate_slots(ctx, &slots, &nslots) != 0)
		goto out;
	for (i = 0; i < nslots && slot == NULL; i++) {
		if (slots[i].token != NULL &&
		    strcmp(slots[i].token->label, LABEL) == 0)
			slot = &slots[i];
	}
	if (slot == NULL || PKCS11_login(slot, 0, pin) != 0 ||
	    PKCS11_enumerate_keys(slot->token, &keys, &nkeys) != 0)
		goto out;
	for (i = 0; i < nkeys && key == NULL; i++) {
		if (keys[i].id_len > KH_MAX_ID)
			continue;
		hex(id, keys[i].id, keys[i].id_len);
		if (strcmp(id, key_id) == 0)
			key = &keys[i];
	}
	if (key == NULL || (pk = PKCS11_get_private_key(key)) == NULL)
		goto out;
	if ((pc = EVP_PKEY_CTX_new(pk, NULL)) == NULL ||
	    EVP_PKEY_sign_init(pc) <= 0 ||
	    (ec == 0 &&
	    EVP_PKEY_CTX_set_rsa_padding(pc, RSA_PKCS1_PADDING) <= 0) ||
	    EVP_PKEY_CTX_set_signature_md(pc, EVP_sha256()) <= 0)
		goto out;
	t0 = now();
	do {
		siglen = sizeof(sig);
		if (EVP_PKEY_sign(pc, sig, &siglen, d, sizeof(d)) <= 0)
			goto out;
		n++;
	} while ((t = now()) - t0 < secs);
	report(ec ? "libp11 in-process (P-256)" : "libp11 in-process (RSA-3072)",
	    n, t - t0);
	r = 0;
 out:
	if (r != 0)
		fprintf(stderr, "bench_sign: the libp11 run failed\n");
	EVP_PKEY_CTX_free(pc);
	EVP_PKEY_free(pk);
	if (slots != NULL)
		PKCS11_release_all_slots(ctx, slots, nslots);
	if (ctx != NULL) {
		PKCS11_CTX_unload(ctx);
		PKCS11_CTX_free(ctx);
	}
	return r;
}

static int
bench_kh(struct kh *kh, const char *key_id, int mech, const char *what,
    double secs)
{
	uint8_t d[32], sig[KH_MAX_SIG];
	unsigned long n = 0;
	size_t siglen;
	double t0, t;
	int e;

	memset(d, 0x22, sizeof(d));
	t0 = now();
	do {
		siglen = sizeof(sig);
		if ((e = kh_sign(kh, key_id, mech, KH_HASH_SHA256, d,
		    sizeof(d), KH_PURPOSE_REQUEST, "bench", sig,
		    &siglen)) != 0) {
			fprintf(stderr, "bench_sign: kh_sign: %s\n",
			    signet_strerror(e));
			return -1;
		}
		n++;
	} while ((t = now()) - t0 < secs);
	report(what, n, t - t0);
	return 0;
}

int
main(int argc, char **argv)
{
	char dir[] = "/tmp/signet-bench-XXXXXX";
	char conf[128], tokens[96], pinfile[96], envconf[160], text[256];
	char journal[96];
	char pin[17], so_pin[17];
	unsigned char rnd[16];
	const char *env[2] = { envconf, NULL };
	const char *khpath = argc > 2 ? argv[2] : SIGNET_KEYHOLDER_PATH;
	char a0[] = "softhsm2-util", a1[] = "--init-token", a2[] = "--free",
	    a3[] = "--label", a4[] = LABEL, a5[] = "--pin", a7[] = "--so-pin";
	char *init[] = { a0, a1, a2, a3, a4, a5, pin, a7, so_pin, NULL };
	char *initenv[] = { envconf, NULL };
	struct kh_spawn_opts o = { 0 };
	struct kh_key_info k;
	struct kh *kh = NULL;
	double secs = 5;
	pid_t pid;
	int st, e, ec, r = 1;

	if ((argc > 1 && ((secs = strtod(argv[1], NULL)) <= 0 ||
	    secs > 3600)) || (argc > 3 && strcmp(argv[3], "rsa3072") != 0 &&
	    strcmp(argv[3], "p256") != 0)) {
		fprintf(stderr, "usage: bench_sign [seconds] [keyholder] "
		    "[rsa3072|p256]\n");
		return 2;
	}
	ec = argc > 3 && strcmp(argv[3], "p256") == 0;
	if (mkdtemp(dir) == NULL || RAND_bytes(rnd, sizeof(rnd)) != 1)
		return 1;
	hex(pin, rnd, 8);
	hex(so_pin, rnd + 8, 8);
	snprintf(conf, sizeof(conf), "%s/softhsm2.conf", dir);
	snprintf(tokens, sizeof(tokens), "%s/tokens", dir);
	snprintf(pinfile, sizeof(pinfile), "%s/pin", dir);
	snprintf(journal, sizeof(journal), "%s/journal", dir);
	snprintf(envconf, sizeof(envconf), "SOFTHSM2_CONF=%s", conf);
	snprintf(text, sizeof(text), "directories.tokendir = %s\n"
	    "objectstore.backend = file\nlog.level = ERROR\n", tokens);
	if (mkdir(tokens, 0700) != 0 || write_file(conf, text) != 0 ||
	    write_file(pinfile, pin) != 0)
		goto out;
	if (posix_spawnp(&pid, init[0], NULL, NULL, init, initenv) != 0 ||
	    waitpid(pid, &st, 0) != pid || !WIFEXITED(st) ||
	    WEXITSTATUS(st) != 0) {
		fprintf(stderr, "bench_sign: softhsm2-util failed\n");
		goto out;
	}
	/* the in-process run reads the same token */
	if (setenv("SOFTHSM2_CONF", conf, 1) != 0)
		goto out;

	o.path = khpath;
	o.module = MODULE;
	o.token_label = LABEL;
	o.pin_file = pinfile;
	o.env = env;
	o.journal = journal;
	if ((e = kh_spawn(&o, &kh)) != 0 ||
	    (e = (ec ? kh_generate(kh, "bench-ec", KH_KEY_EC, 256, "bench",
	    &k) : kh_generate(kh, "bench-rsa", KH_KEY_RSA, 3072, "bench",
	    &k))) != 0) {
		fprintf(stderr, "bench_sign: keyholder: %s\n",
		    signet_strerror(e));
		goto out;
	}
	printf("%s key %s in SoftHSM2, SHA-256 digests, %.0f s each\n",
	    ec ? "P-256" : "RSA-3072", k.id, secs);
	if (bench_libp11(pin, k.id, ec, secs) != 0)
		goto out;
	if (ec ? bench_kh(kh, k.id, KH_MECH_ECDSA, "keyholder kh_sign ECDSA",
	    secs) != 0 : (bench_kh(kh, k.id, KH_MECH_RSA_PKCS1,
	    "keyholder kh_sign PKCS#1 v1.5", secs) != 0 ||
	    bench_kh(kh, k.id, KH_MECH_RSA_PSS,
	    "keyholder kh_sign PSS", secs) != 0))
		goto out;
	r = 0;
 out:
	kh_free(kh);
	nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	return r;
}
