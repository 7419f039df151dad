/* Administrator content filters: PCRE2 patterns on the subject, one or
 * every header, or the decoded body, each with an action (block,
 * quarantine, tag, allow). Compiled once per config version as part of
 * the policy snapshot (lists.h) and shared read-only by the scan threads.
 * Patterns are case-insensitive unless they say (?-i); matching is
 * bounded (match and depth limits), so a pathological pattern costs a
 * bounded amount of work per message and then counts as no match. */
#ifndef RAMPART_FILTER_CONTENT_H
#define RAMPART_FILTER_CONTENT_H

#include <jansson.h>
#include <stddef.h>

#include "filter/lists.h"
#include "mail/msgview.h"
#include "util/err.h"

enum filter_target { FT_SUBJECT, FT_HEADER_ANY, FT_HEADER, FT_BODY };

/* "subject", "header" (any header, matched as "Name: value"),
 * "header:<Name>" (every header of that name), "body" (decoded text, HTML
 * as text). header_out gets the name for FT_HEADER. -1 otherwise. */
int content_target_parse(const char *s, enum filter_target *t, char *header_out,
			 size_t header_len);
/* 0 when pattern compiles; otherwise an error naming the offset. */
int content_pattern_check(const char *pattern, struct err *e);

struct content_set;
/* Every filter/ key of keys ({key: value-text}) compiled; bad rows are
 * skipped with a warning. Never NULL. */
struct content_set *content_build(json_t *keys);
void content_free(struct content_set *cs);
size_t content_count(const struct content_set *cs);

struct content_hit {
	const char *id;
	const char *comment;
	enum action action;
	enum filter_target target;
};

/* Every filter on the message; *hit gets the most severe match (block >
 * quarantine > tag > allow; first in id order on a tie). Returns the
 * number of filters that matched. */
int content_eval(const struct content_set *cs, const struct msg_view *v,
		 struct content_hit *hit);

/* Pipeline stage (non-scoring: allow-listed mail still runs it). */
int stage_content_run(struct scan_job *job);

#endif
