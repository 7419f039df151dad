/* Sessions, login throttling and the admin password. */
#include "web/auth.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "node.h"
#include "store/config.h"
#include "store/db.h"
#include "store/users.h"
#include "util/log.h"
#include "util/timeutil.h"

static const char schema[] =
	"CREATE TABLE IF NOT EXISTS web_session(id TEXT PRIMARY KEY, role INTEGER NOT NULL,"
	" user TEXT NOT NULL, csrf TEXT NOT NULL, created_ms INTEGER NOT NULL,"
	" last_ms INTEGER NOT NULL, client_ip TEXT NOT NULL);"
	"CREATE INDEX IF NOT EXISTS web_session_user ON web_session(user);"
	"CREATE TABLE IF NOT EXISTS web_login_fail(key TEXT PRIMARY KEY, failures INTEGER NOT NULL,"
	" first_ms INTEGER NOT NULL, locked_until_ms INTEGER NOT NULL);"
	"CREATE TABLE IF NOT EXISTS web_token_use(id TEXT PRIMARY KEY, uses INTEGER NOT NULL,"
	" last_ms INTEGER NOT NULL);"
	"CREATE TABLE IF NOT EXISTS web_mail_sent(key TEXT PRIMARY KEY, sent_ms INTEGER NOT NULL);";

int auth_db_init(sqlite3 *db, struct err *e)
{
	return db_exec(db, schema, e);
}

void auth_random_hex(char *out, size_t n)
{
	unsigned char raw[64];
	if (n > sizeof raw)
		n = sizeof raw;
	randombytes_buf(raw, n);
	sodium_bin2hex(out, 2 * n + 1, raw, n);
}

void auth_sha256_hex(const char *s, char out[AUTH_HEX])
{
	unsigned char h[crypto_hash_sha256_BYTES];
	crypto_hash_sha256(h, (const unsigned char *)s, strlen(s));
	sodium_bin2hex(out, AUTH_HEX, h, sizeof h);
}

int auth_str_eq(const char *a, const char *b)
{
	size_t n = strlen(a);
	if (n != strlen(b))
		return 0;
	return sodium_memcmp(a, b, n) == 0;
}

int64_t auth_idle_ms(struct config_store *cs)
{
	return users_setting_int(cs, "web_session_idle", NULL, 1800) * 1000;
}

/* ---- sessions -------------------------------------------------------- */

