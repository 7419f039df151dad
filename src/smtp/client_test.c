/* The SMTP client against a real server on loopback: Postfix's smtp-sink
 * (delivery, dot-stuffing, rejections, disconnects, delays), plus network
 * failures and the API contract. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "smtp/client_test_util.h"

/* ---- delivery through smtp-sink ---- */

static void test_deliver_multi_rcpt_dotstuff(void **state)
{
	(void)state;
	struct rec r = {0};
	sink_start(NULL);
	spool(msg1, sizeof msg1 - 1);
	struct smtp_client *c = deliver(T.sink_port, &r);
	assert_true(smtp_client_extensions(c) & SMTP_EXT_PIPELINING);
	assert_true(r.conn_ok);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(r.r[i].code, 250);
		assert_string_equal(r.r[i].enhanced, "2.0.0");
		assert_string_equal(r.r[i].text, "Ok");
	}
	assert_true(smtp_client_usable(c));
	smtp_client_close(c);
	assert_false(smtp_client_usable(c) && 0);

	char *d[4];
	assert_int_equal(sink_dumps(d, 4), 1);
	assert_non_null(strstr(d[0], "X-Helo-Args: client.test\n"));
	assert_non_null(strstr(d[0], "X-Mail-Args: <sender@example.org> BODY=8BITMIME\n"));
	assert_non_null(strstr(d[0], "X-Rcpt-Args: <one@example.com>\nX-Rcpt-Args: <two@example.com>\n"
				     "X-Rcpt-Args: <three@example.com>\n"));
	/* smtp-sink removes one leading dot per line: what it stored is the
	 * original only if every line-leading dot was doubled on the wire;
	 * the last line got its CRLF */
	char *want = lf_of(msg1, sizeof msg1 - 1, "\n\n");
	assert_string_equal(dump_body(d[0]), want);
	free(want);
	free(d[0]);
}

/* Several MiB through the chunked, flow-controlled sender. */
static void test_large_message(void **state)
{
	(void)state;
	size_t cap = 5 << 20, n = 0;
	char *msg = malloc(cap);
	n += (size_t)snprintf(msg, cap, "Subject: big\r\n\r\n");
	for (int i = 0; n + 100 < cap; i++)
		n += (size_t)snprintf(msg + n, cap - n, i % 7 ? "line %d of the big message\r\n" : ".%d\r\n", i);
	struct rec r = {0};
	sink_start(NULL);
	spool(msg, n);
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	struct smtp_client *c = deliver(T.sink_port, &r);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	print_message("%zu bytes in %.0f ms\n", n,
		      (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6);
	for (int i = 0; i < 3; i++)
		assert_int_equal(r.r[i].code, 250);
	smtp_client_close(c);
	char *d[2];
	assert_int_equal(sink_dumps(d, 2), 1);
	char *want = lf_of(msg, n, "\n");
	assert_string_equal(dump_body(d[0]), want);
	free(want);
	free(d[0]);
	free(msg);
}

/* Two transactions on one connection, the second started from the first's
 * callback. */
static void test_connection_reuse(void **state)
{
	(void)state;
	struct rec r = {.chain = 1};
	sink_start(NULL);
	spool(msg1, sizeof msg1 - 1);
	struct smtp_client *c = deliver(T.sink_port, &r);
	wait_for(&r.txn_n, 2, 10);
	assert_int_equal(r.txn_n, 2);
	assert_int_equal(r.n, 1);
	assert_int_equal(r.r[0].code, 250);
	assert_true(smtp_client_usable(c));
	smtp_client_close(c);
	char *d[4];
	assert_int_equal(sink_dumps(d, 4), 2);
	int second = strstr(d[0], "<second@example.org>") ? 0 : 1;
	assert_non_null(strstr(d[second], "X-Rcpt-Args: <one@example.com>\nReceived"));
	free(d[0]);
	free(d[1]);
}

static void test_no_pipelining_server(void **state)
{
	(void)state;
	struct rec r = {0};
	sink_start("-p", NULL);
	spool(msg1, sizeof msg1 - 1);
	struct smtp_client *c = deliver(T.sink_port, &r);
	assert_false(smtp_client_extensions(c) & SMTP_EXT_PIPELINING);
	for (int i = 0; i < 3; i++)
		assert_int_equal(r.r[i].code, 250);
	smtp_client_close(c);
	char *d[2];
	assert_int_equal(sink_dumps(d, 2), 1);
	free(d[0]);
}

static void test_helo_fallback(void **state)
{
	(void)state;
	struct rec r = {0};
	sink_start("-f", "EHLO", NULL);
	spool(msg1, sizeof msg1 - 1);
	struct smtp_client *c = deliver(T.sink_port, &r);
	assert_int_equal(smtp_client_extensions(c), 0);
	for (int i = 0; i < 3; i++)
		assert_int_equal(r.r[i].code, 250);
	smtp_client_close(c);
	char *d[2];
	assert_int_equal(sink_dumps(d, 2), 1);
	assert_non_null(strstr(d[0], "X-Client-Proto: SMTP\n"));
	assert_non_null(strstr(d[0], "X-Mail-Args: <sender@example.org>\n"));   /* no ESMTP params */
	free(d[0]);
}

/* ---- rejections ---- */

static void test_all_rcpts_rejected_5xx(void **state)
{
	(void)state;
	struct rec r = {0};
	sink_start("-f", "RCPT", NULL);
	spool(msg1, sizeof msg1 - 1);
	struct smtp_client *c = deliver(T.sink_port, &r);
	assert_true(r.conn_ok);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(r.r[i].code, 500);
		assert_string_equal(r.r[i].enhanced, "5.3.0");
		assert_string_equal(r.r[i].text, "Error: command failed");
	}
	/* MAIL was accepted: RSET cleared it and the next one works */
	assert_true(smtp_client_usable(c));
	start_txn(c, &r, "again@example.org", rcpt3, 2);
	wait_for(&r.txn_n, 2, 10);
	assert_int_equal(r.txn_n, 2);
	assert_int_equal(r.r[1].code, 500);
	smtp_client_close(c);
	char *d[2];
	assert_int_equal(sink_dumps(d, 2), 0);
}

