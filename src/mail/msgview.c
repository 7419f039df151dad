/* The message view: one GMime parse per message, copied out into plain C
 * structures (UTF-8, bounded) so every content layer can read it without
 * touching GObjects. GMime objects never leave the calling thread, which
 * is what GMime's threading notes ask: only its charset/iconv/utils
 * functions are shared, and those are thread-safe. */
#include "mail/msgview.h"

#include <gmime/gmime.h>
#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mail/msgview_int.h"

#define MV_MAX_HEADERS 1000
#define MV_MAX_HEADER_LEN (64u << 10)
/* Decoded bytes kept for non-text parts, over the whole message. */
#define MV_MAX_DECODED (64u << 20)
#define MV_MAX_INPUT ((size_t)UINT_MAX - 1)

struct walk {
	struct msg_view *v;
	struct uri_list uris;
	size_t decoded;     /* non-text bytes kept so far */
	size_t parts_cap;
};

static pthread_once_t gm_once = PTHREAD_ONCE_INIT;

static void gm_init(void)
{
	g_mime_init();
}

/* Parser warnings that mean the structure is broken (duplicated headers
 * and odd parameters are everyday mail, not counted). */
static const GMimeParserWarning structural_warnings[] = {
	GMIME_WARN_INVALID_CONTENT_TYPE,
	GMIME_WARN_MALFORMED_MULTIPART,
	GMIME_WARN_TRUNCATED_MESSAGE,
	GMIME_WARN_MALFORMED_MESSAGE,
	GMIME_CRIT_INVALID_HEADER_NAME,
	GMIME_CRIT_CONFLICTING_HEADER,
	GMIME_CRIT_CONFLICTING_PARAMETER,
	GMIME_CRIT_MULTIPART_WITHOUT_BOUNDARY,
	GMIME_CRIT_NESTING_OVERFLOW,
	GMIME_CRIT_PART_WITHOUT_HEADERS_OR_CONTENT,
};

static void on_warning(gint64 offset, GMimeParserWarning code, const gchar *item, gpointer ud)
{
	struct msg_view *v = ud;
	(void)offset;
	(void)item;
	for (size_t i = 0; i < sizeof structural_warnings / sizeof structural_warnings[0]; i++)
		if (structural_warnings[i] == code) {
			v->mime_errors++;
			if (code == GMIME_CRIT_NESTING_OVERFLOW)
				v->truncated = 1;
			return;
		}
}

/* Unfolds one raw header value: line breaks go, the folding blank stays;
 * leading and trailing blanks are trimmed. */
static char *header_unfold(const char *raw, size_t n)
{
	if (n > MV_MAX_HEADER_LEN)
		n = MV_MAX_HEADER_LEN;
	char *out = malloc(n + 1);
	if (!out)
		return NULL;
	size_t o = 0;
	for (size_t i = 0; i < n; i++)
		if (raw[i] != '\r' && raw[i] != '\n')
			out[o++] = raw[i] ? raw[i] : ' ';
	while (o && (out[o - 1] == ' ' || out[o - 1] == '\t'))
		o--;
	size_t s = 0;
	while (s < o && (out[s] == ' ' || out[s] == '\t'))
		s++;
	memmove(out, out + s, o - s);
	out[o - s] = '\0';
	return out;
}

static int header_name_ok(const char *p, size_t n)
{
	if (!n || n > 128)
		return 0;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)p[i] <= ' ' || (unsigned char)p[i] >= 0x7f)
			return 0;
	return 1;
}

/* RFC 2047 and raw 8-bit values go through GMime; plain ASCII (most
 * headers) is copied as it is, which is the same result for much less. */
static char *header_decode(const char *raw, GMimeParserOptions *opts)
{
	int plain = strstr(raw, "=?") == NULL;
	for (const unsigned char *p = (const unsigned char *)raw; *p && plain; p++)
		plain = *p < 0x80;
	if (plain)
		return utf8_sanitize(raw, strlen(raw));
	char *dec = g_mime_utils_header_decode_text(opts, raw);
	char *out = dec ? utf8_sanitize(dec, strlen(dec)) : NULL;
	g_free(dec);
	return out;
}

