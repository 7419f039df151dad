/* User endpoints (docs/api.md §7): accounts for the administrator under
 * /users, self-service under /me; per-user settings and lists for both. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "node.h"
#include "store/config.h"
#include "store/quarantine.h"
#include "store/settings.h"
#include "store/users.h"
#include "util/log.h"
#include "util/timeutil.h"
#include "web/auth.h"
#include "web/web_int.h"

/* The settings a user sees and changes in their preferences. */
static const char *const user_settings[] = {
	"quarantine_enabled", "quarantine_summary", "tag_score", "quarantine_score", "block_score",
};
static const char *const score_settings[] = {"tag_score", "quarantine_score", "block_score"};

static int is_me(const struct api_call *c)
{
	return strncmp(c->path, "/me", 3) == 0 && (c->path[3] == '/' || !c->path[3]);
}

/* The account the path is about: /me -> the caller, /users/ADDR -> ADDR.
 * -1 with 404 when there is no such account. */
static int subject(struct api_call *c, struct user_rec *u)
{
	char seg[USERS_ADDR_MAX + 8];
	const char *addr = c->user;
	if (!is_me(c)) {
		if (api_seg(c, 1, seg, sizeof seg) < 0) {
			api_error(c, 404, "address", "no such user");
			return -1;
		}
		addr = seg;
	}
	if (users_get(c->node->cfg, addr, u) < 0) {
		api_error(c, 404, "address", "no user %s", addr);
		return -1;
	}
	return 0;
}

/* Users may change their own settings only with the settings feature. */
static int may_change(struct api_call *c, const struct user_rec *u)
{
	if (is_me(c) && !(u->features & USER_FEAT_SETTINGS)) {
		api_error(c, 403, NULL, "the administrator does not allow you to change your settings");
		return 0;
	}
	return 1;
}

static json_t *user_full(struct api_call *c, const struct user_rec *u)
{
	json_t *j = users_json(u);
	if (c->db)
		json_object_set_new(j, "quarantine_count", json_integer(quarantine_count(c->db, u->address)));
	return j;
}

/* "features": {"quarantine": bool, ...} applied to *bits; -1 with 400. */
static int features_from_body(struct api_call *c, unsigned *bits)
{
	json_t *f = json_object_get(c->body, "features"), *v;
	const char *k;
	if (!f)
		return 0;
	if (!json_is_object(f)) {
		api_error(c, 400, "features", "features must be an object of booleans");
		return -1;
	}
	json_object_foreach(f, k, v)
	{
		unsigned bit = users_feature_bit(k);
		if (!bit || !json_is_boolean(v)) {
			api_error(c, 400, "features", "features: %s must be one of quarantine, scanning, "
						      "settings with a true/false value", k);
			return -1;
		}
		*bits = json_is_true(v) ? (*bits | bit) : (*bits & ~bit);
	}
	return 0;
}

/* ---- the administrator's user list --------------------------------------- */

static int feature_filter(const char *f, json_t *user)
{
	static const struct {
		const char *name, *feature;
	} filters[] = {{"quarantine_off", "quarantine"}, {"scanning_off", "scanning"},
		       {"settings_off", "settings"}};
	for (size_t i = 0; i < sizeof filters / sizeof *filters; i++)
		if (strcmp(f, filters[i].name) == 0)
			return json_is_false(json_object_get(json_object_get(user, "features"),
							     filters[i].feature));
	return -1;
}

static int by_created(const void *a, const void *b)
{
	json_int_t x = json_integer_value(json_object_get(*(json_t *const *)a, "created_ms"));
	json_int_t y = json_integer_value(json_object_get(*(json_t *const *)b, "created_ms"));
	return x < y ? -1 : x > y;
}

