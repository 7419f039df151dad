/* Users as CSV (docs/api.md §7.1): export every account, import accounts
 * line by line (bad lines are reported and skipped, the rest applied). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "node.h"
#include "store/settings.h"
#include "store/users.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/timeutil.h"
#include "web/web_int.h"

#define CSV_MAX_FIELDS 16
#define CSV_FIELD_MAX 1024
#define CSV_MAX_LINES 200000
#define CSV_MAX_ERRORS 100

void users_export(struct api_call *c);
void users_import(struct api_call *c);

static const char *const feature_cols[] = {"quarantine", "scanning", "settings"};

void users_export(struct api_call *c)
{
	struct buf out;
	buf_init(&out, (size_t)1 << 30);
	buf_puts(&out, "address,created_ms,source,quarantine,scanning,settings,password_hash\r\n");
	json_t *all = users_all(c->node->cfg), *u;
	size_t i;
	json_array_foreach(all, i, u)
	{
		struct user_rec r;
		if (users_get(c->node->cfg, json_string_value(json_object_get(u, "address")), &r) < 0)
			continue;
		/* addresses hold no comma, quote or line break; hashes have
		 * commas (m=65536,t=2,p=1) but no quote */
		buf_printf(&out, "%s,%lld,%s,%s,%s,%s,\"%s\"\r\n", r.address, (long long)r.created_ms,
			   r.source, r.features & USER_FEAT_QUARANTINE ? "true" : "false",
			   r.features & USER_FEAT_SCANNING ? "true" : "false",
			   r.features & USER_FEAT_SETTINGS ? "true" : "false", r.password_hash);
	}
	json_decref(all);
	const char *fmt = api_query(c, "format");
	if (fmt && strcmp(fmt, "json") == 0) {
		c->resp = json_pack("{s:s%}", "csv", out.data ? out.data : "", out.len);
	} else {
		api_raw(c, 200, "text/csv; charset=utf-8", out.data ? out.data : "", out.len);
		snprintf(c->disposition, sizeof c->disposition, "attachment; filename=\"users.csv\"");
	}
	buf_free(&out);
}

/* Splits one CSV line (RFC 4180 quoting) into fields; returns the count
 * or -1 on a malformed or oversized field. p advances past the line. */
static int csv_line(const char **pp, const char *end, char fields[][CSV_FIELD_MAX])
{
	const char *p = *pp;
	int n = 0;
	for (;;) {
		size_t k = 0;
		int bad = 0;
		if (n == CSV_MAX_FIELDS)
			bad = 1;
		char *f = fields[n < CSV_MAX_FIELDS ? n : CSV_MAX_FIELDS - 1];
		if (p < end && *p == '"') {
			for (p++; p < end; p++) {
				if (*p == '"' && p + 1 < end && p[1] == '"')
					p++;
				else if (*p == '"')
					break;
				if (k + 1 < CSV_FIELD_MAX)
					f[k++] = *p;
				else
					bad = 1;
			}
			if (p >= end)
				bad = 1;
			else
				p++;
		}
		for (; p < end && *p != ',' && *p != '\n'; p++) {
			if (*p == '\r')
				continue;
			if (k + 1 < CSV_FIELD_MAX)
				f[k++] = *p;
			else
				bad = 1;
		}
		f[k] = '\0';
		if (!bad)
			n++;
		else
			n = -1;
		if (p >= end || *p == '\n') {
			*pp = p < end ? p + 1 : end;
			return n;
		}
		p++; /* ',' */
		if (n < 0) {
			while (p < end && *p != '\n')
				p++;
			*pp = p < end ? p + 1 : end;
			return -1;
		}
	}
}

static int col_of(char header[][CSV_FIELD_MAX], int nh, const char *name)
{
	for (int i = 0; i < nh; i++)
		if (strcasecmp(header[i], name) == 0)
			return i;
	return -1;
}

static int parse_bool(const char *s, int *v)
{
	static const char *const yes[] = {"true", "1", "yes", "on"}, *const no[] = {"false", "0", "no", "off"};
	for (size_t i = 0; i < 4; i++) {
		if (strcasecmp(s, yes[i]) == 0)
			return *v = 1, 0;
		if (strcasecmp(s, no[i]) == 0)
			return *v = 0, 0;
	}
	return -1;
}

struct import_ctx {
	struct api_call *c;
	int col_addr, col_pw, col_hash, col_feat[3];
	int send_links, created, updated, nerr;
	json_t *errors;
};

