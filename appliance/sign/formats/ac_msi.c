/* Authenticode for Windows Installer packages (ac_msi.h).
 *
 * An MSI is a compound file ([MS-CFB], cfb.c). Its Authenticode digest,
 * as signtool and osslsigncode compute it, is over the streams' contents:
 * each storage's entries sorted by their UTF-16LE names compared byte by
 * byte (not the [MS-CFB] 2.6.4 order of the directory tree), every
 * stream's bytes, every storage's own entries the same way and then its
 * CLSID, and at the end the root storage's CLSID. The root streams
 * \005DigitalSignature (the PKCS#7) and \005MsiDigitalSignatureEx (a
 * digest of the entries' metadata that, when present, the signature also
 * covers) are left out.
 *
 * Signet signs without MsiDigitalSignatureEx (osslsigncode without
 * -add-msi-dse): embed() drops a stream of that name, since the digest
 * it would have to cover is not computed here, and the signature stays
 * valid for Windows without it. */
#include <stdlib.h>
#include <string.h>

#include <openssl/asn1t.h>
#include <openssl/objects.h>
#include <openssl/pkcs7.h>
#include <openssl/x509.h>

#include "ac_msi.h"
#include "cfb.h"
#include "signet_limits.h"

#define MSI_SIGNATURE	"\005DigitalSignature"
#define MSI_SIGNATURE_EX "\005MsiDigitalSignatureEx"

static const unsigned char cfb_magic[8] = {
	0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1
};

/* The root CLSIDs of Windows Installer files, as stored (a GUID's first
 * three fields little endian): {000C1084-0000-0000-C000-000000000046}
 * a package (.msi), {000C1086-...} a patch (.msp). Other compound files
 * (Office documents) are not signed as MSIs. */
static const struct {
	unsigned char clsid[16];
	const char *what;
} msi_kinds[] = {
	{ { 0x84, 0x10, 0x0C, 0x00, 0x00, 0x00, 0x00, 0x00,
	    0xC0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x46 }, "package" },
	{ { 0x86, 0x10, 0x0C, 0x00, 0x00, 0x00, 0x00, 0x00,
	    0xC0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x46 }, "patch" },
};

/* The MSI subject interface package, {000C10F1-0000-0000-C000-
 * 000000000046}, as SpcSipInfo carries it. */
static const unsigned char msi_sip_guid[16] = {
	0xF1, 0x10, 0x0C, 0x00, 0x00, 0x00, 0x00, 0x00,
	0xC0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x46
};

#define SPC_SIPINFO_OID	"1.3.6.1.4.1.311.2.1.30"

/* SpcSipInfo ::= SEQUENCE { version INTEGER (1), guid OCTET STRING,
 * five INTEGERs (0) }, as signtool writes it for MSIs. */
typedef struct {
	ASN1_INTEGER *version;
	ASN1_OCTET_STRING *guid;
	ASN1_INTEGER *r1, *r2, *r3, *r4, *r5;
} MSI_SIP_INFO;

ASN1_SEQUENCE(MSI_SIP_INFO) = {
	ASN1_SIMPLE(MSI_SIP_INFO, version, ASN1_INTEGER),
	ASN1_SIMPLE(MSI_SIP_INFO, guid, ASN1_OCTET_STRING),
	ASN1_SIMPLE(MSI_SIP_INFO, r1, ASN1_INTEGER),
	ASN1_SIMPLE(MSI_SIP_INFO, r2, ASN1_INTEGER),
	ASN1_SIMPLE(MSI_SIP_INFO, r3, ASN1_INTEGER),
	ASN1_SIMPLE(MSI_SIP_INFO, r4, ASN1_INTEGER),
	ASN1_SIMPLE(MSI_SIP_INFO, r5, ASN1_INTEGER),
} static_ASN1_SEQUENCE_END(MSI_SIP_INFO)

/* SpcAttributeTypeAndOptionalValue with an SpcSipInfo value */
typedef struct {
	ASN1_OBJECT *type;
	MSI_SIP_INFO *value;
} MSI_SIP_ATTR;

