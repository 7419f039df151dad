#include "util/net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

int net_split_hostport(const char *s, char *host, size_t hostlen, int *port, struct err *e)
{
	const char *colon;
	const char *h = s;
	size_t hn;
	if (s[0] == '[') {
		const char *close = strchr(s, ']');
		if (!close || close[1] != ':')
			return err_set(e, "bad address '%s' (expected [v6]:port)", s);
		h = s + 1;
		hn = (size_t)(close - h);
		colon = close + 1;
	} else {
		colon = strrchr(s, ':');
		if (!colon)
			return err_set(e, "bad address '%s' (expected host:port)", s);
		hn = (size_t)(colon - s);
	}
	if (hn == 0 || hn >= hostlen)
		return err_set(e, "bad host in '%s'", s);
	char *end;
	long p = strtol(colon + 1, &end, 10);
	if (*end || p < 1 || p > 65535)
		return err_set(e, "bad port in '%s'", s);
	memcpy(host, h, hn);
	host[hn] = '\0';
	*port = (int)p;
	return 0;
}

int net_parse_addr(const char *host, int port, struct sockaddr_storage *ss, socklen_t *len,
		   struct err *e)
{
	memset(ss, 0, sizeof *ss);
	struct sockaddr_in *in4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
	if (inet_pton(AF_INET, host, &in4->sin_addr) == 1) {
		in4->sin_family = AF_INET;
		in4->sin_port = htons((uint16_t)port);
		*len = sizeof *in4;
		return 0;
	}
	if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)port);
		*len = sizeof *in6;
		return 0;
	}
	return err_set(e, "'%s' is not a numeric IP address", host);
}

int net_listen_tcp(const char *hostport, int backlog, struct err *e)
{
	char host[256];
	int port;
	struct sockaddr_storage ss;
	socklen_t len;
	if (net_split_hostport(hostport, host, sizeof host, &port, e) < 0 ||
	    net_parse_addr(host, port, &ss, &len, e) < 0)
		return -1;
	int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return err_set(e, "socket: %s", strerror(errno));
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (ss.ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
	if (bind(fd, (struct sockaddr *)&ss, len) < 0 || listen(fd, backlog) < 0) {
		err_set(e, "listen on %s: %s", hostport, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

int net_listen_unix(const char *path, int mode, struct err *e)
{
	struct sockaddr_un sun;
	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof sun.sun_path)
		return err_set(e, "unix socket path too long: %s", path);
	memcpy(sun.sun_path, path, strlen(path));
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return err_set(e, "socket: %s", strerror(errno));
	unlink(path);
	mode_t old = umask(0777 & ~(mode_t)mode);
	int rc = bind(fd, (struct sockaddr *)&sun, sizeof sun);
	umask(old);
	if (rc < 0 || listen(fd, 64) < 0) {
		err_set(e, "listen on %s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	chmod(path, (mode_t)mode);
	return fd;
}

void net_addr_text(const struct sockaddr *sa, char *out, size_t outlen)
{
	if (sa->sa_family == AF_INET) {
		inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, out, (socklen_t)outlen);
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
		/* show v4-mapped addresses as plain IPv4 */
		if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr))
			inet_ntop(AF_INET, &s6->sin6_addr.s6_addr[12], out, (socklen_t)outlen);
		else
			inet_ntop(AF_INET6, &s6->sin6_addr, out, (socklen_t)outlen);
	} else {
		snprintf(out, outlen, "local");
	}
}

int net_parse_cidr(const char *text, struct cidr *c, struct err *e)
{
	char host[64];
	const char *slash = strchr(text, '/');
	size_t hn = slash ? (size_t)(slash - text) : strlen(text);
	if (hn == 0 || hn >= sizeof host)
		return err_set(e, "bad CIDR '%s'", text);
	memcpy(host, text, hn);
	host[hn] = '\0';
	memset(c, 0, sizeof *c);
	int maxp;
	if (inet_pton(AF_INET, host, c->addr) == 1) {
		c->family = AF_INET;
		maxp = 32;
	} else if (inet_pton(AF_INET6, host, c->addr) == 1) {
		c->family = AF_INET6;
		maxp = 128;
	} else {
		return err_set(e, "bad CIDR '%s': not an IP address", text);
	}
	c->prefix = maxp;
	if (slash) {
		char *end;
		long p = strtol(slash + 1, &end, 10);
		if (*end || end == slash + 1 || p < 0 || p > maxp)
			return err_set(e, "bad CIDR '%s': prefix must be 0-%d", text, maxp);
		c->prefix = (int)p;
	}
	return 0;
}

static int prefix_match(const unsigned char *a, const unsigned char *b, int prefix)
{
	int full = prefix / 8, rest = prefix % 8;
	if (memcmp(a, b, (size_t)full) != 0)
		return 0;
	if (!rest)
		return 1;
	unsigned char mask = (unsigned char)(0xff << (8 - rest));
	return (a[full] & mask) == (b[full] & mask);
}

int net_cidr_match(const struct cidr *c, const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET) {
		const unsigned char *a = (const unsigned char *)&((const struct sockaddr_in *)sa)->sin_addr;
		return c->family == AF_INET && prefix_match(a, c->addr, c->prefix);
	}
	if (sa->sa_family == AF_INET6) {
		const struct in6_addr *a6 = &((const struct sockaddr_in6 *)sa)->sin6_addr;
		if (IN6_IS_ADDR_V4MAPPED(a6))
			return c->family == AF_INET && prefix_match(&a6->s6_addr[12], c->addr, c->prefix);
		return c->family == AF_INET6 && prefix_match(a6->s6_addr, c->addr, c->prefix);
	}
	return 0;
}

int net_cidr_match_text(const struct cidr *c, const char *ip)
{
	struct sockaddr_storage ss;
	socklen_t len;
	if (net_parse_addr(ip, 0, &ss, &len, NULL) < 0)
		return 0;
	return net_cidr_match(c, (struct sockaddr *)&ss);
}
