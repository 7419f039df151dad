/* Native header evals (SpamAssassin's HeaderEval and relatives): missing
 * To, subject in capitals, localpart in subject, illegal characters, header
 * counts, forged Outlook Message-IDs, unresolved templates, recipient
 * lists, shifted dates, envelope/header sender relations; and rampart's
 * own sender checks used by rules/. */
#include "filter/rules_int.h"

#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int rules_ev_missing_to(struct eval_ctx *c, const struct eval_args *a)
{
	(void)a;
	const char *to = rules_header_first(c->v, "To", 0);
	if (to && *to)
		return 0;
	const char *ap = rules_header_first(c->v, "Apparently-To", 0);
	return !(ap && *ap);
}

int rules_ev_subject_caps(struct eval_ctx *c, const struct eval_args *a)
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

int rules_ev_to_in_subject(struct eval_ctx *c, const struct eval_args *a)
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

struct illegal {
	size_t n, ill, ctl, exempt, nonascii, nonblank;
};

static void illegal_count(struct illegal *x, const char *str, int newline)
{
	const unsigned char *p = (const unsigned char *)str;
	for (; *p; p++) {
		unsigned char ch = *p;
		int bad = ch <= 0x08 || ch == 0x0b || ch == 0x0c || (ch >= 0x0e && ch <= 0x1f) || ch >= 0x7f;
		x->n++;
		x->ill += bad;
		x->ctl += ch < 0x20 && bad;
		x->nonascii += ch >= 0x80;
		x->exempt += ch == 0xa2 || ch == 0xa3 || ch == 0xae;
		x->nonblank += !isspace(ch);
	}
	x->n += newline;
}

/* Share of bytes RFC 2045 does not allow in a header (controls, 8-bit). */
int rules_ev_illegal_chars(struct eval_ctx *c, const struct eval_args *a)
{
	const char *h = a->s[0];
	struct illegal x = {0};
	if (strcmp(h, "ALL") == 0) {
		for (size_t i = 0; i < c->v->nheaders; i++)
			if (c->v->headers[i].raw)
				illegal_count(&x, c->v->headers[i].raw, 1);
	} else {
		const char *v = rules_header_first(c->v, h, 1);
		if (v)
			illegal_count(&x, v, 0);
	}
	/* valid UTF-8 without controls is fine (raw values are UTF-8 when the
	 * header was 8-bit UTF-8; other 8-bit bytes were replaced) */
	if (!x.nonblank || (x.nonascii && !x.ctl))
		return 0;
	if (x.ill && strcasecmp(h, "Subject") == 0 && x.exempt == 1)
		x.ill--;
	return (double)x.ill / (double)x.n >= a->d[1] && (double)x.ill >= a->d[2];
}

int rules_ev_header_count(struct eval_ctx *c, const struct eval_args *a)
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

int rules_ev_outlook_msgid(struct eval_ctx *c, const struct eval_args *a)
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

int rules_ev_unresolved_template(struct eval_ctx *c, const struct eval_args *a)
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
	struct recips *r = malloc(sizeof *r);
	if (!r)
		return;
	r->n = 0;
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

int rules_ev_sorted_recips(struct eval_ctx *c, const struct eval_args *a)
{
	(void)a;
	recip_compute(c);
	return c->c.sorted;
}

int rules_ev_similar_recips(struct eval_ctx *c, const struct eval_args *a)
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

int rules_ev_shifted_date(struct eval_ctx *c, const struct eval_args *a)
{
	date_compute(c);
	double dd = c->c.date_diff;
	return (!a->s[0] || dd >= 3600 * a->d[0]) && (!a->s[1] || dd < 3600 * a->d[1]);
}

int rules_ev_false(struct eval_ctx *c, const struct eval_args *a)
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

int rules_ev_equal_from_domains(struct eval_ctx *c, const struct eval_args *a)
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

int rules_ev_env_hdr_from_match(struct eval_ctx *c, const struct eval_args *a)
{
	(void)a;
	char from[256] = "", env[256];
	const char *fh = rules_header_first(c->v, "From", 1);
	if (fh)
		rules_addr_first(fh, from, sizeof from);
	envfrom_addr(c, env, sizeof env);
	return strcasecmp(from, env) == 0;
}

int rules_ev_ratware_name_id(struct eval_ctx *c, const struct eval_args *a)
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

int rules_ev_ratware_envfrom(struct eval_ctx *c, const struct eval_args *a)
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

/* ---- rampart's own sender checks (used by rules/) ----------------------- */

/* Domain part of an address header's first address, last two labels. */
static int header_domain2(const struct msg_view *v, const char *name, char *out, size_t outlen)
{
	char a[256];
	const char *h = rules_header_first(v, name, 1);
	out[0] = '\0';
	if (!h || rules_addr_first(h, a, sizeof a) < 0)
		return -1;
	addr_domain2(a, out, outlen);
	return out[0] ? 0 : -1;
}

/* Reply-To sends answers to another organisation than From. */
int rules_ev_replyto_differs(struct eval_ctx *c, const struct eval_args *a)
{
	(void)a;
	char fd[256], rd[256];
	if (header_domain2(c->v, "Reply-To", rd, sizeof rd) < 0 ||
	    header_domain2(c->v, "From", fd, sizeof fd) < 0)
		return 0;
	return strcasecmp(fd, rd) != 0;
}

/* The From display name shows an address of another domain than the one
 * the mail is from ("service@bank.example" <x@elsewhere.example>). */
int rules_ev_from_name_mismatch(struct eval_ctx *c, const struct eval_args *a)
{
	(void)a;
	char name[256], fd[256], nd[256];
	const char *h = rules_header_first(c->v, "From", 0);
	if (!h || rules_addr_name(h, name, sizeof name) < 0 ||
	    header_domain2(c->v, "From", fd, sizeof fd) < 0)
		return 0;
	const char *at = strchr(name, '@');
	if (!at || at == name || !isalnum((unsigned char)at[-1]))
		return 0;
	/* cut the address out of the name */
	const char *e = at + 1;
	while (*e && (isalnum((unsigned char)*e) || *e == '.' || *e == '-'))
		e++;
	const char *st = at;
	while (st > name && !isspace((unsigned char)st[-1]) && st[-1] != '"' && st[-1] != '\'' &&
	       st[-1] != '(' && st[-1] != '<')
		st--;
	char addr[256];
	snprintf(addr, sizeof addr, "%.*s", (int)(e - st), st);
	addr_domain2(addr, nd, sizeof nd);
	return nd[0] && strchr(nd, '.') && strcasecmp(nd, fd) != 0;
}
