/* Keyholder protocol: every message survives a round trip, and every
 * malformed one is refused by the decoder the keyholder uses. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "khproto.h"

/* Opens a whole frame and returns a reader over its body. */
static void
open_frame(struct wbuf *b, uint8_t want_type, struct rd *body)
{
	uint32_t id;
	uint8_t type;

	assert_int_equal(khproto_open(b->buf, b->len, &type, &id, body), 0);
	assert_int_equal(type, want_type);
	/* encoders leave the id to khproto_set_id */
	assert_int_equal(id, 0);
}

/* A reader over hand-made body bytes. */
static void
body_of(struct wbuf *b, struct rd *r)
{
	rd_init(r, b->buf, b->len);
}

static const char id16[] = "00112233445566778899aabbccddeeff";

static void
t_status(void **state)
{
	struct kh_status in, out;
	struct wbuf b;
	struct rd r;

	(void)state;
	wbuf_init(&b, KH_MAX_FRAME);
	assert_int_equal(khproto_enc_status_req(&b), 0);
	open_frame(&b, KH_MSG_STATUS, &r);
	assert_int_equal(khproto_dec_status_req(&r), 0);
	wbuf_free(&b);

	memset(&in, 0, sizeof(in));
	in.present = true;
	in.logged_in = true;
	strcpy(in.label, "signet-test");
	strcpy(in.manufacturer, "SoftHSM project");
	strcpy(in.model, "SoftHSM v2");
	strcpy(in.serial, "0123456789abcdef");
	in.flags = 0x40d;
	in.key_count = 3;
	in.slots = 2;
	in.free_slots = 1;
	wbuf_init(&b, KH_MAX_FRAME);
	assert_int_equal(khproto_enc_status_rep(&b, &in), 0);
	open_frame(&b, KH_MSG_STATUS | KH_MSG_REPLY, &r);
	assert_int_equal(khproto_dec_status_rep(&r, &out), 0);
	assert_true(out.present && out.logged_in);
	assert_string_equal(out.label, in.label);
	assert_string_equal(out.manufacturer, in.manufacturer);
	assert_string_equal(out.model, in.model);
	assert_string_equal(out.serial, in.serial);
	assert_int_equal(out.flags, in.flags);
	assert_int_equal(out.key_count, 3);
	assert_int_equal(out.slots, 2);
	assert_int_equal(out.free_slots, 1);
	wbuf_free(&b);

	/* more free slots than slots: neither side says that */
	in.free_slots = 3;
	wbuf_init(&b, KH_MAX_FRAME);
	assert_int_equal(khproto_enc_status_rep(&b, &in), SIGNET_ERR_INVALID);
	wbuf_free(&b);
}

static void
t_list(void **state)
{
	struct kh_key_info keys[KH_LIST_PAGE], out[KH_LIST_PAGE];
	struct wbuf b;
	struct rd r;
	uint32_t off, total;
	size_t i, n;

	(void)state;
	wbuf_init(&b, KH_MAX_FRAME);
	assert_int_equal(khproto_enc_list_req(&b, 64), 0);
	open_frame(&b, KH_MSG_LIST_KEYS, &r);
	assert_int_equal(khproto_dec_list_req(&r, &off), 0);
	assert_int_equal(off, 64);
	wbuf_free(&b);

	/* a full page of the longest entries still fits one message */
	memset(keys, 0, sizeof(keys));
	for (i = 0; i < KH_LIST_PAGE; i++) {
		memset(keys[i].id, 'a', KH_KEY_ID_HEX);
		memset(keys[i].label, 'L', SIGNET_KH_MAX_LABEL);
		keys[i].type = i % 2 ? KH_KEY_EC : KH_KEY_RSA;
		keys[i].bits = i % 2 ? 384 : 4096;
	}
	wbuf_init(&b, KH_MAX_FRAME);
	assert_int_equal(khproto_enc_list_rep(&b, SIGNET_KH_MAX_KEYS, keys,
	    KH_LIST_PAGE), 0);
	/* PROTOCOL.md: header, type, id, total, count, then per key_info the
	 * id (u32 + hex), label (u32 + bytes), type (u8), bits (u32) */
	assert_int_equal(b.len, 4 + 1 + 4 + 4 + 4 + KH_LIST_PAGE * (4 +
	    KH_KEY_ID_HEX + 4 + SIGNET_KH_MAX_LABEL + 1 + 4));
	open_frame(&b, KH_MSG_LIST_KEYS | KH_MSG_REPLY, &r);
	assert_int_equal(khproto_dec_list_rep(&r, &total, out, &n), 0);
	assert_int_equal(total, SIGNET_KH_MAX_KEYS);
	assert_int_equal(n, KH_LIST_PAGE);
	assert_memory_equal(out, keys, sizeof(keys));
	wbuf_free(&b);

	/* more keys on the page than the total claims */
	wbuf_init(&b, KH_MAX_FRAME);
	assert_int_equal(khproto_enc_list_rep(&b, 1, keys, 2),
	    SIGNET_ERR_INVALID);
	wbuf_free(&b);
}