static void test_rcpts_rejected_4xx(void **state)
{
	(void)state;
	struct rec r = {0};
	sink_start("-r", "RCPT", NULL);
	spool(msg1, sizeof msg1 - 1);
	struct smtp_client *c = deliver(T.sink_port, &r);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(r.r[i].code, 450);
		assert_string_equal(r.r[i].enhanced, "4.3.0");
	}
	assert_true(smtp_client_usable(c));
	smtp_client_close(c);
}

static void test_end_of_data_rejected(void **state)
{
	(void)state;
	struct rec r = {0};
	sink_start("-r", ".", NULL);
	spool(msg1, sizeof msg1 - 1);
	struct smtp_client *c = deliver(T.sink_port, &r);
	assert_true(r.conn_ok);
	for (int i = 0; i < 3; i++)
		assert_int_equal(r.r[i].code, 450);
	assert_true(smtp_client_usable(c));
	smtp_client_close(c);
}

static void test_data_command_rejected(void **state)
{
	(void)state;
	struct rec r = {0};
	sink_start("-f", "DATA", NULL);
	spool(msg1, sizeof msg1 - 1);
	struct smtp_client *c = deliver(T.sink_port, &r);
	for (int i = 0; i < 3; i++)
		assert_int_equal(r.r[i].code, 500);
	assert_true(smtp_client_usable(c));   /* after RSET */
	smtp_client_close(c);
}

/* ---- network failures and timeouts ---- */

static void test_connection_refused(void **state)
{
	(void)state;
	struct rec r = {0};
	struct smtp_client *c = open_client(free_port(), &r, NULL);
	assert_false(r.ok);
	assert_int_equal(r.why.code, 0);
	assert_non_null(strstr(r.why.text, "refused"));
	assert_false(smtp_client_usable(c));
	struct smtp_txn t = {.mail_from = "", .rcpts = rcpt3, .nrcpt = 1, .fd = 0};
	assert_int_equal(smtp_client_send(c, &t, on_txn, &r), -1);
	smtp_client_close(c);
}

/* A server whose kernel accepts the connection but never says a word. */
static void test_banner_timeout(void **state)
{
	(void)state;
	struct rec r = {0};
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof sa;
	int lfd = socket(AF_INET, SOCK_STREAM, 0);
	bind(lfd, (struct sockaddr *)&sa, sizeof sa);
	listen(lfd, 4);
	getsockname(lfd, (struct sockaddr *)&sa, &len);
	time_t t0 = time(NULL);
	struct smtp_client *c = open_client(ntohs(sa.sin_port), &r, NULL);
	assert_false(r.ok);
	assert_int_equal(r.why.code, 0);
	assert_string_equal(r.why.text, "timeout waiting for banner");
	assert_true(time(NULL) - t0 <= 4);
	smtp_client_close(c);
	close(lfd);
}

