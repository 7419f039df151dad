/* Mail rampart writes to its users: the set-password link (welcome mail
 * when an account is made automatically, or a reset) and the quarantine
 * summary with signed one-click links. All of it goes through the
 * delivery queue (queue_submit_local), never straight to a socket. */
#include <ctype.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "node.h"
#include "smtp/queue.h"
#include "store/config.h"
#include "store/quarantine.h"
#include "store/users.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/timeutil.h"
#include "web/auth.h"
#include "web/web.h"
#include "web/web_int.h"

#define SUMMARY_MAX_ROWS 100
#define MAIL_MAX (4u << 20)

static pthread_mutex_t create_lock = PTHREAD_MUTEX_INITIALIZER;

void web_mail_from(struct node *n, char *out, size_t outlen)
{
	char pm[300];
	users_setting_str(n->cfg, "postmaster_address", NULL, "", pm, sizeof pm);
	char own[256];
	config_default_domain(n->cfg, n->boot.hostname, own, sizeof own);
	if (pm[0])
		snprintf(out, outlen, "%s", pm);
	else
		snprintf(out, outlen, "postmaster@%s", own);
}

/* Text safe for one header line or a plain-text line: no controls. */
static void clean_line(const char *s, char *out, size_t outlen)
{
	size_t k = 0;
	for (; s && *s && k + 1 < outlen; s++)
		out[k++] = (unsigned char)*s < 0x20 || *s == 0x7f ? ' ' : *s;
	out[k] = '\0';
}

static void html_escape(struct buf *b, const char *s)
{
	for (; s && *s; s++) {
		switch (*s) {
		case '<': buf_puts(b, "&lt;"); break;
		case '>': buf_puts(b, "&gt;"); break;
		case '&': buf_puts(b, "&amp;"); break;
		case '"': buf_puts(b, "&quot;"); break;
		default: buf_putc(b, (unsigned char)*s < 0x20 ? ' ' : *s);
		}
	}
}

/* Base64 body lines of 76 characters. */
static void put_base64(struct buf *out, const char *data, size_t len)
{
	for (size_t off = 0; off < len; off += 57) {
		char line[80];
		size_t n = len - off > 57 ? 57 : len - off;
		sodium_bin2base64(line, sizeof line, (const unsigned char *)data + off, n,
				  sodium_base64_VARIANT_ORIGINAL);
		buf_printf(out, "%s\r\n", line);
	}
}

/* RFC 2047 encoded-word for a UTF-8 header text. */
static void put_header_text(struct buf *out, const char *s)
{
	int ascii = 1;
	for (const char *p = s; *p; p++)
		ascii &= (unsigned char)*p < 0x80;
	if (ascii) {
		buf_puts(out, s);
		return;
	}
	char enc[1024];
	size_t n = strlen(s) > 600 ? 600 : strlen(s);
	sodium_bin2base64(enc, sizeof enc, (const unsigned char *)s, n, sodium_base64_VARIANT_ORIGINAL);
	buf_printf(out, "=?UTF-8?B?%s?=", enc);
}

/* Writes a complete message (headers + text, + HTML alternative when
 * html is given) and queues it to rcpt. */
static int send_mail(struct node *n, sqlite3 *db, const char *rcpt, const char *subject,
		     const char *text, size_t tlen, const char *html, size_t hlen, struct err *e)
{
	char from[320], date[64], mid[80], boundary[40], qid[64];
	struct buf m;
	web_mail_from(n, from, sizeof from);
	time_rfc5322(time(NULL), date, sizeof date);
	auth_random_hex(mid, 12);
	auth_random_hex(boundary, 12);
	buf_init(&m, MAIL_MAX);
	buf_printf(&m, "From: rampart <%s>\r\nTo: <%s>\r\nSubject: ", from, rcpt);
	put_header_text(&m, subject);
	buf_printf(&m,
		   "\r\nDate: %s\r\nMessage-ID: <%s@%s>\r\nMIME-Version: 1.0\r\n"
		   "Auto-Submitted: auto-generated\r\nX-Rampart: notification\r\n",
		   date, mid, n->boot.hostname);
	if (html) {
		buf_printf(&m, "Content-Type: multipart/alternative; boundary=\"%s\"\r\n\r\n--%s\r\n",
			   boundary, boundary);
	}
	buf_puts(&m, "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n");
	put_base64(&m, text, tlen);
	if (html) {
		buf_printf(&m, "--%s\r\nContent-Type: text/html; charset=utf-8\r\n"
			       "Content-Transfer-Encoding: base64\r\n\r\n", boundary);
		put_base64(&m, html, hlen);
		buf_printf(&m, "--%s--\r\n", boundary);
	}
	const char *rcpts[1] = {rcpt};
	int rc = m.data ? queue_submit_local(n, db, "", rcpts, 1, m.data, m.len, qid, sizeof qid, e)
			: err_set(e, "mail too large");
	buf_free(&m);
	if (rc == 0)
		log_info("web: mailed \"%s\" to %s as %s", subject, log_esc(rcpt), qid);
	return rc;
}

