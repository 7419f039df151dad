/* Fixture shared by client_test.c (the client against Postfix's smtp-sink)
 * and client_proto_test.c (against the scripted server of
 * client_test_fake.h): one event loop per test, a spool file, smtp-sink
 * start/stop and dump reading, and callbacks that record outcomes. */
#ifndef RAMPART_SMTP_CLIENT_TEST_UTIL_H
#define RAMPART_SMTP_CLIENT_TEST_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>

#include "smtp/client.h"
#include "smtp/client_test_fake.h"
#include "util/fsutil.h"

#define SINK "/usr/sbin/smtp-sink"

static struct {
	struct event_base *base;
	struct event *tick;
	char dir[64];
	char dumps[128];
	pid_t sink_pid;
	int sink_port;
	struct fake fake;
	int fake_on;
	int fd;
	off_t off;
	size_t len;
} T;

struct rec {
	int ready_n, ok;
	struct smtp_reply why;
	int txn_n, conn_ok, n;
	struct smtp_reply r[8];
	int chain;   /* transactions still to start from the txn callback */
	int close_in_ready;
};

static struct smtp_client_opts opts = {"client.test", 2, 2, 2, NULL};

/* ---- loop helpers ---- */

static inline void on_tick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd, (void)what, (void)arg;   /* keeps EVLOOP_ONCE from blocking */
}

static inline void wait_for(const int *counter, int target, int secs)
{
	time_t end = time(NULL) + secs;
	while (*counter < target && time(NULL) <= end)
		event_base_loop(T.base, EVLOOP_ONCE);
}

static inline void run_for_ms(int ms)
{
	struct timespec s, n;
	clock_gettime(CLOCK_MONOTONIC, &s);
	do {
		event_base_loop(T.base, EVLOOP_ONCE);
		clock_gettime(CLOCK_MONOTONIC, &n);
	} while ((n.tv_sec - s.tv_sec) * 1000 + (n.tv_nsec - s.tv_nsec) / 1000000 < ms);
}

/* Lets closed clients finish their QUIT: only the ticker remains. */
static inline void drain(void)
{
	time_t end = time(NULL) + 12;
	while (event_base_get_num_events(T.base, EVENT_BASE_COUNT_ADDED) > 1 && time(NULL) <= end)
		event_base_loop(T.base, EVLOOP_ONCE);
	assert_int_equal(event_base_get_num_events(T.base, EVENT_BASE_COUNT_ADDED), 1);
}

/* ---- smtp-sink ---- */

static inline int free_port(void)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof sa;
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	bind(fd, (struct sockaddr *)&sa, sizeof sa);
	getsockname(fd, (struct sockaddr *)&sa, &len);
	close(fd);
	return ntohs(sa.sin_port);
}

static inline int port_open(int port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	int ok = connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0;
	close(fd);
	return ok;
}

/* Starts smtp-sink dumping each message to T.dumps/msg.*, with extra
 * options (NULL-terminated). */
static inline void sink_start(const char *opt, ...)
{
	const char *argv[32];
	char tmpl[200], hostport[64], log[128];
	int n = 0;
	argv[n++] = "smtp-sink";
	if (geteuid() == 0) {
		argv[n++] = "-u";
		argv[n++] = "root";
	}
	snprintf(tmpl, sizeof tmpl, "%s/msg.", T.dumps);
	argv[n++] = "-d";
	argv[n++] = tmpl;
	va_list ap;
	va_start(ap, opt);
	for (const char *o = opt; o && n < 28; o = va_arg(ap, const char *))
		argv[n++] = o;
	va_end(ap);
	argv[n++] = hostport;
	argv[n++] = "10";
	argv[n] = NULL;
	snprintf(log, sizeof log, "%s/sink.log", T.dir);
	for (int attempt = 0; attempt < 5; attempt++) {
		T.sink_port = free_port();
		snprintf(hostport, sizeof hostport, "127.0.0.1:%d", T.sink_port);
		T.sink_pid = fork();
		if (T.sink_pid == 0) {
			int lfd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600);
			dup2(lfd, 1);
			dup2(lfd, 2);
			execv(SINK, (char *const *)argv);
			_exit(127);
		}
		for (int i = 0; i < 250; i++) {
			if (waitpid(T.sink_pid, NULL, WNOHANG) == T.sink_pid)
				break;   /* lost the port race: try another */
			if (port_open(T.sink_port))
				return;
			usleep(20000);
		}
	}
	fail_msg("smtp-sink did not start (see %s)", log);
}

static inline void sink_stop(void)
{
	if (T.sink_pid > 0) {
		kill(T.sink_pid, SIGTERM);
		waitpid(T.sink_pid, NULL, 0);
	}
	T.sink_pid = 0;
}

/* Dumped messages (malloc'd), at most max. */
static inline int sink_dumps(char **out, int max)
{
	DIR *d = opendir(T.dumps);
	int n = 0;
	struct dirent *de;
	struct err e;
	char path[400];
	if (!d)
		return 0;
	while ((de = readdir(d)) && n < max) {
		if (strncmp(de->d_name, "msg.", 4) != 0)
			continue;
		snprintf(path, sizeof path, "%s/%s", T.dumps, de->d_name);
		assert_int_equal(fs_read_all(path, 64 << 20, &out[n], NULL, &e), 0);
		n++;
	}
	closedir(d);
	return n;
}

