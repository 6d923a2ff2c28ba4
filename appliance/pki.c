#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
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
		s = strndup(bm->data, bm->length);
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
	X509_REQ *req = NULL;
	X509_NAME *name = NULL;
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
