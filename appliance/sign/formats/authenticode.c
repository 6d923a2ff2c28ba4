/*
 * The one Authenticode SignedData builder. Every embedded format (PE and
 * EFI, MSI, CAB, PowerShell scripts) differs only in how its file is
 * digested and where the signature goes; what is signed is the same
 * PKCS#7 SignedData ("Windows Authenticode Portable Executable Signature
 * Format" 1.0, section "Authenticode-Specific Structures"):
 *
 *   contentInfo   contentType SPC_INDIRECT_DATA_OBJID, content the
 *                 format's SpcIndirectDataContent
 *   signerInfo    signed attributes contentType (= SPC_INDIRECT_DATA),
 *                 messageDigest, SpcSpOpusInfo, SpcStatementType
 *                 (individual code signing); signingTime is added by
 *                 OpenSSL and is harmless to verifiers
 *   certificates  the policy's chain, leaf first, each once
 *
 * The messageDigest covers the content's DER without its outer tag and
 * length (the same section: "the hash ... excludes the ASN.1 type and
 * length"), which is why the content is fed to PKCS7_dataInit() by hand.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/asn1.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/pkcs7.h>
#include <openssl/x509.h>

#include "authenticode.h"
#include "log.h"
#include "rkey.h"
#include "signet_limits.h"

/* --- a small DER writer -------------------------------------------- */

struct der {
	unsigned char *p;
	size_t n, cap;
	int err;
};

static void
der_put(struct der *d, const void *p, size_t n)
{
	unsigned char *np;
	size_t cap;

	if (d->err || n == 0)
		return;
	if (n > SIGNET_MAX_AC_DER || d->n > SIGNET_MAX_AC_DER - n) {
		d->err = SIGNET_ERR_TOO_LARGE;
		return;
	}
	if (d->n + n > d->cap) {
		cap = d->cap ? d->cap : 256;
		while (cap < d->n + n)
			cap *= 2;
		if ((np = OPENSSL_realloc(d->p, cap)) == NULL) {
			d->err = SIGNET_ERR_NOMEM;
			return;
		}
		d->p = np;
		d->cap = cap;
	}
	memcpy(d->p + d->n, p, n);
	d->n += n;
}

/* tag, definite length (X.690 8.1.3), content */
static void
der_tlv(struct der *d, unsigned char tag, const void *p, size_t n)
{
	unsigned char h[6];
	size_t k = 0;

	h[k++] = tag;
	if (n < 0x80) {
		h[k++] = (unsigned char)n;
	} else if (n <= 0xff) {
		h[k++] = 0x81;
		h[k++] = (unsigned char)n;
	} else if (n <= 0xffff) {
		h[k++] = 0x82;
		h[k++] = (unsigned char)(n >> 8);
		h[k++] = (unsigned char)n;
	} else if (n <= 0xffffff) {
		h[k++] = 0x83;
		h[k++] = (unsigned char)(n >> 16);
		h[k++] = (unsigned char)(n >> 8);
		h[k++] = (unsigned char)n;
	} else {
		d->err = SIGNET_ERR_TOO_LARGE;
		return;
	}
	der_put(d, h, k);
	der_put(d, p, n);
}

/* wraps what d holds into tag */
static void
der_wrap(struct der *d, unsigned char tag)
{
	struct der w = { NULL, 0, 0, d->err };

	der_tlv(&w, tag, d->p, d->n);
	OPENSSL_free(d->p);
	*d = w;
}

static void
der_obj(struct der *d, const ASN1_OBJECT *o)
{
	unsigned char *p = NULL;
	int n;

	if (o == NULL || (n = i2d_ASN1_OBJECT(o, &p)) <= 0) {
		if (!d->err)
			d->err = SIGNET_ERR_CRYPTO;
		return;
	}
	der_put(d, p, (size_t)n);
	OPENSSL_free(p);
}

static void
der_oid(struct der *d, const char *txt)
{
	ASN1_OBJECT *o = OBJ_txt2obj(txt, 1);

	der_obj(d, o);
	ASN1_OBJECT_free(o);
}

static void
der_append(struct der *d, const struct der *s)
{
	if (s->err && !d->err)
		d->err = s->err;
	der_put(d, s->p, s->n);
}

static int
der_done(struct der *d, unsigned char **der, size_t *len)
{
	if (d->err) {
		OPENSSL_free(d->p);
		*der = NULL;
		*len = 0;
		return d->err;
	}
	*der = d->p;
	*len = d->n;
	return 0;
}

/* --- the structures ------------------------------------------------ */

