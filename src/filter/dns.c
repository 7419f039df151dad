/* The resolver: a bridge from scan threads to queries on the event loop.
 *
 * A scan thread builds one request per query, appends them to the submit
 * list and activates the wake event; the loop starts them (evdns for A
 * and AAAA, dns_udp.c for the rest) and finishes each with req_finish,
 * which caches the answer and signals the waiting thread. A thread that
 * stops waiting (timeout) detaches its requests; whichever side comes
 * last frees a request. Everything shared is under d->mu. */
#include "filter/dns_int.h"
#include "util/log.h"
#include "util/net.h"
#include "util/timeutil.h"

#include <errno.h>
#include <event2/dns.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CACHE_ENTRIES 8192
/* Requests in flight on the loop; beyond this a query fails at once
 * rather than queueing without bound when the servers are down. */
#define MAX_INFLIGHT 4096

struct batch {
	pthread_cond_t cond;
	int pending;
};

static int64_t mono_ms(void)
{
	return time_mono_us() / 1000;
}

/* ---- the loop side ----------------------------------------------- */

/* Called on the loop once per request, with the final result in r->res. */
void dns_req_finish(struct dns_req *r)
{
	struct dns *d = r->d;
	int free_it;
	pthread_mutex_lock(&d->mu);
	d->inflight--;
	if (r->res.status == DNS_SERVFAIL || r->res.status == DNS_ERROR)
		d->stats.failures++;
	dns_cache_put(d->cache, r->type, r->name, &r->res, mono_ms());
	r->done = 1;
	/* read under mu: once it is released a waiting thread may free r */
	dns_cb cb = r->cb;
	free_it = r->detached || cb;
	if (r->batch && --r->batch->pending == 0)
		pthread_cond_signal(&r->batch->cond);
	pthread_mutex_unlock(&d->mu);
	if (cb)
		cb(&r->res, r->cb_arg);
	if (free_it)
		free(r);
}

static void req_fail(struct dns_req *r, enum dns_status s)
{
	memset(&r->res, 0, offsetof(struct dns_result, text));
	r->res.status = s;
	dns_req_finish(r);
}

static void on_evdns(int result, char type, int count, int ttl, void *addresses, void *arg)
{
	struct dns_req *r = arg;
	struct dns_result *res = &r->res;
	memset(res, 0, offsetof(struct dns_result, text));
	dns_inflight_remove(r->d, r);
	switch (result) {
	case DNS_ERR_NONE:
		res->status = count > 0 ? DNS_OK : DNS_NODATA;
		break;
	case DNS_ERR_NOTEXIST:
		res->status = DNS_NXDOMAIN;
		break;
	case DNS_ERR_NODATA:
		res->status = DNS_NODATA;
		break;
	case DNS_ERR_SERVERFAILED:
	case DNS_ERR_REFUSED:
		res->status = DNS_SERVFAIL;
		break;
	case DNS_ERR_TIMEOUT:
		res->status = DNS_TIMEOUT;
		break;
	default:
		res->status = DNS_ERROR;
		break;
	}
	size_t alen = type == DNS_IPv4_A ? 4 : type == DNS_IPv6_AAAA ? 16 : 0;
	for (int i = 0; res->status == DNS_OK && alen && i < count; i++) {
		if (res->n == DNS_MAX_ANSWERS) {
			res->truncated = 1;
			break;
		}
		struct dns_answer *a = &res->ans[res->n++];
		a->type = alen == 4 ? DNS_T_A : DNS_T_AAAA;
		memcpy(a->addr, (const unsigned char *)addresses + (size_t)i * alen, alen);
	}
	if (res->status == DNS_OK)
		res->ttl = ttl > 0 ? (uint32_t)ttl : 0;
	else if (res->status == DNS_NXDOMAIN || res->status == DNS_NODATA)
		res->ttl = ttl > 0 && ttl < DNS_MAX_TTL ? (uint32_t)ttl : DNS_NEG_TTL;
	dns_req_finish(r);
}

static void req_start(struct dns *d, struct dns_req *r)
{
	if (d->closing)
		return req_fail(r, DNS_ERROR);
	if (r->type == DNS_T_A || r->type == DNS_T_AAAA) {
		dns_inflight_add(d, r);
		struct evdns_request *er =
		    (r->type == DNS_T_A ? evdns_base_resolve_ipv4 : evdns_base_resolve_ipv6)(
			d->evdns, r->name, DNS_QUERY_NO_SEARCH, on_evdns, r);
		if (!er) {
			dns_inflight_remove(d, r);
			req_fail(r, DNS_ERROR);
		}
		return;
	}
	dns_udp_start(d, r);
}

static void on_wake(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct dns *d = arg;
	pthread_mutex_lock(&d->mu);
	struct dns_req *list = d->submit_head;
	d->submit_head = d->submit_tail = NULL;
	pthread_mutex_unlock(&d->mu);
	while (list) {
		struct dns_req *r = list;
		list = r->next;
		r->next = NULL;
		req_start(d, r);
	}
}

