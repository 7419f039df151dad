#include "store/quarantine.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "store/db.h"
#include "util/fsutil.h"
#include "util/timeutil.h"

static const char *schema =
	"CREATE TABLE IF NOT EXISTS quarantine ("
	" id INTEGER PRIMARY KEY, queue_id TEXT NOT NULL, rcpt TEXT NOT NULL,"
	" mail_from TEXT NOT NULL, subject TEXT NOT NULL, score REAL NOT NULL,"
	" rules TEXT NOT NULL, reason TEXT NOT NULL, time_ms INTEGER NOT NULL,"
	" size INTEGER NOT NULL, body_off INTEGER NOT NULL);"
	"CREATE INDEX IF NOT EXISTS quarantine_rcpt ON quarantine(rcpt, time_ms);"
	"CREATE INDEX IF NOT EXISTS quarantine_qid ON quarantine(queue_id);";

static void qdir(const char *data_dir, char *out, size_t outlen)
{
	snprintf(out, outlen, "%s/quarantine", data_dir);
}

int quarantine_init(sqlite3 *db, const char *data_dir, struct err *e)
{
	char dir[4200];
	qdir(data_dir, dir, sizeof dir);
	if (fs_mkdir_p(dir, 0700, e) < 0)
		return -1;
	return db_exec(db, schema, e);
}

int quarantine_add(sqlite3 *db, const char *data_dir, const char *spool_path,
		   const struct quarantine_entry *q, struct err *e)
{
	char dir[4200], path[4300];
	qdir(data_dir, dir, sizeof dir);
	snprintf(path, sizeof path, "%s/%s", dir, q->queue_id);
	if (link(spool_path, path) < 0 && errno != EEXIST)
		return err_set(e, "quarantine link %s: %s", path, strerror(errno));
	if (fs_fsync_dir(dir, e) < 0)
		return -1;
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(db,
			       "INSERT INTO quarantine (queue_id, rcpt, mail_from, subject, score,"
			       " rules, reason, time_ms, size, body_off)"
			       " VALUES (?,?,?,?,?,?,?,?,?,?)",
			       -1, &st, NULL) != SQLITE_OK)
		return err_set(e, "quarantine: %s", sqlite3_errmsg(db));
	sqlite3_bind_text(st, 1, q->queue_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, q->rcpt, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, q->mail_from, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, q->subject ? q->subject : "", -1, SQLITE_STATIC);
	sqlite3_bind_double(st, 5, q->score);
	sqlite3_bind_text(st, 6, q->rules ? q->rules : "", -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 7, q->reason ? q->reason : "", -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 8, q->time_ms);
	sqlite3_bind_int64(st, 9, q->size);
	sqlite3_bind_int64(st, 10, (sqlite3_int64)q->body_off);
	int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : err_set(e, "quarantine: %s", sqlite3_errmsg(db));
	sqlite3_finalize(st);
	return rc;
}

static json_t *row_json(sqlite3_stmt *st)
{
	char when[32];
	time_iso8601((time_t)(sqlite3_column_int64(st, 8) / 1000), when, sizeof when);
	return json_pack("{s:I, s:s, s:s, s:s, s:s, s:f, s:s, s:s, s:s, s:I}", "id",
			 (json_int_t)sqlite3_column_int64(st, 0), "queue_id",
			 (const char *)sqlite3_column_text(st, 1), "rcpt",
			 (const char *)sqlite3_column_text(st, 2), "mail_from",
			 (const char *)sqlite3_column_text(st, 3), "subject",
			 (const char *)sqlite3_column_text(st, 4), "score",
			 sqlite3_column_double(st, 5), "rules",
			 (const char *)sqlite3_column_text(st, 6), "reason",
			 (const char *)sqlite3_column_text(st, 7), "time", when, "size",
			 (json_int_t)sqlite3_column_int64(st, 9));
}

#define Q_COLUMNS "id, queue_id, rcpt, mail_from, subject, score, rules, reason, time_ms, size, body_off"

