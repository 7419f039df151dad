#include "store/bootstrap.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/net.h"

typedef int (*boot_setter)(struct bootstrap *b, const char *dir, const char *value,
			   struct err *e);

static int set_path(char *dst, size_t dstlen, const char *dir, const char *value, struct err *e)
{
	int n = value[0] == '/' ? snprintf(dst, dstlen, "%s", value)
				: snprintf(dst, dstlen, "%s/%s", dir, value);
	if (n < 0 || (size_t)n >= dstlen)
		return err_set(e, "path too long");
	return 0;
}

static int set_listen_list(char list[][128], int *n, const char *value, struct err *e)
{
	char copy[1024];
	snprintf(copy, sizeof copy, "%s", value);
	char *save = NULL;
	for (char *tok = strtok_r(copy, ", ", &save); tok; tok = strtok_r(NULL, ", ", &save)) {
		char host[128];
		int port;
		if (*n >= BOOT_MAX_LISTEN)
			return err_set(e, "at most %d listen addresses", BOOT_MAX_LISTEN);
		if (net_split_hostport(tok, host, sizeof host, &port, e) < 0)
			return -1;
		struct sockaddr_storage ss;
		socklen_t len;
		if (net_parse_addr(host, port, &ss, &len, e) < 0)
			return -1;
		snprintf(list[(*n)++], 128, "%s", tok);
	}
	if (*n == 0)
		return err_set(e, "expected host:port[, host:port...]");
	return 0;
}

static int b_data_dir(struct bootstrap *b, const char *dir, const char *v, struct err *e)
{
	return set_path(b->data_dir, sizeof b->data_dir, dir, v, e);
}

static int b_smtp_listen(struct bootstrap *b, const char *dir, const char *v, struct err *e)
{
	(void)dir;
	b->n_smtp_listen = 0;
	return set_listen_list(b->smtp_listen, &b->n_smtp_listen, v, e);
}

static int b_http_listen(struct bootstrap *b, const char *dir, const char *v, struct err *e)
{
	(void)dir;
	b->n_http_listen = 0;
	return set_listen_list(b->http_listen, &b->n_http_listen, v, e);
}

static int b_hostname(struct bootstrap *b, const char *dir, const char *v, struct err *e)
{
	(void)dir;
	size_t n = strlen(v);
	if (n == 0 || n > 253)
		return err_set(e, "hostname must be 1-253 characters");
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)v[i]) && v[i] != '-' && v[i] != '.')
			return err_set(e, "hostname may contain only letters, digits, '-' and '.'");
	snprintf(b->hostname, sizeof b->hostname, "%s", v);
	return 0;
}

static int b_tls_cert(struct bootstrap *b, const char *dir, const char *v, struct err *e)
{
	return set_path(b->tls_cert, sizeof b->tls_cert, dir, v, e);
}

static int b_tls_key(struct bootstrap *b, const char *dir, const char *v, struct err *e)
{
	return set_path(b->tls_key, sizeof b->tls_key, dir, v, e);
}

static int b_control_socket(struct bootstrap *b, const char *dir, const char *v, struct err *e)
{
	return set_path(b->control_socket, sizeof b->control_socket, dir, v, e);
}

static int b_web_root(struct bootstrap *b, const char *dir, const char *v, struct err *e)
{
	return set_path(b->web_root, sizeof b->web_root, dir, v, e);
}

static int b_rules(struct bootstrap *b, const char *dir, const char *v, struct err *e)
{
	(void)dir;
	if (strlen(v) >= sizeof b->rules_dirs)
		return err_set(e, "value too long");
	snprintf(b->rules_dirs, sizeof b->rules_dirs, "%s", v);
	return 0;
}

static int b_rules_startup_wait(struct bootstrap *b, const char *dir, const char *v,
				struct err *e)
{
	(void)dir;
	char *end;
	long s = strtol(v, &end, 10);
	if (*end || end == v || s < 0 || s > 3600)
		return err_set(e, "rules_startup_wait must be 0-3600 seconds");
	b->rules_startup_wait = (int)s;
	return 0;
}

static int b_dns_servers(struct bootstrap *b, const char *dir, const char *v, struct err *e)
{
	(void)dir;
	b->n_dns_servers = 0;
	return set_listen_list(b->dns_servers, &b->n_dns_servers, v, e);
}

static int b_clamd(struct bootstrap *b, const char *dir, const char *v, struct err *e)
{
	(void)dir;
	char host[128];
	int port;
	if (v[0] != '/' && net_split_hostport(v, host, sizeof host, &port, e) < 0)
		return err_set(e, "expected a unix socket path or host:port");
	snprintf(b->clamd, sizeof b->clamd, "%s", v);
	return 0;
}

static int b_log_level(struct bootstrap *b, const char *dir, const char *v, struct err *e)
{
	(void)dir;
	static const char *levels[] = {"debug", "info", "warning", "error"};
	for (size_t i = 0; i < sizeof levels / sizeof *levels; i++)
		if (strcmp(v, levels[i]) == 0) {
			snprintf(b->log_level, sizeof b->log_level, "%s", v);
			return 0;
		}
	return err_set(e, "log_level must be one of debug, info, warning, error");
}

