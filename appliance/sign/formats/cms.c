#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/cms.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/objects.h>

#include "cms.h"
#include "log.h"
#include "rkey.h"
#include "signet_limits.h"

/*
 * The artifact's digest was computed once, while it streamed to disk, and
 * is what approvers decided over. Signing that recorded digest (instead
 * of letting CMS_final() read the content again) binds the signature to
 * exactly the approved bytes and keeps a 1 GiB artifact from being read
 * twice: the messageDigest attribute is set here and CMS_SignerInfo_sign()
 * signs the DER of the signed attributes.
 */
/*
 * A time-stamp token over the signature value, as the unsigned attribute
 * id-aa-timeStampToken (1.2.840.113549.1.9.16.2.14; RFC 3161 appendix A):
 * it proves the signature existed at genTime, so it stays good after the
 * signing certificate expires. The token is a ContentInfo, carried whole
 * as the attribute's one value.
 */
static int
cms_add_timestamp(CMS_SignerInfo *si, const struct format_job *job)
{
	ASN1_OCTET_STRING *sig = CMS_SignerInfo_get0_signature(si);
	unsigned char *tok = NULL;
	size_t len = 0;
	int r;

	if (sig == NULL)
		return SIGNET_ERR_CRYPTO;
	if ((r = job->timestamp(job->timestamp_arg, ASN1_STRING_get0_data(sig),
	    (size_t)ASN1_STRING_length(sig), &tok, &len)) != 0)
		return r;
	r = len > INT_MAX || !CMS_unsigned_add1_attr_by_NID(si,
	    NID_id_smime_aa_timeStampToken, V_ASN1_SEQUENCE, tok, (int)len) ?
	    SIGNET_ERR_CRYPTO : 0;
	OPENSSL_free(tok);
	return r;
}

static int
cms_sign(EVP_PKEY *key, X509 *signer, STACK_OF(X509) *chain,
    const unsigned char sha256[32], const char *request_id,
    const struct format_job *ts, unsigned char **der, size_t *derlen,
    char *reason, size_t rlen)
{
	CMS_ContentInfo *cms = NULL;
	CMS_SignerInfo *si;
	unsigned char *p = NULL;
	int len, i, r = SIGNET_ERR_CRYPTO;
	const unsigned int flags = CMS_DETACHED | CMS_BINARY | CMS_PARTIAL |
	    CMS_NOSMIMECAP;

	*der = NULL;
	*derlen = 0;
	if (request_id == NULL || request_id[0] == '\0')
		return SIGNET_ERR_INVALID;
	if ((cms = CMS_sign(NULL, NULL, NULL, NULL, flags)) == NULL)
		goto out;
	if ((si = CMS_add1_signer(cms, signer, key, EVP_sha256(),
	    flags)) == NULL) {
		log_ssl("cms: the signer certificate does not fit the key");
		goto out;
	}
	for (i = 0; i < sk_X509_num(chain); i++) {
		X509 *x = sk_X509_value(chain, i);

		if (X509_cmp(x, signer) != 0 && !CMS_add1_cert(cms, x))
			goto out;
	}
	if (CMS_signed_get_attr_by_NID(si, NID_pkcs9_contentType, -1) < 0 &&
	    !CMS_signed_add1_attr_by_NID(si, NID_pkcs9_contentType,
	    V_ASN1_OBJECT, OBJ_nid2obj(NID_pkcs7_data), -1))
		goto out;
	if (!CMS_signed_add1_attr_by_NID(si, NID_pkcs9_messageDigest,
	    V_ASN1_OCTET_STRING, sha256, 32))
		goto out;
	/* adds signingTime, then signs through the key (the keyholder),
	 * which journals the signature under the request's id */
	rkey_bind_request(request_id);
	(void)rkey_take_error();
	i = CMS_SignerInfo_sign(si);
	rkey_bind_request(NULL);
	if (i != 1) {
		/* the keyholder's own code when it was the private operation
		 * (a dead channel is not the request's fault), else OpenSSL's */
		log_ssl("cms: signing failed");
		if ((r = rkey_take_error()) == 0)
			r = SIGNET_ERR_CRYPTO;
		goto out;
	}
	if (ts != NULL && ts->timestamp != NULL &&
	    (r = cms_add_timestamp(si, ts)) != 0) {
		snprintf(reason, rlen, "the built-in time-stamping authority "
		    "gave no token: %s%s", signet_strerror(r),
		    r == SIGNET_ERR_UNAVAILABLE ? " (the system clock is not "
		    "synchronised)" : "");
		goto out;
	}
	if ((len = i2d_CMS_ContentInfo(cms, &p)) <= 0)
		goto out;
	*der = p;
	*derlen = (size_t)len;
	p = NULL;
	r = 0;
out:
	if (r != 0)
		ERR_clear_error();
	OPENSSL_free(p);
	CMS_ContentInfo_free(cms);
	return r;
}

int
cms_sign_detached(EVP_PKEY *key, X509 *signer, STACK_OF(X509) *chain,
    const unsigned char sha256[32], const char *request_id,
    unsigned char **der, size_t *derlen)
{
	char reason[8];

	return cms_sign(key, signer, chain, sha256, request_id, NULL, der,
	    derlen, reason, sizeof(reason));
}

/*
 * What the keyholder was asked to sign for a detached CMS: the SHA-256 of
 * the DER of the first signer's signed attributes with the EXPLICIT SET OF
 * tag (RFC 5652 section 5.4), and the messageDigest attribute (the
 * artifact's digest). The attributes were parsed in the order they were
 * encoded, which for DER is the sorted order the signature covers, so
 * concatenating them one by one gives back the signed bytes.
 */
