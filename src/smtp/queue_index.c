/* The queue index (table queue_rcpt) written by one thread in batches.
 * The spool file is the durable record of a message; its rows only save
 * work after a restart (finished recipients are not delivered again, a
 * message without rows is scanned again). So the index does not need a
 * commit per change: one writer, one transaction per batch, no lock
 * contention between scan threads, nothing on the message path. Changes
 * are applied in the order they were queued. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "smtp/queue.h"
#include "smtp/queue_int.h"
#include "store/db.h"
#include "util/log.h"

#define QI_BATCH 1000

enum qi_kind { QI_ADD, QI_UPDATE, QI_REMOVE, QI_FLUSH };

struct qi_op {
	struct qi_op *next;
	enum qi_kind kind;
	char id[SPOOL_ID_LEN];
	char *rcpt;
	int action, state, attempts;
	int64_t next_try;
	char last_reply[300];
	char status[16];
	int *flushed;          /* QI_FLUSH: set when everything before is written */
};

struct queue_index {
	sqlite3 *db;
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t work, done;
	struct qi_op *head, *tail;
	int stop;
};

static const char *const qi_sql[] = {
	[QI_ADD] = "INSERT OR REPLACE INTO queue_rcpt (id, rcpt, action, state) VALUES (?1, ?2, ?3, ?4)",
	[QI_UPDATE] = "UPDATE queue_rcpt SET state = ?4, attempts = ?5, next_try = ?6,"
		      " last_reply = ?7, status = ?8 WHERE id = ?1 AND rcpt = ?2",
	[QI_REMOVE] = "DELETE FROM queue_rcpt WHERE id = ?1",
};

static void qi_push(struct queue_index *qi, struct qi_op *op)
{
	pthread_mutex_lock(&qi->mu);
	op->next = NULL;
	if (qi->tail)
		qi->tail->next = op;
	else
		qi->head = op;
	qi->tail = op;
	pthread_cond_signal(&qi->work);
	pthread_mutex_unlock(&qi->mu);
}

static void qi_apply(struct queue_index *qi, struct qi_op *op)
{
	struct err e;
	sqlite3_stmt *st = db_cached(qi->db, qi_sql[op->kind], &e);
	if (!st) {
		log_warn("queue index: %s", e.msg);
		return;
	}
	sqlite3_bind_text(st, 1, op->id, -1, SQLITE_STATIC);
	if (op->rcpt)
		sqlite3_bind_text(st, 2, op->rcpt, -1, SQLITE_STATIC);
	if (op->kind == QI_ADD) {
		sqlite3_bind_int(st, 3, op->action);
		sqlite3_bind_int(st, 4, op->state);
	} else if (op->kind == QI_UPDATE) {
		sqlite3_bind_int(st, 4, op->state);
		sqlite3_bind_int(st, 5, op->attempts);
		sqlite3_bind_int64(st, 6, op->next_try);
		sqlite3_bind_text(st, 7, op->last_reply, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 8, op->status, -1, SQLITE_STATIC);
	}
	if (sqlite3_step(st) != SQLITE_DONE)
		log_warn("queue index: %s: %s", op->id, sqlite3_errmsg(qi->db));
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
}

static void *qi_main(void *arg)
{
	struct queue_index *qi = arg;
	pthread_mutex_lock(&qi->mu);
	for (;;) {
		while (!qi->head && !qi->stop)
			pthread_cond_wait(&qi->work, &qi->mu);
		if (!qi->head)
			break;
		struct qi_op *batch = qi->head;
		qi->head = qi->tail = NULL;
		pthread_mutex_unlock(&qi->mu);
		db_exec(qi->db, "BEGIN", NULL);
		int n = 0;
		for (struct qi_op *op = batch; op; op = op->next) {
			if (op->kind != QI_FLUSH)
				qi_apply(qi, op);
			if (++n % QI_BATCH == 0) {
				db_exec(qi->db, "COMMIT", NULL);
				db_exec(qi->db, "BEGIN", NULL);
			}
		}
		db_exec(qi->db, "COMMIT", NULL);
		pthread_mutex_lock(&qi->mu);
		while (batch) {
			struct qi_op *next = batch->next;
			if (batch->kind == QI_FLUSH) {
				*batch->flushed = 1;
				pthread_cond_broadcast(&qi->done);
			}
			free(batch->rcpt);
			free(batch);
			batch = next;
		}
	}
	pthread_mutex_unlock(&qi->mu);
	return NULL;
}

