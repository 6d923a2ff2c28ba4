#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <civetweb.h>
#include <openssl/ssl.h>

#include "api_tsa.h"
#include "app.h"
#include "http.h"
#include "log.h"
#include "server_tsa.h"
#include "signet_limits.h"

/* Request threads of the [tsa] listener: a query is a few hundred bytes
 * and one signature, so few threads keep up with the rate. */
#define SERVER_TSA_THREADS "8"

struct server_tsa {
	struct mg_context *ctx;
	struct app *app;
	pthread_mutex_t mu;
	double tokens;		/* the bucket: rate per second, as deep */
	double rate;
	struct timespec last;
};

/* Token bucket: refilled at rate per second up to rate (one second's
 * worth); a query takes one token or is refused. */
static int
server_tsa_take(struct server_tsa *s)
{
	struct timespec now;
	double dt;
	int ok;

	clock_gettime(CLOCK_MONOTONIC, &now);
	pthread_mutex_lock(&s->mu);
	dt = (double)(now.tv_sec - s->last.tv_sec) +
	    (double)(now.tv_nsec - s->last.tv_nsec) / 1e9;
	s->last = now;
	if (dt > 0)
		s->tokens += dt * s->rate;
	if (s->tokens > s->rate)
		s->tokens = s->rate;
	ok = s->tokens >= 1.0;
	if (ok)
		s->tokens -= 1.0;
	pthread_mutex_unlock(&s->mu);
	return ok;
}

static int
server_tsa_handler(struct mg_connection *c, void *arg)
{
	struct server_tsa *s = arg;
	const struct mg_request_info *ri = mg_get_request_info(c);
	const char *m = ri->request_method, *u = ri->local_uri;

	if (strcmp(u, "/api/v1/timestamp") == 0) {
		if (strcmp(m, "POST") != 0) {
			http_error(c, 405, "method_not_allowed", "POST a "
			    "time-stamp query here");
			return 1;
		}
		if (!server_tsa_take(s)) {
			http_error(c, 429, "rate_limited", "more than %.0f "
			    "time-stamp queries a second ([tsa] rate); try "
			    "again shortly", s->rate);
			http_close(c);
			return 1;
		}
		api_tsa_query(c, s->app);
		return 1;
	}
	if (strcmp(u, "/api/v1/timestamp/certificate") == 0 &&
	    strcmp(m, "GET") == 0) {
		api_tsa_chain(c, s->app);
		return 1;
	}
	http_error(c, 404, "not_found", "this listener serves POST "
	    "/api/v1/timestamp and GET /api/v1/timestamp/certificate only");
	return 1;
}

static int
server_tsa_log(const struct mg_connection *c, const char *message)
{
	(void)c;
	log_warn("tsa http: %s", message);
	return 1;
}

static int
server_tsa_init_ssl(void *ssl_ctx, void *user)
{
	(void)user;
	if (!SSL_CTX_set_min_proto_version(ssl_ctx, TLS1_2_VERSION))
		return -1;
	SSL_CTX_set_options(ssl_ctx, SSL_OP_NO_RENEGOTIATION |
	    SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_COMPRESSION);
	return 0;
}

int
server_tsa_start(struct app *app, struct server_tsa **out)
{
	struct mg_callbacks cb;
	struct server_tsa *s;
	char ports[300], timeout[16], keep_alive[16];

	*out = NULL;
	if (app->cfg.tsa.listen == NULL)
		return 0;
	if (app->tsa == NULL || app->cfg.certificate == NULL) {
		log_err("tsa: [tsa] listen needs [tsa] certificate and "
		    "[server] certificate");
		return SIGNET_ERR_CONFIG;
	}
	snprintf(ports, sizeof(ports), "%ss", app->cfg.tsa.listen);
	snprintf(timeout, sizeof(timeout), "%d",
	    SIGNET_HTTP_REQUEST_TIMEOUT_MS);
	snprintf(keep_alive, sizeof(keep_alive), "%d",
	    SIGNET_HTTP_KEEP_ALIVE_MS);
	const char *opts[] = {
		"listening_ports", ports,
		"num_threads", SERVER_TSA_THREADS,
		"ssl_certificate", app->cfg.certificate,
		/* anyone may ask for a time-stamp: no client certificate */
		"ssl_verify_peer", "no",
		"ssl_default_verify_paths", "no",
		"ssl_protocol_version", "4",
		"ssl_cipher_list",
		"ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
		"ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
		"ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305",
		"enable_keep_alive", "yes",
		"keep_alive_timeout_ms", keep_alive,
		"tcp_nodelay", "1",
		"request_timeout_ms", timeout,
		"linger_timeout_ms", "1000",
		"enable_directory_listing", "no",
		"decode_url", "no",
		NULL,
	};

	if ((s = calloc(1, sizeof(*s))) == NULL)
		return SIGNET_ERR_NOMEM;
	s->app = app;
	s->rate = (double)app->cfg.tsa.rate;
	s->tokens = s->rate;
	clock_gettime(CLOCK_MONOTONIC, &s->last);
	pthread_mutex_init(&s->mu, NULL);
	memset(&cb, 0, sizeof(cb));
	cb.log_message = server_tsa_log;
	cb.init_ssl = server_tsa_init_ssl;
	mg_init_library(MG_FEATURES_TLS | MG_FEATURES_IPV6);
	if ((s->ctx = mg_start(&cb, s, opts)) == NULL) {
		log_err("tsa: cannot listen on %s ([tsa] listen)",
		    app->cfg.tsa.listen);
		pthread_mutex_destroy(&s->mu);
		free(s);
		mg_exit_library();
		return SIGNET_ERR_CONFIG;
	}
	mg_set_request_handler(s->ctx, "/**", server_tsa_handler, s);
	log_info("tsa: listening on https://%s (no client certificates, %u "
	    "queries/s)", app->cfg.tsa.listen, app->cfg.tsa.rate);
	*out = s;
	return 0;
}

void
server_tsa_stop(struct server_tsa *s)
{
	if (s == NULL)
		return;
	mg_stop(s->ctx);
	mg_exit_library();
	pthread_mutex_destroy(&s->mu);
	free(s);
}
