#include <string.h>

#include "app.h"
#include "log.h"
#include "notify.h"
#include "request.h"
#include "signer.h"

void
app_after_commit(struct app *app, const json_t *rec)
{
	const char *id = json_string_value(json_object_get(rec, "id"));
	const char *w = json_string_value(json_object_get(rec,
	    "workflowStatus"));

	/* the queue in LMDB already holds it: a failure here only delays
	 * the signature until the next start */
	if (id != NULL && w != NULL && strcmp(w, RQ_QUEUED) == 0 &&
	    signer_enqueue(app->signer, id) != 0)
		log_err("%s is recorded but not queued; it will be signed "
		    "after a restart", id);
	notify_kick(app->notify);
}
