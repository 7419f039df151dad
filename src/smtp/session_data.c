/* The DATA phase: stream the message into the spool (dot-unstuffed,
 * checked line by line), hand it to the scan pool, and answer with the
 * pipeline's verdict once the spool file is durable. */
#include <event2/buffer.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "filter/pipeline.h"
#include "node.h"
#include "smtp/queue.h"
#include "smtp/session.h"
#include "store/config.h"
#include "store/msglog.h"
#include "store/quarantine.h"
#include "web/web.h"
#include "mail/rewrite.h"
#include <errno.h>
#include "util/log.h"
#include "util/metrics.h"
#include "util/pool.h"
#include "util/timeutil.h"

struct scan_task {
	struct session *s;          /* NULL once the client went away */
	struct node *node;
	struct spool_writer w;
	struct envelope env;
	struct verdict v;
	enum action *rcpt_action;
	int commit;        /* accepted: the commit stage makes it durable */
	int committed;
	int code;
	char enh[16];
	char text[512];
	int64_t start_us;
};

static void write_received(struct session *s)
{
	char date[64], line[1400];
	time_rfc5322(time(NULL), date, sizeof date);
	int n = snprintf(line, sizeof line,
			 "Received: from %s (%s [%s])\r\n\tby %s (rampart) with %s%s id %s%s%s%s;\r\n"
			 "\t%s\r\n",
			 s->helo[0] ? s->helo : "unknown", s->rdns[0] ? s->rdns : "unknown", s->ip,
			 s->lim.hostname,
			 s->esmtp ? "ESMTP" : "SMTP", s->tls ? "S" : "", s->env.id,
			 s->env.nrcpt == 1 ? "\r\n\tfor <" : "", s->env.nrcpt == 1 ? s->env.rcpts[0] : "",
			 s->env.nrcpt == 1 ? ">" : "", date);
	if (n > 0 && (size_t)n < sizeof line)
		spool_write(s->writer, line, (size_t)n);
}

static void reserve_work(void *ctx, void *arg)
{
	(void)ctx;
	spool_reserve_fill(arg);
}

void session_data_begin(struct session *s)
{
	struct err e;
	s->env.time_ms = time_now_ms();
	snprintf(s->env.client_ip, sizeof s->env.client_ip, "%s", s->ip);
	snprintf(s->env.helo, sizeof s->env.helo, "%s", s->helo);
	s->writer = malloc(sizeof *s->writer);
	if (!s->writer || spool_begin(&s->node->spool, &s->env, s->writer, &e) < 0) {
		log_error("smtp: %s: cannot spool: %s", s->ip, s->writer ? e.msg : "out of memory");
		free(s->writer);
		s->writer = NULL;
		session_reply(s, 451, "4.3.0", "Local error in processing, try again later");
		return;
	}
	if (spool_reserve_wanted(&s->node->spool))
		pool_submit(s->node->io_pool, reserve_work, NULL, &s->node->spool);
	write_received(s);
	s->data_bytes = 0;
	s->data_flags = 0;
	s->in_long_line = 0;
	s->state = SS_DATA;
	if (s->line_cap < s->lim.max_data_line + 1) {
		free(s->line);
		s->line_cap = s->lim.max_data_line + 1;
		s->line = malloc(s->line_cap);
	}
	struct timeval tv = {s->lim.data_timeout, 0};
	bufferevent_set_timeouts(s->bev, &tv, &tv);
	session_reply(s, 354, NULL, "End data with <CR><LF>.<CR><LF>");
}

static void data_line(struct session *s, char *line, size_t n)
{
	if (n < 2 || line[n - 2] != '\r')
		s->data_flags |= DF_BARE_LF;
	if (memchr(line, '\0', n))
		s->data_flags |= DF_NUL;
	size_t skip = line[0] == '.' ? 1 : 0;   /* dot-unstuffing */
	s->data_bytes += n - skip;
	if (s->data_bytes > s->txn_max_size) {
		s->data_flags |= DF_TOO_BIG;
		return;
	}
	if (s->data_flags)
		return; /* the message is refused; stop storing it */
	if (spool_write(s->writer, line + skip, n - skip) < 0)
		s->data_flags |= DF_WRITE_ERR;
}

