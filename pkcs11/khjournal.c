#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "khjournal.h"

/* Several keyholders may share one journal (signetd's, and the one a
 * `signet key` command starts): each append takes an exclusive lock and,
 * when the file has grown since this process last wrote, continues the
 * chain from the line another one added. */
/* Appends from several threads (the keyholder's signing sessions) share
 * their flushes: each writes its line under mu and then waits until an
 * fsync that began after its write has ended. Whoever finds no fsync
 * under way starts one for every line written so far; lines written
 * meanwhile go into the next. Nobody waits for a batch to fill. With a
 * flusher (khj_flusher_start) a line's fsync starts as soon as it is
 * written, so that a writer can do other work (the token's signature)
 * before it waits for it (khj_write, then khj_sync). */
struct khj {
	pthread_mutex_t mu;
	pthread_cond_t flushed;		/* synced moved or broken set */
	pthread_cond_t wrote;		/* for the flusher: written moved */
	pthread_t flusher;
	bool has_flusher, stopping;
	int fd;
	uint64_t seq;			/* of the last line, 0: none */
	char prev[KHJ_HASH_HEX + 1];	/* hash of the last line */
	off_t end;			/* file size after that line */
	uint64_t written;		/* lines this process wrote */
	uint64_t synced;		/* of those, lines known on disk */
	uint64_t fsyncs;		/* fsyncs done (khj_flushes) */
	bool syncing;			/* an fsync is under way */
	bool broken;
};

static const char khj_zero[KHJ_HASH_HEX + 1] =
    "0000000000000000000000000000000000000000000000000000000000000000";

static int
line_hash(const char *line, size_t len, char out[KHJ_HASH_HEX + 1])
{
	static const char hx[] = "0123456789abcdef";
	unsigned char d[32];
	unsigned int n = 0;
	size_t i;

	if (EVP_Digest(line, len, d, &n, EVP_sha256(), NULL) != 1 || n != 32)
		return SIGNET_ERR_CRYPTO;
	for (i = 0; i < 32; i++) {
		out[2 * i] = hx[d[i] >> 4];
		out[2 * i + 1] = hx[d[i] & 15];
	}
	out[KHJ_HASH_HEX] = '\0';
	return 0;
}

int
khj_quote(char *out, size_t cap, const char *s)
{
	static const char hx[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *)s;
	size_t o = 0;

	if (cap < 3)
		return SIGNET_ERR_TOO_LARGE;
	out[o++] = '"';
	for (; *p != '\0'; p++) {
		if (o + 7 >= cap)
			return SIGNET_ERR_TOO_LARGE;
		if (*p == '"' || *p == '\\') {
			out[o++] = '\\';
			out[o++] = (char)*p;
		} else if (*p < 0x20 || *p == 0x7f) {
			out[o++] = '\\';
			out[o++] = 'u';
			out[o++] = '0';
			out[o++] = '0';
			out[o++] = hx[*p >> 4];
			out[o++] = hx[*p & 15];
		} else {
			out[o++] = (char)*p;
		}
	}
	out[o++] = '"';
	out[o] = '\0';
	return 0;
}

/* The fixed start of every line: {"seq":N,"prev":"<64 hex>", */
static bool
line_head(const char *l, size_t len, uint64_t *seq, char prev[KHJ_HASH_HEX + 1])
{
	static const char a[] = "{\"seq\":", b[] = ",\"prev\":\"";
	size_t i = sizeof(a) - 1, digits = 0;
	uint64_t v = 0;

	if (len < sizeof(a) - 1 || memcmp(l, a, sizeof(a) - 1) != 0)
		return false;
	while (i < len && l[i] >= '0' && l[i] <= '9' && digits < 19) {
		v = v * 10 + (uint64_t)(l[i] - '0');
		i++;
		digits++;
	}
	if (digits == 0 || (l[sizeof(a) - 1] == '0' && digits > 1))
		return false;
	if (len - i < sizeof(b) - 1 + KHJ_HASH_HEX + 2 ||
	    memcmp(l + i, b, sizeof(b) - 1) != 0)
		return false;
	i += sizeof(b) - 1;
	memcpy(prev, l + i, KHJ_HASH_HEX);
	prev[KHJ_HASH_HEX] = '\0';
	for (digits = 0; digits < KHJ_HASH_HEX; digits++) {
		if (!((prev[digits] >= '0' && prev[digits] <= '9') ||
		    (prev[digits] >= 'a' && prev[digits] <= 'f')))
			return false;
	}
	i += KHJ_HASH_HEX;
	if (l[i] != '"' || l[i + 1] != ',' || l[len - 1] != '}')
		return false;
	*seq = v;
	return true;
}

