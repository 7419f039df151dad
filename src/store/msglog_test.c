/* Message log: insert, search filters, paging, CIDR, LIKE escaping,
 * delivery updates, purge, stats, and insert throughput. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "store/db.h"
#include "store/msglog.h"

struct fixture {
	char dir[64];
	char path[128];
	sqlite3 *db;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof *f);
	struct err e;
	snprintf(f->dir, sizeof f->dir, "/tmp/rampart-msglog-XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	snprintf(f->path, sizeof f->path, "%s/node.db", f->dir);
	f->db = db_open(f->path, &e);
	if (!f->db || msglog_init(f->db, &e) < 0)
		fail_msg("open: %s", e.msg);
	/* twice is harmless */
	assert_int_equal(msglog_init(f->db, &e), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	static const char *const sfx[] = {"", "-wal", "-shm"};
	char p[160];
	db_close(f->db);
	for (size_t i = 0; i < 3; i++) {
		snprintf(p, sizeof p, "%s%s", f->path, sfx[i]);
		unlink(p);
	}
	rmdir(f->dir);
	free(f);
	return 0;
}

#define T0 1767225600000LL /* 2026-01-01T00:00:00Z */

static void add(sqlite3 *db, int64_t t, const char *ip, const char *from, const char *rcpts,
		const char *subject, double score, const char *action, const char *qid)
{
	struct err e;
	struct msglog_row r = {
		.time_ms = t, .node = "node1", .client_ip = ip, .helo = "mx.sender.example",
		.mail_from = from, .rcpts = rcpts, .subject = subject, .size = 1234,
		.score = score, .rules = "BAYES_99, URIBL_BLOCKED,,", .layer = "scoring",
		.reason = "score", .action = action, .delivery = "queued", .queue_id = qid,
		.message_id = "<id@example>",
	};
	if (msglog_insert(db, &r, &e) != 0)
		fail_msg("insert: %s", e.msg);
}

static json_t *search(sqlite3 *db, const struct msglog_query *q)
{
	struct err e;
	json_t *res = msglog_search(db, q, &e);
	if (!res)
		fail_msg("search: %s", e.msg);
	return res;
}

static int64_t total_of(sqlite3 *db, const struct msglog_query *q)
{
	json_t *res = search(db, q);
	int64_t n = json_integer_value(json_object_get(res, "total"));
	assert_int_equal(json_array_size(json_object_get(res, "rows")), n < 50 ? n : 50);
	json_decref(res);
	return n;
}

static void sample(sqlite3 *db)
{
	add(db, T0 + 1000, "192.0.2.10", "alice@example.com", "bob@corp.example", "Hello Bob", 0.5,
	    "allow", "Q1");
	add(db, T0 + 2000, "192.0.2.200", "spammer@bad.example", "bob@corp.example,carol@corp.example",
	    "100% FREE offer_now", 12.0, "block", NULL);
	add(db, T0 + 3000, "198.51.100.7", "news@list.example", "carol@corp.example",
	    "Weekly news", 4.2, "tag", "Q3");
	add(db, T0 + 4000, "2001:db8::25", "Alice@Example.com", "dave@corp.example", "Re: Hello",
	    6.0, "quarantine", "Q4");
	add(db, T0 + 5000, "::ffff:192.0.2.11", "x@y.example", "bob@corp.example", "back\\slash",
	    1.0, "allow", "Q5");
}

