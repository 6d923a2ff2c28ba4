#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "prompt.h"

int
prompt_password(const char *question, char *pw, size_t cap, size_t *len)
{
	struct termios old, quiet;
	int echo_off = 0, r = SIGNET_ERR_TRUNCATED;
	size_t n;

	*len = 0;
	if (cap < 2 || cap > (size_t)INT32_MAX)
		return SIGNET_ERR_INTERNAL;
	pw[0] = '\0';
	if (isatty(STDIN_FILENO)) {
		fprintf(stderr, "%s", question);
		if (tcgetattr(STDIN_FILENO, &old) == 0) {
			quiet = old;
			quiet.c_lflag &= ~(tcflag_t)ECHO;
			quiet.c_lflag |= (tcflag_t)ECHONL;
			echo_off = tcsetattr(STDIN_FILENO, TCSAFLUSH,
			    &quiet) == 0;
		}
	}
	if (fgets(pw, (int)cap, stdin) != NULL) {
		n = strcspn(pw, "\r\n");
		/* no line end and a full buffer: the line was longer */
		if (pw[n] == '\0' && n == cap - 1 && !feof(stdin)) {
			OPENSSL_cleanse(pw, cap);
			r = SIGNET_ERR_TOO_LARGE;
		} else {
			pw[n] = '\0';
			*len = n;
			r = n > 0 ? 0 : SIGNET_ERR_TRUNCATED;
		}
	}
	if (echo_off)
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
	return r;
}
