#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "khproto.h"

size_t
khproto_hash_len(int hash)
{
	switch (hash) {
	case KH_HASH_SHA256:
		return 32;
	case KH_HASH_SHA384:
		return 48;
	case KH_HASH_SHA512:
		return 64;
	default:
		return 0;
	}
}

bool
khproto_valid_key_id(const char *id)
{
	size_t i, n = strnlen(id, KH_KEY_ID_HEX + 1);

	if (n < 2 || n > KH_KEY_ID_HEX || n % 2 != 0)
		return false;
	for (i = 0; i < n; i++) {
		if (!((id[i] >= '0' && id[i] <= '9') ||
		    (id[i] >= 'a' && id[i] <= 'f')))
			return false;
	}
	return true;
}

bool
khproto_valid_gen(int type, unsigned bits)
{
	if (type == KH_KEY_RSA)
		return bits == 2048 || bits == 3072 || bits == 4096;
	if (type == KH_KEY_EC)
		return bits == 256 || bits == 384;
	return false;
}

/* Text that ends up in logs, the console and web pages: no control
 * characters, so nothing the token or a peer says can forge a log line or
 * move a terminal's cursor. Bytes >= 0x80 pass (UTF-8 labels). */
static bool
text_ok(const char *s, bool allow_empty)
{
	const unsigned char *p = (const unsigned char *)s;

	if (*p == '\0')
		return allow_empty;
	for (; *p != '\0'; p++) {
		if (*p < 0x20 || *p == 0x7f)
			return false;
	}
	return true;
}

bool
khproto_valid_label(const char *label)
{
	return strnlen(label, SIGNET_KH_MAX_LABEL + 1) <= SIGNET_KH_MAX_LABEL &&
	    text_ok(label, false);
}

bool
khproto_valid_ref(const char *ref)
{
	return strnlen(ref, KH_MAX_REF + 1) <= KH_MAX_REF &&
	    text_ok(ref, false);
}

static bool
valid_purpose(int purpose)
{
	return purpose == KH_PURPOSE_REQUEST ||
	    purpose == KH_PURPOSE_CERTIFICATE;
}

static bool
valid_key_info(const struct kh_key_info *k)
{
	return khproto_valid_key_id(k->id) && text_ok(k->label, true) &&
	    (k->type == KH_KEY_RSA || k->type == KH_KEY_EC) &&
	    k->bits > 0 && k->bits <= KH_MAX_KEY_BITS;
}

/* Framing */

static int
msg_begin(struct wbuf *b, uint8_t type)
{
	int e;

	/* the length is patched in by msg_end, the request id by
	 * khproto_set_id */
	if ((e = wbuf_u32(b, 0)) != 0 || (e = wbuf_u8(b, type)) != 0)
		return e;
	return wbuf_u32(b, 0);
}

static int
msg_end(struct wbuf *b)
{
	size_t n;

	if (b->buf == NULL || b->len < KH_FRAME_HDR + KH_MSG_HDR)
		return SIGNET_ERR_INTERNAL;
	n = b->len - KH_FRAME_HDR;
	if (n > SIGNET_KH_MAX_MSG) {
		wbuf_free(b);
		return SIGNET_ERR_TOO_LARGE;
	}
	b->buf[0] = (uint8_t)(n >> 24);
	b->buf[1] = (uint8_t)(n >> 16);
	b->buf[2] = (uint8_t)(n >> 8);
	b->buf[3] = (uint8_t)n;
	return 0;
}

int
khproto_set_id(uint8_t *frame, size_t len, uint32_t id)
{
	if (len < KH_FRAME_HDR + KH_MSG_HDR)
		return SIGNET_ERR_INTERNAL;
	frame[KH_FRAME_HDR + 1] = (uint8_t)(id >> 24);
	frame[KH_FRAME_HDR + 2] = (uint8_t)(id >> 16);
	frame[KH_FRAME_HDR + 3] = (uint8_t)(id >> 8);
	frame[KH_FRAME_HDR + 4] = (uint8_t)id;
	return 0;
}

