/* Native eval: functions: the SpamAssassin HeaderEval/BodyEval/MIMEEval/
 * HTMLEval tests that carry weight in the stock rules (missing To, subject
 * in capitals, shifted dates, forged Outlook Message-IDs, recipient lists,
 * capitals ratio, HTML-only mail, HTML tags) implemented as SpamAssassin
 * does them. Functions not listed are skipped and counted at load;
 * network tests are counted apart. */
#include "filter/rules_int.h"

#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef int (*eval_fn)(struct eval_ctx *c, const struct eval_args *a);

/* ---- header tests ------------------------------------------------------ */

static int ev_missing_to(struct eval_ctx *c, const struct eval_args *a)
{
	(void)a;
	const char *to = rules_header_first(c->v, "To", 0);
	if (to && *to)
		return 0;
	const char *ap = rules_header_first(c->v, "Apparently-To", 0);
	return !(ap && *ap);
}

static int ev_subject_caps(struct eval_ctx *c, const struct eval_args *a)
{
	(void)a;
	const char *s = rules_header_first(c->v, "Subject", 0);
	const char *raw = rules_header_first(c->v, "Subject", 1);
	if (!s)
		return 0;
	while (isspace((unsigned char)*s))
		s++;
	/* strip reply/forward prefixes (Re:, Fwd:, AW: ...) */
	static const char *const pre[] = {"re:", "fwd:", "fw:", "aw:", "antwort:", "wg:",
					  "sv:", "vb:", "vs:", "vl:"};
	for (int again = 1; again;) {
		again = 0;
		for (size_t i = 0; i < sizeof pre / sizeof pre[0]; i++)
			if (strncasecmp(s, pre[i], strlen(pre[i])) == 0) {
				s += strlen(pre[i]);
				while (isspace((unsigned char)*s))
					s++;
				again = 1;
			}
	}
	size_t n = strlen(s);
	while (n && isspace((unsigned char)s[n - 1]))
		n--;
	if (n < 10 || !memchr(s, ' ', n))
		return 0;
	/* charsets that have no case (Asian) look like capitals */
	if (raw && (strcasestr(raw, "=?iso-2022-jp") || strcasestr(raw, "=?gb2312") ||
		    strcasestr(raw, "=?big5") || strcasestr(raw, "=?euc-") || strcasestr(raw, "=?ks_c") ||
		    strcasestr(raw, "=?shift_jis") || strcasestr(raw, "=?koi8-r")))
		return 0;
	size_t letters = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];
		if (ch >= 'a' && ch <= 'z')
			return 0;
		letters += ch >= 'A' && ch <= 'Z';
	}
	return letters > 0;
}

static int ev_to_in_subject(struct eval_ctx *c, const struct eval_args *a)
{
	char to[256];
	const char *toh = rules_header_first(c->v, "To", 1);
	const char *subj = rules_header_first(c->v, "Subject", 0);
	if (!toh || !subj || rules_addr_first(toh, to, sizeof to) < 0 || !to[0])
		return 0;
	if (a->s[0] && strcmp(a->s[0], "address") == 0)
		return strcasestr(subj, to) != NULL;
	char *at = strchr(to, '@');
	if (at)
		*at = '\0';
	size_t tl = strlen(to), sl = strlen(subj);
	while (sl && isspace((unsigned char)subj[sl - 1]))
		sl--;
	if (!tl || sl < tl)
		return 0;
	/* "user" alone, "user," / "user:" at the start, or "..., user!" at the end */
	if (sl == tl && strncasecmp(subj, to, tl) == 0)
		return 1;
	if (strncmp(subj, to, tl) == 0 && sl > tl) {
		size_t k = tl;
		while (k < sl && isspace((unsigned char)subj[k]))
			k++;
		if (k < sl && strchr(",:;!?-", subj[k]) && (k + 1 == sl || isspace((unsigned char)subj[k + 1])))
			return 1;
	}
	if (strncasecmp(subj + sl - tl, to, tl) == 0 && sl > tl) {
		const char *p = subj + sl - tl;
		if (strncasecmp(subj, "re:", 3) == 0 || strncasecmp(subj, "fw:", 3) == 0) {
			const char *q = subj + 3;
			while (isspace((unsigned char)*q))
				q++;
			const char *w = q;
			while (isalnum((unsigned char)*w) || *w == '_')
				w++;
			while (isspace((unsigned char)*w))
				w++;
			if (w == p || q == p)
				return 1;
		}
	}
	return 0;
}

