/* libsignet-pkcs11.so: a PKCS#11 v2.40 module for build machines. Each
 * signing policy the caller may submit to and that allows hash signing
 * is a token (label project/policy) holding the policy's certificate,
 * its chain, and a public and a private key object. The private key is
 * not here: C_Sign sends the digest to the appliance as a hash signing
 * request and waits until it is signed, denied or canceled, so the
 * policy's rules, approvals, audit and notifications apply as for any
 * request. No PIN is needed; C_Login takes any PIN and ignores it.
 *
 * Threads: one mutex guards the session table; the HTTP round trips of
 * C_Sign run without it, so sessions sign concurrently
 * (CKF_OS_LOCKING_OK). A session itself is used by one thread at a time,
 * as PKCS#11 2.40 section 2.6.2 asks of applications. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/asn1.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/sha.h>
#include <openssl/x509.h>

#include <p11-kit/pkcs11.h>

#include "client.h"
#include "signet_p11_conf.h"
#include "signet_p11_di.h"
#include "signet_p11_net.h"

#define SP11_EXPORT __attribute__((visibility("default")))

#define SP11_MAX_SESSIONS	256
#define SP11_MAX_FIND_ATTRS	32	/* a search template */
#define SP11_MAX_ATTR_VALUE	1024	/* a value searched for */
#define SP11_MAX_RAW_INPUT	512	/* DigestInfo or digest, multi-part */
/* Object handles: the slot in the high bits, the object in the low
 * ones; handle 0 is CK_INVALID_HANDLE (section 3.1). */
#define SP11_OBJ_SHIFT		8
#define SP11_OBJ_PRIV		1
#define SP11_OBJ_PUB		2
#define SP11_OBJ_CERT		3	/* leaf; the chain follows */

/* How a mechanism finds the digest it asks the appliance to sign. */
enum sp11_kind {
	SP11_RAW_DIGESTINFO,	/* CKM_RSA_PKCS: a DigestInfo */
	SP11_RAW_DIGEST,	/* CKM_RSA_PKCS_PSS, CKM_ECDSA: the digest */
	SP11_HASHING,		/* CKM_SHAx_*: the module hashes the data */
};

static const struct sp11_mech {
	CK_MECHANISM_TYPE type;
	int rsa;		/* else EC */
	int kind;		/* enum sp11_kind */
	int hash;		/* enum sp11_hash; -1: from the input */
	int pss;
	const char *name;	/* the appliance's signatureAlgorithm */
} sp11_mechs[] = {
	{ CKM_RSA_PKCS, 1, SP11_RAW_DIGESTINFO, -1, 0, "rsa-pkcs1" },
	{ CKM_SHA256_RSA_PKCS, 1, SP11_HASHING, SP11_SHA256, 0, "rsa-pkcs1" },
	{ CKM_SHA384_RSA_PKCS, 1, SP11_HASHING, SP11_SHA384, 0, "rsa-pkcs1" },
	{ CKM_SHA512_RSA_PKCS, 1, SP11_HASHING, SP11_SHA512, 0, "rsa-pkcs1" },
	{ CKM_RSA_PKCS_PSS, 1, SP11_RAW_DIGEST, -1, 1, "rsa-pss" },
	{ CKM_SHA256_RSA_PKCS_PSS, 1, SP11_HASHING, SP11_SHA256, 1,
	    "rsa-pss" },
	{ CKM_SHA384_RSA_PKCS_PSS, 1, SP11_HASHING, SP11_SHA384, 1,
	    "rsa-pss" },
	{ CKM_SHA512_RSA_PKCS_PSS, 1, SP11_HASHING, SP11_SHA512, 1,
	    "rsa-pss" },
	{ CKM_ECDSA, 0, SP11_RAW_DIGEST, -1, 0, "ecdsa" },
	{ CKM_ECDSA_SHA256, 0, SP11_HASHING, SP11_SHA256, 0, "ecdsa" },
	{ CKM_ECDSA_SHA384, 0, SP11_HASHING, SP11_SHA384, 0, "ecdsa" },
	{ CKM_ECDSA_SHA512, 0, SP11_HASHING, SP11_SHA512, 0, "ecdsa" },
};

/* PSS parameters name the hash by mechanism and MGF1 by its own
 * constant (section 2.1.13): both must be the hash the salt is as long
 * as, which is what the appliance signs with. */
static const struct {
	CK_MECHANISM_TYPE hash_mech;
	CK_RSA_PKCS_MGF_TYPE mgf;
} sp11_pss[SP11_NHASH] = {
	[SP11_SHA256] = { CKM_SHA256, CKG_MGF1_SHA256 },
	[SP11_SHA384] = { CKM_SHA384, CKG_MGF1_SHA384 },
	[SP11_SHA512] = { CKM_SHA512, CKG_MGF1_SHA512 },
};

struct sp11_op {
	const struct sp11_mech *m;
	CK_SLOT_ID slot;
	int hash;			/* PSS: from the parameters */
	EVP_MD_CTX *md;			/* SP11_HASHING */
	uint8_t in[SP11_MAX_RAW_INPUT];	/* the raw kinds' input */
	size_t inlen;
	int parts;			/* C_SignUpdate was called */
	int have_sig;			/* signed: the answer waits here */
	uint8_t sig[SP11_MAX_SIG];
	size_t siglen;
};

struct sp11_session {
	CK_SLOT_ID slot;
	CK_FLAGS flags;
	/* C_FindObjects: the template and where the search is */
	int finding;
	CK_ATTRIBUTE find[SP11_MAX_FIND_ATTRS];
	CK_ULONG nfind;
	CK_ULONG find_pos;
	int signing;
	struct sp11_op op;
};

/* Digests the appliance just refused (denied, canceled, refused by
 * policy). Some tools try again at once when C_Sign fails (pkcs11-tool
 * falls back to C_SignUpdate/C_SignFinal with the same data): the same
 * digest is not put before the approvers again for a while. */
#define SP11_REFUSED_KEEP	16
#define SP11_REFUSED_SECONDS	120

struct sp11_refused {
	time_t at;
	CK_SLOT_ID slot;
	int hash;
	const char *mech;
	uint8_t digest[SP11_MAX_DIGEST];
	char why[256];
	CK_RV rv;	/* what the first try returned */
};

static pthread_mutex_t sp11_mu = PTHREAD_MUTEX_INITIALIZER;
static struct sp11_refused sp11_refused[SP11_REFUSED_KEEP];
static size_t sp11_refused_next;
static int sp11_initialized;
static struct sp11_conf sp11_cf;
static struct sp11_policy *sp11_pol;
static size_t sp11_npol;
static int sp11_loaded;
static int sp11_tried;	/* a load was attempted since C_Initialize */
static struct sp11_session *sp11_sess[SP11_MAX_SESSIONS];

/* --- helpers ------------------------------------------------------------ */

static void
sp11_pad(unsigned char *dst, size_t cap, const char *src)
{
	size_t n = strlen(src);

	/* blank padded, not NUL terminated (section 3.2) */
	memset(dst, ' ', cap);
	memcpy(dst, src, n < cap ? n : cap);
}

