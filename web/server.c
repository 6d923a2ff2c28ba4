#include <limits.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <civetweb.h>
#include <openssl/ssl.h>

#include "api.h"
#include "app.h"
#include "files.h"
#include "http.h"
#include "log.h"
#include "server.h"
#include "signet_limits.h"

/* Connections of one peer address (IPv6: its /64, which one host
 * usually has whole). A connection counts from the start of its TLS
 * handshake until its SSL is freed, so it is counted while it holds a
 * request thread; one that would exceed the limit is shut down before
 * the handshake reads anything. */
struct server_peer {
	struct server *s;
	unsigned char addr[16];	/* IPv4 (or IPv4-mapped): 4 bytes, IPv6: 8 */
	size_t len;
	unsigned n;		/* 0: the slot is free */
};

struct server {
	struct mg_context *ctx;
	struct mg_context *metrics;	/* [metrics] listen, or NULL */
	struct app *app;
	struct files *files;	/* NULL: API only */
	pthread_mutex_t mu;
	struct server_peer *peers;	/* one per request thread */
	size_t n_peers;
	unsigned per_address;
	time_t refused_logged;	/* one log line a second at most */
	unsigned long refused;	/* since then */
};

static int server_ssl_idx = -1;		/* SSL ex_data: the server_peer */
static int server_ctx_idx = -1;		/* SSL_CTX ex_data: the server */
static pthread_once_t server_once = PTHREAD_ONCE_INIT;

static int
server_log(const struct mg_connection *c, const char *message)
{
	(void)c;
	log_warn("http: %s", message);
	return 1;
}

/* The peer's address as counted: IPv4-mapped IPv6 as IPv4, IPv6 by /64. */
static int
server_peer_key(int fd, unsigned char key[16], size_t *len)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	const struct sockaddr_in6 *s6;

	if (fd < 0 || getpeername(fd, (struct sockaddr *)&ss, &sl) != 0)
		return -1;
	if (ss.ss_family == AF_INET) {
		memcpy(key, &((const struct sockaddr_in *)&ss)->sin_addr, 4);
		*len = 4;
		return 0;
	}
	if (ss.ss_family != AF_INET6)
		return -1;
	s6 = (const struct sockaddr_in6 *)&ss;
	if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr)) {
		memcpy(key, s6->sin6_addr.s6_addr + 12, 4);
		*len = 4;
	} else {
		memcpy(key, s6->sin6_addr.s6_addr, 8);
		*len = 8;
	}
	return 0;
}

/* Called when OpenSSL frees a connection's SSL, however the connection
 * ended (handshake failed or timed out, or closed after requests). */
static void
server_peer_release(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx,
    long argl, void *argp)
{
	struct server_peer *p = ptr;

	(void)parent;
	(void)ad;
	(void)idx;
	(void)argl;
	(void)argp;
	if (p == NULL)
		return;
	pthread_mutex_lock(&p->s->mu);
	if (p->n > 0)
		p->n--;
	pthread_mutex_unlock(&p->s->mu);
}

static void
server_init_indexes(void)
{
	server_ssl_idx = SSL_get_ex_new_index(0, NULL, NULL, NULL,
	    server_peer_release);
	server_ctx_idx = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, NULL);
}

/* Counts the connection in when its handshake starts; NULL: refused. */
static struct server_peer *
server_peer_take(struct server *s, const unsigned char *key, size_t len)
{
	struct server_peer *p, *free_slot = NULL;
	size_t i;

	for (i = 0; i < s->n_peers; i++) {
		p = &s->peers[i];
		if (p->n == 0) {
			if (free_slot == NULL)
				free_slot = p;
			continue;
		}
		if (p->len == len && memcmp(p->addr, key, len) == 0)
			return p->n < s->per_address ? (p->n++, p) : NULL;
	}
	if (free_slot == NULL)
		return NULL;
	memcpy(free_slot->addr, key, len);
	free_slot->len = len;
	free_slot->n = 1;
	return free_slot;
}

