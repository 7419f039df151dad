/* Keys derived from the Cluster Shared Secret, and the authentication of
 * the peer channel.
 *
 * The secret itself never leaves the node: HKDF-SHA256 (RFC 5869, no
 * salt) turns it into independent keys, one per label: the corosync
 * authkey ("rampart corosync authkey", 256 bytes: knet's aes256/sha256
 * crypto) and the peer-channel key ("rampart peer channel", 32 bytes).
 *
 * A peer request carries X-Rampart-Node, X-Rampart-Time (epoch ms),
 * X-Rampart-Nonce (32 hex digits) and X-Rampart-Auth = hex HMAC-SHA256
 * over "rampart-peer-v1\n" METHOD "\n" TARGET "\n" TIME "\n" NONCE "\n"
 * NODE "\n" hex(SHA-256(body)). The server accepts it only within
 * PEER_AUTH_WINDOW_MS of its own clock and only once (nonce cache). The
 * reply carries X-Rampart-Auth = HMAC over "rampart-peer-v1-reply\n"
 * NONCE "\n" STATUS "\n" hex(SHA-256(body)), checked by the client, so a
 * node only ever takes state from a holder of the same secret. */
#ifndef RAMPART_CLUSTER_KEYS_H
#define RAMPART_CLUSTER_KEYS_H

#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

#define SECRET_MIN 8
#define SECRET_MAX 128
#define KEYS_LABEL_AUTHKEY "rampart corosync authkey"
#define KEYS_LABEL_PEER "rampart peer channel"
#define KEYS_AUTHKEY_SIZE 256
#define KEYS_PEER_SIZE 32
#define PEER_AUTH_WINDOW_MS 60000
#define PEER_NONCE_HEX 32
#define PEER_MAC_HEX 64
#define PEER_REPLAY_MAX 8192

/* 8..128 printable ASCII characters (no spaces at either end). */
int keys_secret_check(const char *secret, struct err *e);
/* HKDF-SHA256(ikm, salt, info=label) -> out; 0 or -1. */
int keys_hkdf(const void *ikm, size_t ikmlen, const void *salt, size_t saltlen, const char *label,
	      unsigned char *out, size_t outlen);
int keys_derive(const char *secret, const char *label, unsigned char *out, size_t outlen);

/* hex(SHA-256(data)) into out[65]. */
void keys_sha256_hex(const void *data, size_t len, char out[65]);
/* out[PEER_MAC_HEX + 1] */
void peer_mac_request(const unsigned char key[KEYS_PEER_SIZE], const char *method,
		      const char *target, int64_t time_ms, const char *nonce, uint32_t node,
		      const void *body, size_t len, char out[PEER_MAC_HEX + 1]);
void peer_mac_reply(const unsigned char key[KEYS_PEER_SIZE], const char *nonce, int status,
		    const void *body, size_t len, char out[PEER_MAC_HEX + 1]);
/* Constant-time comparison of two MACs in hex; 1 equal. */
int peer_mac_equal(const char *a, const char *b);
/* A fresh random nonce: PEER_NONCE_HEX hex digits. */
void peer_nonce(char out[PEER_NONCE_HEX + 1]);

/* Nonces seen within the window (thread-safe). */
struct peer_replay;
struct peer_replay *peer_replay_new(void);
void peer_replay_free(struct peer_replay *r);
/* 0: time within the window and nonce new (now remembered); -1 with the
 * reason otherwise. */
int peer_replay_check(struct peer_replay *r, const char *nonce, int64_t time_ms, int64_t now_ms,
		      struct err *e);

#endif
