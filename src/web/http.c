/* evhttp servers: HTTPS (TLS on every connection) and the local unix
 * socket for the CLI. Requests under /api/v1 are dispatched to the route
 * tables (api*.c); everything that touches SQLite or files — the
 * authentication of the caller, the handlers, static files — runs on the
 * worker pool, and the reply is sent from the loop. */
#include <event2/buffer.h>
#include <event2/bufferevent_ssl.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>
#include <unistd.h>

#include "cluster/peer.h"
#include "filter/pipeline.h"
#include "node.h"
#include "store/config.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/metrics.h"
#include "util/net.h"
#include "util/pool.h"
#include "web/api.h"
#include "web/auth.h"
#include "web/web.h"
#include "web/web_int.h"

#define API_MAX_HEADERS (32u << 10)
#define LOCAL_MAX_BODY (256u << 20)

static const char csp_default[] =
	"default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; object-src 'none'; "
	"base-uri 'none'; form-action 'self'";

struct api_job {
	struct evhttp_request *req;  /* NULL when the client went away */
	struct api_call call;
	const struct api_route *route;
	struct evkeyvalq query;
	char *cookie;                /* copies of the request headers the worker needs */
	char *bearer;
	char *csrf;
	int authorized;
};

static void security_headers(struct evhttp_request *req, const char *csp)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);
	evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
	/* a CSP override is the message preview, framed by the UI itself */
	evhttp_add_header(h, "X-Frame-Options", csp ? "SAMEORIGIN" : "DENY");
	evhttp_add_header(h, "Referrer-Policy", "no-referrer");
	evhttp_add_header(h, "Cache-Control", "no-store");
	evhttp_add_header(h, "Content-Security-Policy", csp ? csp : csp_default);
	evhttp_add_header(h, "Strict-Transport-Security", "max-age=31536000");
	evhttp_add_header(h, "Cross-Origin-Opener-Policy", "same-origin");
	evhttp_add_header(h, "Cross-Origin-Resource-Policy", "same-origin");
}

static void send_json(struct evhttp_request *req, int status, json_t *body)
{
	struct evbuffer *out = evbuffer_new();
	char *text = json_dumps(body ? body : json_object(), JSON_COMPACT);
	evbuffer_add_printf(out, "%s\n", text ? text : "{}");
	free(text);
	security_headers(req, NULL);
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

static void send_call(struct evhttp_request *req, struct api_call *c)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);
	int status = c->status ? c->status : 200;
	char num[32];
	if (c->set_cookie[0])
		evhttp_add_header(h, "Set-Cookie", c->set_cookie);
	if (c->location[0])
		evhttp_add_header(h, "Location", c->location);
	if (c->disposition[0])
		evhttp_add_header(h, "Content-Disposition", c->disposition);
	if (c->retry_after > 0) {
		snprintf(num, sizeof num, "%d", c->retry_after);
		evhttp_add_header(h, "Retry-After", num);
	}
	if (!c->out_type) {
		send_json(req, status, c->resp);
		return;
	}
	struct evbuffer *out = evbuffer_new();
	evbuffer_add(out, c->out.data ? c->out.data : "", c->out.len);
	security_headers(req, c->out_csp);
	evhttp_add_header(h, "Content-Type", c->out_type);
	evhttp_send_reply(req, status, NULL, out);
	evbuffer_free(out);
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
	c->out_type = NULL;
	c->resp = json_pack("{s:s}", "error", msg);
	if (field)
		json_object_set_new(c->resp, "field", json_string(field));
}

void api_raw(struct api_call *c, int status, const char *type, const char *data, size_t len)
{
	buf_free(&c->out);
	buf_init(&c->out, (size_t)1 << 30);
	if (len)
		buf_append(&c->out, data, len);
	c->status = status;
	c->out_type = type;
}

const char *api_query(struct api_call *c, const char *key)
{
	return c->query ? evhttp_find_header(c->query, key) : NULL;
}

static void job_free(struct api_job *j)
{
	json_decref(j->call.resp);
	json_decref(j->call.body);
	buf_free(&j->call.out);
	evhttp_clear_headers(&j->query);
	free((char *)j->call.raw_body);
	free(j->cookie);
	free(j->bearer);
	free(j->csrf);
	free(j);
}

static void job_finish(struct api_job *j)
{
	if (j->req) {
		evhttp_connection_set_closecb(evhttp_request_get_connection(j->req), NULL, NULL);
		send_call(j->req, &j->call);
	}
	job_free(j);
}

