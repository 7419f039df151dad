/* Policy lists: canonical entries and values, the store's validator, the
 * snapshot's matching, rebuilding on config changes, and the two list
 * stages on real verdicts (per-recipient actions included). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>

#include "filter/policy_test_util.h"

static void norm_ok(const char *list, const char *in, const char *want)
{
	char out[LISTS_ENTRY_MAX];
	struct err e;
	if (lists_entry_normalize(lists_find(list), in, out, sizeof out, &e) < 0)
		fail_msg("%s \"%s\": %s", list, in, e.msg);
	assert_string_equal(out, want);
}

static void norm_bad(const char *list, const char *in)
{
	char out[LISTS_ENTRY_MAX];
	struct err e = {""};
	if (lists_entry_normalize(lists_find(list), in, out, sizeof out, &e) == 0)
		fail_msg("%s \"%s\" accepted as \"%s\"", list, in, out);
	assert_true(e.msg[0] != '\0');
}

static void test_entries(void **state)
{
	(void)state;
	norm_ok("ip_block", "10.1.2.3/8", "10.0.0.0/8");
	norm_ok("ip_block", " 192.0.2.7 ", "192.0.2.7/32");
	norm_ok("ip_allow", "2001:DB8:0:0:1::/32", "2001:db8::/32");
	norm_ok("ip_allow", "2001:db8::1", "2001:db8::1/128");
	norm_ok("ip_allow", "::ffff:198.51.100.0/120", "198.51.100.0/24");
	norm_ok("ip_allow", "0.0.0.0/0", "0.0.0.0/0");
	norm_bad("ip_block", "10.0.0.0/33");
	norm_bad("ip_block", "example.com");
	norm_bad("ip_block", "");
	norm_ok("sender_block", "Spammer@Example.COM", "spammer@example.com");
	norm_ok("sender_block", "<bob@example.org>", "bob@example.org");
	norm_ok("sender_allow", "@Partner.Example", "partner.example");
	norm_ok("sender_allow", "*.partner.example", "partner.example");
	norm_bad("sender_allow", "not a domain");
	norm_bad("rcpt_block", "a b@example.com");
	norm_bad("rcpt_block", "localhost");
	norm_ok("attach_ext", ".EXE", "exe");
	norm_ok("attach_ext", "*.tar.gz", "tar.gz");
	norm_bad("attach_ext", "e x e");
	norm_bad("attach_ext", "exe.");
	norm_ok("attach_mime", "Application/X-MSDownload", "application/x-msdownload");
	norm_ok("attach_mime", "image/*", "image/*");
	norm_bad("attach_mime", "application");
	norm_bad("attach_mime", "*/*");
}

