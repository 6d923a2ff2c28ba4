/* The time-stamping authority's parts that need no token: the serial
 * blocks (tsa_serial: unique and increasing across reopenings, one audit
 * entry per block, safe under threads, a damaged high-water mark refused),
 * the query checks (tsa_query_check) and the rejection replies. The token
 * side is tested against the live signetd (tests/integration/test_tsa.py). */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/objects.h>
#include <openssl/ts.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "audit.h"
#include "config_tsa.h"
#include "fixture.h"
#include "signet_limits.h"
#include "tsa_query.h"
#include "tsa_serial.h"

#define KEY "00112233445566778899aabbccddeeff"

/* How many audit entries of action there are, and the last one's details
 * (new reference, or NULL). */
static size_t
audit_count(struct store *s, const char *action, json_t **last)
{
	struct store_txn *t = NULL;
	json_t *items = NULL, *e;
	uint64_t next = 0;
	size_t i, n = 0;

	if (last != NULL)
		*last = NULL;
	assert_int_equal(store_txn_begin(s, 0, &t), 0);
	assert_int_equal(audit_list(t, 0, SIGNET_MAX_AUDIT_PAGE, &items, &next),
	    0);
	json_array_foreach(items, i, e) {
		if (strcmp(json_string_value(json_object_get(e, "action")),
		    action) != 0)
			continue;
		n++;
		if (last != NULL) {
			json_decref(*last);
			*last = json_incref(json_object_get(e, "details"));
		}
	}
	json_decref(items);
	store_txn_abort(&t);
	return n;
}

static void
test_serial_blocks(void **state)
{
	struct fx *f = *state;
	struct tsa_serial *ts = NULL;
	json_t *d = NULL;
	uint64_t v, i;

	assert_int_equal(tsa_serial_open(f->s, 10, KEY, &ts), 0);
	/* nothing is reserved before a serial is asked for */
	assert_int_equal(audit_count(f->s, "tsa.serials-reserved", NULL), 0);
	for (i = 1; i <= 3; i++) {
		assert_int_equal(tsa_serial_next(ts, &v), 0);
		assert_int_equal(v, i);
	}
	assert_int_equal(audit_count(f->s, "tsa.serials-reserved", &d), 1);
	assert_int_equal(json_integer_value(json_object_get(d, "first")), 1);
	assert_int_equal(json_integer_value(json_object_get(d, "last")), 10);
	assert_string_equal(json_string_value(json_object_get(d, "keyId")), KEY);
	json_decref(d);
	tsa_serial_close(ts);
	/* a restart skips the rest of the block: 4..10 are never used */
	assert_int_equal(tsa_serial_open(f->s, 10, KEY, &ts), 0);
	assert_int_equal(tsa_serial_next(ts, &v), 0);
	assert_int_equal(v, 11);
	for (i = 12; i <= 21; i++) {
		assert_int_equal(tsa_serial_next(ts, &v), 0);
		assert_int_equal(v, i);
	}
	/* 11..20, then 21..30 */
	assert_int_equal(audit_count(f->s, "tsa.serials-reserved", &d), 3);
	assert_int_equal(json_integer_value(json_object_get(d, "first")), 21);
	assert_int_equal(json_integer_value(json_object_get(d, "last")), 30);
	json_decref(d);
	tsa_serial_close(ts);
}

