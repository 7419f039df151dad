/* SMTP load generator for bench/smtp (one epoll loop, no threads).
 *
 * C concurrent sessions share N messages; each session keeps one
 * connection open and sends RSET, MAIL, RCPT, DATA (pipelined in one
 * write when the server offers PIPELINING, as an MTA would), then the
 * message and the final dot. Latency of a message = time from the moment
 * the last byte of the final dot is handed to the kernel to the moment
 * its reply arrives. A 421 before the message text is sent (session limit,
 * shutdown) re-queues the message on a new connection; every other
 * non-2xx reply, or a connection lost in a transaction, is a failure.
 *
 * Optionally (-k FILE) it then waits until smtp-sink -c, whose stdout is
 * FILE, has counted every accepted message ("delivered" time), and
 * (-P PID) it measures the CPU time used by PID and all its descendants
 * (live ones from /proc, reaped ones through their parents' cutime).
 *
 * Prints one JSON object on stdout. Exit status 0 when the run completed
 * (failures are reported, not fatal), 1 on a usage error or time-out.
 *
 * usage: loadgen -p PORT [-H 127.0.0.1] [-n 5000] [-c 8] [-s 4096]
 *                [-f sender] [-r rcpt] [-k SINKFILE] [-P PID] [-t 300]
 *                [-L (no pipelining)] [-l label] */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_SESSIONS 1024
#define MAX_MESSAGES 10000000
#define IN_MAX 16384
#define MAX_RECONNECTS 10000
#define MAX_TRIES 3       /* a message re-queued this often fails */
#define MAX_NOTES 20      /* failure lines printed, then only counted */

enum state { S_BANNER, S_EHLO, S_ENV, S_DOT, S_ABORT, S_QUIT };

struct sess {
	int fd;
	int id;
	unsigned gen;     /* bumped by every close: stale state detection */
	enum state st;
	int pipelining;
	int msg;          /* message index in flight, -1 when none */
	int env_k;        /* envelope replies received so far */
	int env_bad;      /* an envelope reply was not positive */
	int body_sent;    /* the message text went out */
	char *out;        /* pending output */
	size_t out_len, out_off, out_cap;
	int dot_pending;  /* the final dot is in out: stamp t0 when drained */
	double t0;
	char in[IN_MAX];
	size_t in_len;
	char ehlo_text[2048];
	size_t ehlo_len;
};

struct opts {
	const char *host, *sender, *rcpt, *sink_file, *label;
	int port, n, c, size, pid, timeout, no_pipelining;
};

static struct opts O = {.host = "127.0.0.1", .sender = "sender@bench.test",
			.rcpt = "user@example.test", .label = "", .n = 5000, .c = 8,
			.size = 4096, .timeout = 300};

static int epfd;
static struct sess S[MAX_SESSIONS];
static int next_msg, n_done, n_ok, n_fail, n_retry, n_reconnect, live;
static int *requeue, n_requeue, n_notes;
static unsigned char *tries;
static double *lat;
static int n_lat;
static double t_start, t_last_ok;
static char *body_tmpl;
static size_t body_len;

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* A failure worth a line on stderr (the first few only). */
static void note(const struct sess *s, const char *fmt, ...)
{
	if (++n_notes > MAX_NOTES)
		return;
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "loadgen: session %d: ", s->id);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	if (n_notes == MAX_NOTES)
		fprintf(stderr, "loadgen: (further failures are only counted)\n");
	va_end(ap);
}

static void die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "loadgen: ");
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(1);
}

/* ---- message text: realistic headers and a body of words ---- */

static const char *const words[] = {
	"the", "quarterly", "report", "attached", "please", "review", "before",
	"meeting", "on", "thursday", "budget", "figures", "were", "updated", "and",
	"team", "agreed", "to", "postpone", "launch", "until", "next", "month",
	"regards", "customer", "invoice", "shipment", "schedule", "confirm", "details",
};

