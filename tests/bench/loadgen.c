/* Load generator for signetd's submit path: N client threads, each with
 * one libcurl easy handle (so its mTLS connection is kept alive across
 * requests, as a CI runner's would be), each submitting artifacts of
 * random content so every one is a distinct CAS object and a distinct
 * signature.
 *
 * With --wait each client polls its request until it is final, so the
 * figure is signed requests per second, not merely accepted uploads.
 *
 * With --rate R the clients do not go as fast as they can: together they
 * start R requests per second, client i's k-th at i + k * clients
 * intervals of 1/R from the start, so the latencies are those of a
 * server loaded at R, not at its maximum. A client whose previous request
 * is not done by then starts late, and the late ones are counted.
 *
 *   loadgen --url https://127.0.0.1:8443 --cacert CA --cert CRT --key KEY
 *           [--clients 8] [--requests M | --seconds S] [--size 4096]
 *           [--wait] [--poll-ms 5] [--rate R] [--project demo-app]
 *           [--policy test-signing]
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>

/* A reply beyond this is not a signing request; keep what fits. */
#define LG_MAX_REPLY	(256 * 1024)
#define LG_MAX_CLIENTS	256
/* The benchmark's own limit: larger artifacts are bench (c)'s job (curl
 * streams the file from disk; this tool holds it in memory). */
#define LG_MAX_SIZE	(256UL * 1024 * 1024)
#define LG_MAX_URL	512
#define LG_MAX_ERRORS	5	/* failures printed before going quiet */
/* A request that is not final after this long counts as failed, so a
 * stuck signer ends the run instead of hanging it. */
#define LG_WAIT_LIMIT_S	120.0
/* --rate: a request started later than this after its time is late */
#define LG_LATE_S	0.001
#define LG_MAX_RATE	100000.0

struct lg_opts {
	const char *url, *cacert, *cert, *key, *project, *policy;
	unsigned long clients, requests, poll_ms;
	double seconds, rate;
	size_t size;
	int wait;
};

struct lg_reply {
	char *buf;
	size_t len;
	int truncated;
};

/* Latencies in ms; grown by doubling, one array per client. */
struct lg_lat {
	double *v;
	size_t n, cap;
};

struct lg_client {
	pthread_t th;
	const struct lg_opts *o;
	CURL *h;
	struct curl_slist *hdrs;
	uint64_t rng[4];
	unsigned char *art;
	struct lg_reply reply;
	unsigned long idx;		/* this client's place among them */
	unsigned long started;		/* requests started (--rate) */
	unsigned long late;		/* started after their time (--rate) */
	unsigned long submitted, completed, failed, polls;
	double ewma_ms;		/* 201 → final, as seen by this client */
	struct lg_lat client_lat;	/* POST sent → Completed seen */
	struct lg_lat server_lat;	/* history: queued → Completed */
	struct lg_lat submit_lat;	/* POST sent → 201 received */
};

static atomic_ulong lg_issued;
static atomic_int lg_errors;
static double lg_start, lg_deadline;

static double
lg_tv(const struct timeval *tv)
{
	return (double)tv->tv_sec + (double)tv->tv_usec / 1e6;
}

