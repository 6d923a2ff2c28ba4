/* Numbers from text (options, configuration, query parameters): decimal
 * digits only, an optional leading '-', within [min, max]. strtol alone
 * takes "", " 7", "+7" and "7x" apart quietly; this does not. */
#ifndef SIGNET_NUM_H
#define SIGNET_NUM_H

#include "err.h"

/* SIGNET_ERR_INVALID unless s is such a number in [min, max]; *out is
 * set only on success. */
int num_parse_long(const char *s, long min, long max, long *out) SIGNET_WUR;

#endif
