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
#include "signet_limits.h"
#include "metrics.h"
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
	ROLE_ADMIN, ROLE_OFFICER, ROLE_AUDITOR, ROLE_METRICS, NULL
};

/* session kinds (the record's "kind"; none is a bearer session) */
#define USERS_KIND_COOKIE "cookie"

static char users_dummy[128];
static sem_t users_sem;
/* failed logins under names that are no user: audited without the name,
 * at most once per SIGNET_UNKNOWN_LOGIN_AUDIT_S, with the attempts
 * counted since the last entry (the caller chooses the name, and must
 * not be able to fill the log or write into it what it likes) */
static pthread_mutex_t users_unknown_mu = PTHREAD_MUTEX_INITIALIZER;
static uint64_t users_unknown_last;	/* CLOCK_MONOTONIC ns; 0: never */
static uint64_t users_unknown_pending;
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
	if (json_object_set_new(u, "passwordHash", json_string(enc)) != 0 ||
	    json_object_set_new(u, "failedLogins", json_integer(0)) != 0 ||
	    json_object_set_new(u, "lockedUntilNs", json_integer(0)) != 0) {
		r = SIGNET_ERR_NOMEM;
		goto out;
	}
	/* whoever knew the old password is logged out */
	if ((r = users_revoke(t, name, u)) != 0)
		goto out;
	r = store_put_json(t, STORE_USERS, name, u);
out:
	OPENSSL_cleanse(enc, sizeof(enc));
	json_decref(u);
	return r;
}

/* A user's id, given when the record is first written by this version
 * (older records have none until then): a session names it, so that it
 * never passes to a later user of the same name. */
static int
users_ensure_id(json_t *u)
{
	unsigned char rnd[SIGNET_USER_ID_BYTES];
	char hex[2 * SIGNET_USER_ID_BYTES + 1];
	size_t i;

	if (json_is_string(json_object_get(u, "id")))
		return 0;
	if (RAND_bytes(rnd, sizeof(rnd)) != 1)
		return SIGNET_ERR_CRYPTO;
	for (i = 0; i < sizeof(rnd); i++)
		snprintf(hex + 2 * i, 3, "%02x", rnd[i]);
	return json_object_set_new(u, "id", json_string(hex)) == 0 ? 0 :
	    SIGNET_ERR_NOMEM;
}

struct users_drop {
	const char *name;
	json_t *keys;
	int err;
};

static int
users_drop_cb(const void *k, size_t klen, const void *v, size_t vlen,
    void *arg)
{
	struct users_drop *d = arg;
	json_t *sess = json_loadb(v, vlen, 0, NULL);
	const char *u = json_string_value(json_object_get(sess, "user"));

	if (u != NULL && strcmp(u, d->name) == 0 &&
	    json_array_append_new(d->keys, json_stringn(k, klen)) != 0)
		d->err = SIGNET_ERR_NOMEM;
	json_decref(sess);
	return d->err;
}

int
users_drop_sessions(struct store_txn *t, const char *name)
{
	struct users_drop d = { name, json_array(), 0 };
	json_t *k;
	size_t i;
	int r;

	if (d.keys == NULL)
		return SIGNET_ERR_NOMEM;
	if ((r = store_walk(t, STORE_SESSIONS, NULL, 0, NULL, 0, 0,
	    users_drop_cb, &d)) != 0)
		goto out;
	json_array_foreach(d.keys, i, k)
		if ((r = store_del(t, STORE_SESSIONS, json_string_value(k),
		    json_string_length(k))) != 0 && r != SIGNET_ERR_NOT_FOUND)
			goto out;
	r = 0;
out:
	json_decref(d.keys);
	return r;
}

int
users_revoke(struct store_txn *t, const char *name, json_t *u)
{
	json_int_t gen = json_integer_value(json_object_get(u, "sessionGen"));
	int r;

	if ((r = users_ensure_id(u)) != 0)
		return r;
	if (json_object_set_new(u, "sessionGen", json_integer(gen + 1)) != 0)
		return SIGNET_ERR_NOMEM;
	return users_drop_sessions(t, name);
}

int
users_record_update(struct store_txn *t, const char *name, const json_t *old,
    json_t *rec)
{
	if (old != NULL && !json_equal(json_object_get(old, "roles"),
	    json_object_get(rec, "roles")))
		return users_revoke(t, name, rec);
	return users_ensure_id(rec);
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

	metrics_count(METRICS_LOGIN_FAILURES);
	if (spent >= want)
		return;
	ts.tv_sec = (time_t)((want - spent) / 1000000000ULL);
	ts.tv_nsec = (long)((want - spent) % 1000000000ULL);
	nanosleep(&ts, NULL);
}

static uint64_t
users_mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* 1 when a failed login under a name that is no user is to be audited
 * now, *attempts those since the last such entry (this one included). */
