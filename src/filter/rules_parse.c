/* The .cf parser: SpamAssassin's line syntax (comments with unescaped #,
 * "lang xx" lines, if/ifplugin/else/endif blocks), rule definitions and
 * their attributes into a rules_build for rules_compile. Errors are
 * reported as file:line: reason and the line is skipped. */
#include "filter/rules_int.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "util/fsutil.h"

struct ifent {
	int skip_before;
	int value;
	unsigned line;
};

struct pctx {
	struct rules_build *b;
	unsigned file;
	unsigned line;
	int strict;
	struct ifent ifs[RULES_MAX_IF_DEPTH];
	int nif;
	int skip;
};

static void *xstrdup(const char *s)
{
	return s ? strdup(s) : NULL;
}

void rules_build_init(struct rules_build *b, struct rules_report *rep)
{
	memset(b, 0, sizeof *b);
	strmap_init(&b->names);
	strmap_init(&b->attrs);
	for (int i = 0; i < 4; i++)
		strmap_init(&b->rtag[i]);
	strmap_init(&b->skipped_evals);
	rules_freemail_init(&b->freemail);
	b->rep = rep;
}

static void rdef_free(struct rdef *d)
{
	free(d->name);
	free(d->target);
	free(d->re);
	free(d->mods);
	free(d->unset);
	free(d->eval);
	free(d->expr);
}

static void rattr_free(void *p)
{
	struct rattr *a = p;
	if (a) {
		free(a->desc);
		free(a->tflags);
		free(a);
	}
}

void rules_build_free(struct rules_build *b)
{
	for (size_t i = 0; i < b->ndefs; i++)
		rdef_free(&b->defs[i]);
	free(b->defs);
	for (size_t i = 0; i < b->nfiles; i++)
		free(b->files[i]);
	free(b->files);
	strmap_free(&b->names, NULL);
	strmap_free(&b->attrs, rattr_free);
	for (int i = 0; i < 4; i++)
		strmap_free(&b->rtag[i], free);
	strmap_free(&b->skipped_evals, NULL);
	rules_freemail_free(&b->freemail);
	memset(b, 0, sizeof *b);
}

void rules_build_error(struct rules_build *b, unsigned file, unsigned line, enum rules_class cls,
		       const char *fmt, ...)
{
	struct rules_report *r = b->rep;
	if (!r)
		return;
	r->nerrors++;
	if (cls < RULES_NCLASS)
		r->errors_by_class[cls]++;
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	const char *fname = file < b->nfiles ? b->files[file] : "?";
	buf_printf(&r->errors, "%s:%u: %s\n", fname, line, msg);
}

void rules_build_warn(struct rules_build *b, unsigned file, unsigned line, const char *fmt, ...)
{
	struct rules_report *r = b->rep;
	if (!r)
		return;
	r->nwarnings++;
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	buf_printf(&r->warnings, "%s:%u: %s\n", file < b->nfiles ? b->files[file] : "?", line, msg);
}

struct rattr *rules_attr(struct rules_build *b, const char *name)
{
	struct rattr *a = strmap_get(&b->attrs, name);
	if (a)
		return a;
	a = calloc(1, sizeof *a);
	if (!a || strmap_put(&b->attrs, name, a, NULL) < 0) {
		free(a);
		return NULL;
	}
	return a;
}

#define PERR(p, cls, ...) rules_build_error((p)->b, (p)->file, (p)->line, (cls), __VA_ARGS__)

/* ---- conditionals ------------------------------------------------------ */

static int d_cond(struct pctx *p, const char *key, char *value)
{
	if (!*value) {
		PERR(p, RULES_NCLASS, "missing '%s' condition", key);
		return 0;
	}
	if (p->nif >= RULES_MAX_IF_DEPTH) {
		PERR(p, RULES_NCLASS, "'%s' nested too deep", key);
		return 0;
	}
	int v = 0;
	if (strcmp(key, "ifplugin") == 0) {
		v = rules_plugin_known(value);
	} else if (rules_cond_eval(value, &v) < 0) {
		PERR(p, RULES_NCLASS, "bad 'if' condition: %.100s", value);
		v = 0;
	}
	p->ifs[p->nif++] = (struct ifent){p->skip, v, p->line};
	if (!v)
		p->skip = 1;
	return 0;
}

static int d_else(struct pctx *p)
{
	if (!p->nif) {
		PERR(p, RULES_NCLASS, "'else' without 'if'");
		return 0;
	}
	struct ifent *f = &p->ifs[p->nif - 1];
	f->value = !f->value;
	p->skip = f->skip_before || !f->value;
	return 0;
}

