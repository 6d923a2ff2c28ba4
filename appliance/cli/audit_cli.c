#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "audit.h"
#include "audit_cli.h"
#include "err.h"

int
audit_cli_verify(const char *file)
{
	FILE *f = NULL;
	char msg[1024];
	int r, rc = 2;

	if (strcmp(file, "-") == 0) {
		f = stdin;
	} else if ((f = fopen(file, "re")) == NULL) {
		fprintf(stderr, "signet: audit verify: %s: %s\n", file,
		    strerror(errno));
		goto out;
	}
	r = audit_verify(f, msg, sizeof(msg));
	if (r == 0) {
		printf("%s: %s\n", file, msg);
		/* the verdict must reach the auditor, or it is not one */
		rc = fflush(stdout) == 0 ? 0 : 2;
	} else if (r == SIGNET_ERR_INVALID) {
		fprintf(stderr, "signet: audit verify: %s: chain broken at "
		    "%s\n", file, msg);
		rc = 1;
	} else {
		fprintf(stderr, "signet: audit verify: %s: %s\n", file,
		    msg[0] != '\0' ? msg : signet_strerror(r));
	}
out:
	if (f != NULL && f != stdin)
		fclose(f);
	return rc;
}