static void body_build(void)
{
	static const char hdr[] =
		"Received: from client.bench.test (client.bench.test [127.0.0.1])\r\n"
		"\tby mx.bench.test with ESMTP id 4Q8Zt05Lw2z9sNq\r\n"
		"\tfor <%s>; Tue, 25 Nov 2025 10:00:00 +0000\r\n"
		"From: Bench Sender <%s>\r\n"
		"To: Bench User <%s>\r\n"
		"Subject: Quarterly report and meeting schedule\r\n"
		"Date: Tue, 25 Nov 2025 10:00:00 +0000\r\n"
		"Message-ID: <%%010d.bench@bench.test>\r\n"
		"MIME-Version: 1.0\r\n"
		"Content-Type: text/plain; charset=us-ascii\r\n"
		"Content-Transfer-Encoding: 7bit\r\n"
		"X-Mailer: rampart-bench loadgen\r\n"
		"\r\n";
	size_t cap = (size_t)O.size + 2048;
	body_tmpl = malloc(cap);
	if (!body_tmpl)
		die("out of memory");
	int n = snprintf(body_tmpl, cap, hdr, O.rcpt, O.sender, O.rcpt);
	if (n < 0 || (size_t)n >= cap)
		die("header too long");
	size_t len = (size_t)n, col = 0;
	unsigned w = 0;
	/* the body ends with CRLF; the dot goes after it */
	while (len + 2 < (size_t)O.size || col) {
		const char *word = words[(w * 7 + w / 5) % (sizeof words / sizeof words[0])];
		size_t wl = strlen(word);
		w++;
		if (col + wl + 1 > 72 || len + wl + 4 >= cap) {
			memcpy(body_tmpl + len, "\r\n", 2);
			len += 2;
			col = 0;
			if (len + 2 >= (size_t)O.size || len + 80 >= cap)
				break;
			continue;
		}
		if (col) {
			body_tmpl[len++] = ' ';
			col++;
		}
		memcpy(body_tmpl + len, word, wl);
		len += wl;
		col += wl;
	}
	body_tmpl[len] = '\0';
	body_len = len;
}

/* ---- output ---- */

static void sess_want_write(struct sess *s, int on)
{
	struct epoll_event ev = {.events = EPOLLIN | (on ? EPOLLOUT : 0), .data.ptr = s};
	epoll_ctl(epfd, EPOLL_CTL_MOD, s->fd, &ev);
}

static void out_append(struct sess *s, const char *p, size_t n)
{
	if (s->out_off == s->out_len)
		s->out_off = s->out_len = 0;
	if (s->out_len + n > s->out_cap) {
		size_t cap = (s->out_len + n) * 2;
		char *q = realloc(s->out, cap);
		if (!q)
			die("out of memory");
		s->out = q;
		s->out_cap = cap;
	}
	memcpy(s->out + s->out_len, p, n);
	s->out_len += n;
}

static void out_printf(struct sess *s, const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof line)
		die("command too long");
	out_append(s, line, (size_t)n);
}

static void sess_drop(struct sess *s, const char *why);

/* Returns -1 when the connection broke (s was dropped). */
static int out_flush(struct sess *s)
{
	while (s->out_off < s->out_len) {
		ssize_t w = send(s->fd, s->out + s->out_off, s->out_len - s->out_off,
				 MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno == EAGAIN) {
			sess_want_write(s, 1);
			return 0;
		}
		if (w <= 0) {
			sess_drop(s, "write failed");
			return -1;
		}
		s->out_off += (size_t)w;
	}
	if (s->dot_pending) {
		s->dot_pending = 0;
		s->t0 = now();
	}
	sess_want_write(s, 0);
	return 0;
}

/* ---- sessions ---- */

static int msg_take(void)
{
	if (n_requeue > 0)
		return requeue[--n_requeue];
	return next_msg < O.n ? next_msg++ : -1;
}