const EVP_MD *
ac_md_by_name(const char *name)
{
	static const struct {
		const char *name;
		int nid;
	} mds[] = {
		{ "sha256", NID_sha256 },
		{ "sha384", NID_sha384 },
		{ "sha512", NID_sha512 },
	};
	size_t i;

	if (name == NULL)
		return EVP_sha256();
	for (i = 0; i < sizeof(mds) / sizeof(mds[0]); i++)
		if (strcmp(mds[i].name, name) == 0)
			return EVP_get_digestbynid(mds[i].nid);
	return NULL;
}

int
ac_indirect_der(const char *type_oid, const unsigned char *value,
    size_t vlen, const EVP_MD *md, const unsigned char *digest,
    unsigned char **der, size_t *len)
{
	struct der data = { 0 }, alg = { 0 }, info = { 0 }, out = { 0 };
	static const unsigned char null[] = { 0x05, 0x00 };
	int mdlen = EVP_MD_get_size(md);

	/* SpcAttributeTypeAndOptionalValue ::= SEQUENCE { type, value } */
	der_oid(&data, type_oid);
	der_put(&data, value, vlen);
	der_wrap(&data, 0x30);
	/* DigestInfo ::= SEQUENCE { AlgorithmIdentifier, OCTET STRING } */
	der_obj(&alg, OBJ_nid2obj(EVP_MD_get_type(md)));
	der_put(&alg, null, sizeof(null));
	der_wrap(&alg, 0x30);
	der_append(&info, &alg);
	der_tlv(&info, 0x04, digest, mdlen > 0 ? (size_t)mdlen : 0);
	der_wrap(&info, 0x30);
	der_append(&out, &data);
	der_append(&out, &info);
	der_wrap(&out, 0x30);
	OPENSSL_free(data.p);
	OPENSSL_free(alg.p);
	OPENSSL_free(info.p);
	return der_done(&out, der, len);
}

int
ac_spc_link_obsolete(unsigned char **der, size_t *len)
{
	static const char obsolete[] = "<<<Obsolete>>>";
	struct der d = { 0 };
	unsigned char u[2];
	size_t i;

	/* BMPString: UCS-2, big endian (X.680 41.15) */
	for (i = 0; i < sizeof(obsolete) - 1; i++) {
		u[0] = 0;
		u[1] = (unsigned char)obsolete[i];
		der_put(&d, u, 2);
	}
	der_wrap(&d, 0x80);	/* unicode [0] IMPLICIT */
	der_wrap(&d, 0xa2);	/* file [2] EXPLICIT */
	return der_done(&d, der, len);
}

/* INTEGER of a value >= 0 in the fewest octets (X.690 8.3.2) */
static void
der_uint(struct der *d, unsigned long v)
{
	unsigned char b[sizeof(v) + 1];
	size_t n = 0, i;

	do {
		b[sizeof(b) - 1 - n++] = (unsigned char)v;
		v >>= 8;
	} while (v != 0);
	if (b[sizeof(b) - n] & 0x80)
		b[sizeof(b) - 1 - n++] = 0;
	i = sizeof(b) - n;
	der_tlv(d, 0x02, b + i, n);
}

int
ac_sip_info_der(long version, const unsigned char guid[16],
    unsigned char **der, size_t *len)
{
	struct der d = { 0 };
	int i;

	if (version < 0)
		return SIGNET_ERR_INVALID;
	der_uint(&d, (unsigned long)version);
	der_tlv(&d, 0x04, guid, 16);
	for (i = 0; i < 5; i++)
		der_uint(&d, 0);
	der_wrap(&d, 0x30);
	return der_done(&d, der, len);
}

/* UTF-8 to the big-endian UCS-2 a BMPString holds (X.680 41.15); 0 when
 * the text is not UTF-8 or leaves the Basic Multilingual Plane. */
static int
ac_bmp(const char *s, struct der *d)
{
	const unsigned char *p = (const unsigned char *)s;
	unsigned char u[2];
	uint32_t c;

	while (*p != '\0') {
		if (p[0] < 0x80) {
			c = p[0];
			p += 1;
		} else if ((p[0] & 0xe0) == 0xc0 && (p[1] & 0xc0) == 0x80) {
			c = (uint32_t)(p[0] & 0x1f) << 6 | (p[1] & 0x3f);
			if (c < 0x80)
				return 0;
			p += 2;
		} else if ((p[0] & 0xf0) == 0xe0 && (p[1] & 0xc0) == 0x80 &&
		    (p[2] & 0xc0) == 0x80) {
			c = (uint32_t)(p[0] & 0x0f) << 12 |
			    (uint32_t)(p[1] & 0x3f) << 6 | (p[2] & 0x3f);
			if (c < 0x800 || (c >= 0xd800 && c <= 0xdfff))
				return 0;
			p += 3;
		} else {
			return 0;
		}
		u[0] = (unsigned char)(c >> 8);
		u[1] = (unsigned char)c;
		der_put(d, u, 2);
	}
	return 1;
}

