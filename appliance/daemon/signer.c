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
#include "metrics.h"
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
/* Storage that failed (a full disk or map, an I/O error) is tried again
 * after 1 s, doubling up to 16 s: soon after space comes back, without
 * spinning while it does not. */
#define SIGNER_BACKOFF_MIN_MS 1000
#define SIGNER_BACKOFF_MAX_MS 16000
/* What a request needs of the disk before it is taken up again: the
 * signature and the record with room to spare. */
#define SIGNER_MIN_FREE (1024 * 1024)

struct signer_job {
	struct signer_job *next;
	struct signer_job *all_prev, *all_next;	/* every job the signer has */
	time_t queued_at;
	char id[REQUEST_ID_LEN + 1];
	int waiting;	/* why it waits (SIGNET_ERR_*), 0: it does not */
	unsigned tries;	/* storage retries since it last made progress */
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
	pthread_cond_t wake;	/* waiting workers: stop or halt (monotonic) */
	struct signer_job *head, *tail;
	struct signer_job *all;	/* queued, waiting or signing */
	unsigned depth;		/* how many */
	int stop;
	int halted;	/* takes no more jobs: the keyholder is gone */
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

/* The signer's two writes share their commits with the submissions' and
 * with each other's (store_write): each may run more than once, so each
 * run reads the request afresh. */
struct signer_claim_w {
	const char *id;
	json_t *rec;		/* out: the request as claimed */
};

static int
signer_claim_write(struct store_txn *t, void *arg)
{
	struct signer_claim_w *w = arg;
	const char *st;
	int r;

	json_decref(w->rec);
	w->rec = NULL;
	if ((r = request_get(t, w->id, &w->rec)) != 0)
		return r;
	st = json_string_value(json_object_get(w->rec, "workflowStatus"));
	if (st != NULL && strcmp(st, RQ_PROCESSING) == 0)
		return 0;	/* signetd stopped while signing it: again */
	if (st == NULL || strcmp(st, RQ_QUEUED) != 0)
		return 1;
	return request_transition(t, w->rec, RQ_PROCESSING, NULL);
}

/* Takes the request from the queue into Processing; 1 = nothing to do. */
static int
signer_claim(struct signer *s, const char *id, json_t **rec)
{
	struct signer_claim_w w = { id, NULL };
	int r;

	*rec = NULL;
	if ((r = store_write(s->app->store, signer_claim_write, &w)) != 0) {
		json_decref(w.rec);
		return r;
	}
	*rec = w.rec;
	return 0;
}

struct signer_finish_w {
	const char *id, *to, *reason, *note;
	json_t *signed_artifact, *cert;
	const unsigned char *held;	/* the result's bytes, or NULL */
};

static int
signer_finish_write(struct store_txn *t, void *arg)
{
	struct signer_finish_w *w = arg;
	json_t *rec = NULL;
	int r;

	if ((r = request_get(t, w->id, &rec)) != 0)
		return r;
	if (w->signed_artifact != NULL && request_is_hash(rec)) {
		/* a hash request's signature is kept in the record: there is
		 * no file to store it beside */
		json_object_set(json_object_get(rec, "hash"), "signature",
		    json_object_get(w->signed_artifact, "signature"));
		json_object_set(rec, "certificate", w->cert);
	} else if (w->signed_artifact != NULL) {
		json_object_set(rec, "signedArtifact", w->signed_artifact);
		json_object_set(rec, "certificate", w->cert);
		if ((r = request_artifact_ref(t, json_string_value(
		    json_object_get(w->signed_artifact, "sha256")),
		    (uint64_t)json_integer_value(json_object_get(
		    w->signed_artifact, "size")), w->held)) != 0)
			goto out;
	}
	if ((r = (w->note != NULL ? request_transition_note(t, rec, w->to,
	    w->note) : request_transition(t, rec, w->to, w->reason))) != 0)
		goto out;
	if (request_is_final(w->to))
		r = events_request(t, rec, "system", "signer",
		    strcmp(w->to, RQ_COMPLETED) == 0 ?
		    "signing-request.completed" : "signing-request.failed",
		    w->signed_artifact != NULL ? w->cert : NULL);
out:
	json_decref(rec);
	return r;
}

static int
signer_finish(struct signer *s, const char *id, const char *to,
    const char *reason, const char *note, json_t *signed_artifact,
    json_t *cert, const unsigned char *held)
{
	struct signer_finish_w w = { id, to, reason, note, signed_artifact,
	    cert, held };
	int r;

	if ((r = store_write(s->app->store, signer_finish_write, &w)) == 0)
		notify_kick(s->app->notify);
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
	job->ac_recorded = json_string_value(json_object_get(ac, "recorded"));
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

/* The policy's time-stamping hook, watched: a token that fails comes
 * after the signature was made and journaled, so the request fails
 * rather than wait and be signed again (the hook has retried already). */
struct signer_stamp {
	int (*fn)(void *arg, const unsigned char *data, size_t len,
	    unsigned char **token, size_t *toklen);
	void *arg;
	int err;
};

static int
signer_stamp(void *arg, const unsigned char *data, size_t len,
    unsigned char **token, size_t *toklen)
{
	struct signer_stamp *st = arg;

	return st->err = st->fn(st->arg, data, len, token, toklen);
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

/* Signs rec: the signed artifact's entry and the certificate's into
 * *signed_artifact and *certinfo, and a result small enough for the
 * database in *held (malloc'd; NULL when it is a file of the artifact
 * store, or there is none). */
static int
signer_sign(struct signer *s, json_t *rec, json_t **signed_artifact,
    json_t **certinfo, unsigned char **held, char *note, size_t nlen,
    char *reason, size_t rlen)
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
	struct signer_stamp stamp = { NULL, NULL, 0 };
	char name[SIGNET_MAX_ARTIFACT_NAME + 32];
	const char *project, *slug, *cname, *aname, *conf, *sha;
	int r;

	*held = NULL;
	memset(&job, 0, sizeof(job));
	job.artifact_fd = -1;
	memset(&fo, 0, sizeof(fo));
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
	if (rfmt->ac != NULL) {
		uint64_t size;

		/* where its bytes are kept: the database or a file */
		if ((r = request_artifact_open(s->app->store, s->app->cas, sha,
		    &job.artifact_fd, &size)) != 0) {
			snprintf(reason, rlen, "the stored artifact cannot be "
			    "read");
			goto out;
		}
	}
	if ((r = signer_timestamp(s, policy, &job, &tc, reason, rlen)) != 0)
		goto out;
	if (job.timestamp != NULL) {
		stamp.fn = job.timestamp;
		stamp.arg = job.timestamp_arg;
		job.timestamp = signer_stamp;
		job.timestamp_arg = &stamp;
	}
	fk.key = k->key;
	fk.leaf = k->leaf;
	fk.chain = k->chain;
	if ((r = fmt->sign(&job, &fk, &fo, reason, rlen)) != 0) {
		/* the external TSA's own account of what went wrong */
		if (tc.err[0] != '\0')
			snprintf(reason, rlen, "%s", tc.err);
		if (stamp.err != 0)
			r = SIGNET_ERR_NO_TIMESTAMP;
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
	if (r == 0) {
		*held = fo.held;
		fo.held = NULL;
	}
out:
	free(fo.held);
	if (job.artifact_fd >= 0)
		close(job.artifact_fd);
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

/* The signer is done with j (signed, failed, gone, or left to the queue
 * in LMDB). */
static void
signer_job_free(struct signer *s, struct signer_job *j)
{
	pthread_mutex_lock(&s->mu);
	if (j->all_prev != NULL)
		j->all_prev->all_next = j->all_next;
	else if (s->all == j)
		s->all = j->all_next;
	if (j->all_next != NULL)
		j->all_next->all_prev = j->all_prev;
	s->depth--;
	pthread_mutex_unlock(&s->mu);
	free(j);
}

void
signer_stats(struct signer *s, unsigned *depth, char *oldest,
    size_t oldest_len, time_t *oldest_at)
{
	struct signer_job *j, *o = NULL;

	*depth = 0;
	*oldest_at = 0;
	if (oldest_len > 0)
		oldest[0] = '\0';
	if (s == NULL)
		return;
	pthread_mutex_lock(&s->mu);
	*depth = s->depth;
	for (j = s->all; j != NULL; j = j->all_next)
		if (o == NULL || j->queued_at < o->queued_at)
			o = j;
	if (o != NULL) {
		snprintf(oldest, oldest_len, "%s", o->id);
		*oldest_at = o->queued_at;
	}
	pthread_mutex_unlock(&s->mu);
}

unsigned
signer_depth(struct signer *s)
{
	unsigned n;

	if (s == NULL)
		return 0;
	pthread_mutex_lock(&s->mu);
	n = s->depth;
	pthread_mutex_unlock(&s->mu);
	return n;
}

int
signer_halted(struct signer *s)
{
	int h;

	if (s == NULL)
		return 1;
	pthread_mutex_lock(&s->mu);
	h = s->halted;
	pthread_mutex_unlock(&s->mu);
	return h;
}

/* Why a request waits, as its history says. */
static const struct {
	int err;
	const char *note;
} signer_notes[] = {
	{ SIGNET_ERR_TOKEN_LOCKED, "waiting: token not activated" },
	{ SIGNET_ERR_KEYHOLDER, "waiting: keyholder unavailable" },
	{ SIGNET_ERR_PROTOCOL, "waiting: keyholder unavailable" },
	{ SIGNET_ERR_STORAGE_FULL, "waiting: storage full" },
};

static const char *
signer_wait_note(int r)
{
	size_t i;

	for (i = 0; i < sizeof(signer_notes) / sizeof(signer_notes[0]); i++)
		if (signer_notes[i].err == r)
			return signer_notes[i].note;
	return "waiting: storage unavailable";
}

/* Needs the keyholder (and the token) rather than the storage. */
static int
signer_is_token_wait(int r)
{
	return r == SIGNET_ERR_TOKEN_LOCKED || r == SIGNET_ERR_KEYHOLDER ||
	    r == SIGNET_ERR_PROTOCOL;
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

/* The same for storage: the disk has room again (the map grows by
 * itself up to its ceiling, and a write that still fails waits again). */
static int
signer_storage_ready(struct signer *s)
{
	uint64_t avail, total;

	if (cas_space(s->app->cas, &avail, &total) != 0)
		return SIGNET_ERR_IO;
	return avail >= SIGNER_MIN_FREE ? 0 : SIGNET_ERR_STORAGE_FULL;
}

static int
signer_ready(struct signer *s, int why)
{
	return signer_is_token_wait(why) ? signer_token_ready(s) :
	    signer_storage_ready(s);
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
		queued = w != NULL && (strcmp(w, RQ_QUEUED) == 0 ||
		    strcmp(w, RQ_PROCESSING) == 0);
	} else if (r == SIGNET_ERR_NOT_FOUND) {
		queued = 0;
	}
	store_txn_abort(&t);
	json_decref(rec);
	return queued;
}

/* How long j waits before its next try. */
static unsigned
signer_delay_ms(struct signer_job *j)
{
	unsigned ms = SIGNER_BACKOFF_MIN_MS;

	if (signer_is_token_wait(j->waiting))
		return SIGNER_RETRY_SECONDS * 1000;
	for (unsigned i = 0; i < j->tries && ms < SIGNER_BACKOFF_MAX_MS; i++)
		ms *= 2;
	if (j->tries < 32)
		j->tries++;
	return ms < SIGNER_BACKOFF_MAX_MS ? ms : SIGNER_BACKOFF_MAX_MS;
}

/* Sleeps ms unless the signer stops or halts first; 1 when it does. */
static int
signer_sleep(struct signer *s, unsigned ms)
{
	struct timespec until;
	int rc = 0, quit;

	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += ms / 1000;
	until.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&s->mu);
	while (!s->stop && !s->halted && rc == 0)
		rc = pthread_cond_timedwait(&s->wake, &s->mu, &until);
	quit = s->stop || s->halted;
	pthread_mutex_unlock(&s->mu);
	return quit;
}

/* Back in line after a while. A halted signer drops it: the queue in
 * LMDB still holds it for the next start. */
static void
signer_wait(struct signer *s, struct signer_job *j)
{
	int quit = signer_sleep(s, signer_delay_ms(j));

	pthread_mutex_lock(&s->mu);
	if (quit && s->halted) {
		pthread_mutex_unlock(&s->mu);
		signer_job_free(s, j);
		return;
	}
	signer_push(s, j);
	pthread_mutex_unlock(&s->mu);
}

void
signer_halt(struct signer *s)
{
	if (s == NULL)
		return;
	pthread_mutex_lock(&s->mu);
	if (!s->halted)
		log_warn("signer: taking no more requests; the queue is kept "
		    "for the next start");
	s->halted = 1;
	pthread_cond_broadcast(&s->cv);
	pthread_cond_broadcast(&s->wake);
	pthread_mutex_unlock(&s->mu);
}

/* A try met a fault that is not the request's (r is transient): it stays
 * queued and waits, its history saying why; claimed says whether it was
 * taken into Processing and must be put back. */
static void
signer_defer(struct signer *s, struct signer_job *j, int r, int claimed)
{
	/* the channel to the keyholder does not come back (signetd stops
	 * when the keyholder exits): no other request is worth a try */
	if (r == SIGNET_ERR_KEYHOLDER || r == SIGNET_ERR_PROTOCOL)
		signer_halt(s);
	if (j->waiting != r)
		log_warn("signer: %s waits: %s", j->id, signet_strerror(r));
	/* a put-back that fails leaves it in Processing, which the next
	 * claim (or start) takes up just the same */
	if (claimed && signer_finish(s, j->id, RQ_QUEUED, NULL,
	    signer_wait_note(r), NULL, NULL, NULL) != 0)
		log_err("signer: %s: cannot put it back in the queue yet",
		    j->id);
	j->waiting = r;
	signer_wait(s, j);
}

/* Records the result; storage that fails is tried again (the signature is
 * made and journaled: it is not thrown away for a full disk). Stopping
 * meanwhile leaves the request in Processing, signed again at the next
 * start. */
static int
signer_record(struct signer *s, struct signer_job *j, int failed,
    const char *reason, const char *note, json_t *sa, json_t *ci,
    const unsigned char *held)
{
	int r;

	for (;;) {
		r = failed ? signer_finish(s, j->id, RQ_FAILED, reason, NULL,
		    NULL, NULL, NULL) : signer_finish(s, j->id, RQ_COMPLETED,
		    NULL, note, sa, ci, held);
		if (r == 0 || !signet_err_transient(r))
			return r;
		if (j->tries == 0)
			log_warn("signer: %s: recording the result waits: %s",
			    j->id, signet_strerror(r));
		if (signer_sleep(s, signer_delay_ms(j)) != 0)
			return r;
	}
}

static void
signer_run(struct signer *s, struct signer_job *j)
{
	json_t *rec = NULL, *sa = NULL, *ci = NULL;
	unsigned char *held = NULL;
	struct timespec t0, t1;
	char reason[256] = "", note[256] = "";
	int r;

	if (j->waiting != 0 && signer_ready(s, j->waiting) != 0) {
		if (!signer_still_queued(s, j->id)) {
			signer_job_free(s, j);
			return;
		}
		signer_wait(s, j);
		return;
	}
	if ((r = signer_claim(s, j->id, &rec)) != 0) {
		if (r < 0 && signet_err_transient(r)) {
			signer_defer(s, j, r, 0);
			return;
		}
		if (r < 0)
			log_err("signer: %s: %s", j->id, signet_strerror(r));
		signer_job_free(s, j);
		return;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	r = signer_sign(s, rec, &sa, &ci, &held, note, sizeof(note), reason,
	    sizeof(reason));
	json_decref(rec);
	if (r != 0 && signet_err_transient(r)) {
		/* not the request's fault: back in line until what it needs
		 * is there again */
		json_decref(sa);
		json_decref(ci);
		free(held);
		signer_defer(s, j, r, 1);
		return;
	}
	if (r != 0)
		log_err("signer: %s failed: %s", j->id, reason);
	j->tries = 0;
	r = signer_record(s, j, r != 0, reason, note[0] ? note : NULL, sa,
	    ci, held);
	if (r == 0 && sa != NULL) {
		clock_gettime(CLOCK_MONOTONIC, &t1);
		metrics_signing_seconds((double)(t1.tv_sec - t0.tv_sec) +
		    (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
		log_info("signer: %s completed", j->id);
	}
	if (r != 0)
		log_err("signer: %s: recording the result failed: %s; it is "
		    "signed again at the next start", j->id,
		    signet_strerror(r));
	json_decref(sa);
	json_decref(ci);
	free(held);
	signer_job_free(s, j);
}

static void *
signer_main(void *arg)
{
	struct signer *s = arg;
	struct signer_job *j;

	for (;;) {
		pthread_mutex_lock(&s->mu);
		while ((s->head == NULL || s->halted) && !s->stop)
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
	j->queued_at = time(NULL);
	pthread_mutex_lock(&s->mu);
	j->all_next = s->all;
	if (s->all != NULL)
		s->all->all_prev = j;
	s->all = j;
	s->depth++;
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
	pthread_condattr_t ca;
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
	/* waits are measured on the monotonic clock: a clock step does not
	 * lengthen or cut them */
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&s->wake, &ca);
	pthread_condattr_destroy(&ca);
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
	pthread_cond_broadcast(&s->wake);
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
	pthread_cond_destroy(&s->wake);
	free(s);
}
