/* API routes of the policy layers (api_lists.h): lists, content filters,
 * fingerprints. Lists and filters live in the config store (validated by
 * lists_key_check there too, so a replicated or imported key obeys the
 * same rules); fingerprints in the node's database. */
#include "web/api_lists.h"

#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "filter/fingerprint.h"
#include "filter/lists.h"
#include "node.h"
#include "store/config.h"
#include "store/quarantine.h"
#include "util/log.h"

#define BULK_MAX 10000

static const char *body_str(struct api_call *c, const char *key, int *bad)
{
	json_t *v = c->body ? json_object_get(c->body, key) : NULL;
	if (v && !json_is_string(v)) {
		api_error(c, 400, key, "%s must be a string", key);
		*bad = 1;
	}
	return json_string_value(v);
}

/* limit/offset of the query; -1 after an error reply. */
static int paging(struct api_call *c, long *limit, long *offset)
{
	const char *l = api_query(c, "limit"), *o = api_query(c, "offset");
	char *end;
	*limit = 50;
	*offset = 0;
	if (l && ((*limit = strtol(l, &end, 10)) < 1 || *limit > 1000 || *end || !*l)) {
		api_error(c, 400, "limit", "limit must be an integer between 1 and 1000");
		return -1;
	}
	if (o && ((*offset = strtol(o, &end, 10)) < 0 || *end || !*o)) {
		api_error(c, 400, "offset", "offset must be an integer >= 0");
		return -1;
	}
	return 0;
}

/* ---- lists ------------------------------------------------------------ */

static json_t *entry_json(const struct list_def *d, const char *entry, const char *value)
{
	json_t *v = json_loads(value ? value : "{}", 0, NULL);
	const char *comment = json_string_value(json_object_get(v, "comment"));
	const char *action = json_string_value(json_object_get(v, "action"));
	json_t *j = json_pack("{s:s, s:s, s:s, s:o}", "list", d->name, "entry", entry, "comment",
			      comment ? comment : "", "action",
			      action ? json_string(action) : json_null());
	json_decref(v);
	return j;
}

/* "name" or "name/entry" of the path; NULL after an error reply. */
static const struct list_def *path_list(struct api_call *c, char *entry, size_t entrylen,
					int want_entry)
{
	char name[64];
	const char *p = c->param ? c->param : "";
	size_t n = strcspn(p, "/");
	snprintf(name, sizeof name, "%.*s", (int)(n < sizeof name ? n : sizeof name - 1), p);
	const struct list_def *d = lists_find(name);
	if (!d || n >= sizeof name) {
		api_error(c, 404, "list",
			  "no list '%s' (ip_allow, ip_block, sender_allow, "
			  "sender_block, rcpt_allow, rcpt_block, attach_ext, attach_mime)",
			  log_esc(name));
		return NULL;
	}
	const char *raw = p[n] == '/' ? p + n + 1 : "";
	if (!want_entry) {
		if (*raw) {
			api_error(c, 405, NULL, "method not allowed on a list entry");
			return NULL;
		}
		return d;
	}
	struct err e;
	if (!*raw) {
		api_error(c, 405, NULL, "method not allowed on a whole list");
		return NULL;
	}
	if (lists_entry_normalize(d, raw, entry, entrylen, &e) < 0) {
		api_error(c, 400, "entry", "%s", e.msg);
		return NULL;
	}
	return d;
}

static void api_lists_index(struct api_call *c)
{
	json_t *rows = json_array();
	for (size_t i = 0; i < L_COUNT; i++) {
		const struct list_def *d = &lists_table[i];
		char prefix[64];
		snprintf(prefix, sizeof prefix, "list/%s/", d->name);
		json_t *keys = config_list_prefix(c->node->cfg, prefix);
		json_array_append_new(
		    rows,
		    json_pack("{s:s, s:s, s:o, s:s, s:I}", "name", d->name, "type",
			      (const char *[]){"cidr", "address", "extension", "mime"}[d->type],
			      "actions", d->actions ? json_string(d->actions) : json_null(), "help",
			      d->help, "count", (json_int_t)json_array_size(keys)));
		json_decref(keys);
	}
	c->resp = json_pack("{s:I, s:o}", "total", (json_int_t)L_COUNT, "rows", rows);
}

