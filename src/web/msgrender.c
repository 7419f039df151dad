/* A message as the UI shows it: decoded headers, the plain text, whether
 * there is HTML (served apart, sanitised), the attachments. Everything is
 * returned as text for the UI to insert with textContent. */
#include <stdlib.h>
#include <string.h>

#include "mail/msgview.h"
#include "mail/msgview_int.h"
#include "web/sanitize.h"
#include "web/web_int.h"

#define VIEW_MAX_TEXT (1u << 20)

static const struct {
	const char *key, *header;
} shown_headers[] = {
	{"from", "From"}, {"to", "To"},           {"cc", "Cc"},
	{"date", "Date"}, {"subject", "Subject"}, {"message_id", "Message-ID"},
	{"reply_to", "Reply-To"},
};

/* Valid UTF-8 JSON string of at most max bytes of s. */
static json_t *safe_string(const char *s, size_t n, size_t max)
{
	char *fixed = utf8_sanitize(s, n > max ? max : n);
	json_t *j = json_string(fixed ? fixed : "");
	free(fixed);
	return j ? j : json_string("");
}

static const struct msg_part *first_part(const struct msg_view *v, const char *type)
{
	for (size_t i = 0; i < v->nparts; i++)
		if (!v->parts[i].is_attachment && v->parts[i].data &&
		    strcmp(v->parts[i].content_type, type) == 0)
			return &v->parts[i];
	return NULL;
}

static json_t *attachments(const struct msg_view *v)
{
	json_t *arr = json_array();
	for (size_t i = 0; i < v->nparts; i++) {
		const struct msg_part *p = &v->parts[i];
		if (strncmp(p->content_type, "multipart/", 10) == 0 ||
		    strcmp(p->content_type, "message/rfc822") == 0)
			continue;
		int body_text = !p->is_attachment && strncmp(p->content_type, "text/", 5) == 0;
		if (body_text)
			continue;
		const char *fn = p->filename ? p->filename : "";
		json_array_append_new(arr, json_pack("{s:o, s:o, s:I}", "filename",
						     safe_string(fn, strlen(fn), 255), "content_type",
						     safe_string(p->content_type, strlen(p->content_type), 255),
						     "size", (json_int_t)p->size));
	}
	return arr;
}

/* The body text: the first text/plain part, else the HTML as text. */
static json_t *body_text(const struct msg_view *v)
{
	const struct msg_part *p = first_part(v, "text/plain");
	struct buf u;
	buf_init(&u, VIEW_MAX_TEXT);
	if (p) {
		charset_to_utf8(p->charset, p->data, p->data_len, &u);
	} else if ((p = first_part(v, "text/html")) != NULL) {
		struct buf h;
		buf_init(&h, VIEW_MAX_TEXT * 4);
		charset_to_utf8(p->charset, p->data, p->data_len, &h);
		if (h.len)
			html_to_text(h.data, h.len, &u, NULL, NULL);
		buf_free(&h);
	} else if (v->text.len) {
		buf_append(&u, v->text.data, v->text.len > VIEW_MAX_TEXT ? VIEW_MAX_TEXT : v->text.len);
	}
	json_t *j = safe_string(u.data ? u.data : "", u.len, VIEW_MAX_TEXT);
	buf_free(&u);
	return j;
}

int msgrender_view(const char *data, size_t len, json_t *obj, char **html, struct err *e)
{
	struct msg_view v;
	*html = NULL;
	if (msgview_parse(data, len, &v, e) < 0)
		return -1;
	json_t *h = json_object();
	for (size_t i = 0; i < sizeof shown_headers / sizeof *shown_headers; i++) {
		const char *val = msgview_header(&v, shown_headers[i].header);
		if (val)
			json_object_set_new(h, shown_headers[i].key, safe_string(val, strlen(val), 4096));
	}
	json_object_set_new(obj, "headers", h);
	json_object_set_new(obj, "text", body_text(&v));
	json_object_set_new(obj, "attachments", attachments(&v));
	json_object_set_new(obj, "truncated", json_boolean(v.truncated));
	const struct msg_part *hp = first_part(&v, "text/html");
	json_object_set_new(obj, "has_html", json_boolean(hp != NULL));
	if (hp) {
		struct buf u, out;
		buf_init(&u, SANITIZE_MAX_OUT);
		buf_init(&out, SANITIZE_MAX_OUT);
		charset_to_utf8(hp->charset, hp->data, hp->data_len, &u);
		sanitize_html(u.data ? u.data : "", u.len, &out);
		*html = buf_steal(&out);
		buf_free(&u);
		buf_free(&out);
	}
	msgview_free(&v);
	return 0;
}
