/* Reconciliation after a partition: the merge rule, conflict recording
 * and digests, on two real config stores. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cluster/cluster_int.h"
#include "cluster/hlc.h"
#include "store/config.h"
#include "store/db.h"

struct side {
	char path[128];
	struct cluster c;
};

struct fixture {
	char dir[64];
	struct side a, b;
};

static void side_open(struct fixture *f, struct side *s, const char *name, uint32_t peer,
		      uint64_t left)
{
	struct err e;
	snprintf(s->path, sizeof s->path, "%s/%s.db", f->dir, name);
	memset(&s->c, 0, sizeof s->c);
	pthread_mutex_init(&s->c.mu, NULL);
	pthread_mutex_init(&s->c.dbmu, NULL);
	s->c.dig_version = UINT64_MAX;
	s->c.cfg = config_open(s->path, &e);
	s->c.db = db_open(s->path, &e);
	assert_non_null(s->c.cfg);
	assert_non_null(s->c.db);
	assert_int_equal(cluster_db_init(s->c.db, &e), 0);
	/* the view after the partition healed: the peer, with its left mark */
	s->c.nround = 1;
	s->c.round[0].nodeid = peer;
	s->c.round[0].left_hlc = left;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof *f);
	snprintf(f->dir, sizeof f->dir, "/tmp/rampart-sync-XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	*state = f;
	return 0;
}

static void side_close(struct side *s)
{
	static const char *const sfx[] = {"", "-wal", "-shm"};
	char p[160];
	config_close(s->c.cfg);
	db_close(s->c.db);
	for (size_t i = 0; i < 3; i++) {
		snprintf(p, sizeof p, "%s%s", s->path, sfx[i]);
		unlink(p);
	}
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	side_close(&f->a);
	side_close(&f->b);
	rmdir(f->dir);
	free(f);
	return 0;
}

static void test_decide(void **state)
{
	(void)state;
	struct config_rawchange ours = {"k", "1", 100, 1}, theirs = {"k", "2", 200, 2};
	int conflict;
	/* a key we do not have: take it */
	assert_int_equal(sync_merge_decide(&ours, 0, &theirs, 50, &conflict), 1);
	assert_false(conflict);
	/* theirs newer, ours written after we lost sight of them: concurrent */
	assert_int_equal(sync_merge_decide(&ours, 1, &theirs, 50, &conflict), 1);
	assert_true(conflict);
	/* ours written before the separation: they knew it, no conflict */
	assert_int_equal(sync_merge_decide(&ours, 1, &theirs, 150, &conflict), 1);
	assert_false(conflict);
	/* ours newer: kept; theirs concurrent -> conflict, theirs from before -> none */
	assert_int_equal(sync_merge_decide(&theirs, 1, &ours, 50, &conflict), 0);
	assert_true(conflict);
	assert_int_equal(sync_merge_decide(&theirs, 1, &ours, 150, &conflict), 0);
	assert_false(conflict);
	/* same stamp: nothing to do */
	assert_int_equal(sync_merge_decide(&ours, 1, &ours, 50, &conflict), 0);
	assert_false(conflict);
	/* same value on both sides is no conflict */
	struct config_rawchange same = {"k", "1", 200, 2};
	assert_int_equal(sync_merge_decide(&ours, 1, &same, 50, &conflict), 1);
	assert_false(conflict);
	/* equal stamps: the higher node id wins */
	struct config_rawchange tie = {"k", "3", 100, 2};
	assert_int_equal(sync_merge_decide(&ours, 1, &tie, 50, &conflict), 1);
	/* a tombstone against a value differs */
	struct config_rawchange del = {"k", NULL, 200, 2};
	assert_int_equal(sync_merge_decide(&ours, 1, &del, 50, &conflict), 1);
	assert_true(conflict);
	/* never separated (left mark UINT64_MAX): no conflict */
	assert_int_equal(sync_merge_decide(&ours, 1, &theirs, UINT64_MAX, &conflict), 1);
	assert_false(conflict);
}

static void put(struct cluster *c, const char *key, const char *value, uint64_t hlc, uint32_t node)
{
	struct err e;
	if (config_put_raw(c->cfg, key, value, hlc, node, &e) < 0)
		fail_msg("put %s: %s", key, e.msg);
}

static json_t *rows_of(struct cluster *c)
{
	return sync_rows_json(c);
}

static long long conflicts_of(struct cluster *c, json_t **rows)
{
	json_t *j = cluster_conflicts_json(NULL, c->db, 100, 0);
	long long n = json_integer_value(json_object_get(j, "total"));
	*rows = json_incref(json_object_get(j, "rows"));
	json_decref(j);
	return n;
}

/* Two members split at `left`; both change block_score; each merges the
 * other's rows: same result on both, the losing change recorded on both. */
