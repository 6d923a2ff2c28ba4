/* signetd's side of the keyholder: starts the process and asks it things.
 * The keyholder is the only process that loads the PKCS#11 module and
 * knows the PIN (pkcs11/PROTOCOL.md). Every call is one request and one
 * reply over a socketpair; calls from several threads are in flight at
 * once, each under its own request id, and the keyholder signs them on
 * as many token sessions side by side. */
#ifndef SIGNET_KHCLIENT_H
#define SIGNET_KHCLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "err.h"
#include "signet_limits.h"

struct kh;

struct kh_spawn_opts {
	const char *path;		/* signet-keyholder executable */
	const char *module;		/* PKCS#11 module path */
	const char *token_label;	/* token to use; NULL = first with a token */
	const char *pin_file;		/* owner-only file; NULL = start locked */
	const char *const *env;		/* NULL-terminated "K=V" for the keyholder
					 * only (e.g. SOFTHSM2_CONF); may be NULL */
	const char *user;		/* drop to this user when root; NULL = stay */
	const char *journal;		/* the keyholder's signing journal
					 * directory (required) */
	bool no_generate;		/* the keyholder refuses GENERATE */
	unsigned sessions;		/* token sessions to sign on at once,
					 * 1..SIGNET_KH_MAX_SESSIONS; 0: the
					 * keyholder's default (one per CPU) */
};

enum kh_key_type { KH_KEY_RSA = 1, KH_KEY_EC = 2 };
enum kh_mech { KH_MECH_RSA_PKCS1 = 1, KH_MECH_RSA_PSS = 2, KH_MECH_ECDSA = 3 };
enum kh_hash { KH_HASH_SHA256 = 1, KH_HASH_SHA384 = 2, KH_HASH_SHA512 = 3 };
/* What a signature is for, as signetd names it in SIGN and the keyholder
 * journals it: a signing request (ref = its id) or an administrator's
 * certificate work, a CSR or self-signed certificate (ref = the
 * administrator). */
enum kh_purpose { KH_PURPOSE_REQUEST = 1, KH_PURPOSE_CERTIFICATE = 2 };
/* GENERATE's only origin: an administrator's request. */
#define KH_GEN_BY_ADMIN	1

#define KH_MAX_REF	64	/* SIGN reference, GENERATE administrator */

#define KH_KEY_ID_HEX	64	/* hex of CKA_ID, at most 32 bytes */

struct kh_key_info {
	char id[KH_KEY_ID_HEX + 1];		/* hex CKA_ID: the key's name */
	char label[SIGNET_KH_MAX_LABEL + 1];	/* CKA_LABEL */
	int type;				/* enum kh_key_type */
	unsigned bits;				/* RSA modulus / EC field size */
};

struct kh_status {
	bool present;		/* a token with the label is in a slot */
	bool logged_in;
	char label[33];
	char manufacturer[33];
	char model[17];
	char serial[17];
	uint32_t flags;		/* CK_TOKEN_INFO flags (PIN counters etc.) */
	unsigned key_count;
	uint32_t slots;		/* slots of the module */
	uint32_t free_slots;	/* of those, slots with no initialised token */
	uint32_t sessions;	/* token sessions the keyholder signs on at
				 * once (0 without a token) */
};

/* The result of a LOGIN_FD: the login's code (0, SIGNET_ERR_PIN_INCORRECT,
 * SIGNET_ERR_PIN_LOCKED, SIGNET_ERR_TOKEN; SIGNET_ERR_INVALID or
 * SIGNET_ERR_UNAVAILABLE when no whole PIN frame came from the console),
 * the token's CK_TOKEN_INFO flags after the attempt, and whether the
 * keyholder wrote its answer frame to the console. */
struct kh_login_result {
	int code;
	uint32_t flags;
	bool answered;
};

/* fork+exec the keyholder with only the socket open (closefrom) and the
 * given environment. Returns 0 and *out, or a negative SIGNET_ERR_*. */
int kh_spawn(const struct kh_spawn_opts *o, struct kh **out) SIGNET_WUR;
/* Connects to a keyholder that runs on its own (its own unit,
 * signet-keyholder.socket: [keyholder] socket) at the Unix socket path
 * instead of starting one; it accepts only signetd's uid (SO_PEERCRED),
 * so call this as the user signetd serves as. kh_pid is -1 then. */
int kh_connect(const char *path, struct kh **out) SIGNET_WUR;
/* The keyholder closed its end (exited): signetd fails closed then. */
bool kh_gone(const struct kh *kh);
/* Closes the socket and reaps the process (if started); accepts NULL. */
void kh_free(struct kh *kh);
/* pid of the keyholder process (for tests and logging) */
int kh_pid(const struct kh *kh);

int kh_status(struct kh *kh, struct kh_status *st) SIGNET_WUR;
/* *keys is malloc'ed, free() it */
int kh_list_keys(struct kh *kh, struct kh_key_info **keys, size_t *n) SIGNET_WUR;
/* Key by CKA_ID hex or, if no id matches, by exact label. */
int kh_find_key(struct kh *kh, const char *id_or_label,
    struct kh_key_info *out) SIGNET_WUR;
int kh_public_key(struct kh *kh, const char *key_id, EVP_PKEY **pub) SIGNET_WUR;
/* dgst must be exactly the size of hash; *siglen is the capacity of sig
 * on entry and the signature length on return. ECDSA signatures are DER.
 * purpose and ref say what the signature is for (enum kh_purpose): the
 * keyholder journals them with the digest before it answers. Not logged
 * in: SIGNET_ERR_TOKEN_LOCKED, decided here (the keyholder would take a
 * SIGN while locked for a protocol violation). */
int kh_sign(struct kh *kh, const char *key_id, int mech, int hash,
    const uint8_t *dgst, size_t dlen, int purpose, const char *ref,
    uint8_t *sig, size_t *siglen) SIGNET_WUR;
/* RSA: bits 2048, 3072, 4096; EC: bits 256 (P-256) or 384 (P-384).
 * Generated inside the token: CKA_SENSITIVE, not CKA_EXTRACTABLE. Only
 * for an administrator's request: admin names them (journaled).
 * SIGNET_ERR_FORBIDDEN when the keyholder is configured not to generate. */
int kh_generate(struct kh *kh, const char *label, int type, unsigned bits,
    const char *admin, struct kh_key_info *out) SIGNET_WUR;
/* Logs in with a PIN (console token activation); pin is not kept.
 * Already logged in: SIGNET_ERR_CONFLICT, decided here. After
 * SIGNET_KH_MAX_PIN_FAILURES wrong PINs since the keyholder started, or
 * when the token has one try left: SIGNET_ERR_FORBIDDEN. */
int kh_login(struct kh *kh, const char *pin, size_t pinlen) SIGNET_WUR;

/* Token activation from the officer's console without signetd ever
 * holding the PIN: passes the console connection fd to the keyholder
 * (LOGIN_FD), which reads one PIN frame from it, logs in once, answers the
 * console itself and closes its copy. The caller must not read from fd
 * until this returns. Returns 0 and *res (res->code says how the login
 * went), or a negative error for the call itself (keyholder gone, protocol,
 * a failure reply), after which the console stream is out of step. */
int kh_login_fd(struct kh *kh, int fd, struct kh_login_result *res) SIGNET_WUR;

/* For tests only: writes frame[0..len) to the keyholder as it is, so a
 * test can show that the keyholder itself refuses what kh_* never sends.
 * The reply, if any, is left unread: the connection is spent after it. */
int kh_send_raw(struct kh *kh, const void *frame, size_t len) SIGNET_WUR;

#endif
