/* dsn_build: the produced message is parsed back with GMime. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <gmime/gmime.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "smtp/dsn.h"
#include "util/fsutil.h"

static char tmpdir[64];

struct spool {
	int fd;
	off_t off;
	size_t len;
};

static struct spool make_spool(const char *msg, size_t len)
{
	static int seq;
	char path[128];
	static const char pre[] = "SPOOL-ENVELOPE\r\n\r\n";
	snprintf(path, sizeof path, "%s/m%d", tmpdir, seq++);
	struct spool s = {open(path, O_RDWR | O_CREAT | O_TRUNC, 0600), sizeof pre - 1, len};
	assert_true(s.fd >= 0);
	assert_int_equal(fs_write_full(s.fd, pre, sizeof pre - 1), 0);
	assert_int_equal(fs_write_full(s.fd, msg, len), 0);
	return s;
}

static GMimeMessage *parse(const struct buf *b)
{
	GMimeStream *st = g_mime_stream_mem_new_with_buffer(b->data, b->len);
	GMimeParser *p = g_mime_parser_new_with_stream(st);
	GMimeMessage *m = g_mime_parser_construct_message(p, NULL);
	g_object_unref(p);
	g_object_unref(st);
	assert_non_null(m);
	return m;
}

/* Raw content of a leaf part (the bytes between its headers and the next
 * boundary), as a NUL-terminated string to free. */
static char *part_text(GMimeObject *o)
{
	GMimeDataWrapper *w = NULL;
	if (GMIME_IS_PART(o))
		w = g_mime_part_get_content(GMIME_PART(o));
	assert_non_null(w);
	GMimeStream *mem = g_mime_stream_mem_new();
	g_mime_data_wrapper_write_to_stream(w, mem);
	GByteArray *arr = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(mem));
	char *s = g_strndup((const char *)arr->data, arr->len);
	g_object_unref(mem);
	return s;
}

static const char *hdr(GMimeObject *o, const char *name)
{
	return g_mime_object_get_header(o, name);
}

static const char orig[] = "From: Alice <alice@example.org>\r\n"
			   "To: bob@example.com, carol@example.com\r\n"
			   "Subject: quarterly numbers\r\n"
			   "Message-ID: <abc@example.org>\r\n"
			   "\r\n"
			   "SECRET BODY TEXT\r\n";

