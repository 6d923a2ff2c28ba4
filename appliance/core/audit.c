/* The audit log as a hash chain (docs/audit.md is the auditor's
 * description of the format; keep the two in step).
 *
 * Canonical encoding: jansson's json_dumps(entry, JSON_COMPACT |
 * JSON_SORT_KEYS | JSON_ENSURE_ASCII), that is: no whitespace, object
 * members sorted by the bytes of their UTF-8 keys, every string escaped as
 * \" \\ \b \f \n \r \t, other characters below U+0020 and everything above
 * U+007F as \uXXXX with UPPERCASE hex digits (code points above U+FFFF as a
 * UTF-16 surrogate pair, RFC 8259 section 7), U+0020..U+007F (DEL
 * included) and '/' as themselves; integers in plain decimal. Real numbers
 * and NUL characters are refused on append, because independent
 * implementations cannot reproduce jansson's "%.17g" reals and jansson's
 * decoder rejects "\u0000" by default.
 *
 * hash = lowercase hex SHA-256 (FIPS 180-4) of the canonical encoding of
 * the entry without its "hash" member. An exported line is the canonical
 * encoding of the entry with "hash"; the stored LMDB value is that same
 * line, so what is listed, exported and verified never differs from what
 * was hashed (no schema "v" member is ever part of an entry). */
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "audit.h"
#include "log.h"
#include "rd.h"
#include "request.h"
#include "signet_limits.h"

#define AUDIT_CANON	(JSON_COMPACT | JSON_SORT_KEYS | JSON_ENSURE_ASCII)
#define AUDIT_HEAD_KEY	"audit_head"

static const char audit_zero_hash[AUDIT_HASH_HEX_LEN + 1] =
    "0000000000000000000000000000000000000000000000000000000000000000";

static const char *const audit_actor_types[] = {
	"user", "client-certificate", "system", NULL
};

static void
audit_be64(uint64_t v, unsigned char out[8])
{
	int i;

	for (i = 7; i >= 0; i--) {
		out[i] = (unsigned char)(v & 0xff);
		v >>= 8;
	}
}

static int
audit_sha256_hex(const char *s, size_t n, char out[AUDIT_HASH_HEX_LEN + 1])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0, i;

	if (EVP_Digest(s, n, md, &mdlen, EVP_sha256(), NULL) != 1 ||
	    mdlen * 2 != AUDIT_HASH_HEX_LEN) {
		log_ssl("audit: SHA-256");
		return SIGNET_ERR_CRYPTO;
	}
	for (i = 0; i < mdlen; i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 0x0f];
	}
	out[AUDIT_HASH_HEX_LEN] = '\0';
	return 0;
}

/* Exactly the form audit_sha256_hex writes, so string comparison of two
 * valid hashes is comparison of the digests. */
