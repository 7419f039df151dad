#include "smtp/server.h"

#include <event2/listener.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cluster/cluster.h"
#include "node.h"
#include "smtp/session.h"
#include "store/config.h"
#include "util/log.h"
#include "util/metrics.h"
#include "util/net.h"

static void on_rate_timer(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	rate_prune(arg);
}

struct smtp_server *smtp_server_new(struct node *n, struct err *e)
{
	struct smtp_server *srv = calloc(1, sizeof *srv);
	if (!srv) {
		err_set(e, "out of memory");
		return NULL;
	}
	srv->node = n;
	strmap_init(&srv->per_ip);
	strmap_init(&srv->rates);
	srv->rate_timer = event_new(n->base, -1, EV_PERSIST, on_rate_timer, srv);
	struct timeval minute = {60, 0};
	event_add(srv->rate_timer, &minute);
	return srv;
}

/* Refuses a connection before a session exists: one line, then close.
 * The socket is fresh, so a short non-blocking write always fits. */
static void refuse(evutil_socket_t fd, const char *line)
{
	ssize_t n = write(fd, line, strlen(line));
	(void)n;
	metrics_inc(M_CONNECTIONS_REJECTED);
	evutil_closesocket(fd);
}

static intptr_t ip_count(struct smtp_server *srv, const char *ip)
{
	return (intptr_t)strmap_get(&srv->per_ip, ip);
}

static void on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int salen,
		      void *arg)
{
	(void)l;
	(void)salen;
	struct smtp_server *srv = arg;
	struct config_store *cfg = srv->node->cfg;
	char ip[64];
	net_addr_text(sa, ip, sizeof ip);
	if (srv->draining) {
		refuse(fd, "421 4.3.2 Service shutting down, try again later\r\n");
		return;
	}
	if (!cluster_accepts_mail(srv->node)) {
		log_info("smtp: refused %s: this node is a cluster standby", ip);
		refuse(fd, "421 4.3.2 Standby node of a cluster, try another server\r\n");
		return;
	}
	if (srv->nsessions >= config_int(cfg, "smtp_max_connections", NULL, NULL)) {
		log_warn("smtp: refused %s: too many connections (%d)", ip, srv->nsessions);
		refuse(fd, "421 4.7.0 Too many connections, try again later\r\n");
		return;
	}
	if (ip_count(srv, ip) >= config_int(cfg, "smtp_max_connections_per_ip", NULL, NULL)) {
		log_warn("smtp: refused %s: too many connections from this address", ip);
		refuse(fd, "421 4.7.0 Too many connections from your address, try again later\r\n");
		return;
	}
	if (rate_check(srv, ip, RATE_CONN) < 0) {
		log_info("smtp: refused %s: connection rate limit", ip);
		refuse(fd, "421 4.7.0 Too many connections from your address in 30 minutes, try again later\r\n");
		return;
	}
	strmap_put(&srv->per_ip, ip, (void *)(ip_count(srv, ip) + 1), NULL);
	srv->nsessions++;
	metrics_inc(M_CONNECTIONS_TOTAL);
	metrics_gauge_set(G_CONNECTIONS_ACTIVE, srv->nsessions);
	session_start(srv, fd, sa);
}

static void on_accept_error(struct evconnlistener *l, void *arg)
{
	(void)arg;
	(void)l;
	/* EMFILE and friends: log and keep the listener; the loop retries. */
	log_warn("smtp: accept failed: %s", evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
}

int smtp_server_listen(struct smtp_server *srv, const char *hostport, struct err *e)
{
	if (srv->nlisteners >= (int)(sizeof srv->listeners / sizeof *srv->listeners))
		return err_set(e, "too many SMTP listeners");
	int fd = net_listen_tcp(hostport, 512, e);
	if (fd < 0)
		return -1;
	struct evconnlistener *l = evconnlistener_new(srv->node->base, on_accept, srv,
						      LEV_OPT_CLOSE_ON_FREE, -1, fd);
	if (!l) {
		close(fd);
		return err_set(e, "cannot listen on %s", hostport);
	}
	evconnlistener_set_error_cb(l, on_accept_error);
	srv->listeners[srv->nlisteners++] = l;
	log_info("smtp: listening on %s", hostport);
	return 0;
}

void server_session_gone(struct smtp_server *srv, struct session *s)
{
	intptr_t n = ip_count(srv, s->ip) - 1;
	if (n <= 0)
		strmap_del(&srv->per_ip, s->ip);
	else
		strmap_put(&srv->per_ip, s->ip, (void *)n, NULL);
	srv->nsessions--;
	metrics_gauge_set(G_CONNECTIONS_ACTIVE, srv->nsessions);
}

static void on_drain_timeout(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct smtp_server *srv = arg;
	for (struct session *s = srv->sessions, *next; s; s = next) {
		next = s->next;
		if (s->state == SS_SCANNING)
			continue; /* its verdict is on the way; the reply follows */
		session_reply(s, 421, "4.3.2", "Service shutting down, closing connection");
		session_close(s);
	}
}

void smtp_server_drain(struct smtp_server *srv, int timeout_s)
{
	if (srv->draining)
		return;
	/* listeners stay open: on_accept answers 421 while draining, so a
	 * client learns at once instead of waiting in the backlog */
	srv->draining = 1;
	/* idle sessions (between transactions) can go at once */
	for (struct session *s = srv->sessions, *next; s; s = next) {
		next = s->next;
		if (s->state == SS_READY && !s->have_mail) {
			session_reply(s, 421, "4.3.2", "Service shutting down, closing connection");
			session_close(s);
		}
	}
	srv->drain_timer = evtimer_new(srv->node->base, on_drain_timeout, srv);
	struct timeval tv = {timeout_s, 0};
	evtimer_add(srv->drain_timer, &tv);
}

int smtp_server_sessions(const struct smtp_server *srv)
{
	return srv->nsessions;
}

void smtp_server_free(struct smtp_server *srv)
{
	if (!srv)
		return;
	while (srv->sessions)
		session_free(srv->sessions);
	for (int i = 0; i < srv->nlisteners; i++)
		evconnlistener_free(srv->listeners[i]);
	if (srv->drain_timer)
		event_free(srv->drain_timer);
	strmap_free(&srv->per_ip, NULL);
	strmap_free(&srv->rates, free);
	event_free(srv->rate_timer);
	free(srv);
}
