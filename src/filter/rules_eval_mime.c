/* Native ports of SpamAssassin 4.0.1 body/MIME/HTML evals the stock rules
 * weigh: multipart_alternative_difference(_count) (BodyEval: the HTML
 * part of a multipart/alternative says something the text part does not),
 * tvd_vertical_words, check_blank_line_ratio, check_ma_non_text
 * (MIMEEval), html_title_subject_ratio, html_text_match on titles,
 * comments and anchors, html_image_only and the 'length' of html_eval /
 * html_range (HTMLEval over HTML.pm's results: the length is the HTML
 * source's). Parts come from the message view; HTML parts are rendered
 * with the view's own renderer (html_to_text of mail/msgview.h). */
#include "filter/rules_int.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mail/msgview.h"

#define MADIFF_MAX_TOKENS 20000   /* per side of one multipart/alternative */
#define MADIFF_MAX_TEXT (256u << 10)
#define HTML_MAX_STRINGS 64       /* titles / comments kept per message */

/* Case-blind search for needle (lower case) in s[0..n). */
static const char *find_nocase(const char *s, size_t n, const char *needle)
{
	size_t k = strlen(needle);
	for (size_t i = 0; i + k <= n; i++)
		if (strncasecmp(s + i, needle, k) == 0)
			return s + i;
	return NULL;
}

static int is_container(const struct msg_part *p)
{
	return p->content_type && (strncmp(p->content_type, "multipart/", 10) == 0 ||
				   strcmp(p->content_type, "message/rfc822") == 0);
}

/* ---- multipart_alternative_difference ----------------------------------- */

/* A token: p, or while the rendered buffer may still move, off into it. */
struct tok {
	const char *p;
	size_t off, n;
};

struct toks {
	struct tok *v;
	size_t n;
};

static void no_url(void *ctx, const char *url, size_t len)
{
	(void)ctx;
	(void)url;
	(void)len;
}

/* Whitespace-separated tokens of s holding a word character; with base,
 * recorded as offsets from it (p set later). */
static void tokenize(const char *s, size_t len, const char *base, struct toks *t)
{
	size_t i = 0;
	while (i < len && t->n < MADIFF_MAX_TOKENS) {
		while (i < len && isspace((unsigned char)s[i]))
			i++;
		size_t st = i;
		int word = 0;
		while (i < len && !isspace((unsigned char)s[i])) {
			word |= isalnum((unsigned char)s[i]) || s[i] == '_';
			i++;
		}
		if (i > st && word)
			t->v[t->n++] = base ? (struct tok){NULL, (size_t)(s + st - base), i - st}
					    : (struct tok){s + st, 0, i - st};
	}
}

static int tok_cmp(const void *a, const void *b)
{
	const struct tok *x = a, *y = b;
	size_t n = x->n < y->n ? x->n : y->n;
	int r = memcmp(x->p, y->p, n);
	return r ? r : (x->n > y->n) - (x->n < y->n);
}

/* Count of the run of equal tokens starting at i. */
static size_t run_len(const struct toks *t, size_t i)
{
	size_t j = i + 1;
	while (j < t->n && tok_cmp(&t->v[i], &t->v[j]) == 0)
		j++;
	return j - i;
}

static size_t distinct(const struct toks *t)
{
	size_t d = 0;
	for (size_t i = 0; i < t->n; i += run_len(t, i))
		d++;
	return d;
}

/* HTML tokens the text part does not cover as often: those left. */
static size_t left_over(const struct toks *h, const struct toks *t)
{
	size_t left = 0, j = 0;
	for (size_t i = 0; i < h->n;) {
		size_t hn = run_len(h, i), tn = 0;
		while (j < t->n && tok_cmp(&t->v[j], &h->v[i]) < 0)
			j += run_len(t, j);
		if (j < t->n && tok_cmp(&t->v[j], &h->v[i]) == 0)
			tn = run_len(t, j);
		left += hn > tn;
		i += hn;
	}
	return left;
}

struct madiff_work {
	struct toks html, text;
	struct buf rendered;
	int img;
};