static const struct sp11_mech *
sp11_mech(CK_MECHANISM_TYPE t)
{
	size_t i;

	for (i = 0; i < sizeof(sp11_mechs) / sizeof(sp11_mechs[0]); i++)
		if (sp11_mechs[i].type == t)
			return &sp11_mechs[i];
	return NULL;
}

static const EVP_MD *
sp11_md(int hash)
{
	switch (hash) {
	case SP11_SHA256:
		return EVP_sha256();
	case SP11_SHA384:
		return EVP_sha384();
	case SP11_SHA512:
		return EVP_sha512();
	default:
		return NULL;
	}
}

/* The tokens, fetched from the appliance once; the network call runs
 * without the lock, and the first table to arrive is kept. Caller holds
 * no lock. */
static void
sp11_load(int again)
{
	struct sp11_policy *p = NULL;
	size_t n = 0;
	char msg[SP11_MSG];
	int skip;

	pthread_mutex_lock(&sp11_mu);
	/* after a failed try only C_GetSlotList tries again: every other
	 * call would wait for the appliance's retries once more */
	skip = sp11_loaded || (sp11_tried && !again);
	sp11_tried = 1;
	pthread_mutex_unlock(&sp11_mu);
	if (skip)
		return;
	if (sp11_net_policies(&sp11_cf, &p, &n, msg, sizeof(msg)) != 0) {
		sp11_log("no tokens: %s", msg);
		return;	/* tried again on the next C_GetSlotList */
	}
	pthread_mutex_lock(&sp11_mu);
	if (!sp11_loaded) {
		sp11_pol = p;
		sp11_npol = n;
		sp11_loaded = 1;
		p = NULL;
		n = 0;
	}
	pthread_mutex_unlock(&sp11_mu);
	sp11_policies_free(p, SP11_MAX_TOKENS);
}

/* The policy of slot; the table does not change once loaded. A caller
 * may name a slot it was configured with before it lists the slots
 * (SunPKCS11's slot = N): the table is loaded then. */
static const struct sp11_policy *
sp11_slot(CK_SLOT_ID slot)
{
	const struct sp11_policy *p = NULL;

	sp11_load(0);
	pthread_mutex_lock(&sp11_mu);
	if (sp11_loaded && slot < sp11_npol)
		p = &sp11_pol[slot];
	pthread_mutex_unlock(&sp11_mu);
	return p;
}

/* The session, or NULL; the pointer stays valid until C_CloseSession,
 * which the application does not call while it uses the session. */
static struct sp11_session *
sp11_session(CK_SESSION_HANDLE h)
{
	struct sp11_session *s = NULL;

	pthread_mutex_lock(&sp11_mu);
	if (sp11_initialized && h >= 1 && h <= SP11_MAX_SESSIONS)
		s = sp11_sess[h - 1];
	pthread_mutex_unlock(&sp11_mu);
	return s;
}

static void
sp11_op_end(struct sp11_session *s)
{
	EVP_MD_CTX_free(s->op.md);
	OPENSSL_cleanse(&s->op, sizeof(s->op));
	s->signing = 0;
}

static void
sp11_find_end(struct sp11_session *s)
{
	CK_ULONG i;

	for (i = 0; i < s->nfind; i++)
		free(s->find[i].pValue);
	memset(s->find, 0, sizeof(s->find));
	s->nfind = 0;
	s->find_pos = 0;
	s->finding = 0;
}

static void
sp11_session_free(struct sp11_session *s)
{
	if (s == NULL)
		return;
	sp11_op_end(s);
	sp11_find_end(s);
	free(s);
}

/* --- objects ------------------------------------------------------------ */

/* The object's number in its slot (SP11_OBJ_*), or 0. */
static int
sp11_obj(CK_OBJECT_HANDLE h, CK_SLOT_ID slot, const struct sp11_policy *p)
{
	CK_ULONG k = h & ((1UL << SP11_OBJ_SHIFT) - 1);

	if (p == NULL || (h >> SP11_OBJ_SHIFT) != slot + 1 || k == 0 ||
	    k >= SP11_OBJ_CERT + (CK_ULONG)sk_X509_num(p->chain))
		return 0;
	return (int)k;
}

static CK_OBJECT_HANDLE
sp11_handle(CK_SLOT_ID slot, int k)
{
	return (CK_OBJECT_HANDLE)((slot + 1) << SP11_OBJ_SHIFT | (CK_ULONG)k);
}

/* A value built for an attribute: owned bytes. */
struct sp11_val {
	uint8_t *p;
	size_t n;
	uint8_t small[sizeof(CK_ULONG) > 8 ? sizeof(CK_ULONG) : 8];
};

static int
sp11_val_ulong(struct sp11_val *v, CK_ULONG x)
{
	memcpy(v->small, &x, sizeof(x));
	v->p = v->small;
	v->n = sizeof(x);
	return 0;
}

static int
sp11_val_bool(struct sp11_val *v, CK_BBOOL b)
{
	v->small[0] = b;
	v->p = v->small;
	v->n = 1;
	return 0;
}

static int
sp11_val_bytes(struct sp11_val *v, const void *b, size_t n)
{
	if ((v->p = malloc(n > 0 ? n : 1)) == NULL)
		return -1;
	if (n > 0)
		memcpy(v->p, b, n);
	v->n = n;
	return 0;
}

/* An i2d_ result, handed over. */
static int
sp11_val_der(struct sp11_val *v, unsigned char *der, int n)
{
	int r;

	if (n <= 0)
		return -1;
	r = sp11_val_bytes(v, der, (size_t)n);
	OPENSSL_free(der);
	return r;
}

static void
sp11_val_free(struct sp11_val *v)
{
	if (v->p != NULL && v->p != v->small)
		free(v->p);
	v->p = NULL;
}

/* CKA_ID of a certificate and its key: the SHA-1 of the public key, as
 * a subject key identifier is commonly made (RFC 5280 section
 * 4.2.1.2, method 1), so that a key and its certificate pair up. */
static int
sp11_val_id(struct sp11_val *v, X509 *x)
{
	unsigned char md[SHA_DIGEST_LENGTH];
	unsigned int n = 0;

	if (X509_pubkey_digest(x, EVP_sha1(), md, &n) != 1)
		return -1;
	return sp11_val_bytes(v, md, n);
}

static int
sp11_val_bn(struct sp11_val *v, const EVP_PKEY *pk, const char *param)
{
	BIGNUM *bn = NULL;
	int n, r = -1;

	if (EVP_PKEY_get_bn_param(pk, param, &bn) != 1)
		return -1;
	n = BN_num_bytes(bn);
	if ((v->p = malloc(n > 0 ? (size_t)n : 1)) != NULL) {
		v->n = (size_t)BN_bn2bin(bn, v->p);
		r = 0;
	}
	BN_free(bn);
	return r;
}

/* CKA_EC_PARAMS: the DER of the curve's OID (namedCurve, section
 * 2.3.3). */
static int
sp11_val_ec_params(struct sp11_val *v, const EVP_PKEY *pk)
{
	char name[64];
	ASN1_OBJECT *o;
	unsigned char *der = NULL;
	int nid;

	if (EVP_PKEY_get_utf8_string_param(pk, OSSL_PKEY_PARAM_GROUP_NAME,
	    name, sizeof(name), NULL) != 1 ||
	    (nid = OBJ_txt2nid(name)) == NID_undef ||
	    (o = OBJ_nid2obj(nid)) == NULL)
		return -1;
	return sp11_val_der(v, der, i2d_ASN1_OBJECT(o, &der));
}