ASN1_SEQUENCE(MSI_SIP_ATTR) = {
	ASN1_SIMPLE(MSI_SIP_ATTR, type, ASN1_OBJECT),
	ASN1_SIMPLE(MSI_SIP_ATTR, value, MSI_SIP_INFO),
} static_ASN1_SEQUENCE_END(MSI_SIP_ATTR)

/* SpcIndirectDataContent ::= SEQUENCE { data, messageDigest DigestInfo }
 * (Authenticode PE specification, "Authenticode-Specific Structures");
 * X509_SIG is OpenSSL's DigestInfo. */
typedef struct {
	MSI_SIP_ATTR *data;
	X509_SIG *digest;
} MSI_INDIRECT;

ASN1_SEQUENCE(MSI_INDIRECT) = {
	ASN1_SIMPLE(MSI_INDIRECT, data, MSI_SIP_ATTR),
	ASN1_SIMPLE(MSI_INDIRECT, digest, X509_SIG),
} static_ASN1_SEQUENCE_END(MSI_INDIRECT)

static int
msi_detect(const unsigned char *head, size_t n)
{
	return n >= sizeof cfb_magic &&
	    memcmp(head, cfb_magic, sizeof cfb_magic) == 0;
}

/* Opens and checks fd as a compound file that is an MSI. */
static int
msi_open(int fd, uint64_t size, struct cfb **out, struct ac_msg *m)
{
	const struct cfb_entry *root;
	struct cfb *c = NULL;
	size_t i;
	int r;

	*out = NULL;
	if ((r = cfb_open(fd, size, &c, m->text, sizeof m->text)) != 0)
		return r;
	root = cfb_entry(c, CFB_ROOT_ID);
	for (i = 0; i < sizeof msi_kinds / sizeof msi_kinds[0]; i++)
		if (memcmp(root->clsid, msi_kinds[i].clsid, 16) == 0)
			break;
	if (i == sizeof msi_kinds / sizeof msi_kinds[0]) {
		cfb_free(c);
		return signet_errf(m->text, sizeof m->text, SIGNET_ERR_INVALID,
		    "a compound file, but not a Windows Installer package "
		    "(its root CLSID is none of an MSI or an MSP)");
	}
	*out = c;
	return 0;
}

static int
msi_check(int fd, uint64_t size, struct ac_msg *m)
{
	struct cfb *c;
	int r;

	if ((r = msi_open(fd, size, &c, m)) != 0)
		return r;
	cfb_free(c);
	return 0;
}

/* The digest's order: the names' UTF-16LE bytes (with their NULs)
 * compared as bytes over the shorter length, the longer first on a tie,
 * as signtool and osslsigncode sort them. */
static int
msi_cmp_hash(const void *a, const void *b)
{
	const struct cfb_entry *x = *(const struct cfb_entry *const *)a;
	const struct cfb_entry *y = *(const struct cfb_entry *const *)b;
	size_t n = x->name_len < y->name_len ? x->name_len : y->name_len;
	int d = memcmp(x->name, y->name, n);

	if (d != 0)
		return d;
	if (x->name_len == y->name_len)
		return 0;
	return x->name_len > y->name_len ? -1 : 1;
}

static int
msi_is(const struct cfb_entry *e, const char *ascii)
{
	size_t i, n = strlen(ascii);

	if (e->name_len != 2 * n + 2)
		return 0;
	for (i = 0; i < n; i++)
		if (e->name[2 * i] != (unsigned char)ascii[i] ||
		    e->name[2 * i + 1] != 0)
			return 0;
	return 1;
}

static int
msi_update(void *arg, const void *p, size_t n)
{
	return EVP_DigestUpdate(arg, p, n) == 1 ? 0 : SIGNET_ERR_CRYPTO;
}

static int
msi_hash_storage(const struct cfb *c, uint32_t id, EVP_MD_CTX *ctx,
    struct ac_msg *m)
{
	const struct cfb_entry **kid = NULL, *e = cfb_entry(c, id);
	const uint32_t *ids;
	uint32_t i, n, k;
	int r = SIGNET_ERR_INTERNAL;