static void list_rows(struct api_call *c, const struct list_def *d)
{
	long limit, offset;
	if (paging(c, &limit, &offset) < 0)
		return;
	const char *q = api_query(c, "q");
	char prefix[64];
	snprintf(prefix, sizeof prefix, "list/%s/", d->name);
	json_t *keys = config_list_prefix(c->node->cfg, prefix), *it, *rows = json_array();
	size_t i, total = 0;
	json_array_foreach(keys, i, it)
	{
		const char *entry = json_string_value(json_object_get(it, "key")) + strlen(prefix);
		const char *val = json_string_value(json_object_get(it, "value"));
		if (q && !strcasestr(entry, q) && !(val && strcasestr(val, q)))
			continue;
		if (total++ >= (size_t)offset && json_array_size(rows) < (size_t)limit)
			json_array_append_new(rows, entry_json(d, entry, val));
	}
	json_decref(keys);
	c->resp = json_pack("{s:I, s:o}", "total", (json_int_t)total, "rows", rows);
}

static void api_list_get(struct api_call *c)
{
	char entry[LISTS_ENTRY_MAX], key[LISTS_ENTRY_MAX + 80], val[2048];
	const char *slash = c->param ? strchr(c->param, '/') : NULL;
	const struct list_def *d = path_list(c, entry, sizeof entry, slash != NULL);
	if (!d)
		return;
	if (!slash)
		return list_rows(c, d);
	lists_key_make(d, entry, key, sizeof key);
	if (!config_get_raw(c->node->cfg, key, val, sizeof val))
		return api_error(c, 404, "entry", "%s is not on %s", entry, d->name);
	c->resp = entry_json(d, entry, val);
}

/* One {"entry", "comment", "action"} into its key and value; -1 after an
 * error reply. */
static int entry_prepare(struct api_call *c, const struct list_def *d, json_t *o, char *entry,
			 char *key, size_t keylen, char *val, size_t vallen)
{
	json_t *je = json_object_get(o, "entry"), *jc = json_object_get(o, "comment"),
	       *ja = json_object_get(o, "action");
	struct err e;
	if (!json_is_string(je)) {
		api_error(c, 400, "entry", "entry is required (a string)");
		return -1;
	}
	if ((jc && !json_is_string(jc)) || (ja && !json_is_null(ja) && !json_is_string(ja))) {
		api_error(c, 400, jc && !json_is_string(jc) ? "comment" : "action",
			  "comment and action must be strings");
		return -1;
	}
	if (lists_entry_normalize(d, json_string_value(je), entry, LISTS_ENTRY_MAX, &e) < 0) {
		api_error(c, 400, "entry", "%s", e.msg);
		return -1;
	}
	if (lists_value_make(d, json_string_value(jc), json_string_value(ja), val, vallen, &e) <
	    0) {
		api_error(c, 400, ja ? "action" : "comment", "%s", e.msg);
		return -1;
	}
	lists_key_make(d, entry, key, keylen);
	return 0;
}

struct prepared {
	char entry[LISTS_ENTRY_MAX];
	char key[LISTS_ENTRY_MAX + 80];
	char val[1024];
};

static void api_list_add(struct api_call *c)
{
	const struct list_def *d = path_list(c, NULL, 0, 0);
	if (!d)
		return;
	json_t *many = c->body ? json_object_get(c->body, "entries") : NULL;
	if (many && (!json_is_array(many) || json_array_size(many) > BULK_MAX))
		return api_error(c, 400, "entries",
				 "entries must be an array of at most %d objects", BULK_MAX);
	size_t n = many ? json_array_size(many) : 1;
	struct prepared *pp = calloc(n ? n : 1, sizeof *pp);
	for (size_t i = 0; i < n; i++) {
		json_t *o = many ? json_array_get(many, i) : c->body;
		if (!json_is_object(o)) {
			api_error(c, 400, "entries", "every entry must be an object");
			goto out;
		}
		if (entry_prepare(c, d, o, pp[i].entry, pp[i].key, sizeof pp[i].key, pp[i].val,
				  sizeof pp[i].val) < 0)
			goto out;
	}
	struct err e;
	for (size_t i = 0; i < n; i++)
		if (config_put(c->node->cfg, pp[i].key, pp[i].val, &e) < 0) {
			api_error(c, 500, NULL, "%s", e.msg);
			goto out;
		}
	c->status = 201;
	if (!many) {
		c->resp = entry_json(d, pp[0].entry, pp[0].val);
	} else {
		json_t *rows = json_array();
		for (size_t i = 0; i < n; i++)
			json_array_append_new(rows, entry_json(d, pp[i].entry, pp[i].val));
		c->resp = json_pack("{s:I, s:o}", "added", (json_int_t)n, "rows", rows);
	}
out:
	free(pp);
}

