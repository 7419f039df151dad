/* The texts rules read, built the way SpamAssassin builds them: header
 * values per target (:raw, :addr, :name, ALL, ToCc, MESSAGEID,
 * EnvelopeFrom), the rendered body (subject line first, paragraphs with
 * blanks collapsed, lines cut at 2 kB) and the decoded raw body; plus
 * address and date helpers for the evals. */
#include "filter/rules_int.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

const char *rules_header_first(const struct msg_view *v, const char *name, int raw)
{
	for (size_t i = 0; i < v->nheaders; i++)
		if (v->headers[i].name && strcasecmp(v->headers[i].name, name) == 0) {
			const char *s = raw ? v->headers[i].raw : v->headers[i].value;
			return s ? s : "";
		}
	return NULL;
}

size_t rules_header_count(const struct msg_view *v, const char *name)
{
	size_t n = 0;
	for (size_t i = 0; i < v->nheaders; i++)
		n += v->headers[i].name && strcasecmp(v->headers[i].name, name) == 0;
	return n;
}

/* ---- addresses --------------------------------------------------------- */

typedef void (*addr_fn)(void *ctx, const char *addr, size_t alen, const char *name, size_t nlen);

static void trim_span(const char **p, size_t *n)
{
	while (*n && isspace((unsigned char)**p)) {
		(*p)++;
		(*n)--;
	}
	while (*n && isspace((unsigned char)(*p)[*n - 1]))
		(*n)--;
	if (*n >= 2 && (**p == '"' || **p == '\'') && (*p)[*n - 1] == **p) {
		(*p)++;
		*n -= 2;
	}
}

/* One element of an address list: "Name" <a@b>, a@b (Name), a@b. */
static void addr_element(const char *s, size_t n, addr_fn fn, void *ctx)
{
	const char *lt = NULL, *gt = NULL, *lp = NULL, *rp = NULL;
	int q = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '"')
			q = !q;
		else if (!q && s[i] == '<' && !lt)
			lt = s + i;
		else if (!q && s[i] == '>' && lt && !gt)
			gt = s + i;
		else if (!q && s[i] == '(' && !lp)
			lp = s + i;
		else if (!q && s[i] == ')' && lp && !rp)
			rp = s + i;
	}
	const char *a, *nm = NULL;
	size_t an, nn = 0;
	if (lt && gt) {
		a = lt + 1;
		an = (size_t)(gt - lt - 1);
		nm = s;
		nn = (size_t)(lt - s);
	} else {
		a = s;
		an = lp ? (size_t)(lp - s) : n;
		if (lp && rp) {
			nm = lp + 1;
			nn = (size_t)(rp - lp - 1);
		}
	}
	trim_span(&a, &an);
	if (nm)
		trim_span(&nm, &nn);
	if (an && memchr(a, ':', an) && !memchr(a, '@', an))
		return;  /* group syntax such as "undisclosed-recipients:;" */
	if (an || nn)
		fn(ctx, a, an, nm, nn);
}

static void addr_each(const char *s, addr_fn fn, void *ctx)
{
	size_t n = strnlen(s, RULES_MAX_HEADER);
	int q = 0, angle = 0, paren = 0;
	size_t start = 0;
	for (size_t i = 0; i <= n; i++) {
		char c = i < n ? s[i] : ',';
		if (c == '"' && !paren)
			q = !q;
		else if (!q && c == '<')
			angle++;
		else if (!q && c == '>' && angle)
			angle--;
		else if (!q && c == '(')
			paren++;
		else if (!q && c == ')' && paren)
			paren--;
		else if (!q && !angle && !paren && (c == ',' || c == ';')) {
			if (i > start)
				addr_element(s + start, i - start, fn, ctx);
			start = i + 1;
		}
	}
}

struct addr_first {
	char *out;
	size_t outlen;
	int found, want_name;
};

