#include "util/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

static enum log_level min_level = LOG_LVL_INFO;
static const char *ident = "rampart";

void log_set_level(enum log_level lvl)
{
	min_level = lvl;
}

void log_set_ident(const char *id)
{
	ident = id;
}

static void log_vwrite(const char *tag, const char *fmt, va_list ap)
{
	char line[2048];
	struct timeval tv;
	struct tm tm;
	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	int n = (int)strftime(line, sizeof line, "%Y-%m-%dT%H:%M:%S", &tm);
	n += snprintf(line + n, sizeof line - (size_t)n, ".%03dZ %s %s: ", (int)(tv.tv_usec / 1000),
		      ident, tag);
	if (n < (int)sizeof line)
		vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
	/* one write() per line so concurrent threads never interleave */
	size_t len = strnlen(line, sizeof line - 2);
	line[len++] = '\n';
	fwrite(line, 1, len, stderr);
}

void log_msg(enum log_level lvl, const char *fmt, ...)
{
	static const char *tags[] = {"debug", "info", "warning", "error"};
	if (lvl < min_level)
		return;
	va_list ap;
	va_start(ap, fmt);
	log_vwrite(tags[lvl], fmt, ap);
	va_end(ap);
}

void log_fatal(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_vwrite("fatal", fmt, ap);
	va_end(ap);
	exit(1);
}

void log_panic(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_vwrite("panic", fmt, ap);
	va_end(ap);
	abort();
}

char *log_escape(char *out, size_t outlen, const char *src, size_t srclen, size_t cap)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;
	if (!outlen)
		return out;
	if (!src)
		src = "", srclen = 0;
	size_t i;
	for (i = 0; i < srclen && i < cap; i++) {
		unsigned char c = (unsigned char)src[i];
		if (c >= 0x20 && c < 0x7f && c != '\\') {
			if (o + 1 >= outlen)
				break;
			out[o++] = (char)c;
		} else {
			if (o + 4 >= outlen)
				break;
			out[o++] = '\\';
			out[o++] = 'x';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 15];
		}
	}
	if (i < srclen && o + 3 < outlen) {
		memcpy(out + o, "...", 3);
		o += 3;
	}
	out[o] = '\0';
	return out;
}

const char *log_esc(const char *s)
{
	static __thread char tbuf[4][256];
	static __thread int slot;
	char *out = tbuf[slot++ & 3];
	return log_escape(out, 256, s, s ? strlen(s) : 0, 200);
}
