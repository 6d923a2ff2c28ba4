/* The officer console's wire format, shared by signetd (console_srv.c) and
 * signet-console (console.c): each message is one frame, a u32 big-endian
 * length and then that many bytes of one JSON object (UTF-8, no duplicate
 * keys). The one exception is the PIN frame the console sends when token
 * activation asks for it: u32 length and the PIN's bytes, read by the
 * keyholder and never by signetd (pkcs11/PROTOCOL.md, LOGIN_FD). */
#ifndef SIGNET_CONSPROTO_H
#define SIGNET_CONSPROTO_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "err.h"
#include "signet_limits.h"

/* Its limits are in signet_limits.h (SIGNET_MAX_CONSOLE_*). */

#define CONSPROTO_HDR	4

/* CK_TOKEN_INFO flags the console shows (PKCS#11 v2.40 section 3.2): the
 * token's own count of failed PIN tries. signetd and the console do not
 * load PKCS#11 headers; these values are fixed by the standard. */
#define CONSPROTO_CKF_USER_PIN_COUNT_LOW	0x00010000UL
#define CONSPROTO_CKF_USER_PIN_FINAL_TRY	0x00020000UL
#define CONSPROTO_CKF_USER_PIN_LOCKED		0x00040000UL
#define CONSPROTO_CKF_USER_PIN_TO_BE_CHANGED	0x00080000UL

/* Writes msg as one frame; SIGNET_ERR_TOO_LARGE over max, SIGNET_ERR_IO
 * when the peer is gone. */
int consproto_send(int fd, const json_t *msg, size_t max) SIGNET_WUR;
/* Reads one frame of at most max bytes and parses it as a JSON object.
 * Waits at most wait_ms for it to begin (-1: forever): SIGNET_ERR_UNAVAILABLE
 * when none did. SIGNET_ERR_IO: peer gone or read failed; SIGNET_ERR_TOO_LARGE:
 * the length header is above max (the body is not read); SIGNET_ERR_INVALID:
 * not one JSON object. The raw bytes are wiped (a login carries a password). */
int consproto_recv(int fd, int wait_ms, size_t max, json_t **out) SIGNET_WUR;
/* The console's PIN frame, written straight from the caller's (locked)
 * buffer without a copy. */
int consproto_send_pin(int fd, const uint8_t *pin, size_t len) SIGNET_WUR;
/* Wipes a string value in place before the object is released (a password
 * in a parsed request). */
void consproto_wipe_string(json_t *obj, const char *key);

#endif
