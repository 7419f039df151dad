/* The joiner's side of a join (see join.c for the whole procedure). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cluster/cluster_int.h"
#include "node.h"
#include "store/config.h"
#include "util/fsutil.h"
#include "util/log.h"
#include "util/timeutil.h"

#define JOIN_TIMEOUT_MS 20000
#define JOIN_VIEW_WAIT_MS 30000
#define ROWS_TIMEOUT_MS 60000
#define RESUME_RETRY_MS 10000
#define USERS_FILE_MAX (512u << 20)

static const char *const user_prefixes[] = {"user/", "ulist/", "setting/user/"};

static int is_user_key(const char *key)
{
	for (size_t i = 0; i < sizeof user_prefixes / sizeof *user_prefixes; i++)
		if (strncmp(key, user_prefixes[i], strlen(user_prefixes[i])) == 0)
			return 1;
	return 0;
}

static void users_file(struct cluster *c, char *out, size_t len)
{
	snprintf(out, len, "%s/join-users.json", c->dir);
}

static int join_error(int st, json_t *reply, const char *host, const struct err *te,
		      struct err *e)
{
	const char *msg = json_string_value(json_object_get(reply, "error"));
	const char *code = json_string_value(json_object_get(reply, "code"));
	if (st == 0)
		return err_set(e, "cannot reach %s: %s", host, te->msg);
	if (code && strcmp(code, "auth") == 0)
		return err_set(e, "join refused by %s: this node's Cluster Shared Secret is not the "
				  "cluster's",
			       host);
	if (msg)
		return err_set(e, "join refused by %s: %s", host, msg);
	return err_set(e, "join refused by %s (HTTP %d)", host, st);
}

/* ---- the users of the joiner, kept across the replacement ---- */

static int users_save(struct cluster *c, struct err *e)
{
	char path[4400];
	json_t *all = config_export_raw(c->cfg), *keep = json_array(), *row;
	size_t i;
	json_array_foreach(all, i, row) {
		const char *key = json_string_value(json_object_get(row, "key"));
		if (key && is_user_key(key) && json_is_string(json_object_get(row, "value")))
			json_array_append(keep, row);
	}
	json_decref(all);
	char *text = json_dumps(keep, JSON_COMPACT);
	size_t n = json_array_size(keep);
	json_decref(keep);
	users_file(c, path, sizeof path);
	int rc = text ? fs_write_atomic(path, text, strlen(text), 0600, e) : err_set(e, "out of memory");
	free(text);
	if (rc == 0)
		log_info("cluster: %zu user row(s) of this node kept for merging", n);
	return rc;
}

/* Sends the saved user rows through the cluster (stamps kept: the newest
 * row of each key wins everywhere); the file goes once they are applied. */
static int users_merge(struct cluster *c, struct err *e)
{
	char path[4400];
	char *text = NULL;
	size_t len = 0, n = 0;
	users_file(c, path, sizeof path);
	if (access(path, F_OK) != 0)
		return 0;
	if (fs_read_all(path, USERS_FILE_MAX, &text, &len, e) < 0)
		return -1;
	json_t *rows = json_loadb(text, len, 0, NULL);
	free(text);
	struct config_rawchange *ch = rows ? sync_rows_parse(rows, &n, e) : NULL;
	if (!ch) {
		json_decref(rows);
		log_error("cluster: %s unreadable: the joiner's users were not merged", path);
		return -1;
	}
	int rc = n ? cpg_replicate(c, ch, n, MSG_F_MERGE, e) : 0;
	if (rc == 0) {
		unlink(path);
		log_info("cluster: merged %zu user row(s) of this node into the cluster", n);
	}
	free(ch);
	json_decref(rows);
	return rc;
}

/* ---- joining ---- */

static int parse_members(json_t *arr, struct member *ms, size_t *n)
{
	size_t i;
	json_t *m;
	*n = 0;
	json_array_foreach(arr, i, m) {
		if (*n == CLUSTER_MAX_MEMBERS)
			return -1;
		struct member *x = &ms[(*n)++];
		memset(x, 0, sizeof *x);
		x->nodeid = (uint32_t)json_integer_value(json_object_get(m, "nodeid"));
		snprintf(x->name, sizeof x->name, "%s", json_string_value(json_object_get(m, "name")));
		snprintf(x->role, sizeof x->role, "%s", json_string_value(json_object_get(m, "role")));
		x->port = (int)json_integer_value(json_object_get(m, "port"));
		x->joined_ms = json_integer_value(json_object_get(m, "joined_ms"));
		if (!x->nodeid || !x->name[0])
			return -1;
	}
	return *n ? 0 : -1;
}

/* Every member's name must resolve here (ours may not: peers told us
 * the address they see). */
