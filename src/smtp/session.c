/* SMTP session: greeting, the command table, replies, limits. The DATA
 * phase lives in session_data.c. */
#include "smtp/session.h"

#include <event2/buffer.h>
#include <event2/bufferevent_ssl.h>
#include <openssl/ssl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "node.h"
#include "store/config.h"
#include "util/log.h"
#include "util/metrics.h"
#include "util/net.h"

static void on_read(struct bufferevent *bev, void *arg);
static void on_event(struct bufferevent *bev, short what, void *arg);
static void on_write_close(struct bufferevent *bev, void *arg);

/* Sessions are never freed from inside their own command handlers: a
 * close with nothing left to write is finished by this event. */
static void on_under_drain(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
	(void)info;
	struct session *s = arg;
	if (evbuffer_get_length(buf) == 0)
		event_active(s->close_ev, EV_TIMEOUT, 0);
}

/* Whether bytes still wait to go out. Under TLS the filter's own buffer
 * empties first; the ciphertext then sits in the socket bufferevent
 * below it, and closing before that drains would lose the last reply. */
static int output_pending(struct session *s)
{
	if (evbuffer_get_length(bufferevent_get_output(s->bev)) > 0)
		return 1;
	struct bufferevent *under = bufferevent_get_underlying(s->bev);
	if (!under)
		return 0;
	struct evbuffer *out = bufferevent_get_output(under);
	if (evbuffer_get_length(out) == 0)
		return 0;
	if (!s->under_cb)
		s->under_cb = evbuffer_add_cb(out, on_under_drain, s);
	return 1;
}

static void on_close_ev(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct session *s = arg;
	if (!output_pending(s))
		session_free(s);
}

static void limits_load(struct session_limits *l, struct config_store *cfg, const char *boot_host)
{
	l->max_size = (size_t)config_int(cfg, "smtp_max_message_size", NULL, NULL);
	l->max_rcpt = (int)config_int(cfg, "smtp_max_recipients", NULL, NULL);
	l->max_line = (size_t)config_int(cfg, "smtp_max_line_length", NULL, NULL);
	l->max_data_line = (size_t)config_int(cfg, "smtp_max_data_line", NULL, NULL);
	l->cmd_timeout = (int)config_int(cfg, "smtp_command_timeout", NULL, NULL);
	l->data_timeout = (int)config_int(cfg, "smtp_data_timeout", NULL, NULL);
	l->max_errors = (int)config_int(cfg, "smtp_max_errors", NULL, NULL);
	l->max_messages = (int)config_int(cfg, "smtp_max_messages_per_session", NULL, NULL);
	l->helo_required = config_bool(cfg, "smtp_helo_required", NULL, NULL);
	l->strict_rfc = config_bool(cfg, "smtp_strict_rfc", NULL, NULL);
	config_str(cfg, "smtp_banner", NULL, NULL, l->banner, sizeof l->banner);
	config_hostname(cfg, boot_host, l->hostname, sizeof l->hostname);
	config_default_domain(cfg, boot_host, l->own_domain, sizeof l->own_domain);
}

void session_reply(struct session *s, int code, const char *enh, const char *fmt, ...)
{
	char text[1024], line[1200];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(text, sizeof text, fmt, ap);
	va_end(ap);
	size_t n = smtp_format_reply(line, sizeof line, code, enh, text);
	bufferevent_write(s->bev, line, n);
}

static void set_timeout(struct session *s, int seconds)
{
	struct timeval tv = {seconds, 0};
	bufferevent_set_timeouts(s->bev, &tv, &tv);
}

void session_start(struct smtp_server *srv, evutil_socket_t fd, const struct sockaddr *sa)
{
	struct node *n = srv->node;
	struct session *s = calloc(1, sizeof *s);
	if (!s) {
		evutil_closesocket(fd);
		struct session tmp = {.srv = srv};
		net_addr_text(sa, tmp.ip, sizeof tmp.ip);
		server_session_gone(srv, &tmp);
		return;
	}
	s->srv = srv;
	s->node = n;
	net_addr_text(sa, s->ip, sizeof s->ip);
	limits_load(&s->lim, n->cfg, n->boot.hostname);
	s->bev = bufferevent_socket_new(n->base, fd, BEV_OPT_CLOSE_ON_FREE);
	s->close_ev = evtimer_new(n->base, on_close_ev, s);
	bufferevent_setcb(s->bev, on_read, NULL, on_event, s);
	/* never buffer more than one over-long line ahead of the parser */
	bufferevent_setwatermark(s->bev, EV_READ, 0, s->lim.max_data_line * 2 + 65536);
	set_timeout(s, s->lim.cmd_timeout);
	bufferevent_enable(s->bev, EV_READ | EV_WRITE);
	s->next = srv->sessions;
	if (srv->sessions)
		srv->sessions->prev = s;
	srv->sessions = s;
	session_reply(s, 220, NULL, "%s %s", s->lim.hostname, s->lim.banner);
	session_rdns_start(s);
	log_debug("smtp: connect from %s", s->ip);
}

