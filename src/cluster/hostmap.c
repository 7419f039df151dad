/* The Local Host Map: host name -> address entries of this node only,
 * consulted before DNS by every name this node resolves (cluster peers,
 * destination servers). Kept in the node database (cluster_hostmap) and,
 * in the daemon, in memory under a rwlock for lookups from any thread. */
#include <arpa/inet.h>
#include <ctype.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cluster/cluster_int.h"
#include "filter/dns.h"
#include "node.h"
#include "store/db.h"
#include "util/log.h"
#include "util/net.h"

#define HOSTMAP_MAX 1000
#define RESOLVE_TIMEOUT_MS 3000

struct hm_entry {
	char name[CLUSTER_NAME_MAX];
	char addr[64];
};

/* Lower case, without one trailing dot; letters, digits, '-', '_' and
 * dots between non-empty labels of at most 63 characters. */
int hostmap_name_check(const char *name, char *canon, size_t len, struct err *e)
{
	size_t n = name ? strlen(name) : 0;
	if (n && name[n - 1] == '.')
		n--;
	if (n == 0 || n > 253 || n >= len)
		return err_set(e, "bad host name \"%s\": 1 to 253 characters", log_esc(name ? name : ""));
	size_t label = 0;
	for (size_t i = 0; i < n; i++) {
		char ch = name[i];
		if (ch == '.') {
			if (label == 0)
				return err_set(e, "bad host name \"%s\": empty label", log_esc(name));
			label = 0;
		} else if (isalnum((unsigned char)ch) || ch == '-' || ch == '_') {
			if (++label > 63)
				return err_set(e, "bad host name \"%s\": label longer than 63", log_esc(name));
		} else {
			return err_set(e, "bad host name \"%s\": only letters, digits, '-', '_' and '.'",
				       log_esc(name));
		}
		canon[i] = (char)tolower((unsigned char)ch);
	}
	canon[n] = '\0';
	return 0;
}

int hostmap_addr_check(const char *addr, char *canon, size_t len, struct err *e)
{
	unsigned char bin[16];
	char text[INET6_ADDRSTRLEN];
	int af = addr && strchr(addr, ':') ? AF_INET6 : AF_INET;
	if (!addr || inet_pton(af, addr, bin) != 1 || !inet_ntop(af, bin, text, sizeof text))
		return err_set(e, "bad address \"%s\": expected an IPv4 or IPv6 address",
			       log_esc(addr ? addr : ""));
	if (strlen(text) >= len)
		return err_set(e, "address too long");
	memcpy(canon, text, strlen(text) + 1);
	return 0;
}

int hostmap_load(struct cluster *c, sqlite3 *db, struct err *e)
{
	sqlite3_stmt *st = db_prepare(db, "SELECT name, address FROM cluster_hostmap ORDER BY name", e);
	if (!st)
		return -1;
	struct hm_entry *hm = calloc(HOSTMAP_MAX, sizeof *hm);
	size_t n = 0;
	if (!hm) {
		sqlite3_finalize(st);
		return err_set(e, "out of memory");
	}
	while (n < HOSTMAP_MAX && sqlite3_step(st) == SQLITE_ROW) {
		const char *name = (const char *)sqlite3_column_text(st, 0);
		const char *addr = (const char *)sqlite3_column_text(st, 1);
		snprintf(hm[n].name, sizeof hm[n].name, "%s", name ? name : "");
		snprintf(hm[n].addr, sizeof hm[n].addr, "%s", addr ? addr : "");
		n++;
	}
	sqlite3_finalize(st);
	pthread_rwlock_wrlock(&c->hmlock);
	struct hm_entry *old = c->hm;
	c->hm = hm;
	c->nhm = n;
	pthread_rwlock_unlock(&c->hmlock);
	free(old);
	return 0;
}

void hostmap_free(struct cluster *c)
{
	free(c->hm);
	c->hm = NULL;
	c->nhm = 0;
}

static int entry_cmp(const void *key, const void *ent)
{
	return strcmp(key, ((const struct hm_entry *)ent)->name);
}

int hostmap_lookup(struct node *n, const char *name, char *addr, size_t len)
{
	char canon[CLUSTER_NAME_MAX];
	struct cluster *c = n ? n->cluster : NULL;
	if (!c || hostmap_name_check(name, canon, sizeof canon, NULL) < 0)
		return -1;
	pthread_rwlock_rdlock(&c->hmlock);
	const struct hm_entry *h = c->nhm ? bsearch(canon, c->hm, c->nhm, sizeof *c->hm, entry_cmp)
					  : NULL;
	if (h)
		snprintf(addr, len, "%s", h->addr);
	pthread_rwlock_unlock(&c->hmlock);
	return h ? 0 : -1;
}

static int hostmap_count(sqlite3 *db)
{
	sqlite3_stmt *st = db_cached(db, "SELECT count(*) FROM cluster_hostmap", NULL);
	int n = st && sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int(st, 0) : 0;
	if (st)
		sqlite3_reset(st);
	return n;
}

