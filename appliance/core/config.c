#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pwd.h>
#include <sys/socket.h>

#include <ini.h>

#include "config.h"
#include "num.h"
#include "signet_limits.h"

struct config_parse {
	struct config *c;
	char dir[PATH_MAX];
	char *errbuf;
	size_t errlen;
	int failed;
};

int
config_parse_size(const char *s, uint64_t *out)
{
	return num_parse_size(s, out);
}

static int
config_parse_int(const char *s, int lo, int hi, int *out)
{
	long v;

	if (num_parse_long(s, lo, hi, &v) != 0)
		return SIGNET_ERR_INVALID;
	*out = (int)v;
	return 0;
}

static int
config_parse_uint(const char *s, unsigned lo, unsigned hi, unsigned *out)
{
	int v;

	if (config_parse_int(s, (int)lo, (int)hi, &v) != 0)
		return SIGNET_ERR_INVALID;
	*out = (unsigned)v;
	return 0;
}

/* Relative paths are relative to the config file, so an instance can be
 * moved as one directory. */
static char *
config_path(const struct config_parse *p, const char *v)
{
	char *out;

	if (v[0] == '/' || p->dir[0] == '\0')
		return strdup(v);
	if (asprintf(&out, "%s/%s", p->dir, v) < 0)
		return NULL;
	return out;
}

static int
config_set_str(char **dst, char *v)
{
	if (v == NULL)
		return 0;
	free(*dst);
	*dst = v;
	return 1;
}

const char *
config_parse_nets(const char *value, struct config_net *nets, size_t max,
    size_t *n)
{
	char tok[64], *slash;
	struct config_net *e;
	long bits;
	size_t len;

	*n = 0;
	for (;;) {
		value += strspn(value, ", \t");
		if (*value == '\0')
			return NULL;
		len = strcspn(value, ", \t");
		if (len >= sizeof(tok))
			return "an entry is too long";
		if (*n >= max)
			return "at most 16 entries";
		memcpy(tok, value, len);
		tok[len] = '\0';
		value += len;
		e = &nets[*n];
		memset(e, 0, sizeof(*e));
		if ((slash = strchr(tok, '/')) != NULL)
			*slash++ = '\0';
		if (inet_pton(AF_INET, tok, e->addr) == 1) {
			e->family = AF_INET;
			e->bits = 32;
		} else if (inet_pton(AF_INET6, tok, e->addr) == 1) {
			e->family = AF_INET6;
			e->bits = 128;
		} else {
			return "not an IPv4 or IPv6 address (or address/bits)";
		}
		if (slash != NULL) {
			if (num_parse_long(slash, 0, e->bits, &bits) != 0)
				return "the prefix length after / is too long or "
				    "not a number";
			e->bits = (unsigned)bits;
		}
		if (e->family == AF_INET6 &&
		    IN6_IS_ADDR_V4MAPPED((const struct in6_addr *)e->addr) &&
		    e->bits >= 96) {
			memmove(e->addr, e->addr + 12, 4);
			memset(e->addr + 4, 0, 12);
			e->family = AF_INET;
			e->bits -= 96;
		}
		(*n)++;
	}
}

/* "0, signet, 1001": numbers or user names, resolved now. */
static const char *
config_parse_uids(const char *value, struct config *c)
{
	char tok[64];
	struct passwd *pw;
	unsigned long v;
	size_t n;

	c->n_console_uids = 0;
	for (;;) {
		value += strspn(value, ", \t");
		if (*value == '\0')
			break;
		n = strcspn(value, ", \t");
		if (n >= sizeof(tok))
			return "allowed_uids: an entry is too long";
		memcpy(tok, value, n);
		tok[n] = '\0';
		value += n;
		if (c->n_console_uids >= CONFIG_MAX_CONSOLE_UIDS)
			return "allowed_uids: at most 16 entries";
		if (tok[0] >= '0' && tok[0] <= '9') {
			long uid;

			if (num_parse_long(tok, 0, (long)UINT32_MAX - 1,
			    &uid) != 0)
				return "allowed_uids: not a uid";
			v = (unsigned long)uid;
		} else if ((pw = getpwnam(tok)) != NULL) {
			v = pw->pw_uid;
		} else {
			return "allowed_uids: no such user";
		}
		c->console_uids[c->n_console_uids++] = (uint32_t)v;
	}
	if (c->n_console_uids == 0)
		return "allowed_uids must name at least one uid or user";
	return NULL;
}

