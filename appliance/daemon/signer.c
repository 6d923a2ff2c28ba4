#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "app.h"
#include "authenticode.h"
#include "catalog.h"
#include "format.h"
#include "events.h"
#include "hashreq.h"
#include "khclient.h"
#include "khproto.h"
#include "log.h"
#include "notify.h"
#include "pki.h"
#include "request.h"
#include "rkey.h"
#include "signer.h"
#include "signet_limits.h"
#include "tsa.h"
#include "tsa_client.h"

/* How long a request waits before another try while the token is locked
 * or the keyholder is busy restarting. */
#define SIGNER_RETRY_SECONDS 2

struct signer_job {
	struct signer_job *next;
	char id[REQUEST_ID_LEN + 1];
	int waiting;	/* why it waits (SIGNET_ERR_*), 0: it does not */
};

/* A policy certificate with its token key, loaded once. */
struct signer_key {
	struct signer_key *next;
	char name[CATALOG_MAX_NAME + 1];
	char sha256[65];	/* leaf: a re-applied certificate reloads */
	EVP_PKEY *key;
	X509 *leaf;
	STACK_OF(X509) *chain;
};

struct signer {
	struct app *app;
	pthread_t th[SIGNET_MAX_WORKERS];
	int n;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct signer_job *head, *tail;
	int stop;
	pthread_mutex_t keys_mu;
	struct signer_key *keys;
};

static void
signer_key_free(struct signer_key *k)
{
	if (k == NULL)
		return;
	EVP_PKEY_free(k->key);
	X509_free(k->leaf);
	sk_X509_pop_free(k->chain, X509_free);
	free(k);
}

/* Loads (or finds) the certificate's key; the returned entry lives as
 * long as the signer. */
static int
signer_key(struct signer *s, const json_t *cert, struct signer_key **out)
{
	const char *name = json_string_value(json_object_get(cert, "name"));
	const char *fp = json_string_value(json_object_get(cert, "sha256"));
	const char *pem = json_string_value(json_object_get(cert, "chainPem"));
	const char *kid = json_string_value(json_object_get(cert, "keyId"));
	struct signer_key *k;
	int r = 0;

	if (name == NULL || fp == NULL || pem == NULL || kid == NULL)
		return SIGNET_ERR_STORE;
	pthread_mutex_lock(&s->keys_mu);
	for (k = s->keys; k != NULL; k = k->next)
		if (strcmp(k->name, name) == 0 && strcmp(k->sha256, fp) == 0)
			goto out;
	if ((k = calloc(1, sizeof(*k))) == NULL) {
		r = SIGNET_ERR_NOMEM;
		goto out;
	}
	snprintf(k->name, sizeof(k->name), "%s", name);
	snprintf(k->sha256, sizeof(k->sha256), "%s", fp);
	if ((r = pki_chain_from_pem(pem, strlen(pem), &k->chain)) != 0 ||
	    (r = rkey_load(s->app->kh, kid, &k->key)) != 0) {
		signer_key_free(k);
		k = NULL;
		goto out;
	}
	k->leaf = sk_X509_value(k->chain, 0);
	X509_up_ref(k->leaf);
	k->next = s->keys;
	s->keys = k;
out:
	pthread_mutex_unlock(&s->keys_mu);
	*out = k;
	return r;
}

/* Takes the request from the queue into Processing; 1 = nothing to do. */
static int
signer_claim(struct signer *s, const char *id, json_t **rec)
{
	struct store_txn *t = NULL;
	const char *w;
	int r;

	*rec = NULL;
	if ((r = store_txn_begin(s->app->store, 1, &t)) != 0)
		return r;
	if ((r = request_get(t, id, rec)) != 0)
		goto out;
	w = json_string_value(json_object_get(*rec, "workflowStatus"));
	if (w != NULL && strcmp(w, RQ_PROCESSING) == 0) {
		/* signetd stopped while signing it: sign again */
		r = 0;
		goto out;
	}
	if (w == NULL || strcmp(w, RQ_QUEUED) != 0) {
		r = 1;
		goto out;
	}
	if ((r = request_transition(t, *rec, RQ_PROCESSING, NULL)) != 0)
		goto out;
	r = store_txn_commit(&t);
out:
	store_txn_abort(&t);
	if (r != 0) {
		json_decref(*rec);
		*rec = NULL;
	}
	return r;
}

