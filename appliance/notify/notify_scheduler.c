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
#include "outbound.h"
#include "rd.h"
#include "request.h"
#include "signet_limits.h"
#include "wbuf.h"

/* Tuning of the delivery thread; nothing here is set by a caller. */
#define NOTIFY_BATCH		16	/* due entries taken per pass */
#define NOTIFY_MAX_SLEEP_MS	60000	/* re-read the wall clock this often */
#define NOTIFY_STORE_PAUSE_MS	5000	/* after an LMDB error */
#define NOTIFY_ERRLEN		256
/* CRLF can double the text; headers with an encoded subject stay well
 * under one more text's worth. */
#define NOTIFY_MAX_MESSAGE	(3 * SIGNET_MAX_MAIL_TEXT)
/* RFC 5322 2.1.1: lines of at most 998 characters; break a little before
 * so a UTF-8 sequence is never split. */
#define NOTIFY_LINE_BREAK	990
/* RFC 2047 2: an encoded-word is at most 75 characters; 45 bytes are 60
 * of base64 plus the 12 of "=?UTF-8?B?" and "?=". */
#define NOTIFY_WORD_BYTES	45
#define NOTIFY_SEQ_KEY		"outbox_seq"

#define NOTIFY_NS_PER_MS	1000000ULL
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

/* enqueue_email has no handle to ask whether mail is configured, so
 * notify_start leaves the answer here: 0 not started yet (record, to be
 * safe), 1 on, -1 off. */
static atomic_int notify_mail;
static atomic_flag notify_mail_logged = ATOMIC_FLAG_INIT;

static uint64_t
notify_now_ns(void)
{
	struct timespec ts;

	/* wall clock: due times outlive the process */
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * NOTIFY_NS_PER_S + (uint64_t)ts.tv_nsec;
}

/* Big-endian, so LMDB's key order is enqueue order. */
static void
notify_key(uint64_t seq, unsigned char k[8])
{
	int i;

	for (i = 0; i < 8; i++)
		k[i] = (unsigned char)(seq >> (56 - 8 * i));
}

static int
notify_add(struct wbuf *b, const char *s)
{
	return wbuf_add(b, s, strlen(s));
}

/* ---- validation ---- */

static int
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
static int
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
static int
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

static int
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

/* ---- delivery ---- */

/* What every transfer shares (outbound.c); notify_stop need not wait for
 * one in progress. */
static int
notify_curl_setup(struct notify *n, CURL *c, const char *url,
    const char *protocols, char *errbuf)
{
	return outbound_setup(c, url, protocols, n->ca_file, &n->stopping,
	    errbuf);
}

static void
notify_curl_error(CURLcode cc, const char *errbuf, char err[NOTIFY_ERRLEN])
{
	snprintf(err, NOTIFY_ERRLEN, "%s",
	    errbuf[0] != '\0' ? errbuf : curl_easy_strerror(cc));
}

/* GitHub's convention: "sha256=" and the lowercase hex HMAC of the body. */
static int
notify_sign(const char *secret, const char *body, char out[7 + 64 + 1])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int maclen = 0, i;

	if (HMAC(EVP_sha256(), secret, (int)strlen(secret),
	    (const unsigned char *)body, strlen(body), mac, &maclen) == NULL ||
	    maclen != 32)
		return SIGNET_ERR_CRYPTO;
	memcpy(out, "sha256=", 7);
	for (i = 0; i < maclen; i++) {
		out[7 + 2 * i] = hex[mac[i] >> 4];
		out[8 + 2 * i] = hex[mac[i] & 0xf];
	}
	out[7 + 64] = '\0';
	return 0;
}

