#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "audit.h"
#include "audit_cli.h"
#include "cas.h"
#include "catalog.h"
#include "cms.h"
#include "format.h"
#include "err.h"
#include "khjournal.h"
#include "num.h"
#include "request.h"
#include "signet_limits.h"

int
audit_cli_verify(const char *file)
{
	FILE *f = NULL;
	char msg[1024];
	int r, rc = 2;

	if (strcmp(file, "-") == 0) {
		f = stdin;
	} else if ((f = fopen(file, "re")) == NULL) {
		fprintf(stderr, "signet: audit verify: %s: %s\n", file,
		    strerror(errno));
		goto out;
	}
	r = audit_verify(f, msg, sizeof(msg));
	if (r == 0) {
		printf("%s: %s\n", file, msg);
		/* the verdict must reach the auditor, or it is not one */
		rc = fflush(stdout) == 0 ? 0 : 2;
	} else if (r == SIGNET_ERR_INVALID) {
		fprintf(stderr, "signet: audit verify: %s: chain broken at "
		    "%s\n", file, msg);
		rc = 1;
	} else {
		fprintf(stderr, "signet: audit verify: %s: %s\n", file,
		    msg[0] != '\0' ? msg : signet_strerror(r));
	}
out:
	if (f != NULL && f != stdin)
		fclose(f);
	return rc;
}

/*
 * signet audit reconcile: every signature in the keyholder's journal
 * against the request that should account for it (docs/audit.md).
 */

struct rc {
	FILE *out;
	json_t *entries;	/* journal lines, "_line" and "_run" added */
	json_t *starts;		/* time of each keyholder start, by run - 1 */
	unsigned long findings;
	unsigned long notes;
};

static void __attribute__((format(printf, 2, 3)))
rc_finding(struct rc *rc, const char *fmt, ...)
{
	va_list ap;

	rc->findings++;
	fputs("finding: ", rc->out);
	va_start(ap, fmt);
	vfprintf(rc->out, fmt, ap);
	va_end(ap);
	fputc('\n', rc->out);
}

static void
rc_line(uint64_t lineno, uint64_t seq, const char *line, size_t len,
    void *arg)
{
	struct rc *rc = arg;
	json_error_t err;
	json_t *o;

	(void)seq;
	o = json_loadb(line, len, JSON_REJECT_DUPLICATES, &err);
	if (!json_is_object(o)) {
		rc_finding(rc, "journal line %" PRIu64 ": not a JSON object "
		    "(%s)", lineno, err.text);
		json_decref(o);
		return;
	}
	json_object_set_new(o, "_line", json_integer((json_int_t)lineno));
	json_array_append_new(rc->entries, o);
}

static void
rc_broken(uint64_t lineno, const char *what, void *arg)
{
	rc_finding(arg, "journal line %" PRIu64 ": chain broken: %s", lineno,
	    what);
}

static const char *
rc_str(const json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

static long long
rc_lineno(const json_t *e)
{
	return (long long)json_integer_value(json_object_get(e, "_line"));
}

static void
rc_hex(const unsigned char *p, size_t n, char *out)
{
	static const char hx[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < n; i++) {
		out[2 * i] = hx[p[i] >> 4];
		out[2 * i + 1] = hx[p[i] & 15];
	}
	out[2 * n] = '\0';
}

/* The key of a certificate record, or NULL. */
static const char *
rc_cert_key(struct store_txn *t, const char *name, json_t **hold)
{
	*hold = NULL;
	if (name == NULL || catalog_get_certificate(t, name, hold) != 0)
		return NULL;
	return rc_str(*hold, "keyId");
}

/* The digests of the request's signed artifact (a detached CMS, kept in
 * the database or the artifact store): 0, or an error when it cannot be
 * read. */
static int
rc_artifact_digests(struct store_txn *t, struct cas *cas, const char *hex,
    char attrs[65], char content[65])
{
	unsigned char a[32], c[32], *buf = NULL;
	uint64_t size = 0;
	size_t off = 0;
	ssize_t got;
	int fd = -1, r;

	if ((r = request_artifact_open_in(t, cas, hex, &fd, &size)) != 0)
		return r;
	if (size == 0 || size > SIGNET_MAX_AUDIT_CMS) {
		r = SIGNET_ERR_TOO_LARGE;
		goto out;
	}
	if ((buf = malloc((size_t)size)) == NULL) {
		r = SIGNET_ERR_NOMEM;
		goto out;
	}
	while (off < size) {
		got = read(fd, buf + off, (size_t)size - off);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0) {
			r = SIGNET_ERR_IO;
			goto out;
		}
		off += (size_t)got;
	}
	if ((r = cms_signed_digests(buf, (size_t)size, a, c)) != 0)
		goto out;
	rc_hex(a, 32, attrs);
	rc_hex(c, 32, content);
out:
	free(buf);
	if (fd >= 0)
		close(fd);
	return r;
}

