/* Synchronisation after a membership change, and reconciliation.
 *
 * CPG keeps no history, so on every change of the group (a member joins,
 * comes back, a partition heals) each member multicasts a DIGEST of its
 * propagated rows for the new view. When a member has every digest of the
 * view, it pulls the rows of each member whose digest differs from its
 * own (peer channel: GET /peer/v1/rows), merges them and multicasts DONE.
 * A member is "up" for the others once its DONE arrived. Rows merge per
 * key: the highest (HLC stamp, node id) wins. A losing row is a
 * conflict, recorded in cluster_conflicts, when it was written while the
 * two sides could not see each other: its stamp is later than the moment
 * the peer left our view (the left mark). A joining member (SYNC_JOINING)
 * is neither pulled from nor pulls: it installs a snapshot (join.c).
 * STATUS messages (every 2 s) carry the digest again: two equal highest
 * stamps with different digests twice in a row start a pull
 * (anti-entropy). */
#include <inttypes.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cluster/cluster_int.h"
#include "cluster/hlc.h"
#include "node.h"
#include "store/db.h"
#include "util/log.h"
#include "util/strmap.h"
#include "util/timeutil.h"

#define CONFLICTS_KEEP 10000
#define PULL_TIMEOUT_MS 30000

/* ---- rows ---- */

json_t *sync_rows_json(struct cluster *c)
{
	json_t *all = config_export_raw(c->cfg), *out = json_array(), *row;
	size_t i;
	json_array_foreach(all, i, row) {
		const char *key = json_string_value(json_object_get(row, "key"));
		if (key && !config_key_is_local(key))
			json_array_append(out, row);
	}
	json_decref(all);
	return out;
}

struct config_rawchange *sync_rows_parse(json_t *rows, size_t *n, struct err *e)
{
	size_t i, k = 0;
	json_t *row;
	if (!json_is_array(rows)) {
		err_set(e, "rows: expected an array");
		return NULL;
	}
	struct config_rawchange *c = calloc(json_array_size(rows) + 1, sizeof *c);
	if (!c) {
		err_set(e, "out of memory");
		return NULL;
	}
	json_array_foreach(rows, i, row) {
		json_t *v = json_object_get(row, "value"), *h = json_object_get(row, "hlc"),
		       *nd = json_object_get(row, "node");
		const char *key = json_string_value(json_object_get(row, "key"));
		if (!key || !(json_is_string(v) || json_is_null(v)) || !json_is_integer(h) ||
		    !json_is_integer(nd) || json_integer_value(h) <= 0 ||
		    json_integer_value(nd) < 0 || json_integer_value(nd) > UINT32_MAX) {
			err_set(e, "rows: malformed row %zu", i);
			free(c);
			return NULL;
		}
		if (config_key_is_local(key))
			continue;
		c[k++] = (struct config_rawchange){key, json_string_value(v),
						   (uint64_t)json_integer_value(h),
						   (uint32_t)json_integer_value(nd)};
	}
	*n = k;
	return c;
}

/* ---- digest ---- */

void sync_digest(struct cluster *c, struct msg_sync *out)
{
	uint64_t v = config_version(c->cfg);
	pthread_mutex_lock(&c->mu);
	if (c->dig_version == v) {
		*out = c->dig;
		pthread_mutex_unlock(&c->mu);
		return;
	}
	pthread_mutex_unlock(&c->mu);
	json_t *rows = sync_rows_json(c), *row;
	EVP_MD_CTX *sha = EVP_MD_CTX_new();
	struct msg_sync d;
	size_t i;
	memset(&d, 0, sizeof d);
	if (!sha || EVP_DigestInit_ex(sha, EVP_sha256(), NULL) != 1)
		log_panic("cluster: no SHA-256");
	json_array_foreach(rows, i, row) {
		char line[64];
		const char *key = json_string_value(json_object_get(row, "key"));
		uint64_t h = (uint64_t)json_integer_value(json_object_get(row, "hlc"));
		int n = snprintf(line, sizeof line, "\t%" PRIu64 "\t%" PRId64 "\t%d\n", h,
				 (int64_t)json_integer_value(json_object_get(row, "node")),
				 json_is_null(json_object_get(row, "value")));
		EVP_DigestUpdate(sha, key, strlen(key));
		EVP_DigestUpdate(sha, line, (size_t)n);
		if (h > d.maxhlc)
			d.maxhlc = h;
		d.rows++;
	}
	EVP_DigestFinal_ex(sha, d.digest, NULL);
	EVP_MD_CTX_free(sha);
	json_decref(rows);
	pthread_mutex_lock(&c->mu);
	c->dig = d;
	c->dig_version = v;
	pthread_mutex_unlock(&c->mu);
	*out = d;
}

