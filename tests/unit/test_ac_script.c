/* PowerShell scripts under Authenticode (appliance/sign/formats/ac_script.c):
 * encodings and line breaks, where the digest ends (as osslsigncode finds
 * it), the digest itself (UTF-16LE of the text before the block), the
 * signature block written in the file's own line breaks and encoding, and
 * files refused with a message that names what is wrong. */
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

#include "ac_script.h"

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
	(void)arg;
	(void)fd;
	(void)off;
	(void)len;
	return -1;
}

static int
memfd(const void *p, size_t n)
{
	int fd = memfd_create("s", MFD_CLOEXEC);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, p, n), (ssize_t)n);
	return fd;
}

static int
parse(const char *s, size_t n, struct ac_script_info *si, struct ac_msg *m)
{
	memset(m, 0, sizeof(*m));
	return ac_script_parse((const uint8_t *)s, n, si, m);
}

#define BLOCK_CRLF "# SIG # Begin signature block\r\n# MAMCAQc=\r\n" \
	"# SIG # End signature block\r\n"

static void
test_unsigned_encodings(void **state)
{
	struct ac_script_info si;
	struct ac_msg m;

	(void)state;
	assert_int_equal(parse("a\r\nb\r\n", 6, &si, &m), 0);
	assert_false(si.utf16);
	assert_true(si.crlf);
	assert_false(si.has_sig);
	assert_int_equal(si.end, 6);
	assert_int_equal(parse("a\nb\n", 4, &si, &m), 0);
	assert_false(si.crlf);
	/* one line: PowerShell's own CR LF */
	assert_int_equal(parse("a", 1, &si, &m), 0);
	assert_true(si.crlf);
	assert_int_equal(parse("\xff\xfe" "a\0\r\0\n\0", 8, &si, &m), 0);
	assert_true(si.utf16);
	assert_int_equal(parse("<?xml version=\"1.0\"?>\n", 22, &si, &m), 0);
	assert_true(si.xml);
	/* "<#" is a PowerShell block comment, not XML */
	assert_int_equal(parse("<# x #>\n", 8, &si, &m), 0);
	assert_false(si.xml);
}

static void
test_signed_block(void **state)
{
	const char s[] = "a\r\nb\r\n" BLOCK_CRLF;
	struct ac_script_info si;
	struct ac_msg m;
	unsigned char *der = NULL;
	size_t dlen = 0;

	(void)state;
	assert_int_equal(parse(s, sizeof(s) - 1, &si, &m), 0);
	assert_true(si.has_sig);
	/* up to the CR LF before the block's first line */
	assert_int_equal(si.end, 4);
	assert_int_equal(ac_script_signature((const uint8_t *)s, sizeof(s) - 1,
	    &si, &der, &dlen, &m), 0);
	assert_int_equal(dlen, 5);
	assert_memory_equal(der, "\x30\x03\x02\x01\x07", 5);
	OPENSSL_free(der);
}

static void
expect_refused(const char *s, size_t n, const char *words)
{
	struct ac_script_info si;
	struct ac_msg m;

	assert_int_not_equal(parse(s, n, &si, &m), 0);
	if (strstr(m.text, words) == NULL)
		fail_msg("'%s' does not say '%s'", m.text, words);
}

#define REFUSED(lit, words) expect_refused(lit, sizeof(lit) - 1, words)

static void
test_refused(void **state)
{
	(void)state;
	expect_refused("", 0, "empty");
	REFUSED("a\0b", "NUL");
	REFUSED("a\xc3(", "UTF-8");
	REFUSED("\xc0\xaf", "UTF-8");
	REFUSED("\xed\xa0\x80", "UTF-8");	/* a surrogate */
	REFUSED("\xfe\xff\0a", "big-endian");
	REFUSED("\xff\xfe" "a", "odd");
	REFUSED("\xff\xfe\x00\xd8" "a\0", "surrogate");
	REFUSED(BLOCK_CRLF, "only a signature");
	REFUSED("a\r\n# SIG # Begin signature block\r\n# AAAA\r\n",
	    "no last line");
	REFUSED("a\r\n# SIG # Begin signature block\r\n# A*A\r\n"
	    "# SIG # End signature block\r\n", "base64");
	REFUSED("a\r\n" BLOCK_CRLF "b\r\n", "end of the file");
	REFUSED("a\r\n# SIG # End signature block\r\n", "never began");
	REFUSED("a\r\n# SIG # Begin signature block now\r\n",
	    "begins a signature block");
	REFUSED("a\n" BLOCK_CRLF, "different line breaks");
}

/* UTF-8 with a BOM hashes as the same text in UTF-16LE with its BOM: the
 * digest is over UTF-16LE either way. */
