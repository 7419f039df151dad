/* Settings table and value normalisation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "store/settings.h"

struct vcase {
	const char *in;
	const char *out; /* NULL: must be rejected */
};

static void check_cases(const struct setting_def *d, const struct vcase *c, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		char out[SETTING_VALUE_MAX + 1] = "";
		struct err e = {""};
		int rc = settings_normalize(d, c[i].in, out, sizeof out, &e);
		if (c[i].out) {
			if (rc != 0 || strcmp(out, c[i].out) != 0)
				fail_msg("%s: \"%s\" -> rc %d \"%s\" (%s), want \"%s\"", d->name, c[i].in,
					 rc, out, e.msg, c[i].out);
		} else {
			if (rc != -1)
				fail_msg("%s: \"%s\" accepted as \"%s\"", d->name, c[i].in, out);
			/* every message names the setting, for the administrator */
			assert_non_null(strstr(e.msg, d->name));
		}
	}
}

#define CHECK(d, cases) check_cases(d, cases, sizeof cases / sizeof cases[0])

static void test_table_consistent(void **state)
{
	(void)state;
	assert_true(settings_count >= 26);
	for (size_t i = 0; i < settings_count; i++) {
		const struct setting_def *d = &settings_table[i];
		char out[SETTING_VALUE_MAX + 1];
		struct err e;
		/* every default is valid and already canonical */
		if (settings_normalize(d, d->def, out, sizeof out, &e) != 0)
			fail_msg("default of %s invalid: %s", d->name, e.msg);
		assert_string_equal(out, d->def);
		assert_true(d->scopes != 0);
		/* a string's length bound must fit the canonical buffers */
		if (d->type == SETTING_STRING)
			assert_true(d->max <= SETTING_VALUE_MAX);
		assert_non_null(d->help);
		assert_ptr_equal(settings_find(d->name), d);
		for (size_t j = 0; j < i; j++)
			assert_string_not_equal(settings_table[j].name, d->name);
	}
	assert_null(settings_find("no_such_setting"));
	assert_null(settings_find(NULL));
	assert_string_equal(settings_type_name(SETTING_DURATION), "duration");
	assert_string_equal(settings_scope_name(SCOPE_DOMAIN), "domain");
	assert_null(settings_scope_name(3));
}

static void test_int(void **state)
{
	(void)state;
	static const struct vcase c[] = {
		{"100", "100"}, {" 42 ", "42"}, {"+7", "7"}, {"1", "1"}, {"10000", "10000"},
		{"0", NULL}, {"10001", NULL}, {"-5", NULL}, {"abc", NULL}, {"", NULL},
		{"12abc", NULL}, {"1.5", NULL}, {"0x10", NULL}, {"1e3", NULL},
		{"99999999999999999999999", NULL}, {"+", NULL}, {"- 1", NULL},
	};
	CHECK(settings_find("smtp_max_recipients"), c);
	struct err e;
	char out[64];
	assert_int_equal(settings_normalize(settings_find("smtp_max_recipients"), "abc", out,
					    sizeof out, &e), -1);
	assert_string_equal(e.msg, "smtp_max_recipients: must be an integer between 1 and 10000 "
				   "(got \"abc\")");
	static const struct vcase zero[] = {{"0", "0"}, {"256", "256"}, {"257", NULL}, {"-1", NULL}};
	CHECK(settings_find("scan_threads"), zero);
}

static void test_float(void **state)
{
	(void)state;
	static const struct vcase c[] = {
		{"3.5", "3.5"}, {"10", "10"}, {"-100", "-100"}, {"100", "100"}, {"5.0", "5"},
		{" 2.25 ", "2.25"}, {"1e1", "10"}, {"0.1", "0.1"}, {"-0", "0"},
		{"100.01", NULL}, {"-101", NULL}, {"abc", NULL}, {"nan", NULL}, {"inf", NULL},
		{"0x1p3", NULL}, {"", NULL}, {"1.2.3", NULL}, {"1e400", NULL},
	};
	CHECK(settings_find("tag_score"), c);
	struct err e;
	char out[64];
	settings_normalize(settings_find("block_score"), "x", out, sizeof out, &e);
	assert_string_equal(e.msg, "block_score: must be a number between -100 and 100 (got \"x\")");
}

