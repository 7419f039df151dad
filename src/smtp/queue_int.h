/* Delivery queue internals shared by queue.c (scheduling, persistence)
 * and queue_deliver.c (SMTP, Maildir, DSN). */
#ifndef RAMPART_SMTP_QUEUE_INT_H
#define RAMPART_SMTP_QUEUE_INT_H

#include <event2/event.h>
#include <stdint.h>
#include <sys/socket.h>

#include "filter/pipeline.h"
#include "mail/spool.h"
#include "smtp/client.h"
#include "smtp/queue.h"
#include "util/strmap.h"

struct node;

enum rcpt_state {
	QR_PENDING,   /* waiting for its next attempt */
	QR_INFLIGHT,  /* an attempt is running */
	QR_DONE,      /* delivered or otherwise finished */
	QR_FAILED,    /* permanent failure; waits for the DSN */
};

struct qrcpt {
	char *addr;
	char *domain;
	enum action action;
	enum rcpt_state state;
	int attempts;
	int64_t next_try_ms;
	char last_reply[300];
	char status[16];        /* RFC 3463 status for the DSN */
	struct dest *dest;      /* cached destination; NULL = look up */
	int variant;            /* body sent: 0 original, 1 tagged (.tag), 2 [QUAR]: (.qtag) */
};

struct qmsg {
	struct qmsg *prev, *next;
	struct envelope env;    /* rcpts of env are not used after load */
	char path[4200];
	size_t body_off, body_len;
	struct qrcpt *r;
	int nr;
	int inflight;           /* deliveries running */
	int fd;                 /* open while deliveries run */
	int tag_fd[3];          /* [1] path.tag, [2] path.qtag, opened when needed */
	size_t tag_len[3];
	int dsn_done;
};

struct dest {
	char key[600];          /* the destination string */
	int active;             /* connections open or connecting */
	struct qconn *idle;     /* idle SMTP connections (reused) */
	struct qconn *conns;    /* all connections, busy or idle */
	struct sockaddr_storage addr;
	socklen_t addrlen;
	int resolved;           /* 1 ok, -1 failed, 0 unknown */
	int resolving;
	int64_t resolved_at_ms;
	char resolve_error[200];
};

/* One delivery attempt: a message, a destination, some recipients. */
struct attempt {
	struct queue *q;
	struct qmsg *m;
	struct dest *d;
	int idx[SMTP_CLIENT_MAX_RCPT];
	int n;
	int variant;            /* which body: see qrcpt.variant */
	const char *rcpts[SMTP_CLIENT_MAX_RCPT];
	struct qconn *conn;
	struct err err;
	int maildir_rc[SMTP_CLIENT_MAX_RCPT];
	char maildir_path[512];
};

struct qconn {
	struct qconn *next;          /* idle list */
	struct qconn *all_next, *all_prev; /* every connection of the dest */
	struct dest *d;
	struct smtp_client *c;
	struct attempt *a;
	struct event *idle_timer;
};

struct queue {
	struct node *node;
	struct qmsg *msgs, *tail;
	size_t nmsgs;
	struct strmap dests;    /* key -> struct dest */
	struct event *tick;
	struct event *kick;
	int stopped;
	int recovering;
};

/* queue.c */
void queue_rcpt_result(struct queue *q, struct qmsg *m, int i, int code, const char *enh,
		       const char *text);
void queue_attempt_finished(struct queue *q, struct attempt *a);
void queue_kick(struct queue *q);
struct dest *queue_dest(struct queue *q, const char *key);

/* queue_deliver.c */
void deliver_start(struct queue *q, struct attempt *a);
void deliver_dest_free(struct dest *d);
void deliver_make_dsn(struct queue *q, struct qmsg *m);

#endif
