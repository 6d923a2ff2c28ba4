/* The [tsa] listener: plain HTTPS without client certificates for
 * time-stamp clients (signtool /tr, osslsigncode -ts, openssl ts), serving
 * only POST /api/v1/timestamp and GET /api/v1/timestamp/certificate, with
 * queries limited by a token bucket ([tsa] rate per second). */
#ifndef SIGNET_SERVER_TSA_H
#define SIGNET_SERVER_TSA_H

#include "err.h"

struct app;
struct server_tsa;

/* *out stays NULL (and 0 is returned) when [tsa] listen is not set. */
int server_tsa_start(struct app *app, struct server_tsa **out) SIGNET_WUR;
void server_tsa_stop(struct server_tsa *s);	/* accepts NULL */

#endif
