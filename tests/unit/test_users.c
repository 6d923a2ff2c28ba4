/* People (appliance/core/users.c): Argon2id passwords, logins and their
 * lockout, session tokens stored only as their SHA-256, cookie and bearer
 * sessions kept apart, CSRF tokens, idle and absolute expiry.
 *
 * Every failed login answers after USERS_FAIL_DELAY_MS (1 s) on purpose,
 * so this file keeps them few and makes six of them at once, in
 * parallel (test_parallel_guesses_lock). */
#include <dirent.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "audit.h"
#include "signet_limits.h"
#include "store.h"
#include "users.h"

#define PW "correct horse battery staple"
#define PW2 "another long passphrase"
/* a failed login takes at least this long (users.c: 1 s, less slack) */
#define FAIL_MIN_NS 900000000ULL

/* The CSRF check must compare in constant time: the test binary is
 * linked with --wrap=CRYPTO_memcmp (tests/unit/meson.build), so every
 * call users.c makes to it is counted here. */
int __real_CRYPTO_memcmp(const void *a, const void *b, size_t len);
int __wrap_CRYPTO_memcmp(const void *a, const void *b, size_t len);
static unsigned memcmp_calls;
static size_t memcmp_len;

int
__wrap_CRYPTO_memcmp(const void *a, const void *b, size_t len)
{
	memcmp_calls++;
	memcmp_len = len;
	return __real_CRYPTO_memcmp(a, b, len);
}

static const struct users_policy policy = {
	.session_ttl = 3600,
	.lockout_failures = 2,
	.lockout_seconds = 600,
};

struct fx {
	char dir[64];
	struct store *s;
};

