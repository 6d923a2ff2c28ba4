/* `signet audit verify FILE`: re-checks an exported audit log's hash chain
 * (audit.h). Needs no configuration, so an auditor can run it anywhere. */
#ifndef SIGNET_AUDIT_CLI_H
#define SIGNET_AUDIT_CLI_H

/* FILE is a JSON-lines export, "-" for standard input. Prints the summary
 * to stdout or the first break to stderr; returns the process exit code:
 * 0 chain intact, 1 chain broken or not an export, 2 unreadable. */
int audit_cli_verify(const char *file);

#endif
