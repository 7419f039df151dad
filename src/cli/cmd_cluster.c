/* CLI commands of the cluster (docs/cluster.md): `rampart cluster ...`.
 * The node-local ones (secret, hostname, hostmap) also work without a
 * running daemon; the others need rampartd. */
#include <event2/http.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"

static void enc_path(char *out, size_t outlen, const char *fmt, const char *arg)
{
	char *enc = evhttp_uriencode(arg, -1, 0);
	snprintf(out, outlen, fmt, enc ? enc : "");
	free(enc);
}

static void print_ok(json_t *j)
{
	(void)j;
	printf("ok\n");
}

static const char *str(json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));
	return s ? s : "";
}

static void print_members(json_t *members)
{
	size_t i;
	json_t *m;
	printf("%-5s %-28s %-18s %-8s %-8s %-20s %s\n", "NODE", "NAME", "ADDRESS", "ROLE", "STATE",
	       "CONFIG VERSION", "LAST SEEN");
	json_array_foreach(members, i, m) {
		json_t *v = json_object_get(m, "config_version");
		char ver[32] = "-";
		if (json_is_integer(v))
			snprintf(ver, sizeof ver, "%lld", (long long)json_integer_value(v));
		printf("%-5lld %-28s %-18s %-8s %-8s %-20s %s%s\n",
		       (long long)json_integer_value(json_object_get(m, "nodeid")),
		       str(m, "name")[0] ? str(m, "name") : "(this node)", str(m, "address"),
		       str(m, "role"), str(m, "state"), ver,
		       str(m, "last_seen")[0] ? str(m, "last_seen") : "never",
		       json_is_true(json_object_get(m, "local")) ? "  (this node)" : "");
		if (str(m, "error")[0])
			printf("      ! %s\n", str(m, "error"));
	}
}

static void print_status(json_t *j)
{
	json_t *votes = json_object_get(j, "votes"), *cs = json_object_get(j, "corosync");
	if (!json_is_true(json_object_get(j, "clustered"))) {
		printf("single node (not a member of a cluster); shared secret %s\n",
		       json_is_true(json_object_get(j, "secret_set")) ? "set" : "not set");
	} else {
		printf("cluster member node %lld, %s, %s (%lld of %lld votes, %lld needed)\n",
		       (long long)json_integer_value(json_object_get(j, "nodeid")), str(j, "state"),
		       json_is_true(json_object_get(j, "quorate")) ? "quorate" : "NO QUORUM",
		       (long long)json_integer_value(json_object_get(votes, "total")),
		       (long long)json_integer_value(json_object_get(votes, "expected")),
		       (long long)json_integer_value(json_object_get(votes, "quorum")));
		if (!json_is_true(json_object_get(cs, "running")))
			printf("corosync is not running%s%s\n", str(cs, "error")[0] ? ": " : "",
			       str(cs, "error"));
	}
	print_members(json_object_get(j, "members"));
}

int cmd_cluster_status(struct cli *c)
{
	json_t *reply;
	if (cli_args(c, 0))
		return 2;
	int status = cli_api(c, "GET", "/cluster", NULL, 1, &reply);
	if (status != 200)
		return cli_fail(reply, status);
	if (c->json) /* the node's state, and "members": one object per member */
		cli_print_json(reply);
	else
		print_status(reply);
	json_decref(reply);
	return 0;
}

int cmd_cluster_secret(struct cli *c)
{
	if (cli_args(c, 1))
		return 2;
	return cli_call(c, "PUT", "/cluster/secret", json_pack("{s:s}", "secret", c->argv[0]), 1,
		    print_ok);
}

int cmd_cluster_hostname(struct cli *c)
{
	if (cli_args(c, 1))
		return 2;
	return cli_call(c, "PUT", "/cluster/hostname", json_pack("{s:s}", "hostname", c->argv[0]), 1,
		    print_ok);
}

static void print_hostmap(json_t *j)
{
	size_t i;
	json_t *e;
	if (json_array_size(j) == 0)
		printf("the Local Host Map is empty\n");
	json_array_foreach(j, i, e) printf("%-40s %s\n", str(e, "name"), str(e, "address"));
}

int cmd_cluster_hostmap(struct cli *c)
{
	char path[600];
	const char *op = c->argc > 0 ? c->argv[0] : "";
	c->argc--;
	c->argv++;
	if (strcmp(op, "list") == 0 && !cli_args(c, 0))
		return cli_call(c, "GET", "/cluster/hostmap", NULL, 1, print_hostmap);
	if (strcmp(op, "add") == 0 && !cli_args(c, 2)) {
		enc_path(path, sizeof path, "/cluster/hostmap/%s", c->argv[0]);
		return cli_call(c, "PUT", path, json_pack("{s:s}", "address", c->argv[1]), 1, print_ok);
	}
	if (strcmp(op, "remove") == 0 && !cli_args(c, 1)) {
		enc_path(path, sizeof path, "/cluster/hostmap/%s", c->argv[0]);
		return cli_call(c, "DELETE", path, NULL, 1, print_ok);
	}
	fprintf(stderr, "usage: rampart cluster hostmap add NAME ADDRESS | remove NAME | list\n");
	return 2;
}

int cmd_cluster_join(struct cli *c)
{
	if (cli_args(c, 1))
		return 2;
	return cli_call(c, "POST", "/cluster/join", json_pack("{s:s}", "host", c->argv[0]), 0,
		    print_status);
}

int cmd_cluster_leave(struct cli *c)
{
	if (cli_args(c, 0))
		return 2;
	return cli_call(c, "POST", "/cluster/leave", json_object(), 0, print_ok);
}

int cmd_cluster_remove(struct cli *c)
{
	char path[600];
	if (cli_args(c, 1))
		return 2;
	enc_path(path, sizeof path, "/cluster/members/%s", c->argv[0]);
	return cli_call(c, "DELETE", path, NULL, 0, print_ok);
}

int cmd_cluster_role(struct cli *c)
{
	char path[600];
	if (cli_args(c, 2))
		return 2;
	enc_path(path, sizeof path, "/cluster/members/%s/role", c->argv[0]);
	return cli_call(c, "PUT", path, json_pack("{s:s}", "role", c->argv[1]), 0, print_ok);
}

static void print_side(const char *label, json_t *s)
{
	json_t *v = json_object_get(s, "value");
	printf("    %-6s node %lld at %s: %s\n", label,
	       (long long)json_integer_value(json_object_get(s, "node")), str(s, "stamp"),
	       json_is_string(v) ? json_string_value(v) : "(deleted)");
}

static void print_conflicts(json_t *j)
{
	size_t i;
	json_t *r;
	json_t *rows = json_object_get(j, "rows");
	printf("%lld conflict(s)\n", (long long)json_integer_value(json_object_get(j, "total")));
	json_array_foreach(rows, i, r) {
		printf("%s  %s\n", str(r, "time"), str(r, "key"));
		print_side("kept", json_object_get(r, "winner"));
		print_side("lost", json_object_get(r, "loser"));
	}
}

int cmd_cluster_conflicts(struct cli *c)
{
	char path[128];
	const char *limit = cli_opt(c, "--limit");
	if (cli_args(c, 0))
		return 2;
	snprintf(path, sizeof path, "/cluster/conflicts?limit=%d", limit ? atoi(limit) : 50);
	return cli_call(c, "GET", path, NULL, 1, print_conflicts);
}
