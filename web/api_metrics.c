/* GET /api/v1/metrics and GET /api/v1/admin/storage: the appliance's state in the Prometheus text
 * exposition format (version 0.0.4), for administrators and identities
 * or users given the metrics role; the same text on the plain loopback
 * listener of [metrics] listen (server.c). */
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <civetweb.h>

#include "api.h"
#include "app.h"
#include "catalog_read.h"
#include "http.h"
#include "keys.h"
#include "log.h"
#include "metrics.h"
#include "request.h"
#include "signer.h"
#include "tsa.h"
#include "users.h"
#include "wbuf.h"
#include "workflow.h"

/* Label values are slugs and status words (no quotes or backslashes),
 * but the exposition format's escapes are applied anyway. */
static int
api_metrics_label(struct wbuf *b, const char *v)
{
	int r = 0;

	for (; r == 0 && *v != '\0'; v++) {
		if (*v == '"' || *v == '\\')
			r = wbuf_addf(b, "\\%c", *v);
		else if (*v == '\n')
			r = wbuf_addf(b, "\\n");
		else
			r = wbuf_add(b, v, 1);
	}
	return r;
}

static int
api_metrics_gauge(struct wbuf *b, const char *name, const char *help,
    unsigned long long v)
{
	return wbuf_addf(b, "# HELP %s %s\n# TYPE %s gauge\n%s %llu\n", name,
	    help, name, name, v);
}

static int
api_metrics_requests(struct app *app, struct wbuf *b)
{
	json_t *tally = NULL, *by, *n;
	const char *pp, *st;
	char proj[2 * SIGNET_MAX_SLUG + 2];
	int r;

	if ((r = workflow_tally(app->store, &tally)) != 0)
		return r;
	r = wbuf_addf(b, "# HELP signet_requests Signing requests by project, "
	    "policy and workflow status.\n# TYPE signet_requests gauge\n");
	json_object_foreach(tally, pp, by) {
		const char *slash = strchr(pp, '/');

		if (slash == NULL)
			continue;
		snprintf(proj, sizeof(proj), "%.*s", (int)(slash - pp), pp);
		json_object_foreach(by, st, n) {
			if (r == 0)
				r = wbuf_addf(b, "signet_requests{project=\"");
			if (r == 0)
				r = api_metrics_label(b, proj);
			if (r == 0)
				r = wbuf_addf(b, "\",policy=\"");
			if (r == 0)
				r = api_metrics_label(b, slash + 1);
			if (r == 0)
				r = wbuf_addf(b, "\",status=\"%s\"} %lld\n", st,
				    (long long)json_integer_value(n));
		}
	}
	json_decref(tally);
	return r;
}

int
api_metrics_text(struct app *app, struct wbuf *b)
{
	struct store_usage u;
	struct kh_status st;
	uint64_t avail = 0, total = 0;
	char oldest[64];
	time_t at;
	unsigned depth;
	int r, kr;

	signer_stats(app->signer, &depth, oldest, sizeof(oldest), &at);
	if (store_usage(app->store, &u) != 0)
		memset(&u, 0, sizeof(u));
	if (cas_space(app->cas, &avail, &total) != 0)
		avail = total = 0;
	memset(&st, 0, sizeof(st));
	kr = keys_status(app->kh, &st);
	if ((r = metrics_render(b)) != 0 ||
	    (r = api_metrics_requests(app, b)) != 0 ||
	    (r = api_metrics_gauge(b, "signet_queue_depth", "Requests queued "
	    "for signing, waiting or being signed.", depth)) != 0 ||
	    (r = api_metrics_gauge(b, "signet_queue_oldest_seconds", "How "
	    "long the request queued longest has waited.", oldest[0] ?
	    (unsigned long long)(time(NULL) - at) : 0)) != 0 ||
	    (r = api_metrics_gauge(b, "signet_store_map_used_bytes", "Bytes "
	    "of the database map in use.", u.map_used)) != 0 ||
	    (r = api_metrics_gauge(b, "signet_store_map_size_bytes", "The "
	    "database map now.", u.map_size)) != 0 ||
	    (r = api_metrics_gauge(b, "signet_store_map_max_bytes", "The "
	    "database map's ceiling ([store] max_map_size).", u.max_map)) != 0 ||
	    (r = api_metrics_gauge(b, "signet_store_disk_free_bytes", "Free "
	    "bytes on the database's file system.", u.disk_avail)) != 0 ||
	    (r = api_metrics_gauge(b, "signet_store_disk_size_bytes", "Size "
	    "of the database's file system.", u.disk_total)) != 0 ||
	    (r = api_metrics_gauge(b, "signet_artifacts_disk_free_bytes",
	    "Free bytes on the artifacts' file system.", avail)) != 0 ||
	    (r = api_metrics_gauge(b, "signet_token_logged_in", "1 when the "
	    "token is present and logged in.", kr == 0 && st.present &&
	    st.logged_in)) != 0 ||
	    (r = api_metrics_gauge(b, "signet_keyholder_up", "1 while the "
	    "keyholder answers.", kr != SIGNET_ERR_KEYHOLDER &&
	    kr != SIGNET_ERR_PROTOCOL && !signer_halted(app->signer))) != 0 ||
	    (r = wbuf_addf(b, "# HELP signet_tsa_tokens_issued_total "
	    "Time-stamp tokens the built-in TSA issued.\n# TYPE "
	    "signet_tsa_tokens_issued_total counter\n"
	    "signet_tsa_tokens_issued_total %llu\n",
	    (unsigned long long)tsa_tokens_issued())) != 0)
		return r;
	return 0;
}

