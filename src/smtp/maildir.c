#include "smtp/maildir.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "util/fsutil.h"

#define COPY_CHUNK (64 * 1024)
#define NAME_MAX_LEN 255

static unsigned delivery_counter;   /* atomically incremented: worker threads */

int maildir_rcpt_name(const char *rcpt, char *out, size_t outlen)
{
	size_t n = rcpt ? strlen(rcpt) : 0;
	if (n == 0 || n > NAME_MAX_LEN || n >= outlen)
		return -1;
	const char *at = strrchr(rcpt, '@');
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)rcpt[i];
		if (ch == '/' || ch < 0x20 || ch == 0x7f || (i == 0 && ch == '.'))
			ch = '_';
		else if (at && rcpt + i > at)
			ch = (unsigned char)tolower(ch);
		out[i] = (char)ch;
	}
	out[n] = '\0';
	return 0;
}

/* Host name part of a Maildir file name: '/' and ':' are escaped as the
 * Maildir specification says. */
static void maildir_host(char *out, size_t outlen)
{
	char host[256];
	if (gethostname(host, sizeof host) < 0)
		snprintf(host, sizeof host, "localhost");
	host[sizeof host - 1] = '\0';
	size_t o = 0;
	for (const char *p = host; *p && o + 5 < outlen; p++) {
		if (*p == '/' || *p == ':')
			o += (size_t)snprintf(out + o, outlen - o, "\\%03o", (unsigned char)*p);
		else if ((unsigned char)*p > ' ' && (unsigned char)*p < 0x7f)
			out[o++] = *p;
	}
	out[o] = '\0';
	if (!o)
		snprintf(out, outlen, "localhost");
}

static void unique_name(char *out, size_t outlen)
{
	unsigned long long rnd = 0;
	char host[128];
	if (getrandom(&rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd)
		rnd = (unsigned long long)time(NULL) ^ (unsigned long long)(uintptr_t)out;
	maildir_host(host, sizeof host);
	unsigned n = __atomic_add_fetch(&delivery_counter, 1, __ATOMIC_RELAXED);
	snprintf(out, outlen, "%lld.%ld_%u_%016llx.%s", (long long)time(NULL), (long)getpid(), n,
		 rnd, host);
}

/* Header values come from the envelope: keep them on one line. */
static void header_value(char *out, size_t outlen, const char *s)
{
	size_t o = 0;
	for (; s && *s && o + 1 < outlen; s++)
		out[o++] = ((unsigned char)*s < 0x20 || *s == 0x7f) ? '?' : *s;
	out[o] = '\0';
}

/* Creates dir/name/{cur,new,tmp}; fsyncs the parents of what was created
 * so that the Maildir itself survives a crash. */
static int make_maildir(const char *dir, const char *path, struct err *e)
{
	static const char *const subs[] = {"cur", "new", "tmp"};
	char sub[4200];
	struct stat st;
	snprintf(sub, sizeof sub, "%s/new", path);
	int existed = stat(sub, &st) == 0;
	for (size_t i = 0; i < sizeof subs / sizeof subs[0]; i++) {
		snprintf(sub, sizeof sub, "%s/%s", path, subs[i]);
		if (fs_mkdir_p(sub, 0700, e) < 0)
			return -1;
	}
	if (existed)
		return 0;
	if (fs_fsync_dir(path, e) < 0 || fs_fsync_dir(dir, e) < 0)
		return -1;
	return 0;
}

/* Copies the range converting CRLF to LF; a CR not followed by LF stays. */
static int copy_lf(int out, int in, off_t off, size_t len, struct err *e)
{
	char *ibuf = malloc(COPY_CHUNK), *obuf = malloc(COPY_CHUNK + 1);
	int cr = 0, rc = 0;
	size_t done = 0;
	if (!ibuf || !obuf)
		rc = err_set(e, "out of memory");
	while (!rc && done < len) {
		size_t want = len - done < COPY_CHUNK ? len - done : COPY_CHUNK;
		ssize_t n = pread(in, ibuf, want, off + (off_t)done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			rc = err_set(e, "read message: %s", n < 0 ? strerror(errno) : "file too short");
			break;
		}
		size_t o = 0;
		for (ssize_t i = 0; i < n; i++) {
			if (cr && ibuf[i] != '\n')
				obuf[o++] = '\r';
			cr = ibuf[i] == '\r';
			if (!cr)
				obuf[o++] = ibuf[i];
		}
		if (fs_write_full(out, obuf, o) < 0)
			rc = err_set(e, "write: %s", strerror(errno));
		done += (size_t)n;
	}
	if (!rc && cr && fs_write_full(out, "\r", 1) < 0)
		rc = err_set(e, "write: %s", strerror(errno));
	free(ibuf);
	free(obuf);
	return rc;
}

static int write_message(const char *tmp, const char *rcpt, const char *from, int fd, off_t off,
			 size_t len, struct err *e)
{
	char hdr[2 * 1100], r[1024], f[1024];
	int out = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (out < 0)
		return err_set(e, "create %s: %s", tmp, strerror(errno));
	header_value(r, sizeof r, rcpt);
	header_value(f, sizeof f, from);
	int n = snprintf(hdr, sizeof hdr, "Return-Path: <%s>\nDelivered-To: %s\n", f, r);
	int rc = 0;
	if (fs_write_full(out, hdr, (size_t)n) < 0)
		rc = err_set(e, "write %s: %s", tmp, strerror(errno));
	if (!rc)
		rc = copy_lf(out, fd, off, len, e);
	if (!rc && fsync(out) < 0)
		rc = err_set(e, "fsync %s: %s", tmp, strerror(errno));
	if (close(out) < 0 && !rc)
		rc = err_set(e, "close %s: %s", tmp, strerror(errno));
	return rc;
}

int maildir_deliver(const char *dir, const char *rcpt, const char *mail_from, int fd, off_t off,
		    size_t len, struct err *e)
{
	char name[NAME_MAX_LEN + 1], path[4096], uniq[256], tmp[4500], dst[4500], newdir[4200];
	if (!dir || !*dir || fd < 0 || off < 0)
		return err_set(e, "maildir: bad arguments");
	if (maildir_rcpt_name(rcpt, name, sizeof name) < 0)
		return err_set(e, "maildir: unusable recipient address");
	if (snprintf(path, sizeof path, "%s/%s", dir, name) >= (int)sizeof path)
		return err_set(e, "maildir: path too long");
	if (make_maildir(dir, path, e) < 0)
		return -1;
	unique_name(uniq, sizeof uniq);
	snprintf(tmp, sizeof tmp, "%s/tmp/%s", path, uniq);
	snprintf(dst, sizeof dst, "%s/new/%s", path, uniq);
	snprintf(newdir, sizeof newdir, "%s/new", path);
	if (write_message(tmp, rcpt, mail_from ? mail_from : "", fd, off, len, e) < 0) {
		unlink(tmp);
		return -1;
	}
	/* link() never replaces an existing file; rename() where the file
	 * system cannot link */
	if (link(tmp, dst) < 0) {
		if (errno == EEXIST || rename(tmp, dst) < 0) {
			err_set(e, "deliver %s: %s", dst, strerror(errno));
			unlink(tmp);
			return -1;
		}
	} else {
		unlink(tmp);
	}
	return fs_fsync_dir(newdir, e);
}
