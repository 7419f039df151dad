#include "store/quarantine.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <ctype.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/db.h"
#include "util/buf.h"
#include "util/fsutil.h"
#include "util/timeutil.h"

static const char *schema =
	"CREATE TABLE IF NOT EXISTS quarantine ("
	" id INTEGER PRIMARY KEY, queue_id TEXT NOT NULL, rcpt TEXT NOT NULL,"
	" mail_from TEXT NOT NULL, subject TEXT NOT NULL, score REAL NOT NULL,"
	" rules TEXT NOT NULL, reason TEXT NOT NULL, time_ms INTEGER NOT NULL,"
	" size INTEGER NOT NULL, body_off INTEGER NOT NULL);"
	"CREATE INDEX IF NOT EXISTS quarantine_rcpt ON quarantine(rcpt, time_ms);"
	"CREATE INDEX IF NOT EXISTS quarantine_qid ON quarantine(queue_id);"
	"CREATE INDEX IF NOT EXISTS quarantine_time ON quarantine(time_ms);"
	"CREATE TABLE IF NOT EXISTS quarantine_summary (rcpt TEXT PRIMARY KEY,"
	" sent_ms INTEGER NOT NULL, upto_id INTEGER NOT NULL);";

#define Q_COLUMNS                                                                         \
	"id, queue_id, rcpt, mail_from, subject, score, rules, reason, time_ms, size, body_off"

static void qdir(const char *data_dir, char *out, size_t outlen)
{
	snprintf(out, outlen, "%s/quarantine", data_dir);
}

