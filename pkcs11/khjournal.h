/* The keyholder's own signing journal (pkcs11/PROTOCOL.md, "Journal"):
 * one JSON line per signature, key generation, login and start, in a
 * directory only the keyholder's user can write. Each line names its
 * sequence number and the SHA-256 of the line before it, so a line
 * removed or edited in the middle breaks the chain. The keyholder writes
 * it (khj_open, khj_append); `signet audit reconcile` reads it
 * (khj_walk) and holds every signature against an approved request. */
#ifndef SIGNET_KHJOURNAL_H
#define SIGNET_KHJOURNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "err.h"
#include "signet_limits.h"

#define KHJ_FILE	"journal.jsonl"
#define KHJ_HASH_HEX	64	/* SHA-256, lowercase hex */

struct khj;

/* Opens dir/KHJ_FILE for appending, creating dir (0700) and the file
 * (0600) when missing. Both must be owned by the effective uid, not
 * symlinks, and writable by nobody else; the existing lines must form an
 * unbroken chain. Otherwise a reason goes into err and the result is
 * SIGNET_ERR_CONFIG. */
int khj_open(const char *dir, struct khj **out, char *err,
    size_t errlen) SIGNET_WUR;
void khj_close(struct khj *j);

/* Appends {"seq":N,"prev":"H","time":"T",<fields>} and a newline, then
 * fsyncs: when this returns 0 the line is on disk. fields are JSON
 * members, already quoted (khj_quote). After a failed write or fsync
 * every later append fails too: the chain's end is no longer known.
 * Thread-safe: appends from several threads at once share fsyncs (one
 * for every line written while none was under way). */
int khj_append(struct khj *j, const char *fields) SIGNET_WUR;
/* khj_append in two steps, for a writer with work to do while its line
 * goes to disk: khj_write appends the line (not yet on disk) and gives
 * its place among this process' lines (*ticket) and its sequence number
 * (*seq); khj_sync(ticket) returns 0 once that line is on disk. */
int khj_write(struct khj *j, const char *fields, uint64_t *ticket,
    uint64_t *seq) SIGNET_WUR;
int khj_sync(struct khj *j, uint64_t ticket) SIGNET_WUR;
/* A thread that starts an fsync as soon as a line is written, rather than
 * when its writer asks (khj_sync); khj_close stops it. */
int khj_flusher_start(struct khj *j) SIGNET_WUR;
/* Number of the next line (1 for an empty journal). */
uint64_t khj_next_seq(struct khj *j);
/* fsyncs done since khj_open: fewer than appends when they shared. */
uint64_t khj_flushes(struct khj *j);

/* s as a JSON string with its quotes into out[cap]. */
int khj_quote(char *out, size_t cap, const char *s) SIGNET_WUR;

/* Reading. For every line, line() gets it (without the newline) with its
 * number in the file and whether it continues the chain; for every break,
 * broken() says where and what. A break resynchronises on the line that
 * follows it, so one edit is reported once. */
struct khj_walk_cb {
	void (*line)(uint64_t lineno, uint64_t seq, const char *line,
	    size_t len, void *arg);
	void (*broken)(uint64_t lineno, const char *what, void *arg);
	void *arg;
};
/* SIGNET_ERR_IO when f cannot be read; *lines counts the lines seen and
 * *breaks the breaks; head (KHJ_HASH_HEX + 1) gets the hash of the last
 * line, or zeros for an empty journal. */
int khj_walk(FILE *f, const struct khj_walk_cb *cb, uint64_t *lines,
    uint64_t *breaks, char head[KHJ_HASH_HEX + 1]) SIGNET_WUR;

#endif