static void data_end(struct session *s);

static void set_cmd_timeout(struct session *s)
{
	struct timeval tv = {s->lim.cmd_timeout, 0};
	bufferevent_set_timeouts(s->bev, &tv, &tv);
}

/* Consumes buffered input line by line until the end-of-data line. */
void session_data_read(struct session *s)
{
	struct evbuffer *in = bufferevent_get_input(s->bev);
	while (s->state == SS_DATA) {
		struct evbuffer_ptr p = evbuffer_search(in, "\n", 1, NULL);
		if (p.pos < 0) {
			size_t avail = evbuffer_get_length(in);
			if (avail > s->lim.max_data_line) {
				s->data_flags |= DF_LONG_LINE;
				s->in_long_line = 1;
				s->data_bytes += avail;
				evbuffer_drain(in, avail);
			}
			return;
		}
		size_t n = (size_t)p.pos + 1;
		if (s->in_long_line || n > s->lim.max_data_line) {
			s->data_flags |= DF_LONG_LINE;
			s->in_long_line = 0;
			s->data_bytes += n;
			evbuffer_drain(in, n);
			continue;
		}
		evbuffer_remove(in, s->line, n);
		/* ".\n" ends the data too, so a client that sends bare LFs gets
		 * its refusal instead of a hang; the message is never accepted. */
		if ((n == 3 && memcmp(s->line, ".\r\n", 3) == 0) ||
		    (n == 2 && memcmp(s->line, ".\n", 2) == 0)) {
			if (n == 2)
				s->data_flags |= DF_BARE_LF;
			data_end(s);
			return;
		}
		data_line(s, s->line, n);
	}
}

static const struct {
	unsigned flag;
	int code;
	const char *enh, *text;
} data_refusals[] = {
	{DF_WRITE_ERR, 451, "4.3.0", "Local error in processing, try again later"},
	{DF_TOO_BIG, 552, "5.3.4", "Message size exceeds fixed limit"},
	{DF_BARE_LF, 550, "5.5.2", "Message contains bare LF; lines must end with CRLF"},
	{DF_NUL, 550, "5.6.0", "Message contains NUL bytes"},
	{DF_LONG_LINE, 550, "5.5.2", "Message contains an over-long line"},
};

static void scan_task_work(void *ctx, void *arg);
static void scan_task_done(void *arg);

static void data_end(struct session *s)
{
	metrics_inc(M_MESSAGES_RECEIVED);
	if (spool_flush(s->writer) < 0)
		s->data_flags |= DF_WRITE_ERR;
	for (size_t i = 0; i < sizeof data_refusals / sizeof *data_refusals; i++) {
		if (!(s->data_flags & data_refusals[i].flag))
			continue;
		log_info("smtp: %s: message %s refused: %s", s->ip, s->env.id, data_refusals[i].text);
		metrics_inc(M_MESSAGES_REJECTED);
		spool_abort(s->writer);
		free(s->writer);
		s->writer = NULL;
		s->state = SS_READY;
		set_cmd_timeout(s);
		session_reply(s, data_refusals[i].code, data_refusals[i].enh, "%s",
			      data_refusals[i].text);
		session_reset_txn(s);
		if (data_refusals[i].code >= 500)
			session_client_error(s);
		return;
	}
	struct scan_task *t = calloc(1, sizeof *t);
	t->s = s;
	t->node = s->node;
	t->w = *s->writer;
	free(s->writer);
	s->writer = NULL;
	t->env = s->env;            /* moved: the session forgets it */
	memset(&s->env, 0, sizeof s->env);
	s->have_mail = 0;
	t->start_us = time_mono_us();
	s->task = t;
	s->state = SS_SCANNING;
	s->messages++;
	/* the client waits for our reply; its read timeout must not fire
	 * while we scan */
	bufferevent_disable(s->bev, EV_READ);
	pool_submit(s->node->pool, scan_task_work, scan_task_done, t);
}

