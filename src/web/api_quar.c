/* Quarantine endpoints (docs/api.md §6): the user's own inbox under
 * /me/quarantine, everyone's under /quarantine for the administrator.
 * Ownership: a user's calls pass their address down to the store, which
 * answers "not found" for anybody else's message. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "node.h"
#include "store/quarantine.h"
#include "store/settings.h"
#include "store/users.h"
#include "util/log.h"
#include "util/timeutil.h"
#include "web/web_int.h"

#define BULK_MAX 1000

struct target {
	int64_t id;
	const char *owner; /* NULL: the administrator, any recipient */
	char who[340];
};

static int is_me(const struct api_call *c)
{
	return strncmp(c->path, "/me/", 4) == 0;
}

static void whoami(struct api_call *c, char *out, size_t outlen)
{
	if (is_me(c))
		snprintf(out, outlen, "user %s", c->user);
	else
		snprintf(out, outlen, "%s", c->trusted ? "admin (cli)" : c->user[0] ? c->user : "admin");
}

/* The message id of the path and its owner; `extra` segments may follow
 * the id (1 for ".../ID/html"). 404 when malformed. */
static int target_of(struct api_call *c, int extra, struct target *t)
{
	char seg[32], more[8];
	int at = is_me(c) ? 2 : 1;
	char *end;
	if (api_seg(c, at, seg, sizeof seg) < 0 || api_seg(c, at + extra + 1, more, sizeof more) == 0)
		goto bad;
	t->id = strtoll(seg, &end, 10);
	if (*end || t->id <= 0)
		goto bad;
	t->owner = is_me(c) ? c->user : NULL;
	whoami(c, t->who, sizeof t->who);
	return 0;
bad:
	api_error(c, 404, "id", "no such quarantined message");
	return -1;
}

static void q_list(struct api_call *c)
{
	struct quarantine_query q = {0};
	long long limit = 50, offset = 0, since = 0, until = 0;
	if (api_query_int(c, "limit", 1, 1000, &limit) < 0 ||
	    api_query_int(c, "offset", 0, 1LL << 40, &offset) < 0 ||
	    api_query_int(c, "since", 0, 1LL << 50, &since) < 0 ||
	    api_query_int(c, "until", 0, 1LL << 50, &until) < 0)
		return;
	const char *order = api_query(c, "order");
	if (order && strcmp(order, "asc") != 0 && strcmp(order, "desc") != 0)
		return api_error(c, 400, "order", "order must be asc or desc");
	q.search = api_query(c, "q");
	if (q.search && strlen(q.search) > 200)
		return api_error(c, 400, "q", "q must be at most 200 characters");
	char user[USERS_ADDR_MAX];
	struct err e;
	if (is_me(c)) {
		q.rcpt = c->user;
	} else if (api_query(c, "user")) {
		if (settings_address_normalize(api_query(c, "user"), user, sizeof user, &e) < 0)
			return api_error(c, 400, "user", "%s", e.msg);
		q.rcpt = user;
	}
	q.sort = api_query(c, "sort");
	q.asc = order && strcmp(order, "asc") == 0;
	q.limit = (int)limit;
	q.offset = (int)offset;
	q.since_ms = since;
	q.until_ms = until;
	c->resp = quarantine_search(c->db, &q, &e);
	if (!c->resp)
		api_error(c, 400, "sort", "%s", e.msg);
}

/* The message of the path with its bytes; -1 with the reply set. */
static int load(struct api_call *c, int extra, struct target *t, struct quarantine_msg *m,
		char **data, size_t *len)
{
	struct err e;
	if (target_of(c, extra, t) < 0)
		return -1;
	if (quarantine_get(c->db, c->node->boot.data_dir, t->id, t->owner, m, &e) < 0) {
		api_error(c, 404, "id", "%s", e.msg);
		return -1;
	}
	if (quarantine_read(m, data, len, &e) < 0) {
		json_decref(m->row);
		api_error(c, 410, "id", "%s", e.msg);
		return -1;
	}
	return 0;
}

static void q_view(struct api_call *c)
{
	struct target t;
	struct quarantine_msg m;
	char *data, *html = NULL;
	size_t len;
	struct err e;
	if (load(c, 0, &t, &m, &data, &len) < 0)
		return;
	if (msgrender_view(data, len, m.row, &html, &e) < 0) {
		json_decref(m.row);
		free(data);
		return api_error(c, 500, NULL, "%s", e.msg);
	}
	free(html);
	free(data);
	c->resp = m.row;
}

