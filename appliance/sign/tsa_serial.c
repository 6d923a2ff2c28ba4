#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "audit.h"
#include "khclient.h"
#include "log.h"
#include "rd.h"
#include "signet_limits.h"
#include "tsa_serial.h"

struct tsa_serial {
	struct store *s;
	pthread_mutex_t mu;
	uint64_t block;
	uint64_t next;		/* the next serial to hand out */
	uint64_t last;		/* the last one of the block; next > last: none */
	char key_id[KH_KEY_ID_HEX + 1];
};

int
tsa_serial_open(struct store *s, uint64_t block, const char *key_id,
    struct tsa_serial **out)
{
	struct tsa_serial *ts;

	*out = NULL;
	if (s == NULL || key_id == NULL || block < 1 ||
	    block > SIGNET_TSA_SERIAL_MAX_BLOCK ||
	    strlen(key_id) > KH_KEY_ID_HEX || key_id[0] == '\0')
		return SIGNET_ERR_INVALID;
	if ((ts = calloc(1, sizeof(*ts))) == NULL)
		return SIGNET_ERR_NOMEM;
	ts->s = s;
	ts->block = block;
	ts->next = 1;
	ts->last = 0;
	snprintf(ts->key_id, sizeof(ts->key_id), "%s", key_id);
	pthread_mutex_init(&ts->mu, NULL);
	*out = ts;
	return 0;
}

void
tsa_serial_close(struct tsa_serial *ts)
{
	if (ts == NULL)
		return;
	pthread_mutex_destroy(&ts->mu);
	free(ts);
}

/* Reserves the block after the high-water mark and records it in the
 * audit log, in one transaction: a block is in the log exactly when
 * its serials may be used. */
static int
tsa_serial_reserve(struct tsa_serial *ts)
{
	struct store_txn *t = NULL;
	unsigned char be[8];
	const void *v;
	size_t vlen;
	struct rd rd;
	uint64_t hwm = 0, first, last;
	json_t *d = NULL;
	char target[64];
	int i, r;

	if ((r = store_txn_begin(ts->s, 1, &t)) != 0)
		return r;
	r = store_get(t, STORE_META, TSA_SERIAL_KEY, strlen(TSA_SERIAL_KEY),
	    &v, &vlen);
	if (r == 0) {
		rd_init(&rd, v, vlen);
		if (rd_u64(&rd, &hwm) != 0 || rd_end(&rd) != 0) {
			log_err("tsa: meta/%s unreadable", TSA_SERIAL_KEY);
			r = SIGNET_ERR_STORE;
			goto out;
		}
	} else if (r != SIGNET_ERR_NOT_FOUND) {
		goto out;
	}
	/* serials are positive INTEGERs that fit an int64 for every reader */
	if (hwm > (uint64_t)INT64_MAX - ts->block) {
		log_err("tsa: the serial numbers are used up");
		r = SIGNET_ERR_INTERNAL;
		goto out;
	}
	first = hwm + 1;
	last = hwm + ts->block;
	for (i = 0; i < 8; i++)
		be[i] = (unsigned char)(last >> (56 - 8 * i));
	snprintf(target, sizeof(target), "%" PRIu64 "-%" PRIu64, first, last);
	if ((d = json_pack("{s:I, s:I, s:s}", "first", (json_int_t)first,
	    "last", (json_int_t)last, "keyId", ts->key_id)) == NULL) {
		r = SIGNET_ERR_NOMEM;
		goto out;
	}
	if ((r = store_put(t, STORE_META, TSA_SERIAL_KEY,
	    strlen(TSA_SERIAL_KEY), be, sizeof(be))) != 0 ||
	    (r = audit_append(t, "system", "tsa", "tsa.serials-reserved",
	    target, d)) != 0 ||
	    (r = store_txn_commit(&t)) != 0)
		goto out;
	ts->next = first;
	ts->last = last;
	log_info("tsa: serials %" PRIu64 "..%" PRIu64 " reserved for key %s",
	    first, last, ts->key_id);
out:
	store_txn_abort(&t);
	json_decref(d);
	return r;
}

int
tsa_serial_next(struct tsa_serial *ts, uint64_t *out)
{
	int r = 0;

	*out = 0;
	if (ts == NULL)
		return SIGNET_ERR_INVALID;
	pthread_mutex_lock(&ts->mu);
	if (ts->next > ts->last)
		r = tsa_serial_reserve(ts);
	if (r == 0)
		*out = ts->next++;
	pthread_mutex_unlock(&ts->mu);
	return r;
}
