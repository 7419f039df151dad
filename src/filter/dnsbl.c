/* DNS lists shared by DNSBL and URIBL (zone entries, lookups, verdict),
 * and the DNSBL stage. See dnsbl.h for the list format. */
#include "filter/dnsbl.h"

#include "store/config.h"
#include "util/log.h"
#include "util/net.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define DNSBL_MAX_IPS 12
#define DNSBL_MAX_RECEIVED 20 /* Received: headers looked at */
#define BL_MAX_QUERIES 512

static const struct {
	const char *name;
	enum bl_action action;
	enum action verdict;
} actions[] = {
    {"score", BL_SCORE, ACTION_ALLOW},
    {"tag", BL_TAG, ACTION_TAG},
    {"quarantine", BL_QUARANTINE, ACTION_QUARANTINE},
    {"block", BL_BLOCK, ACTION_BLOCK},
};

const char *bl_action_name(enum bl_action a)
{
	return (unsigned)a < 4 ? actions[a].name : "?";
}

enum action bl_action_verdict(enum bl_action a)
{
	return (unsigned)a < 4 ? actions[a].verdict : ACTION_ALLOW;
}

/* ---- list entries ------------------------------------------------ */

static int parse_codes(json_t *codes, struct bl_zone *z, struct err *e)
{
	size_t i;
	json_t *c;
	if (!json_is_array(codes) || json_array_size(codes) > BL_MAX_CODES)
		return err_set(
		    e, "%s: \"codes\" must be a list of at most %d addresses in 127.0.0.0/8",
		    z->zone, BL_MAX_CODES);
	json_array_foreach(codes, i, c)
	{
		struct in_addr a;
		const char *s = json_string_value(c);
		if (!s || inet_pton(AF_INET, s, &a) != 1 || ((unsigned char *)&a)[0] != 127)
			return err_set(e, "%s: code \"%s\" is not an address in 127.0.0.0/8",
				       z->zone, log_esc(s ? s : "?"));
		memcpy(z->codes[z->ncodes++], &a, 4);
	}
	return 0;
}

static int parse_action(json_t *j, struct bl_zone *z, struct err *e)
{
	const char *s = json_string_value(j);
	for (size_t i = 0; s && i < sizeof actions / sizeof *actions; i++) {
		if (strcmp(s, actions[i].name) == 0) {
			z->action = actions[i].action;
			return 0;
		}
	}
	return err_set(e, "%s: \"action\" must be one of block, quarantine, tag, score", z->zone);
}

static int parse_member(const char *key, json_t *val, struct bl_zone *z, struct err *e)
{
	if (strcmp(key, "action") == 0)
		return parse_action(val, z, e);
	if (strcmp(key, "score") == 0) {
		z->score = json_number_value(val);
		if (!json_is_number(val) || !isfinite(z->score) || fabs(z->score) > 100)
			return err_set(e, "%s: \"score\" must be a number between -100 and 100",
				       z->zone);
		return 0;
	}
	if (strcmp(key, "codes") == 0)
		return parse_codes(val, z, e);
	if (strcmp(key, "mask") == 0) {
		json_int_t m = json_integer_value(val);
		if (!json_is_integer(val) || m < 1 || m > 255)
			return err_set(e, "%s: \"mask\" must be an integer from 1 to 255", z->zone);
		z->mask = (int)m;
		return 0;
	}
	return err_set(e, "%s: unknown member \"%s\" (expected action, score, codes, mask)",
		       z->zone, log_esc(key));
}

int bl_zone_parse(const char *kind, const char *zone, const char *json, struct bl_zone *out,
		  struct err *e)
{
	memset(out, 0, sizeof *out);
	if (dns_name_canon(zone, out->zone, sizeof out->zone) < 0 || !strchr(out->zone, '.'))
		return err_set(e, "bad %s zone \"%s\": expected a DNS name like zen.example.org",
			       kind, log_esc(zone));
	snprintf(out->kind, sizeof out->kind, "%s", kind);
	int o = snprintf(out->rule, sizeof out->rule, "%s_", kind);
	for (const char *p = out->zone; *p && o < (int)sizeof out->rule - 1; p++)
		out->rule[o++] = isalnum((unsigned char)*p) ? *p : '_';
	out->rule[o] = '\0';
	for (char *p = out->rule; *p; p++)
		*p = (char)toupper((unsigned char)*p);
	out->action = BL_SCORE;
	out->score = 1.0;
	json_error_t je;
	json_t *j = json_loads(json ? json : "", JSON_REJECT_DUPLICATES, &je);
	if (!json_is_object(j)) {
		json_decref(j);
		return err_set(e, "%s: value must be a JSON object like {\"action\": \"block\"}",
			       out->zone);
	}
	const char *key;
	json_t *val;
	int rc = 0;
	json_object_foreach(j, key, val)
	{
		if ((rc = parse_member(key, val, out, e)) < 0)
			break;
	}
	json_decref(j);
	return rc;
}

