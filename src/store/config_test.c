/* Configuration store: resolution, validation, domains, persistence,
 * replication primitives, export/import, thread safety. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "store/config.h"

struct fixture {
	char dir[64];
	char path[128];
	struct config_store *cs;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof *f);
	struct err e;
	snprintf(f->dir, sizeof f->dir, "/tmp/rampart-config-XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	snprintf(f->path, sizeof f->path, "%s/node.db", f->dir);
	f->cs = config_open(f->path, &e);
	if (!f->cs)
		fail_msg("config_open: %s", e.msg);
	*state = f;
	return 0;
}

static void remove_db(const char *path)
{
	static const char *const sfx[] = {"", "-wal", "-shm"};
	char p[160];
	for (size_t i = 0; i < 3; i++) {
		snprintf(p, sizeof p, "%s%s", path, sfx[i]);
		unlink(p);
	}
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	config_close(f->cs);
	remove_db(f->path);
	rmdir(f->dir);
	free(f);
	return 0;
}

static void reopen(struct fixture *f)
{
	struct err e;
	config_close(f->cs);
	f->cs = config_open(f->path, &e);
	if (!f->cs)
		fail_msg("reopen: %s", e.msg);
}

static void must_set(struct config_store *cs, const char *name, const char *scope, const char *v)
{
	struct err e;
	if (config_set(cs, name, scope, v, &e) != 0)
		fail_msg("config_set %s %s %s: %s", name, scope ? scope : "-", v, e.msg);
}

static void test_defaults(void **state)
{
	struct config_store *cs = ((struct fixture *)*state)->cs;
	char s[256];
	assert_int_equal(config_int(cs, "smtp_max_recipients", NULL, NULL), 100);
	assert_int_equal(config_int(cs, "smtp_max_message_size", NULL, NULL), 52428800);
	assert_int_equal(config_int(cs, "queue_lifetime", NULL, NULL), 432000);
	assert_true(config_float(cs, "tag_score", "example.com", "a@example.com") == 3.5);
	assert_true(config_float(cs, "smtp_max_recipients", NULL, NULL) == 100.0);
	assert_int_equal(config_bool(cs, "smtp_helo_required", NULL, NULL), 1);
	assert_int_equal(config_int(cs, "smtp_helo_required", NULL, NULL), 1);
	config_str(cs, "smtp_banner", NULL, NULL, s, sizeof s);
	assert_string_equal(s, "ESMTP rampart");
	config_str(cs, "smtp_max_recipients", NULL, NULL, s, sizeof s);
	assert_string_equal(s, "100");
	config_str(cs, "postmaster_address", NULL, NULL, s, sizeof s);
	assert_string_equal(s, "");
	assert_int_equal(config_version(cs), 0);
	assert_int_equal(config_domain_count(cs), 0);
}

static void test_set_validation(void **state)
{
	struct config_store *cs = ((struct fixture *)*state)->cs;
	struct err e;
	char s[64];
	must_set(cs, "smtp_max_message_size", NULL, "10M");
	assert_int_equal(config_int(cs, "smtp_max_message_size", NULL, NULL), 10485760);
	must_set(cs, "smtp_helo_required", "global", "off");
	assert_int_equal(config_bool(cs, "smtp_helo_required", NULL, NULL), 0);
	must_set(cs, "smtp_data_timeout", "", "10m");
	assert_int_equal(config_int(cs, "smtp_data_timeout", NULL, NULL), 600);
	assert_int_equal(config_get_at(cs, "smtp_max_message_size", "global", s, sizeof s), 1);
	assert_string_equal(s, "10485760");

	assert_int_equal(config_set(cs, "smtp_max_recipients", NULL, "abc", &e), -1);
	assert_string_equal(e.msg, "smtp_max_recipients: must be an integer between 1 and 10000 "
				   "(got \"abc\")");
	assert_int_equal(config_set(cs, "nope", NULL, "1", &e), -1);
	assert_string_equal(e.msg, "unknown setting 'nope'");
	assert_int_equal(config_set(cs, "smtp_max_recipients", "planet:mars", "5", &e), -1);
	assert_non_null(strstr(e.msg, "bad scope"));
	assert_int_equal(config_set(cs, "smtp_max_recipients", "domain:example.com", "5", &e), -1);
	assert_string_equal(e.msg, "smtp_max_recipients cannot be set at domain scope "
				   "(allowed: global)");
	assert_int_equal(config_set(cs, "tag_subject_prefix", "user:a@example.com", "x", &e), -1);
	assert_int_equal(config_set(cs, "scan_threads", NULL, "4", &e), -1);
	assert_int_equal(config_set(cs, "tag_score", "domain:bad_domain", "4", &e), -1);
	assert_int_equal(config_set(cs, "tag_score", "user:nobody", "4", &e), -1);
	/* rejected writes change nothing */
	assert_int_equal(config_int(cs, "smtp_max_recipients", NULL, NULL), 100);
	assert_int_equal(config_version(cs), 3);
}

