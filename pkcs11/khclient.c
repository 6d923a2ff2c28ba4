#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pthread.h>
#include <pwd.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/x509.h>

#include "log.h"
#include "khclient.h"
#include "khproto.h"
#include "metrics.h"

/* The keyholder's end of the socketpair, by convention (PROTOCOL.md). */
#define KH_CHILD_FD	3
#define KH_MAX_ARGS	16
#define KH_MAX_ENV	64
/* How long kh_free waits for a keyholder to leave on EOF before it kills
 * it: a token operation in progress may take a moment. */
#define KH_EXIT_WAIT_MS	3000

/* A request in flight: its place holds the caller's reply buffer until
 * the reader thread has put the reply there. */
struct kh_wait {
	uint32_t id;
	bool busy;		/* a caller owns the place */
	bool done;		/* its reply is in rep[0..len) */
	uint8_t *rep;		/* KH_MAX_FRAME */
	size_t len;
	pthread_cond_t cv;
};

/* Requests go out from any thread at once, each with an id of its own;
 * one reader thread takes the replies and hands each to the caller whose
 * id it names, in whatever order the keyholder answers (PROTOCOL.md). */
struct kh {
	pthread_mutex_t lock;	/* everything below but fd and pid */
	pthread_mutex_t send;	/* one frame at a time on the socket */
	/* a login and the STATUS it depends on, or a SIGN before the
	 * keyholder said it is logged in, with its STATUS: no other
	 * thread's login comes between */
	pthread_mutex_t state;
	pthread_cond_t room;	/* a place freed */
	int fd;
	pid_t pid;
	pthread_t reader;
	bool have_reader;
	bool broken;		/* the stream is unusable: I/O failed */
	bool closing;		/* kh_free ends the stream itself */
	/* The keyholder said it is logged in (a STATUS or a login reply):
	 * it stays so, it has no logout. Until then SIGN and GENERATE are
	 * checked against a fresh STATUS, since in the wrong state they are
	 * violations that end the keyholder. */
	bool logged_in;
	uint32_t next_id;
	struct kh_wait wait[SIGNET_KH_MAX_INFLIGHT];
};

int
kh_pid(const struct kh *kh)
{
	return kh == NULL ? -1 : (int)kh->pid;
}

static void
free_vec(char **v)
{
	size_t i;

	if (v == NULL)
		return;
	for (i = 0; v[i] != NULL; i++)
		free(v[i]);
	free(v);
}

/* argv and envp are built before fork: after fork in a threaded program
 * the child may only call async-signal-safe functions, malloc is not. */
static int
build_argv(const struct kh_spawn_opts *o, char ***out)
{
	const char *a[KH_MAX_ARGS];
	char **v = NULL, sess[16];
	size_t n = 0, i;

	*out = NULL;
	a[n++] = o->path;
	a[n++] = "--fd";
	a[n++] = "3";
	a[n++] = "--module";
	a[n++] = o->module;
	if (o->token_label != NULL) {
		a[n++] = "--token";
		a[n++] = o->token_label;
	}
	if (o->pin_file != NULL) {
		a[n++] = "--pin-file";
		a[n++] = o->pin_file;
	}
	a[n++] = "--journal";
	a[n++] = o->journal;
	if (o->no_generate)
		a[n++] = "--no-generate";
	if (o->sessions > 0) {
		if (o->sessions > SIGNET_KH_MAX_SESSIONS)
			return SIGNET_ERR_INVALID;
		snprintf(sess, sizeof(sess), "%u", o->sessions);
		a[n++] = "--sessions";
		a[n++] = sess;
	}
	if ((v = calloc(n + 1, sizeof(*v))) == NULL)
		return SIGNET_ERR_NOMEM;
	for (i = 0; i < n; i++) {
		if ((v[i] = strdup(a[i])) == NULL) {
			free_vec(v);
			return SIGNET_ERR_NOMEM;
		}
	}
	*out = v;
	return 0;
}

