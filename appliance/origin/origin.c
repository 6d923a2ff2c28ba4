/* Origin verification (docs/origin.md): what a submission's origin is
 * worth, and the helpers the origin files share. The keys are in
 * origin_keys.c, the ID token in origin_token.c, the rules in
 * origin_rules.c. */
#include <ctype.h>
#include <fnmatch.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jose/b64.h>
#include <jose/jws.h>
#include <jose/openssl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "origin.h"
#include "origin_int.h"
#include "rd.h"
#include "signet_limits.h"

/* Drops a UTF-8 sequence cut short at the end of s: messages end up in
 * JSON, which takes valid UTF-8 only. */
static void
origin_utf8_trim(char *s)
{
	size_t n = strlen(s), i = n, need;
	unsigned char c;

	while (i > 0 && ((unsigned char)s[i - 1] & 0xc0) == 0x80 && n - i < 3)
		i--;
	if (i == 0)
		return;
	c = (unsigned char)s[i - 1];
	if (c < 0x80)
		return;
	need = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 1;
	if (n - (i - 1) < need)
		s[i - 1] = '\0';
}

int
origin_fail(char *buf, size_t len, int err, const char *fmt, ...)
{
	va_list ap;

	/* as signet_errf, and a character cut in half is taken off */
	va_start(ap, fmt);
	vsnprintf(buf, len, fmt, ap);
	va_end(ap);
	origin_utf8_trim(buf);
	return err;
}

/* A value from a token or a submission, fit for a message and a log
 * line: at most max bytes cut at a character boundary, control
 * characters shown as '?'. */
const char *
origin_clip(const char *s, size_t max, char *out, size_t outlen)
{
	size_t i;

	if (s == NULL)
		s = "(none)";
	if (max > outlen - 4)
		max = outlen - 4;
	for (i = 0; s[i] != '\0' && i < max; i++)
		out[i] = (unsigned char)s[i] < 0x20 || s[i] == 0x7f ? '?' : s[i];
	out[i] = '\0';
	if (s[i] != '\0') {
		origin_utf8_trim(out);
		i = strlen(out);
		snprintf(out + i, outlen - i, "...");
	}
	return out;
}

