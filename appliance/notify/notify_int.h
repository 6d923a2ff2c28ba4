/* Shared by the notify files (notify_*.c) and nothing else. */
#ifndef SIGNET_NOTIFY_INT_H
#define SIGNET_NOTIFY_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include <curl/curl.h>
#include <jansson.h>

#include "store.h"

#define NOTIFY_ERRLEN		256
#define NOTIFY_NS_PER_S		1000000000ULL

struct notify {
	struct store *s;
	char *smtp_url;		/* NULL: e-mails wait in the outbox */
	int smtp_starttls;	/* smtp:// (not smtps://): try STARTTLS */
	char *mail_from;
	const char *mail_domain;	/* inside mail_from */
	char *ca_file;
	unsigned base_ms;
	unsigned max_ms;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int kicked;		/* under lock */
	atomic_int stopping;	/* also read by curl's progress callback */
	size_t last_bad;	/* counts last logged, to log changes only */
	size_t last_held;
	int have_lock, have_cond;
};

/* notify_outbox.c */
/* enqueue_email has no handle to ask whether mail is configured, so
 * notify_start leaves the answer here: 0 not started yet (record, to be
 * safe), 1 on, -1 off. */
extern atomic_int notify_mail;
extern atomic_flag notify_mail_logged;
/* Big-endian, so LMDB's key order is enqueue order. */
void notify_key(uint64_t seq, unsigned char k[8]);
int notify_check_url(const char *url);
int notify_check_event(const char *type);
int notify_put(struct store_txn *t, uint64_t seq, json_t *rec) SIGNET_WUR;
int notify_parse(const void *v, size_t vlen, json_t **out) SIGNET_WUR;

/* notify_scheduler.c: what every transfer shares (outbound.c). */
int notify_curl_setup(struct notify *n, CURL *c, const char *url,
    const char *protocols, char *errbuf);
void notify_curl_error(CURLcode cc, const char *errbuf,
    char err[NOTIFY_ERRLEN]);

/* notify_webhook.c, notify_mail.c: one delivery; 0, or err says why. */
int notify_webhook(struct notify *n, uint64_t seq, const json_t *rec,
    char err[NOTIFY_ERRLEN]);
int notify_email(struct notify *n, uint64_t seq, const json_t *rec,
    char err[NOTIFY_ERRLEN]);

#endif