/* ---- left marks ---- */

uint64_t sync_left_get(const struct cluster_local *l, uint32_t nodeid)
{
	for (size_t i = 0; i < l->nleft; i++)
		if (l->left[i].nodeid == nodeid)
			return l->left[i].hlc;
	return UINT64_MAX; /* never separated from it */
}

void sync_left_set(struct cluster_local *l, uint32_t nodeid, uint64_t hlc)
{
	for (size_t i = 0; i < l->nleft; i++)
		if (l->left[i].nodeid == nodeid) {
			l->left[i].hlc = hlc;
			return;
		}
	if (l->nleft == sizeof l->left / sizeof l->left[0])
		l->nleft--; /* drop the last (oldest member ids rarely matter) */
	l->left[l->nleft].nodeid = nodeid;
	l->left[l->nleft++].hlc = hlc;
}

/* ---- merging (pure decision + application) ---- */

static int same_value(const struct config_rawchange *a, const struct config_rawchange *b)
{
	if (!a->value || !b->value)
		return a->value == b->value;
	return strcmp(a->value, b->value) == 0;
}

int sync_merge_decide(const struct config_rawchange *ours, int have_ours,
		      const struct config_rawchange *theirs, uint64_t peer_left, int *conflict)
{
	*conflict = 0;
	if (!have_ours)
		return 1;
	int cmp = hlc_cmp(theirs->hlc, theirs->node, ours->hlc, ours->node);
	if (cmp == 0)
		return 0;
	const struct config_rawchange *loser = cmp > 0 ? ours : theirs;
	/* written after the two sides lost sight of each other: concurrent */
	*conflict = loser->hlc > peer_left && !same_value(ours, theirs);
	return cmp > 0;
}

int conflict_record(sqlite3 *db, const char *key, const struct config_rawchange *w,
		    const struct config_rawchange *l, struct err *e)
{
	sqlite3_stmt *st = db_cached(
		db,
		"INSERT OR IGNORE INTO cluster_conflicts(time_ms, key, winner_value, winner_hlc,"
		" winner_node, loser_value, loser_hlc, loser_node) VALUES(?1,?2,?3,?4,?5,?6,?7,?8)",
		e);
	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, time_now_ms());
	sqlite3_bind_text(st, 2, key, -1, SQLITE_STATIC);
	if (w->value)
		sqlite3_bind_text(st, 3, w->value, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, (sqlite3_int64)w->hlc);
	sqlite3_bind_int64(st, 5, w->node);
	if (l->value)
		sqlite3_bind_text(st, 6, l->value, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 7, (sqlite3_int64)l->hlc);
	sqlite3_bind_int64(st, 8, l->node);
	if (db_step_done(st, e) < 0)
		return -1;
	if (sqlite3_changes(db) == 0)
		return 0; /* already known */
	st = db_cached(db,
		       "DELETE FROM cluster_conflicts WHERE id <= (SELECT max(id) FROM"
		       " cluster_conflicts) - ?1",
		       e);
	if (!st)
		return -1;
	sqlite3_bind_int(st, 1, CONFLICTS_KEEP);
	return db_step_done(st, e) < 0 ? -1 : 1;
}

