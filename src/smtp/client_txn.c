/* One mail transaction on an established client connection: MAIL, RCPTs,
 * DATA (pipelined when the server offers PIPELINING), the message streamed
 * from its file with dot-stuffing, and the per-recipient outcome. */
#include <errno.h>
#include <event2/buffer.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "smtp/client_int.h"

static int addr_ok(const char *a, int allow_empty)
{
	size_t n = strlen(a);
	if ((n == 0 && !allow_empty) || n > SMTP_CLIENT_MAX_ADDR)
		return 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)a[i];
		if (ch < 0x20 || ch == 0x7f || ch == '<' || ch == '>')
			return 0;
	}
	return 1;
}

static int has_8bit(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s >= 0x80)
			return 1;
	return 0;
}

void smtpc_txn_free(struct smtpc_txn *t)
{
	if (!t)
		return;
	free(t->from);
	for (int i = 0; t->rcpts && i < t->nrcpt; i++)
		free(t->rcpts[i]);
	free(t->rcpts);
	free(t->replies);
	free(t->status);
	free(t->pend);
	free(t->chunk);
	free(t);
}

static struct smtpc_txn *txn_new(const struct smtp_txn *src)
{
	struct smtpc_txn *t = calloc(1, sizeof *t);
	if (!t)
		return NULL;
	int n = src->nrcpt;
	t->nrcpt = n;
	t->from = strdup(src->mail_from);
	t->rcpts = calloc((size_t)n, sizeof *t->rcpts);
	t->replies = calloc((size_t)n, sizeof *t->replies);
	t->status = calloc((size_t)n, sizeof *t->status);
	t->pend = calloc((size_t)n + 3, sizeof *t->pend);
	int ok = t->from && t->rcpts && t->replies && t->status && t->pend;
	for (int i = 0; ok && i < n; i++)
		ok = (t->rcpts[i] = strdup(src->rcpts[i])) != NULL;
	if (!ok) {
		smtpc_txn_free(t);
		return NULL;
	}
	t->fd = src->fd;
	t->off = src->body_offset;
	t->len = src->body_len;
	t->smtputf8 = src->smtputf8;
	t->body_8bit = src->body_8bit;
	t->size_hint = src->size_hint;
	return t;
}

static int txn_valid(const struct smtp_txn *t)
{
	if (!t->mail_from || !t->rcpts || t->nrcpt < 1 || t->nrcpt > SMTP_CLIENT_MAX_RCPT ||
	    t->fd < 0 || t->body_offset < 0 || !addr_ok(t->mail_from, 1))
		return 0;
	for (int i = 0; i < t->nrcpt; i++)
		if (!t->rcpts[i] || !addr_ok(t->rcpts[i], 0))
			return 0;
	return 1;
}

/* Registers a command whose reply comes later, and (re)starts its clock. */
static void expect(struct smtp_client *c, int kind)
{
	struct smtpc_txn *t = c->txn;
	int cap = t->nrcpt + 3;
	t->pend[(t->pend_head + t->pend_len) % cap] = kind;
	t->pend_len++;
	smtpc_arm(c, kind == PEND_DOT ? c->data_to : c->cmd_to);
}

static int pop(struct smtpc_txn *t)
{
	int kind = t->pend[t->pend_head];
	t->pend_head = (t->pend_head + 1) % (t->nrcpt + 3);
	t->pend_len--;
	return kind;
}

static void send_rcpt(struct smtp_client *c, int i)
{
	smtpc_send(c, "RCPT TO:<%s>\r\n", c->txn->rcpts[i]);
	expect(c, i);
}

static void send_mail(struct smtp_client *c)
{
	struct smtpc_txn *t = c->txn;
	char params[96] = "";
	size_t n = 0;
	if ((c->ext & SMTP_EXT_SIZE) && t->size_hint)
		n += (size_t)snprintf(params + n, sizeof params - n, " SIZE=%zu", t->size_hint);
	if ((c->ext & SMTP_EXT_8BITMIME) && t->body_8bit)
		n += (size_t)snprintf(params + n, sizeof params - n, " BODY=8BITMIME");
	if ((c->ext & SMTP_EXT_SMTPUTF8) && t->smtputf8)
		snprintf(params + n, sizeof params - n, " SMTPUTF8");
	smtpc_send(c, "MAIL FROM:<%s>%s\r\n", t->from, params);
	expect(c, PEND_MAIL);
}

enum { RESOLVE_ALL, RESOLVE_ACCEPTED };

/* Gives the reply r to every recipient still without a final verdict
 * (RESOLVE_ALL) or only to those whose RCPT was accepted. */
static void resolve(struct smtpc_txn *t, const struct smtp_reply *r, int which)
{
	for (int i = 0; i < t->nrcpt; i++) {
		if (t->status[i] == RS_FINAL ||
		    (t->status[i] == RS_PENDING && which == RESOLVE_ACCEPTED))
			continue;
		t->replies[i] = *r;
		t->status[i] = RS_FINAL;
	}
}