static void
t_pubkey_sign_gen_login(void **state)
{
	struct kh_sign_req sq, so;
	struct kh_gen_req gq, go;
	struct kh_key_info ki, ko;
	char id[KH_KEY_ID_HEX + 1];
	const uint8_t *p;
	uint8_t blob[300];
	struct wbuf b;
	struct rd r;
	size_t n;

	(void)state;
	wbuf_init(&b, KH_MAX_FRAME);
	assert_int_equal(khproto_enc_pubkey_req(&b, id16), 0);
	open_frame(&b, KH_MSG_PUBKEY, &r);
	assert_int_equal(khproto_dec_pubkey_req(&r, id), 0);
	assert_string_equal(id, id16);
	wbuf_free(&b);

	memset(blob, 0x5a, sizeof(blob));
	wbuf_init(&b, KH_MAX_FRAME);
	assert_int_equal(khproto_enc_pubkey_rep(&b, blob, sizeof(blob)), 0);
	open_frame(&b, KH_MSG_PUBKEY | KH_MSG_REPLY, &r);
	assert_int_equal(khproto_dec_pubkey_rep(&r, &p, &n), 0);
	assert_int_equal(n, sizeof(blob));
	assert_memory_equal(p, blob, n);
	wbuf_free(&b);

	memset(&sq, 0, sizeof(sq));
	strcpy(sq.key_id, id16);
	sq.mech = KH_MECH_RSA_PSS;
	sq.hash = KH_HASH_SHA384;
	sq.dlen = 48;
	memset(sq.dgst, 7, sq.dlen);
	sq.purpose = KH_PURPOSE_REQUEST;
	strcpy(sq.ref, "0b5e7e4c-1f0a-4c57-9f43-5d6a2b1c9e80");
	wbuf_init(&b, KH_MAX_FRAME);
	/* a signature for no named purpose or reference is not encoded */
	sq.purpose = 0;
	assert_int_equal(khproto_enc_sign_req(&b, &sq), SIGNET_ERR_INVALID);
	sq.purpose = KH_PURPOSE_CERTIFICATE;
	sq.ref[0] = '\0';
	assert_int_equal(khproto_enc_sign_req(&b, &sq), SIGNET_ERR_INVALID);
	strcpy(sq.ref, "0b5e7e4c-1f0a-4c57-9f43-5d6a2b1c9e80");
	sq.purpose = KH_PURPOSE_REQUEST;
	wbuf_free(&b);
	wbuf_init(&b, KH_MAX_FRAME);
	assert_int_equal(khproto_enc_sign_req(&b, &sq), 0);
	open_frame(&b, KH_MSG_SIGN, &r);
	assert_int_equal(khproto_dec_sign_req(&r, &so), 0);
	assert_memory_equal(&so, &sq, sizeof(sq));
	wbuf_free(&b);

	wbuf_init(&b, KH_MAX_FRAME);
	assert_int_equal(khproto_enc_sign_rep(&b, blob, 256), 0);
	open_frame(&b, KH_MSG_SIGN | KH_MSG_REPLY, &r);
	assert_int_equal(khproto_dec_sign_rep(&r, &p, &n), 0);
	assert_int_equal(n, 256);
	wbuf_free(&b);

	memset(&gq, 0, sizeof(gq));
	strcpy(gq.label, "release key 2025 \xc3\xa9");
	gq.type = KH_KEY_EC;
	gq.bits = 384;
	strcpy(gq.admin, "alice");
	wbuf_init(&b, KH_MAX_FRAME);
	/* only an administrator's request, and it says so */
	assert_int_equal(khproto_enc_gen_req(&b, &gq), SIGNET_ERR_INVALID);
	gq.origin = KH_GEN_BY_ADMIN;
	gq.admin[0] = '\0';
	assert_int_equal(khproto_enc_gen_req(&b, &gq), SIGNET_ERR_INVALID);
	strcpy(gq.admin, "alice");
	wbuf_free(&b);
	wbuf_init(&b, KH_MAX_FRAME);
	assert_int_equal(khproto_enc_gen_req(&b, &gq), 0);
	open_frame(&b, KH_MSG_GENERATE, &r);
	assert_int_equal(khproto_dec_gen_req(&r, &go), 0);
	assert_memory_equal(&go, &gq, sizeof(gq));
	wbuf_free(&b);

	memset(&ki, 0, sizeof(ki));
	strcpy(ki.id, id16);
	strcpy(ki.label, "k");
	ki.type = KH_KEY_RSA;
	ki.bits = 3072;
	wbuf_init(&b, KH_MAX_FRAME);
	assert_int_equal(khproto_enc_gen_rep(&b, &ki), 0);
	open_frame(&b, KH_MSG_GENERATE | KH_MSG_REPLY, &r);
	assert_int_equal(khproto_dec_gen_rep(&r, &ko), 0);
	assert_memory_equal(&ko, &ki, sizeof(ki));
	wbuf_free(&b);

	wbuf_init_secret(&b, KH_MAX_FRAME);
	assert_int_equal(khproto_enc_login_req(&b, "123456", 6), 0);
	open_frame(&b, KH_MSG_LOGIN, &r);
	assert_int_equal(khproto_dec_login_req(&r, &p, &n), 0);
	assert_int_equal(n, 6);
	assert_memory_equal(p, "123456", 6);
	wbuf_free(&b);

	wbuf_init(&b, KH_MAX_FRAME);
	assert_int_equal(khproto_enc_login_rep(&b), 0);
	open_frame(&b, KH_MSG_LOGIN | KH_MSG_REPLY, &r);
	assert_int_equal(khproto_dec_login_rep(&r), 0);
	wbuf_free(&b);
}

static void
t_failure(void **state)
{
	struct kh_failure f;
	struct wbuf b;
	struct rd r;

	(void)state;
	wbuf_init(&b, KH_MAX_FRAME);
	assert_int_equal(khproto_enc_failure(&b, SIGNET_ERR_PIN_INCORRECT,
	    "PIN incorrect"), 0);
	open_frame(&b, KH_MSG_FAILURE, &r);
	assert_int_equal(khproto_dec_failure(&r, &f), 0);
	assert_int_equal(f.code, SIGNET_ERR_PIN_INCORRECT);
	assert_string_equal(f.msg, "PIN incorrect");
	wbuf_free(&b);

	/* success is not a failure, and codes outside the space are not
	 * codes */
	wbuf_init(&b, KH_MAX_FRAME);
	assert_int_equal(khproto_enc_failure(&b, 0, "x"), SIGNET_ERR_INVALID);
	wbuf_free(&b);
	wbuf_init(&b, 64);
	assert_int_equal(wbuf_u32(&b, (uint32_t)SIGNET_ERR_MAX), 0);
	assert_int_equal(wbuf_cstr(&b, "x"), 0);
	body_of(&b, &r);
	assert_int_equal(khproto_dec_failure(&r, &f), SIGNET_ERR_PROTOCOL);
	wbuf_reset(&b);
	assert_int_equal(wbuf_u32(&b, 5), 0);
	assert_int_equal(wbuf_cstr(&b, "x"), 0);
	body_of(&b, &r);
	assert_int_equal(khproto_dec_failure(&r, &f), SIGNET_ERR_PROTOCOL);
	/* a message that would forge a log line */
	wbuf_reset(&b);
	assert_int_equal(wbuf_u32(&b, (uint32_t)SIGNET_ERR_TOKEN), 0);
	assert_int_equal(wbuf_cstr(&b, "a\nb"), 0);
	body_of(&b, &r);
	assert_int_equal(khproto_dec_failure(&r, &f), SIGNET_ERR_PROTOCOL);
	wbuf_free(&b);
}