int bl_answer_listed(const struct bl_zone *z, const unsigned char a[4])
{
	if (a[0] != 127)
		return 0;
	if (z->ncodes || z->mask) {
		for (int i = 0; i < z->ncodes; i++)
			if (memcmp(z->codes[i], a, 4) == 0)
				return 1;
		return z->mask && (a[3] & z->mask) != 0;
	}
	return !(a[1] == 255 && a[2] == 255);
}

int bl_zone_value(const struct bl_zone *z, char *out, size_t outlen, struct err *e)
{
	json_t *j = json_pack("{s:s}", "action", bl_action_name(z->action));
	if (z->action == BL_SCORE)
		json_object_set_new(j, "score", json_real(z->score));
	if (z->ncodes) {
		json_t *codes = json_array();
		for (int i = 0; i < z->ncodes; i++) {
			char a[16];
			inet_ntop(AF_INET, z->codes[i], a, sizeof a);
			json_array_append_new(codes, json_string(a));
		}
		json_object_set_new(j, "codes", codes);
	}
	if (z->mask)
		json_object_set_new(j, "mask", json_integer(z->mask));
	char *s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS | JSON_REAL_PRECISION(15));
	json_decref(j);
	int rc = s && strlen(s) < outlen ? 0 : err_set(e, "%s: value too long", z->zone);
	if (rc == 0)
		memcpy(out, s, strlen(s) + 1);
	free(s);
	return rc;
}

int bl_key_check(const char *key, const char *value, char *canon, size_t canonlen, struct err *e)
{
	static const char *const kinds[] = {"dnsbl", "uribl"};
	for (size_t i = 0; i < sizeof kinds / sizeof *kinds; i++) {
		size_t kl = strlen(kinds[i]);
		if (strncmp(key, kinds[i], kl) != 0 || key[kl] != '/')
			continue;
		const char *zone = key + kl + 1;
		struct bl_zone z;
		if (bl_zone_parse(kinds[i], zone, value ? value : "{}", &z, e) < 0)
			return -1;
		if (strcmp(z.zone, zone) != 0)
			return err_set(e,
				       "%s zone \"%s\" is not in canonical form (lower case, no "
				       "trailing dot)",
				       kinds[i], log_esc(zone));
		return value ? bl_zone_value(&z, canon, canonlen, e) : 0;
	}
	return err_set(e, "bad key \"%s\": expected dnsbl/<zone> or uribl/<zone>", log_esc(key));
}

void dnsbl_register_config(void)
{
	config_register_namespace("dnsbl/", bl_key_check);
	config_register_namespace("uribl/", bl_key_check);
}

/* ---- the lists, read from the config store when it changed -------- */

struct list_cache {
	const char *kind;
	struct config_store *cs;
	uint64_t version;
	int valid;
	struct bl_list list;
};

static pthread_mutex_t cache_mu = PTHREAD_MUTEX_INITIALIZER;
static struct list_cache caches[] = {{.kind = "dnsbl"}, {.kind = "uribl"}};

static void list_load(struct config_store *cs, const char *kind, struct bl_list *out)
{
	char prefix[32];
	snprintf(prefix, sizeof prefix, "%s/", kind);
	size_t pl = strlen(prefix), i;
	out->n = 0;
	json_t *rows = config_list_prefix(cs, prefix), *row;
	json_array_foreach(rows, i, row)
	{
		const char *key = json_string_value(json_object_get(row, "key"));
		const char *val = json_string_value(json_object_get(row, "value"));
		struct err e;
		if (!key)
			continue;
		if (out->n == BL_MAX_ZONES) {
			log_warn("%s: more than %d zones, %s and later ones ignored", kind,
				 BL_MAX_ZONES, log_esc(key + pl));
			break;
		}
		if (bl_zone_parse(kind, key + pl, val, &out->zone[out->n], &e) < 0)
			log_warn("%s: zone ignored: %s", kind, e.msg);
		else
			out->n++;
	}
	json_decref(rows);
}

void bl_list_get(struct config_store *cs, const char *kind, struct bl_list *out)
{
	struct list_cache *c = NULL;
	for (size_t i = 0; i < sizeof caches / sizeof *caches; i++)
		if (strcmp(caches[i].kind, kind) == 0)
			c = &caches[i];
	if (!c) {
		out->n = 0;
		return;
	}
	uint64_t version = config_version(cs);
	pthread_mutex_lock(&cache_mu);
	if (!c->valid || c->cs != cs || c->version != version) {
		list_load(cs, kind, &c->list);
		c->cs = cs;
		c->version = version;
		c->valid = 1;
	}
	memcpy(out->zone, c->list.zone, (size_t)c->list.n * sizeof *out->zone);
	out->n = c->list.n;
	pthread_mutex_unlock(&cache_mu);
}

