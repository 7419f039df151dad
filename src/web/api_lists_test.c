/* Policy API routes called as the web server calls them (worker side):
 * lists (single, bulk, paging, normalised paths, errors), the policy
 * check, content filters and fingerprints. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <sys/queue.h>

#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "filter/content.h"
#include "filter/policy_test_util.h"
#include "node.h"
#include "web/api_lists.h"

struct ctx {
	struct pt_env *t;
	struct node node;
};

struct reply {
	int status;
	json_t *body;
};

/* One request through the route table; path below /api/v1. */
static struct reply call(struct ctx *x, const char *method, const char *path, const char *body)
{
	char p[1024];
	snprintf(p, sizeof p, "%s", path);
	char *q = strchr(p, '?');
	if (q)
		*q++ = '\0';
	const struct api_route *r = NULL;
	const char *param = NULL;
	for (unsigned i = 0; i < api_list_nroutes && !r; i++) {
		const char *pat = api_list_routes[i].pattern;
		size_t n = strlen(pat);
		if (strcmp(api_list_routes[i].method, method) != 0)
			continue;
		if (pat[n - 1] == '*' && strncmp(pat, p, n - 1) == 0 && p[n - 1]) {
			r = &api_list_routes[i];
			param = p + n - 1;
		} else if (strcmp(pat, p) == 0) {
			r = &api_list_routes[i];
		}
	}
	if (!r)
		fail_msg("no route %s %s", method, path);
	struct evkeyvalq query;
	TAILQ_INIT(&query);
	if (q)
		assert_int_equal(evhttp_parse_query_str(q, &query), 0);
	struct api_call c = {.node = &x->node, .db = filter_thread_db(x->t->ft), .method = method,
			     .param = NULL, .query = &query, .trusted = 1};
	snprintf(c.path, sizeof c.path, "%s", p);
	if (param)
		c.param = c.path + (param - p);
	c.body = body ? json_loads(body, 0, NULL) : NULL;
	if (body && !c.body)
		fail_msg("bad test body %s", body);
	r->fn(&c);
	json_decref(c.body);
	evhttp_clear_headers(&query);
	return (struct reply){c.status ? c.status : 200, c.resp};
}

static int setup(void **state)
{
	struct ctx *x = calloc(1, sizeof *x);
	x->t = pt_env_new();
	x->node.cfg = x->t->cs;
	snprintf(x->node.boot.data_dir, sizeof x->node.boot.data_dir, "%s", x->t->dir);
	*state = x;
	return 0;
}

static int teardown(void **state)
{
	struct ctx *x = *state;
	pt_env_free(x->t);
	free(x);
	return 0;
}

static const char *str(json_t *j, const char *k)
{
	const char *s = json_string_value(json_object_get(j, k));
	return s ? s : "(null)";
}

static void expect(struct reply r, int status)
{
	if (r.status != status) {
		char *s = json_dumps(r.body, 0);
		fail_msg("status %d (wanted %d): %s", r.status, status, s ? s : "");
	}
}

