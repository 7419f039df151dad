/* maildir_deliver: real files in a temporary directory. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "smtp/maildir.h"
#include "util/fsutil.h"

struct fx {
	char root[256];
	char spool[300];
	int fd;
	off_t off;
	size_t len;
};

static const char prefix[] = "RAMPART-SPOOL-HEADER\nqueue-id: 42\n\n";

/* A spool-like file: some header bytes, then the message. */
static void write_spool(struct fx *f, const char *msg, size_t len)
{
	snprintf(f->spool, sizeof f->spool, "%s/spool.msg", f->root);
	f->fd = open(f->spool, O_RDWR | O_CREAT | O_TRUNC, 0600);
	assert_true(f->fd >= 0);
	assert_int_equal(fs_write_full(f->fd, prefix, sizeof prefix - 1), 0);
	assert_int_equal(fs_write_full(f->fd, msg, len), 0);
	f->off = (off_t)(sizeof prefix - 1);
	f->len = len;
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof *f);
	snprintf(f->root, sizeof f->root, "/tmp/maildir_test.XXXXXX");
	assert_non_null(mkdtemp(f->root));
	f->fd = -1;
	*state = f;
	return 0;
}

static int rm_rf(const char *path)
{
	char cmd[600];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", path);
	return system(cmd);
}

static int teardown(void **state)
{
	struct fx *f = *state;
	if (f->fd >= 0)
		close(f->fd);
	rm_rf(f->root);
	free(f);
	return 0;
}

/* Names of the regular files in dir (up to max). */
static int list_dir(const char *dir, char names[][256], int max)
{
	DIR *d = opendir(dir);
	int n = 0;
	if (!d)
		return -1;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		if (n < max)
			snprintf(names[n], 256, "%s", de->d_name);
		n++;
	}
	closedir(d);
	return n;
}

static char *slurp(const char *path, size_t *len)
{
	char *p = NULL;
	struct err e;
	assert_int_equal(fs_read_all(path, 64 << 20, &p, len, &e), 0);
	return p;
}

static void test_deliver_basic(void **state)
{
	struct fx *f = *state;
	static const char msg[] = "Subject: hi\r\nFrom: a@b.example\r\n\r\nline1\r\n.dot\r\n"
				  "bare\rcr\r\n\r\nlast line without newline";
	static const char want[] = "Return-Path: <sender@example.org>\n"
				   "Delivered-To: user@example.com\n"
				   "Subject: hi\nFrom: a@b.example\n\nline1\n.dot\n"
				   "bare\rcr\n\nlast line without newline";
	struct err e;
	char dir[512], names[4][256], path[1024];
	write_spool(f, msg, sizeof msg - 1);
	assert_int_equal(maildir_deliver(f->root, "user@example.com", "sender@example.org", f->fd,
					 f->off, f->len, &e),
			 0);
	snprintf(dir, sizeof dir, "%s/user@example.com/new", f->root);
	assert_int_equal(list_dir(dir, names, 4), 1);
	snprintf(dir, sizeof dir, "%s/user@example.com/tmp", f->root);
	assert_int_equal(list_dir(dir, names + 1, 3), 0);
	snprintf(dir, sizeof dir, "%s/user@example.com/cur", f->root);
	assert_int_equal(list_dir(dir, names + 1, 3), 0);

	/* time.pid_counter_random.host */
	long long t;
	long pid;
	unsigned cnt;
	char rnd[17], host[200];
	assert_int_equal(sscanf(names[0], "%lld.%ld_%u_%16[0-9a-f].%199s", &t, &pid, &cnt, rnd, host),
			 5);
	assert_int_equal(pid, (long)getpid());
	assert_true(strlen(rnd) == 16);

	snprintf(path, sizeof path, "%s/user@example.com/new/%s", f->root, names[0]);
	size_t len;
	char *got = slurp(path, &len);
	assert_int_equal(len, sizeof want - 1);
	assert_memory_equal(got, want, len);
	free(got);
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
}

static void test_names_unique_and_null_sender(void **state)
{
	struct fx *f = *state;
	struct err e;
	char dir[512], names[8][256];
	write_spool(f, "A: b\r\n\r\nx\r\n", 11);
	for (int i = 0; i < 5; i++)
		assert_int_equal(maildir_deliver(f->root, "bob@example.com", "", f->fd, f->off,
						 f->len, &e),
				 0);
	snprintf(dir, sizeof dir, "%s/bob@example.com/new", f->root);
	assert_int_equal(list_dir(dir, names, 8), 5);
	for (int i = 0; i < 5; i++)
		for (int j = i + 1; j < 5; j++)
			assert_string_not_equal(names[i], names[j]);
	char path[1024];
	snprintf(path, sizeof path, "%s/%s", dir, names[0]);
	size_t len;
	char *got = slurp(path, &len);
	assert_true(strncmp(got, "Return-Path: <>\nDelivered-To: bob@example.com\nA: b\n\nx\n", len) ==
		    0);
	free(got);
}

