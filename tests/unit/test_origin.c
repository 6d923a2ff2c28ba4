/* Origin verification (appliance/origin/origin.c): ID tokens signed by RSA and EC
 * keys made here with libjose, the refusals RFC 8725 asks for, claims
 * against origin fields, build system checks and the policy rules. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jose/b64.h>
#include <jose/jwk.h>
#include <jose/jws.h>
#include <jose/openssl.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "origin.h"
#include "signet_limits.h"

#define NOW ((time_t)1767225600)	/* 2026-01-01T00:00:00Z */
#define ISSUER "https://token.actions.githubusercontent.com"
#define SHA "0123456789abcdef0123456789abcdef01234567"

struct fx {
	json_t *rsa;		/* private JWKs, kid set */
	json_t *ec;
	json_t *bs;		/* build system: github preset, both keys */
	json_t *origin;		/* what a CI job submits */
};

static json_t *
gen_key(const char *alg, const char *kid)
{
	json_t *k = json_pack("{s:s}", "alg", alg);

	assert_non_null(k);
	assert_true(jose_jwk_gen(NULL, k));
	json_object_set_new(k, "kid", json_string(kid));
	return k;
}

static json_t *
pub_of(const json_t *priv)
{
	json_t *p = json_deep_copy(priv);

	assert_true(jose_jwk_pub(NULL, p));
	/* the issuer's JWKS: keys for verifying */
	json_object_del(p, "key_ops");
	return p;
}

/* A compact JWS of claims, header {alg, kid} (kid omitted when NULL),
 * signed by jwk. */
static char *
make_token(const json_t *jwk, const char *alg, const char *kid,
    const json_t *claims)
{
	json_t *jws, *sig;
	char *payload, *out = NULL;
	const char *p, *pl, *s;

	payload = json_dumps(claims, JSON_COMPACT);
	assert_non_null(payload);
	jws = json_pack("{s:o}", "payload", jose_b64_enc(payload,
	    strlen(payload)));
	sig = json_pack("{s:{s:s}}", "protected", "alg", alg);
	if (kid != NULL)
		json_object_set_new(json_object_get(sig, "protected"), "kid",
		    json_string(kid));
	assert_true(jose_jws_sig(NULL, jws, sig, jwk));
	p = json_string_value(json_object_get(jws, "protected"));
	pl = json_string_value(json_object_get(jws, "payload"));
	s = json_string_value(json_object_get(jws, "signature"));
	assert_non_null(p);
	assert_non_null(s);
	if (asprintf(&out, "%s.%s.%s", p, pl, s) < 0 || out == NULL)
		abort();
	json_decref(jws);
	json_decref(sig);
	free(payload);
	return out;
}

/* An unsigned token as an attacker would make it. */
static char *
make_raw(const char *header, const json_t *claims, const char *sig)
{
	json_t *h, *c;
	char *payload, *out = NULL;

	payload = json_dumps(claims, JSON_COMPACT);
	h = jose_b64_enc(header, strlen(header));
	c = jose_b64_enc(payload, strlen(payload));
	assert_true(asprintf(&out, "%s.%s.%s", json_string_value(h),
	    json_string_value(c), sig) > 0);
	json_decref(h);
	json_decref(c);
	free(payload);
	return out;
}

static json_t *
claims_base(void)
{
	json_t *c = json_pack("{s:s, s:s, s:I, s:I, s:I, s:s, s:s, s:s, s:s,"
	    " s:s, s:s}",
	    "iss", ISSUER, "aud", "signet",
	    "iat", (json_int_t)NOW - 10, "nbf", (json_int_t)NOW - 10,
	    "exp", (json_int_t)NOW + 300,
	    "repository", "example/app", "ref", "refs/heads/main",
	    "sha", SHA, "run_id", "4242",
	    "workflow_ref", "example/app/.github/workflows/build.yml@refs/heads/main",
	    "sub", "repo:example/app:ref:refs/heads/main");

	assert_non_null(c);
	return c;
}

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	f->rsa = gen_key("RS256", "rsa-1");
	f->ec = gen_key("ES256", "ec-1");
	f->bs = json_pack("{s:s, s:[s], s:s, s:s, s:s, s:{s:[o, o]}}",
	    "name", "gh", "identities", "ci-runner", "preset", "github",
	    "issuer", ISSUER, "audience", "signet", "jwks", "keys",
	    pub_of(f->rsa), pub_of(f->ec));
	f->origin = json_pack("{s:s, s:s, s:s, s:s}",
	    "repositoryUrl", "https://github.com/example/app",
	    "commitId", SHA, "branchName", "main", "buildId", "4242");
	assert_non_null(f->bs);
	assert_non_null(f->origin);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	json_decref(f->rsa);
	json_decref(f->ec);
	json_decref(f->bs);
	json_decref(f->origin);
	free(f);
	return 0;
}

/* Verifies token against the fixture's build system and origin. */
static int
verify(struct fx *f, const char *token, json_t **ev, char *reason,
    size_t rlen)
{
	return origin_verify_token(f->bs, token, f->origin, NOW, ev, reason,
	    rlen);
}

