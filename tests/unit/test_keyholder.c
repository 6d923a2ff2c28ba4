/* The real signet-keyholder against a fresh SoftHSM2 token: key
 * generation, listing, every signing mechanism verified with OpenSSL,
 * remote keys (rkey) under concurrent use, the PIN file checks, the locked
 * start and LOGIN, and the keyholder leaving on protocol violations.
 * SIGNET_KEYHOLDER names the executable (set by meson). */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>

#include "khclient.h"
#include "khjournal.h"
#include "khproto.h"
#include "rkey.h"
#include "token_fixture.h"

#define SOFTHSM_MODULE	"/usr/lib/softhsm/libsofthsm2.so"
/* what every test signature is for */
#define RQ_ID	"test-request"
#define RQ	KH_PURPOSE_REQUEST, RQ_ID

static struct {
	struct kh_key_info rsa, ec;
} K;

static int
group_setup(void **state)
{
	(void)state;
	return token_fx_setup("/tmp/signet-kh-XXXXXX", "keyholder/journal");
}

static int
group_teardown(void **state)
{
	(void)state;
	return token_fx_teardown();
}

static struct kh *
spawn_with(const char *pin_file, const char *journal, bool no_generate)
{
	struct kh_spawn_opts o = {
		.path = T.keyholder,
		.module = T.module,
		.token_label = "signet-test",
		.pin_file = pin_file,
		.env = T.env,
		.journal = journal,
		.no_generate = no_generate,
	};
	struct kh *kh = NULL;

	assert_int_equal(kh_spawn(&o, &kh), 0);
	assert_non_null(kh);
	return kh;
}

static struct kh *
spawn(const char *pin_file)
{
	return spawn_with(pin_file, T.journal, false);
}

/* The keyholder's exit status, once it has gone. */
static int
exit_status(struct kh *kh)
{
	int st;

	assert_int_equal(waitpid(kh_pid(kh), &st, 0), kh_pid(kh));
	assert_true(WIFEXITED(st));
	return WEXITSTATUS(st);
}

static void
sha256(const void *msg, size_t n, uint8_t d[32])
{
	unsigned int len;

	assert_int_equal(EVP_Digest(msg, n, d, &len, EVP_sha256(), NULL), 1);
	assert_int_equal(len, 32);
}

static int
verify(EVP_PKEY *pub, int mech, const uint8_t *d, size_t dlen,
    const uint8_t *sig, size_t siglen)
{
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(pub, NULL);
	int ok;

	assert_non_null(ctx);
	assert_int_equal(EVP_PKEY_verify_init(ctx), 1);
	assert_true(EVP_PKEY_CTX_set_signature_md(ctx, EVP_sha256()) > 0);
	if (mech == KH_MECH_RSA_PKCS1)
		assert_true(EVP_PKEY_CTX_set_rsa_padding(ctx,
		    RSA_PKCS1_PADDING) > 0);
	if (mech == KH_MECH_RSA_PSS) {
		assert_true(EVP_PKEY_CTX_set_rsa_padding(ctx,
		    RSA_PKCS1_PSS_PADDING) > 0);
		/* exactly the digest length, not "whatever was used" */
		assert_true(EVP_PKEY_CTX_set_rsa_pss_saltlen(ctx, 32) > 0);
		assert_true(EVP_PKEY_CTX_set_rsa_mgf1_md(ctx,
		    EVP_sha256()) > 0);
	}
	ok = EVP_PKEY_verify(ctx, sig, siglen, d, dlen);
	EVP_PKEY_CTX_free(ctx);
	return ok;
}

