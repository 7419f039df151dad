/* Administrator endpoints beyond settings and domains (docs/api.md §3-5):
 * dashboard statistics, backup export/import, Bayes, rule reload, and
 * the message log's details, message view and classify buttons. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "filter/bayes.h"
#include "filter/lists.h"
#include "filter/pipeline.h"
#include "mail/spool.h"
#include "node.h"
#include "store/config.h"
#include "store/msglog.h"
#include "store/quarantine.h"
#include "store/users.h"
#include "util/fsutil.h"
#include "util/log.h"
#include "util/timeutil.h"
#include "web/web_int.h"

static void stats(struct api_call *c)
{
	struct err e;
	if (c->node->msglog) /* rows still in the batch writer count too */
		msglog_writer_flush(c->node->msglog);
	c->resp = msglog_stats(c->db, time_now_ms(), &e);
	if (!c->resp)
		return api_error(c, 500, NULL, "%s", e.msg);
	json_object_set_new(c->resp, "quarantine_messages", json_integer(quarantine_count(c->db, NULL)));
	json_object_set_new(c->resp, "users", json_integer((json_int_t)users_count(c->node->cfg)));
}

static void config_export_h(struct api_call *c)
{
	c->resp = config_export(c->node->cfg);
	snprintf(c->disposition, sizeof c->disposition, "attachment; filename=\"rampart-config.json\"");
}

static void config_import_h(struct api_call *c)
{
	struct err e;
	if (!c->body)
		return api_error(c, 400, NULL, "expected {\"version\": 1, \"keys\": {...}}");
	if (config_import(c->node->cfg, c->body, &e) < 0)
		return api_error(c, 400, "keys", "%s", e.msg);
	log_info("config: imported a backup (%zu keys) by %s",
		 json_object_size(json_object_get(c->body, "keys")),
		 c->trusted ? "the CLI" : log_esc(c->user));
	c->resp = json_pack("{s:I}", "imported",
			    (json_int_t)json_object_size(json_object_get(c->body, "keys")));
}

/* ---- Bayes, rules -------------------------------------------------------- */

static json_t *bayes_json(struct api_call *c)
{
	struct bayes_counts bc;
	struct err e;
	if (bayes_counts(c->db, &bc, &e) < 0) {
		api_error(c, 500, NULL, "%s", e.msg);
		return NULL;
	}
	return json_pack("{s:I, s:I, s:I, s:b, s:i, s:i}", "nspam", (json_int_t)bc.nspam, "nham",
			 (json_int_t)bc.nham, "ntokens", (json_int_t)bc.ntokens, "active",
			 bc.nspam >= BAYES_MIN_SPAM && bc.nham >= BAYES_MIN_HAM, "min_spam",
			 BAYES_MIN_SPAM, "min_ham", BAYES_MIN_HAM);
}

static void bayes_get(struct api_call *c)
{
	c->resp = bayes_json(c);
}

static int bayes_load(struct api_call *c, const char *data, size_t len, int merge)
{
	struct err e;
	FILE *f = fmemopen((void *)data, len, "r");
	if (!f) {
		api_error(c, 500, NULL, "cannot read the data");
		return -1;
	}
	int rc = bayes_import(c->db, f, merge, &e);
	fclose(f);
	if (rc < 0)
		api_error(c, 400, "data", "%s", e.msg);
	return rc;
}

static void bayes_reset(struct api_call *c)
{
	static const char empty[] = "{\"format\":\"rampart-bayes\",\"version\":1,\"nspam\":0,\"nham\":0}\n";
	if (bayes_load(c, empty, strlen(empty), 0) < 0)
		return;
	log_info("bayes: reset by %s", c->trusted ? "the CLI" : log_esc(c->user));
	c->resp = json_pack("{s:b}", "reset", 1);
}

static void bayes_export_h(struct api_call *c)
{
	char *text = NULL;
	size_t len = 0;
	struct err e;
	FILE *f = open_memstream(&text, &len);
	if (!f)
		return api_error(c, 500, NULL, "out of memory");
	int rc = bayes_export(c->db, f, &e);
	fclose(f);
	if (rc < 0)
		api_error(c, 500, NULL, "%s", e.msg);
	else
		api_raw(c, 200, "application/x-ndjson", text, len);
	snprintf(c->disposition, sizeof c->disposition, "attachment; filename=\"bayes.jsonl\"");
	free(text);
}

