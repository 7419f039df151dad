/* Signed links for mails and API tokens: the two secrets kept as hashes
 * or keys in the replicated config store, so they work on every member. */
#include <pthread.h>
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
#include "web/auth.h"

#define LINK_MAX 2048

static pthread_mutex_t key_lock = PTHREAD_MUTEX_INITIALIZER;

/* The HMAC key, made on first use (under a lock so two threads do not
 * each make one and invalidate each other's links). */
static int link_key(struct config_store *cs, unsigned char key[32], struct err *e)
{
	char value[256], hex[65];
	int rc = 0;
	pthread_mutex_lock(&key_lock);
	if (!config_get_raw(cs, "web/link_key", value, sizeof value)) {
		auth_random_hex(hex, 32);
		snprintf(value, sizeof value, "{\"key\":\"%s\"}", hex);
		rc = users_kv_put(cs, "web/link_key", value, e);
	}
	pthread_mutex_unlock(&key_lock);
	if (rc < 0)
		return -1;
	json_t *j = json_loads(value, 0, NULL);
	const char *k = json_string_value(json_object_get(j, "key"));
	size_t n = 0;
	rc = k && sodium_hex2bin(key, 32, k, strlen(k), NULL, &n, NULL) == 0 && n == 32
		     ? 0
		     : err_set(e, "bad link key in the config store");
	json_decref(j);
	return rc;
}

