/* RFC 3161 time-stamp queries as the time-stamping authority reads them
 * from anyone on the [tsa] listener (appliance/sign/tsa_query.c): the
 * envelope through the bounded reader, d2i_TS_REQ, the checks of version,
 * hash, imprint length, policy and extensions, then the rejection reply
 * that answers a refused query.
 *
 * Input: the request body.
 *
 * Invariants: an accepted query is version 1 with a SHA-256/384/512
 * imprint of that hash's length and the configured policy or none; a
 * refused one names a failure bit and a text, and its rejection reply
 * reads back (d2i_TS_RESP) as a rejection with that bit and no token. */
#include <string.h>

#include <openssl/objects.h>
#include <openssl/ts.h>

#include "fuzz.h"
#include "tsa_query.h"

#define FZ_POLICY "1.3.6.1.4.1.99999.3161.1"

static void
fz_accepted(TS_REQ *req, const struct tsa_query *q, const ASN1_OBJECT *policy)
{
	TS_MSG_IMPRINT *mi = TS_REQ_get_msg_imprint(req);
	const ASN1_OBJECT *rp = TS_REQ_get_policy_id(req);
	int len = ASN1_STRING_length(TS_MSG_IMPRINT_get_msg(mi));

	if (TS_REQ_get_version(req) != 1)
		fuzz_fail("a query of another version was accepted");
	if (!((q->md_nid == NID_sha256 && len == 32) ||
	    (q->md_nid == NID_sha384 && len == 48) ||
	    (q->md_nid == NID_sha512 && len == 64)))
		fuzz_fail("an imprint of another hash or length was accepted");
	if (rp != NULL && OBJ_cmp(rp, policy) != 0)
		fuzz_fail("another policy was accepted");
	if (TS_REQ_get_ext_count(req) != 0)
		fuzz_fail("a query with extensions was accepted");
}

static void
fz_refused(const struct tsa_query *q)
{
	unsigned char *der = NULL;
	const unsigned char *p;
	size_t len = 0;
	TS_RESP *resp;
	const TS_STATUS_INFO *si;

	if (q->fail_info != TS_INFO_BAD_ALG &&
	    q->fail_info != TS_INFO_BAD_DATA_FORMAT &&
	    q->fail_info != TS_INFO_UNACCEPTED_POLICY &&
	    q->fail_info != TS_INFO_UNACCEPTED_EXTENSION)
		fuzz_fail("a refusal without a known failure bit");
	if (q->text[0] == '\0' || memchr(q->text, '\0', sizeof(q->text)) == NULL)
		fuzz_fail("a refusal without a text");
	if (tsa_query_rejection(q->fail_info, q->text, &der, &len) != 0)
		fuzz_fail("no rejection reply");
	p = der;
	if ((resp = d2i_TS_RESP(NULL, &p, (long)len)) == NULL || p != der + len)
		fuzz_fail("the rejection reply does not read back");
	si = TS_RESP_get_status_info(resp);
	if (ASN1_INTEGER_get(TS_STATUS_INFO_get0_status(si)) !=
	    TS_STATUS_REJECTION || TS_RESP_get_token(resp) != NULL ||
	    ASN1_BIT_STRING_get_bit(TS_STATUS_INFO_get0_failure_info(si),
	    q->fail_info) != 1)
		fuzz_fail("the rejection reply says something else");
	TS_RESP_free(resp);
	OPENSSL_free(der);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static ASN1_OBJECT *policy;
	struct tsa_query q;
	TS_REQ *req = NULL;
	int r;

	if (policy == NULL && (policy = OBJ_txt2obj(FZ_POLICY, 1)) == NULL)
		return 0;
	r = tsa_query_check(data, size, policy, &q, &req);
	if (r == 0) {
		if (req == NULL)
			fuzz_fail("accepted without a request");
		fz_accepted(req, &q, policy);
	} else {
		if (req != NULL)
			fuzz_fail("a refused request was returned");
		fz_refused(&q);
	}
	TS_REQ_free(req);
	return 0;
}
