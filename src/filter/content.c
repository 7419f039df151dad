/* Administrator content filters (content.h): compile, match, and the
 * pipeline stage. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "filter/content.h"

#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/log.h"

/* Per filter and message: enough for any sane pattern on 2 MB of text,
 * small enough that catastrophic backtracking stays cheap. */
#define MATCH_LIMIT 2000000u
#define DEPTH_LIMIT 10000u
#define HEAP_LIMIT_KB 20000u
#define COMPILE_OPTIONS (PCRE2_CASELESS | PCRE2_UTF | PCRE2_MATCH_INVALID_UTF)
#define HEADER_LINE_MAX (64u << 10)

struct content_filter {
	char id[FILTER_ID_MAX + 1];
	char header[FILTER_HEADER_MAX + 1];
	char *comment;
	enum filter_target target;
	enum action action;
	pcre2_code *re;
};

struct content_set {
	struct content_filter *f;
	size_t n;
	pcre2_match_context *mctx;
};

int content_target_parse(const char *s, enum filter_target *t, char *header_out,
			 size_t header_len)
{
	static const struct {
		const char *name;
		enum filter_target t;
	} names[] = {{"subject", FT_SUBJECT}, {"header", FT_HEADER_ANY}, {"body", FT_BODY}};
	for (size_t i = 0; i < sizeof names / sizeof *names; i++)
		if (strcmp(s, names[i].name) == 0) {
			*t = names[i].t;
			return 0;
		}
	if (strncasecmp(s, "header:", 7) != 0)
		return -1;
	const char *h = s + 7;
	size_t n = strlen(h);
	/* RFC 5322 field name: printable ASCII except ':' */
	if (n == 0 || n > FILTER_HEADER_MAX || n >= header_len)
		return -1;
	for (size_t i = 0; i < n; i++)
		if (h[i] <= 0x20 || h[i] > 0x7e || h[i] == ':')
			return -1;
	memcpy(header_out, h, n + 1);
	*t = FT_HEADER;
	return 0;
}

static pcre2_code *compile(const char *pattern, struct err *e)
{
	int code;
	PCRE2_SIZE off;
	pcre2_code *re = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED, COMPILE_OPTIONS,
				       &code, &off, NULL);
	if (!re) {
		PCRE2_UCHAR msg[256];
		pcre2_get_error_message(code, msg, sizeof msg);
		err_set(e, "pattern does not compile at offset %zu: %s", (size_t)off, (char *)msg);
	}
	return re;
}

int content_pattern_check(const char *pattern, struct err *e)
{
	pcre2_code *re = compile(pattern, e);
	pcre2_code_free(re);
	return re ? 0 : -1;
}

static int filter_cmp(const void *a, const void *b)
{
	return strcmp(((const struct content_filter *)a)->id,
		      ((const struct content_filter *)b)->id);
}

/* One filter/<id> row into f; -1 (logged) when it cannot be used. */
static int filter_load(struct content_filter *f, const char *id, const char *value)
{
	json_t *j = json_loads(value, 0, NULL);
	const char *t = json_string_value(json_object_get(j, "target"));
	const char *pat = json_string_value(json_object_get(j, "pattern"));
	const char *a = json_string_value(json_object_get(j, "action"));
	struct err e = {""};
	memset(f, 0, sizeof *f);
	snprintf(f->id, sizeof f->id, "%s", id);
	int ok = t && pat &&
		 content_target_parse(t, &f->target, f->header, sizeof f->header) == 0 &&
		 lists_action_parse(a, &f->action) == 0 && (f->re = compile(pat, &e)) != NULL;
	if (ok) {
		const char *c = json_string_value(json_object_get(j, "comment"));
		f->comment = strdup(c ? c : "");
		pcre2_jit_compile(f->re, PCRE2_JIT_COMPLETE); /* interpreted when JIT is missing */
	} else {
		log_warn("content filter %s skipped: %s", log_esc(id),
			 e.msg[0] ? e.msg : "bad value");
	}
	json_decref(j);
	return ok ? 0 : -1;
}

struct content_set *content_build(json_t *keys)
{
	struct content_set *cs = calloc(1, sizeof *cs);
	size_t cap = 0;
	const char *key;
	json_t *v;
	json_object_foreach(keys, key, v)
	{
		if (strncmp(key, "filter/", 7) != 0 || !json_is_string(v) ||
		    !filter_id_valid(key + 7))
			continue;
		if (cs->n == cap) {
			cap = cap ? cap * 2 : 16;
			struct content_filter *nf = realloc(cs->f, cap * sizeof *nf);
			if (!nf)
				log_panic("content: out of memory");
			cs->f = nf;
		}
		if (filter_load(&cs->f[cs->n], key + 7, json_string_value(v)) == 0)
			cs->n++;
	}
	if (cs->n)
		qsort(cs->f, cs->n, sizeof *cs->f, filter_cmp);
	cs->mctx = pcre2_match_context_create(NULL);
	pcre2_set_match_limit(cs->mctx, MATCH_LIMIT);
	pcre2_set_depth_limit(cs->mctx, DEPTH_LIMIT);
	pcre2_set_heap_limit(cs->mctx, HEAP_LIMIT_KB);
	return cs;
}