static int
build_envp(const char *const *env, char ***out)
{
	char **v = NULL;
	size_t n = 0, i;

	*out = NULL;
	while (env != NULL && env[n] != NULL) {
		if (++n > KH_MAX_ENV || strchr(env[n - 1], '=') == NULL)
			return SIGNET_ERR_INVALID;
	}
	if ((v = calloc(n + 1, sizeof(*v))) == NULL)
		return SIGNET_ERR_NOMEM;
	for (i = 0; i < n; i++) {
		if ((v[i] = strdup(env[i])) == NULL) {
			free_vec(v);
			return SIGNET_ERR_NOMEM;
		}
	}
	*out = v;
	return 0;
}

/* The child between fork and execve: async-signal-safe calls only. Any
 * failure is reported as an errno on the status pipe. */
static void __attribute__((noreturn))
child(int sock, int status, char **argv, char **envp, bool drop, uid_t uid,
    gid_t gid)
{
	sigset_t all;
	int err;

	sigemptyset(&all);
	/* signetd's threads may block signals; the keyholder must not
	 * inherit that mask across execve */
	sigprocmask(SIG_SETMASK, &all, NULL);
	/* the status pipe goes out of the way of fd 3 first, then lands on
	 * fd 4 where closefrom spares it; it is close-on-exec, so it goes
	 * away with a successful execve */
	if ((status = fcntl(status, F_DUPFD_CLOEXEC, KH_CHILD_FD + 2)) < 0)
		goto fail;
	if (sock == KH_CHILD_FD) {
		if (fcntl(sock, F_SETFD, 0) != 0)
			goto fail;
	} else if (dup2(sock, KH_CHILD_FD) != KH_CHILD_FD)
		goto fail;
	if (dup3(status, KH_CHILD_FD + 1, O_CLOEXEC) < 0)
		goto fail;
	status = KH_CHILD_FD + 1;
	closefrom(KH_CHILD_FD + 2);
	if (drop) {
		if (setgroups(1, &gid) != 0 || setgid(gid) != 0 ||
		    setuid(uid) != 0)
			goto fail;
		/* must not be able to get root back */
		if (setuid(0) == 0) {
			errno = EPERM;
			goto fail;
		}
	}
	execve(argv[0], argv, envp);
 fail:
	err = errno;
	(void)!write(status, &err, sizeof(err));
	_exit(127);
}

static void *reader_main(void *arg);

static struct kh *
kh_new(void)
{
	struct kh *kh;
	size_t i;

	if ((kh = calloc(1, sizeof(*kh))) == NULL)
		return NULL;
	kh->fd = -1;
	kh->pid = -1;
	if (pthread_mutex_init(&kh->lock, NULL) != 0) {
		free(kh);
		return NULL;
	}
	pthread_mutex_init(&kh->send, NULL);
	pthread_mutex_init(&kh->state, NULL);
	pthread_cond_init(&kh->room, NULL);
	for (i = 0; i < SIGNET_KH_MAX_INFLIGHT; i++)
		pthread_cond_init(&kh->wait[i].cv, NULL);
	return kh;
}

/* The reader starts once the socket is there: after the fork, so the
 * keyholder is started from a process without threads. */
static int
kh_start_reader(struct kh *kh)
{
	if (pthread_create(&kh->reader, NULL, reader_main, kh) != 0) {
		log_err("cannot start the keyholder reader");
		return SIGNET_ERR_INTERNAL;
	}
	kh->have_reader = true;
	return 0;
}