/* Our rows by key (values point into `all`). */
static void index_ours(json_t *all, struct strmap *m)
{
	size_t i;
	json_t *row;
	strmap_init(m);
	json_array_foreach(all, i, row) {
		const char *key = json_string_value(json_object_get(row, "key"));
		if (key)
			strmap_put(m, key, row, NULL);
	}
}

static void row_of(json_t *row, struct config_rawchange *r)
{
	r->key = json_string_value(json_object_get(row, "key"));
	r->value = json_string_value(json_object_get(row, "value"));
	r->hlc = (uint64_t)json_integer_value(json_object_get(row, "hlc"));
	r->node = (uint32_t)json_integer_value(json_object_get(row, "node"));
}

/* Conflicts found by one merge, told to the other members. */
struct found {
	struct config_rawchange *pairs; /* winner, loser, ... */
	size_t n, cap;
};

static void found_add(struct found *f, const struct config_rawchange *w,
		      const struct config_rawchange *l)
{
	if (f->n + 2 > f->cap) {
		size_t cap = f->cap ? 2 * f->cap : 16;
		struct config_rawchange *p = realloc(f->pairs, cap * sizeof *p);
		if (!p)
			return; /* recorded here anyway */
		f->pairs = p;
		f->cap = cap;
	}
	f->pairs[f->n++] = *w;
	f->pairs[f->n++] = *l;
}

/* Multicast in messages of at most half the CPG maximum. */
static void found_send(struct cluster *c, const struct found *f)
{
	struct buf b;
	struct err e;
	buf_init(&b, MSG_MAX + MSG_HEADER_SIZE);
	for (size_t i = 0; i < f->n;) {
		size_t end = i, size = MSG_HEADER_SIZE;
		while (end < f->n && (end == i || size + msg_change_size(&f->pairs[end]) +
							 msg_change_size(&f->pairs[end + 1]) < MSG_MAX / 2)) {
			size += msg_change_size(&f->pairs[end]) + msg_change_size(&f->pairs[end + 1]);
			end += 2;
		}
		pthread_mutex_lock(&c->mu);
		uint32_t me = c->loc.nodeid;
		uint64_t seq = ++c->send_seq;
		int ok = c->cpg_ok;
		pthread_mutex_unlock(&c->mu);
		if (ok && (msg_encode_rows(&b, MSG_CONFLICT, me, seq, time_now_ms() * 1000,
					   f->pairs + i, end - i, &e) < 0 ||
			   cpg_send(c, &b, &e) < 0))
			log_warn("cluster: cannot tell the others about conflicts: %s", e.msg);
		i = end;
	}
	buf_free(&b);
}

void sync_on_conflicts(struct cluster *c, const struct msg *m)
{
	struct err e;
	pthread_mutex_lock(&c->dbmu);
	for (size_t i = 0; i + 1 < m->n; i += 2)
		if (conflict_record(c->db, m->changes[i].key, &m->changes[i], &m->changes[i + 1], &e) < 0)
			log_error("cluster: cannot record a conflict: %s", e.msg);
	pthread_mutex_unlock(&c->dbmu);
}

static void merge_one(struct cluster *c, const struct config_rawchange *t, json_t *orow,
		      uint64_t left, size_t *applied, struct found *found)
{
	struct config_rawchange o;
	struct err e;
	int conflict;
	if (orow)
		row_of(orow, &o);
	int apply = sync_merge_decide(&o, orow != NULL, t, left, &conflict);
	if (conflict) {
		const struct config_rawchange *w = apply ? t : &o, *l = apply ? &o : t;
		pthread_mutex_lock(&c->dbmu);
		int rc = conflict_record(c->db, t->key, w, l, &e);
		pthread_mutex_unlock(&c->dbmu);
		if (rc > 0) {
			found_add(found, w, l);
			log_warn("cluster: conflict on %s: the change of node %u lost to node %u's",
				 log_esc(t->key), l->node, w->node);
		} else if (rc < 0) {
			log_error("cluster: cannot record a conflict: %s", e.msg);
		}
	}
	int rc = apply ? config_put_raw(c->cfg, t->key, t->value, t->hlc, t->node, &e) : 0;
	if (rc > 0)
		(*applied)++;
	else if (rc < 0)
		log_error("cluster: cannot merge %s: %s", log_esc(t->key), e.msg);
}

