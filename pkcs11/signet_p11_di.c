#include <string.h>

#include "rd.h"
#include "signet_p11_di.h"

/* DER tags (X.690 section 8) */
#define DI_SEQUENCE	0x30
#define DI_OID		0x06
#define DI_NULL		0x05
#define DI_OCTETS	0x04

/* id-sha256, id-sha384, id-sha512 (RFC 8017 appendix A.2.4): the
 * content octets of 2.16.840.1.101.3.4.2.{1,2,3} */
static const struct {
	const char *name;
	size_t len;
	uint8_t oid[9];
} sp11_hashes[SP11_NHASH] = {
	{ "sha256", 32, { 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
	    0x01 } },
	{ "sha384", 48, { 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
	    0x02 } },
	{ "sha512", 64, { 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
	    0x03 } },
};

const char *
sp11_hash_name(int hash)
{
	return hash >= 0 && hash < SP11_NHASH ? sp11_hashes[hash].name : NULL;
}

size_t
sp11_hash_len(int hash)
{
	return hash >= 0 && hash < SP11_NHASH ? sp11_hashes[hash].len : 0;
}

int
sp11_hash_of_len(size_t len)
{
	int i;

	for (i = 0; i < SP11_NHASH; i++)
		if (sp11_hashes[i].len == len)
			return i;
	return -1;
}

/* One DER element of tag with a short-form length (X.690 8.1.3.4):
 * every element of these DigestInfos is shorter than 128 bytes, so a
 * long form is refused rather than parsed. */
static int
di_element(struct rd *r, uint8_t tag, struct rd *inner)
{
	struct rd save = *r;
	uint8_t t, l;

	if (rd_u8(r, &t) != 0 || t != tag || rd_u8(r, &l) != 0 ||
	    (l & 0x80) != 0)
		goto fail;
	/* the element's content: the same bytes, bounded at its end */
	*inner = *r;
	inner->len = inner->off + l;
	if (rd_skip(r, l) != 0)
		goto fail;
	return 0;
fail:
	*r = save;
	return SIGNET_ERR_INVALID;
}

int
sp11_di_parse(const uint8_t *in, size_t len, int *hash,
    const uint8_t **digest, size_t *dlen)
{
	struct rd r, di, alg, oid, nul, oct;
	uint8_t o[sizeof(sp11_hashes[0].oid)];
	size_t n;
	int i;

	*hash = -1;
	*digest = NULL;
	*dlen = 0;
	rd_init(&r, in, len);
	/* DigestInfo ::= SEQUENCE { digestAlgorithm AlgorithmIdentifier,
	 * digest OCTET STRING } */
	if (di_element(&r, DI_SEQUENCE, &di) != 0 || rd_end(&r) != 0 ||
	    di_element(&di, DI_SEQUENCE, &alg) != 0 ||
	    di_element(&alg, DI_OID, &oid) != 0 ||
	    rd_left(&oid) != sizeof(o) || rd_copy(&oid, o, sizeof(o)) != 0)
		return SIGNET_ERR_INVALID;
	/* parameters: NULL, or absent */
	if (rd_left(&alg) > 0 && (di_element(&alg, DI_NULL, &nul) != 0 ||
	    rd_left(&nul) != 0))
		return SIGNET_ERR_INVALID;
	if (rd_end(&alg) != 0 || di_element(&di, DI_OCTETS, &oct) != 0 ||
	    rd_end(&di) != 0)
		return SIGNET_ERR_INVALID;
	for (i = 0; i < SP11_NHASH; i++)
		if (memcmp(o, sp11_hashes[i].oid, sizeof(o)) == 0)
			break;
	if (i == SP11_NHASH)
		return SIGNET_ERR_INVALID;
	n = rd_left(&oct);
	if (n != sp11_hashes[i].len ||
	    rd_rest(&oct, SP11_MAX_DIGEST, digest, dlen) != 0 || *dlen != n) {
		*digest = NULL;
		*dlen = 0;
		return SIGNET_ERR_INVALID;
	}
	*hash = i;
	return 0;
}
