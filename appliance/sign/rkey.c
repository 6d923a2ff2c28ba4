/* The RSA_METHOD and EC_KEY_METHOD interfaces are deprecated in OpenSSL 3
 * in favour of providers, but they are what makes a key "foreign": OpenSSL
 * 3.0 keeps such keys on its legacy code path, where CMS_sign, X509_sign
 * and EVP_DigestSign call our sign function. A provider would do the same
 * with far more code; this file alone is exempt from the warning. */
#define OPENSSL_SUPPRESS_DEPRECATED

#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "khclient.h"
#include "log.h"
#include "rkey.h"

/* What a key's private operation needs; immutable once made, so workers
 * share it without a lock (the keyholder client takes requests from any
 * thread at once). */
struct rkey {
	struct kh *kh;
	char id[KH_KEY_ID_HEX + 1];
	int purpose;			/* enum kh_purpose */
	char admin[KH_MAX_REF + 1];	/* KH_PURPOSE_CERTIFICATE: who */
};

/* The signing request this thread signs for (rkey_bind_request). Keys in
 * the signer are shared by its workers, so the request travels with the
 * thread, not with the key. */
static _Thread_local char rkey_request[KH_MAX_REF + 1];
/* The code of this thread's last failed private operation. */
static _Thread_local int rkey_error;

int
rkey_take_error(void)
{
	int r = rkey_error;

	rkey_error = 0;
	return r;
}

void
rkey_bind_request(const char *request_id)
{
	size_t n = request_id == NULL ? 0 : strlen(request_id);

	if (n > KH_MAX_REF)
		n = 0;	/* refused at signing time: no request bound */
	memcpy(rkey_request, request_id == NULL ? "" : request_id, n);
	rkey_request[n] = '\0';
}

/* What the keyholder journals for a signature with k: a request's id, or
 * the administrator doing certificate work. NULL: nothing is bound, and
 * a signature nobody can account for is not asked for. */
static const char *
rkey_ref(const struct rkey *k, int *purpose)
{
	*purpose = k->purpose;
	if (k->purpose == KH_PURPOSE_CERTIFICATE)
		return k->admin;
	if (rkey_request[0] == '\0') {
		log_err("remote key %s: no signing request bound; refusing to "
		    "sign", k->id);
		return NULL;
	}
	return rkey_request;
}

static pthread_once_t rkey_once = PTHREAD_ONCE_INIT;
static RSA_METHOD *rkey_rsa_meth;
static EC_KEY_METHOD *rkey_ec_meth;
static int rkey_rsa_idx = -1;
static int rkey_ec_idx = -1;

static void
rkey_ex_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl,
    void *argp)
{
	(void)parent;
	(void)ad;
	(void)idx;
	(void)argl;
	(void)argp;
	free(ptr);
}

static int
hash_of_nid(int nid, unsigned int len)
{
	switch (nid) {
	case NID_sha256:
		return len == 32 ? KH_HASH_SHA256 : 0;
	case NID_sha384:
		return len == 48 ? KH_HASH_SHA384 : 0;
	case NID_sha512:
		return len == 64 ? KH_HASH_SHA512 : 0;
	default:
		return 0;
	}
}

/* ECDSA signs a bare digest; its length says which hash it was. */
static int
hash_of_len(int len)
{
	switch (len) {
	case 32:
		return KH_HASH_SHA256;
	case 48:
		return KH_HASH_SHA384;
	case 64:
		return KH_HASH_SHA512;
	default:
		return 0;
	}
}

/* RSA_sign() hands over the digest and its NID before any padding, so
 * the keyholder builds the DigestInfo (RFC 8017 section 9.2) from a digest
 * it has checked. */
static int
rkey_rsa_sign(int type, const unsigned char *m, unsigned int m_length,
    unsigned char *sigret, unsigned int *siglen, const RSA *rsa)
{
	const struct rkey *k = RSA_get_ex_data(rsa, rkey_rsa_idx);
	size_t len = (size_t)RSA_size(rsa);
	const char *ref;
	int hash, purpose, r;

	*siglen = 0;
	if (k == NULL || (hash = hash_of_nid(type, m_length)) == 0) {
		log_err("remote RSA key: unsupported digest (nid %d, %u "
		    "bytes)", type, m_length);
		return 0;
	}
	if ((ref = rkey_ref(k, &purpose)) == NULL) {
		rkey_error = SIGNET_ERR_INVALID;
		return 0;
	}
	r = kh_sign(k->kh, k->id, KH_MECH_RSA_PKCS1, hash, m, m_length,
	    purpose, ref, sigret, &len);
	if (r != 0) {
		log_err("remote RSA key %s: %s", k->id, signet_strerror(r));
		rkey_error = r;
		return 0;
	}
	if (len != (size_t)RSA_size(rsa)) {
		rkey_error = SIGNET_ERR_PROTOCOL;
		return 0;
	}
	*siglen = (unsigned int)len;
	return 1;
}