static void
t_generate_list_sign(void **state)
{
	struct kh_key_info *keys = NULL, k;
	struct kh_status st;
	struct kh *kh;
	EVP_PKEY *rpub = NULL, *epub = NULL, *none = NULL;
	uint8_t d[32], sig[KH_MAX_SIG];
	char upper[KH_KEY_ID_HEX + 1];
	size_t n, i, siglen;
	int found = 0;

	(void)state;
	kh = spawn(T.pin_file);
	assert_int_equal(kh_status(kh, &st), 0);
	assert_true(st.present);
	assert_true(st.logged_in);
	assert_string_equal(st.label, "signet-test");
	assert_int_equal(st.key_count, 0);

	assert_int_equal(kh_generate(kh, "rsa-test", KH_KEY_RSA, 3072, "admin",
	    &K.rsa), 0);
	assert_int_equal(K.rsa.type, KH_KEY_RSA);
	assert_int_equal(K.rsa.bits, 3072);
	assert_int_equal(strlen(K.rsa.id), 2 * KH_GEN_ID_LEN);
	assert_int_equal(kh_generate(kh, "ec-test", KH_KEY_EC, 256, "admin",
	    &K.ec), 0);
	assert_int_equal(K.ec.type, KH_KEY_EC);
	assert_int_equal(K.ec.bits, 256);
	assert_string_not_equal(K.rsa.id, K.ec.id);
	/* refused here, never sent */
	assert_int_equal(kh_generate(kh, "x", KH_KEY_RSA, 1024, "admin", &k),
	    SIGNET_ERR_INVALID);
	assert_int_equal(kh_generate(kh, "a\nb", KH_KEY_EC, 256, "admin", &k),
	    SIGNET_ERR_INVALID);

	assert_int_equal(kh_list_keys(kh, &keys, &n), 0);
	assert_int_equal(n, 2);
	for (i = 0; i < n; i++) {
		if (strcmp(keys[i].id, K.rsa.id) == 0 &&
		    strcmp(keys[i].label, "rsa-test") == 0 &&
		    keys[i].type == KH_KEY_RSA && keys[i].bits == 3072)
			found |= 1;
		if (strcmp(keys[i].id, K.ec.id) == 0 &&
		    strcmp(keys[i].label, "ec-test") == 0 &&
		    keys[i].type == KH_KEY_EC && keys[i].bits == 256)
			found |= 2;
	}
	free(keys);
	assert_int_equal(found, 3);
	assert_int_equal(kh_status(kh, &st), 0);
	assert_int_equal(st.key_count, 2);

	assert_int_equal(kh_find_key(kh, "ec-test", &k), 0);
	assert_string_equal(k.id, K.ec.id);
	for (i = 0; K.rsa.id[i] != '\0'; i++)
		upper[i] = (char)(K.rsa.id[i] >= 'a' ? K.rsa.id[i] - 32 :
		    K.rsa.id[i]);
	upper[i] = '\0';
	assert_int_equal(kh_find_key(kh, upper, &k), 0);
	assert_string_equal(k.label, "rsa-test");
	assert_int_equal(kh_find_key(kh, "no-such-key", &k),
	    SIGNET_ERR_NOT_FOUND);

	assert_int_equal(kh_public_key(kh, K.rsa.id, &rpub), 0);
	assert_int_equal(EVP_PKEY_get_bits(rpub), 3072);
	assert_int_equal(kh_public_key(kh, K.ec.id, &epub), 0);
	assert_int_equal(EVP_PKEY_get_base_id(epub), EVP_PKEY_EC);

	sha256("signet", 6, d);
	siglen = sizeof(sig);
	assert_int_equal(kh_sign(kh, K.rsa.id, KH_MECH_RSA_PKCS1,
	    KH_HASH_SHA256, d, 32, RQ, sig, &siglen), 0);
	assert_int_equal(siglen, 384);
	assert_int_equal(verify(rpub, KH_MECH_RSA_PKCS1, d, 32, sig, siglen),
	    1);
	sig[10] ^= 1;
	assert_int_not_equal(verify(rpub, KH_MECH_RSA_PKCS1, d, 32, sig,
	    siglen), 1);

	siglen = sizeof(sig);
	assert_int_equal(kh_sign(kh, K.rsa.id, KH_MECH_RSA_PSS,
	    KH_HASH_SHA256, d, 32, RQ, sig, &siglen), 0);
	assert_int_equal(verify(rpub, KH_MECH_RSA_PSS, d, 32, sig, siglen), 1);

	siglen = sizeof(sig);
	assert_int_equal(kh_sign(kh, K.ec.id, KH_MECH_ECDSA, KH_HASH_SHA256,
	    d, 32, RQ, sig, &siglen), 0);
	assert_true(siglen >= 8 && siglen <= 72);
	assert_int_equal(sig[0], 0x30);		/* DER SEQUENCE */
	assert_int_equal(verify(epub, KH_MECH_ECDSA, d, 32, sig, siglen), 1);

	/* ordinary failures: the keyholder answers and stays */
	siglen = sizeof(sig);
	assert_int_equal(kh_sign(kh, K.rsa.id, KH_MECH_ECDSA, KH_HASH_SHA256,
	    d, 32, RQ, sig, &siglen), SIGNET_ERR_INVALID);
	assert_int_equal(kh_sign(kh, K.ec.id, KH_MECH_RSA_PSS, KH_HASH_SHA256,
	    d, 32, RQ, sig, &siglen), SIGNET_ERR_INVALID);
	assert_int_equal(kh_sign(kh, "00ff", KH_MECH_ECDSA, KH_HASH_SHA256,
	    d, 32, RQ, sig, &siglen), SIGNET_ERR_NOT_FOUND);
	assert_int_equal(kh_public_key(kh, "00ff", &none),
	    SIGNET_ERR_NOT_FOUND);
	assert_null(none);
	/* caller mistakes never reach the keyholder */
	assert_int_equal(kh_sign(kh, K.ec.id, KH_MECH_ECDSA, KH_HASH_SHA384,
	    d, 32, RQ, sig, &siglen), SIGNET_ERR_INVALID);
	siglen = 16;
	assert_int_equal(kh_sign(kh, K.rsa.id, KH_MECH_RSA_PKCS1,
	    KH_HASH_SHA256, d, 32, RQ, sig, &siglen), SIGNET_ERR_TOO_LARGE);
	assert_int_equal(kh_status(kh, &st), 0);

	EVP_PKEY_free(rpub);
	EVP_PKEY_free(epub);
	kh_free(kh);
}

/* signetd's environment must not reach the keyholder. */
static void
t_environment(void **state)
{
	char path[64], buf[4096];
	struct kh_status st;
	struct kh *kh;
	size_t i, off;
	ssize_t n;
	int fd;

	(void)state;
	setenv("SIGNET_TEST_SECRET", "leak", 1);
	kh = spawn(T.pin_file);
	assert_int_equal(kh_status(kh, &st), 0);
	snprintf(path, sizeof(path), "/proc/%d/environ", kh_pid(kh));
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) >= 0) {
		n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (n > 0) {
			/* exactly the entries given, in order, nothing else */
			for (i = 0, off = 0; T.env[i] != NULL; i++) {
				assert_true(off < (size_t)n);
				assert_string_equal(buf + off, T.env[i]);
				off += strlen(T.env[i]) + 1;
			}
			assert_int_equal(off, (size_t)n);
		}
	}
	unsetenv("SIGNET_TEST_SECRET");
	kh_free(kh);
}

struct worker {
	EVP_PKEY *key;
	EVP_PKEY *pub;
	int ok;
};

static int
digest_sign_verify(EVP_PKEY *key, EVP_PKEY *pub, const char *msg)
{
	EVP_MD_CTX *mc = EVP_MD_CTX_new();
	uint8_t sig[KH_MAX_SIG];
	size_t siglen = sizeof(sig);
	int ok = 0;

	if (mc == NULL)
		return 0;
	if (EVP_DigestSignInit(mc, NULL, EVP_sha256(), NULL, key) != 1 ||
	    EVP_DigestSign(mc, sig, &siglen, (const uint8_t *)msg,
	    strlen(msg)) != 1)
		goto out;
	EVP_MD_CTX_free(mc);
	if ((mc = EVP_MD_CTX_new()) == NULL)
		goto out;
	if (EVP_DigestVerifyInit(mc, NULL, EVP_sha256(), NULL, pub) != 1 ||
	    EVP_DigestVerify(mc, sig, siglen, (const uint8_t *)msg,
	    strlen(msg)) != 1)
		goto out;
	ok = 1;
 out:
	EVP_MD_CTX_free(mc);
	return ok;
}

static void *
worker_main(void *arg)
{
	struct worker *w = arg;
	char msg[64];
	int i;

	w->ok = 1;
	rkey_bind_request(RQ_ID);
	for (i = 0; i < 5 && w->ok; i++) {
		snprintf(msg, sizeof(msg), "message %d from %p", i, arg);
		w->ok = digest_sign_verify(w->key, w->pub, msg);
	}
	return NULL;
}

