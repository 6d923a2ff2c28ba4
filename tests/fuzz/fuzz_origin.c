/* Origin verification (appliance/origin/origin.c): the compact JWS of an ID
 * token split and checked against a build system record, the claims
 * against the submitted origin fields, the build system record itself
 * (as `signet apply` and the admin API hand it over) and the origin rules
 * of a policy.
 *
 * The build systems here trust two fixed test keys (FZ_JWKS): an ES256
 * key whose private half is below, so that the target can sign what the
 * fuzzer writes and reach the claims checks, and an RS256 public key
 * whose private half was thrown away (its tokens never verify). The keys
 * are made for this file and protect nothing.
 *
 * Input: byte 0 = mode | preset << 2 (mode: byte 0 % 4, preset: github,
 * gitlab, generic by byte 0 / 4 % 3); then NUL-separated parts:
 *   mode 0: token, then origin fields;
 *   mode 1: JWS header JSON, claims JSON, then origin fields; the target
 *           signs base64url(header) "." base64url(claims) with the ES256
 *           key and verifies that token;
 *   mode 2: a build system record (JSON), checked by
 *           origin_check_build_system; when it passes, the token of the
 *           next part is verified against it, then the origin fields;
 *   mode 3: {"project", "policy", "origin", "evidence"} for origin_rules.
 * Origin fields, in order: repositoryUrl, branchName, commitId, buildId,
 * buildUrl; an empty part leaves a field out.
 *
 * Invariants: a refusal's reason and a rule's message are valid UTF-8
 * (they become JSON strings: jansson drops what is not) and never contain
 * the token; a verified token yields evidence. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jose/b64.h>
#include <jose/openssl.h>
#include <openssl/bio.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "fuzz.h"
#include "origin.h"
#include "signet_limits.h"

#define FZ_NOW		((time_t)1767225600)	/* 2026-01-01T00:00:00Z */
#define FZ_ISSUER	"https://token.example.test"
#define FZ_MAX_PARTS	8

static const char fz_ec_pem[] =
    "-----BEGIN PRIVATE KEY-----\n"
    "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgoJ/N7ymthSiIp2xE\n"
    "3lRgkN9WZ1eL6L5EdjTCATzZE2ihRANCAASgl+0Fgfhy2noJG6B3acflJzIG68bA\n"
    "b2NND25XYknCRpDnTaBjmSx+dzbWg9X8fARamUQB7OgCfZX8HtctzrMS\n"
    "-----END PRIVATE KEY-----\n";

#define FZ_JWKS \
    "{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-256\"," \
    "\"x\":\"oJftBYH4ctp6CRugd2nH5ScyBuvGwG9jTQ9uV2JJwkY\"," \
    "\"y\":\"kOdNoGOZLH53NtaD1fx8BFqZRAHs6AJ9lfwe1y3OsxI\"," \
    "\"kid\":\"k1\",\"alg\":\"ES256\",\"use\":\"sig\"}," \
    "{\"kty\":\"RSA\",\"n\":\"yRhXDJJrqtxYMzECGKeiQJyx2U2-4WeUJfX-Nq780mmO" \
    "oJyhO9VmVfH8U4u3zDMsz0iv-TNQTIUbufnq-DhjbhH57wUEJfv-Om_aB47OU5U0tQen" \
    "P0wLeZyOEDmQZ1CYmN61o137GNEVPe4BWPUK4KAt2q-KnDhrOGujULapNNcmwQZUxH_i" \
    "w3WVf-U7orTwL89qAJKsJTPmFTKf9-JgPMJr_aHSycOAjaY-uVkBjdK_LHIojiuii0XO" \
    "jNOhq_sSh1s1w-grySSzDuQHDYnPB26Lz8qMrT24GGpUBmW8QM_NAy1ORlJ6Fju-CxE2" \
    "sq-gnm_mUYIfwHu0s_sYoyrp9Q\",\"e\":\"AQAB\",\"kid\":\"r1\"," \
    "\"alg\":\"RS256\"}]}"

static const char *const fz_fields[] = {
	"repositoryUrl", "branchName", "commitId", "buildId", "buildUrl", NULL
};

static EVP_PKEY *fz_key;
static json_t *fz_bs[3];	/* github, gitlab, generic */
static json_t *fz_project, *fz_policy;

