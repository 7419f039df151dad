/* The CPG group "rampart": connection (task thread), dispatch (loop:
 * every callback only queues an event), multicast (any thread but the
 * loop), the apply thread that takes the events in delivery order, and
 * the replicator of the config store: a write is multicast and its
 * writer waits until this member applied it. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cluster/cluster_int.h"
#include "cluster/hlc.h"
#include "node.h"
#include "store/config.h"
#include "util/log.h"
#include "util/timeutil.h"

#define SEND_RETRY_MS 3000

/* Wall clock in microseconds: deliveries measure their delay with it. */
static int64_t wall_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}
#define HLC_MAX_AHEAD_MS (24LL * 3600 * 1000)

/* ---- the apply queue ---- */

static void enqueue(struct cluster *c, struct cl_event *ev)
{
	ev->recv_us = time_mono_us();
	pthread_mutex_lock(&c->mu);
	if (c->q_tail)
		c->q_tail->next = ev;
	else
		c->q_head = ev;
	c->q_tail = ev;
	c->q_len++;
	pthread_cond_broadcast(&c->cv);
	pthread_mutex_unlock(&c->mu);
}

static void clev_free(struct cl_event *ev)
{
	free(ev->data);
	free(ev);
}

/* ---- CPG callbacks (loop thread, inside cpg_dispatch) ---- */

static struct cluster *context_of(cpg_handle_t h)
{
	void *ctx = NULL;
	cpg_context_get(h, &ctx);
	return ctx;
}

static void on_deliver(cpg_handle_t h, const struct cpg_name *group, uint32_t nodeid,
		       uint32_t pid, void *msg, size_t len)
{
	(void)group;
	(void)pid;
	struct cluster *c = context_of(h);
	struct cl_event *ev = calloc(1, sizeof *ev);
	if (!c || !ev || !(ev->data = malloc(len ? len : 1))) {
		log_error("cluster: out of memory for a delivery");
		free(ev);
		return;
	}
	ev->kind = EVK_MSG;
	ev->from = nodeid;
	ev->len = len;
	memcpy(ev->data, msg, len);
	enqueue(c, ev);
}

static void on_confchg(cpg_handle_t h, const struct cpg_name *group,
		       const struct cpg_address *members, size_t nmembers,
		       const struct cpg_address *left, size_t nleft,
		       const struct cpg_address *joined, size_t njoined)
{
	(void)group;
	struct cluster *c = context_of(h);
	struct cl_event *ev = calloc(1, sizeof *ev);
	if (!c || !ev) {
		free(ev);
		return;
	}
	ev->kind = EVK_CONFCHG;
	for (size_t i = 0; i < nmembers && i < CPG_MEMBERS_MAX; i++) {
		ev->view_nodes[i] = members[i].nodeid;
		ev->view_pids[i] = members[i].pid;
	}
	ev->nview = nmembers < CPG_MEMBERS_MAX ? nmembers : CPG_MEMBERS_MAX;
	for (size_t i = 0; i < nleft; i++)
		log_info("cluster: node %u left the group (%s)", left[i].nodeid,
			 left[i].reason == CPG_REASON_NODEDOWN ? "node down"
			 : left[i].reason == CPG_REASON_PROCDOWN ? "rampartd stopped"
								 : "left");
	for (size_t i = 0; i < njoined; i++)
		log_info("cluster: node %u joined the group", joined[i].nodeid);
	enqueue(c, ev);
}

static void on_cpg_readable(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct cluster *c = arg;
	cs_error_t rc = cpg_dispatch(c->cpg, CS_DISPATCH_ALL);
	if (rc == CS_OK || rc == CS_ERR_TRY_AGAIN)
		return;
	log_error("cluster: lost the connection to corosync (CPG error %d)", rc);
	event_del(c->cpg_ev);
	struct cl_event *ev = calloc(1, sizeof *ev);
	if (ev) {
		ev->kind = EVK_LOST;
		enqueue(c, ev);
	}
}

/* ---- connection (task thread) ---- */

