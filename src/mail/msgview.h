/* A parsed, decoded view of one message, built once per message (GMime)
 * and shared by every content layer: rules, Bayes, attachment filters,
 * URL checks, fingerprints. Everything is UTF-8 and bounded. */
#ifndef RAMPART_MAIL_MSGVIEW_H
#define RAMPART_MAIL_MSGVIEW_H

#include <stddef.h>

#include "util/buf.h"
#include "util/err.h"

/* Bounds that keep hostile messages cheap. */
#define MSGVIEW_MAX_PARTS 1000
#define MSGVIEW_MAX_DEPTH 32
#define MSGVIEW_MAX_TEXT (2u << 20)   /* decoded text kept for scanning */
#define MSGVIEW_MAX_URIS 500

struct msg_header {
	char *name;   /* as in the message */
	char *value;  /* unfolded, RFC 2047 decoded to UTF-8 */
	char *raw;    /* unfolded, undecoded */
};

struct msg_part {
	char *content_type;  /* lower case "type/subtype" */
	char *filename;      /* decoded, or NULL */
	size_t size;         /* decoded size in bytes */
	int is_attachment;
	int depth;
	const char *data;    /* decoded content (owned by the view), may be NULL when skipped */
	size_t data_len;
	char *charset;       /* lower case charset parameter, or NULL */
	char *encoding;      /* lower case Content-Transfer-Encoding, or NULL */
};

struct msg_view {
	struct msg_header *headers;
	size_t nheaders;
	struct buf text;      /* decoded text of all text parts; HTML turned into text */
	struct buf html;      /* concatenated raw HTML of text/html parts (for tag tokens) */
	struct buf rawbody;   /* body after the header block, undecoded, capped */
	char **uris;          /* normalised URLs found in text and HTML */
	size_t nuris;
	struct msg_part *parts;  /* depth-first; containers (multipart,
				  * message/rfc822) listed too, without data */
	size_t nparts;
	const char *full;     /* the whole raw message (not owned) */
	size_t full_len;
	int mime_errors;      /* count of structural problems found */
	int truncated;        /* a bound above was hit */
	void *priv;           /* implementation state */
};

int msgview_parse(const char *data, size_t len, struct msg_view *v, struct err *e);
void msgview_free(struct msg_view *v);
/* First header with this name (case-insensitive), decoded value or NULL. */
const char *msgview_header(const struct msg_view *v, const char *name);

/* Called for every URL-bearing attribute value (href, src, ...), already
 * entity-decoded. */
typedef void (*html_url_fn)(void *ctx, const char *url, size_t len);

/* Renders UTF-8 HTML as text into out: tags stripped, entities decoded,
 * script/style/comments dropped, block elements become line breaks.
 * Stops quietly when out is full (returns -1 then, else 0). */
int html_to_text(const char *html, size_t len, struct buf *out, html_url_fn fn, void *ctx);

#endif
