/* The SMTP client against the scripted server of client_test_fake.h, for
 * what smtp-sink cannot do: per-recipient verdicts, pipelining checks,
 * replies split byte by byte, malformed and over-long replies, STARTTLS,
 * SIZE. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "smtp/client_test_util.h"

/* One recipient unknown, the others delivered (scripted server: smtp-sink
 * rejects all recipients or none). */
static void test_one_rcpt_rejected(void **state)
{
	(void)state;
	static const char *rc[] = {"one@example.com", "nouser@example.com", "three@example.com"};
	struct rec r = {0};
	T.fake = (struct fake){.caps = "PIPELINING|8BITMIME|ENHANCEDSTATUSCODES"};
	fake_start(&T.fake);
	T.fake_on = 1;
	spool(msg1, sizeof msg1 - 1);
	struct smtp_client *c = open_client(T.fake.port, &r, NULL);
	start_txn(c, &r, "sender@example.org", rc, 3);
	wait_for(&r.txn_n, 1, 10);
	assert_true(r.conn_ok);
	assert_int_equal(r.r[0].code, 250);
	assert_string_equal(r.r[0].text, "queued as FAKE1");
	assert_int_equal(r.r[1].code, 550);
	assert_string_equal(r.r[1].enhanced, "5.1.1");
	assert_string_equal(r.r[1].text, "no such user here");
	assert_int_equal(r.r[2].code, 250);
	smtp_client_close(c);
	fake_done();
	assert_int_equal(T.fake.messages, 1);
	assert_int_equal(T.fake.rcpts, 2);
	assert_int_equal(T.fake.data_len, sizeof msg1 - 1 + 2);
	assert_memory_equal(T.fake.data, msg1, sizeof msg1 - 1);
}

/* ---- protocol details (scripted server) ---- */

static void test_pipelining_used(void **state)
{
	(void)state;
	struct rec r = {0};
	T.fake.check_pipe = 1;
	fake_up("PIPELINING");
	spool(msg1, sizeof msg1 - 1);
	struct smtp_client *c = deliver(T.fake.port, &r);
	for (int i = 0; i < 3; i++)
		assert_int_equal(r.r[i].code, 250);
	smtp_client_close(c);
	fake_done();
	assert_true(T.fake.pipelined);   /* MAIL, RCPTs and DATA in one go */
}

static void test_no_pipelining_waits(void **state)
{
	(void)state;
	struct rec r = {0};
	T.fake.check_pipe = 1;
	fake_up("8BITMIME");
	spool(msg1, sizeof msg1 - 1);
	struct smtp_client *c = deliver(T.fake.port, &r);
	for (int i = 0; i < 3; i++)
		assert_int_equal(r.r[i].code, 250);
	smtp_client_close(c);
	fake_done();
	assert_false(T.fake.extra);   /* nothing sent before MAIL was answered */
	assert_int_equal(T.fake.messages, 1);
}

static const char *hook_multiline(struct fake *f, const char *line)
{
	(void)f;
	if (!*line)
		return "220-fake.test ESMTP\r\n220-second banner line\r\n220 third\r\n";
	if (!strncmp(line, "MAIL", 4))
		return "250-2.1.0 first\r\n250-2.1.0 second\r\n250 2.1.0 sender ok\r\n";
	return NULL;
}

/* Multi-line replies written one byte at a time. */
static void test_split_multiline_replies(void **state)
{
	(void)state;
	struct rec r = {0};
	T.fake.slow = 1;
	T.fake.hook = hook_multiline;
	fake_up("PIPELINING|SIZE 1000000|8BITMIME|SMTPUTF8|ENHANCEDSTATUSCODES|X-UNKNOWN stuff");
	spool(msg1, sizeof msg1 - 1);
	struct smtp_client *c = deliver(T.fake.port, &r);
	assert_int_equal(smtp_client_extensions(c),
			 SMTP_EXT_PIPELINING | SMTP_EXT_SIZE | SMTP_EXT_8BITMIME | SMTP_EXT_SMTPUTF8 |
				 SMTP_EXT_ENHANCEDSTATUSCODES);
	for (int i = 0; i < 3; i++)
		assert_int_equal(r.r[i].code, 250);
	smtp_client_close(c);
	fake_done();
	char want[128];
	snprintf(want, sizeof want, "MAIL FROM:<sender@example.org> SIZE=%zu BODY=8BITMIME",
		 sizeof msg1 - 1);
	assert_string_equal(T.fake.mail, want);
}

static const char *hook_long_line(struct fake *f, const char *line)
{
	static char big[6000];
	(void)f;
	if (*line)
		return NULL;
	memset(big, 'x', sizeof big - 1);
	memcpy(big, "220 ", 4);
	return big;   /* no line end within 4 KiB */
}

static void test_overlong_reply_line(void **state)
{
	(void)state;
	struct rec r = {0};
	T.fake.hook = hook_long_line;
	fake_up(NULL);
	struct smtp_client *c = open_client(T.fake.port, &r, NULL);
	assert_false(r.ok);
	assert_int_equal(r.why.code, 0);
	assert_string_equal(r.why.text, "protocol error: reply line longer than 4096 bytes");
	smtp_client_close(c);
}

static const char *hook_garbage(struct fake *f, const char *line)
{
	(void)f;
	if (!strncmp(line, "RCPT TO:<two", 12))
		return "HTTP/1.1 400 Bad Request\r\n\x01\xff\r\n";
	return NULL;
}

