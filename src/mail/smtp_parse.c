/* SMTP grammar: command lines, paths, ESMTP parameters, relay screening,
 * reply formatting. Every parser works on [p, end) ranges and checks each
 * byte against the grammar, so control bytes and malformed UTF-8 never
 * reach a stored address. */
#include "mail/smtp_parse.h"

#include <arpa/inet.h>
#include <stdarg.h>
#include <stdint.h> /* SIZE_MAX */
#include <stdio.h>
#include <string.h>

/* ---- character classes (ASCII only: <ctype.h> depends on the locale) ---- */

static int is_blank(int c)
{
	return c == ' ' || c == '\t';
}

static int is_digit(int c)
{
	return c >= '0' && c <= '9';
}

static int is_alnum(int c)
{
	return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int is_ldh(int c)
{
	return is_alnum(c) || c == '-';
}

/* RFC 5322 atext, ASCII part. */
static int is_atext(int c)
{
	return is_alnum(c) || (c && strchr("!#$%&'*+-/=?^_`{|}~", c));
}

static char lower(char c)
{
	return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

static int ncase_eq(const char *a, const char *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (lower(a[i]) != lower(b[i]))
			return 0;
	return 1;
}

/* Whole-token case-insensitive match of [s, s+n) against word. */
static int word_eq(const char *s, size_t n, const char *word)
{
	return strlen(word) == n && ncase_eq(s, word, n);
}

/* Well-formed UTF-8 (Unicode 15, table 3-7): lead byte range, then the
 * allowed range of the second byte; later bytes are 80..BF. This refuses
 * overlongs, surrogates and code points above U+10FFFF. */
static const struct {
	unsigned char lead_lo, lead_hi, len, second_lo, second_hi;
} utf8_forms[] = {
	{ 0xC2, 0xDF, 2, 0x80, 0xBF }, { 0xE0, 0xE0, 3, 0xA0, 0xBF },
	{ 0xE1, 0xEC, 3, 0x80, 0xBF }, { 0xED, 0xED, 3, 0x80, 0x9F },
	{ 0xEE, 0xEF, 3, 0x80, 0xBF }, { 0xF0, 0xF0, 4, 0x90, 0xBF },
	{ 0xF1, 0xF3, 4, 0x80, 0xBF }, { 0xF4, 0xF4, 4, 0x80, 0x8F },
};

/* Length of the UTF-8 sequence at p, or 0 when it is not well-formed. */
static size_t utf8_seq(const char *p, const char *end)
{
	const unsigned char *u = (const unsigned char *)p;
	for (size_t i = 0; i < sizeof utf8_forms / sizeof utf8_forms[0]; i++) {
		if (u[0] < utf8_forms[i].lead_lo || u[0] > utf8_forms[i].lead_hi)
			continue;
		size_t n = utf8_forms[i].len;
		if ((size_t)(end - p) < n || u[1] < utf8_forms[i].second_lo ||
		    u[1] > utf8_forms[i].second_hi)
			return 0;
		for (size_t k = 2; k < n; k++)
			if (u[k] < 0x80 || u[k] > 0xBF)
				return 0;
		return n;
	}
	return 0;
}

/* ---- command line ---- */

static const struct {
	const char *name;
	enum smtp_verb verb;
} smtp_verbs[] = {
	{ "HELO", SMTP_HELO }, { "EHLO", SMTP_EHLO }, { "MAIL", SMTP_MAIL },
	{ "RCPT", SMTP_RCPT }, { "DATA", SMTP_DATA }, { "RSET", SMTP_RSET },
	{ "NOOP", SMTP_NOOP }, { "QUIT", SMTP_QUIT }, { "VRFY", SMTP_VRFY },
	{ "HELP", SMTP_HELP }, { "STARTTLS", SMTP_STARTTLS }, { "EXPN", SMTP_EXPN },
	{ "BDAT", SMTP_BDAT }, { "AUTH", SMTP_AUTH },
};

#define NVERBS (sizeof smtp_verbs / sizeof smtp_verbs[0])

enum smtp_verb smtp_parse_verb_len(const char *line, const char **arg, size_t *arg_len)
{
	const char *p = line ? line : "";
	while (is_blank(*p))
		p++;
	const char *w = p;
	while (*p && !is_blank(*p))
		p++;
	size_t wlen = (size_t)(p - w);
	while (is_blank(*p))
		p++;
	size_t n = strlen(p);
	while (n > 0 && is_blank(p[n - 1]))
		n--;
	if (arg)
		*arg = p;
	if (arg_len)
		*arg_len = n;
	for (size_t i = 0; i < NVERBS; i++)
		if (word_eq(w, wlen, smtp_verbs[i].name))
			return smtp_verbs[i].verb;
	return SMTP_UNKNOWN;
}

enum smtp_verb smtp_parse_verb(const char *line, const char **arg)
{
	return smtp_parse_verb_len(line, arg, NULL);
}

const char *smtp_verb_name(enum smtp_verb v)
{
	for (size_t i = 0; i < NVERBS; i++)
		if (smtp_verbs[i].verb == v)
			return smtp_verbs[i].name;
	return "UNKNOWN";
}

int smtp_line_check(const char *line, size_t len, struct err *e)
{
	if (len == 0)
		return 0;
	if (!line)
		return err_set(e, "Syntax error");
	if (memchr(line, '\0', len))
		return err_set(e, "Syntax error: NUL character in command");
	if (memchr(line, '\r', len) || memchr(line, '\n', len))
		return err_set(e, "Syntax error: bare CR or LF in command");
	return 0;
}

/* ---- domains ---- */

/* One label: 1..63 octets of LDH (plus well-formed UTF-8 when utf8), no
 * hyphen at either end. */
static int label_valid(const char *s, size_t n, int utf8)
{
	if (n == 0 || n > 63 || s[0] == '-' || s[n - 1] == '-')
		return 0;
	for (size_t i = 0; i < n;) {
		if (is_ldh(s[i])) {
			i++;
			continue;
		}
		size_t k = utf8 ? utf8_seq(s + i, s + n) : 0;
		if (k == 0)
			return 0;
		i += k;
	}
	return 1;
}

/* Domain [s, s+n). allow_empty tolerates empty labels (a trailing dot,
 * "a..b") so the relay screen, not the syntax check, answers for them. */
static int domain_check(const char *s, size_t n, int utf8, int allow_empty)
{
	size_t labels = 0;
	if (n == 0 || n > (allow_empty ? SMTP_DOMAIN_MAX : 253))
		return 0;
	for (size_t i = 0; i <= n;) {
		const char *dot = memchr(s + i, '.', n - i);
		size_t len = dot ? (size_t)(dot - (s + i)) : n - i;
		if (len == 0 && !allow_empty)
			return 0;
		if (len > 0 && !label_valid(s + i, len, utf8))
			return 0;
		labels += len > 0;
		i += len + 1;
	}
	return labels > 0;
}

int smtp_domain_valid(const char *domain, int utf8)
{
	return domain && domain_check(domain, strlen(domain), utf8, 0);
}

/* ---- reply plumbing for the path parser ---- */

struct pctx {
	enum smtp_path_kind kind;
	int *code;
	char *enh;
	size_t enh_len;
	struct err *e;
};

__attribute__((format(printf, 4, 5)))
static int reply(struct pctx *c, int code, const char *enh, const char *fmt, ...)
{
	va_list ap;
	*c->code = code;
	if (c->enh && c->enh_len)
		snprintf(c->enh, c->enh_len, "%s", enh);
	va_start(ap, fmt);
	vsnprintf(c->e->msg, sizeof c->e->msg, fmt, ap);
	va_end(ap);
	return -1;
}

static int is_mail(const struct pctx *c)
{
	return c->kind == SMTP_PATH_MAIL;
}

static int fail_syntax(struct pctx *c)
{
	return reply(c, 501, "5.5.4", "%s",
		     is_mail(c) ? "Syntax: MAIL FROM:<address>" : "Syntax: RCPT TO:<address>");
}

static int fail_addr(struct pctx *c)
{
	return reply(c, 501, is_mail(c) ? "5.1.7" : "5.1.3", "%s",
		     is_mail(c) ? "Bad sender address syntax" : "Bad recipient address syntax");
}

static int fail_long(struct pctx *c)
{
	return reply(c, 501, is_mail(c) ? "5.1.7" : "5.1.3", "%s",
		     is_mail(c) ? "Sender address too long" : "Recipient address too long");
}

/* ---- local part ---- */

/* Scans a local part (Dot-string or Quoted-string, RFC 5321 4.1.2 and
 * RFC 6531) starting at p. An unquoted one is scanned as 1*(atext / ".")
 * and its dot placement judged later. Returns its end or NULL. */
static const char *scan_local(const char *p, const char *end, int *quoted)
{
	const char *s = p;
	*quoted = p < end && *p == '"';
	if (*quoted)
		p++;
	while (p < end) {
		unsigned char ch = (unsigned char)*p;
		if (*quoted && ch == '"')
			return p + 1;
		if (*quoted && ch == '\\') {
			/* quoted-pairSMTP = "\" %d32-126 */
			if (p + 1 >= end || p[1] < 32 || p[1] > 126)
				return NULL;
			p += 2;
		} else if (ch >= 0x80) {
			size_t k = utf8_seq(p, end);
			if (k == 0)
				return NULL;
			p += k;
		} else if (*quoted ? (ch >= 32 && ch <= 126) : (is_atext(ch) || ch == '.')) {
			p++;
		} else {
			break;
		}
	}
	return (*quoted || p == s) ? NULL : p;
}

/* The local part's content: quotes and quoted-pair escapes removed. */
static size_t local_content(const char *s, const char *e, int quoted, char *out)
{
	size_t n = 0;
	if (quoted) {
		s++;
		e--;
	}
	while (s < e) {
		if (quoted && *s == '\\')
			s++;
		out[n++] = *s++;
	}
	out[n] = '\0';
	return n;
}

/* Dot-string = Atom *("." Atom), with UTF-8 allowed in atoms. */
static int dot_string_ok(const char *s, size_t n)
{
	if (n == 0 || s[0] == '.' || s[n - 1] == '.')
		return 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];
		if (ch == '.' && s[i + 1] == '.')
			return 0;
		if (ch != '.' && ch < 0x80 && !is_atext(ch))
			return 0;
	}
	return 1;
}

