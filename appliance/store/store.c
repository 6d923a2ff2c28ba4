#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>

#include <lmdb.h>

#include "signet_limits.h"
#include "log.h"
#include "metrics.h"
#include "store.h"

static const char *const store_db_names[STORE_DB_COUNT] = {
	[STORE_META] = "meta",
	[STORE_PROJECTS] = "projects",
	[STORE_POLICIES] = "policies",
	[STORE_IDENTITIES] = "identities",
	[STORE_CERTMAP] = "certmap",
	[STORE_CERTIFICATES] = "certificates",
	[STORE_REQUESTS] = "requests",
	[STORE_REQ_BY_TIME] = "requests_by_time",
	[STORE_PENDING] = "pending",
	[STORE_ARTIFACTS] = "artifacts",
	[STORE_USERS] = "users",
	[STORE_SESSIONS] = "sessions",
	[STORE_AUDIT] = "audit",
	[STORE_OUTBOX] = "outbox",
	[STORE_BUILD_SYSTEMS] = "build_systems",
	[STORE_IDEMPOTENCY] = "idempotency",
	[STORE_BLOBS] = "blobs",
};

/* A write waiting for its commit (store_write). */
struct store_wr {
	store_write_fn fn;
	void *arg;
	int r;
	int done;		/* r is its outcome, on the disk if 0 */
	int alone;		/* to be decided in a transaction of its own */
	struct store_wr *next;
};

/* The map grows while signetd runs. mdb_env_set_mapsize may only be
 * called while this process has no transaction open (lmdb.h), so every
 * transaction holds `grow` shared and the grower takes it exclusively,
 * and only from a thread that holds no transaction itself. */
struct store {
	MDB_env *env;
	MDB_dbi dbi[STORE_DB_COUNT];
	pthread_rwlock_t grow;
	pthread_mutex_t mu;	/* the fields below */
	uint64_t map_size;	/* now */
	uint64_t max_map;	/* ceiling; map_size when it does not grow */
	int want_grow;		/* a write met MDB_MAP_FULL */
	int full;		/* the last write found the map or disk full:
				 * SIGNET_ERR_STORAGE_FULL's cause, 0 none */
	/* group commit (store_write) */
	pthread_mutex_t gc_mu;	/* the fields below */
	pthread_cond_t gc_cv;	/* a batch was decided */
	struct store_wr *gc_head, **gc_tail;	/* waiting, in order */
	int gc_leading;		/* a thread is committing a batch */
	int gc_off;		/* every write a commit of its own */
	char dir[PATH_MAX];
};

enum { STORE_FULL_MAP = 1, STORE_FULL_DISK = 2 };

/* Transactions this thread has open in any store: a thread that holds
 * one must not wait for the exclusive lock. */
static _Thread_local int store_depth;

struct store_txn {
	struct store *s;
	MDB_txn *txn;
	int write;
	int wrote;	/* something was put or deleted: a commit flushes */
	int lent;	/* store_write's, for its fn: the store ends it */
	int spoilt;	/* its fn tried to end it: never committed */
};

/*
 * The batch the thread is committing (store_write), while a write after
 * the first runs in its nested transaction. Such a write sees the map and
 * the disk as the last commit left them, without what the writes before
 * it in the batch added; `slack` bounds that. Where its outcome could
 * depend on it (store_admit near a limit, the map full), the write asks to
 * be decided alone (`retry`), in a transaction of its own after the map
 * had its chance to grow: as it would have been without the batch.
 */
struct store_batch {
	struct store_txn *t;	/* the running write's */
	int first;		/* it is the batch's first */
	int retry;		/* it must be decided alone */
	uint64_t slack;		/* bytes the writes before it may take */
	uint64_t adds;		/* bytes it may take, so far */
};
static _Thread_local struct store_batch *store_batch;

/* What one put or delete may add to the map besides its key and value:
 * copies of the pages on its path (LMDB copies a page on write) and new
 * ones where a page splits, at most a few levels of 4 KiB pages. */
#define STORE_CHANGE_SLACK	(8 * 4096)

