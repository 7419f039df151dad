/* The config store's hooks for the cluster: the replicator (local writes
 * of propagated keys go through it, node-local ones do not), replacing
 * the replica for a joiner, and imports leaving membership alone. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cluster/cluster.h"
#include "store/config.h"

struct fixture {
	char dir[64], path[128];
	struct config_store *cs;
	/* the replicator's record */
	int calls;
	size_t rows;
	char last_key[256];
	int refuse;
	int heard;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof *f);
	struct err e;
	cluster_register_config();
	snprintf(f->dir, sizeof f->dir, "/tmp/rampart-ccfg-XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	snprintf(f->path, sizeof f->path, "%s/node.db", f->dir);
	f->cs = config_open(f->path, &e);
	if (!f->cs)
		fail_msg("%s", e.msg);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	static const char *const sfx[] = {"", "-wal", "-shm"};
	char p[160];
	config_close(f->cs);
	for (size_t i = 0; i < 3; i++) {
		snprintf(p, sizeof p, "%s%s", f->path, sfx[i]);
		unlink(p);
	}
	rmdir(f->dir);
	free(f);
	return 0;
}

/* What the cluster does, in one process: apply with the given stamps. */
static int replicate(void *arg, const struct config_rawchange *c, size_t n, struct err *e)
{
	struct fixture *f = arg;
	f->calls++;
	f->rows += n;
	snprintf(f->last_key, sizeof f->last_key, "%s", c[n - 1].key);
	if (f->refuse)
		return err_set(e, "no quorum");
	for (size_t i = 0; i < n; i++) {
		assert_true(c[i].hlc > 0);
		if (config_put_raw(f->cs, c[i].key, c[i].value, c[i].hlc, c[i].node, e) < 0)
			return -1;
	}
	return 0;
}

static void listener(void *arg, const char *key)
{
	(void)key;
	((struct fixture *)arg)->heard++;
}

static void test_replicator(void **state)
{
	struct fixture *f = *state;
	struct err e;
	char v[64];
	config_set_node_id(f->cs, 4);
	config_set_replicator(f->cs, replicate, f);
	config_on_change(f->cs, listener, f);
	assert_int_equal(config_set(f->cs, "block_score", NULL, "7", &e), 0);
	assert_int_equal(f->calls, 1);
	assert_string_equal(f->last_key, "setting/global/block_score");
	assert_true(config_get_raw(f->cs, "setting/global/block_score", v, sizeof v));
	assert_string_equal(v, "7");
	assert_int_equal(f->heard, 1);
	/* node-local: written here, never replicated */
	assert_int_equal(config_set(f->cs, "scan_threads", "node", "2", &e), 0);
	assert_int_equal(f->calls, 1);
	assert_true(config_get_raw(f->cs, "setting/node/scan_threads", v, sizeof v));
	/* refused by the cluster: the write fails and nothing changes */
	f->refuse = 1;
	assert_int_equal(config_set(f->cs, "block_score", NULL, "8", &e), -1);
	assert_string_equal(e.msg, "no quorum");
	assert_true(config_get_raw(f->cs, "setting/global/block_score", v, sizeof v));
	assert_string_equal(v, "7");
	f->refuse = 0;
	/* deletions go through it too */
	assert_int_equal(config_unset(f->cs, "block_score", NULL, &e), 0);
	assert_int_equal(f->calls, 3);
	assert_false(config_get_raw(f->cs, "setting/global/block_score", v, sizeof v));
	/* an import is one batch; its node-local keys are applied here */
	json_t *doc = json_loads("{\"version\":1,\"keys\":{\"setting/global/tag_score\":\"4\","
				 "\"setting/global/block_score\":\"9\",\"setting/node/scan_threads\":\"3\"}}",
				 0, NULL);
	int before = f->calls;
	assert_int_equal(config_import(f->cs, doc, &e), 0);
	assert_int_equal(f->calls, before + 1);
	assert_true(config_get_raw(f->cs, "setting/node/scan_threads", v, sizeof v));
	assert_string_equal(v, "3");
	assert_true(config_get_raw(f->cs, "setting/global/tag_score", v, sizeof v));
	json_decref(doc);
	config_set_replicator(f->cs, NULL, NULL);
	assert_int_equal(config_set(f->cs, "block_score", NULL, "5", &e), 0);
	assert_int_equal(f->calls, before + 1);
}