static int
signer_finish(struct signer *s, const char *id, const char *to,
    const char *reason, const char *note, json_t *signed_artifact,
    json_t *cert)
{
	struct store_txn *t = NULL;
	json_t *rec = NULL;
	int r;

	if ((r = store_txn_begin(s->app->store, 1, &t)) != 0)
		return r;
	if ((r = request_get(t, id, &rec)) != 0)
		goto out;
	if (signed_artifact != NULL && request_is_hash(rec)) {
		/* a hash request's signature is kept in the record: there is
		 * no file to store it beside */
		json_object_set(json_object_get(rec, "hash"), "signature",
		    json_object_get(signed_artifact, "signature"));
		json_object_set(rec, "certificate", cert);
	} else if (signed_artifact != NULL) {
		json_object_set(rec, "signedArtifact", signed_artifact);
		json_object_set(rec, "certificate", cert);
		if ((r = request_artifact_ref(t, json_string_value(
		    json_object_get(signed_artifact, "sha256")),
		    (uint64_t)json_integer_value(json_object_get(
		    signed_artifact, "size")))) != 0)
			goto out;
	}
	if ((r = (note != NULL ? request_transition_note(t, rec, to, note) :
	    request_transition(t, rec, to, reason))) != 0)
		goto out;
	if (request_is_final(to) && (r = events_request(t, rec, "system",
	    "signer", strcmp(to, RQ_COMPLETED) == 0 ?
	    "signing-request.completed" : "signing-request.failed",
	    signed_artifact != NULL ? cert : NULL)) != 0)
		goto out;
	r = store_txn_commit(&t);
	if (r == 0)
		notify_kick(s->app->notify);
out:
	store_txn_abort(&t);
	json_decref(rec);
	return r;
}

