/* Native body, MIME and HTML evals (SpamAssassin's BodyEval, MIMEEval,
 * HTMLEval): capitals ratio, body length, HTML-only mail, transfer
 * encodings, attachments, HTML tags and their balance, HTML text length. */
#include "filter/rules_int.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Capitals ratio over body lines with an inner blank, as MIMEEval does. */
static void upper_compute(struct eval_ctx *c)
{
	if (c->c.upper_done)
		return;
	c->c.upper_done = 1;
	size_t len = 0, lower = 0, upper = 0;
	const char *p = c->body, *end = c->body + c->body_len;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *le = nl ? nl + 1 : end;
		int inner = 0;
		for (const char *q = p + 1; q + 1 < le && !inner; q++)
			inner = isspace((unsigned char)*q) && !isspace((unsigned char)q[-1]) &&
				!isspace((unsigned char)q[1]);
		if (inner) {
			len += (size_t)(le - p);
			for (const char *q = p; q < le; q++) {
				lower += (*q >= 'a' && *q <= 'z') || (*q >= '0' && *q <= '9');
				upper += *q >= 'A' && *q <= 'Z';
			}
		}
		p = le;
	}
	c->c.upper = len < 200 || upper + lower == 0 ? 0 : 100.0 * (double)upper / (double)(upper + lower);
}

int rules_ev_uppercase(struct eval_ctx *c, const struct eval_args *a)
{
	upper_compute(c);
	return c->c.upper > a->d[0] && c->c.upper <= a->d[1];
}

int rules_ev_body_length(struct eval_ctx *c, const struct eval_args *a)
{
	const struct msg_view *v = c->v;
	return (double)v->rawbody.len <= a->d[0];
}

/* Counts MIME parts by type and transfer encoding. */
static void mime_compute(struct eval_ctx *c)
{
	if (c->c.mime_done)
		return;
	c->c.mime_done = 1;
	for (size_t i = 0; i < c->v->nparts; i++) {
		const struct msg_part *p = &c->v->parts[i];
		if (p->encoding && strcmp(p->encoding, "base64") == 0)
			c->c.b64++;
		else if (p->encoding && strcmp(p->encoding, "quoted-printable") == 0)
			c->c.qp++;
		if (!p->content_type || p->is_attachment)
			continue;
		if (strcmp(p->content_type, "text/html") == 0)
			c->c.html_parts++;
		else if (strncmp(p->content_type, "text/", 5) == 0)
			c->c.text_parts++;
	}
}

static int ct_is_html(struct eval_ctx *c)
{
	const char *ct = rules_header_first(c->v, "Content-Type", 0);
	while (ct && isspace((unsigned char)*ct))
		ct++;
	return ct && strncasecmp(ct, "text/html", 9) == 0;
}

int rules_ev_mime_html(struct eval_ctx *c, const struct eval_args *a)
{
	(void)a;
	mime_compute(c);
	return ct_is_html(c) || c->c.html_parts > 0;
}

int rules_ev_mime_html_only(struct eval_ctx *c, const struct eval_args *a)
{
	(void)a;
	mime_compute(c);
	return ct_is_html(c) || (c->c.html_parts > 0 && c->c.text_parts == 0);
}

const char *const rules_mime_tests[RULES_MIME_TESTS] = {"mime_base64_count", "mime_qp_count",
							  "mime_attachment"};

int rules_ev_check_for_mime(struct eval_ctx *c, const struct eval_args *a)
{
	mime_compute(c);
	if (strcmp(a->s[0], rules_mime_tests[0]) == 0)
		return c->c.b64 > 0;
	if (strcmp(a->s[0], rules_mime_tests[1]) == 0)
		return c->c.qp > 0;
	for (size_t i = 0; i < c->v->nparts; i++)
		if (c->v->parts[i].is_attachment)
			return 1;
	return 0;
}

/* ---- HTML -------------------------------------------------------------- */

static const char *const html_tags[EVAL_HTML_TAGS] = {
	"html", "head", "body", "title", "meta", "script", "style", "center", "font", "img",
	"a", "table", "tr", "td", "div", "span", "p", "br", "b", "i", "u", "form", "input",
	"iframe", "object", "embed", "bgsound", "frameset", "frame", "base", "link", "map",
	"area", "strong", "em", "blink", "marquee", "ul", "li", "hr",
};

int rules_html_tag_index(const char *name, size_t n)
{
	for (int i = 0; i < EVAL_HTML_TAGS; i++)
		if (strlen(html_tags[i]) == n && strncasecmp(html_tags[i], name, n) == 0)
			return i;
	return -1;
}

static void html_compute(struct eval_ctx *c)
{
	if (c->c.html_done)
		return;
	c->c.html_done = 1;
	const char *p = c->v->html.data, *end = p ? p + c->v->html.len : NULL;
	while (p && p < end) {
		const char *lt = memchr(p, '<', (size_t)(end - p));
		if (!lt)
			lt = end;
		if (lt == end)
			break;
		const char *q = lt + 1;
		int close = q < end && *q == '/';
		q += close;
		const char *nm = q;
		while (q < end && isalnum((unsigned char)*q))
			q++;
		if (q > nm && (q == end || !isalnum((unsigned char)*q))) {
			c->c.ntags++;
			int t = rules_html_tag_index(nm, (size_t)(q - nm));
			if (t >= 0) {
				if (close)
					c->c.tag_close[t]++;
				else
					c->c.tag_open[t]++;
			}
		}
		const char *gt = memchr(q, '>', (size_t)(end - q));
		p = gt ? gt + 1 : end;
	}
}

int rules_ev_html_test(struct eval_ctx *c, const struct eval_args *a)
{
	(void)a;  /* only 'html' is prepared */
	html_compute(c);
	return c->c.ntags > 0;
}

int rules_ev_html_tag_exists(struct eval_ctx *c, const struct eval_args *a)
{
	html_compute(c);
	return c->c.tag_open[(int)a->d[0]] > 0;
}

static int cmp_expr(double val, const char *expr)
{
	while (isspace((unsigned char)*expr))
		expr++;
	static const char *const ops[] = {"<=", ">=", "==", "!=", "<", ">"};
	for (int i = 0; i < 6; i++) {
		size_t n = strlen(ops[i]);
		if (strncmp(expr, ops[i], n) != 0)
			continue;
		double r = strtod(expr + n, NULL);
		switch (i) {
		case 0: return val <= r;
		case 1: return val >= r;
		case 2: return val == r;
		case 3: return val != r;
		case 4: return val < r;
		default: return val > r;
		}
	}
	return 0;
}

int rules_ev_html_tag_balance(struct eval_ctx *c, const struct eval_args *a)
{
	html_compute(c);
	int t = (int)a->d[0];
	if (!c->c.tag_open[t] && !c->c.tag_close[t])
		return 0;
	return cmp_expr((double)c->c.tag_open[t] - (double)c->c.tag_close[t], a->s[1]);
}
