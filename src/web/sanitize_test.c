/* HTML sanitiser: what must never survive, what must, and hostile input
 * shapes (unterminated tags, entity tricks, huge input). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "web/sanitize.h"

/* Sanitised body (between <body> and </body>), lower-cased copy in low. */
static char *clean(const char *html, char **low)
{
	struct buf b;
	buf_init(&b, SANITIZE_MAX_OUT);
	assert_true(sanitize_html(html, strlen(html), &b) >= 0);
	char *s = strstr(b.data, "<body>");
	assert_non_null(s);
	char *out = strdup(s + 6);
	char *end = strstr(out, "</body></html>");
	assert_non_null(end);
	*end = '\0';
	buf_free(&b);
	*low = strdup(out);
	for (char *p = *low; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	return out;
}

static void expect(const char *html, const char *want)
{
	char *low, *got = clean(html, &low);
	if (strcmp(got, want) != 0)
		fail_msg("sanitize(%s)\n got: %s\nwant: %s", html, got, want);
	free(got);
	free(low);
}

/* Only the markup of the output (text is escaped: "alert(1)" as text is
 * harmless): every "<...>" run, concatenated. */
static char *markup_of(const char *low)
{
	char *m = calloc(1, strlen(low) + 1);
	size_t k = 0;
	int in = 0;
	for (const char *p = low; *p; p++) {
		if (*p == '<')
			in = 1;
		if (in)
			m[k++] = *p;
		if (*p == '>')
			in = 0;
	}
	return m;
}

static void never(const char *html, const char *const *bad, size_t n)
{
	char *low, *got = clean(html, &low);
	char *markup = markup_of(low);
	for (size_t i = 0; i < n; i++)
		if (strstr(markup, bad[i]))
			fail_msg("sanitize(%s) kept \"%s\": %s", html, bad[i], got);
	free(markup);
	free(got);
	free(low);
}

static void test_kept(void **state)
{
	(void)state;
	expect("<p>Hello <b>world</b></p>", "<p>Hello <b>world</b></p>");
	expect("a &amp; b &lt;c&gt; &eacute;", "a &amp; b &lt;c&gt; \xc3\xa9");
	expect("<table border=1 width=\"100%\"><tr><td align=center>x</td></tr></table>",
	       "<table border=\"1\" width=\"100%\"><tr><td align=\"center\">x</td></tr></table>");
	expect("<a href=\"https://example.com/?a=1&amp;b=2\">x</a>",
	       "<a href=\"https://example.com/?a=1&amp;b=2\" target=\"_blank\" rel=\"noopener "
	       "noreferrer\">x</a>");
	expect("<a href='mailto:a@b.example'>m</a>",
	       "<a href=\"mailto:a@b.example\" target=\"_blank\" rel=\"noopener noreferrer\">m</a>");
	expect("<span style=\"color: red\">r</span>", "<span style=\"color: red\">r</span>");
	expect("<br/><hr></br>", "<br><hr>");
	expect("1 < 2 > 0", "1 &lt; 2 &gt; 0");
	expect("<unknown-tag>text</unknown-tag>", "text");
}

static void test_removed(void **state)
{
	(void)state;
	static const char *const bad[] = {"<script", "onerror", "onload", "onclick",
					  "javascript", "vbscript", "<iframe", "<object", "<embed",
					  "<form", "<input", "<meta", "<base", "<link", "evil",
					  "expression", "url(", "<svg", "<math", "srcdoc", "<textarea",
					  "data:text"};
	static const char *const cases[] = {
		"<script>alert(1)</script>",
		"<SCRIPT SRC=http://evil/x.js></SCRIPT>",
		"<scr<script>ipt>alert(1)</script>",
		"<img src=x onerror=alert(1)>",
		"<img src=\"http://evil/p.gif\">",
		"<img src='data:text/html,<script>alert(1)</script>'>",
		"<body onload=alert(1)>",
		"<a href=\"javascript:alert(1)\">x</a>",
		"<a href=\"JaVaScRiPt:alert(1)\">x</a>",
		"<a href=\" javascript:alert(1)\">x</a>",
		"<a href=\"jav&#x09;ascript:alert(1)\">x</a>",
		"<a href=\"jav&#9;ascript:alert(1)\">x</a>",
		"<a href=\"&#106;avascript:alert(1)\">x</a>",
		"<a href=\"vbscript:msgbox\">x</a>",
		"<iframe src=http://evil/></iframe>",
		"<iframe srcdoc=\"<script>alert(1)</script>\"></iframe>",
		"<object data=http://evil/x></object><embed src=http://evil/y>",
		"<form action=http://evil/><input name=p><textarea>x</textarea></form>",
		"<meta http-equiv=refresh content=\"0;url=http://evil/\">",
		"<base href=http://evil/><link rel=stylesheet href=http://evil/s.css>",
		"<div style=\"background:url(http://evil/x)\">x</div>",
		"<div style=\"width: expression(alert(1))\">x</div>",
		"<div style=\"background:u\\rl(http://evil/x)\">x</div>",
		"<style>@import 'http://evil/s.css';</style>",
		"<style>body{background:url(http://evil/x)}</style>",
		"<style>/**/@import url(http://evil/s.css)</style>",
		"<svg onload=alert(1)><script>alert(1)</script></svg>",
		"<math><mtext><script>alert(1)</script></mtext></math>",
		"<div onclick=\"alert(1)\" onmouseover='alert(1)'>x</div>",
		"<img src=x onerror=\"alert(1)\"",
		"<a href=\"https://ok/\" onclick=alert(1)>x",
		"<!--><script>alert(1)</script>-->",
		"<!-- <script>alert(1)</script> -->",
		"<p title=\"x\" onmouseover=\"alert(1)\">y</p>",
		"<p title='\"><script>alert(1)</script>'>y</p>",
		"<noscript><p title=\"</noscript><img src=x onerror=alert(1)>\"></noscript>",
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
		never(cases[i], bad, sizeof bad / sizeof *bad);
}

static void test_images(void **state)
{
	(void)state;
	struct buf b;
	buf_init(&b, SANITIZE_MAX_OUT);
	static const char in[] =
		"<img src=http://a/1><img src=cid:x><img src=\"data:image/png;base64,AAAA\">";
	int n = sanitize_html(in, sizeof in - 1, &b);
	assert_int_equal(n, 2);
	assert_non_null(strstr(b.data, "src=\"data:image/png;base64,AAAA\""));
	assert_non_null(strstr(b.data, "data-blocked=\"remote image\""));
	assert_null(strstr(b.data, "http://a/1"));
	assert_null(strstr(b.data, "cid:x"));
	buf_free(&b);
}

/* Attribute values are re-quoted: a quote in a value cannot end it. */
static void test_quoting(void **state)
{
	(void)state;
	expect("<p title='a\"b'>x</p>", "<p title=\"a&quot;b\">x</p>");
	expect("<p title=a&quot;onclick=alert(1)>x</p>",
	       "<p title=\"a&quot;onclick=alert(1)\">x</p>");
	expect("<p title=\"<b>\">x</p>", "<p title=\"&lt;b&gt;\">x</p>");
}

/* Random and truncated input: always a complete document, bounded. */
static void test_fuzzish(void **state)
{
	(void)state;
	static const char *const atoms[] = {"<", ">", "\"", "'", "=", "/", "<a ", "<script",
					    "</", "&", "&#", "x", " ", "on", "href=", "<!--", "-->",
					    "<style>", "javascript:", "\0"};
	char input[4096];
	srand(42);
	for (int round = 0; round < 3000; round++) {
		size_t len = 0;
		while (len < sizeof input - 20) {
			const char *a = atoms[rand() % (sizeof atoms / sizeof *atoms)];
			size_t al = a[0] ? strlen(a) : 1;
			memcpy(input + len, a, al);
			len += al;
			if (rand() % 64 == 0)
				break;
		}
		struct buf b;
		buf_init(&b, SANITIZE_MAX_OUT);
		assert_true(sanitize_html(input, len, &b) >= 0);
		assert_non_null(strstr(b.data, "</body></html>"));
		char *low = strdup(b.data);
		for (char *p = low; *p; p++)
			*p = (char)tolower((unsigned char)*p);
		char *m = markup_of(low);
		if (strstr(m, "<script") || strstr(m, "javascript:") || strstr(m, " on"))
			fail_msg("unsafe markup from fuzz input: %s", b.data);
		free(m);
		free(low);
		buf_free(&b);
	}
}

static void test_large_input_linear(void **state)
{
	(void)state;
	size_t n = 8u << 20;
	char *big = malloc(n + 1);
	for (size_t i = 0; i < n; i++)
		big[i] = "<a<b x='y' "[i % 11];
	big[n] = '\0';
	struct buf b;
	buf_init(&b, SANITIZE_MAX_OUT);
	clock_t t0 = clock();
	int rc = sanitize_html(big, n, &b);
	double secs = (double)(clock() - t0) / CLOCKS_PER_SEC;
	assert_true(rc == -1 || rc >= 0);
	assert_true(b.len <= SANITIZE_MAX_OUT);
	assert_true(secs < 5.0);
	print_message("sanitize: 8 MiB of hostile markup in %.2f s\n", secs);
	buf_free(&b);
	free(big);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kept),
		cmocka_unit_test(test_removed),
		cmocka_unit_test(test_images),
		cmocka_unit_test(test_quoting),
		cmocka_unit_test(test_fuzzish),
		cmocka_unit_test(test_large_input_linear),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