static void
t_rkey(void **state)
{
	struct worker w[4];
	pthread_t th[4];
	EVP_PKEY *rk = NULL, *ek = NULL, *rpub = NULL, *epub = NULL;
	struct kh *kh;
	int i;

	(void)state;
	assert_true(K.rsa.id[0] != '\0');
	kh = spawn(T.pin_file);
	assert_int_equal(rkey_load(kh, K.rsa.id, &rk), 0);
	assert_int_equal(rkey_load(kh, K.ec.id, &ek), 0);
	assert_int_equal(rkey_load(kh, "00ff", &rpub), SIGNET_ERR_NOT_FOUND);
	assert_int_equal(kh_public_key(kh, K.rsa.id, &rpub), 0);
	assert_int_equal(kh_public_key(kh, K.ec.id, &epub), 0);
	/* the remote key is the token's key */
	assert_int_equal(EVP_PKEY_eq(rk, rpub), 1);
	assert_int_equal(EVP_PKEY_eq(ek, epub), 1);
	/* no request bound to this thread: no signature is asked for */
	rkey_bind_request(NULL);
	assert_false(digest_sign_verify(rk, rpub, "hello"));
	assert_false(digest_sign_verify(ek, epub, "hello"));
	rkey_bind_request(RQ_ID);
	assert_true(digest_sign_verify(rk, rpub, "hello"));
	assert_true(digest_sign_verify(ek, epub, "hello"));
	rkey_bind_request(NULL);

	/* workers share one keyholder */
	for (i = 0; i < 4; i++) {
		w[i].key = i % 2 ? ek : rk;
		w[i].pub = i % 2 ? epub : rpub;
		w[i].ok = 0;
		assert_int_equal(pthread_create(&th[i], NULL, worker_main,
		    &w[i]), 0);
	}
	for (i = 0; i < 4; i++) {
		assert_int_equal(pthread_join(th[i], NULL), 0);
		assert_true(w[i].ok);
	}
	EVP_PKEY_free(rk);
	EVP_PKEY_free(ek);
	EVP_PKEY_free(rpub);
	EVP_PKEY_free(epub);
	kh_free(kh);
}

/* A whole frame around body[0..n) with the given type and request id
 * 0x7fffffff, which kh_* do not reach in a test. */
static size_t
frame(uint8_t *out, uint8_t type, const void *body, size_t n)
{
	uint32_t len = (uint32_t)n + KH_MSG_HDR;

	out[0] = (uint8_t)(len >> 24);
	out[1] = (uint8_t)(len >> 16);
	out[2] = (uint8_t)(len >> 8);
	out[3] = (uint8_t)len;
	out[4] = type;
	out[5] = 0x7f;
	out[6] = out[7] = out[8] = 0xff;
	if (n > 0)
		memcpy(out + 9, body, n);
	return n + 9;
}

static void
expect_exit_on(const uint8_t *f, size_t n)
{
	struct kh_status st;
	struct kh *kh = spawn(T.pin_file);

	assert_int_equal(kh_status(kh, &st), 0);
	assert_int_equal(kh_send_raw(kh, f, n), 0);
	assert_int_equal(exit_status(kh), 1);
	assert_int_equal(kh_status(kh, &st), SIGNET_ERR_KEYHOLDER);
	/* and stays unusable */
	assert_int_equal(kh_status(kh, &st), SIGNET_ERR_KEYHOLDER);
	kh_free(kh);
}

static void
t_violations(void **state)
{
	uint8_t body[128], f[256], d[64];
	struct wbuf b;
	size_t n;

	(void)state;
	memset(d, 3, sizeof(d));
	/* a SHA-256 SIGN with a 20-byte digest */
	wbuf_init(&b, sizeof(body));
	assert_int_equal(wbuf_cstr(&b, K.rsa.id), 0);
	assert_int_equal(wbuf_u8(&b, KH_MECH_RSA_PKCS1), 0);
	assert_int_equal(wbuf_u8(&b, KH_HASH_SHA256), 0);
	assert_int_equal(wbuf_blob(&b, d, 20), 0);
	assert_int_equal(wbuf_u8(&b, KH_PURPOSE_REQUEST), 0);
	assert_int_equal(wbuf_cstr(&b, RQ_ID), 0);
	n = frame(f, KH_MSG_SIGN, b.buf, b.len);
	expect_exit_on(f, n);
	/* ECDSA with a SHA-384 digest said to be SHA-512 */
	wbuf_reset(&b);
	assert_int_equal(wbuf_cstr(&b, K.ec.id), 0);
	assert_int_equal(wbuf_u8(&b, KH_MECH_ECDSA), 0);
	assert_int_equal(wbuf_u8(&b, KH_HASH_SHA512), 0);
	assert_int_equal(wbuf_blob(&b, d, 48), 0);
	assert_int_equal(wbuf_u8(&b, KH_PURPOSE_REQUEST), 0);
	assert_int_equal(wbuf_cstr(&b, RQ_ID), 0);
	n = frame(f, KH_MSG_SIGN, b.buf, b.len);
	expect_exit_on(f, n);
	wbuf_free(&b);
	/* unknown type, a reply type, trailing bytes */
	n = frame(f, 0x42, NULL, 0);
	expect_exit_on(f, n);
	n = frame(f, KH_MSG_STATUS | KH_MSG_REPLY, NULL, 0);
	expect_exit_on(f, n);
	n = frame(f, KH_MSG_STATUS, "x", 1);
	expect_exit_on(f, n);
	/* LOGIN_FD without the descriptor it is about */
	n = frame(f, KH_MSG_LOGIN_FD, NULL, 0);
	expect_exit_on(f, n);
	/* a length past the maximum: nothing more is read */
	memcpy(f, "\x00\x00\x40\x01\x01", 5);
	expect_exit_on(f, 5);
	/* an empty frame, a type without its request id */
	memcpy(f, "\x00\x00\x00\x00", 4);
	expect_exit_on(f, 4);
	memcpy(f, "\x00\x00\x00\x01\x01", 5);
	expect_exit_on(f, 5);
	/* a request with the id of a SIGN in flight: its answers could not
	 * be told apart. RSA signatures take long enough that some of the
	 * copies come while one is being signed. */
	wbuf_init(&b, sizeof(body));
	assert_int_equal(wbuf_cstr(&b, K.rsa.id), 0);
	assert_int_equal(wbuf_u8(&b, KH_MECH_RSA_PKCS1), 0);
	assert_int_equal(wbuf_u8(&b, KH_HASH_SHA256), 0);
	assert_int_equal(wbuf_blob(&b, d, 32), 0);
	assert_int_equal(wbuf_u8(&b, KH_PURPOSE_REQUEST), 0);
	assert_int_equal(wbuf_cstr(&b, RQ_ID), 0);
	n = frame(f, KH_MSG_SIGN, b.buf, b.len);
	wbuf_free(&b);
	wbuf_init(&b, 32 * n);
	for (int i = 0; i < 32; i++)
		assert_int_equal(wbuf_add(&b, f, n), 0);
	expect_exit_on(b.buf, b.len);
	wbuf_free(&b);
}

