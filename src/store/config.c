#include "store/config.h"
#include "store/config_int.h"

#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "store/db.h"
#include "util/log.h"
#include "util/timeutil.h"


const char *const cfg_domain_prefix = "domain/";

void *cfg_xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size);
	if (!p)
		log_panic("config: out of memory");
	return p;
}

static char *xstrdup(const char *s)
{
	char *p = s ? strdup(s) : NULL;
	if (s && !p)
		log_panic("config: out of memory");
	return p;
}

static int is_domain_key(const char *key)
{
	return strncmp(key, cfg_domain_prefix, strlen(cfg_domain_prefix)) == 0;
}

int config_key_is_local(const char *key)
{
	return key && strncmp(key, "setting/node/", 13) == 0;
}

/* ---- in-memory map (FNV-1a, chained, doubled at load factor 1) ---- */

static uint32_t key_hash(const char *s)
{
	uint32_t h = 2166136261u;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h;
}

struct kv *cfg_map_find(const struct config_store *cs, const char *key)
{
	uint32_t h = key_hash(key);
	for (struct kv *kv = cs->tab[h & (cs->ntab - 1)]; kv; kv = kv->next)
		if (kv->hash == h && strcmp(kv->key, key) == 0)
			return kv;
	return NULL;
}

static void map_grow(struct config_store *cs)
{
	size_t n = cs->ntab * 2;
	struct kv **tab = cfg_xcalloc(n, sizeof *tab);
	for (size_t i = 0; i < cs->ntab; i++) {
		struct kv *kv = cs->tab[i], *next;
		for (; kv; kv = next) {
			next = kv->next;
			kv->next = tab[kv->hash & (n - 1)];
			tab[kv->hash & (n - 1)] = kv;
		}
	}
	free(cs->tab);
	cs->tab = tab;
	cs->ntab = n;
}

/* Destination inside a domain/ value, or NULL. */
static char *domain_dest_of(const char *value)
{
	json_t *j = value ? json_loads(value, 0, NULL) : NULL;
	char *dest = xstrdup(json_string_value(json_object_get(j, "destination")));
	json_decref(j);
	return dest;
}

/* Caller holds wlock; takes the rwlock for the swap. */
static void map_put(struct config_store *cs, const char *key, const char *value, uint64_t hlc,
		    uint32_t node)
{
	char *v = xstrdup(value);
	char *dest = is_domain_key(key) ? domain_dest_of(value) : NULL;
	pthread_rwlock_wrlock(&cs->lock);
	struct kv *kv = cfg_map_find(cs, key);
	if (!kv) {
		size_t kl = strlen(key) + 1;
		kv = cfg_xcalloc(1, sizeof *kv + kl);
		memcpy(kv->key, key, kl);
		kv->hash = key_hash(key);
		if (cs->nkeys >= cs->ntab)
			map_grow(cs);
		kv->next = cs->tab[kv->hash & (cs->ntab - 1)];
		cs->tab[kv->hash & (cs->ntab - 1)] = kv;
		cs->nkeys++;
	}
	if (is_domain_key(key))
		cs->ndomains += (v != NULL) - (kv->value != NULL);
	char *oldv = kv->value, *oldd = kv->dest;
	kv->value = v;
	kv->dest = dest;
	kv->hlc = hlc;
	kv->node = node;
	pthread_rwlock_unlock(&cs->lock);
	free(oldv);
	free(oldd);
}

static void map_free(struct config_store *cs)
{
	for (size_t i = 0; i < cs->ntab; i++) {
		struct kv *kv = cs->tab[i], *next;
		for (; kv; kv = next) {
			next = kv->next;
			free(kv->value);
			free(kv->dest);
			free(kv);
		}
	}
	free(cs->tab);
}

/* Lower-case copy without one trailing dot; -1 when it does not fit. */
int cfg_lower_copy(const char *in, char *out, size_t outlen)
{
	size_t n = strlen(in);
	if (n && in[n - 1] == '.')
		n--;
	if (n >= outlen)
		return -1;
	for (size_t i = 0; i < n; i++)
		out[i] = (char)tolower((unsigned char)in[i]);
	out[n] = '\0';
	return 0;
}

/* ---- key namespaces: what may be stored, in canonical form -------- */