static void test_replace(void **state)
{
	struct fixture *f = *state;
	struct err e;
	char v[64];
	assert_int_equal(config_set(f->cs, "block_score", NULL, "7", &e), 0);
	assert_int_equal(config_set(f->cs, "tag_score", NULL, "2", &e), 0);
	assert_int_equal(config_set(f->cs, "scan_threads", "node", "2", &e), 0);
	assert_int_equal(config_domain_add(f->cs, "old.example", "smtp:mx.old.example:25", &e), 0);
	size_t domains = config_domain_count(f->cs);
	assert_int_equal(domains, 1);
	/* the cluster's rows, with their stamps; one is older than ours */
	struct config_rawchange rows[] = {
		{"setting/global/block_score", "9", 5, 1},
		{"domain/new.example", "{\"destination\":\"smtp:mx.new.example:25\"}", 6, 2},
		{"setting/global/quarantine_score", NULL, 7, 2},
	};
	config_on_change(f->cs, listener, f);
	assert_int_equal(config_replace_raw(f->cs, rows, 3, &e), 0);
	assert_true(config_get_raw(f->cs, "setting/global/block_score", v, sizeof v));
	assert_string_equal(v, "9"); /* the cluster's, although older */
	assert_false(config_get_raw(f->cs, "setting/global/tag_score", v, sizeof v)); /* dropped */
	assert_true(config_get_raw(f->cs, "setting/node/scan_threads", v, sizeof v)); /* kept */
	assert_int_equal(config_domain_count(f->cs), 1);
	struct domain_info di;
	assert_int_equal(config_domain_get(f->cs, "new.example", &di), 0);
	assert_int_equal(config_domain_get(f->cs, "old.example", &di), -1);
	assert_true(f->heard >= 5);
	/* dropped rows leave no tombstone: the export holds exactly the rows + local ones */
	json_t *all = config_export_raw(f->cs);
	assert_int_equal(json_array_size(all), 4);
	json_decref(all);
	/* survives a reopen */
	config_close(f->cs);
	f->cs = config_open(f->path, &e);
	assert_non_null(f->cs);
	assert_true(config_get_raw(f->cs, "setting/global/block_score", v, sizeof v));
	assert_string_equal(v, "9");
	assert_false(config_get_raw(f->cs, "setting/global/tag_score", v, sizeof v));
	/* all or nothing */
	struct config_rawchange bad[] = {{"setting/global/block_score", "1", 8, 1},
					 {"setting/global/block_score2", "x", 9, 1}};
	assert_int_equal(config_replace_raw(f->cs, bad, 2, &e), -1);
	assert_true(config_get_raw(f->cs, "setting/global/block_score", v, sizeof v));
	assert_string_equal(v, "9");
	struct config_rawchange local[] = {{"setting/node/scan_threads", "1", 8, 1}};
	assert_int_equal(config_replace_raw(f->cs, local, 1, &e), -1);
}

static void test_import_keeps_membership(void **state)
{
	struct fixture *f = *state;
	struct err e;
	char v[128];
	const char *rec = "{\"joined_ms\":1,\"name\":\"10.0.0.1\",\"port\":443,\"role\":\"active\"}";
	assert_int_equal(config_put(f->cs, "cluster/member/1", rec, &e), 0);
	/* a backup without membership, and one with a foreign membership */
	json_t *doc = json_loads("{\"version\":1,\"keys\":{\"setting/global/tag_score\":\"4\","
				 "\"cluster/member/9\":\"{}\"}}",
				 0, NULL);
	assert_int_equal(config_import(f->cs, doc, &e), 0);
	json_decref(doc);
	assert_true(config_get_raw(f->cs, "cluster/member/1", v, sizeof v));
	assert_false(config_get_raw(f->cs, "cluster/member/9", v, sizeof v));
	/* member records are validated */
	assert_int_equal(config_put(f->cs, "cluster/member/2", "{\"name\":\"a b\",\"port\":1,"
				    "\"role\":\"active\",\"joined_ms\":0}", &e), -1);
	assert_int_equal(config_put(f->cs, "cluster/member/2", "{\"name\":\"n2\",\"port\":1,"
				    "\"role\":\"boss\",\"joined_ms\":0}", &e), -1);
	assert_int_equal(config_put(f->cs, "cluster/member/02", rec, &e), -1);
	assert_int_equal(config_put(f->cs, "cluster/other", rec, &e), -1);
	assert_int_equal(config_put(f->cs, "cluster/member/3", "{\"name\":\"N3.Example\",\"port\":443,"
				    "\"role\":\"standby\",\"joined_ms\":5,\"extra\":1}", &e), 0);
	assert_true(config_get_raw(f->cs, "cluster/member/3", v, sizeof v));
	assert_string_equal(v, "{\"joined_ms\":5,\"name\":\"n3.example\",\"port\":443,\"role\":\"standby\"}");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_replicator, setup, teardown),
		cmocka_unit_test_setup_teardown(test_replace, setup, teardown),
		cmocka_unit_test_setup_teardown(test_import_keeps_membership, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