static uint64_t
now_ns(int clock)
{
	struct timespec ts;

	clock_gettime(clock, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static void
add_user(struct fx *f, const char *name, const char *pw)
{
	struct store_txn *t = NULL;
	json_t *u = json_pack("{s:s, s:[s]}", "name", name, "roles",
	    ROLE_OFFICER);

	assert_non_null(u);
	assert_int_equal(store_txn_begin(f->s, 1, &t), 0);
	assert_int_equal(store_put_json(t, STORE_USERS, name, u), 0);
	assert_int_equal(users_set_password(t, name, pw, strlen(pw)), 0);
	assert_int_equal(store_txn_commit(&t), 0);
	json_decref(u);
}

static json_t *
get(struct fx *f, enum store_db db, const char *key)
{
	struct store_txn *t = NULL;
	json_t *v = NULL;

	assert_int_equal(store_txn_begin(f->s, 0, &t), 0);
	assert_int_equal(store_get_json(t, db, key, &v), 0);
	store_txn_abort(&t);
	return v;
}

/* Sets one integer member of a stored record, as time passing would. */
static void
set_int(struct fx *f, enum store_db db, const char *key, const char *member,
    uint64_t value)
{
	struct store_txn *t = NULL;
	json_t *v = NULL;

	assert_int_equal(store_txn_begin(f->s, 1, &t), 0);
	assert_int_equal(store_get_json(t, db, key, &v), 0);
	assert_int_equal(json_object_set_new(v, member,
	    json_integer((json_int_t)value)), 0);
	assert_int_equal(store_put_json(t, db, key, v), 0);
	assert_int_equal(store_txn_commit(&t), 0);
	json_decref(v);
}

static int
login(struct fx *f, const char *name, const char *pw, int cookie,
    char token[USERS_TOKEN_LEN + 1])
{
	uint64_t expires = 0;

	return cookie ?
	    users_login_cookie(f->s, &policy, name, pw, strlen(pw), "192.0.2.1",
	    token, &expires) :
	    users_login(f->s, &policy, name, pw, strlen(pw), "192.0.2.1",
	    token, &expires);
}

static int
bearer(struct fx *f, const char *token, json_t **user, char key[65])
{
	struct store_txn *t = NULL;
	int r;

	assert_int_equal(store_txn_begin(f->s, 0, &t), 0);
	r = users_session(t, token, user, key);
	store_txn_abort(&t);
	return r;
}

static int
setup_group(void **state)
{
	(void)state;
	return users_init();
}

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	char db[96];

	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "/tmp/signet-unit-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(db, sizeof(db), "%s/db", f->dir);
	assert_int_equal(store_open(db, 64 << 20, &f->s), 0);
	add_user(f, "alice", PW);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;
	char cmd[128];

	store_close(f->s);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

/* --- passwords ------------------------------------------------------- */

static void
test_password_hash_and_round_trip(void **state)
{
	struct fx *f = *state;
	char token[USERS_TOKEN_LEN + 1];
	struct store_txn *t = NULL;
	const char *hash;
	json_t *u = get(f, STORE_USERS, "alice"), *v;
	uint64_t t0;

	/* an encoded Argon2id hash (RFC 9106), never the password */
	hash = json_string_value(json_object_get(u, "passwordHash"));
	assert_non_null(hash);
	assert_memory_equal(hash, "$argon2id$", 10);
	assert_null(strstr(hash, PW));
	/* salted: the same password hashes differently for bob */
	add_user(f, "bob", PW);
	v = get(f, STORE_USERS, "bob");
	assert_string_not_equal(json_string_value(json_object_get(v,
	    "passwordHash")), hash);
	json_decref(v);
	json_decref(u);

	assert_int_equal(login(f, "alice", PW, 0, token), 0);
	/* a new password replaces the old one */
	assert_int_equal(store_txn_begin(f->s, 1, &t), 0);
	assert_int_equal(users_set_password(t, "alice", PW2, strlen(PW2)), 0);
	assert_int_equal(store_txn_commit(&t), 0);
	assert_int_equal(login(f, "alice", PW2, 0, token), 0);
	t0 = now_ns(CLOCK_MONOTONIC);
	assert_int_equal(login(f, "alice", PW, 0, token),
	    SIGNET_ERR_UNAUTHENTICATED);
	assert_true(now_ns(CLOCK_MONOTONIC) - t0 >= FAIL_MIN_NS);
	assert_int_equal(token[0], '\0');
}

static void
test_password_rules(void **state)
{
	struct fx *f = *state;
	struct store_txn *t = NULL;
	char long_pw[USERS_MAX_PASSWORD + 2];

	memset(long_pw, 'x', sizeof(long_pw) - 1);
	long_pw[sizeof(long_pw) - 1] = '\0';
	assert_int_equal(store_txn_begin(f->s, 1, &t), 0);
	assert_int_equal(users_set_password(t, "alice", "short", 5),
	    SIGNET_ERR_INVALID);
	assert_int_equal(users_set_password(t, "alice", "elevenchars", 11),
	    SIGNET_ERR_INVALID);
	assert_int_equal(users_set_password(t, "alice", long_pw,
	    USERS_MAX_PASSWORD + 1), SIGNET_ERR_INVALID);
	assert_int_equal(users_set_password(t, "nobody", PW, strlen(PW)),
	    SIGNET_ERR_NOT_FOUND);
	assert_int_equal(users_set_password(t, "alice", long_pw,
	    USERS_MAX_PASSWORD), 0);
	store_txn_abort(&t);
}

/* --- lockout ----------------------------------------------------------- */

static const char *
audit_reason(struct fx *f, size_t nth_failure)
{
	static char reason[32];
	struct store_txn *t = NULL;
	json_t *items = NULL, *e;
	uint64_t next = 0;
	size_t i, n = 0;

	reason[0] = '\0';
	assert_int_equal(store_txn_begin(f->s, 0, &t), 0);
	assert_int_equal(audit_list(t, 0, 100, &items, &next), 0);
	store_txn_abort(&t);
	json_array_foreach(items, i, e) {
		if (strcmp(json_string_value(json_object_get(e, "action")),
		    "session.login-failed") != 0)
			continue;
		if (n++ == nth_failure)
			snprintf(reason, sizeof(reason), "%s", json_string_value(
			    json_object_get(json_object_get(e, "details"),
			    "reason")));
	}
	json_decref(items);
	return reason;
}

/* Entries of action; fails when needle is in any entry, and checks the
 * attempts counted by the last one (when attempts > 0). */
static int
audit_count(struct fx *f, const char *action, const char *needle,
    json_int_t attempts)
{
	struct store_txn *t = NULL;
	json_t *items = NULL, *e, *last = NULL;
	uint64_t next = 0;
	size_t i;
	char *line;
	int n = 0;

	assert_int_equal(store_txn_begin(f->s, 0, &t), 0);
	assert_int_equal(audit_list(t, 0, 200, &items, &next), 0);
	store_txn_abort(&t);
	json_array_foreach(items, i, e) {
		assert_non_null(line = json_dumps(e, JSON_COMPACT));
		assert_null(strstr(line, needle));
		free(line);
		if (strcmp(json_string_value(json_object_get(e, "action")),
		    action) != 0)
			continue;
		n++;
		last = e;
	}
	if (last != NULL && attempts > 0) {
		assert_string_equal(json_string_value(json_object_get(
		    json_object_get(last, "actor"), "type")), "system");
		assert_int_equal(json_integer_value(json_object_get(
		    json_object_get(last, "details"), "attempts")), attempts);
	}
	json_decref(items);
	return n;
}

static void
test_lockout(void **state)
{
	struct fx *f = *state;
	char token[USERS_TOKEN_LEN + 1];
	uint64_t t0, wall;
	json_t *u;
	int r_locked, r_unknown;

	/* lockout_failures (2) wrong passwords lock the account */
	assert_int_equal(login(f, "alice", "wrong password 1", 0, token),
	    SIGNET_ERR_UNAUTHENTICATED);
	u = get(f, STORE_USERS, "alice");
	assert_int_equal(json_integer_value(json_object_get(u,
	    "failedLogins")), 1);
	assert_int_equal(json_integer_value(json_object_get(u,
	    "lockedUntilNs")), 0);
	json_decref(u);
	wall = now_ns(CLOCK_REALTIME);
	assert_int_equal(login(f, "alice", "wrong password 2", 0, token),
	    SIGNET_ERR_UNAUTHENTICATED);
	u = get(f, STORE_USERS, "alice");
	assert_true((uint64_t)json_integer_value(json_object_get(u,
	    "lockedUntilNs")) >= wall + (policy.lockout_seconds - 1) *
	    1000000000ULL);
	json_decref(u);

	/* locked: the right password is refused, exactly as an unknown
	 * user is, and as slowly */
	t0 = now_ns(CLOCK_MONOTONIC);
	r_locked = login(f, "alice", PW, 0, token);
	assert_true(now_ns(CLOCK_MONOTONIC) - t0 >= FAIL_MIN_NS);
	assert_int_equal(token[0], '\0');
	t0 = now_ns(CLOCK_MONOTONIC);
	r_unknown = login(f, "nobody", PW, 0, token);
	assert_true(now_ns(CLOCK_MONOTONIC) - t0 >= FAIL_MIN_NS);
	assert_int_equal(token[0], '\0');
	assert_int_equal(r_locked, SIGNET_ERR_UNAUTHENTICATED);
	assert_int_equal(r_unknown, r_locked);
	/* the reasons are told to the audit log only */
	assert_string_equal(audit_reason(f, 0), "wrong-password");
	assert_string_equal(audit_reason(f, 1), "locked-now");
	assert_string_equal(audit_reason(f, 2), "locked");
	assert_string_equal(audit_reason(f, 3), "");
	/* the unknown name is in no entry: the first such failure of the
	 * process is counted in one entry of signetd's own */
	assert_int_equal(audit_count(f, "session.login-failed-unknown-user",
	    "nobody", 1), 1);

	/* once the lock has run out, the right password works and the
	 * count starts again */
	set_int(f, STORE_USERS, "alice", "lockedUntilNs",
	    now_ns(CLOCK_REALTIME) - 1);
	assert_int_equal(login(f, "alice", PW, 0, token), 0);
	u = get(f, STORE_USERS, "alice");
	assert_int_equal(json_integer_value(json_object_get(u,
	    "failedLogins")), 0);
	json_decref(u);
}

/* --- session tokens ---------------------------------------------------- */

struct walk {
	char keys[8][65];
	int n;
	const char *needle;
	int found;
};

static int
walk_cb(const void *k, size_t klen, const void *v, size_t vlen, void *arg)
{
	struct walk *w = arg;

	if (w->n < 8 && klen == 64) {
		memcpy(w->keys[w->n], k, 64);
		w->keys[w->n][64] = '\0';
	}
	w->n++;
	if (memmem(k, klen, w->needle, strlen(w->needle)) != NULL ||
	    memmem(v, vlen, w->needle, strlen(w->needle)) != NULL)
		w->found = 1;
	return 0;
}

/* Is s anywhere in the files of the database directory? */
static int
on_disk(const char *dir, const char *s)
{
	char path[512];
	struct dirent *de;
	unsigned char *buf;
	size_t n;
	long size;
	FILE *fp;
	DIR *d;
	int found = 0;

	assert_non_null(d = opendir(dir));
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		assert_true(snprintf(path, sizeof(path), "%s/%s", dir,
		    de->d_name) < (int)sizeof(path));
		assert_non_null(fp = fopen(path, "rb"));
		assert_int_equal(fseek(fp, 0, SEEK_END), 0);
		size = ftell(fp);
		assert_true(size >= 0 && size <= 64 << 20);
		rewind(fp);
		assert_non_null(buf = malloc((size_t)size + 1));
		n = fread(buf, 1, (size_t)size, fp);
		fclose(fp);
		if (memmem(buf, n, s, strlen(s)) != NULL)
			found = 1;
		free(buf);
	}
	closedir(d);
	return found;
}

static void
test_session_token_stored_as_hash(void **state)
{
	struct fx *f = *state;
	char token[USERS_TOKEN_LEN + 1], other[USERS_TOKEN_LEN + 1];
	char key[65], key2[65], want[65], db[96];
	unsigned char md[32];
	struct store_txn *t = NULL;
	struct walk w;
	json_t *user = NULL;
	int i;

	assert_int_equal(login(f, "alice", PW, 0, token), 0);
	assert_int_equal(strlen(token), USERS_TOKEN_LEN);
	assert_memory_equal(token, USERS_TOKEN_PREFIX,
	    strlen(USERS_TOKEN_PREFIX));
	/* 32 random bytes in base64url without padding */
	for (i = (int)strlen(USERS_TOKEN_PREFIX); token[i] != '\0'; i++)
		assert_non_null(strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmn"
		    "opqrstuvwxyz0123456789-_", token[i]));
	assert_int_equal(login(f, "alice", PW, 0, other), 0);
	assert_string_not_equal(token, other);

	/* the key is SHA-256(token) in hex, computed independently here */
	assert_int_equal(users_session_key(token, key), 0);
	assert_int_equal(EVP_Digest(token, strlen(token), md, NULL,
	    EVP_sha256(), NULL), 1);
	for (i = 0; i < 32; i++) {
		want[2 * i] = "0123456789abcdef"[md[i] >> 4];
		want[2 * i + 1] = "0123456789abcdef"[md[i] & 15];
	}
	want[64] = '\0';
	assert_string_equal(key, want);

	/* the sessions hold the keys and no token text; nor does any file
	 * of the database */
	memset(&w, 0, sizeof(w));
	w.needle = token + strlen(USERS_TOKEN_PREFIX);
	assert_int_equal(store_txn_begin(f->s, 0, &t), 0);
	assert_int_equal(store_walk(t, STORE_SESSIONS, NULL, 0, NULL, 0, 0,
	    walk_cb, &w), 0);
	store_txn_abort(&t);
	assert_int_equal(w.n, 2);
	assert_int_equal(w.found, 0);
	assert_true(strcmp(w.keys[0], key) == 0 || strcmp(w.keys[1], key) == 0);
	snprintf(db, sizeof(db), "%s/db", f->dir);
	assert_false(on_disk(db, token));
	assert_false(on_disk(db, token + strlen(USERS_TOKEN_PREFIX)));
	assert_false(on_disk(db, other + strlen(USERS_TOKEN_PREFIX)));
	assert_true(on_disk(db, key));	/* the search does find what is there */

	/* the token opens its session */
	assert_int_equal(bearer(f, token, &user, key2), 0);
	assert_string_equal(json_string_value(json_object_get(user, "name")),
	    "alice");
	assert_string_equal(key2, key);
	json_decref(user);
	user = NULL;

	/* anything else does not */
	token[USERS_TOKEN_LEN - 1] = token[USERS_TOKEN_LEN - 1] == 'A' ?
	    'B' : 'A';
	assert_int_equal(bearer(f, token, &user, key2),
	    SIGNET_ERR_UNAUTHENTICATED);
	assert_null(user);
	assert_int_equal(bearer(f, "", &user, key2),
	    SIGNET_ERR_UNAUTHENTICATED);
	assert_int_equal(bearer(f, "signet_", &user, key2),
	    SIGNET_ERR_UNAUTHENTICATED);
	memcpy(other, "tengis_", 7);	/* right length, wrong prefix */
	assert_int_equal(bearer(f, other, &user, key2),
	    SIGNET_ERR_UNAUTHENTICATED);
	/* the stored key itself is no token */
	assert_int_equal(bearer(f, key, &user, key2),
	    SIGNET_ERR_UNAUTHENTICATED);
	assert_null(user);
}

