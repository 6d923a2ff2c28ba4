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
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ts.h>
#include <openssl/x509.h>

#include "outbound.h"
#include "signet_limits.h"
#include "tsa_client.h"
#include "wbuf.h"

/* The query: SHA-256 of data (RFC 3161 appendix A: the time-stamp of a
 * signature is over its value), a 64-bit random nonce, certReq so that
 * the token carries the TSA's certificate to verify it with. */
static TS_REQ *
tsa_client_query(const unsigned char *data, size_t len)
{
	TS_REQ *req = NULL, *ret = NULL;
	TS_MSG_IMPRINT *mi = NULL;
	X509_ALGOR *alg = NULL;
	ASN1_INTEGER *nonce = NULL;
	BIGNUM *bn = NULL;
	unsigned char md[32], rnd[8];
	unsigned int mdlen = 0;

	if (EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL) != 1 ||
	    RAND_bytes(rnd, sizeof(rnd)) != 1 ||
	    (bn = BN_bin2bn(rnd, sizeof(rnd), NULL)) == NULL ||
	    (nonce = BN_to_ASN1_INTEGER(bn, NULL)) == NULL ||
	    (req = TS_REQ_new()) == NULL || (mi = TS_MSG_IMPRINT_new()) == NULL ||
	    (alg = X509_ALGOR_new()) == NULL ||
	    !X509_ALGOR_set0(alg, OBJ_nid2obj(NID_sha256), V_ASN1_NULL, NULL) ||
	    !TS_MSG_IMPRINT_set_algo(mi, alg) ||
	    !TS_MSG_IMPRINT_set_msg(mi, md, (int)mdlen) ||
	    !TS_REQ_set_msg_imprint(req, mi) || !TS_REQ_set_version(req, 1) ||
	    !TS_REQ_set_nonce(req, nonce) || !TS_REQ_set_cert_req(req, 1))
		goto out;
	ret = req;
	req = NULL;
out:
	TS_REQ_free(req);
	BN_free(bn);
	ASN1_INTEGER_free(nonce);
	X509_ALGOR_free(alg);
	TS_MSG_IMPRINT_free(mi);
	return ret;
}

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

static X509_STORE *
tsa_client_store(const char *pem)
{
	X509_STORE *st = NULL, *ret = NULL;
	BIO *b = NULL;
	X509 *x;
	int n = 0;

	if ((st = X509_STORE_new()) == NULL ||
	    (b = BIO_new_mem_buf(pem, -1)) == NULL)
		goto out;
	while ((x = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL) {
		int ok = X509_STORE_add_cert(st, x);

		X509_free(x);
		if (!ok)
			goto out;
		n++;
	}
	if (n == 0)
		goto out;
	ret = st;
	st = NULL;
out:
	ERR_clear_error();
	X509_STORE_free(st);
	BIO_free(b);
	return ret;
}

/* The reply (untrusted bytes, parsed by OpenSSL's DER decoder and
 * bounded by SIGNET_MAX_TSR): RFC 3161 section 2.4.2 status granted
 * (or grantedWithMods), then TS_RESP_verify_response: the token's
 * imprint and nonce are the query's, and its signature verifies with a
 * signer chaining to the policy's CA under purpose timestampsign
 * (extended key usage timeStamping, critical, section 2.3). */
static int
tsa_client_verify(const struct tsa_client *c, TS_REQ *req,
    const struct wbuf *body, unsigned char **token, size_t *toklen,
    char *err, size_t elen)
{
	const unsigned char *p = body->buf;
	TS_RESP *resp = NULL;
	TS_VERIFY_CTX *v = NULL;
	X509_STORE *st = NULL;
	unsigned char *der = NULL;
	long status;
	int l, r = SIGNET_ERR_INVALID;

	if (body->len > SIGNET_MAX_TSR ||
	    (resp = d2i_TS_RESP(NULL, &p, (long)body->len)) == NULL ||
	    p != body->buf + body->len) {
		snprintf(err, elen, "the answer is not a TimeStampResp");
		goto out;
	}
	status = ASN1_INTEGER_get(TS_STATUS_INFO_get0_status(
	    TS_RESP_get_status_info(resp)));
	if (status != TS_STATUS_GRANTED &&
	    status != TS_STATUS_GRANTED_WITH_MODS) {
		snprintf(err, elen, "the TSA refused the query (PKIStatus "
		    "%ld)", status);
		goto out;
	}
	if (TS_RESP_get_token(resp) == NULL) {
		snprintf(err, elen, "the answer is granted but has no token");
		goto out;
	}
	r = SIGNET_ERR_NOMEM;
	snprintf(err, elen, "out of memory");
	if ((st = tsa_client_store(c->ca_pem)) == NULL ||
	    (v = TS_REQ_to_TS_VERIFY_CTX(req, NULL)) == NULL)
		goto out;
	TS_VERIFY_CTX_add_flags(v, TS_VFY_SIGNATURE);
	TS_VERIFY_CTX_set_store(v, st);
	st = NULL;
	r = SIGNET_ERR_INVALID;
	if (TS_RESP_verify_response(v, resp) != 1) {
		unsigned long e = ERR_peek_last_error();

		snprintf(err, elen, "the token does not verify against "
		    "timestampCaPem (%s)", e != 0 ?
		    ERR_reason_error_string(e) : "imprint, nonce or signer");
		goto out;
	}
	r = SIGNET_ERR_CRYPTO;
	if ((l = i2d_PKCS7(TS_RESP_get_token(resp), &der)) <= 0) {
		snprintf(err, elen, "the token cannot be encoded");
		goto out;
	}
	*token = der;
	*toklen = (size_t)l;
	der = NULL;
	r = 0;
out:
	ERR_clear_error();
	OPENSSL_free(der);
	X509_STORE_free(st);
	TS_VERIFY_CTX_free(v);
	TS_RESP_free(resp);
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
	int l, i = 0, r = SIGNET_ERR_NOMEM;

	*token = NULL;
	*toklen = 0;
	memset(&body, 0, sizeof(body));
	/* one query for every attempt: the same nonce, the same imprint */
	if ((req = tsa_client_query(data, len)) == NULL ||
	    (l = i2d_TS_REQ(req, &q)) <= 0)
		goto out;
	for (i = 0; i < SIGNET_TSA_URL_ATTEMPTS; i++) {
		if (i > 0) {
			tsa_client_sleep(backoff);
			backoff *= 2;
		}
		r = tsa_client_post(c, q, (size_t)l, &body, why, sizeof(why));
		if (r == SIGNET_ERR_NOMEM)
			goto out;
		if (r != 0)
			continue;
		r = tsa_client_verify(c, req, &body, token, toklen, why,
		    sizeof(why));
		wbuf_free(&body);
		if (r == 0 || r == SIGNET_ERR_NOMEM)
			goto out;
	}
out:
	if (r != 0)
		snprintf(c->err, sizeof(c->err), "the time-stamping authority "
		    "%.120s gave no token after %d attempt%s: %s", c->url,
		    i, i == 1 ? "" : "s", why);
	ERR_clear_error();
	wbuf_free(&body);
	OPENSSL_free(q);
	TS_REQ_free(req);
	return r;
}
