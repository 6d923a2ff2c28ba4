/* signet-console: the security officer's console on tty1. A full-screen
 * program that talks only to signetd's console socket (console_srv.h):
 * officer login, the requests waiting for this officer's decision
 * (refreshed every two seconds), their details, approve or deny with a
 * confirmation step, and the token's state with its activation. The PIN is
 * typed into locked memory, sent once on the socket signetd has handed to
 * the keyholder, and wiped at once; signetd never reads it. */
#include <errno.h>
#include <getopt.h>
#include <locale.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <curses.h>
#include <jansson.h>
#include <openssl/crypto.h>

#include "consproto.h"
#include "num.h"
#include "signet_limits.h"

#define CONSOLE_DEFAULT_SOCKET	"/run/signet/console.sock"
#define CONSOLE_DEFAULT_IDLE	300
#define CONSOLE_POLL_MS		2000	/* the pending list's refresh */
#define CONSOLE_TICK_MS		200	/* keyboard wait between checks */
#define CONSOLE_REPLY_MS	60000	/* signetd answers within this */
#define CONSOLE_RECONNECT_MS	2000
#define CONSOLE_MAX_USER	64
#define CONSOLE_MAX_COMMENT	512	/* what fits a console line or two */
#define CONSOLE_MAX_LINES	400	/* of a details page */
#define CONSOLE_LINE		256

/* Pseudo keys from console_key besides the keyboard's. */
#define K_TICK	(KEY_MAX + 1)	/* the list was refreshed: redraw */
#define K_IDLE	(KEY_MAX + 2)	/* no keystroke for the idle time */
#define K_LOST	(KEY_MAX + 3)	/* session or connection ended */
#define K_STOP	(KEY_MAX + 4)	/* SIGTERM / SIGHUP */
#define K_ESC	27

enum console_scr { SCR_LOGIN, SCR_LIST, SCR_QUIT };

/* Secrets typed here: one locked page, excluded from core dumps. */
struct console_secret {
	char pw[SIGNET_MAX_PASSWORD + 1];
	char pin[SIGNET_KH_MAX_PIN + 1];
};

struct console {
	const char *path;
	int fd;
	unsigned idle;
	int logged_in;
	char user[CONSOLE_MAX_USER + 1];
	int64_t last_key;
	int activity;		/* a key since the last poll */
	int64_t next_poll;
	json_t *pending;	/* the last "pending" reply */
	int sel;
	int top;
	char status[CONSOLE_LINE];
	int status_bad;
	struct console_secret *sec;
	size_t sec_size;
};

static volatile sig_atomic_t console_stop;

static void
console_on_signal(int sig)
{
	(void)sig;
	console_stop = 1;
}

static int64_t
console_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
console_status(struct console *c, int bad, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
console_status(struct console *c, int bad, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->status, sizeof(c->status), fmt, ap);
	va_end(ap);
	c->status_bad = bad;
}

/* --- drawing: everything from signetd is shown as printable ASCII, so no
 * text can move the cursor or change the terminal ------------------------ */

static void
console_put(int y, int x, int w, const char *s)
{
	char buf[CONSOLE_LINE];
	int i;

	if (y < 0 || y >= LINES || x >= COLS || w <= 0)
		return;
	if (x + w > COLS)
		w = COLS - x;
	if (w > (int)sizeof(buf) - 1)
		w = (int)sizeof(buf) - 1;
	for (i = 0; s != NULL && s[i] != '\0' && i < w; i++)
		buf[i] = ((unsigned char)s[i] >= 0x20 &&
		    (unsigned char)s[i] < 0x7f) ? s[i] : '?';
	buf[i] = '\0';
	mvaddstr(y, x, buf);
}

static void
console_putf(int y, int x, int w, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void
console_putf(int y, int x, int w, const char *fmt, ...)
{
	char buf[CONSOLE_LINE];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	console_put(y, x, w, buf);
}

static const char *
console_str(const json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));

	return s != NULL ? s : "";
}

/* Appends s to dst[cap], after sep when dst is not empty. */
static void
console_append(char *dst, size_t cap, const char *sep, const char *s)
{
	size_t n = strlen(dst);

	if (n + 1 < cap)
		snprintf(dst + n, cap - n, "%s%s", n > 0 ? sep : "",
		    s != NULL ? s : "?");
}

static void
console_age(json_int_t s, char *out, size_t len)
{
	if (s < 0)
		s = 0;
	if (s < 60)
		snprintf(out, len, "%llds", (long long)s);
	else if (s < 3600)
		snprintf(out, len, "%lldm", (long long)(s / 60));
	else if (s < 86400)
		snprintf(out, len, "%lldh", (long long)(s / 3600));
	else
		snprintf(out, len, "%lldd", (long long)(s / 86400));
}