int cpg_connect(struct cluster *c, struct err *e)
{
	cpg_model_v1_data_t model = {.model = CPG_MODEL_V1,
				     .cpg_deliver_fn = on_deliver,
				     .cpg_confchg_fn = on_confchg};
	struct cpg_name group;
	cpg_handle_t h;
	int fd;
	uint32_t local = 0;
	cs_error_t rc = cpg_model_initialize(&h, CPG_MODEL_V1, (cpg_model_data_t *)&model, c);
	if (rc != CS_OK)
		return err_set(e, "corosync not reachable yet (CPG error %d)", rc);
	group.length = (uint32_t)strlen(CLUSTER_GROUP);
	memcpy(group.value, CLUSTER_GROUP, group.length);
	for (int i = 0; i < 50 && (rc = cpg_join(h, &group)) == CS_ERR_TRY_AGAIN; i++)
		usleep(20000);
	if (rc != CS_OK || cpg_fd_get(h, &fd) != CS_OK || cpg_local_get(h, &local) != CS_OK) {
		cpg_finalize(h);
		return err_set(e, "cannot join the CPG group (error %d)", rc);
	}
	pthread_mutex_lock(&c->mu);
	uint32_t want = c->loc.nodeid;
	c->cpg = h;
	c->cpg_nodeid = local;
	c->cpg_ok = 1;
	c->cpg_ev = event_new(c->node->base, fd, EV_READ | EV_PERSIST, on_cpg_readable, c);
	event_add(c->cpg_ev, NULL);
	pthread_mutex_unlock(&c->mu);
	if (local != want)
		log_error("cluster: corosync runs as node %u but this member is node %u: its own "
			  "address in corosync.conf is probably not an address of this machine",
			  local, want);
	log_info("cluster: joined CPG group %s as node %u", CLUSTER_GROUP, local);
	return 0;
}

/* Called when the loop has stopped dispatching (EVK_LOST) or at stop. */
void cpg_disconnect(struct cluster *c)
{
	pthread_mutex_lock(&c->mu);
	int ok = c->cpg_ok;
	struct event *ev = c->cpg_ev;
	c->cpg_ok = 0;
	c->cpg_ev = NULL;
	pthread_mutex_unlock(&c->mu);
	if (ev) {
		event_del(ev);
		event_free(ev);
	}
	if (ok) {
		pthread_mutex_lock(&c->sendmu);
		cpg_finalize(c->cpg);
		pthread_mutex_unlock(&c->sendmu);
	}
}

/* ---- sending (never on the loop) ---- */

int cpg_send(struct cluster *c, const struct buf *msg, struct err *e)
{
	struct iovec iov = {msg->data, msg->len};
	cs_error_t rc = CS_ERR_LIBRARY;
	int64_t until = time_mono_us() + SEND_RETRY_MS * 1000LL;
	pthread_mutex_lock(&c->sendmu);
	for (;;) {
		pthread_mutex_lock(&c->mu);
		int ok = c->cpg_ok;
		pthread_mutex_unlock(&c->mu);
		if (!ok)
			break;
		rc = cpg_mcast_joined(c->cpg, CPG_TYPE_AGREED, &iov, 1);
		if (rc != CS_ERR_TRY_AGAIN || time_mono_us() > until)
			break;
		usleep(1000); /* flow control: corosync's queue is full */
	}
	pthread_mutex_unlock(&c->sendmu);
	if (rc != CS_OK)
		return err_set(e, "the cluster engine is not reachable (CPG error %d)", rc);
	return 0;
}

int cpg_send_sync(struct cluster *c, int type, const struct msg_sync *s, struct err *e)
{
	struct buf b;
	buf_init(&b, MSG_MAX);
	pthread_mutex_lock(&c->mu);
	uint32_t me = c->loc.nodeid;
	uint64_t seq = ++c->send_seq;
	pthread_mutex_unlock(&c->mu);
	int rc = msg_encode_sync(&b, type, me, seq, wall_us(), s, e);
	if (rc == 0)
		rc = cpg_send(c, &b, e);
	buf_free(&b);
	return rc;
}

/* ---- writers ---- */

static void waiter_remove(struct cluster *c, struct waiter *w)
{
	for (struct waiter **pp = &c->waiters; *pp; pp = &(*pp)->next)
		if (*pp == w) {
			*pp = w->next;
			return;
		}
}

void cpg_fail_waiters(struct cluster *c)
{
	for (struct waiter *w = c->waiters; w; w = w->next)
		w->done = -1;
	pthread_cond_broadcast(&c->cv);
}

