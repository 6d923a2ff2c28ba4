/* Detached CMS (appliance/sign/formats/cms.c) with a software key: the
 * signature verifies against the content and fails for any other content;
 * as the registry's detached-cms entry it signs the recorded digest and
 * stores the signature in the artifact store. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/bio.h>
#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "cas.h"
#include "cms.h"
#include "fixture.h"
#include "format.h"
#include "pki.h"
#include "signet_limits.h"

static EVP_PKEY *
make_key(void)
{
	EVP_PKEY *k = EVP_RSA_gen(2048);

	assert_non_null(k);
	return k;
}

static X509 *
self_signed(EVP_PKEY *k, const char *subject)
{
	char *pem = NULL;
	STACK_OF(X509) *sk = NULL;
	X509 *x;

	assert_int_equal(pki_self_signed(k, subject, 30, &pem), 0);
	assert_int_equal(pki_chain_from_pem(pem, strlen(pem), &sk), 0);
	assert_int_equal(sk_X509_num(sk), 1);
	x = sk_X509_shift(sk);
	sk_X509_free(sk);
	free(pem);
	return x;
}

static int
verify(X509 *root, const unsigned char *der, size_t derlen,
    const char *content)
{
	const unsigned char *p = der;
	CMS_ContentInfo *cms = d2i_CMS_ContentInfo(NULL, &p, (long)derlen);
	X509_STORE *st = X509_STORE_new();
	BIO *in = BIO_new_mem_buf(content, (int)strlen(content));
	int ok;

	assert_non_null(cms);
	X509_STORE_add_cert(st, root);
	X509_STORE_set_purpose(st, X509_PURPOSE_SMIME_SIGN);
	ok = CMS_verify(cms, NULL, st, in, NULL, CMS_BINARY);
	ERR_clear_error();
	BIO_free(in);
	X509_STORE_free(st);
	CMS_ContentInfo_free(cms);
	return ok == 1;
}

static void
test_detached_roundtrip(void **state)
{
	const char *content = "the artifact's bytes\n";
	unsigned char md[32];
	unsigned char *der = NULL;
	size_t derlen = 0;
	EVP_PKEY *k = make_key();
	X509 *x = self_signed(k, "CN=Unit Test Signing,O=Signet");
	STACK_OF(X509) *chain = sk_X509_new_null();

	(void)state;
	sk_X509_push(chain, x);
	assert_int_equal(EVP_Digest(content, strlen(content), md, NULL,
	    EVP_sha256(), NULL), 1);
	assert_int_equal(cms_sign_detached(k, x, chain, md, "req-1", &der,
	    &derlen), 0);
	assert_true(derlen > 100);
	assert_true(verify(x, der, derlen, content));
	assert_false(verify(x, der, derlen, "the artifact's bytes!\n"));
	/* what the key signed is the digest the audit recomputes */
	{
		STACK_OF(CMS_SignerInfo) *sis;
		CMS_ContentInfo *cms;
		ASN1_OCTET_STRING *sig;
		EVP_PKEY_CTX *pc;
		const unsigned char *p = der;
		unsigned char attrs[32], content_md[32];

		assert_int_equal(cms_signed_digests(der, derlen, attrs,
		    content_md), 0);
		assert_memory_equal(content_md, md, 32);
		assert_non_null(cms = d2i_CMS_ContentInfo(NULL, &p,
		    (long)derlen));
		sis = CMS_get0_SignerInfos(cms);
		sig = CMS_SignerInfo_get0_signature(
		    sk_CMS_SignerInfo_value(sis, 0));
		assert_non_null(pc = EVP_PKEY_CTX_new(k, NULL));
		assert_int_equal(EVP_PKEY_verify_init(pc), 1);
		assert_true(EVP_PKEY_CTX_set_signature_md(pc,
		    EVP_sha256()) > 0);
		assert_int_equal(EVP_PKEY_verify(pc, ASN1_STRING_get0_data(sig),
		    (size_t)ASN1_STRING_length(sig), attrs, 32), 1);
		attrs[0] ^= 1;
		assert_int_not_equal(EVP_PKEY_verify(pc,
		    ASN1_STRING_get0_data(sig),
		    (size_t)ASN1_STRING_length(sig), attrs, 32), 1);
		EVP_PKEY_CTX_free(pc);
		CMS_ContentInfo_free(cms);
		/* not a CMS */
		assert_int_equal(cms_signed_digests(md, sizeof(md), attrs,
		    content_md), SIGNET_ERR_INVALID);
		assert_int_equal(cms_signed_digests(der, derlen - 1, attrs,
		    content_md), SIGNET_ERR_INVALID);
	}
	OPENSSL_free(der);
	sk_X509_free(chain);
	X509_free(x);
	EVP_PKEY_free(k);
}

