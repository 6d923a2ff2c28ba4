/* application/x-www-form-urlencoded bodies and query strings (WHATWG URL
 * standard, "application/x-www-form-urlencoded parsing"), read strictly:
 * a '%' must start two hex digits, a value must be valid UTF-8 without
 * control characters, names are given once, and the number and length
 * of fields are bounded. CivetWeb's own parser is never given these
 * bytes (it loops forever on a body such as "username=%"). Also the one
 * check of network text that every form path shares. */
#ifndef SIGNET_URLFORM_H
#define SIGNET_URLFORM_H

#include <stddef.h>

#include <jansson.h>

#include "err.h"

struct urlform_limits {
	size_t max_fields;
	size_t max_name;	/* bytes, decoded */
	size_t max_value;	/* bytes, decoded */
	int multiline;		/* values may hold \t \n \r */
};

/* Parses len bytes of a body or query string into a new object of
 * strings; 0, or SIGNET_ERR_INVALID / SIGNET_ERR_TOO_LARGE with a
 * message in err that names the field and says what is wrong. */
int urlform_parse(const void *buf, size_t len,
    const struct urlform_limits *lim, json_t **out, char *err,
    size_t errlen) SIGNET_WUR;

/* 1 if p[0..n) is valid UTF-8 (RFC 3629: shortest form, no surrogates,
 * at most U+10FFFF) without NUL, other C0 controls or DEL; multiline
 * allows tab, line feed and carriage return. */
int urlform_text_ok(const void *p, size_t n, int multiline);

#endif
