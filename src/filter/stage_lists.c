/* Pipeline stages of the allow/block lists (lists.h).
 *
 * stage_lists_run, early and non-scoring: the client IP, the envelope
 * sender (and the From header for block lists: an allow list never trusts
 * a header anyone can write) and the recipients. A block-list hit ends the
 * path for the whole message; an allow-list hit sets skip_scoring, which
 * still runs the virus, attachment and content layers. A block hit beats
 * an allow hit of another list (an allowed sender from a blocked IP is
 * blocked).
 *
 * stage_lists_rcpt_run, after "decide": recipient lists act per
 * recipient, so one blocked recipient never refuses the message for the
 * others, and an allow-listed recipient is spared the score's action
 * (not a virus, attachment or content verdict, which is final). */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "filter/lists.h"
#include "store/config.h"

static int rank(enum action a)
{
	static const int r[] = {[ACTION_ALLOW] = 0, [ACTION_TAG] = 1, [ACTION_QUARANTINE] = 2,
				[ACTION_BLOCK] = 3, [ACTION_TEMPFAIL] = 4};
	return r[a];
}

static void note_layer(struct verdict *v, const char *layer, const char *reason)
{
	if (v->layer[0])
		return;
	snprintf(v->layer, sizeof v->layer, "%s", layer);
	snprintf(v->reason, sizeof v->reason, "%s", reason);
}

static double tag_score(struct scan_job *job)
{
	const char *at = job->in->nrcpt ? strrchr(job->in->rcpts[0], '@') : NULL;
	return config_float(filter_engine_cfg(job->fe), "tag_score", at ? at + 1 : NULL, NULL);
}

void policy_apply(struct scan_job *job, enum action a, const char *layer, const char *rule,
		  const char *reason, const char *public_reason)
{
	struct verdict *v = job->v;
	if (a == ACTION_ALLOW) {
		v->skip_scoring = 1;
		verdict_hit(v, rule, 0, reason);
		note_layer(v, layer, reason);
		return;
	}
	if (a == ACTION_TAG) {
		double tag = tag_score(job);
		if (tag < 10) {
			verdict_hit(v, rule, tag > 0 ? tag : 0, reason);
			return;
		}
		/* tagging by score is off: the administrator's entry still tags */
	}
	verdict_hit(v, rule, 0, reason);
	if (!v->final || rank(a) > rank(v->action))
		verdict_decide(v, a, layer, reason, public_reason);
}

/* RULE name of a list: its name in upper case ("IP_BLOCK"). */
static void rule_name(enum list_id l, char *out, size_t outlen)
{
	size_t i = 0;
	for (const char *s = lists_table[l].name; *s && i + 1 < outlen; s++)
		out[i++] = (char)toupper((unsigned char)*s);
	out[i] = '\0';
}

static void apply_hit(struct scan_job *job, const struct list_hit *h, const char *what,
		      const char *value, const char *public_reason)
{
	char reason[384], rule[32];
	snprintf(reason, sizeof reason, "%s %.100s on %s (entry %.100s%s%.60s)", what, value,
		 lists_table[h->list].name, h->entry, h->comment[0] ? ": " : "", h->comment);
	rule_name(h->list, rule, sizeof rule);
	policy_apply(job, h->action, "lists", rule, reason, public_reason);
}

/* The address of a From header value: inside <...>, else the first word
 * with an '@'. 0 when there is none. */
static int from_address(const char *val, char *out, size_t outlen)
{
	const char *lt = val ? strchr(val, '<') : NULL;
	const char *s = lt ? lt + 1 : val;
	if (!s)
		return 0;
	while (*s == ' ' || *s == '\t')
		s++;
	size_t n = strcspn(s, lt ? ">" : " \t,;");
	if (n == 0 || n >= outlen || !memchr(s, '@', n))
		return 0;
	memcpy(out, s, n);
	out[n] = '\0';
	return 1;
}

static void check_sender(struct scan_job *job, const struct policy *p)
{
	struct list_hit h;
	const char *env = job->in->mail_from;
	if (env && *env && policy_match_sender(p, env, &h))
		apply_hit(job, &h, "sender", env, "sender blocked by policy");
	char from[320];
	const char *hv = job->view ? msgview_header(job->view, "From") : NULL;
	if (from_address(hv, from, sizeof from) && policy_match_sender(p, from, &h) &&
	    h.action != ACTION_ALLOW)
		apply_hit(job, &h, "From header", from, "sender blocked by policy");
}