/* Queue ids name files: refuse anything that could leave the directory. */
static int qid_ok(const char *qid)
{
	return qid && *qid && strlen(qid) < 64 && !strchr(qid, '/') && strcmp(qid, ".") &&
	       strcmp(qid, "..");
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
	if (!qid_ok(q->queue_id))
		return err_set(e, "quarantine: bad queue id");
	qdir(data_dir, dir, sizeof dir);
	snprintf(path, sizeof path, "%s/%s", dir, q->queue_id);
	if (link(spool_path, path) < 0 && errno != EEXIST)
		return err_set(e, "quarantine link %s: %s", path, strerror(errno));
	if (fs_fsync_dir(dir, e) < 0)
		return -1;
	sqlite3_stmt *st = db_prepare(db,
				      "INSERT INTO quarantine (queue_id, rcpt, mail_from, subject, score,"
				      " rules, reason, time_ms, size, body_off)"
				      " VALUES (?,?,?,?,?,?,?,?,?,?)",
				      e);
	if (!st)
		return -1;
	sqlite3_bind_text(st, 1, q->queue_id, -1, SQLITE_STATIC);
	/* accounts are lower case: so are the rows they own */
	char rcpt[320];
	snprintf(rcpt, sizeof rcpt, "%s", q->rcpt ? q->rcpt : "");
	for (char *p = rcpt; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	sqlite3_bind_text(st, 2, rcpt, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, q->mail_from ? q->mail_from : "", -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, q->subject ? q->subject : "", -1, SQLITE_STATIC);
	sqlite3_bind_double(st, 5, q->score);
	sqlite3_bind_text(st, 6, q->rules ? q->rules : "", -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 7, q->reason ? q->reason : "", -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 8, q->time_ms ? q->time_ms : time_now_ms());
	sqlite3_bind_int64(st, 9, q->size);
	sqlite3_bind_int64(st, 10, (sqlite3_int64)q->body_off);
	int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : err_set(e, "quarantine: %s", sqlite3_errmsg(db));
	sqlite3_finalize(st);
	return rc;
}

static const char *col_text(sqlite3_stmt *st, int i)
{
	const char *s = (const char *)sqlite3_column_text(st, i);
	return s ? s : "";
}

static json_t *split_rules(const char *s)
{
	json_t *arr = json_array();
	while (s && *s) {
		size_t n = strcspn(s, ",");
		if (n)
			json_array_append_new(arr, json_stringn(s, n));
		s += n + (s[n] == ',');
	}
	return arr;
}

/* Text columns may hold bytes that are not UTF-8 (subjects of spam). */
static json_t *text_json(const char *s)
{
	json_t *j = json_string(s);
	if (j)
		return j;
	char *fixed = strdup(s);
	for (unsigned char *p = (unsigned char *)fixed; *p; p++)
		if (*p >= 0x80)
			*p = '?';
	j = json_string(fixed);
	free(fixed);
	return j ? j : json_string("");
}

static json_t *row_json(sqlite3_stmt *st)
{
	char when[32];
	int64_t t = sqlite3_column_int64(st, 8);
	time_iso8601((time_t)(t / 1000), when, sizeof when);
	json_t *o = json_object();
	json_object_set_new(o, "id", json_integer(sqlite3_column_int64(st, 0)));
	json_object_set_new(o, "queue_id", text_json(col_text(st, 1)));
	json_object_set_new(o, "rcpt", text_json(col_text(st, 2)));
	json_object_set_new(o, "mail_from", text_json(col_text(st, 3)));
	json_object_set_new(o, "subject", text_json(col_text(st, 4)));
	json_object_set_new(o, "score", json_real(sqlite3_column_double(st, 5)));
	json_object_set_new(o, "rules", split_rules(col_text(st, 6)));
	json_object_set_new(o, "reason", text_json(col_text(st, 7)));
	json_object_set_new(o, "time_ms", json_integer(t));
	json_object_set_new(o, "time", json_string(when));
	json_object_set_new(o, "size", json_integer(sqlite3_column_int64(st, 9)));
	return o;
}

static const struct {
	const char *name, *column;
} sort_keys[] = {
	{"time", "time_ms"}, {"score", "score"}, {"from", "mail_from COLLATE NOCASE"},
	{"subject", "subject COLLATE NOCASE"}, {"size", "size"},
};

/* LIKE pattern for a substring, with the wildcards of s escaped. */
static void like_pattern(const char *s, struct buf *out)
{
	buf_putc(out, '%');
	for (; *s; s++) {
		if (*s == '%' || *s == '_' || *s == '\\')
			buf_putc(out, '\\');
		buf_putc(out, *s);
	}
	buf_putc(out, '%');
}

/* WHERE clause with ?1 rcpt, ?2 pattern, ?3 since, ?4 until, ?5 after_id. */
static void where_clause(const struct quarantine_query *q, struct buf *sql)
{
	buf_puts(sql, " WHERE 1");
	if (q->rcpt)
		buf_puts(sql, " AND rcpt = ?1");
	if (q->search && *q->search)
		buf_puts(sql, " AND (mail_from LIKE ?2 ESCAPE '\\' OR subject LIKE ?2 ESCAPE '\\')");
	if (q->since_ms)
		buf_puts(sql, " AND time_ms >= ?3");
	if (q->until_ms)
		buf_puts(sql, " AND time_ms < ?4");
	if (q->after_id)
		buf_puts(sql, " AND id > ?5");
}

static void bind_query(sqlite3_stmt *st, const struct quarantine_query *q, const char *pattern)
{
	if (q->rcpt)
		sqlite3_bind_text(st, 1, q->rcpt, -1, SQLITE_STATIC);
	if (q->search && *q->search)
		sqlite3_bind_text(st, 2, pattern, -1, SQLITE_STATIC);
	if (q->since_ms)
		sqlite3_bind_int64(st, 3, q->since_ms);
	if (q->until_ms)
		sqlite3_bind_int64(st, 4, q->until_ms);
	if (q->after_id)
		sqlite3_bind_int64(st, 5, q->after_id);
}

json_t *quarantine_search(sqlite3 *db, const struct quarantine_query *q, struct err *e)
{
	const char *col = NULL;
	const char *sort = q->sort ? q->sort : "time";
	for (size_t i = 0; i < sizeof sort_keys / sizeof *sort_keys; i++)
		if (strcmp(sort, sort_keys[i].name) == 0)
			col = sort_keys[i].column;
	if (!col) {
		err_set(e, "sort must be one of time, score, from, subject, size");
		return NULL;
	}
	struct buf pat, where, sql;
	buf_init(&pat, 4096);
	buf_init(&where, 4096);
	buf_init(&sql, 8192);
	if (q->search)
		like_pattern(q->search, &pat);
	where_clause(q, &where);
	json_t *out = NULL;
	buf_printf(&sql, "SELECT count(*) FROM quarantine%s", where.data);
	sqlite3_stmt *st = db_prepare(db, sql.data, e);
	if (!st)
		goto done;
	bind_query(st, q, pat.data);
	int64_t total = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
	sqlite3_finalize(st);
	buf_reset(&sql);
	const char *dir = q->asc ? "ASC" : "DESC";
	buf_printf(&sql, "SELECT " Q_COLUMNS " FROM quarantine%s ORDER BY %s %s, id %s LIMIT ?6 OFFSET ?7",
		   where.data, col, dir, dir);
	st = db_prepare(db, sql.data, e);
	if (!st)
		goto done;
	bind_query(st, q, pat.data);
	sqlite3_bind_int(st, 6, q->limit > 0 && q->limit <= 1000 ? q->limit : 50);
	sqlite3_bind_int(st, 7, q->offset > 0 ? q->offset : 0);
	json_t *rows = json_array();
	while (sqlite3_step(st) == SQLITE_ROW)
		json_array_append_new(rows, row_json(st));
	sqlite3_finalize(st);
	out = json_pack("{s:I, s:o}", "total", (json_int_t)total, "rows", rows);
done:
	buf_free(&pat);
	buf_free(&where);
	buf_free(&sql);
	return out;
}

int quarantine_get(sqlite3 *db, const char *data_dir, int64_t id, const char *rcpt,
		   struct quarantine_msg *m, struct err *e)
{
	sqlite3_stmt *st = db_prepare(db, "SELECT " Q_COLUMNS " FROM quarantine WHERE id = ?1", e);
	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, id);
	int rc = -1;
	memset(m, 0, sizeof *m);
	if (sqlite3_step(st) == SQLITE_ROW && (!rcpt || strcasecmp(col_text(st, 2), rcpt) == 0) &&
	    qid_ok(col_text(st, 1))) {
		m->id = id;
		snprintf(m->queue_id, sizeof m->queue_id, "%s", col_text(st, 1));
		snprintf(m->rcpt, sizeof m->rcpt, "%s", col_text(st, 2));
		snprintf(m->mail_from, sizeof m->mail_from, "%s", col_text(st, 3));
		snprintf(m->path, sizeof m->path, "%s/quarantine/%s", data_dir, m->queue_id);
		m->body_off = (size_t)sqlite3_column_int64(st, 10);
		m->row = row_json(st);
		rc = 0;
	} else {
		err_set(e, "no quarantined message %lld", (long long)id);
	}
	sqlite3_finalize(st);
	return rc;
}

