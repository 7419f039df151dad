/* Our own DNS client for the record types evdns cannot ask for (TXT, MX,
 * PTR by name): one connected UDP socket per try (the kernel picks a
 * random source port; the ID is random too), the servers in turn, a
 * bounded number of tries, TCP to the same server when the answer comes
 * back truncated. Loop thread only. */
#include "filter/dns_int.h"
#include "util/log.h"
#include "util/timeutil.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/util.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define TRY_MS 2000
#define TRIES_PER_SERVER 2
#define MAX_TRIES 6
#define RX_MAX 65536

void dns_inflight_add(struct dns *d, struct dns_req *r)
{
	r->lprev = NULL;
	r->lnext = d->inflight_list;
	if (d->inflight_list)
		d->inflight_list->lprev = r;
	d->inflight_list = r;
}

void dns_inflight_remove(struct dns *d, struct dns_req *r)
{
	if (r->lprev)
		r->lprev->lnext = r->lnext;
	else
		d->inflight_list = r->lnext;
	if (r->lnext)
		r->lnext->lprev = r->lprev;
	r->lprev = r->lnext = NULL;
}

static void transport_close(struct dns_req *r)
{
	if (r->ev) {
		event_free(r->ev);
		r->ev = NULL;
	}
	if (r->fd >= 0) {
		close(r->fd);
		r->fd = -1;
	}
	if (r->bev) {
		bufferevent_free(r->bev);
		r->bev = NULL;
	}
}

static void req_done(struct dns_req *r)
{
	dns_inflight_remove(r->d, r);
	transport_close(r);
	dns_req_finish(r);
}

static void req_fail(struct dns_req *r, enum dns_status s)
{
	memset(&r->res, 0, offsetof(struct dns_result, text));
	r->res.text[0] = '\0';
	r->res.status = s;
	req_done(r);
}

static int max_tries(const struct dns *d)
{
	int t = d->nservers * TRIES_PER_SERVER;
	return t < 1 ? 1 : t > MAX_TRIES ? MAX_TRIES : t;
}

static const struct dns_server *current_server(const struct dns_req *r)
{
	return &r->d->servers[r->tries % r->d->nservers];
}

static void on_udp(evutil_socket_t fd, short what, void *arg);

/* Sends the query for try r->tries; moves on to the next try when the
 * socket cannot even be set up. */
