/* Outbound ESMTP client: connection, greeting (banner, EHLO/HELO,
 * STARTTLS), failure handling and lifecycle. The mail transaction itself
 * is in client_txn.c. */
#include "smtp/client.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent_ssl.h>
#include <openssl/err.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "smtp/client_int.h"
#include "util/log.h"

#define DEFAULT_CONNECT_TIMEOUT 30
#define DEFAULT_COMMAND_TIMEOUT 300
#define DEFAULT_DATA_TIMEOUT 600
#define QUIT_TIMEOUT_MAX 10

static const char *const state_names[] = {
	[CS_CONNECTING] = "connect",   [CS_BANNER] = "banner",
	[CS_EHLO] = "reply to EHLO",   [CS_HELO] = "reply to HELO",
	[CS_STARTTLS] = "reply to STARTTLS", [CS_HANDSHAKE] = "TLS handshake",
	[CS_IDLE] = "idle",            [CS_TXN] = "transaction",
	[CS_RSET] = "reply to RSET",   [CS_QUIT] = "reply to QUIT",
	[CS_BROKEN] = "broken",
};

static void on_read(struct bufferevent *bev, void *arg);
static void on_write(struct bufferevent *bev, void *arg);
static void on_event(struct bufferevent *bev, short what, void *arg);

void smtpc_arm(struct smtp_client *c, int secs)
{
	struct timeval tv = {secs, 0};
	evtimer_add(c->timer, &tv);
}

int smtpc_send(struct smtp_client *c, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int rc = evbuffer_add_vprintf(bufferevent_get_output(c->bev), fmt, ap);
	va_end(ap);
	return rc < 0 ? -1 : 0;
}

static void teardown(struct smtp_client *c)
{
	if (c->bev)
		bufferevent_free(c->bev);
	c->bev = NULL;
	evtimer_del(c->timer);
}

static void client_free(struct smtp_client *c)
{
	teardown(c);
	event_free(c->timer);
	event_free(c->defer);
	smtpc_txn_free(c->txn);
	free(c);
}

int smtpc_after_cb(struct smtp_client *c)
{
	if (c->released && !c->in_cb && c->state != CS_QUIT) {
		client_free(c);
		return -1;
	}
	return 0;
}

static int notify_ready(struct smtp_client *c, int ok, const struct smtp_reply *why)
{
	smtp_client_ready_cb cb = c->ready_cb;
	c->ready_cb = NULL;
	if (cb) {
		c->in_cb++;
		cb(c, ok, why, c->ready_arg);
		c->in_cb--;
	}
	return smtpc_after_cb(c);
}

int smtpc_fail(struct smtp_client *c, const char *text)
{
	enum smtpc_state st = c->state;
	struct smtp_reply r;
	teardown(c);
	c->state = CS_BROKEN;
	switch (st) {
	case CS_CONNECTING:
	case CS_BANNER:
	case CS_EHLO:
	case CS_HELO:
	case CS_STARTTLS:
	case CS_HANDSHAKE:
		smtpc_reply_local(&r, 0, NULL, text);
		notify_ready(c, 0, &r);
		return -1;
	case CS_TXN:
		smtpc_txn_abort(c, text);
		return -1;
	case CS_RSET:
		/* every recipient already has its verdict */
		smtpc_txn_notify(c, 1);
		return -1;
	case CS_QUIT:
		client_free(c);
		return -1;
	default:
		return -1;
	}
}

/* A reply that ends the greeting unsuccessfully. */
static int fail_reply(struct smtp_client *c, const struct smtp_reply *r)
{
	teardown(c);
	c->state = CS_BROKEN;
	notify_ready(c, 0, r);
	return -1;
}

static int go_ready(struct smtp_client *c)
{
	c->state = CS_IDLE;
	evtimer_del(c->timer);
	return notify_ready(c, 1, NULL);
}

static int send_ehlo(struct smtp_client *c, int helo)
{
	c->state = helo ? CS_HELO : CS_EHLO;
	smtpc_send(c, "%s %s\r\n", helo ? "HELO" : "EHLO", c->helo);
	smtpc_arm(c, c->cmd_to);
	return 0;
}

