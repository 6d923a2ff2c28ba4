/* Delivery by webhook: an HTTPS POST of the recorded body, signed with
 * HMAC-SHA256 under the project's secret. */
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
int
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