static void task_reply(struct scan_task *t, int code, const char *enh, const char *text)
{
	t->code = code;
	snprintf(t->enh, sizeof t->enh, "%s", enh);
	snprintf(t->text, sizeof t->text, "%s", text);
}

static int all_blocked(const struct verdict *v)
{
	for (int i = 0; i < v->nrcpt; i++)
		if (v->rcpt[i].action != ACTION_BLOCK)
			return 0;
	return v->nrcpt > 0;
}

/* Whether a recipient gets the tagged copy of this variant (1 tagged,
 * 2 "[QUAR]:"). */
static int any_tag_variant(const struct verdict *v, int variant)
{
	for (int i = 0; i < v->nrcpt; i++)
		if (v->rcpt[i].action == ACTION_TAG && (v->rcpt[i].quar_tag ? 2 : 1) == variant)
			return 1;
	return 0;
}

/* The copy delivered to tagged recipients: X-Spam headers and a subject
 * prefix. Written and fsync'd next to the spool file before the 250. */
static int write_tagged_copy(struct scan_task *t, int variant, const char *data, size_t len,
			     struct err *e)
{
	struct config_store *cfg = t->node->cfg;
	struct verdict *v = &t->v;
	char prefix[128], path[4300];
	const char *at = t->env.nrcpt ? strrchr(t->env.rcpts[0], '@') : NULL;
	if (variant == 2)
		snprintf(prefix, sizeof prefix, "[QUAR]:");
	else
		config_str(cfg, "tag_subject_prefix", at ? at + 1 : NULL, NULL, prefix, sizeof prefix);
	struct buf h;
	buf_init(&h, 256 * 1024);
	buf_printf(&h, "X-Spam-Flag: YES\r\nX-Spam-Score: %.1f\r\n", v->score);
	buf_printf(&h, "X-Spam-Status: Yes, score=%.1f required=%.1f tests=%s\r\n", v->score,
		   config_float(cfg, "tag_score", at ? at + 1 : NULL, NULL),
		   v->rules.data ? v->rules.data : "none");
	snprintf(path, sizeof path, "%s%s", t->w.path, variant == 2 ? ".qtag" : ".tag");
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	int rc = fd < 0 ? err_set(e, "create %s: %s", path, strerror(errno))
			: rewrite_tag(data, len, prefix, h.data, fd, e);
	if (rc == 0 && fsync(fd) < 0)
		rc = err_set(e, "fsync %s: %s", path, strerror(errno));
	if (fd >= 0)
		close(fd);
	buf_free(&h);
	return rc;
}

static void quarantine_rcpts(struct scan_task *t, sqlite3 *db)
{
	struct verdict *v = &t->v;
	for (int i = 0; i < t->env.nrcpt; i++) {
		if (v->rcpt[i].action != ACTION_QUARANTINE)
			continue;
		struct quarantine_entry q = {
			.queue_id = t->env.id,
			.rcpt = t->env.rcpts[i],
			.mail_from = t->env.mail_from,
			.subject = v->subject,
			.score = v->score,
			.rules = v->rules.data,
			.reason = v->reason,
			.time_ms = t->env.time_ms,
			.size = (int64_t)t->w.body_len,
			.body_off = t->w.env_len,
		};
		struct err e;
		/* the spool file still holds it: on failure deliver nothing,
		 * keep the message queued for a retry of the quarantine */
		if (quarantine_add(db, t->node->boot.data_dir, t->w.path, &q, &e) < 0)
			log_error("smtp: message %s: %s", t->env.id, e.msg);
		else
			users_on_quarantine(t->node, db, t->env.rcpts[i]);
	}
}

/* Worker: scan, then make the message durable unless it is refused. */
static void scan_task_log(struct scan_task *t, sqlite3 *db);

