#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <time.h>

#include <openssl/err.h>

#include "log.h"

static const char *log_prog = "signet";
static int log_debug_on;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

void
log_init(const char *progname, int debug)
{
	log_prog = progname;
	log_debug_on = debug;
}

static void log_v(const char *level, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

static void
log_v(const char *level, const char *fmt, va_list ap)
{
	char msg[1024];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	pthread_mutex_lock(&log_lock);
	fprintf(stderr, "%s[%s]: %s\n", log_prog, level, msg);
	pthread_mutex_unlock(&log_lock);
}

#define LOG_FN(name, level, cond)			\
	void name(const char *fmt, ...)			\
	{						\
		va_list ap;				\
		if (!(cond))				\
			return;				\
		va_start(ap, fmt);			\
		log_v(level, fmt, ap);			\
		va_end(ap);				\
	}

LOG_FN(log_debug, "debug", log_debug_on)
LOG_FN(log_info, "info", 1)
LOG_FN(log_warn, "warn", 1)
LOG_FN(log_err, "error", 1)

void
log_ssl(const char *fmt, ...)
{
	va_list ap;
	unsigned long e;
	char buf[256];

	va_start(ap, fmt);
	log_v("error", fmt, ap);
	va_end(ap);
	while ((e = ERR_get_error()) != 0) {
		ERR_error_string_n(e, buf, sizeof(buf));
		log_err("  openssl: %s", buf);
	}
}
