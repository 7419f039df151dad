/* Filter commands that run in process on the node's data directory, with
 * or without a daemon: train, scan, rules check. They use the same
 * pipeline and settings as live mail (network layers are skipped). */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli/commands.h"
#include "filter/bayes.h"
#include "filter/pipeline.h"
#include "filter/rules.h"
#include "store/config.h"
#include "store/db.h"
#include "store/msglog.h"
#include "util/fsutil.h"
#include "util/timeutil.h"

#define CLI_MAX_MESSAGE (64u << 20)

/* ---- file lists and progress ---- */

struct file_list {
	char **paths;
	size_t n, cap;
};

static void list_add(struct file_list *l, const char *path)
{
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 256;
		l->paths = realloc(l->paths, l->cap * sizeof *l->paths);
	}
	l->paths[l->n++] = strdup(path);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* A file, or every regular file directly in a directory (sorted). */
static int list_collect(struct file_list *l, const char *path)
{
	struct stat st;
	if (stat(path, &st) < 0) {
		fprintf(stderr, "rampart: %s: no such file or directory\n", path);
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		list_add(l, path);
		return 0;
	}
	DIR *d = opendir(path);
	if (!d)
		return -1;
	size_t first = l->n;
	struct dirent *de;
	while ((de = readdir(d))) {
		char p[4200];
		if (de->d_name[0] == '.')
			continue;
		snprintf(p, sizeof p, "%s/%s", path, de->d_name);
		if (stat(p, &st) == 0 && S_ISREG(st.st_mode))
			list_add(l, p);
	}
	closedir(d);
	qsort(l->paths + first, l->n - first, sizeof *l->paths, cmp_str);
	return 0;
}

static void list_free(struct file_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->paths[i]);
	free(l->paths);
}

struct progress {
	int tty;
	size_t total, done;
	int64_t start_us, last_us;
	const char *what;
};

static void progress_init(struct progress *p, const char *what, size_t total)
{
	memset(p, 0, sizeof *p);
	p->tty = isatty(2);
	p->total = total;
	p->what = what;
	p->start_us = time_mono_us();
}

/* count, rate and ETA on a terminal, at most 10 times a second; silent
 * when stderr is not a terminal */
static void progress_step(struct progress *p)
{
	p->done++;
	if (!p->tty)
		return;
	int64_t now = time_mono_us();
	if (now - p->last_us < 100000 && p->done != p->total)
		return;
	p->last_us = now;
	double secs = (double)(now - p->start_us) / 1e6;
	double rate = secs > 0 ? (double)p->done / secs : 0;
	double eta = rate > 0 ? (double)(p->total - p->done) / rate : 0;
	fprintf(stderr, "\r%s %zu/%zu  %.0f msg/s  ETA %.0fs   ", p->what, p->done, p->total, rate, eta);
	if (p->done == p->total)
		fputc('\n', stderr);
}

/* ---- offline node context ---- */

struct offline {
	struct config_store *cfg;
	struct filter_engine *fe;
	struct filter_thread *ft;
	sqlite3 *db;
};

static int offline_open(struct cli *c, struct offline *o, int with_rules)
{
	struct err e;
	char path[4200];
	memset(o, 0, sizeof *o);
	snprintf(path, sizeof path, "%s/rampart.db", c->boot.data_dir);
	if (fs_mkdir_p(c->boot.data_dir, 0700, &e) < 0 || !(o->db = db_open(path, &e)) ||
	    msglog_init(o->db, &e) < 0 || bayes_init(o->db, &e) < 0 ||
	    !(o->cfg = config_open(path, &e)) ||
	    !(o->fe = filter_engine_new(o->cfg, c->boot.data_dir, &e)) ||
	    (with_rules && filter_engine_load_rules(o->fe, c->boot.rules_dirs, &e) < 0) ||
	    !(o->ft = filter_thread_new(o->fe, &e))) {
		fprintf(stderr, "rampart: %s\n", e.msg);
		return -1;
	}
	return 0;
}

static void offline_close(struct offline *o)
{
	filter_thread_free(o->ft);
	filter_engine_free(o->fe);
	if (o->cfg)
		config_close(o->cfg);
	if (o->db)
		db_close(o->db);
}

/* ---- train ---- */

static int train_files(struct offline *o, struct file_list *l, int spam, struct progress *p,
		       int *learned)
{
	struct err e;
	db_exec(o->db, "BEGIN", NULL);
	for (size_t i = 0; i < l->n; i++) {
		char *data;
		size_t len;
		struct msg_view v;
		if (fs_read_all(l->paths[i], CLI_MAX_MESSAGE, &data, &len, &e) < 0) {
			fprintf(stderr, "\nrampart: %s (skipped)\n", e.msg);
			continue;
		}
		if (msgview_parse(data, len, &v, &e) == 0) {
			int rc = bayes_learn(o->db, &v, spam, &e);
			if (rc < 0)
				fprintf(stderr, "\nrampart: %s: %s\n", l->paths[i], e.msg);
			*learned += rc > 0;
			msgview_free(&v);
		}
		free(data);
		progress_step(p);
		if (i % 500 == 499) {
			db_exec(o->db, "COMMIT", NULL);
			db_exec(o->db, "BEGIN", NULL);
		}
	}
	return db_exec(o->db, "COMMIT", &e);
}