int
khproto_open(const uint8_t *frame, size_t len, uint8_t *type, uint32_t *id,
    struct rd *body)
{
	struct rd r;
	uint32_t n;

	rd_init(&r, frame, len);
	if (rd_u32(&r, &n) != 0)
		return SIGNET_ERR_PROTOCOL;
	if (n < KH_MSG_HDR || n > SIGNET_KH_MAX_MSG || n != rd_left(&r))
		return SIGNET_ERR_PROTOCOL;
	if (rd_u8(&r, type) != 0 || rd_u32(&r, id) != 0)
		return SIGNET_ERR_PROTOCOL;
	rd_init(body, frame + KH_FRAME_HDR + KH_MSG_HDR,
	    len - KH_FRAME_HDR - KH_MSG_HDR);
	return 0;
}

int
khproto_send(int fd, const uint8_t *frame, size_t len)
{
	ssize_t w;
	size_t off = 0;

	while (off < len) {
		w = send(fd, frame + off, len - off, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return SIGNET_ERR_KEYHOLDER;
		off += (size_t)w;
	}
	return 0;
}

static int
read_full(int fd, uint8_t *p, size_t n)
{
	ssize_t got;
	size_t off = 0;

	while (off < n) {
		got = read(fd, p + off, n - off);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			return SIGNET_ERR_KEYHOLDER;
		off += (size_t)got;
	}
	return 0;
}

int
khproto_recv(int fd, uint8_t *buf, size_t *len)
{
	uint32_t n;
	int e;

	*len = 0;
	if ((e = read_full(fd, buf, KH_FRAME_HDR)) != 0)
		return e;
	n = (uint32_t)buf[0] << 24 | (uint32_t)buf[1] << 16 |
	    (uint32_t)buf[2] << 8 | (uint32_t)buf[3];
	/* checked before reading: the peer never decides how much we take */
	if (n < KH_MSG_HDR || n > SIGNET_KH_MAX_MSG)
		return SIGNET_ERR_PROTOCOL;
	if ((e = read_full(fd, buf + KH_FRAME_HDR, n)) != 0)
		return e;
	*len = KH_FRAME_HDR + (size_t)n;
	return 0;
}

int
khproto_send_fd(int sock, const uint8_t *frame, size_t len, int fd)
{
	union {
		struct cmsghdr hdr;
		char buf[CMSG_SPACE(sizeof(int))];
	} ctl;
	struct msghdr m;
	struct cmsghdr *c;
	struct iovec iov;
	ssize_t w;

	if (len == 0 || fd < 0)
		return SIGNET_ERR_INVALID;
	memset(&m, 0, sizeof(m));
	memset(&ctl, 0, sizeof(ctl));
	iov.iov_base = (void *)(uintptr_t)frame;
	iov.iov_len = len;
	m.msg_iov = &iov;
	m.msg_iovlen = 1;
	m.msg_control = ctl.buf;
	m.msg_controllen = sizeof(ctl.buf);
	c = CMSG_FIRSTHDR(&m);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &fd, sizeof(int));
	/* the descriptor rides on the first byte; the rest of a short write
	 * goes out plainly */
	do {
		w = sendmsg(sock, &m, MSG_NOSIGNAL);
	} while (w < 0 && errno == EINTR);
	if (w <= 0)
		return SIGNET_ERR_KEYHOLDER;
	if ((size_t)w == len)
		return 0;
	return khproto_send(sock, frame + w, len - (size_t)w);
}

/* Takes the descriptors out of one recvmsg's ancillary data. The first
 * becomes *passed; any other is closed and makes the frame a violation. */
