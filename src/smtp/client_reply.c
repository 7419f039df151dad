#include "smtp/client_reply.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* EHLO keywords the client acts on; everything else is ignored. */
static const struct {
	const char *name;
	unsigned bit;
} ext_table[] = {
	{"PIPELINING", SMTP_EXT_PIPELINING},
	{"8BITMIME", SMTP_EXT_8BITMIME},
	{"SMTPUTF8", SMTP_EXT_SMTPUTF8},
	{"STARTTLS", SMTP_EXT_STARTTLS},
	{"SIZE", SMTP_EXT_SIZE},
	{"ENHANCEDSTATUSCODES", SMTP_EXT_ENHANCEDSTATUSCODES},
};

void smtpc_parser_reset(struct smtpc_parser *p)
{
	memset(p, 0, sizeof *p);
}

void smtpc_sanitise(char *out, size_t outlen, const char *text, size_t len)
{
	size_t o = 0;
	if (!outlen)
		return;
	for (size_t i = 0; i < len && o + 1 < outlen; i++) {
		unsigned char ch = (unsigned char)text[i];
		out[o++] = (ch >= 0x20 && ch < 0x7f) ? (char)ch : '?';
	}
	out[o] = '\0';
}

void smtpc_reply_local(struct smtp_reply *r, int code, const char *enhanced, const char *text)
{
	r->code = code;
	snprintf(r->enhanced, sizeof r->enhanced, "%s", enhanced ? enhanced : "");
	smtpc_sanitise(r->text, sizeof r->text, text, strlen(text));
}

/* Keyword of one EHLO continuation line ("SIZE 10240000"). */
static void parse_ext(struct smtpc_parser *p, const char *kw, size_t len)
{
	size_t n = 0;
	while (n < len && kw[n] != ' ')
		n++;
	for (size_t i = 0; i < sizeof ext_table / sizeof ext_table[0]; i++) {
		if (strlen(ext_table[i].name) != n || strncasecmp(kw, ext_table[i].name, n) != 0)
			continue;
		p->ext |= ext_table[i].bit;
		if (ext_table[i].bit == SMTP_EXT_SIZE && n < len) {
			char num[32];
			smtpc_sanitise(num, sizeof num, kw + n + 1, len - n - 1);
			p->size_max = (size_t)strtoull(num, NULL, 10);
		}
	}
}

/* Length of an RFC 3463 code at the start of s ("5.1.1"), 0 if none. The
 * class digit must agree with the reply code. */
static size_t enhanced_len(const char *s, size_t len, int code)
{
	size_t i = 0;
	if (len < 5 || s[0] - '0' != code / 100 || s[1] != '.')
		return 0;
	i = 2;
	for (int part = 0; part < 2; part++) {
		size_t start = i;
		while (i < len && i - start < 3 && isdigit((unsigned char)s[i]))
			i++;
		if (i == start)
			return 0;
		if (part == 0) {
			if (i >= len || s[i] != '.')
				return 0;
			i++;
		}
	}
	if (i < len && s[i] != ' ')
		return 0;
	return i;
}

static void fill_reply(struct smtp_reply *out, int code, const char *text, size_t len)
{
	out->code = code;
	out->enhanced[0] = '\0';
	size_t el = enhanced_len(text, len, code);
	if (el) {
		memcpy(out->enhanced, text, el);
		out->enhanced[el] = '\0';
		text += el;
		len -= el;
		while (len && *text == ' ')
			text++, len--;
	}
	smtpc_sanitise(out->text, sizeof out->text, text, len);
}

/* One complete line (without its line end). 1 = last line of a reply. */
static int parse_line(struct smtpc_parser *p, const char *line, size_t len,
		      struct smtp_reply *out, char *err, size_t errlen)
{
	if (len < 3 || line[0] < '2' || line[0] > '5' || !isdigit((unsigned char)line[1]) ||
	    !isdigit((unsigned char)line[2]) || (len > 3 && line[3] != ' ' && line[3] != '-')) {
		char esc[64];
		smtpc_sanitise(esc, sizeof esc, line, len);
		snprintf(err, errlen, "malformed reply line: %s", esc);
		return -1;
	}
	int code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
	if (p->nlines && code != p->code) {
		snprintf(err, errlen, "reply code changed within a reply (%d, then %d)", p->code,
			 code);
		return -1;
	}
	if (++p->nlines > SMTP_CLIENT_MAX_LINES) {
		snprintf(err, errlen, "reply of more than %d lines", SMTP_CLIENT_MAX_LINES);
		return -1;
	}
	if (p->nlines == 1) {
		p->code = code;
		p->ext = 0;
		p->size_max = 0;
	}
	const char *text = len > 4 ? line + 4 : "";
	size_t tlen = len > 4 ? len - 4 : 0;
	if (p->nlines > 1)
		parse_ext(p, text, tlen);
	if (len > 3 && line[3] == '-')
		return 0;
	fill_reply(out, code, text, tlen);
	p->code = 0;
	p->nlines = 0;
	return 1;
}

int smtpc_reply_feed(struct smtpc_parser *p, struct evbuffer *in, struct smtp_reply *out,
		     char *err, size_t errlen)
{
	char line[SMTP_CLIENT_MAX_LINE];
	for (;;) {
		size_t eol_len = 0;
		struct evbuffer_ptr pos = evbuffer_search_eol(in, NULL, &eol_len, EVBUFFER_EOL_CRLF);
		if (pos.pos < 0) {
			if (evbuffer_get_length(in) >= SMTP_CLIENT_MAX_LINE) {
				snprintf(err, errlen, "reply line longer than %d bytes",
					 SMTP_CLIENT_MAX_LINE);
				return -1;
			}
			return 0;
		}
		size_t len = (size_t)pos.pos;
		if (len + eol_len > SMTP_CLIENT_MAX_LINE) {
			snprintf(err, errlen, "reply line longer than %d bytes", SMTP_CLIENT_MAX_LINE);
			return -1;
		}
		evbuffer_remove(in, line, len);
		evbuffer_drain(in, eol_len);
		int rc = parse_line(p, line, len, out, err, errlen);
		if (rc != 0)
			return rc;
	}
}
