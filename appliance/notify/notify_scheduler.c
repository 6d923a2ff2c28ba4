/* The delivery thread: what is due in the outbox, oldest first, by
 * webhook (notify_webhook.c) or e-mail (notify_mail.c), retried with a
 * growing delay; and what every transfer shares. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "log.h"
#include "notify.h"
#include "notify_int.h"
#include "outbound.h"
#include "rd.h"
#include "request.h"
#include "signet_limits.h"
#include "wbuf.h"

/* Tuning of the delivery thread; nothing here is set by a caller. */
#define NOTIFY_BATCH		16	/* due entries taken per pass */
#define NOTIFY_MAX_SLEEP_MS	60000	/* re-read the wall clock this often */
#define NOTIFY_STORE_PAUSE_MS	5000	/* after an LMDB error */
#define NOTIFY_NS_PER_MS	1000000ULL

struct notify_item {
	uint64_t seq;
	json_t *rec;
};

struct notify_scan {
	const struct notify *n;
	uint64_t now;
	struct notify_item item[NOTIFY_BATCH];
	size_t count;
	int more;		/* due entries beyond the batch */
	uint64_t next_due;	/* UINT64_MAX: nothing waits */
	size_t bad;
	size_t held;
};

static uint64_t
notify_now_ns(void)
{
	struct timespec ts;

	/* wall clock: due times outlive the process */
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * NOTIFY_NS_PER_S + (uint64_t)ts.tv_nsec;
}

/* ---- what every transfer shares ---- */

/* What every transfer shares (outbound.c); notify_stop need not wait for
 * one in progress. */
int
notify_curl_setup(struct notify *n, CURL *c, const char *url,
    const char *protocols, char *errbuf)
{
	return outbound_setup(c, url, protocols, n->ca_file, &n->stopping,
	    errbuf);
}

void
notify_curl_error(CURLcode cc, const char *errbuf, char err[NOTIFY_ERRLEN])
{
	snprintf(err, NOTIFY_ERRLEN, "%s",
	    errbuf[0] != '\0' ? errbuf : curl_easy_strerror(cc));
}

/* For logs: the receiver's host only, as a webhook URL's path or query
 * often is a credential itself. */
static void
notify_target(const json_t *rec, char *out, size_t cap)
{
	const char *ch = json_string_value(json_object_get(rec, "channel"));
	const char *to = json_string_value(json_object_get(rec, "to"));
	const char *url = json_string_value(json_object_get(rec, "url"));
	CURLU *u;
	char *host = NULL;

	snprintf(out, cap, "?");
	if (ch != NULL && strcmp(ch, "email") == 0 && notify_valid_address(to)) {
		snprintf(out, cap, "mail to %s", to);
	} else if (url != NULL && (u = curl_url()) != NULL) {
		if (curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
		    curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK)
			snprintf(out, cap, "webhook %s", host);
		curl_free(host);
		curl_url_cleanup(u);
	}
}

static uint64_t
notify_delay_ms(const struct notify *n, json_int_t attempts)
{
	uint64_t d = n->base_ms;
	json_int_t i;

	for (i = 1; i < attempts && d < n->max_ms; i++)
		d *= 2;
	return d < n->max_ms ? d : n->max_ms;
}

/* Records one delivery's outcome in its own write transaction. */
static int
notify_outcome(struct notify *n, uint64_t seq, json_t *rec, int res,
    const char *err)
{
	struct store_txn *t = NULL;
	unsigned char k[8];
	const void *v;
	size_t vlen;
	uint64_t now, created, delay = 0;
	json_int_t attempts;
	char target[SIGNET_MAX_MAIL_ADDRESS + 32];
	int r, dead;

	notify_key(seq, k);
	notify_target(rec, target, sizeof(target));
	if ((r = store_txn_begin(n->s, 1, &t)) != 0)
		goto out;
	r = store_get(t, STORE_OUTBOX, k, sizeof(k), &v, &vlen);
	if (r == SIGNET_ERR_NOT_FOUND) {	/* removed by an operator */
		r = 0;
		goto out;
	}
	if (r != 0)
		goto out;
	if (res == 0) {
		if ((r = store_del(t, STORE_OUTBOX, k, sizeof(k))) != 0)
			goto out;
		log_debug("notify: %llu delivered (%s)",
		    (unsigned long long)seq, target);
	} else {
		now = notify_now_ns();
		attempts = json_integer_value(json_object_get(rec,
		    "attempts")) + 1;
		created = (uint64_t)json_integer_value(json_object_get(rec,
		    "createdNs"));
		dead = res == SIGNET_ERR_INVALID ||
		    attempts >= SIGNET_NOTIFY_MAX_ATTEMPTS ||
		    (now > created && now - created >=
		    (uint64_t)SIGNET_NOTIFY_MAX_AGE_S * NOTIFY_NS_PER_S);
		if (!dead)
			delay = notify_delay_ms(n, attempts);
		if (json_object_set_new(rec, "attempts",
		    json_integer(attempts)) ||
		    json_object_set_new(rec, "lastError", json_string(err)) ||
		    json_object_set_new(rec, "dead", json_boolean(dead)) ||
		    json_object_set_new(rec, "nextAttemptNs", json_integer(
		    (json_int_t)(now + delay * NOTIFY_NS_PER_MS)))) {
			r = SIGNET_ERR_NOMEM;
			goto out;
		}
		if ((r = notify_put(t, seq, rec)) != 0)
			goto out;
		if (dead)
			log_err("notify: gave up on %llu (%s) after %lld "
			    "attempts: %s", (unsigned long long)seq, target,
			    (long long)attempts, err);
		else
			log_warn("notify: %llu (%s) failed, attempt %lld, "
			    "next in %llu ms: %s", (unsigned long long)seq,
			    target, (long long)attempts,
			    (unsigned long long)delay, err);
	}
	r = store_txn_commit(&t);
out:
	store_txn_abort(&t);
	return r;
}

