/* DNS blocklists: zone entries and their validation, what counts as a
 * listing, the IPs of a message, lookups against a real dnsmasq serving
 * test zones, the verdict, and DNS timeouts (the layer is skipped). */

/* cmocka needs these first, in this order */
/* clang-format off */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
/* clang-format on */

#include "filter/dnsbl.h"
#include "filter/net_testutil.h"
#include "mail/msgview.h"
#include "store/config.h"

static void test_zone_parse(void **state)
{
	(void)state;
	struct bl_zone z;
	struct err e;
	char canon[512];
	assert_int_equal(
	    bl_zone_parse("dnsbl", "Zen.Example.ORG.", "{\"action\":\"block\"}", &z, &e), 0);
	assert_string_equal(z.zone, "zen.example.org");
	assert_string_equal(z.rule, "DNSBL_ZEN_EXAMPLE_ORG");
	assert_int_equal(z.action, BL_BLOCK);
	assert_int_equal(bl_zone_value(&z, canon, sizeof canon, &e), 0);
	assert_string_equal(canon, "{\"action\":\"block\"}");

	assert_int_equal(
	    bl_zone_parse("uribl", "multi.uribl.test",
			  "{\"action\":\"score\",\"score\":2.5,\"codes\":[\"127.0.0.2\","
			  "\"127.0.0.4\"],\"mask\":14}",
			  &z, &e),
	    0);
	assert_string_equal(z.rule, "URIBL_MULTI_URIBL_TEST");
	assert_true(z.score == 2.5);
	assert_int_equal(z.ncodes, 2);
	assert_int_equal(z.mask, 14);
	assert_int_equal(bl_zone_value(&z, canon, sizeof canon, &e), 0);
	assert_string_equal(canon, "{\"action\":\"score\",\"codes\":[\"127.0.0.2\",\"127.0.0.4\"],"
				   "\"mask\":14,\"score\":2.5}");
	/* defaults: score 1 */
	assert_int_equal(bl_zone_parse("dnsbl", "bl.test", "{}", &z, &e), 0);
	assert_int_equal(z.action, BL_SCORE);
	assert_true(z.score == 1.0);

	static const struct {
		const char *zone, *json, *msg;
	} bad[] = {
	    {"localhost", "{}", "expected a DNS name"},
	    {"bad zone.test", "{}", "expected a DNS name"},
	    {"bl.test", "{\"action\":\"drop\"}", "must be one of"},
	    {"bl.test", "{\"action\":\"score\",\"score\":1000}", "between -100 and 100"},
	    {"bl.test", "{\"action\":\"score\",\"score\":\"3\"}", "between -100 and 100"},
	    {"bl.test", "{\"codes\":[\"10.0.0.1\"]}", "127.0.0.0/8"},
	    {"bl.test", "{\"codes\":\"127.0.0.2\"}", "must be a list"},
	    {"bl.test", "{\"mask\":0}", "from 1 to 255"},
	    {"bl.test", "{\"acton\":\"block\"}", "unknown member"},
	    {"bl.test", "[]", "JSON object"},
	    {"bl.test", "{\"action\":\"block\"", "JSON object"},
	    {"bl.test", "{\"action\":\"block\",\"action\":\"tag\"}", "JSON object"},
	};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		assert_int_equal(bl_zone_parse("dnsbl", bad[i].zone, bad[i].json, &z, &e), -1);
		if (!strstr(e.msg, bad[i].msg))
			fail_msg("%s %s: \"%s\" lacks \"%s\"", bad[i].zone, bad[i].json, e.msg,
				 bad[i].msg);
	}
}

static void test_key_check(void **state)
{
	(void)state;
	char canon[512];
	struct err e;
	assert_int_equal(bl_key_check("dnsbl/zen.example.org", "{\"action\": \"quarantine\"}",
				      canon, sizeof canon, &e),
			 0);
	assert_string_equal(canon, "{\"action\":\"quarantine\"}");
	assert_int_equal(
	    bl_key_check("uribl/multi.example", "{\"score\": 4}", canon, sizeof canon, &e), 0);
	assert_string_equal(canon, "{\"action\":\"score\",\"score\":4.0}");
	/* tombstones need only a good key */
	assert_int_equal(bl_key_check("uribl/multi.example", NULL, canon, sizeof canon, &e), 0);
	assert_int_equal(bl_key_check("dnsbl/Zen.Example.org", "{}", canon, sizeof canon, &e), -1);
	assert_non_null(strstr(e.msg, "canonical"));
	assert_int_equal(bl_key_check("dnsbl/", "{}", canon, sizeof canon, &e), -1);
	assert_int_equal(bl_key_check("other/zen.example.org", "{}", canon, sizeof canon, &e), -1);
	assert_int_equal(bl_key_check("dnsblx/zen.example.org", "{}", canon, sizeof canon, &e), -1);
	assert_int_equal(
	    bl_key_check("dnsbl/zen.example.org", "{\"action\":1}", canon, sizeof canon, &e), -1);
}