static void test_bool(void **state)
{
	(void)state;
	static const struct vcase c[] = {
		{"true", "true"}, {"TRUE", "true"}, {"yes", "true"}, {"On", "true"}, {"1", "true"},
		{"false", "false"}, {"no", "false"}, {"OFF", "false"}, {"0", "false"},
		{" yes ", "true"}, {"2", NULL}, {"", NULL}, {"truee", NULL}, {"y", NULL},
	};
	CHECK(settings_find("smtp_helo_required"), c);
}

static void test_size(void **state)
{
	(void)state;
	static const struct vcase c[] = {
		{"52428800", "52428800"}, {"10M", "10485760"}, {"10m", "10485760"},
		{"512K", "524288"}, {"1G", "1073741824"}, {"2G", "2147483648"}, {"1K", "1024"},
		{"1.5M", "1572864"}, {"10MB", "10485760"}, {"10 MiB", "10485760"}, {"4096B", "4096"},
		{"1023", NULL}, {"3G", NULL}, {"2049M", NULL}, {"0", NULL}, {"abc", NULL},
		{"10X", NULL}, {"M", NULL}, {"1.5", NULL}, {"-1M", NULL}, {"", NULL}, {"1T", NULL},
		{"99999999999999999999999", NULL}, {"10MiBx", NULL}, {"1.M", NULL},
	};
	CHECK(settings_find("smtp_max_message_size"), c);
	struct err e;
	char out[64];
	settings_normalize(settings_find("smtp_max_message_size"), "huge", out, sizeof out, &e);
	assert_string_equal(e.msg, "smtp_max_message_size: must be a size between 1K and 2G, e.g. "
				   "10M, 512K, 1G or a number of bytes (got \"huge\")");
}

static void test_duration(void **state)
{
	(void)state;
	static const struct vcase c[] = {
		{"300", "300"}, {"30s", "30"}, {"5m", "300"}, {"1h", "3600"}, {"1H", "3600"},
		{"1m30s", "90"}, {" 60 ", "60"}, {"5", "5"},
		{"4", NULL}, {"2h", NULL}, {"3601", NULL}, {"5x", NULL}, {"m", NULL}, {"", NULL},
		{"1.5h", NULL}, {"-5m", NULL}, {"5m5", NULL}, {"99999999999999999999w", NULL},
	};
	CHECK(settings_find("smtp_command_timeout"), c);
	static const struct vcase life[] = {{"5d", "432000"}, {"1w", "604800"}, {"30d", "2592000"},
					    {"31d", NULL}, {"59s", NULL}};
	CHECK(settings_find("queue_lifetime"), life);
	static const struct vcase drain[] = {{"0", "0"}, {"0s", "0"}};
	CHECK(settings_find("smtp_drain_timeout"), drain);
	struct err e;
	char out[64];
	settings_normalize(settings_find("smtp_command_timeout"), "soon", out, sizeof out, &e);
	assert_string_equal(e.msg, "smtp_command_timeout: must be a duration between 5s and 1h, "
				   "e.g. 30s, 5m, 1h, 5d or a number of seconds (got \"soon\")");
}

