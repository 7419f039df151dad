/* The message log: one row per message (time, node, client, envelope,
 * subject, size, score, rule hits, the layer and reason of the decision,
 * action, delivery status, queue id), in the node's SQLite database. Not
 * replicated: a cluster-wide search asks every node. */
#ifndef RAMPART_STORE_MSGLOG_H
#define RAMPART_STORE_MSGLOG_H

#include <jansson.h>
#include <sqlite3.h>
#include <stdint.h>

#include "util/err.h"

/* Any string may be NULL. Text is stored capped (subject 1000 bytes,
 * rcpts 64K, ...), cut on a UTF-8 boundary. */
struct msglog_row {
	int64_t time_ms; /* 0 = now */
	const char *node;
	const char *client_ip;
	const char *helo;
	const char *mail_from;
	const char *rcpts; /* comma-separated */
	const char *subject;
	int64_t size;
	double score;
	const char *rules; /* comma-separated */
	const char *layer;
	const char *reason;
	const char *action;   /* allow|tag|quarantine|block|tempfail|reject */
	const char *delivery; /* queued|delivered|deferred|bounced|n/a */
	const char *queue_id;
	const char *message_id;
};

/* CREATE TABLE/INDEX IF NOT EXISTS. */
int msglog_init(sqlite3 *db, struct err *e);
/* One row (a cached prepared statement per connection: close the
 * connection with db_close). The new row's id is
 * sqlite3_last_insert_rowid(db). */
int msglog_insert(sqlite3 *db, const struct msglog_row *r, struct err *e);
/* Delivery status of every row with this queue id (none matching is not
 * an error). */
int msglog_set_delivery(sqlite3 *db, const char *queue_id, const char *status, struct err *e);

struct msglog_query {
	int64_t since_ms, until_ms; /* [since, until); 0 = unbounded */
	/* NULL = any; sender/rcpt/subject are case-insensitive substring
	 * matches; client_ip exact ("192.0.2.1", "2001:db8::1") or CIDR
	 * ("192.0.2.0/24"); action exact */
	const char *sender, *rcpt, *subject, *client_ip, *action;
	double min_score;
	int has_min_score;
	int limit; /* <= 0: 50; at most 1000 */
	int offset;
};

/* {"total": N, "rows": [row...]} newest first. A row: {"id", "time_ms",
 * "time" (ISO 8601 UTC), "node", "client_ip", "helo", "mail_from",
 * "rcpts" (array), "subject", "size", "score", "rules" (array), "layer",
 * "reason", "action", "delivery", "queue_id", "message_id"}; absent text
 * is null; text is always valid UTF-8 (bad bytes become U+FFFD). */
json_t *msglog_search(sqlite3 *db, const struct msglog_query *q, struct err *e);
/* One row as above; NULL with e "no message log entry N" when absent. */
json_t *msglog_get(sqlite3 *db, int64_t id, struct err *e);
/* Deletes rows older than older_than_ms, in batches so writers are
 * never held up for long. */
int msglog_purge(sqlite3 *db, int64_t older_than_ms, struct err *e);
/* {"hourly": [24 x bucket], "daily": [25 x bucket]}, oldest first, the
 * last bucket being the current (UTC) hour or day; bucket = {"t": start in
 * ms, "allow": n, "tag": n, "quarantine": n, "block": n, "tempfail": n,
 * "reject": n, "total": n}. */
json_t *msglog_stats(sqlite3 *db, int64_t now_ms, struct err *e);

/* Background writer: the hot path hands rows to a thread that owns its
 * own connection and writes them in batches (up to 1000 per transaction,
 * about ten times the rate of one commit per row), so a message never
 * waits on the log's disk I/O. Operations are applied in the order they
 * were queued. */
struct msglog_writer;
/* Opens db_path (and msglog_init) on the writer's own connection. */
struct msglog_writer *msglog_writer_open(const char *db_path, struct err *e);
/* Copies the row (capped as above) and queues it; thread-safe, never
 * blocks on I/O. -1 when the queue is full (100000 rows): the row is
 * dropped and counted, mail is never held up by the log. */
int msglog_writer_add(struct msglog_writer *w, const struct msglog_row *r);
/* msglog_set_delivery through the queue (so it follows the insert). */
int msglog_writer_set_delivery(struct msglog_writer *w, const char *queue_id, const char *status);
/* Returns when everything queued before the call is written. */
void msglog_writer_flush(struct msglog_writer *w);
uint64_t msglog_writer_dropped(struct msglog_writer *w);
/* Writes what is queued, stops the thread, closes. NULL is a no-op. */
void msglog_writer_close(struct msglog_writer *w);

#endif
