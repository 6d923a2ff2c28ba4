/* What a durable write costs, and what sharing the flushes saves.
 *
 *   bench_commit [seconds per run, default 3] [directory, default /var/tmp]
 *
 * (a) The database: writes of a submission's shape (a 2.5 KiB record, an
 * index entry and a sequenced log entry) through store_write from 1 and
 * from 8 threads, each answered only once on the disk: first with every
 * write a transaction and a commit of its own (group commit off, what
 * signetd did before), then with the writes queued together sharing one
 * commit (group commit on). A commit is one fdatasync of the pages
 * written and one synchronous write of the meta page (LMDB's
 * mdb_txn_commit); `flushes` counts commits that wrote.
 *
 * (b) The artifacts: 4 KiB uploads made durable from 1 and 8 threads, as
 * cas.c does it (each upload its fdatasync, the rename, the fsync of its
 * directory and of tmp/), against two ways of sharing those flushes that
 * the file system could allow: a leader doing the directory fsyncs for
 * every upload renamed so far, and a leader doing one syncfs for the file
 * data and one for the renames. Last, what one small upload waits for
 * its flushes while another file on the same file system is being
 * written through the page cache, with its own flushes and with syncfs.
 *
 * Figures are printed, nothing is asserted (tests/bench/README.md). Run
 * it on an otherwise idle machine, in a directory on the file system to
 * measure (not a tmpfs, whose flushes cost nothing).
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cas.h"
#include "metrics.h"
#include "store.h"

#define MAX_WRITERS	8
#define MAX_SAMPLES	(1 << 18)
#define UPLOAD_SIZE	4096
#define NEIGHBOUR_MIB	256

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int
rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void
rm_tree(const char *dir)
{
	(void)nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Latencies of one run, gathered from its threads. */
struct lat {
	double *v;
	size_t n;
	pthread_mutex_t mu;
};

static void
lat_add(struct lat *l, const double *v, size_t n)
{
	pthread_mutex_lock(&l->mu);
	if (n > MAX_SAMPLES - l->n)
		n = MAX_SAMPLES - l->n;
	memcpy(l->v + l->n, v, n * sizeof(*v));
	l->n += n;
	pthread_mutex_unlock(&l->mu);
}

static double
lat_pct(struct lat *l, double p)
{
	if (l->n == 0)
		return 0;
	qsort(l->v, l->n, sizeof(*l->v), cmp_double);
	return l->v[(size_t)(p * (double)(l->n - 1))];
}

/* ---- (a) the database ------------------------------------------------ */

struct dbw {
	struct store *s;
	int id;
	uint64_t seq;		/* this thread's writes */
	double until;
	struct lat *lat;
	int err;
};

static void
be64(unsigned char *p, uint64_t v)
{
	int i;

	for (i = 7; i >= 0; i--, v >>= 8)
		p[i] = (unsigned char)v;
}

/* A submission's shape: the request record, its index entry by time, and
 * a log entry under the next sequence number (which makes the writes of
 * a batch depend on each other, as the audit log's do). */
static int
db_write(struct store_txn *t, void *arg)
{
	static const char filler[] = "{\"artifactConfigurationSlug\":"
	    "\"detached-cms\",\"history\":[],\"origin\":{\"repositoryUrl\":"
	    "\"https://git.example/demo\"},\"projectSlug\":\"demo-app\"}";
	struct dbw *w = arg;
	unsigned char k[8 + 32], next[8];
	char id[32], rec[2560];
	const void *v;
	size_t vlen, i;
	uint64_t n = 0;
	int r;

	snprintf(id, sizeof(id), "w%d-%llu", w->id,
	    (unsigned long long)w->seq);
	for (i = 0; i + sizeof(filler) <= sizeof(rec); i += sizeof(filler) - 1)
		memcpy(rec + i, filler, sizeof(filler) - 1);
	memset(rec + i, ' ', sizeof(rec) - i);
	if ((r = store_put(t, STORE_REQUESTS, id, strlen(id), rec,
	    sizeof(rec))) != 0)
		return r;
	be64(k, (uint64_t)(now() * 1e9));
	memcpy(k + 8, id, strlen(id));
	if ((r = store_put(t, STORE_REQ_BY_TIME, k, 8 + strlen(id), id,
	    strlen(id))) != 0)
		return r;
	if ((r = store_get(t, STORE_META, "bench-seq", 9, &v, &vlen)) == 0 &&
	    vlen == 8) {
		for (i = 0; i < 8; i++)
			n = n << 8 | ((const unsigned char *)v)[i];
	} else if (r != 0 && r != SIGNET_ERR_NOT_FOUND) {
		return r;
	}
	be64(next, n + 1);
	if ((r = store_put(t, STORE_META, "bench-seq", 9, next, 8)) != 0)
		return r;
	return store_put(t, STORE_AUDIT, next, 8, rec, 512);
}