/*
 * SpcSpOpusInfo ::= SEQUENCE {
 *     programName [0] EXPLICIT SpcString OPTIONAL,  -- unicode [0] IMPLICIT BMPString
 *     moreInfo    [1] EXPLICIT SpcLink OPTIONAL }   -- url [0] IMPLICIT IA5String
 */
static int
ac_opus(const char *name, const char *url, struct der *out)
{
	struct der pn = { 0 }, mi = { 0 };
	size_t i;

	if (name != NULL && *name != '\0') {
		if (!ac_bmp(name, &pn)) {
			OPENSSL_free(pn.p);
			return SIGNET_ERR_INVALID;
		}
		der_wrap(&pn, 0x80);
		der_wrap(&pn, 0xa0);
		der_append(out, &pn);
	}
	if (url != NULL && *url != '\0') {
		for (i = 0; url[i] != '\0'; i++)
			if ((unsigned char)url[i] >= 0x80 ||
			    (unsigned char)url[i] < 0x20) {
				OPENSSL_free(pn.p);
				return SIGNET_ERR_INVALID;
			}
		der_tlv(&mi, 0x80, url, i);
		der_wrap(&mi, 0xa1);
		der_append(out, &mi);
	}
	der_wrap(out, 0x30);
	OPENSSL_free(pn.p);
	OPENSSL_free(mi.p);
	return out->err;
}

static int
ac_add_seq_attr(PKCS7_SIGNER_INFO *si, const char *oid,
    const unsigned char *der, size_t len)
{
	ASN1_OBJECT *o = OBJ_txt2obj(oid, 1);
	int ok;

	if (o == NULL || len > INT_MAX) {
		ASN1_OBJECT_free(o);
		return 0;
	}
	ok = X509at_add1_attr_by_OBJ(&si->auth_attr, o, V_ASN1_SEQUENCE,
	    der, (int)len) != NULL;
	ASN1_OBJECT_free(o);
	return ok;
}

static int
ac_add_timestamp(PKCS7_SIGNER_INFO *si, const struct ac_sign_opts *o)
{
	unsigned char *tok = NULL;
	size_t len = 0;
	ASN1_OBJECT *obj = NULL;
	int r;

	if (si->enc_digest == NULL)
		return SIGNET_ERR_CRYPTO;
	if ((r = o->timestamp(o->timestamp_arg,
	    ASN1_STRING_get0_data(si->enc_digest),
	    (size_t)ASN1_STRING_length(si->enc_digest), &tok, &len)) != 0)
		return r;
	r = SIGNET_ERR_CRYPTO;
	if (len <= INT_MAX && (obj = OBJ_txt2obj(AC_OID_RFC3161, 1)) != NULL &&
	    X509at_add1_attr_by_OBJ(&si->unauth_attr, obj, V_ASN1_SEQUENCE,
	    tok, (int)len) != NULL)
		r = 0;
	ASN1_OBJECT_free(obj);
	OPENSSL_free(tok);
	return r;
}

