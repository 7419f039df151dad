/* Unit tests for the SMTP grammar: commands, paths, parameters, relay
 * screening, HELO, replies. */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "mail/smtp_parse.h"

struct res {
	struct smtp_path path;
	struct smtp_params prm;
	int code;
	char enh[16];
	struct err e;
	int rc;
};

static struct res R;

static int run(const char *arg, enum smtp_path_kind kind, int utf8)
{
	memset(&R, 0x5a, sizeof R); /* garbage: the parser must reset everything */
	R.rc = smtp_parse_path(arg, kind, &R.path, &R.prm, utf8, &R.code, R.enh, sizeof R.enh, &R.e);
	return R.rc;
}

#define MAIL_OK(arg) assert_int_equal(run(arg, SMTP_PATH_MAIL, 0), 0)
#define RCPT_OK(arg) assert_int_equal(run(arg, SMTP_PATH_RCPT, 0), 0)
#define EXPECT(kind, arg, utf8, want_code, want_enh)                     \
	do {                                                             \
		assert_int_equal(run(arg, kind, utf8), -1);              \
		assert_int_equal(R.code, want_code);                     \
		assert_string_equal(R.enh, want_enh);                    \
	} while (0)
#define MAIL_FAIL(arg, c, x) EXPECT(SMTP_PATH_MAIL, arg, 0, c, x)
#define RCPT_FAIL(arg, c, x) EXPECT(SMTP_PATH_RCPT, arg, 0, c, x)

/* ---- helpers ---- */

static void fill(char *out, char c, size_t n)
{
	memset(out, c, n);
	out[n] = '\0';
}

/* A domain of exactly n octets made of 63-octet labels. */
static void make_domain(char *out, size_t n)
{
	fill(out, 'd', n);
	for (size_t i = 63; i < n - 1; i += 64)
		out[i] = '.';
}

/* ---- commands ---- */

static void test_verbs(void **state)
{
	static const struct {
		const char *line;
		enum smtp_verb v;
		const char *arg;
	} cases[] = {
		{ "MAIL FROM:<a@b>", SMTP_MAIL, "FROM:<a@b>" },
		{ "mail from:<a@b>", SMTP_MAIL, "from:<a@b>" },
		{ "rCpT TO:<a@b>", SMTP_RCPT, "TO:<a@b>" },
		{ "HELO x", SMTP_HELO, "x" }, { "EHLO x", SMTP_EHLO, "x" },
		{ "DATA", SMTP_DATA, "" }, { "RSET", SMTP_RSET, "" },
		{ "NOOP hello", SMTP_NOOP, "hello" }, { "QUIT", SMTP_QUIT, "" },
		{ "VRFY bob", SMTP_VRFY, "bob" }, { "HELP", SMTP_HELP, "" },
		{ "starttls", SMTP_STARTTLS, "" }, { "EXPN list", SMTP_EXPN, "list" },
		{ "BDAT 100 LAST", SMTP_BDAT, "100 LAST" },
		{ "AUTH PLAIN AGJvYgBw", SMTP_AUTH, "PLAIN AGJvYgBw" },
		{ "EHLO    spaced.example", SMTP_EHLO, "spaced.example" },
		{ "EHLO\ttabbed.example", SMTP_EHLO, "tabbed.example" },
		{ "  NOOP", SMTP_NOOP, "" }, { "DATA    ", SMTP_DATA, "" },
		{ "MAILFROM:<a@b>", SMTP_UNKNOWN, "" },
		{ "MAI FROM:<a@b>", SMTP_UNKNOWN, "FROM:<a@b>" },
		{ "XCLIENT ADDR=1.2.3.4", SMTP_UNKNOWN, "ADDR=1.2.3.4" },
		{ "", SMTP_UNKNOWN, "" }, { "   ", SMTP_UNKNOWN, "" },
	};
	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const char *arg = NULL;
		assert_int_equal(smtp_parse_verb(cases[i].line, &arg), cases[i].v);
		assert_non_null(arg);
		assert_string_equal(arg, cases[i].arg);
	}
	assert_int_equal(smtp_parse_verb(NULL, NULL), SMTP_UNKNOWN);
}

static void test_verb_len_and_names(void **state)
{
	const char *arg;
	size_t n = 99;
	(void)state;
	assert_int_equal(smtp_parse_verb_len("BDAT 100 LAST  \t ", &arg, &n), SMTP_BDAT);
	assert_int_equal(n, 8);
	assert_memory_equal(arg, "100 LAST", 8);
	assert_int_equal(smtp_parse_verb_len("QUIT", &arg, &n), SMTP_QUIT);
	assert_int_equal(n, 0);
	assert_string_equal(smtp_verb_name(SMTP_STARTTLS), "STARTTLS");
	assert_string_equal(smtp_verb_name(SMTP_MAIL), "MAIL");
	assert_string_equal(smtp_verb_name(SMTP_UNKNOWN), "UNKNOWN");
}

static void test_line_check(void **state)
{
	struct err e;
	(void)state;
	assert_int_equal(smtp_line_check("MAIL FROM:<a@b>", 15, &e), 0);
	assert_int_equal(smtp_line_check("", 0, &e), 0);
	assert_int_equal(smtp_line_check("RCPT TO:<a@b\0>", 14, &e), -1);
	assert_non_null(strstr(e.msg, "NUL"));
	assert_int_equal(smtp_line_check("RCPT TO:<a@b>\rDATA", 18, &e), -1);
	assert_int_equal(smtp_line_check("RCPT TO:<a@b>\nDATA", 18, &e), -1);
	assert_non_null(strstr(e.msg, "bare CR or LF"));
}

/* ---- paths ---- */

