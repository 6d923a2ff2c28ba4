/* The Signet PKCS#11 module's settings: the appliance and the
 * credentials a build machine uses (the same as `signet submit`), which
 * of its signing policies become tokens, how long C_Sign waits. They come
 * from a file (SIGNET_PKCS11_CONF, default SP11_CONF_DEFAULT) and the
 * environment, which wins:
 *
 *   file key      variable               meaning
 *   url           SIGNET_URL             https://appliance[:port]
 *   cacert        SIGNET_CACERT          CA of the appliance's TLS
 *   client_cert   SIGNET_CLIENT_CERT     client certificate (CI systems)
 *   client_key    SIGNET_CLIENT_KEY      its private key
 *   token         SIGNET_TOKEN           a person's bearer token
 *   project       SIGNET_PKCS11_PROJECT  only this project's policies
 *   policy        SIGNET_PKCS11_POLICY   only policies with this slug
 *   wait          SIGNET_PKCS11_WAIT     seconds C_Sign waits (approvals)
 *   log           SIGNET_PKCS11_LOG      log file (default: stderr)
 */
#ifndef SIGNET_P11_CONF_H
#define SIGNET_P11_CONF_H

#include <stddef.h>

#include "err.h"
#include "signet_limits.h"

#define SP11_CONF_DEFAULT	"/etc/signet/pkcs11.conf"
#define SP11_CONF_MAX_FILE	SIGNET_P11_MAX_CONF_FILE
#define SP11_CONF_MAX_VALUE	SIGNET_P11_MAX_CONF_VALUE
#define SP11_WAIT_DEFAULT	3600L		/* an officer's hour */
#define SP11_WAIT_MAX		SIGNET_P11_MAX_WAIT_S

enum sp11_conf_key {
	SP11_URL, SP11_CACERT, SP11_CLIENT_CERT, SP11_CLIENT_KEY, SP11_TOKEN,
	SP11_PROJECT, SP11_POLICY, SP11_WAIT, SP11_LOG, SP11_NKEYS
};

struct sp11_conf {
	char *v[SP11_NKEYS];	/* NULL where not set; SP11_TOKEN wiped */
	long wait_s;
};

/* Parses the text of a configuration file (key = value lines, '#'
 * comments, blank lines) into c, which keeps what it held for keys the
 * text does not name. SIGNET_ERR_INVALID with err naming the line and
 * what is wrong (an unknown key, a duplicate, a line without '=', a
 * value too long or with control characters, a bad wait). */
int sp11_conf_parse(struct sp11_conf *c, const char *text, size_t len,
    char *err, size_t errlen) SIGNET_WUR;
/* The file (a missing default file is no error; a missing named one
 * is), then the environment. */
int sp11_conf_load(struct sp11_conf *c, char *err, size_t errlen)
    SIGNET_WUR;
void sp11_conf_free(struct sp11_conf *c);

#endif