static void test_resolution_order(void **state)
{
	struct config_store *cs = ((struct fixture *)*state)->cs;
	must_set(cs, "tag_score", NULL, "4");
	must_set(cs, "tag_score", "domain:example.com", "5");
	must_set(cs, "tag_score", "user:bob@example.com", "6");
	assert_true(config_float(cs, "tag_score", "example.com", "bob@example.com") == 6);
	assert_true(config_float(cs, "tag_score", "example.com", "amy@example.com") == 5);
	assert_true(config_float(cs, "tag_score", "example.com", NULL) == 5);
	assert_true(config_float(cs, "tag_score", "other.org", "amy@other.org") == 4);
	assert_true(config_float(cs, "tag_score", NULL, NULL) == 4);
	/* the domain comes from the address when not given; case does not matter */
	assert_true(config_float(cs, "tag_score", NULL, "amy@EXAMPLE.com") == 5);
	assert_true(config_float(cs, "tag_score", "Example.COM", "BOB@example.com") == 6);
	assert_true(config_float(cs, "tag_score", NULL, "bob@example.com") == 6);

	struct err e;
	assert_int_equal(config_unset(cs, "tag_score", "user:bob@example.com", &e), 0);
	assert_true(config_float(cs, "tag_score", "example.com", "bob@example.com") == 5);
	assert_int_equal(config_unset(cs, "tag_score", "domain:example.com", &e), 0);
	assert_true(config_float(cs, "tag_score", "example.com", "bob@example.com") == 4);
	assert_int_equal(config_unset(cs, "tag_score", NULL, &e), 0);
	assert_true(config_float(cs, "tag_score", "example.com", "bob@example.com") == 3.5);
	uint64_t v = config_version(cs);
	assert_int_equal(config_unset(cs, "tag_score", NULL, &e), 0); /* not set: no write */
	assert_int_equal(config_version(cs), v);

	/* a setting that does not allow a scope never reads it */
	must_set(cs, "tag_subject_prefix", "domain:example.com", "[D]");
	char s[64];
	config_str(cs, "tag_subject_prefix", "example.com", "bob@example.com", s, sizeof s);
	assert_string_equal(s, "[D]");
	must_set(cs, "smtp_max_message_size", "domain:example.com", "1M");
	assert_int_equal(config_int(cs, "smtp_max_message_size", "example.com", NULL), 1048576);
	assert_int_equal(config_int(cs, "smtp_max_message_size", "example.org", NULL), 52428800);

	/* node beats global; node-only settings read the node scope */
	must_set(cs, "smtp_drain_timeout", NULL, "20");
	assert_int_equal(config_int(cs, "smtp_drain_timeout", NULL, NULL), 20);
	must_set(cs, "smtp_drain_timeout", "node", "10s");
	assert_int_equal(config_int(cs, "smtp_drain_timeout", NULL, NULL), 10);
	must_set(cs, "scan_threads", "node", "8");
	assert_int_equal(config_int(cs, "scan_threads", NULL, NULL), 8);
	assert_int_equal(config_get_at(cs, "scan_threads", "global", s, sizeof s), 0);
	assert_int_equal(config_get_at(cs, "scan_threads", "node", s, sizeof s), 1);
	assert_string_equal(s, "8");
}