static int d_endif(struct pctx *p)
{
	if (!p->nif) {
		PERR(p, RULES_NCLASS, "'endif' without 'if'");
		return 0;
	}
	p->skip = p->ifs[--p->nif].skip_before;
	return 0;
}

/* ---- rule definitions -------------------------------------------------- */

static int valid_name(const char *s)
{
	if (!*s || strlen(s) > 128)
		return 0;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && *s != '_')
			return 0;
	return 1;
}

/* Splits "NAME rest"; returns rest or NULL after reporting. */
static char *split_name(struct pctx *p, char *value, enum rules_class cls, const char *key)
{
	char *sp = value + strcspn(value, " \t");
	if (!*sp) {
		PERR(p, cls, "%s: missing value", key);
		return NULL;
	}
	*sp++ = '\0';
	while (*sp == ' ' || *sp == '\t')
		sp++;
	if (!valid_name(value)) {
		PERR(p, cls, "%s: invalid rule name '%.60s'", key, value);
		return NULL;
	}
	return sp;
}

static struct rdef *new_def(struct pctx *p, const char *name, enum rules_class cls, enum rkind kind)
{
	struct rules_build *b = p->b;
	if (b->ndefs >= RULES_MAX_RULES) {
		PERR(p, cls, "too many rules");
		return NULL;
	}
	if (b->ndefs == b->capdefs) {
		size_t nc = b->capdefs ? b->capdefs * 2 : 1024;
		struct rdef *nd = realloc(b->defs, nc * sizeof *nd);
		if (!nd)
			return NULL;
		b->defs = nd;
		b->capdefs = nc;
	}
	void *old = NULL;
	if (strmap_put(&b->names, name, (void *)(uintptr_t)(b->ndefs + 1), &old) < 0)
		return NULL;
	if (old)  /* a later definition replaces the earlier one */
		b->defs[(uintptr_t)old - 1].dead = 1;
	struct rdef *d = &b->defs[b->ndefs++];
	memset(d, 0, sizeof *d);
	d->name = strdup(name);
	d->file = p->file;
	d->line = p->line;
	d->strict = p->strict;
	d->cls = cls;
	d->kind = kind;
	return d;
}

static int is_eval(const char *v, const char **fn)
{
	if (strncmp(v, "eval:", 5) == 0) {
		*fn = v + 5;
		return 1;
	}
	if (strncmp(v, "rbleval:", 8) == 0) {
		*fn = v + 8;
		return 2;
	}
	return 0;
}

static int def_eval(struct pctx *p, const char *name, enum rules_class cls, const char *fn, int net)
{
	const char *paren = strchr(fn, '(');
	size_t n = strlen(fn);
	if (!paren || paren == fn || fn[n - 1] != ')') {
		PERR(p, cls, "%s: invalid eval '%.80s'", name, fn);
		return 0;
	}
	struct rdef *d = new_def(p, name, cls, RK_EVAL);
	if (!d)
		return -1;
	d->eval = strdup(fn);
	if (net)
		d->unsupported = SKIP_NET;
	return 0;
}

static int def_regex(struct pctx *p, const char *name, enum rules_class cls, const char *text,
		     struct rdef **out)
{
	char *re = NULL, *mods = NULL;
	const char *rest;
	struct err e;
	if (rules_split_regex(text, &re, &mods, &rest, &e) < 0 || *rest) {
		PERR(p, cls, "%s: %s", name, *rest ? "text after the regex" : e.msg);
		free(re);
		free(mods);
		return 0;
	}
	struct rdef *d = new_def(p, name, cls, RK_REGEX);
	if (!d) {
		free(re);
		free(mods);
		return -1;
	}
	d->re = re;
	d->mods = mods;
	*out = d;
	return 0;
}