static int start_tls(struct smtp_client *c)
{
	/* Bytes that came with the 220 were sent before the TLS session
	 * exists: accepting them would let a man in the middle inject
	 * replies (CVE-2011-0411 class). */
	if (evbuffer_get_length(bufferevent_get_input(c->bev)))
		return smtpc_fail(c, "protocol error: data after the STARTTLS reply");
	SSL *ssl = SSL_new(c->tls_ctx);
	if (!ssl)
		return smtpc_fail(c, "TLS: cannot create a session");
	SSL_set_verify(ssl, SSL_VERIFY_NONE, NULL);
	struct bufferevent *tls = bufferevent_openssl_filter_new(
		c->base, c->bev, ssl, BUFFEREVENT_SSL_CONNECTING,
		BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
	if (!tls) {
		SSL_free(ssl);
		return smtpc_fail(c, "TLS: cannot create a session");
	}
	c->bev = tls;
	bufferevent_openssl_set_allow_dirty_shutdown(tls, 1);
	bufferevent_setcb(tls, on_read, on_write, on_event, c);
	bufferevent_enable(tls, EV_READ | EV_WRITE);
	smtpc_parser_reset(&c->parser);
	c->state = CS_HANDSHAKE;
	smtpc_arm(c, c->cmd_to);
	return -1;   /* the old bufferevent's input is no longer ours */
}

static int on_ehlo_reply(struct smtp_client *c, const struct smtp_reply *r)
{
	if (r->code / 100 == 5)   /* an old server: try HELO */
		return send_ehlo(c, 1);
	if (r->code / 100 != 2)
		return fail_reply(c, r);
	c->ext = c->parser.ext;
	c->size_max = c->parser.size_max;
	if (c->tls_ctx && !c->tls_active && (c->ext & SMTP_EXT_STARTTLS)) {
		c->state = CS_STARTTLS;
		smtpc_send(c, "STARTTLS\r\n");
		smtpc_arm(c, c->cmd_to);
		return 0;
	}
	return go_ready(c);
}

/* One complete reply. Returns -1 when reading must stop. */
static int dispatch(struct smtp_client *c, const struct smtp_reply *r)
{
	switch (c->state) {
	case CS_BANNER:
		if (r->code / 100 != 2)
			return fail_reply(c, r);
		return send_ehlo(c, 0);
	case CS_EHLO:
		return on_ehlo_reply(c, r);
	case CS_HELO:
		if (r->code / 100 != 2)
			return fail_reply(c, r);
		c->ext = 0;
		c->size_max = 0;
		return go_ready(c);
	case CS_STARTTLS:
		if (r->code == 220)
			return start_tls(c);
		if (r->code == 421)
			return fail_reply(c, r);
		return go_ready(c);   /* opportunistic: carry on in clear text */
	case CS_TXN:
	case CS_RSET:
		return smtpc_txn_reply(c, r);
	case CS_QUIT:
		client_free(c);
		return -1;
	case CS_IDLE:
		/* unsolicited, typically "421 idle timeout": the connection
		 * is no longer usable */
		log_debug("smtp client: unsolicited reply %d %s", r->code, log_esc(r->text));
		teardown(c);
		c->state = CS_BROKEN;
		return -1;
	default:
		return 0;
	}
}

static void on_read(struct bufferevent *bev, void *arg)
{
	struct smtp_client *c = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	for (;;) {
		struct smtp_reply r;
		char err[200], text[256];
		int rc = smtpc_reply_feed(&c->parser, in, &r, err, sizeof err);
		if (rc == 0)
			return;
		if (rc < 0) {
			snprintf(text, sizeof text, "protocol error: %s", err);
			smtpc_fail(c, text);
			return;
		}
		if (dispatch(c, &r) < 0)
			return;
	}
}

static void on_write(struct bufferevent *bev, void *arg)
{
	struct smtp_client *c = arg;
	(void)bev;
	if (c->state == CS_TXN && c->txn && c->txn->streaming)
		smtpc_txn_pump(c);
}

static const char *tls_error(struct bufferevent *bev)
{
	unsigned long e;
	const char *why = NULL;
	while ((e = bufferevent_get_openssl_error(bev)) != 0)
		why = ERR_reason_error_string(e);
	return why ? why : "handshake failed";
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
	struct smtp_client *c = arg;
	char text[256];
	int err = EVUTIL_SOCKET_ERROR();
	if (what & BEV_EVENT_CONNECTED) {
		if (c->state == CS_CONNECTING) {
			c->state = CS_BANNER;
			smtpc_arm(c, c->cmd_to);
		} else if (c->state == CS_HANDSHAKE) {
			c->tls_active = 1;
			send_ehlo(c, 0);
		}
		return;
	}
	if (c->state == CS_CONNECTING)
		snprintf(text, sizeof text, "connect: %s",
			 err ? evutil_socket_error_to_string(err) : "failed");
	else if (c->state == CS_HANDSHAKE)
		snprintf(text, sizeof text, "TLS: %s", tls_error(bev));
	else if (what & BEV_EVENT_EOF)
		snprintf(text, sizeof text, "connection closed by server during %s",
			 c->state == CS_TXN ? smtpc_txn_phase(c) : state_names[c->state]);
	else
		snprintf(text, sizeof text, "connection error during %s: %s",
			 c->state == CS_TXN ? smtpc_txn_phase(c) : state_names[c->state],
			 err ? evutil_socket_error_to_string(err) : "unknown");
	smtpc_fail(c, text);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct smtp_client *c = arg;
	char text[256];
	(void)fd, (void)what;
	if (c->state == CS_QUIT) {
		client_free(c);
		return;
	}
	snprintf(text, sizeof text, "timeout %s %s", c->state == CS_CONNECTING ? "during" : "waiting for",
		 c->state == CS_TXN ? smtpc_txn_phase(c) : state_names[c->state]);
	smtpc_fail(c, text);
}

void smtpc_defer(struct smtp_client *c, enum smtpc_defer kind, const char *text)
{
	c->defer_kind = kind;
	snprintf(c->defer_text, sizeof c->defer_text, "%s", text ? text : "");
	event_active(c->defer, EV_TIMEOUT, 1);
}

static void on_defer(evutil_socket_t fd, short what, void *arg)
{
	struct smtp_client *c = arg;
	enum smtpc_defer kind = c->defer_kind;
	(void)fd, (void)what;
	c->defer_kind = DEFER_NONE;
	if (kind == DEFER_FAIL && c->state != CS_BROKEN)
		smtpc_fail(c, c->defer_text);
	else if (kind == DEFER_TXN_DONE)
		smtpc_txn_notify(c, 1);
}

static int helo_name_ok(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n >= 256)
		return 0;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] <= ' ' || (unsigned char)s[i] >= 0x7f)
			return 0;
	return 1;
}

