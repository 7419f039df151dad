/* meta rules: boolean/arithmetic expressions over other rules, compiled to
 * a small stack program (RPN), ordered so every meta runs after the metas
 * it reads; cycles are reported and their rules skipped. Also decides
 * which zero-score rules still run because an active meta reads them. */
#include "filter/rules_int.h"

#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { TK_END, TK_NAME, TK_NUM, TK_OP, TK_LP, TK_RP, TK_BAD };

struct mtok {
	int kind;
	enum meta_op op;
	double num;
	char name[130];
	int unary;
};

struct mlex {
	const char *s;
	int prev_operand;   /* decides unary vs binary minus */
};

static const struct {
	const char *text;
	enum meta_op op;
	int prec;
} binops[] = {
	{"||", MOP_OR, 1}, {"&&", MOP_AND, 2}, {"==", MOP_EQ, 3}, {"!=", MOP_NE, 3},
	{"<=", MOP_LE, 4}, {">=", MOP_GE, 4}, {"<", MOP_LT, 4}, {">", MOP_GT, 4},
	{"+", MOP_ADD, 5}, {"-", MOP_SUB, 5}, {"*", MOP_MUL, 6}, {"/", MOP_DIV, 6},
};

static int op_prec(enum meta_op op)
{
	if (op == MOP_NOT || op == MOP_NEG)
		return 7;
	for (size_t i = 0; i < sizeof binops / sizeof binops[0]; i++)
		if (binops[i].op == op)
			return binops[i].prec;
	return 0;
}

static void mlex_next(struct mlex *l, struct mtok *t)
{
	memset(t, 0, sizeof *t);
	while (isspace((unsigned char)*l->s))
		l->s++;
	const char *s = l->s;
	if (!*s) {
		t->kind = TK_END;
		return;
	}
	if (isalpha((unsigned char)*s) || *s == '_') {
		size_t n = 0;
		while (isalnum((unsigned char)s[n]) || s[n] == '_')
			n++;
		if (n >= sizeof t->name) {
			t->kind = TK_BAD;
			return;
		}
		memcpy(t->name, s, n);
		t->kind = TK_NAME;
		l->s += n;
		l->prev_operand = 1;
		return;
	}
	if (isdigit((unsigned char)*s) || (*s == '.' && isdigit((unsigned char)s[1]))) {
		char *end;
		t->num = strtod(s, &end);
		t->kind = TK_NUM;
		l->s = end;
		l->prev_operand = 1;
		return;
	}
	if (*s == '(' || *s == ')') {
		t->kind = *s == '(' ? TK_LP : TK_RP;
		l->s++;
		l->prev_operand = *s == ')';
		return;
	}
	if (*s == '!' && s[1] != '=') {
		t->kind = TK_OP;
		t->op = MOP_NOT;
		t->unary = 1;
		l->s++;
		l->prev_operand = 0;
		return;
	}
	if (*s == '-' && !l->prev_operand) {
		t->kind = TK_OP;
		t->op = MOP_NEG;
		t->unary = 1;
		l->s++;
		return;
	}
	for (size_t i = 0; i < sizeof binops / sizeof binops[0]; i++) {
		size_t n = strlen(binops[i].text);
		if (strncmp(s, binops[i].text, n) == 0) {
			t->kind = TK_OP;
			t->op = binops[i].op;
			l->s += n;
			l->prev_operand = 0;
			return;
		}
	}
	t->kind = TK_BAD;
}

struct mprog {
	struct meta_ins *v;
	size_t n, cap;
};

static int emit(struct mprog *p, struct meta_ins ins)
{
	if (p->n == p->cap) {
		size_t nc = p->cap ? p->cap * 2 : 4096;
		struct meta_ins *nv = realloc(p->v, nc * sizeof *nv);
		if (!nv)
			return -1;
		p->v = nv;
		p->cap = nc;
	}
	p->v[p->n++] = ins;
	return 0;
}

/* Shunting-yard into p; returns 0, -1 (no memory) or 1 (syntax) with
 * *unknown set to the first unknown rule name when strict. */
