/* Bayes-only k-fold cross-validation driver (bench/accuracy): parses and
 * tokenizes every message once, then for each fold trains an in-memory
 * token DB on the other folds and scores the held-out fold. Prints one
 * line per message:
 *   fold label prob score rule nclues cpu_us file
 * (label 1 = spam; cpu_us = parse + tokenize + classify, thread CPU time)
 * and a summary on stderr. Used to tune the tokenizer and the combining
 * parameters; the end-to-end benchmark uses the rampart CLI.
 *
 * usage: bayes_cv [-k K] [-f FOLDS] [-P 's,x,min_strength,max_clues[,max_markup,max_hname];...']
 *                 [-t TOKENS_OUT] CORPUS_DIR   (CORPUS_DIR/{ham,spam}/...)
 * FOLDS has "file-name fold" lines (unlisted files are left out).
 * With several -P parameter sets, each line starts with "P<index>". */
#include <dirent.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "filter/bayes.h"
#include "util/fsutil.h"

struct msg {
	char *path;
	const char *name;
	int spam;
	int fold;
	struct tok_set ts;
	uint64_t key;
};

static struct msg *msgs;
static size_t nmsgs, capmsgs;
/* "name fold" lines from -f, sorted for lookup: every system in one run
 * uses the same folds. Without -f, folds come from a hash of the name. */
struct fold_entry {
	char *name;
	int fold;
};
static struct fold_entry *folds;
static size_t nfolds;
static int use_folds;

static int cmp_fold(const void *a, const void *b)
{
	return strcmp(((const struct fold_entry *)a)->name, ((const struct fold_entry *)b)->name);
}

static int folds_load(const char *path)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	char line[1024], n[1000];
	int fold;
	while (fgets(line, sizeof line, f))
		if (sscanf(line, "%999s %d", n, &fold) == 2) {
			folds = realloc(folds, (nfolds + 1) * sizeof *folds);
			folds[nfolds].name = strdup(n);
			folds[nfolds++].fold = fold;
		}
	fclose(f);
	qsort(folds, nfolds, sizeof *folds, cmp_fold);
	use_folds = 1;
	return 0;
}

/* -1 when the file is not listed (left out of the run) */
static int fold_lookup(const char *name)
{
	struct fold_entry key = {.name = (char *)name};
	struct fold_entry *e = bsearch(&key, folds, nfolds, sizeof *folds, cmp_fold);
	return e ? e->fold : -1;
}

static int64_t cpu_us(void)
{
	struct timespec t;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
	return (int64_t)t.tv_sec * 1000000 + t.tv_nsec / 1000;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void load_dir(const char *corpus, const char *sub, int spam, int k)
{
	char dir[4096];
	snprintf(dir, sizeof dir, "%s/%s", corpus, sub);
	DIR *d = opendir(dir);
	if (!d) {
		fprintf(stderr, "cannot open %s\n", dir);
		exit(2);
	}
	char **names = NULL;
	size_t n = 0, cap = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 256;
			names = realloc(names, cap * sizeof *names);
		}
		names[n++] = strdup(de->d_name);
	}
	closedir(d);
	qsort(names, n, sizeof *names, cmp_str);
	for (size_t i = 0; i < n; i++) {
		if (nmsgs == capmsgs) {
			capmsgs = capmsgs ? capmsgs * 2 : 1024;
			msgs = realloc(msgs, capmsgs * sizeof *msgs);
		}
		struct msg *m = &msgs[nmsgs++];
		memset(m, 0, sizeof *m);
		size_t pl = strlen(dir) + strlen(names[i]) + 2;
		m->path = malloc(pl);
		snprintf(m->path, pl, "%s/%s", dir, names[i]);
		m->name = strrchr(m->path, '/') + 1;
		m->spam = spam;
		/* deterministic folds: hash of the file name */
		m->fold = use_folds ? fold_lookup(m->name)
				   : (int)(tok_hash(m->name, strlen(m->name)) % (uint64_t)k);
		free(names[i]);
	}
	free(names);
}

static FILE *tokens_out;

static void debug_token(void *ctx, const char *tok, size_t len)
{
	struct msg *m = ctx;
	fprintf(tokens_out, "%d\t%.*s\t%s\n", m->spam, (int)len, tok, m->name);
}

/* Parses and tokenizes one message; returns CPU microseconds used. */
static int64_t prepare(struct msg *m, struct tok_set *ts, uint64_t *key)
{
	char *data;
	size_t len;
	struct err e;
	if (fs_read_all(m->path, 64u << 20, &data, &len, &e) < 0) {
		fprintf(stderr, "%s\n", e.msg);
		exit(2);
	}
	int64_t t0 = cpu_us();
	struct msg_view v;
	if (msgview_parse(data, len, &v, &e) < 0) {
		fprintf(stderr, "%s: %s\n", m->path, e.msg);
		exit(2);
	}
	tok_set_reset(ts);
	tokenize_view(&v, ts);
	if (key)
		*key = bayes_msg_key(&v);
	int64_t t1 = cpu_us();
	msgview_free(&v);
	free(data);
	return t1 - t0;
}

