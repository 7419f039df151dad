/* Turns a parsed rules_build into an immutable ruleset: scores and flags
 * resolved, header targets tabled, every regex checked with PCRE2 and
 * sorted into one Vectorscan database per text (body, rawbody, uri, full,
 * each header target). A pattern Vectorscan cannot run exactly goes into
 * the database as a prefilter (PCRE2 confirms a candidate), or, when even
 * that fails, runs through PCRE2 alone. */
#include "filter/rules_int.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/log.h"

static atomic_uint rules_generation;

/* Repeats above this count are widened for Vectorscan (see below). */
#define RELAX_REPEAT_LIMIT 32

/* ---- header targets ---------------------------------------------------- */

/* Pseudo-headers we cannot fill: the headers of trusted relays alone. */
static const char *const unsupported_targets[] = {"all-trusted", "all-internal"};

/* SpamAssassin's relay pseudo-headers (rules_relays_eval.c), in enum
 * relay_set order. */
static const char *const relay_targets[] = {
	"x-spam-relays-trusted", "x-spam-relays-untrusted", "x-spam-relays-internal",
	"x-spam-relays-external",
};

static int target_parse(const char *spec, struct htarget *t)
{
	char base[256];
	memset(t, 0, sizeof *t);
	size_t bn = strcspn(spec, ":");
	if (!bn || bn >= sizeof base)
		return -1;
	memcpy(base, spec, bn);
	base[bn] = '\0';
	for (const char *m = spec + bn; *m == ':';) {
		m++;
		size_t n = strcspn(m, ":");
		if (n == 3 && strncmp(m, "raw", 3) == 0)
			t->raw = 1;
		else if (n == 4 && strncmp(m, "addr", 4) == 0)
			t->addr = 1;
		else if (n == 4 && strncmp(m, "name", 4) == 0)
			t->dname = 1;
		else if (n == 5 && strncmp(m, "first", 5) == 0)
			t->first = 1;
		else if (n == 4 && strncmp(m, "last", 4) == 0)
			t->last = 1;
		else
			return -1;  /* :host, :domain, :ip need registry data */
		m += n;
	}
	char lc[256];
	for (size_t i = 0; i <= bn; i++)
		lc[i] = (char)tolower((unsigned char)base[i]);
	for (size_t i = 0; i < sizeof unsupported_targets / sizeof unsupported_targets[0]; i++)
		if (strcmp(lc, unsupported_targets[i]) == 0)
			return -1;
	if (strcmp(base, "ALL") == 0 || strcmp(base, "ALL-EXTERNAL") == 0 ||
	    strcmp(base, "ALL-UNTRUSTED") == 0)
		t->type = HT_ALL;  /* a gateway's whole header block is external */
	else if (strcmp(lc, "tocc") == 0)
		t->type = HT_TOCC;
	else if (strcmp(base, "MESSAGEID") == 0)
		t->type = HT_MESSAGEID;
	else if (strcmp(lc, "envelopefrom") == 0)
		t->type = HT_ENVFROM;
	else
		t->type = HT_NAMED;
	for (size_t i = 0; i < sizeof relay_targets / sizeof relay_targets[0]; i++)
		if (strcmp(lc, relay_targets[i]) == 0) {
			t->type = HT_RELAYS;
			t->rset = (int)i;
		}
	char key[320];
	snprintf(key, sizeof key, "%d:%s%s%s%s%s%s", t->type,
		 t->type == HT_NAMED || t->type == HT_RELAYS ? lc : "",
		 t->raw ? ":raw" : "", t->addr ? ":addr" : "", t->dname ? ":name" : "",
		 t->first ? ":first" : "", t->last ? ":last" : "");
	t->key = strdup(key);
	t->hname = strdup(lc);
	t->group = -1;
	return t->key && t->hname ? 0 : -2;
}