int
kh_spawn(const struct kh_spawn_opts *o, struct kh **out)
{
	struct kh *kh = NULL;
	char **argv = NULL, **envp = NULL;
	struct passwd *pw;
	int sv[2] = { -1, -1 }, pp[2] = { -1, -1 };
	bool drop = false;
	uid_t uid = 0;
	gid_t gid = 0;
	ssize_t got;
	pid_t pid;
	int err, r = SIGNET_ERR_INTERNAL;

	*out = NULL;
	if (o == NULL || o->path == NULL || o->module == NULL ||
	    o->journal == NULL)
		return SIGNET_ERR_INVALID;
	if (o->user != NULL && geteuid() == 0) {
		if ((pw = getpwnam(o->user)) == NULL) {
			log_err("keyholder user %s does not exist", o->user);
			return SIGNET_ERR_CONFIG;
		}
		uid = pw->pw_uid;
		gid = pw->pw_gid;
		drop = uid != 0;
	}
	if ((r = build_argv(o, &argv)) != 0 ||
	    (r = build_envp(o->env, &envp)) != 0)
		goto out;
	if ((kh = kh_new()) == NULL) {
		r = SIGNET_ERR_NOMEM;
		goto out;
	}
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0 ||
	    pipe2(pp, O_CLOEXEC) != 0) {
		log_err("keyholder socketpair: %s", strerror(errno));
		r = SIGNET_ERR_KEYHOLDER;
		goto out;
	}
	if ((pid = fork()) < 0) {
		log_err("fork keyholder: %s", strerror(errno));
		r = SIGNET_ERR_KEYHOLDER;
		goto out;
	}
	if (pid == 0)
		child(sv[1], pp[1], argv, envp, drop, uid, gid);
	kh->pid = pid;
	close(sv[1]);
	sv[1] = -1;
	close(pp[1]);
	pp[1] = -1;
	/* EOF: execve succeeded and closed the pipe; an int: it failed */
	do {
		got = read(pp[0], &err, sizeof(err));
	} while (got < 0 && errno == EINTR);
	if (got != 0) {
		log_err("cannot start keyholder %s: %s", o->path,
		    got == (ssize_t)sizeof(err) ? strerror(err) : "unknown");
		r = SIGNET_ERR_KEYHOLDER;
		goto out;
	}
	kh->fd = sv[0];
	sv[0] = -1;
	if ((r = kh_start_reader(kh)) != 0)
		goto out;
	log_info("keyholder started (pid %d)", (int)pid);
	*out = kh;
	kh = NULL;
	r = 0;
 out:
	kh_free(kh);
	if (sv[0] >= 0)
		close(sv[0]);
	if (sv[1] >= 0)
		close(sv[1]);
	if (pp[0] >= 0)
		close(pp[0]);
	if (pp[1] >= 0)
		close(pp[1]);
	free_vec(argv);
	free_vec(envp);
	return r;
}

static void
reap(pid_t pid)
{
	struct timespec ts = { 0, 10 * 1000 * 1000 };
	int i, status;
	pid_t w;

	for (i = 0; i < KH_EXIT_WAIT_MS / 10; i++) {
		w = waitpid(pid, &status, WNOHANG);
		if (w == pid || (w < 0 && errno != EINTR))
			return;
		nanosleep(&ts, NULL);
	}
	log_warn("keyholder (pid %d) did not exit; killing it", (int)pid);
	kill(pid, SIGKILL);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
}

void
kh_free(struct kh *kh)
{
	size_t i;

	if (kh == NULL)
		return;
	/* EOF on its socket is the keyholder's signal to leave; the reader
	 * sees its end too */
	pthread_mutex_lock(&kh->lock);
	kh->closing = true;
	pthread_mutex_unlock(&kh->lock);
	if (kh->fd >= 0)
		shutdown(kh->fd, SHUT_RDWR);
	if (kh->have_reader)
		pthread_join(kh->reader, NULL);
	if (kh->fd >= 0)
		close(kh->fd);
	if (kh->pid > 0)
		reap(kh->pid);
	for (i = 0; i < SIGNET_KH_MAX_INFLIGHT; i++)
		pthread_cond_destroy(&kh->wait[i].cv);
	pthread_cond_destroy(&kh->room);
	pthread_mutex_destroy(&kh->state);
	pthread_mutex_destroy(&kh->send);
	pthread_mutex_destroy(&kh->lock);
	free(kh);
}

int
kh_connect(const char *path, struct kh **out)
{
	struct sockaddr_un sa;
	struct kh *kh = NULL;
	int fd = -1, r = SIGNET_ERR_INVALID;

	*out = NULL;
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	if (path == NULL || strlen(path) >= sizeof(sa.sun_path))
		goto out;
	memcpy(sa.sun_path, path, strlen(path));
	r = SIGNET_ERR_KEYHOLDER;
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0 ||
	    connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		log_err("cannot connect to the keyholder at %s: %s", path,
		    strerror(errno));
		goto out;
	}
	if ((kh = kh_new()) == NULL) {
		r = SIGNET_ERR_NOMEM;
		goto out;
	}
	kh->fd = fd;
	fd = -1;
	if ((r = kh_start_reader(kh)) != 0) {
		kh_free(kh);
		goto out;
	}
	log_info("connected to the keyholder at %s", path);
	*out = kh;
	r = 0;
 out:
	if (fd >= 0)
		close(fd);
	return r;
}

