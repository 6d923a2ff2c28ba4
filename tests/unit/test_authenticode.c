/* The Authenticode SignedData builder (appliance/sign/formats/authenticode.c)
 * with software keys: the content and the signed attributes Authenticode
 * requires, the messageDigest over the content without its tag and length,
 * the chain leaf first and once, nested signatures, finding a certificate's
 * own signature at any depth, and signing a file (a script) through the
 * whole path: signed, not signed twice, refused when its digest is not the
 * one recorded. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pkcs7.h>
#include <openssl/x509.h>

#include "ac_script.h"
#include "authenticode.h"
#include "pki.h"

struct signer {
	EVP_PKEY *key;
	X509 *cert;
	STACK_OF(X509) *chain;
};

static void
make_signer(struct signer *s, const char *subject)
{
	STACK_OF(X509) *sk = NULL;
	char *pem = NULL;

	s->key = EVP_RSA_gen(2048);
	assert_non_null(s->key);
	assert_int_equal(pki_self_signed(s->key, subject, 30, &pem), 0);
	assert_int_equal(pki_chain_from_pem(pem, strlen(pem), &sk), 0);
	s->cert = sk_X509_value(sk, 0);
	X509_up_ref(s->cert);
	/* the leaf twice: the builder includes it once */
	X509_up_ref(s->cert);
	assert_true(sk_X509_push(sk, s->cert) > 0);
	s->chain = sk;
	free(pem);
}

static void
free_signer(struct signer *s)
{
	EVP_PKEY_free(s->key);
	X509_free(s->cert);
	sk_X509_pop_free(s->chain, X509_free);
}

static struct signer A, B, C;

static int
setup(void **state)
{
	(void)state;
	make_signer(&A, "CN=Signer A");
	make_signer(&B, "CN=Signer B");
	make_signer(&C, "CN=Signer C");
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	free_signer(&A);
	free_signer(&B);
	free_signer(&C);
	return 0;
}

static void
opts(struct ac_sign_opts *o, const EVP_MD *md)
{
	memset(o, 0, sizeof(*o));
	o->md = md;
	o->program_name = "Caf\xc3\xa9 Tool";
	o->url = "https://signet.test/app";
	o->request_id = "0f8fad5b-d9cb-469f-a165-70867728950e";
}

static void
build(const struct signer *s, const EVP_MD *md, unsigned char **der,
    size_t *len, unsigned char **ind, size_t *ilen)
{
	unsigned char digest[EVP_MAX_MD_SIZE];
	struct ac_sign_opts o;

	memset(digest, 0x5a, sizeof(digest));
	opts(&o, md);
	assert_int_equal(ac_script_format.indirect(md, digest, ind, ilen), 0);
	assert_int_equal(ac_signed_data(*ind, *ilen, &o, s->key, s->cert,
	    s->chain, der, len), 0);
}

static ASN1_TYPE *
signed_attr(PKCS7_SIGNER_INFO *si, const char *oid)
{
	ASN1_OBJECT *o = OBJ_txt2obj(oid, 1);
	int i = X509at_get_attr_by_OBJ(si->auth_attr, o, -1);

	ASN1_OBJECT_free(o);
	if (i < 0)
		return NULL;
	return X509_ATTRIBUTE_get0_type(X509at_get_attr(si->auth_attr, i), 0);
}