static void
test_cookie_and_bearer_apart(void **state)
{
	struct fx *f = *state;
	char btok[USERS_TOKEN_LEN + 1], ctok[USERS_TOKEN_LEN + 1], key[65];
	json_t *user = NULL;

	assert_int_equal(login(f, "alice", PW, 0, btok), 0);
	assert_int_equal(login(f, "alice", PW, 1, ctok), 0);
	/* each opens its own kind of session */
	assert_int_equal(bearer(f, btok, &user, key), 0);
	json_decref(user);
	user = NULL;
	assert_int_equal(users_cookie_session(f->s, ctok, 900, &user, key), 0);
	assert_string_equal(json_string_value(json_object_get(user, "name")),
	    "alice");
	json_decref(user);
	user = NULL;
	/* and not the other: a cookie replayed as a bearer token would skip
	 * the CSRF check's purpose, a bearer token as a cookie would skip
	 * the check itself */
	assert_int_equal(bearer(f, ctok, &user, key),
	    SIGNET_ERR_UNAUTHENTICATED);
	assert_null(user);
	assert_int_equal(users_cookie_session(f->s, btok, 900, &user, key),
	    SIGNET_ERR_UNAUTHENTICATED);
	assert_null(user);
}

/* --- CSRF -------------------------------------------------------------- */