static int
users_unknown_due(uint64_t *attempts)
{
	uint64_t now = users_mono_ns();
	int due = 0;

	pthread_mutex_lock(&users_unknown_mu);
	users_unknown_pending++;
	if (users_unknown_last == 0 || now - users_unknown_last >=
	    (uint64_t)SIGNET_UNKNOWN_LOGIN_AUDIT_S * 1000000000ULL) {
		*attempts = users_unknown_pending;
		users_unknown_pending = 0;
		users_unknown_last = now;
		due = 1;
	}
	pthread_mutex_unlock(&users_unknown_mu);
	return due;
}

/* The failure of a login under a name that is no user. */
static int
users_unknown_failure(struct store_txn **t, const char *remote)
{
	uint64_t attempts = 0;
	json_t *det;
	int r;

	if (!users_unknown_due(&attempts))
		return 0;
	det = json_pack("{s:I, s:s, s:i}", "attempts", (json_int_t)attempts,
	    "remote", remote ? remote : "", "intervalSeconds",
	    SIGNET_UNKNOWN_LOGIN_AUDIT_S);
	if (det == NULL)
		return SIGNET_ERR_NOMEM;
	r = audit_append(*t, "system", "signetd",
	    "session.login-failed-unknown-user", NULL, det);
	json_decref(det);
	return r != 0 ? r : store_txn_commit(t);
}

/* A wrong password, or any password while the account is locked: the
 * count and the lock are decided on the record as the write transaction
 * reads it. */
static int
users_known_failure(struct store_txn **t, const struct users_policy *p,
    const char *name, json_t *u, uint64_t now, json_t *det)
{
	uint64_t locked = (uint64_t)json_integer_value(json_object_get(u,
	    "lockedUntilNs"));
	json_int_t failures = json_integer_value(json_object_get(u,
	    "failedLogins")) + 1;
	const char *reason = "wrong-password";
	int r;

	if (locked > now) {
		reason = "locked";
	} else if ((uint64_t)failures >= p->lockout_failures) {
		if (json_object_set_new(u, "lockedUntilNs", json_integer(
		    (json_int_t)(now + (uint64_t)p->lockout_seconds *
		    1000000000ULL))) != 0)
			return SIGNET_ERR_NOMEM;
		failures = 0;
		reason = "locked-now";
		log_warn("users: '%s' locked for %u s after repeated failed "
		    "logins", name, p->lockout_seconds);
	}
	if (json_object_set_new(u, "failedLogins", json_integer(failures)) != 0 ||
	    json_object_set_new(det, "reason", json_string(reason)) != 0)
		return SIGNET_ERR_NOMEM;
	if ((r = store_put_json(*t, STORE_USERS, name, u)) != 0 ||
	    (r = audit_append(*t, "user", name, "session.login-failed", NULL,
	    det)) != 0)
		return r;
	return store_txn_commit(t);
}

/* A new session of user u (in the write transaction that read u). */
static int
users_new_session(struct store_txn **t, const struct users_policy *p,
    const char *name, json_t *u, const char *kind, uint64_t now,
    json_t *det, char token[USERS_TOKEN_LEN + 1], uint64_t *expires_ns)
{
	unsigned char rnd[32];
	char key[65];
	json_t *sess = NULL;
	int r = SIGNET_ERR_NOMEM;

	if (RAND_bytes(rnd, sizeof(rnd)) != 1)
		return SIGNET_ERR_CRYPTO;
	memcpy(token, USERS_TOKEN_PREFIX, 7);
	users_b64url(rnd, sizeof(rnd), token + 7);
	OPENSSL_cleanse(rnd, sizeof(rnd));
	*expires_ns = now + (uint64_t)p->session_ttl * 1000000000ULL;
	if ((r = users_token_key(token, key)) != 0)
		return r;
	r = SIGNET_ERR_NOMEM;
	/* bound to the user's id and session generation: a password or role
	 * change, or a new user of the same name, ends it */
	sess = json_pack("{s:s, s:O, s:I, s:I, s:I}", "user", name,
	    "userId", json_object_get(u, "id"),
	    "gen", json_integer_value(json_object_get(u, "sessionGen")),
	    "createdNs", (json_int_t)now,
	    "expiresNs", (json_int_t)*expires_ns);
	if (sess == NULL)
		goto out;
	if (kind != NULL &&
	    (json_object_set_new(sess, "kind", json_string(kind)) != 0 ||
	    json_object_set_new(sess, "lastSeenNs",
	    json_integer((json_int_t)now)) != 0))
		goto out;
	/* a success ends the count of failures, as read in this transaction */
	if (json_object_set_new(u, "failedLogins", json_integer(0)) != 0)
		goto out;
	if ((r = store_put_json(*t, STORE_SESSIONS, key, sess)) != 0 ||
	    (r = store_put_json(*t, STORE_USERS, name, u)) != 0 ||
	    (r = audit_append(*t, "user", name, "session.login", name,
	    det)) != 0)
		goto out;
	r = store_txn_commit(t);
out:
	OPENSSL_cleanse(key, sizeof(key));
	json_decref(sess);
	return r;
}

