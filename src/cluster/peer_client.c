/* The client side of the peer channel: one blocking HTTPS request to
 * another member (never on the loop thread), signed with the key
 * derived from the shared secret; a 2xx reply counts only when its own
 * signature checks out (keys.h). TLS hides the traffic; the HMAC is what
 * authenticates, so the client does not verify certificates (members
 * have self-signed ones). */
#include <errno.h>
#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cluster/cluster_int.h"
#include "node.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/net.h"
#include "util/timeutil.h"

#define PEER_REPLY_MAX (256u << 20)

int peer_split(const char *in, char *host, size_t hostlen, int *port, int dflt, struct err *e)
{
	const char *colon = in ? strrchr(in, ':') : NULL;
	*port = dflt;
	if (!in || !*in)
		return err_set(e, "no host given");
	if (in[0] == '[') { /* [v6] or [v6]:port */
		const char *end = strchr(in, ']');
		if (!end || (end[1] && end[1] != ':'))
			return err_set(e, "bad address \"%s\"", log_esc(in));
		snprintf(host, hostlen, "%.*s", (int)(end - in - 1), in + 1);
		colon = end[1] == ':' ? end + 1 : NULL;
	} else if (colon && strchr(in, ':') != colon) {
		snprintf(host, hostlen, "%s", in); /* a bare IPv6 address */
		colon = NULL;
	} else {
		snprintf(host, hostlen, "%.*s", (int)(colon ? (size_t)(colon - in) : strlen(in)), in);
	}
	if (colon) {
		char *end;
		long p = strtol(colon + 1, &end, 10);
		if (*end || p < 1 || p > 65535)
			return err_set(e, "bad port in \"%s\"", log_esc(in));
		*port = (int)p;
	}
	return host[0] ? 0 : err_set(e, "no host in \"%s\"", log_esc(in));
}

static int connect_timeout(const char *addr, int port, int timeout_ms, struct err *e)
{
	struct sockaddr_storage ss;
	socklen_t len;
	if (net_parse_addr(addr, port, &ss, &len, e) < 0)
		return -1;
	int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return err_set(e, "socket: %s", strerror(errno));
	if (connect(fd, (struct sockaddr *)&ss, len) < 0 && errno != EINPROGRESS) {
		err_set(e, "cannot connect to %s port %d: %s", addr, port, strerror(errno));
		close(fd);
		return -1;
	}
	struct pollfd p = {fd, POLLOUT, 0};
	int soerr = 0;
	socklen_t sl = sizeof soerr;
	if (poll(&p, 1, timeout_ms) != 1 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0 ||
	    soerr) {
		err_set(e, "cannot connect to %s port %d: %s", addr, port,
			soerr ? strerror(soerr) : "timed out");
		close(fd);
		return -1;
	}
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
	struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
	return fd;
}

/* Sends req and reads the whole reply (the server closes). */
static int tls_exchange(SSL_CTX *ctx, int fd, const struct buf *req, struct buf *reply,
			struct err *e)
{
	SSL *ssl = SSL_new(ctx);
	int rc = -1;
	/* evhttp closes without close_notify; Content-Length and the reply's
	 * MAC catch a truncated reply */
	if (ssl)
		SSL_set_options(ssl, SSL_OP_IGNORE_UNEXPECTED_EOF);
	if (!ssl || SSL_set_fd(ssl, fd) != 1 || SSL_connect(ssl) != 1) {
		err_set(e, "TLS handshake failed");
		goto out;
	}
	if (SSL_write(ssl, req->data, (int)req->len) != (int)req->len) {
		err_set(e, "cannot send the request");
		goto out;
	}
	char chunk[16384];
	for (;;) {
		int n = SSL_read(ssl, chunk, sizeof chunk);
		if (n <= 0) {
			int why = SSL_get_error(ssl, n);
			unsigned long ssl_err = ERR_peek_error();
			/* the server closes after the reply, with or without close_notify */
			rc = why == SSL_ERROR_ZERO_RETURN || (why == SSL_ERROR_SYSCALL && reply->len)
				     ? 0
				     : -1;
			if (rc < 0)
				err_set(e, "reading the reply failed (%s)",
					ssl_err ? ERR_reason_error_string(ssl_err)
					: errno == EAGAIN ? "timed out"
							  : "connection closed");
			break;
		}
		if (buf_append(reply, chunk, (size_t)n) < 0) {
			err_set(e, "reply larger than %u bytes", PEER_REPLY_MAX);
			break;
		}
	}
out:
	if (ssl) {
		SSL_shutdown(ssl);
		SSL_free(ssl);
	}
	ERR_clear_error();
	return rc;
}

