/* One error space for all of Signet: negative codes, 0 is success.
 *
 * SIGNET_ERRORS is the one table of them. Each row is
 *   X(NAME, value, text, HTTP status, wire, API code)
 * - value: the number. FROZEN for every code pkcs11/PROTOCOL.md lists:
 *   the keyholder's FAILURE reply carries it (two's complement u32).
 * - text: signet_strerror(), for logs and messages.
 * - HTTP status: what the API answers when the code reaches it
 *   (signet_err_http()).
 * - wire: the word the console protocol carries (signet_err_wire()).
 *   FROZEN where PROTOCOL.md names it (the keyholder's answer to a
 *   console login: pin-incorrect, pin-locked, token, invalid, unavailable).
 * - API code: the "error" member of a JSON error answer when the handler
 *   has no more precise one (signet_err_api()).
 * Add a code at the end only; never renumber. */
#ifndef SIGNET_ERR_H
#define SIGNET_ERR_H

#include <stddef.h>

#define SIGNET_ERRORS(X)						\
	X(INTERNAL,	  -1, "internal error",			500, "internal",	"internal")		\
	X(NOMEM,	  -2, "out of memory",			500, "internal",	"internal")		\
	X(INVALID,	  -3, "invalid input",			400, "invalid",		"invalid")		\
	X(TOO_LARGE,	  -4, "limit exceeded",			413, "too-large",	"too_large")		\
	X(NOT_FOUND,	  -5, "not found",			404, "not-found",	"not_found")		\
	X(EXISTS,	  -6, "already exists",			409, "exists",		"exists")		\
	X(CONFLICT,	  -7, "not allowed in the current state", 409, "conflict",	"conflict")		\
	X(UNAUTHENTICATED, -8, "not authenticated",		401, "unauthenticated",	"unauthenticated")	\
	X(FORBIDDEN,	  -9, "forbidden",			403, "forbidden",	"forbidden")		\
	X(IO,		 -10, "file system error",		500, "internal",	"storage")		\
	X(STORE,	 -11, "database error",			500, "internal",	"database")		\
	X(CRYPTO,	 -12, "cryptographic operation failed",	500, "internal",	"crypto")		\
	X(TOKEN,	 -13, "token operation failed",		500, "token",		"token")		\
	X(TOKEN_LOCKED,	 -14, "token is not logged in",		503, "token-locked",	"token_locked")		\
	X(PROTOCOL,	 -15, "keyholder protocol violation",	500, "keyholder",	"keyholder")		\
	X(KEYHOLDER,	 -16, "keyholder unavailable",		503, "keyholder",	"keyholder")		\
	X(CONFIG,	 -17, "configuration error",		500, "internal",	"configuration")	\
	X(TRUNCATED,	 -18, "input truncated",		400, "invalid",		"truncated")		\
	X(UNAVAILABLE,	 -19, "temporarily unavailable",	503, "unavailable",	"unavailable")		\
	X(PIN_INCORRECT, -20, "PIN incorrect",			500, "pin-incorrect",	"pin_incorrect")	\
	X(PIN_LOCKED,	 -21, "PIN locked",			500, "pin-locked",	"pin_locked")		\
	X(ORIGIN_RULE,	 -22, "origin rule not met",		403, "origin-rule",	"origin_rule")	\
	X(STORAGE_FULL,	 -23, "storage full",			507, "storage-full",	"storage_full")	\
	X(NO_TIMESTAMP,	 -24, "no time-stamp token",		502, "no-timestamp",	"no_timestamp")

enum signet_err {
	SIGNET_OK = 0,
#define SIGNET_ERR_ENUM(name, value, text, http, wire, api) \
	SIGNET_ERR_##name = value,
	SIGNET_ERRORS(SIGNET_ERR_ENUM)
#undef SIGNET_ERR_ENUM
	SIGNET_ERR_MAX = -25	/* one past the last */
};

#define SIGNET_WUR __attribute__((warn_unused_result))

/* Static text for an error code; never NULL ("unknown error"). */
const char *signet_strerror(int err);
/* Formats a message for the caller into msg[len] (cut to fit) and
 * returns err: `return signet_errf(msg, len, SIGNET_ERR_INVALID, "...")`. */
int signet_errf(char *msg, size_t len, int err, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* The HTTP status for err (500 for codes outside the table). */
int signet_err_http(int err);
/* The console protocol's word for err ("internal" outside the table). */
const char *signet_err_wire(int err);
/* The API's default "error" code for err ("internal" outside). */
const char *signet_err_api(int err);
/* 1 when err says nothing about the work it failed: a dependency (the
 * keyholder, the store, the disk, memory) was not there, and the same
 * work may succeed later. 0 for errors that belong to the work itself
 * (its input, the key refusing it) and for 0. */
int signet_err_transient(int err);

#endif
