#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/objects.h>

#include "config_tsa.h"
#include "num.h"
#include "signet_limits.h"

/* Default bucket of the [tsa] listener: ample for build machines that
 * time-stamp what they sign, small enough that one client cannot keep
 * the token busy. */
#define CONFIG_TSA_DEFAULT_RATE	50

void
config_tsa_defaults(struct config_tsa *t)
{
	memset(t, 0, sizeof(*t));
	t->accuracy_ms = 1000;
	t->rate = CONFIG_TSA_DEFAULT_RATE;
}

static int
config_tsa_bool(const char *v, int *out)
{
	if (strcmp(v, "true") == 0 || strcmp(v, "yes") == 0) {
		*out = 1;
		return 0;
	}
	if (strcmp(v, "false") == 0 || strcmp(v, "no") == 0) {
		*out = 0;
		return 0;
	}
	return -1;
}

/* A dotted OID OpenSSL reads back as itself (no names: "1.2.3.4"). */
static int
config_tsa_oid(const char *v)
{
	ASN1_OBJECT *o;
	char back[128];
	int ok;

	if (strlen(v) >= sizeof(back) || strspn(v, "0123456789.") != strlen(v))
		return 0;
	if ((o = OBJ_txt2obj(v, 1)) == NULL) {
		ERR_clear_error();
		return 0;
	}
	ok = OBJ_obj2txt(back, sizeof(back), o, 1) > 0 && strcmp(back, v) == 0;
	ASN1_OBJECT_free(o);
	return ok;
}

static const char *
config_tsa_str(char **dst, const char *v)
{
	char *s;

	if (*v == '\0')
		return "must not be empty";
	if ((s = strdup(v)) == NULL)
		return "out of memory";
	free(*dst);
	*dst = s;
	return NULL;
}

const char *
config_tsa_set(struct config_tsa *t, const char *name, const char *value)
{
	long v;

	if (strcmp(name, "certificate") == 0)
		return config_tsa_str(&t->certificate, value);
	if (strcmp(name, "policy") == 0) {
		if (!config_tsa_oid(value))
			return "policy must be an OID in dotted form, such as "
			    "1.3.6.1.4.1.99999.1.1";
		return config_tsa_str(&t->policy, value);
	}
	if (strcmp(name, "accuracy_ms") == 0) {
		if (num_parse_long(value, 1, SIGNET_TSA_MAX_ACCURACY_MS, &v) != 0)
			return "accuracy_ms must be 1 to 60000";
		t->accuracy_ms = (unsigned)v;
		return NULL;
	}
	if (strcmp(name, "listen") == 0) {
		if (strchr(value, ':') == NULL)
			return "listen must be address:port";
		return config_tsa_str(&t->listen, value);
	}
	if (strcmp(name, "rate") == 0) {
		if (num_parse_long(value, 1, SIGNET_TSA_MAX_RATE, &v) != 0)
			return "rate must be 1 to 100000 tokens per second";
		t->rate = (unsigned)v;
		return NULL;
	}
	if (strcmp(name, "allow_unsynchronized") == 0) {
		if (config_tsa_bool(value, &t->allow_unsynchronized) != 0)
			return "allow_unsynchronized must be true or false";
		return NULL;
	}
	return "unknown setting";
}

const char *
config_tsa_check(const struct config_tsa *t)
{
	if (t->certificate == NULL && (t->policy != NULL || t->listen != NULL))
		return "policy and listen need certificate (the TSA is off "
		    "without it)";
	if (t->certificate != NULL && t->policy == NULL)
		return "policy is required when certificate is set";
	return NULL;
}

void
config_tsa_free(struct config_tsa *t)
{
	if (t == NULL)
		return;
	free(t->certificate);
	free(t->policy);
	free(t->listen);
	memset(t, 0, sizeof(*t));
}
