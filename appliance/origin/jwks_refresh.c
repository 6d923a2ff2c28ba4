/* The JWKS of a trusted build system, refreshed from its jwksUrl.
 *
 * The URL plays the issuer's jwks_uri (OpenID Connect Discovery 1.0,
 * section 3) and serves a JWK Set (RFC 7517 5). Whatever it serves is
 * untrusted until it passes the check apply makes of a build system
 * (origin_check_build_system: public keys only, key types and sizes, a
 * kid on every key), on the record as it would be stored. The network is
 * used with no transaction open; the record is re-read in the write
 * transaction, so a change made meanwhile is never overwritten. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "audit.h"
#include "jwks_refresh.h"
#include "log.h"
#include "origin.h"
#include "outbound.h"
#include "signet_limits.h"
#include "wbuf.h"

/* RFC 7517 8.5.1 registers application/jwk-set+json; issuers commonly
 * serve their jwks_uri as application/json. */
#define JWKS_REFRESH_ACCEPT	"application/jwk-set+json, application/json"
/* Who the audit log names for the periodic refresh. */
#define JWKS_REFRESH_ACTOR	"jwks-refresh"
#define JWKS_REFRESH_ERRLEN	1024
/* How much of a URL a message shows: the reason after it must still fit
 * an API error message. */
#define JWKS_REFRESH_SHOW_URL	120

struct jwks_refresh {
	struct store *s;
	char *ca_file;
	unsigned interval_s;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	atomic_int stopping;	/* also read by libcurl's progress callback */
	int have_lock, have_cond, have_thread;
};

/* url fit for a message: at most JWKS_REFRESH_SHOW_URL bytes, cut at a
 * character boundary (messages end up in JSON, which takes UTF-8 only). */
static const char *
jwks_refresh_show(const char *url, char *out, size_t outlen)
{
	size_t n = strlen(url);

	if (n < outlen && n <= JWKS_REFRESH_SHOW_URL) {
		memcpy(out, url, n + 1);
		return out;
	}
	n = JWKS_REFRESH_SHOW_URL < outlen - 4 ? JWKS_REFRESH_SHOW_URL :
	    outlen - 4;
	while (n > 0 && ((unsigned char)url[n] & 0xc0) == 0x80)
		n--;
	memcpy(out, url, n);
	memcpy(out + n, "...", 4);
	return out;
}

/* The kids of a set (validated sets have one on every key), as a list. */
static json_t *
jwks_refresh_kids(const json_t *jwks)
{
	json_t *out = json_array(), *k, *kid;
	size_t i;

	if (out == NULL)
		return NULL;
	json_array_foreach(json_object_get(jwks, "keys"), i, k) {
		kid = json_object_get(k, "kid");
		if (json_is_string(kid) && json_array_append(out, kid) != 0) {
			json_decref(out);
			return NULL;
		}
	}
	return out;
}

/* The build system's jwksUrl, read in a transaction of its own. */
static int
jwks_refresh_url(struct jwks_refresh *j, const char *name, char **url,
    char *err, size_t errlen)
{
	struct store_txn *t = NULL;
	json_t *rec = NULL;
	const char *u;
	int r;

	*url = NULL;
	if ((r = store_txn_begin(j->s, 0, &t)) != 0)
		goto out;
	if ((r = store_get_json(t, STORE_BUILD_SYSTEMS, name, &rec)) != 0) {
		if (r == SIGNET_ERR_NOT_FOUND)
			snprintf(err, errlen, "there is no build system '%s'",
			    name);
		goto out;
	}
	if ((u = json_string_value(json_object_get(rec, "jwksUrl"))) == NULL) {
		r = SIGNET_ERR_CONFLICT;
		snprintf(err, errlen, "build system '%s' has no jwksUrl: its "
		    "jwks changes by apply or update only", name);
		goto out;
	}
	if ((*url = strdup(u)) == NULL) {
		r = SIGNET_ERR_NOMEM;
		goto out;
	}
	r = 0;
out:
	store_txn_abort(&t);
	json_decref(rec);
	return r;
}

/* Judges jwks as apply would and stores it when it differs, with its
 * audit entry, in one write transaction. */
