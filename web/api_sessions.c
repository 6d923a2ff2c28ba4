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
#include "events.h"
#include "form.h"
#include "http.h"
#include "khclient.h"
#include "log.h"
#include "notify.h"
#include "request.h"
#include "signer.h"
#include "signet_limits.h"
#include "users.h"
#include "wbuf.h"
#include "workflow.h"


static void
api_login(struct api *a)
{
	json_t *body = NULL;
	const char *user, *pw;
	char token[USERS_TOKEN_LEN + 1], exp[32], remote[64];
	struct users_policy up;
	uint64_t expires = 0;
	time_t secs;
	struct tm tm;
	int r;

	if (api_small_body(a, &body) != 0)
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
	r = users_login(a->app->store, &up, user, pw, strlen(pw), remote,
	    token, &expires);
	if (r == SIGNET_ERR_UNAUTHENTICATED) {
		http_error(a->c, 401, "invalid_credentials", "the user name or "
		    "password is wrong, or the account is locked for a while "
		    "after repeated failures");
		goto out;
	}
	if (r != 0) {
		http_error(a->c, 500, "internal", "login failed: %s",
		    signet_strerror(r));
		goto out;
	}
	secs = (time_t)(expires / 1000000000ULL);
	gmtime_r(&secs, &tm);
	strftime(exp, sizeof(exp), "%Y-%m-%dT%H:%M:%SZ", &tm);
	http_json(a->c, 201, json_pack("{s:s, s:s, s:s, s:s}", "token", token,
	    "tokenType", "Bearer", "expiresAt", exp, "username", user), NULL);
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
	if (a->user == NULL) {
		http_error(a->c, 400, "not_a_session", "this call ends a bearer "
		    "session; client certificates have none");
		return;
	}
	if (users_logout(a->app->store, a->session_key, a->identity) != 0) {
		http_error(a->c, 500, "internal", "the session could not be "
		    "ended");
		return;
	}
	mg_response_header_start(a->c, 204);
	http_common_headers(a->c);
	mg_response_header_send(a->c);
}
const struct api_route api_session_routes[] = {
	{ "POST", 1, { "sessions" }, 1, api_login },
	{ "DELETE", 2, { "sessions", "current" }, 0, api_logout },
	{ NULL, 0, { NULL }, 0, NULL },
};