int auth_session_create(struct api_call *c, enum api_role role, const char *user,
			char cookie[AUTH_HEX], struct auth_session *s, struct err *e)
{
	int64_t now = time_now_ms();
	auth_random_hex(cookie, 32);
	memset(s, 0, sizeof *s);
	s->role = role;
	snprintf(s->user, sizeof s->user, "%s", user);
	auth_sha256_hex(cookie, s->id);
	auth_random_hex(s->csrf, 32);
	s->expires_ms = now + auth_idle_ms(c->node->cfg);
	sqlite3_stmt *st = db_prepare(c->db,
				      "INSERT INTO web_session(id, role, user, csrf, created_ms, last_ms,"
				      " client_ip) VALUES(?1,?2,?3,?4,?5,?5,?6)",
				      e);
	if (!st)
		return -1;
	sqlite3_bind_text(st, 1, s->id, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 2, role);
	sqlite3_bind_text(st, 3, s->user, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, s->csrf, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, now);
	sqlite3_bind_text(st, 6, c->client_ip, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : err_set(e, "session: %s", sqlite3_errmsg(c->db));
	sqlite3_finalize(st);
	return rc;
}

int auth_session_lookup(struct api_call *c, const char *cookie, struct auth_session *s)
{
	char id[AUTH_HEX];
	int64_t now = time_now_ms(), idle = auth_idle_ms(c->node->cfg);
	if (strlen(cookie) != 64 || cookie[strspn(cookie, "0123456789abcdef")])
		return -1;
	auth_sha256_hex(cookie, id);
	sqlite3_stmt *st = db_prepare(c->db,
				      "SELECT role, user, csrf, created_ms, last_ms FROM web_session"
				      " WHERE id = ?1",
				      NULL);
	if (!st)
		return -1;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	int rc = -1, expired = 0;
	if (sqlite3_step(st) == SQLITE_ROW) {
		int64_t created = sqlite3_column_int64(st, 3), last = sqlite3_column_int64(st, 4);
		expired = now - last > idle || now - created > AUTH_SESSION_MAX_MS;
		if (!expired) {
			memset(s, 0, sizeof *s);
			s->role = (enum api_role)sqlite3_column_int(st, 0);
			snprintf(s->user, sizeof s->user, "%s", (const char *)sqlite3_column_text(st, 1));
			snprintf(s->csrf, sizeof s->csrf, "%s", (const char *)sqlite3_column_text(st, 2));
			snprintf(s->id, sizeof s->id, "%s", id);
			s->expires_ms = now + idle;
			if (s->expires_ms > created + AUTH_SESSION_MAX_MS)
				s->expires_ms = created + AUTH_SESSION_MAX_MS;
			rc = 0;
		}
	}
	sqlite3_finalize(st);
	if (expired)
		auth_session_end(c->db, id);
	if (rc == 0) {
		st = db_prepare(c->db, "UPDATE web_session SET last_ms = ?2 WHERE id = ?1", NULL);
		if (st) {
			sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
			sqlite3_bind_int64(st, 2, now);
			sqlite3_step(st);
			sqlite3_finalize(st);
		}
	}
	return rc;
}

static void exec_text(sqlite3 *db, const char *sql, const char *a, const char *b, int64_t n)
{
	sqlite3_stmt *st = db_prepare(db, sql, NULL);
	if (!st)
		return;
	/* binding a parameter the statement lacks is a harmless SQLITE_RANGE */
	if (a)
		sqlite3_bind_text(st, 1, a, -1, SQLITE_STATIC);
	if (b)
		sqlite3_bind_text(st, 2, b, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, n);
	sqlite3_step(st);
	sqlite3_finalize(st);
}

void auth_session_end(sqlite3 *db, const char *id)
{
	exec_text(db, "DELETE FROM web_session WHERE id = ?1", id, NULL, 0);
}

void auth_sessions_end_user(sqlite3 *db, enum api_role role, const char *user, const char *keep)
{
	exec_text(db, "DELETE FROM web_session WHERE user = ?1 AND id != ?2 AND role = ?3", user,
		  keep ? keep : "", role);
}

void auth_expire(sqlite3 *db, int64_t idle_ms)
{
	int64_t now = time_now_ms();
	sqlite3_stmt *st = db_prepare(db,
				      "DELETE FROM web_session WHERE last_ms < ?1 OR created_ms < ?2", NULL);
	if (st) {
		sqlite3_bind_int64(st, 1, now - idle_ms);
		sqlite3_bind_int64(st, 2, now - AUTH_SESSION_MAX_MS);
		sqlite3_step(st);
		sqlite3_finalize(st);
	}
	st = db_prepare(db, "DELETE FROM web_login_fail WHERE locked_until_ms < ?1 AND first_ms < ?2",
			NULL);
	if (st) {
		sqlite3_bind_int64(st, 1, now);
		sqlite3_bind_int64(st, 2, now - 86400000LL);
		sqlite3_step(st);
		sqlite3_finalize(st);
	}
}

json_t *auth_session_json(struct config_store *cs, const struct auth_session *s)
{
	json_t *o = json_pack("{s:s, s:s, s:s, s:I}", "role",
			      s->role == API_ROLE_ADMIN ? "admin" : "user", "user", s->user,
			      "csrf_token", s->csrf, "expires_ms", (json_int_t)s->expires_ms);
	struct user_rec u;
	if (s->role == API_ROLE_USER && users_get(cs, s->user, &u) == 0) {
		json_t *uj = users_json(&u);
		json_object_set(o, "features", json_object_get(uj, "features"));
		json_decref(uj);
	}
	return o;
}

void auth_cookie_header(const char *cookie, char *out, size_t outlen)
{
	snprintf(out, outlen, "%s=%s; Path=/; HttpOnly; Secure; SameSite=Strict%s", AUTH_COOKIE,
		 cookie, *cookie ? "" : "; Max-Age=0");
}

/* ---- login throttling -------------------------------------------------- */

int auth_locked(sqlite3 *db, const char *key)
{
	sqlite3_stmt *st = db_prepare(db, "SELECT locked_until_ms FROM web_login_fail WHERE key = ?1", NULL);
	int64_t until = 0, now = time_now_ms();
	if (!st)
		return 0;
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW)
		until = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return until > now ? (int)((until - now + 999) / 1000) : 0;
}

