/* Delivery queue: scheduling, retries with exponential backoff, per-
 * recipient state and its persistence. The transports are in
 * queue_deliver.c. */
#include "smtp/queue.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "node.h"
#include "smtp/queue_int.h"
#include "store/config.h"
#include "store/db.h"
#include "store/msglog.h"
#include "util/log.h"
#include "util/metrics.h"
#include "util/pool.h"
#include "util/timeutil.h"

static const char *queue_schema =
	"CREATE TABLE IF NOT EXISTS queue_rcpt ("
	" id TEXT NOT NULL, rcpt TEXT NOT NULL, action INTEGER NOT NULL,"
	" state INTEGER NOT NULL DEFAULT 0, attempts INTEGER NOT NULL DEFAULT 0,"
	" next_try INTEGER NOT NULL DEFAULT 0, last_reply TEXT NOT NULL DEFAULT '',"
	" status TEXT NOT NULL DEFAULT '', PRIMARY KEY (id, rcpt));";

int queue_db_init(sqlite3 *db, struct err *e)
{
	return db_exec(db, queue_schema, e);
}

/* ---- persistence: the index writer (queue_index.c) ---- */

static void persist_rcpt(struct queue *q, struct qmsg *m, int i, const char *delivery)
{
	struct qrcpt *r = &m->r[i];
	queue_index_update(q->node->qindex, m->env.id, r->addr,
			   r->state == QR_INFLIGHT ? QR_PENDING : (int)r->state, r->attempts,
			   r->next_try_ms, r->last_reply, r->status);
	if (delivery)
		msglog_writer_set_delivery(q->node->msglog, m->env.id, delivery);
}

static void persist_remove(struct queue *q, struct qmsg *m, const char *delivery)
{
	msglog_writer_set_delivery(q->node->msglog, m->env.id, delivery);
	queue_index_remove(q->node->qindex, m->env.id);
}

/* ---- messages ---- */

static void qmsg_free(struct qmsg *m)
{
	for (int i = 0; i < m->nr; i++) {
		free(m->r[i].addr);
		free(m->r[i].domain);
	}
	free(m->r);
	envelope_free(&m->env);
	if (m->fd >= 0)
		close(m->fd);
	for (int v = 1; v < 3; v++)
		if (m->tag_fd[v] >= 0)
			close(m->tag_fd[v]);
	free(m);
}

static void queue_gauges(struct queue *q)
{
	int64_t waiting = 0;
	for (struct qmsg *m = q->msgs; m; m = m->next)
		for (int i = 0; i < m->nr; i++)
			waiting += m->r[i].state == QR_PENDING || m->r[i].state == QR_INFLIGHT;
	metrics_gauge_set(G_QUEUE_MESSAGES, (int64_t)q->nmsgs);
	metrics_gauge_set(G_QUEUE_RECIPIENTS, waiting);
}

static void queue_link(struct queue *q, struct qmsg *m)
{
	/* append: oldest first keeps delivery roughly FIFO */
	m->prev = q->tail;
	m->next = NULL;
	if (q->tail)
		q->tail->next = m;
	else
		q->msgs = m;
	q->tail = m;
	q->nmsgs++;
}

static void queue_unlink(struct queue *q, struct qmsg *m)
{
	if (m->prev)
		m->prev->next = m->next;
	else
		q->msgs = m->next;
	if (m->next)
		m->next->prev = m->prev;
	else
		q->tail = m->prev;
	q->nmsgs--;
}

static struct qmsg *qmsg_new(struct envelope *env, const char *queue_dir, size_t body_off,
			     size_t body_len)
{
	struct qmsg *m = calloc(1, sizeof *m);
	m->fd = -1;
	m->tag_fd[1] = m->tag_fd[2] = -1;
	m->env = *env;
	memset(env, 0, sizeof *env);
	snprintf(m->path, sizeof m->path, "%s/%s", queue_dir, m->env.id);
	m->body_off = body_off;
	m->body_len = body_len;
	m->nr = m->env.nrcpt;
	m->r = calloc((size_t)m->nr + 1, sizeof *m->r);
	for (int i = 0; i < m->nr; i++) {
		m->r[i].addr = strdup(m->env.rcpts[i]);
		const char *at = strrchr(m->r[i].addr, '@');
		m->r[i].domain = strdup(at ? at + 1 : "");
		m->r[i].action = ACTION_ALLOW;
	}
	return m;
}