static void
test_digest_utf16le(void **state)
{
	const char u8[] = "\xef\xbb\xbf" "x\xc3\xa9\xf0\x9f\x98\x80\r\n";
	const char u16[] = "\xff\xfe" "x\0\xe9\0\x3d\xd8\x00\xde\r\0\n\0";
	unsigned char d1[32], d2[32], d3[32];
	struct ac_script_info si;
	struct ac_msg m;
	unsigned int dl;

	(void)state;
	assert_int_equal(parse(u8, sizeof(u8) - 1, &si, &m), 0);
	assert_int_equal(ac_script_digest_buf((const uint8_t *)u8, &si,
	    EVP_sha256(), d1), 0);
	assert_int_equal(parse(u16, sizeof(u16) - 1, &si, &m), 0);
	assert_int_equal(ac_script_digest_buf((const uint8_t *)u16, &si,
	    EVP_sha256(), d2), 0);
	assert_memory_equal(d1, d2, 32);
	assert_int_equal(EVP_Digest(u16, sizeof(u16) - 1, d3, &dl,
	    EVP_sha256(), NULL), 1);
	assert_memory_equal(d1, d3, 32);
}

/* embed() in the file's breaks and encoding; the digest stays. */
static void
check_embed(const char *s, size_t n, const char *begin, size_t blen)
{
	static const unsigned char p7[] = { 0x30, 0x03, 0x02, 0x01, 0x07 };
	struct ac_script_info si, so;
	struct membuf out = { NULL, 0 };
	struct ac_sink sink = { .write = mb_write, .copy = mb_copy, .arg = &out };
	unsigned char d1[32], d2[32], *der = NULL;
	struct ac_msg m;
	size_t dlen;
	int fd = memfd(s, n);

	assert_int_equal(ac_script_format.embed(fd, n, p7, sizeof(p7), &sink,
	    &m), 0);
	close(fd);
	assert_non_null(memmem(out.p, out.n, begin, blen));
	assert_int_equal(parse(s, n, &si, &m), 0);
	assert_int_equal(ac_script_parse(out.p, out.n, &so, &m), 0);
	assert_true(so.has_sig);
	assert_int_equal(so.end, si.end);
	assert_int_equal(ac_script_digest_buf((const uint8_t *)s, &si,
	    EVP_sha256(), d1), 0);
	assert_int_equal(ac_script_digest_buf(out.p, &so, EVP_sha256(), d2), 0);
	assert_memory_equal(d1, d2, 32);
	assert_int_equal(ac_script_signature(out.p, out.n, &so, &der, &dlen,
	    &m), 0);
	assert_int_equal(dlen, sizeof(p7));
	assert_memory_equal(der, p7, sizeof(p7));
	OPENSSL_free(der);
	free(out.p);
}

static void
test_embed(void **state)
{
	(void)state;
	check_embed("a\r\nb\r\n", 6, "\r\n\r\n# SIG # Begin signature block\r\n",
	    35);
	check_embed("a\nb", 3, "b\n# SIG # Begin signature block\n", 32);
	check_embed("\xff\xfe" "a\0\n\0", 6,
	    "\n\0#\0 \0S\0I\0G\0", 12);
	check_embed("<Types/>\r\n", 10,
	    "\r\n<!-- SIG # Begin signature block -->\r\n", 40);
	/* a signed file: its block is replaced */
	check_embed("a\r\nb\r\n" BLOCK_CRLF, 6 + sizeof(BLOCK_CRLF) - 1,
	    "b\r\n# SIG # Begin", 16);
	/* a text of LF lines ending in a bare CR: the block breaks with
	 * CRLF after it, so the CR stays the text's (it is digested) and
	 * the block is one the parser takes */
	check_embed("a\nb\r", 4, "b\r\r\n# SIG # Begin signature block\r\n",
	    35);
	check_embed("\xff\xfe" "a\0\n\0b\0\r\0", 10,
	    "b\0\r\0\r\0\n\0#\0", 10);
}

static void
test_detect(void **state)
{
	static const unsigned char pe[] = { 'M', 'Z', 0x90, 0, 3, 0, 0, 0 };
	unsigned char head[AC_MAGIC_LEN];

	(void)state;
	assert_true(ac_script_format.detect((const unsigned char *)"Write-Output 1\r\n",
	    16));
	assert_true(ac_script_format.detect((const unsigned char *)"\xff\xfe#\0", 4));
	assert_false(ac_script_format.detect(pe, sizeof(pe)));
	assert_false(ac_script_format.detect((const unsigned char *)"a\x01", 2));
	assert_false(ac_script_format.detect((const unsigned char *)"", 0));
	/* a character cut off at the end of what detect() is shown */
	memset(head, 'a', sizeof(head));
	head[sizeof(head) - 1] = 0xc3;
	assert_true(ac_script_format.detect(head, sizeof(head)));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_unsigned_encodings),
		cmocka_unit_test(test_signed_block),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_digest_utf16le),
		cmocka_unit_test(test_embed),
		cmocka_unit_test(test_detect),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
