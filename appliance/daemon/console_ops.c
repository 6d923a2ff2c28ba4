/* The officer console's operations in signetd (console_srv.h): login
 * and logout, the pending list, a request's details, decisions, the
 * token's state and its activation. The connections that carry them are
 * console_conn.c's. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/crypto.h>

#include "app.h"
#include "audit.h"
#include "catalog.h"
#include "consproto.h"
#include "console_int.h"
#include "console_srv.h"
#include "khclient.h"
#include "log.h"
#include "request.h"
#include "tsa.h"
#include "users.h"
#include "workflow.h"

/* Requests in one pending list; an officer decides them one at a time. */
#define CONSOLE_SRV_MAX_PENDING	100

int
console_srv_msg(struct console_srv_ctx *x, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(x->msg, sizeof(x->msg), fmt, ap);
	va_end(ap);
	return err;
}

/* An audit entry of its own transaction (console events that change
 * nothing else). */
static void
console_srv_audit(struct console_srv *s, const char *actor,
    const char *action, const char *target, const json_t *details)
{
	struct store_txn *t = NULL;
	int r;

	if ((r = store_txn_begin(s->app->store, 1, &t)) == 0 &&
	    (r = audit_append(t, "user", actor, action, target,
	    details)) == 0) {
		r = store_txn_commit(&t);
	}
	store_txn_abort(&t);
	if (r != 0)
		log_err("console: cannot audit %s by %s: %s", action, actor,
		    signet_strerror(r));
}

/* Ends the connection's session, if any: deleted in the store (audited
 * as a logout) and wiped here (console_int.h). */
void
console_srv_end_session(struct console_conn *c, const char *why)
{
	int r;

	if (!c->logged_in)
		return;
	if ((r = users_logout(c->srv->app->store, c->key, c->user)) != 0)
		log_err("console: logout of %s: %s", c->user,
		    signet_strerror(r));
	log_info("console: %s logged out (%s)", c->user, why);
	OPENSSL_cleanse(c->token, sizeof(c->token));
	OPENSSL_cleanse(c->key, sizeof(c->key));
	c->user[0] = '\0';
	c->logged_in = 0;
}

/* --- requests and who may decide them ------------------------------ */

/* Evidence recorded by origin verification, where a request has it. */
static int
console_srv_origin_verified(const json_t *rec)
{
	const json_t *v = json_object_get(rec, "originVerification");
	const char *st;

	if (v == NULL)
		v = json_object_get(json_object_get(rec, "origin"),
		    "verification");
	if (json_is_true(v))
		return 1;
	if (!json_is_object(v))
		return 0;
	if (json_is_true(json_object_get(v, "verified")))
		return 1;
	st = json_string_value(json_object_get(v, "status"));
	return st != NULL && strcasecmp(st, "verified") == 0;
}

/* The pending list shows what this officer could decide now
 * (workflow_may_decide, asked again when they decide). */
struct console_srv_vis {
	struct store_txn *t;
	const struct principal *who;
};

static int
console_srv_visible(const json_t *rec, void *arg)
{
	struct console_srv_vis *v = arg;

	return workflow_may_decide(v->t, v->who, rec, NULL, 0) == 0;
}

/* Seconds since an RFC 3339 UTC time as request_now writes it. */
static json_int_t
console_srv_age(const char *at)
{
	struct tm tm;
	const char *end;
	time_t then;

	if (at == NULL)
		return 0;
	memset(&tm, 0, sizeof(tm));
	if ((end = strptime(at, "%Y-%m-%dT%H:%M:%S", &tm)) == NULL)
		return 0;
	if ((then = timegm(&tm)) == (time_t)-1 || then > time(NULL))
		return 0;
	return (json_int_t)(time(NULL) - then);
}