static void api_list_remove(struct api_call *c)
{
	char entry[LISTS_ENTRY_MAX], key[LISTS_ENTRY_MAX + 80], val[2048];
	const struct list_def *d = path_list(c, entry, sizeof entry, 1);
	struct err e;
	if (!d)
		return;
	lists_key_make(d, entry, key, sizeof key);
	if (!config_get_raw(c->node->cfg, key, val, sizeof val))
		return api_error(c, 404, "entry", "%s is not on %s", entry, d->name);
	if (config_put(c->node->cfg, key, NULL, &e) < 0)
		return api_error(c, 500, NULL, "%s", e.msg);
	c->resp = json_pack("{s:s, s:s}", "list", d->name, "removed", entry);
}

static json_t *hit_json(int matched, const struct list_hit *h)
{
	if (!matched)
		return json_null();
	return json_pack("{s:s, s:s, s:s, s:s}", "list", lists_table[h->list].name, "entry",
			 h->entry, "comment", h->comment, "action", action_name(h->action));
}

/* Which entries decide for these inputs (why was this message blocked?). */
static void api_policy_check(struct api_call *c)
{
	struct policy *p = policy_acquire(c->node->cfg);
	struct list_hit h;
	const char *ip = api_query(c, "ip"), *snd = api_query(c, "sender"),
		   *rcpt = api_query(c, "rcpt"), *fn = api_query(c, "filename"),
		   *type = api_query(c, "type");
	c->resp = json_object();
	if (ip)
		json_object_set_new(c->resp, "ip", hit_json(policy_match_ip(p, ip, &h), &h));
	if (snd)
		json_object_set_new(c->resp, "sender",
				    hit_json(policy_match_sender(p, snd, &h), &h));
	if (rcpt)
		json_object_set_new(c->resp, "rcpt", hit_json(policy_match_rcpt(p, rcpt, &h), &h));
	if (fn)
		json_object_set_new(c->resp, "filename", hit_json(policy_match_ext(p, fn, &h), &h));
	if (type)
		json_object_set_new(c->resp, "type", hit_json(policy_match_mime(p, type, &h), &h));
	policy_release(p);
}

/* ---- content filters ---------------------------------------------------- */

static json_t *filter_json(const char *id, const char *value)
{
	json_t *v = json_loads(value, 0, NULL);
	if (!json_is_object(v)) {
		json_decref(v);
		v = json_object();
	}
	json_object_set_new(v, "id", json_string(id));
	if (!json_object_get(v, "comment"))
		json_object_set_new(v, "comment", json_string(""));
	return v;
}

static void api_filters_list(struct api_call *c)
{
	json_t *keys = config_list_prefix(c->node->cfg, "filter/"), *it, *rows = json_array();
	size_t i;
	json_array_foreach(keys, i, it)
	{
		json_array_append_new(rows,
				      filter_json(json_string_value(json_object_get(it, "key")) + 7,
						  json_string_value(json_object_get(it, "value"))));
	}
	json_decref(keys);
	c->resp = json_pack("{s:I, s:o}", "total", (json_int_t)json_array_size(rows), "rows", rows);
}

/* The member a filter_value_make error is about (its message names it). */
static const char *error_field(const char *msg)
{
	static const char *const fields[] = {"pattern", "target", "action"};
	for (size_t i = 0; i < sizeof fields / sizeof *fields; i++)
		if (strstr(msg, fields[i]))
			return fields[i];
	return "comment";
}

