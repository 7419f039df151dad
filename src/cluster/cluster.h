/* The cluster: several rampart nodes linked so that they keep one
 * configuration (docs/cluster.md, DESIGN.md §2).
 *
 * corosync 3 does membership, ordering and quorum: rampartd writes its
 * node's corosync.conf (corosync.c), runs corosync as a supervised child,
 * joins the CPG group "rampart" (cpg.c) and tracks votequorum
 * (quorum.c). Every change of a propagated config key is multicast as a
 * CPG message and applied by every member in delivery order; the writer
 * returns only when its own member has applied it. After a membership
 * change, members compare digests and pull what differs over the peer
 * channel (HTTPS + HMAC, peer_*.c); concurrent writes of one key are
 * resolved by (HLC stamp, node id) and the loser is kept in a conflict
 * list (sync.c). Node-local state (secret, host name, host map, conflict
 * list, node id) lives in node-local tables (local.c, hostmap.c).
 *
 * Membership itself is replicated config: cluster/member/<nodeid> =
 * {"name", "port", "role", "joined_ms"}. */
#ifndef RAMPART_CLUSTER_CLUSTER_H
#define RAMPART_CLUSTER_CLUSTER_H

#include <jansson.h>
#include <sqlite3.h>
#include <stddef.h>

#include "util/err.h"

struct cluster;
struct node;

/* The cluster/ key namespace: before every config_open. */
void cluster_register_config(void);
/* Node-local tables (state, host map, conflicts): in init_database. */
int cluster_db_init(sqlite3 *db, struct err *e);

/* On the loop thread, after config_open and before the services start
 * (the host map is needed by the delivery queue). */
struct cluster *cluster_new(struct node *n, struct err *e);
/* On the loop thread, after the services started (web, pool): a member
 * starts corosync and rejoins by itself. */
int cluster_start(struct cluster *c, struct err *e);
/* After the loop ended and before the worker pool is freed: fails
 * writers still waiting, stops the threads and corosync. */
void cluster_stop(struct cluster *c);
void cluster_free(struct cluster *c);

/* ---- administration (worker threads; db = the worker's connection).
 * Every function also works without a running daemon (n->cluster NULL,
 * the CLI's offline mode) where that makes sense. ---- */
json_t *cluster_status_json(struct node *n, sqlite3 *db);
/* One object per member: name, address, role, state, config_version... */
json_t *cluster_members_json(struct node *n, sqlite3 *db);
int cluster_set_secret(struct node *n, sqlite3 *db, const char *secret, struct err *e);
/* "" = this node's address. Clustered: updates this node's member record. */
int cluster_set_hostname(struct node *n, sqlite3 *db, const char *name, struct err *e);
/* Joins the cluster of any member (host or host:port); blocks until this
 * node is a synchronised member or fails with the reason. */
int cluster_join(struct node *n, const char *host, struct err *e);
/* 0 left; 1 left but the others could not be told (e says what to do);
 * -1 error. */
int cluster_leave(struct node *n, struct err *e);
/* name: a member's name, address or node id. */
int cluster_remove(struct node *n, const char *name, struct err *e);
int cluster_set_role(struct node *n, const char *name, const char *role, struct err *e);
/* {"total", "rows": [{"id", "time", "key", "winner": {...}, "loser": {...}}]} */
json_t *cluster_conflicts_json(struct node *n, sqlite3 *db, int limit, int offset);
int cluster_conflicts_clear(struct node *n, sqlite3 *db, struct err *e);
/* Recent delivery delays: {"samples": [[origin, seq, delay_us], ...]} */
json_t *cluster_latency_json(struct node *n);

/* ---- local host map (hostmap.c) ---- */
/* The address the map gives for name: 0 and addr filled, -1 when the
 * name is not in the map (or n has no cluster). Any thread. */
int hostmap_lookup(struct node *n, const char *name, char *addr, size_t len);
int hostmap_set(struct node *n, sqlite3 *db, const char *name, const char *addr, struct err *e);
int hostmap_remove(struct node *n, sqlite3 *db, const char *name, struct err *e);
json_t *hostmap_list(struct node *n, sqlite3 *db); /* [{"name", "address"}...] sorted */
/* Name -> numeric address: an address literal as it is, then the host
 * map, then /etc/hosts, then DNS (the node's resolver when it has
 * dns_servers, else the system's). Not on the loop thread. The error names the host and says to add it to the Local
 * Host Map. */
int cluster_resolve(struct node *n, const char *name, char *addr, size_t len, struct err *e);

/* Whether this node is a member of a cluster (any thread). */
int cluster_is_member(struct node *n);
/* 0 when this node is a standby member (it filters no mail), else 1. */
int cluster_accepts_mail(struct node *n);

#endif
