/* Internals shared by the files of src/cluster.
 *
 * Threads:
 *  - the loop: corosync's CPG and votequorum fds (dispatch only: every
 *    delivery is queued for the apply thread), SIGCHLD of the corosync
 *    child, the status timer;
 *  - the apply thread: takes deliveries in CPG order, applies config
 *    rows (config_put_raw), wakes the writers waiting for them, runs the
 *    synchronisation rounds (sync.c);
 *  - the task thread: everything slow or blocking that is not a write:
 *    (re)writing corosync.conf and reloading it, connecting to corosync,
 *    pulling rows from peers, the status multicast;
 *  - worker threads (API handlers, peer-channel handlers): writes block
 *    there until the cluster applied them; joins run there.
 * Everything in struct cluster below `mu` is guarded by it. */
#ifndef RAMPART_CLUSTER_CLUSTER_INT_H
#define RAMPART_CLUSTER_CLUSTER_INT_H

#include <corosync/cpg.h>
#include <corosync/votequorum.h>
#include <event2/event.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdint.h>
#include <sys/types.h>

#include "cluster/cluster.h"
#include "cluster/keys.h"
#include "cluster/msg.h"

#define CLUSTER_MAX_MEMBERS 32
#define CLUSTER_NAME_MAX 254
#define CLUSTER_GROUP "rampart"
#define CLUSTER_CONFIRM_MS 5000     /* a writer waits this long for its change */
#define CLUSTER_STATUS_MS 2000      /* STATUS multicast period */
#define CLUSTER_LAT_SAMPLES 4096
#define MEMBER_PREFIX "cluster/member/"

enum member_state { MS_DOWN, MS_SYNCING, MS_UP };

/* One member: its record (cluster/member/<id>) and what this node knows. */
struct member {
	uint32_t nodeid;
	char name[CLUSTER_NAME_MAX];
	int port;
	char role[16];
	int64_t joined_ms;
	char addr[64];            /* resolved on this node; "" when it failed */
	char resolve_error[256];
	int64_t last_seen_ms;
};

/* A member of the current CPG view and its part in the sync round. */
struct round_peer {
	uint32_t nodeid;
	int have_digest, done, joining;
	uint64_t left_hlc;         /* its left mark when the view began (merges) */
	struct msg_sync last;      /* last DIGEST/DONE/STATUS it sent */
	int64_t seen_ms;
	int mismatch;              /* consecutive STATUS digests unlike ours */
};

/* The node-local state that survives restarts (local.c). */
struct cluster_local {
	char secret[SECRET_MAX + 1];
	char hostname[CLUSTER_NAME_MAX];
	uint32_t nodeid;           /* 0: not a member */
	int join_pending;          /* the snapshot of the cluster is not installed yet */
	char join_via[300];        /* host[:port] the join went through */
	char self_addr[64];        /* our address as a peer saw it (own name unresolvable) */
	/* per peer: our clock when it left our view (UINT64_MAX while it is in
	 * the view and synchronised): rows it wrote later were unknown to us */
	struct {
		uint32_t nodeid;
		uint64_t hlc;
	} left[2 * CLUSTER_MAX_MEMBERS];
	size_t nleft;
};

/* A CPG event waiting for the apply thread. */
struct cl_event {
	struct cl_event *next;
	int kind;                  /* EVK_MSG, EVK_CONFCHG, EVK_LOST */
	uint32_t from;             /* EVK_MSG: sender node id */
	size_t len;
	unsigned char *data;       /* EVK_MSG: the raw message */
	size_t nview;              /* EVK_CONFCHG */
	uint32_t view_nodes[CPG_MEMBERS_MAX];
	uint32_t view_pids[CPG_MEMBERS_MAX];
	int64_t recv_us;
};
enum { EVK_MSG = 1, EVK_CONFCHG, EVK_LOST };

struct waiter {
	struct waiter *next;
	uint64_t seq;
	int done;
};

/* task bits */
enum {
	TASK_MEMBERS = 1,    /* member records changed: corosync.conf, start/leave */
	TASK_CONNECT = 2,    /* (re)connect CPG + votequorum */
	TASK_PULL = 4,       /* pull rows from pull_from[] */
	TASK_STATUS = 8,     /* multicast STATUS */
	TASK_RESUME = 16,    /* finish an interrupted join */
	TASK_QINFO = 32,     /* ask votequorum for the votes */
	TASK_CHECK = 64,     /* members missing: are we still one of them? */
	TASK_FAILOVER = 128, /* an active member down: does a standby take over? */
};