static void *
db_writer(void *arg)
{
	struct dbw *w = arg;
	double *v, t0, t;
	size_t n = 0;

	if ((v = calloc(MAX_SAMPLES, sizeof(*v))) == NULL) {
		w->err = SIGNET_ERR_NOMEM;
		return NULL;
	}
	while ((t0 = now()) < w->until) {
		if ((w->err = store_write(w->s, db_write, w)) != 0)
			break;
		t = now();
		if (n < MAX_SAMPLES)
			v[n++] = t - t0;
		w->seq++;
	}
	lat_add(w->lat, v, n);
	free(v);
	return NULL;
}

struct db_result {
	double writes_s, flushes_s, per_flush, ms_per_flush, p50, p99;
};

static int
db_run(const char *base, int group, int writers, double secs,
    struct db_result *res)
{
	struct dbw w[MAX_WRITERS];
	pthread_t th[MAX_WRITERS];
	struct store *s = NULL;
	struct lat lat;
	char dir[512];
	uint64_t f0, n = 0, fl;
	double t0, el;
	int i, r = 0;

	memset(res, 0, sizeof(*res));
	snprintf(dir, sizeof(dir), "%s/db-%d-%d", base, group, writers);
	if (store_open(dir, 1ULL << 30, &s) != 0)
		return -1;
	store_set_group_commit(s, group);
	memset(&lat, 0, sizeof(lat));
	if ((lat.v = calloc(MAX_SAMPLES, sizeof(*lat.v))) == NULL) {
		store_close(s);
		return -1;
	}
	pthread_mutex_init(&lat.mu, NULL);
	f0 = metrics_get(METRICS_STORE_FLUSHES);
	t0 = now();
	for (i = 0; i < writers; i++) {
		memset(&w[i], 0, sizeof(w[i]));
		w[i].s = s;
		w[i].id = i;
		w[i].until = t0 + secs;
		w[i].lat = &lat;
		if (pthread_create(&th[i], NULL, db_writer, &w[i]) != 0) {
			writers = i;
			r = -1;
			break;
		}
	}
	for (i = 0; i < writers; i++) {
		pthread_join(th[i], NULL);
		n += w[i].seq;
		if (w[i].err != 0) {
			fprintf(stderr, "bench_commit: write: %s\n",
			    signet_strerror(w[i].err));
			r = -1;
		}
	}
	el = now() - t0;
	fl = metrics_get(METRICS_STORE_FLUSHES) - f0;
	res->writes_s = (double)n / el;
	res->flushes_s = (double)fl / el;
	res->per_flush = fl > 0 ? (double)n / (double)fl : 0;
	res->ms_per_flush = fl > 0 ? el * 1e3 / (double)fl : 0;
	res->p50 = lat_pct(&lat, 0.5) * 1e3;
	res->p99 = lat_pct(&lat, 0.99) * 1e3;
	free(lat.v);
	pthread_mutex_destroy(&lat.mu);
	store_close(s);
	rm_tree(dir);
	return r;
}

/* ---- (b) the artifacts ----------------------------------------------- */

/* A flush that whoever comes first does for everyone waiting: a caller
 * is done when a flush that began after it asked has ended. */
struct comb {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	uint64_t asked, done;
	int busy;
	void (*flush)(struct comb *c);	/* called with mu let go */
	int tmpfd, shafd;
	unsigned char dirs[256];	/* sha256/xx to fsync */
	uint64_t flushes;
};

static void
comb_wait(struct comb *c)
{
	uint64_t me;

	pthread_mutex_lock(&c->mu);
	me = ++c->asked;
	while (c->done < me) {
		if (c->busy) {
			pthread_cond_wait(&c->cv, &c->mu);
			continue;
		}
		c->busy = 1;
		{
			uint64_t upto = c->asked;

			pthread_mutex_unlock(&c->mu);
			c->flush(c);
			pthread_mutex_lock(&c->mu);
			c->done = upto;
		}
		c->busy = 0;
		pthread_cond_broadcast(&c->cv);
	}
	pthread_mutex_unlock(&c->mu);
}

