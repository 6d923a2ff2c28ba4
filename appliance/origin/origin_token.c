/* Origin verification (docs/origin.md).
 *
 * An ID token is a JWS in compact serialization (RFC 7515 7.1) carrying
 * JWT claims (RFC 7519). The signature is libjose's business; this file
 * splits the compact form (through the bounded reader), decides which
 * key and which algorithm may be used, and checks the claims as OIDC
 * Core 3.1.3.7 asks of a relying party. The algorithm is that of the
 * key, never the token's own choice: the header's "alg" must name it
 * (RFC 8725 3.1), and "none" and HMAC are refused outright. */
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
#include "rd.h"
#include "signet_limits.h"

/* --- presets: which claim vouches for which origin field ------------- */

enum origin_match {
	OM_REPO,	/* repositoryUrlPrefix + claim */
	OM_REF,		/* refs/heads/X is the branch X */
	OM_GITLAB_REF,	/* ref with ref_type: branch X, tag refs/tags/X */
	OM_HEX,		/* commit ids: case does not matter */
	OM_EXACT,
};

struct origin_map {
	const char *field;
	const char *claim;
	enum origin_match match;
};

/* GitHub Actions' OIDC token claims (docs.github.com, "About security
 * hardening with OpenID Connect"). */
static const struct origin_map origin_github[] = {
	{ "repositoryUrl", "repository", OM_REPO },
	{ "branchName", "ref", OM_REF },
	{ "commitId", "sha", OM_HEX },
	{ "buildId", "run_id", OM_EXACT },
	{ NULL, NULL, OM_EXACT },
};
static const char *const origin_github_recorded[] = {
	"sub", "workflow_ref", "run_attempt", "event_name", NULL
};

/* GitLab CI's id_tokens claims (docs.gitlab.com, "OpenID Connect (OIDC)
 * Authentication Using ID Tokens"). */
static const struct origin_map origin_gitlab[] = {
	{ "repositoryUrl", "project_path", OM_REPO },
	{ "branchName", "ref", OM_GITLAB_REF },
	{ "commitId", "sha", OM_HEX },
	{ "buildId", "pipeline_id", OM_EXACT },
	{ NULL, NULL, OM_EXACT },
};
static const char *const origin_gitlab_recorded[] = {
	"sub", "ref_type", "ref_protected", "pipeline_source", NULL
};

static const char *const origin_fields[] = {
	"repositoryUrl", "commitId", "branchName", "buildUrl", "buildId", NULL
};

static const char *const origin_none_recorded[] = { "sub", NULL };

static enum origin_match
origin_generic_match(const char *field)
{
	if (strcmp(field, "repositoryUrl") == 0)
		return OM_REPO;
	if (strcmp(field, "branchName") == 0)
		return OM_REF;
	if (strcmp(field, "commitId") == 0)
		return OM_HEX;
	return OM_EXACT;
}

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

static int origin_fail(char *buf, size_t len, int err, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int
origin_fail(char *buf, size_t len, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, len, fmt, ap);
	va_end(ap);
	origin_utf8_trim(buf);
	return err;
}

/* A value from a token or a submission, fit for a message and a log
 * line: at most max bytes cut at a character boundary, control
 * characters shown as '?'. */
static const char *
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

