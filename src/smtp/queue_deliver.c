/* Transports of the delivery queue: SMTP to a destination server (with
 * connection reuse), a local Maildir, and the DSN for failed recipients.
 * Name resolution and Maildir writes are blocking, so they run on the
 * worker pool; SMTP runs on the loop. */
#include <fcntl.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cluster/cluster.h"
#include "filter/dns.h"
#include "node.h"
#include "smtp/dsn.h"
#include "smtp/maildir.h"
#include "smtp/queue_int.h"
#include "store/config.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/metrics.h"
#include "util/net.h"
#include "util/pool.h"
#include "util/timeutil.h"

#define DEST_RESOLVE_TTL_MS 60000
#define CONN_IDLE_SECONDS 5
#define DELIVER_DNS_TIMEOUT_MS 5000

static void fail_all(struct queue *q, struct attempt *a, const char *text)
{
	for (int k = 0; k < a->n; k++)
		queue_rcpt_result(q, a->m, a->idx[k], 0, NULL, text);
	queue_attempt_finished(q, a);
}

/* The bytes an attempt sends: the spool file's message, or the tagged
 * copy (a whole file) for tagged recipients. */
static int attempt_fd(const struct attempt *a)
{
	return a->variant ? a->m->tag_fd[a->variant] : a->m->fd;
}

static off_t attempt_off(const struct attempt *a)
{
	return a->variant ? 0 : (off_t)a->m->body_off;
}

static size_t attempt_len(const struct attempt *a)
{
	return a->variant ? a->m->tag_len[a->variant] : a->m->body_len;
}

/* ---- Maildir (worker) ---- */

static void maildir_work(void *ctx, void *arg)
{
	(void)ctx;
	struct attempt *a = arg;
	for (int k = 0; k < a->n; k++) {
		struct err e;
		a->maildir_rc[k] = maildir_deliver(a->maildir_path, a->rcpts[k], a->m->env.mail_from,
						   attempt_fd(a), attempt_off(a), attempt_len(a), &e);
		if (a->maildir_rc[k] < 0)
			log_error("queue: %s: maildir: %s", a->m->env.id, e.msg);
	}
}

static void maildir_done(void *arg)
{
	struct attempt *a = arg;
	a->d->active--;
	for (int k = 0; k < a->n; k++)
		queue_rcpt_result(a->q, a->m, a->idx[k], a->maildir_rc[k] == 0 ? 250 : 451,
				  a->maildir_rc[k] == 0 ? "2.0.0" : "4.3.0",
				  a->maildir_rc[k] == 0 ? "delivered to maildir"
							: "maildir delivery failed");
	queue_attempt_finished(a->q, a);
}

/* ---- name resolution (worker) ---- */

struct resolve_job {
	struct attempt *a;
	char host[300];
	int port;
	int mx;              /* host is a mail domain: look up its MX first */
	struct sockaddr_storage ss;
	socklen_t len;
	int ok;
	char error[200];
};

/* Lowest-preference MX of domain, or the domain itself (RFC 5321 5.1
 * implicit MX) when it has none. */
static void mx_lookup(struct dns *dns, const char *domain, char *out, size_t outlen)
{
	struct dns_result r;
	snprintf(out, outlen, "%s", domain);
	if (dns_lookup_sync(dns, DNS_T_MX, domain, DELIVER_DNS_TIMEOUT_MS, &r) < 0 ||
	    r.status != DNS_OK)
		return;
	int best = 65536;
	for (int i = 0; i < r.n; i++)
		if (r.ans[i].type == DNS_T_MX && r.ans[i].pref < best) {
			best = r.ans[i].pref;
			snprintf(out, outlen, "%s", dns_answer_text(&r, i));
		}
}

/* Names go through the node's resolver (dns_servers), like every other
 * lookup of the node; the system resolver only when there is none. */