static json_t *find_setting(json_t *arr, const char *name)
{
	size_t i;
	json_t *o;
	json_array_foreach(arr, i, o)
		if (strcmp(json_string_value(json_object_get(o, "name")), name) == 0)
			return o;
	fail_msg("%s missing", name);
	return NULL;
}

static void test_settings_json(void **state)
{
	struct config_store *cs = ((struct fixture *)*state)->cs;
	must_set(cs, "tag_score", NULL, "4");
	must_set(cs, "tag_score", "domain:example.com", "5");
	json_t *g = config_settings_json(cs, NULL);
	json_t *d = config_settings_json(cs, "domain:example.com");
	json_t *u = config_settings_json(cs, "user:amy@example.com");
	assert_int_equal(json_array_size(g), settings_count);
	json_t *o = find_setting(g, "tag_score");
	assert_true(json_real_value(json_object_get(o, "value")) == 4);
	assert_true(json_is_true(json_object_get(o, "set")));
	assert_true(json_real_value(json_object_get(o, "default")) == 3.5);
	o = find_setting(d, "tag_score");
	assert_true(json_real_value(json_object_get(o, "value")) == 5);
	assert_true(json_is_true(json_object_get(o, "set")));
	o = find_setting(u, "tag_score");
	assert_true(json_real_value(json_object_get(o, "value")) == 5);
	assert_true(json_is_false(json_object_get(o, "set")));
	o = find_setting(g, "smtp_max_message_size");
	assert_int_equal(json_integer_value(json_object_get(o, "value")), 52428800);
	assert_string_equal(json_string_value(json_object_get(o, "type")), "size");
	assert_string_equal(json_string_value(json_array_get(json_object_get(o, "scopes"), 1)),
			    "domain");
	assert_null(config_settings_json(cs, "bogus:x"));
	json_decref(g);
	json_decref(d);
	json_decref(u);
}

static void test_domains(void **state)
{
	struct config_store *cs = ((struct fixture *)*state)->cs;
	struct err e;
	struct domain_info di;
	assert_int_equal(config_domain_add(cs, "Example.COM", "smtp:Mail.Example.com:25", &e), 0);
	assert_int_equal(config_domain_add(cs, "b.example.org", "maildir:/var/mail/b", &e), 0);
	assert_int_equal(config_domain_add(cs, "a.example.org", "smtp:[2001:db8::1]:2525", &e), 0);
	assert_int_equal(config_domain_count(cs), 3);
	assert_int_equal(config_domain_get(cs, "EXAMPLE.com", &di), 0);
	assert_string_equal(di.name, "example.com");
	assert_string_equal(di.destination, "smtp:mail.example.com:25");
	assert_int_equal(config_domain_get(cs, "example.com.", &di), 0);
	assert_int_equal(config_domain_get(cs, "example.net", &di), -1);

	/* adding again updates */
	assert_int_equal(config_domain_add(cs, "example.com", "smtp:192.0.2.7:26", &e), 0);
	assert_int_equal(config_domain_count(cs), 3);
	assert_int_equal(config_domain_get(cs, "example.com", &di), 0);
	assert_string_equal(di.destination, "smtp:192.0.2.7:26");

	/* bad input, clear errors, nothing stored */
	assert_int_equal(config_domain_add(cs, "not a domain", "smtp:h:25", &e), -1);
	assert_non_null(strstr(e.msg, "bad domain"));
	assert_int_equal(config_domain_add(cs, "localhost", "smtp:h:25", &e), -1);
	assert_int_equal(config_domain_add(cs, "x.example", "ftp://h", &e), -1);
	assert_non_null(strstr(e.msg, "smtp:HOST:PORT"));
	assert_int_equal(config_domain_add(cs, "x.example", "smtp:h:99999", &e), -1);
	assert_non_null(strstr(e.msg, "port"));
	assert_int_equal(config_domain_add(cs, "x.example", "maildir:rel", &e), -1);
	assert_non_null(strstr(e.msg, "absolute"));
	assert_int_equal(config_domain_count(cs), 3);

	json_t *l = config_domain_list(cs);
	assert_int_equal(json_array_size(l), 3);
	assert_string_equal(json_string_value(json_object_get(json_array_get(l, 0), "name")),
			    "a.example.org");
	assert_string_equal(json_string_value(json_object_get(json_array_get(l, 1), "name")),
			    "b.example.org");
	assert_string_equal(json_string_value(json_object_get(json_array_get(l, 2), "name")),
			    "example.com");
	assert_string_equal(json_string_value(json_object_get(json_array_get(l, 0), "destination")),
			    "smtp:[2001:db8::1]:2525");
	json_decref(l);

	char raw[256];
	assert_int_equal(config_get_raw(cs, "domain/example.com", raw, sizeof raw), 1);
	assert_string_equal(raw, "{\"destination\":\"smtp:192.0.2.7:26\"}");

	assert_int_equal(config_domain_remove(cs, "EXAMPLE.COM", &e), 0);
	assert_int_equal(config_domain_get(cs, "example.com", &di), -1);
	assert_int_equal(config_domain_remove(cs, "example.com", &e), -1);
	assert_string_equal(e.msg, "domain example.com is not configured");
	assert_int_equal(config_domain_count(cs), 2);
}

