/* signetd.conf: INI read with libinih (config/signetd.conf.example). */
#ifndef SIGNET_CONFIG_H
#define SIGNET_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "config_tsa.h"
#include "err.h"

#define CONFIG_MAX_ENV	16
#define CONFIG_MAX_CONSOLE_UIDS	16
#define CONFIG_MAX_ALLOW_INTERNAL	16

/* An address block: family AF_INET (4 bytes of addr) or AF_INET6 (16),
 * and how many leading bits count. */
struct config_net {
	int family;
	unsigned char addr[16];
	unsigned bits;
};

struct config {
	/* [server] */
	char *listen;		/* host:port */
	char *certificate;
	char *client_ca;
	int threads;
	unsigned max_connections_per_address;	/* IPv6: per /64 */
	char *user;
	char *web_root;		/* the web interface's files; NULL: found */
	unsigned drain_timeout;	/* seconds SIGTERM lets the queue drain */
	/* [store] */
	char *state_dir;
	uint64_t max_artifact_size;
	uint64_t map_size;	/* the database map at start */
	uint64_t max_map_size;	/* it grows up to this while running */
	uint64_t retention_s;	/* artifacts of final requests older than
				 * this are removed; 0: kept */
	/* [token] */
	char *module;
	char *token_label;
	char *pin_file;
	char *keyholder;
	char *env[CONFIG_MAX_ENV + 1];	/* NULL-terminated */
	size_t n_env;
	char *token_user;
	int kh_sessions;	/* token sessions the keyholder signs on;
				 * 0: auto, one per CPU */
	/* [signing] */
	int workers;		/* signing threads; 0: auto, following the
				 * keyholder's sessions (signer_workers) */
	unsigned max_queue;	/* [signer] max_queue: submissions answer 503
				 * above this many queued requests; 0: none */
	/* [notify] */
	char *smtp_url;		/* smtp://relay:25, smtps://… ; NULL = no mail */
	char *mail_from;
	char *notify_ca_file;	/* CAs for webhook receivers (default: system) */
	unsigned retry_base_ms;	/* first retry delay, doubled each time */
	unsigned retry_max_ms;	/* longest delay between tries */
	/* [origin] */
	char *origin_ca_file;	/* CAs of jwksUrl servers (default: notify's) */
	unsigned jwks_refresh_interval;	/* seconds; 0: on request only */
	/* [outbound] internal addresses webhooks and jwksUrl may reach
	 * (loopback, link-local and unspecified ones are refused otherwise) */
	struct config_net allow_internal[CONFIG_MAX_ALLOW_INTERNAL];
	size_t n_allow_internal;
	/* [metrics] */
	char *metrics_listen;	/* plain HTTP on loopback; NULL: none */
	/* [auth] */
	unsigned session_ttl;	/* seconds a bearer token lives */
	unsigned lockout_failures;	/* failed logins before lockout */
	unsigned lockout_seconds;
	unsigned idle_timeout;	/* seconds a web (cookie) session may idle */
	/* [console] */
	char *console_socket;	/* default <state_dir>/console.sock */
	uint32_t console_uids[CONFIG_MAX_CONSOLE_UIDS];	/* peers allowed */
	size_t n_console_uids;	/* 0: root and the uid signetd runs as */
	unsigned console_idle;	/* seconds without a keystroke */
	/* [keyholder] */
	char *kh_journal;	/* signing journal directory; default
				 * <state_dir>/keyholder/journal */
	int kh_no_generate;	/* generate = no: no keys made by the keyholder */
	char *kh_socket;	/* socket = PATH: connect to a keyholder that
				 * runs on its own; NULL: start one */
	/* [tsa] (config_tsa.h) */
	struct config_tsa tsa;
};

/* Reads path; relative paths inside are taken relative to its directory.
 * On failure *errmsg (static or in errbuf) says what and where. */
int config_load(const char *path, struct config *c, char *errbuf,
    size_t errlen) SIGNET_WUR;
void config_free(struct config *c);
/* "127.0.0.1, ::1, 169.254.0.0/16": addresses or blocks; IPv4-mapped
 * IPv6 ones are kept as IPv4. NULL, or a message saying what is wrong. */
const char *config_parse_nets(const char *value, struct config_net *nets,
    size_t max, size_t *n);
/* "4G", "512M", "1024" → bytes */
int config_parse_size(const char *s, uint64_t *out) SIGNET_WUR;

#endif