struct cluster {
	struct node *node;
	struct config_store *cfg;
	pthread_t loop_thread;
	char dir[4200];            /* data_dir/cluster */
	struct peer_replay *replay;

	pthread_mutex_t dbmu;      /* the cluster's own SQLite connection */
	sqlite3 *db;

	pthread_rwlock_t hmlock;   /* host map */
	struct hm_entry *hm;
	size_t nhm;

	pthread_mutex_t sendmu;    /* serialises CPG sends */

	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct cluster_local loc;
	unsigned char peer_key[KEYS_PEER_SIZE];
	struct member members[CLUSTER_MAX_MEMBERS];
	size_t nmembers;
	int running;               /* a member: corosync child + CPG wanted */
	int join_busy;             /* a join (or its resumption) is running */
	int64_t resume_at_ms;      /* next attempt to finish an interrupted join */
	int64_t check_at_ms;       /* next membership check while members are missing */
	size_t check_next;         /* member asked next */
	struct {                   /* members missing from the view, and since when */
		uint32_t nodeid;
		int64_t since;
	} down[CLUSTER_MAX_MEMBERS];
	size_t ndown;
	int stopping;
	/* corosync child */
	pid_t child;
	int64_t child_started_ms;
	int child_backoff_ms;
	int child_stopping;
	char child_error[256];
	/* CPG / votequorum (handles used by the loop and senders) */
	cpg_handle_t cpg;
	int cpg_ok;
	uint32_t cpg_nodeid;
	struct event *cpg_ev;
	votequorum_handle_t vq;
	int vq_ok;
	struct event *vq_ev;
	int quorate;
	unsigned expected_votes, total_votes, quorum_votes;
	/* current view and its sync round (apply thread) */
	uint64_t view;
	struct round_peer round[CPG_MEMBERS_MAX];
	size_t nround;
	int synced;                /* this node finished the round of the view */
	/* apply queue */
	struct cl_event *q_head, *q_tail;
	size_t q_len;
	struct cl_event *held_head, *held_tail; /* CHANGEs held while joining */
	uint64_t applied_msgs;
	/* writers */
	uint64_t send_seq;
	struct waiter *waiters;
	/* task thread */
	unsigned tasks;
	uint32_t pull_from[CPG_MEMBERS_MAX];
	size_t npull;
	uint64_t pull_view;
	int pull_done;             /* send DONE for pull_view afterwards */
	/* digest cache (any thread, under mu) */
	uint64_t dig_version;
	struct msg_sync dig;
	/* delivery delays */
	struct {
		uint32_t origin;
		uint64_t seq;
		int64_t delay_us;
	} lat[CLUSTER_LAT_SAMPLES];
	size_t nlat;
	pthread_t apply_th, task_th;
	int threads_started;
	struct event *status_timer, *restart_timer, *connect_timer, *sigchld;
};

/* cluster.c */
void cluster_task(struct cluster *c, unsigned bits);   /* wakes the task thread */
/* failover.c: task thread, every status period */
void failover_check(struct cluster *c);
int cluster_load_members(struct cluster *c);           /* from the store, resolved */
/* Resolves ms on this node (blocking) and makes them the member list. */
void cluster_members_set(struct cluster *c, struct member *ms, size_t n);
struct member *cluster_member_find(struct cluster *c, const char *name_or_id); /* mu held */
int cluster_member_put(struct cluster *c, const struct member *m, struct err *e);
int cluster_my_port(struct cluster *c);
void cluster_local_leave(struct cluster *c, const char *why);
void cluster_runtime_start(struct cluster *c);

/* local.c: node-local state */
int local_load(sqlite3 *db, struct cluster_local *l);
int local_put(sqlite3 *db, const char *name, const char *value, struct err *e);
int local_save(struct cluster *c, struct err *e);      /* c->loc, under dbmu */
int local_get(sqlite3 *db, const char *name, char *out, size_t outlen);

/* hostmap.c */
int hostmap_load(struct cluster *c, sqlite3 *db, struct err *e);
void hostmap_free(struct cluster *c);
int hostmap_name_check(const char *name, char *canon, size_t len, struct err *e);
int hostmap_addr_check(const char *addr, char *canon, size_t len, struct err *e);

