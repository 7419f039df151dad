/* Attachment filters: the zip reader on well-formed, encrypted, ZIP64,
 * prefixed and hostile archives (mutated and truncated ones must never be
 * read out of bounds), content detection, disguised names, and the stage
 * on real MIME messages. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <sodium.h>

#include "filter/attach.h"
#include "filter/policy_test_util.h"
#include "util/buf.h"

/* ---- a zip writer for the tests ---- */

struct zent {
	const char *name;
	uint32_t off;
	uint16_t cflags, method;
	uint32_t size;
	const unsigned char *extra;
	uint16_t extra_len;
};

struct zb {
	struct buf b;
	struct zent e[32];
	int n;
};

static void put16(struct buf *b, unsigned v)
{
	unsigned char x[2] = {(unsigned char)v, (unsigned char)(v >> 8)};
	buf_append(b, x, 2);
}

static void put32(struct buf *b, uint32_t v)
{
	put16(b, v & 0xffff);
	put16(b, v >> 16);
}

static void put64(struct buf *b, uint64_t v)
{
	put32(b, (uint32_t)v);
	put32(b, (uint32_t)(v >> 32));
}

static void zb_init(struct zb *z, const char *prefix)
{
	memset(z, 0, sizeof *z);
	buf_init(&z->b, 1 << 24);
	if (prefix)
		buf_puts(&z->b, prefix);
}

/* One entry, stored (method 0) unless told; lflags/cflags: the local and
 * central general purpose flags. */
static void zb_add(struct zb *z, const char *name, const void *data, size_t len, uint16_t lflags,
		   uint16_t cflags, uint16_t method)
{
	struct zent *e = &z->e[z->n++];
	*e = (struct zent){name, (uint32_t)z->b.len, cflags, method, (uint32_t)len, NULL, 0};
	put32(&z->b, 0x04034b50);
	put16(&z->b, 20);
	put16(&z->b, lflags);
	put16(&z->b, method);
	put32(&z->b, 0);
	put32(&z->b, 0); /* crc: not checked */
	put32(&z->b, (uint32_t)len);
	put32(&z->b, (uint32_t)len);
	put16(&z->b, (unsigned)strlen(name));
	put16(&z->b, 0);
	buf_puts(&z->b, name);
	buf_append(&z->b, data, len);
}

static size_t zb_finish(struct zb *z, int zip64, size_t prefix_len)
{
	size_t cd = z->b.len;
	for (int i = 0; i < z->n; i++) {
		struct zent *e = &z->e[i];
		put32(&z->b, 0x02014b50);
		put16(&z->b, 20);
		put16(&z->b, 20);
		put16(&z->b, e->cflags);
		put16(&z->b, e->method);
		put32(&z->b, 0);
		put32(&z->b, 0);
		put32(&z->b, e->size);
		put32(&z->b, e->size);
		put16(&z->b, (unsigned)strlen(e->name));
		put16(&z->b, e->extra_len);
		put16(&z->b, 0);
		put16(&z->b, 0);
		put16(&z->b, 0);
		put32(&z->b, 0);
		put32(&z->b, e->off - (uint32_t)prefix_len);
		buf_puts(&z->b, e->name);
		if (e->extra_len)
			buf_append(&z->b, e->extra, e->extra_len);
	}
	size_t cdsize = z->b.len - cd;
	if (zip64) {
		size_t rec = z->b.len;
		put32(&z->b, 0x06064b50);
		put64(&z->b, 44);
		put16(&z->b, 45);
		put16(&z->b, 45);
		put32(&z->b, 0);
		put32(&z->b, 0);
		put64(&z->b, (uint64_t)z->n);
		put64(&z->b, (uint64_t)z->n);
		put64(&z->b, cdsize);
		put64(&z->b, cd - prefix_len);
		put32(&z->b, 0x07064b50);
		put32(&z->b, 0);
		put64(&z->b, rec - prefix_len);
		put32(&z->b, 1);
	}
	put32(&z->b, 0x06054b50);
	put16(&z->b, 0);
	put16(&z->b, 0);
	put16(&z->b, zip64 ? 0xffff : (unsigned)z->n);
	put16(&z->b, zip64 ? 0xffff : (unsigned)z->n);
	put32(&z->b, zip64 ? 0xffffffffu : (uint32_t)cdsize);
	put32(&z->b, zip64 ? 0xffffffffu : (uint32_t)(cd - prefix_len));
	put16(&z->b, 0);
	return z->b.len;
}

struct seen {
	char names[16][64];
	int n, encrypted, stored_data;
};

static int collect(void *arg, const struct zip_entry *ze)
{
	struct seen *s = arg;
	if (s->n < 16)
		snprintf(s->names[s->n], 64, "%.*s", (int)ze->name_len, ze->name);
	s->n++;
	s->encrypted += ze->encrypted;
	s->stored_data += ze->data != NULL;
	return 0;
}