static int ev_illegal_chars(struct eval_ctx *c, const struct eval_args *a)
{
	const char *h = a->s[0];
	double ratio = a->d[1], count = a->d[2];
	struct buf b;
	buf_init(&b, RULES_MAX_HEADER);
	if (strcmp(h, "ALL") == 0) {
		for (size_t i = 0; i < c->v->nheaders; i++)
			if (c->v->headers[i].raw) {
				buf_puts(&b, c->v->headers[i].raw);
				buf_putc(&b, '\n');
			}
	} else {
		const char *s = rules_header_first(c->v, h, 1);
		if (s)
			buf_puts(&b, s);
	}
	int hit = 0;
	const unsigned char *s = (const unsigned char *)(b.data ? b.data : "");
	size_t n = b.len, ill = 0, ctl = 0, exempt = 0, nonascii = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = s[i];
		int bad = ch <= 0x08 || ch == 0x0b || ch == 0x0c || (ch >= 0x0e && ch <= 0x1f) || ch >= 0x7f;
		ill += bad;
		ctl += ch < 0x20 && bad;
		nonascii += ch >= 0x80;
		exempt += ch == 0xa2 || ch == 0xa3 || ch == 0xae;
	}
	/* valid UTF-8 without controls is fine (our raw values are UTF-8 when
	 * the header was 8-bit UTF-8; other 8-bit bytes were replaced) */
	if (nonascii && !ctl)
		goto out;
	if (ill && strcasecmp(h, "Subject") == 0 && exempt == 1)
		ill--;
	size_t k = 0;
	while (k < n && isspace(s[k]))
		k++;
	if (k == n)  /* nothing but blanks */
		goto out;
	hit = n && (double)ill / (double)n >= ratio && (double)ill >= count;
out:
	buf_free(&b);
	return hit;
}

static int ev_header_count(struct eval_ctx *c, const struct eval_args *a)
{
	/* distinct values of the header */
	size_t n = 0;
	const struct msg_view *v = c->v;
	for (size_t i = 0; i < v->nheaders; i++) {
		if (!v->headers[i].name || strcasecmp(v->headers[i].name, a->s[0]) != 0)
			continue;
		int dup = 0;
		for (size_t j = 0; j < i && !dup; j++)
			dup = v->headers[j].name && strcasecmp(v->headers[j].name, a->s[0]) == 0 &&
			      strcmp(v->headers[j].value ? v->headers[j].value : "",
				     v->headers[i].value ? v->headers[i].value : "") == 0;
		n += !dup;
	}
	return (double)n >= a->d[1] && (double)n <= a->d[2];
}

static long outlook_expected(time_t t)
{
	return (long)((double)t * 0.0023283064365387 + 27111902.8329849);
}

static int ev_outlook_msgid(struct eval_ctx *c, const struct eval_args *a)
{
	(void)a;
	const char *id = rules_header_first(c->v, "Message-Id", 0);
	if (!id)
		return 0;
	/* <XXXXtttttttt$xxxxxxxx$xxxxxxxx@ */
	if (id[0] != '<' || strlen(id) < 32)
		return 0;
	for (int i = 1; i <= 30; i++) {
		char ch = id[i];
		int want_dollar = i == 13 || i == 22;
		if (want_dollar ? ch != '$' : !(isdigit((unsigned char)ch) || (ch >= 'a' && ch <= 'f')))
			return 0;
	}
	if (id[31] != '@')
		return 0;
	char hex[9];
	memcpy(hex, id + 5, 8);
	hex[8] = '\0';
	long token = strtol(hex, NULL, 16);
	time_t d = rules_parse_date(rules_header_first(c->v, "Date", 0));
	if (labs(token - outlook_expected(d < 0 ? 0 : d)) < 250)
		return 0;
	time_t r = rules_received_time(c->v);
	return labs(token - outlook_expected(r < 0 ? 0 : r)) >= 250;
}

