/* The signer pool (appliance/daemon/signer.c) against a fresh store and
 * the real signet-keyholder on a fresh SoftHSM2 token: a queued request
 * is signed through the format registry (the signed artifact has the
 * format's extension and media type, and its CMS verifies over the
 * artifact with the policy's certificate), and one whose artifact
 * configuration names no format of this appliance fails with a reason
 * that names it. SIGNET_KEYHOLDER names the executable (set by meson). */
#include <fcntl.h>
#include <ftw.h>
#include <setjmp.h>
#include <spawn.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/bio.h>
#include <openssl/cms.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include "app.h"
#include "cas.h"
#include "fixture.h"
#include "khclient.h"
#include "request.h"
#include "rkey.h"
#include "signer.h"
#include "store.h"
#include "token_fixture.h"

#define ARTIFACT	"the bytes of app.bin\n"

static int
group_setup(void **state)
{
	(void)state;
	return token_fx_setup("/tmp/signet-signer-XXXXXX", "journal");
}

static int
group_teardown(void **state)
{
	(void)state;
	return token_fx_teardown();
}

static struct kh *
spawn(void)
{
	struct kh_spawn_opts o = {
		.path = T.keyholder,
		.module = T.module,
		.token_label = "signet-test",
		.pin_file = T.pin_file,
		.env = T.env,
		.journal = T.journal,
	};
	struct kh *kh = NULL;

	assert_int_equal(kh_spawn(&o, &kh), 0);
	assert_non_null(kh);
	return kh;
}

/* A self-signed certificate for a new token key (its PEM, malloc'd), as
 * an administrator would make one; *cert is the certificate too. */
static char *
make_cert(struct kh *kh, char key_id[KH_KEY_ID_HEX + 1], X509 **cert)
{
	struct kh_key_info k;
	EVP_PKEY *pk = NULL;
	X509_NAME *nm;
	X509 *x;
	BIO *b;
	char *pem, *p;
	long n;

	assert_int_equal(kh_generate(kh, "release", KH_KEY_EC, 256, "admin",
	    &k), 0);
	snprintf(key_id, KH_KEY_ID_HEX + 1, "%s", k.id);
	assert_int_equal(rkey_load_admin(kh, k.id, "admin", &pk), 0);
	assert_non_null(x = X509_new());
	assert_int_equal(X509_set_version(x, 2), 1);
	assert_int_equal(ASN1_INTEGER_set(X509_get_serialNumber(x), 1), 1);
	assert_non_null(X509_gmtime_adj(X509_getm_notBefore(x), -60));
	assert_non_null(X509_gmtime_adj(X509_getm_notAfter(x), 86400));
	nm = X509_get_subject_name(x);
	assert_int_equal(X509_NAME_add_entry_by_txt(nm, "CN", MBSTRING_ASC,
	    (const unsigned char *)"signet test release", -1, -1, 0), 1);
	assert_int_equal(X509_set_issuer_name(x, nm), 1);
	assert_int_equal(X509_set_pubkey(x, pk), 1);
	assert_true(X509_sign(x, pk, EVP_sha256()) > 0);
	EVP_PKEY_free(pk);
	assert_non_null(b = BIO_new(BIO_s_mem()));
	assert_int_equal(PEM_write_bio_X509(b, x), 1);
	n = BIO_get_mem_data(b, &p);
	assert_true(n > 0);
	assert_non_null(pem = strndup(p, (size_t)n));
	BIO_free(b);
	*cert = x;
	return pem;
}

/* The policy demo/release and its certificate, as the catalog keeps them. */
static void
put_policy(struct fx *f, const char *key_id, const char *pem)
{
	struct store_txn *t = NULL;
	json_t *pol, *cert;

	pol = json_pack("{s:s, s:s, s:s}", "project", "demo", "slug",
	    "release", "certificate", "release-cert");
	cert = json_pack("{s:s, s:s, s:s, s:s}", "name", "release-cert",
	    "sha256", "00112233445566778899aabbccddeeff00112233445566778899"
	    "aabbccddeeff", "chainPem", pem, "keyId", key_id);
	assert_non_null(pol);
	assert_non_null(cert);
	assert_int_equal(store_txn_begin(f->s, 1, &t), 0);
	assert_int_equal(store_put_json(t, STORE_POLICIES, "demo/release",
	    pol), 0);
	assert_int_equal(store_put_json(t, STORE_CERTIFICATES, "release-cert",
	    cert), 0);
	assert_int_equal(store_txn_commit(&t), 0);
	json_decref(pol);
	json_decref(cert);
}

