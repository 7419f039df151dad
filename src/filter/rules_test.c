/* Rule engine: the .cf parser (comments, conditionals, errors as
 * file:line), every rule type on real parsed messages, SpamAssassin's
 * header semantics, meta expressions, scores and tflags, ReplaceTags,
 * patterns Vectorscan cannot run (PCRE2 fallback, supersets), the
 * database cache, reload through the slot, and the project's rules/. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "filter/rules.h"
#include "mail/msgview.h"
#include "util/fsutil.h"

static char tmpdir[256];

static int setup(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof tmpdir, "/tmp/rules_test.XXXXXX");
	assert_non_null(mkdtemp(tmpdir));
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	char cmd[300];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

/* Writes text to tmpdir/name and returns the path (static buffer). */
static const char *write_cf(const char *name, const char *text)
{
	static char path[4][512];
	static int slot;
	char *p = path[slot++ & 3];
	snprintf(p, 512, "%s/%s", tmpdir, name);
	struct err e;
	assert_int_equal(fs_write_atomic(p, text, strlen(text), 0644, &e), 0);
	return p;
}

struct t {
	struct ruleset *rs;
	struct rules_scratch *s;
	struct rules_report rep;
	struct rules_result res;
};

static void t_load(struct t *t, const char *cf, unsigned flags)
{
	struct rules_source src = {write_cf("t.cf", cf), flags};
	struct err e = {{0}};
	rules_report_init(&t->rep);
	t->rs = rules_load(&src, 1, &t->rep, &e);
	assert_non_null(t->rs);
	t->s = rules_scratch_new(t->rs, &e);
	assert_non_null(t->s);
}

static void t_match(struct t *t, const char *msg, const char *mail_from)
{
	struct msg_view v;
	struct err e;
	assert_int_equal(msgview_parse(msg, strlen(msg), &v, &e), 0);
	struct rules_env env = {.mail_from = mail_from};
	assert_int_equal(rules_match(t->rs, t->s, &v, &env, &t->res, &e), 0);
	msgview_free(&v);
}

static int hit(struct t *t, const char *name)
{
	return rules_last_hit(t->rs, t->s, name);
}

static unsigned hit_count(struct t *t, const char *name)
{
	for (size_t i = 0; i < t->res.nhits; i++)
		if (strcmp(t->res.hits[i].name, name) == 0)
			return t->res.hits[i].count;
	return 0;
}

static void t_free(struct t *t)
{
	rules_scratch_free(t->s);
	rules_unref(t->rs);
	rules_report_free(&t->rep);
}

static const char msg_plain[] =
	"Return-Path: <bounce@lists.example.org>\r\n"
	"From: \"Alice Example\" <alice@example.com>\r\n"
	"To: bob@example.net, carol@example.net\r\n"
	"Cc: dave@example.net\r\n"
	"Subject: Quarterly report\r\n"
	"Date: Mon, 02 Sep 2002 10:00:00 +0000\r\n"
	"Message-Id: <20020902100000.1234@example.com>\r\n"
	"X-Mailer: TestMailer 1.0\r\n"
	"MIME-Version: 1.0\r\n"
	"Content-Type: text/plain; charset=us-ascii\r\n"
	"\r\n"
	"Hello Bob,\r\n"
	"\r\n"
	"the numbers are attached. See http://www.example.com/report and\r\n"
	"http://192.0.2.7/x for the mirror.\r\n"
	"\r\n"
	"Regards, Alice\r\n";

/* ---- parser ---- */

