/* Matching one message: one Vectorscan block scan per text (each header
 * target, body, rawbody, uri, full), PCRE2 only to confirm prefilter
 * candidates, count tflags-multiple hits and run the few patterns
 * Vectorscan rejects; then evals, metas in dependency order, and the
 * score. No allocation per message once the scratch has grown. */
#include "filter/rules_int.h"

#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util/log.h"

#define PCRE_MATCH_LIMIT 2000000
#define PCRE_DEPTH_LIMIT 20000

static void scratch_arrays_free(struct rules_scratch *s)
{
	free(s->hits);
	free(s->cand);
	free(s->candv);
	free(s->candend);
	free(s->out);
	free(s->stack);
	free(s->hfirst);
}

void rules_scratch_free(struct rules_scratch *s)
{
	if (!s)
		return;
	hs_free_scratch(s->hs);
	scratch_arrays_free(s);
	pcre2_match_data_free(s->md);
	pcre2_match_context_free(s->mctx);
	pcre2_jit_stack_free(s->jit);
	buf_free(&s->val);
	buf_free(&s->body);
	buf_free(&s->raw);
	buf_free(&s->uris);
	rules_relays_free(s->relays);
	free(s);
}

struct rules_scratch *rules_scratch_new(const struct ruleset *rs, struct err *e)
{
	struct rules_scratch *s = calloc(1, sizeof *s);
	if (!s) {
		err_set(e, "out of memory");
		return NULL;
	}
	buf_init(&s->val, RULES_MAX_HEADER);
	buf_init(&s->body, RULES_MAX_BODY);
	buf_init(&s->raw, RULES_MAX_RAWBODY);
	buf_init(&s->uris, RULES_MAX_URIS_TEXT);
	s->md = pcre2_match_data_create(1, NULL);
	s->mctx = pcre2_match_context_create(NULL);
	s->jit = pcre2_jit_stack_create(32 * 1024, 1024 * 1024, NULL);
	if (!s->md || !s->mctx || !s->jit) {
		rules_scratch_free(s);
		err_set(e, "out of memory");
		return NULL;
	}
	pcre2_set_match_limit(s->mctx, PCRE_MATCH_LIMIT);
	pcre2_set_depth_limit(s->mctx, PCRE_DEPTH_LIMIT);
	pcre2_jit_stack_assign(s->mctx, NULL, s->jit);
	if (rs && rules_scratch_fit(s, rs, e) < 0) {
		rules_scratch_free(s);
		return NULL;
	}
	return s;
}

int rules_scratch_fit(struct rules_scratch *s, const struct ruleset *rs, struct err *e)
{
	if (s->gen == rs->gen && s->gen)
		return 0;
	for (size_t i = 0; i < rs->ngroups; i++)
		if (rs->groups[i].db && hs_alloc_scratch(rs->groups[i].db, &s->hs) != HS_SUCCESS)
			return err_set(e, "vectorscan: cannot allocate scratch");
	if (rs->nrules > s->cap || !s->hits) {
		size_t n = rs->nrules + 1;
		scratch_arrays_free(s);
		s->hits = calloc(n, sizeof *s->hits);
		s->cand = calloc(n, sizeof *s->cand);
		s->candv = calloc(n, sizeof *s->candv);
		s->candend = calloc(n, sizeof *s->candend);
		s->out = calloc(n, sizeof *s->out);
		s->stack = NULL;
		s->hfirst = NULL;
		s->stackcap = s->hcap = 0;
		s->cap = n;
		if (!s->hits || !s->cand || !s->candv || !s->candend || !s->out) {
			s->cap = 0;
			return err_set(e, "out of memory");
		}
	}
	if ((size_t)rs->meta_stack + 1 > s->stackcap) {
		free(s->stack);
		s->stackcap = (size_t)rs->meta_stack + 1;
		if (!(s->stack = calloc(s->stackcap, sizeof *s->stack))) {
			s->stackcap = 0;
			return err_set(e, "out of memory");
		}
	}
	if (rs->nhn + 1 > s->hcap) {
		free(s->hfirst);
		s->hcap = rs->nhn + 1;
		if (!(s->hfirst = calloc(s->hcap, sizeof *s->hfirst))) {
			s->hcap = 0;
			return err_set(e, "out of memory");
		}
	}
	s->gen = rs->gen;
	return 0;
}

/* ---- regex groups ------------------------------------------------------ */

struct scanctx {
	struct rules_scratch *s;
	const struct rule *rules;
	const unsigned *map;
};

static int on_match(unsigned id, unsigned long long from, unsigned long long to, unsigned flags,
		    void *ctx)
{
	struct scanctx *c = ctx;
	id = c->map[id];
	const struct rule *r = &c->rules[id];
	(void)from;
	(void)flags;
	if (r->eng == ENG_HS && !r->multiple) {
		c->s->hits[id] = 1;
	} else if (!c->s->cand[id]) {
		c->s->cand[id] = 1;
		c->s->candv[c->s->ncand++] = id;
		c->s->candend[id] = (size_t)to;
	}
	return 0;
}

