#include "store/msglog.h"

#include <arpa/inet.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/db.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/net.h"
#include "util/timeutil.h"

#define LIST_MAX 10000     /* entries of rcpts/rules shown */
#define FILTER_MAX 512     /* bytes of a search string */
#define PURGE_BATCH 5000

static const char schema[] =
	"CREATE TABLE IF NOT EXISTS msglog("
	" id INTEGER PRIMARY KEY, time_ms INTEGER NOT NULL, node TEXT,"
	" client_ip TEXT, ip_key BLOB, helo TEXT, mail_from TEXT, rcpts TEXT,"
	" subject TEXT, size INTEGER NOT NULL DEFAULT 0, score REAL, rules TEXT,"
	" layer TEXT, reason TEXT, action TEXT, delivery TEXT, queue_id TEXT,"
	" message_id TEXT);"
	/* (time, action) also answers msglog_stats from the index alone */
	"CREATE INDEX IF NOT EXISTS msglog_time ON msglog(time_ms, action);"
	"CREATE INDEX IF NOT EXISTS msglog_ip ON msglog(ip_key) WHERE ip_key IS NOT NULL;"
	"CREATE INDEX IF NOT EXISTS msglog_queue ON msglog(queue_id) WHERE queue_id IS NOT NULL;";

/* Columns of a row, in the order row_json reads them. */
#define ROW_COLUMNS                                                                          \
	"id, time_ms, node, client_ip, helo, mail_from, rcpts, subject, size, score, rules," \
	" layer, reason, action, delivery, queue_id, message_id"

static const char *const actions[] = {"allow", "tag", "quarantine", "block", "tempfail", "reject"};
#define NACTIONS (sizeof actions / sizeof actions[0])

int msglog_init(sqlite3 *db, struct err *e)
{
	return db_exec(db, schema, e);
}

/* ---- insert ---------------------------------------------------------- */

/* Address as 16 sortable bytes (IPv4 as ::ffff:a.b.c.d); -1 if not one. */
static int ip_key(const char *ip, unsigned char key[16])
{
	static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	if (!ip)
		return -1;
	if (inet_pton(AF_INET, ip, key + 12) == 1) {
		memcpy(key, mapped, 12);
		return 0;
	}
	return inet_pton(AF_INET6, ip, key) == 1 ? 0 : -1;
}

/* Bytes of s kept under a cap of cap bytes, never cutting a UTF-8
 * sequence. */
static size_t cut_len(const char *s, size_t cap)
{
	size_t n = strnlen(s, cap + 1);
	if (n > cap) {
		n = cap;
		while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
			n--;
	}
	return n;
}

static void bind_capped(sqlite3_stmt *st, int i, const char *s, size_t cap)
{
	if (!s)
		sqlite3_bind_null(st, i);
	else
		sqlite3_bind_text(st, i, s, (int)cut_len(s, cap), SQLITE_STATIC);
}

/* Text columns: where the field lives in the row, its INSERT parameter,
 * and the most bytes stored (untrusted input stays bounded). */
static const struct {
	size_t off;
	int param;
	size_t cap;
} text_fields[] = {
	{offsetof(struct msglog_row, node), 2, 255},
	{offsetof(struct msglog_row, client_ip), 3, 64},
	{offsetof(struct msglog_row, helo), 5, 255},
	{offsetof(struct msglog_row, mail_from), 6, 512},
	{offsetof(struct msglog_row, rcpts), 7, 65536},
	{offsetof(struct msglog_row, subject), 8, 1000},
	{offsetof(struct msglog_row, rules), 11, 16384},
	{offsetof(struct msglog_row, layer), 12, 64},
	{offsetof(struct msglog_row, reason), 13, 1000},
	{offsetof(struct msglog_row, action), 14, 32},
	{offsetof(struct msglog_row, delivery), 15, 32},
	{offsetof(struct msglog_row, queue_id), 16, 128},
	{offsetof(struct msglog_row, message_id), 17, 998},
};
#define NTEXT (sizeof text_fields / sizeof text_fields[0])

static const char **field(struct msglog_row *r, size_t i)
{
	return (const char **)((char *)r + text_fields[i].off);
}

static const char *cfield(const struct msglog_row *r, size_t i)
{
	return *(const char *const *)((const char *)r + text_fields[i].off);
}