/* Frames written out byte by byte from PROTOCOL.md ("Framing", "Field
 * encodings", "Messages"): the encoder produces exactly these, so the
 * document describes the wire. */
static void
expect_frame(struct wbuf *b, const uint8_t *want, size_t n)
{
	assert_int_equal(b->len, n);
	assert_memory_equal(b->buf, want, n);
	wbuf_free(b);
}

static void
t_golden(void **state)
{
	static const uint8_t status_req[] = { 0, 0, 0, 5, 0x01, 0, 0, 0, 0 };
	static const uint8_t list_req[] = { 0, 0, 0, 9, 0x02,
	    0, 0, 0, 0,				/* request id */
	    0, 0, 0, 64 };
	static const uint8_t pubkey_req[] = { 0, 0, 0, 13, 0x03, 0, 0, 0, 0,
	    0, 0, 0, 4, 'a', 'b', '1', '2' };
	static const uint8_t login_req[] = { 0, 0, 0, 15, 0x06, 0, 0, 0, 0,
	    0, 0, 0, 6, '1', '2', '3', '4', '5', '6' };
	static const uint8_t failure[] = { 0, 0, 0, 26, 0xff, 0, 0, 0, 0,
	    0xff, 0xff, 0xff, 0xec,		/* -20, two's complement */
	    0, 0, 0, 13, 'P', 'I', 'N', ' ', 'i', 'n', 'c', 'o', 'r', 'r',
	    'e', 'c', 't' };
	static const uint8_t sign_req_head[] = { 0, 0, 0, 61, 0x04, 0, 0, 0, 0,
	    0, 0, 0, 4, 'a', 'b', '1', '2',	/* key_id */
	    3,					/* ECDSA */
	    1,					/* SHA-256 */
	    0, 0, 0, 32 };			/* blob(64): 32 bytes follow */
	static const uint8_t sign_req_tail[] = { 1,	/* REQUEST */
	    0, 0, 0, 5, 'r', 'e', 'q', '-', '1' };
	static const uint8_t gen_req[] = { 0, 0, 0, 28, 0x05, 0, 0, 0, 0,
	    0, 0, 0, 4, 'r', 'e', 'l', '1',	/* label */
	    2,					/* EC */
	    0, 0, 1, 0x80,			/* 384 bits */
	    1,					/* an administrator's request */
	    0, 0, 0, 5, 'a', 'd', 'm', 'i', 'n' };
	uint8_t sign_req[sizeof(sign_req_head) + 32 + sizeof(sign_req_tail)];
	struct kh_sign_req sq;
	struct kh_gen_req gq;
	struct wbuf b;

	(void)state;
	wbuf_init(&b, KH_MAX_FRAME);
	assert_int_equal(khproto_enc_status_req(&b), 0);
	expect_frame(&b, status_req, sizeof(status_req));
	wbuf_init(&b, KH_MAX_FRAME);
	assert_int_equal(khproto_enc_list_req(&b, 64), 0);
	expect_frame(&b, list_req, sizeof(list_req));
	wbuf_init(&b, KH_MAX_FRAME);
	assert_int_equal(khproto_enc_pubkey_req(&b, "ab12"), 0);
	expect_frame(&b, pubkey_req, sizeof(pubkey_req));
	wbuf_init_secret(&b, KH_MAX_FRAME);
	assert_int_equal(khproto_enc_login_req(&b, "123456", 6), 0);
	expect_frame(&b, login_req, sizeof(login_req));
	wbuf_init(&b, KH_MAX_FRAME);
	assert_int_equal(khproto_enc_failure(&b, SIGNET_ERR_PIN_INCORRECT,
	    "PIN incorrect"), 0);
	expect_frame(&b, failure, sizeof(failure));

	memset(&sq, 0, sizeof(sq));
	memcpy(sq.key_id, "ab12", 5);
	sq.mech = KH_MECH_ECDSA;
	sq.hash = KH_HASH_SHA256;
	sq.dlen = 32;
	memset(sq.dgst, 0x11, 32);
	sq.purpose = KH_PURPOSE_REQUEST;
	memcpy(sq.ref, "req-1", 6);
	memcpy(sign_req, sign_req_head, sizeof(sign_req_head));
	memset(sign_req + sizeof(sign_req_head), 0x11, 32);
	memcpy(sign_req + sizeof(sign_req_head) + 32, sign_req_tail,
	    sizeof(sign_req_tail));
	wbuf_init(&b, KH_MAX_FRAME);
	assert_int_equal(khproto_enc_sign_req(&b, &sq), 0);
	expect_frame(&b, sign_req, sizeof(sign_req));

	memset(&gq, 0, sizeof(gq));
	memcpy(gq.label, "rel1", 5);
	gq.type = KH_KEY_EC;
	gq.bits = 384;
	gq.origin = KH_GEN_BY_ADMIN;
	memcpy(gq.admin, "admin", 6);
	wbuf_init(&b, KH_MAX_FRAME);
	assert_int_equal(khproto_enc_gen_req(&b, &gq), 0);
	expect_frame(&b, gen_req, sizeof(gen_req));
}

static void
t_framing(void **state)
{
	uint8_t frame[12] = { 0, 0, 0, 5, KH_MSG_STATUS, 0x01, 0x02, 0x03,
	    0x04 };
	uint8_t big[KH_MAX_FRAME + 1];
	struct rd r;
	uint32_t id;
	uint8_t type;

	(void)state;
	assert_int_equal(khproto_open(frame, 9, &type, &id, &r), 0);
	assert_int_equal(type, KH_MSG_STATUS);
	assert_int_equal(id, 0x01020304);
	assert_int_equal(rd_left(&r), 0);
	/* the id is the caller's to set */
	assert_int_equal(khproto_set_id(frame, 9, 0xfffffffe), 0);
	assert_int_equal(khproto_open(frame, 9, &type, &id, &r), 0);
	assert_int_equal(id, 0xfffffffe);
	assert_int_equal(khproto_set_id(frame, 8, 1), SIGNET_ERR_INTERNAL);
	/* truncated: header says more than there is */
	frame[3] = 7;
	assert_int_equal(khproto_open(frame, 9, &type, &id, &r),
	    SIGNET_ERR_PROTOCOL);
	/* trailing bytes after the frame */
	frame[3] = 5;
	assert_int_equal(khproto_open(frame, 10, &type, &id, &r),
	    SIGNET_ERR_PROTOCOL);
	/* a type without its id, and an empty frame */
	frame[3] = 1;
	assert_int_equal(khproto_open(frame, 5, &type, &id, &r),
	    SIGNET_ERR_PROTOCOL);
	frame[3] = 4;
	assert_int_equal(khproto_open(frame, 8, &type, &id, &r),
	    SIGNET_ERR_PROTOCOL);
	frame[3] = 0;
	assert_int_equal(khproto_open(frame, 4, &type, &id, &r),
	    SIGNET_ERR_PROTOCOL);
	assert_int_equal(khproto_open(frame, 3, &type, &id, &r),
	    SIGNET_ERR_PROTOCOL);
	/* oversize, even with the bytes present */
	memset(big, 0, sizeof(big));
	big[1] = (SIGNET_KH_MAX_MSG + 1) >> 16;
	big[2] = (uint8_t)((SIGNET_KH_MAX_MSG + 1) >> 8);
	big[3] = (uint8_t)(SIGNET_KH_MAX_MSG + 1);
	assert_int_equal(khproto_open(big, sizeof(big), &type, &id, &r),
	    SIGNET_ERR_PROTOCOL);
}