static void
t_pin_file_mode(void **state)
{
	char path[160], text[64];
	struct kh_status st;
	struct kh *kh;

	(void)state;
	snprintf(path, sizeof(path), "%s/pin-0644", T.dir);
	snprintf(text, sizeof(text), "%s\n", T.pin);
	token_fx_write_file(path, text, 0644);
	kh = spawn(path);
	assert_int_equal(exit_status(kh), 1);
	assert_int_equal(kh_status(kh, &st), SIGNET_ERR_KEYHOLDER);
	kh_free(kh);

	snprintf(path, sizeof(path), "%s/pin-0640", T.dir);
	token_fx_write_file(path, text, 0640);
	kh = spawn(path);
	assert_int_equal(exit_status(kh), 1);
	kh_free(kh);

	snprintf(path, sizeof(path), "%s/no-such-pin", T.dir);
	kh = spawn(path);
	assert_int_equal(exit_status(kh), 1);
	kh_free(kh);
}

static void
t_locked_login(void **state)
{
	struct kh_key_info *keys = NULL;
	struct kh_status st;
	struct kh *kh;
	uint8_t d[32], sig[KH_MAX_SIG];
	size_t siglen = sizeof(sig), n;
	EVP_PKEY *pub = NULL;

	(void)state;
	kh = spawn(NULL);
	assert_int_equal(kh_status(kh, &st), 0);
	assert_true(st.present);
	assert_false(st.logged_in);
	sha256("locked", 6, d);
	assert_int_equal(kh_sign(kh, K.ec.id, KH_MECH_ECDSA, KH_HASH_SHA256,
	    d, 32, RQ, sig, &siglen), SIGNET_ERR_TOKEN_LOCKED);
	assert_int_equal(kh_list_keys(kh, &keys, &n), SIGNET_ERR_TOKEN_LOCKED);
	assert_int_equal(kh_public_key(kh, K.ec.id, &pub),
	    SIGNET_ERR_TOKEN_LOCKED);

	assert_int_equal(kh_login(kh, "wrong-pin", 9),
	    SIGNET_ERR_PIN_INCORRECT);
	assert_int_equal(kh_status(kh, &st), 0);
	assert_false(st.logged_in);
	assert_int_equal(kh_login(kh, T.pin, strlen(T.pin)), 0);
	assert_int_equal(kh_status(kh, &st), 0);
	assert_true(st.logged_in);
	assert_int_equal(st.key_count, 2);
	/* a second LOGIN is refused here, before the keyholder would take
	 * it for a violation */
	assert_int_equal(kh_login(kh, T.pin, strlen(T.pin)),
	    SIGNET_ERR_CONFLICT);

	siglen = sizeof(sig);
	assert_int_equal(kh_sign(kh, K.ec.id, KH_MECH_ECDSA, KH_HASH_SHA256,
	    d, 32, RQ, sig, &siglen), 0);
	assert_int_equal(kh_public_key(kh, K.ec.id, &pub), 0);
	assert_int_equal(verify(pub, KH_MECH_ECDSA, d, 32, sig, siglen), 1);
	EVP_PKEY_free(pub);
	kh_free(kh);
}


/* The console's PIN frame: u32 length, then the bytes. */
static void
send_pin_frame(int fd, const char *pin, size_t n)
{
	uint8_t f[256];

	assert_true(n + 4 <= sizeof(f));
	f[0] = (uint8_t)(n >> 24);
	f[1] = (uint8_t)(n >> 16);
	f[2] = (uint8_t)(n >> 8);
	f[3] = (uint8_t)n;
	memcpy(f + 4, pin, n);
	assert_int_equal(write(fd, f, n + 4), (ssize_t)(n + 4));
}

/* The keyholder's answer to the console, as text. */
static void
read_answer(int fd, char *out, size_t cap)
{
	uint8_t h[4];
	size_t n;

	assert_int_equal(read(fd, h, 4), 4);
	n = (size_t)h[0] << 24 | (size_t)h[1] << 16 | (size_t)h[2] << 8 | h[3];
	assert_true(n > 0 && n < cap && n <= KH_MAX_CONSOLE_ANSWER);
	assert_int_equal(read(fd, out, n), (ssize_t)n);
	out[n] = '\0';
}

static void
t_login_fd(void **state)
{
	struct kh_login_result res;
	struct kh_status st;
	struct kh *kh;
	char ans[KH_MAX_CONSOLE_ANSWER + 1], rest[8];
	int sv[2], p[2];

	(void)state;
	kh = spawn(NULL);
	/* sv[0] is the console, sv[1] what signetd hands over */
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	send_pin_frame(sv[0], "wrong-pin", 9);
	assert_int_equal(kh_login_fd(kh, sv[1], &res), 0);
	assert_int_equal(res.code, SIGNET_ERR_PIN_INCORRECT);
	assert_true(res.answered);
	read_answer(sv[0], ans, sizeof(ans));
	assert_non_null(strstr(ans, "\"ok\":false"));
	assert_non_null(strstr(ans, "\"error\":\"pin-incorrect\""));
	assert_null(strstr(ans, "wrong-pin"));
	assert_int_equal(kh_status(kh, &st), 0);
	assert_false(st.logged_in);
	/* the retry counter the token keeps is reported as it stands */
	assert_int_equal(res.flags, st.flags);

	/* the right PIN, with bytes after its frame: the keyholder reads
	 * the frame and nothing more, the rest is still for signetd */
	send_pin_frame(sv[0], T.pin, strlen(T.pin));
	assert_int_equal(write(sv[0], "next", 4), 4);
	assert_int_equal(kh_login_fd(kh, sv[1], &res), 0);
	assert_int_equal(res.code, 0);
	assert_true(res.answered);
	read_answer(sv[0], ans, sizeof(ans));
	assert_non_null(strstr(ans, "\"ok\":true"));
	assert_int_equal(read(sv[1], rest, 4), 4);
	assert_memory_equal(rest, "next", 4);
	assert_int_equal(kh_status(kh, &st), 0);
	assert_true(st.logged_in);
	close(sv[0]);
	close(sv[1]);
	kh_free(kh);

	kh = spawn(NULL);
	/* a length past the PIN limit is refused before anything is read */
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_int_equal(write(sv[0], "\x00\x00\x00\x81", 4), 4);
	assert_int_equal(kh_login_fd(kh, sv[1], &res), 0);
	assert_int_equal(res.code, SIGNET_ERR_INVALID);
	read_answer(sv[0], ans, sizeof(ans));
	assert_non_null(strstr(ans, "\"error\":\"invalid\""));
	close(sv[0]);
	close(sv[1]);
	/* a PIN with a NUL in it */
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	send_pin_frame(sv[0], "ab\0cd", 5);
	assert_int_equal(kh_login_fd(kh, sv[1], &res), 0);
	assert_int_equal(res.code, SIGNET_ERR_INVALID);
	close(sv[0]);
	close(sv[1]);
	/* the console hangs up before sending: no login, no answer */
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	close(sv[0]);
	assert_int_equal(kh_login_fd(kh, sv[1], &res), 0);
	assert_int_equal(res.code, SIGNET_ERR_UNAVAILABLE);
	assert_false(res.answered);
	close(sv[1]);
	/* the keyholder is still there and still locked */
	assert_int_equal(kh_status(kh, &st), 0);
	assert_false(st.logged_in);
	/* the client refuses what it cannot pass */
	assert_int_equal(kh_login_fd(kh, -1, &res), SIGNET_ERR_INVALID);
	kh_free(kh);

	/* a descriptor that is no unix stream socket is a violation */
	kh = spawn(NULL);
	assert_int_equal(pipe(p), 0);
	assert_int_equal(kh_login_fd(kh, p[0], &res), SIGNET_ERR_KEYHOLDER);
	assert_int_equal(exit_status(kh), 1);
	close(p[0]);
	close(p[1]);
	kh_free(kh);
}

