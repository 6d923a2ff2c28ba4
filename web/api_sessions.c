/* People's sessions: log in for a bearer token, log out. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <civetweb.h>
#include <openssl/crypto.h>

#include "api.h"
#include "app.h"
#include "audit.h"
#include "catalog.h"
#include "catalog_read.h"
#include "events.h"
#include "form.h"
#include "http.h"
#include "log.h"
#include "notify.h"
#include "request.h"
#include "signer.h"
#include "signet_limits.h"
#include "users.h"
#include "wbuf.h"
#include "workflow.h"


/* The login body: JSON {"username", "password", "cookie": true} or a
 * form (cookie=true). Strings only, but for the cookie flag. */
static int
api_login_body(struct api *a, json_t **body, int *cookie)
{
	const char *ct = mg_get_header(a->c, "Content-Type");
	json_t *v;
	const char *k;

	*cookie = 0;
	if (ct != NULL && strncasecmp(ct, "application/json", 16) == 0) {
		if (api_json_body(a, SIGNET_MAX_JSON_BODY, body) != 0)
			return -1;
	} else if (api_small_body(a, body) != 0) {
		return -1;
	}
	json_object_foreach(*body, k, v) {
		if (strcmp(k, "cookie") == 0) {
			if (json_is_boolean(v))
				*cookie = json_is_true(v);
			else if (json_is_string(v))
				*cookie = strcmp(json_string_value(v), "true") == 0;
			else
				goto bad;
		} else if (!json_is_string(v)) {
			goto bad;
		}
	}
	return 0;
bad:
	http_error(a->c, 400, "invalid_field", "'%.64s' must be a string "
	    "(\"cookie\": a boolean)", k);
	json_decref(*body);
	*body = NULL;
	return -1;
}

/* A cookie login answers with the session in a cookie scripts cannot
 * read (HttpOnly), sent only over TLS (Secure) and never on a request
 * another site starts (SameSite=Strict, RFC 6265bis 5.4.7), and with
 * the CSRF token the page repeats in API_CSRF_HEADER. */
static void
api_login_cookie_answer(struct api *a, const char *user, const char *token,
    const char *exp)
{
	char csrf[USERS_CSRF_LEN + 1], hdr[160], key[65];

	if (users_session_key(token, key) != 0 ||
	    users_csrf_token(key, csrf) != 0) {
		api_fail(a, SIGNET_ERR_CRYPTO, "setting up the session");
		return;
	}
	snprintf(hdr, sizeof(hdr), "Set-Cookie: " API_COOKIE "=%s; Path=/; "
	    "Secure; HttpOnly; SameSite=Strict", token);
	http_json(a->c, 201, json_pack("{s:s, s:s, s:s, s:s, s:i}",
	    "tokenType", "Cookie", "csrfToken", csrf, "expiresAt", exp,
	    "username", user, "idleTimeout", (int)a->app->cfg.idle_timeout),
	    hdr);
	OPENSSL_cleanse(hdr, sizeof(hdr));
	OPENSSL_cleanse(key, sizeof(key));
}

/* A login form another site's page submits would log the browser in
 * to an account of that site's choosing (login CSRF): a browser tells
 * where a request comes from (Sec-Fetch-Site, Fetch Metadata; older ones
 * an Origin on every POST form), a program sends neither. */
static int
api_login_from_elsewhere(struct api *a)
{
	const char *site = mg_get_header(a->c, "Sec-Fetch-Site");
	const char *origin = mg_get_header(a->c, "Origin");
	const char *host = mg_get_header(a->c, "Host");

	if (site != NULL)
		return strcmp(site, "same-origin") != 0 &&
		    strcmp(site, "none") != 0;
	return origin != NULL && (host == NULL ||
	    strncmp(origin, "https://", 8) != 0 ||
	    strcasecmp(origin + 8, host) != 0);
}