/* An Authenticode request's signed file: one of its signatures (side
 * by side or nested) must have signed attributes a journaled signature
 * of the request covered, and name the Authenticode digest recorded at
 * submission (the approved file's). */
struct rc_ac {
	const json_t *sigs;
	const char *want;	/* recorded Authenticode digest, hex */
	int journaled;		/* a signature's attributes are journaled */
	int covers;		/* ... and it names the recorded digest */
	char content[2 * EVP_MAX_MD_SIZE + 1];
};

static int
rc_ac_one(const unsigned char *attrs, size_t alen,
    const unsigned char *content, size_t clen, void *arg)
{
	struct rc_ac *x = arg;
	char a[2 * EVP_MAX_MD_SIZE + 1], c[2 * EVP_MAX_MD_SIZE + 1];
	const json_t *e;
	size_t i;

	if (alen > EVP_MAX_MD_SIZE || clen > EVP_MAX_MD_SIZE)
		return 0;
	rc_hex(attrs, alen, a);
	rc_hex(content, clen, c);
	json_array_foreach(x->sigs, i, e) {
		const char *d = rc_str(e, "digest");

		if (d == NULL || strcasecmp(d, a) != 0)
			continue;
		x->journaled = 1;
		snprintf(x->content, sizeof(x->content), "%s", c);
		if (x->want != NULL && strcasecmp(c, x->want) == 0)
			x->covers = 1;
	}
	return 0;
}

static void
rc_ac_check(struct rc *rc, struct store_txn *t, struct cas *cas,
    const json_t *rec, const char *id, const char *sa, const json_t *sigs)
{
	const json_t *ac = json_object_get(rec, "authenticode");
	struct rc_ac x;
	char msg[256];
	uint64_t size = 0;
	int fd = -1, r;

	memset(&x, 0, sizeof(x));
	x.sigs = sigs;
	x.want = rc_str(ac, "digest");
	if ((r = request_artifact_open_in(t, cas, sa, &fd, &size)) != 0 ||
	    (r = format_ac_signed_digests(rc_str(ac, "format"), fd, size,
	    rc_ac_one, &x, msg, sizeof(msg))) < 0) {
		rc_finding(rc, "request %s: its signed file %s cannot be "
		    "checked: %s", id, sa, r == 0 ? "" : fd < 0 ?
		    signet_strerror(r) : msg);
		goto out;
	}
	if (!x.journaled)
		rc_finding(rc, "request %s: no journaled signature covers a "
		    "signature in its signed file %s", id, sa);
	else if (!x.covers)
		rc_finding(rc, "request %s: its signature covers Authenticode "
		    "digest %s, not the one recorded for the approved file %s",
		    id, x.content, x.want ? x.want : "(none)");
out:
	if (fd >= 0)
		close(fd);
}

