/* The keyholder protocol (pkcs11/PROTOCOL.md): message types, framing, and
 * the encoder and decoder of every message. Both sides use the same
 * decoders, so what signetd sends is exactly what the keyholder accepts.
 * Encoders write a whole frame (length header included) into a wbuf that
 * the caller initialised with a maximum of KH_MAX_FRAME. Decoders read one
 * frame body through the bounded reader and insist on its end. */
#ifndef SIGNET_KHPROTO_H
#define SIGNET_KHPROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "signet_limits.h"
#include "rd.h"
#include "wbuf.h"
#include "khclient.h"

/* Request types; a reply has the request's type | KH_MSG_REPLY. */
#define KH_MSG_STATUS		0x01
#define KH_MSG_LIST_KEYS	0x02
#define KH_MSG_PUBKEY		0x03
#define KH_MSG_SIGN		0x04
#define KH_MSG_GENERATE		0x05
#define KH_MSG_LOGIN		0x06
#define KH_MSG_LOGIN_FD		0x07
#define KH_MSG_REPLY		0x80
#define KH_MSG_FAILURE		0xff

#define KH_FRAME_HDR		4	/* u32 length */
#define KH_MSG_HDR		5	/* u8 type, u32 request id */
#define KH_MAX_FRAME		(KH_FRAME_HDR + SIGNET_KH_MAX_MSG)

#define KH_MAX_ID		(KH_KEY_ID_HEX / 2)	/* CKA_ID bytes */
#define KH_GEN_ID_LEN		16			/* CKA_ID of new keys */
#define KH_MAX_DIGEST		64
#define KH_MAX_SLOTS	1024	/* slots a module may report in STATUS */
#define KH_MAX_SIG		1024	/* RSA-8192 */
#define KH_MAX_SPKI		4096
#define KH_MAX_ERRMSG		128
#define KH_MAX_KEY_BITS		16384
/* Keys per LIST_KEYS reply: 64 entries of at most 141 bytes fit in
 * SIGNET_KH_MAX_MSG with room to spare. */
#define KH_LIST_PAGE		64
/* LOGIN_FD: how long the keyholder waits for the console's PIN frame and
 * for room to write its answer. The console has the PIN typed before it
 * asks, so this only has to cover a busy machine, not a person typing. */
#define KH_PIN_FRAME_TIMEOUT_MS	10000
/* The console's answer frame (u32 length + a small JSON object). */
#define KH_MAX_CONSOLE_ANSWER	256

struct kh_sign_req {
	char key_id[KH_KEY_ID_HEX + 1];
	int mech;			/* enum kh_mech */
	int hash;			/* enum kh_hash */
	uint8_t dgst[KH_MAX_DIGEST];
	size_t dlen;
	int purpose;			/* enum kh_purpose */
	char ref[KH_MAX_REF + 1];	/* request id or administrator */
};

struct kh_gen_req {
	char label[SIGNET_KH_MAX_LABEL + 1];
	int type;			/* enum kh_key_type */
	unsigned bits;
	int origin;			/* KH_GEN_BY_ADMIN, nothing else */
	char admin[KH_MAX_REF + 1];	/* who asked, for the journal */
};

struct kh_failure {
	int code;			/* SIGNET_ERR_* */
	char msg[KH_MAX_ERRMSG + 1];
};

/* Digest size of an enum kh_hash, 0 if unknown. */
size_t khproto_hash_len(int hash);
/* A key id is 2..KH_KEY_ID_HEX lowercase hex digits, even in number. */
bool khproto_valid_key_id(const char *id);
/* 1..KH_MAX_REF bytes of text: a SIGN's reference (request id or
 * administrator) and a GENERATE's administrator. */
bool khproto_valid_ref(const char *ref);
/* RSA 2048/3072/4096, EC 256/384. */
bool khproto_valid_gen(int type, unsigned bits);
/* 1..SIGNET_KH_MAX_LABEL bytes, none below 0x20 nor 0x7f. */
bool khproto_valid_label(const char *label);

/* Framing. frame[0..len) is a whole frame as read by khproto_recv; the
 * type, the request id and a reader over the body are returned. */
int khproto_open(const uint8_t *frame, size_t len, uint8_t *type,
    uint32_t *id, struct rd *body) SIGNET_WUR;
/* Writes the request id into a whole frame an encoder made (encoders
 * write 0): signetd numbers its requests, the keyholder answers with the
 * request's number. */
int khproto_set_id(uint8_t *frame, size_t len, uint32_t id) SIGNET_WUR;
/* Sends a whole frame, retrying short writes; no SIGPIPE. */
int khproto_send(int fd, const uint8_t *frame, size_t len) SIGNET_WUR;
/* Reads one frame into buf[KH_MAX_FRAME]. SIGNET_ERR_KEYHOLDER when the
 * peer is gone or the read failed, SIGNET_ERR_PROTOCOL when the length
 * header is 0 or above SIGNET_KH_MAX_MSG (the body is not read). */
