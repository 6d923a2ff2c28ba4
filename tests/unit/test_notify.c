/* Notifications: outbox and delivery against a real HTTPS receiver and a
 * minimal SMTP sink, both run by the test on free ports. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "config.h"
#include "notify.h"
#include "outbound.h"
#include "store.h"

#define WAIT_MS		15000
#define HEAD_MAX	8192
#define BODY_MAX	(128 * 1024)

/* ---- throwaway certificates ---- */

static void
make_cert(const char *path, EVP_PKEY **keyout, X509 **certout)
{
	EVP_PKEY *k = EVP_EC_gen("P-256");
	X509 *x = X509_new();
	X509_NAME *nm;
	X509V3_CTX v3;
	X509_EXTENSION *ext;
	const char *exts[][2] = {
		{ "subjectAltName", "IP:127.0.0.1" },
		{ "keyUsage", "critical,digitalSignature" },
		{ "extendedKeyUsage", "serverAuth" },
	};
	size_t i;
	FILE *f;

	assert_non_null(k);
	assert_non_null(x);
	assert_int_equal(X509_set_version(x, 2), 1);
	ASN1_INTEGER_set(X509_get_serialNumber(x), (long)(time(NULL) & 0xffff));
	X509_gmtime_adj(X509_getm_notBefore(x), -60);
	X509_gmtime_adj(X509_getm_notAfter(x), 86400);
	assert_int_equal(X509_set_pubkey(x, k), 1);
	nm = X509_get_subject_name(x);
	assert_int_equal(X509_NAME_add_entry_by_txt(nm, "CN", MBSTRING_ASC,
	    (const unsigned char *)"127.0.0.1", -1, -1, 0), 1);
	assert_int_equal(X509_set_issuer_name(x, nm), 1);
	X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
	for (i = 0; i < sizeof(exts) / sizeof(exts[0]); i++) {
		ext = X509V3_EXT_conf(NULL, &v3, exts[i][0], exts[i][1]);
		assert_non_null(ext);
		assert_int_equal(X509_add_ext(x, ext, -1), 1);
		X509_EXTENSION_free(ext);
	}
	assert_true(X509_sign(x, k, EVP_sha256()) > 0);
	assert_non_null(f = fopen(path, "w"));
	assert_int_equal(PEM_write_X509(f, x), 1);
	assert_int_equal(fclose(f), 0);
	*keyout = k;
	*certout = x;
}

/* ---- sockets ---- */

static int
listen_on(uint16_t port, uint16_t *bound)
{
	struct sockaddr_in sa;
	socklen_t sl = sizeof(sa);
	int fd, one = 1;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one,
	    sizeof(one)), 0);
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons(port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(fd, 16), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
	*bound = ntohs(sa.sin_port);
	return fd;
}

/* A port nothing listens on (for "receiver down"). */
static uint16_t
closed_port(void)
{
	uint16_t port;
	int fd = listen_on(0, &port);

	close(fd);
	return port;
}

/* Accepts one connection, or returns -1 after 100 ms (to see stop). */
static int
accept_some(int lfd)
{
	struct pollfd p = { .fd = lfd, .events = POLLIN };
	struct timeval tv = { .tv_sec = 5 };
	int fd;

	if (poll(&p, 1, 100) != 1)
		return -1;
	if ((fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC)) < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	return fd;
}

/* ---- the HTTPS receiver ---- */

struct https_srv {
	int lfd;
	uint16_t port;
	SSL_CTX *ctx;
	pthread_t th;
	atomic_int stop;
	pthread_mutex_t lock;
	int fail_first;		/* answer 503 to this many requests */
	int nreq;		/* requests read whole */
	char head[HEAD_MAX + 1];	/* of the last request */
	char body[BODY_MAX + 1];
	size_t body_len;
};

static int
ssl_read_some(SSL *ssl, char *buf, size_t cap, size_t *len)
{
	int n;

	if (*len >= cap)
		return -1;
	n = SSL_read(ssl, buf + *len, (int)(cap - *len));
	if (n <= 0)
		return -1;
	*len += (size_t)n;
	return 0;
}

/* Value of header name in a request head, or NULL. */
static const char *
header(const char *head, const char *name, char *out, size_t cap)
{
	size_t nl = strlen(name);
	const char *p = head, *e;

	while ((p = strstr(p, "\r\n")) != NULL) {
		p += 2;
		if (strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
			p += nl + 1;
			while (*p == ' ')
				p++;
			if ((e = strstr(p, "\r\n")) == NULL ||
			    (size_t)(e - p) >= cap)
				return NULL;
			memcpy(out, p, (size_t)(e - p));
			out[e - p] = '\0';
			return out;
		}
	}
	return NULL;
}

static void
https_conn(struct https_srv *h, int fd)
{
	static char buf[HEAD_MAX + BODY_MAX];
	char cl[32];
	const char *end;
	size_t len = 0, hlen, blen;
	SSL *ssl = SSL_new(h->ctx);
	int status = 200;

	if (ssl == NULL || SSL_set_fd(ssl, fd) != 1 || SSL_accept(ssl) != 1)
		goto out;
	for (;;) {
		if (ssl_read_some(ssl, buf, HEAD_MAX, &len) != 0)
			goto out;
		buf[len] = '\0';
		if ((end = strstr(buf, "\r\n\r\n")) != NULL)
			break;
	}
	hlen = (size_t)(end - buf) + 2;
	if (header(buf, "Content-Length", cl, sizeof(cl)) == NULL)
		goto out;
	blen = strtoul(cl, NULL, 10);
	if (blen > BODY_MAX)
		goto out;
	while (len < hlen + 2 + blen)
		if (ssl_read_some(ssl, buf, sizeof(buf), &len) != 0)
			goto out;
	pthread_mutex_lock(&h->lock);
	memcpy(h->head, buf, hlen);
	h->head[hlen] = '\0';
	memcpy(h->body, buf + hlen + 2, blen);
	h->body[blen] = '\0';
	h->body_len = blen;
	if (h->fail_first > 0) {
		h->fail_first--;
		status = 503;
	}
	h->nreq++;
	pthread_mutex_unlock(&h->lock);
	snprintf(buf, sizeof(buf), "HTTP/1.1 %d X\r\nContent-Length: 2\r\n"
	    "Connection: close\r\n\r\nok", status);
	SSL_write(ssl, buf, (int)strlen(buf));
	SSL_shutdown(ssl);
out:
	SSL_free(ssl);
	close(fd);
}

