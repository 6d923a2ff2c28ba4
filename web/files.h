/* The web interface's static files, served from one directory ([server]
 * web_root) by our own handler rather than CivetWeb's document_root: an
 * allow-list of path characters and file types, no directory listings,
 * no symbolic links, and the page security headers on every answer. */
#ifndef SIGNET_FILES_H
#define SIGNET_FILES_H

#include <stddef.h>

#include "err.h"

/* a path below the root: shorter than this, this many segments at most */
#define FILES_MAX_PATH	256
#define FILES_MAX_DEPTH	8

struct files;
struct mg_connection;

/* 1 when p may name a file below the root: relative, shorter than
 * FILES_MAX_PATH, at most FILES_MAX_DEPTH segments of letters, digits,
 * '-', '_' and '.', none empty and none starting with a dot. Pure: the
 * request handler's check, exposed for the unit tests. */
int files_valid_path(const char *p);

/* The directory to serve: configured (must exist), else the source
 * tree's web/static next to the build directory, else an installed
 * share/signet/web; SIGNET_ERR_NOT_FOUND when there is none. */
int files_find_root(const char *configured, char *out,
    size_t len) SIGNET_WUR;
/* Opens root (kept open: the handler resolves paths beneath it). */
int files_open(const char *root, struct files **out) SIGNET_WUR;
void files_close(struct files *f);	/* accepts NULL */
/* CivetWeb request handler; files may be NULL (no web interface: 404). */
int files_handler(struct mg_connection *c, void *files);

#endif
