/* Who may call what (web_authorize) and the authentication endpoints:
 * login, logout, session, set-password links, the admin password and
 * API tokens (docs/api.md §2, §4). */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "node.h"
#include "store/config.h"
#include "store/db.h"
#include "store/settings.h"
#include "store/users.h"
#include "util/log.h"
#include "util/net.h"
#include "util/timeutil.h"
#include "web/auth.h"
#include "web/web_int.h"

#define FORGOT_INTERVAL_MS (10 * 60 * 1000)

int web_ip_in_list(const char *cidrs, const char *ip)
{
	char list[4096];
	int any = 0;
	char *save = NULL;
	snprintf(list, sizeof list, "%s", cidrs ? cidrs : "");
	for (char *p = strtok_r(list, ", \t", &save); p; p = strtok_r(NULL, ", \t", &save)) {
		struct cidr cidr;
		any = 1;
		if (net_parse_cidr(p, &cidr, NULL) == 0 && net_cidr_match_text(&cidr, ip))
			return 1;
	}
	return !any;
}

/* Admin IP ranges: blank = anywhere. */
static int admin_ip_allowed(struct api_call *c)
{
	char list[4096];
	users_setting_str(c->node->cfg, "admin_allowed_ips", NULL, "", list, sizeof list);
	return web_ip_in_list(list, c->client_ip);
}

static void set_principal(struct api_call *c, enum api_role role, const char *user)
{
	c->role = role;
	snprintf(c->user, sizeof c->user, "%s", user);
}

/* Session cookie -> c; 1 found, 0 none, -1 a cookie that is no longer valid. */
static int from_cookie(struct api_call *c, const char *cookie)
{
	struct auth_session s;
	struct user_rec u;
	if (!cookie)
		return 0;
	if (auth_session_lookup(c, cookie, &s) < 0)
		return -1;
	/* a deleted account ends its sessions */
	if (s.role == API_ROLE_USER && users_get(c->node->cfg, s.user, &u) < 0) {
		auth_session_end(c->db, s.id);
		return -1;
	}
	set_principal(c, s.role, s.user);
	snprintf(c->session, sizeof c->session, "%s", s.id);
	snprintf(c->csrf, sizeof c->csrf, "%s", s.csrf);
	c->expires_ms = s.expires_ms;
	return 1;
}

int web_authorize(struct api_call *c, const struct api_route *r, const char *cookie,
		  const char *bearer, const char *csrf)
{
	if (c->trusted) {
		set_principal(c, API_ROLE_ADMIN, "admin");
		return 0;
	}
	int stale = 0;
	if (bearer) {
		if (auth_token_check(c->node->cfg, c->db, bearer, c->token_id) < 0) {
			api_error(c, 401, NULL, "invalid API token");
			return -1;
		}
		set_principal(c, API_ROLE_ADMIN, "");
		snprintf(c->user, sizeof c->user, "token:%s", c->token_id);
	} else {
		stale = from_cookie(c, cookie) < 0;
	}
	if (c->role == API_ROLE_ADMIN && !admin_ip_allowed(c)) {
		api_error(c, 403, NULL, "administration is not allowed from %s", c->client_ip);
		return -1;
	}
	int flags = r->on_loop;
	if (!(flags & API_PUBLIC)) {
		if (c->role == API_ROLE_NONE) {
			api_error(c, 401, NULL, stale ? "your session has expired: log in again"
						      : "authentication required");
			if (stale)
				auth_cookie_header("", c->set_cookie, sizeof c->set_cookie);
			return -1;
		}
		if ((flags & API_USER) && c->role != API_ROLE_USER) {
			api_error(c, 403, NULL, "only for user accounts (administrators use /users/...)");
			return -1;
		}
		if (!(flags & (API_USER | API_ANY)) && c->role != API_ROLE_ADMIN) {
			api_error(c, 403, NULL, "administrators only");
			return -1;
		}
	}
	if (c->session[0] && strcmp(c->method, "GET") != 0 && !(flags & API_NO_CSRF) &&
	    (!csrf || !auth_str_eq(csrf, c->csrf))) {
		api_error(c, 403, "X-CSRF-Token", "missing or invalid CSRF token");
		return -1;
	}
	return 0;
}

/* ---- login, logout, session -------------------------------------------- */

static void login_ok(struct api_call *c, enum api_role role, const char *user)
{
	char cookie[AUTH_HEX];
	struct auth_session s;
	struct err e;
	if (auth_session_create(c, role, user, cookie, &s, &e) < 0)
		return api_error(c, 500, NULL, "%s", e.msg);
	auth_cookie_header(cookie, c->set_cookie, sizeof c->set_cookie);
	c->resp = auth_session_json(c->node->cfg, &s);
	log_info("web: %s %s logged in from %s", role == API_ROLE_ADMIN ? "admin" : "user",
		 log_esc(user), c->client_ip);
}