static void
test_serial_refuses(void **state)
{
	struct fx *f = *state;
	struct tsa_serial *ts = NULL;
	struct store_txn *t = NULL;
	uint64_t v = 7;

	assert_int_equal(tsa_serial_open(f->s, 0, KEY, &ts), SIGNET_ERR_INVALID);
	assert_int_equal(tsa_serial_open(f->s, SIGNET_TSA_SERIAL_MAX_BLOCK + 1,
	    KEY, &ts), SIGNET_ERR_INVALID);
	assert_int_equal(tsa_serial_open(f->s, 10, "", &ts), SIGNET_ERR_INVALID);
	assert_int_equal(tsa_serial_open(NULL, 10, KEY, &ts), SIGNET_ERR_INVALID);
	assert_null(ts);
	assert_int_equal(tsa_serial_next(NULL, &v), SIGNET_ERR_INVALID);
	assert_int_equal(v, 0);
	/* a high-water mark that is not 8 bytes is not guessed at */
	assert_int_equal(store_txn_begin(f->s, 1, &t), 0);
	assert_int_equal(store_put(t, STORE_META, TSA_SERIAL_KEY,
	    strlen(TSA_SERIAL_KEY), "\x01\x02\x03", 3), 0);
	assert_int_equal(store_txn_commit(&t), 0);
	assert_int_equal(tsa_serial_open(f->s, 10, KEY, &ts), 0);
	assert_int_equal(tsa_serial_next(ts, &v), SIGNET_ERR_STORE);
	assert_int_equal(audit_count(f->s, "tsa.serials-reserved", NULL), 0);
	tsa_serial_close(ts);
	tsa_serial_close(NULL);
}

#define THREADS 4
#define PER_THREAD 250

struct grab {
	struct tsa_serial *ts;
	uint64_t got[PER_THREAD];
};

static void *
grab_main(void *arg)
{
	struct grab *g = arg;
	int i;

	for (i = 0; i < PER_THREAD; i++)
		if (tsa_serial_next(g->ts, &g->got[i]) != 0)
			g->got[i] = 0;
	return NULL;
}

static void
test_serial_threads(void **state)
{
	struct fx *f = *state;
	struct tsa_serial *ts = NULL;
	struct grab g[THREADS];
	pthread_t th[THREADS];
	unsigned char *seen;
	int i, j;

	assert_int_equal(tsa_serial_open(f->s, 7, KEY, &ts), 0);
	for (i = 0; i < THREADS; i++) {
		g[i].ts = ts;
		assert_int_equal(pthread_create(&th[i], NULL, grab_main, &g[i]), 0);
	}
	for (i = 0; i < THREADS; i++)
		pthread_join(th[i], NULL);
	seen = calloc(THREADS * PER_THREAD + 1, 1);
	assert_non_null(seen);
	for (i = 0; i < THREADS; i++) {
		for (j = 0; j < PER_THREAD; j++) {
			assert_in_range(g[i].got[j], 1, THREADS * PER_THREAD);
			assert_int_equal(seen[g[i].got[j]], 0);	/* once */
			seen[g[i].got[j]] = 1;
			/* each thread's serials increase */
			if (j > 0)
				assert_true(g[i].got[j] > g[i].got[j - 1]);
		}
	}
	free(seen);
	/* 1000 serials in blocks of 7 */
	assert_int_equal(audit_count(f->s, "tsa.serials-reserved", NULL),
	    (THREADS * PER_THREAD + 6) / 7);
	tsa_serial_close(ts);
}

/* ---- queries ---- */

/* A DER TimeStampReq: hash nid with an imprint of len bytes. */
static unsigned char *
make_req(int nid, size_t len, long version, const char *policy, int ext,
    size_t *out)
{
	TS_REQ *r = TS_REQ_new();
	TS_MSG_IMPRINT *mi = TS_MSG_IMPRINT_new();
	X509_ALGOR *alg = X509_ALGOR_new();
	unsigned char md[80], *der = NULL;
	ASN1_OBJECT *po;
	int l;

	memset(md, 0xab, sizeof(md));
	assert_true(X509_ALGOR_set0(alg, OBJ_nid2obj(nid), V_ASN1_NULL, NULL));
	assert_true(TS_MSG_IMPRINT_set_algo(mi, alg));
	assert_true(TS_MSG_IMPRINT_set_msg(mi, md, (int)len));
	assert_true(TS_REQ_set_msg_imprint(r, mi));
	assert_true(TS_REQ_set_version(r, version));
	assert_true(TS_REQ_set_cert_req(r, 1));
	if (policy != NULL) {
		po = OBJ_txt2obj(policy, 1);
		assert_true(TS_REQ_set_policy_id(r, po));
		ASN1_OBJECT_free(po);
	}
	if (ext) {
		X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, NULL,
		    NID_basic_constraints, "CA:FALSE");

		assert_non_null(e);
		assert_true(TS_REQ_add_ext(r, e, -1));
		X509_EXTENSION_free(e);
	}
	l = i2d_TS_REQ(r, &der);
	assert_true(l > 0);
	*out = (size_t)l;
	X509_ALGOR_free(alg);
	TS_MSG_IMPRINT_free(mi);
	TS_REQ_free(r);
	return der;
}

