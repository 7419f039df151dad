/* User accounts and their white/black lists, kept in the replicated
 * config store (the cluster propagates them with every other setting):
 *
 *   user/<address>                     {"created_ms", "pw_changed_ms",
 *                                       "password_hash", "source",
 *                                       "features": {"quarantine", "scanning", "settings"}}
 *   ulist/<address>/<list>/<entry>     {"added_ms"}   list = whitelist | blacklist
 *   token/<id>                         {"name", "hash", "created_ms"}   (API tokens)
 *   web/admin                          {"password_hash", "changed_ms"}
 *   web/link_key                       {"key"}   (HMAC key of mailed links)
 *
 * Per-user settings are ordinary settings at user scope
 * (setting/user/<address>/<name>). Passwords are argon2id (libsodium). */
#ifndef RAMPART_STORE_USERS_H
#define RAMPART_STORE_USERS_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

struct config_store;

#define USERS_ADDR_MAX 320
#define USERS_HASH_MAX 128           /* crypto_pwhash_STRBYTES */
#define USERS_PASSWORD_MIN 8
#define USERS_PASSWORD_MAX 256
#define USERS_LIST_MAX 1000          /* entries per list and user */

enum {
	USER_FEAT_QUARANTINE = 1, /* the user has a quarantine */
	USER_FEAT_SCANNING = 2,   /* spam scoring for this recipient */
	USER_FEAT_SETTINGS = 4,   /* the user may change their own settings and lists */
	USER_FEAT_ALL = 7
};

struct user_rec {
	char address[USERS_ADDR_MAX];
	char password_hash[USERS_HASH_MAX]; /* "" = no password yet */
	int64_t created_ms;
	int64_t pw_changed_ms;
	unsigned features;                  /* USER_FEAT_* bits that are on */
	char source[16];                    /* auto | admin | import */
};

/* Registers the key namespaces above with the config store; call before
 * config_open (rows of unknown namespaces are skipped at load). */
void users_register_config(void);

/* 0 and *u filled when the account exists, -1 otherwise. addr need not
 * be canonical. */
int users_get(struct config_store *cs, const char *addr, struct user_rec *u);
/* Creates or replaces the record (address canonicalised). */
int users_put(struct config_store *cs, const struct user_rec *u, struct err *e);
/* Removes the account, its user-scope settings and its lists. */
int users_delete(struct config_store *cs, const char *addr, struct err *e);
/* Every account, sorted by address: array of users_json objects. */
json_t *users_all(struct config_store *cs);
size_t users_count(struct config_store *cs);
/* {"address", "created_ms", "source", "has_password", "features": {...}} */
json_t *users_json(const struct user_rec *u);
/* A fresh record with every feature on. */
void users_rec_init(struct user_rec *u, const char *addr, const char *source);
/* "quarantine" | "scanning" | "settings" -> bit; 0 when unknown. */
unsigned users_feature_bit(const char *name);

/* Passwords: length/charset check (8..256 characters, no control
 * characters), argon2id hash, constant-time verification. */
int users_password_check(const char *pw, struct err *e);
int users_password_hash(const char *pw, char out[USERS_HASH_MAX], struct err *e);
/* 1 when pw matches hash; 0 otherwise (an empty hash never matches, but
 * costs the same time). */
int users_password_verify(const char *hash, const char *pw);

/* ---- white / black lists ---- */
enum user_list { ULIST_WHITE, ULIST_BLACK };
/* "whitelist" / "blacklist" -> 0 and *l; -1 otherwise. */
int users_list_parse(const char *name, enum user_list *l);
const char *users_list_name(enum user_list l);
/* An address (lower-cased) or a domain ("@d" or "d", lower-cased). */
int users_list_entry_normalize(const char *in, char *out, size_t outlen, struct err *e);
int users_list_add(struct config_store *cs, const char *addr, enum user_list l, const char *entry,
		   struct err *e);
/* -1 with "not in the list" when absent. */
int users_list_remove(struct config_store *cs, const char *addr, enum user_list l,
		      const char *entry, struct err *e);
/* {"whitelist": [{"entry", "added_ms"}...], "blacklist": [...]} */
json_t *users_lists_json(struct config_store *cs, const char *addr);

/* ---- what the filter pipeline asks, per recipient (lock-free reads) ---- */
/* +1 the sender is on rcpt's whitelist, -1 on the blacklist, 0 neither.
 * An address entry beats a domain entry, a deeper domain a shallower
 * one; on one level the whitelist wins. */
int users_list_match(struct config_store *cs, const char *rcpt, const char *sender);
/* 1 unless the administrator switched spam scanning off for rcpt. */
int users_scanning_enabled(struct config_store *cs, const char *rcpt);
/* 0 when rcpt's quarantine feature is off or the setting
 * quarantine_enabled (user -> domain -> global) is false. */
int users_quarantine_enabled(struct config_store *cs, const char *rcpt);

/* A setting that may be missing from the table (read with a default). */
int64_t users_setting_int(struct config_store *cs, const char *name, const char *user,
			  int64_t def);
void users_setting_str(struct config_store *cs, const char *name, const char *user,
		       const char *def, char *out, size_t outlen);

/* Raw-key helpers for the namespaces above (config_put when the store
 * has it). */
int users_kv_put(struct config_store *cs, const char *key, const char *value, struct err *e);
/* Live keys under prefix, sorted: [{"key", "value"}...]. */
json_t *users_kv_list(struct config_store *cs, const char *prefix);

#endif
