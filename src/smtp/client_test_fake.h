/* A scripted SMTP server in a thread, for client_test.c only: what
 * smtp-sink cannot do (per-recipient verdicts, malformed and split
 * replies, STARTTLS, pipelining checks). It speaks enough real SMTP to
 * take a message, and records what it received. */
#ifndef RAMPART_SMTP_CLIENT_TEST_FAKE_H
#define RAMPART_SMTP_CLIENT_TEST_FAKE_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#define FAKE_CLOSE ((const char *)1)   /* hook result: drop the connection */

struct fake {
	int lfd, port;
	pthread_t th;
	/* behaviour */
	const char *caps;       /* EHLO keywords, '|' separated */
	int slow;               /* write replies one byte at a time */
	int check_pipe;         /* look for DATA while MAIL is unanswered */
	SSL_CTX *tls;           /* offer STARTTLS with this */
	const char *(*hook)(struct fake *f, const char *line);   /* "" = banner */
	/* results */
	int pipelined;          /* DATA had arrived before MAIL was answered */
	int extra;              /* anything arrived before MAIL was answered */
	int ehlos, sessions, messages, rcpts, tls_used;
	char mail[600];
	char *data;             /* last message, dot-unstuffed, CRLF */
	size_t data_len;
};

struct fconn {
	int fd;
	SSL *ssl;
	char in[65536];
	size_t len;
};

static inline ssize_t fconn_recv(struct fconn *c)
{
	if (c->len == sizeof c->in)
		return -1;
	if (c->ssl) {
		int n = SSL_read(c->ssl, c->in + c->len, (int)(sizeof c->in - c->len));
		return n > 0 ? (c->len += (size_t)n, n) : -1;
	}
	ssize_t n = recv(c->fd, c->in + c->len, sizeof c->in - c->len, 0);
	return n > 0 ? (c->len += (size_t)n, n) : -1;
}

static inline int fconn_line(struct fconn *c, char *line, size_t max)
{
	for (;;) {
		char *nl = memchr(c->in, '\n', c->len);
		if (nl) {
			size_t n = (size_t)(nl - c->in) + 1, ll = n - 1;
			if (ll && c->in[ll - 1] == '\r')
				ll--;
			size_t keep = ll < max - 1 ? ll : max - 1;
			memcpy(line, c->in, keep);
			line[keep] = '\0';
			memmove(c->in, c->in + n, c->len - n);
			c->len -= n;
			return (int)keep;
		}
		if (fconn_recv(c) < 0)
			return -1;
	}
}

static inline void fconn_write(struct fconn *c, const char *s, int slow)
{
	size_t n = strlen(s);
	for (size_t i = 0; i < n;) {
		size_t k = slow ? 1 : n - i;
		if (c->ssl)
			SSL_write(c->ssl, s + i, (int)k);
		else if (send(c->fd, s + i, k, MSG_NOSIGNAL) < 0)
			return;
		i += k;
		if (slow)
			usleep(300);
	}
}

/* Waits up to 500 ms for the client's next commands while MAIL is
 * unanswered: a pipelining client has sent RCPT and DATA already. */
static inline void fake_check_pipe(struct fake *f, struct fconn *c)
{
	for (int i = 0; i < 50 && !memmem(c->in, c->len, "DATA\r\n", 6); i++) {
		struct pollfd p = {c->fd, POLLIN, 0};
		if (poll(&p, 1, 10) == 1 && fconn_recv(c) < 0)
			break;
	}
	f->pipelined = memmem(c->in, c->len, "DATA\r\n", 6) != NULL;
	f->extra = c->len > 0;
}

static inline void fake_data(struct fake *f, struct fconn *c)
{
	char line[2048];
	size_t cap = 8 << 20;
	free(f->data);
	f->data = malloc(cap);
	f->data_len = 0;
	for (;;) {
		int n = fconn_line(c, line, sizeof line);
		if (n < 0)
			return;   /* not a message without its final dot */
		if (strcmp(line, ".") == 0)
			break;
		const char *p = line[0] == '.' ? line + 1 : line;
		size_t k = strlen(p);
		if (f->data_len + k + 2 <= cap) {
			memcpy(f->data + f->data_len, p, k);
			memcpy(f->data + f->data_len + k, "\r\n", 2);
			f->data_len += k + 2;
		}
	}
	f->messages++;
}

static inline void fake_ehlo(struct fake *f, struct fconn *c)
{
	char out[1024] = "250-fake.test\r\n", caps[512];
	size_t o = strlen(out);
	snprintf(caps, sizeof caps, "%s%s%s", f->caps ? f->caps : "",
		 f->caps && f->tls && !c->ssl ? "|" : "", f->tls && !c->ssl ? "STARTTLS" : "");
	for (char *save, *k = strtok_r(caps, "|", &save); k; k = strtok_r(NULL, "|", &save))
		o += (size_t)snprintf(out + o, sizeof out - o, "250-%s\r\n", k);
	snprintf(out + o, sizeof out - o, "250 HELP\r\n");
	f->ehlos++;
	fconn_write(c, out, f->slow);
}

