/* The client's reverse DNS name, forward-confirmed, for our Received:
 * header ("from HELO (NAME [IP])", as Postfix writes it; "unknown" when the
 * address has no name, its name does not resolve back to it, or DNS has
 * not answered by DATA). Content rules read it there: SpamAssassin's
 * RDNS_NONE, RDNS_DYNAMIC and HELO checks parse our header like any MTA's.
 * Both lookups run asynchronously on the loop from the connection on: no
 * thread waits for DNS, however many clients connect. */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "filter/dns.h"
#include "node.h"
#include "smtp/session.h"

struct rdns_task {
	struct session *s; /* NULL once the session is gone */
	struct dns *dns;
	char ip[64];
	char name[256];
};

/* The end of the chain: the session (if still there) forgets the task. */
static void finish(struct rdns_task *t, int confirmed)
{
	if (t->s) {
		if (confirmed)
			memcpy(t->s->rdns, t->name, sizeof t->s->rdns);
		t->s->rdns_task = NULL;
	}
	free(t);
}

static void on_addr(const struct dns_result *r, void *arg)
{
	struct rdns_task *t = arg;
	unsigned char want[16];
	int v6 = inet_pton(AF_INET6, t->ip, want) == 1;
	int ok = 0;
	if (v6 || inet_pton(AF_INET, t->ip, want) == 1)
		for (int i = 0; r->status == DNS_OK && i < r->n && !ok; i++)
			ok = r->ans[i].type == (v6 ? DNS_T_AAAA : DNS_T_A) &&
			     memcmp(r->ans[i].addr, want, v6 ? 16 : 4) == 0;
	finish(t, ok);
}

static void on_ptr(const struct dns_result *r, void *arg)
{
	struct rdns_task *t = arg;
	if (!t->s || r->status != DNS_OK || r->n < 1 || r->ans[0].type != DNS_T_PTR ||
	    dns_name_canon(dns_answer_text(r, 0), t->name, sizeof t->name) < 0)
		return finish(t, 0);
	int v6 = strchr(t->ip, ':') != NULL;
	if (dns_lookup_async(t->dns, v6 ? DNS_T_AAAA : DNS_T_A, t->name, on_addr, t) < 0)
		finish(t, 0);
}

void session_rdns_start(struct session *s)
{
	struct node *n = s->node;
	char q[128];
	int v6 = strchr(s->ip, ':') != NULL;
	if (!n->dns || dns_reverse_name(s->ip, v6 ? "ip6.arpa" : "in-addr.arpa", q, sizeof q) < 0)
		return;
	struct rdns_task *t = calloc(1, sizeof *t);
	if (!t)
		return;
	t->s = s;
	t->dns = n->dns;
	snprintf(t->ip, sizeof t->ip, "%s", s->ip);
	s->rdns_task = t; /* before the call: a cached answer finishes at once */
	if (dns_lookup_async(n->dns, DNS_T_PTR, q, on_ptr, t) < 0) {
		s->rdns_task = NULL;
		free(t);
	}
}

void session_rdns_abandon(struct session *s)
{
	if (s->rdns_task)
		s->rdns_task->s = NULL;
	s->rdns_task = NULL;
}