/* CKA_EC_POINT: the uncompressed point in a DER OCTET STRING (section
 * 2.3.3, as X9.62 ECPoint). */
static int
sp11_val_ec_point(struct sp11_val *v, const EVP_PKEY *pk)
{
	unsigned char pt[256], *der = NULL;
	size_t n = 0;
	ASN1_OCTET_STRING *os = NULL;
	int r = -1;

	if (EVP_PKEY_get_octet_string_param(pk, OSSL_PKEY_PARAM_PUB_KEY, pt,
	    sizeof(pt), &n) != 1 || (os = ASN1_OCTET_STRING_new()) == NULL ||
	    ASN1_OCTET_STRING_set(os, pt, (int)n) != 1)
		goto out;
	r = sp11_val_der(v, der, i2d_ASN1_OCTET_STRING(os, &der));
out:
	ASN1_OCTET_STRING_free(os);
	return r;
}

/* The value of attribute t of object k of p: 0 and *v, 1 when the
 * object has no such attribute, 2 when it is sensitive, -1 on failure. */
static int
sp11_attr(const struct sp11_policy *p, int k, CK_ATTRIBUTE_TYPE t,
    struct sp11_val *v)
{
	X509 *leaf = sk_X509_value(p->chain, 0), *x = NULL;
	int key = k == SP11_OBJ_PRIV || k == SP11_OBJ_PUB;
	unsigned char *der = NULL;

	memset(v, 0, sizeof(*v));
	if (k >= SP11_OBJ_CERT)
		x = sk_X509_value(p->chain, k - SP11_OBJ_CERT);
	switch (t) {
	case CKA_CLASS:
		return sp11_val_ulong(v, k == SP11_OBJ_PRIV ? CKO_PRIVATE_KEY :
		    k == SP11_OBJ_PUB ? CKO_PUBLIC_KEY : CKO_CERTIFICATE);
	case CKA_TOKEN:
		return sp11_val_bool(v, CK_TRUE);
	case CKA_PRIVATE:
		/* nothing here needs a login to be read or used */
		return sp11_val_bool(v, CK_FALSE);
	case CKA_MODIFIABLE:
	case CKA_COPYABLE:
	case CKA_DESTROYABLE:
		return sp11_val_bool(v, CK_FALSE);
	case CKA_LABEL:
		if (k > SP11_OBJ_CERT) {
			char l[sizeof(p->label) + 16];

			snprintf(l, sizeof(l), "%s CA %d", p->label,
			    k - SP11_OBJ_CERT);
			return sp11_val_bytes(v, l, strlen(l));
		}
		return sp11_val_bytes(v, p->label, strlen(p->label));
	case CKA_ID:
		return sp11_val_id(v, x != NULL ? x : leaf);
	case CKA_SUBJECT:
		return sp11_val_der(v, der, i2d_X509_NAME(X509_get_subject_name(
		    x != NULL ? x : leaf), &der));
	default:
		break;
	}
	if (x != NULL) {
		switch (t) {
		case CKA_CERTIFICATE_TYPE:
			return sp11_val_ulong(v, CKC_X_509);
		case CKA_TRUSTED:
			return sp11_val_bool(v, CK_FALSE);
		case CKA_CERTIFICATE_CATEGORY:
			/* 1 token user, 2 authority (section 4.6.3) */
			return sp11_val_ulong(v, k == SP11_OBJ_CERT ? 1 : 2);
		case CKA_VALUE:
			return sp11_val_der(v, der, i2d_X509(x, &der));
		case CKA_ISSUER:
			return sp11_val_der(v, der, i2d_X509_NAME(
			    X509_get_issuer_name(x), &der));
		case CKA_SERIAL_NUMBER:
			return sp11_val_der(v, der, i2d_ASN1_INTEGER(
			    X509_get0_serialNumber(x), &der));
		default:
			return 1;
		}
	}
	if (!key)
		return 1;
	switch (t) {
	case CKA_KEY_TYPE:
		return sp11_val_ulong(v, p->rsa ? CKK_RSA : CKK_EC);
	case CKA_LOCAL:
	case CKA_DERIVE:
		return sp11_val_bool(v, CK_FALSE);
	case CKA_MODULUS:
		return p->rsa ? sp11_val_bn(v, p->pub, OSSL_PKEY_PARAM_RSA_N) :
		    1;
	case CKA_PUBLIC_EXPONENT:
		return p->rsa ? sp11_val_bn(v, p->pub, OSSL_PKEY_PARAM_RSA_E) :
		    1;
	case CKA_MODULUS_BITS:
		return p->rsa ? sp11_val_ulong(v, (CK_ULONG)EVP_PKEY_get_bits(
		    p->pub)) : 1;
	case CKA_EC_PARAMS:
		return p->rsa ? 1 : sp11_val_ec_params(v, p->pub);
	case CKA_EC_POINT:
		return p->rsa ? 1 : sp11_val_ec_point(v, p->pub);
	default:
		break;
	}
	if (k == SP11_OBJ_PUB) {
		switch (t) {
		case CKA_VERIFY:
			return sp11_val_bool(v, CK_TRUE);
		case CKA_ENCRYPT:
		case CKA_WRAP:
		case CKA_VERIFY_RECOVER:
			return sp11_val_bool(v, CK_FALSE);
		default:
			return 1;
		}
	}
	switch (t) {
	case CKA_SIGN:
	case CKA_SENSITIVE:
	case CKA_ALWAYS_SENSITIVE:
	case CKA_NEVER_EXTRACTABLE:
		return sp11_val_bool(v, CK_TRUE);
	case CKA_EXTRACTABLE:
	case CKA_DECRYPT:
	case CKA_UNWRAP:
	case CKA_SIGN_RECOVER:
	case CKA_ALWAYS_AUTHENTICATE:
	case CKA_WRAP_WITH_TRUSTED:
		return sp11_val_bool(v, CK_FALSE);
	case CKA_PRIVATE_EXPONENT:
	case CKA_PRIME_1:
	case CKA_PRIME_2:
	case CKA_EXPONENT_1:
	case CKA_EXPONENT_2:
	case CKA_COEFFICIENT:
	case CKA_VALUE:
		/* the key is in the appliance's token; none of it is here */
		return 2;
	default:
		return 1;
	}
}

/* Does object k of p match the session's search template? */
static int
sp11_matches(const struct sp11_session *s, const struct sp11_policy *p,
    int k)
{
	struct sp11_val v;
	CK_ULONG i;
	int r, ok = 1;

	for (i = 0; ok && i < s->nfind; i++) {
		r = sp11_attr(p, k, s->find[i].type, &v);
		ok = r == 0 && v.n == s->find[i].ulValueLen &&
		    (v.n == 0 || memcmp(v.p, s->find[i].pValue, v.n) == 0);
		sp11_val_free(&v);
	}
	return ok;
}

/* --- general ------------------------------------------------------------ */

