/* Delivery by e-mail through the SMTP relay: the message (RFC 5322, an
 * RFC 2047 subject) and its transfer. */
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

/* CRLF can double the text; headers with an encoded subject stay well
 * under one more text's worth. */
#define NOTIFY_MAX_MESSAGE	(3 * SIGNET_MAX_MAIL_TEXT)
/* RFC 5322 2.1.1: lines of at most 998 characters; break a little before
 * so a UTF-8 sequence is never split. */
#define NOTIFY_LINE_BREAK	990
/* RFC 2047 2: an encoded-word is at most 75 characters; 45 bytes are 60
 * of base64 plus the 12 of "=?UTF-8?B?" and "?=". */
#define NOTIFY_WORD_BYTES	45

static int
notify_add(struct wbuf *b, const char *s)
{
	return wbuf_add(b, s, strlen(s));
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

int
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
