/* People: users with roles, Argon2id password hashes, bearer sessions and
 * the lockout after repeated failed logins. */
#ifndef SIGNET_USERS_H
#define SIGNET_USERS_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "err.h"
#include "signet_limits.h"
#include "store.h"

#define USERS_TOKEN_PREFIX "signet_"
/* prefix + base64url of 32 random bytes (256 bits) */
#define USERS_TOKEN_LEN (7 + 43)
#define USERS_MAX_PASSWORD SIGNET_MAX_PASSWORD
/* hex of HMAC-SHA256 */
#define USERS_CSRF_LEN 64
/* a cookie session's last use is written at most this often (a
 * quarter of the idle time when that is shorter) */
#define USERS_TOUCH_INTERVAL_S 60

#define ROLE_ADMIN "administrator"
#define ROLE_OFFICER "security-officer"
#define ROLE_AUDITOR "auditor"
/* reads GET /api/v1/metrics and nothing else */
#define ROLE_METRICS "metrics"

struct users_policy {
	unsigned session_ttl;		/* seconds */
	unsigned lockout_failures;
	unsigned lockout_seconds;
};

/* Once at startup: prepares the hash used to keep the time of a login
 * for an unknown user equal to that of a known one. */
int users_init(void) SIGNET_WUR;
int users_valid_role(const char *role);
int users_has_role(const json_t *user, const char *role);

/* Argon2id (RFC 9106) hash of pw, stored in the user record; the
 * user's sessions end (users_revoke). */
int users_set_password(struct store_txn *t, const char *name,
    const char *pw, size_t pwlen) SIGNET_WUR;

/* Ends every session of user name: deletes them and moves the record's
 * session generation on (u is the record the caller is about to write;
 * it gets an id if it has none), so a session made meanwhile is refused
 * too. Password changes call it; so must role changes. */
int users_revoke(struct store_txn *t, const char *name, json_t *u) SIGNET_WUR;
/* Deletes the stored sessions of user name (when the user is removed). */
int users_drop_sessions(struct store_txn *t, const char *name) SIGNET_WUR;
/* Before a user record rec is written over old (NULL: a new user): gives
 * it an id, and ends the user's sessions when the roles change. */
int users_record_update(struct store_txn *t, const char *name,
    const json_t *old, json_t *rec) SIGNET_WUR;

/* Checks the password and, on success, creates a session whose token is
 * returned once and stored only as its SHA-256. Every failure, whatever
 * its cause (no such user, wrong password, locked), is
 * SIGNET_ERR_UNAUTHENTICATED and takes about as long. Audited: a known
 * user's failures under the user; those under other names without the
 * name, at most once per SIGNET_UNKNOWN_LOGIN_AUDIT_S with a count. The
 * failure count and the lock are decided in the write transaction that
 * reads them, so parallel attempts are all counted. A session is bound
 * to the user's id and session generation. */
int users_login(struct store *s, const struct users_policy *p,
    const char *name, const char *pw, size_t pwlen,
    const char *remote, char token[USERS_TOKEN_LEN + 1],
    uint64_t *expires_ns) SIGNET_WUR;
/* The same for the web interface: the session is marked as a cookie
 * session, usable only through users_cookie_session (a cookie token is
 * refused as a bearer token, and the reverse). */
int users_login_cookie(struct store *s, const struct users_policy *p,
    const char *name, const char *pw, size_t pwlen,
    const char *remote, char token[USERS_TOKEN_LEN + 1],
    uint64_t *expires_ns) SIGNET_WUR;
/* Bearer token → user record (new reference) and the session's key. */
int users_session(struct store_txn *t, const char *token, json_t **user,
    char key[65]) SIGNET_WUR;
/* The same in a read transaction of its own. */
int users_bearer_session(struct store *s, const char *token, json_t **user,
    char key[65]) SIGNET_WUR;
/* users_set_password with its user.password-set audit entry, committed
 * together; actor_type/actor did it. */
int users_change_password(struct store *s, const char *actor_type,
    const char *actor, const char *name, const char *pw,
    size_t pwlen) SIGNET_WUR;
/* Cookie token → user record and the session's key. A session unused
 * for idle_s seconds has ended; its last use is recorded at most every
 * USERS_TOUCH_INTERVAL_S seconds (one write a minute, not one a
 * request), or a quarter of idle_s if that is less. */
int users_cookie_session(struct store *s, const char *token,
    unsigned idle_s, json_t **user, char key[65]) SIGNET_WUR;
/* The key a session is stored under: the SHA-256 (hex) of its token. */
int users_session_key(const char *token, char key[65]) SIGNET_WUR;
/* The CSRF token of a cookie session: HMAC-SHA256 of its key under a
 * secret made at users_init, so it is valid until the session ends or
 * signetd restarts (GET /api/v1/me hands out the current one). */
int users_csrf_token(const char key[65],
    char out[USERS_CSRF_LEN + 1]) SIGNET_WUR;
/* 1 when presented is the session's CSRF token (constant time). */
int users_csrf_check(const char key[65], const char *presented);
int users_logout(struct store *s, const char *key, const char *user) SIGNET_WUR;
/* Drops expired sessions (housekeeping). */
int users_expire_sessions(struct store *s) SIGNET_WUR;

#endif
