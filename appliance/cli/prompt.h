/* Reading a password for the signet tool: one line from stdin for
 * scripts, or typed at a terminal without echo. */
#ifndef SIGNET_PROMPT_H
#define SIGNET_PROMPT_H

#include <stddef.h>

#include "err.h"

/* Asks question on stderr when stdin is a terminal, with echo off while
 * the line is typed, and reads one line into pw[cap] without its line
 * end; *len is its length. SIGNET_ERR_TRUNCATED when nothing was read,
 * SIGNET_ERR_TOO_LARGE when the line does not fit (pw is wiped then).
 * The caller wipes pw when done. */
int prompt_password(const char *question, char *pw, size_t cap,
    size_t *len) SIGNET_WUR;

#endif