static void job_work(void *ctx, void *arg)
{
	struct api_job *j = arg;
	j->call.db = filter_thread_db(ctx);
	j->authorized = web_authorize(&j->call, j->route, j->cookie, j->bearer, j->csrf) == 0;
	if (j->authorized && !(j->route->on_loop & API_ON_LOOP))
		j->route->fn(&j->call);
	j->call.db = NULL;
}

static void job_done(void *arg)
{
	struct api_job *j = arg;
	if (j->authorized && (j->route->on_loop & API_ON_LOOP) && j->req)
		j->route->fn(&j->call);
	job_finish(j);
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
	case EVHTTP_REQ_HEAD: return "GET"; /* evhttp drops the body of a HEAD reply */
	case EVHTTP_REQ_POST: return "POST";
	case EVHTTP_REQ_PUT: return "PUT";
	case EVHTTP_REQ_DELETE: return "DELETE";
	case EVHTTP_REQ_PATCH: return "PATCH";
	default: return "OTHER";
	}
}

/* The body: parsed JSON, or kept raw for API_RAW_BODY routes. -1 with
 * the reply sent when it is too large or not a JSON object. */
static int take_body(struct evhttp_request *req, struct api_job *j, int trusted)
{
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	size_t len = evbuffer_get_length(in);
	size_t max = trusted ? LOCAL_MAX_BODY
		     : (j->route->on_loop & API_BIG_BODY) ? API_MAX_BIG_BODY
							: API_MAX_BODY;
	if (len > max) {
		send_error(req, 413, "request body too large");
		return -1;
	}
	/* an HTML form cannot send application/json across sites without a
	 * CORS preflight (which we never grant): no cross-site posts, login
	 * included */
	const char *ct = evhttp_find_header(evhttp_request_get_input_headers(req), "Content-Type");
	if (len && !trusted && !(j->route->on_loop & API_RAW_BODY) &&
	    (!ct || strncasecmp(ct, "application/json", 16) != 0)) {
		send_error(req, 415, "Content-Type must be application/json");
		return -1;
	}
	char *text = malloc(len + 1);
	if (!text) {
		send_error(req, 503, "out of memory");
		return -1;
	}
	evbuffer_remove(in, text, len);
	text[len] = '\0';
	if (j->route->on_loop & API_RAW_BODY) {
		j->call.raw_body = text;
		j->call.raw_len = len;
		return 0;
	}
	json_error_t jerr;
	/* an empty body is the empty object */
	j->call.body = len ? json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr) : NULL;
	free(text);
	if (len && !j->call.body) {
		char msg[300];
		snprintf(msg, sizeof msg, "malformed JSON body: %s (line %d)", jerr.text, jerr.line);
		send_error(req, 400, msg);
		return -1;
	}
	if (j->call.body && !json_is_object(j->call.body)) {
		send_error(req, 400, "the JSON body must be an object");
		return -1;
	}
	return 0;
}

static char *header_dup(struct evhttp_request *req, const char *name)
{
	const char *v = evhttp_find_header(evhttp_request_get_input_headers(req), name);
	return v ? strndup(v, 8192) : NULL;
}

/* The value of cookie `name` in a Cookie header, malloc'd, or NULL. */
static char *cookie_value(const char *header, const char *name)
{
	size_t nl = strlen(name);
	for (const char *p = header; p && *p;) {
		while (*p == ' ' || *p == ';')
			p++;
		size_t n = strcspn(p, ";");
		if (n > nl && strncmp(p, name, nl) == 0 && p[nl] == '=')
			return strndup(p + nl + 1, n - nl - 1);
		p += n;
	}
	return NULL;
}

/* Runs one route (API or internal: static files, the action page). */
static void dispatch_route(struct web *w, struct evhttp_request *req, const struct api_route *route,
			   const char *path, const char *param, int trusted)
{
	struct api_job *j = calloc(1, sizeof *j);
	if (!j) {
		send_error(req, 503, "out of memory");
		return;
	}
	TAILQ_INIT(&j->query);
	j->req = req;
	j->route = route;
	j->call.node = w->node;
	j->call.method = route->method;
	j->call.trusted = trusted;
	snprintf(j->call.path, sizeof j->call.path, "%s", path);
	j->call.param = param ? j->call.path + (param - path) : NULL;
	const char *q = evhttp_uri_get_query(evhttp_request_get_evhttp_uri(req));
	if (q && evhttp_parse_query_str(q, &j->query) < 0) {
		job_free(j);
		send_error(req, 400, "malformed query string");
		return;
	}
	j->call.query = &j->query;
	if (take_body(req, j, trusted) < 0) {
		job_free(j);
		return;
	}
	char *cookies = header_dup(req, "Cookie");
	j->cookie = cookies ? cookie_value(cookies, AUTH_COOKIE) : NULL;
	free(cookies);
	char *authz = header_dup(req, "Authorization");
	if (authz && strncmp(authz, "Bearer ", 7) == 0)
		j->bearer = strdup(authz + 7);
	free(authz);
	j->csrf = header_dup(req, "X-CSRF-Token");
	char *host = NULL;
	ev_uint16_t port = 0;
	evhttp_connection_get_peer(evhttp_request_get_connection(req), &host, &port);
	snprintf(j->call.client_ip, sizeof j->call.client_ip, "%s", trusted ? "local" : host ? host : "");
	evhttp_connection_set_closecb(evhttp_request_get_connection(req), on_conn_close, j);
	pool_submit(w->node->pool, job_work, job_done, j);
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
	dispatch_route(w, req, route, path, param, trusted);
}

