#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/timex.h>
#include <time.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/rand.h>
#include <openssl/ts.h>
#include <openssl/x509v3.h>

#include "audit.h"
#include "catalog.h"
#include "khclient.h"
#include "log.h"
#include "pki.h"
#include "rkey.h"
#include "signet_limits.h"
#include "tsa.h"
#include "tsa_query.h"
#include "tsa_serial.h"

/* Every token this process issued (tsa_tokens_issued, for metrics). */
static atomic_uint_fast64_t tsa_issued;

struct tsa {
	struct store *s;
	struct kh *kh;
	char *certificate;
	char *policy_text;
	ASN1_OBJECT *policy;
	unsigned accuracy_ms;
	int allow_unsynchronized;

	pthread_mutex_t mu;		/* the key, loaded once */
	EVP_PKEY *key;
	X509 *leaf;
	STACK_OF(X509) *chain;		/* leaf first */
	STACK_OF(X509) *extra;		/* the chain without the leaf */
	char key_id[KH_KEY_ID_HEX + 1];
	struct tsa_serial *serials;

	/* issuance not yet in the audit log (tsa_batch_*) */
	pthread_mutex_t batch_mu;
	pthread_cond_t batch_cv;
	pthread_t batch_th;
	int batch_started, stop;
	uint64_t batch_count, batch_first, batch_last;
	time_t batch_since;		/* CLOCK_MONOTONIC seconds */
};

/* ---- the clock ------------------------------------------------------ */

/* adjtimex(2) with modes 0 only reads. TIME_ERROR is what the kernel
 * returns while STA_UNSYNC is set (no NTP discipline) or the PPS signal
 * is bad: the time may be anything the clock drifted to. */
int
tsa_clock_read(struct tsa_clock *c)
{
	struct timex tx;
	int st;

	memset(c, 0, sizeof(*c));
	memset(&tx, 0, sizeof(tx));
	if ((st = adjtimex(&tx)) < 0)
		return SIGNET_ERR_INTERNAL;
	c->synchronized = st != TIME_ERROR && !(tx.status & STA_UNSYNC);
	c->esterror_us = tx.esterror;
	c->maxerror_us = tx.maxerror;
	return 0;
}

json_t *
tsa_clock_json(void)
{
	struct tsa_clock c;

	if (tsa_clock_read(&c) != 0)
		return json_pack("{s:b, s:s}", "synchronized", 0, "error",
		    "adjtimex failed");
	return json_pack("{s:b, s:I, s:I}", "synchronized", c.synchronized,
	    "estimatedErrorUs", (json_int_t)c.esterror_us,
	    "maxErrorUs", (json_int_t)c.maxerror_us);
}

/* ---- issuance in the audit log -------------------------------------- */

static time_t
tsa_mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec;
}

/* One entry for a batch of tokens: how many, and the serials' range
 * (serials of failed signatures leave gaps, so count may be less than
 * the range). */
static void
tsa_batch_write(struct tsa *t, uint64_t count, uint64_t first, uint64_t last)
{
	struct store_txn *txn = NULL;
	char target[64];
	json_t *d;
	int r;

	snprintf(target, sizeof(target), "%" PRIu64 "-%" PRIu64, first, last);
	if ((d = json_pack("{s:I, s:I, s:I, s:s}", "count", (json_int_t)count,
	    "firstSerial", (json_int_t)first, "lastSerial", (json_int_t)last,
	    "keyId", t->key_id)) == NULL) {
		log_err("tsa: %" PRIu64 " tokens (%s) not audited: out of "
		    "memory", count, target);
		return;
	}
	if ((r = store_txn_begin(t->s, 1, &txn)) == 0 &&
	    (r = audit_append(txn, "system", "tsa", "tsa.tokens-issued",
	    target, d)) == 0)
		r = store_txn_commit(&txn);
	store_txn_abort(&txn);
	json_decref(d);
	if (r != 0)
		log_err("tsa: %" PRIu64 " tokens (serials %s) not audited: %s",
		    count, target, signet_strerror(r));
}

/* Takes the batch if it is due (or force); 1 when taken. */
static int
tsa_batch_take(struct tsa *t, int force, uint64_t *count, uint64_t *first,
    uint64_t *last)
{
	if (t->batch_count == 0)
		return 0;
	if (!force && t->batch_count < SIGNET_TSA_AUDIT_BATCH &&
	    tsa_mono() - t->batch_since < SIGNET_TSA_AUDIT_INTERVAL_S)
		return 0;
	*count = t->batch_count;
	*first = t->batch_first;
	*last = t->batch_last;
	t->batch_count = 0;
	return 1;
}

