/* MIMEEval tests that read parts as encoded in the message (SpamAssassin
 * 4.0.1's _check_attachments / _check_base64_length over $p->raw()):
 * the longest base64 line (BASE64_LENGTH_*), text sent in base64 with an
 * ASCII charset (MIME_BASE64_TEXT), and the text/html size ratio of a
 * multipart/alternative (MIME_HTML_MOSTLY). The message view keeps only
 * decoded parts, so the raw message is walked once more here, by
 * boundaries, bounded in depth and header size. Lines are measured
 * without CR, as SpamAssassin sees mail stored with LF line ends. */
#include "filter/rules_int.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define RAW_MAX_DEPTH 16   /* nested multiparts followed (stack: ~2 kB each) */
#define RAW_BOUNDARY 128
#define RAW_HDR 320       /* of one Content-* header value kept */
#define RAW_MAX_PARTS 1000

struct rawpart {
	char ctype[RAW_HDR], cte[RAW_HDR], cd[RAW_HDR], charset[RAW_HDR];
	char ctraw[RAW_HDR];   /* Content-Type as written: boundaries keep their case */
};

struct rawwalk {
	const char *p, *end;
	char bnd[RAW_MAX_DEPTH][RAW_BOUNDARY];
	int nb;
	unsigned parts;
	/* results */
	size_t b64_max;
	int b64_text, ma;
	double ratio;
	size_t pbytes[RAW_MAX_PARTS];
	unsigned char ptype[RAW_MAX_PARTS]; /* 0 other, 1 text/plain, 2 text/html */
	unsigned char pset[RAW_MAX_PARTS];
	unsigned nleaf;
};

/* Next line [*s, *e) without its line end; 0 at the end. */
static int next_line(struct rawwalk *w, const char **s, const char **e)
{
	if (w->p >= w->end)
		return 0;
	*s = w->p;
	const char *nl = memchr(w->p, '\n', (size_t)(w->end - w->p));
	const char *x = nl ? nl : w->end;
	w->p = nl ? nl + 1 : w->end;
	if (x > *s && x[-1] == '\r')
		x--;
	*e = x;
	return 1;
}

/* Appends a header value (after "Name:") trimmed, lower case unless raw. */
static void hdr_copy(char *dst, const char *s, const char *e, int raw)
{
	while (s < e && isspace((unsigned char)*s))
		s++;
	while (e > s && isspace((unsigned char)e[-1]))
		e--;
	size_t n = (size_t)(e - s), o = strlen(dst);
	if (o && o + 1 < RAW_HDR)
		dst[o++] = ' ';
	for (size_t i = 0; i < n && o + 1 < RAW_HDR; i++)
		dst[o++] = raw ? s[i] : (char)tolower((unsigned char)s[i]);
	dst[o] = '\0';
}

/* A parameter of a Content-Type value (quotes removed). */
static void param(const char *ct, const char *name, char *out, size_t cap)
{
	out[0] = '\0';
	size_t n = strlen(name);
	for (const char *p = ct; (p = strcasestr(p, name)) != NULL; p += n) {
		if (p > ct && !(p[-1] == ';' || isspace((unsigned char)p[-1])))
			continue;
		const char *q = p + n;
		while (isspace((unsigned char)*q))
			q++;
		if (*q != '=')
			continue;
		q++;
		while (isspace((unsigned char)*q))
			q++;
		char end = *q == '"' ? '"' : ';';
		q += *q == '"';
		size_t o = 0;
		while (*q && *q != end && !(end == ';' && isspace((unsigned char)*q)) && o + 1 < cap)
			out[o++] = *q++;
		out[o] = '\0';
		return;
	}
}