static void test_parse_errors_reported_rest_loads(void **state)
{
	(void)state;
	struct t t;
	t_load(&t,
	       "# a comment\n"
	       "body GOOD_ONE /numbers/  # trailing comment\n"
	       "body BAD_REGEX /unclosed(/\n"
	       "body BAD_DELIM numbers\n"
	       "header BAD_HDR Subject ~~ /x/\n"
	       "score GOOD_ONE 2 3\n"
	       "frobnicate THIS\n"
	       "meta BAD_META (GOOD_ONE &&\n"
	       "body HASH_ESC /a\\#b|Regards/\n"
	       "endif\n",
	       RULES_SRC_STRICT);
	assert_int_equal(t.rep.nerrors, 7);
	const char *errs = t.rep.errors.data;
	assert_non_null(strstr(errs, "t.cf:3: BAD_REGEX: regex:"));
	assert_non_null(strstr(errs, "t.cf:4: BAD_DELIM:"));
	assert_non_null(strstr(errs, "t.cf:5: BAD_HDR:"));
	assert_non_null(strstr(errs, "t.cf:6: score GOOD_ONE: requires 1 or 4"));
	assert_non_null(strstr(errs, "t.cf:7: unknown directive 'frobnicate'"));
	assert_non_null(strstr(errs, "t.cf:8: BAD_META: meta:"));
	assert_non_null(strstr(errs, "t.cf:10: 'endif' without 'if'"));
	t_match(&t, msg_plain, NULL);
	assert_true(hit(&t, "GOOD_ONE"));
	assert_true(hit(&t, "HASH_ESC"));  /* \# is a literal #, the rest is the regex */
	assert_false(hit(&t, "BAD_REGEX"));
	t_free(&t);
}

static void test_lenient_ignores_unknown(void **state)
{
	(void)state;
	struct t t;
	t_load(&t, "frobnicate THIS\nrequired_score 5\nbody OK /Alice/\n", 0);
	assert_int_equal(t.rep.nerrors, 0);
	t_match(&t, msg_plain, NULL);
	assert_true(hit(&t, "OK"));
	t_free(&t);
}

static void test_conditionals(void **state)
{
	(void)state;
	struct t t;
	t_load(&t,
	       "ifplugin Mail::SpamAssassin::Plugin::HeaderEval\n"
	       "  body IN_KNOWN /Alice/\n"
	       "  ifplugin Mail::SpamAssassin::Plugin::DNSEval\n"
	       "    body IN_NET /Alice/\n"
	       "  else\n"
	       "    body IN_ELSE /Alice/\n"
	       "  endif\n"
	       "endif\n"
	       "if (version >= 3.004000)\n body IN_VERSION /Alice/\nendif\n"
	       "if can(Mail::SpamAssassin::Conf::feature_capture_rules)\n body IN_CAN /Alice/\nendif\n"
	       "if !plugin(Mail::SpamAssassin::Plugin::MIMEHeader)\n body IN_NOT /Alice/\nendif\n"
	       "if (version >= 3.004) && !can(Mail::SpamAssassin::Conf::nope)\n body IN_AND /Alice/\nendif\n"
	       "lang de describe IN_KNOWN Deutsch\n"
	       "lang en describe IN_VERSION English\n",
	       RULES_SRC_STRICT);
	assert_int_equal(t.rep.nerrors, 0);
	t_match(&t, msg_plain, NULL);
	assert_true(hit(&t, "IN_KNOWN"));
	assert_false(hit(&t, "IN_NET"));
	assert_true(hit(&t, "IN_ELSE"));
	assert_true(hit(&t, "IN_VERSION"));
	assert_false(hit(&t, "IN_CAN"));
	assert_true(hit(&t, "IN_NOT"));
	assert_true(hit(&t, "IN_AND"));
	for (size_t i = 0; i < t.res.nhits; i++) {
		if (strcmp(t.res.hits[i].name, "IN_VERSION") == 0)
			assert_string_equal(t.res.hits[i].desc, "English");
		if (strcmp(t.res.hits[i].name, "IN_KNOWN") == 0)
			assert_string_equal(t.res.hits[i].desc, "");
	}
	t_free(&t);
}

/* ---- header semantics ---- */

