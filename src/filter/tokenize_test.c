/* tokenize: word rules, header/URL/HTML/MIME tokens, dedupe and bounds. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "filter/tokenize.h"

struct seen {
	char **v;
	size_t n;
};

static void collect(void *ctx, const char *tok, size_t len)
{
	struct seen *s = ctx;
	s->v = realloc(s->v, (s->n + 1) * sizeof *s->v);
	s->v[s->n] = malloc(len + 1);
	memcpy(s->v[s->n], tok, len);
	s->v[s->n][len] = '\0';
	s->n++;
}

static int has(const struct seen *s, const char *tok)
{
	for (size_t i = 0; i < s->n; i++)
		if (strcmp(s->v[i], tok) == 0)
			return 1;
	return 0;
}

static void seen_free(struct seen *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->v[i]);
	free(s->v);
	memset(s, 0, sizeof *s);
}

static void tokenize_msg(const char *msg, struct tok_set *ts, struct seen *s)
{
	struct msg_view v;
	struct err e;
	assert_int_equal(msgview_parse(msg, strlen(msg), &v, &e), 0);
	tok_set_init(ts);
	ts->debug = collect;
	ts->debug_ctx = s;
	tokenize_view(&v, ts);
	msgview_free(&v);
}

static void test_hash(void **state)
{
	(void)state;
	assert_true(tok_hash("free", 4) != 0);
	assert_true(tok_hash("free", 4) == tok_hash("free", 4));
	assert_true(tok_hash("free", 4) != tok_hash("fref", 4));
	assert_true(tok_hash("", 0) != 0);
	assert_true(tok_hash("abcdefgh1", 9) != tok_hash("abcdefgh2", 9));
}

static void test_words(void **state)
{
	(void)state;
	struct tok_set ts;
	struct seen s = {0};
	tok_set_init(&ts);
	ts.debug = collect;
	ts.debug_ctx = &s;
	const char *t = "Hello, WORLD!!! it's $100 on 2002-08-22 -- "
			"supercalifragilisticexpialidocious hello ok "
			"Gr\xc3\x9c\xc3\x9f" "E mail@Example.ORG \xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e";
	tokenize_words(&ts, "", t, strlen(t));
	assert_true(has(&s, "hello"));
	assert_true(has(&s, "world"));
	assert_true(has(&s, "it's"));
	assert_true(has(&s, "$n:3"));
	assert_true(has(&s, "n:8"));
	assert_true(has(&s, "skip:s 30"));
	assert_true(has(&s, "gr\xc3\xbc\xc3\x9f" "e"));
	assert_true(has(&s, "email:example.org"));
	assert_true(has(&s, "cjk:\xe6\x97\xa5\xe6\x9c\xac"));
	assert_true(has(&s, "cjk:\xe6\x9c\xac\xe8\xaa\x9e"));
	assert_false(has(&s, "ok"));  /* too short */
	assert_false(has(&s, "2002-08-22"));
	/* "hello" twice: one token */
	size_t hellos = 0;
	for (size_t i = 0; i < s.n; i++)
		hellos += strcmp(s.v[i], "hello") == 0;
	assert_int_equal(hellos, 1);
	assert_int_equal(ts.n, s.n);
	tok_set_free(&ts);
	seen_free(&s);
}

static void test_message_tokens(void **state)
{
	(void)state;
	struct tok_set ts;
	struct seen s = {0};
	tokenize_msg("Received: from relay.example.net (relay.example.net [192.0.2.1])\n"
		     "\tby mx.example.org with ESMTP; Mon, 1 Jan 2024 00:00:00 +0000\n"
		     "From: \"Foo Bar\" <x99@mail.example.co.uk>\n"
		     "Reply-To: other@elsewhere.example\n"
		     "To: a@example.org, b@example.org\n"
		     "Subject: FREE MONEY NOW!\n"
		     "Message-ID: <123.abc@mailer.example.com>\n"
		     "X-Mailer: Foomail 5.5\n"
		     "Content-Type: multipart/mixed; boundary=b\n\n"
		     "--b\nContent-Type: text/html; charset=us-ascii\n\n"
		     "<html><font color=red>Click</font> <a href=\"http://www.evil.example/buy/pills.html\">here</a></html>\n"
		     "--b\nContent-Type: application/zip; name=x.ZIP\n"
		     "Content-Transfer-Encoding: base64\n\nUEsDBA==\n--b--\n",
		     &ts, &s);
	static const char *const want[] = {
		"f:d:mail.example.co.uk", "f:d:example.co.uk", "f:shape:a9", "f:n:foo",
		"f:a:x99@mail.example.co.uk", "rt:other-domain", "to:count:2", "s:free",
		"s:money", "s:x:caps", "s:x:bang", "mid:d:mailer.example.com", "mid:shape:9.a",
		"xm:foomail", "r:from:example.net", "r:with:esmtp", "hn:x-mailer", "click",
		"u:h:www.evil.example", "u:d:evil.example", "u:p:buy", "u:p:pills", "u:s:http",
		"t:font", "a:font:color", "t:a", "a:a:href", "m:ct:text/html",
		"m:ct:application/zip", "m:ext:zip", "m:cs:us-ascii", "m:cte:base64",
		"m:html-only", "date:none",
	};
	for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
		if (!has(&s, want[i]))
			fail_msg("missing token %s", want[i]);
	}
	/* recipient-side header names are not evidence */
	assert_false(has(&s, "hn:received"));
	tok_set_free(&ts);
	seen_free(&s);
}

static void test_bounds(void **state)
{
	(void)state;
	/* many distinct words: capped at TOK_MAX_TOKENS */
	struct tok_set ts;
	tok_set_init(&ts);
	char w[32];
	for (int i = 0; i < TOK_MAX_TOKENS + 500; i++) {
		int l = snprintf(w, sizeof w, "word%c%c%c", 'a' + i % 26, 'a' + (i / 26) % 26,
				 'a' + (i / 676) % 26);
		tokenize_words(&ts, "", w, (size_t)l);
	}
	assert_int_equal(ts.n, TOK_MAX_TOKENS);
	assert_true(ts.full);
	tok_set_reset(&ts);
	assert_int_equal(ts.n, 0);
	tokenize_words(&ts, "", "again again", 11);
	assert_int_equal(ts.n, 1);
	tok_set_free(&ts);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hash),
		cmocka_unit_test(test_words),
		cmocka_unit_test(test_message_tokens),
		cmocka_unit_test(test_bounds),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
