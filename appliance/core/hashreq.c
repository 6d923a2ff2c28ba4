#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>

#include "hashreq.h"
#include "khclient.h"
#include "rd.h"
#include "signet_limits.h"

/* Hashes a digest may come from: the SHA-2 sizes the keyholder signs
 * (pkcs11/PROTOCOL.md, SIGN). */
static const struct {
	const char *name;
	size_t len;
	int kh;
} hashreq_algs[] = {
	{ "sha256", 32, KH_HASH_SHA256 },
	{ "sha384", 48, KH_HASH_SHA384 },
	{ "sha512", 64, KH_HASH_SHA512 },
};

/* Signature schemes: RSASSA-PKCS1-v1_5 over a DigestInfo the keyholder
 * builds (RFC 8017 section 9.2), RSASSA-PSS with a salt as long as the
 * hash and MGF1 of the same hash (RFC 8017 section 9.1), ECDSA (FIPS
 * 186-4 section 6.4; the signature is DER ECDSA-Sig-Value). */
static const struct {
	const char *name;
	int kh;
	int key_type;
	const char *key_name;
} hashreq_mechs[] = {
	{ "rsa-pkcs1", KH_MECH_RSA_PKCS1, EVP_PKEY_RSA, "RSA" },
	{ "rsa-pss", KH_MECH_RSA_PSS, EVP_PKEY_RSA, "RSA" },
	{ "ecdsa", KH_MECH_ECDSA, EVP_PKEY_EC, "EC" },
};

/* What the body may hold; a field not named here is refused. */
static const struct {
	const char *name;
	size_t max;
	int required;
} hashreq_fields[] = {
	{ "hashAlgorithm", 16, 1 },
	{ "digest", 2 * HASHREQ_MAX_DIGEST + 8, 1 },
	{ "signatureAlgorithm", 16, 1 },
	{ "fileName", SIGNET_MAX_ARTIFACT_NAME, 0 },
	{ "tool", SIGNET_MAX_HASH_TOOL, 0 },
	{ "description", SIGNET_MAX_DESCRIPTION, 0 },
	{ "origin.repositoryUrl", SIGNET_MAX_ORIGIN_VALUE, 0 },
	{ "origin.commitId", SIGNET_MAX_ORIGIN_VALUE, 0 },
	{ "origin.branchName", SIGNET_MAX_ORIGIN_VALUE, 0 },
	{ "origin.buildUrl", SIGNET_MAX_ORIGIN_VALUE, 0 },
	{ "origin.buildId", SIGNET_MAX_ORIGIN_VALUE, 0 },
	{ "origin.idToken", SIGNET_MAX_ID_TOKEN, 0 },
};

static int
hashreq_alg(const char *name)
{
	size_t i;

	for (i = 0; name != NULL && i < sizeof(hashreq_algs) /
	    sizeof(hashreq_algs[0]); i++)
		if (strcmp(hashreq_algs[i].name, name) == 0)
			return (int)i;
	return -1;
}

static int
hashreq_mech(const char *name)
{
	size_t i;

	for (i = 0; name != NULL && i < sizeof(hashreq_mechs) /
	    sizeof(hashreq_mechs[0]); i++)
		if (strcmp(hashreq_mechs[i].name, name) == 0)
			return (int)i;
	return -1;
}

