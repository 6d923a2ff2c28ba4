#include <dlfcn.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/asn1.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/param_build.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <p11-kit/pkcs11.h>

#include "log.h"
#include "token.h"

/* Everything goes through one CK_FUNCTION_LIST, got once: a module may
 * make every C_GetFunctionList call an application of its own
 * (p11-kit-client.so opens a connection per call), and a login belongs to
 * one application's sessions.
 *
 * What a key's public half tells: fetched once per key, STATUS and LIST
 * come often. Keys are found by CKA_ID, which the keyholder makes random
 * for the keys it generates. */
struct pubinfo {
	uint8_t id[KH_MAX_ID];
	size_t idlen;
	int type;			/* EVP_PKEY_RSA, EVP_PKEY_EC */
	unsigned bits;
	uint8_t *spki;			/* DER, OPENSSL_malloc'ed */
	size_t spki_len;
};

/* A private key as a signing session found it: its handle (valid in every
 * session of the application, PKCS#11 3.0 section 4.1) and what signing
 * needs to know of it. */
struct skey {
	uint8_t id[KH_MAX_ID];
	size_t idlen;
	CK_OBJECT_HANDLE obj;
	CK_KEY_TYPE type;		/* CKK_RSA, CKK_EC */
	unsigned modbits;		/* RSA: the modulus' size in bits */
};

/* Keys a signing session remembers; past that the oldest is found anew. */
#define TOKEN_SESSION_KEYS	8

/* A signing session: one per keyholder worker, used by that worker alone,
 * so signatures run on the token side by side (PKCS#11 allows concurrent
 * operations on distinct sessions of one application). */
struct tsess {
	CK_SESSION_HANDLE h;
	bool open;
	struct skey keys[TOKEN_SESSION_KEYS];
	size_t nkeys, next;
};

struct token {
	struct tsess sess_pool[SIGNET_KH_MAX_SESSIONS];
	unsigned nsess;
	struct pubinfo pub[SIGNET_KH_MAX_KEYS];
	size_t npub;
	bool have_token;		/* false: no token, every call fails */
	char label[33];			/* the token's */
	void *dl;
	CK_FUNCTION_LIST_PTR fn;
	CK_SLOT_ID slot_id;
	CK_SESSION_HANDLE sess;
	bool have_sess;
	bool initialized;		/* C_Initialize succeeded */
};

/* DER OIDs for CKA_EC_PARAMS (RFC 5480 section 2.1.1.1). */
static const uint8_t oid_p256[] = {
	0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07
};
static const uint8_t oid_p384[] = {
	0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22
};

static int
open_raw(struct token *t, const char *module)
{
	CK_RV (*get_list)(CK_FUNCTION_LIST_PTR_PTR);
	CK_C_INITIALIZE_ARGS args;
	CK_RV rv;

	if ((t->dl = dlopen(module, RTLD_NOW | RTLD_LOCAL)) == NULL) {
		log_err("dlopen %s: %s", module, dlerror());
		return SIGNET_ERR_CONFIG;
	}
	*(void **)&get_list = dlsym(t->dl, "C_GetFunctionList");
	if (get_list == NULL || get_list(&t->fn) != CKR_OK || t->fn == NULL) {
		log_err("%s: no C_GetFunctionList", module);
		return SIGNET_ERR_CONFIG;
	}
	/* the signing workers call the module from threads of their own:
	 * it must lock (PKCS#11 3.0 section 5.4, CKF_OS_LOCKING_OK) */
	memset(&args, 0, sizeof(args));
	args.flags = CKF_OS_LOCKING_OK;
	rv = t->fn->C_Initialize(&args);
	if (rv != CKR_OK && rv != CKR_CRYPTOKI_ALREADY_INITIALIZED) {
		log_err("%s: C_Initialize: 0x%lx", module, (unsigned long)rv);
		return rv == CKR_CANT_LOCK ? SIGNET_ERR_CONFIG : SIGNET_ERR_TOKEN;
	}
	t->initialized = rv == CKR_OK;
	return 0;
}

/* How many signing sessions the token takes beside the keyholder's own
 * session and one to spare: ulMaxSessionCount less those open, when the
 * token says (PKCS#11 3.0 section 5.5: CK_EFFECTIVELY_INFINITE and
 * CK_UNAVAILABLE_INFORMATION say nothing). */
static unsigned
session_room(struct token *t, unsigned want)
{
	CK_TOKEN_INFO ti;
	CK_ULONG room;

	if (t->fn->C_GetTokenInfo(t->slot_id, &ti) != CKR_OK ||
	    ti.ulMaxSessionCount == CK_EFFECTIVELY_INFINITE ||
	    ti.ulMaxSessionCount == CK_UNAVAILABLE_INFORMATION)
		return want;
	room = ti.ulSessionCount == CK_UNAVAILABLE_INFORMATION ||
	    ti.ulSessionCount + 1 >= ti.ulMaxSessionCount ? 1 :
	    ti.ulMaxSessionCount - ti.ulSessionCount - 1;
	if (room < want) {
		log_info("the token allows %lu sessions: signing on %lu at "
		    "once", (unsigned long)ti.ulMaxSessionCount,
		    (unsigned long)room);
		return (unsigned)room;
	}
	return want;
}

/* The signing sessions, read-only: they sign and find keys, nothing else.
 * At least one, or the token is of no use. */
static int
open_sessions(struct token *t, unsigned want)
{
	unsigned i, n = session_room(t, want);
	CK_RV rv;

	for (i = 0; i < n; i++) {
		rv = t->fn->C_OpenSession(t->slot_id, CKF_SERIAL_SESSION, NULL,
		    NULL, &t->sess_pool[i].h);
		if (rv != CKR_OK) {
			log_warn("C_OpenSession for signing session %u: 0x%lx",
			    i + 1, (unsigned long)rv);
			break;
		}
		t->sess_pool[i].open = true;
		t->nsess++;
	}
	if (t->nsess == 0) {
		log_err("the token opened no signing session");
		return SIGNET_ERR_TOKEN;
	}
	if (t->nsess < want)
		log_warn("signing on %u token sessions, not %u", t->nsess,
		    want);
	return 0;
}

/* CK_TOKEN_INFO strings are blank padded, not terminated. */
static void
padded(char *out, size_t cap, const CK_UTF8CHAR *in, size_t inlen)
{
	size_t i, n = inlen < cap - 1 ? inlen : cap - 1;

	while (n > 0 && in[n - 1] == ' ')
		n--;
	for (i = 0; i < n; i++)
		out[i] = (in[i] < 0x20 || in[i] == 0x7f) ? '?' : (char)in[i];
	out[n] = '\0';
}

