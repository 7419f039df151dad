/* User accounts in the config store: records, validation of the
 * namespaces, passwords, white/black list matching, deletion. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "store/config.h"
#include "store/users.h"

struct fixture {
	char dir[64];
	char path[128];
	struct config_store *cs;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof *f);
	struct err e;
	snprintf(f->dir, sizeof f->dir, "/tmp/rampart-users-XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	snprintf(f->path, sizeof f->path, "%s/node.db", f->dir);
	users_register_config();
	f->cs = config_open(f->path, &e);
	if (!f->cs)
		fail_msg("config_open: %s", e.msg);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char p[160];
	config_close(f->cs);
	static const char *const sfx[] = {"", "-wal", "-shm"};
	for (size_t i = 0; i < 3; i++) {
		snprintf(p, sizeof p, "%s%s", f->path, sfx[i]);
		unlink(p);
	}
	rmdir(f->dir);
	free(f);
	return 0;
}

static void add_user(struct config_store *cs, const char *addr, unsigned features)
{
	struct user_rec u;
	struct err e;
	users_rec_init(&u, addr, "admin");
	u.features = features;
	if (users_put(cs, &u, &e) < 0)
		fail_msg("users_put %s: %s", addr, e.msg);
}

static void test_records(void **state)
{
	struct fixture *f = *state;
	struct user_rec u;
	struct err e;
	assert_int_equal(users_get(f->cs, "a@example.com", &u), -1);
	add_user(f->cs, "A@Example.COM", USER_FEAT_ALL & ~USER_FEAT_SCANNING);
	assert_int_equal(users_get(f->cs, "a@EXAMPLE.com", &u), 0);
	assert_string_equal(u.address, "a@example.com");
	assert_string_equal(u.source, "admin");
	assert_int_equal(u.features, USER_FEAT_QUARANTINE | USER_FEAT_SETTINGS);
	assert_int_equal(users_scanning_enabled(f->cs, "a@example.com"), 0);
	assert_int_equal(users_scanning_enabled(f->cs, "nobody@example.com"), 1);
	assert_int_equal(users_count(f->cs), 1);
	json_t *all = users_all(f->cs);
	assert_int_equal(json_array_size(all), 1);
	assert_false(json_is_true(json_object_get(json_array_get(all, 0), "has_password")));
	json_decref(all);
	/* bad records never reach the store */
	users_rec_init(&u, "not-an-address", "admin");
	assert_int_equal(users_put(f->cs, &u, &e), -1);
	users_rec_init(&u, "x/y@example.com", "admin");
	assert_int_equal(users_put(f->cs, &u, &e), -1);
	users_rec_init(&u, "b@example.com", "admin");
	snprintf(u.password_hash, sizeof u.password_hash, "$argon2id$v=19$m=65536");
	assert_int_equal(users_put(f->cs, &u, &e), -1);
	/* raw keys are validated too (replication, imports) */
	assert_int_equal(users_kv_put(f->cs, "user/UP@example.com", "{\"source\":\"admin\"}", &e), -1);
	assert_int_equal(users_kv_put(f->cs, "user/c@example.com", "{\"source\":\"martian\"}", &e), -1);
	assert_int_equal(users_kv_put(f->cs, "user/c@example.com", "[]", &e), -1);
	assert_int_equal(users_kv_put(f->cs, "user/c@example.com",
				      "{\"source\":\"auto\",\"features\":{\"scanning\":1}}", &e), -1);
	assert_int_equal(users_kv_put(f->cs, "token/xyz", "{}", &e), -1);
	assert_int_equal(users_kv_put(f->cs, "web/other", "{}", &e), -1);
	assert_int_equal(users_kv_put(f->cs, "ulist/c@example.com/greylist/x.com", "{}", &e), -1);
	assert_int_equal(users_kv_put(f->cs, "user/c@example.com", "{\"source\":\"auto\"}", &e), 0);
	assert_int_equal(users_get(f->cs, "c@example.com", &u), 0);
	assert_int_equal(u.features, USER_FEAT_ALL);
}

