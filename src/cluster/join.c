/* Joining a cluster, from both ends, and the other membership changes.
 *
 * The joiner J asks a member T (POST /peer/v1/join, phase "check"): T
 * checks that J's name resolves on T and on every reachable member and
 * returns the members, whose names J then resolves itself. Phase
 * "commit": T adds J's member record (through the cluster, or founding
 * the cluster when T was a single node) and answers with J's node id.
 * J writes its corosync.conf, starts corosync and joins the CPG group;
 * changes delivered from then on are held. J pulls T's rows (T answers
 * once it has seen J in its view, so nothing falls between), replaces
 * its propagated config with them, applies the held changes, and sends
 * its own users (saved before the replacement, stamps kept) through the
 * cluster: users are merged, everything else is the cluster's. An
 * interrupted join resumes at the next start (join_pending). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sodium.h>
#include <unistd.h>

#include "cluster/cluster_int.h"
#include "node.h"
#include "store/config.h"
#include "util/fsutil.h"
#include "util/log.h"
#include "util/timeutil.h"

/* This node's name for the others: its Cluster Host Name or, blank, the
 * address a peer sees (mu held). */
static void my_name(struct cluster *c, const char *fallback, char *out, size_t len)
{
	snprintf(out, len, "%s", c->loc.hostname[0] ? c->loc.hostname : fallback);
}

/* ---- the target's side (peer handlers, worker threads) ---- */

static json_t *fail(int *status, int code, const char *fmt, const char *a, const char *b)
{
	char msg[600];
	snprintf(msg, sizeof msg, fmt, a, b);
	*status = code;
	return json_pack("{s:s}", "error", msg);
}

static json_t *members_array(struct cluster *c)
{
	json_t *arr = json_array();
	for (size_t i = 0; i < c->nmembers; i++) {
		json_t *m = member_record_json(&c->members[i]);
		json_object_set_new(m, "nodeid", json_integer(c->members[i].nodeid));
		json_array_append_new(arr, m);
	}
	return arr;
}

/* J's name as the cluster will know it; NULL with the reply set. */
static json_t *joiner_name(struct cluster *c, json_t *body, const char *peer_ip, char *name,
			   size_t len, int *port, int *status)
{
	const char *n = json_string_value(json_object_get(body, "name"));
	json_t *p = json_object_get(body, "port");
	struct err e;
	*port = (int)json_integer_value(p);
	if (!json_is_integer(p) || *port < 1 || *port > 65535)
		return fail(status, 400, "bad port%s%s", "", "");
	snprintf(name, len, "%s", n && *n ? n : peer_ip);
	if (hostmap_addr_check(name, name, len, NULL) < 0 &&
	    hostmap_name_check(name, name, len, &e) < 0)
		return fail(status, 400, "%s%s", e.msg, "");
	pthread_mutex_lock(&c->mu);
	struct member *m = cluster_member_find(c, name);
	pthread_mutex_unlock(&c->mu);
	if (m)
		return fail(status, 409,
			    "a member named %s is already in the cluster: remove it there first, or "
			    "give the joining node another Cluster Host Name%s",
			    name, "");
	return NULL;
}

/* Every reachable member must resolve name. */
static json_t *check_resolvable(struct cluster *c, const char *name, int *status)
{
	char addr[64], host[64];
	struct err e;
	if (cluster_resolve(c->node, name, addr, sizeof addr, &e) < 0)
		return fail(status, 409, "the cluster member contacted: %s%s", e.msg, "");
	pthread_mutex_lock(&c->mu);
	size_t n = c->nmembers;
	struct member *ms = calloc(n + 1, sizeof *ms);
	if (ms)
		memcpy(ms, c->members, n * sizeof *ms);
	uint32_t me = c->loc.nodeid;
	pthread_mutex_unlock(&c->mu);
	json_t *err = ms ? NULL : fail(status, 503, "out of memory%s%s", "", "");
	for (size_t i = 0; ms && i < n && !err; i++) {
		json_t *reply = NULL;
		if (ms[i].nodeid == me || !ms[i].addr[0])
			continue;
		snprintf(host, sizeof host, "%s", ms[i].addr);
		json_t *q = json_pack("{s:s}", "name", name);
		int st = peer_call(c, host, ms[i].port, "POST", "/peer/v1/resolve", q, 10000, &reply, &e);
		json_decref(q);
		if (st == 404)
			err = fail(status, 409, "member %s cannot resolve host name %s: add it to the "
					       "Local Host Map on every member",
				   ms[i].name, name);
		else if (st != 200)
			log_warn("cluster: join check: member %s not reachable (%s)", ms[i].name,
				 st ? "error" : e.msg);
		json_decref(reply);
	}
	free(ms);
	return err;
}