static int
store_mdb_err(int rc, const char *what)
{
	if (rc == MDB_NOTFOUND)
		return SIGNET_ERR_NOT_FOUND;
	if (rc == MDB_MAP_FULL) {
		log_err("store: %s: database map full", what);
		return SIGNET_ERR_STORAGE_FULL;
	}
	log_err("store: %s: %s", what, mdb_strerror(rc));
	if (rc == ENOSPC || rc == EDQUOT)
		return SIGNET_ERR_STORAGE_FULL;
	return SIGNET_ERR_STORE;
}

/* The same for a write of s: remembers why it was full, and that the
 * map should grow before the next write. */
static int
store_write_err(struct store *s, int rc, const char *what)
{
	int r = store_mdb_err(rc, what);

	if (r == SIGNET_ERR_STORAGE_FULL) {
		pthread_mutex_lock(&s->mu);
		s->full = rc == MDB_MAP_FULL ? STORE_FULL_MAP : STORE_FULL_DISK;
		if (rc == MDB_MAP_FULL)
			s->want_grow = 1;
		pthread_mutex_unlock(&s->mu);
	}
	return r;
}

int
store_open(const char *dir, uint64_t map_size, struct store **out)
{
	struct store *s = NULL;
	MDB_txn *txn = NULL;
	int rc, r = SIGNET_ERR_STORE, i;
	char ver[16];
	MDB_val k, v;
	MDB_envinfo info;

	*out = NULL;
	if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
		log_err("store: mkdir %s: %s", dir, strerror(errno));
		return SIGNET_ERR_IO;
	}
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return SIGNET_ERR_NOMEM;
	/* readers first: a thread that holds a read transaction may open
	 * another while a grower waits (glibc's default preference) */
	pthread_rwlock_init(&s->grow, NULL);
	pthread_mutex_init(&s->mu, NULL);
	pthread_mutex_init(&s->gc_mu, NULL);
	pthread_cond_init(&s->gc_cv, NULL);
	s->gc_tail = &s->gc_head;
	s->map_size = s->max_map = map_size;
	snprintf(s->dir, sizeof(s->dir), "%s", dir);
	if ((rc = mdb_env_create(&s->env)) != 0 ||
	    (rc = mdb_env_set_maxdbs(s->env, STORE_DB_COUNT + 4)) != 0 ||
	    (rc = mdb_env_set_mapsize(s->env, (size_t)map_size)) != 0 ||
	    (rc = mdb_env_set_maxreaders(s->env, 1024)) != 0) {
		r = store_mdb_err(rc, "create environment");
		goto out;
	}
	/* MDB_NOTLS: read transactions are not tied to threads, CivetWeb's
	 * and the signer's threads come and go. */
	if ((rc = mdb_env_open(s->env, dir, MDB_NOTLS, 0600)) != 0) {
		r = store_mdb_err(rc, dir);
		goto out;
	}
	/* a database that grew before is opened at its size */
	if (mdb_env_info(s->env, &info) == 0 && info.me_mapsize > s->map_size)
		s->map_size = s->max_map = info.me_mapsize;
	if ((rc = mdb_txn_begin(s->env, NULL, 0, &txn)) != 0) {
		r = store_mdb_err(rc, "begin");
		goto out;
	}
	for (i = 0; i < STORE_DB_COUNT; i++) {
		if ((rc = mdb_dbi_open(txn, store_db_names[i], MDB_CREATE,
		    &s->dbi[i])) != 0) {
			r = store_mdb_err(rc, store_db_names[i]);
			goto out;
		}
	}
	k.mv_data = (void *)(uintptr_t)"schema";
	k.mv_size = 6;
	rc = mdb_get(txn, s->dbi[STORE_META], &k, &v);
	if (rc == MDB_NOTFOUND) {
		snprintf(ver, sizeof(ver), "%d", STORE_SCHEMA_VERSION);
		v.mv_data = ver;
		v.mv_size = strlen(ver);
		if ((rc = mdb_put(txn, s->dbi[STORE_META], &k, &v, 0)) != 0) {
			r = store_mdb_err(rc, "schema");
			goto out;
		}
	} else if (rc != 0) {
		r = store_mdb_err(rc, "schema");
		goto out;
	} else {
		snprintf(ver, sizeof(ver), "%d", STORE_SCHEMA_VERSION);
		if (v.mv_size != strlen(ver) ||
		    memcmp(v.mv_data, ver, v.mv_size) != 0) {
			log_err("store: %s has schema version %.*s, this "
			    "signetd reads version %s", dir,
			    (int)(v.mv_size > 8 ? 8 : v.mv_size),
			    (const char *)v.mv_data, ver);
			goto out;
		}
	}
	rc = mdb_txn_commit(txn);
	txn = NULL;
	if (rc != 0) {
		r = store_mdb_err(rc, "commit");
		goto out;
	}
	*out = s;
	s = NULL;
	r = 0;