static void
console_frame(struct console *c, const char *title, const char *keys)
{
	const json_t *tok = json_object_get(c->pending, "token");
	char right[64] = "", clock[16];
	struct tm tm;
	time_t now = time(NULL);

	erase();
	localtime_r(&now, &tm);
	strftime(clock, sizeof(clock), "%H:%M", &tm);
	if (c->logged_in && json_is_object(tok))
		snprintf(right, sizeof(right), "token: %s  %s",
		    !json_is_true(json_object_get(tok, "present")) ? "ABSENT" :
		    json_is_true(json_object_get(tok, "loggedIn")) ? "active" :
		    "LOCKED", clock);
	else
		snprintf(right, sizeof(right), "%s", clock);
	attron(A_REVERSE);
	mvhline(0, 0, ' ', COLS);
	console_putf(0, 1, COLS - 2, "Signet officer console%s%s",
	    c->logged_in ? " - " : "", c->logged_in ? c->user : "");
	console_put(0, COLS - (int)strlen(right) - 1, (int)strlen(right),
	    right);
	attroff(A_REVERSE);
	attron(A_BOLD);
	console_put(2, 1, COLS - 2, title);
	attroff(A_BOLD);
	mvhline(LINES - 3, 0, '-', COLS);
	console_put(LINES - 2, 1, COLS - 2, keys);
	if (c->status[0] != '\0') {
		if (c->status_bad)
			attron(A_BOLD);
		console_put(LINES - 1, 1, COLS - 2, c->status);
		if (c->status_bad)
			attroff(A_BOLD);
	}
}

/* --- talking to signetd --------------------------------------------- */

static void
console_disconnect(struct console *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	c->logged_in = 0;
	json_decref(c->pending);
	c->pending = NULL;
}

static int
console_connect(struct console *c)
{
	struct sockaddr_un sa;
	int fd;

	if (c->fd >= 0)
		return 0;
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	if (strlen(c->path) >= sizeof(sa.sun_path)) {
		console_status(c, 1, "socket path too long: %s", c->path);
		return -1;
	}
	memcpy(sa.sun_path, c->path, strlen(c->path));
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		console_status(c, 1, "cannot reach signetd at %s: %s; "
		    "retrying", c->path, strerror(errno));
		close(fd);
		return -1;
	}
	c->fd = fd;
	return 0;
}

/* One request, one reply. On a lost connection the console starts over
 * at the login screen. Returns 0 with *rep (which may say ok: false), or
 * -1 when there was no answer. */
static int
console_call(struct console *c, json_t *req, json_t **rep)
{
	int r;

	*rep = NULL;
	if (req == NULL || console_connect(c) != 0) {
		json_decref(req);
		return -1;
	}
	r = consproto_send(c->fd, req, SIGNET_MAX_CONSOLE_REQUEST);
	consproto_wipe_string(req, "password");
	json_decref(req);
	if (r == 0)
		r = consproto_recv(c->fd, CONSOLE_REPLY_MS,
		    SIGNET_MAX_CONSOLE_REPLY, rep);
	if (r != 0) {
		console_disconnect(c);
		console_status(c, 1, "the connection to signetd was lost (%s); "
		    "log in again", signet_strerror(r));
		return -1;
	}
	return 0;
}

static int
console_ok(const json_t *rep)
{
	return json_is_true(json_object_get(rep, "ok"));
}

/* A failed reply: shown on the status line; an ended session also ends
 * the console's. Returns 1 when the caller should go back to login. */
static int
console_failed(struct console *c, const json_t *rep, const char *what)
{
	console_status(c, 1, "%s: %s", what, console_str(rep, "message"));
	if (strcmp(console_str(rep, "error"), "unauthenticated") == 0) {
		c->logged_in = 0;
		return 1;
	}
	return 0;
}

static json_t *
console_req(const char *op, int poll_)
{
	return json_pack("{s:s, s:b}", "op", op, "poll", poll_);
}

/* The pending list; "poll" unless a key was pressed since the last one,
 * so that signetd's idle logout follows the officer, not the timer. */
static int
console_poll(struct console *c)
{
	json_t *rep = NULL;
	int r = K_TICK;

	if (console_call(c, console_req("pending", !c->activity), &rep) != 0)
		return K_LOST;
	c->activity = 0;
	if (!console_ok(rep)) {
		if (console_failed(c, rep, "refresh"))
			r = K_LOST;
		json_decref(rep);
		return r;
	}
	json_decref(c->pending);
	c->pending = rep;
	return r;
}

/* A key, or a pseudo key: the list refreshed, idle, lost, stop. */
static int
console_key(struct console *c)
{
	int64_t now;
	int ch;

	for (;;) {
		if (console_stop)
			return K_STOP;
		ch = getch();
		now = console_now_ms();
		if (ch != ERR && ch != KEY_RESIZE) {
			c->last_key = now;
			c->activity = 1;
			return ch;
		}
		if (ch == KEY_RESIZE)
			return K_TICK;
		if (c->logged_in && now - c->last_key >
		    (int64_t)c->idle * 1000)
			return K_IDLE;
		if (c->logged_in && now >= c->next_poll) {
			c->next_poll = now + CONSOLE_POLL_MS;
			return console_poll(c);
		}
	}
}

static void
console_logout(struct console *c, const char *why)
{
	json_t *rep = NULL;

	if (c->logged_in && console_call(c, console_req("logout", 0),
	    &rep) == 0)
		json_decref(rep);
	c->logged_in = 0;
	c->user[0] = '\0';
	json_decref(c->pending);
	c->pending = NULL;
	/* NULL: what the status line says already is the reason */
	if (why != NULL)
		console_status(c, 0, "%s", why);
}

/* A line editor. echo 0: nothing is shown, not even a count. Returns 1
 * on Enter, 0 on Esc, or a pseudo key (K_IDLE, K_LOST, K_STOP). */
