/* Bayes tokens from headers, URLs, HTML markup and MIME structure. Each
 * kind has its own prefix. Values that identify the receiving side
 * (Delivered-To, the recipient's own Received hops, mailbox flags) are
 * left out: they describe where a corpus was collected, not the mail. */
#include <glib.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "filter/tokenize.h"

#define TOK_MAX_HDR_VALUE 2048
/* Oldest Received hops tokenized. */
#define TOK_RECEIVED_HOPS 2

/* "john.smith99" -> "a.a9": the look of a name without the name. */
static size_t shape_of(const char *s, size_t n, char *out, size_t outlen)
{
	size_t o = 0;
	for (size_t i = 0; i < n && o + 1 < outlen; i++) {
		unsigned char c = (unsigned char)s[i];
		char k = g_ascii_isalpha(c) || c >= 0x80 ? 'a' : g_ascii_isdigit(c) ? '9' : (char)c;
		if (!o || out[o - 1] != k)
			out[o++] = k;
	}
	out[o] = '\0';
	return o;
}

/* domain and every parent with two labels or more: "a.b.example.com" ->
 * a.b.example.com, b.example.com, example.com */
static void domain_tokens(struct tok_set *ts, const char *prefix, const char *d, size_t n)
{
	char low[256];
	if (n >= sizeof low)
		return;
	for (size_t i = 0; i < n; i++)
		low[i] = (char)g_ascii_tolower(d[i]);
	while (n && low[n - 1] == '.')
		n--;
	size_t s = 0;
	for (int level = 0; level < 6; level++) {
		const char *dot = memchr(low + s, '.', n - s);
		if (!dot)
			break;
		tok_add2(ts, prefix, low + s, n - s);
		s = (size_t)(dot - low) + 1;
	}
}

/* The address part of one mailbox: inside <...> when present. */
static int addr_find(const char *v, const char **a, size_t *an)
{
	const char *lt = strchr(v, '<');
	const char *gt = lt ? strchr(lt, '>') : NULL;
	if (lt && gt) {
		*a = lt + 1;
		*an = (size_t)(gt - lt - 1);
	} else {
		const char *s = v;
		while (*s == ' ')
			s++;
		size_t n = strcspn(s, " ,;()");
		*a = s;
		*an = n;
	}
	return *an > 0 && memchr(*a, '@', *an) != NULL;
}

static void addr_domain(const char *a, size_t an, const char **d, size_t *dn)
{
	const char *at = memrchr(a, '@', an);
	*d = at + 1;
	*dn = an - (size_t)(at + 1 - a);
}

static void hdr_address(struct tok_set *ts, const char *pfx, const char *value)
{
	char p[32];
	const char *a;
	size_t an;
	if (!addr_find(value, &a, &an)) {
		snprintf(p, sizeof p, "%snoaddr", pfx);
		tok_add(ts, p, strlen(p));
		return;
	}
	const char *d;
	size_t dn;
	addr_domain(a, an, &d, &dn);
	char low[256];
	size_t l = an < sizeof low ? an : sizeof low - 1;
	for (size_t i = 0; i < l; i++)
		low[i] = (char)g_ascii_tolower(a[i]);
	snprintf(p, sizeof p, "%sa:", pfx);
	tok_add2(ts, p, low, l);
	snprintf(p, sizeof p, "%sd:", pfx);
	domain_tokens(ts, p, d, dn);
	char shape[16];
	size_t sl = shape_of(a, an - dn - 1, shape, sizeof shape);
	snprintf(p, sizeof p, "%sshape:", pfx);
	tok_add2(ts, p, shape, sl);
	/* display name words, or the lack of one */
	const char *lt = strchr(value, '<');
	snprintf(p, sizeof p, "%sn:", pfx);
	if (lt && lt > value)
		tokenize_words(ts, p, value, (size_t)(lt - value));
	else
		tok_add2(ts, p, "(none)", 6);
}

static void hdr_from(struct tok_set *ts, const struct msg_view *v, const char *value)
{
	(void)v;
	hdr_address(ts, "f:", value);
}

static void hdr_reply_to(struct tok_set *ts, const struct msg_view *v, const char *value)
{
	hdr_address(ts, "rt:", value);
	const char *from = msgview_header(v, "From");
	const char *a, *b, *da, *db;
	size_t an, bn, dan, dbn;
	if (!from || !addr_find(value, &a, &an) || !addr_find(from, &b, &bn))
		return;
	addr_domain(a, an, &da, &dan);
	addr_domain(b, bn, &db, &dbn);
	if (dan == dbn && strncasecmp(da, db, dan) == 0)
		tok_add(ts, "rt:same-domain", 14);
	else
		tok_add(ts, "rt:other-domain", 15);
}

