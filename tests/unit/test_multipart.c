/* The multipart/form-data reader (web/multipart.c): what a client sends
 * is read the same in reads of any size; a body cut short, a boundary
 * that goes on, parts that do not name themselves and every limit are
 * refused with a message; a callback stops it at once. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "multipart.h"
#include "signet_limits.h"
#include "wbuf.h"

/* A body handed out in reads of at most chunk bytes; fail_at > 0 makes
 * the read at that offset fail. */
struct src {
	const uint8_t *p;
	size_t len, off, chunk, fail_at;
};

static ssize_t
src_read(void *arg, void *buf, size_t n)
{
	struct src *s = arg;

	if (s->fail_at > 0 && s->off >= s->fail_at)
		return -1;
	if (n > s->chunk)
		n = s->chunk;
	if (n > s->len - s->off)
		n = s->len - s->off;
	memcpy(buf, s->p + s->off, n);
	s->off += n;
	return (ssize_t)n;
}

/* What the handler saw, as text: P(name|filename) for a part (filename
 * "-" when there is none), then its content. */
struct seen {
	struct wbuf log;
	size_t parts, stop_at_part, stop_at_data, max_span;
};

static int
seen_part(void *arg, const char *name, const char *filename)
{
	struct seen *s = arg;
	char line[2200];
	int n;

	s->parts++;
	if (s->stop_at_part > 0 && s->parts == s->stop_at_part)
		return -1;
	n = snprintf(line, sizeof(line), "P(%s|%s)", name,
	    filename ? filename : "-");
	assert_true(n > 0 && (size_t)n < sizeof(line));
	assert_int_equal(wbuf_add(&s->log, line, (size_t)n), 0);
	return 0;
}

static int
seen_data(void *arg, const void *p, size_t n)
{
	struct seen *s = arg;

	assert_true(n > 0);
	if (n > s->max_span)
		s->max_span = n;
	if (s->stop_at_data > 0 && s->log.len + n >= s->stop_at_data)
		return -1;
	assert_int_equal(wbuf_add(&s->log, p, n), 0);
	return 0;
}

/* Parses body in reads of chunk bytes: the result, the log in *out
 * (NUL-terminated, caller frees) and the message in err. */
static int
parse_chunked(const char *boundary, const void *body, size_t len,
    size_t chunk, struct seen *sn, char *err, size_t errlen)
{
	struct src s = { body, len, 0, chunk, 0 };
	struct multipart_handler h = { seen_part, seen_data, sn };

	wbuf_init(&sn->log, 64 << 20);
	return multipart_parse(boundary, src_read, &s, &h, err, errlen);
}

static const char form[] =
    "--XyZ\r\n"
    "Content-Disposition: form-data; name=\"projectSlug\"\r\n"
    "\r\n"
    "demo-app\r\n"
    "--XyZ\r\n"
    "content-disposition: FORM-DATA; name=description\r\n"
    "Content-Type: text/plain; charset=utf-8\r\n"
    "\r\n"
    "two\r\nlines, and --XyZ not at a line's start\r\n-\r\n--Xy\r\n"
    "--XyZ\r\n"
    "Content-Disposition: form-data; name=\"artifact\"; "
    "filename=\"C:\\\\dir\\\\a \\\"b\\\".exe\"\r\n"
    "Content-Type: application/octet-stream\r\n"
    "\r\n"
    "MZ\r\n--Xy\r\n\r\n\0\xff--XyZ-\r\n"
    "--XyZ--\r\n";

static const char form_seen[] =
    "P(projectSlug|-)demo-app"
    "P(description|-)two\r\nlines, and --XyZ not at a line's start\r\n-"
    "\r\n--Xy"
    "P(artifact|C:\\dir\\a \"b\".exe)MZ\r\n--Xy\r\n\r\n\0\xff--XyZ-";

static void
test_every_read_size_reads_the_same(void **state)
{
	size_t chunk, want = sizeof(form_seen) - 1;
	struct seen sn;
	char err[256];

	(void)state;
	for (chunk = 1; chunk <= sizeof(form); chunk++) {
		memset(&sn, 0, sizeof(sn));
		assert_int_equal(parse_chunked("XyZ", form, sizeof(form) - 1,
		    chunk, &sn, err, sizeof(err)), 0);
		assert_int_equal(sn.log.len, want);
		assert_memory_equal(sn.log.buf, form_seen, want);
		assert_int_equal(sn.parts, 3);
		wbuf_free(&sn.log);
	}
}

