/* The serial numbers of the time-stamping authority's tokens (RFC 3161
 * section 2.4.2: "unique for each TimeStampToken issued by a given TSA").
 * A high-water mark in the store says how far serials have been handed
 * out; they are reserved in blocks (one durable write and one audit entry,
 * "tsa.serials-reserved" with first, last and keyId, per block) and given
 * out from memory, so a restart skips the rest of a block and never hands
 * out a serial twice. The audit entries are what `signet audit reconcile`
 * accounts the keyholder's TSA signatures ("tsa-<serial>") against. */
#ifndef SIGNET_TSA_SERIAL_H
#define SIGNET_TSA_SERIAL_H

#include <stdint.h>

#include "err.h"
#include "store.h"

/* STORE_META key of the high-water mark: a big-endian u64, the last
 * serial reserved. */
#define TSA_SERIAL_KEY "tsa_serial_hwm"

struct tsa_serial;

/* block: serials per reservation (1..TSA_SERIAL_MAX_BLOCK); key_id: the
 * token key the serials are signed with, named in the audit entries.
 * Nothing is written until the first serial is asked for. */
int tsa_serial_open(struct store *s, uint64_t block, const char *key_id,
    struct tsa_serial **out) SIGNET_WUR;
void tsa_serial_close(struct tsa_serial *ts);	/* accepts NULL */
/* The next serial (thread-safe): from memory, or from a new block
 * reserved with its audit entry in one write transaction. */
int tsa_serial_next(struct tsa_serial *ts, uint64_t *out) SIGNET_WUR;

#endif
