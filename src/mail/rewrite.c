#include "mail/rewrite.h"

#include <errno.h>
#include <string.h>
#include <strings.h>

#include "util/buf.h"
#include "util/fsutil.h"

/* End of the header block: offset just past the empty line, or len. */
static size_t header_end(const char *data, size_t len)
{
	for (size_t i = 0; i + 1 < len; i++) {
		if (data[i] != '\n')
			continue;
		if (data[i + 1] == '\n')
			return i + 2;
		if (data[i + 1] == '\r' && i + 2 < len && data[i + 2] == '\n')
			return i + 3;
	}
	return len;
}

/* Offset of the first "Subject:" header line start within [0, end), or
 * -1. */
static long find_subject(const char *data, size_t end)
{
	size_t line = 0;
	while (line < end) {
		if (end - line >= 8 && strncasecmp(data + line, "Subject:", 8) == 0)
			return (long)line;
		const char *nl = memchr(data + line, '\n', end - line);
		if (!nl)
			break;
		line = (size_t)(nl - data) + 1;
	}
	return -1;
}

int rewrite_tag(const char *data, size_t len, const char *prefix, const char *headers, int fd,
		struct err *e)
{
	size_t hend = header_end(data, len);
	long subj = find_subject(data, hend);
	struct buf head;
	buf_init(&head, 1u << 20);
	buf_puts(&head, headers);
	int rc;
	if (subj < 0) {
		buf_printf(&head, "Subject: %s\r\n", prefix);
		rc = fs_write_full(fd, head.data, head.len) | fs_write_full(fd, data, len);
	} else {
		size_t at = (size_t)subj + 8;
		while (at < hend && (data[at] == ' ' || data[at] == '\t'))
			at++;
		size_t plen = strlen(prefix);
		int already = hend - at >= plen && strncasecmp(data + at, prefix, plen) == 0;
		rc = fs_write_full(fd, head.data, head.len) | fs_write_full(fd, data, at);
		if (!already && plen)
			rc |= fs_write_full(fd, prefix, plen) | fs_write_full(fd, " ", 1);
		rc |= fs_write_full(fd, data + at, len - at);
	}
	buf_free(&head);
	if (rc)
		return err_set(e, "write tagged copy: %s", strerror(errno));
	return 0;
}