static void
expect_refused(struct fx *f, char *token, const char *why)
{
	json_t *ev = NULL;
	char reason[512];

	assert_int_equal(verify(f, token, &ev, reason, sizeof(reason)),
	    SIGNET_ERR_FORBIDDEN);
	assert_null(ev);
	if (strstr(reason, why) == NULL)
		fail_msg("reason '%s' does not mention '%s'", reason, why);
	/* the reason never carries the token */
	assert_null(strstr(reason, token));
	free(token);
}

static void
test_rs256_ok(void **state)
{
	struct fx *f = *state;
	json_t *c = claims_base(), *ev = NULL;
	char *tok = make_token(f->rsa, "RS256", "rsa-1", c), reason[512];

	assert_int_equal(verify(f, tok, &ev, reason, sizeof(reason)), 0);
	assert_string_equal(json_string_value(json_object_get(ev, "keyId")),
	    "rsa-1");
	assert_string_equal(json_string_value(json_object_get(ev,
	    "algorithm")), "RS256");
	assert_string_equal(json_string_value(json_object_get(json_object_get(
	    ev, "claims"), "sha")), SHA);
	assert_non_null(json_object_get(json_object_get(ev, "claims"),
	    "workflow_ref"));
	json_decref(ev);
	json_decref(c);
	free(tok);
}

static void
test_es256_ok(void **state)
{
	struct fx *f = *state;
	json_t *c = claims_base(), *ev = NULL;
	char *tok = make_token(f->ec, "ES256", "ec-1", c), reason[512];

	assert_int_equal(verify(f, tok, &ev, reason, sizeof(reason)), 0);
	assert_string_equal(json_string_value(json_object_get(ev,
	    "algorithm")), "ES256");
	json_decref(ev);
	json_decref(c);
	free(tok);
}

static void
test_wrong_issuer(void **state)
{
	struct fx *f = *state;
	json_t *c = claims_base();

	json_object_set_new(c, "iss", json_string("https://evil.example"));
	expect_refused(f, make_token(f->rsa, "RS256", "rsa-1", c), "issuer");
	json_decref(c);
}

static void
test_wrong_audience(void **state)
{
	struct fx *f = *state;
	json_t *c = claims_base();

	json_object_set_new(c, "aud", json_pack("[s, s]", "other", "sigstore"));
	expect_refused(f, make_token(f->rsa, "RS256", "rsa-1", c), "audience");
	json_object_del(c, "aud");
	expect_refused(f, make_token(f->rsa, "RS256", "rsa-1", c), "audience");
	json_decref(c);
}

static void
test_audience_list(void **state)
{
	struct fx *f = *state;
	json_t *c = claims_base(), *ev = NULL;
	char *tok, reason[512];

	json_object_set_new(c, "aud", json_pack("[s, s]", "other", "signet"));
	tok = make_token(f->rsa, "RS256", "rsa-1", c);
	assert_int_equal(verify(f, tok, &ev, reason, sizeof(reason)), 0);
	json_decref(ev);
	json_decref(c);
	free(tok);
}

static void
test_expired(void **state)
{
	struct fx *f = *state;
	json_t *c = claims_base(), *ev = NULL;
	char *tok, reason[512];

	json_object_set_new(c, "exp", json_integer(NOW - 61));
	expect_refused(f, make_token(f->rsa, "RS256", "rsa-1", c), "expired");
	/* within the clock skew it still passes */
	json_object_set_new(c, "exp", json_integer(NOW - 30));
	tok = make_token(f->rsa, "RS256", "rsa-1", c);
	assert_int_equal(verify(f, tok, &ev, reason, sizeof(reason)), 0);
	json_decref(ev);
	free(tok);
	json_object_del(c, "exp");
	expect_refused(f, make_token(f->rsa, "RS256", "rsa-1", c), "exp");
	json_decref(c);
}

static void
test_not_yet_valid(void **state)
{
	struct fx *f = *state;
	json_t *c = claims_base();

	json_object_set_new(c, "nbf", json_integer(NOW + 120));
	expect_refused(f, make_token(f->rsa, "RS256", "rsa-1", c),
	    "not valid yet");
	json_object_set_new(c, "nbf", json_integer(NOW - 10));
	json_object_set_new(c, "iat", json_integer(NOW + 120));
	expect_refused(f, make_token(f->rsa, "RS256", "rsa-1", c), "future");
	json_decref(c);
}

static void
test_unknown_kid(void **state)
{
	struct fx *f = *state;
	json_t *c = claims_base(), *other = gen_key("RS256", "rsa-2");

	expect_refused(f, make_token(other, "RS256", "rsa-2", c),
	    "not in build system");
	/* a known kid does not make another key's signature good */
	expect_refused(f, make_token(other, "RS256", "rsa-1", c),
	    "does not verify");
	expect_refused(f, make_token(f->rsa, "RS256", NULL, c), "kid");
	json_decref(other);
	json_decref(c);
}

static void
test_claims_mismatch(void **state)
{
	struct fx *f = *state;
	json_t *c = claims_base();

	json_object_set_new(c, "sha", json_string(
	    "fedcba9876543210fedcba9876543210fedcba98"));
	expect_refused(f, make_token(f->rsa, "RS256", "rsa-1", c), "commitId");
	json_decref(c);
	c = claims_base();
	json_object_set_new(c, "ref", json_string("refs/heads/feature"));
	expect_refused(f, make_token(f->rsa, "RS256", "rsa-1", c),
	    "branchName");
	json_decref(c);
	c = claims_base();
	json_object_set_new(c, "repository", json_string("evil/app"));
	expect_refused(f, make_token(f->rsa, "RS256", "rsa-1", c),
	    "repositoryUrl");
	json_decref(c);
	c = claims_base();
	json_object_del(c, "run_id");
	expect_refused(f, make_token(f->rsa, "RS256", "rsa-1", c), "run_id");
	json_decref(c);
}

