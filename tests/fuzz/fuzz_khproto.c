/* The keyholder protocol (pkcs11/khproto.c, pkcs11/PROTOCOL.md) from both
 * ends: frames as the keyholder reads them from signetd (khproto_recv_fd,
 * then the request decoder its dispatch table picks), as signetd reads
 * the keyholder's replies (khproto_recv, then the reply decoders and the
 * failure reply), and frames handed to khproto_open directly, whatever
 * their length header says.
 *
 * Input: one selector byte, then the bytes the peer sends.
 *   selector % 4 == 0: a stream to the keyholder, frame after frame until
 *                      one breaks the protocol (the keyholder exits then);
 *   selector % 4 == 1: a stream to signetd, likewise;
 *   selector % 4 == 2: one buffer as a frame, both decoder sets;
 *   selector % 4 == 3: the keyholder's signing journal as `signet audit
 *                      reconcile` and a starting keyholder read it
 *                      (khj_walk): every line it hands on is within the
 *                      line limit, and lines plus breaks account for the
 *                      input's lines.
 *
 * Invariant: whatever a decoder accepts, the matching encoder writes back
 * byte for byte (both sides share the code; a message one side accepts
 * and the other cannot produce, or produces differently, is a bug). */
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fuzz.h"
#include "khjournal.h"
#include "khproto.h"

/* More than a few frames are not needed to go through the stream code;
 * the socket buffer takes this much without blocking. */
#define FZ_KH_MAX_STREAM	(4 * KH_MAX_FRAME)
/* Frames per stream before the target stops reading. */
#define FZ_KH_MAX_FRAMES	16

/* Checks that enc, given the frame's request id, wrote exactly
 * frame[0..len). */
static void
fz_same(struct wbuf *enc, int e, uint32_t id, const uint8_t *frame,
    size_t len, const char *what)
{
	if (e != 0 || khproto_set_id(enc->buf, enc->len, id) != 0 ||
	    enc->len != len || memcmp(enc->buf, frame, len) != 0)
		fuzz_fail(what);
}

/* A request body by type, as signet-keyholder's dispatch table reads it.
 * Returns the decoder's verdict; on success the message is re-encoded and
 * compared with the frame. */
static int
fz_request(uint8_t type, uint32_t reqid, struct rd *body, const uint8_t *frame,
    size_t len)
{
	struct kh_sign_req sq;
	struct kh_gen_req gq;
	char id[KH_KEY_ID_HEX + 1];
	const uint8_t *pin;
	size_t pinlen;
	uint32_t off;
	struct wbuf w;
	int r, e = SIGNET_ERR_INTERNAL;

	wbuf_init(&w, KH_MAX_FRAME);
	switch (type) {
	case KH_MSG_STATUS:
		if ((r = khproto_dec_status_req(body)) == 0)
			e = khproto_enc_status_req(&w);
		break;
	case KH_MSG_LIST_KEYS:
		if ((r = khproto_dec_list_req(body, &off)) == 0)
			e = khproto_enc_list_req(&w, off);
		break;
	case KH_MSG_PUBKEY:
		if ((r = khproto_dec_pubkey_req(body, id)) == 0)
			e = khproto_enc_pubkey_req(&w, id);
		break;
	case KH_MSG_SIGN:
		if ((r = khproto_dec_sign_req(body, &sq)) == 0)
			e = khproto_enc_sign_req(&w, &sq);
		break;
	case KH_MSG_GENERATE:
		if ((r = khproto_dec_gen_req(body, &gq)) == 0)
			e = khproto_enc_gen_req(&w, &gq);
		break;
	case KH_MSG_LOGIN:
		if ((r = khproto_dec_login_req(body, &pin, &pinlen)) == 0)
			e = khproto_enc_login_req(&w, pin, pinlen);
		break;
	case KH_MSG_LOGIN_FD:
		if ((r = khproto_dec_login_fd_req(body)) == 0)
			e = khproto_enc_login_fd_req(&w);
		break;
	default:
		/* the keyholder exits on an unknown type */
		wbuf_free(&w);
		return SIGNET_ERR_PROTOCOL;
	}
	if (r == 0)
		fz_same(&w, e, reqid, frame, len, "request does not re-encode");
	wbuf_free(&w);
	return r;
}