static void
test_attributes(void **state)
{
	unsigned char *der = NULL, *ind = NULL, md[64];
	const unsigned char *q;
	size_t len, ilen;
	unsigned int mdl;
	PKCS7 *p7;
	PKCS7_SIGNER_INFO *si;
	ASN1_TYPE *t;
	char oid[64];
	long plen;
	int tag, cls;

	(void)state;
	build(&A, EVP_sha384(), &der, &len, &ind, &ilen);
	q = der;
	p7 = d2i_PKCS7(NULL, &q, (long)len);
	assert_non_null(p7);
	assert_true(PKCS7_type_is_signed(p7));
	/* the content is the SpcIndirectDataContent itself */
	OBJ_obj2txt(oid, sizeof(oid), p7->d.sign->contents->type, 1);
	assert_string_equal(oid, AC_OID_INDIRECT_DATA);
	t = p7->d.sign->contents->d.other;
	assert_int_equal(t->type, V_ASN1_SEQUENCE);
	assert_int_equal(ASN1_STRING_length(t->value.sequence), (int)ilen);
	assert_memory_equal(ASN1_STRING_get0_data(t->value.sequence), ind, ilen);
	/* leaf once, though the chain named it twice */
	assert_int_equal(sk_X509_num(p7->d.sign->cert), 1);
	assert_int_equal(X509_cmp(sk_X509_value(p7->d.sign->cert, 0), A.cert), 0);
	si = sk_PKCS7_SIGNER_INFO_value(PKCS7_get_signer_info(p7), 0);
	assert_int_equal(OBJ_obj2nid(si->digest_alg->algorithm), NID_sha384);
	/* contentType = SPC_INDIRECT_DATA */
	t = signed_attr(si, "1.2.840.113549.1.9.3");
	assert_non_null(t);
	OBJ_obj2txt(oid, sizeof(oid), t->value.object, 1);
	assert_string_equal(oid, AC_OID_INDIRECT_DATA);
	/* messageDigest over the content without its tag and length */
	q = ind;
	assert_int_equal(ASN1_get_object(&q, &plen, &tag, &cls, (long)ilen),
	    0x20);
	assert_int_equal(EVP_Digest(q, (size_t)plen, md, &mdl, EVP_sha384(),
	    NULL), 1);
	t = signed_attr(si, "1.2.840.113549.1.9.4");
	assert_non_null(t);
	assert_int_equal(ASN1_STRING_length(t->value.octet_string), 48);
	assert_memory_equal(ASN1_STRING_get0_data(t->value.octet_string), md, 48);
	/* statement type: individual code signing */
	t = signed_attr(si, AC_OID_STATEMENT_TYPE);
	assert_non_null(t);
	assert_int_equal(t->type, V_ASN1_SEQUENCE);
	assert_memory_equal(ASN1_STRING_get0_data(t->value.sequence),
	    "\x30\x0c\x06\x0a\x2b\x06\x01\x04\x01\x82\x37\x02\x01\x15", 14);
	/* opus info: the name as a BMPString, the url as IA5String */
	t = signed_attr(si, AC_OID_OPUS_INFO);
	assert_non_null(t);
	assert_non_null(memmem(ASN1_STRING_get0_data(t->value.sequence),
	    (size_t)ASN1_STRING_length(t->value.sequence),
	    "\0C\0a\0f\0\xe9\0 \0T", 12));
	assert_non_null(memmem(ASN1_STRING_get0_data(t->value.sequence),
	    (size_t)ASN1_STRING_length(t->value.sequence),
	    "\x80\x17https://signet.test/app", 25));
	PKCS7_free(p7);
	OPENSSL_free(der);
	OPENSSL_free(ind);
}

static void
test_nested(void **state)
{
	unsigned char *a = NULL, *b = NULL, *c = NULL, *ab = NULL, *abc = NULL,
	    *i1 = NULL, *i2 = NULL, *i3 = NULL;
	size_t al, bl, cl, abl, abcl, l1, l2, l3, badl;
	unsigned char *bad = NULL;
	const unsigned char *q;
	PKCS7 *p7;
	PKCS7_SIGNER_INFO *si;
	ASN1_OBJECT *nested = OBJ_txt2obj(AC_OID_NESTED, 1);
	int i;

	(void)state;
	build(&A, EVP_sha256(), &a, &al, &i1, &l1);
	build(&B, EVP_sha256(), &b, &bl, &i2, &l2);
	build(&C, EVP_sha256(), &c, &cl, &i3, &l3);
	assert_int_equal(ac_signed_by(a, al, A.cert), 1);
	assert_int_equal(ac_signed_by(a, al, B.cert), 0);
	assert_int_equal(ac_nest(a, al, b, bl, &ab, &abl), 0);
	assert_int_equal(ac_signed_by(ab, abl, A.cert), 1);
	assert_int_equal(ac_signed_by(ab, abl, B.cert), 1);
	assert_int_equal(ac_signed_by(ab, abl, C.cert), 0);
	/* a second nested signature is a second value of one attribute */
	assert_int_equal(ac_nest(ab, abl, c, cl, &abc, &abcl), 0);
	assert_int_equal(ac_signed_by(abc, abcl, C.cert), 1);
	q = abc;
	p7 = d2i_PKCS7(NULL, &q, (long)abcl);
	assert_non_null(p7);
	si = sk_PKCS7_SIGNER_INFO_value(PKCS7_get_signer_info(p7), 0);
	assert_int_equal(X509at_get_attr_count(si->unauth_attr), 1);
	i = X509at_get_attr_by_OBJ(si->unauth_attr, nested, -1);
	assert_true(i >= 0);
	assert_int_equal(X509_ATTRIBUTE_count(X509at_get_attr(si->unauth_attr,
	    i)), 2);
	/* the outer signature is untouched: still A's */
	assert_int_equal(ASN1_INTEGER_cmp(si->issuer_and_serial->serial,
	    X509_get0_serialNumber(A.cert)), 0);
	PKCS7_free(p7);
	/* not a SignedData */
	assert_int_equal(ac_signed_by((const unsigned char *)"\x30\x00", 2,
	    A.cert), SIGNET_ERR_INVALID);
	assert_int_not_equal(ac_nest((const unsigned char *)"\x30\x00", 2, b,
	    bl, &bad, &badl), 0);
	assert_null(bad);
	ASN1_OBJECT_free(nested);
	OPENSSL_free(a);
	OPENSSL_free(b);
	OPENSSL_free(c);
	OPENSSL_free(ab);
	OPENSSL_free(abc);
	OPENSSL_free(i1);
	OPENSSL_free(i2);
	OPENSSL_free(i3);
}