static void test_bounce_structure(void **state)
{
	(void)state;
	struct spool s = make_spool(orig, sizeof orig - 1);
	struct dsn_rcpt r[2] = {
		{"bob@example.com", "5.1.1", "smtp; 550 5.1.1 <bob@example.com>: no such user",
		 "mx.example.com", 0},
		{"carol@example.com", "5.4.7", "X-rampart; delivery time expired", NULL, 0},
	};
	struct buf out;
	struct err e;
	buf_init(&out, 1 << 20);
	assert_int_equal(dsn_build(&out, "gw.example.net", "alice@example.org", "ENV123",
				   1700000000, r, 2, s.fd, s.off, s.len, &e),
			 0);
	/* CRLF everywhere, no bare LF */
	for (size_t i = 0; i < out.len; i++)
		if (out.data[i] == '\n')
			assert_int_equal(out.data[i - 1], '\r');

	GMimeMessage *m = parse(&out);
	GMimeObject *mo = GMIME_OBJECT(m);
	assert_string_equal(g_mime_message_get_subject(m), "Undelivered Mail Returned to Sender");
	InternetAddressList *from = g_mime_message_get_from(m);
	assert_int_equal(internet_address_list_length(from), 1);
	assert_string_equal(
		internet_address_mailbox_get_addr(INTERNET_ADDRESS_MAILBOX(internet_address_list_get_address(from, 0))),
		"MAILER-DAEMON@gw.example.net");
	InternetAddressList *to = g_mime_message_get_to(m);
	assert_string_equal(
		internet_address_mailbox_get_addr(INTERNET_ADDRESS_MAILBOX(internet_address_list_get_address(to, 0))),
		"alice@example.org");
	assert_string_equal(hdr(mo, "Auto-Submitted"), "auto-replied");
	assert_non_null(g_mime_message_get_message_id(m));
	assert_non_null(g_mime_message_get_date(m));

	GMimeObject *body = g_mime_message_get_mime_part(m);
	GMimeContentType *ct = g_mime_object_get_content_type(body);
	assert_true(g_mime_content_type_is_type(ct, "multipart", "report"));
	assert_string_equal(g_mime_content_type_get_parameter(ct, "report-type"), "delivery-status");
	assert_true(GMIME_IS_MULTIPART(body));
	GMimeMultipart *mp = GMIME_MULTIPART(body);
	assert_int_equal(g_mime_multipart_get_count(mp), 3);

	GMimeObject *p1 = g_mime_multipart_get_part(mp, 0);
	GMimeObject *p2 = g_mime_multipart_get_part(mp, 1);
	GMimeObject *p3 = g_mime_multipart_get_part(mp, 2);
	assert_true(g_mime_content_type_is_type(g_mime_object_get_content_type(p1), "text", "plain"));
	assert_true(g_mime_content_type_is_type(g_mime_object_get_content_type(p2), "message",
						 "delivery-status"));
	assert_true(g_mime_content_type_is_type(g_mime_object_get_content_type(p3), "text",
						 "rfc822-headers"));

	char *notice = part_text(p1);
	assert_non_null(strstr(notice, "gw.example.net"));
	assert_non_null(strstr(notice, "<bob@example.com>: 550 5.1.1 <bob@example.com>: no such user"));
	assert_non_null(strstr(notice, "<carol@example.com>: delivery time expired"));
	g_free(notice);

	char *ds = part_text(p2);
	assert_non_null(strstr(ds, "Reporting-MTA: dns; gw.example.net\r\n"));
	assert_non_null(strstr(ds, "Original-Envelope-Id: ENV123\r\n"));
	assert_non_null(strstr(ds, "Arrival-Date: Tue, 14 Nov 2023 22:13:20 +0000\r\n"));
	assert_non_null(strstr(ds, "\r\n\r\nFinal-Recipient: rfc822; bob@example.com\r\n"
				   "Action: failed\r\n"
				   "Status: 5.1.1\r\n"
				   "Remote-MTA: dns; mx.example.com\r\n"
				   "Diagnostic-Code: smtp; 550 5.1.1 <bob@example.com>: no such user\r\n"));
	assert_non_null(strstr(ds, "\r\n\r\nFinal-Recipient: rfc822; carol@example.com\r\n"
				   "Action: failed\r\n"
				   "Status: 5.4.7\r\n"
				   "Diagnostic-Code: X-rampart; delivery time expired\r\n"));
	g_free(ds);

	char *h = part_text(p3);
	assert_non_null(strstr(h, "Subject: quarterly numbers\r\n"));
	assert_non_null(strstr(h, "Message-ID: <abc@example.org>\r\n"));
	assert_null(strstr(h, "SECRET BODY"));
	assert_null(strstr(h, "SPOOL-ENVELOPE"));
	g_free(h);

	g_object_unref(m);
	buf_free(&out);
	close(s.fd);
}

static void test_null_sender_refused(void **state)
{
	(void)state;
	struct spool s = make_spool(orig, sizeof orig - 1);
	struct dsn_rcpt r = {"bob@example.com", "5.1.1", "smtp; 550 no", NULL, 0};
	struct buf out;
	struct err e;
	buf_init(&out, 1 << 20);
	assert_int_equal(dsn_build(&out, "gw.example.net", "", NULL, 0, &r, 1, s.fd, s.off, s.len, &e),
			 -1);
	assert_non_null(strstr(e.msg, "null sender"));
	assert_int_equal(dsn_build(&out, "gw.example.net", "<>", NULL, 0, &r, 1, s.fd, s.off, s.len,
				   &e),
			 -1);
	assert_int_equal(dsn_build(&out, "gw.example.net", NULL, NULL, 0, &r, 1, s.fd, s.off, s.len,
				   &e),
			 -1);
	assert_int_equal(out.len, 0);
	/* other bad arguments */
	assert_int_equal(dsn_build(&out, "bad host\r\nX: y", "a@b", NULL, 0, &r, 1, s.fd, s.off, s.len,
				   &e),
			 -1);
	assert_int_equal(dsn_build(&out, "gw", "a@b", NULL, 0, &r, 0, s.fd, s.off, s.len, &e), -1);
	buf_free(&out);
	close(s.fd);
}

