/* Content filters: targets, compile errors, matching on subject, headers
 * and decoded body, severity, bounded backtracking, compiled once per
 * config version, and the stage's actions. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "filter/content.h"
#include "filter/policy_test_util.h"
#include "util/timeutil.h"

static const char msg[] =
	"From: Shop <shop@outside.test>\r\n"
	"To: <u@corp.test>\r\n"
	"Subject: =?utf-8?q?Cheap_V=C3=AFagra_today?=\r\n"
	"X-Mailer: BulkBlaster 9.1\r\n"
	"MIME-Version: 1.0\r\n"
	"Content-Type: text/html; charset=utf-8\r\n"
	"Content-Transfer-Encoding: base64\r\n\r\n"
	/* <p>Visit our <b>pharmacy</b> now</p> */
	"PHA+VmlzaXQgb3VyIDxiPnBoYXJtYWN5PC9iPiBub3c8L3A+\r\n";

static void test_targets(void **state)
{
	(void)state;
	enum filter_target t;
	char h[FILTER_HEADER_MAX + 1];
	struct err e;
	assert_int_equal(content_target_parse("subject", &t, h, sizeof h), 0);
	assert_int_equal(t, FT_SUBJECT);
	assert_int_equal(content_target_parse("header:X-Mailer", &t, h, sizeof h), 0);
	assert_int_equal(t, FT_HEADER);
	assert_string_equal(h, "X-Mailer");
	assert_int_equal(content_target_parse("header", &t, h, sizeof h), 0);
	assert_int_equal(t, FT_HEADER_ANY);
	assert_int_equal(content_target_parse("header:", &t, h, sizeof h), -1);
	assert_int_equal(content_target_parse("header:a:b", &t, h, sizeof h), -1);
	assert_int_equal(content_target_parse("rawbody", &t, h, sizeof h), -1);
	assert_int_equal(content_pattern_check("a(b", &e), -1);
	assert_non_null(strstr(e.msg, "offset 3"));
	assert_int_equal(content_pattern_check("v[i1!]agra", &e), 0);
}

static struct content_set *set_of(const char *const *kv)
{
	json_t *keys = json_object();
	for (; kv[0]; kv += 2)
		json_object_set_new(keys, kv[0], json_string(kv[1]));
	struct content_set *cs = content_build(keys);
	json_decref(keys);
	return cs;
}

static void test_eval(void **state)
{
	(void)state;
	static const char *const kv[] = {
	    "filter/a-subject",
	    "{\"target\":\"subject\",\"pattern\":\"v[iï]agra\",\"action\":\"tag\"}",
	    "filter/b-mailer",
	    "{\"target\":\"header:x-mailer\",\"pattern\":\"^bulkblaster\",\"action\":"
	    "\"quarantine\"}",
	    "filter/c-body",
	    "{\"target\":\"body\",\"pattern\":\"visit our "
	    "pharmacy\",\"action\":\"block\",\"comment\":\"pharma\"}",
	    "filter/d-any",
	    "{\"target\":\"header\",\"pattern\":\"^From: shop\",\"action\":\"allow\"}",
	    "filter/e-bad",
	    "{\"target\":\"subject\",\"pattern\":\"(\",\"action\":\"block\"}",
	    "filter/f-case",
	    "{\"target\":\"subject\",\"pattern\":\"(?-i)CHEAP\",\"action\":\"block\"}",
	    NULL,
	};
	struct content_set *cs = set_of(kv);
	assert_int_equal(content_count(cs), 5); /* the bad one is skipped */
	struct msg_view v;
	struct err e;
	assert_int_equal(msgview_parse(msg, strlen(msg), &v, &e), 0);
	struct content_hit hit;
	/* the body filter (block, on the HTML as text) is the most severe */
	assert_int_equal(content_eval(cs, &v, &hit) > 0, 1);
	assert_string_equal(hit.id, "c-body");
	assert_int_equal(hit.action, ACTION_BLOCK);
	assert_string_equal(hit.comment, "pharma");
	content_free(cs);

	static const char *const kv2[] = {
	    "filter/a-subject",
	    "{\"target\":\"subject\",\"pattern\":\"v[iï]agra\",\"action\":\"tag\"}",
	    "filter/b-mailer",
	    "{\"target\":\"header:X-MAILER\",\"pattern\":\"^bulkblaster\",\"action\":"
	    "\"quarantine\"}",
	    NULL,
	};
	cs = set_of(kv2);
	assert_int_equal(content_eval(cs, &v, &hit), 2);
	assert_string_equal(hit.id, "b-mailer");
	content_free(cs);

	static const char *const kv3[] = {
	    "filter/f-case",
	    "{\"target\":\"subject\",\"pattern\":\"(?-i)CHEAP\",\"action\":\"block\"}",
	    "filter/g-any",
	    "{\"target\":\"header\",\"pattern\":\"^from: shop\",\"action\":\"allow\"}",
	    NULL,
	};
	cs = set_of(kv3);
	assert_int_equal(content_eval(cs, &v, &hit), 1);
	assert_string_equal(hit.id, "g-any");
	assert_int_equal(hit.action, ACTION_ALLOW);
	content_free(cs);
	msgview_free(&v);
}

