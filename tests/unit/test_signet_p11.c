/* The PKCS#11 module's parsers: the DigestInfo a CKM_RSA_PKCS caller
 * hands over (pkcs11/signet_p11_di.c) and the configuration file and
 * environment (pkcs11/signet_p11_conf.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "signet_p11_conf.h"
#include "signet_p11_di.h"

/* RFC 8017 section 9.2, note 1: the DER prefixes of SHA-256/384/512 */
static const uint8_t di256[] = { 0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60,
    0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20 };
static const uint8_t di384[] = { 0x30, 0x41, 0x30, 0x0d, 0x06, 0x09, 0x60,
    0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02, 0x05, 0x00, 0x04, 0x30 };
static const uint8_t di512[] = { 0x30, 0x51, 0x30, 0x0d, 0x06, 0x09, 0x60,
    0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x03, 0x05, 0x00, 0x04, 0x40 };
/* SHA-256 without the NULL parameters (RFC 8017 appendix A.2.4 allows
 * producers that omit them) */
static const uint8_t di256_nonull[] = { 0x30, 0x2f, 0x30, 0x0b, 0x06, 0x09,
    0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x04, 0x20 };

static size_t
mk(uint8_t *out, const uint8_t *prefix, size_t plen, size_t dlen)
{
	size_t i;

	memcpy(out, prefix, plen);
	for (i = 0; i < dlen; i++)
		out[plen + i] = (uint8_t)(i + 1);
	return plen + dlen;
}

static void
test_di_accepts(void **state)
{
	uint8_t b[128];
	const uint8_t *d;
	size_t n, dlen;
	int hash;

	(void)state;
	n = mk(b, di256, sizeof(di256), 32);
	assert_int_equal(sp11_di_parse(b, n, &hash, &d, &dlen), 0);
	assert_int_equal(hash, SP11_SHA256);
	assert_int_equal(dlen, 32);
	assert_ptr_equal(d, b + sizeof(di256));
	n = mk(b, di384, sizeof(di384), 48);
	assert_int_equal(sp11_di_parse(b, n, &hash, &d, &dlen), 0);
	assert_int_equal(hash, SP11_SHA384);
	n = mk(b, di512, sizeof(di512), 64);
	assert_int_equal(sp11_di_parse(b, n, &hash, &d, &dlen), 0);
	assert_int_equal(hash, SP11_SHA512);
	assert_int_equal(dlen, 64);
	n = mk(b, di256_nonull, sizeof(di256_nonull), 32);
	assert_int_equal(sp11_di_parse(b, n, &hash, &d, &dlen), 0);
	assert_int_equal(hash, SP11_SHA256);
	assert_string_equal(sp11_hash_name(SP11_SHA384), "sha384");
	assert_int_equal(sp11_hash_of_len(48), SP11_SHA384);
	assert_int_equal(sp11_hash_of_len(20), -1);
}

static void
test_di_refuses(void **state)
{
	uint8_t b[128];
	const uint8_t *d;
	size_t n, dlen;
	int hash;

	(void)state;
	/* a bare digest */
	n = mk(b, di256, 0, 32);
	assert_int_equal(sp11_di_parse(b, n, &hash, &d, &dlen),
	    SIGNET_ERR_INVALID);
	assert_null(d);
	/* a digest too short, too long, or cut */
	n = mk(b, di256, sizeof(di256), 31);
	assert_int_not_equal(sp11_di_parse(b, n, &hash, &d, &dlen), 0);
	n = mk(b, di256, sizeof(di256), 33);
	assert_int_not_equal(sp11_di_parse(b, n, &hash, &d, &dlen), 0);
	n = mk(b, di256, sizeof(di256), 32);
	assert_int_not_equal(sp11_di_parse(b, n - 1, &hash, &d, &dlen), 0);
	/* bytes after the DigestInfo */
	b[n] = 0;
	assert_int_not_equal(sp11_di_parse(b, n + 1, &hash, &d, &dlen), 0);
	/* SHA-1 (1.3.14.3.2.26) is not one the appliance signs */
	{
		static const uint8_t sha1[] = { 0x30, 0x21, 0x30, 0x09, 0x06,
		    0x05, 0x2b, 0x0e, 0x03, 0x02, 0x1a, 0x05, 0x00, 0x04,
		    0x14 };

		n = mk(b, sha1, sizeof(sha1), 20);
		assert_int_not_equal(sp11_di_parse(b, n, &hash, &d, &dlen), 0);
	}
	/* the SHA-384 OID with a SHA-256 digest length */
	n = mk(b, di384, sizeof(di384), 48);
	b[1] = 0x31;
	b[18] = 0x20;
	assert_int_not_equal(sp11_di_parse(b, 19 + 32, &hash, &d, &dlen), 0);
	/* parameters other than NULL */
	n = mk(b, di256, sizeof(di256), 32);
	b[15] = 0x04;	/* an OCTET STRING where NULL belongs */
	assert_int_not_equal(sp11_di_parse(b, n, &hash, &d, &dlen), 0);
	/* a long-form length */
	n = mk(b, di256, sizeof(di256), 32);
	b[1] = 0x81;
	assert_int_not_equal(sp11_di_parse(b, n, &hash, &d, &dlen), 0);
	assert_int_not_equal(sp11_di_parse(b, 0, &hash, &d, &dlen), 0);
	assert_int_equal(hash, -1);
}