static void test_path_basic(void **state)
{
	(void)state;
	MAIL_OK("FROM:<alice@example.com>");
	assert_string_equal(R.path.local, "alice");
	assert_string_equal(R.path.domain, "example.com");
	assert_string_equal(R.path.addr, "alice@example.com");
	assert_int_equal(R.path.is_null + R.path.is_postmaster + R.path.quoted, 0);
	assert_int_equal(R.path.has_route + R.path.utf8, 0);
	assert_int_equal(R.prm.size, -1);
	assert_int_equal(R.prm.body_8bit + R.prm.smtputf8 + R.prm.notify, 0);
	assert_string_equal(R.prm.ret, "");
	assert_string_equal(R.prm.envid, "");
	assert_string_equal(R.prm.orcpt, "");

	/* case: verb and keyword insensitive, domain lower-cased, local kept */
	const char *arg;
	assert_int_equal(smtp_parse_verb("mail from:<A.Smith@B.EXAMPLE>", &arg), SMTP_MAIL);
	assert_int_equal(run(arg, SMTP_PATH_MAIL, 0), 0);
	assert_string_equal(R.path.local, "A.Smith");
	assert_string_equal(R.path.domain, "b.example");
	assert_string_equal(R.path.addr, "A.Smith@b.example");

	RCPT_OK("tO:<bob@ours.example>");
	assert_string_equal(R.path.addr, "bob@ours.example");
	RCPT_OK("TO: <bob@ours.example>"); /* space after the colon */
	assert_string_equal(R.path.addr, "bob@ours.example");
	RCPT_OK("TO:   <bob@ours.example>   ");
	MAIL_OK("FROM:<first.last+tag@sub.example.org>");
	assert_string_equal(R.path.local, "first.last+tag");
	MAIL_OK("FROM:<!#$%&'*+-/=?^_`{|}~@x>");
	RCPT_OK("TO:<u@localhost>"); /* single-label domains for local testing */
}

static void test_path_null(void **state)
{
	(void)state;
	MAIL_OK("FROM:<>");
	assert_int_equal(R.path.is_null, 1);
	assert_string_equal(R.path.addr, "");
	assert_string_equal(R.path.local, "");
	MAIL_OK("FROM:<> SIZE=10");
	assert_int_equal(R.path.is_null, 1);
	assert_int_equal(R.prm.size, 10);
	RCPT_FAIL("TO:<>", 501, "5.1.3");
	MAIL_FAIL("FROM:<>x", 501, "5.5.4");
}

static void test_path_syntax(void **state)
{
	(void)state;
	MAIL_FAIL("<a@b>", 501, "5.5.4");
	assert_string_equal(R.e.msg, "Syntax: MAIL FROM:<address>");
	RCPT_FAIL("<a@b>", 501, "5.5.4");
	assert_string_equal(R.e.msg, "Syntax: RCPT TO:<address>");
	MAIL_FAIL("FROM <a@b>", 501, "5.5.4");
	MAIL_FAIL("FROM :<a@b>", 501, "5.5.4");
	MAIL_FAIL("TO:<a@b>", 501, "5.5.4");
	RCPT_FAIL("FROM:<a@b>", 501, "5.5.4");
	MAIL_FAIL("FROM:", 501, "5.5.4");
	MAIL_FAIL("FROM:   ", 501, "5.5.4");
	MAIL_FAIL("", 501, "5.5.4");
	MAIL_FAIL(NULL, 501, "5.5.4");
	MAIL_FAIL("FROM:<a@b", 501, "5.5.4");     /* missing '>' */
	MAIL_FAIL("FROM:a@b>", 501, "5.5.4");     /* missing '<' */
	MAIL_FAIL("FROM:<", 501, "5.1.7");
	MAIL_FAIL("FROM:<a@b>SIZE=1", 501, "5.5.4");
	MAIL_FAIL("FROM:<a@b><c@d>", 501, "5.5.4");
	MAIL_FAIL("FROM:<a@b> <c@d>", 501, "5.5.4");
	RCPT_FAIL("TO:Bob <bob@x>", 501, "5.1.3");
	MAIL_FAIL("FROM:<a b@x>", 501, "5.1.7");
	assert_string_equal(R.e.msg, "Bad sender address syntax");
	RCPT_FAIL("TO:<a@b c>", 501, "5.1.3");
	assert_string_equal(R.e.msg, "Bad recipient address syntax");
	RCPT_FAIL("TO:<@>", 501, "5.1.3");
	RCPT_FAIL("TO:<a@>", 501, "5.1.3");
	RCPT_FAIL("TO:<@b>", 501, "5.1.3");
	RCPT_FAIL("TO:<a@@b>", 501, "5.1.3");
	RCPT_FAIL("TO:<a@b@c>", 501, "5.1.3");
	RCPT_FAIL("TO:<a@-b.example>", 501, "5.1.3");
	RCPT_FAIL("TO:<a@b_c.example>", 501, "5.1.3");
	RCPT_FAIL("TO:<bob>", 501, "5.1.3");
	RCPT_FAIL("TO:<a@.>", 501, "5.1.3");
}

static void test_path_unbracketed(void **state)
{
	(void)state;
	MAIL_OK("FROM:alice@example.com");
	assert_string_equal(R.path.addr, "alice@example.com");
	MAIL_OK("FROM: alice@Example.COM SIZE=42 BODY=8BITMIME");
	assert_string_equal(R.path.addr, "alice@example.com");
	assert_int_equal(R.prm.size, 42);
	assert_int_equal(R.prm.body_8bit, 1);
	RCPT_OK("TO:bob@ours.example");
	RCPT_OK("TO:postmaster");
	assert_int_equal(R.path.is_postmaster, 1);
	RCPT_FAIL("TO:@relay:bob@ours.example", 501, "5.5.4");
	RCPT_FAIL("TO:\"a b\"@ours.example", 501, "5.1.3");
	RCPT_FAIL("TO:bob", 501, "5.1.3");
	RCPT_FAIL("TO:bob@x,carol@x", 501, "5.1.3");
	MAIL_FAIL("FROM:a<b@c", 501, "5.5.4");
}

