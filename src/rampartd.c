/* rampartd: one rampart node. Runs in the foreground (systemd style).
 * SIGTERM/SIGINT drain and exit, SIGHUP reloads. */
#include <event2/event.h>
#include <event2/thread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cluster/cluster.h"
#include "filter/av.h"
#include "filter/bayes.h"
#include "filter/dns.h"
#include "filter/fingerprint.h"
#include "filter/pipeline.h"
#include "node.h"
#include "smtp/queue.h"
#include "smtp/server.h"
#include "store/config.h"
#include "store/db.h"
#include "store/msglog.h"
#include "store/quarantine.h"
#include "store/users.h"
#include "util/fsutil.h"
#include "util/log.h"
#include "util/pool.h"
#include "util/timeutil.h"
#include "util/tls.h"
#include "web/web.h"

static struct node node;
static struct event *drain_check;

static void usage(void)
{
	fprintf(stderr, "usage: rampartd -c CONFIG_FILE\n");
	exit(2);
}

static void apply_log_level(const char *lvl)
{
	static const char *names[] = {"debug", "info", "warning", "error"};
	for (int i = 0; i < 4; i++)
		if (strcmp(lvl, names[i]) == 0)
			log_set_level((enum log_level)i);
}

static void *worker_init(int index, void *user)
{
	(void)index;
	struct err e;
	struct filter_thread *ft = filter_thread_new(user, &e);
	if (!ft)
		log_fatal("scan thread: %s", e.msg);
	return ft;
}

static void worker_fini(void *ctx)
{
	filter_thread_free(ctx);
}

static void init_database(struct node *n)
{
	struct err e;
	sqlite3 *db = db_open(n->db_path, &e);
	if (!db || msglog_init(db, &e) < 0 || queue_db_init(db, &e) < 0 ||
	    quarantine_init(db, n->boot.data_dir, &e) < 0 || bayes_init(db, &e) < 0 ||
	    web_db_init(db, &e) < 0 || cluster_db_init(db, &e) < 0)
		log_fatal("database %s: %s", n->db_path, e.msg);
	db_close(db);
}

static void init_tls(struct node *n)
{
	struct err e;
	struct bootstrap *b = &n->boot;
	if (tls_ensure_selfsigned(b->tls_cert, b->tls_key, b->hostname, &e) < 0)
		log_fatal("TLS: %s", e.msg);
	n->tls_server = tls_server_ctx(b->tls_cert, b->tls_key, &e);
	if (!n->tls_server)
		log_fatal("TLS: %s", e.msg);
	n->tls_client = tls_client_ctx(&e);
	if (!n->tls_client)
		log_fatal("TLS: %s", e.msg);
}

static void start_services(struct node *n)
{
	struct err e;
	n->fe = filter_engine_new(n->cfg, n->boot.data_dir, &e);
	if (!n->fe || filter_engine_load_rules_async(n->fe, n->boot.rules_dirs, &e) < 0)
		log_fatal("filters: %s", e.msg);
	/* a cached or small rule set is in place before the first connection;
	 * a first compile of a large one goes on in the background */
	int ready = filter_engine_wait_rules(n->fe, n->boot.rules_startup_wait * 1000, &e);
	if (ready < 0)
		log_fatal("rules: %s", e.msg);
	if (ready == 0)
		log_warn("rules: first compile of the rule set is still running (it is cached for "
			 "later starts); mail is answered 451 until it is done");
	/* before the pool: queue_recover rescans on the workers */
	n->dns = dns_new(n->base, (const char(*)[128])n->boot.dns_servers, n->boot.n_dns_servers, &e);
	if (!n->dns)
		log_error("%s: DNSBL, SPF and URIBL are skipped", e.msg);
	filter_engine_set_dns(n->fe, n->dns);
	av_set_clamd(n->boot.clamd);
	int threads = (int)config_int(n->cfg, "scan_threads", NULL, NULL);
	if (threads <= 0)
		threads = (int)sysconf(_SC_NPROCESSORS_ONLN);
	n->scan_threads = threads > 0 ? threads : 1;
	n->pool = pool_new(n->base, n->scan_threads, worker_init, worker_fini, n->fe);
	n->io_pool = pool_new(n->base, (int)config_int(n->cfg, "io_threads", NULL, NULL), worker_init,
			      worker_fini, n->fe);
	n->qindex = queue_index_open(n->db_path, &e);
	if (!n->qindex)
		log_fatal("queue index: %s", e.msg);
	n->queue = queue_new(n, &e);
	if (!n->queue || queue_recover(n->queue, &e) < 0)
		log_fatal("queue: %s", e.msg);
	n->smtp = smtp_server_new(n, &e);
	for (int i = 0; i < n->boot.n_smtp_listen; i++)
		if (smtp_server_listen(n->smtp, n->boot.smtp_listen[i], &e) < 0)
			log_fatal("smtp: %s", e.msg);
	n->web = web_new(n, &e);
	for (int i = 0; i < n->boot.n_http_listen; i++)
		if (web_listen_https(n->web, n->boot.http_listen[i], &e) < 0)
			log_fatal("web: %s", e.msg);
	if (web_listen_local(n->web, n->boot.control_socket, &e) < 0)
		log_fatal("web: %s", e.msg);
}

/* Hourly: drop message-log rows past their retention. */
static void purge_work(void *ctx, void *arg)
{
	struct node *n = arg;
	struct err e;
	int64_t days = config_int(n->cfg, "msglog_retention_days", NULL, NULL);
	if (msglog_purge(filter_thread_db(ctx), time_now_ms() - days * 86400000LL, &e) < 0)
		log_warn("message log purge: %s", e.msg);
}