static void test_insert_get(void **state)
{
	struct fixture *f = *state;
	struct err e;
	sample(f->db);
	int64_t id = sqlite3_last_insert_rowid(f->db);
	json_t *row = msglog_get(f->db, id - 3, &e);
	assert_non_null(row);
	assert_string_equal(json_string_value(json_object_get(row, "action")), "block");
	assert_string_equal(json_string_value(json_object_get(row, "time")), "2026-01-01T00:00:02Z");
	assert_int_equal(json_integer_value(json_object_get(row, "time_ms")), T0 + 2000);
	json_t *rcpts = json_object_get(row, "rcpts");
	assert_int_equal(json_array_size(rcpts), 2);
	assert_string_equal(json_string_value(json_array_get(rcpts, 1)), "carol@corp.example");
	json_t *rules = json_object_get(row, "rules");
	assert_int_equal(json_array_size(rules), 2);
	assert_string_equal(json_string_value(json_array_get(rules, 1)), "URIBL_BLOCKED");
	assert_true(json_real_value(json_object_get(row, "score")) == 12.0);
	assert_int_equal(json_integer_value(json_object_get(row, "size")), 1234);
	assert_true(json_is_null(json_object_get(row, "queue_id")));
	assert_string_equal(json_string_value(json_object_get(row, "helo")), "mx.sender.example");
	json_decref(row);
	assert_null(msglog_get(f->db, 999999, &e));
	assert_string_equal(e.msg, "no message log entry 999999");

	/* hostile text: bad UTF-8 and NULs never break the JSON */
	struct msglog_row r = {.time_ms = T0, .subject = "caf\xc3\xa9 \xff\xfe end", .action = "allow",
			       .rcpts = NULL};
	assert_int_equal(msglog_insert(f->db, &r, &e), 0);
	row = msglog_get(f->db, sqlite3_last_insert_rowid(f->db), &e);
	assert_string_equal(json_string_value(json_object_get(row, "subject")),
			    "caf\xc3\xa9 \xef\xbf\xbd\xef\xbf\xbd end");
	assert_int_equal(json_array_size(json_object_get(row, "rcpts")), 0);
	assert_true(json_is_null(json_object_get(row, "client_ip")));
	json_decref(row);

	/* long text is capped on a character boundary */
	char subj[3000];
	for (size_t i = 0; i + 2 < sizeof subj; i += 2)
		memcpy(subj + i, "\xc3\xa9", 2);
	subj[sizeof subj - 1] = '\0';
	r.subject = subj;
	r.time_ms = 0; /* now */
	assert_int_equal(msglog_insert(f->db, &r, &e), 0);
	row = msglog_get(f->db, sqlite3_last_insert_rowid(f->db), &e);
	const char *s = json_string_value(json_object_get(row, "subject"));
	assert_int_equal(strlen(s), 1000);
	assert_null(strstr(s, "\xef\xbf\xbd"));
	assert_true(json_integer_value(json_object_get(row, "time_ms")) > T0);
	json_decref(row);
}

static void test_filters(void **state)
{
	struct fixture *f = *state;
	sample(f->db);
	struct msglog_query q = {0};
	assert_int_equal(total_of(f->db, &q), 5);

	/* newest first */
	json_t *res = search(f->db, &q);
	json_t *rows = json_object_get(res, "rows");
	assert_string_equal(json_string_value(json_object_get(json_array_get(rows, 0), "subject")),
			    "back\\slash");
	assert_string_equal(json_string_value(json_object_get(json_array_get(rows, 4), "subject")),
			    "Hello Bob");
	json_decref(res);

	q = (struct msglog_query){.sender = "ALICE@example"};
	assert_int_equal(total_of(f->db, &q), 2); /* case-insensitive substring */
	q = (struct msglog_query){.rcpt = "carol"};
	assert_int_equal(total_of(f->db, &q), 2);
	q = (struct msglog_query){.subject = "hello"};
	assert_int_equal(total_of(f->db, &q), 2);
	q = (struct msglog_query){.action = "allow"};
	assert_int_equal(total_of(f->db, &q), 2);
	q = (struct msglog_query){.min_score = 5, .has_min_score = 1};
	assert_int_equal(total_of(f->db, &q), 2);
	q = (struct msglog_query){.min_score = 0, .has_min_score = 1};
	assert_int_equal(total_of(f->db, &q), 5);
	q = (struct msglog_query){.since_ms = T0 + 2000, .until_ms = T0 + 4000};
	assert_int_equal(total_of(f->db, &q), 2); /* [since, until) */
	q = (struct msglog_query){.since_ms = T0 + 2000, .action = "allow"};
	assert_int_equal(total_of(f->db, &q), 1);
	q = (struct msglog_query){.sender = "alice", .subject = "re:", .min_score = 5,
				  .has_min_score = 1};
	assert_int_equal(total_of(f->db, &q), 1);
	q = (struct msglog_query){.sender = "nobody"};
	assert_int_equal(total_of(f->db, &q), 0);
}

