#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "form.h"
#include "urlform.h"

void
form_init(struct form *f, struct cas *cas, uint64_t max_artifact)
{
	memset(f, 0, sizeof(*f));
	f->cas = cas;
	f->max_artifact = max_artifact;
	f->fields = json_object();
	f->parameters = json_object();
	f->origin = json_object();
	wbuf_init(&f->val, 0);
}

void
form_set_check(struct form *f, form_check_fn fn, void *arg)
{
	f->check = fn;
	f->check_arg = arg;
}

void
form_set_tap(struct form *f, int (*fn)(void *arg, const void *p, size_t n),
    void *arg)
{
	f->tap = fn;
	f->tap_arg = arg;
}

static int form_fail(struct form *f, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int
form_fail(struct form *f, int status, const char *code, const char *fmt, ...)
{
	va_list ap;

	if (f->status != 0)
		return -1;
	f->status = status;
	snprintf(f->code, sizeof(f->code), "%s", code);
	va_start(ap, fmt);
	vsnprintf(f->message, sizeof(f->message), fmt, ap);
	va_end(ap);
	return -1;
}

/* The artifact could not be stored: a full disk is 507 (RFC 4918 11.5)
 * and says so; anything else may pass with a retry. */
int
form_storage_failed(struct form *f, int r)
{
	if (r == SIGNET_ERR_STORAGE_FULL)
		return form_fail(f, 507, "storage_full", "the disk holding the "
		    "artifacts is full; nothing was stored. Free space on "
		    "the appliance (or wait for an administrator to) and "
		    "submit again");
	return form_fail(f, 503, "storage_unavailable", "the artifact "
	    "cannot be stored right now; try again");
}

static const struct {
	const char *name;
	size_t max;
} form_text[] = {
	{ "projectSlug", SIGNET_MAX_SLUG },
	{ "signingPolicySlug", SIGNET_MAX_SLUG },
	{ "artifactConfigurationSlug", SIGNET_MAX_SLUG },
	{ "description", SIGNET_MAX_DESCRIPTION },
	{ "idempotencyKey", SIGNET_MAX_IDEMPOTENCY_KEY },
};

static const struct {
	const char *name;
	size_t max;
} form_origin[] = {
	{ "repositoryUrl", SIGNET_MAX_ORIGIN_VALUE },
	{ "commitId", SIGNET_MAX_ORIGIN_VALUE },
	{ "branchName", SIGNET_MAX_ORIGIN_VALUE },
	{ "buildUrl", SIGNET_MAX_ORIGIN_VALUE },
	{ "buildId", SIGNET_MAX_ORIGIN_VALUE },
	{ "idToken", SIGNET_MAX_ID_TOKEN },
};

static int
form_param_name(const char *s)
{
	size_t i, n = strlen(s);

	if (n == 0 || n > SIGNET_MAX_FIELD_NAME)
		return 0;
	for (i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') ||
		    (s[i] >= 'A' && s[i] <= 'Z') ||
		    (s[i] >= '0' && s[i] <= '9') ||
		    s[i] == '_' || s[i] == '-' || s[i] == '.'))
			return 0;
	return 1;
}

/* Stores the text field read so far. */
static int
form_close_text(struct form *f)
{
	json_t *target = f->fields, *v;
	const char *key = f->cur;

	if (f->cur[0] == '\0')
		return 0;
	if (strncmp(key, "parameters.", 11) == 0) {
		target = f->parameters;
		key += 11;
	} else if (strncmp(key, "origin.", 7) == 0) {
		target = f->origin;
		key += 7;
	}
	/* jansson would refuse what is not UTF-8 only later, when the
	 * record is written; description may hold line breaks and tabs */
	if (!urlform_text_ok(f->val.buf, f->val.len,
	    strcmp(f->cur, "description") == 0))
		return form_fail(f, 400, "invalid_field", "field '%s' is not "
		    "valid UTF-8 text or holds control characters (NUL, "
		    "escapes; only description may hold line breaks)", f->cur);
	v = json_stringn(f->val.len ? (const char *)f->val.buf : "",
	    f->val.len);
	if (v == NULL || json_object_set_new(target, key, v) != 0)
		return form_fail(f, 503, "internal", "out of memory");
	f->cur[0] = '\0';
	wbuf_free(&f->val);
	return 0;
}