/* A reply body by type, as khclient.c reads the answer to its request. */
static int
fz_reply(uint8_t type, uint32_t reqid, struct rd *body, const uint8_t *frame,
    size_t len)
{
	struct kh_key_info keys[KH_LIST_PAGE], k;
	struct kh_login_result lr;
	struct kh_failure f;
	struct kh_status st;
	const uint8_t *p;
	uint32_t total;
	size_t n;
	struct wbuf w;
	int r, e = SIGNET_ERR_INTERNAL;

	wbuf_init(&w, KH_MAX_FRAME);
	switch (type) {
	case KH_MSG_FAILURE:
		if ((r = khproto_dec_failure(body, &f)) == 0)
			e = khproto_enc_failure(&w, f.code, f.msg);
		break;
	case KH_MSG_STATUS | KH_MSG_REPLY:
		if ((r = khproto_dec_status_rep(body, &st)) == 0)
			e = khproto_enc_status_rep(&w, &st);
		break;
	case KH_MSG_LIST_KEYS | KH_MSG_REPLY:
		if ((r = khproto_dec_list_rep(body, &total, keys, &n)) == 0)
			e = khproto_enc_list_rep(&w, total, keys, n);
		break;
	case KH_MSG_PUBKEY | KH_MSG_REPLY:
		if ((r = khproto_dec_pubkey_rep(body, &p, &n)) == 0)
			e = khproto_enc_pubkey_rep(&w, p, n);
		break;
	case KH_MSG_SIGN | KH_MSG_REPLY:
		if ((r = khproto_dec_sign_rep(body, &p, &n)) == 0)
			e = khproto_enc_sign_rep(&w, p, n);
		break;
	case KH_MSG_GENERATE | KH_MSG_REPLY:
		if ((r = khproto_dec_gen_rep(body, &k)) == 0)
			e = khproto_enc_gen_rep(&w, &k);
		break;
	case KH_MSG_LOGIN | KH_MSG_REPLY:
		if ((r = khproto_dec_login_rep(body)) == 0)
			e = khproto_enc_login_rep(&w);
		break;
	case KH_MSG_LOGIN_FD | KH_MSG_REPLY:
		if ((r = khproto_dec_login_fd_rep(body, &lr)) == 0)
			e = khproto_enc_login_fd_rep(&w, &lr);
		break;
	default:
		/* signetd refuses a reply of another type */
		wbuf_free(&w);
		return SIGNET_ERR_PROTOCOL;
	}
	if (r == 0)
		fz_same(&w, e, reqid, frame, len, "reply does not re-encode");
	wbuf_free(&w);
	return r;
}

/* Frames from a connected socket until the stream ends or breaks the
 * protocol, read the way the receiving side reads them. */
static void
fz_stream(const uint8_t *data, size_t size, int to_keyholder)
{
	uint8_t *frame = NULL;
	struct rd body;
	uint32_t id;
	uint8_t type;
	size_t len;
	int sv[2] = { -1, -1 }, passed, i, r;

	if (size > FZ_KH_MAX_STREAM)
		size = FZ_KH_MAX_STREAM;
	if ((frame = malloc(KH_MAX_FRAME)) == NULL ||
	    socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
		goto out;
	if (size > 0 && write(sv[0], data, size) != (ssize_t)size)
		goto out;
	/* the peer is done: a short frame ends in SIGNET_ERR_KEYHOLDER */
	shutdown(sv[0], SHUT_WR);
	for (i = 0; i < FZ_KH_MAX_FRAMES; i++) {
		if (to_keyholder) {
			r = khproto_recv_fd(sv[1], frame, &len, &passed);
			if (passed >= 0)
				fuzz_fail("a descriptor came from nowhere");
		} else {
			r = khproto_recv(sv[1], frame, &len);
		}
		if (r != 0)
			break;
		if (len < KH_FRAME_HDR + KH_MSG_HDR || len > KH_MAX_FRAME)
			fuzz_fail("khproto_recv returned a length out of range");
		if (khproto_open(frame, len, &type, &id, &body) != 0)
			fuzz_fail("khproto_open refused what khproto_recv read");
		r = to_keyholder ? fz_request(type, id, &body, frame, len) :
		    fz_reply(type, id, &body, frame, len);
		if (r != 0 && to_keyholder)
			break;
	}
out:
	if (sv[0] >= 0)
		close(sv[0]);
	if (sv[1] >= 0)
		close(sv[1]);
	free(frame);
}

static void
fz_jline(uint64_t lineno, uint64_t seq, const char *line, size_t len,
    void *arg)
{
	(void)lineno;
	(void)seq;
	(void)arg;
	if (len > SIGNET_KH_MAX_JOURNAL_LINE || strlen(line) != len)
		fuzz_fail("khj_walk handed on a line out of bounds");
}

static void
fz_journal(const uint8_t *data, size_t size)
{
	struct khj_walk_cb cb = { fz_jline, NULL, NULL };
	char head[KHJ_HASH_HEX + 1];
	uint64_t lines, breaks, nl = 0;
	size_t i;
	FILE *f;

	if (size == 0 || (f = fmemopen((void *)(uintptr_t)data, size,
	    "r")) == NULL)
		return;
	for (i = 0; i < size; i++)
		if (data[i] == '\n')
			nl++;
	if (khj_walk(f, &cb, &lines, &breaks, head) == 0 &&
	    (lines > nl + 1 || lines + breaks < nl ||
	    strlen(head) != KHJ_HASH_HEX))
		fuzz_fail("khj_walk's counts do not add up");
	fclose(f);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rd body;
	uint32_t id;
	uint8_t *copy, type;

	if (size < 1)
		return 0;
	switch (data[0] % 4) {
	case 0:
		fz_stream(data + 1, size - 1, 1);
		break;
	case 1:
		fz_stream(data + 1, size - 1, 0);
		break;
	case 3:
		fz_journal(data + 1, size - 1);
		break;
	default:
		/* an exact-size copy: a read past the frame is caught */
		if ((copy = malloc(size - 1 > 0 ? size - 1 : 1)) == NULL)
			return 0;
		memcpy(copy, data + 1, size - 1);
		if (khproto_open(copy, size - 1, &type, &id, &body) == 0) {
			struct rd again = body;

			(void)fz_request(type, id, &body, copy, size - 1);
			(void)fz_reply(type, id, &again, copy, size - 1);
		}
		free(copy);
		break;
	}
	return 0;
}
