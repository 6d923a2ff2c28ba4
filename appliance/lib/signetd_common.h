/* Small things signetd and the signet tool share. */
#ifndef SIGNET_SIGNETD_COMMON_H
#define SIGNET_SIGNETD_COMMON_H

#include <stddef.h>

#include "err.h"

/* The keyholder executable: configured, else next to this program (an
 * installation), else in the build tree's pkcs11/. */
int signet_keyholder_path(const char *configured, char *out,
    size_t len) SIGNET_WUR;

/* Takes the state directory's lock (state_dir/signetd.lock) without
 * waiting: one signetd per state, and no restore under a running one.
 * Returns the descriptor holding it, or -1 when someone else has it. */
int signet_state_lock(const char *state_dir);

#endif
