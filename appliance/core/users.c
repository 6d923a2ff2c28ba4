#include <pthread.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <argon2.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "audit.h"
#include "catalog.h"
#include "log.h"
#include "request.h"
#include "users.h"

/* RFC 9106 / OWASP: Argon2id, 19 MiB, 2 passes, 1 lane. */
#define USERS_T_COST	2
#define USERS_M_COST	(19 * 1024)
#define USERS_LANES	1
#define USERS_SALT	16
#define USERS_HASH	32
/* at most this many hashes at once: each takes 19 MiB */
#define USERS_PARALLEL	2
/* every failed login answers after this long, so that guessing is slow
 * and a failure tells nothing by its timing */
#define USERS_FAIL_DELAY_MS 1000

static const char *const users_roles[] = {
	ROLE_ADMIN, ROLE_OFFICER, ROLE_AUDITOR, NULL
};

/* session kinds (the record's "kind"; none is a bearer session) */
#define USERS_KIND_COOKIE "cookie"

static char users_dummy[128];
static sem_t users_sem;
/* key of the CSRF tokens' HMAC: made at start, never stored, so a
 * restart invalidates the tokens (the page asks for a new one) */
static unsigned char users_csrf_secret[32];

int
users_valid_role(const char *role)
{
	size_t i;

	for (i = 0; users_roles[i] != NULL; i++)
		if (strcmp(role, users_roles[i]) == 0)
			return 1;
	return 0;
}

int
users_has_role(const json_t *user, const char *role)
{
	const json_t *e;
	size_t i;

	json_array_foreach(json_object_get(user, "roles"), i, e)
		if (json_is_string(e) && strcmp(json_string_value(e), role) == 0)
			return 1;
	return 0;
}

static int
users_hash(const char *pw, size_t pwlen, char *out, size_t outlen)
{
	unsigned char salt[USERS_SALT];
	int r;

	if (RAND_bytes(salt, sizeof(salt)) != 1)
		return SIGNET_ERR_CRYPTO;
	sem_wait(&users_sem);
	r = argon2id_hash_encoded(USERS_T_COST, USERS_M_COST, USERS_LANES, pw,
	    pwlen, salt, sizeof(salt), USERS_HASH, out, outlen);
	sem_post(&users_sem);
	return r == ARGON2_OK ? 0 : SIGNET_ERR_CRYPTO;
}

static int
users_verify(const char *encoded, const char *pw, size_t pwlen)
{
	int r;

	sem_wait(&users_sem);
	r = argon2id_verify(encoded, pw, pwlen);
	sem_post(&users_sem);
	return r == ARGON2_OK;
}

int
users_init(void)
{
	unsigned char junk[32];

	if (sem_init(&users_sem, 0, USERS_PARALLEL) != 0)
		return SIGNET_ERR_INTERNAL;
	if (RAND_bytes(junk, sizeof(junk)) != 1 ||
	    RAND_bytes(users_csrf_secret, sizeof(users_csrf_secret)) != 1)
		return SIGNET_ERR_CRYPTO;
	return users_hash((const char *)junk, sizeof(junk), users_dummy,
	    sizeof(users_dummy));
}

int
users_set_password(struct store_txn *t, const char *name, const char *pw,
    size_t pwlen)
{
	json_t *u = NULL;
	char enc[128];
	int r;

	if (pwlen < 12 || pwlen > USERS_MAX_PASSWORD)
		return SIGNET_ERR_INVALID;
	if ((r = store_get_json(t, STORE_USERS, name, &u)) != 0)
		return r;
	if ((r = users_hash(pw, pwlen, enc, sizeof(enc))) != 0)
		goto out;
	json_object_set_new(u, "passwordHash", json_string(enc));
	json_object_set_new(u, "failedLogins", json_integer(0));
	json_object_set_new(u, "lockedUntilNs", json_integer(0));
	r = store_put_json(t, STORE_USERS, name, u);
out:
	OPENSSL_cleanse(enc, sizeof(enc));
	json_decref(u);
	return r;
}

static uint64_t
users_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static void
users_b64url(const unsigned char *in, size_t n, char *out)
{
	static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	    "0123456789-_";
	size_t i, o = 0;
	uint32_t v;

	for (i = 0; i + 2 < n; i += 3) {
		v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
		out[o++] = a[v >> 18 & 63];
		out[o++] = a[v >> 12 & 63];
		out[o++] = a[v >> 6 & 63];
		out[o++] = a[v & 63];
	}
	if (n - i == 2) {
		v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
		out[o++] = a[v >> 18 & 63];
		out[o++] = a[v >> 12 & 63];
		out[o++] = a[v >> 6 & 63];
	} else if (n - i == 1) {
		v = (uint32_t)in[i] << 16;
		out[o++] = a[v >> 18 & 63];
		out[o++] = a[v >> 12 & 63];
	}
	out[o] = '\0';
}