static void
broke(const struct khj_walk_cb *cb, uint64_t lineno, const char *what,
    uint64_t *breaks)
{
	(*breaks)++;
	if (cb != NULL && cb->broken != NULL)
		cb->broken(lineno, what, cb->arg);
}

int
khj_walk(FILE *f, const struct khj_walk_cb *cb, uint64_t *lines,
    uint64_t *breaks, char head[KHJ_HASH_HEX + 1])
{
	char buf[SIGNET_KH_MAX_JOURNAL_LINE + 2], prev[KHJ_HASH_HEX + 1];
	char want[KHJ_HASH_HEX + 1], h[KHJ_HASH_HEX + 1];
	uint64_t lineno = 0, seq, last = 0;
	size_t len;
	bool ok, first = true, toolong = false;
	int c;

	*lines = 0;
	*breaks = 0;
	memcpy(want, khj_zero, sizeof(want));
	for (;;) {
		len = 0;
		toolong = false;
		while ((c = getc(f)) != EOF && c != '\n') {
			if (len < SIGNET_KH_MAX_JOURNAL_LINE)
				buf[len++] = (char)c;
			else
				toolong = true;
		}
		if (ferror(f))
			return SIGNET_ERR_IO;
		if (c == EOF && len == 0 && !toolong)
			break;
		lineno++;
		buf[len] = '\0';
		if (c == EOF) {
			broke(cb, lineno, "the journal ends inside a line "
			    "(a write was cut short)", breaks);
			break;
		}
		if (toolong || memchr(buf, '\0', len) != NULL ||
		    !line_head(buf, len, &seq, prev)) {
			broke(cb, lineno, toolong ? "line too long" :
			    "not a journal line", breaks);
			/* nothing to chain on: the next line starts anew */
			first = true;
			continue;
		}
		ok = true;
		if (!first && seq != last + 1) {
			broke(cb, lineno, "sequence number out of order (a "
			    "line was removed or inserted)", breaks);
			ok = false;
		} else if (first && lineno == 1 && seq != 1) {
			broke(cb, lineno, "the journal does not start at "
			    "sequence 1 (its beginning was cut)", breaks);
			ok = false;
		}
		if (ok && !first && strcmp(prev, want) != 0) {
			broke(cb, lineno, "prev does not match the line before "
			    "(a line was edited)", breaks);
			ok = false;
		} else if (ok && first && lineno == 1 &&
		    strcmp(prev, khj_zero) != 0) {
			broke(cb, lineno, "the first line's prev is not zero",
			    breaks);
			ok = false;
		}
		if (line_hash(buf, len, h) != 0)
			return SIGNET_ERR_CRYPTO;
		if (cb != NULL && cb->line != NULL)
			cb->line(lineno, seq, buf, len, cb->arg);
		memcpy(want, h, sizeof(want));
		last = seq;
		first = false;
		(*lines)++;
	}
	if (head != NULL)
		memcpy(head, *lines > 0 ? want : khj_zero, KHJ_HASH_HEX + 1);
	return 0;
}

/* The journal's directory and file: ours, not a symlink, nobody else may
 * write (PROTOCOL.md). */