static int
notify_scan_fn(const void *k, size_t klen, const void *v, size_t vlen,
    void *arg)
{
	struct notify_scan *sc = arg;
	struct rd rd;
	uint64_t seq, due;
	json_t *rec = NULL;
	const char *ch;

	rd_init(&rd, k, klen);
	if (rd_u64(&rd, &seq) != 0 || rd_end(&rd) != 0 ||
	    notify_parse(v, vlen, &rec) != 0) {
		sc->bad++;
		return 0;
	}
	ch = json_string_value(json_object_get(rec, "channel"));
	if (json_is_true(json_object_get(rec, "dead")))
		goto skip;
	if (sc->n->smtp_url == NULL && ch != NULL && strcmp(ch, "email") == 0) {
		sc->held++;
		goto skip;
	}
	due = (uint64_t)json_integer_value(json_object_get(rec,
	    "nextAttemptNs"));
	if (due > sc->now) {
		if (due < sc->next_due)
			sc->next_due = due;
		goto skip;
	}
	if (sc->count == NOTIFY_BATCH) {
		sc->more = 1;
		json_decref(rec);
		return 1;
	}
	sc->item[sc->count].seq = seq;
	sc->item[sc->count++].rec = rec;
	return 0;
skip:
	json_decref(rec);
	return 0;
}

static int
notify_deliver(struct notify *n, const struct notify_item *it,
    char err[NOTIFY_ERRLEN])
{
	const char *ch = json_string_value(json_object_get(it->rec,
	    "channel"));

	if (ch != NULL && strcmp(ch, "webhook") == 0)
		return notify_webhook(n, it->seq, it->rec, err);
	if (ch != NULL && strcmp(ch, "email") == 0)
		return notify_email(n, it->seq, it->rec, err);
	snprintf(err, NOTIFY_ERRLEN, "unknown channel");
	return SIGNET_ERR_INVALID;
}

/* One pass over the outbox; returns how long to sleep (ms). The network is
 * only used between transactions. */
static uint64_t
notify_pass(struct notify *n)
{
	struct notify_scan sc;
	struct store_txn *t = NULL;
	char err[NOTIFY_ERRLEN];
	uint64_t wait = NOTIFY_STORE_PAUSE_MS, now;
	size_t i;
	int r, res;

	memset(&sc, 0, sizeof(sc));
	sc.n = n;
	sc.now = notify_now_ns();
	sc.next_due = UINT64_MAX;
	if (store_txn_begin(n->s, 0, &t) != 0)
		goto out;
	r = store_walk(t, STORE_OUTBOX, NULL, 0, NULL, 0, 0, notify_scan_fn,
	    &sc);
	store_txn_abort(&t);
	if (r != 0)
		goto out;
	if (sc.bad != n->last_bad && sc.bad > 0)
		log_err("notify: %zu unreadable outbox records skipped",
		    sc.bad);
	if (sc.held != n->last_held && sc.held > 0)
		log_info("notify: %zu e-mails kept in the outbox until "
		    "[notify] smtp_url is set", sc.held);
	n->last_bad = sc.bad;
	n->last_held = sc.held;
	for (i = 0; i < sc.count && !atomic_load(&n->stopping); i++) {
		err[0] = '\0';
		res = notify_deliver(n, &sc.item[i], err);
		if (res != 0 && atomic_load(&n->stopping))
			break;	/* interrupted: left as it was */
		if (notify_outcome(n, sc.item[i].seq, sc.item[i].rec, res,
		    err) != 0)
			goto out;
	}
	if (sc.count > 0 || sc.more) {
		/* what just failed may be due again soon: look again */
		wait = 0;
	} else if (sc.next_due == UINT64_MAX) {
		wait = NOTIFY_MAX_SLEEP_MS;
	} else {
		now = notify_now_ns();
		wait = sc.next_due <= now ? 0 :
		    (sc.next_due - now + NOTIFY_NS_PER_MS - 1) /
		    NOTIFY_NS_PER_MS;
		if (wait > NOTIFY_MAX_SLEEP_MS)
			wait = NOTIFY_MAX_SLEEP_MS;
	}
out:
	for (i = 0; i < sc.count; i++)
		json_decref(sc.item[i].rec);
	return wait;
}