/* Index of the target for spec, adding it; -1 unsupported, -2 no memory. */
static int target_get(struct ruleset *rs, struct strmap *tmap, const char *spec)
{
	struct htarget t;
	int rc = target_parse(spec, &t);
	if (rc < 0)
		return rc;
	void *found = strmap_get(tmap, t.key);
	if (found) {
		free(t.key);
		free(t.hname);
		return (int)((uintptr_t)found - 1);
	}
	struct htarget *nt = realloc(rs->targets, (rs->ntargets + 1) * sizeof *nt);
	if (!nt) {
		free(t.key);
		free(t.hname);
		return -2;
	}
	rs->targets = nt;
	rs->targets[rs->ntargets] = t;
	if (strmap_put(tmap, t.key, (void *)(uintptr_t)(rs->ntargets + 1), NULL) < 0)
		return -2;
	return (int)rs->ntargets++;
}

/* ---- per-rule resolution ----------------------------------------------- */

static void apply_tflags(struct rule *r, const char *tf)
{
	if (!tf)
		return;
	char tmp[512];
	snprintf(tmp, sizeof tmp, "%s", tf);
	char *save = NULL;
	for (char *t = strtok_r(tmp, " \t", &save); t; t = strtok_r(NULL, " \t", &save)) {
		if (strcmp(t, "multiple") == 0)
			r->multiple = 1;
		else if (strncmp(t, "maxhits=", 8) == 0)
			r->maxhits = (unsigned)strtoul(t + 8, NULL, 10);
		else if (strcmp(t, "nosubject") == 0)
			r->nosubject = 1;
		else if (strcmp(t, "net") == 0 && r->skip == SKIP_NONE)
			r->skip = SKIP_NET;
		else if (strcmp(t, "learn") == 0 && r->skip == SKIP_NONE)
			r->skip = SKIP_LEARN;
	}
	if (r->maxhits && !r->multiple)
		r->multiple = 1;
	if (!r->maxhits || r->maxhits > RULES_MAX_HITS)
		r->maxhits = RULES_MAX_HITS;
}

static void rule_from_def(struct rules_build *b, const struct rdef *d, struct rule *r)
{
	memset(r, 0, sizeof *r);
	r->name = strdup(d->name);
	r->file = d->file;
	r->line = d->line;
	r->cls = d->cls;
	r->kind = d->kind;
	r->target = -1;
	r->eval = -1;
	r->skip = d->unsupported ? (enum rskip)d->unsupported : SKIP_NONE;
	struct rattr *a = strmap_get(&b->attrs, d->name);
	apply_tflags(r, a ? a->tflags : NULL);
	int nice = a && a->tflags && strstr(a->tflags, "nice");
	if (a && a->has_score) {
		r->score = a->score;
	} else {  /* SpamAssassin's defaults */
		r->score = strncmp(d->name, "T_", 2) == 0 ? 0.01 : 1.0;
		if (nice)
			r->score = -r->score;
	}
	r->scored = strncmp(d->name, "__", 2) != 0;
	r->strict = d->strict != 0;
	if (a && a->desc)
		r->desc = strdup(a->desc);
}

static uint32_t pcre_opts(const char *mods, enum rules_class cls)
{
	uint32_t o = 0;
	for (const char *m = mods; m && *m; m++) {
		if (*m == 'i')
			o |= PCRE2_CASELESS;
		else if (*m == 's')
			o |= PCRE2_DOTALL;
		else if (*m == 'm')
			o |= PCRE2_MULTILINE;
		else if (*m == 'x')
			o |= PCRE2_EXTENDED;
	}
	/* body lines and URIs are matched one by one in SpamAssassin; we scan
	 * them joined by newlines, so ^ and $ must see the line ends. */
	if (cls == RULES_BODY || cls == RULES_URI)
		o |= PCRE2_MULTILINE;
	return o;
}

static unsigned hs_opts(uint32_t po)
{
	unsigned f = HS_FLAG_ALLOWEMPTY | HS_FLAG_SINGLEMATCH;
	if (po & PCRE2_CASELESS)
		f |= HS_FLAG_CASELESS;
	if (po & PCRE2_DOTALL)
		f |= HS_FLAG_DOTALL;
	if (po & PCRE2_MULTILINE)
		f |= HS_FLAG_MULTILINE;
	return f;
}

static int pcre_matches(pcre2_code *pc, const char *s)
{
	pcre2_match_data *md = pcre2_match_data_create(1, NULL);
	if (!md)
		return 0;
	int rc = pcre2_match(pc, (PCRE2_SPTR)s, strlen(s), 0, 0, md, NULL);
	pcre2_match_data_free(md);
	return rc >= 0;
}