static void
tsa_batch_add(struct tsa *t, uint64_t serial)
{
	uint64_t n, a, b;
	int due;

	atomic_fetch_add(&tsa_issued, 1);
	pthread_mutex_lock(&t->batch_mu);
	if (t->batch_count == 0) {
		t->batch_first = t->batch_last = serial;
		t->batch_since = tsa_mono();
	}
	if (serial < t->batch_first)
		t->batch_first = serial;
	if (serial > t->batch_last)
		t->batch_last = serial;
	t->batch_count++;
	due = tsa_batch_take(t, 0, &n, &a, &b);
	pthread_mutex_unlock(&t->batch_mu);
	if (due)
		tsa_batch_write(t, n, a, b);
}

/* Writes a batch that has waited a minute even when no token follows. */
static void *
tsa_batch_main(void *arg)
{
	struct tsa *t = arg;
	struct timespec until;
	uint64_t n, a, b;
	int due;

	pthread_mutex_lock(&t->batch_mu);
	while (!t->stop) {
		clock_gettime(CLOCK_MONOTONIC, &until);
		until.tv_sec += 1;
		pthread_cond_timedwait(&t->batch_cv, &t->batch_mu, &until);
		due = tsa_batch_take(t, t->stop, &n, &a, &b);
		if (due) {
			pthread_mutex_unlock(&t->batch_mu);
			tsa_batch_write(t, n, a, b);
			pthread_mutex_lock(&t->batch_mu);
		}
	}
	pthread_mutex_unlock(&t->batch_mu);
	return NULL;
}

/* ---- the TSA -------------------------------------------------------- */

int
tsa_open(struct store *s, struct kh *kh, const struct tsa_opts *o,
    struct tsa **out)
{
	pthread_condattr_t ca;
	struct tsa *t;

	*out = NULL;
	if (s == NULL || kh == NULL || o == NULL || o->certificate == NULL ||
	    o->policy == NULL)
		return SIGNET_ERR_INVALID;
	if ((t = calloc(1, sizeof(*t))) == NULL)
		return SIGNET_ERR_NOMEM;
	t->s = s;
	t->kh = kh;
	t->accuracy_ms = o->accuracy_ms;
	t->allow_unsynchronized = o->allow_unsynchronized;
	pthread_mutex_init(&t->mu, NULL);
	pthread_mutex_init(&t->batch_mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&t->batch_cv, &ca);
	pthread_condattr_destroy(&ca);
	if ((t->certificate = strdup(o->certificate)) == NULL ||
	    (t->policy_text = strdup(o->policy)) == NULL) {
		tsa_close(t);
		return SIGNET_ERR_NOMEM;
	}
	/* numerical form only: a name would depend on OpenSSL's table */
	if ((t->policy = OBJ_txt2obj(o->policy, 1)) == NULL) {
		ERR_clear_error();
		tsa_close(t);
		return SIGNET_ERR_INVALID;
	}
	if (pthread_create(&t->batch_th, NULL, tsa_batch_main, t) != 0) {
		tsa_close(t);
		return SIGNET_ERR_INTERNAL;
	}
	t->batch_started = 1;
	*out = t;
	return 0;
}

void
tsa_close(struct tsa *t)
{
	uint64_t n, a, b;

	if (t == NULL)
		return;
	pthread_mutex_lock(&t->batch_mu);
	t->stop = 1;
	pthread_cond_broadcast(&t->batch_cv);
	pthread_mutex_unlock(&t->batch_mu);
	if (t->batch_started)
		pthread_join(t->batch_th, NULL);
	if (tsa_batch_take(t, 1, &n, &a, &b))
		tsa_batch_write(t, n, a, b);
	tsa_serial_close(t->serials);
	EVP_PKEY_free(t->key);
	X509_free(t->leaf);
	sk_X509_pop_free(t->chain, X509_free);
	sk_X509_pop_free(t->extra, X509_free);
	ASN1_OBJECT_free(t->policy);
	free(t->certificate);
	free(t->policy_text);
	pthread_mutex_destroy(&t->mu);
	pthread_mutex_destroy(&t->batch_mu);
	pthread_cond_destroy(&t->batch_cv);
	free(t);
}