static void test_persistence(void **state)
{
	struct fixture *f = *state;
	struct err e;
	must_set(f->cs, "smtp_banner", NULL, "ESMTP gateway");
	must_set(f->cs, "tag_score", "user:bob@example.com", "1.25");
	must_set(f->cs, "scan_threads", "node", "3");
	must_set(f->cs, "smtp_max_errors", NULL, "5");
	assert_int_equal(config_domain_add(f->cs, "example.com", "smtp:mx.example.com:25", &e), 0);
	assert_int_equal(config_unset(f->cs, "smtp_max_errors", NULL, &e), 0);
	uint64_t v = config_version(f->cs);
	assert_int_equal(v, 6);
	reopen(f);
	char s[64];
	config_str(f->cs, "smtp_banner", NULL, NULL, s, sizeof s);
	assert_string_equal(s, "ESMTP gateway");
	assert_true(config_float(f->cs, "tag_score", NULL, "bob@example.com") == 1.25);
	assert_int_equal(config_int(f->cs, "scan_threads", NULL, NULL), 3);
	assert_int_equal(config_int(f->cs, "smtp_max_errors", NULL, NULL), 10);
	assert_int_equal(config_domain_count(f->cs), 1);
	assert_int_equal(config_version(f->cs), v);
	must_set(f->cs, "smtp_max_errors", NULL, "7");
	assert_int_equal(config_version(f->cs), v + 1);
}

