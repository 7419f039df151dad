/* msgview: decoding, HTML rendering, URL finding, and bounded behaviour
 * on hostile MIME (deep nesting, many parts, bad base64, missing
 * boundaries, a 40 MB attachment, random garbage). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mail/msgview.h"
#include "mail/msgview_int.h"

static void parse_ok(const char *msg, struct msg_view *v)
{
	struct err e;
	assert_int_equal(msgview_parse(msg, strlen(msg), v, &e), 0);
}

static int has_uri(const struct msg_view *v, const char *u)
{
	for (size_t i = 0; i < v->nuris; i++)
		if (strcmp(v->uris[i], u) == 0)
			return 1;
	return 0;
}

/* CPU time, not wall time: the bounds must hold on a loaded CI machine
 * (and under the sanitizers, which are several times slower). */
static double now_s(void)
{
	struct timespec t;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
	return (double)t.tv_sec + t.tv_nsec / 1e9;
}

static void test_headers_decoded(void **state)
{
	(void)state;
	struct msg_view v;
	parse_ok("From: =?iso-8859-1?Q?J=F6rg?= <j@example.org>\r\n"
		 "Subject: =?utf-8?B?SGVsbG8gV8O2cmxk?=\r\n"
		 "X-Long: first\r\n  second\r\n"
		 "\r\n"
		 "Body line\r\n",
		 &v);
	assert_int_equal(v.nheaders, 3);
	assert_string_equal(msgview_header(&v, "subject"), "Hello W\xc3\xb6rld");
	assert_string_equal(msgview_header(&v, "FROM"), "J\xc3\xb6rg <j@example.org>");
	assert_string_equal(v.headers[0].raw, "=?iso-8859-1?Q?J=F6rg?= <j@example.org>");
	assert_string_equal(msgview_header(&v, "X-Long"), "first  second");
	assert_null(msgview_header(&v, "Date"));
	assert_non_null(strstr(v.text.data, "Body line"));
	assert_non_null(strstr(v.rawbody.data, "Body line"));
	assert_int_equal(v.nparts, 1);
	assert_string_equal(v.parts[0].content_type, "text/plain");
	assert_int_equal(v.mime_errors, 0);
	msgview_free(&v);
}

static const char alt_msg[] =
	"From: a@example.com\n"
	"Subject: test\n"
	"MIME-Version: 1.0\n"
	"Content-Type: multipart/alternative; boundary=\"XX\"\n"
	"\n"
	"preamble\n"
	"--XX\n"
	"Content-Type: text/plain; charset=iso-8859-1\n"
	"Content-Transfer-Encoding: quoted-printable\n"
	"\n"
	"Caf=E9 soft=\n"
	"break, see www.Example.COM/x.\n"
	"--XX\n"
	"Content-Type: text/html; charset=utf-8\n"
	"Content-Transfer-Encoding: base64\n"
	"\n"
	/* <html><body><p>F<b>RE</b>E &amp; caf&eacute;&nbsp;now<script>var x=1;</script>
	 * <a href="http://EXAMPLE.net:80/a?b=1&amp;c=2">x</a><!-- hidden -->
	 * <img src='hxxp://%77%77%77.evil.org/i.gif'></p></body></html> */
	"PGh0bWw+PGJvZHk+PHA+RjxiPlJFPC9iPkUgJmFtcDsgY2FmJmVhY3V0ZTsmbmJzcDtub3c8c2Ny\n"
	"aXB0PnZhciB4PTE7PC9zY3JpcHQ+PGEgaHJlZj0iaHR0cDovL0VYQU1QTEUubmV0OjgwL2E/Yj0x\n"
	"JmFtcDtjPTIiPng8L2E+PCEtLSBoaWRkZW4gLS0+PGltZyBzcmM9J2h4eHA6Ly8lNzclNzclNzcu\n"
	"ZXZpbC5vcmcvaS5naWYnPjwvcD48L2JvZHk+PC9odG1sPgo=\n"
	"--XX--\n"
	"epilogue\n";