static void users_list(struct api_call *c)
{
	long long limit = 50, offset = 0;
	if (api_query_int(c, "limit", 1, 1000, &limit) < 0 ||
	    api_query_int(c, "offset", 0, 1LL << 40, &offset) < 0)
		return;
	const char *q = api_query(c, "q"), *feat = api_query(c, "feature");
	const char *hp = api_query(c, "has_password"), *sort = api_query(c, "sort");
	if (feat && feature_filter(feat, NULL) < 0 && strcmp(feat, "") != 0)
		return api_error(c, 400, "feature", "feature must be quarantine_off, scanning_off or settings_off");
	if (hp && strcmp(hp, "true") != 0 && strcmp(hp, "false") != 0)
		return api_error(c, 400, "has_password", "has_password must be true or false");
	if (sort && strcmp(sort, "address") != 0 && strcmp(sort, "created") != 0)
		return api_error(c, 400, "sort", "sort must be address or created");
	json_t *all = users_all(c->node->cfg), *u, *hits = json_array();
	size_t i;
	json_array_foreach(all, i, u)
	{
		const char *addr = json_string_value(json_object_get(u, "address"));
		if (q && *q && !strcasestr(addr, q))
			continue;
		if (feat && *feat && feature_filter(feat, u) != 1)
			continue;
		if (hp && json_is_true(json_object_get(u, "has_password")) != (strcmp(hp, "true") == 0))
			continue;
		json_array_append(hits, u);
	}
	json_decref(all);
	size_t n = json_array_size(hits);
	if (sort && strcmp(sort, "created") == 0) {
		json_t **v = calloc(n ? n : 1, sizeof *v);
		for (i = 0; i < n; i++)
			v[i] = json_incref(json_array_get(hits, i));
		qsort(v, n, sizeof *v, by_created);
		json_array_clear(hits);
		for (i = 0; i < n; i++)
			json_array_append_new(hits, v[i]);
		free(v);
	}
	json_t *rows = json_array();
	for (i = (size_t)offset; i < n && json_array_size(rows) < (size_t)limit; i++) {
		json_t *r = json_array_get(hits, i);
		json_object_set_new(r, "quarantine_count",
				    json_integer(quarantine_count(c->db, json_string_value(json_object_get(r, "address")))));
		json_array_append(rows, r);
	}
	json_decref(hits);
	c->resp = json_pack("{s:I, s:o}", "total", (json_int_t)n, "rows", rows);
}

static void users_add(struct api_call *c)
{
	const char *addr, *pw;
	int send = 0;
	struct user_rec u;
	struct err e;
	char canon[USERS_ADDR_MAX];
	if (api_body_str(c, "address", 1, &addr) < 0 || api_body_str(c, "password", 0, &pw) < 0 ||
	    api_body_bool(c, "send_link", &send) < 0)
		return;
	if (settings_address_normalize(addr, canon, sizeof canon, &e) < 0)
		return api_error(c, 400, "address", "%s", e.msg);
	if (strchr(canon, '/'))
		return api_error(c, 400, "address", "'/' is not allowed in an address");
	if (users_get(c->node->cfg, canon, &u) == 0)
		return api_error(c, 409, "address", "user %s already exists", canon);
	users_rec_init(&u, canon, "admin");
	if (features_from_body(c, &u.features) < 0)
		return;
	if (pw && users_password_check(pw, &e) < 0)
		return api_error(c, 400, "password", "%s", e.msg);
	if (pw && users_password_hash(pw, u.password_hash, &e) < 0)
		return api_error(c, 500, NULL, "%s", e.msg);
	if (pw)
		u.pw_changed_ms = time_now_ms();
	if (users_put(c->node->cfg, &u, &e) < 0)
		return api_error(c, 500, NULL, "%s", e.msg);
	log_info("users: %s added by %s", canon, c->trusted ? "the CLI" : log_esc(c->user));
	c->status = 201;
	c->resp = user_full(c, &u);
	if (send) {
		char link[2600];
		if (users_mail_link(c->node, c->db, canon, 1, c->node->queue != NULL, link, sizeof link, &e) == 0)
			json_object_set_new(c->resp, "link", json_string(link));
	}
}

static json_t *settings_of(struct api_call *c, const char *addr);

static void user_get(struct api_call *c)
{
	struct user_rec u;
	if (subject(c, &u) < 0)
		return;
	c->resp = user_full(c, &u);
	if (!is_me(c)) {
		json_object_set_new(c->resp, "settings", settings_of(c, u.address));
		json_object_set_new(c->resp, "lists", users_lists_json(c->node->cfg, u.address));
	}
}

static void user_update(struct api_call *c)
{
	struct user_rec u;
	struct err e;
	if (subject(c, &u) < 0 || features_from_body(c, &u.features) < 0)
		return;
	if (users_put(c->node->cfg, &u, &e) < 0)
		return api_error(c, 500, NULL, "%s", e.msg);
	c->resp = user_full(c, &u);
}

static void user_delete(struct api_call *c)
{
	struct user_rec u;
	struct err e;
	if (subject(c, &u) < 0)
		return;
	if (users_delete(c->node->cfg, u.address, &e) < 0)
		return api_error(c, 500, NULL, "%s", e.msg);
	if (c->db) {
		if (quarantine_delete_rcpt(c->db, c->node->boot.data_dir, u.address, &e) < 0)
			log_warn("users: quarantine of %s: %s", u.address, e.msg);
		auth_sessions_end_user(c->db, API_ROLE_USER, u.address, NULL);
	}
	log_info("users: %s deleted by %s", u.address, c->trusted ? "the CLI" : log_esc(c->user));
	c->resp = json_pack("{s:s}", "removed", u.address);
}

