/* Signs through a PKCS#11 module from several threads, each with a
 * session of its own, and checks every signature against the token's
 * certificate: the Signet module's concurrency and leak test (run under
 * valgrind by tests/integration/test_pkcs11_module.py) and its benchmark
 * (tests/bench/bench_pkcs11.sh).
 *
 *   p11_sign MODULE THREADS SIGNATURES_PER_THREAD
 *
 * Uses the first slot, CKM_SHA256_RSA_PKCS (CKM_ECDSA_SHA256 for an EC
 * key) and the two-call size convention of C_Sign. Prints one line of
 * figures: signatures, seconds, signatures/s, p50 and p95 of C_Sign in
 * milliseconds; exits 1 if any signature failed or did not verify. */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include <p11-kit/pkcs11.h>

#include "num.h"

#define MAX_THREADS	64
#define MAX_PER_THREAD	100000

static CK_FUNCTION_LIST *f;
static CK_SLOT_ID slot;
static EVP_PKEY *pub;
static long per_thread;
static double *lat;	/* ms, per signature */
static int failed;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;

static double
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void
fail(const char *what, CK_RV rv)
{
	pthread_mutex_lock(&mu);
	fprintf(stderr, "p11_sign: %s: rv 0x%lx\n", what, (unsigned long)rv);
	failed = 1;
	pthread_mutex_unlock(&mu);
}

/* The signature verifies against the certificate's key. */
static int
verify(const unsigned char *data, size_t n, const unsigned char *sig,
    size_t slen)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned char der[256];
	unsigned char *p = der;
	ECDSA_SIG *es = NULL;
	BIGNUM *r = NULL, *s = NULL;
	int ok = 0, dlen;

	if (md == NULL)
		return 0;
	if (EVP_PKEY_get_base_id(pub) == EVP_PKEY_EC) {
		/* raw r || s (PKCS#11) into DER for OpenSSL */
		if ((es = ECDSA_SIG_new()) == NULL ||
		    (r = BN_bin2bn(sig, (int)slen / 2, NULL)) == NULL ||
		    (s = BN_bin2bn(sig + slen / 2, (int)slen / 2, NULL)) ==
		    NULL || ECDSA_SIG_set0(es, r, s) != 1)
			goto out;
		r = s = NULL;
		if ((dlen = i2d_ECDSA_SIG(es, NULL)) <= 0 ||
		    dlen > (int)sizeof(der))
			goto out;
		i2d_ECDSA_SIG(es, &p);
		sig = der;
		slen = (size_t)dlen;
	}
	ok = EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, pub) == 1 &&
	    EVP_DigestVerify(md, sig, slen, data, n) == 1;
out:
	BN_free(r);
	BN_free(s);
	ECDSA_SIG_free(es);
	EVP_MD_CTX_free(md);
	return ok;
}

static void *
worker(void *arg)
{
	long t = (long)(intptr_t)arg, i;
	CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
	CK_ATTRIBUTE tmpl[] = { { CKA_CLASS, &cls, sizeof(cls) } };
	CK_MECHANISM mech = { CKM_SHA256_RSA_PKCS, NULL, 0 };
	CK_SESSION_HANDLE h;
	CK_OBJECT_HANDLE key;
	CK_ULONG n = 0, slen;
	unsigned char data[64], sig[1024];
	double t0;
	CK_RV rv;

	if (EVP_PKEY_get_base_id(pub) == EVP_PKEY_EC)
		mech.mechanism = CKM_ECDSA_SHA256;
	if ((rv = f->C_OpenSession(slot, CKF_SERIAL_SESSION, NULL, NULL,
	    &h)) != CKR_OK) {
		fail("C_OpenSession", rv);
		return NULL;
	}
	if ((rv = f->C_FindObjectsInit(h, tmpl, 1)) != CKR_OK ||
	    (rv = f->C_FindObjects(h, &key, 1, &n)) != CKR_OK ||
	    (rv = f->C_FindObjectsFinal(h)) != CKR_OK || n != 1) {
		fail("finding the private key", rv);
		goto out;
	}
	for (i = 0; i < per_thread; i++) {
		snprintf((char *)data, sizeof(data), "thread %ld signature %ld",
		    t, i);
		t0 = now_ms();
		slen = 0;
		if ((rv = f->C_SignInit(h, &mech, key)) != CKR_OK ||
		    (rv = f->C_Sign(h, data, strlen((char *)data), NULL,
		    &slen)) != CKR_OK || slen > sizeof(sig) ||
		    (rv = f->C_Sign(h, data, strlen((char *)data), sig,
		    &slen)) != CKR_OK) {
			fail("C_Sign", rv);
			continue;
		}
		lat[t * per_thread + i] = now_ms() - t0;
		if (!verify(data, strlen((char *)data), sig, slen))
			fail("a signature that does not verify", 0);
	}
out:
	f->C_CloseSession(h);
	return NULL;
}