static void test_alternative_html(void **state)
{
	(void)state;
	struct msg_view v;
	parse_ok(alt_msg, &v);
	assert_int_equal(v.nparts, 3);
	assert_string_equal(v.parts[0].content_type, "multipart/alternative");
	assert_string_equal(v.parts[1].charset, "iso-8859-1");
	assert_string_equal(v.parts[1].encoding, "quoted-printable");
	assert_string_equal(v.parts[2].content_type, "text/html");
	assert_int_equal(v.parts[2].depth, 1);
	/* QP soft break joined, Latin-1 converted */
	assert_non_null(strstr(v.text.data, "Caf\xc3\xa9 softbreak"));
	/* HTML: inline tags join, entities decoded, script and comment gone */
	assert_non_null(strstr(v.text.data, "FREE & caf\xc3\xa9 now"));
	assert_null(strstr(v.text.data, "var x"));
	assert_null(strstr(v.text.data, "hidden"));
	assert_non_null(strstr(v.html.data, "<script>"));
	assert_true(has_uri(&v, "http://www.example.com/x"));
	assert_true(has_uri(&v, "http://example.net/a?b=1&c=2"));
	assert_true(has_uri(&v, "http://www.evil.org/i.gif"));
	assert_int_equal(v.mime_errors, 0);
	msgview_free(&v);
}

static void test_uri_normalize(void **state)
{
	(void)state;
	static const struct {
		const char *in, *out;
	} cases[] = {
		{"HTTP://WWW.Example.COM", "http://www.example.com/"},
		{"https://user:pw@Bank.example.com:443/login", "https://bank.example.com/login"},
		{"http://www.paypal.com@evil.example/", "http://evil.example/"},
		{"hXXp://bad.example/path", "http://bad.example/path"},
		{"www.foo.example/a b", "http://www.foo.example/ab"},
		{"http://3232235777/", "http://192.168.1.1/"},
		{"http://0xC0A80101/x", "http://192.168.1.1/x"},
		{"http://xn--bcher-kva.example/", "http://b\xc3\xbc" "cher.example/"},
		{"http:\\\\host.example\\p", "http://host.example/p"},
		{"http://example.com:8080/", "http://example.com:8080/"},
		{"MAILTO:Someone@Example.COM?subject=x", "mailto:someone@example.com"},
	};
	struct buf b;
	buf_init(&b, 4096);
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		assert_int_equal(uri_normalize(cases[i].in, strlen(cases[i].in), &b), 0);
		assert_string_equal(b.data, cases[i].out);
	}
	static const char *const bad[] = {"javascript:alert(1)", "cid:part1", "/relative",
					  "http://localhost/", "http://exa mple/", ""};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		assert_int_equal(uri_normalize(bad[i], strlen(bad[i]), &b), -1);
	buf_free(&b);
}

static void test_charsets(void **state)
{
	(void)state;
	struct msg_view v;
	/* KOI8-R "привет", invalid UTF-8 declared as UTF-8, unknown charset */
	parse_ok("Content-Type: multipart/mixed; boundary=b\n\n"
		 "--b\nContent-Type: text/plain; charset=koi8-r\n\n\xd0\xd2\xc9\xd7\xc5\xd4\n"
		 "--b\nContent-Type: text/plain; charset=utf-8\n\nbad \xff\xfe bytes\n"
		 "--b\nContent-Type: text/plain; charset=x-no-such-charset\n\nna\xefve\n"
		 "--b\nContent-Type: text/plain\n\nnul\001\000byte\n"
		 "--b--\n",
		 &v);
	assert_non_null(strstr(v.text.data, "\xd0\xbf\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82"));
	assert_non_null(strstr(v.text.data, "bad \xef\xbf\xbd\xef\xbf\xbd bytes"));
	assert_non_null(strstr(v.text.data, "na\xc3\xafve"));
	msgview_free(&v);
	/* the NUL above ended the C string early: check with explicit length */
	static const char nul[] = "Subject: x\n\nbefore\0after\n";
	struct err e;
	assert_int_equal(msgview_parse(nul, sizeof nul - 1, &v, &e), 0);
	assert_non_null(strstr(v.text.data, "before after"));
	msgview_free(&v);
}

