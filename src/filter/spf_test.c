/* SPF through libspf2 with every query answered by our resolver from a
 * real dnsmasq: pass, fail, softfail, neutral, none, permerror, ip4/ip6,
 * a, mx and include mechanisms, the null sender (HELO identity),
 * loopback clients (checked, not waved through), DNS timeouts
 * (temperror), trusted-forwarder lists, and concurrent checks. */

/* cmocka needs these first, in this order */
/* clang-format off */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
/* clang-format on */

#include "filter/net_testutil.h"
#include "filter/spf.h"
#include "store/config.h"

struct live {
	pid_t dnsmasq;
	struct tu_loop *loop;
};

static int live_setup(void **state)
{
	static const char *const opts[] = {
	    "--txt-record=pass.test,v=spf1 ip4:127.0.0.2 ip4:192.0.2.0/24 -all",
	    "--txt-record=pass.test,google-site-verification=abc",
	    "--txt-record=soft.test,v=spf1 ip4:192.0.2.1 ~all",
	    "--txt-record=neutral.test,v=spf1 ?all",
	    "--txt-record=incl.test,v=spf1 include:pass.test -all",
	    "--txt-record=mx.test,v=spf1 mx -all",
	    "--mx-host=mx.test,mail.mx.test,10",
	    "--host-record=mail.mx.test,127.0.0.5",
	    "--txt-record=a.test,v=spf1 a:host.a.test -all",
	    "--host-record=host.a.test,127.0.0.6",
	    "--txt-record=v6.test,v=spf1 ip6:2001:db8::/32 -all",
	    "--txt-record=perm.test,v=spf1 ip4:300.1.1.1 -all",
	    "--txt-record=multi.test,v=spf1 -all",
	    "--txt-record=multi.test,v=spf1 +all",
	    "--txt-record=split.test,v=spf1 ip4:127.0.0.8 -a,ll",
	    "--host-record=nospf.test,127.0.0.7",
	    NULL,
	};
	struct live *l = calloc(1, sizeof *l);
	*state = l;
	return tu_live_start(opts, &l->dnsmasq, &l->loop);
}

static int live_teardown(void **state)
{
	struct live *l = *state;
	tu_loop_stop(l->loop);
	tu_dnsmasq_stop(l->dnsmasq);
	free(l);
	return 0;
}

static enum spf_outcome check(struct live *l, const char *ip, const char *helo, const char *from)
{
	struct spf_check c;
	assert_int_equal(spf_check(l->loop->dns, ip, helo, from, 3000, &c), 0);
	return c.result;
}

static void test_results(void **state)
{
	struct live *l = *state;
	static const struct {
		const char *ip, *helo, *from;
		enum spf_outcome want;
	} cases[] = {
	    /* loopback clients are checked like any other */
	    {"127.0.0.2", "h.test", "alice@pass.test", SPF_OUT_PASS},
	    {"127.0.0.3", "h.test", "alice@pass.test", SPF_OUT_FAIL},
	    {"192.0.2.77", "h.test", "alice@pass.test", SPF_OUT_PASS},
	    {"198.51.100.1", "h.test", "alice@pass.test", SPF_OUT_FAIL},
	    {"198.51.100.1", "h.test", "bob@soft.test", SPF_OUT_SOFTFAIL},
	    {"192.0.2.1", "h.test", "bob@soft.test", SPF_OUT_PASS},
	    {"198.51.100.1", "h.test", "x@neutral.test", SPF_OUT_NEUTRAL},
	    {"127.0.0.2", "h.test", "x@incl.test", SPF_OUT_PASS},
	    {"127.0.0.9", "h.test", "x@incl.test", SPF_OUT_FAIL},
	    {"127.0.0.5", "h.test", "x@mx.test", SPF_OUT_PASS},
	    {"127.0.0.6", "h.test", "x@mx.test", SPF_OUT_FAIL},
	    {"127.0.0.6", "h.test", "x@a.test", SPF_OUT_PASS},
	    {"2001:db8::77", "h.test", "x@v6.test", SPF_OUT_PASS},
	    {"2001:db9::77", "h.test", "x@v6.test", SPF_OUT_FAIL},
	    {"127.0.0.2", "h.test", "x@v6.test", SPF_OUT_FAIL},
	    {"127.0.0.2", "h.test", "x@nospf.test", SPF_OUT_NONE},
	    {"127.0.0.2", "h.test", "x@nonexistent.test", SPF_OUT_NONE},
	    {"127.0.0.2", "h.test", "x@multi.test", SPF_OUT_PERMERROR},
	    /* TXT strings of one record are joined without spaces */
	    {"127.0.0.8", "h.test", "x@split.test", SPF_OUT_PASS},
	    {"127.0.0.9", "h.test", "x@split.test", SPF_OUT_FAIL},
	    /* the null sender: the HELO name is checked */
	    {"127.0.0.2", "pass.test", "", SPF_OUT_PASS},
	    {"127.0.0.4", "pass.test", "", SPF_OUT_FAIL},
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		enum spf_outcome got = check(l, cases[i].ip, cases[i].helo, cases[i].from);
		if (got != cases[i].want)
			fail_msg("%s from %s: got %s, want %s", cases[i].from, cases[i].ip,
				 spf_outcome_name(got), spf_outcome_name(cases[i].want));
	}
	struct spf_check c;
	assert_int_equal(
	    spf_check(l->loop->dns, "127.0.0.3", "h.test", "alice@pass.test", 3000, &c), 0);
	assert_string_equal(c.domain, "pass.test");
	assert_non_null(strstr(c.comment, "does not designate 127.0.0.3"));
	assert_true(c.lookups >= 1);
}