int
ac_signed_data(const unsigned char *indirect, size_t ilen,
    const struct ac_sign_opts *o, EVP_PKEY *key, X509 *leaf,
    STACK_OF(X509) *chain, unsigned char **der, size_t *len)
{
	PKCS7 *p7 = NULL, *td7 = NULL;
	PKCS7_SIGNER_INFO *si;
	ASN1_STRING *seq = NULL;
	ASN1_OBJECT *ct = NULL;
	struct der opus = { 0 }, st = { 0 };
	const unsigned char *p = indirect;
	unsigned char *out = NULL;
	BIO *bio = NULL;
	long plen = 0;
	int tag, xclass, i, j, n, dup, signed_ok, r = SIGNET_ERR_CRYPTO;

	*der = NULL;
	*len = 0;
	if (o->request_id == NULL || o->request_id[0] == '\0' ||
	    ilen == 0 || ilen > SIGNET_MAX_AC_DER)
		return SIGNET_ERR_INVALID;
	/* the content octets the messageDigest covers */
	if (ASN1_get_object(&p, &plen, &tag, &xclass, (long)ilen) != 0x20 ||
	    tag != V_ASN1_SEQUENCE || xclass != V_ASN1_UNIVERSAL ||
	    plen < 0 || (size_t)(p - indirect) + (size_t)plen != ilen)
		return SIGNET_ERR_INVALID;
	if ((r = ac_opus(o->program_name, o->url, &opus)) != 0)
		goto out;
	r = SIGNET_ERR_CRYPTO;
	/* SpcStatementType ::= SEQUENCE OF OBJECT IDENTIFIER */
	der_oid(&st, AC_OID_INDIVIDUAL);
	der_wrap(&st, 0x30);
	if (st.err)
		goto out;
	if ((p7 = PKCS7_new()) == NULL ||
	    !PKCS7_set_type(p7, NID_pkcs7_signed) ||
	    !PKCS7_content_new(p7, NID_pkcs7_data))
		goto out;
	if ((si = PKCS7_add_signature(p7, leaf, key, o->md)) == NULL) {
		log_ssl("authenticode: the signer certificate does not fit "
		    "the key");
		goto out;
	}
	if ((ct = OBJ_txt2obj(AC_OID_INDIRECT_DATA, 1)) == NULL ||
	    !PKCS7_add_signed_attribute(si, NID_pkcs9_contentType,
	    V_ASN1_OBJECT, ct))
		goto out;
	ct = NULL;	/* the attribute holds it now */
	if (!ac_add_seq_attr(si, AC_OID_STATEMENT_TYPE, st.p, st.n) ||
	    !ac_add_seq_attr(si, AC_OID_OPUS_INFO, opus.p, opus.n))
		goto out;
	/* leaf first, then the rest of the chain, each certificate once */
	if (!PKCS7_add_certificate(p7, leaf))
		goto out;
	n = sk_X509_num(chain);
	for (i = 0; i < n; i++) {
		X509 *x = sk_X509_value(chain, i);

		dup = X509_cmp(x, leaf) == 0;
		for (j = 0; j < i && !dup; j++)
			dup = X509_cmp(x, sk_X509_value(chain, j)) == 0;
		if (!dup && !PKCS7_add_certificate(p7, x))
			goto out;
	}
	/* messageDigest over the content octets, then the signature over
	 * the signed attributes: a round trip to the keyholder, journaled
	 * under the request's id */
	if ((bio = PKCS7_dataInit(p7, NULL)) == NULL ||
	    BIO_write(bio, p, (int)plen) != (int)plen || BIO_flush(bio) != 1)
		goto out;
	rkey_bind_request(o->request_id);
	(void)rkey_take_error();
	signed_ok = PKCS7_dataFinal(p7, bio);
	rkey_bind_request(NULL);
	if (signed_ok != 1) {
		/* the keyholder's own code when the private operation failed
		 * (a dead channel is not the request's fault: the signer
		 * keeps it queued), else OpenSSL's */
		log_ssl("authenticode: signing failed");
		if ((r = rkey_take_error()) == 0)
			r = SIGNET_ERR_CRYPTO;
		goto out;
	}
	/* a time-stamp over the signature value, as Authenticode carries
	 * RFC 3161 tokens: the unsigned attribute SPC_RFC3161_OBJID with
	 * the TimeStampToken (a ContentInfo) as its value, which signtool
	 * and osslsigncode write and verify */
	if (o->timestamp != NULL && (r = ac_add_timestamp(si, o)) != 0)
		goto out;
	r = SIGNET_ERR_CRYPTO;
	/* the content becomes the SpcIndirectDataContent itself */
	if ((td7 = PKCS7_new()) == NULL ||
	    (td7->type = OBJ_txt2obj(AC_OID_INDIRECT_DATA, 1)) == NULL ||
	    (td7->d.other = ASN1_TYPE_new()) == NULL ||
	    (seq = ASN1_STRING_type_new(V_ASN1_SEQUENCE)) == NULL ||
	    !ASN1_STRING_set(seq, indirect, (int)ilen))
		goto out;
	ASN1_TYPE_set(td7->d.other, V_ASN1_SEQUENCE, seq);
	seq = NULL;
	if (!PKCS7_set_content(p7, td7))
		goto out;
	td7 = NULL;
	if ((n = i2d_PKCS7(p7, &out)) <= 0)
		goto out;
	*der = out;
	*len = (size_t)n;
	out = NULL;
	r = 0;
out:
	if (r != 0)
		ERR_clear_error();
	BIO_free_all(bio);
	ASN1_OBJECT_free(ct);
	ASN1_STRING_free(seq);
	PKCS7_free(td7);
	PKCS7_free(p7);
	OPENSSL_free(out);
	OPENSSL_free(opus.p);
	OPENSSL_free(st.p);
	return r;
}