	ids = cfb_children(c, id, &n);
	if (n > 0 && (kid = malloc(n * sizeof *kid)) == NULL)
		return SIGNET_ERR_NOMEM;
	for (i = 0; i < n; i++)
		kid[i] = cfb_entry(c, ids[i]);
	if (n > 1)
		qsort(kid, n, sizeof *kid, msi_cmp_hash);
	for (i = 0; i < n; i++) {
		if (id == CFB_ROOT_ID && (msi_is(kid[i], MSI_SIGNATURE) ||
		    msi_is(kid[i], MSI_SIGNATURE_EX)))
			continue;
		/* the entry's id: kid[i] points into the directory */
		k = (uint32_t)(kid[i] - cfb_entry(c, CFB_ROOT_ID));
		if (kid[i]->type == CFB_STREAM)
			r = cfb_read(c, k, msi_update, ctx, m->text,
			    sizeof m->text);
		else
			r = msi_hash_storage(c, k, ctx, m);
		if (r != 0)
			goto out;
	}
	r = EVP_DigestUpdate(ctx, e->clsid, sizeof e->clsid) == 1 ? 0 :
	    SIGNET_ERR_CRYPTO;
out:
	free(kid);
	return r;
}

static int
msi_digest(int fd, uint64_t size, const EVP_MD *md, unsigned char *out,
    struct ac_msg *m)
{
	EVP_MD_CTX *ctx = NULL;
	struct cfb *c = NULL;
	int r;

	if ((r = msi_open(fd, size, &c, m)) != 0)
		goto out;
	r = SIGNET_ERR_CRYPTO;
	if ((ctx = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestInit_ex(ctx, md, NULL) != 1)
		goto out;
	if ((r = msi_hash_storage(c, CFB_ROOT_ID, ctx, m)) != 0)
		goto out;
	r = EVP_DigestFinal_ex(ctx, out, NULL) == 1 ? 0 : SIGNET_ERR_CRYPTO;
out:
	EVP_MD_CTX_free(ctx);
	cfb_free(c);
	return r;
}

static int
msi_indirect(const EVP_MD *md, const unsigned char *digest,
    unsigned char **der, size_t *len)
{
	MSI_INDIRECT *idc = NULL;
	MSI_SIP_INFO *sip;
	X509_ALGOR *alg;
	ASN1_OCTET_STRING *dig;
	ASN1_OBJECT *oid;
	int n, r = SIGNET_ERR_CRYPTO;

	*der = NULL;
	*len = 0;
	if ((idc = (MSI_INDIRECT *)ASN1_item_new(ASN1_ITEM_rptr(MSI_INDIRECT))) == NULL)
		goto out;
	sip = idc->data->value;
	if ((oid = OBJ_txt2obj(SPC_SIPINFO_OID, 1)) == NULL)
		goto out;
	ASN1_OBJECT_free(idc->data->type);
	idc->data->type = oid;
	if (ASN1_INTEGER_set(sip->version, 1) != 1 ||
	    ASN1_OCTET_STRING_set(sip->guid, msi_sip_guid,
	    sizeof msi_sip_guid) != 1 ||
	    ASN1_INTEGER_set(sip->r1, 0) != 1 ||
	    ASN1_INTEGER_set(sip->r2, 0) != 1 ||
	    ASN1_INTEGER_set(sip->r3, 0) != 1 ||
	    ASN1_INTEGER_set(sip->r4, 0) != 1 ||
	    ASN1_INTEGER_set(sip->r5, 0) != 1)
		goto out;
	/* DigestInfo's algorithm with NULL parameters, as signtool */
	X509_SIG_getm(idc->digest, &alg, &dig);
	if (X509_ALGOR_set0(alg, OBJ_nid2obj(EVP_MD_get_type(md)), V_ASN1_NULL,
	    NULL) != 1 ||
	    ASN1_OCTET_STRING_set(dig, digest, EVP_MD_get_size(md)) != 1)
		goto out;
	if ((n = ASN1_item_i2d((ASN1_VALUE *)idc, der,
	    ASN1_ITEM_rptr(MSI_INDIRECT))) <= 0)
		goto out;
	*len = (size_t)n;
	r = 0;
out:
	ASN1_item_free((ASN1_VALUE *)idc, ASN1_ITEM_rptr(MSI_INDIRECT));
	return r;
}

/* A growing copy of one stream, at most SIGNET_MAX_CFB_SIGNATURE. */
struct msi_buf {
	unsigned char *p;
	size_t n;
	size_t cap;
};

static int
msi_collect(void *arg, const void *p, size_t n)
{
	struct msi_buf *b = arg;

	if (n > b->cap - b->n)
		return SIGNET_ERR_TOO_LARGE;
	memcpy(b->p + b->n, p, n);
	b->n += n;
	return 0;
}

static int
msi_existing(int fd, uint64_t size, unsigned char **der, size_t *len,
    struct ac_msg *m)
{
	const struct cfb_entry *e;
	const unsigned char *q;
	struct msi_buf b = { NULL, 0, 0 };
	struct cfb *c = NULL;
	PKCS7 *p7 = NULL;
	uint32_t id;
	int r;

