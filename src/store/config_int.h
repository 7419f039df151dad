/* Internals of the configuration store shared by its two files:
 * config.c (map, key namespaces, persistence, write path, export/import,
 * replica) and config_settings.c (settings and domains on top of it). */
#ifndef RAMPART_STORE_CONFIG_INT_H
#define RAMPART_STORE_CONFIG_INT_H

#include <pthread.h>
#include <stdint.h>

#include "store/config.h"
#include "store/db.h"

#define KEY_MAX 1024
#define VALUE_MAX 65536
#define CANON_MAX 2048
#define LISTENERS_MAX 32
#define IMPORT_KEYS_MAX 1000000
/* leaves room above any accepted stamp for the local clock to tick */
#define HLC_MAX ((uint64_t)INT64_MAX - ((uint64_t)1 << 32))

struct kv {
	struct kv *next; /* hash chain */
	uint32_t hash;
	uint32_t node;
	uint64_t hlc;
	char *value; /* NULL: tombstone */
	char *dest;  /* domain/ keys: parsed destination, for config_domain_get */
	char key[];
};

struct config_store {
	sqlite3 *db;            /* used only under wlock */
	pthread_mutex_t wlock;  /* serialises writers: SQLite, clock, node */
	pthread_rwlock_t lock;  /* guards everything below for readers */
	struct kv **tab;
	size_t ntab, nkeys, ndomains;
	uint64_t version;
	uint64_t last_hlc;      /* under wlock */
	uint32_t node;          /* under wlock */
	config_replicator replicator; /* under wlock: the cluster, when clustered */
	void *replicator_arg;
	pthread_mutex_t llock;
	size_t nlisteners;
	struct {
		config_listener fn;
		void *arg;
	} listeners[LISTENERS_MAX];
};

struct scope {
	unsigned kind;
	char ident[320]; /* domain or address, canonical */
};

extern const char *const cfg_domain_prefix;

void *cfg_xcalloc(size_t n, size_t size);
/* The entry of key (live or tombstone) or NULL; caller holds the lock. */
struct kv *cfg_map_find(const struct config_store *cs, const char *key);
int cfg_lower_copy(const char *in, char *out, size_t outlen);
/* Key shape; for a live value also its canonical form into canon. */
int cfg_validate_kv(const char *key, const char *value, char *canon, size_t canonlen,
		    struct err *e);
/* A write from this node: stamped, stored, replicated when clustered. */
int cfg_write_local(struct config_store *cs, const char *key, const char *value, struct err *e);
/* Live value of key into out under the read lock: 1 found, 0 not. */
int cfg_lookup_locked(struct config_store *cs, const char *key, char *out, size_t outlen);
/* Entries (under the read lock, sorted by key) whose key starts with
 * prefix; live only unless tombstones is set. Caller frees the array. */
struct kv **cfg_collect_locked(struct config_store *cs, const char *prefix, int tombstones,
			       size_t *n);

#endif