static void scan_task_decide(struct scan_task *t, const char *data, size_t len)
{
	struct err e;
	struct verdict *v = &t->v;
	if (v->action == ACTION_TEMPFAIL) {
		task_reply(t, 451, "4.3.0",
			   v->public_reason[0] ? v->public_reason
					       : "Temporary failure in content scanning, try again later");
		spool_abort(&t->w);
		return;
	}
	if (all_blocked(v)) {
		char text[256];
		snprintf(text, sizeof text, "Message rejected: %s",
			 v->public_reason[0] ? v->public_reason : "content refused by policy");
		task_reply(t, 554, "5.7.1", text);
		spool_abort(&t->w);
		return;
	}
	for (int variant = 1; variant <= 2; variant++) {
		if (!any_tag_variant(v, variant) || write_tagged_copy(t, variant, data, len, &e) == 0)
			continue;
		log_error("smtp: message %s: %s", t->env.id, e.msg);
		task_reply(t, 451, "4.3.0", "Local error in processing, try again later");
		spool_abort(&t->w);
		return;
	}
	t->commit = 1;
}

/* The commit stage (I/O threads): durable before the 250. fsyncs wait on
 * the disk, not the CPU, so they run on their own threads, and the
 * queue directory's fsync is shared by concurrent commits. */
static void commit_work(void *ctx, void *arg)
{
	struct scan_task *t = arg;
	sqlite3 *db = filter_thread_db(ctx);
	struct err e;
	struct verdict *v = &t->v;
	if (spool_commit(&t->node->spool, &t->w, &e) < 0) {
		log_error("smtp: message %s: %s", t->env.id, e.msg);
		task_reply(t, 451, "4.3.0", "Local error in processing, try again later");
		spool_abort(&t->w);
		scan_task_log(t, db);
		return;
	}
	t->committed = 1;
	quarantine_rcpts(t, db);
	t->rcpt_action = calloc((size_t)t->env.nrcpt, sizeof *t->rcpt_action);
	for (int i = 0; i < t->env.nrcpt; i++)
		t->rcpt_action[i] = v->rcpt[i].quar_tag
					    ? (enum action)(ACTION_TAG | QUEUE_QUAR_TAG)
					    : v->rcpt[i].action;
	/* the spool file is the durable record; a restart rescans a message
	 * whose recipients never reached the index */
	queue_index_add(t->node->qindex, &t->env, t->rcpt_action);
	char text[128];
	snprintf(text, sizeof text, "Ok: queued as %s", t->env.id);
	task_reply(t, 250, "2.0.0", text);
	scan_task_log(t, db);
}

static void scan_task_log(struct scan_task *t, sqlite3 *db)
{
	struct buf rcpts;
	buf_init(&rcpts, 1 << 20);
	for (int i = 0; i < t->env.nrcpt; i++)
		buf_printf(&rcpts, "%s%s", i ? "," : "", t->env.rcpts[i]);
	const char *action = t->code == 250 ? action_name(t->v.action)
			     : t->code == 451 ? "tempfail"
					      : "block";
	struct msglog_row row = {
		.time_ms = t->env.time_ms,
		.node = t->node->boot.hostname,
		.client_ip = t->env.client_ip,
		.helo = t->env.helo,
		.mail_from = t->env.mail_from,
		.rcpts = rcpts.data ? rcpts.data : "",
		.subject = t->v.subject,
		.size = (int64_t)t->w.body_len,
		.score = t->v.score,
		.rules = t->v.rules.data ? t->v.rules.data : "",
		.layer = t->v.layer,
		.reason = t->v.reason[0] ? t->v.reason : t->text,
		.action = action,
		.delivery = t->committed ? "queued" : "n/a",
		.queue_id = t->env.id,
		.message_id = t->v.message_id,
	};
	(void)db;
	if (msglog_writer_add(t->node->msglog, &row) < 0)
		log_warn("smtp: message log full, row for %s dropped", t->env.id);
	buf_free(&rcpts);
}

