/* Reason buffer: functions return 0/-1 and fill one of these on -1. */
#ifndef RAMPART_UTIL_ERR_H
#define RAMPART_UTIL_ERR_H

struct err {
	char msg[512];
};

/* Always returns -1 so callers can `return err_set(e, ...)`. */
int err_set(struct err *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
