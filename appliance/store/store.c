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
};

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

int
store_txn_commit(struct store_txn **tp)
{
	struct store_txn *t = *tp;
	int rc;

	struct store *s;

	*tp = NULL;
	if (t == NULL)
		return SIGNET_ERR_INTERNAL;
	s = t->s;
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
	return 0;
}

void
store_txn_abort(struct store_txn **tp)
{
	struct store_txn *t;

	if (tp == NULL || (t = *tp) == NULL)
		return;
	*tp = NULL;
	mdb_txn_abort(t->txn);
	store_depth--;
	pthread_rwlock_unlock(&t->s->grow);
	free(t);
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
		return store_write_err(t->s, rc, store_db_names[db]);
	return 0;
}

int
store_del(struct store_txn *t, enum store_db db, const void *k, size_t klen)
{
	MDB_val mk = { klen, (void *)(uintptr_t)k };
	int rc;

	if ((rc = mdb_del(t->txn, t->s->dbi[db], &mk, NULL)) != 0)
		return store_mdb_err(rc, store_db_names[db]);
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
