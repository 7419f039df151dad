/* URL finding and normalising for the message view. Normal form:
 * scheme "://" host [":" port] path, scheme and host lower case, user info
 * and default ports dropped, percent-encoded hosts decoded, punycode shown
 * as UTF-8, numeric hosts as dotted quads, obfuscated schemes (hxxp, h**p)
 * and bare "www." given http. mailto: keeps the lower-cased address. */
#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mail/msgview_int.h"

#define URI_MAX_LEN 2048
/* Candidates normalised per message: hostile text repeating URLs must not
 * cost more than this. */
#define URI_MAX_TRIED 20000

struct scheme_map {
	const char *in;
	const char *out;
};

static const struct scheme_map schemes[] = {
	{"http", "http"}, {"https", "https"}, {"ftp", "ftp"}, {"hxxp", "http"},
	{"hxxps", "https"}, {"h**p", "http"}, {"h**ps", "https"}, {"hxtp", "http"},
	{"htp", "http"}, {"ttp", "http"}, {"fxp", "ftp"},
};

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c |= 0x20;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

static const char *scheme_canon(const char *s, size_t n)
{
	for (size_t i = 0; i < sizeof schemes / sizeof schemes[0]; i++)
		if (strlen(schemes[i].in) == n && strncasecmp(schemes[i].in, s, n) == 0)
			return schemes[i].out;
	return NULL;
}

static int default_port(const char *scheme, unsigned long port)
{
	return (port == 80 && strcmp(scheme, "http") == 0) ||
	       (port == 443 && strcmp(scheme, "https") == 0) ||
	       (port == 21 && strcmp(scheme, "ftp") == 0);
}

/* A host that is one number (decimal or 0x hex) is an IPv4 address. */
static int host_numeric(const char *h, char *out, size_t outlen)
{
	unsigned long long v = 0;
	int hex = (h[0] == '0' && (h[1] == 'x' || h[1] == 'X'));
	const char *p = h + (hex ? 2 : 0);
	if (!*p || strlen(p) > 16)
		return 0;
	for (; *p; p++) {
		int d = hex ? hexval((unsigned char)*p) : (*p >= '0' && *p <= '9' ? *p - '0' : -1);
		if (d < 0)
			return 0;
		v = v * (hex ? 16 : 10) + (unsigned)d;
	}
	if (v > 0xffffffffULL)
		return 0;
	snprintf(out, outlen, "%u.%u.%u.%u", (unsigned)(v >> 24) & 255, (unsigned)(v >> 16) & 255,
		 (unsigned)(v >> 8) & 255, (unsigned)v & 255);
	return 1;
}

/* Decodes, lower-cases and checks a host; writes it into out. */
static int host_normalize(const char *s, size_t n, struct buf *out)
{
	char h[512];
	size_t o = 0;
	for (size_t i = 0; i < n && o + 1 < sizeof h; i++) {
		int c = (unsigned char)s[i];
		if (c == '%' && i + 2 < n && hexval(s[i + 1]) >= 0 && hexval(s[i + 2]) >= 0) {
			c = hexval(s[i + 1]) * 16 + hexval(s[i + 2]);
			i += 2;
		}
		if (c < 0x80 && !g_ascii_isalnum(c) && c != '-' && c != '.' && c != '_')
			return -1;
		h[o++] = (char)g_ascii_tolower(c);
	}
	while (o && h[o - 1] == '.')
		o--;
	h[o] = '\0';
	if (!o || !g_utf8_validate(h, (gssize)o, NULL))
		return -1;
	char ip[16];
	if (host_numeric(h, ip, sizeof ip))
		return buf_puts(out, ip);
	if (!strchr(h, '.'))
		return -1;
	int rc;
	if (strstr(h, "xn--")) {
		char *u = g_hostname_to_unicode(h);
		rc = buf_puts(out, u ? u : h);
		g_free(u);
	} else if (!g_str_is_ascii(h)) {
		char *u = g_utf8_strdown(h, (gssize)o);
		rc = buf_puts(out, u);
		g_free(u);
	} else {
		rc = buf_puts(out, h);
	}
	return rc;
}

static int mailto_normalize(const char *s, size_t n, struct buf *out)
{
	size_t e = 0;
	while (e < n && s[e] != '?')
		e++;
	if (!e || !memchr(s, '@', e) || buf_puts(out, "mailto:") < 0)
		return -1;
	for (size_t i = 0; i < e; i++)
		if (buf_putc(out, (char)g_ascii_tolower(s[i])) < 0)
			return -1;
	return 0;
}

/* Copies s without white space and control bytes (attribute values can
 * be wrapped over lines). */
static size_t squeeze(const char *s, size_t n, char *out, size_t outlen)
{
	size_t o = 0;
	for (size_t i = 0; i < n && o + 1 < outlen; i++)
		if ((unsigned char)s[i] > ' ' && s[i] != 0x7f)
			out[o++] = s[i];
	while (o && (out[o - 1] == '"' || out[o - 1] == '\'' || out[o - 1] == '>'))
		o--;
	size_t st = 0;
	while (st < o && (out[st] == '"' || out[st] == '\'' || out[st] == '<'))
		st++;
	memmove(out, out + st, o - st);
	out[o - st] = '\0';
	return o - st;
}