static void bayes_import_h(struct api_call *c)
{
	const char *data;
	int merge = 0;
	if (api_body_str(c, "data", 1, &data) < 0 || api_body_bool(c, "merge", &merge) < 0)
		return;
	if (bayes_load(c, data, strlen(data), merge) < 0)
		return;
	c->resp = bayes_json(c);
}

static void rules_reload(struct api_call *c)
{
	struct err e;
	if (!c->node->fe)
		return api_error(c, 503, NULL, "rampartd must be running to reload rules");
	if (filter_engine_reload(c->node->fe, &e) < 0)
		return api_error(c, 400, NULL, "%s", e.msg);
	c->resp = json_pack("{s:b}", "reloaded", 1);
}

/* ---- the message log ---------------------------------------------------------- */

/* The log row of the path (with "stored" and "quarantine_ids"), or NULL
 * with 404. */
static json_t *log_row(struct api_call *c, int extra)
{
	char seg[32], more[8], *end;
	struct err e;
	if (api_seg(c, 1, seg, sizeof seg) < 0 || api_seg(c, 2 + extra, more, sizeof more) == 0) {
		api_error(c, 404, "id", "no such message log entry");
		return NULL;
	}
	long long id = strtoll(seg, &end, 10);
	if (c->node->msglog)
		msglog_writer_flush(c->node->msglog);
	json_t *row = *end || id <= 0 ? NULL : msglog_get(c->db, id, &e);
	if (!row) {
		api_error(c, 404, "id", "no message log entry %s", seg);
		return NULL;
	}
	return row;
}

/* Where the message of a queue id is still stored: the quarantine, or
 * the spool while it waits for delivery. */
static int log_file(struct api_call *c, const char *qid, char *path, size_t pathlen, size_t *off)
{
	if (!qid || !*qid || strchr(qid, '/') || !strcmp(qid, "..") || !strcmp(qid, "."))
		return -1;
	if (quarantine_file_of(c->db, c->node->boot.data_dir, qid, path, pathlen, off) == 0)
		return 0;
	struct envelope env;
	size_t len;
	struct err e;
	memset(&env, 0, sizeof env);
	snprintf(path, pathlen, "%s/queue/%s", c->node->boot.data_dir, qid);
	int rc = spool_read_envelope(path, &env, off, &len, &e);
	envelope_free(&env);
	return rc;
}

static void log_get(struct api_call *c)
{
	char path[4300];
	size_t off;
	json_t *row = log_row(c, 0);
	if (!row)
		return;
	const char *qid = json_string_value(json_object_get(row, "queue_id"));
	json_object_set_new(row, "stored", json_boolean(log_file(c, qid, path, sizeof path, &off) == 0));
	json_object_set_new(row, "quarantine_ids", quarantine_ids_for_queue(c->db, qid));
	c->resp = row;
}

/* The bytes of the logged message; -1 with 404/410 set. */
static int log_message(struct api_call *c, char **data, size_t *len, json_t **row)
{
	char path[4300];
	size_t off;
	struct err e;
	if (!(*row = log_row(c, 1)))
		return -1;
	const char *qid = json_string_value(json_object_get(*row, "queue_id"));
	char *all = NULL;
	size_t n = 0;
	if (log_file(c, qid, path, sizeof path, &off) < 0 ||
	    fs_read_all(path, QUARANTINE_MAX_READ, &all, &n, &e) < 0 || off > n) {
		free(all);
		json_decref(*row);
		api_error(c, 410, "id", "the message is no longer stored on this node");
		return -1;
	}
	memmove(all, all + off, n - off + 1);
	*data = all;
	*len = n - off;
	return 0;
}

static void log_view(struct api_call *c)
{
	char *data, *html = NULL;
	size_t len;
	json_t *row;
	struct err e;
	if (log_message(c, &data, &len, &row) < 0)
		return;
	if (msgrender_view(data, len, row, &html, &e) < 0) {
		json_decref(row);
		api_error(c, 500, NULL, "%s", e.msg);
	} else {
		c->resp = row;
	}
	free(html);
	free(data);
}

static void log_html(struct api_call *c)
{
	char *data, *html = NULL;
	size_t len;
	json_t *row;
	struct err e;
	if (log_message(c, &data, &len, &row) < 0)
		return;
	if (msgrender_view(data, len, row, &html, &e) < 0)
		api_error(c, 500, NULL, "%s", e.msg);
	else if (!html)
		api_error(c, 404, NULL, "the message has no HTML part");
	else
		web_send_preview(c, html);
	json_decref(row);
	free(html);
	free(data);
}

