/* The configuration store: every propagated setting and domain, as
 * key/value rows in SQLite (table config_kv), all loaded into memory at
 * open. Reads come from memory under a rwlock and are safe from any
 * thread; writes go to SQLite (the store's own connection, serialised by
 * a mutex) and then to memory. Every row carries a hybrid-logical-clock
 * stamp and an origin node so the cluster can merge replicas: a write
 * wins when its (hlc, node) is the highest; a deleted key stays as a
 * tombstone so an older write cannot resurrect it.
 *
 * Keys: setting/global/<name>, setting/domain/<domain>/<name>,
 * setting/user/<address>/<name>, setting/node/<name> (node-local, never
 * replicated), domain/<name> (value {"destination": "..."}). Domains and
 * addresses in keys are lower case. */
#ifndef RAMPART_STORE_CONFIG_H
#define RAMPART_STORE_CONFIG_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "store/settings.h"
#include "util/err.h"

struct config_store;

struct config_store *config_open(const char *db_path, struct err *e);
void config_close(struct config_store *cs);

/* Effective value, resolving user -> domain -> node -> global -> table
 * default (domain/user may be NULL; with a user and no domain the user's
 * address gives the domain; scopes a setting does not allow are skipped).
 * Unknown name, or a type the getter cannot represent (config_int on a
 * STRING), -> log_panic (programming error). config_int takes INT, SIZE
 * (bytes), DURATION (seconds) and BOOL; config_float any numeric type;
 * config_bool BOOL; config_str any type (canonical text). */
int64_t config_int(struct config_store *cs, const char *name, const char *domain, const char *user);
double config_float(struct config_store *cs, const char *name, const char *domain, const char *user);
int config_bool(struct config_store *cs, const char *name, const char *domain, const char *user);
void config_str(struct config_store *cs, const char *name, const char *domain, const char *user,
		char *out, size_t outlen);

/* default_hostname (node-local) or else boot_hostname; default_domain or
 * else that host name. */
void config_hostname(struct config_store *cs, const char *boot_hostname, char *out, size_t outlen);
void config_default_domain(struct config_store *cs, const char *boot_hostname, char *out,
			   size_t outlen);

/* scope: NULL or "global", "domain:<name>", "user:<address>", "node".
 * Validates with settings_normalize and the setting's allowed scopes;
 * unknown setting -> error "unknown setting 'x'". */
int config_set(struct config_store *cs, const char *name, const char *scope, const char *value,
	       struct err *e);
/* Removes the value at exactly this scope (no-op success when not set). */
int config_unset(struct config_store *cs, const char *name, const char *scope, struct err *e);
/* Explicit value at exactly this scope: returns 1 and copies it when set,
 * 0 when not set (or on a bad name/scope). */
int config_get_at(struct config_store *cs, const char *name, const char *scope, char *out,
		  size_t outlen);
/* JSON array of every setting, in table order: {"name", "type", "value"
 * (effective at scope), "default", "min", "max", "scopes": [...],
 * "choices", "help", "set": bool}. value/default are typed (integer for
 * INT/SIZE/DURATION, real for FLOAT, boolean for BOOL, string otherwise);
 * min/max are null for BOOL/ENUM (length bounds for STRING); choices is an
 * array for ENUM, null otherwise. NULL for a bad scope. */
json_t *config_settings_json(struct config_store *cs, const char *scope);

struct domain_info {
	char name[256];
	char destination[512];
};
/* name: a valid DNS domain (LDH labels, lower-cased, <=253). destination:
 * "smtp:HOST:PORT" (HOST a host name, IPv4, or [IPv6]; PORT defaults to
 * 25) or "maildir:/absolute/path". Clear errors otherwise. Adding an
 * existing domain updates its destination. */
int config_domain_add(struct config_store *cs, const char *name, const char *destination,
		      struct err *e);
int config_domain_remove(struct config_store *cs, const char *name, struct err *e); /* error when absent */
int config_domain_get(struct config_store *cs, const char *name, struct domain_info *out); /* 0 found, -1 not; case-insensitive */
json_t *config_domain_list(struct config_store *cs); /* [{"name","destination"}...] sorted */
size_t config_domain_count(struct config_store *cs);
/* (validation of names and destinations: settings_domain_normalize and
 * settings_destination_normalize in settings.h) */