static void scan_task_work(void *ctx, void *arg)
{
	struct filter_thread *ft = ctx;
	struct scan_task *t = arg;
	verdict_init(&t->v, t->env.nrcpt);
	size_t total = t->w.env_len + t->w.body_len;
	int fd = open(t->w.tmp_path, O_RDONLY | O_CLOEXEC);
	void *map = fd >= 0 && total ? mmap(NULL, total, PROT_READ, MAP_PRIVATE, fd, 0) : MAP_FAILED;
	if (fd >= 0)
		close(fd);
	struct scan_input in = {
		.path = t->w.tmp_path,
		.body_offset = t->w.env_len,
		.data = map != MAP_FAILED ? (const char *)map + t->w.env_len : "",
		.len = map != MAP_FAILED ? t->w.body_len : 0,
		.client_ip = t->env.client_ip,
		.helo = t->env.helo,
		.mail_from = t->env.mail_from,
		.rcpts = (const char *const *)t->env.rcpts,
		.nrcpt = t->env.nrcpt,
	};
	int64_t t0 = time_mono_us();
	if (map == MAP_FAILED)
		verdict_decide(&t->v, ACTION_TEMPFAIL, "spool", "cannot read spooled message", NULL);
	else
		filter_scan(ft, &in, &t->v);
	metrics_observe_scan(time_mono_us() - t0);
	scan_task_decide(t, in.data, in.len);
	if (map != MAP_FAILED)
		munmap(map, total);
	if (!t->commit)
		scan_task_log(t, filter_thread_db(ft));
}

static const enum metric_counter action_metric[] = {
	[ACTION_ALLOW] = M_MESSAGES_ALLOW,
	[ACTION_TAG] = M_MESSAGES_TAG,
	[ACTION_QUARANTINE] = M_MESSAGES_QUARANTINE,
	[ACTION_BLOCK] = M_MESSAGES_BLOCK,
	[ACTION_TEMPFAIL] = M_MESSAGES_TEMPFAIL,
};

static void scan_task_done(void *arg)
{
	struct scan_task *t = arg;
	struct session *s = t->s;
	if (t->commit) {
		t->commit = 0;
		pool_submit(t->node->io_pool, commit_work, scan_task_done, t);
		return;
	}
	metrics_inc(t->code == 250 ? action_metric[t->v.action]
		    : t->code == 451 ? M_MESSAGES_TEMPFAIL
				     : M_MESSAGES_BLOCK);
	metrics_observe_data(time_mono_us() - t->start_us);
	log_info("smtp: %s: id=%s from=<%s> rcpts=%d size=%zu score=%.1f action=%s -> %d %s",
		 t->env.client_ip, t->env.id, log_esc(t->env.mail_from), t->env.nrcpt,
		 t->w.body_len, t->v.score, action_name(t->v.action), t->code, t->text);
	if (t->committed)
		queue_add(t->node->queue, &t->env, t->w.env_len, t->w.body_len, t->rcpt_action);
	envelope_free(&t->env);
	verdict_free(&t->v);
	free(t->rcpt_action);
	if (s) {
		s->task = NULL;
		s->state = SS_READY;
		set_cmd_timeout(s);
		session_reply(s, t->code, t->enh, "%s", t->text);
		free(t);
		if (s->srv->draining) {
			session_reply(s, 421, "4.3.2", "Service shutting down, closing connection");
			session_close(s);
			return;
		}
		bufferevent_enable(s->bev, EV_READ);
		session_resume(s);
		return;
	}
	free(t);
}

void session_data_abandon(struct session *s)
{
	if (s->writer) {
		spool_abort(s->writer);
		free(s->writer);
		s->writer = NULL;
	}
	if (s->task) {
		/* the verdict still arrives; an accepted message is delivered
		 * (the client may resend it: a duplicate, never a loss) */
		s->task->s = NULL;
		s->task = NULL;
	}
}
