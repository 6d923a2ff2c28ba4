/* signetd: the signing appliance's daemon. */
#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <libgen.h>
#include <limits.h>
#include <malloc.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "app.h"
#include "console_srv.h"
#include "jwks_refresh.h"
#include "khclient.h"
#include "log.h"
#include "notify.h"
#include "outbound.h"
#include "request.h"
#include "server.h"
#include "server_tsa.h"
#include "signer.h"
#include "signet_limits.h"
#include "signetd_common.h"
#include "tsa.h"
#include "users.h"
#include "workflow.h"

static void
usage(void)
{
	fprintf(stderr, "usage: signetd -c CONFIG [-d]\n"
	    "  -c CONFIG  configuration file (see signetd.conf.example)\n"
	    "  -d         debug logging\n");
}

/* Becomes user (when root); the state directory becomes theirs, since
 * the daemon that writes it runs as them from now on. */
static int
drop_privileges(const char *user, const char *state_dir)
{
	struct passwd *pw;

	if (user == NULL)
		return 0;
	if (geteuid() != 0) {
		log_warn("not root: [server] user = %s ignored", user);
		return 0;
	}
	if ((pw = getpwnam(user)) == NULL) {
		log_err("no such user '%s' ([server] user)", user);
		return -1;
	}
	if (chown(state_dir, pw->pw_uid, pw->pw_gid) != 0) {
		log_err("chown %s: %s", state_dir, strerror(errno));
		return -1;
	}
	if (setgroups(1, &pw->pw_gid) != 0 || setresgid(pw->pw_gid,
	    pw->pw_gid, pw->pw_gid) != 0 || setresuid(pw->pw_uid, pw->pw_uid,
	    pw->pw_uid) != 0) {
		log_err("cannot become user '%s': %s", user, strerror(errno));
		return -1;
	}
	return 0;
}

struct gc {
	struct store_txn *t;
	struct cas *cas;
	int removed;
};

static int
gc_one(const char *hex, void *arg)
{
	struct gc *g = arg;

	if (!request_artifact_known(g->t, hex) &&
	    cas_remove(g->cas, hex) == 0)
		g->removed++;
	return 0;
}

/* An artifact renamed into the store whose request was never committed
 * (a crash between the two) is referenced by nothing: remove it. Runs
 * before the server accepts uploads. */
static void
gc_artifacts(struct app *app)
{
	struct gc g = { NULL, app->cas, 0 };

	if (store_txn_begin(app->store, 0, &g.t) != 0)
		return;
	if (cas_walk(app->cas, gc_one, &g) != 0)
		log_warn("artifact clean-up incomplete");
	store_txn_abort(&g.t);
	if (g.removed > 0)
		log_info("removed %d artifact(s) no request refers to",
		    g.removed);
}

/* How often the retention sweep runs: hourly, or twice per retention
 * period when that is shorter; without retention, an hour of nothing. */
static time_t
retention_interval(const struct app *app)
{
	uint64_t r = app->cfg.retention_s;

	if (r == 0 || r / 2 >= SIGNET_RETENTION_SWEEP_S)
		return SIGNET_RETENTION_SWEEP_S;
	return r / 2 > 0 ? (time_t)(r / 2) : 1;
}

static void
retention_sweep(struct app *app)
{
	unsigned n = 0;
	int r;

	if (app->cfg.retention_s == 0)
		return;
	if ((r = workflow_expire_artifacts(app->store, app->cas,
	    app->cfg.retention_s, time(NULL), &n)) != 0)
		log_warn("retention: %s; tried again later", signet_strerror(r));
	if (n > 0)
		log_info("retention: removed the artifacts of %u request(s) "
		    "final for more than %llu s ([store] retention)", n,
		    (unsigned long long)app->cfg.retention_s);
}

/* After SIGTERM: submissions are refused, and the signer works through
 * what is queued for up to [server] drain_timeout seconds; another
 * SIGTERM or SIGINT, or the keyholder's exit, ends the wait. What is
 * left stays queued for the next start. */