static void msg_result(struct sess *s, int ok)
{
	n_done++;
	if (ok) {
		double t = now();
		n_ok++;
		lat[n_lat++] = t - s->t0;
		t_last_ok = t;
	} else {
		n_fail++;
	}
	s->msg = -1;
}

static void sess_connect(struct sess *s);

static void sess_close(struct sess *s)
{
	epoll_ctl(epfd, EPOLL_CTL_DEL, s->fd, NULL);
	close(s->fd);
	s->fd = -1;
	s->gen++;
	live--;
}

/* Connection lost: the message in flight fails unless its text never
 * left (then it is re-queued); the session reconnects while work is left. */
static void sess_drop(struct sess *s, const char *why)
{
	if (s->msg >= 0) {
		if (s->body_sent || ++tries[s->msg] >= MAX_TRIES) {
			note(s, "%s (message lost)", why);
			msg_result(s, 0);
		} else {
			requeue[n_requeue++] = s->msg;
			s->msg = -1;
			n_retry++;
		}
	}
	sess_close(s);
	if (s->st != S_QUIT && (n_requeue > 0 || next_msg < O.n)) {
		if (++n_reconnect > MAX_RECONNECTS)
			die("too many reconnects (last: %s)", why);
		sess_connect(s);
	}
}

static void msg_start(struct sess *s)
{
	s->msg = msg_take();
	if (s->msg < 0) {
		out_printf(s, "QUIT\r\n");
		s->st = S_QUIT;
		out_flush(s);
		return;
	}
	s->st = S_ENV;
	s->env_k = s->env_bad = s->body_sent = 0;
	out_printf(s, "RSET\r\n");
	if (s->pipelining)
		out_printf(s, "MAIL FROM:<%s> SIZE=%zu\r\nRCPT TO:<%s>\r\nDATA\r\n", O.sender,
			   body_len + 40, O.rcpt);
	out_flush(s);
}

static void msg_send_text(struct sess *s)
{
	char mid[64];
	/* the template's Message-ID holds a %010d: patch it in place per message */
	char *p = strstr(body_tmpl, "<%010d.");
	size_t pre = (size_t)(p - body_tmpl) + 1;
	int n = snprintf(mid, sizeof mid, "%010d", s->msg);
	out_append(s, body_tmpl, pre);
	out_append(s, mid, (size_t)n);
	out_append(s, p + 6, body_len - pre - 5);
	out_append(s, ".\r\n", 3);
	s->body_sent = 1;
	s->dot_pending = 1;
	s->st = S_DOT;
	out_flush(s);
}

/* One envelope reply: k = 0 RSET, 1 MAIL, 2 RCPT, 3 DATA. */
static void env_reply(struct sess *s, int code)
{
	static const char *const next_cmd[] = {"MAIL FROM:<%s> SIZE=%zu\r\n", "RCPT TO:<%s>\r\n",
					       "DATA\r\n"};
	int k = s->env_k++;
	if (code == 421) {
		sess_drop(s, "421 from server");
		return;
	}
	if (k < 3 && code / 100 != 2)
		s->env_bad = 1;
	if (k < 3) {
		if (s->pipelining)
			return;
		if (k == 0)
			out_printf(s, next_cmd[0], O.sender, body_len + 40);
		else
			out_printf(s, next_cmd[k], O.rcpt);
		out_flush(s);
		return;
	}
	if (code == 354 && !s->env_bad) {
		msg_send_text(s);
		return;
	}
	note(s, "envelope refused (DATA %d)", code);
	msg_result(s, 0);
	if (code == 354) { /* a server that wants text after a refusal: end it empty */
		out_printf(s, ".\r\n");
		s->st = S_ABORT;
		out_flush(s);
		return;
	}
	msg_start(s);
}