static void
test_claims_fill_and_forms(void **state)
{
	struct fx *f = *state;
	json_t *c = claims_base(), *ev = NULL;
	char *tok, reason[512];

	/* refs/heads/main and main are one branch; URLs tolerate ".git" */
	json_object_set_new(f->origin, "branchName", json_string(
	    "refs/heads/main"));
	json_object_set_new(f->origin, "repositoryUrl", json_string(
	    "https://GitHub.com/example/app.git"));
	json_object_set_new(f->origin, "commitId", json_string(
	    "0123456789ABCDEF0123456789ABCDEF01234567"));
	json_object_del(f->origin, "buildId");
	tok = make_token(f->rsa, "RS256", "rsa-1", c);
	assert_int_equal(verify(f, tok, &ev, reason, sizeof(reason)), 0);
	/* left out, vouched for: filled in from the token */
	assert_string_equal(json_string_value(json_object_get(f->origin,
	    "buildId")), "4242");
	json_decref(ev);
	free(tok);
	/* a tag is not the branch of the same name */
	json_object_set_new(c, "ref", json_string("refs/tags/v1.0"));
	json_object_set_new(f->origin, "branchName", json_string("v1.0"));
	expect_refused(f, make_token(f->rsa, "RS256", "rsa-1", c),
	    "branchName");
	json_object_set_new(f->origin, "branchName", json_string(
	    "refs/tags/v1.0"));
	tok = make_token(f->rsa, "RS256", "rsa-1", c);
	assert_int_equal(verify(f, tok, &ev, reason, sizeof(reason)), 0);
	json_decref(ev);
	free(tok);
	json_decref(c);
}

static void
test_alg_none(void **state)
{
	struct fx *f = *state;
	json_t *c = claims_base();

	/* an unsecured JWS (RFC 7519 6) has an empty signature */
	expect_refused(f, make_raw("{\"alg\":\"none\",\"kid\":\"rsa-1\"}", c,
	    ""), "compact");
	expect_refused(f, make_raw("{\"alg\":\"none\",\"kid\":\"rsa-1\"}", c,
	    "AAAA"), "none");
	expect_refused(f, make_raw("{\"alg\":\"NoNe\",\"kid\":\"rsa-1\"}", c,
	    "AAAA"), "NoNe");
	json_decref(c);
}

static void
test_hmac_with_public_key(void **state)
{
	struct fx *f = *state;
	json_t *c = claims_base(), *pub = pub_of(f->rsa), *oct;
	EVP_PKEY *pk;
	BIO *bio;
	char *pubtext, *pem;
	long pemlen;

	/* keyed with the public JWK's bytes */
	pubtext = json_dumps(pub, JSON_COMPACT | JSON_SORT_KEYS);
	oct = json_pack("{s:s, s:o}", "kty", "oct", "k",
	    jose_b64_enc(pubtext, strlen(pubtext)));
	expect_refused(f, make_token(oct, "HS256", "rsa-1", c), "HS256");
	json_decref(oct);
	/* keyed with the public key's PEM bytes */
	pk = jose_openssl_jwk_to_EVP_PKEY(NULL, pub);
	assert_non_null(pk);
	bio = BIO_new(BIO_s_mem());
	assert_int_equal(PEM_write_bio_PUBKEY(bio, pk), 1);
	pemlen = BIO_get_mem_data(bio, &pem);
	oct = json_pack("{s:s, s:o}", "kty", "oct", "k",
	    jose_b64_enc(pem, (size_t)pemlen));
	expect_refused(f, make_token(oct, "HS256", "rsa-1", c), "HS256");
	expect_refused(f, make_token(oct, "HS512", "rsa-1", c), "HS512");
	json_decref(oct);
	BIO_free(bio);
	EVP_PKEY_free(pk);
	free(pubtext);
	json_decref(pub);
	json_decref(c);
}

static void
test_alg_not_the_keys(void **state)
{
	struct fx *f = *state;
	json_t *c = claims_base();

	/* ES256 header naming the RSA key: the key decides, not the token */
	expect_refused(f, make_token(f->ec, "ES256", "rsa-1", c),
	    "not the algorithm");
	/* RS256 header naming the EC key */
	expect_refused(f, make_token(f->rsa, "RS256", "ec-1", c),
	    "not the algorithm");
	json_decref(c);
}

