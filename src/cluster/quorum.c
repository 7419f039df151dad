/* votequorum: whether this member's partition holds a majority of the
 * votes (two_node: either of two members). CPG delivers without quorum,
 * so the replicator refuses writes while c->quorate is 0; reads go on. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cluster/cluster_int.h"
#include "node.h"
#include "util/log.h"

static struct cluster *context_of(votequorum_handle_t h)
{
	void *ctx = NULL;
	votequorum_context_get(h, &ctx);
	return ctx;
}

/* Expected/total votes (task thread: a request to corosync). */
void quorum_refresh(struct cluster *c)
{
	pthread_mutex_lock(&c->mu);
	int ok = c->vq_ok;
	votequorum_handle_t h = c->vq;
	pthread_mutex_unlock(&c->mu);
	if (!ok)
		return;
	struct votequorum_info info;
	memset(&info, 0, sizeof info);
	if (votequorum_getinfo(h, 0, &info) != CS_OK)
		return;
	pthread_mutex_lock(&c->mu);
	c->expected_votes = info.node_expected_votes;
	c->total_votes = info.total_votes;
	c->quorum_votes = info.quorum;
	c->quorate = (info.flags & VOTEQUORUM_INFO_QUORATE) != 0;
	pthread_mutex_unlock(&c->mu);
}

static void on_quorum(votequorum_handle_t h, uint64_t context, uint32_t quorate,
		      uint32_t nnodes, votequorum_node_t nodes[])
{
	(void)context;
	(void)nodes;
	struct cluster *c = context_of(h);
	if (!c)
		return;
	pthread_mutex_lock(&c->mu);
	int was = c->quorate;
	c->quorate = quorate != 0;
	pthread_mutex_unlock(&c->mu);
	cluster_task(c, TASK_QINFO);
	if (was != (quorate != 0))
		log_info("cluster: %s (%u members in this partition)",
			 quorate ? "quorum reached: changes are accepted"
				 : "quorum lost: changes are refused until it is back",
			 nnodes);
}

static void on_expected(votequorum_handle_t h, uint64_t context, uint32_t expected)
{
	(void)context;
	struct cluster *c = context_of(h);
	if (!c)
		return;
	pthread_mutex_lock(&c->mu);
	c->expected_votes = expected;
	pthread_mutex_unlock(&c->mu);
	cluster_task(c, TASK_QINFO);
}

static void on_vq_readable(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct cluster *c = arg;
	cs_error_t rc = votequorum_dispatch(c->vq, CS_DISPATCH_ALL);
	if (rc == CS_OK || rc == CS_ERR_TRY_AGAIN)
		return;
	/* corosync went away: the CPG side notices too and reconnects both */
	event_del(c->vq_ev);
	pthread_mutex_lock(&c->mu);
	c->quorate = 0;
	pthread_mutex_unlock(&c->mu);
}

int quorum_connect(struct cluster *c, struct err *e)
{
	votequorum_callbacks_t cb = {.votequorum_quorum_notify_fn = on_quorum,
				     .votequorum_expectedvotes_notify_fn = on_expected};
	votequorum_handle_t h;
	int fd;
	cs_error_t rc = votequorum_initialize(&h, &cb);
	if (rc != CS_OK)
		return err_set(e, "votequorum not reachable (error %d)", rc);
	votequorum_context_set(h, c);
	if (votequorum_trackstart(h, 0, CS_TRACK_CHANGES | CS_TRACK_CURRENT) != CS_OK ||
	    votequorum_fd_get(h, &fd) != CS_OK) {
		votequorum_finalize(h);
		return err_set(e, "votequorum tracking failed");
	}
	pthread_mutex_lock(&c->mu);
	c->vq = h;
	c->vq_ok = 1;
	c->vq_ev = event_new(c->node->base, fd, EV_READ | EV_PERSIST, on_vq_readable, c);
	event_add(c->vq_ev, NULL);
	pthread_mutex_unlock(&c->mu);
	/* the first notification (CS_TRACK_CURRENT) comes through the loop */
	event_active(c->vq_ev, EV_READ, 1);
	return 0;
}

void quorum_disconnect(struct cluster *c)
{
	pthread_mutex_lock(&c->mu);
	int ok = c->vq_ok;
	struct event *ev = c->vq_ev;
	c->vq_ok = 0;
	c->vq_ev = NULL;
	c->quorate = 0;
	pthread_mutex_unlock(&c->mu);
	if (ev) {
		event_del(ev);
		event_free(ev);
	}
	if (ok)
		votequorum_finalize(c->vq);
}