static int
audit_is_hash(const char *s)
{
	size_t i;

	for (i = 0; i < AUDIT_HASH_HEX_LEN; i++)
		if (!((s[i] >= '0' && s[i] <= '9') ||
		    (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return s[i] == '\0';
}

static int
audit_valid_actor_type(const char *s)
{
	size_t i;

	for (i = 0; audit_actor_types[i] != NULL; i++)
		if (strcmp(s, audit_actor_types[i]) == 0)
			return 1;
	return 0;
}

/* "noun.verb" words of [a-z0-9-] joined by single dots, so auditors can
 * filter on prefixes ("signing-request."). */
static int
audit_valid_action(const char *s)
{
	size_t i, n = strlen(s);
	int dots = 0;

	if (n == 0 || n > SIGNET_MAX_AUDIT_ACTION || s[0] == '.' ||
	    s[n - 1] == '.')
		return 0;
	for (i = 0; i < n; i++) {
		if (s[i] == '.') {
			if (s[i - 1] == '.')
				return 0;
			dots++;
		} else if (!((s[i] >= 'a' && s[i] <= 'z') ||
		    (s[i] >= '0' && s[i] <= '9') || s[i] == '-')) {
			return 0;
		}
	}
	return dots > 0;
}

/* What the canonical encoding cannot carry reproducibly (see the top of
 * the file). depth bounds the recursion before anything else is read. */
static int
audit_check_value(json_t *v, int depth, const char **why)
{
	const char *key;
	size_t i;
	json_t *m;
	int r;

	if (depth > SIGNET_MAX_JSON_DEPTH) {
		*why = "details are nested too deeply";
		return SIGNET_ERR_INVALID;
	}
	switch (json_typeof(v)) {
	case JSON_REAL:
		*why = "details contain a real number (only integers are "
		    "allowed)";
		return SIGNET_ERR_INVALID;
	case JSON_STRING:
		if (memchr(json_string_value(v), '\0',
		    json_string_length(v)) != NULL) {
			*why = "details contain a NUL character";
			return SIGNET_ERR_INVALID;
		}
		return 0;
	case JSON_ARRAY:
		for (i = 0; i < json_array_size(v); i++)
			if ((r = audit_check_value(json_array_get(v, i),
			    depth + 1, why)) != 0)
				return r;
		return 0;
	case JSON_OBJECT:
		/* keys cannot hold a NUL here: json_deep_copy (append) keys
		 * the copy by C string and the decoder (verify) refuses one */
		json_object_foreach(v, key, m)
			if ((r = audit_check_value(m, depth + 1, why)) != 0)
				return r;
		return 0;
	default:
		return 0;
	}
}

/* The head is (0, zeros) until the first append. */
static int
audit_head_get(struct store_txn *t, uint64_t *seq,
    char hash[AUDIT_HASH_HEX_LEN + 1])
{
	json_t *h = NULL;
	json_int_t s;
	const char *hx;
	int r;

	r = store_get_json(t, STORE_META, AUDIT_HEAD_KEY, &h);
	if (r == SIGNET_ERR_NOT_FOUND) {
		*seq = 0;
		memcpy(hash, audit_zero_hash, sizeof(audit_zero_hash));
		r = 0;
		goto out;
	}
	if (r != 0)
		goto out;
	r = SIGNET_ERR_STORE;
	if (json_unpack(h, "{s:I, s:s}", "seq", &s, "hash", &hx) != 0 ||
	    s < 1 || s == LLONG_MAX || !audit_is_hash(hx)) {
		log_err("audit: the chain head record is damaged");
		goto out;
	}
	*seq = (uint64_t)s;
	memcpy(hash, hx, AUDIT_HASH_HEX_LEN + 1);
	r = 0;
out:
	json_decref(h);
	return r;
}

static int
audit_head_put(struct store_txn *t, uint64_t seq, const char *hash)
{
	json_t *h;
	int r;

	if ((h = json_pack("{s:I, s:s}", "seq", (json_int_t)seq,
	    "hash", hash)) == NULL)
		return SIGNET_ERR_NOMEM;
	r = store_put_json(t, STORE_META, AUDIT_HEAD_KEY, h);
	json_decref(h);
	return r;
}

static int
audit_pack_err(const json_error_t *e)
{
	switch (json_error_code(e)) {
	case json_error_invalid_utf8:
		return SIGNET_ERR_INVALID;
	case json_error_out_of_memory:
		return SIGNET_ERR_NOMEM;
	default:
		return SIGNET_ERR_INTERNAL;
	}
}

int
audit_append(struct store_txn *t, const char *actor_type, const char *actor,
    const char *action, const char *target, const json_t *details)
{
	char now[32], prev[AUDIT_HASH_HEX_LEN + 1], hash[AUDIT_HASH_HEX_LEN + 1];
	char *canon = NULL, *line = NULL;
	unsigned char key[8];
	json_t *d = NULL, *entry = NULL;
	json_error_t jerr;
	const void *old;
	const char *why = "";
	size_t oldlen, n;
	uint64_t seq;
	int r = SIGNET_ERR_INVALID;

	if (t == NULL || actor_type == NULL || actor == NULL ||
	    action == NULL || !audit_valid_actor_type(actor_type) ||
	    actor[0] == '\0' || !audit_valid_action(action) ||
	    (details != NULL && !json_is_object(details))) {
		log_err("audit: refusing a malformed entry (%s)",
		    action != NULL && audit_valid_action(action) ? action :
		    "bad action");
		goto out;
	}
	/* a private copy: what is hashed cannot change under us */
	if ((d = details != NULL ? json_deep_copy(details) :
	    json_object()) == NULL) {
		r = SIGNET_ERR_NOMEM;
		goto out;
	}
	if ((r = audit_check_value(d, 1, &why)) != 0) {
		log_err("audit: %s: %s", action, why);
		goto out;
	}
	if ((r = audit_head_get(t, &seq, prev)) != 0)
		goto out;
	seq++;
	request_now(now, NULL);
	if ((entry = json_pack_ex(&jerr, 0,
	    "{s:I, s:s, s:{s:s, s:s}, s:s, s:s?, s:O, s:s}",
	    "seq", (json_int_t)seq,
	    "at", now,
	    "actor", "type", actor_type, "name", actor,
	    "action", action,
	    "target", target,
	    "details", d,
	    "prevHash", prev)) == NULL) {
		r = audit_pack_err(&jerr);
		log_err("audit: %s: %s", action, jerr.text);
		goto out;
	}
	r = SIGNET_ERR_NOMEM;
	if ((canon = json_dumps(entry, AUDIT_CANON)) == NULL)
		goto out;
	if ((r = audit_sha256_hex(canon, strlen(canon), hash)) != 0)
		goto out;
	r = SIGNET_ERR_NOMEM;
	if (json_object_set_new(entry, "hash", json_string(hash)) != 0 ||
	    (line = json_dumps(entry, AUDIT_CANON)) == NULL)
		goto out;
	if ((n = strlen(line)) > SIGNET_MAX_AUDIT_ENTRY) {
		log_err("audit: %s: entry of %zu bytes exceeds %d", action,
		    n, SIGNET_MAX_AUDIT_ENTRY);
		r = SIGNET_ERR_TOO_LARGE;
		goto out;
	}
	audit_be64(seq, key);
	/* append-only: a head that lags the log must never let an entry be
	 * overwritten */
	r = store_get(t, STORE_AUDIT, key, sizeof(key), &old, &oldlen);
	if (r == 0) {
		log_err("audit: entry %llu exists beyond the chain head; "
		    "refusing to overwrite it", (unsigned long long)seq);
		r = SIGNET_ERR_STORE;
		goto out;
	}
	if (r != SIGNET_ERR_NOT_FOUND)
		goto out;
	if ((r = store_put(t, STORE_AUDIT, key, sizeof(key), line, n)) != 0 ||
	    (r = audit_head_put(t, seq, hash)) != 0)
		goto out;
	r = 0;
out:
	free(canon);
	free(line);
	json_decref(entry);
	json_decref(d);
	return r;
}

struct audit_walk {
	size_t want;
	json_t *items;
	uint64_t last;
	int more;
};

static int
audit_list_cb(const void *k, size_t klen, const void *v, size_t vlen,
    void *arg)
{
	struct audit_walk *w = arg;
	struct rd rk;
	json_error_t jerr;
	json_t *e;
	uint64_t seq;

	if (json_array_size(w->items) == w->want) {
		w->more = 1;
		return 1;
	}
	rd_init(&rk, k, klen);
	if (rd_u64(&rk, &seq) != 0 || rd_end(&rk) != 0) {
		log_err("audit: a key of %zu bytes is not a sequence number",
		    klen);
		return SIGNET_ERR_STORE;
	}
	if (vlen > SIGNET_MAX_AUDIT_ENTRY) {
		log_err("audit: entry %llu: %zu bytes exceeds %d",
		    (unsigned long long)seq, vlen, SIGNET_MAX_AUDIT_ENTRY);
		return SIGNET_ERR_STORE;
	}
	if ((e = json_loadb(v, vlen, JSON_REJECT_DUPLICATES, &jerr)) == NULL ||
	    !json_is_object(e)) {
		log_err("audit: entry %llu is unreadable: %s",
		    (unsigned long long)seq, e != NULL ? "not an object" :
		    jerr.text);
		json_decref(e);
		return SIGNET_ERR_STORE;
	}
	/* Handed on as stored: if it was tampered with, verifying the
	 * export is what must show it, so it is not hidden here. */
	if (json_integer_value(json_object_get(e, "seq")) != (json_int_t)seq)
		log_warn("audit: entry %llu carries another seq",
		    (unsigned long long)seq);
	if (json_array_append_new(w->items, e) != 0)
		return SIGNET_ERR_NOMEM;
	w->last = seq;
	return 0;
}

int
audit_list(struct store_txn *t, uint64_t after, size_t limit,
    json_t **items, uint64_t *next)
{
	struct audit_walk w;
	unsigned char key[8];
	int r = SIGNET_ERR_INVALID;

	*items = NULL;
	*next = 0;
	memset(&w, 0, sizeof(w));
	if (limit == 0 || limit > SIGNET_MAX_AUDIT_PAGE)
		goto out;
	w.want = limit;
	r = SIGNET_ERR_NOMEM;
	if ((w.items = json_array()) == NULL)
		goto out;
	audit_be64(after, key);
	if ((r = store_walk(t, STORE_AUDIT, NULL, 0, key, sizeof(key), 0,
	    audit_list_cb, &w)) != 0)
		goto out;
	*next = w.more ? w.last : 0;
	*items = w.items;
	w.items = NULL;
	r = 0;
out:
	json_decref(w.items);
	return r;
}

char *
audit_line(const json_t *entry)
{
	if (entry == NULL)
		return NULL;
	return json_dumps(entry, AUDIT_CANON);
}

struct audit_verify {
	char *msg;
	size_t len;
	size_t lineno;
	size_t count;
	uint64_t first;
	uint64_t last;
	char anchor[AUDIT_HASH_HEX_LEN + 1];	/* the first entry's prevHash */
	char head[AUDIT_HASH_HEX_LEN + 1];	/* the last entry's hash */
};

/* "line N (seq S): what"; seq 0 when the line has none. The text can
 * quote the export (jansson's parse errors do), and the CLI prints it on
 * a terminal, so anything but printable ASCII becomes '?'. */
static void __attribute__((format(printf, 3, 4)))
audit_fail(struct audit_verify *v, uint64_t seq, const char *fmt, ...)
{
	va_list ap;
	size_t i;
	int n;

	if (v->len == 0)
		return;
	if (seq != 0)
		n = snprintf(v->msg, v->len, "line %zu (seq %llu): ",
		    v->lineno, (unsigned long long)seq);
	else
		n = snprintf(v->msg, v->len, "line %zu (seq ?): ", v->lineno);
	if (n >= 0 && (size_t)n < v->len) {
		va_start(ap, fmt);
		vsnprintf(v->msg + n, v->len - (size_t)n, fmt, ap);
		va_end(ap);
	}
	for (i = 0; v->msg[i] != '\0'; i++)
		if (v->msg[i] < 0x20 || v->msg[i] > 0x7e)
			v->msg[i] = '?';
}

/* One line: shape, chain position, hash, canonical form, in that order,
 * so a changed entry is reported as changed, not as re-encoded. */
static int
audit_verify_line(struct audit_verify *v, const char *buf, size_t n)
{
	char h[AUDIT_HASH_HEX_LEN + 1], calc[AUDIT_HASH_HEX_LEN + 1];
	char *canon = NULL, *line = NULL;
	const char *at, *atype, *aname, *action, *prevh, *hx, *why = "";
	json_t *e = NULL, *target, *details;
	json_error_t jerr;
	json_int_t sq;
	uint64_t seq = 0;
	int r = SIGNET_ERR_INVALID;

	if (n == 0) {
		audit_fail(v, 0, "empty line");
		goto out;
	}
	if ((e = json_loadb(buf, n, JSON_REJECT_DUPLICATES, &jerr)) == NULL) {
		audit_fail(v, 0, "not valid JSON (%s, column %d)", jerr.text,
		    jerr.column);
		goto out;
	}
	if (json_is_integer(json_object_get(e, "seq")) &&
	    json_integer_value(json_object_get(e, "seq")) > 0)
		seq = (uint64_t)json_integer_value(json_object_get(e, "seq"));
	if (json_unpack_ex(e, &jerr, JSON_STRICT,
	    "{s:I, s:s, s:{s:s, s:s}, s:s, s:o, s:o, s:s, s:s}",
	    "seq", &sq, "at", &at, "actor", "type", &atype, "name", &aname,
	    "action", &action, "target", &target, "details", &details,
	    "prevHash", &prevh, "hash", &hx) != 0) {
		audit_fail(v, seq, "not an audit entry (%s)", jerr.text);
		goto out;
	}
	if (sq < 1) {
		audit_fail(v, 0, "seq must be a positive integer");
		goto out;
	}
	if (!json_is_string(target) && !json_is_null(target)) {
		audit_fail(v, seq, "target must be a string or null");
		goto out;
	}
	if (!json_is_object(details)) {
		audit_fail(v, seq, "details must be an object");
		goto out;
	}
	if (audit_check_value(details, 1, &why) != 0) {
		audit_fail(v, seq, "%s", why);
		goto out;
	}
	if (!audit_is_hash(prevh) || !audit_is_hash(hx)) {
		audit_fail(v, seq, "prevHash and hash must be 64 lowercase "
		    "hex digits");
		goto out;
	}
	if (v->count == 0) {
		if (seq == 1 && strcmp(prevh, audit_zero_hash) != 0) {
			audit_fail(v, seq, "the first entry of the log must "
			    "have a prevHash of 64 zeros");
			goto out;
		}
		v->first = seq;
		memcpy(v->anchor, prevh, sizeof(v->anchor));
	} else if (seq != v->last + 1) {
		audit_fail(v, seq, "expected seq %llu: an entry is missing, "
		    "duplicated or out of order",
		    (unsigned long long)(v->last + 1));
		goto out;
	} else if (strcmp(prevh, v->head) != 0) {
		audit_fail(v, seq, "prevHash does not match the hash of the "
		    "entry before it (line %zu, seq %llu): that entry or this "
		    "one was changed", v->lineno - 1,
		    (unsigned long long)v->last);
		goto out;
	}
	memcpy(h, hx, sizeof(h));	/* hx goes with the member */
	r = SIGNET_ERR_NOMEM;
	if (json_object_del(e, "hash") != 0 ||
	    (canon = json_dumps(e, AUDIT_CANON)) == NULL)
		goto out;
	if ((r = audit_sha256_hex(canon, strlen(canon), calc)) != 0)
		goto out;
	if (strcmp(calc, h) != 0) {
		audit_fail(v, seq, "hash does not match the entry's content: "
		    "the entry was changed");
		r = SIGNET_ERR_INVALID;
		goto out;
	}
	r = SIGNET_ERR_NOMEM;
	if (json_object_set_new(e, "hash", json_string(h)) != 0 ||
	    (line = json_dumps(e, AUDIT_CANON)) == NULL)
		goto out;
	if (strlen(line) != n || memcmp(line, buf, n) != 0) {
		audit_fail(v, seq, "not in canonical form (the line was "
		    "re-encoded or edited; see docs/audit.md)");
		r = SIGNET_ERR_INVALID;
		goto out;
	}
	v->last = seq;
	memcpy(v->head, h, sizeof(v->head));
	v->count++;
	r = 0;
out:
	if (r != 0 && r != SIGNET_ERR_INVALID)
		audit_fail(v, seq, "%s", signet_strerror(r));
	free(canon);
	free(line);
	json_decref(e);
	return r;
}

/* Reads one line into buf (max bytes, NUL-terminated, newline dropped).
 * 1 at the end of the file, SIGNET_ERR_TOO_LARGE when the line does not
 * fit: a bounded read, whatever the file holds. */
static int
audit_read_line(FILE *f, char *buf, size_t max, size_t *n)
{
	int c;

	*n = 0;
	while ((c = getc(f)) != EOF && c != '\n') {
		if (*n == max)
			return SIGNET_ERR_TOO_LARGE;
		buf[(*n)++] = (char)c;
	}
	if (ferror(f))
		return SIGNET_ERR_IO;
	buf[*n] = '\0';
	return c == EOF && *n == 0 ? 1 : 0;
}

int
audit_verify(FILE *f, char *msg, size_t len)
{
	struct audit_verify v;
	char *buf = NULL;
	size_t n;
	int r = SIGNET_ERR_NOMEM;

	memset(&v, 0, sizeof(v));
	v.msg = msg;
	v.len = len;
	if (len > 0)
		msg[0] = '\0';
	if ((buf = malloc(SIGNET_MAX_AUDIT_LINE + 1)) == NULL)
		goto out;
	for (;;) {
		v.lineno++;
		r = audit_read_line(f, buf, SIGNET_MAX_AUDIT_LINE, &n);
		if (r == 1)
			break;
		if (r == SIGNET_ERR_IO) {
			audit_fail(&v, 0, "read error");
			goto out;
		}
		if (r == SIGNET_ERR_TOO_LARGE) {
			audit_fail(&v, 0, "longer than %d bytes",
			    SIGNET_MAX_AUDIT_LINE);
			r = SIGNET_ERR_INVALID;
			goto out;
		}
		if ((r = audit_verify_line(&v, buf, n)) != 0)
			goto out;
	}
	if (v.count == 0) {
		audit_fail(&v, 0, "the file holds no entries");
		r = SIGNET_ERR_INVALID;
		goto out;
	}
	if (len > 0 && v.first == 1)
		snprintf(msg, len, "%zu entries, seq %llu..%llu, chain intact, "
		    "head %s; starts at the beginning of the log", v.count,
		    (unsigned long long)v.first, (unsigned long long)v.last,
		    v.head);
	else if (len > 0)
		snprintf(msg, len, "%zu entries, seq %llu..%llu, chain intact, "
		    "head %s; anchored on prevHash %s, which must equal the "
		    "hash of seq %llu in the previous export", v.count,
		    (unsigned long long)v.first, (unsigned long long)v.last,
		    v.head, v.anchor, (unsigned long long)(v.first - 1));
	r = 0;
out:
	free(buf);
	return r;
}

int
audit_page(struct store *s, uint64_t after, size_t limit, json_t **items,
    uint64_t *next)
{
	struct store_txn *t = NULL;
	int r;

	*items = NULL;
	if ((r = store_txn_begin(s, 0, &t)) != 0)
		return r;
	r = audit_list(t, after, limit, items, next);
	store_txn_abort(&t);
	return r;
}

int
audit_export(struct store *s, uint64_t after,
    int (*fn)(const char *line, void *arg), void *arg)
{
	struct store_txn *t = NULL;
	json_t *items = NULL, *e;
	uint64_t next = 0;
	char *line;
	size_t i;
	int r;

	if ((r = store_txn_begin(s, 0, &t)) != 0)
		return r;
	do {
		if ((r = audit_list(t, after, 1000, &items, &next)) != 0)
			break;
		json_array_foreach(items, i, e) {
			if ((line = audit_line(e)) == NULL) {
				r = SIGNET_ERR_NOMEM;
				break;
			}
			r = fn(line, arg);
			free(line);
			if (r != 0)
				break;
		}
		json_decref(items);
		items = NULL;
		after = next;
	} while (r == 0 && next != 0);
	store_txn_abort(&t);
	return r;
}