static void
t_recv(void **state)
{
	uint8_t buf[KH_MAX_FRAME];
	uint8_t ok[] = { 0, 0, 0, 6, KH_MSG_LIST_KEYS, 0, 0, 0, 1, 9 };
	uint8_t noid[] = { 0, 0, 0, 4, KH_MSG_STATUS, 0, 0, 0 };
	uint8_t huge[] = { 0xff, 0xff, 0xff, 0xff, 1 };
	uint8_t over[] = { 0, 0, 0x40, 0x01, 1 };
	uint8_t zero[] = { 0, 0, 0, 0 };
	uint8_t cut[] = { 0, 0, 0, 9, 1, 2 };
	size_t len;
	int sv[2];

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_int_equal(khproto_send(sv[0], ok, sizeof(ok)), 0);
	assert_int_equal(khproto_recv(sv[1], buf, &len), 0);
	assert_int_equal(len, sizeof(ok));
	assert_memory_equal(buf, ok, len);
	/* the length header alone decides: oversize is refused unread */
	assert_int_equal(khproto_send(sv[0], huge, sizeof(huge)), 0);
	assert_int_equal(khproto_recv(sv[1], buf, &len), SIGNET_ERR_PROTOCOL);
	close(sv[0]);
	close(sv[1]);

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_int_equal(khproto_send(sv[0], over, sizeof(over)), 0);
	assert_int_equal(khproto_recv(sv[1], buf, &len), SIGNET_ERR_PROTOCOL);
	close(sv[0]);
	close(sv[1]);

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_int_equal(khproto_send(sv[0], zero, sizeof(zero)), 0);
	assert_int_equal(khproto_recv(sv[1], buf, &len), SIGNET_ERR_PROTOCOL);
	close(sv[0]);
	close(sv[1]);

	/* too short for a type and a request id */
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_int_equal(khproto_send(sv[0], noid, sizeof(noid)), 0);
	assert_int_equal(khproto_recv(sv[1], buf, &len), SIGNET_ERR_PROTOCOL);
	close(sv[0]);
	close(sv[1]);

	/* the peer leaves in the middle of a frame */
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_int_equal(khproto_send(sv[0], cut, sizeof(cut)), 0);
	close(sv[0]);
	assert_int_equal(khproto_recv(sv[1], buf, &len), SIGNET_ERR_KEYHOLDER);
	close(sv[1]);

	/* nobody there at all */
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	close(sv[0]);
	assert_int_equal(khproto_send(sv[1], ok, sizeof(ok)),
	    SIGNET_ERR_KEYHOLDER);
	assert_int_equal(khproto_recv(sv[1], buf, &len), SIGNET_ERR_KEYHOLDER);
	close(sv[1]);
}

/* A SIGN body with the given fields, digest of dlen bytes. */
static void
sign_body_for(struct wbuf *b, const char *id, int mech, int hash,
    size_t dlen, int purpose, const void *ref, size_t reflen)
{
	uint8_t d[128];

	memset(d, 1, sizeof(d));
	wbuf_reset(b);
	assert_int_equal(wbuf_cstr(b, id), 0);
	assert_int_equal(wbuf_u8(b, (uint8_t)mech), 0);
	assert_int_equal(wbuf_u8(b, (uint8_t)hash), 0);
	assert_int_equal(wbuf_blob(b, d, dlen), 0);
	if (purpose >= 0)
		assert_int_equal(wbuf_u8(b, (uint8_t)purpose), 0);
	if (ref != NULL)
		assert_int_equal(wbuf_blob(b, ref, reflen), 0);
}

static void
sign_body(struct wbuf *b, const char *id, int mech, int hash, size_t dlen)
{
	sign_body_for(b, id, mech, hash, dlen, KH_PURPOSE_REQUEST, "req-1",
	    5);
}