/* Huge alternations (word lists) can exceed PCRE2's compiled size limit;
 * a rule that Vectorscan matches exactly and that needs no counting, no
 * subject skipping and no missing-header test still runs, without PCRE2. */
static int too_large_ok(struct rule *r, uint32_t po)
{
	hs_expr_info_t *info = NULL;
	hs_compile_error_t *ce = NULL;
	if (r->multiple || r->nosubject || r->cls == RULES_HEADER || (po & PCRE2_EXTENDED))
		return 0;
	if (hs_expression_info(r->re, r->hsflags, &info, &ce) != HS_SUCCESS) {
		hs_free_compile_error(ce);
		return 0;
	}
	free(info);
	r->nopcre = 1;
	return 1;
}

static void regex_prepare(struct rules_build *b, const struct rdef *d, struct rule *r,
			  struct ruleset *rs, struct strmap *tmap)
{
	struct rattr *a = strmap_get(&b->attrs, d->name);
	r->re = a && a->replace ? rules_replace_tags(b, d->re) : strdup(d->re);
	if (!r->re) {
		r->skip = SKIP_ERROR;
		return;
	}
	r->negate = d->negate;
	uint32_t po = pcre_opts(d->mods, d->cls);
	int ec;
	PCRE2_SIZE off;
	r->pc = pcre2_compile((PCRE2_SPTR)r->re, PCRE2_ZERO_TERMINATED, po, &ec, &off, NULL);
	r->hsflags = hs_opts(po);
	if (!r->pc && ec == PCRE2_ERROR_PATTERN_TOO_LARGE && too_large_ok(r, po))
		return;  /* Vectorscan alone runs it */
	if (!r->pc) {
		char msg[160];
		pcre2_get_error_message(ec, (PCRE2_UCHAR *)msg, sizeof msg);
		if (ec == PCRE2_ERROR_PATTERN_TOO_LARGE && !d->strict) {
			/* a word list too large for both engines: a limit, not an error */
			rules_build_warn(b, d->file, d->line, "%s: not loaded: %s", d->name, msg);
			r->skip = SKIP_UNSUPPORTED;
			return;
		}
		rules_build_error(b, d->file, d->line, d->cls, "%s: regex: %s at offset %zu",
				  d->name, msg, (size_t)off);
		r->skip = SKIP_ERROR;
		return;
	}
	char *wide = po & PCRE2_EXTENDED ? NULL : rules_superset(r->re, RELAX_REPEAT_LIMIT);
	if (wide) {
		free(r->re);
		r->re = wide;
		r->relaxed = 1;
	}
	if (po & PCRE2_EXTENDED) {  /* Vectorscan has no flag for /x, only (?x) */
		size_t n = strlen(r->re) + 5;
		char *x = malloc(n);
		if (x) {
			snprintf(x, n, "(?x)%s", r->re);
			free(r->re);
			r->re = x;
		}
	}
	if (d->cls == RULES_HEADER) {
		int t = target_get(rs, tmap, d->target);
		if (t < 0) {
			r->skip = SKIP_UNSUPPORTED;
			return;
		}
		r->target = t;
		/* SpamAssassin matches a missing header as "" (or the if-unset
		 * text); decide that once here. */
		r->absent_hit = (unsigned)(pcre_matches(r->pc, d->unset ? d->unset : "") ^ d->negate);
	}
}

