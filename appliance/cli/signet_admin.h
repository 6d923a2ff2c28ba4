/* `signet admin …` against a running appliance (signet_admin.c). */
#ifndef SIGNET_SIGNET_ADMIN_H
#define SIGNET_SIGNET_ADMIN_H

/* argv[0] is "admin"; returns the process exit code. */
int signet_admin_main(int argc, char **argv);

#endif
