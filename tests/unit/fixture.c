#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <cmocka.h>

#include "fixture.h"

int
fx_setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "/tmp/signet-unit-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->db, sizeof(f->db), "%s/" STORE_DIR, f->dir);
	assert_int_equal(store_open(f->db, 64 << 20, &f->s), 0);
	assert_int_equal(cas_open(f->dir, &f->cas), 0);
	*state = f;
	return 0;
}

int
fx_teardown(void **state)
{
	struct fx *f = *state;
	char cmd[128];

	store_close(f->s);
	cas_close(f->cas);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}