out:
	if (txn != NULL)
		mdb_txn_abort(txn);
	store_close(s);
	return r;
}

int
store_open_state(const char *state_dir, uint64_t map_size, struct store **out)
{
	char dir[PATH_MAX];
	int n;

	*out = NULL;
	n = snprintf(dir, sizeof(dir), "%s/" STORE_DIR, state_dir);
	if (n < 0 || (size_t)n >= sizeof(dir))
		return SIGNET_ERR_TOO_LARGE;
	return store_open(dir, map_size, out);
}

void
store_close(struct store *s)
{
	if (s == NULL)
		return;
	if (s->env != NULL)
		mdb_env_close(s->env);
	pthread_rwlock_destroy(&s->grow);
	pthread_mutex_destroy(&s->mu);
	pthread_mutex_destroy(&s->gc_mu);
	pthread_cond_destroy(&s->gc_cv);
	free(s);
}

int
store_copy(struct store *s, const char *dir)
{
	int rc;

	if (mkdir(dir, 0700) != 0 && errno != EEXIST)
		return SIGNET_ERR_IO;
	/* the copy reads in a transaction of its own */
	pthread_rwlock_rdlock(&s->grow);
	rc = mdb_env_copy2(s->env, dir, MDB_CP_COMPACT);
	pthread_rwlock_unlock(&s->grow);
	if (rc != 0)
		return store_mdb_err(rc, "copy");
	return 0;
}

int
store_set_max_map(struct store *s, uint64_t max_map)
{
	pthread_mutex_lock(&s->mu);
	s->max_map = max_map > s->map_size ? max_map : s->map_size;
	/* a raised ceiling may let a full map grow again */
	if (s->full == STORE_FULL_MAP)
		s->want_grow = 1;
	pthread_mutex_unlock(&s->mu);
	return 0;
}

/* Bytes of the map in use: the pages up to the last one written. Pages
 * on LMDB's free list count as used, so this errs on the full side. */
static uint64_t
store_used(struct store *s)
{
	MDB_envinfo info;
	MDB_stat st;

	if (mdb_env_info(s->env, &info) != 0 || mdb_env_stat(s->env, &st) != 0)
		return 0;
	return ((uint64_t)info.me_last_pgno + 1) * st.ms_psize;
}

/* Before a write: a map with less than a quarter free (or one that was
 * found full) doubles, up to the ceiling. Only when this thread holds no
 * transaction, and only if the others end soon: a grower that waited
 * for a thread that waits for it would stop the daemon. */
static void
store_maybe_grow(struct store *s)
{
	struct timespec until;
	uint64_t used, want, next;
	int rc;

	if (store_depth != 0)
		return;
	pthread_mutex_lock(&s->mu);
	want = s->map_size < s->max_map && (s->want_grow ||
	    (used = store_used(s)) > s->map_size - s->map_size / 4);
	next = s->map_size * 2 < s->max_map ? s->map_size * 2 : s->max_map;
	pthread_mutex_unlock(&s->mu);
	if (!want)
		return;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_nsec += SIGNET_STORE_GROW_WAIT_MS * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	if (pthread_rwlock_timedwrlock(&s->grow, &until) != 0)
		return;	/* busy: the next write tries again */
	pthread_mutex_lock(&s->mu);
	if (s->map_size < next) {
		if ((rc = mdb_env_set_mapsize(s->env, (size_t)next)) == 0) {
			log_info("store: database map grown to %llu MiB (at "
			    "most %llu MiB, [store] max_map_size)",
			    (unsigned long long)(next >> 20),
			    (unsigned long long)(s->max_map >> 20));
			s->map_size = next;
			s->want_grow = 0;
			if (s->full == STORE_FULL_MAP)
				s->full = 0;
		} else {
			log_err("store: growing the map: %s", mdb_strerror(rc));
		}
	}
	pthread_mutex_unlock(&s->mu);
	pthread_rwlock_unlock(&s->grow);
}

