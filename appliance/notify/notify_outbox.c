/* The outbox (STORE_OUTBOX): webhooks and e-mails recorded inside the
 * caller's write transaction, checked before they are, read back by the
 * delivery thread (notify_scheduler.c). */
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

#define NOTIFY_SEQ_KEY		"outbox_seq"

/* enqueue_email has no handle to ask whether mail is configured, so
 * notify_start leaves the answer here: 0 not started yet (record, to be
 * safe), 1 on, -1 off. */
atomic_int notify_mail;
atomic_flag notify_mail_logged = ATOMIC_FLAG_INIT;

/* Big-endian, so LMDB's key order is enqueue order. */
void
notify_key(uint64_t seq, unsigned char k[8])
{
	int i;

	for (i = 0; i < 8; i++)
		k[i] = (unsigned char)(seq >> (56 - 8 * i));
}

/* ---- validation ---- */

int
notify_check_url(const char *url)
{
	CURLU *u = NULL;
	char *scheme = NULL, *host = NULL;
	int r = SIGNET_ERR_INVALID;

	if (url == NULL)
		return SIGNET_ERR_INVALID;
	if (strnlen(url, SIGNET_MAX_WEBHOOK_URL + 1) > SIGNET_MAX_WEBHOOK_URL)
		return SIGNET_ERR_TOO_LARGE;
	/* curl guesses a scheme for "host/path" and takes "https:///h" as
	 * host h; insist on the scheme and a non-empty authority (RFC 9110
	 * 4.2.2: an https URI with an empty host is invalid) */
	if (strncasecmp(url, "https://", 8) != 0 ||
	    strchr("/?#", url[8]) != NULL)
		return SIGNET_ERR_INVALID;
	if ((r = outbound_init()) != 0)
		return r;
	r = SIGNET_ERR_INVALID;
	if ((u = curl_url()) == NULL)
		return SIGNET_ERR_NOMEM;
	/* the parser refuses spaces and control characters, so nothing
	 * stored here can split an HTTP request line */
	if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    strcmp(scheme, "https") != 0 ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
	    host[0] == '\0')
		goto out;
	r = 0;
out:
	curl_free(scheme);
	curl_free(host);
	curl_url_cleanup(u);
	return r;
}

/* An HMAC key a receiver must be able to hold as text: 16-256 visible
 * ASCII characters (no space, no control character, no byte a config
 * file or an environment variable would mangle). */
static int
notify_check_secret(const char *secret, int when_set)
{
	size_t i, len;

	if (secret == NULL)
		return SIGNET_ERR_INVALID;
	len = strnlen(secret, SIGNET_MAX_WEBHOOK_SECRET + 1);
	if (len > SIGNET_MAX_WEBHOOK_SECRET)
		return SIGNET_ERR_TOO_LARGE;
	/* a secret stored before this rule still signs what its project's
	 * state changes send (apply asks for a new one) */
	if (!when_set)
		return len == 0 ? SIGNET_ERR_INVALID : 0;
	if (len < SIGNET_MIN_WEBHOOK_SECRET)
		return SIGNET_ERR_INVALID;
	for (i = 0; i < len; i++)
		if ((unsigned char)secret[i] <= 0x20 ||
		    (unsigned char)secret[i] >= 0x7f)
			return SIGNET_ERR_INVALID;
	return 0;
}

/* The event type goes into a header: a token, nothing that ends a line. */
int
notify_check_event(const char *type)
{
	size_t i, len = strnlen(type, SIGNET_MAX_EVENT_TYPE + 1);

	if (len == 0 || len > SIGNET_MAX_EVENT_TYPE)
		return SIGNET_ERR_INVALID;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)type[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
			return SIGNET_ERR_INVALID;
	}
	return 0;
}

int
notify_valid_webhook(const char *url, const char *secret)
{
	return notify_check_url(url) == 0 &&
	    notify_check_secret(secret, 1) == 0;
}