int msglog_insert(sqlite3 *db, const struct msglog_row *r, struct err *e)
{
	sqlite3_stmt *st = db_cached(db,
				     "INSERT INTO msglog(time_ms, node, client_ip, ip_key, helo,"
				     " mail_from, rcpts, subject, size, score, rules, layer, reason,"
				     " action, delivery, queue_id, message_id) VALUES(?1, ?2, ?3, ?4,"
				     " ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)",
				     e);
	if (!st)
		return -1;
	unsigned char key[16];
	sqlite3_bind_int64(st, 1, r->time_ms ? r->time_ms : time_now_ms());
	for (size_t i = 0; i < NTEXT; i++)
		bind_capped(st, text_fields[i].param, cfield(r, i), text_fields[i].cap);
	if (r->queue_id && !*r->queue_id)
		sqlite3_bind_null(st, 16);
	if (ip_key(r->client_ip, key) == 0)
		sqlite3_bind_blob(st, 4, key, 16, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 9, r->size);
	sqlite3_bind_double(st, 10, r->score);
	if (db_step_done(st, e) < 0)
		return err_set(e, "message log insert: %s", sqlite3_errmsg(db));
	return 0;
}

int msglog_set_delivery(sqlite3 *db, const char *queue_id, const char *status, struct err *e)
{
	if (!queue_id || !*queue_id || !status || !*status || strlen(status) > 32)
		return err_set(e, "message log: bad queue id or delivery status");
	sqlite3_stmt *st = db_cached(db, "UPDATE msglog SET delivery = ?2 WHERE queue_id = ?1", e);
	if (!st)
		return -1;
	sqlite3_bind_text(st, 1, queue_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, status, -1, SQLITE_STATIC);
	return db_step_done(st, e);
}

/* ---- rows as JSON ------------------------------------------------------ */

/* Length of the valid UTF-8 sequence at s (n bytes left), 0 if invalid. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
	unsigned c = s[0];
	size_t len = c < 0x80 ? 1 : (c >= 0xc2 && c <= 0xdf) ? 2 : (c & 0xf0) == 0xe0 ? 3
		   : (c >= 0xf0 && c <= 0xf4) ? 4 : 0;
	if (len == 0 || len > n)
		return 0;
	for (size_t i = 1; i < len; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	if ((c == 0xe0 && s[1] < 0xa0) || (c == 0xed && s[1] > 0x9f) || (c == 0xf0 && s[1] < 0x90) ||
	    (c == 0xf4 && s[1] > 0x8f))
		return 0;
	return len;
}

/* JSON string of untrusted bytes: invalid UTF-8 becomes U+FFFD, NUL too. */
static json_t *text_json(const char *s, size_t n)
{
	if (!s)
		return json_null();
	json_t *j = json_stringn(s, n);
	if (j)
		return j;
	struct buf b;
	buf_init(&b, n * 3 + 1);
	for (size_t i = 0; i < n;) {
		size_t l = s[i] ? utf8_seq((const unsigned char *)s + i, n - i) : 0;
		if (l)
			buf_append(&b, s + i, l);
		else
			buf_puts(&b, "\xef\xbf\xbd");
		i += l ? l : 1;
	}
	j = json_stringn(b.data ? b.data : "", b.len);
	buf_free(&b);
	return j;
}

static json_t *col_text(sqlite3_stmt *st, int i)
{
	const char *s = (const char *)sqlite3_column_text(st, i);
	return text_json(s, s ? (size_t)sqlite3_column_bytes(st, i) : 0);
}

/* "a, b,c" -> ["a","b","c"] (empty items dropped). */
static json_t *col_list(sqlite3_stmt *st, int i)
{
	const char *s = (const char *)sqlite3_column_text(st, i);
	json_t *arr = json_array();
	for (size_t k = 0; s && *s && k < LIST_MAX;) {
		s += strspn(s, " ,");
		size_t n = strcspn(s, ",");
		size_t t = n;
		while (t && s[t - 1] == ' ')
			t--;
		if (t) {
			json_array_append_new(arr, text_json(s, t));
			k++;
		}
		s += n;
	}
	return arr;
}