static void *
https_main(void *arg)
{
	struct https_srv *h = arg;
	int fd;

	while (!atomic_load(&h->stop))
		if ((fd = accept_some(h->lfd)) >= 0)
			https_conn(h, fd);
	return NULL;
}

static struct https_srv *
https_start(uint16_t port, EVP_PKEY *key, X509 *cert, int fail_first)
{
	struct https_srv *h = calloc(1, sizeof(*h));

	assert_non_null(h);
	pthread_mutex_init(&h->lock, NULL);
	h->fail_first = fail_first;
	assert_non_null(h->ctx = SSL_CTX_new(TLS_server_method()));
	assert_int_equal(SSL_CTX_use_certificate(h->ctx, cert), 1);
	assert_int_equal(SSL_CTX_use_PrivateKey(h->ctx, key), 1);
	h->lfd = listen_on(port, &h->port);
	assert_int_equal(pthread_create(&h->th, NULL, https_main, h), 0);
	return h;
}

static void
https_stop(struct https_srv *h)
{
	if (h == NULL)
		return;
	atomic_store(&h->stop, 1);
	pthread_join(h->th, NULL);
	close(h->lfd);
	SSL_CTX_free(h->ctx);
	pthread_mutex_destroy(&h->lock);
	free(h);
}

static int
https_count(struct https_srv *h)
{
	int n;

	pthread_mutex_lock(&h->lock);
	n = h->nreq;
	pthread_mutex_unlock(&h->lock);
	return n;
}

/* ---- the SMTP sink ---- */

struct smtp_sink {
	int lfd;
	uint16_t port;
	pthread_t th;
	atomic_int stop;
	pthread_mutex_t lock;
	int nmsg;
	char from[2048];
	char rcpt[2048];
	char data[BODY_MAX + 1];	/* un-dot-stuffed, CRLF kept */
	size_t data_len;
};

/* One CRLF-terminated line into line (without CRLF); -1 on EOF. */
static int
smtp_line(int fd, char *rbuf, size_t *rlen, char *line, size_t cap)
{
	char *e;
	ssize_t n;
	size_t l;

	for (;;) {
		if ((e = memmem(rbuf, *rlen, "\r\n", 2)) != NULL) {
			l = (size_t)(e - rbuf);
			if (l >= cap)
				return -1;
			memcpy(line, rbuf, l);
			line[l] = '\0';
			memmove(rbuf, e + 2, *rlen - l - 2);
			*rlen -= l + 2;
			return 0;
		}
		if (*rlen == 4096)
			return -1;
		if ((n = read(fd, rbuf + *rlen, 4096 - *rlen)) <= 0)
			return -1;
		*rlen += (size_t)n;
	}
}

static void
say(int fd, const char *s)
{
	if (write(fd, s, strlen(s)) < 0)
		return;
}

static void
smtp_conn(struct smtp_sink *m, int fd)
{
	char rbuf[4096], line[2048];
	static char data[BODY_MAX + 1];
	size_t rlen = 0, dlen = 0, l;
	const char *p;

	say(fd, "220 sink ESMTP\r\n");
	while (smtp_line(fd, rbuf, &rlen, line, sizeof(line)) == 0) {
		if (strncasecmp(line, "EHLO", 4) == 0 ||
		    strncasecmp(line, "HELO", 4) == 0) {
			say(fd, "250 sink\r\n");
		} else if (strncasecmp(line, "MAIL FROM:", 10) == 0) {
			pthread_mutex_lock(&m->lock);
			snprintf(m->from, sizeof(m->from), "%s", line + 10);
			pthread_mutex_unlock(&m->lock);
			say(fd, "250 ok\r\n");
		} else if (strncasecmp(line, "RCPT TO:", 8) == 0) {
			pthread_mutex_lock(&m->lock);
			snprintf(m->rcpt, sizeof(m->rcpt), "%s", line + 8);
			pthread_mutex_unlock(&m->lock);
			say(fd, "250 ok\r\n");
		} else if (strcasecmp(line, "DATA") == 0) {
			say(fd, "354 go on\r\n");
			dlen = 0;
			for (;;) {
				if (smtp_line(fd, rbuf, &rlen, line,
				    sizeof(line)) != 0)
					goto out;
				if (strcmp(line, ".") == 0)
					break;
				/* RFC 5321 4.5.2: the receiver's half */
				p = line[0] == '.' ? line + 1 : line;
				l = strlen(p);
				if (dlen + l + 2 > BODY_MAX)
					goto out;
				memcpy(data + dlen, p, l);
				memcpy(data + dlen + l, "\r\n", 2);
				dlen += l + 2;
			}
			pthread_mutex_lock(&m->lock);
			memcpy(m->data, data, dlen);
			m->data[dlen] = '\0';
			m->data_len = dlen;
			m->nmsg++;
			pthread_mutex_unlock(&m->lock);
			say(fd, "250 queued\r\n");
		} else if (strcasecmp(line, "QUIT") == 0) {
			say(fd, "221 bye\r\n");
			break;
		} else {
			say(fd, "250 ok\r\n");
		}
	}
out:
	close(fd);
}

