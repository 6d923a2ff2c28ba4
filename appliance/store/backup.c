#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "backup.h"
#include "cas.h"
#include "log.h"

/* The file that marks a directory as a backup, and the LMDB data file. */
#define BACKUP_MARK "SIGNET-BACKUP"
#define BACKUP_DATA_FILE "data.mdb"

static int
backup_path(char *out, size_t len, const char *dir, const char *name)
{
	int n = snprintf(out, len, "%s/%s", dir, name);

	return n < 0 || (size_t)n >= len ? SIGNET_ERR_TOO_LARGE : 0;
}

/* Copies one file, fsync'ed; the copy is complete or absent. */
static int
backup_copy_file(int sdir, const char *sname, int ddir, const char *dname)
{
	char buf[65536], tmp[300];
	ssize_t n;
	int in = -1, out = -1, r = SIGNET_ERR_IO;

	snprintf(tmp, sizeof(tmp), ".%s.tmp", dname);
	if ((in = openat(sdir, sname, O_RDONLY | O_CLOEXEC)) < 0 ||
	    (out = openat(ddir, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
	    0600)) < 0)
		goto out;
	while ((n = read(in, buf, sizeof(buf))) > 0)
		if (write(out, buf, (size_t)n) != n)
			goto out;
	if (n < 0 || fsync(out) != 0 || renameat(ddir, tmp, ddir, dname) != 0)
		goto out;
	r = 0;
out:
	if (in >= 0)
		close(in);
	if (out >= 0)
		close(out);
	if (r != 0)
		(void)unlinkat(ddir, tmp, 0);
	return r;
}

/* Copies src/artifacts/sha256/xx/hash → dst/artifacts/sha256/xx/hash for
 * every stored artifact not yet at the destination. */
static int
backup_copy_artifacts(const char *src, const char *dst, int *copied)
{
	char sp[PATH_MAX], dp[PATH_MAX];
	DIR *top = NULL, *sub;
	struct dirent *e, *f;
	int sfd, dfd, r = 0;

	*copied = 0;
	snprintf(sp, sizeof(sp), "%s/artifacts/sha256", src);
	snprintf(dp, sizeof(dp), "%s/artifacts", dst);
	if ((mkdir(dp, 0700) != 0 && errno != EEXIST))
		return SIGNET_ERR_IO;
	snprintf(dp, sizeof(dp), "%s/artifacts/sha256", dst);
	if ((mkdir(dp, 0700) != 0 && errno != EEXIST))
		return SIGNET_ERR_IO;
	if ((top = opendir(sp)) == NULL)
		return errno == ENOENT ? 0 : SIGNET_ERR_IO;
	while (r == 0 && (e = readdir(top)) != NULL) {
		char s2[PATH_MAX + 4], d2[PATH_MAX + 4];

		if (e->d_name[0] == '.' || strlen(e->d_name) != 2)
			continue;
		snprintf(s2, sizeof(s2), "%s/%s", sp, e->d_name);
		snprintf(d2, sizeof(d2), "%s/%s", dp, e->d_name);
		if ((mkdir(d2, 0700) != 0 && errno != EEXIST) ||
		    (sub = opendir(s2)) == NULL) {
			r = SIGNET_ERR_IO;
			break;
		}
		sfd = dirfd(sub);
		if ((dfd = open(d2, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
			closedir(sub);
			r = SIGNET_ERR_IO;
			break;
		}
		while (r == 0 && (f = readdir(sub)) != NULL) {
			if (!cas_valid_hex(f->d_name) ||
			    faccessat(dfd, f->d_name, F_OK, 0) == 0)
				continue;
			if ((r = backup_copy_file(sfd, f->d_name, dfd,
			    f->d_name)) == 0)
				(*copied)++;
		}
		if (r == 0 && fsync(dfd) != 0)
			r = SIGNET_ERR_IO;
		close(dfd);
		closedir(sub);
	}
	closedir(top);
	return r;
}

int
backup_create(struct store *s, const char *state_dir, const char *dir,
    int *artifacts)
{
	char db[PATH_MAX], mark[PATH_MAX];
	FILE *f;
	int r;

	*artifacts = 0;
	if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
		log_err("backup: %s: %s", dir, strerror(errno));
		return SIGNET_ERR_IO;
	}
	if ((r = backup_path(db, sizeof(db), dir, STORE_DIR)) != 0 ||
	    (r = backup_path(mark, sizeof(mark), dir, BACKUP_MARK)) != 0)
		return r;
	if (access(db, F_OK) == 0)
		return SIGNET_ERR_EXISTS;
	if ((r = store_copy(s, db)) != 0) {
		log_err("backup: copying the database failed");
		return r;
	}
	if ((r = backup_copy_artifacts(state_dir, dir, artifacts)) != 0) {
		log_err("backup: copying the artifacts failed: %s",
		    strerror(errno));
		return r;
	}
	if ((f = fopen(mark, "w")) == NULL) {
		log_err("backup: %s: %s", mark, strerror(errno));
		return SIGNET_ERR_IO;
	}
	fprintf(f, "signet backup of %s\nkeys stay in the token and are not "
	    "part of it\n", state_dir);
	if (fclose(f) != 0)
		return SIGNET_ERR_IO;
	return 0;
}

int
backup_is_backup(const char *dir)
{
	char mark[PATH_MAX];

	return backup_path(mark, sizeof(mark), dir, BACKUP_MARK) == 0 &&
	    access(mark, R_OK) == 0;
}

int
backup_restore(const char *dir, const char *state_dir, char *old, size_t len,
    int *artifacts)
{
	char src[PATH_MAX], dst[PATH_MAX];
	int sfd = -1, dfd = -1, r;

	*artifacts = 0;
	old[0] = '\0';
	if (!backup_is_backup(dir))
		return SIGNET_ERR_NOT_FOUND;
	if ((r = backup_path(src, sizeof(src), dir, STORE_DIR)) != 0 ||
	    (r = backup_path(dst, sizeof(dst), state_dir, STORE_DIR)) != 0)
		return r;
	if (access(dst, F_OK) == 0) {
		int n = snprintf(old, len, "%s.before-restore-%ld", dst,
		    (long)time(NULL));

		if (n < 0 || (size_t)n >= len) {
			old[0] = '\0';
			return SIGNET_ERR_TOO_LARGE;
		}
		if (rename(dst, old) != 0) {
			log_err("restore: %s: %s", dst, strerror(errno));
			old[0] = '\0';
			return SIGNET_ERR_IO;
		}
	}
	r = SIGNET_ERR_IO;
	if (mkdir(dst, 0700) != 0 ||
	    (dfd = open(dst, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0 ||
	    (sfd = open(src, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		log_err("restore: %s: %s", dst, strerror(errno));
		goto out;
	}
	if ((r = backup_copy_file(sfd, BACKUP_DATA_FILE, dfd,
	    BACKUP_DATA_FILE)) != 0) {
		log_err("restore: restoring the database failed");
		goto out;
	}
	if ((r = backup_copy_artifacts(dir, state_dir, artifacts)) != 0)
		log_err("restore: restoring the artifacts failed: %s",
		    strerror(errno));
out:
	if (sfd >= 0)
		close(sfd);
	if (dfd >= 0)
		close(dfd);
	return r;
}