static void test_like_escaping(void **state)
{
	struct fixture *f = *state;
	sample(f->db);
	struct msglog_query q = {.subject = "%"};
	assert_int_equal(total_of(f->db, &q), 1); /* only the "100% FREE" subject */
	q.subject = "_";
	assert_int_equal(total_of(f->db, &q), 1); /* only "offer_now" */
	q.subject = "r_n";
	assert_int_equal(total_of(f->db, &q), 1); /* literal, so not "Hello Bob" etc. */
	q.subject = "0%";
	assert_int_equal(total_of(f->db, &q), 1);
	q.subject = "F%E";
	assert_int_equal(total_of(f->db, &q), 0); /* % is not a wildcard */
	q.subject = "\\";
	assert_int_equal(total_of(f->db, &q), 1);
	q.subject = "k\\s";
	assert_int_equal(total_of(f->db, &q), 1);
	q.subject = "'; DROP TABLE msglog; --";
	assert_int_equal(total_of(f->db, &q), 0);
	q = (struct msglog_query){0};
	assert_int_equal(total_of(f->db, &q), 5);
	char big[2000];
	memset(big, '%', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	struct err e;
	q.sender = big;
	assert_null(msglog_search(f->db, &q, &e));
}

static void test_cidr(void **state)
{
	struct fixture *f = *state;
	struct err e;
	sample(f->db);
	struct msglog_query q = {.client_ip = "192.0.2.10"};
	assert_int_equal(total_of(f->db, &q), 1);
	q.client_ip = "192.0.2.0/24";
	assert_int_equal(total_of(f->db, &q), 3); /* .10, .200 and the v4-mapped .11 */
	q.client_ip = "192.0.2.0/25";
	assert_int_equal(total_of(f->db, &q), 2);
	q.client_ip = "192.0.2.11";
	assert_int_equal(total_of(f->db, &q), 1);
	q.client_ip = "0.0.0.0/0";
	assert_int_equal(total_of(f->db, &q), 4);
	q.client_ip = "2001:db8::/32";
	assert_int_equal(total_of(f->db, &q), 1);
	q.client_ip = "2001:DB8:0::25";
	assert_int_equal(total_of(f->db, &q), 1);
	q.client_ip = "::/0";
	assert_int_equal(total_of(f->db, &q), 5);
	q.client_ip = "198.51.100.8/32";
	assert_int_equal(total_of(f->db, &q), 0);
	static const char *const bad[] = {"192.0.2.0/33", "nonsense", "192.0.2.1/", "", "1.2.3"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		q.client_ip = bad[i];
		assert_null(msglog_search(f->db, &q, &e));
		assert_non_null(strstr(e.msg, "client IP"));
	}
}

static void test_paging(void **state)
{
	struct fixture *f = *state;
	char subj[32];
	sqlite3_exec(f->db, "BEGIN", NULL, NULL, NULL);
	for (int i = 0; i < 1234; i++) {
		snprintf(subj, sizeof subj, "msg %d", i);
		add(f->db, T0 + i * 1000, "203.0.113.5", "a@b.example", "c@d.example", subj, 0,
		    "allow", NULL);
	}
	sqlite3_exec(f->db, "COMMIT", NULL, NULL, NULL);
	struct msglog_query q = {.limit = 10, .offset = 20};
	json_t *res = search(f->db, &q);
	json_t *rows = json_object_get(res, "rows");
	assert_int_equal(json_integer_value(json_object_get(res, "total")), 1234);
	assert_int_equal(json_array_size(rows), 10);
	assert_string_equal(json_string_value(json_object_get(json_array_get(rows, 0), "subject")),
			    "msg 1213");
	assert_string_equal(json_string_value(json_object_get(json_array_get(rows, 9), "subject")),
			    "msg 1204");
	json_decref(res);

	q = (struct msglog_query){0}; /* default 50 */
	res = search(f->db, &q);
	assert_int_equal(json_array_size(json_object_get(res, "rows")), 50);
	json_decref(res);
	q.limit = 5000; /* capped at 1000 */
	res = search(f->db, &q);
	assert_int_equal(json_array_size(json_object_get(res, "rows")), 1000);
	json_decref(res);
	q.limit = 50;
	q.offset = 1230;
	res = search(f->db, &q);
	assert_int_equal(json_array_size(json_object_get(res, "rows")), 4);
	json_decref(res);
	q.offset = -5;
	res = search(f->db, &q);
	assert_int_equal(json_array_size(json_object_get(res, "rows")), 50);
	json_decref(res);
	/* time-bounded newest-first pages use the time index */
	sqlite3_stmt *st;
	sqlite3_prepare_v2(f->db,
			   "EXPLAIN QUERY PLAN SELECT id FROM msglog WHERE time_ms >= 1 ORDER BY"
			   " time_ms DESC LIMIT 5",
			   -1, &st, NULL);
	int indexed = 0;
	while (sqlite3_step(st) == SQLITE_ROW)
		indexed |= strstr((const char *)sqlite3_column_text(st, 3), "msglog_time") != NULL;
	sqlite3_finalize(st);
	assert_true(indexed);
}

static void test_delivery_purge(void **state)
{
	struct fixture *f = *state;
	struct err e;
	sample(f->db);
	assert_int_equal(msglog_set_delivery(f->db, "Q3", "delivered", &e), 0);
	assert_int_equal(msglog_set_delivery(f->db, "nope", "delivered", &e), 0);
	assert_int_equal(msglog_set_delivery(f->db, "", "delivered", &e), -1);
	assert_int_equal(msglog_set_delivery(f->db, "Q3", NULL, &e), -1);
	struct msglog_query q = {.action = "tag"};
	json_t *res = search(f->db, &q);
	assert_string_equal(json_string_value(json_object_get(
				    json_array_get(json_object_get(res, "rows"), 0), "delivery")),
			    "delivered");
	json_decref(res);

	/* 12000 old rows go in several batches; newer rows stay */
	sqlite3_exec(f->db, "BEGIN", NULL, NULL, NULL);
	for (int i = 0; i < 12000; i++)
		add(f->db, T0 - 86400000 - i, "203.0.113.9", "a@b.example", "c@d.example", "old", 0,
		    "allow", NULL);
	sqlite3_exec(f->db, "COMMIT", NULL, NULL, NULL);
	q = (struct msglog_query){0};
	assert_int_equal(total_of(f->db, &q), 12005);
	assert_int_equal(msglog_purge(f->db, T0, &e), 0);
	assert_int_equal(total_of(f->db, &q), 5);
	assert_int_equal(msglog_purge(f->db, T0 + 3000, &e), 0);
	assert_int_equal(total_of(f->db, &q), 3);
}

static int64_t bucket(json_t *series, size_t i, const char *k)
{
	return json_integer_value(json_object_get(json_array_get(series, i), k));
}

static void test_stats(void **state)
{
	struct fixture *f = *state;
	struct err e;
	const int64_t hour = 3600000, day = 24 * hour;
	int64_t now = T0 + 10 * hour + 30 * 60000; /* 10:30 */
	add(f->db, now - 1000, "192.0.2.1", "a@x", "b@y", "s", 0, "allow", NULL);
	add(f->db, now - 2000, "192.0.2.1", "a@x", "b@y", "s", 9, "block", NULL);
	add(f->db, T0 + 9 * hour + 5, "192.0.2.1", "a@x", "b@y", "s", 4, "tag", NULL);
	add(f->db, now - 2 * day, "192.0.2.1", "a@x", "b@y", "s", 6, "quarantine", NULL);
	add(f->db, now - 30 * day, "192.0.2.1", "a@x", "b@y", "s", 0, "allow", NULL); /* too old */
	add(f->db, now + day, "192.0.2.1", "a@x", "b@y", "s", 0, "allow", NULL);      /* future */
	add(f->db, now - 5000, "192.0.2.1", "a@x", "b@y", "s", 0, "tempfail", NULL);
	json_t *st = msglog_stats(f->db, now, &e);
	assert_non_null(st);
	json_t *h = json_object_get(st, "hourly"), *d = json_object_get(st, "daily");
	assert_int_equal(json_array_size(h), 24);
	assert_int_equal(json_array_size(d), 25);
	assert_int_equal(bucket(h, 23, "t"), T0 + 10 * hour);
	assert_int_equal(bucket(h, 23, "allow"), 1);
	assert_int_equal(bucket(h, 23, "block"), 1);
	assert_int_equal(bucket(h, 23, "tempfail"), 1);
	assert_int_equal(bucket(h, 23, "total"), 3);
	assert_int_equal(bucket(h, 22, "tag"), 1);
	assert_int_equal(bucket(h, 0, "total"), 0);
	assert_int_equal(bucket(d, 24, "t"), T0);
	assert_int_equal(bucket(d, 24, "total"), 4);
	assert_int_equal(bucket(d, 22, "quarantine"), 1);
	int64_t sum = 0;
	for (size_t i = 0; i < 25; i++)
		sum += bucket(d, i, "total");
	assert_int_equal(sum, 5);
	json_decref(st);
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The hot path: one autocommit insert per message, as the server does. */
static void test_insert_rate(void **state)
{
	struct fixture *f = *state;
	const int n = 5000;
	char qid[32], subj[64];
	double t0 = now_s();
	for (int i = 0; i < n; i++) {
		snprintf(qid, sizeof qid, "Q%08d", i);
		snprintf(subj, sizeof subj, "Message number %d about things", i);
		add(f->db, T0 + i, "198.51.100.23", "sender@example.com",
		    "rcpt1@corp.example,rcpt2@corp.example", subj, 2.5, "allow", qid);
	}
	double dt = now_s() - t0;
	struct msglog_query q = {0};
	assert_int_equal(total_of(f->db, &q), n);
	print_message("msglog_insert: %d rows in %.3f s = %.0f inserts/s (autocommit, WAL)\n", n, dt,
		      n / dt);
}

/* The background writer: rows copied at once, written in batches, in
 * order, and everything written by flush/close. */
static void test_writer(void **state)
{
	struct fixture *f = *state;
	struct err e;
	struct msglog_writer *w = msglog_writer_open(f->path, &e);
	assert_non_null(w);
	const int n = 20000;
	char subj[64], qid[32];
	double t0 = now_s();
	for (int i = 0; i < n; i++) {
		snprintf(subj, sizeof subj, "Message number %d about things", i);
		snprintf(qid, sizeof qid, "W%08d", i);
		struct msglog_row r = {
			.time_ms = T0 + i, .node = "node1", .client_ip = "198.51.100.23",
			.helo = "mx.example", .mail_from = "sender@example.com",
			.rcpts = "rcpt1@corp.example,rcpt2@corp.example", .subject = subj,
			.size = 4321, .score = 2.5, .rules = "A,B", .layer = "scoring",
			.reason = "score", .action = "allow", .delivery = "queued", .queue_id = qid,
			.message_id = "<x@example>",
		};
		assert_int_equal(msglog_writer_add(w, &r), 0);
		memset(subj, 'X', sizeof subj - 1); /* the writer kept its own copy */
	}
	double t1 = now_s();
	assert_int_equal(msglog_writer_set_delivery(w, "W00000007", "delivered"), 0);
	assert_int_equal(msglog_writer_set_delivery(w, "", "delivered"), -1);
	msglog_writer_flush(w);
	double t2 = now_s();
	print_message("msglog_writer: %d rows queued at %.0f/s, written at %.0f rows/s "
		      "(batched transactions)\n", n, n / (t1 - t0), n / (t2 - t0));
	struct msglog_query q = {.subject = "number 7 about"};
	json_t *res = search(f->db, &q);
	assert_int_equal(json_integer_value(json_object_get(res, "total")), 1);
	json_t *row = json_array_get(json_object_get(res, "rows"), 0);
	assert_string_equal(json_string_value(json_object_get(row, "delivery")), "delivered");
	assert_string_equal(json_string_value(json_object_get(row, "queue_id")), "W00000007");
	assert_int_equal(json_integer_value(json_object_get(row, "size")), 4321);
	json_decref(res);
	q = (struct msglog_query){0};
	assert_int_equal(total_of(f->db, &q), n);

	/* close drains what is still queued */
	struct msglog_row last = {.time_ms = T0 + n, .action = "block", .subject = "last one"};
	assert_int_equal(msglog_writer_add(w, &last), 0);
	assert_int_equal(msglog_writer_dropped(w), 0);
	msglog_writer_close(w);
	q = (struct msglog_query){.action = "block"};
	assert_int_equal(total_of(f->db, &q), 1);
}

struct writer_arg {
	const char *path;
	int id;
	int failed;
};

static void *writer_main(void *arg)
{
	struct writer_arg *w = arg;
	struct err e;
	sqlite3 *db = db_open(w->path, &e); /* one connection per thread */
	if (!db) {
		w->failed = 1;
		return NULL;
	}
	for (int i = 0; i < 500; i++) {
		struct msglog_row r = {.time_ms = T0 + i, .action = "allow", .node = "n"};
		if (msglog_insert(db, &r, &e) != 0)
			w->failed = 1;
		if (i % 50 == 0) {
			struct msglog_query q = {.action = "allow", .limit = 5};
			json_t *res = msglog_search(db, &q, &e);
			if (!res)
				w->failed = 1;
			json_decref(res);
		}
	}
	db_close(db);
	return NULL;
}

static void test_threads(void **state)
{
	struct fixture *f = *state;
	pthread_t t[4];
	struct writer_arg w[4];
	for (int i = 0; i < 4; i++) {
		w[i] = (struct writer_arg){f->path, i, 0};
		pthread_create(&t[i], NULL, writer_main, &w[i]);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(w[i].failed, 0);
	}
	struct msglog_query q = {0};
	assert_int_equal(total_of(f->db, &q), 2000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_insert_get, setup, teardown),
		cmocka_unit_test_setup_teardown(test_filters, setup, teardown),
		cmocka_unit_test_setup_teardown(test_like_escaping, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cidr, setup, teardown),
		cmocka_unit_test_setup_teardown(test_paging, setup, teardown),
		cmocka_unit_test_setup_teardown(test_delivery_purge, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stats, setup, teardown),
		cmocka_unit_test_setup_teardown(test_insert_rate, setup, teardown),
		cmocka_unit_test_setup_teardown(test_writer, setup, teardown),
		cmocka_unit_test_setup_teardown(test_threads, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
