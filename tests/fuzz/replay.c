/* The fuzz targets without libFuzzer: feeds every file named on the
 * command line, or every file of a directory named there (in name order,
 * dot files skipped), to LLVMFuzzerTestOneInput once. Each input is copied
 * into a buffer of exactly its size, so AddressSanitizer sees a read past
 * its end. Fails when a directory holds no input: a corpus that went
 * missing must not pass as an empty one. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz.h"

/* Larger than any seed or libFuzzer -max_len used here. */
#define REPLAY_MAX_INPUT	(4 * 1024 * 1024)

static int
replay_file(const char *path)
{
	struct stat st;
	uint8_t *buf = NULL;
	ssize_t got;
	size_t off = 0;
	int fd, r = -1;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0 || fstat(fd, &st) != 0) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		goto out;
	}
	if (st.st_size > REPLAY_MAX_INPUT) {
		fprintf(stderr, "replay: %s: larger than %d bytes\n", path,
		    REPLAY_MAX_INPUT);
		goto out;
	}
	/* malloc(0) may be NULL: keep one byte, hand over size 0 */
	if ((buf = malloc(st.st_size > 0 ? (size_t)st.st_size : 1)) == NULL)
		goto out;
	while (off < (size_t)st.st_size) {
		got = read(fd, buf + off, (size_t)st.st_size - off);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0) {
			fprintf(stderr, "replay: %s: short read\n", path);
			goto out;
		}
		off += (size_t)got;
	}
	LLVMFuzzerTestOneInput(buf, off);
	r = 0;
out:
	free(buf);
	if (fd >= 0)
		close(fd);
	return r;
}

static int
replay_skip(const struct dirent *d)
{
	return d->d_name[0] != '.';
}

/* Number of inputs replayed, or -1. */
static int
replay_dir(const char *dir)
{
	struct dirent **names = NULL;
	char path[4096];
	struct stat st;
	int i, n, done = 0, r = 0;

	if ((n = scandir(dir, &names, replay_skip, alphasort)) < 0) {
		fprintf(stderr, "replay: %s: %s\n", dir, strerror(errno));
		return -1;
	}
	for (i = 0; i < n; i++) {
		if (r == 0 && snprintf(path, sizeof(path), "%s/%s", dir,
		    names[i]->d_name) < (int)sizeof(path) &&
		    stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
			if (replay_file(path) != 0)
				r = -1;
			else
				done++;
		}
		free(names[i]);
	}
	free(names);
	return r == 0 ? done : -1;
}

int
main(int argc, char **argv)
{
	struct stat st;
	int i, n;

	if (argc < 2) {
		fprintf(stderr, "usage: %s DIR|FILE...\n", argv[0]);
		return 2;
	}
	for (i = 1; i < argc; i++) {
		if (stat(argv[i], &st) == 0 && S_ISDIR(st.st_mode)) {
			if ((n = replay_dir(argv[i])) < 0)
				return 1;
			if (n == 0) {
				fprintf(stderr, "replay: %s holds no input\n",
				    argv[i]);
				return 1;
			}
			printf("replay: %d inputs from %s\n", n, argv[i]);
		} else if (replay_file(argv[i]) != 0) {
			return 1;
		} else {
			printf("replay: %s\n", argv[i]);
		}
	}
	return 0;
}