static void test_perm_and_bad_input(void **state)
{
	struct live *l = *state;
	enum spf_outcome o = check(l, "127.0.0.2", "h.test", "x@perm.test");
	assert_true(o == SPF_OUT_PERMERROR || o == SPF_OUT_NONE);
	struct spf_check c;
	assert_int_equal(spf_check(l->loop->dns, "not-an-ip", "h.test", "a@pass.test", 1000, &c),
			 -1);
	assert_int_equal(spf_check(l->loop->dns, "127.0.0.2", "", "", 1000, &c), -1);
	assert_int_equal(spf_check(NULL, "127.0.0.2", "h.test", "a@pass.test", 1000, &c), -1);
	/* hostile names never reach the wire: no crash, no pass */
	o = check(l, "127.0.0.2", "h.test", "x@bad..name.test");
	assert_true(o != SPF_OUT_PASS);
	o = check(l, "127.0.0.2", "h.test", "x@%{l}%{l}%{l}.test");
	assert_true(o != SPF_OUT_PASS);
}

static void *checker(void *arg)
{
	struct live *l = arg;
	intptr_t bad = 0;
	for (int i = 0; i < 50; i++) {
		struct spf_check c;
		const char *ip = i % 2 ? "127.0.0.2" : "127.0.0.3";
		if (spf_check(l->loop->dns, ip, "h.test", "alice@pass.test", 3000, &c) < 0 ||
		    c.result != (i % 2 ? SPF_OUT_PASS : SPF_OUT_FAIL))
			bad++;
	}
	return (void *)bad;
}

static void test_threads(void **state)
{
	pthread_t th[6];
	for (int i = 0; i < 6; i++)
		pthread_create(&th[i], NULL, checker, *state);
	for (int i = 0; i < 6; i++) {
		void *bad;
		pthread_join(th[i], &bad);
		assert_int_equal((intptr_t)bad, 0);
	}
}

/* DNS that never answers: temperror within the timeout (the stage then
 * skips SPF for that message). */
static void test_timeout(void **state)
{
	(void)state;
	int port = 0;
	int s = tu_silent_udp(&port);
	char server[64];
	snprintf(server, sizeof server, "127.0.0.1:%d", port);
	const char *servers[] = {server};
	struct tu_loop *l = tu_loop_start(servers, 1);
	assert_non_null(l);
	struct spf_check c;
	int64_t t0 = time_mono_us();
	assert_int_equal(spf_check(l->dns, "192.0.2.1", "h.test", "a@slow.test", 500, &c), 0);
	int64_t ms = (time_mono_us() - t0) / 1000;
	assert_int_equal(c.result, SPF_OUT_TEMPERROR);
	assert_true(ms >= 490 && ms < 1500);
	tu_loop_stop(l);
	close(s);
}

static void test_ip_lists(void **state)
{
	(void)state;
	assert_true(spf_ip_in_list("127.0.0.1", "127.0.0.1, ::1"));
	assert_true(spf_ip_in_list("::1", "127.0.0.1, ::1"));
	assert_false(spf_ip_in_list("127.0.0.2", "127.0.0.1, ::1"));
	assert_true(spf_ip_in_list("192.0.2.200", "10.0.0.0/8 192.0.2.128/25"));
	assert_false(spf_ip_in_list("192.0.2.1", "10.0.0.0/8 192.0.2.128/25"));
	assert_true(spf_ip_in_list("2001:db8::1", "garbage, 2001:db8::/32"));
	assert_false(spf_ip_in_list("192.0.2.1", ""));
	assert_false(spf_ip_in_list("192.0.2.1", NULL));
}

