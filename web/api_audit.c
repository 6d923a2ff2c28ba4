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
#include "khclient.h"
#include "log.h"
#include "notify.h"
#include "request.h"
#include "signer.h"
#include "signet_limits.h"
#include "users.h"
#include "wbuf.h"
#include "workflow.h"


static void
api_audit(struct api *a)
{
	char after[24], lim[8], fmt[8];
	int has_after, has_lim, has_fmt, r;
	unsigned long long from = 0;
	long limit = 100;
	uint64_t next = 0;
	struct store_txn *t = NULL;
	json_t *items = NULL, *e;
	char *end, *line;
	size_t i;

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
		errno = 0;
		from = strtoull(after, &end, 10);
		if (errno || *end || end == after) {
			http_error(a->c, 400, "invalid_query", "after must be a "
			    "sequence number");
			return;
		}
	}
	if (has_lim) {
		errno = 0;
		limit = strtol(lim, &end, 10);
		if (errno || *end || limit < 1 || limit > 1000) {
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
		/* the whole log as JSON lines, the form 'signet audit
		 * verify' checks; one read transaction: a consistent cut */
		if ((r = store_txn_begin(a->app->store, 0, &t)) != 0) {
			http_error(a->c, 500, "internal", "database error");
			return;
		}
		mg_response_header_start(a->c, 200);
		mg_response_header_add(a->c, "Content-Type",
		    "application/x-ndjson", -1);
		mg_response_header_add(a->c, "Content-Disposition",
		    "attachment; filename=\"signet-audit.jsonl\"", -1);
		http_common_headers(a->c);
		mg_response_header_send(a->c);
		do {
			if (audit_list(t, from, 1000, &items, &next) != 0) {
				/* the export ends early; its summary head shows
				 * where, and the log says why */
				log_err("api: audit export stopped after seq %llu",
				    (unsigned long long)from);
				break;
			}
			json_array_foreach(items, i, e) {
				if ((line = audit_line(e)) == NULL) {
					log_err("api: audit export: cannot encode an "
					    "entry");
					next = 0;
					break;
				}
				mg_write(a->c, line, strlen(line));
				mg_write(a->c, "\n", 1);
				free(line);
			}
			json_decref(items);
			items = NULL;
			from = next;
		} while (next != 0);
		store_txn_abort(&t);
		return;
	}
	if ((r = store_txn_begin(a->app->store, 0, &t)) != 0 ||
	    (r = audit_list(t, from, (size_t)limit, &items, &next)) != 0) {
		store_txn_abort(&t);
		http_error(a->c, 500, "internal", "database error");
		return;
	}
	store_txn_abort(&t);
	if (next != 0)
		snprintf(after, sizeof(after), "%llu", (unsigned long long)next);
	http_json(a->c, 200, json_pack("{s:o, s:s?}", "items", items,
	    "nextAfter", next != 0 ? after : NULL), NULL);
}
const struct api_route api_audit_routes[] = {
	{ "GET", 1, { "audit" }, 0, api_audit },
	{ NULL, 0, { NULL }, 0, NULL },
};