static void import_error(struct import_ctx *x, int line, const char *msg)
{
	if (x->nerr++ < CSV_MAX_ERRORS)
		json_array_append_new(x->errors, json_pack("{s:i, s:s}", "line", line, "error", msg));
}

static void import_one(struct import_ctx *x, int line, char f[][CSV_FIELD_MAX], int nf)
{
	struct user_rec u;
	struct err e;
	char canon[USERS_ADDR_MAX];
	const char *addr = x->col_addr < nf ? f[x->col_addr] : "";
	if (settings_address_normalize(addr, canon, sizeof canon, &e) < 0 || strchr(canon, '/'))
		return import_error(x, line, strchr(addr, '/') ? "'/' is not allowed" : e.msg);
	int exists = users_get(x->c->node->cfg, canon, &u) == 0;
	if (!exists)
		users_rec_init(&u, canon, "import");
	for (int i = 0; i < 3; i++) {
		int col = x->col_feat[i], v;
		if (col < 0 || col >= nf || !f[col][0])
			continue;
		if (parse_bool(f[col], &v) < 0) {
			snprintf(e.msg, sizeof e.msg, "%s must be true or false", feature_cols[i]);
			return import_error(x, line, e.msg);
		}
		unsigned bit = users_feature_bit(feature_cols[i]);
		u.features = v ? (u.features | bit) : (u.features & ~bit);
	}
	if (x->col_pw >= 0 && x->col_pw < nf && f[x->col_pw][0]) {
		if (users_password_check(f[x->col_pw], &e) < 0 ||
		    users_password_hash(f[x->col_pw], u.password_hash, &e) < 0)
			return import_error(x, line, e.msg);
		u.pw_changed_ms = time_now_ms();
	} else if (x->col_hash >= 0 && x->col_hash < nf && f[x->col_hash][0]) {
		const char *h = f[x->col_hash];
		if (strncmp(h, "$argon2id$", 10) != 0 || strlen(h) >= USERS_HASH_MAX)
			return import_error(x, line, "password_hash must be an $argon2id$ hash");
		snprintf(u.password_hash, sizeof u.password_hash, "%s", h);
		u.pw_changed_ms = time_now_ms();
	}
	if (users_put(x->c->node->cfg, &u, &e) < 0)
		return import_error(x, line, e.msg);
	exists ? x->updated++ : x->created++;
	if (!exists && x->send_links && !u.password_hash[0] && x->c->node->queue) {
		char link[2600];
		if (users_mail_link(x->c->node, x->c->db, canon, 1, 1, link, sizeof link, &e) < 0)
			log_warn("users: import: link for %s: %s", canon, e.msg);
	}
}

void users_import(struct api_call *c)
{
	const char *csv;
	size_t len;
	struct import_ctx x = {.c = c};
	if (api_body_str(c, "csv", 1, &csv) < 0 || api_body_bool(c, "send_links", &x.send_links) < 0)
		return;
	len = strlen(csv);
	const char *p = csv, *end = csv + len;
	static __thread char f[CSV_MAX_FIELDS][CSV_FIELD_MAX];
	char header[CSV_MAX_FIELDS][CSV_FIELD_MAX];
	int nh = csv_line(&p, end, header);
	x.col_addr = nh > 0 ? col_of(header, nh, "address") : -1;
	if (x.col_addr < 0)
		return api_error(c, 400, "csv", "the first line must be a header naming an address column");
	x.col_pw = col_of(header, nh, "password");
	x.col_hash = col_of(header, nh, "password_hash");
	for (int i = 0; i < 3; i++)
		x.col_feat[i] = col_of(header, nh, feature_cols[i]);
	x.errors = json_array();
	for (int line = 2; p < end && line < CSV_MAX_LINES + 2; line++) {
		int nf = csv_line(&p, end, f);
		if (nf == 1 && !f[0][0])
			continue; /* blank line */
		if (nf < 0)
			import_error(&x, line, "malformed line (quotes or a field over 1023 bytes)");
		else
			import_one(&x, line, f, nf);
	}
	if (p < end)
		import_error(&x, CSV_MAX_LINES + 2, "too many lines: the rest was ignored");
	log_info("users: import: %d created, %d updated, %d errors", x.created, x.updated, x.nerr);
	c->resp = json_pack("{s:i, s:i, s:i, s:o}", "created", x.created, "updated", x.updated,
			    "error_count", x.nerr, "errors", x.errors);
}
