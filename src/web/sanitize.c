/* A single forward pass over the HTML, linear in its length: no DOM, no
 * recursion. Text is re-escaped, tags are rebuilt from the allow-lists
 * below, raw-text elements (script, style, ...) are found by their end
 * tag the way a browser would. */
#include "web/sanitize.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "mail/msgview_int.h"

#define TAG_MAX 32
#define ATTR_NAME_MAX 32
#define ATTR_VALUE_MAX 8192
#define ATTRS_MAX 64

/* Tags dropped together with everything up to their end tag. */
static const char *const drop_content[] = {
	"script", "noscript", "iframe", "frame", "frameset", "object", "embed", "applet", "title",
	"template", "svg", "math", "textarea", "select", "audio", "video", "canvas", "noembed",
	"noframes", "xml",
};

/* Tags kept (with filtered attributes); any other tag is dropped and its
 * content kept. */
static const char *const allowed[] = {
	"a", "abbr", "address", "article", "aside", "b", "bdi", "bdo", "big", "blockquote", "br",
	"caption", "center", "cite", "code", "col", "colgroup", "dd", "del", "details", "dfn", "div",
	"dl", "dt", "em", "figcaption", "figure", "font", "footer", "h1", "h2", "h3", "h4", "h5",
	"h6", "header", "hr", "i", "img", "ins", "kbd", "li", "main", "mark", "nav", "ol", "p", "pre",
	"q", "s", "samp", "section", "small", "span", "strike", "strong", "sub", "summary", "sup",
	"table", "tbody", "td", "tfoot", "th", "thead", "time", "tr", "tt", "u", "ul", "var", "wbr",
};

static const char *const void_tags[] = {"br", "col", "hr", "img", "wbr"};

/* Presentational attributes that load nothing and run nothing. */
static const char *const plain_attrs[] = {
	"align", "alt", "bgcolor", "border", "cellpadding", "cellspacing", "color", "colspan",
	"dir", "face", "height", "hspace", "lang", "rowspan", "size", "span", "start", "summary",
	"title", "type", "valign", "vspace", "width", "nowrap", "abbr", "scope", "headers",
};

static const char placeholder_src[] =
	"data:image/svg+xml;base64,PHN2ZyB4bWxucz0naHR0cDovL3d3dy53My5vcmcvMjAwMC9zdmcnIHdpZHRoPScyNCcg"
	"aGVpZ2h0PScyNCc+PHJlY3Qgd2lkdGg9JzI0JyBoZWlnaHQ9JzI0JyBmaWxsPScjZGRkJy8+PC9zdmc+";

static int in_list(const char *name, const char *const *list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(name, list[i]) == 0)
			return 1;
	return 0;
}
#define IN(name, list) in_list(name, list, sizeof list / sizeof *list)

struct san {
	struct buf *out;
	int full;
	int images;
};

static void put(struct san *s, const char *p, size_t n)
{
	if (!s->full && buf_append(s->out, p, n) < 0)
		s->full = 1;
}

static void puts_(struct san *s, const char *p)
{
	put(s, p, strlen(p));
}

/* Text (already UTF-8) escaped for an element or a quoted attribute. */
static void put_escaped(struct san *s, const char *p, size_t n)
{
	size_t run = 0;
	for (size_t i = 0; i < n; i++) {
		const char *rep = NULL;
		switch (p[i]) {
		case '<': rep = "&lt;"; break;
		case '>': rep = "&gt;"; break;
		case '&': rep = "&amp;"; break;
		case '"': rep = "&quot;"; break;
		case '\0': rep = "\xef\xbf\xbd"; break;
		}
		if (!rep)
			continue;
		put(s, p + run, i - run);
		puts_(s, rep);
		run = i + 1;
	}
	put(s, p + run, n - run);
}

/* Entity-decoded copy of a value (what the browser would see). */
static size_t decode(const char *p, size_t n, char *out, size_t outlen)
{
	size_t o = 0;
	for (size_t i = 0; i < n && o + 8 < outlen;) {
		size_t used = 0, k;
		char tmp[8];
		if (p[i] == '&' && (k = html_entity_decode(p + i + 1, n - i - 1, tmp, &used)) > 0) {
			memcpy(out + o, tmp, k);
			o += k;
			i += 1 + used;
		} else {
			out[o++] = p[i++];
		}
	}
	out[o] = '\0';
	return o;
}

/* Text between tags: decoded, then escaped again. */
static void text(struct san *s, const char *p, size_t n)
{
	char tmp[4096 + 16];
	while (n) {
		size_t chunk = n > 4096 ? 4096 : n;
		/* never split an entity: stop before the last '&' of a chunk */
		if (chunk < n) {
			const char *amp = memchr(p + chunk - 16, '&', 16);
			if (amp)
				chunk = (size_t)(amp - p);
		}
		size_t k = decode(p, chunk, tmp, sizeof tmp);
		put_escaped(s, tmp, k);
		p += chunk;
		n -= chunk;
	}
}

/* Scheme check on a decoded URL with white space and controls removed
 * ("java\tscript:" is javascript: to a browser). */