static void resolve_work(void *ctx, void *arg)
{
	(void)ctx;
	struct resolve_job *j = arg;
	struct node *n = j->a->q->node;
	struct dns *dns = n->dns;
	char host[300], mapped[64];
	if (j->mx && dns)
		mx_lookup(dns, j->host, host, sizeof host);
	else
		snprintf(host, sizeof host, "%s", j->host);
	/* the node's Local Host Map comes before DNS (one name, a different
	 * destination address per node) */
	struct err e;
	if (hostmap_lookup(n, host, mapped, sizeof mapped) == 0 &&
	    net_parse_addr(mapped, j->port, &j->ss, &j->len, &e) == 0) {
		j->ok = 1;
		return;
	}
	if (dns) {
		struct dns_result r;
		if (dns_lookup_a_sync(dns, host, DELIVER_DNS_TIMEOUT_MS, &r) == 0 &&
		    r.status == DNS_OK) {
			for (int i = 0; i < r.n; i++) {
				if (r.ans[i].type != DNS_T_A)
					continue;
				struct sockaddr_in *in4 = (struct sockaddr_in *)&j->ss;
				memset(&j->ss, 0, sizeof j->ss);
				in4->sin_family = AF_INET;
				in4->sin_port = htons((uint16_t)j->port);
				memcpy(&in4->sin_addr, r.ans[i].addr, 4);
				j->len = sizeof *in4;
				j->ok = 1;
				return;
			}
		}
		snprintf(j->error, sizeof j->error, "cannot resolve %s: %s", host,
			 dns_status_name(r.status));
		return;
	}
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;
	char port[16];
	snprintf(port, sizeof port, "%d", j->port);
	int rc = getaddrinfo(host, port, &hints, &res);
	if (rc != 0 || !res) {
		snprintf(j->error, sizeof j->error, "cannot resolve %s: %s", host, gai_strerror(rc));
		return;
	}
	memcpy(&j->ss, res->ai_addr, res->ai_addrlen);
	j->len = res->ai_addrlen;
	j->ok = 1;
	freeaddrinfo(res);
}

static void smtp_start(struct queue *q, struct attempt *a);

static void resolve_done(void *arg)
{
	struct resolve_job *j = arg;
	struct attempt *a = j->a;
	struct dest *d = a->d;
	if (a->q->stopped) { /* shutting down: no new connection */
		d->active--;
		free(a);
		free(j);
		return;
	}
	d->resolved_at_ms = time_now_ms();
	if (j->ok) {
		d->resolved = 1;
		d->addr = j->ss;
		d->addrlen = j->len;
		smtp_start(a->q, a);
	} else {
		d->resolved = -1;
		snprintf(d->resolve_error, sizeof d->resolve_error, "%s", j->error);
		d->active--;
		log_warn("queue: %s", j->error);
		fail_all(a->q, a, j->error);
	}
	free(j);
}

/* Parses the destination into host/port; numeric hosts resolve at once. */
static int dest_parse(struct dest *d, char *host, size_t hostlen, int *port, int *mx)
{
	struct err e;
	*mx = 0;
	if (strncmp(d->key, "mx:", 3) == 0) {
		snprintf(host, hostlen, "%s", d->key + 3);
		*port = 25;
		*mx = 1;
		return 0;
	}
	const char *hp = d->key + 5; /* "smtp:" */
	if (net_split_hostport(hp, host, hostlen, port, &e) < 0) {
		snprintf(host, hostlen, "%s", hp);
		*port = 25;
	}
	return 0;
}

/* ---- SMTP (loop) ---- */

static void conn_park(struct qconn *qc);
static void conn_drop(struct qconn *qc);

static void on_txn(struct smtp_client *c, int conn_ok, const struct smtp_reply *replies, int n,
		   void *arg)
{
	(void)c;
	struct qconn *qc = arg;
	struct attempt *a = qc->a;
	qc->a = NULL;
	for (int k = 0; k < n && k < a->n; k++)
		queue_rcpt_result(a->q, a->m, a->idx[k], replies[k].code, replies[k].enhanced,
				  replies[k].text);
	if (conn_ok && smtp_client_usable(qc->c))
		conn_park(qc);
	else
		conn_drop(qc);
	queue_attempt_finished(a->q, a);
}

static void conn_send(struct qconn *qc, struct attempt *a)
{
	struct qmsg *m = a->m;
	qc->a = a;
	a->conn = qc;
	struct smtp_txn t = {
		.mail_from = m->env.mail_from,
		.rcpts = a->rcpts,
		.nrcpt = a->n,
		.fd = attempt_fd(a),
		.body_offset = attempt_off(a),
		.body_len = attempt_len(a),
		.smtputf8 = m->env.smtputf8,
		.body_8bit = m->env.body_8bit,
		.size_hint = attempt_len(a),
	};
	if (smtp_client_send(qc->c, &t, on_txn, qc) < 0) {
		qc->a = NULL;
		conn_drop(qc);
		fail_all(a->q, a, "local error: cannot start transaction");
	}
}