static int
take_fds(struct msghdr *m, int *passed)
{
	struct cmsghdr *c;
	size_t i, n;
	int fd, r = 0;

	if (m->msg_flags & MSG_CTRUNC)
		r = SIGNET_ERR_PROTOCOL;
	for (c = CMSG_FIRSTHDR(m); c != NULL; c = CMSG_NXTHDR(m, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS ||
		    c->cmsg_len < CMSG_LEN(0)) {
			r = SIGNET_ERR_PROTOCOL;
			continue;
		}
		n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (i = 0; i < n; i++) {
			memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
			if (*passed < 0) {
				*passed = fd;
			} else {
				close(fd);
				r = SIGNET_ERR_PROTOCOL;
			}
		}
	}
	return r;
}

static int
recvmsg_full(int sock, uint8_t *p, size_t n, int *passed)
{
	union {
		struct cmsghdr hdr;
		/* room for two: a second one is seen and refused, not
		 * silently dropped */
		char buf[CMSG_SPACE(2 * sizeof(int))];
	} ctl;
	struct msghdr m;
	struct iovec iov;
	ssize_t got;
	size_t off = 0;
	int r = 0, e;

	while (off < n) {
		memset(&m, 0, sizeof(m));
		iov.iov_base = p + off;
		iov.iov_len = n - off;
		m.msg_iov = &iov;
		m.msg_iovlen = 1;
		m.msg_control = ctl.buf;
		m.msg_controllen = sizeof(ctl.buf);
		got = recvmsg(sock, &m, MSG_CMSG_CLOEXEC);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			return SIGNET_ERR_KEYHOLDER;
		if ((e = take_fds(&m, passed)) != 0)
			r = e;
		off += (size_t)got;
	}
	return r;
}

int
khproto_recv_fd(int sock, uint8_t *buf, size_t *len, int *passed)
{
	uint32_t n;
	int e;

	*len = 0;
	*passed = -1;
	if ((e = recvmsg_full(sock, buf, KH_FRAME_HDR, passed)) != 0)
		goto fail;
	n = (uint32_t)buf[0] << 24 | (uint32_t)buf[1] << 16 |
	    (uint32_t)buf[2] << 8 | (uint32_t)buf[3];
	if (n < KH_MSG_HDR || n > SIGNET_KH_MAX_MSG) {
		e = SIGNET_ERR_PROTOCOL;
		goto fail;
	}
	if ((e = recvmsg_full(sock, buf + KH_FRAME_HDR, n, passed)) != 0)
		goto fail;
	*len = KH_FRAME_HDR + (size_t)n;
	return 0;
 fail:
	if (*passed >= 0)
		close(*passed);
	*passed = -1;
	return e;
}

/* Decoders share one shape: any failed read or a leftover byte makes the
 * whole message a protocol violation, whatever rd said in detail. */
#define RD(x)	do { if ((x) != 0) return SIGNET_ERR_PROTOCOL; } while (0)
#define WB(x)	do { int e_ = (x); if (e_ != 0) return e_; } while (0)

static int
rd_bool(struct rd *r, bool *v)
{
	uint8_t u;

	RD(rd_u8(r, &u));
	if (u > 1)
		return SIGNET_ERR_PROTOCOL;
	*v = u == 1;
	return 0;
}

static int
rd_key_id(struct rd *r, char id[KH_KEY_ID_HEX + 1])
{
	RD(rd_cstr(r, id, KH_KEY_ID_HEX + 1));
	if (!khproto_valid_key_id(id))
		return SIGNET_ERR_PROTOCOL;
	return 0;
}

static int
enc_key_info(struct wbuf *b, const struct kh_key_info *k)
{
	if (!valid_key_info(k))
		return SIGNET_ERR_INVALID;
	WB(wbuf_cstr(b, k->id));
	WB(wbuf_cstr(b, k->label));
	WB(wbuf_u8(b, (uint8_t)k->type));
	return wbuf_u32(b, k->bits);
}

static int
dec_key_info(struct rd *r, struct kh_key_info *k)
{
	uint8_t type;
	uint32_t bits;

	memset(k, 0, sizeof(*k));
	RD(rd_cstr(r, k->id, sizeof(k->id)));
	RD(rd_cstr(r, k->label, sizeof(k->label)));
	RD(rd_u8(r, &type));
	RD(rd_u32(r, &bits));
	k->type = type;
	k->bits = bits;
	if (!valid_key_info(k))
		return SIGNET_ERR_PROTOCOL;
	return 0;
}

