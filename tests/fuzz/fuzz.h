/* The entry point of every fuzz target in tests/fuzz/ (libFuzzer's
 * interface). Built with -Dfuzz=true and clang, libFuzzer calls it; in
 * every build replay.c calls it once per file of the target's corpus, so
 * the seeds and every fixed crash run as a regression test (with ASan and
 * UBSan in the sanitizer build). A target returns 0 and aborts when it sees
 * something that must never happen (a broken round trip): that is a find. */
#ifndef SIGNET_FUZZ_H
#define SIGNET_FUZZ_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A target's invariant failed: print why and abort, so libFuzzer keeps
 * the input and the replay test fails. */
void fuzz_fail(const char *what) __attribute__((noreturn));

/* A private directory for one process (under /dev/shm when there is one:
 * uploads and LMDB fsync there cheaply), removed at exit. NULL when none
 * could be made. */
const char *fuzz_tmpdir(void);

#endif