/* Sessions are stored under the SHA-256 of their token: a copy of the
 * database does not let anyone act as its users. */
static int
users_token_key(const char *token, char key[65])
{
	unsigned char md[32];
	int i;

	if (EVP_Digest(token, strlen(token), md, NULL, EVP_sha256(), NULL) != 1)
		return SIGNET_ERR_CRYPTO;
	for (i = 0; i < 32; i++)
		snprintf(key + 2 * i, 3, "%02x", md[i]);
	return 0;
}

static void
users_fail_delay(uint64_t started)
{
	uint64_t spent = users_now_ns() - started;
	uint64_t want = (uint64_t)USERS_FAIL_DELAY_MS * 1000000ULL;
	struct timespec ts;

	if (spent >= want)
		return;
	ts.tv_sec = (time_t)((want - spent) / 1000000000ULL);
	ts.tv_nsec = (long)((want - spent) % 1000000000ULL);
	nanosleep(&ts, NULL);
}

static int
users_login_kind(struct store *s, const struct users_policy *p,
    const char *name, const char *pw, size_t pwlen, const char *remote,
    const char *kind, char token[USERS_TOKEN_LEN + 1], uint64_t *expires_ns)
{
	struct store_txn *t = NULL;
	json_t *u = NULL, *sess = NULL, *det = NULL;
	const char *hash = users_dummy;
	unsigned char rnd[32];
	char key[65];
	uint64_t now = users_now_ns(), locked;
	int known, ok, r = SIGNET_ERR_UNAUTHENTICATED, failures;

	token[0] = '\0';
	known = catalog_valid_name(name) && pwlen <= USERS_MAX_PASSWORD;
	if (known) {
		if ((r = store_txn_begin(s, 0, &t)) != 0)
			return r;
		r = store_get_json(t, STORE_USERS, name, &u);
		store_txn_abort(&t);
		if (r != 0 && r != SIGNET_ERR_NOT_FOUND)
			return r;
		known = r == 0 && json_is_string(json_object_get(u,
		    "passwordHash"));
	}
	if (known)
		hash = json_string_value(json_object_get(u, "passwordHash"));
	/* the same work whether or not the user exists */
	ok = users_verify(hash, pw, pwlen <= USERS_MAX_PASSWORD ? pwlen : 0) &&
	    known;
	locked = known ? (uint64_t)json_integer_value(json_object_get(u,
	    "lockedUntilNs")) : 0;
	det = json_pack("{s:s}", "remote", remote ? remote : "");
	if ((r = store_txn_begin(s, 1, &t)) != 0)
		goto out;
	if (ok && locked <= now) {
		if (RAND_bytes(rnd, sizeof(rnd)) != 1) {
			r = SIGNET_ERR_CRYPTO;
			goto out;
		}
		memcpy(token, USERS_TOKEN_PREFIX, 7);
		users_b64url(rnd, sizeof(rnd), token + 7);
		OPENSSL_cleanse(rnd, sizeof(rnd));
		*expires_ns = now + (uint64_t)p->session_ttl * 1000000000ULL;
		if ((r = users_token_key(token, key)) != 0)
			goto out;
		sess = json_pack("{s:s, s:I, s:I}", "user", name,
		    "createdNs", (json_int_t)now,
		    "expiresNs", (json_int_t)*expires_ns);
		if (sess != NULL && kind != NULL &&
		    (json_object_set_new(sess, "kind", json_string(kind)) != 0 ||
		    json_object_set_new(sess, "lastSeenNs",
		    json_integer((json_int_t)now)) != 0 ||
		    json_object_set_new(det, "kind", json_string(kind)) != 0)) {
			r = SIGNET_ERR_NOMEM;
			goto out;
		}
		json_object_set_new(u, "failedLogins", json_integer(0));
		if (sess == NULL)
			r = SIGNET_ERR_NOMEM;
		if (sess == NULL ||
		    (r = store_put_json(t, STORE_SESSIONS, key, sess)) != 0 ||
		    (r = store_put_json(t, STORE_USERS, name, u)) != 0 ||
		    (r = audit_append(t, "user", name, "session.login", name,
		    det)) != 0)
			goto out;
		r = store_txn_commit(&t);
		goto out;
	}
	/* failure: count it against a real user, audit it either way */
	if (known) {
		failures = (int)json_integer_value(json_object_get(u,
		    "failedLogins")) + 1;
		if (locked > now) {
			json_object_set_new(det, "reason", json_string("locked"));
		} else if ((unsigned)failures >= p->lockout_failures) {
			json_object_set_new(u, "lockedUntilNs", json_integer(
			    (json_int_t)(now + (uint64_t)p->lockout_seconds *
			    1000000000ULL)));
			failures = 0;
			json_object_set_new(det, "reason",
			    json_string("locked-now"));
			log_warn("users: '%s' locked for %u s after repeated "
			    "failed logins", name, p->lockout_seconds);
		} else {
			json_object_set_new(det, "reason",
			    json_string("wrong-password"));
		}
		json_object_set_new(u, "failedLogins", json_integer(failures));
		if ((r = store_put_json(t, STORE_USERS, name, u)) != 0)
			goto out;
	} else {
		json_object_set_new(det, "reason", json_string("unknown-user"));
	}
	if ((r = audit_append(t, "user", catalog_valid_name(name) ? name : "?",
	    "session.login-failed", NULL, det)) != 0)
		goto out;
	if ((r = store_txn_commit(&t)) != 0)
		goto out;
	r = SIGNET_ERR_UNAUTHENTICATED;
out:
	store_txn_abort(&t);
	if (r != 0) {
		OPENSSL_cleanse(token, USERS_TOKEN_LEN + 1);
		users_fail_delay(now);
	}
	json_decref(det);
	json_decref(sess);
	json_decref(u);
	return r;
}

