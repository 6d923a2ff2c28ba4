/* The officer console's wire format (appliance/console/consproto.c): frames as
 * signetd reads them from the console (requests, at most
 * SIGNET_MAX_CONSOLE_REQUEST) and as the console reads signetd's replies
 * (at most SIGNET_MAX_CONSOLE_REPLY), frame after frame until one fails.
 *
 * Input: one selector byte (even: signetd's side, odd: the console's),
 * then the bytes the peer sends.
 *
 * Invariant: every object consproto_recv returns goes back out through
 * consproto_send and reads in again as an equal object (the two sides
 * share this code: what one sends, the other must read). */
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "consproto.h"
#include "fuzz.h"

/* The socket buffer takes this without blocking the writer. */
#define FZ_CONS_MAX_STREAM	(128 * 1024)
#define FZ_CONS_MAX_FRAMES	16
/* Never reached: the peer has shut down, a read sees the end at once. */
#define FZ_CONS_WAIT_MS		5000

static void
fz_round_trip(const json_t *msg, size_t max)
{
	json_t *again = NULL;
	int sv[2], r;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
		return;
	r = consproto_send(sv[0], msg, max);
	/* a re-encoding may be longer than what was read (jansson writes
	 * "\u00e9" for some input and may escape '/'): only then too large */
	if (r == SIGNET_ERR_TOO_LARGE)
		goto out;
	if (r != 0)
		fuzz_fail("consproto_send failed on a received object");
	shutdown(sv[0], SHUT_WR);
	if (consproto_recv(sv[1], FZ_CONS_WAIT_MS, max, &again) != 0)
		fuzz_fail("consproto_recv refused what consproto_send wrote");
	if (!json_equal(msg, again))
		fuzz_fail("an object changed on its way through send and recv");
out:
	json_decref(again);
	close(sv[0]);
	close(sv[1]);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t max;
	json_t *msg;
	int sv[2], i;

	if (size < 1)
		return 0;
	max = data[0] % 2 == 0 ? SIGNET_MAX_CONSOLE_REQUEST :
	    SIGNET_MAX_CONSOLE_REPLY;
	data++;
	size--;
	if (size > FZ_CONS_MAX_STREAM)
		size = FZ_CONS_MAX_STREAM;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
		return 0;
	if (size > 0 && write(sv[0], data, size) != (ssize_t)size)
		goto out;
	shutdown(sv[0], SHUT_WR);
	for (i = 0; i < FZ_CONS_MAX_FRAMES; i++) {
		if (consproto_recv(sv[1], FZ_CONS_WAIT_MS, max, &msg) != 0)
			break;
		if (!json_is_object(msg))
			fuzz_fail("consproto_recv returned a non-object");
		fz_round_trip(msg, max);
		/* what console_srv.c does with a login */
		consproto_wipe_string(msg, "password");
		json_decref(msg);
	}
out:
	close(sv[0]);
	close(sv[1]);
	return 0;
}