static void test_path_quoted(void **state)
{
	(void)state;
	RCPT_OK("TO:<\"bob\"@ours.example>"); /* unnecessary quotes dropped */
	assert_string_equal(R.path.local, "bob");
	assert_int_equal(R.path.quoted, 0);
	assert_string_equal(R.path.addr, "bob@ours.example");
	RCPT_OK("TO:<\"first.last\"@x>");
	assert_string_equal(R.path.local, "first.last");
	RCPT_OK("TO:<\"\\b\\o\\b\"@x>"); /* needless escapes */
	assert_string_equal(R.path.local, "bob");
	assert_int_equal(R.path.quoted, 0);
	RCPT_OK("TO:<\"john doe\"@x>");
	assert_string_equal(R.path.local, "\"john doe\"");
	assert_int_equal(R.path.quoted, 1);
	assert_string_equal(R.path.addr, "\"john doe\"@x");
	RCPT_OK("TO:<\"a\\\"b\\\\c\"@x>");
	assert_string_equal(R.path.local, "\"a\\\"b\\\\c\"");
	RCPT_OK("TO:<\"a>b\"@x>"); /* '>' inside quotes does not end the path */
	assert_string_equal(R.path.local, "\"a>b\"");
	MAIL_OK("FROM:<\"\"@x>");
	assert_string_equal(R.path.local, "\"\"");
	RCPT_FAIL("TO:<\"bob@x>", 501, "5.1.3");
	RCPT_FAIL("TO:<\"bob\\\"@x>", 501, "5.1.3");
	RCPT_FAIL("TO:<\"a\"b@x>", 501, "5.1.3");
	RCPT_FAIL("TO:<\"a\tb\"@x>", 501, "5.1.3");
	RCPT_FAIL("TO:<\"a\\\x01\"@x>", 501, "5.1.3");
}

static void test_path_dots(void **state)
{
	(void)state;
	/* senders with carrier-style dots are taken (quoted); recipients not */
	MAIL_OK("FROM:<taro..yamada.@docomo.example>");
	assert_string_equal(R.path.local, "\"taro..yamada.\"");
	assert_int_equal(R.path.quoted, 1);
	MAIL_OK("FROM:<.x@y>");
	RCPT_FAIL("TO:<a..b@x>", 501, "5.1.3");
	RCPT_FAIL("TO:<a.@x>", 501, "5.1.3");
	RCPT_FAIL("TO:<.a@x>", 501, "5.1.3");
	RCPT_OK("TO:<\"a..b\"@x>");
	assert_string_equal(R.path.local, "\"a..b\"");
	/* quoting must keep the canonical form within 64 octets */
	char arg[128], local[80];
	fill(local, 'd', 62);
	local[5] = local[6] = '.';
	snprintf(arg, sizeof arg, "FROM:<%s@x>", local);
	MAIL_OK(arg);
	assert_int_equal(strlen(R.path.local), 64);
	fill(local, 'd', 63);
	local[5] = local[6] = '.';
	snprintf(arg, sizeof arg, "FROM:<%s@x>", local);
	MAIL_FAIL(arg, 501, "5.1.7");
	assert_string_equal(R.e.msg, "Sender address too long");
	MAIL_FAIL("FROM:<a@b..c>", 501, "5.1.7"); /* strict for senders */
	MAIL_FAIL("FROM:<a@b.c.>", 501, "5.1.7");
}

static void test_path_route_and_literal(void **state)
{
	(void)state;
	RCPT_OK("TO:<@relay.example:user@ours.example>");
	assert_int_equal(R.path.has_route, 1);
	assert_string_equal(R.path.addr, "user@ours.example");
	MAIL_OK("FROM:<@a.example,@b.example:user@c.example>");
	assert_int_equal(R.path.has_route, 1);
	RCPT_FAIL("TO:<@relay.example user@ours.example>", 501, "5.1.3");
	RCPT_FAIL("TO:<@:user@ours.example>", 501, "5.1.3");
	RCPT_FAIL("TO:<@a,user@ours.example>", 501, "5.1.3");
	RCPT_FAIL("TO:<@a..b:user@ours.example>", 501, "5.1.3");

	RCPT_OK("TO:<user@[127.0.0.1]>");
	assert_string_equal(R.path.domain, "[127.0.0.1]");
	assert_string_equal(R.path.addr, "user@[127.0.0.1]");
	RCPT_OK("TO:<user@[ipv6:2001:DB8::1]>");
	assert_string_equal(R.path.domain, "[IPv6:2001:db8::1]");
	RCPT_OK("TO:<user@[IPv6:::ffff:10.0.0.1]>");
	RCPT_FAIL("TO:<user@[300.0.0.1]>", 501, "5.1.3");
	RCPT_FAIL("TO:<user@[1.2.3]>", 501, "5.1.3");
	RCPT_FAIL("TO:<user@[2001:db8::1]>", 501, "5.1.3"); /* v6 needs its tag */
	RCPT_FAIL("TO:<user@[x-tag:abc]>", 501, "5.1.3");
	RCPT_FAIL("TO:<user@[]>", 501, "5.1.3");
	RCPT_FAIL("TO:<user@[IPv6:]>", 501, "5.1.3");
	RCPT_FAIL("TO:<user@[1.2.3.4>", 501, "5.1.3");
	RCPT_FAIL("TO:<user@[1.2.3.4]x>", 501, "5.1.3");
}