/* The header block of a part: Content-Type/-Transfer-Encoding/-Disposition. */
static void read_headers(struct rawwalk *w, struct rawpart *h)
{
	memset(h, 0, sizeof *h);
	char *cur = NULL;
	const char *s, *e;
	while (next_line(w, &s, &e) && e > s) {
		if ((*s == ' ' || *s == '\t') && cur) {
			hdr_copy(cur, s, e, cur == h->ctraw);
			continue;
		}
		cur = NULL;
		if ((size_t)(e - s) > 13 && strncasecmp(s, "content-type:", 13) == 0)
			cur = h->ctraw, s += 13;
		else if ((size_t)(e - s) > 26 && strncasecmp(s, "content-transfer-encoding:", 26) == 0)
			cur = h->cte, s += 26;
		else if ((size_t)(e - s) > 20 && strncasecmp(s, "content-disposition:", 20) == 0)
			cur = h->cd, s += 20;
		if (cur && !cur[0])
			hdr_copy(cur, s, e, cur == h->ctraw);
		else
			cur = NULL;
	}
	for (size_t i = 0; h->ctraw[i]; i++)
		h->ctype[i] = (char)tolower((unsigned char)h->ctraw[i]);
	param(h->ctype, "charset", h->charset, sizeof h->charset);
	if (!h->ctype[0])
		snprintf(h->ctype, sizeof h->ctype, "text/plain");
}

static int is_boundary(struct rawwalk *w, const char *s, const char *e, int *close)
{
	if (e - s < 3 || s[0] != '-' || s[1] != '-')
		return -1;
	for (int i = w->nb - 1; i >= 0; i--) {
		size_t n = strlen(w->bnd[i]);
		if ((size_t)(e - s - 2) >= n && memcmp(s + 2, w->bnd[i], n) == 0) {
			const char *r = s + 2 + n;
			*close = e - r >= 2 && r[0] == '-' && r[1] == '-';
			return i;
		}
	}
	return -1;
}

static const char *const ascii_sets[] = {
	"us-ascii", "ansi_x3.4-1968", "iso-ir-6", "ansi_x3.4-1986", "iso_646.irv:1991", "ascii",
	"iso646-us", "us", "ibm367", "cp367", "csascii",
};

/* _check_mime_header's MIME_BASE64_TEXT test for one part. */
static void check_b64_text(struct rawwalk *w, const struct rawpart *h)
{
	int ascii = !h->charset[0];
	for (size_t i = 0; i < sizeof ascii_sets / sizeof ascii_sets[0] && !ascii; i++)
		ascii = strstr(h->charset, ascii_sets[i]) != NULL;
	if (strncmp(h->ctype, "text", 4) == 0 && strstr(h->cte, "base64") && ascii &&
	    strncmp(h->cd, "attachment", 10) != 0 && strncmp(h->cd, "inline", 6) != 0)
		w->b64_text = 1;
}

/* A part's body lines up to the next boundary of the stack. */
static void walk_part(struct rawwalk *w, struct rawpart *h, int depth);

static void walk_children(struct rawwalk *w, int depth)
{
	const char *s, *e;
	int close, level = w->nb - 1;
	while (next_line(w, &s, &e)) {
		int b = is_boundary(w, s, e, &close);
		if (b < 0)
			continue;  /* preamble / epilogue */
		if (b < level) {
			/* an outer boundary ends this multipart: reread it there */
			w->p = s;
			w->nb = b + 1;
			return;
		}
		if (close) {
			w->nb = level;
			return;
		}
		if (w->parts >= RAW_MAX_PARTS)
			return;
		struct rawpart h;
		read_headers(w, &h);
		walk_part(w, &h, depth + 1);
		w->nb = level + 1;
	}
}

