/* URI blocklists: which names a URL is looked up by (registrable-domain
 * candidates, reversed IPs, punycode for international names), and a
 * whole message - plain, obfuscated, HTML, quoted-printable, encoded and
 * numeric URLs - checked against zones served by a real dnsmasq. */

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

static void expect_names(const char *uri, const char *const *want, int nwant)
{
	char names[8][DNS_NAME_MAX + 1];
	int n = uribl_query_names(uri, names, 8);
	if (n != nwant)
		fail_msg("%s: %d names, want %d", uri, n, nwant);
	for (int i = 0; i < n; i++)
		assert_string_equal(names[i], want[i]);
}

static void test_query_names(void **state)
{
	(void)state;
	expect_names("http://www.evil.example.com/path?q=1",
		     (const char *[]){"example.com", "evil.example.com"}, 2);
	expect_names("https://shop.example.co.uk:8443/x",
		     (const char *[]){"co.uk", "example.co.uk"}, 2);
	expect_names("http://example.com/", (const char *[]){"example.com"}, 1);
	expect_names("http://Example.COM./", (const char *[]){"example.com"}, 1);
	expect_names("http://192.0.2.9/x", (const char *[]){"9.2.0.192"}, 1);
	expect_names("mailto:sales@Mailer.Example.org",
		     (const char *[]){"example.org", "mailer.example.org"}, 2);
	expect_names("https://bücher.example/", (const char *[]){"xn--bcher-kva.example"}, 1);
	expect_names("http://[2001:db8::1]/", NULL, 0);
	expect_names("http://localhost/", NULL, 0);
	expect_names("http://bad_host!.test/", NULL, 0);
	expect_names("mailto:nobody", NULL, 0);
	expect_names("not a url", NULL, 0);
	char huge[600];
	memset(huge, 'a', sizeof huge);
	memcpy(huge, "http://", 7);
	huge[sizeof huge - 1] = '\0';
	expect_names(huge, NULL, 0);
}

static const char message[] =
    "From: a@b.test\r\nSubject: offer\r\nMIME-Version: 1.0\r\n"
    "Content-Type: multipart/alternative; boundary=B\r\n\r\n"
    "--B\r\nContent-Type: text/plain\r\n\r\n"
    "Visit hxxp://www.spammer.test/offer now or www.other.test,\r\n"
    "or h**ps://cheap.example.co.uk/x, mail me: mailto:sales@mailer.test\r\n"
    "or http://3221226249/ (that is 192.0.3.9)\r\n"
    "--B\r\nContent-Type: text/html\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
    "<a href=3D\"http://%65ncoded.test/p\">click</a>\r\n"
    "<a href=3D\"https://xn--bcher-kva.test/\">b</a> <a "
    "href=3D\"http://b=C3=BCcher2.test/\">c</a>\r\n"
    "--B--\r\n";

struct live {
	pid_t dnsmasq;
	struct tu_loop *loop;
};

