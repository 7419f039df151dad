#include "store/users.h"

#include <ctype.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/config.h"
#include "store/settings.h"
#include "util/log.h"
#include "util/timeutil.h"

/* What the store offers once the lead's namespace registry lands
 * (notes/webapi-integration.md §1); weak so this file links before. */
extern void config_register_namespace(const char *prefix,
				      int (*check)(const char *key, const char *value, char *canon,
						   size_t canonlen, struct err *e))
	__attribute__((weak));
extern int config_put(struct config_store *cs, const char *key, const char *value,
		      struct err *e) __attribute__((weak));
extern json_t *config_list_prefix(struct config_store *cs, const char *prefix)
	__attribute__((weak));

#define KEY_MAX 1024

static const struct {
	const char *name;
	unsigned bit;
} features[] = {
	{"quarantine", USER_FEAT_QUARANTINE},
	{"scanning", USER_FEAT_SCANNING},
	{"settings", USER_FEAT_SETTINGS},
};

static const char *const sources[] = {"auto", "admin", "import"};

unsigned users_feature_bit(const char *name)
{
	for (size_t i = 0; i < sizeof features / sizeof *features; i++)
		if (name && strcmp(features[i].name, name) == 0)
			return features[i].bit;
	return 0;
}

/* ---- canonical values of the namespaces ---------------------------- */

static int dump_canon(json_t *j, char *canon, size_t canonlen, struct err *e)
{
	char *s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
	int rc = 0;
	if (!s || strlen(s) >= canonlen)
		rc = err_set(e, "value too long");
	else
		memcpy(canon, s, strlen(s) + 1);
	free(s);
	return rc;
}

/* Non-negative integer member (0 when absent). */
static int get_ms(json_t *j, const char *name, json_int_t *out, struct err *e)
{
	json_t *v = json_object_get(j, name);
	*out = 0;
	if (!v)
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < 0)
		return err_set(e, "%s must be a non-negative integer", name);
	*out = json_integer_value(v);
	return 0;
}

static int is_hex(const char *s, size_t n)
{
	if (strlen(s) != n)
		return 0;
	for (; *s; s++)
		if (!isdigit((unsigned char)*s) && !(*s >= 'a' && *s <= 'f'))
			return 0;
	return 1;
}

static int hash_ok(const char *h, int allow_empty)
{
	if (!h)
		return 0;
	if (!*h)
		return allow_empty;
	if (strncmp(h, "$argon2id$", 10) != 0 || strlen(h) >= USERS_HASH_MAX)
		return 0;
	for (const char *p = h; *p; p++)
		if (*p <= 0x20 || *p > 0x7e)
			return 0;
	/* -1: not a hash libsodium can verify (truncated, bad parameters) */
	return sodium_init() >= 0 &&
	       crypto_pwhash_str_needs_rehash(h, crypto_pwhash_OPSLIMIT_INTERACTIVE,
					      crypto_pwhash_MEMLIMIT_INTERACTIVE) >= 0;
}

/* An address in a key: canonical, no '/'. */
static int key_addr(const char *s, size_t n, char *out, size_t outlen, struct err *e)
{
	char raw[USERS_ADDR_MAX], canon[USERS_ADDR_MAX];
	if (n == 0 || n >= sizeof raw)
		return err_set(e, "bad address in key");
	memcpy(raw, s, n);
	raw[n] = '\0';
	if (strchr(raw, '/') || settings_address_normalize(raw, canon, sizeof canon, e) < 0)
		return err_set(e, "bad address '%s' in key", log_esc(raw));
	if (strcmp(raw, canon) != 0)
		return err_set(e, "address '%s' is not in canonical (lower case) form", log_esc(raw));
	snprintf(out, outlen, "%s", canon);
	return 0;
}

