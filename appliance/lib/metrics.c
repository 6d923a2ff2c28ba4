#include <pthread.h>
#include <stdint.h>

#include "metrics.h"

static const struct {
	const char *name;
	const char *help;
} metrics_counters[METRICS_COUNTER_COUNT] = {
	[METRICS_TOKEN_OPERATIONS] = { "signet_token_operations_total",
	    "Signatures asked of the keyholder." },
	[METRICS_LOGIN_FAILURES] = { "signet_login_failures_total",
	    "Failed password logins (API, web interface, console)." },
	[METRICS_SUBMISSIONS_REFUSED_QUEUE] = {
	    "signet_submissions_refused_queue_full_total",
	    "Submissions answered 503 because the queue was full." },
	[METRICS_SUBMISSIONS_REFUSED_STORAGE] = {
	    "signet_submissions_refused_storage_full_total",
	    "Submissions answered 507 because storage was full." },
	[METRICS_TSA_URL_TOKENS] = { "signet_tsa_url_tokens_total",
	    "Time-stamp tokens fetched from policies' TSA URLs." },
	[METRICS_TSA_URL_FAILURES] = { "signet_tsa_url_failures_total",
	    "Signatures left without a token after every attempt at a "
	    "policy's TSA URL (the request failed)." },
	[METRICS_STORE_FLUSHES] = { "signet_store_flushes_total",
	    "Commits of the database flushed to the disk (each one "
	    "fdatasync of its pages and one synchronous write of its meta "
	    "page)." },
	[METRICS_STORE_WRITES] = { "signet_store_writes_total",
	    "Writes those commits made durable: a commit of a batch of "
	    "submissions counts each one." },
	[METRICS_STORE_BATCHED_WRITES] = { "signet_store_batched_writes_total",
	    "Writes that shared their commit and flush with others (group "
	    "commit)." },
};

/* Upper bounds of the latency buckets, seconds: a signature is a round
 * trip to the token (milliseconds for SoftHSM, up to seconds for a
 * network HSM) and the write of the result. */
static const double metrics_buckets[] = {
	0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
};
#define METRICS_NBUCKETS (sizeof(metrics_buckets) / sizeof(metrics_buckets[0]))

static pthread_mutex_t metrics_mu = PTHREAD_MUTEX_INITIALIZER;
static uint64_t metrics_values[METRICS_COUNTER_COUNT];
static uint64_t metrics_token_errors[-SIGNET_ERR_MAX];
static uint64_t metrics_hist[METRICS_NBUCKETS];
static uint64_t metrics_hist_count;
static double metrics_hist_sum;

void
metrics_count(enum metrics_counter c)
{
	if ((unsigned)c >= METRICS_COUNTER_COUNT)
		return;
	pthread_mutex_lock(&metrics_mu);
	metrics_values[c]++;
	pthread_mutex_unlock(&metrics_mu);
}

void
metrics_add(enum metrics_counter c, uint64_t n)
{
	if ((unsigned)c >= METRICS_COUNTER_COUNT)
		return;
	pthread_mutex_lock(&metrics_mu);
	metrics_values[c] += n;
	pthread_mutex_unlock(&metrics_mu);
}

uint64_t
metrics_get(enum metrics_counter c)
{
	uint64_t v;

	if ((unsigned)c >= METRICS_COUNTER_COUNT)
		return 0;
	pthread_mutex_lock(&metrics_mu);
	v = metrics_values[c];
	pthread_mutex_unlock(&metrics_mu);
	return v;
}

void
metrics_token_error(int err)
{
	/* codes outside the table count as internal */
	if (err >= 0 || err <= SIGNET_ERR_MAX)
		err = SIGNET_ERR_INTERNAL;
	pthread_mutex_lock(&metrics_mu);
	metrics_token_errors[-err]++;
	pthread_mutex_unlock(&metrics_mu);
}

void
metrics_signing_seconds(double s)
{
	size_t i;

	pthread_mutex_lock(&metrics_mu);
	for (i = 0; i < METRICS_NBUCKETS; i++)
		if (s <= metrics_buckets[i])
			metrics_hist[i]++;
	metrics_hist_count++;
	metrics_hist_sum += s;
	pthread_mutex_unlock(&metrics_mu);
}

int
metrics_render(struct wbuf *b)
{
	uint64_t v[METRICS_COUNTER_COUNT], te[-SIGNET_ERR_MAX];
	uint64_t h[METRICS_NBUCKETS], hc;
	double hs;
	size_t i;
	int r = 0, any = 0;

	pthread_mutex_lock(&metrics_mu);
	for (i = 0; i < METRICS_COUNTER_COUNT; i++)
		v[i] = metrics_values[i];
	for (i = 0; i < (size_t)-SIGNET_ERR_MAX; i++)
		te[i] = metrics_token_errors[i];
	for (i = 0; i < METRICS_NBUCKETS; i++)
		h[i] = metrics_hist[i];
	hc = metrics_hist_count;
	hs = metrics_hist_sum;
	pthread_mutex_unlock(&metrics_mu);

	for (i = 0; r == 0 && i < METRICS_COUNTER_COUNT; i++)
		r = wbuf_addf(b, "# HELP %s %s\n# TYPE %s counter\n%s %llu\n",
		    metrics_counters[i].name, metrics_counters[i].help,
		    metrics_counters[i].name, metrics_counters[i].name,
		    (unsigned long long)v[i]);
	if (r == 0)
		r = wbuf_addf(b, "# HELP signet_token_errors_total Token "
		    "operations that failed, by error.\n"
		    "# TYPE signet_token_errors_total counter\n");
	for (i = 1; r == 0 && i < (size_t)-SIGNET_ERR_MAX; i++) {
		if (te[i] == 0)
			continue;
		any = 1;
		r = wbuf_addf(b, "signet_token_errors_total{error=\"%s\"} %llu\n",
		    signet_err_api(-(int)i), (unsigned long long)te[i]);
	}
	if (r == 0 && !any)
		r = wbuf_addf(b, "signet_token_errors_total{error=\"keyholder\"} "
		    "0\n");
	if (r == 0)
		r = wbuf_addf(b, "# HELP signet_signing_seconds Time from taking "
		    "a request to recording its signature.\n"
		    "# TYPE signet_signing_seconds histogram\n");
	for (i = 0; r == 0 && i < METRICS_NBUCKETS; i++)
		r = wbuf_addf(b, "signet_signing_seconds_bucket{le=\"%g\"} "
		    "%llu\n", metrics_buckets[i], (unsigned long long)h[i]);
	if (r == 0)
		r = wbuf_addf(b, "signet_signing_seconds_bucket{le=\"+Inf\"} "
		    "%llu\nsignet_signing_seconds_sum %.6f\n"
		    "signet_signing_seconds_count %llu\n",
		    (unsigned long long)hc, hs, (unsigned long long)hc);
	return r;
}