static void
t_bad_sign(void **state)
{
	struct kh_sign_req q;
	struct wbuf b;
	struct rd r;
	size_t len, i;
	static const struct {
		int mech, hash;
		size_t dlen;
	} bad[] = {
		{ KH_MECH_RSA_PKCS1, KH_HASH_SHA256, 31 },
		{ KH_MECH_RSA_PKCS1, KH_HASH_SHA256, 48 },
		{ KH_MECH_RSA_PSS, KH_HASH_SHA384, 32 },
		{ KH_MECH_ECDSA, KH_HASH_SHA512, 63 },
		{ KH_MECH_ECDSA, KH_HASH_SHA256, 0 },
		{ KH_MECH_ECDSA, KH_HASH_SHA512, 65 },
		{ KH_MECH_ECDSA, KH_HASH_SHA512, 128 },
		{ 0, KH_HASH_SHA256, 32 },
		{ 4, KH_HASH_SHA256, 32 },
		{ KH_MECH_ECDSA, 0, 32 },
		{ KH_MECH_ECDSA, 4, 32 },
	};
	static const struct {
		int purpose;		/* -1: not sent */
		const char *ref;	/* NULL: not sent */
		size_t len;
	} badref[] = {
		{ 0, "req-1", 5 },
		{ 3, "req-1", 5 },
		{ -1, NULL, 0 },
		{ KH_PURPOSE_REQUEST, NULL, 0 },
		{ KH_PURPOSE_REQUEST, "", 0 },
		{ KH_PURPOSE_REQUEST, "a\nb", 3 },
		{ KH_PURPOSE_REQUEST, "a\0b", 3 },
		{ KH_PURPOSE_REQUEST, "\x7f", 1 },
	};
	char longref[KH_MAX_REF + 1];

	(void)state;
	wbuf_init(&b, 1024);
	sign_body(&b, id16, KH_MECH_ECDSA, KH_HASH_SHA256, 32);
	body_of(&b, &r);
	assert_int_equal(khproto_dec_sign_req(&r, &q), 0);

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		sign_body(&b, id16, bad[i].mech, bad[i].hash, bad[i].dlen);
		body_of(&b, &r);
		assert_int_equal(khproto_dec_sign_req(&r, &q),
		    SIGNET_ERR_PROTOCOL);
	}
	/* what the signature is for: a known purpose and a reference of
	 * 1..KH_MAX_REF bytes of text, or the keyholder will not sign */
	sign_body_for(&b, id16, KH_MECH_ECDSA, KH_HASH_SHA256, 32,
	    KH_PURPOSE_CERTIFICATE, "alice", 5);
	body_of(&b, &r);
	assert_int_equal(khproto_dec_sign_req(&r, &q), 0);
	assert_int_equal(q.purpose, KH_PURPOSE_CERTIFICATE);
	assert_string_equal(q.ref, "alice");
	for (i = 0; i < sizeof(badref) / sizeof(badref[0]); i++) {
		sign_body_for(&b, id16, KH_MECH_ECDSA, KH_HASH_SHA256, 32,
		    badref[i].purpose, badref[i].ref, badref[i].len);
		body_of(&b, &r);
		assert_int_equal(khproto_dec_sign_req(&r, &q),
		    SIGNET_ERR_PROTOCOL);
	}
	memset(longref, 'r', sizeof(longref));
	sign_body_for(&b, id16, KH_MECH_ECDSA, KH_HASH_SHA256, 32,
	    KH_PURPOSE_REQUEST, longref, KH_MAX_REF + 1);
	body_of(&b, &r);
	assert_int_equal(khproto_dec_sign_req(&r, &q), SIGNET_ERR_PROTOCOL);
	sign_body_for(&b, id16, KH_MECH_ECDSA, KH_HASH_SHA256, 32,
	    KH_PURPOSE_REQUEST, longref, KH_MAX_REF);
	body_of(&b, &r);
	assert_int_equal(khproto_dec_sign_req(&r, &q), 0);
	/* trailing byte */
	sign_body(&b, id16, KH_MECH_ECDSA, KH_HASH_SHA256, 32);
	assert_int_equal(wbuf_u8(&b, 0), 0);
	body_of(&b, &r);
	assert_int_equal(khproto_dec_sign_req(&r, &q), SIGNET_ERR_PROTOCOL);
	/* every truncation */
	sign_body(&b, id16, KH_MECH_ECDSA, KH_HASH_SHA256, 32);
	for (len = 0; len < b.len; len++) {
		rd_init(&r, b.buf, len);
		assert_int_equal(khproto_dec_sign_req(&r, &q),
		    SIGNET_ERR_PROTOCOL);
	}
	/* key ids: uppercase, odd, too long, not hex, NUL inside, empty */
	sign_body(&b, "00112233AABB", KH_MECH_ECDSA, KH_HASH_SHA256, 32);
	body_of(&b, &r);
	assert_int_equal(khproto_dec_sign_req(&r, &q), SIGNET_ERR_PROTOCOL);
	sign_body(&b, "001", KH_MECH_ECDSA, KH_HASH_SHA256, 32);
	body_of(&b, &r);
	assert_int_equal(khproto_dec_sign_req(&r, &q), SIGNET_ERR_PROTOCOL);
	sign_body(&b, "0011223344556677889900112233445566778899001122334455"
	    "66778899aabbcc", KH_MECH_ECDSA, KH_HASH_SHA256, 32);
	body_of(&b, &r);
	assert_int_equal(khproto_dec_sign_req(&r, &q), SIGNET_ERR_PROTOCOL);
	sign_body(&b, "zz", KH_MECH_ECDSA, KH_HASH_SHA256, 32);
	body_of(&b, &r);
	assert_int_equal(khproto_dec_sign_req(&r, &q), SIGNET_ERR_PROTOCOL);
	sign_body(&b, "", KH_MECH_ECDSA, KH_HASH_SHA256, 32);
	body_of(&b, &r);
	assert_int_equal(khproto_dec_sign_req(&r, &q), SIGNET_ERR_PROTOCOL);
	wbuf_reset(&b);
	assert_int_equal(wbuf_blob(&b, "00\0" "11", 5), 0);
	assert_int_equal(wbuf_u8(&b, KH_MECH_ECDSA), 0);
	assert_int_equal(wbuf_u8(&b, KH_HASH_SHA256), 0);
	assert_int_equal(wbuf_blob(&b, id16, 32), 0);
	body_of(&b, &r);
	assert_int_equal(khproto_dec_sign_req(&r, &q), SIGNET_ERR_PROTOCOL);
	wbuf_free(&b);

	/* and the encoder will not produce any of it */
	memset(&q, 0, sizeof(q));
	strcpy(q.key_id, id16);
	q.mech = KH_MECH_RSA_PKCS1;
	q.hash = KH_HASH_SHA256;
	q.dlen = 20;
	wbuf_init(&b, KH_MAX_FRAME);
	assert_int_equal(khproto_enc_sign_req(&b, &q), SIGNET_ERR_INVALID);
	strcpy(q.key_id, "ABCD");
	q.dlen = 32;
	assert_int_equal(khproto_enc_sign_req(&b, &q), SIGNET_ERR_INVALID);
	wbuf_free(&b);
}

static void
gen_body_by(struct wbuf *b, const void *label, size_t llen, int type,
    uint32_t bits, int origin, const char *admin)
{
	wbuf_reset(b);
	assert_int_equal(wbuf_blob(b, label, llen), 0);
	assert_int_equal(wbuf_u8(b, (uint8_t)type), 0);
	assert_int_equal(wbuf_u32(b, bits), 0);
	if (origin >= 0)
		assert_int_equal(wbuf_u8(b, (uint8_t)origin), 0);
	if (admin != NULL)
		assert_int_equal(wbuf_cstr(b, admin), 0);
}