static void test_final_reply_timeout(void **state)
{
	(void)state;
	struct rec r = {0};
	sink_start("-W", ".:5", NULL);
	spool(msg1, sizeof msg1 - 1);
	struct smtp_client *c = deliver(T.sink_port, &r);
	assert_false(r.conn_ok);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(r.r[i].code, 0);
		assert_string_equal(r.r[i].text, "timeout waiting for reply to end of data");
	}
	assert_false(smtp_client_usable(c));
	smtp_client_close(c);
}

static void test_disconnect_after_rcpt(void **state)
{
	(void)state;
	struct rec r = {0};
	sink_start("-q", "RCPT", NULL);
	spool(msg1, sizeof msg1 - 1);
	struct smtp_client *c = deliver(T.sink_port, &r);
	assert_false(r.conn_ok);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(r.r[i].code, 0);
		assert_non_null(strstr(r.r[i].text, "connection closed by server during reply to RCPT"));
	}
	assert_false(smtp_client_usable(c));
	smtp_client_close(c);
}

static void test_421_on_mail(void **state)
{
	(void)state;
	struct rec r = {0};
	sink_start("-Q", "MAIL", NULL);
	spool(msg1, sizeof msg1 - 1);
	struct smtp_client *c = deliver(T.sink_port, &r);
	assert_false(r.conn_ok);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(r.r[i].code, 421);
		assert_string_equal(r.r[i].enhanced, "4.0.0");
	}
	assert_false(smtp_client_usable(c));
	smtp_client_close(c);
}

/* The server answers DATA, then gives up with 550 and hangs up. */
static void test_abort_during_data(void **state)
{
	(void)state;
	struct rec r = {0};
	sink_start("-A", "1", NULL);
	spool(msg1, sizeof msg1 - 1);
	struct smtp_client *c = deliver(T.sink_port, &r);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(r.r[i].code, 550);
		assert_string_equal(r.r[i].text, "This violates SMTP");
	}
	run_for_ms(200);
	assert_false(smtp_client_usable(c));
	smtp_client_close(c);
}

/* smtp-sink drops idle sessions silently after its -t timeout. */
static void test_idle_disconnect_noticed(void **state)
{
	(void)state;
	struct rec r = {0};
	sink_start("-t", "1", NULL);
	struct smtp_client *c = open_client(T.sink_port, &r, NULL);
	assert_true(r.ok);
	assert_true(smtp_client_usable(c));
	run_for_ms(1800);
	assert_false(smtp_client_usable(c));
	struct smtp_txn t = {.mail_from = "", .rcpts = rcpt3, .nrcpt = 1, .fd = 0};
	assert_int_equal(smtp_client_send(c, &t, on_txn, &r), -1);
	smtp_client_close(c);
}

static void test_banner_rejected(void **state)
{
	(void)state;
	struct rec r = {0};
	sink_start("-f", "CONNECT", NULL);
	struct smtp_client *c = open_client(T.sink_port, &r, NULL);
	assert_false(r.ok);
	assert_int_equal(r.why.code, 500);
	smtp_client_close(c);
}

/* Opportunistic: no STARTTLS offered, carry on in clear text. */
static void test_starttls_not_offered(void **state)
{
	(void)state;
	struct rec r = {0};
	sink_start(NULL);
	SSL_CTX *cctx = SSL_CTX_new(TLS_client_method());
	struct smtp_client *c = open_client(T.sink_port, &r, cctx);
	assert_true(r.ok);
	assert_false(smtp_client_tls_active(c));
	smtp_client_close(c);
	drain();
	SSL_CTX_free(cctx);
}

/* ---- API contract ---- */

static void test_local_outcomes(void **state)
{
	(void)state;
	static const char *utf8[] = {"j\xc3\xb6rg@example.com"};
	struct rec r = {0};
	sink_start(NULL);
	spool(msg1, sizeof msg1 - 1);
	struct smtp_client *c = open_client(T.sink_port, &r, NULL);
	start_txn(c, &r, "sender@example.org", utf8, 1);
	assert_int_equal(r.txn_n, 0);   /* decided locally, told later */
	wait_for(&r.txn_n, 1, 5);
	assert_int_equal(r.r[0].code, 553);
	assert_string_equal(r.r[0].enhanced, "5.6.7");
	assert_true(smtp_client_usable(c));
	smtp_client_close(c);
	char *d[2];
	assert_int_equal(sink_dumps(d, 2), 0);

}

