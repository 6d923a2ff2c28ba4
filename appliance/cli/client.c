/* An HTTPS client of Signet's API on libcurl. One easy handle per client
 * so that the calls of one command reuse the TLS connection. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "client.h"
#include "outbound.h"
#include "log.h"
#include "wbuf.h"

struct client {
	CURL *curl;
	char *base;
	char where[256];	/* scheme://host:port, for messages: a URL's
				 * path and query may carry more than needed */
	char *cacert;
	char *cert;
	char *key;
	char *auth;		/* "Authorization: Bearer ..." (secret) */
	int retries;
	long status;
	char message[CLIENT_MAX_MESSAGE];
	char code[64];
	char errbuf[CURL_ERROR_SIZE];
};

/* A text field of an upload as curl reads it, without a copy. */
/* The file of an upload, read by curl through client_file_read. */
struct client_upload {
	int fd;
	uint64_t size;
	uint64_t sent;
	EVP_MD_CTX *md;
	int io_error;
	client_progress_fn progress;
	void *progress_arg;
};

/* One call, across its attempts. */
struct client_call {
	int post;
	const char *method;	/* PUT, DELETE: a JSON call other than POST */
	int idempotent;
	const char *path;
	const char *body;	/* JSON POST */
	size_t body_len;
	const struct client_field *fields;
	size_t nfields;
	const char *file_field;
	const char *file_name;
	struct client_upload *up;
	int out_fd;		/* download target, or -1 */
	EVP_MD_CTX *out_md;
	int out_error;
	int to_file;		/* this answer's body goes to out_fd (2xx) */
	struct wbuf resp;	/* JSON answer or error body */
	long timeout_ms;	/* 0: none, the stall limit applies */
	size_t max_resp;	/* 0: CLIENT_MAX_RESPONSE */
};

/* --- global state ------------------------------------------------------ */

/* jansson's memory is wiped before it is released: login answers carry
 * bearer tokens, the CI's ID-token endpoint a JWT. The size sits in a
 * header in front of each block. */
union client_json_hdr {
	size_t size;
	max_align_t align;
};

static void *
client_json_malloc(size_t n)
{
	union client_json_hdr *h;

	if (n > SIZE_MAX - sizeof(*h) || (h = malloc(sizeof(*h) + n)) == NULL)
		return NULL;
	h->size = n;
	return h + 1;
}

static void
client_json_free(void *p)
{
	union client_json_hdr *h;

	if (p == NULL)
		return;
	h = (union client_json_hdr *)p - 1;
	OPENSSL_cleanse(h, sizeof(*h) + h->size);
	free(h);
}

int
client_global_init(void)
{
	json_set_alloc_funcs(client_json_malloc, client_json_free);
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return SIGNET_ERR_INTERNAL;
	return 0;
}

void
client_global_cleanup(void)
{
	curl_global_cleanup();
}

/* --- the client -------------------------------------------------------- */

static void
client_clear_free(char *s)
{
	if (s != NULL)
		OPENSSL_clear_free(s, strlen(s));
}

/* https://, or http:// to this machine only: a bearer token or an ID
 * token must not cross a network in clear text. */
static int
client_url_ok(const char *url, char *where, size_t wlen)
{
	CURLU *u = NULL;
	char *scheme = NULL, *host = NULL, *port = NULL;
	int ok = 0;

	if ((u = curl_url()) == NULL)
		return 0;
	if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) !=
	    CURLUE_OK)
		goto out;
	if (strcmp(scheme, "https") == 0)
		ok = 1;
	else if (strcmp(scheme, "http") == 0)
		ok = strcmp(host, "127.0.0.1") == 0 ||
		    strcmp(host, "localhost") == 0 || strcmp(host, "[::1]") == 0;
	snprintf(where, wlen, "%s://%s:%s", scheme, host, port);
out:
	curl_free(scheme);
	curl_free(host);
	curl_free(port);
	curl_url_cleanup(u);
	return ok;
}

static char *
client_dup(const char *s, int *fail)
{
	char *d;

	if (s == NULL || *s == '\0')
		return NULL;
	if ((d = strdup(s)) == NULL)
		*fail = 1;
	return d;
}

