/* A fresh state directory with an open store and artifact store, for the
 * unit tests of the parts that keep records. */
#ifndef SIGNET_TEST_FIXTURE_H
#define SIGNET_TEST_FIXTURE_H

#include <stddef.h>

#include "cas.h"
#include "store.h"

struct fx {
	char dir[64];
	char db[96];
	struct store *s;
	struct cas *cas;
};

/* cmocka setup/teardown: *state is a struct fx. */
int fx_setup(void **state);
int fx_teardown(void **state);

/* Holds the store's commits: a write of its own (key "gate" in
 * STORE_META) waits inside its transaction, so that the writes of other
 * threads queue behind it (store_write). Release waits until n writes
 * are queued and lets it commit; the next commit takes those n as one
 * batch. Release returns the gate's own outcome. */
struct fx_gate;
struct fx_gate *fx_gate_hold(struct store *s);
int fx_gate_release(struct fx_gate *g, size_t n);

#endif
