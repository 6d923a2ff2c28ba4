/* The client of an external RFC 3161 time-stamping authority (see
 * tsa_client.h). The signature is made once before this is called; only
 * the token is fetched again on failure, so the keyholder journals one
 * signature per request however often the TSA is asked. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>
#include <openssl/err.h>
#include <openssl/ts.h>

#include "metrics.h"
#include "outbound.h"
#include "signet_limits.h"
#include "tsa_client.h"
#include "tsa_reply.h"
#include "wbuf.h"

struct tsa_client_sink {
	struct wbuf *b;
	int err;
};

static size_t
tsa_client_keep(char *p, size_t size, size_t nmemb, void *arg)
{
	struct tsa_client_sink *k = arg;
	size_t n = size * nmemb;

	/* past SIGNET_MAX_TSR the short count ends the transfer */
	if (k->err == 0)
		k->err = wbuf_add(k->b, p, n);
	return k->err == 0 ? n : 0;
}

/* The TLS trust for an https:// TSA, from the policy (libcurl copies
 * the blob). */
static int
tsa_client_tls_ca(CURL *cu, const char *pem)
{
	struct curl_blob b = { (void *)(uintptr_t)pem, strlen(pem),
	    CURL_BLOB_COPY };

	return curl_easy_setopt(cu, CURLOPT_CAINFO_BLOB, &b) == CURLE_OK ?
	    0 : SIGNET_ERR_INTERNAL;
}

/* One POST of the query; 0 and the body, or err says why. */
static int
tsa_client_post(const struct tsa_client *c, const unsigned char *q,
    size_t qlen, struct wbuf *body, char *err, size_t elen)
{
	struct tsa_client_sink sink = { body, 0 };
	struct outbound_guard guard;
	struct curl_slist *h = NULL, *h2;
	char errbuf[CURL_ERROR_SIZE] = "";
	CURL *cu = NULL;
	CURLcode cc;
	long code = 0;
	int r = SIGNET_ERR_UNAVAILABLE;

	wbuf_init(body, SIGNET_MAX_TSR);
	snprintf(err, elen, "out of memory");
	if (outbound_init() != 0 ||
	    (h = curl_slist_append(NULL, "Content-Type: "
	    "application/timestamp-query")) == NULL)
		goto out;
	if ((h2 = curl_slist_append(h, "Accept: application/timestamp-reply"))
	    == NULL)
		goto out;
	h = h2;
	/* no 100-continue round trip */
	if ((h2 = curl_slist_append(h, "Expect:")) == NULL)
		goto out;
	h = h2;
	if ((cu = curl_easy_init()) == NULL)
		goto out;
	if (outbound_setup(cu, c->url, "http,https", NULL, NULL, errbuf) != 0 ||
	    outbound_guard(cu, &guard) != 0 ||
	    curl_easy_setopt(cu, CURLOPT_TIMEOUT_MS,
	    (long)SIGNET_TSA_URL_TIMEOUT_MS) != CURLE_OK ||
	    (c->tls_ca_pem != NULL && tsa_client_tls_ca(cu, c->tls_ca_pem)
	    != 0) ||
	    curl_easy_setopt(cu, CURLOPT_HTTPHEADER, h) != CURLE_OK ||
	    curl_easy_setopt(cu, CURLOPT_POSTFIELDSIZE, (long)qlen)
	    != CURLE_OK ||
	    curl_easy_setopt(cu, CURLOPT_POSTFIELDS, q) != CURLE_OK ||
	    curl_easy_setopt(cu, CURLOPT_MAXFILESIZE_LARGE,
	    (curl_off_t)SIGNET_MAX_TSR) != CURLE_OK ||
	    curl_easy_setopt(cu, CURLOPT_WRITEFUNCTION, tsa_client_keep)
	    != CURLE_OK ||
	    curl_easy_setopt(cu, CURLOPT_WRITEDATA, &sink) != CURLE_OK) {
		snprintf(err, elen, "libcurl refused an option");
		goto out;
	}
	cc = curl_easy_perform(cu);
	if (sink.err == SIGNET_ERR_NOMEM) {
		r = SIGNET_ERR_NOMEM;
		goto out;
	}
	if (sink.err != 0 || cc == CURLE_FILESIZE_EXCEEDED) {
		snprintf(err, elen, "the answer is larger than %d bytes",
		    SIGNET_MAX_TSR);
		goto out;
	}
	if (cc != CURLE_OK) {
		outbound_error(cc, &guard, err, elen);
		goto out;
	}
	if (curl_easy_getinfo(cu, CURLINFO_RESPONSE_CODE, &code) != CURLE_OK ||
	    code != 200) {
		snprintf(err, elen, "the server answered HTTP %ld", code);
		goto out;
	}
	r = 0;
out:
	if (r != 0)
		wbuf_free(body);
	curl_easy_cleanup(cu);
	curl_slist_free_all(h);
	return r;
}

static void
tsa_client_sleep(unsigned ms)
{
	struct timespec ts = { (time_t)(ms / 1000),
	    (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) != 0)
		;
}

int
tsa_client_stamp(void *arg, const unsigned char *data, size_t len,
    unsigned char **token, size_t *toklen)
{
	struct tsa_client *c = arg;
	struct wbuf body;
	TS_REQ *req = NULL;
	unsigned char *q = NULL;
	char why[200] = "out of memory";
	unsigned backoff = SIGNET_TSA_URL_BACKOFF_MS;
	int l, i, tries = 0, r = SIGNET_ERR_NOMEM;

	*token = NULL;
	*toklen = 0;
	memset(&body, 0, sizeof(body));
	/* one query for every attempt: the same nonce, the same imprint */
	if ((req = tsa_reply_query(data, len)) == NULL ||
	    (l = i2d_TS_REQ(req, &q)) <= 0)
		goto out;
	for (i = 0; i < SIGNET_TSA_URL_ATTEMPTS; i++) {
		if (i > 0) {
			tsa_client_sleep(backoff);
			backoff *= 2;
		}
		tries++;
		r = tsa_client_post(c, q, (size_t)l, &body, why, sizeof(why));
		if (r == SIGNET_ERR_NOMEM)
			goto out;
		if (r != 0)
			continue;
		r = tsa_reply_check(c->ca_pem, req, body.buf, body.len, token,
		    toklen, why, sizeof(why));
		wbuf_free(&body);
		if (r == 0 || r == SIGNET_ERR_NOMEM)
			goto out;
	}
out:
	metrics_count(r == 0 ? METRICS_TSA_URL_TOKENS : METRICS_TSA_URL_FAILURES);
	if (r != 0)
		snprintf(c->err, sizeof(c->err), "the time-stamping authority "
		    "%.120s gave no token after %d attempt%s: %s", c->url,
		    tries, tries == 1 ? "" : "s", why);
	ERR_clear_error();
	wbuf_free(&body);
	OPENSSL_free(q);
	TS_REQ_free(req);
	return r;
}