static void
gen_body(struct wbuf *b, const void *label, size_t llen, int type,
    uint32_t bits)
{
	gen_body_by(b, label, llen, type, bits, KH_GEN_BY_ADMIN, "admin");
}

static void
t_bad_gen(void **state)
{
	char longl[SIGNET_KH_MAX_LABEL + 2];
	struct kh_gen_req q;
	struct wbuf b;
	struct rd r;

	(void)state;
	wbuf_init(&b, 1024);
	gen_body(&b, "ok", 2, KH_KEY_RSA, 3072);
	body_of(&b, &r);
	assert_int_equal(khproto_dec_gen_req(&r, &q), 0);
	/* embedded NUL: the token would store a label other than the
	 * one signetd logged */
	gen_body(&b, "ab\0cd", 5, KH_KEY_RSA, 3072);
	body_of(&b, &r);
	assert_int_equal(khproto_dec_gen_req(&r, &q), SIGNET_ERR_PROTOCOL);
	gen_body(&b, "ab\ncd", 5, KH_KEY_RSA, 3072);
	body_of(&b, &r);
	assert_int_equal(khproto_dec_gen_req(&r, &q), SIGNET_ERR_PROTOCOL);
	gen_body(&b, "", 0, KH_KEY_RSA, 3072);
	body_of(&b, &r);
	assert_int_equal(khproto_dec_gen_req(&r, &q), SIGNET_ERR_PROTOCOL);
	memset(longl, 'x', sizeof(longl));
	gen_body(&b, longl, SIGNET_KH_MAX_LABEL + 1, KH_KEY_RSA, 3072);
	body_of(&b, &r);
	assert_int_equal(khproto_dec_gen_req(&r, &q), SIGNET_ERR_PROTOCOL);
	gen_body(&b, longl, SIGNET_KH_MAX_LABEL, KH_KEY_RSA, 3072);
	body_of(&b, &r);
	assert_int_equal(khproto_dec_gen_req(&r, &q), 0);
	gen_body(&b, "ok", 2, KH_KEY_RSA, 1024);
	body_of(&b, &r);
	assert_int_equal(khproto_dec_gen_req(&r, &q), SIGNET_ERR_PROTOCOL);
	gen_body(&b, "ok", 2, KH_KEY_EC, 521);
	body_of(&b, &r);
	assert_int_equal(khproto_dec_gen_req(&r, &q), SIGNET_ERR_PROTOCOL);
	gen_body(&b, "ok", 2, 3, 256);
	body_of(&b, &r);
	assert_int_equal(khproto_dec_gen_req(&r, &q), SIGNET_ERR_PROTOCOL);
	gen_body(&b, "ok", 2, KH_KEY_EC, 256);
	assert_int_equal(wbuf_u8(&b, 0), 0);
	body_of(&b, &r);
	assert_int_equal(khproto_dec_gen_req(&r, &q), SIGNET_ERR_PROTOCOL);
	/* GENERATE without the administrator's flag or name */
	gen_body_by(&b, "ok", 2, KH_KEY_EC, 256, -1, NULL);
	body_of(&b, &r);
	assert_int_equal(khproto_dec_gen_req(&r, &q), SIGNET_ERR_PROTOCOL);
	gen_body_by(&b, "ok", 2, KH_KEY_EC, 256, 0, "admin");
	body_of(&b, &r);
	assert_int_equal(khproto_dec_gen_req(&r, &q), SIGNET_ERR_PROTOCOL);
	gen_body_by(&b, "ok", 2, KH_KEY_EC, 256, 2, "admin");
	body_of(&b, &r);
	assert_int_equal(khproto_dec_gen_req(&r, &q), SIGNET_ERR_PROTOCOL);
	gen_body_by(&b, "ok", 2, KH_KEY_EC, 256, KH_GEN_BY_ADMIN, NULL);
	body_of(&b, &r);
	assert_int_equal(khproto_dec_gen_req(&r, &q), SIGNET_ERR_PROTOCOL);
	gen_body_by(&b, "ok", 2, KH_KEY_EC, 256, KH_GEN_BY_ADMIN, "");
	body_of(&b, &r);
	assert_int_equal(khproto_dec_gen_req(&r, &q), SIGNET_ERR_PROTOCOL);
	gen_body_by(&b, "ok", 2, KH_KEY_EC, 256, KH_GEN_BY_ADMIN, "a\tb");
	body_of(&b, &r);
	assert_int_equal(khproto_dec_gen_req(&r, &q), SIGNET_ERR_PROTOCOL);
	gen_body_by(&b, "ok", 2, KH_KEY_EC, 256, KH_GEN_BY_ADMIN, "alice");
	body_of(&b, &r);
	assert_int_equal(khproto_dec_gen_req(&r, &q), 0);
	assert_int_equal(q.origin, KH_GEN_BY_ADMIN);
	assert_string_equal(q.admin, "alice");
	wbuf_free(&b);
}