static int
form_has(const struct form *f, const char *name)
{
	const char *v = form_get(f, name);

	return v != NULL && *v != '\0';
}

int
form_field(struct form *f, const char *name, const char *filename)
{
	size_t i, max = 0;
	int r;

	if (f->status != 0)
		return -1;
	/* CivetWeb passes "" for fields that are not files */
	if (filename != NULL && *filename == '\0')
		filename = NULL;
	if (form_close_text(f) != 0)
		return -1;
	if (!urlform_text_ok(name, strlen(name), 0))
		return form_fail(f, 400, "invalid_field", "a field name is not "
		    "valid UTF-8 text or holds control characters");
	/* what comes after the artifact would be read only after the
	 * artifact had been stored, unchecked */
	if (f->upload != NULL || f->artifact_done)
		return form_fail(f, 400, "artifact_not_last", "field '%.64s' "
		    "comes after the artifact: the artifact must be the last "
		    "part of the form (curl: put -F artifact=@FILE last)",
		    name);
	if (++f->nfields > SIGNET_MAX_FORM_FIELDS)
		return form_fail(f, 400, "too_many_fields", "at most %d form "
		    "fields are accepted", SIGNET_MAX_FORM_FIELDS);
	if (strcmp(name, "artifact") == 0) {
		const char *base;

		if (filename == NULL)
			return form_fail(f, 400, "invalid_field", "'artifact' "
			    "must be a file upload (curl: -F artifact=@FILE)");
		base = strrchr(filename, '/');
		base = base ? base + 1 : filename;
		if (strrchr(base, '\\'))
			base = strrchr(base, '\\') + 1;
		if (*base == '\0' || strlen(base) > SIGNET_MAX_ARTIFACT_NAME ||
		    !urlform_text_ok(base, strlen(base), 0) ||
		    strcmp(base, ".") == 0 || strcmp(base, "..") == 0)
			return form_fail(f, 400, "invalid_field", "the "
			    "artifact's file name (field 'artifact', filename) "
			    "must be 1-%d bytes of UTF-8 text without control "
			    "characters", SIGNET_MAX_ARTIFACT_NAME);
		snprintf(f->artifact_name, sizeof(f->artifact_name), "%s", base);
		if (!form_has(f, "projectSlug") ||
		    !form_has(f, "signingPolicySlug"))
			return form_fail(f, 400, "missing_field", "projectSlug "
			    "and signingPolicySlug are required and must come "
			    "before the artifact: the artifact is the last part "
			    "of the form");
		if (f->check != NULL && f->check(f, f->check_arg) != 0) {
			f->answered = 1;
			return form_fail(f, 403, "refused", "the submission was "
			    "refused before its artifact was read");
		}
		if ((r = cas_upload_begin(f->cas, f->max_artifact,
		    &f->upload)) != 0)
			return form_storage_failed(f, r);
		if (f->tap != NULL && (r = cas_upload_tap(f->upload,
		    CAS_TAP_WRITER, f->tap, f->tap_arg)) != 0)
			return form_storage_failed(f, r);
		return 0;
	}
	if (strlen(name) >= sizeof(f->cur))
		return form_fail(f, 400, "unknown_field", "field names are at "
		    "most %d characters", SIGNET_MAX_FIELD_NAME);
	for (i = 0; i < sizeof(form_text) / sizeof(form_text[0]); i++)
		if (strcmp(name, form_text[i].name) == 0)
			max = form_text[i].max;
	if (strncmp(name, "parameters.", 11) == 0) {
		if (!form_param_name(name + 11))
			return form_fail(f, 400, "invalid_field", "parameter "
			    "names are 1-%d letters, digits, '_', '-', '.'",
			    SIGNET_MAX_FIELD_NAME);
		if (json_object_size(f->parameters) >= SIGNET_MAX_PARAMETERS)
			return form_fail(f, 400, "too_many_parameters", "at "
			    "most %d parameters are accepted",
			    SIGNET_MAX_PARAMETERS);
		if (json_object_get(f->parameters, name + 11) != NULL)
			return form_fail(f, 400, "duplicate_field", "field "
			    "'%s' is given twice", name);
		max = SIGNET_MAX_PARAM_VALUE;
	} else if (strncmp(name, "origin.", 7) == 0) {
		for (i = 0; i < sizeof(form_origin) / sizeof(form_origin[0]); i++)
			if (strcmp(name + 7, form_origin[i].name) == 0)
				max = form_origin[i].max;
		if (max == 0)
			return form_fail(f, 400, "unknown_field", "unknown "
			    "origin field '%s' (known: repositoryUrl, "
			    "commitId, branchName, buildUrl, buildId, idToken)",
			    name);
		if (json_object_get(f->origin, name + 7) != NULL)
			return form_fail(f, 400, "duplicate_field", "field "
			    "'%s' is given twice", name);
	} else if (max == 0) {
		return form_fail(f, 400, "unknown_field", "unknown field '%.64s' "
		    "(known: projectSlug, signingPolicySlug, "
		    "artifactConfigurationSlug, description, idempotencyKey, "
		    "parameters.NAME, origin.FIELD, artifact)", name);
	} else if (json_object_get(f->fields, name) != NULL) {
		return form_fail(f, 400, "duplicate_field", "field '%s' is "
		    "given twice", name);
	}
	snprintf(f->cur, sizeof(f->cur), "%s", name);
	f->cur_max = max;
	/* an ID token is a credential until it expires: wipe its bytes */
	if (strcmp(name, "origin.idToken") == 0)
		wbuf_init_secret(&f->val, max);
	else
		wbuf_init(&f->val, max);
	return 0;
}