/* Validates the body and stores filter/<id>; create: refuse an existing id. */
static void filter_store(struct api_call *c, const char *id, int create)
{
	char key[FILTER_ID_MAX + 16], val[2048], old[2048];
	int bad = 0;
	const char *t = body_str(c, "target", &bad), *p = body_str(c, "pattern", &bad),
		   *a = body_str(c, "action", &bad), *cm = body_str(c, "comment", &bad);
	struct err e;
	if (bad)
		return;
	if (!filter_id_valid(id))
		return api_error(c, 400, "id", "id must be 1-%d of a-z 0-9 _ -", FILTER_ID_MAX);
	if (!t || !p || !a)
		return api_error(c, 400, !t ? "target" : !p ? "pattern" : "action",
				 "target, pattern and action are required");
	if (filter_value_make(t, p, a, cm, val, sizeof val, &e) < 0)
		return api_error(c, 400, error_field(e.msg), "%s", e.msg);
	snprintf(key, sizeof key, "filter/%s", id);
	int existed = config_get_raw(c->node->cfg, key, old, sizeof old);
	if (create && existed)
		return api_error(c, 409, "id", "filter '%s' exists (PUT /filters/%s replaces it)",
				 id, id);
	if (config_put(c->node->cfg, key, val, &e) < 0)
		return api_error(c, 500, NULL, "%s", e.msg);
	c->status = existed ? 200 : 201;
	c->resp = filter_json(id, val);
}

static void api_filter_add(struct api_call *c)
{
	int bad = 0;
	const char *id = body_str(c, "id", &bad);
	char gen[16];
	if (bad)
		return;
	if (!id) {
		unsigned char r[6];
		if (getrandom(r, sizeof r, 0) != (ssize_t)sizeof r)
			return api_error(c, 500, NULL, "no randomness for a filter id");
		snprintf(gen, sizeof gen, "f%02x%02x%02x%02x%02x%02x", r[0], r[1], r[2], r[3], r[4],
			 r[5]);
		id = gen;
	}
	filter_store(c, id, 1);
}

static void api_filter_put(struct api_call *c)
{
	filter_store(c, c->param, 0);
}

static void api_filter_get(struct api_call *c)
{
	char key[FILTER_ID_MAX + 16], val[2048];
	if (!filter_id_valid(c->param) || (snprintf(key, sizeof key, "filter/%s", c->param),
					   !config_get_raw(c->node->cfg, key, val, sizeof val)))
		return api_error(c, 404, "id", "no filter '%s'", log_esc(c->param));
	c->resp = filter_json(c->param, val);
}

static void api_filter_remove(struct api_call *c)
{
	char key[FILTER_ID_MAX + 16], val[2048];
	struct err e;
	if (!filter_id_valid(c->param) || (snprintf(key, sizeof key, "filter/%s", c->param),
					   !config_get_raw(c->node->cfg, key, val, sizeof val)))
		return api_error(c, 404, "id", "no filter '%s'", log_esc(c->param));
	if (config_put(c->node->cfg, key, NULL, &e) < 0)
		return api_error(c, 500, NULL, "%s", e.msg);
	c->resp = json_pack("{s:s}", "removed", c->param);
}

/* ---- fingerprints -------------------------------------------------------- */

/* The message of the body: "message" (text), "message_base64" (any
 * bytes) or "quarantine_id". Caller frees *data. -1 after an error reply. */
static int body_message(struct api_call *c, char **data, size_t *len)
{
	json_t *m = json_object_get(c->body, "message"),
	       *b = json_object_get(c->body, "message_base64"),
	       *q = json_object_get(c->body, "quarantine_id");
	struct err e;
	if (json_is_string(m)) {
		*len = json_string_length(m);
		*data = malloc(*len + 1);
		memcpy(*data, json_string_value(m), *len + 1);
		return 0;
	}
	if (json_is_string(b)) {
		size_t n = json_string_length(b);
		*data = malloc(n / 4 * 3 + 4);
		if (sodium_base642bin((unsigned char *)*data, n / 4 * 3 + 4, json_string_value(b),
				      n, " \t\r\n", len, NULL,
				      sodium_base64_VARIANT_ORIGINAL) != 0) {
			free(*data);
			api_error(c, 400, "message_base64", "message_base64 is not base64");
			return -1;
		}
		return 0;
	}
	if (json_is_integer(q)) {
		struct quarantine_msg qm;
		if (quarantine_get(c->db, c->node->boot.data_dir, json_integer_value(q), NULL, &qm,
				   &e) < 0) {
			api_error(c, 404, "quarantine_id", "%s", e.msg);
			return -1;
		}
		json_decref(qm.row);
		if (quarantine_read(&qm, data, len, &e) < 0) {
			api_error(c, 410, "quarantine_id", "%s", e.msg);
			return -1;
		}
		return 0;
	}
	api_error(c, 400, "message", "message (text), message_base64 or quarantine_id is required");
	return -1;
}