static int d_header(struct pctx *p, char *value)
{
	char *rest = split_name(p, value, RULES_HEADER, "header");
	if (!rest)
		return 0;
	const char *fn;
	int ev = is_eval(rest, &fn);
	if (ev)
		return def_eval(p, value, RULES_HEADER, fn, ev == 2 || !strncmp(fn, "check_rbl", 9));
	if (strncmp(rest, "exists:", 7) == 0) {
		struct rdef *d = new_def(p, value, RULES_HEADER, RK_EXISTS);
		if (!d)
			return -1;
		d->target = strdup(rest + 7);
		return 0;
	}
	/* Header[:mod[:mod]] (=~|!~) /re/mods [if-unset: text] */
	char *h = rest;
	size_t hn = strspn(h, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-:");
	char *op = h + hn;
	while (*op == ' ' || *op == '\t')
		op++;
	if (!hn || (strncmp(op, "=~", 2) != 0 && strncmp(op, "!~", 2) != 0)) {
		PERR(p, RULES_HEADER, "%s: expected 'Header =~ /regex/'", value);
		return 0;
	}
	int neg = op[0] == '!';
	h[hn] = '\0';
	if (hn > 1 && h[hn - 1] == ':')
		h[hn - 1] = '\0';
	char *pat = op + 2;
	while (*pat == ' ' || *pat == '\t')
		pat++;
	char *unset = NULL;
	char *u = strstr(pat, "[if-unset:");
	if (u && pat[strlen(pat) - 1] == ']') {
		char *q = u;
		while (q > pat && (q[-1] == ' ' || q[-1] == '\t'))
			q--;
		unset = u + 10;
		while (*unset == ' ' || *unset == '\t')
			unset++;
		unset[strlen(unset) - 1] = '\0';
		*q = '\0';
	}
	struct rdef *d = NULL;
	if (def_regex(p, value, RULES_HEADER, pat, &d) < 0)
		return -1;
	if (d) {
		d->target = strdup(h);
		d->negate = neg;
		d->unset = xstrdup(unset);
	}
	return 0;
}

static int d_textrule(struct pctx *p, char *value, enum rules_class cls, const char *key)
{
	char *rest = split_name(p, value, cls, key);
	if (!rest)
		return 0;
	const char *fn;
	int ev = is_eval(rest, &fn);
	if (ev)
		return def_eval(p, value, cls, fn, ev == 2);
	struct rdef *d = NULL;
	return def_regex(p, value, cls, rest, &d);
}

static int d_body(struct pctx *p, char *v) { return d_textrule(p, v, RULES_BODY, "body"); }
static int d_rawbody(struct pctx *p, char *v) { return d_textrule(p, v, RULES_RAWBODY, "rawbody"); }
static int d_uri(struct pctx *p, char *v) { return d_textrule(p, v, RULES_URI, "uri"); }
static int d_full(struct pctx *p, char *v) { return d_textrule(p, v, RULES_FULL, "full"); }

static int d_meta(struct pctx *p, char *value)
{
	char *rest = split_name(p, value, RULES_META, "meta");
	if (!rest)
		return 0;
	struct rdef *d = new_def(p, value, RULES_META, RK_META);
	if (!d)
		return -1;
	d->expr = strdup(rest);
	return 0;
}

/* Rule types of plugins we do not run: defined (so metas see 0), counted. */
static int d_unsupported(struct pctx *p, char *value, enum rskip why)
{
	char *rest = split_name(p, value, RULES_HEADER, "rule");
	if (!rest)
		return 0;
	struct rdef *d = new_def(p, value, RULES_HEADER, RK_EXISTS);
	if (!d)
		return -1;
	d->unsupported = why;
	return 0;
}

static int d_mimeheader(struct pctx *p, char *v) { return d_unsupported(p, v, SKIP_UNSUPPORTED); }
static int d_netrule(struct pctx *p, char *v) { return d_unsupported(p, v, SKIP_NET); }

static int d_score(struct pctx *p, char *value)
{
	char *rest = split_name(p, value, RULES_NCLASS, "score");
	if (!rest)
		return 0;
	double s[4];
	int n = 0, rel = 0;
	char *tok, *save = NULL;
	for (tok = strtok_r(rest, " \t", &save); tok; tok = strtok_r(NULL, " \t", &save)) {
		size_t tl = strlen(tok);
		if (tok[0] == '(' && tl > 2 && tok[tl - 1] == ')') {
			rel = 1;
			tok[tl - 1] = '\0';
			tok++;
		}
		char *end;
		double d = strtod(tok, &end);
		if (end == tok || *end || !isfinite(d) || n == 4) {
			PERR(p, RULES_NCLASS, "score %s: requires 1 or 4 numeric scores", value);
			return 0;
		}
		s[n++] = d;
	}
	if (n != 1 && n != 4) {
		PERR(p, RULES_NCLASS, "score %s: requires 1 or 4 numeric scores", value);
		return 0;
	}
	struct rattr *a = rules_attr(p->b, value);
	if (!a)
		return -1;
	/* Score set 2 of SpamAssassin: Bayes on, network tests off. */
	double v = n == 4 ? s[2] : s[0];
	if (rel && !a->has_score) {
		PERR(p, RULES_NCLASS, "score %s: relative score without a previous score", value);
		return 0;
	}
	a->score = rel ? a->score + v : v;
	a->has_score = 1;
	return 0;
}

static int d_describe(struct pctx *p, char *value)
{
	char *rest = split_name(p, value, RULES_NCLASS, "describe");
	if (!rest)
		return 0;
	struct rattr *a = rules_attr(p->b, value);
	if (!a)
		return -1;
	free(a->desc);
	a->desc = strndup(rest, 200);
	return 0;
}

static int d_tflags(struct pctx *p, char *value)
{
	char *rest = split_name(p, value, RULES_NCLASS, "tflags");
	if (!rest)
		return 0;
	struct rattr *a = rules_attr(p->b, value);
	if (!a)
		return -1;
	free(a->tflags);
	a->tflags = strndup(rest, 500);
	return 0;
}

static int d_rtag(struct pctx *p, char *value, int which)
{
	char *rest = split_name(p, value, RULES_NCLASS, "replace_tag");
	if (!rest)
		return 0;
	char *v = strdup(rest);
	void *old = NULL;
	if (!v || strmap_put(&p->b->rtag[which], value, v, &old) < 0) {
		free(v);
		return -1;
	}
	free(old);
	return 0;
}

static int d_replace_tag(struct pctx *p, char *v) { return d_rtag(p, v, RTAG_TAG); }
static int d_replace_pre(struct pctx *p, char *v) { return d_rtag(p, v, RTAG_PRE); }
static int d_replace_inter(struct pctx *p, char *v) { return d_rtag(p, v, RTAG_INTER); }
static int d_replace_post(struct pctx *p, char *v) { return d_rtag(p, v, RTAG_POST); }

static int d_replace_rules(struct pctx *p, char *value)
{
	char *tok, *save = NULL;
	for (tok = strtok_r(value, " \t", &save); tok; tok = strtok_r(NULL, " \t", &save)) {
		struct rattr *a = rules_attr(p->b, tok);
		if (!a)
			return -1;
		a->replace = 1;
	}
	return 0;
}

static int d_freemail(struct pctx *p, char *value)
{
	return rules_freemail_add(&p->b->freemail, value, 0);
}

static int d_freemail_welcome(struct pctx *p, char *value)
{
	return rules_freemail_add(&p->b->freemail, value, 1);
}

static int d_ignore(struct pctx *p, char *value)
{
	(void)p;
	(void)value;
	return 0;
}

static const struct directive {
	const char *key;
	int (*fn)(struct pctx *p, char *value);
} directives[] = {
	{"header", d_header},
	{"body", d_body},
	{"rawbody", d_rawbody},
	{"uri", d_uri},
	{"full", d_full},
	{"meta", d_meta},
	{"score", d_score},
	{"describe", d_describe},
	{"tflags", d_tflags},
	{"replace_tag", d_replace_tag},
	{"replace_pre", d_replace_pre},
	{"replace_inter", d_replace_inter},
	{"replace_post", d_replace_post},
	{"replace_rules", d_replace_rules},
	{"mimeheader", d_mimeheader},
	{"askdns", d_netrule},
	{"urirhssub", d_netrule},
	{"urirhsbl", d_netrule},
	{"uridnsbl", d_netrule},
	{"uridnssub", d_netrule},
	{"freemail_domains", d_freemail},
	{"freemail_whitelist", d_freemail_welcome},
	{"freemail_welcomelist", d_freemail_welcome},
	{"require_version", d_ignore},
	{"priority", d_ignore},
	{"reuse", d_ignore},
	{"test", d_ignore},
	{"lang", d_ignore},
};

/* ---- lines and files --------------------------------------------------- */

/* SpamAssassin: an unescaped # starts a comment, then \# becomes #. */
static void strip_comment(char *s)
{
	for (char *q = s; *q; q++)
		if (*q == '#' && (q == s || q[-1] != '\\')) {
			*q = '\0';
			break;
		}
	char *w = s;
	for (char *r = s; *r; r++) {
		if (r[0] == '\\' && r[1] == '#')
			continue;
		*w++ = *r;
	}
	*w = '\0';
}

static char *trim(char *s)
{
	while (isspace((unsigned char)*s))
		s++;
	size_t n = strlen(s);
	while (n && isspace((unsigned char)s[n - 1]))
		s[--n] = '\0';
	return s;
}

static int parse_line(struct pctx *p, char *line)
{
	if (strchr(line, '#'))
		strip_comment(line);
	char *s = trim(line);
	if (!*s)
		return 0;
	if (strncmp(s, "lang", 4) == 0 && (s[4] == ' ' || s[4] == '\t')) {
		s = trim(s + 5);
		size_t ln = strcspn(s, " \t");
		if (strncasecmp(s, "en", ln < 2 ? ln : 2) != 0)
			return 0;  /* other languages' describe/report lines */
		s = trim(s + ln);
	}
	char key[64];
	size_t kn = strcspn(s, " \t");
	if (kn >= sizeof key)
		kn = sizeof key - 1;
	for (size_t i = 0; i < kn; i++)
		key[i] = s[i] == '-' ? '_' : (char)tolower((unsigned char)s[i]);
	key[kn] = '\0';
	char *value = trim(s + strcspn(s, " \t"));
	if (strcmp(key, "endif") == 0)
		return d_endif(p);
	if (strcmp(key, "else") == 0)
		return d_else(p);
	if (strcmp(key, "if") == 0 || strcmp(key, "ifplugin") == 0) {
		if (p->skip) {  /* nested in a false block: only track depth */
			if (p->nif >= RULES_MAX_IF_DEPTH)
				return 0;
			p->ifs[p->nif++] = (struct ifent){1, 0, p->line};
			return 0;
		}
		return d_cond(p, key, value);
	}
	if (p->skip)
		return 0;
	for (size_t i = 0; i < sizeof directives / sizeof directives[0]; i++)
		if (strcmp(key, directives[i].key) == 0)
			return directives[i].fn(p, value);
	if (p->strict)
		PERR(p, RULES_NCLASS, "unknown directive '%s'", key);
	return 0;
}

static int parse_buffer(struct pctx *p, char *data, size_t len)
{
	char *s = data, *end = data + len;
	p->line = 0;
	while (s < end) {
		char *nl = memchr(s, '\n', (size_t)(end - s));
		char *le = nl ? nl : end;
		p->line++;
		*le = '\0';
		if ((size_t)(le - s) > RULES_MAX_LINE) {
			PERR(p, RULES_NCLASS, "line too long");
		} else if (memchr(s, '\0', (size_t)(le - s))) {
			PERR(p, RULES_NCLASS, "NUL byte in line");
		} else if (parse_line(p, s) < 0) {
			return -1;
		}
		s = le + 1;
	}
	for (int i = 0; i < p->nif; i++)
		rules_build_error(p->b, p->file, p->ifs[i].line, RULES_NCLASS, "unclosed 'if'");
	return 0;
}

static int parse_file(struct rules_build *b, const char *path, int strict, struct err *e)
{
	if (b->nfiles >= RULES_MAX_FILES)
		return err_set(e, "too many rule files");
	char **nf = realloc(b->files, (b->nfiles + 1) * sizeof *nf);
	if (!nf)
		return err_set(e, "out of memory");
	b->files = nf;
	if (!(b->files[b->nfiles] = strdup(path)))
		return err_set(e, "out of memory");
	unsigned idx = (unsigned)b->nfiles++;
	char *data = NULL;
	size_t len = 0;
	if (fs_read_all(path, RULES_MAX_FILE, &data, &len, e) < 0)
		return -1;
	struct pctx p = {.b = b, .file = idx, .strict = strict};
	int rc = parse_buffer(&p, data, len);
	free(data);
	if (b->rep)
		b->rep->files++;
	if (rc < 0)
		return err_set(e, "%s: out of memory", path);
	return 0;
}

static int cf_filter(const struct dirent *d)
{
	size_t n = strlen(d->d_name);
	return d->d_name[0] != '.' && n > 3 && strcmp(d->d_name + n - 3, ".cf") == 0;
}

int rules_parse_source(struct rules_build *b, const struct rules_source *src, struct err *e)
{
	struct stat st;
	int strict = (src->flags & RULES_SRC_STRICT) != 0;
	if (stat(src->path, &st) < 0)
		return err_set(e, "%s: %s", src->path, strerror(errno));
	if (!S_ISDIR(st.st_mode))
		return parse_file(b, src->path, strict, e);
	struct dirent **list = NULL;
	int n = scandir(src->path, &list, cf_filter, alphasort);
	if (n < 0)
		return err_set(e, "%s: %s", src->path, strerror(errno));
	int rc = 0;
	for (int i = 0; i < n; i++) {
		char path[4096];
		snprintf(path, sizeof path, "%s/%s", src->path, list[i]->d_name);
		if (!rc && stat(path, &st) == 0 && S_ISREG(st.st_mode))
			rc = parse_file(b, path, strict, e);
		free(list[i]);
	}
	free(list);
	return rc;
}