static int
hashreq_nibble(uint8_t c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Hex (either case) into out[cap]; -1 on anything else or too long. */
static int
hashreq_unhex(const char *hex, size_t hlen, uint8_t *out, size_t cap,
    size_t *n)
{
	struct rd r;
	uint8_t a, b;
	int hi, lo;

	*n = 0;
	rd_init(&r, hex, hlen);
	while (rd_left(&r) > 0) {
		if (rd_u8(&r, &a) != 0 || rd_u8(&r, &b) != 0 || *n >= cap ||
		    (hi = hashreq_nibble(a)) < 0 || (lo = hashreq_nibble(b)) < 0)
			return -1;
		out[(*n)++] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

int
hashreq_parse(const json_t *body, json_t **hash, json_t **origin, char *msg,
    size_t len)
{
	const char *k, *alg, *dig, *mech, *file, *tool;
	uint8_t d[HASHREQ_MAX_DIGEST];
	char hex[2 * HASHREQ_MAX_DIGEST + 1];
	json_t *v, *h = NULL, *o = NULL;
	size_t i, n;
	int a, m, r = SIGNET_ERR_INVALID;

	*hash = *origin = NULL;
	if (!json_is_object(body))
		return signet_errf(msg, len, r, "send a JSON object of strings");
	json_object_foreach((json_t *)(uintptr_t)body, k, v) {
		for (i = 0; i < sizeof(hashreq_fields) /
		    sizeof(hashreq_fields[0]); i++)
			if (strcmp(hashreq_fields[i].name, k) == 0)
				break;
		if (i == sizeof(hashreq_fields) / sizeof(hashreq_fields[0]))
			return signet_errf(msg, len, r, "unknown field '%.64s' "
			    "(known: hashAlgorithm, digest, signatureAlgorithm, "
			    "fileName, tool, description, origin.FIELD)", k);
		if (!json_is_string(v) ||
		    json_string_length(v) > hashreq_fields[i].max)
			return signet_errf(msg, len, r, "%s must be a string of "
			    "at most %zu bytes", k, hashreq_fields[i].max);
	}
	for (i = 0; i < sizeof(hashreq_fields) / sizeof(hashreq_fields[0]);
	    i++)
		if (hashreq_fields[i].required &&
		    json_object_get(body, hashreq_fields[i].name) == NULL)
			return signet_errf(msg, len, r, "%s is required",
			    hashreq_fields[i].name);
	alg = json_string_value(json_object_get(body, "hashAlgorithm"));
	dig = json_string_value(json_object_get(body, "digest"));
	mech = json_string_value(json_object_get(body, "signatureAlgorithm"));
	file = json_string_value(json_object_get(body, "fileName"));
	tool = json_string_value(json_object_get(body, "tool"));
	if ((a = hashreq_alg(alg)) < 0)
		return signet_errf(msg, len, r, "hashAlgorithm '%.16s' is not "
		    "one of sha256, sha384, sha512", alg);
	if ((m = hashreq_mech(mech)) < 0)
		return signet_errf(msg, len, r, "signatureAlgorithm '%.16s' is "
		    "not one of rsa-pkcs1, rsa-pss, ecdsa", mech);
	n = strlen(dig);
	for (i = 0; i < n; i++)
		if (hashreq_nibble((uint8_t)dig[i]) < 0)
			break;
	if (i < n || n % 2 != 0)
		return signet_errf(msg, len, r, "digest must be the hash in "
		    "hex (%zu hex digits for %s)", 2 * hashreq_algs[a].len,
		    hashreq_algs[a].name);
	if (n / 2 != hashreq_algs[a].len)
		return signet_errf(msg, len, r, "digest is %zu bytes; a %s "
		    "digest is %zu bytes (%zu hex digits)", n / 2,
		    hashreq_algs[a].name, hashreq_algs[a].len,
		    2 * hashreq_algs[a].len);
	if (hashreq_unhex(dig, n, d, sizeof(d), &n) != 0)
		return signet_errf(msg, len, r, "digest must be the hash in "
		    "hex");
	for (i = 0; i < n; i++)
		snprintf(hex + 2 * i, 3, "%02x", d[i]);
	hex[2 * n] = '\0';
	if ((h = json_pack("{s:s, s:s, s:s, s:s, s:s}", "algorithm", alg,
	    "digest", hex, "mechanism", mech, "fileName",
	    file != NULL && *file != '\0' ? file : "unknown", "tool",
	    tool != NULL && *tool != '\0' ? tool : "unknown")) == NULL ||
	    (o = json_object()) == NULL) {
		r = SIGNET_ERR_NOMEM;
		goto out;
	}
	json_object_foreach((json_t *)(uintptr_t)body, k, v)
		if (strncmp(k, "origin.", 7) == 0 &&
		    json_object_set(o, k + 7, v) != 0) {
			r = SIGNET_ERR_NOMEM;
			goto out;
		}
	*hash = h;
	*origin = o;
	h = o = NULL;
	r = 0;
out:
	json_decref(h);
	json_decref(o);
	return r;
}

int
hashreq_fits_key(const json_t *hash, int key_type, char *msg, size_t len)
{
	const char *mech = json_string_value(json_object_get(hash,
	    "mechanism"));
	int m = hashreq_mech(mech);

	if (m < 0)
		return signet_errf(msg, len, SIGNET_ERR_INVALID, "unknown "
		    "signatureAlgorithm");
	if (hashreq_mechs[m].key_type != key_type)
		return signet_errf(msg, len, SIGNET_ERR_INVALID,
		    "signatureAlgorithm %s needs an %s key and this policy's "
		    "key is %s; use %s", mech, hashreq_mechs[m].key_name,
		    key_type == EVP_PKEY_RSA ? "RSA" : key_type == EVP_PKEY_EC ?
		    "EC" : "of another type", key_type == EVP_PKEY_EC ?
		    "ecdsa" : "rsa-pkcs1 or rsa-pss");
	return 0;
}

int
hashreq_kh(const json_t *hash, int *mech, int *kh_hash,
    uint8_t digest[HASHREQ_MAX_DIGEST], size_t *dlen)
{
	const char *dig = json_string_value(json_object_get(hash, "digest"));
	int a = hashreq_alg(json_string_value(json_object_get(hash,
	    "algorithm")));
	int m = hashreq_mech(json_string_value(json_object_get(hash,
	    "mechanism")));

	if (a < 0 || m < 0 || dig == NULL ||
	    hashreq_unhex(dig, strlen(dig), digest, HASHREQ_MAX_DIGEST,
	    dlen) != 0 || *dlen != hashreq_algs[a].len)
		return SIGNET_ERR_STORE;
	*mech = hashreq_mechs[m].kh;
	*kh_hash = hashreq_algs[a].kh;
	return 0;
}