CK_RV
C_Initialize(void *init_args)
{
	CK_C_INITIALIZE_ARGS *a = init_args;
	char msg[SP11_MSG];
	CK_RV rv = CKR_GENERAL_ERROR;

	/* own mutexes only: callbacks without CKF_OS_LOCKING_OK cannot be
	 * honoured (section 5.4, case 3) */
	if (a != NULL && (a->pReserved != NULL ||
	    ((a->CreateMutex == NULL) != (a->DestroyMutex == NULL)) ||
	    ((a->CreateMutex != NULL) && !(a->flags & CKF_OS_LOCKING_OK))))
		return a->pReserved != NULL ? CKR_ARGUMENTS_BAD : CKR_CANT_LOCK;
	pthread_mutex_lock(&sp11_mu);
	if (sp11_initialized) {
		rv = CKR_CRYPTOKI_ALREADY_INITIALIZED;
		goto out;
	}
	if (sp11_conf_load(&sp11_cf, msg, sizeof(msg)) != 0) {
		/* the file may be what is broken: the variable still names
		 * where to say so */
		sp11_log_open(getenv("SIGNET_PKCS11_LOG"));
		sp11_log("configuration: %s", msg);
		sp11_conf_free(&sp11_cf);
		goto out;
	}
	sp11_log_open(sp11_cf.v[SP11_LOG]);
	if (client_global_init() != 0) {
		sp11_log("cannot set up the HTTP client");
		sp11_conf_free(&sp11_cf);
		goto out;
	}
	sp11_initialized = 1;
	rv = CKR_OK;
out:
	pthread_mutex_unlock(&sp11_mu);
	return rv;
}

CK_RV
C_Finalize(void *reserved)
{
	size_t i;

	if (reserved != NULL)
		return CKR_ARGUMENTS_BAD;
	pthread_mutex_lock(&sp11_mu);
	if (!sp11_initialized) {
		pthread_mutex_unlock(&sp11_mu);
		return CKR_CRYPTOKI_NOT_INITIALIZED;
	}
	for (i = 0; i < SP11_MAX_SESSIONS; i++) {
		sp11_session_free(sp11_sess[i]);
		sp11_sess[i] = NULL;
	}
	sp11_policies_free(sp11_pol, SP11_MAX_TOKENS);
	sp11_pol = NULL;
	sp11_npol = 0;
	sp11_loaded = 0;
	sp11_tried = 0;
	sp11_conf_free(&sp11_cf);
	client_global_cleanup();
	sp11_log_close();
	sp11_initialized = 0;
	pthread_mutex_unlock(&sp11_mu);
	return CKR_OK;
}

static int
sp11_ready(void)
{
	int r;

	pthread_mutex_lock(&sp11_mu);
	r = sp11_initialized;
	pthread_mutex_unlock(&sp11_mu);
	return r;
}

CK_RV
C_GetInfo(CK_INFO *info)
{
	if (!sp11_ready())
		return CKR_CRYPTOKI_NOT_INITIALIZED;
	if (info == NULL)
		return CKR_ARGUMENTS_BAD;
	memset(info, 0, sizeof(*info));
	info->cryptokiVersion.major = 2;
	info->cryptokiVersion.minor = 40;
	sp11_pad(info->manufacturerID, sizeof(info->manufacturerID),
	    "Signet");
	sp11_pad(info->libraryDescription, sizeof(info->libraryDescription),
	    "Signet hash signing");
	info->libraryVersion.major = 0;
	info->libraryVersion.minor = 1;
	return CKR_OK;
}

/* --- slots and tokens ------------------------------------------------- */

CK_RV
C_GetSlotList(unsigned char token_present, CK_SLOT_ID *list,
    unsigned long *count)
{
	size_t n, i;

	(void)token_present;	/* every slot holds its token */
	if (!sp11_ready())
		return CKR_CRYPTOKI_NOT_INITIALIZED;
	if (count == NULL)
		return CKR_ARGUMENTS_BAD;
	sp11_load(1);
	pthread_mutex_lock(&sp11_mu);
	n = sp11_npol;
	pthread_mutex_unlock(&sp11_mu);
	if (list == NULL) {
		*count = n;
		return CKR_OK;
	}
	if (*count < n) {
		*count = n;
		return CKR_BUFFER_TOO_SMALL;
	}
	for (i = 0; i < n; i++)
		list[i] = i;
	*count = n;
	return CKR_OK;
}

CK_RV
C_GetSlotInfo(CK_SLOT_ID slot, CK_SLOT_INFO *info)
{
	const struct sp11_policy *p;
	char d[sizeof(((struct sp11_policy *)0)->label) + 8];

	if (!sp11_ready())
		return CKR_CRYPTOKI_NOT_INITIALIZED;
	if ((p = sp11_slot(slot)) == NULL)
		return CKR_SLOT_ID_INVALID;
	if (info == NULL)
		return CKR_ARGUMENTS_BAD;
	memset(info, 0, sizeof(*info));
	snprintf(d, sizeof(d), "Signet %s", p->label);
	sp11_pad(info->slotDescription, sizeof(info->slotDescription), d);
	sp11_pad(info->manufacturerID, sizeof(info->manufacturerID),
	    "Signet");
	info->flags = CKF_TOKEN_PRESENT | CKF_REMOVABLE_DEVICE |
	    CKF_HW_SLOT;
	return CKR_OK;
}

CK_RV
C_GetTokenInfo(CK_SLOT_ID slot, CK_TOKEN_INFO *info)
{
	const struct sp11_policy *p;
	unsigned char md[SHA256_DIGEST_LENGTH];
	char serial[17];
	size_t i;

	if (!sp11_ready())
		return CKR_CRYPTOKI_NOT_INITIALIZED;
	if ((p = sp11_slot(slot)) == NULL)
		return CKR_SLOT_ID_INVALID;
	if (info == NULL)
		return CKR_ARGUMENTS_BAD;
	memset(info, 0, sizeof(*info));
	/* a label longer than 32 bytes is cut here; CKA_LABEL is whole */
	sp11_pad(info->label, sizeof(info->label), p->label);
	sp11_pad(info->manufacturerID, sizeof(info->manufacturerID),
	    "Signet");
	sp11_pad(info->model, sizeof(info->model), "hash signing");
	SHA256((const unsigned char *)p->label, strlen(p->label), md);
	for (i = 0; i < 8; i++)
		snprintf(serial + 2 * i, 3, "%02x", md[i]);
	sp11_pad(info->serialNumber, sizeof(info->serialNumber), serial);
	/* no CKF_LOGIN_REQUIRED: the appliance decides, not a PIN */
	info->flags = CKF_TOKEN_INITIALIZED | CKF_USER_PIN_INITIALIZED;
	info->ulMaxSessionCount = CK_EFFECTIVELY_INFINITE;
	info->ulSessionCount = CK_UNAVAILABLE_INFORMATION;
	info->ulMaxRwSessionCount = CK_EFFECTIVELY_INFINITE;
	info->ulRwSessionCount = CK_UNAVAILABLE_INFORMATION;
	info->ulMaxPinLen = 256;
	info->ulMinPinLen = 0;
	info->ulTotalPublicMemory = CK_UNAVAILABLE_INFORMATION;
	info->ulFreePublicMemory = CK_UNAVAILABLE_INFORMATION;
	info->ulTotalPrivateMemory = CK_UNAVAILABLE_INFORMATION;
	info->ulFreePrivateMemory = CK_UNAVAILABLE_INFORMATION;
	info->hardwareVersion.major = 0;
	info->firmwareVersion.major = 0;
	return CKR_OK;
}