/* Sends frame f to a keyholder in the state kh is in and expects it to
 * leave with status 1: a message in the wrong state is a violation. */
static void
expect_exit_in(struct kh *kh, const struct wbuf *f)
{
	struct kh_status st;

	assert_int_equal(kh_send_raw(kh, f->buf, f->len), 0);
	assert_int_equal(exit_status(kh), 1);
	assert_int_equal(kh_status(kh, &st), SIGNET_ERR_KEYHOLDER);
	kh_free(kh);
}

static void
t_states(void **state)
{
	struct kh_sign_req q;
	struct kh_gen_req g;
	struct kh_status st;
	struct wbuf f;
	struct kh *kh;
	uint8_t sig[KH_MAX_SIG];
	size_t siglen;

	(void)state;
	memset(&q, 0, sizeof(q));
	snprintf(q.key_id, sizeof(q.key_id), "%s", K.ec.id);
	q.mech = KH_MECH_ECDSA;
	q.hash = KH_HASH_SHA256;
	q.dlen = 32;
	q.purpose = KH_PURPOSE_REQUEST;
	snprintf(q.ref, sizeof(q.ref), "%s", RQ_ID);
	memset(&g, 0, sizeof(g));
	snprintf(g.label, sizeof(g.label), "state-test");
	g.type = KH_KEY_EC;
	g.bits = 256;
	g.origin = KH_GEN_BY_ADMIN;
	snprintf(g.admin, sizeof(g.admin), "admin");

	/* SIGN before LOGIN */
	kh = spawn(NULL);
	assert_int_equal(kh_status(kh, &st), 0);
	assert_false(st.logged_in);
	wbuf_init(&f, KH_MAX_FRAME);
	assert_int_equal(khproto_enc_sign_req(&f, &q), 0);
	expect_exit_in(kh, &f);
	/* GENERATE before LOGIN */
	kh = spawn(NULL);
	wbuf_reset(&f);
	assert_int_equal(khproto_enc_gen_req(&f, &g), 0);
	expect_exit_in(kh, &f);
	/* LOGIN while logged in (by the PIN file) */
	kh = spawn(T.pin_file);
	assert_int_equal(kh_status(kh, &st), 0);
	assert_true(st.logged_in);
	wbuf_reset(&f);
	assert_int_equal(khproto_enc_login_req(&f, T.pin, strlen(T.pin)), 0);
	expect_exit_in(kh, &f);
	/* LOGIN twice */
	kh = spawn(NULL);
	assert_int_equal(kh_login(kh, T.pin, strlen(T.pin)), 0);
	expect_exit_in(kh, &f);
	/* the same SIGN once logged in is answered */
	kh = spawn(NULL);
	assert_int_equal(kh_login(kh, T.pin, strlen(T.pin)), 0);
	siglen = sizeof(sig);
	assert_int_equal(kh_sign(kh, q.key_id, q.mech, q.hash, q.dgst,
	    q.dlen, q.purpose, q.ref, sig, &siglen), 0);
	assert_int_equal(kh_status(kh, &st), 0);
	kh_free(kh);
	wbuf_free(&f);
}

static void
t_generate_admin(void **state)
{
	uint8_t f[256];
	struct kh_key_info k;
	struct kh_status st;
	struct wbuf b;
	struct kh *kh;
	size_t n;

	(void)state;
	/* GENERATE without the administrator's flag, or without a name */
	wbuf_init(&b, 128);
	assert_int_equal(wbuf_cstr(&b, "gen-test"), 0);
	assert_int_equal(wbuf_u8(&b, KH_KEY_EC), 0);
	assert_int_equal(wbuf_u32(&b, 256), 0);
	n = frame(f, KH_MSG_GENERATE, b.buf, b.len);
	expect_exit_on(f, n);
	assert_int_equal(wbuf_u8(&b, 0), 0);
	assert_int_equal(wbuf_cstr(&b, "admin"), 0);
	n = frame(f, KH_MSG_GENERATE, b.buf, b.len);
	expect_exit_on(f, n);
	wbuf_reset(&b);
	assert_int_equal(wbuf_cstr(&b, "gen-test"), 0);
	assert_int_equal(wbuf_u8(&b, KH_KEY_EC), 0);
	assert_int_equal(wbuf_u32(&b, 256), 0);
	assert_int_equal(wbuf_u8(&b, KH_GEN_BY_ADMIN), 0);
	assert_int_equal(wbuf_cstr(&b, ""), 0);
	n = frame(f, KH_MSG_GENERATE, b.buf, b.len);
	expect_exit_on(f, n);
	wbuf_free(&b);

	kh = spawn(T.pin_file);
	assert_int_equal(kh_generate(kh, "gen-test", KH_KEY_EC, 256, NULL,
	    &k), SIGNET_ERR_INVALID);
	assert_int_equal(kh_generate(kh, "gen-test", KH_KEY_EC, 256, "",
	    &k), SIGNET_ERR_INVALID);
	kh_free(kh);
	/* generation switched off in the keyholder's configuration */
	kh = spawn_with(T.pin_file, T.journal, true);
	assert_int_equal(kh_generate(kh, "gen-test", KH_KEY_EC, 256, "admin",
	    &k), SIGNET_ERR_FORBIDDEN);
	assert_int_equal(kh_status(kh, &st), 0);
	assert_int_equal(st.key_count, 2);
	kh_free(kh);
}