int
notify_valid_address(const char *a)
{
	const char *at;
	size_t i, len;

	if (a == NULL)
		return 0;
	len = strnlen(a, SIGNET_MAX_MAIL_ADDRESS + 1);
	if (len == 0 || len > SIGNET_MAX_MAIL_ADDRESS)
		return 0;
	/* A bare addr-spec (RFC 5322 3.4.1) in printable ASCII: no display
	 * name, no list, nothing that ends a header or an SMTP command. */
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)a[i];

		if (c <= 0x20 || c >= 0x7f || strchr("<>()[]\\,;:\"", c))
			return 0;
	}
	at = strchr(a, '@');
	return at != NULL && at != a && at[1] != '\0' &&
	    strchr(at + 1, '@') == NULL;
}

/* ---- the outbox ---- */

static int
notify_next_seq(struct store_txn *t, uint64_t *seq)
{
	const void *v;
	size_t vlen;
	struct rd rd;
	uint64_t cur = 0;
	unsigned char k[8];
	int r;

	r = store_get(t, STORE_META, NOTIFY_SEQ_KEY, strlen(NOTIFY_SEQ_KEY),
	    &v, &vlen);
	if (r == 0) {
		rd_init(&rd, v, vlen);
		if (rd_u64(&rd, &cur) != 0 || rd_end(&rd) != 0 ||
		    cur == UINT64_MAX) {
			log_err("notify: meta/%s unreadable", NOTIFY_SEQ_KEY);
			return SIGNET_ERR_STORE;
		}
	} else if (r != SIGNET_ERR_NOT_FOUND) {
		return r;
	}
	cur++;
	notify_key(cur, k);
	if ((r = store_put(t, STORE_META, NOTIFY_SEQ_KEY,
	    strlen(NOTIFY_SEQ_KEY), k, sizeof(k))) != 0)
		return r;
	*seq = cur;
	return 0;
}

/* store_put_json keys by C string; outbox keys are binary, so the record
 * is versioned and serialized the same way here. */
int
notify_put(struct store_txn *t, uint64_t seq, json_t *rec)
{
	unsigned char k[8];
	char *s;
	size_t len;
	int r;

	if (json_object_set_new(rec, "v", json_integer(STORE_SCHEMA_VERSION)))
		return SIGNET_ERR_NOMEM;
	if ((s = json_dumps(rec, JSON_COMPACT | JSON_SORT_KEYS)) == NULL)
		return SIGNET_ERR_NOMEM;
	len = strlen(s);
	if (len > SIGNET_MAX_RECORD) {
		r = SIGNET_ERR_TOO_LARGE;
	} else {
		notify_key(seq, k);
		r = store_put(t, STORE_OUTBOX, k, sizeof(k), s, len);
	}
	OPENSSL_cleanse(s, len);	/* holds the webhook secret */
	free(s);
	return r;
}

int
notify_parse(const void *v, size_t vlen, json_t **out)
{
	json_t *j;
	json_error_t jerr;

	*out = NULL;
	if (vlen > SIGNET_MAX_RECORD)
		return SIGNET_ERR_STORE;
	j = json_loadb(v, vlen, JSON_REJECT_DUPLICATES, &jerr);
	if (!json_is_object(j) || json_integer_value(json_object_get(j, "v"))
	    != STORE_SCHEMA_VERSION) {
		json_decref(j);
		return SIGNET_ERR_STORE;
	}
	*out = j;
	return 0;
}

/* Caller strings: jansson refuses what is not UTF-8. */
static int
notify_set_str(json_t *rec, const char *key, const char *val)
{
	json_t *s = json_string(val);

	if (s == NULL)
		return SIGNET_ERR_INVALID;
	return json_object_set_new(rec, key, s) ? SIGNET_ERR_NOMEM : 0;
}

static json_t *
notify_record_new(const char *channel)
{
	char now[32];
	uint64_t ns;

	request_now(now, &ns);
	return json_pack("{s:s, s:s, s:I, s:i, s:I, s:n, s:b}",
	    "channel", channel, "createdAt", now, "createdNs", (json_int_t)ns,
	    "attempts", 0, "nextAttemptNs", (json_int_t)ns, "lastError",
	    "dead", 0);
}