json_t *join_handle_check(struct cluster *c, json_t *body, const char *peer_ip,
			  const char *local_ip, int *status)
{
	char name[CLUSTER_NAME_MAX], me[CLUSTER_NAME_MAX];
	int port;
	json_t *err = joiner_name(c, body, peer_ip, name, sizeof name, &port, status);
	if (err)
		return err;
	pthread_mutex_lock(&c->mu);
	int single = c->loc.nodeid == 0, quorate = c->quorate, joining = c->loc.join_pending;
	my_name(c, local_ip, me, sizeof me);
	pthread_mutex_unlock(&c->mu);
	if (joining || (!single && !quorate))
		return fail(status, 503, "%s cannot accept a join now: it %s", me,
			    joining ? "is joining a cluster itself" : "has no quorum");
	if ((err = check_resolvable(c, name, status)))
		return err;
	json_t *members;
	if (single) {
		struct member self = {.nodeid = 1, .port = cluster_my_port(c)};
		snprintf(self.name, sizeof self.name, "%s", me);
		snprintf(self.role, sizeof self.role, "active");
		members = json_array();
		json_t *m = member_record_json(&self);
		json_object_set_new(m, "nodeid", json_integer(1));
		json_array_append_new(members, m);
	} else {
		pthread_mutex_lock(&c->mu);
		members = members_array(c);
		pthread_mutex_unlock(&c->mu);
	}
	return json_pack("{s:s,s:s,s:o}", "name", name, "address", peer_ip, "members", members);
}

/* A random unused node id (mu held): two joins through two members at the
 * same moment must not pick the same one, as max + 1 would (knet node ids
 * are 16-bit). */
static uint32_t new_node_id(const struct cluster *c)
{
	for (;;) {
		uint32_t id = 2 + randombytes_uniform(65534);
		int used = 0;
		for (size_t i = 0; i < c->nmembers; i++)
			used |= c->members[i].nodeid == id;
		if (!used)
			return id;
	}
}

/* A single node becomes node 1 of a new cluster with the joiner as 2. */
static int found_cluster(struct cluster *c, const struct member *self, struct member *j,
			 struct err *e)
{
	j->nodeid = 2;
	pthread_mutex_lock(&c->mu);
	c->loc.nodeid = 1;
	c->loc.nleft = 0;
	pthread_mutex_unlock(&c->mu);
	config_set_node_id(c->cfg, 1);
	if (cluster_member_put(c, self, e) < 0 || cluster_member_put(c, j, e) < 0 ||
	    local_save(c, e) < 0)
		return -1;
	log_info("cluster: founded a cluster with %s (node 2); this node is node 1", j->name);
	cluster_task(c, TASK_MEMBERS);
	return 0;
}

json_t *join_handle_commit(struct cluster *c, json_t *body, const char *peer_ip,
			   const char *local_ip, int *status)
{
	struct member j = {0}, self = {0};
	struct err e;
	json_t *err = joiner_name(c, body, peer_ip, j.name, sizeof j.name, &j.port, status);
	if (err)
		return err;
	snprintf(j.role, sizeof j.role, "active");
	j.joined_ms = time_now_ms();
	pthread_mutex_lock(&c->mu);
	int single = c->loc.nodeid == 0;
	if (!c->loc.self_addr[0] || single) /* the address the joiner reached us at */
		snprintf(c->loc.self_addr, sizeof c->loc.self_addr, "%s", local_ip);
	uint32_t newid = new_node_id(c);
	my_name(c, local_ip, self.name, sizeof self.name);
	pthread_mutex_unlock(&c->mu);
	int rc;
	if (single) {
		self.nodeid = 1;
		self.port = cluster_my_port(c);
		self.joined_ms = j.joined_ms;
		snprintf(self.role, sizeof self.role, "active");
		rc = found_cluster(c, &self, &j, &e);
	} else {
		j.nodeid = newid;
		rc = cluster_member_put(c, &j, &e); /* through the cluster: every member adds it */
	}
	if (rc < 0)
		return fail(status, 503, "%s%s", e.msg, "");
	log_info("cluster: %s joins as node %u", j.name, j.nodeid);
	if (single) /* the records are local writes: the list is known now */
		cluster_load_members(c);
	pthread_mutex_lock(&c->mu);
	json_t *members = members_array(c);
	int listed = 0;
	for (size_t i = 0; i < c->nmembers; i++)
		listed |= c->members[i].nodeid == j.nodeid;
	uint32_t me = c->loc.nodeid;
	pthread_mutex_unlock(&c->mu);
	if (!listed) { /* our own list catches up on the task thread */
		json_t *m = member_record_json(&j);
		json_object_set_new(m, "nodeid", json_integer(j.nodeid));
		json_array_append_new(members, m);
	}
	return json_pack("{s:I,s:I,s:s,s:s,s:o}", "nodeid", (json_int_t)j.nodeid, "responder",
			 (json_int_t)me, "name", j.name, "address", peer_ip, "members", members);
}