static void header_add(struct msg_view *v, const char *p, size_t n, GMimeParserOptions *opts)
{
	const char *colon = memchr(p, ':', n);
	size_t nl = colon ? (size_t)(colon - p) : 0;
	while (nl && (p[nl - 1] == ' ' || p[nl - 1] == '\t'))
		nl--;
	if (!colon || !header_name_ok(p, nl)) {
		v->mime_errors++;
		return;
	}
	struct msg_header *mh = &v->headers[v->nheaders];
	mh->name = malloc(nl + 1);
	mh->raw = header_unfold(colon + 1, n - (size_t)(colon + 1 - p));
	mh->value = mh->raw ? header_decode(mh->raw, opts) : NULL;
	if (!mh->name || !mh->raw || !mh->value) {
		free(mh->name);
		free(mh->raw);
		free(mh->value);
		memset(mh, 0, sizeof *mh);
		return;
	}
	memcpy(mh->name, p, nl);
	mh->name[nl] = '\0';
	v->nheaders++;
}

/* Splits the header block (all of it, in order, Content-* included) into
 * fields; GMime's own lists split message and MIME headers apart. */
static void headers_collect(struct msg_view *v, const char *d, size_t n, GMimeParserOptions *opts)
{
	size_t i = 0;
	if (n > 5 && strncmp(d, "From ", 5) == 0) { /* mbox separator */
		const char *nl = memchr(d, '\n', n);
		i = nl ? (size_t)(nl - d) + 1 : n;
	}
	size_t cap = 0;
	while (i < n) {
		size_t s = i;
		/* a field runs until a line that does not start with a blank */
		for (;;) {
			const char *nl = memchr(d + i, '\n', n - i);
			i = nl ? (size_t)(nl - d) + 1 : n;
			if (i >= n || (d[i] != ' ' && d[i] != '\t'))
				break;
		}
		size_t e = i;
		while (e > s && (d[e - 1] == '\n' || d[e - 1] == '\r'))
			e--;
		if (e == s)
			break; /* the empty line */
		if (v->nheaders >= MV_MAX_HEADERS) {
			v->truncated = 1;
			break;
		}
		if (v->nheaders == cap) {
			cap = cap ? cap * 2 : 32;
			struct msg_header *nh = realloc(v->headers, cap * sizeof *nh);
			if (!nh)
				break;
			v->headers = nh;
		}
		header_add(v, d + s, e - s, opts);
	}
}

static int b64_char_ok(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '+' || c == '/' || c == '=' || c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Appends what fits of p to out; returns -1 when something was cut. */
static int buf_append_cap(struct buf *out, const void *p, size_t n)
{
	if (buf_append(out, p, n) == 0)
		return 0;
	size_t room = out->max > out->len ? out->max - out->len : 0;
	if (room)
		buf_append(out, p, room < n ? room : n);
	return -1;
}

/* uuencode goes through GMime's own filter chain (rare; needs the
 * begin/end line state machine). */
static int part_decode_wrapper(GMimeDataWrapper *dw, struct buf *out)
{
	GMimeStream *mem = g_mime_stream_mem_new();
	g_mime_data_wrapper_write_to_stream(dw, mem);
	GByteArray *ba = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(mem));
	int rc = ba ? buf_append_cap(out, ba->data, ba->len) : 0;
	g_object_unref(mem);
	return rc;
}

/* Decodes the transfer encoding of a part into out (bounded by out->max).
 * Returns -1 when the content was cut; *bad is set on invalid base64. */
static int part_decode(GMimePart *p, struct buf *out, int *bad)
{
	GMimeDataWrapper *dw = g_mime_part_get_content(p);
	GMimeStream *s = dw ? g_mime_data_wrapper_get_stream(dw) : NULL;
	if (!s)
		return 0;
	GMimeContentEncoding enc = g_mime_data_wrapper_get_encoding(dw);
	if (enc == GMIME_CONTENT_ENCODING_UUENCODE)
		return part_decode_wrapper(dw, out);
	if (g_mime_stream_reset(s) < 0)
		return 0;
	char in[16384];
	unsigned char dec[16384];
	int state = 0;
	guint32 save = 0;
	ssize_t n;
	while ((n = g_mime_stream_read(s, in, sizeof in)) > 0) {
		const unsigned char *u = (const unsigned char *)in;
		size_t k;
		if (enc == GMIME_CONTENT_ENCODING_BASE64) {
			for (ssize_t i = 0; i < n && !*bad; i++)
				if (!b64_char_ok(u[i]))
					*bad = 1;
			k = g_mime_encoding_base64_decode_step(u, (size_t)n, dec, &state, &save);
		} else if (enc == GMIME_CONTENT_ENCODING_QUOTEDPRINTABLE) {
			k = g_mime_encoding_quoted_decode_step(u, (size_t)n, dec, &state, &save);
		} else {
			memcpy(dec, in, (size_t)n);
			k = (size_t)n;
		}
		if (buf_append_cap(out, dec, k) < 0)
			return -1;
	}
	return 0;
}