struct membuf {
	unsigned char *p;
	size_t n;
};

static int
mb_write(void *arg, const void *p, size_t n)
{
	struct membuf *b = arg;

	b->p = realloc(b->p, b->n + n + 1);
	assert_non_null(b->p);
	memcpy(b->p + b->n, p, n);
	b->n += n;
	return 0;
}

static int
mb_copy(void *arg, int fd, uint64_t off, uint64_t len)
{
	unsigned char buf[4096];
	ssize_t n;

	while (len > 0) {
		n = pread(fd, buf, len < sizeof(buf) ? len : sizeof(buf),
		    (off_t)off);
		assert_true(n > 0);
		assert_int_equal(mb_write(arg, buf, (size_t)n), 0);
		off += (uint64_t)n;
		len -= (uint64_t)n;
	}
	return 0;
}

static int
memfd(const void *p, size_t n)
{
	int fd = memfd_create("s", MFD_CLOEXEC);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, p, n), (ssize_t)n);
	return fd;
}

static void
sign_file(const struct signer *s, const void *in, size_t n, int append,
    struct membuf *out, struct ac_result *res, int expect_r)
{
	struct ac_sign_opts o;
	struct ac_sink sink = { .write = mb_write, .copy = mb_copy, .arg = out };
	struct ac_msg m = { "" };
	int fd = memfd(in, n);

	opts(&o, EVP_sha256());
	o.append = append;
	memset(out, 0, sizeof(*out));
	assert_int_equal(ac_sign_file(&ac_script_format, fd, n, &o, s->key,
	    s->cert, s->chain, &sink, res, &m), expect_r);
	close(fd);
}

static void
test_sign_file(void **state)
{
	const char text[] = "Write-Output 1\r\n";
	struct membuf one, two, three;
	struct ac_result res;
	struct ac_sign_opts o;
	struct ac_sink sink = { .write = mb_write, .copy = mb_copy, .arg = &three };
	struct ac_msg m = { "" };
	unsigned char wrong[32];
	int fd;

	(void)state;
	sign_file(&A, text, sizeof(text) - 1, 0, &one, &res, 0);
	assert_false(res.unchanged);
	assert_memory_equal(one.p, text, sizeof(text) - 1);
	/* signed by A already: in either mode nothing is written, the
	 * stored file is the result */
	sign_file(&A, one.p, one.n, 0, &two, &res, 0);
	assert_true(res.unchanged);
	assert_int_equal(two.n, 0);
	free(two.p);
	sign_file(&A, one.p, one.n, 1, &two, &res, 0);
	assert_true(res.unchanged);
	free(two.p);
	/* B appends: nested, and then A's and B's are both found */
	sign_file(&B, one.p, one.n, 1, &two, &res, 0);
	assert_false(res.unchanged);
	assert_true(res.nested);
	sign_file(&A, two.p, two.n, 1, &three, &res, 0);
	assert_true(res.unchanged);
	free(three.p);
	sign_file(&B, two.p, two.n, 0, &three, &res, 0);
	assert_true(res.unchanged);
	free(three.p);
	/* B replaces: one signature, B's */
	sign_file(&B, one.p, one.n, 0, &three, &res, 0);
	assert_false(res.unchanged);
	assert_false(res.nested);
	free(three.p);
	/* a digest other than the recorded one is not signed */
	memset(wrong, 0, sizeof(wrong));
	opts(&o, EVP_sha256());
	o.expect = wrong;
	o.expect_len = sizeof(wrong);
	memset(&three, 0, sizeof(three));
	fd = memfd(text, sizeof(text) - 1);
	assert_int_equal(ac_sign_file(&ac_script_format, fd, sizeof(text) - 1,
	    &o, A.key, A.cert, A.chain, &sink, &res, &m), SIGNET_ERR_CONFLICT);
	assert_non_null(strstr(m.text, "recorded"));
	close(fd);
	free(three.p);
	free(one.p);
	free(two.p);
}