static int throttled(struct api_call *c, const char *ukey, const char *ipkey)
{
	int a = auth_locked(c->db, ukey), b = auth_locked(c->db, ipkey);
	int wait = a > b ? a : b;
	if (!wait)
		return 0;
	api_error(c, 429, NULL, "too many failed logins: try again in %d seconds", wait);
	c->retry_after = wait;
	return 1;
}

static void api_login(struct api_call *c)
{
	const char *name, *pw;
	if (api_body_str(c, "username", 1, &name) < 0 || api_body_str(c, "password", 1, &pw) < 0)
		return;
	if (strlen(name) > 320)
		return api_error(c, 400, "username", "username too long");
	if (strlen(pw) > 1024)
		return api_error(c, 400, "password", "password too long");
	char user[USERS_ADDR_MAX], ukey[USERS_ADDR_MAX + 4], ipkey[80];
	for (size_t i = 0; i <= strlen(name); i++)
		user[i] = (char)tolower((unsigned char)name[i]);
	snprintf(ukey, sizeof ukey, "u:%s", user);
	snprintf(ipkey, sizeof ipkey, "ip:%s", c->client_ip);
	if (throttled(c, ukey, ipkey))
		return;
	int admin = strcmp(user, "admin") == 0, ok;
	if (admin) {
		set_principal(c, API_ROLE_ADMIN, "admin");
		if (!admin_ip_allowed(c))
			return api_error(c, 403, NULL, "administration is not allowed from %s", c->client_ip);
		ok = auth_admin_verify(c->node->cfg, pw);
	} else {
		struct user_rec u;
		int found = users_get(c->node->cfg, user, &u) == 0;
		ok = users_password_verify(found ? u.password_hash : NULL, pw) && found;
	}
	if (!ok) {
		struct config_store *cs = c->node->cfg;
		int max = (int)users_setting_int(cs, "login_max_failures", NULL, 5);
		int64_t lock = users_setting_int(cs, "login_lockout", NULL, 900) * 1000;
		auth_failed(c->db, ukey, max, lock);
		auth_failed(c->db, ipkey, max * 4 > 20 ? max * 4 : 20, lock);
		log_warn("web: failed login for %s from %s", log_esc(user), c->client_ip);
		c->role = API_ROLE_NONE;
		return api_error(c, 401, NULL, "wrong username or password");
	}
	auth_clear(c->db, ukey);
	login_ok(c, admin ? API_ROLE_ADMIN : API_ROLE_USER, user);
}

static void api_logout(struct api_call *c)
{
	if (c->session[0])
		auth_session_end(c->db, c->session);
	auth_cookie_header("", c->set_cookie, sizeof c->set_cookie);
	c->resp = json_pack("{s:b}", "logged_out", 1);
}

static void api_session(struct api_call *c)
{
	if (c->role == API_ROLE_NONE)
		return api_error(c, 401, NULL, "not logged in");
	if (!c->session[0]) {
		c->resp = json_pack("{s:s, s:s, s:n}", "role", "admin", "user",
				    c->token_id[0] ? c->user : "admin", "csrf_token");
		return;
	}
	struct auth_session s = {.role = c->role, .expires_ms = c->expires_ms};
	snprintf(s.user, sizeof s.user, "%s", c->user);
	snprintf(s.csrf, sizeof s.csrf, "%s", c->csrf);
	c->resp = auth_session_json(c->node->cfg, &s);
}

/* ---- set-password links -------------------------------------------------- */

static void api_set_password(struct api_call *c)
{
	const char *token, *pw;
	struct err e;
	if (api_body_str(c, "token", 1, &token) < 0 || api_body_str(c, "password", 1, &pw) < 0)
		return;
	json_t *claims = links_verify(c->node->cfg, token, &e);
	struct user_rec u;
	const char *addr = json_string_value(json_object_get(claims, "u"));
	const char *purpose = json_string_value(json_object_get(claims, "p"));
	if (!claims || !purpose || strcmp(purpose, "setpw") != 0 || !addr ||
	    users_get(c->node->cfg, addr, &u) < 0 ||
	    json_integer_value(json_object_get(claims, "g")) != u.pw_changed_ms) {
		json_decref(claims);
		return api_error(c, 400, "token", "%s",
				 claims ? "this link has already been used or is no longer valid"
					: e.msg);
	}
	json_decref(claims);
	if (users_password_check(pw, &e) < 0)
		return api_error(c, 400, "password", "%s", e.msg);
	if (users_password_hash(pw, u.password_hash, &e) < 0)
		return api_error(c, 500, NULL, "%s", e.msg);
	u.pw_changed_ms = time_now_ms();
	if (users_put(c->node->cfg, &u, &e) < 0)
		return api_error(c, 500, NULL, "%s", e.msg);
	auth_sessions_end_user(c->db, API_ROLE_USER, u.address, NULL);
	login_ok(c, API_ROLE_USER, u.address);
}

