/* The Local Host Map: validation, storage, lookups, resolution order. */
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
#include "node.h"
#include "store/db.h"

struct fixture {
	char dir[64], path[128];
	struct node n;
	struct cluster c;
	sqlite3 *db;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof *f);
	struct err e;
	snprintf(f->dir, sizeof f->dir, "/tmp/rampart-hm-XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	snprintf(f->path, sizeof f->path, "%s/node.db", f->dir);
	f->db = db_open(f->path, &e);
	assert_non_null(f->db);
	assert_int_equal(cluster_db_init(f->db, &e), 0);
	pthread_mutex_init(&f->c.mu, NULL);
	pthread_cond_init(&f->c.cv, NULL);
	pthread_rwlock_init(&f->c.hmlock, NULL);
	f->c.node = &f->n;
	f->n.cluster = &f->c;
	assert_int_equal(hostmap_load(&f->c, f->db, &e), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	static const char *const sfx[] = {"", "-wal", "-shm"};
	char p[160];
	hostmap_free(&f->c);
	db_close(f->db);
	for (size_t i = 0; i < 3; i++) {
		snprintf(p, sizeof p, "%s%s", f->path, sfx[i]);
		unlink(p);
	}
	rmdir(f->dir);
	free(f);
	return 0;
}

static void test_checks(void **state)
{
	(void)state;
	char out[256];
	struct err e;
	assert_int_equal(hostmap_name_check("Node1.Example.COM.", out, sizeof out, &e), 0);
	assert_string_equal(out, "node1.example.com");
	assert_int_equal(hostmap_name_check("node_2", out, sizeof out, &e), 0);
	assert_int_equal(hostmap_name_check("", out, sizeof out, &e), -1);
	assert_int_equal(hostmap_name_check("a..b", out, sizeof out, &e), -1);
	assert_int_equal(hostmap_name_check("a b", out, sizeof out, &e), -1);
	assert_int_equal(hostmap_name_check("a/b", out, sizeof out, &e), -1);
	char label[80];
	memset(label, 'x', 64);
	label[64] = '\0';
	assert_int_equal(hostmap_name_check(label, out, sizeof out, &e), -1);
	assert_int_equal(hostmap_addr_check("10.0.0.1", out, sizeof out, &e), 0);
	assert_int_equal(hostmap_addr_check("2001:DB8:0::1", out, sizeof out, &e), 0);
	assert_string_equal(out, "2001:db8::1");
	assert_int_equal(hostmap_addr_check("10.0.0", out, sizeof out, &e), -1);
	assert_int_equal(hostmap_addr_check("host.example", out, sizeof out, &e), -1);
	assert_int_equal(hostmap_addr_check(NULL, out, sizeof out, &e), -1);
}

static void test_set_lookup_remove(void **state)
{
	struct fixture *f = *state;
	struct err e;
	char addr[64];
	assert_int_equal(hostmap_lookup(&f->n, "mx.internal", addr, sizeof addr), -1);
	assert_int_equal(hostmap_set(&f->n, f->db, "MX.Internal", "192.0.2.25", &e), 0);
	assert_int_equal(hostmap_set(&f->n, f->db, "node2", "10.1.1.2", &e), 0);
	assert_int_equal(hostmap_lookup(&f->n, "mx.internal.", addr, sizeof addr), 0);
	assert_string_equal(addr, "192.0.2.25");
	/* replacing an entry */
	assert_int_equal(hostmap_set(&f->n, f->db, "node2", "10.1.1.3", &e), 0);
	assert_int_equal(hostmap_lookup(&f->n, "NODE2", addr, sizeof addr), 0);
	assert_string_equal(addr, "10.1.1.3");
	json_t *list = hostmap_list(&f->n, f->db);
	assert_int_equal(json_array_size(list), 2);
	assert_string_equal(json_string_value(json_object_get(json_array_get(list, 0), "name")),
			    "mx.internal");
	json_decref(list);
	assert_int_equal(hostmap_set(&f->n, f->db, "bad name", "10.0.0.1", &e), -1);
	assert_int_equal(hostmap_set(&f->n, f->db, "ok", "999.0.0.1", &e), -1);
	assert_int_equal(hostmap_remove(&f->n, f->db, "mx.internal", &e), 0);
	assert_int_equal(hostmap_lookup(&f->n, "mx.internal", addr, sizeof addr), -1);
	assert_int_equal(hostmap_remove(&f->n, f->db, "mx.internal", &e), -1);
	/* a node without a cluster has an empty map */
	struct node bare = {0};
	assert_int_equal(hostmap_lookup(&bare, "node2", addr, sizeof addr), -1);
	/* the map is reloaded from the database */
	assert_int_equal(hostmap_load(&f->c, f->db, &e), 0);
	assert_int_equal(hostmap_lookup(&f->n, "node2", addr, sizeof addr), 0);
	/* the requested tasks are flagged for the task thread */
	assert_true(f->c.tasks & TASK_MEMBERS);
}

static void test_resolve_order(void **state)
{
	struct fixture *f = *state;
	struct err e;
	char addr[64];
	/* literals as they are (canonical) */
	assert_int_equal(cluster_resolve(&f->n, "10.9.8.7", addr, sizeof addr, &e), 0);
	assert_string_equal(addr, "10.9.8.7");
	assert_int_equal(cluster_resolve(&f->n, "::1", addr, sizeof addr, &e), 0);
	/* the map beats /etc/hosts */
	assert_int_equal(cluster_resolve(&f->n, "localhost", addr, sizeof addr, &e), 0);
	assert_string_equal(addr, "127.0.0.1");
	assert_int_equal(hostmap_set(&f->n, f->db, "localhost", "10.0.0.99", &e), 0);
	assert_int_equal(cluster_resolve(&f->n, "localhost", addr, sizeof addr, &e), 0);
	assert_string_equal(addr, "10.0.0.99");
	/* a bad name is refused before any lookup */
	assert_int_equal(cluster_resolve(&f->n, "no such/name", addr, sizeof addr, &e), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_checks),
		cmocka_unit_test_setup_teardown(test_set_lookup_remove, setup, teardown),
		cmocka_unit_test_setup_teardown(test_resolve_order, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