int
store_usage(struct store *s, struct store_usage *u)
{
	struct statvfs st;

	memset(u, 0, sizeof(*u));
	pthread_mutex_lock(&s->mu);
	u->map_used = store_used(s);
	u->map_size = s->map_size;
	u->max_map = s->max_map;
	u->full = s->full;
	pthread_mutex_unlock(&s->mu);
	if (statvfs(s->dir, &st) != 0)
		return SIGNET_ERR_IO;
	u->disk_avail = (uint64_t)st.f_bavail * st.f_frsize;
	u->disk_total = (uint64_t)st.f_blocks * st.f_frsize;
	return 0;
}

/* New records leave a reserve of the map and the disk to changes of what
 * is stored: approvals, the signer's results, sessions of the officers
 * who come to free space. */
int
store_admit(struct store *s, uint64_t owed, char *msg, size_t len)
{
	struct store_usage u;
	uint64_t reserve;

	if (store_usage(s, &u) != 0)
		return 0;	/* the write itself will tell */
	reserve = u.max_map / SIGNET_STORE_RESERVE_DIV + owed;
	/* in a batch, after its first write: admitted only if it would be
	 * with everything before it committed and the map at any size;
	 * else decided alone, on what is committed */
	if (store_batch != NULL && !store_batch->first) {
		if (u.map_used + store_batch->slack + reserve > u.max_map ||
		    u.disk_avail < SIGNET_STORE_MIN_DISK_FREE +
		    store_batch->slack || u.full == STORE_FULL_DISK) {
			store_batch->retry = 1;
			return signet_errf(msg, len, SIGNET_ERR_STORAGE_FULL,
			    "near a storage limit: decided alone");
		}
		return 0;
	}
	if (u.map_size >= u.max_map && u.map_used + reserve > u.max_map)
		return signet_errf(msg, len, SIGNET_ERR_STORAGE_FULL, "the "
		    "database has reached its limit ([store] max_map_size = "
		    "%llu MiB, %llu MiB in use); raise max_map_size or remove "
		    "old requests", (unsigned long long)(u.max_map >> 20),
		    (unsigned long long)(u.map_used >> 20));
	if (u.disk_avail < SIGNET_STORE_MIN_DISK_FREE || u.full == STORE_FULL_DISK)
		return signet_errf(msg, len, SIGNET_ERR_STORAGE_FULL, "the "
		    "disk holding the state directory is full (%llu KiB free "
		    "of %llu MiB); free space on it", (unsigned long long)(
		    u.disk_avail >> 10), (unsigned long long)(u.disk_total >> 20));
	return 0;
}

void
store_describe_full(struct store *s, char *msg, size_t len)
{
	struct store_usage u;

	if (store_usage(s, &u) == 0 && u.full == STORE_FULL_DISK)
		snprintf(msg, len, "the disk holding the state directory is "
		    "full (%llu KiB free); free space on it",
		    (unsigned long long)(u.disk_avail >> 10));
	else
		snprintf(msg, len, "the database is full ([store] "
		    "max_map_size = %llu MiB); raise max_map_size or remove "
		    "old requests", (unsigned long long)(u.max_map >> 20));
}

int
store_txn_begin(struct store *s, int write, struct store_txn **out)
{
	struct store_txn *t;
	int rc;

	*out = NULL;
	if ((t = calloc(1, sizeof(*t))) == NULL)
		return SIGNET_ERR_NOMEM;
	t->s = s;
	if (write)
		store_maybe_grow(s);
	pthread_rwlock_rdlock(&s->grow);
	if ((rc = mdb_txn_begin(s->env, NULL, write ? 0 : MDB_RDONLY,
	    &t->txn)) != 0) {
		pthread_rwlock_unlock(&s->grow);
		free(t);
		return store_mdb_err(rc, "begin");
	}
	t->write = write;
	store_depth++;
	*out = t;
	return 0;
}

/* Ends t with its commit; `writes` is how many writes it makes durable
 * (a batch's), for the metrics. */