void queue_add(struct queue *q, struct envelope *env, size_t body_off, size_t body_len,
	       const enum action *rcpt_action)
{
	struct qmsg *m = qmsg_new(env, q->node->spool.queue, body_off, body_len);
	for (int i = 0; i < m->nr; i++) {
		enum action a = QUEUE_ACTION(rcpt_action[i]);
		m->r[i].action = a;
		m->r[i].variant = a != ACTION_TAG ? 0 : (rcpt_action[i] & QUEUE_QUAR_TAG) ? 2 : 1;
		if (a != ACTION_ALLOW && a != ACTION_TAG)
			m->r[i].state = QR_DONE; /* quarantined or refused: not ours to deliver */
	}
	queue_link(q, m);
	queue_kick(q);
}

static int msg_finished(const struct qmsg *m)
{
	for (int i = 0; i < m->nr; i++)
		if (m->r[i].state == QR_PENDING || m->r[i].state == QR_INFLIGHT)
			return 0;
	return 1;
}

static int msg_has_failed(const struct qmsg *m)
{
	for (int i = 0; i < m->nr; i++)
		if (m->r[i].state == QR_FAILED)
			return 1;
	return 0;
}

static int msg_has_action(const struct qmsg *m, enum action a)
{
	for (int i = 0; i < m->nr; i++)
		if (m->r[i].action == a)
			return 1;
	return 0;
}

/* The message log's delivery column once every recipient is done. */
static const char *delivery_summary(const struct qmsg *m, int failed)
{
	int delivered = 0, quarantined = 0;
	for (int i = 0; i < m->nr; i++) {
		delivered += m->r[i].state == QR_DONE &&
			     (m->r[i].action == ACTION_ALLOW || m->r[i].action == ACTION_TAG);
		quarantined += m->r[i].action == ACTION_QUARANTINE;
	}
	if (failed)
		return delivered ? "partly bounced" : "bounced";
	if (delivered)
		return "delivered";
	return quarantined ? "quarantined" : "n/a";
}

/* unlink can wait on the disk (online discard): never on the loop */
struct unlink_job {
	char path[4300];
	int tagged;
};

static void unlink_work(void *ctx, void *arg)
{
	(void)ctx;
	struct unlink_job *j = arg;
	if (unlink(j->path) < 0 && errno != ENOENT)
		log_warn("queue: unlink %s: %s", j->path, strerror(errno));
	if (j->tagged) {
		char tag[4400];
		snprintf(tag, sizeof tag, "%s.tag", j->path);
		unlink(tag);
		snprintf(tag, sizeof tag, "%s.qtag", j->path);
		unlink(tag);
	}
}

static void unlink_done(void *arg)
{
	free(arg);
}

/* Every recipient is finished: bounce what failed, then drop the file. */
static void msg_complete(struct queue *q, struct qmsg *m)
{
	int failed = msg_has_failed(m);
	if (failed && !m->dsn_done && m->env.mail_from[0]) {
		m->dsn_done = 1;
		m->inflight++;           /* held until the DSN is spooled */
		deliver_make_dsn(q, m);
		return;
	}
	if (failed && !m->env.mail_from[0])
		log_info("queue: %s: failed recipients of a bounce are dropped (null sender)", m->env.id);
	queue_unlink(q, m);
	/* the files go first, then the rows (same I/O job order is not
	 * needed: a crash in between redelivers, a duplicate, never a loss) */
	struct unlink_job *j = calloc(1, sizeof *j);
	snprintf(j->path, sizeof j->path, "%s", m->path);
	j->tagged = msg_has_action(m, ACTION_TAG);
	pool_submit(q->node->io_pool, unlink_work, unlink_done, j);
	persist_remove(q, m, delivery_summary(m, failed));
	qmsg_free(m);
}

static int64_t backoff_ms(struct queue *q, int attempts)
{
	int64_t lo = config_int(q->node->cfg, "queue_retry_min", NULL, NULL) * 1000;
	int64_t hi = config_int(q->node->cfg, "queue_retry_max", NULL, NULL) * 1000;
	int64_t d = lo;
	for (int i = 1; i < attempts && d < hi; i++)
		d *= 2;
	return d < hi ? d : hi;
}