static int scan(struct zb *z, struct seen *s, struct err *e)
{
	memset(s, 0, sizeof *s);
	return zip_scan((const unsigned char *)z->b.data, z->b.len, collect, s, e);
}

static void test_zip_plain(void **state)
{
	(void)state;
	struct zb z;
	struct seen s;
	struct err e;
	zb_init(&z, NULL);
	zb_add(&z, "docs/readme.txt", "hello", 5, 0, 0, 0);
	zb_add(&z, "docs/", "", 0, 0, 0, 0);
	zb_add(&z, "run.exe", "MZ\x90\0", 4, 0, 0, 0);
	zb_finish(&z, 0, 0);
	assert_true(zip_is_zip((const unsigned char *)z.b.data, z.b.len));
	assert_int_equal(scan(&z, &s, &e), 0);
	assert_int_equal(s.n, 3);
	assert_string_equal(s.names[0], "docs/readme.txt");
	assert_string_equal(s.names[2], "run.exe");
	assert_int_equal(s.encrypted, 0);
	assert_int_equal(s.stored_data, 2);
	buf_free(&z.b);

	/* ZIP64 end records, and data before the archive (a self-extractor) */
	zb_init(&z, "MZ this is a self-extracting stub......");
	zb_add(&z, "a.txt", "x", 1, 0, 0, 0);
	zb_add(&z, "b.txt", "y", 1, 0, 0, 0);
	zb_finish(&z, 1, strlen("MZ this is a self-extracting stub......"));
	assert_int_equal(scan(&z, &s, &e), 0);
	assert_int_equal(s.n, 2);
	assert_string_equal(s.names[1], "b.txt");
	buf_free(&z.b);
}

static void test_zip_encrypted(void **state)
{
	(void)state;
	static const unsigned char aes[] = {0x01, 0x99, 7, 0, 2, 0, 'A', 'E', 3, 8, 0};
	struct zb z;
	struct seen s;
	struct err e;
	/* the flag in the central directory, in the local header only, AES */
	for (int variant = 0; variant < 3; variant++) {
		zb_init(&z, NULL);
		zb_add(&z, "plain.txt", "x", 1, 0, 0, 0);
		if (variant == 0)
			zb_add(&z, "secret.doc", "xxxxxxxxxxxx", 12, 1, 1, 8);
		else if (variant == 1)
			zb_add(&z, "secret.doc", "xxxxxxxxxxxx", 12, 1, 0, 8);
		else {
			zb_add(&z, "secret.doc", "xxxxxxxxxxxx", 12, 0, 0, 99);
			z.e[1].extra = aes;
			z.e[1].extra_len = sizeof aes;
		}
		zb_finish(&z, 0, 0);
		assert_int_equal(scan(&z, &s, &e), 0);
		assert_int_equal(s.n, 2);
		assert_int_equal(s.encrypted, 1);
		buf_free(&z.b);
	}
}

static void test_zip_damaged(void **state)
{
	(void)state;
	struct zb z;
	struct seen s;
	struct err e;
	zb_init(&z, NULL);
	zb_add(&z, "a.txt", "hello", 5, 0, 0, 0);
	zb_add(&z, "b.exe", "MZxx", 4, 0, 0, 0);
	size_t full = zb_finish(&z, 0, 0);
	/* every truncation fails cleanly or reads less; none reads beyond */
	for (size_t n = 0; n < full; n++) {
		char *copy = malloc(n ? n : 1);
		memcpy(copy, z.b.data, n);
		memset(&s, 0, sizeof s);
		int rc = zip_scan((const unsigned char *)copy, n, collect, &s, &e);
		assert_true(rc == -1 || s.n <= 2);
		free(copy);
	}
	/* an entry count beyond the directory */
	char *copy = malloc(full);
	memcpy(copy, z.b.data, full);
	copy[full - 12] = 9;
	assert_int_equal(zip_scan((const unsigned char *)copy, full, collect, &s, &e), -1);
	assert_non_null(strstr(e.msg, "zip:"));
	/* a local header offset pointing outside */
	memcpy(copy, z.b.data, full);
	size_t cd = full - 22 - 2 * 46 - strlen("a.txt") - strlen("b.exe");
	copy[cd + 42] = (char)0xf0;
	copy[cd + 45] = 0x7f;
	assert_int_equal(zip_scan((const unsigned char *)copy, full, collect, &s, &e), -1);
	/* random corruption: only bounded reads (ASan watches) */
	uint32_t r = 12345;
	for (int round = 0; round < 20000; round++) {
		memcpy(copy, z.b.data, full);
		for (int k = 0; k < 4; k++) {
			r = r * 1103515245u + 12345u;
			copy[(r >> 8) % full] = (char)(r >> 24);
		}
		memset(&s, 0, sizeof s);
		zip_scan((const unsigned char *)copy, full, collect, &s, &e);
	}
	free(copy);
	buf_free(&z.b);
	/* too many entries */
	zb_init(&z, NULL);
	zb_add(&z, "a", "", 0, 0, 0, 0);
	zb_finish(&z, 0, 0);
	z.b.data[z.b.len - 12] = (char)0xff;
	z.b.data[z.b.len - 11] = (char)0xfe;
	assert_int_equal(zip_scan((const unsigned char *)z.b.data, z.b.len, collect, &s, &e), -1);
	buf_free(&z.b);
}