static void
test_csrf(void **state)
{
	struct fx *f = *state;
	char ctok[USERS_TOKEN_LEN + 1], ctok2[USERS_TOKEN_LEN + 1];
	char key[65], key2[65], csrf[USERS_CSRF_LEN + 1],
	    csrf2[USERS_CSRF_LEN + 1], again[USERS_CSRF_LEN + 1],
	    bad[USERS_CSRF_LEN + 2];
	size_t i;

	assert_int_equal(login(f, "alice", PW, 1, ctok), 0);
	assert_int_equal(login(f, "alice", PW, 1, ctok2), 0);
	assert_int_equal(users_session_key(ctok, key), 0);
	assert_int_equal(users_session_key(ctok2, key2), 0);
	assert_int_equal(users_csrf_token(key, csrf), 0);
	assert_int_equal(users_csrf_token(key2, csrf2), 0);
	assert_int_equal(strlen(csrf), USERS_CSRF_LEN);
	for (i = 0; i < USERS_CSRF_LEN; i++)
		assert_non_null(strchr("0123456789abcdef", csrf[i]));
	/* stable for the session, different between sessions */
	assert_int_equal(users_csrf_token(key, again), 0);
	assert_string_equal(csrf, again);
	assert_string_not_equal(csrf, csrf2);

	/* the right token, compared in constant time over its length */
	memcmp_calls = 0;
	assert_int_equal(users_csrf_check(key, csrf), 1);
	assert_int_equal(memcmp_calls, 1);
	assert_int_equal(memcmp_len, USERS_CSRF_LEN);

	/* wrong: another session's, one character off (first, last),
	 * shorter, longer, empty, missing, upper case */
	memcmp_calls = 0;
	assert_int_equal(users_csrf_check(key, csrf2), 0);
	assert_int_equal(memcmp_calls, 1);
	snprintf(bad, sizeof(bad), "%s", csrf);
	bad[0] = bad[0] == '0' ? '1' : '0';
	assert_int_equal(users_csrf_check(key, bad), 0);
	snprintf(bad, sizeof(bad), "%s", csrf);
	bad[USERS_CSRF_LEN - 1] = bad[USERS_CSRF_LEN - 1] == '0' ? '1' : '0';
	assert_int_equal(users_csrf_check(key, bad), 0);
	snprintf(bad, sizeof(bad), "%.*s", USERS_CSRF_LEN - 1, csrf);
	assert_int_equal(users_csrf_check(key, bad), 0);
	snprintf(bad, sizeof(bad), "%s0", csrf);
	assert_int_equal(users_csrf_check(key, bad), 0);
	assert_int_equal(users_csrf_check(key, ""), 0);
	assert_int_equal(users_csrf_check(key, NULL), 0);
	for (i = 0; i < USERS_CSRF_LEN; i++)
		bad[i] = (char)(csrf[i] >= 'a' ? csrf[i] - 32 : csrf[i]);
	bad[USERS_CSRF_LEN] = '\0';
	if (strcmp(bad, csrf) != 0)
		assert_int_equal(users_csrf_check(key, bad), 0);
	/* the session key is not its own CSRF token */
	assert_int_equal(users_csrf_check(key, key), 0);
}

