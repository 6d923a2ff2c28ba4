/* The time-stamping authority's two HTTP answers (api_tsa.c), shared by
 * the API router and the [tsa] listener (server_tsa.c). */
#ifndef SIGNET_API_TSA_H
#define SIGNET_API_TSA_H

struct app;
struct mg_connection;

/* POST: an application/timestamp-query in, an application/timestamp-reply
 * out (a token or a rejection), or an HTTP error when none can be made. */
void api_tsa_query(struct mg_connection *c, struct app *app);
/* GET: the TSA's chain as PEM, leaf first. */
void api_tsa_chain(struct mg_connection *c, struct app *app);

#endif