static void on_reply(struct sess *s, int code)
{
	switch (s->st) {
	case S_BANNER:
		if (code != 220) {
			sess_drop(s, "banner not 220");
			return;
		}
		out_printf(s, "EHLO loadgen.bench.test\r\n");
		s->st = S_EHLO;
		s->ehlo_len = 0;
		out_flush(s);
		return;
	case S_EHLO:
		if (code != 250)
			die("EHLO refused with %d", code);
		s->ehlo_text[s->ehlo_len] = '\0';
		s->pipelining = !O.no_pipelining && strstr(s->ehlo_text, "PIPELINING");
		msg_start(s);
		return;
	case S_ENV:
		env_reply(s, code);
		return;
	case S_DOT:
		if (code != 250)
			note(s, "message refused with %d", code);
		msg_result(s, code == 250);
		msg_start(s);
		return;
	case S_ABORT: /* the reply to the empty message */
		msg_start(s);
		return;
	case S_QUIT:
		sess_close(s);
		return;
	}
}

/* Reads what arrived and dispatches complete replies. */
static void sess_read(struct sess *s)
{
	for (;;) {
		ssize_t r = recv(s->fd, s->in + s->in_len, sizeof s->in - s->in_len, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && errno == EAGAIN)
			return;
		if (r <= 0) {
			if (s->st == S_QUIT)
				sess_close(s);
			else
				sess_drop(s, r == 0 ? "connection closed" : "read error");
			return;
		}
		s->in_len += (size_t)r;
		size_t off = 0;
		char *nl;
		while ((nl = memchr(s->in + off, '\n', s->in_len - off))) {
			char *line = s->in + off;
			size_t ll = (size_t)(nl - line) + 1;
			off += ll;
			if (ll < 4 || !isdigit((unsigned char)line[0]))
				continue;
			if (s->st == S_EHLO && s->ehlo_len + ll < sizeof s->ehlo_text) {
				memcpy(s->ehlo_text + s->ehlo_len, line, ll);
				s->ehlo_len += ll;
			}
			if (line[3] == '-')
				continue;
			unsigned gen = s->gen;
			on_reply(s, atoi(line));
			if (s->gen != gen) /* closed or reconnected: the rest is stale */
				return;
		}
		memmove(s->in, s->in + off, s->in_len - off);
		s->in_len -= off;
		if (s->in_len == sizeof s->in)
			die("reply line too long");
	}
}

static void sess_connect(struct sess *s)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)O.port)};
	if (inet_pton(AF_INET, O.host, &sa.sin_addr) != 1)
		die("bad host %s", O.host);
	s->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	if (s->fd < 0)
		die("socket: %s", strerror(errno));
	int one = 1;
	setsockopt(s->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	if (connect(s->fd, (struct sockaddr *)&sa, sizeof sa) < 0 && errno != EINPROGRESS)
		die("connect: %s", strerror(errno));
	s->st = S_BANNER;
	s->in_len = s->out_len = s->out_off = 0;
	s->dot_pending = 0;
	s->msg = -1;
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = s};
	epoll_ctl(epfd, EPOLL_CTL_ADD, s->fd, &ev);
	live++;
}

/* ---- CPU of a process tree, from /proc ---- */

struct pstat {
	int pid, ppid;
	unsigned long long ticks; /* utime + stime + cutime + cstime */
};

static int pstat_read(int pid, struct pstat *p)
{
	char path[64], buf[1024];
	snprintf(path, sizeof path, "/proc/%d/stat", pid);
	int fd = open(path, O_RDONLY);
	if (fd < 0)
		return -1;
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	char *q = strrchr(buf, ')'); /* comm may hold spaces and parens */
	if (!q)
		return -1;
	unsigned long long ut, st;
	long long cut, cst;
	/* fields after comm: state ppid pgrp session tty tpgid flags minflt
	 * cminflt majflt cmajflt utime stime cutime cstime */
	if (sscanf(q + 2, "%*c %d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %lld %lld",
		   &p->ppid, &ut, &st, &cut, &cst) != 5)
		return -1;
	p->pid = pid;
	p->ticks = ut + st + (unsigned long long)cut + (unsigned long long)cst;
	return 0;
}