static int
store_txn_finish(struct store_txn *t, uint64_t writes)
{
	struct store *s = t->s;
	int rc, flushed = t->write && t->wrote;

	rc = mdb_txn_commit(t->txn);
	store_depth--;
	pthread_rwlock_unlock(&s->grow);
	if (rc == 0 && t->write) {
		pthread_mutex_lock(&s->mu);
		if (s->full == STORE_FULL_DISK)
			s->full = 0;	/* the disk took a write again */
		pthread_mutex_unlock(&s->mu);
	}
	free(t);
	if (rc != 0)
		return store_write_err(s, rc, "commit");
	if (flushed) {
		metrics_count(METRICS_STORE_FLUSHES);
		metrics_add(METRICS_STORE_WRITES, writes);
		if (writes > 1)
			metrics_add(METRICS_STORE_BATCHED_WRITES, writes);
	}
	return 0;
}

int
store_txn_commit(struct store_txn **tp)
{
	struct store_txn *t = *tp;

	*tp = NULL;
	if (t == NULL)
		return SIGNET_ERR_INTERNAL;
	if (t->lent) {
		log_err("store: a write tried to commit its own transaction");
		t->spoilt = 1;
		return SIGNET_ERR_INTERNAL;
	}
	return store_txn_finish(t, 1);
}

void
store_txn_abort(struct store_txn **tp)
{
	struct store_txn *t;

	if (tp == NULL || (t = *tp) == NULL)
		return;
	*tp = NULL;
	if (t->lent) {
		/* what it did is not kept, whatever it returns */
		t->spoilt = 1;
		return;
	}
	mdb_txn_abort(t->txn);
	store_depth--;
	pthread_rwlock_unlock(&t->s->grow);
	free(t);
}

/*
 * Group commit. LMDB flushes twice at every commit of a write transaction
 * (an fdatasync of the pages written, then the meta page written with
 * O_DSYNC) and has one writer at a time, so writes that commit one by one
 * queue for each other's flushes. store_write queues the write instead;
 * the first thread to find no batch in progress commits everything
 * queued at that moment: one write transaction, each write in a nested
 * transaction of its own (lmdb.h, mdb_txn_begin with a parent) so that a
 * write that fails is aborted alone and nothing of it stays, one commit
 * and its two flushes for all, and then every writer is woken with its
 * own outcome. Writes that arrive meanwhile wait for the next batch,
 * whose commit takes the next free thread; nobody waits for a batch to
 * fill, so a write on an idle store goes straight to its commit.
 *
 * Durability and consistency are LMDB's own: the batch is an ordinary
 * transaction committed with the environment's default flags, whose meta
 * page is written only after its data pages are on the disk, so a crash
 * at any point leaves the database as the last commit or the one before
 * it left it, never half of one. MDB_NOSYNC (lmdb.h: a system crash can
 * corrupt the database) is not used; nor is MDB_NOMETASYNC with one
 * mdb_env_sync for many commits: it keeps the database consistent, but
 * each commit still flushes its data pages in turn under the writer
 * lock, so one transaction per write still queues for one flush per
 * write. store_write returns 0 only once the batch's commit returned: a
 * write is answered after the flush that made it durable, as before.
 *
 * A write's checks see the writes before it in the batch, as they would
 * see them committed, except for what the store holds against its limits:
 * the map's use and the disk's space are read as the last commit left
 * them, and the map grows before a transaction, not within one. Where
 * that could change an outcome (store_admit near a limit, a full map, a
 * commit that failed), the write is decided alone, in a transaction of
 * its own, as before.
 */

/* Runs fn in a write transaction of its own and commits it. */
static int
store_write_alone(struct store *s, store_write_fn fn, void *arg)
{
	struct store_txn *t = NULL;
	int r;

	if ((r = store_txn_begin(s, 1, &t)) != 0)
		return r;
	t->lent = 1;
	r = fn(t, arg);
	t->lent = 0;
	if (r == 0 && t->spoilt)
		r = SIGNET_ERR_INTERNAL;
	if (r != 0) {
		store_txn_abort(&t);
		return r;
	}
	return store_txn_finish(t, 1);
}

/* What happens to a write of a batch. */
enum { STORE_WR_DECIDED, STORE_WR_AGAIN, STORE_WR_ALONE };

/*
 * Runs the n writes of b in nested transactions of one transaction and
 * commits it, setting fate[i] for each: decided (its r is its outcome),
 * again (queued again, not run: the map may have to grow first) or alone
 * (to be decided in a transaction of its own).
 */