static void eval_prepare(struct rules_build *b, const struct rdef *d, struct rule *r)
{
	char fn[64];
	size_t n = strcspn(d->eval, "(");
	snprintf(fn, sizeof fn, "%.*s", (int)(n < 63 ? n : 63), d->eval);
	enum eval_kind kind;
	r->eval = rules_eval_lookup(fn, &kind);
	if (r->eval < 0) {
		if (r->skip == SKIP_NONE)
			r->skip = kind == EVK_NET ? SKIP_NET : SKIP_EVAL;
		if (kind != EVK_NET) {
			void *c = strmap_get(&b->skipped_evals, fn);
			strmap_put(&b->skipped_evals, fn, (void *)((uintptr_t)c + 1), NULL);
		}
		return;
	}
	char *args = strndup(d->eval + n + 1, strlen(d->eval + n + 1) - 1);
	struct err e;
	int rc = args ? rules_eval_prepare(r->eval, args, &r->args, &e) : -1;
	if (rc < 0) {
		rules_build_error(b, d->file, d->line, d->cls, "%s: eval %s: %s", d->name, fn,
				  args ? e.msg : "out of memory");
		r->skip = SKIP_ERROR;
	} else if (rc > 0) {  /* a variant of the function we do not implement */
		r->skip = SKIP_EVAL;
		char key[128];
		snprintf(key, sizeof key, "%s(%.40s)", fn, args);
		void *c = strmap_get(&b->skipped_evals, key);
		strmap_put(&b->skipped_evals, key, (void *)((uintptr_t)c + 1), NULL);
	}
	free(args);
}

static void exists_prepare(struct rules_build *b, const struct rdef *d, struct rule *r,
			   struct ruleset *rs, struct strmap *tmap)
{
	(void)b;
	if (r->skip != SKIP_NONE)
		return;
	int t = target_get(rs, tmap, d->target);
	if (t < 0)
		r->skip = SKIP_UNSUPPORTED;
	else
		r->target = t;
}

/* ---- Vectorscan databases ---------------------------------------------- */

static int group_add(struct ruleset *rs, int cls, int target, unsigned rule)
{
	int gi = target >= 0 ? rs->targets[target].group : rs->cgroup[cls];
	if (gi < 0) {
		struct rgroup *ng = realloc(rs->groups, (rs->ngroups + 1) * sizeof *ng);
		if (!ng)
			return -1;
		rs->groups = ng;
		gi = (int)rs->ngroups++;
		memset(&rs->groups[gi], 0, sizeof rs->groups[gi]);
		rs->groups[gi].cls = cls;
		rs->groups[gi].target = target;
		if (target >= 0)
			rs->targets[target].group = gi;
		else
			rs->cgroup[cls] = gi;
	}
	struct rgroup *g = &rs->groups[gi];
	unsigned *nm = realloc(g->members, (g->nmembers + 1) * sizeof *nm);
	if (!nm)
		return -1;
	g->members = nm;
	g->members[g->nmembers++] = rule;
	return 0;
}

void rules_set_engine(struct rule *r, enum rengine eng)
{
	if ((eng == ENG_HS_PRE || eng == ENG_PCRE) && !r->strict && r->re &&
	    strlen(r->re) > RULES_COSTLY_LEN) {
		r->eng = ENG_DROPPED;
		r->skip = SKIP_COSTLY;
		return;
	}
	r->eng = eng;
	if (eng == ENG_DROPPED)
		r->skip = SKIP_UNSUPPORTED;
}

/* Decides the engine of one rule before the database build. */
static void rule_engine(struct rule *r)
{
	hs_expr_info_t *info = NULL;
	hs_compile_error_t *ce = NULL;
	if (r->nopcre) {
		r->eng = ENG_HS;
		return;
	}
	if (r->nosubject) {  /* must skip the subject line: PCRE2 on the rest */
		r->eng = ENG_PCRE;
		return;
	}
	if (hs_expression_info(r->re, r->hsflags, &info, &ce) == HS_SUCCESS) {
		free(info);
		r->eng = r->relaxed ? ENG_HS_SUPER : ENG_HS;
		return;
	}
	if (ce)
		hs_free_compile_error(ce);
	ce = NULL;
	if (hs_expression_info(r->re, r->hsflags | HS_FLAG_PREFILTER, &info, &ce) == HS_SUCCESS) {
		free(info);
		rules_set_engine(r, ENG_HS_PRE);
		return;
	}
	hs_free_compile_error(ce);
	rules_set_engine(r, ENG_PCRE);
}

/* PCRE2 code stays only where a match needs it; JIT makes it fast. */
static void rule_finish_pcre(struct rule *r)
{
	int needed = r->eng != ENG_HS || r->multiple;
	if (!r->pc)
		return;
	if (!needed) {
		pcre2_code_free(r->pc);
		r->pc = NULL;
		return;
	}
	pcre2_jit_compile(r->pc, PCRE2_JIT_COMPLETE);  /* interpreted when JIT fails */
}