/* Every recipient allowed: the message skips scoring. Every recipient
 * blocked outright: the message is refused now. Anything in between is
 * settled per recipient after the scores (stage_lists_rcpt_run). */
static void check_rcpts(struct scan_job *job, const struct policy *p)
{
	const struct scan_input *in = job->in;
	int allowed = 0, blocked = 0;
	struct list_hit h, first;
	for (int i = 0; i < in->nrcpt; i++) {
		if (!policy_match_rcpt(p, in->rcpts[i], &h))
			continue;
		if (h.action == ACTION_ALLOW)
			allowed++;
		else if (h.action == ACTION_BLOCK && blocked++ == 0)
			first = h;
	}
	if (in->nrcpt > 0 && allowed == in->nrcpt) {
		policy_match_rcpt(p, in->rcpts[0], &h);
		apply_hit(job, &h, "recipient", in->rcpts[0], NULL);
	} else if (in->nrcpt > 0 && blocked == in->nrcpt) {
		apply_hit(job, &first, "recipient", in->rcpts[0], "recipient blocked by policy");
	}
}

int stage_lists_run(struct scan_job *job)
{
	struct policy *p = policy_acquire(filter_engine_cfg(job->fe));
	const char *ip = job->in->client_ip;
	struct list_hit h;
	if (ip && *ip && policy_match_ip(p, ip, &h))
		apply_hit(job, &h, "client", ip, "client address blocked by policy");
	check_sender(job, p);
	check_rcpts(job, p);
	policy_release(p);
	return 0;
}

/* One recipient's list entry over the action the pipeline gave it. */
static int rcpt_override(struct scan_job *job, int i, const struct list_hit *h)
{
	struct verdict *v = job->v;
	struct rcpt_verdict *r = &v->rcpt[i];
	enum action a = h->action;
	if (a == ACTION_ALLOW) {
		/* a final verdict came from a layer allow lists never skip */
		if (v->final)
			return 0;
		if (v->rules.data && strstr(v->rules.data, "CONTENT_FILTER_TAG"))
			a = ACTION_TAG; /* the administrator's tag filter still applies */
		if (rank(a) >= rank(r->action))
			return 0;
	} else if (rank(a) <= rank(r->action)) {
		return 0;
	}
	r->action = a;
	snprintf(r->reason, sizeof r->reason, "recipient on %s (entry %.80s)",
		 lists_table[h->list].name, h->entry);
	return 1;
}

int stage_lists_rcpt_run(struct scan_job *job)
{
	struct verdict *v = job->v;
	const struct scan_input *in = job->in;
	if (v->nrcpt <= 0 || v->nrcpt != in->nrcpt)
		return 0;
	struct policy *p = policy_acquire(filter_engine_cfg(job->fe));
	struct list_hit h;
	int changed = -1; /* the recipient whose new action is the most severe */
	for (int i = 0; i < v->nrcpt; i++)
		if (policy_match_rcpt(p, in->rcpts[i], &h) && rcpt_override(job, i, &h) &&
		    (changed < 0 || rank(v->rcpt[i].action) > rank(v->rcpt[changed].action)))
			changed = i;
	policy_release(p);
	if (changed < 0)
		return 0;
	enum action worst = ACTION_ALLOW;
	for (int i = 0; i < v->nrcpt; i++)
		if (rank(v->rcpt[i].action) > rank(worst))
			worst = v->rcpt[i].action;
	v->action = worst;
	/* the log's layer/reason explain the message's action */
	if (!v->layer[0] || worst == ACTION_ALLOW || v->rcpt[changed].action == worst) {
		snprintf(v->layer, sizeof v->layer, "lists");
		snprintf(v->reason, sizeof v->reason, "%s", v->rcpt[changed].reason);
	}
	if (worst == ACTION_BLOCK && !v->public_reason[0])
		snprintf(v->public_reason, sizeof v->public_reason, "recipient blocked by policy");
	return 0;
}