static void
test_malformed(void **state)
{
	struct fx *f = *state;
	json_t *c = claims_base(), *ev = NULL;
	char *tok = make_token(f->rsa, "RS256", "rsa-1", c), *bad, reason[512];
	size_t n = strlen(tok);

	/* one more part, a part missing, padding, junk */
	bad = calloc(1, n + 8);
	assert_non_null(bad);
	memcpy(bad, tok, n);
	memcpy(bad + n, ".AAAA", 5);
	expect_refused(f, bad, "compact");
	bad = strdup(tok);
	*strrchr(bad, '.') = '\0';
	expect_refused(f, bad, "compact");
	bad = calloc(1, n + 8);
	assert_non_null(bad);
	memcpy(bad, tok, n);
	bad[n] = '=';
	expect_refused(f, bad, "compact");
	expect_refused(f, strdup("not a token"), "compact");
	expect_refused(f, strdup(".."), "compact");
	/* a flipped signature bit */
	bad = strdup(tok);
	bad[n - 2] = bad[n - 2] == 'A' ? 'B' : 'A';
	expect_refused(f, bad, "does not verify");
	/* longer than the limit */
	bad = malloc(SIGNET_MAX_ID_TOKEN + 2);
	memset(bad, 'A', SIGNET_MAX_ID_TOKEN + 1);
	bad[SIGNET_MAX_ID_TOKEN + 1] = '\0';
	assert_int_equal(verify(f, bad, &ev, reason, sizeof(reason)),
	    SIGNET_ERR_FORBIDDEN);
	free(bad);
	/* duplicate claim names are not a silent last-wins */
	bad = make_raw("{\"alg\":\"RS256\",\"kid\":\"rsa-1\",\"kid\":\"x\"}", c,
	    "AAAA");
	expect_refused(f, bad, "header");
	free(tok);
	json_decref(c);
}

static void
test_gitlab_and_generic(void **state)
{
	struct fx *f = *state;
	json_t *c = claims_base(), *ev = NULL;
	char *tok, reason[512];

	json_object_set_new(f->bs, "preset", json_string("gitlab"));
	json_object_set_new(f->bs, "repositoryUrlPrefix", json_string(
	    "https://gitlab.example.com"));
	json_object_set_new(c, "project_path", json_string("group/app"));
	json_object_set_new(c, "ref", json_string("v2.0"));
	json_object_set_new(c, "ref_type", json_string("tag"));
	json_object_set_new(c, "pipeline_id", json_string("77"));
	json_object_set_new(f->origin, "repositoryUrl", json_string(
	    "https://gitlab.example.com/group/app"));
	json_object_set_new(f->origin, "branchName", json_string(
	    "refs/tags/v2.0"));
	json_object_set_new(f->origin, "buildId", json_string("77"));
	tok = make_token(f->rsa, "RS256", "rsa-1", c);
	assert_int_equal(verify(f, tok, &ev, reason, sizeof(reason)), 0);
	assert_string_equal(json_string_value(json_object_get(json_object_get(
	    ev, "claims"), "ref_type")), "tag");
	json_decref(ev);
	free(tok);
	json_object_set_new(c, "ref_type", json_string("branch"));
	expect_refused(f, make_token(f->rsa, "RS256", "rsa-1", c),
	    "branchName");
	/* generic: an explicit mapping, numbers as claims */
	json_object_set_new(f->bs, "preset", json_string("generic"));
	json_object_del(f->bs, "repositoryUrlPrefix");
	json_object_set_new(f->bs, "claims", json_pack("{s:s, s:s}",
	    "commitId", "git_sha", "buildId", "build_number"));
	json_object_set_new(c, "git_sha", json_string(SHA));
	json_object_set_new(c, "build_number", json_integer(77));
	tok = make_token(f->rsa, "RS256", "rsa-1", c);
	assert_int_equal(verify(f, tok, &ev, reason, sizeof(reason)), 0);
	json_decref(ev);
	free(tok);
	json_object_set_new(c, "build_number", json_integer(78));
	expect_refused(f, make_token(f->rsa, "RS256", "rsa-1", c), "buildId");
	json_decref(c);
}

static void
test_build_system_check(void **state)
{
	struct fx *f = *state;
	json_t *bs = json_deep_copy(f->bs), *keys;
	char err[400];

	assert_int_equal(origin_check_build_system(bs, err, sizeof(err)), 0);
	/* a private key in the catalog is refused */
	keys = json_object_get(json_object_get(bs, "jwks"), "keys");
	json_array_append(keys, f->rsa);
	assert_int_equal(origin_check_build_system(bs, err, sizeof(err)),
	    SIGNET_ERR_INVALID);
	assert_non_null(strstr(err, "private"));
	json_array_remove(keys, 2);
	/* a shared secret is no key for ID tokens */
	json_array_append_new(keys, json_pack("{s:s, s:s, s:s}", "kty", "oct",
	    "kid", "hmac", "k", "c2VjcmV0"));
	assert_int_equal(origin_check_build_system(bs, err, sizeof(err)),
	    SIGNET_ERR_INVALID);
	json_array_remove(keys, 2);
	/* kid twice */
	json_array_append_new(keys, pub_of(f->rsa));
	assert_int_equal(origin_check_build_system(bs, err, sizeof(err)),
	    SIGNET_ERR_INVALID);
	assert_non_null(strstr(err, "twice"));
	json_array_remove(keys, 2);
	/* an EC key that claims RS256 */
	json_object_set_new(json_array_get(keys, 1), "alg",
	    json_string("RS256"));
	assert_int_equal(origin_check_build_system(bs, err, sizeof(err)),
	    SIGNET_ERR_INVALID);
	json_object_set_new(json_array_get(keys, 1), "alg",
	    json_string("ES256"));
	/* issuer must be https, audience is required */
	json_object_set_new(bs, "issuer", json_string("http://x.example"));
	assert_int_equal(origin_check_build_system(bs, err, sizeof(err)),
	    SIGNET_ERR_INVALID);
	json_object_set_new(bs, "issuer", json_string(ISSUER));
	json_object_del(bs, "audience");
	assert_int_equal(origin_check_build_system(bs, err, sizeof(err)),
	    SIGNET_ERR_INVALID);
	json_object_set_new(bs, "audience", json_string("signet"));
	json_object_set_new(bs, "preset", json_string("jenkins"));
	assert_int_equal(origin_check_build_system(bs, err, sizeof(err)),
	    SIGNET_ERR_INVALID);
	json_decref(bs);
	/* too many keys */
	bs = json_deep_copy(f->bs);
	keys = json_object_get(json_object_get(bs, "jwks"), "keys");
	while (json_array_size(keys) <= SIGNET_MAX_JWKS_KEYS)
		json_array_append_new(keys, pub_of(f->ec));
	assert_int_equal(origin_check_build_system(bs, err, sizeof(err)),
	    SIGNET_ERR_TOO_LARGE);
	json_decref(bs);
	/* without an issuer, identities alone vouch */
	bs = json_pack("{s:s, s:[s], s:s}", "name", "jenkins", "identities",
	    "ci-runner", "preset", "generic");
	assert_int_equal(origin_check_build_system(bs, err, sizeof(err)), 0);
	json_decref(bs);
}

