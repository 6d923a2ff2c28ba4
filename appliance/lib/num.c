#include <errno.h>
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