static void test_put_raw_ordering(void **state)
{
	struct fixture *f = *state;
	struct config_store *cs = f->cs;
	struct err e;
	char s[64];
	const char *k = "setting/global/smtp_max_errors";
	assert_int_equal(config_put_raw(cs, k, "20", 1000, 1, &e), 1);
	assert_int_equal(config_int(cs, "smtp_max_errors", NULL, NULL), 20);
	assert_int_equal(config_put_raw(cs, k, "30", 999, 9, &e), 0); /* older */
	assert_int_equal(config_put_raw(cs, k, "30", 1000, 0, &e), 0); /* same stamp, lower node */
	assert_int_equal(config_put_raw(cs, k, "30", 1000, 1, &e), 0); /* duplicate */
	assert_int_equal(config_int(cs, "smtp_max_errors", NULL, NULL), 20);
	assert_int_equal(config_put_raw(cs, k, "40", 1000, 2, &e), 1); /* tie broken by node */
	assert_int_equal(config_int(cs, "smtp_max_errors", NULL, NULL), 40);
	assert_int_equal(config_put_raw(cs, k, NULL, 2000, 1, &e), 1); /* tombstone */
	assert_int_equal(config_int(cs, "smtp_max_errors", NULL, NULL), 10);
	assert_int_equal(config_get_raw(cs, k, s, sizeof s), 0);
	assert_int_equal(config_put_raw(cs, k, "50", 1500, 3, &e), 0); /* cannot resurrect */
	/* a tombstone for a key never seen still orders later writes */
	assert_int_equal(config_put_raw(cs, "domain/late.example", NULL, 3000, 1, &e), 1);
	assert_int_equal(config_put_raw(cs, "domain/late.example",
					"{\"destination\":\"smtp:h:25\"}", 2999, 1, &e), 0);
	assert_int_equal(config_domain_count(cs), 0);

	/* raw values are validated too */
	assert_int_equal(config_put_raw(cs, k, "abc", 5000, 1, &e), -1);
	assert_int_equal(config_put_raw(cs, "setting/global/nope", "1", 5000, 1, &e), -1);
	assert_int_equal(config_put_raw(cs, "setting/domain/Example.com/tag_score", "1", 5000, 1,
					&e), -1);
	assert_int_equal(config_put_raw(cs, "domain/x.example", "{\"destination\":5}", 5000, 1, &e),
			 -1);
	assert_int_equal(config_put_raw(cs, "domain/x.example", "not json", 5000, 1, &e), -1);
	assert_int_equal(config_put_raw(cs, "weird/key", "1", 5000, 1, &e), -1);
	assert_int_equal(config_put_raw(cs, "bad key", "1", 5000, 1, &e), -1);
	assert_int_equal(config_put_raw(cs, k, "1", UINT64_MAX, 1, &e), -1);
	assert_int_equal(config_put_raw(cs, k, "1", 0, 1, &e), -1);

	/* ordering survives a restart */
	reopen(f);
	cs = f->cs;
	assert_int_equal(config_put_raw(cs, k, "50", 1999, 3, &e), 0);
	assert_int_equal(config_int(cs, "smtp_max_errors", NULL, NULL), 10);

	/* a local write after seeing a stamp from the future is newer still */
	uint64_t future = ((uint64_t)4102444800000 << 16); /* year 2100 */
	assert_int_equal(config_put_raw(cs, "setting/global/smtp_max_recipients", "7", future, 5, &e),
			 1);
	must_set(cs, "smtp_max_recipients", NULL, "8");
	config_set_node_id(cs, 3);
	must_set(cs, "smtp_max_errors", NULL, "9");
	json_t *raw = config_export_raw(cs);
	size_t i;
	json_t *o;
	int seen = 0;
	json_array_foreach(raw, i, o) {
		const char *key = json_string_value(json_object_get(o, "key"));
		if (strcmp(key, "setting/global/smtp_max_recipients") == 0) {
			assert_true((uint64_t)json_integer_value(json_object_get(o, "hlc")) > future);
			assert_int_equal(json_integer_value(json_object_get(o, "node")), 0);
			seen++;
		}
		if (strcmp(key, "setting/global/smtp_max_errors") == 0) {
			assert_int_equal(json_integer_value(json_object_get(o, "node")), 3);
			seen++;
		}
		if (strcmp(key, "domain/late.example") == 0) {
			assert_true(json_is_null(json_object_get(o, "value")));
			seen++;
		}
	}
	assert_int_equal(seen, 3);
	json_decref(raw);
	assert_int_equal(config_int(cs, "smtp_max_recipients", NULL, NULL), 8);
	assert_true(config_key_is_local("setting/node/scan_threads"));
	assert_false(config_key_is_local("setting/global/scan_threads"));
}

static void populate(struct config_store *cs)
{
	struct err e;
	must_set(cs, "smtp_banner", NULL, "ESMTP export test");
	must_set(cs, "tag_score", "domain:example.com", "4.5");
	must_set(cs, "block_score", "user:bob@example.com", "8");
	must_set(cs, "scan_threads", "node", "2");
	assert_int_equal(config_domain_add(cs, "example.com", "smtp:mx.example.com:25", &e), 0);
	assert_int_equal(config_domain_add(cs, "example.org", "maildir:/srv/mail", &e), 0);
}

