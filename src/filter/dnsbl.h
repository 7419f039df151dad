/* DNS lists: IP blocklists (DNSBL, layer 1: the client IP and optionally
 * every IP of the Received: trail) and URI blocklists (URIBL, layer 3:
 * the hosts of the URLs in the message). Both are lists of zones in the
 * replicated config store, one key per zone so the API and the UI can
 * edit them one by one:
 *
 *   dnsbl/<zone>  and  uribl/<zone>  =
 *     {"action": "block" | "quarantine" | "tag" | "score",
 *      "score": N,              (for "score"; default 1.0, -100..100)
 *      "codes": ["127.0.0.2"],  (optional: answers that count as listed)
 *      "mask": N}               (optional: last octet & N != 0 counts)
 *
 * Without codes or mask any answer in 127.0.0.0/8 counts, except
 * 127.255.255.0/24, which list operators use for errors ("you are
 * querying through a public resolver"), never listings. A DNS failure
 * (timeout, SERVFAIL) skips that zone for that message and is logged;
 * it never delays the message beyond dns_timeout_ms or rejects it. */
#ifndef RAMPART_FILTER_DNSBL_H
#define RAMPART_FILTER_DNSBL_H

#include "filter/dns.h"
#include "filter/pipeline.h"
#include "util/err.h"

#include <stdint.h>

struct config_store;

#define BL_MAX_ZONES 32
#define BL_MAX_CODES 16

enum bl_action { BL_SCORE, BL_TAG, BL_QUARANTINE, BL_BLOCK };

struct bl_zone {
	char kind[8]; /* "dnsbl" or "uribl" */
	char zone[DNS_NAME_MAX + 1];
	char rule[96]; /* DNSBL_ZEN_EXAMPLE_ORG */
	enum bl_action action;
	double score;
	unsigned char codes[BL_MAX_CODES][4];
	int ncodes;
	int mask; /* 0 = none */
};

struct bl_list {
	struct bl_zone zone[BL_MAX_ZONES];
	int n;
};

/* One list entry: kind "dnsbl" or "uribl", the zone (the key's last
 * part) and its JSON value; errors are meant for administrators. */
int bl_zone_parse(const char *kind, const char *zone, const char *json, struct bl_zone *out,
		  struct err *e);
/* The canonical JSON value of a parsed entry into out. */
int bl_zone_value(const struct bl_zone *z, char *out, size_t outlen, struct err *e);
/* The config store's validator for dnsbl/ and uribl/ keys: the zone must
 * be a canonical (lower-case) DNS name; a live value is parsed and its
 * canonical form written to canon. */
int bl_key_check(const char *key, const char *value, char *canon, size_t canonlen, struct err *e);
/* Registers the dnsbl/ and uribl/ namespaces with the config store; call
 * once at start-up before config_open (daemon and CLI alike). */
void dnsbl_register_config(void);
/* Every valid entry of <kind>/ in the store (bad ones are logged and
 * left out), re-read only when the store's version changed. */
void bl_list_get(struct config_store *cs, const char *kind, struct bl_list *out);
/* 1 when an A answer counts as a listing in zone z. */
int bl_answer_listed(const struct bl_zone *z, const unsigned char addr[4]);
enum action bl_action_verdict(enum bl_action a);
const char *bl_action_name(enum bl_action a);

/* One listing found. */
struct bl_hit {
	const struct bl_zone *zone;
	char item[256];	 /* the IP or host that is listed */
	char answer[16]; /* the A record, e.g. 127.0.0.2 */
};

/* Looks every name (already in query form: reversed IP or host) up in
 * every zone of l, all in one parallel batch bounded by timeout_ms.
 * items[i] is what names[i] stands for (for the hits and the log).
 * Fills up to maxhits hits and returns their number; *failed counts the
 * queries that got no definite answer. */
int bl_check(struct dns *d, const struct bl_list *l, const char *const *names,
	     const char *const *items, int n, int timeout_ms, struct bl_hit *hits, int maxhits,
	     int *failed);

/* Applies hits to the verdict: score hits add their score, the most
 * severe of block/quarantine/tag ends the path. layer is "dnsbl" or
 * "uribl"; what names the items in the reply ("Client host", "URL"). */
void bl_apply(struct verdict *v, const char *layer, const char *what, const struct bl_hit *hits,
	      int nhits);

/* The IPs a message is checked with: the client's (unless it is in a
 * private range and dnsbl_skip_private is on) and, when
 * dnsbl_scan_received is on, those in the Received: headers. Returns
 * how many were written (deduplicated, at most max). */
int dnsbl_ips(const char *client_ip, const struct msg_view *view, int scan_received,
	      int skip_private, char (*out)[64], int max);
/* 1 for RFC 1918, CGNAT, link-local and unique-local addresses. */
int dnsbl_ip_private(const char *ip);

/* The URIBL query names (without zone) of the URLs of a message, at most
 * max_hosts distinct hosts and max names; item[i] is the host or IP
 * name[i] stands for. Returns the number of names. */
int uribl_collect(const struct msg_view *view, int max_hosts, char (*name)[DNS_NAME_MAX + 1],
		  char (*item)[DNS_NAME_MAX + 1], int max);
/* The same for one normalised URL. */
int uribl_query_names(const char *uri, char (*out)[DNS_NAME_MAX + 1], int max);

/* The pipeline stages. */
int stage_dnsbl(struct scan_job *job);
int stage_uribl(struct scan_job *job);

#endif
