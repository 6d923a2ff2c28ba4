#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/pem.h>

#include <jansson.h>

#include "ci_origin.h"
#include "client.h"
#include "signet_p11_net.h"

/* Polling a request that waits: soon at first (a policy without
 * approvals signs within a second), then at most every few seconds. */
#define SP11_POLL_FIRST_MS	20L
#define SP11_POLL_MAX_MS	2000L
#define SP11_REQUEST_ID_LEN	36
#define SP11_RETRIES		3

/* --- log -------------------------------------------------------------- */

static FILE *sp11_logf;

void
sp11_log_open(const char *path)
{
	if (sp11_logf == NULL && path != NULL && *path != '\0')
		sp11_logf = fopen(path, "ae");
}

void
sp11_log(const char *fmt, ...)
{
	FILE *f = sp11_logf != NULL ? sp11_logf : stderr;
	char ts[32];
	struct tm tm;
	time_t now = time(NULL);
	va_list ap;

	gmtime_r(&now, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
	/* one line, one call: lines of threads do not interleave */
	flockfile(f);
	fprintf(f, "%s signet-pkcs11: ", ts);
	va_start(ap, fmt);
	vfprintf(f, fmt, ap);
	va_end(ap);
	fputc('\n', f);
	fflush(f);
	funlockfile(f);
}

void
sp11_log_close(void)
{
	if (sp11_logf != NULL)
		fclose(sp11_logf);
	sp11_logf = NULL;
}

/* --- the client -------------------------------------------------------- */

static int
sp11_client(const struct sp11_conf *conf, struct client **c)
{
	struct client_opts o;

	memset(&o, 0, sizeof(o));
	o.url = conf->v[SP11_URL];
	o.cacert = conf->v[SP11_CACERT];
	o.cert = conf->v[SP11_CLIENT_CERT];
	o.key = conf->v[SP11_CLIENT_KEY];
	o.token = conf->v[SP11_TOKEN];
	/* a tool waits for C_Sign; a few tries (1 + 2 + 4 s apart) bridge
	 * a restart of the appliance without stalling a build for long */
	o.retries = SP11_RETRIES;
	return client_new(&o, c);
}

static int
sp11_slug_ok(const char *s)
{
	size_t i, n = s != NULL ? strlen(s) : 0;

	if (n == 0 || n > SIGNET_MAX_SLUG)
		return 0;
	for (i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') ||
		    (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
			return 0;
	return 1;
}

/* --- tokens ---------------------------------------------------------- */

void
sp11_policies_free(struct sp11_policy *p, size_t n)
{
	size_t i;

	if (p == NULL)
		return;
	for (i = 0; i < n; i++) {
		sk_X509_pop_free(p[i].chain, X509_free);
		EVP_PKEY_free(p[i].pub);
	}
	free(p);
}

/* The PEM chain the appliance serves, bounded in size and count. */
static int
sp11_chain(const char *pem, size_t len, struct sp11_policy *p)
{
	BIO *b = NULL;
	X509 *x;
	int r = SIGNET_ERR_INVALID;

	if (len > SP11_MAX_CHAIN_PEM || len > INT32_MAX ||
	    (b = BIO_new_mem_buf(pem, (int)len)) == NULL ||
	    (p->chain = sk_X509_new_null()) == NULL)
		goto out;
	while ((x = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL) {
		if (sk_X509_num(p->chain) >= SP11_MAX_CHAIN ||
		    sk_X509_push(p->chain, x) <= 0) {
			X509_free(x);
			goto out;
		}
	}
	if (sk_X509_num(p->chain) == 0)
		goto out;
	if ((p->pub = X509_get_pubkey(sk_X509_value(p->chain, 0))) == NULL)
		goto out;
	switch (EVP_PKEY_get_base_id(p->pub)) {
	case EVP_PKEY_RSA:
		p->rsa = 1;
		p->sig_len = (size_t)EVP_PKEY_get_size(p->pub);
		break;
	case EVP_PKEY_EC:
		/* raw r || s (PKCS#11 2.40 section 2.3.1): twice the order */
		p->sig_len = 2 * (size_t)((EVP_PKEY_get_bits(p->pub) + 7) / 8);
		break;
	default:
		goto out;
	}
	if (p->sig_len == 0 || p->sig_len > SP11_MAX_SIG)
		goto out;
	r = 0;
out:
	BIO_free(b);
	return r;
}

int
sp11_net_policies(const struct sp11_conf *conf, struct sp11_policy **out,
    size_t *n, char *msg, size_t len)
{
	struct client *c = NULL;
	struct sp11_policy *ps = NULL, *p;
	json_t *me = NULL, *e;
	const char *project, *policy;
	char path[256], *pem = NULL;
	size_t i, cnt = 0, pemlen;
	int r;

	*out = NULL;
	*n = 0;
	if ((r = sp11_client(conf, &c)) != 0) {
		r = signet_errf(msg, len, r, "cannot reach %s: %s",
		    conf->v[SP11_URL], signet_strerror(r));
		goto out;
	}
	if ((r = client_get_json(c, "/api/v1/me", &me)) != 0) {
		r = signet_errf(msg, len, r, "GET /api/v1/me: %s",
		    client_message(c));
		goto out;
	}
	if ((ps = calloc(SP11_MAX_TOKENS, sizeof(*ps))) == NULL) {
		r = SIGNET_ERR_NOMEM;
		goto out;
	}
	json_array_foreach(json_object_get(me, "submitPolicies"), i, e) {
		project = json_string_value(json_object_get(e, "project"));
		policy = json_string_value(json_object_get(e, "policy"));
		if (!json_is_true(json_object_get(e, "allowHashSigning")) ||
		    !sp11_slug_ok(project) || !sp11_slug_ok(policy))
			continue;
		if ((conf->v[SP11_PROJECT] != NULL &&
		    strcmp(conf->v[SP11_PROJECT], project) != 0) ||
		    (conf->v[SP11_POLICY] != NULL &&
		    strcmp(conf->v[SP11_POLICY], policy) != 0))
			continue;
		if (cnt == SP11_MAX_TOKENS) {
			sp11_log("more than %d policies allow hash signing; "
			    "the rest are not shown (set project or policy)",
			    SP11_MAX_TOKENS);
			break;
		}
		p = &ps[cnt];
		snprintf(p->project, sizeof(p->project), "%s", project);
		snprintf(p->policy, sizeof(p->policy), "%s", policy);
		snprintf(p->label, sizeof(p->label), "%s/%s", project, policy);
		snprintf(path, sizeof(path), "/api/v1/projects/%s/"
		    "signing-policies/%s/certificate", project, policy);
		free(pem);
		pem = NULL;
		if (client_get_text(c, path, SP11_MAX_CHAIN_PEM, &pem,
		    &pemlen) != 0) {
			sp11_log("%s: no certificate chain: %s", p->label,
			    client_message(c));
			continue;
		}
		if (sp11_chain(pem, pemlen, p) != 0) {
			sp11_log("%s: the certificate chain is not PEM "
			    "certificates of an RSA or EC key (at most %d)",
			    p->label, SP11_MAX_CHAIN);
			sk_X509_pop_free(p->chain, X509_free);
			EVP_PKEY_free(p->pub);
			memset(p, 0, sizeof(*p));
			continue;
		}
		cnt++;
	}
	*out = ps;
	*n = cnt;
	ps = NULL;
	r = 0;
out:
	free(pem);
	sp11_policies_free(ps, SP11_MAX_TOKENS);
	json_decref(me);
	client_free(c);
	return r;
}

/* --- signing ------------------------------------------------------------ */

/* The tool asking: /proc/self/comm (at most 16 bytes, proc(5)). */
static void
sp11_tool(char *out, size_t cap)
{
	FILE *f = fopen("/proc/self/comm", "re");
	size_t n = 0, i;

	if (f != NULL) {
		n = fread(out, 1, cap - 1, f);
		fclose(f);
	}
	out[n] = '\0';
	for (i = 0; i < n; i++)
		if ((unsigned char)out[i] < 0x20 || out[i] == 0x7f)
			break;
	out[i] = '\0';
	if (out[0] == '\0')
		snprintf(out, cap, "unknown");
}

static int
sp11_body(const struct sp11_policy *pol, int hash, const uint8_t *digest,
    size_t dlen, const char *mechanism, json_t **out, char *msg, size_t len)
{
	struct ci_origin_opts oo;
	struct ci_origin o;
	char hex[2 * SP11_MAX_DIGEST + 1], tool[32], key[64];
	const char *file = getenv("SIGNET_FILE_NAME");
	json_t *b = NULL;
	size_t i;
	int r;

	(void)pol;
	memset(&o, 0, sizeof(o));
	memset(&oo, 0, sizeof(oo));
	oo.retries = -1;
	for (i = 0; i < dlen && i < SP11_MAX_DIGEST; i++)
		snprintf(hex + 2 * i, 3, "%02x", digest[i]);
	hex[2 * i] = '\0';
	sp11_tool(tool, sizeof(tool));
	/* what `signet submit` sends of the build (GitHub Actions, GitLab
	 * CI, Jenkins), with the job's ID token when there is one */
	if ((r = ci_origin_collect(&oo, &o, msg, len)) != 0)
		goto out;
	if ((b = json_pack("{s:s, s:s, s:s, s:s, s:s}", "hashAlgorithm",
	    sp11_hash_name(hash), "digest", hex, "signatureAlgorithm",
	    mechanism, "fileName", file != NULL && *file != '\0' ? file :
	    "unknown", "tool", tool)) == NULL) {
		r = SIGNET_ERR_NOMEM;
		goto out;
	}
	for (i = 0; i < CI_ORIGIN_NFIELDS; i++) {
		if (o.value[i] == NULL)
			continue;
		snprintf(key, sizeof(key), "origin.%s", ci_origin_field_name(
		    (int)i));
		if (json_object_set_new(b, key, json_string(o.value[i])) != 0) {
			r = SIGNET_ERR_NOMEM;
			goto out;
		}
	}
	if (o.id_token != NULL && json_object_set_new(b, "origin.idToken",
	    json_stringn(o.id_token, o.id_token_len)) != 0) {
		r = SIGNET_ERR_NOMEM;
		goto out;
	}
	*out = b;
	b = NULL;
	r = 0;
out:
	ci_origin_free(&o);
	json_decref(b);
	return r;
}

static int
sp11_id_ok(const char *id)
{
	size_t i;

	if (id == NULL || strlen(id) != SP11_REQUEST_ID_LEN)
		return 0;
	for (i = 0; i < SP11_REQUEST_ID_LEN; i++)
		if (!((id[i] >= '0' && id[i] <= '9') ||
		    (id[i] >= 'a' && id[i] <= 'f') || id[i] == '-'))
			return 0;
	return 1;
}

/* ECDSA-Sig-Value (DER, as the appliance records it) into r || s of
 * half bytes each, as CKM_ECDSA returns it (PKCS#11 2.40 section
 * 2.3.1). */
static int
sp11_ec_raw(const uint8_t *der, size_t dlen, size_t half, uint8_t *out)
{
	const unsigned char *p = der;
	ECDSA_SIG *s = d2i_ECDSA_SIG(NULL, &p, (long)dlen);
	int r = -1;

	if (s != NULL && p == der + dlen &&
	    BN_bn2binpad(ECDSA_SIG_get0_r(s), out, (int)half) == (int)half &&
	    BN_bn2binpad(ECDSA_SIG_get0_s(s), out + half, (int)half) ==
	    (int)half)
		r = 0;
	ECDSA_SIG_free(s);
	return r;
}

/* The signature of a Completed request, checked against the token's
 * public key before it is handed to the tool. */
static int
sp11_take_sig(const struct sp11_policy *pol, const json_t *rec,
    uint8_t sig[SP11_MAX_SIG], size_t *siglen)
{
	const char *b64 = json_string_value(json_object_get(json_object_get(
	    rec, "hash"), "signature"));
	uint8_t raw[SP11_MAX_SIG + 3];
	size_t n, blen;
	int d;

	if (b64 == NULL || (blen = strlen(b64)) == 0 || blen % 4 != 0 ||
	    blen / 4 * 3 > sizeof(raw))
		return -1;
	if ((d = EVP_DecodeBlock(raw, (const unsigned char *)b64,
	    (int)blen)) <= 0)
		return -1;
	n = (size_t)d;
	/* EVP_DecodeBlock counts the padding as zero bytes */
	if (b64[blen - 1] == '=')
		n--;
	if (b64[blen - 2] == '=')
		n--;
	if (pol->rsa) {
		if (n != pol->sig_len)
			return -1;
		memcpy(sig, raw, n);
		*siglen = n;
		return 0;
	}
	if (sp11_ec_raw(raw, n, pol->sig_len / 2, sig) != 0)
		return -1;
	*siglen = pol->sig_len;
	return 0;
}

/* Why a final request did not sign: its failure reason, or a decision's
 * comment. */
static void
sp11_why(const json_t *rec, const char *w, char *msg, size_t len)
{
	const char *reason = json_string_value(json_object_get(rec,
	    "failureReason"));
	const json_t *a, *last = NULL;
	size_t i;

	json_array_foreach(json_object_get(rec, "approvals"), i, a)
		last = a;
	if (reason != NULL)
		snprintf(msg, len, "request %s %s: %.300s",
		    json_string_value(json_object_get(rec, "id")), w, reason);
	else if (last != NULL && strcmp(w, "Denied") == 0)
		snprintf(msg, len, "request %s was denied by %.64s%s%.300s",
		    json_string_value(json_object_get(rec, "id")),
		    json_string_value(json_object_get(json_object_get(last,
		    "by"), "name")),
		    json_string_value(json_object_get(last, "comment")) ?
		    ": " : "", json_string_value(json_object_get(last,
		    "comment")) ? json_string_value(json_object_get(last,
		    "comment")) : "");
	else
		snprintf(msg, len, "request %s is %s",
		    json_string_value(json_object_get(rec, "id")), w);
}

enum sp11_outcome
sp11_net_sign(const struct sp11_conf *conf, const struct sp11_policy *pol,
    int hash, const uint8_t *digest, size_t dlen, const char *mechanism,
    uint8_t sig[SP11_MAX_SIG], size_t *siglen, char *msg, size_t len)
{
	struct client *c = NULL;
	json_t *body = NULL, *rec = NULL, *cancel = NULL;
	enum sp11_outcome o = SP11_FAILED;
	char path[256], id[SP11_REQUEST_ID_LEN + 1];
	const char *w;
	struct timespec t0, t1;
	long wait_ms = SP11_POLL_FIRST_MS;
	int r;

	*siglen = 0;
	if ((r = sp11_client(conf, &c)) != 0) {
		snprintf(msg, len, "cannot reach %s: %s", conf->v[SP11_URL],
		    signet_strerror(r));
		goto out;
	}
	if ((r = sp11_body(pol, hash, digest, dlen, mechanism, &body, msg,
	    len)) != 0)
		goto out;
	snprintf(path, sizeof(path), "/api/v1/projects/%s/signing-policies/"
	    "%s/hash-signing-requests", pol->project, pol->policy);
	if ((r = client_post_json(c, path, body, &rec)) != 0) {
		snprintf(msg, len, "%s refused the hash signing request: %s",
		    pol->label, client_message(c));
		o = r == SIGNET_ERR_UNAVAILABLE || r == SIGNET_ERR_NOMEM ||
		    r == SIGNET_ERR_CONFIG || r == SIGNET_ERR_IO ?
		    SP11_FAILED : SP11_REJECTED;
		goto out;
	}
	w = json_string_value(json_object_get(rec, "id"));
	if (!sp11_id_ok(w)) {
		snprintf(msg, len, "the appliance's answer names no request");
		goto out;
	}
	snprintf(id, sizeof(id), "%s", w);
	sp11_log("%s: request %s (%s %s, %s) is %s", pol->label, id,
	    sp11_hash_name(hash), json_string_value(json_object_get(
	    json_object_get(rec, "hash"), "digest")), mechanism,
	    json_string_value(json_object_get(rec, "workflowStatus")));
	snprintf(path, sizeof(path), "/api/v1/signing-requests/%s", id);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		w = json_string_value(json_object_get(rec, "workflowStatus"));
		if (json_is_true(json_object_get(rec, "isFinalStatus")))
			break;
		clock_gettime(CLOCK_MONOTONIC, &t1);
		if (t1.tv_sec - t0.tv_sec >= conf->wait_s) {
			snprintf(msg, len, "request %s is still %s after %ld s "
			    "(wait); canceled", id, w ? w : "?", conf->wait_s);
			cancel = json_pack("{s:s}", "comment", "the PKCS#11 "
			    "module stopped waiting");
			snprintf(path, sizeof(path),
			    "/api/v1/signing-requests/%s/cancel", id);
			if (client_post_json(c, path, cancel, NULL) != 0)
				sp11_log("request %s: cancel: %s", id,
				    client_message(c));
			o = SP11_TIMEOUT;
			goto out;
		}
		client_sleep_ms(wait_ms);
		wait_ms = wait_ms * 2 > SP11_POLL_MAX_MS ? SP11_POLL_MAX_MS :
		    wait_ms * 2;
		json_decref(rec);
		rec = NULL;
		if (client_get_json(c, path, &rec) != 0) {
			snprintf(msg, len, "request %s: %s", id,
			    client_message(c));
			goto out;
		}
	}
	if (w != NULL && strcmp(w, "Completed") == 0) {
		if (sp11_take_sig(pol, rec, sig, siglen) != 0) {
			snprintf(msg, len, "request %s: the signature the "
			    "appliance returned is not one of this key", id);
			goto out;
		}
		sp11_log("%s: request %s signed", pol->label, id);
		o = SP11_SIGNED;
		goto out;
	}
	sp11_why(rec, w != NULL ? w : "in no known status", msg, len);
	o = w != NULL && strcmp(w, "Failed") == 0 ? SP11_FAILED :
	    SP11_REJECTED;
out:
	json_decref(body);
	json_decref(rec);
	json_decref(cancel);
	client_free(c);
	return o;
}
