/* The reply of an external RFC 3161 time-stamping authority (see
 * tsa_reply.h): the query it answers and the checks of what came back,
 * apart from the network (tsa_client.c) so that fuzz_tsr reads the same
 * code. */
#include <string.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ts.h>
#include <openssl/x509.h>

#include "signet_limits.h"
#include "tsa_reply.h"

/* The query: SHA-256 of data (RFC 3161 appendix A: the time-stamp of a
 * signature is over its value), a 64-bit random nonce, certReq so that
 * the token carries the TSA's certificate to verify it with. */
TS_REQ *
tsa_reply_query(const unsigned char *data, size_t len)
{
	TS_REQ *req = NULL, *ret = NULL;
	TS_MSG_IMPRINT *mi = NULL;
	X509_ALGOR *alg = NULL;
	ASN1_INTEGER *nonce = NULL;
	BIGNUM *bn = NULL;
	unsigned char md[32], rnd[8];
	unsigned int mdlen = 0;

	if (EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL) != 1 ||
	    RAND_bytes(rnd, sizeof(rnd)) != 1 ||
	    (bn = BN_bin2bn(rnd, sizeof(rnd), NULL)) == NULL ||
	    (nonce = BN_to_ASN1_INTEGER(bn, NULL)) == NULL ||
	    (req = TS_REQ_new()) == NULL || (mi = TS_MSG_IMPRINT_new()) == NULL ||
	    (alg = X509_ALGOR_new()) == NULL ||
	    !X509_ALGOR_set0(alg, OBJ_nid2obj(NID_sha256), V_ASN1_NULL, NULL) ||
	    !TS_MSG_IMPRINT_set_algo(mi, alg) ||
	    !TS_MSG_IMPRINT_set_msg(mi, md, (int)mdlen) ||
	    !TS_REQ_set_msg_imprint(req, mi) || !TS_REQ_set_version(req, 1) ||
	    !TS_REQ_set_nonce(req, nonce) || !TS_REQ_set_cert_req(req, 1))
		goto out;
	ret = req;
	req = NULL;
out:
	TS_REQ_free(req);
	BN_free(bn);
	ASN1_INTEGER_free(nonce);
	X509_ALGOR_free(alg);
	TS_MSG_IMPRINT_free(mi);
	return ret;
}

static X509_STORE *
tsa_reply_store(const char *pem)
{
	X509_STORE *st = NULL, *ret = NULL;
	BIO *b = NULL;
	X509 *x;
	int n = 0;

	if ((st = X509_STORE_new()) == NULL ||
	    (b = BIO_new_mem_buf(pem, -1)) == NULL)
		goto out;
	while ((x = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL) {
		int ok = X509_STORE_add_cert(st, x);

		X509_free(x);
		if (!ok)
			goto out;
		n++;
	}
	if (n == 0)
		goto out;
	ret = st;
	st = NULL;
out:
	ERR_clear_error();
	X509_STORE_free(st);
	BIO_free(b);
	return ret;
}

/* The reply (untrusted bytes, parsed by OpenSSL's DER decoder and
 * bounded by SIGNET_MAX_TSR): RFC 3161 section 2.4.2 status granted
 * (or grantedWithMods), then TS_RESP_verify_response: the token's
 * imprint and nonce are the query's, and its signature verifies with a
 * signer chaining to the policy's CA under purpose timestampsign
 * (extended key usage timeStamping, critical, section 2.3). */
int
tsa_reply_check(const char *ca_pem, TS_REQ *req, const unsigned char *buf,
    size_t len, unsigned char **token, size_t *toklen, char *err,
    size_t elen)
{
	const unsigned char *p = buf;
	TS_RESP *resp = NULL;
	TS_VERIFY_CTX *v = NULL;
	X509_STORE *st = NULL;
	unsigned char *der = NULL;
	long status;
	int l, r = SIGNET_ERR_INVALID;

	*token = NULL;
	*toklen = 0;
	if (len > SIGNET_MAX_TSR ||
	    (resp = d2i_TS_RESP(NULL, &p, (long)len)) == NULL ||
	    p != buf + len) {
		snprintf(err, elen, "the answer is not a TimeStampResp");
		goto out;
	}
	status = ASN1_INTEGER_get(TS_STATUS_INFO_get0_status(
	    TS_RESP_get_status_info(resp)));
	if (status != TS_STATUS_GRANTED &&
	    status != TS_STATUS_GRANTED_WITH_MODS) {
		snprintf(err, elen, "the TSA refused the query (PKIStatus "
		    "%ld)", status);
		goto out;
	}
	if (TS_RESP_get_token(resp) == NULL) {
		snprintf(err, elen, "the answer is granted but has no token");
		goto out;
	}
	r = SIGNET_ERR_NOMEM;
	snprintf(err, elen, "out of memory");
	if ((st = tsa_reply_store(ca_pem)) == NULL ||
	    (v = TS_REQ_to_TS_VERIFY_CTX(req, NULL)) == NULL)
		goto out;
	TS_VERIFY_CTX_add_flags(v, TS_VFY_SIGNATURE);
	TS_VERIFY_CTX_set_store(v, st);
	st = NULL;
	r = SIGNET_ERR_INVALID;
	if (TS_RESP_verify_response(v, resp) != 1) {
		unsigned long e = ERR_peek_last_error();

		snprintf(err, elen, "the token does not verify against "
		    "timestampCaPem (%s)", e != 0 ?
		    ERR_reason_error_string(e) : "imprint, nonce or signer");
		goto out;
	}
	r = SIGNET_ERR_CRYPTO;
	if ((l = i2d_PKCS7(TS_RESP_get_token(resp), &der)) <= 0) {
		snprintf(err, elen, "the token cannot be encoded");
		goto out;
	}
	*token = der;
	*toklen = (size_t)l;
	der = NULL;
	r = 0;
out:
	ERR_clear_error();
	OPENSSL_free(der);
	X509_STORE_free(st);
	TS_VERIFY_CTX_free(v);
	TS_RESP_free(resp);
	return r;
}
