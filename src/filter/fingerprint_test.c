/* Fingerprints: near-duplicates are near, unrelated texts far, short
 * texts refused; the table (add, duplicate, list, remove) and the stage
 * scoring FINGERPRINT_MATCH through the shared copy. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "filter/policy_test_util.h"
#include "util/timeutil.h"

static const char spam_text[] =
	"Dear friend, I am Mr. Ibrahim Musa, the manager of the audit department of a bank in "
	"Lagos. I have a business proposal that will benefit both of us. A foreign customer of "
	"our bank died in a plane crash and left a deposit of fifteen million dollars that nobody "
	"has claimed since. I want you to stand as the next of kin so the money can be released "
	"to you, and we share it sixty to forty. Reply at once with your full name, your private "
	"telephone number and your bank details so that I can send you the forms. Keep this "
	"strictly confidential. Yours faithfully, Ibrahim Musa.";

static const char other_text[] =
	"Hi team, the release branch is cut. Please run the integration tests against the new "
	"build tonight and report anything odd in the usual channel. The database migration "
	"needs a second pair of eyes before Thursday, and the documentation for the new command "
	"line flags still has to be written. Lunch on Friday is on me. Thanks, Anna.";

static void fp_of(const char *text, struct fingerprint *fp)
{
	if (fingerprint_text(text, strlen(text), fp) < 0)
		fail_msg("too little text: %u features", fp->features);
}

static void test_distance(void **state)
{
	(void)state;
	struct fingerprint a, b, c, d;
	fp_of(spam_text, &a);
	fp_of(spam_text, &b);
	assert_int_equal(fingerprint_distance(&a, &b), 0);
	/* personalised: other name, other amount, other numbers, a greeting */
	char variant[sizeof spam_text + 64];
	snprintf(variant, sizeof variant, "Hello John Smith, %s", spam_text);
	memcpy(strstr(variant, "fifteen"), "sixteen", 7);
	memcpy(strstr(variant, "sixty to forty"), "fifty to fifty", 14);
	fp_of(variant, &c);
	int near = fingerprint_distance(&a, &c);
	fp_of(other_text, &d);
	int far = fingerprint_distance(&a, &d);
	print_message("variant %d, unrelated %d of %d slots differ\n", near, far,
		      FINGERPRINT_SLOTS);
	assert_true(near <= 48);
	assert_true(far > 100);
	/* numbers and case do not matter */
	char upper[sizeof spam_text];
	for (size_t i = 0; i < sizeof spam_text; i++)
		upper[i] = (char)(spam_text[i] >= 'a' && spam_text[i] <= 'z' ? spam_text[i] - 32
									      : spam_text[i]);
	fp_of(upper, &c);
	assert_int_equal(fingerprint_distance(&a, &c), 0);
	/* too little text */
	assert_int_equal(fingerprint_text("buy now cheap", 13, &c), -1);
	assert_int_equal(fingerprint_text("", 0, &c), -1);
	char hex[FINGERPRINT_HEX_LEN + 1];
	fingerprint_hex(&a, hex);
	assert_int_equal(fingerprint_parse_hex(hex, &c), 0);
	assert_memory_equal(a.slot, c.slot, sizeof a.slot);
	hex[5] = 'g';
	assert_int_equal(fingerprint_parse_hex(hex, &c), -1);
	assert_int_equal(fingerprint_parse_hex("00", &c), -1);
}

static char *message(const char *subject, const char *body)
{
	size_t n = strlen(body) + strlen(subject) + 128;
	char *m = malloc(n);
	snprintf(m, n, "From: <x@outside.test>\r\nSubject: %s\r\n\r\n%s\r\n", subject, body);
	return m;
}