/* Requests */

int
khproto_enc_status_req(struct wbuf *b)
{
	WB(msg_begin(b, KH_MSG_STATUS));
	return msg_end(b);
}

int
khproto_dec_status_req(struct rd *r)
{
	RD(rd_end(r));
	return 0;
}

int
khproto_enc_list_req(struct wbuf *b, uint32_t offset)
{
	if (offset > SIGNET_KH_MAX_KEYS)
		return SIGNET_ERR_INVALID;
	WB(msg_begin(b, KH_MSG_LIST_KEYS));
	WB(wbuf_u32(b, offset));
	return msg_end(b);
}

int
khproto_dec_list_req(struct rd *r, uint32_t *offset)
{
	RD(rd_u32(r, offset));
	RD(rd_end(r));
	if (*offset > SIGNET_KH_MAX_KEYS)
		return SIGNET_ERR_PROTOCOL;
	return 0;
}

int
khproto_enc_pubkey_req(struct wbuf *b, const char *key_id)
{
	if (!khproto_valid_key_id(key_id))
		return SIGNET_ERR_INVALID;
	WB(msg_begin(b, KH_MSG_PUBKEY));
	WB(wbuf_cstr(b, key_id));
	return msg_end(b);
}

int
khproto_dec_pubkey_req(struct rd *r, char key_id[KH_KEY_ID_HEX + 1])
{
	WB(rd_key_id(r, key_id));
	RD(rd_end(r));
	return 0;
}

static bool
valid_mech(int mech)
{
	return mech == KH_MECH_RSA_PKCS1 || mech == KH_MECH_RSA_PSS ||
	    mech == KH_MECH_ECDSA;
}

int
khproto_enc_sign_req(struct wbuf *b, const struct kh_sign_req *q)
{
	if (!khproto_valid_key_id(q->key_id) || !valid_mech(q->mech) ||
	    khproto_hash_len(q->hash) == 0 ||
	    q->dlen != khproto_hash_len(q->hash) ||
	    !valid_purpose(q->purpose) || !khproto_valid_ref(q->ref))
		return SIGNET_ERR_INVALID;
	WB(msg_begin(b, KH_MSG_SIGN));
	WB(wbuf_cstr(b, q->key_id));
	WB(wbuf_u8(b, (uint8_t)q->mech));
	WB(wbuf_u8(b, (uint8_t)q->hash));
	WB(wbuf_blob(b, q->dgst, q->dlen));
	WB(wbuf_u8(b, (uint8_t)q->purpose));
	WB(wbuf_cstr(b, q->ref));
	return msg_end(b);
}

int
khproto_dec_sign_req(struct rd *r, struct kh_sign_req *q)
{
	const uint8_t *d;
	uint8_t mech, hash, purpose;
	size_t n;

	memset(q, 0, sizeof(*q));
	WB(rd_key_id(r, q->key_id));
	RD(rd_u8(r, &mech));
	RD(rd_u8(r, &hash));
	RD(rd_blob(r, KH_MAX_DIGEST, &d, &n));
	RD(rd_u8(r, &purpose));
	RD(rd_cstr(r, q->ref, sizeof(q->ref)));
	RD(rd_end(r));
	q->mech = mech;
	q->hash = hash;
	q->purpose = purpose;
	/* a signature nobody names a reason for is not made: the journal
	 * must say what each one was for */
	if (!valid_purpose(q->purpose) || !khproto_valid_ref(q->ref))
		return SIGNET_ERR_PROTOCOL;
	/* Every mechanism signs a digest of exactly the named hash's size
	 * (PKCS#1 v1.5 DigestInfo, PSS mHash, ECDSA e): anything else is a
	 * confused or hostile peer, not a retryable error. */
	if (!valid_mech(q->mech) || khproto_hash_len(q->hash) == 0 ||
	    n != khproto_hash_len(q->hash))
		return SIGNET_ERR_PROTOCOL;
	memcpy(q->dgst, d, n);
	q->dlen = n;
	return 0;
}