static void test_header_rules(void **state)
{
	(void)state;
	struct t t;
	t_load(&t,
	       "header H_SUBJ Subject =~ /^Quarterly report$/\n"
	       "header H_NEG Subject !~ /viagra/i\n"
	       "header H_ADDR From:addr =~ /^alice\\@example\\.com$/\n"
	       "header H_NAME From:name =~ /^Alice Example$/\n"
	       "header H_RAW From:raw =~ /\"Alice Example\"/\n"
	       "header H_ALL ALL =~ /^X-Mailer: TestMailer/m\n"
	       "header H_TOCC ToCc =~ /dave\\@/\n"
	       "header H_TOCC_ADDRS ToCc:addr =~ /^bob\\@example\\.net\\ncarol\\@example\\.net\\ndave/\n"
	       "header H_MSGID MESSAGEID =~ /1234\\@example/\n"
	       "header H_ENV EnvelopeFrom =~ /^sender\\@envelope\\.example$/\n"
	       "header H_EXISTS exists:X-Mailer\n"
	       "header H_NOT_EXISTS exists:X-Nope\n"
	       "header H_MISSING_EMPTY X-Nope =~ /^$/\n"
	       "header H_MISSING_NEG X-Nope !~ /something/\n"
	       "header H_MISSING_POS X-Nope =~ /something/\n"
	       "header H_UNSET X-Nope =~ /^default$/ [if-unset: default]\n"
	       "header H_RELAYS X-Spam-Relays-External =~ /./\n",
	       RULES_SRC_STRICT);
	assert_int_equal(t.rep.nerrors, 0);
	assert_int_equal(t.rep.unsupported, 0);  /* relay pseudo-headers are built now */
	t_match(&t, msg_plain, "sender@envelope.example");
	const char *want[] = {"H_SUBJ", "H_NEG", "H_ADDR", "H_NAME", "H_RAW", "H_ALL", "H_TOCC",
			      "H_TOCC_ADDRS", "H_MSGID", "H_ENV", "H_EXISTS", "H_MISSING_EMPTY",
			      "H_MISSING_NEG", "H_UNSET"};
	for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
		if (!hit(&t, want[i]))
			fail_msg("%s did not hit", want[i]);
	}
	assert_false(hit(&t, "H_NOT_EXISTS"));
	assert_false(hit(&t, "H_MISSING_POS"));
	assert_false(hit(&t, "H_RELAYS"));
	/* EnvelopeFrom falls back to Return-Path */
	t_match(&t, msg_plain, NULL);
	assert_false(hit(&t, "H_ENV"));
	t_free(&t);
}

/* ---- body, rawbody, uri, full ---- */

static const char msg_html[] =
	"From: shop@example.biz\r\n"
	"To: you@example.net\r\n"
	"Subject: Great offer inside\r\n"
	"Message-Id: <x@y>\r\n"
	"MIME-Version: 1.0\r\n"
	"Content-Type: text/html; charset=utf-8\r\n"
	"Content-Transfer-Encoding: quoted-printable\r\n"
	"\r\n"
	"<html><body><p>Buy <b>now</b>!</p>\r\n"
	"<p>Click <a href=3D\"http://198.51.100.9/buy\">here</a> to order.</p>\r\n"
	"<p>Second   paragraph\r\n"
	"continues here.</p></body></html>\r\n";