/* Refused with code and a message holding want, read whole and a byte
 * at a time (an empty body too). */
static void
refused(const char *boundary, const char *body, int code, const char *want)
{
	size_t len = strlen(body), reads[2] = { 1, len > 0 ? len : 1 }, i;
	struct seen sn;
	char err[256];
	int r;

	for (i = 0; i < 2; i++) {
		memset(&sn, 0, sizeof(sn));
		err[0] = 'x';
		r = parse_chunked(boundary, body, len, reads[i], &sn, err,
		    sizeof(err));
		wbuf_free(&sn.log);
		if (r != code)
			fail_msg("'%s': %d, not %d (%s)", body, r, code, err);
		if (strstr(err, want) == NULL)
			fail_msg("'%s': message '%s' lacks '%s'", body, err, want);
	}
}

#define CD "Content-Disposition: form-data; name=\"a\"\r\n"

static void
test_malformed_bodies_are_refused(void **state)
{
	(void)state;
	/* cut short: inside a part, in a boundary, in headers, no body */
	refused("b", "--b\r\n" CD "\r\ndata", SIGNET_ERR_TRUNCATED, "cut short");
	refused("b", "--b\r\n" CD "\r\ndata\r\n--b", SIGNET_ERR_TRUNCATED,
	    "cut short");
	refused("b", "--b\r\n" CD "\r\ndata\r\n--b-", SIGNET_ERR_TRUNCATED,
	    "cut short");
	refused("b", "--b\r\nContent-Disp", SIGNET_ERR_TRUNCATED, "cut short");
	refused("b", "", SIGNET_ERR_TRUNCATED, "cut short");
	refused("b", "no boundary at all", SIGNET_ERR_TRUNCATED, "cut short");
	/* the boundary goes on where a line begins with it */
	refused("b", "--b\r\n" CD "\r\nx\r\n--bb\r\n--b--", SIGNET_ERR_INVALID,
	    "goes on");
	refused("b", "--bX\r\n" CD "\r\nx\r\n--b--", SIGNET_ERR_INVALID,
	    "goes on");
	refused("b", "--b\r\n" CD "\r\nx\r\n--b-x", SIGNET_ERR_INVALID,
	    "goes on");
	/* spaces, then "--": not a close, however the reads fall */
	refused("b", "--b\r\n" CD "\r\nx\r\n--b  --", SIGNET_ERR_INVALID,
	    "goes on");
	/* parts that do not say what they are */
	refused("b", "--b\r\n\r\nx\r\n--b--", SIGNET_ERR_INVALID,
	    "no Content-Disposition");
	refused("b", "--b\r\nContent-Type: text/plain\r\n\r\nx\r\n--b--",
	    SIGNET_ERR_INVALID, "no Content-Disposition");
	refused("b", "--b\r\nContent-Disposition: attachment; name=a\r\n\r\n"
	    "x\r\n--b--", SIGNET_ERR_INVALID, "not form-data");
	refused("b", "--b\r\nContent-Disposition: form-data\r\n\r\nx\r\n--b--",
	    SIGNET_ERR_INVALID, "no name");
	refused("b", "--b\r\nContent-Disposition: form-data; filename=\"f\"\r\n"
	    "\r\nx\r\n--b--", SIGNET_ERR_INVALID, "no name");
	refused("b", "--b\r\nContent-Disposition: form-data; name=a; name=b\r\n"
	    "\r\nx\r\n--b--", SIGNET_ERR_INVALID, "two name");
	refused("b", "--b\r\nContent-Disposition: form-data; name=a; "
	    "filename=x; filename=y\r\n\r\nx\r\n--b--", SIGNET_ERR_INVALID,
	    "two filename");
	refused("b", "--b\r\n" CD CD "\r\nx\r\n--b--", SIGNET_ERR_INVALID,
	    "two Content-Disposition");
	refused("b", "--b\r\nContent-Disposition: form-data; name=\"a\r\n\r\n"
	    "x\r\n--b--", SIGNET_ERR_INVALID, "quoted string");
	refused("b", "--b\r\nContent-Disposition: form-data; name=\r\n\r\n"
	    "x\r\n--b--", SIGNET_ERR_INVALID, "token");
	refused("b", "--b\r\nContent-Disposition: form-data name=a\r\n\r\n"
	    "x\r\n--b--", SIGNET_ERR_INVALID, "not form-data");
	refused("b", "--b\r\nContent-Disposition: form-data; name=a x\r\n\r\n"
	    "x\r\n--b--", SIGNET_ERR_INVALID, "NAME=VALUE");
	refused("b", "--b\r\nContent-Disposition: form-data; =a\r\n\r\n"
	    "x\r\n--b--", SIGNET_ERR_INVALID, "NAME=VALUE");
	/* header lines */
	refused("b", "--b\r\n" CD " folded: on\r\n\r\nx\r\n--b--",
	    SIGNET_ERR_INVALID, "folded");
	refused("b", "--b\r\n" CD "no colon\r\n\r\nx\r\n--b--",
	    SIGNET_ERR_INVALID, "NAME: VALUE");
	refused("b", "--b\r\n" CD "Bare: LF\n\r\n\r\nx\r\n--b--",
	    SIGNET_ERR_INVALID, "CRLF");
	refused("b", "--b\r\n" CD "Content-Transfer-Encoding: base64\r\n\r\n"
	    "eA==\r\n--b--", SIGNET_ERR_INVALID, "Content-Transfer-Encoding");
}

