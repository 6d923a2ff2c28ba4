/* Counters and the signing latency histogram of signetd, kept in memory
 * and rendered in the Prometheus text exposition format (version 0.0.4,
 * https://prometheus.io/docs/instrumenting/exposition_formats/). The
 * gauges (queue, storage, token) are read when rendered, by whoever
 * renders. Every function is thread-safe and cannot fail. */
#ifndef SIGNET_METRICS_H
#define SIGNET_METRICS_H

#include <stdint.h>

#include "err.h"
#include "wbuf.h"

enum metrics_counter {
	METRICS_TOKEN_OPERATIONS,	/* signatures asked of the keyholder */
	METRICS_LOGIN_FAILURES,		/* failed password logins */
	METRICS_SUBMISSIONS_REFUSED_QUEUE,	/* 503: the queue was full */
	METRICS_SUBMISSIONS_REFUSED_STORAGE,	/* 507: storage was full */
	METRICS_TSA_URL_TOKENS,		/* tokens from a policy's TSA URL */
	METRICS_TSA_URL_FAILURES,	/* requests failed for want of one */
	METRICS_STORE_FLUSHES,		/* durable commits of the database */
	METRICS_STORE_WRITES,		/* writes those commits made durable */
	METRICS_STORE_BATCHED_WRITES,	/* of them, those that shared one */
	METRICS_COUNTER_COUNT
};

void metrics_count(enum metrics_counter c);
void metrics_add(enum metrics_counter c, uint64_t n);
/* A counter's value now (tests, benchmarks). */
uint64_t metrics_get(enum metrics_counter c);
/* A token operation failed with err (labelled by the error's API code). */
void metrics_token_error(int err);
/* One signature made and stored, in seconds from claim to result. */
void metrics_signing_seconds(double s);
/* Appends the counters and the histogram to b. */
int metrics_render(struct wbuf *b) SIGNET_WUR;

#endif