/* Hits of one rule with PCRE2: 0/1, or the count for tflags multiple. */
static unsigned pcre_count(struct rules_scratch *s, const struct rule *r, const char *text,
			   size_t len, size_t start)
{
	unsigned max = r->multiple ? r->maxhits : 1, n = 0;
	size_t off = start;
	while (n < max && off <= len) {
		int rc = pcre2_match(r->pc, (PCRE2_SPTR)text, len, off, 0, s->md, s->mctx);
		if (rc < 0) {
			if (rc != PCRE2_ERROR_NOMATCH)
				log_debug("rules: %s: pcre2 error %d", r->name, rc);
			break;
		}
		n++;
		PCRE2_SIZE *ov = pcre2_get_ovector_pointer(s->md);
		size_t next = ov[1] > ov[0] ? ov[1] : (ov[0] > off ? ov[0] : off) + 1;
		off = next;
	}
	return n;
}

static void group_run(const struct ruleset *rs, struct rules_scratch *s, const struct rgroup *g,
		      const char *text, size_t len)
{
	struct scanctx c = {s, rs->rules, g->map};
	s->ncand = 0;
	if (g->db && hs_scan(g->db, text ? text : "", (unsigned)len, 0, s->hs, on_match, &c) !=
			     HS_SUCCESS)
		log_warn("rules: vectorscan scan failed");
	/* Body lines and URIs match one by one in SpamAssassin, so an exact
	 * match lies within one line and ends at or after the first candidate
	 * end: PCRE2 starts at that line. */
	int lines = g->cls == RULES_BODY || g->cls == RULES_URI;
	for (size_t i = 0; i < s->ncand; i++) {
		unsigned id = s->candv[i];
		size_t start = 0;
		s->cand[id] = 0;
		if (lines && s->candend[id] && s->candend[id] <= len) {
			start = s->candend[id] - 1;  /* the match may end with the newline */
			while (start > 0 && text[start - 1] != '\n')
				start--;
		}
		s->hits[id] = (uint16_t)pcre_count(s, &rs->rules[id], text, len, start);
	}
	for (size_t i = 0; i < g->npcre; i++) {
		const struct rule *r = &rs->rules[g->pcre[i]];
		size_t start = r->nosubject && s->subject_len <= len ? s->subject_len : 0;
		s->hits[g->pcre[i]] = (uint16_t)pcre_count(s, r, text, len, start);
	}
	if (g->cls != RULES_HEADER)
		return;
	for (size_t i = 0; i < g->nmembers; i++) {
		const struct rule *r = &rs->rules[g->members[i]];
		if (r->negate)
			s->hits[g->members[i]] = !s->hits[g->members[i]];
	}
}

static void headers_index(const struct ruleset *rs, struct rules_scratch *s,
			  const struct msg_view *v)
{
	memset(s->hfirst, 0xff, s->hcap * sizeof *s->hfirst);
	char lc[128];
	for (size_t i = 0; i < v->nheaders; i++) {
		const char *n = v->headers[i].name;
		size_t k = 0;
		if (!n)
			continue;
		for (; n[k] && k < sizeof lc - 1; k++)
			lc[k] = (char)tolower((unsigned char)n[k]);
		lc[k] = '\0';
		void *f = strmap_get(&rs->tbyname, lc);
		if (f && s->hfirst[(uintptr_t)f - 1] < 0)
			s->hfirst[(uintptr_t)f - 1] = (int)i;
	}
}

static void run_headers(const struct ruleset *rs, struct rules_scratch *s,
			const struct msg_view *v, const struct rules_env *env)
{
	headers_index(rs, s, v);
	for (size_t t = 0; t < rs->ntargets; t++) {
		const struct htarget *ht = &rs->targets[t];
		if (ht->group < 0)
			continue;
		const struct rgroup *g = &rs->groups[ht->group];
		if (!rules_target_value(rs, s, ht, v, env, &s->val)) {
			for (size_t i = 0; i < g->nmembers; i++)
				s->hits[g->members[i]] = rs->rules[g->members[i]].absent_hit;
			continue;
		}
		group_run(rs, s, g, s->val.data, s->val.len);
	}
	for (size_t i = 0; i < rs->nexists; i++) {
		const struct rule *r = &rs->rules[rs->exists[i]];
		const struct htarget *t = &rs->targets[r->target];
		if (t->type == HT_NAMED && !t->addr && !t->dname)  /* present is enough */
			s->hits[rs->exists[i]] = t->hn >= 0 && s->hfirst[t->hn] >= 0;
		else
			s->hits[rs->exists[i]] = (uint16_t)rules_target_value(rs, s, t, v, env, &s->val);
	}
}

static void run_class(const struct ruleset *rs, struct rules_scratch *s, int cls, const char *text,
		      size_t len)
{
	if (rs->cgroup[cls] >= 0)
		group_run(rs, s, &rs->groups[rs->cgroup[cls]], text, len);
}

