/* One error space for all of Signet: negative codes, 0 is success. The
 * groups map onto HTTP status codes in one table (web/http.c). */
#ifndef SIGNET_ERR_H
#define SIGNET_ERR_H

#define SIGNET_OK		  0
#define SIGNET_ERR_INTERNAL	 -1	/* a bug or an unexpected state */
#define SIGNET_ERR_NOMEM	 -2
#define SIGNET_ERR_INVALID	 -3	/* malformed input */
#define SIGNET_ERR_TOO_LARGE	 -4	/* a named limit was exceeded */
#define SIGNET_ERR_NOT_FOUND	 -5
#define SIGNET_ERR_EXISTS	 -6
#define SIGNET_ERR_CONFLICT	 -7	/* state does not allow the operation */
#define SIGNET_ERR_UNAUTHENTICATED -8
#define SIGNET_ERR_FORBIDDEN	 -9
#define SIGNET_ERR_IO		-10	/* file system */
#define SIGNET_ERR_STORE	-11	/* LMDB */
#define SIGNET_ERR_CRYPTO	-12	/* OpenSSL */
#define SIGNET_ERR_TOKEN	-13	/* PKCS#11 token refused or failed */
#define SIGNET_ERR_TOKEN_LOCKED	-14	/* token not logged in */
#define SIGNET_ERR_PROTOCOL	-15	/* keyholder message malformed */
#define SIGNET_ERR_KEYHOLDER	-16	/* keyholder gone */
#define SIGNET_ERR_CONFIG	-17
#define SIGNET_ERR_TRUNCATED	-18	/* input ended early */
#define SIGNET_ERR_UNAVAILABLE	-19	/* try again later */
#define SIGNET_ERR_PIN_INCORRECT -20
#define SIGNET_ERR_PIN_LOCKED	-21
#define SIGNET_ERR_ORIGIN_RULE	-22	/* a policy's origin rule refuses */
#define SIGNET_ERR_MAX		-23	/* one past the last */

#define SIGNET_WUR __attribute__((warn_unused_result))

/* Static text for an error code; never NULL. */
const char *signet_strerror(int err);

#endif
