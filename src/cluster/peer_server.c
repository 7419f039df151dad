/* The server side of the peer channel: /peer/v1/... on the HTTPS
 * listener, outside the web sessions. http.c hands such a request to
 * peer_http_handle (loop thread); authentication and the handler run on
 * the worker pool; the reply is signed so the caller can trust it.
 * Without a valid signature a request gets an error and nothing else. */
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/http.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "cluster/cluster_int.h"
#include "cluster/peer.h"
#include "node.h"
#include "util/log.h"
#include "util/net.h"
#include "util/pool.h"
#include "util/timeutil.h"

#define PEER_MAX_BODY (1u << 20)
#define ROWS_WAIT_MS 15000

struct peer_job {
	struct evhttp_request *req; /* NULL when the client went away */
	struct cluster *c;
	char method[8];
	char target[1024];          /* the request-target as sent (signed) */
	char path[256];             /* below /peer/v1 */
	char query[512];
	char node[16], time[32], nonce[48], auth[80];
	char *body;
	size_t blen;
	char peer_ip[64], local_ip[64];
	int status;
	int authed;
	char *reply;
	unsigned char key[KEYS_PEER_SIZE];
};

/* ---- handlers (worker thread) ---- */

static json_t *errj(int *status, int code, const char *msg)
{
	*status = code;
	return json_pack("{s:s}", "error", msg);
}

static json_t *h_join(struct peer_job *j, json_t *body, int *status)
{
	const char *phase = json_string_value(json_object_get(body, "phase"));
	if (phase && strcmp(phase, "check") == 0)
		return join_handle_check(j->c, body, j->peer_ip, j->local_ip, status);
	if (phase && strcmp(phase, "commit") == 0)
		return join_handle_commit(j->c, body, j->peer_ip, j->local_ip, status);
	return errj(status, 400, "phase must be check or commit");
}

static json_t *h_resolve(struct peer_job *j, json_t *body, int *status)
{
	char addr[64];
	struct err e;
	const char *name = json_string_value(json_object_get(body, "name"));
	if (!name)
		return errj(status, 400, "name is required");
	if (cluster_resolve(j->c->node, name, addr, sizeof addr, &e) < 0)
		return errj(status, 404, e.msg);
	return json_pack("{s:s}", "address", addr);
}

/* Waits until the apply thread has seen `node` in the CPG view: every
 * change delivered before it joined is then applied here. */
static int wait_in_view(struct cluster *c, uint32_t node)
{
	int64_t until = time_mono_us() + ROWS_WAIT_MS * 1000LL;
	pthread_mutex_lock(&c->mu);
	for (;;) {
		int in = 0;
		for (size_t i = 0; i < c->nround; i++)
			in |= c->round[i].nodeid == node;
		if (in || c->stopping || time_mono_us() > until) {
			pthread_mutex_unlock(&c->mu);
			return in ? 0 : -1;
		}
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 50 * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&c->cv, &c->mu, &ts);
	}
}

static json_t *h_rows(struct peer_job *j, json_t *body, int *status)
{
	(void)body;
	const char *p = strstr(j->query, "for=");
	uint32_t node = p ? (uint32_t)strtoul(p + 4, NULL, 10) : 0;
	if (node && wait_in_view(j->c, node) < 0)
		return errj(status, 503, "the joining node is not in this member's view yet");
	pthread_mutex_lock(&j->c->mu);
	uint32_t me = j->c->loc.nodeid;
	pthread_mutex_unlock(&j->c->mu);
	return json_pack("{s:I,s:o}", "nodeid", (json_int_t)me, "rows", sync_rows_json(j->c));
}

static json_t *h_members(struct peer_job *j, json_t *body, int *status)
{
	(void)body;
	(void)status;
	json_t *arr = json_array();
	pthread_mutex_lock(&j->c->mu);
	uint32_t me = j->c->loc.nodeid;
	if (!me || j->c->loc.join_pending || !j->c->nmembers) {
		pthread_mutex_unlock(&j->c->mu);
		json_decref(arr);
		return errj(status, 503, "not a settled member");
	}
	for (size_t i = 0; i < j->c->nmembers; i++) {
		json_t *m = member_record_json(&j->c->members[i]);
		json_object_set_new(m, "nodeid", json_integer(j->c->members[i].nodeid));
		json_array_append_new(arr, m);
	}
	pthread_mutex_unlock(&j->c->mu);
	return json_pack("{s:I,s:o}", "nodeid", (json_int_t)me, "members", arr);
}