/* The certificate, its chain and the token key, once. */
static int
tsa_load(struct tsa *t)
{
	struct store_txn *txn = NULL;
	json_t *rec = NULL;
	const char *pem, *kid, *purpose;
	STACK_OF(X509) *chain = NULL, *extra = NULL;
	EVP_PKEY *key = NULL;
	int i, r;

	pthread_mutex_lock(&t->mu);
	if (t->key != NULL) {
		r = 0;
		goto out;
	}
	if ((r = store_txn_begin(t->s, 0, &txn)) != 0)
		goto out;
	if ((r = catalog_get_certificate(txn, t->certificate, &rec)) != 0) {
		log_err("tsa: [tsa] certificate '%s' is not in the catalog",
		    t->certificate);
		/* the appliance's setup, not the query, is wrong */
		if (r == SIGNET_ERR_NOT_FOUND)
			r = SIGNET_ERR_CONFIG;
		goto out;
	}
	store_txn_abort(&txn);
	pem = json_string_value(json_object_get(rec, "chainPem"));
	kid = json_string_value(json_object_get(rec, "keyId"));
	purpose = json_string_value(json_object_get(rec, "purpose"));
	if (pem == NULL || kid == NULL || purpose == NULL ||
	    strcmp(purpose, "timestamping") != 0) {
		log_err("tsa: certificate '%s' is not a timestamping "
		    "certificate", t->certificate);
		r = SIGNET_ERR_CONFIG;
		goto out;
	}
	if ((r = pki_chain_from_pem(pem, strlen(pem), &chain)) != 0 ||
	    (r = rkey_load(t->kh, kid, &key)) != 0)
		goto out;
	if ((extra = sk_X509_new_null()) == NULL) {
		r = SIGNET_ERR_NOMEM;
		goto out;
	}
	for (i = 1; i < sk_X509_num(chain); i++) {
		X509 *x = sk_X509_value(chain, i);

		if (!X509_up_ref(x) || !sk_X509_push(extra, x)) {
			X509_free(x);
			r = SIGNET_ERR_NOMEM;
			goto out;
		}
	}
	if (t->serials == NULL &&
	    (r = tsa_serial_open(t->s, SIGNET_TSA_SERIAL_BLOCK, kid,
	    &t->serials)) != 0)
		goto out;
	snprintf(t->key_id, sizeof(t->key_id), "%s", kid);
	t->leaf = sk_X509_value(chain, 0);
	X509_up_ref(t->leaf);
	t->chain = chain;
	t->extra = extra;
	t->key = key;
	chain = extra = NULL;
	key = NULL;
	log_info("tsa: issuing with certificate '%s' (key %s)", t->certificate,
	    t->key_id);
	r = 0;
out:
	pthread_mutex_unlock(&t->mu);
	store_txn_abort(&txn);
	json_decref(rec);
	EVP_PKEY_free(key);
	sk_X509_pop_free(chain, X509_free);
	sk_X509_pop_free(extra, X509_free);
	return r;
}

/* A failure to load or use the key while the token is locked (the
 * officer has not activated it yet) is that, not a broken TSA. */
static int
tsa_token_error(struct tsa *t, int r)
{
	struct kh_status st;

	if (r != 0 && r != SIGNET_ERR_CONFIG && kh_status(t->kh, &st) == 0 &&
	    (!st.present || !st.logged_in))
		return SIGNET_ERR_TOKEN_LOCKED;
	return r;
}

struct tsa_cb {
	uint64_t serial;
};

static ASN1_INTEGER *
tsa_serial_cb(TS_RESP_CTX *ctx, void *data)
{
	const struct tsa_cb *cb = data;
	ASN1_INTEGER *a;

	(void)ctx;
	if ((a = ASN1_INTEGER_new()) == NULL ||
	    !ASN1_INTEGER_set_uint64(a, cb->serial)) {
		ASN1_INTEGER_free(a);
		return NULL;
	}
	return a;
}

/* genTime is the system clock (RFC 3161 section 2.4.2: "the time at
 * which the time-stamp token has been created"), checked synchronised
 * before the token was started. */
static int
tsa_time_cb(TS_RESP_CTX *ctx, void *data, long *sec, long *usec)
{
	struct timespec ts;

	(void)data;
	if (clock_gettime(CLOCK_REALTIME, &ts) != 0) {
		TS_RESP_CTX_set_status_info(ctx, TS_STATUS_REJECTION,
		    "the time is not available");
		TS_RESP_CTX_add_failure_info(ctx, TS_INFO_TIME_NOT_AVAILABLE);
		return 0;
	}
	*sec = (long)ts.tv_sec;
	*usec = ts.tv_nsec / 1000;
	return 1;
}

