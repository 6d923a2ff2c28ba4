/* The officer console's connections in signetd (console_srv.h): the
 * unix socket, one thread that accepts and checks each peer, one thread
 * that serves each console connection. A connection holds at most one
 * officer session, which ends with the connection; the operations it
 * runs are console_ops.c's. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "app.h"
#include "consproto.h"
#include "console_int.h"
#include "console_srv.h"
#include "log.h"

static int64_t
console_srv_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The console protocol's word for an error is the error table's
 * (err.h). */
static const char *
console_srv_code(int err)
{
	return signet_err_wire(err);
}

/* Runs one request; returns CONSOLE_SRV_CLOSE when the connection ends. */
static int
console_srv_dispatch(struct console_conn *c, json_t *req)
{
	const struct console_srv_op *op = NULL;
	struct console_srv_ctx x;
	const char *name = json_string_value(json_object_get(req, "op"));
	json_t *rep = NULL;
	int64_t now = console_srv_now_ms();
	int r = SIGNET_ERR_INTERNAL, flags;

	memset(&x, 0, sizeof(x));
	x.c = c;
	x.req = req;
	if ((op = console_srv_op_find(name)) == NULL) {
		r = console_srv_msg(&x, SIGNET_ERR_INVALID, "unknown op");
		name = NULL;
		goto reply;
	}
	if (op->need_login && c->logged_in && now - c->last_activity >
	    (int64_t)c->srv->app->cfg.console_idle * 1000) {
		console_srv_end_session(c, "idle");
		x.flags |= CONSOLE_SRV_CLOSE;
		r = console_srv_msg(&x, SIGNET_ERR_UNAUTHENTICATED, "logged "
		    "out after %u s without activity", c->srv->app->cfg.console_idle);
		goto reply;
	}
	if (!json_is_true(json_object_get(req, "poll")))
		c->last_activity = now;
	if (op->need_login && (r = console_srv_check_session(&x)) != 0)
		goto reply;
	r = op->fn(&x);
reply:
	flags = x.flags;
	if (!(flags & CONSOLE_SRV_ANSWERED)) {
		if (r == 0) {
			rep = x.rep;
			x.rep = NULL;
			json_object_set_new(rep, "ok", json_true());
		} else {
			if (x.msg[0] == '\0')
				snprintf(x.msg, sizeof(x.msg), "%s",
				    signet_strerror(r));
			rep = json_pack("{s:b, s:s, s:s}", "ok", 0, "error",
			    console_srv_code(r), "message", x.msg);
		}
		if (rep != NULL && name != NULL)
			json_object_set_new(rep, "op", json_string(name));
		if (rep == NULL || consproto_send(c->fd, rep,
		    SIGNET_MAX_CONSOLE_REPLY) != 0)
			flags |= CONSOLE_SRV_CLOSE;
	}
	json_decref(rep);
	json_decref(x.rep);
	json_decref(x.user);
	return flags & CONSOLE_SRV_CLOSE;
}

/* --- connections ---------------------------------------------------- */

static void
console_srv_refuse(int fd, const char *code, const char *msg)
{
	json_t *rep = json_pack("{s:b, s:s, s:s}", "ok", 0, "error", code,
	    "message", msg);

	if (rep != NULL && consproto_send(fd, rep, SIGNET_MAX_CONSOLE_REPLY) !=
	    0)
		log_debug("console: could not tell a refused peer why");
	json_decref(rep);
}