/* The slot of the token labelled label, or without a label the first slot
 * with an initialised token (the first with any token, when none is). */
static int
find_slot(struct token *t, const char *label)
{
	CK_SLOT_ID ids[KH_MAX_SLOTS];
	CK_ULONG n = KH_MAX_SLOTS, i;
	CK_TOKEN_INFO ti;
	char have[33];
	bool found = false;
	CK_RV rv;

	if ((rv = t->fn->C_GetSlotList(CK_TRUE, ids, &n)) != CKR_OK) {
		log_err("C_GetSlotList: 0x%lx", (unsigned long)rv);
		return SIGNET_ERR_TOKEN;
	}
	for (i = 0; i < n; i++) {
		if (t->fn->C_GetTokenInfo(ids[i], &ti) != CKR_OK)
			continue;
		padded(have, sizeof(have), ti.label, sizeof(ti.label));
		if (label != NULL ? strcmp(have, label) == 0 :
		    (ti.flags & CKF_TOKEN_INITIALIZED) != 0 || !found) {
			t->slot_id = ids[i];
			memcpy(t->label, have, sizeof(have));
			found = true;
			if (label != NULL || (ti.flags & CKF_TOKEN_INITIALIZED))
				break;
		}
	}
	t->have_token = found;
	return 0;
}

int
token_open(const char *module, const char *label, unsigned sessions,
    struct token **out)
{
	struct token *t = NULL;
	CK_RV rv;
	int r = SIGNET_ERR_INTERNAL;

	*out = NULL;
	if (sessions < 1 || sessions > SIGNET_KH_MAX_SESSIONS)
		return SIGNET_ERR_INVALID;
	if ((t = calloc(1, sizeof(*t))) == NULL)
		return SIGNET_ERR_NOMEM;
	if ((r = open_raw(t, module)) != 0 || (r = find_slot(t, label)) != 0)
		goto out;
	if (!t->have_token) {
		log_warn("no token%s%s in %s", label ? " labelled " : "",
		    label ? label : "", module);
		*out = t;
		t = NULL;
		r = 0;
		goto out;
	}
	/* Our own session stays open for the keyholder's lifetime: the
	 * login belongs to the application only while one of its sessions
	 * is open. Read-write so key generation can create token objects. */
	rv = t->fn->C_OpenSession(t->slot_id, CKF_SERIAL_SESSION |
	    CKF_RW_SESSION, NULL, NULL, &t->sess);
	if (rv == CKR_TOKEN_WRITE_PROTECTED)
		rv = t->fn->C_OpenSession(t->slot_id, CKF_SERIAL_SESSION,
		    NULL, NULL, &t->sess);
	if (rv != CKR_OK) {
		log_err("C_OpenSession on slot %lu: 0x%lx",
		    (unsigned long)t->slot_id, (unsigned long)rv);
		r = SIGNET_ERR_TOKEN;
		goto out;
	}
	t->have_sess = true;
	if ((r = open_sessions(t, sessions)) != 0)
		goto out;
	log_info("token \"%s\" in slot %lu, %u signing sessions", t->label,
	    (unsigned long)t->slot_id, t->nsess);
	*out = t;
	t = NULL;
	r = 0;
 out:
	token_close(t);
	return r;
}

void
token_close(struct token *t)
{
	size_t i;

	if (t == NULL)
		return;
	for (i = 0; i < t->npub; i++)
		OPENSSL_free(t->pub[i].spki);
	for (i = 0; i < t->nsess; i++) {
		if (t->sess_pool[i].open)
			(void)t->fn->C_CloseSession(t->sess_pool[i].h);
	}
	if (t->have_sess)
		(void)t->fn->C_CloseSession(t->sess);
	if (t->initialized)
		(void)t->fn->C_Finalize(NULL);
	if (t->dl != NULL)
		dlclose(t->dl);
	free(t);
}

static bool
logged_in(struct token *t)
{
	CK_SESSION_INFO si;

	if (!t->have_token || t->fn->C_GetSessionInfo(t->sess, &si) != CKR_OK)
		return false;
	return si.state == CKS_RO_USER_FUNCTIONS ||
	    si.state == CKS_RW_USER_FUNCTIONS;
}

/* Whether a key may be used: logged in and a token at all. */
static int
usable(struct token *t)
{
	if (!t->have_token)
		return SIGNET_ERR_TOKEN;
	if (!logged_in(t))
		return SIGNET_ERR_TOKEN_LOCKED;
	return 0;
}

int
token_login(struct token *t, const uint8_t *pin, size_t len)
{
	CK_TOKEN_INFO ti;
	CK_RV rv;

	if (!t->have_token)
		return SIGNET_ERR_TOKEN;
	if (logged_in(t))
		return 0;
	/* A locked PIN is reported without another try; a PIN is tried
	 * once per request and never again by the keyholder itself, so the
	 * token's retry counter only moves when a person asks. */
	if (t->fn->C_GetTokenInfo(t->slot_id, &ti) != CKR_OK)
		ti.flags = 0;
	if (ti.flags & CKF_USER_PIN_LOCKED)
		return SIGNET_ERR_PIN_LOCKED;
	/* The last try is not the keyholder's to spend: a wrong PIN now
	 * would lock the token, which only the security officer PIN
	 * undoes (PKCS#11 v2.40 section 5.6, CKF_USER_PIN_FINAL_TRY). */
	if ((ti.flags & CKF_USER_PIN_FINAL_TRY) != 0) {
		log_warn("token login refused: the token has one PIN try left");
		return SIGNET_ERR_FORBIDDEN;
	}
	/* Through the raw API rather than PKCS11_login, which keeps a copy
	 * of the PIN to log in again after fork(); the keyholder never
	 * forks and keeps no PIN. */
	rv = t->fn->C_Login(t->sess, CKU_USER, (CK_UTF8CHAR_PTR)(uintptr_t)pin,
	    (CK_ULONG)len);
	switch (rv) {
	case CKR_OK:
	case CKR_USER_ALREADY_LOGGED_IN:
		log_info("logged in to the token");
		return 0;
	case CKR_PIN_INCORRECT:
	case CKR_PIN_INVALID:
	case CKR_PIN_LEN_RANGE:
		log_warn("token login: PIN incorrect");
		return SIGNET_ERR_PIN_INCORRECT;
	case CKR_PIN_LOCKED:
		log_warn("token login: PIN locked");
		return SIGNET_ERR_PIN_LOCKED;
	default:
		log_err("token login: C_Login: 0x%lx", (unsigned long)rv);
		return SIGNET_ERR_TOKEN;
	}
}


