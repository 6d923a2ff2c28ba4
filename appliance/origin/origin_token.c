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
#include "origin_int.h"
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
