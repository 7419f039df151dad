/* corosync.conf rendering from the member list; leftovers of a previous
 * rampartd's corosync found and killed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cluster/cluster_int.h"

static const struct cs_node three[] = {
	{1, "node1.example", "10.0.0.1"},
	{2, "node 2!", "10.0.0.2"},
	{7, "10.0.0.3", "10.0.0.3"},
};

static struct cs_conf conf(size_t n)
{
	return (struct cs_conf){"rampart", 5405, 1000, "/data/cluster/authkey",
				"/data/cluster/state", three, n};
}

static int count(const char *hay, const char *needle)
{
	int k = 0;
	for (const char *p = hay; (p = strstr(p, needle)); p++)
		k++;
	return k;
}

static void test_three_nodes(void **state)
{
	(void)state;
	struct buf b;
	struct err e;
	struct cs_conf c = conf(3);
	buf_init(&b, 1 << 20);
	assert_int_equal(corosync_render(&c, &b, &e), 0);
	const char *t = b.data;
	assert_non_null(strstr(t, "\ttransport: knet\n"));
	assert_non_null(strstr(t, "\ttoken: 1000\n"));
	assert_non_null(strstr(t, "\ttoken_coefficient: 0\n")); /* detection ~2 s with 3 nodes */
	assert_non_null(strstr(t, "\tknet_pmtud_interval: 5\n"));
	assert_non_null(strstr(t, "\tcrypto_cipher: aes256\n"));
	assert_non_null(strstr(t, "\tcrypto_hash: sha256\n"));
	assert_non_null(strstr(t, "\tkeyfile: /data/cluster/authkey\n"));
	assert_non_null(strstr(t, "\t\tmcastport: 5405\n"));
	assert_non_null(strstr(t, "\tstate_dir: /data/cluster/state\n"));
	assert_int_equal(count(t, "\tnode {"), 3);
	assert_non_null(strstr(t, "\t\tnodeid: 1\n\t\tname: node1.example\n\t\tring0_addr: 10.0.0.1\n"));
	assert_non_null(strstr(t, "\t\tnodeid: 2\n\t\tname: node_2_\n\t\tring0_addr: 10.0.0.2\n"));
	assert_non_null(strstr(t, "\t\tnodeid: 7\n"));
	assert_non_null(strstr(t, "provider: corosync_votequorum"));
	assert_null(strstr(t, "two_node")); /* majority for three */
	assert_non_null(strstr(t, "\tto_stderr: yes\n"));
	buf_free(&b);
}

static void test_two_nodes_and_one(void **state)
{
	(void)state;
	struct buf b;
	struct err e;
	buf_init(&b, 1 << 20);
	struct cs_conf c = conf(2);
	assert_int_equal(corosync_render(&c, &b, &e), 0);
	assert_non_null(strstr(b.data, "\ttwo_node: 1\n\twait_for_all: 0\n"));
	c = conf(1);
	assert_int_equal(corosync_render(&c, &b, &e), 0);
	assert_null(strstr(b.data, "two_node"));
	assert_int_equal(count(b.data, "\tnode {"), 1);
	buf_free(&b);
}

static void test_refusals(void **state)
{
	(void)state;
	struct buf b;
	struct err e;
	buf_init(&b, 1 << 20);
	struct cs_conf c = conf(0);
	assert_int_equal(corosync_render(&c, &b, &e), -1);
	struct cs_node bad[] = {{1, "a", "10.0.0.1"}, {2, "b", "not an address"}};
	c = conf(2);
	c.nodes = bad;
	assert_int_equal(corosync_render(&c, &b, &e), -1);
	struct cs_node dup[] = {{1, "a", "10.0.0.1"}, {1, "b", "10.0.0.2"}};
	c.nodes = dup;
	assert_int_equal(corosync_render(&c, &b, &e), -1);
	struct cs_node zero[] = {{0, "a", "10.0.0.1"}};
	c.nodes = zero;
	c.n = 1;
	assert_int_equal(corosync_render(&c, &b, &e), -1);
	c = conf(3);
	c.port = 80;
	assert_int_equal(corosync_render(&c, &b, &e), -1);
	/* IPv6 is written canonically */
	struct cs_node v6[] = {{1, "a", "2001:DB8::1"}};
	c = conf(1);
	c.nodes = v6;
	assert_int_equal(corosync_render(&c, &b, &e), 0);
	assert_non_null(strstr(b.data, "ring0_addr: 2001:db8::1\n"));
	buf_free(&b);
}

/* A stand-in process named name (argv[0]) with conf among its arguments:
 * a shell blocked reading a pipe (no child of its own), started once
 * /proc shows its new command line. */
static pid_t fake(const char *name, const char *conf, int *wfd)
{
	int p[2];
	char path[64], buf[256];
	assert_int_equal(pipe(p), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		dup2(p[0], 0);
		close(p[1]);
		execl("/bin/sh", name, "-c", "read x", conf, (char *)NULL);
		_exit(127);
	}
	close(p[0]);
	*wfd = p[1];
	snprintf(path, sizeof path, "/proc/%d/cmdline", (int)pid);
	for (int i = 0; i < 200; i++) {
		FILE *f = fopen(path, "r");
		size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
		if (f)
			fclose(f);
		buf[n] = '\0';
		if (strcmp(buf, name) == 0)
			return pid;
		usleep(10000);
	}
	fail_msg("the stand-in %s did not start", name);
	return -1;
}

static void test_kill_leftovers(void **state)
{
	(void)state;
	char conf[64], other[64];
	int w1, w2, w3, st;
	snprintf(conf, sizeof conf, "/nonexistent/%d/cluster/corosync.conf", (int)getpid());
	snprintf(other, sizeof other, "/nonexistent/%d/other/corosync.conf", (int)getpid());
	pid_t orphan = fake("corosync", conf, &w1);
	pid_t another = fake("corosync", other, &w2); /* another data dir's */
	pid_t notcs = fake("notcorosync", conf, &w3);

	assert_int_equal(corosync_kill_leftovers(conf), 1);
	assert_int_equal(waitpid(orphan, &st, 0), orphan);
	assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
	assert_int_equal(waitpid(another, &st, WNOHANG), 0);
	assert_int_equal(waitpid(notcs, &st, WNOHANG), 0);
	assert_int_equal(corosync_kill_leftovers(conf), 0); /* gone */

	close(w2);
	close(w3);
	assert_int_equal(waitpid(another, &st, 0), another);
	assert_int_equal(waitpid(notcs, &st, 0), notcs);
	close(w1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_three_nodes),
		cmocka_unit_test(test_two_nodes_and_one),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_kill_leftovers),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