static json_t *row_json(sqlite3_stmt *st)
{
	char iso[32];
	int64_t t = sqlite3_column_int64(st, 1);
	time_iso8601((time_t)(t / 1000), iso, sizeof iso);
	return json_pack("{s:I,s:I,s:s,s:o,s:o,s:o,s:o,s:o,s:o,s:I,s:f,s:o,s:o,s:o,s:o,s:o,s:o,s:o}",
			 "id", (json_int_t)sqlite3_column_int64(st, 0), "time_ms", (json_int_t)t,
			 "time", iso, "node", col_text(st, 2), "client_ip", col_text(st, 3),
			 "helo", col_text(st, 4), "mail_from", col_text(st, 5),
			 "rcpts", col_list(st, 6), "subject", col_text(st, 7),
			 "size", (json_int_t)sqlite3_column_int64(st, 8),
			 "score", sqlite3_column_double(st, 9), "rules", col_list(st, 10),
			 "layer", col_text(st, 11), "reason", col_text(st, 12),
			 "action", col_text(st, 13), "delivery", col_text(st, 14),
			 "queue_id", col_text(st, 15), "message_id", col_text(st, 16));
}

json_t *msglog_get(sqlite3 *db, int64_t id, struct err *e)
{
	sqlite3_stmt *st = db_prepare(db, "SELECT " ROW_COLUMNS " FROM msglog WHERE id = ?1", e);
	if (!st)
		return NULL;
	sqlite3_bind_int64(st, 1, id);
	json_t *row = NULL;
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		row = row_json(st);
	else if (rc == SQLITE_DONE)
		err_set(e, "no message log entry %lld", (long long)id);
	else
		err_set(e, "message log: %s", sqlite3_errmsg(db));
	sqlite3_finalize(st);
	return row;
}

/* ---- search -------------------------------------------------------------- */

/* A WHERE clause built from fixed fragments, and its parameters. */
struct where {
	struct buf sql;
	int n;
	struct {
		enum { P_INT, P_REAL, P_TEXT, P_BLOB } type;
		int64_t i;
		double d;
		char text[FILTER_MAX * 2 + 3];
		unsigned char blob[16];
	} p[10];
};

static void where_add(struct where *w, const char *frag)
{
	buf_puts(&w->sql, w->sql.len ? " AND " : " WHERE ");
	buf_puts(&w->sql, frag);
}

static void where_int(struct where *w, const char *frag, int64_t v)
{
	where_add(w, frag);
	w->p[w->n].type = P_INT;
	w->p[w->n++].i = v;
}

static void where_blob(struct where *w, const unsigned char b[16])
{
	w->p[w->n].type = P_BLOB;
	memcpy(w->p[w->n++].blob, b, 16);
}

/* column LIKE '%text%' with the LIKE wildcards of text escaped. */
static int where_like(struct where *w, const char *col, const char *text, struct err *e)
{
	char frag[64];
	if (strlen(text) > FILTER_MAX)
		return err_set(e, "search text longer than %d bytes", FILTER_MAX);
	char *o = w->p[w->n].text;
	*o++ = '%';
	for (const char *s = text; *s; s++) {
		if (*s == '%' || *s == '_' || *s == '\\')
			*o++ = '\\';
		*o++ = *s;
	}
	*o++ = '%';
	*o = '\0';
	w->p[w->n++].type = P_TEXT;
	snprintf(frag, sizeof frag, "%s LIKE ? ESCAPE '\\'", col);
	where_add(w, frag);
	return 0;
}

/* Exact address or CIDR block -> ip_key range. */
static int where_ip(struct where *w, const char *ip, struct err *e)
{
	struct cidr c;
	unsigned char lo[16], hi[16];
	if (net_parse_cidr(ip, &c, NULL) < 0)
		return err_set(e, "bad client IP filter \"%s\": expected an address or a CIDR block",
			       log_esc(ip));
	int prefix = c.prefix;
	if (c.family == AF_INET) {
		memset(lo, 0, 10);
		lo[10] = lo[11] = 0xff;
		memcpy(lo + 12, c.addr, 4);
		prefix += 96;
	} else {
		memcpy(lo, c.addr, 16);
	}
	memcpy(hi, lo, 16);
	for (int bit = prefix; bit < 128; bit++) {
		lo[bit / 8] &= (unsigned char)~(0x80 >> (bit % 8));
		hi[bit / 8] |= (unsigned char)(0x80 >> (bit % 8));
	}
	where_add(w, "ip_key BETWEEN ? AND ?");
	where_blob(w, lo);
	where_blob(w, hi);
	return 0;
}

