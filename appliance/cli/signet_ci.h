/* The network commands of `signet` (submit, resubmit, status, download,
 * approve, deny, cancel, login): what CI pipelines and people run against
 * an appliance's API. They need no signetd configuration. */
#ifndef SIGNET_SIGNET_CI_H
#define SIGNET_SIGNET_CI_H

/* 1 when name is one of these commands. */
int signet_ci_command(const char *name);
/* argv[0] is the command; returns the process exit code. */
int signet_ci_main(int argc, char **argv);

#endif