/* corosync.c */
struct cs_node {
	uint32_t nodeid;
	char name[CLUSTER_NAME_MAX];
	char addr[64];
};
struct cs_conf {
	const char *cluster_name;
	int port;
	int token_ms;
	const char *keyfile;
	const char *state_dir;
	const struct cs_node *nodes;
	size_t n;
};
int corosync_render(const struct cs_conf *conf, struct buf *out, struct err *e);
/* Writes authkey + corosync.conf under c->dir from the member list; 1
 * when corosync.conf changed, 0 unchanged, -1 error. */
int corosync_write(struct cluster *c, struct err *e);
int corosync_child_start(struct cluster *c, struct err *e);   /* mu not held */
void corosync_child_stop(struct cluster *c);                  /* mu not held; waits */
void corosync_child_reap(struct cluster *c);                  /* SIGCHLD; any thread */
int corosync_reload(struct err *e);
void corosync_shm_cleanup(void);
/* SIGKILLs every live corosync whose arguments include conf and waits
 * until each has let go of its sockets; how many. */
int corosync_kill_leftovers(const char *conf);

/* cpg.c */
int cpg_connect(struct cluster *c, struct err *e);             /* task thread */
void cpg_disconnect(struct cluster *c);
int cpg_send(struct cluster *c, const struct buf *msg, struct err *e);
int cpg_send_sync(struct cluster *c, int type, const struct msg_sync *s, struct err *e);
/* Multicasts rows and waits until this member applied them. */
int cpg_replicate(struct cluster *c, const struct config_rawchange *rows, size_t n,
		  unsigned flags, struct err *e);
int cluster_replicator(void *arg, const struct config_rawchange *rows, size_t n, struct err *e);
void *apply_main(void *arg);
void cpg_fail_waiters(struct cluster *c);                      /* mu held */

/* quorum.c */
int quorum_connect(struct cluster *c, struct err *e);
void quorum_refresh(struct cluster *c);
void quorum_disconnect(struct cluster *c);

/* sync.c */
/* Digest of the propagated rows (cached by config version). */
void sync_digest(struct cluster *c, struct msg_sync *out);
void sync_on_confchg(struct cluster *c, const struct cl_event *ev);
void sync_on_msg(struct cluster *c, const struct msg *m);
void sync_pull(struct cluster *c);                             /* task thread */
void sync_on_conflicts(struct cluster *c, const struct msg *m); /* MSG_CONFLICT */
int sync_release_held(struct cluster *c);
/* The rows of the store that are not node-local, as config_export_raw. */
json_t *sync_rows_json(struct cluster *c);
/* Merge of one remote row (pure decision): 1 apply, 0 keep ours; *conflict
 * set when ours was a concurrent change that loses (or theirs was). */
int sync_merge_decide(const struct config_rawchange *ours, int have_ours,
		      const struct config_rawchange *theirs, uint64_t peer_left, int *conflict);
/* Merges rows pulled from peer (LWW, conflicts recorded). */
int sync_merge_rows(struct cluster *c, uint32_t peer, json_t *rows, size_t *applied,
		    size_t *conflicts, struct err *e);
/* left marks (mu held) */
uint64_t sync_left_get(const struct cluster_local *l, uint32_t nodeid);
void sync_left_set(struct cluster_local *l, uint32_t nodeid, uint64_t hlc);
int conflict_record(sqlite3 *db, const char *key, const struct config_rawchange *winner,
		    const struct config_rawchange *loser, struct err *e);
/* Rows of a json array from config_export_raw into changes (pointers into
 * rows); NULL on a malformed row. */
struct config_rawchange *sync_rows_parse(json_t *rows, size_t *n, struct err *e);

/* peer_client.c */
/* Authenticated call of a peer; reply JSON in *out (2xx: verified). The
 * status is returned (0 transport error: e says why). */
int peer_call(struct cluster *c, const char *host, int port, const char *method,
	      const char *target, json_t *body, int timeout_ms, json_t **out, struct err *e);
/* "host" or "host:port" ("[v6]:port") -> host, port (default dflt). */
int peer_split(const char *in, char *host, size_t hostlen, int *port, int dflt, struct err *e);

/* join.c: the target's side (peer handlers) */
json_t *join_handle_check(struct cluster *c, json_t *body, const char *peer_ip,
			  const char *local_ip, int *status);
json_t *join_handle_commit(struct cluster *c, json_t *body, const char *peer_ip,
			   const char *local_ip, int *status);
void join_resume(struct cluster *c);                           /* task thread */
int join_finish(struct cluster *c, struct err *e);

/* json of a member record */
json_t *member_record_json(const struct member *m);

#endif