/* "90d", "12h", "30m", "3600s", "3600", "0" → seconds (at most ten
 * years) */
static int
config_parse_duration(const char *s, uint64_t *out)
{
	static const struct {
		char unit;
		uint64_t mul;
	} units[] = { { 's', 1 }, { 'm', 60 }, { 'h', 3600 }, { 'd', 86400 } };
	char num[16];
	size_t n = strlen(s), i;
	uint64_t mul = 1;
	long v;

	if (n == 0 || n >= sizeof(num))
		return SIGNET_ERR_INVALID;
	memcpy(num, s, n + 1);
	for (i = 0; i < sizeof(units) / sizeof(units[0]); i++)
		if (num[n - 1] == units[i].unit) {
			mul = units[i].mul;
			num[--n] = '\0';
			break;
		}
	if (n == 0 || num_parse_long(num, 0, 3650L * 86400, &v) != 0 ||
	    (uint64_t)v * mul > 3650ULL * 86400)
		return SIGNET_ERR_INVALID;
	*out = (uint64_t)v * mul;
	return 0;
}

/* "127.0.0.1:9464", "[::1]:9464", "localhost:9464": the metrics
 * listener is plain HTTP, so it is reachable from this host only. */
static int
config_loopback(const char *v)
{
	static const char *const ok[] = { "127.0.0.1:", "[::1]:", "localhost:" };
	size_t i, n;
	unsigned port;

	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		n = strlen(ok[i]);
		if (strncmp(v, ok[i], n) == 0)
			return config_parse_uint(v + n, 1, 65535, &port) == 0;
	}
	return 0;
}