static int check_user(const char *key, json_t *j, char *canon, size_t canonlen, struct err *e)
{
	char addr[USERS_ADDR_MAX];
	json_int_t created, changed;
	if (key_addr(key + 5, strlen(key + 5), addr, sizeof addr, e) < 0)
		return -1;
	if (get_ms(j, "created_ms", &created, e) < 0 || get_ms(j, "pw_changed_ms", &changed, e) < 0)
		return -1;
	json_t *h = json_object_get(j, "password_hash");
	const char *hash = h ? json_string_value(h) : "";
	if (!hash_ok(hash, 1))
		return err_set(e, "password_hash must be an argon2id hash or empty");
	const char *src = json_string_value(json_object_get(j, "source"));
	size_t si = 0;
	while (si < sizeof sources / sizeof *sources && (!src || strcmp(src, sources[si]) != 0))
		si++;
	if (si == sizeof sources / sizeof *sources)
		return err_set(e, "source must be auto, admin or import");
	json_t *f = json_object_get(j, "features"), *cf = json_object();
	if (f && !json_is_object(f)) {
		json_decref(cf);
		return err_set(e, "features must be an object");
	}
	for (size_t i = 0; i < sizeof features / sizeof *features; i++) {
		json_t *b = json_object_get(f, features[i].name);
		if (b && !json_is_boolean(b)) {
			json_decref(cf);
			return err_set(e, "features.%s must be true or false", features[i].name);
		}
		json_object_set_new(cf, features[i].name, json_boolean(!b || json_is_true(b)));
	}
	json_t *out = json_pack("{s:I, s:I, s:s, s:s, s:o}", "created_ms", created, "pw_changed_ms",
				changed, "password_hash", hash, "source", sources[si], "features", cf);
	int rc = dump_canon(out, canon, canonlen, e);
	json_decref(out);
	return rc;
}

static int check_ulist(const char *key, json_t *j, char *canon, size_t canonlen, struct err *e)
{
	const char *rest = key + 6, *s1 = strchr(rest, '/');
	const char *s2 = s1 ? strchr(s1 + 1, '/') : NULL;
	char addr[USERS_ADDR_MAX], lname[16], entry[USERS_ADDR_MAX];
	enum user_list l;
	if (!s2 || key_addr(rest, (size_t)(s1 - rest), addr, sizeof addr, e) < 0)
		return err_set(e, "expected ulist/<address>/<list>/<entry>");
	snprintf(lname, sizeof lname, "%.*s", (int)(s2 - s1 - 1), s1 + 1);
	if (users_list_parse(lname, &l) < 0)
		return err_set(e, "unknown list '%s'", log_esc(lname));
	if (users_list_entry_normalize(s2 + 1, entry, sizeof entry, e) < 0)
		return -1;
	if (strcmp(entry, s2 + 1) != 0)
		return err_set(e, "entry '%s' is not canonical", log_esc(s2 + 1));
	json_int_t added;
	if (!j)
		return 0;
	if (get_ms(j, "added_ms", &added, e) < 0)
		return -1;
	json_t *out = json_pack("{s:I}", "added_ms", added);
	int rc = dump_canon(out, canon, canonlen, e);
	json_decref(out);
	return rc;
}

static int check_token(const char *key, json_t *j, char *canon, size_t canonlen, struct err *e)
{
	if (!is_hex(key + 6, 12))
		return err_set(e, "token id must be 12 lower-case hex digits");
	if (!j)
		return 0;
	const char *name = json_string_value(json_object_get(j, "name"));
	const char *hash = json_string_value(json_object_get(j, "hash"));
	json_int_t created;
	if (!name || !*name || strlen(name) > 100)
		return err_set(e, "token name must be 1-100 characters");
	if (!hash || !is_hex(hash, 64))
		return err_set(e, "token hash must be 64 hex digits");
	if (get_ms(j, "created_ms", &created, e) < 0)
		return -1;
	json_t *out = json_pack("{s:s, s:s, s:I}", "name", name, "hash", hash, "created_ms", created);
	int rc = dump_canon(out, canon, canonlen, e);
	json_decref(out);
	return rc;
}