int
client_new(const struct client_opts *o, struct client **out)
{
	struct client *c = NULL;
	size_t n;
	int r = SIGNET_ERR_NOMEM, fail = 0;

	*out = NULL;
	if ((c = calloc(1, sizeof(*c))) == NULL)
		goto out;
	if (o->url == NULL || !client_url_ok(o->url, c->where,
	    sizeof(c->where)) ||
	    (o->token != NULL && strlen(o->token) > CLIENT_MAX_TOKEN) ||
	    (o->token != NULL && strpbrk(o->token, "\r\n") != NULL)) {
		r = SIGNET_ERR_CONFIG;
		goto out;
	}
	c->retries = o->retries < 0 ? CLIENT_DEFAULT_RETRIES :
	    o->retries > CLIENT_MAX_RETRIES ? CLIENT_MAX_RETRIES : o->retries;
	c->base = client_dup(o->url, &fail);
	c->cacert = client_dup(o->cacert, &fail);
	c->cert = client_dup(o->cert, &fail);
	c->key = client_dup(o->key, &fail);
	if (fail || c->base == NULL)
		goto out;
	/* "https://host/" + "/api/v1/..." would make a double slash */
	n = strlen(c->base);
	while (n > 0 && c->base[n - 1] == '/')
		c->base[--n] = '\0';
	if (o->token != NULL && *o->token != '\0') {
		n = strlen("Authorization: Bearer ") + strlen(o->token) + 1;
		if ((c->auth = malloc(n)) == NULL)
			goto out;
		snprintf(c->auth, n, "Authorization: Bearer %s", o->token);
	}
	if ((c->curl = curl_easy_init()) == NULL)
		goto out;
	*out = c;
	c = NULL;
	r = 0;
out:
	client_free(c);
	return r;
}

void
client_free(struct client *c)
{
	if (c == NULL)
		return;
	if (c->curl != NULL)
		curl_easy_cleanup(c->curl);
	free(c->base);
	free(c->cacert);
	free(c->cert);
	free(c->key);
	client_clear_free(c->auth);
	free(c);
}

long
client_status(const struct client *c)
{
	return c->status;
}

const char *
client_message(const struct client *c)
{
	return c->message;
}

const char *
client_error_code(const struct client *c)
{
	return c->code;
}

const char *
client_base_url(const struct client *c)
{
	return c->base;
}

/* A server's text goes to a terminal: no control characters (escape
 * sequences), and a cut never splits a UTF-8 sequence. */
static void
client_set_text(char *dst, size_t cap, const char *src, size_t n)
{
	size_t i;

	if (n > cap - 1) {
		n = cap - 1;
		while (n > 0 && ((unsigned char)src[n] & 0xc0) == 0x80)
			n--;
	}
	for (i = 0; i < n; i++)
		dst[i] = ((unsigned char)src[i] < 0x20 ||
		    (unsigned char)src[i] == 0x7f) ? '?' : src[i];
	dst[n] = '\0';
}

static void
client_msg(struct client *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
client_msg(struct client *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->message, sizeof(c->message), fmt, ap);
	va_end(ap);
}

/* --- callbacks ---------------------------------------------------------- */

/* Answers may carry tokens: the buffer is always a wiped one. */
static void
client_resp_reset(struct client_call *call, size_t max)
{
	wbuf_free(&call->resp);
	wbuf_init_secret(&call->resp, max);
}

static size_t
client_write(char *p, size_t size, size_t nmemb, void *arg)
{
	struct client_call *call = arg;
	size_t n = size * nmemb, done;
	ssize_t w;

	if (call->to_file) {
		for (done = 0; done < n; done += (size_t)w) {
			w = write(call->out_fd, p + done, n - done);
			if (w < 0 && errno == EINTR) {
				w = 0;
				continue;
			}
			if (w <= 0) {
				call->out_error = errno ? errno : EIO;
				return 0;
			}
		}
		if (EVP_DigestUpdate(call->out_md, p, n) != 1) {
			call->out_error = ENOMEM;
			return 0;
		}
		return n;
	}
	if (wbuf_add(&call->resp, p, n) != 0)
		return 0;
	return n;
}

/* Headers arrive before the body: a download's body goes to the file only
 * when the status is 2xx; an error body is kept for its message. */
static size_t
client_header(char *p, size_t size, size_t nmemb, void *arg)
{
	struct client_call *call = arg;
	size_t n = size * nmemb;
	long status;

	/* "HTTP/1.1 200 OK" starts each answer; a 1xx one is followed by
	 * the final one, which decides */
	if (call->out_fd >= 0 && n >= 5 && strncmp(p, "HTTP/", 5) == 0) {
		const char *sp = memchr(p, ' ', n);

		status = 0;
		if (sp != NULL && (size_t)(sp - p) + 4 <= n &&
		    sp[1] >= '1' && sp[1] <= '5')
			status = sp[1] - '0';
		call->to_file = status == 2;
		client_resp_reset(call, CLIENT_MAX_ERROR_BODY);
	}
	return n;
}

