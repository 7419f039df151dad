/* Per-user whitelist and blacklist: ulist/<address>/<list>/<entry> keys
 * of the config store, matched per recipient by the filter pipeline. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/config.h"
#include "store/settings.h"
#include "store/users.h"
#include "util/log.h"
#include "util/timeutil.h"

#define KEY_MAX 1024

static const char *const list_names[] = {[ULIST_WHITE] = "whitelist", [ULIST_BLACK] = "blacklist"};

int users_list_parse(const char *name, enum user_list *l)
{
	for (size_t i = 0; i < sizeof list_names / sizeof *list_names; i++)
		if (name && strcmp(name, list_names[i]) == 0) {
			*l = (enum user_list)i;
			return 0;
		}
	return -1;
}

const char *users_list_name(enum user_list l)
{
	return list_names[l];
}

int users_list_entry_normalize(const char *in, char *out, size_t outlen, struct err *e)
{
	char tmp[USERS_ADDR_MAX];
	if (!in || !*in)
		return err_set(e, "an address (name@example.com) or a domain (example.com) is required");
	while (*in == ' ' || *in == '\t')
		in++;
	size_t n = strlen(in);
	while (n && (in[n - 1] == ' ' || in[n - 1] == '\t'))
		n--;
	if (n == 0 || n >= sizeof tmp)
		return err_set(e, "entry too long (at most 254 characters)");
	memcpy(tmp, in, n);
	tmp[n] = '\0';
	const char *at = strrchr(tmp, '@');
	int rc;
	if (at == tmp) /* "@example.com": a domain */
		rc = settings_domain_normalize(tmp + 1, out, outlen, e);
	else if (at)
		rc = settings_address_normalize(tmp, out, outlen, e);
	else
		rc = settings_domain_normalize(tmp, out, outlen, e);
	if (rc == 0 && strchr(out, '/'))
		return err_set(e, "'/' is not allowed in an entry");
	return rc;
}

static int list_key(const char *addr, enum user_list l, const char *entry, char *out,
		    size_t outlen, struct err *e)
{
	char a[USERS_ADDR_MAX];
	if (settings_address_normalize(addr, a, sizeof a, e) < 0)
		return -1;
	int n = snprintf(out, outlen, "ulist/%s/%s/%s", a, list_names[l], entry ? entry : "");
	if (n < 0 || (size_t)n >= outlen)
		return err_set(e, "entry too long");
	return 0;
}

static size_t list_count(struct config_store *cs, const char *addr, enum user_list l)
{
	char prefix[KEY_MAX];
	if (list_key(addr, l, NULL, prefix, sizeof prefix, NULL) < 0)
		return 0;
	json_t *rows = users_kv_list(cs, prefix);
	size_t n = json_array_size(rows);
	json_decref(rows);
	return n;
}

int users_list_add(struct config_store *cs, const char *addr, enum user_list l, const char *entry,
		   struct err *e)
{
	char canon[USERS_ADDR_MAX], key[KEY_MAX], cur[256];
	if (users_list_entry_normalize(entry, canon, sizeof canon, e) < 0 ||
	    list_key(addr, l, canon, key, sizeof key, e) < 0)
		return -1;
	if (config_get_raw(cs, key, cur, sizeof cur))
		return 0; /* already listed */
	if (list_count(cs, addr, l) >= USERS_LIST_MAX)
		return err_set(e, "the %s already has %d entries (the most allowed)", list_names[l],
			       USERS_LIST_MAX);
	char value[64];
	snprintf(value, sizeof value, "{\"added_ms\":%lld}", (long long)time_now_ms());
	return users_kv_put(cs, key, value, e);
}

int users_list_remove(struct config_store *cs, const char *addr, enum user_list l,
		      const char *entry, struct err *e)
{
	char canon[USERS_ADDR_MAX], key[KEY_MAX], cur[256];
	if (users_list_entry_normalize(entry, canon, sizeof canon, e) < 0 ||
	    list_key(addr, l, canon, key, sizeof key, e) < 0)
		return -1;
	if (!config_get_raw(cs, key, cur, sizeof cur))
		return err_set(e, "%s is not in the %s", canon, list_names[l]);
	return users_kv_put(cs, key, NULL, e);
}

json_t *users_lists_json(struct config_store *cs, const char *addr)
{
	json_t *out = json_object();
	for (size_t l = 0; l < sizeof list_names / sizeof *list_names; l++) {
		char prefix[KEY_MAX];
		json_t *arr = json_array();
		json_object_set_new(out, list_names[l], arr);
		if (list_key(addr, (enum user_list)l, NULL, prefix, sizeof prefix, NULL) < 0)
			continue;
		json_t *rows = users_kv_list(cs, prefix), *r;
		size_t i;
		json_array_foreach(rows, i, r)
		{
			const char *key = json_string_value(json_object_get(r, "key"));
			json_t *v = json_loads(json_string_value(json_object_get(r, "value")), 0, NULL);
			json_array_append_new(arr, json_pack("{s:s, s:I}", "entry", key + strlen(prefix),
							     "added_ms",
							     json_integer_value(json_object_get(v, "added_ms"))));
			json_decref(v);
		}
		json_decref(rows);
	}
	return out;
}

/* -1/0/+1 for one candidate entry (address or domain) of rcpt's lists. */
static int match_one(struct config_store *cs, const char *rcpt, const char *entry)
{
	char key[KEY_MAX], v[256];
	snprintf(key, sizeof key, "ulist/%s/whitelist/%s", rcpt, entry);
	if (config_get_raw(cs, key, v, sizeof v))
		return 1;
	snprintf(key, sizeof key, "ulist/%s/blacklist/%s", rcpt, entry);
	if (config_get_raw(cs, key, v, sizeof v))
		return -1;
	return 0;
}

static int lower_into(const char *s, char *out, size_t outlen)
{
	size_t n = s ? strlen(s) : 0;
	if (n == 0 || n >= outlen)
		return -1;
	for (size_t i = 0; i <= n; i++)
		out[i] = (char)tolower((unsigned char)s[i]);
	return 0;
}

int users_list_match(struct config_store *cs, const char *rcpt, const char *sender)
{
	char r[USERS_ADDR_MAX], s[USERS_ADDR_MAX];
	if (lower_into(rcpt, r, sizeof r) < 0 || lower_into(sender, s, sizeof s) < 0)
		return 0;
	const char *at = strrchr(s, '@');
	if (!at || strchr(r, '/') || strchr(s, '/'))
		return 0;
	int m = match_one(cs, r, s);
	/* the sender's domain, then each parent with at least two labels */
	for (const char *d = at + 1; !m && d && strchr(d, '.'); d = strchr(d, '.') + 1)
		m = match_one(cs, r, d);
	return m;
}
