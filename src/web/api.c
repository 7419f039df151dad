/* API routes of the node: status, domains, settings, message log, queue.
 * Validation lives in the stores (settings table, domain rules); the
 * handlers translate their errors into {"error", "field"} replies. */
#include "web/api.h"

#include <event2/http.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>

#include "node.h"
#include "smtp/queue.h"
#include "smtp/server.h"
#include "store/config.h"
#include "store/msglog.h"
#include "store/users.h"
#include "util/buf.h"
#include "util/metrics.h"
#include "util/pool.h"
#include "util/timeutil.h"
#include "web/api_cluster.h"
#include "web/api_dnslists.h"
#include "web/api_lists.h"
#include "web/web_int.h"

static const char *body_str(struct api_call *c, const char *key)
{
	json_t *v = c->body ? json_object_get(c->body, key) : NULL;
	return json_is_string(v) ? json_string_value(v) : NULL;
}

int api_is_admin(const struct api_call *c)
{
	return c->trusted || c->role == API_ROLE_ADMIN;
}

int api_seg(const struct api_call *c, int n, char *out, size_t outlen)
{
	const char *p = c->path;
	for (int i = 0;; i++) {
		if (*p != '/')
			return -1;
		p++;
		size_t len = strcspn(p, "/");
		if (i == n) {
			if (len == 0 || len >= outlen)
				return -1;
			memcpy(out, p, len);
			out[len] = '\0';
			return 0;
		}
		p += len;
	}
}

int api_body_object(struct api_call *c)
{
	if (c->body && !json_is_object(c->body)) {
		api_error(c, 400, NULL, "the JSON body must be an object");
		return -1;
	}
	return 0;
}

int api_body_str(struct api_call *c, const char *key, int required, const char **out)
{
	json_t *v = c->body ? json_object_get(c->body, key) : NULL;
	*out = NULL;
	if (!v || json_is_null(v)) {
		if (required) {
			api_error(c, 400, key, "%s is required", key);
			return -1;
		}
		return 0;
	}
	if (!json_is_string(v)) {
		api_error(c, 400, key, "%s must be a string", key);
		return -1;
	}
	*out = json_string_value(v);
	return 1;
}

int api_body_bool(struct api_call *c, const char *key, int *out)
{
	json_t *v = c->body ? json_object_get(c->body, key) : NULL;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_boolean(v)) {
		api_error(c, 400, key, "%s must be true or false", key);
		return -1;
	}
	*out = json_is_true(v);
	return 1;
}

/* Mean of a histogram of /metrics, in ms (0 without samples). */
static double metric_mean_ms(const char *text, const char *name)
{
	char key[128];
	double sum = 0, count = 0;
	snprintf(key, sizeof key, "\n%s_sum ", name);
	const char *p = strstr(text, key);
	if (p)
		sum = strtod(p + strlen(key), NULL);
	snprintf(key, sizeof key, "\n%s_count ", name);
	p = strstr(text, key);
	if (p)
		count = strtod(p + strlen(key), NULL);
	return count > 0 ? sum / count * 1000.0 : 0;
}

