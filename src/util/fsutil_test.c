/* Files: reading whole files of every kind (regular, growing past a
 * limit, /proc files whose size reads as 0), atomic writes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/fsutil.h"

static void test_read_all_regular_and_limit(void **state)
{
	(void)state;
	char dir[] = "/tmp/fsutil_test.XXXXXX", path[64];
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof path, "%s/f", dir);
	struct err e;
	char data[10000];
	for (size_t i = 0; i < sizeof data; i++)
		data[i] = (char)('a' + i % 26);
	assert_int_equal(fs_write_atomic(path, data, sizeof data, 0644, &e), 0);
	char *out = NULL;
	size_t n = 0;
	assert_int_equal(fs_read_all(path, sizeof data, &out, &n, &e), 0);
	assert_int_equal(n, sizeof data);
	assert_memory_equal(out, data, sizeof data);
	assert_int_equal(out[n], '\0');
	free(out);
	assert_int_equal(fs_read_all(path, sizeof data - 1, &out, &n, &e), -1);
	assert_non_null(strstr(e.msg, "too large"));
	assert_int_equal(fs_read_all("/nonexistent/x", 10, &out, &n, &e), -1);
	unlink(path);
	rmdir(dir);
}

/* /proc files report st_size 0: they are read to their end anyway */
static void test_read_proc_files(void **state)
{
	(void)state;
	struct err e;
	char *out = NULL;
	size_t n = 0;
	assert_int_equal(fs_read_all("/proc/self/status", 1 << 20, &out, &n, &e), 0);
	assert_true(n > 100);
	assert_non_null(strstr(out, "Pid:"));
	free(out);
	/* over the limit: refused, not cut short */
	assert_int_equal(fs_read_all("/proc/self/status", 16, &out, &n, &e), -1);
	char buf[64];
	ssize_t got = fs_read_into("/proc/self/stat", buf, sizeof buf);
	assert_int_equal(got, 63);
	assert_int_equal(strlen(buf), 63);
	char pid[16];
	snprintf(pid, sizeof pid, "%d ", (int)getpid());
	assert_int_equal(strncmp(buf, pid, strlen(pid)), 0);
	assert_int_equal(fs_read_into("/proc/999999999/stat", buf, sizeof buf), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_read_all_regular_and_limit),
		cmocka_unit_test(test_read_proc_files),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