static size_t
client_file_read(char *buf, size_t size, size_t nitems, void *arg)
{
	struct client_upload *up = arg;
	size_t want = size * nitems;
	ssize_t n;

	/* the size announced is what is sent, even of a file that grows;
	 * the digest covers exactly those bytes */
	if (want > up->size - up->sent)
		want = (size_t)(up->size - up->sent);
	if (want == 0)
		return 0;
	do
		n = read(up->fd, buf, want);
	while (n < 0 && errno == EINTR);
	if (n < 0 || (n == 0 && up->sent < up->size)) {
		/* a read error, or the file shrank while it was sent */
		up->io_error = n < 0 ? errno : EIO;
		return CURL_READFUNC_ABORT;
	}
	if (EVP_DigestUpdate(up->md, buf, (size_t)n) != 1) {
		up->io_error = ENOMEM;
		return CURL_READFUNC_ABORT;
	}
	up->sent += (uint64_t)n;
	return (size_t)n;
}

/* Every attempt sends the file from its start: curl rewinds here. */
static int
client_file_seek(void *arg, curl_off_t offset, int origin)
{
	struct client_upload *up = arg;

	if (origin != SEEK_SET || offset != 0)
		return CURL_SEEKFUNC_CANTSEEK;
	if (lseek(up->fd, 0, SEEK_SET) != 0 ||
	    EVP_DigestInit_ex(up->md, EVP_sha256(), NULL) != 1)
		return CURL_SEEKFUNC_FAIL;
	up->sent = 0;
	return CURL_SEEKFUNC_OK;
}

static int
client_xferinfo(void *arg, curl_off_t dltotal, curl_off_t dlnow,
    curl_off_t ultotal, curl_off_t ulnow)
{
	struct client_upload *up = arg;

	(void)dltotal;
	(void)dlnow;
	(void)ultotal;
	(void)ulnow;
	if (up != NULL && up->progress != NULL)
		up->progress(up->progress_arg, up->sent, up->size);
	return 0;
}

/* --- one attempt ------------------------------------------------------- */

#define SETOPT(opt, val) do {						\
	if (curl_easy_setopt(h, opt, val) != CURLE_OK)			\
		goto out;						\
} while (0)

static int
client_build_mime(struct client *c, struct client_call *call,
    struct outbound_mem *parts, curl_mime **mimep)
{
	curl_mime *mime = NULL;
	curl_mimepart *mp;
	size_t i;
	int r = SIGNET_ERR_NOMEM;

	if ((mime = curl_mime_init(c->curl)) == NULL)
		goto out;
	for (i = 0; i < call->nfields; i++) {
		parts[i].p = (const unsigned char *)call->fields[i].value;
		parts[i].len = strlen(call->fields[i].value);
		parts[i].off = 0;
		if ((mp = curl_mime_addpart(mime)) == NULL ||
		    curl_mime_name(mp, call->fields[i].name) != CURLE_OK ||
		    curl_mime_data_cb(mp, (curl_off_t)parts[i].len,
		    outbound_mem_read, outbound_mem_seek, NULL, &parts[i]) !=
		    CURLE_OK)
			goto out;
	}
	if ((mp = curl_mime_addpart(mime)) == NULL ||
	    curl_mime_name(mp, call->file_field) != CURLE_OK ||
	    curl_mime_filename(mp, call->file_name) != CURLE_OK ||
	    curl_mime_type(mp, "application/octet-stream") != CURLE_OK ||
	    curl_mime_data_cb(mp, (curl_off_t)call->up->size, client_file_read,
	    client_file_seek, NULL, call->up) != CURLE_OK)
		goto out;
	*mimep = mime;
	mime = NULL;
	r = 0;
out:
	curl_mime_free(mime);
	return r;
}

