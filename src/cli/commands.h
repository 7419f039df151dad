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

#endif
