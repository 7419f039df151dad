/* Settings and domains on top of the configuration store: effective
 * values through the scopes (user -> domain -> node -> global ->
 * default), validated writes, listings, and the domain table. */
#include "store/config.h"
#include "store/config_int.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "store/settings.h"
#include "util/log.h"

/* ---- settings: reads ------------------------------------------------ */

static int scope_parse(const char *s, struct scope *sc, struct err *e)
{
	sc->ident[0] = '\0';
	if (!s || !*s || strcmp(s, "global") == 0) {
		sc->kind = SCOPE_GLOBAL;
		return 0;
	}
	if (strcmp(s, "node") == 0) {
		sc->kind = SCOPE_NODE;
		return 0;
	}
	if (strncmp(s, "domain:", 7) == 0) {
		sc->kind = SCOPE_DOMAIN;
		return settings_domain_normalize(s + 7, sc->ident, sizeof sc->ident, e);
	}
	if (strncmp(s, "user:", 5) == 0) {
		sc->kind = SCOPE_USER;
		return settings_address_normalize(s + 5, sc->ident, sizeof sc->ident, e);
	}
	return err_set(e, "bad scope \"%s\": expected global, node, domain:<name> or user:<address>",
		       log_esc(s));
}

/* Key of a setting at one scope; ident is already lower case. */
static int setting_key(unsigned kind, const char *ident, const char *name, char *out,
		       size_t outlen)
{
	int n;
	switch (kind) {
	case SCOPE_DOMAIN: n = snprintf(out, outlen, "setting/domain/%s/%s", ident, name); break;
	case SCOPE_USER: n = snprintf(out, outlen, "setting/user/%s/%s", ident, name); break;
	case SCOPE_NODE: n = snprintf(out, outlen, "setting/node/%s", name); break;
	default: n = snprintf(out, outlen, "setting/global/%s", name); break;
	}
	return n > 0 && (size_t)n < outlen ? 0 : -1;
}

/* Live value of key into out; caller holds the rwlock. */
int cfg_lookup_locked(struct config_store *cs, const char *key, char *out, size_t outlen)
{
	struct kv *kv = cfg_map_find(cs, key);
	if (!kv || !kv->value)
		return 0;
	snprintf(out, outlen, "%s", kv->value);
	return 1;
}

/* One level of a resolution: the scope kind and who it is for. */
struct level {
	unsigned kind;
	const char *ident;
};

/* First level that holds a value (out filled, its kind returned) or the
 * default (0 returned). idents are lower-cased here: this is the hot
 * path, and an identity that is not valid simply matches nothing. */
static unsigned resolve(struct config_store *cs, const struct setting_def *d,
			const struct level *lv, size_t n, char *out, size_t outlen)
{
	char key[KEY_MAX + 1], id[320] = "";
	unsigned found = 0;
	pthread_rwlock_rdlock(&cs->lock);
	for (size_t i = 0; i < n && !found; i++) {
		if (!(d->scopes & lv[i].kind))
			continue;
		if (lv[i].kind & (SCOPE_DOMAIN | SCOPE_USER)) {
			if (!lv[i].ident || cfg_lower_copy(lv[i].ident, id, sizeof id) < 0)
				continue;
		}
		if (setting_key(lv[i].kind, id, d->name, key, sizeof key) == 0 &&
		    cfg_lookup_locked(cs, key, out, outlen))
			found = lv[i].kind;
	}
	pthread_rwlock_unlock(&cs->lock);
	if (!found)
		snprintf(out, outlen, "%s", d->def);
	return found;
}

static const struct setting_def *must_find(const char *name)
{
	const struct setting_def *d = settings_find(name);
	if (!d)
		log_panic("config: unknown setting '%s'", name ? name : "(null)");
	return d;
}

static void effective(struct config_store *cs, const struct setting_def *d, const char *domain,
		      const char *user, char *out, size_t outlen)
{
	if (!domain && user && strrchr(user, '@'))
		domain = strrchr(user, '@') + 1;
	const struct level lv[] = {
		{SCOPE_USER, user}, {SCOPE_DOMAIN, domain}, {SCOPE_NODE, NULL}, {SCOPE_GLOBAL, NULL},
	};
	resolve(cs, d, lv, 4, out, outlen);
}

int64_t config_int(struct config_store *cs, const char *name, const char *domain, const char *user)
{
	const struct setting_def *d = must_find(name);
	char v[SETTING_VALUE_MAX + 1];
	if (d->type == SETTING_FLOAT || d->type == SETTING_STRING || d->type == SETTING_ENUM)
		log_panic("config: config_int on %s setting %s", settings_type_name(d->type), name);
	effective(cs, d, domain, user, v, sizeof v);
	if (d->type == SETTING_BOOL)
		return strcmp(v, "true") == 0;
	return strtoll(v, NULL, 10);
}

