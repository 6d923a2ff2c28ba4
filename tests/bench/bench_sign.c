/* Sign rate of one RSA-3072 (or P-256) key in a fresh SoftHSM2 token:
 * through libp11 in this process (the floor: what the token costs), in
 * --procs processes at once, each with its own libp11 and module (what
 * the token gives a machine with that many cores), then through the
 * keyholder (what signetd sees: the token plus one IPC round trip).
 *
 * With --p11kit the libp11 runs load p11-kit-client.so instead, and
 * `p11-kit server` exports the token (the token reached the way a
 * network HSM is: every call a round trip to another process). The key
 * is made through SoftHSM2 directly, and the keyholder is not measured
 * (bench_e2e.sh measures signetd through p11-kit).
 *
 *   bench_sign [seconds per run, default 5] [keyholder path] [rsa3072|p256]
 *              [--procs N] [--p11kit]
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <libp11.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>

#include "khclient.h"
#include "khproto.h"

#ifndef SIGNET_KEYHOLDER_PATH
#define SIGNET_KEYHOLDER_PATH	"signet-keyholder"
#endif
#ifndef P11KIT_MODULE_DIR
#define P11KIT_MODULE_DIR	"/usr/lib/x86_64-linux-gnu/pkcs11"
#endif
#define MODULE	"/usr/lib/softhsm/libsofthsm2.so"
#define P11KIT_CLIENT	P11KIT_MODULE_DIR "/p11-kit-client.so"
#define LABEL	"signet-bench"
#define MAX_PROCS	256
/* until `p11-kit server` has printed its address */
#define P11KIT_START_MS	10000

/* until a child of a --procs run is ready to sign */
#define READY_MS	30000

/* One libp11 run's count, as a child process hands it back. */
struct run {
	unsigned long n;
	double secs;
	int ok;
};

/* A child of a --procs run, between its setup and its timed loop: it
 * says it is ready, then waits until the parent closes go. */
struct gate {
	int ready;		/* write end */
	int go;			/* read end */
	int passed;
};

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
	printf("%-40s %8lu signatures in %6.2f s  %9.1f sig/s  %8.0f us/sig\n",
	    what, n, secs, (double)n / secs, secs * 1e6 / (double)n);
}

/* Ready, then wait for the others (see bench_libp11). */
static void
gate_pass(struct gate *g)
{
	char c = 'r';

	g->passed = 1;
	if (write(g->ready, &c, 1) != 1)
		return;
	/* returns 0, end of file, once the parent closes go */
	while (read(g->go, &c, 1) < 0 && errno == EINTR)
		;
}

/* RSA-3072 PKCS#1 v1.5 (or ECDSA when ec) over SHA-256 with libp11 and
 * module in this process; through the gate, when there is one, between
 * the setup and the timed loop. */
