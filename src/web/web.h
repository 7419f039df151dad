/* HTTP(S) front: the JSON API (/api/v1, docs/api.md), the web UI's
 * static files, /metrics. The same API is served on the HTTPS listener
 * and, for the CLI, on a unix socket in the data directory (mode 0600:
 * whoever can open it is the node's administrator). */
#ifndef RAMPART_WEB_WEB_H
#define RAMPART_WEB_WEB_H

#include <sqlite3.h>

#include "util/err.h"

struct node;
struct web;

/* Also stores the first admin password (printed once when generated)
 * and starts the periodic work: quarantine retention, summaries,
 * expired sessions. */
struct web *web_new(struct node *n, struct err *e);
int web_listen_https(struct web *w, const char *hostport, struct err *e);
int web_listen_local(struct web *w, const char *path, struct err *e);
void web_free(struct web *w);

/* Tables of the web layer (sessions, login throttling, token use, mail
 * bookkeeping) in the node database; at start-up. */
int web_db_init(sqlite3 *db, struct err *e);

/* Called by the SMTP layer (worker thread) after a message was
 * quarantined for rcpt: creates the account when there is none (setting
 * quarantine_auto_users) and mails its set-password link. 1 created,
 * 0 existed (or auto creation is off), -1 error (logged). */
int users_on_quarantine(struct node *n, sqlite3 *db, const char *rcpt);

#endif