/* --- expiry and logout ------------------------------------------------- */

static void
test_idle_expiry(void **state)
{
	struct fx *f = *state;
	char ctok[USERS_TOKEN_LEN + 1], key[65];
	uint64_t now, seen;
	json_t *user = NULL, *sess;

	assert_int_equal(login(f, "alice", PW, 1, ctok), 0);
	assert_int_equal(users_cookie_session(f->s, ctok, 900, &user, key), 0);
	json_decref(user);
	user = NULL;

	/* used two minutes ago: still alive, and the use is recorded (at
	 * most once per USERS_TOUCH_INTERVAL_S) */
	now = now_ns(CLOCK_REALTIME);
	set_int(f, STORE_SESSIONS, key, "lastSeenNs", now - 120000000000ULL);
	assert_int_equal(users_cookie_session(f->s, ctok, 900, &user, key), 0);
	json_decref(user);
	user = NULL;
	sess = get(f, STORE_SESSIONS, key);
	seen = (uint64_t)json_integer_value(json_object_get(sess,
	    "lastSeenNs"));
	json_decref(sess);
	assert_true(seen >= now);

	/* idle longer than idle_s: ended, though not yet expired */
	set_int(f, STORE_SESSIONS, key, "lastSeenNs",
	    now_ns(CLOCK_REALTIME) - 901000000000ULL);
	assert_int_equal(users_cookie_session(f->s, ctok, 900, &user, key),
	    SIGNET_ERR_UNAUTHENTICATED);
	assert_null(user);
	/* without an idle limit the same session is alive */
	assert_int_equal(users_cookie_session(f->s, ctok, 0, &user, key), 0);
	json_decref(user);
	user = NULL;
}