static void walk_leaf(struct rawwalk *w, const struct rawpart *h)
{
	unsigned idx = w->nleaf < RAW_MAX_PARTS ? w->nleaf++ : RAW_MAX_PARTS;
	int b64 = strcmp(h->cte, "base64") == 0 && strcmp(h->ctype, "application/ics") != 0;
	int attach = strstr(h->cd, "attachment") != NULL;
	int type = strcmp(h->ctype, "text/plain") == 0 ? 1 : strcmp(h->ctype, "text/html") == 0 ? 2 : 0;
	if (idx < RAW_MAX_PARTS) {
		w->ptype[idx] = (unsigned char)type;
		w->pset[idx] = !attach;
		w->pbytes[idx] = 0;
	}
	const char *s, *e;
	int close;
	while (w->p < w->end) {
		const char *save = w->p;
		next_line(w, &s, &e);
		if (is_boundary(w, s, e, &close) >= 0) {
			w->p = save;
			return;
		}
		size_t len = (size_t)(e - s) + 1;
		if (b64 && len > w->b64_max)
			w->b64_max = len;
		if (idx < RAW_MAX_PARTS && w->ma && !attach && type)
			w->pbytes[idx] += len;
	}
}

static void walk_part(struct rawwalk *w, struct rawpart *h, int depth)
{
	w->parts++;
	/* the media type alone, as parse_content_type gives it */
	char *semi = strchr(h->ctype, ';');
	if (semi)
		*semi = '\0';
	for (size_t n = strlen(h->ctype); n && isspace((unsigned char)h->ctype[n - 1]);)
		h->ctype[--n] = '\0';
	if (strcmp(h->ctype, "multipart/alternative") == 0)
		w->ma = 1;
	check_b64_text(w, h);
	if (strncmp(h->ctype, "multipart/", 10) == 0 && depth < RAW_MAX_DEPTH && w->nb < RAW_MAX_DEPTH) {
		char b[RAW_BOUNDARY];
		param(h->ctraw, "boundary", b, sizeof b);
		if (b[0]) {
			snprintf(w->bnd[w->nb++], RAW_BOUNDARY, "%s", b);
			walk_children(w, depth);
			return;
		}
	}
	walk_leaf(w, h);
}

/* Once per message. */
static void raw_compute(struct eval_ctx *c)
{
	struct eval_cache *ec = &c->c;
	if (ec->raw_done)
		return;
	ec->raw_done = 1;
	ec->mp_ratio = 1.0;
	if (!c->v->full || !c->v->full_len)
		return;
	struct rawwalk *w = calloc(1, sizeof *w);
	if (!w)
		return;
	w->p = c->v->full;
	w->end = c->v->full + c->v->full_len;
	struct rawpart h;
	read_headers(w, &h);
	walk_part(w, &h, 0);
	ec->b64_max = w->b64_max;
	ec->b64_text = w->b64_text;
	if (w->ma) {
		long text = -1, html = -1;
		for (unsigned i = w->nleaf; i-- > 0 && (text < 0 || html < 0);) {
			if (!w->pset[i])
				continue;
			if (html < 0 && w->ptype[i] == 2)
				html = (long)w->pbytes[i];
			else if (text < 0 && w->ptype[i] == 1)
				text = (long)w->pbytes[i];
		}
		if (text >= 0 && html > 0)
			ec->mp_ratio = (double)text / (double)html;
	}
	free(w);
}

/* check_base64_length(min[, max]) */
int rules_ev_base64_length(struct eval_ctx *c, const struct eval_args *a)
{
	raw_compute(c);
	if (a->n > 1 && a->s[1] && (double)c->c.b64_max > a->d[1])
		return 0;
	return (double)c->c.b64_max >= a->d[0];
}

/* check_mime_multipart_ratio(min, max) */
int rules_ev_mime_multipart_ratio(struct eval_ctx *c, const struct eval_args *a)
{
	raw_compute(c);
	return c->c.mp_ratio >= a->d[0] && c->c.mp_ratio < a->d[1];
}

/* check_for_mime(): MIME_BASE64_TEXT here, the counts in rules_eval_body.c */
int rules_ev_check_for_mime2(struct eval_ctx *c, const struct eval_args *a)
{
	if (strcmp(a->s[0], "mime_base64_encoded_text") != 0)
		return rules_ev_check_for_mime(c, a);
	raw_compute(c);
	return c->c.b64_text;
}