int users_mail_link(struct node *n, sqlite3 *db, const char *addr, int welcome, int send,
		    char *link, size_t linklen, struct err *e)
{
	struct user_rec u;
	char token[2100], base[300];
	if (users_get(n->cfg, addr, &u) < 0)
		return err_set(e, "no user %s", log_esc(addr));
	int64_t life = users_setting_int(n->cfg, "web_link_lifetime", NULL, 604800);
	json_t *claims = json_pack("{s:s, s:s, s:I}", "p", "setpw", "u", u.address, "g",
				   (json_int_t)u.pw_changed_ms);
	int rc = links_sign(n->cfg, claims, life, token, sizeof token, e);
	json_decref(claims);
	if (rc < 0)
		return -1;
	links_base_url(n, base, sizeof base);
	snprintf(link, linklen, "%s/user/?setpw=%s", base, token);
	if (!send)
		return 0;
	struct buf t;
	buf_init(&t, 64 << 10);
	if (welcome)
		buf_printf(&t,
			   "Hello,\r\n\r\nmessages addressed to you (%s) were held back by the spam\r\n"
			   "firewall. An account has been opened for you so that you can review them.\r\n",
			   u.address);
	else
		buf_printf(&t, "Hello,\r\n\r\na new password was requested for your account %s.\r\n",
			   u.address);
	buf_printf(&t,
		   "\r\nChoose your password here (the link works once and expires in %lld day(s)):\r\n\r\n"
		   "  %s\r\n\r\nThen log in at %s/user/ with your address and that password.\r\n",
		   (long long)(life + 86399) / 86400, link, base);
	rc = send_mail(n, db, u.address, welcome ? "Your spam quarantine account" : "Your password link",
		       t.data, t.len, NULL, 0, e);
	buf_free(&t);
	return rc;
}

int users_on_quarantine(struct node *n, sqlite3 *db, const char *rcpt)
{
	struct user_rec u;
	struct err e;
	char canon[USERS_ADDR_MAX], link[2600];
	if (settings_address_normalize(rcpt, canon, sizeof canon, &e) < 0 || strchr(canon, '/'))
		return 0;
	if (users_get(n->cfg, canon, &u) == 0)
		return 0;
	if (!users_setting_int(n->cfg, "quarantine_auto_users", canon, 1))
		return 0;
	/* two messages for a new user at once: one account, one mail */
	pthread_mutex_lock(&create_lock);
	int made = 0;
	if (users_get(n->cfg, canon, &u) < 0) {
		users_rec_init(&u, canon, "auto");
		if (users_put(n->cfg, &u, &e) < 0)
			log_error("users: cannot create %s: %s", canon, e.msg);
		else
			made = 1;
	}
	pthread_mutex_unlock(&create_lock);
	if (!made)
		return users_get(n->cfg, canon, &u) == 0 ? 0 : -1;
	log_info("users: account %s created on its first quarantined message", canon);
	if (users_mail_link(n, db, canon, 1, 1, link, sizeof link, &e) < 0)
		log_warn("users: welcome mail to %s: %s", canon, e.msg);
	return 1;
}

/* ---- the quarantine summary ------------------------------------------------ */

static int act_link(struct node *n, const char *base, const char *rcpt, json_int_t id,
		    const char *action, struct buf *out)
{
	char token[2100];
	struct err e;
	int64_t life = users_setting_int(n->cfg, "web_link_lifetime", NULL, 604800);
	json_t *claims = json_pack("{s:s, s:s, s:I, s:s}", "p", "act", "u", rcpt, "q", id, "a", action);
	int rc = links_sign(n->cfg, claims, life, token, sizeof token, &e);
	json_decref(claims);
	if (rc == 0)
		buf_printf(out, "%s/act?t=%s", base, token);
	return rc;
}