/* Tokens of the text leaves under container k. */
static void madiff_collect(const struct msg_view *v, size_t k, struct madiff_work *w)
{
	for (size_t i = k + 1; i < v->nparts && v->parts[i].depth > v->parts[k].depth; i++) {
		const struct msg_part *p = &v->parts[i];
		if (!p->content_type || strncmp(p->content_type, "text", 4) != 0 || !p->data)
			continue;
		if (strcmp(p->content_type, "text/html") == 0) {
			size_t off = w->rendered.len;
			html_to_text(p->data, p->data_len, &w->rendered, no_url, NULL);
			size_t before = w->html.n;
			/* offsets: the next part's rendering may move the buffer */
			tokenize(w->rendered.data + off, w->rendered.len - off, w->rendered.data, &w->html);
			if (w->html.n == before && memmem(p->data, p->data_len, "<img", 4))
				w->img = 1;
		} else {
			tokenize(p->data, p->data_len, NULL, &w->text);
		}
	}
}

static void madiff_one(struct eval_ctx *c, size_t k, struct madiff_work *w)
{
	w->html.n = w->text.n = 0;
	w->img = 0;
	buf_reset(&w->rendered);
	madiff_collect(c->v, k, w);
	for (size_t i = 0; i < w->html.n; i++)
		w->html.v[i].p = w->rendered.data + w->html.v[i].off;
	qsort(w->html.v, w->html.n, sizeof *w->html.v, tok_cmp);
	qsort(w->text.v, w->text.n, sizeof *w->text.v, tok_cmp);
	size_t orig = distinct(&w->html), left = left_over(&w->html, &w->text);
	if (orig == 0 && w->img) {
		/* SpamAssassin's "\n" mark: one token the text never has */
		orig = left = 1;
	}
	if (orig == 0)
		return;
	c->c.madiff_html = orig;
	c->c.madiff_text = distinct(&w->text);
	double diff = (double)left / (double)orig * 100.0;
	if (diff > c->c.madiff)
		c->c.madiff = diff;
}

static void madiff_compute(struct eval_ctx *c)
{
	if (c->c.madiff_done)
		return;
	c->c.madiff_done = 1;
	const struct msg_view *v = c->v;
	/* Exchange meeting requests: m/a of text/html and text/calendar */
	if (v->nparts == 3 && v->parts[0].content_type && v->parts[1].content_type &&
	    v->parts[2].content_type && strcmp(v->parts[0].content_type, "multipart/alternative") == 0 &&
	    strcmp(v->parts[1].content_type, "text/html") == 0 &&
	    strcmp(v->parts[2].content_type, "text/calendar") == 0)
		return;
	struct madiff_work w = {0};
	for (size_t k = 0; k < v->nparts; k++) {
		if (!v->parts[k].content_type || strcmp(v->parts[k].content_type, "multipart/alternative") != 0)
			continue;
		if (!w.html.v) {
			w.html.v = malloc(MADIFF_MAX_TOKENS * sizeof *w.html.v);
			w.text.v = malloc(MADIFF_MAX_TOKENS * sizeof *w.text.v);
			buf_init(&w.rendered, MADIFF_MAX_TEXT);
			if (!w.html.v || !w.text.v)
				break;
		}
		madiff_one(c, k, &w);
	}
	free(w.html.v);
	free(w.text.v);
	buf_free(&w.rendered);
}

int rules_ev_madiff(struct eval_ctx *c, const struct eval_args *a)
{
	madiff_compute(c);
	return (a->d[0] == 0 || c->c.madiff > a->d[0]) && (!a->s[1] || c->c.madiff <= a->d[1]);
}

int rules_ev_madiff_count(struct eval_ctx *c, const struct eval_args *a)
{
	madiff_compute(c);
	if (!(c->c.madiff_html > a->d[1]))
		return 0;
	return (double)c->c.madiff_text / (double)c->c.madiff_html > a->d[0];
}

/* ---- body shape --------------------------------------------------------- */

/* Largest share of spaces to other characters on one rendered paragraph
 * (letters spread out vertically, "w o r d s"). SpamAssassin's
 * paragraphs end in "\n", the last one in " ": both count in the length,
 * the space as a space. */