static const struct {
	const char *method, *path;
	json_t *(*fn)(struct peer_job *j, json_t *body, int *status);
} peer_routes[] = {
	{"POST", "/join", h_join},
	{"POST", "/resolve", h_resolve},
	{"GET", "/rows", h_rows},
	{"GET", "/members", h_members},
};

/* ---- authentication and dispatch ---- */

static json_t *authenticate(struct peer_job *j, int *status)
{
	struct cluster *c = j->c;
	char name[CLUSTER_NAME_MAX + 40], want[PEER_MAC_HEX + 1];
	struct err e;
	pthread_mutex_lock(&c->mu);
	int have = c->loc.secret[0] != '\0';
	memcpy(j->key, c->peer_key, sizeof j->key);
	snprintf(name, sizeof name, "%s", c->loc.hostname[0] ? c->loc.hostname : j->local_ip);
	pthread_mutex_unlock(&c->mu);
	if (!have) {
		char msg[400];
		snprintf(msg, sizeof msg,
			 "the Cluster Shared Secret is not set on %s: set it there first", name);
		json_t *r = errj(status, 403, msg);
		json_object_set_new(r, "code", json_string("secret_unset"));
		return r;
	}
	char *end;
	long long t = strtoll(j->time, &end, 10);
	uint32_t node = (uint32_t)strtoul(j->node, NULL, 10);
	if (!j->time[0] || *end || !j->auth[0]) {
		json_t *r = errj(status, 401, "peer request without authentication");
		json_object_set_new(r, "code", json_string("auth"));
		return r;
	}
	peer_mac_request(j->key, j->method, j->target, t, j->nonce, node, j->body, j->blen, want);
	if (!peer_mac_equal(j->auth, want)) {
		log_warn("cluster: peer request from %s failed authentication", j->peer_ip);
		json_t *r = errj(status, 401,
				 "authentication failed: the Cluster Shared Secret differs between "
				 "the two nodes");
		json_object_set_new(r, "code", json_string("auth"));
		return r;
	}
	if (peer_replay_check(c->replay, j->nonce, t, time_now_ms(), &e) < 0) {
		json_t *r = errj(status, 401, e.msg);
		json_object_set_new(r, "code", json_string("stale"));
		return r;
	}
	j->authed = 1;
	return NULL;
}

static void peer_work(void *ctx, void *arg)
{
	(void)ctx;
	struct peer_job *j = arg;
	int status = 200;
	json_t *reply = authenticate(j, &status);
	if (!reply) {
		json_error_t jerr;
		json_t *body = j->blen ? json_loadb(j->body, j->blen, JSON_REJECT_DUPLICATES, &jerr)
				       : json_object();
		reply = body && json_is_object(body) ? NULL : errj(&status, 400, "malformed JSON body");
		for (size_t i = 0; !reply && i < sizeof peer_routes / sizeof peer_routes[0]; i++)
			if (strcmp(peer_routes[i].method, j->method) == 0 &&
			    strcmp(peer_routes[i].path, j->path) == 0)
				reply = peer_routes[i].fn(j, body, &status);
		if (!reply)
			reply = errj(&status, 404, "no such peer endpoint");
		json_decref(body);
	}
	j->status = status;
	j->reply = json_dumps(reply, JSON_COMPACT);
	json_decref(reply);
}

static void peer_done(void *arg)
{
	struct peer_job *j = arg;
	if (j->req) {
		struct evhttp_connection *conn = evhttp_request_get_connection(j->req);
		struct evkeyvalq *h = evhttp_request_get_output_headers(j->req);
		const char *text = j->reply ? j->reply : "{}";
		evhttp_connection_set_closecb(conn, NULL, NULL);
		evhttp_add_header(h, "Content-Type", "application/json");
		evhttp_add_header(h, "Cache-Control", "no-store");
		if (j->authed) {
			char mac[PEER_MAC_HEX + 1];
			peer_mac_reply(j->key, j->nonce, j->status, text, strlen(text), mac);
			evhttp_add_header(h, "X-Rampart-Auth", mac);
		}
		struct evbuffer *out = evbuffer_new();
		evbuffer_add(out, text, strlen(text));
		evhttp_send_reply(j->req, j->status, NULL, out);
		evbuffer_free(out);
	}
	free(j->reply);
	free(j->body);
	free(j);
}

