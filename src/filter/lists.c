/* Policy lists: the table of lists, canonical entries and values, and the
 * config store's validator for list/ and filter/ keys. Matching is in
 * lists_match.c, the stages in stage_lists.c. */
#include "filter/lists.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "filter/content.h"
#include "store/config.h"
#include "store/settings.h"
#include "util/log.h"
#include "util/net.h"

#define BLOCK_ACTIONS "block|quarantine|tag"

const struct list_def lists_table[L_COUNT] = {
	[L_IP_ALLOW] = {"ip_allow", LIST_CIDR, NULL,
			"Client addresses (CIDR) whose mail skips scoring; virus, attachment and "
			"content filters still apply"},
	[L_IP_BLOCK] = {"ip_block", LIST_CIDR, BLOCK_ACTIONS,
			"Client addresses (CIDR) whose mail is blocked (or quarantined, tagged)"},
	[L_SENDER_ALLOW] = {"sender_allow", LIST_ADDR, NULL,
			    "Envelope senders (address or domain) whose mail skips scoring"},
	[L_SENDER_BLOCK] = {"sender_block", LIST_ADDR, BLOCK_ACTIONS,
			    "Senders (address or domain, envelope or From header) whose mail is "
			    "blocked (or quarantined, tagged)"},
	[L_RCPT_ALLOW] = {"rcpt_allow", LIST_ADDR, NULL,
			  "Recipients (address or domain) whose mail is not scored"},
	[L_RCPT_BLOCK] = {"rcpt_block", LIST_ADDR, BLOCK_ACTIONS,
			  "Recipients (address or domain) that receive no mail (per recipient)"},
	[L_ATTACH_EXT] = {"attach_ext", LIST_EXT, "block|quarantine",
			  "Attachment file extensions, also inside zip archives"},
	[L_ATTACH_MIME] = {"attach_mime", LIST_MIME, "block|quarantine",
			   "Attachment MIME types (declared or detected), type/subtype or type/*"},
};

static const char *const action_names[] = {
	[ACTION_ALLOW] = "allow",
	[ACTION_TAG] = "tag",
	[ACTION_QUARANTINE] = "quarantine",
	[ACTION_BLOCK] = "block",
};

const struct list_def *lists_find(const char *name)
{
	for (size_t i = 0; name && i < L_COUNT; i++)
		if (strcmp(lists_table[i].name, name) == 0)
			return &lists_table[i];
	return NULL;
}

int lists_action_parse(const char *s, enum action *a)
{
	for (size_t i = 0; s && i < sizeof action_names / sizeof *action_names; i++)
		if (strcmp(s, action_names[i]) == 0) {
			*a = (enum action)i;
			return 0;
		}
	return -1;
}

/* Is word one of the '|'-separated choices? */
static int in_choices(const char *choices, const char *word)
{
	size_t n = strlen(word);
	for (const char *p = choices; p && *p;) {
		size_t k = strcspn(p, "|");
		if (k == n && strncmp(p, word, n) == 0)
			return 1;
		p += k + (p[k] == '|');
	}
	return 0;
}

/* in without surrounding blanks into out; -1 when empty or too long. */
static int trim(const char *in, char *out, size_t outlen)
{
	while (*in == ' ' || *in == '\t')
		in++;
	size_t n = strlen(in);
	while (n && (in[n - 1] == ' ' || in[n - 1] == '\t'))
		n--;
	if (n == 0 || n >= outlen)
		return -1;
	memcpy(out, in, n);
	out[n] = '\0';
	return 0;
}

/* ---- entries -------------------------------------------------------- */

static int norm_cidr(const char *in, char *out, size_t outlen, struct err *e)
{
	struct cidr c;
	if (net_parse_cidr(in, &c, e) < 0)
		return -1;
	static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	/* an IPv4-mapped IPv6 network is the IPv4 network it maps */
	if (c.family == AF_INET6 && c.prefix >= 96 && memcmp(c.addr, mapped, 12) == 0) {
		memmove(c.addr, c.addr + 12, 4);
		memset(c.addr + 4, 0, 12);
		c.family = AF_INET;
		c.prefix -= 96;
	}
	int bytes = c.family == AF_INET ? 4 : 16;
	for (int i = 0; i < bytes; i++) {
		int keep = c.prefix - i * 8;
		if (keep <= 0)
			c.addr[i] = 0;
		else if (keep < 8)
			c.addr[i] &= (unsigned char)(0xff << (8 - keep));
	}
	char host[INET6_ADDRSTRLEN];
	inet_ntop(c.family, c.addr, host, sizeof host);
	if ((size_t)snprintf(out, outlen, "%s/%d", host, c.prefix) >= outlen)
		return err_set(e, "entry too long");
	return 0;
}