/* The message part of a dump: after smtp-sink's three-line Received. */
static inline const char *dump_body(const char *dump)
{
	const char *p = strstr(dump, "\nReceived: ");
	assert_non_null(p);
	for (int i = 0; i < 3; i++)
		p = strchr(p + 1, '\n');
	return p + 1;
}

/* ---- fixture ---- */

static inline int setup(void **state)
{
	(void)state;
	memset(&T, 0, sizeof T);
	T.fd = -1;
	T.base = event_base_new();
	T.tick = event_new(T.base, -1, EV_PERSIST, on_tick, NULL);
	struct timeval tv = {0, 20000};
	event_add(T.tick, &tv);
	snprintf(T.dir, sizeof T.dir, "/tmp/client_test.XXXXXX");
	assert_non_null(mkdtemp(T.dir));
	snprintf(T.dumps, sizeof T.dumps, "%s/dumps", T.dir);
	return 0;
}

static inline int teardown(void **state)
{
	(void)state;
	drain();
	event_free(T.tick);
	event_base_free(T.base);
	sink_stop();
	if (T.fake_on)
		fake_stop(&T.fake);
	free(T.fake.data);
	if (T.fake.tls)
		SSL_CTX_free(T.fake.tls);
	if (T.fd >= 0)
		close(T.fd);
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", T.dir);
	return system(cmd);
}

/* The message sits after some bytes of spool envelope in its file. */
static inline void spool(const char *msg, size_t len)
{
	static const char pre[] = "ENVELOPE mail-from rcpt-to\n\n";
	char path[128];
	snprintf(path, sizeof path, "%s/spool", T.dir);
	T.fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	assert_int_equal(fs_write_full(T.fd, pre, sizeof pre - 1), 0);
	assert_int_equal(fs_write_full(T.fd, msg, len), 0);
	T.off = (off_t)(sizeof pre - 1);
	T.len = len;
}

static inline void fake_up(const char *caps)
{
	T.fake.caps = caps;
	fake_start(&T.fake);
	T.fake_on = 1;
}

/* Client closed and drained: stop the server to read its results. */
static inline void fake_done(void)
{
	drain();
	fake_stop(&T.fake);
	T.fake_on = 0;
}

/* ---- client helpers ---- */

static inline void on_ready(struct smtp_client *c, int ok, const struct smtp_reply *why,
			    void *arg)
{
	struct rec *r = arg;
	r->ok = ok;
	if (why)
		r->why = *why;
	r->ready_n++;
	if (r->close_in_ready)
		smtp_client_close(c);
}

static const char *rcpt3[] = {"one@example.com", "two@example.com", "three@example.com"};
static inline void start_txn(struct smtp_client *c, struct rec *r, const char *from,
			     const char **rcpts, int n);

static inline void on_txn(struct smtp_client *c, int conn_ok, const struct smtp_reply *rr,
			  int n, void *arg)
{
	struct rec *r = arg;
	r->conn_ok = conn_ok;
	r->n = n;
	for (int i = 0; i < n && i < 8; i++)
		r->r[i] = rr[i];
	r->txn_n++;
	if (r->chain > 0) {
		r->chain--;
		assert_true(smtp_client_usable(c));
		start_txn(c, r, "second@example.org", rcpt3, 1);
	}
}

static inline void start_txn(struct smtp_client *c, struct rec *r, const char *from,
			     const char **rcpts, int n)
{
	struct smtp_txn t = {.mail_from = from, .rcpts = rcpts, .nrcpt = n, .fd = T.fd,
			     .body_offset = T.off, .body_len = T.len, .body_8bit = 1,
			     .size_hint = T.len};
	assert_int_equal(smtp_client_send(c, &t, on_txn, r), 0);
}

static inline struct smtp_client *open_client(int port, struct rec *r, SSL_CTX *tls)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	struct smtp_client_opts o = opts;
	o.tls_ctx = tls;
	struct smtp_client *c =
		smtp_client_connect(T.base, (struct sockaddr *)&sa, sizeof sa, &o, on_ready, r);
	assert_non_null(c);
	assert_int_equal(r->ready_n, 0);   /* never called back synchronously */
	wait_for(&r->ready_n, 1, 10);
	assert_int_equal(r->ready_n, 1);
	return c;
}

/* Connects, runs one transaction to the three recipients, waits. */
static inline struct smtp_client *deliver(int port, struct rec *r)
{
	struct smtp_client *c = open_client(port, r, NULL);
	assert_true(r->ok);
	start_txn(c, r, "sender@example.org", rcpt3, 3);
	wait_for(&r->txn_n, 1, 15);
	assert_int_equal(r->txn_n, 1);
	assert_int_equal(r->n, 3);
	return c;
}

static const char msg1[] = "From: a@example.org\r\nTo: b@example.com\r\nSubject: dots\r\n\r\n"
			   ".\r\n"
			   "..\r\n"
			   ".leading dot\r\n"
			   "middle . dot\r\n"
			   "\r\n"
			   ". \r\n"
			   "last line without newline";

/* msg with CRLF turned into LF, plus what smtp-sink adds */
static inline char *lf_of(const char *msg, size_t len, const char *tail)
{
	char *o = malloc(len + strlen(tail) + 1);
	size_t k = 0;
	for (size_t i = 0; i < len; i++)
		if (msg[i] != '\r')
			o[k++] = msg[i];
	memcpy(o + k, tail, strlen(tail) + 1);
	return o;
}

#endif
