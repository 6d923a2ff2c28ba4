#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>

#include <libp11.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <p11-kit/pkcs11.h>

#include "log.h"
#include "token.h"

/* What a key's public half tells: fetched once per key. libp11 0.4.12
 * leaks a little on every PKCS11_get_public_key (fixed upstream later,
 * OpenSC/libp11#566); STATUS and LIST come often, so without the cache
 * the keyholder would grow for as long as it runs. Keys are found by
 * CKA_ID, which the keyholder makes random for the keys it generates. */
struct pubinfo {
	uint8_t id[KH_MAX_ID];
	size_t idlen;
	int type;			/* EVP_PKEY_RSA, EVP_PKEY_EC */
	unsigned bits;
	uint8_t *spki;			/* DER, OPENSSL_malloc'ed */
	size_t spki_len;
};

struct token {
	struct pubinfo pub[SIGNET_KH_MAX_KEYS];
	size_t npub;
	PKCS11_CTX *ctx;
	PKCS11_SLOT *slots;
	unsigned int nslots;
	PKCS11_SLOT *slot;		/* NULL: no token */
	void *dl;
	CK_FUNCTION_LIST_PTR fn;
	CK_SLOT_ID slot_id;
	CK_SESSION_HANDLE sess;
	bool have_sess;
	bool loaded;
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
	CK_RV rv;

	/* Same path, so the same loaded module as libp11's: one PKCS#11
	 * application, whose login state every session shares. */
	if ((t->dl = dlopen(module, RTLD_NOW | RTLD_LOCAL)) == NULL) {
		log_err("dlopen %s: %s", module, dlerror());
		return SIGNET_ERR_CONFIG;
	}
	*(void **)&get_list = dlsym(t->dl, "C_GetFunctionList");
	if (get_list == NULL || get_list(&t->fn) != CKR_OK || t->fn == NULL) {
		log_err("%s: no C_GetFunctionList", module);
		return SIGNET_ERR_CONFIG;
	}
	rv = t->fn->C_Initialize(NULL);
	if (rv != CKR_OK && rv != CKR_CRYPTOKI_ALREADY_INITIALIZED) {
		log_err("%s: C_Initialize: 0x%lx", module, (unsigned long)rv);
		return SIGNET_ERR_TOKEN;
	}
	return 0;
}

int
token_open(const char *module, const char *label, struct token **out)
{
	struct token *t = NULL;
	unsigned int i;
	CK_RV rv;
	int r = SIGNET_ERR_INTERNAL;

	*out = NULL;
	if ((t = calloc(1, sizeof(*t))) == NULL)
		return SIGNET_ERR_NOMEM;
	if ((t->ctx = PKCS11_CTX_new()) == NULL) {
		r = SIGNET_ERR_NOMEM;
		goto out;
	}
	if (PKCS11_CTX_load(t->ctx, module) != 0) {
		log_ssl("cannot load PKCS#11 module %s", module);
		r = SIGNET_ERR_CONFIG;
		goto out;
	}
	t->loaded = true;
	if (PKCS11_enumerate_slots(t->ctx, &t->slots, &t->nslots) != 0) {
		log_ssl("%s: cannot list slots", module);
		r = SIGNET_ERR_TOKEN;
		goto out;
	}
	if (label == NULL) {
		t->slot = PKCS11_find_token(t->ctx, t->slots, t->nslots);
	} else {
		for (i = 0; i < t->nslots && t->slot == NULL; i++) {
			if (t->slots[i].token != NULL &&
			    t->slots[i].token->label != NULL &&
			    strcmp(t->slots[i].token->label, label) == 0)
				t->slot = &t->slots[i];
		}
	}
	if ((r = open_raw(t, module)) != 0)
		goto out;
	if (t->slot == NULL || t->slot->token == NULL) {
		t->slot = NULL;
		log_warn("no token%s%s in %s", label ? " labelled " : "",
		    label ? label : "", module);
		*out = t;
		t = NULL;
		r = 0;
		goto out;
	}
	t->slot_id = PKCS11_get_slotid_from_slot(t->slot);
	/* Our own session stays open for the keyholder's lifetime: the
	 * login belongs to the application only while one of its sessions
	 * is open, and libp11 may close all of its own. Read-write so key
	 * generation can create token objects. */
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
	log_info("token \"%s\" in slot %lu", t->slot->token->label,
	    (unsigned long)t->slot_id);
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
	if (t->have_sess)
		(void)t->fn->C_CloseSession(t->sess);
	if (t->slots != NULL)
		PKCS11_release_all_slots(t->ctx, t->slots, t->nslots);
	if (t->loaded)
		PKCS11_CTX_unload(t->ctx);
	if (t->ctx != NULL)
		PKCS11_CTX_free(t->ctx);
	/* after libp11's C_Finalize, so the module is unloaded once */
	if (t->dl != NULL)
		dlclose(t->dl);
	free(t);
}

