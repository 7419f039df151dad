/* SpamAssassin's FreeMail plugin, natively: the freemail_domains lists of
 * the stock rules (20_freemail_domains.cf) and the evals that use them —
 * check_freemail_from, check_freemail_header, check_freemail_replyto.
 * They feed FREEMAIL_FROM, FREEMAIL_FORGED_REPLYTO, FREEMAIL_REPLYTO_END_DIGIT
 * and the metas built on them (FREEMAIL_FORGED_FROMDOMAIN, ...), and make
 * the `ifplugin FreeMail` blocks (HEADER_FROM_DIFFERENT_DOMAINS) load. */
#include "filter/rules_int.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define FREEMAIL_ADDRS_MAX 32  /* addresses looked at per header */

void rules_freemail_init(struct freemail *fm)
{
	memset(fm, 0, sizeof *fm);
	strmap_init(&fm->exact);
	strmap_init(&fm->welcome);
}

void rules_freemail_free(struct freemail *fm)
{
	strmap_free(&fm->exact, NULL);
	strmap_free(&fm->welcome, NULL);
	for (size_t i = 0; i < fm->nwild; i++)
		free(fm->wild[i]);
	free(fm->wild);
	memset(fm, 0, sizeof *fm);
}

static void lower(char *s)
{
	for (; *s; s++)
		*s = (char)tolower((unsigned char)*s);
}

static int add_wild(struct freemail *fm, const char *pat)
{
	if (fm->nwild == fm->capwild) {
		size_t cap = fm->capwild ? fm->capwild * 2 : 64;
		char **w = realloc(fm->wild, cap * sizeof *w);
		if (!w)
			return -1;
		fm->wild = w;
		fm->capwild = cap;
	}
	if (!(fm->wild[fm->nwild] = strdup(pat)))
		return -1;
	fm->nwild++;
	return 0;
}

int rules_freemail_add(struct freemail *fm, char *list, int welcome)
{
	char *save = NULL;
	for (char *t = strtok_r(list, " \t,", &save); t; t = strtok_r(NULL, " \t,", &save)) {
		lower(t);
		if (welcome) {
			if (strmap_put(&fm->welcome, t, (void *)1, NULL) < 0)
				return -1;
		} else if (strchr(t, '*')) {
			if (add_wild(fm, t) < 0)
				return -1;
		} else if (strmap_put(&fm->exact, t, (void *)1, NULL) < 0) {
			return -1;
		}
	}
	return 0;
}

/* SpamAssassin turns * into [^.]* : a wildcard never spans a dot. */
static int wild_match(const char *p, const char *s)
{
	for (; *p; p++) {
		if (*p == '*') {
			for (const char *t = s;; t++) {
				if (wild_match(p + 1, t))
					return 1;
				if (!*t || *t == '.')
					return 0;
			}
		}
		if (*p != *s)
			return 0;
		s++;
	}
	return *s == '\0';
}

int rules_freemail_is(const struct freemail *fm, const char *addr)
{
	const char *at = strrchr(addr, '@');
	if (!at || !at[1] || at == addr)
		return 0;
	char a[256], *dom;
	snprintf(a, sizeof a, "%s", addr);
	lower(a);
	dom = a + (at - addr) + 1;
	if (strmap_get(&fm->welcome, a) || strmap_get(&fm->welcome, dom))
		return 0;
	if (strmap_get(&fm->exact, dom))
		return 1;
	for (size_t i = 0; i < fm->nwild; i++)
		if (wild_match(fm->wild[i], dom))
			return 1;
	return 0;
}

/* ---- the evals --------------------------------------------------------- */

static int re_ok(const struct eval_args *a, const char *addr)
{
	if (!a->re)
		return 1;
	pcre2_match_data *md = pcre2_match_data_create_from_pattern(a->re, NULL);
	if (!md)
		return 0;
	int rc = pcre2_match(a->re, (PCRE2_SPTR)addr, strlen(addr), 0, 0, md, NULL);
	pcre2_match_data_free(md);
	return rc >= 0;
}

static int addr_char(int c)
{
	return isalnum(c) || strchr("._%+-=", c);
}

/* Every address-looking token of a header line (SpamAssassin's
 * find_all_addrs_in_line), at most max. */
static size_t addrs_in(const char *line, char out[][256], size_t max)
{
	size_t n = 0;
	for (const char *at = strchr(line, '@'); at && n < max; at = strchr(at + 1, '@')) {
		const char *b = at, *e = at + 1;
		while (b > line && addr_char((unsigned char)b[-1]))
			b--;
		while (*e && (isalnum((unsigned char)*e) || *e == '.' || *e == '-'))
			e++;
		while (e > at + 1 && e[-1] == '.')
			e--;
		if (b == at || e == at + 1 || (size_t)(e - b) >= sizeof out[0])
			continue;
		memcpy(out[n], b, (size_t)(e - b));
		out[n][e - b] = '\0';
		n++;
	}
	return n;
}

static void from_addr(struct eval_ctx *c, const char *hdr, char *out, size_t outlen)
{
	out[0] = '\0';
	const char *v = rules_header_first(c->v, hdr, 1);
	if (v)
		rules_addr_first(v, out, outlen);
}

int rules_ev_freemail_from(struct eval_ctx *c, const struct eval_args *a)
{
	char from[256];
	from_addr(c, "From", from, sizeof from);
	return from[0] && re_ok(a, from) && rules_freemail_is(&c->rs->freemail, from);
}

int rules_ev_freemail_header(struct eval_ctx *c, const struct eval_args *a)
{
	char name[128], list[FREEMAIL_ADDRS_MAX][256];
	snprintf(name, sizeof name, "%s", a->s[0]);
	char *colon = strchr(name, ':');  /* "Reply-To:addr": the addresses anyway */
	if (colon)
		*colon = '\0';
	size_t n;
	if (strcasecmp(name, "EnvelopeFrom") == 0) {
		const char *mf = c->env ? c->env->mail_from : NULL;
		if (!mf || !*mf)
			mf = rules_header_first(c->v, "Return-Path", 1);
		n = mf ? addrs_in(mf, list, 1) : 0;
	} else {
		const char *v = rules_header_first(c->v, name, 1);
		n = v ? addrs_in(v, list, FREEMAIL_ADDRS_MAX) : 0;
	}
	for (size_t i = 0; i < n; i++)
		if (rules_freemail_is(&c->rs->freemail, list[i]) && re_ok(a, list[i]))
			return 1;
	return 0;
}

/* 'replyto' (default) and 'reply': a free mail Reply-To that is not the
 * From address (the body-address half of 'reply' is not implemented). */
int rules_ev_freemail_replyto(struct eval_ctx *c, const struct eval_args *a)
{
	(void)a;
	char from[256], rt[256];
	from_addr(c, "From", from, sizeof from);
	from_addr(c, "Reply-To", rt, sizeof rt);
	return rt[0] && rules_freemail_is(&c->rs->freemail, rt) && strcasecmp(from, rt) != 0;
}