static void
server_info(const SSL *cssl, int where, int ret)
{
	SSL *ssl = (SSL *)(uintptr_t)cssl;	/* OpenSSL passes its own */
	struct server *s;
	struct server_peer *p;
	unsigned char key[16];
	size_t len = 0;
	int fd = SSL_get_fd(ssl);
	unsigned long refused = 0;
	time_t now;

	(void)ret;
	/* TLS 1.3 signals HANDSHAKE_START again for post-handshake
	 * messages: the connection is counted once */
	if (!(where & SSL_CB_HANDSHAKE_START) ||
	    SSL_get_ex_data(ssl, server_ssl_idx) != NULL)
		return;
	s = SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), server_ctx_idx);
	if (s == NULL)
		return;
	p = NULL;
	pthread_mutex_lock(&s->mu);
	if (server_peer_key(fd, key, &len) == 0)
		p = server_peer_take(s, key, len);
	if (p == NULL) {
		s->refused++;
		now = time(NULL);
		if (now != s->refused_logged) {
			s->refused_logged = now;
			refused = s->refused;
			s->refused = 0;
		}
	}
	pthread_mutex_unlock(&s->mu);
	if (p != NULL) {
		SSL_set_ex_data(ssl, server_ssl_idx, p);
		return;
	}
	/* the handshake's first read sees the end, and CivetWeb closes the
	 * connection and takes the next */
	shutdown(fd, SHUT_RDWR);
	if (refused > 0)
		log_warn("server: refused %lu connection(s): a peer address "
		    "may hold %u at once ([server] "
		    "max_connections_per_address)", refused, s->per_address);
}

/* CivetWeb sets up the context from its options; this narrows it to what
 * a signing appliance should speak. */
static int
server_init_ssl(void *ssl_ctx, void *user)
{
	SSL_CTX *ctx = ssl_ctx;
	struct server *s = user;

	if (!SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION))
		return -1;
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION |
	    SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_COMPRESSION);
	if (server_ssl_idx < 0 || server_ctx_idx < 0 ||
	    !SSL_CTX_set_ex_data(ctx, server_ctx_idx, s))
		return -1;
	/* replaces CivetWeb's, which does nothing */
	SSL_CTX_set_info_callback(ctx, server_info);
	return 0;
}

static void
server_free(struct server *s)
{
	if (s == NULL)
		return;
	files_close(s->files);
	free(s->peers);
	pthread_mutex_destroy(&s->mu);
	free(s);
}

static int server_metrics_start(struct server *s);

int
server_start(struct app *app, struct server **out)
{
	struct mg_callbacks cb;
	struct server *s;
	char ports[300], threads[16], root[PATH_MAX], handshake[16],
	    keep_alive[16];
	const struct mg_server_port *pp;
	struct mg_server_port port;

	*out = NULL;
	if (app->cfg.certificate == NULL || app->cfg.client_ca == NULL) {
		log_err("server: [server] certificate and client_ca are "
		    "required");
		return SIGNET_ERR_CONFIG;
	}
	snprintf(ports, sizeof(ports), "%ss", app->cfg.listen);
	snprintf(threads, sizeof(threads), "%d", app->cfg.threads);
	snprintf(handshake, sizeof(handshake), "%d",
	    SIGNET_HTTP_REQUEST_TIMEOUT_MS);
	snprintf(keep_alive, sizeof(keep_alive), "%d",
	    SIGNET_HTTP_KEEP_ALIVE_MS);
	const char *opts[] = {
		"listening_ports", ports,
		"num_threads", threads,
		"ssl_certificate", app->cfg.certificate,
		"ssl_ca_file", app->cfg.client_ca,
		/* optional: people (later) come without a client
		 * certificate; a presented one must verify, and every API
		 * handler insists on an identity */
		"ssl_verify_peer", "optional",
		"ssl_verify_depth", "4",
		"ssl_default_verify_paths", "no",
		"ssl_protocol_version", "4",
		"ssl_cipher_list",
		"ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
		"ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
		"ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305",
		"enable_keep_alive", "yes",
		/* one thread serves one connection: an idle keep-alive
		 * client must not hold a thread for long */
		"keep_alive_timeout_ms", keep_alive,
		/* responses go out in several writes; Nagle plus the peer's
		 * delayed ACK would add ~40 ms to every exchange */
		"tcp_nodelay", "1",
		/* CivetWeb bounds with it the whole TLS handshake, the whole
		 * request header, and each read or write of a body (one
		 * buffer, 8 KiB, not the body): a peer that sends nothing,
		 * or half a ClientHello or header, is gone after it, while
		 * a large upload that keeps moving is not cut */
		"request_timeout_ms", handshake,
		"linger_timeout_ms", "1000",
		"enable_directory_listing", "no",
		"decode_url", "no",
		NULL,
	};

	if (pthread_once(&server_once, server_init_indexes) != 0 ||
	    server_ssl_idx < 0 || server_ctx_idx < 0)
		return SIGNET_ERR_INTERNAL;
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return SIGNET_ERR_NOMEM;
	s->app = app;
	pthread_mutex_init(&s->mu, NULL);
	s->per_address = app->cfg.max_connections_per_address;
	/* no more connections are counted at once than there are threads */
	s->n_peers = (size_t)app->cfg.threads;
	if ((s->peers = calloc(s->n_peers, sizeof(*s->peers))) == NULL) {
		server_free(s);
		return SIGNET_ERR_NOMEM;
	}
	for (size_t i = 0; i < s->n_peers; i++)
		s->peers[i].s = s;
	if (files_find_root(app->cfg.web_root, root, sizeof(root)) != 0) {
		if (app->cfg.web_root != NULL) {
			log_err("server: [server] web_root %s is not a directory",
			    app->cfg.web_root);
			server_free(s);
			return SIGNET_ERR_CONFIG;
		}
		log_warn("server: no web interface found (set [server] "
		    "web_root); serving the API only");
	} else if (files_open(root, &s->files) != 0) {
		server_free(s);
		return SIGNET_ERR_CONFIG;
	} else {
		log_info("server: web interface from %s", root);
	}
	memset(&cb, 0, sizeof(cb));
	cb.log_message = server_log;
	cb.init_ssl = server_init_ssl;
	mg_init_library(MG_FEATURES_TLS | MG_FEATURES_IPV6);
	/* the context's user data is the server (server_init_ssl); the
	 * handlers get theirs when registered */
	if ((s->ctx = mg_start(&cb, s, opts)) == NULL) {
		log_err("server: cannot listen on %s (address in use, or the "
		    "certificate files are unreadable)", app->cfg.listen);
		server_free(s);
		mg_exit_library();
		return SIGNET_ERR_CONFIG;
	}
	mg_set_request_handler(s->ctx, "/api/v1", api_handler, app);
	/* everything else: CivetWeb tries exact and prefix handlers (the
	 * API) before patterns */
	mg_set_request_handler(s->ctx, "/**", files_handler, s->files);
	pp = NULL;
	memset(&port, 0, sizeof(port));
	if (mg_get_server_ports(s->ctx, 1, &port) == 1)
		pp = &port;
	log_info("listening on https://%s%s", app->cfg.listen,
	    pp ? "" : " (port unknown)");
	if (app->cfg.metrics_listen != NULL && server_metrics_start(s) != 0) {
		server_stop(s);
		return SIGNET_ERR_CONFIG;
	}
	*out = s;
	return 0;
}

