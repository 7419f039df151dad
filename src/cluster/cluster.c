/* The cluster module's life: creation, the task thread, the loop's
 * timers, member records (cluster/member/<id>) and what follows from
 * them (corosync.conf, starting, reloading, leaving). */
#include <ctype.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cluster/cluster_int.h"
#include "cluster/hlc.h"
#include "node.h"
#include "store/config.h"
#include "store/db.h"
#include "util/fsutil.h"
#include "util/log.h"
#include "util/net.h"
#include "util/timeutil.h"

#define CONNECT_RETRY_MS 1000

/* ---- the cluster/ namespace of the config store ---- */

static int member_id_of(const char *key, uint32_t *id)
{
	const char *p = key + strlen(MEMBER_PREFIX);
	char *end;
	unsigned long v = strtoul(p, &end, 10);
	if (strncmp(key, MEMBER_PREFIX, strlen(MEMBER_PREFIX)) != 0 || !isdigit((unsigned char)*p) ||
	    *p == '0' || *end || v == 0 || v > 0x7fffffffUL)
		return -1;
	*id = (uint32_t)v;
	return 0;
}

/* A member's name: a host name or an address. */
static int name_check(const char *name, char *out, size_t len, struct err *e)
{
	if (hostmap_addr_check(name, out, len, NULL) == 0)
		return 0;
	return hostmap_name_check(name, out, len, e);
}

static int ns_cluster(const char *key, const char *value, char *canon, size_t canonlen,
		      struct err *e)
{
	uint32_t id;
	char name[CLUSTER_NAME_MAX];
	if (member_id_of(key, &id) < 0)
		return err_set(e, "bad cluster key \"%s\"", log_esc(key));
	json_t *j = json_loads(value, JSON_REJECT_DUPLICATES, NULL);
	const char *n = json_string_value(json_object_get(j, "name"));
	const char *role = json_string_value(json_object_get(j, "role"));
	json_t *port = json_object_get(j, "port"), *joined = json_object_get(j, "joined_ms");
	int rc = -1;
	if (!json_is_object(j) || !n || !role || !json_is_integer(port) || !json_is_integer(joined))
		err_set(e, "%s: expected {\"name\", \"port\", \"role\", \"joined_ms\"}", key);
	else if (name_check(n, name, sizeof name, e) < 0)
		;
	else if (json_integer_value(port) < 1 || json_integer_value(port) > 65535 ||
		 json_integer_value(joined) < 0)
		err_set(e, "%s: bad port or join time", key);
	else if (strcmp(role, "active") != 0 && strcmp(role, "standby") != 0)
		err_set(e, "%s: role must be active or standby", key);
	else
		rc = 0;
	if (rc == 0) {
		json_t *o = json_pack("{s:s,s:I,s:s,s:I}", "name", name, "port",
				      json_integer_value(port), "role", role, "joined_ms",
				      json_integer_value(joined));
		char *s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
		if (s && strlen(s) < canonlen)
			memcpy(canon, s, strlen(s) + 1);
		else
			rc = err_set(e, "%s: value too long", key);
		free(s);
		json_decref(o);
	}
	json_decref(j);
	return rc;
}

void cluster_register_config(void)
{
	config_register_namespace("cluster/", ns_cluster);
}

json_t *member_record_json(const struct member *m)
{
	return json_pack("{s:s,s:i,s:s,s:I}", "name", m->name, "port", m->port, "role", m->role,
			 "joined_ms", (json_int_t)m->joined_ms);
}

int cluster_member_put(struct cluster *c, const struct member *m, struct err *e)
{
	char key[64];
	json_t *j = member_record_json(m);
	char *v = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(j);
	snprintf(key, sizeof key, MEMBER_PREFIX "%u", m->nodeid);
	int rc = v ? config_put(c->cfg, key, v, e) : err_set(e, "out of memory");
	free(v);
	return rc;
}

/* ---- members ---- */

static int member_cmp(const void *a, const void *b)
{
	const struct member *x = a, *y = b;
	return x->nodeid < y->nodeid ? -1 : x->nodeid > y->nodeid;
}