static void test_text_classes(void **state)
{
	(void)state;
	struct t t;
	t_load(&t,
	       "body B_SUBJ /^Great offer inside$/\n"
	       "body B_SUBJ_NOSUBJ /Great offer inside/\n"
	       "tflags B_SUBJ_NOSUBJ nosubject\n"
	       "body B_RENDERED /Buy now!/\n"
	       "body B_NO_TAGS /<b>/\n"
	       "body B_JOINED /^the numbers are attached\\. See \\S+ and \\S+ for the mirror\\.$/\n"
	       "rawbody R_TAGS /<b>now<\\/b>/\n"
	       "rawbody R_DECODED /href=\"http/\n"
	       "uri U_IP /^http:\\/\\/198\\.51\\.100\\.9\\//\n"
	       "full F_CTE /^Content-Transfer-Encoding: quoted-printable/m\n"
	       "full F_QP /3D\"http/\n",
	       RULES_SRC_STRICT);
	assert_int_equal(t.rep.nerrors, 0);
	t_match(&t, msg_html, NULL);
	assert_true(hit(&t, "B_SUBJ"));
	assert_false(hit(&t, "B_SUBJ_NOSUBJ"));
	assert_true(hit(&t, "B_RENDERED"));
	assert_false(hit(&t, "B_NO_TAGS"));
	assert_true(hit(&t, "R_TAGS"));
	assert_true(hit(&t, "R_DECODED"));
	assert_true(hit(&t, "U_IP"));
	assert_true(hit(&t, "F_CTE"));
	assert_true(hit(&t, "F_QP"));
	/* a plain-text paragraph is one line, its line breaks are blanks */
	t_match(&t, msg_plain, NULL);
	assert_true(hit(&t, "B_JOINED"));
	assert_false(hit(&t, "R_TAGS"));
	t_free(&t);
}

/* ---- meta, scores, tflags ---- */

static void test_meta_and_scores(void **state)
{
	(void)state;
	struct t t;
	t_load(&t,
	       "body __A /Alice/\n"
	       "body __B /Bob/\n"
	       "body __NONE /zzzz/\n"
	       "body __EACH_E /e/\n"
	       "tflags __EACH_E multiple maxhits=5\n"
	       "body COUNTED /e/\n"
	       "tflags COUNTED multiple\n"
	       "meta M_AND __A && __B\n"
	       "meta M_OR __NONE || __B\n"
	       "meta M_NOT !__NONE && !(__A && __NONE)\n"
	       "meta M_SUM (__A + __B + __NONE) >= 2\n"
	       "meta M_COUNT __EACH_E == 5\n"
	       "meta M_CHAIN M_AND && M_SUM\n"
	       "meta M_ARITH (__EACH_E * 2 - 4) / 2 == 3\n"
	       "meta M_FALSE __A && __NONE\n"
	       "score M_AND 1 2 3.5 4\n"
	       "score M_OR -0.5\n"
	       "body T_TESTING /Alice/\n"
	       "body NICE_ONE /Alice/\n"
	       "tflags NICE_ONE nice\n"
	       "body ZERO /Alice/\n"
	       "score ZERO 0\n"
	       "body DEFAULT /Alice/\n"
	       "meta M_UNKNOWN_LENIENT __A\n",
	       RULES_SRC_STRICT);
	assert_int_equal(t.rep.nerrors, 0);
	t_match(&t, msg_plain, NULL);
	assert_true(hit(&t, "M_AND"));
	assert_true(hit(&t, "M_OR"));
	assert_true(hit(&t, "M_NOT"));
	assert_true(hit(&t, "M_SUM"));
	assert_true(hit(&t, "M_COUNT"));
	assert_true(hit(&t, "M_CHAIN"));
	assert_true(hit(&t, "M_ARITH"));
	assert_false(hit(&t, "M_FALSE"));
	assert_false(hit(&t, "ZERO"));            /* score 0: not run */
	assert_true(hit_count(&t, "COUNTED") > 5);  /* counted, score added once */
	assert_true(fabs(rules_score_of(t.rs, "M_AND") - 3.5) < 1e-9);  /* score set 2 */
	assert_true(fabs(rules_score_of(t.rs, "T_TESTING") - 0.01) < 1e-9);
	assert_true(fabs(rules_score_of(t.rs, "NICE_ONE") + 1.0) < 1e-9);
	assert_true(fabs(rules_score_of(t.rs, "DEFAULT") - 1.0) < 1e-9);
	assert_true(isnan(rules_score_of(t.rs, "ZERO")));
	double want = 3.5 - 0.5 + 0.01 - 1.0 + 1.0;
	want += 1.0 * 7;  /* M_NOT M_SUM M_COUNT M_CHAIN M_ARITH COUNTED M_UNKNOWN_LENIENT */
	assert_true(fabs(t.res.score - want) < 1e-9);
	for (size_t i = 0; i < t.res.nhits; i++)
		assert_false(strncmp(t.res.hits[i].name, "__", 2) == 0);  /* sub-rules unscored */
	t_free(&t);
}

