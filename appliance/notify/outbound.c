#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

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
/* written once at start (outbound_allow_internal), read after */
static struct config_net outbound_allowed[CONFIG_MAX_ALLOW_INTERNAL];
static size_t outbound_n_allowed;

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

void
outbound_allow_internal(const struct config_net *nets, size_t n)
{
	if (n > CONFIG_MAX_ALLOW_INTERNAL)
		n = CONFIG_MAX_ALLOW_INTERNAL;
	if (n > 0)	/* nets may be NULL for none */
		memcpy(outbound_allowed, nets, n * sizeof(*nets));
	outbound_n_allowed = n;
}

static int
outbound_in_net(int family, const unsigned char *a,
    const struct config_net *e)
{
	unsigned full = e->bits / 8, rest = e->bits % 8;

	if (e->family != family)
		return 0;
	if (memcmp(a, e->addr, full) != 0)
		return 0;
	return rest == 0 ||
	    ((a[full] ^ e->addr[full]) & (0xff00u >> rest) & 0xff) == 0;
}

int
outbound_refused_addr(const struct sockaddr *sa, size_t len)
{
	static const unsigned char v4mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0,
	    0, 0, 0xff, 0xff };
	static const unsigned char zero[12];
	const unsigned char *a;
	unsigned char v4[4];
	int family, internal;
	size_t i;

	if (sa->sa_family == AF_INET && len >= sizeof(struct sockaddr_in)) {
		memcpy(v4, &((const struct sockaddr_in *)sa)->sin_addr, 4);
		family = AF_INET;
		a = v4;
	} else if (sa->sa_family == AF_INET6 &&
	    len >= sizeof(struct sockaddr_in6)) {
		a = ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr;
		family = AF_INET6;
		/* ::ffff:a.b.c.d reaches a.b.c.d; so may the deprecated
		 * ::a.b.c.d (RFC 4291 2.5.5.1), but :: and ::1 are IPv6's */
		if (memcmp(a, v4mapped, 12) == 0 || (memcmp(a, zero, 12) == 0 &&
		    (a[12] | a[13] | a[14]) != 0)) {
			memcpy(v4, a + 12, 4);
			family = AF_INET;
			a = v4;
		}
	} else {
		return 1;	/* nothing but IP */
	}
	if (family == AF_INET)
		/* 0.0.0.0/8 "this network" (RFC 1122 3.2.1.3; Linux takes
		 * 0.0.0.0 for the local host), 127/8, 169.254/16 (RFC 3927) */
		internal = a[0] == 0 || a[0] == 127 ||
		    (a[0] == 169 && a[1] == 254);
	else
		/* ::, ::1, fe80::/10 (RFC 4291 2.5.2, 2.5.3, 2.5.6) */
		internal = (memcmp(a, zero, 12) == 0 && a[12] == 0 &&
		    a[13] == 0 && a[14] == 0 && (a[15] == 0 || a[15] == 1)) ||
		    (a[0] == 0xfe && (a[1] & 0xc0) == 0x80);
	if (!internal)
		return 0;
	for (i = 0; i < outbound_n_allowed; i++)
		if (outbound_in_net(family, a, &outbound_allowed[i]))
			return 0;
	return 1;
}

static curl_socket_t
outbound_open(void *arg, curlsocktype purpose, struct curl_sockaddr *a)
{
	struct outbound_guard *g = arg;

	if (purpose != CURLSOCKTYPE_IPCXN ||
	    outbound_refused_addr(&a->addr, a->addrlen)) {
		g->refused = 1;
		return CURL_SOCKET_BAD;
	}
	return socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
}

int
outbound_guard(CURL *c, struct outbound_guard *g)
{
	g->refused = 0;
	/* a proxy would connect on our behalf, to an address not seen
	 * here: none (nor one from the environment) */
	if (curl_easy_setopt(c, CURLOPT_OPENSOCKETFUNCTION, outbound_open)
	    != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_OPENSOCKETDATA, g) != CURLE_OK ||
	    curl_easy_setopt(c, CURLOPT_PROXY, "") != CURLE_OK)
		return SIGNET_ERR_INTERNAL;
	return 0;
}

void
outbound_error(CURLcode cc, const struct outbound_guard *g, char *err,
    size_t errlen)
{
	const char *m;

	switch (cc) {
	case CURLE_COULDNT_CONNECT:
		m = g != NULL && g->refused ? "its address is internal "
		    "(loopback, link-local or unspecified) and [outbound] "
		    "allow_internal does not list it" : "the connection was "
		    "refused or the host is unreachable";
		break;
	case CURLE_COULDNT_RESOLVE_HOST:
		m = "the host name does not resolve";
		break;
	case CURLE_OPERATION_TIMEDOUT:
		m = "timed out";
		break;
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CIPHER:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_ISSUER_ERROR:
	case CURLE_SSL_INVALIDCERTSTATUS:
	case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
	case CURLE_USE_SSL_FAILED:
		m = "the TLS handshake failed (an untrusted certificate, or "
		    "not a TLS server)";
		break;
	case CURLE_FILESIZE_EXCEEDED:
	case CURLE_WRITE_ERROR:
		m = "the answer is too large";
		break;
	case CURLE_ABORTED_BY_CALLBACK:
		m = "stopped";
		break;
	case CURLE_GOT_NOTHING:
	case CURLE_RECV_ERROR:
	case CURLE_SEND_ERROR:
	case CURLE_WEIRD_SERVER_REPLY:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
		m = "the connection broke or the answer was not HTTP";
		break;
	default:
		snprintf(err, errlen, "the request failed (libcurl error %d)",
		    (int)cc);
		return;
	}
	snprintf(err, errlen, "%s", m);
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
	struct outbound_guard guard;
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
	    outbound_guard(c, &guard) != 0 ||
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
		outbound_error(cc, &guard, err, errlen);
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
