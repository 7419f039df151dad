/* One line per event, syslog style, on stderr (systemd captures it).
 * Untrusted text must pass through log_escape before it is logged. */
#ifndef RAMPART_UTIL_LOG_H
#define RAMPART_UTIL_LOG_H

#include <stddef.h>

enum log_level { LOG_LVL_DEBUG, LOG_LVL_INFO, LOG_LVL_WARN, LOG_LVL_ERR };

void log_set_level(enum log_level lvl);
void log_set_ident(const char *ident);
void log_msg(enum log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
_Noreturn void log_fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
_Noreturn void log_panic(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#define log_debug(...) log_msg(LOG_LVL_DEBUG, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LVL_INFO, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_LVL_WARN, __VA_ARGS__)
#define log_error(...) log_msg(LOG_LVL_ERR, __VA_ARGS__)

/* Copies at most cap bytes of src into out (size outlen), escaping
 * control bytes, backslash and non-ASCII as \xNN; appends "..." when
 * truncated. Returns out. */
char *log_escape(char *out, size_t outlen, const char *src, size_t srclen, size_t cap);

/* Convenience: escape into a thread-local buffer of 256 bytes (for
 * one use per log call). */
const char *log_esc(const char *s);

#endif
