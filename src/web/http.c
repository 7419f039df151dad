/* evhttp servers: HTTPS (TLS on every connection) and the local unix
 * socket for the CLI. Requests under /api/v1 are dispatched to the route
 * table of api.c; their handlers run on the worker pool and the reply is
 * sent from the loop. */
#include <event2/buffer.h>
#include <event2/bufferevent_ssl.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>
#include <stdarg.h>
#include <sys/queue.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "filter/pipeline.h"
#include "node.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/metrics.h"
#include "util/net.h"
#include "util/pool.h"
#include "web/api.h"
#include "web/web.h"

#define API_MAX_BODY (1u << 20)
#define API_MAX_HEADERS (32u << 10)

struct web {
	struct node *node;
	struct evhttp *https;
	struct evhttp *local;
};

struct api_job {
	struct evhttp_request *req;  /* NULL when the client went away */
	struct api_call call;
	const struct api_route *route;
	struct evkeyvalq query;
};

static void security_headers(struct evhttp_request *req)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);
	evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
	evhttp_add_header(h, "X-Frame-Options", "DENY");
	evhttp_add_header(h, "Referrer-Policy", "no-referrer");
	evhttp_add_header(h, "Cache-Control", "no-store");
	evhttp_add_header(h, "Content-Security-Policy",
			  "default-src 'self'; frame-ancestors 'none'; object-src 'none'");
	evhttp_add_header(h, "Strict-Transport-Security", "max-age=31536000");
}

static void send_json(struct evhttp_request *req, int status, json_t *body)
{
	struct evbuffer *out = evbuffer_new();
	char *text = json_dumps(body ? body : json_object(), JSON_COMPACT);
	evbuffer_add_printf(out, "%s\n", text ? text : "{}");
	free(text);
	security_headers(req);
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
			  "application/json; charset=utf-8");
	evhttp_send_reply(req, status, NULL, out);
	evbuffer_free(out);
}

static void send_error(struct evhttp_request *req, int status, const char *msg)
{
	json_t *j = json_pack("{s:s}", "error", msg);
	send_json(req, status, j);
	json_decref(j);
}

void api_error(struct api_call *c, int status, const char *field, const char *fmt, ...)
{
	char msg[600];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	json_decref(c->resp);
	c->status = status;
	c->resp = json_pack("{s:s}", "error", msg);
	if (field)
		json_object_set_new(c->resp, "field", json_string(field));
}

const char *api_query(struct api_call *c, const char *key)
{
	return c->query ? evhttp_find_header(c->query, key) : NULL;
}

static void job_finish(struct api_job *j)
{
	if (j->req) {
		evhttp_connection_set_closecb(evhttp_request_get_connection(j->req), NULL, NULL);
		send_json(j->req, j->call.status ? j->call.status : 200, j->call.resp);
	}
	json_decref(j->call.resp);
	json_decref(j->call.body);
	evhttp_clear_headers(&j->query);
	free(j);
}

static void job_work(void *ctx, void *arg)
{
	struct api_job *j = arg;
	j->call.db = filter_thread_db(ctx);
	j->route->fn(&j->call);
}

static void job_done(void *arg)
{
	job_finish(arg);
}

static void on_conn_close(struct evhttp_connection *conn, void *arg)
{
	(void)conn;
	struct api_job *j = arg;
	j->req = NULL;
}

static const char *method_name(enum evhttp_cmd_type t)
{
	switch (t) {
	case EVHTTP_REQ_GET: return "GET";
	case EVHTTP_REQ_POST: return "POST";
	case EVHTTP_REQ_PUT: return "PUT";
	case EVHTTP_REQ_DELETE: return "DELETE";
	case EVHTTP_REQ_PATCH: return "PATCH";
	default: return "OTHER";
	}
}

static int parse_body(struct evhttp_request *req, json_t **out)
{
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	size_t len = evbuffer_get_length(in);
	*out = NULL;
	if (len == 0)
		return 0;
	char *text = malloc(len + 1);
	evbuffer_remove(in, text, len);
	text[len] = '\0';
	json_error_t jerr;
	*out = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);
	free(text);
	return *out ? 0 : -1;
}