/* A private key as the main session lists it. */
struct rkey_info {
	CK_OBJECT_HANDLE obj;
	uint8_t id[KH_MAX_ID];
	size_t idlen;
	CK_KEY_TYPE type;
	char label[SIGNET_KH_MAX_LABEL + 1];
};

/* Up to max private keys with a CKA_ID the protocol carries, of type RSA
 * or EC, on the main session. */
static int
enumerate(struct token *t, struct rkey_info *out, size_t max, size_t *n)
{
	CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
	CK_ATTRIBUTE tmpl = { CKA_CLASS, &cls, sizeof(cls) };
	CK_OBJECT_HANDLE objs[SIGNET_KH_MAX_KEYS + 1];
	CK_ATTRIBUTE a[3];
	CK_UTF8CHAR label[256];
	CK_ULONG found = 0, i;
	CK_RV rv;

	*n = 0;
	if ((rv = t->fn->C_FindObjectsInit(t->sess, &tmpl, 1)) != CKR_OK)
		goto fail;
	rv = t->fn->C_FindObjects(t->sess, objs, SIGNET_KH_MAX_KEYS + 1,
	    &found);
	(void)t->fn->C_FindObjectsFinal(t->sess);
	if (rv != CKR_OK)
		goto fail;
	for (i = 0; i < found && *n < max; i++) {
		struct rkey_info *k = &out[*n];

		memset(k, 0, sizeof(*k));
		a[0].type = CKA_ID;
		a[0].pValue = k->id;
		a[0].ulValueLen = sizeof(k->id);
		a[1].type = CKA_KEY_TYPE;
		a[1].pValue = &k->type;
		a[1].ulValueLen = sizeof(k->type);
		a[2].type = CKA_LABEL;
		a[2].pValue = label;
		a[2].ulValueLen = sizeof(label);
		rv = t->fn->C_GetAttributeValue(t->sess, objs[i], a, 3);
		/* a label too long or absent is only a missing label */
		if (rv != CKR_OK && rv != CKR_BUFFER_TOO_SMALL &&
		    rv != CKR_ATTRIBUTE_TYPE_INVALID)
			continue;
		if (a[0].ulValueLen == CK_UNAVAILABLE_INFORMATION ||
		    a[0].ulValueLen == 0 || a[0].ulValueLen > KH_MAX_ID ||
		    a[1].ulValueLen != sizeof(k->type) ||
		    (k->type != CKK_RSA && k->type != CKK_EC))
			continue;
		k->idlen = a[0].ulValueLen;
		k->obj = objs[i];
		if (a[2].ulValueLen != CK_UNAVAILABLE_INFORMATION &&
		    a[2].ulValueLen <= sizeof(label))
			padded(k->label, sizeof(k->label), label,
			    a[2].ulValueLen);
		(*n)++;
	}
	if (found > SIGNET_KH_MAX_KEYS)
		log_warn("token holds more than %d keys; listing the first",
		    SIGNET_KH_MAX_KEYS);
	return 0;
 fail:
	log_err("cannot list the token's keys: 0x%lx", (unsigned long)rv);
	return rv == CKR_USER_NOT_LOGGED_IN ? SIGNET_ERR_TOKEN_LOCKED :
	    SIGNET_ERR_TOKEN;
}

static void
hex(char *out, const uint8_t *p, size_t n)
{
	static const char digits[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < n; i++) {
		out[2 * i] = digits[p[i] >> 4];
		out[2 * i + 1] = digits[p[i] & 0xf];
	}
	out[2 * n] = '\0';
}

/* One attribute's value, malloc'ed, at most max bytes. */
static int
get_attr(struct token *t, CK_OBJECT_HANDLE obj, CK_ATTRIBUTE_TYPE type,
    size_t max, uint8_t **val, size_t *len)
{
	CK_ATTRIBUTE a = { type, NULL, 0 };

	*val = NULL;
	*len = 0;
	if (t->fn->C_GetAttributeValue(t->sess, obj, &a, 1) != CKR_OK ||
	    a.ulValueLen == CK_UNAVAILABLE_INFORMATION || a.ulValueLen == 0 ||
	    a.ulValueLen > max)
		return SIGNET_ERR_TOKEN;
	if ((a.pValue = malloc(a.ulValueLen)) == NULL)
		return SIGNET_ERR_NOMEM;
	if (t->fn->C_GetAttributeValue(t->sess, obj, &a, 1) != CKR_OK) {
		free(a.pValue);
		return SIGNET_ERR_TOKEN;
	}
	*val = a.pValue;
	*len = a.ulValueLen;
	return 0;
}

/* The public key object with the private key's CKA_ID, if the token has
 * one. */
static bool
find_public(struct token *t, const struct rkey_info *k, CK_OBJECT_HANDLE *out)
{
	CK_OBJECT_CLASS cls = CKO_PUBLIC_KEY;
	CK_ATTRIBUTE tmpl[2] = {
		{ CKA_CLASS, &cls, sizeof(cls) },
		{ CKA_ID, (void *)(uintptr_t)k->id, k->idlen },
	};
	CK_ULONG n = 0;
	CK_RV rv;

	if (t->fn->C_FindObjectsInit(t->sess, tmpl, 2) != CKR_OK)
		return false;
	rv = t->fn->C_FindObjects(t->sess, out, 1, &n);
	(void)t->fn->C_FindObjectsFinal(t->sess);
	return rv == CKR_OK && n == 1;
}

/* An RSA public key from its modulus and exponent: on the public key
 * object, or on the private key, where PKCS#11 keeps them too. */
static EVP_PKEY *
rsa_public(struct token *t, const struct rkey_info *k)
{
	OSSL_PARAM_BLD *bld = NULL;
	OSSL_PARAM *params = NULL;
	EVP_PKEY_CTX *ctx = NULL;
	EVP_PKEY *pub = NULL;
	BIGNUM *n = NULL, *e = NULL;
	CK_OBJECT_HANDLE obj;
	uint8_t *nv = NULL, *ev = NULL;
	size_t nl, el;

	obj = find_public(t, k, &obj) ? obj : k->obj;
	if (get_attr(t, obj, CKA_MODULUS, KH_MAX_SIG, &nv, &nl) != 0 ||
	    get_attr(t, obj, CKA_PUBLIC_EXPONENT, 16, &ev, &el) != 0)
		goto out;
	if ((n = BN_bin2bn(nv, (int)nl, NULL)) == NULL ||
	    (e = BN_bin2bn(ev, (int)el, NULL)) == NULL ||
	    (bld = OSSL_PARAM_BLD_new()) == NULL ||
	    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) != 1 ||
	    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e) != 1 ||
	    (params = OSSL_PARAM_BLD_to_param(bld)) == NULL ||
	    (ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL)) == NULL ||
	    EVP_PKEY_fromdata_init(ctx) != 1 ||
	    EVP_PKEY_fromdata(ctx, &pub, EVP_PKEY_PUBLIC_KEY, params) != 1)
		pub = NULL;
 out:
	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	BN_free(n);
	BN_free(e);
	free(nv);
	free(ev);
	return pub;
}

