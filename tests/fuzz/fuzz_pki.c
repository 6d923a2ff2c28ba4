/* Certificate chains (appliance/sign/pki.c) as administrators hand them over:
 * pki_chain_from_any for the admin API's chainPem and chainBase64 (PEM,
 * DER or PKCS#7) and pki_chain_from_pem for `signet apply` documents, then
 * what the callers do with an accepted chain: the leaf's fingerprint,
 * notAfter and subject (catalog.c), ordering by a key (api_admin.c) and
 * the PEM that gets stored.
 *
 * Input: byte 0 (even: pki_chain_from_any, odd: pki_chain_from_pem), then
 * the bytes.
 *
 * Invariants: an accepted chain has 1..SIGNET_MAX_CHAIN certificates; the
 * PEM written for storage (pki_chain_to_pem) reads back with
 * pki_chain_from_pem as the same certificates, since signer.c loads a
 * policy's chain that way before each signature. */
#include <stdlib.h>
#include <string.h>

#include <openssl/x509.h>

#include "fuzz.h"
#include "pki.h"
#include "signet_limits.h"

/* The stored form of sk reads back as the same certificates. */
static void
fz_stored(STACK_OF(X509) *sk)
{
	STACK_OF(X509) *back = NULL;
	char *pem = NULL;
	int i;

	if (pki_chain_to_pem(sk, &pem) != 0)
		fuzz_fail("pki_chain_to_pem failed on an accepted chain");
	if (pki_chain_from_pem(pem, strlen(pem), &back) != 0)
		fuzz_fail("a stored chain does not read back");
	if (sk_X509_num(back) != sk_X509_num(sk))
		fuzz_fail("a stored chain reads back with another length");
	for (i = 0; i < sk_X509_num(sk); i++)
		if (X509_cmp(sk_X509_value(sk, i), sk_X509_value(back, i)) != 0)
			fuzz_fail("a stored chain reads back changed");
	sk_X509_pop_free(back, X509_free);
	free(pem);
}

static void
fz_use(STACK_OF(X509) *sk)
{
	STACK_OF(X509) *ordered = NULL;
	char fp[65], when[32];
	EVP_PKEY *pub;
	X509 *x;
	int i;

	if (sk_X509_num(sk) < 1 || sk_X509_num(sk) > SIGNET_MAX_CHAIN)
		fuzz_fail("an accepted chain has a length out of range");
	for (i = 0; i < sk_X509_num(sk); i++) {
		x = sk_X509_value(sk, i);
		if (pki_cert_sha256(x, fp) != 0)
			fuzz_fail("no fingerprint for an accepted certificate");
		/* catalog.c refuses a chain whose leaf has no readable
		 * notAfter; only that it is refused cleanly matters here */
		if (pki_time_text(X509_get0_notAfter(x), when) != 0 ||
		    pki_time_text(X509_get0_notBefore(x), when) != 0)
			when[0] = '\0';
		free(pki_name_text(X509_get_subject_name(x)));
		free(pki_name_text(X509_get_issuer_name(x)));
	}
	fz_stored(sk);
	/* the token key certified by the leaf, then by the last one */
	for (i = 0; i < sk_X509_num(sk); i += sk_X509_num(sk) - 1 > 0 ?
	    sk_X509_num(sk) - 1 : 1) {
		if ((pub = X509_get0_pubkey(sk_X509_value(sk, i))) == NULL)
			continue;
		if (pki_order_chain(sk, pub, &ordered) == 0) {
			if (sk_X509_num(ordered) < 1 ||
			    sk_X509_num(ordered) > SIGNET_MAX_CHAIN)
				fuzz_fail("an ordered chain is empty or too long");
			fz_stored(ordered);
		}
		sk_X509_pop_free(ordered, X509_free);
		ordered = NULL;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	STACK_OF(X509) *sk = NULL;
	unsigned char *copy;
	int r;

	if (size < 1)
		return 0;
	/* an exact-size copy: no NUL after it, as with an uploaded file */
	if ((copy = malloc(size - 1 > 0 ? size - 1 : 1)) == NULL)
		return 0;
	memcpy(copy, data + 1, size - 1);
	if (data[0] % 2 == 0)
		r = pki_chain_from_any(copy, size - 1, &sk);
	else
		r = pki_chain_from_pem((const char *)copy, size - 1, &sk);
	if (r == 0)
		fz_use(sk);
	else if (sk != NULL)
		fuzz_fail("a refused chain was returned");
	sk_X509_pop_free(sk, X509_free);
	free(copy);
	return 0;
}
