/* Rule-based scoring: rule files in SpamAssassin .cf syntax (header, body,
 * rawbody, uri, full, meta, eval:, score, describe, tflags, ifplugin/if).
 * Every regex of one text (body, rawbody, uri, full, each header target) is
 * compiled into one Vectorscan database at load, so a message costs one
 * block-mode scan per text, not one regex per rule; patterns Vectorscan
 * cannot compile exactly run through PCRE2 (JIT), prefiltered by Vectorscan
 * where possible. A loaded set is immutable and refcounted: a reload swaps
 * in a new set while in-flight scans finish on the old one. See
 * docs/rules.md for the syntax supported. */
#ifndef RAMPART_FILTER_RULES_H
#define RAMPART_FILTER_RULES_H

#include <pthread.h>
#include <stdio.h>
#include <time.h>

#include "mail/msgview.h"
#include "util/buf.h"
#include "util/err.h"

struct ruleset;
struct rules_scratch;
struct scan_job;

/* A rule source: a .cf file, or a directory whose *.cf files load in name
 * order. Strict sources (the project's own rules/) report unknown
 * directives as errors; other sources (SpamAssassin's) ignore them. */
#define RULES_SRC_STRICT 1u

struct rules_source {
	const char *path;
	unsigned flags;
};

enum rules_class {
	RULES_HEADER,
	RULES_BODY,
	RULES_RAWBODY,
	RULES_URI,
	RULES_FULL,
	RULES_META,
	RULES_NCLASS
};

/* What a load found. errors holds one "file:line: reason" per line. */
struct rules_report {
	struct buf errors;
	unsigned nerrors;
	unsigned files;
	unsigned loaded;                    /* rules that run */
	unsigned by_class[RULES_NCLASS];    /* of which, per class (evals by their class) */
	unsigned errors_by_class[RULES_NCLASS];
	unsigned eval_native;               /* eval: rules run natively */
	unsigned eval_skipped;              /* eval: functions not implemented */
	unsigned net_skipped;               /* tflags net, network plugins */
	unsigned unsupported;               /* pseudo-headers, mimeheader, ... */
	unsigned costly;                    /* huge patterns only PCRE2 could run */
	unsigned zero_score;                /* no effect: score 0, negligible score, unread sub-rule */
	unsigned hs_exact;                  /* regexes matched by Vectorscan alone */
	unsigned hs_prefilter;              /* Vectorscan prefilter + PCRE2 confirm */
	unsigned pcre_only;                 /* PCRE2 on every message */
	unsigned databases;                 /* Vectorscan databases */
	unsigned databases_cached;          /* of which loaded from the cache */
	double parse_ms, compile_ms;
	struct buf skipped_evals;           /* "fn(count) fn(count) ..." */
	struct buf warnings;                /* "file:line: reason" of rules a limit kept out */
	unsigned nwarnings;
};

void rules_report_init(struct rules_report *r);
void rules_report_free(struct rules_report *r);
/* One-line summary for the startup log. */
void rules_report_summary(const struct rules_report *r, char *out, size_t outlen);

/* Loads and compiles a rule set. A rule with an error is reported in rep
 * and skipped; the rest load. Returns NULL (with e set) only when a source
 * cannot be read or a database cannot be built at all. The set starts with
 * one reference. */
struct ruleset *rules_load(const struct rules_source *src, size_t nsrc, struct rules_report *rep,
			   struct err *e);
/* Same, keeping compiled databases in cache_dir (created if missing) so a
 * restart or a reload with unchanged rules skips Vectorscan compilation;
 * stale cache files are removed after a successful load. */
struct ruleset *rules_load_ex(const struct rules_source *src, size_t nsrc, const char *cache_dir,
			      struct rules_report *rep, struct err *e);
struct ruleset *rules_ref(struct ruleset *rs);
void rules_unref(struct ruleset *rs);
size_t rules_count(const struct ruleset *rs);
/* Rule lookup for tests and tools: score, or NAN when the rule is not
 * loaded (skipped or absent). */
double rules_score_of(const struct ruleset *rs, const char *name);

/* Per scan thread, never per message. rules_match fits the scratch to a
 * newer set by itself (Vectorscan grows the scratch in place). */
struct rules_scratch *rules_scratch_new(const struct ruleset *rs, struct err *e);
int rules_scratch_fit(struct rules_scratch *s, const struct ruleset *rs, struct err *e);
void rules_scratch_free(struct rules_scratch *s);

/* What the SMTP session knows (all optional; NULL fields are unknown). */
struct rules_env {
	const char *mail_from;   /* EnvelopeFrom; Return-Path is used when NULL */
	const char *helo;
	const char *client_ip;
	time_t now;              /* 0: use the time in the newest Received header */
};

struct rules_hit {
	const char *name;   /* valid while the set is referenced */
	const char *desc;
	double score;
	unsigned count;     /* hits (tflags multiple) */
};

/* Scored hits only (no __ sub-rules, no zero scores), in rule order. The
 * array lives in the scratch until its next use. */
struct rules_result {
	double score;
	const struct rules_hit *hits;
	size_t nhits;
	unsigned nsubhits;  /* all rules that hit, sub-rules included */
};

int rules_match(const struct ruleset *rs, struct rules_scratch *s, const struct msg_view *v,
		const struct rules_env *env, struct rules_result *out, struct err *e);
/* 1 when the named rule (sub-rules too) hit in the last rules_match on s. */
int rules_last_hit(const struct ruleset *rs, const struct rules_scratch *s, const char *name);

/* `rampart rules check`: loads the sources, prints every error as
 * file:line: reason and a summary to out; returns the exit status (0 when
 * no error, 1 otherwise). */
int rules_check_main(const struct rules_source *src, size_t nsrc, FILE *out);

/* The current set of an engine: readers take a reference under a short
 * lock, a reload swaps the pointer; the old set is freed by its last
 * reader. */
struct rules_slot {
	pthread_mutex_t mu;
	struct ruleset *cur;
};

void rules_slot_init(struct rules_slot *s);
void rules_slot_destroy(struct rules_slot *s);
/* A new reference to the current set (NULL when none), to rules_unref. */
struct ruleset *rules_slot_get(struct rules_slot *s);
/* Installs rs (taking over the caller's reference; NULL clears). */
void rules_slot_set(struct rules_slot *s, struct ruleset *rs);

/* Pipeline stage: matches the current set and adds every scored hit with
 * verdict_hit(). Needs the two accessors below, defined by pipeline.c. */
int stage_rules_run(struct scan_job *job);

struct filter_engine;
struct filter_thread;
struct rules_slot *filter_engine_rules_slot(struct filter_engine *fe);
/* The thread's scratch pointer (starts NULL; the stage makes and grows it,
 * filter_thread_free calls rules_scratch_free on it). */
struct rules_scratch **filter_thread_rules_scratch(struct filter_thread *ft);

#endif