/* Parses the body's message and fingerprints it; -1 after an error reply. */
static int body_fingerprint(struct api_call *c, struct msg_view *v, struct fingerprint *fp)
{
	char *data;
	size_t len;
	struct err e;
	if (body_message(c, &data, &len) < 0)
		return -1;
	int rc = msgview_parse(data, len, v, &e);
	free(data); /* the view keeps no pointer into data beyond "full" */
	if (rc < 0) {
		api_error(c, 400, "message", "cannot parse the message: %s", e.msg);
		return -1;
	}
	v->full = NULL;
	v->full_len = 0;
	if (fingerprint_compute(v, fp) < 0) {
		api_error(c, 400, "message",
			  "too little text to fingerprint (%u word triples, %d needed)",
			  fp->features, FINGERPRINT_MIN_FEATURES);
		msgview_free(v);
		return -1;
	}
	return 0;
}

static void api_fp_list(struct api_call *c)
{
	long limit, offset;
	struct err e;
	if (paging(c, &limit, &offset) < 0)
		return;
	c->resp = fingerprint_list(c->db, (int)limit, (int)offset, &e);
	if (!c->resp)
		api_error(c, 500, NULL, "%s", e.msg);
}

static void api_fp_add(struct api_call *c)
{
	struct msg_view v;
	struct fingerprint fp;
	int bad = 0;
	const char *note = body_str(c, "note", &bad);
	struct err e;
	if (bad || body_fingerprint(c, &v, &fp) < 0)
		return;
	int64_t id = fingerprint_add_note(c->db, &v, note, &e);
	msgview_free(&v);
	if (id < 0)
		return api_error(c, 500, NULL, "%s", e.msg);
	c->status = 201;
	c->resp = json_pack("{s:I, s:i}", "id", (json_int_t)id, "features", (int)fp.features);
}

static void api_fp_check(struct api_call *c)
{
	struct msg_view v;
	struct fingerprint fp;
	if (body_fingerprint(c, &v, &fp) < 0)
		return;
	msgview_free(&v);
	int maxd = (int)config_int(c->node->cfg, "fingerprint_max_distance", NULL, NULL);
	int64_t id = 0;
	int d = 0;
	int hit = fingerprint_match(c->db, &fp, maxd, &id, &d);
	c->resp = json_pack("{s:b, s:o, s:o, s:i, s:i}", "match", hit, "id",
			    hit ? json_integer(id) : json_null(), "distance",
			    hit ? json_integer(d) : json_null(), "max_distance", maxd, "features",
			    (int)fp.features);
}

static void api_fp_remove(struct api_call *c)
{
	char *end;
	long long id = strtoll(c->param, &end, 10);
	struct err e;
	if (*end || id <= 0)
		return api_error(c, 404, "id", "no fingerprint '%s'", log_esc(c->param));
	if (fingerprint_remove(c->db, id, &e) < 0)
		return api_error(c, 404, "id", "%s", e.msg);
	c->resp = json_pack("{s:I}", "removed", (json_int_t)id);
}

const struct api_route api_list_routes[] = {
	{"GET", "/lists", api_lists_index, 0},
	{"GET", "/lists/*", api_list_get, 0},
	{"POST", "/lists/*", api_list_add, 0},
	{"DELETE", "/lists/*", api_list_remove, 0},
	{"GET", "/policy/check", api_policy_check, 0},
	{"GET", "/filters", api_filters_list, 0},
	{"POST", "/filters", api_filter_add, 0},
	{"GET", "/filters/*", api_filter_get, 0},
	{"PUT", "/filters/*", api_filter_put, 0},
	{"DELETE", "/filters/*", api_filter_remove, 0},
	{"GET", "/fingerprints", api_fp_list, 0},
	{"POST", "/fingerprints", api_fp_add, 0},
	{"POST", "/fingerprints/check", api_fp_check, 0},
	{"DELETE", "/fingerprints/*", api_fp_remove, 0},
};
const unsigned api_list_nroutes = sizeof api_list_routes / sizeof *api_list_routes;