static void test_meta_cycle_and_unknown(void **state)
{
	(void)state;
	struct t t;
	t_load(&t,
	       "meta CYC_A CYC_B && 1\n"
	       "meta CYC_B CYC_A || 0\n"
	       "meta UNKNOWN_REF NO_SUCH_RULE\n"
	       "body FINE /Alice/\n",
	       RULES_SRC_STRICT);
	assert_int_equal(t.rep.nerrors, 3);
	assert_non_null(strstr(t.rep.errors.data, "CYC_A: meta dependency cycle"));
	assert_non_null(strstr(t.rep.errors.data, "UNKNOWN_REF: meta: unknown rule NO_SUCH_RULE"));
	t_match(&t, msg_plain, NULL);
	assert_true(hit(&t, "FINE"));
	t_free(&t);
	/* SpamAssassin's files: unknown references count as 0, silently */
	t_load(&t, "meta UNKNOWN_REF !NO_SUCH_RULE\n", 0);
	assert_int_equal(t.rep.nerrors, 0);
	t_match(&t, msg_plain, NULL);
	assert_true(hit(&t, "UNKNOWN_REF"));
	t_free(&t);
}

static void test_redefinition_and_net(void **state)
{
	(void)state;
	struct t t;
	t_load(&t,
	       "body REDEF /nomatch/\n"
	       "body REDEF /Alice/\n"
	       "body NETTY /Alice/\n"
	       "tflags NETTY net\n"
	       "header RBL eval:check_rbl('x', 'zen.example.')\n"
	       "header NOT_IMPL eval:check_something_we_lack()\n",
	       RULES_SRC_STRICT);
	assert_int_equal(t.rep.net_skipped, 2);
	assert_int_equal(t.rep.eval_skipped, 1);
	assert_non_null(strstr(t.rep.skipped_evals.data, "check_something_we_lack(1)"));
	t_match(&t, msg_plain, NULL);
	assert_true(hit(&t, "REDEF"));
	assert_false(hit(&t, "NETTY"));
	t_free(&t);
}

/* ---- engines ---- */

static void test_fallback_engines(void **state)
{
	(void)state;
	struct t t;
	t_load(&t,
	       "body BACKREF /\\b(\\w+) \\1\\b/\n"           /* backreference: prefilter + PCRE2 */
	       "body LOOKAHEAD /\\bRegards(?!, Bob)/\n"     /* lookaround: superset + PCRE2 */
	       "body LOOKAHEAD_NO /\\bRegards(?=, Bob)/\n"
	       "body POSSESSIVE /Hel++o/\n"
	       "rawbody BIG_REPEAT /numbers.{0,5000}mirror/s\n"
	       "body ATOMIC /(?>Hello) Bob/\n",
	       RULES_SRC_STRICT);
	assert_int_equal(t.rep.nerrors, 0);
	assert_true(t.rep.hs_prefilter + t.rep.pcre_only >= 4);
	static const char msg[] = "From: a@b.example\r\nSubject: the the test\r\n\r\n"
				  "Hello Bob,\r\nthe numbers and the mirror.\r\nRegards, Alice\r\n";
	t_match(&t, msg, NULL);
	assert_true(hit(&t, "BACKREF"));
	assert_true(hit(&t, "LOOKAHEAD"));
	assert_false(hit(&t, "LOOKAHEAD_NO"));
	assert_true(hit(&t, "POSSESSIVE"));
	assert_true(hit(&t, "BIG_REPEAT"));
	assert_true(hit(&t, "ATOMIC"));
	t_free(&t);
}

