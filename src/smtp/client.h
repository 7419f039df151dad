/* Outbound ESMTP client for the delivery queue: one connection on one
 * libevent loop, no blocking calls. A connection greets once
 * (banner, EHLO or HELO, optional STARTTLS) and then runs transactions one
 * after another until it is closed.
 *
 * Callbacks are never called from inside the function that started the
 * operation (always later, from the loop), and never after
 * smtp_client_close(). A callback may call smtp_client_send() or
 * smtp_client_close() on its own client. */
#ifndef RAMPART_SMTP_CLIENT_H
#define RAMPART_SMTP_CLIENT_H

#include <event2/event.h>
#include <openssl/ssl.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/types.h>

struct smtp_client;

/* A server reply, or a local failure (code 0, text says what happened:
 * "connection refused", "timeout waiting for ...", ...). For a multi-line
 * reply, text is its last line. enhanced holds the RFC 3463 code ("5.1.1")
 * when the line starts with one, and text then holds what follows it.
 * text is printable ASCII only (anything else became '?'), at most 511
 * bytes. A code 0 reply must be treated like a 4xx (try again later). */
struct smtp_reply {
	int code;
	char enhanced[16];
	char text[512];
};

struct smtp_client_opts {
	const char *helo_name;            /* our host name for EHLO */
	int connect_timeout_s, command_timeout_s, data_timeout_s;
	SSL_CTX *tls_ctx;                 /* when non-NULL, use STARTTLS if the server offers it
					   * (opportunistic, no verification) */
};

/* Hard limits of the client (bounded memory whatever the server sends). */
#define SMTP_CLIENT_MAX_LINE 4096      /* one reply line, CRLF included */
#define SMTP_CLIENT_MAX_LINES 100      /* lines in one multi-line reply */
#define SMTP_CLIENT_MAX_RCPT 1000      /* recipients in one transaction */
#define SMTP_CLIENT_MAX_ADDR 512       /* bytes in one envelope address */

typedef void (*smtp_client_ready_cb)(struct smtp_client *c, int ok, const struct smtp_reply *why,
				     void *arg);

/* Connects and greets (banner + EHLO, falling back to HELO on 5xx).
 * ready_cb(ok=1) when a transaction can start, ok=0 with a reply (or code 0
 * + text for network errors like "connection refused", "timeout") on
 * failure. Returns NULL (and never calls back) only on bad arguments or
 * out of memory. After a failure the caller still owns c and must
 * smtp_client_close() it. */
struct smtp_client *smtp_client_connect(struct event_base *base, const struct sockaddr *sa,
					socklen_t salen, const struct smtp_client_opts *opts,
					smtp_client_ready_cb cb, void *arg);

struct smtp_txn {
	const char *mail_from;            /* "" for the null sender */
	const char *const *rcpts;
	int nrcpt;
	/* The message: bytes [body_offset, body_offset + body_len) of fd, in
	 * SMTP canonical form (CRLF, not dot-stuffed). Read with pread in
	 * chunks; the client dot-stuffs and adds a final CRLF if missing. fd
	 * must stay open until the callback. */
	int fd;
	off_t body_offset;
	size_t body_len;
	int smtputf8, body_8bit;          /* add SMTPUTF8 / BODY=8BITMIME when the server supports them */
	size_t size_hint;                 /* SIZE= when supported */
};

/* Per-recipient outcome: rcpt_replies[i] is the RCPT reply, or, for
 * accepted recipients, the final reply to the data. The array is valid only
 * during the callback. conn_ok is 0 when the connection failed midway
 * (recipients without a server verdict then have code 0 or a 421 reply). */
typedef void (*smtp_client_txn_cb)(struct smtp_client *c, int conn_ok,
				   const struct smtp_reply *rcpt_replies, int nrcpt, void *arg);

/* Runs one transaction, with PIPELINING when offered (MAIL+RCPTs+DATA in
 * one write). Strings of t are copied; t->fd must stay open until the
 * callback. Returns -1 (no callback) when the client is not usable or t is
 * invalid (no recipient, too many, CR/LF/<> in an address, too long).
 * Locally decided outcomes: an 8-bit address to a server without SMTPUTF8
 * gets 553 5.6.7, a size_hint above the server's SIZE limit gets 552 5.3.4,
 * both without a command sent. After the callback the connection can run
 * another transaction (RSET is sent when the previous transaction failed
 * midway) or be closed. */
int smtp_client_send(struct smtp_client *c, const struct smtp_txn *t, smtp_client_txn_cb cb,
		     void *arg);

/* Connected, idle, not broken. */
int smtp_client_usable(const struct smtp_client *c);

/* What the server offered in its last EHLO (SMTP_EXT_* bits) and whether
 * STARTTLS is in effect; for logs and tests. */
enum {
	SMTP_EXT_PIPELINING = 1,
	SMTP_EXT_8BITMIME = 2,
	SMTP_EXT_SMTPUTF8 = 4,
	SMTP_EXT_STARTTLS = 8,
	SMTP_EXT_SIZE = 16,
	SMTP_EXT_ENHANCEDSTATUSCODES = 32,
};
unsigned smtp_client_extensions(const struct smtp_client *c);
int smtp_client_tls_active(const struct smtp_client *c);

/* QUIT when possible, then free (callbacks never fire after this). The
 * QUIT exchange finishes in the background on the loop (bounded by the
 * command timeout, at most 10 s); run the loop that long before freeing
 * the event_base at shutdown. NULL is accepted. */
void smtp_client_close(struct smtp_client *c);
/* Closes at once without QUIT and frees (shutdown: the loop no longer
 * runs to finish a QUIT exchange). NULL is accepted. */
void smtp_client_abort(struct smtp_client *c);

#endif