static int build_groups(struct ruleset *rs, struct rules_report *rep, const char *cache_dir,
			struct err *e)
{
	for (size_t i = 0; i < rs->nrules; i++) {
		struct rule *r = &rs->rules[i];
		if (r->kind != RK_REGEX || r->skip != SKIP_NONE)
			continue;
		rule_engine(r);
		if (r->skip != SKIP_NONE)
			continue;
		if (group_add(rs, r->cls, r->cls == RULES_HEADER ? r->target : -1, (unsigned)i) < 0)
			return err_set(e, "out of memory");
	}
	for (size_t i = 0; i < rs->ngroups && !rs->check_only; i++)
		if (rules_group_build(rs, &rs->groups[i], cache_dir, e) < 0)
			return -1;
	for (size_t i = 0; i < rs->nrules; i++) {
		struct rule *r = &rs->rules[i];
		if (r->kind != RK_REGEX || r->skip != SKIP_NONE)
			continue;
		rule_finish_pcre(r);
		if (rep) {
			rep->hs_exact += r->eng == ENG_HS;
			rep->hs_prefilter += r->eng == ENG_HS_PRE || r->eng == ENG_HS_SUPER;
			rep->pcre_only += r->eng == ENG_PCRE;
		}
	}
	if (rep)
		for (size_t i = 0; i < rs->ngroups; i++) {
			rep->databases += rs->groups[i].db != NULL;
			rep->databases_cached += rs->groups[i].db && rs->groups[i].cached;
		}
	return 0;
}

/* ---- the set ----------------------------------------------------------- */

static int index_rules(struct ruleset *rs)
{
	strmap_init(&rs->tbyname);
	for (size_t i = 0; i < rs->ntargets; i++) {
		struct htarget *t = &rs->targets[i];
		t->hn = -1;
		if (t->type != HT_NAMED)
			continue;
		void *f = strmap_get(&rs->tbyname, t->hname);
		if (!f) {
			f = (void *)(uintptr_t)(++rs->nhn);
			if (strmap_put(&rs->tbyname, t->hname, f, NULL) < 0)
				return -1;
		}
		t->hn = (int)((uintptr_t)f - 1);
	}
	size_t ne = 0, nv = 0;
	for (size_t i = 0; i < rs->nrules; i++) {
		struct rule *r = &rs->rules[i];
		if (r->skip != SKIP_NONE)
			continue;
		ne += r->kind == RK_EXISTS;
		nv += r->kind == RK_EVAL;
	}
	rs->exists = calloc(ne + 1, sizeof *rs->exists);
	rs->evals = calloc(nv + 1, sizeof *rs->evals);
	if (!rs->exists || !rs->evals)
		return -1;
	for (size_t i = 0; i < rs->nrules; i++) {
		struct rule *r = &rs->rules[i];
		if (r->skip != SKIP_NONE)
			continue;
		if (r->kind == RK_EXISTS)
			rs->exists[rs->nexists++] = (unsigned)i;
		else if (r->kind == RK_EVAL)
			rs->evals[rs->nevals++] = (unsigned)i;
	}
	return 0;
}

static void report_counts(struct ruleset *rs, struct rules_build *b)
{
	struct rules_report *rep = b->rep;
	if (!rep)
		return;
	for (size_t i = 0; i < rs->nrules; i++) {
		struct rule *r = &rs->rules[i];
		switch (r->skip) {
		case SKIP_NONE:
			rep->loaded++;
			rep->by_class[r->kind == RK_META ? RULES_META : r->cls]++;
			rep->eval_native += r->kind == RK_EVAL;
			break;
		case SKIP_NET: rep->net_skipped++; break;
		case SKIP_EVAL: rep->eval_skipped++; break;
		case SKIP_UNSUPPORTED: rep->unsupported++; break;
		case SKIP_ZERO: rep->zero_score++; break;
		case SKIP_LEARN: rep->unsupported++; break;
		case SKIP_COSTLY: rep->costly++; break;
		case SKIP_ERROR: break;
		}
	}
	size_t pos = 0;
	struct strmap_entry *en;
	while ((en = strmap_next(&b->skipped_evals, &pos))) {
		buf_printf(&rep->skipped_evals, "%s%s(%lu)", rep->skipped_evals.len ? " " : "",
			   en->key, (unsigned long)(uintptr_t)en->value);
		pos++;
	}
}