static void
test_wrong_key_refused(void **state)
{
	unsigned char md[32] = { 0 }, *der = NULL;
	size_t derlen = 0;
	EVP_PKEY *k1 = make_key(), *k2 = make_key();
	X509 *x = self_signed(k1, "CN=One");

	(void)state;
	assert_int_not_equal(cms_sign_detached(k2, x, NULL, md, "req-1", &der,
	    &derlen), 0);
	/* no request named: nothing to journal the signature under */
	assert_int_equal(cms_sign_detached(k1, x, NULL, md, NULL, &der,
	    &derlen), SIGNET_ERR_INVALID);
	assert_int_equal(cms_sign_detached(k1, x, NULL, md, "", &der,
	    &derlen), SIGNET_ERR_INVALID);
	assert_null(der);
	X509_free(x);
	EVP_PKEY_free(k1);
	EVP_PKEY_free(k2);
}




/* The format entry: the recorded digest is what is signed (the bytes in
 * the store are not read again), and the signature, small, is held for
 * the database rather than written into the artifact store. */
static void
test_format_entry(void **state)
{
	struct fx *f = *state;
	const char *content = "stored artifact\n";
	const struct format *fmt = format_find("detached-cms");
	struct format_job job;
	struct format_key key;
	struct format_output out;
	unsigned char md[32];
	char hex[CAS_HEX_LEN + 1], reason[256], *p;
	unsigned char *der;
	size_t len, i;
	EVP_PKEY *k = make_key();
	X509 *x = self_signed(k, "CN=Format Entry,O=Signet");

	assert_non_null(fmt);
	assert_int_equal(EVP_Digest(content, strlen(content), md, NULL,
	    EVP_sha256(), NULL), 1);
	for (i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	memset(&job, 0, sizeof(job));
	job.cas = f->cas;
	job.request_id = "req-format";
	job.artifact_sha256 = hex;
	job.artifact_size = strlen(content);
	key.key = k;
	key.leaf = x;
	key.chain = NULL;
	memset(&out, 0, sizeof(out));
	reason[0] = '\0';
	assert_int_equal(fmt->sign(&job, &key, &out, reason, sizeof(reason)),
	    0);
	assert_true(out.size > 100);
	assert_true(out.size <= SIGNET_INLINE_RESULT_MAX);
	assert_true(cas_valid_hex(out.sha256));
	{
		char name[CAS_HEX_LEN + 1];
		int fd;
		uint64_t size;

		/* a signature is held for the database, under the name of its
		 * bytes, and not written into the artifact store */
		assert_non_null(out.held);
		assert_int_equal(cas_name(out.held, (size_t)out.size, name), 0);
		assert_string_equal(name, out.sha256);
		assert_int_equal(cas_open_read(f->cas, out.sha256, &fd, &size),
		    SIGNET_ERR_NOT_FOUND);
		p = (char *)out.held;
		out.held = NULL;
		len = (size_t)out.size;
	}
	der = (unsigned char *)p;
	assert_true(verify(x, der, len, content));
	assert_false(verify(x, der, len, "another artifact\n"));
	free(p);
	/* a digest that is not one is refused, with a reason */
	job.artifact_sha256 = "not-hex";
	assert_int_equal(fmt->sign(&job, &key, &out, reason, sizeof(reason)),
	    SIGNET_ERR_INVALID);
	assert_non_null(strstr(reason, "SHA-256"));
	X509_free(x);
	EVP_PKEY_free(k);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_detached_roundtrip),
		cmocka_unit_test(test_wrong_key_refused),
		cmocka_unit_test_setup_teardown(test_format_entry, fx_setup,
		    fx_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