static void test_invalid_arguments(void **state)
{
	(void)state;
	static const char *bad1[] = {"a@b\r\nRSET"};
	static const char *bad2[] = {"<a@b>"};
	static const char *bad3[] = {""};
	char longaddr[700];
	memset(longaddr, 'a', sizeof longaddr - 1);
	longaddr[sizeof longaddr - 1] = '\0';
	const char *bad4[] = {longaddr};
	struct rec r = {0};
	sink_start(NULL);
	spool(msg1, sizeof msg1 - 1);
	struct smtp_client *c = open_client(T.sink_port, &r, NULL);
	struct smtp_txn t = {.mail_from = "s@d", .rcpts = rcpt3, .nrcpt = 0, .fd = T.fd};
	assert_int_equal(smtp_client_send(c, &t, on_txn, &r), -1);
	t.nrcpt = SMTP_CLIENT_MAX_RCPT + 1;
	assert_int_equal(smtp_client_send(c, &t, on_txn, &r), -1);
	t.nrcpt = 1;
	const char **bads[] = {bad1, bad2, bad3, bad4};
	for (int i = 0; i < 4; i++) {
		t.rcpts = bads[i];
		assert_int_equal(smtp_client_send(c, &t, on_txn, &r), -1);
	}
	t.rcpts = rcpt3;
	t.mail_from = "x\ry";
	assert_int_equal(smtp_client_send(c, &t, on_txn, &r), -1);
	t.mail_from = "";
	t.fd = -1;
	assert_int_equal(smtp_client_send(c, &t, on_txn, &r), -1);
	t.fd = T.fd;
	assert_int_equal(smtp_client_send(c, &t, on_txn, &r), 0);
	assert_int_equal(smtp_client_send(c, &t, on_txn, &r), -1);   /* busy */
	wait_for(&r.txn_n, 1, 5);
	assert_int_equal(r.r[0].code, 250);

	struct smtp_client_opts o = {.helo_name = "bad name"};
	struct sockaddr_in sa = {.sin_family = AF_INET};
	assert_null(smtp_client_connect(T.base, (struct sockaddr *)&sa, sizeof sa, &o, on_ready, &r));
	smtp_client_close(c);
	smtp_client_close(NULL);
}

/* Closing mid-transaction: the callback never comes. */
static void test_close_during_transaction(void **state)
{
	(void)state;
	struct rec r = {0};
	sink_start("-W", ".:2", NULL);
	spool(msg1, sizeof msg1 - 1);
	struct smtp_client *c = open_client(T.sink_port, &r, NULL);
	start_txn(c, &r, "sender@example.org", rcpt3, 3);
	run_for_ms(300);
	smtp_client_close(c);
	run_for_ms(2500);
	drain();
	assert_int_equal(r.txn_n, 0);
}

static void test_close_in_ready_callback(void **state)
{
	(void)state;
	struct rec r = {.close_in_ready = 1};
	sink_start(NULL);
	open_client(T.sink_port, &r, NULL);
	assert_true(r.ok);
	drain();   /* QUIT finished in the background, client freed */

	/* also on failure */
	struct rec r2 = {.close_in_ready = 1};
	open_client(free_port(), &r2, NULL);
	assert_false(r2.ok);
}

#define T_(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	const struct CMUnitTest tests[] = {
		T_(test_deliver_multi_rcpt_dotstuff),
		T_(test_large_message),
		T_(test_connection_reuse),
		T_(test_no_pipelining_server),
		T_(test_helo_fallback),
		T_(test_all_rcpts_rejected_5xx),
		T_(test_rcpts_rejected_4xx),
		T_(test_end_of_data_rejected),
		T_(test_data_command_rejected),
		T_(test_connection_refused),
		T_(test_banner_timeout),
		T_(test_final_reply_timeout),
		T_(test_disconnect_after_rcpt),
		T_(test_421_on_mail),
		T_(test_abort_during_data),
		T_(test_idle_disconnect_noticed),
		T_(test_banner_rejected),
		T_(test_starttls_not_offered),
		T_(test_local_outcomes),
		T_(test_invalid_arguments),
		T_(test_close_during_transaction),
		T_(test_close_in_ready_callback),
	};
	if (access(SINK, X_OK) != 0) {
		fprintf(stderr, "client_test: %s missing (install postfix)\n", SINK);
		return 1;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
