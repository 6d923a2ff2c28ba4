/* The officer console's server in signetd: a unix socket ([console]
 * socket, mode 0600) whose peers are checked with SO_PEERCRED against
 * [console] allowed_uids. Frames as in consproto.h; requests are
 * {"op": NAME, ...}, replies {"ok": true, "op": NAME, ...} or
 * {"ok": false, "op": NAME, "error": CODE, "message": TEXT}.
 *
 *   login {username, password}   users_login (Argon2id, lockout), then the
 *                                security-officer role is required
 *   logout
 *   pending                      requests this officer may decide now
 *   request {id}                 details, approvals, the original request
 *   decide {id, decision: "approve"|"deny", comment?}
 *   token-status                 token, PIN counters, keys, certificates
 *   token-login                  answered {"state": "send-pin"}; the PIN
 *                                frame then goes to the keyholder, which
 *                                answers the console itself (LOGIN_FD)
 *
 * Any request may carry "poll": true: it does not count as the officer's
 * activity, so a console refreshing its list still logs out when idle. */
#ifndef SIGNET_CONSOLE_SRV_H
#define SIGNET_CONSOLE_SRV_H

#include "err.h"

struct app;
struct console_srv;

/* Binds the socket (replacing a stale one) and starts accepting. Runs
 * after privileges are dropped: the socket belongs to signetd's user. */
int console_srv_start(struct app *app, struct console_srv **out) SIGNET_WUR;
/* Ends every console connection (their sessions logged out), removes the
 * socket; accepts NULL. */
void console_srv_stop(struct console_srv *s);

#endif