int sync_merge_rows(struct cluster *c, uint32_t peer, json_t *rows, size_t *applied,
		    size_t *conflicts, struct err *e)
{
	size_t n;
	struct config_rawchange *theirs = sync_rows_parse(rows, &n, e);
	if (!theirs)
		return -1;
	pthread_mutex_lock(&c->mu);
	uint64_t left = UINT64_MAX;
	for (size_t i = 0; i < c->nround; i++)
		if (c->round[i].nodeid == peer)
			left = c->round[i].left_hlc;
	pthread_mutex_unlock(&c->mu);
	json_t *all = config_export_raw(c->cfg);
	struct strmap ours;
	index_ours(all, &ours);
	struct found found = {0};
	*applied = 0;
	for (size_t i = 0; i < n; i++)
		merge_one(c, &theirs[i], strmap_get(&ours, theirs[i].key), left, applied, &found);
	/* the other side may merge our rows after we merged theirs and then
	 * see no difference: every member lists what any member found */
	found_send(c, &found);
	*conflicts = found.n / 2;
	free(found.pairs);
	strmap_free(&ours, NULL);
	json_decref(all);
	free(theirs);
	return 0;
}

/* ---- rounds (apply thread) ---- */

static uint64_t view_hash(const struct cl_event *ev)
{
	uint64_t pairs[CPG_MEMBERS_MAX], h = 1469598103934665603ULL;
	for (size_t i = 0; i < ev->nview; i++)
		pairs[i] = (uint64_t)ev->view_nodes[i] << 32 | ev->view_pids[i];
	for (size_t i = 1; i < ev->nview; i++) /* insertion sort: at most 128 */
		for (size_t k = i; k > 0 && pairs[k - 1] > pairs[k]; k--) {
			uint64_t t = pairs[k];
			pairs[k] = pairs[k - 1];
			pairs[k - 1] = t;
		}
	for (size_t i = 0; i < ev->nview; i++)
		for (int b = 0; b < 8; b++)
			h = (h ^ ((pairs[i] >> (8 * b)) & 0xff)) * 1099511628211ULL;
	return h ? h : 1;
}

static struct round_peer *round_find(struct cluster *c, uint32_t nodeid)
{
	for (size_t i = 0; i < c->nround; i++)
		if (c->round[i].nodeid == nodeid)
			return &c->round[i];
	return NULL;
}

static uint64_t now_hlc(struct cluster *c)
{
	return hlc_tick(c->dig.maxhlc, time_now_ms());
}

/* Marks members that left the view (mu held). */
static void mark_left(struct cluster *c, const struct cl_event *ev, int64_t now)
{
	for (size_t i = 0; i < c->nround; i++) {
		uint32_t id = c->round[i].nodeid;
		int still = 0;
		for (size_t k = 0; k < ev->nview; k++)
			still |= ev->view_nodes[k] == id;
		if (still || id == c->loc.nodeid)
			continue;
		if (sync_left_get(&c->loc, id) == UINT64_MAX)
			sync_left_set(&c->loc, id, now_hlc(c));
		for (size_t m = 0; m < c->nmembers; m++)
			if (c->members[m].nodeid == id)
				c->members[m].last_seen_ms = now;
	}
}