/* 1 when a mail of this kind was sent to key within interval (and
 * otherwise records one now). */
static int mailed_recently(sqlite3 *db, const char *key, int64_t interval)
{
	int64_t now = time_now_ms(), last = 0;
	sqlite3_stmt *st = db_prepare(db, "SELECT sent_ms FROM web_mail_sent WHERE key = ?1", NULL);
	if (st) {
		sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
		if (sqlite3_step(st) == SQLITE_ROW)
			last = sqlite3_column_int64(st, 0);
		sqlite3_finalize(st);
	}
	if (last && now - last < interval)
		return 1;
	st = db_prepare(db,
			"INSERT INTO web_mail_sent(key, sent_ms) VALUES(?1, ?2)"
			" ON CONFLICT(key) DO UPDATE SET sent_ms = ?2",
			NULL);
	if (st) {
		sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, now);
		sqlite3_step(st);
		sqlite3_finalize(st);
	}
	return 0;
}

static void api_forgot(struct api_call *c)
{
	const char *addr;
	char canon[USERS_ADDR_MAX], key[USERS_ADDR_MAX + 8], link[2600];
	struct user_rec u;
	struct err e;
	if (api_body_str(c, "address", 1, &addr) < 0)
		return;
	if (settings_address_normalize(addr, canon, sizeof canon, &e) < 0)
		return api_error(c, 400, "address", "%s", e.msg);
	snprintf(key, sizeof key, "forgot:%s", canon);
	/* the same answer whether the account exists or not */
	if (users_get(c->node->cfg, canon, &u) == 0 &&
	    !mailed_recently(c->db, key, FORGOT_INTERVAL_MS) &&
	    users_mail_link(c->node, c->db, canon, 0, 1, link, sizeof link, &e) < 0)
		log_warn("web: password link for %s: %s", log_esc(canon), e.msg);
	c->status = 202;
	c->resp = json_pack("{s:b}", "sent", 1);
}

/* ---- admin password, API tokens -------------------------------------------- */

static void api_admin_password(struct api_call *c)
{
	const char *pw, *cur = NULL;
	struct err e;
	if (api_body_str(c, "password", 1, &pw) < 0 ||
	    api_body_str(c, "current_password", c->session[0] != 0, &cur) < 0)
		return;
	if (c->session[0] && !auth_admin_verify(c->node->cfg, cur))
		return api_error(c, 400, "current_password", "the current password is wrong");
	if (users_password_check(pw, &e) < 0)
		return api_error(c, 400, "password", "%s", e.msg);
	if (auth_admin_set(c->node->cfg, pw, &e) < 0)
		return api_error(c, 500, NULL, "%s", e.msg);
	auth_sessions_end_user(c->db, API_ROLE_ADMIN, "admin", c->session);
	log_info("web: admin password changed (by %s)", c->trusted ? "the CLI" : log_esc(c->user));
	c->resp = json_pack("{s:b}", "changed", 1);
}

static void api_tokens_list(struct api_call *c)
{
	c->resp = auth_token_list(c->node->cfg, c->db);
}

static void api_token_add(struct api_call *c)
{
	const char *name;
	char token[128], id[16];
	struct err e;
	if (api_body_str(c, "name", 1, &name) < 0)
		return;
	if (auth_token_create(c->node->cfg, name, token, sizeof token, id, &e) < 0)
		return api_error(c, 400, "name", "%s", e.msg);
	c->status = 201;
	c->resp = json_pack("{s:s, s:s, s:s}", "id", id, "name", name, "token", token);
}

static void api_token_remove(struct api_call *c)
{
	struct err e;
	if (auth_token_remove(c->node->cfg, c->param, &e) < 0)
		return api_error(c, 404, "id", "%s", e.msg);
	c->resp = json_pack("{s:s}", "removed", c->param);
}

const struct api_route api_auth_routes[] = {
	{"POST", "/auth/login", api_login, API_PUBLIC | API_NO_CSRF},
	{"POST", "/auth/logout", api_logout, API_ANY},
	{"GET", "/session", api_session, API_PUBLIC},
	{"POST", "/auth/set-password", api_set_password, API_PUBLIC | API_NO_CSRF},
	{"POST", "/auth/forgot", api_forgot, API_PUBLIC | API_NO_CSRF},
	{"PUT", "/admin/password", api_admin_password, 0},
	{"GET", "/tokens", api_tokens_list, 0},
	{"POST", "/tokens", api_token_add, 0},
	{"DELETE", "/tokens/*", api_token_remove, 0},
};
const unsigned api_auth_nroutes = sizeof api_auth_routes / sizeof *api_auth_routes;
