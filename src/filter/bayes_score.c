/* Bayes scoring: an in-memory, read-only snapshot of the token table
 * (open addressing on the token hash), Robinson's f(w), Fisher's
 * chi-square combining, and the probability bands. The snapshot is
 * shared by all scan threads through a reference count; training bumps
 * the DB version and the next acquire after BAYES_RELOAD_CHECK_MS swaps
 * in a fresh snapshot while scans in flight finish on the old one. */
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "filter/bayes.h"
#include "util/log.h"
#include "util/timeutil.h"

struct bayes_entry {
	uint64_t h;     /* 0 = empty */
	uint32_t spam;
	uint32_t ham;
};

struct bayes_snapshot {
	atomic_int refs;
	int64_t nspam, nham, version;
	size_t mask;
	struct bayes_entry *tab;
};

static int snap_var(sqlite3 *db, const char *name, int64_t *out)
{
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(db, "SELECT value FROM bayes_var WHERE name = ?", -1, &st, NULL) !=
	    SQLITE_OK)
		return -1;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	*out = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
	sqlite3_finalize(st);
	return 0;
}

static void snap_insert(struct bayes_snapshot *s, uint64_t h, uint32_t spam, uint32_t ham)
{
	size_t j = h & s->mask;
	while (s->tab[j].h && s->tab[j].h != h)
		j = (j + 1) & s->mask;
	s->tab[j].h = h;
	s->tab[j].spam = spam;
	s->tab[j].ham = ham;
}

static uint32_t clamp32(int64_t v)
{
	return v < 0 ? 0 : v > UINT32_MAX ? UINT32_MAX : (uint32_t)v;
}

static int snap_fill(struct bayes_snapshot *s, sqlite3 *db, struct err *e)
{
	sqlite3_stmt *st;
	int64_t n = 0;
	if (sqlite3_prepare_v2(db, "SELECT count(*) FROM bayes_token", -1, &st, NULL) != SQLITE_OK)
		return err_set(e, "bayes: snapshot: %s", sqlite3_errmsg(db));
	if (sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	size_t slots = 1024;
	while (slots < (size_t)n * 2 + 2) /* load factor <= 1/2 */
		slots *= 2;
	s->tab = calloc(slots, sizeof *s->tab);
	if (!s->tab)
		return err_set(e, "bayes: snapshot: out of memory (%zu slots)", slots);
	s->mask = slots - 1;
	if (sqlite3_prepare_v2(db, "SELECT h, spam, ham FROM bayes_token", -1, &st, NULL) !=
	    SQLITE_OK)
		return err_set(e, "bayes: snapshot: %s", sqlite3_errmsg(db));
	int64_t loaded = 0;
	while (sqlite3_step(st) == SQLITE_ROW && loaded < (int64_t)(slots / 2)) {
		uint64_t h = (uint64_t)sqlite3_column_int64(st, 0);
		if (h)
			snap_insert(s, h, clamp32(sqlite3_column_int64(st, 1)),
				    clamp32(sqlite3_column_int64(st, 2)));
		loaded++;
	}
	sqlite3_finalize(st);
	return 0;
}

struct bayes_snapshot *bayes_snapshot_load(sqlite3 *db, struct err *e)
{
	struct bayes_snapshot *s = calloc(1, sizeof *s);
	if (!s) {
		err_set(e, "bayes: out of memory");
		return NULL;
	}
	atomic_init(&s->refs, 1);
	/* one read transaction: counts and tokens from the same state */
	sqlite3_exec(db, "SAVEPOINT bayes_snap", NULL, NULL, NULL);
	int rc = -1;
	if (snap_var(db, "nspam", &s->nspam) == 0 && snap_var(db, "nham", &s->nham) == 0 &&
	    snap_var(db, "version", &s->version) == 0)
		rc = snap_fill(s, db, e);
	else
		err_set(e, "bayes: snapshot: %s", sqlite3_errmsg(db));
	sqlite3_exec(db, "RELEASE bayes_snap", NULL, NULL, NULL);
	if (rc < 0) {
		free(s->tab);
		free(s);
		return NULL;
	}
	return s;
}

void bayes_snapshot_release(struct bayes_snapshot *s)
{
	if (s && atomic_fetch_sub(&s->refs, 1) == 1) {
		free(s->tab);
		free(s);
	}
}

int bayes_snapshot_active(const struct bayes_snapshot *s)
{
	return s && s->nspam >= BAYES_MIN_SPAM && s->nham >= BAYES_MIN_HAM;
}

static const struct bayes_entry *snap_find(const struct bayes_snapshot *s, uint64_t h)
{
	size_t j = h & s->mask;
	while (s->tab[j].h) {
		if (s->tab[j].h == h)
			return &s->tab[j];
		j = (j + 1) & s->mask;
	}
	return NULL;
}

/* Robinson's f(w): the token's spam probability (ratio of the per-class
 * frequencies) pulled toward x by the prior strength s when evidence is
 * thin. */
static double robinson_f(const struct bayes_params *bp, uint32_t spam, uint32_t ham, double nspam,
			 double nham)
{
	double sr = spam / nspam, hr = ham / nham;
	double p = sr / (sr + hr);
	double n = (double)spam + ham;
	return (bp->s * bp->x + n * p) / (bp->s + n);
}

/* Survival function of chi-square with v (even) degrees of freedom. */
static double chi2q(double x2, int v)
{
	double m = x2 / 2.0;
	double sum, term;
	sum = term = exp(-m);
	for (int i = 1; i < v / 2; i++) {
		term *= m / i;
		sum += term;
	}
	return sum < 1.0 ? sum : 1.0;
}

struct clue {
	double f;
	double strength;
	unsigned group;
};

static int by_strength(const void *a, const void *b)
{
	double x = ((const struct clue *)a)->strength, y = ((const struct clue *)b)->strength;
	return x < y ? 1 : x > y ? -1 : 0;
}

/* Keeps the strongest clues, at most max in all and group_max[g] per
 * group; returns how many are left at the front of c. */
static size_t clues_select(struct clue *c, size_t n, const struct bayes_params *bp)
{
	size_t max = bp->max_clues > 0 ? (size_t)bp->max_clues : 1;
	int count[TOK_G_COUNT] = {0}, over = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned g = c[i].group;
		if (g < TOK_G_COUNT && bp->group_max[g] && ++count[g] > bp->group_max[g])
			over = 1;
	}
	if (n <= max && !over)
		return n;
	qsort(c, n, sizeof *c, by_strength);
	memset(count, 0, sizeof count);
	size_t k = 0;
	for (size_t i = 0; i < n && k < max; i++) {
		unsigned g = c[i].group;
		if (g < TOK_G_COUNT && bp->group_max[g] && count[g] >= bp->group_max[g])
			continue;
		if (g < TOK_G_COUNT)
			count[g]++;
		c[k++] = c[i];
	}
	return k;
}