static int live_setup(void **state)
{
	static const char *const opts[] = {
	    "--address=/spammer.test.multi.uribl.test/127.0.0.2",
	    "--address=/example.co.uk.multi.uribl.test/127.0.0.4",
	    "--address=/9.3.0.192.multi.uribl.test/127.0.0.2",
	    "--address=/xn--bcher-kva.test.multi.uribl.test/127.0.0.2",
	    "--address=/mailer.test.multi.uribl.test/127.0.0.2",
	    "--address=/encoded.test.multi.uribl.test/127.0.0.8",
	    "--address=/xn--bcher2-3ya.test.dbl.test/127.0.1.2",
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

/* What stage_uribl does, with the zones given here instead of the
 * config store's. */
static int check_message(struct live *l, const struct bl_list *zones, struct verdict *v,
			 char (*items)[DNS_NAME_MAX + 1], int *nitems)
{
	struct msg_view view;
	struct err e;
	assert_int_equal(msgview_parse(message, sizeof message - 1, &view, &e), 0);
	char names[64][DNS_NAME_MAX + 1];
	const char *qn[64], *it[64];
	int n = uribl_collect(&view, 20, names, items, 64);
	for (int i = 0; i < n; i++) {
		qn[i] = names[i];
		it[i] = items[i];
	}
	struct bl_hit hits[64];
	int failed;
	int nhits = bl_check(l->loop->dns, zones, qn, it, n, 2000, hits, 64, &failed);
	assert_int_equal(failed, 0);
	bl_apply(v, "uribl", "URL host", hits, nhits);
	msgview_free(&view);
	*nitems = n;
	return nhits;
}

static void test_message_scored(void **state)
{
	struct live *l = *state;
	struct bl_list zones = {.n = 1};
	struct err e;
	assert_int_equal(bl_zone_parse("uribl", "multi.uribl.test",
				       "{\"action\":\"score\",\"score\":4,\"codes\":[\"127.0.0.2\","
				       "\"127.0.0.4\"]}",
				       &zones.zone[0], &e),
			 0);
	struct verdict v;
	char items[64][DNS_NAME_MAX + 1];
	int nitems;
	verdict_init(&v, 1);
	/* spammer.test and www.spammer.test (obfuscated hxxp; dnsmasq's
	 * --address covers subdomains), example.co.uk (h**ps), 192.0.3.9
	 * (numeric host), xn--bcher-kva.test, mailer.test (mailto); not
	 * encoded.test (127.0.0.8 is not one of the zone's codes) */
	assert_int_equal(check_message(l, &zones, &v, items, &nitems), 6);
	assert_true(nitems >= 10);
	int seen_encoded = 0;
	for (int i = 0; i < nitems; i++)
		seen_encoded |= strcmp(items[i], "encoded.test") == 0;
	assert_true(seen_encoded);   /* the percent-encoded host was decoded and looked up */
	assert_true(v.score == 4.0); /* one rule hit per zone */
	assert_string_equal(v.rules.data, "URIBL_MULTI_URIBL_TEST");
	assert_int_equal(v.final, 0);
	verdict_free(&v);
}

static void test_message_blocked(void **state)
{
	struct live *l = *state;
	struct bl_list zones = {.n = 2};
	struct err e;
	assert_int_equal(
	    bl_zone_parse("uribl", "multi.uribl.test", "{\"action\":\"tag\"}", &zones.zone[0], &e),
	    0);
	assert_int_equal(
	    bl_zone_parse("uribl", "dbl.test", "{\"action\":\"block\"}", &zones.zone[1], &e), 0);
	struct verdict v;
	char items[64][DNS_NAME_MAX + 1];
	int nitems;
	verdict_init(&v, 1);
	assert_true(check_message(l, &zones, &v, items, &nitems) >= 2);
	assert_int_equal(v.final, 1);
	assert_int_equal(v.action, ACTION_BLOCK);
	assert_string_equal(v.layer, "uribl");
	assert_string_equal(v.public_reason, "URL host xn--bcher2-3ya.test blocked using dbl.test");
	assert_non_null(strstr(v.rules.data, "URIBL_DBL_TEST"));
	verdict_free(&v);
}

/* The stage: zones from a real config store, the parsed message. */
static void test_stage(void **state)
{
	struct live *l = *state;
	char dir[64], db[128];
	struct err e;
	snprintf(dir, sizeof dir, "/tmp/rampart-uribl-XXXXXX");
	assert_non_null(mkdtemp(dir));
	snprintf(db, sizeof db, "%s/rampart.db", dir);
	dnsbl_register_config();
	struct config_store *cs = config_open(db, &e);
	assert_non_null(cs);
	struct filter_engine *fe = filter_engine_new(cs, dir, &e);
	filter_engine_set_dns(fe, l->loop->dns);
	struct msg_view view;
	assert_int_equal(msgview_parse(message, sizeof message - 1, &view, &e), 0);
	const char *rcpts[] = {"u@example.test"};
	struct scan_input in = {.data = message,
				.len = sizeof message - 1,
				.client_ip = "192.0.2.1",
				.rcpts = rcpts,
				.nrcpt = 1};
	struct verdict v;
	struct scan_job job = {.fe = fe, .in = &in, .view = &view, .v = &v};
	verdict_init(&v, 1);
	stage_uribl(&job); /* no zones: nothing */
	assert_true(v.score == 0 && !v.final);
	verdict_free(&v);
	assert_int_equal(
	    config_put(cs, "uribl/multi.uribl.test", "{\"action\":\"score\",\"score\":4.5}", &e),
	    0);
	verdict_init(&v, 1);
	stage_uribl(&job);
	assert_true(v.score == 4.5);
	assert_int_equal(v.final, 0);
	verdict_free(&v);
	assert_int_equal(config_put(cs, "uribl/dbl.test", "{\"action\":\"quarantine\"}", &e), 0);
	verdict_init(&v, 1);
	stage_uribl(&job);
	assert_int_equal(v.action, ACTION_QUARANTINE);
	assert_string_equal(v.layer, "uribl");
	verdict_free(&v);
	/* uribl_max_hosts 0: nothing is looked up */
	assert_int_equal(config_set(cs, "uribl_max_hosts", NULL, "0", &e), 0);
	verdict_init(&v, 1);
	stage_uribl(&job);
	assert_true(v.score == 0 && !v.final);
	verdict_free(&v);
	msgview_free(&view);
	filter_engine_free(fe);
	config_close(cs);
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
}

int main(void)
{
	const struct CMUnitTest offline[] = {
	    cmocka_unit_test(test_query_names),
	};
	const struct CMUnitTest live[] = {
	    cmocka_unit_test(test_message_scored),
	    cmocka_unit_test(test_message_blocked),
	    cmocka_unit_test(test_stage),
	};
	int rc = cmocka_run_group_tests_name("uribl", offline, NULL, NULL);
	return rc + cmocka_run_group_tests_name("uribl_live", live, live_setup, live_teardown);
}