int quarantine_read(const struct quarantine_msg *m, char **data, size_t *len, struct err *e)
{
	char *all;
	size_t n;
	if (fs_read_all(m->path, QUARANTINE_MAX_READ, &all, &n, e) < 0)
		return -1;
	if (m->body_off > n) {
		free(all);
		return err_set(e, "quarantined message %lld: file is truncated", (long long)m->id);
	}
	memmove(all, all + m->body_off, n - m->body_off + 1);
	*data = all;
	*len = n - m->body_off;
	return 0;
}

static int remaining_rows(sqlite3 *db, const char *queue_id)
{
	sqlite3_stmt *st = db_prepare(db, "SELECT count(*) FROM quarantine WHERE queue_id = ?", NULL);
	int n = 1;
	if (!st)
		return 1;
	sqlite3_bind_text(st, 1, queue_id, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return n;
}

/* Deletes the rows matching where (one text or integer parameter ?1) and
 * every file left without a row. Returns rows removed or -1. */
static int delete_where(sqlite3 *db, const char *data_dir, const char *where, const char *text,
			int64_t num, struct err *e)
{
	char sql[256];
	snprintf(sql, sizeof sql, "DELETE FROM quarantine WHERE %s RETURNING queue_id", where);
	sqlite3_stmt *st = db_prepare(db, sql, e);
	if (!st)
		return -1;
	if (text)
		sqlite3_bind_text(st, 1, text, -1, SQLITE_STATIC);
	else
		sqlite3_bind_int64(st, 1, num);
	json_t *ids = json_array();
	int n = 0, rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		json_array_append_new(ids, json_string(col_text(st, 0)));
		n++;
	}
	if (rc != SQLITE_DONE)
		n = err_set(e, "quarantine: %s", sqlite3_errmsg(db));
	sqlite3_finalize(st);
	size_t i;
	json_t *qid;
	json_array_foreach(ids, i, qid)
	{
		const char *q = json_string_value(qid);
		if (qid_ok(q) && remaining_rows(db, q) == 0) {
			char path[4300];
			snprintf(path, sizeof path, "%s/quarantine/%s", data_dir, q);
			unlink(path);
		}
	}
	json_decref(ids);
	return n;
}

int quarantine_delete(sqlite3 *db, const char *data_dir, int64_t id, const char *rcpt,
		      struct err *e)
{
	struct quarantine_msg m;
	if (quarantine_get(db, data_dir, id, rcpt, &m, e) < 0)
		return -1;
	json_decref(m.row);
	int n = delete_where(db, data_dir, "id = ?1", NULL, id, e);
	if (n == 0)
		return err_set(e, "no quarantined message %lld", (long long)id);
	return n < 0 ? -1 : 0;
}