static double chi2_combine(const struct clue *c, size_t n)
{
	double lh = 0, ls = 0;
	for (size_t i = 0; i < n; i++) {
		lh += log(c[i].f);
		ls += log(1.0 - c[i].f);
	}
	double hs = 1.0 - chi2q(-2.0 * ls, 2 * (int)n); /* spamminess */
	double hh = 1.0 - chi2q(-2.0 * lh, 2 * (int)n); /* hamminess */
	return (hs - hh + 1.0) / 2.0;
}

const struct bayes_params bayes_default_params = {
	.s = BAYES_ROBINSON_S,
	.x = BAYES_ROBINSON_X,
	.min_strength = BAYES_MIN_STRENGTH,
	.max_clues = BAYES_MAX_CLUES,
	.group_max = {[TOK_G_MARKUP] = BAYES_MAX_MARKUP_CLUES, [TOK_G_HNAME] = BAYES_MAX_HNAME_CLUES},
};

void bayes_classify(const struct bayes_snapshot *s, const struct tok_set *ts,
		    struct bayes_result *r)
{
	bayes_classify_with(s, ts, &bayes_default_params, r);
}

void bayes_classify_with(const struct bayes_snapshot *s, const struct tok_set *ts,
			 const struct bayes_params *bp, struct bayes_result *r)
{
	memset(r, 0, sizeof *r);
	r->prob = 0.5;
	r->active = bayes_snapshot_active(s);
	if (r->active) {
		static _Thread_local struct clue clue[TOK_MAX_TOKENS];
		size_t n = 0;
		double ns = (double)s->nspam, nh = (double)s->nham;
		for (size_t i = 0; i < ts->n; i++) {
			const struct bayes_entry *en = snap_find(s, ts->h[i]);
			if (!en || (en->spam == 0 && en->ham == 0))
				continue;
			double f = robinson_f(bp, en->spam, en->ham, ns, nh);
			if (fabs(f - 0.5) >= bp->min_strength)
				clue[n++] = (struct clue){f, fabs(f - 0.5), TOK_GROUP(ts->h[i])};
		}
		n = clues_select(clue, n, bp);
		if (n)
			r->prob = chi2_combine(clue, n);
		r->nclues = (int)n;
	}
	const struct bayes_band *b = bayes_band_for(r->prob);
	r->rule = b->rule;
	r->score = r->active ? b->score : 0.0;
}