static PKCS7 *
ac_d2i(const unsigned char *der, size_t len)
{
	const unsigned char *p = der;
	PKCS7 *p7;

	if (len == 0 || len > LONG_MAX)
		return NULL;
	p7 = d2i_PKCS7(NULL, &p, (long)len);
	if (p7 != NULL && (p != der + len || !PKCS7_type_is_signed(p7) ||
	    sk_PKCS7_SIGNER_INFO_num(PKCS7_get_signer_info(p7)) < 1)) {
		PKCS7_free(p7);
		p7 = NULL;
	}
	return p7;
}

int
ac_nest(const unsigned char *outer, size_t olen, const unsigned char *inner,
    size_t ilen, unsigned char **der, size_t *len)
{
	PKCS7 *p7 = NULL;
	PKCS7_SIGNER_INFO *si;
	ASN1_OBJECT *nested = NULL;
	X509_ATTRIBUTE *a;
	unsigned char *out = NULL;
	int i, n, found = 0, r = SIGNET_ERR_INVALID;

	*der = NULL;
	*len = 0;
	if ((p7 = ac_d2i(outer, olen)) == NULL || ilen > INT_MAX)
		goto out;
	r = SIGNET_ERR_CRYPTO;
	si = sk_PKCS7_SIGNER_INFO_value(PKCS7_get_signer_info(p7), 0);
	if ((nested = OBJ_txt2obj(AC_OID_NESTED, 1)) == NULL)
		goto out;
	/* one attribute holds every nested signature, one value each */
	n = X509at_get_attr_count(si->unauth_attr);
	for (i = 0; i < n && !found; i++) {
		a = X509at_get_attr(si->unauth_attr, i);
		if (OBJ_cmp(X509_ATTRIBUTE_get0_object(a), nested) != 0)
			continue;
		if (!X509_ATTRIBUTE_set1_data(a, V_ASN1_SEQUENCE, inner,
		    (int)ilen))
			goto out;
		found = 1;
	}
	if (!found && X509at_add1_attr_by_OBJ(&si->unauth_attr, nested,
	    V_ASN1_SEQUENCE, inner, (int)ilen) == NULL)
		goto out;
	if ((n = i2d_PKCS7(p7, &out)) <= 0)
		goto out;
	*der = out;
	*len = (size_t)n;
	r = 0;
out:
	ERR_clear_error();
	ASN1_OBJECT_free(nested);
	PKCS7_free(p7);
	return r;
}

static int
ac_signed_by_p7(PKCS7 *p7, X509 *leaf, const ASN1_OBJECT *nested, int depth)
{
	STACK_OF(PKCS7_SIGNER_INFO) *sis = PKCS7_get_signer_info(p7);
	PKCS7_SIGNER_INFO *si;
	X509_ATTRIBUTE *a;
	ASN1_TYPE *v;
	PKCS7 *inner;
	int i, j, k, na, nv, hit = 0;

	if (depth > SIGNET_MAX_AC_NESTED)
		return SIGNET_ERR_TOO_LARGE;
	for (i = 0; i < sk_PKCS7_SIGNER_INFO_num(sis) && hit == 0; i++) {
		si = sk_PKCS7_SIGNER_INFO_value(sis, i);
		if (si->issuer_and_serial != NULL &&
		    X509_NAME_cmp(si->issuer_and_serial->issuer,
		    X509_get_issuer_name(leaf)) == 0 &&
		    ASN1_INTEGER_cmp(si->issuer_and_serial->serial,
		    X509_get0_serialNumber(leaf)) == 0)
			return 1;
		na = X509at_get_attr_count(si->unauth_attr);
		for (j = 0; j < na && hit == 0; j++) {
			a = X509at_get_attr(si->unauth_attr, j);
			if (OBJ_cmp(X509_ATTRIBUTE_get0_object(a), nested) != 0)
				continue;
			nv = X509_ATTRIBUTE_count(a);
			for (k = 0; k < nv && hit == 0; k++) {
				v = X509_ATTRIBUTE_get0_type(a, k);
				if (v == NULL || v->type != V_ASN1_SEQUENCE)
					continue;
				inner = ac_d2i(ASN1_STRING_get0_data(
				    v->value.sequence), (size_t)ASN1_STRING_length(
				    v->value.sequence));
				if (inner == NULL)
					continue;
				hit = ac_signed_by_p7(inner, leaf, nested,
				    depth + 1);
				PKCS7_free(inner);
			}
		}
	}
	return hit;
}