static int meta_parse(struct ruleset *rs, const char *expr, struct mprog *p, int *depth,
		      char *errbuf, size_t errlen)
{
	struct mlex l = {expr, 0};
	struct mtok stack[256];
	int sp = 0, ntok = 0, d = 0, maxd = 0, expect_operand = 1;
	struct mtok t;
	for (;;) {
		mlex_next(&l, &t);
		if (++ntok > RULES_MAX_META_TOKENS || t.kind == TK_BAD) {
			snprintf(errbuf, errlen, "bad token near '%.20s'", l.s);
			return 1;
		}
		if (t.kind == TK_END)
			break;
		if (t.kind == TK_NAME || t.kind == TK_NUM) {
			if (!expect_operand)
				goto syntax;
			struct meta_ins ins = {.op = t.kind == TK_NUM ? MOP_NUM : MOP_RULE, .num = t.num,
					       .rule = -1};
			if (t.kind == TK_NAME) {
				void *f = strmap_get(&rs->byname, t.name);
				ins.rule = f ? (int)((uintptr_t)f - 1) : -1;
				if (!f && !errbuf[0])
					snprintf(errbuf, errlen, "unknown rule %s", t.name);
			}
			if (emit(p, ins) < 0)
				return -1;
			if (++d > maxd)
				maxd = d;
			expect_operand = 0;
		} else if (t.kind == TK_LP) {
			if (!expect_operand || sp >= 256)
				goto syntax;
			stack[sp++] = t;
		} else if (t.kind == TK_RP) {
			if (expect_operand)
				goto syntax;
			while (sp && stack[sp - 1].kind != TK_LP) {
				struct mtok *o = &stack[--sp];
				if (emit(p, (struct meta_ins){.op = o->op, .rule = -1}) < 0)
					return -1;
				d -= o->unary ? 0 : 1;
			}
			if (!sp)
				goto syntax;
			sp--;
		} else if (t.unary) {
			if (!expect_operand || sp >= 256)
				goto syntax;
			stack[sp++] = t;
		} else {
			if (expect_operand)
				goto syntax;
			int pr = op_prec(t.op);
			while (sp && stack[sp - 1].kind == TK_OP && op_prec(stack[sp - 1].op) >= pr) {
				struct mtok *o = &stack[--sp];
				if (emit(p, (struct meta_ins){.op = o->op, .rule = -1}) < 0)
					return -1;
				d -= o->unary ? 0 : 1;
			}
			if (sp >= 256)
				goto syntax;
			stack[sp++] = t;
			expect_operand = 1;
		}
	}
	if (expect_operand)
		goto syntax;
	while (sp) {
		struct mtok *o = &stack[--sp];
		if (o->kind == TK_LP)
			goto syntax;
		if (emit(p, (struct meta_ins){.op = o->op, .rule = -1}) < 0)
			return -1;
	}
	*depth = maxd;
	return 0;
syntax:
	snprintf(errbuf, errlen, "syntax error near '%.20s'", l.s);
	return 1;
}

/* Kahn's algorithm over meta -> meta edges. */
static int meta_order(struct rules_build *b, struct ruleset *rs, unsigned *metas, size_t nm)
{
	size_t n = rs->nrules;
	unsigned *indeg = calloc(n, sizeof *indeg), *queue = calloc(nm + 1, sizeof *queue);
	size_t *start = calloc(n + 1, sizeof *start);
	unsigned *adj = NULL;
	int rc = -1;
	if (!indeg || !queue || !start)
		goto out;
	/* edges dep -> meta, stored by dep in CSR form */
	size_t ne = 0;
	for (size_t i = 0; i < nm; i++) {
		struct rule *m = &rs->rules[metas[i]];
		for (size_t k = m->meta_off; k < m->meta_off + m->meta_len; k++) {
			int dep = rs->prog[k].rule;
			if (rs->prog[k].op == MOP_RULE && dep >= 0 && rs->rules[dep].kind == RK_META &&
			    rs->rules[dep].skip == SKIP_NONE) {
				start[dep]++;
				indeg[metas[i]]++;
				ne++;
			}
		}
	}
	size_t acc = 0;
	for (size_t i = 0; i <= n; i++) {
		size_t c = start[i];
		start[i] = acc;
		acc += c;
	}
	adj = calloc(ne + 1, sizeof *adj);
	size_t *fill = calloc(n + 1, sizeof *fill);
	if (!adj || !fill) {
		free(fill);
		goto out;
	}
	for (size_t i = 0; i < nm; i++) {
		struct rule *m = &rs->rules[metas[i]];
		for (size_t k = m->meta_off; k < m->meta_off + m->meta_len; k++) {
			int dep = rs->prog[k].rule;
			if (rs->prog[k].op == MOP_RULE && dep >= 0 && rs->rules[dep].kind == RK_META &&
			    rs->rules[dep].skip == SKIP_NONE)
				adj[start[dep] + fill[dep]++] = metas[i];
		}
	}
	free(fill);
	size_t qh = 0, qt = 0;
	for (size_t i = 0; i < nm; i++)
		if (!indeg[metas[i]])
			queue[qt++] = metas[i];
	while (qh < qt) {
		unsigned m = queue[qh++];
		for (size_t k = start[m]; k < start[m + 1]; k++)
			if (--indeg[adj[k]] == 0)
				queue[qt++] = adj[k];
	}
	for (size_t i = 0; i < nm; i++)
		if (indeg[metas[i]]) {
			struct rule *m = &rs->rules[metas[i]];
			rules_build_error(b, m->file, m->line, RULES_META,
					  "%s: meta dependency cycle", m->name);
			m->skip = SKIP_ERROR;
		}
	rs->metas = queue;
	rs->nmetas = qt;
	queue = NULL;
	rc = 0;
out:
	free(indeg);
	free(queue);
	free(start);
	free(adj);
	return rc;
}