static void log_source(struct api_call *c)
{
	char *data;
	size_t len;
	json_t *row;
	if (log_message(c, &data, &len, &row) < 0)
		return;
	api_raw(c, 200, "text/plain; charset=utf-8", data, len);
	json_decref(row);
	free(data);
}

static void log_classify(struct api_call *c)
{
	char *data;
	size_t len;
	json_t *row;
	struct err e;
	int spam = web_body_class(c);
	if (spam < 0 || log_message(c, &data, &len, &row) < 0)
		return;
	int rc = quar_classify(c->db, data, len, spam, c->trusted ? "admin (cli)" : c->user, &e);
	free(data);
	json_decref(row);
	if (rc < 0)
		return api_error(c, 500, NULL, "%s", e.msg);
	c->resp = json_pack("{s:b}", "learned", rc > 0);
}

static void log_whitelist(struct api_call *c)
{
	json_t *row = log_row(c, 1);
	char entry[LISTS_ENTRY_MAX], key[1024], value[512];
	struct err e;
	if (!row)
		return;
	const char *from = json_string_value(json_object_get(row, "mail_from"));
	const struct list_def *d = lists_find("sender_allow");
	int rc = -1;
	if (!from || !*from)
		api_error(c, 400, NULL, "the message has no sender address (a bounce) to whitelist");
	else if (!d)
		api_error(c, 500, NULL, "no sender allow list in this build");
	else if (lists_entry_normalize(d, from, entry, sizeof entry, &e) < 0 ||
		 lists_key_make(d, entry, key, sizeof key) < 0 ||
		 lists_value_make(d, "whitelisted from the message log", NULL, value, sizeof value, &e) < 0 ||
		 users_kv_put(c->node->cfg, key, value, &e) < 0)
		api_error(c, 400, NULL, "%s", e.msg);
	else
		rc = 0;
	if (rc == 0)
		c->resp = json_pack("{s:s}", "whitelisted", entry);
	json_decref(row);
}

static void log_deliver(struct api_call *c)
{
	json_t *row = log_row(c, 1), *v;
	if (!row)
		return;
	json_t *ids = quarantine_ids_for_queue(c->db, json_string_value(json_object_get(row, "queue_id")));
	json_decref(row);
	if (json_array_size(ids) == 0) {
		json_decref(ids);
		return api_error(c, 404, NULL, "no quarantined copy of this message on this node");
	}
	json_t *done = json_array(), *qids = json_array();
	size_t i;
	char who[340];
	snprintf(who, sizeof who, "%s", c->trusted ? "admin (cli)" : c->user);
	json_array_foreach(ids, i, v)
	{
		char qid[64];
		struct err e;
		if (quar_release(c->node, c->db, json_integer_value(v), NULL, who, qid, sizeof qid, &e) == 0) {
			json_array_append(done, v);
			json_array_append_new(qids, json_string(qid));
		} else {
			log_warn("log deliver: %s", e.msg);
		}
	}
	json_decref(ids);
	c->resp = json_pack("{s:o, s:o}", "delivered", done, "queue_ids", qids);
}

const struct api_route api_admin_routes[] = {
	{"GET", "/stats", stats, 0},
	{"GET", "/config/export", config_export_h, 0},
	{"POST", "/config/import", config_import_h, API_BIG_BODY},
	{"GET", "/bayes", bayes_get, 0},
	{"POST", "/bayes/reset", bayes_reset, 0},
	{"GET", "/bayes/export", bayes_export_h, 0},
	{"POST", "/bayes/import", bayes_import_h, API_BIG_BODY},
	{"POST", "/rules/reload", rules_reload, 0},
	{"GET", "/log/*/message", log_view, 0},
	{"GET", "/log/*/html", log_html, 0},
	{"GET", "/log/*/source", log_source, 0},
	{"POST", "/log/*/classify", log_classify, 0},
	{"POST", "/log/*/whitelist", log_whitelist, 0},
	{"POST", "/log/*/deliver", log_deliver, 0},
	{"GET", "/log/*", log_get, 0},
};
const unsigned api_admin_nroutes = sizeof api_admin_routes / sizeof *api_admin_routes;