static bool
owned_private(const struct stat *sb, char *err, size_t errlen,
    const char *what, const char *path)
{
	if (sb->st_uid != geteuid()) {
		snprintf(err, errlen, "journal %s %s is owned by uid %lu, not "
		    "by the keyholder's uid %lu", what, path,
		    (unsigned long)sb->st_uid, (unsigned long)geteuid());
		return false;
	}
	if ((sb->st_mode & (S_IWGRP | S_IWOTH)) != 0) {
		snprintf(err, errlen, "journal %s %s has mode %04o: others may "
		    "write it (chmod go-w)", what, path,
		    (unsigned)(sb->st_mode & 07777));
		return false;
	}
	return true;
}

struct khj_tail {
	uint64_t seq;
};

static void
tail_line(uint64_t lineno, uint64_t seq, const char *line, size_t len,
    void *arg)
{
	struct khj_tail *t = arg;

	(void)lineno;
	(void)line;
	(void)len;
	t->seq = seq;
}

int
khj_open(const char *dir, struct khj **out, char *err, size_t errlen)
{
	struct khj_tail tail = { 0 };
	struct khj_walk_cb cb = { tail_line, NULL, &tail };
	struct khj *j = NULL;
	struct stat sb;
	char path[4096];
	uint64_t lines, breaks;
	FILE *f = NULL;
	int dfd = -1, fd = -1, r = SIGNET_ERR_CONFIG;

	*out = NULL;
	err[0] = '\0';
	/* the default <state>/keyholder/journal: its parent too */
	if ((size_t)snprintf(path, sizeof(path), "%s", dir) < sizeof(path) &&
	    strrchr(path, '/') != NULL && strrchr(path, '/') != path) {
		*strrchr(path, '/') = '\0';
		if (mkdir(path, 0700) != 0 && errno != EEXIST) {
			snprintf(err, errlen, "journal directory %s: %s", path,
			    strerror(errno));
			goto out;
		}
	}
	if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
		snprintf(err, errlen, "journal directory %s: %s", dir,
		    strerror(errno));
		goto out;
	}
	if ((dfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC)) < 0 || fstat(dfd, &sb) != 0) {
		snprintf(err, errlen, "journal directory %s: %s", dir,
		    strerror(errno));
		goto out;
	}
	if (!owned_private(&sb, err, errlen, "directory", dir))
		goto out;
	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, KHJ_FILE) >=
	    sizeof(path)) {
		snprintf(err, errlen, "journal directory path too long");
		goto out;
	}
	if ((fd = openat(dfd, KHJ_FILE, O_RDWR | O_APPEND | O_CREAT |
	    O_NOFOLLOW | O_NOCTTY | O_CLOEXEC, 0600)) < 0 ||
	    fstat(fd, &sb) != 0) {
		snprintf(err, errlen, "journal %s: %s", path, strerror(errno));
		goto out;
	}
	if (!S_ISREG(sb.st_mode)) {
		snprintf(err, errlen, "journal %s is not a regular file", path);
		goto out;
	}
	if (!owned_private(&sb, err, errlen, "file", path))
		goto out;
	if ((j = calloc(1, sizeof(*j))) == NULL) {
		r = SIGNET_ERR_NOMEM;
		goto out;
	}
	j->fd = -1;
	if (pthread_mutex_init(&j->mu, NULL) != 0) {
		free(j);
		j = NULL;
		r = SIGNET_ERR_INTERNAL;
		goto out;
	}
	if (pthread_cond_init(&j->flushed, NULL) != 0) {
		pthread_mutex_destroy(&j->mu);
		free(j);
		j = NULL;
		r = SIGNET_ERR_INTERNAL;
		goto out;
	}
	if (pthread_cond_init(&j->wrote, NULL) != 0) {
		pthread_cond_destroy(&j->flushed);
		pthread_mutex_destroy(&j->mu);
		free(j);
		j = NULL;
		r = SIGNET_ERR_INTERNAL;
		goto out;
	}
	/* the chain is checked whole before anything is added to it: a
	 * journal someone has edited is evidence, not something to extend */
	while (flock(fd, LOCK_EX) != 0) {
		if (errno != EINTR) {
			snprintf(err, errlen, "journal %s: %s", path,
			    strerror(errno));
			goto out;
		}
	}
	if ((f = fdopen(dup(fd), "r")) == NULL) {
		snprintf(err, errlen, "journal %s: %s", path, strerror(errno));
		goto out;
	}
	r = khj_walk(f, &cb, &lines, &breaks, j->prev);
	j->end = lseek(fd, 0, SEEK_END);
	flock(fd, LOCK_UN);
	if (r != 0) {
		r = SIGNET_ERR_CONFIG;
		snprintf(err, errlen, "journal %s cannot be read", path);
		goto out;
	}
	r = SIGNET_ERR_CONFIG;
	if (breaks > 0) {
		snprintf(err, errlen, "journal %s: the hash chain is broken "
		    "(signet audit reconcile shows where); keep it for the "
		    "audit and give the keyholder a new journal directory",
		    path);
		goto out;
	}
	j->seq = tail.seq;
	j->fd = fd;
	fd = -1;
	*out = j;
	j = NULL;
	r = 0;
 out:
	if (f != NULL)
		fclose(f);
	if (fd >= 0)
		close(fd);
	if (dfd >= 0)
		close(dfd);
	khj_close(j);
	return r;
}