static int
console_edit(struct console *c, int y, int x, int w, char *buf, size_t cap,
    int echo)
{
	size_t n = strlen(buf);
	int ch;

	curs_set(1);
	for (;;) {
		mvhline(y, x, ' ', w);
		if (echo)
			console_put(y, x, w, n < (size_t)w ? buf :
			    buf + n - (size_t)w + 1);
		move(y, x + (echo ? (int)(n < (size_t)w ? n : (size_t)w - 1) :
		    0));
		refresh();
		ch = console_key(c);
		if (ch == K_TICK)
			continue;
		if (ch == K_IDLE || ch == K_LOST || ch == K_STOP) {
			curs_set(0);
			return ch;
		}
		if (ch == '\n' || ch == '\r' || ch == KEY_ENTER) {
			curs_set(0);
			return 1;
		}
		if (ch == K_ESC) {
			OPENSSL_cleanse(buf, cap);
			curs_set(0);
			return 0;
		}
		if ((ch == KEY_BACKSPACE || ch == 127 || ch == 8) && n > 0) {
			buf[--n] = '\0';
		} else if (ch == 21) {	/* ^U */
			OPENSSL_cleanse(buf, cap);
			n = 0;
		} else if (ch >= 0x20 && ch < 0x7f && n + 1 < cap) {
			buf[n++] = (char)ch;
			buf[n] = '\0';
		}
	}
}

/* --- login ---------------------------------------------------------- */

static enum console_scr
console_login_screen(struct console *c)
{
	char user[CONSOLE_MAX_USER + 1] = "";
	json_t *req, *rep = NULL;
	int r;

	c->logged_in = 0;
	for (;;) {
		if (console_stop)
			return SCR_QUIT;
		if (console_connect(c) != 0) {
			console_frame(c, "Officer login", "waiting for signetd");
			refresh();
			napms(CONSOLE_RECONNECT_MS);
			continue;
		}
		console_frame(c, "Officer login",
		    "Enter: next field / log in   Esc: clear");
		console_put(4, 3, 60, "Only security officers may use this "
		    "console.");
		console_put(6, 3, 12, "User:");
		console_put(7, 3, 12, "Password:");
		console_put(6, 15, CONSOLE_MAX_USER, user);
		OPENSSL_cleanse(c->sec->pw, sizeof(c->sec->pw));
		r = console_edit(c, 6, 15, 40, user, sizeof(user), 1);
		if (r == K_STOP)
			return SCR_QUIT;
		if (r != 1 || user[0] == '\0') {
			user[0] = '\0';
			continue;
		}
		r = console_edit(c, 7, 15, 40, c->sec->pw, sizeof(c->sec->pw),
		    0);
		if (r == K_STOP) {
			OPENSSL_cleanse(c->sec->pw, sizeof(c->sec->pw));
			return SCR_QUIT;
		}
		if (r != 1) {
			OPENSSL_cleanse(c->sec->pw, sizeof(c->sec->pw));
			continue;
		}
		console_status(c, 0, "checking...");
		console_frame(c, "Officer login", "");
		refresh();
		/* a fresh connection: signetd closes one that sat unused at
		 * this screen for its idle time */
		console_disconnect(c);
		req = json_pack("{s:s, s:s, s:s}", "op", "login", "username",
		    user, "password", c->sec->pw);
		OPENSSL_cleanse(c->sec->pw, sizeof(c->sec->pw));
		if (console_call(c, req, &rep) != 0)
			continue;
		if (!console_ok(rep)) {
			console_status(c, 1, "Login refused: %s",
			    console_str(rep, "message"));
			json_decref(rep);
			user[0] = '\0';
			continue;
		}
		snprintf(c->user, sizeof(c->user), "%s", user);
		json_decref(rep);
		c->logged_in = 1;
		c->last_key = console_now_ms();
		c->next_poll = 0;
		c->sel = c->top = 0;
		console_status(c, 0, "Logged in as %s.", c->user);
		return SCR_LIST;
	}
}

/* --- details and decisions ------------------------------------------ */

struct console_lines {
	char *l[CONSOLE_MAX_LINES];
	int n;
};

static void
console_lines_free(struct console_lines *ls)
{
	int i;

	for (i = 0; i < ls->n; i++)
		free(ls->l[i]);
	ls->n = 0;
}