static void hdr_recipients(struct tok_set *ts, const struct msg_view *v, const char *value,
			   const char *pfx)
{
	(void)v;
	size_t n = 0;
	for (const char *p = value; *p; p++)
		n += *p == '@';
	char t[48];
	int l = snprintf(t, sizeof t, "%scount:%zu", pfx, n > 5 ? (n > 20 ? 21 : 6) : n);
	tok_add(ts, t, (size_t)l);
	if (strcasestr(value, "undisclosed"))
		tok_add2(ts, pfx, "undisclosed", 11);
	if (!strchr(value, '<'))
		tok_add2(ts, pfx, "bare", 4);
}

static void hdr_to(struct tok_set *ts, const struct msg_view *v, const char *value)
{
	hdr_recipients(ts, v, value, "to:");
}

static void hdr_cc(struct tok_set *ts, const struct msg_view *v, const char *value)
{
	hdr_recipients(ts, v, value, "cc:");
}

static void hdr_subject(struct tok_set *ts, const struct msg_view *v, const char *value)
{
	(void)v;
	size_t n = strnlen(value, TOK_MAX_HDR_VALUE);
	tokenize_words(ts, "s:", value, n);
	size_t up = 0, letters = 0;
	for (size_t i = 0; i < n; i++)
		if (g_ascii_isalpha(value[i])) {
			letters++;
			up += g_ascii_isupper(value[i]) != 0;
		}
	if (letters >= 6 && up * 10 >= letters * 8)
		tok_add(ts, "s:x:caps", 8);
	if (strchr(value, '!'))
		tok_add(ts, "s:x:bang", 8);
	if (strchr(value, '$'))
		tok_add(ts, "s:x:dollar", 10);
	if (strncasecmp(value, "re:", 3) == 0)
		tok_add(ts, "s:x:re", 6);
	if (strncasecmp(value, "fw", 2) == 0)
		tok_add(ts, "s:x:fw", 6);
	if (!letters)
		tok_add(ts, "s:x:empty", 9);
	/* runs of blanks pad a subject past a tracking id */
	if (strstr(value, "   "))
		tok_add(ts, "s:x:spaces", 10);
}

/* Received: the sender-side hops are evidence (the host that handed the
 * message over, the protocol). Only the oldest hops are read: the newest
 * ones are the recipient's own relays (fetchmail, the local MTA), which
 * say where a corpus was collected rather than who sent the mail. */
static void hdr_received(struct tok_set *ts, const struct msg_view *v, const char *value)
{
	(void)v;
	const char *f = strncasecmp(value, "from ", 5) == 0 ? value + 5 : NULL;
	if (f) {
		size_t n = strcspn(f, " \t;()[]");
		const char *dot1 = memchr(f, '.', n);
		if (dot1) {
			/* registered-domain-ish: the last two labels */
			size_t s = n, dots = 0;
			while (s > 0 && !(f[s - 1] == '.' && ++dots == 2))
				s--;
			char low[128];
			size_t l = n - s < sizeof low ? n - s : sizeof low - 1;
			for (size_t i = 0; i < l; i++)
				low[i] = (char)g_ascii_tolower(f[s + i]);
			if (!g_ascii_isdigit(low[l ? l - 1 : 0]))
				tok_add2(ts, "r:from:", low, l);
		} else {
			tok_add(ts, "r:from:(nodot)", 14);
		}
	}
	const char *w = strcasestr(value, " with ");
	if (w) {
		w += 6;
		size_t n = strcspn(w, " \t;()");
		char low[32];
		size_t l = n < sizeof low ? n : sizeof low - 1;
		for (size_t i = 0; i < l; i++)
			low[i] = (char)g_ascii_tolower(w[i]);
		tok_add2(ts, "r:with:", low, l);
	}
}

static void hdr_message_id(struct tok_set *ts, const struct msg_view *v, const char *value)
{
	(void)v;
	const char *lt = strchr(value, '<');
	const char *s = lt ? lt + 1 : value;
	size_t n = strcspn(s, ">");
	const char *at = memchr(s, '@', n);
	if (!at) {
		tok_add(ts, "mid:noat", 8);
		return;
	}
	char shape[16];
	size_t sl = shape_of(s, (size_t)(at - s), shape, sizeof shape);
	tok_add2(ts, "mid:shape:", shape, sl);
	domain_tokens(ts, "mid:d:", at + 1, n - (size_t)(at + 1 - s));
}

/* Header values whose words are evidence as they are. */
static void hdr_words(struct tok_set *ts, const char *pfx, const char *value)
{
	tokenize_words(ts, pfx, value, strnlen(value, 256));
}

struct hdr_rule {
	const char *name;
	const char *prefix; /* for hdr_words */
	void (*fn)(struct tok_set *ts, const struct msg_view *v, const char *value);
};

