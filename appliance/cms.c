#include <stdlib.h>
#include <string.h>

#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/objects.h>

#include "cms.h"
#include "log.h"
#include "rkey.h"

/*
 * The artifact's digest was computed once, while it streamed to disk, and
 * is what approvers decided over. Signing that recorded digest (instead
 * of letting CMS_final() read the content again) binds the signature to
 * exactly the approved bytes and keeps a 1 GiB artifact from being read
 * twice: the messageDigest attribute is set here and CMS_SignerInfo_sign()
 * signs the DER of the signed attributes.
 */
int
cms_sign_detached(EVP_PKEY *key, X509 *signer, STACK_OF(X509) *chain,
    const unsigned char sha256[32], const char *request_id,
    unsigned char **der, size_t *derlen)
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
	i = CMS_SignerInfo_sign(si);
	rkey_bind_request(NULL);
	if (i != 1) {
		log_ssl("cms: signing failed");
		r = SIGNET_ERR_TOKEN;
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
