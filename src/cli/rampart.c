/* rampart: the command-line interface to a rampart node. Every command
 * goes through the node's JSON API (the daemon's unix socket). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/commands.h"
#include "cluster/cluster.h"
#include "filter/pipeline.h"

static const struct cli_command {
	const char *name, *sub;
	int (*fn)(struct cli *c);
	const char *usage;
} commands[] = {
	{"status", NULL, cmd_status, "status"},
	{"domain", "add", cmd_domain_add, "domain add NAME --destination smtp:HOST:PORT|maildir:PATH"},
	{"domain", "list", cmd_domain_list, "domain list"},
	{"domain", "remove", cmd_domain_remove, "domain remove NAME"},
	{"config", "get", cmd_config_get, "config get KEY [--scope SCOPE]"},
	{"config", "set", cmd_config_set, "config set KEY VALUE [--scope SCOPE]"},
	{"config", "unset", cmd_config_unset, "config unset KEY [--scope SCOPE]"},
	{"config", "list", cmd_config_list, "config list [--scope SCOPE]"},
	{"log", NULL, cmd_log,
	 "log [--limit N] [--offset N] [--since ISO|EPOCH] [--until ISO|EPOCH] [--sender S]\n"
	 "      [--rcpt R] [--subject S] [--client-ip IP|CIDR] [--action A] [--min-score X]"},
	{"queue", "list", cmd_queue_list, "queue list"},
	{"queue", "flush", cmd_queue_flush, "queue flush"},
	{"train", NULL, cmd_train, "train [--spam DIR|FILE]... [--ham DIR|FILE]...   (in process)"},
	{"scan", NULL, cmd_scan, "scan [--json [--timing]] FILE|DIR...   (in process; --json: one object per line)"},
	{"rules", "check", cmd_rules_check, "rules check"},
	{"user", "add", cmd_user_add, "user add ADDRESS [--password PASSWORD] [--send-link]"},
	{"user", "list", cmd_user_list, "user list [--filter TEXT]"},
	{"user", "passwd", cmd_user_passwd, "user passwd ADDRESS [--password PASSWORD]"},
	{"user", "delete", cmd_user_delete, "user delete ADDRESS"},
	{"user", "export", cmd_user_export, "user export FILE|-   (CSV)"},
	{"user", "import", cmd_user_import, "user import FILE|- [--send-links]   (CSV)"},
	{"quarantine", "list", cmd_quarantine_list, "quarantine list USER [--limit N]"},
	{"quarantine", "release", cmd_quarantine_release, "quarantine release ID"},
	{"quarantine", "delete", cmd_quarantine_delete, "quarantine delete ID"},
	{"classify", NULL, cmd_classify, "classify ID spam|ham [--log]   (quarantine id; --log: message-log id)"},
	{"config", "export", cmd_config_export, "config export FILE|-"},
	{"config", "import", cmd_config_import, "config import FILE|-"},
	{"admin", "passwd", cmd_admin_passwd, "admin passwd [--password PASSWORD]"},
	{"token", "add", cmd_token_add, "token add NAME"},
	{"token", "list", cmd_token_list, "token list"},
	{"token", "remove", cmd_token_remove, "token remove ID"},
	{"cluster", "status", cmd_cluster_status, "cluster status [--json]"},
	{"cluster", "secret", cmd_cluster_secret, "cluster secret SECRET"},
	{"cluster", "hostname", cmd_cluster_hostname, "cluster hostname NAME   (\"\" = this node's address)"},
	{"cluster", "hostmap", cmd_cluster_hostmap, "cluster hostmap add NAME ADDRESS | remove NAME | list"},
	{"cluster", "join", cmd_cluster_join, "cluster join HOST[:PORT]"},
	{"cluster", "leave", cmd_cluster_leave, "cluster leave"},
	{"cluster", "remove", cmd_cluster_remove, "cluster remove NAME"},
	{"cluster", "role", cmd_cluster_role, "cluster role NAME active|standby"},
	{"cluster", "conflicts", cmd_cluster_conflicts, "cluster conflicts [--limit N] [--json]"},
};

static void usage(FILE *f)
{
	fprintf(f, "usage: rampart -c CONFIG_FILE [--json] COMMAND [ARGS]\ncommands:\n");
	for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
		fprintf(f, "  %s\n", commands[i].usage);
	fprintf(f, "every command accepts --json for machine-readable output\n");
}

int main(int argc, char **argv)
{
	const char *conf = getenv("RAMPART_CONFIG");
	int i = 1;
	struct cli c;
	memset(&c, 0, sizeof c);
	for (; i < argc && argv[i][0] == '-'; i++) {
		if (strcmp(argv[i], "-c") == 0 && i + 1 < argc)
			conf = argv[++i];
		else if (strcmp(argv[i], "--json") == 0)
			c.json = 1;
		else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			usage(stdout);
			return 0;
		} else {
			usage(stderr);
			return 2;
		}
	}
	if (!conf)
		conf = "/etc/rampart/rampart.conf";
	if (i >= argc) {
		usage(stderr);
		return 2;
	}
	struct err e;
	if (bootstrap_load(conf, &c.boot, &e) < 0) {
		fprintf(stderr, "rampart: %s\n", e.msg);
		return 2;
	}
	/* offline commands open the config store: its namespaces first */
	filter_register_config();
	cluster_register_config();
	const char *name = argv[i++];
	const char *sub = i < argc ? argv[i] : NULL;
	for (size_t k = 0; k < sizeof commands / sizeof *commands; k++) {
		const struct cli_command *cmd = &commands[k];
		if (strcmp(cmd->name, name) != 0)
			continue;
		if (cmd->sub && (!sub || strcmp(cmd->sub, sub) != 0))
			continue;
		int first = cmd->sub ? i + 1 : i;
		c.argc = argc - first;
		c.argv = argv + first;
		if (cli_flag(&c, "--json"))
			c.json = 1;
		return cmd->fn(&c);
	}
	fprintf(stderr, "rampart: unknown command '%s%s%s'\n", name, sub ? " " : "", sub ? sub : "");
	usage(stderr);
	return 2;
}