static void
test_absolute_expiry_and_logout(void **state)
{
	struct fx *f = *state;
	char btok[USERS_TOKEN_LEN + 1], ctok[USERS_TOKEN_LEN + 1];
	char ltok[USERS_TOKEN_LEN + 1], bkey[65], ckey[65], lkey[65];
	struct store_txn *t = NULL;
	json_t *user = NULL;
	struct walk w;

	assert_int_equal(login(f, "alice", PW, 0, btok), 0);
	assert_int_equal(login(f, "alice", PW, 1, ctok), 0);
	assert_int_equal(login(f, "alice", PW, 0, ltok), 0);
	assert_int_equal(users_session_key(btok, bkey), 0);
	assert_int_equal(users_session_key(ctok, ckey), 0);
	assert_int_equal(users_session_key(ltok, lkey), 0);

	/* past expiresNs, neither kind opens, whatever the idle time */
	set_int(f, STORE_SESSIONS, bkey, "expiresNs",
	    now_ns(CLOCK_REALTIME) - 1);
	set_int(f, STORE_SESSIONS, ckey, "expiresNs",
	    now_ns(CLOCK_REALTIME) - 1);
	assert_int_equal(bearer(f, btok, &user, bkey),
	    SIGNET_ERR_UNAUTHENTICATED);
	assert_int_equal(users_cookie_session(f->s, ctok, 0, &user, ckey),
	    SIGNET_ERR_UNAUTHENTICATED);
	assert_null(user);
	/* housekeeping drops them and keeps the live one */
	assert_int_equal(users_expire_sessions(f->s), 0);
	memset(&w, 0, sizeof(w));
	w.needle = "no such text";
	assert_int_equal(store_txn_begin(f->s, 0, &t), 0);
	assert_int_equal(store_walk(t, STORE_SESSIONS, NULL, 0, NULL, 0, 0,
	    walk_cb, &w), 0);
	store_txn_abort(&t);
	assert_int_equal(w.n, 1);
	assert_string_equal(w.keys[0], lkey);

	/* logout ends the live one */
	assert_int_equal(bearer(f, ltok, &user, lkey), 0);
	json_decref(user);
	user = NULL;
	assert_int_equal(users_logout(f->s, lkey, "alice"), 0);
	assert_int_equal(bearer(f, ltok, &user, lkey),
	    SIGNET_ERR_UNAUTHENTICATED);
	assert_null(user);
}

/* A removed user's sessions open nothing. */
static void
test_removed_user(void **state)
{
	struct fx *f = *state;
	char btok[USERS_TOKEN_LEN + 1], key[65];
	struct store_txn *t = NULL;
	json_t *user = NULL;

	assert_int_equal(login(f, "alice", PW, 0, btok), 0);
	assert_int_equal(store_txn_begin(f->s, 1, &t), 0);
	assert_int_equal(store_del(t, STORE_USERS, "alice", 5), 0);
	assert_int_equal(store_txn_commit(&t), 0);
	assert_int_equal(bearer(f, btok, &user, key),
	    SIGNET_ERR_UNAUTHENTICATED);
	assert_null(user);
}

/* Failed logins under names that are no user add at most one entry per
 * SIGNET_UNKNOWN_LOGIN_AUDIT_S, and never the name. (test_lockout, run
 * before this, wrote this process's first such entry.) */
static void
test_unknown_users_bounded(void **state)
{
	struct fx *f = *state;
	char token[USERS_TOKEN_LEN + 1];

	assert_int_equal(login(f, "mallory-1", PW, 0, token),
	    SIGNET_ERR_UNAUTHENTICATED);
	assert_int_equal(login(f, "mallory-2", PW, 0, token),
	    SIGNET_ERR_UNAUTHENTICATED);
	assert_int_equal(audit_count(f, "session.login-failed-unknown-user",
	    "mallory", 0), 0);
	assert_int_equal(audit_count(f, "session.login-failed", "mallory", 0),
	    0);
}

struct guess {
	struct fx *f;
	int r;
};

static void *
guess_thread(void *arg)
{
	struct guess *g = arg;
	char token[USERS_TOKEN_LEN + 1];

	g->r = login(g->f, "alice", "a wrong password", 0, token);
	return NULL;
}

/* Parallel wrong passwords are all counted: the count is read and written
 * in one write transaction, never from a copy read before Argon2. */
