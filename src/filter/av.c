/* clamd client (INSTREAM) and the virus stage. Runs in a scan thread:
 * plain sockets with poll(), every step bounded by one deadline. */
#include "filter/av.h"

#include "store/config.h"
#include "util/log.h"
#include "util/net.h"
#include "util/timeutil.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define CHUNK (64 * 1024)
#define REPLY_MAX 1024

static char clamd_addr[PATH_MAX];

void av_set_clamd(const char *addr)
{
	snprintf(clamd_addr, sizeof clamd_addr, "%s", addr ? addr : "");
}

const char *av_clamd(void)
{
	return clamd_addr;
}

static int64_t now_ms(void)
{
	return time_mono_us() / 1000;
}

/* poll() for events until the deadline: revents, 0 on timeout, -1 error. */
static int wait_fd(int fd, short events, int64_t deadline)
{
	for (;;) {
		int64_t left = deadline - now_ms();
		if (left <= 0)
			return 0;
		struct pollfd p = {fd, events, 0};
		int rc = poll(&p, 1, left > INT_MAX ? INT_MAX : (int)left);
		if (rc < 0 && errno == EINTR)
			continue;
		return rc < 0 ? -1 : rc == 0 ? 0 : p.revents;
	}
}

static int connect_wait(int fd, const struct sockaddr *sa, socklen_t len, int64_t deadline)
{
	if (connect(fd, sa, len) == 0)
		return 0;
	if (errno != EINPROGRESS)
		return -1;
	int soerr = 0;
	socklen_t sl = sizeof soerr;
	int rc = wait_fd(fd, POLLOUT, deadline);
	if (rc == 0)
		errno = ETIMEDOUT;
	if (rc <= 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0)
		return -1;
	errno = soerr;
	return soerr ? -1 : 0;
}

static int clamd_connect(const char *addr, int64_t deadline, char *why, size_t whylen)
{
	if (addr[0] == '/') {
		struct sockaddr_un su = {.sun_family = AF_UNIX};
		if (strlen(addr) >= sizeof su.sun_path)
			return snprintf(why, whylen, "socket path too long"), -1;
		memcpy(su.sun_path, addr, strlen(addr) + 1);
		int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd >= 0 && connect_wait(fd, (struct sockaddr *)&su, sizeof su, deadline) == 0)
			return fd;
		snprintf(why, whylen, "%s", strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	char host[256], port[16];
	int p;
	struct err e;
	if (net_split_hostport(addr, host, sizeof host, &p, &e) < 0)
		return snprintf(why, whylen, "%s", e.msg), -1;
	snprintf(port, sizeof port, "%d", p);
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV}, *res;
	int gai = getaddrinfo(host, port, &hints, &res);
	if (gai != 0)
		return snprintf(why, whylen, "%s", gai_strerror(gai)), -1;
	int fd = -1;
	snprintf(why, whylen, "no address");
	for (struct addrinfo *ai = res; ai && fd < 0; ai = ai->ai_next) {
		fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd >= 0 && connect_wait(fd, ai->ai_addr, ai->ai_addrlen, deadline) < 0) {
			snprintf(why, whylen, "%s", strerror(errno));
			close(fd);
			fd = -1;
		}
	}
	freeaddrinfo(res);
	return fd;
}

enum send_rc { SEND_OK, SEND_REPLY /* clamd answered early */, SEND_CLOSED, SEND_TIMEOUT };

/* Sends n bytes; stops as soon as clamd has something to say (it
 * answers early, then closes, when the stream exceeds its limit). */