void web_send_preview(struct api_call *c, const char *html)
{
	api_raw(c, 200, "text/html; charset=utf-8", html, strlen(html));
	c->out_csp = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
		     "frame-ancestors 'self'; base-uri 'none'; form-action 'none'; sandbox";
}

static void q_html(struct api_call *c)
{
	struct target t;
	struct quarantine_msg m;
	char *data, *html = NULL;
	size_t len;
	struct err e;
	if (load(c, 1, &t, &m, &data, &len) < 0)
		return;
	if (msgrender_view(data, len, m.row, &html, &e) < 0)
		api_error(c, 500, NULL, "%s", e.msg);
	else if (!html)
		api_error(c, 404, NULL, "the message has no HTML part");
	else
		web_send_preview(c, html);
	free(html);
	free(data);
	json_decref(m.row);
}

static void q_source(struct api_call *c)
{
	struct target t;
	struct quarantine_msg m;
	char *data;
	size_t len;
	if (load(c, 1, &t, &m, &data, &len) < 0)
		return;
	api_raw(c, 200, "text/plain; charset=utf-8", data, len);
	snprintf(c->disposition, sizeof c->disposition, "inline; filename=\"%s.eml\"", m.queue_id);
	free(data);
	json_decref(m.row);
}

static void release_reply(struct api_call *c, int rc, struct target *t, const char *qid,
			  struct err *e)
{
	if (rc == -1)
		return api_error(c, 404, "id", "%s", e->msg);
	if (rc < 0)
		return api_error(c, 503, NULL, "%s", e->msg);
	c->resp = json_pack("{s:I, s:s}", "delivered", (json_int_t)t->id, "queue_id", qid);
}

static void q_deliver(struct api_call *c)
{
	struct target t;
	char qid[64] = "";
	struct err e;
	if (target_of(c, 1, &t) < 0)
		return;
	int rc = quar_release(c->node, c->db, t.id, t.owner, t.who, qid, sizeof qid, &e);
	release_reply(c, rc, &t, qid, &e);
}

/* A user may change lists only with the settings feature on. */
static int may_change_lists(struct api_call *c)
{
	struct user_rec u;
	if (!is_me(c))
		return 1;
	if (users_get(c->node->cfg, c->user, &u) == 0 && !(u.features & USER_FEAT_SETTINGS)) {
		api_error(c, 403, NULL, "the administrator does not allow you to change your settings");
		return 0;
	}
	return 1;
}

static void q_whitelist(struct api_call *c)
{
	struct target t;
	char qid[64] = "", sender[512];
	struct err e;
	if (target_of(c, 1, &t) < 0 || !may_change_lists(c))
		return;
	int rc = quar_whitelist_sender(c->node, c->db, t.id, t.owner, sender, sizeof sender, &e);
	if (rc == -1)
		return api_error(c, 404, "id", "%s", e.msg);
	if (rc < 0)
		return api_error(c, 400, NULL, "%s", e.msg);
	rc = quar_release(c->node, c->db, t.id, t.owner, t.who, qid, sizeof qid, &e);
	release_reply(c, rc, &t, qid, &e);
	if (rc == 0)
		json_object_set_new(c->resp, "whitelisted", json_string(sender));
}

static void q_delete(struct api_call *c)
{
	struct target t;
	struct err e;
	if (target_of(c, 0, &t) < 0)
		return;
	if (quarantine_delete(c->db, c->node->boot.data_dir, t.id, t.owner, &e) < 0)
		return api_error(c, 404, "id", "%s", e.msg);
	log_info("quarantine: message %lld deleted by %s", (long long)t.id, log_esc(t.who));
	c->resp = json_pack("{s:I}", "deleted", (json_int_t)t.id);
}

int web_body_class(struct api_call *c)
{
	const char *as;
	if (api_body_str(c, "as", 1, &as) < 0)
		return -1;
	if (strcmp(as, "spam") == 0)
		return 1;
	if (strcmp(as, "ham") == 0)
		return 0;
	api_error(c, 400, "as", "as must be \"spam\" or \"ham\"");
	return -1;
}

static void q_classify(struct api_call *c)
{
	struct target t;
	struct quarantine_msg m;
	char *data;
	size_t len;
	struct err e;
	int spam = web_body_class(c);
	if (spam < 0 || load(c, 1, &t, &m, &data, &len) < 0)
		return;
	int rc = quar_classify(c->db, data, len, spam, is_me(c) ? NULL : t.who, &e);
	free(data);
	json_decref(m.row);
	if (rc < 0)
		return api_error(c, 500, NULL, "%s", e.msg);
	log_info("quarantine: message %lld classified as %s by %s", (long long)t.id,
		 spam ? "spam" : "ham", log_esc(t.who));
	c->resp = json_pack("{s:b}", "learned", rc > 0);
}