/* The directories renamed into so far, each once, then tmp/. */
static void
flush_dirs(struct comb *c)
{
	unsigned char want[256];
	char sub[3];
	int i, fd;

	pthread_mutex_lock(&c->mu);
	memcpy(want, c->dirs, sizeof(want));
	memset(c->dirs, 0, sizeof(c->dirs));
	pthread_mutex_unlock(&c->mu);
	for (i = 0; i < 256; i++) {
		if (!want[i])
			continue;
		snprintf(sub, sizeof(sub), "%02x", i);
		if ((fd = openat(c->shafd, sub, O_RDONLY | O_DIRECTORY |
		    O_CLOEXEC)) >= 0) {
			(void)fsync(fd);
			close(fd);
			c->flushes++;
		}
	}
	(void)fsync(c->tmpfd);
	c->flushes++;
}

static void
flush_fs(struct comb *c)
{
	(void)syncfs(c->tmpfd);
	c->flushes++;
}

enum art_mode { ART_OWN, ART_DIRS, ART_SYNCFS };

struct artw {
	enum art_mode mode;
	struct cas *cas;	/* ART_OWN */
	struct comb *comb;	/* the others */
	int tmpfd, shafd;
	int id;
	uint64_t n;
	double until;
	struct lat *lat;
	int err;
};

/* One upload made durable by a shared flush: the file written, then
 * (syncfs) its data flushed before its name appears, renamed into
 * sha256/xx/, the rename flushed. */
static int
art_shared(struct artw *w, const unsigned char *data)
{
	char tmp[64], name[64], sub[3];
	int fd, subfd;
	unsigned b = data[0];

	snprintf(tmp, sizeof(tmp), "u%d-%llu", w->id,
	    (unsigned long long)w->n);
	snprintf(name, sizeof(name), "%d-%llu", w->id,
	    (unsigned long long)w->n);
	snprintf(sub, sizeof(sub), "%02x", b);
	if ((fd = openat(w->tmpfd, tmp, O_WRONLY | O_CREAT | O_EXCL |
	    O_CLOEXEC, 0600)) < 0)
		return -1;
	if (write(fd, data, UPLOAD_SIZE) != UPLOAD_SIZE) {
		close(fd);
		return -1;
	}
	if (w->mode == ART_SYNCFS)
		comb_wait(w->comb);
	else if (fdatasync(fd) != 0) {
		close(fd);
		return -1;
	}
	close(fd);
	(void)mkdirat(w->shafd, sub, 0700);
	if ((subfd = openat(w->shafd, sub, O_RDONLY | O_DIRECTORY |
	    O_CLOEXEC)) < 0)
		return -1;
	if (renameat(w->tmpfd, tmp, subfd, name) != 0) {
		close(subfd);
		return -1;
	}
	close(subfd);
	if (w->mode == ART_DIRS) {
		pthread_mutex_lock(&w->comb->mu);
		w->comb->dirs[b] = 1;
		pthread_mutex_unlock(&w->comb->mu);
	}
	comb_wait(w->comb);
	return 0;
}

static void *
art_writer(void *arg)
{
	struct artw *w = arg;
	unsigned char data[UPLOAD_SIZE];
	char hex[CAS_HEX_LEN + 1];
	double *v, t0;
	size_t n = 0, i;
	unsigned x = (unsigned)w->id * 2654435761u + 1;

	if ((v = calloc(MAX_SAMPLES, sizeof(*v))) == NULL) {
		w->err = -1;
		return NULL;
	}
	while ((t0 = now()) < w->until) {
		/* distinct content: every upload a new file */
		for (i = 0; i < sizeof(data); i++) {
			x = x * 1103515245u + 12345u;
			data[i] = (unsigned char)(x >> 16);
		}
		w->err = w->mode == ART_OWN ? cas_put(w->cas, data,
		    sizeof(data), hex) : art_shared(w, data);
		if (w->err != 0)
			break;
		if (n < MAX_SAMPLES)
			v[n++] = now() - t0;
		w->n++;
	}
	lat_add(w->lat, v, n);
	free(v);
	return NULL;
}

struct art_result {
	double uploads_s, flushes_per, p50, p99;
};

