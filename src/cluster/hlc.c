#include "cluster/hlc.h"

#include <stdio.h>
#include <time.h>

uint64_t hlc_tick(uint64_t last, int64_t now_ms)
{
	uint64_t now = hlc_make(now_ms < 0 ? 0 : now_ms, 0);
	return now > last ? now : last + 1;
}

uint64_t hlc_observe(uint64_t last, uint64_t remote, int64_t now_ms)
{
	uint64_t now = hlc_make(now_ms < 0 ? 0 : now_ms, 0);
	uint64_t m = last > remote ? last : remote;
	return m > now ? m : now;
}

int hlc_cmp(uint64_t a_hlc, uint32_t a_node, uint64_t b_hlc, uint32_t b_node)
{
	if (a_hlc != b_hlc)
		return a_hlc < b_hlc ? -1 : 1;
	if (a_node != b_node)
		return a_node < b_node ? -1 : 1;
	return 0;
}

int hlc_plausible(uint64_t remote, int64_t now_ms, int64_t max_ahead_ms)
{
	return hlc_ms(remote) <= now_ms + max_ahead_ms ? 0 : -1;
}

void hlc_format(uint64_t h, char *out, size_t outlen)
{
	int64_t ms = hlc_ms(h);
	time_t secs = (time_t)(ms / 1000);
	struct tm tm;
	char day[32] = "?";
	if (gmtime_r(&secs, &tm))
		strftime(day, sizeof day, "%Y-%m-%dT%H:%M:%S", &tm);
	if (hlc_counter(h))
		snprintf(out, outlen, "%s.%03dZ+%u", day, (int)(ms % 1000), hlc_counter(h));
	else
		snprintf(out, outlen, "%s.%03dZ", day, (int)(ms % 1000));
}
