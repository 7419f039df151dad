/* The pipeline: the stage table and the per-thread scanning context. */
#include "filter/pipeline.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "filter/attach.h"
#include "filter/av.h"
#include "filter/bayes.h"
#include "filter/content.h"
#include "filter/dnsbl.h"
#include "filter/fingerprint.h"
#include "filter/lists.h"
#include "filter/rules.h"
#include "filter/spf.h"
#include "store/users.h"
#include "store/config.h"
#include "store/db.h"
#include "util/log.h"
#include "util/timeutil.h"

struct filter_engine {
	struct config_store *cfg;
	struct dns *dns;
	char data_dir[4096];
	char db_path[4200];
	char rule_sources[4096];   /* colon-separated */
	struct rules_slot rules;
	/* the first load, in the background (filter_engine_load_rules_async) */
	pthread_mutex_t load_mu;
	pthread_cond_t load_cond;
	pthread_t loader;
	int loading;               /* the loader thread runs */
	int load_failed;
	char load_error[256];
};

struct filter_thread {
	struct filter_engine *fe;
	sqlite3 *db;
	struct rules_scratch *scratch;
};

struct rules_slot *filter_engine_rules_slot(struct filter_engine *fe)
{
	return &fe->rules;
}

struct rules_scratch **filter_thread_rules_scratch(struct filter_thread *ft)
{
	return &ft->scratch;
}

const char *action_name(enum action a)
{
	static const char *names[] = {"allow", "tag", "quarantine", "block", "tempfail"};
	return (unsigned)a < sizeof names / sizeof *names ? names[a] : "unknown";
}

static int action_rank(enum action a)
{
	static const int rank[] = {[ACTION_ALLOW] = 0, [ACTION_TAG] = 1,
				   [ACTION_QUARANTINE] = 2, [ACTION_BLOCK] = 3,
				   [ACTION_TEMPFAIL] = 4};
	return rank[a];
}

void verdict_init(struct verdict *v, int nrcpt)
{
	memset(v, 0, sizeof *v);
	buf_init(&v->rules, 64 * 1024);
	buf_init(&v->report, 256 * 1024);
	v->nrcpt = nrcpt;
	v->rcpt = calloc((size_t)(nrcpt > 0 ? nrcpt : 1), sizeof *v->rcpt);
}

void verdict_free(struct verdict *v)
{
	buf_free(&v->rules);
	buf_free(&v->report);
	free(v->rcpt);
	v->rcpt = NULL;
}

/* Whether rule is already in the comma-separated hit list. */
static int verdict_has(const struct verdict *v, const char *rule)
{
	size_t n = strlen(rule);
	for (const char *p = v->rules.data; p && *p;) {
		const char *comma = strchr(p, ',');
		size_t len = comma ? (size_t)(comma - p) : strlen(p);
		if (len == n && memcmp(p, rule, n) == 0)
			return 1;
		p = comma ? comma + 1 : p + len;
	}
	return 0;
}

void verdict_hit(struct verdict *v, const char *rule, double score, const char *desc)
{
	/* a rule counts once per message, however many layers report it */
	if (verdict_has(v, rule))
		return;
	v->score += score;
	buf_printf(&v->rules, "%s%s", v->rules.len ? "," : "", rule);
	buf_printf(&v->report, "%5.1f %s %s\n", score, rule, desc ? desc : "");
}

void verdict_decide(struct verdict *v, enum action a, const char *layer, const char *reason,
		    const char *public_reason)
{
	v->final = 1;
	if (action_rank(a) >= action_rank(v->action))
		v->action = a;
	for (int i = 0; i < v->nrcpt; i++)
		if (action_rank(a) >= action_rank(v->rcpt[i].action))
			v->rcpt[i].action = a;
	snprintf(v->layer, sizeof v->layer, "%s", layer ? layer : "");
	snprintf(v->reason, sizeof v->reason, "%s", reason ? reason : "");
	snprintf(v->public_reason, sizeof v->public_reason, "%s", public_reason ? public_reason : "");
}

/* ---- stages ---- */

