#include "util/fsutil.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int fs_mkdir_p(const char *path, int mode, struct err *e)
{
	char tmp[4096];
	if (snprintf(tmp, sizeof tmp, "%s", path) >= (int)sizeof tmp)
		return err_set(e, "path too long: %s", path);
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(tmp, (mode_t)mode) < 0 && errno != EEXIST)
			return err_set(e, "mkdir %s: %s", tmp, strerror(errno));
		*p = '/';
	}
	if (mkdir(tmp, (mode_t)mode) < 0 && errno != EEXIST)
		return err_set(e, "mkdir %s: %s", tmp, strerror(errno));
	return 0;
}

int fs_fsync_dir(const char *dir, struct err *e)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return err_set(e, "open %s: %s", dir, strerror(errno));
	int rc = fsync(fd);
	int saved = errno;
	close(fd);
	if (rc < 0)
		return err_set(e, "fsync %s: %s", dir, strerror(saved));
	return 0;
}

int fs_write_full(int fd, const void *data, size_t len)
{
	const char *p = data;
	while (len) {
		ssize_t n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

void fs_dirname(const char *path, char *out, size_t outlen)
{
	const char *slash = strrchr(path, '/');
	if (!slash) {
		snprintf(out, outlen, ".");
		return;
	}
	size_t n = (size_t)(slash - path);
	if (n == 0)
		n = 1;
	snprintf(out, outlen, "%.*s", (int)n, path);
}

int fs_write_atomic(const char *path, const void *data, size_t len, int mode, struct err *e)
{
	char tmp[4200], dir[4096];
	snprintf(tmp, sizeof tmp, "%s.tmp.%d", path, (int)getpid());
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, (mode_t)mode);
	if (fd < 0)
		return err_set(e, "open %s: %s", tmp, strerror(errno));
	if (fs_write_full(fd, data, len) < 0 || fsync(fd) < 0) {
		err_set(e, "write %s: %s", tmp, strerror(errno));
		close(fd);
		unlink(tmp);
		return -1;
	}
	close(fd);
	if (rename(tmp, path) < 0) {
		err_set(e, "rename %s: %s", path, strerror(errno));
		unlink(tmp);
		return -1;
	}
	fs_dirname(path, dir, sizeof dir);
	return fs_fsync_dir(dir, e);
}

/* Reads fd until EOF or len bytes: the byte count, -1 on a read error. */
static ssize_t read_fd(int fd, char *buf, size_t len)
{
	size_t got = 0;
	while (got < len) {
		ssize_t n = read(fd, buf + got, len - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n == 0)
			break;
		got += (size_t)n;
	}
	return (ssize_t)got;
}

ssize_t fs_read_into(const char *path, char *buf, size_t len)
{
	if (!len)
		return -1;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t got = read_fd(fd, buf, len - 1);
	close(fd);
	buf[got > 0 ? got : 0] = '\0';
	return got;
}

/* st_size is only a first guess: files under /proc report 0, and a file
 * may grow while it is read; the buffer grows up to max. */
int fs_read_all(const char *path, size_t max, char **out, size_t *outlen, struct err *e)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return err_set(e, "open %s: %s", path, strerror(errno));
	struct stat st;
	if (fstat(fd, &st) < 0 || (size_t)st.st_size > max) {
		close(fd);
		return err_set(e, "%s: too large or unreadable", path);
	}
	size_t cap = st.st_size > 0 ? (size_t)st.st_size : (max < 4096 ? max : 4096), got = 0;
	char *p = NULL;
	for (;;) {
		char *q = realloc(p, cap + 1);
		if (!q) {
			free(p);
			close(fd);
			return err_set(e, "out of memory reading %s", path);
		}
		p = q;
		ssize_t n = read_fd(fd, p + got, cap - got);
		if (n < 0 || (got += (size_t)n) < cap)
			break;
		if (cap >= max) {                 /* full at max: is there more? */
			char extra;
			if (read_fd(fd, &extra, 1) == 1) {
				free(p);
				close(fd);
				return err_set(e, "%s: too large or unreadable", path);
			}
			break;
		}
		cap = cap * 2 < max ? cap * 2 : max;
	}
	close(fd);
	p[got] = '\0';
	*out = p;
	if (outlen)
		*outlen = got;
	return 0;
}