static void *
notify_main(void *arg)
{
	struct notify *n = arg;
	struct timespec dl;
	uint64_t wait;

	pthread_mutex_lock(&n->lock);
	while (!atomic_load(&n->stopping)) {
		n->kicked = 0;
		pthread_mutex_unlock(&n->lock);
		wait = notify_pass(n);
		pthread_mutex_lock(&n->lock);
		if (wait == 0)
			continue;
		/* monotonic: a clock step must not stall the outbox */
		clock_gettime(CLOCK_MONOTONIC, &dl);
		dl.tv_sec += (time_t)(wait / 1000);
		dl.tv_nsec += (long)(wait % 1000) * 1000000L;
		if (dl.tv_nsec >= 1000000000L) {
			dl.tv_sec++;
			dl.tv_nsec -= 1000000000L;
		}
		while (!atomic_load(&n->stopping) && !n->kicked)
			if (pthread_cond_timedwait(&n->cond, &n->lock, &dl) != 0)
				break;
	}
	pthread_mutex_unlock(&n->lock);
	return NULL;
}

static void
notify_free(struct notify *n)
{
	if (n == NULL)
		return;
	if (n->have_cond)
		pthread_cond_destroy(&n->cond);
	if (n->have_lock)
		pthread_mutex_destroy(&n->lock);
	free(n->smtp_url);
	free(n->mail_from);
	free(n->ca_file);
	free(n);
}

int
notify_start(struct store *s, const struct notify_opts *o,
    struct notify **out)
{
	struct notify *n = NULL;
	pthread_condattr_t ca;
	int r = SIGNET_ERR_CONFIG;

	*out = NULL;
	if (o->retry_base_ms == 0 || o->retry_max_ms < o->retry_base_ms) {
		log_err("notify: retry_base_ms must be above 0 and at most "
		    "retry_max_ms");
		goto out;
	}
	if (o->smtp_url != NULL) {
		if (strncasecmp(o->smtp_url, "smtp://", 7) != 0 &&
		    strncasecmp(o->smtp_url, "smtps://", 8) != 0) {
			log_err("notify: smtp_url must start with smtp:// or "
			    "smtps://");
			goto out;
		}
		if (!notify_valid_address(o->mail_from)) {
			log_err("notify: mail_from must be a plain address "
			    "(user@host)");
			goto out;
		}
	}
	if ((r = outbound_init()) != 0)
		goto out;
	r = SIGNET_ERR_NOMEM;
	if ((n = calloc(1, sizeof(*n))) == NULL)
		goto out;
	n->s = s;
	n->base_ms = o->retry_base_ms;
	n->max_ms = o->retry_max_ms;
	atomic_init(&n->stopping, 0);
	if (o->smtp_url != NULL) {
		if ((n->smtp_url = strdup(o->smtp_url)) == NULL ||
		    (n->mail_from = strdup(o->mail_from)) == NULL)
			goto out;
		n->mail_domain = strchr(n->mail_from, '@') + 1;
		n->smtp_starttls = strncasecmp(n->smtp_url, "smtp://", 7) == 0;
	}
	if (o->ca_file != NULL && (n->ca_file = strdup(o->ca_file)) == NULL)
		goto out;
	r = SIGNET_ERR_INTERNAL;
	if (pthread_mutex_init(&n->lock, NULL) != 0)
		goto out;
	n->have_lock = 1;
	if (pthread_condattr_init(&ca) != 0)
		goto out;
	if (pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) == 0 &&
	    pthread_cond_init(&n->cond, &ca) == 0)
		n->have_cond = 1;
	pthread_condattr_destroy(&ca);
	if (!n->have_cond)
		goto out;
	atomic_store(&notify_mail, n->smtp_url != NULL ? 1 : -1);
	if (pthread_create(&n->thread, NULL, notify_main, n) != 0) {
		log_err("notify: cannot start the delivery thread");
		goto out;
	}
	*out = n;
	n = NULL;
	r = 0;
out:
	notify_free(n);
	return r;
}

void
notify_kick(struct notify *n)
{
	if (n == NULL)
		return;
	pthread_mutex_lock(&n->lock);
	n->kicked = 1;
	pthread_cond_signal(&n->cond);
	pthread_mutex_unlock(&n->lock);
}

void
notify_stop(struct notify *n)
{
	if (n == NULL)
		return;
	pthread_mutex_lock(&n->lock);
	atomic_store(&n->stopping, 1);
	pthread_cond_signal(&n->cond);
	pthread_mutex_unlock(&n->lock);
	pthread_join(n->thread, NULL);
	notify_free(n);
}