static void url_from_html(void *ctx, const char *url, size_t len)
{
	uri_list_add(ctx, url, len);
}

/* Text of one text part: charset to UTF-8, HTML rendered, appended to the
 * view's text (and raw HTML to html). */
static void part_text(struct walk *w, GMimeObject *obj, const struct buf *raw, int is_html)
{
	struct msg_view *v = w->v;
	const char *cs = g_mime_object_get_content_type_parameter(obj, "charset");
	struct buf u;
	buf_init(&u, MSGVIEW_MAX_TEXT);
	if (raw->len && charset_to_utf8(cs, raw->data, raw->len, &u) < 0)
		v->truncated = 1;
	if (u.len) {
		if (is_html) {
			if (buf_append_cap(&v->html, u.data, u.len) < 0 ||
			    buf_putc(&v->html, '\n') < 0)
				v->truncated = 1;
			if (html_to_text(u.data, u.len, &v->text, url_from_html, &w->uris) < 0)
				v->truncated = 1;
		} else if (buf_append_cap(&v->text, u.data, u.len) < 0) {
			v->truncated = 1;
		}
		if (buf_putc(&v->text, '\n') < 0)
			v->truncated = 1;
	}
	buf_free(&u);
}

static int ct_is_text(const char *ct, int attachment)
{
	if (strncmp(ct, "text/", 5) != 0)
		return 0;
	/* attached text files (patches, logs) still read as text; vcards,
	 * calendars and other structured data do not */
	static const char *const plain[] = {"text/plain", "text/html", "text/enriched",
					    "text/richtext"};
	for (size_t i = 0; i < sizeof plain / sizeof plain[0]; i++)
		if (strcmp(ct, plain[i]) == 0)
			return 1;
	return !attachment;
}

static void part_leaf(struct walk *w, GMimePart *p, size_t idx)
{
	struct msg_view *v = w->v;
	struct msg_part *mp = &v->parts[idx];
	const char *fn = g_mime_part_get_filename(p);
	if (fn)
		mp->filename = utf8_sanitize(fn, strnlen(fn, 1024));
	mp->is_attachment = g_mime_part_is_attachment(p) ||
			    (fn && strncmp(mp->content_type, "text/", 5) != 0);
	int text = ct_is_text(mp->content_type, mp->is_attachment);

	size_t budget = text ? MSGVIEW_MAX_TEXT
			     : (w->decoded < MV_MAX_DECODED ? MV_MAX_DECODED - w->decoded : 0);
	struct buf d;
	buf_init(&d, budget);
	int bad = 0;
	if (budget == 0 || part_decode(p, &d, &bad) < 0)
		v->truncated = 1;
	if (bad)
		v->mime_errors++;
	if (text)
		part_text(w, GMIME_OBJECT(p), &d, strcmp(mp->content_type, "text/html") == 0);
	else
		w->decoded += d.len;
	mp->size = d.len;
	mp->data_len = d.len;
	mp->data = d.len ? buf_steal(&d) : NULL;
	buf_free(&d);
}

static char *content_type_of(GMimeObject *obj)
{
	GMimeContentType *ct = g_mime_object_get_content_type(obj);
	const char *t = ct ? g_mime_content_type_get_media_type(ct) : NULL;
	const char *s = ct ? g_mime_content_type_get_media_subtype(ct) : NULL;
	char tmp[256];
	snprintf(tmp, sizeof tmp, "%s/%s", t ? t : "text", s ? s : "plain");
	for (char *c = tmp; *c; c++)
		if (*c >= 'A' && *c <= 'Z')
			*c = (char)(*c - 'A' + 'a');
	return utf8_sanitize(tmp, strlen(tmp));
}

static char *param_lower(const char *s)
{
	if (!s)
		return NULL;
	char tmp[64];
	size_t n = 0;
	while (*s == ' ' || *s == '\t')
		s++;
	for (; s[n] && n + 1 < sizeof tmp; n++)
		tmp[n] = (char)g_ascii_tolower(s[n]);
	while (n && (tmp[n - 1] == ' ' || tmp[n - 1] == '\t'))
		n--;
	return utf8_sanitize(tmp, n);
}