static int ev_unresolved_template(struct eval_ctx *c, const struct eval_args *a)
{
	(void)a;
	static const char *const ok[] = {"X-VMS-To", "X-UIDL", "X-Face", "To", "Cc", "From",
					 "Subject", "References", "In-Reply-To", "Message-Id",
					 "X-Message-Id", "Resent-Message-Id", "X-Original-Message-Id"};
	for (size_t i = 0; i < c->v->nheaders; i++) {
		const struct msg_header *h = &c->v->headers[i];
		const char *val = h->value;
		if (!h->name || !val)
			continue;
		int skip = 0;
		for (size_t k = 0; k < sizeof ok / sizeof ok[0] && !skip; k++)
			skip = strcasecmp(h->name, ok[k]) == 0;
		if (skip)
			continue;
		for (const char *p = strchr(val, '%'); p; p = strchr(p + 1, '%'))
			if (isupper((unsigned char)p[1]) &&
			    (isupper((unsigned char)p[2]) || p[2] == '_' || p[2] == '-'))
				return 1;
	}
	return 0;
}

struct recips {
	char addr[256][128];
	int n;
};

static void recip_add(struct recips *r, const char *value)
{
	char one[128];
	/* walk the list: rules_addr_first on successive elements */
	const char *p = value;
	while (p && *p && r->n < 256) {
		const char *comma = p;
		int q = 0, ang = 0;
		for (; *comma; comma++) {
			if (*comma == '"')
				q = !q;
			else if (!q && *comma == '<')
				ang = 1;
			else if (!q && *comma == '>')
				ang = 0;
			else if (!q && !ang && *comma == ',')
				break;
		}
		char el[512];
		snprintf(el, sizeof el, "%.*s", (int)(comma - p), p);
		if (rules_addr_first(el, one, sizeof one) == 0 && one[0] &&
		    (!r->n || strcasecmp(r->addr[r->n - 1], one) != 0))
			snprintf(r->addr[r->n++], sizeof r->addr[0], "%s", one);
		p = *comma ? comma + 1 : NULL;
	}
}

static void recip_compute(struct eval_ctx *c)
{
	if (c->c.recip_done)
		return;
	c->c.recip_done = 1;
	struct recips *r = calloc(1, sizeof *r);
	if (!r)
		return;
	static const char *const hs[] = {"To", "Cc", "Bcc"};
	for (size_t k = 0; k < 3 && r->n < 5; k++)
		for (size_t i = 0; i < c->v->nheaders; i++)
			if (c->v->headers[i].name && strcasecmp(c->v->headers[i].name, hs[k]) == 0 &&
			    c->v->headers[i].raw)
				recip_add(r, c->v->headers[i].raw);
	int sorted = r->n >= 7;
	for (int i = 1; i < r->n && sorted; i++)
		sorted = strcmp(r->addr[i - 1], r->addr[i]) <= 0;
	c->c.sorted = sorted;
	if (r->n >= 5) {
		long hits = 0, comb = 0;
		for (int i = 0; i < r->n; i++)
			for (int j = i + 1; j < r->n; j++) {
				const char *ai = r->addr[i], *aj = r->addr[j];
				const char *hi = strchr(ai, '@'), *hj = strchr(aj, '@');
				hits += strncmp(ai, aj, 2) == 0;
				if (hi && hj && strncmp(hi + 1, hj + 1, 2) == 0 && strcmp(hi + 1, hj + 1) != 0)
					hits++;
				comb++;
			}
		c->c.similar = comb ? (double)hits / (double)comb : 0;
	}
	free(r);
}