static void test_path_postmaster(void **state)
{
	(void)state;
	RCPT_OK("TO:<Postmaster>");
	assert_int_equal(R.path.is_postmaster, 1);
	assert_string_equal(R.path.local, "Postmaster");
	assert_string_equal(R.path.domain, "");
	assert_string_equal(R.path.addr, "Postmaster");
	RCPT_OK("TO:<POSTMASTER> NOTIFY=NEVER");
	assert_int_equal(R.path.is_postmaster, 1);
	RCPT_OK("TO:<postmaster@ours.example>");
	assert_int_equal(R.path.is_postmaster, 0);
	assert_string_equal(R.path.addr, "postmaster@ours.example");
	MAIL_FAIL("FROM:<postmaster>", 501, "5.1.7");
	RCPT_FAIL("TO:<\"postmaster\">", 501, "5.1.3");
	RCPT_FAIL("TO:<@relay:postmaster>", 501, "5.1.3");
	RCPT_FAIL("TO:<postmaster", 501, "5.5.4");
}

static void test_path_limits(void **state)
{
	char local[100], dom[300], arg[700];
	(void)state;
	fill(local, 'l', 64);
	snprintf(arg, sizeof arg, "TO:<%s@x.example>", local);
	RCPT_OK(arg);
	fill(local, 'l', 65);
	snprintf(arg, sizeof arg, "TO:<%s@x.example>", local);
	RCPT_FAIL(arg, 501, "5.1.3");
	assert_string_equal(R.e.msg, "Recipient address too long");
	snprintf(arg, sizeof arg, "FROM:<%s@x.example>", local);
	MAIL_FAIL(arg, 501, "5.1.7");
	assert_string_equal(R.e.msg, "Sender address too long");
	/* quoted: the 64 octets count as written, quotes included */
	fill(local, 'q', 62);
	snprintf(arg, sizeof arg, "TO:<\"%s\"@x>", local);
	RCPT_OK(arg);
	fill(local, 'q', 63);
	snprintf(arg, sizeof arg, "TO:<\"%s\"@x>", local);
	RCPT_FAIL(arg, 501, "5.1.3");

	/* whole path: 64 + 1 + 189 + 2 = 256 octets is the limit */
	fill(local, 'l', 64);
	make_domain(dom, 189);
	snprintf(arg, sizeof arg, "TO:<%s@%s>", local, dom);
	RCPT_OK(arg);
	make_domain(dom, 190);
	snprintf(arg, sizeof arg, "TO:<%s@%s>", local, dom);
	RCPT_FAIL(arg, 501, "5.1.3");
	assert_string_equal(R.e.msg, "Recipient address too long");
	snprintf(arg, sizeof arg, "TO:%s@%s", local, dom); /* unbracketed too */
	RCPT_FAIL(arg, 501, "5.1.3");
	assert_string_equal(R.e.msg, "Recipient address too long");

	/* "<a@" + domain + ">": the path limit caps the domain at 252 */
	make_domain(dom, 252);
	snprintf(arg, sizeof arg, "FROM:<a@%s>", dom);
	MAIL_OK(arg);
	assert_int_equal(strlen(R.path.domain), 252);
	make_domain(dom, 253);
	snprintf(arg, sizeof arg, "FROM:<a@%s>", dom);
	MAIL_FAIL(arg, 501, "5.1.7");
	assert_string_equal(R.e.msg, "Sender address too long");
	make_domain(dom, 254); /* within 255 but not a DNS name */
	snprintf(arg, sizeof arg, "FROM:<a@%s>", dom);
	MAIL_FAIL(arg, 501, "5.1.7");
	assert_string_equal(R.e.msg, "Bad sender address syntax");
	make_domain(dom, 256);
	snprintf(arg, sizeof arg, "FROM:<a@%s>", dom);
	MAIL_FAIL(arg, 501, "5.1.7");
	assert_string_equal(R.e.msg, "Sender address too long");
	fill(dom, 'd', 64); /* one 64-octet label */
	snprintf(arg, sizeof arg, "FROM:<a@%s>", dom);
	MAIL_FAIL(arg, 501, "5.1.7");
	assert_string_equal(R.e.msg, "Bad sender address syntax");
}

static void test_path_controls(void **state)
{
	char arg[64];
	(void)state;
	RCPT_FAIL("TO:<a\x01z@x>", 501, "5.1.3");
	RCPT_FAIL("TO:<az@x\x7f>", 501, "5.1.3");
	RCPT_FAIL("TO:<a\tz@x>", 501, "5.1.3");
	RCPT_FAIL("TO:<a\rz@x>", 501, "5.1.3");
	RCPT_FAIL("TO:<\"a\x7fz\"@x>", 501, "5.1.3");
	RCPT_FAIL("TO:<\x1b[31m@x>", 501, "5.1.3");
	RCPT_FAIL("TO:\tbob@x", 501, "5.1.3");
	/* a NUL ends a C string: what precedes it must not look complete */
	RCPT_FAIL("TO:<a@b\0>", 501, "5.5.4");
	/* every byte value in the local part: only atext is taken bare */
	for (int b = 1; b < 256; b++) {
		snprintf(arg, sizeof arg, "TO:<x%cx@ours.example>", b);
		int ok = run(arg, SMTP_PATH_RCPT, 1) == 0;
		int want = (b >= '0' && b <= '9') || (b >= 'a' && b <= 'z') ||
			   (b >= 'A' && b <= 'Z') || (b != 0 && strchr("!#$%&'*+-/=?^_`{|}~.", b));
		assert_int_equal(ok, want);
	}
}