/* A stored artifact's bytes, where they are kept (malloc'd). */
static char *
read_stored(struct fx *f, const char *hex, size_t *len)
{
	uint64_t size;
	char *p;
	int fd;

	assert_int_equal(request_artifact_open(f->s, f->cas, hex, &fd, &size),
	    0);
	assert_true(size > 0 && size < 1 << 20);
	assert_non_null(p = malloc((size_t)size));
	assert_int_equal(read(fd, p, (size_t)size), (ssize_t)size);
	close(fd);
	*len = (size_t)size;
	return p;
}

/* A queued request (no approvals) for this artifact configuration. */
static void
queue(struct fx *f, const char *conf, const char *sha, uint64_t size,
    char id[REQUEST_ID_LEN + 1])
{
	struct store_txn *t = NULL;
	struct request_new n;
	json_t *rec = NULL;
	const char *w;

	memset(&n, 0, sizeof(n));
	n.project = "demo";
	n.policy = "release";
	n.artifact_configuration = conf;
	n.submitter_type = "client-certificate";
	n.submitter = "ci-runner";
	n.artifact_name = "app.bin";
	n.artifact_sha256 = sha;
	n.artifact_size = size;
	n.required_approvals = 0;
	assert_int_equal(store_txn_begin(f->s, 1, &t), 0);
	assert_int_equal(request_create(t, &n, &rec), 0);
	assert_int_equal(store_txn_commit(&t), 0);
	w = json_string_value(json_object_get(rec, "workflowStatus"));
	assert_non_null(w);
	assert_string_equal(w, RQ_QUEUED);
	snprintf(id, REQUEST_ID_LEN + 1, "%s",
	    json_string_value(json_object_get(rec, "id")));
	json_decref(rec);
}

/* The request's record once it is final (or NULL after 10 s). */
static json_t *
wait_final(struct fx *f, const char *id)
{
	struct timespec ts = { 0, 50 * 1000 * 1000 };
	struct store_txn *t = NULL;
	json_t *rec;
	int i;

	for (i = 0; i < 200; i++) {
		rec = NULL;
		assert_int_equal(store_txn_begin(f->s, 0, &t), 0);
		assert_int_equal(request_get(t, id, &rec), 0);
		store_txn_abort(&t);
		if (request_is_final(json_string_value(json_object_get(rec,
		    "workflowStatus"))))
			return rec;
		json_decref(rec);
		nanosleep(&ts, NULL);
	}
	return NULL;
}

static void
t_unknown_configuration_fails(void **state)
{
	struct fx *f = *state;
	struct app app;
	struct signer *s = NULL;
	char id[REQUEST_ID_LEN + 1];
	const char *reason;
	json_t *rec;

	memset(&app, 0, sizeof(app));
	app.store = f->s;
	app.cas = f->cas;
	queue(f, "no-such-format", "0000000000000000000000000000000000000000"
	    "000000000000000000000000", 1, id);
	/* the pending request is picked up when the pool starts */
	assert_int_equal(signer_start(&app, 1, &s), 0);
	rec = wait_final(f, id);
	signer_stop(s);
	assert_non_null(rec);
	assert_string_equal(json_string_value(json_object_get(rec,
	    "workflowStatus")), RQ_FAILED);
	assert_false(json_is_object(json_object_get(rec, "signedArtifact")));
	reason = json_string_value(json_object_get(rec, "failureReason"));
	assert_non_null(reason);
	assert_non_null(strstr(reason, "'no-such-format'"));
	assert_non_null(strstr(reason, "not a signature format"));
	json_decref(rec);
}