static int
jwks_refresh_store(struct jwks_refresh *j, const char *name, const char *url,
    json_t *jwks, const char *actor_type, const char *actor, int *changed,
    json_t **key_ids, char *err, size_t errlen)
{
	struct store_txn *t = NULL;
	json_t *rec = NULL, *old = NULL, *details = NULL, *old_ids = NULL;
	const char *now_url;
	char why[512], shown[JWKS_REFRESH_SHOW_URL + 4];
	int r;

	if ((r = store_txn_begin(j->s, 1, &t)) != 0)
		goto out;
	if ((r = store_get_json(t, STORE_BUILD_SYSTEMS, name, &rec)) != 0) {
		if (r == SIGNET_ERR_NOT_FOUND)
			snprintf(err, errlen, "build system '%s' was deleted "
			    "during the fetch", name);
		goto out;
	}
	now_url = json_string_value(json_object_get(rec, "jwksUrl"));
	if (now_url == NULL || strcmp(now_url, url) != 0) {
		r = SIGNET_ERR_CONFLICT;
		snprintf(err, errlen, "the jwksUrl of build system '%s' changed "
		    "during the fetch; refresh again", name);
		goto out;
	}
	json_object_del(rec, "v");
	old = json_incref(json_object_get(rec, "jwks"));
	if (json_object_set(rec, "jwks", jwks) != 0) {
		r = SIGNET_ERR_NOMEM;
		goto out;
	}
	/* the very check apply makes: a set apply would refuse is never
	 * stored by a refresh either */
	if ((r = origin_check_build_system(rec, why, sizeof(why))) != 0) {
		if (r != SIGNET_ERR_NOMEM)
			snprintf(err, errlen, "%s: %s", jwks_refresh_show(url,
			    shown, sizeof(shown)), why);
		goto out;
	}
	if ((*key_ids = jwks_refresh_kids(jwks)) == NULL) {
		r = SIGNET_ERR_NOMEM;
		goto out;
	}
	if (json_equal(old, jwks)) {
		r = 0;
		goto out;
	}
	if ((old_ids = jwks_refresh_kids(old)) == NULL ||
	    (details = json_pack("{s:s, s:O, s:O}", "url", url, "oldKeyIds",
	    old_ids, "newKeyIds", *key_ids)) == NULL) {
		r = SIGNET_ERR_NOMEM;
		goto out;
	}
	if ((r = audit_append(t, actor_type, actor,
	    "build-system.jwks-refreshed", name, details)) != 0 ||
	    (r = store_put_json(t, STORE_BUILD_SYSTEMS, name, rec)) != 0)
		goto out;
	r = store_txn_commit(&t);
	if (r != 0)
		goto out;
	*changed = 1;
out:
	store_txn_abort(&t);
	if (r != 0) {
		json_decref(*key_ids);
		*key_ids = NULL;
	}
	json_decref(details);
	json_decref(old_ids);
	json_decref(old);
	json_decref(rec);
	return r;
}

static void
jwks_refresh_log(const char *name, int changed, const json_t *ids)
{
	char *text = json_dumps(ids, JSON_COMPACT);

	if (changed)
		log_info("jwks-refresh: build system %s: new JWKS stored, key "
		    "ids %s", name, text != NULL ? text : "?");
	else
		log_debug("jwks-refresh: build system %s: JWKS unchanged",
		    name);
	free(text);
}

int
jwks_refresh_one(struct jwks_refresh *j, const char *name,
    const char *actor_type, const char *actor, int *changed,
    json_t **key_ids, char *err, size_t errlen)
{
	struct wbuf body;
	json_t *jwks = NULL;
	json_error_t jerr;
	char *url = NULL, why[512], shown[JWKS_REFRESH_SHOW_URL + 4];
	int r;

	*changed = 0;
	*key_ids = NULL;
	wbuf_init(&body, SIGNET_MAX_JWKS);
	snprintf(err, errlen, "internal error");
	if ((r = jwks_refresh_url(j, name, &url, err, errlen)) != 0)
		goto out;
	if ((r = outbound_get(url, JWKS_REFRESH_ACCEPT, j->ca_file,
	    SIGNET_MAX_JWKS, &j->stopping, &body, why, sizeof(why))) != 0) {
		snprintf(err, errlen, "%s: %s", jwks_refresh_show(url, shown,
		    sizeof(shown)), why);
		goto out;
	}
	if (body.len == 0) {
		r = SIGNET_ERR_INVALID;
		snprintf(err, errlen, "%s: the answer is empty",
		    jwks_refresh_show(url, shown, sizeof(shown)));
		goto out;
	}
	/* nothing of the answer in the message: it is untrusted bytes
	 * bound for a log line and a JSON answer, and whatever answered
	 * (another service's banner) is not the administrator's to read */
	if ((jwks = json_loadb((const char *)body.buf, body.len,
	    JSON_REJECT_DUPLICATES, &jerr)) == NULL) {
		r = SIGNET_ERR_INVALID;
		snprintf(err, errlen, "%s: the answer is not valid JSON",
		    jwks_refresh_show(url, shown, sizeof(shown)));
		goto out;
	}
	if ((r = jwks_refresh_store(j, name, url, jwks, actor_type, actor,
	    changed, key_ids, err, errlen)) != 0)
		goto out;
	err[0] = '\0';
	jwks_refresh_log(name, *changed, *key_ids);
out:
	/* a transfer aborted by jwks_refresh_stop is no news */
	if (r != 0 && !atomic_load(&j->stopping)) {
		if (r == SIGNET_ERR_UNAVAILABLE || r == SIGNET_ERR_INVALID ||
		    r == SIGNET_ERR_TOO_LARGE)
			log_warn("jwks-refresh: build system %s: %s; the stored "
			    "JWKS stays in use", name, err);
		else
			log_info("jwks-refresh: build system %s: %s (%s)", name,
			    err, signet_strerror(r));
	}
	json_decref(jwks);
	wbuf_free(&body);
	free(url);
	return r;
}