static size_t members_from_store(struct cluster *c, struct member *out)
{
	json_t *rows = config_list_prefix(c->cfg, MEMBER_PREFIX), *row;
	size_t i, n = 0;
	json_array_foreach(rows, i, row) {
		json_t *v = json_loads(json_string_value(json_object_get(row, "value")), 0, NULL);
		struct member *m = &out[n];
		memset(m, 0, sizeof *m);
		if (n < CLUSTER_MAX_MEMBERS &&
		    member_id_of(json_string_value(json_object_get(row, "key")), &m->nodeid) == 0 &&
		    json_is_object(v)) {
			snprintf(m->name, sizeof m->name, "%s", json_string_value(json_object_get(v, "name")));
			snprintf(m->role, sizeof m->role, "%s", json_string_value(json_object_get(v, "role")));
			m->port = (int)json_integer_value(json_object_get(v, "port"));
			m->joined_ms = json_integer_value(json_object_get(v, "joined_ms"));
			n++;
		}
		json_decref(v);
	}
	json_decref(rows);
	qsort(out, n, sizeof *out, member_cmp);
	return n;
}

/* Resolves every member on this node (blocking) and installs the list. */
void cluster_members_set(struct cluster *c, struct member *ms, size_t n)
{
	pthread_mutex_lock(&c->mu);
	uint32_t me = c->loc.nodeid;
	char self[64];
	snprintf(self, sizeof self, "%s", c->loc.self_addr);
	pthread_mutex_unlock(&c->mu);
	for (size_t i = 0; i < n; i++) {
		struct err e;
		ms[i].resolve_error[0] = '\0';
		if (cluster_resolve(c->node, ms[i].name, ms[i].addr, sizeof ms[i].addr, &e) == 0)
			continue;
		if (ms[i].nodeid == me && self[0]) {
			/* our own name need not be in our map: the address peers see */
			snprintf(ms[i].addr, sizeof ms[i].addr, "%s", self);
			continue;
		}
		ms[i].addr[0] = '\0';
		snprintf(ms[i].resolve_error, sizeof ms[i].resolve_error, "%s", e.msg);
		log_error("cluster: member %u: %s", ms[i].nodeid, e.msg);
	}
	pthread_mutex_lock(&c->mu);
	for (size_t i = 0; i < n; i++)
		for (size_t k = 0; k < c->nmembers; k++)
			if (c->members[k].nodeid == ms[i].nodeid)
				ms[i].last_seen_ms = c->members[k].last_seen_ms;
	memcpy(c->members, ms, n * sizeof *ms);
	c->nmembers = n;
	pthread_mutex_unlock(&c->mu);
}

int cluster_load_members(struct cluster *c)
{
	struct member *ms = calloc(CLUSTER_MAX_MEMBERS, sizeof *ms);
	if (!ms)
		return -1;
	size_t n = members_from_store(c, ms);
	cluster_members_set(c, ms, n);
	free(ms);
	return (int)n;
}

struct member *cluster_member_find(struct cluster *c, const char *name)
{
	char *end;
	unsigned long id = strtoul(name, &end, 10);
	for (size_t i = 0; i < c->nmembers; i++) {
		struct member *m = &c->members[i];
		if ((!*end && *name && m->nodeid == id) || strcasecmp(m->name, name) == 0 ||
		    (m->addr[0] && strcmp(m->addr, name) == 0))
			return m;
	}
	return NULL;
}

int cluster_my_port(struct cluster *c)
{
	char host[128];
	int port = 8443;
	if (c->node->boot.n_http_listen > 0)
		net_split_hostport(c->node->boot.http_listen[0], host, sizeof host, &port, NULL);
	return port;
}

int cluster_is_member(struct node *n)
{
	struct cluster *c = n ? n->cluster : NULL;
	if (!c)
		return 0;
	pthread_mutex_lock(&c->mu);
	int m = c->loc.nodeid != 0;
	pthread_mutex_unlock(&c->mu);
	return m;
}

/* ---- runtime: corosync child + CPG ---- */

void cluster_runtime_start(struct cluster *c)
{
	pthread_mutex_lock(&c->mu);
	int was = c->running;
	uint32_t id = c->loc.nodeid;
	c->running = 1;
	pthread_mutex_unlock(&c->mu);
	if (was)
		return;
	config_set_node_id(c->cfg, id);
	config_set_replicator(c->cfg, cluster_replicator, c);
	pthread_mutex_lock(&c->mu);
	c->check_at_ms = time_now_ms() + 30000; /* joiners may still be settling */
	pthread_mutex_unlock(&c->mu);
	log_info("cluster: starting as node %u", id);
	event_active(c->restart_timer, EV_TIMEOUT, 1); /* the child is forked on the loop */
	cluster_task(c, TASK_CONNECT);
}