static int ev_sorted_recips(struct eval_ctx *c, const struct eval_args *a)
{
	(void)a;
	recip_compute(c);
	return c->c.sorted;
}

static int ev_similar_recips(struct eval_ctx *c, const struct eval_args *a)
{
	recip_compute(c);
	return (!a->s[0] || c->c.similar >= a->d[0]) && (!a->s[1] || c->c.similar < a->d[1]);
}

/* Date: minus the nearest Received time (SpamAssassin's date_diff). */
static void date_compute(struct eval_ctx *c)
{
	if (c->c.date_done)
		return;
	c->c.date_done = 1;
	const char *dh = rules_header_first(c->v, "Resent-Date", 0);
	time_t d = dh ? rules_parse_date(dh) : -1;
	if (d < 0)
		d = rules_parse_date(rules_header_first(c->v, "Date", 0));
	if (d < 0)
		return;
	double best = 0;
	int have = 0;
	double diffs[64];
	int nd = 0;
	if (c->env && c->env->now > 0)
		diffs[nd++] = (double)(d - c->env->now);
	for (size_t i = 0; i < c->v->nheaders && nd < 64; i++) {
		const struct msg_header *h = &c->v->headers[i];
		if (!h->name || strcasecmp(h->name, "Received") != 0 || !h->value)
			continue;
		const char *semi = strrchr(h->value, ';');
		time_t t = semi ? rules_parse_date(semi + 1) : -1;
		if (t >= 0)
			diffs[nd++] = (double)(d - t);
	}
	if (nd > 1 && diffs[nd - 1] == 0)
		nd--;  /* the last Received with no difference is excluded */
	for (int i = 0; i < nd; i++)
		if (!have || fabs(diffs[i]) < fabs(best)) {
			best = diffs[i];
			have = 1;
		}
	c->c.date_valid = 1;
	c->c.date_diff = have ? best : 0;
}

static int ev_shifted_date(struct eval_ctx *c, const struct eval_args *a)
{
	date_compute(c);
	double dd = c->c.date_diff;
	return (!a->s[0] || dd >= 3600 * a->d[0]) && (!a->s[1] || dd < 3600 * a->d[1]);
}

static int ev_false(struct eval_ctx *c, const struct eval_args *a)
{
	(void)c;
	(void)a;
	return 0;
}

static void addr_domain2(const char *addr, char *out, size_t outlen)
{
	const char *at = strrchr(addr, '@');
	out[0] = '\0';
	if (!at || !at[1])
		return;
	const char *d = at + 1, *last = strrchr(d, '.');
	if (last && last != d) {  /* keep the last two labels */
		const char *p = last - 1;
		while (p > d && *p != '.')
			p--;
		if (*p == '.')
			d = p + 1;
	}
	snprintf(out, outlen, "%s", d);
}

static void envfrom_addr(struct eval_ctx *c, char *out, size_t outlen)
{
	out[0] = '\0';
	const char *mf = c->env ? c->env->mail_from : NULL;
	if (!mf || !*mf)
		mf = rules_header_first(c->v, "Return-Path", 1);
	if (mf)
		rules_addr_first(mf, out, outlen);
}

static int ev_equal_from_domains(struct eval_ctx *c, const struct eval_args *a)
{
	(void)a;
	char from[256], env[256], fd[256], ed[256];
	const char *fh = rules_header_first(c->v, "From", 1);
	if (!fh || rules_addr_first(fh, from, sizeof from) < 0)
		return 0;
	envfrom_addr(c, env, sizeof env);
	addr_domain2(from, fd, sizeof fd);
	addr_domain2(env, ed, sizeof ed);
	return fd[0] && ed[0] && strcasecmp(fd, ed) != 0;
}

