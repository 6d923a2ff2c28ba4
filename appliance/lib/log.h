/* Logging to stderr (journald under systemd). Never pass secrets. */
#ifndef SIGNET_LOG_H
#define SIGNET_LOG_H

void log_init(const char *progname, int debug);
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* log_err plus the OpenSSL error queue, which it drains */
void log_ssl(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
