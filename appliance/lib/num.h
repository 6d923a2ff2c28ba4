/* Numbers from text (options, configuration, query parameters): decimal
 * digits only, an optional leading '-', within [min, max]. strtol alone
 * takes "", " 7", "+7" and "7x" apart quietly; this does not. */
#ifndef SIGNET_NUM_H
#define SIGNET_NUM_H

#include <stdint.h>

#include "err.h"

/* SIGNET_ERR_INVALID unless s is such a number in [min, max]; *out is
 * set only on success. */
int num_parse_long(const char *s, long min, long max, long *out) SIGNET_WUR;
/* A size: digits with an optional K, M or G (binary multiples, either
 * case), as in signetd.conf: "4G". */
int num_parse_size(const char *s, uint64_t *out) SIGNET_WUR;

#endif
