/* Test helpers for the network layers' unit tests (header only, static):
 * a real dnsmasq serving test records on a loopback port, an event loop
 * in its own thread owning a resolver, and a UDP socket that never
 * answers (for timeouts). */
#ifndef RAMPART_FILTER_NET_TESTUTIL_H
#define RAMPART_FILTER_NET_TESTUTIL_H

#include "filter/dns.h"
#include "filter/dns_int.h"
#include "util/timeutil.h"

#include <arpa/inet.h>
#include <event2/event.h>
#include <event2/thread.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

/* A port free for both UDP and TCP on 127.0.0.1 (dnsmasq wants both). */
static inline int tu_free_port(void)
{
	for (int attempt = 0; attempt < 50; attempt++) {
		int u = socket(AF_INET, SOCK_DGRAM, 0), t = socket(AF_INET, SOCK_STREAM, 0);
		struct sockaddr_in a = {.sin_family = AF_INET,
					.sin_addr.s_addr = htonl(0x7f000001)};
		socklen_t len = sizeof a;
		int port = -1;
		if (bind(u, (struct sockaddr *)&a, sizeof a) == 0 &&
		    getsockname(u, (struct sockaddr *)&a, &len) == 0 &&
		    bind(t, (struct sockaddr *)&a, sizeof a) == 0)
			port = ntohs(a.sin_port);
		close(u);
		close(t);
		if (port > 0)
			return port;
	}
	return -1;
}

/* One raw query; 1 when the server at port answers at all. */
static inline int tu_dns_answers(int port)
{
	unsigned char q[128], r[512];
	int len = dnsmsg_query(q, sizeof q, 0x4242, "probe.test", DNS_T_A, 0);
	int s = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET,
				.sin_port = htons((uint16_t)port),
				.sin_addr.s_addr = htonl(0x7f000001)};
	struct timeval tv = {0, 200000};
	setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	int ok = sendto(s, q, (size_t)len, 0, (struct sockaddr *)&a, sizeof a) == len &&
		 recv(s, r, sizeof r, 0) > 0;
	close(s);
	return ok;
}

/* Starts dnsmasq on 127.0.0.1:port, authoritative for *.test, with the
 * extra options given (NULL-terminated). Returns its pid or -1. */
static inline pid_t tu_dnsmasq_start(int port, const char *const *opts)
{
	char portarg[32];
	const char *argv[128];
	int n = 0;
	snprintf(portarg, sizeof portarg, "--port=%d", port);
	static const char *const base[] = {
	    "/usr/sbin/dnsmasq",
	    "--no-daemon",
	    "--no-resolv",
	    "--no-hosts",
	    "--bind-interfaces",
	    "--listen-address=127.0.0.1",
	    "--local=/test/",
	    "--user=root",
	    "--pid-file=",
	    "--conf-file=/dev/null",
	    "--log-facility=/dev/null",
	    "--local-ttl=300",
	};
	for (size_t i = 0; i < sizeof base / sizeof *base; i++)
		argv[n++] = base[i];
	argv[n++] = portarg;
	for (int i = 0; opts && opts[i] && n < 126; i++)
		argv[n++] = opts[i];
	argv[n] = NULL;
	pid_t pid = fork();
	if (pid == 0) {
		int devnull = open("/dev/null", O_WRONLY);
		dup2(devnull, 1);
		dup2(devnull, 2);
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	for (int i = 0; pid > 0 && i < 100; i++) {
		if (tu_dns_answers(port))
			return pid;
		if (waitpid(pid, NULL, WNOHANG) == pid)
			return -1;
		usleep(50000);
	}
	if (pid > 0)
		kill(pid, SIGKILL), waitpid(pid, NULL, 0);
	return -1;
}

static inline void tu_dnsmasq_stop(pid_t pid)
{
	if (pid > 0) {
		kill(pid, SIGTERM);
		waitpid(pid, NULL, 0);
	}
}

/* A UDP socket bound on 127.0.0.1 that is never read: queries sent
 * there are never answered. */
static inline int tu_silent_udp(int *port)
{
	*port = 0;
	int s = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000001)};
	socklen_t len = sizeof a;
	if (bind(s, (struct sockaddr *)&a, sizeof a) < 0 ||
	    getsockname(s, (struct sockaddr *)&a, &len) < 0) {
		close(s);
		return -1;
	}
	*port = ntohs(a.sin_port);
	return s;
}

