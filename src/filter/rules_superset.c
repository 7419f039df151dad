/* Supersets of patterns for Vectorscan. Some SpamAssassin patterns cost
 * Vectorscan seconds to minutes of compilation (large bounded repeats such
 * as {0,2048}, long alternations repeated {1,3} inside one another) or
 * cannot be compiled exactly at all (lookaround). For the database such a
 * pattern is rewritten into one that matches a superset: lookarounds are
 * dropped and a costly repeat X{m,n} becomes X{min(m,4),}. The rule then
 * runs as "superset + PCRE2 confirm": a Vectorscan hit makes PCRE2 check
 * the exact pattern; no Vectorscan hit means no match. */
#include "filter/rules_int.h"

#include <stdlib.h>
#include <string.h>

#define GROUP_COST 600     /* repeat count x group length above which a group repeat widens */
#define MAX_GROUPS 64

/* Index just past the ')' closing the group opened at re[i] == '('. */
static size_t group_end(const char *re, size_t n, size_t i)
{
	int depth = 0, in_class = 0;
	for (; i < n; i++) {
		char c = re[i];
		if (c == '\\') {
			i++;
			continue;
		}
		if (in_class) {
			in_class = c != ']';
			continue;
		}
		if (c == '[') {
			in_class = 1;
			if (i + 1 < n && re[i + 1] == '^')
				i++;
			if (i + 1 < n && re[i + 1] == ']')
				i++;
		} else if (c == '(') {
			depth++;
		} else if (c == ')' && --depth == 0) {
			return i + 1;
		}
	}
	return n;
}

static int is_lookaround(const char *p, size_t left)
{
	if (left >= 3 && p[0] == '(' && p[1] == '?' && (p[2] == '=' || p[2] == '!'))
		return 1;
	return left >= 4 && p[0] == '(' && p[1] == '?' && p[2] == '<' && (p[3] == '=' || p[3] == '!');
}

static int parse_braces(const char *re, size_t n, size_t i, unsigned long *lo, unsigned long *hi,
			size_t *end)
{
	size_t j = i + 1;
	unsigned long m = 0, mx = 0;
	int has_m = 0, comma = 0, has_n = 0;
	while (j < n && re[j] >= '0' && re[j] <= '9' && m <= 100000) {
		m = m * 10 + (unsigned long)(re[j++] - '0');
		has_m = 1;
	}
	if (j < n && re[j] == ',') {
		comma = 1;
		j++;
		while (j < n && re[j] >= '0' && re[j] <= '9' && mx <= 100000) {
			mx = mx * 10 + (unsigned long)(re[j++] - '0');
			has_n = 1;
		}
	}
	if (!has_m || j >= n || re[j] != '}')
		return 0;
	*lo = m;
	*hi = comma && has_n ? mx : m;  /* {m,} is unbounded already: m is the count */
	*end = j;
	return 1;
}

struct sstate {
	const char *re;
	size_t n;
	unsigned limit;
	struct buf out;
	size_t stack[MAX_GROUPS], depth, last_group;
	int in_class, after_group, changed;
};

/* Copies a character class starting at re[i] == '['; returns its end. */
static size_t copy_class(struct sstate *st, size_t i)
{
	size_t j = i + 1;
	if (j < st->n && st->re[j] == '^')
		j++;
	if (j < st->n && st->re[j] == ']')
		j++;
	for (; j < st->n && st->re[j] != ']'; j++)
		if (st->re[j] == '\\')
			j++;
	if (j >= st->n)
		j = st->n - 1;
	buf_append(&st->out, st->re + i, j + 1 - i);
	return j;
}

static int widen(struct sstate *st, size_t i, int was_group, size_t *next)
{
	unsigned long lo, hi;
	size_t end;
	if (!parse_braces(st->re, st->n, i, &lo, &hi, &end))
		return 0;
	int big_group = was_group && hi > 1 && st->last_group * hi > GROUP_COST;
	if (!big_group && hi <= st->limit)
		return 0;
	/* a long group is not copied even a few times: one copy, then a loop */
	unsigned long keep = big_group ? 1 : 4;
	buf_printf(&st->out, "{%lu,}", lo < keep ? lo : keep);
	st->changed = 1;
	*next = end;
	return 1;
}

char *rules_superset(const char *re, unsigned limit)
{
	struct sstate st = {.re = re, .n = strlen(re), .limit = limit};
	buf_init(&st.out, st.n * 2 + 16);
	for (size_t i = 0; i < st.n; i++) {
		char c = re[i];
		int was_group = st.after_group;
		st.after_group = 0;
		if (c == '\\' && i + 1 < st.n) {
			buf_append(&st.out, re + i, 2);
			i++;
		} else if (c == '[') {
			i = copy_class(&st, i);
		} else if (is_lookaround(re + i, st.n - i)) {
			i = group_end(re, st.n, i) - 1;  /* zero-width: dropping it only widens */
			st.changed = 1;
		} else if (c == '{' && i > 0 && widen(&st, i, was_group, &i)) {
			continue;
		} else {
			if (c == '(' && st.depth < MAX_GROUPS)
				st.stack[st.depth++] = st.out.len;
			if (c == ')' && st.depth) {
				st.last_group = st.out.len + 1 - st.stack[--st.depth];
				st.after_group = 1;
			}
			buf_putc(&st.out, c);
		}
	}
	if (!st.changed || !st.out.data) {
		buf_free(&st.out);
		return NULL;
	}
	return buf_steal(&st.out);
}