int uri_normalize(const char *in, size_t inlen, struct buf *out)
{
	char s[URI_MAX_LEN];
	size_t n = squeeze(in, inlen, s, sizeof s);
	buf_reset(out);
	size_t i = 0;
	while (i < n && (g_ascii_isalnum(s[i]) || s[i] == '*' || s[i] == '+' || s[i] == '.'))
		i++;
	const char *scheme;
	size_t rest;
	if (i == 6 && i < n && s[i] == ':' && strncasecmp(s, "mailto", 6) == 0)
		return mailto_normalize(s + 7, n - 7, out);
	if (i < n && s[i] == ':' && i > 0 && (scheme = scheme_canon(s, i)) != NULL) {
		rest = i + 1;
		/* "http:/x", "http:\\x" and "http:x" all reach host x in browsers */
		while (rest < n && (s[rest] == '/' || s[rest] == '\\'))
			rest++;
	} else if (n > 2 && s[0] == '/' && s[1] == '/') {
		scheme = "http";
		rest = 2;
	} else if (n > 4 && strncasecmp(s, "www.", 4) == 0) {
		scheme = "http";
		rest = 0;
	} else {
		return -1; /* relative, or a scheme we do not follow (cid:, data:) */
	}
	size_t ae = rest;
	while (ae < n && s[ae] != '/' && s[ae] != '?' && s[ae] != '#' && s[ae] != '\\')
		ae++;
	size_t hs = rest;
	for (size_t k = rest; k < ae; k++)
		if (s[k] == '@')
			hs = k + 1;
	size_t he = hs;
	while (he < ae && s[he] != ':')
		he++;
	if (buf_printf(out, "%s://", scheme) < 0 || host_normalize(s + hs, he - hs, out) < 0)
		return -1;
	if (he < ae) {
		char *end;
		char port[8];
		snprintf(port, sizeof port, "%.*s", (int)(ae - he - 1 < 6 ? ae - he - 1 : 6), s + he + 1);
		unsigned long p = strtoul(port, &end, 10);
		if (*port && !*end && p && p < 65536 && !default_port(scheme, p))
			buf_printf(out, ":%lu", p);
	}
	if (ae >= n || (s[ae] != '/' && s[ae] != '\\'))
		buf_putc(out, '/');
	for (size_t k = ae; k < n; k++)
		buf_putc(out, s[k] == '\\' ? '/' : s[k]);
	return out->len ? 0 : -1;
}

void uri_list_add(struct uri_list *l, const char *s, size_t n)
{
	if (l->full)
		return;
	if (++l->tried > URI_MAX_TRIED) {
		l->full = 1;
		return;
	}
	struct buf b;
	buf_init(&b, URI_MAX_LEN + 64);
	if (uri_normalize(s, n, &b) < 0 || !b.len) {
		buf_free(&b);
		return;
	}
	unsigned h = g_str_hash(b.data);
	for (size_t i = 0; i < l->n; i++)
		if (l->hash[i] == h && strcmp(l->v[i], b.data) == 0) {
			buf_free(&b);
			return;
		}
	if (l->n >= MSGVIEW_MAX_URIS) {
		l->full = 1;
		buf_free(&b);
		return;
	}
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 8;
		char **nv = realloc(l->v, cap * sizeof *nv);
		if (nv)
			l->v = nv;
		unsigned *nh = realloc(l->hash, cap * sizeof *nh);
		if (nh)
			l->hash = nh;
		if (!nv || !nh) {
			buf_free(&b);
			return;
		}
		l->cap = cap;
	}
	l->hash[l->n] = h;
	l->v[l->n++] = buf_steal(&b);
}

static int url_char(unsigned char c)
{
	return c > ' ' && c != '<' && c != '>' && c != '"' && c != 0x7f && c != '`' && c != '{' &&
	       c != '}' && c != '|' && c != '^';
}

/* Length of a URL prefix at t (scheme with "://" or "www."), 0 if none. */
static size_t url_prefix(const char *t, size_t n)
{
	/* cheap pre-check on the second letter before the full compares */
	int c2 = n > 1 ? t[1] | 0x20 : 0;
	if (c2 != 't' && c2 != 'x' && c2 != '*' && c2 != 'w' && c2 != 'a')
		return 0;
	static const char *const pre[] = {"http://", "https://", "hxxp://", "hxxps://", "h**p://",
					  "h**ps://", "ftp://", "www.", "mailto:"};
	for (size_t i = 0; i < sizeof pre / sizeof pre[0]; i++) {
		size_t pl = strlen(pre[i]);
		if (n > pl && strncasecmp(t, pre[i], pl) == 0)
			return pl;
	}
	return 0;
}

void uri_scan_text(struct uri_list *l, const char *text, size_t len)
{
	for (size_t i = 0; i < len && !l->full; i++) {
		unsigned char c = (unsigned char)text[i] | 0x20;
		if (c != 'h' && c != 'f' && c != 'w' && c != 'm')
			continue;
		if (i && (g_ascii_isalnum(text[i - 1]) || text[i - 1] == '.' || text[i - 1] == '@'))
			continue;
		size_t pl = url_prefix(text + i, len - i);
		if (!pl)
			continue;
		size_t e = i + pl;
		while (e < len && e - i < URI_MAX_LEN && url_char((unsigned char)text[e]))
			e++;
		/* sentence punctuation and closing brackets are not part of it */
		while (e > i + pl && strchr(".,;:!?)]}'*", text[e - 1]))
			e--;
		if (e > i + pl)
			uri_list_add(l, text + i, e - i);
		i = e ? e - 1 : e;
	}
}

void uri_list_free(struct uri_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	free(l->hash);
	memset(l, 0, sizeof *l);
}