static void test_path_utf8(void **state)
{
	(void)state;
	EXPECT(SMTP_PATH_RCPT, "TO:<jos\xc3\xa9@ours.example>", 0, 553, "5.6.7");
	assert_non_null(strstr(R.e.msg, "SMTPUTF8"));
	EXPECT(SMTP_PATH_MAIL, "FROM:<jos\xc3\xa9@example.com>", 0, 553, "5.6.7");
	assert_int_equal(run("TO:<jos\xc3\xa9@ours.example>", SMTP_PATH_RCPT, 1), 0);
	assert_int_equal(R.path.utf8, 1);
	assert_string_equal(R.path.local, "jos\xc3\xa9");
	MAIL_OK("FROM:<jos\xc3\xa9@example.com> SMTPUTF8"); /* the line's own SMTPUTF8 */
	assert_int_equal(R.path.utf8, 1);
	assert_int_equal(R.prm.smtputf8, 1);
	MAIL_OK("FROM:<a@b\xc3\xbc" "cher.example> smtputf8");
	assert_string_equal(R.path.domain, "b\xc3\xbc" "cher.example");
	MAIL_OK("FROM:<\"\xe2\x82\xac 1\"@x> SMTPUTF8");
	assert_int_equal(R.path.quoted, 1);
	MAIL_OK("FROM:<\xf0\x9f\x93\xa7@x> SMTPUTF8"); /* 4-octet sequence */
	/* malformed UTF-8 is bad syntax whatever SMTPUTF8 says */
	EXPECT(SMTP_PATH_RCPT, "TO:<\xc3\x28@x>", 1, 501, "5.1.3");
	EXPECT(SMTP_PATH_RCPT, "TO:<\xc0\xaf@x>", 1, 501, "5.1.3");     /* overlong */
	EXPECT(SMTP_PATH_RCPT, "TO:<\xed\xa0\x80@x>", 1, 501, "5.1.3"); /* surrogate */
	EXPECT(SMTP_PATH_RCPT, "TO:<\xf4\x90\x80\x80@x>", 1, 501, "5.1.3");
	EXPECT(SMTP_PATH_RCPT, "TO:<a\xe2\x82@x>", 1, 501, "5.1.3"); /* truncated */
	EXPECT(SMTP_PATH_RCPT, "TO:<a@x\xff>", 1, 501, "5.1.3");
	/* ASCII addresses are fine without SMTPUTF8 */
	RCPT_OK("TO:<plain@ours.example>");
	assert_int_equal(R.path.utf8, 0);
}

/* ---- parameters ---- */

static void test_params_size(void **state)
{
	(void)state;
	MAIL_OK("FROM:<a@b> SIZE=1000");
	assert_int_equal(R.prm.size, 1000);
	MAIL_OK("FROM:<a@b> size=0");
	assert_int_equal(R.prm.size, 0);
	MAIL_OK("FROM:<a@b> SIZE=99999999999999999999"); /* 20 digits: clamped */
	assert_true(R.prm.size == LLONG_MAX);
	MAIL_OK("FROM:<a@b> SIZE=9223372036854775807");
	assert_true(R.prm.size == LLONG_MAX);
	MAIL_OK("FROM:<a@b> SIZE=9223372036854775806");
	assert_true(R.prm.size == LLONG_MAX - 1);
	MAIL_FAIL("FROM:<a@b> SIZE=123456789012345678901", 501, "5.5.4");
	MAIL_FAIL("FROM:<a@b> SIZE=abc", 501, "5.5.4");
	assert_string_equal(R.e.msg, "Bad SIZE parameter");
	MAIL_FAIL("FROM:<a@b> SIZE=-1", 501, "5.5.4");
	MAIL_FAIL("FROM:<a@b> SIZE=+1", 501, "5.5.4");
	MAIL_FAIL("FROM:<a@b> SIZE=1k", 501, "5.5.4");
	MAIL_FAIL("FROM:<a@b> SIZE=", 501, "5.5.4");
	MAIL_FAIL("FROM:<a@b> SIZE", 501, "5.5.4");
	MAIL_FAIL("FROM:<a@b> SIZE=1=2", 501, "5.5.4");
	MAIL_FAIL("FROM:<a@b> SIZE=10 SIZE=10", 501, "5.5.4");
	assert_string_equal(R.e.msg, "Duplicate parameter SIZE");
	MAIL_FAIL("FROM:<a@b> SIZE=10 size=20", 501, "5.5.4");
}

static void test_params_mail(void **state)
{
	(void)state;
	MAIL_OK("FROM:<a@b>   BODY=8bitmime   SIZE=5   ");
	assert_int_equal(R.prm.body_8bit, 1);
	assert_int_equal(R.prm.size, 5);
	MAIL_OK("FROM:<a@b> BODY=7BIT");
	assert_int_equal(R.prm.body_8bit, 0);
	MAIL_FAIL("FROM:<a@b> BODY=BINARYMIME", 555, "5.5.4");
	MAIL_FAIL("FROM:<a@b> BODY=8BIT", 501, "5.5.4");
	MAIL_FAIL("FROM:<a@b> BODY", 501, "5.5.4");
	MAIL_FAIL("FROM:<a@b> SMTPUTF8=yes", 501, "5.5.4");
	MAIL_FAIL("FROM:<a@b> SMTPUTF8 SMTPUTF8", 501, "5.5.4");
	MAIL_OK("FROM:<a@b> RET=hdrs ENVID=QQ314159+2Bx");
	assert_string_equal(R.prm.ret, "HDRS");
	assert_string_equal(R.prm.envid, "QQ314159+2Bx");
	MAIL_OK("FROM:<a@b> RET=Full");
	assert_string_equal(R.prm.ret, "FULL");
	MAIL_FAIL("FROM:<a@b> RET=BOTH", 501, "5.5.4");
	MAIL_FAIL("FROM:<a@b> ENVID=a+zz", 501, "5.5.4");
	MAIL_FAIL("FROM:<a@b> ENVID=a+2", 501, "5.5.4");
	char arg[200];
	char envid[102];
	fill(envid, 'e', 100);
	snprintf(arg, sizeof arg, "FROM:<a@b> ENVID=%s", envid);
	MAIL_OK(arg);
	assert_string_equal(R.prm.envid, envid);
	fill(envid, 'e', 101);
	snprintf(arg, sizeof arg, "FROM:<a@b> ENVID=%s", envid);
	MAIL_FAIL(arg, 501, "5.5.4");
	MAIL_OK("FROM:<a@b> AUTH=<>");
	MAIL_OK("FROM:<a@b> AUTH=bob+40example.com");
	MAIL_FAIL("FROM:<a@b> AUTH=a+4", 501, "5.5.4");
	/* unknown and RCPT-only parameters */
	MAIL_FAIL("FROM:<a@b> FOO=bar", 555, "5.5.4");
	assert_string_equal(R.e.msg, "Unsupported parameter FOO");
	MAIL_FAIL("FROM:<a@b> X-Custom", 555, "5.5.4");
	assert_string_equal(R.e.msg, "Unsupported parameter X-Custom");
	MAIL_FAIL("FROM:<a@b> NOTIFY=NEVER", 555, "5.5.4");
	/* keyword and value syntax */
	MAIL_FAIL("FROM:<a@b> -X=1", 501, "5.5.4");
	MAIL_FAIL("FROM:<a@b> =1", 501, "5.5.4");
	MAIL_FAIL("FROM:<a@b> SI\x01ZE=1", 501, "5.5.4");
	MAIL_FAIL("FROM:<a@b> ENVID=a\x01", 501, "5.5.4");
	MAIL_FAIL("FROM:<a@b> ENVID=\xc3\xa9", 501, "5.5.4");
	MAIL_FAIL("FROM:<a@b> SIZE=1\tBODY=7BIT", 501, "5.5.4");
}

