/* Hybrid logical clock stamps, as the config store writes them: the
 * wall clock in milliseconds in the high 48 bits, a counter in the low
 * 16. A stamp never goes behind the wall clock nor behind any stamp the
 * node has seen, so a change made after another one (anywhere in the
 * cluster, as far as this node could know) always carries a higher
 * stamp. Rows are ordered by (stamp, origin node id). */
#ifndef RAMPART_CLUSTER_HLC_H
#define RAMPART_CLUSTER_HLC_H

#include <stddef.h>
#include <stdint.h>

#define HLC_COUNTER_BITS 16

static inline uint64_t hlc_make(int64_t ms, unsigned counter)
{
	return ((uint64_t)ms << HLC_COUNTER_BITS) | (counter & 0xffffu);
}

static inline int64_t hlc_ms(uint64_t h)
{
	return (int64_t)(h >> HLC_COUNTER_BITS);
}

static inline unsigned hlc_counter(uint64_t h)
{
	return (unsigned)(h & 0xffffu);
}

/* The next local stamp after last, at wall time now_ms. */
uint64_t hlc_tick(uint64_t last, int64_t now_ms);
/* The clock after receiving remote: never behind either. */
uint64_t hlc_observe(uint64_t last, uint64_t remote, int64_t now_ms);
/* <0, 0, >0 as (a_hlc, a_node) is older, equal, newer than (b_hlc, b_node). */
int hlc_cmp(uint64_t a_hlc, uint32_t a_node, uint64_t b_hlc, uint32_t b_node);
/* 0 when remote is at most max_ahead_ms ahead of now_ms; -1 when it
 * comes from a clock too far in the future (it would win every merge). */
int hlc_plausible(uint64_t remote, int64_t now_ms, int64_t max_ahead_ms);
/* "2026-11-25T23:13:39.123Z" plus "+N" when the counter is not 0. */
void hlc_format(uint64_t h, char *out, size_t outlen);

#endif