static void *
smtp_main(void *arg)
{
	struct smtp_sink *m = arg;
	int fd;

	while (!atomic_load(&m->stop))
		if ((fd = accept_some(m->lfd)) >= 0)
			smtp_conn(m, fd);
	return NULL;
}

static struct smtp_sink *
smtp_start(void)
{
	struct smtp_sink *m = calloc(1, sizeof(*m));

	assert_non_null(m);
	pthread_mutex_init(&m->lock, NULL);
	m->lfd = listen_on(0, &m->port);
	assert_int_equal(pthread_create(&m->th, NULL, smtp_main, m), 0);
	return m;
}

static void
smtp_stop(struct smtp_sink *m)
{
	if (m == NULL)
		return;
	atomic_store(&m->stop, 1);
	pthread_join(m->th, NULL);
	close(m->lfd);
	pthread_mutex_destroy(&m->lock);
	free(m);
}

static int
smtp_count(struct smtp_sink *m)
{
	int n;

	pthread_mutex_lock(&m->lock);
	n = m->nmsg;
	pthread_mutex_unlock(&m->lock);
	return n;
}

/* ---- fixture ---- */

struct fx {
	char dir[64];
	char db[96];
	char ca[96];		/* the receiver's certificate */
	char other_ca[96];	/* a certificate nobody serves */
	struct store *s;
	EVP_PKEY *key, *other_key;
	X509 *cert, *other_cert;
};

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "/tmp/signet-unit-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->db, sizeof(f->db), "%s/db", f->dir);
	snprintf(f->ca, sizeof(f->ca), "%s/ca.pem", f->dir);
	snprintf(f->other_ca, sizeof(f->other_ca), "%s/other.pem", f->dir);
	make_cert(f->ca, &f->key, &f->cert);
	make_cert(f->other_ca, &f->other_key, &f->other_cert);
	assert_int_equal(store_open(f->db, 64 << 20, &f->s), 0);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;
	char cmd[128];

	store_close(f->s);
	EVP_PKEY_free(f->key);
	EVP_PKEY_free(f->other_key);
	X509_free(f->cert);
	X509_free(f->other_cert);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

static void
sleep_ms(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

static struct notify *
start(struct fx *f, const char *ca, const char *smtp_url)
{
	struct notify_opts o = {
		.smtp_url = smtp_url,
		.mail_from = "signet@appliance.example",
		.ca_file = ca,
		.retry_base_ms = 50,
		.retry_max_ms = 200,
	};
	struct notify *n = NULL;

	assert_int_equal(notify_start(f->s, &o, &n), 0);
	return n;
}

static json_t *
event(const char *type)
{
	json_t *e = json_pack("{s:s, s:s, s:{s:s, s:i}, s:s}", "type", type,
	    "requestId", "3f2c7a8e-0d1b-4c5e-9a6f-1b2c3d4e5f60", "request",
	    "project", "app", "approvals", 2, "note", "gr\xc3\xbc\xc3\x9f");

	assert_non_null(e);
	return e;
}

static void
enqueue_webhook(struct fx *f, const char *url, const char *secret,
    const json_t *body)
{
	struct store_txn *t;

	assert_int_equal(store_txn_begin(f->s, 1, &t), 0);
	assert_int_equal(notify_enqueue_webhook(t, url, secret, body), 0);
	assert_int_equal(store_txn_commit(&t), 0);
}

static void
enqueue_email(struct fx *f, const char *to, const char *subject,
    const char *text)
{
	struct store_txn *t;

	assert_int_equal(store_txn_begin(f->s, 1, &t), 0);
	assert_int_equal(notify_enqueue_email(t, to, subject, text), 0);
	assert_int_equal(store_txn_commit(&t), 0);
}

/* Outbox inspection: count and a copy of the first record. */
struct ob {
	int count;
	json_t *first;
	unsigned char key[8];
};

static int
ob_fn(const void *k, size_t klen, const void *v, size_t vlen, void *arg)
{
	struct ob *o = arg;

	assert_int_equal(klen, 8);
	if (o->count++ == 0) {
		memcpy(o->key, k, 8);
		o->first = json_loadb(v, vlen, 0, NULL);
		assert_non_null(o->first);
	}
	return 0;
}

static void
outbox(struct fx *f, struct ob *o)
{
	struct store_txn *t;

	memset(o, 0, sizeof(*o));
	assert_int_equal(store_txn_begin(f->s, 0, &t), 0);
	assert_int_equal(store_walk(t, STORE_OUTBOX, NULL, 0, NULL, 0, 0,
	    ob_fn, o), 0);
	store_txn_abort(&t);
}

static int
outbox_count(struct fx *f)
{
	struct ob o;

	outbox(f, &o);
	json_decref(o.first);
	return o.count;
}

static long long
first_int(struct fx *f, const char *field)
{
	struct ob o;
	long long v = -1;

	outbox(f, &o);
	if (o.first != NULL)
		v = json_integer_value(json_object_get(o.first, field));
	json_decref(o.first);
	return v;
}

#define WAIT_FOR(cond) do {						\
	int waited_;							\
	for (waited_ = 0; !(cond) && waited_ < WAIT_MS; waited_ += 20)	\
		sleep_ms(20);						\
	assert_true(cond);						\
} while (0)

static void
url_for(char *out, size_t cap, uint16_t port)
{
	snprintf(out, cap, "https://127.0.0.1:%u/hooks/signet?token=t0",
	    (unsigned)port);
}