static int check_web(const char *key, json_t *j, char *canon, size_t canonlen, struct err *e)
{
	json_t *out = NULL;
	json_int_t changed;
	if (strcmp(key, "web/admin") == 0) {
		if (!j)
			return 0;
		const char *h = json_string_value(json_object_get(j, "password_hash"));
		if (!hash_ok(h, 0))
			return err_set(e, "web/admin: password_hash must be an argon2id hash");
		if (get_ms(j, "changed_ms", &changed, e) < 0)
			return -1;
		out = json_pack("{s:s, s:I}", "password_hash", h, "changed_ms", changed);
	} else if (strcmp(key, "web/link_key") == 0) {
		if (!j)
			return 0;
		const char *k = json_string_value(json_object_get(j, "key"));
		if (!k || !is_hex(k, 64))
			return err_set(e, "web/link_key: key must be 64 hex digits");
		out = json_pack("{s:s}", "key", k);
	} else {
		return err_set(e, "unknown key %s", log_esc(key));
	}
	int rc = dump_canon(out, canon, canonlen, e);
	json_decref(out);
	return rc;
}

static const struct {
	const char *prefix;
	int (*check)(const char *key, json_t *j, char *canon, size_t canonlen, struct err *e);
} spaces[] = {
	{"user/", check_user},
	{"ulist/", check_ulist},
	{"token/", check_token},
	{"web/", check_web},
};

/* The store's namespace callback: key shape always, value when live. */
static int users_key_check(const char *key, const char *value, char *canon, size_t canonlen,
			   struct err *e)
{
	for (size_t i = 0; i < sizeof spaces / sizeof *spaces; i++) {
		if (strncmp(key, spaces[i].prefix, strlen(spaces[i].prefix)) != 0)
			continue;
		if (!value) /* tombstone: the key shape is enough, except for user/ */
			return spaces[i].check == check_user ? 0 : spaces[i].check(key, NULL, canon, canonlen, e);
		json_t *j = json_loads(value, JSON_REJECT_DUPLICATES, NULL);
		int rc = json_is_object(j) ? spaces[i].check(key, j, canon, canonlen, e)
					   : err_set(e, "%s: value must be a JSON object", log_esc(key));
		json_decref(j);
		return rc;
	}
	return err_set(e, "unknown key %s", log_esc(key));
}

void users_register_config(void)
{
	if (sodium_init() < 0)
		log_fatal("libsodium cannot be initialised");
	if (!config_register_namespace) {
		log_warn("users: the config store cannot hold user/ keys (no namespace registry)");
		return;
	}
	for (size_t i = 0; i < sizeof spaces / sizeof *spaces; i++)
		config_register_namespace(spaces[i].prefix, users_key_check);
}

/* ---- raw keys -------------------------------------------------------- */

int users_kv_put(struct config_store *cs, const char *key, const char *value, struct err *e)
{
	if (!config_put)
		return err_set(e, "this build's config store cannot hold %s", log_esc(key));
	return config_put(cs, key, value, e);
}

json_t *users_kv_list(struct config_store *cs, const char *prefix)
{
	if (config_list_prefix)
		return config_list_prefix(cs, prefix);
	/* fallback: filter a full export */
	json_t *all = config_export(cs), *out = json_array(), *v;
	const char *k;
	json_object_foreach(json_object_get(all, "keys"), k, v)
	{
		if (strncmp(k, prefix, strlen(prefix)) == 0)
			json_array_append_new(out, json_pack("{s:s, s:O}", "key", k, "value", v));
	}
	json_decref(all);
	return out;
}

/* ---- records ---------------------------------------------------------- */

void users_rec_init(struct user_rec *u, const char *addr, const char *source)
{
	memset(u, 0, sizeof *u);
	snprintf(u->address, sizeof u->address, "%s", addr);
	snprintf(u->source, sizeof u->source, "%s", source ? source : "admin");
	u->created_ms = time_now_ms();
	u->features = USER_FEAT_ALL;
}