double config_float(struct config_store *cs, const char *name, const char *domain, const char *user)
{
	const struct setting_def *d = must_find(name);
	char v[SETTING_VALUE_MAX + 1];
	if (d->type == SETTING_BOOL || d->type == SETTING_STRING || d->type == SETTING_ENUM)
		log_panic("config: config_float on %s setting %s", settings_type_name(d->type), name);
	effective(cs, d, domain, user, v, sizeof v);
	return strtod(v, NULL);
}

int config_bool(struct config_store *cs, const char *name, const char *domain, const char *user)
{
	const struct setting_def *d = must_find(name);
	char v[16];
	if (d->type != SETTING_BOOL)
		log_panic("config: config_bool on %s setting %s", settings_type_name(d->type), name);
	effective(cs, d, domain, user, v, sizeof v);
	return strcmp(v, "true") == 0;
}

void config_str(struct config_store *cs, const char *name, const char *domain, const char *user,
		char *out, size_t outlen)
{
	effective(cs, must_find(name), domain, user, out, outlen);
}

/* The names the gateway calls itself by: the node-local default_hostname
 * setting, else the bootstrap host name; default_domain, else that name. */
void config_hostname(struct config_store *cs, const char *boot_hostname, char *out, size_t outlen)
{
	config_str(cs, "default_hostname", NULL, NULL, out, outlen);
	if (!out[0])
		snprintf(out, outlen, "%s", boot_hostname);
}

void config_default_domain(struct config_store *cs, const char *boot_hostname, char *out,
			   size_t outlen)
{
	config_str(cs, "default_domain", NULL, NULL, out, outlen);
	if (!out[0])
		config_hostname(cs, boot_hostname, out, outlen);
}

/* ---- settings: writes and listing ---------------------------------- */

/* Setting + scope -> key, with the administrator-facing checks. */
static const struct setting_def *scoped_key(const char *name, const char *scope, char *key,
					    size_t keylen, struct err *e)
{
	struct scope sc;
	const struct setting_def *d = settings_find(name);
	if (!d) {
		err_set(e, "unknown setting '%s'", log_esc(name ? name : ""));
		return NULL;
	}
	if (scope_parse(scope, &sc, e) < 0)
		return NULL;
	if (!(d->scopes & sc.kind)) {
		char allowed[64] = "";
		for (unsigned b = 1; b <= SCOPE_NODE; b <<= 1)
			if (d->scopes & b)
				snprintf(allowed + strlen(allowed), sizeof allowed - strlen(allowed),
					 "%s%s", allowed[0] ? ", " : "", settings_scope_name(b));
		err_set(e, "%s cannot be set at %s scope (allowed: %s)", d->name,
			settings_scope_name(sc.kind), allowed);
		return NULL;
	}
	if (setting_key(sc.kind, sc.ident, d->name, key, keylen) < 0) {
		err_set(e, "%s: scope too long", d->name);
		return NULL;
	}
	return d;
}

int config_set(struct config_store *cs, const char *name, const char *scope, const char *value,
	       struct err *e)
{
	char key[KEY_MAX + 1], canon[SETTING_VALUE_MAX + 1];
	const struct setting_def *d = scoped_key(name, scope, key, sizeof key, e);
	if (!d || settings_normalize(d, value, canon, sizeof canon, e) < 0)
		return -1;
	return cfg_write_local(cs, key, canon, e);
}

int config_unset(struct config_store *cs, const char *name, const char *scope, struct err *e)
{
	char key[KEY_MAX + 1], cur[SETTING_VALUE_MAX + 1];
	if (!scoped_key(name, scope, key, sizeof key, e))
		return -1;
	if (!config_get_raw(cs, key, cur, sizeof cur))
		return 0;
	return cfg_write_local(cs, key, NULL, e);
}

int config_get_at(struct config_store *cs, const char *name, const char *scope, char *out,
		  size_t outlen)
{
	char key[KEY_MAX + 1];
	if (!scoped_key(name, scope, key, sizeof key, NULL))
		return 0;
	return config_get_raw(cs, key, out, outlen);
}

json_t *config_settings_json(struct config_store *cs, const char *scope)
{
	struct scope sc;
	if (scope_parse(scope, &sc, NULL) < 0)
		return NULL;
	/* the chain a value at this scope falls back through */
	const char *dom = sc.kind == SCOPE_USER ? strrchr(sc.ident, '@') + 1 : sc.ident;
	struct level lv[3];
	size_t n = 0;
	if (sc.kind == SCOPE_USER)
		lv[n++] = (struct level){SCOPE_USER, sc.ident};
	if (sc.kind & (SCOPE_USER | SCOPE_DOMAIN))
		lv[n++] = (struct level){SCOPE_DOMAIN, dom};
	if (sc.kind == SCOPE_NODE)
		lv[n++] = (struct level){SCOPE_NODE, NULL};
	lv[n++] = (struct level){SCOPE_GLOBAL, NULL};
	json_t *arr = json_array();
	for (size_t i = 0; i < settings_count; i++) {
		const struct setting_def *d = &settings_table[i];
		char v[SETTING_VALUE_MAX + 1];
		unsigned at = resolve(cs, d, lv, n, v, sizeof v);
		json_array_append_new(arr, settings_json(d, v, at == sc.kind));
	}
	return arr;
}