static long part_add(struct walk *w, GMimeObject *obj, int depth)
{
	struct msg_view *v = w->v;
	if (v->nparts >= MSGVIEW_MAX_PARTS) {
		v->truncated = 1;
		return -1;
	}
	if (v->nparts == w->parts_cap) {
		size_t cap = w->parts_cap ? w->parts_cap * 2 : 8;
		if (cap > MSGVIEW_MAX_PARTS)
			cap = MSGVIEW_MAX_PARTS;
		struct msg_part *np = realloc(v->parts, cap * sizeof *np);
		if (!np)
			return -1;
		v->parts = np;
		w->parts_cap = cap;
	}
	struct msg_part *mp = &v->parts[v->nparts];
	memset(mp, 0, sizeof *mp);
	mp->content_type = content_type_of(obj);
	if (!mp->content_type)
		return -1;
	mp->charset = param_lower(g_mime_object_get_content_type_parameter(obj, "charset"));
	mp->encoding = param_lower(g_mime_object_get_header(obj, "Content-Transfer-Encoding"));
	mp->depth = depth;
	return (long)v->nparts++;
}

/* Depth-first over the MIME tree; containers are listed as parts too (no
 * data) so structure is visible to the layers. */
static void walk_tree(struct walk *w, GMimeObject *obj, int depth)
{
	if (!obj)
		return;
	if (depth > MSGVIEW_MAX_DEPTH) {
		w->v->truncated = 1;
		return;
	}
	long idx = part_add(w, obj, depth);
	if (idx < 0)
		return;
	if (GMIME_IS_MULTIPART(obj)) {
		GMimeMultipart *mp = GMIME_MULTIPART(obj);
		int n = g_mime_multipart_get_count(mp);
		for (int i = 0; i < n && w->v->nparts < MSGVIEW_MAX_PARTS; i++)
			walk_tree(w, g_mime_multipart_get_part(mp, i), depth + 1);
		if (n > 0 && w->v->nparts >= MSGVIEW_MAX_PARTS)
			w->v->truncated = 1;
	} else if (GMIME_IS_MESSAGE_PART(obj)) {
		GMimeMessage *m = g_mime_message_part_get_message(GMIME_MESSAGE_PART(obj));
		if (m)
			walk_tree(w, g_mime_message_get_mime_part(m), depth + 1);
	} else if (GMIME_IS_PART(obj)) {
		part_leaf(w, GMIME_PART(obj), (size_t)idx);
	}
}

/* Offset of the body: after the first empty line (LF or CRLF). */
static size_t body_offset(const char *d, size_t n)
{
	if (n && d[0] == '\n')
		return 1;
	if (n > 1 && d[0] == '\r' && d[1] == '\n')
		return 2;
	for (size_t i = 0; i + 1 < n; i++) {
		if (d[i] != '\n')
			continue;
		if (d[i + 1] == '\n')
			return i + 2;
		if (i + 2 < n && d[i + 1] == '\r' && d[i + 2] == '\n')
			return i + 3;
	}
	return n;
}

/* GMime could not build a message at all: keep the bytes as text so the
 * content layers still see something. */
static void parse_fallback(struct walk *w)
{
	struct msg_view *v = w->v;
	if (v->rawbody.len && charset_to_utf8(NULL, v->rawbody.data, v->rawbody.len, &v->text) < 0)
		v->truncated = 1;
}

/* The MIME headers of the top level (Content-*), re-serialised for GMime.
 * Only these reach GMime: the message headers were already split by
 * headers_collect, and GMime's own processing of them (address lists,
 * dates, decoding) is half of its parse time. */
static GMimeStream *mime_headers_stream(const struct msg_view *v)
{
	struct buf h;
	buf_init(&h, MV_MAX_HEADER_LEN * 4);
	for (size_t i = 0; i < v->nheaders; i++)
		if (strncasecmp(v->headers[i].name, "content-", 8) == 0)
			buf_printf(&h, "%s: %s\n", v->headers[i].name, v->headers[i].raw);
	buf_putc(&h, '\n');
	GMimeStream *hs = g_mime_stream_mem_new_with_buffer(h.data ? h.data : "\n",
							     h.data ? h.len : 1);
	buf_free(&h);
	return hs;
}