void auth_failed(sqlite3 *db, const char *key, int max_failures, int64_t lockout_ms)
{
	int64_t now = time_now_ms();
	/* failures count within one lockout window; reaching the maximum
	 * locks the key for a window and starts counting afresh */
	sqlite3_stmt *st = db_prepare(db,
				      "INSERT INTO web_login_fail(key, failures, first_ms, locked_until_ms)"
				      " VALUES(?1, 1, ?2, 0) ON CONFLICT(key) DO UPDATE SET"
				      " failures = CASE WHEN ?2 - first_ms > ?3 THEN 1 ELSE failures + 1 END,"
				      " first_ms = CASE WHEN ?2 - first_ms > ?3 THEN ?2 ELSE first_ms END",
				      NULL);
	if (!st)
		return;
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, now);
	sqlite3_bind_int64(st, 3, lockout_ms);
	sqlite3_step(st);
	sqlite3_finalize(st);
	st = db_prepare(db,
			"UPDATE web_login_fail SET locked_until_ms = ?2 + ?3, failures = 0, first_ms = ?2"
			" WHERE key = ?1 AND failures >= ?4",
			NULL);
	if (!st)
		return;
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, now);
	sqlite3_bind_int64(st, 3, lockout_ms);
	sqlite3_bind_int(st, 4, max_failures);
	sqlite3_step(st);
	if (sqlite3_changes(db) > 0)
		log_warn("web: login locked for %s (%d failures)", log_esc(key), max_failures);
	sqlite3_finalize(st);
}

void auth_clear(sqlite3 *db, const char *key)
{
	exec_text(db, "DELETE FROM web_login_fail WHERE key = ?1", key, NULL, 0);
}

/* ---- the admin password ------------------------------------------------- */

int auth_admin_verify(struct config_store *cs, const char *password)
{
	char value[512] = "";
	config_get_raw(cs, "web/admin", value, sizeof value);
	json_t *j = json_loads(value, 0, NULL);
	int ok = users_password_verify(json_string_value(json_object_get(j, "password_hash")), password);
	json_decref(j);
	return ok;
}

int auth_admin_set(struct config_store *cs, const char *password, struct err *e)
{
	char hash[USERS_HASH_MAX];
	if (users_password_check(password, e) < 0 || users_password_hash(password, hash, e) < 0)
		return -1;
	json_t *j = json_pack("{s:s, s:I}", "password_hash", hash, "changed_ms",
			      (json_int_t)time_now_ms());
	char *value = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(j);
	int rc = users_kv_put(cs, "web/admin", value, e);
	free(value);
	return rc;
}

void auth_admin_ensure(struct node *n)
{
	char value[512], pw[32];
	struct err e;
	if (config_get_raw(n->cfg, "web/admin", value, sizeof value))
		return;
	if (n->boot.admin_password[0]) {
		if (auth_admin_set(n->cfg, n->boot.admin_password, &e) < 0)
			log_error("web: cannot store the admin password: %s", e.msg);
		return;
	}
	/* 20 characters of an alphabet without look-alikes: ~115 bits */
	static const char alpha[] = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
	for (size_t i = 0; i < 20; i++)
		pw[i] = alpha[randombytes_uniform(sizeof alpha - 1)];
	pw[20] = '\0';
	if (auth_admin_set(n->cfg, pw, &e) < 0) {
		log_error("web: cannot store the admin password: %s", e.msg);
		return;
	}
	char url[300];
	links_base_url(n, url, sizeof url);
	fprintf(stderr,
		"rampartd: ==================================================================\n"
		"rampartd: initial admin password: %s\n"
		"rampartd: log in at %s/ as \"admin\"; change it: rampart admin passwd\n"
		"rampartd: ==================================================================\n",
		pw, url);
	fflush(stderr);
	sodium_memzero(pw, sizeof pw);
}