static int
origin_printable(const char *s, size_t max)
{
	size_t i;

	for (i = 0; s[i] != '\0'; i++)
		if (i >= max || (unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return 0;
	return i > 0;
}

static int
origin_https_url(const char *s)
{
	return strncmp(s, "https://", 8) == 0 && s[8] != '\0' &&
	    origin_printable(s, SIGNET_MAX_ISSUER) && strchr(s, ' ') == NULL;
}

static int
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

/* --- keys ------------------------------------------------------------ */

/* The one algorithm a key verifies (RFC 7518 3.1): its own "alg" when it
 * names one, else what its type and curve imply. NULL: not a key Signet
 * accepts for ID tokens. */
static const char *
origin_key_alg(const json_t *jwk)
{
	const char *kty = json_string_value(json_object_get(jwk, "kty"));
	const char *crv = json_string_value(json_object_get(jwk, "crv"));
	const char *alg = json_string_value(json_object_get(jwk, "alg"));
	const char *implied = NULL;

	if (kty == NULL)
		return NULL;
	if (strcmp(kty, "RSA") == 0) {
		if (alg == NULL)
			return "RS256";
		if (strcmp(alg, "RS256") == 0 || strcmp(alg, "RS384") == 0 ||
		    strcmp(alg, "RS512") == 0)
			return alg;
		return NULL;
	}
	if (strcmp(kty, "EC") == 0 && crv != NULL) {
		/* RFC 7518 3.4: each ES algorithm has its curve */
		if (strcmp(crv, "P-256") == 0)
			implied = "ES256";
		else if (strcmp(crv, "P-384") == 0)
			implied = "ES384";
		else if (strcmp(crv, "P-521") == 0)
			implied = "ES512";
		if (implied != NULL && alg != NULL && strcmp(alg, implied) != 0)
			return NULL;
		return implied;
	}
	/* "oct" would be a shared secret (HMAC), OKP is not supported */
	return NULL;
}

static int
origin_check_key(const json_t *k, size_t i, json_t *kids, char *err,
    size_t errlen)
{
	static const char *const private_params[] = {
		"d", "p", "q", "dp", "dq", "qi", "oth", "k", NULL
	};
	const char *kid = json_string_value(json_object_get(k, "kid"));
	const char *kty = json_string_value(json_object_get(k, "kty"));
	const char *use = json_string_value(json_object_get(k, "use"));
	const json_t *ops = json_object_get(k, "key_ops"), *e;
	EVP_PKEY *pk = NULL;
	size_t j;
	int r = SIGNET_ERR_INVALID, verify = 0;

	if (!json_is_object(k))
		return origin_fail(err, errlen, r, "jwks: key %zu is not an "
		    "object", i);
	if (kid == NULL || !origin_printable(kid, SIGNET_MAX_JWK_KID))
		return origin_fail(err, errlen, r, "jwks: key %zu needs a "
		    "\"kid\" (1-%d printable characters): tokens name their "
		    "key by it", i, SIGNET_MAX_JWK_KID);
	for (j = 0; private_params[j] != NULL; j++)
		if (json_object_get(k, private_params[j]) != NULL)
			return origin_fail(err, errlen, r, "jwks: key '%s' "
			    "holds private or secret material (\"%s\"); give "
			    "the issuer's public keys only", kid,
			    private_params[j]);
	if (json_object_get(kids, kid) != NULL)
		return origin_fail(err, errlen, r, "jwks: kid '%s' is given "
		    "twice", kid);
	json_object_set_new(kids, kid, json_true());
	if (kty == NULL || origin_key_alg(k) == NULL)
		return origin_fail(err, errlen, r, "jwks: key '%s': kty must "
		    "be RSA (alg RS256, RS384, RS512) or EC on P-256, P-384 "
		    "or P-521 with a matching ES alg", kid);
	/* RFC 7517 4.2, 4.3: a key meant for something else is not ours */
	if (use != NULL && strcmp(use, "sig") != 0)
		return origin_fail(err, errlen, r, "jwks: key '%s' has use "
		    "\"%s\"; ID tokens need \"sig\"", kid, use);
	if (ops != NULL) {
		if (!json_is_array(ops))
			return origin_fail(err, errlen, r, "jwks: key '%s': "
			    "key_ops must be a list", kid);
		json_array_foreach(ops, j, e)
			if (json_is_string(e) && strcmp(json_string_value(e),
			    "verify") == 0)
				verify = 1;
		if (!verify)
			return origin_fail(err, errlen, r, "jwks: key '%s': "
			    "key_ops does not allow \"verify\"", kid);
	}
	if ((pk = jose_openssl_jwk_to_EVP_PKEY(NULL, k)) == NULL)
		return origin_fail(err, errlen, r, "jwks: key '%s' is not a "
		    "valid %s public key", kid, kty);
	if (strcmp(kty, "RSA") == 0 && EVP_PKEY_get_bits(pk) <
	    SIGNET_MIN_RSA_BITS) {
		r = origin_fail(err, errlen, r, "jwks: key '%s' has %d bits; "
		    "at least %d are required", kid, EVP_PKEY_get_bits(pk),
		    SIGNET_MIN_RSA_BITS);
		goto out;
	}
	r = 0;
out:
	EVP_PKEY_free(pk);
	return r;
}

static int
origin_check_jwks(const json_t *jwks, char *err, size_t errlen)
{
	const json_t *keys = json_object_get(jwks, "keys"), *k;
	json_t *kids = NULL;
	char *text = NULL;
	size_t i;
	int r = SIGNET_ERR_INVALID;

	if (!json_is_object(jwks) || !json_is_array(keys) ||
	    json_array_size(keys) == 0)
		return origin_fail(err, errlen, r, "jwks must be a JSON Web Key "
		    "Set: {\"keys\": [...]} (RFC 7517 5) with at least one key");
	if (json_array_size(keys) > SIGNET_MAX_JWKS_KEYS)
		return origin_fail(err, errlen, SIGNET_ERR_TOO_LARGE, "jwks "
		    "has %zu keys; at most %d are accepted",
		    json_array_size(keys), SIGNET_MAX_JWKS_KEYS);
	if ((text = json_dumps(jwks, JSON_COMPACT)) == NULL)
		return SIGNET_ERR_NOMEM;
	if (strlen(text) > SIGNET_MAX_JWKS) {
		r = origin_fail(err, errlen, SIGNET_ERR_TOO_LARGE, "jwks is "
		    "larger than %d bytes", SIGNET_MAX_JWKS);
		goto out;
	}
	if ((kids = json_object()) == NULL) {
		r = SIGNET_ERR_NOMEM;
		goto out;
	}
	json_array_foreach(keys, i, k)
		if ((r = origin_check_key(k, i, kids, err, errlen)) != 0)
			goto out;
	r = 0;
out:
	json_decref(kids);
	free(text);
	return r;
}

int
origin_check_build_system(const json_t *bs, char *err, size_t errlen)
{
	const char *issuer = json_string_value(json_object_get(bs, "issuer"));
	const char *aud = json_string_value(json_object_get(bs, "audience"));
	const char *preset = json_string_value(json_object_get(bs, "preset"));
	const char *url = json_string_value(json_object_get(bs, "jwksUrl"));
	const char *prefix = json_string_value(json_object_get(bs,
	    "repositoryUrlPrefix"));
	const json_t *jwks = json_object_get(bs, "jwks");
	const json_t *claims = json_object_get(bs, "claims"), *c;
	const char *field;
	char c1[80];
	size_t i;
	int r = SIGNET_ERR_INVALID, known;

	if (preset == NULL || (strcmp(preset, "github") != 0 &&
	    strcmp(preset, "gitlab") != 0 && strcmp(preset, "generic") != 0))
		return origin_fail(err, errlen, r, "preset must be \"github\", "
		    "\"gitlab\" or \"generic\"");
	if (claims != NULL && strcmp(preset, "generic") != 0)
		return origin_fail(err, errlen, r, "claims is the mapping of "
		    "the \"generic\" preset; the %s preset has its own", preset);
	if (claims != NULL) {
		if (!json_is_object(claims) || json_object_size(claims) == 0)
			return origin_fail(err, errlen, r, "claims must map "
			    "origin fields to claim names, e.g. "
			    "{\"commitId\": \"sha\"}");
		json_object_foreach((json_t *)(uintptr_t)claims, field, c) {
			for (known = 0, i = 0; origin_fields[i] != NULL; i++)
				if (strcmp(field, origin_fields[i]) == 0)
					known = 1;
			if (!known)
				return origin_fail(err, errlen, r, "claims: "
				    "'%s' is not an origin field "
				    "(repositoryUrl, commitId, branchName, "
				    "buildUrl, buildId)", origin_clip(field, 64,
				    c1, sizeof(c1)));
			if (!json_is_string(c) || !origin_printable(
			    json_string_value(c), 128))
				return origin_fail(err, errlen, r, "claims: "
				    "%s must name a claim", field);
		}
	}
	if (prefix != NULL && !origin_https_url(prefix))
		return origin_fail(err, errlen, r, "repositoryUrlPrefix must be "
		    "an https:// URL such as https://github.example.com/");
	if (issuer == NULL) {
		if (aud != NULL || jwks != NULL || url != NULL)
			return origin_fail(err, errlen, r, "audience, jwks and "
			    "jwksUrl belong to an issuer; give issuer too");
		return 0;
	}
	/* OIDC Core 2: the issuer is an https URL, compared exactly */
	if (!origin_https_url(issuer))
		return origin_fail(err, errlen, r, "issuer must be the OIDC "
		    "issuer's https:// URL, exactly as its tokens' iss claim "
		    "has it");
	if (aud == NULL || !origin_printable(aud, SIGNET_MAX_AUDIENCE))
		return origin_fail(err, errlen, r, "audience is required with "
		    "an issuer (1-%d printable characters): the aud the build "
		    "system asks its tokens for", SIGNET_MAX_AUDIENCE);
	if (url != NULL && !origin_https_url(url))
		return origin_fail(err, errlen, r, "jwksUrl must be an https:// "
		    "URL");
	if (jwks == NULL)
		return origin_fail(err, errlen, r, "jwks is required with an "
		    "issuer: the appliance is offline, give the issuer's JWKS "
		    "document inline (the jwks_uri of %s/.well-known/"
		    "openid-configuration)", issuer);
	if (strcmp(preset, "generic") == 0 && claims == NULL)
		return origin_fail(err, errlen, r, "the generic preset needs "
		    "claims: which claim vouches for which origin field, e.g. "
		    "{\"commitId\": \"sha\", \"branchName\": \"ref\"}");
	return origin_check_jwks(jwks, err, errlen);
}

/* --- the token --------------------------------------------------------- */

static int
origin_b64url(const uint8_t *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!(isalnum(p[i]) || p[i] == '-' || p[i] == '_'))
			return 0;
	return n > 0;
}

/* A base64url part decoded and parsed as a JSON object: no duplicate
 * names (RFC 7515 4, RFC 7519 4), bounded depth. */
static json_t *
origin_b64_json(const uint8_t *p, size_t n)
{
	size_t need, got;
	char *buf;
	json_t *v;

	if ((need = jose_b64_dec_buf(p, n, NULL, 0)) == SIZE_MAX ||
	    (buf = malloc(need + 1)) == NULL)
		return NULL;
	got = jose_b64_dec_buf(p, n, buf, need);
	v = got == need ? json_loadb(buf, need, JSON_REJECT_DUPLICATES, NULL) :
	    NULL;
	free(buf);
	if (v != NULL && (!json_is_object(v) || !origin_json_depth_ok(v, 0))) {
		json_decref(v);
		v = NULL;
	}
	return v;
}

static const json_t *
origin_find_key(const json_t *bs, const char *kid)
{
	const json_t *keys = json_object_get(json_object_get(bs, "jwks"),
	    "keys"), *k;
	const char *id;
	size_t i;

	json_array_foreach(keys, i, k) {
		id = json_string_value(json_object_get(k, "kid"));
		if (id != NULL && strcmp(id, kid) == 0)
			return k;
	}
	return NULL;
}

/* Verifies the signature with libjose. The key handed over names its
 * algorithm, so libjose too refuses a header that names another. */
static int
origin_signature(const json_t *key, const char *alg, const uint8_t *h,
    size_t hn, const uint8_t *p, size_t pn, const uint8_t *s, size_t sn)
{
	json_t *jwk = NULL, *jws = NULL;
	int r = SIGNET_ERR_FORBIDDEN;

	if ((jwk = json_deep_copy(key)) == NULL ||
	    json_object_set_new(jwk, "alg", json_string(alg)) != 0) {
		r = SIGNET_ERR_NOMEM;
		goto out;
	}
	/* RFC 7515 7.2.2: the flattened JSON form of the same three parts */
	jws = json_pack("{s:s%, s:s%, s:s%}", "protected", (const char *)h, hn,
	    "payload", (const char *)p, pn, "signature", (const char *)s, sn);
	if (jws == NULL) {
		r = SIGNET_ERR_NOMEM;
		goto out;
	}
	if (jose_jws_ver(NULL, jws, NULL, jwk, false))
		r = 0;
out:
	json_decref(jwk);
	json_decref(jws);
	return r;
}

/* A claim as text: strings as they are, integers in decimal (GitHub's
 * run_id and GitLab's pipeline_id are strings, other issuers use
 * numbers). NULL when absent or not usable. */
static const char *
origin_claim_text(const json_t *claims, const char *name, char *buf,
    size_t len)
{
	const json_t *v = json_object_get(claims, name);

	if (json_is_string(v)) {
		if (!origin_printable(json_string_value(v),
		    SIGNET_MAX_CLAIM_VALUE))
			return NULL;
		return json_string_value(v);
	}
	if (json_is_integer(v)) {
		snprintf(buf, len, "%" JSON_INTEGER_FORMAT,
		    json_integer_value(v));
		return buf;
	}
	return NULL;
}

/* --- refs, commits and repository URLs -------------------------------
 *
 * One form each, made in one place: a ref is compared and matched as the
 * full ref (refs/heads/main, refs/tags/v1), a commit id as lowercase hex,
 * a repository URL with only its scheme and host case-folded. Stripping a
 * prefix here and there made "refs/heads/refs/heads/main" the branch
 * main (docs/origin.md, "How values are compared"). */

/* git-check-ref-format(1): what git itself accepts as a ref name. A
 * value git could not have made is nobody's branch or tag. */
static int
origin_ref_valid(const char *ref)
{
	static const char bad[] = " ~^:?*[\\";
	size_t i, n = strlen(ref), comp = 0;

	if (n < 6 || n > SIGNET_MAX_ORIGIN_VALUE ||
	    strncmp(ref, "refs/", 5) != 0)
		return 0;
	if (ref[n - 1] == '/' || ref[n - 1] == '.' || strstr(ref, "..") ||
	    strstr(ref, "//") || strstr(ref, "@{") || strstr(ref, "/.") ||
	    strcmp(ref, "@") == 0)
		return 0;
	for (i = 0; i < n; i++) {
		if ((unsigned char)ref[i] < 0x20 || ref[i] == 0x7f ||
		    strchr(bad, ref[i]) != NULL)
			return 0;
		if (ref[i] == '/')
			comp = i + 1;
		/* no component ends in ".lock" */
		if ((i + 1 == n || ref[i + 1] == '/') && i + 1 - comp >= 5 &&
		    strncmp(ref + i - 4, ".lock", 5) == 0)
			return 0;
	}
	return 1;
}

int
origin_ref_full(const char *name, char *out, size_t len)
{
	int n;

	/* git branch refuses "@" as a branch name (git-check-ref-format
	 * --branch) */
	if (name == NULL || name[0] == '\0' || strcmp(name, "@") == 0)
		return SIGNET_ERR_INVALID;
	/* a value starting with refs/ is a full ref; anything else is the
	 * short name of a branch. A branch whose own name starts with
	 * refs/ is therefore sent as its full ref (refs/heads/refs/...) */
	n = strncmp(name, "refs/", 5) == 0 ? snprintf(out, len, "%s", name) :
	    snprintf(out, len, "refs/heads/%s", name);
	if (n < 0 || (size_t)n >= len)
		return SIGNET_ERR_TOO_LARGE;
	return origin_ref_valid(out) ? 0 : SIGNET_ERR_INVALID;
}

/* The branchName form of a full ref, which origin_ref_full turns back
 * into the same ref: a branch by its short name unless that starts with
 * refs/, anything else as the full ref. */
static const char *
origin_ref_field(const char *full)
{
	if (strncmp(full, "refs/heads/", 11) == 0 &&
	    strncmp(full + 11, "refs/", 5) != 0)
		return full + 11;
	return full;
}

/* The kind and the short name of a full ref, for the evidence. */
static const char *
origin_ref_name(const char *full, const char **type)
{
	if (strncmp(full, "refs/heads/", 11) == 0) {
		*type = "branch";
		return full + 11;
	}
	if (strncmp(full, "refs/tags/", 10) == 0) {
		*type = "tag";
		return full + 10;
	}
	*type = "other";
	return full;
}

/* A commit id: 40 (SHA-1) or 64 (SHA-256) hex digits, in lowercase. */
static int
origin_commit_norm(const char *in, char *out, size_t len)
{
	size_t i, n = strlen(in);

	if ((n != 40 && n != 64) || n >= len)
		return SIGNET_ERR_INVALID;
	for (i = 0; i < n; i++) {
		if (!isxdigit((unsigned char)in[i]))
			return SIGNET_ERR_INVALID;
		out[i] = (char)tolower((unsigned char)in[i]);
	}
	out[n] = '\0';
	return 0;
}

/* A repository URL in the one form that is compared: scheme://host/path
 * with scheme and host (RFC 3986 6.2.2.1) in lowercase, one trailing "/"
 * and then one ".git" dropped. The path keeps its case: on a server
 * that tells Owner/App from owner/app they are two repositories. A URL
 * that could be read two ways is no repository URL at all: user
 * information (https://github.com@evil.example/...; ssh's "git@" only),
 * "." or ".." segments, an empty segment, percent-encoding, a query, a
 * fragment, a backslash, white space or control characters. */
static int
origin_url_norm(const char *in, char *out, size_t len)
{
	const char *p, *auth, *path, *at;
	size_t n, i, slen;

	if (in == NULL || (p = strstr(in, "://")) == NULL || p == in)
		return SIGNET_ERR_INVALID;
	slen = (size_t)(p - in);
	for (i = 0; i < slen; i++)
		if (!isalpha((unsigned char)in[i]) && (i == 0 ||
		    !(isdigit((unsigned char)in[i]) || in[i] == '+' ||
		    in[i] == '-' || in[i] == '.')))
			return SIGNET_ERR_INVALID;
	for (i = 0; in[i] != '\0'; i++)
		if ((unsigned char)in[i] <= 0x20 || in[i] == 0x7f ||
		    strchr("%?#\\", in[i]) != NULL)
			return SIGNET_ERR_INVALID;
	auth = p + 3;
	if ((path = strchr(auth, '/')) == NULL)
		path = auth + strlen(auth);
	if (path == auth)
		return SIGNET_ERR_INVALID;
	if ((at = memchr(auth, '@', (size_t)(path - auth))) != NULL &&
	    !(slen == 3 && strncasecmp(in, "ssh", 3) == 0 &&
	    at == auth + 3 && strncmp(auth, "git@", 4) == 0))
		return SIGNET_ERR_INVALID;
	if (at != NULL && (at + 1 == path ||
	    memchr(at + 1, '@', (size_t)(path - at - 1)) != NULL))
		return SIGNET_ERR_INVALID;
	if (strlen(in) >= len)
		return SIGNET_ERR_TOO_LARGE;
	snprintf(out, len, "%s", in);
	for (i = 0; i < (size_t)(path - in); i++)
		out[i] = (char)tolower((unsigned char)out[i]);
	n = strlen(out);
	if (n > (size_t)(path - in) + 1 && out[n - 1] == '/')
		out[--n] = '\0';
	if (n > (size_t)(path - in) + 5 && strcmp(out + n - 4, ".git") == 0)
		out[n -= 4] = '\0';
	/* segments: none empty, none "." or ".." */
	for (p = out + (path - in); *p == '/'; ) {
		const char *e = strchr(p + 1, '/');
		size_t sl = e ? (size_t)(e - p - 1) : strlen(p + 1);

		if ((sl == 0 && e != NULL) || (sl == 1 && p[1] == '.') ||
		    (sl == 2 && p[1] == '.' && p[2] == '.'))
			return SIGNET_ERR_INVALID;
		if (e == NULL)
			break;
		p = e;
	}
	return 0;
}

int
origin_check_repository_url(const char *url, char *err, size_t errlen)
{
	char buf[SIGNET_MAX_ORIGIN_VALUE + 1];

	if (url == NULL || origin_url_norm(url, buf, sizeof(buf)) != 0)
		return origin_fail(err, errlen, SIGNET_ERR_INVALID, "'%s' is "
		    "not a plain repository URL (scheme://host/path, without "
		    "user information, \".\" or \"..\" segments, "
		    "percent-encoding, query or fragment), e.g. "
		    "https://github.com/owner/name", url ? url : "(none)");
	return 0;
}

/* The value the token vouches for, in the form the origin field has. */
static int
origin_vouched(const json_t *bs, const json_t *claims,
    const struct origin_map *m, const char *v, char *out, size_t len)
{
	const char *prefix = json_string_value(json_object_get(bs,
	    "repositoryUrlPrefix"));
	const char *preset = json_string_value(json_object_get(bs, "preset"));
	char tbuf[32], norm[SIGNET_MAX_CLAIM_VALUE + 256];
	const char *type;
	int n;

	switch (m->match) {
	case OM_REPO:
		if (prefix == NULL)
			prefix = strcmp(preset, "github") == 0 ?
			    "https://github.com/" : strcmp(preset, "gitlab") ==
			    0 ? "https://gitlab.com/" : "";
		n = snprintf(out, len, "%s%s%s", prefix, prefix[0] != '\0' &&
		    prefix[strlen(prefix) - 1] != '/' ? "/" : "", v);
		if (n >= 0 && (size_t)n < len)
			return origin_url_norm(out, norm, sizeof(norm));
		break;
	case OM_GITLAB_REF:
		/* GitLab's ref is the bare name, whatever it looks like;
		 * ref_type says what it is */
		type = origin_claim_text(claims, "ref_type", tbuf, sizeof(tbuf));
		if (type != NULL && strcmp(type, "tag") == 0)
			n = snprintf(out, len, "refs/tags/%s", v);
		else if (type != NULL && strcmp(type, "branch") == 0)
			n = snprintf(out, len, "refs/heads/%s", v);
		else
			return SIGNET_ERR_INVALID;
		if (n >= 0 && (size_t)n < len && !origin_ref_valid(out))
			return SIGNET_ERR_INVALID;
		break;
	case OM_REF:
		/* GitHub's ref is the full ref; a generic issuer's may be a
		 * branch's short name */
		return origin_ref_full(v, out, len);
	case OM_HEX:
		return origin_commit_norm(v, out, len);
	default:
		n = snprintf(out, len, "%s", v);
	}
	return n < 0 || (size_t)n >= len ? SIGNET_ERR_TOO_LARGE : 0;
}

/* vouched is in the form origin_vouched makes; given is the
 * submitter's, normalised here the same way. */
static int
origin_same(enum origin_match m, const char *vouched, const char *given)
{
	char a[SIGNET_MAX_CLAIM_VALUE + 256], b[SIGNET_MAX_ORIGIN_VALUE + 1];

	switch (m) {
	case OM_REPO:
		return origin_url_norm(vouched, a, sizeof(a)) == 0 &&
		    origin_url_norm(given, b, sizeof(b)) == 0 &&
		    strcmp(a, b) == 0;
	case OM_REF:
	case OM_GITLAB_REF:
		return origin_ref_full(given, b, sizeof(b)) == 0 &&
		    strcmp(vouched, b) == 0;
	case OM_HEX:
		return origin_commit_norm(given, b, sizeof(b)) == 0 &&
		    strcmp(vouched, b) == 0;
	default:
		return strcmp(vouched, given) == 0;
	}
}

/* The claims against the origin fields, and what is kept as evidence. */
static int
origin_match_claims(const json_t *bs, const json_t *claims,
    const json_t *origin, json_t *filled, json_t *used, char *reason,
    size_t rlen)
{
	const char *preset = json_string_value(json_object_get(bs, "preset"));
	const struct origin_map *map = NULL;
	struct origin_map generic[8];
	const char *const *recorded = origin_none_recorded;
	const char *field, *v, *given;
	char nbuf[32], vouched[SIGNET_MAX_CLAIM_VALUE + 256], c1[128], c2[128];
	const json_t *c;
	size_t i, n = 0;
	int r = SIGNET_ERR_FORBIDDEN;

	if (strcmp(preset, "github") == 0) {
		map = origin_github;
		recorded = origin_github_recorded;
	} else if (strcmp(preset, "gitlab") == 0) {
		map = origin_gitlab;
		recorded = origin_gitlab_recorded;
	} else {
		json_object_foreach(json_object_get(bs, "claims"), field, c) {
			if (n == sizeof(generic) / sizeof(generic[0]) - 1)
				break;
			generic[n].field = field;
			generic[n].claim = json_string_value(c);
			generic[n].match = origin_generic_match(field);
			n++;
		}
		generic[n].field = NULL;
		map = generic;
	}
	for (i = 0; map[i].field != NULL; i++) {
		given = json_string_value(json_object_get(origin, map[i].field));
		v = origin_claim_text(claims, map[i].claim, nbuf, sizeof(nbuf));
		if (v == NULL) {
			if (given == NULL)
				continue;
			return origin_fail(reason, rlen, r, "the ID token has no "
			    "usable '%s' claim to vouch for origin.%s", 
			    map[i].claim, map[i].field);
		}
		if (origin_vouched(bs, claims, &map[i], v, vouched,
		    sizeof(vouched)) != 0)
			return origin_fail(reason, rlen, r, "the ID token's '%s' "
			    "claim cannot be read as origin.%s", map[i].claim,
			    map[i].field);
		json_object_set_new(used, map[i].claim, json_string(v));
		if (given == NULL) {
			/* vouched for and left out: the token says it, in
			 * the form a submitter would have sent */
			json_object_set_new(filled, map[i].field,
			    json_string(map[i].match == OM_REF ||
			    map[i].match == OM_GITLAB_REF ?
			    origin_ref_field(vouched) : vouched));
		} else if (!origin_same(map[i].match, vouched, given)) {
			return origin_fail(reason, rlen, r, "origin.%s is '%s' "
			    "but the ID token's '%s' claim says '%s'",
			    map[i].field, origin_clip(given, 120, c1,
			    sizeof(c1)), map[i].claim, origin_clip(vouched,
			    120, c2, sizeof(c2)));
		}
	}
	for (i = 0; recorded[i] != NULL; i++)
		if ((v = origin_claim_text(claims, recorded[i], nbuf,
		    sizeof(nbuf))) != NULL)
			json_object_set_new(used, recorded[i], json_string(v));
	return 0;
}

/* RFC 7519 4.1.4-4.1.6 with the leeway of SIGNET_ORIGIN_CLOCK_SKEW_S;
 * OIDC Core 2 makes exp and iat required. */
static int
origin_times(const json_t *claims, time_t now, char *reason, size_t rlen)
{
	const json_t *exp = json_object_get(claims, "exp");
	const json_t *nbf = json_object_get(claims, "nbf");
	const json_t *iat = json_object_get(claims, "iat");
	double t = (double)now, skew = SIGNET_ORIGIN_CLOCK_SKEW_S;
	int r = SIGNET_ERR_FORBIDDEN;

	if (!json_is_number(exp) || !json_is_number(iat) ||
	    (nbf != NULL && !json_is_number(nbf)))
		return origin_fail(reason, rlen, r, "the ID token needs numeric "
		    "exp and iat claims (and nbf, when given, numeric)");
	if (t >= json_number_value(exp) + skew)
		return origin_fail(reason, rlen, r, "the ID token expired %.0f s "
		    "ago (exp); fetch a fresh one", t - json_number_value(exp));
	if (nbf != NULL && t < json_number_value(nbf) - skew)
		return origin_fail(reason, rlen, r, "the ID token is not valid "
		    "yet (nbf is %.0f s ahead; check the clocks)",
		    json_number_value(nbf) - t);
	if (json_number_value(iat) > t + skew)
		return origin_fail(reason, rlen, r, "the ID token was issued in "
		    "the future (iat is %.0f s ahead; check the clocks)",
		    json_number_value(iat) - t);
	return 0;
}

/* RFC 7519 4.1.3: aud is one string or a list of them */
static int
origin_audience(const json_t *claims, const char *want)
{
	const json_t *aud = json_object_get(claims, "aud"), *e;
	size_t i;

	if (json_is_string(aud))
		return strcmp(json_string_value(aud), want) == 0;
	json_array_foreach(aud, i, e)
		if (json_is_string(e) && strcmp(json_string_value(e), want) == 0)
			return 1;
	return 0;
}

int
origin_verify_token(const json_t *bs, const char *token, json_t *origin,
    time_t now, json_t **evidence, char *reason, size_t rlen)
{
	const char *issuer = json_string_value(json_object_get(bs, "issuer"));
	const char *aud = json_string_value(json_object_get(bs, "audience"));
	const char *alg, *kid, *key_alg, *iss;
	const uint8_t *h, *p, *s;
	char c1[32], c2[80], c3[128];
	size_t hn, pn, sn, len;
	json_t *hdr = NULL, *claims = NULL, *used = NULL, *filled = NULL;
	const json_t *key;
	struct rd rd;
	int r = SIGNET_ERR_FORBIDDEN;

	*evidence = NULL;
	reason[0] = '\0';
	if (issuer == NULL || aud == NULL)
		return origin_fail(reason, rlen, SIGNET_ERR_INTERNAL, "the build "
		    "system has no issuer");
	len = strlen(token);
	if (len > SIGNET_MAX_ID_TOKEN)
		return origin_fail(reason, rlen, r, "the ID token is longer "
		    "than %d bytes", SIGNET_MAX_ID_TOKEN);
	/* RFC 7515 7.1: three base64url parts; an empty signature is an
	 * unsecured JWS (RFC 7519 6) */
	rd_init(&rd, token, len);
	if (rd_until(&rd, '.', len, &h, &hn) != 0 ||
	    rd_until(&rd, '.', len, &p, &pn) != 0 ||
	    rd_rest(&rd, len, &s, &sn) != 0 || rd_end(&rd) != 0 ||
	    !origin_b64url(h, hn) || !origin_b64url(p, pn) ||
	    !origin_b64url(s, sn)) {
		r = origin_fail(reason, rlen, r, "the ID token is not a signed "
		    "JWT in compact form (three base64url parts)");
		goto out;
	}
	if ((hdr = origin_b64_json(h, hn)) == NULL ||
	    (alg = json_string_value(json_object_get(hdr, "alg"))) == NULL) {
		r = origin_fail(reason, rlen, r, "the ID token's header is not "
		    "a JSON object with an alg");
		goto out;
	}
	/* RFC 8725 2.1, 3.1: "none" and a shared-secret MAC cannot vouch
	 * for anyone; an HS token "keyed" with a public key is the classic
	 * confusion, refused before any key is looked at */
	if (strcasecmp(alg, "none") == 0 || strncasecmp(alg, "HS", 2) == 0) {
		r = origin_fail(reason, rlen, r, "the ID token's alg '%s' is "
		    "refused: only public-key signatures (RS256, ES256, ...) "
		    "are accepted", origin_clip(alg, 16, c1, sizeof(c1)));
		goto out;
	}
	/* RFC 7515 4.1.11: no extension is understood here */
	if (json_object_get(hdr, "crit") != NULL) {
		r = origin_fail(reason, rlen, r, "the ID token's header has "
		    "crit extensions, which are not supported");
		goto out;
	}
	if ((kid = json_string_value(json_object_get(hdr, "kid"))) == NULL) {
		r = origin_fail(reason, rlen, r, "the ID token's header names no "
		    "key (kid)");
		goto out;
	}
	if ((key = origin_find_key(bs, kid)) == NULL) {
		r = origin_fail(reason, rlen, r, "the ID token is signed with "
		    "key '%s', which is not in build system '%s''s JWKS; "
		    "update its jwks when the issuer rotates keys",
		    origin_clip(kid, 64, c2, sizeof(c2)),
		    json_string_value(json_object_get(bs, "name")));
		goto out;
	}
	if ((key_alg = origin_key_alg(key)) == NULL ||
	    strcmp(alg, key_alg) != 0) {
		r = origin_fail(reason, rlen, r, "the ID token's alg '%s' is "
		    "not the algorithm of key '%s' (%s)", origin_clip(alg, 16,
		    c1, sizeof(c1)), origin_clip(kid, 64, c2, sizeof(c2)),
		    key_alg ? key_alg : "unusable");
		goto out;
	}
	if ((r = origin_signature(key, key_alg, h, hn, p, pn, s, sn)) != 0) {
		if (r == SIGNET_ERR_FORBIDDEN)
			origin_fail(reason, rlen, r, "the ID token's signature "
			    "does not verify with key '%s'", origin_clip(kid,
			    64, c2, sizeof(c2)));
		goto out;
	}
	r = SIGNET_ERR_FORBIDDEN;
	if ((claims = origin_b64_json(p, pn)) == NULL) {
		r = origin_fail(reason, rlen, r, "the ID token's claims are not "
		    "a JSON object");
		goto out;
	}
	/* OIDC Core 3.1.3.7 steps 2-3, 9-10 */
	iss = json_string_value(json_object_get(claims, "iss"));
	if (iss == NULL || strcmp(iss, issuer) != 0) {
		r = origin_fail(reason, rlen, r, "the ID token's issuer "
		    "'%s' is not '%s'", origin_clip(iss, 120, c3, sizeof(c3)),
		    issuer);
		goto out;
	}
	if (!origin_audience(claims, aud)) {
		r = origin_fail(reason, rlen, r, "the ID token is not for "
		    "audience '%s' (aud); request it with that audience", aud);
		goto out;
	}
	if ((r = origin_times(claims, now, reason, rlen)) != 0)
		goto out;
	/* fields left out are gathered aside: origin changes only once it
	 * all verifies */
	if ((used = json_object()) == NULL || (filled = json_object()) == NULL) {
		r = SIGNET_ERR_NOMEM;
		goto out;
	}
	if ((r = origin_match_claims(bs, claims, origin, filled, used, reason,
	    rlen)) != 0)
		goto out;
	if ((*evidence = json_pack("{s:s, s:s, s:O}", "keyId", kid,
	    "algorithm", key_alg, "claims", used)) == NULL) {
		r = SIGNET_ERR_NOMEM;
		goto out;
	}
	json_object_update(origin, filled);
	r = 0;
out:
	json_decref(hdr);
	json_decref(claims);
	json_decref(used);
	json_decref(filled);
	return r;
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

/* --- rules ----------------------------------------------------------- */

/* A pattern in the form of the refs it matches: "refs/..." as written,
 * anything else a pattern of branch names under refs/heads/. */
static void
origin_pattern_full(const char *pat, char *out, size_t len)
{
	snprintf(out, len, "%s%s", strncmp(pat, "refs/", 5) == 0 ? "" :
	    "refs/heads/", pat);
}

int
origin_check_branch_patterns(const json_t *patterns, char *err,
    size_t errlen)
{
	const json_t *e;
	size_t i;

	if (patterns == NULL)
		return 0;
	if (!json_is_array(patterns) ||
	    json_array_size(patterns) > SIGNET_MAX_ALLOWED_BRANCHES)
		return origin_fail(err, errlen, SIGNET_ERR_INVALID,
		    "allowedBranches must be a list of at most %d patterns",
		    SIGNET_MAX_ALLOWED_BRANCHES);
	json_array_foreach(patterns, i, e) {
		const char *pat = json_string_value(e);
		char full[SIGNET_MAX_BRANCH_PATTERN + 16];

		if (!json_is_string(e) || !origin_printable(pat,
		    SIGNET_MAX_BRANCH_PATTERN) || strchr(pat, ' ') != NULL)
			return origin_fail(err, errlen, SIGNET_ERR_INVALID,
			    "allowedBranches entry %zu must be a pattern of "
			    "1-%d printable characters without spaces (main, "
			    "release/*, refs/tags/v*)", i,
			    SIGNET_MAX_BRANCH_PATTERN);
		if (strstr(pat, "**") != NULL)
			return origin_fail(err, errlen, SIGNET_ERR_INVALID,
			    "allowedBranches entry '%s': '**' is not "
			    "supported; '*' matches within one part of a "
			    "name, so list each depth (release/*, "
			    "release/*/*)", pat);
		origin_pattern_full(pat, full, sizeof(full));
		if (full[strlen(full) - 1] == '/' || strstr(full, "//") ||
		    strstr(full, "..") || strstr(full, "/.") ||
		    strcmp(full, "refs/") == 0)
			return origin_fail(err, errlen, SIGNET_ERR_INVALID,
			    "allowedBranches entry '%s' can match no git ref "
			    "(empty part, '..', a part starting with '.', or a "
			    "trailing '/')", pat);
	}
	return 0;
}

/* "a, b, c" of a list of strings, cut to fit */
static void
origin_list_text(const json_t *a, char *out, size_t len)
{
	const json_t *e;
	size_t i, used = 0;
	int n;

	out[0] = '\0';
	json_array_foreach(a, i, e) {
		n = snprintf(out + used, len - used, "%s%s", i ? ", " : "",
		    json_string_value(e));
		if (n < 0 || (size_t)n >= len - used) {
			/* what does not fit is cut off where it can be */
			out[used] = '\0';
			snprintf(out + used, len - used, "%s", len - used > 5 ?
			    ", ..." : "");
			break;
		}
		used += (size_t)n;
	}
}

int
origin_rules(const json_t *project, const json_t *policy,
    const json_t *origin, const json_t *evidence, char *msg, size_t len)
{
	const char *pslug = json_string_value(json_object_get(policy, "slug"));
	const char *prj = json_string_value(json_object_get(project, "slug"));
	const char *repo = json_string_value(json_object_get(origin,
	    "repositoryUrl"));
	const char *branch = json_string_value(json_object_get(origin,
	    "branchName"));
	const char *why = json_string_value(json_object_get(evidence,
	    "reason"));
	const json_t *urls = json_object_get(project, "repositoryUrls");
	const json_t *pats = json_object_get(policy, "allowedBranches"), *e;
	const char *evref = json_string_value(json_object_get(evidence, "ref"));
	char list[160], a[SIGNET_MAX_ORIGIN_VALUE + 16];
	char b[SIGNET_MAX_ORIGIN_VALUE + 16], c1[128], c2[128];
	size_t i;
	int ok;

	msg[0] = '\0';
	if (json_is_true(json_object_get(policy, "requireVerifiedOrigin")) &&
	    !json_is_true(json_object_get(evidence, "verified")))
		return origin_fail(msg, len, SIGNET_ERR_ORIGIN_RULE, "signing "
		    "policy %s/%s requires verified origin (requireVerifiedOrigin)"
		    " and this origin is not verified: %s. Submit as a trusted "
		    "build system's CI identity (client certificate), with its "
		    "issuer's ID token where it has one", prj, pslug,
		    why ? why : "no evidence recorded");
	if (json_array_size(urls) > 0) {
		ok = 0;
		if (repo != NULL && origin_url_norm(repo, a, sizeof(a)) != 0)
			return origin_fail(msg, len, SIGNET_ERR_ORIGIN_RULE,
			    "project %s accepts artifacts from its repositories "
			    "only and this origin's repositoryUrl '%s' is not a "
			    "plain repository URL (user information, \".\" or "
			    "\"..\" segments, percent-encoding, a query or a "
			    "fragment). Send the repository's URL as the "
			    "project lists it", prj, origin_clip(repo, 120, c1,
			    sizeof(c1)));
		json_array_foreach(urls, i, e)
			if (repo != NULL && origin_url_norm(json_string_value(e),
			    b, sizeof(b)) == 0 && strcmp(a, b) == 0)
				ok = 1;
		if (!ok) {
			origin_list_text(urls, list, sizeof(list));
			return origin_fail(msg, len, SIGNET_ERR_ORIGIN_RULE,
			    "project %s accepts artifacts from its repositories "
			    "only (repositoryUrls: %s) and this origin's "
			    "repositoryUrl is %s%s%s. Build from one of them, "
			    "or ask an administrator to add the repository to "
			    "the project", prj, list, repo ? "'" : "",
			    repo ? origin_clip(repo, 120, c1, sizeof(c1)) :
			    "not given", repo ? "'" : "");
		}
	}
	if (json_array_size(pats) > 0) {
		ok = 0;
		if (branch != NULL && origin_ref_full(branch, a,
		    sizeof(a)) != 0)
			return origin_fail(msg, len, SIGNET_ERR_ORIGIN_RULE,
			    "signing policy %s/%s signs builds of allowed "
			    "branches and tags only and this origin's "
			    "branchName '%s' is not a git ref name "
			    "(git-check-ref-format). Send a branch's short "
			    "name or the full ref", prj, pslug,
			    origin_clip(branch, 120, c1, sizeof(c1)));
		/* the evidence and the data it vouches for name one ref */
		if (branch != NULL && evref != NULL && strcmp(evref, a) != 0)
			return origin_fail(msg, len, SIGNET_ERR_ORIGIN_RULE,
			    "signing policy %s/%s: this origin's branchName "
			    "'%s' is not the ref its evidence vouches for; "
			    "submit the build again", prj, pslug,
			    origin_clip(branch, 120, c1, sizeof(c1)));
		/* the full ref against full-ref patterns, FNM_PATHNAME: '*'
		 * stays within one part, so "main" is refs/heads/main only
		 * and "refs/tags/v*" takes no branch (docs/origin.md) */
		json_array_foreach(pats, i, e) {
			origin_pattern_full(json_string_value(e), b, sizeof(b));
			if (branch != NULL && fnmatch(b, a, FNM_PATHNAME) == 0)
				ok = 1;
		}
		if (!ok) {
			origin_list_text(pats, list, sizeof(list));
			return origin_fail(msg, len, SIGNET_ERR_ORIGIN_RULE,
			    "signing policy %s/%s signs builds of these branches "
			    "and tags only (allowedBranches: %s) and this "
			    "origin's branchName is %s%s%s%s%s%s. Build from an "
			    "allowed branch or tag, or change the policy's "
			    "allowedBranches", prj, pslug, list,
			    branch ? "'" : "", branch ? origin_clip(branch, 120,
			    c1, sizeof(c1)) : "not given", branch ? "'" : "",
			    branch ? " (ref " : "", branch ? origin_clip(a, 120,
			    c2, sizeof(c2)) : "", branch ? ")" : "");
		}
	}
	return 0;
}