static int
art_run(const char *base, enum art_mode mode, int writers, double secs,
    struct art_result *res)
{
	struct artw w[MAX_WRITERS];
	pthread_t th[MAX_WRITERS];
	struct cas *cas = NULL;
	struct comb comb;
	struct lat lat;
	char dir[512], path[600];
	uint64_t n = 0;
	double t0, el;
	int i, r = 0;

	memset(res, 0, sizeof(*res));
	snprintf(dir, sizeof(dir), "%s/art-%d-%d", base, (int)mode, writers);
	if (mkdir(dir, 0700) != 0 || cas_open(dir, &cas) != 0)
		return -1;
	memset(&comb, 0, sizeof(comb));
	pthread_mutex_init(&comb.mu, NULL);
	pthread_cond_init(&comb.cv, NULL);
	comb.flush = mode == ART_DIRS ? flush_dirs : flush_fs;
	snprintf(path, sizeof(path), "%s/artifacts/tmp", dir);
	comb.tmpfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	snprintf(path, sizeof(path), "%s/artifacts/sha256", dir);
	comb.shafd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	memset(&lat, 0, sizeof(lat));
	lat.v = calloc(MAX_SAMPLES, sizeof(*lat.v));
	pthread_mutex_init(&lat.mu, NULL);
	if (comb.tmpfd < 0 || comb.shafd < 0 || lat.v == NULL) {
		r = -1;
		goto out;
	}
	t0 = now();
	for (i = 0; i < writers; i++) {
		memset(&w[i], 0, sizeof(w[i]));
		w[i].mode = mode;
		w[i].cas = cas;
		w[i].comb = &comb;
		w[i].tmpfd = comb.tmpfd;
		w[i].shafd = comb.shafd;
		w[i].id = i;
		w[i].until = t0 + secs;
		w[i].lat = &lat;
		if (pthread_create(&th[i], NULL, art_writer, &w[i]) != 0) {
			writers = i;
			r = -1;
			break;
		}
	}
	for (i = 0; i < writers; i++) {
		pthread_join(th[i], NULL);
		n += w[i].n;
		if (w[i].err != 0)
			r = -1;
	}
	el = now() - t0;
	res->uploads_s = (double)n / el;
	/* cas.c: an fdatasync and two directory fsyncs for each */
	res->flushes_per = n == 0 ? 0 : mode == ART_OWN ? 3 :
	    (double)comb.flushes / (double)n + (mode == ART_DIRS);
	res->p50 = lat_pct(&lat, 0.5) * 1e3;
	res->p99 = lat_pct(&lat, 0.99) * 1e3;
out:
	if (comb.tmpfd >= 0)
		close(comb.tmpfd);
	if (comb.shafd >= 0)
		close(comb.shafd);
	free(lat.v);
	pthread_mutex_destroy(&lat.mu);
	pthread_mutex_destroy(&comb.mu);
	pthread_cond_destroy(&comb.cv);
	cas_close(cas);
	rm_tree(dir);
	return r;
}

/* ---- a neighbour writing --------------------------------------------- */

struct neighbour {
	char path[600];
	int stop;
};

static void *
neighbour_run(void *arg)
{
	struct neighbour *nb = arg;
	static char block[1 << 20];
	int fd, i;

	memset(block, 'n', sizeof(block));
	if ((fd = open(nb->path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
	    0600)) < 0)
		return NULL;
	for (i = 0; !__atomic_load_n(&nb->stop, __ATOMIC_RELAXED); i++) {
		if (i == NEIGHBOUR_MIB) {
			/* start over: dirty pages again, not a full disk */
			if (ftruncate(fd, 0) != 0 ||
			    lseek(fd, 0, SEEK_SET) != 0)
				break;
			i = 0;
		}
		if (write(fd, block, sizeof(block)) != (ssize_t)sizeof(block))
			break;
	}
	close(fd);
	return NULL;
}

/* One small upload's flushes, 40 times, while the neighbour writes:
 * mean and worst, ms. */
