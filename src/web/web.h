/* HTTP(S) front: the JSON API (/api/v1), /metrics, later the web UI.
 * The same API is served on the HTTPS listener and, for the CLI, on a
 * unix socket in the data directory (mode 0600: whoever can open it is
 * the node's administrator). */
#ifndef RAMPART_WEB_WEB_H
#define RAMPART_WEB_WEB_H

#include "util/err.h"

struct node;
struct web;

struct web *web_new(struct node *n, struct err *e);
int web_listen_https(struct web *w, const char *hostport, struct err *e);
int web_listen_local(struct web *w, const char *path, struct err *e);
void web_free(struct web *w);

#endif
