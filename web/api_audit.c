/* The audit log for auditors and administrators. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <civetweb.h>
#include <openssl/crypto.h>

#include "api.h"
#include "app.h"
#include "audit.h"
#include "catalog.h"
#include "events.h"
#include "form.h"
#include "http.h"
#include "log.h"
#include "notify.h"
#include "num.h"
#include "request.h"
#include "signer.h"
#include "signet_limits.h"
#include "users.h"
#include "wbuf.h"
#include "workflow.h"


struct api_audit_out {
	struct api *a;
	int started;
};

static void
api_audit_start(struct api_audit_out *o)
{
	if (o->started)
		return;
	o->started = 1;
	mg_response_header_start(o->a->c, 200);
	mg_response_header_add(o->a->c, "Content-Type", "application/x-ndjson",
	    -1);
	mg_response_header_add(o->a->c, "Content-Disposition",
	    "attachment; filename=\"signet-audit.jsonl\"", -1);
	http_common_headers(o->a->c);
	mg_response_header_send(o->a->c);
}

static int
api_audit_line(const char *line, void *arg)
{
	struct api_audit_out *o = arg;

	api_audit_start(o);
	mg_write(o->a->c, line, strlen(line));
	mg_write(o->a->c, "\n", 1);
	return 0;
}

/* The whole log as JSON lines, the form 'signet audit verify' checks,
 * in one read transaction: a consistent cut. */
static void
api_audit_export(struct api *a, uint64_t from)
{
	struct api_audit_out o = { a, 0 };
	int r;

	r = audit_export(a->app->store, from, api_audit_line, &o);
	if (r != 0 && !o.started) {
		api_fail(a, r, "exporting the audit log");
		return;
	}
	/* an export that ends early: its summary head shows where, and
	 * the log says why */
	if (r != 0)
		log_err("api: audit export stopped early: %s",
		    signet_strerror(r));
	api_audit_start(&o);
}

static void
api_audit(struct api *a)
{
	char after[24], lim[8], fmt[8];
	int has_after, has_lim, has_fmt, r;
	unsigned long long from = 0;
	long limit = 100;
	uint64_t next = 0;
	json_t *items = NULL;

	if (!workflow_is_admin(&a->who) && !workflow_is_auditor(&a->who)) {
		http_error(a->c, 403, "forbidden", "the audit log is for "
		    "auditors and administrators");
		return;
	}
	if (api_query(a, "after", after, sizeof(after), &has_after) ||
	    api_query(a, "limit", lim, sizeof(lim), &has_lim) ||
	    api_query(a, "format", fmt, sizeof(fmt), &has_fmt))
		return;
	if (has_after) {
		long seq;

		if (num_parse_long(after, 0, LONG_MAX, &seq) != 0) {
			http_error(a->c, 400, "invalid_query", "after must be a "
			    "sequence number");
			return;
		}
		from = (uint64_t)seq;
	}
	if (has_lim) {
		if (num_parse_long(lim, 1, 1000, &limit) != 0) {
			http_error(a->c, 400, "invalid_query", "limit must be 1 "
			    "to 1000");
			return;
		}
	}
	if (has_fmt && strcmp(fmt, "jsonl") != 0 && strcmp(fmt, "json") != 0) {
		http_error(a->c, 400, "invalid_query", "format is json or "
		    "jsonl");
		return;
	}
	if (has_fmt && strcmp(fmt, "jsonl") == 0) {
		api_audit_export(a, from);
		return;
	}
	if ((r = audit_page(a->app->store, from, (size_t)limit, &items,
	    &next)) != 0) {
		api_fail(a, r, "reading the audit log");
		return;
	}
	if (next != 0)
		snprintf(after, sizeof(after), "%llu", (unsigned long long)next);
	http_json(a->c, 200, json_pack("{s:o, s:s?}", "items", items,
	    "nextAfter", next != 0 ? after : NULL), NULL);
}
const struct api_route api_audit_routes[] = {
	{ "GET", 1, { "audit" }, 0, api_audit },
	{ NULL, 0, { NULL }, 0, NULL },
};