/* The stage with the settings of a real config store. */
static void test_stage(void **state)
{
	struct live *l = *state;
	char dir[64], db[128];
	struct err e;
	snprintf(dir, sizeof dir, "/tmp/rampart-spf-XXXXXX");
	assert_non_null(mkdtemp(dir));
	snprintf(db, sizeof db, "%s/rampart.db", dir);
	struct config_store *cs = config_open(db, &e);
	assert_non_null(cs);
	struct filter_engine *fe = filter_engine_new(cs, dir, &e);
	filter_engine_set_dns(fe, l->loop->dns);
	const char *rcpts[] = {"u@example.test"};
	struct scan_input in = {.data = "",
				.client_ip = "127.0.0.3",
				.helo = "h.test",
				.mail_from = "alice@pass.test",
				.rcpts = rcpts,
				.nrcpt = 1};
	struct verdict v;
	struct scan_job job = {.fe = fe, .in = &in, .v = &v};
	/* defaults: fail scores 3 */
	verdict_init(&v, 1);
	stage_spf(&job);
	assert_int_equal(v.final, 0);
	assert_true(v.score == 3.0);
	assert_string_equal(v.rules.data, "SPF_FAIL");
	verdict_free(&v);
	/* fail -> block */
	assert_int_equal(config_set(cs, "spf_fail_action", NULL, "block", &e), 0);
	verdict_init(&v, 1);
	stage_spf(&job);
	assert_int_equal(v.action, ACTION_BLOCK);
	assert_string_equal(v.layer, "spf");
	assert_non_null(strstr(v.public_reason, "pass.test does not permit 127.0.0.3"));
	verdict_free(&v);
	/* softfail scores 1; pass does nothing by default, scores when told */
	in.mail_from = "bob@soft.test";
	verdict_init(&v, 1);
	stage_spf(&job);
	assert_true(v.score == 1.0);
	assert_string_equal(v.rules.data, "SPF_SOFTFAIL");
	verdict_free(&v);
	in.mail_from = "alice@pass.test";
	in.client_ip = "127.0.0.2";
	verdict_init(&v, 1);
	stage_spf(&job);
	assert_true(v.score == 0 && v.rules.len == 0);
	verdict_free(&v);
	assert_int_equal(config_set(cs, "spf_pass_action", NULL, "score", &e), 0);
	assert_int_equal(config_set(cs, "spf_pass_score", NULL, "-1.5", &e), 0);
	verdict_init(&v, 1);
	stage_spf(&job);
	assert_true(v.score == -1.5);
	verdict_free(&v);
	/* trusted forwarders (the default covers 127.0.0.1) and spf_enabled */
	in.client_ip = "127.0.0.1";
	verdict_init(&v, 1);
	stage_spf(&job);
	assert_true(v.score == 0 && !v.final);
	verdict_free(&v);
	in.client_ip = "127.0.0.3";
	assert_int_equal(config_set(cs, "spf_trusted_forwarders", NULL, "127.0.0.0/29", &e), 0);
	verdict_init(&v, 1);
	stage_spf(&job);
	assert_true(v.score == 0 && !v.final);
	verdict_free(&v);
	assert_int_equal(config_set(cs, "spf_trusted_forwarders", NULL, "", &e), 0);
	assert_int_equal(config_set(cs, "spf_enabled", NULL, "off", &e), 0);
	verdict_init(&v, 1);
	stage_spf(&job);
	assert_true(v.score == 0 && !v.final);
	verdict_free(&v);
	filter_engine_free(fe);
	config_close(cs);
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
}

int main(void)
{
	const struct CMUnitTest offline[] = {
	    cmocka_unit_test(test_ip_lists),
	    cmocka_unit_test(test_timeout),
	};
	const struct CMUnitTest live[] = {
	    cmocka_unit_test(test_results),
	    cmocka_unit_test(test_perm_and_bad_input),
	    cmocka_unit_test(test_threads),
	    cmocka_unit_test(test_stage),
	};
	int rc = cmocka_run_group_tests_name("spf", offline, NULL, NULL);
	return rc + cmocka_run_group_tests_name("spf_live", live, live_setup, live_teardown);
}