void cluster_local_leave(struct cluster *c, const char *why)
{
	struct err e;
	log_info("cluster: leaving the cluster (%s); this node keeps its settings", why);
	config_set_replicator(c->cfg, NULL, NULL);
	pthread_mutex_lock(&c->mu);
	c->running = 0;
	pthread_mutex_unlock(&c->mu);
	cpg_disconnect(c);
	quorum_disconnect(c);
	corosync_child_stop(c);
	json_t *rows = config_list_prefix(c->cfg, MEMBER_PREFIX), *row;
	size_t i;
	json_array_foreach(rows, i, row) {
		if (config_put(c->cfg, json_string_value(json_object_get(row, "key")), NULL, &e) < 0)
			log_error("cluster: %s", e.msg);
	}
	json_decref(rows);
	pthread_mutex_lock(&c->mu);
	c->loc.nodeid = 0;
	c->loc.join_pending = 0;
	c->loc.join_via[0] = '\0';
	c->loc.nleft = 0;
	c->nmembers = 0;
	c->nround = 0;
	c->synced = 0;
	cpg_fail_waiters(c);
	pthread_mutex_unlock(&c->mu);
	config_set_node_id(c->cfg, 0);
	if (local_save(c, &e) < 0)
		log_error("cluster: %s", e.msg);
	char conf[4400];
	snprintf(conf, sizeof conf, "%s/corosync.conf", c->dir);
	unlink(conf);
	log_info("cluster: this node is a single node again");
}

/* Member records changed (or the host map, or a cluster setting). */
static void do_members(struct cluster *c)
{
	struct err e;
	pthread_mutex_lock(&c->mu);
	uint32_t me = c->loc.nodeid;
	int joining = c->loc.join_pending, running = c->running;
	pthread_mutex_unlock(&c->mu);
	if (me == 0)
		return;
	if (joining) { /* the records arrive with the snapshot; corosync.conf is written */
		cluster_runtime_start(c);
		return;
	}
	cluster_load_members(c);
	pthread_mutex_lock(&c->mu);
	int in = 0;
	for (size_t i = 0; i < c->nmembers; i++)
		in |= c->members[i].nodeid == me;
	pthread_mutex_unlock(&c->mu);
	if (!in) {
		if (!c->stopping)
			cluster_local_leave(c, "this node's member record was removed");
		return;
	}
	int changed = corosync_write(c, &e);
	if (changed < 0) {
		log_error("cluster: corosync.conf: %s", e.msg);
		return;
	}
	if (!running) {
		cluster_runtime_start(c);
	} else if (changed) {
		log_info("cluster: member list changed: reloading corosync");
		if (corosync_reload(&e) < 0)
			log_warn("cluster: %s", e.msg);
	}
}

static void do_connect(struct cluster *c)
{
	struct err e;
	pthread_mutex_lock(&c->mu);
	int want = c->running && !c->cpg_ok && !c->stopping, child = c->child > 0;
	pthread_mutex_unlock(&c->mu);
	if (!want)
		return;
	if (!child || cpg_connect(c, &e) < 0) {
		struct timeval tv = {0, CONNECT_RETRY_MS * 1000};
		evtimer_add(c->connect_timer, &tv);
		return;
	}
	if (quorum_connect(c, &e) < 0)
		log_warn("cluster: %s (writes stay refused until it works)", e.msg);
}

static void do_status(struct cluster *c)
{
	struct msg_sync s;
	struct err e;
	sync_digest(c, &s);
	pthread_mutex_lock(&c->mu);
	int ok = c->cpg_ok;
	s.view = c->view;
	s.backlog = (uint32_t)c->q_len;
	pthread_mutex_unlock(&c->mu);
	if (ok && cpg_send_sync(c, MSG_STATUS, &s, &e) < 0)
		log_debug("cluster: status: %s", e.msg);
}

/* Some members are not in our view: ask one of them (in turn) whether we
 * are still a member; a node removed while it was away leaves. */
static void do_check(struct cluster *c)
{
	char host[64];
	struct err e;
	json_t *reply = NULL;
	pthread_mutex_lock(&c->mu);
	uint32_t me = c->loc.nodeid;
	int port = 0;
	host[0] = '\0';
	for (size_t k = 0; k < c->nmembers && !host[0]; k++) {
		struct member *m = &c->members[(c->check_next + k) % c->nmembers];
		int in = 0;
		for (size_t i = 0; i < c->nround; i++)
			in |= c->round[i].nodeid == m->nodeid;
		if (!in && m->nodeid != me && m->addr[0]) {
			snprintf(host, sizeof host, "%s", m->addr);
			port = m->port;
			c->check_next = (c->check_next + k + 1) % c->nmembers;
		}
	}
	int ok = c->running && !c->loc.join_pending;
	pthread_mutex_unlock(&c->mu);
	if (!ok || !host[0] ||
	    peer_call(c, host, port, "GET", "/peer/v1/members", NULL, 2000, &reply, &e) != 200) {
		json_decref(reply);
		return;
	}
	int listed = 0, self = 0;
	size_t i;
	json_t *m;
	json_int_t them = json_integer_value(json_object_get(reply, "nodeid"));
	json_array_foreach(json_object_get(reply, "members"), i, m) {
		listed |= json_integer_value(json_object_get(m, "nodeid")) == me;
		self |= json_integer_value(json_object_get(m, "nodeid")) == them;
	}
	json_decref(reply);
	if (them > 0 && self && !listed)
		cluster_local_leave(c, "removed from the cluster while this node was away");
}

