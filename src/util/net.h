/* Socket helpers. */
#ifndef RAMPART_UTIL_NET_H
#define RAMPART_UTIL_NET_H

#include <netinet/in.h>
#include <stddef.h>
#include <sys/socket.h>

#include "util/err.h"

/* Parses "host:port" or "[v6]:port" into host and port (no lookup). */
int net_split_hostport(const char *s, char *host, size_t hostlen, int *port, struct err *e);
/* Parses a numeric address + port into a sockaddr. */
int net_parse_addr(const char *host, int port, struct sockaddr_storage *ss, socklen_t *len,
		   struct err *e);
/* Listening TCP socket (non-blocking, SO_REUSEADDR) on "host:port". */
int net_listen_tcp(const char *hostport, int backlog, struct err *e);
/* Listening unix socket at path with the given mode. */
int net_listen_unix(const char *path, int mode, struct err *e);
/* Numeric address text of a sockaddr (no port). */
void net_addr_text(const struct sockaddr *sa, char *out, size_t outlen);

/* CIDR: address family, 16 bytes of address, prefix length. */
struct cidr {
	int family;
	unsigned char addr[16];
	int prefix;
};
int net_parse_cidr(const char *text, struct cidr *c, struct err *e);
int net_cidr_match(const struct cidr *c, const struct sockaddr *sa);
/* Match a textual IP address against a CIDR. */
int net_cidr_match_text(const struct cidr *c, const char *ip);

#endif
