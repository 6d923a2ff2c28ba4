/* The multipart form of a submission, field by field as the multipart
 * reader (multipart.h) hands it over: text fields are gathered within
 * their limits, the artifact streams into the content-addressed store. The artifact is the
 * last part: when it begins, every other field is known, and the caller's
 * check (may this caller submit to this policy?) runs before a byte of it
 * is stored. Independent of CivetWeb so that it can be tested alone. */
#ifndef SIGNET_FORM_H
#define SIGNET_FORM_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "cas.h"
#include "err.h"
#include "signet_limits.h"
#include "wbuf.h"

struct form;

/* Runs when the artifact part begins; 0 lets it be stored. Anything
 * else refuses the form: the callback has answered the client itself. */
typedef int (*form_check_fn)(struct form *f, void *arg);

struct form {
	struct cas *cas;
	form_check_fn check;
	void *check_arg;
	int answered;		/* check refused and answered the client */
	/* sees every artifact byte as it is stored (a digest computed in
	 * the same pass); nonzero refuses the upload */
	int (*tap)(void *arg, const void *p, size_t n);
	void *tap_arg;
	uint64_t max_artifact;
	struct cas_upload *upload;
	int artifact_done;
	char artifact_name[SIGNET_MAX_ARTIFACT_NAME + 1];
	char sha256[CAS_HEX_LEN + 1];
	uint64_t size;
	/* a small artifact's bytes, kept in the database with its request
	 * (SIGNET_INLINE_ARTIFACT_MAX); NULL when it is a stored file */
	unsigned char *held;
	json_t *fields;		/* top-level text fields */
	json_t *parameters;
	json_t *origin;
	char cur[SIGNET_MAX_FIELD_NAME + 16];	/* text field being read */
	size_t cur_max;
	struct wbuf val;
	int nfields;
	/* first error: HTTP status, code and a message saying how to fix */
	int status;
	char code[40];
	char message[512];
};

void form_init(struct form *f, struct cas *cas, uint64_t max_artifact);
/* Sets the check that runs before the artifact is stored. */
void form_set_check(struct form *f, form_check_fn fn, void *arg);
/* Sets the tap that sees the artifact's bytes in order (the check may
 * set it, once it knows what the artifact is to be), on the thread that
 * takes the artifact's SHA-256 (cas_upload_tap, CAS_TAP_WRITER): it has
 * seen them all once cas_upload_flush() returned. */
void form_set_tap(struct form *f, int (*fn)(void *arg, const void *p,
    size_t n), void *arg);
/* 0: read this field; <0: stop (f->status says why). filename is set for
 * file fields. */
int form_field(struct form *f, const char *name, const char *filename) SIGNET_WUR;
int form_data(struct form *f, const char *data, size_t len) SIGNET_WUR;
/* Closes the last text field: call once the body has been read. */
int form_end(struct form *f) SIGNET_WUR;
/* Makes the artifact durable (after form_end), or a small one's bytes
 * held in f->held, to be recorded in the database with its request. */
int form_finish(struct form *f) SIGNET_WUR;
/* Records that the body itself could not be parsed: r is what
 * multipart_parse returned (SIGNET_ERR_TOO_LARGE answers 413, others
 * 400), why its message. */
void form_fail_parse(struct form *f, int r, const char *why);
/* Removes an unfinished upload at once: called before a refusal is
 * answered, so that a client that has its answer finds nothing of its
 * upload left. */
void form_discard_upload(struct form *f);
/* The artifact could not be stored (r from the artifact store): f's
 * status, code and message say so, 507 for a full disk. -1. */
int form_storage_failed(struct form *f, int r);
/* Removes an unfinished upload; accepts a form never started. */
void form_free(struct form *f);
/* The value of a top-level text field, or NULL. */
const char *form_get(const struct form *f, const char *name);

#endif
