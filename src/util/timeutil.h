#ifndef RAMPART_UTIL_TIMEUTIL_H
#define RAMPART_UTIL_TIMEUTIL_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* Wall clock in milliseconds since the epoch. */
int64_t time_now_ms(void);
/* Monotonic clock in microseconds (for latency measurement). */
int64_t time_mono_us(void);
/* RFC 5322 date ("Wed, 25 Nov 2026 22:03:03 +0000") into out. */
void time_rfc5322(time_t t, char *out, size_t outlen);
/* ISO 8601 UTC ("2026-11-25T22:03:03Z"). */
void time_iso8601(time_t t, char *out, size_t outlen);

#endif