/* <ident>/<name> of a scoped setting key, checked against the table. */
static int check_setting(unsigned kind, const char *rest, const char *value, char *canon,
			 size_t canonlen, struct err *e)
{
	const char *slash = strrchr(rest, '/');
	const char *name = kind == SCOPE_GLOBAL || kind == SCOPE_NODE ? rest : (slash ? slash + 1 : "");
	const struct setting_def *d = settings_find(name);
	if (!d)
		return err_set(e, "unknown setting '%s'", log_esc(name));
	if (!(d->scopes & kind))
		return err_set(e, "%s cannot be set at %s scope", d->name, settings_scope_name(kind));
	if (kind == SCOPE_DOMAIN || kind == SCOPE_USER) {
		char id[320], cid[320];
		size_t n = (size_t)(slash - rest);
		if (!slash || n == 0 || n >= sizeof id)
			return err_set(e, "bad setting key");
		memcpy(id, rest, n);
		id[n] = '\0';
		int rc = kind == SCOPE_DOMAIN ? settings_domain_normalize(id, cid, sizeof cid, e)
					      : settings_address_normalize(id, cid, sizeof cid, e);
		if (rc < 0)
			return -1;
		if (strcmp(id, cid) != 0)
			return err_set(e, "'%s' is not in canonical (lower case) form", log_esc(id));
	}
	return settings_normalize(d, value, canon, canonlen, e);
}

/* domain/<name> = {"destination": ...} (other members kept as they are) */
static int ns_domain(unsigned kind, const char *name, const char *value, char *canon,
		     size_t canonlen, struct err *e)
{
	char cn[256], dest[512];
	(void)kind;
	if (settings_domain_normalize(name, cn, sizeof cn, e) < 0)
		return -1;
	if (strcmp(cn, name) != 0)
		return err_set(e, "domain '%s' is not in canonical (lower case) form", log_esc(name));
	json_t *j = json_loads(value, JSON_REJECT_DUPLICATES, NULL);
	const char *d = json_string_value(json_object_get(j, "destination"));
	int rc = -1;
	if (!json_is_object(j) || !d)
		err_set(e, "domain %s: value must be {\"destination\": \"...\"}", name);
	else if (settings_destination_normalize(d, dest, sizeof dest, e) == 0) {
		json_object_set_new(j, "destination", json_string(dest));
		char *s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
		if (s && strlen(s) < canonlen) {
			memcpy(canon, s, strlen(s) + 1);
			rc = 0;
		} else {
			err_set(e, "domain %s: value too long", name);
		}
		free(s);
	}
	json_decref(j);
	return rc;
}

static const struct {
	const char *prefix;
	unsigned kind;
	int (*check)(unsigned kind, const char *rest, const char *value, char *canon,
		     size_t canonlen, struct err *e);
} namespaces[] = {
	{"setting/global/", SCOPE_GLOBAL, check_setting},
	{"setting/node/", SCOPE_NODE, check_setting},
	{"setting/domain/", SCOPE_DOMAIN, check_setting},
	{"setting/user/", SCOPE_USER, check_setting},
	{"domain/", 0, ns_domain},
};

/* Namespaces owned by modules above the store (policy lists, users...),
 * registered at start-up before any store is opened. */
#define CONFIG_MAX_EXTRA_NS 16
static struct {
	char prefix[64];
	config_ns_check check;
} extra_ns[CONFIG_MAX_EXTRA_NS];
static size_t n_extra_ns;
static pthread_mutex_t extra_ns_lock = PTHREAD_MUTEX_INITIALIZER;

void config_register_namespace(const char *prefix, config_ns_check check)
{
	pthread_mutex_lock(&extra_ns_lock);
	for (size_t i = 0; i < n_extra_ns; i++)
		if (strcmp(extra_ns[i].prefix, prefix) == 0) {
			extra_ns[i].check = check; /* registering twice is harmless */
			pthread_mutex_unlock(&extra_ns_lock);
			return;
		}
	if (n_extra_ns == CONFIG_MAX_EXTRA_NS || strlen(prefix) >= sizeof extra_ns[0].prefix)
		log_panic("config: cannot register namespace %s", prefix);
	snprintf(extra_ns[n_extra_ns].prefix, sizeof extra_ns[0].prefix, "%s", prefix);
	extra_ns[n_extra_ns++].check = check;
	pthread_mutex_unlock(&extra_ns_lock);
}