json_t *quarantine_list(sqlite3 *db, const char *rcpt, int limit, int offset, struct err *e)
{
	sqlite3_stmt *st;
	const char *sql = rcpt ? "SELECT " Q_COLUMNS " FROM quarantine WHERE rcpt = ?3"
				 " ORDER BY time_ms DESC, id DESC LIMIT ?1 OFFSET ?2"
			       : "SELECT " Q_COLUMNS " FROM quarantine"
				 " ORDER BY time_ms DESC, id DESC LIMIT ?1 OFFSET ?2";
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
		err_set(e, "quarantine: %s", sqlite3_errmsg(db));
		return NULL;
	}
	sqlite3_bind_int(st, 1, limit > 0 ? limit : 50);
	sqlite3_bind_int(st, 2, offset);
	if (rcpt)
		sqlite3_bind_text(st, 3, rcpt, -1, SQLITE_STATIC);
	json_t *arr = json_array();
	while (sqlite3_step(st) == SQLITE_ROW)
		json_array_append_new(arr, row_json(st));
	sqlite3_finalize(st);
	return arr;
}

int quarantine_locate(sqlite3 *db, const char *data_dir, int64_t id, char *path, size_t pathlen,
		      size_t *body_off, json_t **row, struct err *e)
{
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(db, "SELECT " Q_COLUMNS " FROM quarantine WHERE id = ?", -1, &st,
			       NULL) != SQLITE_OK)
		return err_set(e, "quarantine: %s", sqlite3_errmsg(db));
	sqlite3_bind_int64(st, 1, id);
	int rc = -1;
	if (sqlite3_step(st) == SQLITE_ROW) {
		snprintf(path, pathlen, "%s/quarantine/%s", data_dir,
			 (const char *)sqlite3_column_text(st, 1));
		*body_off = (size_t)sqlite3_column_int64(st, 10);
		if (row)
			*row = row_json(st);
		rc = 0;
	} else {
		err_set(e, "no quarantined message %lld", (long long)id);
	}
	sqlite3_finalize(st);
	return rc;
}

static int remaining_rows(sqlite3 *db, const char *queue_id)
{
	sqlite3_stmt *st;
	int n = 1;
	if (sqlite3_prepare_v2(db, "SELECT count(*) FROM quarantine WHERE queue_id = ?", -1, &st,
			       NULL) != SQLITE_OK)
		return 1;
	sqlite3_bind_text(st, 1, queue_id, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return n;
}

static int delete_where(sqlite3 *db, const char *data_dir, const char *where, int64_t arg,
			struct err *e)
{
	char sql[256];
	snprintf(sql, sizeof sql, "DELETE FROM quarantine WHERE %s RETURNING queue_id", where);
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		return err_set(e, "quarantine: %s", sqlite3_errmsg(db));
	sqlite3_bind_int64(st, 1, arg);
	json_t *ids = json_array();
	int n = 0;
	while (sqlite3_step(st) == SQLITE_ROW) {
		json_array_append_new(ids, json_string((const char *)sqlite3_column_text(st, 0)));
		n++;
	}
	sqlite3_finalize(st);
	size_t i;
	json_t *qid;
	json_array_foreach(ids, i, qid)
	{
		if (remaining_rows(db, json_string_value(qid)) == 0) {
			char path[4300];
			snprintf(path, sizeof path, "%s/quarantine/%s", data_dir, json_string_value(qid));
			unlink(path);
		}
	}
	json_decref(ids);
	return n;
}

int quarantine_delete(sqlite3 *db, const char *data_dir, int64_t id, struct err *e)
{
	int n = delete_where(db, data_dir, "id = ?1", id, e);
	if (n == 0)
		return err_set(e, "no quarantined message %lld", (long long)id);
	return n < 0 ? -1 : 0;
}

int quarantine_purge(sqlite3 *db, const char *data_dir, int64_t older_than_ms, struct err *e)
{
	return delete_where(db, data_dir, "time_ms < ?1", older_than_ms, e) < 0 ? -1 : 0;
}
