/* The JSON API (docs/api.md is the contract): a table of routes whose
 * handlers run on the worker pool (they may touch SQLite) unless marked
 * to run on the loop (they read loop-owned state such as the queue).
 * The HTTP layer authenticates the caller before a handler runs and
 * fills role/user; a handler only checks ownership of what it touches. */
#ifndef RAMPART_WEB_API_H
#define RAMPART_WEB_API_H

#include <jansson.h>
#include <sqlite3.h>
#include <stddef.h>

#include "util/buf.h"

struct node;

enum api_role { API_ROLE_NONE, API_ROLE_USER, API_ROLE_ADMIN };

struct api_call {
	struct node *node;
	sqlite3 *db;               /* worker's connection (NULL on the loop) */
	const char *method;        /* "GET", "POST", "PUT", "DELETE" */
	char path[1024];           /* decoded path below /api/v1 */
	const char *param;         /* where the first '*' of the pattern matched (to the end) */
	struct evkeyvalq *query;
	json_t *body;              /* parsed JSON body or NULL */
	int trusted;               /* came over the local unix socket (or in process) */
	/* the caller, set by the HTTP layer before the handler runs */
	enum api_role role;        /* trusted calls count as API_ROLE_ADMIN */
	char user[320];            /* API_ROLE_USER: the user's address */
	char client_ip[64];
	char session[65];          /* hash of the session cookie, "" otherwise */
	char token_id[16];         /* authenticated by this API token */
	char csrf[65];             /* the session's CSRF token */
	long long expires_ms;      /* when the session ends unless used */
	const char *raw_body;      /* API_RAW_BODY routes: the body as sent */
	size_t raw_len;
	/* result */
	int status;
	json_t *resp;
	struct buf out;            /* raw reply body when out_type is set */
	const char *out_type;      /* Content-Type of a raw reply */
	const char *out_csp;       /* Content-Security-Policy override (may be framed by self) */
	char set_cookie[256];      /* Set-Cookie value */
	char location[256];        /* Location header (redirects) */
	char disposition[160];     /* Content-Disposition header */
	int retry_after;           /* seconds, for 429 */
};

/* Sets an error response {"error": msg, "field": field}. */
void api_error(struct api_call *c, int status, const char *field, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
const char *api_query(struct api_call *c, const char *key);
/* A raw (non-JSON) reply: copies data. */
void api_raw(struct api_call *c, int status, const char *type, const char *data, size_t len);
/* Whether the caller is an administrator (trusted or admin role). */
int api_is_admin(const struct api_call *c);
/* Segment n (0-based) of c->path ("/users/a@b/lists" -> 0 "users",
 * 1 "a@b"); -1 when absent or too long. */
int api_seg(const struct api_call *c, int n, char *out, size_t outlen);
/* Members of the JSON body: the string/number/bool value, or the
 * default when absent. Wrong type -> 400 with the field named, -1. */
int api_body_str(struct api_call *c, const char *key, int required, const char **out);
int api_body_bool(struct api_call *c, const char *key, int *out);
/* The body must be an object (or absent): -1 and 400 otherwise. */
int api_body_object(struct api_call *c);
/* Integer query parameter in [lo, hi]: 1 found, 0 absent, -1 bad (400 set). */
int api_query_int(struct api_call *c, const char *key, long long lo, long long hi, long long *out);

/* Route flags. None of API_PUBLIC/API_USER/API_ANY: administrators only. */
#define API_ON_LOOP 1    /* the handler runs on the loop thread (c->db is NULL) */
#define API_PUBLIC 2     /* no login needed (the handler checks what it needs) */
#define API_USER 4       /* a logged-in user (role user) */
#define API_ANY 8        /* any logged-in caller */
#define API_NO_CSRF 16   /* state-changing without a CSRF token (login and the like) */
#define API_BIG_BODY 32  /* imports: body up to API_MAX_BIG_BODY */
#define API_RAW_BODY 64  /* body is not JSON: raw_body/raw_len */

#define API_MAX_BODY (1u << 20)
#define API_MAX_BIG_BODY (16u << 20)

struct api_route {
	const char *method;
	const char *pattern;        /* "/domains", "/users/ * /lists" (no spaces): '*' = one
				     * segment, or everything when it ends the pattern */
	void (*fn)(struct api_call *c);
	/* API_* flags. (The field kept its first name so tables and callers
	 * written for the 0/1 "on_loop" still work: API_ON_LOOP is 1; test
	 * (on_loop & API_ON_LOOP), not the whole value.) */
	int on_loop;
};

extern const struct api_route api_routes[];
extern const unsigned api_nroutes;

/* The route for method + path (path below /api/v1, without query);
 * *param points where the first '*' matched; *path_known tells a 405
 * from a 404 when no route matches. Searches every route table (core,
 * users, quarantine, policy lists). */
const struct api_route *api_find_route(const char *method, const char *path, const char **param,
				       int *path_known);

/* Route tables of the other api_*.c files. */
extern const struct api_route api_auth_routes[];
extern const unsigned api_auth_nroutes;
extern const struct api_route api_user_routes[];
extern const unsigned api_user_nroutes;
extern const struct api_route api_quar_routes[];
extern const unsigned api_quar_nroutes;
extern const struct api_route api_admin_routes[];
extern const unsigned api_admin_nroutes;

#endif