static int
tsa_reject(struct tsa_reply *out, int http, int fail_info, const char *text)
{
	int r;

	if ((r = tsa_query_rejection(fail_info, text, &out->der,
	    &out->len)) != 0)
		return r;
	out->http_status = http;
	return 0;
}

/* The token for a checked query, signed through the keyholder and
 * journaled under "tsa-<serial>". */
static int
tsa_issue(struct tsa *t, const unsigned char *q, size_t len,
    struct tsa_reply *out)
{
	struct tsa_cb cb;
	TS_RESP_CTX *ctx = NULL;
	TS_RESP *resp = NULL;
	BIO *b = NULL;
	unsigned char *der = NULL;
	char ref[32];
	int l, r = SIGNET_ERR_CRYPTO;

	if ((r = tsa_serial_next(t->serials, &cb.serial)) != 0)
		return r;
	r = SIGNET_ERR_CRYPTO;
	if ((ctx = TS_RESP_CTX_new()) == NULL ||
	    !TS_RESP_CTX_set_signer_cert(ctx, t->leaf) ||
	    !TS_RESP_CTX_set_signer_key(ctx, t->key) ||
	    !TS_RESP_CTX_set_certs(ctx, t->extra) ||
	    !TS_RESP_CTX_set_def_policy(ctx, t->policy) ||
	    !TS_RESP_CTX_set_signer_digest(ctx, EVP_sha256()) ||
	    /* RFC 5816: ESSCertIDv2 with SHA-256 rather than SHA-1's
	     * ESSCertID */
	    !TS_RESP_CTX_set_ess_cert_id_digest(ctx, EVP_sha256()) ||
	    !TS_RESP_CTX_add_md(ctx, EVP_sha256()) ||
	    !TS_RESP_CTX_add_md(ctx, EVP_sha384()) ||
	    !TS_RESP_CTX_add_md(ctx, EVP_sha512()) ||
	    !TS_RESP_CTX_set_accuracy(ctx, (int)(t->accuracy_ms / 1000),
	    (int)(t->accuracy_ms % 1000), 0)) {
		log_ssl("tsa: setting up the response");
		goto out;
	}
	/* the TSTInfo's tsa field names the signer (RFC 3161 section 2.4.2),
	 * which clients show */
	TS_RESP_CTX_add_flags(ctx, TS_TSA_NAME);
	TS_RESP_CTX_set_serial_cb(ctx, tsa_serial_cb, &cb);
	TS_RESP_CTX_set_time_cb(ctx, tsa_time_cb, NULL);
	if ((b = BIO_new_mem_buf(q, (int)len)) == NULL)
		goto out;
	snprintf(ref, sizeof(ref), "tsa-%" PRIu64, cb.serial);
	rkey_bind_request(ref);
	(void)rkey_take_error();
	resp = TS_RESP_create_response(ctx, b);
	rkey_bind_request(NULL);
	if (resp == NULL) {
		log_ssl("tsa: no response for serial %" PRIu64, cb.serial);
		goto out;
	}
	if (ASN1_INTEGER_get(TS_STATUS_INFO_get0_status(
	    TS_RESP_get_status_info(resp))) != TS_STATUS_GRANTED ||
	    TS_RESP_get_token(resp) == NULL) {
		/* the query was checked: a refusal now is the token's or
		 * OpenSSL's failure, not the client's */
		log_ssl("tsa: serial %" PRIu64 " not granted", cb.serial);
		/* the keyholder's code (gone, locked) when it was the
		 * signature that failed */
		if ((r = rkey_take_error()) == 0)
			r = SIGNET_ERR_TOKEN;
		goto out;
	}
	if ((l = i2d_TS_RESP(resp, &der)) <= 0)
		goto out;
	out->der = der;
	out->len = (size_t)l;
	der = NULL;
	out->http_status = 200;
	out->granted = 1;
	out->serial = cb.serial;
	tsa_batch_add(t, cb.serial);
	r = 0;
out:
	ERR_clear_error();
	OPENSSL_free(der);
	TS_RESP_free(resp);
	BIO_free(b);
	TS_RESP_CTX_free(ctx);
	return r;
}

