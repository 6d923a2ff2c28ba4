/* The submission form (web/form.c) driven the way the multipart reader
 * (web/multipart.c) drives it from web/api_requests.c: field starts (name and file
 * name as the client wrote them), data chunks, then form_end and
 * form_finish as api_submit calls them.
 *
 * Input: byte 0 picks the artifact limit, then a script of operations:
 *   0 FIELD   u8 n, name[n], u8 kind (0: no file name, 1: "", else a
 *             file name follows: u8 m, filename[m])
 *   1 DATA    u8 n, data[n]
 *   2 FILL    u8 byte, u16 count: count copies of byte (reaches limits)
 *   3 PARSE   the body broke off (form_fail_parse)
 * Other operation bytes are skipped.
 *
 * Invariants: a refused form leaves nothing in the store's tmp/; an
 * accepted one has its artifact under its hash; no text field is longer
 * than its limit or other than text; nothing follows the artifact.
 *
 * The same input is also read whole as a url-encoded body
 * (web/urlform.c, the reader of small bodies and query strings): it ends,
 * and what it accepts is within its limits, text, and given once. Seeds
 * that are url-encoded bodies (username=%, a=%00, &&&) are in the same
 * corpus. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "form.h"
#include "fuzz.h"
#include "rd.h"
#include "urlform.h"

#define FZ_FORM_MAX_OPS		256

static struct cas *fz_cas;

static int
fz_form_init(void)
{
	const char *dir;

	if (fz_cas != NULL)
		return 0;
	if ((dir = fuzz_tmpdir()) == NULL || cas_open(dir, &fz_cas) != 0)
		return -1;
	return 0;
}

/* u8 length, then that many bytes as a C string (a NUL cuts it short,
 * as the header would be refused). */
static int
fz_str(struct rd *r, char out[256])
{
	uint8_t n;

	if (rd_u8(r, &n) != 0 || rd_copy(r, out, n) != 0)
		return -1;
	out[n] = '\0';
	return 0;
}

static int
fz_step(struct form *f, struct rd *r)
{
	char name[256], fname[256], chunk[256], *fill;
	const char *filename = NULL;
	uint8_t op, kind, n, b;
	uint32_t count;
	int rc = 0;

	if (rd_u8(r, &op) != 0)
		return -1;
	switch (op) {
	case 0:
		if (fz_str(r, name) != 0 || rd_u8(r, &kind) != 0)
			return -1;
		if (kind == 1)
			filename = "";
		else if (kind > 1) {
			if (fz_str(r, fname) != 0)
				return -1;
			filename = fname;
		}
		rc = form_field(f, name, filename);
		break;
	case 1:
		if (rd_u8(r, &n) != 0 || rd_copy(r, chunk, n) != 0)
			return -1;
		rc = form_data(f, chunk, n);
		break;
	case 2:
		if (rd_u8(r, &b) != 0 || rd_u8(r, &n) != 0)
			return -1;
		count = (uint32_t)n << 8;
		if (rd_u8(r, &n) != 0)
			return -1;
		count |= n;
		if ((fill = malloc(count > 0 ? count : 1)) == NULL)
			return -1;
		memset(fill, b, count);
		rc = form_data(f, fill, count);
		free(fill);
		break;
	case 3:
		form_fail_parse(f, SIGNET_ERR_TRUNCATED, "cut short");
		rc = -1;
		break;
	default:
		break;
	}
	/* the reader stops calling once a callback says stop */
	return rc != 0 ? -1 : 0;
}

static void
fz_check(const struct form *f)
{
	static const struct {
		const char *name;
		size_t max;
	} limits[] = {
		{ "projectSlug", SIGNET_MAX_SLUG },
		{ "signingPolicySlug", SIGNET_MAX_SLUG },
		{ "artifactConfigurationSlug", SIGNET_MAX_SLUG },
		{ "description", SIGNET_MAX_DESCRIPTION },
	};
	const char *k, *v;
	json_t *m;
	size_t i;

	for (i = 0; i < sizeof(limits) / sizeof(limits[0]); i++)
		if ((v = form_get(f, limits[i].name)) != NULL &&
		    strlen(v) > limits[i].max)
			fuzz_fail("a text field is longer than its limit");
	if (json_object_size(f->parameters) > SIGNET_MAX_PARAMETERS)
		fuzz_fail("more parameters than SIGNET_MAX_PARAMETERS");
	json_object_foreach(f->parameters, k, m)
		if (json_string_length(m) > SIGNET_MAX_PARAM_VALUE)
			fuzz_fail("a parameter is longer than its limit");
	json_object_foreach(f->origin, k, m)
		if (json_string_length(m) > (strcmp(k, "idToken") == 0 ?
		    SIGNET_MAX_ID_TOKEN : SIGNET_MAX_ORIGIN_VALUE))
			fuzz_fail("an origin field is longer than its limit");
	json_object_foreach(f->fields, k, m)
		if (!urlform_text_ok(json_string_value(m),
		    json_string_length(m), strcmp(k, "description") == 0))
			fuzz_fail("a text field is not text");
	json_object_foreach(f->parameters, k, m)
		if (!urlform_text_ok(json_string_value(m),
		    json_string_length(m), 0))
			fuzz_fail("a parameter is not text");
	if (f->upload != NULL && !urlform_text_ok(f->artifact_name,
	    strlen(f->artifact_name), 0))
		fuzz_fail("the artifact's file name is not text");
}

