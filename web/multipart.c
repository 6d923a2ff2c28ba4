#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "multipart.h"
#include "rd.h"
#include "signet_limits.h"

/* The body is read into one buffer of this size; content leaves it in
 * spans of up to this much, which the artifact store copies into its
 * blocks. Large enough that a read takes several TLS records at once. */
#define MP_BUF		(128 * 1024)
/* a part's name or file name, unescaped (form.c holds them to far less;
 * this bounds the copy) */
#define MP_MAX_NAME	1024

/* mp_step: it needs more of the body; mp_fill: the body has ended */
#define MP_MORE		(MULTIPART_STOPPED + 1)
#define MP_END		(MULTIPART_STOPPED + 2)

enum mp_state {
	MP_PREAMBLE,	/* before the first boundary */
	MP_DELIM,	/* a boundary was read: "--", padding or CRLF next */
	MP_HEADERS,	/* a part's header lines */
	MP_CONTENT,	/* a part's content, up to the next boundary */
	MP_EPILOGUE,	/* after the closing boundary */
};

struct mp {
	const struct multipart_handler *h;
	multipart_read_fn read;
	void *rarg;
	uint8_t *buf;
	size_t off, len;	/* unread bytes are buf[off..len) */
	int eof;
	enum mp_state state;
	/* RFC 2046 5.1.1: a boundary is recognised as CRLF "--" boundary;
	 * the body's first boundary has no CRLF before it, so the parse
	 * starts with one in the buffer */
	uint8_t delim[4 + MULTIPART_MAX_BOUNDARY];
	size_t dlen;
	size_t slack;		/* preamble, padding and epilogue bytes */
	int padded;		/* spaces followed this boundary: no "--" */
	char name[MP_MAX_NAME];
	char filename[MP_MAX_NAME];
	int has_filename;
	char *err;
	size_t errlen;
};