/* SpamAssassin's bands. Scores chosen by 5-fold cross-validation on the
 * training corpus (bench/accuracy: Bayes alone, and SpamAssassin's rules
 * with these bands in place of its own): only the near-certain band
 * reaches the 5.0 line by itself; the upper bands leave the rest to the
 * rules; confident ham gets a clear negative score so a misfiring rule
 * does not misfile it. Unsure (chi-square near 0.5) stays near 0. */
static const struct bayes_band bands[] = {
	{0.999, "BAYES_999", 5.0, "Bayes spam probability is 99.9 to 100%"},
	{0.99, "BAYES_99", 4.0, "Bayes spam probability is 99 to 99.9%"},
	{0.95, "BAYES_95", 3.5, "Bayes spam probability is 95 to 99%"},
	{0.80, "BAYES_80", 2.5, "Bayes spam probability is 80 to 95%"},
	{0.60, "BAYES_60", 1.5, "Bayes spam probability is 60 to 80%"},
	{0.40, "BAYES_50", 0.8, "Bayes spam probability is 40 to 60%"},
	{0.20, "BAYES_40", 0.0, "Bayes spam probability is 20 to 40%"},
	{0.05, "BAYES_20", -0.5, "Bayes spam probability is 5 to 20%"},
	{0.01, "BAYES_05", -1.5, "Bayes spam probability is 1 to 5%"},
	{0.0, "BAYES_00", -2.5, "Bayes spam probability is 0 to 1%"},
};

const struct bayes_band *bayes_band_for(double prob)
{
	for (size_t i = 0; i < sizeof bands / sizeof bands[0]; i++)
		if (prob >= bands[i].min_prob)
			return &bands[i];
	return &bands[sizeof bands / sizeof bands[0] - 1];
}

/* The shared snapshot. shared holds one reference; acquire takes another
 * under the mutex so a concurrent swap cannot free it in between. The
 * (slow) reload happens outside the mutex, by one thread at a time;
 * others keep scanning with the old snapshot meanwhile. */
static pthread_mutex_t shared_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t reload_mu = PTHREAD_MUTEX_INITIALIZER;
static struct bayes_snapshot *shared;
static int64_t shared_checked_us;

static struct bayes_snapshot *shared_reload(sqlite3 *db, struct bayes_snapshot *cur)
{
	if (pthread_mutex_trylock(&reload_mu) != 0)
		return cur; /* someone else is loading */
	int64_t version;
	struct err e;
	struct bayes_snapshot *fresh = NULL;
	if (snap_var(db, "version", &version) == 0 && (!cur || version != cur->version)) {
		fresh = bayes_snapshot_load(db, &e);
		if (!fresh)
			log_warn("%s", e.msg);
	}
	if (fresh) {
		pthread_mutex_lock(&shared_mu);
		struct bayes_snapshot *old = shared;
		shared = fresh;
		atomic_fetch_add(&fresh->refs, 1);
		pthread_mutex_unlock(&shared_mu);
		bayes_snapshot_release(old);
		bayes_snapshot_release(cur);
		cur = fresh;
	}
	pthread_mutex_unlock(&reload_mu);
	return cur;
}

struct bayes_snapshot *bayes_shared_acquire(sqlite3 *db)
{
	int64_t now = time_mono_us();
	pthread_mutex_lock(&shared_mu);
	struct bayes_snapshot *s = shared;
	if (s)
		atomic_fetch_add(&s->refs, 1);
	int check = !s || now - shared_checked_us >= (int64_t)BAYES_RELOAD_CHECK_MS * 1000;
	if (check)
		shared_checked_us = now;
	pthread_mutex_unlock(&shared_mu);
	if (check && db)
		s = shared_reload(db, s);
	return s;
}

void bayes_shared_invalidate(void)
{
	pthread_mutex_lock(&shared_mu);
	shared_checked_us = 0;
	pthread_mutex_unlock(&shared_mu);
}

void bayes_shared_reset(void)
{
	pthread_mutex_lock(&shared_mu);
	struct bayes_snapshot *old = shared;
	shared = NULL;
	shared_checked_us = 0;
	pthread_mutex_unlock(&shared_mu);
	bayes_snapshot_release(old);
}