static void test_answer_listed(void **state)
{
	(void)state;
	struct bl_zone z;
	struct err e;
	assert_int_equal(bl_zone_parse("dnsbl", "bl.test", "{}", &z, &e), 0);
	assert_true(bl_answer_listed(&z, (const unsigned char *)"\x7f\0\0\x02"));
	assert_true(bl_answer_listed(&z, (const unsigned char *)"\x7f\0\0\x0b"));
	/* operator error codes and anything outside 127/8 are never listings */
	assert_false(bl_answer_listed(&z, (const unsigned char *)"\x7f\xff\xff\xfe"));
	assert_false(bl_answer_listed(&z, (const unsigned char *)"\x0a\0\0\x02"));
	assert_int_equal(bl_zone_parse("dnsbl", "bl.test", "{\"codes\":[\"127.0.0.4\"]}", &z, &e),
			 0);
	assert_false(bl_answer_listed(&z, (const unsigned char *)"\x7f\0\0\x02"));
	assert_true(bl_answer_listed(&z, (const unsigned char *)"\x7f\0\0\x04"));
	assert_int_equal(bl_zone_parse("uribl", "bl.test", "{\"mask\":6}", &z, &e), 0);
	assert_true(bl_answer_listed(&z, (const unsigned char *)"\x7f\0\0\x02"));
	assert_true(bl_answer_listed(&z, (const unsigned char *)"\x7f\0\0\x0c"));
	assert_false(bl_answer_listed(&z, (const unsigned char *)"\x7f\0\0\x08"));
}

static void test_message_ips(void **state)
{
	(void)state;
	static const char msg[] =
	    "Received: from relay.test (relay.test [192.0.2.7])\r\n\tby mx.test; Mon, 1 Jan "
	    "2024\r\n"
	    "Received: from inner (inner [10.1.2.3]) by relay.test\r\n"
	    "Received: from v6 ([IPv6:2001:db8::5]) by relay.test\r\n"
	    "Received: from dup ([192.0.2.7]) by relay.test\r\n"
	    "Received: from junk ([not-an-ip]) ([999.1.1.1]) by relay.test\r\n"
	    "Subject: hi\r\n\r\nbody\r\n";
	struct msg_view v;
	struct err e;
	assert_int_equal(msgview_parse(msg, sizeof msg - 1, &v, &e), 0);
	char ips[8][64];
	int n = dnsbl_ips("::ffff:127.0.0.2", &v, 0, 1, ips, 8);
	assert_int_equal(n, 1);
	assert_string_equal(ips[0], "127.0.0.2");
	n = dnsbl_ips("127.0.0.2", &v, 1, 1, ips, 8);
	assert_int_equal(n, 3);
	assert_string_equal(ips[1], "192.0.2.7");
	assert_string_equal(ips[2], "2001:db8::5");
	n = dnsbl_ips("192.168.1.1", &v, 1, 0, ips, 8);
	assert_int_equal(n, 4); /* private ones kept when not skipped */
	assert_string_equal(ips[0], "192.168.1.1");
	assert_string_equal(ips[2], "10.1.2.3");
	n = dnsbl_ips("192.168.1.1", &v, 1, 1, ips, 2);
	assert_int_equal(n, 2);
	assert_int_equal(dnsbl_ips("", NULL, 1, 1, ips, 8), 0);
	assert_int_equal(dnsbl_ips("fe80::1%eth0", NULL, 0, 0, ips, 8), 0);
	msgview_free(&v);
	assert_true(dnsbl_ip_private("172.31.255.1"));
	assert_true(dnsbl_ip_private("100.64.0.1"));
	assert_true(dnsbl_ip_private("fd00::1"));
	assert_false(dnsbl_ip_private("127.0.0.2"));
	assert_false(dnsbl_ip_private("172.32.0.1"));
	assert_false(dnsbl_ip_private("2001:db8::1"));
}

/* ---- live ---- */

struct live {
	pid_t dnsmasq;
	struct tu_loop *loop;
	struct bl_list list;
};