static void
test_rules(void **state)
{
	json_t *prj = json_pack("{s:s, s:[]}", "slug", "app", "repositoryUrls");
	json_t *pol = json_pack("{s:s, s:b, s:[s, s, s]}", "slug", "release",
	    "requireVerifiedOrigin", 1, "allowedBranches", "main",
	    "release/*", "refs/tags/v*");
	json_t *o = json_pack("{s:s, s:s}", "branchName", "main",
	    "repositoryUrl", "https://github.com/example/app");
	json_t *ok = json_pack("{s:b}", "verified", 1);
	json_t *no = json_pack("{s:b, s:s}", "verified", 0, "reason",
	    "CI identity 'x' belongs to no trusted build system");
	char msg[1024];

	(void)state;
	assert_int_equal(origin_rules(prj, pol, o, ok, msg, sizeof(msg)), 0);
	assert_int_equal(origin_rules(prj, pol, o, no, msg, sizeof(msg)),
	    SIGNET_ERR_ORIGIN_RULE);
	assert_non_null(strstr(msg, "requireVerifiedOrigin"));
	assert_non_null(strstr(msg, "no trusted build system"));
	assert_int_equal(origin_rules(prj, pol, o, NULL, msg, sizeof(msg)),
	    SIGNET_ERR_ORIGIN_RULE);
	/* branches: refs/heads/X is the branch X; FNM_PATHNAME, so '*'
	 * stays within one part */
	json_object_set_new(o, "branchName", json_string("refs/heads/main"));
	assert_int_equal(origin_rules(prj, pol, o, ok, msg, sizeof(msg)), 0);
	json_object_set_new(o, "branchName", json_string("release/1.2"));
	assert_int_equal(origin_rules(prj, pol, o, ok, msg, sizeof(msg)), 0);
	json_object_set_new(o, "branchName", json_string("release/1.2/hotfix"));
	assert_int_equal(origin_rules(prj, pol, o, ok, msg, sizeof(msg)),
	    SIGNET_ERR_ORIGIN_RULE);
	assert_non_null(strstr(msg, "(ref refs/heads/release/1.2/hotfix)"));
	json_object_set_new(o, "branchName", json_string("refs/tags/v1.0"));
	assert_int_equal(origin_rules(prj, pol, o, ok, msg, sizeof(msg)), 0);
	json_object_set_new(o, "branchName", json_string("v1.0"));
	assert_int_equal(origin_rules(prj, pol, o, ok, msg, sizeof(msg)),
	    SIGNET_ERR_ORIGIN_RULE);
	assert_non_null(strstr(msg, "allowedBranches"));
	assert_non_null(strstr(msg, "'v1.0'"));
	json_object_set_new(o, "branchName", json_string("feature/x"));
	assert_int_equal(origin_rules(prj, pol, o, ok, msg, sizeof(msg)),
	    SIGNET_ERR_ORIGIN_RULE);
	json_object_del(o, "branchName");
	assert_int_equal(origin_rules(prj, pol, o, ok, msg, sizeof(msg)),
	    SIGNET_ERR_ORIGIN_RULE);
	assert_non_null(strstr(msg, "not given"));
	json_object_set_new(o, "branchName", json_string("main"));
	/* the project's repositories */
	json_array_append_new(json_object_get(prj, "repositoryUrls"),
	    json_string("https://github.com/example/app.git"));
	assert_int_equal(origin_rules(prj, pol, o, ok, msg, sizeof(msg)), 0);
	json_object_set_new(o, "repositoryUrl", json_string(
	    "https://github.com/example/fork"));
	assert_int_equal(origin_rules(prj, pol, o, ok, msg, sizeof(msg)),
	    SIGNET_ERR_ORIGIN_RULE);
	assert_non_null(strstr(msg, "repositoryUrls"));
	/* a policy without rules takes anything */
	json_object_del(pol, "requireVerifiedOrigin");
	json_object_del(pol, "allowedBranches");
	json_array_clear(json_object_get(prj, "repositoryUrls"));
	assert_int_equal(origin_rules(prj, pol, o, no, msg, sizeof(msg)), 0);
	json_decref(prj);
	json_decref(pol);
	json_decref(o);
	json_decref(ok);
	json_decref(no);
}


