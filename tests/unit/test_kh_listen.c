/* The keyholder as a unit of its own (signet-keyholder.socket): it is
 * handed a listening socket (--listen-fd), takes the one connection of
 * --peer-user (SO_PEERCRED) and leaves when it closes; signetd reaches it
 * with kh_connect. A peer of another uid is refused unanswered, and the
 * options that would leave the listener open to anyone are refused.
 * SIGNET_KEYHOLDER names the executable (set by meson). */
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <setjmp.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "khclient.h"
#include "token_fixture.h"

extern char **environ;

static char sock_path[160];

static int
group_setup(void **state)
{
	(void)state;
	if (token_fx_setup("/tmp/signet-khl-XXXXXX", "keyholder/journal") != 0)
		return -1;
	snprintf(sock_path, sizeof(sock_path), "%s/kh.sock", T.dir);
	return 0;
}

static int
group_teardown(void **state)
{
	(void)state;
	return token_fx_teardown();
}

/* A listening socket at sock_path, as signet-keyholder.socket makes it. */
static int
listener(void)
{
	struct sockaddr_un sa;
	int fd;

	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, sock_path, strlen(sock_path));
	unlink(sock_path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(fd, 4), 0);
	return fd;
}

/* Starts the keyholder with the listening socket as fd 3; peer_user
 * NULL leaves --peer-user out. */
static pid_t
start(int lfd, const char *peer_user)
{
	posix_spawn_file_actions_t fa;
	const char *argv[16];
	char *envp[8];
	size_t n = 0, i;
	pid_t pid;

	argv[n++] = T.keyholder;
	argv[n++] = "--listen-fd";
	argv[n++] = "3";
	if (peer_user != NULL) {
		argv[n++] = "--peer-user";
		argv[n++] = peer_user;
	}
	argv[n++] = "--module";
	argv[n++] = T.module;
	argv[n++] = "--token";
	argv[n++] = "signet-test";
	argv[n++] = "--pin-file";
	argv[n++] = T.pin_file;
	argv[n++] = "--journal";
	argv[n++] = T.journal;
	argv[n] = NULL;
	for (i = 0; T.env[i] != NULL && i < 7; i++)
		envp[i] = (char *)(uintptr_t)T.env[i];
	envp[i] = NULL;
	assert_int_equal(posix_spawn_file_actions_init(&fa), 0);
	assert_int_equal(posix_spawn_file_actions_adddup2(&fa, lfd, 3), 0);
	assert_int_equal(posix_spawn(&pid, T.keyholder, &fa, NULL,
	    (char *const *)(uintptr_t)argv, envp), 0);
	posix_spawn_file_actions_destroy(&fa);
	return pid;
}

/* Exit status of pid within a few seconds, or -1 if it is still running
 * (then it is killed). */
static int
wait_exit(pid_t pid, int seconds)
{
	struct timespec ts = { 0, 50 * 1000 * 1000 };
	int i, st;

	for (i = 0; i < seconds * 20; i++) {
		if (waitpid(pid, &st, WNOHANG) == pid)
			return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
		nanosleep(&ts, NULL);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	return -1;
}

static const char *
me(void)
{
	struct passwd *pw = getpwuid(getuid());

	assert_non_null(pw);
	return pw->pw_name;
}

/* Our own uid connects: the token answers, logged in with the PIN file;
 * our closing the connection ends the keyholder, cleanly. */
static void
t_connect(void **state)
{
	struct kh_status st;
	struct kh *kh = NULL;
	pid_t pid;
	int lfd;

	(void)state;
	lfd = listener();
	pid = start(lfd, me());
	close(lfd);
	assert_int_equal(kh_connect(sock_path, &kh), 0);
	assert_int_equal(kh_pid(kh), -1);
	assert_int_equal(kh_status(kh, &st), 0);
	assert_true(st.present);
	assert_true(st.logged_in);
	assert_false(kh_gone(kh));
	kh_free(kh);
	assert_int_equal(wait_exit(pid, 10), 0);
}

/* The keyholder leaving shows on the connection (signetd stops then). */
static void
t_gone(void **state)
{
	struct kh_status st;
	struct kh *kh = NULL;
	pid_t pid;
	int lfd;

	(void)state;
	lfd = listener();
	pid = start(lfd, me());
	close(lfd);
	assert_int_equal(kh_connect(sock_path, &kh), 0);
	assert_int_equal(kh_status(kh, &st), 0);
	kill(pid, SIGTERM);
	assert_true(wait_exit(pid, 10) != -1);
	assert_true(kh_gone(kh));
	assert_int_not_equal(kh_status(kh, &st), 0);
	kh_free(kh);
}

/* Another uid's connection is closed unanswered and the keyholder keeps
 * waiting for its peer's. */
static void
t_other_uid_refused(void **state)
{
	struct kh_status st;
	struct kh *kh = NULL;
	pid_t pid;
	int lfd;

	(void)state;
	lfd = listener();
	/* a peer that is not us, whoever runs the test */
	pid = start(lfd, getuid() == 0 ? "nobody" : "root");
	close(lfd);
	assert_int_equal(kh_connect(sock_path, &kh), 0);
	assert_int_equal(kh_status(kh, &st), SIGNET_ERR_KEYHOLDER);
	kh_free(kh);
	/* still there, still listening: not served, not ended */
	assert_int_equal(wait_exit(pid, 1), -1);
}

/* --listen-fd without --peer-user, both kinds of socket, a listener that
 * is no socket: usage, no keyholder. */
static void
t_options(void **state)
{
	int lfd;

	(void)state;
	lfd = listener();
	assert_int_equal(wait_exit(start(lfd, NULL), 10), 2);
	close(lfd);
	lfd = open("/dev/null", 0);
	assert_true(lfd >= 0);
	assert_int_equal(wait_exit(start(lfd, me()), 10), 1);
	close(lfd);
}

static void
t_connect_errors(void **state)
{
	struct kh *kh = NULL;
	char longp[200];

	(void)state;
	assert_int_equal(kh_connect("/nonexistent/kh.sock", &kh),
	    SIGNET_ERR_KEYHOLDER);
	assert_null(kh);
	memset(longp, 'a', sizeof(longp) - 1);
	longp[0] = '/';
	longp[sizeof(longp) - 1] = '\0';
	assert_int_equal(kh_connect(longp, &kh), SIGNET_ERR_INVALID);
	assert_int_equal(kh_connect(NULL, &kh), SIGNET_ERR_INVALID);
	assert_true(kh_gone(NULL));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(t_connect),
		cmocka_unit_test(t_gone),
		cmocka_unit_test(t_other_uid_refused),
		cmocka_unit_test(t_options),
		cmocka_unit_test(t_connect_errors),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
