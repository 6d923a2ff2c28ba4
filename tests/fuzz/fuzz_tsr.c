/* RFC 3161 time-stamp replies as signetd reads them from an external
 * time-stamping authority (a policy's `timestamp: url`,
 * appliance/sign/tsa_reply.c): d2i_TS_RESP, the status, then
 * TS_RESP_verify_response against the policy's CA.
 *
 * Input: the response body, for a fixed query (SHA-256 of "fuzz", nonce
 * 1).
 *
 * Invariants: the CA below is a self-signed certificate whose key was
 * thrown away, so no reply can be believed: every input is refused with
 * a reason, and no token is returned. */
#include <string.h>

#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/ts.h>

#include "fuzz.h"
#include "tsa_reply.h"

static const char fz_ca[] =
"-----BEGIN CERTIFICATE-----\n"
"MIIBpDCCAUmgAwIBAgIUf/9w562cyD4VHqU+oqRTlxxmtPAwCgYIKoZIzj0EAwIw\n"
"JjEkMCIGA1UEAwwbRnV6eiBUU0EgQ0EgKGtleSBkaXNjYXJkZWQpMCAXDTI2MTIw\n"
"MjA3MjMwOVoYDzIxMjYxMTA4MDcyMzA5WjAmMSQwIgYDVQQDDBtGdXp6IFRTQSBD\n"
"QSAoa2V5IGRpc2NhcmRlZCkwWTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAAQM7EBv\n"
"sfl5CkUpcvTDINcV1g5nM/UiXyex/9fG9SXNOD2TldBivqs733KUUk53a1VP6zmU\n"
"6iZTJyBJlWjXGGKto1MwUTAdBgNVHQ4EFgQUnU3bXgXDAI0835sVGRJp4vaHXNIw\n"
"HwYDVR0jBBgwFoAUnU3bXgXDAI0835sVGRJp4vaHXNIwDwYDVR0TAQH/BAUwAwEB\n"
"/zAKBggqhkjOPQQDAgNJADBGAiEAssoBCb2dwq8odSkm7HE6fQHy72/9mUymOqi0\n"
"UY3F+HACIQDu4yraRQ6f0cPZ8u8QZLHoqp8CSvwS6PS115A1st1DOw==\n"
"-----END CERTIFICATE-----\n";

/* the query of gen_corpus.py's tsr seeds: a fixed nonce, so that a seed
 * can match it and reach the signature check */
static TS_REQ *
fz_query(void)
{
	static const unsigned char data[] = "fuzz";
	TS_REQ *req = tsa_reply_query(data, 4);
	ASN1_INTEGER *one = ASN1_INTEGER_new();

	if (req == NULL || one == NULL || !ASN1_INTEGER_set(one, 1) ||
	    !TS_REQ_set_nonce(req, one)) {
		TS_REQ_free(req);
		req = NULL;
	}
	ASN1_INTEGER_free(one);
	return req;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static TS_REQ *req;
	unsigned char *tok = NULL;
	size_t toklen = 0;
	char err[200] = "";
	int r;

	if (req == NULL && (req = fz_query()) == NULL)
		return 0;
	r = tsa_reply_check(fz_ca, req, data, size, &tok, &toklen, err,
	    sizeof(err));
	if (r == 0)
		fuzz_fail("a reply was believed that the CA's key never signed");
	if (tok != NULL || toklen != 0)
		fuzz_fail("a refused reply returned a token");
	if (r != SIGNET_ERR_NOMEM && (err[0] == '\0' ||
	    memchr(err, '\0', sizeof(err)) == NULL))
		fuzz_fail("a refusal without a reason");
	return 0;
}