static int
cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* The certificate of the first slot's token, for verifying. */
static int
load_cert(void)
{
	CK_OBJECT_CLASS cls = CKO_CERTIFICATE;
	CK_ATTRIBUTE tmpl[] = { { CKA_CLASS, &cls, sizeof(cls) } };
	CK_ATTRIBUTE val = { CKA_VALUE, NULL, 0 };
	CK_SESSION_HANDLE h;
	CK_OBJECT_HANDLE o;
	CK_ULONG n = 0;
	const unsigned char *p;
	unsigned char *der = NULL;
	X509 *x = NULL;
	int r = -1;

	if (f->C_OpenSession(slot, CKF_SERIAL_SESSION, NULL, NULL, &h) !=
	    CKR_OK)
		return -1;
	if (f->C_FindObjectsInit(h, tmpl, 1) != CKR_OK ||
	    f->C_FindObjects(h, &o, 1, &n) != CKR_OK || n != 1)
		goto out;
	f->C_FindObjectsFinal(h);
	if (f->C_GetAttributeValue(h, o, &val, 1) != CKR_OK ||
	    (der = malloc(val.ulValueLen)) == NULL)
		goto out;
	val.pValue = der;
	if (f->C_GetAttributeValue(h, o, &val, 1) != CKR_OK)
		goto out;
	p = der;
	if ((x = d2i_X509(NULL, &p, (long)val.ulValueLen)) == NULL ||
	    (pub = X509_get_pubkey(x)) == NULL)
		goto out;
	r = 0;
out:
	X509_free(x);
	free(der);
	f->C_CloseSession(h);
	return r;
}

int
main(int argc, char **argv)
{
	CK_C_INITIALIZE_ARGS ia;
	CK_C_GetFunctionList gfl;
	pthread_t th[MAX_THREADS];
	CK_SLOT_ID slots[8];
	CK_ULONG ns = 8;
	long threads, i, total;
	double t0, secs;
	void *dl;

	if (argc != 4 || num_parse_long(argv[2], 1, MAX_THREADS,
	    &threads) != 0 || num_parse_long(argv[3], 1, MAX_PER_THREAD,
	    &per_thread) != 0) {
		fprintf(stderr, "usage: p11_sign MODULE THREADS (1-%d) "
		    "SIGNATURES_PER_THREAD\n", MAX_THREADS);
		return 2;
	}
	if ((dl = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL)) == NULL ||
	    (gfl = (CK_C_GetFunctionList)dlsym(dl, "C_GetFunctionList")) ==
	    NULL || gfl(&f) != CKR_OK) {
		fprintf(stderr, "p11_sign: cannot load %s: %s\n", argv[1],
		    dlerror());
		return 2;
	}
	memset(&ia, 0, sizeof(ia));
	ia.flags = CKF_OS_LOCKING_OK;
	if (f->C_Initialize(&ia) != CKR_OK ||
	    f->C_GetSlotList(CK_TRUE, slots, &ns) != CKR_OK || ns == 0) {
		fprintf(stderr, "p11_sign: no token\n");
		return 2;
	}
	slot = slots[0];
	if (load_cert() != 0) {
		fprintf(stderr, "p11_sign: no certificate in the token\n");
		return 2;
	}
	total = threads * per_thread;
	if ((lat = calloc((size_t)total, sizeof(*lat))) == NULL)
		return 2;
	t0 = now_ms();
	for (i = 0; i < threads; i++)
		pthread_create(&th[i], NULL, worker, (void *)(intptr_t)i);
	for (i = 0; i < threads; i++)
		pthread_join(th[i], NULL);
	secs = (now_ms() - t0) / 1e3;
	qsort(lat, (size_t)total, sizeof(*lat), cmp);
	printf("signatures %ld threads %ld seconds %.2f rate %.1f/s "
	    "p50 %.1f ms p95 %.1f ms\n", total, threads, secs,
	    (double)total / secs, lat[total / 2], lat[total * 95 / 100]);
	free(lat);
	EVP_PKEY_free(pub);
	f->C_Finalize(NULL);
	dlclose(dl);
	return failed;
}