bool
kh_gone(const struct kh *kh)
{
	/* events 0: only hang-up and error are reported, nothing is read */
	struct pollfd p = { .fd = kh == NULL ? -1 : kh->fd, .events = 0 };

	if (kh == NULL || kh->fd < 0)
		return true;
	return poll(&p, 1, 0) == 1 && (p.revents & (POLLHUP | POLLERR)) != 0;
}

/* A reply buffer per call: 16 KiB is too much for some threads' stacks. */
static uint8_t *
rep_alloc(void)
{
	return malloc(KH_MAX_FRAME);
}

/* With kh->lock held: nothing more can be trusted on the stream, and
 * every caller still waiting learns so. */
static void
break_locked(struct kh *kh, const char *why)
{
	size_t i;

	if (!kh->broken && !kh->closing)
		log_err("keyholder (pid %d): %s", (int)kh->pid, why);
	kh->broken = true;
	for (i = 0; i < SIGNET_KH_MAX_INFLIGHT; i++)
		pthread_cond_signal(&kh->wait[i].cv);
	pthread_cond_broadcast(&kh->room);
}

/* The reader thread: every reply goes to the place its id names. A reply
 * nobody waits for, or one that cannot be a reply at all, puts the stream
 * out of step for good. */
static void *
reader_main(void *arg)
{
	struct kh *kh = arg;
	struct kh_wait *w;
	struct rd body;
	uint8_t *buf;
	uint8_t type;
	uint32_t id;
	size_t len, i;
	int r;

	if ((buf = malloc(KH_MAX_FRAME)) == NULL) {
		pthread_mutex_lock(&kh->lock);
		break_locked(kh, "no memory for replies");
		pthread_mutex_unlock(&kh->lock);
		return NULL;
	}
	for (;;) {
		r = khproto_recv(kh->fd, buf, &len);
		pthread_mutex_lock(&kh->lock);
		if (r != 0) {
			break_locked(kh, r == SIGNET_ERR_PROTOCOL ?
			    "reply length out of range" : "connection lost");
			pthread_mutex_unlock(&kh->lock);
			break;
		}
		w = NULL;
		if (khproto_open(buf, len, &type, &id, &body) == 0) {
			for (i = 0; i < SIGNET_KH_MAX_INFLIGHT; i++) {
				if (kh->wait[i].busy && !kh->wait[i].done &&
				    kh->wait[i].id == id) {
					w = &kh->wait[i];
					break;
				}
			}
		}
		if (w == NULL) {
			break_locked(kh, "a reply to no request");
			pthread_mutex_unlock(&kh->lock);
			break;
		}
		memcpy(w->rep, buf, len);
		w->len = len;
		w->done = true;
		pthread_cond_signal(&w->cv);
		pthread_mutex_unlock(&kh->lock);
	}
	OPENSSL_cleanse(buf, KH_MAX_FRAME);
	free(buf);
	return NULL;
}

/* One round trip: sends req (a whole frame, with the descriptor pass
 * when it is not -1) under an id of its own, waits for the reply in
 * rep[KH_MAX_FRAME] and checks it answers req: the request's reply type,
 * or a failure reply whose code is returned. On success *body reads the
 * reply's body. No lock is held while the keyholder works. */
static int
call_fd(struct kh *kh, struct wbuf *req, int pass, uint8_t *rep,
    struct rd *body)
{
	struct kh_failure f;
	struct kh_wait *w = NULL;
	size_t i, len = 0;
	uint32_t id;
	uint8_t type;
	int r;

	if (req->buf == NULL || req->len < KH_FRAME_HDR + KH_MSG_HDR)
		return SIGNET_ERR_INTERNAL;
	pthread_mutex_lock(&kh->lock);
	while (!kh->broken) {
		for (i = 0; i < SIGNET_KH_MAX_INFLIGHT; i++) {
			if (!kh->wait[i].busy) {
				w = &kh->wait[i];
				break;
			}
		}
		if (w != NULL)
			break;
		pthread_cond_wait(&kh->room, &kh->lock);
	}
	if (kh->broken) {
		pthread_mutex_unlock(&kh->lock);
		return SIGNET_ERR_KEYHOLDER;
	}
	w->busy = true;
	w->done = false;
	w->rep = rep;
	w->id = id = kh->next_id++;
	pthread_mutex_unlock(&kh->lock);