static void
check_signature(const char *secret, const char *body, size_t len,
    const char *got)
{
	unsigned char mac[32];
	unsigned int maclen = 0, i;
	char want[7 + 64 + 1];

	assert_non_null(HMAC(EVP_sha256(), secret, (int)strlen(secret),
	    (const unsigned char *)body, len, mac, &maclen));
	assert_int_equal(maclen, 32);
	memcpy(want, "sha256=", 7);
	for (i = 0; i < 32; i++)
		snprintf(want + 7 + 2 * i, 3, "%02x", mac[i]);
	assert_string_equal(got, want);
}

/* The receivers here listen on 127.0.0.1: allowed, as the
 * development instance allows it ([outbound] allow_internal). */
static void
test_allow_loopback(void)
{
	struct config_net net;
	size_t n;

	assert_null(config_parse_nets("127.0.0.1", &net, 1, &n));
	outbound_allow_internal(&net, n);
}

/* ---- webhooks ---- */

static void
test_webhook_delivered(void **state)
{
	struct fx *f = *state;
	struct https_srv *h = https_start(0, f->key, f->cert, 0);
	struct notify *n = start(f, f->ca, NULL);
	json_t *ev = event("request.waiting_for_approval");
	char url[128], v[256], *want;

	url_for(url, sizeof(url), h->port);
	enqueue_webhook(f, url, "s3cret", ev);
	assert_int_equal(outbox_count(f), 1);
	notify_kick(n);
	WAIT_FOR(https_count(h) == 1 && outbox_count(f) == 0);
	want = json_dumps(ev, JSON_COMPACT | JSON_SORT_KEYS);
	pthread_mutex_lock(&h->lock);
	assert_string_equal(h->body, want);
	assert_true(strncmp(h->head, "POST /hooks/signet?token=t0 HTTP/1.1\r\n",
	    38) == 0);
	assert_string_equal(header(h->head, "Content-Type", v, sizeof(v)),
	    "application/json");
	assert_string_equal(header(h->head, "User-Agent", v, sizeof(v)),
	    "signet/0.1");
	assert_string_equal(header(h->head, "X-Signet-Event", v, sizeof(v)),
	    "request.waiting_for_approval");
	assert_string_equal(header(h->head, "X-Signet-Delivery", v,
	    sizeof(v)), "1");
	assert_non_null(header(h->head, "X-Signet-Signature-256", v,
	    sizeof(v)));
	check_signature("s3cret", h->body, h->body_len, v);
	pthread_mutex_unlock(&h->lock);
	free(want);
	json_decref(ev);
	notify_stop(n);
	https_stop(h);
}

/* A 5xx is a failure: the same bytes, the same delivery id, again. */
static void
test_webhook_retried_after_5xx(void **state)
{
	struct fx *f = *state;
	struct https_srv *h = https_start(0, f->key, f->cert, 1);
	struct notify *n = start(f, f->ca, NULL);
	json_t *ev = event("request.completed");
	char url[128], v[256];

	url_for(url, sizeof(url), h->port);
	enqueue_webhook(f, url, "k", ev);
	notify_kick(n);
	WAIT_FOR(https_count(h) == 2 && outbox_count(f) == 0);
	pthread_mutex_lock(&h->lock);
	assert_string_equal(header(h->head, "X-Signet-Delivery", v,
	    sizeof(v)), "1");
	assert_non_null(header(h->head, "X-Signet-Signature-256", v,
	    sizeof(v)));
	check_signature("k", h->body, h->body_len, v);
	pthread_mutex_unlock(&h->lock);
	json_decref(ev);
	notify_stop(n);
	https_stop(h);
}

/* TLS is always verified: a receiver whose certificate is not in ca_file
 * gets nothing. */
static void
test_webhook_tls_verified(void **state)
{
	struct fx *f = *state;
	struct https_srv *h = https_start(0, f->key, f->cert, 0);
	struct notify *n = start(f, f->other_ca, NULL);
	json_t *ev = event("request.completed");
	char url[128];
	struct ob o;

	url_for(url, sizeof(url), h->port);
	enqueue_webhook(f, url, "k", ev);
	notify_kick(n);
	WAIT_FOR(first_int(f, "attempts") >= 2);
	notify_stop(n);
	assert_int_equal(https_count(h), 0);
	outbox(f, &o);
	assert_int_equal(o.count, 1);
	assert_non_null(strstr(json_string_value(json_object_get(o.first,
	    "lastError")), "certificate"));
	json_decref(o.first);
	json_decref(ev);
	https_stop(h);
}

static void
test_receiver_down_then_up(void **state)
{
	struct fx *f = *state;
	uint16_t port = closed_port();
	struct notify *n = start(f, f->ca, NULL);
	struct https_srv *h;
	json_t *ev = event("request.denied");
	char url[128];
	struct ob o;

	url_for(url, sizeof(url), port);
	enqueue_webhook(f, url, "k", ev);
	notify_kick(n);
	WAIT_FOR(first_int(f, "attempts") >= 2);
	outbox(f, &o);
	assert_int_equal(o.count, 1);
	assert_true(json_is_string(json_object_get(o.first, "lastError")));
	assert_false(json_is_true(json_object_get(o.first, "dead")));
	/* the secret is stored (it signs every attempt) but is the record's
	 * own field, nothing else */
	assert_string_equal(json_string_value(json_object_get(o.first,
	    "channel")), "webhook");
	json_decref(o.first);
	h = https_start(port, f->key, f->cert, 0);
	WAIT_FOR(https_count(h) == 1 && outbox_count(f) == 0);
	json_decref(ev);
	notify_stop(n);
	https_stop(h);
}