void cluster_task(struct cluster *c, unsigned bits)
{
	pthread_mutex_lock(&c->mu);
	c->tasks |= bits;
	pthread_cond_broadcast(&c->cv);
	pthread_mutex_unlock(&c->mu);
}

static void *task_main(void *arg)
{
	struct cluster *c = arg;
	pthread_mutex_lock(&c->mu);
	while (!c->stopping) {
		unsigned t = c->tasks;
		if (!t) {
			pthread_cond_wait(&c->cv, &c->mu);
			continue;
		}
		c->tasks = 0;
		pthread_mutex_unlock(&c->mu);
		if (t & TASK_MEMBERS)
			do_members(c);
		if (t & TASK_CONNECT)
			do_connect(c);
		if (t & TASK_RESUME)
			join_resume(c);
		if (t & TASK_PULL)
			sync_pull(c);
		if (t & TASK_STATUS)
			do_status(c);
		if (t & TASK_QINFO)
			quorum_refresh(c);
		if (t & TASK_CHECK)
			do_check(c);
		if (t & TASK_FAILOVER)
			failover_check(c);
		pthread_mutex_lock(&c->mu);
	}
	pthread_mutex_unlock(&c->mu);
	return NULL;
}

/* ---- the loop's side ---- */

static void on_restart_timer(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct cluster *c = arg;
	struct err e;
	pthread_mutex_lock(&c->mu);
	int want = c->running && !c->stopping && c->child <= 0;
	pthread_mutex_unlock(&c->mu);
	if (!want)
		return;
	if (corosync_child_start(c, &e) < 0) {
		log_error("cluster: cannot start corosync: %s", e.msg);
		pthread_mutex_lock(&c->mu);
		snprintf(c->child_error, sizeof c->child_error, "%s", e.msg);
		pthread_mutex_unlock(&c->mu);
		struct timeval tv = {5, 0};
		evtimer_add(c->restart_timer, &tv);
		return;
	}
	cluster_task(c, TASK_CONNECT);
}

static void on_connect_timer(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	cluster_task(arg, TASK_CONNECT);
}

static void on_status_timer(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct cluster *c = arg;
	pthread_mutex_lock(&c->mu);
	int ok = c->cpg_ok, running = c->running;
	int64_t now = time_now_ms();
	int resume = c->loc.join_pending && !c->join_busy && now >= c->resume_at_ms;
	int check = ok && !c->loc.join_pending && c->nround < c->nmembers && now >= c->check_at_ms;
	if (check)
		c->check_at_ms = now + 10000;
	pthread_mutex_unlock(&c->mu);
	if (resume)
		cluster_task(c, TASK_RESUME);
	if (check)
		cluster_task(c, TASK_CHECK);
	if (ok)
		cluster_task(c, TASK_STATUS | TASK_FAILOVER);
	else if (running)
		cluster_task(c, TASK_CONNECT);
}

static void on_sigchld(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	corosync_child_reap(arg);
}

static void on_config_change(void *arg, const char *key)
{
	struct cluster *c = arg;
	if (strncmp(key, MEMBER_PREFIX, strlen(MEMBER_PREFIX)) == 0 ||
	    strcmp(key, "setting/global/cluster_port") == 0 ||
	    strcmp(key, "setting/global/cluster_token_ms") == 0)
		cluster_task(c, TASK_MEMBERS);
}

/* ---- life ---- */