static sqlite3 *train_fold(int fold)
{
	sqlite3 *db;
	struct err e;
	if (sqlite3_open(":memory:", &db) != SQLITE_OK || bayes_init(db, &e) < 0) {
		fprintf(stderr, "db init failed\n");
		exit(2);
	}
	sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
	for (size_t i = 0; i < nmsgs; i++) {
		if (msgs[i].fold == fold || msgs[i].fold < 0)
			continue;
		if (bayes_learn_tokens(db, msgs[i].key, &msgs[i].ts, msgs[i].spam, &e) < 0) {
			fprintf(stderr, "%s\n", e.msg);
			exit(2);
		}
	}
	sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
	return db;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	int k = 5, opt, np = 1;
	struct bayes_params bps[16] = {bayes_default_params};
	while ((opt = getopt(argc, argv, "k:P:t:f:")) != -1) {
		switch (opt) {
		case 'f':
			if (folds_load(optarg) < 0) {
				perror(optarg);
				return 2;
			}
			break;
		case 'k': k = atoi(optarg); break;
		case 'P':
			np = 0;
			for (char *tok = strtok(optarg, ";"); tok && np < 16; tok = strtok(NULL, ";")) {
				struct bayes_params *bp = &bps[np++];
				*bp = bayes_default_params;
				if (sscanf(tok, "%lf,%lf,%lf,%d,%d,%d", &bp->s, &bp->x, &bp->min_strength,
					   &bp->max_clues, &bp->group_max[TOK_G_MARKUP],
					   &bp->group_max[TOK_G_HNAME]) < 4)
					return 2;
			}
			break;
		case 't': tokens_out = fopen(optarg, "w"); break;
		default: return 2;
		}
	}
	if (optind >= argc || k < 2) {
		fprintf(stderr, "usage: bayes_cv [-k K] [-P 's,x,min,clues[,markup,hname];...'] [-t FILE] DIR\n");
		return 2;
	}
	load_dir(argv[optind], "ham", 0, k);
	load_dir(argv[optind], "spam", 1, k);
	for (size_t i = 0; i < nmsgs; i++) {
		tok_set_init(&msgs[i].ts);
		if (tokens_out) {
			msgs[i].ts.debug = debug_token;
			msgs[i].ts.debug_ctx = &msgs[i];
		}
		prepare(&msgs[i], &msgs[i].ts, &msgs[i].key);
		msgs[i].ts.debug = NULL;
	}
	int64_t *times = calloc(nmsgs, sizeof *times);
	size_t nt = 0;
	struct tok_set ts;
	tok_set_init(&ts);
	for (int f = 0; f < k; f++) {
		sqlite3 *db = train_fold(f);
		struct err e;
		struct bayes_snapshot *s = bayes_snapshot_load(db, &e);
		if (!s) {
			fprintf(stderr, "%s\n", e.msg);
			return 2;
		}
		for (size_t i = 0; i < nmsgs; i++) {
			struct msg *m = &msgs[i];
			if (m->fold != f)
				continue;
			struct bayes_result r;
			int64_t us = prepare(m, &ts, NULL);
			for (int p = 0; p < np; p++) {
				int64_t t0 = cpu_us();
				bayes_classify_with(s, &ts, &bps[p], &r);
				int64_t t = us + cpu_us() - t0;
				if (p == 0)
					times[nt++] = t;
				if (np > 1)
					printf("P%d ", p);
				printf("%d %d %.6f %.3f %s %d %lld %s\n", f, m->spam, r.prob, r.score,
				       r.rule, r.nclues, (long long)t, m->name);
			}
		}
		bayes_snapshot_release(s);
		sqlite3_close(db);
	}
	qsort(times, nt, sizeof *times, cmp_i64);
	fprintf(stderr, "messages %zu  cpu us/msg (parse+tokenize+classify): median %lld p99 %lld max %lld\n",
		nt, (long long)times[nt / 2], (long long)times[nt * 99 / 100],
		(long long)times[nt - 1]);
	tok_set_free(&ts);
	for (size_t i = 0; i < nmsgs; i++) {
		tok_set_free(&msgs[i].ts);
		free(msgs[i].path);
	}
	free(msgs);
	free(times);
	if (tokens_out)
		fclose(tokens_out);
	return 0;
}