static void
test_outbox_survives_restart(void **state)
{
	struct fx *f = *state;
	uint16_t port = closed_port();
	struct notify *n = start(f, f->ca, NULL);
	struct https_srv *h;
	json_t *ev = event("request.completed");
	char url[128], v[64], *want;

	url_for(url, sizeof(url), port);
	enqueue_webhook(f, url, "k", ev);
	notify_kick(n);
	WAIT_FOR(first_int(f, "attempts") >= 1);
	notify_stop(n);
	store_close(f->s);
	f->s = NULL;
	assert_int_equal(store_open(f->db, 64 << 20, &f->s), 0);
	assert_int_equal(outbox_count(f), 1);
	h = https_start(port, f->key, f->cert, 0);
	n = start(f, f->ca, NULL);
	WAIT_FOR(https_count(h) == 1 && outbox_count(f) == 0);
	want = json_dumps(ev, JSON_COMPACT | JSON_SORT_KEYS);
	pthread_mutex_lock(&h->lock);
	assert_string_equal(h->body, want);
	assert_string_equal(header(h->head, "X-Signet-Delivery", v,
	    sizeof(v)), "1");
	pthread_mutex_unlock(&h->lock);
	free(want);
	/* sequence numbers go on after a restart */
	enqueue_webhook(f, url, "k", ev);
	notify_kick(n);
	WAIT_FOR(https_count(h) == 2 && outbox_count(f) == 0);
	pthread_mutex_lock(&h->lock);
	assert_string_equal(header(h->head, "X-Signet-Delivery", v,
	    sizeof(v)), "2");
	pthread_mutex_unlock(&h->lock);
	json_decref(ev);
	notify_stop(n);
	https_stop(h);
}

/* Past the age limit one failure is final: marked dead, kept, never
 * tried again. */
static void
test_dead_after_max_age(void **state)
{
	struct fx *f = *state;
	uint16_t port = closed_port();
	struct notify *n;
	struct store_txn *t;
	json_t *ev = event("request.completed");
	char url[128], *s;
	struct ob o;
	struct timespec now;

	url_for(url, sizeof(url), port);
	enqueue_webhook(f, url, "k", ev);
	outbox(f, &o);
	clock_gettime(CLOCK_REALTIME, &now);
	json_object_set_new(o.first, "createdNs", json_integer(
	    ((json_int_t)now.tv_sec - 8 * 86400) * 1000000000LL));
	assert_non_null(s = json_dumps(o.first, JSON_COMPACT));
	assert_int_equal(store_txn_begin(f->s, 1, &t), 0);
	assert_int_equal(store_put(t, STORE_OUTBOX, o.key, 8, s, strlen(s)),
	    0);
	assert_int_equal(store_txn_commit(&t), 0);
	free(s);
	json_decref(o.first);
	n = start(f, f->ca, NULL);
	WAIT_FOR(first_int(f, "attempts") == 1);
	sleep_ms(400);
	notify_stop(n);
	outbox(f, &o);
	assert_int_equal(o.count, 1);
	assert_true(json_is_true(json_object_get(o.first, "dead")));
	assert_int_equal(json_integer_value(json_object_get(o.first,
	    "attempts")), 1);
	json_decref(o.first);
	json_decref(ev);
}

static void
test_webhook_refused(void **state)
{
	struct fx *f = *state;
	struct store_txn *t;
	json_t *ev = event("request.completed");
	json_t *notype = json_pack("{s:s}", "requestId", "x");
	json_t *badtype = event("a\r\nX-Evil: 1");
	json_t *big = event("request.completed");
	json_t *arr = json_array();
	char *huge = malloc(SIGNET_MAX_WEBHOOK_BODY + 1);
	static const char *const urls[] = {
		"http://127.0.0.1:1/hook", "ftp://127.0.0.1/hook",
		"127.0.0.1/hook", "https://", "https:///path",
		"https://127.0.0.1/a b", "https://127.0.0.1/a\r\nX-Evil: 1",
		"HTTP://127.0.0.1/", "file:///etc/passwd", "", NULL,
	};
	size_t i;

	assert_non_null(huge);
	memset(huge, 'a', SIGNET_MAX_WEBHOOK_BODY);
	huge[SIGNET_MAX_WEBHOOK_BODY] = '\0';
	json_object_set_new(big, "pad", json_string(huge));
	assert_int_equal(store_txn_begin(f->s, 1, &t), 0);
	for (i = 0; urls[i] != NULL; i++) {
		assert_int_equal(notify_enqueue_webhook(t, urls[i], "k", ev),
		    SIGNET_ERR_INVALID);
		assert_false(notify_valid_webhook(urls[i], "k"));
	}
	assert_int_equal(notify_enqueue_webhook(t, NULL, "k", ev),
	    SIGNET_ERR_INVALID);
	assert_int_equal(notify_enqueue_webhook(t, "https://h/", "", ev),
	    SIGNET_ERR_INVALID);
	assert_int_equal(notify_enqueue_webhook(t, "https://h/", NULL, ev),
	    SIGNET_ERR_INVALID);
	assert_int_equal(notify_enqueue_webhook(t, "https://h/", huge, ev),
	    SIGNET_ERR_TOO_LARGE);
	assert_int_equal(notify_enqueue_webhook(t, "https://h/", "k", notype),
	    SIGNET_ERR_INVALID);
	assert_int_equal(notify_enqueue_webhook(t, "https://h/", "k", badtype),
	    SIGNET_ERR_INVALID);
	assert_int_equal(notify_enqueue_webhook(t, "https://h/", "k", arr),
	    SIGNET_ERR_INVALID);
	assert_int_equal(notify_enqueue_webhook(t, "https://h/", "k", NULL),
	    SIGNET_ERR_INVALID);
	assert_int_equal(notify_enqueue_webhook(t, "https://h/", "k", big),
	    SIGNET_ERR_TOO_LARGE);
	assert_true(notify_valid_webhook("https://h.example:8443/x?y=z",
	    "0123456789abcdef"));
	store_txn_abort(&t);
	assert_int_equal(outbox_count(f), 0);
	free(huge);
	json_decref(ev);
	json_decref(notype);
	json_decref(badtype);
	json_decref(big);
	json_decref(arr);
}