int
origin_printable(const char *s, size_t max)
{
	size_t i;

	for (i = 0; s[i] != '\0'; i++)
		if (i >= max || (unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return 0;
	return i > 0;
}

int
origin_https_url(const char *s)
{
	return strncmp(s, "https://", 8) == 0 && s[8] != '\0' &&
	    origin_printable(s, SIGNET_MAX_ISSUER) && strchr(s, ' ') == NULL;
}

int
origin_json_depth_ok(const json_t *v, int depth)
{
	const char *k;
	json_t *m;
	size_t i;

	if (depth > SIGNET_MAX_JSON_DEPTH)
		return 0;
	if (json_is_array(v)) {
		json_array_foreach(v, i, m)
			if (!origin_json_depth_ok(m, depth + 1))
				return 0;
	} else if (json_is_object(v)) {
		json_object_foreach((json_t *)(uintptr_t)v, k, m)
			if (!origin_json_depth_ok(m, depth + 1))
				return 0;
	}
	return 1;
}


/* --- a submission ---------------------------------------------------- */

struct origin_find {
	const char *identity;
	json_t *found;
};

static int
origin_find_cb(const void *k, size_t klen, const void *v, size_t vlen,
    void *arg)
{
	struct origin_find *f = arg;
	json_t *bs = json_loadb(v, vlen, 0, NULL), *e;
	size_t i;

	(void)k;
	(void)klen;
	if (bs == NULL)
		return SIGNET_ERR_STORE;
	json_array_foreach(json_object_get(bs, "identities"), i, e)
		if (json_is_string(e) && strcmp(json_string_value(e),
		    f->identity) == 0) {
			f->found = bs;
			return 1;
		}
	json_decref(bs);
	return 0;
}

int
origin_build_system_of(struct store_txn *t, const char *identity,
    json_t **bs)
{
	struct origin_find f = { identity, NULL };
	int r;

	*bs = NULL;
	if ((r = store_walk(t, STORE_BUILD_SYSTEMS, NULL, 0, NULL, 0, 0,
	    origin_find_cb, &f)) != 0) {
		json_decref(f.found);
		return r;
	}
	if (f.found == NULL)
		return SIGNET_ERR_NOT_FOUND;
	json_object_del(f.found, "v");
	*bs = f.found;
	return 0;
}

void
origin_forget_token(json_t *origin)
{
	json_t *tok = json_object_get(origin, "idToken");
	const char *s = json_string_value(tok);

	/* jansson keeps the string's bytes: wipe them before letting go */
	if (s != NULL)
		OPENSSL_cleanse((void *)(uintptr_t)s, strlen(s));
	json_object_del(origin, "idToken");
}

/* Verified evidence names the ref it vouches for in both forms: the
 * full ref, which the rules match, and its kind and short name. */
static int
origin_evidence_ref(json_t *ev, const json_t *origin)
{
	const char *branch = json_string_value(json_object_get(origin,
	    "branchName"));
	char full[SIGNET_MAX_ORIGIN_VALUE + 16];
	const char *name, *type;

	if (!json_is_true(json_object_get(ev, "verified")) || branch == NULL ||
	    origin_ref_full(branch, full, sizeof(full)) != 0)
		return 0;
	name = origin_ref_name(full, &type);
	if (json_object_set_new(ev, "ref", json_string(full)) != 0 ||
	    json_object_set_new(ev, "refType", json_string(type)) != 0 ||
	    json_object_set_new(ev, "refName", json_string(name)) != 0)
		return SIGNET_ERR_NOMEM;
	return 0;
}

int
origin_verify(struct store_txn *t, const char *submitter_type,
    const char *submitter, json_t *origin, time_t now, json_t **evidence)
{
	const char *token = json_string_value(json_object_get(origin,
	    "idToken"));
	const char *issuer;
	json_t *bs = NULL, *tok = NULL, *ev = NULL;
	char reason[512] = "", at[32];
	struct tm tm;
	int r;

	*evidence = NULL;
	gmtime_r(&now, &tm);
	strftime(at, sizeof(at), "%Y-%m-%dT%H:%M:%SZ", &tm);
	if ((ev = json_pack("{s:b, s:s}", "verified", 0, "verifiedAt", at)) ==
	    NULL)
		return SIGNET_ERR_NOMEM;
	if (submitter_type == NULL ||
	    strcmp(submitter_type, "client-certificate") != 0) {
		snprintf(reason, sizeof(reason), "submitted by user '%s', not "
		    "by a trusted build system over mTLS", submitter);
		goto done;
	}
	r = origin_build_system_of(t, submitter, &bs);
	if (r == SIGNET_ERR_NOT_FOUND) {
		snprintf(reason, sizeof(reason), "CI identity '%s' belongs to "
		    "no trusted build system", submitter);
		goto done;
	}
	if (r != 0)
		goto fail;
	json_object_set(ev, "buildSystem", json_object_get(bs, "name"));
	if ((issuer = json_string_value(json_object_get(bs, "issuer"))) ==
	    NULL) {
		/* the client certificate alone vouches for this one */
		json_object_set_new(ev, "method", json_string(
		    "client-certificate"));
		json_object_set_new(ev, "verified", json_true());
		if (token != NULL)
			json_object_set_new(ev, "note", json_string("the ID "
			    "token was not checked: the build system has no "
			    "issuer"));
		goto done;
	}
	json_object_set_new(ev, "issuer", json_string(issuer));
	json_object_set_new(ev, "method", json_string(
	    "client-certificate+id-token"));
	if (token == NULL) {
		snprintf(reason, sizeof(reason), "build system '%s' vouches for "
		    "origin with an ID token from %s; send it as "
		    "origin.idToken", json_string_value(json_object_get(bs,
		    "name")), issuer);
		goto done;
	}
	r = origin_verify_token(bs, token, origin, now, &tok, reason,
	    sizeof(reason));
	if (r == SIGNET_ERR_FORBIDDEN)
		goto done;
	if (r != 0)
		goto fail;
	json_object_update(ev, tok);
	json_object_set_new(ev, "verified", json_true());
done:
	if (reason[0] != '\0')
		json_object_set_new(ev, "reason", json_string(reason));
	if ((r = origin_evidence_ref(ev, origin)) != 0)
		goto fail;
	*evidence = ev;
	ev = NULL;
	r = 0;
fail:
	json_decref(ev);
	json_decref(tok);
	json_decref(bs);
	return r;
}