static int ev_env_hdr_from_match(struct eval_ctx *c, const struct eval_args *a)
{
	(void)a;
	char from[256] = "", env[256];
	const char *fh = rules_header_first(c->v, "From", 1);
	if (fh)
		rules_addr_first(fh, from, sizeof from);
	envfrom_addr(c, env, sizeof env);
	return strcasecmp(from, env) == 0;
}

static int ev_ratware_name_id(struct eval_ctx *c, const struct eval_args *a)
{
	(void)a;
	const char *mid = rules_header_first(c->v, "Message-Id", 0);
	const char *from = rules_header_first(c->v, "From", 0);
	if (!mid || !from || mid[0] != '<')
		return 0;
	size_t k = 1;
	while (mid[k] >= 'A' && mid[k] <= 'Z')
		k++;
	if (k != 29 || mid[k] != '.')
		return 0;
	char rest[256];
	snprintf(rest, sizeof rest, "%.*s", (int)strcspn(mid + k + 1, ">"), mid + k + 1);
	char pat[300];
	snprintf(pat, sizeof pat, "<%s>", rest);
	const char *q = strchr(from, '"');
	return q && strchr(q + 1, '"') && strstr(from, pat) != NULL;
}

static int ev_ratware_envfrom(struct eval_ctx *c, const struct eval_args *a)
{
	(void)a;
	char to[256], env[256], dom[256];
	const char *th = rules_header_first(c->v, "To", 1);
	envfrom_addr(c, env, sizeof env);
	if (!th || rules_addr_first(th, to, sizeof to) < 0 || !env[0] || !to[0])
		return 0;
	if (strncasecmp(env, "SRS", 3) == 0 && isdigit((unsigned char)env[3]))
		return 0;
	char *at = strchr(to, '@');
	if (!at)
		return 0;
	*at = '\0';
	char d2[256];
	snprintf(d2, sizeof d2, "x@%s", at + 1);
	addr_domain2(d2, dom, sizeof dom);
	size_t dl = strlen(dom), ul = strlen(to);
	if (!strchr(dom, '.') || !ul)
		return 0;
	/* envelope sender /\b<domain>.<user>@/i: the domain, any byte, the user */
	for (const char *h = strcasestr(env, dom); h; h = strcasestr(h + 1, dom)) {
		if (h > env && (isalnum((unsigned char)h[-1]) || h[-1] == '_'))
			continue;
		const char *u = h + dl;
		if (*u && strncasecmp(u + 1, to, ul) == 0 && u[1 + ul] == '@')
			return 1;
	}
	return 0;
}

/* ---- body and MIME tests ----------------------------------------------- */

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

static int ev_uppercase(struct eval_ctx *c, const struct eval_args *a)
{
	upper_compute(c);
	return c->c.upper > a->d[0] && c->c.upper <= a->d[1];
}

static int ev_body_length(struct eval_ctx *c, const struct eval_args *a)
{
	const struct msg_view *v = c->v;
	return (double)v->rawbody.len <= a->d[0];
}

/* Counts MIME parts by type, and transfer encodings from the raw part
 * headers (the view keeps decoded data only). */
static void mime_compute(struct eval_ctx *c)
{
	if (c->c.mime_done)
		return;
	c->c.mime_done = 1;
	for (size_t i = 0; i < c->v->nparts; i++) {
		const char *ct = c->v->parts[i].content_type;
		if (!ct || c->v->parts[i].is_attachment)
			continue;
		if (strcmp(ct, "text/html") == 0)
			c->c.html_parts++;
		else if (strncmp(ct, "text/", 5) == 0)
			c->c.text_parts++;
	}
	const char *p = c->v->full, *end = p ? p + (c->v->full_len < RULES_MAX_FULL ? c->v->full_len
								      : RULES_MAX_FULL) : NULL;
	static const char cte[] = "content-transfer-encoding:";
	for (; p && p < end; p++) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		if (!nl)
			break;
		p = nl;
		if ((size_t)(end - nl) < sizeof cte + 4 || strncasecmp(nl + 1, cte, sizeof cte - 1) != 0)
			continue;
		const char *q = nl + sizeof cte;
		while (q < end && (*q == ' ' || *q == '\t'))
			q++;
		if (end - q >= 6 && strncasecmp(q, "base64", 6) == 0)
			c->c.b64++;
		else if (end - q >= 16 && strncasecmp(q, "quoted-printable", 16) == 0)
			c->c.qp++;
	}
}