static void udp_send(struct dns_req *r)
{
	struct dns *d = r->d;
	for (; r->tries < max_tries(d); r->tries++) {
		transport_close(r);
		const struct dns_server *s = current_server(r);
		r->fd = socket(s->sa.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (r->fd < 0 || connect(r->fd, (const struct sockaddr *)&s->sa, s->len) < 0 ||
		    send(r->fd, r->q, r->qlen, 0) != (ssize_t)r->qlen)
			continue;
		r->ev = event_new(d->base, r->fd, EV_READ, on_udp, r);
		struct timeval tv = {TRY_MS / 1000, (TRY_MS % 1000) * 1000};
		r->try_deadline_ms = time_mono_us() / 1000 + TRY_MS;
		if (r->ev && event_add(r->ev, &tv) == 0)
			return;
	}
	req_fail(r, d->nservers ? DNS_TIMEOUT : DNS_ERROR);
}

static void next_try(struct dns_req *r, enum dns_status if_last)
{
	if (++r->tries >= max_tries(r->d))
		return req_fail(r, if_last);
	udp_send(r);
}

static void on_tcp_read(struct bufferevent *bev, void *arg)
{
	struct dns_req *r = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	unsigned char lenb[2];
	if (evbuffer_copyout(in, lenb, 2) < 2)
		return;
	size_t need = (size_t)lenb[0] << 8 | lenb[1];
	if (evbuffer_get_length(in) < 2 + need)
		return;
	const unsigned char *msg = evbuffer_pullup(in, (ev_ssize_t)(2 + need));
	int tc;
	if (!msg || dnsmsg_parse(msg + 2, need, r->id, r->name, r->type, &r->res, &tc) < 0)
		return req_fail(r, DNS_ERROR);
	req_done(r);
}

static void on_tcp_event(struct bufferevent *bev, short what, void *arg)
{
	(void)bev;
	struct dns_req *r = arg;
	if (what & BEV_EVENT_CONNECTED)
		return;
	req_fail(r, (what & BEV_EVENT_TIMEOUT) ? DNS_TIMEOUT : DNS_SERVFAIL);
}

/* The UDP answer was truncated: ask the same server over TCP. */
static void tcp_start(struct dns_req *r)
{
	struct dns *d = r->d;
	const struct dns_server *s = current_server(r);
	transport_close(r);
	r->bev =
	    bufferevent_socket_new(d->base, -1, BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
	if (!r->bev)
		return req_fail(r, DNS_ERROR);
	unsigned char lenb[2] = {(unsigned char)(r->qlen >> 8), (unsigned char)r->qlen};
	struct timeval tv = {TRY_MS / 1000, (TRY_MS % 1000) * 1000};
	bufferevent_setcb(r->bev, on_tcp_read, NULL, on_tcp_event, r);
	bufferevent_set_timeouts(r->bev, &tv, &tv);
	bufferevent_setwatermark(r->bev, EV_READ, 0, RX_MAX + 2);
	if (bufferevent_write(r->bev, lenb, 2) < 0 ||
	    bufferevent_write(r->bev, r->q, r->qlen) < 0 ||
	    bufferevent_enable(r->bev, EV_READ | EV_WRITE) < 0 ||
	    bufferevent_socket_connect(r->bev, (const struct sockaddr *)&s->sa, (int)s->len) < 0)
		return req_fail(r, DNS_SERVFAIL);
}

static void on_udp(evutil_socket_t fd, short what, void *arg)
{
	struct dns_req *r = arg;
	struct dns *d = r->d;
	if (what & EV_TIMEOUT)
		return next_try(r, DNS_TIMEOUT);
	if (!d->rx && !(d->rx = malloc(RX_MAX)))
		return req_fail(r, DNS_ERROR);
	for (;;) {
		ssize_t n = recv(fd, d->rx, RX_MAX, 0);
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (n < 0) /* e.g. ECONNREFUSED: nothing listens there */
			return next_try(r, DNS_SERVFAIL);
		int tc;
		/* not an answer to our question (late, spoofed, garbage): ignore */
		if (dnsmsg_parse(d->rx, (size_t)n, r->id, r->name, r->type, &r->res, &tc) < 0)
			continue;
		if (tc)
			return tcp_start(r);
		if (r->res.status == DNS_SERVFAIL)
			return next_try(r, DNS_SERVFAIL);
		return req_done(r);
	}
	/* keep waiting for the rest of this try */
	int64_t left = r->try_deadline_ms - time_mono_us() / 1000;
	if (left <= 0)
		return next_try(r, DNS_TIMEOUT);
	struct timeval tv = {(time_t)(left / 1000), (suseconds_t)(left % 1000) * 1000};
	event_add(r->ev, &tv);
}

void dns_udp_start(struct dns *d, struct dns_req *r)
{
	uint16_t id;
	evutil_secure_rng_get_bytes(&id, sizeof id);
	r->id = id;
	int len = dnsmsg_query(r->q, sizeof r->q, id, r->name, r->type, 1);
	dns_inflight_add(d, r);
	if (len < 0 || d->nservers == 0)
		return req_fail(r, DNS_ERROR);
	r->qlen = (size_t)len;
	r->tries = 0;
	udp_send(r);
}

void dns_inflight_shutdown(struct dns *d)
{
	while (d->inflight_list)
		req_fail(d->inflight_list, DNS_ERROR);
	free(d->rx);
	d->rx = NULL;
}