CK_RV
C_WaitForSlotEvent(CK_FLAGS flags, CK_SLOT_ID *slot, void *reserved)
{
	(void)flags;
	(void)slot;
	(void)reserved;
	/* the tokens do not come and go */
	return CKR_FUNCTION_NOT_SUPPORTED;
}

CK_RV
C_GetMechanismList(CK_SLOT_ID slot, CK_MECHANISM_TYPE *list,
    unsigned long *count)
{
	const struct sp11_policy *p;
	size_t i, n = 0;

	if (!sp11_ready())
		return CKR_CRYPTOKI_NOT_INITIALIZED;
	if ((p = sp11_slot(slot)) == NULL)
		return CKR_SLOT_ID_INVALID;
	if (count == NULL)
		return CKR_ARGUMENTS_BAD;
	for (i = 0; i < sizeof(sp11_mechs) / sizeof(sp11_mechs[0]); i++)
		if (sp11_mechs[i].rsa == p->rsa) {
			if (list != NULL && n < *count)
				list[n] = sp11_mechs[i].type;
			n++;
		}
	if (list != NULL && *count < n) {
		*count = n;
		return CKR_BUFFER_TOO_SMALL;
	}
	*count = n;
	return CKR_OK;
}

CK_RV
C_GetMechanismInfo(CK_SLOT_ID slot, CK_MECHANISM_TYPE type,
    CK_MECHANISM_INFO *info)
{
	const struct sp11_policy *p;
	const struct sp11_mech *m;
	CK_ULONG bits;

	if (!sp11_ready())
		return CKR_CRYPTOKI_NOT_INITIALIZED;
	if ((p = sp11_slot(slot)) == NULL)
		return CKR_SLOT_ID_INVALID;
	if ((m = sp11_mech(type)) == NULL || m->rsa != p->rsa)
		return CKR_MECHANISM_INVALID;
	if (info == NULL)
		return CKR_ARGUMENTS_BAD;
	bits = (CK_ULONG)EVP_PKEY_get_bits(p->pub);
	info->ulMinKeySize = bits;
	info->ulMaxKeySize = bits;
	info->flags = CKF_HW | CKF_SIGN;
	return CKR_OK;
}

/* --- sessions ------------------------------------------------------------ */

CK_RV
C_OpenSession(CK_SLOT_ID slot, CK_FLAGS flags, void *app, CK_NOTIFY notify,
    CK_SESSION_HANDLE *out)
{
	struct sp11_session *s;
	size_t i;

	(void)app;
	(void)notify;
	if (!sp11_ready())
		return CKR_CRYPTOKI_NOT_INITIALIZED;
	if (sp11_slot(slot) == NULL)
		return CKR_SLOT_ID_INVALID;
	if (!(flags & CKF_SERIAL_SESSION))
		return CKR_SESSION_PARALLEL_NOT_SUPPORTED;
	if (out == NULL)
		return CKR_ARGUMENTS_BAD;
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return CKR_HOST_MEMORY;
	s->slot = slot;
	s->flags = flags;
	pthread_mutex_lock(&sp11_mu);
	for (i = 0; i < SP11_MAX_SESSIONS; i++)
		if (sp11_sess[i] == NULL) {
			sp11_sess[i] = s;
			break;
		}
	pthread_mutex_unlock(&sp11_mu);
	if (i == SP11_MAX_SESSIONS) {
		free(s);
		return CKR_SESSION_COUNT;
	}
	*out = i + 1;
	return CKR_OK;
}

CK_RV
C_CloseSession(CK_SESSION_HANDLE h)
{
	struct sp11_session *s = NULL;

	pthread_mutex_lock(&sp11_mu);
	if (sp11_initialized && h >= 1 && h <= SP11_MAX_SESSIONS) {
		s = sp11_sess[h - 1];
		sp11_sess[h - 1] = NULL;
	}
	pthread_mutex_unlock(&sp11_mu);
	if (s == NULL)
		return sp11_ready() ? CKR_SESSION_HANDLE_INVALID :
		    CKR_CRYPTOKI_NOT_INITIALIZED;
	sp11_session_free(s);
	return CKR_OK;
}

CK_RV
C_CloseAllSessions(CK_SLOT_ID slot)
{
	struct sp11_session *gone[SP11_MAX_SESSIONS];
	size_t i, n = 0;

	if (!sp11_ready())
		return CKR_CRYPTOKI_NOT_INITIALIZED;
	if (sp11_slot(slot) == NULL)
		return CKR_SLOT_ID_INVALID;
	pthread_mutex_lock(&sp11_mu);
	for (i = 0; i < SP11_MAX_SESSIONS; i++)
		if (sp11_sess[i] != NULL && sp11_sess[i]->slot == slot) {
			gone[n++] = sp11_sess[i];
			sp11_sess[i] = NULL;
		}
	pthread_mutex_unlock(&sp11_mu);
	for (i = 0; i < n; i++)
		sp11_session_free(gone[i]);
	return CKR_OK;
}

CK_RV
C_GetSessionInfo(CK_SESSION_HANDLE h, CK_SESSION_INFO *info)
{
	struct sp11_session *s = sp11_session(h);

	if (s == NULL)
		return sp11_ready() ? CKR_SESSION_HANDLE_INVALID :
		    CKR_CRYPTOKI_NOT_INITIALIZED;
	if (info == NULL)
		return CKR_ARGUMENTS_BAD;
	memset(info, 0, sizeof(*info));
	info->slotID = s->slot;
	/* the keys are usable without a login: always the user's state */
	info->state = (s->flags & CKF_RW_SESSION) ? CKS_RW_USER_FUNCTIONS :
	    CKS_RO_USER_FUNCTIONS;
	info->flags = s->flags;
	return CKR_OK;
}

CK_RV
C_Login(CK_SESSION_HANDLE h, CK_USER_TYPE user, unsigned char *pin,
    unsigned long pin_len)
{
	(void)pin;
	(void)pin_len;
	if (sp11_session(h) == NULL)
		return sp11_ready() ? CKR_SESSION_HANDLE_INVALID :
		    CKR_CRYPTOKI_NOT_INITIALIZED;
	if (user != CKU_USER && user != CKU_CONTEXT_SPECIFIC &&
	    user != CKU_SO)
		return CKR_USER_TYPE_INVALID;
	/* any PIN is accepted and ignored: who may sign is the appliance's
	 * decision, made with the client certificate or token (docs/ci.md) */
	return CKR_OK;
}

CK_RV
C_Logout(CK_SESSION_HANDLE h)
{
	if (sp11_session(h) == NULL)
		return sp11_ready() ? CKR_SESSION_HANDLE_INVALID :
		    CKR_CRYPTOKI_NOT_INITIALIZED;
	return CKR_OK;
}

/* --- objects ------------------------------------------------------------ */

CK_RV
C_GetObjectSize(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE obj,
    unsigned long *size)
{
	struct sp11_session *s = sp11_session(h);

	if (s == NULL)
		return sp11_ready() ? CKR_SESSION_HANDLE_INVALID :
		    CKR_CRYPTOKI_NOT_INITIALIZED;
	if (sp11_obj(obj, s->slot, sp11_slot(s->slot)) == 0)
		return CKR_OBJECT_HANDLE_INVALID;
	if (size == NULL)
		return CKR_ARGUMENTS_BAD;
	*size = CK_UNAVAILABLE_INFORMATION;
	return CKR_OK;
}

