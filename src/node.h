/* Everything one rampart node runs on: the event loop, its stores and
 * its services. One instance per rampartd process. */
#ifndef RAMPART_NODE_H
#define RAMPART_NODE_H

#include <event2/event.h>
#include <openssl/ssl.h>
#include <stdint.h>

#include "mail/spool.h"
#include "store/bootstrap.h"

struct config_store;
struct pool;
struct filter_engine;
struct queue;
struct smtp_server;
struct web;
struct msglog_writer;
struct dns;
struct queue_index;
struct cluster;

struct node {
	struct event_base *base;
	struct bootstrap boot;
	struct config_store *cfg;
	struct spool spool;
	struct pool *pool;            /* scan threads: CPU work */
	struct pool *io_pool;         /* I/O threads: fsync, unlink, file creation */
	struct filter_engine *fe;
	struct queue *queue;
	struct queue_index *qindex;      /* batched writer of queue_rcpt */
	struct smtp_server *smtp;
	struct web *web;
	struct dns *dns;                /* resolver for DNSBL, URIBL, SPF */
	struct msglog_writer *msglog;  /* batches message-log writes on its own thread */
	struct cluster *cluster;        /* src/cluster: membership, replication, host map */
	SSL_CTX *tls_server;
	SSL_CTX *tls_client;
	char db_path[4200];
	int64_t started_ms;
	int draining;
	int scan_threads;
};

#endif
