#include <fcntl.h>
#include <libgen.h>
#include <sys/file.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "signetd_common.h"

int
signet_keyholder_path(const char *configured, char *out, size_t len)
{
	char self[PATH_MAX], *dir;
	ssize_t n;
	static const char *const rel[] = {
		"signet-keyholder", "pkcs11/signet-keyholder",
		"../libexec/signet/signet-keyholder",
	};
	size_t i;

	if (configured != NULL) {
		snprintf(out, len, "%s", configured);
		return access(out, X_OK) == 0 ? 0 : SIGNET_ERR_NOT_FOUND;
	}
	if ((n = readlink("/proc/self/exe", self, sizeof(self) - 1)) < 0)
		return SIGNET_ERR_NOT_FOUND;
	self[n] = '\0';
	dir = dirname(self);
	for (i = 0; i < sizeof(rel) / sizeof(rel[0]); i++) {
		snprintf(out, len, "%s/%s", dir, rel[i]);
		if (access(out, X_OK) == 0)
			return 0;
	}
	return SIGNET_ERR_NOT_FOUND;
}

int
signet_state_lock(const char *state_dir)
{
	char path[PATH_MAX];
	int fd;

	snprintf(path, sizeof(path), "%s/signetd.lock", state_dir);
	if ((fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) < 0)
		return -1;
	if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}