int hostmap_set(struct node *n, sqlite3 *db, const char *name, const char *addr, struct err *e)
{
	char cn[CLUSTER_NAME_MAX], ca[64], cur[64];
	if (hostmap_name_check(name, cn, sizeof cn, e) < 0 || hostmap_addr_check(addr, ca, sizeof ca, e) < 0)
		return -1;
	if (hostmap_lookup(n, cn, cur, sizeof cur) < 0 && hostmap_count(db) >= HOSTMAP_MAX)
		return err_set(e, "the Local Host Map holds at most %d entries", HOSTMAP_MAX);
	sqlite3_stmt *st = db_cached(db,
				     "INSERT INTO cluster_hostmap(name, address) VALUES(?1, ?2)"
				     " ON CONFLICT(name) DO UPDATE SET address = excluded.address",
				     e);
	if (!st)
		return -1;
	sqlite3_bind_text(st, 1, cn, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, ca, -1, SQLITE_STATIC);
	if (db_step_done(st, e) < 0)
		return -1;
	log_info("cluster: host map: %s -> %s", cn, ca);
	if (n->cluster) {
		hostmap_load(n->cluster, db, NULL);
		cluster_task(n->cluster, TASK_MEMBERS); /* a member's address may have changed */
	}
	return 0;
}

int hostmap_remove(struct node *n, sqlite3 *db, const char *name, struct err *e)
{
	char cn[CLUSTER_NAME_MAX];
	if (hostmap_name_check(name, cn, sizeof cn, e) < 0)
		return -1;
	sqlite3_stmt *st = db_cached(db, "DELETE FROM cluster_hostmap WHERE name = ?1", e);
	if (!st)
		return -1;
	sqlite3_bind_text(st, 1, cn, -1, SQLITE_STATIC);
	if (db_step_done(st, e) < 0)
		return -1;
	if (sqlite3_changes(db) == 0)
		return err_set(e, "%s is not in the Local Host Map", cn);
	log_info("cluster: host map: %s removed", cn);
	if (n->cluster) {
		hostmap_load(n->cluster, db, NULL);
		cluster_task(n->cluster, TASK_MEMBERS);
	}
	return 0;
}

json_t *hostmap_list(struct node *n, sqlite3 *db)
{
	(void)n;
	json_t *arr = json_array();
	sqlite3_stmt *st = db_cached(db, "SELECT name, address FROM cluster_hostmap ORDER BY name", NULL);
	while (st && sqlite3_step(st) == SQLITE_ROW)
		json_array_append_new(arr, json_pack("{s:s,s:s}", "name",
						     (const char *)sqlite3_column_text(st, 0), "address",
						     (const char *)sqlite3_column_text(st, 1)));
	if (st)
		sqlite3_reset(st);
	return arr;
}

/* Through the node's resolver (A, then AAAA); -1 when it has no answer. */
static int resolve_dns(struct dns *d, const char *name, char *addr, size_t len, char *why,
		       size_t whylen)
{
	static const int types[] = {DNS_T_A, DNS_T_AAAA};
	struct dns_result *r = malloc(sizeof *r);
	if (!r)
		return -1;
	int rc = -1;
	for (size_t t = 0; t < 2 && rc < 0; t++) {
		if (dns_lookup_sync(d, types[t], name, RESOLVE_TIMEOUT_MS, r) < 0 || r->status != DNS_OK) {
			snprintf(why, whylen, "%s", dns_status_name(r->status));
			if (r->status == DNS_TIMEOUT)
				break; /* no server answers: AAAA would wait as long */
			continue;
		}
		for (int i = 0; i < r->n && rc < 0; i++)
			if (r->ans[i].type == types[t])
				rc = inet_ntop(types[t] == DNS_T_A ? AF_INET : AF_INET6, r->ans[i].addr,
					       addr, (socklen_t)len)
					     ? 0
					     : -1;
	}
	free(r);
	return rc;
}

/* name in a hosts file (/etc/hosts): the first address listed for it. */
static int resolve_hosts_file(const char *path, const char *name, char *addr, size_t len)
{
	FILE *f = fopen(path, "r");
	char line[1024];
	int found = 0;
	if (!f)
		return -1;
	for (int n = 0; !found && n < 100000 && fgets(line, sizeof line, f); n++) {
		char *hash = strchr(line, '#'), *save = NULL, canon[64];
		if (hash)
			*hash = '\0';
		char *a = strtok_r(line, " \t\r\n", &save);
		if (!a || hostmap_addr_check(a, canon, sizeof canon, NULL) < 0)
			continue;
		for (char *h = strtok_r(NULL, " \t\r\n", &save); h && !found;
		     h = strtok_r(NULL, " \t\r\n", &save))
			if (strcasecmp(h, name) == 0) {
				snprintf(addr, len, "%s", canon);
				found = 1;
			}
	}
	fclose(f);
	return found ? 0 : -1;
}

static int resolve_system(const char *name, char *addr, size_t len, char *why, size_t whylen)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;
	int rc = getaddrinfo(name, NULL, &hints, &res);
	if (rc != 0 || !res) {
		snprintf(why, whylen, "%s", gai_strerror(rc));
		return -1;
	}
	net_addr_text(res->ai_addr, addr, len);
	freeaddrinfo(res);
	return 0;
}

int cluster_resolve(struct node *n, const char *name, char *addr, size_t len, struct err *e)
{
	char canon[CLUSTER_NAME_MAX], why[128] = "no address";
	if (hostmap_addr_check(name, addr, len, NULL) == 0)
		return 0;
	if (hostmap_name_check(name, canon, sizeof canon, e) < 0)
		return -1;
	if (hostmap_lookup(n, canon, addr, len) == 0 ||
	    resolve_hosts_file("/etc/hosts", canon, addr, len) == 0)
		return 0;
	int rc = n && n->dns ? resolve_dns(n->dns, canon, addr, len, why, sizeof why)
			     : resolve_system(canon, addr, len, why, sizeof why);
	if (rc == 0)
		return 0;
	return err_set(e,
		       "cannot resolve host name %s (%s): add it to the Local Host Map on every "
		       "member (rampart cluster hostmap add %s ADDRESS)",
		       canon, why, canon);
}