struct queue_index *queue_index_open(const char *db_path, struct err *e)
{
	struct queue_index *qi = calloc(1, sizeof *qi);
	if (!qi) {
		err_set(e, "out of memory");
		return NULL;
	}
	qi->db = db_open(db_path, e);
	if (!qi->db || queue_db_init(qi->db, e) < 0) {
		if (qi->db)
			db_close(qi->db);
		free(qi);
		return NULL;
	}
	pthread_mutex_init(&qi->mu, NULL);
	pthread_cond_init(&qi->work, NULL);
	pthread_cond_init(&qi->done, NULL);
	if (pthread_create(&qi->thread, NULL, qi_main, qi) != 0)
		log_fatal("queue index: cannot start thread");
	return qi;
}

static struct qi_op *qi_op_new(enum qi_kind kind, const char *id, const char *rcpt)
{
	struct qi_op *op = calloc(1, sizeof *op);
	if (!op)
		log_fatal("out of memory");
	op->kind = kind;
	snprintf(op->id, sizeof op->id, "%s", id);
	op->rcpt = rcpt ? strdup(rcpt) : NULL;
	return op;
}

void queue_index_add(struct queue_index *qi, const struct envelope *env,
		     const enum action *rcpt_action)
{
	for (int i = 0; i < env->nrcpt; i++) {
		struct qi_op *op = qi_op_new(QI_ADD, env->id, env->rcpts[i]);
		enum action a = QUEUE_ACTION(rcpt_action[i]);
		int deliverable = a == ACTION_ALLOW || a == ACTION_TAG;
		op->action = rcpt_action[i];
		op->state = deliverable ? QR_PENDING : QR_DONE;
		qi_push(qi, op);
	}
}

void queue_index_update(struct queue_index *qi, const char *id, const char *rcpt, int state,
			int attempts, int64_t next_try, const char *last_reply, const char *status)
{
	struct qi_op *op = qi_op_new(QI_UPDATE, id, rcpt);
	op->state = state;
	op->attempts = attempts;
	op->next_try = next_try;
	snprintf(op->last_reply, sizeof op->last_reply, "%s", last_reply);
	snprintf(op->status, sizeof op->status, "%s", status);
	qi_push(qi, op);
}

void queue_index_remove(struct queue_index *qi, const char *id)
{
	qi_push(qi, qi_op_new(QI_REMOVE, id, NULL));
}

void queue_index_flush(struct queue_index *qi)
{
	int flushed = 0;
	struct qi_op *op = qi_op_new(QI_FLUSH, "", NULL);
	op->flushed = &flushed;
	qi_push(qi, op);
	pthread_mutex_lock(&qi->mu);
	while (!flushed)
		pthread_cond_wait(&qi->done, &qi->mu);
	pthread_mutex_unlock(&qi->mu);
}

void queue_index_close(struct queue_index *qi)
{
	if (!qi)
		return;
	pthread_mutex_lock(&qi->mu);
	qi->stop = 1;
	pthread_cond_signal(&qi->work);
	pthread_mutex_unlock(&qi->mu);
	pthread_join(qi->thread, NULL);
	db_close(qi->db);
	pthread_mutex_destroy(&qi->mu);
	pthread_cond_destroy(&qi->work);
	pthread_cond_destroy(&qi->done);
	free(qi);
}