static json_t *
console_srv_summary(const json_t *r)
{
	const json_t *art = json_object_get(r, "unsignedArtifact");
	const json_t *sub = json_object_get(r, "submitter");
	const json_t *hs = json_object_get(r, "hash");
	char hname[320];

	if (json_is_object(hs)) {
		/* hash signing: the stated name, marked first so that a
		 * narrow column keeps the mark, and the digest */
		snprintf(hname, sizeof(hname), "hash: %s", json_string_value(
		    json_object_get(hs, "fileName")) ? json_string_value(
		    json_object_get(hs, "fileName")) : "unknown");
		return json_pack("{s:O?, s:O?, s:O?, s:O?, s:s, s:O?, s:b, "
		    "s:O?, s:I, s:b}",
		    "id", json_object_get(r, "id"),
		    "project", json_object_get(r, "projectSlug"),
		    "policy", json_object_get(r, "signingPolicySlug"),
		    "submitter", json_object_get(sub, "name"),
		    "artifactName", hname,
		    "sha256", json_object_get(hs, "digest"),
		    "originVerified", console_srv_origin_verified(r),
		    "createdAt", json_object_get(r, "createdAt"),
		    "ageSeconds", console_srv_age(json_string_value(
		    json_object_get(r, "createdAt"))),
		    "hashSigning", 1);
	}
	return json_pack("{s:O?, s:O?, s:O?, s:O?, s:O?, s:O?, s:b, s:O?,"
	    " s:I}",
	    "id", json_object_get(r, "id"),
	    "project", json_object_get(r, "projectSlug"),
	    "policy", json_object_get(r, "signingPolicySlug"),
	    "submitter", json_object_get(sub, "name"),
	    "artifactName", json_object_get(art, "name"),
	    "sha256", json_object_get(art, "sha256"),
	    "originVerified", console_srv_origin_verified(r),
	    "createdAt", json_object_get(r, "createdAt"),
	    "ageSeconds", console_srv_age(json_string_value(
	    json_object_get(r, "createdAt"))));
}

/* --- operations ----------------------------------------------------- */

static int
console_srv_login(struct console_srv_ctx *x)
{
	struct console_conn *c = x->c;
	struct store_txn *t = NULL;
	json_t *u = NULL, *det = NULL;
	json_error_t jerr;
	const char *op = NULL, *name = NULL, *pw = NULL;
	char token[USERS_TOKEN_LEN + 1], key[65], remote[64];
	uint64_t expires;
	size_t pwlen = 0;
	int poll_ = 0, r;

	if (json_unpack_ex(x->req, &jerr, JSON_STRICT, "{s:s, s:s, s:s%,"
	    " s?:b}", "op", &op, "username", &name, "password", &pw, &pwlen,
	    "poll", &poll_) != 0)
		return console_srv_msg(x, SIGNET_ERR_INVALID, "login needs "
		    "username and password: %s", jerr.text);
	/* a new login replaces whoever was logged in on this console */
	console_srv_end_session(c, "another login");
	snprintf(remote, sizeof(remote), "console uid %lu pid %ld",
	    (unsigned long)c->uid, (long)c->pid);
	r = users_login(c->srv->app->store, &c->srv->up, name, pw, pwlen,
	    remote, token, &expires);
	if (r == SIGNET_ERR_UNAUTHENTICATED)
		return console_srv_msg(x, r, "wrong user name or password, or "
		    "the account is locked after repeated failures; try again");
	if (r != 0)
		return console_srv_msg(x, r, "login failed: %s",
		    signet_strerror(r));
	if ((r = store_txn_begin(c->srv->app->store, 0, &t)) == 0) {
		r = users_session(t, token, &u, key);
		store_txn_abort(&t);
	}
	if (r != 0) {
		r = console_srv_msg(x, r, "login failed: %s",
		    signet_strerror(r));
		goto out;
	}
	if (!users_has_role(u, ROLE_OFFICER)) {
		/* the password was right, the role is not: the session that
		 * users_login made is revoked at once */
		if (users_logout(c->srv->app->store, key, name) != 0)
			log_err("console: cannot revoke the session of %s",
			    name);
		det = json_pack("{s:s, s:s}", "reason", "not a security "
		    "officer", "remote", remote);
		console_srv_audit(c->srv, name, "console.login-refused", name,
		    det);
		r = console_srv_msg(x, SIGNET_ERR_FORBIDDEN, "'%s' is not a "
		    "security officer; the console is for security officers "
		    "only", name);
		goto out;
	}
	memcpy(c->token, token, sizeof(c->token));
	memcpy(c->key, key, sizeof(c->key));
	snprintf(c->user, sizeof(c->user), "%s", name);
	c->logged_in = 1;
	log_info("console: %s logged in (%s)", c->user, remote);
	if ((x->rep = json_pack("{s:s, s:I}", "username", c->user,
	    "idleTimeout", (json_int_t)c->srv->app->cfg.console_idle)) == NULL)
		r = SIGNET_ERR_NOMEM;
	else
		r = 0;
out:
	OPENSSL_cleanse(token, sizeof(token));
	OPENSSL_cleanse(key, sizeof(key));
	json_decref(det);
	json_decref(u);
	return r;
}