static void test_export_import(void **state)
{
	struct fixture *f = *state;
	struct err e;
	populate(f->cs);
	json_t *doc = config_export(f->cs);
	assert_int_equal(json_integer_value(json_object_get(doc, "version")), 1);
	assert_int_equal(json_object_size(json_object_get(doc, "keys")), 6);

	/* a second store with its own, different content */
	char path2[160];
	snprintf(path2, sizeof path2, "%s/other.db", f->dir);
	struct config_store *b = config_open(path2, &e);
	assert_non_null(b);
	must_set(b, "smtp_max_errors", NULL, "3");
	must_set(b, "scan_threads", "node", "6");
	must_set(b, "smtp_drain_timeout", "node", "5");
	assert_int_equal(config_domain_add(b, "stale.example", "smtp:h:25", &e), 0);
	assert_int_equal(config_import(b, doc, &e), 0);

	/* replicated keys equal, stale ones gone, node-local ones kept */
	assert_int_equal(config_int(b, "smtp_max_errors", NULL, NULL), 10);
	assert_int_equal(config_domain_count(b), 2);
	struct domain_info di;
	assert_int_equal(config_domain_get(b, "stale.example", &di), -1);
	assert_true(config_float(b, "block_score", NULL, "bob@example.com") == 8);
	assert_int_equal(config_int(b, "scan_threads", NULL, NULL), 2);
	assert_int_equal(config_int(b, "smtp_drain_timeout", NULL, NULL), 5);
	json_t *doc2 = config_export(b);
	json_t *keys2 = json_object_get(doc2, "keys");
	json_object_del(keys2, "setting/node/smtp_drain_timeout");
	assert_true(json_equal(doc, doc2));
	json_decref(doc2);

	/* importing the same again writes nothing */
	uint64_t v = config_version(b);
	assert_int_equal(config_import(b, doc, &e), 0);
	assert_int_equal(config_version(b), v);
	config_close(b);
	remove_db(path2);
	json_decref(doc);
}

static void test_import_rejects(void **state)
{
	struct fixture *f = *state;
	struct err e;
	populate(f->cs);
	json_t *before = config_export(f->cs);
	uint64_t v = config_version(f->cs);
	static const char *const bad[] = {
		"[]",
		"{\"keys\":{}}",
		"{\"version\":2,\"keys\":{}}",
		"{\"version\":1,\"keys\":[]}",
		"{\"version\":1,\"keys\":{\"setting/global/smtp_banner\":\"ok\","
		"\"setting/global/smtp_max_recipients\":\"lots\"}}",
		"{\"version\":1,\"keys\":{\"setting/global/smtp_banner\":\"ok\","
		"\"setting/global/no_such\":\"1\"}}",
		"{\"version\":1,\"keys\":{\"domain/new.example\":\"{\\\"destination\\\":\\\"x\\\"}\"}}",
		"{\"version\":1,\"keys\":{\"setting/domain/example.com/smtp_banner\":\"x\"}}",
		"{\"version\":1,\"keys\":{\"setting/global/smtp_banner\":5}}",
		"{\"version\":1,\"keys\":{\"unknown/x\":\"1\"}}",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		json_t *doc = json_loads(bad[i], 0, NULL);
		assert_non_null(doc);
		e.msg[0] = '\0';
		if (config_import(f->cs, doc, &e) != -1)
			fail_msg("import accepted %s", bad[i]);
		assert_non_null(strstr(e.msg, "import"));
		json_decref(doc);
	}
	json_t *after = config_export(f->cs);
	assert_true(json_equal(before, after));
	assert_int_equal(config_version(f->cs), v);
	json_decref(before);
	json_decref(after);
}

struct counter {
	int calls;
	char last[256];
};

static void on_change(void *arg, const char *key)
{
	struct counter *c = arg;
	c->calls++;
	snprintf(c->last, sizeof c->last, "%s", key);
}

static void test_listeners(void **state)
{
	struct config_store *cs = ((struct fixture *)*state)->cs;
	struct counter a = {0, ""}, b = {0, ""};
	struct err e;
	config_on_change(cs, on_change, &a);
	config_on_change(cs, on_change, &b);
	must_set(cs, "tag_score", "domain:example.com", "2");
	assert_int_equal(a.calls, 1);
	assert_int_equal(b.calls, 1);
	assert_string_equal(a.last, "setting/domain/example.com/tag_score");
	assert_int_equal(config_set(cs, "tag_score", NULL, "bad", &e), -1);
	assert_int_equal(a.calls, 1);
	assert_int_equal(config_domain_add(cs, "example.com", "smtp:h:25", &e), 0);
	assert_string_equal(a.last, "domain/example.com");
	assert_int_equal(config_put_raw(cs, "setting/global/smtp_max_errors", "4", 10, 1, &e), 1);
	assert_int_equal(config_put_raw(cs, "setting/global/smtp_max_errors", "5", 9, 1, &e), 0);
	assert_int_equal(a.calls, 3);
	assert_int_equal(config_version(cs), 3);
}

