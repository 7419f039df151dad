/* Small pieces of the .cf language: the expressions of "if" lines
 * (plugin(), can(), has(), version, comparisons, !, &&, ||, parentheses)
 * and Perl regex literals (/re/mods, m{re}mods, m!re!mods). */
#include "filter/rules_int.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

/* ---- if expressions ------------------------------------------------------ */

struct cond {
	const char *s;
	int err;
};

static double cond_or(struct cond *c);

static void cond_ws(struct cond *c)
{
	while (isspace((unsigned char)*c->s))
		c->s++;
}

static int cond_eat(struct cond *c, const char *tok)
{
	cond_ws(c);
	size_t n = strlen(tok);
	if (strncmp(c->s, tok, n) != 0)
		return 0;
	c->s += n;
	return 1;
}

/* plugin(X) / can(X) / has(X): the argument is a class or method name. */
static double cond_call(struct cond *c, int kind)
{
	char name[200];
	size_t n = 0;
	if (!cond_eat(c, "(")) {
		c->err = 1;
		return 0;
	}
	cond_ws(c);
	while ((isalnum((unsigned char)*c->s) || *c->s == '_' || *c->s == ':') && n < sizeof name - 1)
		name[n++] = *c->s++;
	name[n] = '\0';
	if (!n || !cond_eat(c, ")")) {
		c->err = 1;
		return 0;
	}
	return kind == 0 ? rules_plugin_known(name) : rules_can(name);
}

static double cond_primary(struct cond *c)
{
	cond_ws(c);
	if (cond_eat(c, "(")) {
		double v = cond_or(c);
		if (!cond_eat(c, ")"))
			c->err = 1;
		return v;
	}
	static const struct {
		const char *word;
		int kind;       /* 0 plugin, 1 can/has, 2 value */
		double value;
	} words[] = {
		{"plugin", 0, 0}, {"can", 1, 0}, {"has", 1, 0},
		{"version", 2, 4.000001}, {"perl_version", 2, 5.036}, {"local_tests_only", 2, 1},
	};
	for (size_t i = 0; i < sizeof words / sizeof words[0]; i++) {
		size_t n = strlen(words[i].word);
		if (strncmp(c->s, words[i].word, n) == 0 && !isalnum((unsigned char)c->s[n]) &&
		    c->s[n] != '_') {
			c->s += n;
			return words[i].kind == 2 ? words[i].value : cond_call(c, words[i].kind);
		}
	}
	char *end;
	double v = strtod(c->s, &end);
	if (end == c->s) {
		c->err = 1;
		return 0;
	}
	c->s = end;
	return v;
}

static double cond_cmp(struct cond *c)
{
	if (cond_eat(c, "!"))
		return !cond_cmp(c);
	double a = cond_primary(c);
	static const char *const ops[] = {">=", "<=", "==", "!=", ">", "<"};
	for (int i = 0; i < 6; i++) {
		cond_ws(c);
		if (strncmp(c->s, ops[i], strlen(ops[i])) == 0) {
			c->s += strlen(ops[i]);
			double b = cond_primary(c);
			switch (i) {
			case 0: return a >= b;
			case 1: return a <= b;
			case 2: return a == b;
			case 3: return a != b;
			case 4: return a > b;
			default: return a < b;
			}
		}
	}
	return a;
}

static double cond_and(struct cond *c)
{
	double v = cond_cmp(c);
	while (!c->err && cond_eat(c, "&&")) {
		double w = cond_cmp(c);
		v = v && w;
	}
	return v;
}

static double cond_or(struct cond *c)
{
	double v = cond_and(c);
	while (!c->err && cond_eat(c, "||")) {
		double w = cond_and(c);
		v = v || w;
	}
	return v;
}

int rules_cond_eval(const char *s, int *value)
{
	struct cond c = {s, 0};
	double v = cond_or(&c);
	cond_ws(&c);
	if (c.err || *c.s)
		return -1;
	*value = v != 0;
	return 0;
}

/* ---- regex literals ---------------------------------------------------- */

int rules_split_regex(const char *s, char **re, char **mods, const char **rest, struct err *e)
{
	char open, close;
	const char *p = s;
	*re = *mods = NULL;
	if (*p == '/') {
		open = close = '/';
		p++;
	} else if (p[0] == 'm' && p[1] && strchr("{(<[", p[1])) {
		open = p[1];
		close = open == '{' ? '}' : open == '(' ? ')' : open == '<' ? '>' : ']';
		p += 2;
	} else if (p[0] == 'm' && p[1] && !isalnum((unsigned char)p[1]) && p[1] != '_' &&
		   p[1] != '\\' && !isspace((unsigned char)p[1])) {
		open = close = p[1];
		p += 2;
	} else {
		return err_set(e, "missing regex delimiters");
	}
	(void)open;
	/* The end delimiter is the last one followed only by modifiers. */
	size_t n = strlen(p);
	const char *end = NULL;
	for (size_t i = n; i-- > 0;) {
		if (p[i] != close)
			continue;
		size_t j = i + 1;
		while (j < n && isalpha((unsigned char)p[j]))
			j++;
		if (j == n || isspace((unsigned char)p[j])) {
			end = p + i;
			break;
		}
	}
	if (!end)
		return err_set(e, "invalid end delimiter");
	const char *m = end + 1;
	size_t mn = 0;
	while (isalpha((unsigned char)m[mn]))
		mn++;
	for (size_t i = 0; i < mn; i++)
		if (!strchr("imsxogapludn", m[i]) || m[i] == 'e')
			return err_set(e, "invalid regex modifier '%c'", m[i]);
	if (close == '/') {  /* an unescaped delimiter inside ends the regex early */
		for (const char *q = p; q < end; q++) {
			if (*q == '\\' && q + 1 < end) {
				q++;
				continue;
			}
			if (*q == '/')
				return err_set(e, "unescaped delimiter '/' in regex");
		}
	}
	*re = strndup(p, (size_t)(end - p));
	*mods = strndup(m, mn);
	const char *r = m + mn;
	while (isspace((unsigned char)*r))
		r++;
	*rest = r;
	if (!*re || !*mods) {
		free(*re);
		free(*mods);
		*re = *mods = NULL;
		return err_set(e, "out of memory");
	}
	return 0;
}