/* Stores the local part in its canonical form: bare when it is a valid
 * Dot-string, otherwise quoted with only '"' and '\' escaped. An unquoted
 * local part with misplaced dots ("a..b", "a.") is not RFC 5321 but some
 * mobile carriers hand such addresses out, so a sender may use one (it is
 * stored quoted); a recipient may not, since our own users never have one. */
static int store_local(struct pctx *c, const char *s, const char *e, int quoted,
		       struct smtp_path *path)
{
	char content[SMTP_LOCAL_MAX + 1];
	size_t n = local_content(s, e, quoted, content);
	if (dot_string_ok(content, n)) {
		memcpy(path->local, content, n + 1);
		return 0;
	}
	if (!quoted && !is_mail(c))
		return fail_addr(c);
	size_t o = 0;
	path->local[o++] = '"';
	for (size_t i = 0; i < n; i++) {
		if (content[i] == '"' || content[i] == '\\')
			path->local[o++] = '\\';
		path->local[o++] = content[i];
	}
	path->local[o++] = '"';
	path->local[o] = '\0';
	path->quoted = 1;
	/* Quoting "a..b" adds two octets: the canonical form must still be
	 * within the limit, or it could not be sent on (or parsed) again. */
	return o > SMTP_LOCAL_MAX ? fail_long(c) : 0;
}