/* Thresholds decide the action from the score (per recipient domain). */
static int stage_decide(struct scan_job *job)
{
	struct verdict *v = job->v;
	struct config_store *cfg = job->fe->cfg;
	if (v->final)
		return 0;
	for (int i = 0; i < v->nrcpt; i++) {
		const char *rcpt = job->in->rcpts[i];
		const char *at = strrchr(rcpt, '@');
		const char *domain = at ? at + 1 : NULL;
		/* user -> domain -> global: each recipient's own thresholds */
		const char *user = rcpt[0] ? rcpt : NULL;
		double block = config_float(cfg, "block_score", domain, user);
		double quar = config_float(cfg, "quarantine_score", domain, user);
		double tag = config_float(cfg, "tag_score", domain, user);
		enum action a = ACTION_ALLOW;
		int lm = user ? users_list_match(cfg, rcpt, job->in->mail_from) : 0;
		/* a threshold of 10 or more disables its action */
		if (lm < 0)
			a = ACTION_BLOCK; /* the user's blacklist */
		else if (lm > 0 || (user && !users_scanning_enabled(cfg, rcpt)))
			a = ACTION_ALLOW; /* the user's whitelist, or scanning off */
		else if (block < 10 && v->score >= block)
			a = ACTION_BLOCK;
		else if (quar < 10 && v->score >= quar)
			a = ACTION_QUARANTINE;
		else if (tag < 10 && v->score >= tag)
			a = ACTION_TAG;
		/* a user who turned quarantine off gets it with a [QUAR]: prefix */
		if (a == ACTION_QUARANTINE && user && !users_quarantine_enabled(cfg, rcpt)) {
			a = ACTION_TAG;
			v->rcpt[i].quar_tag = 1;
		}
		v->rcpt[i].action = a;
		if (action_rank(a) > action_rank(v->action))
			v->action = a;
	}
	if (v->action != ACTION_ALLOW) {
		snprintf(v->layer, sizeof v->layer, "scoring");
		snprintf(v->reason, sizeof v->reason, "score %.1f", v->score);
		snprintf(v->public_reason, sizeof v->public_reason, "message scored as spam");
	}
	return 0;
}

/* The layers in order (DESIGN.md §1). "scoring" stages are skipped once a
 * layer has decided or the message is allow-listed. */
static const struct filter_stage stages[] = {
	{"lists", 0, stage_lists_run},             /* IP/sender/recipient allow+block */
	{"dnsbl", 1, stage_dnsbl},                 /* skipped for allow-listed clients */
	{"spf", 1, stage_spf},
	{"attach", 0, stage_attach_run},           /* runs for allow-listed mail too */
	{"av", 0, stage_av},
	{"content", 0, stage_content_run},         /* admin regex filters */
	{"fingerprint", 1, stage_fingerprint_run},
	{"uribl", 1, stage_uribl},
	{"bayes", 1, stage_bayes_run},
	{"rules", 1, stage_rules_run},
	{"autolearn", 1, stage_bayes_autolearn},   /* needs the complete score */
	{"decide", 0, stage_decide},
	{"lists_rcpt", 0, stage_lists_rcpt_run},   /* after decide: per-recipient lists win */
};

void filter_register_config(void)
{
	policy_register_config();
	dnsbl_register_config();
	users_register_config();
}

/* ---- engine and threads ---- */

struct filter_engine *filter_engine_new(struct config_store *cfg, const char *data_dir,
					struct err *e)
{
	(void)e;
	struct filter_engine *fe = calloc(1, sizeof *fe);
	fe->cfg = cfg;
	snprintf(fe->data_dir, sizeof fe->data_dir, "%s", data_dir);
	snprintf(fe->db_path, sizeof fe->db_path, "%s/rampart.db", data_dir);
	rules_slot_init(&fe->rules);
	pthread_mutex_init(&fe->load_mu, NULL);
	pthread_cond_init(&fe->load_cond, NULL);
	return fe;
}

/* Parses "a:b:c" into rule sources; SpamAssassin's own files are loaded
 * leniently (unknown directives ignored), ours strictly. */
size_t filter_rule_sources(char *list, struct rules_source *src, size_t max)
{
	size_t n = 0;
	char *save = NULL;
	for (char *p = strtok_r(list, ":", &save); p && n < max; p = strtok_r(NULL, ":", &save)) {
		src[n].path = p;
		src[n].flags = strstr(p, "spamassassin") ? 0 : RULES_SRC_STRICT;
		n++;
	}
	return n;
}

int filter_engine_load_rules(struct filter_engine *fe, const char *sources, struct err *e)
{
	if (sources)
		snprintf(fe->rule_sources, sizeof fe->rule_sources, "%s", sources);
	char list[4096];
	snprintf(list, sizeof list, "%s", fe->rule_sources);
	struct rules_source src[16];
	size_t n = filter_rule_sources(list, src, 16);
	struct rules_report rep;
	rules_report_init(&rep);
	/* compiled databases are cached by content: a restart or reload with
	 * SpamAssassin's files takes a second instead of minutes */
	char cache[4300];
	snprintf(cache, sizeof cache, "%s/rules-cache", fe->data_dir);
	struct ruleset *rs = rules_load_ex(src, n, cache, &rep, e);
	if (rep.warnings.len)
		log_warn("rules: warnings:\n%s", rep.warnings.data);
	if (rep.nerrors)
		log_warn("rules: %u error(s), those rules skipped:\n%s", rep.nerrors,
			 rep.errors.data ? rep.errors.data : "");
	char summary[1024];
	rules_report_summary(&rep, summary, sizeof summary);
	rules_report_free(&rep);
	if (!rs)
		return -1;
	log_info("%s", summary);
	rules_slot_set(&fe->rules, rs);
	return 0;
}

struct config_store *filter_engine_cfg(struct filter_engine *fe)
{
	return fe->cfg;
}

const char *filter_engine_data_dir(struct filter_engine *fe)
{
	return fe->data_dir;
}

