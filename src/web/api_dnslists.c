/* API routes of the DNS lists (see api_dnslists.h). Validation is the
 * config store's (the dnsbl/ and uribl/ namespaces registered by
 * dnsbl_register_config); errors come back as 400 with its message. */
#include "web/api_dnslists.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "filter/dns.h"
#include "node.h"
#include "store/config.h"

#define ZONE_VALUE_MAX 2048

/* "dnsbl" or "uribl": the first segment of the path. */
static const char *kind_of(struct api_call *c)
{
	char seg[16];
	if (api_seg(c, 0, seg, sizeof seg) < 0)
		return NULL;
	return strcmp(seg, "dnsbl") == 0 ? "dnsbl" : strcmp(seg, "uribl") == 0 ? "uribl" : NULL;
}

static json_t *zone_json(const char *zone, const char *value)
{
	json_t *o = json_loads(value ? value : "{}", 0, NULL);
	if (!json_is_object(o)) {
		json_decref(o);
		o = json_object();
	}
	json_object_set_new(o, "zone", json_string(zone));
	return o;
}

static void api_zones_list(struct api_call *c)
{
	const char *kind = kind_of(c);
	char prefix[16];
	snprintf(prefix, sizeof prefix, "%s/", kind ? kind : "?");
	json_t *rows = config_list_prefix(c->node->cfg, prefix), *row, *out = json_array();
	size_t i;
	json_array_foreach(rows, i, row) {
		const char *k = json_string_value(json_object_get(row, "key"));
		const char *v = json_string_value(json_object_get(row, "value"));
		if (k)
			json_array_append_new(out, zone_json(k + strlen(prefix), v));
	}
	json_decref(rows);
	c->resp = out;
}

/* The config key of the zone in the path; 400 when it is not a zone. */
static int zone_key(struct api_call *c, char *key, size_t keylen, char *zone, size_t zonelen)
{
	const char *kind = kind_of(c);
	if (!kind || !c->param || dns_name_canon(c->param, zone, zonelen) < 0 ||
	    !strchr(zone, '.')) {
		api_error(c, 400, "zone", "bad zone \"%s\": expected a DNS name like zen.example.org",
			  c->param ? c->param : "");
		return -1;
	}
	snprintf(key, keylen, "%s/%s", kind, zone);
	return 0;
}

static void api_zone_get(struct api_call *c)
{
	char key[300], zone[256], val[ZONE_VALUE_MAX];
	if (zone_key(c, key, sizeof key, zone, sizeof zone) < 0)
		return;
	if (!config_get_raw(c->node->cfg, key, val, sizeof val))
		return api_error(c, 404, "zone", "no %s zone %s", kind_of(c), zone);
	c->resp = zone_json(zone, val);
}

static void api_zone_put(struct api_call *c)
{
	char key[300], zone[256], val[ZONE_VALUE_MAX];
	struct err e;
	if (zone_key(c, key, sizeof key, zone, sizeof zone) < 0 || api_body_object(c) < 0)
		return;
	json_t *body = c->body ? json_deep_copy(c->body) : json_object();
	json_object_del(body, "zone"); /* a GET result may be sent back as it is */
	char *text = json_dumps(body, JSON_COMPACT);
	json_decref(body);
	if (!text)
		return api_error(c, 500, NULL, "out of memory");
	int existed = config_get_raw(c->node->cfg, key, val, sizeof val);
	int rc = config_put(c->node->cfg, key, text, &e);
	free(text);
	if (rc < 0)
		return api_error(c, 400, "value", "%s", e.msg);
	config_get_raw(c->node->cfg, key, val, sizeof val);
	c->status = existed ? 200 : 201;
	c->resp = zone_json(zone, val);
}

static void api_zone_delete(struct api_call *c)
{
	char key[300], zone[256], val[ZONE_VALUE_MAX];
	struct err e;
	if (zone_key(c, key, sizeof key, zone, sizeof zone) < 0)
		return;
	if (!config_get_raw(c->node->cfg, key, val, sizeof val))
		return api_error(c, 404, "zone", "no %s zone %s", kind_of(c), zone);
	if (config_put(c->node->cfg, key, NULL, &e) < 0)
		return api_error(c, 500, NULL, "%s", e.msg);
	c->resp = json_pack("{s:s}", "removed", zone);
}

const struct api_route api_dnslist_routes[] = {
	{"GET", "/dnsbl", api_zones_list, 0},      {"GET", "/dnsbl/*", api_zone_get, 0},
	{"PUT", "/dnsbl/*", api_zone_put, 0},      {"DELETE", "/dnsbl/*", api_zone_delete, 0},
	{"GET", "/uribl", api_zones_list, 0},      {"GET", "/uribl/*", api_zone_get, 0},
	{"PUT", "/uribl/*", api_zone_put, 0},      {"DELETE", "/uribl/*", api_zone_delete, 0},
};
const unsigned api_dnslist_nroutes = sizeof api_dnslist_routes / sizeof *api_dnslist_routes;