static void
test_conf_parses(void **state)
{
	static const char text[] =
	    "# the appliance\n"
	    "url = https://signet.example:8443\n"
	    "  cacert=/etc/signet/ca.pem  \r\n"
	    "\n"
	    "client_cert = /etc/signet/ci.pem\n"
	    "client_key = /etc/signet/ci.key\n"
	    "project = demo-app\n"
	    "policy = test-signing\n"
	    "wait = 600\n"
	    "log = /var/log/signet-pkcs11.log";
	struct sp11_conf c;
	char err[256];

	(void)state;
	memset(&c, 0, sizeof(c));
	assert_int_equal(sp11_conf_parse(&c, text, strlen(text), err,
	    sizeof(err)), 0);
	assert_string_equal(c.v[SP11_URL], "https://signet.example:8443");
	assert_string_equal(c.v[SP11_CACERT], "/etc/signet/ca.pem");
	assert_string_equal(c.v[SP11_CLIENT_KEY], "/etc/signet/ci.key");
	assert_string_equal(c.v[SP11_POLICY], "test-signing");
	assert_string_equal(c.v[SP11_LOG], "/var/log/signet-pkcs11.log");
	assert_null(c.v[SP11_TOKEN]);
	assert_int_equal(c.wait_s, 600);
	sp11_conf_free(&c);
	assert_null(c.v[SP11_URL]);
}

static void
refused(const char *text, const char *word)
{
	struct sp11_conf c;
	char err[256] = "";

	memset(&c, 0, sizeof(c));
	assert_int_equal(sp11_conf_parse(&c, text, strlen(text), err,
	    sizeof(err)), SIGNET_ERR_INVALID);
	if (strstr(err, word) == NULL)
		fail_msg("'%s': '%s' does not say '%s'", text, err, word);
	sp11_conf_free(&c);
}

static void
test_conf_refuses(void **state)
{
	char big[SP11_CONF_MAX_FILE + 2];

	(void)state;
	refused("url https://x\n", "line 1: expected key = value");
	refused("\n\ncolour = blue\n", "line 3: unknown key 'colour'");
	refused("url = a\nurl = b\n", "line 2: url is given twice");
	refused("url =\n", "needs a value");
	refused("wait = 0\n", "wait must be 1 to");
	refused("wait = 10s\n", "wait must be 1 to");
	refused("wait = 99999999999\n", "wait must be 1 to");
	refused("token = a\001b\n", "control character");
	memset(big, '#', sizeof(big));
	big[sizeof(big) - 1] = '\0';
	refused(big, "larger than");
}

static void
test_conf_environment(void **state)
{
	struct sp11_conf c;
	char err[256];

	(void)state;
	setenv("SIGNET_PKCS11_CONF", "/nonexistent/pkcs11.conf", 1);
	assert_int_equal(sp11_conf_load(&c, err, sizeof(err)),
	    SIGNET_ERR_CONFIG);
	assert_non_null(strstr(err, "/nonexistent/pkcs11.conf"));
	sp11_conf_free(&c);
	setenv("SIGNET_PKCS11_CONF", "/dev/null", 1);
	unsetenv("SIGNET_URL");
	assert_int_equal(sp11_conf_load(&c, err, sizeof(err)),
	    SIGNET_ERR_CONFIG);
	assert_non_null(strstr(err, "SIGNET_URL"));
	sp11_conf_free(&c);
	setenv("SIGNET_URL", "https://signet.example", 1);
	setenv("SIGNET_PKCS11_WAIT", "30", 1);
	assert_int_equal(sp11_conf_load(&c, err, sizeof(err)), 0);
	assert_string_equal(c.v[SP11_URL], "https://signet.example");
	assert_int_equal(c.wait_s, 30);
	sp11_conf_free(&c);
	setenv("SIGNET_PKCS11_WAIT", "forever", 1);
	assert_int_equal(sp11_conf_load(&c, err, sizeof(err)),
	    SIGNET_ERR_INVALID);
	assert_non_null(strstr(err, "SIGNET_PKCS11_WAIT"));
	sp11_conf_free(&c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_di_accepts),
		cmocka_unit_test(test_di_refuses),
		cmocka_unit_test(test_conf_parses),
		cmocka_unit_test(test_conf_refuses),
		cmocka_unit_test(test_conf_environment),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
