/* The page behind the one-click links of the quarantine summary
 * (docs/api.md §9), and the periodic housekeeping of the web layer.
 * GET only shows what would happen (mail scanners fetch links); the
 * button POSTs the same signed token, which does it. */
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include "filter/pipeline.h"
#include "node.h"
#include "store/quarantine.h"
#include "store/users.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/pool.h"
#include "util/timeutil.h"
#include "web/auth.h"
#include "web/web.h"
#include "web/web_int.h"

#define HOUSEKEEPING_SECONDS 300

static const struct {
	const char *action, *question, *done;
} verbs[] = {
	{"deliver", "Deliver this message to your mailbox?", "The message is on its way to your mailbox."},
	{"whitelist", "Always accept mail from this sender, and deliver this message?",
	 "The sender is on your whitelist and the message is on its way to your mailbox."},
	{"delete", "Delete this message from your quarantine?", "The message was deleted."},
};

static void esc(struct buf *b, const char *s)
{
	for (; s && *s; s++) {
		switch (*s) {
		case '<': buf_puts(b, "&lt;"); break;
		case '>': buf_puts(b, "&gt;"); break;
		case '&': buf_puts(b, "&amp;"); break;
		case '"': buf_puts(b, "&quot;"); break;
		case '\'': buf_puts(b, "&#39;"); break;
		default: buf_putc(b, *s);
		}
	}
}

static void page(struct api_call *c, int status, const char *title, const char *body_html)
{
	struct buf b;
	buf_init(&b, 1 << 20);
	buf_puts(&b, "<!DOCTYPE html><html><head><meta charset=\"utf-8\">"
		     "<meta name=\"viewport\" content=\"width=device-width\"><title>");
	esc(&b, title);
	buf_puts(&b, "</title></head><body><h1>");
	esc(&b, title);
	buf_printf(&b, "</h1>%s<p><a href=\"/user/\">Open your quarantine</a></p></body></html>",
		   body_html);
	api_raw(c, status, "text/html; charset=utf-8", b.data, b.len);
	buf_free(&b);
}

static void fail(struct api_call *c, int status, const char *why)
{
	struct buf b;
	buf_init(&b, 4096);
	buf_puts(&b, "<p>");
	esc(&b, why);
	buf_puts(&b, "</p>");
	page(c, status, "rampart quarantine", b.data);
	buf_free(&b);
}

/* The token of the request: ?t= on GET, the form field t on POST. */
static char *request_token(struct api_call *c)
{
	if (strcmp(c->method, "GET") == 0) {
		const char *t = api_query(c, "t");
		return t ? strdup(t) : NULL;
	}
	struct evkeyvalq form;
	TAILQ_INIT(&form);
	char *t = NULL;
	if (c->raw_body && c->raw_len < 8192 && evhttp_parse_query_str(c->raw_body, &form) == 0 &&
	    evhttp_find_header(&form, "t"))
		t = strdup(evhttp_find_header(&form, "t"));
	evhttp_clear_headers(&form);
	return t;
}

static void act_do(struct api_call *c, size_t v, const char *user, json_int_t id, const char *token)
{
	struct err e;
	char qid[64], sender[512], who[400];
	struct buf b;
	snprintf(who, sizeof who, "user %s (mail link)", user);
	int rc = 0;
	if (strcmp(verbs[v].action, "delete") == 0)
		rc = quarantine_delete(c->db, c->node->boot.data_dir, id, user, &e) < 0 ? -1 : 0;
	else if (strcmp(verbs[v].action, "whitelist") == 0)
		rc = quar_whitelist_sender(c->node, c->db, id, user, sender, sizeof sender, &e);
	if (rc == 0 && strcmp(verbs[v].action, "delete") != 0)
		rc = quar_release(c->node, c->db, id, user, who, qid, sizeof qid, &e);
	if (rc == -1)
		return fail(c, 404, "This message is no longer in your quarantine (it was already handled).");
	if (rc < 0)
		return fail(c, 503, e.msg);
	(void)token;
	buf_init(&b, 4096);
	buf_puts(&b, "<p>");
	esc(&b, verbs[v].done);
	buf_puts(&b, "</p>");
	page(c, 200, "Done", b.data);
	buf_free(&b);
}

