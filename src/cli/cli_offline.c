/* Offline API: when no daemon runs, configuration commands act on the
 * node's data directory directly, through the very same API handlers
 * (so validation is identical). */
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <stdio.h>
#include <sys/queue.h>
#include <string.h>

#include "cli/cli.h"
#include "node.h"
#include "store/config.h"
#include "store/db.h"
#include "store/msglog.h"
#include "util/fsutil.h"
#include "web/api.h"

int cli_offline_api(struct cli *c, const char *method, const char *path, json_t *body,
		    json_t **out)
{
	static struct node n;
	struct err e;
	char p[1024];
	snprintf(p, sizeof p, "%s", path);
	struct evkeyvalq query;
	TAILQ_INIT(&query);
	char *q = strchr(p, '?');
	if (q) {
		*q = '\0';
		if (evhttp_parse_query_str(q + 1, &query) < 0) {
			fprintf(stderr, "rampart: malformed query\n");
			return 0;
		}
	}
	const char *param = NULL;
	const struct api_route *route = api_find_route(method, p, &param, NULL);
	if (!route || (route->on_loop & (API_ON_LOOP | API_USER))) {
		evhttp_clear_headers(&query);
		fprintf(stderr, "rampart: rampartd is not running (socket %s)\n", c->boot.control_socket);
		return 0;
	}
	n.boot = c->boot;
	snprintf(n.db_path, sizeof n.db_path, "%s/rampart.db", c->boot.data_dir);
	if (fs_mkdir_p(c->boot.data_dir, 0700, &e) < 0) {
		evhttp_clear_headers(&query);
		fprintf(stderr, "rampart: %s\n", e.msg);
		return 0;
	}
	sqlite3 *db = db_open(n.db_path, &e);
	if (!db || msglog_init(db, &e) < 0 || !(n.cfg = config_open(n.db_path, &e))) {
		fprintf(stderr, "rampart: %s\n", e.msg);
		evhttp_clear_headers(&query);
		if (db)
			db_close(db);
		return 0;
	}
	struct api_call call = {.node = &n, .db = db, .method = method, .body = body, .trusted = 1,
				.query = &query};
	snprintf(call.path, sizeof call.path, "%s", p);
	call.param = param ? call.path + (param - p) : NULL;
	route->fn(&call);
	config_close(n.cfg);
	db_close(db);
	evhttp_clear_headers(&query);
	*out = call.resp;
	return call.status ? call.status : 200;
}
