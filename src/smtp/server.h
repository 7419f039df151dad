/* The SMTP server: listeners, connection limits, sessions. */
#ifndef RAMPART_SMTP_SERVER_H
#define RAMPART_SMTP_SERVER_H

#include "util/err.h"

struct node;
struct smtp_server;

struct smtp_server *smtp_server_new(struct node *n, struct err *e);
int smtp_server_listen(struct smtp_server *srv, const char *hostport, struct err *e);
/* Stops accepting; sessions in progress may finish for timeout_s
 * seconds, then are closed with 421. */
void smtp_server_drain(struct smtp_server *srv, int timeout_s);
int smtp_server_sessions(const struct smtp_server *srv);
void smtp_server_free(struct smtp_server *srv);

#endif