/* ---- lookups and the verdict --------------------------------------- */

int bl_check(struct dns *d, const struct bl_list *l, const char *const *names,
	     const char *const *items, int n, int timeout_ms, struct bl_hit *hits, int maxhits,
	     int *failed)
{
	int nq = 0, nhits = 0;
	*failed = 0;
	if (n <= 0 || l->n == 0)
		return 0;
	if (n * l->n > BL_MAX_QUERIES)
		n = BL_MAX_QUERIES / l->n;
	struct dns_query_spec *q = calloc((size_t)(n * l->n), sizeof *q);
	char(*qn)[DNS_NAME_MAX + 2] = calloc((size_t)(n * l->n), sizeof *qn);
	int *qi = calloc((size_t)(n * l->n), sizeof *qi),
	    *qz = calloc((size_t)(n * l->n), sizeof *qz);
	struct dns_result *r = calloc((size_t)(n * l->n), sizeof *r);
	if (!q || !qn || !qi || !qz || !r)
		goto out;
	for (int i = 0; i < n; i++) {
		for (int z = 0; z < l->n; z++) {
			int w = snprintf(qn[nq], sizeof qn[nq], "%s.%s", names[i], l->zone[z].zone);
			if (w <= 0 || w > DNS_NAME_MAX)
				continue; /* too long for DNS: cannot be listed there */
			q[nq] = (struct dns_query_spec){DNS_T_A, qn[nq]};
			qi[nq] = i;
			qz[nq++] = z;
		}
	}
	dns_lookup_batch(d, q, nq, timeout_ms, r);
	int zfail[BL_MAX_ZONES] = {0};
	enum dns_status zwhy[BL_MAX_ZONES];
	for (int k = 0; k < nq; k++) {
		const struct bl_zone *z = &l->zone[qz[k]];
		if (r[k].status != DNS_OK && r[k].status != DNS_NXDOMAIN &&
		    r[k].status != DNS_NODATA) {
			(*failed)++;
			zfail[qz[k]]++;
			zwhy[qz[k]] = r[k].status;
			continue;
		}
		for (int a = 0; a < r[k].n && nhits < maxhits; a++) {
			if (r[k].ans[a].type != DNS_T_A || !bl_answer_listed(z, r[k].ans[a].addr))
				continue;
			struct bl_hit *h = &hits[nhits++];
			h->zone = z;
			snprintf(h->item, sizeof h->item, "%s", items[qi[k]]);
			inet_ntop(AF_INET, r[k].ans[a].addr, h->answer, sizeof h->answer);
			break; /* one hit per (item, zone) */
		}
	}
	for (int z = 0; z < l->n; z++)
		if (zfail[z])
			log_warn(
			    "%s: zone %s: %d lookup(s) failed (%s), the zone is skipped for this "
			    "message",
			    l->zone[z].kind, l->zone[z].zone, zfail[z], dns_status_name(zwhy[z]));
out:
	free(q);
	free(qn);
	free(qi);
	free(qz);
	free(r);
	return nhits;
}

void bl_apply(struct verdict *v, const char *layer, const char *what, const struct bl_hit *hits,
	      int nhits)
{
	const struct bl_hit *worst = NULL;
	for (int i = 0; i < nhits; i++) {
		const struct bl_hit *h = &hits[i];
		int seen = 0;
		for (int j = 0; j < i; j++)
			seen |= hits[j].zone == h->zone;
		char desc[512];
		snprintf(desc, sizeof desc, "%s %s listed in %s (%s)", what, log_esc(h->item),
			 h->zone->zone, h->answer);
		log_info("%s: %s, action %s", layer, desc, bl_action_name(h->zone->action));
		if (seen) /* one rule hit per zone, however many items it lists */
			continue;
		verdict_hit(v, h->zone->rule, h->zone->action == BL_SCORE ? h->zone->score : 0,
			    desc);
		if (h->zone->action != BL_SCORE &&
		    (!worst || h->zone->action > worst->zone->action))
			worst = h;
	}
	if (!worst)
		return;
	char reason[256], pub[128];
	snprintf(reason, sizeof reason, "%s %s listed in %s (%s)", what, log_esc(worst->item),
		 worst->zone->zone, worst->answer);
	snprintf(pub, sizeof pub, "%s %s blocked using %s", what, log_esc(worst->item),
		 worst->zone->zone);
	verdict_decide(v, bl_action_verdict(worst->zone->action), layer, reason, pub);
}

/* ---- the IPs of a message ------------------------------------------- */