static void test_sniff_and_names(void **state)
{
	(void)state;
	assert_non_null(strstr(attach_sniff((const unsigned char *)"MZ\x90\0\3", 5),
			       "application/x-msdownload"));
	assert_non_null(strstr(attach_sniff((const unsigned char *)"%PDF-1.7", 8), "pdf"));
	assert_null(attach_sniff((const unsigned char *)"hello", 5));
	assert_null(attach_sniff(NULL, 0));
	unsigned char *iso = calloc(1, 0x8010);
	memcpy(iso + 0x8001, "CD001", 5);
	assert_non_null(attach_sniff(iso, 0x8010));
	assert_null(attach_sniff(iso, 0x8004));
	free(iso);
	assert_true(attach_name_spoofed("invoice.pdf.exe"));
	assert_true(attach_name_spoofed("Invoice.PDF.Scr"));
	assert_true(attach_name_spoofed("photo.jpg.js. "));
	assert_true(attach_name_spoofed("statement.pdf          .exe"));
	assert_true(attach_name_spoofed("annexe\xe2\x80\xae" "fdp.exe"));
	assert_false(attach_name_spoofed("setup.exe"));
	assert_false(attach_name_spoofed("backup.tar.gz"));
	assert_false(attach_name_spoofed("report.final.pdf"));
	assert_false(attach_name_spoofed("v1.2.exe"));
	assert_false(attach_name_spoofed(""));
	assert_false(attach_name_spoofed(NULL));
}

/* ---- the stage on MIME messages ---- */

static char *mime_with(const char *filename, const char *ctype, const void *data, size_t len)
{
	size_t b64len = sodium_base64_ENCODED_LEN(len, sodium_base64_VARIANT_ORIGINAL);
	char *b64 = malloc(b64len);
	sodium_bin2base64(b64, b64len, data, len, sodium_base64_VARIANT_ORIGINAL);
	struct buf m;
	buf_init(&m, 1 << 24);
	buf_printf(&m,
		   "From: <a@outside.test>\r\nTo: <u@corp.test>\r\nSubject: files\r\n"
		   "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"XX\"\r\n\r\n"
		   "--XX\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n--XX\r\n"
		   "Content-Type: %s\r\nContent-Transfer-Encoding: base64\r\n"
		   "Content-Disposition: attachment; filename=\"%s\"\r\n\r\n",
		   ctype, filename);
	for (size_t i = 0; i < strlen(b64); i += 76)
		buf_printf(&m, "%.76s\r\n", b64 + i);
	buf_puts(&m, "--XX--\r\n");
	free(b64);
	return buf_steal(&m);
}

static enum action run_attach(struct pt_env *t, const char *msg, struct verdict *out_rules,
			      int allow_listed)
{
	const char *rc[] = {"u@corp.test"};
	struct pt_scan s;
	pt_scan_init(&s, t, msg, "203.0.113.1", "a@outside.test", rc, 1);
	s.v.skip_scoring = allow_listed;
	stage_attach_run(&s.job);
	enum action a = s.v.final ? s.v.action : ACTION_ALLOW;
	if (out_rules) {
		buf_reset(&out_rules->rules);
		buf_puts(&out_rules->rules, s.v.rules.data ? s.v.rules.data : "");
		snprintf(out_rules->reason, sizeof out_rules->reason, "%s", s.v.reason);
		snprintf(out_rules->public_reason, sizeof out_rules->public_reason, "%s",
			 s.v.public_reason);
	}
	pt_scan_free(&s);
	return a;
}