static int rec_parse(const char *addr, const char *value, struct user_rec *u)
{
	json_t *j = json_loads(value, 0, NULL);
	if (!json_is_object(j)) {
		json_decref(j);
		return -1;
	}
	users_rec_init(u, addr, json_string_value(json_object_get(j, "source")));
	u->created_ms = json_integer_value(json_object_get(j, "created_ms"));
	u->pw_changed_ms = json_integer_value(json_object_get(j, "pw_changed_ms"));
	snprintf(u->password_hash, sizeof u->password_hash, "%s",
		 json_string_value(json_object_get(j, "password_hash")) ?: "");
	json_t *f = json_object_get(j, "features");
	for (size_t i = 0; i < sizeof features / sizeof *features; i++)
		if (json_is_false(json_object_get(f, features[i].name)))
			u->features &= ~features[i].bit;
	json_decref(j);
	return 0;
}

/* Lower-case copy of an address for key lookups; -1 when unusable. */
static int addr_key(const char *addr, char *out, size_t outlen)
{
	size_t n = addr ? strlen(addr) : 0;
	if (n == 0 || n >= outlen || strchr(addr, '/'))
		return -1;
	for (size_t i = 0; i <= n; i++)
		out[i] = (char)tolower((unsigned char)addr[i]);
	return 0;
}

int users_get(struct config_store *cs, const char *addr, struct user_rec *u)
{
	char a[USERS_ADDR_MAX], key[KEY_MAX], value[4096];
	if (addr_key(addr, a, sizeof a) < 0)
		return -1;
	snprintf(key, sizeof key, "user/%s", a);
	if (!config_get_raw(cs, key, value, sizeof value))
		return -1;
	return rec_parse(a, value, u);
}

json_t *users_json(const struct user_rec *u)
{
	json_t *f = json_object();
	for (size_t i = 0; i < sizeof features / sizeof *features; i++)
		json_object_set_new(f, features[i].name, json_boolean(u->features & features[i].bit));
	return json_pack("{s:s, s:I, s:s, s:b, s:o}", "address", u->address, "created_ms",
			 (json_int_t)u->created_ms, "source", u->source, "has_password",
			 u->password_hash[0] != '\0', "features", f);
}

int users_put(struct config_store *cs, const struct user_rec *u, struct err *e)
{
	char a[USERS_ADDR_MAX], key[KEY_MAX];
	if (settings_address_normalize(u->address, a, sizeof a, e) < 0)
		return -1;
	if (strchr(a, '/'))
		return err_set(e, "bad address \"%s\": '/' is not allowed", log_esc(a));
	json_t *f = json_object();
	for (size_t i = 0; i < sizeof features / sizeof *features; i++)
		json_object_set_new(f, features[i].name, json_boolean(u->features & features[i].bit));
	json_t *j = json_pack("{s:I, s:I, s:s, s:s, s:o}", "created_ms", (json_int_t)u->created_ms,
			      "pw_changed_ms", (json_int_t)u->pw_changed_ms, "password_hash",
			      u->password_hash, "source", u->source, "features", f);
	char *value = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(j);
	snprintf(key, sizeof key, "user/%s", a);
	int rc = users_kv_put(cs, key, value, e);
	free(value);
	return rc;
}

int users_delete(struct config_store *cs, const char *addr, struct err *e)
{
	char a[USERS_ADDR_MAX], key[KEY_MAX], scope[USERS_ADDR_MAX + 8];
	struct user_rec u;
	if (addr_key(addr, a, sizeof a) < 0 || users_get(cs, a, &u) < 0)
		return err_set(e, "no user %s", log_esc(addr ? addr : ""));
	snprintf(scope, sizeof scope, "user:%s", a);
	for (size_t i = 0; i < settings_count; i++)
		if ((settings_table[i].scopes & SCOPE_USER) &&
		    config_unset(cs, settings_table[i].name, scope, e) < 0)
			return -1;
	snprintf(key, sizeof key, "ulist/%s/", a);
	json_t *rows = users_kv_list(cs, key), *r;
	size_t i;
	json_array_foreach(rows, i, r)
	{
		if (users_kv_put(cs, json_string_value(json_object_get(r, "key")), NULL, e) < 0) {
			json_decref(rows);
			return -1;
		}
	}
	json_decref(rows);
	snprintf(key, sizeof key, "user/%s", a);
	return users_kv_put(cs, key, NULL, e);
}

