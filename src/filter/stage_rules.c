/* Pipeline stage "rules": matches the engine's current rule set against
 * the parsed message with the scan thread's scratch and adds each scored
 * hit to the verdict. A failure here degrades to "no rule hits" (logged):
 * rule scoring is never a reason to refuse mail, except while the first
 * rule set of a starting node is still compiling (451, the sender retries). */
#include "filter/pipeline.h"
#include "filter/rules.h"
#include "util/log.h"

int stage_rules_run(struct scan_job *job)
{
	if (!job->view)
		return 0;
	struct ruleset *rs = rules_slot_get(filter_engine_rules_slot(job->fe));
	if (!rs) {
		/* first start: nothing passes unscored while the rules compile */
		if (!job->in->offline && filter_engine_rules_loading(job->fe))
			verdict_decide(job->v, ACTION_TEMPFAIL, "rules", "rule set still loading",
				       "spam filter starting, try again later");
		return 0;
	}
	struct rules_scratch **sp = filter_thread_rules_scratch(job->ft);
	struct err e = {{0}};
	if (!*sp && !(*sp = rules_scratch_new(rs, &e))) {
		log_error("rules: %s", e.msg);
		rules_unref(rs);
		return 0;
	}
	const struct scan_input *in = job->in;
	struct rules_env env = {
		.mail_from = in ? in->mail_from : NULL,
		.helo = in ? in->helo : NULL,
		.client_ip = in ? in->client_ip : NULL,
		.now = in && !in->offline ? time(NULL) : 0,
	};
	struct rules_result res;
	if (rules_match(rs, *sp, job->view, &env, &res, &e) < 0) {
		log_error("rules: %s", e.msg);
	} else {
		for (size_t i = 0; i < res.nhits; i++)
			verdict_hit(job->v, res.hits[i].name, res.hits[i].score, res.hits[i].desc);
	}
	rules_unref(rs);  /* the names in res are no longer used after this */
	return 0;
}