static int
libp11_run(const char *module, const char *pin, const char *key_id, int ec,
    double secs, struct gate *g, struct run *out)
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
	const char *step = "cannot load the module";
	int r = -1;

	memset(d, 0x11, sizeof(d));
	memset(out, 0, sizeof(*out));
	if ((ctx = PKCS11_CTX_new()) == NULL || PKCS11_CTX_load(ctx, module))
		goto out;
	step = "cannot list the slots";
	if (PKCS11_enumerate_slots(ctx, &slots, &nslots) != 0)
		goto out;
	for (i = 0; i < nslots && slot == NULL; i++) {
		if (slots[i].token != NULL &&
		    strcmp(slots[i].token->label, LABEL) == 0)
			slot = &slots[i];
	}
	step = "no token " LABEL;
	if (slot == NULL)
		goto out;
	step = "cannot log in";
	if (PKCS11_login(slot, 0, pin) != 0)
		goto out;
	step = "cannot list the keys";
	if (PKCS11_enumerate_keys(slot->token, &keys, &nkeys) != 0)
		goto out;
	for (i = 0; i < nkeys && key == NULL; i++) {
		if (keys[i].id_len > KH_MAX_ID)
			continue;
		hex(id, keys[i].id, keys[i].id_len);
		if (strcmp(id, key_id) == 0)
			key = &keys[i];
	}
	step = "the key is not there";
	if (key == NULL || (pk = PKCS11_get_private_key(key)) == NULL)
		goto out;
	step = "cannot set up the signature";
	if ((pc = EVP_PKEY_CTX_new(pk, NULL)) == NULL ||
	    EVP_PKEY_sign_init(pc) <= 0 ||
	    (ec == 0 &&
	    EVP_PKEY_CTX_set_rsa_padding(pc, RSA_PKCS1_PADDING) <= 0) ||
	    EVP_PKEY_CTX_set_signature_md(pc, EVP_sha256()) <= 0)
		goto out;
	if (g != NULL)
		gate_pass(g);
	step = "a signature failed";
	t0 = now();
	do {
		siglen = sizeof(sig);
		if (EVP_PKEY_sign(pc, sig, &siglen, d, sizeof(d)) <= 0)
			goto out;
		n++;
	} while ((t = now()) - t0 < secs);
	out->n = n;
	out->secs = t - t0;
	out->ok = 1;
	r = 0;
 out:
	if (r != 0) {
		fprintf(stderr, "bench_sign: libp11 through %s: %s\n", module,
		    step);
		ERR_print_errors_fp(stderr);
	}
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

/* libp11_run in procs processes at once; one line: their signatures
 * together over the longest run. The children set up one after the other
 * (SoftHSM2 writes the token's file at login, and a process reading it
 * meanwhile may not find the token), then sign at the same time. */
static int
bench_libp11(const char *module, const char *what, const char *pin,
    const char *key_id, int ec, double secs, unsigned long procs)
{
	char label[64], c;
	struct run one, all = { 0, 0, 1 };
	struct gate g;
	struct pollfd pfd;
	pid_t pids[MAX_PROCS];
	unsigned long i, started, got = 0;
	int res[2] = { -1, -1 }, ready[2] = { -1, -1 }, go[2] = { -1, -1 };
	int st, r = -1;

	if (procs == 1) {
		if (libp11_run(module, pin, key_id, ec, secs, NULL, &one) != 0)
			return -1;
		snprintf(label, sizeof(label), "%s (%s)", what,
		    ec ? "P-256" : "RSA-3072");
		report(label, one.n, one.secs);
		return 0;
	}
	if (pipe2(res, O_CLOEXEC) != 0 || pipe2(ready, O_CLOEXEC) != 0 ||
	    pipe2(go, O_CLOEXEC) != 0)
		goto out;
	/* what is buffered would be written once per child */
	fflush(stdout);
	for (started = 0; started < procs; started++) {
		if ((pids[started] = fork()) < 0)
			break;
		if (pids[started] == 0) {
			close(res[0]);
			close(ready[0]);
			close(go[1]);
			g.ready = ready[1];
			g.go = go[0];
			g.passed = 0;
			(void)libp11_run(module, pin, key_id, ec, secs, &g,
			    &one);
			c = 'f';
			if (!g.passed && write(ready[1], &c, 1) != 1)
				one.ok = 0;
			/* one record is less than PIPE_BUF: written whole */
			_exit(write(res[1], &one, sizeof(one)) ==
			    (ssize_t)sizeof(one) && one.ok ? 0 : 1);
		}
		pfd.fd = ready[0];
		pfd.events = POLLIN;
		pfd.revents = 0;
		if (poll(&pfd, 1, READY_MS) != 1 || read(ready[0], &c, 1) != 1 ||
		    c != 'r') {
			/* one that hangs would hold the results open */
			kill(pids[started], SIGKILL);
			started++;
			fprintf(stderr, "bench_sign: process %lu of %lu did not "
			    "get ready to sign\n", started, procs);
			all.ok = 0;
			break;
		}
	}
	/* go: every child that is ready signs from now on */
	close(go[1]);
	go[1] = -1;
	close(res[1]);
	res[1] = -1;
	while (got < started && read(res[0], &one, sizeof(one)) ==
	    (ssize_t)sizeof(one)) {
		got++;
		all.ok &= one.ok;
		all.n += one.n;
		if (one.secs > all.secs)
			all.secs = one.secs;
	}
	for (i = 0; i < started; i++)
		if (waitpid(pids[i], &st, 0) != pids[i] || !WIFEXITED(st) ||
		    WEXITSTATUS(st) != 0)
			all.ok = 0;
	if (started < procs || got < procs || !all.ok) {
		fprintf(stderr, "bench_sign: %lu of %lu processes signed\n",
		    got, procs);
		goto out;
	}
	snprintf(label, sizeof(label), "%s, %lu processes (%s)", what, procs,
	    ec ? "P-256" : "RSA-3072");
	report(label, all.n, all.secs);
	r = 0;
 out:
	for (i = 0; i < 2; i++) {
		if (res[i] >= 0)
			close(res[i]);
		if (ready[i] >= 0)
			close(ready[i]);
		if (go[i] >= 0)
			close(go[i]);
	}
	return r;
}