json_t *users_all(struct config_store *cs)
{
	json_t *rows = users_kv_list(cs, "user/"), *r, *out = json_array();
	size_t i;
	json_array_foreach(rows, i, r)
	{
		struct user_rec u;
		const char *key = json_string_value(json_object_get(r, "key"));
		if (rec_parse(key + 5, json_string_value(json_object_get(r, "value")), &u) == 0)
			json_array_append_new(out, users_json(&u));
	}
	json_decref(rows);
	return out;
}

size_t users_count(struct config_store *cs)
{
	json_t *rows = users_kv_list(cs, "user/");
	size_t n = json_array_size(rows);
	json_decref(rows);
	return n;
}

/* ---- passwords --------------------------------------------------------- */

int users_password_check(const char *pw, struct err *e)
{
	if (!pw)
		return err_set(e, "a password is required");
	size_t chars = 0;
	for (const unsigned char *p = (const unsigned char *)pw; *p; p++) {
		if (*p < 0x20 || *p == 0x7f)
			return err_set(e, "the password must not contain control characters");
		chars += (*p & 0xc0) != 0x80;
	}
	if (chars < USERS_PASSWORD_MIN || chars > USERS_PASSWORD_MAX)
		return err_set(e, "the password must be %d to %d characters long", USERS_PASSWORD_MIN,
			       USERS_PASSWORD_MAX);
	return 0;
}

int users_password_hash(const char *pw, char out[USERS_HASH_MAX], struct err *e)
{
	if (sodium_init() < 0 ||
	    crypto_pwhash_str(out, pw, strlen(pw), crypto_pwhash_OPSLIMIT_INTERACTIVE,
			      crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0)
		return err_set(e, "cannot hash the password (out of memory)");
	return 0;
}

static char dummy_hash[USERS_HASH_MAX];
static pthread_once_t dummy_once = PTHREAD_ONCE_INIT;

static void dummy_make(void)
{
	if (users_password_hash("not-a-password-at-all", dummy_hash, NULL) < 0)
		dummy_hash[0] = '\0';
}

int users_password_verify(const char *hash, const char *pw)
{
	if (!pw)
		return 0;
	if (!hash || !hash_ok(hash, 0)) {
		/* same cost as a real check: no user enumeration by timing */
		pthread_once(&dummy_once, dummy_make);
		if (dummy_hash[0] && crypto_pwhash_str_verify(dummy_hash, pw, strlen(pw)) == 0)
			return 0; /* the dummy never identifies anyone */
		return 0;
	}
	return crypto_pwhash_str_verify(hash, pw, strlen(pw)) == 0;
}

/* ---- settings that may not be in the table yet ------------------------ */

int64_t users_setting_int(struct config_store *cs, const char *name, const char *user, int64_t def)
{
	const struct setting_def *d = settings_find(name);
	if (!d || d->type == SETTING_FLOAT || d->type == SETTING_STRING || d->type == SETTING_ENUM)
		return def;
	return config_int(cs, name, NULL, user);
}

void users_setting_str(struct config_store *cs, const char *name, const char *user,
		       const char *def, char *out, size_t outlen)
{
	if (!settings_find(name))
		snprintf(out, outlen, "%s", def);
	else
		config_str(cs, name, NULL, user, out, outlen);
}

int users_scanning_enabled(struct config_store *cs, const char *rcpt)
{
	struct user_rec u;
	return users_get(cs, rcpt, &u) < 0 || (u.features & USER_FEAT_SCANNING);
}

int users_quarantine_enabled(struct config_store *cs, const char *rcpt)
{
	struct user_rec u;
	if (users_get(cs, rcpt, &u) == 0 && !(u.features & USER_FEAT_QUARANTINE))
		return 0;
	return users_setting_int(cs, "quarantine_enabled", rcpt, 1) != 0;
}
