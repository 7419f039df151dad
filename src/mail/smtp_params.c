/* ESMTP parameters of MAIL and RCPT (RFC 1870 SIZE, RFC 6152 BODY,
 * RFC 6531 SMTPUTF8, RFC 3461 DSN, RFC 4954 AUTH): one table row per
 * parameter, with the commands it belongs to and its value checker. */
#include "mail/smtp_parse.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

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

static int is_hex(int c)
{
	return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static char lower(char c)
{
	return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

/* Whole-token case-insensitive match of [s, s+n) against word. */
static int word_eq(const char *s, size_t n, const char *word)
{
	if (strlen(word) != n)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (lower(s[i]) != lower(word[i]))
			return 0;
	return 1;
}

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

struct param_def;
typedef int (*param_fn)(struct pctx *c, const struct param_def *d, const char *v, size_t n,
			struct smtp_params *prm);

enum { KIND_MAIL = 1 << SMTP_PATH_MAIL, KIND_RCPT = 1 << SMTP_PATH_RCPT };
enum { VAL_NONE, VAL_REQUIRED };

struct param_def {
	const char *name;
	unsigned kinds;
	int value;
	param_fn fn;
};

static int bad_value(struct pctx *c, const struct param_def *d)
{
	return reply(c, 501, "5.5.4", "Bad %s parameter", d->name);
}

/* xtext (RFC 3461 4): %d33-126 except "+" and "=", or "+" two hex digits
 * (upper case per the RFC; lower case accepted). */
static int xtext_ok(const char *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (v[i] == '+') {
			if (i + 2 >= n || !is_hex(v[i + 1]) || !is_hex(v[i + 2]))
				return 0;
			i += 2;
		} else if (v[i] < 33 || v[i] > 126 || v[i] == '=') {
			return 0;
		}
	}
	return 1;
}

static int p_size(struct pctx *c, const struct param_def *d, const char *v, size_t n,
		  struct smtp_params *prm)
{
	unsigned long long x = 0;
	/* size-value = 1*20DIGIT (RFC 1870); values beyond long long are
	 * clamped so the server's limit check answers 552 for them. */
	if (n == 0 || n > 20)
		return bad_value(c, d);
	for (size_t i = 0; i < n; i++) {
		if (!is_digit(v[i]))
			return bad_value(c, d);
		unsigned digit = (unsigned)(v[i] - '0');
		x = x > (unsigned long long)(LLONG_MAX - digit) / 10 ? (unsigned long long)LLONG_MAX : x * 10 + digit;
	}
	prm->size = (long long)x;
	return 0;
}

static int p_body(struct pctx *c, const struct param_def *d, const char *v, size_t n,
		  struct smtp_params *prm)
{
	if (word_eq(v, n, "7BIT"))
		prm->body_8bit = 0;
	else if (word_eq(v, n, "8BITMIME"))
		prm->body_8bit = 1;
	else if (word_eq(v, n, "BINARYMIME"))
		return reply(c, 555, "5.5.4", "BODY=BINARYMIME is not supported");
	else
		return bad_value(c, d);
	return 0;
}

static int p_smtputf8(struct pctx *c, const struct param_def *d, const char *v, size_t n,
		      struct smtp_params *prm)
{
	(void)c, (void)d, (void)v, (void)n;
	prm->smtputf8 = 1;
	return 0;
}

static int p_ret(struct pctx *c, const struct param_def *d, const char *v, size_t n,
		 struct smtp_params *prm)
{
	if (word_eq(v, n, "FULL"))
		snprintf(prm->ret, sizeof prm->ret, "FULL");
	else if (word_eq(v, n, "HDRS"))
		snprintf(prm->ret, sizeof prm->ret, "HDRS");
	else
		return bad_value(c, d);
	return 0;
}

static int p_envid(struct pctx *c, const struct param_def *d, const char *v, size_t n,
		   struct smtp_params *prm)
{
	if (n >= sizeof prm->envid || !xtext_ok(v, n))
		return bad_value(c, d);
	memcpy(prm->envid, v, n);
	prm->envid[n] = '\0';
	return 0;
}

/* AUTH=<mailbox> (RFC 4954 5): checked and ignored; we never trust it. */
static int p_auth(struct pctx *c, const struct param_def *d, const char *v, size_t n,
		  struct smtp_params *prm)
{
	(void)prm;
	if (n > 500 || !(word_eq(v, n, "<>") || xtext_ok(v, n)))
		return bad_value(c, d);
	return 0;
}

static const struct {
	const char *word;
	int bit;
} notify_words[] = {
	{ "NEVER", SMTP_NOTIFY_NEVER }, { "SUCCESS", SMTP_NOTIFY_SUCCESS },
	{ "FAILURE", SMTP_NOTIFY_FAILURE }, { "DELAY", SMTP_NOTIFY_DELAY },
};

/* NOTIFY="NEVER" / 1#( "SUCCESS" / "FAILURE" / "DELAY" ) (RFC 3461 4.1). */
static int p_notify(struct pctx *c, const struct param_def *d, const char *v, size_t n,
		    struct smtp_params *prm)
{
	const char *end = v + n;
	int bits = 0;
	for (const char *p = v; p <= end;) {
		const char *comma = memchr(p, ',', (size_t)(end - p));
		const char *we = comma ? comma : end;
		int bit = 0;
		for (size_t i = 0; i < sizeof notify_words / sizeof notify_words[0]; i++)
			if (word_eq(p, (size_t)(we - p), notify_words[i].word))
				bit = notify_words[i].bit;
		if (!bit)
			return bad_value(c, d);
		bits |= bit;
		p = we + 1;
	}
	if ((bits & SMTP_NOTIFY_NEVER) && bits != SMTP_NOTIFY_NEVER)
		return bad_value(c, d);
	prm->notify = bits;
	return 0;
}

/* ORCPT=addr-type ";" xtext (RFC 3461 4.2), at most 500 characters. */
static int p_orcpt(struct pctx *c, const struct param_def *d, const char *v, size_t n,
		   struct smtp_params *prm)
{
	const char *semi = memchr(v, ';', n);
	if (!semi || semi == v || n >= sizeof prm->orcpt)
		return bad_value(c, d);
	for (const char *p = v; p < semi; p++)
		if (!is_ldh(*p))
			return bad_value(c, d);
	if (semi + 1 == v + n || !xtext_ok(semi + 1, (size_t)(v + n - semi - 1)))
		return bad_value(c, d);
	memcpy(prm->orcpt, v, n);
	prm->orcpt[n] = '\0';
	return 0;
}

static const struct param_def param_defs[] = {
	{ "SIZE", KIND_MAIL, VAL_REQUIRED, p_size },
	{ "BODY", KIND_MAIL, VAL_REQUIRED, p_body },
	{ "SMTPUTF8", KIND_MAIL, VAL_NONE, p_smtputf8 },
	{ "RET", KIND_MAIL, VAL_REQUIRED, p_ret },
	{ "ENVID", KIND_MAIL, VAL_REQUIRED, p_envid },
	{ "AUTH", KIND_MAIL, VAL_REQUIRED, p_auth },
	{ "NOTIFY", KIND_RCPT, VAL_REQUIRED, p_notify },
	{ "ORCPT", KIND_RCPT, VAL_REQUIRED, p_orcpt },
};

#define NPARAMS (sizeof param_defs / sizeof param_defs[0])

/* esmtp-keyword = (ALPHA / DIGIT) *(ALPHA / DIGIT / "-") */
static int keyword_ok(const char *k, size_t n)
{
	if (n == 0 || !is_alnum(k[0]))
		return 0;
	for (size_t i = 1; i < n; i++)
		if (!is_ldh(k[i]))
			return 0;
	return 1;
}

/* esmtp-value = 1*(%d33-60 / %d62-126); none of our parameters takes the
 * UTF-8 that RFC 6531 would allow. */
static int value_ok(const char *v, size_t n)
{
	if (n == 0)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (v[i] < 33 || v[i] > 126 || v[i] == '=')
			return 0;
	return 1;
}

static int param_one(struct pctx *c, const char *s, const char *e, unsigned *seen,
		     struct smtp_params *prm)
{
	const char *eq = memchr(s, '=', (size_t)(e - s));
	size_t klen = (size_t)((eq ? eq : e) - s);
	const struct param_def *d = NULL;
	if (!keyword_ok(s, klen))
		return reply(c, 501, "5.5.4", "Syntax error in parameters");
	for (size_t i = 0; i < NPARAMS && !d; i++)
		if (word_eq(s, klen, param_defs[i].name))
			d = &param_defs[i];
	if (!d || !(d->kinds & (1u << c->kind)))
		return reply(c, 555, "5.5.4", "Unsupported parameter %.*s",
			     (int)(klen > 40 ? 40 : klen), s);
	unsigned bit = 1u << (d - param_defs);
	if (*seen & bit)
		return reply(c, 501, "5.5.4", "Duplicate parameter %s", d->name);
	*seen |= bit;
	if ((d->value == VAL_REQUIRED) != (eq != NULL))
		return bad_value(c, d);
	if (eq && !value_ok(eq + 1, (size_t)(e - eq - 1)))
		return bad_value(c, d);
	return d->fn(c, d, eq ? eq + 1 : "", eq ? (size_t)(e - eq - 1) : 0, prm);
}

void smtp_params_reset(struct smtp_params *params)
{
	memset(params, 0, sizeof *params);
	params->size = -1;
}

/* Mail-parameters = esmtp-param *(SP esmtp-param); several spaces are
 * tolerated between parameters. */
int smtp_parse_params(const char *p, size_t len, enum smtp_path_kind kind,
		      struct smtp_params *params, int *code, char *enhanced, size_t enhanced_len,
		      struct err *e)
{
	struct smtp_params params_dummy;
	struct err e_dummy;
	int code_dummy;
	struct pctx c = { kind, code ? code : &code_dummy, enhanced, enhanced_len, e ? e : &e_dummy };
	const char *end = p + len;
	unsigned seen = 0;
	if (!params)
		params = &params_dummy;
	smtp_params_reset(params);
	if (len > 0 && *p != ' ')
		return reply(&c, 501, "5.5.4", "%s",
			     kind == SMTP_PATH_MAIL ? "Syntax: MAIL FROM:<address>"
						    : "Syntax: RCPT TO:<address>");
	while (p < end) {
		if (*p == ' ') {
			p++;
			continue;
		}
		const char *s = p;
		while (p < end && *p != ' ')
			p++;
		if (param_one(&c, s, p, &seen, params) < 0)
			return -1;
	}
	return 0;
}