/* ---- domains ------------------------------------------------------- */

int config_domain_add(struct config_store *cs, const char *name, const char *destination,
		      struct err *e)
{
	char dn[256], dest[512], key[300];
	if (settings_domain_normalize(name, dn, sizeof dn, e) < 0 ||
	    settings_destination_normalize(destination, dest, sizeof dest, e) < 0)
		return -1;
	json_t *j = json_pack("{s:s}", "destination", dest);
	char *value = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(j);
	if (!value)
		return err_set(e, "out of memory");
	snprintf(key, sizeof key, "%s%s", cfg_domain_prefix, dn);
	int rc = cfg_write_local(cs, key, value, e);
	free(value);
	return rc;
}

int config_domain_remove(struct config_store *cs, const char *name, struct err *e)
{
	char dn[256], key[300], cur[CANON_MAX];
	if (settings_domain_normalize(name, dn, sizeof dn, e) < 0)
		return -1;
	snprintf(key, sizeof key, "%s%s", cfg_domain_prefix, dn);
	if (!config_get_raw(cs, key, cur, sizeof cur))
		return err_set(e, "domain %s is not configured", dn);
	return cfg_write_local(cs, key, NULL, e);
}

int config_domain_get(struct config_store *cs, const char *name, struct domain_info *out)
{
	char dn[256], key[300];
	if (!name || cfg_lower_copy(name, dn, sizeof dn) < 0)
		return -1;
	snprintf(key, sizeof key, "%s%s", cfg_domain_prefix, dn);
	int rc = -1;
	pthread_rwlock_rdlock(&cs->lock);
	struct kv *kv = cfg_map_find(cs, key);
	if (kv && kv->value) {
		snprintf(out->name, sizeof out->name, "%s", dn);
		snprintf(out->destination, sizeof out->destination, "%s", kv->dest ? kv->dest : "");
		rc = 0;
	}
	pthread_rwlock_unlock(&cs->lock);
	return rc;
}

size_t config_domain_count(struct config_store *cs)
{
	pthread_rwlock_rdlock(&cs->lock);
	size_t n = cs->ndomains;
	pthread_rwlock_unlock(&cs->lock);
	return n;
}

static int kv_cmp(const void *a, const void *b)
{
	return strcmp((*(struct kv *const *)a)->key, (*(struct kv *const *)b)->key);
}

/* Entries (under the read lock, sorted by key) whose key starts with
 * prefix; live only unless tombstones is set. Caller frees the array. */
struct kv **cfg_collect_locked(struct config_store *cs, const char *prefix, int tombstones,
				  size_t *n)
{
	struct kv **v = cfg_xcalloc(cs->nkeys, sizeof *v);
	size_t pl = strlen(prefix), k = 0;
	for (size_t i = 0; i < cs->ntab; i++)
		for (struct kv *kv = cs->tab[i]; kv; kv = kv->next)
			if ((kv->value || tombstones) && strncmp(kv->key, prefix, pl) == 0)
				v[k++] = kv;
	qsort(v, k, sizeof *v, kv_cmp);
	*n = k;
	return v;
}

json_t *config_list_prefix(struct config_store *cs, const char *prefix)
{
	json_t *arr = json_array();
	size_t n;
	pthread_rwlock_rdlock(&cs->lock);
	struct kv **v = cfg_collect_locked(cs, prefix, 0, &n);
	for (size_t i = 0; i < n; i++)
		json_array_append_new(arr, json_pack("{s:s,s:s}", "key", v[i]->key, "value",
						     v[i]->value));
	pthread_rwlock_unlock(&cs->lock);
	free(v);
	return arr;
}

int config_put(struct config_store *cs, const char *key, const char *value, struct err *e)
{
	char canon[CANON_MAX];
	if (cfg_validate_kv(key, value, canon, sizeof canon, e) < 0)
		return -1;
	return cfg_write_local(cs, key, value ? canon : NULL, e);
}

json_t *config_domain_list(struct config_store *cs)
{
	json_t *arr = json_array();
	size_t n, pl = strlen(cfg_domain_prefix);
	pthread_rwlock_rdlock(&cs->lock);
	struct kv **v = cfg_collect_locked(cs, cfg_domain_prefix, 0, &n);
	for (size_t i = 0; i < n; i++)
		json_array_append_new(arr, json_pack("{s:s,s:s}", "name", v[i]->key + pl,
						     "destination", v[i]->dest ? v[i]->dest : ""));
	pthread_rwlock_unlock(&cs->lock);
	free(v);
	return arr;
}
