/* The quarantine store: messages held back for a recipient. The message
 * file is a hard link to the spool file (same bytes, no copy) under
 * data_dir/quarantine/; the index is the SQLite table quarantine. Until
 * per-user quarantines exist it is one store keyed by recipient. */
#ifndef RAMPART_STORE_QUARANTINE_H
#define RAMPART_STORE_QUARANTINE_H

#include <jansson.h>
#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

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
 * one row per recipient. Blocking: worker thread. */
int quarantine_add(sqlite3 *db, const char *data_dir, const char *spool_path,
		   const struct quarantine_entry *q, struct err *e);
/* Rows, newest first, optionally for one recipient. */
json_t *quarantine_list(sqlite3 *db, const char *rcpt, int limit, int offset, struct err *e);
/* Path and body offset of a quarantined message by row id. */
int quarantine_locate(sqlite3 *db, const char *data_dir, int64_t id, char *path, size_t pathlen,
		      size_t *body_off, json_t **row, struct err *e);
/* Removes one row; the file goes with its last row. */
int quarantine_delete(sqlite3 *db, const char *data_dir, int64_t id, struct err *e);
int quarantine_purge(sqlite3 *db, const char *data_dir, int64_t older_than_ms, struct err *e);

#endif