	*der = NULL;
	*len = 0;
	if ((r = msi_open(fd, size, &c, m)) != 0)
		goto out;
	r = 0;
	if ((id = cfb_find(c, CFB_ROOT_ID, MSI_SIGNATURE)) == CFB_NOSTREAM)
		goto out;	/* unsigned */
	e = cfb_entry(c, id);
	if (e->type != CFB_STREAM) {
		r = signet_errf(m->text, sizeof m->text, SIGNET_ERR_INVALID,
		    "the MSI's DigitalSignature entry is a storage, not a "
		    "stream");
		goto out;
	}
	if (e->size == 0)
		goto out;	/* no signature in it: unsigned */
	if (e->size > SIGNET_MAX_CFB_SIGNATURE) {
		r = signet_errf(m->text, sizeof m->text, SIGNET_ERR_TOO_LARGE,
		    "the MSI's DigitalSignature stream is larger than %d "
		    "bytes", SIGNET_MAX_CFB_SIGNATURE);
		goto out;
	}
	b.cap = (size_t)e->size;
	if ((b.p = OPENSSL_malloc(b.cap)) == NULL) {
		r = SIGNET_ERR_NOMEM;
		goto out;
	}
	if ((r = cfb_read(c, id, msi_collect, &b, m->text,
	    sizeof m->text)) != 0)
		goto out;
	/* the PKCS#7 ContentInfo, without what may pad the stream */
	q = b.p;
	if ((p7 = d2i_PKCS7(NULL, &q, (long)b.n)) == NULL) {
		r = signet_errf(m->text, sizeof m->text, SIGNET_ERR_INVALID,
		    "the MSI's DigitalSignature stream is not a PKCS#7 "
		    "signature");
		goto out;
	}
	*len = (size_t)(q - b.p);
	*der = b.p;
	b.p = NULL;
out:
	PKCS7_free(p7);
	OPENSSL_free(b.p);
	cfb_free(c);
	return r;
}

static int
msi_embed(int fd, uint64_t size, const unsigned char *p7, size_t len,
    const struct ac_sink *out, struct ac_msg *m)
{
	static const char *const drop[] = { MSI_SIGNATURE_EX };
	struct cfb_edit edit = {
		.drop = drop,
		.ndrop = 1,
		.set = MSI_SIGNATURE,
		.data = p7,
		.len = len,
	};
	struct cfb *c = NULL;
	int r;

	if (len == 0 || len > SIGNET_MAX_CFB_SIGNATURE)
		return signet_errf(m->text, sizeof m->text, SIGNET_ERR_TOO_LARGE,
		    "the signature is empty or larger than %d bytes",
		    SIGNET_MAX_CFB_SIGNATURE);
	if ((r = msi_open(fd, size, &c, m)) != 0)
		return r;
	r = cfb_write(c, &edit, out->write, out->arg, m->text, sizeof m->text);
	cfb_free(c);
	return r;
}

const struct ac_format ac_msi_format = {
	.slug = "authenticode-msi",
	.title = "Authenticode, Windows Installer package (MSI)",
	.detect = msi_detect,
	.check = msi_check,
	.digest = msi_digest,
	.indirect = msi_indirect,
	.existing = msi_existing,
	.embed = msi_embed,
};
