/* HTML to text for scanning (not display): a single forward pass, no DOM,
 * linear in the input. Tags go, script/style/comments go with their
 * content, entities are decoded, block elements become line breaks and
 * runs of white space collapse. URL-bearing attributes are reported. */
#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mail/msgview_int.h"

struct entity {
	const char *name;
	unsigned cp;
};

/* The entities mail actually uses; unknown names stay literal. */
static const struct entity entities[] = {
	{"amp", '&'}, {"lt", '<'}, {"gt", '>'}, {"quot", '"'}, {"apos", '\''},
	{"nbsp", 0xa0}, {"iexcl", 0xa1}, {"cent", 0xa2}, {"pound", 0xa3}, {"curren", 0xa4},
	{"yen", 0xa5}, {"brvbar", 0xa6}, {"sect", 0xa7}, {"uml", 0xa8}, {"copy", 0xa9},
	{"ordf", 0xaa}, {"laquo", 0xab}, {"not", 0xac}, {"shy", 0xad}, {"reg", 0xae},
	{"macr", 0xaf}, {"deg", 0xb0}, {"plusmn", 0xb1}, {"sup2", 0xb2}, {"sup3", 0xb3},
	{"acute", 0xb4}, {"micro", 0xb5}, {"para", 0xb6}, {"middot", 0xb7}, {"cedil", 0xb8},
	{"sup1", 0xb9}, {"ordm", 0xba}, {"raquo", 0xbb}, {"frac14", 0xbc}, {"frac12", 0xbd},
	{"frac34", 0xbe}, {"iquest", 0xbf}, {"Agrave", 0xc0}, {"Aacute", 0xc1}, {"Acirc", 0xc2},
	{"Atilde", 0xc3}, {"Auml", 0xc4}, {"Aring", 0xc5}, {"AElig", 0xc6}, {"Ccedil", 0xc7},
	{"Egrave", 0xc8}, {"Eacute", 0xc9}, {"Ecirc", 0xca}, {"Euml", 0xcb}, {"Igrave", 0xcc},
	{"Iacute", 0xcd}, {"Icirc", 0xce}, {"Iuml", 0xcf}, {"ETH", 0xd0}, {"Ntilde", 0xd1},
	{"Ograve", 0xd2}, {"Oacute", 0xd3}, {"Ocirc", 0xd4}, {"Otilde", 0xd5}, {"Ouml", 0xd6},
	{"times", 0xd7}, {"Oslash", 0xd8}, {"Ugrave", 0xd9}, {"Uacute", 0xda}, {"Ucirc", 0xdb},
	{"Uuml", 0xdc}, {"Yacute", 0xdd}, {"THORN", 0xde}, {"szlig", 0xdf}, {"agrave", 0xe0},
	{"aacute", 0xe1}, {"acirc", 0xe2}, {"atilde", 0xe3}, {"auml", 0xe4}, {"aring", 0xe5},
	{"aelig", 0xe6}, {"ccedil", 0xe7}, {"egrave", 0xe8}, {"eacute", 0xe9}, {"ecirc", 0xea},
	{"euml", 0xeb}, {"igrave", 0xec}, {"iacute", 0xed}, {"icirc", 0xee}, {"iuml", 0xef},
	{"eth", 0xf0}, {"ntilde", 0xf1}, {"ograve", 0xf2}, {"oacute", 0xf3}, {"ocirc", 0xf4},
	{"otilde", 0xf5}, {"ouml", 0xf6}, {"divide", 0xf7}, {"oslash", 0xf8}, {"ugrave", 0xf9},
	{"uacute", 0xfa}, {"ucirc", 0xfb}, {"uuml", 0xfc}, {"yacute", 0xfd}, {"thorn", 0xfe},
	{"yuml", 0xff}, {"euro", 0x20ac}, {"trade", 0x2122}, {"hellip", 0x2026},
	{"mdash", 0x2014}, {"ndash", 0x2013}, {"lsquo", 0x2018}, {"rsquo", 0x2019},
	{"ldquo", 0x201c}, {"rdquo", 0x201d}, {"bull", 0x2022}, {"dagger", 0x2020},
	{"zwnj", 0x200c}, {"zwj", 0x200d}, {"ensp", 0x2002}, {"emsp", 0x2003},
	{"thinsp", 0x2009},
};