static const struct hdr_rule hdr_rules[] = {
	{"subject", NULL, hdr_subject},
	{"from", NULL, hdr_from},
	{"reply-to", NULL, hdr_reply_to},
	{"to", NULL, hdr_to},
	{"cc", NULL, hdr_cc},
	{"received", NULL, hdr_received},
	{"message-id", NULL, hdr_message_id},
	{"x-mailer", "xm:", NULL},
	{"user-agent", "xm:", NULL},
	{"x-mimeole", "xmo:", NULL},
	{"x-priority", "xpri:", NULL},
	{"x-msmail-priority", "xpri:", NULL},
	{"importance", "xpri:", NULL},
	{"precedence", "prec:", NULL},
	{"organization", "org:", NULL},
	{"content-class", "cclass:", NULL},
	{"sender", "snd:", NULL},
};

/* Headers written by the receiving side or the mail store: their
 * presence says how a corpus was collected, not what the mail is. */
static const char *const recipient_side[] = {
	"received", "delivered-to", "return-path", "x-original-date", "delivery-date",
	"x-status", "x-keywords", "x-uid", "status", "lines", "content-length", "x-spam-",
	"x-virus-", "x-mailscanner", "x-antiabuse", "x-original-to", "x-envelope-", "envelope-to",
};

static int recipient_side_header(const char *name)
{
	for (size_t i = 0; i < sizeof recipient_side / sizeof recipient_side[0]; i++) {
		size_t l = strlen(recipient_side[i]);
		if (recipient_side[i][l - 1] == '-' ? strncasecmp(name, recipient_side[i], l) == 0
						     : strcasecmp(name, recipient_side[i]) == 0)
			return 1;
	}
	return 0;
}

static const struct hdr_rule *hdr_rule_for(const char *name)
{
	for (size_t i = 0; i < sizeof hdr_rules / sizeof hdr_rules[0]; i++)
		if (strcasecmp(name, hdr_rules[i].name) == 0)
			return &hdr_rules[i];
	return NULL;
}

void tokenize_headers(const struct msg_view *v, struct tok_set *ts)
{
	int received = 0, nreceived = 0, has_mid = 0, has_date = 0;
	ts->group = TOK_G_HEADER;
	for (size_t i = 0; i < v->nheaders; i++)
		nreceived += strcasecmp(v->headers[i].name, "received") == 0;
	for (size_t i = 0; i < v->nheaders && !ts->full; i++) {
		const struct msg_header *h = &v->headers[i];
		if (strcasecmp(h->name, "received") == 0 && ++received <= nreceived - TOK_RECEIVED_HOPS)
			continue;
		has_mid |= strcasecmp(h->name, "message-id") == 0;
		has_date |= strcasecmp(h->name, "date") == 0;
		if (!recipient_side_header(h->name)) {
			char low[64];
			size_t l = strnlen(h->name, sizeof low - 1);
			for (size_t k = 0; k < l; k++)
				low[k] = (char)g_ascii_tolower(h->name[k]);
			ts->group = TOK_G_HNAME;
			tok_add2(ts, "hn:", low, l);
		}
		ts->group = TOK_G_HEADER;
		const struct hdr_rule *r = hdr_rule_for(h->name);
		if (!r)
			continue;
		if (r->fn)
			r->fn(ts, v, h->value);
		else
			hdr_words(ts, r->prefix, h->value);
	}
	ts->group = TOK_G_HEADER;
	if (!has_mid)
		tok_add(ts, "mid:none", 8);
	if (!has_date)
		tok_add(ts, "date:none", 9);
	if (!msgview_header(v, "subject"))
		tok_add(ts, "s:x:none", 8);
}

static void uri_path_tokens(struct tok_set *ts, const char *p)
{
	int count = 0;
	while (*p && count < 20) {
		size_t n = strcspn(p, "/?&=.-_+%#;:~,");
		if (n >= 3 && n <= 20) {
			int digits = 1;
			char low[24];
			for (size_t i = 0; i < n; i++) {
				low[i] = (char)g_ascii_tolower(p[i]);
				digits &= g_ascii_isdigit(p[i]) != 0;
			}
			if (!digits) {
				tok_add2(ts, "u:p:", low, n);
				count++;
			}
		}
		p += n;
		if (*p)
			p++;
	}
}

void tokenize_uris(const struct msg_view *v, struct tok_set *ts)
{
	for (size_t i = 0; i < v->nuris && !ts->full; i++) {
		const char *u = v->uris[i];
		if (strncmp(u, "mailto:", 7) == 0) {
			const char *at = strchr(u, '@');
			if (at)
				domain_tokens(ts, "u:mailto:", at + 1, strlen(at + 1));
			continue;
		}
		const char *sep = strstr(u, "://");
		if (!sep)
			continue;
		tok_add2(ts, "u:s:", u, (size_t)(sep - u));
		const char *h = sep + 3;
		size_t hn = strcspn(h, "/:");
		if (hn && g_ascii_isdigit(h[hn - 1])) {
			tok_add(ts, "u:ip", 4);
		} else {
			tok_add2(ts, "u:h:", h, hn);
			domain_tokens(ts, "u:d:", h, hn);
		}
		if (h[hn] == ':')
			tok_add(ts, "u:port", 6);
		const char *path = h + hn;
		path += strcspn(path, "/");
		uri_path_tokens(ts, path);
	}
}