static int
console_srv_logout(struct console_srv_ctx *x)
{
	console_srv_end_session(x->c, "logout");
	x->rep = json_object();
	return x->rep == NULL ? SIGNET_ERR_NOMEM : 0;
}

static int
console_srv_pending(struct console_srv_ctx *x)
{
	struct store_txn *t = NULL;
	struct request_filter f;
	struct console_srv_vis vis;
	json_t *items = NULL, *out = NULL, *it, *e;
	char next[REQUEST_CURSOR_LEN + 1];
	struct kh_status st;
	size_t i;
	int r, tr;

	if ((r = store_txn_begin(x->c->srv->app->store, 0, &t)) != 0)
		return console_srv_msg(x, r, "the database is not available");
	memset(&f, 0, sizeof(f));
	vis.t = t;
	vis.who = &x->who;
	f.status = RQ_WAITING;
	f.visible = console_srv_visible;
	f.arg = &vis;
	if ((r = request_list(t, &f, CONSOLE_SRV_MAX_PENDING, "", &items,
	    next)) != 0) {
		r = console_srv_msg(x, r, "cannot list requests: %s",
		    signet_strerror(r));
		goto out;
	}
	if ((out = json_array()) == NULL) {
		r = SIGNET_ERR_NOMEM;
		goto out;
	}
	json_array_foreach(items, i, it) {
		if ((e = console_srv_summary(it)) == NULL ||
		    json_array_append_new(out, e) != 0) {
			r = SIGNET_ERR_NOMEM;
			goto out;
		}
	}
	/* the token's state rides along: the console shows it at the top */
	memset(&st, 0, sizeof(st));
	tr = kh_status(x->c->srv->app->kh, &st);
	if ((x->rep = json_pack("{s:O, s:b, s:{s:b, s:b}}", "items", out,
	    "more", next[0] != '\0', "token", "present", tr == 0 &&
	    st.present, "loggedIn", tr == 0 && st.logged_in)) == NULL) {
		r = SIGNET_ERR_NOMEM;
		goto out;
	}
	r = 0;
out:
	store_txn_abort(&t);
	json_decref(items);
	json_decref(out);
	return r;
}

static int
console_srv_request(struct console_srv_ctx *x)
{
	struct store_txn *t = NULL;
	json_t *rec = NULL, *orig = NULL, *api = NULL, *os = NULL;
	json_t *policy = NULL;
	json_error_t jerr;
	const char *op, *id, *oid;
	int poll_ = 0, r;

	if (json_unpack_ex(x->req, &jerr, JSON_STRICT, "{s:s, s:s, s?:b}",
	    "op", &op, "id", &id, "poll", &poll_) != 0)
		return console_srv_msg(x, SIGNET_ERR_INVALID, "request needs "
		    "an id: %s", jerr.text);
	if ((r = store_txn_begin(x->c->srv->app->store, 0, &t)) != 0)
		return console_srv_msg(x, r, "the database is not available");
	if ((r = workflow_get_visible(t, &x->who, id, &rec, NULL, 0)) != 0) {
		r = console_srv_msg(x, r, r == SIGNET_ERR_NOT_FOUND ? "there is "
		    "no signing request '%.40s' visible to you" : "signing "
		    "request '%.40s' cannot be read", id);
		goto out;
	}
	if ((api = request_api(rec)) == NULL) {
		r = SIGNET_ERR_NOMEM;
		goto out;
	}
	/* the resubmitted-from request: what test signing made of it */
	oid = json_string_value(json_object_get(rec,
	    "originalSigningRequestId"));
	if (oid != NULL && workflow_get_visible(t, &x->who, oid, &orig, NULL,
	    0) == 0) {
		os = json_pack("{s:O?, s:O?, s:s, s:O?, s:O?, s:b}",
		    "id", json_object_get(orig, "id"),
		    "policy", json_object_get(orig, "signingPolicySlug"),
		    "status", request_coarse(json_string_value(
		    json_object_get(orig, "workflowStatus"))),
		    "workflowStatus", json_object_get(orig, "workflowStatus"),
		    "updatedAt", json_object_get(orig, "updatedAt"),
		    "signed", json_is_object(json_object_get(orig,
		    "signedArtifact")));
	}
	if (catalog_get_policy(t, json_string_value(json_object_get(rec,
	    "projectSlug")), json_string_value(json_object_get(rec,
	    "signingPolicySlug")), &policy) != 0)
		policy = NULL;
	x->rep = json_pack("{s:O, s:b, s:b, s:I, s:O?, s:O?}",
	    "request", api,
	    "originVerified", console_srv_origin_verified(rec),
	    "mayDecide", workflow_may_decide(t, &x->who, rec, NULL, 0) == 0,
	    "ageSeconds", console_srv_age(json_string_value(
	    json_object_get(rec, "createdAt"))),
	    "original", os,
	    "approvers", json_object_get(policy, "approvers"));
	r = x->rep == NULL ? SIGNET_ERR_NOMEM : 0;
out:
	store_txn_abort(&t);
	json_decref(policy);
	json_decref(os);
	json_decref(api);
	json_decref(orig);
	json_decref(rec);
	return r;
}

