/* Policy lists and content filters: what the administrator lists (IP,
 * sender and recipient allow/block lists, blocked attachment extensions
 * and MIME types) and the regex filters, stored in the replicated config
 * store, and the in-memory snapshot the scan threads match against.
 *
 * Keys (values are JSON objects):
 *   list/<name>/<entry>      {"comment": "...", "action": "block|quarantine|tag"}
 *   filter/<id>              {"target", "pattern", "action", "comment"}
 * <name> is a row of lists_table; <entry> is canonical (lists_entry_normalize):
 * a CIDR with its host bits cleared ("192.0.2.0/24", "2001:db8::/32", a
 * single address as /32 or /128), a lower-case address or domain, an
 * extension without the dot, a "type/subtype" or a wildcard subtype
 * ("image/" followed by a star).
 * Allow lists carry only a comment; the other lists an action too.
 *
 * Per-domain lists: a key list/<name>@<domain>/<entry> is accepted by the
 * store (so a later version can replicate such keys to this one) but not
 * matched yet: today every list is global. The domain-scoped list will
 * apply to the recipients of <domain>, per recipient. */
#ifndef RAMPART_FILTER_LISTS_H
#define RAMPART_FILTER_LISTS_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "filter/pipeline.h"
#include "util/err.h"

enum list_type { LIST_CIDR, LIST_ADDR, LIST_EXT, LIST_MIME };

enum list_id {
	L_IP_ALLOW,
	L_IP_BLOCK,
	L_SENDER_ALLOW,
	L_SENDER_BLOCK,
	L_RCPT_ALLOW,
	L_RCPT_BLOCK,
	L_ATTACH_EXT,
	L_ATTACH_MIME,
	L_COUNT
};

struct list_def {
	const char *name;     /* "ip_allow" */
	enum list_type type;
	const char *actions;  /* "block|quarantine|tag"; NULL: an allow list */
	const char *help;
};

extern const struct list_def lists_table[L_COUNT];

#define LISTS_ENTRY_MAX 320     /* canonical entry, bytes with the NUL */
#define LISTS_COMMENT_MAX 200   /* characters (bytes of UTF-8) */
#define FILTER_PATTERN_MAX 1000
#define FILTER_ID_MAX 64
#define FILTER_HEADER_MAX 76

/* NULL when no list has this name. */
const struct list_def *lists_find(const char *name);
static inline enum list_id lists_id(const struct list_def *d)
{
	return (enum list_id)(d - lists_table);
}

/* "allow", "tag", "quarantine", "block" -> action; -1 otherwise. */
int lists_action_parse(const char *s, enum action *a);

/* An entry as an administrator types it -> canonical form, with errors
 * meant for them ("10.1.2.3/8" -> "10.0.0.0/8", "@Example.COM" ->
 * "example.com", ".EXE" -> "exe", "Application/PDF" -> "application/pdf"). */
int lists_entry_normalize(const struct list_def *d, const char *in, char *out, size_t outlen,
			  struct err *e);
/* The canonical value of an entry: comment may be NULL or "", action NULL
 * means the list's first (most severe) action; allow lists refuse one. */
int lists_value_make(const struct list_def *d, const char *comment, const char *action,
		     char *out, size_t outlen, struct err *e);
/* "list/<name>/<entry>" (entry canonical). -1 when it does not fit. */
int lists_key_make(const struct list_def *d, const char *entry, char *out, size_t outlen);

/* Filter ids: 1-64 of [a-z0-9_-]. */
int filter_id_valid(const char *id);
/* {"target", "pattern", "action", "comment"} -> canonical value text;
 * the pattern must compile. */
int filter_value_make(const char *target, const char *pattern, const char *action,
		      const char *comment, char *out, size_t outlen, struct err *e);

/* The config store's validator for list/ and filter/ keys: key shape
 * (canonical entry, known list) and, for a live value, its canonical
 * form into canon. */
int lists_key_check(const char *key, const char *value, char *canon, size_t canonlen,
		    struct err *e);
/* Registers the list/ and filter/ namespaces with the config store
 * (config_register_namespace); call once at startup before config_open. */
void policy_register_config(void);

/* ---- the snapshot the scan threads match against ---- */

struct policy;
struct config_store;
struct content_set;

/* Builds a snapshot from {key: value-text} (config_export's "keys");
 * keys outside list/ and filter/ are ignored, bad rows skipped with a
 * warning. Never NULL. */
struct policy *policy_build(json_t *keys);
void policy_release(struct policy *p);
/* The shared snapshot of cs at its current config version: built by the
 * first caller after a change, shared by reference by every scan thread.
 * Never NULL; release with policy_release. */
struct policy *policy_acquire(struct config_store *cs);
/* Drops the shared snapshot (at shutdown and in tests). */
void policy_shared_reset(void);

struct list_hit {
	enum list_id list;
	enum action action;   /* ACTION_ALLOW for an allow list */
	const char *entry;    /* canonical entry (owned by the snapshot) */
	const char *comment;  /* "" when none */
};

/* 1 and *hit when a list entry matches, 0 otherwise. Of an allow/block
 * pair the most specific entry wins (longest prefix; address before
 * domain before parent domain); on a tie the block list wins. A domain
 * entry covers its subdomains. */
int policy_match_ip(const struct policy *p, const char *ip, struct list_hit *hit);
int policy_match_sender(const struct policy *p, const char *addr, struct list_hit *hit);
int policy_match_rcpt(const struct policy *p, const char *addr, struct list_hit *hit);
/* The attachment lists: extension of a file name (the last one, and the
 * last two for entries like "tar.gz"; trailing dots and spaces ignored as
 * Windows does) and MIME type (exact, then the wildcard subtype). */
int policy_match_ext(const struct policy *p, const char *filename, struct list_hit *hit);
int policy_match_mime(const struct policy *p, const char *type, struct list_hit *hit);
size_t policy_count(const struct policy *p, enum list_id l);
const struct content_set *policy_content(const struct policy *p);

/* ---- pipeline stages (src/filter/stage_lists.c) ---- */

/* Applies a policy action decided by a layer: allow -> skip scoring;
 * tag -> adds the tag threshold's score (or tags outright when tagging by
 * score is off); quarantine/block -> ends the path unless a more severe
 * action already did. rule names the hit in the verdict's rule list. */
void policy_apply(struct scan_job *job, enum action a, const char *layer, const char *rule,
		  const char *reason, const char *public_reason);

/* Connection/envelope lists: IP, sender, recipients (non-scoring). */
int stage_lists_run(struct scan_job *job);
/* After "decide": per-recipient allow/block lists override the
 * threshold actions of their recipient (non-scoring). */
int stage_lists_rcpt_run(struct scan_job *job);

#endif