/* A module's own namespace: values must start with "ok", keys have one
 * lower-case part after the prefix. */
static int zz_check(const char *key, const char *value, char *canon, size_t canonlen,
		    struct err *e)
{
	const char *rest = key + 3;
	if (!*rest || rest[strspn(rest, "abcdefghijklmnopqrstuvwxyz")])
		return err_set(e, "bad zz key %s", key);
	if (!value)
		return 0;
	if (strncmp(value, "ok", 2) != 0)
		return err_set(e, "%s: value must start with ok", key);
	snprintf(canon, canonlen, "%s", value);
	return 0;
}

static void test_namespaces(void **state)
{
	struct fixture *f = *state;
	struct err e;
	char s[64];
	assert_int_equal(config_put(f->cs, "zz/one", "ok 1", &e), -1); /* not registered yet */
	config_register_namespace("zz/", zz_check);
	config_register_namespace("zz/", zz_check); /* twice is harmless */
	assert_int_equal(config_put(f->cs, "zz/one", "ok 1", &e), 0);
	assert_int_equal(config_put(f->cs, "zz/two", "ok 2", &e), 0);
	assert_int_equal(config_put(f->cs, "zz/bad", "nope", &e), -1);
	assert_string_equal(e.msg, "zz/bad: value must start with ok");
	assert_int_equal(config_put(f->cs, "zz/UPPER", "ok", &e), -1);
	assert_int_equal(config_put(f->cs, "zz/two", NULL, &e), 0);
	assert_int_equal(config_put(f->cs, "zz/three", "ok 3", &e), 0);
	/* built-in namespaces go through the same validation */
	assert_int_equal(config_put(f->cs, "setting/global/smtp_max_errors", "12", &e), 0);
	assert_int_equal(config_int(f->cs, "smtp_max_errors", NULL, NULL), 12);
	assert_int_equal(config_put(f->cs, "setting/global/smtp_max_errors", "0", &e), -1);

	json_t *l = config_list_prefix(f->cs, "zz/");
	assert_int_equal(json_array_size(l), 2);
	assert_string_equal(json_string_value(json_object_get(json_array_get(l, 0), "key")),
			    "zz/one");
	assert_string_equal(json_string_value(json_object_get(json_array_get(l, 1), "value")),
			    "ok 3");
	json_decref(l);
	reopen(f); /* registered before open: the rows load */
	assert_int_equal(config_get_raw(f->cs, "zz/three", s, sizeof s), 1);
	assert_string_equal(s, "ok 3");
	assert_int_equal(config_get_raw(f->cs, "zz/two", s, sizeof s), 0);
	/* and they travel with export/import */
	json_t *doc = config_export(f->cs);
	assert_string_equal(json_string_value(json_object_get(json_object_get(doc, "keys"),
								"zz/one")), "ok 1");
	json_decref(doc);
}

/* Both checks happen before the store is touched, so no store is needed. */
static void panic_child(int which)
{
	char s[8];
	if (which == 1)
		config_str(NULL, "no_such_setting", NULL, NULL, s, sizeof s);
	else
		config_int(NULL, "smtp_banner", NULL, NULL); /* a STRING as an integer */
	_exit(0);
}

static void test_programming_errors_panic(void **state)
{
	(void)state;
	for (int which = 1; which <= 2; which++) {
		fflush(NULL);
		pid_t pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			freopen("/dev/null", "w", stderr);
			panic_child(which);
		}
		int status;
		waitpid(pid, &status, 0);
		assert_true(WIFSIGNALED(status));
		assert_int_equal(WTERMSIG(status), SIGABRT);
	}
}

/* ---- threads ---- */

#define READERS 8
#define WRITES 300

struct reader {
	struct config_store *cs;
	atomic_int *stop;
	long reads;
	int bad;
};