/* Why this member refuses writes now, or NULL. Caller holds mu. */
static const char *write_refusal(struct cluster *c, char *buf, size_t len)
{
	if (c->stopping)
		return "rampartd is stopping";
	if (c->loc.join_pending)
		return "this node is still joining the cluster; try again when it is up";
	if (!c->cpg_ok)
		return "the cluster engine (corosync) is not running on this member; changes are "
		       "refused until it is back (settings stay readable)";
	if (!c->quorate) {
		snprintf(buf, len,
			 "this member has no quorum (%u of %u votes, %u needed): changes are refused "
			 "until enough members are reachable; settings stay readable",
			 c->total_votes, c->expected_votes, c->quorum_votes);
		return buf;
	}
	return NULL;
}

/* Rows of one message: as many as fit in MSG_MAX. */
static size_t batch_end(const struct config_rawchange *rows, size_t from, size_t n)
{
	size_t size = MSG_HEADER_SIZE, i = from;
	for (; i < n; i++) {
		size_t one = msg_change_size(&rows[i]);
		if (i > from && size + one > MSG_MAX)
			break;
		size += one;
	}
	return i;
}

static int wait_all(struct cluster *c, struct waiter *ws, size_t nw, struct err *e)
{
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += CLUSTER_CONFIRM_MS / 1000;
	int failed = 0, rc = 0;
	pthread_mutex_lock(&c->mu);
	for (size_t i = 0; i < nw; i++) {
		while (ws[i].done == 0 && rc == 0)
			rc = pthread_cond_timedwait(&c->cv, &c->mu, &until);
		failed |= ws[i].done != 1;
	}
	for (size_t i = 0; i < nw; i++)
		waiter_remove(c, &ws[i]);
	pthread_mutex_unlock(&c->mu);
	if (failed)
		return err_set(e, "the cluster did not confirm the change (%s); it may still be "
				  "applied",
			       rc == ETIMEDOUT ? "no delivery within 5 s" : "connection to corosync lost");
	return 0;
}

int cpg_replicate(struct cluster *c, const struct config_rawchange *rows, size_t n,
		  unsigned flags, struct err *e)
{
	size_t nmsg = 0;
	for (size_t i = 0; i < n; i = batch_end(rows, i, n))
		nmsg++;
	struct waiter *ws = calloc(nmsg ? nmsg : 1, sizeof *ws);
	struct buf b;
	if (!ws)
		return err_set(e, "out of memory");
	buf_init(&b, MSG_MAX + MSG_HEADER_SIZE);
	int rc = 0;
	size_t k = 0;
	for (size_t i = 0; i < n && rc == 0; k++) {
		size_t end = batch_end(rows, i, n);
		pthread_mutex_lock(&c->mu);
		uint32_t me = c->loc.nodeid;
		ws[k].seq = ++c->send_seq;
		ws[k].next = c->waiters;
		c->waiters = &ws[k];
		pthread_mutex_unlock(&c->mu);
		rc = msg_encode_change(&b, flags, me, ws[k].seq, wall_us(), rows + i, end - i, e);
		if (rc == 0)
			rc = cpg_send(c, &b, e);
		i = end;
	}
	buf_free(&b);
	if (rc < 0) {
		pthread_mutex_lock(&c->mu);
		for (size_t i = 0; i < k; i++)
			waiter_remove(c, &ws[i]);
		pthread_mutex_unlock(&c->mu);
	} else {
		rc = wait_all(c, ws, k, e);
	}
	free(ws);
	return rc;
}

/* The config store's replicator (config_set_replicator). */
int cluster_replicator(void *arg, const struct config_rawchange *rows, size_t n, struct err *e)
{
	struct cluster *c = arg;
	char why[300];
	if (pthread_equal(pthread_self(), c->loop_thread))
		log_panic("cluster: a config write on the loop thread would block it");
	if (c->threads_started && pthread_equal(pthread_self(), c->apply_th))
		return err_set(e, "config writes from a change listener are not allowed in a cluster");
	pthread_mutex_lock(&c->mu);
	const char *no = write_refusal(c, why, sizeof why);
	if (no) {
		err_set(e, "%s", no);
		pthread_mutex_unlock(&c->mu);
		return -1;
	}
	pthread_mutex_unlock(&c->mu);
	return cpg_replicate(c, rows, n, 0, e);
}

