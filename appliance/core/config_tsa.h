/* signetd.conf [tsa]: the time-stamping authority (appliance/sign/tsa.h,
 * README "Time stamping"). */
#ifndef SIGNET_CONFIG_TSA_H
#define SIGNET_CONFIG_TSA_H

struct config_tsa {
	char *certificate;	/* catalog certificate name; NULL: TSA off */
	char *policy;		/* TSA policy OID (required when on) */
	unsigned accuracy_ms;	/* default 1000 */
	char *listen;		/* host:port of the plain-HTTPS listener */
	unsigned rate;		/* tokens per second there (token bucket) */
	int allow_unsynchronized;	/* default no */
};

void config_tsa_defaults(struct config_tsa *t);
/* One setting of [tsa]: NULL, or what is wrong with it. */
const char *config_tsa_set(struct config_tsa *t, const char *name,
    const char *value);
/* After the file: NULL, or what is missing or inconsistent. */
const char *config_tsa_check(const struct config_tsa *t);
void config_tsa_free(struct config_tsa *t);

#endif