int quarantine_delete_rcpt(sqlite3 *db, const char *data_dir, const char *rcpt, struct err *e)
{
	return delete_where(db, data_dir, "rcpt = ?1", rcpt, 0, e);
}

int quarantine_purge(sqlite3 *db, const char *data_dir, int64_t older_than_ms, struct err *e)
{
	return delete_where(db, data_dir, "time_ms < ?1", NULL, older_than_ms, e);
}

int64_t quarantine_count(sqlite3 *db, const char *rcpt)
{
	sqlite3_stmt *st = db_prepare(db, rcpt ? "SELECT count(*) FROM quarantine WHERE rcpt = ?1"
					       : "SELECT count(*) FROM quarantine",
				      NULL);
	int64_t n = 0;
	if (!st)
		return 0;
	if (rcpt)
		sqlite3_bind_text(st, 1, rcpt, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return n;
}

json_t *quarantine_ids_for_queue(sqlite3 *db, const char *queue_id)
{
	json_t *arr = json_array();
	sqlite3_stmt *st = db_prepare(db, "SELECT id FROM quarantine WHERE queue_id = ?1 ORDER BY id", NULL);
	if (!st || !queue_id)
		goto out;
	sqlite3_bind_text(st, 1, queue_id, -1, SQLITE_STATIC);
	while (sqlite3_step(st) == SQLITE_ROW)
		json_array_append_new(arr, json_integer(sqlite3_column_int64(st, 0)));
out:
	sqlite3_finalize(st);
	return arr;
}

int quarantine_file_of(sqlite3 *db, const char *data_dir, const char *queue_id, char *path,
		       size_t pathlen, size_t *body_off)
{
	sqlite3_stmt *st = db_prepare(db, "SELECT body_off FROM quarantine WHERE queue_id = ?1 LIMIT 1", NULL);
	int rc = -1;
	if (!st || !qid_ok(queue_id))
		goto out;
	sqlite3_bind_text(st, 1, queue_id, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW) {
		*body_off = (size_t)sqlite3_column_int64(st, 0);
		snprintf(path, pathlen, "%s/quarantine/%s", data_dir, queue_id);
		rc = 0;
	}
out:
	sqlite3_finalize(st);
	return rc;
}

void quarantine_summary_get(sqlite3 *db, const char *rcpt, int64_t *sent_ms, int64_t *upto_id)
{
	*sent_ms = 0;
	*upto_id = 0;
	sqlite3_stmt *st = db_prepare(db, "SELECT sent_ms, upto_id FROM quarantine_summary WHERE rcpt = ?1", NULL);
	if (!st)
		return;
	sqlite3_bind_text(st, 1, rcpt, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW) {
		*sent_ms = sqlite3_column_int64(st, 0);
		*upto_id = sqlite3_column_int64(st, 1);
	}
	sqlite3_finalize(st);
}

int quarantine_summary_set(sqlite3 *db, const char *rcpt, int64_t sent_ms, int64_t upto_id,
			   struct err *e)
{
	sqlite3_stmt *st = db_prepare(db,
				      "INSERT INTO quarantine_summary(rcpt, sent_ms, upto_id) VALUES(?1,?2,?3)"
				      " ON CONFLICT(rcpt) DO UPDATE SET sent_ms = excluded.sent_ms,"
				      " upto_id = excluded.upto_id",
				      e);
	if (!st)
		return -1;
	sqlite3_bind_text(st, 1, rcpt, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, sent_ms);
	sqlite3_bind_int64(st, 3, upto_id);
	int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : err_set(e, "quarantine: %s", sqlite3_errmsg(db));
	sqlite3_finalize(st);
	return rc;
}

json_t *quarantine_rcpts_with_new(sqlite3 *db, struct err *e)
{
	sqlite3_stmt *st = db_prepare(db,
				      "SELECT q.rcpt FROM quarantine q LEFT JOIN quarantine_summary s"
				      " ON s.rcpt = q.rcpt GROUP BY q.rcpt"
				      " HAVING max(q.id) > coalesce(max(s.upto_id), 0) ORDER BY q.rcpt",
				      e);
	if (!st)
		return NULL;
	json_t *arr = json_array();
	while (sqlite3_step(st) == SQLITE_ROW)
		json_array_append_new(arr, text_json(col_text(st, 0)));
	sqlite3_finalize(st);
	return arr;
}
