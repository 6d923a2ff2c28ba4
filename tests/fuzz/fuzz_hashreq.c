/* The body of a hash signing request (appliance/core/hashreq.c), as
 * POST .../hash-signing-requests hands it over once jansson has read it.
 *
 * Input: JSON text.
 *
 * Invariants: a body accepted gives a hash object whose digest reads
 * back (hashreq_kh) at its algorithm's length, in lowercase hex, and an
 * origin object of strings only; a refusal says why. */
#include <string.h>

#include <jansson.h>

#include "fuzz.h"
#include "hashreq.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t *body, *hash = NULL, *origin = NULL, *v;
	uint8_t d[HASHREQ_MAX_DIGEST];
	char msg[512] = "";
	const char *k, *hex;
	size_t dlen = 0, i;
	int r, mech, kh;

	if ((body = json_loadb((const char *)data, size, 0, NULL)) == NULL)
		return 0;
	r = hashreq_parse(body, &hash, &origin, msg, sizeof(msg));
	if (r != 0) {
		if (msg[0] == '\0' && r != SIGNET_ERR_NOMEM)
			fuzz_fail("a refused hash request without a reason");
		if (hash != NULL || origin != NULL)
			fuzz_fail("a refused hash request left results");
		goto out;
	}
	if (hashreq_kh(hash, &mech, &kh, d, &dlen) != 0)
		fuzz_fail("an accepted digest does not read back");
	hex = json_string_value(json_object_get(hash, "digest"));
	if (hex == NULL || strlen(hex) != 2 * dlen)
		fuzz_fail("the recorded digest is not its bytes in hex");
	for (i = 0; hex[i] != '\0'; i++)
		if (!((hex[i] >= '0' && hex[i] <= '9') ||
		    (hex[i] >= 'a' && hex[i] <= 'f')))
			fuzz_fail("the recorded digest is not lowercase hex");
	json_object_foreach(origin, k, v)
		if (!json_is_string(v))
			fuzz_fail("an origin field that is not a string");
out:
	json_decref(hash);
	json_decref(origin);
	json_decref(body);
	return 0;
}