static void
t_pin_cap(void **state)
{
	struct kh_login_result res;
	struct kh_status st;
	struct kh *kh;
	char ans[KH_MAX_CONSOLE_ANSWER + 1];
	int i, sv[2];

	(void)state;
	kh = spawn(NULL);
	for (i = 0; i < SIGNET_KH_MAX_PIN_FAILURES; i++)
		assert_int_equal(kh_login(kh, "wrong-pin", 9),
		    SIGNET_ERR_PIN_INCORRECT);
	/* the right PIN, too late: no further try reaches the token */
	assert_int_equal(kh_login(kh, T.pin, strlen(T.pin)),
	    SIGNET_ERR_FORBIDDEN);
	assert_int_equal(kh_status(kh, &st), 0);
	assert_false(st.logged_in);
	assert_int_equal(kh_login(kh, T.pin, strlen(T.pin)),
	    SIGNET_ERR_FORBIDDEN);
	kh_free(kh);

	/* the console's way counts the same, and the console is told */
	kh = spawn(NULL);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_int_equal(kh_login(kh, "wrong-pin", 9),
	    SIGNET_ERR_PIN_INCORRECT);
	for (i = 1; i < SIGNET_KH_MAX_PIN_FAILURES; i++) {
		send_pin_frame(sv[0], "wrong-pin", 9);
		assert_int_equal(kh_login_fd(kh, sv[1], &res), 0);
		assert_int_equal(res.code, SIGNET_ERR_PIN_INCORRECT);
		read_answer(sv[0], ans, sizeof(ans));
	}
	send_pin_frame(sv[0], T.pin, strlen(T.pin));
	assert_int_equal(kh_login_fd(kh, sv[1], &res), 0);
	assert_int_equal(res.code, SIGNET_ERR_FORBIDDEN);
	assert_true(res.answered);
	read_answer(sv[0], ans, sizeof(ans));
	assert_non_null(strstr(ans, "\"error\":\"forbidden\""));
	assert_int_equal(kh_status(kh, &st), 0);
	assert_false(st.logged_in);
	close(sv[0]);
	close(sv[1]);
	kh_free(kh);
	/* until the keyholder is started again */
	kh = spawn(NULL);
	assert_int_equal(kh_login(kh, "wrong-pin", 9),
	    SIGNET_ERR_PIN_INCORRECT);
	assert_int_equal(kh_login(kh, T.pin, strlen(T.pin)), 0);
	kh_free(kh);
}

struct jscan {
	int sign, generate, login_bad, capped, start;
	const char *digest;
	int digest_seen;
};

static void
jscan_line(uint64_t lineno, uint64_t seq, const char *line, size_t len,
    void *arg)
{
	struct jscan *s = arg;

	(void)lineno;
	(void)seq;
	(void)len;
	if (strstr(line, "\"op\":\"sign\"") != NULL &&
	    strstr(line, "\"ref\":\"" RQ_ID "\"") != NULL &&
	    strstr(line, "\"purpose\":\"request\"") != NULL)
		s->sign++;
	if (strstr(line, "\"op\":\"generate\"") != NULL &&
	    strstr(line, "\"admin\":\"admin\"") != NULL)
		s->generate++;
	if (strstr(line, "\"op\":\"login\"") != NULL &&
	    strstr(line, "\"result\":\"pin-incorrect\"") != NULL)
		s->login_bad++;
	if (strstr(line, "\"op\":\"login\"") != NULL &&
	    strstr(line, "\"result\":\"refused\"") != NULL)
		s->capped++;
	if (strstr(line, "\"op\":\"start\"") != NULL)
		s->start++;
	if (s->digest != NULL && strstr(line, s->digest) != NULL)
		s->digest_seen++;
}

static void
copy_file(const char *from, const char *to, const char *edit,
    const char *with)
{
	static char buf[1 << 20];
	char *p;
	FILE *f;
	size_t n;

	assert_non_null(f = fopen(from, "r"));
	n = fread(buf, 1, sizeof(buf) - 1, f);
	/* the whole journal, or the copy would not be one */
	assert_true(feof(f));
	fclose(f);
	buf[n] = '\0';
	if (edit != NULL) {
		assert_non_null(p = strstr(buf, edit));
		assert_int_equal(strlen(edit), strlen(with));
		memcpy(p, with, strlen(with));
	}
	token_fx_write_file(to, buf, 0600);
}

/* Signers of t_parallel: each signs its digests with one key, and the
 * test checks every signature after the threads are done. */
#define PAR_THREADS	8
#define PAR_SIGNS	12

struct par {
	struct kh *kh;
	const char *key_id;
	int mech;
	uint8_t d[PAR_SIGNS][32];
	uint8_t sig[PAR_SIGNS][KH_MAX_SIG];
	size_t siglen[PAR_SIGNS];
	int rc[PAR_SIGNS];
};

static void *
par_main(void *arg)
{
	struct par *p = arg;
	int i;

	for (i = 0; i < PAR_SIGNS; i++) {
		p->siglen[i] = sizeof(p->sig[i]);
		p->rc[i] = kh_sign(p->kh, p->key_id, p->mech, KH_HASH_SHA256,
		    p->d[i], 32, RQ, p->sig[i], &p->siglen[i]);
	}
	return NULL;
}