void session_reset_txn(struct session *s)
{
	envelope_free(&s->env);
	memset(&s->env, 0, sizeof s->env);
	memset(&s->params, 0, sizeof s->params);
	s->have_mail = 0;
}

void session_free(struct session *s)
{
	struct smtp_server *srv = s->srv;
	session_data_abandon(s);
	session_rdns_abandon(s);
	if (s->prev)
		s->prev->next = s->next;
	else
		srv->sessions = s->next;
	if (s->next)
		s->next->prev = s->prev;
	server_session_gone(srv, s);
	event_free(s->close_ev);
	bufferevent_free(s->bev);
	session_reset_txn(s);
	free(s->line);
	free(s);
}

void session_close(struct session *s)
{
	if (s->state == SS_CLOSING)
		return;
	s->state = SS_CLOSING;
	bufferevent_disable(s->bev, EV_READ);
	bufferevent_setcb(s->bev, NULL, on_write_close, on_event, s);
	if (evbuffer_get_length(bufferevent_get_output(s->bev)) == 0)
		event_active(s->close_ev, EV_TIMEOUT, 0);
}

static void on_write_close(struct bufferevent *bev, void *arg)
{
	struct session *s = arg;
	if (evbuffer_get_length(bufferevent_get_output(bev)) == 0 && !output_pending(s))
		session_free(s);
}

int session_client_error(struct session *s)
{
	if (++s->errors < s->lim.max_errors)
		return 0;
	log_info("smtp: %s: too many errors, closing", s->ip);
	session_reply(s, 421, "4.7.0", "Too many errors, closing connection");
	session_close(s);
	return -1;
}

/* ---- commands ---- */

/* smtp_strict_rfc: RFC 5321's forms only. A lenient gateway forgives
 * senders a HELO name that is no domain, a bare address or a space after
 * the colon; much spamware makes exactly these slips. */
static int strict_helo_ok(const char *helo)
{
	size_t n = strlen(helo);
	if (n > 2 && helo[0] == '[' && helo[n - 1] == ']')
		return 1;
	return strchr(helo, '.') && smtp_domain_valid(helo, 0);
}

static int strict_path_ok(struct session *s, const char *arg, const char *cmd)
{
	const char *colon = strchr(arg, ':');
	if (!s->lim.strict_rfc || (colon && colon[1] == '<'))
		return 1;
	session_reply(s, 501, "5.5.4", "Syntax: %s:<address> (angle brackets, no space)", cmd);
	session_client_error(s);
	return 0;
}

static void cmd_helo_common(struct session *s, const char *arg, int esmtp)
{
	struct err e;
	char helo[256];
	if (smtp_parse_helo(arg, helo, sizeof helo, &e) < 0) {
		session_reply(s, 501, "5.5.4", "Syntax: %s hostname", esmtp ? "EHLO" : "HELO");
		session_client_error(s);
		return;
	}
	if (s->lim.strict_rfc && !strict_helo_ok(helo)) {
		session_reply(s, 501, "5.5.2", "%s needs a fully qualified domain name or an address "
			      "literal", esmtp ? "EHLO" : "HELO");
		session_client_error(s);
		return;
	}
	session_reset_txn(s);
	snprintf(s->helo, sizeof s->helo, "%s", helo);
	s->esmtp = esmtp;
	s->seen_helo = 1;
	struct node *n = s->node;
	if (!esmtp) {
		session_reply(s, 250, NULL, "%s", s->lim.hostname);
		return;
	}
	char text[512];
	snprintf(text, sizeof text,
		 "%s Hello %s [%s]\nPIPELINING\nSIZE %zu\n8BITMIME\nENHANCEDSTATUSCODES\n%s"
		 "SMTPUTF8\nHELP",
		 s->lim.hostname, s->helo, s->ip, s->lim.max_size,
		 (!s->tls && n->tls_server) ? "STARTTLS\n" : "");
	session_reply(s, 250, NULL, "%s", text);
}

static void cmd_ehlo(struct session *s, const char *arg)
{
	cmd_helo_common(s, arg, 1);
}

static void cmd_helo(struct session *s, const char *arg)
{
	cmd_helo_common(s, arg, 0);
}