/* Every other private operation (raw RSA, decryption) is refused: the
 * keyholder only signs digests. */
static int
rkey_rsa_priv_none(int flen, const unsigned char *from, unsigned char *to,
    RSA *rsa, int padding)
{
	(void)flen;
	(void)from;
	(void)to;
	(void)rsa;
	(void)padding;
	return -1;
}

static int
rkey_ec_sign(int type, const unsigned char *dgst, int dlen,
    unsigned char *sig, unsigned int *siglen, const BIGNUM *kinv,
    const BIGNUM *rp, EC_KEY *eckey)
{
	const struct rkey *k = EC_KEY_get_ex_data(eckey, rkey_ec_idx);
	int cap = ECDSA_size(eckey), hash, purpose, r;
	const char *ref;
	size_t len;

	(void)type;
	*siglen = 0;
	/* kinv and r are for deterministic or precomputed nonces; the token
	 * chooses its own */
	if (k == NULL || kinv != NULL || rp != NULL || cap <= 0 ||
	    (hash = hash_of_len(dlen)) == 0) {
		log_err("remote EC key: unsupported request (%d-byte digest)",
		    dlen);
		return 0;
	}
	if ((ref = rkey_ref(k, &purpose)) == NULL) {
		rkey_error = SIGNET_ERR_INVALID;
		return 0;
	}
	len = (size_t)cap;
	r = kh_sign(k->kh, k->id, KH_MECH_ECDSA, hash, dgst, (size_t)dlen,
	    purpose, ref, sig, &len);
	if (r != 0) {
		log_err("remote EC key %s: %s", k->id, signet_strerror(r));
		rkey_error = r;
		return 0;
	}
	*siglen = (unsigned int)len;
	return 1;
}

static ECDSA_SIG *
rkey_ec_sign_sig(const unsigned char *dgst, int dlen, const BIGNUM *kinv,
    const BIGNUM *rp, EC_KEY *eckey)
{
	unsigned char der[256];
	const unsigned char *p = der;
	unsigned int len;
	ECDSA_SIG *s;

	if (ECDSA_size(eckey) > (int)sizeof(der))
		return NULL;
	if (rkey_ec_sign(0, dgst, dlen, der, &len, kinv, rp, eckey) != 1)
		return NULL;
	if ((s = d2i_ECDSA_SIG(NULL, &p, (long)len)) == NULL ||
	    p != der + len) {
		ECDSA_SIG_free(s);
		return NULL;
	}
	return s;
}

static void
rkey_init(void)
{
	RSA_METHOD *rm = NULL;
	EC_KEY_METHOD *em = NULL;

	/* Public operations (verification) stay OpenSSL's own. */
	if ((rm = RSA_meth_dup(RSA_get_default_method())) == NULL ||
	    RSA_meth_set1_name(rm, "signet remote key") != 1 ||
	    RSA_meth_set_sign(rm, rkey_rsa_sign) != 1 ||
	    RSA_meth_set_priv_enc(rm, rkey_rsa_priv_none) != 1 ||
	    RSA_meth_set_priv_dec(rm, rkey_rsa_priv_none) != 1)
		goto fail;
	if ((em = EC_KEY_METHOD_new(EC_KEY_get_default_method())) == NULL)
		goto fail;
	/* no sign_setup: the nonce is the token's business */
	EC_KEY_METHOD_set_sign(em, rkey_ec_sign, NULL, rkey_ec_sign_sig);
	rkey_rsa_idx = RSA_get_ex_new_index(0, NULL, NULL, NULL, rkey_ex_free);
	rkey_ec_idx = EC_KEY_get_ex_new_index(0, NULL, NULL, NULL,
	    rkey_ex_free);
	if (rkey_rsa_idx < 0 || rkey_ec_idx < 0)
		goto fail;
	rkey_rsa_meth = rm;
	rkey_ec_meth = em;
	return;
 fail:
	log_ssl("cannot set up remote key methods");
	RSA_meth_free(rm);
	EC_KEY_METHOD_free(em);
}

static struct rkey *
rkey_new(struct kh *kh, const char *key_id, const char *admin)
{
	struct rkey *k;
	size_t n = strlen(key_id);

	if (n > KH_KEY_ID_HEX ||
	    (admin != NULL && strlen(admin) > KH_MAX_REF) ||
	    (k = calloc(1, sizeof(*k))) == NULL)
		return NULL;
	k->kh = kh;
	memcpy(k->id, key_id, n + 1);
	k->purpose = KH_PURPOSE_REQUEST;
	if (admin != NULL) {
		k->purpose = KH_PURPOSE_CERTIFICATE;
		memcpy(k->admin, admin, strlen(admin) + 1);
	}
	return k;
}