static void *reader_main(void *arg)
{
	struct reader *r = arg;
	struct domain_info di;
	char s[64];
	while (!atomic_load(r->stop)) {
		double t = config_float(r->cs, "tag_score", "example.com", "bob@example.com");
		int64_t n = config_int(r->cs, "smtp_max_errors", NULL, NULL);
		if (t != 3.5 && t != 4 && t != 6)
			r->bad++;
		if (n != 10 && n != 11 && n != 12)
			r->bad++;
		if (config_domain_get(r->cs, "example.com", &di) == 0 &&
		    strcmp(di.destination, "smtp:a.example:25") && strcmp(di.destination, "smtp:b.example:25"))
			r->bad++;
		config_str(r->cs, "smtp_banner", NULL, NULL, s, sizeof s);
		if (strncmp(s, "ESMTP", 5) != 0)
			r->bad++;
		json_decref(config_domain_list(r->cs));
		r->reads++;
	}
	return NULL;
}

static void *writer_main(void *arg)
{
	struct config_store *cs = arg;
	struct err e;
	for (int i = 0; i < WRITES; i++) {
		if (config_set(cs, "smtp_max_errors", NULL, i % 2 ? "11" : "12", &e) < 0)
			return (void *)1;
		/* new keys too, so the map grows under the readers */
		char scope[64];
		snprintf(scope, sizeof scope, "user:u%d@example.net", i);
		if (config_set(cs, "tag_score", scope, "1", &e) < 0)
			return (void *)1;
	}
	return NULL;
}

static void test_concurrent_readers(void **state)
{
	struct config_store *cs = ((struct fixture *)*state)->cs;
	struct err e;
	atomic_int stop = 0;
	struct reader r[READERS];
	pthread_t rt[READERS], wt[2];
	for (int i = 0; i < READERS; i++) {
		r[i] = (struct reader){cs, &stop, 0, 0};
		pthread_create(&rt[i], NULL, reader_main, &r[i]);
	}
	pthread_create(&wt[0], NULL, writer_main, cs);
	for (int i = 0; i < WRITES; i++) {
		must_set(cs, "tag_score", "domain:example.com", i % 2 ? "4" : "6");
		assert_int_equal(config_domain_add(cs, "example.com",
						   i % 2 ? "smtp:a.example:25" : "smtp:b.example:25",
						   &e), 0);
	}
	void *wr;
	pthread_join(wt[0], &wr);
	assert_null(wr);
	atomic_store(&stop, 1);
	long reads = 0;
	for (int i = 0; i < READERS; i++) {
		pthread_join(rt[i], NULL);
		assert_int_equal(r[i].bad, 0);
		reads += r[i].reads;
	}
	assert_true(reads > 0);
	assert_int_equal(config_version(cs), 4 * WRITES);
	print_message("concurrent: %d readers did %ld read rounds during %d writes\n", READERS, reads,
		      4 * WRITES);
}

static void test_read_speed(void **state)
{
	struct config_store *cs = ((struct fixture *)*state)->cs;
	must_set(cs, "tag_score", "domain:example.com", "4");
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	double sum = 0;
	const int n = 200000;
	for (int i = 0; i < n; i++)
		sum += config_float(cs, "tag_score", "example.com", "bob@example.com");
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	assert_true(sum == 4.0 * n);
	print_message("config_float (user->domain->global): %.0f reads/s\n", n / s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_defaults, setup, teardown),
		cmocka_unit_test_setup_teardown(test_set_validation, setup, teardown),
		cmocka_unit_test_setup_teardown(test_resolution_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_settings_json, setup, teardown),
		cmocka_unit_test_setup_teardown(test_domains, setup, teardown),
		cmocka_unit_test_setup_teardown(test_persistence, setup, teardown),
		cmocka_unit_test_setup_teardown(test_put_raw_ordering, setup, teardown),
		cmocka_unit_test_setup_teardown(test_export_import, setup, teardown),
		cmocka_unit_test_setup_teardown(test_import_rejects, setup, teardown),
		cmocka_unit_test_setup_teardown(test_listeners, setup, teardown),
		cmocka_unit_test_setup_teardown(test_namespaces, setup, teardown),
		cmocka_unit_test(test_programming_errors_panic),
		cmocka_unit_test_setup_teardown(test_concurrent_readers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_speed, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