	if ((r = khproto_set_id(req->buf, req->len, id)) != 0)
		goto release;
	pthread_mutex_lock(&kh->send);
	r = pass >= 0 ? khproto_send_fd(kh->fd, req->buf, req->len, pass) :
	    khproto_send(kh->fd, req->buf, req->len);
	pthread_mutex_unlock(&kh->send);

	pthread_mutex_lock(&kh->lock);
	if (r != 0) {
		/* a half-written request leaves the stream out of step */
		break_locked(kh, "connection lost");
	}
	while (!w->done && !kh->broken)
		pthread_cond_wait(&w->cv, &kh->lock);
	r = w->done ? 0 : SIGNET_ERR_KEYHOLDER;
	len = w->len;
	w->busy = false;
	w->done = false;
	w->rep = NULL;
	pthread_cond_signal(&kh->room);
	pthread_mutex_unlock(&kh->lock);
	if (r != 0)
		return r;
	if (khproto_open(rep, len, &type, &id, body) != 0)
		return SIGNET_ERR_PROTOCOL;
	if (type == KH_MSG_FAILURE) {
		if (khproto_dec_failure(body, &f) != 0)
			return SIGNET_ERR_PROTOCOL;
		/* codes about the channel itself are ours to decide */
		if (f.code == SIGNET_ERR_KEYHOLDER)
			return SIGNET_ERR_PROTOCOL;
		return f.code;
	}
	if (type != (req->buf[KH_FRAME_HDR] | KH_MSG_REPLY)) {
		log_err("keyholder answered 0x%02x to 0x%02x", type,
		    req->buf[KH_FRAME_HDR]);
		return SIGNET_ERR_PROTOCOL;
	}
	return 0;
 release:
	pthread_mutex_lock(&kh->lock);
	w->busy = false;
	w->rep = NULL;
	pthread_cond_signal(&kh->room);
	pthread_mutex_unlock(&kh->lock);
	return r;
}

static int
call(struct kh *kh, struct wbuf *req, uint8_t *rep, struct rd *body)
{
	return call_fd(kh, req, -1, rep, body);
}

static bool
known_logged_in(struct kh *kh)
{
	bool yes;

	pthread_mutex_lock(&kh->lock);
	yes = kh->logged_in;
	pthread_mutex_unlock(&kh->lock);
	return yes;
}

static void
set_logged_in(struct kh *kh)
{
	pthread_mutex_lock(&kh->lock);
	kh->logged_in = true;
	pthread_mutex_unlock(&kh->lock);
}

/* With kh->state held: whether the keyholder is logged in, asked with a
 * STATUS unless it already said so. */
static int
logged_in_locked(struct kh *kh, bool *yes)
{
	struct kh_status st;
	struct wbuf req;
	struct rd body;
	uint8_t *rep = NULL;
	int r;

	*yes = false;
	if (known_logged_in(kh)) {
		*yes = true;
		return 0;
	}
	wbuf_init(&req, KH_MAX_FRAME);
	if ((rep = rep_alloc()) == NULL) {
		r = SIGNET_ERR_NOMEM;
		goto out;
	}
	if ((r = khproto_enc_status_req(&req)) != 0 ||
	    (r = call(kh, &req, rep, &body)) != 0)
		goto out;
	if (khproto_dec_status_rep(&body, &st) != 0) {
		r = SIGNET_ERR_PROTOCOL;
		goto out;
	}
	if (st.logged_in)
		set_logged_in(kh);
	*yes = st.logged_in;
	r = 0;
 out:
	free(rep);
	wbuf_free(&req);
	return r;
}

/* One round trip that the keyholder permits only while logged in (SIGN,
 * GENERATE) or only while not (LOGIN, LOGIN_FD). Logged in is for good,
 * so a SIGN once the keyholder said so goes straight out, side by side
 * with others; anything else checks the state first under kh->state,
 * which every login holds too, so no other thread's login comes
 * between. */