/* Runs one attempt; *cc and c->status tell what happened. */
static int
client_attempt(struct client *c, struct client_call *call, CURLcode *cc)
{
	CURL *h = c->curl;
	struct curl_slist *hdrs = NULL, *t;
	struct outbound_mem *parts = NULL;
	curl_mime *mime = NULL;
	char *url = NULL;
	size_t n;
	int r = SIGNET_ERR_NOMEM;

	*cc = CURLE_FAILED_INIT;
	c->status = 0;
	c->errbuf[0] = '\0';
	n = strlen(c->base) + strlen(call->path) + 1;
	if ((url = malloc(n)) == NULL)
		goto out;
	snprintf(url, n, "%s%s", c->base, call->path);
	curl_easy_reset(h);
	SETOPT(CURLOPT_URL, url);
	SETOPT(CURLOPT_PROTOCOLS_STR, "https,http");
	/* a redirect would carry the Authorization header elsewhere */
	SETOPT(CURLOPT_FOLLOWLOCATION, 0L);
	SETOPT(CURLOPT_NOSIGNAL, 1L);
	SETOPT(CURLOPT_ERRORBUFFER, c->errbuf);
	SETOPT(CURLOPT_USERAGENT, "signet/" "0.1.0");
	SETOPT(CURLOPT_SSL_VERIFYPEER, 1L);
	SETOPT(CURLOPT_SSL_VERIFYHOST, 2L);
	SETOPT(CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
	SETOPT(CURLOPT_TCP_KEEPALIVE, 1L);
	SETOPT(CURLOPT_CONNECTTIMEOUT_MS, CLIENT_CONNECT_TIMEOUT_MS);
	if (call->timeout_ms > 0)
		SETOPT(CURLOPT_TIMEOUT_MS, call->timeout_ms);
	SETOPT(CURLOPT_LOW_SPEED_LIMIT, 1L);
	SETOPT(CURLOPT_LOW_SPEED_TIME, CLIENT_STALL_S);
	if (c->cacert != NULL)
		SETOPT(CURLOPT_CAINFO, c->cacert);
	if (c->cert != NULL)
		SETOPT(CURLOPT_SSLCERT, c->cert);
	if (c->key != NULL)
		SETOPT(CURLOPT_SSLKEY, c->key);
	SETOPT(CURLOPT_WRITEFUNCTION, client_write);
	SETOPT(CURLOPT_WRITEDATA, call);
	SETOPT(CURLOPT_HEADERFUNCTION, client_header);
	SETOPT(CURLOPT_HEADERDATA, call);
	if ((t = curl_slist_append(hdrs, "Accept: application/json")) == NULL)
		goto out;
	hdrs = t;
	if (c->auth != NULL) {
		if ((t = curl_slist_append(hdrs, c->auth)) == NULL)
			goto out;
		hdrs = t;
	}
	if (call->post && call->up == NULL) {
		if ((t = curl_slist_append(hdrs,
		    "Content-Type: application/json")) == NULL)
			goto out;
		hdrs = t;
		SETOPT(CURLOPT_POST, 1L);
		/* not COPYPOSTFIELDS: the body may hold a password, and
		 * curl's copy would not be wiped */
		SETOPT(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)call->body_len);
		SETOPT(CURLOPT_POSTFIELDS, call->body);
		if (call->method != NULL)
			SETOPT(CURLOPT_CUSTOMREQUEST, call->method);
	} else if (call->up != NULL) {
		if (call->nfields > 0 &&
		    (parts = calloc(call->nfields, sizeof(*parts))) == NULL)
			goto out;
		if ((r = client_build_mime(c, call, parts, &mime)) != 0)
			goto out;
		r = SIGNET_ERR_NOMEM;
		if (lseek(call->up->fd, 0, SEEK_SET) != 0 ||
		    EVP_DigestInit_ex(call->up->md, EVP_sha256(), NULL) != 1) {
			r = SIGNET_ERR_IO;
			goto out;
		}
		call->up->sent = 0;
		SETOPT(CURLOPT_MIMEPOST, mime);
		SETOPT(CURLOPT_NOPROGRESS, 0L);
		SETOPT(CURLOPT_XFERINFOFUNCTION, client_xferinfo);
		SETOPT(CURLOPT_XFERINFODATA, call->up);
	}
	SETOPT(CURLOPT_HTTPHEADER, hdrs);
	*cc = curl_easy_perform(h);
	if (curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &c->status) !=
	    CURLE_OK)
		c->status = 0;
	r = 0;
out:
	/* the list holds a copy of the Authorization line */
	for (t = hdrs; t != NULL; t = t->next)
		OPENSSL_cleanse(t->data, strlen(t->data));
	curl_slist_free_all(hdrs);
	curl_mime_free(mime);
	free(parts);
	free(url);
	return r;
}

#undef SETOPT

/* --- classification and retries --------------------------------------- */

enum client_verdict { CLIENT_DONE, CLIENT_RETRY, CLIENT_FAIL };

static int
client_http_err(long status)
{
	switch (status) {
	case 401:
		return SIGNET_ERR_UNAUTHENTICATED;
	case 403:
		return SIGNET_ERR_FORBIDDEN;
	case 404:
		return SIGNET_ERR_NOT_FOUND;
	case 409:
		return SIGNET_ERR_CONFLICT;
	case 413:
		return SIGNET_ERR_TOO_LARGE;
	case 429:
		return SIGNET_ERR_UNAVAILABLE;
	default:
		return status >= 400 && status < 500 ? SIGNET_ERR_INVALID :
		    SIGNET_ERR_UNAVAILABLE;
	}
}