struct cluster *cluster_new(struct node *n, struct err *e)
{
	struct cluster *c = calloc(1, sizeof *c);
	if (!c) {
		err_set(e, "out of memory");
		return NULL;
	}
	c->node = n;
	c->cfg = n->cfg;
	c->loop_thread = pthread_self();
	c->dig_version = UINT64_MAX;
	pthread_mutex_init(&c->mu, NULL);
	pthread_mutex_init(&c->dbmu, NULL);
	pthread_mutex_init(&c->sendmu, NULL);
	pthread_cond_init(&c->cv, NULL);
	pthread_rwlock_init(&c->hmlock, NULL);
	snprintf(c->dir, sizeof c->dir, "%s/cluster", n->boot.data_dir);
	c->replay = peer_replay_new();
	c->db = db_open(n->db_path, e);
	if (!c->replay || !c->db || fs_mkdir_p(c->dir, 0700, e) < 0 ||
	    cluster_db_init(c->db, e) < 0 || local_load(c->db, &c->loc) < 0 ||
	    hostmap_load(c, c->db, e) < 0) {
		cluster_free(c);
		return NULL;
	}
	if (c->loc.secret[0])
		keys_derive(c->loc.secret, KEYS_LABEL_PEER, c->peer_key, sizeof c->peer_key);
	n->cluster = c;
	config_on_change(c->cfg, on_config_change, c);
	return c;
}

int cluster_start(struct cluster *c, struct err *e)
{
	struct event_base *base = c->node->base;
	c->restart_timer = evtimer_new(base, on_restart_timer, c);
	c->connect_timer = evtimer_new(base, on_connect_timer, c);
	c->status_timer = event_new(base, -1, EV_PERSIST, on_status_timer, c);
	c->sigchld = evsignal_new(base, SIGCHLD, on_sigchld, c);
	struct timeval tv = {CLUSTER_STATUS_MS / 1000, (CLUSTER_STATUS_MS % 1000) * 1000};
	if (!c->restart_timer || !c->connect_timer || !c->status_timer || !c->sigchld ||
	    event_add(c->status_timer, &tv) < 0 || event_add(c->sigchld, NULL) < 0)
		return err_set(e, "cluster: cannot create events");
	if (pthread_create(&c->apply_th, NULL, apply_main, c) != 0 ||
	    pthread_create(&c->task_th, NULL, task_main, c) != 0)
		return err_set(e, "cluster: cannot start threads");
	c->threads_started = 1;
	pthread_mutex_lock(&c->mu);
	uint32_t id = c->loc.nodeid;
	int joining = c->loc.join_pending;
	pthread_mutex_unlock(&c->mu);
	if (id) {
		log_info("cluster: member of a cluster as node %u: rejoining", id);
		cluster_task(c, TASK_MEMBERS | (joining ? TASK_RESUME : 0));
	}
	return 0;
}

void cluster_stop(struct cluster *c)
{
	if (!c)
		return;
	config_set_replicator(c->cfg, NULL, NULL);
	pthread_mutex_lock(&c->mu);
	c->stopping = 1;
	int64_t now = time_now_ms();
	for (size_t i = 0; i < c->nround; i++) /* we lose sight of everyone */
		if (c->round[i].nodeid != c->loc.nodeid &&
		    sync_left_get(&c->loc, c->round[i].nodeid) == UINT64_MAX)
			sync_left_set(&c->loc, c->round[i].nodeid, hlc_tick(c->dig.maxhlc, now));
	cpg_fail_waiters(c);
	pthread_cond_broadcast(&c->cv);
	pthread_mutex_unlock(&c->mu);
	if (c->threads_started)
		pthread_join(c->task_th, NULL);
	cpg_disconnect(c);
	quorum_disconnect(c);
	if (c->threads_started)
		pthread_join(c->apply_th, NULL);
	c->threads_started = 0;
	if (c->loc.nodeid)
		local_save(c, NULL);
	corosync_child_stop(c);
}

void cluster_free(struct cluster *c)
{
	if (!c)
		return;
	struct event *evs[] = {c->restart_timer, c->connect_timer, c->status_timer, c->sigchld};
	for (size_t i = 0; i < sizeof evs / sizeof evs[0]; i++)
		if (evs[i])
			event_free(evs[i]);
	while (c->q_head) {
		struct cl_event *ev = c->q_head;
		c->q_head = ev->next;
		free(ev->data);
		free(ev);
	}
	while (c->held_head) {
		struct cl_event *ev = c->held_head;
		c->held_head = ev->next;
		free(ev->data);
		free(ev);
	}
	if (c->node && c->node->cluster == c)
		c->node->cluster = NULL;
	hostmap_free(c);
	peer_replay_free(c->replay);
	db_close(c->db);
	pthread_rwlock_destroy(&c->hmlock);
	pthread_cond_destroy(&c->cv);
	pthread_mutex_destroy(&c->sendmu);
	pthread_mutex_destroy(&c->dbmu);
	pthread_mutex_destroy(&c->mu);
	free(c);
}
