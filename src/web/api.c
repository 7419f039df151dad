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
#include "util/metrics.h"
#include "util/pool.h"
#include "util/timeutil.h"

static const char *body_str(struct api_call *c, const char *key)
{
	json_t *v = c->body ? json_object_get(c->body, key) : NULL;
	return json_is_string(v) ? json_string_value(v) : NULL;
}

static void api_status(struct api_call *c)
{
	struct node *n = c->node;
	struct statvfs vfs;
	double free_mb = -1;
	if (statvfs(n->boot.data_dir, &vfs) == 0)
		free_mb = (double)vfs.f_bavail * (double)vfs.f_frsize / 1048576.0;
	c->resp = json_pack(
		"{s:s, s:s, s:I, s:i, s:I, s:I, s:I, s:I, s:I, s:I, s:f, s:i, s:I}", "hostname",
		n->boot.hostname, "version", "0.1.0", "uptime_seconds",
		(json_int_t)((time_now_ms() - n->started_ms) / 1000), "smtp_sessions",
		smtp_server_sessions(n->smtp), "queue_messages", (json_int_t)queue_size(n->queue),
		"messages_received", (json_int_t)metrics_get(M_MESSAGES_RECEIVED),
		"messages_allowed", (json_int_t)metrics_get(M_MESSAGES_ALLOW),
		"messages_blocked", (json_int_t)metrics_get(M_MESSAGES_BLOCK),
		"delivered", (json_int_t)metrics_get(M_DELIVERY_SUCCESS), "config_version",
		(json_int_t)config_version(n->cfg), "data_free_mb", free_mb, "draining", n->draining,
		"domains", (json_int_t)config_domain_count(n->cfg));
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

static void api_config_all(struct api_call *c)
{
	const char *scope = api_query(c, "scope");
	c->resp = config_settings_json(c->node->cfg, scope);
	if (!c->resp)
		api_error(c, 400, "scope", "bad scope '%s'", scope ? scope : "");
}

static json_t *setting_entry(struct api_call *c, const char *name, const char *scope)
{
	json_t *all = config_settings_json(c->node->cfg, scope);
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

static int query_int(struct api_call *c, const char *key, long long lo, long long hi,
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
	if (query_int(c, "since", 0, 1LL << 50, &since) < 0 ||
	    query_int(c, "until", 0, 1LL << 50, &until) < 0 ||
	    query_int(c, "limit", 1, 1000, &limit) < 0 ||
	    query_int(c, "offset", 0, 1LL << 40, &offset) < 0)
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
	{"GET", "/status", api_status, 1},
	{"GET", "/domains", api_domains_list, 0},
	{"POST", "/domains", api_domain_add, 0},
	{"DELETE", "/domains/*", api_domain_remove, 0},
	{"GET", "/config", api_config_all, 0},
	{"GET", "/config/*", api_config_get, 0},
	{"PUT", "/config/*", api_config_set, 0},
	{"DELETE", "/config/*", api_config_unset, 0},
	{"GET", "/log", api_log, 0},
	{"GET", "/queue", api_queue_list, 1},
	{"POST", "/queue/flush", api_queue_flush, 1},
};
const unsigned api_nroutes = sizeof api_routes / sizeof *api_routes;

static int route_match(const char *pattern, const char *path, const char **param)
{
	size_t n = strlen(pattern);
	*param = NULL;
	if (n && pattern[n - 1] == '*') {
		if (strncmp(pattern, path, n - 1) != 0 || !path[n - 1])
			return 0;
		*param = path + n - 1;
		return 1;
	}
	return strcmp(pattern, path) == 0;
}

const struct api_route *api_find_route(const char *method, const char *path, const char **param,
				       int *path_known)
{
	int known = 0;
	for (unsigned i = 0; i < api_nroutes; i++) {
		if (!route_match(api_routes[i].pattern, path, param))
			continue;
		known = 1;
		if (strcmp(api_routes[i].method, method) == 0) {
			if (path_known)
				*path_known = 1;
			return &api_routes[i];
		}
	}
	if (path_known)
		*path_known = known;
	*param = NULL;
	return NULL;
}