static int tvd_compute(const char *body, size_t len, size_t subject_len)
{
	const char *end = body + len, *last = NULL;
	for (const char *p = body + subject_len; p < end;) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *e = nl ? nl : end;
		if (e > p)
			last = p;
		p = e + 1;
	}
	int best = -1;
	for (const char *p = body; p < end;) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *e = nl ? nl : end;
		size_t l = (size_t)(e - p) + 1, sp = p == last;
		for (const char *q = p; q < e; q++)
			sp += *q == ' ';
		if (l > 5) {
			size_t ns = l - sp;
			int pct = sp > ns || ns == 0 ? 100 : (int)(100 * sp / ns);
			if (pct > best)
				best = pct;
		}
		p = e + 1;
	}
	return best;
}

int rules_ev_tvd_vertical_words(struct eval_ctx *c, const struct eval_args *a)
{
	if (!c->c.tvd_done) {
		c->c.tvd_done = 1;
		c->c.tvd = tvd_compute(c->body, c->body_len, c->subject_len);
	}
	double max = a->d[1] >= 100 ? 101 : a->d[1];
	return c->c.tvd >= a->d[0] && c->c.tvd < max;
}

/* Percentage of blank lines in the decoded text parts (-1: too few). */
int rules_ev_blank_line_ratio(struct eval_ctx *c, const struct eval_args *a)
{
	double minlines = a->n > 2 && a->d[2] >= 1 ? a->d[2] : 1;
	size_t lines = 0, blank = 0;
	for (size_t i = 0; i < c->v->nparts; i++) {
		const struct msg_part *p = &c->v->parts[i];
		if (!p->content_type || !p->data ||
		    (strncmp(p->content_type, "text", 4) != 0 && strncmp(p->content_type, "message", 7) != 0))
			continue;
		/* get_decoded_body_text_array puts a "\n" between parts */
		if (lines) {
			lines++;
			blank++;
		}
		const char *s = p->data, *end = p->data + p->data_len;
		while (s < end) {
			const char *nl = memchr(s, '\n', (size_t)(end - s));
			const char *e = nl ? nl + 1 : end;
			int nonblank = 0;
			for (const char *q = s; q < e && !nonblank; q++)
				nonblank = !isspace((unsigned char)*q);
			lines++;
			blank += !nonblank;
			s = e;
		}
	}
	double r = (double)lines < minlines ? -1 : 100.0 * (double)blank / (double)lines;
	return (a->d[0] == 0 && r <= a->d[1]) || (r > a->d[0] && r <= a->d[1]);
}

/* A multipart/alternative with a direct leaf child that is neither text
 * nor RTF. */
int rules_ev_ma_non_text(struct eval_ctx *c, const struct eval_args *a)
{
	(void)a;
	const struct msg_view *v = c->v;
	for (size_t k = 0; k < v->nparts; k++) {
		if (!v->parts[k].content_type || strcmp(v->parts[k].content_type, "multipart/alternative") != 0)
			continue;
		for (size_t i = k + 1; i < v->nparts && v->parts[i].depth > v->parts[k].depth; i++) {
			const struct msg_part *p = &v->parts[i];
			if (p->depth != v->parts[k].depth + 1 || is_container(p) || !p->content_type)
				continue;
			if (strncmp(p->content_type, "text/", 5) != 0 && strcmp(p->content_type, "application/rtf") != 0)
				return 1;
		}
	}
	return 0;
}

/* ---- HTML titles and comments (HTML.pm's results) ----------------------- */

enum hstr { HS_TITLE, HS_COMMENT, HS_ANCHOR };

/* "<!DOCTYPE" is a declaration, not a comment. */
static int is_doctype(const char *s, const char *end)
{
	return end - s >= 9 && strncasecmp(s + 2, "doctype", 7) == 0;
}

/* "<name" opening a tag at s (name followed by blank, '>' or '/'). */
static int tag_at(const char *s, const char *end, const char *name)
{
	size_t n = strlen(name);
	if ((size_t)(end - s) < n + 2 || s[0] != '<' || strncasecmp(s + 1, name, n) != 0)
		return 0;
	char ch = s[n + 1];
	return ch == '>' || ch == '/' || isspace((unsigned char)ch);
}

/* An anchor's text as HTML.pm keeps it: its rendered text and "<img>\n"
 * for each image inside. */
typedef int (*hstr_fn)(void *ctx, const char *s, size_t n);