/* A secret is set (apply) only when a receiver can hold it as text: what
 * the message says, 16-256 visible ASCII characters. One stored before
 * the rule still signs. */
static void
test_webhook_secret_rules(void **state)
{
	static const char *const bad[] = {
		"", "k", "s3cret", "0123456789abcde",	/* 15 */
		"0123456789abcdef\n", "0123456789\tabcdef",
		"01234567 89abcdef", "0123456789abcdef\x7f",
		"0123456789abcdef\x1b[2J", "0123456789abcd\xc3\xa9" "f",
		"\r\n0123456789abcdef", NULL,
	};
	static const char *const good[] = {
		"0123456789abcdef", "whsec-0123456789abcdef0123456789",
		"!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~", NULL,
	};
	const char *url = "https://hooks.example/x";
	char max[SIGNET_MAX_WEBHOOK_SECRET + 2];
	struct store_txn *t;
	struct fx *f = *state;
	json_t *ev = event("request.completed");
	size_t i;

	for (i = 0; bad[i] != NULL; i++)
		assert_false(notify_valid_webhook(url, bad[i]));
	for (i = 0; good[i] != NULL; i++)
		assert_true(notify_valid_webhook(url, good[i]));
	assert_false(notify_valid_webhook(url, NULL));
	memset(max, 'a', sizeof(max) - 1);
	max[SIGNET_MAX_WEBHOOK_SECRET] = '\0';
	assert_true(notify_valid_webhook(url, max));
	max[SIGNET_MAX_WEBHOOK_SECRET] = 'a';
	max[SIGNET_MAX_WEBHOOK_SECRET + 1] = '\0';
	assert_false(notify_valid_webhook(url, max));
	/* a state change of a project with an older, short secret is not
	 * stopped by it */
	assert_int_equal(store_txn_begin(f->s, 1, &t), 0);
	assert_int_equal(notify_enqueue_webhook(t, url, "k", ev), 0);
	store_txn_abort(&t);
	json_decref(ev);
}

static struct sockaddr_storage *
sa(const char *text, struct sockaddr_storage *ss, size_t *len)
{
	memset(ss, 0, sizeof(*ss));
	if (strchr(text, ':') != NULL) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;

		s6->sin6_family = AF_INET6;
		assert_int_equal(inet_pton(AF_INET6, text, &s6->sin6_addr), 1);
		*len = sizeof(*s6);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)ss;

		s4->sin_family = AF_INET;
		assert_int_equal(inet_pton(AF_INET, text, &s4->sin_addr), 1);
		*len = sizeof(*s4);
	}
	return ss;
}

static int
refused(const char *text)
{
	struct sockaddr_storage ss;
	size_t len = 0;

	sa(text, &ss, &len);
	return outbound_refused_addr((const struct sockaddr *)&ss, len);
}

/* Loopback, link-local and unspecified addresses in every spelling are
 * refused as targets unless [outbound] allow_internal lists them. */
static void
test_internal_targets(void **state)
{
	static const char *const internal[] = {
		"127.0.0.1", "127.255.255.254", "0.0.0.0", "0.1.2.3",
		"169.254.169.254", "169.254.0.1", "::1", "::", "fe80::1",
		"febf::1", "::ffff:127.0.0.1", "::ffff:0.0.0.0",
		"::ffff:169.254.169.254", "::127.0.0.1", "::169.254.1.1", NULL,
	};
	static const char *const external[] = {
		"10.0.0.1", "192.168.1.1", "172.16.0.1", "8.8.8.8",
		"128.0.0.1", "169.253.1.1", "2001:db8::1", "fec0::1",
		"fd00::1", "::ffff:10.0.0.1", "::ffff:8.8.8.8", NULL,
	};
	struct config_net nets[CONFIG_MAX_ALLOW_INTERNAL];
	struct sockaddr_un_like { sa_family_t f; char p[100]; } un;
	size_t i, n;

	(void)state;
	outbound_allow_internal(NULL, 0);
	for (i = 0; internal[i] != NULL; i++)
		assert_true(refused(internal[i]));
	for (i = 0; external[i] != NULL; i++)
		assert_false(refused(external[i]));
	memset(&un, 0, sizeof(un));
	un.f = AF_UNIX;
	assert_true(outbound_refused_addr((const struct sockaddr *)&un,
	    sizeof(un)));

	assert_null(config_parse_nets("127.0.0.1, ::1 169.254.0.0/16,"
	    "::ffff:127.0.0.2", nets, CONFIG_MAX_ALLOW_INTERNAL, &n));
	assert_int_equal(n, 4);
	assert_int_equal(nets[3].family, AF_INET);	/* mapped: as IPv4 */
	assert_int_equal(nets[3].bits, 32);
	outbound_allow_internal(nets, n);
	assert_false(refused("127.0.0.1"));
	assert_false(refused("::ffff:127.0.0.1"));
	assert_false(refused("127.0.0.2"));
	assert_false(refused("::1"));
	assert_false(refused("169.254.169.254"));
	assert_true(refused("127.0.0.3"));
	assert_true(refused("0.0.0.0"));
	assert_true(refused("::"));
	assert_true(refused("fe80::1"));
	assert_null(config_parse_nets("127.0.0.0/9", nets, 16, &n));
	outbound_allow_internal(nets, n);
	assert_false(refused("127.127.255.255"));
	assert_true(refused("127.128.0.1"));
	assert_null(config_parse_nets("fe80::/10", nets, 16, &n));
	outbound_allow_internal(nets, n);
	assert_false(refused("febf::1"));
	assert_true(refused("::1"));

	assert_non_null(config_parse_nets("127.0.0.1/33", nets, 16, &n));
	assert_non_null(config_parse_nets("::1/129", nets, 16, &n));
	assert_non_null(config_parse_nets("127.0.0.1/", nets, 16, &n));
	assert_non_null(config_parse_nets("127.0.0.1/8x", nets, 16, &n));
	assert_non_null(config_parse_nets("localhost", nets, 16, &n));
	assert_non_null(config_parse_nets("127.0.0.1/-1", nets, 16, &n));
	assert_non_null(config_parse_nets("1,2,3,4,5,6,7,8,9,10,11,12,13,14,"
	    "15,16,17", nets, 16, &n));
	assert_null(config_parse_nets("", nets, 16, &n));
	assert_int_equal(n, 0);
	test_allow_loopback();
}