static int
config_handler(void *user, const char *section, const char *name,
    const char *value)
{
	struct config_parse *p = user;
	struct config *c = p->c;
	const char *what = NULL;

#define IS(s, n) (strcmp(section, s) == 0 && strcmp(name, n) == 0)
	if (IS("server", "listen")) {
		if (!config_set_str(&c->listen, strdup(value)))
			what = "out of memory";
	} else if (IS("server", "certificate")) {
		if (!config_set_str(&c->certificate, config_path(p, value)))
			what = "out of memory";
	} else if (IS("server", "client_ca")) {
		if (!config_set_str(&c->client_ca, config_path(p, value)))
			what = "out of memory";
	} else if (IS("server", "threads")) {
		if (config_parse_int(value, SIGNET_CONN_PER_ADDRESS_SHARE,
		    SIGNET_MAX_HTTP_THREADS, &c->threads) != 0)
			what = "threads must be a number from 4 to 512";
	} else if (IS("server", "max_connections_per_address")) {
		if (config_parse_uint(value, 1, SIGNET_MAX_HTTP_THREADS /
		    SIGNET_CONN_PER_ADDRESS_SHARE,
		    &c->max_connections_per_address) != 0)
			what = "max_connections_per_address must be a number "
			    "from 1 to 128";
	} else if (IS("server", "drain_timeout")) {
		if (config_parse_uint(value, 0, SIGNET_MAX_DRAIN_TIMEOUT_S,
		    &c->drain_timeout) != 0)
			what = "drain_timeout must be 0 to 3600 seconds";
	} else if (IS("server", "user")) {
		if (*value != '\0' && !config_set_str(&c->user, strdup(value)))
			what = "out of memory";
	} else if (IS("server", "web_root")) {
		if (*value != '\0' &&
		    !config_set_str(&c->web_root, config_path(p, value)))
			what = "out of memory";
	} else if (IS("store", "state_dir")) {
		if (!config_set_str(&c->state_dir, config_path(p, value)))
			what = "out of memory";
	} else if (IS("store", "max_artifact_size")) {
		if (config_parse_size(value, &c->max_artifact_size) != 0 ||
		    c->max_artifact_size == 0)
			what = "max_artifact_size must be a size such as 4G";
	} else if (IS("store", "map_size")) {
		if (config_parse_size(value, &c->map_size) != 0 ||
		    c->map_size < (1ULL << 20))
			what = "map_size must be a size of at least 1M";
	} else if (IS("store", "max_map_size")) {
		if (config_parse_size(value, &c->max_map_size) != 0 ||
		    c->max_map_size < (1ULL << 20))
			what = "max_map_size must be a size of at least 1M";
	} else if (IS("store", "retention")) {
		if (config_parse_duration(value, &c->retention_s) != 0)
			what = "retention must be 0 (keep) or a duration such as "
			    "90d, 12h, 30m or 3600s";
	} else if (IS("signer", "max_queue")) {
		if (config_parse_uint(value, 0, SIGNET_MAX_QUEUE_LIMIT,
		    &c->max_queue) != 0)
			what = "max_queue must be 0 (no limit) to 1000000";
	} else if (IS("metrics", "listen")) {
		if (*value != '\0' &&
		    !config_set_str(&c->metrics_listen, strdup(value)))
			what = "out of memory";
		else if (*value != '\0' && !config_loopback(value))
			what = "listen must be a loopback address and port "
			    "(127.0.0.1:9464 or [::1]:9464): the metrics "
			    "listener has no TLS and no login";
	} else if (IS("token", "module")) {
		if (!config_set_str(&c->module, config_path(p, value)))
			what = "out of memory";
	} else if (IS("token", "label")) {
		if (!config_set_str(&c->token_label, strdup(value)))
			what = "out of memory";
	} else if (IS("token", "pin_file")) {
		if (*value != '\0' &&
		    !config_set_str(&c->pin_file, config_path(p, value)))
			what = "out of memory";
	} else if (IS("token", "keyholder")) {
		if (!config_set_str(&c->keyholder, config_path(p, value)))
			what = "out of memory";
	} else if (IS("token", "env")) {
		if (c->n_env >= CONFIG_MAX_ENV)
			what = "too many env lines (at most 16)";
		else if (strchr(value, '=') == NULL || value[0] == '=')
			what = "env must be NAME=VALUE";
		else if ((c->env[c->n_env] = strdup(value)) == NULL)
			what = "out of memory";
		else
			c->n_env++;
	} else if (IS("token", "sessions")) {
		if (strcmp(value, "auto") == 0)
			c->kh_sessions = 0;
		else if (config_parse_int(value, 1, SIGNET_KH_MAX_SESSIONS,
		    &c->kh_sessions) != 0)
			what = "sessions must be auto or a number from 1 to 64";
	} else if (IS("token", "user")) {
		if (*value != '\0' &&
		    !config_set_str(&c->token_user, strdup(value)))
			what = "out of memory";
	} else if (IS("notify", "smtp_url")) {
		if (*value != '\0' &&
		    !config_set_str(&c->smtp_url, strdup(value)))
			what = "out of memory";
	} else if (IS("notify", "mail_from")) {
		if (!config_set_str(&c->mail_from, strdup(value)))
			what = "out of memory";
	} else if (IS("notify", "ca_file")) {
		if (*value != '\0' &&
		    !config_set_str(&c->notify_ca_file, config_path(p, value)))
			what = "out of memory";
	} else if (IS("notify", "retry_base_ms")) {
		if (config_parse_uint(value, 1, 3600000, &c->retry_base_ms) != 0)
			what = "retry_base_ms must be 1 to 3600000";
	} else if (IS("notify", "retry_max_ms")) {
		if (config_parse_uint(value, 1, 86400000, &c->retry_max_ms) != 0)
			what = "retry_max_ms must be 1 to 86400000";
	} else if (IS("origin", "ca_file")) {
		if (*value != '\0' &&
		    !config_set_str(&c->origin_ca_file, config_path(p, value)))
			what = "out of memory";
	} else if (IS("origin", "jwks_refresh_interval")) {
		if (config_parse_uint(value, 0, SIGNET_MAX_JWKS_REFRESH_S,
		    &c->jwks_refresh_interval) != 0)
			what = "jwks_refresh_interval must be 0 (off) to 604800 "
			    "seconds";
	} else if (IS("outbound", "allow_internal")) {
		what = config_parse_nets(value, c->allow_internal,
		    CONFIG_MAX_ALLOW_INTERNAL, &c->n_allow_internal);
	} else if (IS("auth", "session_ttl")) {
		if (config_parse_uint(value, 60, 7 * 86400, &c->session_ttl) != 0)
			what = "session_ttl must be 60 to 604800 seconds";
	} else if (IS("auth", "lockout_failures")) {
		if (config_parse_uint(value, 1, 100, &c->lockout_failures) != 0)
			what = "lockout_failures must be 1 to 100";
	} else if (IS("auth", "lockout_seconds")) {
		if (config_parse_uint(value, 1, 86400, &c->lockout_seconds) != 0)
			what = "lockout_seconds must be 1 to 86400";
	} else if (IS("auth", "idle_timeout")) {
		if (config_parse_uint(value, 10, 86400, &c->idle_timeout) != 0)
			what = "idle_timeout must be 10 to 86400 seconds";
	} else if (IS("console", "socket")) {
		if (!config_set_str(&c->console_socket, config_path(p, value)))
			what = "out of memory";
	} else if (IS("console", "allowed_uids")) {
		what = config_parse_uids(value, c);
	} else if (IS("console", "idle_timeout")) {
		if (config_parse_uint(value, 10, 86400, &c->console_idle) != 0)
			what = "idle_timeout must be 10 to 86400 seconds";
	} else if (IS("signing", "workers")) {
		if (strcmp(value, "auto") == 0)
			c->workers = 0;
		else if (config_parse_int(value, 1, SIGNET_MAX_WORKERS,
		    &c->workers) != 0)
			what = "workers must be auto or a number from 1 to 32";
	} else if (IS("keyholder", "journal")) {
		/* the keyholder's own signing journal (pkcs11/PROTOCOL.md) */
		if (!config_set_str(&c->kh_journal, config_path(p, value)))
			what = "out of memory";
	} else if (IS("keyholder", "socket")) {
		/* a keyholder of its own unit (signet-keyholder.socket) */
		if (value[0] != '/')
			what = "socket must be an absolute path";
		else if (strlen(value) >= SIGNET_MAX_UNIX_PATH)
			what = "socket path is too long for a Unix socket";
		else if (!config_set_str(&c->kh_socket, strdup(value)))
			what = "out of memory";
	} else if (IS("keyholder", "generate")) {
		if (strcmp(value, "yes") == 0)
			c->kh_no_generate = 0;
		else if (strcmp(value, "no") == 0)
			c->kh_no_generate = 1;
		else
			what = "generate must be yes or no";
	} else if (strcmp(section, "tsa") == 0) {
		what = config_tsa_set(&c->tsa, name, value);
	} else {
		what = "unknown setting";
	}
#undef IS
	if (what != NULL && !p->failed) {
		snprintf(p->errbuf, p->errlen, "[%s] %s: %s", section, name,
		    what);
		p->failed = 1;
	}
	return what == NULL;
}