/* One command; 0 = go on, -1 = end the session. */
static inline int fake_command(struct fake *f, struct fconn *c, const char *line)
{
	if (!strncasecmp(line, "MAIL", 4))
		snprintf(f->mail, sizeof f->mail, "%.500s", line);
	const char *r = f->hook ? f->hook(f, line) : NULL;
	if (r == FAKE_CLOSE)
		return -1;
	if (r) {
		fconn_write(c, r, f->slow);
		return 0;
	}
	if (!strncasecmp(line, "EHLO", 4)) {
		fake_ehlo(f, c);
	} else if (!strncasecmp(line, "HELO", 4)) {
		fconn_write(c, "250 fake.test\r\n", f->slow);
	} else if (!strncasecmp(line, "MAIL", 4)) {
		if (f->check_pipe)
			fake_check_pipe(f, c);
		fconn_write(c, "250 2.1.0 ok\r\n", f->slow);
	} else if (!strncasecmp(line, "RCPT TO:<nouser", 15)) {
		fconn_write(c, "550 5.1.1 no such user here\r\n", f->slow);
	} else if (!strncasecmp(line, "RCPT", 4)) {
		f->rcpts++;
		fconn_write(c, "250 2.1.5 ok\r\n", f->slow);
	} else if (!strncasecmp(line, "DATA", 4)) {
		fconn_write(c, "354 go ahead\r\n", f->slow);
		fake_data(f, c);
		fconn_write(c, "250 2.0.0 queued as FAKE1\r\n", f->slow);
	} else if (!strncasecmp(line, "STARTTLS", 8) && f->tls && !c->ssl) {
		fconn_write(c, "220 2.0.0 ready\r\n", 0);
		c->ssl = SSL_new(f->tls);
		SSL_set_fd(c->ssl, c->fd);
		if (SSL_accept(c->ssl) != 1)
			return -1;
		f->tls_used = 1;
	} else if (!strncasecmp(line, "QUIT", 4)) {
		fconn_write(c, "221 2.0.0 bye\r\n", f->slow);
		return -1;
	} else if (!strncasecmp(line, "RSET", 4) || !strncasecmp(line, "NOOP", 4)) {
		fconn_write(c, "250 2.0.0 ok\r\n", f->slow);
	} else {
		fconn_write(c, "502 5.5.2 unknown command\r\n", f->slow);
	}
	return 0;
}

static inline void fake_session(struct fake *f, int fd)
{
	struct fconn *c = calloc(1, sizeof *c);
	char line[8192];
	int one = 1;
	struct timeval tv = {10, 0};
	c->fd = fd;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	f->sessions++;
	const char *banner = f->hook ? f->hook(f, "") : NULL;
	if (banner != FAKE_CLOSE) {
		fconn_write(c, banner ? banner : "220 fake.test ESMTP\r\n", f->slow);
		while (fconn_line(c, line, sizeof line) >= 0 && fake_command(f, c, line) == 0)
			;
	}
	if (c->ssl) {
		SSL_shutdown(c->ssl);
		SSL_free(c->ssl);
	}
	close(fd);
	free(c);
}

static inline void *fake_main(void *arg)
{
	struct fake *f = arg;
	int fd;
	while ((fd = accept(f->lfd, NULL, NULL)) >= 0)
		fake_session(f, fd);
	return NULL;
}

static inline struct fake *fake_start(struct fake *f)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof sa;
	int one = 1;
	f->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	setsockopt(f->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (bind(f->lfd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(f->lfd, 8) < 0)
		abort();
	getsockname(f->lfd, (struct sockaddr *)&sa, &len);
	f->port = ntohs(sa.sin_port);
	pthread_create(&f->th, NULL, fake_main, f);
	return f;
}

/* Waits for the session in progress to end; the results can then be
 * read without racing the server thread. */
static inline void fake_stop(struct fake *f)
{
	shutdown(f->lfd, SHUT_RDWR);   /* wakes accept() */
	pthread_join(f->th, NULL);
	close(f->lfd);
}

/* A throwaway self-signed certificate for the STARTTLS test. */
static inline SSL_CTX *fake_tls_ctx(void)
{
	EVP_PKEY *k = EVP_EC_gen("P-256");
	X509 *x = X509_new();
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
	X509_gmtime_adj(X509_getm_notBefore(x), 0);
	X509_gmtime_adj(X509_getm_notAfter(x), 3600);
	X509_set_pubkey(x, k);
	X509_NAME *n = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)"fake.test", -1, -1,
				   0);
	X509_set_issuer_name(x, n);
	X509_sign(x, k, EVP_sha256());
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	SSL_CTX_use_certificate(ctx, x);
	SSL_CTX_use_PrivateKey(ctx, k);
	X509_free(x);
	EVP_PKEY_free(k);
	return ctx;
}

#endif