static void q_bulk(struct api_call *c)
{
	const char *action;
	json_t *ids = json_object_get(c->body, "ids"), *v;
	if (api_body_str(c, "action", 1, &action) < 0)
		return;
	int deliver = strcmp(action, "deliver") == 0;
	if (!deliver && strcmp(action, "delete") != 0)
		return api_error(c, 400, "action", "action must be deliver or delete");
	if (!json_is_array(ids) || json_array_size(ids) == 0 || json_array_size(ids) > BULK_MAX)
		return api_error(c, 400, "ids", "ids must be an array of 1 to %d message ids", BULK_MAX);
	size_t i;
	json_array_foreach(ids, i, v)
		if (!json_is_integer(v) || json_integer_value(v) <= 0)
			return api_error(c, 400, "ids", "ids must be positive integers");
	char who[340];
	whoami(c, who, sizeof who);
	const char *owner = is_me(c) ? c->user : NULL;
	json_t *done = json_array(), *failed = json_array();
	json_array_foreach(ids, i, v)
	{
		int64_t id = json_integer_value(v);
		char qid[64];
		struct err e;
		int rc = deliver ? quar_release(c->node, c->db, id, owner, who, qid, sizeof qid, &e)
				 : quarantine_delete(c->db, c->node->boot.data_dir, id, owner, &e);
		if (rc == 0)
			json_array_append_new(done, json_integer(id));
		else
			json_array_append_new(failed, json_pack("{s:I, s:s}", "id", (json_int_t)id,
								"error", e.msg));
	}
	c->resp = json_pack("{s:o, s:o}", "done", done, "failed", failed);
}

static void q_summaries(struct api_call *c)
{
	const char *user;
	int force = 0;
	char canon[USERS_ADDR_MAX];
	struct err e;
	if (api_body_str(c, "user", 0, &user) < 0 || api_body_bool(c, "force", &force) < 0)
		return;
	if (user && settings_address_normalize(user, canon, sizeof canon, &e) < 0)
		return api_error(c, 400, "user", "%s", e.msg);
	if (!c->node->queue)
		return api_error(c, 503, NULL, "rampartd must be running to send mail");
	c->resp = json_pack("{s:o}", "sent", summary_run(c->node, c->db, user ? canon : NULL, force));
}

static void q_purge(struct api_call *c)
{
	struct err e;
	int64_t days = users_setting_int(c->node->cfg, "quarantine_retention_days", NULL, 14);
	int n = quarantine_purge(c->db, c->node->boot.data_dir, time_now_ms() - days * 86400000LL, &e);
	if (n < 0)
		return api_error(c, 500, NULL, "%s", e.msg);
	c->resp = json_pack("{s:i, s:I}", "purged", n, "retention_days", (json_int_t)days);
}

const struct api_route api_quar_routes[] = {
	{"GET", "/me/quarantine", q_list, API_USER},
	{"POST", "/me/quarantine/bulk", q_bulk, API_USER},
	{"GET", "/me/quarantine/*/html", q_html, API_USER},
	{"GET", "/me/quarantine/*/source", q_source, API_USER},
	{"POST", "/me/quarantine/*/deliver", q_deliver, API_USER},
	{"POST", "/me/quarantine/*/whitelist", q_whitelist, API_USER},
	{"POST", "/me/quarantine/*/classify", q_classify, API_USER},
	{"GET", "/me/quarantine/*", q_view, API_USER},
	{"DELETE", "/me/quarantine/*", q_delete, API_USER},
	{"GET", "/quarantine", q_list, 0},
	{"POST", "/quarantine/bulk", q_bulk, 0},
	{"POST", "/quarantine/summaries", q_summaries, 0},
	{"POST", "/quarantine/purge", q_purge, 0},
	{"GET", "/quarantine/*/html", q_html, 0},
	{"GET", "/quarantine/*/source", q_source, 0},
	{"POST", "/quarantine/*/deliver", q_deliver, 0},
	{"POST", "/quarantine/*/whitelist", q_whitelist, 0},
	{"POST", "/quarantine/*/classify", q_classify, 0},
	{"GET", "/quarantine/*", q_view, 0},
	{"DELETE", "/quarantine/*", q_delete, 0},
};
const unsigned api_quar_nroutes = sizeof api_quar_routes / sizeof *api_quar_routes;
