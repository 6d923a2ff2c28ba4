#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "rd.h"
#include "urlform.h"

int
urlform_text_ok(const void *buf, size_t n, int multiline)
{
	const uint8_t *p = buf;
	size_t i = 0, k, len;
	uint32_t c, min;

	while (i < n) {
		c = p[i];
		if (c < 0x80) {
			if (c == 0x7f || (c < 0x20 && !(multiline &&
			    (c == '\t' || c == '\n' || c == '\r'))))
				return 0;
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) {
			len = 2;
			c &= 0x1f;
			min = 0x80;
		} else if (c >= 0xe0 && c <= 0xef) {
			len = 3;
			c &= 0x0f;
			min = 0x800;
		} else if (c >= 0xf0 && c <= 0xf4) {
			len = 4;
			c &= 0x07;
			min = 0x10000;
		} else {
			return 0;	/* continuation byte, 0xc0, 0xc1, > 0xf4 */
		}
		if (n - i < len)
			return 0;
		for (k = 1; k < len; k++) {
			if ((p[i + k] & 0xc0) != 0x80)
				return 0;
			c = (c << 6) | (p[i + k] & 0x3f);
		}
		/* overlong forms, UTF-16 surrogates, beyond U+10FFFF; C1
		 * controls are controls too */
		if (c < min || (c >= 0xd800 && c <= 0xdfff) || c > 0x10ffff ||
		    (c >= 0x80 && c <= 0x9f))
			return 0;
		i += len;
	}
	return 1;
}

static int
urlform_hex(uint8_t c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Decodes one name or value: '+' is a space, '%' and exactly two hex
 * digits is a byte; anything else after '%' is refused rather than
 * passed on as it stands. out has room for n bytes. */
static int
urlform_decode(const uint8_t *in, size_t n, uint8_t *out, size_t *outlen)
{
	struct rd r;
	uint8_t c, h, l;
	size_t o = 0;

	rd_init(&r, in, n);
	while (rd_left(&r) > 0) {
		if (rd_u8(&r, &c) != 0)
			return SIGNET_ERR_INVALID;
		if (c == '%') {
			if (rd_u8(&r, &h) != 0 || rd_u8(&r, &l) != 0 ||
			    urlform_hex(h) < 0 || urlform_hex(l) < 0)
				return SIGNET_ERR_INVALID;
			c = (uint8_t)(urlform_hex(h) << 4 | urlform_hex(l));
		} else if (c == '+') {
			c = ' ';
		}
		out[o++] = c;
	}
	*outlen = o;
	return 0;
}

/* One NAME=VALUE pair into obj. */
static int
urlform_pair(const uint8_t *p, size_t n, const struct urlform_limits *lim,
    json_t *obj, uint8_t *scratch, char *err, size_t errlen)
{
	const uint8_t *eq = memchr(p, '=', n);
	char name[256];
	size_t nlen, vlen, rawname;
	json_t *v;

	if (eq == NULL)
		return signet_errf(err, errlen, SIGNET_ERR_INVALID, "a form "
		    "field has no '=': send NAME=VALUE pairs joined by '&'");
	rawname = (size_t)(eq - p);
	if (rawname == 0)
		return signet_errf(err, errlen, SIGNET_ERR_INVALID, "a form "
		    "field has no name (NAME=VALUE)");
	if (rawname > 3 * lim->max_name || lim->max_name >= sizeof(name))
		return signet_errf(err, errlen, SIGNET_ERR_TOO_LARGE, "form "
		    "field names are at most %zu bytes", lim->max_name);
	if (urlform_decode(p, rawname, scratch, &nlen) != 0)
		return signet_errf(err, errlen, SIGNET_ERR_INVALID, "a form "
		    "field name has a '%%' that is not followed by two hex "
		    "digits (write '%%' as %%25)");
	if (nlen > lim->max_name)
		return signet_errf(err, errlen, SIGNET_ERR_TOO_LARGE, "form "
		    "field names are at most %zu bytes", lim->max_name);
	if (!urlform_text_ok(scratch, nlen, 0))
		return signet_errf(err, errlen, SIGNET_ERR_INVALID, "a form "
		    "field name is not valid UTF-8 or holds control characters");
	memcpy(name, scratch, nlen);
	name[nlen] = '\0';
	if (json_object_get(obj, name) != NULL)
		return signet_errf(err, errlen, SIGNET_ERR_INVALID, "form "
		    "field '%s' is given twice", name);
	if (json_object_size(obj) >= lim->max_fields)
		return signet_errf(err, errlen, SIGNET_ERR_TOO_LARGE, "at most "
		    "%zu form fields are accepted", lim->max_fields);
	if (n - rawname - 1 > 3 * lim->max_value)
		return signet_errf(err, errlen, SIGNET_ERR_TOO_LARGE, "form "
		    "field '%s' is longer than %zu bytes", name, lim->max_value);
	if (urlform_decode(eq + 1, n - rawname - 1, scratch, &vlen) != 0)
		return signet_errf(err, errlen, SIGNET_ERR_INVALID, "form "
		    "field '%s' has a '%%' that is not followed by two hex "
		    "digits (write '%%' as %%25)", name);
	if (vlen > lim->max_value)
		return signet_errf(err, errlen, SIGNET_ERR_TOO_LARGE, "form "
		    "field '%s' is longer than %zu bytes", name, lim->max_value);
	if (!urlform_text_ok(scratch, vlen, lim->multiline))
		return signet_errf(err, errlen, SIGNET_ERR_INVALID, "form "
		    "field '%s' is not valid UTF-8 or holds control characters",
		    name);
	if ((v = json_stringn((const char *)scratch, vlen)) == NULL ||
	    json_object_set_new(obj, name, v) != 0)
		return signet_errf(err, errlen, SIGNET_ERR_NOMEM, "out of "
		    "memory");
	return 0;
}

int
urlform_parse(const void *buf, size_t len, const struct urlform_limits *lim,
    json_t **out, char *err, size_t errlen)
{
	struct rd r;
	const uint8_t *p;
	uint8_t *scratch = NULL;
	json_t *obj = NULL;
	size_t n;
	int rc = SIGNET_ERR_NOMEM;

	*out = NULL;
	if (errlen > 0)
		err[0] = '\0';
	/* a decoded value is never longer than its encoding */
	if ((scratch = malloc(len > 0 ? len : 1)) == NULL ||
	    (obj = json_object()) == NULL) {
		(void)signet_errf(err, errlen, rc, "out of memory");
		goto out;
	}
	rd_init(&r, buf, len);
	while (rd_left(&r) > 0) {
		/* every turn consumes at least one byte */
		if (rd_until(&r, '&', len, &p, &n) != 0 &&
		    rd_rest(&r, len, &p, &n) != 0) {
			rc = signet_errf(err, errlen, SIGNET_ERR_INTERNAL,
			    "form could not be read");
			goto out;
		}
		/* "a=1&&b=2" and a trailing '&' carry no field (WHATWG
		 * skips empty sequences) */
		if (n == 0)
			continue;
		if ((rc = urlform_pair(p, n, lim, obj, scratch, err,
		    errlen)) != 0)
			goto out;
	}
	*out = obj;
	obj = NULL;
	rc = 0;
out:
	/* values may be passwords */
	if (scratch != NULL)
		OPENSSL_cleanse(scratch, len > 0 ? len : 1);
	free(scratch);
	json_decref(obj);
	return rc;
}