static void
drain(struct app *app, const sigset_t *set)
{
	struct timespec tick = { 0, 100 * 1000 * 1000 }, t0, now;
	struct kh_status st;
	unsigned left, uploads;
	int sig, status;

	__atomic_store_n(&app->draining, 1, __ATOMIC_SEQ_CST);
	if (app->cfg.drain_timeout == 0)
		return;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		/* uploads already being received are answered (and their
		 * requests queued) before the listener stops */
		uploads = __atomic_load_n(&app->uploads, __ATOMIC_SEQ_CST);
		left = signer_depth(app->signer);
		if (uploads == 0 && left == 0)
			break;
		/* a locked token signs nothing: there is nothing to wait for
		 * but the uploads */
		if (uploads == 0 &&
		    (kh_status(app->kh, &st) != 0 || !st.logged_in)) {
			log_info("drain: the token cannot sign; %u request(s) "
			    "left queued for the next start", left);
			return;
		}
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (now.tv_sec - t0.tv_sec >= (time_t)app->cfg.drain_timeout) {
			log_warn("drain: %u upload(s) cut off, %u request(s) "
			    "left queued for the next start ([server] "
			    "drain_timeout)", uploads, left);
			return;
		}
		sig = sigtimedwait(set, NULL, &tick);
		if (sig == SIGTERM || sig == SIGINT) {
			log_info("drain: stopped at once (signal %d)", sig);
			return;
		}
		if (sig == SIGCHLD && waitpid(kh_pid(app->kh), &status,
		    WNOHANG) == kh_pid(app->kh)) {
			signer_halt(app->signer);
			log_err("the keyholder exited (status %d) while "
			    "draining", status);
			return;
		}
	}
	log_info("drain: the queue is empty, no upload in flight");
}

/* SIGHUP: the limits that can change while running are read again (the
 * database's ceiling, the queue's limit); everything else needs a
 * restart. A configuration that does not load changes nothing. */
static void
reload_limits(struct app *app, const char *conf)
{
	struct config c;
	char err[512];

	if (config_load(conf, &c, err, sizeof(err)) != 0) {
		log_err("reload: %s; nothing changed", err);
		return;
	}
	if (store_set_max_map(app->store, c.max_map_size) != 0)
		log_err("reload: max_map_size not applied");
	else
		app->cfg.max_map_size = c.max_map_size;
	__atomic_store_n(&app->cfg.max_queue, c.max_queue, __ATOMIC_RELAXED);
	log_info("reload: [store] max_map_size = %llu MiB, [signer] max_queue "
	    "= %u", (unsigned long long)(c.max_map_size >> 20), c.max_queue);
	config_free(&c);
}

/* The time-stamping authority of [tsa]; its key is loaded at the first
 * query, when the token may have been activated. */
static int
start_tsa(struct app *app)
{
	struct tsa_opts o;

	memset(&o, 0, sizeof(o));
	o.certificate = app->cfg.tsa.certificate;
	o.policy = app->cfg.tsa.policy;
	o.accuracy_ms = app->cfg.tsa.accuracy_ms;
	o.allow_unsynchronized = app->cfg.tsa.allow_unsynchronized;
	if (tsa_open(app->store, app->kh, &o, &app->tsa) != 0) {
		log_err("cannot start the time-stamping authority ([tsa])");
		return -1;
	}
	log_info("tsa: time-stamping authority on, certificate '%s', policy "
	    "%s%s", o.certificate, o.policy, o.allow_unsynchronized ?
	    " (issuing even while the clock is not synchronised)" : "");
	return 0;
}

/* [signing] workers, or with auto two per token session the keyholder
 * signs on: one prepares its request (CMS, the database) while another
 * waits on the token, so every session stays busy. */
static int
signer_workers(struct app *app)
{
	struct kh_status st;
	int n = app->cfg.workers;

	if (n > 0)
		return n;
	if (kh_status(app->kh, &st) != 0 || st.sessions == 0)
		n = SIGNET_DEFAULT_WORKERS;
	else
		n = 2 * (int)st.sessions;
	if (n > SIGNET_MAX_WORKERS)
		n = SIGNET_MAX_WORKERS;
	log_info("%d signing workers for %u token sessions", n,
	    (unsigned)st.sessions);
	return n;
}

