#include "err.h"

static const char *const err_text[] = {
	[0] = "success",
	[-SIGNET_ERR_INTERNAL] = "internal error",
	[-SIGNET_ERR_NOMEM] = "out of memory",
	[-SIGNET_ERR_INVALID] = "invalid input",
	[-SIGNET_ERR_TOO_LARGE] = "limit exceeded",
	[-SIGNET_ERR_NOT_FOUND] = "not found",
	[-SIGNET_ERR_EXISTS] = "already exists",
	[-SIGNET_ERR_CONFLICT] = "not allowed in the current state",
	[-SIGNET_ERR_UNAUTHENTICATED] = "not authenticated",
	[-SIGNET_ERR_FORBIDDEN] = "forbidden",
	[-SIGNET_ERR_IO] = "file system error",
	[-SIGNET_ERR_STORE] = "database error",
	[-SIGNET_ERR_CRYPTO] = "cryptographic operation failed",
	[-SIGNET_ERR_TOKEN] = "token operation failed",
	[-SIGNET_ERR_TOKEN_LOCKED] = "token is not logged in",
	[-SIGNET_ERR_PROTOCOL] = "keyholder protocol violation",
	[-SIGNET_ERR_KEYHOLDER] = "keyholder unavailable",
	[-SIGNET_ERR_CONFIG] = "configuration error",
	[-SIGNET_ERR_TRUNCATED] = "input truncated",
	[-SIGNET_ERR_UNAVAILABLE] = "temporarily unavailable",
	[-SIGNET_ERR_PIN_INCORRECT] = "PIN incorrect",
	[-SIGNET_ERR_PIN_LOCKED] = "PIN locked",
	[-SIGNET_ERR_ORIGIN_RULE] = "origin rule not met",
};

const char *
signet_strerror(int err)
{
	if (err > 0 || err <= SIGNET_ERR_MAX || err_text[-err] == 0)
		return "unknown error";
	return err_text[-err];
}