#define POLICY "1.3.6.1.4.1.99999.3161.1"

static int
check(const unsigned char *der, size_t len, struct tsa_query *q)
{
	ASN1_OBJECT *po = OBJ_txt2obj(POLICY, 1);
	TS_REQ *req = NULL;
	int r;

	r = tsa_query_check(der, len, po, q, &req);
	assert_true((r == 0) == (req != NULL));
	TS_REQ_free(req);
	ASN1_OBJECT_free(po);
	return r;
}

static void
test_query_checks(void **state)
{
	static const struct {
		int nid;
		size_t len;
		long version;
		const char *policy;
		int ext;
		int fail;	/* -1: accepted */
	} cases[] = {
		{ NID_sha256, 32, 1, NULL, 0, -1 },
		{ NID_sha384, 48, 1, POLICY, 0, -1 },
		{ NID_sha512, 64, 1, NULL, 0, -1 },
		{ NID_sha1, 20, 1, NULL, 0, TS_INFO_BAD_ALG },
		{ NID_md5, 16, 1, NULL, 0, TS_INFO_BAD_ALG },
		{ NID_sha256, 20, 1, NULL, 0, TS_INFO_BAD_DATA_FORMAT },
		{ NID_sha512, 32, 1, NULL, 0, TS_INFO_BAD_DATA_FORMAT },
		{ NID_sha256, 32, 2, NULL, 0, TS_INFO_BAD_DATA_FORMAT },
		{ NID_sha256, 32, 1, "1.2.3.4", 0, TS_INFO_UNACCEPTED_POLICY },
		{ NID_sha256, 32, 1, NULL, 1, TS_INFO_UNACCEPTED_EXTENSION },
	};
	struct tsa_query q;
	unsigned char *der, *longer;
	size_t i, len;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		der = make_req(cases[i].nid, cases[i].len, cases[i].version,
		    cases[i].policy, cases[i].ext, &len);
		assert_int_equal(check(der, len, &q), cases[i].fail < 0 ? 0 :
		    SIGNET_ERR_INVALID);
		assert_int_equal(q.fail_info, cases[i].fail);
		if (cases[i].fail < 0) {
			assert_int_equal(q.md_nid, cases[i].nid);
			assert_true(q.cert_req);
		} else {
			assert_true(q.text[0] != '\0');
		}
		if (cases[i].fail == TS_INFO_BAD_ALG)
			assert_non_null(strstr(q.text, "SHA-256, SHA-384 or "
			    "SHA-512"));
		if (i == 0) {
			/* a byte more, or one less: not one TimeStampReq */
			longer = malloc(len + 1);
			memcpy(longer, der, len);
			longer[len] = 0;
			assert_int_equal(check(longer, len + 1, &q),
			    SIGNET_ERR_INVALID);
			assert_int_equal(q.fail_info, TS_INFO_BAD_DATA_FORMAT);
			assert_int_equal(check(der, len - 1, &q),
			    SIGNET_ERR_INVALID);
			assert_int_equal(check(der, 0, &q), SIGNET_ERR_INVALID);
			free(longer);
		}
		OPENSSL_free(der);
	}
	assert_int_equal(check((const unsigned char *)"garbage", 7, &q),
	    SIGNET_ERR_INVALID);
	assert_int_equal(q.fail_info, TS_INFO_BAD_DATA_FORMAT);
}