static int where_build(struct where *w, const struct msglog_query *q, struct err *e)
{
	if (q->since_ms)
		where_int(w, "time_ms >= ?", q->since_ms);
	if (q->until_ms)
		where_int(w, "time_ms < ?", q->until_ms);
	if (q->sender && where_like(w, "mail_from", q->sender, e) < 0)
		return -1;
	if (q->rcpt && where_like(w, "rcpts", q->rcpt, e) < 0)
		return -1;
	if (q->subject && where_like(w, "subject", q->subject, e) < 0)
		return -1;
	if (q->client_ip && where_ip(w, q->client_ip, e) < 0)
		return -1;
	if (q->action) {
		if (strlen(q->action) > 32)
			return err_set(e, "bad action filter");
		where_add(w, "action = ?");
		snprintf(w->p[w->n].text, sizeof w->p[w->n].text, "%s", q->action);
		w->p[w->n++].type = P_TEXT;
	}
	if (q->has_min_score) {
		where_add(w, "score >= ?");
		w->p[w->n].type = P_REAL;
		w->p[w->n++].d = q->min_score;
	}
	return 0;
}

static void where_bind(const struct where *w, sqlite3_stmt *st)
{
	for (int i = 0; i < w->n; i++) {
		switch (w->p[i].type) {
		case P_INT: sqlite3_bind_int64(st, i + 1, w->p[i].i); break;
		case P_REAL: sqlite3_bind_double(st, i + 1, w->p[i].d); break;
		case P_TEXT: sqlite3_bind_text(st, i + 1, w->p[i].text, -1, SQLITE_STATIC); break;
		case P_BLOB: sqlite3_bind_blob(st, i + 1, w->p[i].blob, 16, SQLITE_STATIC); break;
		}
	}
}

/* SELECT <what> FROM msglog <where> <tail>, prepared and bound. */
static sqlite3_stmt *where_prepare(sqlite3 *db, const struct where *w, const char *what,
				   const char *tail, struct err *e)
{
	struct buf sql;
	buf_init(&sql, 8192);
	buf_printf(&sql, "SELECT %s FROM msglog%s %s", what, w->sql.data ? w->sql.data : "", tail);
	sqlite3_stmt *st = sql.data ? db_prepare(db, sql.data, e) : NULL;
	if (!sql.data)
		err_set(e, "message log: query too long");
	buf_free(&sql);
	if (st)
		where_bind(w, st);
	return st;
}

static json_t *search_run(sqlite3 *db, const struct where *w, const struct msglog_query *q,
			  struct err *e)
{
	int limit = q->limit <= 0 ? 50 : q->limit > 1000 ? 1000 : q->limit;
	int offset = q->offset < 0 ? 0 : q->offset;
	sqlite3_stmt *st = where_prepare(db, w, "count(*)", "", e);
	if (!st)
		return NULL;
	int64_t total = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
	sqlite3_finalize(st);
	if (total < 0) {
		err_set(e, "message log search: %s", sqlite3_errmsg(db));
		return NULL;
	}
	st = where_prepare(db, w, ROW_COLUMNS, "ORDER BY time_ms DESC, id DESC LIMIT ? OFFSET ?", e);
	if (!st)
		return NULL;
	sqlite3_bind_int(st, w->n + 1, limit);
	sqlite3_bind_int(st, w->n + 2, offset);
	json_t *rows = json_array();
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		json_array_append_new(rows, row_json(st));
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		json_decref(rows);
		err_set(e, "message log search: %s", sqlite3_errmsg(db));
		return NULL;
	}
	return json_pack("{s:I,s:o}", "total", (json_int_t)total, "rows", rows);
}

json_t *msglog_search(sqlite3 *db, const struct msglog_query *q, struct err *e)
{
	struct where *w = calloc(1, sizeof *w);
	if (!w) {
		err_set(e, "out of memory");
		return NULL;
	}
	buf_init(&w->sql, 4096);
	json_t *res = where_build(w, q, e) == 0 ? search_run(db, w, q, e) : NULL;
	buf_free(&w->sql);
	free(w);
	return res;
}

/* ---- retention and dashboards -------------------------------------------- */

int msglog_purge(sqlite3 *db, int64_t older_than_ms, struct err *e)
{
	sqlite3_stmt *st = db_prepare(db,
				      "DELETE FROM msglog WHERE id IN (SELECT id FROM msglog"
				      " WHERE time_ms < ?1 LIMIT ?2)",
				      e);
	if (!st)
		return -1;
	int64_t total = 0;
	int changed;
	do {
		sqlite3_bind_int64(st, 1, older_than_ms);
		sqlite3_bind_int(st, 2, PURGE_BATCH);
		if (db_step_done(st, e) < 0) {
			sqlite3_finalize(st);
			return -1;
		}
		changed = sqlite3_changes(db);
		total += changed;
	} while (changed == PURGE_BATCH);
	sqlite3_finalize(st);
	if (total)
		log_info("message log: purged %lld entries", (long long)total);
	return 0;
}