/* ---- set-up ------------------------------------------------------ */

static int servers_add(struct dns *d, const char (*servers)[128], int n, struct err *e)
{
	for (int i = 0; i < n && d->nservers < DNS_MAX_SERVERS; i++) {
		char host[128];
		int port;
		struct dns_server *s = &d->servers[d->nservers];
		if (net_split_hostport(servers[i], host, sizeof host, &port, e) < 0 ||
		    net_parse_addr(host, port, &s->sa, &s->len, e) < 0)
			return err_set(e, "dns server %s: %s", servers[i], e->msg);
		if (evdns_base_nameserver_sockaddr_add(d->evdns, (struct sockaddr *)&s->sa, s->len,
						       0) != 0)
			return err_set(e, "dns server %s: evdns refused it", servers[i]);
		d->nservers++;
	}
	return 0;
}

static int servers_from_resolv_conf(struct dns *d, struct err *e)
{
	int rc = evdns_base_resolv_conf_parse(d->evdns, DNS_OPTION_NAMESERVERS, "/etc/resolv.conf");
	if (rc != 0)
		log_warn("dns: /etc/resolv.conf could not be read (evdns code %d)", rc);
	for (int i = 0; d->nservers < DNS_MAX_SERVERS; i++) {
		struct dns_server *s = &d->servers[d->nservers];
		int len = evdns_base_get_nameserver_addr(d->evdns, i, (struct sockaddr *)&s->sa,
							 sizeof s->sa);
		if (len <= 0 || (size_t)len > sizeof s->sa)
			break;
		s->len = (socklen_t)len;
		d->nservers++;
	}
	if (d->nservers == 0)
		return err_set(e, "dns: no nameserver in /etc/resolv.conf; set dns_servers");
	return 0;
}

struct dns *dns_new(struct event_base *base, const char (*servers)[128], int nservers,
		    struct err *e)
{
	struct dns *d = calloc(1, sizeof *d);
	if (!d)
		return err_set(e, "dns: out of memory"), NULL;
	d->base = base;
	d->loop_thread = pthread_self();
	pthread_mutex_init(&d->mu, NULL);
	d->evdns = evdns_base_new(base, 0);
	d->wake = event_new(base, -1, 0, on_wake, d);
	d->cache = dns_cache_new(CACHE_ENTRIES);
	if (!d->evdns || !d->wake) {
		err_set(e, "dns: cannot create the resolver");
		dns_free(d);
		return NULL;
	}
	/* our callers bound each lookup themselves; these bound the loop's
	 * own work for an answer nobody may wait for any more */
	evdns_base_set_option(d->evdns, "timeout:", "2");
	evdns_base_set_option(d->evdns, "attempts:", "2");
	evdns_base_set_option(d->evdns, "max-inflight:", "256");
	int rc =
	    nservers > 0 ? servers_add(d, servers, nservers, e) : servers_from_resolv_conf(d, e);
	if (rc < 0) {
		dns_free(d);
		return NULL;
	}
	return d;
}

void dns_free(struct dns *d)
{
	if (!d)
		return;
	pthread_mutex_lock(&d->mu);
	d->closing = 1;
	pthread_mutex_unlock(&d->mu);
	if (d->wake)
		on_wake(-1, 0, d); /* fails what was submitted and not started */
	/* without callbacks: evdns would defer them to a loop that no
	 * longer runs; our own list fails what evdns still had */
	if (d->evdns)
		evdns_base_free(d->evdns, 0);
	dns_inflight_shutdown(d);
	if (d->wake)
		event_free(d->wake);
	dns_cache_free(d->cache);
	pthread_mutex_destroy(&d->mu);
	free(d);
}

/* ---- the scan-thread side ---------------------------------------- */

static void deadline_after(struct timespec *ts, int ms)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

static void result_status(struct dns_result *out, enum dns_status s)
{
	memset(out, 0, offsetof(struct dns_result, text));
	out->text[0] = '\0';
	out->status = s;
}

/* Under d->mu: a cached answer or an immediate failure in out (NULL
 * returned), or a new request counted in flight. */
static struct dns_req *query_new(struct dns *d, const struct dns_query_spec *q,
				 struct dns_result *out, int64_t now)
{
	char name[DNS_NAME_MAX + 1];
	if (!q->name || dns_name_canon(q->name, name, sizeof name) < 0) {
		result_status(out, DNS_ERROR);
		return NULL;
	}
	d->stats.queries++;
	if (dns_cache_get(d->cache, q->type, name, now, out)) {
		d->stats.cache_hits++;
		return NULL;
	}
	if (d->closing || d->inflight >= MAX_INFLIGHT) {
		result_status(out, d->closing ? DNS_ERROR : DNS_SERVFAIL);
		d->stats.failures++;
		return NULL;
	}
	struct dns_req *r = calloc(1, sizeof *r);
	if (!r) {
		result_status(out, DNS_ERROR);
		return NULL;
	}
	r->d = d;
	r->type = q->type;
	r->fd = -1;
	memcpy(r->name, name, strlen(name) + 1);
	d->inflight++;
	return r;
}