void sync_on_confchg(struct cluster *c, const struct cl_event *ev)
{
	struct msg_sync s;
	struct err e;
	int64_t now = time_now_ms();
	pthread_mutex_lock(&c->mu);
	mark_left(c, ev, now);
	c->view = view_hash(ev);
	c->synced = 0;
	c->nround = 0;
	int me_in = 0;
	for (size_t i = 0; i < ev->nview; i++) {
		if (round_find(c, ev->view_nodes[i]))
			continue; /* one process per node */
		struct round_peer *r = &c->round[c->nround++];
		memset(r, 0, sizeof *r);
		r->nodeid = ev->view_nodes[i];
		r->seen_ms = now;
		r->left_hlc = sync_left_get(&c->loc, r->nodeid);
		me_in |= r->nodeid == c->loc.nodeid;
	}
	int joining = c->loc.join_pending;
	uint64_t view = c->view;
	size_t n = c->nround;
	pthread_mutex_unlock(&c->mu);
	local_save(c, NULL);
	log_info("cluster: view %016" PRIx64 " with %zu member(s)%s", view, n,
		 joining ? " (this node is joining)" : "");
	if (!me_in)
		return;
	sync_digest(c, &s);
	s.view = view;
	s.flags = joining ? SYNC_JOINING : 0;
	if (cpg_send_sync(c, MSG_DIGEST, &s, &e) < 0)
		log_warn("cluster: cannot send the digest: %s", e.msg);
}

/* Every digest of the view is in: decide what to pull (mu held). Returns
 * 1 when there is nothing to pull (send DONE now). */
static int round_plan(struct cluster *c)
{
	struct round_peer *me = round_find(c, c->loc.nodeid);
	if (!me || !me->have_digest || c->loc.join_pending)
		return 0;
	c->npull = 0;
	for (size_t i = 0; i < c->nround; i++) {
		struct round_peer *r = &c->round[i];
		if (!r->have_digest)
			return 0;
		if (r != me && !r->joining && memcmp(r->last.digest, me->last.digest, 32) != 0)
			c->pull_from[c->npull++] = r->nodeid;
	}
	if (c->npull == 0)
		return 1;
	c->pull_view = c->view;
	c->pull_done = 1;
	c->tasks |= TASK_PULL;
	pthread_cond_broadcast(&c->cv);
	return 0;
}

/* All DONE: every peer of the view is known to hold what we hold. */
static void round_complete(struct cluster *c)
{
	for (size_t i = 0; i < c->nround; i++)
		if (c->round[i].nodeid != c->loc.nodeid)
			sync_left_set(&c->loc, c->round[i].nodeid, UINT64_MAX);
}

static void on_status(struct cluster *c, struct round_peer *r)
{
	struct round_peer *me = round_find(c, c->loc.nodeid);
	if (!me || r == me || !r->done || !c->synced || c->loc.join_pending ||
	    (c->tasks & TASK_PULL))
		return;
	if (r->last.maxhlc == c->dig.maxhlc && memcmp(r->last.digest, c->dig.digest, 32) != 0)
		r->mismatch++;
	else
		r->mismatch = 0;
	if (r->mismatch < 2)
		return;
	log_warn("cluster: node %u holds other rows at the same version: pulling them", r->nodeid);
	r->mismatch = 0;
	c->pull_from[0] = r->nodeid;
	c->npull = 1;
	c->pull_view = c->view;
	c->pull_done = 0;
	c->tasks |= TASK_PULL;
	pthread_cond_broadcast(&c->cv);
}

void sync_on_msg(struct cluster *c, const struct msg *m)
{
	int send_done = 0, complete = 0;
	pthread_mutex_lock(&c->mu);
	struct round_peer *r = round_find(c, m->origin);
	if (!r || (m->type != MSG_STATUS && m->sync.view != c->view)) {
		pthread_mutex_unlock(&c->mu);
		return; /* not in our view, or a round that is over */
	}
	r->seen_ms = time_now_ms();
	r->last = m->sync;
	if (m->type == MSG_DIGEST) {
		r->have_digest = 1;
		r->joining = (m->sync.flags & SYNC_JOINING) != 0;
		send_done = round_plan(c);
	} else if (m->type == MSG_DONE) {
		r->done = 1;
		r->joining = 0;
		if (m->origin == c->loc.nodeid)
			c->synced = 1;
		complete = 1;
		for (size_t i = 0; i < c->nround; i++)
			complete &= c->round[i].done;
		if (complete)
			round_complete(c);
	} else {
		on_status(c, r);
	}
	uint64_t view = c->view;
	pthread_mutex_unlock(&c->mu);
	if (complete) {
		local_save(c, NULL);
		log_info("cluster: view %016" PRIx64 " synchronised", view);
	}
	if (send_done) {
		struct msg_sync s;
		struct err e;
		sync_digest(c, &s);
		s.view = view;
		if (cpg_send_sync(c, MSG_DONE, &s, &e) < 0)
			log_warn("cluster: cannot send DONE: %s", e.msg);
	}
}

