#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

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

struct fx_gate {
	struct store *s;
	pthread_t th;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int state;	/* 1 holding the commit, 2 let go */
	int r;
};

static int
fx_gate_write(struct store_txn *t, void *arg)
{
	struct fx_gate *g = arg;
	int r = store_put(t, STORE_META, "gate", 4, "1", 1);

	pthread_mutex_lock(&g->mu);
	g->state = 1;
	pthread_cond_broadcast(&g->cv);
	while (g->state != 2)
		pthread_cond_wait(&g->cv, &g->mu);
	pthread_mutex_unlock(&g->mu);
	return r;
}

static void *
fx_gate_run(void *arg)
{
	struct fx_gate *g = arg;

	g->r = store_write(g->s, fx_gate_write, g);
	return NULL;
}

struct fx_gate *
fx_gate_hold(struct store *s)
{
	struct fx_gate *g = calloc(1, sizeof(*g));

	assert_non_null(g);
	g->s = s;
	pthread_mutex_init(&g->mu, NULL);
	pthread_cond_init(&g->cv, NULL);
	assert_int_equal(pthread_create(&g->th, NULL, fx_gate_run, g), 0);
	pthread_mutex_lock(&g->mu);
	while (g->state != 1)
		pthread_cond_wait(&g->cv, &g->mu);
	pthread_mutex_unlock(&g->mu);
	return g;
}

int
fx_gate_release(struct fx_gate *g, size_t n)
{
	int r;

	/* a condition, not a time: the writes are queued or the test's
	 * alarm ends it */
	alarm(30);
	while (store_writes_waiting(g->s) < n)
		usleep(1000);
	alarm(0);
	pthread_mutex_lock(&g->mu);
	g->state = 2;
	pthread_cond_broadcast(&g->cv);
	pthread_mutex_unlock(&g->mu);
	pthread_join(g->th, NULL);
	r = g->r;
	pthread_mutex_destroy(&g->mu);
	pthread_cond_destroy(&g->cv);
	free(g);
	return r;
}