static int or_default(int v, int def)
{
	return v > 0 ? v : def;
}

struct smtp_client *smtp_client_connect(struct event_base *base, const struct sockaddr *sa,
					socklen_t salen, const struct smtp_client_opts *opts,
					smtp_client_ready_cb cb, void *arg)
{
	const char *helo = opts && opts->helo_name ? opts->helo_name : "localhost";
	if (!base || !sa || !helo_name_ok(helo))
		return NULL;
	struct smtp_client *c = calloc(1, sizeof *c);
	if (!c)
		return NULL;
	c->base = base;
	snprintf(c->helo, sizeof c->helo, "%s", helo);
	c->connect_to = or_default(opts ? opts->connect_timeout_s : 0, DEFAULT_CONNECT_TIMEOUT);
	c->cmd_to = or_default(opts ? opts->command_timeout_s : 0, DEFAULT_COMMAND_TIMEOUT);
	c->data_to = or_default(opts ? opts->data_timeout_s : 0, DEFAULT_DATA_TIMEOUT);
	c->tls_ctx = opts ? opts->tls_ctx : NULL;
	c->ready_cb = cb;
	c->ready_arg = arg;
	c->timer = evtimer_new(base, on_timer, c);
	c->defer = event_new(base, -1, 0, on_defer, c);
	c->bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
	if (!c->timer || !c->defer || !c->bev) {
		client_free(c);
		return NULL;
	}
	bufferevent_setcb(c->bev, on_read, on_write, on_event, c);
	c->state = CS_CONNECTING;
	smtpc_arm(c, c->connect_to);
	if (bufferevent_socket_connect(c->bev, sa, (int)salen) < 0) {
		char text[256];
		snprintf(text, sizeof text, "connect: %s", strerror(errno));
		smtpc_defer(c, DEFER_FAIL, text);
		return c;
	}
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	return c;
}

int smtp_client_send(struct smtp_client *c, const struct smtp_txn *t, smtp_client_txn_cb cb,
		     void *arg)
{
	if (!smtp_client_usable(c) || !t)
		return -1;
	return smtpc_txn_start(c, t, cb, arg);
}

int smtp_client_usable(const struct smtp_client *c)
{
	return c && !c->released && c->state == CS_IDLE && c->bev &&
	       c->defer_kind == DEFER_NONE;
}

unsigned smtp_client_extensions(const struct smtp_client *c)
{
	return c ? c->ext : 0;
}

int smtp_client_tls_active(const struct smtp_client *c)
{
	return c ? c->tls_active : 0;
}

static void client_release(struct smtp_client *c, int polite)
{
	if (!c || c->released)
		return;
	int idle = polite && smtp_client_usable(c);
	c->released = 1;
	c->ready_cb = NULL;
	if (c->txn)
		c->txn->cb = NULL;
	if (idle && smtpc_send(c, "QUIT\r\n") == 0) {
		c->state = CS_QUIT;
		smtpc_arm(c, c->cmd_to < QUIT_TIMEOUT_MAX ? c->cmd_to : QUIT_TIMEOUT_MAX);
		return;
	}
	teardown(c);
	c->state = CS_BROKEN;
	if (!c->in_cb)
		client_free(c);
}

void smtp_client_close(struct smtp_client *c)
{
	client_release(c, 1);
}

void smtp_client_abort(struct smtp_client *c)
{
	client_release(c, 0);
}
