#include "store/db.h"

#include <stdio.h>
#include <string.h>

/* Marks the statements db_cached owns, so a caller's own statement with
 * the same text is never picked up and reset under its feet. */
#define CACHED_MARK "/*rampart-cached*/"

sqlite3 *db_open(const char *path, struct err *e)
{
	sqlite3 *db = NULL;
	int rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
	if (rc != SQLITE_OK) {
		err_set(e, "open database %s: %s", path, db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
		sqlite3_close(db);
		return NULL;
	}
	sqlite3_extended_result_codes(db, 1);
	sqlite3_busy_timeout(db, 10000);
	/* NORMAL in WAL mode loses at most the last commits on power loss,
	 * never consistency; the message spool has its own fsyncs. */
	if (db_exec(db,
		    "PRAGMA journal_mode=WAL;"
		    "PRAGMA synchronous=NORMAL;"
		    "PRAGMA foreign_keys=ON;",
		    e) < 0) {
		char msg[sizeof e->msg];
		snprintf(msg, sizeof msg, "%s", e ? e->msg : "");
		sqlite3_close(db);
		err_set(e, "open database %s: %s", path, msg);
		return NULL;
	}
	return db;
}

int db_exec(sqlite3 *db, const char *sql, struct err *e)
{
	char *msg = NULL;
	int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
	if (rc != SQLITE_OK) {
		err_set(e, "sqlite: %s", msg ? msg : sqlite3_errstr(rc));
		sqlite3_free(msg);
		return -1;
	}
	return 0;
}

void db_close(sqlite3 *db)
{
	if (!db)
		return;
	sqlite3_stmt *st;
	while ((st = sqlite3_next_stmt(db, NULL)) != NULL)
		sqlite3_finalize(st);
	sqlite3_close(db);
}

sqlite3_stmt *db_prepare(sqlite3 *db, const char *sql, struct err *e)
{
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
		err_set(e, "sqlite prepare: %s", sqlite3_errmsg(db));
		sqlite3_finalize(st);
		return NULL;
	}
	return st;
}

sqlite3_stmt *db_cached(sqlite3 *db, const char *sql, struct err *e)
{
	const size_t ml = sizeof CACHED_MARK - 1;
	for (sqlite3_stmt *st = sqlite3_next_stmt(db, NULL); st; st = sqlite3_next_stmt(db, st)) {
		const char *s = sqlite3_sql(st);
		if (s && strncmp(s, CACHED_MARK, ml) == 0 && strcmp(s + ml, sql) == 0) {
			sqlite3_reset(st);
			sqlite3_clear_bindings(st);
			return st;
		}
	}
	char *text = sqlite3_mprintf("%s%s", CACHED_MARK, sql);
	if (!text) {
		err_set(e, "sqlite prepare: out of memory");
		return NULL;
	}
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v3(db, text, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL);
	sqlite3_free(text);
	if (rc != SQLITE_OK) {
		err_set(e, "sqlite prepare: %s", sqlite3_errmsg(db));
		sqlite3_finalize(st);
		return NULL;
	}
	return st;
}

int db_step_done(sqlite3_stmt *st, struct err *e)
{
	int rc = sqlite3_step(st);
	if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
		err_set(e, "sqlite: %s", sqlite3_errmsg(sqlite3_db_handle(st)));
		sqlite3_reset(st);
		return -1;
	}
	sqlite3_reset(st);
	return 0;
}

int db_begin(sqlite3 *db, struct err *e)
{
	return db_exec(db, "BEGIN IMMEDIATE", e);
}

int db_commit(sqlite3 *db, struct err *e)
{
	return db_exec(db, "COMMIT", e);
}

void db_rollback(sqlite3 *db)
{
	if (!sqlite3_get_autocommit(db))
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
}