static void test_lists(void **state)
{
	struct ctx *x = *state;
	struct reply r =
	    call(x, "POST", "/lists/ip_block",
		 "{\"entry\": \"10.1.2.3/8\", \"comment\": \"lab\", \"action\": \"quarantine\"}");
	expect(r, 201);
	assert_string_equal(str(r.body, "entry"), "10.0.0.0/8");
	assert_string_equal(str(r.body, "action"), "quarantine");
	json_decref(r.body);

	r = call(x, "POST", "/lists/ip_allow",
		 "{\"entry\": \"10.0.0.0/8\", \"action\": \"block\"}");
	expect(r, 400);
	assert_string_equal(str(r.body, "field"), "action");
	json_decref(r.body);
	r = call(x, "POST", "/lists/ip_block", "{\"entry\": \"banana\"}");
	expect(r, 400);
	assert_string_equal(str(r.body, "field"), "entry");
	json_decref(r.body);
	r = call(x, "POST", "/lists/nope", "{\"entry\": \"x\"}");
	expect(r, 404);
	json_decref(r.body);

	/* bulk: all validated before anything is written */
	r = call(x, "POST", "/lists/sender_block",
		 "{\"entries\": [{\"entry\": \"a@spam.test\"}, {\"entry\": \"not valid\"}]}");
	expect(r, 400);
	json_decref(r.body);
	r = call(x, "GET", "/lists/sender_block", NULL);
	assert_int_equal(json_integer_value(json_object_get(r.body, "total")), 0);
	json_decref(r.body);
	r = call(x, "POST", "/lists/sender_block",
		 "{\"entries\": [{\"entry\": \"a@spam.test\"}, {\"entry\": \"@Junk.Test\", "
		 "\"comment\": \"junk\", \"action\": \"tag\"}, {\"entry\": \"b@spam.test\"}]}");
	expect(r, 201);
	assert_int_equal(json_integer_value(json_object_get(r.body, "added")), 3);
	json_decref(r.body);

	r = call(x, "GET", "/lists/sender_block?limit=2&offset=1", NULL);
	expect(r, 200);
	assert_int_equal(json_integer_value(json_object_get(r.body, "total")), 3);
	json_t *rows = json_object_get(r.body, "rows");
	assert_int_equal(json_array_size(rows), 2);
	assert_string_equal(str(json_array_get(rows, 0), "entry"), "b@spam.test");
	assert_string_equal(str(json_array_get(rows, 1), "entry"), "junk.test");
	json_decref(r.body);
	r = call(x, "GET", "/lists/sender_block?q=junk", NULL);
	assert_int_equal(json_integer_value(json_object_get(r.body, "total")), 1);
	json_decref(r.body);
	r = call(x, "GET", "/lists/sender_block?limit=0", NULL);
	expect(r, 400);
	json_decref(r.body);

	/* one entry, typed as the administrator likes */
	r = call(x, "GET", "/lists/sender_block/@JUNK.test", NULL);
	expect(r, 200);
	assert_string_equal(str(r.body, "comment"), "junk");
	json_decref(r.body);
	r = call(x, "GET", "/lists", NULL);
	json_t *it;
	size_t i;
	int seen = 0;
	json_array_foreach(json_object_get(r.body, "rows"), i, it)
	{
		if (strcmp(str(it, "name"), "sender_block") == 0) {
			assert_int_equal(json_integer_value(json_object_get(it, "count")), 3);
			seen = 1;
		}
	}
	assert_true(seen);
	json_decref(r.body);

	/* the check says which entry decides */
	r = call(x, "GET", "/policy/check?ip=10.9.9.9&sender=x@mail.junk.test&rcpt=u@corp.test",
		 NULL);
	expect(r, 200);
	assert_string_equal(str(json_object_get(r.body, "ip"), "entry"), "10.0.0.0/8");
	assert_string_equal(str(json_object_get(r.body, "sender"), "action"), "tag");
	assert_true(json_is_null(json_object_get(r.body, "rcpt")));
	json_decref(r.body);

	r = call(x, "DELETE", "/lists/ip_block/10.1.1.1/8", NULL);
	expect(r, 200);
	assert_string_equal(str(r.body, "removed"), "10.0.0.0/8");
	json_decref(r.body);
	r = call(x, "DELETE", "/lists/ip_block/10.1.1.1/8", NULL);
	expect(r, 404);
	json_decref(r.body);
	r = call(x, "DELETE", "/lists/ip_block", NULL);
	expect(r, 405);
	json_decref(r.body);
}