int
form_data(struct form *f, const char *data, size_t len)
{
	int r;

	if (f->status != 0)
		return -1;
	if (f->cur[0] != '\0') {
		if (wbuf_add(&f->val, data, len) != 0)
			return form_fail(f, 400, "field_too_long", "field '%s' "
			    "is longer than its limit of %zu bytes", f->cur,
			    f->cur_max);
		return 0;
	}
	if (f->upload != NULL && !f->artifact_done) {
		r = cas_upload_write(f->upload, data, len);
		if (r == SIGNET_ERR_TOO_LARGE)
			return form_fail(f, 413, "artifact_too_large", "the "
			    "artifact is larger than this appliance accepts "
			    "(%llu bytes, [store] max_artifact_size)",
			    (unsigned long long)f->max_artifact);
		if (r != 0)
			return form_storage_failed(f, r);
		return 0;
	}
	return form_fail(f, 400, "invalid_form", "data outside of a field");
}

int
form_end(struct form *f)
{
	if (f->status != 0)
		return -1;
	return form_close_text(f);
}

int
form_finish(struct form *f)
{
	int r;

	if (form_end(f) != 0)
		return -1;
	if (f->upload == NULL)
		return form_fail(f, 400, "missing_field", "no artifact: send "
		    "the file as form field 'artifact'");
	if ((r = cas_upload_finish_held(f->upload, SIGNET_INLINE_ARTIFACT_MAX,
	    f->sha256, &f->size, &f->held)) != 0) {
		f->upload = NULL;
		return form_storage_failed(f, r);
	}
	f->upload = NULL;
	f->artifact_done = 1;
	return 0;
}

void
form_fail_parse(struct form *f, int r, const char *why)
{
	(void)form_fail(f, r == SIGNET_ERR_TOO_LARGE ? 413 : 400,
	    "invalid_form", "the multipart/form-data body is malformed: %s",
	    why != NULL && *why != '\0' ? why : "it could not be parsed");
}

void
form_discard_upload(struct form *f)
{
	cas_upload_abort(f->upload);
	f->upload = NULL;
}

void
form_free(struct form *f)
{
	form_discard_upload(f);
	free(f->held);
	f->held = NULL;
	wbuf_free(&f->val);
	json_decref(f->fields);
	json_decref(f->parameters);
	json_decref(f->origin);
	f->fields = f->parameters = f->origin = NULL;
}

const char *
form_get(const struct form *f, const char *name)
{
	return json_string_value(json_object_get(f->fields, name));
}