int khproto_recv(int fd, uint8_t *buf, size_t *len) SIGNET_WUR;

/* Like khproto_send, with the descriptor fd passed (SCM_RIGHTS) along
 * with the frame's bytes. */
int khproto_send_fd(int sock, const uint8_t *frame, size_t len,
    int fd) SIGNET_WUR;
/* Like khproto_recv, for the keyholder: a descriptor passed with the frame
 * is returned in *passed (close-on-exec), else *passed is -1. More than one
 * descriptor, or ancillary data cut short, is SIGNET_ERR_PROTOCOL (and
 * whatever arrived is closed). */
int khproto_recv_fd(int sock, uint8_t *buf, size_t *len,
    int *passed) SIGNET_WUR;

/* Requests. */
int khproto_enc_status_req(struct wbuf *b) SIGNET_WUR;
int khproto_dec_status_req(struct rd *r) SIGNET_WUR;
int khproto_enc_list_req(struct wbuf *b, uint32_t offset) SIGNET_WUR;
int khproto_dec_list_req(struct rd *r, uint32_t *offset) SIGNET_WUR;
int khproto_enc_pubkey_req(struct wbuf *b, const char *key_id) SIGNET_WUR;
int khproto_dec_pubkey_req(struct rd *r,
    char key_id[KH_KEY_ID_HEX + 1]) SIGNET_WUR;
int khproto_enc_sign_req(struct wbuf *b,
    const struct kh_sign_req *q) SIGNET_WUR;
int khproto_dec_sign_req(struct rd *r, struct kh_sign_req *q) SIGNET_WUR;
int khproto_enc_gen_req(struct wbuf *b, const struct kh_gen_req *q) SIGNET_WUR;
int khproto_dec_gen_req(struct rd *r, struct kh_gen_req *q) SIGNET_WUR;
/* b should be a secret wbuf. The PIN is returned in place, not copied. */
int khproto_enc_login_req(struct wbuf *b, const void *pin,
    size_t pinlen) SIGNET_WUR;
int khproto_dec_login_req(struct rd *r, const uint8_t **pin,
    size_t *pinlen) SIGNET_WUR;
/* LOGIN_FD has an empty body: the request is the descriptor. */
int khproto_enc_login_fd_req(struct wbuf *b) SIGNET_WUR;
int khproto_dec_login_fd_req(struct rd *r) SIGNET_WUR;

/* Replies. */
int khproto_enc_failure(struct wbuf *b, int code, const char *msg) SIGNET_WUR;
int khproto_dec_failure(struct rd *r, struct kh_failure *f) SIGNET_WUR;
int khproto_enc_status_rep(struct wbuf *b,
    const struct kh_status *st) SIGNET_WUR;
int khproto_dec_status_rep(struct rd *r, struct kh_status *st) SIGNET_WUR;
/* keys[0..n) of total; n <= KH_LIST_PAGE. */
int khproto_enc_list_rep(struct wbuf *b, uint32_t total,
    const struct kh_key_info *keys, size_t n) SIGNET_WUR;
/* keys has room for KH_LIST_PAGE entries. */
int khproto_dec_list_rep(struct rd *r, uint32_t *total,
    struct kh_key_info *keys, size_t *n) SIGNET_WUR;
int khproto_enc_pubkey_rep(struct wbuf *b, const uint8_t *spki,
    size_t len) SIGNET_WUR;
/* The DER is returned in place. */
int khproto_dec_pubkey_rep(struct rd *r, const uint8_t **spki,
    size_t *len) SIGNET_WUR;
int khproto_enc_sign_rep(struct wbuf *b, const uint8_t *sig,
    size_t len) SIGNET_WUR;
int khproto_dec_sign_rep(struct rd *r, const uint8_t **sig,
    size_t *len) SIGNET_WUR;
int khproto_enc_gen_rep(struct wbuf *b,
    const struct kh_key_info *k) SIGNET_WUR;
int khproto_dec_gen_rep(struct rd *r, struct kh_key_info *k) SIGNET_WUR;
int khproto_enc_login_rep(struct wbuf *b) SIGNET_WUR;
int khproto_dec_login_rep(struct rd *r) SIGNET_WUR;
int khproto_enc_login_fd_rep(struct wbuf *b,
    const struct kh_login_result *res) SIGNET_WUR;
int khproto_dec_login_fd_rep(struct rd *r,
    struct kh_login_result *res) SIGNET_WUR;

#endif