void queue_rcpt_result(struct queue *q, struct qmsg *m, int i, int code, const char *enh,
		       const char *text)
{
	struct qrcpt *r = &m->r[i];
	int64_t now = time_now_ms();
	r->attempts++;
	if (code)
		snprintf(r->last_reply, sizeof r->last_reply, "%d %s%s%s", code, enh ? enh : "",
			 enh && enh[0] ? " " : "", text);
	else
		snprintf(r->last_reply, sizeof r->last_reply, "%s", text);
	const char *delivery = NULL;
	if (code >= 200 && code < 300) {
		r->state = QR_DONE;
		metrics_inc(M_DELIVERY_SUCCESS);
		log_info("queue: %s: delivered to <%s>: %s", m->env.id, log_esc(r->addr),
			 log_esc(r->last_reply));
	} else if (code >= 500) {
		r->state = QR_FAILED;
		snprintf(r->status, sizeof r->status, "%s", enh && enh[0] ? enh : "5.0.0");
		metrics_inc(M_DELIVERY_FAILED);
		log_info("queue: %s: <%s> failed permanently: %s", m->env.id, log_esc(r->addr),
			 log_esc(r->last_reply));
	} else {
		int64_t lifetime = config_int(q->node->cfg, "queue_lifetime", NULL, NULL) * 1000;
		if (now - m->env.time_ms >= lifetime) {
			r->state = QR_FAILED;
			snprintf(r->status, sizeof r->status, "4.4.7");
			metrics_inc(M_DELIVERY_FAILED);
			log_info("queue: %s: <%s> expired after %d attempts: %s", m->env.id,
				 log_esc(r->addr), r->attempts, log_esc(r->last_reply));
		} else {
			r->state = QR_PENDING;
			r->dest = NULL; /* the retry looks the destination up again */
			r->next_try_ms = now + backoff_ms(q, r->attempts);
			metrics_inc(M_DELIVERY_DEFERRED);
			delivery = "deferred";
			log_info("queue: %s: <%s> deferred (attempt %d, next in %llds): %s",
				 m->env.id, log_esc(r->addr), r->attempts,
				 (long long)(r->next_try_ms - now) / 1000, log_esc(r->last_reply));
		}
	}
	persist_rcpt(q, m, i, delivery);
}

void queue_attempt_finished(struct queue *q, struct attempt *a)
{
	struct qmsg *m = a->m;
	free(a);
	if (--m->inflight > 0)
		return;
	if (m->fd >= 0) {
		close(m->fd);
		m->fd = -1;
	}
	for (int v = 1; v < 3; v++)
		if (m->tag_fd[v] >= 0) {
			close(m->tag_fd[v]);
			m->tag_fd[v] = -1;
		}
	if (msg_finished(m))
		msg_complete(q, m);
	queue_kick(q);
}

/* ---- scheduling ---- */

static void dest_key(struct queue *q, const struct qrcpt *r, char *out, size_t outlen)
{
	struct domain_info di;
	if (config_domain_get(q->node->cfg, r->domain, &di) == 0) {
		snprintf(out, outlen, "%s", di.destination);
		return;
	}
	/* not one of our domains (a DSN to an outside sender) */
	char relay[512];
	config_str(q->node->cfg, "outbound_relay", NULL, NULL, relay, sizeof relay);
	if (relay[0])
		snprintf(out, outlen, "%s", relay);
	else
		snprintf(out, outlen, "mx:%s", r->domain);
}

static int dest_has_capacity(struct queue *q, struct dest *d)
{
	if (strncmp(d->key, "maildir:", 8) == 0)
		return d->active < 4; /* worker jobs; keep some threads for scanning */
	return d->idle || d->active < config_int(q->node->cfg, "queue_max_per_destination", NULL, NULL);
}

static const char *const variant_suffix[] = {"", ".tag", ".qtag"};

static int msg_open(struct qmsg *m, int variant)
{
	if (!variant && m->fd < 0)
		m->fd = open(m->path, O_RDONLY | O_CLOEXEC);
	if (variant && m->tag_fd[variant] < 0) {
		char tag[4300];
		struct stat st;
		snprintf(tag, sizeof tag, "%s%s", m->path, variant_suffix[variant]);
		m->tag_fd[variant] = open(tag, O_RDONLY | O_CLOEXEC);
		if (m->tag_fd[variant] >= 0 && fstat(m->tag_fd[variant], &st) == 0)
			m->tag_len[variant] = (size_t)st.st_size;
	}
	if ((variant ? m->tag_fd[variant] : m->fd) < 0) {
		log_error("queue: %s%s: %s", m->path, variant_suffix[variant], strerror(errno));
		return -1;
	}
	return 0;
}