static void addr_first_cb(void *ctx, const char *a, size_t an, const char *nm, size_t nn)
{
	struct addr_first *f = ctx;
	if (f->found)
		return;
	const char *p = f->want_name ? nm : a;
	size_t n = f->want_name ? nn : an;
	if (!p || !n)
		return;
	snprintf(f->out, f->outlen, "%.*s", (int)n, p);
	f->found = 1;
}

int rules_addr_first(const char *value, char *out, size_t outlen)
{
	struct addr_first f = {out, outlen, 0, 0};
	out[0] = '\0';
	if (value)
		addr_each(value, addr_first_cb, &f);
	return f.found ? 0 : -1;
}

int rules_addr_name(const char *value, char *out, size_t outlen)
{
	struct addr_first f = {out, outlen, 0, 1};
	out[0] = '\0';
	if (value)
		addr_each(value, addr_first_cb, &f);
	return f.found ? 0 : -1;
}

/* ---- header targets ---------------------------------------------------- */

struct tv {
	const struct htarget *t;
	struct buf *out;
	int items;
};

static void tv_addr_cb(void *ctx, const char *a, size_t an, const char *nm, size_t nn)
{
	struct tv *x = ctx;
	const char *p = x->t->addr ? a : nm;
	size_t n = x->t->addr ? an : nn;
	if (!p || (!n && x->t->addr))
		return;
	if (x->items++)
		buf_putc(x->out, '\n');
	buf_append(x->out, p, n);
}

/* One header's text into the value: whole line, or its addresses/names. */
static void tv_add(struct tv *x, const struct msg_header *h, int with_name)
{
	const struct htarget *t = x->t;
	const char *s = (t->raw || t->addr) ? h->raw : h->value;
	if (!s)
		s = h->raw ? h->raw : (h->value ? h->value : "");
	if (t->addr || t->dname) {
		addr_each(s, tv_addr_cb, x);
		return;
	}
	x->items++;
	if (with_name) {
		buf_puts(x->out, h->name);
		buf_puts(x->out, ": ");
	}
	buf_puts(x->out, s);
	buf_putc(x->out, '\n');
}

static void tv_named(struct tv *x, const struct msg_view *v, const char *name, size_t from)
{
	size_t last = (size_t)-1;
	for (size_t i = from; i < v->nheaders; i++) {
		if (!v->headers[i].name || strcasecmp(v->headers[i].name, name) != 0)
			continue;
		if (x->t->last) {
			last = i;
			continue;
		}
		tv_add(x, &v->headers[i], 0);
		if (x->t->first)
			return;
	}
	if (last != (size_t)-1)
		tv_add(x, &v->headers[last], 0);
}

static void tv_envfrom(struct tv *x, const struct msg_view *v, const struct rules_env *env)
{
	char a[512];
	const char *mf = env ? env->mail_from : NULL;
	if (mf && *mf && strcmp(mf, "<>") != 0) {
		rules_addr_first(mf, a, sizeof a);
	} else {
		const char *rp = rules_header_first(v, "Return-Path", 1);
		if (!rp)
			rp = rules_header_first(v, "X-Envelope-From", 1);
		if (!rp || rules_addr_first(rp, a, sizeof a) < 0)
			return;
	}
	if (!a[0])
		return;
	buf_puts(x->out, a);
	x->items++;
}

