/* One SMTP session (private to src/smtp). */
#ifndef RAMPART_SMTP_SESSION_H
#define RAMPART_SMTP_SESSION_H

#include <event2/bufferevent.h>
#include <event2/listener.h>
#include <stdint.h>
#include <sys/socket.h>

#include "mail/smtp_parse.h"
#include "mail/spool.h"
#include "util/strmap.h"

struct node;
struct scan_task;

/* Limits read from the config store when a session starts, so a change
 * applies to new sessions and never changes a session midway. */
struct session_limits {
	size_t max_size;
	int max_rcpt;
	size_t max_line;
	size_t max_data_line;
	int cmd_timeout;
	int data_timeout;
	int max_errors;
	int max_messages;
	int helo_required;
	int strict_rfc;
	char banner[256];
	char hostname[256];   /* greeting, Received:, 221 (config_hostname) */
	char own_domain[256]; /* a bare <postmaster> goes here (default_domain) */
};

enum session_state {
	SS_READY,     /* reading commands */
	SS_DATA,      /* reading message data */
	SS_SCANNING,  /* waiting for the pipeline's verdict */
	SS_CLOSING,   /* flushing the last reply */
};

/* Problems found in the data stream; any of them refuses the message. */
enum data_flags {
	DF_BARE_LF = 1,
	DF_NUL = 2,
	DF_LONG_LINE = 4,
	DF_TOO_BIG = 8,
	DF_WRITE_ERR = 16,
};

struct session {
	struct smtp_server *srv;
	struct node *node;
	struct bufferevent *bev;
	struct event *close_ev;
	struct evbuffer_cb_entry *under_cb; /* drain watch under TLS while closing */
	struct session *prev, *next;
	char ip[64];
	char rdns[256];               /* forward-confirmed reverse name, "" unknown */
	struct rdns_task *rdns_task;  /* its lookup, while it runs */
	char helo[256];
	int esmtp;
	int tls;
	int seen_helo;
	enum session_state state;
	struct session_limits lim;
	int errors;
	int messages;
	/* the transaction */
	int have_mail;
	size_t txn_max_size;  /* smallest size limit of the recipients' domains */
	struct envelope env;
	struct smtp_params params;
	/* DATA */
	struct spool_writer *writer;
	size_t data_bytes;
	unsigned data_flags;
	int in_long_line;
	int skip_line;
	char *line;
	size_t line_cap;
	int64_t data_start_us;
	struct scan_task *task;
};

struct smtp_server {
	struct node *node;
	struct evconnlistener *listeners[8];
	int nlisteners;
	struct session *sessions;
	int nsessions;
	struct strmap per_ip;     /* ip -> (intptr_t) open sessions */
	struct strmap rates;      /* ip -> struct rate_entry (ratelimit.c) */
	struct event *rate_timer;
	struct event *drain_timer;
	int draining;
};

/* session.c */
void session_start(struct smtp_server *srv, evutil_socket_t fd, const struct sockaddr *sa);
void session_reply(struct session *s, int code, const char *enh, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
void session_close(struct session *s);         /* after flushing output */
void session_free(struct session *s);          /* immediately */
void session_reset_txn(struct session *s);
void session_resume(struct session *s);        /* process buffered input */
int session_client_error(struct session *s);   /* counts; returns -1 when closed */

/* session_data.c */
void session_data_begin(struct session *s);
void session_data_read(struct session *s);
void session_data_abandon(struct session *s); /* on close during DATA/scan */

/* ratelimit.c: 0 = within the limit (and counted), -1 = over it */
enum { RATE_CONN, RATE_MSG };
int rate_check(struct smtp_server *srv, const char *ip, int kind);
void rate_prune(struct smtp_server *srv);

/* server.c */
void server_session_gone(struct smtp_server *srv, struct session *s);

/* session_rdns.c: the client's reverse name for our Received: header */
void session_rdns_start(struct session *s);
void session_rdns_abandon(struct session *s);

#endif
