#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "cas.h"
#include "log.h"
#include "request.h"
#include "signet_limits.h"

static const char *const request_final[] = {
	RQ_COMPLETED, RQ_FAILED, RQ_DENIED, RQ_CANCELED, NULL
};
static const char *const request_all[] = {
	RQ_WAITING, RQ_QUEUED, RQ_PROCESSING, RQ_COMPLETED, RQ_FAILED,
	RQ_DENIED, RQ_CANCELED, "InProgress", NULL
};

int
request_is_final(const char *w)
{
	size_t i;

	for (i = 0; request_final[i] != NULL; i++)
		if (strcmp(w, request_final[i]) == 0)
			return 1;
	return 0;
}

/* The coarse status SignPath users know. */
const char *
request_coarse(const char *w)
{
	if (strcmp(w, RQ_QUEUED) == 0 || strcmp(w, RQ_PROCESSING) == 0)
		return "InProgress";
	return w;
}

int
request_valid_status(const char *s)
{
	size_t i;

	for (i = 0; request_all[i] != NULL; i++)
		if (strcmp(s, request_all[i]) == 0)
			return 1;
	return 0;
}

int
request_valid_id(const char *id)
{
	size_t i;

	if (strlen(id) != REQUEST_ID_LEN)
		return 0;
	for (i = 0; i < REQUEST_ID_LEN; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (id[i] != '-')
				return 0;
		} else if (!((id[i] >= '0' && id[i] <= '9') ||
		    (id[i] >= 'a' && id[i] <= 'f'))) {
			return 0;
		}
	}
	return 1;
}

void
request_now(char out[32], uint64_t *ns)
{
	struct timespec ts;
	struct tm tm;
	char base[24];

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out, 32, "%.19s.%03dZ", base, (int)(ts.tv_nsec / 1000000) % 1000);
	if (ns != NULL)
		*ns = (uint64_t)ts.tv_sec * 1000000000ULL +
		    (uint64_t)ts.tv_nsec;
}