int
khproto_enc_gen_req(struct wbuf *b, const struct kh_gen_req *q)
{
	if (!khproto_valid_label(q->label) ||
	    !khproto_valid_gen(q->type, q->bits) ||
	    q->origin != KH_GEN_BY_ADMIN || !khproto_valid_ref(q->admin))
		return SIGNET_ERR_INVALID;
	WB(msg_begin(b, KH_MSG_GENERATE));
	WB(wbuf_cstr(b, q->label));
	WB(wbuf_u8(b, (uint8_t)q->type));
	WB(wbuf_u32(b, q->bits));
	WB(wbuf_u8(b, (uint8_t)q->origin));
	WB(wbuf_cstr(b, q->admin));
	return msg_end(b);
}

int
khproto_dec_gen_req(struct rd *r, struct kh_gen_req *q)
{
	uint8_t type, origin;
	uint32_t bits;

	memset(q, 0, sizeof(*q));
	RD(rd_cstr(r, q->label, sizeof(q->label)));
	RD(rd_u8(r, &type));
	RD(rd_u32(r, &bits));
	RD(rd_u8(r, &origin));
	RD(rd_cstr(r, q->admin, sizeof(q->admin)));
	RD(rd_end(r));
	q->type = type;
	q->bits = bits;
	q->origin = origin;
	/* a key is made only on an administrator's request, and signetd
	 * must say so and say who: the journal keeps the name */
	if (!khproto_valid_label(q->label) ||
	    !khproto_valid_gen(q->type, q->bits) ||
	    q->origin != KH_GEN_BY_ADMIN || !khproto_valid_ref(q->admin))
		return SIGNET_ERR_PROTOCOL;
	return 0;
}

static bool
valid_pin(const uint8_t *pin, size_t n)
{
	/* PKCS#11 PINs are UTF-8 text; a NUL would be cut short by any
	 * module that treats it as a C string. */
	return n > 0 && n <= SIGNET_KH_MAX_PIN && memchr(pin, '\0', n) == NULL;
}

int
khproto_enc_login_req(struct wbuf *b, const void *pin, size_t pinlen)
{
	if (!valid_pin(pin, pinlen))
		return SIGNET_ERR_INVALID;
	WB(msg_begin(b, KH_MSG_LOGIN));
	WB(wbuf_blob(b, pin, pinlen));
	return msg_end(b);
}

int
khproto_dec_login_req(struct rd *r, const uint8_t **pin, size_t *pinlen)
{
	RD(rd_blob(r, SIGNET_KH_MAX_PIN, pin, pinlen));
	RD(rd_end(r));
	if (!valid_pin(*pin, *pinlen))
		return SIGNET_ERR_PROTOCOL;
	return 0;
}

int
khproto_enc_login_fd_req(struct wbuf *b)
{
	WB(msg_begin(b, KH_MSG_LOGIN_FD));
	return msg_end(b);
}

int
khproto_dec_login_fd_req(struct rd *r)
{
	RD(rd_end(r));
	return 0;
}

/* Replies */

int
khproto_enc_failure(struct wbuf *b, int code, const char *msg)
{
	size_t n = strnlen(msg, KH_MAX_ERRMSG);

	if (code >= 0 || code <= SIGNET_ERR_MAX)
		return SIGNET_ERR_INVALID;
	WB(msg_begin(b, KH_MSG_FAILURE));
	WB(wbuf_u32(b, (uint32_t)code));
	WB(wbuf_blob(b, msg, n));
	return msg_end(b);
}