static int ct_is_html(struct eval_ctx *c)
{
	const char *ct = rules_header_first(c->v, "Content-Type", 0);
	while (ct && isspace((unsigned char)*ct))
		ct++;
	return ct && strncasecmp(ct, "text/html", 9) == 0;
}

static int ev_mime_html(struct eval_ctx *c, const struct eval_args *a)
{
	(void)a;
	mime_compute(c);
	return ct_is_html(c) || c->c.html_parts > 0;
}

static int ev_mime_html_only(struct eval_ctx *c, const struct eval_args *a)
{
	(void)a;
	mime_compute(c);
	return ct_is_html(c) || (c->c.html_parts > 0 && c->c.text_parts == 0);
}

static const char *const mime_tests[] = {"mime_base64_count", "mime_qp_count", "mime_attachment"};

static int ev_check_for_mime(struct eval_ctx *c, const struct eval_args *a)
{
	mime_compute(c);
	if (strcmp(a->s[0], mime_tests[0]) == 0)
		return c->c.b64 > 0;
	if (strcmp(a->s[0], mime_tests[1]) == 0)
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

static int html_tag_index(const char *name, size_t n)
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
		for (const char *q = p; q < lt; q++)
			c->c.html_text += !isspace((unsigned char)*q);
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
			int t = html_tag_index(nm, (size_t)(q - nm));
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

static int ev_html_test(struct eval_ctx *c, const struct eval_args *a)
{
	(void)a;  /* only 'html' is prepared */
	html_compute(c);
	return c->c.ntags > 0;
}

static int ev_html_tag_exists(struct eval_ctx *c, const struct eval_args *a)
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

static int ev_html_tag_balance(struct eval_ctx *c, const struct eval_args *a)
{
	html_compute(c);
	int t = (int)a->d[0];
	if (!c->c.tag_open[t] && !c->c.tag_close[t])
		return 0;
	return cmp_expr((double)c->c.tag_open[t] - (double)c->c.tag_close[t], a->s[1]);
}

static int ev_html_eval(struct eval_ctx *c, const struct eval_args *a)
{
	html_compute(c);
	return c->c.ntags && cmp_expr((double)c->c.html_text, a->s[1]);
}

static int ev_html_range(struct eval_ctx *c, const struct eval_args *a)
{
	html_compute(c);
	double v = (double)c->c.html_text;
	if (!c->c.ntags)
		return 0;
	return v > a->d[1] && (!a->s[2] || strcmp(a->s[2], "inf") == 0 || v <= a->d[2]);
}

/* ---- the table --------------------------------------------------------- */

enum argcheck { AC_NONE, AC_HTML_TEST, AC_TAG, AC_HTML_LEN, AC_MIME };

static const struct eval_def {
	const char *name;
	eval_fn fn;
	int min_args, max_args;
	enum argcheck check;
} evals[] = {
	{"check_for_missing_to_header", ev_missing_to, 0, 0, AC_NONE},
	{"subject_is_all_caps", ev_subject_caps, 0, 0, AC_NONE},
	{"check_for_to_in_subject", ev_to_in_subject, 1, 1, AC_NONE},
	{"check_illegal_chars", ev_illegal_chars, 3, 3, AC_NONE},
	{"check_header_count_range", ev_header_count, 3, 3, AC_NONE},
	{"check_outlook_message_id", ev_outlook_msgid, 0, 0, AC_NONE},
	{"check_unresolved_template", ev_unresolved_template, 0, 0, AC_NONE},
	{"sorted_recipients", ev_sorted_recips, 0, 0, AC_NONE},
	{"similar_recipients", ev_similar_recips, 2, 2, AC_NONE},
	{"check_for_shifted_date", ev_shifted_date, 2, 2, AC_NONE},
	/* ok_locales/ok_languages default to "all": these never fire */
	{"check_for_faraway_charset_in_headers", ev_false, 0, 0, AC_NONE},
	{"check_for_faraway_charset", ev_false, 0, 0, AC_NONE},
	/* rampart is the trust boundary: no relay before it is trusted */
	{"check_all_trusted", ev_false, 0, 0, AC_NONE},
	{"check_equal_from_domains", ev_equal_from_domains, 0, 0, AC_NONE},
	{"check_for_matching_env_and_hdr_from", ev_env_hdr_from_match, 0, 0, AC_NONE},
	{"check_ratware_name_id", ev_ratware_name_id, 0, 0, AC_NONE},
	{"check_ratware_envelope_from", ev_ratware_envfrom, 0, 0, AC_NONE},
	{"check_for_uppercase", ev_uppercase, 2, 2, AC_NONE},
	{"check_body_length", ev_body_length, 1, 1, AC_NONE},
	{"check_for_mime_html", ev_mime_html, 0, 0, AC_NONE},
	{"check_for_mime_html_only", ev_mime_html_only, 0, 0, AC_NONE},
	{"check_for_mime", ev_check_for_mime, 1, 1, AC_MIME},
	{"html_test", ev_html_test, 1, 1, AC_HTML_TEST},
	{"html_tag_exists", ev_html_tag_exists, 1, 1, AC_TAG},
	{"html_tag_balance", ev_html_tag_balance, 2, 2, AC_TAG},
	{"html_eval", ev_html_eval, 2, 2, AC_HTML_LEN},
	{"html_range", ev_html_range, 3, 3, AC_HTML_LEN},
};

/* Network tests (DNS blocklists, hash services, sender authentication)
 * belong to other layers of rampart. */
static const char *const net_prefixes[] = {
	"check_rbl", "check_dns", "check_uridnsbl", "check_razor", "check_pyzor", "check_dcc",
	"check_spf", "check_for_spf", "check_for_def_spf", "check_dkim", "check_for_dkim",
	"check_for_def_dkim", "check_arc", "check_dmarc", "check_hashbl", "askdns",
	"check_access_database", "check_senders_reputation", "check_from_in_auto",
};

int rules_eval_lookup(const char *fn, enum eval_kind *kind)
{
	for (size_t i = 0; i < sizeof evals / sizeof evals[0]; i++)
		if (strcmp(evals[i].name, fn) == 0) {
			*kind = EVK_NATIVE;
			return (int)i;
		}
	*kind = EVK_UNKNOWN;
	for (size_t i = 0; i < sizeof net_prefixes / sizeof net_prefixes[0]; i++)
		if (strncmp(fn, net_prefixes[i], strlen(net_prefixes[i])) == 0)
			*kind = EVK_NET;
	return -1;
}

static int parse_args(const char *s, struct eval_args *a, struct err *e)
{
	memset(a, 0, sizeof *a);
	for (;;) {
		while (isspace((unsigned char)*s))
			s++;
		if (!*s)
			return 0;
		if (a->n >= RULES_MAX_EVAL_ARGS)
			return err_set(e, "too many arguments");
		const char *st;
		size_t n;
		if (*s == '\'' || *s == '"') {
			char q = *s++;
			st = s;
			while (*s && *s != q)
				s++;
			if (!*s)
				return err_set(e, "unterminated string");
			n = (size_t)(s - st);
			s++;
		} else {
			st = s;
			while (*s && *s != ',' && !isspace((unsigned char)*s))
				s++;
			n = (size_t)(s - st);
		}
		/* SpamAssassin's rules write undef bare or quoted ('undef') */
		int undef = n == 5 && strncmp(st, "undef", 5) == 0;
		a->s[a->n] = undef ? NULL : strndup(st, n);
		if (!undef && !a->s[a->n])
			return err_set(e, "out of memory");
		char *end;
		a->d[a->n] = undef ? NAN : strtod(a->s[a->n], &end);
		if (!undef && (end == a->s[a->n] || *end))
			a->d[a->n] = NAN;
		a->n++;
		while (isspace((unsigned char)*s))
			s++;
		if (*s == ',')
			s++;
		else if (*s)
			return err_set(e, "expected ',' in arguments");
	}
}

int rules_eval_prepare(int fn, const char *args, struct eval_args *out, struct err *e)
{
	const struct eval_def *d = &evals[fn];
	if (parse_args(args, out, e) < 0)
		return -1;
	if (out->n < d->min_args || out->n > d->max_args)
		return err_set(e, "takes %d to %d arguments", d->min_args, d->max_args);
	for (int i = 0; i < out->n; i++)
		if (!out->s[i] && !(fn >= 0 && (d->fn == ev_similar_recips || d->fn == ev_shifted_date)))
			return err_set(e, "undef argument");
	switch (d->check) {
	case AC_HTML_TEST:
		return strcmp(out->s[0], "html") == 0 ? 0 : 1;
	case AC_TAG: {
		int t = html_tag_index(out->s[0], strlen(out->s[0]));
		if (t < 0)
			return 1;
		out->d[0] = t;
		return 0;
	}
	case AC_HTML_LEN:
		return strcmp(out->s[0], "length") == 0 ? 0 : 1;
	case AC_MIME:
		for (size_t i = 0; i < sizeof mime_tests / sizeof mime_tests[0]; i++)
			if (strcmp(out->s[0], mime_tests[i]) == 0)
				return 0;
		return 1;
	case AC_NONE:
		break;
	}
	for (int i = 0; i < out->n; i++)
		if (d->fn != ev_illegal_chars && d->fn != ev_header_count && d->fn != ev_to_in_subject &&
		    out->s[i] && isnan(out->d[i]))
			return err_set(e, "argument %d is not a number", i + 1);
	return 0;
}

void rules_eval_args_free(struct eval_args *a)
{
	for (int i = 0; i < a->n; i++)
		free(a->s[i]);
	if (a->re)
		pcre2_code_free(a->re);
	memset(a, 0, sizeof *a);
}

int rules_eval_run(int fn, struct eval_ctx *c, const struct eval_args *a)
{
	if (fn < 0 || (size_t)fn >= sizeof evals / sizeof evals[0])
		return 0;
	return evals[fn].fn(c, a);
}

/* ---- plugins and capabilities ------------------------------------------ */

int rules_plugin_known(const char *name)
{
	static const char *const known[] = {"Check", "ReplaceTags", "HeaderEval", "BodyEval",
					    "MIMEEval", "HTMLEval", "RelayEval", "URIEval"};
	static const char prefix[] = "Mail::SpamAssassin::Plugin::";
	if (strncmp(name, prefix, sizeof prefix - 1) == 0)
		name += sizeof prefix - 1;
	size_t n = strcspn(name, " \t");
	for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
		if (strlen(known[i]) == n && strncmp(name, known[i], n) == 0)
			return 1;
	return 0;
}

int rules_can(const char *name)
{
	static const char *const can[] = {
		"Mail::SpamAssassin::Conf::feature_bug6558_free",
		"Mail::SpamAssassin::Conf::perl_min_version_5010000",
		"Mail::SpamAssassin::Conf::feature_registryboundaries",
		"Mail::SpamAssassin::Conf::feature_welcomelist_blocklist",
		"Mail::SpamAssassin::Plugin::BodyEval::has_check_body_length",
	};
	for (size_t i = 0; i < sizeof can / sizeof can[0]; i++)
		if (strcmp(name, can[i]) == 0)
			return 1;
	return 0;
}