/* Every value that is the short or full form of one ref names that ref;
 * what git would not take as a ref name is none. */
static void
test_ref_forms(void **state)
{
	static const char *const same[][2] = {
		{ "main", "refs/heads/main" },
		{ "refs/heads/main", "refs/heads/main" },
		{ "release/1.2", "refs/heads/release/1.2" },
		{ "refs/tags/v1.0", "refs/tags/v1.0" },
		{ "refs/heads/refs/heads/main", "refs/heads/refs/heads/main" },
		{ "refs/pull/7/merge", "refs/pull/7/merge" },
	};
	static const char *const bad[] = {
		"", "refs/heads/", "refs/", "a..b", "x.lock", "a/b.lock/c",
		"refs/heads/.hidden", "a b", "a~1", "a^", "a:b", "a?", "a*",
		"a[1]", "a\\\\b", "refs/heads//x", "x/", "x.", "@", "a@{1}",
		"a\tb", "a\x7f",
	};
	char out[256];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(same) / sizeof(same[0]); i++) {
		assert_int_equal(origin_ref_full(same[i][0], out, sizeof(out)),
		    0);
		assert_string_equal(out, same[i][1]);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (origin_ref_full(bad[i], out, sizeof(out)) !=
		    SIGNET_ERR_INVALID)
			fail_msg("'%s' was taken as ref %s", bad[i], out);
	assert_int_equal(origin_ref_full(NULL, out, sizeof(out)),
	    SIGNET_ERR_INVALID);
	assert_int_equal(origin_ref_full("main", out, 8),
	    SIGNET_ERR_TOO_LARGE);
}

/* A branch named like a ref is that branch, never the ref it looks
 * like: verified, filled in and matched as refs/heads/refs/... */
static void
test_ref_lookalikes(void **state)
{
	static const char *const lookalikes[] = {
		"refs/heads/refs/heads/main", "refs/heads/refs/tags/v9.9.9",
	};
	struct fx *f = *state;
	json_t *c = claims_base(), *ev = NULL;
	json_t *prj = json_pack("{s:s, s:[]}", "slug", "app", "repositoryUrls");
	json_t *pol = json_pack("{s:s, s:b, s:[s, s]}", "slug", "release",
	    "requireVerifiedOrigin", 1, "allowedBranches", "main",
	    "refs/tags/v*");
	json_t *verified = json_pack("{s:b}", "verified", 1);
	char *tok, reason[512], msg[1024];
	size_t i;

	for (i = 0; i < sizeof(lookalikes) / sizeof(lookalikes[0]); i++) {
		json_object_set_new(c, "ref", json_string(lookalikes[i]));
		/* the short name the attacker would like it read as */
		json_object_set_new(f->origin, "branchName", json_string(
		    lookalikes[i] + 11));
		expect_refused(f, make_token(f->rsa, "RS256", "rsa-1", c),
		    "branchName");
		json_object_set_new(f->origin, "branchName", json_string(
		    i == 0 ? "main" : "refs/tags/v9.9.9"));
		expect_refused(f, make_token(f->rsa, "RS256", "rsa-1", c),
		    "branchName");
		/* left out: filled in as the full ref, and refused by the
		 * rules that "main" and "refs/tags/v*" make */
		json_object_del(f->origin, "branchName");
		tok = make_token(f->rsa, "RS256", "rsa-1", c);
		assert_int_equal(verify(f, tok, &ev, reason, sizeof(reason)),
		    0);
		assert_string_equal(json_string_value(json_object_get(
		    f->origin, "branchName")), lookalikes[i]);
		json_decref(ev);
		free(tok);
		assert_int_equal(origin_rules(prj, pol, f->origin, verified, msg,
		    sizeof(msg)), SIGNET_ERR_ORIGIN_RULE);
		assert_non_null(strstr(msg, "allowedBranches"));
		/* the whole ref, as given, verifies and is refused too */
		json_object_set_new(f->origin, "branchName", json_string(
		    lookalikes[i]));
		tok = make_token(f->rsa, "RS256", "rsa-1", c);
		assert_int_equal(verify(f, tok, &ev, reason, sizeof(reason)),
		    0);
		json_decref(ev);
		free(tok);
		assert_int_equal(origin_rules(prj, pol, f->origin, verified, msg,
		    sizeof(msg)), SIGNET_ERR_ORIGIN_RULE);
	}
	/* the genuine ones pass */
	json_object_set_new(c, "ref", json_string("refs/heads/main"));
	json_object_del(f->origin, "branchName");
	tok = make_token(f->rsa, "RS256", "rsa-1", c);
	assert_int_equal(verify(f, tok, &ev, reason, sizeof(reason)), 0);
	assert_string_equal(json_string_value(json_object_get(f->origin,
	    "branchName")), "main");
	json_decref(ev);
	free(tok);
	assert_int_equal(origin_rules(prj, pol, f->origin, verified, msg,
	    sizeof(msg)), 0);
	/* evidence for one ref does not cover data naming another */
	json_object_set_new(verified, "ref", json_string(
	    "refs/heads/refs/heads/main"));
	assert_int_equal(origin_rules(prj, pol, f->origin, verified, msg,
	    sizeof(msg)), SIGNET_ERR_ORIGIN_RULE);
	assert_non_null(strstr(msg, "evidence"));
	/* GitLab names the branch bare: a branch "refs/heads/main" is
	 * refs/heads/refs/heads/main, a tag "v1" is refs/tags/v1 */
	json_object_set_new(f->bs, "preset", json_string("gitlab"));
	json_object_set_new(c, "project_path", json_string("example/app"));
	json_object_set_new(c, "pipeline_id", json_string("4242"));
	json_object_set_new(c, "ref", json_string("refs/heads/main"));
	json_object_set_new(c, "ref_type", json_string("branch"));
	json_object_set_new(f->bs, "repositoryUrlPrefix", json_string(
	    "https://github.com/"));
	json_object_set_new(f->origin, "branchName", json_string("main"));
	expect_refused(f, make_token(f->rsa, "RS256", "rsa-1", c),
	    "branchName");
	json_object_set_new(f->origin, "branchName", json_string(
	    "refs/heads/main"));
	expect_refused(f, make_token(f->rsa, "RS256", "rsa-1", c),
	    "branchName");
	json_object_del(f->origin, "branchName");
	tok = make_token(f->rsa, "RS256", "rsa-1", c);
	assert_int_equal(verify(f, tok, &ev, reason, sizeof(reason)), 0);
	assert_string_equal(json_string_value(json_object_get(f->origin,
	    "branchName")), "refs/heads/refs/heads/main");
	json_decref(ev);
	free(tok);
	/* a ref git could not have made vouches for nothing */
	json_object_set_new(c, "ref", json_string("main..x"));
	expect_refused(f, make_token(f->rsa, "RS256", "rsa-1", c),
	    "cannot be read");
	json_decref(verified);
	json_decref(prj);
	json_decref(pol);
	json_decref(c);
}