static void test_passwords(void **state)
{
	(void)state;
	struct err e;
	char h[USERS_HASH_MAX];
	assert_int_equal(users_password_check("short", &e), -1);
	assert_int_equal(users_password_check("with\ttab-char", &e), -1);
	assert_int_equal(users_password_check("\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9", &e), -1);
	assert_int_equal(users_password_check("long enough", &e), 0);
	assert_int_equal(users_password_hash("long enough", h, &e), 0);
	assert_memory_equal(h, "$argon2id$", 10);
	assert_int_equal(users_password_verify(h, "long enough"), 1);
	assert_int_equal(users_password_verify(h, "long enougH"), 0);
	assert_int_equal(users_password_verify("", "long enough"), 0);
	assert_int_equal(users_password_verify(NULL, "long enough"), 0);
	assert_int_equal(users_password_verify("$argon2id$garbage", "x"), 0);
}

static void test_lists(void **state)
{
	struct fixture *f = *state;
	struct err e;
	char out[USERS_ADDR_MAX];
	const char *r = "bob@example.com";
	assert_int_equal(users_list_entry_normalize("@Partner.Example", out, sizeof out, &e), 0);
	assert_string_equal(out, "partner.example");
	assert_int_equal(users_list_entry_normalize(" Joe@Partner.Example ", out, sizeof out, &e), 0);
	assert_string_equal(out, "joe@partner.example");
	assert_int_equal(users_list_entry_normalize("no spaces.example", out, sizeof out, &e), -1);
	assert_int_equal(users_list_entry_normalize("", out, sizeof out, &e), -1);
	assert_int_equal(users_list_entry_normalize("com", out, sizeof out, &e), -1);

	assert_int_equal(users_list_add(f->cs, r, ULIST_WHITE, "partner.example", &e), 0);
	assert_int_equal(users_list_add(f->cs, r, ULIST_BLACK, "spammer@partner.example", &e), 0);
	assert_int_equal(users_list_add(f->cs, r, ULIST_BLACK, "bad.example", &e), 0);
	assert_int_equal(users_list_add(f->cs, r, ULIST_WHITE, "good@bad.example", &e), 0);
	/* twice is harmless */
	assert_int_equal(users_list_add(f->cs, r, ULIST_WHITE, "partner.example", &e), 0);

	assert_int_equal(users_list_match(f->cs, r, "alice@partner.example"), 1);
	assert_int_equal(users_list_match(f->cs, "BOB@example.com", "Alice@MAIL.Partner.example"), 1);
	assert_int_equal(users_list_match(f->cs, r, "spammer@partner.example"), -1); /* address wins */
	assert_int_equal(users_list_match(f->cs, r, "x@bad.example"), -1);
	assert_int_equal(users_list_match(f->cs, r, "x@sub.bad.example"), -1);
	assert_int_equal(users_list_match(f->cs, r, "good@bad.example"), 1);
	assert_int_equal(users_list_match(f->cs, r, "x@notbad.example"), 0);
	assert_int_equal(users_list_match(f->cs, r, "x@example"), 0);
	assert_int_equal(users_list_match(f->cs, r, ""), 0);
	assert_int_equal(users_list_match(f->cs, r, NULL), 0);
	assert_int_equal(users_list_match(f->cs, "other@example.com", "alice@partner.example"), 0);
	/* a domain on both lists: the whitelist wins */
	assert_int_equal(users_list_add(f->cs, r, ULIST_BLACK, "partner.example", &e), 0);
	assert_int_equal(users_list_match(f->cs, r, "alice@partner.example"), 1);

	json_t *j = users_lists_json(f->cs, r);
	assert_int_equal(json_array_size(json_object_get(j, "whitelist")), 2);
	assert_int_equal(json_array_size(json_object_get(j, "blacklist")), 3);
	json_decref(j);
	assert_int_equal(users_list_remove(f->cs, r, ULIST_WHITE, "partner.example", &e), 0);
	assert_int_equal(users_list_remove(f->cs, r, ULIST_WHITE, "partner.example", &e), -1);
	assert_int_equal(users_list_match(f->cs, r, "alice@partner.example"), -1);
}