/* ---- the thread ---- */

static int
jwks_refresh_collect(const void *k, size_t klen, const void *v, size_t vlen,
    void *arg)
{
	json_t *names = arg, *bs = json_loadb(v, vlen, 0, NULL);
	int r = 0;

	/* an unreadable record is origin_build_system_of's to report */
	if (bs == NULL)
		return 0;
	if (json_is_string(json_object_get(bs, "jwksUrl")) &&
	    json_array_append_new(names, json_stringn(k, klen)) != 0)
		r = SIGNET_ERR_NOMEM;
	json_decref(bs);
	return r;
}

/* Every build system with a jwksUrl, one after the other. */
static void
jwks_refresh_pass(struct jwks_refresh *j)
{
	struct store_txn *t = NULL;
	json_t *names = json_array(), *n, *ids = NULL;
	char err[JWKS_REFRESH_ERRLEN];
	size_t i;
	int r, changed;

	if (names == NULL || store_txn_begin(j->s, 0, &t) != 0)
		goto out;
	r = store_walk(t, STORE_BUILD_SYSTEMS, NULL, 0, NULL, 0, 0,
	    jwks_refresh_collect, names);
	store_txn_abort(&t);
	if (r != 0) {
		log_err("jwks-refresh: cannot list the build systems: %s",
		    signet_strerror(r));
		goto out;
	}
	json_array_foreach(names, i, n) {
		if (atomic_load(&j->stopping))
			break;
		/* each outcome is logged by jwks_refresh_one */
		if (jwks_refresh_one(j, json_string_value(n), "system",
		    JWKS_REFRESH_ACTOR, &changed, &ids, err, sizeof(err)) == 0)
			json_decref(ids);
		ids = NULL;
	}
out:
	json_decref(names);
}

static void *
jwks_refresh_main(void *arg)
{
	struct jwks_refresh *j = arg;
	struct timespec dl;

	pthread_mutex_lock(&j->lock);
	while (!atomic_load(&j->stopping)) {
		pthread_mutex_unlock(&j->lock);
		jwks_refresh_pass(j);
		pthread_mutex_lock(&j->lock);
		/* monotonic: a clock step neither stalls nor hurries it */
		clock_gettime(CLOCK_MONOTONIC, &dl);
		dl.tv_sec += (time_t)j->interval_s;
		while (!atomic_load(&j->stopping))
			if (pthread_cond_timedwait(&j->cond, &j->lock, &dl) != 0)
				break;
	}
	pthread_mutex_unlock(&j->lock);
	return NULL;
}

static void
jwks_refresh_free(struct jwks_refresh *j)
{
	if (j == NULL)
		return;
	if (j->have_cond)
		pthread_cond_destroy(&j->cond);
	if (j->have_lock)
		pthread_mutex_destroy(&j->lock);
	free(j->ca_file);
	free(j);
}

int
jwks_refresh_start(struct store *s, const struct jwks_refresh_opts *o,
    struct jwks_refresh **out)
{
	struct jwks_refresh *j = NULL;
	pthread_condattr_t ca;
	int r;

	*out = NULL;
	if ((r = outbound_init()) != 0)
		goto out;
	r = SIGNET_ERR_NOMEM;
	if ((j = calloc(1, sizeof(*j))) == NULL)
		goto out;
	j->s = s;
	j->interval_s = o->interval_s;
	atomic_init(&j->stopping, 0);
	if (o->ca_file != NULL && (j->ca_file = strdup(o->ca_file)) == NULL)
		goto out;
	r = SIGNET_ERR_INTERNAL;
	if (pthread_mutex_init(&j->lock, NULL) != 0)
		goto out;
	j->have_lock = 1;
	if (pthread_condattr_init(&ca) != 0)
		goto out;
	if (pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) == 0 &&
	    pthread_cond_init(&j->cond, &ca) == 0)
		j->have_cond = 1;
	pthread_condattr_destroy(&ca);
	if (!j->have_cond)
		goto out;
	if (j->interval_s > 0) {
		if (pthread_create(&j->thread, NULL, jwks_refresh_main, j) != 0) {
			log_err("jwks-refresh: cannot start the thread");
			goto out;
		}
		j->have_thread = 1;
		log_info("jwks-refresh: build systems' jwksUrl fetched now and "
		    "every %u s", j->interval_s);
	} else {
		log_info("jwks-refresh: [origin] jwks_refresh_interval is 0: "
		    "jwksUrl fetched on request only");
	}
	*out = j;
	j = NULL;
	r = 0;
out:
	jwks_refresh_free(j);
	return r;
}

void
jwks_refresh_stop(struct jwks_refresh *j)
{
	if (j == NULL)
		return;
	pthread_mutex_lock(&j->lock);
	atomic_store(&j->stopping, 1);
	pthread_cond_signal(&j->cond);
	pthread_mutex_unlock(&j->lock);
	if (j->have_thread)
		pthread_join(j->thread, NULL);
	jwks_refresh_free(j);
}