/* A legacy RSA key holding the public half and our method; the EVP_PKEY
 * built around it is "foreign", so OpenSSL does not export it to a
 * provider. */
static int
load_rsa(struct kh *kh, const char *key_id, const char *admin,
    const uint8_t *der, long len, EVP_PKEY **out)
{
	const unsigned char *p = der;
	struct rkey *k = NULL;
	EVP_PKEY *pk = NULL;
	RSA *rsa = NULL;
	int r = SIGNET_ERR_CRYPTO;

	if ((rsa = d2i_RSA_PUBKEY(NULL, &p, len)) == NULL)
		goto out;
	if (RSA_set_method(rsa, rkey_rsa_meth) != 1)
		goto out;
	if ((k = rkey_new(kh, key_id, admin)) == NULL) {
		r = SIGNET_ERR_NOMEM;
		goto out;
	}
	if (RSA_set_ex_data(rsa, rkey_rsa_idx, k) != 1)
		goto out;
	k = NULL;	/* freed with rsa by rkey_ex_free */
	if ((pk = EVP_PKEY_new()) == NULL || EVP_PKEY_assign_RSA(pk, rsa) != 1)
		goto out;
	rsa = NULL;
	*out = pk;
	pk = NULL;
	r = 0;
 out:
	if (r != 0)
		log_ssl("remote RSA key %s", key_id);
	free(k);
	RSA_free(rsa);
	EVP_PKEY_free(pk);
	return r;
}

static int
load_ec(struct kh *kh, const char *key_id, const char *admin,
    const uint8_t *der, long len, EVP_PKEY **out)
{
	const unsigned char *p = der;
	struct rkey *k = NULL;
	EVP_PKEY *pk = NULL;
	EC_KEY *ec = NULL;
	int r = SIGNET_ERR_CRYPTO;

	if ((ec = d2i_EC_PUBKEY(NULL, &p, len)) == NULL)
		goto out;
	if (EC_KEY_set_method(ec, rkey_ec_meth) != 1)
		goto out;
	if ((k = rkey_new(kh, key_id, admin)) == NULL) {
		r = SIGNET_ERR_NOMEM;
		goto out;
	}
	if (EC_KEY_set_ex_data(ec, rkey_ec_idx, k) != 1)
		goto out;
	k = NULL;
	if ((pk = EVP_PKEY_new()) == NULL ||
	    EVP_PKEY_assign_EC_KEY(pk, ec) != 1)
		goto out;
	ec = NULL;
	*out = pk;
	pk = NULL;
	r = 0;
 out:
	if (r != 0)
		log_ssl("remote EC key %s", key_id);
	free(k);
	EC_KEY_free(ec);
	EVP_PKEY_free(pk);
	return r;
}

static int
load(struct kh *kh, const char *key_id, const char *admin, EVP_PKEY **out)
{
	EVP_PKEY *pub = NULL;
	unsigned char *der = NULL;
	int len, r;

	*out = NULL;
	if (kh == NULL || key_id == NULL)
		return SIGNET_ERR_INVALID;
	if (pthread_once(&rkey_once, rkey_init) != 0 ||
	    rkey_rsa_meth == NULL || rkey_ec_meth == NULL)
		return SIGNET_ERR_INTERNAL;
	/* also proves the key exists and the token is usable */
	if ((r = kh_public_key(kh, key_id, &pub)) != 0)
		return r;
	if ((len = i2d_PUBKEY(pub, &der)) <= 0) {
		r = SIGNET_ERR_CRYPTO;
		goto out;
	}
	switch (EVP_PKEY_get_base_id(pub)) {
	case EVP_PKEY_RSA:
		r = load_rsa(kh, key_id, admin, der, len, out);
		break;
	case EVP_PKEY_EC:
		r = load_ec(kh, key_id, admin, der, len, out);
		break;
	default:
		log_err("key %s: neither RSA nor EC", key_id);
		r = SIGNET_ERR_INVALID;
		break;
	}
 out:
	OPENSSL_free(der);
	EVP_PKEY_free(pub);
	return r;
}

int
rkey_load(struct kh *kh, const char *key_id, EVP_PKEY **out)
{
	return load(kh, key_id, NULL, out);
}

int
rkey_load_admin(struct kh *kh, const char *key_id, const char *admin,
    EVP_PKEY **out)
{
	*out = NULL;
	if (admin == NULL || admin[0] == '\0' || strlen(admin) > KH_MAX_REF)
		return SIGNET_ERR_INVALID;
	return load(kh, key_id, admin, out);
}