int
cms_signed_digests(const unsigned char *der, size_t len,
    unsigned char attrs_sha256[32], unsigned char content_sha256[32])
{
	const unsigned char *p = der;
	CMS_ContentInfo *cms = NULL;
	STACK_OF(CMS_SignerInfo) *sis;
	CMS_SignerInfo *si;
	ASN1_OCTET_STRING *md;
	unsigned char *buf = NULL, *q, hdr[6];
	size_t total = 0, off, h = 0;
	unsigned int dl = 0;
	int i, n, l, r = SIGNET_ERR_INVALID;
	EVP_MD_CTX *mc = NULL;

	if (len == 0 || len > LONG_MAX ||
	    (cms = d2i_CMS_ContentInfo(NULL, &p, (long)len)) == NULL ||
	    p != der + len)
		goto out;
	if ((sis = CMS_get0_SignerInfos(cms)) == NULL ||
	    sk_CMS_SignerInfo_num(sis) != 1)
		goto out;
	si = sk_CMS_SignerInfo_value(sis, 0);
	if ((n = CMS_signed_get_attr_count(si)) <= 0)
		goto out;
	for (i = 0; i < n; i++) {
		if ((l = i2d_X509_ATTRIBUTE(CMS_signed_get_attr(si, i),
		    NULL)) <= 0)
			goto out;
		total += (size_t)l;
	}
	if (total > 0xffffff || (buf = malloc(total)) == NULL) {
		r = total > 0xffffff ? SIGNET_ERR_TOO_LARGE : SIGNET_ERR_NOMEM;
		goto out;
	}
	for (i = 0, off = 0; i < n; i++) {
		q = buf + off;
		if ((l = i2d_X509_ATTRIBUTE(CMS_signed_get_attr(si, i),
		    &q)) <= 0)
			goto out;
		off += (size_t)l;
	}
	/* SET OF, DER length (X.690 section 8.1.3) */
	hdr[h++] = 0x31;
	if (total < 0x80) {
		hdr[h++] = (unsigned char)total;
	} else if (total <= 0xff) {
		hdr[h++] = 0x81;
		hdr[h++] = (unsigned char)total;
	} else if (total <= 0xffff) {
		hdr[h++] = 0x82;
		hdr[h++] = (unsigned char)(total >> 8);
		hdr[h++] = (unsigned char)total;
	} else {
		hdr[h++] = 0x83;
		hdr[h++] = (unsigned char)(total >> 16);
		hdr[h++] = (unsigned char)(total >> 8);
		hdr[h++] = (unsigned char)total;
	}
	if ((mc = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestInit_ex(mc, EVP_sha256(), NULL) != 1 ||
	    EVP_DigestUpdate(mc, hdr, h) != 1 ||
	    EVP_DigestUpdate(mc, buf, total) != 1 ||
	    EVP_DigestFinal_ex(mc, attrs_sha256, &dl) != 1 || dl != 32) {
		r = SIGNET_ERR_CRYPTO;
		goto out;
	}
	md = CMS_signed_get0_data_by_OBJ(si,
	    OBJ_nid2obj(NID_pkcs9_messageDigest), -3, V_ASN1_OCTET_STRING);
	if (md == NULL || ASN1_STRING_length(md) != 32)
		goto out;
	memcpy(content_sha256, ASN1_STRING_get0_data(md), 32);
	r = 0;
out:
	ERR_clear_error();
	EVP_MD_CTX_free(mc);
	free(buf);
	CMS_ContentInfo_free(cms);
	return r;
}

/* hex SHA-256 → 32 bytes */
static int
cms_unhex(const char *hex, unsigned char md[32])
{
	size_t i;
	int hi, lo;

	if (hex == NULL || strlen(hex) != 64)
		return SIGNET_ERR_INVALID;
	for (i = 0; i < 32; i++) {
		hi = OPENSSL_hexchar2int((unsigned char)hex[2 * i]);
		lo = OPENSSL_hexchar2int((unsigned char)hex[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return SIGNET_ERR_INVALID;
		md[i] = (unsigned char)(hi << 4 | lo);
	}
	return 0;
}

int
cms_format_sign(const struct format_job *job, const struct format_key *key,
    struct format_output *out, char *reason, size_t rlen)
{
	unsigned char md[32], *der = NULL;
	size_t derlen = 0;
	int r;

	/* detached: the content is not read again; what is signed is the
	 * digest recorded while it streamed in, the one approvers saw */
	if ((r = cms_unhex(job->artifact_sha256, md)) != 0) {
		snprintf(reason, rlen, "the request's artifact digest is not "
		    "a SHA-256");
		return r;
	}
	reason[0] = '\0';
	if ((r = cms_sign(key->key, key->leaf, key->chain, md,
	    job->request_id, job, &der, &derlen, reason, rlen)) != 0) {
		if (reason[0] == '\0')
			snprintf(reason, rlen, "signing failed: %s",
			    signet_strerror(r));
		goto out;
	}
	/* a signature is small: held for the database, in the commit that
	 * records it, unless its chain makes it large */
	if (derlen <= SIGNET_INLINE_RESULT_MAX) {
		if ((r = cas_name(der, derlen, out->sha256)) != 0)
			goto out;
		if ((out->held = malloc(derlen > 0 ? derlen : 1)) == NULL) {
			r = SIGNET_ERR_NOMEM;
			goto out;
		}
		memcpy(out->held, der, derlen);
	} else if ((r = cas_put(job->cas, der, derlen, out->sha256)) != 0) {
		snprintf(reason, rlen, "storing the signature failed: %s",
		    signet_strerror(r));
		goto out;
	}
	out->size = derlen;
out:
	OPENSSL_free(der);
	return r;
}