/* The server's {"error", "message"}; else a word about the status. */
static void
client_take_error(struct client *c, struct client_call *call)
{
	json_t *j = NULL;
	const char *m, *code;

	c->code[0] = '\0';
	if (call->resp.len > 0)
		j = json_loadb((const char *)call->resp.buf, call->resp.len,
		    JSON_REJECT_DUPLICATES, NULL);
	m = json_string_value(json_object_get(j, "message"));
	code = json_string_value(json_object_get(j, "error"));
	if (code != NULL)
		client_set_text(c->code, sizeof(c->code), code, strlen(code));
	if (m != NULL)
		client_set_text(c->message, sizeof(c->message), m, strlen(m));
	else
		client_msg(c, "the server answered HTTP %ld", c->status);
	json_decref(j);
}

/* What a failed transfer means and whether another attempt may help.
 * A call that is not idempotent is tried again only when it cannot have
 * reached the server, or when the server said so (429, 503) or a
 * gateway did not get an answer (502, 504). */
static enum client_verdict
client_judge(struct client *c, struct client_call *call, CURLcode cc,
    int *err)
{
	curl_off_t sent = 0;
	const char *why = c->errbuf[0] ? c->errbuf : curl_easy_strerror(cc);

	if (call->up != NULL && call->up->io_error != 0) {
		client_msg(c, "%s: %s", call->file_name,
		    strerror(call->up->io_error));
		*err = SIGNET_ERR_IO;
		return CLIENT_FAIL;
	}
	if (call->out_error != 0) {
		client_msg(c, "writing the download: %s",
		    strerror(call->out_error));
		*err = SIGNET_ERR_IO;
		return CLIENT_FAIL;
	}
	if (cc == CURLE_OK) {
		if (c->status >= 200 && c->status < 300) {
			*err = 0;
			return CLIENT_DONE;
		}
		client_take_error(c, call);
		if (c->status >= 300 && c->status < 400) {
			client_msg(c, "the server answered with a redirect "
			    "(HTTP %ld); give the appliance's own https:// URL",
			    c->status);
			*err = SIGNET_ERR_CONFIG;
			return CLIENT_FAIL;
		}
		*err = client_http_err(c->status);
		/* a 502 that names an error was written by Signet itself: its
		 * verdict on a server it fetched from (a JWKS URL), which
		 * asking again only repeats; a proxy's 502 names none */
		if (c->status == 502 && c->code[0] != '\0')
			return CLIENT_FAIL;
		/* a submission with an idempotency key may be sent again
		 * after any server error: a repeat returns the first one */
		if (call->idempotent && c->status >= 500 && c->status != 501 &&
		    c->status != 505)
			return CLIENT_RETRY;
		return c->status == 429 || c->status == 502 ||
		    c->status == 503 || c->status == 504 ? CLIENT_RETRY :
		    CLIENT_FAIL;
	}
	c->code[0] = '\0';
	switch (cc) {
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_CRL_BADFILE:
	case CURLE_SSL_CIPHER:
		client_msg(c, "the CA file, client certificate or key cannot "
		    "be used: %s", why);
		*err = SIGNET_ERR_CONFIG;
		return CLIENT_FAIL;
	case CURLE_PEER_FAILED_VERIFICATION:
		client_msg(c, "the server's certificate does not verify "
		    "against the CA file (--cacert, SIGNET_CACERT): %s", why);
		*err = SIGNET_ERR_UNAVAILABLE;
		return CLIENT_FAIL;
	case CURLE_WRITE_ERROR:
		/* client_write refused an answer over its bound */
		client_msg(c, "the server's answer is larger than %d bytes",
		    CLIENT_MAX_RESPONSE);
		*err = SIGNET_ERR_UNAVAILABLE;
		return CLIENT_FAIL;
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
	case CURLE_COULDNT_CONNECT:
	case CURLE_SSL_CONNECT_ERROR:
		client_msg(c, "cannot reach %s: %s", c->where, why);
		*err = SIGNET_ERR_UNAVAILABLE;
		return CLIENT_RETRY;
	default:
		break;
	}
	client_msg(c, "%s: %s", c->where, why);
	*err = SIGNET_ERR_UNAVAILABLE;
	if (call->idempotent)
		return CLIENT_RETRY;
	/* nothing of the request went out: safe to send it again */
	if (curl_easy_getinfo(c->curl, CURLINFO_REQUEST_SIZE, &sent) ==
	    CURLE_OK && sent == 0)
		return CLIENT_RETRY;
	return CLIENT_FAIL;
}