/* ---- domain part ---- */

/* Scans a domain or an address literal starting at p. */
static const char *scan_domain(const char *p, const char *end)
{
	const char *s = p;
	if (p < end && *p == '[') {
		const char *q = memchr(p, ']', (size_t)(end - p));
		return q ? q + 1 : NULL;
	}
	while (p < end && (is_ldh(*p) || *p == '.' || (unsigned char)*p >= 0x80))
		p++;
	return p > s ? p : NULL;
}

/* IPv4 and IPv6 address literals (RFC 5321 4.1.3). General literals have
 * no registered tag besides IPv6, so they are refused. */
static int store_literal(const char *s, size_t n, struct smtp_path *path)
{
	char ip[INET6_ADDRSTRLEN];
	unsigned char bin[sizeof(struct in6_addr)];
	const char *in = s + 1;
	size_t len = n - 2;
	int v6 = len > 5 && ncase_eq(in, "IPv6:", 5);
	if (v6) {
		in += 5;
		len -= 5;
	}
	if (len == 0 || len >= sizeof ip)
		return -1;
	memcpy(ip, in, len);
	ip[len] = '\0';
	if (inet_pton(v6 ? AF_INET6 : AF_INET, ip, bin) != 1)
		return -1;
	for (size_t i = 0; i < len; i++)
		ip[i] = lower(ip[i]);
	snprintf(path->domain, sizeof path->domain, "[%s%s]", v6 ? "IPv6:" : "", ip);
	return 0;
}