static int rules_from_defs(struct rules_build *b, struct ruleset *rs, struct strmap *tmap)
{
	size_t live = 0;
	for (size_t i = 0; i < b->ndefs; i++)
		live += !b->defs[i].dead;
	rs->rules = calloc(live + 1, sizeof *rs->rules);
	if (!rs->rules)
		return -1;
	for (size_t i = 0; i < b->ndefs; i++) {
		const struct rdef *d = &b->defs[i];
		if (d->dead)
			continue;
		struct rule *r = &rs->rules[rs->nrules];
		rule_from_def(b, d, r);
		if (!r->name ||
		    strmap_put(&rs->byname, r->name, (void *)(uintptr_t)(rs->nrules + 1), NULL) < 0)
			return -1;
		rs->nrules++;
		if (d->kind == RK_REGEX && r->skip == SKIP_NONE)
			regex_prepare(b, d, r, rs, tmap);
		else if (d->kind == RK_EVAL && r->skip == SKIP_NONE)
			eval_prepare(b, d, r);
		else if (d->kind == RK_EXISTS)
			exists_prepare(b, d, r, rs, tmap);
	}
	return 0;
}

struct ruleset *rules_compile(struct rules_build *b, const char *cache_dir, struct err *e)
{
	struct ruleset *rs = calloc(1, sizeof *rs);
	if (!rs) {
		err_set(e, "out of memory");
		return NULL;
	}
	atomic_init(&rs->refs, 1);
	rs->check_only = b->check_only;
	rs->gen = atomic_fetch_add(&rules_generation, 1) + 1;
	for (int i = 0; i < RULES_NCLASS; i++)
		rs->cgroup[i] = -1;
	strmap_init(&rs->byname);
	/* the set owns the file names; b keeps a borrowed view for errors */
	rs->files = b->files;
	rs->nfiles = b->nfiles;
	rs->freemail = b->freemail;
	rules_freemail_init(&b->freemail);
	struct strmap tmap;
	strmap_init(&tmap);
	int rc = rules_from_defs(b, rs, &tmap);
	strmap_free(&tmap, NULL);
	if (rc < 0) {
		err_set(e, "out of memory");
		goto fail;
	}
	if (rules_meta_compile(b, rs) < 0) {
		err_set(e, "out of memory");
		goto fail;
	}
	if (build_groups(rs, b->rep, cache_dir, e) < 0 || index_rules(rs) < 0) {
		if (!e->msg[0])
			err_set(e, "out of memory");
		goto fail;
	}
	report_counts(rs, b);
	b->files = NULL;
	b->nfiles = 0;
	return rs;
fail:
	b->files = NULL;
	b->nfiles = 0;
	rules_ruleset_free(rs);
	return NULL;
}

void rules_ruleset_free(struct ruleset *rs)
{
	if (!rs)
		return;
	for (size_t i = 0; i < rs->nrules; i++) {
		struct rule *r = &rs->rules[i];
		free(r->name);
		free(r->desc);
		free(r->re);
		pcre2_code_free(r->pc);
		rules_eval_args_free(&r->args);
	}
	free(rs->rules);
	rules_freemail_free(&rs->freemail);
	for (size_t i = 0; i < rs->nfiles; i++)
		free(rs->files[i]);
	free(rs->files);
	strmap_free(&rs->byname, NULL);
	strmap_free(&rs->tbyname, NULL);
	for (size_t i = 0; i < rs->ntargets; i++) {
		free(rs->targets[i].key);
		free(rs->targets[i].hname);
	}
	free(rs->targets);
	for (size_t i = 0; i < rs->ngroups; i++) {
		hs_free_database(rs->groups[i].db);
		free(rs->groups[i].map);
		free(rs->groups[i].members);
		free(rs->groups[i].pcre);
	}
	free(rs->groups);
	free(rs->exists);
	free(rs->evals);
	free(rs->metas);
	free(rs->prog);
	free(rs->mrun);
	free(rs->mcode);
	free(rs->mnum);
	free(rs);
}