static int
console_srv_decide(struct console_srv_ctx *x)
{
	json_t *rec = NULL;
	json_error_t jerr;
	const char *op, *id, *decision, *comment = NULL;
	int poll_ = 0, approve, r;

	if (json_unpack_ex(x->req, &jerr, JSON_STRICT, "{s:s, s:s, s:s,"
	    " s?:s, s?:b}", "op", &op, "id", &id, "decision", &decision,
	    "comment", &comment, "poll", &poll_) != 0)
		return console_srv_msg(x, SIGNET_ERR_INVALID, "decide needs id "
		    "and decision: %s", jerr.text);
	if (strcmp(decision, "approve") == 0)
		approve = 1;
	else if (strcmp(decision, "deny") == 0)
		approve = 0;
	else
		return console_srv_msg(x, SIGNET_ERR_INVALID, "decision is "
		    "\"approve\" or \"deny\"");
	if (comment != NULL && comment[0] == '\0')
		comment = NULL;
	if ((r = workflow_decide(x->c->srv->app->store, &x->who, id, approve,
	    comment, &rec, x->msg, sizeof(x->msg))) != 0)
		return r;
	log_info("console: %s %s request %s", x->c->user, approve ?
	    "approved" : "denied", id);
	app_after_commit(x->c->srv->app, rec);
	x->rep = json_pack("{s:O?, s:O?, s:s}",
	    "id", json_object_get(rec, "id"),
	    "workflowStatus", json_object_get(rec, "workflowStatus"),
	    "status", request_coarse(json_string_value(json_object_get(rec,
	    "workflowStatus"))));
	json_decref(rec);
	return x->rep == NULL ? SIGNET_ERR_NOMEM : 0;
}

struct console_srv_certs {
	struct store_txn *t;
	json_t *out;
	json_t *uses;		/* certificate name → [project/policy] */
};

static int
console_srv_policy_cb(const void *k, size_t klen, const void *v, size_t vlen,
    void *arg)
{
	struct console_srv_certs *cc = arg;
	json_t *p = json_loadb(v, vlen, 0, NULL), *list;
	const char *cert = json_string_value(json_object_get(p, "certificate"));

	if (cert != NULL && klen < 256) {
		if ((list = json_object_get(cc->uses, cert)) == NULL) {
			list = json_array();
			json_object_set_new(cc->uses, cert, list);
		}
		json_array_append_new(list, json_stringn(k, klen));
	}
	json_decref(p);
	return 0;
}

static int
console_srv_cert_cb(const void *k, size_t klen, const void *v, size_t vlen,
    void *arg)
{
	struct console_srv_certs *cc = arg;
	json_t *c = json_loadb(v, vlen, 0, NULL), *e;
	const char *na = json_string_value(json_object_get(c, "notAfter"));
	const char *name = json_string_value(json_object_get(c, "name"));
	json_int_t left = 0;
	struct tm tm;
	time_t end;

	(void)k;
	(void)klen;
	if (name == NULL) {
		json_decref(c);
		return 0;
	}
	memset(&tm, 0, sizeof(tm));
	if (na != NULL && strptime(na, "%Y-%m-%dT%H:%M:%S", &tm) != NULL &&
	    (end = timegm(&tm)) != (time_t)-1)
		left = (json_int_t)((end - time(NULL)) / 86400);
	e = json_pack("{s:s, s:O?, s:O?, s:O?, s:s?, s:I, s:O*}",
	    "name", name,
	    "keyLabel", json_object_get(c, "keyLabel"),
	    "purpose", json_object_get(c, "purpose"),
	    "subject", json_object_get(c, "subject"),
	    "notAfter", na,
	    "daysLeft", left,
	    "policies", json_object_get(cc->uses, name));
	json_decref(c);
	if (e == NULL || json_array_append_new(cc->out, e) != 0)
		return SIGNET_ERR_NOMEM;
	return 0;
}