/* Exponential backoff with jitter (a random point in the upper half), so
 * that runners refused together do not return together. */
static long
client_delay_ms(struct client *c, int attempt)
{
	long d = CLIENT_BACKOFF_BASE_MS, j;
	curl_off_t ra = 0;
	unsigned int rnd = 0;
	int i;

	if (curl_easy_getinfo(c->curl, CURLINFO_RETRY_AFTER, &ra) == CURLE_OK &&
	    ra > 0)
		return (ra > CLIENT_MAX_RETRY_AFTER_S ? CLIENT_MAX_RETRY_AFTER_S :
		    (long)ra) * 1000L;
	for (i = 0; i < attempt && d < CLIENT_BACKOFF_MAX_MS; i++)
		d *= 2;
	if (d > CLIENT_BACKOFF_MAX_MS)
		d = CLIENT_BACKOFF_MAX_MS;
	if (RAND_bytes((unsigned char *)&rnd, sizeof(rnd)) != 1)
		rnd = (unsigned int)time(NULL);
	j = d / 2;
	return d - j + (long)(rnd % (unsigned int)(j + 1));
}

void
client_sleep_ms(long ms)
{
	struct timespec ts;

	ts.tv_sec = ms / 1000;
	ts.tv_nsec = (ms % 1000) * 1000000L;
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

static int
client_reset_download(struct client_call *call)
{
	if (call->out_fd < 0)
		return 0;
	if (ftruncate(call->out_fd, 0) != 0 ||
	    lseek(call->out_fd, 0, SEEK_SET) != 0) {
		call->out_error = errno;
		return SIGNET_ERR_IO;
	}
	if (EVP_DigestInit_ex(call->out_md, EVP_sha256(), NULL) != 1)
		return SIGNET_ERR_NOMEM;
	return 0;
}

static int
client_perform(struct client *c, struct client_call *call)
{
	enum client_verdict v = CLIENT_FAIL;
	CURLcode cc;
	long ms;
	int attempt, r = SIGNET_ERR_INTERNAL;

	c->message[0] = '\0';
	c->code[0] = '\0';
	for (attempt = 0; ; attempt++) {
		call->to_file = 0;
		client_resp_reset(call, call->out_fd >= 0 ?
		    CLIENT_MAX_ERROR_BODY : call->max_resp > 0 ?
		    call->max_resp : CLIENT_MAX_RESPONSE);
		if ((r = client_reset_download(call)) != 0) {
			client_msg(c, "preparing the download: %s",
			    strerror(call->out_error));
			goto out;
		}
		if ((r = client_attempt(c, call, &cc)) != 0) {
			client_msg(c, "%s", signet_strerror(r));
			goto out;
		}
		v = client_judge(c, call, cc, &r);
		if (v != CLIENT_RETRY || attempt >= c->retries)
			break;
		ms = client_delay_ms(c, attempt);
		if (c->status != 0)
			log_warn("the server answered HTTP %ld; trying again in "
			    "%ld.%ld s (retry %d of %d)", c->status, ms / 1000,
			    (ms % 1000) / 100, attempt + 1, c->retries);
		else
			log_warn("%s; trying again in %ld.%ld s (retry %d of "
			    "%d)", c->message, ms / 1000, (ms % 1000) / 100,
			    attempt + 1, c->retries);
		client_sleep_ms(ms);
	}
	if (r == SIGNET_ERR_UNAVAILABLE && v == CLIENT_RETRY && c->retries > 0) {
		size_t l = strlen(c->message);

		/* keeps the cause, adds how hard we tried */
		snprintf(c->message + l, sizeof(c->message) - l,
		    " (gave up after %d attempts)", attempt + 1);
	}
out:
	return r;
}

/* --- the calls ---------------------------------------------------------- */

static int
client_parse(struct client *c, struct client_call *call, json_t **out)
{
	json_error_t e;

	if (out == NULL)
		return 0;
	if (call->resp.len == 0) {
		*out = json_object();
		return *out == NULL ? SIGNET_ERR_NOMEM : 0;
	}
	*out = json_loadb((const char *)call->resp.buf, call->resp.len,
	    JSON_REJECT_DUPLICATES, &e);
	if (*out == NULL) {
		client_msg(c, "the server's answer is not JSON (%s)", e.text);
		return SIGNET_ERR_UNAVAILABLE;
	}
	return 0;
}

static void
client_call_init(struct client_call *call, const char *path)
{
	memset(call, 0, sizeof(*call));
	call->path = path;
	call->out_fd = -1;
	call->timeout_ms = CLIENT_CALL_TIMEOUT_MS;
	wbuf_init_secret(&call->resp, CLIENT_MAX_RESPONSE);
}

int
client_get_json(struct client *c, const char *path, json_t **out)
{
	struct client_call call;
	int r;

	*out = NULL;
	client_call_init(&call, path);
	call.idempotent = 1;
	if ((r = client_perform(c, &call)) == 0)
		r = client_parse(c, &call, out);
	wbuf_free(&call.resp);
	return r;
}

int
client_get_text(struct client *c, const char *path, size_t max, char **out,
    size_t *len)
{
	struct client_call call;
	int r;

	*out = NULL;
	*len = 0;
	client_call_init(&call, path);
	/* the answer is held to the caller's bound, not the JSON one */
	call.max_resp = max > 0 ? max : 1;
	call.idempotent = 1;
	if ((r = client_perform(c, &call)) == 0) {
		if ((*out = malloc(call.resp.len + 1)) == NULL) {
			r = SIGNET_ERR_NOMEM;
		} else {
			if (call.resp.len > 0)
				memcpy(*out, call.resp.buf, call.resp.len);
			(*out)[call.resp.len] = '\0';
			*len = call.resp.len;
		}
	}
	wbuf_free(&call.resp);
	return r;
}

int
client_post_json(struct client *c, const char *path, const json_t *body,
    json_t **out)
{
	return client_call_json(c, "POST", path, body, out);
}

int
client_call_json(struct client *c, const char *method, const char *path,
    const json_t *body, json_t **out)
{
	struct client_call call;
	char *text = NULL;
	size_t n = 0;
	int r = SIGNET_ERR_NOMEM;

	if (out != NULL)
		*out = NULL;
	client_call_init(&call, path);
	call.post = 1;
	if (strcmp(method, "POST") != 0)
		call.method = method;
	/* PUT and DELETE say what the result is: safe to send again */
	call.idempotent = strcmp(method, "PUT") == 0 ||
	    strcmp(method, "DELETE") == 0;
	call.body = "{}";
	call.body_len = 2;
	if (body != NULL) {
		/* into a buffer of ours, wiped below: it may hold a
		 * password */
		if ((n = json_dumpb(body, NULL, 0, JSON_COMPACT)) == 0 ||
		    (text = malloc(n)) == NULL ||
		    json_dumpb(body, text, n, JSON_COMPACT) != n)
			goto out;
		call.body = text;
		call.body_len = n;
	}
	if ((r = client_perform(c, &call)) == 0) {
		/* 204: nothing to parse, and nothing to hand back */
		if (call.resp.len == 0 && out != NULL &&
		    strcmp(method, "DELETE") == 0)
			r = 0;
		else
			r = client_parse(c, &call, out);
	}
out:
	if (text != NULL)
		OPENSSL_clear_free(text, n);
	wbuf_free(&call.resp);
	return r;
}

static void
client_hex(const unsigned char *d, unsigned int n, char out[CLIENT_SHA256_HEX])
{
	unsigned int i;

	out[0] = '\0';
	for (i = 0; i < n && 2 * i + 2 < CLIENT_SHA256_HEX; i++)
		snprintf(out + 2 * i, 3, "%02x", d[i]);
}

static int
client_final_hex(EVP_MD_CTX *md, char out[CLIENT_SHA256_HEX])
{
	unsigned char d[EVP_MAX_MD_SIZE];
	unsigned int n = 0;

	if (EVP_DigestFinal_ex(md, d, &n) != 1 || n != 32)
		return SIGNET_ERR_CRYPTO;
	client_hex(d, n, out);
	return 0;
}

int
client_post_file(struct client *c, const char *path,
    const struct client_field *fields, size_t nfields,
    const char *file_field, const char *file, client_progress_fn progress,
    void *progress_arg, char sha256[CLIENT_SHA256_HEX], json_t **out)
{
	struct client_call call;
	struct client_upload up;
	struct stat st;
	char namebuf[PATH_MAX];
	int r = SIGNET_ERR_IO;

	*out = NULL;
	sha256[0] = '\0';
	memset(&up, 0, sizeof(up));
	up.fd = -1;
	client_call_init(&call, path);
	c->status = 0;
	c->code[0] = '\0';
	if ((up.fd = open(file, O_RDONLY | O_CLOEXEC | O_NOCTTY)) < 0 ||
	    fstat(up.fd, &st) != 0) {
		client_msg(c, "%s: %s", file, strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		client_msg(c, "%s: not a regular file", file);
		goto out;
	}
	r = SIGNET_ERR_NOMEM;
	if ((up.md = EVP_MD_CTX_new()) == NULL)
		goto out;
	up.size = (uint64_t)st.st_size;
	up.progress = progress;
	up.progress_arg = progress_arg;
	snprintf(namebuf, sizeof(namebuf), "%s", file);
	call.post = 1;
	call.fields = fields;
	call.nfields = nfields;
	call.file_field = file_field;
	call.file_name = basename(namebuf);
	call.up = &up;
	call.timeout_ms = 0;
	/* a form with an idempotency key is safe to send again (the server
	 * answers a repeat with the first request) */
	for (size_t i = 0; i < nfields; i++)
		if (strcmp(fields[i].name, "idempotencyKey") == 0)
			call.idempotent = 1;
	if ((r = client_perform(c, &call)) != 0)
		goto out;
	if ((r = client_final_hex(up.md, sha256)) != 0 ||
	    (r = client_parse(c, &call, out)) != 0)
		goto out;
	if (progress != NULL)
		progress(progress_arg, up.size, up.size);
out:
	if (up.fd >= 0)
		close(up.fd);
	EVP_MD_CTX_free(up.md);
	wbuf_free(&call.resp);
	return r;
}

/* The directory entry of a renamed file is durable only once its
 * directory is synced. */
static int
client_sync_dir(const char *dir)
{
	int fd, r = -1;

	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return -1;
	if (fsync(fd) == 0)
		r = 0;
	close(fd);
	return r;
}

int
client_download(struct client *c, const char *path, const char *dest,
    const char *expect, char sha256[CLIENT_SHA256_HEX])
{
	struct client_call call;
	char tmp[PATH_MAX], dirbuf[PATH_MAX], basebuf[PATH_MAX];
	const char *dir, *base;
	mode_t mask;
	int fd = -1, r = SIGNET_ERR_IO, n;

	sha256[0] = '\0';
	tmp[0] = '\0';
	client_call_init(&call, path);
	c->status = 0;
	c->code[0] = '\0';
	snprintf(dirbuf, sizeof(dirbuf), "%s", dest);
	snprintf(basebuf, sizeof(basebuf), "%s", dest);
	dir = dirname(dirbuf);
	base = basename(basebuf);
	/* beside dest, so that rename() stays on one file system */
	n = snprintf(tmp, sizeof(tmp), "%s/.%s.signet-XXXXXX", dir, base);
	if (n < 0 || (size_t)n >= sizeof(tmp)) {
		tmp[0] = '\0';
		client_msg(c, "%s: the path is too long", dest);
		goto out;
	}
	if ((fd = mkostemp(tmp, O_CLOEXEC)) < 0) {
		client_msg(c, "%s: %s", dir, strerror(errno));
		tmp[0] = '\0';
		goto out;
	}
	r = SIGNET_ERR_NOMEM;
	if ((call.out_md = EVP_MD_CTX_new()) == NULL)
		goto out;
	call.out_fd = fd;
	call.idempotent = 1;
	call.timeout_ms = 0;
	if ((r = client_perform(c, &call)) != 0 ||
	    (r = client_final_hex(call.out_md, sha256)) != 0)
		goto out;
	if (expect != NULL && *expect != '\0' && strcmp(expect, sha256) != 0) {
		client_msg(c, "the bytes received (SHA-256 %s) are not the "
		    "ones the request records (%s); nothing written", sha256,
		    expect);
		r = SIGNET_ERR_CRYPTO;
		goto out;
	}
	r = SIGNET_ERR_IO;
	/* like any file a program writes: 0666 less the umask */
	mask = umask(0);
	umask(mask);
	if (fchmod(fd, 0666 & ~mask) != 0 || fsync(fd) != 0) {
		client_msg(c, "%s: %s", tmp, strerror(errno));
		goto out;
	}
	n = close(fd);
	fd = -1;
	if (n != 0) {
		client_msg(c, "%s: %s", tmp, strerror(errno));
		goto out;
	}
	if (rename(tmp, dest) != 0) {
		client_msg(c, "%s: %s", dest, strerror(errno));
		goto out;
	}
	tmp[0] = '\0';
	if (client_sync_dir(dir) != 0) {
		client_msg(c, "%s: %s", dir, strerror(errno));
		goto out;
	}
	r = 0;
out:
	if (fd >= 0)
		close(fd);
	if (tmp[0] != '\0')
		unlink(tmp);
	EVP_MD_CTX_free(call.out_md);
	wbuf_free(&call.resp);
	return r;
}
