/* Node-local state of the cluster module, in the node database: never
 * replicated, never exported. cluster_local holds name/value pairs
 * (secret, hostname, nodeid, join_pending, join_via, left marks);
 * cluster_hostmap the Local Host Map; cluster_conflicts the overwritten
 * concurrent changes (sync.c). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/cluster_int.h"
#include "store/db.h"

static const char schema[] =
	"CREATE TABLE IF NOT EXISTS cluster_local(name TEXT PRIMARY KEY, value TEXT NOT NULL);"
	"CREATE TABLE IF NOT EXISTS cluster_hostmap(name TEXT PRIMARY KEY, address TEXT NOT NULL);"
	"CREATE TABLE IF NOT EXISTS cluster_conflicts(id INTEGER PRIMARY KEY, time_ms INTEGER NOT NULL,"
	" key TEXT NOT NULL, winner_value TEXT, winner_hlc INTEGER NOT NULL,"
	" winner_node INTEGER NOT NULL, loser_value TEXT, loser_hlc INTEGER NOT NULL,"
	" loser_node INTEGER NOT NULL, UNIQUE(key, loser_hlc, loser_node));";

int cluster_db_init(sqlite3 *db, struct err *e)
{
	return db_exec(db, schema, e);
}

int local_get(sqlite3 *db, const char *name, char *out, size_t outlen)
{
	struct err e;
	sqlite3_stmt *st = db_cached(db, "SELECT value FROM cluster_local WHERE name = ?1", &e);
	if (!st)
		return 0;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	int found = 0;
	if (sqlite3_step(st) == SQLITE_ROW) {
		const char *v = (const char *)sqlite3_column_text(st, 0);
		snprintf(out, outlen, "%s", v ? v : "");
		found = 1;
	}
	sqlite3_reset(st);
	return found;
}

int local_put(sqlite3 *db, const char *name, const char *value, struct err *e)
{
	sqlite3_stmt *st = db_cached(db,
				     value ? "INSERT INTO cluster_local(name, value) VALUES(?1, ?2)"
					     " ON CONFLICT(name) DO UPDATE SET value = excluded.value"
					   : "DELETE FROM cluster_local WHERE name = ?1",
				     e);
	if (!st)
		return -1;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	if (value)
		sqlite3_bind_text(st, 2, value, -1, SQLITE_STATIC);
	return db_step_done(st, e);
}

int local_load(sqlite3 *db, struct cluster_local *l)
{
	char v[400];
	memset(l, 0, sizeof *l);
	local_get(db, "secret", l->secret, sizeof l->secret);
	local_get(db, "hostname", l->hostname, sizeof l->hostname);
	if (local_get(db, "nodeid", v, sizeof v))
		l->nodeid = (uint32_t)strtoul(v, NULL, 10);
	if (local_get(db, "join_pending", v, sizeof v))
		l->join_pending = atoi(v) != 0;
	local_get(db, "join_via", l->join_via, sizeof l->join_via);
	local_get(db, "self_addr", l->self_addr, sizeof l->self_addr);
	char marks[2 * CLUSTER_MAX_MEMBERS * 32];
	if (local_get(db, "left", marks, sizeof marks)) {
		char *save = NULL;
		for (char *t = strtok_r(marks, ",", &save); t && l->nleft < 2 * CLUSTER_MAX_MEMBERS;
		     t = strtok_r(NULL, ",", &save)) {
			char *colon = strchr(t, ':');
			if (!colon)
				continue;
			l->left[l->nleft].nodeid = (uint32_t)strtoul(t, NULL, 10);
			l->left[l->nleft++].hlc = strtoull(colon + 1, NULL, 10);
		}
	}
	return 0;
}

/* Saves every field of c->loc in one transaction; takes mu for the copy. */
int local_save(struct cluster *c, struct err *e)
{
	struct cluster_local l;
	char id[16], jp[4], marks[2 * CLUSTER_MAX_MEMBERS * 32] = "";
	pthread_mutex_lock(&c->mu);
	l = c->loc;
	pthread_mutex_unlock(&c->mu);
	snprintf(id, sizeof id, "%u", l.nodeid);
	snprintf(jp, sizeof jp, "%d", l.join_pending);
	for (size_t i = 0; i < l.nleft; i++)
		snprintf(marks + strlen(marks), sizeof marks - strlen(marks), "%s%u:%" PRIu64,
			 i ? "," : "", l.left[i].nodeid, l.left[i].hlc);
	const struct {
		const char *name, *value;
	} rows[] = {
		{"secret", l.secret[0] ? l.secret : NULL}, {"hostname", l.hostname[0] ? l.hostname : NULL},
		{"nodeid", id}, {"join_pending", jp},
		{"join_via", l.join_via[0] ? l.join_via : NULL}, {"left", marks},
		{"self_addr", l.self_addr[0] ? l.self_addr : NULL},
	};
	pthread_mutex_lock(&c->dbmu);
	int rc = db_begin(c->db, e);
	for (size_t i = 0; i < sizeof rows / sizeof rows[0] && rc == 0; i++)
		rc = local_put(c->db, rows[i].name, rows[i].value, e);
	if (rc == 0)
		rc = db_commit(c->db, e);
	if (rc < 0)
		db_rollback(c->db);
	pthread_mutex_unlock(&c->dbmu);
	return rc;
}