static void
test_parallel_guesses_lock(void **state)
{
	struct fx *f = *state;
	struct guess g[6];
	pthread_t th[6];
	char token[USERS_TOKEN_LEN + 1];
	json_t *u;
	int i, wrong = 0, now = 0, locked = 0;
	const char *why;

	for (i = 0; i < 6; i++) {
		g[i].f = f;
		assert_int_equal(pthread_create(&th[i], NULL, guess_thread,
		    &g[i]), 0);
	}
	for (i = 0; i < 6; i++) {
		assert_int_equal(pthread_join(th[i], NULL), 0);
		assert_int_equal(g[i].r, SIGNET_ERR_UNAUTHENTICATED);
	}
	for (i = 0; i < 6; i++) {
		why = audit_reason(f, (size_t)i);
		wrong += strcmp(why, "wrong-password") == 0;
		now += strcmp(why, "locked-now") == 0;
		locked += strcmp(why, "locked") == 0;
	}
	/* lockout_failures is 2: one miss, the lock, then four refused */
	assert_int_equal(wrong, 1);
	assert_int_equal(now, 1);
	assert_int_equal(locked, 4);
	u = get(f, STORE_USERS, "alice");
	assert_true((uint64_t)json_integer_value(json_object_get(u,
	    "lockedUntilNs")) > now_ns(CLOCK_REALTIME));
	assert_int_equal(json_integer_value(json_object_get(u,
	    "failedLogins")), 4);
	json_decref(u);
	/* locked: the right password is refused */
	assert_int_equal(login(f, "alice", PW, 0, token),
	    SIGNET_ERR_UNAUTHENTICATED);
	assert_int_equal(token[0], '\0');
}

static void
set_password(struct fx *f, const char *name, const char *pw)
{
	struct store_txn *t = NULL;

	assert_int_equal(store_txn_begin(f->s, 1, &t), 0);
	assert_int_equal(users_set_password(t, name, pw, strlen(pw)), 0);
	assert_int_equal(store_txn_commit(&t), 0);
}

static int
sessions_of(struct fx *f)
{
	struct store_txn *t = NULL;
	struct walk w;

	memset(&w, 0, sizeof(w));
	w.needle = "\001";
	assert_int_equal(store_txn_begin(f->s, 0, &t), 0);
	assert_int_equal(store_walk(t, STORE_SESSIONS, NULL, 0, NULL, 0, 0,
	    walk_cb, &w), 0);
	store_txn_abort(&t);
	return w.n;
}

/* A new password ends all of the user's sessions, bearer and cookie,
 * and only theirs. */
static void
test_password_change_revokes(void **state)
{
	struct fx *f = *state;
	char b1[USERS_TOKEN_LEN + 1], b2[USERS_TOKEN_LEN + 1];
	char c1[USERS_TOKEN_LEN + 1], bob[USERS_TOKEN_LEN + 1], key[65];
	json_t *user = NULL;

	add_user(f, "bob", PW);
	assert_int_equal(login(f, "alice", PW, 0, b1), 0);
	assert_int_equal(login(f, "alice", PW, 0, b2), 0);
	assert_int_equal(login(f, "alice", PW, 1, c1), 0);
	assert_int_equal(login(f, "bob", PW, 0, bob), 0);
	assert_int_equal(sessions_of(f), 4);
	set_password(f, "alice", PW2);
	assert_int_equal(bearer(f, b1, &user, key), SIGNET_ERR_UNAUTHENTICATED);
	assert_int_equal(bearer(f, b2, &user, key), SIGNET_ERR_UNAUTHENTICATED);
	assert_int_equal(users_cookie_session(f->s, c1, 900, &user, key),
	    SIGNET_ERR_UNAUTHENTICATED);
	assert_null(user);
	/* deleted, not only refused */
	assert_int_equal(sessions_of(f), 1);
	assert_int_equal(bearer(f, bob, &user, key), 0);
	json_decref(user);
	user = NULL;
	/* a session made from the new password works */
	assert_int_equal(login(f, "alice", PW2, 0, b1), 0);
	assert_int_equal(bearer(f, b1, &user, key), 0);
	json_decref(user);
}

/* Writes alice's record with these roles, as apply and the admin API do. */
static void
update_roles(struct fx *f, const char *role)
{
	struct store_txn *t = NULL;
	json_t *old = NULL, *rec;

	assert_int_equal(store_txn_begin(f->s, 1, &t), 0);
	assert_int_equal(store_get_json(t, STORE_USERS, "alice", &old), 0);
	assert_non_null(rec = json_deep_copy(old));
	assert_int_equal(json_object_set_new(rec, "roles",
	    json_pack("[s]", role)), 0);
	assert_int_equal(users_record_update(t, "alice", old, rec), 0);
	assert_int_equal(store_put_json(t, STORE_USERS, "alice", rec), 0);
	assert_int_equal(store_txn_commit(&t), 0);
	json_decref(old);
	json_decref(rec);
}