static int url_scheme_is(const char *url, const char *scheme)
{
	char c[32];
	size_t k = 0;
	for (const char *p = url; *p && k < sizeof c - 1; p++)
		if ((unsigned char)*p > 0x20)
			c[k++] = (char)tolower((unsigned char)*p);
	c[k] = '\0';
	return strncmp(c, scheme, strlen(scheme)) == 0;
}

static int url_allowed(const char *url)
{
	return url_scheme_is(url, "http:") || url_scheme_is(url, "https:") ||
	       url_scheme_is(url, "mailto:");
}

static int data_image(const char *url)
{
	static const char *const ok[] = {"data:image/png;", "data:image/gif;", "data:image/jpeg;",
					 "data:image/jpg;", "data:image/webp;"};
	for (size_t i = 0; i < sizeof ok / sizeof *ok; i++)
		if (strncasecmp(url, ok[i], strlen(ok[i])) == 0)
			return !strpbrk(url, "\"'<> ");
	return 0;
}

/* Inline style: kept only when it cannot load or run anything. */
static int style_safe(const char *v)
{
	static const char *const bad[] = {"url", "expression", "javascript", "behavior",
					  "@import", "binding", "\\", "/*", "image-set", "src"};
	char low[ATTR_VALUE_MAX];
	size_t n = strlen(v);
	for (size_t i = 0; i <= n && i < sizeof low; i++)
		low[i] = (char)tolower((unsigned char)v[i]);
	low[sizeof low - 1] = '\0';
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
		if (strstr(low, bad[i]))
			return 0;
	return 1;
}

static void attr_out(struct san *s, const char *name, const char *value)
{
	put(s, " ", 1);
	puts_(s, name);
	puts_(s, "=\"");
	put_escaped(s, value, strlen(value));
	put(s, "\"", 1);
}

/* A URL as a browser reads it: C0 controls and DEL removed everywhere,
 * spaces trimmed at both ends. In place. */
static char *url_clean(char *v)
{
	size_t k = 0;
	for (size_t i = 0; v[i]; i++)
		if ((unsigned char)v[i] >= 0x20 && v[i] != 0x7f)
			v[k++] = v[i];
	while (k && v[k - 1] == ' ')
		k--;
	v[k] = '\0';
	return v + strspn(v, " ");
}

/* One attribute of a kept tag: written when allowed. */
static void attr(struct san *s, const char *tag, const char *name, char *value, int *has_href)
{
	if (strcmp(name, "href") == 0 || strcmp(name, "src") == 0)
		value = url_clean(value);
	if (IN(name, plain_attrs)) {
		attr_out(s, name, value);
	} else if (strcmp(name, "style") == 0) {
		if (style_safe(value))
			attr_out(s, name, value);
	} else if (strcmp(name, "href") == 0 && strcmp(tag, "a") == 0) {
		if (url_allowed(value) && !*has_href) {
			attr_out(s, "href", value);
			*has_href = 1;
		}
	} else if (strcmp(name, "src") == 0 && strcmp(tag, "img") == 0) {
		if (data_image(value)) {
			attr_out(s, "src", value);
		} else {
			attr_out(s, "src", placeholder_src);
			attr_out(s, "data-blocked", "remote image");
			s->images++;
		}
	}
}

static size_t skip_ws(const char *p, size_t i, size_t n)
{
	while (i < n && (isspace((unsigned char)p[i]) || p[i] == '/'))
		i++;
	return i;
}

/* Parses the attributes of a tag in p[i..end) and writes the allowed ones. */
static void tag_attrs(struct san *s, const char *tag, const char *p, size_t i, size_t end)
{
	char name[ATTR_NAME_MAX + 1], raw[ATTR_VALUE_MAX + 1];
	int count = 0, has_href = 0;
	while ((i = skip_ws(p, i, end)) < end && count++ < ATTRS_MAX) {
		size_t ns = i;
		while (i < end && !isspace((unsigned char)p[i]) && p[i] != '=' && p[i] != '/')
			i++;
		size_t nl = i - ns;
		for (size_t k = 0; k < nl && k < ATTR_NAME_MAX; k++)
			name[k] = (char)tolower((unsigned char)p[ns + k]);
		name[nl < ATTR_NAME_MAX ? nl : ATTR_NAME_MAX] = '\0';
		while (i < end && isspace((unsigned char)p[i]))
			i++;
		const char *v = "";
		size_t vl = 0;
		if (i < end && p[i] == '=') {
			i++;
			while (i < end && isspace((unsigned char)p[i]))
				i++;
			char q = i < end && (p[i] == '"' || p[i] == '\'') ? p[i] : 0;
			size_t vs = q ? ++i : i;
			while (i < end && (q ? p[i] != q : !isspace((unsigned char)p[i])))
				i++;
			v = p + vs;
			vl = i - vs;
			if (q && i < end)
				i++;
		}
		if (nl == 0 || nl > ATTR_NAME_MAX || vl > ATTR_VALUE_MAX)
			continue;
		decode(v, vl, raw, sizeof raw);
		attr(s, tag, name, raw, &has_href);
	}
	if (strcmp(tag, "a") == 0 && has_href)
		puts_(s, " target=\"_blank\" rel=\"noopener noreferrer\"");
}

