#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <openssl/asn1.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/ts.h>
#include <openssl/x509.h>

#include "rd.h"
#include "signet_limits.h"
#include "tsa_query.h"

/* The imprint hashes accepted: SHA-1 is not (its collisions let one
 * token stand for two documents). */
static const struct {
	int nid;
	size_t len;
} tsa_query_mds[] = {
	{ NID_sha256, 32 },
	{ NID_sha384, 48 },
	{ NID_sha512, 64 },
};

#define TSA_QUERY_NMDS (sizeof(tsa_query_mds) / sizeof(tsa_query_mds[0]))

static int tsa_query_refuse(struct tsa_query *q, int fail_info,
    const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int
tsa_query_refuse(struct tsa_query *q, int fail_info, const char *fmt, ...)
{
	va_list ap;

	q->fail_info = fail_info;
	va_start(ap, fmt);
	vsnprintf(q->text, sizeof(q->text), fmt, ap);
	va_end(ap);
	return SIGNET_ERR_INVALID;
}

/* The body is one DER SEQUENCE with a definite length that ends where the
 * body ends (X.690 section 10.1): read through the bounded reader before
 * OpenSSL's decoder sees it, so trailing bytes or a short body are
 * refused here whatever the decoder would make of them. */
static int
tsa_query_envelope(const unsigned char *der, size_t len)
{
	struct rd rd;
	uint8_t tag, l0, b;
	size_t n = 0;
	int i;

	rd_init(&rd, der, len);
	if (rd_u8(&rd, &tag) != 0 || tag != 0x30 || rd_u8(&rd, &l0) != 0)
		return -1;
	if (l0 < 0x80) {
		n = l0;
	} else {
		/* long form, at most 2 length bytes for SIGNET_MAX_TSQ,
		 * minimal (DER) */
		if (l0 != 0x81 && l0 != 0x82)
			return -1;
		for (i = 0; i < (l0 & 0x7f); i++) {
			if (rd_u8(&rd, &b) != 0 || (i == 0 && b == 0))
				return -1;
			n = n << 8 | b;
		}
		if ((l0 == 0x81 && n < 0x80) || (l0 == 0x82 && n < 0x100))
			return -1;
	}
	if (rd_skip(&rd, n) != 0 || rd_end(&rd) != 0)
		return -1;
	return 0;
}

int
tsa_query_check(const unsigned char *der, size_t len,
    const ASN1_OBJECT *policy, struct tsa_query *q, TS_REQ **req)
{
	const unsigned char *p = der;
	TS_REQ *r = NULL;
	TS_MSG_IMPRINT *mi;
	X509_ALGOR *alg;
	const ASN1_OBJECT *aobj;
	const void *pval;
	const ASN1_OBJECT *rp;
	ASN1_OCTET_STRING *imprint;
	char name[80];
	size_t i;
	int ptype, rc = SIGNET_ERR_INVALID;

	*req = NULL;
	memset(q, 0, sizeof(*q));
	q->fail_info = -1;
	q->md_nid = NID_undef;
	if (der == NULL || len == 0 || len > SIGNET_MAX_TSQ ||
	    tsa_query_envelope(der, len) != 0 ||
	    (r = d2i_TS_REQ(NULL, &p, (long)len)) == NULL ||
	    p != der + len) {
		rc = tsa_query_refuse(q, TS_INFO_BAD_DATA_FORMAT, "the body is "
		    "not one DER TimeStampReq (RFC 3161 section 2.4.1)");
		goto out;
	}
	if (TS_REQ_get_version(r) != 1) {
		rc = tsa_query_refuse(q, TS_INFO_BAD_DATA_FORMAT, "the request's "
		    "version must be 1");
		goto out;
	}
	mi = TS_REQ_get_msg_imprint(r);
	alg = TS_MSG_IMPRINT_get_algo(mi);
	X509_ALGOR_get0(&aobj, &ptype, &pval, alg);
	for (i = 0; i < TSA_QUERY_NMDS; i++)
		if (OBJ_obj2nid(aobj) == tsa_query_mds[i].nid)
			break;
	if (i == TSA_QUERY_NMDS) {
		if (OBJ_obj2txt(name, sizeof(name), aobj, 0) <= 0)
			snprintf(name, sizeof(name), "?");
		rc = tsa_query_refuse(q, TS_INFO_BAD_ALG, "hash algorithm %s is "
		    "not accepted; use SHA-256, SHA-384 or SHA-512", name);
		goto out;
	}
	/* the hash algorithms' parameters are absent or NULL (RFC 5754
	 * section 2) */
	if (ptype != V_ASN1_UNDEF && ptype != V_ASN1_NULL) {
		rc = tsa_query_refuse(q, TS_INFO_BAD_ALG, "the hash algorithm "
		    "has parameters; send none (or NULL)");
		goto out;
	}
	imprint = TS_MSG_IMPRINT_get_msg(mi);
	if ((size_t)ASN1_STRING_length(imprint) != tsa_query_mds[i].len) {
		snprintf(name, sizeof(name), "%s", OBJ_nid2sn(tsa_query_mds[i].nid));
		rc = tsa_query_refuse(q, TS_INFO_BAD_DATA_FORMAT, "the message "
		    "imprint's length is not the one of %s", name);
		goto out;
	}
	rp = TS_REQ_get_policy_id(r);
	if (rp != NULL && (policy == NULL || OBJ_cmp(rp, policy) != 0)) {
		if (OBJ_obj2txt(name, sizeof(name), policy, 1) <= 0)
			snprintf(name, sizeof(name), "?");
		rc = tsa_query_refuse(q, TS_INFO_UNACCEPTED_POLICY, "this TSA "
		    "issues under policy %s only", name);
		goto out;
	}
	if (TS_REQ_get_ext_count(r) != 0) {
		rc = tsa_query_refuse(q, TS_INFO_UNACCEPTED_EXTENSION, "request "
		    "extensions are not accepted");
		goto out;
	}
	q->md_nid = tsa_query_mds[i].nid;
	q->cert_req = TS_REQ_get_cert_req(r) != 0;
	*req = r;
	r = NULL;
	rc = 0;
out:
	ERR_clear_error();
	TS_REQ_free(r);
	return rc;
}

/*
 * TimeStampResp ::= SEQUENCE { status PKIStatusInfo, timeStampToken
 * OPTIONAL }, PKIStatusInfo ::= SEQUENCE { status PKIStatus, statusString
 * PKIFreeText OPTIONAL, failInfo PKIFailureInfo OPTIONAL } (RFC 3161
 * section 2.4.2; PKIFreeText is a SEQUENCE OF UTF8String, RFC 4210
 * section 5.1.1). OpenSSL makes such replies only inside
 * TS_RESP_create_response, with its own texts; this one says what the
 * client should send instead.
 */
int
tsa_query_rejection(int fail_info, const char *text, unsigned char **der,
    size_t *len)
{
	ASN1_INTEGER *st = NULL;
	ASN1_UTF8STRING *u = NULL;
	ASN1_BIT_STRING *fi = NULL;
	unsigned char *buf = NULL, *p;
	int ls, lu, lf, lfree, lsi, lall, r = SIGNET_ERR_CRYPTO;

	*der = NULL;
	*len = 0;
	if ((st = ASN1_INTEGER_new()) == NULL ||
	    (u = ASN1_UTF8STRING_new()) == NULL ||
	    (fi = ASN1_BIT_STRING_new()) == NULL ||
	    !ASN1_INTEGER_set(st, TS_STATUS_REJECTION) ||
	    !ASN1_STRING_set(u, text, (int)strnlen(text, 1024)) ||
	    (fail_info >= 0 && !ASN1_BIT_STRING_set_bit(fi, fail_info, 1)))
		goto out;
	ls = i2d_ASN1_INTEGER(st, NULL);
	lu = i2d_ASN1_UTF8STRING(u, NULL);
	lf = fail_info >= 0 ? i2d_ASN1_BIT_STRING(fi, NULL) : 0;
	if (ls <= 0 || lu <= 0 || lf < 0)
		goto out;
	lfree = ASN1_object_size(1, lu, V_ASN1_SEQUENCE);
	lsi = ls + lfree + lf;
	lall = ASN1_object_size(1, ASN1_object_size(1, lsi, V_ASN1_SEQUENCE),
	    V_ASN1_SEQUENCE);
	if (lfree <= 0 || lall <= 0 || (buf = OPENSSL_malloc(lall)) == NULL)
		goto out;
	p = buf;
	ASN1_put_object(&p, 1, ASN1_object_size(1, lsi, V_ASN1_SEQUENCE),
	    V_ASN1_SEQUENCE, V_ASN1_UNIVERSAL);
	ASN1_put_object(&p, 1, lsi, V_ASN1_SEQUENCE, V_ASN1_UNIVERSAL);
	i2d_ASN1_INTEGER(st, &p);
	ASN1_put_object(&p, 1, lu, V_ASN1_SEQUENCE, V_ASN1_UNIVERSAL);
	i2d_ASN1_UTF8STRING(u, &p);
	if (fail_info >= 0)
		i2d_ASN1_BIT_STRING(fi, &p);
	if (p != buf + lall)
		goto out;
	*der = buf;
	*len = (size_t)lall;
	buf = NULL;
	r = 0;
out:
	ERR_clear_error();
	OPENSSL_free(buf);
	ASN1_INTEGER_free(st);
	ASN1_UTF8STRING_free(u);
	ASN1_BIT_STRING_free(fi);
	return r;
}
