/* The HTTPS server: CivetWeb with TLS 1.2+, client certificates checked
 * against [server] client_ca only. */
#ifndef SIGNET_SERVER_H
#define SIGNET_SERVER_H

#include "err.h"

struct app;
struct server;
struct mg_connection;

int server_start(struct app *app, struct server **out) SIGNET_WUR;
void server_stop(struct server *s);	/* accepts NULL */
/* The request router (api.c), registered for /api/v1. */
int api_handler(struct mg_connection *c, void *app);

#endif