static void test_params_rcpt(void **state)
{
	(void)state;
	RCPT_OK("TO:<a@b> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;a+40b.example");
	assert_int_equal(R.prm.notify, SMTP_NOTIFY_SUCCESS | SMTP_NOTIFY_FAILURE);
	assert_string_equal(R.prm.orcpt, "rfc822;a+40b.example");
	assert_int_equal(R.prm.size, -1);
	RCPT_OK("TO:<a@b> notify=never");
	assert_int_equal(R.prm.notify, SMTP_NOTIFY_NEVER);
	RCPT_OK("TO:<a@b> NOTIFY=DELAY");
	assert_int_equal(R.prm.notify, SMTP_NOTIFY_DELAY);
	RCPT_FAIL("TO:<a@b> NOTIFY=NEVER,SUCCESS", 501, "5.5.4");
	RCPT_FAIL("TO:<a@b> NOTIFY=SUCCESS,", 501, "5.5.4");
	RCPT_FAIL("TO:<a@b> NOTIFY=,DELAY", 501, "5.5.4");
	RCPT_FAIL("TO:<a@b> NOTIFY=SOMETIMES", 501, "5.5.4");
	RCPT_FAIL("TO:<a@b> ORCPT=rfc822", 501, "5.5.4");
	RCPT_FAIL("TO:<a@b> ORCPT=;a@b", 501, "5.5.4");
	RCPT_FAIL("TO:<a@b> ORCPT=rfc822;", 501, "5.5.4");
	RCPT_FAIL("TO:<a@b> ORCPT=rfc 822;x", 501, "5.5.4");
	RCPT_FAIL("TO:<a@b> ORCPT=rfc822;a ORCPT=rfc822;b", 501, "5.5.4");
	/* MAIL-only parameters on RCPT */
	RCPT_FAIL("TO:<a@b> SIZE=10", 555, "5.5.4");
	assert_string_equal(R.e.msg, "Unsupported parameter SIZE");
	RCPT_FAIL("TO:<a@b> BODY=8BITMIME", 555, "5.5.4");
	RCPT_FAIL("TO:<a@b> SMTPUTF8", 555, "5.5.4");
	/* the parameter parser on its own */
	struct smtp_params prm;
	int code = 0;
	char enh[8];
	struct err e;
	assert_int_equal(smtp_parse_params("", 0, SMTP_PATH_MAIL, &prm, &code, enh, sizeof enh, &e), 0);
	assert_int_equal(prm.size, -1);
	assert_int_equal(smtp_parse_params(" SIZE=7 junk", 7, SMTP_PATH_MAIL, &prm, &code, enh,
					   sizeof enh, &e), 0);
	assert_int_equal(prm.size, 7);
	assert_int_equal(smtp_parse_params("SIZE=7", 6, SMTP_PATH_MAIL, &prm, &code, enh, sizeof enh,
					   &e), -1);
	assert_int_equal(code, 501);
	assert_int_equal(smtp_parse_params(" FOO", 4, SMTP_PATH_MAIL, NULL, NULL, NULL, 0, NULL), -1);
}

static void test_path_null_outputs(void **state)
{
	(void)state;
	/* every output pointer may be NULL */
	assert_int_equal(smtp_parse_path("FROM:<a@b> SIZE=1", SMTP_PATH_MAIL, NULL, NULL, 0, NULL,
					 NULL, 0, NULL), 0);
	assert_int_equal(smtp_parse_path("FROM:<a b>", SMTP_PATH_MAIL, NULL, NULL, 0, NULL, NULL, 0,
					 NULL), -1);
	/* a short enhanced buffer is truncated, never overrun */
	char enh[4];
	int code;
	assert_int_equal(smtp_parse_path("TO:<>", SMTP_PATH_RCPT, NULL, NULL, 0, &code, enh,
					 sizeof enh, NULL), -1);
	assert_string_equal(enh, "5.1");
	assert_int_equal(run("TO:<a@b>", (enum smtp_path_kind)7, 0), -1);
}

/* ---- relay screening ---- */

static int relay(const char *arg)
{
	if (run(arg, SMTP_PATH_RCPT, 0) != 0)
		fail_msg("parse failed for %s: %s", arg, R.e.msg);
	return smtp_path_relay_check(&R.path, &R.e);
}