int
users_login(struct store *s, const struct users_policy *p, const char *name,
    const char *pw, size_t pwlen, const char *remote,
    char token[USERS_TOKEN_LEN + 1], uint64_t *expires_ns)
{
	return users_login_kind(s, p, name, pw, pwlen, remote, NULL, token,
	    expires_ns);
}

int
users_login_cookie(struct store *s, const struct users_policy *p,
    const char *name, const char *pw, size_t pwlen, const char *remote,
    char token[USERS_TOKEN_LEN + 1], uint64_t *expires_ns)
{
	return users_login_kind(s, p, name, pw, pwlen, remote,
	    USERS_KIND_COOKIE, token, expires_ns);
}

/* The live session of token, of the given kind (NULL: bearer). */
static int
users_find_session(struct store_txn *t, const char *token, const char *kind,
    json_t **sess, char key[65])
{
	const char *k;
	int r;

	*sess = NULL;
	if (strlen(token) != USERS_TOKEN_LEN ||
	    strncmp(token, USERS_TOKEN_PREFIX, 7) != 0)
		return SIGNET_ERR_UNAUTHENTICATED;
	if ((r = users_token_key(token, key)) != 0)
		return r;
	if ((r = store_get_json(t, STORE_SESSIONS, key, sess)) != 0)
		return r == SIGNET_ERR_NOT_FOUND ? SIGNET_ERR_UNAUTHENTICATED : r;
	k = json_string_value(json_object_get(*sess, "kind"));
	/* a cookie carries no CSRF protection of its own when replayed as
	 * a bearer token, and a bearer token skips the CSRF check */
	if ((uint64_t)json_integer_value(json_object_get(*sess,
	    "expiresNs")) <= users_now_ns() ||
	    (kind == NULL) != (k == NULL) ||
	    (kind != NULL && strcmp(kind, k) != 0)) {
		json_decref(*sess);
		*sess = NULL;
		return SIGNET_ERR_UNAUTHENTICATED;
	}
	return 0;
}

/* The user a session belongs to; a removed user has no sessions. */
static int
users_session_user(struct store_txn *t, const json_t *sess, json_t **user)
{
	const char *name = json_string_value(json_object_get(sess, "user"));
	int r;

	*user = NULL;
	if (name == NULL)
		return SIGNET_ERR_STORE;
	r = store_get_json(t, STORE_USERS, name, user);
	return r == SIGNET_ERR_NOT_FOUND ? SIGNET_ERR_UNAUTHENTICATED : r;
}

int
users_session(struct store_txn *t, const char *token, json_t **user,
    char key[65])
{
	json_t *sess = NULL;
	int r;

	*user = NULL;
	if ((r = users_find_session(t, token, NULL, &sess, key)) != 0)
		return r;
	r = users_session_user(t, sess, user);
	json_decref(sess);
	return r;
}

/* Records the session's use now; it may have ended meanwhile. */
static int
users_touch(struct store *s, const char *key, uint64_t now)
{
	struct store_txn *t = NULL;
	json_t *sess = NULL;
	int r;

	if ((r = store_txn_begin(s, 1, &t)) != 0)
		return r;
	if ((r = store_get_json(t, STORE_SESSIONS, key, &sess)) != 0)
		goto out;
	if (json_object_set_new(sess, "lastSeenNs",
	    json_integer((json_int_t)now)) != 0) {
		r = SIGNET_ERR_NOMEM;
		goto out;
	}
	if ((r = store_put_json(t, STORE_SESSIONS, key, sess)) != 0)
		goto out;
	r = store_txn_commit(&t);
out:
	store_txn_abort(&t);
	json_decref(sess);
	return r;
}