/* Bumped by every successful write (kept across restarts). */
uint64_t config_version(struct config_store *cs);
typedef void (*config_listener)(void *arg, const char *key);
/* Listeners run on the writing thread after the write is visible, outside
 * every lock of the store (they may read it, and even write it). */
void config_on_change(struct config_store *cs, config_listener fn, void *arg);

/* Low-level, for the cluster: put a raw key with an explicit
 * hybrid-logical-clock stamp and origin node; value NULL = tombstone.
 * Applies only if (hlc,node) is newer than what is stored; returns 1
 * applied, 0 older (ignored), -1 error (bad key or value). Local writes
 * use a local HLC (ms<<16 | counter) and node id 0 until the cluster sets
 * one via config_set_node_id. */
int config_put_raw(struct config_store *cs, const char *key, const char *value, uint64_t hlc,
		   uint32_t node, struct err *e);
void config_set_node_id(struct config_store *cs, uint32_t node);
/* Live value of a raw key: 1 and copied when present, 0 otherwise. */
int config_get_raw(struct config_store *cs, const char *key, char *out, size_t outlen);
/* 1 for keys that stay on this node (setting/node/...): the cluster must
 * not replicate them. */
int config_key_is_local(const char *key);
/* Every row including tombstones, for state transfer:
 * [{"key", "value" (null = tombstone), "hlc", "node"}...] sorted by key. */
json_t *config_export_raw(struct config_store *cs);

/* ---- the cluster's hooks (src/cluster) ---- */
struct config_rawchange {
	const char *key;
	const char *value; /* NULL: tombstone */
	uint64_t hlc;
	uint32_t node;
};
/* When a replicator is set, local writes of propagated keys (everything
 * but node-local keys) are not applied here: they are stamped and handed
 * to fn (a batch in one call for config_import), which must have them
 * applied on every member, this one included (through config_put_raw),
 * before it returns 0; -1 with e filled when the cluster refused or did
 * not confirm them. Node-local keys are still written directly. fn runs
 * on the writing thread, outside the store's locks. NULL unsets. */
typedef int (*config_replicator)(void *arg, const struct config_rawchange *c, size_t n,
				 struct err *e);
void config_set_replicator(struct config_store *cs, config_replicator fn, void *arg);
/* For a node joining a cluster: every row that is not node-local is
 * replaced by rows (stamps kept, tombstones included); the others are
 * dropped without leaving tombstones. Validates everything first; all or
 * nothing. Listeners hear every key that changed or went away. */
int config_replace_raw(struct config_store *cs, const struct config_rawchange *rows, size_t n,
		       struct err *e);

json_t *config_export(struct config_store *cs); /* {"version":1,"keys":{key:value,...}} of all live keys */
/* Validates everything first; all-or-nothing. Replaces the store's
 * contents: keys absent from doc are deleted, except node-local keys,
 * which are only set (a backup from another node keeps this node's own),
 * and keys under cluster/ (membership belongs to the cluster, not to a
 * backup), which are neither set nor deleted. */
int config_import(struct config_store *cs, json_t *doc, struct err *e);

/* Key namespaces owned by modules above the store (policy lists,
 * users, ...). check() validates a live value and writes its canonical
 * form to canon; tombstones need only a well-formed key. Register before
 * config_open() so stored rows of the namespace load. */
typedef int (*config_ns_check)(const char *key, const char *value, char *canon, size_t canonlen,
			       struct err *e);
void config_register_namespace(const char *prefix, config_ns_check check);
/* Local write of one raw key (value NULL = delete), validated like
 * config_put_raw, stamped by the store's own clock and node. */
int config_put(struct config_store *cs, const char *key, const char *value, struct err *e);
/* Live keys starting with prefix, sorted: [{"key": k, "value": v}, ...] */
json_t *config_list_prefix(struct config_store *cs, const char *prefix);

#endif