int
khproto_dec_failure(struct rd *r, struct kh_failure *f)
{
	uint32_t u;
	int32_t code;

	memset(f, 0, sizeof(*f));
	RD(rd_u32(r, &u));
	RD(rd_cstr(r, f->msg, sizeof(f->msg)));
	RD(rd_end(r));
	memcpy(&code, &u, sizeof(code));
	if (code >= 0 || code <= SIGNET_ERR_MAX || !text_ok(f->msg, true))
		return SIGNET_ERR_PROTOCOL;
	f->code = code;
	return 0;
}

int
khproto_enc_status_rep(struct wbuf *b, const struct kh_status *st)
{
	if (!text_ok(st->label, true) || !text_ok(st->manufacturer, true) ||
	    !text_ok(st->model, true) || !text_ok(st->serial, true) ||
	    st->key_count > SIGNET_KH_MAX_KEYS ||
	    st->free_slots > st->slots || st->slots > KH_MAX_SLOTS ||
	    st->sessions > SIGNET_KH_MAX_SESSIONS)
		return SIGNET_ERR_INVALID;
	WB(msg_begin(b, KH_MSG_STATUS | KH_MSG_REPLY));
	WB(wbuf_u8(b, st->present ? 1 : 0));
	WB(wbuf_u8(b, st->logged_in ? 1 : 0));
	WB(wbuf_cstr(b, st->label));
	WB(wbuf_cstr(b, st->manufacturer));
	WB(wbuf_cstr(b, st->model));
	WB(wbuf_cstr(b, st->serial));
	WB(wbuf_u32(b, st->flags));
	WB(wbuf_u32(b, st->key_count));
	WB(wbuf_u32(b, st->slots));
	WB(wbuf_u32(b, st->free_slots));
	WB(wbuf_u32(b, st->sessions));
	return msg_end(b);
}

int
khproto_dec_status_rep(struct rd *r, struct kh_status *st)
{
	uint32_t count;

	memset(st, 0, sizeof(*st));
	WB(rd_bool(r, &st->present));
	WB(rd_bool(r, &st->logged_in));
	RD(rd_cstr(r, st->label, sizeof(st->label)));
	RD(rd_cstr(r, st->manufacturer, sizeof(st->manufacturer)));
	RD(rd_cstr(r, st->model, sizeof(st->model)));
	RD(rd_cstr(r, st->serial, sizeof(st->serial)));
	RD(rd_u32(r, &st->flags));
	RD(rd_u32(r, &count));
	RD(rd_u32(r, &st->slots));
	RD(rd_u32(r, &st->free_slots));
	RD(rd_u32(r, &st->sessions));
	RD(rd_end(r));
	if (count > SIGNET_KH_MAX_KEYS || st->slots > KH_MAX_SLOTS ||
	    st->sessions > SIGNET_KH_MAX_SESSIONS ||
	    st->free_slots > st->slots || !text_ok(st->label, true) ||
	    !text_ok(st->manufacturer, true) || !text_ok(st->model, true) ||
	    !text_ok(st->serial, true))
		return SIGNET_ERR_PROTOCOL;
	st->key_count = count;
	return 0;
}

int
khproto_enc_list_rep(struct wbuf *b, uint32_t total,
    const struct kh_key_info *keys, size_t n)
{
	size_t i;

	if (n > KH_LIST_PAGE || total > SIGNET_KH_MAX_KEYS || n > total)
		return SIGNET_ERR_INVALID;
	WB(msg_begin(b, KH_MSG_LIST_KEYS | KH_MSG_REPLY));
	WB(wbuf_u32(b, total));
	WB(wbuf_u32(b, (uint32_t)n));
	for (i = 0; i < n; i++)
		WB(enc_key_info(b, &keys[i]));
	return msg_end(b);
}

int
khproto_dec_list_rep(struct rd *r, uint32_t *total, struct kh_key_info *keys,
    size_t *n)
{
	uint32_t count, i;

	*n = 0;
	RD(rd_u32(r, total));
	RD(rd_u32(r, &count));
	if (*total > SIGNET_KH_MAX_KEYS || count > KH_LIST_PAGE ||
	    count > *total)
		return SIGNET_ERR_PROTOCOL;
	for (i = 0; i < count; i++)
		WB(dec_key_info(r, &keys[i]));
	RD(rd_end(r));
	*n = count;
	return 0;
}