static int validate_extra(const char *key, const char *value, char *canon, size_t canonlen,
			  struct err *e)
{
	for (size_t i = 0; i < n_extra_ns; i++) {
		if (strncmp(key, extra_ns[i].prefix, strlen(extra_ns[i].prefix)) != 0)
			continue;
		if (!value)
			return 0;
		return extra_ns[i].check(key, value, canon, canonlen, e);
	}
	return err_set(e, "unknown key \"%s\"", log_esc(key));
}

/* Key shape; for a live value also its canonical form into canon. */
int cfg_validate_kv(const char *key, const char *value, char *canon, size_t canonlen,
		       struct err *e)
{
	size_t kl = key ? strlen(key) : 0;
	if (kl == 0 || kl > KEY_MAX)
		return err_set(e, "bad key: empty or longer than %d bytes", KEY_MAX);
	for (const char *p = key; *p; p++)
		if (*p <= 0x20 || *p > 0x7e)
			return err_set(e, "bad key \"%s\": only printable ASCII without spaces",
				       log_esc(key));
	if (value && strlen(value) > VALUE_MAX)
		return err_set(e, "key %s: value longer than %d bytes", log_esc(key), VALUE_MAX);
	for (size_t i = 0; i < sizeof namespaces / sizeof namespaces[0]; i++) {
		size_t pl = strlen(namespaces[i].prefix);
		if (strncmp(key, namespaces[i].prefix, pl) != 0)
			continue;
		if (!value) /* a tombstone needs only a well-formed key */
			return 0;
		return namespaces[i].check(namespaces[i].kind, key + pl, value, canon, canonlen, e);
	}
	return validate_extra(key, value, canon, canonlen, e);
}

/* ---- persistence --------------------------------------------------- */

static const char schema[] =
	"CREATE TABLE IF NOT EXISTS config_kv(key TEXT PRIMARY KEY, value TEXT,"
	" hlc INTEGER NOT NULL, node INTEGER NOT NULL, deleted INTEGER NOT NULL DEFAULT 0);"
	"CREATE TABLE IF NOT EXISTS config_meta(name TEXT PRIMARY KEY, value INTEGER NOT NULL);";

static int db_put(struct config_store *cs, const char *key, const char *value, uint64_t hlc,
		  uint32_t node, struct err *e)
{
	sqlite3_stmt *st = db_cached(cs->db,
				     "INSERT INTO config_kv(key, value, hlc, node, deleted)"
				     " VALUES(?1, ?2, ?3, ?4, ?5) ON CONFLICT(key) DO UPDATE SET"
				     " value = excluded.value, hlc = excluded.hlc,"
				     " node = excluded.node, deleted = excluded.deleted",
				     e);
	if (!st)
		return -1;
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	if (value)
		sqlite3_bind_text(st, 2, value, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)hlc);
	sqlite3_bind_int64(st, 4, node);
	sqlite3_bind_int(st, 5, value == NULL);
	return db_step_done(st, e);
}

static int db_put_version(struct config_store *cs, uint64_t version, struct err *e)
{
	sqlite3_stmt *st = db_cached(cs->db,
				     "INSERT INTO config_meta(name, value) VALUES('version', ?1)"
				     " ON CONFLICT(name) DO UPDATE SET value = excluded.value",
				     e);
	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)version);
	return db_step_done(st, e);
}

static int store_load(struct config_store *cs, struct err *e)
{
	sqlite3_stmt *st = db_prepare(cs->db, "SELECT key, value, hlc, node, deleted FROM config_kv", e);
	if (!st)
		return -1;
	char canon[CANON_MAX];
	struct err ve;
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *key = (const char *)sqlite3_column_text(st, 0);
		const char *value = sqlite3_column_int(st, 4) ? NULL
							      : (const char *)sqlite3_column_text(st, 1);
		uint64_t hlc = (uint64_t)sqlite3_column_int64(st, 2);
		if (!key)
			continue;
		/* rows are written validated; one edited by hand is skipped, not trusted */
		if (cfg_validate_kv(key, value, canon, sizeof canon, &ve) < 0) {
			log_warn("config: ignoring stored key %s: %s", log_esc(key), ve.msg);
			continue;
		}
		map_put(cs, key, value ? canon : NULL, hlc, (uint32_t)sqlite3_column_int64(st, 3));
		if (hlc > cs->last_hlc)
			cs->last_hlc = hlc;
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return err_set(e, "load config: %s", sqlite3_errmsg(cs->db));
	st = db_prepare(cs->db, "SELECT value FROM config_meta WHERE name = 'version'", e);
	if (!st)
		return -1;
	if (sqlite3_step(st) == SQLITE_ROW)
		cs->version = (uint64_t)sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return 0;
}