static void
t_parallel(void **state)
{
	static struct par p[PAR_THREADS];
	struct kh_spawn_opts o = {
		.path = T.keyholder,
		.module = T.module,
		.token_label = "signet-test",
		.pin_file = T.pin_file,
		.env = T.env,
		.journal = T.journal,
		.sessions = 3,
	};
	pthread_t th[PAR_THREADS];
	EVP_PKEY *rpub = NULL, *epub = NULL;
	struct kh_status st;
	char msg[64];
	struct kh *kh = NULL;
	int i, j;

	(void)state;
	o.sessions = SIGNET_KH_MAX_SESSIONS + 1;
	assert_int_equal(kh_spawn(&o, &kh), SIGNET_ERR_INVALID);
	o.sessions = 3;
	assert_int_equal(kh_spawn(&o, &kh), 0);
	assert_int_equal(kh_status(kh, &st), 0);
	assert_int_equal(st.sessions, 3);
	assert_int_equal(kh_public_key(kh, K.rsa.id, &rpub), 0);
	assert_int_equal(kh_public_key(kh, K.ec.id, &epub), 0);
	/* more requests in flight than sessions, on both kinds of key and
	 * with every mechanism; replies come back in whatever order */
	for (i = 0; i < PAR_THREADS; i++) {
		p[i].kh = kh;
		p[i].key_id = i % 4 == 3 ? K.rsa.id : i % 2 ? K.ec.id : K.rsa.id;
		p[i].mech = i % 4 == 3 ? KH_MECH_RSA_PSS : i % 2 ?
		    KH_MECH_ECDSA : KH_MECH_RSA_PKCS1;
		for (j = 0; j < PAR_SIGNS; j++) {
			snprintf(msg, sizeof(msg), "thread %d, digest %d", i, j);
			sha256(msg, strlen(msg), p[i].d[j]);
		}
		assert_int_equal(pthread_create(&th[i], NULL, par_main, &p[i]),
		    0);
	}
	/* the main thread's requests go on meanwhile */
	for (i = 0; i < 10; i++) {
		assert_int_equal(kh_status(kh, &st), 0);
		assert_true(st.logged_in);
	}
	for (i = 0; i < PAR_THREADS; i++)
		assert_int_equal(pthread_join(th[i], NULL), 0);
	for (i = 0; i < PAR_THREADS; i++) {
		for (j = 0; j < PAR_SIGNS; j++) {
			assert_int_equal(p[i].rc[j], 0);
			/* each reply went to its own request */
			assert_int_equal(verify(p[i].mech == KH_MECH_ECDSA ?
			    epub : rpub, p[i].mech, p[i].d[j], 32, p[i].sig[j],
			    p[i].siglen[j]), 1);
		}
	}
	/* far more signatures than fit in flight at once: every answered
	 * one gives its place back */
	for (i = 0; i < 3 * SIGNET_KH_MAX_INFLIGHT; i++) {
		p[0].siglen[0] = sizeof(p[0].sig[0]);
		assert_int_equal(kh_sign(kh, K.ec.id, KH_MECH_ECDSA,
		    KH_HASH_SHA256, p[0].d[0], 32, RQ, p[0].sig[0],
		    &p[0].siglen[0]), 0);
	}
	assert_int_equal(verify(epub, KH_MECH_ECDSA, p[0].d[0], 32,
	    p[0].sig[0], p[0].siglen[0]), 1);
	EVP_PKEY_free(rpub);
	EVP_PKEY_free(epub);
	kh_free(kh);
}