static void test_replace_tags(void **state)
{
	(void)state;
	struct t t;
	t_load(&t,
	       "replace_tag A (?:[aA4@])\n"
	       "replace_tag L (?:[lL1|])\n"
	       "replace_tag I (?:[iI1!|])\n"
	       "replace_tag C (?:[cC(])\n"
	       "replace_tag E (?:[eE3])\n"
	       "replace_inter W1 [\\s_.-]?\n"
	       "body FUZZY_ALICE /<inter W1>\\b(?!alice)<A><L><I><C><E>\\b/i\n"
	       "replace_rules FUZZY_ALICE\n",
	       RULES_SRC_STRICT);
	assert_int_equal(t.rep.nerrors, 0);
	t_match(&t, msg_plain, NULL);
	assert_false(hit(&t, "FUZZY_ALICE"));  /* plain "Alice" is excluded */
	static const char msg[] = "From: a@b.example\r\nSubject: hi\r\n\r\nyours, 4-L-1-C-3\r\n";
	t_match(&t, msg, NULL);
	assert_true(hit(&t, "FUZZY_ALICE"));
	t_free(&t);
}

/* ---- evals ---- */

static void test_evals(void **state)
{
	(void)state;
	struct t t;
	t_load(&t,
	       "header MISSING_TO eval:check_for_missing_to_header()\n"
	       "header CAPS eval:subject_is_all_caps()\n"
	       "header FUTURE eval:check_for_shifted_date('12', 'undef')\n"
	       "header PAST eval:check_for_shifted_date('undef', '-96')\n"
	       "header REPLY_DIFF eval:check_replyto_domain_differs()\n"
	       "header NAME_MISMATCH eval:check_from_name_addr_mismatch()\n"
	       "body HTML_ONLY eval:check_for_mime_html_only()\n"
	       "body HTML eval:html_test('html')\n"
	       "body HAS_B eval:html_tag_exists('b')\n"
	       "body UPPER eval:check_for_uppercase('50', '100')\n",
	       RULES_SRC_STRICT);
	assert_int_equal(t.rep.nerrors, 0);
	assert_int_equal(t.rep.eval_native, 10);
	static const char msg[] =
		"Received: from x by mx.example; Mon, 02 Sep 2002 10:00:00 +0000\r\n"
		"From: \"support@bank.example\" <info@phish.example>\r\n"
		"Reply-To: collect@freemail.example\r\n"
		"Subject: MAKE MONEY FAST NOW\r\n"
		"Date: Thu, 05 Sep 2002 10:00:00 +0000\r\n"
		"Content-Type: text/html\r\n"
		"\r\n"
		"<html><b>BUY THIS NOW, THE BEST OFFER EVER MADE TO ANYONE ON THE WHOLE "
		"PLANET, WITH NO RISK AT ALL AND A FULL REFUND IF YOU ARE NOT HAPPY WITH "
		"IT. ORDER TODAY AND GET THE SECOND ONE FOR FREE, WHILE STOCKS LAST AND "
		"BEFORE THE PRICE GOES UP AGAIN NEXT WEEK.</b></html>\r\n";
	t_match(&t, msg, NULL);
	const char *want[] = {"MISSING_TO", "CAPS", "FUTURE", "REPLY_DIFF", "NAME_MISMATCH",
			      "HTML_ONLY", "HTML", "HAS_B", "UPPER"};
	for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
		if (!hit(&t, want[i]))
			fail_msg("%s did not hit", want[i]);
	assert_false(hit(&t, "PAST"));
	t_match(&t, msg_plain, NULL);
	for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
		if (hit(&t, want[i]))
			fail_msg("%s hit a plain message", want[i]);
	t_free(&t);
}

/* FreeMail: the domain lists (exact, wildcard, welcome list), the three
 * evals, and ifplugin FreeMail blocks loading. */
