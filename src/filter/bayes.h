/* Bayesian classifier: token counts in SQLite, Robinson's f(w) per token
 * and Fisher's chi-square combining of the most significant ones
 * (SpamBayes / SpamAssassin style). Scans read an in-memory snapshot of
 * the token table shared by all scan threads; training writes SQLite and
 * bumps a version that makes the next scan reload the snapshot. */
#ifndef RAMPART_FILTER_BAYES_H
#define RAMPART_FILTER_BAYES_H

#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>

#include "filter/pipeline.h"
#include "filter/tokenize.h"
#include "mail/msgview.h"
#include "util/err.h"

/* Setting-like constants (candidates for the settings table). */
#define BAYES_MIN_SPAM 200          /* trained spam before Bayes is active */
#define BAYES_MIN_HAM 200
#define BAYES_ROBINSON_S 0.45       /* strength of the prior x */
#define BAYES_ROBINSON_X 0.5        /* prior probability of an unknown word */
#define BAYES_MIN_STRENGTH 0.1      /* ignore tokens with |f - 0.5| below this */
#define BAYES_MAX_CLUES 150         /* at most this many tokens combined */
#define BAYES_MAX_MARKUP_CLUES 10   /* of which HTML markup tokens */
#define BAYES_MAX_HNAME_CLUES 5     /* of which header-name tokens */
#define BAYES_EXPIRE_DAYS 120       /* rare tokens not learned for this long go */
#define BAYES_EXPIRE_MAX_COUNT 2    /* "rare": spam + ham at most this */
#define BAYES_MAX_DB_TOKENS 1000000 /* hard cap on the token table */
#define BAYES_AUTOLEARN_SPAM 12.0   /* auto-learn thresholds on the total score */
#define BAYES_AUTOLEARN_HAM 0.1
#define BAYES_RELOAD_CHECK_MS 2000  /* how often scans look for a newer DB */

/* Creates the tables if missing (bayes_token, bayes_var, bayes_seen). */
int bayes_init(sqlite3 *db, struct err *e);

/* Identity of a message for learn/unlearn bookkeeping. */
uint64_t bayes_msg_key(const struct msg_view *v);

/* Learns a message as spam (1) or ham (0). A message learned before as
 * the other class is moved; learned as the same class it is a no-op.
 * Returns 1 when counts changed, 0 for a no-op, -1 on error. Runs in a
 * savepoint, so callers may wrap many calls in one BEGIN/COMMIT. */
int bayes_learn(sqlite3 *db, const struct msg_view *v, int spam, struct err *e);
/* Forgets a learned message. Returns 1 if it was learned, 0 if not. */
int bayes_unlearn(sqlite3 *db, const struct msg_view *v, struct err *e);
/* The same on an already tokenized message. */
int bayes_learn_tokens(sqlite3 *db, uint64_t key, const struct tok_set *ts, int spam,
		       struct err *e);

/* Learns when the score is beyond the auto-learn thresholds (>= 12 spam,
 * <= 0.1 ham). Pass the total score minus the Bayes rule's own score, as
 * SpamAssassin does, so Bayes never trains itself on its own opinion.
 * Returns 1 learned, 0 not, -1 error. */
int bayes_autolearn(sqlite3 *db, const struct msg_view *v, double score_without_bayes,
		    struct err *e);

struct bayes_counts {
	int64_t nspam, nham, ntokens, version;
};
int bayes_counts(sqlite3 *db, struct bayes_counts *c, struct err *e);

/* Drops rare tokens not learned for BAYES_EXPIRE_DAYS and then the
 * oldest tokens while the table is above BAYES_MAX_DB_TOKENS. today is a
 * day number (unix time / 86400). Returns tokens removed or -1. */
int64_t bayes_expire(sqlite3 *db, int64_t today, struct err *e);

/* Export/import as JSON Lines: a header object
 * {"format":"rampart-bayes","version":1,"nspam":N,"nham":N} then one
 * ["<16 hex>",spam,ham,day] per token and {"seen":"<16 hex>","spam":0|1}
 * per learned message. Import replaces (merge = 0) or adds to (merge = 1)
 * the current database. */
int bayes_export(sqlite3 *db, FILE *out, struct err *e);
int bayes_import(sqlite3 *db, FILE *in, int merge, struct err *e);

/* Read-only snapshot of the token table. */
struct bayes_snapshot;
struct bayes_snapshot *bayes_snapshot_load(sqlite3 *db, struct err *e);
void bayes_snapshot_release(struct bayes_snapshot *s);
int bayes_snapshot_active(const struct bayes_snapshot *s);

struct bayes_result {
	double prob;       /* 0 = ham, 1 = spam, 0.5 = unsure or inactive */
	int active;        /* enough training to be used */
	int nclues;        /* tokens combined */
	const char *rule;  /* band name, e.g. "BAYES_99" */
	double score;      /* band score on the SpamAssassin scale */
};

void bayes_classify(const struct bayes_snapshot *s, const struct tok_set *ts,
		    struct bayes_result *r);

/* The combining parameters, for tuning and the settings table. */
struct bayes_params {
	double s;             /* BAYES_ROBINSON_S */
	double x;             /* BAYES_ROBINSON_X */
	double min_strength;  /* BAYES_MIN_STRENGTH */
	int max_clues;        /* BAYES_MAX_CLUES */
	/* per token group (enum tok_group) cap on clues, 0 = no cap: one
	 * kind of evidence must not outvote the rest by sheer count */
	int group_max[TOK_G_COUNT];
};
extern const struct bayes_params bayes_default_params;
void bayes_classify_with(const struct bayes_snapshot *s, const struct tok_set *ts,
			 const struct bayes_params *p, struct bayes_result *r);

/* Probability bands (SpamAssassin's BAYES_00 .. BAYES_999). */
struct bayes_band {
	double min_prob;   /* band applies when prob >= min_prob */
	const char *rule;
	double score;
	const char *desc;
};
const struct bayes_band *bayes_band_for(double prob);

/* The process-wide snapshot used by scan threads: the first call loads
 * it; later calls reuse it and, every BAYES_RELOAD_CHECK_MS, compare the
 * DB version and reload after training. Returns a reference to release
 * with bayes_snapshot_release, or NULL when the tables are missing. */
struct bayes_snapshot *bayes_shared_acquire(sqlite3 *db);
/* Makes the next acquire check the DB version at once. */
void bayes_shared_invalidate(void);
/* Drops the shared snapshot (shutdown, tests). */
void bayes_shared_reset(void);

/* Pipeline stage: scores job->view and adds the band's rule hit. */
int stage_bayes_run(struct scan_job *job);
int stage_bayes_autolearn(struct scan_job *job);

#endif
