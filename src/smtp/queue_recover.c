/* Start-up: rebuild the queue from the spool. Every file in spool/queue
 * is a message that was answered 250; recipients already finished are
 * known from queue_rcpt; a message with no rows (a crash between the
 * spool commit and the index write) is scanned again. */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "node.h"
#include "smtp/queue_int.h"
#include "store/db.h"
#include "util/log.h"
#include "util/pool.h"

struct rescan {
	struct queue *q;
	struct envelope env;
	char path[4200];
	size_t body_off, body_len;
	enum action *actions;
	int ok;
};

static void rescan_work(void *ctx, void *arg)
{
	struct filter_thread *ft = ctx;
	struct rescan *r = arg;
	struct verdict v;
	verdict_init(&v, r->env.nrcpt);
	int fd = open(r->path, O_RDONLY | O_CLOEXEC);
	size_t total = r->body_off + r->body_len;
	void *map = fd >= 0 && total ? mmap(NULL, total, PROT_READ, MAP_PRIVATE, fd, 0) : MAP_FAILED;
	if (fd >= 0)
		close(fd);
	r->actions = calloc((size_t)r->env.nrcpt + 1, sizeof *r->actions);
	if (map != MAP_FAILED) {
		struct scan_input in = {
			.path = r->path,
			.body_offset = r->body_off,
			.data = (const char *)map + r->body_off,
			.len = r->body_len,
			.client_ip = r->env.client_ip,
			.helo = r->env.helo,
			.mail_from = r->env.mail_from,
			.rcpts = (const char *const *)r->env.rcpts,
			.nrcpt = r->env.nrcpt,
		};
		filter_scan(ft, &in, &v);
		munmap(map, total);
	}
	/* It was answered 250: whatever the rescan says, it is not dropped.
	 * A block or tempfail verdict now delivers (the safe side). */
	for (int i = 0; i < r->env.nrcpt; i++) {
		enum action a = v.nrcpt > i ? v.rcpt[i].action : ACTION_ALLOW;
		r->actions[i] = (a == ACTION_BLOCK || a == ACTION_TEMPFAIL) ? ACTION_ALLOW : a;
		if (a == ACTION_TAG && v.rcpt[i].quar_tag)
			r->actions[i] = (enum action)(ACTION_TAG | QUEUE_QUAR_TAG);
	}
	queue_index_add(r->q->node->qindex, &r->env, r->actions);
	verdict_free(&v);
	r->ok = 1;
}

static void rescan_done(void *arg)
{
	struct rescan *r = arg;
	if (!r->q->stopped)
		queue_add(r->q, &r->env, r->body_off, r->body_len, r->actions);
	envelope_free(&r->env);
	free(r->actions);
	free(r);
}

static int load_rows(sqlite3 *db, struct qmsg *m)
{
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(db,
			       "SELECT rcpt, action, state, attempts, next_try, last_reply, status"
			       " FROM queue_rcpt WHERE id = ?",
			       -1, &st, NULL) != SQLITE_OK)
		return 0;
	sqlite3_bind_text(st, 1, m->env.id, -1, SQLITE_STATIC);
	int found = 0;
	while (sqlite3_step(st) == SQLITE_ROW) {
		const char *rcpt = (const char *)sqlite3_column_text(st, 0);
		for (int i = 0; i < m->nr; i++) {
			struct qrcpt *r = &m->r[i];
			if (strcmp(r->addr, rcpt) != 0)
				continue;
			found++;
			r->action = sqlite3_column_int(st, 1);
			r->state = sqlite3_column_int(st, 2);
			if (r->state == QR_INFLIGHT)
				r->state = QR_PENDING;
			r->attempts = sqlite3_column_int(st, 3);
			r->next_try_ms = sqlite3_column_int64(st, 4);
			snprintf(r->last_reply, sizeof r->last_reply, "%s",
				 (const char *)sqlite3_column_text(st, 5));
			snprintf(r->status, sizeof r->status, "%s",
				 (const char *)sqlite3_column_text(st, 6));
		}
	}
	sqlite3_finalize(st);
	return found;
}

static void recover_file(struct queue *q, sqlite3 *db, const char *path, int *n_loaded,
			 int *n_rescan)
{
	struct envelope env;
	size_t off, len;
	struct err e;
	if (spool_read_envelope(path, &env, &off, &len, &e) < 0) {
		log_error("queue: %s (left in place)", e.msg);
		return;
	}
	struct qmsg probe;
	memset(&probe, 0, sizeof probe);
	probe.env = env;
	probe.nr = env.nrcpt;
	probe.r = calloc((size_t)env.nrcpt + 1, sizeof *probe.r);
	for (int i = 0; i < env.nrcpt; i++)
		probe.r[i].addr = env.rcpts[i];
	int rows = load_rows(db, &probe);
	if (rows == 0) {
		free(probe.r);
		struct rescan *r = calloc(1, sizeof *r);
		r->q = q;
		r->env = env;
		snprintf(r->path, sizeof r->path, "%s", path);
		r->body_off = off;
		r->body_len = len;
		pool_submit(q->node->pool, rescan_work, rescan_done, r);
		(*n_rescan)++;
		return;
	}
	enum action *actions = calloc((size_t)env.nrcpt + 1, sizeof *actions);
	for (int i = 0; i < env.nrcpt; i++)
		actions[i] = probe.r[i].action;
	struct qrcpt *saved = probe.r;
	queue_add(q, &env, off, len, actions);
	/* queue_add appended the message last: restore per-recipient progress */
	struct qmsg *m = q->msgs;
	while (m->next)
		m = m->next;
	for (int i = 0; i < m->nr; i++) {
		m->r[i].state = saved[i].state;
		m->r[i].attempts = saved[i].attempts;
		m->r[i].next_try_ms = saved[i].next_try_ms;
		memcpy(m->r[i].last_reply, saved[i].last_reply, sizeof m->r[i].last_reply);
		memcpy(m->r[i].status, saved[i].status, sizeof m->r[i].status);
	}
	free(saved);
	free(actions);
	(*n_loaded)++;
}

static void clean_incoming(const char *dir)
{
	DIR *d = opendir(dir);
	if (!d)
		return;
	struct dirent *de;
	int n = 0;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		char p[4400];
		snprintf(p, sizeof p, "%s/%s", dir, de->d_name);
		/* never answered 250: the client still has the message */
		if (unlink(p) == 0)
			n++;
	}
	closedir(d);
	if (n)
		log_info("queue: removed %d partially received message(s)", n);
}

int queue_recover(struct queue *q, struct err *e)
{
	struct node *n = q->node;
	clean_incoming(n->spool.incoming);
	sqlite3 *db = db_open(n->db_path, e);
	if (!db)
		return -1;
	DIR *d = opendir(n->spool.queue);
	if (!d) {
		db_close(db);
		return err_set(e, "cannot read %s", n->spool.queue);
	}
	int loaded = 0, rescan = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.' || strchr(de->d_name, '.'))
			continue; /* temporary files and tagged copies (ID.tag) */
		char p[4400];
		snprintf(p, sizeof p, "%s/%s", n->spool.queue, de->d_name);
		recover_file(q, db, p, &loaded, &rescan);
	}
	closedir(d);
	db_close(db);
	if (loaded || rescan)
		log_info("queue: recovered %d message(s), %d to be scanned again", loaded, rescan);
	queue_kick(q);
	return 0;
}