/* End of the tag starting at p[i] == '<' (index after '>'), quotes
 * respected; n when unterminated. */
static size_t tag_end(const char *p, size_t i, size_t n)
{
	char q = 0;
	for (i++; i < n; i++) {
		if (q) {
			if (p[i] == q)
				q = 0;
		} else if (p[i] == '"' || p[i] == '\'') {
			/* quotes only open a value right after '=' */
			size_t k = i;
			while (k > 0 && isspace((unsigned char)p[k - 1]))
				k--;
			if (k > 0 && p[k - 1] == '=')
				q = p[i];
		} else if (p[i] == '>') {
			return i + 1;
		}
	}
	return n;
}

/* After a raw-text element's start tag: index after its end tag. */
static size_t skip_raw(const char *p, size_t i, size_t n, const char *name)
{
	size_t nl = strlen(name);
	for (; i + 2 + nl <= n; i++)
		if (p[i] == '<' && p[i + 1] == '/' && strncasecmp(p + i + 2, name, nl) == 0 &&
		    (i + 2 + nl == n || !isalnum((unsigned char)p[i + 2 + nl])))
			return tag_end(p, i, n);
	return n;
}

/* <style>: kept when safe, neutralised to nothing otherwise. */
static size_t style_block(struct san *s, const char *p, size_t i, size_t n)
{
	size_t end = skip_raw(p, i, n, "style");
	size_t close = end;
	while (close > i && p[close - 1] != '<')
		close--;
	size_t len = close > i ? close - 1 - i : 0;
	char css[ATTR_VALUE_MAX];
	size_t k = 0;
	/* comments go first: they could hide a forbidden word */
	for (size_t j = i; j < i + len && k < sizeof css - 1;) {
		if (j + 1 < i + len && p[j] == '/' && p[j + 1] == '*') {
			const char *e = memmem(p + j + 2, i + len - j - 2, "*/", 2);
			j = e ? (size_t)(e - p) + 2 : i + len;
			continue;
		}
		if (p[j] == '\0') { /* a NUL would end the document for C readers */
			j++;
			continue;
		}
		css[k++] = p[j++];
	}
	css[k] = '\0';
	if (k > 0 && len < sizeof css && style_safe(css) && !strchr(css, '<')) {
		puts_(s, "<style>");
		put(s, css, k);
		puts_(s, "</style>");
	}
	return end;
}

static size_t one_tag(struct san *s, const char *p, size_t i, size_t n)
{
	if (i + 4 <= n && strncmp(p + i, "<!--", 4) == 0) {
		const char *e = memmem(p + i + 4, n - i - 4, "-->", 3);
		return e ? (size_t)(e - p) + 3 : n;
	}
	size_t end = tag_end(p, i, n);
	size_t k = i + 1;
	int closing = k < n && p[k] == '/';
	k += closing;
	if (k >= n || !isalpha((unsigned char)p[k])) {
		/* "<!doctype", "<?xml", "< 3": declarations dropped, a stray '<' is text */
		if (k < n && (p[k] == '!' || p[k] == '?'))
			return end;
		puts_(s, "&lt;");
		return i + 1;
	}
	char tag[TAG_MAX + 1];
	size_t t = 0;
	while (k < n && (isalnum((unsigned char)p[k]) || p[k] == '-' || p[k] == ':') && t < TAG_MAX)
		tag[t++] = (char)tolower((unsigned char)p[k++]);
	tag[t] = '\0';
	if (!closing && IN(tag, drop_content))
		return skip_raw(p, end, n, tag);
	if (!closing && strcmp(tag, "style") == 0)
		return style_block(s, p, end, n);
	if (!IN(tag, allowed))
		return end;
	if (closing) {
		if (!IN(tag, void_tags)) {
			puts_(s, "</");
			puts_(s, tag);
			puts_(s, ">");
		}
		return end;
	}
	puts_(s, "<");
	puts_(s, tag);
	size_t attr_end = end > k && p[end - 1] == '>' ? end - 1 : end;
	tag_attrs(s, tag, p, k, attr_end);
	puts_(s, ">");
	return end;
}

int sanitize_html(const char *html, size_t len, struct buf *out)
{
	struct san s = {out, 0, 0};
	puts_(&s, "<!DOCTYPE html><html><head><meta charset=\"utf-8\">"
		  "<meta name=\"referrer\" content=\"no-referrer\">"
		  "<style>body{font-family:sans-serif;margin:8px;word-wrap:break-word}"
		  "img[data-blocked]{outline:1px dashed #999}</style></head><body>");
	size_t i = 0;
	while (i < len && !s.full) {
		const char *lt = memchr(html + i, '<', len - i);
		size_t stop = lt ? (size_t)(lt - html) : len;
		text(&s, html + i, stop - i);
		if (!lt)
			break;
		i = one_tag(&s, html, stop, len);
	}
	puts_(&s, "</body></html>");
	return s.full ? -1 : s.images;
}