/* Catastrophic backtracking costs a bounded amount and is no match. */
static void test_backtracking(void **state)
{
	(void)state;
	static const char *const kv[] = {
	    "filter/evil",
	    "{\"target\":\"body\",\"pattern\":\"^(\\\\w+\\\\s?)*$\",\"action\":\"block\"}",
	    NULL,
	};
	struct content_set *cs = set_of(kv);
	assert_int_equal(content_count(cs), 1);
	struct buf m;
	buf_init(&m, 1 << 20);
	buf_puts(&m, "Subject: x\r\n\r\n");
	for (int i = 0; i < 40; i++) /* exponential in the words without a limit */
		buf_puts(&m, "word ");
	buf_puts(&m, "!\r\n");
	struct msg_view v;
	struct err e;
	assert_int_equal(msgview_parse(m.data, m.len, &v, &e), 0);
	struct content_hit hit;
	int64_t t0 = time_mono_us();
	assert_int_equal(content_eval(cs, &v, &hit), 0);
	int64_t us = time_mono_us() - t0;
	print_message("pathological pattern gave up after %lld ms\n", (long long)us / 1000);
	assert_true(us < 5 * 1000 * 1000);
	msgview_free(&v);
	buf_free(&m);
	content_free(cs);
}

static void test_stage(void **state)
{
	(void)state;
	struct pt_env *t = pt_env_new();
	const char *rc[] = {"u@corp.test"};
	struct pt_scan s;

	pt_filter_add(t, "tagit", "subject", "v[iï]agra", "tag");
	pt_scan_init(&s, t, msg, "203.0.113.1", "shop@outside.test", rc, 1);
	stage_content_run(&s.job);
	assert_false(s.v.final);
	assert_true(pt_has_rule(&s.v, "CONTENT_FILTER_TAG"));
	assert_true(s.v.score >= 3.5 - 1e-9 && s.v.score <= 3.5 + 1e-9); /* the tag threshold */
	pt_scan_free(&s);

	/* tagging by score switched off: the filter still tags */
	pt_set(t, "tag_score", "10");
	pt_scan_init(&s, t, msg, "203.0.113.1", "shop@outside.test", rc, 1);
	stage_content_run(&s.job);
	assert_true(s.v.final);
	assert_int_equal(s.v.action, ACTION_TAG);
	pt_scan_free(&s);

	pt_filter_add(t, "pharma", "body", "pharmacy", "quarantine");
	pt_scan_init(&s, t, msg, "203.0.113.1", "shop@outside.test", rc, 1);
	s.v.skip_scoring = 1; /* allow-listed mail still runs content filters */
	stage_content_run(&s.job);
	assert_int_equal(s.v.action, ACTION_QUARANTINE);
	assert_string_equal(s.v.layer, "content");
	assert_non_null(strstr(s.v.reason, "pharma"));
	pt_scan_free(&s);

	pt_filter_add(t, "zz-mailer", "header:X-Mailer", "bulkblaster", "block");
	pt_scan_init(&s, t, msg, "203.0.113.1", "shop@outside.test", rc, 1);
	stage_content_run(&s.job);
	assert_int_equal(s.v.action, ACTION_BLOCK);
	assert_string_equal(s.v.public_reason, "message content refused by policy");
	pt_scan_free(&s);

	/* compiled once per config version: the same set until a change */
	struct policy *p1 = policy_acquire(t->cs), *p2 = policy_acquire(t->cs);
	assert_ptr_equal(policy_content(p1), policy_content(p2));
	policy_release(p2);
	pt_filter_add(t, "more", "subject", "x", "allow");
	p2 = policy_acquire(t->cs);
	assert_ptr_not_equal(policy_content(p1), policy_content(p2));
	assert_int_equal(content_count(policy_content(p2)), 4);
	policy_release(p1);
	policy_release(p2);

	/* a message without these words is left alone */
	pt_scan_init(&s, t, "Subject: lunch\r\n\r\nsee you at noon\r\n", "203.0.113.1", "a@b.test",
		     rc, 1);
	stage_content_run(&s.job);
	assert_false(s.v.final);
	assert_int_equal(s.v.rules.len, 0);
	pt_scan_free(&s);
	pt_env_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_targets),
		cmocka_unit_test(test_eval),
		cmocka_unit_test(test_backtracking),
		cmocka_unit_test(test_stage),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
