/* `signet audit verify FILE`: re-checks an exported audit log's hash chain
 * (audit.h). Needs no configuration, so an auditor can run it anywhere. */
#ifndef SIGNET_AUDIT_CLI_H
#define SIGNET_AUDIT_CLI_H

#include <stdio.h>

/* FILE is a JSON-lines export, "-" for standard input. Prints the summary
 * to stdout or the first break to stderr; returns the process exit code:
 * 0 chain intact, 1 chain broken or not an export, 2 unreadable. */
int audit_cli_verify(const char *file);

struct store;
struct cas;

/* `signet audit reconcile`: reads the keyholder's journal (directory
 * journal) and, in one read-only transaction, the requests, policies,
 * certificates and audit log, and prints to out one "finding: ..." line
 * for each signature no approved request accounts for and each break of
 * the journal's chain, then a summary. Returns the exit code: 0 all
 * accounted for, 1 findings, 2 unreadable. */
int audit_cli_reconcile(struct store *s, struct cas *cas, const char *journal,
    FILE *out);

#endif
