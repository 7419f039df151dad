/* The delivery queue: every accepted message until each recipient is
 * delivered, bounced or handed to quarantine. The spool file is the
 * durable record; per-recipient progress is kept in SQLite (table
 * queue_rcpt) and rebuilt from the spool if it is missing. */
#ifndef RAMPART_SMTP_QUEUE_H
#define RAMPART_SMTP_QUEUE_H

#include <jansson.h>
#include <sqlite3.h>
#include <stddef.h>

#include "filter/pipeline.h"
#include "mail/spool.h"
#include "util/err.h"

struct node;
struct queue;

int queue_db_init(sqlite3 *db, struct err *e);
struct queue *queue_new(struct node *n, struct err *e);
/* The index of per-recipient progress (queue_index.c): written by its
 * own thread in batches, in the order of the calls; any thread may call. */
struct queue_index;
struct queue_index *queue_index_open(const char *db_path, struct err *e);
void queue_index_add(struct queue_index *qi, const struct envelope *env,
		     const enum action *rcpt_action);
void queue_index_update(struct queue_index *qi, const char *id, const char *rcpt, int state,
			int attempts, int64_t next_try, const char *last_reply, const char *status);
void queue_index_remove(struct queue_index *qi, const char *id);
/* Returns when everything queued before is written. */
void queue_index_flush(struct queue_index *qi);
void queue_index_close(struct queue_index *qi);
/* Flag on ACTION_TAG in a recipient's action: deliver the "[QUAR]:" copy
 * (a user with quarantine off) instead of the tagged one. */
#define QUEUE_QUAR_TAG 0x100
#define QUEUE_ACTION(a) ((enum action)((int)(a) & 0xff))

/* Loop thread: takes over env (its fields are moved out). */
void queue_add(struct queue *q, struct envelope *env, size_t body_off, size_t body_len,
	       const enum action *rcpt_action);
/* Worker thread: spools a locally made message (CRLF, dot-unstuffed)
 * for the recipients and queues it for delivery (queue_add runs on the
 * loop). Durable when it returns 0; *id_out gets its queue id. */
int queue_submit_local(struct node *n, sqlite3 *db, const char *mail_from,
		       const char *const *rcpts, int nrcpt, const char *data, size_t len,
		       char *id_out, size_t id_len, struct err *e);
/* Loads the spool at start-up (messages accepted before a crash). */
int queue_recover(struct queue *q, struct err *e);
/* Retries every deferred recipient now. */
void queue_flush(struct queue *q);
json_t *queue_list(struct queue *q);
size_t queue_size(const struct queue *q);
/* Stops starting deliveries; in-flight ones are abandoned (they stay in
 * the spool and are retried after restart). */
void queue_stop(struct queue *q);
void queue_free(struct queue *q);

#endif