static int live_setup(void **state)
{
	static const char *const opts[] = {
	    "--address=/2.0.0.127.bl.test/127.0.0.2",
	    "--address=/3.0.0.127.bl.test/127.0.0.10",
	    "--address=/4.0.0.127.bl.test/127.255.255.254",
	    "--address=/2.0.0.127.bl2.test/127.0.0.4",
	    "--address=/7.2.0.192.bl2.test/127.0.0.4",
	    "--address=/5.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.bl.test/"
	    "127.0.0.2",
	    NULL,
	};
	struct live *l = calloc(1, sizeof *l);
	struct err e;
	if (tu_live_start(opts, &l->dnsmasq, &l->loop) < 0 ||
	    bl_zone_parse("dnsbl", "bl.test", "{\"action\":\"block\"}", &l->list.zone[0], &e) ||
	    bl_zone_parse("dnsbl", "bl2.test", "{\"action\":\"score\",\"score\":2.5}",
			  &l->list.zone[1], &e))
		return -1;
	l->list.n = 2;
	*state = l;
	return 0;
}

static int live_teardown(void **state)
{
	struct live *l = *state;
	tu_loop_stop(l->loop);
	tu_dnsmasq_stop(l->dnsmasq);
	free(l);
	return 0;
}

static int check_ips(struct live *l, const char *const *ips, int n, struct bl_hit *hits,
		     int *failed)
{
	char names[8][80];
	const char *qn[8];
	for (int i = 0; i < n; i++) {
		assert_int_equal(dns_reverse_name(ips[i], NULL, names[i], sizeof names[i]), 0);
		qn[i] = names[i];
	}
	return bl_check(l->loop->dns, &l->list, qn, ips, n, 2000, hits, 16, failed);
}

static void test_live_listings(void **state)
{
	struct live *l = *state;
	struct bl_hit hits[16];
	int failed;
	const char *ips[] = {"127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.9", "2001:db8::5"};
	int n = check_ips(l, ips, 5, hits, &failed);
	assert_int_equal(failed, 0);
	assert_int_equal(n, 4);
	/* 127.0.0.2 in both zones, 127.0.0.3 as 127.0.0.10, the IPv6 address;
	 * 127.0.0.4's 127.255.255.254 is an error code, not a listing */
	assert_string_equal(hits[0].item, "127.0.0.2");
	assert_string_equal(hits[0].zone->zone, "bl.test");
	assert_string_equal(hits[0].answer, "127.0.0.2");
	assert_string_equal(hits[1].zone->zone, "bl2.test");
	assert_string_equal(hits[1].answer, "127.0.0.4");
	assert_string_equal(hits[2].item, "127.0.0.3");
	assert_string_equal(hits[2].answer, "127.0.0.10");
	assert_string_equal(hits[3].item, "2001:db8::5");

	/* block ends the path; the score zone adds its score once */
	struct verdict v;
	verdict_init(&v, 1);
	bl_apply(&v, "dnsbl", "Host", hits, n);
	assert_int_equal(v.final, 1);
	assert_int_equal(v.action, ACTION_BLOCK);
	assert_true(v.score == 2.5);
	assert_string_equal(v.rules.data, "DNSBL_BL_TEST,DNSBL_BL2_TEST");
	assert_string_equal(v.layer, "dnsbl");
	assert_string_equal(v.public_reason, "Host 127.0.0.2 blocked using bl.test");
	verdict_free(&v);
}

static void test_live_not_listed(void **state)
{
	struct live *l = *state;
	struct bl_hit hits[16];
	int failed;
	const char *ips[] = {"127.0.0.1", "192.0.2.99"};
	assert_int_equal(check_ips(l, ips, 2, hits, &failed), 0);
	assert_int_equal(failed, 0);
	struct verdict v;
	verdict_init(&v, 1);
	bl_apply(&v, "dnsbl", "Host", hits, 0);
	assert_int_equal(v.final, 0);
	assert_true(v.score == 0);
	verdict_free(&v);
	/* only the score zone lists 192.0.2.7: a score, no decision */
	const char *ips2[] = {"192.0.2.7"};
	int n = check_ips(l, ips2, 1, hits, &failed);
	assert_int_equal(n, 1);
	verdict_init(&v, 1);
	bl_apply(&v, "dnsbl", "Host", hits, n);
	assert_int_equal(v.final, 0);
	assert_true(v.score == 2.5);
	verdict_free(&v);
}

/* A server that never answers: every lookup fails within the timeout,
 * nothing is listed, nothing decided. */
