/* Notifications: an outbox in LMDB (STORE_OUTBOX) filled inside the
 * caller's write transaction, so a notification is recorded exactly when
 * the state change it reports is, and one thread that delivers it by
 * webhook (HTTPS POST, HMAC-SHA256 signed) or e-mail (SMTP relay).
 * Delivery is at least once: a receiver dedupes on X-Signet-Delivery. */
#ifndef SIGNET_NOTIFY_H
#define SIGNET_NOTIFY_H

#include <jansson.h>

#include "err.h"
#include "signet_limits.h"
#include "store.h"


struct notify;

struct notify_opts {
	const char *smtp_url;	/* smtp:// or smtps://; NULL = no e-mail */
	const char *mail_from;	/* envelope and From: address */
	const char *ca_file;	/* receivers' CAs; NULL = system default */
	unsigned retry_base_ms;	/* first retry delay; doubles each failure */
	unsigned retry_max_ms;	/* cap of the delay */
};

/* Records a webhook delivery inside the caller's write txn. body (an
 * object with a string "type", borrowed) is serialized here once, compact
 * with sorted keys; those exact bytes are signed and sent. Only https://
 * URLs. SIGNET_ERR_INVALID or SIGNET_ERR_TOO_LARGE for bad input. */
int notify_enqueue_webhook(struct store_txn *t, const char *url,
    const char *secret, const json_t *body) SIGNET_WUR;
/* Records an e-mail to one address. Control characters in subject become
 * spaces (no header injection); a bad address is SIGNET_ERR_INVALID. Once
 * notify_start ran without smtp_url, records nothing and returns 0. */
int notify_enqueue_email(struct store_txn *t, const char *to,
    const char *subject, const char *text) SIGNET_WUR;

/* For checking a project's settings when they are written, so a later
 * enqueue inside a state change does not fail: 1 when acceptable. */
int notify_valid_webhook(const char *url, const char *secret);
int notify_valid_address(const char *addr);

/* Starts the delivery thread: what is due, oldest first, then sleep until
 * the next due time or a kick. Stop it before closing the store. */
int notify_start(struct store *s, const struct notify_opts *o,
    struct notify **out) SIGNET_WUR;
/* Wakes the thread after a commit that enqueued something. Accepts NULL. */
void notify_kick(struct notify *n);
/* Stops the thread; an interrupted delivery stays in the outbox unchanged.
 * Accepts NULL. */
void notify_stop(struct notify *n);

#endif