static int summary_mail(struct node *n, sqlite3 *db, const struct user_rec *u, json_t *rows,
			int64_t total, struct err *e)
{
	char base[300], line[600];
	struct buf t, h;
	static const char *const actions[] = {"deliver", "whitelist", "delete"};
	int nact = u->features & USER_FEAT_SETTINGS ? 3 : 2;
	links_base_url(n, base, sizeof base);
	buf_init(&t, MAIL_MAX);
	buf_init(&h, MAIL_MAX);
	buf_printf(&t, "%lld new message(s) were held back for %s.\r\n\r\n", (long long)total,
		   u->address);
	buf_puts(&h, "<!DOCTYPE html><html><body><p>");
	buf_printf(&h, "%lld new message(s) were held back for ", (long long)total);
	html_escape(&h, u->address);
	buf_puts(&h, ".</p><table border=\"1\" cellpadding=\"4\" cellspacing=\"0\">"
		     "<tr><th>Date</th><th>From</th><th>Subject</th><th>Score</th><th></th></tr>");
	size_t i;
	json_t *r;
	json_array_foreach(rows, i, r)
	{
		json_int_t id = json_integer_value(json_object_get(r, "id"));
		const char *from = json_string_value(json_object_get(r, "mail_from"));
		const char *subj = json_string_value(json_object_get(r, "subject"));
		const char *when = json_string_value(json_object_get(r, "time"));
		double score = json_real_value(json_object_get(r, "score"));
		clean_line(subj, line, 200);
		buf_printf(&t, "%s  %s\r\n  Subject: %s  (score %.1f)\r\n", when, from[0] ? from : "<>", line,
			   score);
		buf_puts(&h, "<tr><td>");
		html_escape(&h, when);
		buf_puts(&h, "</td><td>");
		html_escape(&h, from[0] ? from : "<>");
		buf_puts(&h, "</td><td>");
		html_escape(&h, line);
		buf_printf(&h, "</td><td>%.1f</td><td>", score);
		for (int a = 0; a < nact; a++) {
			struct buf l;
			buf_init(&l, 4096);
			if (act_link(n, base, u->address, id, actions[a], &l) == 0) {
				buf_printf(&t, "  %s: %s\r\n", actions[a], l.data);
				buf_printf(&h, "<a href=\"%s\">%s</a> ", l.data, actions[a]);
			}
			buf_free(&l);
		}
		buf_puts(&t, "\r\n");
		buf_puts(&h, "</td></tr>");
	}
	if ((int64_t)json_array_size(rows) < total)
		buf_printf(&t, "... and %lld more.\r\n", (long long)(total - (int64_t)json_array_size(rows)));
	buf_printf(&t, "\r\nYour quarantine: %s/user/\r\n", base);
	buf_printf(&h, "</table><p><a href=\"%s/user/\">Open your quarantine</a></p></body></html>", base);
	snprintf(line, sizeof line, "Quarantine summary: %lld new message(s)", (long long)total);
	int rc = t.data && h.data ? send_mail(n, db, u->address, line, t.data, t.len, h.data, h.len, e)
				  : err_set(e, "summary too large");
	buf_free(&t);
	buf_free(&h);
	return rc;
}

static int64_t interval_ms(struct node *n, const char *addr)
{
	char v[32];
	users_setting_str(n->cfg, "quarantine_summary", addr, "daily", v, sizeof v);
	if (strcmp(v, "weekly") == 0)
		return 7 * 86400000LL;
	if (strcmp(v, "never") == 0)
		return -1;
	return 86400000LL;
}

/* Mails one user when due; 1 mailed, 0 not due, -1 error. */
static int summary_user(struct node *n, sqlite3 *db, const char *addr, int force, struct err *e)
{
	struct user_rec u;
	int64_t sent, upto, now = time_now_ms(), every = interval_ms(n, addr);
	if (users_get(n->cfg, addr, &u) < 0 || every < 0)
		return 0;
	quarantine_summary_get(db, u.address, &sent, &upto);
	int64_t since = sent ? sent : u.created_ms;
	if (!force && now - since < every)
		return 0;
	struct quarantine_query q = {.rcpt = u.address, .after_id = upto, .limit = SUMMARY_MAX_ROWS};
	json_t *res = quarantine_search(db, &q, e);
	if (!res)
		return -1;
	json_t *rows = json_object_get(res, "rows");
	int64_t total = json_integer_value(json_object_get(res, "total")), top = upto;
	size_t i;
	json_t *r;
	json_array_foreach(rows, i, r)
		if (json_integer_value(json_object_get(r, "id")) > top)
			top = json_integer_value(json_object_get(r, "id"));
	int rc = 0;
	if (total > 0) {
		rc = summary_mail(n, db, &u, rows, total, e) < 0 ? -1 : 1;
		/* the newest id covers every older row too (ids grow) */
		if (rc == 1 && quarantine_summary_set(db, u.address, now, top, e) < 0)
			rc = -1;
	}
	json_decref(res);
	return rc;
}

json_t *summary_run(struct node *n, sqlite3 *db, const char *only, int force)
{
	struct err e;
	json_t *sent = json_array(), *list, *v;
	list = only ? json_pack("[s]", only) : quarantine_rcpts_with_new(db, &e);
	if (!list) {
		log_warn("quarantine summary: %s", e.msg);
		return sent;
	}
	size_t i;
	json_array_foreach(list, i, v)
	{
		const char *addr = json_string_value(v);
		int rc = summary_user(n, db, addr, force, &e);
		if (rc < 0)
			log_warn("quarantine summary for %s: %s", log_esc(addr), e.msg);
		else if (rc > 0)
			json_array_append_new(sent, json_string(addr));
	}
	json_decref(list);
	return sent;
}
