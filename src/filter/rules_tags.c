/* SpamAssassin's ReplaceTags plugin: in rules listed by replace_rules,
 * <TAG> becomes the replace_tag text, <pre N>/<post N>/<inter N> add
 * text before, after and between tags. Follows ReplaceTags.pm pass by
 * pass (up to 5 passes while replacements bring new tags). */
#include "filter/rules_int.h"

#include <stdlib.h>
#include <string.h>

#define TAGS_MAX_LEN (1u << 20)

/* First "<x...>" in s as Perl's /<.+?>/ finds it; returns its start. */
static const char *find_tag(const char *s, const char **end)
{
	for (const char *lt = strchr(s, '<'); lt; lt = strchr(lt + 1, '<')) {
		const char *gt = lt[1] ? strchr(lt + 2, '>') : NULL;
		if (gt) {
			*end = gt + 1;
			return lt;
		}
	}
	return NULL;
}

/* Removes the first "<word NAME>" and returns NAME (malloc'd) or NULL. */
static char *take_directive(struct buf *re, const char *word)
{
	size_t wl = strlen(word);
	for (char *p = re->data; p && (p = strchr(p, '<')); p++) {
		if (strncmp(p + 1, word, wl) != 0 || p[1 + wl] != ' ')
			continue;
		char *gt = strchr(p + 2 + wl, '>');
		if (!gt || gt == p + 2 + wl)
			continue;
		char *name = strndup(p + 2 + wl, (size_t)(gt - (p + 2 + wl)));
		memmove(p, gt + 1, strlen(gt + 1) + 1);
		re->len = strlen(re->data);
		return name;
	}
	return NULL;
}

struct tok {
	char *s;
	int is_tag;
};

/* split(/(<[^<>]+>)/): text and tag tokens alternate; trailing empty
 * fields dropped as Perl does. */
static int split_tags(const char *s, struct tok **out, size_t *n)
{
	size_t cap = 16, k = 0;
	struct tok *v = malloc(cap * sizeof *v);
	if (!v)
		return -1;
	const char *p = s;
	for (;;) {
		const char *lt = p, *gt = NULL;
		while ((lt = strchr(lt, '<'))) {
			size_t m = strcspn(lt + 1, "<>");
			if (m && lt[1 + m] == '>') {
				gt = lt + 1 + m;
				break;
			}
			lt++;
		}
		if (k + 2 >= cap) {
			cap *= 2;
			struct tok *nv = realloc(v, cap * sizeof *nv);
			if (!nv)
				goto fail;
			v = nv;
		}
		if (!gt) {
			v[k++] = (struct tok){strdup(p), 0};
			break;
		}
		v[k++] = (struct tok){strndup(p, (size_t)(lt - p)), 0};
		v[k++] = (struct tok){strndup(lt, (size_t)(gt + 1 - lt)), 1};
		p = gt + 1;
	}
	while (k && !v[k - 1].s[0]) {
		free(v[k - 1].s);
		k--;
	}
	*out = v;
	*n = k;
	return 0;
fail:
	for (size_t i = 0; i < k; i++)
		free(v[i].s);
	free(v);
	return -1;
}

/* Replaces every occurrence of pat in *s with rep. */
static int replace_all(char **s, const char *pat, const char *rep)
{
	struct buf b;
	buf_init(&b, TAGS_MAX_LEN);
	size_t pl = strlen(pat);
	const char *p = *s, *q;
	while ((q = strstr(p, pat))) {
		if (buf_append(&b, p, (size_t)(q - p)) < 0 || buf_puts(&b, rep) < 0)
			goto fail;
		p = q + pl;
	}
	if (buf_puts(&b, p) < 0)
		goto fail;
	free(*s);
	*s = buf_steal(&b);
	return *s ? 0 : -1;
fail:
	buf_free(&b);
	return -1;
}

static int one_pass(const struct rules_build *b, struct buf *re, int *again)
{
	char *pre = take_directive(re, "pre");
	char *post = take_directive(re, "post");
	char *inter = take_directive(re, "inter");
	const char *prev = pre ? strmap_get(&b->rtag[RTAG_PRE], pre) : NULL;
	const char *postv = post ? strmap_get(&b->rtag[RTAG_POST], post) : NULL;
	const char *interv = inter ? strmap_get(&b->rtag[RTAG_INTER], inter) : NULL;
	free(pre);
	free(post);
	free(inter);
	struct tok *t = NULL;
	size_t n = 0;
	int rc = -1;
	if (split_tags(re->data ? re->data : "", &t, &n) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		const char *e, *st;
		if (prev && *prev && (st = find_tag(t[i].s, &e))) {  /* first tag only */
			struct buf nb;
			buf_init(&nb, TAGS_MAX_LEN);
			if (buf_append(&nb, t[i].s, (size_t)(st - t[i].s)) < 0 || buf_puts(&nb, prev) < 0 ||
			    buf_puts(&nb, st) < 0)
				goto out;
			free(t[i].s);
			t[i].s = buf_steal(&nb);
		}
		if (postv && *postv && t[i].is_tag) {
			size_t l = strlen(t[i].s);
			char *ns = malloc(l + strlen(postv) + 1);
			if (!ns)
				goto out;
			memcpy(ns, t[i].s, l);
			memcpy(ns + l, postv, strlen(postv) + 1);
			free(t[i].s);
			t[i].s = ns;
		}
		if (interv && *interv && !t[i].s[0]) {
			free(t[i].s);
			t[i].s = strdup(interv);
		}
		if (!t[i].s)
			goto out;
		if ((st = find_tag(t[i].s, &e))) {
			char tag[256];
			size_t tl = (size_t)(e - st);
			if (tl >= sizeof tag)
				continue;
			memcpy(tag, st, tl);
			tag[tl] = '\0';
			tag[tl - 1] = '\0';
			const char *rep = strmap_get(&b->rtag[RTAG_TAG], tag + 1);
			tag[tl - 1] = '>';
			if (rep && *rep) {
				if (replace_all(&t[i].s, tag, rep) < 0)
					goto out;
				const char *x, *y;
				if ((x = strchr(rep, '<')) && (y = strchr(x + 1, '>')) && y > x + 1)
					*again = 1;
			}
		}
	}
	buf_reset(re);
	for (size_t i = 0; i < n; i++)
		if (buf_puts(re, t[i].s) < 0)
			goto out;
	rc = 0;
out:
	for (size_t i = 0; i < n; i++)
		free(t[i].s);
	free(t);
	return rc;
}

char *rules_replace_tags(const struct rules_build *b, const char *re)
{
	struct buf r;
	buf_init(&r, TAGS_MAX_LEN);
	if (buf_puts(&r, re) < 0)
		return NULL;
	for (int pass = 0; pass <= 5; pass++) {
		int again = 0;
		if (one_pass(b, &r, &again) < 0) {
			buf_free(&r);
			return NULL;
		}
		if (!again)
			break;
	}
	if (!r.data)
		return strdup("");
	return buf_steal(&r);
}