static int
call_in_state(struct kh *kh, bool want_logged_in, struct wbuf *req, int pass,
    uint8_t *rep, struct rd *body)
{
	bool yes;
	int r;

	if (want_logged_in && known_logged_in(kh))
		return call_fd(kh, req, pass, rep, body);
	pthread_mutex_lock(&kh->state);
	if ((r = logged_in_locked(kh, &yes)) == 0) {
		if (yes != want_logged_in)
			r = yes ? SIGNET_ERR_CONFLICT : SIGNET_ERR_TOKEN_LOCKED;
		else
			r = call_fd(kh, req, pass, rep, body);
	}
	pthread_mutex_unlock(&kh->state);
	return r;
}

int
kh_send_raw(struct kh *kh, const void *frame, size_t len)
{
	int r;

	if (kh == NULL)
		return SIGNET_ERR_INVALID;
	pthread_mutex_lock(&kh->lock);
	r = kh->broken ? SIGNET_ERR_KEYHOLDER : 0;
	pthread_mutex_unlock(&kh->lock);
	if (r != 0)
		return r;
	pthread_mutex_lock(&kh->send);
	r = khproto_send(kh->fd, frame, len);
	pthread_mutex_unlock(&kh->send);
	return r;
}

int
kh_status(struct kh *kh, struct kh_status *st)
{
	struct wbuf req;
	struct rd body;
	uint8_t *rep = NULL;
	int r;

	memset(st, 0, sizeof(*st));
	wbuf_init(&req, KH_MAX_FRAME);
	if ((rep = rep_alloc()) == NULL) {
		r = SIGNET_ERR_NOMEM;
		goto out;
	}
	if ((r = khproto_enc_status_req(&req)) != 0 ||
	    (r = call(kh, &req, rep, &body)) != 0)
		goto out;
	if (khproto_dec_status_rep(&body, st) != 0) {
		r = SIGNET_ERR_PROTOCOL;
		goto out;
	}
	if (st->logged_in)
		set_logged_in(kh);
	r = 0;
 out:
	free(rep);
	wbuf_free(&req);
	return r;
}

int
kh_list_keys(struct kh *kh, struct kh_key_info **keys, size_t *n)
{
	struct kh_key_info *all = NULL;
	struct wbuf req;
	struct rd body;
	uint8_t *rep = NULL;
	uint32_t total = 0, first_total = 0;
	size_t have = 0, got;
	int r;

	*keys = NULL;
	*n = 0;
	wbuf_init(&req, KH_MAX_FRAME);
	/* room for a whole page past the last key the limit allows, so a
	 * page always decodes in place */
	if ((rep = rep_alloc()) == NULL || (all = calloc(SIGNET_KH_MAX_KEYS +
	    KH_LIST_PAGE, sizeof(*all))) == NULL) {
		r = SIGNET_ERR_NOMEM;
		goto out;
	}
	do {
		wbuf_reset(&req);
		if ((r = khproto_enc_list_req(&req, (uint32_t)have)) != 0 ||
		    (r = call(kh, &req, rep, &body)) != 0)
			goto out;
		if (khproto_dec_list_rep(&body, &total, all + have,
		    &got) != 0) {
			r = SIGNET_ERR_PROTOCOL;
			goto out;
		}
		if (have == 0)
			first_total = total;
		/* the key set changed between pages (a key was generated):
		 * the caller may ask again */
		if (total != first_total) {
			r = SIGNET_ERR_UNAVAILABLE;
			goto out;
		}
		if ((got == 0 && have < total) || have + got > total) {
			r = SIGNET_ERR_PROTOCOL;
			goto out;
		}
		have += got;
	} while (have < total);
	*keys = all;
	all = NULL;
	*n = have;
	r = 0;
 out:
	free(all);
	free(rep);
	wbuf_free(&req);
	return r;
}

/* Key ids travel in lowercase (khproto_valid_key_id); callers may hold
 * them in either case. */
static int
norm_id(const char *in, char out[KH_KEY_ID_HEX + 1])
{
	size_t i, n;

	if (in == NULL || (n = strnlen(in, KH_KEY_ID_HEX + 1)) > KH_KEY_ID_HEX)
		return SIGNET_ERR_INVALID;
	for (i = 0; i < n; i++)
		out[i] = (in[i] >= 'A' && in[i] <= 'F') ?
		    (char)(in[i] - 'A' + 'a') : in[i];
	out[n] = '\0';
	return khproto_valid_key_id(out) ? 0 : SIGNET_ERR_INVALID;
}

