/* Charset conversion for the message view: everything becomes valid
 * UTF-8, never failing on bad input (bad bytes become U+FFFD, NUL becomes
 * a space). Uses GMime's iconv cache, which is thread-safe. */
#include <errno.h>
#include <gmime/gmime.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mail/msgview_int.h"

static const char replacement[] = "\xef\xbf\xbd";

/* Appends n bytes that should be UTF-8, repairing what is not. */
static int append_valid(struct buf *out, const char *p, size_t n)
{
	while (n) {
		const gchar *end;
		if (g_utf8_validate(p, (gssize)n, &end)) {
			return buf_append(out, p, n);
		}
		size_t ok = (size_t)(end - p);
		if (ok && buf_append(out, p, ok) < 0)
			return -1;
		p += ok;
		n -= ok;
		/* one bad byte (or NUL) at p */
		if (*p == '\0') {
			if (buf_putc(out, ' ') < 0)
				return -1;
		} else if (buf_append(out, replacement, 3) < 0) {
			return -1;
		}
		p++;
		n--;
	}
	return 0;
}

char *utf8_sanitize(const char *s, size_t n)
{
	struct buf b;
	buf_init(&b, n * 3 + 1);
	if (append_valid(&b, s, n) < 0) {
		buf_free(&b);
		return NULL;
	}
	return buf_steal(&b);
}

static int is_utf8_name(const char *cs)
{
	return strcasecmp(cs, "utf-8") == 0 || strcasecmp(cs, "utf8") == 0;
}

/* Charsets that are ASCII supersets where 8-bit bytes mean nothing
 * certain: treat as "unknown". */
static int is_vague_name(const char *cs)
{
	static const char *const vague[] = {"us-ascii", "ascii", "ansi_x3.4-1968", "x-unknown",
					    "unknown", "default", "7bit", "8bit", ""};
	for (size_t i = 0; i < sizeof vague / sizeof vague[0]; i++)
		if (strcasecmp(cs, vague[i]) == 0)
			return 1;
	return 0;
}

static int iconv_run(iconv_t cd, const char *in, size_t len, struct buf *out)
{
	char tmp[8192];
	char *inp = (char *)(uintptr_t)in;
	size_t inleft = len;
	iconv(cd, NULL, NULL, NULL, NULL);
	for (;;) {
		char *outp = tmp;
		size_t outleft = sizeof tmp;
		size_t r = inleft ? iconv(cd, &inp, &inleft, &outp, &outleft)
				  : iconv(cd, NULL, NULL, &outp, &outleft);
		int err = errno;
		if (outp > tmp && append_valid(out, tmp, (size_t)(outp - tmp)) < 0)
			return -1;
		if (r != (size_t)-1) {
			if (!inleft)
				return 0;
			continue;
		}
		if (err == E2BIG)
			continue;
		if (buf_append(out, replacement, 3) < 0)
			return -1;
		if (err != EILSEQ || !inleft)
			return 0; /* EINVAL: truncated sequence at the end */
		inp++;
		inleft--;
	}
}

/* iconv_open loads a gconv module each time (a dlopen): keep a few open
 * converters per thread. Closed when the thread exits. */
#define CS_CACHE 8

struct cs_cache {
	char name[CS_CACHE][40];
	iconv_t cd[CS_CACHE];
	unsigned next;
};

static pthread_key_t cs_key;
static pthread_once_t cs_once = PTHREAD_ONCE_INIT;

static void cs_cache_free(void *p)
{
	struct cs_cache *c = p;
	for (int i = 0; i < CS_CACHE; i++)
		if (c->name[i][0])
			g_mime_iconv_close(c->cd[i]);
	free(c);
}

static void cs_key_init(void)
{
	pthread_key_create(&cs_key, cs_cache_free);
}

/* A converter to UTF-8, or (iconv_t)-1. Owned by the cache. */
static iconv_t cs_open(const char *cs)
{
	pthread_once(&cs_once, cs_key_init);
	struct cs_cache *c = pthread_getspecific(cs_key);
	if (!c) {
		c = calloc(1, sizeof *c);
		if (!c || pthread_setspecific(cs_key, c) != 0) {
			free(c);
			return (iconv_t)-1;
		}
	}
	for (int i = 0; i < CS_CACHE; i++)
		if (c->name[i][0] && strcasecmp(c->name[i], cs) == 0)
			return c->cd[i];
	if (strlen(cs) >= sizeof c->name[0])
		return (iconv_t)-1;
	iconv_t cd = g_mime_iconv_open("UTF-8", cs);
	if (cd == (iconv_t)-1)
		return cd;
	unsigned slot = c->next++ % CS_CACHE;
	if (c->name[slot][0])
		g_mime_iconv_close(c->cd[slot]);
	snprintf(c->name[slot], sizeof c->name[slot], "%s", cs);
	c->cd[slot] = cd;
	return cd;
}

int charset_to_utf8(const char *charset, const char *in, size_t len, struct buf *out)
{
	const char *cs = charset;
	if (!cs || is_vague_name(cs) || is_utf8_name(cs)) {
		if (g_utf8_validate(in, (gssize)len, NULL))
			return buf_append(out, in, len);
		/* declared UTF-8 but broken: repair rather than guess */
		if (cs && is_utf8_name(cs))
			return append_valid(out, in, len);
		cs = "windows-1252";
	} else {
		/* the windows code pages are supersets that mailers use under
		 * the ISO names */
		const char *w = g_mime_charset_iso_to_windows(cs);
		if (w)
			cs = w;
	}
	iconv_t cd = cs_open(cs);
	if (cd == (iconv_t)-1) {
		if (g_utf8_validate(in, (gssize)len, NULL))
			return buf_append(out, in, len);
		cd = cs_open("windows-1252");
		if (cd == (iconv_t)-1)
			return append_valid(out, in, len);
	}
	return iconv_run(cd, in, len, out);
}