/* Decides a transaction locally (nothing sent), told on the next loop turn. */
static int decide_locally(struct smtp_client *c, int code, const char *enh, const char *text)
{
	struct smtp_reply r;
	smtpc_reply_local(&r, code, enh, text);
	resolve(c->txn, &r, RESOLVE_ALL);
	smtpc_defer(c, DEFER_TXN_DONE, NULL);
	return 0;
}

int smtpc_txn_start(struct smtp_client *c, const struct smtp_txn *src, smtp_client_txn_cb cb,
		    void *arg)
{
	if (!txn_valid(src))
		return -1;
	struct smtpc_txn *t = txn_new(src);
	if (!t)
		return -1;
	t->cb = cb;
	t->arg = arg;
	t->pipelining = (c->ext & SMTP_EXT_PIPELINING) != 0;
	c->txn = t;
	c->state = CS_TXN;
	int utf8 = has_8bit(t->from);
	for (int i = 0; i < t->nrcpt; i++)
		utf8 |= has_8bit(t->rcpts[i]);
	if (utf8 && !(c->ext & SMTP_EXT_SMTPUTF8))
		return decide_locally(c, 553, "5.6.7",
				      "SMTPUTF8 is required, but was not offered by the server");
	if (c->size_max && t->size_hint > c->size_max) {
		char text[160];
		snprintf(text, sizeof text, "message size %zu exceeds the server's limit of %zu",
			 t->size_hint, c->size_max);
		return decide_locally(c, 552, "5.3.4", text);
	}
	send_mail(c);
	if (t->pipelining) {
		for (int i = 0; i < t->nrcpt; i++)
			send_rcpt(c, i);
		smtpc_send(c, "DATA\r\n");
		expect(c, PEND_DATA);
	}
	return 0;
}

int smtpc_txn_notify(struct smtp_client *c, int conn_ok)
{
	struct smtpc_txn *t = c->txn;
	if (!t)
		return 0;
	c->txn = NULL;
	if (c->defer_kind == DEFER_TXN_DONE)
		c->defer_kind = DEFER_NONE;
	if (c->state == CS_TXN || c->state == CS_RSET) {
		c->state = c->bev ? CS_IDLE : CS_BROKEN;
		evtimer_del(c->timer);
	}
	struct smtp_reply none;
	smtpc_reply_local(&none, 0, NULL, "no reply from the server");
	resolve(t, &none, RESOLVE_ALL);   /* never leave a recipient without one */
	if (t->cb) {
		c->in_cb++;
		t->cb(c, conn_ok, t->replies, t->nrcpt, t->arg);
		c->in_cb--;
	}
	smtpc_txn_free(t);
	return smtpc_after_cb(c);
}

int smtpc_txn_abort(struct smtp_client *c, const char *text)
{
	struct smtp_reply r;
	if (!c->txn)
		return -1;
	smtpc_reply_local(&r, 0, NULL, text);
	resolve(c->txn, &r, RESOLVE_ALL);
	smtpc_txn_notify(c, 0);
	return -1;
}

/* The reply sequence is over; with rset the server still holds a
 * transaction (MAIL accepted) that must be cleared before the next. */
static int finish(struct smtp_client *c, int rset)
{
	if (rset) {
		c->state = CS_RSET;
		smtpc_send(c, "RSET\r\n");
		smtpc_arm(c, c->cmd_to);
		return 0;
	}
	return smtpc_txn_notify(c, 1);
}

static int begin_body(struct smtp_client *c)
{
	struct smtpc_txn *t = c->txn;
	t->chunk = malloc(SMTPC_CHUNK);
	if (!t->chunk)
		return smtpc_fail(c, "out of memory");
	t->streaming = 1;
	t->at_bol = 1;
	t->last_lf = 1;
	/* refill when half of the queued data has left */
	bufferevent_setwatermark(c->bev, EV_WRITE, SMTPC_CHUNK, 0);
	return smtpc_txn_pump(c);
}

/* Appends one chunk of the message, doubling every dot that starts a line
 * (RFC 5321 4.5.2); line starts carry over between chunks. */
static void stuff(struct evbuffer *out, struct smtpc_txn *t, const char *p, size_t n)
{
	size_t start = 0, i = 0;
	while (i < n) {
		if (t->at_bol && p[i] == '.') {
			evbuffer_add(out, p + start, i - start);
			evbuffer_add(out, ".", 1);
			start = i;
		}
		const char *nl = memchr(p + i, '\n', n - i);
		if (!nl) {
			t->at_bol = 0;
			break;
		}
		i = (size_t)(nl - p) + 1;
		t->at_bol = 1;
	}
	evbuffer_add(out, p + start, n - start);
	t->last_lf = p[n - 1] == '\n';
}