static int anchor_text(const char *s, const char *end, hstr_fn fn, void *ctx)
{
	struct buf t;
	buf_init(&t, 1u << 16);
	html_to_text(s, (size_t)(end - s), &t, no_url, NULL);
	for (const char *p = s; p < end && (p = memchr(p, '<', (size_t)(end - p))) != NULL; p++)
		if (tag_at(p, end, "img"))
			buf_puts(&t, "<img>\n");
	buf_puts(&t, "");
	int r = fn(ctx, t.data ? t.data : "", t.len);
	buf_free(&t);
	return r;
}

/* Calls fn on each <title> text (entities decoded), each comment
 * ("<!-- ... -->", "<!x>" but not declarations) or each anchor text of
 * the HTML parts; stops when fn returns 1. */
static int html_strings(const struct msg_view *v, enum hstr kind, hstr_fn fn, void *ctx)
{
	int comments = kind == HS_COMMENT;
	unsigned seen = 0;
	for (size_t i = 0; i < v->nparts && seen < HTML_MAX_STRINGS; i++) {
		const struct msg_part *p = &v->parts[i];
		if (!p->content_type || strcmp(p->content_type, "text/html") != 0 || !p->data)
			continue;
		const char *s = p->data, *end = s + p->data_len;
		while (s < end && seen < HTML_MAX_STRINGS) {
			const char *lt = memchr(s, '<', (size_t)(end - s));
			if (!lt)
				break;
			size_t rest = (size_t)(end - lt);
			const char *stop;
			if (comments && rest >= 4 && memcmp(lt, "<!--", 4) == 0) {
				const char *ce = memmem(lt + 4, rest - 4, "-->", 3);
				stop = ce ? ce + 3 : end;
			} else if (comments && rest >= 3 && lt[1] == '!' && !is_doctype(lt, end)) {
				const char *gt = memchr(lt, '>', rest);
				stop = gt ? gt + 1 : end;
			} else if (kind == HS_ANCHOR && tag_at(lt, end, "a")) {
				const char *gt = memchr(lt, '>', rest);
				if (!gt)
					break;
				const char *ae = find_nocase(gt + 1, (size_t)(end - gt - 1), "</a");
				stop = ae ? ae : end;
				seen++;
				if (anchor_text(gt + 1, stop, fn, ctx))
					return 1;
				s = stop;
				continue;
			} else if (kind == HS_TITLE && rest >= 7 && strncasecmp(lt, "<title", 6) == 0 &&
				   (lt[6] == '>' || isspace((unsigned char)lt[6]))) {
				const char *gt = memchr(lt, '>', rest);
				const char *te = gt ? find_nocase(gt + 1, (size_t)(end - gt - 1), "</title") : NULL;
				if (!gt)
					break;
				stop = te ? te : end;
				seen++;
				struct buf t;
				buf_init(&t, 1u << 16);
				html_to_text(gt + 1, (size_t)(stop - gt - 1), &t, no_url, NULL);
				int r = fn(ctx, t.data ? t.data : "", t.len);
				buf_free(&t);
				if (r)
					return 1;
				s = stop;
				continue;
			} else {
				s = lt + 1;
				continue;
			}
			seen++;
			if (fn(ctx, lt, (size_t)(stop - lt)))
				return 1;
			s = stop;
		}
	}
	return 0;
}

struct title_ratio {
	double subject, ratio;
};

static int title_long(void *ctx, const char *s, size_t n)
{
	(void)s;
	const struct title_ratio *t = ctx;
	return n && (double)n / t->subject > t->ratio;
}

/* A title much longer than the subject (SpamAssassin's subject length
 * counts its newline). */
int rules_ev_html_title_subject_ratio(struct eval_ctx *c, const struct eval_args *a)
{
	const char *subj = rules_header_first(c->v, "Subject", 0);
	if (!subj || !*subj)
		return 0;
	struct title_ratio t = {(double)strlen(subj) + 1, a->d[0]};
	return html_strings(c->v, HS_TITLE, title_long, &t);
}

struct text_match {
	const pcre2_code *re;
	pcre2_match_data *md;
	pcre2_match_context *mctx;
};

