/* An HTTPS client of Signet's API (libcurl): mutual TLS or a bearer
 * token, JSON calls, streamed multipart uploads and downloads, retries
 * with backoff. Used by the `signet` commands CI systems and people run
 * against an appliance; never by signetd. */
#ifndef SIGNET_CLIENT_H
#define SIGNET_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "err.h"

/* Attempts after the first one for a call that failed in a way worth
 * retrying (429, 502, 503, 504, connection failures). */
#define CLIENT_DEFAULT_RETRIES	5
#define CLIENT_MAX_RETRIES	20
/* Server-side error text kept for the caller (longer is cut). */
#define CLIENT_MAX_MESSAGE	1024
/* Bounds on what a server may send back: a JSON answer (a request with
 * its history), an error body read for its message. */
#define CLIENT_MAX_RESPONSE	(4 * 1024 * 1024)
#define CLIENT_MAX_ERROR_BODY	(64 * 1024)
/* Timeouts. Transfers of artifacts (up to 4 GiB) have no total limit;
 * they end when less than one byte a second moved for CLIENT_STALL_S. */
#define CLIENT_CONNECT_TIMEOUT_MS 30000L
#define CLIENT_CALL_TIMEOUT_MS	120000L
#define CLIENT_STALL_S		120L
/* Backoff between attempts: base doubling up to max, with jitter; a
 * server's Retry-After is honoured up to CLIENT_MAX_RETRY_AFTER_S. */
#define CLIENT_BACKOFF_BASE_MS	1000L
#define CLIENT_BACKOFF_MAX_MS	30000L
#define CLIENT_MAX_RETRY_AFTER_S 300L
#define CLIENT_MAX_TOKEN	4096
/* SHA-256 in hex, NUL-terminated */
#define CLIENT_SHA256_HEX	65

struct client;

struct client_opts {
	const char *url;	/* https://host[:port]; http only to loopback */
	const char *cacert;	/* PEM bundle; NULL: the system's trust store */
	const char *cert;	/* client certificate (PEM) for mutual TLS */
	const char *key;	/* its private key (PEM) */
	const char *token;	/* bearer token; copied, wiped on client_free */
	int retries;		/* < 0: CLIENT_DEFAULT_RETRIES */
};

/* One text field of a multipart upload. The value must stay valid until
 * the call returns; it is not copied (it may be a credential). */
struct client_field {
	const char *name;
	const char *value;
};

/* Upload progress: bytes of the file sent so far, and its size. */
typedef void (*client_progress_fn)(void *arg, uint64_t sent, uint64_t total);

/* Call once before any other client function (libcurl global state;
 * JSON memory is wiped when it is freed, since responses carry tokens). */
int client_global_init(void) SIGNET_WUR;
void client_global_cleanup(void);

/* SIGNET_ERR_CONFIG when the URL is not https:// (http:// is accepted
 * for loopback addresses only: nothing leaves the machine). */
int client_new(const struct client_opts *o, struct client **c) SIGNET_WUR;
void client_free(struct client *c);

/*
 * Every call below returns 0 on a 2xx answer, else:
 *   SIGNET_ERR_INVALID, _UNAUTHENTICATED, _FORBIDDEN, _NOT_FOUND,
 *   _CONFLICT, _TOO_LARGE   the server refused (4xx); client_message()
 *                           holds its "message" as sent
 *   SIGNET_ERR_UNAVAILABLE  5xx, 429, network or TLS failure, after the
 *                           retries
 *   SIGNET_ERR_CONFIG       the CA, certificate or key file is unusable
 *   SIGNET_ERR_IO           a local file could not be read or written
 *   SIGNET_ERR_NOMEM
 * path is appended to the base URL ("/api/v1/..."); "" calls the base
 * URL itself.
 */
int client_get_json(struct client *c, const char *path, json_t **out)
    SIGNET_WUR;
/* A GET whose answer (a PEM chain) is kept as text: *out is a new
 * NUL-terminated string of *len bytes, at most max; a longer answer is
 * SIGNET_ERR_UNAVAILABLE, as from a server that misbehaves. */
int client_get_text(struct client *c, const char *path, size_t max,
    char **out, size_t *len) SIGNET_WUR;
/* body NULL sends "{}"; out may be NULL. Not retried on a connection
 * failure after the request may have reached the server. */
int client_post_json(struct client *c, const char *path, const json_t *body,
    json_t **out) SIGNET_WUR;
/* The same with another method: "PUT", "DELETE" (body NULL: "{}"); a
 * DELETE answered 204 leaves *out NULL. */
int client_call_json(struct client *c, const char *method, const char *path,
    const json_t *body, json_t **out) SIGNET_WUR;
/* multipart/form-data: the fields, then file_field streamed from file
 * (named by its base name). sha256 receives the hex digest of the bytes
 * sent. progress may be NULL. */
int client_post_file(struct client *c, const char *path,
    const struct client_field *fields, size_t nfields,
    const char *file_field, const char *file, client_progress_fn progress,
    void *progress_arg, char sha256[CLIENT_SHA256_HEX], json_t **out)
    SIGNET_WUR;
/* GET into dest: a temporary file beside it, fsync'ed and renamed, so
 * dest is either the whole answer or untouched. sha256 receives the hex
 * digest of what arrived; when expect (hex) is given and differs, dest is
 * left alone and the result is SIGNET_ERR_CRYPTO. */
int client_download(struct client *c, const char *path, const char *dest,
    const char *expect, char sha256[CLIENT_SHA256_HEX]) SIGNET_WUR;

/* The last call's HTTP status (0: no answer) and the text explaining its
 * failure: the server's "message" when it sent one (control characters
 * replaced), else a local description. Never a credential. */
long client_status(const struct client *c);
const char *client_message(const struct client *c);
/* The server's error code ("policy_not_found") or "" */
const char *client_error_code(const struct client *c);
const char *client_base_url(const struct client *c);

/* Sleeps ms milliseconds, whatever signals arrive meanwhile. */
void client_sleep_ms(long ms);

#endif
