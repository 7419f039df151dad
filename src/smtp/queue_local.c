/* Locally generated mail (DSNs, quarantine releases, summary mails):
 * spooled durably from a worker thread, then handed to the queue on the
 * loop thread. */
#include <stdlib.h>
#include <string.h>

#include "node.h"
#include "smtp/queue.h"
#include "store/config.h"
#include "util/log.h"
#include "util/timeutil.h"

struct local_handoff {
	struct queue *q;
	struct envelope env;
	size_t body_off, body_len;
	enum action *actions;
};

static void handoff_run(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct local_handoff *h = arg;
	queue_add(h->q, &h->env, h->body_off, h->body_len, h->actions);
	envelope_free(&h->env);
	free(h->actions);
	free(h);
}

int queue_submit_local(struct node *n, sqlite3 *db, const char *mail_from,
		       const char *const *rcpts, int nrcpt, const char *data, size_t len,
		       char *id_out, size_t id_len, struct err *e)
{
	struct local_handoff *h = calloc(1, sizeof *h);
	if (!h)
		return err_set(e, "out of memory");
	struct envelope *env = &h->env;
	spool_new_id(env->id);
	env->time_ms = time_now_ms();
	snprintf(env->client_ip, sizeof env->client_ip, "127.0.0.1");
	config_hostname(n->cfg, n->boot.hostname, env->helo, sizeof env->helo);
	snprintf(env->mail_from, sizeof env->mail_from, "%s", mail_from ? mail_from : "");
	h->actions = calloc((size_t)nrcpt + 1, sizeof *h->actions);
	for (int i = 0; i < nrcpt; i++)
		if (envelope_add_rcpt(env, rcpts[i]) < 0)
			goto fail_mem;
	struct spool_writer w;
	if (spool_begin(&n->spool, env, &w, e) < 0)
		goto fail;
	if (spool_write(&w, data, len) < 0 || spool_commit(&n->spool, &w, e) < 0) {
		err_set(e, "cannot spool local message %s", env->id);
		spool_abort(&w);
		goto fail;
	}
	h->q = n->queue;
	h->body_off = w.env_len;
	h->body_len = w.body_len;
	(void)db;
	queue_index_add(n->qindex, env, h->actions); /* all ACTION_ALLOW (0) */
	if (id_out)
		snprintf(id_out, id_len, "%s", env->id);
	struct timeval now = {0, 0};
	/* thread-safe with evthread: queue_add then runs on the loop */
	if (event_base_once(n->base, -1, EV_TIMEOUT, handoff_run, h, &now) < 0)
		log_error("queue: %s: cannot hand over to the loop; delivered after restart", env->id);
	return 0;
fail_mem:
	err_set(e, "out of memory");
fail:
	envelope_free(env);
	free(h->actions);
	free(h);
	return -1;
}