/* Commit ids are whole hex ids: an abbreviation or a look-alike is not
 * the commit the token names. */
static void
test_commit_forms(void **state)
{
	struct fx *f = *state;
	json_t *c = claims_base();

	json_object_set_new(f->origin, "commitId", json_string("0123456"));
	expect_refused(f, make_token(f->rsa, "RS256", "rsa-1", c), "commitId");
	json_object_set_new(f->origin, "commitId", json_string(
	    " 0123456789abcdef0123456789abcdef01234567"));
	expect_refused(f, make_token(f->rsa, "RS256", "rsa-1", c), "commitId");
	json_object_set_new(f->origin, "commitId", json_string(SHA));
	json_object_set_new(c, "sha", json_string("not-a-commit"));
	expect_refused(f, make_token(f->rsa, "RS256", "rsa-1", c),
	    "cannot be read");
	json_decref(c);
}

/* A project's repository is that URL: host case and one trailing "/" or
 * ".git" aside, nothing that merely looks like it. */
static void
test_repository_lookalikes(void **state)
{
	static const char *const same[] = {
		"https://github.com/example/app",
		"https://GitHub.COM/example/app",
		"HTTPS://github.com/example/app/",
		"https://github.com/example/app.git",
		"https://github.com/example/app.git/",
	};
	static const char *const other[] = {
		"https://github.com/Example/App",
		"https://github.com/example/app.GIT",
		"https://github.com/example/app//",
		"https://github.com/example/app.git.git",
		"https://github.com/example/app/.git",
		"https://github.com/example/x/../app",
		"https://github.com/example/./app",
		"https://github.com//example/app",
		"https://github.com@evil.example/example/app",
		"https://user@github.com/example/app",
		"https://github.com:443/example/app",
		"https://github.com.evil.example/example/app",
		"https://evil.example/example/app",
		"http://github.com/example/app",
		"https://github.com/example/%61pp",
		"https://github.com/example/app?ref=main",
		"https://github.com/example/app#main",
		"https://github.com/example/app\\\\",
		"github.com/example/app",
		"https://github.com/example/app/tree/main",
	};
	json_t *prj = json_pack("{s:s, s:[s]}", "slug", "app", "repositoryUrls",
	    "https://github.com/example/app");
	json_t *pol = json_pack("{s:s}", "slug", "release");
	json_t *o = json_object();
	char msg[1024], err[300];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(same) / sizeof(same[0]); i++) {
		json_object_set_new(o, "repositoryUrl", json_string(same[i]));
		if (origin_rules(prj, pol, o, NULL, msg, sizeof(msg)) != 0)
			fail_msg("'%s' was refused: %s", same[i], msg);
	}
	for (i = 0; i < sizeof(other) / sizeof(other[0]); i++) {
		json_object_set_new(o, "repositoryUrl", json_string(other[i]));
		if (origin_rules(prj, pol, o, NULL, msg, sizeof(msg)) !=
		    SIGNET_ERR_ORIGIN_RULE)
			fail_msg("'%s' was taken as the project's repository",
			    other[i]);
		assert_non_null(strstr(msg, "repositor"));
	}
	assert_int_equal(origin_check_repository_url(
	    "https://github.com/example/app", err, sizeof(err)), 0);
	assert_int_equal(origin_check_repository_url(
	    "ssh://git@git.example.com/app.git", err, sizeof(err)), 0);
	assert_int_equal(origin_check_repository_url(
	    "https://github.com@evil.example/x", err, sizeof(err)),
	    SIGNET_ERR_INVALID);
	assert_non_null(strstr(err, "user information"));
	assert_int_equal(origin_check_repository_url(
	    "https://github.com/a/../b", err, sizeof(err)), SIGNET_ERR_INVALID);
	assert_int_equal(origin_check_repository_url("git.example.com/app",
	    err, sizeof(err)), SIGNET_ERR_INVALID);
	json_decref(prj);
	json_decref(pol);
	json_decref(o);
}