static int resolve_all(struct cluster *c, json_t *members, struct err *e)
{
	char addr[64];
	size_t i;
	json_t *m;
	struct err re;
	json_array_foreach(members, i, m) {
		const char *name = json_string_value(json_object_get(m, "name"));
		if (!name || cluster_resolve(c->node, name, addr, sizeof addr, &re) < 0)
			return err_set(e, "member %s: %s", name ? name : "?", re.msg);
	}
	return 0;
}

/* Waits until corosync put this node in one view with another member. */
static int wait_for_view(struct cluster *c, struct err *e)
{
	int64_t until = time_mono_us() + JOIN_VIEW_WAIT_MS * 1000LL;
	for (;;) {
		pthread_mutex_lock(&c->mu);
		int ok = c->cpg_ok && c->nround >= 2, stop = c->stopping;
		int port = c->child > 0;
		pthread_mutex_unlock(&c->mu);
		if (ok)
			return 0;
		if (stop)
			return err_set(e, "rampartd is stopping");
		if (time_mono_us() > until)
			return err_set(e,
				       "the cluster engine of this node did not reach the cluster within "
				       "%d s (%s; is UDP port %d open between the members? see %s/"
				       "corosync.log); the join goes on in the background",
				       JOIN_VIEW_WAIT_MS / 1000,
				       port ? "corosync runs" : "corosync is not running",
				       (int)config_int(c->cfg, "cluster_port", NULL, NULL), c->dir);
		usleep(50000);
	}
}

static int install_snapshot(struct cluster *c, json_t *reply, struct err *e)
{
	size_t n;
	struct config_rawchange *rows = sync_rows_parse(json_object_get(reply, "rows"), &n, e);
	if (!rows)
		return -1;
	int rc = config_replace_raw(c->cfg, rows, n, e);
	free(rows);
	if (rc < 0)
		return -1;
	sync_release_held(c);
	if (local_save(c, e) < 0)
		return -1;
	log_info("cluster: installed the cluster's configuration (%zu rows)", n);
	return 0;
}

/* The cluster's rows for us: from the member we joined through, else
 * from any other member in our view. */
static json_t *fetch_snapshot(struct cluster *c, const char *via, uint32_t me, struct err *e)
{
	char host[256], target[64];
	int port;
	struct err te;
	json_t *reply = NULL;
	snprintf(target, sizeof target, "/peer/v1/rows?for=%u", me);
	if (peer_split(via, host, sizeof host, &port, cluster_my_port(c), e) < 0)
		return NULL;
	int st = peer_call(c, host, port, "GET", target, NULL, ROWS_TIMEOUT_MS, &reply, &te);
	if (st == 200)
		return reply;
	join_error(st, reply, host, &te, e);
	json_decref(reply);
	for (size_t k = 0;; k++) {
		pthread_mutex_lock(&c->mu);
		int found = 0;
		for (size_t i = 0, n = 0; i < c->nmembers && !found; i++) {
			struct member *m = &c->members[i];
			int in = 0;
			for (size_t r = 0; r < c->nround; r++)
				in |= c->round[r].nodeid == m->nodeid;
			if (in && m->nodeid != me && m->addr[0] && n++ == k) {
				snprintf(host, sizeof host, "%s", m->addr);
				port = m->port;
				found = 1;
			}
		}
		pthread_mutex_unlock(&c->mu);
		if (!found)
			return NULL; /* e: why the member we joined through failed */
		reply = NULL;
		if (peer_call(c, host, port, "GET", target, NULL, ROWS_TIMEOUT_MS, &reply, &te) == 200)
			return reply;
		json_decref(reply);
	}
}

int join_finish(struct cluster *c, struct err *e)
{
	struct err te;
	pthread_mutex_lock(&c->mu);
	char via[sizeof c->loc.join_via];
	snprintf(via, sizeof via, "%s", c->loc.join_via);
	uint32_t me = c->loc.nodeid;
	pthread_mutex_unlock(&c->mu);
	if (wait_for_view(c, e) < 0)
		return -1;
	json_t *reply = fetch_snapshot(c, via, me, e);
	if (!reply)
		return -1;
	int rc = install_snapshot(c, reply, e);
	json_decref(reply);
	if (rc < 0)
		return -1;
	if (users_merge(c, &te) < 0)
		log_error("cluster: merging this node's users failed (%s); retried later", te.msg);
	struct msg_sync s;
	sync_digest(c, &s);
	pthread_mutex_lock(&c->mu);
	s.view = c->view;
	pthread_mutex_unlock(&c->mu);
	if (cpg_send_sync(c, MSG_DONE, &s, &te) < 0)
		log_warn("cluster: cannot send DONE: %s", te.msg);
	cluster_task(c, TASK_MEMBERS);
	log_info("cluster: joined the cluster through %s as node %u", via, me);
	return 0;
}