static void *
console_srv_conn_main(void *arg)
{
	struct console_conn *c = arg;
	struct console_srv *s = c->srv;
	json_t *req = NULL;
	int64_t wait;
	int r;

	c->last_activity = console_srv_now_ms();
	for (;;) {
		/* nothing at all for a whole idle period: the console is
		 * gone or asleep, and so is the officer's session */
		wait = (int64_t)s->app->cfg.console_idle * 1000 -
		    (console_srv_now_ms() - c->last_activity);
		if (!c->logged_in)
			wait = (int64_t)s->app->cfg.console_idle * 1000;
		r = consproto_recv(c->fd, wait < 0 ? 0 : (int)wait,
		    SIGNET_MAX_CONSOLE_REQUEST, &req);
		if (r == SIGNET_ERR_UNAVAILABLE) {
			if (c->logged_in) {
				console_srv_end_session(c, "idle");
				console_srv_refuse(c->fd, "unauthenticated",
				    "logged out after a period without "
				    "activity");
			}
			break;
		}
		if (r == SIGNET_ERR_TOO_LARGE || r == SIGNET_ERR_INVALID) {
			console_srv_refuse(c->fd, "invalid", r ==
			    SIGNET_ERR_TOO_LARGE ? "a request is at most 64 KiB"
			    : "a request is one JSON object");
			break;
		}
		if (r != 0)
			break;
		/* a password is wiped as soon as the request is done */
		r = console_srv_dispatch(c, req);
		consproto_wipe_string(req, "password");
		json_decref(req);
		req = NULL;
		if (r != 0)
			break;
	}
	console_srv_end_session(c, "connection closed");
	pthread_mutex_lock(&s->mu);
	s->conns[c->slot] = -1;
	close(c->fd);
	s->nconn--;
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
	OPENSSL_cleanse(c, sizeof(*c));
	free(c);
	return NULL;
}

static int
console_srv_uid_ok(const struct console_srv *s, uid_t uid)
{
	size_t i;

	for (i = 0; i < s->nuids; i++)
		if (s->uids[i] == (uint32_t)uid)
			return 1;
	return 0;
}

static void
console_srv_accept_one(struct console_srv *s, int fd)
{
	struct console_conn *c = NULL;
	struct ucred cr;
	socklen_t len = sizeof(cr);
	pthread_attr_t attr;
	pthread_t th;
	int i, slot = -1;

	/* the kernel's word on who connected, not anything they say */
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) != 0 ||
	    len != sizeof(cr)) {
		log_err("console: SO_PEERCRED: %s", strerror(errno));
		close(fd);
		return;
	}
	if (!console_srv_uid_ok(s, cr.uid)) {
		log_warn("console: refused a connection from uid %lu (pid "
		    "%ld); see [console] allowed_uids", (unsigned long)cr.uid,
		    (long)cr.pid);
		console_srv_refuse(fd, "forbidden", "this user may not use the "
		    "officer console");
		close(fd);
		return;
	}
	pthread_mutex_lock(&s->mu);
	for (i = 0; i < CONSOLE_SRV_MAX_CONN && !s->stopping; i++)
		if (s->conns[i] < 0) {
			slot = i;
			break;
		}
	if (slot >= 0) {
		s->conns[slot] = fd;
		s->nconn++;
	}
	pthread_mutex_unlock(&s->mu);
	if (slot < 0) {
		console_srv_refuse(fd, "unavailable", "too many consoles are "
		    "connected");
		close(fd);
		return;
	}
	if ((c = calloc(1, sizeof(*c))) == NULL)
		goto fail;
	c->srv = s;
	c->fd = fd;
	c->slot = slot;
	c->uid = cr.uid;
	c->pid = cr.pid;
	if (pthread_attr_init(&attr) != 0)
		goto fail;
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	i = pthread_create(&th, &attr, console_srv_conn_main, c);
	pthread_attr_destroy(&attr);
	if (i != 0)
		goto fail;
	log_info("console: connection from uid %lu (pid %ld)",
	    (unsigned long)cr.uid, (long)cr.pid);
	return;
fail:
	log_err("console: cannot serve a connection");
	free(c);
	pthread_mutex_lock(&s->mu);
	s->conns[slot] = -1;
	s->nconn--;
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
	close(fd);
}

static void *
console_srv_accept_main(void *arg)
{
	struct console_srv *s = arg;
	struct pollfd p[2];
	int fd;

	for (;;) {
		p[0].fd = s->lfd;
		p[0].events = POLLIN;
		p[1].fd = s->wake[0];
		p[1].events = POLLIN;
		p[0].revents = p[1].revents = 0;
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			log_err("console: poll: %s", strerror(errno));
			return NULL;
		}
		if (p[1].revents != 0)
			return NULL;
		if (!(p[0].revents & POLLIN))
			continue;
		fd = accept4(s->lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno != EINTR && errno != EAGAIN &&
			    errno != ECONNABORTED)
				log_warn("console: accept: %s",
				    strerror(errno));
			continue;
		}
		console_srv_accept_one(s, fd);
	}
}