static void test_freemail(void **state)
{
	(void)state;
	struct t t;
	t_load(&t,
	       "freemail_domains freemail.example hotmail.* *.mail.example\n"
	       "freemail_whitelist ok@freemail.example\n"
	       "ifplugin Mail::SpamAssassin::Plugin::FreeMail\n"
	       "header FM_FROM eval:check_freemail_from()\n"
	       "header FM_FROM_DIGIT eval:check_freemail_from('\\d@')\n"
	       "header FM_RT eval:check_freemail_header('Reply-To')\n"
	       "header FM_ENV eval:check_freemail_header('EnvelopeFrom')\n"
	       "header FM_FORGED_RT eval:check_freemail_replyto('replyto')\n"
	       "header DIFF_DOMAINS eval:check_equal_from_domains()\n"
	       "endif\n",
	       RULES_SRC_STRICT);
	assert_int_equal(t.rep.nerrors, 0);
	assert_int_equal(t.rep.eval_native, 6);
	static const char msg[] =
		"From: Winner <lucky77@hotmail.co>\r\n"
		"Reply-To: claims@x.mail.example\r\n"
		"Subject: you won\r\n\r\nbody\r\n";
	t_match(&t, msg, "bulk@sender.example");
	const char *want[] = {"FM_FROM", "FM_FROM_DIGIT", "FM_RT", "FM_FORGED_RT", "DIFF_DOMAINS"};
	for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
		if (!hit(&t, want[i]))
			fail_msg("%s did not hit", want[i]);
	assert_false(hit(&t, "FM_ENV"));
	/* wildcards never span a dot; the welcome list wins; msg_plain's
	 * example.com is not free mail */
	static const char msg2[] = "From: ok@freemail.example\r\nReply-To: a@hotmail.co.uk\r\n"
				   "Subject: x\r\n\r\nbody\r\n";
	t_match(&t, msg2, "ok@freemail.example");
	assert_false(hit(&t, "FM_FROM"));
	assert_false(hit(&t, "FM_RT"));
	assert_false(hit(&t, "FM_ENV"));
	t_match(&t, msg_plain, NULL);
	for (size_t i = 0; i < 4; i++)
		if (hit(&t, want[i]))
			fail_msg("%s hit a plain message", want[i]);
	t_free(&t);
}

/* ---- set lifecycle ---- */

static void test_slot_reload_and_cache(void **state)
{
	(void)state;
	char cache[300];
	snprintf(cache, sizeof cache, "%s/cache", tmpdir);
	struct rules_source src = {write_cf("a.cf", "body R1 /Alice/\nheader R2 Subject =~ /report/\n"),
				   RULES_SRC_STRICT};
	struct rules_report rep;
	struct err e = {{0}};
	rules_report_init(&rep);
	struct ruleset *a = rules_load_ex(&src, 1, cache, &rep, &e);
	assert_non_null(a);
	assert_int_equal(rep.databases_cached, 0);
	rules_report_free(&rep);
	rules_report_init(&rep);
	struct ruleset *a2 = rules_load_ex(&src, 1, cache, &rep, &e);
	assert_non_null(a2);
	assert_int_equal(rep.databases_cached, rep.databases);  /* all from the cache */
	assert_true(rep.databases > 0);
	rules_report_free(&rep);

	struct rules_slot slot;
	rules_slot_init(&slot);
	rules_slot_set(&slot, a);
	struct ruleset *held = rules_slot_get(&slot);  /* an in-flight scan */
	struct rules_scratch *s = rules_scratch_new(held, &e);
	rules_slot_set(&slot, a2);                      /* reload swaps */
	struct msg_view v;
	assert_int_equal(msgview_parse(msg_plain, strlen(msg_plain), &v, &e), 0);
	struct rules_result res;
	assert_int_equal(rules_match(held, s, &v, NULL, &res, &e), 0);  /* old set still valid */
	assert_int_equal(res.nhits, 2);
	rules_unref(held);
	struct ruleset *cur = rules_slot_get(&slot);
	assert_ptr_equal(cur, a2);
	assert_int_equal(rules_match(cur, s, &v, NULL, &res, &e), 0);  /* scratch refits */
	assert_int_equal(res.nhits, 2);
	rules_unref(cur);
	msgview_free(&v);
	rules_scratch_free(s);
	rules_slot_destroy(&slot);
}