static void
neighbour_probe(const char *base, int use_syncfs, double *mean, double *max)
{
	struct neighbour nb;
	pthread_t th;
	unsigned char data[UPLOAD_SIZE];
	char dir[512], name[600];
	double t0, t, sum = 0;
	int i, fd, dfd;

	*mean = *max = 0;
	snprintf(dir, sizeof(dir), "%s/neighbour", base);
	if (mkdir(dir, 0700) != 0 || (dfd = open(dir, O_RDONLY |
	    O_DIRECTORY | O_CLOEXEC)) < 0)
		return;
	memset(&nb, 0, sizeof(nb));
	snprintf(nb.path, sizeof(nb.path), "%s/big", dir);
	memset(data, 'd', sizeof(data));
	if (pthread_create(&th, NULL, neighbour_run, &nb) != 0) {
		close(dfd);
		return;
	}
	usleep(300 * 1000);
	for (i = 0; i < 40; i++) {
		snprintf(name, sizeof(name), "%s/small%d", dir, i);
		if ((fd = open(name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
		    0600)) < 0)
			break;
		if (write(fd, data, sizeof(data)) != (ssize_t)sizeof(data)) {
			close(fd);
			break;
		}
		t0 = now();
		if (use_syncfs) {
			(void)syncfs(fd);
			(void)syncfs(fd);
		} else {
			(void)fdatasync(fd);
			(void)fsync(dfd);
		}
		t = now() - t0;
		close(fd);
		sum += t;
		if (t > *max)
			*max = t;
		usleep(50 * 1000);
	}
	__atomic_store_n(&nb.stop, 1, __ATOMIC_RELAXED);
	pthread_join(th, NULL);
	close(dfd);
	*mean = i > 0 ? sum / i * 1e3 : 0;
	*max *= 1e3;
	rm_tree(dir);
}

int
main(int argc, char **argv)
{
	static const int nwriters[] = { 1, 8 };
	static const char *const art_names[] = {
		[ART_OWN] = "each its own (cas.c)",
		[ART_DIRS] = "leader: directory fsyncs",
		[ART_SYNCFS] = "leader: syncfs, twice",
	};
	struct db_result d[2][2];
	struct art_result a;
	char base[256];
	const char *where = argc > 2 ? argv[2] : "/var/tmp";
	double secs = argc > 1 ? strtod(argv[1], NULL) : 3, mean, max;
	int g, i, m, rc = 0;

	if (secs <= 0)
		secs = 3;
	snprintf(base, sizeof(base), "%s/bench-commit-XXXXXX", where);
	if (mkdtemp(base) == NULL) {
		fprintf(stderr, "bench_commit: %s: %s\n", base,
		    strerror(errno));
		return 1;
	}
	printf("(a) durable database writes, %.0f s each, in %s\n", secs,
	    where);
	printf("%-22s %7s %10s %10s %12s %10s %14s\n", "", "writers",
	    "writes/s", "flushes/s", "writes/flush", "ms/flush",
	    "write p50/p99");
	for (i = 0; i < 2; i++) {
		for (g = 0; g < 2; g++) {
			if (db_run(base, g, nwriters[i], secs, &d[g][i]) != 0)
				rc = 1;
			printf("%-22s %7d %10.0f %10.0f %12.2f %10.3f "
			    "%6.2f/%.2f ms\n", g ? "group commit" :
			    "one flush per write", nwriters[i],
			    d[g][i].writes_s, d[g][i].flushes_s,
			    d[g][i].per_flush, d[g][i].ms_per_flush,
			    d[g][i].p50, d[g][i].p99);
			fflush(stdout);
		}
	}
	printf("\n(b) durable %d-byte artifacts, %.0f s each\n", UPLOAD_SIZE,
	    secs);
	printf("%-26s %7s %10s %15s %14s\n", "", "writers", "uploads/s",
	    "flushes/upload", "upload p50/p99");
	for (i = 0; i < 2; i++) {
		for (m = ART_OWN; m <= ART_SYNCFS; m++) {
			if (art_run(base, m, nwriters[i], secs, &a) != 0)
				rc = 1;
			printf("%-26s %7d %10.0f %15.2f %6.2f/%.2f ms\n",
			    art_names[m], nwriters[i], a.uploads_s,
			    a.flushes_per, a.p50, a.p99);
			fflush(stdout);
		}
	}
	printf("\n(c) one small upload's flushes while a file on the same "
	    "file system is written\n");
	neighbour_probe(base, 0, &mean, &max);
	printf("%-26s mean %.2f ms, worst %.2f ms\n",
	    "fdatasync + fsync(dir)", mean, max);
	neighbour_probe(base, 1, &mean, &max);
	printf("%-26s mean %.2f ms, worst %.2f ms\n", "syncfs, twice", mean,
	    max);
	rm_tree(base);
	return rc;
}