int
users_cookie_session(struct store *s, const char *token, unsigned idle_s,
    json_t **user, char key[65])
{
	struct store_txn *t = NULL;
	json_t *sess = NULL;
	uint64_t now = users_now_ns(), last;
	unsigned touch;
	int r;

	*user = NULL;
	if ((r = store_txn_begin(s, 0, &t)) != 0)
		return r;
	if ((r = users_find_session(t, token, USERS_KIND_COOKIE, &sess,
	    key)) != 0)
		goto out;
	last = (uint64_t)json_integer_value(json_object_get(sess,
	    "lastSeenNs"));
	if (idle_s > 0 && now > last &&
	    now - last > (uint64_t)idle_s * 1000000000ULL) {
		r = SIGNET_ERR_UNAUTHENTICATED;
		goto out;
	}
	if ((r = users_session_user(t, sess, user)) != 0)
		goto out;
	store_txn_abort(&t);
	/* a short idle time needs more frequent writes to stay alive */
	touch = USERS_TOUCH_INTERVAL_S;
	if (idle_s > 0 && idle_s / 4 < touch)
		touch = idle_s / 4 > 0 ? idle_s / 4 : 1;
	if (now > last && now - last >= (uint64_t)touch * 1000000000ULL &&
	    users_touch(s, key, now) != 0)
		log_warn("users: the last use of a session was not recorded");
out:
	store_txn_abort(&t);
	json_decref(sess);
	if (r != 0) {
		json_decref(*user);
		*user = NULL;
	}
	return r;
}

int
users_session_key(const char *token, char key[65])
{
	return users_token_key(token, key);
}

int
users_csrf_token(const char key[65], char out[USERS_CSRF_LEN + 1])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0, i;

	out[0] = '\0';
	if (HMAC(EVP_sha256(), users_csrf_secret, sizeof(users_csrf_secret),
	    (const unsigned char *)key, strlen(key), md, &n) == NULL ||
	    n * 2 != USERS_CSRF_LEN)
		return SIGNET_ERR_CRYPTO;
	for (i = 0; i < n; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
	return 0;
}

int
users_csrf_check(const char key[65], const char *presented)
{
	char want[USERS_CSRF_LEN + 1];
	int ok;

	if (presented == NULL || strlen(presented) != USERS_CSRF_LEN ||
	    users_csrf_token(key, want) != 0)
		return 0;
	ok = CRYPTO_memcmp(want, presented, USERS_CSRF_LEN) == 0;
	OPENSSL_cleanse(want, sizeof(want));
	return ok;
}

int
users_logout(struct store *s, const char *key, const char *user)
{
	struct store_txn *t = NULL;
	int r;

	if ((r = store_txn_begin(s, 1, &t)) != 0)
		return r;
	if ((r = store_del(t, STORE_SESSIONS, key, strlen(key))) != 0 ||
	    (r = audit_append(t, "user", user, "session.logout", user,
	    NULL)) != 0) {
		store_txn_abort(&t);
		return r;
	}
	return store_txn_commit(&t);
}

struct users_expiry {
	uint64_t now;
	char keys[64][65];
	int n;
};

static int
users_expired_cb(const void *k, size_t klen, const void *v, size_t vlen,
    void *arg)
{
	struct users_expiry *e = arg;
	json_t *s = json_loadb(v, vlen, 0, NULL);

	if (s != NULL && klen == 64 && (uint64_t)json_integer_value(
	    json_object_get(s, "expiresNs")) <= e->now) {
		memcpy(e->keys[e->n], k, 64);
		e->keys[e->n][64] = '\0';
		e->n++;
	}
	json_decref(s);
	return e->n == 64;
}

int
users_expire_sessions(struct store *s)
{
	struct users_expiry e;
	struct store_txn *t = NULL;
	int i, r;

	memset(&e, 0, sizeof(e));
	e.now = users_now_ns();
	if ((r = store_txn_begin(s, 1, &t)) != 0)
		return r;
	if ((r = store_walk(t, STORE_SESSIONS, NULL, 0, NULL, 0, 0,
	    users_expired_cb, &e)) != 0)
		goto out;
	for (i = 0; i < e.n; i++)
		if ((r = store_del(t, STORE_SESSIONS, e.keys[i], 64)) != 0)
			goto out;
	r = store_txn_commit(&t);
out:
	store_txn_abort(&t);
	return r;
}