static int store_domain(struct pctx *c, const char *s, size_t n, struct smtp_path *path)
{
	if (s[0] == '[')
		return store_literal(s, n, path);
	if (!domain_check(s, n, 1, !is_mail(c)))
		return -1;
	for (size_t i = 0; i < n; i++) {
		path->domain[i] = lower(s[i]);
		if ((unsigned char)s[i] >= 0x80)
			path->utf8 = 1;
	}
	path->domain[n] = '\0';
	return 0;
}

/* ---- mailbox and path ---- */

/* A-d-l ":" (a source route, RFC 5321 4.1.2 and appendix C): checked and
 * skipped. Route domains must be ASCII; the route is dropped anyway. */
static const char *skip_route(const char *p, const char *end)
{
	for (;;) {
		if (p >= end || *p != '@')
			return NULL;
		const char *s = ++p;
		while (p < end && (is_ldh(*p) || *p == '.'))
			p++;
		if (!domain_check(s, (size_t)(p - s), 0, 0) || p >= end)
			return NULL;
		if (*p == ':')
			return p + 1;
		if (*p++ != ',')
			return NULL;
	}
}

static int is_bare_postmaster(struct pctx *c, const char *s, const char *e, int quoted,
			      const struct smtp_path *path)
{
	return !is_mail(c) && !quoted && !path->has_route && word_eq(s, (size_t)(e - s), "postmaster");
}

/* Mailbox = Local-part "@" ( Domain / address-literal ), or a bare
 * postmaster for RCPT. Returns the position after it, or NULL with the
 * reply set. */
static const char *parse_mailbox(struct pctx *c, const char *p, const char *end,
				 struct smtp_path *path)
{
	int quoted;
	const char *le = scan_local(p, end, &quoted);
	if (!le)
		return fail_addr(c), NULL;
	if (le - p > SMTP_LOCAL_MAX)
		return fail_long(c), NULL;
	if (le == end || *le != '@') {
		if (!is_bare_postmaster(c, p, le, quoted, path))
			return fail_addr(c), NULL;
		memcpy(path->local, p, (size_t)(le - p));
		path->local[le - p] = '\0';
		memcpy(path->addr, path->local, (size_t)(le - p) + 1);
		path->is_postmaster = 1;
		return le;
	}
	const char *ds = le + 1;
	const char *de = scan_domain(ds, end);
	if (!de)
		return fail_addr(c), NULL;
	if (de - ds > SMTP_DOMAIN_MAX)
		return fail_long(c), NULL;
	if (store_domain(c, ds, (size_t)(de - ds), path) < 0)
		return fail_addr(c), NULL;
	if (store_local(c, p, le, quoted, path) < 0)
		return NULL;
	for (const char *q = p; q < le; q++)
		if ((unsigned char)*q >= 0x80)
			path->utf8 = 1;
	/* The canonical path "<addr>" obeys the path limit too (see above). */
	int n = snprintf(path->addr, sizeof path->addr, "%s@%s", path->local, path->domain);
	if (n < 0 || (size_t)n + 2 > SMTP_PATH_MAX)
		return fail_long(c), NULL;
	return de;
}

/* "<" [ A-d-l ":" ] Mailbox ">" or "<>". */
static const char *parse_bracketed(struct pctx *c, const char *p, const char *end,
				   struct smtp_path *path)
{
	const char *start = p++;
	if (p < end && *p == '>') {
		if (!is_mail(c))
			return fail_addr(c), NULL;
		path->is_null = 1;
		return p + 1;
	}
	if (p < end && *p == '@') {
		p = skip_route(p, end);
		if (!p)
			return fail_addr(c), NULL;
		path->has_route = 1;
	}
	p = parse_mailbox(c, p, end, path);
	if (!p)
		return NULL;
	if (p == end)
		return fail_syntax(c), NULL;
	if (*p != '>')
		return fail_addr(c), NULL;
	if (p + 1 - start > SMTP_PATH_MAX)
		return fail_long(c), NULL;
	return p + 1;
}

/* Real-world laxness: many clients (scripts, old appliances) send
 * "MAIL FROM:user@example.com" without angle brackets. We accept that
 * when the address is one word: it ends at the first space, may not
 * contain '<' or '>' (a half-bracketed path is a syntax error) and may
 * not carry a source route; a quoted local part with a space in it needs
 * the brackets. Postfix does the same unless strict_rfc821_envelopes. */