/* A socket file left by an earlier run is replaced; anything else at the
 * path is not ours to remove. */
static int
console_srv_clear_path(const char *path)
{
	struct stat sb;

	if (lstat(path, &sb) != 0)
		return errno == ENOENT ? 0 : SIGNET_ERR_IO;
	if (!S_ISSOCK(sb.st_mode)) {
		log_err("console: %s exists and is not a socket", path);
		return SIGNET_ERR_CONFIG;
	}
	return unlink(path) == 0 ? 0 : SIGNET_ERR_IO;
}

int
console_srv_start(struct app *app, struct console_srv **out)
{
	struct console_srv *s = NULL;
	struct sockaddr_un sa;
	size_t i;
	int r = SIGNET_ERR_INTERNAL;

	*out = NULL;
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return SIGNET_ERR_NOMEM;
	s->app = app;
	s->lfd = -1;
	s->wake[0] = s->wake[1] = -1;
	for (i = 0; i < CONSOLE_SRV_MAX_CONN; i++)
		s->conns[i] = -1;
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->cv, NULL);
	s->up.session_ttl = app->cfg.session_ttl;
	s->up.lockout_failures = app->cfg.lockout_failures;
	s->up.lockout_seconds = app->cfg.lockout_seconds;
	if (app->cfg.n_console_uids > 0) {
		memcpy(s->uids, app->cfg.console_uids,
		    app->cfg.n_console_uids * sizeof(s->uids[0]));
		s->nuids = app->cfg.n_console_uids;
	} else {
		/* root, and whoever signetd runs as */
		s->uids[s->nuids++] = 0;
		if (geteuid() != 0)
			s->uids[s->nuids++] = (uint32_t)geteuid();
	}
	if (app->cfg.console_socket == NULL || strlen(app->cfg.console_socket) >=
	    sizeof(sa.sun_path)) {
		log_err("console: [console] socket must be a path shorter than "
		    "%zu bytes", sizeof(sa.sun_path));
		r = SIGNET_ERR_CONFIG;
		goto fail;
	}
	snprintf(s->path, sizeof(s->path), "%s", app->cfg.console_socket);
	if ((r = console_srv_clear_path(s->path)) != 0) {
		log_err("console: cannot replace %s", s->path);
		goto fail;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, s->path, strlen(s->path));
	if ((s->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0 ||
	    bind(s->lfd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
	    chmod(s->path, 0600) != 0 || listen(s->lfd, CONSOLE_SRV_MAX_CONN)
	    != 0 || pipe2(s->wake, O_CLOEXEC) != 0) {
		log_err("console: %s: %s", s->path, strerror(errno));
		r = SIGNET_ERR_IO;
		goto fail;
	}
	if (pthread_create(&s->acceptor, NULL, console_srv_accept_main,
	    s) != 0) {
		r = SIGNET_ERR_INTERNAL;
		goto fail;
	}
	s->started = 1;
	log_info("console: listening on %s", s->path);
	*out = s;
	return 0;
fail:
	console_srv_stop(s);
	return r;
}

void
console_srv_stop(struct console_srv *s)
{
	int i;

	if (s == NULL)
		return;
	if (s->started) {
		if (write(s->wake[1], "x", 1) != 1)
			log_err("console: cannot wake the acceptor");
		pthread_join(s->acceptor, NULL);
	}
	/* every connection thread wakes on the shut-down socket, logs its
	 * officer out and leaves */
	pthread_mutex_lock(&s->mu);
	s->stopping = 1;
	for (i = 0; i < CONSOLE_SRV_MAX_CONN; i++)
		if (s->conns[i] >= 0)
			shutdown(s->conns[i], SHUT_RDWR);
	while (s->nconn > 0)
		pthread_cond_wait(&s->cv, &s->mu);
	pthread_mutex_unlock(&s->mu);
	if (s->lfd >= 0) {
		close(s->lfd);
		if (s->path[0] != '\0')
			unlink(s->path);
	}
	if (s->wake[0] >= 0)
		close(s->wake[0]);
	if (s->wake[1] >= 0)
		close(s->wake[1]);
	pthread_cond_destroy(&s->cv);
	pthread_mutex_destroy(&s->mu);
	free(s);
}