static void api_status(struct api_call *c)
{
	struct node *n = c->node;
	struct statvfs vfs;
	double free_mb = -1, total_mb = -1;
	if (statvfs(n->boot.data_dir, &vfs) == 0) {
		free_mb = (double)vfs.f_bavail * (double)vfs.f_frsize / 1048576.0;
		total_mb = (double)vfs.f_blocks * (double)vfs.f_frsize / 1048576.0;
	}
	struct buf m;
	buf_init(&m, 1 << 20);
	metrics_render(&m);
	const char *mt = m.data ? m.data : "";
	c->resp = json_pack(
		"{s:s, s:s, s:I, s:i, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:f, s:f,"
		" s:i, s:I}",
		"hostname", n->boot.hostname, "version", "0.1.0", "uptime_seconds",
		(json_int_t)((time_now_ms() - n->started_ms) / 1000), "smtp_sessions",
		smtp_server_sessions(n->smtp), "queue_messages", (json_int_t)queue_size(n->queue),
		"queue_recipients", (json_int_t)metrics_gauge_get(G_QUEUE_RECIPIENTS),
		"messages_received", (json_int_t)metrics_get(M_MESSAGES_RECEIVED),
		"messages_allowed", (json_int_t)metrics_get(M_MESSAGES_ALLOW), "messages_tagged",
		(json_int_t)metrics_get(M_MESSAGES_TAG), "messages_quarantined",
		(json_int_t)metrics_get(M_MESSAGES_QUARANTINE), "messages_blocked",
		(json_int_t)metrics_get(M_MESSAGES_BLOCK), "delivered",
		(json_int_t)metrics_get(M_DELIVERY_SUCCESS), "deferred",
		(json_int_t)metrics_get(M_DELIVERY_DEFERRED), "bounced",
		(json_int_t)metrics_get(M_DELIVERY_FAILED), "config_version",
		(json_int_t)config_version(n->cfg), "data_free_mb", free_mb, "data_total_mb", total_mb,
		"draining", n->draining, "domains", (json_int_t)config_domain_count(n->cfg));
	char host[256];
	config_hostname(n->cfg, n->boot.hostname, host, sizeof host);
	json_object_set_new(c->resp, "default_hostname", json_string(host));
	json_object_set_new(c->resp, "scan_latency_ms",
			    json_pack("{s:f}", "avg", metric_mean_ms(mt, "rampart_scan_duration_seconds")));
	json_object_set_new(c->resp, "data_latency_ms",
			    json_pack("{s:f}", "avg", metric_mean_ms(mt, "rampart_data_duration_seconds")));
	buf_free(&m);
}

static void api_domains_list(struct api_call *c)
{
	c->resp = config_domain_list(c->node->cfg);
}

static void api_domain_add(struct api_call *c)
{
	const char *name = body_str(c, "name"), *dest = body_str(c, "destination");
	struct err e;
	if (!name)
		return api_error(c, 400, "name", "name is required (a domain name)");
	if (!dest)
		return api_error(c, 400, "destination", "destination is required (smtp:HOST:PORT or maildir:/path)");
	char norm[256];
	if (settings_domain_normalize(name, norm, sizeof norm, &e) < 0)
		return api_error(c, 400, "name", "%s", e.msg);
	if (config_domain_add(c->node->cfg, norm, dest, &e) < 0)
		return api_error(c, 400, "destination", "%s", e.msg);
	struct domain_info di;
	config_domain_get(c->node->cfg, norm, &di);
	c->status = 201;
	c->resp = json_pack("{s:s, s:s}", "name", di.name, "destination", di.destination);
}

static void api_domain_remove(struct api_call *c)
{
	struct err e;
	if (config_domain_remove(c->node->cfg, c->param, &e) < 0)
		return api_error(c, 404, "name", "%s", e.msg);
	c->resp = json_pack("{s:s}", "removed", c->param);
}

json_t *web_settings_json(struct config_store *cs, const char *scope)
{
	json_t *arr = config_settings_json(cs, scope), *it;
	char parent[400] = "";
	const char *at = scope ? strrchr(scope, '@') : NULL;
	if (!arr)
		return NULL;
	/* the value this scope falls back to when it sets none */
	if (scope && strncmp(scope, "user:", 5) == 0 && at)
		snprintf(parent, sizeof parent, "domain:%s", at + 1);
	else if (scope && (strncmp(scope, "domain:", 7) == 0 || strcmp(scope, "node") == 0))
		snprintf(parent, sizeof parent, "global");
	json_t *up = parent[0] ? config_settings_json(cs, parent) : NULL;
	size_t i;
	json_array_foreach(arr, i, it)
	{
		json_t *pv = up ? json_object_get(json_array_get(up, i), "value") : NULL;
		json_object_set(it, "inherited", pv ? pv : json_object_get(it, "default"));
	}
	json_decref(up);
	return arr;
}