static size_t put_cp(unsigned cp, char *out)
{
	/* NUL, surrogates and out-of-range numbers decode to U+FFFD */
	if (cp == 0 || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		cp = 0xfffd;
	return (size_t)g_unichar_to_utf8(cp, out);
}

static size_t entity_numeric(const char *s, size_t n, char *out, size_t *used)
{
	size_t i = 1; /* after '#' */
	int hex = 0;
	if (i < n && (s[i] == 'x' || s[i] == 'X')) {
		hex = 1;
		i++;
	}
	size_t start = i;
	unsigned long cp = 0;
	for (; i < n && i - start < 8; i++) {
		int c = (unsigned char)s[i], d;
		if (c >= '0' && c <= '9')
			d = c - '0';
		else if (hex && c >= 'a' && c <= 'f')
			d = c - 'a' + 10;
		else if (hex && c >= 'A' && c <= 'F')
			d = c - 'A' + 10;
		else
			break;
		cp = cp * (hex ? 16 : 10) + (unsigned long)d;
	}
	if (i == start)
		return 0;
	if (i < n && s[i] == ';')
		i++;
	*used = i;
	return put_cp(cp > 0x10ffff ? 0xfffd : (unsigned)cp, out);
}

size_t html_entity_decode(const char *s, size_t n, char *out, size_t *used)
{
	if (n && s[0] == '#')
		return entity_numeric(s, n, out, used);
	size_t len = 0;
	while (len < n && len < 8 && g_ascii_isalnum(s[len]))
		len++;
	if (!len)
		return 0;
	for (size_t i = 0; i < sizeof entities / sizeof entities[0]; i++) {
		const char *nm = entities[i].name;
		size_t nl = strlen(nm);
		/* the legacy forms without ';' ("&amp", "&nbsp") are accepted */
		if (nl <= len && strncmp(s, nm, nl) == 0 && (nl == len || s[nl] == ';')) {
			*used = nl + (nl < n && s[nl] == ';');
			return put_cp(entities[i].cp, out);
		}
	}
	return 0;
}

struct render {
	struct buf *out;
	int space;    /* a white space is pending */
	int newline;  /* a line break is pending */
	int full;
};

static void emit_sep(struct render *r)
{
	if (!r->out->len) {
		r->space = r->newline = 0;
		return;
	}
	if (r->newline) {
		if (buf_putc(r->out, '\n') < 0)
			r->full = 1;
	} else if (r->space) {
		if (buf_putc(r->out, ' ') < 0)
			r->full = 1;
	}
	r->space = r->newline = 0;
}

static void emit(struct render *r, const char *p, size_t n)
{
	if (r->space || r->newline)
		emit_sep(r);
	if (buf_append(r->out, p, n) < 0)
		r->full = 1;
}

/* Text between tags: entities decoded, white space collapsed. */
static void render_text(struct render *r, const char *s, size_t n)
{
	size_t i = 0;
	while (i < n && !r->full) {
		unsigned char c = (unsigned char)s[i];
		if (c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f') {
			r->space = 1;
			i++;
		} else if (c == '&') {
			char u[8];
			size_t used = 0;
			size_t k = html_entity_decode(s + i + 1, n - i - 1, u, &used);
			if (k == 2 && (unsigned char)u[0] == 0xc2 && (unsigned char)u[1] == 0xa0) {
				r->space = 1; /* &nbsp; is a space for word splitting */
			} else if (k) {
				emit(r, u, k);
			} else {
				emit(r, "&", 1);
				used = 0;
			}
			i += 1 + used;
		} else {
			size_t j = i + 1;
			while (j < n && s[j] != '&' && s[j] != '<' && !g_ascii_isspace(s[j]))
				j++;
			emit(r, s + i, j - i);
			i = j;
		}
	}
}

/* Elements whose boundaries end a line of text. */
static const char *const block_tags[] = {
	"br", "p", "div", "tr", "li", "ul", "ol", "table", "h1", "h2", "h3", "h4", "h5", "h6",
	"hr", "blockquote", "pre", "center", "title", "dd", "dt", "dl", "form", "address",
	"body", "head", "html",
};

/* Elements that separate words without breaking the line; any other
 * inline tag joins its neighbours ("F<b>RE</b>E" reads "FREE"). */
static const char *const space_tags[] = {
	"td", "th", "img", "input", "option", "select", "textarea", "button", "area", "frame",
	"iframe", "caption", "label",
};

/* Attributes whose values are URLs. */
static const char *const url_attrs[] = {
	"href", "src", "action", "background", "lowsrc", "dynsrc", "data", "cite", "longdesc",
};

static int in_list(const char *name, size_t n, const char *const *list, size_t count)
{
	for (size_t i = 0; i < count; i++)
		if (strlen(list[i]) == n && strncasecmp(list[i], name, n) == 0)
			return 1;
	return 0;
}

/* Decodes entities of an attribute value and reports it as a URL. */
static void attr_url(const char *v, size_t n, html_url_fn fn, void *ctx)
{
	char tmp[2048];
	size_t o = 0;
	for (size_t i = 0; i < n && o + 8 < sizeof tmp; i++) {
		if (v[i] == '&') {
			size_t used = 0;
			size_t k = html_entity_decode(v + i + 1, n - i - 1, tmp + o, &used);
			if (k) {
				o += k;
				i += used;
				continue;
			}
		}
		tmp[o++] = v[i];
	}
	if (o)
		fn(ctx, tmp, o);
}

/* Parses the attributes of a tag in s[0..n) (after its name). */
static void tag_attrs(const char *s, size_t n, html_url_fn fn, void *ctx)
{
	size_t i = 0;
	while (i < n) {
		while (i < n && (g_ascii_isspace(s[i]) || s[i] == '/'))
			i++;
		size_t ns = i;
		while (i < n && s[i] != '=' && !g_ascii_isspace(s[i]) && s[i] != '/')
			i++;
		size_t nl = i - ns;
		while (i < n && g_ascii_isspace(s[i]))
			i++;
		if (i >= n || s[i] != '=') {
			if (nl == 0)
				i++;
			continue;
		}
		i++;
		while (i < n && g_ascii_isspace(s[i]))
			i++;
		size_t vs, ve;
		if (i < n && (s[i] == '"' || s[i] == '\'')) {
			char q = s[i++];
			vs = i;
			while (i < n && s[i] != q)
				i++;
			ve = i;
			if (i < n)
				i++;
		} else {
			vs = i;
			while (i < n && !g_ascii_isspace(s[i]))
				i++;
			ve = i;
		}
		if (fn && in_list(s + ns, nl, url_attrs, sizeof url_attrs / sizeof url_attrs[0]))
			attr_url(s + vs, ve - vs, fn, ctx);
	}
}

/* Finds the end of a tag starting at s[0] == '<', honouring quotes;
 * returns the index of '>' or n. A quote still open at the next '<' is
 * taken as broken and the first '>' wins, so the scan stays linear. */
static size_t tag_end(const char *s, size_t n)
{
	char q = 0;
	for (size_t i = 1; i < n; i++) {
		if (q) {
			if (s[i] == q)
				q = 0;
			else if (s[i] == '<')
				break;
		} else if (s[i] == '"' || s[i] == '\'') {
			if (g_ascii_isspace(s[i - 1]) || s[i - 1] == '=')
				q = s[i];
		} else if (s[i] == '>') {
			return i;
		}
	}
	const char *gt = memchr(s + 1, '>', n - 1);
	return gt ? (size_t)(gt - s) : n;
}

/* Skips raw-text content of script/style up to the closing tag. */
static size_t skip_raw(const char *s, size_t n, const char *name)
{
	size_t nl = strlen(name);
	for (size_t i = 0; i + 2 + nl <= n; i++)
		if (s[i] == '<' && s[i + 1] == '/' && strncasecmp(s + i + 2, name, nl) == 0)
			return i;
	return n;
}

static size_t skip_comment(const char *s, size_t n)
{
	/* s points at "<!--" */
	for (size_t i = 4; i + 2 < n; i++)
		if (s[i] == '-' && s[i + 1] == '-' && s[i + 2] == '>')
			return i + 3;
	return n;
}

int html_to_text(const char *html, size_t len, struct buf *out, html_url_fn fn, void *ctx)
{
	struct render r = {.out = out};
	size_t i = 0;
	while (i < len && !r.full) {
		const char *lt = memchr(html + i, '<', len - i);
		size_t stop = lt ? (size_t)(lt - html) : len;
		render_text(&r, html + i, stop - i);
		if (stop >= len)
			break;
		const char *t = html + stop;
		size_t rest = len - stop;
		if (rest >= 4 && strncmp(t, "<!--", 4) == 0) {
			/* comments vanish without a gap, as in a browser */
			i = stop + skip_comment(t, rest);
			continue;
		}
		if (rest < 2 || !(g_ascii_isalpha(t[1]) || t[1] == '/' || t[1] == '!' || t[1] == '?')) {
			emit(&r, "<", 1);
			i = stop + 1;
			continue;
		}
		size_t e = tag_end(t, rest);
		size_t ns = (t[1] == '/') ? 2 : 1, ne = ns;
		while (ne < e && (g_ascii_isalnum(t[ne]) || t[ne] == ':' || t[ne] == '-'))
			ne++;
		const char *name = t + ns;
		size_t nl = ne - ns;
		if (t[1] != '/' && g_ascii_isalpha(t[1]))
			tag_attrs(t + ne, e - ne, fn, ctx);
		i = stop + (e < rest ? e + 1 : rest);
		if (in_list(name, nl, block_tags, sizeof block_tags / sizeof block_tags[0]))
			r.newline = 1;
		else if (in_list(name, nl, space_tags, sizeof space_tags / sizeof space_tags[0]))
			r.space = 1;
		if (t[1] != '/' && (in_list(name, nl, (const char *const[]){"script"}, 1) ||
				    in_list(name, nl, (const char *const[]){"style"}, 1))) {
			char nm[8];
			snprintf(nm, sizeof nm, "%.*s", (int)nl, name);
			i += skip_raw(html + i, len - i, nm);
		}
	}
	if (r.full)
		return -1;
	return 0;
}
