/* Who is calling: web sessions (node-local SQLite), login throttling,
 * API tokens (propagated hash + node-local usage counters), the admin
 * password (propagated hash) and signed, expiring links for mails. */
#ifndef RAMPART_WEB_AUTH_H
#define RAMPART_WEB_AUTH_H

#include <jansson.h>
#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

#include "util/err.h"
#include "web/api.h"

struct config_store;
struct node;

#define AUTH_COOKIE "rampart_session"
#define AUTH_SESSION_MAX_MS (12LL * 3600 * 1000) /* absolute session lifetime */
#define AUTH_HEX 65                               /* 32 bytes as hex + NUL */

struct auth_session {
	enum api_role role;
	char user[320];          /* "admin" or the user's address */
	char id[AUTH_HEX];       /* hash of the cookie */
	char csrf[AUTH_HEX];
	int64_t expires_ms;      /* when it ends unless used again */
};

int auth_db_init(sqlite3 *db, struct err *e);

/* A new session; cookie gets the secret cookie value (hex). */
int auth_session_create(struct api_call *c, enum api_role role, const char *user,
			char cookie[AUTH_HEX], struct auth_session *s, struct err *e);
/* Looks the cookie up and refreshes its idle timer: 0 and *s, -1 when
 * unknown or expired (an expired row is deleted). */
int auth_session_lookup(struct api_call *c, const char *cookie, struct auth_session *s);
/* Deletes one session by id (hash). */
void auth_session_end(sqlite3 *db, const char *id);
/* Deletes every session of a user except `keep` (NULL: all). */
void auth_sessions_end_user(sqlite3 *db, enum api_role role, const char *user, const char *keep);
/* Housekeeping: removes expired sessions and stale throttle rows. */
void auth_expire(sqlite3 *db, int64_t idle_ms);
/* Idle timeout of sessions in ms (setting web_session_idle). */
int64_t auth_idle_ms(struct config_store *cs);
/* The login reply/`GET /session` object of a session. */
json_t *auth_session_json(struct config_store *cs, const struct auth_session *s);
/* Set-Cookie value for a cookie ("" cookie: clears it). */
void auth_cookie_header(const char *cookie, char *out, size_t outlen);

/* Login throttling: key "u:<name>" or "ip:<addr>". auth_locked returns
 * the seconds left when locked, 0 otherwise. */
int auth_locked(sqlite3 *db, const char *key);
void auth_failed(sqlite3 *db, const char *key, int max_failures, int64_t lockout_ms);
void auth_clear(sqlite3 *db, const char *key);

/* API tokens "rpt_<id>.<secret>". */
int auth_token_create(struct config_store *cs, const char *name, char *token, size_t tokenlen,
		      char id[16], struct err *e);
/* 0 and id filled when the bearer token is valid (usage counted). */
int auth_token_check(struct config_store *cs, sqlite3 *db, const char *bearer, char id[16]);
json_t *auth_token_list(struct config_store *cs, sqlite3 *db);
int auth_token_remove(struct config_store *cs, const char *id, struct err *e);

/* The administrator's password. */
int auth_admin_verify(struct config_store *cs, const char *password);
int auth_admin_set(struct config_store *cs, const char *password, struct err *e);
/* First start: stores the bootstrap admin_password, or a generated one
 * that is printed once. */
void auth_admin_ensure(struct node *n);

/* Random bytes as lower-case hex (2*n chars + NUL into out). */
void auth_random_hex(char *out, size_t n);
/* SHA-256 of s as hex. */
void auth_sha256_hex(const char *s, char out[AUTH_HEX]);
/* Constant-time string comparison (1 equal). */
int auth_str_eq(const char *a, const char *b);

/* Signed links: base64url(JSON claims + "exp").base64url(HMAC-SHA256).
 * The key is web/link_key in the config store (made on first use). */
int links_sign(struct config_store *cs, json_t *claims, int64_t lifetime_s, char *out,
	       size_t outlen, struct err *e);
/* The claims when the signature is right and it has not expired. */
json_t *links_verify(struct config_store *cs, const char *token, struct err *e);
/* Base URL for links: web_base_url or https://<hostname>:<port>. */
void links_base_url(struct node *n, char *out, size_t outlen);

#endif
