/* API routes of the cluster (api_cluster.h). The work is done by
 * src/cluster; these handlers check the input and map errors to
 * statuses: 400 bad input, 409 refused by the cluster's state (no quorum,
 * not a member, join refused by the other side). */
#include "web/api_cluster.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/cluster.h"
#include "node.h"

/* Without a daemon (the CLI's offline mode) the node database may not
 * have the cluster's tables yet. */
static void offline_tables(struct api_call *c)
{
	if (!c->node->cluster && c->db)
		cluster_db_init(c->db, NULL);
}

static void status_reply(struct api_call *c)
{
	offline_tables(c);
	c->resp = cluster_status_json(c->node, c->db);
}

static void api_cluster_status(struct api_call *c)
{
	status_reply(c);
}

static void api_cluster_secret(struct api_call *c)
{
	offline_tables(c);
	const char *secret;
	struct err e;
	if (api_body_str(c, "secret", 1, &secret) < 0)
		return;
	if (cluster_set_secret(c->node, c->db, secret, &e) < 0)
		return api_error(c, 400, "secret", "%s", e.msg);
	c->resp = json_pack("{s:b}", "secret_set", 1);
}

static void api_cluster_hostname(struct api_call *c)
{
	offline_tables(c);
	const char *name;
	struct err e;
	if (api_body_str(c, "hostname", 0, &name) < 0)
		return;
	if (cluster_set_hostname(c->node, c->db, name ? name : "", &e) < 0)
		return api_error(c, 400, "hostname", "%s", e.msg);
	status_reply(c);
}

static void api_hostmap_list(struct api_call *c)
{
	offline_tables(c);
	c->resp = hostmap_list(c->node, c->db);
}

static void api_hostmap_put(struct api_call *c)
{
	offline_tables(c);
	const char *addr;
	struct err e;
	if (api_body_str(c, "address", 1, &addr) < 0)
		return;
	if (hostmap_set(c->node, c->db, c->param, addr, &e) < 0)
		return api_error(c, 400, strstr(e.msg, "address") ? "address" : "name", "%s", e.msg);
	c->resp = json_pack("{s:s,s:s}", "name", c->param, "address", addr);
}

static void api_hostmap_delete(struct api_call *c)
{
	offline_tables(c);
	struct err e;
	if (hostmap_remove(c->node, c->db, c->param, &e) < 0)
		return api_error(c, 404, "name", "%s", e.msg);
	c->resp = json_pack("{s:s}", "removed", c->param);
}

static void api_cluster_join(struct api_call *c)
{
	const char *host;
	struct err e;
	if (api_body_str(c, "host", 1, &host) < 0)
		return;
	if (cluster_join(c->node, host, &e) < 0)
		return api_error(c, 409, "host", "%s", e.msg);
	status_reply(c);
}

static void api_cluster_leave(struct api_call *c)
{
	struct err e;
	int rc = cluster_leave(c->node, &e);
	if (rc < 0)
		return api_error(c, 409, NULL, "%s", e.msg);
	status_reply(c);
	if (rc > 0) /* left, with something the administrator must do */
		json_object_set_new(c->resp, "warning", json_string(e.msg));
}

static void api_member_remove(struct api_call *c)
{
	char name[300];
	struct err e;
	if (api_seg(c, 2, name, sizeof name) < 0)
		return api_error(c, 400, "name", "bad member name");
	if (cluster_remove(c->node, name, &e) < 0)
		return api_error(c, 409, "name", "%s", e.msg);
	c->resp = json_pack("{s:s}", "removed", name);
}

static void api_member_role(struct api_call *c)
{
	char name[300];
	const char *role;
	struct err e;
	if (api_seg(c, 2, name, sizeof name) < 0)
		return api_error(c, 400, "name", "bad member name");
	if (api_body_str(c, "role", 1, &role) < 0)
		return;
	if (strcmp(role, "active") != 0 && strcmp(role, "standby") != 0)
		return api_error(c, 400, "role", "role must be active or standby");
	if (cluster_set_role(c->node, name, role, &e) < 0)
		return api_error(c, 409, "name", "%s", e.msg);
	status_reply(c);
}

static void api_conflicts(struct api_call *c)
{
	offline_tables(c);
	long long limit = 50, offset = 0;
	if (api_query_int(c, "limit", 1, 1000, &limit) < 0 ||
	    api_query_int(c, "offset", 0, 1LL << 30, &offset) < 0)
		return;
	c->resp = cluster_conflicts_json(c->node, c->db, (int)limit, (int)offset);
}

static void api_conflicts_clear(struct api_call *c)
{
	offline_tables(c);
	struct err e;
	if (cluster_conflicts_clear(c->node, c->db, &e) < 0)
		return api_error(c, 500, NULL, "%s", e.msg);
	c->resp = json_pack("{s:b}", "cleared", 1);
}

static void api_latency(struct api_call *c)
{
	c->resp = cluster_latency_json(c->node);
}

const struct api_route api_cluster_routes[] = {
	{"GET", "/cluster", api_cluster_status, 0},
	{"PUT", "/cluster/secret", api_cluster_secret, 0},
	{"PUT", "/cluster/hostname", api_cluster_hostname, 0},
	{"GET", "/cluster/hostmap", api_hostmap_list, 0},
	{"PUT", "/cluster/hostmap/*", api_hostmap_put, 0},
	{"DELETE", "/cluster/hostmap/*", api_hostmap_delete, 0},
	{"POST", "/cluster/join", api_cluster_join, 0},
	{"POST", "/cluster/leave", api_cluster_leave, 0},
	{"DELETE", "/cluster/members/*", api_member_remove, 0},
	{"PUT", "/cluster/members/*/role", api_member_role, 0},
	{"GET", "/cluster/conflicts", api_conflicts, 0},
	{"DELETE", "/cluster/conflicts", api_conflicts_clear, 0},
	{"GET", "/cluster/latency", api_latency, 0},
};
const unsigned api_cluster_nroutes = sizeof api_cluster_routes / sizeof *api_cluster_routes;