static void api_config_all(struct api_call *c)
{
	const char *scope = api_query(c, "scope");
	c->resp = web_settings_json(c->node->cfg, scope);
	if (!c->resp)
		api_error(c, 400, "scope", "bad scope '%s'", scope ? scope : "");
}

static json_t *setting_entry(struct api_call *c, const char *name, const char *scope)
{
	json_t *all = web_settings_json(c->node->cfg, scope);
	json_t *found = NULL, *it;
	size_t i;
	json_array_foreach(all, i, it)
	{
		if (strcmp(json_string_value(json_object_get(it, "name")), name) == 0) {
			found = json_incref(it);
			break;
		}
	}
	json_decref(all);
	return found;
}

static void api_config_get(struct api_call *c)
{
	if (!settings_find(c->param))
		return api_error(c, 404, "name", "unknown setting '%s'", c->param);
	c->resp = setting_entry(c, c->param, api_query(c, "scope"));
	if (!c->resp)
		api_error(c, 400, "scope", "bad scope");
}

static void api_config_set(struct api_call *c)
{
	json_t *v = c->body ? json_object_get(c->body, "value") : NULL;
	const char *scope = body_str(c, "scope");
	char text[1024];
	struct err e;
	if (!settings_find(c->param))
		return api_error(c, 404, "name", "unknown setting '%s'", c->param);
	if (json_is_string(v))
		snprintf(text, sizeof text, "%s", json_string_value(v));
	else if (json_is_integer(v))
		snprintf(text, sizeof text, "%lld", (long long)json_integer_value(v));
	else if (json_is_real(v))
		snprintf(text, sizeof text, "%.17g", json_real_value(v));
	else if (json_is_boolean(v))
		snprintf(text, sizeof text, "%s", json_is_true(v) ? "true" : "false");
	else
		return api_error(c, 400, "value", "value is required (string, number or boolean)");
	/* no administrator locks themselves out over the web */
	if (!c->trusted && strcmp(c->param, "admin_allowed_ips") == 0 &&
	    !web_ip_in_list(text, c->client_ip))
		return api_error(c, 400, "value",
				 "admin_allowed_ips must include your own address %s (or change it "
				 "with the rampart CLI)", c->client_ip);
	if (config_set(c->node->cfg, c->param, scope, text, &e) < 0)
		return api_error(c, 400, "value", "%s", e.msg);
	c->resp = setting_entry(c, c->param, scope);
}

static void api_config_unset(struct api_call *c)
{
	struct err e;
	if (config_unset(c->node->cfg, c->param, api_query(c, "scope"), &e) < 0)
		return api_error(c, 400, "name", "%s", e.msg);
	c->resp = setting_entry(c, c->param, api_query(c, "scope"));
}

int api_query_int(struct api_call *c, const char *key, long long lo, long long hi,
		  long long *out)
{
	const char *v = api_query(c, key);
	if (!v)
		return 0;
	char *end;
	long long x = strtoll(v, &end, 10);
	if (!*v || *end || x < lo || x > hi) {
		api_error(c, 400, key, "%s must be an integer between %lld and %lld", key, lo, hi);
		return -1;
	}
	*out = x;
	return 1;
}