static void test_check_main(void **state)
{
	(void)state;
	struct rules_source src = {write_cf("c.cf", "body OK /x/\nbody BROKEN /(/\n"),
				   RULES_SRC_STRICT};
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);
	assert_int_equal(rules_check_main(&src, 1, f), 1);
	fclose(f);
	assert_non_null(strstr(out, "c.cf:2: BROKEN: regex:"));
	assert_non_null(strstr(out, "1 rules loaded"));
	free(out);
	src.path = write_cf("d.cf", "body OK /x/\n");
	f = open_memstream(&out, &len);
	assert_int_equal(rules_check_main(&src, 1, f), 0);
	fclose(f);
	free(out);
}

/* The project's own rules load without an error and stay quiet on a
 * plain message. */
static void test_project_rules(void **state)
{
	(void)state;
	struct rules_source src = {RAMPART_SOURCE_DIR "/rules", RULES_SRC_STRICT};
	struct rules_report rep;
	struct err e = {{0}};
	rules_report_init(&rep);
	struct ruleset *rs = rules_load(&src, 1, &rep, &e);
	assert_non_null(rs);
	if (rep.nerrors)
		fail_msg("rules/ has errors:\n%s", rep.errors.data);
	assert_true(rep.loaded > 50);
	struct rules_scratch *s = rules_scratch_new(rs, &e);
	struct msg_view v;
	assert_int_equal(msgview_parse(msg_plain, strlen(msg_plain), &v, &e), 0);
	struct rules_result res;
	assert_int_equal(rules_match(rs, s, &v, NULL, &res, &e), 0);
	assert_true(res.score < 2.0);
	msgview_free(&v);
	rules_scratch_free(s);
	rules_unref(rs);
	rules_report_free(&rep);
}

/* Hostile input: huge header values, deep meta chains, empty message. */
static void test_bounds(void **state)
{
	(void)state;
	struct buf cf;
	buf_init(&cf, 1u << 20);
	buf_puts(&cf, "body __M0 /a/\n");
	for (int i = 1; i < 2000; i++)
		buf_printf(&cf, "meta __M%d __M%d && 1\n", i, i - 1);
	buf_puts(&cf, "meta DEEP __M1999\nheader LONG Subject =~ /(?:a|b)+$/\n");
	struct t t;
	t_load(&t, cf.data, RULES_SRC_STRICT);
	buf_free(&cf);
	assert_int_equal(t.rep.nerrors, 0);
	struct buf m;
	buf_init(&m, 4u << 20);
	buf_puts(&m, "Subject: ");
	for (int i = 0; i < 200000; i++)
		buf_putc(&m, "ab"[i & 1]);
	buf_puts(&m, "x\r\n\r\na\r\n");
	t_match(&t, m.data, NULL);
	assert_true(hit(&t, "DEEP"));  /* LONG: whatever the capped value gives, in bounded time */
	buf_free(&m);
	t_match(&t, "", NULL);
	assert_false(hit(&t, "DEEP"));
	t_free(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_errors_reported_rest_loads),
		cmocka_unit_test(test_lenient_ignores_unknown),
		cmocka_unit_test(test_conditionals),
		cmocka_unit_test(test_header_rules),
		cmocka_unit_test(test_text_classes),
		cmocka_unit_test(test_meta_and_scores),
		cmocka_unit_test(test_meta_cycle_and_unknown),
		cmocka_unit_test(test_redefinition_and_net),
		cmocka_unit_test(test_fallback_engines),
		cmocka_unit_test(test_replace_tags),
		cmocka_unit_test(test_evals),
		cmocka_unit_test(test_freemail),
		cmocka_unit_test(test_slot_reload_and_cache),
		cmocka_unit_test(test_check_main),
		cmocka_unit_test(test_project_rules),
		cmocka_unit_test(test_bounds),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
