/* The quarantine store: messages held back for a recipient. The message
 * file is a hard link to the spool file (same bytes: envelope header,
 * then the message from body_off) under data_dir/quarantine/<queue id>;
 * the index is the SQLite table quarantine, one row per recipient (the
 * file goes with its last row). Node-local: the cluster will keep each
 * user's rows on two owners. Every call is blocking: worker thread. */
#ifndef RAMPART_STORE_QUARANTINE_H
#define RAMPART_STORE_QUARANTINE_H

#include <jansson.h>
#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

#define QUARANTINE_MAX_READ (64u << 20) /* largest message read back */

struct quarantine_entry {
	const char *queue_id;
	const char *rcpt;
	const char *mail_from;
	const char *subject;
	double score;
	const char *rules;
	const char *reason;
	int64_t time_ms;
	int64_t size;
	size_t body_off;    /* where the message starts in the file */
};

int quarantine_init(sqlite3 *db, const char *data_dir, struct err *e);
/* Durably links spool_path into the store (once per message) and indexes
 * one row per recipient. */
int quarantine_add(sqlite3 *db, const char *data_dir, const char *spool_path,
		   const struct quarantine_entry *q, struct err *e);

struct quarantine_query {
	const char *rcpt;     /* NULL: every recipient */
	const char *search;   /* case-insensitive substring of sender or subject */
	const char *sort;     /* time (default) | score | from | subject | size */
	int asc;              /* default newest/highest first */
	int64_t since_ms, until_ms; /* [since, until); 0 = open */
	int64_t after_id;     /* only rows with a larger id (summaries) */
	int limit;            /* <= 0: 50; at most 1000 */
	int offset;
};
/* {"total": N, "rows": [row...]}; row = {"id", "queue_id", "rcpt",
 * "mail_from", "subject", "score", "rules": [...], "reason", "time_ms",
 * "time", "size"}; NULL and e on a bad sort key or SQL error. */
json_t *quarantine_search(sqlite3 *db, const struct quarantine_query *q, struct err *e);

/* One message, located by id; when rcpt is not NULL the row must belong
 * to that recipient (otherwise it is "not found", like a missing id). */
struct quarantine_msg {
	int64_t id;
	char queue_id[64];
	char rcpt[320];
	char mail_from[512];
	char path[4300];
	size_t body_off;
	json_t *row;        /* the row as JSON (caller frees with json_decref) */
};
int quarantine_get(sqlite3 *db, const char *data_dir, int64_t id, const char *rcpt,
		   struct quarantine_msg *m, struct err *e);
/* The message bytes (after the envelope header), malloc'd and
 * NUL-terminated. */
int quarantine_read(const struct quarantine_msg *m, char **data, size_t *len, struct err *e);
/* Removes one row (owner check as quarantine_get); the file goes with its
 * last row. */
int quarantine_delete(sqlite3 *db, const char *data_dir, int64_t id, const char *rcpt,
		      struct err *e);
/* Every row of one recipient (account deleted). Returns rows removed. */
int quarantine_delete_rcpt(sqlite3 *db, const char *data_dir, const char *rcpt, struct err *e);
/* Rows older than older_than_ms (retention). Returns rows removed. */
int quarantine_purge(sqlite3 *db, const char *data_dir, int64_t older_than_ms, struct err *e);
/* Rows of one recipient (NULL: all). */
int64_t quarantine_count(sqlite3 *db, const char *rcpt);
/* Row ids holding this queue id: JSON array of integers. */
json_t *quarantine_ids_for_queue(sqlite3 *db, const char *queue_id);
/* The queue file of a queue id in the quarantine directory, if any:
 * 0 and path filled, -1 otherwise. */
int quarantine_file_of(sqlite3 *db, const char *data_dir, const char *queue_id, char *path,
		       size_t pathlen, size_t *body_off);

/* Summary bookkeeping: when rcpt's last summary was sent and the highest
 * row id it covered (0/0 when never). */
void quarantine_summary_get(sqlite3 *db, const char *rcpt, int64_t *sent_ms, int64_t *upto_id);
int quarantine_summary_set(sqlite3 *db, const char *rcpt, int64_t sent_ms, int64_t upto_id,
			   struct err *e);
/* Recipients with at least one row newer than their last summary:
 * array of strings. */
json_t *quarantine_rcpts_with_new(sqlite3 *db, struct err *e);

#endif