int links_sign(struct config_store *cs, json_t *claims, int64_t lifetime_s, char *out,
	       size_t outlen, struct err *e)
{
	unsigned char key[32], mac[crypto_auth_hmacsha256_BYTES];
	if (link_key(cs, key, e) < 0)
		return -1;
	json_object_set_new(claims, "exp", json_integer(time_now_ms() / 1000 + lifetime_s));
	char *payload = json_dumps(claims, JSON_COMPACT | JSON_SORT_KEYS);
	if (!payload)
		return err_set(e, "out of memory");
	size_t pl = strlen(payload);
	crypto_auth_hmacsha256(mac, (const unsigned char *)payload, pl, key);
	size_t need = sodium_base64_ENCODED_LEN(pl, sodium_base64_VARIANT_URLSAFE_NO_PADDING) +
		      sodium_base64_ENCODED_LEN(sizeof mac, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	int rc = 0;
	if (need + 1 > outlen || need > LINK_MAX) {
		rc = err_set(e, "link too long");
	} else {
		sodium_bin2base64(out, outlen, (unsigned char *)payload, pl,
				  sodium_base64_VARIANT_URLSAFE_NO_PADDING);
		size_t at = strlen(out);
		out[at++] = '.';
		sodium_bin2base64(out + at, outlen - at, mac, sizeof mac,
				  sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	}
	free(payload);
	sodium_memzero(key, sizeof key);
	return rc;
}

json_t *links_verify(struct config_store *cs, const char *token, struct err *e)
{
	unsigned char key[32], mac[crypto_auth_hmacsha256_BYTES], payload[LINK_MAX];
	size_t tl = token ? strlen(token) : 0, pl = 0, ml = 0;
	const char *dot = token ? strchr(token, '.') : NULL;
	if (!dot || tl > LINK_MAX ||
	    sodium_base642bin(payload, sizeof payload - 1, token, (size_t)(dot - token), NULL, &pl,
			      NULL, sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0 ||
	    sodium_base642bin(mac, sizeof mac, dot + 1, strlen(dot + 1), NULL, &ml, NULL,
			      sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0 ||
	    ml != sizeof mac) {
		err_set(e, "the link is malformed");
		return NULL;
	}
	if (link_key(cs, key, e) < 0)
		return NULL;
	int ok = crypto_auth_hmacsha256_verify(mac, payload, pl, key) == 0;
	sodium_memzero(key, sizeof key);
	if (!ok) {
		err_set(e, "the link is not valid");
		return NULL;
	}
	payload[pl] = '\0';
	json_t *claims = json_loads((const char *)payload, 0, NULL);
	json_t *exp = json_object_get(claims, "exp");
	if (!json_is_integer(exp) || json_integer_value(exp) < time_now_ms() / 1000) {
		json_decref(claims);
		err_set(e, "the link has expired");
		return NULL;
	}
	return claims;
}

void links_base_url(struct node *n, char *out, size_t outlen)
{
	char base[256];
	users_setting_str(n->cfg, "web_base_url", NULL, "", base, sizeof base);
	size_t bl = strlen(base);
	while (bl && base[bl - 1] == '/')
		base[--bl] = '\0';
	if (bl) {
		snprintf(out, outlen, "%s", base);
		return;
	}
	const char *listen = n->boot.n_http_listen ? n->boot.http_listen[0] : "";
	const char *colon = strrchr(listen, ':');
	char host[256];
	config_hostname(n->cfg, n->boot.hostname, host, sizeof host);
	snprintf(out, outlen, "https://%s%s", host, colon ? colon : "");
}

/* ---- API tokens ---------------------------------------------------------- */

int auth_token_create(struct config_store *cs, const char *name, char *token, size_t tokenlen,
		      char id[16], struct err *e)
{
	char secret[AUTH_HEX], hash[AUTH_HEX], key[64];
	if (!name || !*name || strlen(name) > 100)
		return err_set(e, "name must be 1 to 100 characters");
	for (const unsigned char *p = (const unsigned char *)name; *p; p++)
		if (*p < 0x20 || *p == 0x7f)
			return err_set(e, "name must not contain control characters");
	auth_random_hex(id, 6);
	auth_random_hex(secret, 32);
	auth_sha256_hex(secret, hash);
	json_t *j = json_pack("{s:s, s:s, s:I}", "name", name, "hash", hash, "created_ms",
			      (json_int_t)time_now_ms());
	char *value = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(j);
	snprintf(key, sizeof key, "token/%s", id);
	int rc = value ? users_kv_put(cs, key, value, e) : err_set(e, "bad token name");
	free(value);
	if (rc == 0)
		snprintf(token, tokenlen, "rpt_%s.%s", id, secret);
	sodium_memzero(secret, sizeof secret);
	return rc;
}

int auth_token_check(struct config_store *cs, sqlite3 *db, const char *bearer, char id[16])
{
	char key[64], value[512], hash[AUTH_HEX];
	if (!bearer || strncmp(bearer, "rpt_", 4) != 0 || strlen(bearer) != 4 + 12 + 1 + 64 ||
	    bearer[16] != '.')
		return -1;
	snprintf(id, 16, "%.12s", bearer + 4);
	if (id[strspn(id, "0123456789abcdef")])
		return -1;
	snprintf(key, sizeof key, "token/%s", id);
	if (!config_get_raw(cs, key, value, sizeof value))
		return -1;
	auth_sha256_hex(bearer + 17, hash);
	json_t *j = json_loads(value, 0, NULL);
	const char *want = json_string_value(json_object_get(j, "hash"));
	int ok = want && auth_str_eq(want, hash);
	json_decref(j);
	if (!ok)
		return -1;
	sqlite3_stmt *st = db_prepare(db,
				      "INSERT INTO web_token_use(id, uses, last_ms) VALUES(?1, 1, ?2)"
				      " ON CONFLICT(id) DO UPDATE SET uses = uses + 1, last_ms = ?2",
				      NULL);
	if (st) {
		sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, time_now_ms());
		sqlite3_step(st);
		sqlite3_finalize(st);
	}
	return 0;
}

json_t *auth_token_list(struct config_store *cs, sqlite3 *db)
{
	json_t *rows = users_kv_list(cs, "token/"), *r, *out = json_array();
	size_t i;
	sqlite3_stmt *st = db ? db_prepare(db, "SELECT uses, last_ms FROM web_token_use WHERE id = ?1", NULL)
			      : NULL;
	json_array_foreach(rows, i, r)
	{
		const char *id = json_string_value(json_object_get(r, "key")) + 6;
		json_t *v = json_loads(json_string_value(json_object_get(r, "value")), 0, NULL);
		json_int_t uses = 0, last = 0;
		if (st) {
			sqlite3_reset(st);
			sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
			if (sqlite3_step(st) == SQLITE_ROW) {
				uses = sqlite3_column_int64(st, 0);
				last = sqlite3_column_int64(st, 1);
			}
		}
		json_array_append_new(out, json_pack("{s:s, s:O, s:O, s:I, s:I}", "id", id, "name",
						     json_object_get(v, "name"), "created_ms",
						     json_object_get(v, "created_ms"), "last_used_ms",
						     last, "uses", uses));
		json_decref(v);
	}
	sqlite3_finalize(st);
	json_decref(rows);
	return out;
}

int auth_token_remove(struct config_store *cs, const char *id, struct err *e)
{
	char key[64], value[512];
	if (!id || strlen(id) != 12 || id[strspn(id, "0123456789abcdef")])
		return err_set(e, "no token %s", log_esc(id ? id : ""));
	snprintf(key, sizeof key, "token/%s", id);
	if (!config_get_raw(cs, key, value, sizeof value))
		return err_set(e, "no token %s", id);
	return users_kv_put(cs, key, NULL, e);
}