int
kh_find_key(struct kh *kh, const char *id_or_label, struct kh_key_info *out)
{
	struct kh_key_info *keys = NULL;
	char id[KH_KEY_ID_HEX + 1];
	size_t n, i;
	bool by_id;
	int r;

	memset(out, 0, sizeof(*out));
	if (id_or_label == NULL)
		return SIGNET_ERR_INVALID;
	by_id = norm_id(id_or_label, id) == 0;
	if ((r = kh_list_keys(kh, &keys, &n)) != 0)
		return r;
	r = SIGNET_ERR_NOT_FOUND;
	for (i = 0; by_id && i < n; i++) {
		if (strcmp(keys[i].id, id) == 0) {
			*out = keys[i];
			r = 0;
			goto out;
		}
	}
	for (i = 0; i < n; i++) {
		if (strcmp(keys[i].label, id_or_label) == 0) {
			*out = keys[i];
			r = 0;
			goto out;
		}
	}
 out:
	free(keys);
	return r;
}

int
kh_public_key(struct kh *kh, const char *key_id, EVP_PKEY **pub)
{
	char id[KH_KEY_ID_HEX + 1];
	struct wbuf req;
	struct rd body;
	const uint8_t *der, *p;
	uint8_t *rep = NULL;
	EVP_PKEY *k = NULL;
	size_t len;
	int r;

	*pub = NULL;
	if ((r = norm_id(key_id, id)) != 0)
		return r;
	wbuf_init(&req, KH_MAX_FRAME);
	if ((rep = rep_alloc()) == NULL) {
		r = SIGNET_ERR_NOMEM;
		goto out;
	}
	if ((r = khproto_enc_pubkey_req(&req, id)) != 0 ||
	    (r = call(kh, &req, rep, &body)) != 0)
		goto out;
	if (khproto_dec_pubkey_rep(&body, &der, &len) != 0) {
		r = SIGNET_ERR_PROTOCOL;
		goto out;
	}
	p = der;
	if ((k = d2i_PUBKEY(NULL, &p, (long)len)) == NULL ||
	    p != der + len) {
		log_ssl("keyholder sent an unreadable public key for %s", id);
		r = SIGNET_ERR_PROTOCOL;
		goto out;
	}
	*pub = k;
	k = NULL;
	r = 0;
 out:
	EVP_PKEY_free(k);
	free(rep);
	wbuf_free(&req);
	return r;
}

int
kh_sign(struct kh *kh, const char *key_id, int mech, int hash,
    const uint8_t *dgst, size_t dlen, int purpose, const char *ref,
    uint8_t *sig, size_t *siglen)
{
	struct kh_sign_req q;
	struct wbuf req;
	struct rd body;
	const uint8_t *s;
	uint8_t *rep = NULL;
	size_t len;
	int r;

	memset(&q, 0, sizeof(q));
	/* a caller's mistake is refused here, where it is an error, not
	 * sent on to the keyholder, where it is a protocol violation */
	if ((r = norm_id(key_id, q.key_id)) != 0)
		return r;
	if ((mech != KH_MECH_RSA_PKCS1 && mech != KH_MECH_RSA_PSS &&
	    mech != KH_MECH_ECDSA) || khproto_hash_len(hash) == 0 ||
	    dlen != khproto_hash_len(hash) || dgst == NULL || sig == NULL ||
	    (purpose != KH_PURPOSE_REQUEST &&
	    purpose != KH_PURPOSE_CERTIFICATE) || ref == NULL ||
	    strlen(ref) >= sizeof(q.ref))
		return SIGNET_ERR_INVALID;
	q.mech = mech;
	q.hash = hash;
	memcpy(q.dgst, dgst, dlen);
	q.dlen = dlen;
	q.purpose = purpose;
	memcpy(q.ref, ref, strlen(ref) + 1);
	if (!khproto_valid_ref(q.ref))
		return SIGNET_ERR_INVALID;
	wbuf_init(&req, KH_MAX_FRAME);
	if ((rep = rep_alloc()) == NULL) {
		r = SIGNET_ERR_NOMEM;
		goto out;
	}
	metrics_count(METRICS_TOKEN_OPERATIONS);
	if ((r = khproto_enc_sign_req(&req, &q)) != 0 ||
	    (r = call_in_state(kh, true, &req, -1, rep, &body)) != 0) {
		metrics_token_error(r);
		goto out;
	}
	if (khproto_dec_sign_rep(&body, &s, &len) != 0) {
		r = SIGNET_ERR_PROTOCOL;
		goto out;
	}
	if (len > *siglen) {
		r = SIGNET_ERR_TOO_LARGE;
		goto out;
	}
	memcpy(sig, s, len);
	*siglen = len;
	r = 0;
 out:
	free(rep);
	wbuf_free(&req);
	return r;
}

