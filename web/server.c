#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <civetweb.h>
#include <openssl/ssl.h>

#include "app.h"
#include "files.h"
#include "log.h"
#include "server.h"

struct server {
	struct mg_context *ctx;
	struct files *files;	/* NULL: API only */
};

static int
server_log(const struct mg_connection *c, const char *message)
{
	(void)c;
	log_warn("http: %s", message);
	return 1;
}

/* CivetWeb sets up the context from its options; this narrows it to what
 * a signing appliance should speak. */
static int
server_init_ssl(void *ssl_ctx, void *user)
{
	SSL_CTX *ctx = ssl_ctx;

	(void)user;
	if (!SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION))
		return -1;
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION |
	    SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_COMPRESSION);
	return 0;
}

int
server_start(struct app *app, struct server **out)
{
	struct mg_callbacks cb;
	struct server *s;
	char ports[300], threads[16], root[PATH_MAX];
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
		"keep_alive_timeout_ms", "5000",
		/* responses go out in several writes; Nagle plus the peer's
		 * delayed ACK would add ~40 ms to every exchange */
		"tcp_nodelay", "1",
		"request_timeout_ms", "300000",
		"linger_timeout_ms", "1000",
		"enable_directory_listing", "no",
		"decode_url", "no",
		NULL,
	};

	if ((s = calloc(1, sizeof(*s))) == NULL)
		return SIGNET_ERR_NOMEM;
	if (files_find_root(app->cfg.web_root, root, sizeof(root)) != 0) {
		if (app->cfg.web_root != NULL) {
			log_err("server: [server] web_root %s is not a directory",
			    app->cfg.web_root);
			free(s);
			return SIGNET_ERR_CONFIG;
		}
		log_warn("server: no web interface found (set [server] "
		    "web_root); serving the API only");
	} else if (files_open(root, &s->files) != 0) {
		free(s);
		return SIGNET_ERR_CONFIG;
	} else {
		log_info("server: web interface from %s", root);
	}
	memset(&cb, 0, sizeof(cb));
	cb.log_message = server_log;
	cb.init_ssl = server_init_ssl;
	mg_init_library(MG_FEATURES_TLS | MG_FEATURES_IPV6);
	if ((s->ctx = mg_start(&cb, app, opts)) == NULL) {
		log_err("server: cannot listen on %s (address in use, or the "
		    "certificate files are unreadable)", app->cfg.listen);
		files_close(s->files);
		free(s);
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
	*out = s;
	return 0;
}

void
server_stop(struct server *s)
{
	if (s == NULL)
		return;
	mg_stop(s->ctx);
	mg_exit_library();
	files_close(s->files);
	free(s);
}