static void
test_role_change_revokes(void **state)
{
	struct fx *f = *state;
	char b[USERS_TOKEN_LEN + 1], c[USERS_TOKEN_LEN + 1], key[65];
	json_t *user = NULL;

	assert_int_equal(login(f, "alice", PW, 0, b), 0);
	assert_int_equal(login(f, "alice", PW, 1, c), 0);
	/* the same roles: nothing ends */
	update_roles(f, ROLE_OFFICER);
	assert_int_equal(bearer(f, b, &user, key), 0);
	json_decref(user);
	user = NULL;
	update_roles(f, ROLE_ADMIN);
	assert_int_equal(bearer(f, b, &user, key), SIGNET_ERR_UNAUTHENTICATED);
	assert_int_equal(users_cookie_session(f->s, c, 900, &user, key),
	    SIGNET_ERR_UNAUTHENTICATED);
	assert_null(user);
}

/* A session passes neither to a later user of the same name (even if the
 * stored sessions were not deleted with the first one), nor from before
 * users had ids; a user without an id gets one at the next login. */
static void
test_session_bound_to_user_id(void **state)
{
	struct fx *f = *state;
	char b[USERS_TOKEN_LEN + 1], key[65];
	struct store_txn *t = NULL;
	json_t *user = NULL, *u, *sess;
	char *id1;

	assert_int_equal(login(f, "alice", PW, 0, b), 0);
	u = get(f, STORE_USERS, "alice");
	assert_non_null(id1 = strdup(json_string_value(json_object_get(u,
	    "id"))));
	assert_int_equal(strlen(id1), 2 * SIGNET_USER_ID_BYTES);
	json_decref(u);
	assert_int_equal(store_txn_begin(f->s, 1, &t), 0);
	assert_int_equal(store_del(t, STORE_USERS, "alice", 5), 0);
	assert_int_equal(store_txn_commit(&t), 0);
	add_user(f, "alice", PW);
	u = get(f, STORE_USERS, "alice");
	assert_string_not_equal(json_string_value(json_object_get(u, "id")),
	    id1);
	json_decref(u);
	assert_int_equal(bearer(f, b, &user, key), SIGNET_ERR_UNAUTHENTICATED);
	assert_null(user);

	/* an older record: no id, no generation; its session none either */
	assert_int_equal(login(f, "alice", PW, 0, b), 0);
	assert_int_equal(users_session_key(b, key), 0);
	assert_int_equal(store_txn_begin(f->s, 1, &t), 0);
	assert_int_equal(store_get_json(t, STORE_USERS, "alice", &u), 0);
	json_object_del(u, "id");
	json_object_del(u, "sessionGen");
	assert_int_equal(store_put_json(t, STORE_USERS, "alice", u), 0);
	json_decref(u);
	assert_int_equal(store_get_json(t, STORE_SESSIONS, key, &sess), 0);
	json_object_del(sess, "userId");
	json_object_del(sess, "gen");
	assert_int_equal(store_put_json(t, STORE_SESSIONS, key, sess), 0);
	json_decref(sess);
	assert_int_equal(store_txn_commit(&t), 0);
	assert_int_equal(bearer(f, b, &user, key), SIGNET_ERR_UNAUTHENTICATED);
	assert_int_equal(login(f, "alice", PW, 0, b), 0);
	assert_int_equal(bearer(f, b, &user, key), 0);
	assert_true(json_is_string(json_object_get(user, "id")));
	json_decref(user);
	free(id1);
}

static void
test_roles(void **state)
{
	json_t *u = json_pack("{s:[s, i]}", "roles", ROLE_AUDITOR, 7);

	(void)state;
	assert_true(users_valid_role(ROLE_ADMIN));
	assert_true(users_valid_role(ROLE_OFFICER));
	assert_true(users_valid_role(ROLE_AUDITOR));
	assert_false(users_valid_role("Administrator"));
	assert_false(users_valid_role(""));
	assert_true(users_has_role(u, ROLE_AUDITOR));
	assert_false(users_has_role(u, ROLE_ADMIN));
	assert_false(users_has_role(NULL, ROLE_ADMIN));
	json_decref(u);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_password_hash_and_round_trip,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_password_rules, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_lockout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_session_token_stored_as_hash,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_cookie_and_bearer_apart,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_csrf, setup, teardown),
		cmocka_unit_test_setup_teardown(test_idle_expiry, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_absolute_expiry_and_logout,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_removed_user, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_unknown_users_bounded,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_parallel_guesses_lock,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_password_change_revokes,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_role_change_revokes,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_session_bound_to_user_id,
		    setup, teardown),
		cmocka_unit_test(test_roles),
	};

	return cmocka_run_group_tests(tests, setup_group, NULL);
}