static void test_garbage_reply(void **state)
{
	(void)state;
	struct rec r = {0};
	T.fake.hook = hook_garbage;
	fake_up("PIPELINING");
	spool(msg1, sizeof msg1 - 1);
	struct smtp_client *c = deliver(T.fake.port, &r);
	assert_false(r.conn_ok);
	assert_int_equal(r.r[0].code, 0);   /* accepted, but no final verdict */
	for (int i = 0; i < 3; i++)
		assert_string_equal(r.r[i].text,
				    "protocol error: malformed reply line: HTTP/1.1 400 Bad Request");
	assert_false(smtp_client_usable(c));
	smtp_client_close(c);
	fake_done();
	assert_int_equal(T.fake.messages, 0);
}

static const char *hook_mixed_codes(struct fake *f, const char *line)
{
	(void)f;
	if (!strncmp(line, "MAIL", 4))
		return "250-ok\r\n550 not ok\r\n";
	return NULL;
}

static void test_inconsistent_multiline(void **state)
{
	(void)state;
	struct rec r = {0};
	T.fake.hook = hook_mixed_codes;
	fake_up(NULL);
	spool(msg1, sizeof msg1 - 1);
	struct smtp_client *c = deliver(T.fake.port, &r);
	assert_false(r.conn_ok);
	assert_int_equal(r.r[0].code, 0);
	assert_non_null(strstr(r.r[0].text, "reply code changed"));
	smtp_client_close(c);
}

static void test_starttls(void **state)
{
	(void)state;
	struct rec r = {0};
	T.fake.tls = fake_tls_ctx();
	fake_up("PIPELINING");
	spool(msg1, sizeof msg1 - 1);
	SSL_CTX *cctx = SSL_CTX_new(TLS_client_method());
	struct smtp_client *c = open_client(T.fake.port, &r, cctx);
	assert_true(r.ok);
	assert_true(smtp_client_tls_active(c));
	assert_false(smtp_client_extensions(c) & SMTP_EXT_STARTTLS);   /* the post-TLS EHLO */
	start_txn(c, &r, "sender@example.org", rcpt3, 3);
	wait_for(&r.txn_n, 1, 10);
	for (int i = 0; i < 3; i++)
		assert_int_equal(r.r[i].code, 250);
	smtp_client_close(c);
	fake_done();
	assert_true(T.fake.tls_used);
	assert_int_equal(T.fake.ehlos, 2);
	assert_memory_equal(T.fake.data, msg1, sizeof msg1 - 1);
	SSL_CTX_free(cctx);
}

static const char *hook_starttls_inject(struct fake *f, const char *line)
{
	(void)f;
	if (!strncmp(line, "STARTTLS", 8))   /* a reply smuggled in before TLS */
		return "220 2.0.0 ready\r\n250 injected\r\n";
	return NULL;
}

static void test_starttls_injection_refused(void **state)
{
	(void)state;
	struct rec r = {0};
	T.fake.tls = fake_tls_ctx();
	T.fake.hook = hook_starttls_inject;
	fake_up(NULL);
	SSL_CTX *cctx = SSL_CTX_new(TLS_client_method());
	struct smtp_client *c = open_client(T.fake.port, &r, cctx);
	assert_false(r.ok);
	assert_int_equal(r.why.code, 0);
	assert_string_equal(r.why.text, "protocol error: data after the STARTTLS reply");
	smtp_client_close(c);
	SSL_CTX_free(cctx);
}

static const char *hook_starttls_plain(struct fake *f, const char *line)
{
	(void)f;
	if (!strncmp(line, "STARTTLS", 8))   /* says yes, then never does TLS */
		return "220 2.0.0 ready\r\n";
	return NULL;
}

static void test_tls_handshake_fails(void **state)
{
	(void)state;
	struct rec r = {0};
	T.fake.tls = fake_tls_ctx();
	T.fake.hook = hook_starttls_plain;
	fake_up(NULL);
	SSL_CTX *cctx = SSL_CTX_new(TLS_client_method());
	struct smtp_client *c = open_client(T.fake.port, &r, cctx);
	assert_false(r.ok);
	assert_int_equal(r.why.code, 0);
	/* the server answers the ClientHello in clear text, or not at all */
	assert_true(strncmp(r.why.text, "TLS: ", 5) == 0 ||
		    strcmp(r.why.text, "timeout waiting for TLS handshake") == 0);
	smtp_client_close(c);
	SSL_CTX_free(cctx);
}

/* The server's SIZE limit is checked before anything is sent. */
static void test_size_limit(void **state)
{
	(void)state;
	struct rec r = {0};
	struct smtp_client *c;
	spool(msg1, sizeof msg1 - 1);
	fake_up("SIZE 10");
	c = open_client(T.fake.port, &r, NULL);
	start_txn(c, &r, "sender@example.org", rcpt3, 2);
	wait_for(&r.txn_n, 1, 5);
	assert_int_equal(r.r[0].code, 552);
	assert_int_equal(r.r[1].code, 552);
	assert_string_equal(r.r[1].enhanced, "5.3.4");
	smtp_client_close(c);
	fake_done();
	assert_int_equal(T.fake.mail[0], '\0');   /* no MAIL sent */
}

#define T_(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	const struct CMUnitTest tests[] = {
		T_(test_one_rcpt_rejected),
		T_(test_pipelining_used),
		T_(test_no_pipelining_waits),
		T_(test_split_multiline_replies),
		T_(test_overlong_reply_line),
		T_(test_garbage_reply),
		T_(test_inconsistent_multiline),
		T_(test_starttls),
		T_(test_starttls_injection_refused),
		T_(test_tls_handshake_fails),
		T_(test_size_limit),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
