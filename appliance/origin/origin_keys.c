/* A build system's OIDC settings and its issuer's keys (docs/origin.md):
 * the JWK Set (RFC 7517) an ID token's signature is checked against,
 * each key's one algorithm (RFC 7518 3.1). */
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

static const char *const origin_fields[] = {
	"repositoryUrl", "commitId", "branchName", "buildUrl", "buildId", NULL
};

/* --- keys ------------------------------------------------------------ */

/* The one algorithm a key verifies (RFC 7518 3.1): its own "alg" when it
 * names one, else what its type and curve imply. NULL: not a key Signet
 * accepts for ID tokens. */
const char *
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
