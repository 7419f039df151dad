/* Loading a rule set from its sources, the load report, reference
 * counting, the engine's current-set slot and `rampart rules check`. */
#include "filter/rules_int.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util/timeutil.h"

void rules_report_init(struct rules_report *r)
{
	memset(r, 0, sizeof *r);
	buf_init(&r->errors, RULES_MAX_ERRORS_TEXT);
	buf_init(&r->skipped_evals, 64u << 10);
	buf_init(&r->warnings, RULES_MAX_ERRORS_TEXT);
}

void rules_report_free(struct rules_report *r)
{
	buf_free(&r->errors);
	buf_free(&r->skipped_evals);
	buf_free(&r->warnings);
}

void rules_report_summary(const struct rules_report *r, char *out, size_t outlen)
{
	snprintf(out, outlen,
		 "rules: %u files, %u rules loaded (header %u, body %u, rawbody %u, uri %u, "
		 "full %u, meta %u), %u errors; regex: %u vectorscan, %u prefiltered, %u pcre2 "
		 "only, %u databases; skipped: %u eval not implemented, %u network, "
		 "%u unsupported, %u too costly, %u without effect; parse %.0f ms, compile %.0f ms (%u databases "
		 "from cache)",
		 r->files, r->loaded, r->by_class[RULES_HEADER], r->by_class[RULES_BODY],
		 r->by_class[RULES_RAWBODY], r->by_class[RULES_URI], r->by_class[RULES_FULL],
		 r->by_class[RULES_META], r->nerrors, r->hs_exact, r->hs_prefilter, r->pcre_only,
		 r->databases, r->eval_skipped, r->net_skipped, r->unsupported, r->costly, r->zero_score,
		 r->parse_ms, r->compile_ms, r->databases_cached);
}

struct ruleset *rules_load(const struct rules_source *src, size_t nsrc, struct rules_report *rep,
			   struct err *e)
{
	return rules_load_ex(src, nsrc, NULL, rep, e);
}

static struct ruleset *load(const struct rules_source *src, size_t nsrc, const char *cache_dir,
			    int check_only, struct rules_report *rep, struct err *e)
{
	struct rules_report local;
	if (!rep) {
		rules_report_init(&local);
		rep = &local;
	}
	struct rules_build b;
	rules_build_init(&b, rep);
	b.check_only = check_only;
	struct ruleset *rs = NULL;
	int64_t t0 = time_mono_us();
	for (size_t i = 0; i < nsrc; i++)
		if (rules_parse_source(&b, &src[i], e) < 0)
			goto out;
	int64_t t1 = time_mono_us();
	rep->parse_ms = (double)(t1 - t0) / 1000.0;
	e->msg[0] = '\0';
	rs = rules_compile(&b, cache_dir, e);
	rep->compile_ms = (double)(time_mono_us() - t1) / 1000.0;
	if (rs && cache_dir && !check_only)
		rules_cache_prune(cache_dir, rs);
	if (rs && !check_only) {
		/* compile the relay and Received-eval patterns now, not on the
		 * first message (about 50 ms); once per process */
		rules_relays_ready();
		rules_eval_rcvd_ready();
	}
out:
	rules_build_free(&b);
	if (rep == &local)
		rules_report_free(&local);
	return rs;
}

struct ruleset *rules_load_ex(const struct rules_source *src, size_t nsrc, const char *cache_dir,
			      struct rules_report *rep, struct err *e)
{
	return load(src, nsrc, cache_dir, 0, rep, e);
}

struct ruleset *rules_ref(struct ruleset *rs)
{
	if (rs)
		atomic_fetch_add(&rs->refs, 1);
	return rs;
}

void rules_unref(struct ruleset *rs)
{
	if (rs && atomic_fetch_sub(&rs->refs, 1) == 1)
		rules_ruleset_free(rs);
}

size_t rules_count(const struct ruleset *rs)
{
	size_t n = 0;
	for (size_t i = 0; rs && i < rs->nrules; i++)
		n += rs->rules[i].skip == SKIP_NONE;
	return n;
}

double rules_score_of(const struct ruleset *rs, const char *name)
{
	void *f = strmap_get(&rs->byname, name);
	if (!f || rs->rules[(uintptr_t)f - 1].skip != SKIP_NONE)
		return NAN;
	return rs->rules[(uintptr_t)f - 1].score;
}

int rules_check_main(const struct rules_source *src, size_t nsrc, FILE *out)
{
	struct rules_report rep;
	struct err e = {{0}};
	rules_report_init(&rep);
	/* Vectorscan would only confirm what the checks below found: skip
	 * building databases, which takes minutes for SpamAssassin's set */
	struct ruleset *rs = load(src, nsrc, NULL, 1, &rep, &e);
	if (rep.errors.len)
		fputs(rep.errors.data, out);
	if (rep.warnings.len) {
		fprintf(out, "rules: %u rule(s) of non-strict sources not loaded (limits):\n",
			rep.nwarnings);
		fputs(rep.warnings.data, out);
	}
	int status = 0;
	if (!rs) {
		fprintf(out, "rules: %s\n", e.msg);
		status = 1;
	} else {
		char sum[1024];
		rules_report_summary(&rep, sum, sizeof sum);
		fprintf(out, "%s\n", sum);
		if (rep.skipped_evals.len)
			fprintf(out, "rules: eval functions not implemented: %s\n",
				rep.skipped_evals.data);
		status = rep.nerrors ? 1 : 0;
	}
	rules_unref(rs);
	rules_report_free(&rep);
	return status;
}

void rules_slot_init(struct rules_slot *s)
{
	pthread_mutex_init(&s->mu, NULL);
	s->cur = NULL;
}

void rules_slot_destroy(struct rules_slot *s)
{
	rules_unref(s->cur);
	s->cur = NULL;
	pthread_mutex_destroy(&s->mu);
}

struct ruleset *rules_slot_get(struct rules_slot *s)
{
	pthread_mutex_lock(&s->mu);
	struct ruleset *rs = rules_ref(s->cur);
	pthread_mutex_unlock(&s->mu);
	return rs;
}

void rules_slot_set(struct rules_slot *s, struct ruleset *rs)
{
	pthread_mutex_lock(&s->mu);
	struct ruleset *old = s->cur;
	s->cur = rs;
	pthread_mutex_unlock(&s->mu);
	rules_unref(old);  /* freed here or by its last in-flight reader */
}
