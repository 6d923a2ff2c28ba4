#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "log.h"
#include "outbound.h"
#include "signet_limits.h"

#define OUTBOUND_USER_AGENT	"signet/0.1"

struct outbound_sink {
	struct wbuf *b;
	int err;		/* why the body was not kept (wbuf_add's) */
};

static pthread_once_t outbound_once = PTHREAD_ONCE_INIT;
static CURLcode outbound_rc = CURLE_FAILED_INIT;

static void
outbound_global(void)
{
	/* not thread-safe in every libcurl build: once, before any handle */
	outbound_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

int
outbound_init(void)
{
	if (pthread_once(&outbound_once, outbound_global) != 0 ||
	    outbound_rc != CURLE_OK) {
		log_err("libcurl initialisation failed");
		return SIGNET_ERR_INTERNAL;
	}
	return 0;
}

static size_t
outbound_discard(char *p, size_t size, size_t nmemb, void *arg)
{
	(void)p;
	(void)arg;
	return size * nmemb;
}

static int
outbound_progress(void *arg, curl_off_t dlt, curl_off_t dln, curl_off_t ult,
    curl_off_t uln)
{
	atomic_int *stop = arg;

	(void)dlt;
	(void)dln;
	(void)ult;
	(void)uln;
	/* non-zero aborts the transfer: stopping need not wait 30 s */
	return stop != NULL && atomic_load(stop) ? 1 : 0;
}

int
outbound_setup(CURL *c, const char *url, const char *protocols,
    const char *ca_file, atomic_int *stop, char *errbuf)
{
	if (curl_easy_setopt(c, CURLOPT_URL, url) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, protocols) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf) != CURLE_OK ||
	    /* signals and threads do not mix (libcurl-thread(3)) */
	    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS,
	    (long)SIGNET_OUTBOUND_CONNECT_TIMEOUT_MS) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS,
	    (long)SIGNET_OUTBOUND_TIMEOUT_MS) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L) != CURLE_OK ||
	    (ca_file != NULL &&
	    curl_easy_setopt(c, CURLOPT_CAINFO, ca_file) != CURLE_OK) ||
	    curl_easy_setopt(c, CURLOPT_USERAGENT, OUTBOUND_USER_AGENT)
	    != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, outbound_discard)
	    != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, outbound_progress)
	    != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_XFERINFODATA, stop) != CURLE_OK)
		return SIGNET_ERR_INTERNAL;
	return 0;
}

static size_t
outbound_keep(char *p, size_t size, size_t nmemb, void *arg)
{
	struct outbound_sink *k = arg;
	size_t n = size * nmemb;

	/* wbuf_add frees the buffer past its maximum; a short count makes
	 * libcurl end the transfer (CURLE_WRITE_ERROR) */
	if (k->err == 0)
		k->err = wbuf_add(k->b, p, n);
	return k->err == 0 ? n : 0;
}

int
outbound_get(const char *url, const char *accept, const char *ca_file,
    size_t max, atomic_int *stop, struct wbuf *body, char *err,
    size_t errlen)
{
	struct outbound_sink sink = { body, 0 };
	struct curl_slist *h = NULL;
	char errbuf[CURL_ERROR_SIZE] = "", line[128];
	CURL *c = NULL;
	CURLcode cc;
	long code = 0;
	int r = SIGNET_ERR_UNAVAILABLE;

	wbuf_init(body, max);
	snprintf(err, errlen, "out of memory");
	/* the scheme is checked here as well as by libcurl's protocol list:
	 * a key set must never come over plain HTTP */
	if (strncasecmp(url, "https://", 8) != 0) {
		snprintf(err, errlen, "not an https:// URL");
		goto out;
	}
	if ((r = outbound_init()) != 0)
		goto out;
	r = SIGNET_ERR_UNAVAILABLE;
	snprintf(line, sizeof(line), "Accept: %s", accept);
	if ((h = curl_slist_append(NULL, line)) == NULL ||
	    (c = curl_easy_init()) == NULL)
		goto out;
	/* no CURLOPT_ACCEPT_ENCODING: what arrives is what is counted, so
	 * a compressed answer cannot inflate past max */
	if (outbound_setup(c, url, "https", ca_file, stop, errbuf) != 0 ||
	    curl_easy_setopt(c, CURLOPT_HTTPGET, 1L) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)max)
	    != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, outbound_keep)
	    != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_WRITEDATA, &sink) != CURLE_OK) {
		snprintf(err, errlen, "libcurl refused an option");
		goto out;
	}
	cc = curl_easy_perform(c);
	if (sink.err == SIGNET_ERR_NOMEM) {
		r = SIGNET_ERR_NOMEM;
		goto out;
	}
	if (sink.err != 0 || cc == CURLE_FILESIZE_EXCEEDED) {
		r = SIGNET_ERR_TOO_LARGE;
		snprintf(err, errlen, "the answer is larger than %zu bytes", max);
		goto out;
	}
	if (cc != CURLE_OK) {
		snprintf(err, errlen, "%s", cc == CURLE_ABORTED_BY_CALLBACK ?
		    "stopped" : errbuf[0] != '\0' ? errbuf :
		    curl_easy_strerror(cc));
		goto out;
	}
	if (curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code) != CURLE_OK ||
	    code != 200) {
		/* a redirect is not followed: the URL given is the one used */
		snprintf(err, errlen, "the server answered HTTP %ld%s", code,
		    code >= 300 && code < 400 ? " (a redirect; give the final "
		    "URL)" : "");
		goto out;
	}
	err[0] = '\0';
	r = 0;
out:
	if (r != 0)
		wbuf_free(body);
	curl_easy_cleanup(c);
	curl_slist_free_all(h);
	return r;
}

size_t
outbound_mem_read(char *buf, size_t size, size_t nitems, void *arg)
{
	struct outbound_mem *m = arg;
	size_t n = size * nitems;

	if (n > m->len - m->off)
		n = m->len - m->off;
	memcpy(buf, m->p + m->off, n);
	m->off += n;
	return n;
}

int
outbound_mem_seek(void *arg, curl_off_t offset, int origin)
{
	struct outbound_mem *m = arg;

	if (origin != SEEK_SET || offset < 0 || (size_t)offset > m->len)
		return CURL_SEEKFUNC_CANTSEEK;
	m->off = (size_t)offset;
	return CURL_SEEKFUNC_OK;
}
