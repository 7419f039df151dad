/* The client's reverse DNS name, forward-confirmed, for our Received:
 * header ("from HELO (NAME [IP])", as Postfix writes it; "unknown" when the
 * address has no name, its name does not resolve back to it, or DNS did not
 * answer in time). Content rules read it there: SpamAssassin's RDNS_NONE,
 * RDNS_DYNAMIC and HELO checks parse our header like any MTA's. The lookup
 * runs on a worker from the connection on, so it is usually done before
 * DATA; the loop never waits for it. */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "filter/dns.h"
#include "node.h"
#include "smtp/session.h"
#include "store/config.h"
#include "util/pool.h"

struct rdns_task {
	struct session *s; /* NULL once the session is gone */
	struct dns *dns;
	int timeout_ms;
	char ip[64];
	char name[256];
};

/* Whether name has an A/AAAA record equal to ip. */
static int confirms(struct dns *d, const char *name, const char *ip, int timeout_ms)
{
	unsigned char want[16];
	int v6 = inet_pton(AF_INET6, ip, want) == 1;
	if (!v6 && inet_pton(AF_INET, ip, want) != 1)
		return 0;
	struct dns_result *r = malloc(sizeof *r);
	if (!r)
		return 0;
	int ok = 0;
	if (dns_lookup_sync(d, v6 ? DNS_T_AAAA : DNS_T_A, name, timeout_ms, r) == 0)
		for (int i = 0; i < r->n && !ok; i++)
			ok = r->ans[i].type == (v6 ? DNS_T_AAAA : DNS_T_A) &&
			     memcmp(r->ans[i].addr, want, v6 ? 16 : 4) == 0;
	free(r);
	return ok;
}

static void rdns_work(void *ctx, void *arg)
{
	(void)ctx;
	struct rdns_task *t = arg;
	char q[128];
	int v4 = strchr(t->ip, ':') == NULL;
	if (dns_reverse_name(t->ip, v4 ? "in-addr.arpa" : "ip6.arpa", q, sizeof q) < 0)
		return;
	struct dns_result *r = malloc(sizeof *r);
	if (!r)
		return;
	if (dns_lookup_sync(t->dns, DNS_T_PTR, q, t->timeout_ms, r) == 0 && r->n > 0 &&
	    r->ans[0].type == DNS_T_PTR) {
		char name[256];
		if (dns_name_canon(dns_answer_text(r, 0), name, sizeof name) == 0 &&
		    confirms(t->dns, name, t->ip, t->timeout_ms))
			memcpy(t->name, name, sizeof name);
	}
	free(r);
}

static void rdns_done(void *arg)
{
	struct rdns_task *t = arg;
	if (t->s) {
		memcpy(t->s->rdns, t->name, sizeof t->s->rdns);
		t->s->rdns_task = NULL;
	}
	free(t);
}

void session_rdns_start(struct session *s)
{
	struct node *n = s->node;
	if (!n->dns || !n->pool)
		return;
	struct rdns_task *t = calloc(1, sizeof *t);
	if (!t)
		return;
	t->s = s;
	t->dns = n->dns;
	t->timeout_ms = (int)config_int(n->cfg, "dns_timeout_ms", NULL, NULL);
	snprintf(t->ip, sizeof t->ip, "%s", s->ip);
	s->rdns_task = t;
	pool_submit(n->pool, rdns_work, rdns_done, t);
}

void session_rdns_abandon(struct session *s)
{
	if (s->rdns_task)
		s->rdns_task->s = NULL;
	s->rdns_task = NULL;
}