/* ---- the apply thread ---- */

static void lat_record(struct cluster *c, const struct msg *m)
{
	int64_t d = wall_us() - m->sent_us;
	size_t i = c->nlat++ % CLUSTER_LAT_SAMPLES;
	c->lat[i].origin = m->origin;
	c->lat[i].seq = m->seq;
	c->lat[i].delay_us = d;
}

static void apply_change(struct cluster *c, struct msg *m)
{
	struct err e;
	int64_t now = time_now_ms();
	for (size_t i = 0; i < m->n; i++) {
		const struct config_rawchange *r = &m->changes[i];
		if (config_key_is_local(r->key)) {
			log_warn("cluster: node %u sent node-local key %s: ignored", m->origin,
				 log_esc(r->key));
			continue;
		}
		if (hlc_plausible(r->hlc, now, HLC_MAX_AHEAD_MS) < 0)
			log_warn("cluster: key %s from node %u is stamped in the future (its clock "
				 "is wrong?)",
				 log_esc(r->key), r->node);
		if (config_put_raw(c->cfg, r->key, r->value, r->hlc, r->node, &e) < 0)
			log_error("cluster: cannot apply %s from node %u: %s", log_esc(r->key),
				  m->origin, e.msg);
	}
	pthread_mutex_lock(&c->mu);
	c->applied_msgs++;
	lat_record(c, m);
	if (m->origin == c->loc.nodeid)
		for (struct waiter *w = c->waiters; w; w = w->next)
			if (w->seq == m->seq) {
				w->done = 1;
				pthread_cond_broadcast(&c->cv);
			}
	pthread_mutex_unlock(&c->mu);
}

/* A CHANGE while this node is joining waits for the snapshot. */
static int hold_if_joining(struct cluster *c, struct cl_event *ev, const struct msg *m)
{
	pthread_mutex_lock(&c->mu);
	int hold = c->loc.join_pending && m->type == MSG_CHANGE;
	if (hold) {
		ev->next = NULL;
		if (c->held_tail)
			c->held_tail->next = ev;
		else
			c->held_head = ev;
		c->held_tail = ev;
	}
	pthread_mutex_unlock(&c->mu);
	return hold;
}

static void apply_event(struct cluster *c, struct cl_event *ev)
{
	struct msg m;
	struct err e;
	if (ev->kind == EVK_CONFCHG) {
		sync_on_confchg(c, ev);
	} else if (ev->kind == EVK_LOST) {
		cpg_disconnect(c);
		quorum_disconnect(c);
		pthread_mutex_lock(&c->mu);
		c->nround = 0;
		c->synced = 0;
		cpg_fail_waiters(c);
		pthread_mutex_unlock(&c->mu);
		cluster_task(c, TASK_CONNECT);
	} else if (msg_decode(ev->data, ev->len, &m, &e) < 0) {
		log_warn("cluster: dropped a message from node %u: %s", ev->from, e.msg);
	} else {
		if (m.origin != ev->from)
			log_warn("cluster: node %u sent a message as node %u: dropped", ev->from,
				 m.origin);
		else if (hold_if_joining(c, ev, &m)) {
			msg_free(&m);
			return; /* kept in the held list */
		} else if (m.type == MSG_CHANGE)
			apply_change(c, &m);
		else if (m.type == MSG_CONFLICT)
			sync_on_conflicts(c, &m);
		else
			sync_on_msg(c, &m);
		msg_free(&m);
	}
	clev_free(ev);
}

void *apply_main(void *arg)
{
	struct cluster *c = arg;
	pthread_mutex_lock(&c->mu);
	while (!c->stopping || c->q_head) {
		struct cl_event *ev = c->q_head;
		if (!ev) {
			pthread_cond_wait(&c->cv, &c->mu);
			continue;
		}
		c->q_head = ev->next;
		if (!c->q_head)
			c->q_tail = NULL;
		c->q_len--;
		ev->next = NULL;
		pthread_mutex_unlock(&c->mu);
		apply_event(c, ev);
		pthread_mutex_lock(&c->mu);
	}
	pthread_mutex_unlock(&c->mu);
	return NULL;
}