/* Patterns match full refs with FNM_PATHNAME. */
static void
test_pattern_matching(void **state)
{
	static const struct {
		const char *pattern, *branch;
		int match;
	} cases[] = {
		{ "main", "main", 1 },
		{ "main", "refs/heads/main", 1 },
		{ "main", "refs/heads/refs/heads/main", 0 },
		{ "main", "refs/tags/main", 0 },
		{ "refs/tags/v*", "refs/tags/v1.0", 1 },
		{ "refs/tags/v*", "refs/heads/refs/tags/v9.9.9", 0 },
		{ "refs/tags/v*", "v1.0", 0 },
		{ "refs/tags/v*", "refs/tags/v1/evil", 0 },
		{ "v*", "refs/tags/v1.0", 0 },
		{ "*", "feature", 1 },
		{ "*", "feature/x", 0 },
		{ "*", "refs/tags/v1", 0 },
		{ "release/*", "release/1.2", 1 },
		{ "release/*", "release/1.2/hotfix", 0 },
		{ "release/*/*", "release/1.2/hotfix", 1 },
		{ "refs/heads/release/*", "release/2", 1 },
		{ "*main", "refs/heads/main", 1 },
		{ "*main", "refs/heads/refs/heads/main", 0 },
	};
	json_t *prj = json_pack("{s:s}", "slug", "app");
	json_t *pol = json_pack("{s:s, s:[s]}", "slug", "p", "allowedBranches",
	    "x");
	json_t *o = json_object();
	char msg[1024];
	size_t i;
	int r;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		json_array_set_new(json_object_get(pol, "allowedBranches"), 0,
		    json_string(cases[i].pattern));
		json_object_set_new(o, "branchName", json_string(
		    cases[i].branch));
		r = origin_rules(prj, pol, o, NULL, msg, sizeof(msg));
		if ((r == 0) != cases[i].match)
			fail_msg("pattern '%s' %s '%s'", cases[i].pattern,
			    r == 0 ? "matched" : "did not match",
			    cases[i].branch);
	}
	json_decref(prj);
	json_decref(pol);
	json_decref(o);
}

static void
test_branch_patterns(void **state)
{
	json_t *p = json_pack("[s]", "main");
	char err[300];
	int i;

	(void)state;
	assert_int_equal(origin_check_branch_patterns(p, err, sizeof(err)), 0);
	assert_int_equal(origin_check_branch_patterns(NULL, err, sizeof(err)),
	    0);
	json_array_append_new(p, json_string(""));
	assert_int_equal(origin_check_branch_patterns(p, err, sizeof(err)),
	    SIGNET_ERR_INVALID);
	{
		static const char *const bad[] = {
			"release/**", "release/", "refs/", "a b", "a..b",
			"refs/heads//x", "refs/heads/.x",
		};
		size_t j;

		for (j = 0; j < sizeof(bad) / sizeof(bad[0]); j++) {
			json_array_clear(p);
			json_array_append_new(p, json_string(bad[j]));
			if (origin_check_branch_patterns(p, err, sizeof(err)) !=
			    SIGNET_ERR_INVALID)
				fail_msg("pattern '%s' was accepted", bad[j]);
		}
		assert_non_null(strstr(err, "git ref"));
	}
	json_array_clear(p);
	for (i = 0; i <= SIGNET_MAX_ALLOWED_BRANCHES; i++)
		json_array_append_new(p, json_string("main"));
	assert_int_equal(origin_check_branch_patterns(p, err, sizeof(err)),
	    SIGNET_ERR_INVALID);
	json_decref(p);
}

static void
test_forget_token(void **state)
{
	json_t *o = json_pack("{s:s, s:s}", "idToken", "a.b.c", "commitId",
	    SHA);

	(void)state;
	origin_forget_token(o);
	assert_null(json_object_get(o, "idToken"));
	assert_non_null(json_object_get(o, "commitId"));
	origin_forget_token(o);
	origin_forget_token(NULL);
	json_decref(o);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_rs256_ok, setup, teardown),
		cmocka_unit_test_setup_teardown(test_es256_ok, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wrong_issuer, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_wrong_audience, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_audience_list, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_expired, setup, teardown),
		cmocka_unit_test_setup_teardown(test_not_yet_valid, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_unknown_kid, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_claims_mismatch, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_claims_fill_and_forms,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_alg_none, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hmac_with_public_key, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_alg_not_the_keys, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_malformed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_gitlab_and_generic, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_build_system_check, setup,
		    teardown),
		cmocka_unit_test(test_rules),
		cmocka_unit_test(test_ref_forms),
		cmocka_unit_test_setup_teardown(test_ref_lookalikes, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_commit_forms, setup,
		    teardown),
		cmocka_unit_test(test_repository_lookalikes),
		cmocka_unit_test(test_pattern_matching),
		cmocka_unit_test(test_branch_patterns),
		cmocka_unit_test(test_forget_token),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