static void test_delete_removes_everything(void **state)
{
	struct fixture *f = *state;
	struct err e;
	struct user_rec u;
	char v[64];
	add_user(f->cs, "carl@example.com", USER_FEAT_ALL);
	assert_int_equal(config_set(f->cs, "tag_score", "user:carl@example.com", "4", &e), 0);
	assert_int_equal(users_list_add(f->cs, "carl@example.com", ULIST_WHITE, "x.example", &e), 0);
	/* a neighbour whose address starts the same keeps its own */
	add_user(f->cs, "carl@example.co", USER_FEAT_ALL);
	assert_int_equal(users_list_add(f->cs, "carl@example.co", ULIST_WHITE, "x.example", &e), 0);
	assert_int_equal(users_delete(f->cs, "Carl@Example.com", &e), 0);
	assert_int_equal(users_get(f->cs, "carl@example.com", &u), -1);
	assert_int_equal(config_get_at(f->cs, "tag_score", "user:carl@example.com", v, sizeof v), 0);
	assert_int_equal(users_list_match(f->cs, "carl@example.com", "a@x.example"), 0);
	assert_int_equal(users_list_match(f->cs, "carl@example.co", "a@x.example"), 1);
	assert_int_equal(users_delete(f->cs, "carl@example.com", &e), -1);
}

static void test_quarantine_enabled(void **state)
{
	struct fixture *f = *state;
	struct err e;
	add_user(f->cs, "d@example.com", USER_FEAT_ALL);
	add_user(f->cs, "off@example.com", USER_FEAT_ALL & ~USER_FEAT_QUARANTINE);
	assert_int_equal(users_quarantine_enabled(f->cs, "d@example.com"), 1);
	assert_int_equal(users_quarantine_enabled(f->cs, "off@example.com"), 0);
	assert_int_equal(users_quarantine_enabled(f->cs, "no-account@example.com"), 1);
	assert_int_equal(config_set(f->cs, "quarantine_enabled", "user:d@example.com", "false", &e), 0);
	assert_int_equal(users_quarantine_enabled(f->cs, "d@example.com"), 0);
	assert_int_equal(config_set(f->cs, "quarantine_enabled", "domain:example.com", "false", &e), 0);
	assert_int_equal(users_quarantine_enabled(f->cs, "no-account@example.com"), 0);
}

/* The per-recipient calls of the pipeline must stay cheap. */
static void test_match_speed(void **state)
{
	struct fixture *f = *state;
	struct err e;
	for (int i = 0; i < 200; i++) {
		char entry[64];
		snprintf(entry, sizeof entry, "sender%d.example", i);
		assert_int_equal(users_list_add(f->cs, "fast@example.com", ULIST_BLACK, entry, &e), 0);
	}
	add_user(f->cs, "fast@example.com", USER_FEAT_ALL);
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	int n = 200000;
	for (int i = 0; i < n; i++) {
		users_list_match(f->cs, "fast@example.com", "someone@mail.sub.unlisted.example");
		users_scanning_enabled(f->cs, "fast@example.com");
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	print_message("users_list_match + users_scanning_enabled: %.0f recipients/s\n", n / s);
	/* generous: debug and sanitizer builds run this too */
	assert_true(n / s > 2000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_records, setup, teardown),
		cmocka_unit_test(test_passwords),
		cmocka_unit_test_setup_teardown(test_lists, setup, teardown),
		cmocka_unit_test_setup_teardown(test_delete_removes_everything, setup, teardown),
		cmocka_unit_test_setup_teardown(test_quarantine_enabled, setup, teardown),
		cmocka_unit_test_setup_teardown(test_match_speed, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
