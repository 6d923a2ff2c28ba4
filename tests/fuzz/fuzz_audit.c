/* The audit verifier (appliance/core/audit.c, audit_verify): a JSON-lines
 * export read from a FILE, as `signet audit verify` reads one.
 *
 * Input: byte 0 selects, the rest is the export.
 *   bit 0 (rechain): each line that parses as a JSON object is made a
 *         link of a valid chain before the verifier sees it: prevHash
 *         becomes the previous link's hash (the first line's stays), and
 *         hash and the line itself are recomputed with audit_line, the
 *         encoder of the export. Without it the fuzzer would stop at the
 *         first hash; with it the checks after the hash are reached.
 *   bit 1 (renumber): with rechain, seq counts up from the first line's.
 *   bits 2-3: the message buffer: 256 bytes, 16 bytes, 1 byte, none.
 *
 * Invariants: the verifier never writes past the message buffer, its
 * message is printable ASCII, and a rechained export is never refused as
 * "changed" or "not in canonical form": lines that audit_line wrote and
 * hashed are what the verifier must accept (docs/audit.md). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "audit.h"
#include "fuzz.h"

#define FZ_AUDIT_MAX_LINES	64
#define FZ_AUDIT_CANARY		0xa5

static int
fz_sha256_hex(const char *s, char out[AUDIT_HASH_HEX_LEN + 1])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0, i;

	if (EVP_Digest(s, strlen(s), md, &n, EVP_sha256(), NULL) != 1 ||
	    n * 2 != AUDIT_HASH_HEX_LEN)
		return -1;
	for (i = 0; i < n; i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 0x0f];
	}
	out[AUDIT_HASH_HEX_LEN] = '\0';
	return 0;
}

/* One line made a link after prev (the previous link's hash, "" for the
 * first). NULL when the line is not an object: it goes in as it was. */
static char *
fz_link(const char *line, size_t n, char prev[AUDIT_HASH_HEX_LEN + 1],
    int renumber, json_int_t *seq)
{
	char *text = NULL, hash[AUDIT_HASH_HEX_LEN + 1];
	json_t *e = json_loadb(line, n, JSON_REJECT_DUPLICATES, NULL);

	if (!json_is_object(e))
		goto out;
	if (renumber) {
		if (*seq == 0 && json_is_integer(json_object_get(e, "seq")))
			*seq = json_integer_value(json_object_get(e, "seq"));
		else if (*seq > 0 && *seq < INT64_MAX)
			json_object_set_new(e, "seq", json_integer(++*seq));
	}
	if (prev[0] != '\0')
		json_object_set_new(e, "prevHash", json_string(prev));
	json_object_del(e, "hash");
	if ((text = audit_line(e)) == NULL || fz_sha256_hex(text, hash) != 0)
		goto fail;
	free(text);
	json_object_set_new(e, "hash", json_string(hash));
	if ((text = audit_line(e)) == NULL)
		goto fail;
	memcpy(prev, hash, sizeof(hash));
	goto out;
fail:
	free(text);
	text = NULL;
out:
	json_decref(e);
	return text;
}

/* The export with every object line rechained; *all says whether every
 * line was (only then is the canonical invariant checked). */
static char *
fz_rechain(const char *in, size_t len, int renumber, size_t *outlen,
    int *all)
{
	char prev[AUDIT_HASH_HEX_LEN + 1] = "", *out = NULL, *link;
	const char *p = in, *end = in + len, *nl;
	json_int_t seq = 0;
	size_t lines = 0, ln;
	FILE *f;

	*all = 1;
	if ((f = open_memstream(&out, outlen)) == NULL)
		return NULL;
	while (p < end) {
		nl = memchr(p, '\n', (size_t)(end - p));
		ln = nl != NULL ? (size_t)(nl - p) : (size_t)(end - p);
		link = ++lines <= FZ_AUDIT_MAX_LINES ?
		    fz_link(p, ln, prev, renumber, &seq) : NULL;
		if (link != NULL) {
			fputs(link, f);
			free(link);
		} else {
			fwrite(p, 1, ln, f);
			*all = 0;
		}
		if (nl != NULL)
			fputc('\n', f);
		p += ln + (nl != NULL);
	}
	if (fclose(f) != 0) {
		free(out);
		return NULL;
	}
	return out;
}

/* Whether msg is "line N (seq S): " and then the verdict of a changed
 * or re-encoded line (what follows the prefix may quote the export, so
 * only the verdict right after it counts). */
static int
fz_refused_as_changed(const char *msg)
{
	const char *v = strstr(msg, "): ");

	if (v == NULL)
		return 0;
	v += 3;
	return strncmp(v, "hash does not match", 19) == 0 ||
	    strncmp(v, "prevHash does not match", 23) == 0 ||
	    strncmp(v, "not in canonical form", 21) == 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const size_t lens[] = { 256, 16, 1, 0 };
	char msg[256 + 16], *text = NULL;
	const char *in;
	size_t n, len, i;
	int all = 0, r;
	FILE *f;

	if (size < 1)
		return 0;
	in = (const char *)data + 1;
	n = size - 1;
	len = lens[(data[0] >> 2) & 3];
	if (data[0] & 1) {
		if ((text = fz_rechain(in, n, data[0] & 2, &n, &all)) == NULL)
			return 0;
		in = text;
	}
	memset(msg, FZ_AUDIT_CANARY, sizeof(msg));
	/* fmemopen of zero bytes fails: an empty export is an empty file */
	f = n > 0 ? fmemopen((void *)(uintptr_t)in, n, "r") :
	    fopen("/dev/null", "r");
	if (f == NULL)
		goto out;
	r = audit_verify(f, msg, len);
	fclose(f);
	for (i = len; i < sizeof(msg); i++)
		if ((unsigned char)msg[i] != FZ_AUDIT_CANARY)
			fuzz_fail("audit_verify wrote past its message buffer");
	if (len > 0) {
		if (memchr(msg, '\0', len) == NULL)
			fuzz_fail("audit_verify left its message unterminated");
		for (i = 0; msg[i] != '\0'; i++)
			if (msg[i] < 0x20 || msg[i] > 0x7e)
				fuzz_fail("audit_verify's message is not "
				    "printable ASCII");
	}
	if (r != 0 && all && len == 256 && fz_refused_as_changed(msg)) {
		fprintf(stderr, "%s\n", msg);
		fuzz_fail("audit_verify refused lines audit_line wrote");
	}
out:
	free(text);
	return 0;
}
