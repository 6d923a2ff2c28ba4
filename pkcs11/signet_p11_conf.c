#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "num.h"
#include "rd.h"
#include "signet_p11_conf.h"

static const struct {
	const char *key;
	const char *env;
} sp11_keys[SP11_NKEYS] = {
	[SP11_URL] = { "url", "SIGNET_URL" },
	[SP11_CACERT] = { "cacert", "SIGNET_CACERT" },
	[SP11_CLIENT_CERT] = { "client_cert", "SIGNET_CLIENT_CERT" },
	[SP11_CLIENT_KEY] = { "client_key", "SIGNET_CLIENT_KEY" },
	[SP11_TOKEN] = { "token", "SIGNET_TOKEN" },
	[SP11_PROJECT] = { "project", "SIGNET_PKCS11_PROJECT" },
	[SP11_POLICY] = { "policy", "SIGNET_PKCS11_POLICY" },
	[SP11_WAIT] = { "wait", "SIGNET_PKCS11_WAIT" },
	[SP11_LOG] = { "log", "SIGNET_PKCS11_LOG" },
};

static void
conf_clear(char **v)
{
	if (*v != NULL)
		OPENSSL_clear_free(*v, strlen(*v));
	*v = NULL;
}

static int
conf_space(uint8_t c)
{
	return c == ' ' || c == '\t';
}

/* Sets key i to s[n] (trimmed by the caller), checking the value. */
static int
conf_set(struct sp11_conf *c, int i, const char *s, size_t n, char *err,
    size_t errlen, unsigned line)
{
	char *v, where[64];
	long w;
	size_t k;

	/* a file's line, or the variable that set it */
	if (line > 0)
		snprintf(where, sizeof(where), "line %u", line);
	else
		snprintf(where, sizeof(where), "%s", sp11_keys[i].env);
	if (n == 0 || n > SP11_CONF_MAX_VALUE)
		return signet_errf(err, errlen, SIGNET_ERR_INVALID, "%s: %s "
		    "needs a value of 1-%d bytes", where, sp11_keys[i].key,
		    SP11_CONF_MAX_VALUE);
	for (k = 0; k < n; k++)
		if ((unsigned char)s[k] < 0x20 || s[k] == 0x7f)
			return signet_errf(err, errlen, SIGNET_ERR_INVALID,
			    "%s: %s holds a control character", where,
			    sp11_keys[i].key);
	if ((v = malloc(n + 1)) == NULL)
		return SIGNET_ERR_NOMEM;
	memcpy(v, s, n);
	v[n] = '\0';
	if (i == SP11_WAIT) {
		if (num_parse_long(v, 1, SP11_WAIT_MAX, &w) != 0) {
			free(v);
			return signet_errf(err, errlen, SIGNET_ERR_INVALID,
			    "%s: wait must be 1 to %ld seconds", where,
			    SP11_WAIT_MAX);
		}
		c->wait_s = w;
	}
	conf_clear(&c->v[i]);
	c->v[i] = v;
	return 0;
}

int
sp11_conf_parse(struct sp11_conf *c, const char *text, size_t len,
    char *err, size_t errlen)
{
	const uint8_t *l;
	size_t n, a, b, eq, k;
	unsigned line = 0;
	int seen[SP11_NKEYS] = { 0 }, i, r;
	struct rd rd;

	if (len > SP11_CONF_MAX_FILE)
		return signet_errf(err, errlen, SIGNET_ERR_INVALID, "the file "
		    "is larger than %d bytes", SP11_CONF_MAX_FILE);
	rd_init(&rd, text, len);
	while (rd_left(&rd) > 0) {
		line++;
		/* a line, or the rest when the last one has no newline */
		if (rd_until(&rd, '\n', SP11_CONF_MAX_FILE, &l, &n) != 0 &&
		    rd_rest(&rd, SP11_CONF_MAX_FILE, &l, &n) != 0)
			return SIGNET_ERR_INVALID;
		a = 0;
		b = n;
		while (a < b && conf_space(l[a]))
			a++;
		while (b > a && (conf_space(l[b - 1]) || l[b - 1] == '\r'))
			b--;
		if (a == b || l[a] == '#')
			continue;
		for (eq = a; eq < b && l[eq] != '='; eq++)
			;
		if (eq == b)
			return signet_errf(err, errlen, SIGNET_ERR_INVALID,
			    "line %u: expected key = value", line);
		for (k = eq; k > a && conf_space(l[k - 1]); k--)
			;
		for (i = 0; i < SP11_NKEYS; i++)
			if (strlen(sp11_keys[i].key) == k - a &&
			    memcmp(sp11_keys[i].key, l + a, k - a) == 0)
				break;
		if (i == SP11_NKEYS)
			return signet_errf(err, errlen, SIGNET_ERR_INVALID,
			    "line %u: unknown key '%.*s' (known: url, cacert, "
			    "client_cert, client_key, token, project, policy, "
			    "wait, log)", line, (int)(k - a > 32 ? 32 : k - a),
			    (const char *)(l + a));
		if (seen[i]++)
			return signet_errf(err, errlen, SIGNET_ERR_INVALID,
			    "line %u: %s is given twice", line,
			    sp11_keys[i].key);
		for (k = eq + 1; k < b && conf_space(l[k]); k++)
			;
		if ((r = conf_set(c, i, (const char *)l + k, b - k, err,
		    errlen, line)) != 0)
			return r;
	}
	return 0;
}

int
sp11_conf_load(struct sp11_conf *c, char *err, size_t errlen)
{
	const char *path = getenv("SIGNET_PKCS11_CONF"), *v;
	char buf[SP11_CONF_MAX_FILE + 1];
	size_t len = 0;
	ssize_t n;
	int fd, i, r;

	memset(c, 0, sizeof(*c));
	c->wait_s = SP11_WAIT_DEFAULT;
	fd = open(path != NULL ? path : SP11_CONF_DEFAULT,
	    O_RDONLY | O_CLOEXEC);
	if (fd < 0 && (path != NULL || errno != ENOENT))
		return signet_errf(err, errlen, SIGNET_ERR_CONFIG, "cannot "
		    "read %s: %s", path != NULL ? path : SP11_CONF_DEFAULT,
		    strerror(errno));
	if (fd >= 0) {
		while (len < sizeof(buf) &&
		    (n = read(fd, buf + len, sizeof(buf) - len)) > 0)
			len += (size_t)n;
		close(fd);
		r = sp11_conf_parse(c, buf, len, err, errlen);
		OPENSSL_cleanse(buf, sizeof(buf));	/* may hold a token */
		if (r != 0)
			return r;
	}
	for (i = 0; i < SP11_NKEYS; i++)
		if ((v = getenv(sp11_keys[i].env)) != NULL && *v != '\0' &&
		    (r = conf_set(c, i, v, strlen(v), err, errlen, 0)) != 0)
			return r;
	if (c->v[SP11_URL] == NULL)
		return signet_errf(err, errlen, SIGNET_ERR_CONFIG, "no "
		    "appliance: set SIGNET_URL or url in %s",
		    path != NULL ? path : SP11_CONF_DEFAULT);
	return 0;
}

void
sp11_conf_free(struct sp11_conf *c)
{
	int i;

	if (c == NULL)
		return;
	for (i = 0; i < SP11_NKEYS; i++)
		conf_clear(&c->v[i]);
}