static void
fz_init(void)
{
	static const char *const presets[] = { "github", "gitlab", "generic" };
	json_t *jwks, *pub;
	EVP_PKEY *check;
	char err[512];
	BIO *b;
	int i;

	if (fz_key != NULL)
		return;
	if ((b = BIO_new_mem_buf(fz_ec_pem, -1)) == NULL ||
	    (fz_key = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL)) == NULL)
		fuzz_fail("the test key does not load");
	BIO_free(b);
	if ((jwks = json_loads(FZ_JWKS, 0, NULL)) == NULL)
		fuzz_fail("FZ_JWKS is not JSON");
	pub = json_array_get(json_object_get(jwks, "keys"), 0);
	if ((check = jose_openssl_jwk_to_EVP_PKEY(NULL, pub)) == NULL ||
	    EVP_PKEY_eq(check, fz_key) != 1)
		fuzz_fail("FZ_JWKS does not hold the test key");
	EVP_PKEY_free(check);
	for (i = 0; i < 3; i++) {
		fz_bs[i] = json_pack("{s:s, s:s, s:s, s:s, s:O}", "name",
		    presets[i], "preset", presets[i], "issuer", FZ_ISSUER,
		    "audience", "signet", "jwks", jwks);
		if (fz_bs[i] == NULL)
			fuzz_fail("build system");
	}
	json_object_set_new(fz_bs[1], "repositoryUrlPrefix",
	    json_string("https://gitlab.example.test/"));
	json_object_set_new(fz_bs[2], "claims", json_pack("{s:s, s:s, s:s, "
	    "s:s, s:s}", "repositoryUrl", "repo", "branchName", "ref",
	    "commitId", "sha", "buildId", "run", "buildUrl", "url"));
	for (i = 0; i < 3; i++)
		if (origin_check_build_system(fz_bs[i], err, sizeof(err)) != 0)
			fuzz_fail(err);
	json_decref(jwks);
	fz_project = json_pack("{s:s, s:[s, s]}", "slug", "app",
	    "repositoryUrls", "https://github.com/example/app",
	    "https://gitlab.example.test/example/app");
	fz_policy = json_pack("{s:s, s:b, s:[s, s]}", "slug", "release",
	    "requireVerifiedOrigin", 1, "allowedBranches", "main",
	    "refs/tags/v*");
	if (fz_project == NULL || fz_policy == NULL)
		fuzz_fail("rules");
}

static void
fz_check_text(const char *s, const char *token, const char *what)
{
	json_t *v;

	if ((v = json_string(s)) == NULL)
		fuzz_fail(what);
	json_decref(v);
	if (token != NULL && strlen(token) >= 16 && strstr(s, token) != NULL)
		fuzz_fail("a message quotes the ID token");
}

/* base64url(h) "." base64url(p) "." ES256 signature (RFC 7518 3.4:
 * R and S as 32 bytes each), NULL when it cannot be made. */
static char *
fz_sign(const char *h, size_t hn, const char *p, size_t pn)
{
	unsigned char der[128], rs[64];
	const unsigned char *dp = der;
	ECDSA_SIG *sig = NULL;
	EVP_MD_CTX *md = NULL;
	size_t eh, ep, es, dlen = sizeof(der), n;
	char *out = NULL;

	eh = jose_b64_enc_buf(h, hn, NULL, 0);
	ep = jose_b64_enc_buf(p, pn, NULL, 0);
	es = jose_b64_enc_buf(rs, sizeof(rs), NULL, 0);
	if (eh == SIZE_MAX || ep == SIZE_MAX || es == SIZE_MAX ||
	    (out = malloc(eh + ep + es + 3)) == NULL)
		return NULL;
	n = jose_b64_enc_buf(h, hn, out, eh);
	out[n++] = '.';
	n += jose_b64_enc_buf(p, pn, out + n, ep);
	if ((md = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, fz_key) != 1 ||
	    EVP_DigestSign(md, der, &dlen, (unsigned char *)out, n) != 1 ||
	    (sig = d2i_ECDSA_SIG(NULL, &dp, (long)dlen)) == NULL ||
	    BN_bn2binpad(ECDSA_SIG_get0_r(sig), rs, 32) != 32 ||
	    BN_bn2binpad(ECDSA_SIG_get0_s(sig), rs + 32, 32) != 32) {
		free(out);
		out = NULL;
		goto done;
	}
	out[n++] = '.';
	n += jose_b64_enc_buf(rs, sizeof(rs), out + n, es);
	out[n] = '\0';
done:
	ECDSA_SIG_free(sig);
	EVP_MD_CTX_free(md);
	return out;
}