static int text_matches(void *ctx, const char *s, size_t n)
{
	struct text_match *t = ctx;
	return pcre2_match(t->re, (PCRE2_SPTR)s, n, 0, 0, t->md, t->mctx) >= 0;
}

/* html_text_match('title'|'comment'|'anchor', re) */
int rules_ev_html_text_match(struct eval_ctx *c, const struct eval_args *a)
{
	if (!a->re)
		return 0;
	struct text_match t = {a->re, c->s->md, c->s->mctx};
	enum hstr k = strcmp(a->s[0], "comment") == 0 ? HS_COMMENT
		      : strcmp(a->s[0], "anchor") == 0 ? HS_ANCHOR : HS_TITLE;
	return html_strings(c->v, k, text_matches, &t);
}

/* HTML.pm's "length" of each HTML part (its source length, CR of CRLF
 * not counted) and whether it has an image, found once per message. */
static void html_parts_compute(struct eval_ctx *c)
{
	c->c.hparts_done = 1;
	for (size_t i = 0; i < c->v->nparts && c->c.nhparts < EVAL_HTML_PARTS; i++) {
		const struct msg_part *p = &c->v->parts[i];
		if (!p->content_type || strcmp(p->content_type, "text/html") != 0 || !p->data)
			continue;
		const char *s = p->data, *end = s + p->data_len;
		int img = 0;
		for (const char *q = s; q < end && !img && (q = memchr(q, '<', (size_t)(end - q))) != NULL; q++)
			img = tag_at(q, end, "img") || (q + 1 < end && q[1] == '/' && tag_at(q + 1, end, "img"));
		size_t len = p->data_len;
		for (const char *q = s; q < end && (q = memchr(q, '\r', (size_t)(end - q))) != NULL; q++)
			len -= q + 1 < end && q[1] == '\n';
		c->c.hlen[c->c.nhparts] = len;
		c->c.himg[c->c.nhparts++] = (unsigned char)img;
	}
}

/* html_image_only(min, max): an HTML part with an image whose length is
 * in (min, max]. */
int rules_ev_html_image_only(struct eval_ctx *c, const struct eval_args *a)
{
	if (!c->c.hparts_done)
		html_parts_compute(c);
	for (unsigned i = 0; i < c->c.nhparts; i++)
		if (c->c.himg[i] && (double)c->c.hlen[i] > a->d[0] && (double)c->c.hlen[i] <= a->d[1])
			return 1;
	return 0;
}

/* html_range('length', min, max): a part's length in (min, max] ("inf"
 * or no max: above min). */
int rules_ev_html_length_range(struct eval_ctx *c, const struct eval_args *a)
{
	if (!c->c.hparts_done)
		html_parts_compute(c);
	int inf = a->n < 3 || !a->s[2] || strcmp(a->s[2], "inf") == 0;
	for (unsigned i = 0; i < c->c.nhparts; i++) {
		double v = (double)c->c.hlen[i];
		if (v > a->d[1] && (inf || v <= a->d[2]))
			return 1;
	}
	return 0;
}

/* "< 512", ">= 3", "== 0": Perl's "$val $expr" for the forms rules use. */
static int length_cmp(double v, const char *expr)
{
	static const struct {
		const char *op;
		int lt, eq, gt;
	} ops[] = {{"<=", 1, 1, 0}, {">=", 0, 1, 1}, {"==", 0, 1, 0}, {"!=", 1, 0, 1},
		   {"<", 1, 0, 0},  {">", 0, 0, 1}};
	while (isspace((unsigned char)*expr))
		expr++;
	for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
		size_t n = strlen(ops[i].op);
		if (strncmp(expr, ops[i].op, n) != 0)
			continue;
		char *end;
		double x = strtod(expr + n, &end);
		if (end == expr + n)
			return 0;
		return v < x ? ops[i].lt : v == x ? ops[i].eq : ops[i].gt;
	}
	return 0;
}

/* html_eval('length', expr): any HTML part's length satisfies expr. */
int rules_ev_html_length_eval(struct eval_ctx *c, const struct eval_args *a)
{
	if (!c->c.hparts_done)
		html_parts_compute(c);
	for (unsigned i = 0; i < c->c.nhparts; i++)
		if (length_cmp((double)c->c.hlen[i], a->s[1]))
			return 1;
	return 0;
}