static void
test_rejection(void **state)
{
	static const int bits[] = { TS_INFO_BAD_ALG, TS_INFO_BAD_DATA_FORMAT,
	    TS_INFO_UNACCEPTED_POLICY, TS_INFO_TIME_NOT_AVAILABLE };
	const unsigned char *p;
	unsigned char *der;
	size_t len, i;
	TS_RESP *resp;
	const TS_STATUS_INFO *si;
	const ASN1_UTF8STRING *u;
	const ASN1_BIT_STRING *fi;

	(void)state;
	for (i = 0; i < sizeof(bits) / sizeof(bits[0]); i++) {
		assert_int_equal(tsa_query_rejection(bits[i], "why it failed",
		    &der, &len), 0);
		p = der;
		resp = d2i_TS_RESP(NULL, &p, (long)len);
		assert_non_null(resp);
		assert_ptr_equal(p, der + len);
		assert_null(TS_RESP_get_token(resp));
		si = TS_RESP_get_status_info(resp);
		assert_int_equal(ASN1_INTEGER_get(TS_STATUS_INFO_get0_status(si)),
		    TS_STATUS_REJECTION);
		u = sk_ASN1_UTF8STRING_value(TS_STATUS_INFO_get0_text(si), 0);
		assert_non_null(u);
		assert_memory_equal(ASN1_STRING_get0_data(u), "why it failed", 13);
		fi = TS_STATUS_INFO_get0_failure_info(si);
		assert_non_null(fi);
		assert_int_equal(ASN1_BIT_STRING_get_bit(fi, bits[i]), 1);
		assert_int_equal(ASN1_BIT_STRING_get_bit(fi, bits[i] + 1), 0);
		TS_RESP_free(resp);
		OPENSSL_free(der);
	}
}

static void
test_config(void **state)
{
	struct config_tsa c;

	(void)state;
	config_tsa_defaults(&c);
	assert_int_equal(c.accuracy_ms, 1000);
	assert_false(c.allow_unsynchronized);
	assert_null(config_tsa_check(&c));	/* off */
	assert_null(config_tsa_set(&c, "certificate", "tsa"));
	assert_non_null(config_tsa_check(&c));	/* on, without a policy */
	assert_non_null(config_tsa_set(&c, "policy", "tsa-policy"));
	assert_non_null(config_tsa_set(&c, "policy", "1..2"));
	assert_null(config_tsa_set(&c, "policy", "1.3.6.1.4.1.99999.1"));
	assert_null(config_tsa_check(&c));
	assert_non_null(config_tsa_set(&c, "accuracy_ms", "0"));
	assert_non_null(config_tsa_set(&c, "accuracy_ms", "60001"));
	assert_null(config_tsa_set(&c, "accuracy_ms", "250"));
	assert_int_equal(c.accuracy_ms, 250);
	assert_non_null(config_tsa_set(&c, "rate", "0"));
	assert_non_null(config_tsa_set(&c, "listen", "8318"));
	assert_null(config_tsa_set(&c, "listen", "0.0.0.0:8318"));
	assert_non_null(config_tsa_set(&c, "allow_unsynchronized", "maybe"));
	assert_null(config_tsa_set(&c, "allow_unsynchronized", "true"));
	assert_true(c.allow_unsynchronized);
	assert_non_null(config_tsa_set(&c, "colour", "blue"));
	config_tsa_free(&c);
	/* listen without a certificate is a mistake, not a silent no-op */
	config_tsa_defaults(&c);
	assert_null(config_tsa_set(&c, "listen", "127.0.0.1:8318"));
	assert_non_null(config_tsa_check(&c));
	config_tsa_free(&c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_serial_blocks, fx_setup,
		    fx_teardown),
		cmocka_unit_test_setup_teardown(test_serial_refuses, fx_setup,
		    fx_teardown),
		cmocka_unit_test_setup_teardown(test_serial_threads, fx_setup,
		    fx_teardown),
		cmocka_unit_test(test_query_checks),
		cmocka_unit_test(test_rejection),
		cmocka_unit_test(test_config),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
