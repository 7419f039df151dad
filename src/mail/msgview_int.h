/* Internal helpers of the message view (msgview*.c): HTML rendering,
 * URL finding and normalising, charset conversion. Not for other modules:
 * they read the finished struct msg_view. */
#ifndef RAMPART_MAIL_MSGVIEW_INT_H
#define RAMPART_MAIL_MSGVIEW_INT_H

#include <stddef.h>

#include "mail/msgview.h"
#include "util/buf.h"

/* Decodes one entity at s (pointing just after '&'); on success writes
 * UTF-8 into out (at least 8 bytes), sets *used to the bytes consumed
 * after '&' (including ';' when present) and returns the UTF-8 length;
 * returns 0 when s is not an entity. */
size_t html_entity_decode(const char *s, size_t n, char *out, size_t *used);

/* Deduplicating, bounded list of normalised URLs. */
struct uri_list {
	char **v;
	unsigned *hash;   /* of v[i], to dedupe without strcmp on each */
	size_t n;
	size_t cap;
	size_t tried;     /* candidates looked at (bounded too) */
	int full;
};

/* Normalises one URL candidate (scheme and host lower case, hxxp fixed,
 * percent-encoded host decoded, "www." given http://, default port and
 * user info dropped) into out; returns -1 when it is not a usable URL. */
int uri_normalize(const char *s, size_t n, struct buf *out);
/* Adds a candidate (normalised first); duplicates are ignored. */
void uri_list_add(struct uri_list *l, const char *s, size_t n);
/* Finds URLs in plain text (http, https, ftp, hxxp-style, www.). */
void uri_scan_text(struct uri_list *l, const char *text, size_t len);
void uri_list_free(struct uri_list *l);

/* Converts bytes in charset (NULL/unknown: UTF-8 if valid, else
 * windows-1252) to valid UTF-8 appended to out; invalid input bytes become
 * U+FFFD. Never fails except when out is full (-1). */
int charset_to_utf8(const char *charset, const char *in, size_t len, struct buf *out);
/* Replaces invalid UTF-8 sequences in place-free fashion: returns a
 * malloc'd valid copy. */
char *utf8_sanitize(const char *s, size_t n);

#endif