static void
api_login(struct api *a)
{
	json_t *body = NULL;
	const char *user, *pw = NULL;
	char token[USERS_TOKEN_LEN + 1], exp[32], remote[64];
	struct users_policy up;
	uint64_t expires = 0;
	time_t secs;
	struct tm tm;
	int r, cookie;

	if (api_login_from_elsewhere(a)) {
		http_error(a->c, 403, "cross_site_login", "a login must come "
		    "from this appliance's own login page (or from a program, "
		    "which sends no Sec-Fetch-Site or Origin header); "
		    "this one came from another site");
		return;
	}
	if (api_login_body(a, &body, &cookie) != 0)
		return;
	user = api_str(body, "username");
	pw = api_str(body, "password");
	if (user == NULL || pw == NULL) {
		http_error(a->c, 400, "missing_field", "send {\"username\": "
		    "..., \"password\": ...}");
		goto out;
	}
	up.session_ttl = a->app->cfg.session_ttl;
	up.lockout_failures = a->app->cfg.lockout_failures;
	up.lockout_seconds = a->app->cfg.lockout_seconds;
	snprintf(remote, sizeof(remote), "%s", a->ri->remote_addr);
	if (cookie)
		r = users_login_cookie(a->app->store, &up, user, pw, strlen(pw),
		    remote, token, &expires);
	else
		r = users_login(a->app->store, &up, user, pw, strlen(pw),
		    remote, token, &expires);
	if (r == SIGNET_ERR_UNAUTHENTICATED) {
		http_error(a->c, 401, "invalid_credentials", "the user name or "
		    "password is wrong, or the account is locked for a while "
		    "after repeated failures");
		goto out;
	}
	if (r != 0) {
		api_fail(a, r, "logging in");
		goto out;
	}
	secs = (time_t)(expires / 1000000000ULL);
	gmtime_r(&secs, &tm);
	strftime(exp, sizeof(exp), "%Y-%m-%dT%H:%M:%SZ", &tm);
	if (cookie)
		api_login_cookie_answer(a, user, token, exp);
	else
		http_json(a->c, 201, json_pack("{s:s, s:s, s:s, s:s}", "token",
		    token, "tokenType", "Bearer", "expiresAt", exp, "username",
		    user), NULL);
	OPENSSL_cleanse(token, sizeof(token));
out:
	/* the password was in this JSON object */
	if (pw != NULL)
		OPENSSL_cleanse((void *)(uintptr_t)pw, strlen(pw));
	json_decref(body);
}

static void
api_logout(struct api *a)
{
	int r;

	if (a->user == NULL) {
		http_error(a->c, 400, "not_a_session", "this call ends a bearer "
		    "session; client certificates have none");
		return;
	}
	if ((r = users_logout(a->app->store, a->session_key,
	    a->identity)) != 0) {
		api_fail(a, r, "ending the session");
		return;
	}
	mg_response_header_start(a->c, 204);
	http_common_headers(a->c);
	if (a->cookie)
		mg_response_header_add(a->c, "Set-Cookie", API_COOKIE "=; "
		    "Path=/; Max-Age=0; Secure; HttpOnly; SameSite=Strict", -1);
	mg_response_header_send(a->c);
}

/* --- who am I --------------------------------------------------------- */

/* GET /api/v1/me: who the caller is and which signing policies they may
 * submit to and approve on, so that a page shows only what they may do
 * (the server checks again on every request). A web session gets its
 * CSRF token here too: after a restart of signetd the old one is void. */
static void
api_me(struct api *a)
{
	char csrf[USERS_CSRF_LEN + 1];
	json_t *body, *roles, *submit = NULL, *approve = NULL;
	int r;

	if ((r = catalog_read_policies_of(a->app->store, a->identity, &submit,
	    &approve)) != 0)
		goto fail;
	roles = a->user ? json_object_get(a->user, "roles") : NULL;
	body = json_pack("{s:s, s:s, s:O?, s:O?, s:o, s:o}",
	    "name", a->identity, "type", a->identity_type,
	    "email", a->user ? json_object_get(a->user, "email") : NULL,
	    "roles", roles, "submitPolicies", submit,
	    "approvePolicies", approve);
	submit = approve = NULL;
	if (body != NULL && roles == NULL)
		json_object_set_new(body, "roles", json_array());
	if (body != NULL && a->cookie) {
		if (users_csrf_token(a->session_key, csrf) != 0) {
			json_decref(body);
			r = SIGNET_ERR_CRYPTO;
			goto fail;
		}
		json_object_set_new(body, "csrfToken", json_string(csrf));
		json_object_set_new(body, "idleTimeout",
		    json_integer(a->app->cfg.idle_timeout));
	}
	http_json(a->c, 200, body, NULL);
	return;
fail:
	json_decref(submit);
	json_decref(approve);
	api_fail(a, r, "reading who you are");
}

const struct api_route api_session_routes[] = {
	{ "POST", 1, { "sessions" }, 1, api_login },
	{ "DELETE", 2, { "sessions", "current" }, 0, api_logout },
	{ "GET", 1, { "me" }, 0, api_me },
	{ NULL, 0, { NULL }, 0, NULL },
};
