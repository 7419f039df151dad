/* Shared fixture of the policy unit tests (lists, attachments, content
 * filters, fingerprints): a real config store and filter engine in a
 * temporary directory, and a scan job over a parsed message. Header-only
 * so each *_test.c stays one executable. Include after <cmocka.h>. */
#ifndef RAMPART_FILTER_POLICY_TEST_UTIL_H
#define RAMPART_FILTER_POLICY_TEST_UTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "filter/fingerprint.h"
#include "filter/lists.h"
#include "filter/pipeline.h"
#include "mail/msgview.h"
#include "store/config.h"
#include "store/db.h"

struct pt_env {
	char dir[64];
	char db[128];
	struct config_store *cs;
	struct filter_engine *fe;
	struct filter_thread *ft;
};

static inline struct pt_env *pt_env_new(void)
{
	struct pt_env *t = calloc(1, sizeof *t);
	struct err e;
	snprintf(t->dir, sizeof t->dir, "/tmp/rampart-policy-XXXXXX");
	if (!mkdtemp(t->dir))
		fail_msg("mkdtemp failed");
	snprintf(t->db, sizeof t->db, "%s/rampart.db", t->dir);
	policy_register_config();
	t->cs = config_open(t->db, &e);
	if (!t->cs)
		fail_msg("config_open: %s", e.msg);
	t->fe = filter_engine_new(t->cs, t->dir, &e);
	t->ft = filter_thread_new(t->fe, &e);
	if (!t->ft)
		fail_msg("filter_thread_new: %s", e.msg);
	policy_shared_reset();
	fingerprint_shared_reset();
	return t;
}

static inline void pt_env_free(struct pt_env *t)
{
	static const char *const sfx[] = {"", "-wal", "-shm"};
	char p[200];
	policy_shared_reset();
	fingerprint_shared_reset();
	filter_thread_free(t->ft);
	filter_engine_free(t->fe);
	config_close(t->cs);
	for (size_t i = 0; i < 3; i++) {
		snprintf(p, sizeof p, "%s%s", t->db, sfx[i]);
		unlink(p);
	}
	rmdir(t->dir);
	free(t);
}

/* Adds an entry to a list the way the API does (normalised). */
static inline void pt_list_add(struct pt_env *t, const char *list, const char *entry,
			       const char *action, const char *comment)
{
	const struct list_def *d = lists_find(list);
	char canon[LISTS_ENTRY_MAX], key[LISTS_ENTRY_MAX + 80], val[1024];
	struct err e;
	assert_non_null(d);
	if (lists_entry_normalize(d, entry, canon, sizeof canon, &e) < 0)
		fail_msg("normalize %s: %s", entry, e.msg);
	if (lists_value_make(d, comment, action, val, sizeof val, &e) < 0)
		fail_msg("value %s: %s", entry, e.msg);
	assert_int_equal(lists_key_make(d, canon, key, sizeof key), 0);
	if (config_put(t->cs, key, val, &e) < 0)
		fail_msg("config_put %s: %s", key, e.msg);
}

static inline void pt_filter_add(struct pt_env *t, const char *id, const char *target,
				 const char *pattern, const char *action)
{
	char key[128], val[2048];
	struct err e;
	if (filter_value_make(target, pattern, action, "test filter", val, sizeof val, &e) < 0)
		fail_msg("filter %s: %s", id, e.msg);
	snprintf(key, sizeof key, "filter/%s", id);
	if (config_put(t->cs, key, val, &e) < 0)
		fail_msg("config_put %s: %s", key, e.msg);
}

static inline void pt_set(struct pt_env *t, const char *name, const char *value)
{
	struct err e;
	if (config_set(t->cs, name, NULL, value, &e) < 0)
		fail_msg("config_set %s: %s", name, e.msg);
}

/* A scan of one message (may be NULL: no parsed view) from ip, sender,
 * to nrcpt recipients. */
struct pt_scan {
	struct scan_input in;
	struct msg_view view;
	int parsed;
	struct verdict v;
	struct scan_job job;
};

static inline void pt_scan_init(struct pt_scan *s, struct pt_env *t, const char *msg,
				const char *ip, const char *from, const char *const *rcpts,
				int nrcpt)
{
	struct err e;
	memset(s, 0, sizeof *s);
	s->in = (struct scan_input){.data = msg ? msg : "", .len = msg ? strlen(msg) : 0,
				    .client_ip = ip, .helo = "client.test", .mail_from = from,
				    .rcpts = rcpts, .nrcpt = nrcpt};
	if (msg) {
		if (msgview_parse(msg, strlen(msg), &s->view, &e) < 0)
			fail_msg("parse: %s", e.msg);
		s->parsed = 1;
	}
	verdict_init(&s->v, nrcpt);
	s->job = (struct scan_job){.ft = t->ft, .fe = t->fe, .in = &s->in,
				   .view = msg ? &s->view : NULL, .v = &s->v};
}

static inline void pt_scan_free(struct pt_scan *s)
{
	if (s->parsed)
		msgview_free(&s->view);
	verdict_free(&s->v);
}

static inline int pt_has_rule(const struct verdict *v, const char *rule)
{
	return v->rules.data && strstr(v->rules.data, rule) != NULL;
}

#endif