static void
fz_urlform(const uint8_t *data, size_t size)
{
	static const struct urlform_limits lim = {
		.max_fields = 16, .max_name = 64, .max_value = 4096,
		.multiline = 1,
	};
	char err[256];
	const char *k;
	json_t *o, *v;
	int r;

	r = urlform_parse(data, size, &lim, &o, err, sizeof(err));
	if (r != 0) {
		if (o != NULL || err[0] == '\0')
			fuzz_fail("a refused url-encoded form without a message");
		return;
	}
	if (json_object_size(o) > lim.max_fields)
		fuzz_fail("more url-encoded fields than the limit");
	json_object_foreach(o, k, v) {
		if (*k == '\0' || strlen(k) > lim.max_name ||
		    !urlform_text_ok(k, strlen(k), 0))
			fuzz_fail("a url-encoded name breaks its rules");
		if (json_string_length(v) > lim.max_value ||
		    !urlform_text_ok(json_string_value(v),
		    json_string_length(v), 1))
			fuzz_fail("a url-encoded value breaks its rules");
	}
	json_decref(o);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct form f;
	struct rd r;
	uint64_t max, stored;
	int i, fd;

	fz_urlform(data, size);
	if (size < 1 || fz_form_init() != 0)
		return 0;
	/* a tiny limit reaches the 413 path in a few bytes */
	max = data[0] % 2 == 0 ? 16 : 64 * 1024;
	rd_init(&r, data + 1, size - 1);
	form_init(&f, fz_cas, max);
	for (i = 0; i < FZ_FORM_MAX_OPS && rd_left(&r) > 0; i++) {
		int was_artifact = f.upload != NULL;

		if (fz_step(&f, &r) != 0)
			break;
		if (was_artifact && f.cur[0] != '\0')
			fuzz_fail("a text field was taken after the artifact");
	}
	/* api_submit: the body is read; the fields are checked; then the
	 * artifact is made durable */
	if (f.status == 0 && form_end(&f) == 0)
		fz_check(&f);
	if (f.status == 0 && form_finish(&f) == 0) {
		char name[CAS_HEX_LEN + 1];

		if (f.size > max || !cas_valid_hex(f.sha256))
			fuzz_fail("a finished artifact breaks its limit or hash");
		if (f.held != NULL) {
			/* small: its bytes for the database, nothing stored */
			if (f.size > SIGNET_INLINE_ARTIFACT_MAX ||
			    cas_name(f.held, (size_t)f.size, name) != 0 ||
			    strcmp(name, f.sha256) != 0)
				fuzz_fail("held bytes are not the artifact named");
			if (cas_open_read(fz_cas, f.sha256, &fd, &stored) == 0)
				fuzz_fail("a held artifact is also a file");
		} else {
			if (f.size <= SIGNET_INLINE_ARTIFACT_MAX)
				fuzz_fail("a small artifact was not held");
			if (cas_open_read(fz_cas, f.sha256, &fd, &stored) != 0 ||
			    stored != f.size)
				fuzz_fail("a finished artifact is not in the "
				    "store");
			close(fd);
			/* keep the scratch store small */
			if (cas_remove(fz_cas, f.sha256) != 0)
				fuzz_fail("a finished artifact cannot be "
				    "removed");
		}
	} else if (f.status == 0) {
		fuzz_fail("form_finish failed without saying why");
	}
	form_free(&f);
	if (cas_tmp_count(fz_cas) != 0)
		fuzz_fail("a form left a file in the store's tmp/");
	return 0;
}