static double
lg_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
lg_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void
lg_error(const char *fmt, ...)
{
	va_list ap;

	if (atomic_fetch_add(&lg_errors, 1) >= LG_MAX_ERRORS)
		return;
	va_start(ap, fmt);
	fputs("loadgen: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

/* xoshiro256**: artifacts need to differ, not to be secret, and the
 * generator must not be what the benchmark measures. */
static uint64_t
lg_rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

static uint64_t
lg_rand(uint64_t s[4])
{
	uint64_t r = lg_rotl(s[1] * 5, 7) * 9, t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = lg_rotl(s[3], 45);
	return r;
}

static void
lg_fill(struct lg_client *c)
{
	size_t i;
	uint64_t x;

	for (i = 0; i + 8 <= c->o->size; i += 8) {
		x = lg_rand(c->rng);
		memcpy(c->art + i, &x, 8);
	}
	x = lg_rand(c->rng);
	memcpy(c->art + i, &x, c->o->size - i);
}

static int
lg_lat_add(struct lg_lat *l, double ms)
{
	double *v;
	size_t cap;

	if (l->n == l->cap) {
		cap = l->cap ? l->cap * 2 : 256;
		if ((v = realloc(l->v, cap * sizeof(*v))) == NULL)
			return -1;
		l->v = v;
		l->cap = cap;
	}
	l->v[l->n++] = ms;
	return 0;
}

static size_t
lg_write(char *p, size_t size, size_t n, void *arg)
{
	struct lg_reply *r = arg;
	size_t len = size * n, take = len;

	if (take > LG_MAX_REPLY - r->len) {
		take = LG_MAX_REPLY - r->len;
		r->truncated = 1;
	}
	memcpy(r->buf + r->len, p, take);
	r->len += take;
	return len;
}

/* One HTTP exchange on the client's connection; the reply parsed as JSON. */
static int
lg_perform(struct lg_client *c, long *status, json_t **reply)
{
	json_error_t je;
	CURLcode e;

	*reply = NULL;
	c->reply.len = 0;
	c->reply.truncated = 0;
	if ((e = curl_easy_perform(c->h)) != CURLE_OK) {
		lg_error("%s", curl_easy_strerror(e));
		return -1;
	}
	c->reply.buf[c->reply.len] = '\0';	/* for the error messages */
	curl_easy_getinfo(c->h, CURLINFO_RESPONSE_CODE, status);
	if (c->reply.truncated ||
	    (*reply = json_loadb(c->reply.buf, c->reply.len, 0, &je)) == NULL) {
		lg_error("HTTP %ld: reply is not JSON: %.200s", *status,
		    c->reply.buf);
		return -1;
	}
	return 0;
}

/* "2024-05-01T10:20:30.123Z" (request.c's request_now) → seconds. */
static int
lg_rfc3339(const char *s, double *out)
{
	struct tm tm;
	const char *p;
	unsigned int ms;

	memset(&tm, 0, sizeof(tm));
	if (s == NULL || (p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm)) == NULL ||
	    sscanf(p, ".%3uZ", &ms) != 1)
		return -1;
	*out = (double)timegm(&tm) + ms / 1000.0;
	return 0;
}

/* Server-side queue + signing time from the request's history. */
static int
lg_history_ms(const json_t *rec, double *ms)
{
	const json_t *h = json_object_get(rec, "history");
	size_t n = json_array_size(h);
	double first, last;

	if (n < 2 ||
	    lg_rfc3339(json_string_value(json_object_get(json_array_get(h, 0),
	    "at")), &first) != 0 ||
	    lg_rfc3339(json_string_value(json_object_get(json_array_get(h,
	    n - 1), "at")), &last) != 0)
		return -1;
	*ms = (last - first) * 1000.0;
	return 0;
}

static int
lg_more(struct lg_client *c)
{
	if (c->o->requests > 0)
		return atomic_fetch_add(&lg_issued, 1) < c->o->requests;
	return lg_now() < lg_deadline;
}

/* Polls one request until it is final; 0 = Completed. */
static int
lg_wait(struct lg_client *c, const char *id, double t0)
{
	char url[LG_MAX_URL];
	json_t *rec = NULL;
	const char *st;
	double ms, delay, t1;
	long status = 0;
	int r = -1;

	snprintf(url, sizeof(url), "%s/api/v1/signing-requests/%s",
	    c->o->url, id);
	curl_easy_setopt(c->h, CURLOPT_HTTPGET, 1L);
	curl_easy_setopt(c->h, CURLOPT_URL, url);
	/* Polls are load on the server too: the first one waits for about
	 * as long as the last requests took, the next ones poll_ms apart. */
	delay = c->ewma_ms * 0.8;
	if (delay < (double)c->o->poll_ms)
		delay = (double)c->o->poll_ms;
	t1 = lg_now();
	for (;;) {
		if (delay > 0)
			usleep((useconds_t)(delay * 1000));
		delay = (double)c->o->poll_ms;
		c->polls++;
		json_decref(rec);
		if (lg_perform(c, &status, &rec) != 0)
			goto out;
		if (status != 200) {
			lg_error("GET %s: HTTP %ld", id, status);
			goto out;
		}
		if (json_is_true(json_object_get(rec, "isFinalStatus")))
			break;
		if (lg_now() - t0 > LG_WAIT_LIMIT_S) {
			lg_error("%s not final after %.0f s", id,
			    LG_WAIT_LIMIT_S);
			goto out;
		}
	}
	st = json_string_value(json_object_get(rec, "status"));
	if (st == NULL || strcmp(st, "Completed") != 0) {
		lg_error("%s ended %s: %s", id, st ? st : "?",
		    json_string_value(json_object_get(rec, "failureReason")) ?
		    json_string_value(json_object_get(rec, "failureReason")) :
		    "");
		goto out;
	}
	c->ewma_ms = c->ewma_ms == 0 ? (lg_now() - t1) * 1000.0 :
	    0.8 * c->ewma_ms + 0.2 * (lg_now() - t1) * 1000.0;
	if (lg_lat_add(&c->client_lat, (lg_now() - t0) * 1000.0) != 0 ||
	    (lg_history_ms(rec, &ms) == 0 &&
	    lg_lat_add(&c->server_lat, ms) != 0))
		goto out;
	r = 0;
out:
	json_decref(rec);
	return r;
}

/* Submits one artifact; with --wait, follows it to Completed. */
static int
lg_one(struct lg_client *c)
{
	char url[LG_MAX_URL], id[64];
	curl_mime *mime = NULL;
	curl_mimepart *part;
	json_t *rec = NULL;
	const char *s;
	long status = 0;
	double t0;
	int r = -1;

	lg_fill(c);
	snprintf(url, sizeof(url), "%s/api/v1/signing-requests", c->o->url);
	if ((mime = curl_mime_init(c->h)) == NULL ||
	    (part = curl_mime_addpart(mime)) == NULL ||
	    curl_mime_name(part, "projectSlug") != CURLE_OK ||
	    curl_mime_data(part, c->o->project, CURL_ZERO_TERMINATED) !=
	    CURLE_OK ||
	    (part = curl_mime_addpart(mime)) == NULL ||
	    curl_mime_name(part, "signingPolicySlug") != CURLE_OK ||
	    curl_mime_data(part, c->o->policy, CURL_ZERO_TERMINATED) !=
	    CURLE_OK ||
	    (part = curl_mime_addpart(mime)) == NULL ||
	    curl_mime_name(part, "artifact") != CURLE_OK ||
	    curl_mime_filename(part, "artifact.bin") != CURLE_OK ||
	    curl_mime_type(part, "application/octet-stream") != CURLE_OK ||
	    curl_mime_data(part, (const char *)c->art, c->o->size) != CURLE_OK) {
		lg_error("cannot build the form");
		goto out;
	}
	curl_easy_setopt(c->h, CURLOPT_URL, url);
	curl_easy_setopt(c->h, CURLOPT_MIMEPOST, mime);
	t0 = lg_now();
	c->submitted++;
	if (lg_perform(c, &status, &rec) != 0)
		goto out;
	if (status != 201 || (s = json_string_value(json_object_get(rec,
	    "id"))) == NULL || strlen(s) >= sizeof(id)) {
		lg_error("submit: HTTP %ld: %.200s", status, c->reply.buf);
		goto out;
	}
	snprintf(id, sizeof(id), "%s", s);
	if (lg_lat_add(&c->submit_lat, (lg_now() - t0) * 1000.0) != 0)
		goto out;
	if (c->o->wait && lg_wait(c, id, t0) != 0)
		goto out;
	c->completed++;
	r = 0;
out:
	curl_easy_setopt(c->h, CURLOPT_MIMEPOST, NULL);
	curl_mime_free(mime);
	json_decref(rec);
	if (r != 0)
		c->failed++;
	return r;
}

/* --rate: waits for this client's next request's time; 0 to go on, -1
 * when that time is past the end of the run. */
static int
lg_pace(struct lg_client *c)
{
	double due, gap;

	due = lg_start + ((double)c->idx + (double)c->started *
	    (double)c->o->clients) / c->o->rate;
	if (c->o->requests == 0 && due >= lg_deadline)
		return -1;
	c->started++;
	gap = due - lg_now();
	if (gap > 0)
		usleep((useconds_t)(gap * 1e6));
	else if (gap < -LG_LATE_S)
		c->late++;
	return 0;
}

static void *
lg_main(void *arg)
{
	struct lg_client *c = arg;

	while (lg_more(c)) {
		if (c->o->rate > 0 && lg_pace(c) != 0)
			break;
		(void)lg_one(c);
	}
	return NULL;
}

static int
lg_client_init(struct lg_client *c, const struct lg_opts *o,
    unsigned long idx)
{
	c->o = o;
	c->idx = idx;
	if (getrandom(c->rng, sizeof(c->rng), 0) != (ssize_t)sizeof(c->rng) ||
	    (c->art = malloc(o->size + 8)) == NULL ||
	    (c->reply.buf = malloc(LG_MAX_REPLY + 1)) == NULL ||
	    (c->h = curl_easy_init()) == NULL ||
	    (c->hdrs = curl_slist_append(NULL, "Expect:")) == NULL)
		return -1;
	curl_easy_setopt(c->h, CURLOPT_CAINFO, o->cacert);
	curl_easy_setopt(c->h, CURLOPT_SSLCERT, o->cert);
	curl_easy_setopt(c->h, CURLOPT_SSLKEY, o->key);
	curl_easy_setopt(c->h, CURLOPT_WRITEFUNCTION, lg_write);
	curl_easy_setopt(c->h, CURLOPT_WRITEDATA, &c->reply);
	curl_easy_setopt(c->h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c->h, CURLOPT_TCP_NODELAY, 1L);
	curl_easy_setopt(c->h, CURLOPT_TIMEOUT, 300L);
	/* no "Expect: 100-continue" round trip: not what is measured */
	curl_easy_setopt(c->h, CURLOPT_HTTPHEADER, c->hdrs);
	c->reply.buf[0] = '\0';
	return 0;
}

static void
lg_client_free(struct lg_client *c)
{
	if (c->h != NULL)
		curl_easy_cleanup(c->h);
	curl_slist_free_all(c->hdrs);
	free(c->art);
	free(c->reply.buf);
	free(c->client_lat.v);
	free(c->server_lat.v);
	free(c->submit_lat.v);
}

static int
lg_cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* Merges the clients' latencies of one kind; prints p50/p95/max. */
static void
lg_report_lat(const char *what, struct lg_client *cs, unsigned long n,
    size_t off)
{
	struct lg_lat all = { 0 }, *l;
	unsigned long i;
	size_t j;

	for (i = 0; i < n; i++) {
		l = (struct lg_lat *)((char *)&cs[i] + off);
		for (j = 0; j < l->n; j++)
			if (lg_lat_add(&all, l->v[j]) != 0)
				goto out;
	}
	if (all.n == 0)
		goto out;
	qsort(all.v, all.n, sizeof(double), lg_cmp);
	printf("%-14s p50 %8.1f ms   p95 %8.1f ms   max %8.1f ms\n", what,
	    all.v[(all.n - 1) / 2], all.v[(all.n * 95 + 99) / 100 - 1],
	    all.v[all.n - 1]);
out:
	free(all.v);
}

static void
lg_usage(void)
{
	fprintf(stderr, "usage: loadgen --url URL --cacert CA --cert CRT "
	    "--key KEY [--clients N] [--requests M | --seconds S] "
	    "[--size BYTES] [--wait] [--poll-ms MS] [--rate R] "
	    "[--project SLUG] [--policy SLUG]\n");
}

static int
lg_ulong(const char *s, unsigned long min, unsigned long max,
    unsigned long *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	if (s == NULL || *s < '0' || *s > '9')
		return -1;
	v = strtoul(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

static int
lg_args(int argc, char **argv, struct lg_opts *o)
{
	unsigned long v;
	char *end;
	int i;

	memset(o, 0, sizeof(*o));
	o->clients = 8;
	o->size = 4096;
	o->poll_ms = 5;
	o->project = "demo-app";
	o->policy = "test-signing";
	for (i = 1; i < argc; i++) {
		const char *a = argv[i], *v1 = i + 1 < argc ? argv[i + 1] : NULL;

		if (strcmp(a, "--wait") == 0) {
			o->wait = 1;
			continue;
		}
		if (v1 == NULL)
			return -1;
		i++;
		if (strcmp(a, "--url") == 0)
			o->url = v1;
		else if (strcmp(a, "--cacert") == 0)
			o->cacert = v1;
		else if (strcmp(a, "--cert") == 0)
			o->cert = v1;
		else if (strcmp(a, "--key") == 0)
			o->key = v1;
		else if (strcmp(a, "--project") == 0)
			o->project = v1;
		else if (strcmp(a, "--policy") == 0)
			o->policy = v1;
		else if (strcmp(a, "--clients") == 0) {
			if (lg_ulong(v1, 1, LG_MAX_CLIENTS, &o->clients) != 0)
				return -1;
		} else if (strcmp(a, "--requests") == 0) {
			if (lg_ulong(v1, 1, 10000000, &o->requests) != 0)
				return -1;
		} else if (strcmp(a, "--poll-ms") == 0) {
			if (lg_ulong(v1, 0, 10000, &o->poll_ms) != 0)
				return -1;
		} else if (strcmp(a, "--size") == 0) {
			if (lg_ulong(v1, 1, LG_MAX_SIZE, &v) != 0)
				return -1;
			o->size = v;
		} else if (strcmp(a, "--seconds") == 0) {
			errno = 0;
			o->seconds = strtod(v1, &end);
			if (errno != 0 || *end != '\0' || !(o->seconds > 0) ||
			    o->seconds > 86400)
				return -1;
		} else if (strcmp(a, "--rate") == 0) {
			errno = 0;
			o->rate = strtod(v1, &end);
			if (errno != 0 || *end != '\0' || !(o->rate > 0) ||
			    o->rate > LG_MAX_RATE)
				return -1;
		} else
			return -1;
	}
	if (o->url == NULL || o->cacert == NULL || o->cert == NULL ||
	    o->key == NULL || strlen(o->url) > LG_MAX_URL - 128 ||
	    (o->requests > 0) == (o->seconds > 0))
		return -1;
	return 0;
}

int
main(int argc, char **argv)
{
	struct lg_opts o;
	struct lg_client *cs = NULL;
	unsigned long i, started = 0, sub = 0, done = 0, failed = 0, polls = 0;
	unsigned long late = 0;
	struct rusage ru;
	double t0, el;
	int r = 1;

	if (lg_args(argc, argv, &o) != 0) {
		lg_usage();
		return 2;
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0 ||
	    (cs = calloc(o.clients, sizeof(*cs))) == NULL)
		goto out;
	for (i = 0; i < o.clients; i++)
		if (lg_client_init(&cs[i], &o, i) != 0)
			goto out;
	t0 = lg_now();
	lg_start = t0;
	lg_deadline = t0 + o.seconds;
	for (started = 0; started < o.clients; started++)
		if (pthread_create(&cs[started].th, NULL, lg_main,
		    &cs[started]) != 0)
			break;
	for (i = 0; i < started; i++)
		pthread_join(cs[i].th, NULL);
	el = lg_now() - t0;
	if (started < o.clients) {
		fprintf(stderr, "loadgen: cannot start the clients\n");
		goto out;
	}
	for (i = 0; i < o.clients; i++) {
		sub += cs[i].submitted;
		done += cs[i].completed;
		failed += cs[i].failed;
		polls += cs[i].polls;
		late += cs[i].late;
	}
	printf("loadgen: %lu clients, %zu-byte artifacts, %s/%s, %s\n",
	    o.clients, o.size, o.project, o.policy, o.wait ?
	    "each request followed to Completed" : "submit only");
	printf("submitted      %lu\n", sub);
	printf("%-14s %lu\n", o.wait ? "completed" : "accepted", done);
	printf("failed         %lu\n", failed);
	printf("elapsed        %.2f s\n", el);
	printf("submitted/s    %.1f\n", (double)sub / el);
	printf("%-14s %.1f\n", o.wait ? "completed/s" : "accepted/s",
	    (double)done / el);
	if (o.rate > 0)
		printf("rate           %.1f/s asked, %lu started late "
		    "(over %.0f ms after their time)\n", o.rate, late,
		    LG_LATE_S * 1000);
	if (o.wait)
		printf("polls/request  %.2f\n", sub ? (double)polls / sub : 0);
	/* the clients' own CPU time: they share the machine with signetd */
	if (getrusage(RUSAGE_SELF, &ru) == 0)
		printf("cpu            %.3f s (user %.3f, system %.3f)\n",
		    lg_tv(&ru.ru_utime) + lg_tv(&ru.ru_stime),
		    lg_tv(&ru.ru_utime), lg_tv(&ru.ru_stime));
	lg_report_lat("submit->201", cs, o.clients,
	    offsetof(struct lg_client, submit_lat));
	if (o.wait) {
		lg_report_lat("submit->done", cs, o.clients,
		    offsetof(struct lg_client, client_lat));
		lg_report_lat("queued->done", cs, o.clients,
		    offsetof(struct lg_client, server_lat));
	}
	r = failed == 0 && done > 0 ? 0 : 1;
out:
	if (cs != NULL)
		for (i = 0; i < o.clients; i++)
			lg_client_free(&cs[i]);
	free(cs);
	curl_global_cleanup();
	return r;
}