static void
test_nul_in_a_header_is_refused(void **state)
{
	static const char body[] = "--b\r\nContent-Disposition: form-data; "
	    "name=\"a\0b\"\r\n\r\nx\r\n--b--";
	struct seen sn = { 0 };
	char err[256];

	(void)state;
	assert_int_equal(parse_chunked("b", body, sizeof(body) - 1, 7, &sn,
	    err, sizeof(err)), SIGNET_ERR_INVALID);
	assert_non_null(strstr(err, "NUL"));
	assert_int_equal(sn.parts, 0);
	wbuf_free(&sn.log);
}

/* head, then n copies of c, then tail, in a new string */
static char *
build(const char *head, char c, size_t n, const char *tail)
{
	size_t h = strlen(head), t = strlen(tail);
	char *s = malloc(h + n + t + 1);

	assert_non_null(s);
	memcpy(s, head, h);
	memset(s + h, c, n);
	memcpy(s + h + n, tail, t + 1);
	return s;
}

static void
test_limits(void **state)
{
	static const char head[] = "--b\r\n" CD "X-Long: ";
	/* the header block is everything from after "--b\r\n" to the
	 * last header line's CRLF */
	size_t fits = SIGNET_MAX_PART_HEADERS - (sizeof(head) - 1 - 5) - 2;
	struct seen sn;
	char err[256], *body;

	(void)state;
	body = build(head, 'v', fits + 1, "\r\n\r\nx\r\n--b--");
	refused("b", body, SIGNET_ERR_TOO_LARGE, "headers are longer");
	free(body);
	body = build(head, 'v', fits, "\r\n\r\nx\r\n--b--");
	for (size_t chunk = 1; chunk < 2000; chunk += 333) {
		memset(&sn, 0, sizeof(sn));
		assert_int_equal(parse_chunked("b", body, strlen(body), chunk,
		    &sn, err, sizeof(err)), 0);
		wbuf_free(&sn.log);
	}
	free(body);
	/* a preamble, spaces after a boundary, an epilogue past the slack */
	body = build("", 'p', SIGNET_MAX_FORM_SLACK + 1, "\r\n--b--");
	refused("b", body, SIGNET_ERR_TOO_LARGE, "before the first boundary");
	free(body);
	body = build("--b", ' ', SIGNET_MAX_FORM_SLACK + 1, "\r\n" CD
	    "\r\nx\r\n--b--");
	refused("b", body, SIGNET_ERR_TOO_LARGE, "spaces after a boundary");
	free(body);
	body = build("--b\r\n" CD "\r\nx\r\n--b--", 'e',
	    SIGNET_MAX_FORM_SLACK + 1, "");
	refused("b", body, SIGNET_ERR_TOO_LARGE, "after the closing boundary");
	free(body);
	/* a name longer than the reader holds */
	body = build("--b\r\nContent-Disposition: form-data; name=\"", 'n',
	    1024, "\"\r\n\r\nx\r\n--b--");
	refused("b", body, SIGNET_ERR_TOO_LARGE, "longer than 1023");
	free(body);
}

