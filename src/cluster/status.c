/* What the Clustering page, the API and `rampart cluster status` show:
 * this node's cluster state, every member with its state light, config
 * version and last contact; the conflict list; delivery delays. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/cluster_int.h"
#include "cluster/hlc.h"
#include "node.h"
#include "store/db.h"
#include "util/timeutil.h"

static const char *const state_names[] = {"down", "syncing", "up"};
static const char *const lights[] = {"red", "yellow", "green"};

static void hex16(const unsigned char *d, char out[17])
{
	for (int i = 0; i < 8; i++)
		snprintf(out + 2 * i, 3, "%02x", d[i]);
}

static void time_json(json_t *o, const char *key, int64_t ms)
{
	char iso[40], k[64];
	snprintf(k, sizeof k, "%s_ms", key);
	if (ms <= 0) {
		json_object_set_new(o, key, json_null());
		json_object_set_new(o, k, json_null());
		return;
	}
	time_iso8601((time_t)(ms / 1000), iso, sizeof iso);
	json_object_set_new(o, key, json_string(iso));
	json_object_set_new(o, k, json_integer(ms));
}

/* This member's own state (mu held). */
static enum member_state my_state(struct cluster *c)
{
	if (!c->cpg_ok)
		return MS_DOWN;
	return c->synced && !c->loc.join_pending ? MS_UP : MS_SYNCING;
}

static json_t *member_json(struct cluster *c, const struct member *m, const struct msg_sync *mine,
			   int64_t now)
{
	json_t *o = member_record_json(m);
	const struct round_peer *r = NULL;
	for (size_t i = 0; i < c->nround; i++)
		if (c->round[i].nodeid == m->nodeid)
			r = &c->round[i];
	int local = m->nodeid == c->loc.nodeid;
	enum member_state st = local ? my_state(c) : !r ? MS_DOWN : r->done ? MS_UP : MS_SYNCING;
	const struct msg_sync *s = local ? mine : r ? &r->last : NULL;
	char dig[17] = "";
	if (s && s->rows)
		hex16(s->digest, dig);
	json_object_set_new(o, "nodeid", json_integer(m->nodeid));
	json_object_set_new(o, "address", json_string(m->addr));
	json_object_set_new(o, "state", json_string(state_names[st]));
	json_object_set_new(o, "light", json_string(lights[st]));
	json_object_set_new(o, "local", json_boolean(local));
	json_object_set_new(o, "config_version", s ? json_integer((json_int_t)s->maxhlc) : json_null());
	json_object_set_new(o, "config_digest", dig[0] ? json_string(dig) : json_null());
	json_object_set_new(o, "backlog", json_integer(local ? (json_int_t)c->q_len
						       : s ? (json_int_t)s->backlog : 0));
	time_json(o, "last_seen", local || r ? now : m->last_seen_ms);
	if (m->resolve_error[0])
		json_object_set_new(o, "error", json_string(m->resolve_error));
	return o;
}

/* Offline (no daemon): what the node database says. */
static json_t *status_offline(sqlite3 *db)
{
	struct cluster_local l;
	local_load(db, &l);
	return json_pack("{s:b,s:b,s:I,s:s,s:b,s:s,s:[]}", "clustered", l.nodeid != 0, "running", 0,
			 "nodeid", (json_int_t)l.nodeid, "hostname", l.hostname, "secret_set",
			 l.secret[0] != '\0', "state", l.nodeid ? "down" : "single", "members");
}

static json_t *members_locked(struct cluster *c, const struct msg_sync *mine, int64_t now)
{
	json_t *arr = json_array();
	if (c->loc.nodeid == 0) { /* a single node shows itself */
		struct member self = {0};
		snprintf(self.name, sizeof self.name, "%s", c->loc.hostname);
		snprintf(self.role, sizeof self.role, "active");
		self.port = cluster_my_port(c);
		json_t *o = member_record_json(&self);
		json_object_set_new(o, "nodeid", json_integer(0));
		json_object_set_new(o, "address", json_string(""));
		json_object_set_new(o, "state", json_string("up"));
		json_object_set_new(o, "light", json_string("green"));
		json_object_set_new(o, "local", json_true());
		json_object_set_new(o, "config_version", json_integer((json_int_t)mine->maxhlc));
		json_object_set_new(o, "backlog", json_integer(0));
		time_json(o, "last_seen", now);
		json_array_append_new(arr, o);
		return arr;
	}
	for (size_t i = 0; i < c->nmembers; i++)
		json_array_append_new(arr, member_json(c, &c->members[i], mine, now));
	return arr;
}

json_t *cluster_members_json(struct node *n, sqlite3 *db)
{
	struct cluster *c = n->cluster;
	struct msg_sync mine;
	if (!c) {
		json_t *st = status_offline(db), *arr = json_incref(json_object_get(st, "members"));
		json_decref(st);
		return arr;
	}
	sync_digest(c, &mine);
	pthread_mutex_lock(&c->mu);
	json_t *arr = members_locked(c, &mine, time_now_ms());
	pthread_mutex_unlock(&c->mu);
	return arr;
}

