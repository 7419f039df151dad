/* The JSON API: a table of routes whose handlers run on the worker pool
 * (they may touch SQLite) unless marked to run on the loop (they read
 * loop-owned state such as the queue). */
#ifndef RAMPART_WEB_API_H
#define RAMPART_WEB_API_H

#include <jansson.h>
#include <sqlite3.h>

struct node;

struct api_call {
	struct node *node;
	sqlite3 *db;               /* worker's connection (NULL on the loop) */
	const char *method;        /* "GET", "POST", "PUT", "DELETE" */
	char path[1024];           /* decoded path below /api/v1 */
	const char *param;         /* the part matched by a trailing '*' */
	struct evkeyvalq *query;
	json_t *body;              /* parsed JSON body or NULL */
	int trusted;               /* came over the local unix socket */
	/* result */
	int status;
	json_t *resp;
};

/* Sets an error response {"error": msg, "field": field}. */
void api_error(struct api_call *c, int status, const char *field, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
const char *api_query(struct api_call *c, const char *key);

struct api_route {
	const char *method;
	const char *pattern;        /* "/domains" or "/domains/ *" (no space) */
	void (*fn)(struct api_call *c);
	int on_loop;
};

extern const struct api_route api_routes[];
extern const unsigned api_nroutes;

/* The route for method + path (path below /api/v1, without query);
 * *param gets the part matched by a trailing '*'; *path_known tells a
 * 405 from a 404 when no route matches. */
const struct api_route *api_find_route(const char *method, const char *path, const char **param,
				       int *path_known);

#endif