/* An event loop thread that owns a resolver (made on that thread, as
 * rampartd makes it on its loop thread). */
struct tu_loop {
	struct event_base *base;
	struct event *keepalive;
	struct dns *dns;
	pthread_t thread;
	char servers[DNS_MAX_SERVERS][128];
	int nservers;
	pthread_mutex_t mu;
	pthread_cond_t cond;
	int ready;
	char error[512];
};

static void tu_keepalive(evutil_socket_t fd, short what, void *arg)
{
	(void)fd, (void)what, (void)arg;
}

static void *tu_loop_main(void *arg)
{
	struct tu_loop *l = arg;
	struct err e;
	l->dns = dns_new(l->base, (const char(*)[128])l->servers, l->nservers, &e);
	pthread_mutex_lock(&l->mu);
	if (!l->dns)
		snprintf(l->error, sizeof l->error, "%s", e.msg);
	l->ready = 1;
	pthread_cond_signal(&l->cond);
	pthread_mutex_unlock(&l->mu);
	if (l->dns)
		event_base_dispatch(l->base);
	return NULL;
}

/* servers: "127.0.0.1:PORT" strings; returns NULL (and prints why) on
 * failure. */
static void tu_threads_init(void)
{
	evthread_use_pthreads();
}

static inline struct tu_loop *tu_loop_start(const char *const *servers, int nservers)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	pthread_once(&once, tu_threads_init);
	struct tu_loop *l = calloc(1, sizeof *l);
	for (int i = 0; i < nservers && i < DNS_MAX_SERVERS; i++)
		snprintf(l->servers[l->nservers++], 128, "%s", servers[i]);
	l->base = event_base_new();
	l->keepalive = event_new(l->base, -1, EV_PERSIST, tu_keepalive, NULL);
	struct timeval tv = {3600, 0};
	event_add(l->keepalive, &tv);
	pthread_mutex_init(&l->mu, NULL);
	pthread_cond_init(&l->cond, NULL);
	pthread_create(&l->thread, NULL, tu_loop_main, l);
	pthread_mutex_lock(&l->mu);
	while (!l->ready)
		pthread_cond_wait(&l->cond, &l->mu);
	pthread_mutex_unlock(&l->mu);
	if (!l->dns) {
		fprintf(stderr, "dns_new: %s\n", l->error);
		pthread_join(l->thread, NULL);
		event_free(l->keepalive);
		event_base_free(l->base);
		free(l);
		return NULL;
	}
	return l;
}

static inline void tu_loop_stop(struct tu_loop *l)
{
	if (!l)
		return;
	event_base_loopbreak(l->base);
	pthread_join(l->thread, NULL);
	dns_free(l->dns); /* the loop thread is gone: this thread owns the base now */
	event_free(l->keepalive);
	event_base_free(l->base);
	pthread_mutex_destroy(&l->mu);
	pthread_cond_destroy(&l->cond);
	free(l);
}

/* A dnsmasq answering opts on a free loopback port and a loop whose
 * resolver asks it: the set-up of every "live" network-layer test. 0, or
 * -1 when either could not start (what started is left in *dnsmasq and
 * *loop for the teardown). */
static inline int tu_live_start(const char *const *opts, pid_t *dnsmasq, struct tu_loop **loop)
{
	int port = tu_free_port();
	*loop = NULL;
	*dnsmasq = tu_dnsmasq_start(port, opts);
	if (*dnsmasq < 0)
		return -1;
	char server[64];
	snprintf(server, sizeof server, "127.0.0.1:%d", port);
	const char *servers[] = {server};
	*loop = tu_loop_start(servers, 1);
	return *loop ? 0 : -1;
}

#endif