void web_act_page(struct api_call *c)
{
	struct err e;
	char *token = request_token(c);
	json_t *claims = token ? links_verify(c->node->cfg, token, &e) : NULL;
	const char *p = json_string_value(json_object_get(claims, "p"));
	const char *user = json_string_value(json_object_get(claims, "u"));
	const char *action = json_string_value(json_object_get(claims, "a"));
	json_int_t id = json_integer_value(json_object_get(claims, "q"));
	size_t v = sizeof verbs / sizeof *verbs;
	for (size_t i = 0; action && i < sizeof verbs / sizeof *verbs; i++)
		if (strcmp(action, verbs[i].action) == 0)
			v = i;
	struct user_rec u;
	struct quarantine_msg m = {0};
	if (!claims || !p || strcmp(p, "act") != 0 || !user || v == sizeof verbs / sizeof *verbs) {
		fail(c, 400, claims ? "This link is not a quarantine link." : token ? e.msg : "The link is incomplete.");
	} else if (users_get(c->node->cfg, user, &u) < 0) {
		fail(c, 404, "This account no longer exists.");
	} else if (quarantine_get(c->db, c->node->boot.data_dir, id, u.address, &m, &e) < 0) {
		fail(c, 404, "This message is no longer in your quarantine (it was already handled).");
	} else if (strcmp(c->method, "POST") == 0) {
		act_do(c, v, u.address, id, token);
	} else {
		struct buf b;
		buf_init(&b, 64 << 10);
		buf_puts(&b, "<p>");
		esc(&b, verbs[v].question);
		buf_puts(&b, "</p><p>From: ");
		esc(&b, m.mail_from[0] ? m.mail_from : "<>");
		buf_puts(&b, "<br>Subject: ");
		esc(&b, json_string_value(json_object_get(m.row, "subject")));
		buf_puts(&b, "</p><form method=\"post\" action=\"/act\"><input type=\"hidden\" name=\"t\" value=\"");
		esc(&b, token);
		buf_puts(&b, "\"><button type=\"submit\">Confirm</button></form>");
		page(c, 200, "rampart quarantine", b.data);
		buf_free(&b);
	}
	json_decref(m.row);
	json_decref(claims);
	free(token);
}

/* ---- housekeeping -------------------------------------------------------------- */

int web_db_init(sqlite3 *db, struct err *e)
{
	return auth_db_init(db, e);
}

static void housekeeping_work(void *ctx, void *arg)
{
	struct node *n = arg;
	sqlite3 *db = filter_thread_db(ctx);
	struct err e;
	int64_t days = users_setting_int(n->cfg, "quarantine_retention_days", NULL, 14);
	int purged = quarantine_purge(db, n->boot.data_dir, time_now_ms() - days * 86400000LL, &e);
	if (purged < 0)
		log_warn("quarantine retention: %s", e.msg);
	else if (purged > 0)
		log_info("quarantine: %d message(s) older than %lld days purged", purged, (long long)days);
	auth_expire(db, auth_idle_ms(n->cfg));
	json_decref(summary_run(n, db, NULL, 0));
}

static void on_housekeeping(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct web *w = arg;
	if (!w->node->draining && w->node->pool)
		pool_submit(w->node->pool, housekeeping_work, NULL, w->node);
}

void web_housekeeping_start(struct web *w)
{
	if (!w->node->base)
		return;
	w->housekeeping = event_new(w->node->base, -1, EV_PERSIST, on_housekeeping, w);
	struct timeval tv = {HOUSEKEEPING_SECONDS, 0};
	event_add(w->housekeeping, &tv);
}

void web_housekeeping_stop(struct web *w)
{
	if (w->housekeeping)
		event_free(w->housekeeping);
	w->housekeeping = NULL;
}