static const char *parse_bare(struct pctx *c, const char *p, const char *end,
			      struct smtp_path *path)
{
	const char *sp = memchr(p, ' ', (size_t)(end - p));
	const char *te = sp ? sp : end;
	if (*p == '@' || memchr(p, '<', (size_t)(te - p)) || memchr(p, '>', (size_t)(te - p)))
		return fail_syntax(c), NULL;
	const char *q = parse_mailbox(c, p, te, path);
	if (!q)
		return NULL;
	if (q != te)
		return fail_addr(c), NULL;
	if (te - p + 2 > SMTP_PATH_MAX)
		return fail_long(c), NULL;
	return q;
}

int smtp_parse_path(const char *arg, enum smtp_path_kind kind, struct smtp_path *path,
		    struct smtp_params *params, int utf8_allowed, int *code, char *enhanced,
		    size_t enhanced_len, struct err *e)
{
	struct smtp_path path_dummy;
	struct smtp_params params_dummy;
	struct err e_dummy;
	int code_dummy;
	struct pctx c = { kind, code ? code : &code_dummy, enhanced, enhanced_len, e ? e : &e_dummy };
	if (!path)
		path = &path_dummy;
	if (!params)
		params = &params_dummy;
	memset(path, 0, sizeof *path);
	smtp_params_reset(params);
	if (kind != SMTP_PATH_MAIL && kind != SMTP_PATH_RCPT)
		return reply(&c, 501, "5.5.4", "Syntax error");

	const char *p = arg ? arg : "";
	const char *end = p + strlen(p);
	const char *kw = is_mail(&c) ? "FROM:" : "TO:";
	while (end > p && is_blank(end[-1]))
		end--;
	if ((size_t)(end - p) < strlen(kw) || !ncase_eq(p, kw, strlen(kw)))
		return fail_syntax(&c);
	p += strlen(kw);
	while (p < end && *p == ' ') /* laxness: "MAIL FROM: <a@b>" */
		p++;
	if (p == end)
		return fail_syntax(&c);
	p = *p == '<' ? parse_bracketed(&c, p, end, path) : parse_bare(&c, p, end, path);
	if (!p || smtp_parse_params(p, (size_t)(end - p), kind, params, c.code, enhanced,
				    enhanced_len, c.e) < 0)
		return -1;
	/* RFC 6531 3.7.4: without SMTPUTF8, a non-ASCII address gets 553 5.6.7. */
	if (path->utf8 && !utf8_allowed && !(is_mail(&c) && params->smtputf8))
		return reply(&c, 553, "5.6.7", "Non-ASCII %s address not permitted without SMTPUTF8",
			     is_mail(&c) ? "sender" : "recipient");
	return 0;
}

/* ---- relay screening ---- */

static int has_empty_label(const char *d)
{
	size_t n = strlen(d);
	return n == 0 || d[0] == '.' || d[n - 1] == '.' || strstr(d, "..") != NULL;
}

static int relay_null(const struct smtp_path *p)
{
	return p->is_null;
}

static int relay_route(const struct smtp_path *p)
{
	return p->has_route;
}

static int relay_percent(const struct smtp_path *p)
{
	return strchr(p->local, '%') != NULL;
}

static int relay_bang(const struct smtp_path *p)
{
	return strchr(p->local, '!') != NULL;
}

/* An unquoted local part cannot hold '@'; a quoted one holding it is the
 * classic <"user@elsewhere"@ours> trick. */
static int relay_at(const struct smtp_path *p)
{
	return strchr(p->local, '@') != NULL;
}

static int relay_literal(const struct smtp_path *p)
{
	return p->domain[0] == '[';
}

static int relay_empty_label(const struct smtp_path *p)
{
	return has_empty_label(p->domain);
}

static const struct {
	int (*hit)(const struct smtp_path *p);
	const char *msg;
} relay_rules[] = {
	{ relay_null, "Null recipient not accepted" },
	{ relay_route, "Relaying denied: source routes are not accepted" },
	{ relay_percent, "Relaying denied: '%' in the local part" },
	{ relay_bang, "Relaying denied: '!' in the local part" },
	{ relay_at, "Relaying denied: '@' in the local part" },
	{ relay_literal, "Relaying denied: address literals are not accepted" },
	{ relay_empty_label, "Relaying denied: malformed domain" },
};