/* `p11-kit server` exporting the token on DIR/p11-kit.sock. Its address,
 * the first line it prints, goes into P11_KIT_SERVER_ADDRESS, where
 * p11-kit-client.so looks for it; *out_fd is its stdout, kept open so a
 * later line does not meet a closed pipe. */
static int
p11kit_start(const char *dir, pid_t *pid, int *out_fd)
{
	char sock[128], line[512], uri[] = "pkcs11:token=" LABEL;
	char a0[] = "p11-kit", a1[] = "server", a2[] = "--foreground",
	    a3[] = "--provider", a4[] = MODULE, a5[] = "--name";
	char *args[] = { a0, a1, a2, a3, a4, a5, sock, uri, NULL };
	const char *pre = "P11_KIT_SERVER_ADDRESS=";
	posix_spawn_file_actions_t fa;
	struct pollfd pfd;
	size_t len = 0;
	ssize_t n;
	double t0 = now();
	char *end;
	int fds[2] = { -1, -1 }, r = -1;

	*pid = -1;
	*out_fd = -1;
	snprintf(sock, sizeof(sock), "%s/p11-kit.sock", dir);
	if (pipe2(fds, O_CLOEXEC) != 0)
		return -1;
	if (posix_spawn_file_actions_init(&fa) != 0)
		goto out;
	if (posix_spawn_file_actions_adddup2(&fa, fds[1], 1) != 0 ||
	    posix_spawnp(pid, args[0], &fa, NULL, args, environ) != 0) {
		fprintf(stderr, "bench_sign: cannot start p11-kit server "
		    "(package p11-kit)\n");
		*pid = -1;
		posix_spawn_file_actions_destroy(&fa);
		goto out;
	}
	posix_spawn_file_actions_destroy(&fa);
	close(fds[1]);
	fds[1] = -1;
	pfd.fd = fds[0];
	pfd.events = POLLIN;
	while (memchr(line, '\n', len) == NULL && len < sizeof(line) - 1 &&
	    (now() - t0) * 1000 < P11KIT_START_MS) {
		pfd.revents = 0;
		if (poll(&pfd, 1, 100) < 0 && errno != EINTR)
			goto out;
		if ((pfd.revents & (POLLIN | POLLHUP)) == 0)
			continue;
		if ((n = read(fds[0], line + len, sizeof(line) - 1 - len)) <= 0)
			break;
		len += (size_t)n;
	}
	line[len] = '\0';
	if (strncmp(line, pre, strlen(pre)) != 0 ||
	    (end = strchr(line, ';')) == NULL) {
		fprintf(stderr, "bench_sign: p11-kit server printed no address: "
		    "%.200s\n", line);
		goto out;
	}
	*end = '\0';
	if (setenv("P11_KIT_SERVER_ADDRESS", line + strlen(pre), 1) != 0)
		goto out;
	*out_fd = fds[0];
	fds[0] = -1;
	r = 0;
 out:
	if (fds[0] >= 0)
		close(fds[0]);
	if (fds[1] >= 0)
		close(fds[1]);
	return r;
}