static void cmd_mail(struct session *s, const char *arg)
{
	if (s->have_mail) {
		session_reply(s, 503, "5.5.1", "Sender already specified");
		session_client_error(s);
		return;
	}
	if (s->messages >= s->lim.max_messages) {
		session_reply(s, 421, "4.7.0", "Too many messages in one session, try again");
		session_close(s);
		return;
	}
	if (s->srv->draining) {
		session_reply(s, 421, "4.3.2", "Service shutting down, try again later");
		session_close(s);
		return;
	}
	if (rate_check(s->srv, s->ip, RATE_MSG) < 0) {
		log_info("smtp: %s: message rate limit", s->ip);
		session_reply(s, 421, "4.7.0", "Too many messages from your address in 30 minutes, try again later");
		session_close(s);
		return;
	}
	struct smtp_path path;
	struct smtp_params params;
	struct err e;
	int code = 501;
	char enh[16] = "5.5.4";
	memset(&params, 0, sizeof params);
	if (!strict_path_ok(s, arg, "MAIL FROM"))
		return;
	if (smtp_parse_path(arg, SMTP_PATH_MAIL, &path, &params, 0, &code, enh, sizeof enh,
			    &e) < 0) {
		session_reply(s, code, enh, "%s", e.msg);
		session_client_error(s);
		return;
	}
	if (params.size > 0 && (size_t)params.size > s->lim.max_size) {
		session_reply(s, 552, "5.3.4", "Message size exceeds fixed limit of %zu bytes",
			      s->lim.max_size);
		return;
	}
	session_reset_txn(s);
	s->params = params;
	s->have_mail = 1;
	s->txn_max_size = s->lim.max_size;
	snprintf(s->env.mail_from, sizeof s->env.mail_from, "%s", path.addr);
	s->env.smtputf8 = s->params.smtputf8;
	s->env.body_8bit = s->params.body_8bit;
	session_reply(s, 250, "2.1.0", "Sender <%s> OK", path.addr);
}

/* Picks the recipient's domain for a bare <postmaster>: RFC 5321 says it
 * must be accepted; it goes to postmaster of our default domain (or host
 * name) when that is one of our domains. */
static int rcpt_domain_known(struct session *s, struct smtp_path *p)
{
	struct domain_info di;
	if (p->is_postmaster) {
		if (config_domain_get(s->node->cfg, s->lim.own_domain, &di) < 0)
			return 0;
		snprintf(p->domain, sizeof p->domain, "%s", di.name);
		snprintf(p->addr, sizeof p->addr, "postmaster@%s", di.name);
		return 1;
	}
	return config_domain_get(s->node->cfg, p->domain, &di) == 0;
}

static void cmd_rcpt(struct session *s, const char *arg)
{
	if (!s->have_mail) {
		session_reply(s, 503, "5.5.1", "Need MAIL before RCPT");
		session_client_error(s);
		return;
	}
	struct smtp_path path;
	struct smtp_params params;
	struct err e;
	int code = 501;
	char enh[16] = "5.5.4";
	if (!strict_path_ok(s, arg, "RCPT TO"))
		return;
	if (smtp_parse_path(arg, SMTP_PATH_RCPT, &path, &params, s->env.smtputf8, &code, enh,
			    sizeof enh, &e) < 0) {
		session_reply(s, code, enh, "%s", e.msg);
		metrics_inc(M_RCPT_REJECTED);
		session_client_error(s);
		return;
	}
	if (s->env.nrcpt >= s->lim.max_rcpt) {
		session_reply(s, 452, "4.5.3", "Too many recipients");
		metrics_inc(M_RCPT_REJECTED);
		return;
	}
	if ((!path.is_postmaster && smtp_path_relay_check(&path, &e) < 0) ||
	    !rcpt_domain_known(s, &path)) {
		log_info("smtp: %s: relay denied from=<%s> to=<%s>", s->ip,
			 log_esc(s->env.mail_from), log_esc(path.addr));
		session_reply(s, 550, "5.7.1", "Relaying denied for <%s>", path.addr);
		metrics_inc(M_RCPT_REJECTED);
		session_client_error(s);
		return;
	}
	/* a domain may have a smaller size limit than the global one */
	size_t dmax = (size_t)config_int(s->node->cfg, "smtp_max_message_size", path.domain, NULL);
	if (s->params.size > 0 && (size_t)s->params.size > dmax) {
		session_reply(s, 552, "5.3.4", "Message size exceeds the limit of %zu bytes for <%s>",
			      dmax, path.addr);
		metrics_inc(M_RCPT_REJECTED);
		return;
	}
	if (envelope_add_rcpt(&s->env, path.addr) < 0) {
		session_reply(s, 451, "4.3.0", "Local error, try again");
		return;
	}
	if (dmax < s->txn_max_size)
		s->txn_max_size = dmax;
	session_reply(s, 250, "2.1.5", "Recipient <%s> OK", path.addr);
}

