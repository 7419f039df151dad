/* Administrator operations on the cluster: the shared secret and the
 * host name (node-local), leaving, removing a member, roles. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cluster/cluster_int.h"
#include "node.h"
#include "store/config.h"
#include "util/log.h"
#include "util/timeutil.h"

#define LEAVE_WAIT_MS 15000

static int not_running(struct err *e)
{
	return err_set(e, "rampartd is not running on this node: start it first");
}

int cluster_set_secret(struct node *n, sqlite3 *db, const char *secret, struct err *e)
{
	struct cluster *c = n->cluster;
	struct cluster_local l;
	if (keys_secret_check(secret, e) < 0)
		return -1;
	if (c) {
		pthread_mutex_lock(&c->mu);
		l = c->loc;
		pthread_mutex_unlock(&c->mu);
	} else {
		local_load(db, &l);
	}
	if (strcmp(l.secret, secret) == 0)
		return 0;
	if (l.nodeid)
		return err_set(e, "this node is a member of a cluster: its Cluster Shared Secret "
				  "cannot change (leave the cluster first)");
	if (!c)
		return local_put(db, "secret", secret, e);
	pthread_mutex_lock(&c->mu);
	snprintf(c->loc.secret, sizeof c->loc.secret, "%s", secret);
	keys_derive(secret, KEYS_LABEL_PEER, c->peer_key, sizeof c->peer_key);
	pthread_mutex_unlock(&c->mu);
	log_info("cluster: the Cluster Shared Secret was set");
	return local_save(c, e);
}

/* A member's new record name: the host name, or its current address. */
static int hostname_record(struct cluster *c, const char *canon, struct err *e)
{
	char addr[64];
	pthread_mutex_lock(&c->mu);
	struct member *m = NULL;
	for (size_t i = 0; i < c->nmembers; i++)
		if (c->members[i].nodeid == c->loc.nodeid)
			m = &c->members[i];
	struct member rec = m ? *m : (struct member){0};
	pthread_mutex_unlock(&c->mu);
	if (!m)
		return err_set(e, "this node's member record is missing");
	if (canon[0] && cluster_resolve(c->node, canon, addr, sizeof addr, e) < 0)
		return -1;
	if (!canon[0] && !rec.addr[0])
		return err_set(e, "this node's address is not known: give it a host name");
	snprintf(rec.name, sizeof rec.name, "%s", canon[0] ? canon : rec.addr);
	return cluster_member_put(c, &rec, e);
}

int cluster_set_hostname(struct node *n, sqlite3 *db, const char *name, struct err *e)
{
	struct cluster *c = n->cluster;
	char canon[CLUSTER_NAME_MAX] = "";
	if (name && *name && hostmap_addr_check(name, canon, sizeof canon, NULL) < 0 &&
	    hostmap_name_check(name, canon, sizeof canon, e) < 0)
		return -1;
	if (!c) {
		struct cluster_local l;
		local_load(db, &l);
		if (l.nodeid)
			return not_running(e);
		return local_put(db, "hostname", canon[0] ? canon : NULL, e);
	}
	pthread_mutex_lock(&c->mu);
	int member = c->loc.nodeid != 0, same = strcmp(c->loc.hostname, canon) == 0;
	pthread_mutex_unlock(&c->mu);
	if (same)
		return 0;
	if (member && hostname_record(c, canon, e) < 0)
		return -1;
	pthread_mutex_lock(&c->mu);
	snprintf(c->loc.hostname, sizeof c->loc.hostname, "%s", canon);
	pthread_mutex_unlock(&c->mu);
	log_info("cluster: Cluster Host Name %s%s", canon[0] ? "set to " : "cleared", canon);
	return local_save(c, e);
}

/* Waits until the task thread has turned this node single again. */
static int wait_single(struct cluster *c)
{
	int64_t until = time_mono_us() + LEAVE_WAIT_MS * 1000LL;
	for (;;) {
		pthread_mutex_lock(&c->mu);
		int single = c->loc.nodeid == 0 && !c->running;
		pthread_mutex_unlock(&c->mu);
		if (single)
			return 0;
		if (time_mono_us() > until)
			return -1;
		usleep(20000);
	}
}

int cluster_leave(struct node *n, struct err *e)
{
	struct cluster *c = n->cluster;
	char key[64];
	struct err pe;
	if (!c)
		return not_running(e);
	pthread_mutex_lock(&c->mu);
	uint32_t id = c->loc.nodeid;
	pthread_mutex_unlock(&c->mu);
	if (!id)
		return err_set(e, "this node is not a member of a cluster");
	snprintf(key, sizeof key, MEMBER_PREFIX "%u", id);
	snprintf(pe.msg, sizeof pe.msg, "the cluster did not drop this node in time");
	/* through the cluster: the others drop this node, and so do we */
	if (config_put(c->cfg, key, NULL, &pe) == 0 && wait_single(c) == 0)
		return 0;
	cluster_local_leave(c, "the cluster could not be told");
	err_set(e,
		"this node left, but the cluster could not be told (%s): remove it on a member "
		"with `rampart cluster remove`",
		pe.msg);
	return 1;
}

int cluster_remove(struct node *n, const char *name, struct err *e)
{
	struct cluster *c = n->cluster;
	char key[64];
	if (!c)
		return not_running(e);
	pthread_mutex_lock(&c->mu);
	struct member *m = name ? cluster_member_find(c, name) : NULL;
	uint32_t id = m ? m->nodeid : 0, me = c->loc.nodeid;
	pthread_mutex_unlock(&c->mu);
	if (!me)
		return err_set(e, "this node is not a member of a cluster");
	if (!id)
		return err_set(e, "no member %s in this cluster", log_esc(name ? name : ""));
	if (id == me)
		return err_set(e, "%s is this node: use `rampart cluster leave`", log_esc(name));
	snprintf(key, sizeof key, MEMBER_PREFIX "%u", id);
	if (config_put(c->cfg, key, NULL, e) < 0)
		return -1;
	log_info("cluster: member %s (node %u) removed", log_esc(name), id);
	return 0;
}

int cluster_set_role(struct node *n, const char *name, const char *role, struct err *e)
{
	struct cluster *c = n->cluster;
	if (!role || (strcmp(role, "active") != 0 && strcmp(role, "standby") != 0))
		return err_set(e, "role must be active or standby");
	if (!c)
		return not_running(e);
	pthread_mutex_lock(&c->mu);
	struct member *m = name ? cluster_member_find(c, name) : NULL;
	struct member rec = m ? *m : (struct member){0};
	int member = c->loc.nodeid != 0;
	pthread_mutex_unlock(&c->mu);
	if (!member)
		return err_set(e, "this node is not a member of a cluster");
	if (!m)
		return err_set(e, "no member %s in this cluster", log_esc(name ? name : ""));
	if (strcmp(rec.role, role) == 0)
		return 0;
	snprintf(rec.role, sizeof rec.role, "%s", role);
	if (cluster_member_put(c, &rec, e) < 0)
		return -1;
	log_info("cluster: member %s is now %s", rec.name, role);
	return 0;
}
