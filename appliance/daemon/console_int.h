/* Shared by the console server's files and nothing else: the server and
 * a connection's state (console_conn.c accepts and serves connections),
 * and what the connection loop needs of the operations (console_ops.c:
 * login, the pending list, a request's details, decisions, the token). */
#ifndef SIGNET_CONSOLE_INT_H
#define SIGNET_CONSOLE_INT_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/un.h>

#include <jansson.h>

#include "catalog.h"
#include "config.h"
#include "users.h"
#include "workflow.h"

struct app;

/* Consoles at once: tty1, perhaps a second one on a serial line, and
 * room for one left over while it is being torn down. */
#define CONSOLE_SRV_MAX_CONN	4
#define CONSOLE_SRV_MAX_MSG	512

struct console_srv {
	struct app *app;
	int lfd;
	int wake[2];		/* stop: written once, read by the acceptor */
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	pthread_t acceptor;
	int started;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int conns[CONSOLE_SRV_MAX_CONN];	/* -1: free */
	int nconn;
	int stopping;
	uint32_t uids[CONFIG_MAX_CONSOLE_UIDS];
	size_t nuids;
	struct users_policy up;
};

struct console_conn {
	struct console_srv *srv;
	int fd;
	int slot;
	uid_t uid;
	pid_t pid;
	int logged_in;
	/* the session's bearer token: a secret, wiped when it ends */
	char token[USERS_TOKEN_LEN + 1];
	char key[65];
	char user[CATALOG_MAX_NAME + 1];
	int64_t last_activity;	/* ms, monotonic */
};

/* What an operation did with the connection besides its result. */
#define CONSOLE_SRV_ANSWERED	0x1	/* the reply was written (or is the
					 * keyholder's to write) */
#define CONSOLE_SRV_CLOSE	0x2	/* the stream cannot go on */

struct console_srv_ctx {
	struct console_conn *c;
	json_t *req;
	json_t *user;		/* the officer's record (logged-in ops) */
	struct principal who;
	json_t *rep;		/* fields of a successful reply */
	char msg[CONSOLE_SRV_MAX_MSG];
	int flags;
};

/* console_ops.c: an error's message for the reply; returns err. */
int console_srv_msg(struct console_srv_ctx *x, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Ends the connection's session, if any: deleted in the store (audited
 * as a logout) and wiped here. */
void console_srv_end_session(struct console_conn *c, const char *why);
/* The session behind a logged-in op, checked on every request: 0 and
 * x->who set, or an error (the session is ended) with x->msg. */
int console_srv_check_session(struct console_srv_ctx *x) SIGNET_WUR;

/* An operation: its name on the wire, whether it needs an officer logged
 * in, and what runs it (0 or an error with x->msg; x->rep is the reply). */
struct console_srv_op {
	const char *name;
	int need_login;
	int (*fn)(struct console_srv_ctx *);
};

/* The operation of that name, or NULL. */
const struct console_srv_op *console_srv_op_find(const char *name);

#endif