void
api_metrics_send(struct mg_connection *c, struct app *app)
{
	struct wbuf b;
	const char *text;
	char len[32];

	wbuf_init(&b, SIGNET_MAX_METRICS_TEXT);
	if (api_metrics_text(app, &b) != 0 || wbuf_str(&b, &text) != 0) {
		wbuf_free(&b);
		http_error(c, 500, "internal", "the metrics could not be "
		    "rendered (more than %d bytes?)", SIGNET_MAX_METRICS_TEXT);
		return;
	}
	mg_response_header_start(c, 200);
	mg_response_header_add(c, "Content-Type",
	    "text/plain; version=0.0.4; charset=utf-8", -1);
	snprintf(len, sizeof(len), "%zu", b.len);
	mg_response_header_add(c, "Content-Length", len, -1);
	http_common_headers(c);
	mg_response_header_send(c);
	mg_write(c, text, b.len);
	wbuf_free(&b);
}

static void
api_metrics(struct api *a)
{
	int ok;

	ok = a->user != NULL ? users_has_role(a->user, ROLE_ADMIN) ||
	    users_has_role(a->user, ROLE_METRICS) :
	    catalog_read_identity_role(a->app->store, a->identity,
	    ROLE_METRICS);
	if (!ok) {
		http_error(a->c, 403, "forbidden", "the metrics are for "
		    "administrators and for users or identities with the "
		    "metrics role");
		return;
	}
	api_metrics_send(a->c, a->app);
}

struct api_storage_walk {
	struct cas *cas;
	uint64_t count, bytes;
};

static int
api_storage_one(const char *hex, void *arg)
{
	struct api_storage_walk *w = arg;
	uint64_t size;
	int fd;

	if (cas_open_read(w->cas, hex, &fd, &size) == 0) {
		w->count++;
		w->bytes += size;
		close(fd);
	}
	return 0;
}

/* GET /admin/storage: what the store and the artifacts hold against
 * their limits (signet admin storage status). */
static void
api_admin_storage(struct api *a)
{
	struct store_usage u;
	struct api_storage_walk w = { a->app->cas, 0, 0 };
	uint64_t held = 0, held_bytes = 0;
	uint64_t avail = 0, total = 0;
	char why[256] = "";
	int writable;

	if (!workflow_is_admin(&a->who)) {
		http_error(a->c, 403, "forbidden", "for administrators");
		return;
	}
	writable = store_admit(a->app->store, (uint64_t)signer_depth(
	    a->app->signer) * SIGNET_STORE_RESULT_BYTES, why, sizeof(why)) == 0;
	if (store_usage(a->app->store, &u) != 0)
		memset(&u, 0, sizeof(u));
	if (cas_space(a->app->cas, &avail, &total) != 0)
		avail = total = 0;
	if (cas_walk(a->app->cas, api_storage_one, &w) != 0)
		log_warn("api: the artifact count is incomplete");
	if (request_held_usage(a->app->store, &held, &held_bytes) != 0)
		log_warn("api: the count of artifacts in the database is "
		    "incomplete");
	w.count += held;
	w.bytes += held_bytes;
	http_json(a->c, 200, json_pack("{s:{s:I, s:I, s:I, s:I, s:I}, "
	    "s:{s:I, s:I, s:I, s:I}, s:b, s:s?, s:i}",
	    "database", "usedBytes", (json_int_t)u.map_used,
	    "mapSizeBytes", (json_int_t)u.map_size,
	    "maxMapSizeBytes", (json_int_t)u.max_map,
	    "diskFreeBytes", (json_int_t)u.disk_avail,
	    "diskTotalBytes", (json_int_t)u.disk_total,
	    "artifacts", "count", (json_int_t)w.count,
	    "bytes", (json_int_t)w.bytes,
	    "diskFreeBytes", (json_int_t)avail,
	    "diskTotalBytes", (json_int_t)total,
	    "writable", writable, "reason", writable ? NULL : why,
	    "queueDepth", (int)signer_depth(a->app->signer)), NULL);
}

const struct api_route api_metrics_routes[] = {
	{ "GET", 1, { "metrics" }, 0, api_metrics },
	{ "GET", 2, { "admin", "storage" }, 0, api_admin_storage },
	{ NULL, 0, { NULL }, 0, NULL },
};