int cmd_train(struct cli *c)
{
	struct file_list spam = {0}, ham = {0};
	const char *opt;
	while ((opt = cli_opt(c, "--spam")))
		if (list_collect(&spam, opt) < 0)
			return 2;
	while ((opt = cli_opt(c, "--ham")))
		if (list_collect(&ham, opt) < 0)
			return 2;
	if (c->argc || (!spam.n && !ham.n)) {
		fprintf(stderr, "usage: rampart train [--spam DIR|FILE]... [--ham DIR|FILE]...\n");
		return 2;
	}
	struct offline o;
	if (offline_open(c, &o, 0) < 0)
		return 1;
	struct progress p;
	progress_init(&p, "training", spam.n + ham.n);
	int learned = 0, rc = 0;
	rc |= train_files(&o, &spam, 1, &p, &learned);
	rc |= train_files(&o, &ham, 0, &p, &learned);
	struct bayes_counts bc;
	struct err e;
	bayes_counts(o.db, &bc, &e);
	if (c->json)
		printf("{\"learned\": %d, \"spam\": %lld, \"ham\": %lld, \"tokens\": %lld, \"active\": %s}\n",
		       learned, (long long)bc.nspam, (long long)bc.nham, (long long)bc.ntokens,
		       bc.nspam >= BAYES_MIN_SPAM && bc.nham >= BAYES_MIN_HAM ? "true" : "false");
	else
		printf("learned %d message(s); database: %lld spam, %lld ham, %lld tokens%s\n", learned,
		       (long long)bc.nspam, (long long)bc.nham, (long long)bc.ntokens,
		       bc.nspam >= BAYES_MIN_SPAM && bc.nham >= BAYES_MIN_HAM
			       ? ""
			       : " (Bayes becomes active at 200 spam and 200 ham)");
	offline_close(&o);
	list_free(&spam);
	list_free(&ham);
	return rc ? 1 : 0;
}

/* ---- scan ---- */

/* CPU time of the thread or process: what a message cost, not inflated
 * by other processes on the machine or by waiting (scan --timing). */
static int64_t cpu_clock_us(clockid_t clock)
{
	struct timespec ts;
	clock_gettime(clock, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* cpu_us < 0: no --timing */
static void scan_print(struct cli *c, const char *file, const struct verdict *v, int64_t cpu_us)
{
	json_t *rules = json_array();
	char *list = v->rules.data ? strdup(v->rules.data) : NULL, *save = NULL;
	for (char *r = list ? strtok_r(list, ",", &save) : NULL; r; r = strtok_r(NULL, ",", &save))
		json_array_append_new(rules, json_string(r));
	free(list);
	if (c->json) {
		json_t *o = json_pack("{s:s, s:f, s:s, s:o}", "file", file, "score", v->score, "action",
				      action_name(v->action), "rules", rules);
		if (cpu_us >= 0)
			json_object_set_new(o, "cpu_us", json_integer(cpu_us));
		char *text = json_dumps(o, JSON_COMPACT);
		printf("%s\n", text);
		free(text);
		json_decref(o);
		return;
	}
	if (cpu_us >= 0)
		printf("%-50s %6.1f  %-10s %6lldus %s\n", file, v->score, action_name(v->action),
		       (long long)cpu_us, v->rules.data ? v->rules.data : "");
	else
		printf("%-50s %6.1f  %-10s %s\n", file, v->score, action_name(v->action),
		       v->rules.data ? v->rules.data : "");
	json_decref(rules);
}

int cmd_scan(struct cli *c)
{
	struct file_list files = {0};
	/* --timing: thread CPU time of parsing + pipeline per message
	 * (bench/scan); file reading and output are not counted */
	int timing = cli_flag(c, "--timing");
	for (int i = 0; i < c->argc; i++)
		if (list_collect(&files, c->argv[i]) < 0)
			return 2;
	if (!files.n) {
		fprintf(stderr, "usage: rampart scan [--json] [--timing] FILE|DIR...\n");
		return 2;
	}
	struct offline o;
	int64_t t0 = cpu_clock_us(CLOCK_PROCESS_CPUTIME_ID), w0 = time_mono_us();
	if (offline_open(c, &o, 1) < 0)
		return 1;
	if (timing)
		fprintf(stderr, "rampart: setup (database, rules load/compile): cpu_us %lld wall_us %lld\n",
			(long long)(cpu_clock_us(CLOCK_PROCESS_CPUTIME_ID) - t0),
			(long long)(time_mono_us() - w0));
	struct progress p;
	progress_init(&p, "scanning", files.n);
	p.tty = p.tty && !isatty(1); /* don't mix the bar into terminal output */
	int rc = 0;
	for (size_t i = 0; i < files.n; i++) {
		char *data;
		size_t len;
		struct err e;
		if (fs_read_all(files.paths[i], CLI_MAX_MESSAGE, &data, &len, &e) < 0) {
			fprintf(stderr, "rampart: %s\n", e.msg);
			rc = 1;
			continue;
		}
		const char *rcpt[] = {""};
		struct scan_input in = {.path = files.paths[i], .data = data, .len = len,
					.client_ip = "", .helo = "", .mail_from = "",
					.rcpts = rcpt, .nrcpt = 1, .offline = 1};
		struct verdict v;
		verdict_init(&v, 1);
		int64_t cpu = cpu_clock_us(CLOCK_THREAD_CPUTIME_ID);
		filter_scan(o.ft, &in, &v);
		cpu = timing ? cpu_clock_us(CLOCK_THREAD_CPUTIME_ID) - cpu : -1;
		scan_print(c, files.paths[i], &v, cpu);
		verdict_free(&v);
		free(data);
		progress_step(&p);
	}
	fflush(stdout);
	offline_close(&o);
	list_free(&files);
	return rc;
}

/* ---- rules check ---- */

int cmd_rules_check(struct cli *c)
{
	if (c->argc) {
		fprintf(stderr, "usage: rampart rules check\n");
		return 2;
	}
	char list[4096];
	snprintf(list, sizeof list, "%s", c->boot.rules_dirs);
	struct rules_source src[16];
	size_t n = filter_rule_sources(list, src, 16);
	return rules_check_main(src, n, stdout);
}