/* 0 delivered; SIGNET_ERR_INVALID never deliverable; else try again. */
static int
notify_webhook(struct notify *n, uint64_t seq, const json_t *rec,
    char err[NOTIFY_ERRLEN])
{
	CURL *c = NULL;
	struct curl_slist *h = NULL, *h2;
	const char *url, *secret, *body, *type;
	char sig[7 + 64 + 1], line[128], errbuf[CURL_ERROR_SIZE] = "";
	const char *fixed[] = { "Content-Type: application/json",
	    "Expect:", NULL };	/* no 100-continue round trip */
	struct outbound_guard guard;
	CURLcode cc;
	long code = 0;
	size_t i;
	int r = SIGNET_ERR_INVALID;

	url = json_string_value(json_object_get(rec, "url"));
	secret = json_string_value(json_object_get(rec, "secret"));
	body = json_string_value(json_object_get(rec, "body"));
	type = json_string_value(json_object_get(rec, "event"));
	if (url == NULL || notify_check_url(url) != 0 || secret == NULL ||
	    body == NULL || type == NULL || notify_check_event(type) != 0) {
		snprintf(err, NOTIFY_ERRLEN, "outbox record incomplete");
		goto out;
	}
	r = SIGNET_ERR_UNAVAILABLE;
	if (notify_sign(secret, body, sig) != 0) {
		snprintf(err, NOTIFY_ERRLEN, "HMAC failed");
		goto out;
	}
	snprintf(err, NOTIFY_ERRLEN, "out of memory");
	for (i = 0; fixed[i] != NULL; i++) {
		if ((h2 = curl_slist_append(h, fixed[i])) == NULL)
			goto out;
		h = h2;
	}
	snprintf(line, sizeof(line), "X-Signet-Event: %s", type);
	if ((h2 = curl_slist_append(h, line)) == NULL)
		goto out;
	h = h2;
	snprintf(line, sizeof(line), "X-Signet-Delivery: %llu",
	    (unsigned long long)seq);
	if ((h2 = curl_slist_append(h, line)) == NULL)
		goto out;
	h = h2;
	snprintf(line, sizeof(line), "X-Signet-Signature-256: %s", sig);
	if ((h2 = curl_slist_append(h, line)) == NULL)
		goto out;
	h = h2;
	if ((c = curl_easy_init()) == NULL)
		goto out;
	if (notify_curl_setup(n, c, url, "https", errbuf) != 0 ||
	    outbound_guard(c, &guard) != 0 ||
	    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body))
	    != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body) != CURLE_OK) {
		snprintf(err, NOTIFY_ERRLEN, "libcurl refused an option");
		goto out;
	}
	/* the receiver's address was an administrator's to give: what
	 * failed is told by class, never in the peer's words */
	if ((cc = curl_easy_perform(c)) != CURLE_OK) {
		outbound_error(cc, &guard, err, NOTIFY_ERRLEN);
		goto out;
	}
	if (curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code) != CURLE_OK ||
	    code < 200 || code > 299) {
		snprintf(err, NOTIFY_ERRLEN, "HTTP %ld", code);
		goto out;
	}
	err[0] = '\0';
	r = 0;
out:
	curl_easy_cleanup(c);
	curl_slist_free_all(h);
	return r;
}

/* RFC 2047: a subject outside printable ASCII goes as base64 encoded-
 * words, folded, split only between UTF-8 characters. */
static int
notify_add_subject(struct wbuf *m, const char *s)
{
	char enc[4 * ((NOTIFY_WORD_BYTES + 2) / 3) + 1];
	size_t i, n, len = strlen(s);
	int r, plain = 1;

	for (i = 0; i < len; i++)
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] >= 0x7f)
			plain = 0;
	if ((r = notify_add(m, "Subject:")) != 0)
		return r;
	if (plain) {
		if ((r = notify_add(m, " ")) != 0 ||
		    (r = notify_add(m, s)) != 0)
			return r;
		return notify_add(m, "\r\n");
	}
	for (i = 0; i < len; i += n) {
		n = len - i > NOTIFY_WORD_BYTES ? NOTIFY_WORD_BYTES : len - i;
		while (n > 1 && i + n < len &&
		    ((unsigned char)s[i + n] & 0xc0) == 0x80)
			n--;
		EVP_EncodeBlock((unsigned char *)enc,
		    (const unsigned char *)s + i, (int)n);
		if ((r = notify_add(m, i == 0 ? " " : "\r\n ")) != 0 ||
		    (r = notify_add(m, "=?UTF-8?B?")) != 0 ||
		    (r = notify_add(m, enc)) != 0 ||
		    (r = notify_add(m, "?=")) != 0)
			return r;
	}
	return notify_add(m, "\r\n");
}

/* RFC 5322 2.3: lines end in CRLF, whatever the text used. Dot-stuffing
 * (RFC 5321 4.5.2) is libcurl's. */
static int
notify_add_text(struct wbuf *m, const char *t)
{
	size_t i, col = 0;
	int r;

	for (i = 0; t[i] != '\0'; i++) {
		unsigned char c = (unsigned char)t[i];

		if (c == '\r' || c == '\n') {
			if (c == '\r' && t[i + 1] == '\n')
				i++;
			if ((r = notify_add(m, "\r\n")) != 0)
				return r;
			col = 0;
			continue;
		}
		if (col >= NOTIFY_LINE_BREAK && (c & 0xc0) != 0x80) {
			if ((r = notify_add(m, "\r\n")) != 0)
				return r;
			col = 0;
		}
		if ((r = wbuf_u8(m, c)) != 0)
			return r;
		col++;
	}
	return col > 0 ? notify_add(m, "\r\n") : 0;
}