static void
p11kit_stop(pid_t pid, int fd)
{
	int st;

	if (pid > 0) {
		kill(pid, SIGTERM);
		(void)waitpid(pid, &st, 0);
	}
	if (fd >= 0)
		close(fd);
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

static int
usage(void)
{
	fprintf(stderr, "usage: bench_sign [seconds] [keyholder] "
	    "[rsa3072|p256] [--procs N] [--p11kit]\n");
	return 2;
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
	const char *khpath = SIGNET_KEYHOLDER_PATH;
	char a0[] = "softhsm2-util", a1[] = "--init-token", a2[] = "--free",
	    a3[] = "--label", a4[] = LABEL, a5[] = "--pin", a7[] = "--so-pin";
	char *init[] = { a0, a1, a2, a3, a4, a5, pin, a7, so_pin, NULL };
	char *initenv[] = { envconf, NULL };
	struct kh_spawn_opts o = { 0 };
	struct kh_key_info k;
	struct kh *kh = NULL;
	const char *pos[3] = { NULL, NULL, NULL };
	unsigned long procs = 1;
	double secs = 5;
	pid_t pid, server = -1;
	char *end;
	int i, npos = 0, p11kit = 0, server_fd = -1, st, e, ec, r = 1;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--p11kit") == 0) {
			p11kit = 1;
		} else if (strcmp(argv[i], "--procs") == 0 && i + 1 < argc) {
			errno = 0;
			procs = strtoul(argv[++i], &end, 10);
			if (errno != 0 || *end != '\0' || procs < 1 ||
			    procs > MAX_PROCS)
				return usage();
		} else if (npos < 3 && argv[i][0] != '-') {
			pos[npos++] = argv[i];
		} else {
			return usage();
		}
	}
	if (pos[0] != NULL) {
		errno = 0;
		secs = strtod(pos[0], &end);
		if (errno != 0 || *end != '\0' || secs <= 0 || secs > 3600)
			return usage();
	}
	if (pos[1] != NULL)
		khpath = pos[1];
	if (pos[2] != NULL && strcmp(pos[2], "rsa3072") != 0 &&
	    strcmp(pos[2], "p256") != 0)
		return usage();
	ec = pos[2] != NULL && strcmp(pos[2], "p256") == 0;
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
	printf("%s key %s in SoftHSM2, SHA-256 digests, %g s each%s\n",
	    ec ? "P-256" : "RSA-3072", k.id, secs,
	    p11kit ? ", through p11-kit's server and p11-kit-client.so" : "");
	if (p11kit) {
		if (p11kit_start(dir, &server, &server_fd) != 0 ||
		    bench_libp11(P11KIT_CLIENT, "p11-kit-client", pin, k.id, ec,
		    secs, 1) != 0 || (procs > 1 &&
		    bench_libp11(P11KIT_CLIENT, "p11-kit-client", pin, k.id, ec,
		    secs, procs) != 0))
			goto out;
		r = 0;
		goto out;
	}
	if (bench_libp11(MODULE, "libp11 in-process", pin, k.id, ec, secs,
	    1) != 0 || (procs > 1 && bench_libp11(MODULE, "libp11", pin, k.id,
	    ec, secs, procs) != 0))
		goto out;
	if (ec ? bench_kh(kh, k.id, KH_MECH_ECDSA, "keyholder kh_sign ECDSA",
	    secs) != 0 : (bench_kh(kh, k.id, KH_MECH_RSA_PKCS1,
	    "keyholder kh_sign PKCS#1 v1.5", secs) != 0 ||
	    bench_kh(kh, k.id, KH_MECH_RSA_PSS,
	    "keyholder kh_sign PSS", secs) != 0))
		goto out;
	r = 0;
 out:
	p11kit_stop(server, server_fd);
	kh_free(kh);
	nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	return r;
}