static int norm_addr(const char *in, char *out, size_t outlen, struct err *e)
{
	char t[LISTS_ENTRY_MAX];
	size_t n = strlen(in);
	if (n >= 2 && in[0] == '<' && in[n - 1] == '>') {
		snprintf(t, sizeof t, "%.*s", (int)(n - 2), in + 1);
		in = t;
	}
	if (in[0] == '@')
		in++;
	else if (in[0] == '*' && in[1] == '.')
		in += 2; /* a domain entry covers its subdomains anyway */
	if (strchr(in, '@'))
		return settings_address_normalize(in, out, outlen, e);
	return settings_domain_normalize(in, out, outlen, e);
}

static int norm_ext(const char *in, char *out, size_t outlen, struct err *e)
{
	if (in[0] == '*')
		in++;
	if (in[0] == '.')
		in++;
	size_t n = strlen(in);
	if (n == 0 || n > 32 || n >= outlen)
		return err_set(e, "bad extension \"%s\": expected 1-32 letters or digits, e.g. exe",
			       log_esc(in));
	for (size_t i = 0; i < n; i++) {
		char c = (char)tolower((unsigned char)in[i]);
		int inner_dot = c == '.' && i > 0 && i + 1 < n && in[i - 1] != '.';
		if (!isalnum((unsigned char)c) && !strchr("_+-", c) && !inner_dot)
			return err_set(e, "bad extension \"%s\": only letters, digits, _ + - and "
					  "inner dots", log_esc(in));
		out[i] = c;
	}
	out[n] = '\0';
	return 0;
}

/* One RFC 6838 restricted-name token of 1-63 characters. */
static int mime_token(const char *s, size_t n)
{
	if (n == 0 || n > 63 || !isalnum((unsigned char)s[0]))
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && !strchr("!#$&^_.+-", s[i]))
			return 0;
	return 1;
}

static int norm_mime(const char *in, char *out, size_t outlen, struct err *e)
{
	const char *slash = strchr(in, '/');
	size_t n = strlen(in);
	int ok = slash && n < outlen && mime_token(in, (size_t)(slash - in)) &&
		 (strcmp(slash + 1, "*") == 0 || mime_token(slash + 1, strlen(slash + 1)));
	if (!ok)
		return err_set(e, "bad MIME type \"%s\": expected type/subtype or type/*, e.g. "
				  "application/x-msdownload", log_esc(in));
	for (size_t i = 0; i <= n; i++)
		out[i] = (char)tolower((unsigned char)in[i]);
	return 0;
}

int lists_entry_normalize(const struct list_def *d, const char *in, char *out, size_t outlen,
			  struct err *e)
{
	static int (*const norm[])(const char *, char *, size_t, struct err *) = {
		[LIST_CIDR] = norm_cidr,
		[LIST_ADDR] = norm_addr,
		[LIST_EXT] = norm_ext,
		[LIST_MIME] = norm_mime,
	};
	char t[LISTS_ENTRY_MAX];
	if (!in || trim(in, t, sizeof t) < 0)
		return err_set(e, "%s: entry is empty or longer than %d bytes", d->name,
			       LISTS_ENTRY_MAX - 1);
	char c[LISTS_ENTRY_MAX];
	if (norm[d->type](t, c, sizeof c, e) < 0)
		return -1;
	if ((size_t)snprintf(out, outlen, "%s", c) >= outlen)
		return err_set(e, "%s: entry too long", d->name);
	return 0;
}

int lists_key_make(const struct list_def *d, const char *entry, char *out, size_t outlen)
{
	int n = snprintf(out, outlen, "list/%s/%s", d->name, entry);
	return n < 0 || (size_t)n >= outlen ? -1 : 0;
}

