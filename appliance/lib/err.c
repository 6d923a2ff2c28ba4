#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

#include "err.h"

static const struct {
	int value;
	const char *text;
	int http;
	const char *wire;
	const char *api;
} err_table[] = {
	[0] = { 0, "success", 200, "ok", "ok" },
#define SIGNET_ERR_ROW(name, value, text, http, wire, api) \
	[-(value)] = { value, text, http, wire, api },
	SIGNET_ERRORS(SIGNET_ERR_ROW)
#undef SIGNET_ERR_ROW
};

_Static_assert(sizeof(err_table) / sizeof(err_table[0]) == -SIGNET_ERR_MAX,
    "SIGNET_ERR_MAX is one past the last row of SIGNET_ERRORS");

static int
err_known(int err)
{
	return err < 0 && err > SIGNET_ERR_MAX && err_table[-err].text != NULL;
}

const char *
signet_strerror(int err)
{
	if (err == 0)
		return err_table[0].text;
	return err_known(err) ? err_table[-err].text : "unknown error";
}

int
signet_err_http(int err)
{
	return err_known(err) ? err_table[-err].http : 500;
}

const char *
signet_err_wire(int err)
{
	return err_known(err) ? err_table[-err].wire : "internal";
}

const char *
signet_err_api(int err)
{
	return err_known(err) ? err_table[-err].api : "internal";
}

int
signet_errf(char *msg, size_t len, int err, const char *fmt, ...)
{
	va_list ap;

	if (msg == NULL || len == 0)
		return err;
	va_start(ap, fmt);
	vsnprintf(msg, len, fmt, ap);
	va_end(ap);
	return err;
}

/* The errors that do not belong to the work that met them. INTERNAL is
 * not one: a bug does not go away by waiting. TOKEN is the token or its
 * module refusing the operation (PROTOCOL.md), which is the work's. */
static const int err_transient[] = {
	SIGNET_ERR_NOMEM,
	SIGNET_ERR_IO,
	SIGNET_ERR_STORE,
	SIGNET_ERR_TOKEN_LOCKED,
	SIGNET_ERR_PROTOCOL,
	SIGNET_ERR_KEYHOLDER,
	SIGNET_ERR_UNAVAILABLE,
	SIGNET_ERR_STORAGE_FULL,
};

int
signet_err_transient(int err)
{
	size_t i;

	for (i = 0; i < sizeof(err_transient) / sizeof(err_transient[0]); i++)
		if (err_transient[i] == err)
			return 1;
	return 0;
}
