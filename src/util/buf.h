/* Growable byte buffer with a hard maximum, and a read-only slice. */
#ifndef RAMPART_UTIL_BUF_H
#define RAMPART_UTIL_BUF_H

#include <stdarg.h>
#include <stddef.h>

struct buf {
	char *data;   /* always NUL-terminated when non-NULL */
	size_t len;
	size_t cap;
	size_t max;   /* appends beyond this fail with -1 */
};

struct slice {
	const char *p;
	size_t n;
};

void buf_init(struct buf *b, size_t max);
void buf_free(struct buf *b);
void buf_reset(struct buf *b);
int buf_append(struct buf *b, const void *p, size_t n);
int buf_puts(struct buf *b, const char *s);
int buf_putc(struct buf *b, char c);
int buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int buf_vprintf(struct buf *b, const char *fmt, va_list ap);
/* Hands ownership of the bytes to the caller; the buffer becomes empty. */
char *buf_steal(struct buf *b);

struct slice slice_from(const char *s);
int slice_eq_nocase(struct slice a, const char *s);

#endif