static void on_close(struct evhttp_connection *conn, void *arg)
{
	(void)conn;
	struct peer_job *j = arg;
	j->req = NULL;
}

static void header_copy(struct evhttp_request *req, const char *name, char *out, size_t len)
{
	const char *v = evhttp_find_header(evhttp_request_get_input_headers(req), name);
	snprintf(out, len, "%s", v ? v : "");
}

/* Addresses of the connection: the caller's and ours. */
static void conn_addrs(struct evhttp_request *req, struct peer_job *j)
{
	struct evhttp_connection *conn = evhttp_request_get_connection(req);
	char *host = NULL;
	ev_uint16_t port = 0;
	evhttp_connection_get_peer(conn, &host, &port);
	snprintf(j->peer_ip, sizeof j->peer_ip, "%s", host ? host : "");
	struct bufferevent *bev = evhttp_connection_get_bufferevent(conn);
	struct sockaddr_storage ss;
	socklen_t sl = sizeof ss;
	int fd = bev ? bufferevent_getfd(bev) : -1;
	if (fd >= 0 && getsockname(fd, (struct sockaddr *)&ss, &sl) == 0)
		net_addr_text((struct sockaddr *)&ss, j->local_ip, sizeof j->local_ip);
	/* v4-mapped addresses of a dual-stack listener read as plain IPv4 */
	if (strncmp(j->local_ip, "::ffff:", 7) == 0)
		memmove(j->local_ip, j->local_ip + 7, strlen(j->local_ip + 7) + 1);
	if (strncmp(j->peer_ip, "::ffff:", 7) == 0)
		memmove(j->peer_ip, j->peer_ip + 7, strlen(j->peer_ip + 7) + 1);
}

static void send_plain_error(struct evhttp_request *req, int status, const char *msg)
{
	struct evbuffer *out = evbuffer_new();
	json_t *j = json_pack("{s:s}", "error", msg);
	char *text = json_dumps(j, JSON_COMPACT);
	evbuffer_add(out, text ? text : "{}", text ? strlen(text) : 2);
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "application/json");
	evhttp_send_reply(req, status, NULL, out);
	evbuffer_free(out);
	free(text);
	json_decref(j);
}

void peer_http_handle(struct node *n, struct evhttp_request *req, const char *path)
{
	struct cluster *c = n->cluster;
	enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	size_t len = evbuffer_get_length(in);
	if (!c)
		return send_plain_error(req, 404, "clustering is not available on this node");
	if (cmd != EVHTTP_REQ_GET && cmd != EVHTTP_REQ_POST)
		return send_plain_error(req, 405, "method not allowed");
	if (len > PEER_MAX_BODY || strlen(path) < 8 || strlen(path) - 8 >= 256)
		return send_plain_error(req, 413, "request too large");
	struct peer_job *j = calloc(1, sizeof *j);
	if (!j || !(j->body = malloc(len + 1))) {
		free(j);
		return send_plain_error(req, 503, "out of memory");
	}
	j->req = req;
	j->c = c;
	snprintf(j->method, sizeof j->method, "%s", cmd == EVHTTP_REQ_GET ? "GET" : "POST");
	snprintf(j->target, sizeof j->target, "%s", evhttp_request_get_uri(req));
	snprintf(j->path, sizeof j->path, "%s", path + 8); /* after "/peer/v1" */
	const char *q = evhttp_uri_get_query(evhttp_request_get_evhttp_uri(req));
	snprintf(j->query, sizeof j->query, "%s", q ? q : "");
	header_copy(req, "X-Rampart-Node", j->node, sizeof j->node);
	header_copy(req, "X-Rampart-Time", j->time, sizeof j->time);
	header_copy(req, "X-Rampart-Nonce", j->nonce, sizeof j->nonce);
	header_copy(req, "X-Rampart-Auth", j->auth, sizeof j->auth);
	evbuffer_remove(in, j->body, len);
	j->body[len] = '\0';
	j->blen = len;
	conn_addrs(req, j);
	evhttp_connection_set_closecb(evhttp_request_get_connection(req), on_close, j);
	pool_submit(n->pool, peer_work, peer_done, j);
}