CK_RV
C_GetAttributeValue(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE obj,
    CK_ATTRIBUTE *templ, unsigned long count)
{
	struct sp11_session *s = sp11_session(h);
	const struct sp11_policy *p;
	struct sp11_val v;
	unsigned long i;
	CK_RV rv = CKR_OK;
	int k, r;

	if (s == NULL)
		return sp11_ready() ? CKR_SESSION_HANDLE_INVALID :
		    CKR_CRYPTOKI_NOT_INITIALIZED;
	p = sp11_slot(s->slot);
	if ((k = sp11_obj(obj, s->slot, p)) == 0)
		return CKR_OBJECT_HANDLE_INVALID;
	if (templ == NULL && count > 0)
		return CKR_ARGUMENTS_BAD;
	/* every attribute is answered; the worst outcome is returned
	 * (section 5.7, C_GetAttributeValue) */
	for (i = 0; i < count; i++) {
		r = sp11_attr(p, k, templ[i].type, &v);
		if (r == 2) {
			templ[i].ulValueLen = CK_UNAVAILABLE_INFORMATION;
			rv = CKR_ATTRIBUTE_SENSITIVE;
		} else if (r != 0) {
			templ[i].ulValueLen = CK_UNAVAILABLE_INFORMATION;
			if (r < 0)
				return CKR_GENERAL_ERROR;
			if (rv == CKR_OK)
				rv = CKR_ATTRIBUTE_TYPE_INVALID;
		} else if (templ[i].pValue == NULL) {
			templ[i].ulValueLen = v.n;
		} else if (templ[i].ulValueLen < v.n) {
			templ[i].ulValueLen = CK_UNAVAILABLE_INFORMATION;
			rv = CKR_BUFFER_TOO_SMALL;
		} else {
			if (v.n > 0)
				memcpy(templ[i].pValue, v.p, v.n);
			templ[i].ulValueLen = v.n;
		}
		sp11_val_free(&v);
	}
	return rv;
}

CK_RV
C_FindObjectsInit(CK_SESSION_HANDLE h, CK_ATTRIBUTE *templ,
    unsigned long count)
{
	struct sp11_session *s = sp11_session(h);
	unsigned long i;

	if (s == NULL)
		return sp11_ready() ? CKR_SESSION_HANDLE_INVALID :
		    CKR_CRYPTOKI_NOT_INITIALIZED;
	if (s->finding)
		return CKR_OPERATION_ACTIVE;
	if ((templ == NULL && count > 0) || count > SP11_MAX_FIND_ATTRS)
		return count > SP11_MAX_FIND_ATTRS ? CKR_TEMPLATE_INCONSISTENT :
		    CKR_ARGUMENTS_BAD;
	for (i = 0; i < count; i++) {
		if (templ[i].ulValueLen > SP11_MAX_ATTR_VALUE ||
		    (templ[i].pValue == NULL && templ[i].ulValueLen > 0)) {
			sp11_find_end(s);
			return CKR_ATTRIBUTE_VALUE_INVALID;
		}
		s->find[i].type = templ[i].type;
		s->find[i].ulValueLen = templ[i].ulValueLen;
		if ((s->find[i].pValue = malloc(templ[i].ulValueLen + 1)) ==
		    NULL) {
			sp11_find_end(s);
			return CKR_HOST_MEMORY;
		}
		if (templ[i].ulValueLen > 0)
			memcpy(s->find[i].pValue, templ[i].pValue,
			    templ[i].ulValueLen);
		s->nfind = i + 1;
	}
	s->find_pos = 0;
	s->finding = 1;
	return CKR_OK;
}

CK_RV
C_FindObjects(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE *out, unsigned long max,
    unsigned long *n)
{
	struct sp11_session *s = sp11_session(h);
	const struct sp11_policy *p;
	CK_ULONG total;

	if (s == NULL)
		return sp11_ready() ? CKR_SESSION_HANDLE_INVALID :
		    CKR_CRYPTOKI_NOT_INITIALIZED;
	if (!s->finding)
		return CKR_OPERATION_NOT_INITIALIZED;
	if (n == NULL || (out == NULL && max > 0))
		return CKR_ARGUMENTS_BAD;
	p = sp11_slot(s->slot);
	total = SP11_OBJ_CERT + (CK_ULONG)sk_X509_num(p->chain);
	*n = 0;
	while (*n < max && s->find_pos + 1 < total) {
		s->find_pos++;
		if (sp11_matches(s, p, (int)s->find_pos))
			out[(*n)++] = sp11_handle(s->slot, (int)s->find_pos);
	}
	return CKR_OK;
}

CK_RV
C_FindObjectsFinal(CK_SESSION_HANDLE h)
{
	struct sp11_session *s = sp11_session(h);

	if (s == NULL)
		return sp11_ready() ? CKR_SESSION_HANDLE_INVALID :
		    CKR_CRYPTOKI_NOT_INITIALIZED;
	if (!s->finding)
		return CKR_OPERATION_NOT_INITIALIZED;
	sp11_find_end(s);
	return CKR_OK;
}

/* --- signing ------------------------------------------------------------- */

/* Section 2.1.14: the PSS parameters of mechanism m; the hash they name
 * is the one signed with. */
static CK_RV
sp11_pss_params(const CK_MECHANISM *mech, const struct sp11_mech *m,
    int *hash)
{
	const CK_RSA_PKCS_PSS_PARAMS *pp = mech->pParameter;
	int i;

	if (pp == NULL || mech->ulParameterLen != sizeof(*pp))
		return CKR_MECHANISM_PARAM_INVALID;
	for (i = 0; i < SP11_NHASH; i++)
		if (sp11_pss[i].hash_mech == pp->hashAlg)
			break;
	/* the appliance signs with MGF1 of the same hash and a salt as
	 * long as the hash (pkcs11/PROTOCOL.md, SIGN): nothing else */
	if (i == SP11_NHASH || sp11_pss[i].mgf != pp->mgf ||
	    pp->sLen != sp11_hash_len(i) || (m->hash >= 0 && m->hash != i))
		return CKR_MECHANISM_PARAM_INVALID;
	*hash = i;
	return CKR_OK;
}