static char *nested_multipart(int depth)
{
	struct buf b;
	buf_init(&b, 1u << 24);
	buf_puts(&b, "Subject: deep\n");
	for (int i = 0; i < depth; i++)
		buf_printf(&b, "Content-Type: multipart/mixed; boundary=\"b%d\"\n\n--b%d\n", i, i);
	buf_puts(&b, "Content-Type: text/plain\n\ninnermost text\n");
	for (int i = depth - 1; i >= 0; i--)
		buf_printf(&b, "--b%d--\n", i);
	return buf_steal(&b);
}

static void test_deep_nesting(void **state)
{
	(void)state;
	struct msg_view v;
	char *m = nested_multipart(100);
	double t0 = now_s();
	parse_ok(m, &v);
	assert_true(now_s() - t0 < 2.0);
	assert_true(v.truncated);
	for (size_t i = 0; i < v.nparts; i++)
		assert_true(v.parts[i].depth <= MSGVIEW_MAX_DEPTH);
	msgview_free(&v);
	free(m);
	/* a shallow one still reaches its text */
	m = nested_multipart(10);
	parse_ok(m, &v);
	assert_false(v.truncated);
	assert_non_null(strstr(v.text.data, "innermost text"));
	msgview_free(&v);
	free(m);
}

static void test_many_parts(void **state)
{
	(void)state;
	struct buf b;
	buf_init(&b, 1u << 24);
	buf_puts(&b, "Content-Type: multipart/mixed; boundary=\"sep\"\n\n");
	for (int i = 0; i < 10000; i++)
		buf_printf(&b, "--sep\nContent-Type: text/plain\n\npart %d\n", i);
	buf_puts(&b, "--sep--\n");
	struct msg_view v;
	double t0 = now_s();
	parse_ok(b.data, &v);
	double dt = now_s() - t0;
	printf("10,000 parts: %.3f s CPU\n", dt);
	assert_true(dt < 5.0);
	assert_int_equal(v.nparts, MSGVIEW_MAX_PARTS);
	assert_true(v.truncated);
	assert_non_null(strstr(v.text.data, "part 998"));
	msgview_free(&v);
	buf_free(&b);
}

static void test_many_uris(void **state)
{
	(void)state;
	/* 2 MB of URLs, 600 distinct: bounded list, bounded time */
	struct buf b;
	buf_init(&b, 4u << 20);
	buf_puts(&b, "Subject: links\n\n");
	for (int i = 0; b.len < (2u << 20) - 64; i++)
		buf_printf(&b, "http://host%d.example/p www.w%d.example\n", i % 600, i % 7);
	struct msg_view v;
	double t0 = now_s();
	parse_ok(b.data, &v);
	assert_true(now_s() - t0 < 2.0);
	assert_int_equal(v.nuris, MSGVIEW_MAX_URIS);
	assert_true(v.truncated);
	assert_true(has_uri(&v, "http://host0.example/p"));
	assert_true(has_uri(&v, "http://www.w6.example/"));
	msgview_free(&v);
	buf_free(&b);
}