/* ---- values --------------------------------------------------------- */

/* Printable text of at most max bytes (valid UTF-8 is checked by jansson). */
static int text_ok(const char *s, size_t max)
{
	if (strlen(s) > max)
		return 0;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if (*p < 0x20 || *p == 0x7f)
			return 0;
	return 1;
}

static int dump_canon(json_t *j, char *out, size_t outlen, struct err *e)
{
	char *s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
	int rc = 0;
	if (!s || strlen(s) >= outlen)
		rc = err_set(e, "value too long (shorten the comment or pattern)");
	else
		memcpy(out, s, strlen(s) + 1);
	free(s);
	return rc;
}

/* Checks comment and action members of an entry value in place (a
 * missing action becomes the list's first). Unknown members are kept
 * for later versions. */
static int list_value_fix(const struct list_def *d, json_t *j, struct err *e)
{
	json_t *c = json_object_get(j, "comment"), *a = json_object_get(j, "action");
	if (c && !json_is_string(c))
		return err_set(e, "%s: comment must be a string", d->name);
	if (c && !text_ok(json_string_value(c), LISTS_COMMENT_MAX))
		return err_set(e, "%s: comment must be at most %d bytes of text without control "
				  "characters", d->name, LISTS_COMMENT_MAX);
	if (c && !json_string_value(c)[0])
		json_object_del(j, "comment");
	if (!d->actions) {
		if (a)
			return err_set(e, "%s is an allow list: entries take no action", d->name);
		return 0;
	}
	if (a && (!json_is_string(a) || !in_choices(d->actions, json_string_value(a))))
		return err_set(e, "%s: action must be one of %s", d->name, d->actions);
	if (!a) {
		char first[32];
		snprintf(first, sizeof first, "%.*s", (int)strcspn(d->actions, "|"), d->actions);
		json_object_set_new(j, "action", json_string(first));
	}
	return 0;
}

int lists_value_make(const struct list_def *d, const char *comment, const char *action,
		     char *out, size_t outlen, struct err *e)
{
	json_t *j = json_object();
	if (comment && comment[0]) {
		json_t *s = json_string(comment);
		if (!s) {
			json_decref(j);
			return err_set(e, "%s: comment is not valid UTF-8", d->name);
		}
		json_object_set_new(j, "comment", s);
	}
	if (action)
		json_object_set_new(j, "action", json_string(action));
	int rc = list_value_fix(d, j, e);
	if (rc == 0)
		rc = dump_canon(j, out, outlen, e);
	json_decref(j);
	return rc;
}

int filter_id_valid(const char *id)
{
	size_t n = id ? strlen(id) : 0;
	if (n == 0 || n > FILTER_ID_MAX)
		return 0;
	return id[strspn(id, "abcdefghijklmnopqrstuvwxyz0123456789_-")] == '\0';
}

static int filter_value_fix(json_t *j, struct err *e)
{
	const char *t = json_string_value(json_object_get(j, "target"));
	const char *p = json_string_value(json_object_get(j, "pattern"));
	const char *a = json_string_value(json_object_get(j, "action"));
	json_t *c = json_object_get(j, "comment");
	enum filter_target ft;
	enum action act;
	char hdr[FILTER_HEADER_MAX + 1];
	if (!t || content_target_parse(t, &ft, hdr, sizeof hdr) < 0)
		return err_set(e, "target must be subject, header, header:<Name> or body");
	if (ft == FT_HEADER) {
		char canon[FILTER_HEADER_MAX + 8];
		for (char *q = hdr; *q; q++)
			*q = (char)tolower((unsigned char)*q);
		snprintf(canon, sizeof canon, "header:%s", hdr);
		json_object_set_new(j, "target", json_string(canon));
	}
	if (!p || !p[0] || strlen(p) > FILTER_PATTERN_MAX)
		return err_set(e, "pattern must be a regular expression of 1-%d bytes",
			       FILTER_PATTERN_MAX);
	if (content_pattern_check(p, e) < 0)
		return -1;
	if (!a || lists_action_parse(a, &act) < 0)
		return err_set(e, "action must be one of block, quarantine, tag, allow");
	if (c && (!json_is_string(c) || !text_ok(json_string_value(c), LISTS_COMMENT_MAX)))
		return err_set(e, "comment must be at most %d bytes of text without control "
				  "characters", LISTS_COMMENT_MAX);
	if (c && !json_string_value(c)[0])
		json_object_del(j, "comment");
	return 0;
}