static void run_texts(const struct ruleset *rs, struct rules_scratch *s, const struct msg_view *v)
{
	run_class(rs, s, RULES_BODY, s->body.data, s->body.len);
	if (rs->cgroup[RULES_RAWBODY] >= 0) {
		rules_render_rawbody(v, &s->raw);
		run_class(rs, s, RULES_RAWBODY, s->raw.data, s->raw.len);
	}
	if (rs->cgroup[RULES_URI] >= 0) {
		buf_reset(&s->uris);
		for (size_t i = 0; i < v->nuris; i++)
			if (buf_puts(&s->uris, v->uris[i]) < 0 || buf_putc(&s->uris, '\n') < 0)
				break;
		run_class(rs, s, RULES_URI, s->uris.data, s->uris.len);
	}
	if (rs->cgroup[RULES_FULL] >= 0 && v->full) {
		size_t n = v->full_len < RULES_MAX_FULL ? v->full_len : RULES_MAX_FULL;
		run_class(rs, s, RULES_FULL, v->full, n);
	}
}

/* ---- metas ------------------------------------------------------------- */

static double meta_eval(const struct ruleset *rs, struct rules_scratch *s, const struct mrun *m)
{
	double *st = s->stack;
	int sp = 0;
	const uint32_t *code = rs->mcode + m->off;
	for (uint32_t k = 0; k < m->len; k++) {
		uint32_t op = code[k] & 0xff, arg = code[k] >> 8;
		double a, b;
		switch (op) {
		case MOP_RULE:
			st[sp++] = arg ? s->hits[arg - 1] : 0;
			continue;
		case MOP_NUM:
			st[sp++] = rs->mnum[arg];
			continue;
		case MOP_NOT:
			st[sp - 1] = st[sp - 1] == 0;
			continue;
		case MOP_NEG:
			st[sp - 1] = -st[sp - 1];
			continue;
		default:
			break;
		}
		b = st[--sp];
		a = st[sp - 1];
		double r = 0;
		switch (op) {
		case MOP_AND: r = a != 0 ? b : a; break;   /* Perl: value of the deciding operand */
		case MOP_OR: r = a != 0 ? a : b; break;
		case MOP_ADD: r = a + b; break;
		case MOP_SUB: r = a - b; break;
		case MOP_MUL: r = a * b; break;
		case MOP_DIV: r = b != 0 ? a / b : 0; break;
		case MOP_LT: r = a < b; break;
		case MOP_LE: r = a <= b; break;
		case MOP_GT: r = a > b; break;
		case MOP_GE: r = a >= b; break;
		case MOP_EQ: r = a == b; break;
		case MOP_NE: r = a != b; break;
		default: break;
		}
		st[sp - 1] = r;
	}
	return sp ? st[sp - 1] : 0;
}

/* ---- the message ------------------------------------------------------- */

static void collect(const struct ruleset *rs, struct rules_scratch *s, struct rules_result *out)
{
	out->score = 0;
	out->nhits = 0;
	out->nsubhits = 0;
	for (size_t i = 0; i < rs->nrules; i++) {
		if (!s->hits[i])
			continue;
		const struct rule *r = &rs->rules[i];
		out->nsubhits++;
		if (!r->scored || r->score == 0)
			continue;
		s->out[out->nhits++] = (struct rules_hit){r->name, r->desc ? r->desc : "", r->score,
							 s->hits[i]};
		out->score += r->score;
	}
	out->hits = s->out;
}

int rules_match(const struct ruleset *rs, struct rules_scratch *s, const struct msg_view *v,
		const struct rules_env *env, struct rules_result *out, struct err *e)
{
	if (rs->check_only)
		return err_set(e, "rule set loaded for checking only");
	if (rules_scratch_fit(s, rs, e) < 0)
		return -1;
	memset(s->hits, 0, rs->nrules * sizeof *s->hits);
	s->v = v;
	s->relays_done = 0;
	rules_render_body(v, &s->body, &s->subject_len);
	run_headers(rs, s, v, env);
	run_texts(rs, s, v);
	struct eval_ctx ec = {.rs = rs, .v = v, .env = env, .s = s, .body = s->body.data ? s->body.data : "",
			      .body_len = s->body.len, .subject_len = s->subject_len};
	for (size_t i = 0; i < rs->nevals; i++) {
		const struct rule *r = &rs->rules[rs->evals[i]];
		int h = rules_eval_run(r->eval, &ec, &r->args);
		s->hits[rs->evals[i]] = (uint16_t)(h > 0 ? h : 0);
	}
	for (size_t i = 0; i < rs->nmetas; i++)
		s->hits[rs->mrun[i].rule] = meta_eval(rs, s, &rs->mrun[i]) != 0;
	collect(rs, s, out);
	return 0;
}

int rules_last_hit(const struct ruleset *rs, const struct rules_scratch *s, const char *name)
{
	void *f = strmap_get(&rs->byname, name);
	if (!f || s->gen != rs->gen)
		return 0;
	return s->hits[(uintptr_t)f - 1] != 0;
}