static void test_bad_base64_and_boundaries(void **state)
{
	(void)state;
	struct msg_view v;
	parse_ok("Content-Type: multipart/mixed; boundary=z\n\n"
		 "--z\nContent-Type: application/octet-stream\nContent-Transfer-Encoding: base64\n\n"
		 "QUJD!!!$$$RE\x01VG===?==\n"
		 "--z\nContent-Type: text/plain\n\nno closing boundary\n",
		 &v);
	assert_true(v.mime_errors > 0);
	assert_non_null(strstr(v.text.data, "no closing boundary"));
	msgview_free(&v);
	/* multipart without a boundary parameter */
	parse_ok("Content-Type: multipart/mixed\n\n--x\nContent-Type: text/plain\n\nhi\n--x--\n", &v);
	assert_true(v.mime_errors > 0);
	msgview_free(&v);
	/* no header/body separator, and an empty message */
	parse_ok("Subject: only headers", &v);
	assert_string_equal(msgview_header(&v, "subject"), "only headers");
	msgview_free(&v);
	struct err e;
	assert_int_equal(msgview_parse("", 0, &v, &e), 0);
	assert_int_equal(v.nheaders, 0);
	msgview_free(&v);
}

static void test_big_attachment(void **state)
{
	(void)state;
	/* 40 MB of base64 (30 MB decoded) */
	size_t lines = (40u << 20) / 77;
	struct buf b;
	buf_init(&b, 64u << 20);
	buf_puts(&b, "Subject: big\nContent-Type: multipart/mixed; boundary=q\n\n"
		     "--q\nContent-Type: text/plain\n\nsee attached\n"
		     "--q\nContent-Type: application/zip; name=\"big.zip\"\n"
		     "Content-Transfer-Encoding: base64\n"
		     "Content-Disposition: attachment; filename=\"big.zip\"\n\n");
	for (size_t i = 0; i < lines; i++)
		buf_puts(&b, "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlqa2xtbm9wcXJzdHV2d3h5ejAx\n");
	buf_puts(&b, "--q--\n");
	struct msg_view v;
	double t0 = now_s();
	parse_ok(b.data, &v);
	double dt = now_s() - t0;
	printf("40 MB attachment: %.3f s CPU\n", dt);
	assert_true(dt < 10.0);
	assert_int_equal(v.nparts, 3);
	assert_string_equal(v.parts[2].filename, "big.zip");
	assert_true(v.parts[2].is_attachment);
	assert_int_equal(v.parts[2].size, lines * 54);
	assert_memory_equal(v.parts[2].data, "ABCDEFGHIJ", 10);
	assert_non_null(strstr(v.text.data, "see attached"));
	msgview_free(&v);
	buf_free(&b);
}

static void test_garbage(void **state)
{
	(void)state;
	/* mutations of a real message plus pure noise: never crash, always
	 * valid UTF-8 out (ASan/UBSan builds check the rest) */
	size_t n = sizeof alt_msg - 1;
	char *m = malloc(n);
	uint32_t seed = 12345;
	for (int round = 0; round < 2000; round++) {
		memcpy(m, alt_msg, n);
		int flips = 1 + round % 40;
		for (int k = 0; k < flips; k++) {
			seed = seed * 1103515245u + 12345u;
			size_t pos = (seed >> 8) % n;
			seed = seed * 1103515245u + 12345u;
			m[pos] = (round % 3 == 0) ? (char)(seed >> 16) : "<>&=-\n\"';:/"[(seed >> 16) % 11];
		}
		size_t len = round % 7 == 0 ? (seed >> 4) % n : n;
		struct msg_view v;
		struct err e;
		assert_int_equal(msgview_parse(m, len, &v, &e), 0);
		assert_true(g_utf8_validate(v.text.data ? v.text.data : "", (gssize)v.text.len, NULL));
		for (size_t i = 0; i < v.nheaders; i++)
			assert_true(g_utf8_validate(v.headers[i].value, -1, NULL));
		msgview_free(&v);
	}
	free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_headers_decoded),
		cmocka_unit_test(test_alternative_html),
		cmocka_unit_test(test_uri_normalize),
		cmocka_unit_test(test_charsets),
		cmocka_unit_test(test_deep_nesting),
		cmocka_unit_test(test_many_parts),
		cmocka_unit_test(test_many_uris),
		cmocka_unit_test(test_bad_base64_and_boundaries),
		cmocka_unit_test(test_big_attachment),
		cmocka_unit_test(test_garbage),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