static void api_dispatch(struct web *w, struct evhttp_request *req, const char *path, int trusted)
{
	const char *method = method_name(evhttp_request_get_command(req));
	const char *param = NULL;
	int path_known = 0;
	const struct api_route *route = api_find_route(method, path, &param, &path_known);
	if (!route) {
		send_error(req, path_known ? 405 : 404,
			   path_known ? "method not allowed" : "no such API endpoint");
		return;
	}
	struct api_job *j = calloc(1, sizeof *j);
	j->req = req;
	j->route = route;
	j->call.node = w->node;
	j->call.method = route->method;
	j->call.trusted = trusted;
	snprintf(j->call.path, sizeof j->call.path, "%s", path);
	j->call.param = param ? j->call.path + (param - path) : NULL;
	TAILQ_INIT(&j->query);
	const char *q = evhttp_uri_get_query(evhttp_request_get_evhttp_uri(req));
	if (q && evhttp_parse_query_str(q, &j->query) < 0) {
		free(j);
		send_error(req, 400, "malformed query string");
		return;
	}
	j->call.query = &j->query;
	if (parse_body(req, &j->call.body) < 0) {
		evhttp_clear_headers(&j->query);
		free(j);
		send_error(req, 400, "malformed JSON body");
		return;
	}
	if (route->on_loop) {
		route->fn(&j->call);
		job_finish(j);
		return;
	}
	evhttp_connection_set_closecb(evhttp_request_get_connection(req), on_conn_close, j);
	pool_submit(w->node->pool, job_work, job_done, j);
}

static void serve_metrics(struct evhttp_request *req)
{
	struct buf b;
	buf_init(&b, 1 << 20);
	metrics_render(&b);
	struct evbuffer *out = evbuffer_new();
	evbuffer_add(out, b.data ? b.data : "", b.len);
	buf_free(&b);
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
			  "text/plain; version=0.0.4");
	security_headers(req);
	evhttp_send_reply(req, 200, "OK", out);
	evbuffer_free(out);
}

static void handle(struct web *w, struct evhttp_request *req, int trusted)
{
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *raw = evhttp_uri_get_path(uri);
	size_t plen = 1;
	char *path = raw ? evhttp_uridecode(raw, 0, &plen) : strdup("/");
	/* %00 would cut the path short: refuse instead of guessing */
	if (!path || plen >= 1000 || strlen(path) != plen) {
		send_error(req, 400, "bad path");
		free(path);
		return;
	}
	if (strcmp(path, "/metrics") == 0 && evhttp_request_get_command(req) == EVHTTP_REQ_GET)
		serve_metrics(req);
	else if (strncmp(path, "/api/v1/", 8) == 0 && trusted)
		api_dispatch(w, req, path + 7, trusted);
	else if (strncmp(path, "/api/", 5) == 0)
		send_error(req, 401, "authentication required");
	else
		send_error(req, 404, "not found");
	free(path);
}

static void on_https(struct evhttp_request *req, void *arg)
{
	handle(arg, req, 0);
}

static void on_local(struct evhttp_request *req, void *arg)
{
	handle(arg, req, 1);
}

static struct bufferevent *tls_bev(struct event_base *base, void *arg)
{
	struct web *w = arg;
	return bufferevent_openssl_socket_new(base, -1, SSL_new(w->node->tls_server),
					      BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
}

static struct evhttp *http_new(struct web *w, void (*cb)(struct evhttp_request *, void *))
{
	struct evhttp *h = evhttp_new(w->node->base);
	evhttp_set_gencb(h, cb, w);
	evhttp_set_max_body_size(h, API_MAX_BODY);
	evhttp_set_max_headers_size(h, API_MAX_HEADERS);
	evhttp_set_timeout(h, 60);
	evhttp_set_allowed_methods(h, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_PUT |
					      EVHTTP_REQ_DELETE | EVHTTP_REQ_HEAD);
	return h;
}

struct web *web_new(struct node *n, struct err *e)
{
	(void)e;
	struct web *w = calloc(1, sizeof *w);
	w->node = n;
	return w;
}

static int bind_fd(struct web *w, struct evhttp *h, int fd, const char *what, struct err *e)
{
	struct evconnlistener *l =
		evconnlistener_new(w->node->base, NULL, NULL, LEV_OPT_CLOSE_ON_FREE, -1, fd);
	if (!l || !evhttp_bind_listener(h, l)) {
		if (l)
			evconnlistener_free(l);
		else
			close(fd);
		return err_set(e, "cannot serve HTTP on %s", what);
	}
	return 0;
}

int web_listen_https(struct web *w, const char *hostport, struct err *e)
{
	if (!w->https) {
		w->https = http_new(w, on_https);
		evhttp_set_bevcb(w->https, tls_bev, w);
	}
	int fd = net_listen_tcp(hostport, 128, e);
	if (fd < 0 || bind_fd(w, w->https, fd, hostport, e) < 0)
		return -1;
	log_info("web: listening on https://%s/", hostport);
	return 0;
}

int web_listen_local(struct web *w, const char *path, struct err *e)
{
	if (!w->local)
		w->local = http_new(w, on_local);
	int fd = net_listen_unix(path, 0600, e);
	if (fd < 0 || bind_fd(w, w->local, fd, path, e) < 0)
		return -1;
	log_info("web: control socket %s", path);
	return 0;
}

void web_free(struct web *w)
{
	if (!w)
		return;
	if (w->https)
		evhttp_free(w->https);
	if (w->local)
		evhttp_free(w->local);
	free(w);
}