static void
store_batch_run(struct store *s, struct store_wr **b, size_t n, int *fate)
{
	struct store_txn *parent = NULL, child;
	struct store_batch bt;
	uint64_t used, map, max, committed = 0;
	size_t i, j;
	int r, rc, grow;

	for (i = 0; i < n; i++)
		fate[i] = STORE_WR_DECIDED;
	if (store_txn_begin(s, 1, &parent) != 0)
		goto alone;
	pthread_mutex_lock(&s->mu);
	used = store_used(s);
	map = s->map_size;
	max = s->max_map;
	pthread_mutex_unlock(&s->mu);
	memset(&bt, 0, sizeof(bt));
	for (i = 0; i < n; i++) {
		/* the writes so far may have filled the map past the point
		 * where store_maybe_grow doubles it, or found it full: the
		 * rest go to the next batch, which starts with that look */
		pthread_mutex_lock(&s->mu);
		grow = s->want_grow;
		pthread_mutex_unlock(&s->mu);
		if (i > 0 && map < max && (grow ||
		    used + bt.slack > map - map / 4))
			break;
		memset(&child, 0, sizeof(child));
		child.s = s;
		child.write = 1;
		child.lent = 1;
		if ((rc = mdb_txn_begin(s->env, parent->txn, 0,
		    &child.txn)) != 0) {
			log_err("store: nested transaction: %s",
			    mdb_strerror(rc));
			goto alone;
		}
		bt.t = &child;
		bt.first = i == 0;
		bt.retry = 0;
		bt.adds = 0;
		store_batch = &bt;
		r = b[i]->fn(&child, b[i]->arg);
		store_batch = NULL;
		if (bt.retry) {
			mdb_txn_abort(child.txn);
			fate[i] = STORE_WR_ALONE;
			break;
		}
		if (r == 0 && child.spoilt)
			r = SIGNET_ERR_INTERNAL;
		b[i]->r = r;
		if (r != 0) {
			/* its changes go, the others' stay */
			mdb_txn_abort(child.txn);
			continue;
		}
		/* a child that cannot be merged may leave the parent
		 * unusable (mdb_txn_commit) */
		if ((rc = mdb_txn_commit(child.txn)) != 0) {
			log_err("store: nested commit: %s", mdb_strerror(rc));
			goto alone;
		}
		parent->wrote |= child.wrote;
		bt.slack += bt.adds;
		committed += child.wrote;
	}
	for (j = i; j < n; j++)
		if (fate[j] == STORE_WR_DECIDED)
			fate[j] = STORE_WR_AGAIN;
	if (store_txn_finish(parent, committed) != 0) {
		/* whatever the failure, each is decided again on what is
		 * committed, as it would have been without the batch */
		parent = NULL;
		goto alone;
	}
	return;
alone:
	store_txn_abort(&parent);
	for (i = 0; i < n; i++)
		fate[i] = STORE_WR_ALONE;
}

/* Commits what is queued: called with gc_mu held, which it lets go of
 * while it works. */
static void
store_lead(struct store *s)
{
	struct store_wr *b[SIGNET_STORE_BATCH_MAX], *w, *back = NULL, **bt;
	int fate[SIGNET_STORE_BATCH_MAX];
	size_t n = 0, i;

	while ((w = s->gc_head) != NULL && n < SIGNET_STORE_BATCH_MAX &&
	    !(n > 0 && (w->alone || b[0]->alone))) {
		if ((s->gc_head = w->next) == NULL)
			s->gc_tail = &s->gc_head;
		w->next = NULL;
		b[n++] = w;
	}
	if (n == 0)
		return;
	pthread_mutex_unlock(&s->gc_mu);
	if (n == 1) {
		/* nothing to share the commit with: the write's own */
		b[0]->r = store_write_alone(s, b[0]->fn, b[0]->arg);
		fate[0] = STORE_WR_DECIDED;
	} else {
		store_batch_run(s, b, n, fate);
	}
	pthread_mutex_lock(&s->gc_mu);
	/* what goes again goes first, in its order */
	bt = &back;
	for (i = 0; i < n; i++) {
		if (fate[i] == STORE_WR_DECIDED) {
			b[i]->done = 1;
			continue;
		}
		b[i]->alone = fate[i] == STORE_WR_ALONE;
		*bt = b[i];
		bt = &b[i]->next;
	}
	if (back != NULL) {
		if ((*bt = s->gc_head) == NULL)
			s->gc_tail = bt;
		s->gc_head = back;
	}
}

