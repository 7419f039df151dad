/* Roles and failover (DESIGN.md §2): standby members hold everything but
 * filter no mail (their SMTP listeners answer 421, so senders use another
 * MX); with cluster_failover = automatic, a standby takes over when an
 * active member has been down for cluster_failover_grace: it makes itself
 * active and the lost member standby, so a returning node comes back as
 * standby (no flapping). One standby acts: the earliest joined one that is
 * up, as every member computes from the same replicated records. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "cluster/cluster_int.h"
#include "node.h"
#include "store/config.h"
#include "util/log.h"
#include "util/timeutil.h"

int cluster_accepts_mail(struct node *n)
{
	struct cluster *c = n ? n->cluster : NULL;
	if (!c)
		return 1;
	int ok = 1;
	pthread_mutex_lock(&c->mu);
	for (size_t i = 0; c->loc.nodeid && i < c->nmembers; i++)
		if (c->members[i].nodeid == c->loc.nodeid)
			ok = strcmp(c->members[i].role, "standby") != 0;
	pthread_mutex_unlock(&c->mu);
	return ok;
}

/* mu held */
static int in_view(const struct cluster *c, uint32_t id, int synced)
{
	if (id == c->loc.nodeid)
		return 1;
	for (size_t i = 0; i < c->nround; i++)
		if (c->round[i].nodeid == id)
			return !synced || c->round[i].done;
	return 0;
}

/* mu held: when each member was first seen missing from the view. */
static int64_t down_since(struct cluster *c, uint32_t id, int64_t now)
{
	size_t i;
	for (i = 0; i < c->ndown; i++)
		if (c->down[i].nodeid == id)
			break;
	if (in_view(c, id, 0)) {
		if (i < c->ndown)
			c->down[i] = c->down[--c->ndown];
		return 0;
	}
	if (i == c->ndown) {
		if (c->ndown == CLUSTER_MAX_MEMBERS)
			return 0;
		c->down[c->ndown].nodeid = id;
		c->down[c->ndown++].since = now;
	}
	return c->down[i].since;
}

static int earlier(const struct member *a, const struct member *b)
{
	return !b || a->joined_ms < b->joined_ms ||
	       (a->joined_ms == b->joined_ms && a->nodeid < b->nodeid);
}

/* mu held: the active member down longest beyond grace, and the standby
 * that takes over for it (NULL, NULL when nothing is to be done). */
static void pick(struct cluster *c, int64_t now, int64_t grace, const struct member **lost,
		 const struct member **heir)
{
	*lost = *heir = NULL;
	int64_t oldest = 0;
	for (size_t i = 0; i < c->nmembers; i++) {
		const struct member *m = &c->members[i];
		int64_t since = down_since(c, m->nodeid, now);
		if (since && strcmp(m->role, "active") == 0 && now - since >= grace &&
		    (!*lost || since < oldest)) {
			*lost = m;
			oldest = since;
		}
	}
	for (size_t i = 0; *lost && i < c->nmembers; i++) {
		const struct member *m = &c->members[i];
		if (strcmp(m->role, "standby") == 0 && in_view(c, m->nodeid, 1) && earlier(m, *heir))
			*heir = m;
	}
}

/* Task thread, every status period. */
void failover_check(struct cluster *c)
{
	char mode[16];
	config_str(c->cfg, "cluster_failover", NULL, NULL, mode, sizeof mode);
	int64_t grace = config_int(c->cfg, "cluster_failover_grace", NULL, NULL) * 1000;
	int64_t now = time_now_ms();
	struct member lost, heir;
	const struct member *l, *h;
	pthread_mutex_lock(&c->mu);
	pick(c, now, grace, &l, &h);
	int act = l && h && h->nodeid == c->loc.nodeid && strcmp(mode, "automatic") == 0 &&
		  c->quorate && c->synced && !c->loc.join_pending;
	if (act) {
		lost = *l;
		heir = *h;
	}
	pthread_mutex_unlock(&c->mu);
	if (!act)
		return;
	log_warn("cluster: failover: active member %s (node %" PRIu32 ") down for %" PRId64
		 " s; this node (%s) takes over as active, %s becomes standby",
		 lost.name, lost.nodeid, grace / 1000, heir.name, lost.name);
	snprintf(heir.role, sizeof heir.role, "active");
	snprintf(lost.role, sizeof lost.role, "standby");
	struct err e;
	/* promote first: a failure leaves one active too many, never one less */
	if (cluster_member_put(c, &heir, &e) < 0 || cluster_member_put(c, &lost, &e) < 0)
		log_error("cluster: failover: %s", e.msg);
}