CK_RV
C_SignInit(CK_SESSION_HANDLE h, CK_MECHANISM *mech, CK_OBJECT_HANDLE key)
{
	struct sp11_session *s = sp11_session(h);
	const struct sp11_policy *p;
	const struct sp11_mech *m;
	int hash = -1;
	CK_RV rv;

	if (s == NULL)
		return sp11_ready() ? CKR_SESSION_HANDLE_INVALID :
		    CKR_CRYPTOKI_NOT_INITIALIZED;
	if (s->signing)
		return CKR_OPERATION_ACTIVE;
	if (mech == NULL)
		return CKR_ARGUMENTS_BAD;
	p = sp11_slot(s->slot);
	if (sp11_obj(key, s->slot, p) != SP11_OBJ_PRIV)
		return CKR_KEY_HANDLE_INVALID;
	if ((m = sp11_mech(mech->mechanism)) == NULL)
		return CKR_MECHANISM_INVALID;
	if (m->rsa != p->rsa)
		return CKR_KEY_TYPE_INCONSISTENT;
	if (m->pss) {
		if ((rv = sp11_pss_params(mech, m, &hash)) != CKR_OK)
			return rv;
	} else if (mech->pParameter != NULL || mech->ulParameterLen != 0) {
		return CKR_MECHANISM_PARAM_INVALID;
	} else {
		hash = m->hash;
	}
	memset(&s->op, 0, sizeof(s->op));
	s->op.m = m;
	s->op.slot = s->slot;
	s->op.hash = hash;
	if (m->kind == SP11_HASHING) {
		if ((s->op.md = EVP_MD_CTX_new()) == NULL)
			return CKR_HOST_MEMORY;
		if (EVP_DigestInit_ex(s->op.md, sp11_md(hash), NULL) != 1) {
			sp11_op_end(s);
			return CKR_GENERAL_ERROR;
		}
	}
	s->signing = 1;
	return CKR_OK;
}

/* The hash and digest the operation signs, from the raw input or the
 * running hash. */
static CK_RV
sp11_digest(struct sp11_op *op, int *hash, uint8_t d[SP11_MAX_DIGEST],
    size_t *dlen)
{
	const uint8_t *p;
	unsigned int n = 0;

	switch (op->m->kind) {
	case SP11_HASHING:
		if (EVP_DigestFinal_ex(op->md, d, &n) != 1)
			return CKR_GENERAL_ERROR;
		*hash = op->hash;
		*dlen = n;
		return CKR_OK;
	case SP11_RAW_DIGESTINFO:
		/* CKM_RSA_PKCS signs what it is given; the appliance signs
		 * digests, so the input must be a DigestInfo it can read */
		if (sp11_di_parse(op->in, op->inlen, hash, &p, dlen) != 0) {
			sp11_log("CKM_RSA_PKCS: the input (%zu bytes) is not a "
			    "DigestInfo of SHA-256, SHA-384 or SHA-512",
			    op->inlen);
			return CKR_DATA_INVALID;
		}
		memcpy(d, p, *dlen);
		return CKR_OK;
	default:
		*hash = op->m->pss ? op->hash : sp11_hash_of_len(op->inlen);
		if (*hash < 0 || sp11_hash_len(*hash) != op->inlen) {
			sp11_log("%s: the input is %zu bytes, not a %s digest",
			    op->m->name, op->inlen, op->m->pss ?
			    sp11_hash_name(op->hash) : "SHA-256/384/512");
			return CKR_DATA_LEN_RANGE;
		}
		memcpy(d, op->in, op->inlen);
		*dlen = op->inlen;
		return CKR_OK;
	}
}

/* Was this digest refused a moment ago? Then what was returned (0: it
 * was not), and why into why[len]. */
static CK_RV
sp11_was_refused(CK_SLOT_ID slot, int hash, const char *mech,
    const uint8_t *d, size_t dlen, char *why, size_t len)
{
	time_t now = time(NULL);
	size_t i;
	CK_RV hit = 0;

	pthread_mutex_lock(&sp11_mu);
	for (i = 0; !hit && i < SP11_REFUSED_KEEP; i++) {
		const struct sp11_refused *r = &sp11_refused[i];

		if (r->mech != NULL && r->slot == slot && r->hash == hash &&
		    r->mech == mech && now - r->at < SP11_REFUSED_SECONDS &&
		    memcmp(r->digest, d, dlen) == 0) {
			snprintf(why, len, "%s", r->why);
			hit = r->rv;
		}
	}
	pthread_mutex_unlock(&sp11_mu);
	return hit;
}

static void
sp11_refuse(CK_SLOT_ID slot, int hash, const char *mech, const uint8_t *d,
    size_t dlen, const char *why, CK_RV rv)
{
	struct sp11_refused *r;

	pthread_mutex_lock(&sp11_mu);
	r = &sp11_refused[sp11_refused_next++ % SP11_REFUSED_KEEP];
	memset(r, 0, sizeof(*r));
	r->at = time(NULL);
	r->slot = slot;
	r->hash = hash;
	r->mech = mech;
	memcpy(r->digest, d, dlen);
	snprintf(r->why, sizeof(r->why), "%.255s", why);
	r->rv = rv;
	pthread_mutex_unlock(&sp11_mu);
}

static CK_RV
sp11_outcome_rv(enum sp11_outcome o)
{
	switch (o) {
	case SP11_SIGNED:
		return CKR_OK;
	case SP11_REJECTED:
		return CKR_FUNCTION_REJECTED;
	case SP11_TIMEOUT:
		return CKR_FUNCTION_CANCELED;
	default:
		return CKR_DEVICE_ERROR;
	}
}

/* Signs once per operation and hands the result out by the size
 * convention of section 5.2: a call without a buffer, or with one too
 * small, leaves the operation (and a signature already made) in place,
 * so the second call does not ask the appliance again. */
static CK_RV
sp11_finish(struct sp11_session *s, unsigned char *sig,
    unsigned long *siglen)
{
	const struct sp11_policy *p = sp11_slot(s->op.slot);
	uint8_t d[SP11_MAX_DIGEST];
	char msg[SP11_MSG];
	enum sp11_outcome o;
	size_t dlen = 0;
	int hash = -1;
	CK_RV rv;

	if (sig == NULL && !s->op.have_sig) {
		*siglen = p->sig_len;
		return CKR_OK;
	}
	if (!s->op.have_sig) {
		if ((rv = sp11_digest(&s->op, &hash, d, &dlen)) != CKR_OK) {
			sp11_op_end(s);
			return rv;
		}
		if ((rv = sp11_was_refused(s->op.slot, hash, s->op.m->name,
		    d, dlen, msg, sizeof(msg))) != 0) {
			sp11_log("%s: this digest was refused a moment ago, "
			    "not asked again: %s", p->label, msg);
			sp11_op_end(s);
			return rv;
		}
		/* no lock held: other sessions sign meanwhile */
		o = sp11_net_sign(&sp11_cf, p, hash, d, dlen, s->op.m->name,
		    s->op.sig, &s->op.siglen, msg, sizeof(msg));
		if (o != SP11_SIGNED) {
			sp11_log("%s: %s", p->label, msg);
			if (o == SP11_REJECTED || o == SP11_TIMEOUT)
				sp11_refuse(s->op.slot, hash, s->op.m->name, d,
				    dlen, msg, sp11_outcome_rv(o));
			sp11_op_end(s);
			return sp11_outcome_rv(o);
		}
		s->op.have_sig = 1;
	}
	if (sig == NULL) {
		*siglen = s->op.siglen;
		return CKR_OK;
	}
	if (*siglen < s->op.siglen) {
		*siglen = s->op.siglen;
		return CKR_BUFFER_TOO_SMALL;
	}
	memcpy(sig, s->op.sig, s->op.siglen);
	*siglen = s->op.siglen;
	sp11_op_end(s);
	return CKR_OK;
}