static int
notify_append(struct store_txn *t, json_t *rec)
{
	uint64_t seq;
	int r;

	if ((r = notify_next_seq(t, &seq)) != 0)
		return r;
	if ((r = notify_put(t, seq, rec)) != 0)
		return r;
	log_debug("notify: %s %llu queued",
	    json_string_value(json_object_get(rec, "channel")),
	    (unsigned long long)seq);
	return 0;
}

int
notify_enqueue_webhook(struct store_txn *t, const char *url,
    const char *secret, const json_t *body)
{
	json_t *rec = NULL;
	char *ser = NULL;
	const char *type;
	int r;

	if ((r = notify_check_url(url)) != 0 ||
	    (r = notify_check_secret(secret, 0)) != 0)
		goto out;
	r = SIGNET_ERR_INVALID;
	if (!json_is_object(body) ||
	    (type = json_string_value(json_object_get(body, "type"))) == NULL ||
	    notify_check_event(type) != 0)
		goto out;
	/* Serialized once: the stored bytes are what is signed and sent on
	 * every attempt, whatever a later jansson would print. */
	if ((ser = json_dumps(body, JSON_COMPACT | JSON_SORT_KEYS)) == NULL) {
		r = SIGNET_ERR_NOMEM;
		goto out;
	}
	if (strlen(ser) > SIGNET_MAX_WEBHOOK_BODY) {
		r = SIGNET_ERR_TOO_LARGE;
		goto out;
	}
	if ((rec = notify_record_new("webhook")) == NULL) {
		r = SIGNET_ERR_NOMEM;
		goto out;
	}
	if ((r = notify_set_str(rec, "url", url)) != 0 ||
	    (r = notify_set_str(rec, "secret", secret)) != 0 ||
	    (r = notify_set_str(rec, "body", ser)) != 0 ||
	    (r = notify_set_str(rec, "event", type)) != 0)
		goto out;
	r = notify_append(t, rec);
out:
	free(ser);
	json_decref(rec);
	return r;
}

int
notify_enqueue_email(struct store_txn *t, const char *to,
    const char *subject, const char *text)
{
	json_t *rec = NULL;
	char *subj = NULL;
	size_t i, len;
	int r = SIGNET_ERR_INVALID;

	if (atomic_load(&notify_mail) < 0) {
		if (!atomic_flag_test_and_set(&notify_mail_logged))
			log_info("notify: no [notify] smtp_url, e-mail "
			    "notifications are not recorded");
		return 0;
	}
	if (!notify_valid_address(to) || subject == NULL || text == NULL)
		goto out;
	len = strnlen(subject, SIGNET_MAX_MAIL_SUBJECT + 1);
	if (len > SIGNET_MAX_MAIL_SUBJECT ||
	    strnlen(text, SIGNET_MAX_MAIL_TEXT + 1) > SIGNET_MAX_MAIL_TEXT) {
		r = SIGNET_ERR_TOO_LARGE;
		goto out;
	}
	if ((subj = strdup(subject)) == NULL) {
		r = SIGNET_ERR_NOMEM;
		goto out;
	}
	/* RFC 5322 2.2: CR or LF would end the header and start another
	 * (Bcc: injection); the subject often quotes a request's
	 * description, so neutralise rather than fail the state change. */
	for (i = 0; i < len; i++)
		if ((unsigned char)subj[i] < 0x20 || subj[i] == 0x7f)
			subj[i] = ' ';
	if ((rec = notify_record_new("email")) == NULL) {
		r = SIGNET_ERR_NOMEM;
		goto out;
	}
	if ((r = notify_set_str(rec, "to", to)) != 0 ||
	    (r = notify_set_str(rec, "subject", subj)) != 0 ||
	    (r = notify_set_str(rec, "text", text)) != 0)
		goto out;
	r = notify_append(t, rec);
out:
	free(subj);
	json_decref(rec);
	return r;
}
