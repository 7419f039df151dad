/* Rate control (layer 1): connections and messages per client IP over a
 * sliding 30-minute window, kept as six 5-minute buckets per address.
 * Addresses in rate_exempt are never limited. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "node.h"
#include "smtp/session.h"
#include "store/config.h"
#include "util/net.h"
#include "util/timeutil.h"

#define RATE_BUCKETS 6
#define RATE_BUCKET_MS (5 * 60 * 1000)
#define RATE_MAX_TRACKED 200000

struct rate_entry {
	int64_t bucket_id[RATE_BUCKETS];
	int count[2][RATE_BUCKETS];   /* [RATE_CONN|RATE_MSG] */
	int64_t last_ms;
};

static int exempt(struct smtp_server *srv, const char *ip)
{
	char list[4096], *save = NULL;
	config_str(srv->node->cfg, "rate_exempt", NULL, NULL, list, sizeof list);
	for (char *t = strtok_r(list, ", ", &save); t; t = strtok_r(NULL, ", ", &save)) {
		struct cidr c;
		if (net_parse_cidr(t, &c, NULL) == 0 && net_cidr_match_text(&c, ip))
			return 1;
	}
	return 0;
}

static int window_count(const struct rate_entry *r, int kind, int64_t now_bucket)
{
	int n = 0;
	for (int i = 0; i < RATE_BUCKETS; i++)
		if (now_bucket - r->bucket_id[i] < RATE_BUCKETS)
			n += r->count[kind][i];
	return n;
}

/* Drops addresses idle for a whole window, so memory stays bounded by
 * the addresses seen in the last 30 minutes. */
static void prune(struct smtp_server *srv, int64_t now)
{
	size_t pos = 0;
	struct strmap_entry *en;
	while ((en = strmap_next(&srv->rates, &pos)))
		if (now - ((struct rate_entry *)en->value)->last_ms > RATE_BUCKETS * RATE_BUCKET_MS)
			free(strmap_del(&srv->rates, en->key));
}

int rate_check(struct smtp_server *srv, const char *ip, int kind)
{
	static const char *setting[] = {"rate_max_connections", "rate_max_messages"};
	int64_t max = config_int(srv->node->cfg, setting[kind], NULL, NULL);
	if (max <= 0 || exempt(srv, ip))
		return 0;
	int64_t now = time_now_ms(), b = now / RATE_BUCKET_MS;
	struct rate_entry *r = strmap_get(&srv->rates, ip);
	if (!r) {
		if (strmap_size(&srv->rates) >= RATE_MAX_TRACKED)
			prune(srv, now);
		r = calloc(1, sizeof *r);
		if (!r || strmap_put(&srv->rates, ip, r, NULL) < 0) {
			free(r);
			return 0; /* out of memory: do not refuse mail for it */
		}
	}
	r->last_ms = now;
	int slot = (int)(b % RATE_BUCKETS);
	if (r->bucket_id[slot] != b) {
		r->bucket_id[slot] = b;
		r->count[0][slot] = r->count[1][slot] = 0;
	}
	if (window_count(r, kind, b) >= max)
		return -1;
	r->count[kind][slot]++;
	return 0;
}

void rate_prune(struct smtp_server *srv)
{
	prune(srv, time_now_ms());
}