static CK_RV
sp11_update(struct sp11_session *s, const unsigned char *part,
    unsigned long len)
{
	if (part == NULL && len > 0)
		return CKR_ARGUMENTS_BAD;
	if (s->op.m->kind == SP11_HASHING)
		return EVP_DigestUpdate(s->op.md, part, len) == 1 ? CKR_OK :
		    CKR_GENERAL_ERROR;
	if (len > sizeof(s->op.in) - s->op.inlen)
		return CKR_DATA_LEN_RANGE;
	if (len > 0)
		memcpy(s->op.in + s->op.inlen, part, len);
	s->op.inlen += len;
	return CKR_OK;
}

CK_RV
C_Sign(CK_SESSION_HANDLE h, unsigned char *data, unsigned long len,
    unsigned char *sig, unsigned long *siglen)
{
	struct sp11_session *s = sp11_session(h);
	CK_RV rv;

	if (s == NULL)
		return sp11_ready() ? CKR_SESSION_HANDLE_INVALID :
		    CKR_CRYPTOKI_NOT_INITIALIZED;
	if (!s->signing)
		return CKR_OPERATION_NOT_INITIALIZED;
	if (siglen == NULL) {
		sp11_op_end(s);
		return CKR_ARGUMENTS_BAD;
	}
	if (s->op.parts) {
		/* C_Sign after C_SignUpdate is not a single-part sign */
		sp11_op_end(s);
		return CKR_OPERATION_ACTIVE;
	}
	/* the input is taken once; a repeated call only fetches the
	 * answer */
	if (!s->op.have_sig && !s->op.inlen && sig != NULL) {
		if ((rv = sp11_update(s, data, len)) != CKR_OK) {
			sp11_op_end(s);
			return rv;
		}
	} else if (!s->op.have_sig && sig == NULL) {
		/* a size query: the key says how long the answer will be */
		if (s->op.m->kind != SP11_HASHING && len >
		    sizeof(s->op.in)) {
			sp11_op_end(s);
			return CKR_DATA_LEN_RANGE;
		}
	}
	return sp11_finish(s, sig, siglen);
}

CK_RV
C_SignUpdate(CK_SESSION_HANDLE h, unsigned char *part, unsigned long len)
{
	struct sp11_session *s = sp11_session(h);
	CK_RV rv;

	if (s == NULL)
		return sp11_ready() ? CKR_SESSION_HANDLE_INVALID :
		    CKR_CRYPTOKI_NOT_INITIALIZED;
	if (!s->signing)
		return CKR_OPERATION_NOT_INITIALIZED;
	if (s->op.have_sig)
		return CKR_OPERATION_ACTIVE;
	s->op.parts = 1;
	if ((rv = sp11_update(s, part, len)) != CKR_OK)
		sp11_op_end(s);
	return rv;
}

CK_RV
C_SignFinal(CK_SESSION_HANDLE h, unsigned char *sig, unsigned long *siglen)
{
	struct sp11_session *s = sp11_session(h);

	if (s == NULL)
		return sp11_ready() ? CKR_SESSION_HANDLE_INVALID :
		    CKR_CRYPTOKI_NOT_INITIALIZED;
	if (!s->signing)
		return CKR_OPERATION_NOT_INITIALIZED;
	if (siglen == NULL) {
		sp11_op_end(s);
		return CKR_ARGUMENTS_BAD;
	}
	return sp11_finish(s, sig, siglen);
}

/* --- the function list -------------------------------------------------- */

static CK_FUNCTION_LIST sp11_functions = {
	.version = { 2, 40 },
	.C_Initialize = C_Initialize,
	.C_Finalize = C_Finalize,
	.C_GetInfo = C_GetInfo,
	.C_GetFunctionList = C_GetFunctionList,
	.C_GetSlotList = C_GetSlotList,
	.C_GetSlotInfo = C_GetSlotInfo,
	.C_GetTokenInfo = C_GetTokenInfo,
	.C_GetMechanismList = C_GetMechanismList,
	.C_GetMechanismInfo = C_GetMechanismInfo,
	.C_InitToken = C_InitToken,
	.C_InitPIN = C_InitPIN,
	.C_SetPIN = C_SetPIN,
	.C_OpenSession = C_OpenSession,
	.C_CloseSession = C_CloseSession,
	.C_CloseAllSessions = C_CloseAllSessions,
	.C_GetSessionInfo = C_GetSessionInfo,
	.C_GetOperationState = C_GetOperationState,
	.C_SetOperationState = C_SetOperationState,
	.C_Login = C_Login,
	.C_Logout = C_Logout,
	.C_CreateObject = C_CreateObject,
	.C_CopyObject = C_CopyObject,
	.C_DestroyObject = C_DestroyObject,
	.C_GetObjectSize = C_GetObjectSize,
	.C_GetAttributeValue = C_GetAttributeValue,
	.C_SetAttributeValue = C_SetAttributeValue,
	.C_FindObjectsInit = C_FindObjectsInit,
	.C_FindObjects = C_FindObjects,
	.C_FindObjectsFinal = C_FindObjectsFinal,
	.C_EncryptInit = C_EncryptInit,
	.C_Encrypt = C_Encrypt,
	.C_EncryptUpdate = C_EncryptUpdate,
	.C_EncryptFinal = C_EncryptFinal,
	.C_DecryptInit = C_DecryptInit,
	.C_Decrypt = C_Decrypt,
	.C_DecryptUpdate = C_DecryptUpdate,
	.C_DecryptFinal = C_DecryptFinal,
	.C_DigestInit = C_DigestInit,
	.C_Digest = C_Digest,
	.C_DigestUpdate = C_DigestUpdate,
	.C_DigestKey = C_DigestKey,
	.C_DigestFinal = C_DigestFinal,
	.C_SignInit = C_SignInit,
	.C_Sign = C_Sign,
	.C_SignUpdate = C_SignUpdate,
	.C_SignFinal = C_SignFinal,
	.C_SignRecoverInit = C_SignRecoverInit,
	.C_SignRecover = C_SignRecover,
	.C_VerifyInit = C_VerifyInit,
	.C_Verify = C_Verify,
	.C_VerifyUpdate = C_VerifyUpdate,
	.C_VerifyFinal = C_VerifyFinal,
	.C_VerifyRecoverInit = C_VerifyRecoverInit,
	.C_VerifyRecover = C_VerifyRecover,
	.C_DigestEncryptUpdate = C_DigestEncryptUpdate,
	.C_DecryptDigestUpdate = C_DecryptDigestUpdate,
	.C_SignEncryptUpdate = C_SignEncryptUpdate,
	.C_DecryptVerifyUpdate = C_DecryptVerifyUpdate,
	.C_GenerateKey = C_GenerateKey,
	.C_GenerateKeyPair = C_GenerateKeyPair,
	.C_WrapKey = C_WrapKey,
	.C_UnwrapKey = C_UnwrapKey,
	.C_DeriveKey = C_DeriveKey,
	.C_SeedRandom = C_SeedRandom,
	.C_GenerateRandom = C_GenerateRandom,
	.C_GetFunctionStatus = C_GetFunctionStatus,
	.C_CancelFunction = C_CancelFunction,
	.C_WaitForSlotEvent = C_WaitForSlotEvent,
};

/* The one symbol the module exports (section 5.2, C_GetFunctionList). */
SP11_EXPORT CK_RV
C_GetFunctionList(CK_FUNCTION_LIST **list)
{
	if (list == NULL)
		return CKR_ARGUMENTS_BAD;
	*list = &sp11_functions;
	return CKR_OK;
}