int rules_target_value(const struct ruleset *rs, struct rules_scratch *s, const struct htarget *t,
		       const struct msg_view *v, const struct rules_env *env, struct buf *out)
{
	static const char *const msgids[] = {"X-Message-Id", "Resent-Message-Id",
					     "X-Original-Message-ID", "Message-Id"};
	struct tv x = {t, out, 0};
	buf_reset(out);
	(void)rs;
	switch (t->type) {
	case HT_NAMED:
		if (t->hn < 0 || s->hfirst[t->hn] < 0)
			return 0;
		tv_named(&x, v, t->hname, (size_t)s->hfirst[t->hn]);
		break;
	case HT_ALL:
		for (size_t i = 0; i < v->nheaders; i++)
			if (v->headers[i].name)
				tv_add(&x, &v->headers[i], 1);
		break;
	case HT_TOCC:
		tv_named(&x, v, "to", 0);
		tv_named(&x, v, "cc", 0);
		break;
	case HT_MESSAGEID:
		for (size_t k = 0; k < 4; k++)
			for (size_t i = 0; i < v->nheaders; i++) {
				const struct msg_header *h = &v->headers[i];
				const char *val = t->raw ? h->raw : h->value;
				if (h->name && strcasecmp(h->name, msgids[k]) == 0 && val && *val)
					tv_add(&x, h, 0);
			}
		break;
	case HT_ENVFROM:
		tv_envfrom(&x, v, env);
		break;
	case HT_RELAYS:  /* always defined, maybe empty, as in SpamAssassin */
		rules_relays_text(rules_relays_get(s, v), (enum relay_set)t->rset, out);
		x.items = 1;
		break;
	}
	return x.items > 0;
}

/* ---- bodies ------------------------------------------------------------ */

