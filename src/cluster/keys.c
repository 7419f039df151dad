#include "cluster/keys.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/kdf.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/buf.h"

int keys_secret_check(const char *s, struct err *e)
{
	size_t n = s ? strlen(s) : 0;
	if (n < SECRET_MIN || n > SECRET_MAX)
		return err_set(e, "the cluster shared secret must be %d to %d characters", SECRET_MIN,
			       SECRET_MAX);
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e)
			return err_set(e, "the cluster shared secret may contain only printable ASCII");
	if (s[0] == ' ' || s[n - 1] == ' ')
		return err_set(e, "the cluster shared secret may not begin or end with a space");
	return 0;
}

int keys_hkdf(const void *ikm, size_t ikmlen, const void *salt, size_t saltlen, const char *label,
	      unsigned char *out, size_t outlen)
{
	EVP_KDF *kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
	EVP_KDF_CTX *ctx = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
	OSSL_PARAM params[5], *p = params;
	*p++ = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)"SHA256", 0);
	*p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)ikm, ikmlen);
	if (salt && saltlen)
		*p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)salt, saltlen);
	*p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (void *)label, strlen(label));
	*p = OSSL_PARAM_construct_end();
	int rc = ctx && EVP_KDF_derive(ctx, out, outlen, params) == 1 ? 0 : -1;
	EVP_KDF_CTX_free(ctx);
	EVP_KDF_free(kdf);
	return rc;
}

int keys_derive(const char *secret, const char *label, unsigned char *out, size_t outlen)
{
	return keys_hkdf(secret, strlen(secret), NULL, 0, label, out, outlen);
}

static void hex(const unsigned char *in, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * n] = '\0';
}

void keys_sha256_hex(const void *data, size_t len, char out[65])
{
	unsigned char md[SHA256_DIGEST_LENGTH];
	SHA256(data ? data : (const void *)"", len, md);
	hex(md, sizeof md, out);
}

static void mac_text(const unsigned char key[KEYS_PEER_SIZE], const char *text,
		     char out[PEER_MAC_HEX + 1])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	if (!HMAC(EVP_sha256(), key, KEYS_PEER_SIZE, (const unsigned char *)text, strlen(text), md,
		  &mdlen) ||
	    mdlen != 32) {
		memset(out, '0', PEER_MAC_HEX); /* never equal to a real MAC's check */
		out[PEER_MAC_HEX] = '\0';
		return;
	}
	hex(md, mdlen, out);
}

void peer_mac_request(const unsigned char key[KEYS_PEER_SIZE], const char *method,
		      const char *target, int64_t time_ms, const char *nonce, uint32_t node,
		      const void *body, size_t len, char out[PEER_MAC_HEX + 1])
{
	char bh[65];
	struct buf t;
	keys_sha256_hex(body, len, bh);
	buf_init(&t, 8192);
	buf_printf(&t, "rampart-peer-v1\n%s\n%s\n%lld\n%s\n%u\n%s", method, target,
		   (long long)time_ms, nonce, node, bh);
	mac_text(key, t.data ? t.data : "", out);
	buf_free(&t);
}

void peer_mac_reply(const unsigned char key[KEYS_PEER_SIZE], const char *nonce, int status,
		    const void *body, size_t len, char out[PEER_MAC_HEX + 1])
{
	char bh[65], text[256];
	keys_sha256_hex(body, len, bh);
	snprintf(text, sizeof text, "rampart-peer-v1-reply\n%s\n%d\n%s", nonce, status, bh);
	mac_text(key, text, out);
}

int peer_mac_equal(const char *a, const char *b)
{
	if (!a || !b || strlen(a) != PEER_MAC_HEX || strlen(b) != PEER_MAC_HEX)
		return 0;
	return CRYPTO_memcmp(a, b, PEER_MAC_HEX) == 0;
}

void peer_nonce(char out[PEER_NONCE_HEX + 1])
{
	unsigned char r[PEER_NONCE_HEX / 2];
	if (RAND_bytes(r, sizeof r) != 1)
		abort(); /* no randomness: nothing safe to do */
	hex(r, sizeof r, out);
}

/* ---- replay cache: a ring of the nonces of the last window ---- */

struct peer_replay {
	pthread_mutex_t mu;
	size_t next;
	struct {
		char nonce[PEER_NONCE_HEX + 1];
		int64_t seen_ms;
	} ring[PEER_REPLAY_MAX];
};

struct peer_replay *peer_replay_new(void)
{
	struct peer_replay *r = calloc(1, sizeof *r);
	if (r)
		pthread_mutex_init(&r->mu, NULL);
	return r;
}

void peer_replay_free(struct peer_replay *r)
{
	if (!r)
		return;
	pthread_mutex_destroy(&r->mu);
	free(r);
}

static int nonce_ok(const char *n)
{
	if (!n || strlen(n) != PEER_NONCE_HEX)
		return 0;
	return strspn(n, "0123456789abcdef") == PEER_NONCE_HEX;
}

int peer_replay_check(struct peer_replay *r, const char *nonce, int64_t time_ms, int64_t now_ms,
		      struct err *e)
{
	if (!nonce_ok(nonce))
		return err_set(e, "bad nonce");
	if (time_ms < now_ms - PEER_AUTH_WINDOW_MS || time_ms > now_ms + PEER_AUTH_WINDOW_MS)
		return err_set(e, "request time off by more than %d s (are the clocks synchronised?)",
			       PEER_AUTH_WINDOW_MS / 1000);
	int rc = 0;
	pthread_mutex_lock(&r->mu);
	for (size_t i = 0; i < PEER_REPLAY_MAX && rc == 0; i++)
		if (r->ring[i].seen_ms >= now_ms - 2 * PEER_AUTH_WINDOW_MS &&
		    strcmp(r->ring[i].nonce, nonce) == 0)
			rc = err_set(e, "replayed request");
	/* overwriting a nonce that is still in the window would let it be
	 * replayed: refuse instead (more than PEER_REPLAY_MAX per window) */
	if (rc == 0 && r->ring[r->next].seen_ms >= now_ms - 2 * PEER_AUTH_WINDOW_MS)
		rc = err_set(e, "too many peer requests");
	if (rc == 0) {
		memcpy(r->ring[r->next].nonce, nonce, PEER_NONCE_HEX + 1);
		r->ring[r->next].seen_ms = now_ms;
		r->next = (r->next + 1) % PEER_REPLAY_MAX;
	}
	pthread_mutex_unlock(&r->mu);
	return rc;
}