/* hex → bytes; 0 or SIGNET_ERR_INVALID */
static int
signer_unhex(const char *hex, unsigned char *out, size_t cap, size_t *n)
{
	size_t i, len = hex != NULL ? strlen(hex) : 0;
	int hi, lo;

	if (len == 0 || len % 2 != 0 || len / 2 > cap)
		return SIGNET_ERR_INVALID;
	for (i = 0; i < len / 2; i++) {
		hi = OPENSSL_hexchar2int((unsigned char)hex[2 * i]);
		lo = OPENSSL_hexchar2int((unsigned char)hex[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return SIGNET_ERR_INVALID;
		out[i] = (unsigned char)(hi << 4 | lo);
	}
	*n = len / 2;
	return 0;
}

/* An Authenticode request's job: the container and digest recorded at
 * submission (workflow.h), the project's url for moreInfo. */
static int
signer_ac_job(struct store_txn *t, const json_t *rec, const char *project,
    struct format_job *job, const struct format **rfmt, unsigned char *dg,
    json_t **prj, char *reason, size_t rlen)
{
	const json_t *ac = json_object_get(rec, "authenticode");
	const char *mode;

	*rfmt = format_find(json_string_value(json_object_get(ac, "format")));
	if (*rfmt == NULL || (*rfmt)->ac == NULL) {
		snprintf(reason, rlen, "the request records no Authenticode "
		    "container format");
		return SIGNET_ERR_INVALID;
	}
	job->ac = (*rfmt)->ac;
	job->md = ac_md_by_name(json_string_value(json_object_get(ac,
	    "digestAlgorithm")));
	if (job->md == NULL || signer_unhex(json_string_value(
	    json_object_get(ac, "digest")), dg, EVP_MAX_MD_SIZE,
	    &job->ac_digest_len) != 0) {
		snprintf(reason, rlen, "the request's Authenticode digest is "
		    "not recorded");
		return SIGNET_ERR_INVALID;
	}
	job->ac_digest = dg;
	mode = json_string_value(json_object_get(ac, "signatureMode"));
	job->append = mode != NULL && strcmp(mode, "append") == 0;
	job->program_name = json_string_value(json_object_get(ac,
	    "programName"));
	if (catalog_get_project(t, project, prj) == 0)
		job->url = json_string_value(json_object_get(*prj, "url"));
	return 0;
}

/* A hash request (hashreq.h): the stated digest signed by the policy's
 * key in one SIGN round trip, journaled under the request's id like
 * every other signature. The keyholder builds the DigestInfo (PKCS#1
 * v1.5) or the PSS encoding; ECDSA comes back DER (ECDSA-Sig-Value), as
 * it is recorded. The result is {"signature": base64}. */
static int
signer_sign_hash(struct signer *s, json_t *rec, json_t **result,
    json_t **certinfo, char *reason, size_t rlen)
{
	struct store_txn *t = NULL;
	json_t *policy = NULL, *cert = NULL;
	uint8_t digest[HASHREQ_MAX_DIGEST], sig[KH_MAX_SIG];
	char b64[4 * ((KH_MAX_SIG + 2) / 3) + 1];
	const char *project, *slug, *cname, *kid;
	size_t dlen, slen = sizeof(sig);
	int r, mech, hash;

	project = json_string_value(json_object_get(rec, "projectSlug"));
	slug = json_string_value(json_object_get(rec, "signingPolicySlug"));
	if (hashreq_kh(json_object_get(rec, "hash"), &mech, &hash, digest,
	    &dlen) != 0) {
		snprintf(reason, rlen, "the request's digest cannot be read");
		return SIGNET_ERR_STORE;
	}
	if ((r = store_txn_begin(s->app->store, 0, &t)) != 0)
		return r;
	if ((r = catalog_get_policy(t, project, slug, &policy)) != 0) {
		snprintf(reason, rlen, "signing policy %s/%s no longer exists",
		    project, slug);
		goto out;
	}
	cname = json_string_value(json_object_get(policy, "certificate"));
	if (cname == NULL ||
	    (r = catalog_get_certificate(t, cname, &cert)) != 0 ||
	    (kid = json_string_value(json_object_get(cert, "keyId"))) ==
	    NULL) {
		snprintf(reason, rlen, "the policy's certificate is missing");
		r = r != 0 ? r : SIGNET_ERR_STORE;
		goto out;
	}
	store_txn_abort(&t);
	r = kh_sign(s->app->kh, kid, mech, hash, digest, dlen,
	    KH_PURPOSE_REQUEST, json_string_value(json_object_get(rec, "id")),
	    sig, &slen);
	if (r != 0) {
		snprintf(reason, rlen, "the token did not sign the digest: %s",
		    signet_strerror(r));
		goto out;
	}
	if (EVP_EncodeBlock((unsigned char *)b64, sig, (int)slen) <= 0) {
		r = SIGNET_ERR_CRYPTO;
		goto out;
	}
	*result = json_pack("{s:s}", "signature", b64);
	*certinfo = json_pack("{s:O, s:O}", "name", json_object_get(cert,
	    "name"), "sha256", json_object_get(cert, "sha256"));
	if (*result == NULL || *certinfo == NULL)
		r = SIGNET_ERR_NOMEM;
out:
	store_txn_abort(&t);
	OPENSSL_cleanse(sig, sizeof(sig));
	json_decref(policy);
	json_decref(cert);
	return r;
}

/* A policy with `timestamp: builtin` has its signatures time-stamped by
 * this appliance's TSA ([tsa]); without one they cannot be. With
 * `timestamp: url` an RFC 3161 server in the network is asked
 * (tsa_client; tc lives as long as the job). */
static int
signer_timestamp(struct signer *s, const json_t *policy,
    struct format_job *job, struct tsa_client *tc, char *reason, size_t rlen)
{
	const char *ts = json_string_value(json_object_get(policy,
	    "timestamp"));

	if (ts != NULL && strcmp(ts, "url") == 0) {
		tc->url = json_string_value(json_object_get(policy,
		    "timestampUrl"));
		tc->ca_pem = json_string_value(json_object_get(policy,
		    "timestampCaPem"));
		tc->tls_ca_pem = json_string_value(json_object_get(policy,
		    "timestampTlsCaPem"));
		if (tc->url == NULL || tc->ca_pem == NULL) {
			snprintf(reason, rlen, "the policy asks for a "
			    "time-stamp and names no TSA");
			return SIGNET_ERR_CONFIG;
		}
		job->timestamp = tsa_client_stamp;
		job->timestamp_arg = tc;
		return 0;
	}
	if (ts == NULL || strcmp(ts, "builtin") != 0)
		return 0;
	if (s->app->tsa == NULL) {
		snprintf(reason, rlen, "the policy asks for a time-stamp from "
		    "the built-in TSA, and [tsa] is off");
		return SIGNET_ERR_CONFIG;
	}
	job->timestamp = tsa_stamp;
	job->timestamp_arg = s->app->tsa;
	return 0;
}

static int
signer_sign(struct signer *s, json_t *rec, json_t **signed_artifact,
    json_t **certinfo, char *note, size_t nlen, char *reason, size_t rlen)
{
	struct store_txn *t = NULL;
	json_t *policy = NULL, *cert = NULL, *prj = NULL;
	const struct format *rfmt;
	unsigned char dg[EVP_MAX_MD_SIZE];
	struct signer_key *k = NULL;
	const struct format *fmt;
	struct format_job job;
	struct format_key fk;
	struct format_output fo;
	struct tsa_client tc = { NULL, NULL, NULL, "" };
	char name[SIGNET_MAX_ARTIFACT_NAME + 32];
	const char *project, *slug, *cname, *aname, *conf, *sha;
	int r;

	if (request_is_hash(rec))
		return signer_sign_hash(s, rec, signed_artifact, certinfo,
		    reason, rlen);
	project = json_string_value(json_object_get(rec, "projectSlug"));
	slug = json_string_value(json_object_get(rec, "signingPolicySlug"));
	aname = json_string_value(json_object_get(json_object_get(rec,
	    "unsignedArtifact"), "name"));
	sha = json_string_value(json_object_get(json_object_get(rec,
	    "unsignedArtifact"), "sha256"));
	if (sha == NULL || !cas_valid_hex(sha))
		return SIGNET_ERR_STORE;
	conf = json_string_value(json_object_get(rec,
	    "artifactConfigurationSlug"));
	/* requests recorded before formats were named sign as the default */
	fmt = conf != NULL ? format_find(conf) : format_default();
	if (fmt == NULL) {
		snprintf(reason, rlen, "artifact configuration '%.64s' is not "
		    "a signature format of this appliance", conf);
		return SIGNET_ERR_INVALID;
	}
	if ((r = store_txn_begin(s->app->store, 0, &t)) != 0)
		return r;
	if ((r = catalog_get_policy(t, project, slug, &policy)) != 0) {
		snprintf(reason, rlen, "signing policy %s/%s no longer exists",
		    project, slug);
		goto out;
	}
	cname = json_string_value(json_object_get(policy, "certificate"));
	if (cname == NULL ||
	    (r = catalog_get_certificate(t, cname, &cert)) != 0) {
		snprintf(reason, rlen, "the policy's certificate is missing");
		goto out;
	}
	memset(&job, 0, sizeof(job));
	rfmt = fmt;
	if ((fmt->ac != NULL || fmt->pick) && (r = signer_ac_job(t, rec,
	    project, &job, &rfmt, dg, &prj, reason, rlen)) != 0)
		goto out;
	store_txn_abort(&t);
	if ((r = signer_key(s, cert, &k)) != 0) {
		snprintf(reason, rlen, "cannot load the policy's key: %s",
		    signet_strerror(r));
		goto out;
	}
	job.cas = s->app->cas;
	job.request_id = json_string_value(json_object_get(rec, "id"));
	job.artifact_sha256 = sha;
	job.artifact_size = (uint64_t)json_integer_value(json_object_get(
	    json_object_get(rec, "unsignedArtifact"), "size"));
	if ((r = signer_timestamp(s, policy, &job, &tc, reason, rlen)) != 0)
		goto out;
	fk.key = k->key;
	fk.leaf = k->leaf;
	fk.chain = k->chain;
	memset(&fo, 0, sizeof(fo));
	if ((r = fmt->sign(&job, &fk, &fo, reason, rlen)) != 0) {
		/* the external TSA's own account of what went wrong */
		if (tc.err[0] != '\0')
			snprintf(reason, rlen, "%s", tc.err);
		goto out;
	}
	/* an embedded signature keeps the file's name */
	snprintf(name, sizeof(name), "%s%s", aname ? aname : "artifact",
	    rfmt->extension);
	*signed_artifact = json_pack("{s:s, s:I, s:s, s:s}", "name", name,
	    "size", (json_int_t)fo.size, "sha256", fo.sha256, "mediaType",
	    rfmt->media_type);
	if (fo.unchanged)
		snprintf(note, nlen, "not signed again: certificate %s has "
		    "signed this file already; the signed artifact is the "
		    "file as submitted", k->name);
	else if (fo.beside)
		snprintf(note, nlen, "signature appended as a further "
		    "certificate table entry; the file's earlier signatures "
		    "are kept");
	else if (fo.nested)
		snprintf(note, nlen, "signature appended as a nested "
		    "signature; the file's earlier signature is kept");
	*certinfo = json_pack("{s:s, s:s}", "name", k->name, "sha256",
	    k->sha256);
	if (*signed_artifact == NULL || *certinfo == NULL)
		r = SIGNET_ERR_NOMEM;
out:
	store_txn_abort(&t);
	json_decref(policy);
	json_decref(cert);
	json_decref(prj);
	return r;
}

static void
signer_push(struct signer *s, struct signer_job *j)
{
	j->next = NULL;
	if (s->tail != NULL)
		s->tail->next = j;
	else
		s->head = j;
	s->tail = j;
}

/* Why a request waits, as its history says once. */
static const char *
signer_wait_note(int r)
{
	return r == SIGNET_ERR_TOKEN_LOCKED ? "waiting: token not activated" :
	    "waiting: keyholder unavailable";
}

/* A waiting request is tried again only once the token can sign: claiming
 * it and putting it back on every try would add two history entries each
 * time (until the record no longer fits). */
static int
signer_token_ready(struct signer *s)
{
	struct kh_status st;
	int r;

	if ((r = kh_status(s->app->kh, &st)) != 0)
		return r;
	return st.present && st.logged_in ? 0 : SIGNET_ERR_TOKEN_LOCKED;
}

/* Is the request still waiting for the signer (not canceled meanwhile)? */
static int
signer_still_queued(struct signer *s, const char *id)
{
	struct store_txn *t = NULL;
	json_t *rec = NULL;
	const char *w;
	int r, queued = 1;	/* when unsure, the claim decides later */

	if (store_txn_begin(s->app->store, 0, &t) != 0)
		return 1;
	if ((r = request_get(t, id, &rec)) == 0) {
		w = json_string_value(json_object_get(rec, "workflowStatus"));
		queued = w != NULL && strcmp(w, RQ_QUEUED) == 0;
	} else if (r == SIGNET_ERR_NOT_FOUND) {
		queued = 0;
	}
	store_txn_abort(&t);
	json_decref(rec);
	return queued;
}

static void
signer_wait(struct signer *s, struct signer_job *j)
{
	sleep(SIGNER_RETRY_SECONDS);
	pthread_mutex_lock(&s->mu);
	signer_push(s, j);
	pthread_mutex_unlock(&s->mu);
}

static void
signer_run(struct signer *s, struct signer_job *j)
{
	json_t *rec = NULL, *sa = NULL, *ci = NULL;
	char reason[256] = "", note[256] = "";
	int r;

	if (j->waiting != 0 && signer_token_ready(s) != 0) {
		if (!signer_still_queued(s, j->id)) {
			free(j);
			return;
		}
		signer_wait(s, j);
		return;
	}
	if ((r = signer_claim(s, j->id, &rec)) != 0) {
		if (r < 0)
			log_err("signer: %s: %s", j->id, signet_strerror(r));
		free(j);
		return;
	}
	r = signer_sign(s, rec, &sa, &ci, note, sizeof(note), reason,
	    sizeof(reason));
	json_decref(rec);
	if (r == SIGNET_ERR_TOKEN_LOCKED || r == SIGNET_ERR_KEYHOLDER) {
		/* not the request's fault: back in line until the token is
		 * there again */
		log_warn("signer: %s waits: %s", j->id, signet_strerror(r));
		if (signer_finish(s, j->id, RQ_QUEUED, NULL, signer_wait_note(r),
		    NULL, NULL) != 0)
			log_err("signer: %s: cannot requeue", j->id);
		j->waiting = r;
		signer_wait(s, j);
		json_decref(sa);
		json_decref(ci);
		return;
	}
	if (r != 0) {
		log_err("signer: %s failed: %s", j->id, reason);
		r = signer_finish(s, j->id, RQ_FAILED, reason, NULL, NULL,
		    NULL);
	} else {
		r = signer_finish(s, j->id, RQ_COMPLETED, NULL,
		    note[0] ? note : NULL, sa, ci);
		if (r == 0)
			log_info("signer: %s completed", j->id);
	}
	if (r != 0)
		log_err("signer: %s: recording the result failed: %s", j->id,
		    signet_strerror(r));
	json_decref(sa);
	json_decref(ci);
	free(j);
}

static void *
signer_main(void *arg)
{
	struct signer *s = arg;
	struct signer_job *j;

	for (;;) {
		pthread_mutex_lock(&s->mu);
		while (s->head == NULL && !s->stop)
			pthread_cond_wait(&s->cv, &s->mu);
		if (s->stop) {
			pthread_mutex_unlock(&s->mu);
			return NULL;
		}
		j = s->head;
		s->head = j->next;
		if (s->head == NULL)
			s->tail = NULL;
		pthread_mutex_unlock(&s->mu);
		signer_run(s, j);
	}
}

int
signer_enqueue(struct signer *s, const char *id)
{
	struct signer_job *j;

	if ((j = calloc(1, sizeof(*j))) == NULL)
		return SIGNET_ERR_NOMEM;
	snprintf(j->id, sizeof(j->id), "%s", id);
	pthread_mutex_lock(&s->mu);
	signer_push(s, j);
	pthread_cond_signal(&s->cv);
	pthread_mutex_unlock(&s->mu);
	return 0;
}

static void
signer_load_one(const char *id, void *arg)
{
	if (signer_enqueue(arg, id) != 0)
		log_err("signer: cannot queue %s", id);
}

int
signer_start(struct app *app, int workers, struct signer **out)
{
	struct signer *s;
	struct store_txn *t = NULL;
	int i, r;

	*out = NULL;
	if (workers < 1 || workers > SIGNET_MAX_WORKERS)
		return SIGNET_ERR_INVALID;
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return SIGNET_ERR_NOMEM;
	s->app = app;
	pthread_mutex_init(&s->mu, NULL);
	pthread_mutex_init(&s->keys_mu, NULL);
	pthread_cond_init(&s->cv, NULL);
	if ((r = store_txn_begin(app->store, 0, &t)) != 0 ||
	    (r = request_pending(t, signer_load_one, s)) != 0) {
		store_txn_abort(&t);
		signer_stop(s);
		return r;
	}
	store_txn_abort(&t);
	for (i = 0; i < workers; i++) {
		if (pthread_create(&s->th[i], NULL, signer_main, s) != 0) {
			signer_stop(s);
			return SIGNET_ERR_INTERNAL;
		}
		s->n++;
	}
	*out = s;
	return 0;
}

void
signer_stop(struct signer *s)
{
	struct signer_job *j;
	struct signer_key *k;
	int i;

	if (s == NULL)
		return;
	pthread_mutex_lock(&s->mu);
	s->stop = 1;
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
	for (i = 0; i < s->n; i++)
		pthread_join(s->th[i], NULL);
	while ((j = s->head) != NULL) {
		s->head = j->next;
		free(j);
	}
	while ((k = s->keys) != NULL) {
		s->keys = k->next;
		signer_key_free(k);
	}
	pthread_mutex_destroy(&s->mu);
	pthread_mutex_destroy(&s->keys_mu);
	pthread_cond_destroy(&s->cv);
	free(s);
}