/* A container with signatures side by side (a UEFI certificate table):
 * every entry is looked at, and append adds one beside them. */
static const unsigned char *side_p7;
static size_t side_len;
static int side_appended;

static int
side_signatures(int fd, uint64_t size,
    int (*fn)(const unsigned char *p7, size_t len, void *arg), void *arg,
    struct ac_msg *m)
{
	(void)fd;
	(void)size;
	(void)m;
	/* an entry that is no signature, then the real one */
	if (fn((const unsigned char *)"\x30\x00", 2, arg) != 0)
		return 1;
	return fn(side_p7, side_len, arg);
}

static int
side_append(int fd, uint64_t size, const unsigned char *p7, size_t len,
    const struct ac_sink *out, struct ac_msg *m)
{
	(void)p7;
	(void)len;
	(void)m;
	side_appended = 1;
	return out->copy(out->arg, fd, 0, size);
}

static void
test_side_by_side(void **state)
{
	const char text[] = "Write-Output 2\r\n";
	unsigned char *a = NULL, *ia = NULL;
	size_t al, il;
	struct membuf one, out;
	struct ac_result res;
	struct ac_sign_opts o;
	struct ac_sink sink = { .write = mb_write, .copy = mb_copy, .arg = &out };
	struct ac_msg m = { "" };
	int fd;

	(void)state;
	build(&A, EVP_sha256(), &a, &al, &ia, &il);
	side_p7 = a;
	side_len = al;
	sign_file(&B, text, sizeof(text) - 1, 0, &one, &res, 0);
	/* A's signature is an entry of the table: not signed again */
	opts(&o, EVP_sha256());
	o.append = 1;
	o.signatures = side_signatures;
	o.embed_append = side_append;
	memset(&out, 0, sizeof(out));
	fd = memfd(one.p, one.n);
	assert_int_equal(ac_sign_file(&ac_script_format, fd, one.n, &o, A.key,
	    A.cert, A.chain, &sink, &res, &m), 0);
	assert_true(res.unchanged);
	assert_false(side_appended);
	free(out.p);
	/* C has signed nothing: its signature goes beside B's */
	memset(&out, 0, sizeof(out));
	assert_int_equal(ac_sign_file(&ac_script_format, fd, one.n, &o, C.key,
	    C.cert, C.chain, &sink, &res, &m), 0);
	assert_false(res.unchanged);
	assert_true(res.beside);
	assert_false(res.nested);
	assert_true(side_appended);
	close(fd);
	free(out.p);
	free(one.p);
	OPENSSL_free(a);
	OPENSSL_free(ia);
}

/* The shared structures, as signtool and osslsigncode encode them. */
static void
test_structures(void **state)
{
	static const unsigned char link[] = { 0xa2, 0x1e, 0x80, 0x1c,
	    0, '<', 0, '<', 0, '<', 0, 'O', 0, 'b', 0, 's', 0, 'o', 0, 'l',
	    0, 'e', 0, 't', 0, 'e', 0, '>', 0, '>', 0, '>' };
	static const unsigned char guid[16] = { 1, 2, 3, 4, 5, 6, 7, 8, 9,
	    10, 11, 12, 13, 14, 15, 16 };
	static const unsigned char sip[] = { 0x30, 0x26, 0x02, 0x03, 0x01,
	    0x00, 0x00, 0x04, 0x10, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13,
	    14, 15, 16, 0x02, 0x01, 0x00, 0x02, 0x01, 0x00, 0x02, 0x01, 0x00,
	    0x02, 0x01, 0x00, 0x02, 0x01, 0x00 };
	unsigned char dg[32], *der = NULL;
	size_t len = 0;

	(void)state;
	assert_int_equal(ac_spc_link_obsolete(&der, &len), 0);
	assert_int_equal(len, sizeof(link));
	assert_memory_equal(der, link, len);
	OPENSSL_free(der);
	assert_int_equal(ac_sip_info_der(65536, guid, &der, &len), 0);
	assert_int_equal(len, sizeof(sip));
	assert_memory_equal(der, sip, len);
	OPENSSL_free(der);
	/* version 1 (MSI) is one octet; 128 needs a leading zero */
	assert_int_equal(ac_sip_info_der(1, guid, &der, &len), 0);
	assert_memory_equal(der, "\x30\x24\x02\x01\x01", 5);
	OPENSSL_free(der);
	assert_int_equal(ac_sip_info_der(128, guid, &der, &len), 0);
	assert_memory_equal(der, "\x30\x25\x02\x02\x00\x80", 6);
	OPENSSL_free(der);
	/* SpcIndirectDataContent: data, then DigestInfo with NULL params */
	memset(dg, 0xab, sizeof(dg));
	assert_int_equal(ac_indirect_der("1.3.6.1.4.1.311.2.1.30", sip,
	    sizeof(sip), EVP_sha256(), dg, &der, &len), 0);
	assert_int_equal(der[0], 0x30);
	assert_non_null(memmem(der, len, "\x30\x31\x30\x0d\x06\x09\x60\x86"
	    "\x48\x01\x65\x03\x04\x02\x01\x05\x00\x04\x20", 19));
	assert_memory_equal(der + len - 32, dg, 32);
	OPENSSL_free(der);
}