static void user_password(struct api_call *c)
{
	struct user_rec u;
	struct err e;
	const char *pw, *cur = NULL;
	if (subject(c, &u) < 0 || api_body_str(c, "password", 1, &pw) < 0 ||
	    api_body_str(c, "current_password", is_me(c), &cur) < 0)
		return;
	if (is_me(c) && !users_password_verify(u.password_hash, cur))
		return api_error(c, 400, "current_password", "the current password is wrong");
	if (users_password_check(pw, &e) < 0)
		return api_error(c, 400, "password", "%s", e.msg);
	if (users_password_hash(pw, u.password_hash, &e) < 0)
		return api_error(c, 500, NULL, "%s", e.msg);
	u.pw_changed_ms = time_now_ms();
	if (users_put(c->node->cfg, &u, &e) < 0)
		return api_error(c, 500, NULL, "%s", e.msg);
	if (c->db)
		auth_sessions_end_user(c->db, API_ROLE_USER, u.address, is_me(c) ? c->session : NULL);
	c->resp = json_pack("{s:b}", "changed", 1);
}

static void user_link(struct api_call *c)
{
	struct user_rec u;
	struct err e;
	int send = 0;
	char link[2600];
	if (subject(c, &u) < 0 || api_body_bool(c, "send", &send) < 0)
		return;
	if (send && !c->node->queue)
		return api_error(c, 503, NULL, "rampartd must be running to send mail");
	if (users_mail_link(c->node, c->db, u.address, 0, send, link, sizeof link, &e) < 0)
		return api_error(c, 500, NULL, "%s", e.msg);
	c->resp = json_pack("{s:s, s:b}", "link", link, "mailed", send);
}

/* ---- per-user settings ----------------------------------------------------- */

static json_t *settings_of(struct api_call *c, const char *addr)
{
	char scope[USERS_ADDR_MAX + 8];
	snprintf(scope, sizeof scope, "user:%s", addr);
	json_t *all = web_settings_json(c->node->cfg, scope), *it, *out = json_array();
	int own_scores = 0;
	size_t i;
	json_array_foreach(all, i, it)
	{
		const char *name = json_string_value(json_object_get(it, "name"));
		for (size_t k = 0; k < sizeof user_settings / sizeof *user_settings; k++)
			if (strcmp(name, user_settings[k]) == 0)
				json_array_append(out, it);
		for (size_t k = 0; k < sizeof score_settings / sizeof *score_settings; k++)
			if (strcmp(name, score_settings[k]) == 0 && json_is_true(json_object_get(it, "set")))
				own_scores = 1;
	}
	json_decref(all);
	return json_pack("{s:b, s:o}", "use_defaults", !own_scores, "settings", out);
}

static void settings_get(struct api_call *c)
{
	struct user_rec u;
	if (subject(c, &u) < 0)
		return;
	c->resp = settings_of(c, u.address);
}

static int value_text(json_t *v, char *out, size_t outlen)
{
	if (json_is_string(v))
		snprintf(out, outlen, "%s", json_string_value(v));
	else if (json_is_integer(v))
		snprintf(out, outlen, "%lld", (long long)json_integer_value(v));
	else if (json_is_real(v))
		snprintf(out, outlen, "%.17g", json_real_value(v));
	else if (json_is_boolean(v))
		snprintf(out, outlen, "%s", json_is_true(v) ? "true" : "false");
	else
		return -1;
	return 0;
}

static int is_user_setting(const char *name)
{
	for (size_t k = 0; k < sizeof user_settings / sizeof *user_settings; k++)
		if (strcmp(name, user_settings[k]) == 0 && settings_find(name))
			return 1;
	return 0;
}