struct config_store *config_open(const char *db_path, struct err *e)
{
	struct config_store *cs = cfg_xcalloc(1, sizeof *cs);
	pthread_mutex_init(&cs->wlock, NULL);
	pthread_mutex_init(&cs->llock, NULL);
	/* glibc prefers readers by default: with scan threads reading all the
	 * time a write could wait forever */
	pthread_rwlockattr_t ra;
	pthread_rwlockattr_init(&ra);
	pthread_rwlockattr_setkind_np(&ra, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	pthread_rwlock_init(&cs->lock, &ra);
	pthread_rwlockattr_destroy(&ra);
	cs->ntab = 64;
	cs->tab = cfg_xcalloc(cs->ntab, sizeof *cs->tab);
	cs->db = db_open(db_path, e);
	if (!cs->db || db_exec(cs->db, schema, e) < 0 || store_load(cs, e) < 0) {
		config_close(cs);
		return NULL;
	}
	return cs;
}

void config_close(struct config_store *cs)
{
	if (!cs)
		return;
	db_close(cs->db);
	map_free(cs);
	pthread_rwlock_destroy(&cs->lock);
	pthread_mutex_destroy(&cs->llock);
	pthread_mutex_destroy(&cs->wlock);
	free(cs);
}

/* ---- the write path ------------------------------------------------ */

/* HLC: never behind the wall clock, never behind any stamp seen. */
static uint64_t clock_next(struct config_store *cs)
{
	uint64_t now = (uint64_t)time_now_ms() << 16;
	cs->last_hlc = now > cs->last_hlc ? now : cs->last_hlc + 1;
	return cs->last_hlc;
}

/* One SQLite transaction for all changes, then memory. Caller holds
 * wlock. All or nothing. */
static int apply_changes(struct config_store *cs, const struct config_rawchange *c, size_t n,
			 struct err *e)
{
	if (n == 0)
		return 0;
	if (db_begin(cs->db, e) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (db_put(cs, c[i].key, c[i].value, c[i].hlc, c[i].node, e) < 0) {
			db_rollback(cs->db);
			return -1;
		}
	}
	if (db_put_version(cs, cs->version + n, e) < 0 || db_commit(cs->db, e) < 0) {
		db_rollback(cs->db);
		return -1;
	}
	for (size_t i = 0; i < n; i++)
		map_put(cs, c[i].key, c[i].value, c[i].hlc, c[i].node);
	pthread_rwlock_wrlock(&cs->lock);
	cs->version += n;
	pthread_rwlock_unlock(&cs->lock);
	return 0;
}

static void notify(struct config_store *cs, const struct config_rawchange *c, size_t n)
{
	struct {
		config_listener fn;
		void *arg;
	} ls[LISTENERS_MAX];
	pthread_mutex_lock(&cs->llock);
	size_t nl = cs->nlisteners;
	memcpy(ls, cs->listeners, nl * sizeof ls[0]);
	pthread_mutex_unlock(&cs->llock);
	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < nl; j++)
			ls[j].fn(ls[j].arg, c[i].key);
}

/* A local write of one key (value NULL deletes). When clustered, a
 * propagated key goes through the cluster, which applies it everywhere
 * (here too, through config_put_raw) in the cluster's order. */
int cfg_write_local(struct config_store *cs, const char *key, const char *value, struct err *e)
{
	pthread_mutex_lock(&cs->wlock);
	struct config_rawchange c = {key, value, clock_next(cs), cs->node};
	config_replicator rep = config_key_is_local(key) ? NULL : cs->replicator;
	void *rarg = cs->replicator_arg;
	int rc = rep ? 0 : apply_changes(cs, &c, 1, e);
	pthread_mutex_unlock(&cs->wlock);
	if (rep)
		return rep(rarg, &c, 1, e);
	if (rc == 0)
		notify(cs, &c, 1);
	return rc;
}

void config_set_replicator(struct config_store *cs, config_replicator fn, void *arg)
{
	pthread_mutex_lock(&cs->wlock);
	cs->replicator = fn;
	cs->replicator_arg = arg;
	pthread_mutex_unlock(&cs->wlock);
}