/* Tag and attribute names of the raw HTML: "t:font", "a:font:color". */
void tokenize_html(const struct msg_view *v, struct tok_set *ts)
{
	const char *s = v->html.data;
	size_t n = v->html.len < TOK_MAX_TEXT ? v->html.len : TOK_MAX_TEXT;
	size_t tags = 0;
	for (size_t i = 0; i + 1 < n && !ts->full; i++) {
		if (s[i] != '<')
			continue;
		size_t j = i + 1;
		if (s[j] == '/')
			j++;
		if (j + 2 < n && s[j] == '!' && s[j + 1] == '-' && s[j + 2] == '-') {
			tok_add(ts, "t:comment", 9);
			continue;
		}
		size_t ns = j;
		while (j < n && j - ns < 16 && g_ascii_isalnum(s[j]))
			j++;
		if (j == ns || j - ns >= 16)
			continue;
		char tag[20];
		size_t tl = j - ns;
		for (size_t k = 0; k < tl; k++)
			tag[k] = (char)g_ascii_tolower(s[ns + k]);
		tag[tl] = '\0';
		tags++;
		tok_add2(ts, "t:", tag, tl);
		if (s[i + 1] == '/')
			continue;
		/* attribute names up to the end of the tag (bounded) */
		size_t lim = j + 512 < n ? j + 512 : n;
		while (j < lim && s[j] != '>') {
			while (j < lim && !g_ascii_isalpha(s[j]) && s[j] != '>')
				j++;
			size_t as = j;
			while (j < lim && (g_ascii_isalnum(s[j]) || s[j] == '-'))
				j++;
			if (j > as && j - as < 16 && j < lim && s[j] == '=') {
				char t[48];
				int l = snprintf(t, sizeof t, "a:%s:%.*s", tag, (int)(j - as), s + as);
				for (int k = 2; k < l; k++)
					t[k] = (char)g_ascii_tolower(t[k]);
				tok_add(ts, t, (size_t)l);
			}
			/* skip the value */
			if (j < lim && s[j] == '=') {
				j++;
				if (j < lim && (s[j] == '"' || s[j] == '\'')) {
					const char *q = memchr(s + j + 1, s[j], lim - j - 1);
					j = q ? (size_t)(q - s) + 1 : lim;
				}
				while (j < lim && s[j] != ' ' && s[j] != '>')
					j++;
			}
		}
	}
	if (tags) {
		char t[32];
		unsigned b = 0;
		for (size_t k = tags; k > 1 && b < 20; k >>= 1)
			b++;
		int l = snprintf(t, sizeof t, "x:tags:%u", b / 2);
		tok_add(ts, t, (size_t)l);
	}
}

void tokenize_mime(const struct msg_view *v, struct tok_set *ts)
{
	int plain = 0, html = 0;
	for (size_t i = 0; i < v->nparts && !ts->full; i++) {
		const struct msg_part *p = &v->parts[i];
		tok_add2(ts, "m:ct:", p->content_type, strlen(p->content_type));
		plain |= strcmp(p->content_type, "text/plain") == 0;
		html |= strcmp(p->content_type, "text/html") == 0;
		if (p->charset)
			tok_add2(ts, "m:cs:", p->charset, strlen(p->charset));
		if (p->encoding)
			tok_add2(ts, "m:cte:", p->encoding, strlen(p->encoding));
		if (p->is_attachment)
			tok_add2(ts, "m:att:", p->content_type, strlen(p->content_type));
		const char *dot = p->filename ? strrchr(p->filename, '.') : NULL;
		if (dot && strlen(dot + 1) <= 8) {
			char ext[12];
			size_t l = strlen(dot + 1);
			for (size_t k = 0; k < l; k++)
				ext[k] = (char)g_ascii_tolower(dot[1 + k]);
			tok_add2(ts, "m:ext:", ext, l);
		}
	}
	if (html && !plain)
		tok_add(ts, "m:html-only", 11);
	else if (html && plain)
		tok_add(ts, "m:html+plain", 12);
	if (v->nparts > 1) {
		char t[32];
		unsigned b = 0;
		for (size_t k = v->nparts; k > 1 && b < 12; k >>= 1)
			b++;
		int l = snprintf(t, sizeof t, "m:nparts:%u", b);
		tok_add(ts, t, (size_t)l);
	}
}