/* Prometheus scrapes carry no credentials: the endpoint answers only the
 * address ranges of metrics_allowed_ips (loopback by default). */
static void serve_metrics(struct web *w, struct evhttp_request *req)
{
	char *host = NULL, list[4096];
	ev_uint16_t port = 0;
	evhttp_connection_get_peer(evhttp_request_get_connection(req), &host, &port);
	config_str(w->node->cfg, "metrics_allowed_ips", NULL, NULL, list, sizeof list);
	if (!web_ip_in_list(list, host ? host : "")) {
		send_error(req, 403, "metrics are not served to this address (metrics_allowed_ips)");
		return;
	}
	struct buf b;
	buf_init(&b, 1 << 20);
	metrics_render(&b);
	struct evbuffer *out = evbuffer_new();
	evbuffer_add(out, b.data ? b.data : "", b.len);
	buf_free(&b);
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
			  "text/plain; version=0.0.4");
	security_headers(req, NULL);
	evhttp_send_reply(req, 200, "OK", out);
	evbuffer_free(out);
}

static const struct api_route static_get = {"GET", "/", web_static_serve, API_PUBLIC};
static const struct api_route act_get = {"GET", "/act", web_act_page, API_PUBLIC | API_NO_CSRF};
static const struct api_route act_post = {"POST", "/act", web_act_page,
					  API_PUBLIC | API_NO_CSRF | API_RAW_BODY};

static void handle(struct web *w, struct evhttp_request *req, int trusted)
{
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *raw = uri ? evhttp_uri_get_path(uri) : NULL;
	size_t plen = 1;
	char *path = raw ? evhttp_uridecode(raw, 0, &plen) : strdup("/");
	enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
	int get = cmd == EVHTTP_REQ_GET || cmd == EVHTTP_REQ_HEAD;
	/* %00 would cut the path short: refuse instead of guessing */
	if (!path || plen >= 1000 || strlen(path) != plen || path[0] != '/') {
		send_error(req, 400, "bad path");
		free(path);
		return;
	}
	if (strcmp(path, "/metrics") == 0 && get)
		serve_metrics(w, req);
	else if (strncmp(path, "/api/v1/", 8) == 0)
		api_dispatch(w, req, path + 7, trusted);
	else if (strncmp(path, "/api/", 5) == 0)
		send_error(req, 404, "no such API endpoint (the API is under /api/v1/)");
	else if (strncmp(path, "/peer/v1/", 9) == 0 && !trusted)
		peer_http_handle(w->node, req, path); /* authenticated by its own HMAC */
	else if (strcmp(path, "/act") == 0 && (get || cmd == EVHTTP_REQ_POST))
		dispatch_route(w, req, get ? &act_get : &act_post, path, NULL, 0);
	else if (!trusted && get)
		dispatch_route(w, req, &static_get, path, NULL, 0);
	else
		send_error(req, get ? 404 : 405, get ? "not found" : "method not allowed");
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

static struct evhttp *http_new(struct web *w, void (*cb)(struct evhttp_request *, void *),
			       size_t max_body)
{
	struct evhttp *h = evhttp_new(w->node->base);
	evhttp_set_gencb(h, cb, w);
	/* the per-route limit (1 MiB, imports 16 MiB) is checked on dispatch */
	evhttp_set_max_body_size(h, (ev_ssize_t)max_body);
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
	auth_admin_ensure(n);
	web_housekeeping_start(w);
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
		w->https = http_new(w, on_https, API_MAX_BIG_BODY);
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
		w->local = http_new(w, on_local, LOCAL_MAX_BODY);
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
	web_housekeeping_stop(w);
	if (w->https)
		evhttp_free(w->https);
	if (w->local)
		evhttp_free(w->local);
	free(w);
}