int
config_load(const char *path, struct config *c, char *errbuf, size_t errlen)
{
	struct config_parse p;
	char tmp[PATH_MAX];
	const char *what;
	int r;

	memset(c, 0, sizeof(*c));
	memset(&p, 0, sizeof(p));
	c->threads = SIGNET_DEFAULT_HTTP_THREADS;
	c->max_connections_per_address = SIGNET_DEFAULT_CONN_PER_ADDRESS;
	c->drain_timeout = SIGNET_DEFAULT_DRAIN_TIMEOUT_S;
	c->max_artifact_size = SIGNET_DEFAULT_MAX_ARTIFACT;
	c->map_size = 4ULL << 30;
	c->max_map_size = 0;	/* below: at least map_size */
	c->workers = 0;		/* follow the keyholder's sessions */
	c->max_queue = SIGNET_DEFAULT_MAX_QUEUE;
	c->retry_base_ms = 1000;
	c->retry_max_ms = 300000;
	c->jwks_refresh_interval = SIGNET_DEFAULT_JWKS_REFRESH_S;
	c->session_ttl = 8 * 3600;
	c->lockout_failures = 5;
	c->lockout_seconds = 900;
	c->idle_timeout = 1800;
	c->console_idle = 300;
	config_tsa_defaults(&c->tsa);
	p.c = c;
	p.errbuf = errbuf;
	p.errlen = errlen;
	if (realpath(path, tmp) == NULL) {
		snprintf(errbuf, errlen, "%s: %s", path, strerror(errno));
		return SIGNET_ERR_CONFIG;
	}
	snprintf(p.dir, sizeof(p.dir), "%s", dirname(tmp));

	r = ini_parse(path, config_handler, &p);
	if (r < 0) {
		snprintf(errbuf, errlen, "%s: cannot read", path);
		goto fail;
	}
	if (r > 0) {
		if (!p.failed)
			snprintf(errbuf, errlen, "%s:%d: syntax error", path, r);
		else {
			char msg[256];

			snprintf(msg, sizeof(msg), "%s", errbuf);
			snprintf(errbuf, errlen, "%s:%d: %s", path, r, msg);
		}
		goto fail;
	}
	if (c->state_dir == NULL) {
		snprintf(errbuf, errlen, "%s: [store] state_dir is required",
		    path);
		goto fail;
	}
	/* one address holding its maximum leaves the others threads */
	if ((unsigned)c->threads < c->max_connections_per_address *
	    SIGNET_CONN_PER_ADDRESS_SHARE) {
		snprintf(errbuf, errlen, "%s: [server] threads (%d) must be at "
		    "least %d times max_connections_per_address (%u)", path,
		    c->threads, SIGNET_CONN_PER_ADDRESS_SHARE,
		    c->max_connections_per_address);
		goto fail;
	}
	if (c->max_map_size == 0)
		c->max_map_size = c->map_size > SIGNET_DEFAULT_MAX_MAP ?
		    c->map_size : SIGNET_DEFAULT_MAX_MAP;
	if (c->max_map_size < c->map_size) {
		snprintf(errbuf, errlen, "%s: [store] max_map_size must be at "
		    "least map_size", path);
		goto fail;
	}
	if ((what = config_tsa_check(&c->tsa)) != NULL) {
		snprintf(errbuf, errlen, "%s: [tsa] %s", path, what);
		goto fail;
	}
	if (c->module == NULL &&
	    (c->module = strdup("/usr/lib/softhsm/libsofthsm2.so")) == NULL)
		goto fail;
	if (c->listen == NULL && (c->listen = strdup("127.0.0.1:8443")) == NULL)
		goto fail;
	if (c->mail_from == NULL &&
	    (c->mail_from = strdup("signet@localhost")) == NULL)
		goto fail;
	if (c->console_socket == NULL && asprintf(&c->console_socket,
	    "%s/console.sock", c->state_dir) < 0) {
		c->console_socket = NULL;
		goto fail;
	}
	if (c->kh_journal == NULL && asprintf(&c->kh_journal,
	    "%s/keyholder/journal", c->state_dir) < 0) {
		c->kh_journal = NULL;
		goto fail;
	}
	return 0;
fail:
	config_free(c);
	return SIGNET_ERR_CONFIG;
}

void
config_free(struct config *c)
{
	size_t i;

	if (c == NULL)
		return;
	free(c->listen);
	free(c->certificate);
	free(c->client_ca);
	free(c->user);
	free(c->web_root);
	free(c->state_dir);
	free(c->module);
	free(c->token_label);
	free(c->pin_file);
	free(c->keyholder);
	for (i = 0; i < c->n_env; i++)
		free(c->env[i]);
	free(c->token_user);
	free(c->smtp_url);
	free(c->mail_from);
	free(c->notify_ca_file);
	free(c->origin_ca_file);
	free(c->console_socket);
	free(c->kh_journal);
	free(c->metrics_listen);
	free(c->kh_socket);
	config_tsa_free(&c->tsa);
	memset(c, 0, sizeof(*c));
}