/* Starts attempts for every due recipient of m, grouped by destination. */
static void schedule_msg(struct queue *q, struct qmsg *m, int64_t now)
{
	char key[600], other[600];
	if (!m->inflight && msg_finished(m)) {
		/* nothing to deliver (quarantined, or finished before a crash) */
		msg_complete(q, m);
		return;
	}
	for (int i = 0; i < m->nr; i++) {
		struct qrcpt *r = &m->r[i];
		if (r->state != QR_PENDING || r->next_try_ms > now)
			continue;
		if (!r->dest) {
			dest_key(q, r, key, sizeof key);
			r->dest = queue_dest(q, key);
		}
		struct dest *d = r->dest;
		if (!dest_has_capacity(q, d))
			continue;
		if (r->variant && msg_open(m, r->variant) < 0) {
			/* a lost tagged copy (crash before it was written): deliver
			 * the original rather than nothing */
			log_warn("queue: %s: <%s> gets the untagged message", m->env.id,
				 log_esc(r->addr));
			for (int j = 0; j < m->nr; j++)
				if (m->r[j].variant == r->variant)
					m->r[j].variant = 0;
		}
		int variant = r->variant;
		if (msg_open(m, variant) < 0)
			return;
		struct attempt *a = calloc(1, sizeof *a);
		a->q = q;
		a->m = m;
		a->d = d;
		a->variant = variant;
		for (int j = i; j < m->nr && a->n < SMTP_CLIENT_MAX_RCPT; j++) {
			struct qrcpt *rj = &m->r[j];
			if (rj->state != QR_PENDING || rj->next_try_ms > now ||
			    rj->variant != variant)
				continue;
			if (j != i) {
				if (!rj->dest) {
					dest_key(q, rj, other, sizeof other);
					rj->dest = queue_dest(q, other);
				}
				if (rj->dest != d)
					continue;
			}
			rj->state = QR_INFLIGHT;
			a->idx[a->n] = j;
			a->rcpts[a->n++] = rj->addr;
		}
		m->inflight++;
		metrics_inc(M_DELIVERY_ATTEMPTS);
		deliver_start(q, a);
	}
}

static void run_schedule(struct queue *q)
{
	if (q->stopped)
		return;
	int64_t now = time_now_ms();
	for (struct qmsg *m = q->msgs, *next; m; m = next) {
		next = m->next;
		schedule_msg(q, m, now);
	}
}

static void on_kick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	run_schedule(arg);
}

/* Once a second: due retries, and the gauges (a full walk, so not on
 * every kick). */
static void on_tick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	run_schedule(arg);
	queue_gauges(arg);
}

void queue_kick(struct queue *q)
{
	if (!q->stopped)
		event_active(q->kick, EV_TIMEOUT, 0);
}

struct dest *queue_dest(struct queue *q, const char *key)
{
	struct dest *d = strmap_get(&q->dests, key);
	if (d)
		return d;
	d = calloc(1, sizeof *d);
	snprintf(d->key, sizeof d->key, "%s", key);
	strmap_put(&q->dests, key, d, NULL);
	return d;
}

struct queue *queue_new(struct node *n, struct err *e)
{
	(void)e;
	struct queue *q = calloc(1, sizeof *q);
	q->node = n;
	strmap_init(&q->dests);
	q->kick = event_new(n->base, -1, 0, on_kick, q);
	q->tick = event_new(n->base, -1, EV_PERSIST, on_tick, q);
	struct timeval one = {1, 0};
	event_add(q->tick, &one);
	return q;
}

void queue_flush(struct queue *q)
{
	for (struct qmsg *m = q->msgs; m; m = m->next)
		for (int i = 0; i < m->nr; i++)
			if (m->r[i].state == QR_PENDING)
				m->r[i].next_try_ms = 0;
	queue_kick(q);
}

size_t queue_size(const struct queue *q)
{
	return q->nmsgs;
}

static const char *state_names[] = {"pending", "delivering", "done", "failed"};

json_t *queue_list(struct queue *q)
{
	json_t *arr = json_array();
	char when[32];
	for (struct qmsg *m = q->msgs; m; m = m->next) {
		json_t *rc = json_array();
		for (int i = 0; i < m->nr; i++) {
			struct qrcpt *r = &m->r[i];
			time_iso8601((time_t)(r->next_try_ms / 1000), when, sizeof when);
			json_array_append_new(
				rc, json_pack("{s:s, s:s, s:i, s:s, s:s}", "address", r->addr, "state",
					      state_names[r->state], "attempts", r->attempts,
					      "next_attempt", r->next_try_ms ? when : "",
					      "last_reply", r->last_reply));
		}
		time_iso8601((time_t)(m->env.time_ms / 1000), when, sizeof when);
		json_array_append_new(arr, json_pack("{s:s, s:s, s:s, s:I, s:o}", "id", m->env.id,
						     "from", m->env.mail_from, "arrival", when,
						     "size", (json_int_t)m->body_len, "recipients", rc));
	}
	return arr;
}

void queue_stop(struct queue *q)
{
	q->stopped = 1;
	event_del(q->tick);
}

static void dest_free_cb(void *d)
{
	deliver_dest_free(d);
}

void queue_free(struct queue *q)
{
	if (!q)
		return;
	while (q->msgs) {
		struct qmsg *m = q->msgs;
		queue_unlink(q, m);
		qmsg_free(m);
	}
	strmap_free(&q->dests, dest_free_cb);
	event_free(q->kick);
	event_free(q->tick);
	free(q);
}