static int b_admin_password(struct bootstrap *b, const char *dir, const char *v, struct err *e)
{
	(void)dir;
	if (strlen(v) < 8 || strlen(v) >= sizeof b->admin_password)
		return err_set(e, "admin_password must be 8-255 characters");
	snprintf(b->admin_password, sizeof b->admin_password, "%s", v);
	return 0;
}

static const struct {
	const char *key;
	boot_setter set;
} boot_keys[] = {
	{"data_dir", b_data_dir},
	{"smtp_listen", b_smtp_listen},
	{"http_listen", b_http_listen},
	{"hostname", b_hostname},
	{"tls_cert", b_tls_cert},
	{"tls_key", b_tls_key},
	{"control_socket", b_control_socket},
	{"web_root", b_web_root},
	{"rules", b_rules},
	{"rules_startup_wait", b_rules_startup_wait},
	{"log_level", b_log_level},
	{"dns_servers", b_dns_servers},
	{"clamd", b_clamd},
	{"admin_password", b_admin_password},
};

static void bootstrap_defaults(struct bootstrap *b, const char *dir)
{
	memset(b, 0, sizeof *b);
	snprintf(b->data_dir, sizeof b->data_dir, "%s/data", dir);
	snprintf(b->smtp_listen[0], 128, "127.0.0.1:2525");
	b->n_smtp_listen = 1;
	snprintf(b->http_listen[0], 128, "127.0.0.1:8443");
	b->n_http_listen = 1;
	if (gethostname(b->hostname, sizeof b->hostname) < 0 || !b->hostname[0])
		snprintf(b->hostname, sizeof b->hostname, "localhost");
	snprintf(b->log_level, sizeof b->log_level, "info");
	snprintf(b->web_root, sizeof b->web_root, "%s/web", RAMPART_SOURCE_DIR);
	snprintf(b->rules_dirs, sizeof b->rules_dirs, "%s/rules", RAMPART_SOURCE_DIR);
	b->rules_startup_wait = 15;
}

static char *trim(char *s)
{
	while (isspace((unsigned char)*s))
		s++;
	char *end = s + strlen(s);
	while (end > s && isspace((unsigned char)end[-1]))
		*--end = '\0';
	return s;
}

static int bootstrap_line(struct bootstrap *b, const char *dir, char *line, struct err *e)
{
	char *eq = strchr(line, '=');
	if (!eq)
		return err_set(e, "expected 'key = value'");
	*eq = '\0';
	char *key = trim(line), *value = trim(eq + 1);
	if (!*value)
		return err_set(e, "'%s' has no value", key);
	for (size_t i = 0; i < sizeof boot_keys / sizeof *boot_keys; i++)
		if (strcmp(key, boot_keys[i].key) == 0) {
			struct err sub;
			if (boot_keys[i].set(b, dir, value, &sub) < 0)
				return err_set(e, "%s: %s", key, sub.msg);
			return 0;
		}
	return err_set(e, "unknown key '%.64s'", key);
}

int bootstrap_load(const char *path, struct bootstrap *b, struct err *e)
{
	char abs[PATH_MAX], dir[PATH_MAX];
	if (!realpath(path, abs))
		return err_set(e, "%s: %s", path, strerror(errno));
	snprintf(dir, sizeof dir, "%s", abs);
	char *slash = strrchr(dir, '/');
	if (slash && slash != dir)
		*slash = '\0';
	bootstrap_defaults(b, dir);
	snprintf(b->path, sizeof b->path, "%s", abs);
	FILE *f = fopen(abs, "r");
	if (!f)
		return err_set(e, "%s: %s", path, strerror(errno));
	char line[2048];
	int lineno = 0, rc = 0;
	while (fgets(line, sizeof line, f)) {
		lineno++;
		size_t n = strlen(line);
		if (n == sizeof line - 1 && line[n - 1] != '\n') {
			rc = err_set(e, "%s:%d: line too long", path, lineno);
			break;
		}
		/* only whole-line comments: values (passwords) may contain '#' */
		char *t = trim(line);
		if (!*t || *t == '#')
			continue;
		struct err sub;
		if (bootstrap_line(b, dir, t, &sub) < 0) {
			rc = err_set(e, "%s:%d: %s", path, lineno, sub.msg);
			break;
		}
	}
	fclose(f);
	if (rc == 0 && !b->control_socket[0])
		snprintf(b->control_socket, sizeof b->control_socket, "%s/rampart.sock", b->data_dir);
	if (rc == 0 && !b->tls_cert[0])
		snprintf(b->tls_cert, sizeof b->tls_cert, "%s/tls/cert.pem", b->data_dir);
	if (rc == 0 && !b->tls_key[0])
		snprintf(b->tls_key, sizeof b->tls_key, "%s/tls/key.pem", b->data_dir);
	return rc;
}

void bootstrap_data_path(const struct bootstrap *b, const char *name, char *out, size_t outlen)
{
	snprintf(out, outlen, "%s/%s", b->data_dir, name);
}