static void
t_journal(void **state)
{
	char path[192], dir[160], hex[65], edited[65], copy[192], rhex[65];
	struct jscan s;
	struct khj_walk_cb cb = { jscan_line, NULL, &s };
	struct kh *kh;
	uint8_t d[32], r[32], sig[KH_MAX_SIG];
	size_t siglen = sizeof(sig), i;
	uint64_t lines, breaks;
	char head[KHJ_HASH_HEX + 1];
	FILE *f;
	struct stat sb;

	(void)state;
	kh = spawn(T.pin_file);
	sha256("journaled", 9, d);
	for (i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", d[i]);
	assert_int_equal(kh_sign(kh, K.ec.id, KH_MECH_ECDSA, KH_HASH_SHA256,
	    d, 32, RQ, sig, &siglen), 0);
	/* refused before the token takes it (a mechanism that does not fit
	 * the key): no line, since no signature was attempted */
	sha256("refused", 7, r);
	for (i = 0; i < 32; i++)
		snprintf(rhex + 2 * i, 3, "%02x", r[i]);
	siglen = sizeof(sig);
	assert_int_equal(kh_sign(kh, K.rsa.id, KH_MECH_ECDSA, KH_HASH_SHA256,
	    r, 32, RQ, sig, &siglen), SIGNET_ERR_INVALID);
	kh_free(kh);
	/* the signature's line is in the middle: a start comes after it */
	kh = spawn(NULL);
	kh_free(kh);

	/* created private */
	assert_int_equal(stat(T.journal, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0700);
	snprintf(path, sizeof(path), "%s/%s", T.journal, KHJ_FILE);
	memset(&s, 0, sizeof(s));
	s.digest = hex;
	assert_non_null(f = fopen(path, "r"));
	assert_int_equal(khj_walk(f, &cb, &lines, &breaks, head), 0);
	fclose(f);
	assert_int_equal(breaks, 0);
	assert_true(lines > 10);
	assert_true(s.sign > 5);
	assert_int_equal(s.digest_seen, 1);
	memset(&s, 0, sizeof(s));
	s.digest = rhex;
	assert_non_null(f = fopen(path, "r"));
	assert_int_equal(khj_walk(f, &cb, &lines, &breaks, head), 0);
	fclose(f);
	assert_int_equal(s.digest_seen, 0);
	/* the two keys of t_generate_list_sign; the refused one too */
	assert_true(s.generate >= 3);
	assert_true(s.login_bad >= SIGNET_KH_MAX_PIN_FAILURES);
	assert_true(s.capped >= 1);
	assert_true(s.start > 5);

	/* one byte changed in the middle breaks the chain there */
	snprintf(dir, sizeof(dir), "%s/edited", T.dir);
	assert_int_equal(mkdir(dir, 0700), 0);
	snprintf(copy, sizeof(copy), "%s/%s", dir, KHJ_FILE);
	memcpy(edited, hex, sizeof(edited));
	edited[0] = edited[0] == 'a' ? 'b' : 'a';
	copy_file(path, copy, hex, edited);
	memset(&s, 0, sizeof(s));
	assert_non_null(f = fopen(copy, "r"));
	assert_int_equal(khj_walk(f, &cb, &lines, &breaks, head), 0);
	fclose(f);
	assert_int_equal(breaks, 1);
	/* and a keyholder does not extend a broken journal */
	kh = spawn_with(T.pin_file, dir, false);
	assert_int_equal(exit_status(kh), 1);
	kh_free(kh);

	/* a journal directory others may write is refused */
	snprintf(dir, sizeof(dir), "%s/shared", T.dir);
	assert_int_equal(mkdir(dir, 0700), 0);
	assert_int_equal(chmod(dir, 0770), 0);
	kh = spawn_with(T.pin_file, dir, false);
	assert_int_equal(exit_status(kh), 1);
	kh_free(kh);
	/* and a journal file others may write */
	assert_int_equal(chmod(dir, 0700), 0);
	snprintf(copy, sizeof(copy), "%s/%s", dir, KHJ_FILE);
	token_fx_write_file(copy, "", 0622);
	assert_int_equal(chmod(copy, 0622), 0);
	kh = spawn_with(T.pin_file, dir, false);
	assert_int_equal(exit_status(kh), 1);
	kh_free(kh);
}

/* A signature the journal cannot hold is not handed out: the keyholder
 * is started with a file size limit (inherited across exec, with SIGXFSZ
 * ignored) that leaves room for its start and login lines only. */
static void
t_journal_full(void **state)
{
	struct rlimit old, lim;
	struct kh_status st;
	struct kh *kh;
	uint8_t d[32], sig[KH_MAX_SIG];
	size_t siglen = sizeof(sig);
	char dir[160];

	(void)state;
	snprintf(dir, sizeof(dir), "%s/full", T.dir);
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
	lim = old;
	lim.rlim_cur = 400;
	signal(SIGXFSZ, SIG_IGN);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
	kh = spawn_with(T.pin_file, dir, false);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	signal(SIGXFSZ, SIG_DFL);
	assert_int_equal(kh_status(kh, &st), 0);
	assert_true(st.logged_in);
	sha256("no room", 7, d);
	assert_int_equal(kh_sign(kh, K.ec.id, KH_MECH_ECDSA, KH_HASH_SHA256,
	    d, 32, RQ, sig, &siglen), SIGNET_ERR_IO);
	/* and none after it: the journal's end is not known any more */
	siglen = sizeof(sig);
	assert_int_equal(kh_sign(kh, K.ec.id, KH_MECH_ECDSA, KH_HASH_SHA256,
	    d, 32, RQ, sig, &siglen), SIGNET_ERR_IO);
	kh_free(kh);
}

/* khj_write and khj_sync from several threads, with the flusher that
 * starts each line's fsync as soon as it is written: every line is on disk
 * when khj_sync returns, in one unbroken chain, and fsyncs are shared. */
struct jwriter {
	struct khj *j;
	int n, failed;
};

static void *
jwriter_run(void *arg)
{
	struct jwriter *w = arg;
	uint64_t ticket, seq, last = 0;
	int i;

	for (i = 0; i < w->n; i++) {
		if (khj_write(w->j, "\"op\":\"test\"", &ticket, &seq) != 0 ||
		    ticket == 0 || seq <= last ||
		    khj_sync(w->j, ticket) != 0)
			w->failed++;
		last = seq;
	}
	return NULL;
}

static void
t_journal_overlap(void **state)
{
	struct jwriter w[4];
	pthread_t th[4];
	struct jscan s;
	struct khj_walk_cb cb = { jscan_line, NULL, &s };
	struct khj *j;
	char dir[160], path[192], err[256], head[KHJ_HASH_HEX + 1];
	uint64_t lines, breaks, ticket, seq, flushes;
	size_t i;
	FILE *f;

	(void)state;
	snprintf(dir, sizeof(dir), "%s/overlap", T.dir);
	assert_int_equal(khj_open(dir, &j, err, sizeof(err)), 0);
	/* without the flusher, khj_sync does the fsync itself */
	assert_int_equal(khj_write(j, "\"op\":\"test\"", &ticket, &seq), 0);
	assert_int_equal(seq, 1);
	assert_int_equal(khj_sync(j, ticket), 0);
	assert_int_equal(khj_flushes(j), 1);
	/* a line already on disk needs no second one */
	assert_int_equal(khj_sync(j, ticket), 0);
	assert_int_equal(khj_flushes(j), 1);
	assert_int_not_equal(khj_sync(j, 0), 0);
	assert_int_equal(khj_flusher_start(j), 0);
	for (i = 0; i < 4; i++) {
		w[i] = (struct jwriter){ j, 100, 0 };
		assert_int_equal(pthread_create(&th[i], NULL, jwriter_run,
		    &w[i]), 0);
	}
	for (i = 0; i < 4; i++) {
		assert_int_equal(pthread_join(th[i], NULL), 0);
		assert_int_equal(w[i].failed, 0);
	}
	flushes = khj_flushes(j);
	assert_true(flushes > 1 && flushes <= 401);
	assert_int_equal(khj_next_seq(j), 402);
	khj_close(j);
	snprintf(path, sizeof(path), "%s/%s", dir, KHJ_FILE);
	memset(&s, 0, sizeof(s));
	assert_non_null(f = fopen(path, "r"));
	assert_int_equal(khj_walk(f, &cb, &lines, &breaks, head), 0);
	fclose(f);
	assert_int_equal(lines, 401);
	assert_int_equal(breaks, 0);
}

static void
t_spawn_errors(void **state)
{
	struct kh_spawn_opts o = {
		.path = "/nonexistent/signet-keyholder",
		.module = SOFTHSM_MODULE,
		.journal = T.journal,
	};
	struct kh *kh = NULL;

	(void)state;
	assert_int_equal(kh_spawn(&o, &kh), SIGNET_ERR_KEYHOLDER);
	assert_null(kh);
	o.path = NULL;
	assert_int_equal(kh_spawn(&o, &kh), SIGNET_ERR_INVALID);
	/* no journal, no keyholder */
	o.path = T.keyholder;
	o.journal = NULL;
	assert_int_equal(kh_spawn(&o, &kh), SIGNET_ERR_INVALID);
	kh_free(NULL);
}

int
main(void)
{
	/* order matters: later tests use the keys the first one makes */
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(t_generate_list_sign),
		cmocka_unit_test(t_environment),
		cmocka_unit_test(t_rkey),
		cmocka_unit_test(t_violations),
		cmocka_unit_test(t_pin_file_mode),
		cmocka_unit_test(t_locked_login),
		cmocka_unit_test(t_login_fd),
		cmocka_unit_test(t_states),
		cmocka_unit_test(t_generate_admin),
		cmocka_unit_test(t_pin_cap),
		cmocka_unit_test(t_parallel),
		cmocka_unit_test(t_journal),
		cmocka_unit_test(t_journal_full),
		cmocka_unit_test(t_journal_overlap),
		cmocka_unit_test(t_spawn_errors),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