int
tsa_respond(struct tsa *t, const unsigned char *q, size_t len,
    struct tsa_reply *out)
{
	struct tsa_query qc;
	struct tsa_clock clk;
	TS_REQ *req = NULL;
	int r;

	memset(out, 0, sizeof(*out));
	if (t == NULL)
		return SIGNET_ERR_NOT_FOUND;
	/* the client's mistakes are answered whatever the token's state */
	if (tsa_query_check(q, len, t->policy, &qc, &req) != 0)
		return tsa_reject(out, qc.fail_info == TS_INFO_BAD_DATA_FORMAT ?
		    400 : 200, qc.fail_info, qc.text);
	TS_REQ_free(req);
	if (tsa_clock_read(&clk) != 0 || (!clk.synchronized &&
	    !t->allow_unsynchronized))
		return tsa_reject(out, 503, TS_INFO_TIME_NOT_AVAILABLE,
		    "the system clock is not synchronised (adjtimex); no "
		    "token is issued until it is");
	if ((r = tsa_load(t)) != 0 || (r = tsa_issue(t, q, len, out)) != 0)
		return tsa_token_error(t, r);
	return 0;
}

int
tsa_stamp(void *arg, const unsigned char *data, size_t len,
    unsigned char **token, size_t *toklen)
{
	struct tsa *t = arg;
	TS_REQ *req = NULL;
	TS_MSG_IMPRINT *mi = NULL;
	X509_ALGOR *alg = NULL;
	ASN1_INTEGER *nonce = NULL;
	TS_RESP *resp = NULL;
	struct tsa_reply rep;
	unsigned char md[32], rnd[8], *q = NULL, *der = NULL;
	const unsigned char *p;
	unsigned int mdlen = 0;
	BIGNUM *bn = NULL;
	int l, r = SIGNET_ERR_CRYPTO;

	*token = NULL;
	*toklen = 0;
	memset(&rep, 0, sizeof(rep));
	if (t == NULL)
		return SIGNET_ERR_NOT_FOUND;
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
	    !TS_REQ_set_nonce(req, nonce) || !TS_REQ_set_cert_req(req, 1) ||
	    (l = i2d_TS_REQ(req, &q)) <= 0)
		goto out;
	if ((r = tsa_respond(t, q, (size_t)l, &rep)) != 0)
		goto out;
	if (!rep.granted) {
		/* the clock (the query is ours and is right) */
		r = rep.http_status == 503 ? SIGNET_ERR_UNAVAILABLE :
		    SIGNET_ERR_INTERNAL;
		goto out;
	}
	p = rep.der;
	r = SIGNET_ERR_CRYPTO;
	if ((resp = d2i_TS_RESP(NULL, &p, (long)rep.len)) == NULL ||
	    TS_RESP_get_token(resp) == NULL ||
	    (l = i2d_PKCS7(TS_RESP_get_token(resp), &der)) <= 0)
		goto out;
	*token = der;
	*toklen = (size_t)l;
	der = NULL;
	r = 0;
out:
	ERR_clear_error();
	tsa_reply_free(&rep);
	OPENSSL_free(q);
	OPENSSL_free(der);
	TS_RESP_free(resp);
	BN_free(bn);
	ASN1_INTEGER_free(nonce);
	X509_ALGOR_free(alg);
	TS_MSG_IMPRINT_free(mi);
	TS_REQ_free(req);
	return r;
}

void
tsa_reply_free(struct tsa_reply *r)
{
	if (r == NULL)
		return;
	OPENSSL_free(r->der);
	memset(r, 0, sizeof(*r));
}

int
tsa_chain_pem(struct tsa *t, char **pem)
{
	int r;

	*pem = NULL;
	if (t == NULL)
		return SIGNET_ERR_NOT_FOUND;
	if ((r = tsa_load(t)) != 0)
		return r;
	return pki_chain_to_pem(t->chain, pem);
}

uint64_t
tsa_tokens_issued(void)
{
	return (uint64_t)atomic_load(&tsa_issued);
}

json_t *
tsa_status_json(const struct tsa *t)
{
	if (t == NULL)
		return json_pack("{s:b, s:I}", "enabled", 0, "tokensIssued",
		    (json_int_t)tsa_tokens_issued());
	return json_pack("{s:b, s:s, s:s, s:b, s:I}", "enabled", 1,
	    "certificate", t->certificate, "policy", t->policy_text,
	    "allowUnsynchronized", t->allow_unsynchronized,
	    "tokensIssued", (json_int_t)tsa_tokens_issued());
}