static void on_purge(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct node *n = arg;
	if (!n->draining)
		pool_submit(n->pool, purge_work, NULL, n);
}

static void on_drain_check(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct node *n = arg;
	if (smtp_server_sessions(n->smtp) == 0 && pool_busy(n->pool) == 0 &&
	    pool_busy(n->io_pool) == 0) {
		log_info("rampartd: drained, exiting");
		event_base_loopexit(n->base, NULL);
	}
}

static void on_term(evutil_socket_t sig, short what, void *arg)
{
	(void)what;
	struct node *n = arg;
	if (n->draining) {
		log_info("rampartd: second signal, exiting now");
		event_base_loopexit(n->base, NULL);
		return;
	}
	int timeout = (int)config_int(n->cfg, "smtp_drain_timeout", NULL, NULL);
	log_info("rampartd: signal %d, draining (up to %ds)", (int)sig, timeout);
	n->draining = 1;
	smtp_server_drain(n->smtp, timeout);
	queue_stop(n->queue);
	drain_check = event_new(n->base, -1, EV_PERSIST, on_drain_check, n);
	struct timeval tv = {0, 100000};
	event_add(drain_check, &tv);
}

static void reload_work(void *ctx, void *arg)
{
	(void)ctx;
	struct node *n = arg;
	struct err e;
	if (filter_engine_reload(n->fe, &e) < 0)
		log_error("reload: filters: %s (keeping the running rules)", e.msg);
	else
		log_info("rampartd: reloaded (listen addresses change on restart)");
}

static void on_hup(evutil_socket_t sig, short what, void *arg)
{
	(void)sig;
	(void)what;
	struct node *n = arg;
	struct bootstrap fresh;
	struct err e;
	if (bootstrap_load(n->boot.path, &fresh, &e) < 0) {
		log_error("reload: %s (keeping the running configuration)", e.msg);
		return;
	}
	apply_log_level(fresh.log_level);
	/* compiling rules can take seconds: never on the loop */
	pool_submit(n->pool, reload_work, NULL, n);
	log_info("rampartd: reload requested (log level applied, rules compiling)");
}

int main(int argc, char **argv)
{
	const char *conf = NULL;
	int opt;
	while ((opt = getopt(argc, argv, "c:")) != -1) {
		if (opt == 'c')
			conf = optarg;
		else
			usage();
	}
	if (!conf)
		usage();
	log_set_ident("rampartd");
	struct err e;
	struct node *n = &node;
	if (bootstrap_load(conf, &n->boot, &e) < 0) {
		fprintf(stderr, "rampartd: %s\n", e.msg);
		return 1;
	}
	apply_log_level(n->boot.log_level);
	signal(SIGPIPE, SIG_IGN);
	evthread_use_pthreads();
	n->base = event_base_new();
	n->started_ms = time_now_ms();
	if (fs_mkdir_p(n->boot.data_dir, 0700, &e) < 0 || spool_init(&n->spool, n->boot.data_dir, &e) < 0)
		log_fatal("%s", e.msg);
	snprintf(n->db_path, sizeof n->db_path, "%s/rampart.db", n->boot.data_dir);
	init_database(n);
	users_register_config();
	filter_register_config();
	cluster_register_config(); /* cluster: member records */
	n->msglog = msglog_writer_open(n->db_path, &e);
	if (!n->msglog)
		log_fatal("message log: %s", e.msg);
	n->cfg = config_open(n->db_path, &e);
	if (!n->cfg)
		log_fatal("config store: %s", e.msg);
	init_tls(n);
	/* cluster: node-local state and the Local Host Map, before the services resolve names */
	if (!cluster_new(n, &e))
		log_fatal("cluster: %s", e.msg);
	start_services(n);
	/* cluster: a member starts corosync and rejoins by itself */
	if (cluster_start(n->cluster, &e) < 0)
		log_fatal("%s", e.msg);
	struct event *sigterm = evsignal_new(n->base, SIGTERM, on_term, n);
	struct event *sigint = evsignal_new(n->base, SIGINT, on_term, n);
	struct event *sighup = evsignal_new(n->base, SIGHUP, on_hup, n);
	event_add(sigterm, NULL);
	event_add(sigint, NULL);
	event_add(sighup, NULL);
	struct event *purge = event_new(n->base, -1, EV_PERSIST, on_purge, n);
	struct timeval hour = {3600, 0};
	event_add(purge, &hour);
	on_purge(-1, 0, n);
	log_info("rampartd: ready (host %s, data %s, %d scan threads)", n->boot.hostname,
		 n->boot.data_dir, n->scan_threads);
	event_base_dispatch(n->base);

	cluster_stop(n->cluster); /* cluster: fail waiting writers, stop corosync */
	smtp_server_free(n->smtp);
	web_free(n->web);
	pool_free(n->pool);
	pool_free(n->io_pool);
	dns_free(n->dns);
	queue_free(n->queue);
	queue_index_close(n->qindex);
	filter_engine_free(n->fe);
	msglog_writer_close(n->msglog);
	cluster_free(n->cluster); /* cluster: after the pools (peer jobs) */
	config_close(n->cfg);
	event_free(sigterm);
	event_free(sigint);
	event_free(sighup);
	event_free(purge);
	if (drain_check)
		event_free(drain_check);
	SSL_CTX_free(n->tls_server);
	SSL_CTX_free(n->tls_client);
	event_base_free(n->base);
	unlink(n->boot.control_socket);
	return 0;
}