int
main(int argc, char **argv)
{
	struct app app;
	struct server *srv = NULL;
	struct server_tsa *tsrv = NULL;
	struct console_srv *cons = NULL;
	struct kh_spawn_opts ko;
	struct notify_opts no;
	struct jwks_refresh_opts jo;
	const char *conf = NULL;
	char err[512], kpath[PATH_MAX];
	struct rlimit rl = { 0, 0 };
	const struct timespec kh_watch = { SIGNET_KH_WATCH_SECONDS, 0 };
	struct timespec start_ts;
	time_t next_sweep;
	sigset_t set;
	int ch, sig, debug = 0, rc = 1, status, lockfd = -1;

	while ((ch = getopt(argc, argv, "c:dh")) != -1) {
		switch (ch) {
		case 'c':
			conf = optarg;
			break;
		case 'd':
			debug = 1;
			break;
		default:
			usage();
			return ch == 'h' ? 0 : 2;
		}
	}
	if (conf == NULL || optind != argc) {
		usage();
		return 2;
	}
	log_init("signetd", debug);
	/* glibc gives threads that allocate at once arenas of their own (up
	 * to eight per CPU), and what is freed stays in each: with the HTTP
	 * and signing threads, that became most of signetd's memory after
	 * a busy hour. Two arenas, before any thread starts. */
	mallopt(M_ARENA_MAX, 2);
	memset(&app, 0, sizeof(app));
	/* nothing secret may end up in a core file */
	setrlimit(RLIMIT_CORE, &rl);
	prctl(PR_SET_DUMPABLE, 0);
	umask(077);

	if (config_load(conf, &app.cfg, err, sizeof(err)) != 0) {
		log_err("%s", err);
		return 1;
	}
	if (mkdir(app.cfg.state_dir, 0700) != 0 && errno != EEXIST) {
		log_err("state_dir %s: %s", app.cfg.state_dir, strerror(errno));
		goto out;
	}
	if ((lockfd = signet_state_lock(app.cfg.state_dir)) < 0) {
		log_err("%s is in use by another signetd (or not writable)",
		    app.cfg.state_dir);
		goto out;
	}
	if (app.cfg.kh_socket != NULL) {
		/* A keyholder of its own unit: it takes the connection of
		 * signetd's user alone (SO_PEERCRED), so connect as that
		 * user, after the switch. */
		if (drop_privileges(app.cfg.user, app.cfg.state_dir) != 0)
			goto out;
		if (kh_connect(app.cfg.kh_socket, &app.kh) != 0)
			goto out;
	} else {
		if (signet_keyholder_path(app.cfg.keyholder, kpath,
		    sizeof(kpath)) != 0) {
			log_err("signet-keyholder not found; set [token] "
			    "keyholder");
			goto out;
		}
		memset(&ko, 0, sizeof(ko));
		ko.path = kpath;
		ko.module = app.cfg.module;
		ko.token_label = app.cfg.token_label;
		ko.pin_file = app.cfg.pin_file;
		ko.env = (const char *const *)app.cfg.env;
		ko.user = app.cfg.token_user;
		ko.journal = app.cfg.kh_journal;
		ko.no_generate = app.cfg.kh_no_generate != 0;
		ko.sessions = (unsigned)app.cfg.kh_sessions;
		/* before anything else runs: the keyholder starts from a
		 * process that has no network sockets and no threads yet */
		if (kh_spawn(&ko, &app.kh) != 0) {
			log_err("cannot start the keyholder");
			goto out;
		}
		if (drop_privileges(app.cfg.user, app.cfg.state_dir) != 0)
			goto out;
	}

	if (store_open_state(app.cfg.state_dir, app.cfg.map_size,
	    &app.store) != 0 ||
	    cas_open(app.cfg.state_dir, &app.cas) != 0 ||
	    store_set_max_map(app.store, app.cfg.max_map_size) != 0)
		goto out;
	gc_artifacts(&app);
	if (users_init() != 0 || users_expire_sessions(app.store) != 0) {
		log_err("cannot prepare sessions");
		goto out;
	}

	/* signals are taken by sigwait below, not by any thread */
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGCHLD);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	outbound_allow_internal(app.cfg.allow_internal,
	    app.cfg.n_allow_internal);
	memset(&no, 0, sizeof(no));
	no.smtp_url = app.cfg.smtp_url;
	no.mail_from = app.cfg.mail_from;
	no.ca_file = app.cfg.notify_ca_file;
	no.retry_base_ms = app.cfg.retry_base_ms;
	no.retry_max_ms = app.cfg.retry_max_ms;
	if (notify_start(app.store, &no, &app.notify) != 0) {
		log_err("cannot start notifications");
		goto out;
	}
	memset(&jo, 0, sizeof(jo));
	jo.ca_file = app.cfg.origin_ca_file != NULL ? app.cfg.origin_ca_file :
	    app.cfg.notify_ca_file;
	jo.interval_s = app.cfg.jwks_refresh_interval;
	if (jwks_refresh_start(app.store, &jo, &app.jwks_refresh) != 0) {
		log_err("cannot start the JWKS refresh");
		goto out;
	}
	if (app.cfg.tsa.certificate != NULL && start_tsa(&app) != 0)
		goto out;
	if (signer_start(&app, signer_workers(&app), &app.signer) != 0) {
		log_err("cannot start the signer");
		goto out;
	}
	if (server_start(&app, &srv) != 0)
		goto out;
	if (console_srv_start(&app, &cons) != 0)
		goto out;
	if (server_tsa_start(&app, &tsrv) != 0)
		goto out;
	retention_sweep(&app);
	clock_gettime(CLOCK_MONOTONIC, &start_ts);
	next_sweep = start_ts.tv_sec + retention_interval(&app);
	for (;;) {
		/* wakes for signals, for the retention sweep, and (a
		 * keyholder of its own is no child) to see whether the
		 * keyholder's connection has gone: fail closed, as below */
		struct timespec wait = { retention_interval(&app), 0 };
		struct timespec now_ts;

		if (kh_watch.tv_sec < wait.tv_sec)
			wait = kh_watch;
		if ((sig = sigtimedwait(&set, NULL, &wait)) < 0) {
			if (errno == EAGAIN && kh_gone(app.kh)) {
				log_err("the keyholder closed its connection; "
				    "stopping");
				goto out;
			}
			clock_gettime(CLOCK_MONOTONIC, &now_ts);
			if (errno == EAGAIN && now_ts.tv_sec >= next_sweep) {
				retention_sweep(&app);
				next_sweep = now_ts.tv_sec +
				    retention_interval(&app);
			}
			continue;
		}
		if (sig == SIGCHLD) {
			if (kh_pid(app.kh) > 0 &&
			    waitpid(kh_pid(app.kh), &status, WNOHANG) ==
			    kh_pid(app.kh)) {
				/* fail closed: the token is gone. The signer
				 * stops taking requests first, so that none
				 * fails against the dead channel while the
				 * rest shuts down: they wait in the queue. */
				signer_halt(app.signer);
				log_err("the keyholder exited (status %d); "
				    "stopping", status);
				goto out;
			}
			continue;
		}
		if (sig == SIGHUP) {
			reload_limits(&app, conf);
			continue;
		}
		log_info("stopping (signal %d)", sig);
		drain(&app, &set);
		break;
	}
	rc = 0;
out:
	/* no new signatures while the rest stops; the queue is kept */
	signer_halt(app.signer);
	server_tsa_stop(tsrv);
	server_stop(srv);
	console_srv_stop(cons);
	signer_stop(app.signer);
	/* after both listeners: writes the issuance not yet audited */
	tsa_close(app.tsa);
	/* after the server: its handlers refresh through it */
	jwks_refresh_stop(app.jwks_refresh);
	notify_stop(app.notify);
	kh_free(app.kh);
	cas_close(app.cas);
	store_close(app.store);
	config_free(&app.cfg);
	if (lockfd >= 0)
		close(lockfd);
	return rc;
}