static void test_relay_tricks(void **state)
{
	static const char *const tricks[] = {
		"TO:<user%other.com@ours.example>",
		"TO:<other.com!user@ours.example>",
		"TO:<\"user@other.com\"@ours.example>",
		"TO:<\"user%other.com\"@ours.example>",
		"TO:<\"other.com!user\"@ours.example>",
		"TO:<@relay.example:user@ours.example>",
		"TO:<@a.example,@b.example:user@ours.example>",
		"TO:<user@[127.0.0.1]>",
		"TO:<user@[IPv6:::1]>",
		"TO:<user@ours.example.>",
		"TO:<user@ours..example>",
		"TO:<user@.ours.example>",
		"TO:user%other.com@ours.example",
	};
	(void)state;
	for (size_t i = 0; i < sizeof tricks / sizeof tricks[0]; i++) {
		if (relay(tricks[i]) != -1)
			fail_msg("relay trick accepted: %s", tricks[i]);
		assert_true(strncmp(R.e.msg, "Relaying denied", 15) == 0);
	}
	assert_int_equal(relay("TO:<user%other.com@ours.example>"), -1);
	assert_non_null(strstr(R.e.msg, "'%'"));
	assert_int_equal(relay("TO:<user@ours.example.>"), -1);
	assert_non_null(strstr(R.e.msg, "malformed domain"));
}

static void test_relay_clean(void **state)
{
	(void)state;
	assert_int_equal(relay("TO:<user@ours.example>"), 0);
	assert_int_equal(relay("TO:<first.last+tag@ours.example>"), 0);
	assert_int_equal(relay("TO:<\"john doe\"@ours.example>"), 0);
	assert_int_equal(relay("TO:<Postmaster>"), 0);
	assert_int_equal(relay("TO:<postmaster@ours.example>"), 0);
	assert_int_equal(relay("TO:<u@localhost>"), 0);
	/* structs built by hand */
	struct smtp_path p;
	struct err e;
	memset(&p, 0, sizeof p);
	p.is_null = 1;
	assert_int_equal(smtp_path_relay_check(&p, &e), -1);
	memset(&p, 0, sizeof p);
	snprintf(p.local, sizeof p.local, "u");
	assert_int_equal(smtp_path_relay_check(&p, &e), -1); /* no domain */
	assert_int_equal(smtp_path_relay_check(NULL, &e), -1);
}

/* ---- domains and HELO ---- */

static void test_domain_valid(void **state)
{
	char d[300];
	(void)state;
	assert_int_equal(smtp_domain_valid("example.com", 0), 1);
	assert_int_equal(smtp_domain_valid("localhost", 0), 1);
	assert_int_equal(smtp_domain_valid("a-b.c0.example", 0), 1);
	assert_int_equal(smtp_domain_valid("xn--bcher-kva.example", 0), 1);
	assert_int_equal(smtp_domain_valid("123.example", 0), 1);
	assert_int_equal(smtp_domain_valid("", 0), 0);
	assert_int_equal(smtp_domain_valid(NULL, 0), 0);
	assert_int_equal(smtp_domain_valid("-a.example", 0), 0);
	assert_int_equal(smtp_domain_valid("a-.example", 0), 0);
	assert_int_equal(smtp_domain_valid("a..example", 0), 0);
	assert_int_equal(smtp_domain_valid("example.", 0), 0);
	assert_int_equal(smtp_domain_valid(".example", 0), 0);
	assert_int_equal(smtp_domain_valid("a_b.example", 0), 0);
	assert_int_equal(smtp_domain_valid("a b.example", 0), 0);
	assert_int_equal(smtp_domain_valid("[1.2.3.4]", 0), 0);
	assert_int_equal(smtp_domain_valid("b\xc3\xbc" "cher.example", 0), 0);
	assert_int_equal(smtp_domain_valid("b\xc3\xbc" "cher.example", 1), 1);
	assert_int_equal(smtp_domain_valid("b\xc3" "cher.example", 1), 0);
	assert_int_equal(smtp_domain_valid("a\x01.example", 1), 0);
	fill(d, 'x', 63);
	assert_int_equal(smtp_domain_valid(d, 0), 1);
	fill(d, 'x', 64);
	assert_int_equal(smtp_domain_valid(d, 0), 0);
	make_domain(d, 253);
	assert_int_equal(smtp_domain_valid(d, 0), 1);
	make_domain(d, 254);
	assert_int_equal(smtp_domain_valid(d, 0), 0);
}

static void test_helo(void **state)
{
	char out[256], big[300];
	struct err e;
	(void)state;
	assert_int_equal(smtp_parse_helo("mx.example.com", out, sizeof out, &e), 0);
	assert_string_equal(out, "mx.example.com");
	assert_int_equal(smtp_parse_helo("  [192.0.2.1]  ", out, sizeof out, &e), 0);
	assert_string_equal(out, "[192.0.2.1]");
	assert_int_equal(smtp_parse_helo("weird_but_printable!", out, sizeof out, &e), 0);
	assert_int_equal(smtp_parse_helo("", out, sizeof out, &e), -1);
	assert_string_equal(out, "");
	assert_non_null(strstr(e.msg, "Syntax"));
	assert_int_equal(smtp_parse_helo("   ", out, sizeof out, &e), -1);
	assert_int_equal(smtp_parse_helo(NULL, out, sizeof out, &e), -1);
	assert_int_equal(smtp_parse_helo("my computer", out, sizeof out, &e), -1);
	assert_int_equal(smtp_parse_helo("a\x01", out, sizeof out, &e), -1);
	assert_int_equal(smtp_parse_helo("h\xc3\xa9", out, sizeof out, &e), -1);
	fill(big, 'h', 255);
	assert_int_equal(smtp_parse_helo(big, out, sizeof out, &e), 0);
	assert_int_equal(strlen(out), 255);
	fill(big, 'h', 256);
	assert_int_equal(smtp_parse_helo(big, out, sizeof out, &e), -1);
	assert_int_equal(smtp_parse_helo("mx.example", out, 5, &e), -1);
	assert_int_equal(smtp_parse_helo("mx.example", NULL, 0, &e), -1);
}