/* Value of header name in the head (up to the blank line) into out. */
static int header_get(const char *head, size_t headlen, const char *name, char *out, size_t len)
{
	size_t nl = strlen(name);
	for (const char *p = head; p && p < head + headlen;) {
		const char *eol = memchr(p, '\n', (size_t)(head + headlen - p));
		if (!eol)
			break;
		if ((size_t)(eol - p) > nl + 1 && strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
			const char *v = p + nl + 1;
			while (*v == ' ')
				v++;
			size_t vl = (size_t)(eol - v);
			if (vl && v[vl - 1] == '\r')
				vl--;
			snprintf(out, len, "%.*s", (int)vl, v);
			return 1;
		}
		p = eol + 1;
	}
	return 0;
}

static int parse_reply(const struct buf *r, const unsigned char *key, const char *nonce,
		       json_t **out, struct err *e)
{
	int status = 0;
	char mac[PEER_MAC_HEX + 1], want[PEER_MAC_HEX + 1], cl[32];
	const char *data = r->data ? r->data : "";
	const char *sep = strstr(data, "\r\n\r\n");
	if (sscanf(data, "HTTP/1.%*d %d", &status) != 1 || !sep)
		return err_set(e, "malformed reply");
	size_t headlen = (size_t)(sep - data) + 2;
	const char *body = sep + 4;
	size_t blen = r->len - (size_t)(body - data);
	if (header_get(data, headlen, "Content-Length", cl, sizeof cl)) {
		size_t want_len = (size_t)strtoull(cl, NULL, 10);
		if (want_len > blen)
			return err_set(e, "truncated reply");
		blen = want_len;
	}
	if (status >= 200 && status < 300) {
		peer_mac_reply(key, nonce, status, body, blen, want);
		if (!header_get(data, headlen, "X-Rampart-Auth", mac, sizeof mac) ||
		    !peer_mac_equal(mac, want))
			return err_set(e, "the reply is not authenticated (not a member of this "
					  "cluster, or another shared secret)");
	}
	json_error_t jerr;
	*out = blen ? json_loadb(body, blen, 0, &jerr) : json_object();
	if (!*out && status >= 200 && status < 300)
		return err_set(e, "malformed JSON in the reply: %s", jerr.text);
	return status;
}

static void build_request(struct buf *req, const char *method, const char *target,
			  const char *host, int port, uint32_t node, int64_t now,
			  const char *nonce, const char *mac, const char *body)
{
	int v6 = strchr(host, ':') != NULL;
	buf_printf(req,
		   "%s %s HTTP/1.1\r\nHost: %s%s%s:%d\r\nConnection: close\r\n"
		   "Content-Type: application/json\r\nContent-Length: %zu\r\n"
		   "X-Rampart-Node: %u\r\nX-Rampart-Time: %lld\r\nX-Rampart-Nonce: %s\r\n"
		   "X-Rampart-Auth: %s\r\n\r\n%s",
		   method, target, v6 ? "[" : "", host, v6 ? "]" : "", port, strlen(body), node,
		   (long long)now, nonce, mac, body);
}

int peer_call(struct cluster *c, const char *host, int port, const char *method,
	      const char *target, json_t *body, int timeout_ms, json_t **out, struct err *e)
{
	unsigned char key[KEYS_PEER_SIZE];
	char addr[64], nonce[PEER_NONCE_HEX + 1], mac[PEER_MAC_HEX + 1];
	*out = NULL;
	pthread_mutex_lock(&c->mu);
	int have = c->loc.secret[0] != '\0';
	uint32_t node = c->loc.nodeid;
	memcpy(key, c->peer_key, sizeof key);
	pthread_mutex_unlock(&c->mu);
	if (!have)
		return err_set(e, "the Cluster Shared Secret is not set on this node"), 0;
	if (cluster_resolve(c->node, host, addr, sizeof addr, e) < 0)
		return 0;
	char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	const char *btext = text ? text : "";
	int64_t now = time_now_ms();
	peer_nonce(nonce);
	peer_mac_request(key, method, target, now, nonce, node, btext, strlen(btext), mac);
	struct buf req, reply;
	buf_init(&req, (size_t)MSG_MAX * 64);
	buf_init(&reply, PEER_REPLY_MAX);
	build_request(&req, method, target, addr, port, node, now, nonce, mac, btext);
	free(text);
	int status = 0;
	int fd = connect_timeout(addr, port, timeout_ms < 5000 ? timeout_ms : 5000, e);
	if (fd >= 0) {
		struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
		if (tls_exchange(c->node->tls_client, fd, &req, &reply, e) == 0) {
			status = parse_reply(&reply, key, nonce, out, e);
			if (status < 0)
				status = 0;
		}
		close(fd);
	}
	if (status == 0 && fd >= 0) {
		char why[sizeof e->msg];
		snprintf(why, sizeof why, "%s", e->msg);
		err_set(e, "%s port %d: %s", host, port, why);
	}
	buf_free(&req);
	buf_free(&reply);
	return status;
}