static void on_ready(struct smtp_client *c, int ok, const struct smtp_reply *why, void *arg)
{
	(void)c;
	struct qconn *qc = arg;
	struct attempt *a = qc->a;
	if (ok) {
		conn_send(qc, a);
		return;
	}
	qc->a = NULL;
	char text[600];
	if (why->code)
		snprintf(text, sizeof text, "%s said: %d %s", qc->d->key, why->code, why->text);
	else
		snprintf(text, sizeof text, "%s: %s", qc->d->key, why->text);
	conn_drop(qc);
	/* a 5xx greeting refuses the whole connection: permanent for all */
	for (int k = 0; k < a->n; k++)
		queue_rcpt_result(a->q, a->m, a->idx[k], why->code >= 500 ? why->code : 0,
				  why->enhanced, text);
	queue_attempt_finished(a->q, a);
}

static void on_idle_timeout(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct qconn *qc = arg;
	struct dest *d = qc->d;
	for (struct qconn **pp = &d->idle; *pp; pp = &(*pp)->next)
		if (*pp == qc) {
			*pp = qc->next;
			break;
		}
	conn_drop(qc);
}

static void conn_park(struct qconn *qc)
{
	struct dest *d = qc->d;
	qc->next = d->idle;
	d->idle = qc;
	struct timeval tv = {CONN_IDLE_SECONDS, 0};
	evtimer_add(qc->idle_timer, &tv);
}

static void conn_link(struct qconn *qc)
{
	struct dest *d = qc->d;
	qc->all_prev = NULL;
	qc->all_next = d->conns;
	if (d->conns)
		d->conns->all_prev = qc;
	d->conns = qc;
}

static void conn_unlink(struct qconn *qc)
{
	if (qc->all_prev)
		qc->all_prev->all_next = qc->all_next;
	else
		qc->d->conns = qc->all_next;
	if (qc->all_next)
		qc->all_next->all_prev = qc->all_prev;
}

static void conn_drop(struct qconn *qc)
{
	conn_unlink(qc);
	qc->d->active--;
	smtp_client_close(qc->c);
	event_free(qc->idle_timer);
	free(qc);
}

static void smtp_start(struct queue *q, struct attempt *a)
{
	struct node *n = q->node;
	struct dest *d = a->d;
	struct qconn *qc = calloc(1, sizeof *qc);
	qc->d = d;
	qc->a = a;
	qc->idle_timer = evtimer_new(n->base, on_idle_timeout, qc);
	conn_link(qc);
	char helo[256];
	config_hostname(n->cfg, n->boot.hostname, helo, sizeof helo);
	struct smtp_client_opts opts = {
		.helo_name = helo,
		.connect_timeout_s = (int)config_int(n->cfg, "queue_connect_timeout", NULL, NULL),
		.command_timeout_s = (int)config_int(n->cfg, "queue_command_timeout", NULL, NULL),
		.data_timeout_s = (int)config_int(n->cfg, "queue_command_timeout", NULL, NULL),
		.tls_ctx = n->tls_client,
	};
	qc->c = smtp_client_connect(n->base, (struct sockaddr *)&d->addr, d->addrlen, &opts,
				    on_ready, qc);
	if (!qc->c) {
		conn_unlink(qc);
		event_free(qc->idle_timer);
		free(qc);
		d->active--;
		fail_all(q, a, "local error: cannot connect");
	}
}