static void test_filters(void **state)
{
	struct ctx *x = *state;
	struct reply r =
	    call(x, "POST", "/filters",
		 "{\"target\": \"subject\", \"pattern\": \"(unclosed\", \"action\": \"block\"}");
	expect(r, 400);
	assert_string_equal(str(r.body, "field"), "pattern");
	json_decref(r.body);
	r = call(x, "POST", "/filters",
		 "{\"target\": \"footer\", \"pattern\": \"x\", \"action\": \"block\"}");
	expect(r, 400);
	assert_string_equal(str(r.body, "field"), "target");
	json_decref(r.body);
	r = call(x, "POST", "/filters",
		 "{\"target\": \"subject\", \"pattern\": \"lottery\", \"action\": \"block\"}");
	expect(r, 201);
	char id[80];
	snprintf(id, sizeof id, "%s", str(r.body, "id"));
	assert_int_equal(id[0], 'f');
	json_decref(r.body);
	r = call(x, "POST", "/filters",
		 "{\"id\": \"mailer\", \"target\": \"header:X-Mailer\", \"pattern\": \"bulk\", "
		 "\"action\": \"quarantine\", \"comment\": \"bulk senders\"}");
	expect(r, 201);
	assert_string_equal(str(r.body, "target"), "header:x-mailer");
	json_decref(r.body);
	r = call(x, "POST", "/filters",
		 "{\"id\": \"mailer\", \"target\": \"subject\", \"pattern\": \"x\", \"action\": "
		 "\"tag\"}");
	expect(r, 409);
	json_decref(r.body);
	r = call(
	    x, "PUT", "/filters/mailer",
	    "{\"target\": \"header:X-Mailer\", \"pattern\": \"blaster\", \"action\": \"block\"}");
	expect(r, 200);
	json_decref(r.body);
	r = call(x, "GET", "/filters", NULL);
	assert_int_equal(json_integer_value(json_object_get(r.body, "total")), 2);
	json_decref(r.body);
	r = call(x, "GET", "/filters/mailer", NULL);
	assert_string_equal(str(r.body, "pattern"), "blaster");
	json_decref(r.body);
	/* the new filter is live for the next scan */
	struct policy *p = policy_acquire(x->t->cs);
	assert_int_equal(content_count(policy_content(p)), 2);
	policy_release(p);
	r = call(x, "DELETE", "/filters/mailer", NULL);
	expect(r, 200);
	json_decref(r.body);
	r = call(x, "GET", "/filters/mailer", NULL);
	expect(r, 404);
	json_decref(r.body);
	r = call(x, "PUT", "/filters/Bad%20Id",
		 "{\"target\": \"subject\", \"pattern\": \"x\", \"action\": \"tag\"}");
	expect(r, 400);
	json_decref(r.body);
}

static void test_fingerprints(void **state)
{
	struct ctx *x = *state;
	static const char text[] =
		"Congratulations! Your email address has won the international online lottery draw "
		"held this week in Madrid. To claim your prize of two million euros contact our "
		"claims agent with your winning number, full name, address and a copy of your "
		"passport. Act quickly because unclaimed prizes return to the treasury.";
	char body[2048];
	json_t *b =
	    json_pack("{s:s, s:s}", "message", "From: <a@lottery.test>\r\nSubject: You won\r\n\r\n",
		      "note", "lottery");
	char msg[1024];
	snprintf(msg, sizeof msg, "%s%s\r\n", json_string_value(json_object_get(b, "message")),
		 text);
	json_object_set_new(b, "message", json_string(msg));
	char *s = json_dumps(b, 0);
	snprintf(body, sizeof body, "%s", s);
	free(s);
	json_decref(b);

	struct reply r = call(x, "POST", "/fingerprints/check", body);
	expect(r, 200);
	assert_false(json_is_true(json_object_get(r.body, "match")));
	json_decref(r.body);
	r = call(x, "POST", "/fingerprints", body);
	expect(r, 201);
	json_int_t id = json_integer_value(json_object_get(r.body, "id"));
	assert_true(id > 0);
	json_decref(r.body);
	r = call(x, "POST", "/fingerprints/check", body);
	assert_true(json_is_true(json_object_get(r.body, "match")));
	assert_int_equal(json_integer_value(json_object_get(r.body, "distance")), 0);
	json_decref(r.body);
	r = call(x, "GET", "/fingerprints", NULL);
	assert_int_equal(json_integer_value(json_object_get(r.body, "total")), 1);
	assert_string_equal(str(json_array_get(json_object_get(r.body, "rows"), 0), "note"),
			    "lottery");
	json_decref(r.body);

	r = call(x, "POST", "/fingerprints",
		 "{\"message\": \"Subject: hi\\r\\n\\r\\nshort\\r\\n\"}");
	expect(r, 400);
	assert_string_equal(str(r.body, "field"), "message");
	json_decref(r.body);
	r = call(x, "POST", "/fingerprints", "{\"message_base64\": \"!!!\"}");
	expect(r, 400);
	json_decref(r.body);
	r = call(x, "POST", "/fingerprints", "{}");
	expect(r, 400);
	json_decref(r.body);
	r = call(x, "POST", "/fingerprints", "{\"quarantine_id\": 99}");
	expect(r, 404);
	json_decref(r.body);

	char path[64];
	snprintf(path, sizeof path, "/fingerprints/%lld", (long long)id);
	r = call(x, "DELETE", path, NULL);
	expect(r, 200);
	json_decref(r.body);
	r = call(x, "DELETE", path, NULL);
	expect(r, 404);
	json_decref(r.body);
	r = call(x, "DELETE", "/fingerprints/abc", NULL);
	expect(r, 404);
	json_decref(r.body);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_lists, setup, teardown),
		cmocka_unit_test_setup_teardown(test_filters, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fingerprints, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