static void end_body(struct smtp_client *c, struct evbuffer *out)
{
	struct smtpc_txn *t = c->txn;
	evbuffer_add_printf(out, "%s.\r\n", t->last_lf ? "" : "\r\n");
	t->streaming = 0;
	free(t->chunk);
	t->chunk = NULL;
	bufferevent_setwatermark(c->bev, EV_WRITE, 0, 0);
	expect(c, PEND_DOT);
}

int smtpc_txn_pump(struct smtp_client *c)
{
	struct smtpc_txn *t = c->txn;
	struct evbuffer *out = bufferevent_get_output(c->bev);
	char text[256];
	while (evbuffer_get_length(out) < 2 * SMTPC_CHUNK) {
		if (t->done == t->len) {
			end_body(c, out);
			return 0;
		}
		size_t want = t->len - t->done < SMTPC_CHUNK ? t->len - t->done : SMTPC_CHUNK;
		ssize_t n = pread(t->fd, t->chunk, want, t->off + (off_t)t->done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			/* closing without the final dot makes the server drop
			 * the partial message */
			snprintf(text, sizeof text, "local error reading the message: %s",
				 n < 0 ? strerror(errno) : "file shorter than expected");
			return smtpc_fail(c, text);
		}
		stuff(out, t, t->chunk, (size_t)n);
		t->done += (size_t)n;
	}
	smtpc_arm(c, c->data_to);
	return 0;
}

static int on_mail(struct smtp_client *c, const struct smtp_reply *r)
{
	struct smtpc_txn *t = c->txn;
	t->mail_reply = *r;
	t->mail_ok = r->code / 100 == 2;
	if (!t->mail_ok)
		resolve(t, r, RESOLVE_ALL);   /* the sender's problem is everyone's */
	if (t->pipelining)
		return 0;
	if (!t->mail_ok)
		return finish(c, 0);
	send_rcpt(c, 0);
	return 0;
}

static int on_rcpt(struct smtp_client *c, int i, const struct smtp_reply *r)
{
	struct smtpc_txn *t = c->txn;
	if (t->status[i] == RS_PENDING) {
		if (r->code / 100 == 2) {
			t->status[i] = RS_ACCEPTED;
			t->naccepted++;
		} else {
			t->replies[i] = *r;
			t->status[i] = RS_FINAL;
		}
	}
	if (t->pipelining)
		return 0;
	if (i + 1 < t->nrcpt) {
		send_rcpt(c, i + 1);
		return 0;
	}
	if (!t->naccepted)
		return finish(c, 1);
	smtpc_send(c, "DATA\r\n");
	expect(c, PEND_DATA);
	return 0;
}

static int on_data(struct smtp_client *c, const struct smtp_reply *r)
{
	struct smtpc_txn *t = c->txn;
	if (r->code == 354) {
		if (t->mail_ok && t->naccepted)
			return begin_body(c);
		/* pipelined DATA accepted with nobody to deliver to: an
		 * empty message ends it (RFC 2920 3.1) */
		smtpc_send(c, ".\r\n");
		expect(c, PEND_DOT);
		return 0;
	}
	resolve(t, r, RESOLVE_ACCEPTED);
	return finish(c, t->mail_ok);
}

int smtpc_txn_reply(struct smtp_client *c, const struct smtp_reply *r)
{
	struct smtpc_txn *t = c->txn;
	if (c->state == CS_RSET) {
		if (r->code / 100 != 2)
			return smtpc_fail(c, "RSET refused");
		return smtpc_txn_notify(c, 1);
	}
	if (r->code == 421) {
		/* the server is closing: its reason is the best we have */
		resolve(t, r, RESOLVE_ALL);
		return smtpc_fail(c, "server closing the connection");
	}
	if (t->pend_len == 0) {
		if (!t->streaming)
			return smtpc_fail(c, "protocol error: unexpected reply");
		/* the server gave up on the message while we were sending */
		resolve(t, r, RESOLVE_ACCEPTED);
		return smtpc_fail(c, "server replied before the end of the message");
	}
	int kind = pop(t);
	if (t->pend_len)
		smtpc_arm(c, c->cmd_to);
	switch (kind) {
	case PEND_MAIL:
		return on_mail(c, r);
	case PEND_DATA:
		return on_data(c, r);
	case PEND_DOT:
		resolve(t, r, RESOLVE_ACCEPTED);
		return finish(c, 0);
	default:
		return on_rcpt(c, kind, r);
	}
}

const char *smtpc_txn_phase(const struct smtp_client *c)
{
	const struct smtpc_txn *t = c->txn;
	if (!t)
		return "transaction";
	if (t->streaming)
		return "message data transfer";
	if (!t->pend_len)
		return "transaction";
	switch (t->pend[t->pend_head]) {
	case PEND_MAIL:
		return "reply to MAIL FROM";
	case PEND_DATA:
		return "reply to DATA";
	case PEND_DOT:
		return "reply to end of data";
	default:
		return "reply to RCPT TO";
	}
}