/* A rule runs only when it can move the score: scored and not zero (in
 * SpamAssassin's rule files: at least RULES_MIN_EFFECT, which leaves out
 * T_ testing rules and 0.001 informational rules), or read by a meta that
 * runs. SpamAssassin itself does not run zero-score rules; sub-rules no
 * running meta reads are dead weight. Metas are walked from the last to
 * the first so every reader is decided before what it reads. */
static int contributes(const struct rule *r)
{
	if (r->skip != SKIP_NONE)
		return 0;
	if (r->needed)
		return 1;
	if (!r->scored)
		return 0;
	return r->strict ? r->score != 0 : fabs(r->score) >= RULES_MIN_EFFECT;
}

static void mark_needed(struct ruleset *rs)
{
	for (size_t i = rs->nmetas; i-- > 0;) {
		struct rule *m = &rs->rules[rs->metas[i]];
		if (!contributes(m))
			continue;
		for (size_t k = m->meta_off; k < m->meta_off + m->meta_len; k++)
			if (rs->prog[k].op == MOP_RULE && rs->prog[k].rule >= 0)
				rs->rules[rs->prog[k].rule].needed = 1;
	}
	size_t w = 0;
	for (size_t i = 0; i < rs->nrules; i++) {
		struct rule *r = &rs->rules[i];
		if (r->skip == SKIP_NONE && !contributes(r))
			r->skip = SKIP_ZERO;
	}
	for (size_t i = 0; i < rs->nmetas; i++)
		if (rs->rules[rs->metas[i]].skip == SKIP_NONE)
			rs->metas[w++] = rs->metas[i];
	rs->nmetas = w;
}

/* The compact form matching runs: 4-byte code words, metas in order. */
static int meta_pack(struct ruleset *rs)
{
	size_t ncode = 0, nnum = 0;
	for (size_t i = 0; i < rs->nmetas; i++) {
		const struct rule *m = &rs->rules[rs->metas[i]];
		ncode += m->meta_len;
		for (size_t k = m->meta_off; k < m->meta_off + m->meta_len; k++)
			nnum += rs->prog[k].op == MOP_NUM;
	}
	rs->mrun = calloc(rs->nmetas + 1, sizeof *rs->mrun);
	rs->mcode = calloc(ncode + 1, sizeof *rs->mcode);
	rs->mnum = calloc(nnum + 1, sizeof *rs->mnum);
	if (!rs->mrun || !rs->mcode || !rs->mnum)
		return -1;
	size_t c = 0, nn = 0;
	for (size_t i = 0; i < rs->nmetas; i++) {
		const struct rule *m = &rs->rules[rs->metas[i]];
		rs->mrun[i] = (struct mrun){rs->metas[i], (uint32_t)c, (uint32_t)m->meta_len};
		for (size_t k = m->meta_off; k < m->meta_off + m->meta_len; k++) {
			const struct meta_ins *in = &rs->prog[k];
			uint32_t arg = 0;
			if (in->op == MOP_RULE)
				arg = in->rule >= 0 ? (uint32_t)in->rule + 1 : 0;
			else if (in->op == MOP_NUM) {
				rs->mnum[nn] = in->num;
				arg = (uint32_t)nn++;
			}
			rs->mcode[c++] = (uint32_t)in->op | arg << 8;
		}
	}
	return 0;
}

int rules_meta_compile(struct rules_build *b, struct ruleset *rs)
{
	struct mprog p = {0};
	size_t nm = 0;
	unsigned *metas = calloc(rs->nrules + 1, sizeof *metas);
	if (!metas)
		return -1;
	/* definitions are in rs->rules order: find each one's expression */
	for (size_t i = 0, ri = 0; i < b->ndefs; i++) {
		const struct rdef *d = &b->defs[i];
		if (d->dead)
			continue;
		struct rule *r = &rs->rules[ri++];
		if (d->kind != RK_META || r->skip != SKIP_NONE)
			continue;
		char err[200] = "";
		size_t off = p.n;
		int depth = 0;
		int rc = meta_parse(rs, d->expr, &p, &depth, err, sizeof err);
		if (rc < 0) {
			free(p.v);
			free(metas);
			return -1;
		}
		if (rc > 0 || (err[0] && d->strict)) {
			rules_build_error(b, d->file, d->line, RULES_META, "%s: meta: %s", d->name, err);
			r->skip = SKIP_ERROR;
			p.n = off;
			continue;
		}
		r->meta_off = off;
		r->meta_len = p.n - off;
		r->meta_depth = depth;
		if (depth > rs->meta_stack)
			rs->meta_stack = depth;
		metas[nm++] = (unsigned)(r - rs->rules);
	}
	rs->prog = p.v;
	rs->nprog = p.n;
	int rc = meta_order(b, rs, metas, nm);
	free(metas);
	if (rc < 0)
		return -1;
	mark_needed(rs);
	rc = meta_pack(rs);
	free(rs->prog);
	rs->prog = NULL;
	return rc;
}