/* Remote text is hostile: no header or MIME injection, bounded lines. */
static void test_hostile_diagnostic(void **state)
{
	(void)state;
	struct spool s = make_spool(orig, sizeof orig - 1);
	char longdiag[3000];
	memset(longdiag, 'x', sizeof longdiag - 1);
	longdiag[sizeof longdiag - 1] = '\0';
	struct dsn_rcpt r[2] = {
		{"bob@example.com", "5.1.1\r\nX-Injected: 1",
		 "smtp; 550 bad\r\nX-Injected: yes\r\n\r\n--boundary", "mx\r\nX-Injected: 2", 0},
		{"carol@example.com", "5.0.0", longdiag, NULL, 0},
	};
	struct buf out;
	struct err e;
	buf_init(&out, 1 << 20);
	assert_int_equal(dsn_build(&out, "gw.example.net", "alice@example.org", "id\r\nX-Injected: 3",
				   0, r, 2, s.fd, s.off, s.len, &e),
			 0);
	assert_null(strstr(out.data, "\nX-Injected"));
	assert_non_null(strstr(out.data, "Status: 5.0.0\r\n"));   /* bad status replaced */
	size_t line = 0;
	for (size_t i = 0; i < out.len; i++) {
		line = out.data[i] == '\n' ? 0 : line + 1;
		assert_true(line < 998);
	}
	GMimeMessage *m = parse(&out);
	assert_int_equal(g_mime_multipart_get_count(GMIME_MULTIPART(g_mime_message_get_mime_part(m))),
			 3);
	g_object_unref(m);
	buf_free(&out);
	close(s.fd);
}

static void test_delay_warning(void **state)
{
	(void)state;
	struct spool s = make_spool(orig, sizeof orig - 1);
	struct dsn_rcpt r[2] = {
		{"bob@example.com", "4.4.1", "connection refused", "mx.example.com", 1},
		{"carol@example.com", "4.2.2", "452 4.2.2 mailbox full", "mx.example.com", 1},
	};
	struct buf out;
	struct err e;
	buf_init(&out, 1 << 20);
	assert_int_equal(dsn_build(&out, "gw.example.net", "alice@example.org", NULL, 0, r, 2,
				   s.fd, s.off, s.len, &e),
			 0);
	GMimeMessage *m = parse(&out);
	assert_string_equal(g_mime_message_get_subject(m), "Delayed Mail (still being retried)");
	GMimeObject *p2 = g_mime_multipart_get_part(GMIME_MULTIPART(g_mime_message_get_mime_part(m)), 1);
	char *ds = part_text(p2);
	assert_non_null(strstr(ds, "Action: delayed\r\nStatus: 4.4.1\r\n"));
	/* a diagnostic without a type gets one */
	assert_non_null(strstr(ds, "Diagnostic-Code: X-rampart; connection refused\r\n"));
	assert_non_null(strstr(ds, "Diagnostic-Code: smtp; 452 4.2.2 mailbox full\r\n"));
	assert_null(strstr(ds, "Original-Envelope-Id"));
	g_free(ds);
	g_object_unref(m);
	buf_free(&out);
	close(s.fd);
}

/* A header block with no end within 64 KiB is cut at a line boundary; a
 * message without a body is all header. */