static void test_stage(void **state)
{
	(void)state;
	struct pt_env *t = pt_env_new();
	struct verdict r;
	verdict_init(&r, 1);
	pt_list_add(t, "attach_ext", "exe", NULL, "executables");
	pt_list_add(t, "attach_ext", "iso", "quarantine", NULL);
	pt_list_add(t, "attach_mime", "application/x-msdownload", NULL, NULL);

	char *m = mime_with("setup.exe", "application/octet-stream", "xx", 2);
	assert_int_equal(run_attach(t, m, &r, 0), ACTION_BLOCK);
	assert_true(pt_has_rule(&r, "ATTACH_EXT"));
	assert_string_equal(r.public_reason, "attachment type not allowed");
	/* allow-listed mail is still checked */
	assert_int_equal(run_attach(t, m, NULL, 1), ACTION_BLOCK);
	free(m);

	m = mime_with("disk.iso", "application/octet-stream", "xx", 2);
	assert_int_equal(run_attach(t, m, NULL, 0), ACTION_QUARANTINE);
	free(m);

	/* an executable renamed: detected by content */
	m = mime_with("notes.txt", "text/plain", "MZ\x90\0\3\0\0\0", 8);
	assert_int_equal(run_attach(t, m, &r, 0), ACTION_BLOCK);
	assert_true(pt_has_rule(&r, "ATTACH_MIME"));
	free(m);

	m = mime_with("report.pdf", "application/pdf", "%PDF-1.4 ...", 12);
	assert_int_equal(run_attach(t, m, NULL, 0), ACTION_ALLOW);
	free(m);

	/* inside a zip, even a zip inside a zip */
	struct zb z, outer;
	zb_init(&z, NULL);
	zb_add(&z, "readme.txt", "hi", 2, 0, 0, 0);
	zb_add(&z, "tools/SETUP.EXE", "data", 4, 0, 0, 8);
	zb_finish(&z, 0, 0);
	m = mime_with("files.zip", "application/zip", z.b.data, z.b.len);
	assert_int_equal(run_attach(t, m, &r, 0), ACTION_BLOCK);
	assert_non_null(strstr(r.reason, "SETUP.EXE"));
	free(m);
	zb_init(&outer, NULL);
	zb_add(&outer, "inner.zip", z.b.data, z.b.len, 0, 0, 0);
	zb_finish(&outer, 0, 0);
	m = mime_with("outer.zip", "application/zip", outer.b.data, outer.b.len);
	assert_int_equal(run_attach(t, m, NULL, 0), ACTION_BLOCK);
	free(m);
	buf_free(&z.b);
	buf_free(&outer.b);

	/* encrypted archive: the setting decides */
	zb_init(&z, NULL);
	zb_add(&z, "invoice.doc", "xxxxxxxxxxxxxxxx", 16, 1, 1, 8);
	zb_finish(&z, 0, 0);
	m = mime_with("invoice.zip", "application/octet-stream", z.b.data, z.b.len);
	assert_int_equal(run_attach(t, m, &r, 0), ACTION_QUARANTINE);
	assert_true(pt_has_rule(&r, "ATTACH_ENCRYPTED"));
	pt_set(t, "attach_encrypted_action", "block");
	assert_int_equal(run_attach(t, m, NULL, 0), ACTION_BLOCK);
	pt_set(t, "attach_encrypted_action", "allow");
	assert_int_equal(run_attach(t, m, NULL, 0), ACTION_ALLOW);
	free(m);
	buf_free(&z.b);

	/* a damaged archive cannot hide anything */
	pt_set(t, "attach_encrypted_action", "quarantine");
	m = mime_with("broken.zip", "application/zip", "PK\3\4garbage-without-directory", 29);
	assert_int_equal(run_attach(t, m, &r, 0), ACTION_QUARANTINE);
	assert_true(pt_has_rule(&r, "ATTACH_UNREADABLE"));
	free(m);

	/* double extensions, as attachments and inside archives */
	m = mime_with("invoice.pdf.scr", "application/octet-stream", "xx", 2);
	assert_int_equal(run_attach(t, m, &r, 0), ACTION_BLOCK);
	assert_true(pt_has_rule(&r, "ATTACH_DOUBLE_EXT"));
	free(m);
	zb_init(&z, NULL);
	zb_add(&z, "scan.jpg.js", "x", 1, 0, 0, 0);
	zb_finish(&z, 0, 0);
	m = mime_with("photos.zip", "application/zip", z.b.data, z.b.len);
	pt_set(t, "attach_double_ext_action", "quarantine");
	assert_int_equal(run_attach(t, m, NULL, 0), ACTION_QUARANTINE);
	free(m);
	buf_free(&z.b);

	/* no list entries, no findings: nothing happens */
	m = mime_with("photo.png", "image/png", "\x89PNG", 4);
	assert_int_equal(run_attach(t, m, &r, 0), ACTION_ALLOW);
	assert_int_equal(r.rules.len, 0);
	free(m);
	verdict_free(&r);
	pt_env_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_zip_plain),
		cmocka_unit_test(test_zip_encrypted),
		cmocka_unit_test(test_zip_damaged),
		cmocka_unit_test(test_sniff_and_names),
		cmocka_unit_test(test_stage),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