int
ac_signed_by(const unsigned char *der, size_t len, X509 *leaf)
{
	PKCS7 *p7 = NULL;
	ASN1_OBJECT *nested = NULL;
	int r = SIGNET_ERR_INVALID;

	if ((p7 = ac_d2i(der, len)) == NULL)
		goto out;
	if ((nested = OBJ_txt2obj(AC_OID_NESTED, 1)) == NULL) {
		r = SIGNET_ERR_CRYPTO;
		goto out;
	}
	r = ac_signed_by_p7(p7, leaf, nested, 0);
out:
	ERR_clear_error();
	ASN1_OBJECT_free(nested);
	PKCS7_free(p7);
	return r;
}

/* The digest an SpcIndirectDataContent names: its second element, a
 * DigestInfo (RFC 8017 9.2; OpenSSL's X509_SIG). */
static int
ac_content_digest(PKCS7 *p7, const unsigned char **d, size_t *dlen,
    X509_SIG **hold)
{
	const unsigned char *p, *q;
	ASN1_TYPE *t;
	const ASN1_OCTET_STRING *oct;
	long plen, elen;
	int tag, cls;

	*hold = NULL;
	if (p7->d.sign == NULL || p7->d.sign->contents == NULL ||
	    (t = p7->d.sign->contents->d.other) == NULL ||
	    t->type != V_ASN1_SEQUENCE || t->value.sequence == NULL)
		return SIGNET_ERR_INVALID;
	p = ASN1_STRING_get0_data(t->value.sequence);
	plen = ASN1_STRING_length(t->value.sequence);
	q = p;
	/* SEQUENCE { data SEQUENCE, messageDigest DigestInfo } */
	if (ASN1_get_object(&q, &elen, &tag, &cls, plen) != 0x20 ||
	    tag != V_ASN1_SEQUENCE)
		return SIGNET_ERR_INVALID;
	plen -= q - p;
	p = q;
	if (ASN1_get_object(&q, &elen, &tag, &cls, plen) != 0x20 ||
	    tag != V_ASN1_SEQUENCE || elen > plen - (q - p))
		return SIGNET_ERR_INVALID;
	q += elen;
	plen -= q - p;
	if ((*hold = d2i_X509_SIG(NULL, &q, plen)) == NULL)
		return SIGNET_ERR_INVALID;
	X509_SIG_get0(*hold, NULL, &oct);
	*d = ASN1_STRING_get0_data(oct);
	*dlen = (size_t)ASN1_STRING_length(oct);
	return 0;
}

static int
ac_digests_p7(PKCS7 *p7, const ASN1_OBJECT *nested, ac_digests_fn fn,
    void *arg, int depth)
{
	STACK_OF(PKCS7_SIGNER_INFO) *sis = PKCS7_get_signer_info(p7);
	const unsigned char *cd = NULL;
	unsigned char md[EVP_MAX_MD_SIZE], *der = NULL;
	unsigned int mdl;
	size_t cdl = 0;
	X509_SIG *hold = NULL;
	PKCS7_SIGNER_INFO *si;
	X509_ATTRIBUTE *a;
	ASN1_TYPE *v;
	PKCS7 *inner;
	const EVP_MD *alg;
	int i, j, k, n, r = 0;

	if (depth > SIGNET_MAX_AC_NESTED)
		return SIGNET_ERR_TOO_LARGE;
	if (ac_content_digest(p7, &cd, &cdl, &hold) != 0) {
		r = SIGNET_ERR_INVALID;
		goto out;
	}
	for (i = 0; i < sk_PKCS7_SIGNER_INFO_num(sis) && r == 0; i++) {
		si = sk_PKCS7_SIGNER_INFO_value(sis, i);
		/* the signed attributes as they were encoded, which is what
		 * was signed (RFC 2315 9.3) */
		if ((alg = EVP_get_digestbyobj(si->digest_alg->algorithm)) ==
		    NULL || (n = ASN1_item_i2d((ASN1_VALUE *)si->auth_attr,
		    &der, ASN1_ITEM_rptr(PKCS7_ATTR_VERIFY))) <= 0 ||
		    EVP_Digest(der, (size_t)n, md, &mdl, alg, NULL) != 1) {
			r = SIGNET_ERR_INVALID;
			break;
		}
		OPENSSL_free(der);
		der = NULL;
		if ((r = fn(md, mdl, cd, cdl, arg)) != 0)
			break;
		n = X509at_get_attr_count(si->unauth_attr);
		for (j = 0; j < n && r == 0; j++) {
			a = X509at_get_attr(si->unauth_attr, j);
			if (OBJ_cmp(X509_ATTRIBUTE_get0_object(a), nested) != 0)
				continue;
			for (k = 0; k < X509_ATTRIBUTE_count(a) && r == 0; k++) {
				v = X509_ATTRIBUTE_get0_type(a, k);
				if (v == NULL || v->type != V_ASN1_SEQUENCE)
					continue;
				inner = ac_d2i(ASN1_STRING_get0_data(
				    v->value.sequence), (size_t)ASN1_STRING_length(
				    v->value.sequence));
				if (inner == NULL)
					continue;
				r = ac_digests_p7(inner, nested, fn, arg,
				    depth + 1);
				PKCS7_free(inner);
			}
		}
	}
out:
	OPENSSL_free(der);
	X509_SIG_free(hold);
	return r;
}