int dnsbl_ip_private(const char *ip)
{
	static const char *const ranges[] = {
	    "10.0.0.0/8",     "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10",
	    "169.254.0.0/16", "fc00::/7",      "fe80::/10",
	};
	for (size_t i = 0; i < sizeof ranges / sizeof *ranges; i++) {
		struct cidr c;
		if (net_parse_cidr(ranges[i], &c, NULL) == 0 && net_cidr_match_text(&c, ip))
			return 1;
	}
	return 0;
}

/* Canonical text of an address (v4-mapped IPv6 as IPv4); -1 if none. */
static int ip_canon(const char *in, size_t n, char out[64])
{
	char t[64];
	unsigned char a[16];
	if (n >= sizeof t)
		return -1;
	memcpy(t, in, n);
	t[n] = '\0';
	if (inet_pton(AF_INET, t, a) == 1)
		return inet_ntop(AF_INET, a, out, 64) ? 0 : -1;
	if (inet_pton(AF_INET6, t, a) != 1)
		return -1;
	if (IN6_IS_ADDR_V4MAPPED((struct in6_addr *)a))
		return inet_ntop(AF_INET, a + 12, out, 64) ? 0 : -1;
	return inet_ntop(AF_INET6, a, out, 64) ? 0 : -1;
}

static int ip_add(const char *in, size_t n, int skip_private, char (*out)[64], int count, int max)
{
	char ip[64];
	if (count >= max || ip_canon(in, n, ip) < 0 || (skip_private && dnsbl_ip_private(ip)))
		return count;
	for (int i = 0; i < count; i++)
		if (strcmp(out[i], ip) == 0)
			return count;
	memcpy(out[count], ip, sizeof ip);
	return count + 1;
}

/* "[1.2.3.4]" and "[IPv6:2001:db8::1]" literals of one Received: value */
static int received_ips(const char *s, int skip_private, char (*out)[64], int count, int max)
{
	for (const char *p = strchr(s, '['); p && count < max; p = strchr(p + 1, '[')) {
		const char *end = strchr(p, ']');
		if (!end)
			break;
		const char *a = p + 1;
		if (strncasecmp(a, "IPv6:", 5) == 0)
			a += 5;
		count = ip_add(a, (size_t)(end - a), skip_private, out, count, max);
	}
	return count;
}

int dnsbl_ips(const char *client_ip, const struct msg_view *view, int scan_received,
	      int skip_private, char (*out)[64], int max)
{
	int n = 0;
	if (client_ip && *client_ip)
		n = ip_add(client_ip, strlen(client_ip), skip_private, out, n, max);
	if (!scan_received || !view)
		return n;
	int seen = 0;
	for (size_t i = 0; i < view->nheaders && seen < DNSBL_MAX_RECEIVED; i++) {
		const struct msg_header *h = &view->headers[i];
		if (strcasecmp(h->name, "Received") != 0)
			continue;
		seen++;
		n = received_ips(h->raw ? h->raw : h->value, skip_private, out, n, max);
	}
	return n;
}

/* ---- the stage ------------------------------------------------------ */

int stage_dnsbl(struct scan_job *job)
{
	const struct scan_input *in = job->in;
	struct dns *d = filter_engine_dns(job->fe);
	struct config_store *cs = filter_engine_cfg(job->fe);
	if (in->offline || !d)
		return 0;
	struct bl_list *l = malloc(sizeof *l);
	if (!l)
		return -1;
	bl_list_get(cs, "dnsbl", l);
	char ips[DNSBL_MAX_IPS][64], names[DNSBL_MAX_IPS][80];
	const char *qn[DNSBL_MAX_IPS] = {0}, *items[DNSBL_MAX_IPS] = {0};
	char shown[DNSBL_MAX_IPS][70];
	int nip =
	    l->n ? dnsbl_ips(in->client_ip, job->view,
			     config_bool(cs, "dnsbl_scan_received", NULL, NULL),
			     config_bool(cs, "dnsbl_skip_private", NULL, NULL), ips, DNSBL_MAX_IPS)
		 : 0;
	for (int i = 0; i < nip; i++) {
		dns_reverse_name(ips[i], NULL, names[i], sizeof names[i]);
		snprintf(shown[i], sizeof shown[i], "[%s]", ips[i]);
		qn[i] = names[i];
		items[i] = shown[i];
	}
	struct bl_hit hits[BL_MAX_ZONES];
	int failed = 0;
	int nhits =
	    bl_check(d, l, qn, items, nip, (int)config_int(cs, "dns_timeout_ms", NULL, NULL), hits,
		     BL_MAX_ZONES, &failed);
	if (nip)
		log_debug("dnsbl: %d address(es) in %d zone(s): %d listing(s), %d lookup(s) failed",
			  nip, l->n, nhits, failed);
	bl_apply(job->v, "dnsbl", "Host", hits, nhits);
	free(l);
	return 0;
}