void
khj_close(struct khj *j)
{
	if (j == NULL)
		return;
	if (j->has_flusher) {
		pthread_mutex_lock(&j->mu);
		j->stopping = true;
		pthread_cond_signal(&j->wrote);
		pthread_mutex_unlock(&j->mu);
		pthread_join(j->flusher, NULL);
	}
	if (j->fd >= 0)
		close(j->fd);
	pthread_cond_destroy(&j->wrote);
	pthread_cond_destroy(&j->flushed);
	pthread_mutex_destroy(&j->mu);
	free(j);
}

uint64_t
khj_next_seq(struct khj *j)
{
	uint64_t n;

	pthread_mutex_lock(&j->mu);
	n = j->seq + 1;
	pthread_mutex_unlock(&j->mu);
	return n;
}

uint64_t
khj_flushes(struct khj *j)
{
	uint64_t n;

	pthread_mutex_lock(&j->mu);
	n = j->fsyncs;
	pthread_mutex_unlock(&j->mu);
	return n;
}

/* Another keyholder appended: the chain goes on from the file's last
 * line. */
static int
follow_tail(struct khj *j, off_t size)
{
	char buf[SIGNET_KH_MAX_JOURNAL_LINE + 2], prev[KHJ_HASH_HEX + 1];
	size_t want, n, start;
	off_t from;
	ssize_t got;
	uint64_t seq;

	want = size < (off_t)sizeof(buf) ? (size_t)size : sizeof(buf);
	from = size - (off_t)want;
	got = pread(j->fd, buf, want, from);
	if (got < 0 || (size_t)got != want || want < 2 || buf[want - 1] != '\n')
		return SIGNET_ERR_IO;
	n = want - 1;
	start = n;
	while (start > 0 && buf[start - 1] != '\n')
		start--;
	if (start == 0 && from != 0)
		return SIGNET_ERR_IO;	/* longer than any line we write */
	if (!line_head(buf + start, n - start, &seq, prev) ||
	    line_hash(buf + start, n - start, j->prev) != 0)
		return SIGNET_ERR_IO;
	j->seq = seq;
	j->end = size;
	return 0;
}

/* Writes one line at the end, under the file lock (another keyholder may
 * share the journal); with j->mu held. Not yet on disk. */