/* Was the request in Processing at time t (the journal's seconds)? */
static bool
rc_processing_at(const json_t *rec, const char *t)
{
	const char *w = NULL, *at;
	json_t *h;
	size_t i;

	if (t == NULL || strlen(t) < 19)
		return false;
	json_array_foreach(json_object_get(rec, "history"), i, h) {
		at = rc_str(h, "at");
		if (at == NULL || strlen(at) < 19 || strncmp(at, t, 19) > 0)
			break;
		w = rc_str(h, "workflowStatus");
	}
	return w != NULL && strcmp(w, RQ_PROCESSING) == 0;
}

/* Every signature journaled for one request id. */
static void
rc_request(struct rc *rc, struct store_txn *t, struct cas *cas,
    const char *id, json_t *sigs)
{
	static const char *const never[] = { RQ_WAITING, RQ_DENIED,
	    RQ_CANCELED };
	json_t *rec = NULL, *policy = NULL, *pc = NULL, *rcert = NULL, *h, *e;
	const char *state, *project, *slug, *pkey, *rkey, *w, *sa, *want;
	char attrs[65], content[65], run[24];
	size_t i, n = json_array_size(sigs), processed = 0, matched = 0;
	json_t *runs = json_object();
	bool may = true;
	int r;

	if (request_get(t, id, &rec) != 0) {
		json_array_foreach(sigs, i, e)
			rc_finding(rc, "journal line %lld: a signature with "
			    "key %s for request %s, which does not exist",
			    rc_lineno(e), rc_str(e, "keyId"), id);
		goto out;
	}
	state = rc_str(rec, "workflowStatus");
	project = rc_str(rec, "projectSlug");
	slug = rc_str(rec, "signingPolicySlug");
	/* the signer moves a request to Processing before it signs: each
	 * time it did is one signature the request may account for */
	json_array_foreach(json_object_get(rec, "history"), i, h) {
		w = rc_str(h, "workflowStatus");
		if (w != NULL && strcmp(w, RQ_PROCESSING) == 0)
			processed++;
	}
	for (i = 0; i < sizeof(never) / sizeof(never[0]); i++)
		if (state == NULL || strcmp(state, never[i]) == 0)
			may = false;
	if (processed == 0 || !may) {
		json_array_foreach(sigs, i, e)
			rc_finding(rc, "journal line %lld: a signature for "
			    "request %s, which is %s and was never released "
			    "for signing", rc_lineno(e), id,
			    state != NULL ? state : "in no state");
		goto out;
	}
	/* A signetd stopped while signing takes the request up again
	 * without a new Processing entry and signs it again, under a new
	 * keyholder: one more signature for each later keyholder run that
	 * started while the request was in Processing. */
	json_array_foreach(sigs, i, e) {
		json_int_t k = json_integer_value(json_object_get(e, "_run"));

		snprintf(run, sizeof(run), "%lld", (long long)k);
		if (json_object_get(runs, run) != NULL)
			continue;
		json_object_set_new(runs, run, json_true());
		if (i > 0 && rc_processing_at(rec, json_string_value(
		    json_array_get(rc->starts, (size_t)(k - 1)))))
			processed++;
	}
	if (n > processed)
		rc_finding(rc, "request %s: %zu signatures in the journal, but "
		    "it was processed %zu time(s)", id, n, processed);
	/* the policy's key now, and the key of the certificate the request
	 * was signed with (a policy may have changed certificates since) */
	if (project != NULL && slug != NULL &&
	    catalog_get_policy(t, project, slug, &policy) == 0)
		pkey = rc_cert_key(t, rc_str(policy, "certificate"), &pc);
	else
		pkey = NULL;
	rkey = rc_cert_key(t, rc_str(json_object_get(rec, "certificate"),
	    "name"), &rcert);
	json_array_foreach(sigs, i, e) {
		const char *k = rc_str(e, "keyId");

		if (k == NULL || ((pkey == NULL || strcasecmp(k, pkey) != 0) &&
		    (rkey == NULL || strcasecmp(k, rkey) != 0)))
			rc_finding(rc, "journal line %lld: request %s was "
			    "signed with key %s, but its policy %s/%s signs "
			    "with key %s", rc_lineno(e), id, k ? k : "(none)",
			    project ? project : "?", slug ? slug : "?",
			    pkey ? pkey : (rkey ? rkey : "(none)"));
	}
	/* A completed request's signed artifact: its messageDigest must be
	 * the approved artifact's digest and its signed attributes what one
	 * of the journaled signatures covered. */
	sa = rc_str(json_object_get(rec, "signedArtifact"), "sha256");
	want = rc_str(json_object_get(rec, "unsignedArtifact"), "sha256");
	if (state != NULL && strcmp(state, RQ_COMPLETED) == 0 && sa != NULL &&
	    json_is_object(json_object_get(rec, "authenticode"))) {
		/* embedded: the signature is inside the signed file */
		rc_ac_check(rc, t, cas, rec, id, sa, sigs);
	} else if (state != NULL && strcmp(state, RQ_COMPLETED) == 0 &&
	    sa != NULL) {
		if ((r = rc_artifact_digests(t, cas, sa, attrs, content)) != 0) {
			rc_finding(rc, "request %s: its signed artifact %s "
			    "cannot be checked: %s", id, sa,
			    signet_strerror(r));
			goto out;
		}
		if (want == NULL || strcasecmp(content, want) != 0)
			rc_finding(rc, "request %s: its signature covers "
			    "content %s, not the approved artifact %s", id,
			    content, want ? want : "(none)");
		json_array_foreach(sigs, i, e) {
			const char *d = rc_str(e, "digest");

			if (d != NULL && strcasecmp(d, attrs) == 0)
				matched++;
		}
		if (matched == 0)
			rc_finding(rc, "request %s: no journaled signature "
			    "covers its signed artifact (signed attributes "
			    "%s)", id, attrs);
	}
out:
	json_decref(runs);
	json_decref(rec);
	json_decref(policy);
	json_decref(pc);
	json_decref(rcert);
}

