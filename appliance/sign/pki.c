#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/pkcs7.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "signet_limits.h"
#include "log.h"
#include "pki.h"

int
pki_chain_from_pem(const char *pem, size_t len, STACK_OF(X509) **out)
{
	BIO *b = NULL;
	STACK_OF(X509) *sk = NULL;
	X509 *x = NULL;
	unsigned long e;
	int r = SIGNET_ERR_INVALID;

	*out = NULL;
	if (len > INT32_MAX)
		return SIGNET_ERR_TOO_LARGE;
	if ((b = BIO_new_mem_buf(pem, (int)len)) == NULL ||
	    (sk = sk_X509_new_null()) == NULL) {
		r = SIGNET_ERR_NOMEM;
		goto out;
	}
	ERR_set_mark();
	while ((x = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL) {
		if (sk_X509_num(sk) >= SIGNET_MAX_CHAIN) {
			r = SIGNET_ERR_TOO_LARGE;
			ERR_pop_to_mark();
			goto out;
		}
		if (!sk_X509_push(sk, x)) {
			r = SIGNET_ERR_NOMEM;
			ERR_pop_to_mark();
			goto out;
		}
		x = NULL;
	}
	/* Only "no more PEM" may end the loop, not a broken certificate. */
	e = ERR_peek_last_error();
	if (ERR_GET_REASON(e) != PEM_R_NO_START_LINE || sk_X509_num(sk) == 0) {
		ERR_pop_to_mark();
		goto out;
	}
	ERR_pop_to_mark();
	*out = sk;
	sk = NULL;
	r = 0;
out:
	X509_free(x);
	sk_X509_pop_free(sk, X509_free);
	BIO_free(b);
	return r;
}

int
pki_chain_to_pem(STACK_OF(X509) *chain, char **pem)
{
	BIO *b;
	BUF_MEM *bm;
	int i, r = SIGNET_ERR_CRYPTO;

	*pem = NULL;
	if ((b = BIO_new(BIO_s_mem())) == NULL)
		return SIGNET_ERR_NOMEM;
	for (i = 0; i < sk_X509_num(chain); i++)
		if (!PEM_write_bio_X509(b, sk_X509_value(chain, i)))
			goto out;
	BIO_get_mem_ptr(b, &bm);
	if ((*pem = strndup(bm->data, bm->length)) == NULL) {
		r = SIGNET_ERR_NOMEM;
		goto out;
	}
	r = 0;
out:
	BIO_free(b);
	return r;
}

int
pki_parse_name(const char *s, X509_NAME **out)
{
	X509_NAME *n = NULL;
	char *copy = NULL, *parts[32], *p, *eq;
	size_t np = 0, i;
	int r = SIGNET_ERR_INVALID;

	*out = NULL;
	if (s == NULL || *s == '\0' || strlen(s) > 1024 || strchr(s, '\\'))
		return SIGNET_ERR_INVALID;
	if ((copy = strdup(s)) == NULL || (n = X509_NAME_new()) == NULL) {
		r = SIGNET_ERR_NOMEM;
		goto out;
	}
	for (p = copy; p != NULL && np < 32; ) {
		parts[np++] = p;
		if ((p = strchr(p, ',')) != NULL)
			*p++ = '\0';
	}
	if (p != NULL)
		goto out;
	/* RFC 2253 writes the most specific RDN first; X509_NAME holds
	 * the most significant first. */
	for (i = np; i-- > 0; ) {
		while (*parts[i] == ' ')
			parts[i]++;
		if ((eq = strchr(parts[i], '=')) == NULL || eq == parts[i] ||
		    eq[1] == '\0')
			goto out;
		*eq = '\0';
		if (OBJ_txt2nid(parts[i]) == NID_undef ||
		    !X509_NAME_add_entry_by_txt(n, parts[i], MBSTRING_UTF8,
		    (const unsigned char *)eq + 1, -1, -1, 0))
			goto out;
	}
	*out = n;
	n = NULL;
	r = 0;
out:
	ERR_clear_error();
	X509_NAME_free(n);
	free(copy);
	return r;
}

char *
pki_name_text(const X509_NAME *n)
{
	BIO *b;
	BUF_MEM *bm;
	char *s = NULL;

	if ((b = BIO_new(BIO_s_mem())) == NULL)
		return NULL;
	if (X509_NAME_print_ex(b, n, 0, XN_FLAG_RFC2253) >= 0) {
		BIO_get_mem_ptr(b, &bm);
		/* an empty name prints nothing, and the BIO has no buffer */
		s = bm->length > 0 ? strndup(bm->data, bm->length) : strdup("");
	}
	BIO_free(b);
	return s;
}

int
pki_cert_sha256(X509 *x, char hex[65])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int len, i;

	if (!X509_digest(x, EVP_sha256(), md, &len) || len != 32)
		return SIGNET_ERR_CRYPTO;
	for (i = 0; i < len; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	return 0;
}

int
pki_time_text(const ASN1_TIME *t, char out[32])
{
	struct tm tm;

	if (!ASN1_TIME_to_tm(t, &tm))
		return SIGNET_ERR_INVALID;
	if (strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		return SIGNET_ERR_INTERNAL;
	return 0;
}

static int
pki_add_ext(X509 *issuer, X509 *subject, X509_REQ *req, int nid,
    const char *value)
{
	X509V3_CTX ctx;
	X509_EXTENSION *ext;
	int ok;

	X509V3_set_ctx(&ctx, issuer, subject, req, NULL, 0);
	if ((ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value)) == NULL)
		return 0;
	ok = subject != NULL ? X509_add_ext(subject, ext, -1) : 0;
	X509_EXTENSION_free(ext);
	return ok;
}

static int
pki_pem_out(BIO *b, char **pem)
{
	BUF_MEM *bm;

	BIO_get_mem_ptr(b, &bm);
	if ((*pem = strndup(bm->data, bm->length)) == NULL)
		return SIGNET_ERR_NOMEM;
	return 0;
}

int
pki_make_csr(EVP_PKEY *key, const char *subject, char **pem)
{
	return pki_make_csr_ext(key, subject, NULL, pem);
}

int
pki_make_csr_ext(EVP_PKEY *key, const char *subject, const json_t *extensions,
    char **pem)
{
	X509_REQ *req = NULL;
	X509_NAME *name = NULL;
	STACK_OF(X509_EXTENSION) *exts = NULL;
	X509_EXTENSION *ext;
	X509V3_CTX ctx;
	const char *k;
	json_t *v;
	BIO *b = NULL;
	int r;

	*pem = NULL;
	if ((r = pki_parse_name(subject, &name)) != 0)
		return r;
	r = SIGNET_ERR_CRYPTO;
	if ((req = X509_REQ_new()) == NULL ||
	    !X509_REQ_set_version(req, 0) ||
	    !X509_REQ_set_subject_name(req, name) ||
	    !X509_REQ_set_pubkey(req, key)) {
		log_ssl("pki: building the request failed");
		goto out;
	}
	if (extensions != NULL && json_object_size(extensions) > 0) {
		if (!json_is_object(extensions) ||
		    json_object_size(extensions) > 16 ||
		    (exts = sk_X509_EXTENSION_new_null()) == NULL) {
			r = SIGNET_ERR_INVALID;
			goto out;
		}
		X509V3_set_ctx(&ctx, NULL, NULL, req, NULL, 0);
		json_object_foreach((json_t *)(uintptr_t)extensions, k, v) {
			if (!json_is_string(v) || OBJ_sn2nid(k) == NID_undef ||
			    (ext = X509V3_EXT_conf_nid(NULL, &ctx, OBJ_sn2nid(k),
			    json_string_value(v))) == NULL) {
				ERR_clear_error();
				r = SIGNET_ERR_INVALID;
				goto out;
			}
			if (!sk_X509_EXTENSION_push(exts, ext)) {
				X509_EXTENSION_free(ext);
				goto out;
			}
		}
		if (!X509_REQ_add_extensions(req, exts))
			goto out;
	}
	if (X509_REQ_sign(req, key, EVP_sha256()) <= 0) {
		log_ssl("pki: signing the request with the token key failed");
		r = SIGNET_ERR_TOKEN;
		goto out;
	}
	if ((b = BIO_new(BIO_s_mem())) == NULL ||
	    !PEM_write_bio_X509_REQ(b, req))
		goto out;
	r = pki_pem_out(b, pem);
out:
	BIO_free(b);
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	X509_NAME_free(name);
	X509_REQ_free(req);
	return r;
}

int
pki_self_signed(EVP_PKEY *key, const char *subject, int days, char **pem)
{
	X509 *x = NULL;
	X509_NAME *name = NULL;
	ASN1_INTEGER *serial = NULL;
	BIGNUM *bn = NULL;
	unsigned char rnd[16];
	BIO *b = NULL;
	int r;

	*pem = NULL;
	if (days < 1 || days > 3650)
		return SIGNET_ERR_INVALID;
	if ((r = pki_parse_name(subject, &name)) != 0)
		return r;
	r = SIGNET_ERR_CRYPTO;
	if (RAND_bytes(rnd, sizeof(rnd)) != 1)
		goto out;
	rnd[0] &= 0x7f;		/* positive, RFC 5280 4.1.2.2 */
	if ((x = X509_new()) == NULL ||
	    (bn = BN_bin2bn(rnd, sizeof(rnd), NULL)) == NULL ||
	    (serial = BN_to_ASN1_INTEGER(bn, NULL)) == NULL ||
	    !X509_set_version(x, 2) ||
	    !X509_set_serialNumber(x, serial) ||
	    !X509_set_subject_name(x, name) ||
	    !X509_set_issuer_name(x, name) ||
	    !X509_gmtime_adj(X509_getm_notBefore(x), -300) ||
	    !X509_time_adj_ex(X509_getm_notAfter(x), days, 0, NULL) ||
	    !X509_set_pubkey(x, key))
		goto out;
	/* A code-signing end entity. emailProtection too: detached CMS is
	 * S/MIME's format and `openssl cms -verify` checks for it. */
	if (!pki_add_ext(x, x, NULL, NID_basic_constraints, "critical,CA:FALSE") ||
	    !pki_add_ext(x, x, NULL, NID_key_usage, "critical,digitalSignature") ||
	    !pki_add_ext(x, x, NULL, NID_ext_key_usage,
	    "codeSigning,emailProtection") ||
	    !pki_add_ext(x, x, NULL, NID_subject_key_identifier, "hash") ||
	    !pki_add_ext(x, x, NULL, NID_authority_key_identifier, "keyid")) {
		log_ssl("pki: extensions");
		goto out;
	}
	if (X509_sign(x, key, EVP_sha256()) <= 0) {
		log_ssl("pki: signing the certificate with the token key failed");
		r = SIGNET_ERR_TOKEN;
		goto out;
	}
	if ((b = BIO_new(BIO_s_mem())) == NULL || !PEM_write_bio_X509(b, x))
		goto out;
	r = pki_pem_out(b, pem);
out:
	BIO_free(b);
	BN_free(bn);
	ASN1_INTEGER_free(serial);
	X509_NAME_free(name);
	X509_free(x);
	return r;
}

int
pki_chain_from_any(const unsigned char *buf, size_t len, STACK_OF(X509) **out)
{
	const unsigned char *p = buf;
	STACK_OF(X509) *sk = NULL, *certs;
	PKCS7 *p7 = NULL;
	BIO *b = NULL;
	X509 *x;
	int i, r = SIGNET_ERR_INVALID;

	*out = NULL;
	if (len == 0 || len > SIGNET_MAX_CHAIN_BYTES)
		return SIGNET_ERR_INVALID;
	if (memmem(buf, len, "-----BEGIN CERTIFICATE-----", 27) != NULL)
		return pki_chain_from_pem((const char *)buf, len, out);
	if ((sk = sk_X509_new_null()) == NULL)
		return SIGNET_ERR_NOMEM;
	if (memmem(buf, len, "-----BEGIN PKCS7-----", 21) != NULL) {
		if ((b = BIO_new_mem_buf(buf, (int)len)) != NULL)
			p7 = PEM_read_bio_PKCS7(b, NULL, NULL, NULL);
	} else if ((x = d2i_X509(NULL, &p, (long)len)) != NULL) {
		if (p != buf + len || !sk_X509_push(sk, x)) {
			X509_free(x);
			goto out;
		}
		goto done;
	} else {
		p = buf;
		p7 = d2i_PKCS7(NULL, &p, (long)len);
	}
	if (p7 == NULL || !PKCS7_type_is_signed(p7) || p7->d.sign == NULL ||
	    (certs = p7->d.sign->cert) == NULL)
		goto out;
	for (i = 0; i < sk_X509_num(certs); i++) {
		if (sk_X509_num(sk) >= SIGNET_MAX_CHAIN) {
			r = SIGNET_ERR_TOO_LARGE;
			goto out;
		}
		x = sk_X509_value(certs, i);
		if (!X509_up_ref(x) || !sk_X509_push(sk, x)) {
			X509_free(x);
			goto out;
		}
	}
done:
	if (sk_X509_num(sk) == 0)
		goto out;
	*out = sk;
	sk = NULL;
	r = 0;
out:
	ERR_clear_error();
	PKCS7_free(p7);
	BIO_free(b);
	sk_X509_pop_free(sk, X509_free);
	return r;
}

int
pki_order_chain(STACK_OF(X509) *sk, EVP_PKEY *pub, STACK_OF(X509) **out)
{
	STACK_OF(X509) *o;
	X509 *cur = NULL, *x;
	int i, n, found;

	*out = NULL;
	for (i = 0; i < sk_X509_num(sk); i++)
		if (EVP_PKEY_eq(X509_get0_pubkey(sk_X509_value(sk, i)), pub) == 1)
			cur = sk_X509_value(sk, i);
	if (cur == NULL)
		return SIGNET_ERR_NOT_FOUND;
	if ((o = sk_X509_new_null()) == NULL)
		return SIGNET_ERR_NOMEM;
	for (n = 0; cur != NULL && n < SIGNET_MAX_CHAIN; n++) {
		if (!X509_up_ref(cur) || !sk_X509_push(o, cur)) {
			sk_X509_pop_free(o, X509_free);
			return SIGNET_ERR_NOMEM;
		}
		/* self-issued: the root */
		if (X509_check_issued(cur, cur) == X509_V_OK)
			break;
		found = 0;
		for (i = 0; i < sk_X509_num(sk) && !found; i++) {
			x = sk_X509_value(sk, i);
			if (x != cur && X509_check_issued(x, cur) == X509_V_OK) {
				cur = x;
				found = 1;
			}
		}
		if (!found)
			cur = NULL;
	}
	*out = o;
	return 0;
}

int
pki_days_left(const char *t, long *days)
{
	struct tm tm;
	const char *end;
	time_t when;

	memset(&tm, 0, sizeof(tm));
	if (t == NULL || (end = strptime(t, "%Y-%m-%dT%H:%M:%SZ", &tm)) == NULL ||
	    *end != '\0')
		return SIGNET_ERR_INVALID;
	when = timegm(&tm);
	*days = (long)((when - time(NULL)) / 86400);
	if (when < time(NULL) && (time(NULL) - when) % 86400 != 0)
		(*days)--;
	return 0;
}

int
pki_check_timestamping(X509 *x, char *msg, size_t len)
{
	X509_EXTENSION *ext;
	int i;

	i = X509_get_ext_by_NID(x, NID_ext_key_usage, -1);
	ext = i >= 0 ? X509_get_ext(x, i) : NULL;
	if (ext == NULL || !(X509_get_extension_flags(x) & EXFLAG_XKUSAGE)) {
		snprintf(msg, len, "it has no extended key usage; a TSA "
		    "certificate needs extendedKeyUsage = critical,timeStamping");
		return SIGNET_ERR_INVALID;
	}
	if (X509_get_extended_key_usage(x) != XKU_TIMESTAMP) {
		snprintf(msg, len, "its extended key usage is not timeStamping "
		    "alone; a TSA certificate needs extendedKeyUsage = "
		    "critical,timeStamping");
		return SIGNET_ERR_INVALID;
	}
	if (!X509_EXTENSION_get_critical(ext)) {
		snprintf(msg, len, "its extended key usage timeStamping is not "
		    "critical (RFC 3161 section 2.3); reissue it with "
		    "extendedKeyUsage = critical,timeStamping");
		return SIGNET_ERR_INVALID;
	}
	/* and the rest of OpenSSL's rule (key usage, if present, allows
	 * signatures) */
	if (X509_check_purpose(x, X509_PURPOSE_TIMESTAMP_SIGN, 0) != 1) {
		ERR_clear_error();
		snprintf(msg, len, "OpenSSL does not take it for a "
		    "time-stamping certificate (key usage must allow "
		    "digitalSignature)");
		return SIGNET_ERR_INVALID;
	}
	return 0;
}
