/* libFuzzer target: the HTML sanitiser of the quarantine preview
 * (src/web/sanitize.c) on attacker-written mail HTML.
 *
 *   clang -g -O1 -std=c11 -D_GNU_SOURCE -fsanitize=fuzzer,address,undefined \
 *         -fno-sanitize-recover=undefined -Isrc $(pkg-config --cflags glib-2.0) \
 *         tests/fuzz/fuzz_sanitize.c src/web/sanitize.c src/mail/msgview_html.c \
 *         src/util/buf.c $(pkg-config --libs glib-2.0) -o /tmp/fuzz_sanitize
 *   mkdir -p /tmp/corpus-sanitize && /tmp/fuzz_sanitize -max_len=20000 \
 *         -max_total_time=120 /tmp/corpus-sanitize
 *
 * Besides ASan/UBSan it aborts when the output breaks an invariant: one
 * complete document, no NUL byte, and markup that parses with the strict
 * grammar the sanitiser writes — only allow-listed tags, no on* attribute,
 * href only http/https/mailto on <a>, src only data:image/, no url(,
 * @import or expression in any style, no raw '<' or '>' outside tags. */
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "web/sanitize.h"

/* The output grammar is strict (the sanitiser writes every tag itself):
 * "<name" (' attr="value"')* ">" or "</name>", values with no raw quote,
 * and <style>css</style>. Anything else is a bug. */
static const char *const tags[] = {
	"a", "abbr", "address", "article", "aside", "b", "bdi", "bdo", "big", "blockquote", "br",
	"caption", "center", "cite", "code", "col", "colgroup", "dd", "del", "details", "dfn", "div",
	"dl", "dt", "em", "figcaption", "figure", "font", "footer", "h1", "h2", "h3", "h4", "h5",
	"h6", "header", "hr", "i", "img", "ins", "kbd", "li", "main", "mark", "nav", "ol", "p", "pre",
	"q", "s", "samp", "section", "small", "span", "strike", "strong", "sub", "summary", "sup",
	"table", "tbody", "td", "tfoot", "th", "thead", "time", "tr", "tt", "u", "ul", "var", "wbr",
	/* the frame the sanitiser writes around the content */
	"!doctype", "html", "head", "meta", "body", "style",
};

static int in(const char *w, size_t n, const char *const *list, size_t count)
{
	for (size_t i = 0; i < count; i++)
		if (strlen(list[i]) == n && strncasecmp(list[i], w, n) == 0)
			return 1;
	return 0;
}

static int css_bad(const char *p, size_t n)
{
	char *low = strndup(p, n);
	for (char *c = low; *c; c++)
		*c = (char)tolower((unsigned char)*c);
	int bad = strstr(low, "url(") || strstr(low, "@import") || strstr(low, "expression") ||
		  strchr(low, '<') || strchr(low, '\\');
	free(low);
	return bad;
}

static void check_attr(const char *tag, size_t tl, const char *name, size_t nl, const char *v,
		       size_t vl)
{
	if (nl == 2 && strncasecmp(name, "on", 2) == 0)
		abort();
	if (nl >= 2 && strncasecmp(name, "on", 2) == 0)
		abort();
	if (nl == 4 && strncmp(name, "href", 4) == 0) {
		if (!(tl == 1 && tag[0] == 'a'))
			abort();
		if (strncasecmp(v, "http:", 5) && strncasecmp(v, "https:", 6) && strncasecmp(v, "mailto:", 7))
			abort();
	}
	if (nl == 3 && strncmp(name, "src", 3) == 0 && strncmp(v, "data:image/", 11) != 0)
		abort();
	if (nl == 5 && strncmp(name, "style", 5) == 0 && css_bad(v, vl))
		abort();
	if (memchr(v, '<', vl) || memchr(v, '>', vl))
		abort();
}

static void check_doc(const char *d, size_t len)
{
	size_t i = 0;
	while (i < len) {
		if (d[i] == '>')
			abort(); /* text has every '>' escaped */
		if (d[i] != '<') {
			i++;
			continue;
		}
		size_t s = ++i;
		if (i < len && d[i] == '/')
			s = ++i;
		while (i < len && (isalnum((unsigned char)d[i]) || d[i] == '!'))
			i++;
		const char *tag = d + s;
		size_t tl = i - s;
		if (!in(tag, tl, tags, sizeof tags / sizeof *tags))
			abort();
		while (i < len && d[i] == ' ') {
			size_t ns = ++i;
			while (i < len && d[i] != '=' && d[i] != ' ' && d[i] != '>')
				i++;
			size_t nl = i - ns;
			if (i < len && d[i] == '=') {
				if (i + 1 >= len || d[i + 1] != '"')
					abort();
				size_t vs = i + 2;
				const char *q = memchr(d + vs, '"', len - vs);
				if (!q)
					abort();
				check_attr(tag, tl, d + ns, nl, d + vs, (size_t)(q - d) - vs);
				i = (size_t)(q - d) + 1;
			} else if (!(tl == 8 && nl == 4)) { /* <!DOCTYPE html> */
				abort();
			}
		}
		if (i >= len || d[i] != '>')
			abort();
		i++;
		if (tl == 5 && strncmp(tag, "style", 5) == 0 && d[s - 1] != '/') {
			const char *e = memmem(d + i, len - i, "</style>", 8);
			if (!e || css_bad(d + i, (size_t)(e - d) - i))
				abort();
			i = (size_t)(e - d);
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct buf out;
	buf_init(&out, SANITIZE_MAX_OUT);
	int rc = sanitize_html((const char *)data, size, &out);
	if (rc >= 0) {
		if (!out.data || out.len < 14 || memcmp(out.data + out.len - 14, "</body></html>", 14) != 0)
			abort();
		if (memchr(out.data, '\0', out.len))
			abort();
	}
	if (rc >= 0)
		check_doc(out.data, out.len);
	buf_free(&out);
	return 0;
}