static void
t_bad_misc(void **state)
{
	uint8_t pin[SIGNET_KH_MAX_PIN + 1];
	struct kh_status st;
	struct kh_key_info keys[KH_LIST_PAGE];
	char id[KH_KEY_ID_HEX + 1];
	const uint8_t *p;
	struct wbuf b;
	struct rd r;
	uint32_t off, total;
	size_t n;

	(void)state;
	wbuf_init(&b, 4096);
	/* STATUS has no body */
	assert_int_equal(wbuf_u8(&b, 0), 0);
	body_of(&b, &r);
	assert_int_equal(khproto_dec_status_req(&r), SIGNET_ERR_PROTOCOL);
	/* LIST_KEYS: short, past the limit, trailing */
	wbuf_reset(&b);
	assert_int_equal(wbuf_u8(&b, 0), 0);
	body_of(&b, &r);
	assert_int_equal(khproto_dec_list_req(&r, &off), SIGNET_ERR_PROTOCOL);
	wbuf_reset(&b);
	assert_int_equal(wbuf_u32(&b, SIGNET_KH_MAX_KEYS + 1), 0);
	body_of(&b, &r);
	assert_int_equal(khproto_dec_list_req(&r, &off), SIGNET_ERR_PROTOCOL);
	wbuf_reset(&b);
	assert_int_equal(wbuf_u32(&b, 0), 0);
	assert_int_equal(wbuf_u8(&b, 0), 0);
	body_of(&b, &r);
	assert_int_equal(khproto_dec_list_req(&r, &off), SIGNET_ERR_PROTOCOL);
	/* PUBKEY with a trailing byte */
	wbuf_reset(&b);
	assert_int_equal(wbuf_cstr(&b, id16), 0);
	assert_int_equal(wbuf_u8(&b, 0), 0);
	body_of(&b, &r);
	assert_int_equal(khproto_dec_pubkey_req(&r, id), SIGNET_ERR_PROTOCOL);
	/* LOGIN: empty, too long, NUL inside, length past the body */
	wbuf_reset(&b);
	assert_int_equal(wbuf_blob(&b, "", 0), 0);
	body_of(&b, &r);
	assert_int_equal(khproto_dec_login_req(&r, &p, &n),
	    SIGNET_ERR_PROTOCOL);
	memset(pin, '1', sizeof(pin));
	wbuf_reset(&b);
	assert_int_equal(wbuf_blob(&b, pin, sizeof(pin)), 0);
	body_of(&b, &r);
	assert_int_equal(khproto_dec_login_req(&r, &p, &n),
	    SIGNET_ERR_PROTOCOL);
	wbuf_reset(&b);
	assert_int_equal(wbuf_blob(&b, "12\0" "34", 5), 0);
	body_of(&b, &r);
	assert_int_equal(khproto_dec_login_req(&r, &p, &n),
	    SIGNET_ERR_PROTOCOL);
	wbuf_reset(&b);
	assert_int_equal(wbuf_u32(&b, 8), 0);
	assert_int_equal(wbuf_add(&b, "1234", 4), 0);
	body_of(&b, &r);
	assert_int_equal(khproto_dec_login_req(&r, &p, &n),
	    SIGNET_ERR_PROTOCOL);
	/* STATUS reply: a boolean that is neither */
	wbuf_reset(&b);
	assert_int_equal(wbuf_u8(&b, 2), 0);
	assert_int_equal(wbuf_u8(&b, 0), 0);
	assert_int_equal(wbuf_cstr(&b, ""), 0);
	assert_int_equal(wbuf_cstr(&b, ""), 0);
	assert_int_equal(wbuf_cstr(&b, ""), 0);
	assert_int_equal(wbuf_cstr(&b, ""), 0);
	assert_int_equal(wbuf_u32(&b, 0), 0);
	assert_int_equal(wbuf_u32(&b, 0), 0);
	body_of(&b, &r);
	assert_int_equal(khproto_dec_status_rep(&r, &st), SIGNET_ERR_PROTOCOL);
	/* LIST_KEYS reply: more than a page, more than the total */
	wbuf_reset(&b);
	assert_int_equal(wbuf_u32(&b, SIGNET_KH_MAX_KEYS), 0);
	assert_int_equal(wbuf_u32(&b, KH_LIST_PAGE + 1), 0);
	body_of(&b, &r);
	assert_int_equal(khproto_dec_list_rep(&r, &total, keys, &n),
	    SIGNET_ERR_PROTOCOL);
	wbuf_reset(&b);
	assert_int_equal(wbuf_u32(&b, 0), 0);
	assert_int_equal(wbuf_u32(&b, 1), 0);
	body_of(&b, &r);
	assert_int_equal(khproto_dec_list_rep(&r, &total, keys, &n),
	    SIGNET_ERR_PROTOCOL);
	/* SIGN reply: empty signature, oversize signature */
	wbuf_reset(&b);
	assert_int_equal(wbuf_blob(&b, "", 0), 0);
	body_of(&b, &r);
	assert_int_equal(khproto_dec_sign_rep(&r, &p, &n), SIGNET_ERR_PROTOCOL);
	wbuf_reset(&b);
	assert_int_equal(wbuf_u32(&b, KH_MAX_SIG + 1), 0);
	body_of(&b, &r);
	assert_int_equal(khproto_dec_sign_rep(&r, &p, &n), SIGNET_ERR_PROTOCOL);
	wbuf_free(&b);

	assert_false(khproto_valid_key_id("0"));
	assert_true(khproto_valid_key_id("0a"));
	assert_false(khproto_valid_label("a\x7f"));
	assert_true(khproto_valid_gen(KH_KEY_RSA, 4096));
	assert_false(khproto_valid_gen(KH_KEY_RSA, 256));
	assert_int_equal(khproto_hash_len(KH_HASH_SHA512), 64);
	assert_int_equal(khproto_hash_len(0), 0);
}


static void
t_login_fd(void **state)
{
	static const int codes[] = { 0, SIGNET_ERR_PIN_INCORRECT,
	    SIGNET_ERR_PIN_LOCKED, SIGNET_ERR_TOKEN, SIGNET_ERR_INVALID,
	    SIGNET_ERR_UNAVAILABLE, SIGNET_ERR_FORBIDDEN };
	struct kh_login_result in, out;
	struct wbuf b;
	struct rd r;
	size_t i;

	(void)state;
	wbuf_init(&b, KH_MAX_FRAME);
	assert_int_equal(khproto_enc_login_fd_req(&b), 0);
	open_frame(&b, KH_MSG_LOGIN_FD, &r);
	assert_int_equal(khproto_dec_login_fd_req(&r), 0);
	wbuf_free(&b);

	for (i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
		in.code = codes[i];
		in.flags = 0x10000u << (i % 3);
		in.answered = i % 2 == 0;
		wbuf_init(&b, KH_MAX_FRAME);
		assert_int_equal(khproto_enc_login_fd_rep(&b, &in), 0);
		open_frame(&b, KH_MSG_LOGIN_FD | KH_MSG_REPLY, &r);
		assert_int_equal(khproto_dec_login_fd_rep(&r, &out), 0);
		assert_int_equal(out.code, in.code);
		assert_int_equal(out.flags, in.flags);
		assert_int_equal(out.answered, in.answered);
		wbuf_free(&b);
	}
	/* codes that are no login outcome are neither sent nor taken */
	in.code = SIGNET_ERR_KEYHOLDER;
	wbuf_init(&b, KH_MAX_FRAME);
	assert_int_equal(khproto_enc_login_fd_rep(&b, &in), SIGNET_ERR_INVALID);
	wbuf_free(&b);
	wbuf_init(&b, 64);
	assert_int_equal(wbuf_u32(&b, (uint32_t)SIGNET_ERR_KEYHOLDER), 0);
	assert_int_equal(wbuf_u32(&b, 0), 0);
	assert_int_equal(wbuf_u8(&b, 1), 0);
	body_of(&b, &r);
	assert_int_equal(khproto_dec_login_fd_rep(&r, &out),
	    SIGNET_ERR_PROTOCOL);
	/* a positive code, a bool that is not one, trailing, truncated */
	wbuf_reset(&b);
	assert_int_equal(wbuf_u32(&b, 5), 0);
	assert_int_equal(wbuf_u32(&b, 0), 0);
	assert_int_equal(wbuf_u8(&b, 1), 0);
	body_of(&b, &r);
	assert_int_equal(khproto_dec_login_fd_rep(&r, &out),
	    SIGNET_ERR_PROTOCOL);
	wbuf_reset(&b);
	assert_int_equal(wbuf_u32(&b, 0), 0);
	assert_int_equal(wbuf_u32(&b, 0), 0);
	assert_int_equal(wbuf_u8(&b, 2), 0);
	body_of(&b, &r);
	assert_int_equal(khproto_dec_login_fd_rep(&r, &out),
	    SIGNET_ERR_PROTOCOL);
	wbuf_reset(&b);
	assert_int_equal(wbuf_u32(&b, 0), 0);
	assert_int_equal(wbuf_u32(&b, 0), 0);
	assert_int_equal(wbuf_u8(&b, 1), 0);
	assert_int_equal(wbuf_u8(&b, 0), 0);
	body_of(&b, &r);
	assert_int_equal(khproto_dec_login_fd_rep(&r, &out),
	    SIGNET_ERR_PROTOCOL);
	wbuf_reset(&b);
	assert_int_equal(wbuf_u32(&b, 0), 0);
	body_of(&b, &r);
	assert_int_equal(khproto_dec_login_fd_rep(&r, &out),
	    SIGNET_ERR_PROTOCOL);
	/* the request has no body */
	wbuf_reset(&b);
	assert_int_equal(wbuf_u8(&b, 0), 0);
	body_of(&b, &r);
	assert_int_equal(khproto_dec_login_fd_req(&r), SIGNET_ERR_PROTOCOL);
	wbuf_free(&b);
}