static enum send_rc send_all(int fd, const char *p, size_t n, int64_t deadline)
{
	while (n > 0) {
		int ev = wait_fd(fd, POLLOUT | POLLIN, deadline);
		if (ev == 0)
			return SEND_TIMEOUT;
		if (ev < 0 || (ev & POLLIN))
			return ev < 0 ? SEND_CLOSED : SEND_REPLY;
		if (ev & (POLLERR | POLLHUP))
			return SEND_CLOSED;
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
		if (w < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (w < 0)
			return SEND_CLOSED;
		p += w;
		n -= (size_t)w;
	}
	return SEND_OK;
}

static enum send_rc send_stream(int fd, const char *data, size_t len, int64_t deadline)
{
	static const char cmd[] = "zINSTREAM";
	enum send_rc rc = send_all(fd, cmd, sizeof cmd, deadline); /* with its NUL */
	for (size_t off = 0; rc == SEND_OK && off < len; off += CHUNK) {
		size_t n = len - off < CHUNK ? len - off : CHUNK;
		unsigned char hdr[4] = {(unsigned char)(n >> 24), (unsigned char)(n >> 16),
					(unsigned char)(n >> 8), (unsigned char)n};
		rc = send_all(fd, (const char *)hdr, 4, deadline);
		if (rc == SEND_OK)
			rc = send_all(fd, data + off, n, deadline);
	}
	if (rc == SEND_OK)
		rc = send_all(fd, "\0\0\0\0", 4, deadline);
	return rc;
}

/* Reads up to the NUL that ends a z-command reply, or EOF. */
static int read_reply(int fd, char *buf, size_t cap, int64_t deadline)
{
	size_t n = 0;
	while (n < cap - 1) {
		int ev = wait_fd(fd, POLLIN, deadline);
		if (ev <= 0)
			return ev == 0 ? -2 : -1;
		ssize_t r = recv(fd, buf + n, cap - 1 - n, 0);
		if (r < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (r <= 0)
			break;
		n += (size_t)r;
		if (memchr(buf, '\0', n))
			break;
	}
	buf[n] = '\0';
	return n > 0 ? 0 : -1;
}

void av_parse_reply(const char *reply, struct av_result *out)
{
	char line[REPLY_MAX];
	snprintf(line, sizeof line, "%s", reply);
	size_t n = strlen(line);
	while (n && (line[n - 1] == '\n' || line[n - 1] == ' ' || line[n - 1] == '\r'))
		line[--n] = '\0';
	const char *body = strncmp(line, "stream: ", 8) == 0 ? line + 8 : line;
	size_t bl = strlen(body);
	out->virus[0] = out->detail[0] = '\0';
	if (strcmp(body, "OK") == 0) {
		out->status = AV_CLEAN;
	} else if (bl > 6 && strcmp(body + bl - 6, " FOUND") == 0) {
		out->status = AV_INFECTED;
		snprintf(out->virus, sizeof out->virus, "%.*s", (int)(bl - 6), body);
	} else if (strstr(line, "size limit exceeded")) {
		out->status = AV_TOO_BIG;
		snprintf(out->detail, sizeof out->detail, "clamd: %s", line);
	} else {
		out->status = AV_ERROR;
		snprintf(out->detail, sizeof out->detail, "clamd answered \"%s\"", log_esc(line));
	}
}

int av_scan(const char *addr, const char *data, size_t len, int timeout_ms, struct av_result *out)
{
	memset(out, 0, sizeof *out);
	int64_t t0 = now_ms(), deadline = t0 + (timeout_ms > 0 ? timeout_ms : 1);
	char why[200], reply[REPLY_MAX];
	int fd = clamd_connect(addr, deadline, why, sizeof why);
	if (fd < 0) {
		out->status = AV_ERROR;
		snprintf(out->detail, sizeof out->detail, "cannot connect to clamd at %s: %s", addr,
			 why);
		out->ms = now_ms() - t0;
		return 0;
	}
	enum send_rc rc = send_stream(fd, data, len, deadline);
	int rr = rc == SEND_TIMEOUT ? -2 : read_reply(fd, reply, sizeof reply, deadline);
	close(fd);
	out->ms = now_ms() - t0;
	if (rr == 0) {
		av_parse_reply(reply, out);
		return 0;
	}
	out->status = AV_ERROR;
	snprintf(out->detail, sizeof out->detail, "clamd at %s %s", addr,
		 rr == -2	     ? "did not answer in time"
		 : rc == SEND_CLOSED ? "closed the connection without an answer"
				     : "sent no answer");
	return 0;
}

/* ---- the stage ------------------------------------------------------ */

static void virus_rule(const char *virus, char *out, size_t outlen)
{
	size_t o = (size_t)snprintf(out, outlen, "VIRUS_");
	for (const char *p = virus; *p && o + 1 < outlen; p++)
		out[o++] = isalnum((unsigned char)*p) ? (char)toupper((unsigned char)*p) : '_';
	out[o < outlen ? o : outlen - 1] = '\0';
}

static void on_infected(struct scan_job *job, const struct av_result *r)
{
	struct config_store *cs = filter_engine_cfg(job->fe);
	char act[32], rule[160], reason[256], pub[128];
	config_str(cs, "av_infected_action", NULL, NULL, act, sizeof act);
	virus_rule(r->virus, rule, sizeof rule);
	snprintf(reason, sizeof reason, "virus %s found by clamd", log_esc(r->virus));
	snprintf(pub, sizeof pub, "virus found (%s)", log_esc(r->virus));
	log_warn("av: %s, action %s (%lld ms)", reason, act, (long long)r->ms);
	verdict_hit(job->v, rule, 0, reason);
	verdict_decide(job->v, strcmp(act, "quarantine") == 0 ? ACTION_QUARANTINE : ACTION_BLOCK,
		       "virus", reason, pub);
}

/* Not scanned: setting says accept (logged), tempfail or block. */
static void on_unscanned(struct scan_job *job, const struct av_result *r, const char *setting)
{
	struct config_store *cs = filter_engine_cfg(job->fe);
	char act[32];
	config_str(cs, setting, NULL, NULL, act, sizeof act);
	if (strcmp(act, "accept") == 0) {
		log_warn("av: %s; message of %zu bytes accepted unscanned (%s = accept)", r->detail,
			 job->in->len, setting);
		return;
	}
	int block = strcmp(act, "block") == 0;
	log_warn("av: %s; message %s (%s = %s)", r->detail, block ? "blocked" : "deferred", setting,
		 act);
	verdict_decide(job->v, block ? ACTION_BLOCK : ACTION_TEMPFAIL, "virus", r->detail,
		       block ? "message too large for the virus scanner"
			     : "Virus scanner temporarily unavailable, try again later");
}

int stage_av(struct scan_job *job)
{
	struct config_store *cs = filter_engine_cfg(job->fe);
	const struct verdict *v = job->v;
	if (!clamd_addr[0] || job->in->offline || !config_bool(cs, "av_enabled", NULL, NULL))
		return 0;
	/* refused already: nothing to protect anyone from */
	if (v->final && (v->action == ACTION_BLOCK || v->action == ACTION_TEMPFAIL))
		return 0;
	struct av_result r;
	av_scan(clamd_addr, job->in->data, job->in->len,
		(int)config_int(cs, "av_timeout_ms", NULL, NULL), &r);
	switch (r.status) {
	case AV_CLEAN:
		log_debug("av: clean (%zu bytes, %lld ms)", job->in->len, (long long)r.ms);
		break;
	case AV_INFECTED:
		on_infected(job, &r);
		break;
	case AV_TOO_BIG:
		on_unscanned(job, &r, "av_oversize");
		break;
	case AV_ERROR:
		on_unscanned(job, &r, "av_unreachable");
		break;
	}
	return 0;
}