static int mp_fail(struct mp *m, int r, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
mp_fail(struct mp *m, int r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(m->err, m->errlen, fmt, ap);
	va_end(ap);
	return r;
}

static int
mp_tchar(uint8_t c)
{
	/* RFC 9110 5.6.2 token characters */
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') ||
	    (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

/* The next byte without taking it, or -1 at the end. */
static int
mp_peek(const struct rd *r)
{
	return rd_left(r) > 0 ? r->buf[r->off] : -1;
}

static void
mp_ows(struct rd *r)
{
	while ((mp_peek(r) == ' ' || mp_peek(r) == '\t') && rd_skip(r, 1) == 0)
		;
}

/* A token, or a quoted-string unescaped (RFC 9110 5.6.4), into
 * out[cap], or passed over when out is NULL; 0, SIGNET_ERR_INVALID, or
 * SIGNET_ERR_TOO_LARGE. */
static int
mp_value(struct rd *r, char *out, size_t cap)
{
	size_t n = 0;
	uint8_t c;
	int quoted = mp_peek(r) == '"';

	if (quoted && rd_skip(r, 1) != 0)
		return SIGNET_ERR_INVALID;
	for (;;) {
		if (!quoted && (mp_peek(r) < 0 || !mp_tchar((uint8_t)mp_peek(r))))
			break;
		if (rd_u8(r, &c) != 0)
			return SIGNET_ERR_INVALID;	/* unclosed */
		if (quoted && c == '"')
			break;
		if (quoted && c == '\\' && rd_u8(r, &c) != 0)
			return SIGNET_ERR_INVALID;
		if (out == NULL)
			continue;
		if (n + 1 >= cap)
			return SIGNET_ERR_TOO_LARGE;
		out[n++] = (char)c;
	}
	if (!quoted && n == 0 && out != NULL)
		return SIGNET_ERR_INVALID;
	if (out != NULL)
		out[n] = '\0';
	return 0;
}

/* A parameter name: a token, lowercased into out[cap] (cut to fit: a
 * longer name is no name Signet knows). */
static int
mp_param_name(struct rd *r, char *out, size_t cap)
{
	size_t n = 0;
	uint8_t c;

	while (mp_peek(r) >= 0 && mp_tchar((uint8_t)mp_peek(r)) &&
	    rd_u8(r, &c) == 0)
		if (n + 1 < cap)
			out[n++] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
	out[n] = '\0';
	return n > 0 ? 0 : SIGNET_ERR_INVALID;
}

/* HTML's multipart/form-data encoding (WHATWG HTML 4.10.21.8) writes
 * a name's '"', CR and LF as %22, %0D and %0A; those three are decoded
 * (and the form then refuses a CR or LF), any other '%' is the name's
 * own: browsers send it as it is. */
static void
mp_html_unescape(char *s)
{
	static const struct {
		char esc[4];
		char c;
	} map[] = { { "%22", '"' }, { "%0D", '\r' }, { "%0A", '\n' } };
	size_t i, k, o = 0, n = strlen(s);

	for (i = 0; i < n; i++) {
		for (k = 0; k < sizeof(map) / sizeof(map[0]); k++)
			if (n - i >= 3 && strncasecmp(s + i, map[k].esc, 3) == 0)
				break;
		if (k < sizeof(map) / sizeof(map[0])) {
			s[o++] = map[k].c;
			i += 2;
		} else {
			s[o++] = s[i];
		}
	}
	s[o] = '\0';
}

/* ";" NAME "=" VALUE, the step of a header's parameter list (RFC 9110
 * 5.6.6): 0 with the lowercased name in pname and the cursor on the
 * value; 1 at the end of the list; SIGNET_ERR_INVALID. */
static int
mp_param(struct rd *r, char *pname, size_t cap)
{
	mp_ows(r);
	if (rd_left(r) == 0)
		return 1;
	if (mp_peek(r) != ';' || rd_skip(r, 1) != 0)
		return SIGNET_ERR_INVALID;
	mp_ows(r);
	if (rd_left(r) == 0)
		return 1;		/* a trailing ';' */
	if (mp_param_name(r, pname, cap) != 0)
		return SIGNET_ERR_INVALID;
	mp_ows(r);
	if (mp_peek(r) != '=' || rd_skip(r, 1) != 0)
		return SIGNET_ERR_INVALID;
	mp_ows(r);
	return 0;
}

/* Content-Disposition: form-data; name="..."; filename="..."
 * (RFC 7578 4.2, RFC 6266 4.1). Other parameters (filename*, which
 * RFC 7578 4.2 says not to use) are passed over. */
static int
mp_disposition(struct mp *m, const uint8_t *v, size_t n)
{
	static const char how[] = "; send Content-Disposition: form-data; "
	    "name=\"FIELD\" (and filename=\"NAME\" for a file), as curl -F "
	    "and browsers do";
	char pname[32], *dst;
	const uint8_t *type;
	int has_name = 0, rc;
	struct rd r;
	size_t tlen;

	rd_init(&r, v, n);
	for (tlen = 0; tlen < n && mp_tchar(v[tlen]); tlen++)
		;
	if (rd_take(&r, tlen, &type) != 0 || tlen != 9 ||
	    strncasecmp((const char *)type, "form-data", 9) != 0)
		return mp_fail(m, SIGNET_ERR_INVALID, "a part's "
		    "Content-Disposition is not form-data%s", how);
	m->has_filename = 0;
	while ((rc = mp_param(&r, pname, sizeof(pname))) == 0) {
		dst = NULL;
		if (strcmp(pname, "name") == 0) {
			if (has_name++)
				return mp_fail(m, SIGNET_ERR_INVALID, "a part "
				    "has two name parameters%s", how);
			dst = m->name;
		} else if (strcmp(pname, "filename") == 0) {
			if (m->has_filename++)
				return mp_fail(m, SIGNET_ERR_INVALID, "a part "
				    "has two filename parameters%s", how);
			dst = m->filename;
		}
		rc = mp_value(&r, dst, MP_MAX_NAME);
		if (rc == SIGNET_ERR_TOO_LARGE)
			return mp_fail(m, rc, "parameter '%s' of a part's "
			    "Content-Disposition is longer than %d bytes",
			    pname, MP_MAX_NAME - 1);
		if (rc != 0)
			return mp_fail(m, SIGNET_ERR_INVALID, "parameter "
			    "'%s' of a part's Content-Disposition is neither a "
			    "token nor a closed quoted string%s", pname, how);
		if (dst != NULL)
			mp_html_unescape(dst);
	}
	if (rc < 0)
		return mp_fail(m, SIGNET_ERR_INVALID, "a part's "
		    "Content-Disposition is not form-data; NAME=VALUE; ...%s",
		    how);
	if (!has_name)
		return mp_fail(m, SIGNET_ERR_INVALID, "a part's "
		    "Content-Disposition has no name%s", how);
	return 0;
}

/* The header lines of a part, each ending in CRLF (the empty line after
 * them already taken off). */
static int
mp_headers(struct mp *m, const uint8_t *p, size_t n)
{
	struct rd r;
	const uint8_t *line;
	size_t len, i, colon;
	int disposition = 0, rc;

	rd_init(&r, p, n);
	while (rd_left(&r) > 0) {
		if (rd_until(&r, '\n', SIGNET_MAX_PART_HEADERS, &line,
		    &len) != 0 || len == 0 || line[len - 1] != '\r')
			return mp_fail(m, SIGNET_ERR_INVALID, "a part's header "
			    "line does not end in CRLF");
		len--;
		/* names are handed on as C strings; other control
		 * characters reach the form, which names the field */
		if (memchr(line, '\0', len) != NULL)
			return mp_fail(m, SIGNET_ERR_INVALID, "a part's header "
			    "holds a NUL byte");
		/* RFC 9112 5.2: obs-fold is refused, not unfolded */
		if (len > 0 && (line[0] == ' ' || line[0] == '\t'))
			return mp_fail(m, SIGNET_ERR_INVALID, "a part's header "
			    "is folded onto a second line; send each header "
			    "on one line");
		for (colon = 0; colon < len && mp_tchar(line[colon]); colon++)
			;
		if (colon == 0 || colon == len || line[colon] != ':')
			return mp_fail(m, SIGNET_ERR_INVALID, "a part's header "
			    "line is not NAME: VALUE");
		for (i = colon + 1; i < len && (line[i] == ' ' ||
		    line[i] == '\t'); i++)
			;
		while (len > i && (line[len - 1] == ' ' ||
		    line[len - 1] == '\t'))
			len--;
		if (colon == 19 && strncasecmp((const char *)line,
		    "Content-Disposition", 19) == 0) {
			if (disposition++)
				return mp_fail(m, SIGNET_ERR_INVALID, "a part "
				    "has two Content-Disposition headers");
			if ((rc = mp_disposition(m, line + i, len - i)) != 0)
				return rc;
		} else if (colon == 25 && strncasecmp((const char *)line,
		    "Content-Transfer-Encoding", 25) == 0) {
			/* RFC 7578 4.7: not to be used; an encoded part
			 * would be stored as its encoding */
			if (!((len - i == 6 && strncasecmp((const char *)line +
			    i, "binary", 6) == 0) || (len - i == 4 &&
			    (strncasecmp((const char *)line + i, "8bit", 4) ==
			    0 || strncasecmp((const char *)line + i, "7bit",
			    4) == 0))))
				return mp_fail(m, SIGNET_ERR_INVALID, "a part "
				    "has a Content-Transfer-Encoding other "
				    "than binary; send the bytes as they are");
		}
		/* Content-Type and any other header say nothing Signet
		 * uses: the content's own bytes decide what it is */
	}
	if (!disposition)
		return mp_fail(m, SIGNET_ERR_INVALID, "a part has no "
		    "Content-Disposition header; send Content-Disposition: "
		    "form-data; name=\"FIELD\", as curl -F and browsers do");
	return 0;
}

/* Reads more of the body behind what is unread: 0, MP_END, or
 * SIGNET_ERR_TRUNCATED when the connection broke off. */
static int
mp_fill(struct mp *m)
{
	ssize_t n;

	if (m->off > 0) {
		memmove(m->buf, m->buf + m->off, m->len - m->off);
		m->len -= m->off;
		m->off = 0;
	}
	if (m->len == MP_BUF)
		return SIGNET_ERR_INTERNAL;	/* mp_step keeps less */
	if ((n = m->read(m->rarg, m->buf + m->len, MP_BUF - m->len)) == 0)
		return MP_END;
	if (n < 0 || (size_t)n > MP_BUF - m->len)
		return mp_fail(m, SIGNET_ERR_TRUNCATED, "the connection "
		    "broke off while the body was read; nothing was kept, "
		    "send it again");
	m->len += (size_t)n;
	return 0;
}

static int
mp_slack(struct mp *m, size_t n, const char *where)
{
	m->slack += n;
	if (m->slack > SIGNET_MAX_FORM_SLACK)
		return mp_fail(m, SIGNET_ERR_TOO_LARGE, "more than %d bytes "
		    "%s; a form holds its parts between its boundaries",
		    SIGNET_MAX_FORM_SLACK, where);
	return 0;
}

/* One step on what is buffered: 0 when it moved on, MP_MORE when it
 * needs more of the body, MULTIPART_STOPPED, or an error. */
static int
mp_step(struct mp *m)
{
	struct rd r;
	const uint8_t *p;
	size_t at, keep;
	int rc;

	rd_init(&r, m->buf + m->off, m->len - m->off);
	switch (m->state) {
	case MP_PREAMBLE:
	case MP_CONTENT:
		if (rd_find(&r, m->delim, m->dlen, &at) != 0) {
			/* what could begin a boundary stays for the next
			 * read; the rest goes on */
			keep = m->dlen - 1;
			if (rd_left(&r) <= keep)
				return MP_MORE;
			at = rd_left(&r) - keep;
		} else {
			keep = 0;
		}
		if (rd_take(&r, at, &p) != 0)
			return SIGNET_ERR_INTERNAL;
		if (m->state == MP_PREAMBLE) {
			/* the CRLF put before the body is not the client's */
			if ((rc = mp_slack(m, at, "before the first "
			    "boundary")) != 0)
				return rc;
		} else if (at > 0 && m->h->data(m->h->arg, p, at) != 0) {
			return MULTIPART_STOPPED;
		}
		m->off += at;
		if (keep > 0)
			return MP_MORE;
		m->off += m->dlen;
		m->padded = 0;
		m->state = MP_DELIM;
		return 0;
	case MP_DELIM:
		/* RFC 2046 5.1.1: "--" closes; else transport padding
		 * (spaces) and CRLF begin a part */
		if (rd_left(&r) < 2)
			return MP_MORE;
		if (!m->padded && r.buf[0] == '-' && r.buf[1] == '-') {
			m->off += 2;
			m->state = MP_EPILOGUE;
			return 0;
		}
		for (at = 0; at < rd_left(&r) && (r.buf[at] == ' ' ||
		    r.buf[at] == '\t'); at++)
			;
		if (at > 0 && (rc = mp_slack(m, at, "of spaces after a "
		    "boundary")) != 0)
			return rc;
		m->padded |= at > 0;
		m->off += at;
		if (rd_left(&r) - at < 2)
			return MP_MORE;
		if (r.buf[at] != '\r' || r.buf[at + 1] != '\n')
			return mp_fail(m, SIGNET_ERR_INVALID, "a line of the "
			    "body begins with the boundary and goes on: the "
			    "boundary must not occur in the content; send the "
			    "form with a boundary the content does not hold");
		m->off += 2;
		m->state = MP_HEADERS;
		return 0;
	case MP_HEADERS:
		if (rd_left(&r) >= 2 && r.buf[0] == '\r' && r.buf[1] == '\n')
			return mp_headers(m, r.buf, 0);	/* none: refused */
		if (rd_find(&r, "\r\n\r\n", 4, &at) != 0) {
			/* a block of the limit and its empty line fit in
			 * two bytes more */
			if (rd_left(&r) >= SIGNET_MAX_PART_HEADERS + 2)
				return mp_fail(m, SIGNET_ERR_TOO_LARGE, "a "
				    "part's headers are longer than %d bytes",
				    SIGNET_MAX_PART_HEADERS);
			return MP_MORE;
		}
		if (at + 2 > SIGNET_MAX_PART_HEADERS)
			return mp_fail(m, SIGNET_ERR_TOO_LARGE, "a part's "
			    "headers are longer than %d bytes",
			    SIGNET_MAX_PART_HEADERS);
		if ((rc = mp_headers(m, r.buf, at + 2)) != 0)
			return rc;
		m->off += at + 4;
		m->state = MP_CONTENT;
		if (m->h->part(m->h->arg, m->name, m->has_filename ?
		    m->filename : NULL) != 0)
			return MULTIPART_STOPPED;
		return 0;
	case MP_EPILOGUE:
		if ((rc = mp_slack(m, rd_left(&r), "after the closing "
		    "boundary")) != 0)
			return rc;
		m->off = m->len;
		return MP_MORE;
	}
	return SIGNET_ERR_INTERNAL;
}

int
multipart_parse(const char *boundary, multipart_read_fn read, void *rarg,
    const struct multipart_handler *h, char *err, size_t errlen)
{
	struct mp m;
	size_t blen = strlen(boundary);
	int rc;

	if (errlen > 0)
		err[0] = '\0';
	if (blen == 0 || blen > MULTIPART_MAX_BOUNDARY)
		return SIGNET_ERR_INVALID;
	memset(&m, 0, sizeof(m));
	m.h = h;
	m.read = read;
	m.rarg = rarg;
	m.err = err;
	m.errlen = errlen;
	memcpy(m.delim, "\r\n--", 4);
	memcpy(m.delim + 4, boundary, blen);
	m.dlen = 4 + blen;
	if ((m.buf = malloc(MP_BUF)) == NULL)
		return mp_fail(&m, SIGNET_ERR_NOMEM, "out of memory reading "
		    "the form; try again");
	memcpy(m.buf, "\r\n", 2);
	m.len = 2;
	m.state = MP_PREAMBLE;
	for (;;) {
		if ((rc = mp_step(&m)) == 0)
			continue;
		if (rc != MP_MORE || (rc = mp_fill(&m)) != 0)
			break;
	}
	if (rc == MP_END && m.state == MP_EPILOGUE)
		rc = 0;
	else if (rc == MP_END)
		rc = mp_fail(&m, SIGNET_ERR_TRUNCATED, "the body ended "
		    "before its closing boundary (--BOUNDARY--): the upload "
		    "was cut short; nothing was kept, send it again");
	free(m.buf);
	return rc;
}

int
multipart_boundary(const char *ct, char *out, char *err, size_t errlen)
{
	static const char how[] = "send Content-Type: multipart/form-data; "
	    "boundary=... as curl -F and browsers do";
	char pname[32], val[MULTIPART_MAX_BOUNDARY + 1];
	const uint8_t *type;
	struct rd r;
	size_t i, n;
	int found = 0, rc;

	rd_init(&r, ct, strlen(ct));
	if (rd_take(&r, 19, &type) != 0 ||
	    strncasecmp((const char *)type, "multipart/form-data", 19) != 0)
		return signet_errf(err, errlen, SIGNET_ERR_INVALID, "the body "
		    "is not multipart/form-data; %s", how);
	while ((rc = mp_param(&r, pname, sizeof(pname))) == 0) {
		if (strcmp(pname, "boundary") != 0) {
			if ((rc = mp_value(&r, NULL, 0)) != 0)
				break;
			continue;
		}
		if (found++)
			return signet_errf(err, errlen, SIGNET_ERR_INVALID,
			    "the Content-Type has two boundaries; %s", how);
		rc = mp_value(&r, val, sizeof(val));
		n = rc == 0 ? strlen(val) : 0;
		/* RFC 2046 5.1.1: bcharsnospace, or space but not last */
		for (i = 0; rc == 0 && i < n; i++)
			if (!((val[i] >= 'a' && val[i] <= 'z') ||
			    (val[i] >= 'A' && val[i] <= 'Z') ||
			    (val[i] >= '0' && val[i] <= '9') ||
			    (val[i] != '\0' && strchr("'()+_,-./:=? ",
			    val[i]) != NULL)))
				rc = SIGNET_ERR_INVALID;
		if (rc != 0 || n == 0 || val[n - 1] == ' ')
			return signet_errf(err, errlen, SIGNET_ERR_INVALID,
			    "the form's boundary must be 1-%d letters, digits "
			    "or '()+_,-./:=? (RFC 2046 5.1.1); %s",
			    MULTIPART_MAX_BOUNDARY, how);
		memcpy(out, val, n + 1);
	}
	if (rc < 0)
		return signet_errf(err, errlen, SIGNET_ERR_INVALID, "the "
		    "Content-Type's parameters are not ; NAME=VALUE; %s", how);
	if (!found)
		return signet_errf(err, errlen, SIGNET_ERR_INVALID, "the "
		    "Content-Type names no boundary; %s", how);
	return 0;
}