static int
console_srv_token_status(struct console_srv_ctx *x)
{
	struct app *app = x->c->srv->app;
	struct console_srv_certs cc = { NULL, NULL, NULL };
	struct kh_key_info *keys = NULL;
	struct kh_status st;
	json_t *jkeys = NULL, *e;
	size_t n = 0, i;
	int r;

	if ((r = kh_status(app->kh, &st)) != 0)
		return console_srv_msg(x, r, "cannot reach the token: %s",
		    signet_strerror(r));
	if ((jkeys = json_array()) == NULL ||
	    (cc.out = json_array()) == NULL ||
	    (cc.uses = json_object()) == NULL) {
		r = SIGNET_ERR_NOMEM;
		goto out;
	}
	if (st.present && st.logged_in && kh_list_keys(app->kh, &keys,
	    &n) == 0) {
		for (i = 0; i < n; i++) {
			e = json_pack("{s:s, s:s, s:s, s:i}", "id", keys[i].id,
			    "label", keys[i].label, "type",
			    keys[i].type == KH_KEY_RSA ? "RSA" : "EC",
			    "bits", (int)keys[i].bits);
			if (e == NULL || json_array_append_new(jkeys, e) != 0) {
				r = SIGNET_ERR_NOMEM;
				goto out;
			}
		}
	}
	if ((r = store_txn_begin(app->store, 0, &cc.t)) != 0)
		goto out;
	if ((r = store_walk(cc.t, STORE_POLICIES, NULL, 0, NULL, 0, 0,
	    console_srv_policy_cb, &cc)) != 0 ||
	    (r = store_walk(cc.t, STORE_CERTIFICATES, NULL, 0, NULL, 0, 0,
	    console_srv_cert_cb, &cc)) != 0) {
		r = console_srv_msg(x, r, "cannot read certificates: %s",
		    signet_strerror(r));
		goto out;
	}
	x->rep = json_pack("{s:b, s:b, s:s, s:s, s:s, s:s, s:I, s:b, s:b,"
	    " s:b, s:i, s:O, s:O}",
	    "present", st.present, "loggedIn", st.logged_in,
	    "label", st.label, "manufacturer", st.manufacturer,
	    "model", st.model, "serial", st.serial,
	    "tokenFlags", (json_int_t)st.flags,
	    "pinCountLow", (st.flags & CONSPROTO_CKF_USER_PIN_COUNT_LOW) != 0,
	    "pinFinalTry", (st.flags & CONSPROTO_CKF_USER_PIN_FINAL_TRY) != 0,
	    "pinLocked", (st.flags & CONSPROTO_CKF_USER_PIN_LOCKED) != 0,
	    "keyCount", (int)st.key_count,
	    "keys", jkeys, "certificates", cc.out);
	r = x->rep == NULL ? SIGNET_ERR_NOMEM : 0;
	/* the clock time-stamps take their time from, and the TSA */
	if (r == 0 && (json_object_set_new(x->rep, "clock",
	    tsa_clock_json()) != 0 || json_object_set_new(x->rep,
	    "timestamping", tsa_status_json(app->tsa)) != 0))
		r = SIGNET_ERR_NOMEM;
out:
	store_txn_abort(&cc.t);
	free(keys);
	json_decref(jkeys);
	json_decref(cc.out);
	json_decref(cc.uses);
	return r;
}

/* Token activation (console_srv.h). signetd answers "send-pin", then the
 * connection is the keyholder's until kh_login_fd returns: the PIN frame
 * is read by the keyholder and never by this process. */