static int
notify_message(const struct notify *n, uint64_t seq, const json_t *rec,
    struct wbuf *m)
{
	static const char *const wday[] = { "Sun", "Mon", "Tue", "Wed",
	    "Thu", "Fri", "Sat" };
	static const char *const mon[] = { "Jan", "Feb", "Mar", "Apr", "May",
	    "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	const char *to, *subject, *text;
	char line[SIGNET_MAX_MAIL_ADDRESS + 64];
	uint64_t created;
	time_t secs;
	struct tm tm;
	int r;

	to = json_string_value(json_object_get(rec, "to"));
	subject = json_string_value(json_object_get(rec, "subject"));
	text = json_string_value(json_object_get(rec, "text"));
	created = (uint64_t)json_integer_value(json_object_get(rec,
	    "createdNs"));
	if (!notify_valid_address(to) || subject == NULL || text == NULL)
		return SIGNET_ERR_INVALID;
	/* the event's time, in a locale-free RFC 5322 3.3 date */
	secs = (time_t)(created / NOTIFY_NS_PER_S);
	if (gmtime_r(&secs, &tm) == NULL)
		return SIGNET_ERR_INVALID;
	snprintf(line, sizeof(line),
	    "Date: %s, %02d %s %04d %02d:%02d:%02d +0000\r\n",
	    wday[tm.tm_wday % 7], tm.tm_mday, mon[tm.tm_mon % 12],
	    tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
	if ((r = notify_add(m, line)) != 0)
		return r;
	if ((r = notify_add(m, "From: ")) != 0 ||
	    (r = notify_add(m, n->mail_from)) != 0 ||
	    (r = notify_add(m, "\r\nTo: ")) != 0 ||
	    (r = notify_add(m, to)) != 0 ||
	    (r = notify_add(m, "\r\n")) != 0 ||
	    (r = notify_add_subject(m, subject)) != 0)
		return r;
	/* the same on every attempt, so a duplicate can be recognised */
	snprintf(line, sizeof(line), "Message-ID: <signet.%llu.%llu@%s>\r\n",
	    (unsigned long long)seq, (unsigned long long)created,
	    n->mail_domain);
	if ((r = notify_add(m, line)) != 0 ||
	    (r = notify_add(m, "MIME-Version: 1.0\r\n"
	    "Content-Type: text/plain; charset=utf-8\r\n"
	    "Content-Transfer-Encoding: 8bit\r\n"
	    /* RFC 3834 5: no vacation replies to a machine */
	    "Auto-Submitted: auto-generated\r\n\r\n")) != 0)
		return r;
	return notify_add_text(m, text);
}

static int
notify_email(struct notify *n, uint64_t seq, const json_t *rec,
    char err[NOTIFY_ERRLEN])
{
	struct wbuf m;
	struct outbound_mem up;
	CURL *c = NULL;
	struct curl_slist *rcpt = NULL;
	char from[SIGNET_MAX_MAIL_ADDRESS + 3], to[SIGNET_MAX_MAIL_ADDRESS + 3];
	char errbuf[CURL_ERROR_SIZE] = "";
	CURLcode cc;
	int r;

	wbuf_init(&m, NOTIFY_MAX_MESSAGE);
	if ((r = notify_message(n, seq, rec, &m)) != 0) {
		snprintf(err, NOTIFY_ERRLEN, "%s", r == SIGNET_ERR_NOMEM ?
		    "out of memory" : "outbox record unusable");
		if (r != SIGNET_ERR_NOMEM)
			r = SIGNET_ERR_INVALID;
		goto out;
	}
	r = SIGNET_ERR_UNAVAILABLE;
	snprintf(from, sizeof(from), "<%s>", n->mail_from);
	snprintf(to, sizeof(to), "<%s>",
	    json_string_value(json_object_get(rec, "to")));
	up.p = m.buf;
	up.len = m.len;
	up.off = 0;
	if ((rcpt = curl_slist_append(NULL, to)) == NULL ||
	    (c = curl_easy_init()) == NULL) {
		snprintf(err, NOTIFY_ERRLEN, "out of memory");
		goto out;
	}
	if (notify_curl_setup(n, c, n->smtp_url, "smtp,smtps", errbuf) != 0 ||
	    curl_easy_setopt(c, CURLOPT_MAIL_FROM, from) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_MAIL_RCPT, rcpt) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_UPLOAD, 1L) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_READFUNCTION, outbound_mem_read)
	    != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_READDATA, &up) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, (curl_off_t)m.len)
	    != CURLE_OK ||
	    (n->smtp_starttls &&
	    curl_easy_setopt(c, CURLOPT_USE_SSL, (long)CURLUSESSL_TRY)
	    != CURLE_OK)) {
		snprintf(err, NOTIFY_ERRLEN, "libcurl refused an option");
		goto out;
	}
	if ((cc = curl_easy_perform(c)) != CURLE_OK) {
		notify_curl_error(cc, errbuf, err);
		goto out;
	}
	err[0] = '\0';
	r = 0;
out:
	curl_easy_cleanup(c);
	curl_slist_free_all(rcpt);
	wbuf_free(&m);
	return r;
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