/* Key ids the audit log says an administrator generated. */
static int
rc_generated(struct store_txn *t, json_t *keys)
{
	json_t *items = NULL, *e;
	uint64_t after = 0, next;
	size_t i;
	int r;

	do {
		if ((r = audit_list(t, after, SIGNET_MAX_AUDIT_PAGE, &items,
		    &next)) != 0)
			return r;
		json_array_foreach(items, i, e) {
			const char *a = rc_str(e, "action");
			const char *k = rc_str(e, "target");

			if (a != NULL && k != NULL &&
			    strcmp(a, "key.generated") == 0)
				json_object_set_new(keys, k, json_true());
		}
		json_decref(items);
		items = NULL;
		after = next;
	} while (next != 0);
	return 0;
}

/* The serial blocks the time-stamping authority reserved, as the audit
 * log records them ("tsa.serials-reserved", appliance/sign/tsa_serial.h):
 * [{first, last, keyId}]. */
static int
rc_tsa_blocks(struct store_txn *t, json_t *blocks)
{
	json_t *items = NULL, *e, *d;
	uint64_t after = 0, next;
	size_t i;
	int r;

	do {
		if ((r = audit_list(t, after, SIGNET_MAX_AUDIT_PAGE, &items,
		    &next)) != 0)
			return r;
		json_array_foreach(items, i, e) {
			const char *a = rc_str(e, "action");

			d = json_object_get(e, "details");
			if (a != NULL && strcmp(a, "tsa.serials-reserved") == 0 &&
			    json_is_integer(json_object_get(d, "first")) &&
			    json_is_integer(json_object_get(d, "last")) &&
			    rc_str(d, "keyId") != NULL)
				json_array_append(blocks, d);
		}
		json_decref(items);
		items = NULL;
		after = next;
	} while (next != 0);
	return 0;
}

/* A time-stamp token's signature, journaled as "tsa-<serial>": the serial
 * must lie in a block reserved for that key, and be used once. */