static int
users_login_kind(struct store *s, const struct users_policy *p,
    const char *name, const char *pw, size_t pwlen, const char *remote,
    const char *kind, char token[USERS_TOKEN_LEN + 1], uint64_t *expires_ns)
{
	struct store_txn *t = NULL;
	json_t *u = NULL, *det = NULL;
	const char *h;
	char *hash = NULL;
	uint64_t now = users_now_ns();
	int valid, ok, r;

	token[0] = '\0';
	valid = catalog_valid_name(name);
	/* the hash is read first: Argon2 runs outside any transaction */
	if (valid) {
		if ((r = store_txn_begin(s, 0, &t)) != 0)
			goto out;
		r = store_get_json(t, STORE_USERS, name, &u);
		store_txn_abort(&t);
		if (r != 0 && r != SIGNET_ERR_NOT_FOUND)
			goto out;
		h = json_string_value(json_object_get(u, "passwordHash"));
		if (h != NULL && (hash = strdup(h)) == NULL) {
			r = SIGNET_ERR_NOMEM;
			goto out;
		}
		json_decref(u);
		u = NULL;
	}
	/* the same work whether or not the user exists, has a password or
	 * sent one too long to be theirs */
	ok = users_verify(hash != NULL ? hash : users_dummy, pw,
	    pwlen <= USERS_MAX_PASSWORD ? pwlen : 0) && hash != NULL &&
	    pwlen <= USERS_MAX_PASSWORD;
	det = json_pack("{s:s}", "remote", remote ? remote : "");
	if (det == NULL || (kind != NULL &&
	    json_object_set_new(det, "kind", json_string(kind)) != 0)) {
		r = SIGNET_ERR_NOMEM;
		goto out;
	}
	/* Everything else is decided on the record as this write transaction
	 * reads it: LMDB has one writer at a time, so parallel attempts are
	 * counted one after the other and none writes back a stale count
	 * or lock. */
	if ((r = store_txn_begin(s, 1, &t)) != 0)
		goto out;
	r = valid ? store_get_json(t, STORE_USERS, name, &u) :
	    SIGNET_ERR_NOT_FOUND;
	if (r == SIGNET_ERR_NOT_FOUND) {
		if ((r = users_unknown_failure(&t, remote)) == 0)
			r = SIGNET_ERR_UNAUTHENTICATED;
		goto out;
	}
	if (r != 0 || (r = users_ensure_id(u)) != 0)
		goto out;
	/* the password checked is still the user's: not changed, nor the
	 * user removed and made anew, while Argon2 ran */
	h = json_string_value(json_object_get(u, "passwordHash"));
	ok = ok && h != NULL && strcmp(h, hash) == 0;
	if (ok && (uint64_t)json_integer_value(json_object_get(u,
	    "lockedUntilNs")) <= now) {
		r = users_new_session(&t, p, name, u, kind, now, det, token,
		    expires_ns);
		goto out;
	}
	if ((r = users_known_failure(&t, p, name, u, now, det)) == 0)
		r = SIGNET_ERR_UNAUTHENTICATED;
out:
	store_txn_abort(&t);
	if (r != 0) {
		OPENSSL_cleanse(token, USERS_TOKEN_LEN + 1);
		users_fail_delay(now);
	}
	if (hash != NULL) {
		OPENSSL_cleanse(hash, strlen(hash));
		free(hash);
	}
	json_decref(det);
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

	const char *id = json_string_value(json_object_get(sess, "userId"));
	const char *uid;
	int r;

	*user = NULL;
	if (name == NULL)
		return SIGNET_ERR_STORE;
	r = store_get_json(t, STORE_USERS, name, user);
	if (r != 0)
		return r == SIGNET_ERR_NOT_FOUND ? SIGNET_ERR_UNAUTHENTICATED : r;
	/* the very user it was made for (not a later one of the same name;
	 * sessions from before user ids have none), and no password or role
	 * change since */
	uid = json_string_value(json_object_get(*user, "id"));
	if (id == NULL || uid == NULL || strcmp(id, uid) != 0 ||
	    json_integer_value(json_object_get(sess, "gen")) !=
	    json_integer_value(json_object_get(*user, "sessionGen"))) {
		json_decref(*user);
		*user = NULL;
		return SIGNET_ERR_UNAUTHENTICATED;
	}
	return 0;
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

int
users_bearer_session(struct store *s, const char *token, json_t **user,
    char key[65])
{
	struct store_txn *t = NULL;
	int r;

	*user = NULL;
	if ((r = store_txn_begin(s, 0, &t)) != 0)
		return r;
	r = users_session(t, token, user, key);
	store_txn_abort(&t);
	return r;
}

int
users_change_password(struct store *s, const char *actor_type,
    const char *actor, const char *name, const char *pw, size_t pwlen)
{
	struct store_txn *t = NULL;
	int r;

	if ((r = store_txn_begin(s, 1, &t)) != 0)
		return r;
	if ((r = users_set_password(t, name, pw, pwlen)) == 0 &&
	    (r = audit_append(t, actor_type, actor, "user.password-set", name,
	    NULL)) == 0)
		r = store_txn_commit(&t);
	store_txn_abort(&t);
	return r;
}