/* An EC public key from the public key object: CKA_EC_PARAMS names the
 * curve, CKA_EC_POINT is the point, DER-wrapped in an OCTET STRING as
 * PKCS#11 3.0 section 2.3.3 says (raw from some older tokens). */
static EVP_PKEY *
ec_public(struct token *t, const struct rkey_info *k)
{
	OSSL_PARAM_BLD *bld = NULL;
	OSSL_PARAM *params = NULL;
	EVP_PKEY_CTX *ctx = NULL;
	EVP_PKEY *pub = NULL;
	ASN1_OBJECT *oid = NULL;
	ASN1_OCTET_STRING *os = NULL;
	CK_OBJECT_HANDLE obj;
	const unsigned char *p;
	const uint8_t *pt;
	uint8_t *par = NULL, *pv = NULL;
	size_t parl, pvl, ptl;
	const char *group;
	int nid;

	if (!find_public(t, k, &obj) ||
	    get_attr(t, obj, CKA_EC_PARAMS, 256, &par, &parl) != 0 ||
	    get_attr(t, obj, CKA_EC_POINT, 256, &pv, &pvl) != 0)
		goto out;
	p = par;
	if ((oid = d2i_ASN1_OBJECT(NULL, &p, (long)parl)) == NULL ||
	    p != par + parl || (nid = OBJ_obj2nid(oid)) == NID_undef ||
	    (group = OBJ_nid2sn(nid)) == NULL)
		goto out;
	p = pv;
	if ((os = d2i_ASN1_OCTET_STRING(NULL, &p, (long)pvl)) != NULL &&
	    p == pv + pvl) {
		pt = ASN1_STRING_get0_data(os);
		ptl = (size_t)ASN1_STRING_length(os);
	} else {
		pt = pv;
		ptl = pvl;
	}
	if ((bld = OSSL_PARAM_BLD_new()) == NULL ||
	    OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME,
	    group, 0) != 1 ||
	    OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY,
	    pt, ptl) != 1 ||
	    (params = OSSL_PARAM_BLD_to_param(bld)) == NULL ||
	    (ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL)) == NULL ||
	    EVP_PKEY_fromdata_init(ctx) != 1 ||
	    EVP_PKEY_fromdata(ctx, &pub, EVP_PKEY_PUBLIC_KEY, params) != 1)
		pub = NULL;
 out:
	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	ASN1_OCTET_STRING_free(os);
	ASN1_OBJECT_free(oid);
	free(par);
	free(pv);
	return pub;
}

/* The cached public half of k, fetched on first use. */
static const struct pubinfo *
pubinfo(struct token *t, const struct rkey_info *k)
{
	struct pubinfo *pi;
	EVP_PKEY *pub = NULL;
	unsigned char *der = NULL;
	size_t i;
	int n, type, bits;

	type = k->type == CKK_RSA ? EVP_PKEY_RSA : EVP_PKEY_EC;
	for (i = 0; i < t->npub; i++) {
		pi = &t->pub[i];
		if (pi->idlen == k->idlen && pi->type == type &&
		    memcmp(pi->id, k->id, k->idlen) == 0)
			return pi;
	}
	if (t->npub >= SIGNET_KH_MAX_KEYS) {
		log_warn("more than %d keys: ignoring the rest",
		    SIGNET_KH_MAX_KEYS);
		return NULL;
	}
	pub = type == EVP_PKEY_RSA ? rsa_public(t, k) : ec_public(t, k);
	if (pub == NULL) {
		log_warn("a key has no public half the keyholder can read");
		return NULL;
	}
	bits = EVP_PKEY_get_bits(pub);
	n = i2d_PUBKEY(pub, &der);
	EVP_PKEY_free(pub);
	if (bits <= 0 || bits > KH_MAX_KEY_BITS || n <= 0 ||
	    (size_t)n > KH_MAX_SPKI) {
		OPENSSL_free(der);
		return NULL;
	}
	pi = &t->pub[t->npub++];
	memcpy(pi->id, k->id, k->idlen);
	pi->idlen = k->idlen;
	pi->type = type;
	pi->bits = (unsigned)bits;
	pi->spki = der;
	pi->spki_len = (size_t)n;
	return pi;
}

/* The key as the protocol describes it; false for a key the keyholder
 * does not offer (its public half unreadable). */
static bool
key_info(struct token *t, const struct rkey_info *k, struct kh_key_info *out)
{
	const struct pubinfo *pi;

	memset(out, 0, sizeof(*out));
	out->type = k->type == CKK_RSA ? KH_KEY_RSA : KH_KEY_EC;
	if ((pi = pubinfo(t, k)) == NULL)
		return false;
	out->bits = pi->bits;
	hex(out->id, k->id, k->idlen);
	memcpy(out->label, k->label, sizeof(out->label));
	return true;
}

