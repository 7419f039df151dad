/* Hybrid logical clock: ticks, observation of remote stamps, order. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "cluster/hlc.h"

static void test_tick_follows_wall_clock(void **state)
{
	(void)state;
	uint64_t h = hlc_tick(0, 1000);
	assert_int_equal(hlc_ms(h), 1000);
	assert_int_equal(hlc_counter(h), 0);
	/* same millisecond: the counter moves */
	uint64_t h2 = hlc_tick(h, 1000);
	assert_true(h2 > h);
	assert_int_equal(hlc_ms(h2), 1000);
	assert_int_equal(hlc_counter(h2), 1);
	/* the wall clock going back never makes a stamp go back */
	uint64_t h3 = hlc_tick(h2, 900);
	assert_true(h3 > h2);
	/* a later wall clock resets the counter */
	uint64_t h4 = hlc_tick(h3, 2000);
	assert_int_equal(hlc_ms(h4), 2000);
	assert_int_equal(hlc_counter(h4), 0);
}

static void test_observe_remote(void **state)
{
	(void)state;
	uint64_t local = hlc_make(1000, 3), remote = hlc_make(5000, 7);
	uint64_t h = hlc_observe(local, remote, 1200);
	assert_int_equal(h, remote); /* never behind what we saw */
	/* the next local stamp is after the remote one */
	assert_true(hlc_tick(h, 1200) > remote);
	/* a stale remote stamp does not move the clock back */
	assert_int_equal(hlc_observe(remote, local, 1200), remote);
	/* wall clock ahead of both wins */
	assert_int_equal(hlc_observe(local, remote, 9000), hlc_make(9000, 0));
}

static void test_cmp_and_tie_break(void **state)
{
	(void)state;
	assert_true(hlc_cmp(5, 1, 4, 9) > 0);
	assert_true(hlc_cmp(4, 9, 5, 1) < 0);
	assert_true(hlc_cmp(5, 2, 5, 1) > 0); /* same stamp: the higher node id wins */
	assert_int_equal(hlc_cmp(5, 1, 5, 1), 0);
}

static void test_plausible_and_format(void **state)
{
	(void)state;
	char buf[64];
	assert_int_equal(hlc_plausible(hlc_make(1000, 0), 1000, 10), 0);
	assert_int_equal(hlc_plausible(hlc_make(1011, 0), 1000, 10), -1);
	hlc_format(hlc_make(1764112419123LL, 0), buf, sizeof buf);
	assert_string_equal(buf, "2025-11-25T23:13:39.123Z");
	hlc_format(hlc_make(1764112419123LL, 5), buf, sizeof buf);
	assert_string_equal(buf, "2025-11-25T23:13:39.123Z+5");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tick_follows_wall_clock),
		cmocka_unit_test(test_observe_remote),
		cmocka_unit_test(test_cmp_and_tie_break),
		cmocka_unit_test(test_plausible_and_format),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
