/* X.509 helpers (appliance/sign/pki.c): names, chains, CSRs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "pki.h"

static EVP_PKEY *
make_key(void)
{
	EVP_PKEY *k = EVP_RSA_gen(2048);

	assert_non_null(k);
	return k;
}

static void
test_names(void **state)
{
	X509_NAME *n = NULL;
	char *s;

	(void)state;
	assert_int_equal(pki_parse_name("CN=ci-runner,O=Signet Dev", &n), 0);
	s = pki_name_text(n);
	assert_string_equal(s, "CN=ci-runner,O=Signet Dev");
	free(s);
	X509_NAME_free(n);
	assert_int_equal(pki_parse_name("CN", &n), SIGNET_ERR_INVALID);
	assert_int_equal(pki_parse_name("", &n), SIGNET_ERR_INVALID);
	assert_int_equal(pki_parse_name("XX=1", &n), SIGNET_ERR_INVALID);
	assert_int_equal(pki_parse_name("CN=a\\,b", &n), SIGNET_ERR_INVALID);
	assert_int_equal(pki_parse_name("CN=", &n), SIGNET_ERR_INVALID);
}

static void
test_chain_pem(void **state)
{
	STACK_OF(X509) *sk = NULL;
	const char *junk = "-----BEGIN CERTIFICATE-----\nAAAA\n"
	    "-----END CERTIFICATE-----\n";

	(void)state;
	assert_int_not_equal(pki_chain_from_pem(junk, strlen(junk), &sk), 0);
	assert_null(sk);
	assert_int_not_equal(pki_chain_from_pem("hello", 5, &sk), 0);
	assert_int_not_equal(pki_chain_from_pem("", 0, &sk), 0);
}

static void
test_csr(void **state)
{
	EVP_PKEY *k = make_key();
	char *pem = NULL;
	BIO *b;
	X509_REQ *req;

	(void)state;
	assert_int_equal(pki_make_csr(k, "CN=Release,O=Example", &pem), 0);
	b = BIO_new_mem_buf(pem, -1);
	req = PEM_read_bio_X509_REQ(b, NULL, NULL, NULL);
	assert_non_null(req);
	assert_int_equal(X509_REQ_verify(req, k), 1);
	X509_REQ_free(req);
	BIO_free(b);
	free(pem);
	EVP_PKEY_free(k);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_chain_pem),
		cmocka_unit_test(test_csr),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
