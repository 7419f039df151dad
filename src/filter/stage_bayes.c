/* Pipeline stage: the Bayes classifier. Scores the parsed message against
 * the process-wide token snapshot (see bayes_score.c for why it is
 * shared) and adds one band rule ("BAYES_99") to the verdict. Inactive
 * until BAYES_MIN_SPAM/BAYES_MIN_HAM messages have been trained. */
#include <stdio.h>

#include "filter/bayes.h"

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
	return 0;
}