static int is_ws(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

static int blank_in(const char *t, size_t from, size_t to)
{
	for (size_t k = from; k < to; k++)
		if (t[k] != '\r')
			return 1;
	return 0;
}

/* Appends text with SpamAssassin's whitespace rules, cutting lines longer
 * than RULES_BODY_LINE at their last blank. */
static void body_append(struct buf *out, const char *t, size_t n, size_t *line_start)
{
	for (size_t i = 0; i < n;) {
		if (!is_ws((unsigned char)t[i])) {
			size_t j = i;
			while (j < n && !is_ws((unsigned char)t[j]))
				j++;
			if (buf_append(out, t + i, j - i) < 0)
				return;
			i = j;
		} else {
			size_t j = i, first_nl = (size_t)-1, last_nl = 0, nls = 0;
			for (; j < n && is_ws((unsigned char)t[j]); j++)
				if (t[j] == '\n') {
					if (first_nl == (size_t)-1)
						first_nl = j;
					last_nl = j;
					nls++;
				}
			if (nls >= 2) {  /* \n+\s*\n+ is a paragraph break */
				/* blanks around it stay a space; a CR of a CRLF does not
				 * (SpamAssassin sees LF line ends) */
				if (blank_in(t, i, first_nl))
					buf_putc(out, ' ');
				buf_putc(out, '\n');
				*line_start = out->len;
				if (blank_in(t, last_nl + 1, j))
					buf_putc(out, ' ');
			} else {
				buf_putc(out, ' ');
			}
			i = j;
		}
		while (out->len - *line_start > RULES_BODY_LINE) {
			/* rindex(line, ' ', 2048) + 1, or a hard cut */
			size_t cut = *line_start + RULES_BODY_LINE;
			for (size_t k = cut; k > *line_start; k--)
				if (out->data[k] == ' ') {
					cut = k + 1;
					break;
				}
			if (buf_putc(out, '\0') < 0)
				return;
			memmove(out->data + cut + 1, out->data + cut, out->len - 1 - cut);
			out->data[cut] = '\n';
			out->data[out->len] = '\0';
			*line_start = cut + 1;
		}
	}
}

void rules_render_body(const struct msg_view *v, struct buf *out, size_t *subject_len)
{
	buf_reset(out);
	const char *subj = rules_header_first(v, "Subject", 0);
	size_t ls = 0;
	if (subj && *subj) {
		body_append(out, subj, strnlen(subj, RULES_MAX_HEADER), &ls);
	}
	buf_putc(out, '\n');
	*subject_len = out->len;
	ls = out->len;
	if (v->text.data)
		body_append(out, v->text.data, v->text.len, &ls);
}

/* Decoded, unrendered text parts (SpamAssassin skips text/calendar). */
void rules_render_rawbody(const struct msg_view *v, struct buf *out)
{
	buf_reset(out);
	int any = 0;
	for (size_t i = 0; i < v->nparts; i++) {
		const struct msg_part *p = &v->parts[i];
		if (!p->data || !p->content_type)
			continue;
		if (strncmp(p->content_type, "text/", 5) != 0 &&
		    strncmp(p->content_type, "message/", 8) != 0)
			continue;
		if (strcmp(p->content_type, "text/calendar") == 0)
			continue;
		any = 1;
		if (buf_append(out, p->data, p->data_len) < 0 || buf_putc(out, '\n') < 0)
			return;
	}
	if (!any && v->rawbody.data)  /* no MIME structure: the raw body */
		buf_append(out, v->rawbody.data, v->rawbody.len);
}

/* ---- dates ------------------------------------------------------------- */

static const struct {
	const char *name;
	int off;  /* minutes east of UTC */
} zones[] = {
	{"UT", 0}, {"UTC", 0}, {"GMT", 0}, {"Z", 0}, {"EST", -300}, {"EDT", -240},
	{"CST", -360}, {"CDT", -300}, {"MST", -420}, {"MDT", -360}, {"PST", -480},
	{"PDT", -420}, {"CET", 60}, {"CEST", 120}, {"BST", 60}, {"MET", 60}, {"MEST", 120},
	{"JST", 540}, {"KST", 540}, {"HKT", 480}, {"IST", 330}, {"EET", 120}, {"WET", 0},
};

static int month_of(const char *s)
{
	static const char *const m[] = {"jan", "feb", "mar", "apr", "may", "jun",
					"jul", "aug", "sep", "oct", "nov", "dec"};
	for (int i = 0; i < 12; i++)
		if (strncasecmp(s, m[i], 3) == 0)
			return i;
	return -1;
}

time_t rules_parse_date(const char *s)
{
	if (!s)
		return -1;
	while (*s && (isspace((unsigned char)*s) || isalpha((unsigned char)*s) || *s == ','))
		s++;  /* weekday */
	char *end;
	long day = strtol(s, &end, 10);
	if (end == s || day < 1 || day > 31)
		return -1;
	s = end;
	while (*s == ' ' || *s == '-')
		s++;
	int mon = month_of(s);
	if (mon < 0)
		return -1;
	while (isalpha((unsigned char)*s))
		s++;
	while (*s == ' ' || *s == '-')
		s++;
	long year = strtol(s, &end, 10);
	if (end == s)
		return -1;
	if (end - s <= 2)
		year += year < 50 ? 2000 : 1900;
	else if (end - s == 3)
		year += 1900;
	s = end;
	long hh = 0, mm = 0, ss = 0;
	hh = strtol(s, &end, 10);
	if (end == s || *end != ':')
		return -1;
	mm = strtol(end + 1, &end, 10);
	if (*end == ':')
		ss = strtol(end + 1, &end, 10);
	s = end;
	while (*s == ' ')
		s++;
	int off = 0;
	if (*s == '+' || *s == '-') {
		long z = strtol(s + 1, &end, 10);
		off = (int)((z / 100) * 60 + z % 100) * (*s == '-' ? -1 : 1);
	} else {
		for (size_t i = 0; i < sizeof zones / sizeof zones[0]; i++) {
			size_t zl = strlen(zones[i].name);
			if (strncasecmp(s, zones[i].name, zl) == 0 && !isalpha((unsigned char)s[zl])) {
				off = zones[i].off;
				break;
			}
		}
	}
	if (year < 1970 || year > 2200 || hh > 23 || mm > 59 || ss > 60)
		return -1;
	struct tm tm = {.tm_year = (int)year - 1900, .tm_mon = mon, .tm_mday = (int)day,
			.tm_hour = (int)hh, .tm_min = (int)mm, .tm_sec = (int)ss};
	time_t t = timegm(&tm);
	return t == (time_t)-1 ? -1 : t - (time_t)off * 60;
}

time_t rules_received_time(const struct msg_view *v)
{
	const char *r = rules_header_first(v, "Received", 0);
	if (!r)
		return -1;
	const char *semi = strrchr(r, ';');
	return semi ? rules_parse_date(semi + 1) : -1;
}