int filter_value_make(const char *target, const char *pattern, const char *action,
		      const char *comment, char *out, size_t outlen, struct err *e)
{
	json_t *j = json_object();
	json_t *p = pattern ? json_string(pattern) : NULL;
	json_t *c = comment ? json_string(comment) : NULL;
	int rc;
	if ((pattern && !p) || (comment && !c)) {
		rc = err_set(e, "pattern and comment must be valid UTF-8");
		json_decref(p);
		json_decref(c);
	} else {
		if (target)
			json_object_set_new(j, "target", json_string(target));
		if (p)
			json_object_set_new(j, "pattern", p);
		if (action)
			json_object_set_new(j, "action", json_string(action));
		if (c)
			json_object_set_new(j, "comment", c);
		rc = filter_value_fix(j, e);
		if (rc == 0)
			rc = dump_canon(j, out, outlen, e);
	}
	json_decref(j);
	return rc;
}

/* ---- the store's validator ----------------------------------------- */

/* list/<name>[@<domain>]/<entry>: the list, or NULL with e filled. */
static const struct list_def *list_key_parse(const char *rest, struct err *e)
{
	char name[64], dom[256], canon[LISTS_ENTRY_MAX];
	size_t n = strcspn(rest, "@/");
	if (n == 0 || n >= sizeof name || !rest[n])
		return err_set(e, "bad list key: expected list/<name>/<entry>"), NULL;
	memcpy(name, rest, n);
	name[n] = '\0';
	const struct list_def *d = lists_find(name);
	if (!d)
		return err_set(e, "unknown list '%s'", log_esc(name)), NULL;
	const char *p = rest + n;
	if (*p == '@') {
		size_t k = strcspn(p + 1, "/");
		if (k == 0 || k >= sizeof dom || !p[1 + k])
			return err_set(e, "bad list key: expected list/<name>@<domain>/<entry>"),
			       NULL;
		memcpy(dom, p + 1, k);
		dom[k] = '\0';
		if (settings_domain_normalize(dom, canon, sizeof canon, e) < 0)
			return NULL;
		if (strcmp(dom, canon) != 0)
			return err_set(e, "list domain '%s' is not in canonical form",
				       log_esc(dom)),
			       NULL;
		p += 1 + k;
	}
	const char *entry = p + 1;
	if (lists_entry_normalize(d, entry, canon, sizeof canon, e) < 0)
		return NULL;
	if (strcmp(canon, entry) != 0)
		return err_set(e, "%s: entry \"%s\" is not in canonical form (\"%s\")", d->name,
			       log_esc(entry), canon),
		       NULL;
	return d;
}

int lists_key_check(const char *key, const char *value, char *canon, size_t canonlen,
		    struct err *e)
{
	int is_filter = strncmp(key, "filter/", 7) == 0;
	const struct list_def *d = NULL;
	if (is_filter && !filter_id_valid(key + 7))
		return err_set(e, "bad filter id '%s': 1-%d of a-z 0-9 _ -", log_esc(key + 7),
			       FILTER_ID_MAX);
	if (!is_filter && strncmp(key, "list/", 5) != 0)
		return err_set(e, "not a policy key: %s", log_esc(key));
	if (!is_filter && !(d = list_key_parse(key + 5, e)))
		return -1;
	if (!value)
		return 0;
	json_t *j = json_loads(value, JSON_REJECT_DUPLICATES, NULL);
	int rc = -1;
	if (!json_is_object(j))
		err_set(e, "%s: value must be a JSON object", log_esc(key));
	else if ((is_filter ? filter_value_fix(j, e) : list_value_fix(d, j, e)) == 0)
		rc = dump_canon(j, canon, canonlen, e);
	json_decref(j);
	return rc;
}

void policy_register_config(void)
{
	config_register_namespace("list/", lists_key_check);
	config_register_namespace("filter/", lists_key_check);
}
