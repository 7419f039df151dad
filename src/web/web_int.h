/* Internals shared by the files of src/web. */
#ifndef RAMPART_WEB_WEB_INT_H
#define RAMPART_WEB_WEB_INT_H

#include <event2/event.h>
#include <sqlite3.h>

#include "store/quarantine.h"
#include "web/api.h"

struct node;

struct web {
	struct node *node;
	struct evhttp *https;
	struct evhttp *local;
	struct event *housekeeping;
};

/* Authenticates the caller of a route (trusted socket, API token or
 * session cookie), checks the route's access flags, the admin IP ranges
 * and the CSRF token. 0 when the handler may run; otherwise the error
 * reply is set. Worker thread. */
int web_authorize(struct api_call *c, const struct api_route *r, const char *cookie,
		  const char *bearer, const char *csrf);

/* config_settings_json plus "inherited": the value the scope falls back
 * to when it sets none (the next scope up, or the table default). */
struct config_store;
json_t *web_settings_json(struct config_store *cs, const char *scope);
/* Whether ip is in a comma/space separated CIDR list (blank: any). */
int web_ip_in_list(const char *cidrs, const char *ip);

/* GET of anything outside /api: files under web_root. */
void web_static_serve(struct api_call *c);
/* /act: the one-click quarantine action page of the summary mail. */
void web_act_page(struct api_call *c);

/* Periodic work on the pool: quarantine retention, summaries, expired
 * sessions. */
void web_housekeeping_start(struct web *w);
void web_housekeeping_stop(struct web *w);

/* Quarantine operations shared by the API, the action page and the
 * summary. rcpt NULL: any owner (admin). who: for the log. */
int quar_release(struct node *n, sqlite3 *db, int64_t id, const char *rcpt, const char *who,
		 char *queue_id, size_t qlen, struct err *e);
/* Adds the message's sender to its recipient's whitelist. */
int quar_whitelist_sender(struct node *n, sqlite3 *db, int64_t id, const char *rcpt,
			  char *sender, size_t slen, struct err *e);
/* Trains Bayes with the message: 1 learned, 0 already so, -1 error.
 * admin (who, or NULL for a user): spam from an administrator is also
 * added to the spam fingerprints. */
int quar_classify(sqlite3 *db, const char *data, size_t len, int spam, const char *admin,
		  struct err *e);

/* Summary pass: mails every due user (force: ignore the interval; only:
 * just this user). Returns the addresses mailed. */
json_t *summary_run(struct node *n, sqlite3 *db, const char *only, int force);
/* Mails the set-password link to a user (welcome = first mail after the
 * account was made automatically). link gets the URL. */
int users_mail_link(struct node *n, sqlite3 *db, const char *addr, int welcome, int send,
		    char *link, size_t linklen, struct err *e);
/* Sender address of mails rampart makes. */
void web_mail_from(struct node *n, char *out, size_t outlen);

/* The parsed, display-safe view of a message (docs/api.md §6.3) added to
 * obj; *html gets the sanitised HTML (malloc'd, may be NULL). */
int msgrender_view(const char *data, size_t len, json_t *obj, char **html, struct err *e);

/* Replies with sanitised HTML under the preview CSP (framable by self). */
void web_send_preview(struct api_call *c, const char *html);
/* Body {"as": "spam"|"ham"}: 1 spam, 0 ham, -1 with the reply set. */
int web_body_class(struct api_call *c);

#endif
