/* The rampart command-line tool. */
#ifndef RAMPART_CLI_CLI_H
#define RAMPART_CLI_CLI_H

#include <jansson.h>

#include "store/bootstrap.h"

struct cli {
	struct bootstrap boot;
	int json;             /* --json: machine-readable output */
	int argc;
	char **argv;          /* the command's own arguments */
};

/* Calls the API of the running daemon over its unix socket; when no
 * daemon runs and offline_ok is set, runs the same API handler in
 * process on the node's data directory. Returns the HTTP status (0 on a
 * transport error, message on stderr) and the JSON reply in *out. */
int cli_api(struct cli *c, const char *method, const char *path, json_t *body, int offline_ok,
	    json_t **out);
/* One API call of a command: prints the reply with `print` (JSON with
 * --json), a reply's "warning" on stderr, errors via cli_fail. Takes
 * over body. Returns the exit status. */
int cli_call(struct cli *c, const char *method, const char *path, json_t *body, int offline,
	     void (*print)(json_t *));
/* Exactly `want` positional arguments and no unknown --option left;
 * otherwise a message on stderr and 1. */
int cli_args(struct cli *c, int want);
/* Prints an API error ({"error": ...}) to stderr; returns 1. */
int cli_fail(json_t *reply, int status);
void cli_print_json(json_t *j);
/* Finds "--name VALUE" in the command's arguments (and removes it). */
const char *cli_opt(struct cli *c, const char *name);
/* Whether "--name" is present (and removes it). */
int cli_flag(struct cli *c, const char *name);

int cli_offline_api(struct cli *c, const char *method, const char *path, json_t *body,
		    json_t **out);

#endif
