/* A minimal blocking HTTP/1.0 client over the daemon's unix socket. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "cli/cli.h"
#include "util/buf.h"
#include "util/fsutil.h"

#define CLI_MAX_REPLY (64u << 20)

static int connect_unix(const char *path)
{
	struct sockaddr_un sun;
	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof sun.sun_path) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(sun.sun_path, path, strlen(path));
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&sun, sizeof sun) < 0) {
		int saved = errno;
		close(fd);
		errno = saved;
		return -1;
	}
	return fd;
}

static int parse_reply(const char *data, size_t len, json_t **out)
{
	int status = 0;
	if (sscanf(data, "HTTP/1.%*d %d", &status) != 1)
		return 0;
	const char *body = strstr(data, "\r\n\r\n");
	*out = NULL;
	if (body) {
		json_error_t jerr;
		body += 4;
		*out = json_loadb(body, len - (size_t)(body - data), 0, &jerr);
	}
	return status;
}

int cli_api(struct cli *c, const char *method, const char *path, json_t *body, int offline_ok,
	    json_t **out)
{
	*out = NULL;
	int fd = connect_unix(c->boot.control_socket);
	if (fd < 0) {
		if (offline_ok && (errno == ENOENT || errno == ECONNREFUSED))
			return cli_offline_api(c, method, path, body, out);
		fprintf(stderr, "rampart: cannot reach rampartd at %s: %s (is it running?)\n",
			c->boot.control_socket, strerror(errno));
		return 0;
	}
	char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	struct buf req;
	buf_init(&req, 2u << 20);
	buf_printf(&req,
		   "%s /api/v1%s HTTP/1.0\r\nHost: localhost\r\nContent-Type: application/json\r\n"
		   "Content-Length: %zu\r\n\r\n%s",
		   method, path, text ? strlen(text) : 0, text ? text : "");
	free(text);
	int rc = fs_write_full(fd, req.data, req.len);
	buf_free(&req);
	struct buf reply;
	buf_init(&reply, CLI_MAX_REPLY);
	char chunk[65536];
	ssize_t n;
	while (rc == 0 && (n = read(fd, chunk, sizeof chunk)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 || buf_append(&reply, chunk, (size_t)n) < 0) {
			rc = -1;
			break;
		}
	}
	close(fd);
	int status = rc == 0 && reply.data ? parse_reply(reply.data, reply.len, out) : 0;
	buf_free(&reply);
	if (!status)
		fprintf(stderr, "rampart: no valid reply from rampartd\n");
	return status;
}

int cli_fail(json_t *reply, int status)
{
	json_t *err = reply ? json_object_get(reply, "error") : NULL;
	if (json_is_string(err))
		fprintf(stderr, "rampart: %s\n", json_string_value(err));
	else if (status)
		fprintf(stderr, "rampart: request failed (HTTP %d)\n", status);
	json_decref(reply);
	return 1;
}

void cli_print_json(json_t *j)
{
	char *text = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	if (text)
		puts(text);
	free(text);
}

static void drop_args(struct cli *c, int at, int n)
{
	for (int i = at; i + n <= c->argc; i++)
		c->argv[i] = c->argv[i + n];
	c->argc -= n;
}

const char *cli_opt(struct cli *c, const char *name)
{
	for (int i = 0; i + 1 < c->argc; i++)
		if (strcmp(c->argv[i], name) == 0) {
			const char *v = c->argv[i + 1];
			drop_args(c, i, 2);
			return v;
		}
	return NULL;
}

int cli_flag(struct cli *c, const char *name)
{
	for (int i = 0; i < c->argc; i++)
		if (strcmp(c->argv[i], name) == 0) {
			drop_args(c, i, 1);
			return 1;
		}
	return 0;
}

int cli_call(struct cli *c, const char *method, const char *path, json_t *body, int offline,
	     void (*print)(json_t *))
{
	json_t *reply;
	int status = cli_api(c, method, path, body, offline, &reply);
	json_decref(body);
	if (status < 200 || status >= 300)
		return cli_fail(reply, status);
	const char *warning = json_string_value(json_object_get(reply, "warning"));
	if (warning)
		fprintf(stderr, "rampart: warning: %s\n", warning);
	if (c->json || !print)
		cli_print_json(reply);
	else
		print(reply);
	json_decref(reply);
	return 0;
}

int cli_args(struct cli *c, int want)
{
	for (int i = 0; i < c->argc; i++)
		if (strncmp(c->argv[i], "--", 2) == 0) {
			fprintf(stderr, "rampart: unknown option %s\n", c->argv[i]);
			return 1;
		}
	if (c->argc != want) {
		fprintf(stderr, "rampart: expected %d argument(s), got %d\n", want, c->argc);
		return 1;
	}
	return 0;
}
