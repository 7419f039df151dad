/* The node's DNS resolver for the network layers (DNSBL, URIBL, SPF).
 *
 * Queries run on the event loop: A and AAAA through libevent's evdns,
 * TXT, MX and PTR (which evdns cannot ask for, or only by address)
 * through a small UDP client of our own with TCP fallback for truncated
 * answers. Answers are cached by TTL in a bounded cache. Scan threads
 * call the *_sync functions: they post the queries to the loop and wait
 * on a condition variable, never longer than their timeout; the loop
 * never blocks. A query that times out for its caller keeps running on
 * the loop and its late answer still fills the cache.
 *
 * Servers: "ip:port" strings (bootstrap `dns_servers`); none = the
 * nameservers of /etc/resolv.conf. */
#ifndef RAMPART_FILTER_DNS_H
#define RAMPART_FILTER_DNS_H

#include "util/err.h"

#include <event2/event.h>
#include <stdint.h>

enum dns_type {
	DNS_T_A = 1,
	DNS_T_CNAME = 5,
	DNS_T_SOA = 6,
	DNS_T_PTR = 12,
	DNS_T_MX = 15,
	DNS_T_TXT = 16,
	DNS_T_AAAA = 28,
	DNS_T_OPT = 41,
};

enum dns_status {
	DNS_OK,	      /* answers in the result */
	DNS_NXDOMAIN, /* the name does not exist */
	DNS_NODATA,   /* the name exists, no record of that type */
	DNS_TIMEOUT,  /* no answer within the caller's timeout */
	DNS_SERVFAIL, /* the server could not answer (or refused) */
	DNS_ERROR,    /* bad name, malformed answer, resolver shut down */
};

#define DNS_NAME_MAX 253
#define DNS_MAX_ANSWERS 32
#define DNS_TEXT_MAX 4096 /* room for TXT strings and host names of one answer set */

struct dns_answer {
	uint16_t type;
	uint16_t pref;		/* MX preference */
	uint16_t off, len;	/* TXT text / MX, PTR host name in the result's text */
	unsigned char addr[16]; /* A (4 bytes) or AAAA (16) */
};

struct dns_result {
	enum dns_status status;
	uint32_t ttl;  /* seconds the answer may be cached */
	int n;	       /* answers */
	int cached;    /* came from the cache */
	int truncated; /* some answers did not fit and were dropped */
	struct dns_answer ans[DNS_MAX_ANSWERS];
	size_t text_len;
	char text[DNS_TEXT_MAX]; /* NUL-terminated strings, see dns_answer_text */
};

/* One query of a batch. */
struct dns_query_spec {
	int type;	  /* enum dns_type */
	const char *name; /* without trailing dot */
};

/* Must be called on the loop thread, before the loop runs or while it
 * runs; evthread_use_pthreads() must have been called before base was
 * made. */
struct dns *dns_new(struct event_base *base, const char (*servers)[128], int nservers,
		    struct err *e);
/* On the loop thread, after every thread that may query has stopped. */
void dns_free(struct dns *d);

/* Runs n queries in parallel and waits for all of them, at most
 * timeout_ms in total; out[i] answers q[i]. Not on the loop thread (that
 * returns DNS_ERROR at once). Returns the number of queries with a
 * definite answer (OK, NXDOMAIN, NODATA). */
int dns_lookup_batch(struct dns *d, const struct dns_query_spec *q, int n, int timeout_ms,
		     struct dns_result *out);
/* One query; returns 0 on a definite answer (OK, NXDOMAIN, NODATA), -1
 * on timeout, server failure or error (out->status says which). */
int dns_lookup_sync(struct dns *d, int type, const char *name, int timeout_ms,
		    struct dns_result *out);
int dns_lookup_a_sync(struct dns *d, const char *name, int timeout_ms, struct dns_result *out);
int dns_lookup_txt_sync(struct dns *d, const char *name, int timeout_ms, struct dns_result *out);

/* On the loop thread only: starts one query and calls cb on the loop with
 * its result (from the cache: before dns_lookup_async returns). No caller
 * timeout: the resolver's own (2 attempts of 2 s) bounds it. Returns -1
 * (and never calls cb) when the query cannot start. */
typedef void (*dns_cb)(const struct dns_result *res, void *arg);
int dns_lookup_async(struct dns *d, int type, const char *name, dns_cb cb, void *arg);

/* TXT (character strings concatenated), MX or PTR host name of answer i. */
const char *dns_answer_text(const struct dns_result *r, int i);
const char *dns_status_name(enum dns_status s);

/* Query name for an IP address in a DNS list zone: "2.0.0.127.zone" for
 * 127.0.0.2, 32 reversed nibbles for IPv6; zone NULL or "" gives the
 * reversed address alone. -1 when ip is not an address or it does not
 * fit. */
int dns_reverse_name(const char *ip, const char *zone, char *out, size_t outlen);
/* 1 when name is a syntactically valid host name for a query: labels of
 * 1-63 letters, digits, '-' or '_', at most 253 characters. */
int dns_name_valid(const char *name);
/* Lower-cased copy of name without one trailing dot; -1 if it is not a
 * valid query name or does not fit. */
int dns_name_canon(const char *name, char *out, size_t outlen);

struct dns_stats {
	uint64_t queries, cache_hits, timeouts, failures;
	size_t cache_entries;
};
void dns_get_stats(struct dns *d, struct dns_stats *out);

#endif