int
store_write(struct store *s, store_write_fn fn, void *arg)
{
	struct store_wr w;

	/* a thread with a transaction open must not wait for another's
	 * commit (it may hold what the other waits for) */
	if (store_depth != 0 || __atomic_load_n(&s->gc_off, __ATOMIC_RELAXED))
		return store_write_alone(s, fn, arg);
	memset(&w, 0, sizeof(w));
	w.fn = fn;
	w.arg = arg;
	pthread_mutex_lock(&s->gc_mu);
	*s->gc_tail = &w;
	s->gc_tail = &w.next;
	while (!w.done) {
		if (s->gc_leading) {
			pthread_cond_wait(&s->gc_cv, &s->gc_mu);
			continue;
		}
		s->gc_leading = 1;
		store_lead(s);
		s->gc_leading = 0;
		pthread_cond_broadcast(&s->gc_cv);
	}
	pthread_mutex_unlock(&s->gc_mu);
	return w.r;
}

void
store_set_group_commit(struct store *s, int on)
{
	__atomic_store_n(&s->gc_off, !on, __ATOMIC_RELAXED);
}

size_t
store_writes_waiting(struct store *s)
{
	struct store_wr *w;
	size_t n = 0;

	pthread_mutex_lock(&s->gc_mu);
	for (w = s->gc_head; w != NULL; w = w->next)
		n++;
	pthread_mutex_unlock(&s->gc_mu);
	return n;
}

/* A change was made in t: its commit will flush, and in a batch it is
 * counted against the map for the writes after it. */
static void
store_changed(struct store_txn *t, size_t n)
{
	t->wrote = 1;
	if (store_batch != NULL && store_batch->t == t)
		store_batch->adds += n + STORE_CHANGE_SLACK;
}

/* A write after the first of a batch that finds the map full may have
 * found it full of the others' changes, before the map grew as it would
 * have before a transaction of its own: it is decided alone, and only
 * that decision says whether the map is full. */
static int
store_batch_map_full(struct store_txn *t, int rc)
{
	if (rc != MDB_MAP_FULL || store_batch == NULL ||
	    store_batch->t != t || store_batch->first)
		return 0;
	store_batch->retry = 1;
	return 1;
}

int
store_get(struct store_txn *t, enum store_db db, const void *k, size_t klen,
    const void **v, size_t *vlen)
{
	MDB_val mk = { klen, (void *)(uintptr_t)k }, mv;
	int rc;

	if ((rc = mdb_get(t->txn, t->s->dbi[db], &mk, &mv)) != 0)
		return store_mdb_err(rc, store_db_names[db]);
	*v = mv.mv_data;
	*vlen = mv.mv_size;
	return 0;
}

int
store_put(struct store_txn *t, enum store_db db, const void *k, size_t klen,
    const void *v, size_t vlen)
{
	MDB_val mk = { klen, (void *)(uintptr_t)k };
	MDB_val mv = { vlen, (void *)(uintptr_t)v };
	int rc;

	if ((rc = mdb_put(t->txn, t->s->dbi[db], &mk, &mv, 0)) != 0)
		return store_batch_map_full(t, rc) ? SIGNET_ERR_STORAGE_FULL :
		    store_write_err(t->s, rc, store_db_names[db]);
	store_changed(t, klen + vlen);
	return 0;
}

int
store_del(struct store_txn *t, enum store_db db, const void *k, size_t klen)
{
	MDB_val mk = { klen, (void *)(uintptr_t)k };
	int rc;

	if ((rc = mdb_del(t->txn, t->s->dbi[db], &mk, NULL)) != 0)
		return store_batch_map_full(t, rc) ? SIGNET_ERR_STORAGE_FULL :
		    store_mdb_err(rc, store_db_names[db]);
	store_changed(t, klen);
	return 0;
}