static void
t_signed_through_format(void **state)
{
	struct fx *f = *state;
	struct app app;
	struct signer *s = NULL;
	struct kh *kh = spawn();
	char id[REQUEST_ID_LEN + 1], kid[KH_KEY_ID_HEX + 1];
	char hex[CAS_HEX_LEN + 1];
	const char *name, *sha;
	json_t *rec, *sa;
	X509 *cert = NULL;
	X509_STORE *trust;
	STACK_OF(X509) *certs;
	BIO *der, *content;
	CMS_ContentInfo *cms;
	char *pem, *sig;
	size_t siglen;

	pem = make_cert(kh, kid, &cert);
	put_policy(f, kid, pem);
	assert_int_equal(cas_put(f->cas, ARTIFACT, strlen(ARTIFACT), hex), 0);
	memset(&app, 0, sizeof(app));
	app.store = f->s;
	app.cas = f->cas;
	app.kh = kh;
	queue(f, "detached-cms", hex, strlen(ARTIFACT), id);
	assert_int_equal(signer_start(&app, 1, &s), 0);
	rec = wait_final(f, id);
	signer_stop(s);
	assert_non_null(rec);
	assert_string_equal(json_string_value(json_object_get(rec,
	    "workflowStatus")), RQ_COMPLETED);
	sa = json_object_get(rec, "signedArtifact");
	assert_true(json_is_object(sa));
	/* the format's extension and media type (format.c) */
	name = json_string_value(json_object_get(sa, "name"));
	assert_non_null(name);
	assert_string_equal(name, "app.bin.p7s");
	assert_string_equal(json_string_value(json_object_get(sa,
	    "mediaType")), "application/pkcs7-signature");
	assert_string_equal(json_string_value(json_object_get(json_object_get(
	    rec, "certificate"), "name")), "release-cert");
	/* the CMS verifies over the artifact with the policy's certificate,
	 * and only over it */
	assert_non_null(sha = json_string_value(json_object_get(sa,
	    "sha256")));
	sig = read_stored(f, sha, &siglen);
	assert_int_equal(json_integer_value(json_object_get(sa, "size")),
	    (json_int_t)siglen);
	{
		struct store_txn *t = NULL;
		const void *v;
		size_t vlen;
		uint64_t size;
		int fd;

		/* the signature is kept in the database, committed with its
		 * request, and is no file of the artifact store */
		assert_int_equal(cas_open_read(f->cas, sha, &fd, &size),
		    SIGNET_ERR_NOT_FOUND);
		assert_int_equal(store_txn_begin(f->s, 0, &t), 0);
		assert_int_equal(store_get(t, STORE_BLOBS, sha, strlen(sha), &v,
		    &vlen), 0);
		assert_true(vlen == siglen && memcmp(v, sig, siglen) == 0);
		assert_true(request_artifact_known(t, sha));
		store_txn_abort(&t);
	}
	assert_non_null(der = BIO_new_mem_buf(sig, (int)siglen));
	assert_non_null(cms = d2i_CMS_bio(der, NULL));
	assert_non_null(trust = X509_STORE_new());
	assert_int_equal(X509_STORE_add_cert(trust, cert), 1);
	assert_non_null(certs = sk_X509_new_null());
	assert_true(sk_X509_push(certs, cert) > 0);
	assert_non_null(content = BIO_new_mem_buf(ARTIFACT,
	    (int)strlen(ARTIFACT)));
	assert_int_equal(CMS_verify(cms, certs, trust, content, NULL,
	    CMS_BINARY), 1);
	BIO_free(content);
	assert_non_null(content = BIO_new_mem_buf("other bytes\n", 12));
	assert_int_equal(CMS_verify(cms, certs, trust, content, NULL,
	    CMS_BINARY), 0);
	BIO_free(content);
	sk_X509_free(certs);
	X509_STORE_free(trust);
	CMS_ContentInfo_free(cms);
	BIO_free(der);
	free(sig);
	free(pem);
	X509_free(cert);
	json_decref(rec);
	kh_free(kh);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(t_signed_through_format,
		    fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(t_unknown_configuration_fails,
		    fx_setup, fx_teardown),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
