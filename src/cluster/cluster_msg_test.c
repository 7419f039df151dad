/* CPG message encoding: round trips, limits, malformed input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "cluster/msg.h"

static void test_change_round_trip(void **state)
{
	(void)state;
	struct config_rawchange rows[] = {
		{"setting/global/block_score", "7.5", 0x123456789abcULL, 3},
		{"domain/example.com", NULL, 42, 1}, /* tombstone */
		{"user/a@example.com", "", 43, 2},   /* empty value is not a tombstone */
	};
	struct buf b;
	struct msg m;
	struct err e;
	buf_init(&b, MSG_MAX + 64);
	assert_int_equal(msg_encode_change(&b, MSG_F_MERGE, 7, 99, 123456789, rows, 3, &e), 0);
	assert_int_equal(msg_decode(b.data, b.len, &m, &e), 0);
	assert_int_equal(m.type, MSG_CHANGE);
	assert_int_equal(m.flags, MSG_F_MERGE);
	assert_int_equal(m.origin, 7);
	assert_int_equal(m.seq, 99);
	assert_int_equal(m.sent_us, 123456789);
	assert_int_equal(m.n, 3);
	for (int i = 0; i < 3; i++) {
		assert_string_equal(m.changes[i].key, rows[i].key);
		assert_int_equal(m.changes[i].hlc, rows[i].hlc);
		assert_int_equal(m.changes[i].node, rows[i].node);
		if (rows[i].value)
			assert_string_equal(m.changes[i].value, rows[i].value);
		else
			assert_null(m.changes[i].value);
	}
	msg_free(&m);
	buf_free(&b);
}

static void test_sync_round_trip(void **state)
{
	(void)state;
	struct msg_sync s = {.view = 0xfeedfacecafebeefULL, .maxhlc = 77, .rows = 12,
			     .flags = SYNC_JOINING, .backlog = 4};
	for (int i = 0; i < 32; i++)
		s.digest[i] = (unsigned char)i;
	struct buf b;
	struct msg m;
	struct err e;
	buf_init(&b, 4096);
	assert_int_equal(msg_encode_sync(&b, MSG_DIGEST, 2, 5, 10, &s, &e), 0);
	assert_int_equal(msg_decode(b.data, b.len, &m, &e), 0);
	assert_int_equal(m.type, MSG_DIGEST);
	assert_int_equal(m.sync.view, s.view);
	assert_memory_equal(m.sync.digest, s.digest, 32);
	assert_int_equal(m.sync.maxhlc, 77);
	assert_int_equal(m.sync.rows, 12);
	assert_int_equal(m.sync.flags, SYNC_JOINING);
	assert_int_equal(m.sync.backlog, 4);
	msg_free(&m);
	assert_int_equal(msg_encode_sync(&b, MSG_CHANGE, 2, 5, 10, &s, &e), -1);
	buf_free(&b);
}

static void test_limits(void **state)
{
	(void)state;
	struct buf b;
	struct err e;
	char *big = malloc(MSG_VALUE_MAX + 2);
	memset(big, 'x', MSG_VALUE_MAX + 1);
	big[MSG_VALUE_MAX + 1] = '\0';
	struct config_rawchange r = {"k/x", big, 1, 1};
	buf_init(&b, MSG_MAX + 64);
	assert_int_equal(msg_encode_change(&b, 0, 1, 1, 0, &r, 1, &e), -1);
	big[MSG_VALUE_MAX] = '\0'; /* exactly the maximum is fine */
	assert_int_equal(msg_encode_change(&b, 0, 1, 1, 0, &r, 1, &e), 0);
	/* more rows than fit in one message: refused (the sender splits) */
	struct config_rawchange many[20];
	for (int i = 0; i < 20; i++)
		many[i] = r;
	assert_int_equal(msg_encode_change(&b, 0, 1, 1, 0, many, 20, &e), -1);
	free(big);
	buf_free(&b);
}

/* Every truncation and every single-byte corruption of a valid message
 * is either refused or decodes within bounds (ASan checks the reads). */
static void test_malformed(void **state)
{
	(void)state;
	struct config_rawchange rows[] = {{"a/b", "value", 5, 1}, {"c/d", NULL, 6, 2}};
	struct buf b;
	struct msg m;
	struct err e;
	buf_init(&b, 4096);
	assert_int_equal(msg_encode_change(&b, 0, 1, 1, 0, rows, 2, &e), 0);
	for (size_t len = 0; len < b.len; len++) {
		assert_int_equal(msg_decode(b.data, len, &m, &e), -1);
	}
	unsigned char *copy = malloc(b.len);
	for (size_t i = 0; i < b.len; i++)
		for (int v = 0; v < 256; v += 37) {
			memcpy(copy, b.data, b.len);
			copy[i] = (unsigned char)v;
			if (msg_decode(copy, b.len, &m, &e) == 0) {
				for (size_t k = 0; k < m.n; k++)
					assert_true(strlen(m.changes[k].key) <= MSG_KEY_MAX);
				msg_free(&m);
			}
		}
	/* a huge row count in a small message */
	memcpy(copy, b.data, b.len);
	copy[12] = copy[13] = copy[14] = copy[15] = 0xff;
	assert_int_equal(msg_decode(copy, b.len, &m, &e), -1);
	/* wrong magic */
	memcpy(copy, b.data, b.len);
	copy[0] ^= 1;
	assert_int_equal(msg_decode(copy, b.len, &m, &e), -1);
	/* NUL inside a key */
	memcpy(copy, b.data, b.len);
	copy[MSG_HEADER_SIZE + 18 + 1] = '\0';
	assert_int_equal(msg_decode(copy, b.len, &m, &e), -1);
	free(copy);
	buf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_change_round_trip),
		cmocka_unit_test(test_sync_round_trip),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_malformed),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
