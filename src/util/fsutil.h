/* Durable file helpers: everything that must survive a power cut goes
 * through these (write to a temporary name, fsync, rename, fsync dir). */
#ifndef RAMPART_UTIL_FSUTIL_H
#define RAMPART_UTIL_FSUTIL_H

#include <stddef.h>
#include <sys/types.h>

#include "util/err.h"

int fs_mkdir_p(const char *path, int mode, struct err *e);
int fs_fsync_dir(const char *dir, struct err *e);
/* Writes data to path atomically and durably. */
int fs_write_atomic(const char *path, const void *data, size_t len, int mode, struct err *e);
/* Reads a whole file (up to max bytes) into a malloc'd NUL-terminated
 * buffer. */
int fs_read_all(const char *path, size_t max, char **out, size_t *outlen, struct err *e);
/* Up to len - 1 bytes of a small file into buf, NUL-terminated (also for
 * /proc files, whose size reads as 0): the byte count, -1 when the file
 * cannot be opened or read. */
ssize_t fs_read_into(const char *path, char *buf, size_t len);
/* Directory part of path into out. */
void fs_dirname(const char *path, char *out, size_t outlen);
int fs_write_full(int fd, const void *data, size_t len);

#endif