static void
test_what_rfc_2046_allows_is_read(void **state)
{
	/* a preamble, padding after boundaries, no CRLF after the close,
	 * an epilogue; names as tokens, empty content, filename="" */
	static const char body[] =
	    "This is the preamble.\r\n"
	    "--b \t\r\n"
	    "Content-Disposition: form-data; name=a; filename=\"\"\r\n"
	    "\r\n"
	    "\r\n"
	    "--b\r\n"
	    "Content-Disposition: form-data ; name = \"q%22%0d%0A%41\" ;\r\n"
	    "Content-Transfer-Encoding: binary\r\n"
	    "\r\n"
	    "v\r\n"
	    "--b--  epilogue\r\nmore";
	static const char want[] = "P(a|)P(q\"\r\n%41|-)v";
	struct seen sn;
	size_t chunk;
	char err[256];

	(void)state;
	for (chunk = 1; chunk < sizeof(body); chunk += 5) {
		memset(&sn, 0, sizeof(sn));
		assert_int_equal(parse_chunked("b", body, sizeof(body) - 1,
		    chunk, &sn, err, sizeof(err)), 0);
		assert_int_equal(sn.log.len, sizeof(want) - 1);
		assert_memory_equal(sn.log.buf, want, sizeof(want) - 1);
		wbuf_free(&sn.log);
	}
}

static void
test_a_callback_stops_it(void **state)
{
	static const char body[] = "--b\r\n" CD "\r\none\r\n--b\r\n" CD
	    "\r\ntwo\r\n--b--";
	struct seen sn;
	char err[256];

	(void)state;
	memset(&sn, 0, sizeof(sn));
	sn.stop_at_part = 2;
	assert_int_equal(parse_chunked("b", body, sizeof(body) - 1, 4, &sn,
	    err, sizeof(err)), MULTIPART_STOPPED);
	assert_int_equal(sn.parts, 2);
	assert_int_equal(sn.log.len, strlen("P(a|-)one"));
	assert_string_equal(err, "");
	wbuf_free(&sn.log);
	memset(&sn, 0, sizeof(sn));
	sn.stop_at_data = 7;
	assert_int_equal(parse_chunked("b", body, sizeof(body) - 1, 100, &sn,
	    err, sizeof(err)), MULTIPART_STOPPED);
	assert_int_equal(sn.parts, 1);
	wbuf_free(&sn.log);
}

static void
test_a_broken_connection_is_an_error(void **state)
{
	static const char body[] = "--b\r\n" CD "\r\none\r\n--b--";
	struct src s = { (const uint8_t *)body, sizeof(body) - 1, 0, 3, 20 };
	struct seen sn = { 0 };
	struct multipart_handler h = { seen_part, seen_data, &sn };
	char err[256];

	(void)state;
	wbuf_init(&sn.log, 64 << 20);
	assert_int_equal(multipart_parse("b", src_read, &s, &h, err,
	    sizeof(err)), SIGNET_ERR_TRUNCATED);
	assert_non_null(strstr(err, "broke off"));
	wbuf_free(&sn.log);
}

/* A large content arrives whole, in spans no larger than the buffer,
 * whatever the reads; bytes that look like a boundary's start do not
 * end it. */