int
ac_signed_digests(const unsigned char *der, size_t len, ac_digests_fn fn,
    void *arg)
{
	PKCS7 *p7 = NULL;
	ASN1_OBJECT *nested = NULL;
	int r = SIGNET_ERR_INVALID;

	if ((p7 = ac_d2i(der, len)) == NULL)
		goto out;
	if ((nested = OBJ_txt2obj(AC_OID_NESTED, 1)) == NULL) {
		r = SIGNET_ERR_CRYPTO;
		goto out;
	}
	r = ac_digests_p7(p7, nested, fn, arg, 0);
out:
	ERR_clear_error();
	ASN1_OBJECT_free(nested);
	PKCS7_free(p7);
	return r;
}

int
ac_check_digest(const struct ac_format *f, int fd, uint64_t size,
    const EVP_MD *md, unsigned char *out, struct ac_msg *m)
{
	int r;

	if ((r = f->check(fd, size, m)) != 0)
		return r;
	return f->digest(fd, size, md, out, m);
}

static void
ac_say(struct ac_msg *m, const char *text)
{
	snprintf(m->text, sizeof(m->text), "%s", text);
}

struct ac_by {
	X509 *leaf;
	int hit;
};

static int
ac_by_one(const unsigned char *p7, size_t len, void *arg)
{
	struct ac_by *b = arg;
	int r = ac_signed_by(p7, len, b->leaf);

	if (r == 1)
		b->hit = 1;
	/* an entry that is no SignedData cannot be ours: look on */
	return b->hit;
}

/* The stored file is to be the result as it is: its digest must be the
 * recorded one. Signing over the recorded digest checks the file as it is
 * written (tap); with nothing written it is read here instead. */
static int
ac_unchanged(const struct ac_format *f, int fd, uint64_t size,
    const struct ac_sign_opts *o, const void *tap, const unsigned char *dg,
    struct ac_msg *m)
{
	unsigned char got[EVP_MAX_MD_SIZE];
	int r;

	if (tap == NULL)
		return 0;	/* read and held against it before signing */
	if ((r = f->digest(fd, size, o->md, got, m)) != 0)
		return r;
	if (CRYPTO_memcmp(got, dg, (size_t)EVP_MD_get_size(o->md)) != 0) {
		ac_say(m, "the stored file's Authenticode digest is not the "
		    "one recorded when it was submitted");
		return SIGNET_ERR_CONFLICT;
	}
	return 0;
}

/* The signed file into out: p7 beside the file's signatures
 * (o->embed_append) or as its signature, with what the container's
 * reader recorded when the format takes it. */
static int
ac_embed(const struct ac_format *f, const struct ac_sign_opts *o,
    int beside, int fd, uint64_t size, const unsigned char *p7, size_t len,
    const struct ac_sink *out, struct ac_msg *m)
{
	if (o->recorded != NULL && f->embed_recorded != NULL)
		return f->embed_recorded(fd, size, beside, p7, len,
		    o->recorded, out, m);
	if (beside)
		return o->embed_append(fd, size, p7, len, out, m);
	return f->embed(fd, size, p7, len, out, m);
}

int
ac_sign_file(const struct ac_format *f, int fd, uint64_t size,
    const struct ac_sign_opts *o, EVP_PKEY *key, X509 *leaf,
    STACK_OF(X509) *chain, const struct ac_sink *out, struct ac_result *res,
    struct ac_msg *m)
{
	unsigned char dg[EVP_MAX_MD_SIZE], *old = NULL, *ind = NULL,
	    *sig = NULL, *both = NULL;
	size_t oldlen = 0, ilen = 0, siglen = 0, bothlen = 0;
	int mdlen = EVP_MD_get_size(o->md), r;
	void *tap = NULL;

