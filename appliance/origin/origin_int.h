/* Shared by the origin files (origin*.c) and nothing else. */
#ifndef SIGNET_ORIGIN_INT_H
#define SIGNET_ORIGIN_INT_H

#include <stddef.h>

#include <jansson.h>

/* origin.c: err, with the message in buf (cut at a character
 * boundary: messages end up in JSON). */
int origin_fail(char *buf, size_t len, int err, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* A value from a token or a submission, fit for a message and a log
 * line: at most max bytes cut at a character boundary, control
 * characters shown as '?'. */
const char *origin_clip(const char *s, size_t max, char *out,
    size_t outlen);
/* 1-max bytes, no control characters. */
int origin_printable(const char *s, size_t max);
int origin_https_url(const char *s);
/* Nested no deeper than SIGNET_MAX_JSON_DEPTH. */
int origin_json_depth_ok(const json_t *v, int depth);

/* origin_keys.c: the one algorithm a key verifies, or NULL. */
const char *origin_key_alg(const json_t *jwk);

/* origin_rules.c: refs, commit ids and repository URLs in one form. */
int origin_ref_valid(const char *ref);
const char *origin_ref_field(const char *full);
const char *origin_ref_name(const char *full, const char **type);
int origin_commit_norm(const char *in, char *out, size_t len);
int origin_url_norm(const char *in, char *out, size_t len);

#endif