static void test_header_cap(void **state)
{
	(void)state;
	size_t n = 200 * 1024;
	char *msg = malloc(n);
	size_t o = 0;
	while (o + 40 < n)
		o += (size_t)snprintf(msg + o, n - o, "X-Filler-%06zu: yyyyyyyyyyyyyyy\r\n", o);
	struct spool s = make_spool(msg, o);
	struct dsn_rcpt r = {"bob@example.com", "5.3.4", "smtp; 552 too big", NULL, 0};
	struct buf out;
	struct err e;
	buf_init(&out, 1 << 20);
	assert_int_equal(dsn_build(&out, "gw", "a@example.org", NULL, 0, &r, 1, s.fd, s.off, s.len,
				   &e),
			 0);
	GMimeMessage *m = parse(&out);
	GMimeObject *p3 = g_mime_multipart_get_part(GMIME_MULTIPART(g_mime_message_get_mime_part(m)), 2);
	char *h = part_text(p3);
	size_t hl = strlen(h);
	assert_true(hl <= DSN_MAX_HEADERS);
	assert_true(hl > DSN_MAX_HEADERS - 100);
	assert_memory_equal(h + hl - 2, "\r\n", 2);
	assert_memory_equal(h, msg, hl);
	g_free(h);
	g_object_unref(m);
	close(s.fd);

	/* body-less message without final CRLF */
	static const char tiny[] = "Subject: only\r\nFrom: a@b";
	s = make_spool(tiny, sizeof tiny - 1);
	buf_reset(&out);
	assert_int_equal(dsn_build(&out, "gw", "a@example.org", NULL, 0, &r, 1, s.fd, s.off, s.len,
				   &e),
			 0);
	assert_non_null(strstr(out.data, "Subject: only\r\nFrom: a@b\r\n\r\n--"));
	close(s.fd);

	/* file shorter than claimed */
	assert_int_equal(dsn_build(&out, "gw", "a@example.org", NULL, 0, &r, 1, s.fd, s.off,
				   s.len + 10, &e),
			 -1);
	buf_free(&out);
	free(msg);
}

static void test_small_buffer_and_utf8(void **state)
{
	(void)state;
	struct spool s = make_spool(orig, sizeof orig - 1);
	struct dsn_rcpt r = {"j\xc3\xb6rg@b\xc3\xbc" "cher.example", "5.1.1", "smtp; 550 no", NULL, 0};
	struct buf out;
	struct err e;
	buf_init(&out, 500);
	assert_int_equal(buf_puts(&out, "keep"), 0);
	assert_int_equal(dsn_build(&out, "gw", "a@example.org", NULL, 0, &r, 1, s.fd, s.off, s.len,
				   &e),
			 -1);
	assert_string_equal(out.data, "keep");   /* nothing half-built left */
	buf_free(&out);

	buf_init(&out, 1 << 20);
	assert_int_equal(dsn_build(&out, "gw", "a@example.org", NULL, 0, &r, 1, s.fd, s.off, s.len,
				   &e),
			 0);
	GMimeMessage *m = parse(&out);
	GMimeObject *p2 = g_mime_multipart_get_part(GMIME_MULTIPART(g_mime_message_get_mime_part(m)), 1);
	assert_true(g_mime_content_type_is_type(g_mime_object_get_content_type(p2), "message",
						 "global-delivery-status"));
	assert_non_null(strstr(out.data, "Final-Recipient: utf-8; j\xc3\xb6rg@b\xc3\xbc" "cher.example\r\n"));
	g_object_unref(m);
	buf_free(&out);
	close(s.fd);
}

static int group_setup(void **state)
{
	(void)state;
	g_mime_init();
	snprintf(tmpdir, sizeof tmpdir, "/tmp/dsn_test.XXXXXX");
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int group_teardown(void **state)
{
	(void)state;
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
	g_mime_shutdown();
	return system(cmd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bounce_structure),
		cmocka_unit_test(test_null_sender_refused),
		cmocka_unit_test(test_hostile_diagnostic),
		cmocka_unit_test(test_delay_warning),
		cmocka_unit_test(test_header_cap),
		cmocka_unit_test(test_small_buffer_and_utf8),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