/* Becomes node `reply.nodeid`: state, corosync, CPG; then finishes. */
static int join_start(struct cluster *c, json_t *reply, const char *via, struct err *e)
{
	struct member *ms = calloc(CLUSTER_MAX_MEMBERS, sizeof *ms);
	size_t n;
	uint32_t id = (uint32_t)json_integer_value(json_object_get(reply, "nodeid"));
	if (!ms)
		return err_set(e, "out of memory");
	if (id == 0 || parse_members(json_object_get(reply, "members"), ms, &n) < 0) {
		free(ms);
		return err_set(e, "malformed join reply");
	}
	if (users_save(c, e) < 0) {
		free(ms);
		return -1;
	}
	pthread_mutex_lock(&c->mu);
	c->loc.nodeid = id;
	c->loc.join_pending = 1;
	snprintf(c->loc.self_addr, sizeof c->loc.self_addr, "%s",
		 json_string_value(json_object_get(reply, "address")) ?: "");
	snprintf(c->loc.join_via, sizeof c->loc.join_via, "%s", via);
	c->loc.nleft = 0;
	pthread_mutex_unlock(&c->mu);
	cluster_members_set(c, ms, n); /* resolved here; our own address as the peer saw it */
	free(ms);
	config_set_node_id(c->cfg, id);
	if (local_save(c, e) < 0 || corosync_write(c, e) < 0)
		return -1;
	log_info("cluster: accepted as node %u through %s: starting corosync", id, via);
	cluster_runtime_start(c);
	return join_finish(c, e);
}

static int join_run(struct cluster *c, const char *host, int port, const char *via,
		    struct err *e)
{
	struct err te;
	json_t *reply = NULL;
	pthread_mutex_lock(&c->mu);
	json_t *body = json_pack("{s:s,s:s,s:i}", "phase", "check", "name", c->loc.hostname, "port",
				 cluster_my_port(c));
	pthread_mutex_unlock(&c->mu);
	int st = peer_call(c, host, port, "POST", "/peer/v1/join", body, JOIN_TIMEOUT_MS, &reply, &te);
	if (st != 200) {
		join_error(st, reply, host, &te, e);
		json_decref(reply);
		json_decref(body);
		return -1;
	}
	int rc = resolve_all(c, json_object_get(reply, "members"), e);
	json_decref(reply);
	reply = NULL;
	if (rc == 0) {
		json_object_set_new(body, "phase", json_string("commit"));
		st = peer_call(c, host, port, "POST", "/peer/v1/join", body, JOIN_TIMEOUT_MS, &reply,
			       &te);
		rc = st == 200 ? join_start(c, reply, via, e) : join_error(st, reply, host, &te, e);
	}
	json_decref(reply);
	json_decref(body);
	return rc;
}

int cluster_join(struct node *n, const char *target, struct err *e)
{
	struct cluster *c = n->cluster;
	char host[256];
	int port;
	if (!c)
		return err_set(e, "rampartd is not running on this node: start it to join a cluster");
	if (peer_split(target, host, sizeof host, &port, cluster_my_port(c), e) < 0)
		return -1;
	pthread_mutex_lock(&c->mu);
	int have = c->loc.secret[0] != '\0', member = c->loc.nodeid != 0, busy = c->join_busy;
	if (have && !member && !busy)
		c->join_busy = 1;
	pthread_mutex_unlock(&c->mu);
	if (!have)
		return err_set(e, "set this node's Cluster Shared Secret first (the same as the "
				  "cluster's)");
	if (member)
		return err_set(e, "this node is already a member of a cluster: leave it first");
	if (busy)
		return err_set(e, "a join is already in progress");
	log_info("cluster: joining the cluster of %s", target);
	int rc = join_run(c, host, port, target, e);
	pthread_mutex_lock(&c->mu);
	c->join_busy = 0;
	c->resume_at_ms = time_now_ms() + RESUME_RETRY_MS;
	pthread_mutex_unlock(&c->mu);
	if (rc < 0)
		log_error("cluster: join through %s: %s", target, e->msg);
	return rc;
}

void join_resume(struct cluster *c)
{
	struct err e;
	pthread_mutex_lock(&c->mu);
	int pending = c->loc.join_pending, busy = c->join_busy;
	if (!busy)
		c->join_busy = 1;
	pthread_mutex_unlock(&c->mu);
	if (busy)
		return;
	int rc = pending ? join_finish(c, &e) : users_merge(c, &e);
	pthread_mutex_lock(&c->mu);
	c->join_busy = 0;
	c->resume_at_ms = time_now_ms() + RESUME_RETRY_MS;
	pthread_mutex_unlock(&c->mu);
	if (rc < 0)
		log_warn("cluster: finishing the join: %s (retrying)", e.msg);
}