/* ---- replies ---- */

static void test_reply_format(void **state)
{
	char out[1024];
	(void)state;
	assert_int_equal(smtp_format_reply(out, sizeof out, 250, "2.1.0", "Ok"), 14);
	assert_string_equal(out, "250 2.1.0 Ok\r\n");
	smtp_format_reply(out, sizeof out, 220, NULL, "mx.example ESMTP");
	assert_string_equal(out, "220 mx.example ESMTP\r\n");
	smtp_format_reply(out, sizeof out, 250, "", "mx.example\nPIPELINING\nSIZE 1000\n");
	assert_string_equal(out, "250-mx.example\r\n250-PIPELINING\r\n250 SIZE 1000\r\n");
	smtp_format_reply(out, sizeof out, 550, "5.7.1", "line one\r\nline two");
	assert_string_equal(out, "550-5.7.1 line one\r\n550 5.7.1 line two\r\n");
	smtp_format_reply(out, sizeof out, 451, "4.3.0", "a\x01" "b\x7f" "c\xc3\xa9\td");
	assert_string_equal(out, "451 4.3.0 a?b?c?? d\r\n");
	smtp_format_reply(out, sizeof out, 250, "2.0.0", "");
	assert_string_equal(out, "250 2.0.0\r\n");
	smtp_format_reply(out, sizeof out, 250, NULL, NULL);
	assert_string_equal(out, "250\r\n");
	smtp_format_reply(out, sizeof out, 250, "2.0.0", "a\n\nb");
	assert_string_equal(out, "250-2.0.0 a\r\n250-2.0.0\r\n250 2.0.0 b\r\n");
	/* bad codes and bad enhanced codes */
	smtp_format_reply(out, sizeof out, 99, "5.0.0", "x");
	assert_string_equal(out, "451 5.0.0 x\r\n");
	smtp_format_reply(out, sizeof out, 1000, NULL, "x");
	assert_string_equal(out, "451 x\r\n");
	static const char *const bad_enh[] = { "3.0.0", "5.0", "5.1234.0", "5..0", "5.0.0 x", "x" };
	for (size_t i = 0; i < sizeof bad_enh / sizeof bad_enh[0]; i++) {
		smtp_format_reply(out, sizeof out, 500, bad_enh[i], "x");
		assert_string_equal(out, "500 x\r\n");
	}
	smtp_format_reply(out, sizeof out, 250, "2.123.456", "x");
	assert_string_equal(out, "250 2.123.456 x\r\n");
}

static void test_reply_truncation(void **state)
{
	char out[1200], big[1000];
	(void)state;
	/* a long line is capped at 512 octets, CRLF included */
	fill(big, 'x', 900);
	size_t n = smtp_format_reply(out, sizeof out, 250, "2.0.0", big);
	assert_int_equal(n, 512);
	assert_int_equal(strlen(out), 512);
	assert_memory_equal(out + 510, "\r\n", 2);
	/* a short buffer: truncated text, still a complete reply */
	n = smtp_format_reply(out, 20, 250, "2.0.0", big);
	assert_int_equal(n, 19);
	assert_string_equal(out, "250 2.0.0 xxxxxxx\r\n");
	/* multi-line cut short: the last line written ends the reply */
	n = smtp_format_reply(out, 30, 250, NULL, "first\nsecond\nthird\nfourth");
	assert_string_equal(out, "250-first\r\n250 second\r\n");
	n = smtp_format_reply(out, 20, 250, NULL, "first\nsecond\nthird\nfourth");
	assert_string_equal(out, "250-first\r\n250 se\r\n");
	assert_int_equal(n, strlen(out));
	for (size_t len = 0; len < 60; len++) {
		memset(out, 0x7e, sizeof out);
		n = smtp_format_reply(out, len, 554, "5.7.1", "blocked\nby policy\nsee docs");
		if (len == 0)
			continue;
		assert_int_equal(n, strlen(out));
		assert_true(n < len);
		if (n > 0) {
			assert_memory_equal(out + n - 2, "\r\n", 2);
			const char *last = out + n - 2;
			while (last > out && last[-1] != '\n')
				last--;
			assert_int_equal(last[3], ' ');
		}
	}
	assert_int_equal(smtp_format_reply(NULL, 10, 250, NULL, "x"), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_verbs),
		cmocka_unit_test(test_verb_len_and_names),
		cmocka_unit_test(test_line_check),
		cmocka_unit_test(test_path_basic),
		cmocka_unit_test(test_path_null),
		cmocka_unit_test(test_path_syntax),
		cmocka_unit_test(test_path_unbracketed),
		cmocka_unit_test(test_path_quoted),
		cmocka_unit_test(test_path_dots),
		cmocka_unit_test(test_path_route_and_literal),
		cmocka_unit_test(test_path_postmaster),
		cmocka_unit_test(test_path_limits),
		cmocka_unit_test(test_path_controls),
		cmocka_unit_test(test_path_utf8),
		cmocka_unit_test(test_params_size),
		cmocka_unit_test(test_params_mail),
		cmocka_unit_test(test_params_rcpt),
		cmocka_unit_test(test_path_null_outputs),
		cmocka_unit_test(test_relay_tricks),
		cmocka_unit_test(test_relay_clean),
		cmocka_unit_test(test_domain_valid),
		cmocka_unit_test(test_helo),
		cmocka_unit_test(test_reply_format),
		cmocka_unit_test(test_reply_truncation),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