static void test_values(void **state)
{
	(void)state;
	char out[1024];
	struct err e;
	assert_int_equal(
	    lists_value_make(lists_find("ip_block"), "bad net", NULL, out, sizeof out, &e), 0);
	assert_string_equal(out, "{\"action\":\"block\",\"comment\":\"bad net\"}");
	assert_int_equal(
	    lists_value_make(lists_find("sender_block"), NULL, "tag", out, sizeof out, &e), 0);
	assert_string_equal(out, "{\"action\":\"tag\"}");
	assert_int_equal(lists_value_make(lists_find("ip_allow"), "", NULL, out, sizeof out, &e),
			 0);
	assert_string_equal(out, "{}");
	assert_int_equal(
	    lists_value_make(lists_find("ip_allow"), NULL, "block", out, sizeof out, &e), -1);
	assert_non_null(strstr(e.msg, "allow list"));
	assert_int_equal(
	    lists_value_make(lists_find("attach_ext"), NULL, "tag", out, sizeof out, &e), -1);
	assert_int_equal(
	    lists_value_make(lists_find("ip_block"), "a\nb", NULL, out, sizeof out, &e), -1);
	char big[LISTS_COMMENT_MAX + 2];
	memset(big, 'x', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	assert_int_equal(lists_value_make(lists_find("ip_block"), big, NULL, out, sizeof out, &e),
			 -1);
	assert_int_equal(
	    lists_value_make(lists_find("ip_block"), "\xff\xfe", NULL, out, sizeof out, &e), -1);
}

static void test_key_check(void **state)
{
	(void)state;
	char canon[2048];
	struct err e;
	assert_int_equal(lists_key_check("list/ip_block/10.0.0.0/8", "{}", canon, sizeof canon, &e),
			 0);
	assert_string_equal(canon, "{\"action\":\"block\"}");
	/* entries in keys must be canonical so one entry has one key */
	assert_int_equal(lists_key_check("list/ip_block/10.1.0.0/8", "{}", canon, sizeof canon, &e),
			 -1);
	assert_non_null(strstr(e.msg, "canonical"));
	assert_int_equal(
	    lists_key_check("list/sender_block/Bob@x.org", "{}", canon, sizeof canon, &e), -1);
	assert_int_equal(lists_key_check("list/nosuch/x", "{}", canon, sizeof canon, &e), -1);
	assert_int_equal(lists_key_check("list/ip_block/10.0.0.0/8", "[]", canon, sizeof canon, &e),
			 -1);
	assert_int_equal(lists_key_check("list/ip_block/10.0.0.0/8", "{\"action\":\"nuke\"}", canon,
					 sizeof canon, &e), -1);
	/* unknown members survive for later versions */
	assert_int_equal(lists_key_check("list/ip_allow/10.0.0.0/8", "{\"expires\":5}", canon,
					 sizeof canon, &e), 0);
	assert_string_equal(canon, "{\"expires\":5}");
	/* the per-domain form is accepted (not matched yet) */
	assert_int_equal(lists_key_check("list/sender_block@example.com/spam.test", "{}", canon,
					 sizeof canon, &e), 0);
	assert_int_equal(lists_key_check("list/sender_block@EXAMPLE.com/spam.test", "{}", canon,
					 sizeof canon, &e), -1);
	assert_int_equal(
	    lists_key_check("filter/f1",
			    "{\"target\":\"subject\",\"pattern\":\"viagra\",\"action\":\"block\"}",
			    canon, sizeof canon, &e),
	    0);
	assert_int_equal(
	    lists_key_check(
		"filter/f1",
		"{\"target\":\"subject\",\"pattern\":\"(unclosed\",\"action\":\"block\"}", canon,
		sizeof canon, &e),
	    -1);
	assert_non_null(strstr(e.msg, "offset"));
	assert_int_equal(lists_key_check("filter/F1", "{}", canon, sizeof canon, &e), -1);
	assert_int_equal(
	    lists_key_check("filter/f2",
			    "{\"target\":\"header:X Bad\",\"pattern\":\"a\",\"action\":\"tag\"}",
			    canon, sizeof canon, &e),
	    -1);
	assert_int_equal(
	    lists_key_check("filter/f3",
			    "{\"target\":\"header:X-Mailer\",\"pattern\":\"a\",\"action\":\"tag\"}",
			    canon, sizeof canon, &e),
	    0);
	assert_non_null(strstr(canon, "header:x-mailer"));
}

static struct policy *build(const char *const *kv)
{
	json_t *keys = json_object();
	for (; kv[0]; kv += 2)
		json_object_set_new(keys, kv[0], json_string(kv[1]));
	struct policy *p = policy_build(keys);
	json_decref(keys);
	return p;
}

static void test_match(void **state)
{
	(void)state;
	static const char *const kv[] = {
		"list/ip_block/10.0.0.0/8", "{\"action\":\"block\",\"comment\":\"internal\"}",
		"list/ip_allow/10.1.2.0/24", "{\"comment\":\"office\"}",
		"list/ip_allow/192.0.2.0/24", "{}",
		"list/ip_block/192.0.2.0/24", "{\"action\":\"quarantine\"}",
		"list/ip_block/2001:db8::/32", "{\"action\":\"block\"}",
		"list/sender_block/example.com", "{\"action\":\"block\"}",
		"list/sender_allow/boss@example.com", "{}",
		"list/sender_allow/partner.test", "{}",
		"list/rcpt_block/gone@corp.test", "{\"action\":\"block\"}",
		"list/attach_ext/exe", "{\"action\":\"block\"}",
		"list/attach_ext/tar.gz", "{\"action\":\"quarantine\"}",
		"list/attach_mime/application/x-msdownload", "{\"action\":\"block\"}",
		"list/attach_mime/video/*", "{\"action\":\"quarantine\"}",
		"list/sender_block@corp.test/other.test", "{\"action\":\"block\"}",
		"setting/global/tag_score", "3",
		NULL,
	};
	struct policy *p = build(kv);
	struct list_hit h;
	assert_int_equal(policy_count(p, L_IP_BLOCK), 3);
	assert_true(policy_match_ip(p, "10.9.9.9", &h));
	assert_int_equal(h.list, L_IP_BLOCK);
	assert_string_equal(h.comment, "internal");
	/* the longer prefix wins */
	assert_true(policy_match_ip(p, "10.1.2.3", &h));
	assert_int_equal(h.list, L_IP_ALLOW);
	assert_string_equal(h.entry, "10.1.2.0/24");
	/* same prefix on both lists: block */
	assert_true(policy_match_ip(p, "192.0.2.77", &h));
	assert_int_equal(h.action, ACTION_QUARANTINE);
	assert_true(policy_match_ip(p, "::ffff:10.0.0.1", &h));
	assert_int_equal(h.list, L_IP_BLOCK);
	assert_true(policy_match_ip(p, "2001:db8:1::5", &h));
	assert_false(policy_match_ip(p, "2001:db9::5", &h));
	assert_false(policy_match_ip(p, "11.0.0.1", &h));
	assert_false(policy_match_ip(p, "not an ip", &h));
	/* address before domain, and domains cover subdomains */
	assert_true(policy_match_sender(p, "Boss@Example.com", &h));
	assert_int_equal(h.list, L_SENDER_ALLOW);
	assert_true(policy_match_sender(p, "x@mail.example.com", &h));
	assert_int_equal(h.list, L_SENDER_BLOCK);
	assert_string_equal(h.entry, "example.com");
	assert_true(policy_match_sender(p, "a@b.partner.test", &h));
	assert_int_equal(h.list, L_SENDER_ALLOW);
	assert_false(policy_match_sender(p, "a@example.org", &h));
	assert_false(policy_match_sender(p, "", &h));
	/* domain-scoped keys are not matched yet */
	assert_false(policy_match_sender(p, "x@other.test", &h));
	assert_true(policy_match_rcpt(p, "GONE@corp.test", &h));
	assert_false(policy_match_rcpt(p, "here@corp.test", &h));
	/* extensions: last one, last two, Windows trailing dots/blanks */
	assert_true(policy_match_ext(p, "SETUP.EXE", &h));
	assert_true(policy_match_ext(p, "a.exe. . ", &h));
	assert_true(policy_match_ext(p, "backup.tar.gz", &h));
	assert_int_equal(h.action, ACTION_QUARANTINE);
	assert_false(policy_match_ext(p, "exe", &h));
	assert_false(policy_match_ext(p, "notes.txt", &h));
	assert_true(policy_match_mime(p, "Application/x-msdownload", &h));
	assert_true(policy_match_mime(p, "video/mp4", &h));
	assert_int_equal(h.action, ACTION_QUARANTINE);
	assert_false(policy_match_mime(p, "image/png", &h));
	policy_release(p);
}

/* The shared snapshot follows the store, and survives unrelated writes. */
static void test_shared_snapshot(void **state)
{
	(void)state;
	struct pt_env *t = pt_env_new();
	struct list_hit h;
	struct policy *p = policy_acquire(t->cs);
	assert_false(policy_match_ip(p, "203.0.113.9", &h));
	pt_list_add(t, "ip_block", "203.0.113.0/24", NULL, "test net");
	struct policy *p2 = policy_acquire(t->cs);
	assert_ptr_not_equal(p, p2);
	assert_true(policy_match_ip(p2, "203.0.113.9", &h));
	assert_false(policy_match_ip(p, "203.0.113.9", &h)); /* the old one stays valid */
	policy_release(p);
	pt_set(t, "tag_score", "4");
	struct policy *p3 = policy_acquire(t->cs);
	assert_ptr_equal(p2, p3); /* no list changed: not rebuilt */
	policy_release(p3);
	policy_release(p2);
	/* reopening the store loads the stored keys */
	config_close(t->cs);
	struct err e;
	t->cs = config_open(t->db, &e);
	assert_non_null(t->cs);
	filter_engine_free(t->fe);
	filter_thread_free(t->ft);
	t->fe = filter_engine_new(t->cs, t->dir, &e);
	t->ft = filter_thread_new(t->fe, &e);
	policy_shared_reset();
	p = policy_acquire(t->cs);
	assert_true(policy_match_ip(p, "203.0.113.1", &h));
	assert_string_equal(h.comment, "test net");
	policy_release(p);
	/* the store itself refuses a bad key */
	assert_int_equal(config_put(t->cs, "list/ip_block/203.0.113.5/24", "{}", &e), -1);
	pt_env_free(t);
}

static const char msg[] = "From: Someone <someone@example.org>\r\n"
			  "To: a@corp.test\r\nSubject: hello\r\n\r\nbody\r\n";

static void test_stage_ip_sender(void **state)
{
	(void)state;
	struct pt_env *t = pt_env_new();
	const char *rc[] = {"a@corp.test"};
	struct pt_scan s;
	pt_list_add(t, "ip_block", "198.51.100.0/24", NULL, "bad net");
	pt_list_add(t, "ip_allow", "192.0.2.1", NULL, NULL);
	pt_list_add(t, "sender_block", "spam.test", "quarantine", NULL);
	pt_list_add(t, "sender_block", "someone@example.org", NULL, NULL);
	pt_list_add(t, "sender_allow", "friend.test", NULL, NULL);

	pt_scan_init(&s, t, NULL, "198.51.100.7", "x@other.test", rc, 1);
	stage_lists_run(&s.job);
	assert_int_equal(s.v.action, ACTION_BLOCK);
	assert_true(s.v.final);
	assert_string_equal(s.v.layer, "lists");
	assert_string_equal(s.v.public_reason, "client address blocked by policy");
	assert_true(pt_has_rule(&s.v, "IP_BLOCK"));
	assert_non_null(strstr(s.v.reason, "bad net"));
	pt_scan_free(&s);

	/* allow: scoring skipped, nothing decided */
	pt_scan_init(&s, t, NULL, "192.0.2.1", "x@other.test", rc, 1);
	stage_lists_run(&s.job);
	assert_true(s.v.skip_scoring);
	assert_false(s.v.final);
	assert_int_equal(s.v.action, ACTION_ALLOW);
	pt_scan_free(&s);

	/* an allowed client with a blocked sender is blocked */
	pt_scan_init(&s, t, NULL, "192.0.2.1", "bulk@news.spam.test", rc, 1);
	stage_lists_run(&s.job);
	assert_int_equal(s.v.action, ACTION_QUARANTINE);
	assert_true(s.v.final);
	pt_scan_free(&s);

	/* the From header counts for block lists only */
	pt_scan_init(&s, t, msg, "203.0.113.1", "bounce@mailer.test", rc, 1);
	stage_lists_run(&s.job);
	assert_int_equal(s.v.action, ACTION_BLOCK);
	assert_non_null(strstr(s.v.reason, "From header"));
	pt_scan_free(&s);
	pt_scan_init(&s, t, "From: <a@friend.test>\r\n\r\nx\r\n", "203.0.113.1", "b@mailer.test",
		     rc, 1);
	stage_lists_run(&s.job);
	assert_false(s.v.skip_scoring);
	pt_scan_free(&s);
	pt_scan_init(&s, t, NULL, "203.0.113.1", "a@friend.test", rc, 1);
	stage_lists_run(&s.job);
	assert_true(s.v.skip_scoring);
	assert_true(pt_has_rule(&s.v, "SENDER_ALLOW"));
	pt_scan_free(&s);

	/* nothing listed: nothing happens */
	pt_scan_init(&s, t, NULL, "203.0.113.1", "a@neutral.test", rc, 1);
	stage_lists_run(&s.job);
	assert_false(s.v.final);
	assert_false(s.v.skip_scoring);
	assert_int_equal(s.v.rules.len, 0);
	pt_scan_free(&s);
	pt_env_free(t);
}

/* Stand-in for the thresholds of stage_decide (pipeline.c): every
 * recipient gets the score's action, as it does there. */
static void decide_all(struct verdict *v, enum action a)
{
	for (int i = 0; i < v->nrcpt; i++)
		v->rcpt[i].action = a;
	v->action = a;
	snprintf(v->layer, sizeof v->layer, "scoring");
}

static void test_stage_rcpt(void **state)
{
	(void)state;
	struct pt_env *t = pt_env_new();
	const char *rc[] = {"gone@corp.test", "abuse@corp.test", "user@corp.test"};
	struct pt_scan s;
	pt_list_add(t, "rcpt_block", "gone@corp.test", NULL, "left the company");
	pt_list_add(t, "rcpt_allow", "abuse@corp.test", NULL, NULL);

	/* one blocked recipient does not refuse the message for the others */
	pt_scan_init(&s, t, NULL, "203.0.113.1", "a@b.test", rc, 3);
	stage_lists_run(&s.job);
	assert_false(s.v.final);
	assert_false(s.v.skip_scoring);
	decide_all(&s.v, ACTION_TAG);
	stage_lists_rcpt_run(&s.job);
	assert_int_equal(s.v.rcpt[0].action, ACTION_BLOCK);
	assert_int_equal(s.v.rcpt[1].action, ACTION_ALLOW); /* allow-listed: not tagged */
	assert_int_equal(s.v.rcpt[2].action, ACTION_TAG);
	assert_int_equal(s.v.action, ACTION_BLOCK);
	assert_non_null(strstr(s.v.rcpt[0].reason, "rcpt_block"));
	pt_scan_free(&s);

	/* a final verdict of a non-skippable layer stays for allowed recipients */
	pt_scan_init(&s, t, NULL, "203.0.113.1", "a@b.test", rc, 3);
	verdict_decide(&s.v, ACTION_QUARANTINE, "attachment", "x", "y");
	stage_lists_rcpt_run(&s.job);
	assert_int_equal(s.v.rcpt[0].action, ACTION_BLOCK);
	assert_int_equal(s.v.rcpt[1].action, ACTION_QUARANTINE);
	assert_int_equal(s.v.rcpt[2].action, ACTION_QUARANTINE);
	pt_scan_free(&s);

	/* every recipient blocked: refused at once */
	const char *only[] = {"gone@corp.test"};
	pt_scan_init(&s, t, NULL, "203.0.113.1", "a@b.test", only, 1);
	stage_lists_run(&s.job);
	assert_true(s.v.final);
	assert_int_equal(s.v.action, ACTION_BLOCK);
	assert_string_equal(s.v.public_reason, "recipient blocked by policy");
	pt_scan_free(&s);

	/* every recipient allowed: scoring skipped */
	const char *allowed[] = {"abuse@corp.test"};
	pt_scan_init(&s, t, NULL, "203.0.113.1", "a@b.test", allowed, 1);
	stage_lists_run(&s.job);
	assert_true(s.v.skip_scoring);
	decide_all(&s.v, ACTION_ALLOW);
	stage_lists_rcpt_run(&s.job);
	assert_int_equal(s.v.action, ACTION_ALLOW);
	pt_scan_free(&s);

	/* scoring blocked everyone: the allowed recipient still gets it */
	pt_scan_init(&s, t, NULL, "203.0.113.1", "a@b.test", rc, 3);
	decide_all(&s.v, ACTION_BLOCK);
	stage_lists_rcpt_run(&s.job);
	assert_int_equal(s.v.rcpt[1].action, ACTION_ALLOW);
	assert_int_equal(s.v.rcpt[2].action, ACTION_BLOCK);
	assert_string_equal(s.v.layer, "scoring");
	pt_scan_free(&s);
	pt_env_free(t);
}

struct reader {
	struct config_store *cs;
	atomic_int *stop;
	long lookups, hits;
};

static void *reader_run(void *arg)
{
	struct reader *r = arg;
	struct list_hit h;
	while (!atomic_load(r->stop)) {
		struct policy *p = policy_acquire(r->cs);
		r->hits += policy_match_ip(p, "198.18.7.7", &h);
		r->hits += policy_match_sender(p, "x@spam7.test", &h);
		r->lookups += 2;
		policy_release(p);
	}
	return NULL;
}

/* Scan threads share snapshots while the administrator writes: every
 * reader sees a whole snapshot and the last one has every write. */
static void test_concurrent(void **state)
{
	(void)state;
	struct pt_env *t = pt_env_new();
	atomic_int stop = 0;
	struct reader r[6];
	pthread_t th[6];
	for (int i = 0; i < 6; i++) {
		r[i] = (struct reader){t->cs, &stop, 0, 0};
		pthread_create(&th[i], NULL, reader_run, &r[i]);
	}
	char entry[64];
	for (int i = 0; i < 200; i++) {
		snprintf(entry, sizeof entry, "198.18.%d.0/24", i);
		pt_list_add(t, "ip_block", entry, NULL, NULL);
		snprintf(entry, sizeof entry, "spam%d.test", i);
		pt_list_add(t, "sender_block", entry, NULL, NULL);
		pt_set(t, "tag_score", i % 2 ? "4" : "3.5"); /* unrelated writes */
	}
	atomic_store(&stop, 1);
	long lookups = 0;
	for (int i = 0; i < 6; i++) {
		pthread_join(th[i], NULL);
		lookups += r[i].lookups;
	}
	struct policy *p = policy_acquire(t->cs);
	assert_int_equal(policy_count(p, L_IP_BLOCK), 200);
	assert_int_equal(policy_count(p, L_SENDER_BLOCK), 200);
	policy_release(p);
	print_message("%ld lookups during 600 writes\n", lookups);
	assert_true(lookups > 0);
	pt_env_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_entries),
		cmocka_unit_test(test_values),
		cmocka_unit_test(test_key_check),
		cmocka_unit_test(test_match),
		cmocka_unit_test(test_shared_snapshot),
		cmocka_unit_test(test_stage_ip_sender),
		cmocka_unit_test(test_stage_rcpt),
		cmocka_unit_test(test_concurrent),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