void config_on_change(struct config_store *cs, config_listener fn, void *arg)
{
	pthread_mutex_lock(&cs->llock);
	if (cs->nlisteners == LISTENERS_MAX)
		log_panic("config: more than %d change listeners", LISTENERS_MAX);
	cs->listeners[cs->nlisteners].fn = fn;
	cs->listeners[cs->nlisteners].arg = arg;
	cs->nlisteners++;
	pthread_mutex_unlock(&cs->llock);
}

uint64_t config_version(struct config_store *cs)
{
	pthread_rwlock_rdlock(&cs->lock);
	uint64_t v = cs->version;
	pthread_rwlock_unlock(&cs->lock);
	return v;
}

void config_set_node_id(struct config_store *cs, uint32_t node)
{
	pthread_mutex_lock(&cs->wlock);
	cs->node = node;
	pthread_mutex_unlock(&cs->wlock);
}

/* ---- raw access, export and import --------------------------------- */

int config_get_raw(struct config_store *cs, const char *key, char *out, size_t outlen)
{
	if (!key)
		return 0;
	pthread_rwlock_rdlock(&cs->lock);
	int rc = cfg_lookup_locked(cs, key, out, outlen);
	pthread_rwlock_unlock(&cs->lock);
	return rc;
}

static int newer(uint64_t hlc, uint32_t node, const struct kv *kv)
{
	return !kv || hlc > kv->hlc || (hlc == kv->hlc && node > kv->node);
}

int config_put_raw(struct config_store *cs, const char *key, const char *value, uint64_t hlc,
		   uint32_t node, struct err *e)
{
	char canon[CANON_MAX];
	if (hlc == 0 || hlc > HLC_MAX)
		return err_set(e, "bad clock stamp %llu", (unsigned long long)hlc);
	if (cfg_validate_kv(key, value, canon, sizeof canon, e) < 0)
		return -1;
	pthread_mutex_lock(&cs->wlock);
	/* only writers change the map and we are the writer: no rwlock */
	if (!newer(hlc, node, cfg_map_find(cs, key))) {
		pthread_mutex_unlock(&cs->wlock);
		return 0;
	}
	if (hlc > cs->last_hlc)
		cs->last_hlc = hlc;
	struct config_rawchange c = {key, value ? canon : NULL, hlc, node};
	int rc = apply_changes(cs, &c, 1, e);
	pthread_mutex_unlock(&cs->wlock);
	if (rc < 0)
		return -1;
	notify(cs, &c, 1);
	return 1;
}

/* ---- replacing the replica (a node joining a cluster) -------------- */

static void map_remove(struct config_store *cs, const char *key)
{
	uint32_t h = key_hash(key);
	struct kv *kv = NULL;
	pthread_rwlock_wrlock(&cs->lock);
	for (struct kv **pp = &cs->tab[h & (cs->ntab - 1)]; *pp; pp = &(*pp)->next) {
		if ((*pp)->hash == h && strcmp((*pp)->key, key) == 0) {
			kv = *pp;
			*pp = kv->next;
			cs->nkeys--;
			if (is_domain_key(key) && kv->value)
				cs->ndomains--;
			break;
		}
	}
	pthread_rwlock_unlock(&cs->lock);
	if (kv) {
		free(kv->value);
		free(kv->dest);
		free(kv);
	}
}

static int db_delete(struct config_store *cs, const char *key, struct err *e)
{
	sqlite3_stmt *st = db_cached(cs->db, "DELETE FROM config_kv WHERE key = ?1", e);
	if (!st)
		return -1;
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	return db_step_done(st, e);
}

static int str_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Canonical values of rows (NULL for tombstones); NULL on the first bad row. */
static char **replace_validate(const struct config_rawchange *rows, size_t n, struct err *e)
{
	char canon[CANON_MAX];
	char **vals = cfg_xcalloc(n, sizeof *vals);
	for (size_t i = 0; i < n; i++) {
		int bad = config_key_is_local(rows[i].key) || rows[i].hlc == 0 ||
			  rows[i].hlc > HLC_MAX;
		if (bad || cfg_validate_kv(rows[i].key, rows[i].value, canon, sizeof canon, e) < 0) {
			if (bad)
				err_set(e, "replace: bad row %s", log_esc(rows[i].key ? rows[i].key : ""));
			for (size_t k = 0; k < i; k++)
				free(vals[k]);
			free(vals);
			return NULL;
		}
		vals[i] = rows[i].value ? xstrdup(canon) : NULL;
	}
	return vals;
}