/* n buckets of width ms ending with the one holding now_ms. */
static json_t *stats_series(sqlite3 *db, int64_t now_ms, int64_t width, int n, struct err *e)
{
	int64_t end = (now_ms / width + 1) * width, start = end - width * n;
	int64_t counts[32][NACTIONS + 1];
	memset(counts, 0, sizeof counts);
	sqlite3_stmt *st = db_prepare(db,
				      "SELECT (time_ms - ?1) / ?2, action, count(*) FROM msglog"
				      " WHERE time_ms >= ?1 AND time_ms < ?3 GROUP BY 1, 2",
				      e);
	if (!st)
		return NULL;
	sqlite3_bind_int64(st, 1, start);
	sqlite3_bind_int64(st, 2, width);
	sqlite3_bind_int64(st, 3, end);
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t b = sqlite3_column_int64(st, 0);
		const char *a = (const char *)sqlite3_column_text(st, 1);
		if (b < 0 || b >= n)
			continue;
		for (size_t i = 0; a && i < NACTIONS; i++)
			if (strcmp(a, actions[i]) == 0)
				counts[b][i] += sqlite3_column_int64(st, 2);
		counts[b][NACTIONS] += sqlite3_column_int64(st, 2);
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		err_set(e, "message log stats: %s", sqlite3_errmsg(db));
		return NULL;
	}
	json_t *arr = json_array();
	for (int b = 0; b < n; b++) {
		json_t *o = json_pack("{s:I}", "t", (json_int_t)(start + b * width));
		for (size_t i = 0; i < NACTIONS; i++)
			json_object_set_new(o, actions[i], json_integer(counts[b][i]));
		json_object_set_new(o, "total", json_integer(counts[b][NACTIONS]));
		json_array_append_new(arr, o);
	}
	return arr;
}

json_t *msglog_stats(sqlite3 *db, int64_t now_ms, struct err *e)
{
	json_t *hourly = stats_series(db, now_ms, 3600000, 24, e);
	json_t *daily = hourly ? stats_series(db, now_ms, 86400000, 25, e) : NULL;
	if (!daily) {
		json_decref(hourly);
		return NULL;
	}
	return json_pack("{s:o,s:o}", "hourly", hourly, "daily", daily);
}

/* ---- background writer ---------------------------------------------------- */

#define WRITER_QUEUE_MAX 100000
#define WRITER_BATCH 1000

struct mlw_op {
	struct mlw_op *next;
	int is_delivery; /* else an insert */
	struct msglog_row row; /* strings point into text[] */
	char text[];
};

struct msglog_writer {
	sqlite3 *db; /* used by the thread only */
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t work, done;
	struct mlw_op *head, *tail;
	size_t queued;
	uint64_t added, written, dropped;
	int stop;
};

/* One allocation holding the row and copies of its (capped) strings. */
static struct mlw_op *op_copy(const struct msglog_row *r)
{
	size_t len[NTEXT], total = 0;
	for (size_t i = 0; i < NTEXT; i++) {
		const char *s = cfield(r, i);
		len[i] = s ? cut_len(s, text_fields[i].cap) : 0;
		total += s ? len[i] + 1 : 0;
	}
	struct mlw_op *op = malloc(sizeof *op + total);
	if (!op)
		return NULL;
	op->next = NULL;
	op->is_delivery = 0;
	op->row = *r;
	if (!op->row.time_ms)
		op->row.time_ms = time_now_ms();
	char *p = op->text;
	for (size_t i = 0; i < NTEXT; i++) {
		if (!cfield(r, i))
			continue;
		memcpy(p, cfield(r, i), len[i]);
		p[len[i]] = '\0';
		*field(&op->row, i) = p;
		p += len[i] + 1;
	}
	return op;
}