static void
console_line(struct console_lines *ls, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Adds a line, wrapped at the screen's width. */
static void
console_line(struct console_lines *ls, const char *fmt, ...)
{
	char buf[4 * CONSOLE_LINE];
	va_list ap;
	size_t len, off = 0, w = COLS > 4 ? (size_t)COLS - 3 : 76;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	len = strlen(buf);
	do {
		if (ls->n >= CONSOLE_MAX_LINES)
			return;
		if ((ls->l[ls->n] = strndup(buf + off, w)) == NULL)
			return;
		ls->n++;
		off += w;
	} while (off < len);
}

/* Key/value pairs of an object, nested objects flattened with dots (a
 * few levels: evidence is claims and their sources, not a tree). */
#define CONSOLE_KV_DEPTH 4

static void
console_kv(struct console_lines *ls, const char *prefix, const json_t *o,
    int depth)
{
	const char *k;
	json_t *v;
	char name[128], *text;

	json_object_foreach((json_t *)(uintptr_t)o, k, v) {
		snprintf(name, sizeof(name), "%s%s", prefix, k);
		if (json_is_object(v) && depth < CONSOLE_KV_DEPTH) {
			snprintf(name, sizeof(name), "%s%s.", prefix, k);
			console_kv(ls, name, v, depth + 1);
			continue;
		}
		if (json_is_string(v)) {
			console_line(ls, "    %s: %s", name, json_string_value(v));
		} else if ((text = json_dumps(v, JSON_ENCODE_ANY |
		    JSON_COMPACT)) != NULL) {
			console_line(ls, "    %s: %s", name, text);
			free(text);
		}
	}
}

static void
console_details_lines(const json_t *rep, struct console_lines *ls)
{
	const json_t *rq = json_object_get(rep, "request");
	const json_t *art = json_object_get(rq, "unsignedArtifact");
	const json_t *sub = json_object_get(rq, "submitter");
	const json_t *orig = json_object_get(rep, "original"), *a, *e;
	const json_t *ev = json_object_get(rq, "originVerification");
	char age[24], approvers[CONSOLE_LINE] = "";
	size_t i, ok = 0;

	console_age(json_integer_value(json_object_get(rep, "ageSeconds")),
	    age, sizeof(age));
	json_array_foreach(json_object_get(rep, "approvers"), i, e)
		console_append(approvers, sizeof(approvers), ", ",
		    json_string_value(e));
	console_line(ls, "Request      %s", console_str(rq, "id"));
	console_line(ls, "Status       %s (%s)", console_str(rq,
	    "workflowStatus"), console_str(rq, "status"));
	console_line(ls, "Project      %s", console_str(rq, "projectSlug"));
	console_line(ls, "Policy       %s (approvals required: %lld; "
	    "approvers: %s)", console_str(rq, "signingPolicySlug"),
	    (long long)json_integer_value(json_object_get(rq,
	    "requiredApprovals")), approvers);
	console_line(ls, "Submitter    %s (%s)", console_str(sub, "name"),
	    console_str(sub, "type"));
	console_line(ls, "Created      %s (%s ago)", console_str(rq,
	    "createdAt"), age);
	if (json_is_string(json_object_get(rq, "description")))
		console_line(ls, "Description  %s", console_str(rq,
		    "description"));
	if (json_is_object(json_object_get(rq, "hash"))) {
		/* the officer judges what the build machine states */
		const json_t *hs = json_object_get(rq, "hash");

		console_line(ls, "Hash signing: the appliance has not seen "
		    "the file");
		console_line(ls, "File         %s (stated), tool %s",
		    console_str(hs, "fileName"), console_str(hs, "tool"));
		console_line(ls, "Hash         %s, signed with %s",
		    console_str(hs, "algorithm"), console_str(hs,
		    "mechanism"));
		console_line(ls, "Digest       %s", console_str(hs, "digest"));
	} else {
		console_line(ls, "Artifact     %s, %lld bytes, %s",
		    console_str(art, "name"), (long long)json_integer_value(
		    json_object_get(art, "size")), console_str(rq,
		    "artifactConfigurationSlug"));
		console_line(ls, "SHA-256      %s", console_str(art,
		    "sha256"));
	}
	console_line(ls, "%s", "");
	console_line(ls, "Origin       %s", json_is_true(json_object_get(rep,
	    "originVerified")) ? "verified" : "NOT verified");
	console_kv(ls, "", json_object_get(rq, "origin"), 0);
	if (ev != NULL) {
		console_line(ls, "  evidence:");
		if (json_is_object(ev))
			console_kv(ls, "", ev, 0);
	}
	if (json_object_size(json_object_get(rq, "parameters")) > 0) {
		console_line(ls, "Parameters");
		console_kv(ls, "", json_object_get(rq, "parameters"), 0);
	}
	json_array_foreach(json_object_get(rq, "approvals"), i, a)
		if (strcmp(console_str(a, "decision"), "approved") == 0)
			ok++;
	console_line(ls, "%s", "");
	console_line(ls, "Approvals    %zu of %lld", ok,
	    (long long)json_integer_value(json_object_get(rq,
	    "requiredApprovals")));
	json_array_foreach(json_object_get(rq, "approvals"), i, a) {
		console_line(ls, "    %s by %s at %s", console_str(a, "decision"),
		    console_str(json_object_get(a, "by"), "name"),
		    console_str(a, "at"));
		if (json_is_string(json_object_get(a, "comment")))
			console_line(ls, "      \"%s\"", console_str(a,
			    "comment"));
	}
	if (json_is_string(json_object_get(rq, "originalSigningRequestId"))) {
		console_line(ls, "%s", "");
		console_line(ls, "Resubmitted from %s", console_str(rq,
		    "originalSigningRequestId"));
		if (json_is_object(orig))
			console_line(ls, "    policy %s, status %s (%s)%s",
			    console_str(orig, "policy"), console_str(orig,
			    "status"), console_str(orig, "workflowStatus"),
			    json_is_true(json_object_get(orig, "signed")) ?
			    ", signed" : "");
		else
			console_line(ls, "    (not visible to you)");
	}
	console_line(ls, "%s", "");
	console_line(ls, "%s", json_is_true(json_object_get(rep,
	    "mayDecide")) ? "You may decide on this request: a approve, "
	    "d deny." : "You cannot decide on this request.");
}

/* Confirmation and comment, then the decision. Returns 1 when signetd
 * took it, 0 when it did not or the officer stepped back, or a pseudo
 * key. */
static int
console_decide(struct console *c, const char *id, const char *name,
    const char *sha, int approve)
{
	char comment[CONSOLE_MAX_COMMENT + 1] = "";
	const char *verb = approve ? "APPROVE" : "DENY";
	json_t *req, *rep = NULL;
	int r, ch;

	console_frame(c, approve ? "Approve a signing request" :
	    "Deny a signing request", "Enter: continue   Esc: cancel");
	console_putf(4, 3, COLS - 4, "%s request %s", verb, id);
	console_putf(5, 3, COLS - 4, "artifact %s", name);
	console_putf(6, 3, COLS - 4, "SHA-256  %s", sha);
	console_put(8, 3, COLS - 4, "Comment (optional):");
	r = console_edit(c, 9, 3, COLS - 6, comment, sizeof(comment), 1);
	if (r != 1)
		return r == 0 ? 0 : r;
	console_frame(c, approve ? "Approve a signing request" :
	    "Deny a signing request", "y: yes   n or Esc: no");
	console_putf(4, 3, COLS - 4, "%s request %s", verb, id);
	console_putf(5, 3, COLS - 4, "artifact %s", name);
	console_putf(6, 3, COLS - 4, "SHA-256  %s", sha);
	console_putf(8, 3, COLS - 4, "Comment: %s", comment[0] ? comment :
	    "(none)");
	attron(A_BOLD);
	console_putf(10, 3, COLS - 4, "Really %s this request? (y/n)",
	    approve ? "approve" : "deny");
	attroff(A_BOLD);
	refresh();
	for (;;) {
		ch = console_key(c);
		if (ch == K_TICK)
			continue;
		if (ch == K_IDLE || ch == K_LOST || ch == K_STOP)
			return ch;
		if (ch == 'y' || ch == 'Y')
			break;
		if (ch == 'n' || ch == 'N' || ch == K_ESC || ch == 'q') {
			console_status(c, 0, "Nothing decided.");
			return 0;
		}
	}
	req = json_pack("{s:s, s:s, s:s, s:s}", "op", "decide", "id", id,
	    "decision", approve ? "approve" : "deny", "comment", comment);
	if (console_call(c, req, &rep) != 0)
		return K_LOST;
	if (!console_ok(rep)) {
		r = console_failed(c, rep, approve ? "Approval refused" :
		    "Denial refused") ? K_LOST : 0;
		json_decref(rep);
		return r;
	}
	console_status(c, 0, "%s request %.8s: it is now %s.", approve ?
	    "Approved" : "Denied", id, console_str(rep, "workflowStatus"));
	json_decref(rep);
	c->next_poll = 0;
	return 1;
}

static int
console_details(struct console *c, const char *id)
{
	struct console_lines ls = { { NULL }, 0 };
	json_t *rep = NULL, *req;
	const json_t *art;
	char name[CONSOLE_LINE], sha[160];
	int top = 0, i, ch, rows, r = 0, reload = 1;

	for (;;) {
		if (reload) {
			console_lines_free(&ls);
			json_decref(rep);
			rep = NULL;
			req = json_pack("{s:s, s:s}", "op", "request", "id", id);
			if (console_call(c, req, &rep) != 0) {
				r = K_LOST;
				goto out;
			}
			if (!console_ok(rep)) {
				r = console_failed(c, rep, "Details") ? K_LOST :
				    0;
				goto out;
			}
			console_details_lines(rep, &ls);
			reload = 0;
		}
		rows = LINES - 7;
		if (top > ls.n - rows)
			top = ls.n - rows;
		if (top < 0)
			top = 0;
		console_frame(c, "Signing request", "arrows/j/k scroll   a approve"
		    "   d deny   r refresh   q/Esc back");
		for (i = 0; i < rows && top + i < ls.n; i++)
			console_put(4 + i, 1, COLS - 2, ls.l[top + i]);
		refresh();
		ch = console_key(c);
		switch (ch) {
		case K_TICK:
			break;
		case K_IDLE:
		case K_LOST:
		case K_STOP:
			r = ch;
			goto out;
		case KEY_DOWN:
		case 'j':
			top++;
			break;
		case KEY_UP:
		case 'k':
			top--;
			break;
		case KEY_NPAGE:
		case ' ':
			top += rows;
			break;
		case KEY_PPAGE:
			top -= rows;
			break;
		case 'r':
			reload = 1;
			break;
		case 'a':
		case 'd':
			art = json_object_get(json_object_get(rep, "request"),
			    "unsignedArtifact");
			snprintf(name, sizeof(name), "%s", console_str(art,
			    "name"));
			snprintf(sha, sizeof(sha), "%s", console_str(art,
			    "sha256"));
			art = json_object_get(json_object_get(rep, "request"),
			    "hash");
			if (art != NULL) {
				snprintf(name, sizeof(name), "%s (hash signing: "
				    "the appliance has not seen the file)",
				    console_str(art, "fileName"));
				snprintf(sha, sizeof(sha), "%s", console_str(art,
				    "digest"));
			}
			r = console_decide(c, id, name, sha, ch == 'a');
			if (r == 1) {
				r = 0;
				goto out;
			}
			if (r != 0)
				goto out;
			reload = 1;
			break;
		case 'q':
		case K_ESC:
			r = 0;
			goto out;
		default:
			break;
		}
	}
out:
	console_lines_free(&ls);
	json_decref(rep);
	return r;
}

/* --- token ---------------------------------------------------------- */

static const char *
console_pin_state(unsigned long flags)
{
	if (flags & CONSPROTO_CKF_USER_PIN_LOCKED)
		return "LOCKED (unlock it with the SO PIN)";
	if (flags & CONSPROTO_CKF_USER_PIN_FINAL_TRY)
		return "FINAL TRY: one more wrong PIN locks it";
	if (flags & CONSPROTO_CKF_USER_PIN_COUNT_LOW)
		return "count low (a wrong PIN was entered)";
	return "ok (no failed tries reported)";
}

/* Token activation: the PIN goes to the keyholder on the connection
 * signetd handed over (LOGIN_FD), and its answer comes from the keyholder
 * too. Never retried: the token counts every wrong PIN. */
static int
console_activate(struct console *c, const json_t *st)
{
	unsigned long flags = (unsigned long)json_integer_value(
	    json_object_get(st, "tokenFlags"));
	json_t *rep = NULL, *ans = NULL;
	size_t len;
	int r, ch;

	if (json_is_true(json_object_get(st, "loggedIn"))) {
		console_status(c, 0, "The token is already active.");
		return 0;
	}
	if (flags & CONSPROTO_CKF_USER_PIN_LOCKED) {
		console_status(c, 1, "The user PIN is locked; it must be "
		    "unlocked with the security officer PIN first.");
		return 0;
	}
	console_frame(c, "Activate the token", "Enter: send   Esc: cancel");
	console_putf(4, 3, COLS - 4, "Token %s", console_str(st, "label"));
	console_putf(5, 3, COLS - 4, "User PIN: %s", console_pin_state(flags));
	if (flags & CONSPROTO_CKF_USER_PIN_FINAL_TRY) {
		attron(A_BOLD);
		console_put(7, 3, COLS - 4, "FINAL TRY: a wrong PIN now locks "
		    "the token. Continue? (y/n)");
		attroff(A_BOLD);
		refresh();
		do {
			ch = console_key(c);
			if (ch == K_IDLE || ch == K_LOST || ch == K_STOP)
				return ch;
		} while (ch != 'y' && ch != 'n' && ch != K_ESC);
		if (ch != 'y') {
			console_status(c, 0, "Activation canceled.");
			return 0;
		}
		mvhline(7, 0, ' ', COLS);
	}
	console_put(7, 3, COLS - 4, "Token PIN (not shown, tried once):");
	OPENSSL_cleanse(c->sec->pin, sizeof(c->sec->pin));
	r = console_edit(c, 8, 3, 40, c->sec->pin, sizeof(c->sec->pin), 0);
	if (r != 1 || c->sec->pin[0] == '\0') {
		OPENSSL_cleanse(c->sec->pin, sizeof(c->sec->pin));
		if (r == 1 || r == 0)
			console_status(c, 0, "Activation canceled.");
		return r == 1 ? 0 : r;
	}
	if (console_call(c, json_pack("{s:s}", "op", "token-login"),
	    &rep) != 0) {
		OPENSSL_cleanse(c->sec->pin, sizeof(c->sec->pin));
		return K_LOST;
	}
	if (!console_ok(rep) || strcmp(console_str(rep, "state"),
	    "send-pin") != 0) {
		OPENSSL_cleanse(c->sec->pin, sizeof(c->sec->pin));
		r = console_failed(c, rep, "Activation refused") ? K_LOST : 0;
		json_decref(rep);
		return r;
	}
	json_decref(rep);
	len = strlen(c->sec->pin);
	r = consproto_send_pin(c->fd, (const uint8_t *)c->sec->pin, len);
	OPENSSL_cleanse(c->sec->pin, sizeof(c->sec->pin));
	if (r == 0)
		r = consproto_recv(c->fd, CONSOLE_REPLY_MS,
		    SIGNET_MAX_CONSOLE_REPLY, &ans);
	if (r != 0) {
		console_disconnect(c);
		console_status(c, 1, "the connection was lost during "
		    "activation; log in again and check the token");
		return K_LOST;
	}
	flags = (unsigned long)json_integer_value(json_object_get(ans,
	    "tokenFlags"));
	if (console_ok(ans))
		console_status(c, 0, "Token activated: signing can proceed.");
	else if (strcmp(console_str(ans, "error"), "pin-incorrect") == 0)
		console_status(c, 1, "PIN incorrect, not retried. User PIN: %s",
		    console_pin_state(flags));
	else
		console_status(c, 1, "Activation failed: %s. User PIN: %s",
		    console_str(ans, "message"), console_pin_state(flags));
	json_decref(ans);
	c->next_poll = 0;
	return 0;
}

/* The system clock as adjtimex sees it, which time-stamp tokens take
 * their genTime from, and whether the TSA issues. */
static void
console_clock_lines(const json_t *st, struct console_lines *ls)
{
	const json_t *clk = json_object_get(st, "clock");
	const json_t *tsa = json_object_get(st, "timestamping");
	int synced = json_is_true(json_object_get(clk, "synchronized"));

	if (!json_is_object(clk))
		return;
	console_line(ls, "Clock        %s, estimated error %lld ms",
	    synced ? "synchronised" : "NOT synchronised",
	    (long long)json_integer_value(json_object_get(clk,
	    "estimatedErrorUs")) / 1000);
	if (!json_is_true(json_object_get(tsa, "enabled")))
		console_line(ls, "Time-stamps  off ([tsa] certificate not set)");
	else
		console_line(ls, "Time-stamps  %s, %lld issued since start",
		    synced ? "issued" : json_is_true(json_object_get(tsa,
		    "allowUnsynchronized")) ? "issued (allow_unsynchronized)" :
		    "REFUSED until the clock is synchronised",
		    (long long)json_integer_value(json_object_get(tsa,
		    "tokensIssued")));
}

static void
console_token_lines(const json_t *st, struct console_lines *ls)
{
	const json_t *k, *e, *p;
	unsigned long flags = (unsigned long)json_integer_value(
	    json_object_get(st, "tokenFlags"));
	char pol[CONSOLE_LINE];
	size_t i, j;

	console_line(ls, "Present      %s", json_is_true(json_object_get(st,
	    "present")) ? "yes" : "NO");
	console_line(ls, "Logged in    %s", json_is_true(json_object_get(st,
	    "loggedIn")) ? "yes (active)" : "NO (locked: signing waits)");
	console_line(ls, "Label        %s", console_str(st, "label"));
	console_line(ls, "Token        %s %s, serial %s", console_str(st,
	    "manufacturer"), console_str(st, "model"), console_str(st,
	    "serial"));
	console_line(ls, "User PIN     %s", console_pin_state(flags));
	console_clock_lines(st, ls);
	console_line(ls, "%s", "");
	console_line(ls, "Keys (%zu)", json_array_size(json_object_get(st,
	    "keys")));
	json_array_foreach(json_object_get(st, "keys"), i, k)
		console_line(ls, "    %-24s %s %lld  id %.16s", console_str(k,
		    "label"), console_str(k, "type"),
		    (long long)json_integer_value(json_object_get(k, "bits")),
		    console_str(k, "id"));
	if (!json_is_true(json_object_get(st, "loggedIn")))
		console_line(ls, "    (listed once the token is active)");
	console_line(ls, "%s", "");
	console_line(ls, "Certificates");
	json_array_foreach(json_object_get(st, "certificates"), i, e) {
		console_line(ls, "    %-20s %-8s expires %.10s (%lld days)%s",
		    console_str(e, "name"), console_str(e, "purpose"),
		    console_str(e, "notAfter"), (long long)json_integer_value(
		    json_object_get(e, "daysLeft")), json_integer_value(
		    json_object_get(e, "daysLeft")) < 30 ? "  EXPIRING" : "");
		pol[0] = '\0';
		json_array_foreach(json_object_get(e, "policies"), j, p)
			console_append(pol, sizeof(pol), ", ",
			    json_string_value(p));
		console_line(ls, "      key %s; policies: %s", console_str(e,
		    "keyLabel"), pol[0] ? pol : "none");
	}
}

static int
console_token(struct console *c)
{
	struct console_lines ls = { { NULL }, 0 };
	json_t *st = NULL;
	int i, ch, r = 0, reload = 1;

	for (;;) {
		if (reload) {
			console_lines_free(&ls);
			json_decref(st);
			st = NULL;
			if (console_call(c, console_req("token-status", 0),
			    &st) != 0) {
				r = K_LOST;
				goto out;
			}
			if (!console_ok(st)) {
				r = console_failed(c, st, "Token status") ?
				    K_LOST : 0;
				goto out;
			}
			console_token_lines(st, &ls);
			reload = 0;
		}
		console_frame(c, "Token", "l or Enter: activate (enter the PIN)"
		    "   r refresh   q/Esc back");
		for (i = 0; i < LINES - 7 && i < ls.n; i++)
			console_put(4 + i, 1, COLS - 2, ls.l[i]);
		refresh();
		ch = console_key(c);
		switch (ch) {
		case K_IDLE:
		case K_LOST:
		case K_STOP:
			r = ch;
			goto out;
		case 'l':
		case '\n':
		case '\r':
		case KEY_ENTER:
			if ((r = console_activate(c, st)) != 0)
				goto out;
			reload = 1;
			break;
		case 'r':
			reload = 1;
			break;
		case 'q':
		case K_ESC:
			r = 0;
			goto out;
		default:
			break;
		}
	}
out:
	console_lines_free(&ls);
	json_decref(st);
	return r;
}

/* --- the pending list ----------------------------------------------- */

static void
console_list_draw(struct console *c)
{
	const json_t *items = json_object_get(c->pending, "items"), *it;
	int n = (int)json_array_size(items), rows = LINES - 8, i;
	char title[96], age[24];

	if (c->sel >= n)
		c->sel = n - 1;
	if (c->sel < 0)
		c->sel = 0;
	if (c->sel < c->top)
		c->top = c->sel;
	if (rows > 0 && c->sel >= c->top + rows)
		c->top = c->sel - rows + 1;
	snprintf(title, sizeof(title), "Pending approvals (%d%s)", n,
	    json_is_true(json_object_get(c->pending, "more")) ? "+" : "");
	console_frame(c, title, "j/k move  Enter details  a approve  d deny  "
	    "t token  r refresh  q logout");
	console_putf(4, 1, COLS - 2, "%-4s %-10s %-15s %-10s %-13s %-8s %s",
	    "AGE", "PROJECT", "POLICY", "SUBMITTER", "ARTIFACT", "SHA-256",
	    "ORIGIN");
	if (c->pending == NULL)
		console_put(6, 3, COLS - 4, "loading...");
	else if (n == 0)
		console_put(6, 3, COLS - 4, "No signing requests are waiting "
		    "for your decision.");
	for (i = 0; i < rows && c->top + i < n; i++) {
		it = json_array_get(items, (size_t)(c->top + i));
		console_age(json_integer_value(json_object_get(it,
		    "ageSeconds")), age, sizeof(age));
		if (c->top + i == c->sel)
			attron(A_REVERSE);
		mvhline(5 + i, 0, ' ', COLS);
		console_putf(5 + i, 1, COLS - 2,
		    "%-4.4s %-10.10s %-15.15s %-10.10s %-13.13s %-8.8s %s", age,
		    console_str(it, "project"), console_str(it, "policy"),
		    console_str(it, "submitter"), console_str(it,
		    "artifactName"), console_str(it, "sha256"),
		    json_is_true(json_object_get(it, "originVerified")) ?
		    "verified" : "not verified");
		if (c->top + i == c->sel)
			attroff(A_REVERSE);
	}
	refresh();
}

static enum console_scr
console_list_screen(struct console *c)
{
	const json_t *it;
	char id[64], name[CONSOLE_LINE], sha[160];
	int ch, r = 0;

	for (;;) {
		console_list_draw(c);
		ch = console_key(c);
		it = json_array_get(json_object_get(c->pending, "items"),
		    (size_t)c->sel);
		switch (ch) {
		case K_TICK:
			continue;
		case KEY_DOWN:
		case 'j':
			c->sel++;
			continue;
		case KEY_UP:
		case 'k':
			c->sel--;
			continue;
		case 'r':
			c->next_poll = 0;
			continue;
		case 't':
			r = console_token(c);
			break;
		case '\n':
		case '\r':
		case KEY_ENTER:
		case 'a':
		case 'd':
			if (it == NULL)
				continue;
			snprintf(id, sizeof(id), "%s", console_str(it, "id"));
			snprintf(name, sizeof(name), "%s%s", console_str(it,
			    "artifactName"), json_is_true(json_object_get(it,
			    "hashSigning")) ? " (hash signing: the appliance "
			    "has not seen the file)" : "");
			snprintf(sha, sizeof(sha), "%s", console_str(it,
			    "sha256"));
			if (ch == 'a' || ch == 'd')
				r = console_decide(c, id, name, sha, ch == 'a');
			else
				r = console_details(c, id);
			if (r == 1)
				r = 0;
			c->next_poll = 0;
			break;
		case 'q':
		case K_ESC:
			console_logout(c, "Logged out.");
			return SCR_LOGIN;
		default:
			r = ch;
			break;
		}
		if (r == K_STOP)
			return SCR_QUIT;
		if (r == K_IDLE) {
			console_logout(c, "Logged out: no keystroke for a while.");
			return SCR_LOGIN;
		}
		if (r == K_LOST || !c->logged_in) {
			console_logout(c, NULL);
			return SCR_LOGIN;
		}
	}
}

/* --- start ---------------------------------------------------------- */

static int
console_secret_init(struct console *c)
{
	long page = sysconf(_SC_PAGESIZE);
	void *p;

	if (page <= 0)
		return -1;
	c->sec_size = (sizeof(*c->sec) + (size_t)page - 1) / (size_t)page *
	    (size_t)page;
	p = mmap(NULL, c->sec_size, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return -1;
	c->sec = p;
	/* never swapped out, never in a core file */
	if (mlock(p, c->sec_size) != 0 ||
	    madvise(p, c->sec_size, MADV_DONTDUMP) != 0)
		return -1;
	return 0;
}

static void
console_secret_free(struct console *c)
{
	if (c->sec == NULL)
		return;
	OPENSSL_cleanse(c->sec, c->sec_size);
	munlock(c->sec, c->sec_size);
	munmap(c->sec, c->sec_size);
	c->sec = NULL;
}

static void
console_usage(void)
{
	fprintf(stderr, "usage: signet-console [--socket PATH] [--idle SECONDS]\n"
	    "  --socket PATH   signetd's console socket (default $SIGNET_CONSOLE_SOCKET\n"
	    "                  or " CONSOLE_DEFAULT_SOCKET ")\n"
	    "  --idle SECONDS  log out after this long without a keystroke "
	    "(default 300)\n");
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "idle", required_argument, NULL, 'i' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct console c;
	struct sigaction sa;
	struct rlimit rl = { 0, 0 };
	enum console_scr scr = SCR_LOGIN;
	long v;
	int ch;

	memset(&c, 0, sizeof(c));
	c.fd = -1;
	c.idle = CONSOLE_DEFAULT_IDLE;
	c.path = getenv("SIGNET_CONSOLE_SOCKET");
	if (c.path == NULL || c.path[0] == '\0')
		c.path = CONSOLE_DEFAULT_SOCKET;
	while ((ch = getopt_long(argc, argv, "s:i:h", opts, NULL)) != -1) {
		switch (ch) {
		case 's':
			c.path = optarg;
			break;
		case 'i':
			if (num_parse_long(optarg, 5, 86400, &v) != 0) {
				fprintf(stderr, "signet-console: --idle must be "
				    "5 to 86400 seconds\n");
				return 2;
			}
			c.idle = (unsigned)v;
			break;
		default:
			console_usage();
			return ch == 'h' ? 0 : 2;
		}
	}
	if (optind != argc) {
		console_usage();
		return 2;
	}
	/* what was typed here must not end up in a core file */
	setrlimit(RLIMIT_CORE, &rl);
	prctl(PR_SET_DUMPABLE, 0);
	if (console_secret_init(&c) != 0) {
		fprintf(stderr, "signet-console: cannot lock memory for the "
		    "password and PIN: %s\n", strerror(errno));
		console_secret_free(&c);
		return 1;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = console_on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	signal(SIGTSTP, SIG_IGN);
	setlocale(LC_ALL, "");
	if (initscr() == NULL) {
		console_secret_free(&c);
		return 1;
	}
	/* raw: ^C and ^Z are keys here, not a way out of the console */
	raw();
	noecho();
	nonl();
	keypad(stdscr, TRUE);
	set_escdelay(25);
	timeout(CONSOLE_TICK_MS);
	curs_set(0);
	while (scr != SCR_QUIT) {
		if (scr == SCR_LOGIN)
			scr = console_login_screen(&c);
		else
			scr = console_list_screen(&c);
	}
	console_logout(&c, NULL);
	console_disconnect(&c);
	endwin();
	console_secret_free(&c);
	return 0;
}