static int
write_line(struct khj *j, const char *fields)
{
	char line[SIGNET_KH_MAX_JOURNAL_LINE + 2], now[32];
	struct stat sb;
	struct tm tm;
	time_t t = time(NULL);
	size_t len, off = 0;
	ssize_t w;
	int n, r = SIGNET_ERR_IO;

	while (flock(j->fd, LOCK_EX) != 0) {
		if (errno != EINTR)
			return SIGNET_ERR_IO;
	}
	if (fstat(j->fd, &sb) != 0 ||
	    (sb.st_size != j->end && follow_tail(j, sb.st_size) != 0)) {
		/* not a journal this process can continue */
		j->broken = true;
		goto out;
	}
	if (gmtime_r(&t, &tm) == NULL ||
	    strftime(now, sizeof(now), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0) {
		r = SIGNET_ERR_INTERNAL;
		goto out;
	}
	n = snprintf(line, sizeof(line), "{\"seq\":%" PRIu64 ",\"prev\":\"%s\","
	    "\"time\":\"%s\",%s}", j->seq + 1, j->prev, now, fields);
	if (n < 0 || (size_t)n > SIGNET_KH_MAX_JOURNAL_LINE) {
		r = SIGNET_ERR_TOO_LARGE;
		goto out;
	}
	len = (size_t)n;
	line[len] = '\n';
	while (off < len + 1) {
		w = write(j->fd, line + off, len + 1 - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			goto fail;
		off += (size_t)w;
	}
	if (line_hash(line, len, j->prev) != 0)
		goto fail;
	j->seq++;
	j->end = sb.st_size + (off_t)len + 1;
	j->written++;
	r = 0;
	goto out;
 fail:
	/* a line cut short is already in the file: nothing may follow it */
	j->broken = true;
	r = SIGNET_ERR_IO;
 out:
	flock(j->fd, LOCK_UN);
	return r;
}

/* One fsync for every line written so far; with j->mu held, none under
 * way. */
static void
sync_round(struct khj *j)
{
	uint64_t upto = j->written;
	int rc;

	j->syncing = true;
	pthread_mutex_unlock(&j->mu);
	rc = fsync(j->fd);
	pthread_mutex_lock(&j->mu);
	j->syncing = false;
	j->fsyncs++;
	if (rc != 0)
		j->broken = true;	/* what reached the disk is unknown */
	else
		j->synced = upto;
	pthread_cond_broadcast(&j->flushed);
	if (j->written > j->synced)
		pthread_cond_signal(&j->wrote);
}

/* Until line number ticket (of this process' lines) is on disk; with
 * j->mu held. */
static int
sync_upto(struct khj *j, uint64_t ticket)
{
	while (j->synced < ticket && !j->broken) {
		if (j->syncing)
			pthread_cond_wait(&j->flushed, &j->mu);
		else
			sync_round(j);
	}
	return j->synced >= ticket ? 0 : SIGNET_ERR_IO;
}

static void *
flusher(void *arg)
{
	struct khj *j = arg;

	pthread_mutex_lock(&j->mu);
	while (!j->stopping) {
		if (j->broken || j->syncing || j->synced >= j->written)
			pthread_cond_wait(&j->wrote, &j->mu);
		else
			sync_round(j);
	}
	pthread_mutex_unlock(&j->mu);
	return NULL;
}

int
khj_flusher_start(struct khj *j)
{
	if (j == NULL)
		return SIGNET_ERR_IO;
	if (j->has_flusher)
		return 0;
	if (pthread_create(&j->flusher, NULL, flusher, j) != 0)
		return SIGNET_ERR_INTERNAL;
	j->has_flusher = true;
	return 0;
}

int
khj_write(struct khj *j, const char *fields, uint64_t *ticket,
    uint64_t *seq)
{
	int r;

	*ticket = 0;
	*seq = 0;
	if (j == NULL)
		return SIGNET_ERR_IO;
	pthread_mutex_lock(&j->mu);
	if (j->broken)
		r = SIGNET_ERR_IO;
	else if ((r = write_line(j, fields)) == 0) {
		*ticket = j->written;
		*seq = j->seq;
		pthread_cond_signal(&j->wrote);
	}
	pthread_mutex_unlock(&j->mu);
	return r;
}

int
khj_sync(struct khj *j, uint64_t ticket)
{
	int r;

	if (j == NULL || ticket == 0)
		return SIGNET_ERR_IO;
	pthread_mutex_lock(&j->mu);
	r = sync_upto(j, ticket);
	pthread_mutex_unlock(&j->mu);
	return r;
}

int
khj_append(struct khj *j, const char *fields)
{
	uint64_t ticket, seq;
	int r;

	if ((r = khj_write(j, fields, &ticket, &seq)) != 0)
		return r;
	return khj_sync(j, ticket);
}