/* Keys (copies) of the propagated rows that are not among sorted; caller
 * holds wlock. */
static char **replace_gone(struct config_store *cs, const char **sorted, size_t n, size_t *ngone)
{
	char **gone = cfg_xcalloc(cs->nkeys, sizeof *gone);
	size_t k = 0;
	for (size_t i = 0; i < cs->ntab; i++)
		for (struct kv *kv = cs->tab[i]; kv; kv = kv->next) {
			const char *key = kv->key;
			if (!config_key_is_local(key) &&
			    !bsearch(&key, sorted, n, sizeof *sorted, str_cmp))
				gone[k++] = xstrdup(key);
		}
	*ngone = k;
	return gone;
}

int config_replace_raw(struct config_store *cs, const struct config_rawchange *rows, size_t n,
		       struct err *e)
{
	char **vals = replace_validate(rows, n, e);
	if (!vals)
		return -1;
	const char **sorted = cfg_xcalloc(n, sizeof *sorted);
	for (size_t i = 0; i < n; i++)
		sorted[i] = rows[i].key;
	qsort(sorted, n, sizeof *sorted, str_cmp);
	pthread_mutex_lock(&cs->wlock);
	size_t ngone;
	char **gone = replace_gone(cs, sorted, n, &ngone);
	struct config_rawchange *c = cfg_xcalloc(n + ngone, sizeof *c);
	int rc = db_begin(cs->db, e);
	for (size_t i = 0; i < ngone && rc == 0; i++) {
		c[n + i].key = gone[i];
		rc = db_delete(cs, gone[i], e);
	}
	for (size_t i = 0; i < n && rc == 0; i++) {
		c[i] = (struct config_rawchange){rows[i].key, vals[i], rows[i].hlc, rows[i].node};
		rc = db_put(cs, rows[i].key, vals[i], rows[i].hlc, rows[i].node, e);
	}
	if (rc == 0)
		rc = db_put_version(cs, cs->version + n + ngone, e);
	if (rc == 0)
		rc = db_commit(cs->db, e);
	if (rc < 0) {
		db_rollback(cs->db);
	} else {
		for (size_t i = 0; i < ngone; i++)
			map_remove(cs, gone[i]);
		for (size_t i = 0; i < n; i++) {
			map_put(cs, rows[i].key, vals[i], rows[i].hlc, rows[i].node);
			if (rows[i].hlc > cs->last_hlc)
				cs->last_hlc = rows[i].hlc;
		}
		pthread_rwlock_wrlock(&cs->lock);
		cs->version += n + ngone;
		pthread_rwlock_unlock(&cs->lock);
	}
	pthread_mutex_unlock(&cs->wlock);
	if (rc == 0)
		notify(cs, c, n + ngone);
	for (size_t i = 0; i < ngone; i++)
		free(gone[i]);
	for (size_t i = 0; i < n; i++)
		free(vals[i]);
	free(gone);
	free(vals);
	free(sorted);
	free(c);
	return rc;
}

json_t *config_export_raw(struct config_store *cs)
{
	json_t *arr = json_array();
	size_t n;
	pthread_rwlock_rdlock(&cs->lock);
	struct kv **v = cfg_collect_locked(cs, "", 1, &n);
	for (size_t i = 0; i < n; i++)
		json_array_append_new(arr, json_pack("{s:s,s:o,s:I,s:I}", "key", v[i]->key, "value",
						     v[i]->value ? json_string(v[i]->value) : json_null(),
						     "hlc", (json_int_t)v[i]->hlc, "node",
						     (json_int_t)v[i]->node));
	pthread_rwlock_unlock(&cs->lock);
	free(v);
	return arr;
}

json_t *config_export(struct config_store *cs)
{
	json_t *keys = json_object();
	size_t n;
	pthread_rwlock_rdlock(&cs->lock);
	struct kv **v = cfg_collect_locked(cs, "", 0, &n);
	for (size_t i = 0; i < n; i++)
		json_object_set_new(keys, v[i]->key, json_string(v[i]->value));
	pthread_rwlock_unlock(&cs->lock);
	free(v);
	return json_pack("{s:i,s:o}", "version", 1, "keys", keys);
}

struct import_item {
	const char *key;
	char *value;
};

/* Membership rows are the cluster's business, not a backup's. */
static int import_ignores(const char *key)
{
	return strncmp(key, "cluster/", 8) == 0;
}