/* Under d->mu: query_new, and a new request joins batch b and the submit
 * list for the loop. */
static struct dns_req *query_prepare(struct dns *d, const struct dns_query_spec *q, struct batch *b,
				     struct dns_result *out, int64_t now)
{
	struct dns_req *r = query_new(d, q, out, now);
	if (!r)
		return NULL;
	r->batch = b;
	b->pending++;
	if (d->submit_tail)
		d->submit_tail->next = r;
	else
		d->submit_head = r;
	d->submit_tail = r;
	return r;
}

int dns_lookup_async(struct dns *d, int type, const char *name, dns_cb cb, void *arg)
{
	if (!d || !cb || !pthread_equal(pthread_self(), d->loop_thread))
		return -1;
	struct dns_result *res = malloc(sizeof *res);
	if (!res)
		return -1;
	struct dns_query_spec q = {type, name};
	pthread_mutex_lock(&d->mu);
	struct dns_req *r = query_new(d, &q, res, mono_ms());
	if (r) {
		r->cb = cb;
		r->cb_arg = arg;
	}
	pthread_mutex_unlock(&d->mu);
	if (r) { /* on the loop already: started now, not through the wake */
		free(res);
		req_start(d, r);
		return 0;
	}
	int ok = res->status != DNS_ERROR || res->n > 0;
	if (ok)
		cb(res, arg);
	free(res);
	return ok ? 0 : -1;
}

int dns_lookup_batch(struct dns *d, const struct dns_query_spec *q, int n, int timeout_ms,
		     struct dns_result *out)
{
	if (n <= 0)
		return 0;
	if (!d || pthread_equal(pthread_self(), d->loop_thread)) {
		for (int i = 0; i < n; i++)
			result_status(&out[i], DNS_ERROR);
		return 0;
	}
	struct dns_req **reqs = calloc((size_t)n, sizeof *reqs);
	if (!reqs) {
		for (int i = 0; i < n; i++)
			result_status(&out[i], DNS_ERROR);
		return 0;
	}
	struct batch b = {.pending = 0};
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&b.cond, &ca);
	pthread_condattr_destroy(&ca);
	struct timespec deadline;
	deadline_after(&deadline, timeout_ms > 0 ? timeout_ms : 1);

	pthread_mutex_lock(&d->mu);
	int64_t now = mono_ms();
	for (int i = 0; i < n; i++)
		reqs[i] = query_prepare(d, &q[i], &b, &out[i], now);
	int submitted = b.pending > 0;
	pthread_mutex_unlock(&d->mu);
	if (submitted)
		event_active(d->wake, EV_READ, 1);

	pthread_mutex_lock(&d->mu);
	while (b.pending > 0)
		if (pthread_cond_timedwait(&b.cond, &d->mu, &deadline) == ETIMEDOUT)
			break;
	int definite = 0;
	for (int i = 0; i < n; i++) {
		struct dns_req *r = reqs[i];
		if (r && r->done) {
			memcpy(&out[i], &r->res,
			       offsetof(struct dns_result, text) + r->res.text_len);
			out[i].text[out[i].text_len] = '\0';
			free(r);
		} else if (r) {
			r->batch = NULL;
			r->detached = 1; /* the loop frees it when it is done */
			result_status(&out[i], DNS_TIMEOUT);
			d->stats.timeouts++;
		}
		enum dns_status s = out[i].status;
		definite += s == DNS_OK || s == DNS_NXDOMAIN || s == DNS_NODATA;
	}
	pthread_mutex_unlock(&d->mu);
	pthread_cond_destroy(&b.cond);
	free(reqs);
	return definite;
}

int dns_lookup_sync(struct dns *d, int type, const char *name, int timeout_ms,
		    struct dns_result *out)
{
	struct dns_query_spec q = {type, name};
	return dns_lookup_batch(d, &q, 1, timeout_ms, out) == 1 ? 0 : -1;
}

int dns_lookup_a_sync(struct dns *d, const char *name, int timeout_ms, struct dns_result *out)
{
	return dns_lookup_sync(d, DNS_T_A, name, timeout_ms, out);
}

int dns_lookup_txt_sync(struct dns *d, const char *name, int timeout_ms, struct dns_result *out)
{
	return dns_lookup_sync(d, DNS_T_TXT, name, timeout_ms, out);
}

void dns_get_stats(struct dns *d, struct dns_stats *out)
{
	pthread_mutex_lock(&d->mu);
	*out = d->stats;
	out->cache_entries = dns_cache_size(d->cache);
	pthread_mutex_unlock(&d->mu);
}