void filter_engine_set_dns(struct filter_engine *fe, struct dns *dns)
{
	fe->dns = dns;
}

struct dns *filter_engine_dns(struct filter_engine *fe)
{
	return fe->dns;
}

static void *loader_main(void *arg)
{
	struct filter_engine *fe = arg;
	struct err e = {{0}};
	int64_t t0 = time_now_ms();
	int rc = filter_engine_load_rules(fe, NULL, &e);
	pthread_mutex_lock(&fe->load_mu);
	fe->loading = 0;
	fe->load_failed = rc < 0;
	snprintf(fe->load_error, sizeof fe->load_error, "%s", rc < 0 ? e.msg : "");
	pthread_cond_broadcast(&fe->load_cond);
	pthread_mutex_unlock(&fe->load_mu);
	if (rc < 0)
		log_error("rules: loading failed, mail is scored without rules: %s", e.msg);
	else if (time_now_ms() - t0 > 5000)
		log_info("rules: loaded in the background after %.0f s", (time_now_ms() - t0) / 1000.0);
	return NULL;
}

int filter_engine_load_rules_async(struct filter_engine *fe, const char *sources, struct err *e)
{
	snprintf(fe->rule_sources, sizeof fe->rule_sources, "%s", sources);
	pthread_mutex_lock(&fe->load_mu);
	fe->loading = 1;
	int rc = pthread_create(&fe->loader, NULL, loader_main, fe);
	if (rc != 0)
		fe->loading = 0;
	pthread_mutex_unlock(&fe->load_mu);
	return rc == 0 ? 0 : err_set(e, "cannot start the rule loader: %s", strerror(rc));
}

int filter_engine_wait_rules(struct filter_engine *fe, int timeout_ms, struct err *e)
{
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += timeout_ms / 1000;
	until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&fe->load_mu);
	while (fe->loading && pthread_cond_timedwait(&fe->load_cond, &fe->load_mu, &until) == 0)
		;
	int rc = fe->loading ? 0 : fe->load_failed ? -1 : 1;
	if (rc < 0)
		err_set(e, "%s", fe->load_error);
	pthread_mutex_unlock(&fe->load_mu);
	return rc;
}

int filter_engine_rules_loading(struct filter_engine *fe)
{
	pthread_mutex_lock(&fe->load_mu);
	int loading = fe->loading;
	pthread_mutex_unlock(&fe->load_mu);
	return loading;
}

void filter_engine_free(struct filter_engine *fe)
{
	if (!fe)
		return;
	if (fe->loader && filter_engine_rules_loading(fe)) {
		/* a first compile cannot be interrupted; the process is ending */
		log_warn("rules: still compiling at shutdown");
		return;
	}
	if (fe->loader)
		pthread_join(fe->loader, NULL);
	pthread_mutex_destroy(&fe->load_mu);
	pthread_cond_destroy(&fe->load_cond);
	rules_slot_destroy(&fe->rules);
	bayes_shared_reset();
	policy_shared_reset();
	fingerprint_shared_reset();
	free(fe);
}

int filter_engine_reload(struct filter_engine *fe, struct err *e)
{
	bayes_shared_invalidate();
	return filter_engine_load_rules(fe, NULL, e);
}

struct filter_thread *filter_thread_new(struct filter_engine *fe, struct err *e)
{
	struct filter_thread *ft = calloc(1, sizeof *ft);
	ft->fe = fe;
	ft->db = db_open(fe->db_path, e);
	if (!ft->db) {
		free(ft);
		return NULL;
	}
	return ft;
}

void filter_thread_free(struct filter_thread *ft)
{
	if (!ft)
		return;
	db_close(ft->db);
	rules_scratch_free(ft->scratch);
	free(ft);
}

sqlite3 *filter_thread_db(struct filter_thread *ft)
{
	return ft->db;
}

static void copy_header(const struct msg_view *view, const char *name, char *out, size_t outlen)
{
	const char *val = view ? msgview_header(view, name) : NULL;
	snprintf(out, outlen, "%s", val ? val : "");
}

int filter_scan(struct filter_thread *ft, const struct scan_input *in, struct verdict *out)
{
	struct msg_view view;
	struct err e;
	int parsed = msgview_parse(in->data, in->len, &view, &e) == 0;
	if (!parsed)
		log_warn("scan: cannot parse message: %s", e.msg);
	struct scan_job job = {.ft = ft, .fe = ft->fe, .in = in, .view = parsed ? &view : NULL,
			       .v = out};
	copy_header(job.view, "Subject", out->subject, sizeof out->subject);
	copy_header(job.view, "Message-ID", out->message_id, sizeof out->message_id);
	for (size_t i = 0; i < sizeof stages / sizeof *stages; i++) {
		if (stages[i].scoring && (out->final || out->skip_scoring))
			continue;
		if (stages[i].run(&job) < 0)
			log_warn("scan: stage %s failed", stages[i].name);
	}
	if (parsed)
		msgview_free(&view);
	return 0;
}