/* Parses the body as the top MIME part. *ba must outlive the result:
 * its parts read through substreams that share the array. */
static GMimeObject *gmime_parse(struct msg_view *v, const char *data, size_t len, size_t body,
				GMimeParserOptions *opts, GByteArray **ba_out)
{
	/* zero-copy: the stream reads the caller's bytes in place; the array
	 * is released without freeing them */
	GByteArray *ba = g_byte_array_new_take((guint8 *)(uintptr_t)data, len);
	GMimeStream *root = g_mime_stream_mem_new_with_byte_array(ba);
	g_mime_stream_mem_set_owner(GMIME_STREAM_MEM(root), FALSE);
	GMimeStream *cat = g_mime_stream_cat_new();
	GMimeStream *hs = mime_headers_stream(v);
	GMimeStream *bs = g_mime_stream_substream(root, (gint64)body, (gint64)len);
	g_mime_stream_cat_add_source(GMIME_STREAM_CAT(cat), hs);
	g_mime_stream_cat_add_source(GMIME_STREAM_CAT(cat), bs);
	GMimeParser *parser = g_mime_parser_new_with_stream(cat);
	GMimeObject *obj = g_mime_parser_construct_part(parser, opts);
	g_object_unref(parser);
	g_object_unref(bs);
	g_object_unref(hs);
	g_object_unref(cat);
	g_object_unref(root);
	*ba_out = ba;
	return obj;
}

static void parse_gmime(struct walk *w, const char *data, size_t len)
{
	struct msg_view *v = w->v;
	GMimeParserOptions *opts = g_mime_parser_options_new();
	g_mime_parser_options_set_warning_callback(opts, on_warning, v);
	size_t body = body_offset(data, len);
	headers_collect(v, data, body, opts);
	GByteArray *ba = NULL;
	GMimeObject *top = gmime_parse(v, data, len, body, opts, &ba);
	if (top) {
		walk_tree(w, top, 0);
		g_object_unref(top);
	} else {
		v->mime_errors++;
		parse_fallback(w);
	}
	g_byte_array_free(ba, FALSE);
	g_mime_parser_options_free(opts);
}

int msgview_parse(const char *data, size_t len, struct msg_view *v, struct err *e)
{
	memset(v, 0, sizeof *v);
	buf_init(&v->text, MSGVIEW_MAX_TEXT);
	buf_init(&v->html, MSGVIEW_MAX_TEXT);
	buf_init(&v->rawbody, MSGVIEW_MAX_TEXT);
	if (!data && len)
		return err_set(e, "msgview: no data");
	if (len > MV_MAX_INPUT)
		return err_set(e, "msgview: message too large (%zu bytes)", len);
	v->full = data;
	v->full_len = len;
	pthread_once(&gm_once, gm_init);

	size_t off = body_offset(data, len);
	if (buf_append_cap(&v->rawbody, data + off, len - off) < 0)
		v->truncated = 1;

	struct walk w = {.v = v};
	if (len)
		parse_gmime(&w, data, len);
	uri_scan_text(&w.uris, v->text.data ? v->text.data : "", v->text.len);
	if (w.uris.full)
		v->truncated = 1;
	v->uris = w.uris.v;
	v->nuris = w.uris.n;
	free(w.uris.hash);
	return 0;
}

void msgview_free(struct msg_view *v)
{
	for (size_t i = 0; i < v->nheaders; i++) {
		free(v->headers[i].name);
		free(v->headers[i].value);
		free(v->headers[i].raw);
	}
	free(v->headers);
	for (size_t i = 0; i < v->nparts; i++) {
		free(v->parts[i].content_type);
		free(v->parts[i].filename);
		free(v->parts[i].charset);
		free(v->parts[i].encoding);
		free((void *)(uintptr_t)v->parts[i].data);
	}
	free(v->parts);
	struct uri_list ul = {.v = v->uris, .n = v->nuris};
	uri_list_free(&ul);
	buf_free(&v->text);
	buf_free(&v->html);
	buf_free(&v->rawbody);
	memset(v, 0, sizeof *v);
}

const char *msgview_header(const struct msg_view *v, const char *name)
{
	for (size_t i = 0; i < v->nheaders; i++)
		if (strcasecmp(v->headers[i].name, name) == 0)
			return v->headers[i].value;
	return NULL;
}