static void api_log(struct api_call *c)
{
	struct msglog_query q = {0};
	long long since = 0, until = 0, limit = 50, offset = 0;
	if (api_query_int(c, "since", 0, 1LL << 50, &since) < 0 ||
	    api_query_int(c, "until", 0, 1LL << 50, &until) < 0 ||
	    api_query_int(c, "limit", 1, 1000, &limit) < 0 ||
	    api_query_int(c, "offset", 0, 1LL << 40, &offset) < 0)
		return;
	q.since_ms = since;
	q.until_ms = until;
	q.limit = (int)limit;
	q.offset = (int)offset;
	q.sender = api_query(c, "sender");
	q.rcpt = api_query(c, "rcpt");
	q.subject = api_query(c, "subject");
	q.client_ip = api_query(c, "client_ip");
	q.action = api_query(c, "action");
	const char *ms = api_query(c, "min_score");
	if (ms) {
		char *end;
		q.min_score = strtod(ms, &end);
		if (!*ms || *end || !isfinite(q.min_score))
			return api_error(c, 400, "min_score", "min_score must be a number");
		q.has_min_score = 1;
	}
	struct err e;
	if (c->node->msglog) /* rows are written in batches: show what was queued */
		msglog_writer_flush(c->node->msglog);
	c->resp = msglog_search(c->db, &q, &e);
	if (!c->resp)
		api_error(c, 400, NULL, "%s", e.msg);
}

static void api_queue_list(struct api_call *c)
{
	c->resp = queue_list(c->node->queue);
}

static void api_queue_flush(struct api_call *c)
{
	queue_flush(c->node->queue);
	c->resp = json_pack("{s:b, s:I}", "flushed", 1, "messages", (json_int_t)queue_size(c->node->queue));
}

const struct api_route api_routes[] = {
	{"GET", "/status", api_status, API_ON_LOOP},
	{"GET", "/domains", api_domains_list, 0},
	{"POST", "/domains", api_domain_add, 0},
	{"DELETE", "/domains/*", api_domain_remove, 0},
	{"GET", "/config", api_config_all, 0},
	{"GET", "/config/*", api_config_get, 0},
	{"PUT", "/config/*", api_config_set, 0},
	{"DELETE", "/config/*", api_config_unset, 0},
	{"GET", "/log", api_log, 0},
	{"GET", "/queue", api_queue_list, API_ON_LOOP},
	{"POST", "/queue/flush", api_queue_flush, API_ON_LOOP},
};
const unsigned api_nroutes = sizeof api_routes / sizeof *api_routes;

static const struct {
	const struct api_route *routes;
	const unsigned *n;
} tables[] = {
	/* specific tables first: "/config/export" before "/config/ *" */
	{api_auth_routes, &api_auth_nroutes},   {api_admin_routes, &api_admin_nroutes},
	{api_user_routes, &api_user_nroutes},   {api_quar_routes, &api_quar_nroutes},
	{api_routes, &api_nroutes},             {api_list_routes, &api_list_nroutes},
	{api_dnslist_routes, &api_dnslist_nroutes}, {api_cluster_routes, &api_cluster_nroutes},
};

/* '*' matches one non-empty segment, or the non-empty rest when it ends
 * the pattern; *param gets where the first one matched. */
static int route_match(const char *pattern, const char *path, const char **param)
{
	*param = NULL;
	while (*pattern) {
		if (*pattern == '*') {
			size_t seg = strcspn(path, "/");
			if (!*param)
				*param = path;
			if (pattern[1] == '\0')
				return *path != '\0';
			if (seg == 0)
				return 0;
			path += seg;
			pattern++;
			continue;
		}
		if (*pattern != *path)
			return 0;
		pattern++;
		path++;
	}
	return *path == '\0';
}

const struct api_route *api_find_route(const char *method, const char *path, const char **param,
				       int *path_known)
{
	int known = 0;
	for (size_t t = 0; t < sizeof tables / sizeof *tables; t++) {
		if (!tables[t].routes)
			continue;
		for (unsigned i = 0; i < *tables[t].n; i++) {
			const struct api_route *r = &tables[t].routes[i];
			if (!route_match(r->pattern, path, param))
				continue;
			known = 1;
			if (strcmp(r->method, method) == 0) {
				if (path_known)
					*path_known = 1;
				return r;
			}
		}
	}
	if (path_known)
		*path_known = known;
	*param = NULL;
	return NULL;
}