static void test_table_and_stage(void **state)
{
	(void)state;
	struct pt_env *t = pt_env_new();
	sqlite3 *db = filter_thread_db(t->ft);
	struct err e;
	const char *rc[] = {"u@corp.test"};
	struct pt_scan s;
	char *spam = message("business proposal", spam_text);

	/* nothing stored: no table yet, no match */
	pt_scan_init(&s, t, spam, "203.0.113.1", "x@outside.test", rc, 1);
	stage_fingerprint_run(&s.job);
	assert_false(pt_has_rule(&s.v, FINGERPRINT_RULE));
	int64_t id = fingerprint_add(db, &s.view);
	assert_true(id > 0);
	assert_int_equal(fingerprint_add_note(db, &s.view, "again", &e), id);
	pt_scan_free(&s);

	/* a near copy now scores */
	char body[sizeof spam_text + 64];
	snprintf(body, sizeof body, "Dear Sir or Madam, %s", spam_text);
	char *near = message("URGENT business proposal", body);
	pt_scan_init(&s, t, near, "203.0.113.1", "y@outside.test", rc, 1);
	stage_fingerprint_run(&s.job);
	assert_true(pt_has_rule(&s.v, FINGERPRINT_RULE));
	assert_true(s.v.score >= 6 - 1e-9 && s.v.score <= 6 + 1e-9);
	pt_scan_free(&s);

	/* an unrelated message does not */
	char *ham = message("release", other_text);
	pt_scan_init(&s, t, ham, "203.0.113.1", "anna@corp.test", rc, 1);
	stage_fingerprint_run(&s.job);
	assert_false(pt_has_rule(&s.v, FINGERPRINT_RULE));
	int64_t ham_id = fingerprint_add(db, &s.view);
	pt_scan_free(&s);

	json_t *list = fingerprint_list(db, 10, 0, &e);
	assert_non_null(list);
	assert_int_equal(json_integer_value(json_object_get(list, "total")), 2);
	json_t *first = json_array_get(json_object_get(list, "rows"), 1);
	assert_int_equal(json_integer_value(json_object_get(first, "id")), id);
	assert_string_equal(json_string_value(json_object_get(first, "subject")),
			    "business proposal");
	assert_int_equal(strlen(json_string_value(json_object_get(first, "hash"))),
			 FINGERPRINT_HEX_LEN);
	json_decref(list);

	/* the threshold is a setting; removal is seen at the next scan */
	pt_set(t, "fingerprint_max_distance", "0");
	pt_scan_init(&s, t, near, "203.0.113.1", "y@outside.test", rc, 1);
	stage_fingerprint_run(&s.job);
	assert_false(pt_has_rule(&s.v, FINGERPRINT_RULE));
	pt_scan_free(&s);
	pt_set(t, "fingerprint_max_distance", "48");
	assert_int_equal(fingerprint_remove(db, id, &e), 0);
	assert_int_equal(fingerprint_remove(db, id, &e), -1);
	assert_non_null(strstr(e.msg, "no fingerprint"));
	pt_scan_init(&s, t, near, "203.0.113.1", "y@outside.test", rc, 1);
	stage_fingerprint_run(&s.job);
	assert_false(pt_has_rule(&s.v, FINGERPRINT_RULE));
	pt_scan_free(&s);

	/* rows written by another connection (another process) are found
	 * within the recheck interval */
	sqlite3 *other = db_open(t->db, &e);
	assert_non_null(other);
	pt_scan_init(&s, t, spam, "203.0.113.1", "x@outside.test", rc, 1);
	struct fingerprint fp;
	assert_int_equal(fingerprint_compute(&s.view, &fp), 0);
	char hex[FINGERPRINT_HEX_LEN + 1], sql[600];
	fingerprint_hex(&fp, hex);
	snprintf(sql, sizeof sql,
		 "INSERT INTO fingerprint(hash, features, created_ms) VALUES('%s', 10, 1)", hex);
	assert_int_equal(db_exec(other, sql, &e), 0);
	db_close(other);
	int64_t until = time_now_ms() + 5000;
	int hit = 0;
	while (!hit && time_now_ms() < until) {
		int64_t mid;
		int d;
		hit = fingerprint_match(db, &fp, 48, &mid, &d);
		if (!hit)
			usleep(100 * 1000);
	}
	assert_true(hit);
	pt_scan_free(&s);
	(void)ham_id;
	free(spam);
	free(near);
	free(ham);
	pt_env_free(t);
}

/* Matching cost against many stored fingerprints (measured, bounded). */
static void test_match_cost(void **state)
{
	(void)state;
	struct pt_env *t = pt_env_new();
	sqlite3 *db = filter_thread_db(t->ft);
	struct err e;
	assert_int_equal(fingerprint_init(db, &e), 0);
	assert_int_equal(db_begin(db, &e), 0);
	sqlite3_stmt *st = db_prepare(db, "INSERT INTO fingerprint(hash, features, created_ms)"
					  " VALUES(?1, 20, 1)", &e);
	uint32_t r = 7;
	char hex[FINGERPRINT_HEX_LEN + 1];
	for (int i = 0; i < 20000; i++) {
		struct fingerprint fp;
		for (int k = 0; k < FINGERPRINT_SLOTS; k++) {
			r = r * 1103515245u + 12345u;
			fp.slot[k] = (uint8_t)(r >> 16);
		}
		fingerprint_hex(&fp, hex);
		sqlite3_bind_text(st, 1, hex, -1, SQLITE_TRANSIENT);
		assert_int_equal(sqlite3_step(st), SQLITE_DONE);
		sqlite3_reset(st);
	}
	sqlite3_finalize(st);
	assert_int_equal(db_commit(db, &e), 0);
	struct fingerprint q;
	fp_of(spam_text, &q);
	int64_t id;
	int d;
	fingerprint_match(db, &q, 48, &id, &d); /* loads the shared copy */
	int64_t t0 = time_mono_us();
	for (int i = 0; i < 20; i++)
		assert_false(fingerprint_match(db, &q, 48, &id, &d));
	int64_t us = (time_mono_us() - t0) / 20;
	print_message("match against 20000 stored fingerprints: %lld us\n", (long long)us);
	assert_true(us < 200 * 1000);
	pt_env_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_distance),
		cmocka_unit_test(test_table_and_stage),
		cmocka_unit_test(test_match_cost),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
