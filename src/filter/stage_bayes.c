/* Pipeline stage: the Bayes classifier. Scores the parsed message against
 * the process-wide token snapshot (see bayes_score.c for why it is
 * shared) and adds one band rule ("BAYES_99") to the verdict. Inactive
 * until BAYES_MIN_SPAM/BAYES_MIN_HAM messages have been trained. */
#include <stdio.h>

#include "filter/bayes.h"
#include "store/config.h"
#include "util/log.h"

int stage_bayes_run(struct scan_job *job)
{
	if (!job->view)
		return 0;
	struct bayes_snapshot *s = bayes_shared_acquire(filter_thread_db(job->ft));
	if (!s)
		return 0;
	if (!bayes_snapshot_active(s)) {
		bayes_snapshot_release(s);
		return 0;
	}
	struct tok_set ts;
	tok_set_init(&ts);
	tokenize_view(job->view, &ts);
	struct bayes_result r;
	bayes_classify(s, &ts, &r);
	tok_set_free(&ts);
	bayes_snapshot_release(s);
	const struct bayes_band *b = bayes_band_for(r.prob);
	char desc[160];
	snprintf(desc, sizeof desc, "%s (p=%.4f, %d tokens)", b->desc, r.prob, r.nclues);
	verdict_hit(job->v, r.rule, r.score, desc);
	job->v->bayes_score = r.score;
	return 0;
}

/* After the rules: live mail whose score without Bayes is confidently
 * spam or ham trains the classifier (setting bayes_autolearn, off by
 * default: a rule set that misfires would teach Bayes its mistakes).
 * Never for CLI scans, allow-listed or layer-decided mail. */
int stage_bayes_autolearn(struct scan_job *job)
{
	if (!job->view || job->in->offline ||
	    !config_bool(filter_engine_cfg(job->fe), "bayes_autolearn", NULL, NULL))
		return 0;
	struct err e;
	double without = job->v->score - job->v->bayes_score;
	int rc = bayes_autolearn(filter_thread_db(job->ft), job->view, without, &e);
	if (rc < 0)
		log_warn("bayes: auto-learn failed: %s", e.msg);
	else if (rc > 0)
		log_debug("bayes: auto-learned as %s (score without Bayes %.1f)",
			  without > 0 ? "spam" : "ham", without);
	return 0;
}