/* A webhook to a loopback receiver, not allowed: never connected to, and
 * the outbox says why in a fixed message. */
static void
test_webhook_to_internal_refused(void **state)
{
	struct fx *f = *state;
	struct https_srv *h = https_start(0, f->key, f->cert, 0);
	struct notify *n;
	json_t *ev = event("request.completed");
	char url[128];
	struct ob o;

	outbound_allow_internal(NULL, 0);
	n = start(f, f->ca, NULL);
	url_for(url, sizeof(url), h->port);
	enqueue_webhook(f, url, "k", ev);
	notify_kick(n);
	WAIT_FOR(first_int(f, "attempts") >= 1);
	notify_stop(n);
	assert_int_equal(https_count(h), 0);
	outbox(f, &o);
	assert_int_equal(o.count, 1);
	assert_string_equal(json_string_value(json_object_get(o.first,
	    "lastError")), "its address is internal (loopback, link-local or "
	    "unspecified) and [outbound] allow_internal does not list it");
	json_decref(o.first);
	json_decref(ev);
	https_stop(h);
	test_allow_loopback();
}

/* A receiver that is down: the class, not libcurl's words (which name
 * the port and would tell what answered). */
static void
test_webhook_error_is_fixed_text(void **state)
{
	struct fx *f = *state;
	struct notify *n = start(f, f->ca, NULL);
	json_t *ev = event("request.completed");
	char url[128];
	struct ob o;
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a;
	socklen_t al = sizeof(a);

	/* a port nobody listens on */
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &al), 0);
	close(fd);
	url_for(url, sizeof(url), ntohs(a.sin_port));
	enqueue_webhook(f, url, "k", ev);
	notify_kick(n);
	WAIT_FOR(first_int(f, "attempts") >= 1);
	notify_stop(n);
	outbox(f, &o);
	assert_string_equal(json_string_value(json_object_get(o.first,
	    "lastError")), "the connection was refused or the host is "
	    "unreachable");
	json_decref(o.first);
	json_decref(ev);
}

/* ---- e-mail ---- */

static void
smtp_url(char *out, size_t cap, uint16_t port)
{
	snprintf(out, cap, "smtp://127.0.0.1:%u", (unsigned)port);
}

/* The message's header section as "\r\nName: value\r\n…" for header(). */
static void
mail_head(const char *data, char *out, size_t cap)
{
	const char *e = strstr(data, "\r\n\r\n");

	assert_non_null(e);
	assert_true((size_t)(e - data) + 5 < cap);
	memcpy(out, "\r\n", 2);
	memcpy(out + 2, data, (size_t)(e - data) + 2);
	out[(e - data) + 4] = '\0';
}

static void
test_email_delivered(void **state)
{
	struct fx *f = *state;
	struct smtp_sink *m = smtp_start();
	char url[64], head[4096], v[256];
	struct notify *n;
	const char *body;

	smtp_url(url, sizeof(url), m->port);
	n = start(f, NULL, url);
	enqueue_email(f, "approver@corp.example",
	    "Approval needed: app.bin (release)",
	    "Request 42 waits for your approval.\n.\n.leading dot\r\n"
	    "bare CR\rend\n\nLast line");
	notify_kick(n);
	WAIT_FOR(smtp_count(m) == 1 && outbox_count(f) == 0);
	pthread_mutex_lock(&m->lock);
	assert_string_equal(m->from, "<signet@appliance.example>");
	assert_string_equal(m->rcpt, "<approver@corp.example>");
	mail_head(m->data, head, sizeof(head));
	assert_string_equal(header(head, "From", v, sizeof(v)),
	    "signet@appliance.example");
	assert_string_equal(header(head, "To", v, sizeof(v)),
	    "approver@corp.example");
	assert_string_equal(header(head, "Subject", v, sizeof(v)),
	    "Approval needed: app.bin (release)");
	assert_string_equal(header(head, "MIME-Version", v, sizeof(v)),
	    "1.0");
	assert_string_equal(header(head, "Content-Type", v, sizeof(v)),
	    "text/plain; charset=utf-8");
	assert_non_null(header(head, "Date", v, sizeof(v)));
	assert_non_null(strstr(v, " +0000"));
	assert_non_null(header(head, "Message-ID", v, sizeof(v)));
	assert_non_null(strstr(v, "@appliance.example>"));
	body = strstr(m->data, "\r\n\r\n") + 4;
	assert_string_equal(body,
	    "Request 42 waits for your approval.\r\n.\r\n.leading dot\r\n"
	    "bare CR\r\nend\r\n\r\nLast line\r\n");
	pthread_mutex_unlock(&m->lock);
	notify_stop(n);
	smtp_stop(m);
}