static void smtp_attempt(struct queue *q, struct attempt *a)
{
	struct dest *d = a->d;
	if (d->idle) {
		struct qconn *qc = d->idle;
		d->idle = qc->next;
		evtimer_del(qc->idle_timer);
		conn_send(qc, a);
		return;
	}
	d->active++;
	int64_t now = time_now_ms();
	if (d->resolved && now - d->resolved_at_ms < DEST_RESOLVE_TTL_MS) {
		if (d->resolved > 0) {
			smtp_start(q, a);
		} else {
			d->active--;
			fail_all(q, a, d->resolve_error);
		}
		return;
	}
	struct resolve_job *j = calloc(1, sizeof *j);
	j->a = a;
	dest_parse(d, j->host, sizeof j->host, &j->port, &j->mx);
	struct err e;
	if (!j->mx && net_parse_addr(j->host, j->port, &j->ss, &j->len, &e) == 0) {
		j->ok = 1;
		resolve_done(j); /* numeric: no lookup needed */
		return;
	}
	pool_submit(q->node->pool, resolve_work, resolve_done, j);
}

void deliver_start(struct queue *q, struct attempt *a)
{
	struct dest *d = a->d;
	if (strncmp(d->key, "maildir:", 8) == 0) {
		snprintf(a->maildir_path, sizeof a->maildir_path, "%s", d->key + 8);
		d->active++;
		pool_submit(q->node->pool, maildir_work, maildir_done, a);
		return;
	}
	smtp_attempt(q, a);
}

void deliver_dest_free(struct dest *d)
{
	/* shutdown: the loop has stopped, a QUIT could never finish; busy
	 * connections are abandoned too (their messages stay in the spool) */
	while (d->conns) {
		struct qconn *qc = d->conns;
		d->conns = qc->all_next;
		smtp_client_abort(qc->c);
		event_free(qc->idle_timer);
		free(qc->a);
		free(qc);
	}
	free(d);
}

/* ---- DSN (worker) ---- */

struct dsn_job {
	struct queue *q;
	struct qmsg *m;
	int ok;
};

static void dsn_work(void *ctx, void *arg)
{
	struct dsn_job *j = arg;
	struct qmsg *m = j->m;
	struct dsn_rcpt *dr = calloc((size_t)m->nr, sizeof *dr);
	int nd = 0;
	for (int i = 0; i < m->nr; i++) {
		if (m->r[i].state != QR_FAILED)
			continue;
		dr[nd].rcpt = m->r[i].addr;
		dr[nd].status = m->r[i].status;
		dr[nd].diagnostic = m->r[i].last_reply;
		nd++;
	}
	struct buf out;
	buf_init(&out, 1 << 20);
	struct err e;
	char dsn_id[SPOOL_ID_LEN], postmaster[300], mta[256], own[256];
	struct node *n = j->q->node;
	config_str(n->cfg, "postmaster_address", NULL, NULL, postmaster, sizeof postmaster);
	config_hostname(n->cfg, n->boot.hostname, mta, sizeof mta);
	config_default_domain(n->cfg, n->boot.hostname, own, sizeof own);
	if (!postmaster[0])
		snprintf(postmaster, sizeof postmaster, "MAILER-DAEMON@%s", own);
	const char *to[] = {m->env.mail_from};
	int fd = open(m->path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0 &&
	    dsn_build_from(&out, postmaster, mta, m->env.mail_from, "",
		      (time_t)(m->env.time_ms / 1000), dr, nd, fd, (off_t)m->body_off, m->body_len,
		      &e) == 0 &&
	    queue_submit_local(j->q->node, filter_thread_db(ctx), "", to, 1, out.data, out.len,
			       dsn_id, sizeof dsn_id, &e) == 0) {
		j->ok = 1;
		log_info("queue: %s: DSN %s queued for <%s>", m->env.id, dsn_id,
			 log_esc(m->env.mail_from));
	}
	else
		log_error("queue: %s: cannot create DSN: %s", m->env.id, fd < 0 ? "open" : e.msg);
	if (fd >= 0)
		close(fd);
	buf_free(&out);
	free(dr);
}

static void dsn_done(void *arg)
{
	struct dsn_job *j = arg;
	struct queue *q = j->q;
	if (j->ok)
		metrics_inc(M_DSN_SENT);
	struct attempt *a = calloc(1, sizeof *a);
	a->q = q;
	a->m = j->m;
	free(j);
	queue_attempt_finished(q, a); /* releases the hold; completes the message */
}

void deliver_make_dsn(struct queue *q, struct qmsg *m)
{
	struct dsn_job *j = calloc(1, sizeof *j);
	j->q = q;
	j->m = m;
	pool_submit(q->node->pool, dsn_work, dsn_done, j);
}