static void cmd_data(struct session *s, const char *arg)
{
	if (*arg) {
		session_reply(s, 501, "5.5.4", "Syntax: DATA (no arguments)");
		session_client_error(s);
		return;
	}
	if (!s->have_mail) {
		session_reply(s, 503, "5.5.1", "Need MAIL before DATA");
		session_client_error(s);
		return;
	}
	if (s->env.nrcpt == 0) {
		session_reply(s, 554, "5.5.1", "No valid recipients");
		session_client_error(s);
		return;
	}
	session_data_begin(s);
}

static void cmd_rset(struct session *s, const char *arg)
{
	(void)arg;
	session_reset_txn(s);
	session_reply(s, 250, "2.0.0", "OK");
}

static void cmd_noop(struct session *s, const char *arg)
{
	(void)arg;
	session_reply(s, 250, "2.0.0", "OK");
}

static void cmd_quit(struct session *s, const char *arg)
{
	(void)arg;
	session_reply(s, 221, "2.0.0", "%s closing connection", s->lim.hostname);
	session_close(s);
}

static void cmd_vrfy(struct session *s, const char *arg)
{
	(void)arg;
	session_reply(s, 252, "2.5.2", "Cannot VRFY user, but will accept message and attempt delivery");
}

static void cmd_expn(struct session *s, const char *arg)
{
	(void)arg;
	session_reply(s, 502, "5.5.1", "EXPN not available");
}

static void cmd_help(struct session *s, const char *arg)
{
	(void)arg;
	session_reply(s, 214, "2.0.0",
		      "Commands: EHLO HELO MAIL RCPT DATA RSET NOOP QUIT VRFY HELP STARTTLS\n"
		      "See RFC 5321");
}

static void on_tls_event(struct bufferevent *bev, short what, void *arg);