/* CPU seconds of root and every live descendant, plus what their reaped
 * children used (cutime/cstime). procs gets the number of processes. */
static double tree_cpu(int root, int *procs)
{
	static struct pstat all[65536];
	int n = 0;
	DIR *d = opendir("/proc");
	if (!d)
		die("cannot open /proc");
	struct dirent *de;
	while ((de = readdir(d)) && n < (int)(sizeof all / sizeof all[0])) {
		if (!isdigit((unsigned char)de->d_name[0]))
			continue;
		if (pstat_read(atoi(de->d_name), &all[n]) == 0)
			n++;
	}
	closedir(d);
	unsigned long long sum = 0;
	int count = 0;
	for (int i = 0; i < n; i++) {
		int pid = all[i].pid, depth = 0;
		while (pid != root && pid > 1 && depth++ < 64) {
			int j;
			for (j = 0; j < n && all[j].pid != pid; j++)
				;
			pid = j < n ? all[j].ppid : 0;
		}
		if (pid == root) {
			sum += all[i].ticks;
			count++;
		}
	}
	if (procs)
		*procs = count;
	return (double)sum / (double)sysconf(_SC_CLK_TCK);
}

/* ---- smtp-sink -c counter ---- */

/* Last "mesg=N" in the sink's counter output, or -1. */
static long sink_count(const char *path)
{
	char buf[256];
	int fd = open(path, O_RDONLY);
	if (fd < 0)
		return -1;
	off_t end = lseek(fd, 0, SEEK_END);
	off_t from = end > (off_t)sizeof buf - 1 ? end - (off_t)sizeof buf + 1 : 0;
	ssize_t n = pread(fd, buf, sizeof buf - 1, from);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	char *last = NULL, *p = buf;
	while ((p = strstr(p, "mesg="))) {
		last = p;
		p += 5;
	}
	return last ? strtol(last + 5, NULL, 10) : 0;
}

/* 1-minute load average of the machine (other tenants skew results). */
static double loadavg(void)
{
	double l = -1;
	FILE *f = fopen("/proc/loadavg", "r");
	if (f) {
		if (fscanf(f, "%lf", &l) != 1)
			l = -1;
		fclose(f);
	}
	return l;
}

/* ---- results ---- */

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double pct(double p)
{
	if (n_lat == 0)
		return 0;
	int i = (int)(p * (n_lat - 1) + 0.5);
	return lat[i] * 1000.0;
}

static void run_loop(double deadline)
{
	struct epoll_event evs[64];
	while (live > 0) {
		if (now() > deadline)
			die("time-out: %d of %d messages done", n_done, O.n);
		int k = epoll_wait(epfd, evs, 64, 100);
		if (k < 0 && errno != EINTR)
			die("epoll_wait: %s", strerror(errno));
		for (int i = 0; i < k; i++) {
			struct sess *s = evs[i].data.ptr;
			if (s->fd < 0)
				continue;
			unsigned gen = s->gen;
			if (evs[i].events & EPOLLOUT && out_flush(s) < 0)
				continue;
			if (s->gen == gen && evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP))
				sess_read(s);
		}
	}
}

static void opts_parse(int argc, char **argv)
{
	int ch;
	while ((ch = getopt(argc, argv, "H:p:n:c:s:f:r:k:P:t:Ll:")) != -1) {
		switch (ch) {
		case 'H': O.host = optarg; break;
		case 'p': O.port = atoi(optarg); break;
		case 'n': O.n = atoi(optarg); break;
		case 'c': O.c = atoi(optarg); break;
		case 's': O.size = atoi(optarg); break;
		case 'f': O.sender = optarg; break;
		case 'r': O.rcpt = optarg; break;
		case 'k': O.sink_file = optarg; break;
		case 'P': O.pid = atoi(optarg); break;
		case 't': O.timeout = atoi(optarg); break;
		case 'L': O.no_pipelining = 1; break;
		case 'l': O.label = optarg; break;
		default: die("usage: see the comment at the top of loadgen.c");
		}
	}
	if (O.port <= 0 || O.port > 65535 || O.n < 1 || O.n > MAX_MESSAGES || O.c < 1 ||
	    O.c > MAX_SESSIONS || O.size < 512 || O.size > 64 * 1024 * 1024 || O.timeout < 1 ||
	    strlen(O.sender) > 200 || strlen(O.rcpt) > 200 || strchr(O.label, '"') ||
	    strchr(O.label, '\\'))
		die("bad arguments");
}