/* ---- pulling (task thread) ---- */

static int pull_one(struct cluster *c, uint32_t nodeid, struct err *e)
{
	char host[64], target[64];
	int port = 0;
	pthread_mutex_lock(&c->mu);
	host[0] = '\0';
	for (size_t i = 0; i < c->nmembers; i++)
		if (c->members[i].nodeid == nodeid) {
			snprintf(host, sizeof host, "%s", c->members[i].addr);
			port = c->members[i].port;
		}
	pthread_mutex_unlock(&c->mu);
	if (!host[0])
		return err_set(e, "node %u has no known address", nodeid);
	json_t *reply = NULL;
	snprintf(target, sizeof target, "/peer/v1/rows");
	int st = peer_call(c, host, port, "GET", target, NULL, PULL_TIMEOUT_MS, &reply, e);
	if (st != 200) {
		json_decref(reply);
		return st ? err_set(e, "node %u answered %d", nodeid, st) : -1;
	}
	size_t applied, conflicts;
	int rc = sync_merge_rows(c, nodeid, json_object_get(reply, "rows"), &applied, &conflicts, e);
	json_decref(reply);
	if (rc == 0)
		log_info("cluster: pulled from node %u: %zu row(s) applied, %zu conflict(s)", nodeid,
			 applied, conflicts);
	return rc;
}

void sync_pull(struct cluster *c)
{
	uint32_t from[CPG_MEMBERS_MAX];
	struct err e;
	pthread_mutex_lock(&c->mu);
	size_t n = c->npull;
	memcpy(from, c->pull_from, n * sizeof *from);
	uint64_t view = c->pull_view;
	int done = c->pull_done;
	pthread_mutex_unlock(&c->mu);
	int failed = 0;
	for (size_t i = 0; i < n; i++) {
		for (int attempt = 0; attempt < 3; attempt++) {
			if (pull_one(c, from[i], &e) == 0)
				break;
			log_warn("cluster: pull from node %u failed: %s", from[i], e.msg);
			if (attempt == 2)
				failed = 1;
			else
				sleep(1);
		}
	}
	pthread_mutex_lock(&c->mu);
	int current = c->view == view;
	pthread_mutex_unlock(&c->mu);
	if (failed || !done || !current)
		return; /* stays "syncing"; the next view or STATUS round tries again */
	struct msg_sync s;
	sync_digest(c, &s);
	s.view = view;
	if (cpg_send_sync(c, MSG_DONE, &s, &e) < 0)
		log_warn("cluster: cannot send DONE: %s", e.msg);
}

/* The joiner installed its snapshot: the CHANGEs held meanwhile go first. */
int sync_release_held(struct cluster *c)
{
	pthread_mutex_lock(&c->mu);
	if (c->held_head) {
		c->held_tail->next = c->q_head;
		c->q_head = c->held_head;
		if (!c->q_tail)
			c->q_tail = c->held_tail;
		for (struct cl_event *ev = c->held_head; ev != c->held_tail->next; ev = ev->next)
			c->q_len++;
	}
	c->held_head = c->held_tail = NULL;
	c->loc.join_pending = 0;
	pthread_cond_broadcast(&c->cv);
	pthread_mutex_unlock(&c->mu);
	return 0;
}