static int
console_srv_token_login(struct console_srv_ctx *x)
{
	struct console_conn *c = x->c;
	struct app *app = c->srv->app;
	struct kh_login_result res;
	struct kh_status st;
	json_t *go = NULL, *det = NULL;
	int r;

	if ((r = kh_status(app->kh, &st)) != 0)
		return console_srv_msg(x, r, "cannot reach the token: %s",
		    signet_strerror(r));
	if (!st.present)
		return console_srv_msg(x, SIGNET_ERR_TOKEN, "no token is "
		    "present; insert it and try again");
	if (st.logged_in)
		return console_srv_msg(x, SIGNET_ERR_CONFLICT, "the token is "
		    "already active");
	/* no try at all on a locked PIN: the token would refuse it, and a
	 * person should see why first */
	if (st.flags & CONSPROTO_CKF_USER_PIN_LOCKED)
		return console_srv_msg(x, SIGNET_ERR_PIN_LOCKED, "the user PIN "
		    "is locked; it must be unlocked with the security "
		    "officer PIN");
	go = json_pack("{s:b, s:s, s:s, s:I}", "ok", 1, "op", "token-login",
	    "state", "send-pin", "tokenFlags", (json_int_t)st.flags);
	if (go == NULL)
		return SIGNET_ERR_NOMEM;
	r = consproto_send(c->fd, go, SIGNET_MAX_CONSOLE_REPLY);
	json_decref(go);
	if (r != 0) {
		x->flags |= CONSOLE_SRV_ANSWERED | CONSOLE_SRV_CLOSE;
		return r;
	}
	x->flags |= CONSOLE_SRV_ANSWERED;
	r = kh_login_fd(app->kh, c->fd, &res);
	if (r != 0) {
		/* the PIN frame may still be unread in the socket: the stream
		 * ends here rather than let this process read it */
		log_err("console: token activation by %s: %s", c->user,
		    signet_strerror(r));
		x->flags |= CONSOLE_SRV_CLOSE;
		det = json_pack("{s:s}", "reason", signet_strerror(r));
		console_srv_audit(c->srv, c->user, "token.login-failed",
		    st.label, det);
		json_decref(det);
		return r;
	}
	if (!res.answered || res.code == SIGNET_ERR_INVALID ||
	    res.code == SIGNET_ERR_UNAVAILABLE)
		x->flags |= CONSOLE_SRV_CLOSE;
	det = json_pack("{s:s, s:I}", "reason", res.code == 0 ? "ok" :
	    signet_strerror(res.code), "tokenFlags", (json_int_t)res.flags);
	console_srv_audit(c->srv, c->user, res.code == 0 ? "token.login" :
	    "token.login-failed", st.label, det);
	json_decref(det);
	if (res.code == 0)
		log_info("console: %s activated the token", c->user);
	else
		log_warn("console: token activation by %s failed: %s", c->user,
		    signet_strerror(res.code));
	return 0;
}

static const struct console_srv_op console_srv_ops[] = {
	{ "login",		0, console_srv_login },
	{ "logout",		0, console_srv_logout },
	{ "pending",		1, console_srv_pending },
	{ "request",		1, console_srv_request },
	{ "decide",		1, console_srv_decide },
	{ "token-status",	1, console_srv_token_status },
	{ "token-login",	1, console_srv_token_login },
};

const struct console_srv_op *
console_srv_op_find(const char *name)
{
	size_t i;

	for (i = 0; name != NULL &&
	    i < sizeof(console_srv_ops) / sizeof(console_srv_ops[0]); i++)
		if (strcmp(name, console_srv_ops[i].name) == 0)
			return &console_srv_ops[i];
	return NULL;
}

/* A session revoked or expired in the store, or a role taken away, ends
 * it here too (console_int.h). */
int
console_srv_check_session(struct console_srv_ctx *x)
{
	struct console_conn *c = x->c;
	struct store_txn *t = NULL;
	char key[65];
	int r;

	if (!c->logged_in)
		return console_srv_msg(x, SIGNET_ERR_UNAUTHENTICATED, "log in "
		    "first");
	if ((r = store_txn_begin(c->srv->app->store, 0, &t)) != 0)
		return console_srv_msg(x, r, "the database is not available");
	r = users_session(t, c->token, &x->user, key);
	store_txn_abort(&t);
	OPENSSL_cleanse(key, sizeof(key));
	if (r == 0 && !users_has_role(x->user, ROLE_OFFICER))
		r = SIGNET_ERR_UNAUTHENTICATED;
	if (r != 0) {
		console_srv_end_session(c, "session no longer valid");
		return console_srv_msg(x, SIGNET_ERR_UNAUTHENTICATED, "the "
		    "session has ended; log in again");
	}
	x->who.type = "user";
	x->who.name = c->user;
	x->who.user = x->user;
	return 0;
}