static void test_rcpt_sanitised(void **state)
{
	struct fx *f = *state;
	struct err e;
	char name[300], dir[600], names[2][256];
	assert_int_equal(maildir_rcpt_name("../evil/x@Example.COM", name, sizeof name), 0);
	assert_string_equal(name, "_._evil_x@example.com");
	assert_int_equal(maildir_rcpt_name(".hidden@EX.org", name, sizeof name), 0);
	assert_string_equal(name, "_hidden@ex.org");
	assert_int_equal(maildir_rcpt_name("Mixed.Case@D", name, sizeof name), 0);
	assert_string_equal(name, "Mixed.Case@d");
	assert_int_equal(maildir_rcpt_name("", name, sizeof name), -1);
	char longaddr[400];
	memset(longaddr, 'a', sizeof longaddr - 1);
	longaddr[sizeof longaddr - 1] = '\0';
	assert_int_equal(maildir_rcpt_name(longaddr, name, sizeof name), -1);

	/* header injection through the envelope stays on its line */
	write_spool(f, "S: x\r\n\r\nb\r\n", 11);
	assert_int_equal(maildir_deliver(f->root, "../evil/x@Example.COM", "a@b\nX-Evil: 1", f->fd,
					 f->off, f->len, &e),
			 0);
	snprintf(dir, sizeof dir, "%s/_._evil_x@example.com/new", f->root);
	assert_int_equal(list_dir(dir, names, 2), 1);
	/* nothing outside the root */
	struct stat st;
	snprintf(dir, sizeof dir, "%s/../evil", f->root);
	assert_int_not_equal(stat(dir, &st), 0);
	char path[1024];
	snprintf(path, sizeof path, "%s/_._evil_x@example.com/new/%s", f->root, names[0]);
	size_t len;
	char *got = slurp(path, &len);
	assert_null(strstr(got, "\nX-Evil"));
	assert_non_null(strstr(got, "Return-Path: <a@b?X-Evil: 1>\n"));
	free(got);
}

static void test_short_file_leaves_nothing(void **state)
{
	struct fx *f = *state;
	struct err e;
	char dir[512], names[2][256];
	write_spool(f, "S: x\r\n\r\nbody\r\n", 14);
	assert_int_equal(maildir_deliver(f->root, "u@d", "s@d", f->fd, f->off, f->len + 100, &e), -1);
	assert_non_null(strstr(e.msg, "short"));
	snprintf(dir, sizeof dir, "%s/u@d/tmp", f->root);
	assert_int_equal(list_dir(dir, names, 2), 0);
	snprintf(dir, sizeof dir, "%s/u@d/new", f->root);
	assert_int_equal(list_dir(dir, names, 2), 0);
	assert_int_equal(maildir_deliver(f->root, "u@d", "s@d", -1, 0, 1, &e), -1);
}

/* CRLF pairs split across the 64 KiB read chunks. */
static void test_large_crlf_across_chunks(void **state)
{
	struct fx *f = *state;
	struct err e;
	size_t n = 3 * 65536 + 123;
	char *msg = malloc(n), *want = malloc(n + 100);
	size_t w = (size_t)snprintf(want, 100, "Return-Path: <s@d>\nDelivered-To: big@d\n");
	for (size_t i = 0; i < n; i++) {
		/* a CR exactly at every chunk's last byte, LF at the next */
		int cr = (i % 65536) == 65535 || (i % 77) == 75;
		int lf = (i > 0 && msg[i - 1] == '\r');
		msg[i] = lf ? '\n' : cr ? '\r' : (char)('a' + i % 26);
	}
	msg[n - 1] = 'z';
	for (size_t i = 0; i < n; i++)
		if (!(msg[i] == '\r' && i + 1 < n && msg[i + 1] == '\n'))
			want[w++] = msg[i];
	write_spool(f, msg, n);
	assert_int_equal(maildir_deliver(f->root, "big@d", "s@d", f->fd, f->off, f->len, &e), 0);
	char dir[512], names[2][256], path[1024];
	snprintf(dir, sizeof dir, "%s/big@d/new", f->root);
	assert_int_equal(list_dir(dir, names, 2), 1);
	snprintf(path, sizeof path, "%s/%s", dir, names[0]);
	size_t len;
	char *got = slurp(path, &len);
	assert_int_equal(len, w);
	assert_memory_equal(got, want, w);
	assert_null(memmem(got, len, "\r\n", 2));
	free(got);
	free(msg);
	free(want);
}

struct thr {
	struct fx *f;
	int failures;
};

static void *deliver_many(void *arg)
{
	struct thr *t = arg;
	struct err e;
	for (int i = 0; i < 25; i++)
		if (maildir_deliver(t->f->root, "shared@d", "s@d", t->f->fd, t->f->off, t->f->len,
				    &e) < 0)
			t->failures++;
	return NULL;
}

/* Worker threads deliver at once: every message lands, under its own name. */
static void test_concurrent(void **state)
{
	struct fx *f = *state;
	pthread_t th[4];
	struct thr t[4];
	write_spool(f, "S: x\r\n\r\nb\r\n", 11);
	for (int i = 0; i < 4; i++) {
		t[i] = (struct thr){f, 0};
		pthread_create(&th[i], NULL, deliver_many, &t[i]);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(t[i].failures, 0);
	}
	char dir[512];
	static char names[128][256];
	snprintf(dir, sizeof dir, "%s/shared@d/new", f->root);
	assert_int_equal(list_dir(dir, names, 128), 100);
	snprintf(dir, sizeof dir, "%s/shared@d/tmp", f->root);
	assert_int_equal(list_dir(dir, names, 128), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_deliver_basic, setup, teardown),
		cmocka_unit_test_setup_teardown(test_names_unique_and_null_sender, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rcpt_sanitised, setup, teardown),
		cmocka_unit_test_setup_teardown(test_short_file_leaves_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_large_crlf_across_chunks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_concurrent, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
