/* Small things signetd and the signet tool share. */
#ifndef SIGNET_SIGNETD_COMMON_H
#define SIGNET_SIGNETD_COMMON_H

#include <stddef.h>

#include "err.h"

/* The keyholder executable: configured, else next to this program (an
 * installation), else in the build tree's pkcs11/. */
int signet_keyholder_path(const char *configured, char *out,
    size_t len) SIGNET_WUR;

#endif