int
kh_generate(struct kh *kh, const char *label, int type, unsigned bits,
    const char *admin, struct kh_key_info *out)
{
	struct kh_gen_req q;
	struct wbuf req;
	struct rd body;
	uint8_t *rep = NULL;
	int r;

	memset(out, 0, sizeof(*out));
	memset(&q, 0, sizeof(q));
	if (label == NULL || strlen(label) >= sizeof(q.label) ||
	    admin == NULL || strlen(admin) >= sizeof(q.admin))
		return SIGNET_ERR_INVALID;
	memcpy(q.label, label, strlen(label) + 1);
	memcpy(q.admin, admin, strlen(admin) + 1);
	q.type = type;
	q.bits = bits;
	q.origin = KH_GEN_BY_ADMIN;
	if (!khproto_valid_label(q.label) || !khproto_valid_gen(type, bits) ||
	    !khproto_valid_ref(q.admin))
		return SIGNET_ERR_INVALID;
	wbuf_init(&req, KH_MAX_FRAME);
	if ((rep = rep_alloc()) == NULL) {
		r = SIGNET_ERR_NOMEM;
		goto out;
	}
	if ((r = khproto_enc_gen_req(&req, &q)) != 0 ||
	    (r = call_in_state(kh, true, &req, -1, rep, &body)) != 0)
		goto out;
	if (khproto_dec_gen_rep(&body, out) != 0) {
		memset(out, 0, sizeof(*out));
		r = SIGNET_ERR_PROTOCOL;
		goto out;
	}
	r = 0;
 out:
	free(rep);
	wbuf_free(&req);
	return r;
}

int
kh_login(struct kh *kh, const char *pin, size_t pinlen)
{
	struct wbuf req;
	struct rd body;
	uint8_t *rep = NULL;
	int r;

	if (pin == NULL || pinlen == 0 || pinlen > SIGNET_KH_MAX_PIN)
		return SIGNET_ERR_INVALID;
	/* the request holds the PIN: wiped when freed */
	wbuf_init_secret(&req, KH_MAX_FRAME);
	if ((rep = rep_alloc()) == NULL) {
		r = SIGNET_ERR_NOMEM;
		goto out;
	}
	if ((r = khproto_enc_login_req(&req, pin, pinlen)) != 0 ||
	    (r = call_in_state(kh, false, &req, -1, rep, &body)) != 0)
		goto out;
	if (khproto_dec_login_rep(&body) != 0) {
		r = SIGNET_ERR_PROTOCOL;
		goto out;
	}
	set_logged_in(kh);
	r = 0;
 out:
	free(rep);
	wbuf_free(&req);
	return r;
}

int
kh_login_fd(struct kh *kh, int fd, struct kh_login_result *res)
{
	struct wbuf req;
	struct rd body;
	uint8_t *rep = NULL;
	int r;

	memset(res, 0, sizeof(*res));
	if (kh == NULL || fd < 0)
		return SIGNET_ERR_INVALID;
	wbuf_init(&req, KH_MAX_FRAME);
	if ((rep = rep_alloc()) == NULL) {
		r = SIGNET_ERR_NOMEM;
		goto out;
	}
	if ((r = khproto_enc_login_fd_req(&req)) != 0 ||
	    (r = call_in_state(kh, false, &req, fd, rep, &body)) != 0)
		goto out;
	if (khproto_dec_login_fd_rep(&body, res) != 0) {
		memset(res, 0, sizeof(*res));
		r = SIGNET_ERR_PROTOCOL;
		goto out;
	}
	if (res->code == 0)
		set_logged_in(kh);
	r = 0;
 out:
	free(rep);
	wbuf_free(&req);
	return r;
}