static void settings_put(struct api_call *c)
{
	struct user_rec u;
	struct err e;
	char scope[USERS_ADDR_MAX + 8], text[SETTING_VALUE_MAX + 1], canon[SETTING_VALUE_MAX + 1];
	int defaults = 0;
	if (subject(c, &u) < 0 || !may_change(c, &u) || api_body_bool(c, "use_defaults", &defaults) < 0)
		return;
	const char *k;
	json_t *v;
	/* everything is checked before anything is written */
	json_object_foreach(c->body, k, v)
	{
		if (strcmp(k, "use_defaults") == 0)
			continue;
		if (!is_user_setting(k))
			return api_error(c, 400, k, "%s is not a user setting", k);
		if (json_is_null(v))
			continue;
		if (value_text(v, text, sizeof text) < 0)
			return api_error(c, 400, k, "%s must be a string, number or boolean", k);
		if (settings_normalize(settings_find(k), text, canon, sizeof canon, &e) < 0)
			return api_error(c, 400, k, "%s", e.msg);
	}
	snprintf(scope, sizeof scope, "user:%s", u.address);
	for (size_t i = 0; defaults && i < sizeof score_settings / sizeof *score_settings; i++)
		if (settings_find(score_settings[i]) &&
		    config_unset(c->node->cfg, score_settings[i], scope, &e) < 0)
			return api_error(c, 500, NULL, "%s", e.msg);
	json_object_foreach(c->body, k, v)
	{
		if (strcmp(k, "use_defaults") == 0)
			continue;
		int rc = json_is_null(v) ? config_unset(c->node->cfg, k, scope, &e)
					 : (value_text(v, text, sizeof text),
					    config_set(c->node->cfg, k, scope, text, &e));
		if (rc < 0)
			return api_error(c, 400, k, "%s", e.msg);
	}
	c->resp = settings_of(c, u.address);
}

/* ---- white / black lists ---------------------------------------------------- */

static void lists_get(struct api_call *c)
{
	struct user_rec u;
	if (subject(c, &u) < 0)
		return;
	c->resp = users_lists_json(c->node->cfg, u.address);
}

/* The list named in the path (segment after "lists"). */
static int list_of(struct api_call *c, enum user_list *l)
{
	char name[32];
	int at = is_me(c) ? 2 : 3;
	if (api_seg(c, at, name, sizeof name) < 0 || users_list_parse(name, l) < 0) {
		api_error(c, 404, "list", "no such list (whitelist or blacklist)");
		return -1;
	}
	return 0;
}

static void list_add(struct api_call *c)
{
	struct user_rec u;
	enum user_list l;
	const char *entry;
	char canon[USERS_ADDR_MAX];
	struct err e;
	if (subject(c, &u) < 0 || list_of(c, &l) < 0 || !may_change(c, &u) ||
	    api_body_str(c, "entry", 1, &entry) < 0)
		return;
	if (users_list_entry_normalize(entry, canon, sizeof canon, &e) < 0)
		return api_error(c, 400, "entry", "%s", e.msg);
	if (users_list_add(c->node->cfg, u.address, l, canon, &e) < 0)
		return api_error(c, 400, "entry", "%s", e.msg);
	c->status = 201;
	c->resp = json_pack("{s:s, s:s}", "list", users_list_name(l), "entry", canon);
}

static void list_remove(struct api_call *c)
{
	struct user_rec u;
	enum user_list l;
	char entry[USERS_ADDR_MAX + 8];
	struct err e;
	if (subject(c, &u) < 0 || list_of(c, &l) < 0 || !may_change(c, &u))
		return;
	if (api_seg(c, is_me(c) ? 3 : 4, entry, sizeof entry) < 0)
		return api_error(c, 404, "entry", "no such entry");
	if (users_list_remove(c->node->cfg, u.address, l, entry, &e) < 0)
		return api_error(c, 404, "entry", "%s", e.msg);
	c->resp = json_pack("{s:s}", "removed", entry);
}

/* ---- CSV export and import: in api_users_csv.c ------------------------------ */
void users_export(struct api_call *c);
void users_import(struct api_call *c);

const struct api_route api_user_routes[] = {
	{"GET", "/me", user_get, API_USER},
	{"PUT", "/me/password", user_password, API_USER},
	{"GET", "/me/settings", settings_get, API_USER},
	{"PUT", "/me/settings", settings_put, API_USER},
	{"GET", "/me/lists", lists_get, API_USER},
	{"POST", "/me/lists/*", list_add, API_USER},
	{"DELETE", "/me/lists/*/*", list_remove, API_USER},
	{"GET", "/users", users_list, 0},
	{"POST", "/users", users_add, 0},
	{"GET", "/users/export", users_export, 0},
	{"POST", "/users/import", users_import, API_BIG_BODY},
	{"PUT", "/users/*/password", user_password, 0},
	{"POST", "/users/*/link", user_link, 0},
	{"GET", "/users/*/settings", settings_get, 0},
	{"PUT", "/users/*/settings", settings_put, 0},
	{"GET", "/users/*/lists", lists_get, 0},
	{"POST", "/users/*/lists/*", list_add, 0},
	{"DELETE", "/users/*/lists/*/*", list_remove, 0},
	{"GET", "/users/*", user_get, 0},
	{"PUT", "/users/*", user_update, 0},
	{"DELETE", "/users/*", user_delete, 0},
};
const unsigned api_user_nroutes = sizeof api_user_routes / sizeof *api_user_routes;