static void test_string(void **state)
{
	(void)state;
	char long_banner[260];
	memset(long_banner, 'a', 250);
	long_banner[250] = '\0';
	char max_banner[201];
	memset(max_banner, 'b', 200);
	max_banner[200] = '\0';
	const struct vcase banner[] = {
		{"ESMTP rampart", "ESMTP rampart"}, {max_banner, max_banner}, {long_banner, NULL},
		{"", NULL}, {"caf\xc3\xa9", NULL}, {"a\r\nb", NULL}, {"tab\there", NULL},
	};
	CHECK(settings_find("smtp_banner"), banner);
	static const struct vcase prefix[] = {
		{"[SPAM]", "[SPAM]"}, {"", ""}, {"[caf\xc3\xa9]", "[caf\xc3\xa9]"},
		{"\xff\xfe", NULL}, {"\xc3", NULL}, {"a\x01", NULL}, {"\xc0\xaf", NULL},
		{"\xed\xa0\x80", NULL}, {"\xc2\x85", NULL},
	};
	CHECK(settings_find("tag_subject_prefix"), prefix);
	static const struct vcase pm[] = {
		{"", ""}, {"postmaster@example.com", "postmaster@example.com"},
		{"nobody", NULL}, {"a b@example.com", NULL}, {"@example.com", NULL},
		{"x@", NULL}, {"x@exa mple.com", NULL}, {"<x@example.com>", NULL},
	};
	CHECK(settings_find("postmaster_address"), pm);
	char big[SETTING_VALUE_MAX + 10];
	memset(big, 'c', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	const struct vcase huge[] = {{big, NULL}};
	CHECK(settings_find("tag_subject_prefix"), huge);
}

static void test_enum(void **state)
{
	(void)state;
	/* a local definition keeps this independent of the table rows */
	static const struct setting_def d = {"failover", SETTING_ENUM, "automatic", 0, 0,
					     SCOPE_GLOBAL, "manual|automatic|off", "test"};
	static const struct vcase c[] = {
		{"manual", "manual"}, {"AUTOMATIC", "automatic"}, {" off ", "off"},
		{"auto", NULL}, {"", NULL}, {"manual|automatic", NULL},
	};
	CHECK(&d, c);
	struct err e;
	char out[64];
	settings_normalize(&d, "maybe", out, sizeof out, &e);
	assert_string_equal(e.msg,
			    "failover: must be one of manual, automatic, off (got \"maybe\")");
}

static void test_misc_errors(void **state)
{
	(void)state;
	struct err e;
	char out[4];
	const struct setting_def *d = settings_find("smtp_max_message_size");
	/* canonical form does not fit the caller's buffer */
	assert_int_equal(settings_normalize(d, "10M", out, sizeof out, &e), -1);
	assert_int_equal(settings_normalize(d, NULL, out, sizeof out, &e), -1);
	assert_int_equal(settings_normalize(NULL, "1", out, sizeof out, &e), -1);
	/* untrusted text in messages is escaped */
	char big[64];
	settings_normalize(settings_find("smtp_max_errors"), "\x1b[31m", big, sizeof big, &e);
	assert_null(strchr(e.msg, '\x1b'));
}

static void test_names(void **state)
{
	(void)state;
	char out[512];
	struct err e;
	static const struct vcase domains[] = {
		{"example.com", "example.com"}, {"Example.COM.", "example.com"},
		{"a-b.example.co.uk", "a-b.example.co.uk"}, {"xn--bcher-kva.de", "xn--bcher-kva.de"},
		{"localhost", NULL}, {"-a.com", NULL}, {"a-.com", NULL}, {"a..com", NULL},
		{".a.com", NULL}, {"a_b.com", NULL}, {"1.2.3.4", NULL}, {"", NULL},
		{"exa mple.com", NULL}, {"caf\xc3\xa9.com", NULL},
	};
	for (size_t i = 0; i < sizeof domains / sizeof domains[0]; i++) {
		int rc = settings_domain_normalize(domains[i].in, out, sizeof out, &e);
		if (domains[i].out) {
			assert_int_equal(rc, 0);
			assert_string_equal(out, domains[i].out);
		} else if (rc != -1) {
			fail_msg("domain \"%s\" accepted", domains[i].in);
		}
	}
	char label[80], name[400];
	memset(label, 'a', 64);
	label[64] = '\0';
	snprintf(name, sizeof name, "%s.com", label);
	assert_int_equal(settings_domain_normalize(name, out, sizeof out, &e), -1);
	assert_non_null(strstr(e.msg, "63"));
	label[63] = '\0';
	snprintf(name, sizeof name, "%s.%s.%s.%s", label, label, label, label);
	assert_int_equal(settings_domain_normalize(name, out, sizeof out, &e), -1); /* 255 > 253 */

	static const struct vcase dests[] = {
		{"smtp:mail.example.com:25", "smtp:mail.example.com:25"},
		{"SMTP:Mail.Example.com:2525", "smtp:mail.example.com:2525"},
		{"smtp:localhost", "smtp:localhost:25"},
		{"smtp:192.0.2.1:587", "smtp:192.0.2.1:587"},
		{"smtp:[2001:DB8::1]:25", "smtp:[2001:db8::1]:25"},
		{"smtp:[::1]", "smtp:[::1]:25"},
		{"maildir:/var/mail/x/", "maildir:/var/mail/x"},
		{"maildir:/srv/..mail", "maildir:/srv/..mail"},
		{"smtp:host:0", NULL}, {"smtp:host:65536", NULL}, {"smtp:host:x", NULL},
		{"smtp:2001:db8::1:25", NULL}, {"smtp:[2001:db8::1", NULL}, {"smtp:[1.2.3.4]:25", NULL},
		{"smtp::25", NULL}, {"smtp:192.0.2.300:25", NULL}, {"smtp:bad_host:25", NULL},
		{"smtp:[::1]x", NULL}, {"maildir:relative/path", NULL}, {"maildir:/", NULL},
		{"maildir:/srv/../etc", NULL}, {"maildir:/srv/..", NULL}, {"maildir:/a\nb", NULL},
		{"lmtp:host:24", NULL}, {"", NULL}, {"mail.example.com", NULL},
	};
	for (size_t i = 0; i < sizeof dests / sizeof dests[0]; i++) {
		int rc = settings_destination_normalize(dests[i].in, out, sizeof out, &e);
		if (dests[i].out) {
			if (rc != 0 || strcmp(out, dests[i].out))
				fail_msg("dest \"%s\": %d %s %s", dests[i].in, rc, out, e.msg);
		} else if (rc != -1) {
			fail_msg("dest \"%s\" accepted as %s", dests[i].in, out);
		}
	}
	assert_int_equal(settings_destination_normalize("ftp:x", out, sizeof out, &e), -1);
	assert_non_null(strstr(e.msg, "smtp:HOST:PORT or maildir:/absolute/path"));

	assert_int_equal(settings_address_normalize("Bob@Example.COM", out, sizeof out, &e), 0);
	assert_string_equal(out, "bob@example.com");
	assert_int_equal(settings_address_normalize("bob", out, sizeof out, &e), -1);
	assert_int_equal(settings_address_normalize("bo b@example.com", out, sizeof out, &e), -1);
	assert_int_equal(settings_address_normalize("bob@localhost", out, sizeof out, &e), -1);
}

static void test_json(void **state)
{
	(void)state;
	json_t *j = settings_json(settings_find("smtp_max_message_size"), "10485760", 1);
	assert_int_equal(json_integer_value(json_object_get(j, "value")), 10485760);
	assert_int_equal(json_integer_value(json_object_get(j, "default")), 52428800);
	assert_string_equal(json_string_value(json_object_get(j, "type")), "size");
	assert_true(json_is_true(json_object_get(j, "set")));
	assert_int_equal(json_array_size(json_object_get(j, "scopes")), 2);
	assert_true(json_is_null(json_object_get(j, "choices")));
	assert_true(json_real_value(json_object_get(j, "max")) == 2147483648.0);
	json_decref(j);
	j = settings_json(settings_find("smtp_helo_required"), "false", 0);
	assert_true(json_is_false(json_object_get(j, "value")));
	assert_true(json_is_null(json_object_get(j, "min")));
	json_decref(j);
	j = settings_json(settings_find("tag_score"), "4.5", 0);
	assert_true(json_real_value(json_object_get(j, "value")) == 4.5);
	json_decref(j);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table_consistent), cmocka_unit_test(test_int),
		cmocka_unit_test(test_float),            cmocka_unit_test(test_bool),
		cmocka_unit_test(test_size),             cmocka_unit_test(test_duration),
		cmocka_unit_test(test_string),           cmocka_unit_test(test_enum),
		cmocka_unit_test(test_misc_errors),      cmocka_unit_test(test_names),
		cmocka_unit_test(test_json),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
