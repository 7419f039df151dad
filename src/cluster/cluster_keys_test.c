/* Keys from the shared secret (HKDF-SHA256, RFC 5869 vectors) and the
 * peer channel's request/reply authentication and replay protection. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "cluster/keys.h"

static void hex(const unsigned char *in, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++)
		snprintf(out + 2 * i, 3, "%02x", in[i]);
	out[2 * n] = '\0';
}

static void test_hkdf_rfc5869(void **state)
{
	(void)state;
	unsigned char ikm[22], salt[13], okm[42];
	char info[11], text[100];
	memset(ikm, 0x0b, sizeof ikm);
	for (int i = 0; i < 13; i++)
		salt[i] = (unsigned char)i;
	for (int i = 0; i < 10; i++)
		info[i] = (char)(0xf0 + i);
	info[10] = '\0';
	/* test case 1 */
	assert_int_equal(keys_hkdf(ikm, sizeof ikm, salt, sizeof salt, info, okm, sizeof okm), 0);
	hex(okm, sizeof okm, text);
	assert_string_equal(text, "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf"
				  "34007208d5b887185865");
	/* test case 3: no salt, no info */
	assert_int_equal(keys_hkdf(ikm, sizeof ikm, NULL, 0, "", okm, sizeof okm), 0);
	hex(okm, sizeof okm, text);
	assert_string_equal(text, "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d"
				  "9d201395faa4b61a96c8");
}

static void test_labels_and_secrets(void **state)
{
	(void)state;
	unsigned char a[KEYS_AUTHKEY_SIZE], b[KEYS_AUTHKEY_SIZE], p[KEYS_PEER_SIZE], q[KEYS_PEER_SIZE];
	assert_int_equal(keys_derive("correct horse", KEYS_LABEL_AUTHKEY, a, sizeof a), 0);
	assert_int_equal(keys_derive("correct horse", KEYS_LABEL_AUTHKEY, b, sizeof b), 0);
	assert_memory_equal(a, b, sizeof a); /* same secret, same key on every member */
	assert_int_equal(keys_derive("correct horse", KEYS_LABEL_PEER, p, sizeof p), 0);
	assert_memory_not_equal(a, p, sizeof p); /* distinct labels, independent keys */
	assert_int_equal(keys_derive("correct horsf", KEYS_LABEL_PEER, q, sizeof q), 0);
	assert_memory_not_equal(p, q, sizeof p);
	struct err e;
	assert_int_equal(keys_secret_check("short", &e), -1);
	assert_int_equal(keys_secret_check("long enough", &e), 0);
	assert_int_equal(keys_secret_check(" padded secret", &e), -1);
	assert_int_equal(keys_secret_check("tab\tinside", &e), -1);
	char big[200];
	memset(big, 'a', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	assert_int_equal(keys_secret_check(big, &e), -1);
}

static void test_request_and_reply_mac(void **state)
{
	(void)state;
	unsigned char k1[KEYS_PEER_SIZE], k2[KEYS_PEER_SIZE];
	char m1[PEER_MAC_HEX + 1], m2[PEER_MAC_HEX + 1], nonce[PEER_NONCE_HEX + 1];
	keys_derive("secret one", KEYS_LABEL_PEER, k1, sizeof k1);
	keys_derive("secret two", KEYS_LABEL_PEER, k2, sizeof k2);
	peer_nonce(nonce);
	assert_int_equal(strlen(nonce), PEER_NONCE_HEX);
	const char *body = "{\"phase\":\"check\"}";
	peer_mac_request(k1, "POST", "/peer/v1/join", 1000, nonce, 2, body, strlen(body), m1);
	peer_mac_request(k1, "POST", "/peer/v1/join", 1000, nonce, 2, body, strlen(body), m2);
	assert_true(peer_mac_equal(m1, m2));
	/* every signed part matters */
	peer_mac_request(k2, "POST", "/peer/v1/join", 1000, nonce, 2, body, strlen(body), m2);
	assert_false(peer_mac_equal(m1, m2));
	peer_mac_request(k1, "GET", "/peer/v1/join", 1000, nonce, 2, body, strlen(body), m2);
	assert_false(peer_mac_equal(m1, m2));
	peer_mac_request(k1, "POST", "/peer/v1/rows", 1000, nonce, 2, body, strlen(body), m2);
	assert_false(peer_mac_equal(m1, m2));
	peer_mac_request(k1, "POST", "/peer/v1/join", 1001, nonce, 2, body, strlen(body), m2);
	assert_false(peer_mac_equal(m1, m2));
	peer_mac_request(k1, "POST", "/peer/v1/join", 1000, nonce, 3, body, strlen(body), m2);
	assert_false(peer_mac_equal(m1, m2));
	peer_mac_request(k1, "POST", "/peer/v1/join", 1000, nonce, 2, body, strlen(body) - 1, m2);
	assert_false(peer_mac_equal(m1, m2));
	/* the reply is bound to the request's nonce, the status and the body */
	peer_mac_reply(k1, nonce, 200, "{}", 2, m1);
	peer_mac_reply(k1, nonce, 200, "{}", 2, m2);
	assert_true(peer_mac_equal(m1, m2));
	peer_mac_reply(k1, nonce, 201, "{}", 2, m2);
	assert_false(peer_mac_equal(m1, m2));
	peer_mac_reply(k1, "00000000000000000000000000000000", 200, "{}", 2, m2);
	assert_false(peer_mac_equal(m1, m2));
	assert_false(peer_mac_equal(m1, "short"));
	assert_false(peer_mac_equal(NULL, m1));
}

static void test_replay(void **state)
{
	(void)state;
	struct peer_replay *r = peer_replay_new();
	struct err e;
	char n1[PEER_NONCE_HEX + 1], n2[PEER_NONCE_HEX + 1];
	peer_nonce(n1);
	peer_nonce(n2);
	int64_t now = 1700000000000LL;
	assert_int_equal(peer_replay_check(r, n1, now, now, &e), 0);
	assert_int_equal(peer_replay_check(r, n1, now, now + 10, &e), -1); /* replayed */
	assert_int_equal(peer_replay_check(r, n2, now - PEER_AUTH_WINDOW_MS - 1, now, &e), -1);
	assert_int_equal(peer_replay_check(r, n2, now + PEER_AUTH_WINDOW_MS + 1, now, &e), -1);
	assert_int_equal(peer_replay_check(r, n2, now + 1000, now, &e), 0);
	assert_int_equal(peer_replay_check(r, "not-a-nonce", now, now, &e), -1);
	assert_int_equal(peer_replay_check(r, "0123456789ABCDEF0123456789abcdef", now, now, &e), -1);
	/* the cache never forgets a nonce that could still be replayed */
	char n[PEER_NONCE_HEX + 1];
	int refused = 0;
	for (int i = 0; i < PEER_REPLAY_MAX + 10; i++) {
		snprintf(n, sizeof n, "%032x", i + 100);
		refused += peer_replay_check(r, n, now, now, &e) < 0;
	}
	assert_true(refused > 0);
	/* much later the ring is free again */
	assert_int_equal(peer_replay_check(r, n, now + 3 * PEER_AUTH_WINDOW_MS,
					   now + 3 * PEER_AUTH_WINDOW_MS, &e), 0);
	peer_replay_free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hkdf_rfc5869),
		cmocka_unit_test(test_labels_and_secrets),
		cmocka_unit_test(test_request_and_reply_mac),
		cmocka_unit_test(test_replay),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
