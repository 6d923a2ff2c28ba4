/* Connections signetd opens itself (webhook receivers, the SMTP relay,
 * a build system's JWKS URL): libcurl set up one way for all of them, so
 * that none of them can forget a rule. TLS is verified against a CA file
 * or the system's store, time is bounded, redirects are not followed,
 * and a flag the owner sets aborts a transfer in progress. */
#ifndef SIGNET_OUTBOUND_H
#define SIGNET_OUTBOUND_H

#include <stdatomic.h>
#include <stddef.h>

#include <curl/curl.h>

#include "config.h"
#include "err.h"
#include "wbuf.h"

/* libcurl's global state, once per process before any handle. */
int outbound_init(void) SIGNET_WUR;

/* The internal addresses ([outbound] allow_internal) that webhooks and
 * jwksUrl may reach; called once at start, before any transfer. */
void outbound_allow_internal(const struct config_net *nets, size_t n);

/* Is this address loopback, link-local or unspecified (IPv4-mapped and
 * IPv4-compatible IPv6 included) and not allowed? (For tests.) */
int outbound_refused_addr(const struct sockaddr *sa, size_t len);

/* A transfer to an address an administrator gave (a webhook, a jwksUrl):
 * every address libcurl connects to (after it resolved the name, at
 * connect time, so DNS rebinding cannot pass) is checked against the
 * internal ones; one that is refused is never connected to. */
struct outbound_guard {
	int refused;	/* set when an address was refused */
};

int outbound_guard(CURL *c, struct outbound_guard *g) SIGNET_WUR;

/* What failed, in a fixed message per class (refused, unreachable,
 * timeout, TLS, ...) and never the peer's own text, which could tell an
 * administrator what listens where. */
void outbound_error(CURLcode cc, const struct outbound_guard *g, char *err,
    size_t errlen);

/* The options every transfer shares. protocols: "https" or
 * "smtp,smtps"; ca_file NULL: the system's store; stop (may be NULL):
 * non-zero aborts the transfer; errbuf: CURL_ERROR_SIZE bytes, filled by
 * libcurl. A response body is discarded unless the caller sets
 * CURLOPT_WRITEFUNCTION afterwards. */
int outbound_setup(CURL *c, const char *url, const char *protocols,
    const char *ca_file, atomic_int *stop, char *errbuf) SIGNET_WUR;

/* GET of an https:// URL whose answer must be 200 with a body of at
 * most max bytes; accept is the Accept header; guarded (outbound_guard).
 * 0 and the body in *body (initialised here; the caller frees it with
 * wbuf_free). Otherwise body is empty and err says why in a fixed message
 * (outbound_error) fit for a log and an API answer:
 * SIGNET_ERR_TOO_LARGE for a body over max, SIGNET_ERR_UNAVAILABLE for
 * everything the network or the server did (refused address,
 * unreachable, TLS, timeout, another status, stopped). */
int outbound_get(const char *url, const char *accept, const char *ca_file,
    size_t max, atomic_int *stop, struct wbuf *body, char *err,
    size_t errlen) SIGNET_WUR;

/* A body that libcurl reads from memory (CURLOPT_READFUNCTION with
 * outbound_mem_read, CURLOPT_SEEKFUNCTION with outbound_mem_seek, the
 * same for curl_mime_data_cb): the bytes are not copied, so the caller
 * keeps them and wipes them if they are secret. */
struct outbound_mem {
	const unsigned char *p;
	size_t len;
	size_t off;
};

size_t outbound_mem_read(char *buf, size_t size, size_t nitems, void *arg);
int outbound_mem_seek(void *arg, curl_off_t offset, int origin);

#endif
