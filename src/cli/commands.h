/* Command handlers of the CLI (one per table row in rampart.c). Each
 * returns the process exit status. */
#ifndef RAMPART_CLI_COMMANDS_H
#define RAMPART_CLI_COMMANDS_H

#include "cli/cli.h"

int cmd_status(struct cli *c);
int cmd_domain_add(struct cli *c);
int cmd_domain_list(struct cli *c);
int cmd_domain_remove(struct cli *c);
int cmd_config_get(struct cli *c);
int cmd_config_set(struct cli *c);
int cmd_config_unset(struct cli *c);
int cmd_config_list(struct cli *c);
int cmd_log(struct cli *c);
int cmd_queue_list(struct cli *c);
int cmd_queue_flush(struct cli *c);
int cmd_train(struct cli *c);
int cmd_scan(struct cli *c);
int cmd_rules_check(struct cli *c);
/* cmd_users.c */
int cmd_user_add(struct cli *c);
int cmd_user_list(struct cli *c);
int cmd_user_passwd(struct cli *c);
int cmd_user_delete(struct cli *c);
int cmd_user_export(struct cli *c);
int cmd_user_import(struct cli *c);
int cmd_quarantine_list(struct cli *c);
int cmd_quarantine_release(struct cli *c);
int cmd_quarantine_delete(struct cli *c);
int cmd_classify(struct cli *c);
int cmd_config_export(struct cli *c);
int cmd_config_import(struct cli *c);
int cmd_admin_passwd(struct cli *c);
int cmd_token_add(struct cli *c);
int cmd_token_list(struct cli *c);
int cmd_token_remove(struct cli *c);
/* cmd_cluster.c */
int cmd_cluster_status(struct cli *c);
int cmd_cluster_secret(struct cli *c);
int cmd_cluster_hostname(struct cli *c);
int cmd_cluster_hostmap(struct cli *c);
int cmd_cluster_join(struct cli *c);
int cmd_cluster_leave(struct cli *c);
int cmd_cluster_remove(struct cli *c);
int cmd_cluster_role(struct cli *c);
int cmd_cluster_conflicts(struct cli *c);

#endif
