/* SQLite helpers: every module that keeps local state opens its own
 * connection with db_open (one connection per thread; SQLite serialises
 * writers across connections through the WAL lock). */
#ifndef RAMPART_STORE_DB_H
#define RAMPART_STORE_DB_H

#include <sqlite3.h>

#include "util/err.h"

/* Opens (creating if needed) the database at path with WAL,
 * busy_timeout 10000, synchronous=NORMAL and foreign_keys=ON.
 * Returns NULL and fills e on failure. */
sqlite3 *db_open(const char *path, struct err *e);
/* Runs one or more SQL statements that take no parameters. */
int db_exec(sqlite3 *db, const char *sql, struct err *e);
/* Finalizes every statement still attached to db (including the ones
 * cached by db_cached) and closes it. NULL is a no-op. Use this rather
 * than sqlite3_close so cached statements never keep a connection alive. */
void db_close(sqlite3 *db);
/* Prepares sql; NULL and e filled on failure. */
sqlite3_stmt *db_prepare(sqlite3 *db, const char *sql, struct err *e);
/* A prepared statement for sql that stays attached to db (found again on
 * the next call by its text, so hot paths prepare once per connection).
 * The statement is reset and its bindings cleared before it is returned;
 * the caller must not finalize it (db_close does). */
sqlite3_stmt *db_cached(sqlite3 *db, const char *sql, struct err *e);
/* Steps a statement that returns no rows and resets it; 0 on SQLITE_DONE. */
int db_step_done(sqlite3_stmt *st, struct err *e);
/* BEGIN IMMEDIATE / COMMIT / ROLLBACK (rollback never fails loudly). */
int db_begin(sqlite3 *db, struct err *e);
int db_commit(sqlite3 *db, struct err *e);
void db_rollback(sqlite3 *db);

#endif
