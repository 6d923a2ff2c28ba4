/* A fresh state directory with an open store and artifact store, for the
 * unit tests of the parts that keep records. */
#ifndef SIGNET_TEST_FIXTURE_H
#define SIGNET_TEST_FIXTURE_H

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

#endif