/* The plain metrics listener answers GET /metrics and nothing else. */
static int
server_metrics_handler(struct mg_connection *c, void *arg)
{
	const struct mg_request_info *ri = mg_get_request_info(c);

	if (strcmp(ri->request_method, "GET") != 0) {
		http_error(c, 405, "method_not_allowed", "GET only");
		return 1;
	}
	api_metrics_send(c, arg);
	return 1;
}

static int
server_metrics_404(struct mg_connection *c, void *arg)
{
	(void)arg;
	http_error(c, 404, "not_found", "this listener serves /metrics only");
	return 1;
}

/* Plain HTTP on loopback (config.c allows nothing else): no TLS and no
 * login, so that a local Prometheus (or an agent that forwards) scrapes
 * without credentials; two threads, it is one scraper. */
static int
server_metrics_start(struct server *s)
{
	struct mg_callbacks cb;
	const char *opts[] = {
		"listening_ports", s->app->cfg.metrics_listen,
		"num_threads", "2",
		"request_timeout_ms", "10000",
		"enable_directory_listing", "no",
		"decode_url", "no",
		NULL,
	};

	memset(&cb, 0, sizeof(cb));
	cb.log_message = server_log;
	if ((s->metrics = mg_start(&cb, s, opts)) == NULL) {
		log_err("server: cannot listen on %s ([metrics] listen)",
		    s->app->cfg.metrics_listen);
		return SIGNET_ERR_CONFIG;
	}
	mg_set_request_handler(s->metrics, "/metrics$", server_metrics_handler,
	    s->app);
	mg_set_request_handler(s->metrics, "/**", server_metrics_404, NULL);
	log_info("metrics on http://%s/metrics", s->app->cfg.metrics_listen);
	return 0;
}

void
server_stop(struct server *s)
{
	if (s == NULL)
		return;
	if (s->metrics != NULL)
		mg_stop(s->metrics);
	/* joins every request thread: no connection is counted after it */
	mg_stop(s->ctx);
	mg_exit_library();
	server_free(s);
}