/* The origin fields of parts[0..n), as the form gathers them. */
static json_t *
fz_origin(char *const *parts, size_t n)
{
	json_t *o = json_object(), *v;
	size_t i;

	for (i = 0; i < n && fz_fields[i] != NULL; i++) {
		if (parts[i][0] == '\0')
			continue;
		/* the form refuses what is not UTF-8 */
		if ((v = json_string(parts[i])) != NULL)
			json_object_set_new(o, fz_fields[i], v);
	}
	return o;
}

static void
fz_token(const json_t *bs, const char *token, json_t *origin)
{
	json_t *ev = NULL, *rec;
	char reason[512], msg[1024];
	int r;

	r = origin_verify_token(bs, token, origin, FZ_NOW, &ev, reason,
	    sizeof(reason));
	if (r == 0 && ev == NULL)
		fuzz_fail("a verified token without evidence");
	if (r != 0 && ev != NULL)
		fuzz_fail("evidence for a token that did not verify");
	if (r == SIGNET_ERR_FORBIDDEN)
		fz_check_text(reason, token, "a refusal's reason is not UTF-8");
	/* what the request records, against a policy with every rule */
	rec = json_pack("{s:b, s:s}", "verified", r == 0, "reason", r == 0 ?
	    "" : reason);
	if (rec != NULL && ev != NULL)
		json_object_update(rec, ev);
	origin_forget_token(origin);
	if (rec != NULL && origin_rules(fz_project, fz_policy, origin, rec,
	    msg, sizeof(msg)) != 0)
		fz_check_text(msg, token, "a rule's message is not UTF-8");
	json_decref(rec);
	json_decref(ev);
}

static void
fz_rules(const char *text, size_t len)
{
	json_t *doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL);
	json_t *policy;
	char msg[1024];

	if (doc == NULL)
		return;
	policy = json_object_get(doc, "policy");
	/* a policy is checked when it is stored: only those reach the rules */
	if (origin_check_branch_patterns(json_object_get(policy,
	    "allowedBranches"), msg, sizeof(msg)) != 0)
		fz_check_text(msg, NULL, "a pattern error is not UTF-8");
	else if (origin_rules(json_object_get(doc, "project"), policy,
	    json_object_get(doc, "origin"), json_object_get(doc, "evidence"),
	    msg, sizeof(msg)) != 0)
		fz_check_text(msg, NULL, "a rule's message is not UTF-8");
	json_decref(doc);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf, *parts[FZ_MAX_PARTS], *token = NULL, err[512];
	size_t n = 0, i, plen[FZ_MAX_PARTS];
	json_t *origin = NULL, *bs = NULL;
	const json_t *use;
	uint8_t sel;

	if (size < 1)
		return 0;
	fz_init();
	sel = data[0];
	use = fz_bs[sel / 4 % 3];
	/* the parts, each NUL-terminated in a copy of exactly its size */
	if ((buf = malloc(size)) == NULL)
		return 0;
	memcpy(buf, data + 1, size - 1);
	buf[size - 1] = '\0';
	if (sel % 4 == 3) {
		fz_rules(buf, size - 1);
		goto out;
	}
	parts[0] = buf;
	for (i = 0; i < size && n < FZ_MAX_PARTS; i++) {
		if (buf[i] != '\0')
			continue;
		plen[n] = (size_t)(buf + i - parts[n]);
		if (++n < FZ_MAX_PARTS)
			parts[n] = buf + i + 1;
	}
	err[0] = '\0';
	switch (sel % 4) {
	case 0:
		if (n < 1)
			goto out;
		origin = fz_origin(parts + 1, n - 1);
		fz_token(use, parts[0], origin);
		break;
	case 1:
		if (n < 2 || (token = fz_sign(parts[0], plen[0], parts[1],
		    plen[1])) == NULL)
			goto out;
		origin = fz_origin(parts + 2, n - 2);
		fz_token(use, token, origin);
		break;
	default:
		if (n < 2 || (bs = json_loadb(parts[0], plen[0],
		    JSON_REJECT_DUPLICATES, NULL)) == NULL)
			goto out;
		if (origin_check_build_system(bs, err, sizeof(err)) != 0) {
			fz_check_text(err, NULL, "a build system error is not "
			    "UTF-8");
			goto out;
		}
		/* without an issuer there is no token to check */
		if (json_object_get(bs, "issuer") == NULL)
			goto out;
		origin = fz_origin(parts + 2, n - 2);
		fz_token(bs, parts[1], origin);
		break;
	}
out:
	json_decref(origin);
	json_decref(bs);
	free(token);
	free(buf);
	return 0;
}