static int
enc_blob_rep(struct wbuf *b, uint8_t type, const uint8_t *p, size_t len,
    size_t max)
{
	if (len == 0 || len > max)
		return SIGNET_ERR_INVALID;
	WB(msg_begin(b, type));
	WB(wbuf_blob(b, p, len));
	return msg_end(b);
}

static int
dec_blob_rep(struct rd *r, const uint8_t **p, size_t *len, size_t max)
{
	RD(rd_blob(r, max, p, len));
	RD(rd_end(r));
	if (*len == 0)
		return SIGNET_ERR_PROTOCOL;
	return 0;
}

int
khproto_enc_pubkey_rep(struct wbuf *b, const uint8_t *spki, size_t len)
{
	return enc_blob_rep(b, KH_MSG_PUBKEY | KH_MSG_REPLY, spki, len,
	    KH_MAX_SPKI);
}

int
khproto_dec_pubkey_rep(struct rd *r, const uint8_t **spki, size_t *len)
{
	return dec_blob_rep(r, spki, len, KH_MAX_SPKI);
}

int
khproto_enc_sign_rep(struct wbuf *b, const uint8_t *sig, size_t len)
{
	return enc_blob_rep(b, KH_MSG_SIGN | KH_MSG_REPLY, sig, len,
	    KH_MAX_SIG);
}

int
khproto_dec_sign_rep(struct rd *r, const uint8_t **sig, size_t *len)
{
	return dec_blob_rep(r, sig, len, KH_MAX_SIG);
}

int
khproto_enc_gen_rep(struct wbuf *b, const struct kh_key_info *k)
{
	WB(msg_begin(b, KH_MSG_GENERATE | KH_MSG_REPLY));
	WB(enc_key_info(b, k));
	return msg_end(b);
}

int
khproto_dec_gen_rep(struct rd *r, struct kh_key_info *k)
{
	WB(dec_key_info(r, k));
	RD(rd_end(r));
	return 0;
}

int
khproto_enc_login_rep(struct wbuf *b)
{
	WB(msg_begin(b, KH_MSG_LOGIN | KH_MSG_REPLY));
	return msg_end(b);
}

int
khproto_dec_login_rep(struct rd *r)
{
	RD(rd_end(r));
	return 0;
}

/* What a LOGIN_FD may end with: the login's own outcomes, or the console
 * not delivering a whole PIN frame. Anything else is not an answer. */
static bool
valid_login_code(int code)
{
	return code == 0 || code == SIGNET_ERR_PIN_INCORRECT ||
	    code == SIGNET_ERR_PIN_LOCKED || code == SIGNET_ERR_TOKEN ||
	    code == SIGNET_ERR_FORBIDDEN ||
	    code == SIGNET_ERR_INVALID || code == SIGNET_ERR_UNAVAILABLE;
}

int
khproto_enc_login_fd_rep(struct wbuf *b, const struct kh_login_result *res)
{
	if (!valid_login_code(res->code))
		return SIGNET_ERR_INVALID;
	WB(msg_begin(b, KH_MSG_LOGIN_FD | KH_MSG_REPLY));
	WB(wbuf_u32(b, (uint32_t)res->code));
	WB(wbuf_u32(b, res->flags));
	WB(wbuf_u8(b, res->answered ? 1 : 0));
	return msg_end(b);
}

int
khproto_dec_login_fd_rep(struct rd *r, struct kh_login_result *res)
{
	uint32_t u;
	int32_t code;

	memset(res, 0, sizeof(*res));
	RD(rd_u32(r, &u));
	RD(rd_u32(r, &res->flags));
	WB(rd_bool(r, &res->answered));
	RD(rd_end(r));
	memcpy(&code, &u, sizeof(code));
	if (!valid_login_code(code))
		return SIGNET_ERR_PROTOCOL;
	res->code = code;
	return 0;
}