int main(int argc, char **argv)
{
	opts_parse(argc, argv);
	body_build();
	lat = calloc((size_t)O.n, sizeof *lat);
	requeue = calloc((size_t)O.n + MAX_SESSIONS, sizeof *requeue);
	tries = calloc((size_t)O.n, 1);
	epfd = epoll_create1(0);
	if (!lat || !requeue || !tries || epfd < 0)
		die("out of memory");
	long sink_base = O.sink_file ? sink_count(O.sink_file) : 0;
	if (sink_base < 0)
		die("cannot read %s", O.sink_file);
	int procs0 = 0, procs1 = 0;
	double load0 = loadavg();
	double cpu0 = O.pid ? tree_cpu(O.pid, &procs0) : 0;
	t_start = now();
	double deadline = t_start + O.timeout;
	for (int i = 0; i < O.c; i++) {
		S[i].id = i;
		sess_connect(&S[i]);
	}
	run_loop(deadline);
	double t_accept = (n_ok ? t_last_ok : now()) - t_start, t_deliver = 0;
	long delivered = 0;
	if (O.sink_file) {
		while ((delivered = sink_count(O.sink_file) - sink_base) < n_ok) {
			if (now() > deadline)
				die("time-out: sink has %ld of %d accepted messages", delivered, n_ok);
			usleep(2000);
		}
		t_deliver = now() - t_start;
		usleep(300000); /* let the servers finish their bookkeeping */
	}
	double cpu1 = O.pid ? tree_cpu(O.pid, &procs1) : 0;
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	double self_cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
			  (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
	double mean = 0;
	for (int i = 0; i < n_lat; i++)
		mean += lat[i];
	mean = n_lat ? mean * 1000.0 / n_lat : 0;
	qsort(lat, (size_t)n_lat, sizeof *lat, cmp_double);
	int ok = n_ok ? n_ok : 1;
	printf("{\"label\":\"%s\",\"messages\":%d,\"concurrency\":%d,\"size\":%zu,"
	       "\"pipelining\":%s,\"accepted\":%d,\"failed\":%d,\"requeued\":%d,"
	       "\"reconnects\":%d,\"accept_seconds\":%.4f,\"accept_rate\":%.1f,"
	       "\"delivered\":%ld,\"deliver_seconds\":%.4f,\"deliver_rate\":%.1f,"
	       "\"lat_p50_ms\":%.3f,\"lat_p99_ms\":%.3f,\"lat_mean_ms\":%.3f,"
	       "\"lat_max_ms\":%.3f,\"server_cpu_seconds\":%.2f,\"cpu_ms_per_msg\":%.4f,"
	       "\"server_procs\":%d,\"loadgen_cpu_seconds\":%.2f,\"loadavg\":%.2f}\n",
	       O.label, O.n, O.c, body_len + 3, O.no_pipelining ? "false" : "true", n_ok, n_fail,
	       n_retry, n_reconnect, t_accept, t_accept > 0 ? n_ok / t_accept : 0, delivered,
	       t_deliver, t_deliver > 0 ? delivered / t_deliver : 0, pct(0.50), pct(0.99), mean,
	       n_lat ? lat[n_lat - 1] * 1000.0 : 0, cpu1 - cpu0, (cpu1 - cpu0) * 1000.0 / ok,
	       procs1 > procs0 ? procs1 : procs0, self_cpu, load0);
	return 0;
}