void content_free(struct content_set *cs)
{
	if (!cs)
		return;
	for (size_t i = 0; i < cs->n; i++) {
		pcre2_code_free(cs->f[i].re);
		free(cs->f[i].comment);
	}
	free(cs->f);
	pcre2_match_context_free(cs->mctx);
	free(cs);
}

size_t content_count(const struct content_set *cs)
{
	return cs ? cs->n : 0;
}

/* ---- matching ------------------------------------------------------ */

struct matcher {
	const struct content_set *cs;
	pcre2_match_data *md;
	struct buf line;
};

static int re_match(struct matcher *m, const struct content_filter *f, const char *s, size_t n)
{
	int rc = pcre2_match(f->re, (PCRE2_SPTR)s, n, 0, 0, m->md, m->cs->mctx);
	if (rc < 0 && rc != PCRE2_ERROR_NOMATCH)
		log_debug("content filter %s: match stopped (%d): counted as no match", f->id, rc);
	return rc >= 0;
}

static int match_headers(struct matcher *m, const struct content_filter *f,
			 const struct msg_view *v)
{
	for (size_t i = 0; i < v->nheaders; i++) {
		const struct msg_header *h = &v->headers[i];
		const char *val = h->value ? h->value : "";
		if (f->target == FT_HEADER) {
			if (strcasecmp(h->name, f->header) == 0 && re_match(m, f, val, strlen(val)))
				return 1;
			continue;
		}
		buf_reset(&m->line);
		if (buf_printf(&m->line, "%s: %s", h->name, val) < 0)
			continue; /* longer than HEADER_LINE_MAX: the body target sees such text */
		if (re_match(m, f, m->line.data, m->line.len))
			return 1;
	}
	return 0;
}

static int filter_matches(struct matcher *m, const struct content_filter *f,
			  const struct msg_view *v)
{
	const char *s;
	switch (f->target) {
	case FT_SUBJECT:
		s = msgview_header(v, "Subject");
		return re_match(m, f, s ? s : "", s ? strlen(s) : 0);
	case FT_BODY:
		return re_match(m, f, v->text.data ? v->text.data : "", v->text.len);
	case FT_HEADER:
	case FT_HEADER_ANY:
		return match_headers(m, f, v);
	}
	return 0;
}

static int severity(enum action a)
{
	static const int rank[] = {[ACTION_ALLOW] = 0, [ACTION_TAG] = 1, [ACTION_QUARANTINE] = 2,
				   [ACTION_BLOCK] = 3, [ACTION_TEMPFAIL] = 4};
	return rank[a];
}

int content_eval(const struct content_set *cs, const struct msg_view *v,
		 struct content_hit *hit)
{
	if (!cs || !cs->n || !v)
		return 0;
	struct matcher m = {.cs = cs, .md = pcre2_match_data_create(1, NULL)};
	buf_init(&m.line, HEADER_LINE_MAX);
	int nhit = 0;
	for (size_t i = 0; i < cs->n; i++) {
		const struct content_filter *f = &cs->f[i];
		if (nhit && severity(f->action) <= severity(hit->action))
			continue; /* cannot change the outcome */
		if (!filter_matches(&m, f, v))
			continue;
		nhit++;
		*hit = (struct content_hit){f->id, f->comment, f->action, f->target};
		if (f->action == ACTION_BLOCK)
			break;
	}
	buf_free(&m.line);
	pcre2_match_data_free(m.md);
	return nhit;
}

/* ---- the stage ----------------------------------------------------- */

static const char *target_name(enum filter_target t)
{
	static const char *const n[] = {"subject", "header", "header", "body"};
	return n[t];
}

int stage_content_run(struct scan_job *job)
{
	static const char *const rule[] = {
		[ACTION_ALLOW] = "CONTENT_FILTER_ALLOW",
		[ACTION_TAG] = "CONTENT_FILTER_TAG",
		[ACTION_QUARANTINE] = "CONTENT_FILTER_QUARANTINE",
		[ACTION_BLOCK] = "CONTENT_FILTER_BLOCK",
	};
	struct verdict *v = job->v;
	if (!job->view || (v->final && v->action == ACTION_BLOCK))
		return 0;
	struct policy *p = policy_acquire(filter_engine_cfg(job->fe));
	struct content_hit hit;
	if (content_eval(policy_content(p), job->view, &hit) > 0) {
		char reason[256];
		snprintf(reason, sizeof reason, "content filter %s on %s%s%.150s", hit.id,
			 target_name(hit.target), hit.comment[0] ? ": " : "", hit.comment);
		policy_apply(job, hit.action, "content", rule[hit.action], reason,
			     "message content refused by policy");
	}
	policy_release(p);
	return 0;
}