static void test_timeout_skips(void **state)
{
	struct live *live = *state;
	int port = 0;
	int s = tu_silent_udp(&port);
	char server[64];
	snprintf(server, sizeof server, "127.0.0.1:%d", port);
	const char *servers[] = {server};
	struct tu_loop *l = tu_loop_start(servers, 1);
	assert_non_null(l);
	const char *qn[] = {"2.0.0.127", "3.0.0.127"}, *items[] = {"127.0.0.2", "127.0.0.3"};
	struct bl_hit hits[8];
	int failed;
	int64_t t0 = time_mono_us();
	assert_int_equal(bl_check(l->dns, &live->list, qn, items, 2, 400, hits, 8, &failed), 0);
	int64_t ms = (time_mono_us() - t0) / 1000;
	assert_int_equal(failed, 4);
	assert_true(ms >= 390 && ms < 1500);
	tu_loop_stop(l);
	close(s);
}

/* The stage itself: zones from a real config store (written the way
 * the API writes them), the engine's resolver, a scan job. */
static void test_stage(void **state)
{
	struct live *l = *state;
	char dir[64], db[128];
	struct err e;
	snprintf(dir, sizeof dir, "/tmp/rampart-dnsbl-XXXXXX");
	assert_non_null(mkdtemp(dir));
	snprintf(db, sizeof db, "%s/rampart.db", dir);
	dnsbl_register_config();
	struct config_store *cs = config_open(db, &e);
	assert_non_null(cs);
	assert_int_equal(
	    config_put(cs, "dnsbl/bl2.test", "{\"action\":\"score\",\"score\":2.5}", &e), 0);
	/* what the store refuses */
	assert_int_equal(config_put(cs, "dnsbl/BL.test", "{}", &e), -1);
	assert_int_equal(config_put(cs, "dnsbl/bl.test", "{\"action\":\"drop\"}", &e), -1);
	struct filter_engine *fe = filter_engine_new(cs, dir, &e);
	assert_non_null(fe);
	filter_engine_set_dns(fe, l->loop->dns);
	const char *rcpts[] = {"u@example.test"};
	struct scan_input in = {.data = "",
				.client_ip = "127.0.0.2",
				.helo = "h.test",
				.mail_from = "a@b.test",
				.rcpts = rcpts,
				.nrcpt = 1};
	struct verdict v;
	struct scan_job job = {.fe = fe, .in = &in, .v = &v};
	verdict_init(&v, 1);
	assert_int_equal(stage_dnsbl(&job), 0);
	assert_int_equal(v.final, 0);
	assert_true(v.score == 2.5);
	verdict_free(&v);
	/* a new zone is seen by the next message */
	assert_int_equal(config_put(cs, "dnsbl/bl.test", "{\"action\": \"quarantine\"}", &e), 0);
	verdict_init(&v, 1);
	assert_int_equal(stage_dnsbl(&job), 0);
	assert_int_equal(v.action, ACTION_QUARANTINE);
	assert_string_equal(v.public_reason, "Host [127.0.0.2] blocked using bl.test");
	verdict_free(&v);
	/* not listed: nothing; offline scans: no lookups at all */
	in.client_ip = "127.0.0.9";
	verdict_init(&v, 1);
	assert_int_equal(stage_dnsbl(&job), 0);
	assert_int_equal(v.final, 0);
	assert_true(v.score == 0);
	verdict_free(&v);
	in.client_ip = "127.0.0.2";
	in.offline = 1;
	verdict_init(&v, 1);
	assert_int_equal(stage_dnsbl(&job), 0);
	assert_int_equal(v.final, 0);
	verdict_free(&v);
	/* deleted zones are gone */
	in.offline = 0;
	assert_int_equal(config_put(cs, "dnsbl/bl.test", NULL, &e), 0);
	assert_int_equal(config_put(cs, "dnsbl/bl2.test", NULL, &e), 0);
	verdict_init(&v, 1);
	assert_int_equal(stage_dnsbl(&job), 0);
	assert_int_equal(v.final, 0);
	assert_true(v.score == 0);
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
	    cmocka_unit_test(test_zone_parse),
	    cmocka_unit_test(test_key_check),
	    cmocka_unit_test(test_answer_listed),
	    cmocka_unit_test(test_message_ips),
	};
	const struct CMUnitTest live[] = {
	    cmocka_unit_test(test_live_listings),
	    cmocka_unit_test(test_live_not_listed),
	    cmocka_unit_test(test_timeout_skips),
	    cmocka_unit_test(test_stage),
	};
	int rc = cmocka_run_group_tests_name("dnsbl", offline, NULL, NULL);
	return rc + cmocka_run_group_tests_name("dnsbl_live", live, live_setup, live_teardown);
}