/* The audit's walk: every SignerInfo, nested ones too, with the digest
 * of its signed attributes and the digest its content names. */
struct walk {
	int n;
	unsigned char content[2][64];
	unsigned char attrs[2][64];
	size_t alen[2];
};

static int
walk_one(const unsigned char *attrs, size_t alen, const unsigned char *content,
    size_t clen, void *arg)
{
	struct walk *w = arg;

	assert_true(w->n < 2);
	assert_true(clen <= 64 && alen <= 64);
	memcpy(w->attrs[w->n], attrs, alen);
	memcpy(w->content[w->n], content, clen);
	w->alen[w->n++] = alen;
	return 0;
}

static void
test_signed_digests(void **state)
{
	unsigned char *a = NULL, *b = NULL, *ab = NULL, *ia = NULL, *ib = NULL;
	unsigned char want[64];
	size_t al, bl, abl, il, jl;
	struct walk w;

	(void)state;
	build(&A, EVP_sha256(), &a, &al, &ia, &il);
	build(&B, EVP_sha512(), &b, &bl, &ib, &jl);
	assert_int_equal(ac_nest(a, al, b, bl, &ab, &abl), 0);
	memset(&w, 0, sizeof(w));
	assert_int_equal(ac_signed_digests(ab, abl, walk_one, &w), 0);
	assert_int_equal(w.n, 2);
	/* the outer signer's attributes with SHA-256, the nested one's
	 * with SHA-512; both name the digest build() put in */
	assert_int_equal(w.alen[0], 32);
	assert_int_equal(w.alen[1], 64);
	memset(want, 0x5a, sizeof(want));
	assert_memory_equal(w.content[0], want, 32);
	assert_memory_equal(w.content[1], want, 64);
	/* the attributes' digest is what A's key signed */
	{
		const unsigned char *q = a;
		PKCS7 *p7 = d2i_PKCS7(NULL, &q, (long)al);
		PKCS7_SIGNER_INFO *si = sk_PKCS7_SIGNER_INFO_value(
		    PKCS7_get_signer_info(p7), 0);
		EVP_PKEY_CTX *vc = EVP_PKEY_CTX_new(A.key, NULL);

		assert_non_null(vc);
		assert_int_equal(EVP_PKEY_verify_init(vc), 1);
		assert_int_equal(EVP_PKEY_CTX_set_signature_md(vc, EVP_sha256()),
		    1);
		assert_int_equal(EVP_PKEY_verify(vc,
		    ASN1_STRING_get0_data(si->enc_digest),
		    (size_t)ASN1_STRING_length(si->enc_digest), w.attrs[0], 32),
		    1);
		EVP_PKEY_CTX_free(vc);
		PKCS7_free(p7);
	}
	assert_int_equal(ac_signed_digests((const unsigned char *)"\x30\x00",
	    2, walk_one, &w), SIGNET_ERR_INVALID);
	OPENSSL_free(a);
	OPENSSL_free(b);
	OPENSSL_free(ab);
	OPENSSL_free(ia);
	OPENSSL_free(ib);
}

static void
test_md_names(void **state)
{
	(void)state;
	assert_ptr_equal(ac_md_by_name(NULL), EVP_sha256());
	assert_int_equal(EVP_MD_get_type(ac_md_by_name("sha384")), NID_sha384);
	assert_int_equal(EVP_MD_get_type(ac_md_by_name("sha512")), NID_sha512);
	assert_null(ac_md_by_name("sha1"));
	assert_null(ac_md_by_name("SHA256"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_attributes),
		cmocka_unit_test(test_nested),
		cmocka_unit_test(test_sign_file),
		cmocka_unit_test(test_side_by_side),
		cmocka_unit_test(test_structures),
		cmocka_unit_test(test_signed_digests),
		cmocka_unit_test(test_md_names),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