static void
rc_tsa(struct rc *rc, const json_t *e, const char *ref, const json_t *blocks,
    json_t *seen)
{
	const char *key = rc_str(e, "keyId");
	const json_t *b;
	long serial;
	size_t i;

	if (num_parse_long(ref + 4, 1, LONG_MAX, &serial) != 0 || key == NULL) {
		rc_finding(rc, "journal line %lld: a time-stamp signature with "
		    "an unreadable serial (%s)", rc_lineno(e), ref);
		return;
	}
	if (json_object_get(seen, ref) != NULL) {
		rc_finding(rc, "journal line %lld: TSA serial %ld signed again "
		    "(first on journal line %lld)", rc_lineno(e), serial,
		    (long long)json_integer_value(json_object_get(seen, ref)));
		return;
	}
	json_object_set_new(seen, ref, json_integer(rc_lineno(e)));
	json_array_foreach(blocks, i, b) {
		if (serial >= json_integer_value(json_object_get(b, "first")) &&
		    serial <= json_integer_value(json_object_get(b, "last")) &&
		    strcmp(rc_str(b, "keyId"), key) == 0)
			return;
	}
	rc_finding(rc, "journal line %lld: a time-stamp signature by key %s "
	    "with serial %ld, outside every serial block the audit log "
	    "records as reserved for that key", rc_lineno(e), key, serial);
}