/* Up to WRITER_BATCH operations in one transaction. */
static void writer_batch(struct msglog_writer *w, struct mlw_op *ops)
{
	struct err e;
	int began = db_begin(w->db, &e) == 0;
	if (!began)
		log_error("message log: %s", e.msg);
	for (struct mlw_op *op = ops; op; op = op->next) {
		int rc = op->is_delivery
				 ? msglog_set_delivery(w->db, op->row.queue_id, op->row.delivery, &e)
				 : msglog_insert(w->db, &op->row, &e);
		if (rc < 0)
			log_error("message log: %s", e.msg);
	}
	if (began && db_commit(w->db, &e) < 0) {
		log_error("message log: commit: %s", e.msg);
		db_rollback(w->db);
	}
}

static void *writer_main(void *arg)
{
	struct msglog_writer *w = arg;
	pthread_mutex_lock(&w->mu);
	for (;;) {
		while (!w->head && !w->stop)
			pthread_cond_wait(&w->work, &w->mu);
		if (!w->head)
			break;
		struct mlw_op *ops = w->head, *last = ops;
		size_t n = 1;
		while (last->next && n < WRITER_BATCH) {
			last = last->next;
			n++;
		}
		w->head = last->next;
		if (!w->head)
			w->tail = NULL;
		last->next = NULL;
		w->queued -= n;
		pthread_mutex_unlock(&w->mu);
		writer_batch(w, ops);
		while (ops) {
			struct mlw_op *next = ops->next;
			free(ops);
			ops = next;
		}
		pthread_mutex_lock(&w->mu);
		w->written += n;
		pthread_cond_broadcast(&w->done);
	}
	pthread_mutex_unlock(&w->mu);
	return NULL;
}

struct msglog_writer *msglog_writer_open(const char *db_path, struct err *e)
{
	struct msglog_writer *w = calloc(1, sizeof *w);
	if (!w) {
		err_set(e, "out of memory");
		return NULL;
	}
	w->db = db_open(db_path, e);
	if (!w->db || msglog_init(w->db, e) < 0) {
		db_close(w->db);
		free(w);
		return NULL;
	}
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->work, NULL);
	pthread_cond_init(&w->done, NULL);
	if (pthread_create(&w->thread, NULL, writer_main, w) != 0) {
		err_set(e, "message log: cannot start the writer thread");
		db_close(w->db);
		free(w);
		return NULL;
	}
	return w;
}

static int writer_queue(struct msglog_writer *w, struct mlw_op *op)
{
	pthread_mutex_lock(&w->mu);
	if (!op || w->queued >= WRITER_QUEUE_MAX || w->stop) {
		/* the log must never hold mail up: drop, count, say so now and then */
		if (w->dropped++ % 1000 == 0)
			log_warn("message log: writer queue full, %llu entries dropped so far",
				 (unsigned long long)w->dropped);
		pthread_mutex_unlock(&w->mu);
		free(op);
		return -1;
	}
	if (w->tail)
		w->tail->next = op;
	else
		w->head = op;
	w->tail = op;
	w->queued++;
	w->added++;
	pthread_cond_signal(&w->work);
	pthread_mutex_unlock(&w->mu);
	return 0;
}

int msglog_writer_add(struct msglog_writer *w, const struct msglog_row *r)
{
	return writer_queue(w, op_copy(r));
}

int msglog_writer_set_delivery(struct msglog_writer *w, const char *queue_id, const char *status)
{
	if (!queue_id || !*queue_id || !status || !*status)
		return -1;
	struct msglog_row r = {.time_ms = 1, .queue_id = queue_id, .delivery = status};
	struct mlw_op *op = op_copy(&r);
	if (op)
		op->is_delivery = 1;
	return writer_queue(w, op);
}

void msglog_writer_flush(struct msglog_writer *w)
{
	pthread_mutex_lock(&w->mu);
	uint64_t target = w->added;
	while (w->written < target)
		pthread_cond_wait(&w->done, &w->mu);
	pthread_mutex_unlock(&w->mu);
}

uint64_t msglog_writer_dropped(struct msglog_writer *w)
{
	pthread_mutex_lock(&w->mu);
	uint64_t n = w->dropped;
	pthread_mutex_unlock(&w->mu);
	return n;
}

void msglog_writer_close(struct msglog_writer *w)
{
	if (!w)
		return;
	pthread_mutex_lock(&w->mu);
	w->stop = 1;
	pthread_cond_signal(&w->work);
	pthread_mutex_unlock(&w->mu);
	pthread_join(w->thread, NULL); /* the thread drains the queue first */
	db_close(w->db);
	pthread_cond_destroy(&w->done);
	pthread_cond_destroy(&w->work);
	pthread_mutex_destroy(&w->mu);
	free(w);
}
