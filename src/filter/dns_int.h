/* Internals of the resolver shared by dns.c, dns_msg.c, dns_cache.c and
 * the unit tests. */
#ifndef RAMPART_FILTER_DNS_INT_H
#define RAMPART_FILTER_DNS_INT_H

#include "filter/dns.h"

#include <event2/bufferevent.h>
#include <event2/event.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* EDNS0 payload size we advertise (the 2020 DNS flag day value). */
#define DNS_EDNS_SIZE 1232
/* Negative answers without an SOA are cached this long (seconds). */
#define DNS_NEG_TTL 300
/* No answer is cached longer than this (seconds). */
#define DNS_MAX_TTL 86400

/* Encodes a recursive query for (name, type) with an EDNS0 OPT record
 * when edns is set. Returns its length, or -1 when name is invalid or out
 * is too small. */
int dnsmsg_query(unsigned char *out, size_t outlen, uint16_t id, const char *name, int type,
		 int edns);

/* Parses the reply p[len] to the query (id, name, type) into out.
 * Returns 0 when it is a reply to that question (*tc set when the server
 * truncated it), -1 when it is malformed or answers something else (the
 * caller keeps waiting). Strict bounds: no read outside p[len], at most
 * 64 compression pointers per name, names of at most 255 bytes. */
int dnsmsg_parse(const unsigned char *p, size_t len, uint16_t id, const char *name, int type,
		 struct dns_result *out, int *tc);

/* Adds text as answer text of r (NUL-terminated); -1 when it is full. */
int dns_result_add_text(struct dns_result *r, struct dns_answer *a, const char *text, size_t len);

/* TTL cache; not locked (dns.c holds its mutex around every call). */
struct dns_cache;
struct dns_cache *dns_cache_new(size_t max_entries);
void dns_cache_free(struct dns_cache *c);
/* 1 and the result (ttl = seconds left, cached = 1) on a live hit. */
int dns_cache_get(struct dns_cache *c, int type, const char *name, int64_t now_ms,
		  struct dns_result *out);
/* Stores OK, NXDOMAIN and NODATA results with ttl > 0; evicts the oldest
 * entry when full. */
void dns_cache_put(struct dns_cache *c, int type, const char *name, const struct dns_result *r,
		   int64_t now_ms);
size_t dns_cache_size(const struct dns_cache *c);

/* ---- the resolver object (dns.c) and its UDP/TCP client (dns_udp.c) */

#define DNS_MAX_SERVERS 8

struct dns_server {
	struct sockaddr_storage sa;
	socklen_t len;
};

struct batch;

/* One query, shared by the thread waiting for it and the loop. */
struct dns_req {
	struct dns_req *next; /* submit list (under mu) */
	struct dns *d;
	struct batch *batch; /* NULL once the waiter left (under mu) */
	dns_cb cb;           /* dns_lookup_async: called on the loop, then r is freed */
	void *cb_arg;
	int done, detached;  /* under mu */
	int type;
	char name[DNS_NAME_MAX + 1];
	struct dns_result res; /* written by the loop before done */
	/* loop-only state of a query sent by dns_udp.c */
	struct dns_req *lprev, *lnext; /* in-flight list, for shutdown */
	evutil_socket_t fd;
	struct event *ev;
	struct bufferevent *bev;
	uint16_t id;
	int tries;
	int64_t try_deadline_ms;
	size_t qlen;
	unsigned char q[DNS_NAME_MAX + 64];
};

struct dns {
	struct event_base *base;
	struct evdns_base *evdns;
	struct event *wake;
	pthread_t loop_thread;
	struct dns_server servers[DNS_MAX_SERVERS];
	int nservers;
	pthread_mutex_t mu; /* guards what follows */
	struct dns_req *submit_head, *submit_tail;
	struct dns_cache *cache;
	int inflight;
	int closing;
	struct dns_stats stats;
	/* loop only */
	struct dns_req *inflight_list; /* every request started on the loop */
	unsigned char *rx;	       /* receive buffer */
};

/* Loop thread: the request's answer is in r->res; caches it, wakes the
 * waiter, frees a detached request. */
void dns_req_finish(struct dns_req *r);
/* Loop thread: sends r over UDP (TCP when truncated) to the servers in
 * turn; finishes it. */
void dns_udp_start(struct dns *d, struct dns_req *r);
/* Loop thread: the list of requests started and not finished. */
void dns_inflight_add(struct dns *d, struct dns_req *r);
void dns_inflight_remove(struct dns *d, struct dns_req *r);
/* Loop thread: fails every request still in flight. */
void dns_inflight_shutdown(struct dns *d);

#endif
