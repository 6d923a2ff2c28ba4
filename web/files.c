#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <civetweb.h>

#include "files.h"
#include "http.h"
#include "log.h"

#define FILES_CHUNK	65536

struct files {
	int dirfd;
};

/* Only these types are served; anything else is not part of the web
 * interface and answers 404. Exact types with charsets, so that
 * X-Content-Type-Options: nosniff has nothing to guess. */
static const struct {
	const char *ext;
	const char *type;
} files_types[] = {
	{ ".html", "text/html; charset=utf-8" },
	{ ".js", "text/javascript; charset=utf-8" },
	{ ".css", "text/css; charset=utf-8" },
	{ ".svg", "image/svg+xml" },
	{ ".png", "image/png" },
	{ ".ico", "image/x-icon" },
	{ ".json", "application/json; charset=utf-8" },
	{ ".txt", "text/plain; charset=utf-8" },
	{ ".woff2", "font/woff2" },
};

static const char *
files_type(const char *path)
{
	const char *dot = strrchr(path, '.');
	size_t i;

	if (dot == NULL || strchr(dot, '/') != NULL)
		return NULL;
	for (i = 0; i < sizeof(files_types) / sizeof(files_types[0]); i++)
		if (strcmp(dot, files_types[i].ext) == 0)
			return files_types[i].type;
	return NULL;
}

/* The allow-list keeps out '%' (decode_url is off: an encoded "..%2f"
 * stays literal), '\\', NUL and controls; the dot rule keeps out "..",
 * "." and hidden files. */
int
files_valid_path(const char *p)
{
	size_t i, n = strlen(p), depth = 1;

	if (n == 0 || n >= FILES_MAX_PATH || p[0] == '.' || p[0] == '/')
		return 0;
	for (i = 0; i < n; i++) {
		char ch = p[i];

		if (ch == '/') {
			if (++depth > FILES_MAX_DEPTH || p[i + 1] == '\0' ||
			    p[i + 1] == '/' || p[i + 1] == '.')
				return 0;
			continue;
		}
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		    (ch >= '0' && ch <= '9') || ch == '-' || ch == '_' ||
		    ch == '.'))
			return 0;
	}
	return 1;
}

/* Opens path beneath dirfd one segment at a time, following no symbolic
 * link on the way, so nothing outside the root is reachable even if the
 * root holds a link. -1 with errno on failure. */
static int
files_openat(int dirfd, const char *path)
{
	char buf[FILES_MAX_PATH], *seg, *slash;
	int fd = dirfd, next;

	if (snprintf(buf, sizeof(buf), "%s", path) >= (int)sizeof(buf)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	for (seg = buf; (slash = strchr(seg, '/')) != NULL; seg = slash + 1) {
		*slash = '\0';
		next = openat(fd, seg, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
		    O_CLOEXEC);
		if (fd != dirfd)
			close(fd);
		if (next < 0)
			return -1;
		fd = next;
	}
	/* O_NONBLOCK: a FIFO must not hang the thread; it is then refused
	 * as not a regular file */
	next = openat(fd, seg, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd != dirfd)
		close(fd);
	return next;
}

/* What every answer of this handler carries: the page policy. */
static void
files_headers(struct mg_connection *c)
{
	http_common_headers(c);
	http_page_headers(c);
}

static void
files_refuse(struct mg_connection *c, int status, const char *msg)
{
	char len[32];

	mg_response_header_start(c, status);
	mg_response_header_add(c, "Content-Type", "text/plain; charset=utf-8",
	    -1);
	snprintf(len, sizeof(len), "%zu", strlen(msg));
	mg_response_header_add(c, "Content-Length", len, -1);
	if (status == 405)
		mg_response_header_add(c, "Allow", "GET, HEAD", -1);
	files_headers(c);
	mg_response_header_send(c);
	mg_write(c, msg, strlen(msg));
}

int
files_handler(struct mg_connection *c, void *arg)
{
	const struct mg_request_info *ri = mg_get_request_info(c);
	const struct files *f = arg;
	const char *path, *type;
	char len[32], buf[FILES_CHUNK];
	struct stat st;
	uint64_t left;
	ssize_t n;
	int fd = -1, head;

	head = strcmp(ri->request_method, "HEAD") == 0;
	if (!head && strcmp(ri->request_method, "GET") != 0) {
		files_refuse(c, 405, "method not allowed\n");
		return 1;
	}
	if (f == NULL) {
		files_refuse(c, 404, "this appliance has no web interface "
		    "installed ([server] web_root)\n");
		return 1;
	}
	path = strcmp(ri->local_uri, "/") == 0 ? "index.html" :
	    ri->local_uri + 1;
	if (ri->local_uri[0] != '/' || !files_valid_path(path) ||
	    (type = files_type(path)) == NULL ||
	    (fd = files_openat(f->dirfd, path)) < 0 ||
	    fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		if (fd >= 0)
			close(fd);
		files_refuse(c, 404, "not found\n");
		return 1;
	}
	mg_response_header_start(c, 200);
	mg_response_header_add(c, "Content-Type", type, -1);
	snprintf(len, sizeof(len), "%llu", (unsigned long long)st.st_size);
	mg_response_header_add(c, "Content-Length", len, -1);
	files_headers(c);
	mg_response_header_send(c);
	for (left = head ? 0 : (uint64_t)st.st_size; left > 0;
	    left -= (uint64_t)n) {
		n = read(fd, buf, left < sizeof(buf) ? left : sizeof(buf));
		if (n <= 0 || mg_write(c, buf, (size_t)n) <= 0)
			break;
	}
	close(fd);
	return 1;
}

static int
files_is_dir(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

int
files_find_root(const char *configured, char *out, size_t len)
{
	static const char *const rel[] = {
		"../web/static", "../share/signet/web",
	};
	char self[PATH_MAX], *dir;
	ssize_t n;
	size_t i;

	if (out == NULL || len == 0)
		return SIGNET_ERR_INVALID;
	if (configured != NULL) {
		snprintf(out, len, "%s", configured);
		return files_is_dir(out) ? 0 : SIGNET_ERR_NOT_FOUND;
	}
	if ((n = readlink("/proc/self/exe", self, sizeof(self) - 1)) > 0) {
		self[n] = '\0';
		dir = dirname(self);
		for (i = 0; i < sizeof(rel) / sizeof(rel[0]); i++) {
			snprintf(out, len, "%s/%s", dir, rel[i]);
			if (files_is_dir(out))
				return 0;
		}
	}
	snprintf(out, len, "%s", "/usr/share/signet/web");
	return files_is_dir(out) ? 0 : SIGNET_ERR_NOT_FOUND;
}

int
files_open(const char *root, struct files **out)
{
	struct files *f;

	*out = NULL;
	if ((f = calloc(1, sizeof(*f))) == NULL)
		return SIGNET_ERR_NOMEM;
	if ((f->dirfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		log_err("files: %s: %s", root, strerror(errno));
		free(f);
		return SIGNET_ERR_IO;
	}
	*out = f;
	return 0;
}

void
files_close(struct files *f)
{
	if (f == NULL)
		return;
	close(f->dirfd);
	free(f);
}
