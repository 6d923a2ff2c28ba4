#include <stdio.h>
#include <string.h>

#include "cms.h"
#include "format.h"

static const struct format formats[] = {
	{ "detached-cms", ".p7s", "application/pkcs7-signature",
	    "detached CMS signature (RFC 5652)", cms_format_sign },
	{ FORMAT_HASH_SLUG, ".sig", "application/octet-stream",
	    "hash signing: the build machine hashes, the appliance signs the "
	    "digest", NULL },
};

const struct format *
format_find(const char *slug)
{
	size_t i;

	if (slug == NULL)
		return NULL;
	for (i = 0; i < sizeof(formats) / sizeof(formats[0]); i++)
		if (strcmp(formats[i].slug, slug) == 0)
			return &formats[i];
	return NULL;
}

size_t
format_count(void)
{
	return sizeof(formats) / sizeof(formats[0]);
}

const struct format *
format_at(size_t i)
{
	return i < format_count() ? &formats[i] : NULL;
}

const struct format *
format_default(void)
{
	return &formats[0];
}

void
format_slugs(char *out, size_t len)
{
	size_t i, used = 0;
	int n;

	if (len == 0)
		return;
	out[0] = '\0';
	for (i = 0; i < format_count(); i++) {
		n = snprintf(out + used, len - used, "%s%s", i ? ", " : "",
		    formats[i].slug);
		if (n < 0 || (size_t)n >= len - used)
			return;
		used += (size_t)n;
	}
}