static bool
logged_in(struct token *t)
{
	CK_SESSION_INFO si;

	if (t->slot == NULL || t->fn->C_GetSessionInfo(t->sess, &si) != CKR_OK)
		return false;
	return si.state == CKS_RO_USER_FUNCTIONS ||
	    si.state == CKS_RW_USER_FUNCTIONS;
}

/* Whether a key may be used: logged in and a token at all. */
static int
usable(struct token *t)
{
	if (t->slot == NULL)
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

	if (t->slot == NULL)
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

static int
enumerate(struct token *t, PKCS11_KEY **keys, unsigned int *n)
{
	*keys = NULL;
	*n = 0;
	if (PKCS11_enumerate_keys(t->slot->token, keys, n) != 0) {
		log_ssl("cannot list the token's keys");
		return SIGNET_ERR_TOKEN;
	}
	return 0;
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

/* The cached public half of k, fetched on first use. */
static const struct pubinfo *
pubinfo(struct token *t, PKCS11_KEY *k)
{
	struct pubinfo *pi;
	EVP_PKEY *pub = NULL;
	unsigned char *der = NULL;
	size_t i;
	int n, type, bits;

	if (k->id == NULL || k->id_len == 0 || k->id_len > KH_MAX_ID)
		return NULL;
	type = PKCS11_get_key_type(k);
	for (i = 0; i < t->npub; i++) {
		pi = &t->pub[i];
		if (pi->idlen == k->id_len && pi->type == type &&
		    memcmp(pi->id, k->id, k->id_len) == 0)
			return pi;
	}
	if (t->npub >= SIGNET_KH_MAX_KEYS) {
		log_warn("more than %d keys: ignoring the rest",
		    SIGNET_KH_MAX_KEYS);
		return NULL;
	}
	if ((pub = PKCS11_get_public_key(k)) == NULL) {
		log_ssl("a key has no public half");
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
	memcpy(pi->id, k->id, k->id_len);
	pi->idlen = k->id_len;
	pi->type = type;
	pi->bits = (unsigned)bits;
	pi->spki = der;
	pi->spki_len = (size_t)n;
	return pi;
}

/* The key as the protocol describes it; false for a key the keyholder
 * does not offer (no CKA_ID or a longer one than the protocol carries, a
 * type other than RSA and EC). */
static bool
key_info(struct token *t, PKCS11_KEY *k, struct kh_key_info *out)
{
	const struct pubinfo *pi;
	int type;

	memset(out, 0, sizeof(*out));
	type = PKCS11_get_key_type(k);
	if (type == EVP_PKEY_RSA)
		out->type = KH_KEY_RSA;
	else if (type == EVP_PKEY_EC)
		out->type = KH_KEY_EC;
	else
		return false;
	if ((pi = pubinfo(t, k)) == NULL)
		return false;
	out->bits = pi->bits;
	hex(out->id, k->id, k->id_len);
	if (k->label != NULL)
		padded(out->label, sizeof(out->label),
		    (const CK_UTF8CHAR *)k->label, strlen(k->label));
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

/* The libp11 key with that CKA_ID; valid until the next enumeration. */
static int
find_key(struct token *t, const char *key_id, PKCS11_KEY **out)
{
	PKCS11_KEY *keys;
	uint8_t id[KH_MAX_ID];
	unsigned int i, n;
	size_t idlen;
	int r;

	*out = NULL;
	if ((r = usable(t)) != 0)
		return r;
	if ((r = unhex(key_id, id, sizeof(id), &idlen)) != 0)
		return r;
	if ((r = enumerate(t, &keys, &n)) != 0)
		return r;
	for (i = 0; i < n; i++) {
		if (keys[i].id_len == idlen &&
		    memcmp(keys[i].id, id, idlen) == 0) {
			*out = &keys[i];
			return 0;
		}
	}
	return SIGNET_ERR_NOT_FOUND;
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
	PKCS11_KEY *keys;
	struct kh_key_info ki;
	unsigned int i, n;
	CK_RV rv;

	memset(st, 0, sizeof(*st));
	slot_counts(t, &st->slots, &st->free_slots);
	if (t->slot == NULL)
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
	if (st->logged_in && enumerate(t, &keys, &n) == 0) {
		for (i = 0; i < n && st->key_count < SIGNET_KH_MAX_KEYS; i++) {
			if (key_info(t, &keys[i], &ki))
				st->key_count++;
		}
	}
	return 0;
}

int
token_list(struct token *t, uint32_t offset, struct kh_key_info *out,
    size_t max, size_t *n, uint32_t *total)
{
	PKCS11_KEY *keys;
	struct kh_key_info ki;
	unsigned int i, nkeys;
	uint32_t seen = 0;
	int r;

	*n = 0;
	*total = 0;
	if ((r = usable(t)) != 0)
		return r;
	if ((r = enumerate(t, &keys, &nkeys)) != 0)
		return r;
	for (i = 0; i < nkeys && seen < SIGNET_KH_MAX_KEYS; i++) {
		if (!key_info(t, &keys[i], &ki))
			continue;
		if (seen >= offset && *n < max)
			out[(*n)++] = ki;
		seen++;
	}
	if (seen == SIGNET_KH_MAX_KEYS && i < nkeys)
		log_warn("token holds more than %d keys; listing the first",
		    SIGNET_KH_MAX_KEYS);
	*total = seen;
	return 0;
}

int
token_pubkey(struct token *t, const char *key_id, uint8_t **der, size_t *len)
{
	const struct pubinfo *pi;
	PKCS11_KEY *k;
	int r;

	*der = NULL;
	*len = 0;
	if ((r = find_key(t, key_id, &k)) != 0)
		return r;
	if ((pi = pubinfo(t, k)) == NULL) {
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

int
token_sign(struct token *t, const struct kh_sign_req *q, uint8_t *sig,
    size_t *siglen)
{
	PKCS11_KEY *k;
	EVP_PKEY *priv = NULL;
	EVP_PKEY_CTX *ctx = NULL;
	const EVP_MD *md;
	size_t need;
	int type, r;

	*siglen = 0;
	if ((md = hash_md(q->hash)) == NULL ||
	    (size_t)EVP_MD_get_size(md) != q->dlen)
		return SIGNET_ERR_INVALID;
	if ((r = find_key(t, q->key_id, &k)) != 0)
		return r;
	type = PKCS11_get_key_type(k);
	if ((q->mech == KH_MECH_ECDSA) != (type == EVP_PKEY_EC) ||
	    (type != EVP_PKEY_EC && type != EVP_PKEY_RSA)) {
		log_warn("key %s: mechanism %d does not fit the key type",
		    q->key_id, q->mech);
		return SIGNET_ERR_INVALID;
	}
	r = SIGNET_ERR_TOKEN;
	/* libp11 hands back a key whose RSA_METHOD / EC_KEY_METHOD calls
	 * C_Sign: OpenSSL builds the DigestInfo (PKCS#1 v1.5) or the PSS
	 * encoding and the token does the private-key operation. */
	if ((priv = PKCS11_get_private_key(k)) == NULL) {
		log_ssl("key %s: no private key", q->key_id);
		goto out;
	}
	if ((ctx = EVP_PKEY_CTX_new(priv, NULL)) == NULL ||
	    EVP_PKEY_sign_init(ctx) <= 0 ||
	    EVP_PKEY_CTX_set_signature_md(ctx, md) <= 0)
		goto ssl;
	if (q->mech == KH_MECH_RSA_PKCS1 &&
	    EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING) <= 0)
		goto ssl;
	/* RFC 8017 section 9.1 allows any salt; RFC 4055 section 3.1 and
	 * most verifiers expect salt length = hash length, MGF1 with the
	 * same hash. */
	if (q->mech == KH_MECH_RSA_PSS &&
	    (EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PSS_PADDING) <= 0 ||
	    EVP_PKEY_CTX_set_rsa_pss_saltlen(ctx, RSA_PSS_SALTLEN_DIGEST) <= 0 ||
	    EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, md) <= 0))
		goto ssl;
	if (EVP_PKEY_sign(ctx, NULL, &need, q->dgst, q->dlen) <= 0)
		goto ssl;
	if (need > KH_MAX_SIG) {
		log_err("key %s: signature of %zu bytes is too large",
		    q->key_id, need);
		r = SIGNET_ERR_TOO_LARGE;
		goto out;
	}
	*siglen = KH_MAX_SIG;
	if (EVP_PKEY_sign(ctx, sig, siglen, q->dgst, q->dlen) <= 0) {
		*siglen = 0;
		goto ssl;
	}
	r = 0;
	goto out;
 ssl:
	log_ssl("key %s: signing failed", q->key_id);
 out:
	EVP_PKEY_CTX_free(ctx);
	EVP_PKEY_free(priv);
	return r;
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
	PKCS11_KEY *k;
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
	if (!key_info(t, k, out)) {
		log_err("generated key %s cannot be described", idhex);
		return SIGNET_ERR_TOKEN;
	}
	return 0;
}
