#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "consproto.h"
#include "rd.h"
#include "signet_limits.h"

static int64_t
consproto_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* 0 when fd is readable before the deadline (-1: none). */
static int
consproto_wait(int fd, int64_t deadline)
{
	struct pollfd p;
	int64_t left;
	int n;

	for (;;) {
		left = -1;
		if (deadline >= 0 && (left = deadline - consproto_now_ms()) <= 0)
			return SIGNET_ERR_UNAVAILABLE;
		p.fd = fd;
		p.events = POLLIN;
		p.revents = 0;
		n = poll(&p, 1, left > INT32_MAX ? INT32_MAX : (int)left);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return SIGNET_ERR_IO;
		if (n > 0)
			return 0;
	}
}

static int
consproto_read(int fd, uint8_t *p, size_t n, int64_t deadline)
{
	ssize_t got;
	size_t off = 0;
	int r;

	while (off < n) {
		if ((r = consproto_wait(fd, deadline)) != 0)
			return r == SIGNET_ERR_UNAVAILABLE && off > 0 ?
			    SIGNET_ERR_IO : r;
		got = recv(fd, p + off, n - off, MSG_DONTWAIT);
		if (got < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (got <= 0)
			return SIGNET_ERR_IO;
		off += (size_t)got;
	}
	return 0;
}

static int
consproto_writev(int fd, struct iovec *iov, int cnt)
{
	struct msghdr m;
	ssize_t w;

	while (cnt > 0) {
		memset(&m, 0, sizeof(m));
		m.msg_iov = iov;
		m.msg_iovlen = (size_t)cnt;
		w = sendmsg(fd, &m, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return SIGNET_ERR_IO;
		while (cnt > 0 && (size_t)w >= iov->iov_len) {
			w -= (ssize_t)iov->iov_len;
			iov++;
			cnt--;
		}
		if (cnt > 0) {
			iov->iov_base = (uint8_t *)iov->iov_base + w;
			iov->iov_len -= (size_t)w;
		}
	}
	return 0;
}

static void
consproto_hdr(uint8_t hdr[CONSPROTO_HDR], size_t n)
{
	hdr[0] = (uint8_t)(n >> 24);
	hdr[1] = (uint8_t)(n >> 16);
	hdr[2] = (uint8_t)(n >> 8);
	hdr[3] = (uint8_t)n;
}

int
consproto_send(int fd, const json_t *msg, size_t max)
{
	uint8_t hdr[CONSPROTO_HDR];
	struct iovec iov[2];
	char *text = NULL;
	size_t n;
	int r = SIGNET_ERR_INTERNAL;

	if (!json_is_object(msg))
		return SIGNET_ERR_INVALID;
	if ((text = json_dumps(msg, JSON_COMPACT)) == NULL)
		return SIGNET_ERR_NOMEM;
	n = strlen(text);
	if (n == 0 || n > max || n > UINT32_MAX) {
		r = SIGNET_ERR_TOO_LARGE;
		goto out;
	}
	consproto_hdr(hdr, n);
	iov[0].iov_base = hdr;
	iov[0].iov_len = sizeof(hdr);
	iov[1].iov_base = text;
	iov[1].iov_len = n;
	r = consproto_writev(fd, iov, 2);
out:
	if (text != NULL)
		OPENSSL_cleanse(text, strlen(text));
	free(text);
	return r;
}

int
consproto_send_pin(int fd, const uint8_t *pin, size_t len)
{
	uint8_t hdr[CONSPROTO_HDR];
	struct iovec iov[2];

	if (len == 0 || len > SIGNET_KH_MAX_PIN)
		return SIGNET_ERR_INVALID;
	consproto_hdr(hdr, len);
	iov[0].iov_base = hdr;
	iov[0].iov_len = sizeof(hdr);
	iov[1].iov_base = (void *)(uintptr_t)pin;
	iov[1].iov_len = len;
	return consproto_writev(fd, iov, 2);
}

int
consproto_recv(int fd, int wait_ms, size_t max, json_t **out)
{
	uint8_t hdr[CONSPROTO_HDR], *body = NULL;
	json_error_t jerr;
	json_t *v = NULL;
	struct rd r;
	uint32_t n = 0;
	int64_t deadline;
	int e;

	*out = NULL;
	if ((e = consproto_read(fd, hdr, 1, wait_ms < 0 ? -1 :
	    consproto_now_ms() + wait_ms)) != 0)
		return e;
	/* a frame that has begun is read to its end promptly, or not at all */
	deadline = consproto_now_ms() + SIGNET_CONSOLE_FRAME_TIMEOUT_MS;
	if ((e = consproto_read(fd, hdr + 1, sizeof(hdr) - 1, deadline)) != 0)
		return e == SIGNET_ERR_UNAVAILABLE ? SIGNET_ERR_IO : e;
	rd_init(&r, hdr, sizeof(hdr));
	if ((e = rd_u32(&r, &n)) != 0)
		return SIGNET_ERR_INTERNAL;
	/* checked before reading: the peer never decides how much we take */
	if (n == 0)
		return SIGNET_ERR_INVALID;
	if (n > max)
		return SIGNET_ERR_TOO_LARGE;
	if ((body = malloc(n)) == NULL)
		return SIGNET_ERR_NOMEM;
	if ((e = consproto_read(fd, body, n, deadline)) != 0) {
		e = e == SIGNET_ERR_UNAVAILABLE ? SIGNET_ERR_IO : e;
		goto out;
	}
	v = json_loadb((const char *)body, n, JSON_REJECT_DUPLICATES, &jerr);
	if (!json_is_object(v)) {
		e = SIGNET_ERR_INVALID;
		goto out;
	}
	*out = v;
	v = NULL;
	e = 0;
out:
	OPENSSL_cleanse(body, n);
	free(body);
	json_decref(v);
	return e;
}

void
consproto_wipe_string(json_t *obj, const char *key)
{
	json_t *s = json_object_get(obj, key);
	size_t n;

	if (!json_is_string(s))
		return;
	n = json_string_length(s);
	/* jansson owns the bytes; they are ours to clear before release */
	OPENSSL_cleanse((void *)(uintptr_t)json_string_value(s), n);
}