static void
test_email_utf8_subject(void **state)
{
	struct fx *f = *state;
	struct smtp_sink *m = smtp_start();
	char url[64], head[4096], v[256], subject[200], *p, *e;
	unsigned char dec[512];
	size_t dlen = 0;
	int k, i;
	struct notify *n;

	/* long enough for several encoded-words, two-byte characters
	 * straddling the split points */
	for (i = 0; i < 30; i++)
		memcpy(subject + 3 * i, "\xc3\xa4x", 3);
	subject[90] = '\0';
	smtp_url(url, sizeof(url), m->port);
	n = start(f, NULL, url);
	enqueue_email(f, "a@corp.example", subject, "text");
	notify_kick(n);
	WAIT_FOR(smtp_count(m) == 1);
	pthread_mutex_lock(&m->lock);
	mail_head(m->data, head, sizeof(head));
	pthread_mutex_unlock(&m->lock);
	/* unfold and decode each =?UTF-8?B?…?= word */
	p = strstr(head, "\r\nSubject: ");
	assert_non_null(p);
	p += 11;
	while ((p = strstr(p, "=?UTF-8?B?")) != NULL &&
	    p < strstr(head, "\r\nMessage-ID")) {
		p += 10;
		assert_non_null(e = strstr(p, "?="));
		assert_true(e - p + 10 + 2 <= 75);
		memcpy(v, p, (size_t)(e - p));
		v[e - p] = '\0';
		k = EVP_DecodeBlock(dec + dlen, (unsigned char *)v,
		    (int)strlen(v));
		assert_true(k > 0);
		while (v[strlen(v) - 1] == '=') {
			v[strlen(v) - 1] = '\0';
			k--;
		}
		/* each word holds whole characters (RFC 2047 5) */
		assert_true((dec[dlen] & 0xc0) != 0x80);
		dlen += (size_t)k;
		p = e + 2;
	}
	dec[dlen] = '\0';
	assert_string_equal((char *)dec, subject);
	notify_stop(n);
	smtp_stop(m);
}

static void
test_email_injection(void **state)
{
	struct fx *f = *state;
	struct smtp_sink *m = smtp_start();
	struct store_txn *t;
	char url[64];
	struct notify *n;
	static const char *const bad_to[] = {
		"a@corp.example\r\nRCPT TO:<evil@x.example>",
		"a@corp.example, evil@x.example", "Alice <a@corp.example>",
		"a@corp.example\n", "no-at-sign", "@corp.example",
		"a@", "a@b@c", "", NULL,
	};
	size_t i;

	smtp_url(url, sizeof(url), m->port);
	n = start(f, NULL, url);
	assert_int_equal(store_txn_begin(f->s, 1, &t), 0);
	for (i = 0; bad_to[i] != NULL; i++)
		assert_int_equal(notify_enqueue_email(t, bad_to[i], "s", "t"),
		    SIGNET_ERR_INVALID);
	assert_int_equal(notify_enqueue_email(t, NULL, "s", "t"),
	    SIGNET_ERR_INVALID);
	assert_int_equal(notify_enqueue_email(t, "a@corp.example", NULL, "t"),
	    SIGNET_ERR_INVALID);
	assert_int_equal(notify_enqueue_email(t, "a@corp.example", "s",
	    "\xff\xfe not utf-8"), SIGNET_ERR_INVALID);
	assert_int_equal(notify_enqueue_email(t, "a@corp.example",
	    "hello\r\nBcc: evil@x.example\r\n\r\nforged body", "real body"),
	    0);
	assert_int_equal(store_txn_commit(&t), 0);
	assert_int_equal(outbox_count(f), 1);
	notify_kick(n);
	WAIT_FOR(smtp_count(m) == 1);
	pthread_mutex_lock(&m->lock);
	assert_string_equal(m->rcpt, "<a@corp.example>");
	assert_null(strstr(m->data, "\r\nBcc:"));
	assert_non_null(strstr(m->data,
	    "\r\nSubject: hello  Bcc: evil@x.example    forged body\r\n"));
	assert_string_equal(strstr(m->data, "\r\n\r\n"), "\r\n\r\nreal body\r\n");
	pthread_mutex_unlock(&m->lock);
	notify_stop(n);
	smtp_stop(m);
}

static void
test_email_disabled(void **state)
{
	struct fx *f = *state;
	struct notify *n = start(f, NULL, NULL);
	struct notify_opts o = { .smtp_url = "http://relay/",
	    .mail_from = "a@b.example", .retry_base_ms = 1,
	    .retry_max_ms = 1 };
	struct notify *n2 = NULL;

	enqueue_email(f, "a@corp.example", "s", "t");
	assert_int_equal(outbox_count(f), 0);
	notify_stop(n);
	/* configuration mistakes are refused at start */
	assert_int_equal(notify_start(f->s, &o, &n2), SIGNET_ERR_CONFIG);
	o.smtp_url = "smtp://relay";
	o.mail_from = "Signet <a@b.example>";
	assert_int_equal(notify_start(f->s, &o, &n2), SIGNET_ERR_CONFIG);
	o.mail_from = "a@b.example";
	o.retry_max_ms = 0;
	assert_int_equal(notify_start(f->s, &o, &n2), SIGNET_ERR_CONFIG);
	assert_null(n2);
	notify_kick(NULL);
	notify_stop(NULL);
}

int
main(void)
{
	test_allow_loopback();
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_webhook_delivered,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_webhook_retried_after_5xx,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_webhook_tls_verified,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_receiver_down_then_up,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_outbox_survives_restart,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_dead_after_max_age,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_webhook_refused,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_webhook_secret_rules,
		    setup, teardown),
		cmocka_unit_test(test_internal_targets),
		cmocka_unit_test_setup_teardown(test_webhook_to_internal_refused,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_webhook_error_is_fixed_text,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_email_delivered,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_email_utf8_subject,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_email_injection,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_email_disabled,
		    setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