json_t *cluster_status_json(struct node *n, sqlite3 *db)
{
	struct cluster *c = n->cluster;
	struct msg_sync mine;
	char dig[17], view[17], stamp[48];
	if (!c)
		return status_offline(db);
	sync_digest(c, &mine);
	hex16(mine.digest, dig);
	hlc_format(mine.maxhlc, stamp, sizeof stamp);
	int64_t now = time_now_ms();
	pthread_mutex_lock(&c->mu);
	const char *state = c->loc.nodeid == 0	  ? "single"
			    : c->loc.join_pending ? "joining"
						  : state_names[my_state(c)];
	snprintf(view, sizeof view, "%016" PRIx64, c->view);
	json_t *o = json_pack(
		"{s:b,s:I,s:s,s:s,s:b,s:b,s:{s:I,s:I,s:I},s:{s:b,s:I,s:s},s:s,s:I,s:I,s:s,s:s,s:I}",
		"clustered", c->loc.nodeid != 0, "nodeid", (json_int_t)c->loc.nodeid, "hostname",
		c->loc.hostname, "state", state, "secret_set", c->loc.secret[0] != '\0', "quorate",
		c->quorate, "votes", "expected", (json_int_t)c->expected_votes, "total",
		(json_int_t)c->total_votes, "quorum", (json_int_t)c->quorum_votes, "corosync",
		"running", c->child > 0, "pid", (json_int_t)c->child, "error", c->child_error, "view",
		view, "backlog", (json_int_t)c->q_len, "config_version", (json_int_t)mine.maxhlc,
		"config_digest", dig, "config_changed", stamp, "config_rows", (json_int_t)mine.rows);
	json_object_set_new(o, "members", members_locked(c, &mine, now));
	pthread_mutex_unlock(&c->mu);
	return o;
}

/* ---- conflicts ---- */

static json_t *side_json(sqlite3_stmt *st, int col)
{
	char stamp[48];
	uint64_t h = (uint64_t)sqlite3_column_int64(st, col + 1);
	hlc_format(h, stamp, sizeof stamp);
	const char *v = (const char *)sqlite3_column_text(st, col);
	return json_pack("{s:o,s:I,s:I,s:s}", "value", v ? json_string(v) : json_null(), "hlc",
			 (json_int_t)h, "node", (json_int_t)sqlite3_column_int64(st, col + 2), "stamp",
			 stamp);
}

json_t *cluster_conflicts_json(struct node *n, sqlite3 *db, int limit, int offset)
{
	(void)n;
	json_t *rows = json_array();
	long long total = 0;
	sqlite3_stmt *st = db_cached(db, "SELECT count(*) FROM cluster_conflicts", NULL);
	if (st && sqlite3_step(st) == SQLITE_ROW)
		total = sqlite3_column_int64(st, 0);
	if (st)
		sqlite3_reset(st);
	st = db_cached(db,
		       "SELECT id, time_ms, key, winner_value, winner_hlc, winner_node, loser_value,"
		       " loser_hlc, loser_node FROM cluster_conflicts ORDER BY id DESC LIMIT ?1 OFFSET ?2",
		       NULL);
	if (st) {
		sqlite3_bind_int(st, 1, limit);
		sqlite3_bind_int(st, 2, offset);
		while (sqlite3_step(st) == SQLITE_ROW) {
			json_t *o = json_pack("{s:I,s:s}", "id", (json_int_t)sqlite3_column_int64(st, 0),
					      "key", (const char *)sqlite3_column_text(st, 2));
			time_json(o, "time", sqlite3_column_int64(st, 1));
			json_object_set_new(o, "winner", side_json(st, 3));
			json_object_set_new(o, "loser", side_json(st, 6));
			json_array_append_new(rows, o);
		}
		sqlite3_reset(st);
	}
	return json_pack("{s:I,s:o}", "total", (json_int_t)total, "rows", rows);
}

int cluster_conflicts_clear(struct node *n, sqlite3 *db, struct err *e)
{
	(void)n;
	return db_exec(db, "DELETE FROM cluster_conflicts", e);
}

json_t *cluster_latency_json(struct node *n)
{
	struct cluster *c = n->cluster;
	json_t *arr = json_array();
	if (!c)
		return json_pack("{s:o}", "samples", arr);
	pthread_mutex_lock(&c->mu);
	size_t have = c->nlat < CLUSTER_LAT_SAMPLES ? c->nlat : CLUSTER_LAT_SAMPLES;
	for (size_t k = 0; k < have; k++) {
		size_t i = (c->nlat - have + k) % CLUSTER_LAT_SAMPLES;
		json_array_append_new(arr, json_pack("[I,I,I]", (json_int_t)c->lat[i].origin,
						     (json_int_t)c->lat[i].seq,
						     (json_int_t)c->lat[i].delay_us));
	}
	uint32_t me = c->loc.nodeid;
	pthread_mutex_unlock(&c->mu);
	return json_pack("{s:I,s:o}", "nodeid", (json_int_t)me, "samples", arr);
}