static void test_split_brain_merge(void **state)
{
	struct fixture *f = *state;
	const uint64_t t0 = hlc_make(1000, 0), left = hlc_make(2000, 0);
	side_open(f, &f->a, "a", 2, left);
	side_open(f, &f->b, "b", 1, left);
	struct cluster *a = &f->a.c, *b = &f->b.c;
	/* common history */
	const char *dom = "{\"destination\":\"smtp:mx.example.com:25\"}";
	for (int i = 0; i < 2; i++) {
		struct cluster *s = i ? b : a;
		put(s, "setting/global/block_score", "9", t0, 1);
		put(s, "setting/global/tag_score", "3.5", t0, 1);
		put(s, "domain/example.com", dom, t0, 2);
		put(s, "setting/node/scan_threads", i ? "2" : "4", t0, 1); /* node-local */
	}
	/* during the split */
	put(a, "setting/global/block_score", "7", hlc_make(3000, 0), 1);
	put(a, "domain/example.com", NULL, hlc_make(3100, 0), 1);
	put(b, "setting/global/block_score", "8", hlc_make(4000, 0), 2);
	put(b, "setting/global/tag_score", "4", hlc_make(3500, 0), 2);
	struct msg_sync da, db;
	sync_digest(a, &da);
	sync_digest(b, &db);
	assert_memory_not_equal(da.digest, db.digest, 32);
	/* heal: each pulls the other */
	json_t *ra = rows_of(a), *rb = rows_of(b);
	size_t applied, conflicts;
	struct err e;
	assert_int_equal(sync_merge_rows(a, 2, rb, &applied, &conflicts, &e), 0);
	assert_int_equal(applied, 2);   /* block_score 8, tag_score 4 */
	assert_int_equal(conflicts, 1); /* a's block_score 7 lost */
	assert_int_equal(sync_merge_rows(b, 1, ra, &applied, &conflicts, &e), 0);
	assert_int_equal(applied, 1);   /* the domain's tombstone */
	assert_int_equal(conflicts, 1); /* the same loser, seen from b */
	json_decref(ra);
	json_decref(rb);
	char v[64];
	for (int i = 0; i < 2; i++) {
		struct cluster *s = i ? b : a;
		assert_true(config_get_raw(s->cfg, "setting/global/block_score", v, sizeof v));
		assert_string_equal(v, "8");
		assert_true(config_get_raw(s->cfg, "setting/global/tag_score", v, sizeof v));
		assert_string_equal(v, "4");
		assert_false(config_get_raw(s->cfg, "domain/example.com", v, sizeof v));
		json_t *rows;
		assert_int_equal(conflicts_of(s, &rows), 1);
		json_t *r = json_array_get(rows, 0);
		assert_string_equal(json_string_value(json_object_get(r, "key")),
				    "setting/global/block_score");
		json_t *loser = json_object_get(r, "loser"), *winner = json_object_get(r, "winner");
		assert_string_equal(json_string_value(json_object_get(loser, "value")), "7");
		assert_int_equal(json_integer_value(json_object_get(loser, "node")), 1);
		assert_string_equal(json_string_value(json_object_get(winner, "value")), "8");
		json_decref(rows);
	}
	/* node-local rows never travel */
	assert_true(config_get_raw(a->cfg, "setting/node/scan_threads", v, sizeof v));
	assert_string_equal(v, "4");
	sync_digest(a, &da);
	sync_digest(b, &db);
	assert_memory_equal(da.digest, db.digest, 32);
	assert_int_equal(da.maxhlc, db.maxhlc);
	assert_int_equal(da.rows, db.rows);
	/* merging again changes nothing and records nothing new */
	ra = rows_of(a);
	assert_int_equal(sync_merge_rows(b, 1, ra, &applied, &conflicts, &e), 0);
	assert_int_equal(applied, 0);
	assert_int_equal(conflicts, 0);
	json_decref(ra);
}

/* A member that was down (not writing) catches up without conflicts. */
static void test_catch_up_without_conflict(void **state)
{
	struct fixture *f = *state;
	const uint64_t t0 = hlc_make(1000, 0), down = hlc_make(2000, 0);
	side_open(f, &f->a, "a", 3, down); /* a saw node 3 leave at `down` */
	side_open(f, &f->b, "b", 1, down); /* node 3 (b) stopped at `down` */
	struct cluster *a = &f->a.c, *b = &f->b.c;
	put(a, "setting/global/block_score", "9", t0, 3);
	put(b, "setting/global/block_score", "9", t0, 3);
	put(a, "setting/global/block_score", "6", hlc_make(5000, 0), 1);
	json_t *ra = rows_of(a), *rb = rows_of(b);
	size_t applied, conflicts;
	struct err e;
	assert_int_equal(sync_merge_rows(b, 1, ra, &applied, &conflicts, &e), 0);
	assert_int_equal(applied, 1);
	assert_int_equal(conflicts, 0);
	assert_int_equal(sync_merge_rows(a, 3, rb, &applied, &conflicts, &e), 0);
	assert_int_equal(applied, 0);
	assert_int_equal(conflicts, 0);
	json_decref(ra);
	json_decref(rb);
}

static void test_rows_parse(void **state)
{
	(void)state;
	struct err e;
	size_t n;
	json_t *ok = json_loads("[{\"key\":\"a/b\",\"value\":\"x\",\"hlc\":5,\"node\":1},"
				"{\"key\":\"setting/node/x\",\"value\":\"1\",\"hlc\":5,\"node\":1},"
				"{\"key\":\"c/d\",\"value\":null,\"hlc\":6,\"node\":2}]",
				0, NULL);
	struct config_rawchange *r = sync_rows_parse(ok, &n, &e);
	assert_non_null(r);
	assert_int_equal(n, 2); /* node-local rows are skipped */
	assert_null(r[1].value);
	free(r);
	json_decref(ok);
	const char *bad[] = {"{}", "[{\"key\":\"a\"}]", "[{\"key\":\"a\",\"value\":1,\"hlc\":1,\"node\":1}]",
			     "[{\"key\":\"a\",\"value\":\"x\",\"hlc\":0,\"node\":1}]",
			     "[{\"key\":\"a\",\"value\":\"x\",\"hlc\":1,\"node\":-1}]"};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		json_t *j = json_loads(bad[i], 0, NULL);
		assert_null(sync_rows_parse(j, &n, &e));
		json_decref(j);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_decide),
		cmocka_unit_test_setup_teardown(test_split_brain_merge, setup, teardown),
		cmocka_unit_test_setup_teardown(test_catch_up_without_conflict, setup, teardown),
		cmocka_unit_test(test_rows_parse),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