	memset(res, 0, sizeof(*res));
	if (o->expect != NULL && o->expect_len != (size_t)mdlen) {
		ac_say(m, "the recorded Authenticode digest is not one of the "
		    "policy's digest algorithm");
		r = SIGNET_ERR_CONFLICT;
		goto out;
	}
	if (o->expect != NULL && f->written != NULL && out->tap != NULL) {
		/* what approvers decided over is what is signed: the digest
		 * recorded at submission, and the signed file is checked to
		 * carry it as it is written (below) */
		if ((r = f->check(fd, size, m)) != 0)
			goto out;
		memcpy(dg, o->expect, (size_t)mdlen);
		if ((r = f->written->begin(o->md, &tap)) != 0) {
			ac_say(m, "the digest could not be set up");
			goto out;
		}
		out->tap(out->arg, f->written->feed, tap);
	} else {
		if ((r = ac_check_digest(f, fd, size, o->md, dg, m)) != 0)
			goto out;
		/* the file was read again, and its digest must be the one
		 * recorded at submission */
		if (o->expect != NULL &&
		    CRYPTO_memcmp(o->expect, dg, (size_t)mdlen) != 0) {
			ac_say(m, "the file's Authenticode digest is not the "
			    "one recorded when it was submitted");
			r = SIGNET_ERR_CONFLICT;
			goto out;
		}
	}
	if ((r = f->existing(fd, size, &old, &oldlen, m)) != 0)
		goto out;
	if (o->signatures != NULL) {
		struct ac_by by = { leaf, 0 };

		/* every entry of the table, not only the first */
		if ((r = o->signatures(fd, size, ac_by_one, &by, m)) < 0)
			goto out;
		if (by.hit) {
			/* the stored file is the result: nothing to write */
			res->unchanged = 1;
			r = ac_unchanged(f, fd, size, o, tap, dg, m);
			goto out;
		}
		r = 0;
	}
	if (old != NULL) {
		r = ac_signed_by(old, oldlen, leaf);
		if (r < 0) {
			ac_say(m, "the file's existing signature is not a "
			    "PKCS#7 SignedData");
			goto out;
		}
		if (r == 1) {
			/* signed by this certificate already: not twice, and
			 * the stored file is the result */
			res->unchanged = 1;
			r = ac_unchanged(f, fd, size, o, tap, dg, m);
			goto out;
		}
	}
	if ((r = f->indirect(o->md, dg, &ind, &ilen)) != 0) {
		ac_say(m, "the SpcIndirectDataContent could not be built");
		goto out;
	}
	if ((r = ac_signed_data(ind, ilen, o, key, leaf, chain, &sig,
	    &siglen)) != 0) {
		snprintf(m->text, sizeof(m->text), "signing failed: %s",
		    signet_strerror(r));
		goto out;
	}
	if (o->append && old != NULL && o->embed_append != NULL) {
		res->beside = 1;
		r = ac_embed(f, o, 1, fd, size, sig, siglen, out, m);
	} else if (o->append && old != NULL) {
		if ((r = ac_nest(old, oldlen, sig, siglen, &both,
		    &bothlen)) != 0) {
			ac_say(m, "the new signature could not be nested into "
			    "the existing one");
			goto out;
		}
		res->nested = 1;
		r = ac_embed(f, o, 0, fd, size, both, bothlen, out, m);
	} else {
		r = ac_embed(f, o, 0, fd, size, sig, siglen, out, m);
	}
	if (r == 0 && tap != NULL) {
		unsigned char got[EVP_MAX_MD_SIZE];

		out->tap(out->arg, NULL, NULL);
		if ((r = f->written->end(tap, got, m)) != 0)
			goto out;
		if (CRYPTO_memcmp(got, dg, (size_t)mdlen) != 0) {
			ac_say(m, "the stored file's Authenticode digest is not "
			    "the one recorded when it was submitted; the "
			    "signed file was not kept");
			r = SIGNET_ERR_CONFLICT;
		} else if (f->written->check != NULL) {
			r = f->written->check(tap, m);
		}
	}
out:
	if (tap != NULL) {
		out->tap(out->arg, NULL, NULL);
		f->written->free(tap);
	}
	OPENSSL_free(old);
	OPENSSL_free(ind);
	OPENSSL_free(sig);
	OPENSSL_free(both);
	return r;
}

static int
ac_cas_write(void *arg, const void *p, size_t n)
{
	return cas_upload_write(arg, p, n);
}

static int
ac_cas_copy(void *arg, int fd, uint64_t off, uint64_t len)
{
	return cas_upload_copy(arg, fd, off, len);
}

static void
ac_cas_tap(void *arg, int (*fn)(void *, const void *, size_t), void *fnarg)
{
	/* on the caller's thread: never refused */
	(void)!cas_upload_tap(arg, CAS_TAP_CALLER, fn, fnarg);
}

void
ac_sink_cas(struct ac_sink *s, struct cas_upload *u)
{
	s->write = ac_cas_write;
	s->copy = ac_cas_copy;
	s->tap = ac_cas_tap;
	s->arg = u;
}