static void
test_large_content(void **state)
{
	static const char head[] = "--0123456789abcdef0123456789abcdef\r\n"
	    "Content-Disposition: form-data; name=\"artifact\"; "
	    "filename=\"big\"\r\n\r\n";
	static const char tail[] = "\r\n--0123456789abcdef0123456789abcdef--\r\n";
	size_t n = 3 * 1024 * 1024 + 17, i, chunks[] = { 1000, 16384, 65536,
	    1 << 20 };
	uint8_t *content = malloc(n), *body;
	size_t blen = sizeof(head) - 1 + n + sizeof(tail) - 1, k, pre;
	struct seen sn;
	char err[256];

	(void)state;
	assert_non_null(content);
	for (i = 0; i < n; i++)
		content[i] = (uint8_t)(i * 2654435761u >> 13);
	/* near misses of the delimiter, across read edges */
	for (i = 5000; i + 40 < n; i += 65521)
	{
		memcpy(content + i, "\r\n--0123456789abcdef0123456789abcde", 35);
		content[i + 35] = 'X';
	}
	assert_non_null(body = malloc(blen));
	memcpy(body, head, sizeof(head) - 1);
	memcpy(body + sizeof(head) - 1, content, n);
	memcpy(body + sizeof(head) - 1 + n, tail, sizeof(tail) - 1);
	pre = strlen("P(artifact|big)");
	for (k = 0; k < sizeof(chunks) / sizeof(chunks[0]); k++) {
		memset(&sn, 0, sizeof(sn));
		assert_int_equal(parse_chunked("0123456789abcdef0123456789abcdef",
		    body, blen, chunks[k], &sn, err, sizeof(err)), 0);
		assert_int_equal(sn.log.len, pre + n);
		assert_memory_equal(sn.log.buf + pre, content, n);
		assert_true(sn.max_span <= 128 * 1024);
		wbuf_free(&sn.log);
	}
	free(body);
	free(content);
}

static void
boundary_is(const char *ct, const char *want)
{
	char out[MULTIPART_MAX_BOUNDARY + 1], err[256];

	if (multipart_boundary(ct, out, err, sizeof(err)) != 0)
		fail_msg("'%s' refused: %s", ct, err);
	assert_string_equal(out, want);
}

static void
boundary_refused(const char *ct, const char *want)
{
	char out[MULTIPART_MAX_BOUNDARY + 1], err[256];

	assert_int_equal(multipart_boundary(ct, out, err, sizeof(err)),
	    SIGNET_ERR_INVALID);
	if (strstr(err, want) == NULL)
		fail_msg("'%s': message '%s' lacks '%s'", ct, err, want);
}

static void
test_boundary_parameter(void **state)
{
	char seventy[80], ct[128];

	(void)state;
	boundary_is("multipart/form-data; boundary=----WebKitFormBoundaryA1b2",
	    "----WebKitFormBoundaryA1b2");
	boundary_is("Multipart/Form-Data;BOUNDARY=\"a b:c\"", "a b:c");
	boundary_is("multipart/form-data; charset=utf-8; boundary=x ;", "x");
	boundary_is("multipart/form-data; x=\"" "long, and quoted; with "
	    "boundary=no inside it, longer than seventy bytes of text\"; "
	    "boundary=y", "y");
	memset(seventy, 'b', 70);
	seventy[70] = '\0';
	snprintf(ct, sizeof(ct), "multipart/form-data; boundary=%s", seventy);
	boundary_is(ct, seventy);
	snprintf(ct, sizeof(ct), "multipart/form-data; boundary=%sb", seventy);
	boundary_refused(ct, "1-70");
	boundary_refused("multipart/form-data", "no boundary");
	boundary_refused("multipart/form-data; charset=utf-8", "no boundary");
	boundary_refused("multipart/form-data; boundary=", "1-70");
	boundary_refused("multipart/form-data; boundary=\"\"", "1-70");
	boundary_refused("multipart/form-data; boundary=\"a b \"", "1-70");
	boundary_refused("multipart/form-data; boundary=\"a\\\"b\"", "1-70");
	boundary_refused("multipart/form-data; boundary=a; boundary=b", "two");
	boundary_refused("multipart/form-datax; boundary=a", "NAME=VALUE");
	boundary_refused("multipart/mixed; boundary=a", "not multipart");
	boundary_refused("multipart/form-data; boundary=\"a", "1-70");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_read_size_reads_the_same),
		cmocka_unit_test(test_malformed_bodies_are_refused),
		cmocka_unit_test(test_nul_in_a_header_is_refused),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_what_rfc_2046_allows_is_read),
		cmocka_unit_test(test_a_callback_stops_it),
		cmocka_unit_test(test_a_broken_connection_is_an_error),
		cmocka_unit_test(test_large_content),
		cmocka_unit_test(test_boundary_parameter),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