/* Sends frame with n descriptors attached, as a peer other than
 * khproto_send_fd might. */
static void
send_fds(int sock, const uint8_t *frame, size_t len, const int *fds, int n)
{
	union {
		struct cmsghdr hdr;
		char buf[CMSG_SPACE(4 * sizeof(int))];
	} ctl;
	struct msghdr m;
	struct cmsghdr *c;
	struct iovec iov;

	memset(&m, 0, sizeof(m));
	memset(&ctl, 0, sizeof(ctl));
	iov.iov_base = (void *)(uintptr_t)frame;
	iov.iov_len = len;
	m.msg_iov = &iov;
	m.msg_iovlen = 1;
	m.msg_control = ctl.buf;
	m.msg_controllen = CMSG_SPACE((size_t)n * sizeof(int));
	c = CMSG_FIRSTHDR(&m);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN((size_t)n * sizeof(int));
	memcpy(CMSG_DATA(c), fds, (size_t)n * sizeof(int));
	assert_int_equal(sendmsg(sock, &m, 0), (ssize_t)len);
}

/* Open descriptors of this process: none may be left behind. */
static int
fd_count(void)
{
	int fd, n = 0;

	for (fd = 0; fd < 1024; fd++)
		if (fcntl(fd, F_GETFD) != -1)
			n++;
	return n;
}

static void
t_recv_fd(void **state)
{
	uint8_t buf[KH_MAX_FRAME];
	uint8_t req[] = { 0, 0, 0, 5, KH_MSG_LOGIN_FD, 0, 0, 0, 0 };
	uint8_t zero[] = { 0, 0, 0, 0 };
	int sv[2], p[2], fds[2], passed, before;
	size_t len;
	char c;

	(void)state;
	assert_int_equal(pipe(p), 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	/* the descriptor arrives with its frame and works */
	assert_int_equal(khproto_send_fd(sv[0], req, sizeof(req), p[1]), 0);
	assert_int_equal(khproto_recv_fd(sv[1], buf, &len, &passed), 0);
	assert_int_equal(len, sizeof(req));
	assert_true(passed >= 0 && passed != p[1]);
	assert_true(fcntl(passed, F_GETFD) & FD_CLOEXEC);
	assert_int_equal(write(passed, "x", 1), 1);
	assert_int_equal(read(p[0], &c, 1), 1);
	close(passed);
	/* a frame without one says so */
	assert_int_equal(khproto_send(sv[0], req, sizeof(req)), 0);
	assert_int_equal(khproto_recv_fd(sv[1], buf, &len, &passed), 0);
	assert_int_equal(passed, -1);
	/* two descriptors: refused, and none is left open */
	fds[0] = p[0];
	fds[1] = p[1];
	before = fd_count();
	send_fds(sv[0], req, sizeof(req), fds, 2);
	assert_int_equal(khproto_recv_fd(sv[1], buf, &len, &passed),
	    SIGNET_ERR_PROTOCOL);
	assert_int_equal(passed, -1);
	assert_int_equal(fd_count(), before);
	close(sv[0]);
	close(sv[1]);
	/* a bad length with a descriptor: refused, the descriptor closed */
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	before = fd_count();
	send_fds(sv[0], zero, sizeof(zero), &p[1], 1);
	assert_int_equal(khproto_recv_fd(sv[1], buf, &len, &passed),
	    SIGNET_ERR_PROTOCOL);
	assert_int_equal(passed, -1);
	assert_int_equal(fd_count(), before);
	close(sv[0]);
	assert_int_equal(khproto_recv_fd(sv[1], buf, &len, &passed),
	    SIGNET_ERR_KEYHOLDER);
	close(sv[1]);
	close(p[0]);
	close(p[1]);
	/* a bad descriptor is not sent */
	assert_int_equal(khproto_send_fd(0, req, sizeof(req), -1),
	    SIGNET_ERR_INVALID);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(t_status),
		cmocka_unit_test(t_list),
		cmocka_unit_test(t_pubkey_sign_gen_login),
		cmocka_unit_test(t_failure),
		cmocka_unit_test(t_golden),
		cmocka_unit_test(t_framing),
		cmocka_unit_test(t_recv),
		cmocka_unit_test(t_bad_sign),
		cmocka_unit_test(t_bad_gen),
		cmocka_unit_test(t_bad_misc),
		cmocka_unit_test(t_login_fd),
		cmocka_unit_test(t_recv_fd),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