static int
request_uuid(char out[REQUEST_ID_LEN + 1])
{
	unsigned char b[16];

	if (RAND_bytes(b, sizeof(b)) != 1)
		return SIGNET_ERR_CRYPTO;
	b[6] = (b[6] & 0x0f) | 0x40;	/* RFC 4122 4.4: version 4 */
	b[8] = (b[8] & 0x3f) | 0x80;	/* variant */
	snprintf(out, REQUEST_ID_LEN + 1,
	    "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
	    "%02x%02x%02x%02x%02x%02x", b[0], b[1], b[2], b[3], b[4], b[5],
	    b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
	return 0;
}

/* by-time key: big-endian creation time then id, so keys sort by age */
static void
request_time_key(uint64_t ns, const char *id, unsigned char k[8 + REQUEST_ID_LEN])
{
	int i;

	for (i = 0; i < 8; i++)
		k[i] = (unsigned char)(ns >> (56 - 8 * i));
	memcpy(k + 8, id, REQUEST_ID_LEN);
}

int
request_artifact_ref(struct store_txn *t, const char *sha256, uint64_t size,
    const unsigned char *held)
{
	json_t *a = NULL;
	int r;

	r = store_get_json(t, STORE_ARTIFACTS, sha256, &a);
	if (r == SIGNET_ERR_NOT_FOUND) {
		a = json_pack("{s:I, s:i}", "size", (json_int_t)size, "refs", 0);
		if (a == NULL)
			return SIGNET_ERR_NOMEM;
		/* new: its bytes, when they are held, go with the entry */
		if (held != NULL && (r = store_put(t, STORE_BLOBS, sha256,
		    strlen(sha256), held, (size_t)size)) != 0) {
			json_decref(a);
			return r;
		}
	} else if (r != 0) {
		return r;
	}
	json_object_set_new(a, "refs", json_integer(
	    json_integer_value(json_object_get(a, "refs")) + 1));
	r = store_put_json(t, STORE_ARTIFACTS, sha256, a);
	json_decref(a);
	return r;
}

int
request_artifact_unref(struct store_txn *t, const char *sha256, int *gone)
{
	json_t *a = NULL;
	json_int_t refs;
	int r;

	*gone = 0;
	if ((r = store_get_json(t, STORE_ARTIFACTS, sha256, &a)) != 0)
		return r == SIGNET_ERR_NOT_FOUND ? 0 : r;
	refs = json_integer_value(json_object_get(a, "refs")) - 1;
	if (refs > 0) {
		json_object_set_new(a, "refs", json_integer(refs));
		r = store_put_json(t, STORE_ARTIFACTS, sha256, a);
		json_decref(a);
		return r;
	}
	json_decref(a);
	if ((r = store_del(t, STORE_ARTIFACTS, sha256, strlen(sha256))) != 0)
		return r;
	r = store_del(t, STORE_BLOBS, sha256, strlen(sha256));
	if (r != 0 && r != SIGNET_ERR_NOT_FOUND)
		return r;
	*gone = 1;
	return 0;
}

/* A memory file holding n bytes at p, sealed against any change, read
 * from its start. */
static int
request_memfd(const void *p, size_t n, int *fd)
{
	const unsigned char *b = p;
	size_t done = 0;
	ssize_t k;

	*fd = memfd_create("signet-artifact", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (*fd < 0)
		return errno == ENOMEM || errno == EMFILE || errno == ENFILE ?
		    SIGNET_ERR_NOMEM : SIGNET_ERR_IO;
	while (done < n) {
		k = write(*fd, b + done, n - done);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			goto fail;
		done += (size_t)k;
	}
	if (fcntl(*fd, F_ADD_SEALS, F_SEAL_SEAL | F_SEAL_SHRINK |
	    F_SEAL_GROW | F_SEAL_WRITE) != 0 || lseek(*fd, 0, SEEK_SET) != 0)
		goto fail;
	return 0;
fail:
	close(*fd);
	*fd = -1;
	return SIGNET_ERR_IO;
}

int
request_artifact_open_in(struct store_txn *t, struct cas *c,
    const char *sha256, int *fd, uint64_t *size)
{
	const void *v;
	size_t vlen;
	int r;

	*fd = -1;
	if (sha256 == NULL || !cas_valid_hex(sha256))
		return SIGNET_ERR_INVALID;
	r = store_get(t, STORE_BLOBS, sha256, strlen(sha256), &v, &vlen);
	if (r == 0 && (r = request_memfd(v, vlen, fd)) == 0)
		*size = vlen;
	if (r != SIGNET_ERR_NOT_FOUND)
		return r;
	return cas_open_read(c, sha256, fd, size);
}

int
request_artifact_open(struct store *s, struct cas *c, const char *sha256,
    int *fd, uint64_t *size)
{
	struct store_txn *t = NULL;
	int r;

	*fd = -1;
	if ((r = store_txn_begin(s, 0, &t)) != 0)
		return r;
	r = request_artifact_open_in(t, c, sha256, fd, size);
	store_txn_abort(&t);
	return r;
}

struct request_held_walk {
	uint64_t count, bytes;
};

static int
request_held_one(const void *k, size_t klen, const void *v, size_t vlen,
    void *arg)
{
	struct request_held_walk *w = arg;

	(void)k;
	(void)klen;
	(void)v;
	w->count++;
	w->bytes += vlen;
	return 0;
}

int
request_held_usage(struct store *s, uint64_t *count, uint64_t *bytes)
{
	struct request_held_walk w = { 0, 0 };
	struct store_txn *t = NULL;
	int r;

	*count = *bytes = 0;
	if ((r = store_txn_begin(s, 0, &t)) != 0)
		return r;
	r = store_walk(t, STORE_BLOBS, NULL, 0, NULL, 0, 0, request_held_one,
	    &w);
	store_txn_abort(&t);
	if (r == 0) {
		*count = w.count;
		*bytes = w.bytes;
	}
	return r;
}

int
request_artifact_known(struct store_txn *t, const char *sha256)
{
	const void *v;
	size_t vlen;

	return store_get(t, STORE_ARTIFACTS, sha256, strlen(sha256), &v,
	    &vlen) == 0;
}

static int
request_pending_set(struct store_txn *t, const json_t *rec, int on)
{
	const char *id = json_string_value(json_object_get(rec, "id"));
	unsigned char k[8 + REQUEST_ID_LEN];
	uint64_t ns = (uint64_t)json_integer_value(
	    json_object_get(rec, "createdNs"));
	int r;

	/* pending keys sort by age too: oldest first to the signer */
	request_time_key(ns, id, k);
	if (on)
		return store_put(t, STORE_PENDING, k, sizeof(k), "", 0);
	r = store_del(t, STORE_PENDING, k, sizeof(k));
	return r == SIGNET_ERR_NOT_FOUND ? 0 : r;
}

int
request_put(struct store_txn *t, json_t *rec)
{
	return store_put_json(t, STORE_REQUESTS,
	    json_string_value(json_object_get(rec, "id")), rec);
}

int
request_create(struct store_txn *t, const struct request_new *n,
    json_t **out)
{
	char id[REQUEST_ID_LEN + 1], now[32];
	unsigned char k[8 + REQUEST_ID_LEN];
	uint64_t ns;
	json_t *rec = NULL, *art;
	const char *state = n->required_approvals > 0 ? RQ_WAITING : RQ_QUEUED;
	int r;

	*out = NULL;
	if ((r = request_uuid(id)) != 0)
		return r;
	request_now(now, &ns);
	/* a hash signing request names no artifact: the file stayed on
	 * the build machine */
	art = n->hash != NULL ? json_null() : json_pack("{s:s, s:I, s:s}",
	    "name", n->artifact_name, "size", (json_int_t)n->artifact_size,
	    "sha256", n->artifact_sha256);
	if (art == NULL)
		return SIGNET_ERR_NOMEM;
	rec = json_pack("{s:s, s:s, s:s, s:s, s:s?, s:s, s:s, s:s, s:I,"
	    " s:{s:s, s:s}, s:o, s:n, s:o, s:o, s:s?, s:i,"
	    " s:[{s:s, s:s}], s:[]}",
	    "id", id,
	    "projectSlug", n->project,
	    "signingPolicySlug", n->policy,
	    "artifactConfigurationSlug", n->artifact_configuration,
	    "description", n->description,
	    "workflowStatus", state,
	    "createdAt", now,
	    "updatedAt", now,
	    "createdNs", (json_int_t)ns,
	    "submitter", "type", n->submitter_type, "name", n->submitter,
	    "unsignedArtifact", art,
	    "signedArtifact",
	    "parameters", n->parameters ? json_deep_copy(n->parameters) :
	    json_object(),
	    "origin", n->origin ? json_deep_copy(n->origin) : json_object(),
	    "originalSigningRequestId", n->original_id,
	    "requiredApprovals", n->required_approvals,
	    "history", "workflowStatus", state, "at", now,
	    "approvals");
	if (rec == NULL)
		return SIGNET_ERR_NOMEM;
	/* Authenticode: the container, the digest the signature covers
	 * and how it is signed (workflow.h) */
	if (n->authenticode != NULL &&
	    json_object_set_new(rec, "authenticode",
	    json_deep_copy(n->authenticode)) != 0) {
		r = SIGNET_ERR_NOMEM;
		goto out;
	}
	if (n->hash != NULL && json_object_set_new(rec, "hash",
	    json_deep_copy(n->hash)) != 0) {
		r = SIGNET_ERR_NOMEM;
		goto out;
	}
	/* the evidence of the origin, recorded with it (docs/origin.md) */
	if (n->origin_verification != NULL &&
	    json_object_set_new(rec, "originVerification",
	    json_deep_copy(n->origin_verification)) != 0) {
		r = SIGNET_ERR_NOMEM;
		goto out;
	}
	request_time_key(ns, id, k);
	if ((r = request_put(t, rec)) != 0 ||
	    (r = store_put(t, STORE_REQ_BY_TIME, k, sizeof(k), id,
	    REQUEST_ID_LEN)) != 0 ||
	    (n->hash == NULL && (r = request_artifact_ref(t,
	    n->artifact_sha256, n->artifact_size, n->artifact_held)) != 0))
		goto out;
	if (strcmp(state, RQ_QUEUED) == 0 &&
	    (r = request_pending_set(t, rec, 1)) != 0)
		goto out;
	*out = rec;
	rec = NULL;
out:
	json_decref(rec);
	return r;
}

int
request_get(struct store_txn *t, const char *id, json_t **rec)
{
	*rec = NULL;
	if (!request_valid_id(id))
		return SIGNET_ERR_NOT_FOUND;
	return store_get_json(t, STORE_REQUESTS, id, rec);
}

static int
request_move(struct store_txn *t, json_t *rec, const char *to,
    const char *reason, const char *note)
{
	const char *from = json_string_value(json_object_get(rec,
	    "workflowStatus"));
	char now[32];
	json_t *h;
	int was, is, r;

	if (from == NULL)
		return SIGNET_ERR_STORE;
	if (request_is_final(from))
		return SIGNET_ERR_CONFLICT;
	request_now(now, NULL);
	h = json_object_get(rec, "history");
	if (!json_is_array(h) ||
	    json_array_append_new(h, json_pack("{s:s, s:s, s:s*}",
	    "workflowStatus", to, "at", now, "note", note)) != 0)
		return SIGNET_ERR_NOMEM;
	was = strcmp(from, RQ_QUEUED) == 0 || strcmp(from, RQ_PROCESSING) == 0;
	is = strcmp(to, RQ_QUEUED) == 0 || strcmp(to, RQ_PROCESSING) == 0;
	json_object_set_new(rec, "workflowStatus", json_string(to));
	json_object_set_new(rec, "updatedAt", json_string(now));
	if (reason != NULL)
		json_object_set_new(rec, "failureReason", json_string(reason));
	if (was != is && (r = request_pending_set(t, rec, is)) != 0)
		return r;
	return request_put(t, rec);
}

int
request_transition(struct store_txn *t, json_t *rec, const char *to,
    const char *reason)
{
	return request_move(t, rec, to, reason, NULL);
}

int
request_transition_note(struct store_txn *t, json_t *rec, const char *to,
    const char *note)
{
	return request_move(t, rec, to, NULL, note);
}

int
request_is_hash(const json_t *rec)
{
	return json_is_object(json_object_get(rec, "hash"));
}

json_t *
request_api(const json_t *rec)
{
	json_t *o = json_deep_copy(rec);
	const char *id, *w;
	char link[128];

	if (o == NULL)
		return NULL;
	json_object_del(o, "v");
	json_object_del(o, "createdNs");
	id = json_string_value(json_object_get(o, "id"));
	w = json_string_value(json_object_get(o, "workflowStatus"));
	if (id == NULL || w == NULL) {
		json_decref(o);
		return NULL;
	}
	/* the ID token is a credential: origin.c drops it once verified;
	 * records from before that still hold one, never echoed */
	json_object_del(json_object_get(o, "origin"), "idToken");
	if (json_is_object(json_object_get(o, "origin")) &&
	    json_object_get(o, "originVerification") != NULL)
		json_object_set(json_object_get(o, "origin"), "verification",
		    json_object_get(o, "originVerification"));
	json_object_del(o, "originVerification");
	json_object_set_new(o, "status", json_string(request_coarse(w)));
	json_object_set_new(o, "isFinalStatus",
	    json_boolean(request_is_final(w)));
	snprintf(link, sizeof(link), "/api/v1/signing-requests/%s/unsigned-artifact",
	    id);
	json_object_set_new(o, "unsignedArtifactLink", request_is_hash(rec) ?
	    json_null() : json_string(link));
	if (json_is_object(json_object_get(o, "signedArtifact"))) {
		snprintf(link, sizeof(link),
		    "/api/v1/signing-requests/%s/signed-artifact", id);
		json_object_set_new(o, "signedArtifactLink", json_string(link));
	} else {
		json_object_set_new(o, "signedArtifactLink", json_null());
	}
	return o;
}

struct request_walk {
	struct store_txn *t;
	const struct request_filter *f;
	size_t want;
	json_t *items;
	char *next;
	int more;
	int err;
};

static void
request_hex(const unsigned char *p, size_t n, char *out)
{
	size_t i;

	for (i = 0; i < n; i++)
		snprintf(out + 2 * i, 3, "%02x", p[i]);
}

/* Is v the string s? A record without the member matches no filter. */
static int
request_str_is(const json_t *v, const char *s)
{
	return json_is_string(v) && strcmp(json_string_value(v), s) == 0;
}

static int
request_match(const struct request_filter *f, const json_t *rec)
{
	const char *w = json_string_value(json_object_get(rec,
	    "workflowStatus"));

	if (w == NULL)
		return 0;
	if (f->status != NULL && strcmp(f->status, w) != 0 &&
	    strcmp(f->status, request_coarse(w)) != 0)
		return 0;
	if (f->project != NULL && strcmp(f->project, json_string_value(
	    json_object_get(rec, "projectSlug"))) != 0)
		return 0;
	if (f->policy != NULL && strcmp(f->policy, json_string_value(
	    json_object_get(rec, "signingPolicySlug"))) != 0)
		return 0;
	/* by name alone: people and CI identities never share one
	 * (catalog.c refuses it), so the name says who */
	if (f->submitter != NULL && !request_str_is(json_object_get(
	    json_object_get(rec, "submitter"), "name"), f->submitter))
		return 0;
	if (f->original_id != NULL && !request_str_is(json_object_get(rec,
	    "originalSigningRequestId"), f->original_id))
		return 0;
	return f->visible == NULL || f->visible(rec, f->arg);
}

static int
request_list_cb(const void *k, size_t klen, const void *v, size_t vlen,
    void *arg)
{
	struct request_walk *w = arg;
	char id[REQUEST_ID_LEN + 1];
	json_t *rec = NULL, *api;
	int r;

	if (vlen != REQUEST_ID_LEN || klen != 8 + REQUEST_ID_LEN)
		return 0;
	if (json_array_size(w->items) == w->want) {
		/* one more matching item exists: the page has a successor */
		memcpy(id, v, REQUEST_ID_LEN);
		id[REQUEST_ID_LEN] = '\0';
		if (request_get(w->t, id, &rec) == 0 && request_match(w->f, rec)) {
			json_decref(rec);
			w->more = 1;
			return 1;
		}
		json_decref(rec);
		return 0;
	}
	memcpy(id, v, REQUEST_ID_LEN);
	id[REQUEST_ID_LEN] = '\0';
	if ((r = request_get(w->t, id, &rec)) != 0) {
		w->err = r;
		return r;
	}
	if (request_match(w->f, rec)) {
		if ((api = request_api(rec)) == NULL ||
		    json_array_append_new(w->items, api) != 0) {
			json_decref(rec);
			w->err = SIGNET_ERR_NOMEM;
			return w->err;
		}
		request_hex(k, klen, w->next);
	}
	json_decref(rec);
	return 0;
}

static int
request_unhex(const char *s, unsigned char *out, size_t n)
{
	size_t i;
	unsigned int b;

	if (strlen(s) != 2 * n)
		return SIGNET_ERR_INVALID;
	for (i = 0; i < n; i++) {
		if (sscanf(s + 2 * i, "%2x", &b) != 1 ||
		    !strchr("0123456789abcdef", s[2 * i]) ||
		    !strchr("0123456789abcdef", s[2 * i + 1]))
			return SIGNET_ERR_INVALID;
		out[i] = (unsigned char)b;
	}
	return 0;
}

int
request_list(struct store_txn *t, const struct request_filter *f,
    size_t page_size, const char *cursor, json_t **items,
    char next[REQUEST_CURSOR_LEN + 1])
{
	struct request_walk w;
	unsigned char after[8 + REQUEST_ID_LEN];
	char last[REQUEST_CURSOR_LEN + 1] = "";
	int r, has_after = cursor != NULL && cursor[0] != '\0';

	*items = NULL;
	next[0] = '\0';
	if (has_after && request_unhex(cursor, after, sizeof(after)) != 0)
		return SIGNET_ERR_INVALID;
	memset(&w, 0, sizeof(w));
	w.t = t;
	w.f = f;
	w.want = page_size;
	w.next = last;
	if ((w.items = json_array()) == NULL)
		return SIGNET_ERR_NOMEM;
	r = store_walk(t, STORE_REQ_BY_TIME, NULL, 0, has_after ? after : NULL,
	    has_after ? sizeof(after) : 0, 1, request_list_cb, &w);
	if (r == 0 && w.err != 0)
		r = w.err;
	if (r != 0) {
		json_decref(w.items);
		return r;
	}
	if (w.more)
		memcpy(next, last, sizeof(last));
	*items = w.items;
	return 0;
}

struct request_pending_walk {
	void (*fn)(const char *id, void *);
	void *arg;
};

static int
request_pending_cb(const void *k, size_t klen, const void *v, size_t vlen,
    void *arg)
{
	struct request_pending_walk *p = arg;
	char id[REQUEST_ID_LEN + 1];

	(void)v;
	(void)vlen;
	if (klen != 8 + REQUEST_ID_LEN)
		return 0;
	memcpy(id, (const char *)k + 8, REQUEST_ID_LEN);
	id[REQUEST_ID_LEN] = '\0';
	p->fn(id, p->arg);
	return 0;
}

int
request_pending(struct store_txn *t, void (*fn)(const char *id, void *),
    void *arg)
{
	struct request_pending_walk p = { fn, arg };

	return store_walk(t, STORE_PENDING, NULL, 0, NULL, 0, 0,
	    request_pending_cb, &p);
}
