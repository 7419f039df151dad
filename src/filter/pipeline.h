/* The filtering pipeline: an ordered table of stages run on one message
 * in a scan thread. Each stage reads the message (raw file and the parsed
 * msg_view) and adds to the verdict: score, rule hits, or a final action
 * that ends the path (block, quarantine, tempfail, allow-list skip). */
#ifndef RAMPART_FILTER_PIPELINE_H
#define RAMPART_FILTER_PIPELINE_H

#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

#include "mail/msgview.h"
#include "util/buf.h"
#include "util/err.h"

struct config_store;

enum action {
	ACTION_ALLOW,
	ACTION_TAG,
	ACTION_QUARANTINE,
	ACTION_BLOCK,
	ACTION_TEMPFAIL,  /* 451: a layer could not run (e.g. clamd down) */
};
const char *action_name(enum action a);

/* What the SMTP server knows about the message. */
struct scan_input {
	const char *path;        /* spool file */
	size_t body_offset;      /* where the RFC 5322 message starts in it */
	const char *data;        /* the message bytes (mapped), len bytes */
	size_t len;
	const char *client_ip;   /* "" when scanning offline */
	const char *helo;
	const char *mail_from;
	const char *const *rcpts;
	int nrcpt;
	int offline;             /* CLI scan: skip network layers */
};

#define VERDICT_MAX_RCPT 10000

struct rcpt_verdict {
	enum action action;
	int quar_tag;      /* ACTION_TAG standing in for quarantine: "[QUAR]:" prefix */
	char reason[128];
};

struct verdict {
	double score;
	double bayes_score;         /* the Bayes band's part of score (auto-learn leaves it out) */
	enum action action;         /* the most severe over recipients */
	int final;                  /* a layer decided; later scoring stages skip */
	int skip_scoring;           /* allow-listed: scoring stages skip, AV/attachments still run */
	struct buf rules;           /* "RULE1,RULE2" */
	struct buf report;          /* per-rule lines "score NAME description" */
	char layer[32];             /* deciding layer */
	char reason[256];           /* internal reason (message log) */
	char public_reason[128];    /* what the 554/451 reply says */
	struct rcpt_verdict *rcpt;  /* per recipient, nrcpt entries */
	int nrcpt;
	char subject[256];          /* decoded subject for the log */
	char message_id[256];
};

void verdict_init(struct verdict *v, int nrcpt);
void verdict_free(struct verdict *v);
/* Adds a rule hit with its score. */
void verdict_hit(struct verdict *v, const char *rule, double score, const char *desc);
/* Ends the path with an action decided by a layer. */
void verdict_decide(struct verdict *v, enum action a, const char *layer, const char *reason,
		    const char *public_reason);

/* Shared, read-mostly state of the filters (rules, settings). */
struct filter_engine;
/* Per scan thread: scratch spaces, database connection. */
struct filter_thread;

/* Registers the config-store key namespaces of the filters and users
 * (lists, DNSBL zones, user records); call before any config_open. */
void filter_register_config(void);

struct filter_engine *filter_engine_new(struct config_store *cfg, const char *data_dir,
					struct err *e);
void filter_engine_free(struct filter_engine *fe);
/* Loads the rule set from sources ("dir:file:..."); NULL reloads the
 * previous sources. A failure keeps the current set. */
int filter_engine_load_rules(struct filter_engine *fe, const char *sources, struct err *e);
/* The first load in a background thread: a large rule set compiles for
 * minutes the first time (later starts read the compile cache). Until it is
 * in place, live mail is answered 451 (stage_rules_run), never let through
 * unscored. filter_engine_wait_rules: 1 loaded, 0 still loading after
 * timeout_ms, -1 failed (e set). */
int filter_engine_load_rules_async(struct filter_engine *fe, const char *sources, struct err *e);
int filter_engine_wait_rules(struct filter_engine *fe, int timeout_ms, struct err *e);
int filter_engine_rules_loading(struct filter_engine *fe);
/* Splits "a:b:c" (modified in place) into rule sources; SpamAssassin's
 * own files load leniently, ours strictly. */
struct rules_source;
size_t filter_rule_sources(char *list, struct rules_source *src, size_t max);
struct config_store *filter_engine_cfg(struct filter_engine *fe);
const char *filter_engine_data_dir(struct filter_engine *fe);
/* The node's resolver (src/filter/dns.h), shared by DNSBL, URIBL, SPF. */
struct dns;
void filter_engine_set_dns(struct filter_engine *fe, struct dns *dns);
struct dns *filter_engine_dns(struct filter_engine *fe);
/* Rebuilds rules etc.; in-flight scans keep the old state. */
int filter_engine_reload(struct filter_engine *fe, struct err *e);

struct filter_thread *filter_thread_new(struct filter_engine *fe, struct err *e);
void filter_thread_free(struct filter_thread *ft);
sqlite3 *filter_thread_db(struct filter_thread *ft);

/* Runs every stage on the message and fills the verdict (which the
 * caller initialised with verdict_init). Returns 0, or -1 when the message
 * could not be scanned at all (verdict is then TEMPFAIL). */
int filter_scan(struct filter_thread *ft, const struct scan_input *in, struct verdict *out);

/* One stage of the table. */
struct scan_job {
	struct filter_thread *ft;
	struct filter_engine *fe;
	const struct scan_input *in;
	struct msg_view *view;      /* parsed once, NULL if parsing failed */
	struct verdict *v;
};

struct filter_stage {
	const char *name;
	int scoring;                /* skipped when the verdict is final or allow-listed */
	int (*run)(struct scan_job *job);
};

#endif
