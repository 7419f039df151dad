/* Internals shared by client.c (connection, greeting, lifecycle) and
 * client_txn.c (one mail transaction). Private to the client. */
#ifndef RAMPART_SMTP_CLIENT_INT_H
#define RAMPART_SMTP_CLIENT_INT_H

#include <event2/bufferevent.h>

#include "smtp/client.h"
#include "smtp/client_reply.h"

enum smtpc_state {
	CS_CONNECTING,
	CS_BANNER,
	CS_EHLO,
	CS_HELO,
	CS_STARTTLS,
	CS_HANDSHAKE,
	CS_IDLE,
	CS_TXN,
	CS_RSET,
	CS_QUIT,     /* released by the owner, QUIT in flight */
	CS_BROKEN,   /* socket gone; only smtp_client_close is left */
};

/* What a deferred (next loop turn) event has to do. */
enum smtpc_defer { DEFER_NONE, DEFER_FAIL, DEFER_TXN_DONE };

/* Expected replies, in order (>= 0: RCPT of that recipient). */
enum { PEND_MAIL = -1, PEND_DATA = -2, PEND_DOT = -3 };

/* Per-recipient progress. */
enum { RS_PENDING, RS_ACCEPTED, RS_FINAL };

#define SMTPC_CHUNK (64 * 1024)

struct smtpc_txn {
	char *from;
	char **rcpts;
	int nrcpt;
	int fd;
	off_t off;
	size_t len;
	size_t done;          /* body bytes already queued for sending */
	int at_bol;           /* next body byte starts a line */
	int last_lf;          /* last body byte sent was LF */
	int smtputf8, body_8bit;
	size_t size_hint;
	int pipelining;
	struct smtp_reply *replies;
	unsigned char *status;   /* RS_* per recipient */
	struct smtp_reply mail_reply;
	int mail_ok;
	int naccepted;
	int *pend;            /* ring of expected replies, nrcpt + 3 slots */
	int pend_head, pend_len;
	int streaming;        /* sending the message after 354 */
	char *chunk;          /* SMTPC_CHUNK bytes while streaming */
	smtp_client_txn_cb cb;
	void *arg;
};

struct smtp_client {
	struct event_base *base;
	struct bufferevent *bev;
	struct event *timer;
	struct event *defer;
	enum smtpc_state state;
	char helo[256];
	int connect_to, cmd_to, data_to;
	SSL_CTX *tls_ctx;
	int tls_active;
	unsigned ext;
	size_t size_max;
	struct smtpc_parser parser;
	smtp_client_ready_cb ready_cb;
	void *ready_arg;
	struct smtpc_txn *txn;
	int in_cb;
	int released;
	enum smtpc_defer defer_kind;
	char defer_text[256];
};

/* client.c */
void smtpc_arm(struct smtp_client *c, int secs);
int smtpc_send(struct smtp_client *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Tears the connection down and tells the owner. Always returns -1 (stop:
 * the bufferevent is gone and c may be freed). */
int smtpc_fail(struct smtp_client *c, const char *text);
/* Frees c when its owner released it during a callback. -1 = c is gone. */
int smtpc_after_cb(struct smtp_client *c);
void smtpc_defer(struct smtp_client *c, enum smtpc_defer kind, const char *text);

/* client_txn.c */
int smtpc_txn_start(struct smtp_client *c, const struct smtp_txn *t, smtp_client_txn_cb cb,
		    void *arg);
/* A reply in CS_TXN or CS_RSET. -1 = stop reading (c may be gone). */
int smtpc_txn_reply(struct smtp_client *c, const struct smtp_reply *r);
/* Output drained while streaming the message. -1 = failed (c may be gone). */
int smtpc_txn_pump(struct smtp_client *c);
/* The connection is gone (already torn down): resolves what is pending
 * with a code 0 reply carrying text and tells the owner. */
int smtpc_txn_abort(struct smtp_client *c, const char *text);
/* Outcome complete: go idle (or stay broken) and call the owner back. */
int smtpc_txn_notify(struct smtp_client *c, int conn_ok);
const char *smtpc_txn_phase(const struct smtp_client *c);
void smtpc_txn_free(struct smtpc_txn *t);

#endif