int
store_get_json(struct store_txn *t, enum store_db db, const char *key,
    json_t **out)
{
	const void *v;
	size_t vlen;
	json_t *j, *ver;
	json_error_t jerr;
	int r;

	*out = NULL;
	if ((r = store_get(t, db, key, strlen(key), &v, &vlen)) != 0)
		return r;
	if (vlen > SIGNET_MAX_RECORD) {
		log_err("store: %s/%s: record too large", store_db_names[db],
		    key);
		return SIGNET_ERR_STORE;
	}
	j = json_loadb(v, vlen, JSON_REJECT_DUPLICATES, &jerr);
	if (j == NULL || !json_is_object(j)) {
		log_err("store: %s/%s: unreadable record: %s",
		    store_db_names[db], key, j ? "not an object" : jerr.text);
		json_decref(j);
		return SIGNET_ERR_STORE;
	}
	ver = json_object_get(j, "v");
	if (!json_is_integer(ver) ||
	    json_integer_value(ver) != STORE_SCHEMA_VERSION) {
		log_err("store: %s/%s: unknown record version",
		    store_db_names[db], key);
		json_decref(j);
		return SIGNET_ERR_STORE;
	}
	*out = j;
	return 0;
}

int
store_put_json(struct store_txn *t, enum store_db db, const char *key,
    json_t *v)
{
	char *s;
	int r;

	if (json_object_set_new(v, "v", json_integer(STORE_SCHEMA_VERSION)))
		return SIGNET_ERR_NOMEM;
	if ((s = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS)) == NULL)
		return SIGNET_ERR_NOMEM;
	if (strlen(s) > SIGNET_MAX_RECORD)
		r = SIGNET_ERR_TOO_LARGE;
	else
		r = store_put(t, db, key, strlen(key), s, strlen(s));
	free(s);
	return r;
}

static int
store_has_prefix(const MDB_val *k, const void *prefix, size_t plen)
{
	return k->mv_size >= plen &&
	    (plen == 0 || memcmp(k->mv_data, prefix, plen) == 0);
}

int
store_walk(struct store_txn *t, enum store_db db, const void *prefix,
    size_t plen, const void *after, size_t alen, int backward,
    store_walk_fn fn, void *arg)
{
	MDB_cursor *c = NULL;
	MDB_val k, v;
	MDB_cursor_op step = backward ? MDB_PREV : MDB_NEXT;
	int rc, r = SIGNET_ERR_STORE;

	if ((rc = mdb_cursor_open(t->txn, t->s->dbi[db], &c)) != 0)
		return store_mdb_err(rc, "cursor");
	if (after != NULL) {
		k.mv_data = (void *)(uintptr_t)after;
		k.mv_size = alen;
		rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
		if (rc == 0 && !backward && k.mv_size == alen &&
		    memcmp(k.mv_data, after, alen) == 0)
			rc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
		else if (backward)
			rc = rc == MDB_NOTFOUND ?
			    mdb_cursor_get(c, &k, &v, MDB_LAST) :
			    mdb_cursor_get(c, &k, &v, MDB_PREV);
	} else if (plen > 0 && !backward) {
		k.mv_data = (void *)(uintptr_t)prefix;
		k.mv_size = plen;
		rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
	} else if (plen > 0) {
		/* the last key with the prefix: seek past it, step back */
		unsigned char end[256];

		if (plen >= sizeof(end)) {
			r = SIGNET_ERR_INVALID;
			goto out;
		}
		memcpy(end, prefix, plen);
		end[plen] = 0xff;
		k.mv_data = end;
		k.mv_size = plen + 1;
		rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
		rc = rc == MDB_NOTFOUND ? mdb_cursor_get(c, &k, &v, MDB_LAST) :
		    mdb_cursor_get(c, &k, &v, MDB_PREV);
	} else {
		rc = mdb_cursor_get(c, &k, &v, backward ? MDB_LAST : MDB_FIRST);
	}
	for (; rc == 0; rc = mdb_cursor_get(c, &k, &v, step)) {
		if (!store_has_prefix(&k, prefix, plen)) {
			/* sorted keys: past the prefix, nothing more matches */
			if (backward ? memcmp(k.mv_data, prefix,
			    k.mv_size < plen ? k.mv_size : plen) < 0 : 1) {
				rc = MDB_NOTFOUND;
				break;
			}
			continue;
		}
		if ((r = fn(k.mv_data, k.mv_size, v.mv_data, v.mv_size,
		    arg)) != 0) {
			if (r > 0)
				r = 0;
			goto out;
		}
	}
	if (rc != MDB_NOTFOUND) {
		r = store_mdb_err(rc, "walk");
		goto out;
	}
	r = 0;
out:
	mdb_cursor_close(c);
	return r;
}
