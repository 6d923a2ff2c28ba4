#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include "num.h"

int
num_parse_long(const char *s, long min, long max, long *out)
{
	const char *p = s;
	char *end;
	long v;

	if (s == NULL)
		return SIGNET_ERR_INVALID;
	if (*p == '-')
		p++;
	/* strtol would skip white space and take a '+' */
	if (*p < '0' || *p > '9')
		return SIGNET_ERR_INVALID;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < min || v > max)
		return SIGNET_ERR_INVALID;
	*out = v;
	return 0;
}

int
num_parse_size(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;
	uint64_t mul = 1;

	if (s == NULL || *s < '0' || *s > '9')
		return SIGNET_ERR_INVALID;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || end == s)
		return SIGNET_ERR_INVALID;
	switch (*end) {
	case '\0':
		break;
	case 'K': case 'k':
		mul = 1ULL << 10;
		end++;
		break;
	case 'M': case 'm':
		mul = 1ULL << 20;
		end++;
		break;
	case 'G': case 'g':
		mul = 1ULL << 30;
		end++;
		break;
	default:
		return SIGNET_ERR_INVALID;
	}
	if (*end != '\0' || v > UINT64_MAX / mul)
		return SIGNET_ERR_INVALID;
	*out = v * mul;
	return 0;
}