static size_t import_count(json_t *keys)
{
	const char *key;
	json_t *v;
	size_t n = 0;
	json_object_foreach(keys, key, v) n += !import_ignores(key);
	return n;
}

/* Every key of doc validated into canonical values; NULL on the first
 * problem. */
static struct import_item *import_validate(json_t *doc, size_t *n, struct err *e)
{
	json_t *keys = json_object_get(doc, "keys"), *v;
	const char *key;
	if (!json_is_object(doc) || json_integer_value(json_object_get(doc, "version")) != 1 ||
	    !json_is_integer(json_object_get(doc, "version")) || !json_is_object(keys)) {
		err_set(e, "import: expected {\"version\": 1, \"keys\": {...}}");
		return NULL;
	}
	if (json_object_size(keys) > IMPORT_KEYS_MAX) {
		err_set(e, "import: more than %d keys", IMPORT_KEYS_MAX);
		return NULL;
	}
	struct import_item *items = cfg_xcalloc(json_object_size(keys), sizeof *items);
	char canon[CANON_MAX];
	struct err ve;
	size_t k = 0;
	json_object_foreach(keys, key, v) {
		if (import_ignores(key))
			continue;
		if (!json_is_string(v)) {
			err_set(e, "import: key %s: value must be a string", log_esc(key));
			break;
		}
		if (cfg_validate_kv(key, json_string_value(v), canon, sizeof canon, &ve) < 0) {
			err_set(e, "import: key %s: %s", log_esc(key), ve.msg);
			break;
		}
		items[k].key = key;
		items[k++].value = xstrdup(canon);
	}
	if (k < import_count(keys)) {
		for (size_t i = 0; i < k; i++)
			free(items[i].value);
		free(items);
		return NULL;
	}
	*n = k;
	return items;
}

/* Moves the node-local changes to the front; returns their count. */
static size_t import_locals_first(struct config_rawchange *c, size_t n)
{
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		if (!config_key_is_local(c[i].key))
			continue;
		struct config_rawchange t = c[k];
		c[k++] = c[i];
		c[i] = t;
	}
	return k;
}

int config_import(struct config_store *cs, json_t *doc, struct err *e)
{
	size_t n;
	struct import_item *items = import_validate(doc, &n, e);
	if (!items)
		return -1;
	json_t *keys = json_object_get(doc, "keys");
	pthread_mutex_lock(&cs->wlock);
	struct config_rawchange *c = cfg_xcalloc(n + cs->nkeys, sizeof *c);
	size_t nc = 0;
	for (size_t i = 0; i < n; i++) {
		struct kv *kv = cfg_map_find(cs, items[i].key);
		if (!kv || !kv->value || strcmp(kv->value, items[i].value) != 0)
			c[nc++] = (struct config_rawchange){items[i].key, items[i].value, clock_next(cs), cs->node};
	}
	for (size_t i = 0; i < cs->ntab; i++)
		for (struct kv *kv = cs->tab[i]; kv; kv = kv->next)
			if (kv->value && !config_key_is_local(kv->key) && !import_ignores(kv->key) &&
			    !json_object_get(keys, kv->key))
				c[nc++] = (struct config_rawchange){kv->key, NULL, clock_next(cs), cs->node};
	/* clustered: node-local rows here, the others through the cluster */
	size_t nl = cs->replicator ? import_locals_first(c, nc) : nc;
	config_replicator rep = cs->replicator;
	void *rarg = cs->replicator_arg;
	for (size_t i = nl; i < nc; i++) /* the map may change once unlocked */
		c[i].key = xstrdup(c[i].key);
	int rc = apply_changes(cs, c, nl, e);
	pthread_mutex_unlock(&cs->wlock);
	if (rc == 0)
		notify(cs, c, nl);
	int replicated = rc == 0 && nl < nc;
	if (replicated)
		rc = rep(rarg, c + nl, nc - nl, e);
	if (rc < 0 && e) {
		char why[sizeof e->msg];
		snprintf(why, sizeof why, "%s", e->msg);
		err_set(e, "import: %s (%s)", why,
			replicated ? "the cluster may have applied part of it" : "nothing was changed");
	}
	for (size_t i = nl; i < nc; i++)
		free((char *)c[i].key);
	free(c);
	for (size_t i = 0; i < n; i++)
		free(items[i].value);
	free(items);
	return rc;
}