int smtp_path_relay_check(const struct smtp_path *path, struct err *e)
{
	if (!path)
		return err_set(e, "Relaying denied");
	if (path->is_postmaster && !path->has_route)
		return 0;
	for (size_t i = 0; i < sizeof relay_rules / sizeof relay_rules[0]; i++)
		if (relay_rules[i].hit(path))
			return err_set(e, "%s", relay_rules[i].msg);
	return 0;
}

/* ---- HELO / EHLO ---- */

int smtp_parse_helo(const char *arg, char *out, size_t outlen, struct err *e)
{
	const char *p = arg ? arg : "";
	if (out && outlen)
		out[0] = '\0';
	while (is_blank(*p))
		p++;
	size_t n = strlen(p);
	while (n > 0 && is_blank(p[n - 1]))
		n--;
	if (n == 0)
		return err_set(e, "Syntax: EHLO hostname");
	if (n > SMTP_DOMAIN_MAX)
		return err_set(e, "EHLO argument too long");
	for (size_t i = 0; i < n; i++)
		if (p[i] < 33 || p[i] > 126)
			return err_set(e, "Invalid EHLO argument");
	if (!out || outlen <= n)
		return err_set(e, "EHLO argument too long");
	memcpy(out, p, n);
	out[n] = '\0';
	return 0;
}

/* ---- replies ---- */

/* status-code = class "." subject "." detail (RFC 3463), class 2, 4 or 5. */
static int enhanced_ok(const char *s)
{
	if (!s || (s[0] != '2' && s[0] != '4' && s[0] != '5') || s[1] != '.')
		return 0;
	s += 2;
	for (int part = 0; part < 2; part++) {
		size_t n = 0;
		while (is_digit(s[n]))
			n++;
		if (n < 1 || n > 3 || s[n] != (part ? '\0' : '.'))
			return 0;
		s += n + (part ? 0 : 1);
	}
	return 1;
}

/* Copies one line of text, sanitised, up to room octets; returns the
 * count written. CR is dropped (a "\r\n" in text is one newline). */
static size_t reply_text(char *out, size_t room, const char *t, size_t tlen)
{
	size_t o = 0;
	for (size_t i = 0; i < tlen && o < room; i++) {
		unsigned char ch = (unsigned char)t[i];
		if (ch == '\r')
			continue;
		out[o++] = ch == '\t' ? ' ' : (ch < 32 || ch > 126) ? '?' : (char)ch;
	}
	return o;
}

#define REPLY_LINE_MAX 512 /* RFC 5321 4.5.3.1.5, with CRLF */

size_t smtp_format_reply(char *out, size_t outlen, int code, const char *enhanced,
			 const char *text)
{
	if (!out || outlen == 0)
		return 0;
	const char *enh = enhanced_ok(enhanced) ? enhanced : "";
	const char *t = text ? text : "";
	const char *tend = t + strlen(t);
	size_t head = 4 + (enh[0] ? strlen(enh) + 1 : 0), pos = 0, sep_at = SIZE_MAX;
	if (code < 200 || code > 599)
		code = 451;
	/* Trailing newlines do not make an empty last line. */
	while (tend > t && (tend[-1] == '\n' || tend[-1] == '\r'))
		tend--;
	for (;;) {
		const char *nl = memchr(t, '\n', (size_t)(tend - t));
		size_t tlen = (size_t)((nl ? nl : tend) - t);
		if (pos + head + 3 > outlen)
			break;
		size_t room = outlen - pos - head - 3;
		if (room == 0 && tlen > 0 && sep_at != SIZE_MAX)
			break; /* a continuation line with all its text cut is noise */
		if (room > REPLY_LINE_MAX - 2 - head)
			room = REPLY_LINE_MAX - 2 - head;
		snprintf(out + pos, outlen - pos, "%03d%c%s%s", code, nl ? '-' : ' ', enh,
			 enh[0] ? " " : "");
		sep_at = pos + 3;
		pos += head;
		size_t w = reply_text(out + pos, room, t, tlen);
		if (w == 0 && (enh[0] || !nl))
			pos--; /* "250 2.0.0" and "250", without a trailing space */
		pos += w;
		memcpy(out + pos, "\r\n", 3);
		pos += 2;
		if (!nl)
			return pos;
		t = nl + 1;
	}
	/* Out of room: the last line written must end the reply. */
	if (sep_at != SIZE_MAX)
		out[sep_at] = ' ';
	out[pos] = '\0';
	return pos;
}