static void cmd_starttls(struct session *s, const char *arg)
{
	struct node *n = s->node;
	if (*arg) {
		session_reply(s, 501, "5.5.4", "Syntax: STARTTLS (no arguments)");
		session_client_error(s);
		return;
	}
	if (s->tls || !n->tls_server) {
		session_reply(s, 503, "5.5.1", s->tls ? "TLS already active" : "TLS not available");
		session_client_error(s);
		return;
	}
	session_reply(s, 220, "2.0.0", "Ready to start TLS");
	/* Anything the client pipelined after STARTTLS was sent in clear and
	 * must not be executed inside TLS (command injection, CVE-2011-0411). */
	struct evbuffer *in = bufferevent_get_input(s->bev);
	evbuffer_drain(in, evbuffer_get_length(in));
	SSL *ssl = SSL_new(n->tls_server);
	struct bufferevent *tls = bufferevent_openssl_filter_new(
		n->base, s->bev, ssl, BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
	if (!tls) {
		SSL_free(ssl);
		session_close(s);
		return;
	}
	s->bev = tls;
	s->tls = 1;
	/* RFC 3207: forget everything learnt before TLS */
	session_reset_txn(s);
	s->seen_helo = 0;
	s->helo[0] = '\0';
	bufferevent_setcb(tls, on_read, NULL, on_tls_event, s);
	set_timeout(s, s->lim.cmd_timeout);
	bufferevent_enable(tls, EV_READ | EV_WRITE);
}

static void on_tls_event(struct bufferevent *bev, short what, void *arg)
{
	if (what & BEV_EVENT_CONNECTED) {
		log_debug("smtp: %s: TLS established", ((struct session *)arg)->ip);
		return;
	}
	on_event(bev, what, arg);
}

static void cmd_not_implemented(struct session *s, const char *arg)
{
	(void)arg;
	session_reply(s, 502, "5.5.1", "Command not implemented");
	session_client_error(s);
}

enum { NEEDS_HELO = 1 };

static const struct {
	enum smtp_verb verb;
	void (*fn)(struct session *s, const char *arg);
	unsigned flags;
} commands[] = {
	{SMTP_EHLO, cmd_ehlo, 0},
	{SMTP_HELO, cmd_helo, 0},
	{SMTP_MAIL, cmd_mail, NEEDS_HELO},
	{SMTP_RCPT, cmd_rcpt, NEEDS_HELO},
	{SMTP_DATA, cmd_data, NEEDS_HELO},
	{SMTP_RSET, cmd_rset, 0},
	{SMTP_NOOP, cmd_noop, 0},
	{SMTP_QUIT, cmd_quit, 0},
	{SMTP_VRFY, cmd_vrfy, 0},
	{SMTP_EXPN, cmd_expn, 0},
	{SMTP_HELP, cmd_help, 0},
	{SMTP_STARTTLS, cmd_starttls, 0},
	{SMTP_BDAT, cmd_not_implemented, 0},
	{SMTP_AUTH, cmd_not_implemented, 0},
};

static void session_command(struct session *s, const char *line)
{
	const char *arg;
	enum smtp_verb verb = smtp_parse_verb(line, &arg);
	for (size_t i = 0; i < sizeof commands / sizeof *commands; i++) {
		if (commands[i].verb != verb)
			continue;
		if ((commands[i].flags & NEEDS_HELO) && !s->seen_helo && s->lim.helo_required) {
			session_reply(s, 503, "5.5.1", "Send EHLO or HELO first");
			session_client_error(s);
			return;
		}
		commands[i].fn(s, arg);
		return;
	}
	/* an HTTP request to the SMTP port is a browser or an attack */
	if (strncmp(line, "GET ", 4) == 0 || strncmp(line, "POST ", 5) == 0) {
		session_reply(s, 554, "5.7.0", "This is an SMTP server");
		session_close(s);
		return;
	}
	session_reply(s, 500, "5.5.2", "Command not recognized");
	session_client_error(s);
}

/* Takes the next command line off the input: 1 = line in s->line,
 * 0 = need more input, -1 = session closed. */
static int next_command_line(struct session *s)
{
	struct evbuffer *in = bufferevent_get_input(s->bev);
	for (;;) {
		size_t avail = evbuffer_get_length(in);
		struct evbuffer_ptr p = evbuffer_search(in, "\n", 1, NULL);
		if (p.pos < 0) {
			if (avail > s->lim.max_line) {
				evbuffer_drain(in, avail);
				if (!s->skip_line) {
					s->skip_line = 1;
					session_reply(s, 500, "5.5.2", "Line too long");
					if (session_client_error(s) < 0)
						return -1;
				}
			}
			return 0;
		}
		size_t n = (size_t)p.pos + 1;
		if (s->skip_line || n > s->lim.max_line) {
			evbuffer_drain(in, n);
			if (!s->skip_line) {
				session_reply(s, 500, "5.5.2", "Line too long");
				if (session_client_error(s) < 0)
					return -1;
			}
			s->skip_line = 0;
			continue;
		}
		if (s->line_cap < n + 1) {
			free(s->line);
			s->line_cap = s->lim.max_line + 1;
			s->line = malloc(s->line_cap);
		}
		evbuffer_remove(in, s->line, n);
		s->line[n] = '\0';
		if (n < 2 || s->line[n - 2] != '\r') {
			session_reply(s, 500, "5.5.2", "Bare LF received; lines must end with CRLF");
			if (session_client_error(s) < 0)
				return -1;
			continue;
		}
		s->line[n - 2] = '\0';
		if (strlen(s->line) != n - 2) {
			session_reply(s, 500, "5.5.2", "NUL byte in command");
			if (session_client_error(s) < 0)
				return -1;
			continue;
		}
		return 1;
	}
}

void session_resume(struct session *s)
{
	while (s->state == SS_READY) {
		int rc = next_command_line(s);
		if (rc <= 0)
			return;
		session_command(s, s->line);
		/* session_close never frees synchronously, so s is still valid
		 * here; state CLOSING ends the loop. */
	}
	if (s->state == SS_DATA)
		session_data_read(s);
}

static void on_read(struct bufferevent *bev, void *arg)
{
	(void)bev;
	struct session *s = arg;
	if (s->state == SS_READY || s->state == SS_DATA)
		session_resume(s);
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
	(void)bev;
	struct session *s = arg;
	if (what & BEV_EVENT_TIMEOUT) {
		if (s->state == SS_SCANNING) {
			/* the scan is ours to wait for, not the client's fault */
			bufferevent_enable(s->bev, EV_WRITE);
			return;
		}
		log_info("smtp: %s: timeout", s->ip);
		if (s->state != SS_CLOSING) {
			session_reply(s, 421, "4.4.2", "Timeout, closing connection");
			bufferevent_set_timeouts(s->bev, NULL, NULL);
			session_close(s);
		} else {
			session_free(s);
		}
		return;
	}
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
		log_debug("smtp: %s: disconnected", s->ip);
		session_free(s);
	}
}
