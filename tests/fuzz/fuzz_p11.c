/* What a caller of the PKCS#11 module hands it: a CKM_RSA_PKCS input
 * read as a DigestInfo (pkcs11/signet_p11_di.c) and a configuration file
 * (pkcs11/signet_p11_conf.c).
 *
 * Input: the first byte chooses the parser (even: DigestInfo, odd:
 * configuration), the rest is its input.
 *
 * Invariants: a DigestInfo accepted names a known hash and a digest of
 * its length inside the input; a configuration accepted holds only
 * values without control characters, and a refusal says why. */
#include <string.h>

#include "fuzz.h"
#include "signet_p11_conf.h"
#include "signet_p11_di.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *d = NULL;
	struct sp11_conf c;
	char err[256] = "";
	size_t dlen = 0, i;
	int hash, r, k;

	if (size < 1)
		return 0;
	if ((data[0] & 1) == 0) {
		r = sp11_di_parse(data + 1, size - 1, &hash, &d, &dlen);
		if (r == 0 && (sp11_hash_name(hash) == NULL ||
		    dlen != sp11_hash_len(hash) || d < data + 1 ||
		    d + dlen != data + size))
			fuzz_fail("a DigestInfo accepted with a digest that is "
			    "not its hash's, or not its last bytes");
		if (r != 0 && (d != NULL || dlen != 0 || hash != -1))
			fuzz_fail("a refused DigestInfo left results behind");
		return 0;
	}
	memset(&c, 0, sizeof(c));
	r = sp11_conf_parse(&c, (const char *)data + 1, size - 1, err,
	    sizeof(err));
	if (r != 0 && err[0] == '\0' && r != SIGNET_ERR_NOMEM)
		fuzz_fail("a refused configuration without a reason");
	for (k = 0; r == 0 && k < SP11_NKEYS; k++)
		for (i = 0; c.v[k] != NULL && c.v[k][i] != '\0'; i++)
			if ((unsigned char)c.v[k][i] < 0x20)
				fuzz_fail("a value with a control character");
	if (r == 0 && c.v[SP11_WAIT] != NULL &&
	    (c.wait_s < 1 || c.wait_s > SP11_WAIT_MAX))
		fuzz_fail("a wait outside its range");
	sp11_conf_free(&c);
	return 0;
}