int
audit_cli_reconcile(struct store *s, struct cas *cas, const char *journal,
    FILE *out)
{
	struct rc rc = { out, json_array(), json_array(), 0, 0 };
	struct khj_walk_cb cb = { rc_line, rc_broken, &rc };
	json_t *byreq = json_object(), *gen = json_object(), *e, *v;
	json_t *blocks = json_array(), *seen = json_object();
	json_t *failed = json_object();
	struct store_txn *t = NULL;
	char path[PATH_MAX], head[KHJ_HASH_HEX + 1];
	uint64_t lines = 0, breaks = 0;
	unsigned long sigs = 0, certs = 0, gens = 0, tsas = 0, refused = 0;
	json_int_t runs = 0;
	const char *id;
	FILE *f = NULL;
	size_t i;
	int r, rc_exit = 2;

	if (rc.entries == NULL || rc.starts == NULL || byreq == NULL ||
	    gen == NULL || blocks == NULL || seen == NULL || failed == NULL)
		goto out;
	if ((size_t)snprintf(path, sizeof(path), "%s/%s", journal, KHJ_FILE) >=
	    sizeof(path)) {
		fprintf(stderr, "signet: audit reconcile: journal path too "
		    "long\n");
		goto out;
	}
	if ((f = fopen(path, "re")) == NULL) {
		fprintf(stderr, "signet: audit reconcile: %s: %s\n", path,
		    strerror(errno));
		goto out;
	}
	if ((r = khj_walk(f, &cb, &lines, &breaks, head)) != 0) {
		fprintf(stderr, "signet: audit reconcile: %s: %s\n", path,
		    signet_strerror(r));
		goto out;
	}
	/* read-only: the database is looked at, never changed */
	if ((r = store_txn_begin(s, 0, &t)) != 0 ||
	    (r = rc_generated(t, gen)) != 0 ||
	    (r = rc_tsa_blocks(t, blocks)) != 0) {
		fprintf(stderr, "signet: audit reconcile: the database: %s\n",
		    signet_strerror(r));
		goto out;
	}
	/* a signature the token refused: its line came before the token
	 * was asked, and a sign-failed line that names it after */
	json_array_foreach(rc.entries, i, e) {
		const char *op = rc_str(e, "op");
		char key[24];

		if (op != NULL && strcmp(op, "sign-failed") == 0) {
			snprintf(key, sizeof(key), "%lld", (long long)
			    json_integer_value(json_object_get(e, "signSeq")));
			json_object_set_new(failed, key, json_true());
		}
	}
	json_array_foreach(rc.entries, i, e) {
		const char *op = rc_str(e, "op"), *purpose;
		char key[24];

		if (op == NULL) {
			rc_finding(&rc, "journal line %lld: no op",
			    rc_lineno(e));
			continue;
		}
		if (strcmp(op, "start") == 0) {
			runs++;
			json_array_append_new(rc.starts, json_string(
			    rc_str(e, "time") ? rc_str(e, "time") : ""));
			continue;
		}
		json_object_set_new(e, "_run", json_integer(runs));
		if (strcmp(op, "generate") == 0 &&
		    json_is_true(json_object_get(e, "ok"))) {
			gens++;
			id = rc_str(e, "keyId");
			if (id == NULL || json_object_get(gen, id) == NULL)
				rc_finding(&rc, "journal line %lld: key %s was "
				    "generated for %s, but the audit log does "
				    "not record it", rc_lineno(e),
				    id ? id : "(none)", rc_str(e, "admin") ?
				    rc_str(e, "admin") : "(nobody)");
			continue;
		}
		if (strcmp(op, "sign") != 0)
			continue;
		snprintf(key, sizeof(key), "%lld", (long long)
		    json_integer_value(json_object_get(e, "seq")));
		if (json_object_get(failed, key) != NULL) {
			refused++;
			continue;
		}
		sigs++;
		purpose = rc_str(e, "purpose");
		id = rc_str(e, "ref");
		if (purpose != NULL && id != NULL &&
		    strcmp(purpose, "certificate") == 0) {
			/* an administrator's CSR or self-signed certificate:
			 * no request accounts for it; the auditor sees it */
			certs++;
			rc.notes++;
			fprintf(out, "note: journal line %lld: key %s signed "
			    "certificate work for %s at %s\n", rc_lineno(e),
			    rc_str(e, "keyId") ? rc_str(e, "keyId") : "?", id,
			    rc_str(e, "time") ? rc_str(e, "time") : "?");
			continue;
		}
		if (purpose != NULL && id != NULL &&
		    strcmp(purpose, "request") == 0 &&
		    strncmp(id, "tsa-", 4) == 0) {
			/* a time-stamp token: accounted by its serial */
			tsas++;
			rc_tsa(&rc, e, id, blocks, seen);
			continue;
		}
		if (purpose == NULL || id == NULL ||
		    strcmp(purpose, "request") != 0 ||
		    rc_str(e, "keyId") == NULL || rc_str(e, "digest") == NULL) {
			rc_finding(&rc, "journal line %lld: a signature that "
			    "names no request", rc_lineno(e));
			continue;
		}
		if ((v = json_object_get(byreq, id)) == NULL) {
			v = json_array();
			json_object_set_new(byreq, id, v);
		}
		json_array_append(v, e);
	}
	json_object_foreach(byreq, id, v)
		rc_request(&rc, t, cas, id, v);
	if (refused > 0)
		fprintf(out, "note: %lu signing attempt(s) the token refused "
		    "(sign-failed lines): no signature was handed out\n", refused);
	fprintf(out, "%" PRIu64 " journal lines, %lu signatures (%lu for "
	    "%zu requests, %lu certificate work, %lu time-stamp tokens), %lu "
	    "keys generated; %lu finding(s)%s\n", lines, sigs,
	    sigs - certs - tsas, json_object_size(byreq), certs, tsas, gens,
	    rc.findings,
	    rc.findings == 0 ? ": every signature is accounted for" : "");
	rc_exit = fflush(out) != 0 ? 2 : rc.findings != 0 ? 1 : 0;
out:
	store_txn_abort(&t);
	if (f != NULL)
		fclose(f);
	json_decref(rc.entries);
	json_decref(rc.starts);
	json_decref(byreq);
	json_decref(gen);
	json_decref(blocks);
	json_decref(seen);
	json_decref(failed);
	return rc_exit;
}