static int
unhex(const char *s, uint8_t *out, size_t cap, size_t *n)
{
	size_t i, len = strlen(s);
	int hi, lo;

	if (len % 2 != 0 || len / 2 > cap)
		return SIGNET_ERR_INVALID;
	for (i = 0; i < len / 2; i++) {
		hi = OPENSSL_hexchar2int((unsigned char)s[2 * i]);
		lo = OPENSSL_hexchar2int((unsigned char)s[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return SIGNET_ERR_INVALID;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	*n = len / 2;
	return 0;
}

/* The usable key with that CKA_ID, on the main session. */
static int
find_key(struct token *t, const char *key_id, struct rkey_info *out)
{
	struct rkey_info *keys;
	uint8_t id[KH_MAX_ID];
	size_t i, n, idlen;
	int r;

	memset(out, 0, sizeof(*out));
	if ((r = usable(t)) != 0)
		return r;
	if ((r = unhex(key_id, id, sizeof(id), &idlen)) != 0)
		return r;
	if ((keys = calloc(SIGNET_KH_MAX_KEYS, sizeof(*keys))) == NULL)
		return SIGNET_ERR_NOMEM;
	if ((r = enumerate(t, keys, SIGNET_KH_MAX_KEYS, &n)) != 0)
		goto out;
	r = SIGNET_ERR_NOT_FOUND;
	for (i = 0; i < n; i++) {
		if (keys[i].idlen == idlen &&
		    memcmp(keys[i].id, id, idlen) == 0) {
			*out = keys[i];
			r = 0;
			break;
		}
	}
 out:
	free(keys);
	return r;
}

/* How many slots the module has, and how many hold no initialised token
 * (room for another token, PKCS#11 3.0 5.4). Best effort: 0/0 on error. */
static void
slot_counts(struct token *t, uint32_t *slots, uint32_t *free_slots)
{
	CK_SLOT_ID *ids = NULL;
	CK_TOKEN_INFO ti;
	CK_ULONG n = 0, i;
	CK_RV rv;

	*slots = *free_slots = 0;
	if (t->fn == NULL || t->fn->C_GetSlotList(CK_FALSE, NULL, &n) != CKR_OK ||
	    n == 0 || n > KH_MAX_SLOTS ||
	    (ids = calloc(n, sizeof(*ids))) == NULL)
		return;
	if (t->fn->C_GetSlotList(CK_FALSE, ids, &n) == CKR_OK) {
		for (i = 0; i < n && i < KH_MAX_SLOTS; i++) {
			rv = t->fn->C_GetTokenInfo(ids[i], &ti);
			if (rv == CKR_TOKEN_NOT_PRESENT || (rv == CKR_OK &&
			    !(ti.flags & CKF_TOKEN_INITIALIZED)))
				(*free_slots)++;
		}
		*slots = (uint32_t)(n < KH_MAX_SLOTS ? n : KH_MAX_SLOTS);
	}
	free(ids);
}

int
token_status(struct token *t, struct kh_status *st)
{
	CK_TOKEN_INFO ti;
	struct rkey_info *keys = NULL;
	struct kh_key_info ki;
	size_t i, n;
	CK_RV rv;

	memset(st, 0, sizeof(*st));
	slot_counts(t, &st->slots, &st->free_slots);
	if (!t->have_token)
		return 0;
	rv = t->fn->C_GetTokenInfo(t->slot_id, &ti);
	if (rv == CKR_TOKEN_NOT_PRESENT)
		return 0;
	if (rv != CKR_OK) {
		log_err("C_GetTokenInfo: 0x%lx", (unsigned long)rv);
		return SIGNET_ERR_TOKEN;
	}
	st->present = true;
	st->logged_in = logged_in(t);
	padded(st->label, sizeof(st->label), ti.label, sizeof(ti.label));
	padded(st->manufacturer, sizeof(st->manufacturer), ti.manufacturerID,
	    sizeof(ti.manufacturerID));
	padded(st->model, sizeof(st->model), ti.model, sizeof(ti.model));
	padded(st->serial, sizeof(st->serial), ti.serialNumber,
	    sizeof(ti.serialNumber));
	/* every flag PKCS#11 3.0 defines sits in the low 32 bits */
	st->flags = (uint32_t)ti.flags;
	st->sessions = t->nsess;
	if (st->logged_in &&
	    (keys = calloc(SIGNET_KH_MAX_KEYS, sizeof(*keys))) != NULL &&
	    enumerate(t, keys, SIGNET_KH_MAX_KEYS, &n) == 0) {
		for (i = 0; i < n; i++) {
			if (key_info(t, &keys[i], &ki))
				st->key_count++;
		}
	}
	free(keys);
	return 0;
}

int
token_list(struct token *t, uint32_t offset, struct kh_key_info *out,
    size_t max, size_t *n, uint32_t *total)
{
	struct rkey_info *keys;
	struct kh_key_info ki;
	size_t i, nkeys;
	uint32_t seen = 0;
	int r;

	*n = 0;
	*total = 0;
	if ((r = usable(t)) != 0)
		return r;
	if ((keys = calloc(SIGNET_KH_MAX_KEYS, sizeof(*keys))) == NULL)
		return SIGNET_ERR_NOMEM;
	if ((r = enumerate(t, keys, SIGNET_KH_MAX_KEYS, &nkeys)) != 0)
		goto out;
	for (i = 0; i < nkeys; i++) {
		if (!key_info(t, &keys[i], &ki))
			continue;
		if (seen >= offset && *n < max)
			out[(*n)++] = ki;
		seen++;
	}
	*total = seen;
 out:
	free(keys);
	return r;
}

int
token_pubkey(struct token *t, const char *key_id, uint8_t **der, size_t *len)
{
	const struct pubinfo *pi;
	struct rkey_info k;
	int r;

	*der = NULL;
	*len = 0;
	if ((r = find_key(t, key_id, &k)) != 0)
		return r;
	if ((pi = pubinfo(t, &k)) == NULL) {
		log_err("key %s: no usable public key", key_id);
		return SIGNET_ERR_TOKEN;
	}
	if ((*der = OPENSSL_memdup(pi->spki, pi->spki_len)) == NULL)
		return SIGNET_ERR_NOMEM;
	*len = pi->spki_len;
	return 0;
}

static const EVP_MD *
hash_md(int hash)
{
	switch (hash) {
	case KH_HASH_SHA256:
		return EVP_sha256();
	case KH_HASH_SHA384:
		return EVP_sha384();
	case KH_HASH_SHA512:
		return EVP_sha512();
	default:
		return NULL;
	}
}

unsigned
token_sessions(const struct token *t)
{
	return t == NULL ? 0 : t->nsess;
}

/* DigestInfo prefixes (RFC 8017 section 9.2, note 1): the DER of
 * AlgorithmIdentifier and the OCTET STRING header before the digest. */
static const uint8_t di_sha256[] = {
	0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65,
	0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20
};
static const uint8_t di_sha384[] = {
	0x30, 0x41, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65,
	0x03, 0x04, 0x02, 0x02, 0x05, 0x00, 0x04, 0x30
};
static const uint8_t di_sha512[] = {
	0x30, 0x51, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65,
	0x03, 0x04, 0x02, 0x03, 0x05, 0x00, 0x04, 0x40
};

/* MGF1 (RFC 8017 appendix B.2.1): mask[0..len) from seed. */
static int
mgf1(const EVP_MD *md, const uint8_t *seed, size_t slen, uint8_t *mask,
    size_t len)
{
	uint8_t c[4], h[EVP_MAX_MD_SIZE];
	size_t hlen = (size_t)EVP_MD_get_size(md), off = 0, n;
	uint32_t i;
	EVP_MD_CTX *ctx;
	int r = SIGNET_ERR_CRYPTO;

	if ((ctx = EVP_MD_CTX_new()) == NULL)
		return SIGNET_ERR_NOMEM;
	for (i = 0; off < len; i++) {
		c[0] = (uint8_t)(i >> 24);
		c[1] = (uint8_t)(i >> 16);
		c[2] = (uint8_t)(i >> 8);
		c[3] = (uint8_t)i;
		if (EVP_DigestInit_ex(ctx, md, NULL) != 1 ||
		    EVP_DigestUpdate(ctx, seed, slen) != 1 ||
		    EVP_DigestUpdate(ctx, c, sizeof(c)) != 1 ||
		    EVP_DigestFinal_ex(ctx, h, NULL) != 1)
			goto out;
		n = len - off < hlen ? len - off : hlen;
		memcpy(mask + off, h, n);
		off += n;
	}
	r = 0;
 out:
	EVP_MD_CTX_free(ctx);
	OPENSSL_cleanse(h, sizeof(h));
	return r;
}

/* EMSA-PSS-ENCODE (RFC 8017 section 9.1.1) of a digest for a modulus of
 * modbits, salt length = digest length, MGF1 with the same hash, into
 * em[0..k) with k the modulus' bytes, a leading zero byte when
 * emLen = k - 1: the input of a raw RSA operation (CKM_RSA_X_509). */
static int
emsa_pss(const EVP_MD *md, const uint8_t *mhash, size_t hlen,
    unsigned modbits, uint8_t *em, size_t k)
{
	static const uint8_t zeros[8];
	size_t embits = modbits - 1, emlen = (embits + 7) / 8, dblen, i;
	uint8_t salt[EVP_MAX_MD_SIZE], *out, *h;
	EVP_MD_CTX *ctx = NULL;
	int r = SIGNET_ERR_CRYPTO;

	if (emlen < 2 * hlen + 2 || k < emlen || k - emlen > 1)
		return SIGNET_ERR_INVALID;
	memset(em, 0, k);
	out = em + (k - emlen);
	dblen = emlen - hlen - 1;
	h = out + dblen;
	if (RAND_bytes(salt, (int)hlen) != 1)
		goto out;
	/* H = Hash(8 zero bytes || mHash || salt) */
	if ((ctx = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestInit_ex(ctx, md, NULL) != 1 ||
	    EVP_DigestUpdate(ctx, zeros, sizeof(zeros)) != 1 ||
	    EVP_DigestUpdate(ctx, mhash, hlen) != 1 ||
	    EVP_DigestUpdate(ctx, salt, hlen) != 1 ||
	    EVP_DigestFinal_ex(ctx, h, NULL) != 1)
		goto out;
	/* maskedDB = (PS || 0x01 || salt) xor MGF(H) */
	if ((r = mgf1(md, h, hlen, out, dblen)) != 0)
		goto out;
	out[dblen - hlen - 1] ^= 0x01;
	for (i = 0; i < hlen; i++)
		out[dblen - hlen + i] ^= salt[i];
	/* the bits above emBits are zero */
	out[0] &= (uint8_t)(0xff >> (8 * emlen - embits));
	out[emlen - 1] = 0xbc;
	r = 0;
 out:
	EVP_MD_CTX_free(ctx);
	OPENSSL_cleanse(salt, sizeof(salt));
	return r;
}

/* The private key with id on session s, by C_FindObjects, and what signing
 * needs of it. */
static int
find_skey(struct token *t, struct tsess *s, const uint8_t *id, size_t idlen,
    struct skey *k)
{
	CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
	CK_ATTRIBUTE tmpl[2] = {
		{ CKA_CLASS, &cls, sizeof(cls) },
		{ CKA_ID, (void *)(uintptr_t)id, idlen },
	};
	CK_ATTRIBUTE a[2];
	CK_OBJECT_HANDLE obj;
	CK_KEY_TYPE type;
	CK_ULONG n = 0;
	uint8_t mod[KH_MAX_SIG + 1];
	size_t i;
	CK_RV rv;

	memset(k, 0, sizeof(*k));
	if ((rv = t->fn->C_FindObjectsInit(s->h, tmpl, 2)) != CKR_OK)
		goto fail;
	rv = t->fn->C_FindObjects(s->h, &obj, 1, &n);
	(void)t->fn->C_FindObjectsFinal(s->h);
	if (rv != CKR_OK)
		goto fail;
	if (n == 0)
		return SIGNET_ERR_NOT_FOUND;
	a[0].type = CKA_KEY_TYPE;
	a[0].pValue = &type;
	a[0].ulValueLen = sizeof(type);
	if ((rv = t->fn->C_GetAttributeValue(s->h, obj, a, 1)) != CKR_OK)
		goto fail;
	memcpy(k->id, id, idlen);
	k->idlen = idlen;
	k->obj = obj;
	k->type = type;
	if (type != CKK_RSA)
		return 0;
	/* the modulus is a public attribute of an RSA private key */
	a[1].type = CKA_MODULUS;
	a[1].pValue = mod;
	a[1].ulValueLen = sizeof(mod);
	if ((rv = t->fn->C_GetAttributeValue(s->h, obj, &a[1], 1)) != CKR_OK)
		goto fail;
	for (i = 0; i < a[1].ulValueLen && mod[i] == 0; i++)
		;
	if (i == a[1].ulValueLen)
		return SIGNET_ERR_TOKEN;
	k->modbits = (unsigned)(8 * (a[1].ulValueLen - i - 1));
	for (uint8_t top = mod[i]; top != 0; top >>= 1)
		k->modbits++;
	return 0;
 fail:
	if (rv == CKR_USER_NOT_LOGGED_IN)
		return SIGNET_ERR_TOKEN_LOCKED;
	if (rv == CKR_BUFFER_TOO_SMALL)
		return SIGNET_ERR_TOO_LARGE;	/* RSA past 8192 bits */
	log_err("finding a key: 0x%lx", (unsigned long)rv);
	return SIGNET_ERR_TOKEN;
}

/* The key with that CKA_ID as session s knows it. A remembered handle is
 * checked against its CKA_ID and class first: a key removed from the token
 * and another made in its place must not sign under the old name. */
static int
session_key(struct token *t, struct tsess *s, const char *key_id,
    struct skey **out)
{
	CK_OBJECT_CLASS cls;
	CK_ATTRIBUTE a[2];
	uint8_t id[KH_MAX_ID], have[KH_MAX_ID];
	size_t idlen, i;
	struct skey *k;
	int r;

	*out = NULL;
	if ((r = unhex(key_id, id, sizeof(id), &idlen)) != 0)
		return r;
	for (i = 0; i < s->nkeys; i++) {
		k = &s->keys[i];
		if (k->idlen != idlen || memcmp(k->id, id, idlen) != 0)
			continue;
		a[0].type = CKA_ID;
		a[0].pValue = have;
		a[0].ulValueLen = sizeof(have);
		a[1].type = CKA_CLASS;
		a[1].pValue = &cls;
		a[1].ulValueLen = sizeof(cls);
		if (t->fn->C_GetAttributeValue(s->h, k->obj, a, 2) == CKR_OK &&
		    a[0].ulValueLen == idlen && memcmp(have, id, idlen) == 0 &&
		    cls == CKO_PRIVATE_KEY) {
			*out = k;
			return 0;
		}
		break;		/* found again below, into the same place */
	}
	if (i == s->nkeys) {
		if (s->nkeys < TOKEN_SESSION_KEYS)
			i = s->nkeys++;
		else {
			i = s->next;
			s->next = (s->next + 1) % TOKEN_SESSION_KEYS;
		}
	}
	k = &s->keys[i];
	if ((r = find_skey(t, s, id, idlen, k)) != 0) {
		/* the place stays, holding nothing that matches */
		k->idlen = 0;
		return r;
	}
	*out = k;
	return 0;
}

/* A session whose operation may still be active (a C_Sign that did not
 * finish it) is replaced: nothing else could end it before PKCS#11 3.0's
 * C_SessionCancel. */
static void
renew_session(struct token *t, struct tsess *s)
{
	(void)t->fn->C_CloseSession(s->h);
	s->nkeys = s->next = 0;
	s->open = t->fn->C_OpenSession(t->slot_id, CKF_SERIAL_SESSION, NULL,
	    NULL, &s->h) == CKR_OK;
	if (!s->open)
		log_err("a signing session could not be opened again");
}

/* ECDSA's r || s (PKCS#11 3.0 section 2.3.1) as DER ECDSA-Sig-Value. */
static int
ecdsa_der(const uint8_t *raw, size_t len, uint8_t *sig, size_t *siglen)
{
	ECDSA_SIG *es = NULL;
	BIGNUM *r = NULL, *s = NULL;
	unsigned char *p = sig;
	int n, e = SIGNET_ERR_CRYPTO;

	if (len == 0 || len % 2 != 0 || len > 2 * 66)
		return SIGNET_ERR_TOKEN;
	if ((es = ECDSA_SIG_new()) == NULL ||
	    (r = BN_bin2bn(raw, (int)(len / 2), NULL)) == NULL ||
	    (s = BN_bin2bn(raw + len / 2, (int)(len / 2), NULL)) == NULL ||
	    ECDSA_SIG_set0(es, r, s) != 1)
		goto out;
	r = s = NULL;
	if ((n = i2d_ECDSA_SIG(es, NULL)) <= 0 || n > KH_MAX_SIG ||
	    i2d_ECDSA_SIG(es, &p) != n)
		goto out;
	*siglen = (size_t)n;
	e = 0;
 out:
	BN_free(r);
	BN_free(s);
	ECDSA_SIG_free(es);
	return e;
}

int
token_sign(struct token *t, unsigned sess, const struct kh_sign_req *q,
    int (*ready)(void *arg), void *arg, uint8_t *sig, size_t *siglen)
{
	CK_MECHANISM mech = { 0, NULL, 0 };
	uint8_t in[KH_MAX_SIG], out[KH_MAX_SIG];
	CK_ULONG outlen;
	struct tsess *s;
	struct skey *k;
	const EVP_MD *md;
	const uint8_t *di;
	size_t inlen, dilen, modlen;
	int tries, r, held;
	CK_RV rv = CKR_GENERAL_ERROR;

	*siglen = 0;
	if ((md = hash_md(q->hash)) == NULL ||
	    (size_t)EVP_MD_get_size(md) != q->dlen)
		return SIGNET_ERR_INVALID;
	if (!t->have_token || sess >= t->nsess)
		return SIGNET_ERR_TOKEN;
	s = &t->sess_pool[sess];
	if (!s->open)
		return SIGNET_ERR_TOKEN;
	/* once more when the remembered handle went stale in between */
	for (tries = 0; tries < 2; tries++) {
		if ((r = session_key(t, s, q->key_id, &k)) != 0)
			return r;
		if ((q->mech == KH_MECH_ECDSA) != (k->type == CKK_EC) ||
		    (k->type != CKK_EC && k->type != CKK_RSA)) {
			log_warn("key %s: mechanism %d does not fit the key type",
			    q->key_id, q->mech);
			return SIGNET_ERR_INVALID;
		}
		modlen = (k->modbits + 7) / 8;
		if (k->type == CKK_RSA && modlen > KH_MAX_SIG) {
			log_err("key %s: an RSA key of %u bits is too large",
			    q->key_id, k->modbits);
			return SIGNET_ERR_TOO_LARGE;
		}
		switch (q->mech) {
		case KH_MECH_RSA_PKCS1:
			/* the token pads (CKM_RSA_PKCS), the DigestInfo is ours */
			di = q->hash == KH_HASH_SHA256 ? di_sha256 :
			    q->hash == KH_HASH_SHA384 ? di_sha384 : di_sha512;
			dilen = sizeof(di_sha256);
			memcpy(in, di, dilen);
			memcpy(in + dilen, q->dgst, q->dlen);
			inlen = dilen + q->dlen;
			mech.mechanism = CKM_RSA_PKCS;
			break;
		case KH_MECH_RSA_PSS:
			/* RFC 8017 section 9.1 allows any salt; RFC 4055
			 * section 3.1 and most verifiers expect salt length =
			 * hash length, MGF1 with the same hash. Encoded here,
			 * so any token that does raw RSA can sign it. */
			if ((r = emsa_pss(md, q->dgst, q->dlen, k->modbits, in,
			    modlen)) != 0)
				return r;
			inlen = modlen;
			mech.mechanism = CKM_RSA_X_509;
			break;
		default:
			memcpy(in, q->dgst, q->dlen);
			inlen = q->dlen;
			mech.mechanism = CKM_ECDSA;
			break;
		}
		rv = t->fn->C_SignInit(s->h, &mech, k->obj);
		if (rv == CKR_KEY_HANDLE_INVALID ||
		    rv == CKR_OBJECT_HANDLE_INVALID) {
			k->idlen = 0;
			continue;
		}
		break;
	}
	if (rv != CKR_OK) {
		log_err("key %s: C_SignInit: 0x%lx", q->key_id,
		    (unsigned long)rv);
		return rv == CKR_USER_NOT_LOGGED_IN ? SIGNET_ERR_TOKEN_LOCKED :
		    SIGNET_ERR_TOKEN;
	}
	/* a C_SignInit is ended only by a C_Sign: it is made even when
	 * ready() fails, and then wiped */
	held = ready != NULL ? ready(arg) : 0;
	outlen = sizeof(out);
	rv = t->fn->C_Sign(s->h, in, (CK_ULONG)inlen, out, &outlen);
	OPENSSL_cleanse(in, sizeof(in));
	if (held != 0) {
		OPENSSL_cleanse(out, sizeof(out));
		return held;
	}
	if (rv != CKR_OK) {
		log_err("key %s: C_Sign: 0x%lx", q->key_id, (unsigned long)rv);
		if (rv == CKR_BUFFER_TOO_SMALL)
			renew_session(t, s);
		return rv == CKR_BUFFER_TOO_SMALL ? SIGNET_ERR_TOO_LARGE :
		    SIGNET_ERR_TOKEN;
	}
	if (q->mech == KH_MECH_ECDSA)
		return ecdsa_der(out, outlen, sig, siglen);
	if (outlen != modlen)
		return SIGNET_ERR_TOKEN;
	memcpy(sig, out, outlen);
	*siglen = outlen;
	return 0;
}

int
token_generate(struct token *t, const struct kh_gen_req *q,
    struct kh_key_info *out)
{
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	CK_ULONG bits = q->bits;
	CK_BYTE exponent[] = { 0x01, 0x00, 0x01 };
	CK_BYTE id[KH_GEN_ID_LEN];
	CK_MECHANISM mech = { 0, NULL, 0 };
	CK_OBJECT_HANDLE hpub, hpriv;
	CK_ULONG llen = strlen(q->label);
	CK_UTF8CHAR_PTR label = (CK_UTF8CHAR_PTR)(uintptr_t)q->label;
	CK_ATTRIBUTE pub[10], priv[11];
	CK_ULONG np = 0, nv = 0;
	struct rkey_info k;
	char idhex[2 * KH_GEN_ID_LEN + 1];
	CK_RV rv;
	int r;

	memset(out, 0, sizeof(*out));
	if (!khproto_valid_label(q->label) || !khproto_valid_gen(q->type, q->bits))
		return SIGNET_ERR_INVALID;
	if ((r = usable(t)) != 0)
		return r;
	if (RAND_bytes(id, sizeof(id)) != 1) {
		log_ssl("no randomness for a key id");
		return SIGNET_ERR_CRYPTO;
	}
#define ATTR(a, n, t_, p_, len_)	\
	do { a[n].type = (t_); a[n].pValue = (p_); \
	    a[n].ulValueLen = (len_); n++; } while (0)
	ATTR(pub, np, CKA_TOKEN, &yes, sizeof(yes));
	ATTR(pub, np, CKA_PRIVATE, &no, sizeof(no));
	ATTR(pub, np, CKA_VERIFY, &yes, sizeof(yes));
	ATTR(pub, np, CKA_ENCRYPT, &no, sizeof(no));
	ATTR(pub, np, CKA_WRAP, &no, sizeof(no));
	ATTR(pub, np, CKA_ID, id, sizeof(id));
	ATTR(pub, np, CKA_LABEL, label, llen);
	/* The private half never leaves the token (PKCS#11 3.0 section
	 * 4.9): sensitive, not extractable, usable only for signing. */
	ATTR(priv, nv, CKA_TOKEN, &yes, sizeof(yes));
	ATTR(priv, nv, CKA_PRIVATE, &yes, sizeof(yes));
	ATTR(priv, nv, CKA_SENSITIVE, &yes, sizeof(yes));
	ATTR(priv, nv, CKA_EXTRACTABLE, &no, sizeof(no));
	ATTR(priv, nv, CKA_SIGN, &yes, sizeof(yes));
	ATTR(priv, nv, CKA_DECRYPT, &no, sizeof(no));
	ATTR(priv, nv, CKA_UNWRAP, &no, sizeof(no));
	ATTR(priv, nv, CKA_DERIVE, &no, sizeof(no));
	ATTR(priv, nv, CKA_ID, id, sizeof(id));
	ATTR(priv, nv, CKA_LABEL, label, llen);
	if (q->type == KH_KEY_RSA) {
		mech.mechanism = CKM_RSA_PKCS_KEY_PAIR_GEN;
		ATTR(pub, np, CKA_MODULUS_BITS, &bits, sizeof(bits));
		ATTR(pub, np, CKA_PUBLIC_EXPONENT, exponent, sizeof(exponent));
	} else {
		mech.mechanism = CKM_EC_KEY_PAIR_GEN;
		if (q->bits == 256)
			ATTR(pub, np, CKA_EC_PARAMS,
			    (void *)(uintptr_t)oid_p256, sizeof(oid_p256));
		else
			ATTR(pub, np, CKA_EC_PARAMS,
			    (void *)(uintptr_t)oid_p384, sizeof(oid_p384));
	}
#undef ATTR
	rv = t->fn->C_GenerateKeyPair(t->sess, &mech, pub, np, priv, nv,
	    &hpub, &hpriv);
	if (rv != CKR_OK) {
		log_err("C_GenerateKeyPair (%s-%u): 0x%lx",
		    q->type == KH_KEY_RSA ? "RSA" : "EC", q->bits,
		    (unsigned long)rv);
		return rv == CKR_USER_NOT_LOGGED_IN ? SIGNET_ERR_TOKEN_LOCKED :
		    SIGNET_ERR_TOKEN;
	}
	hex(idhex, id, sizeof(id));
	log_info("generated %s-%u key %s \"%s\"",
	    q->type == KH_KEY_RSA ? "RSA" : "EC", q->bits, idhex, q->label);
	if ((r = find_key(t, idhex, &k)) != 0) {
		log_err("generated key %s is not listed by the token", idhex);
		return r == SIGNET_ERR_NOT_FOUND ? SIGNET_ERR_TOKEN : r;
	}
	if (!key_info(t, &k, out)) {
		log_err("generated key %s cannot be described", idhex);
		return SIGNET_ERR_TOKEN;
	}
	return 0;
}
