/* CLI commands for the node: status, domains, settings, log, queue. */
#include "cli/commands.h"

#include <event2/http.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/buf.h"

/* Runs one API call; on success prints with `print` (or JSON with
 * --json) and returns 0. */
static void print_object(json_t *j)
{
	const char *k;
	json_t *v;
	json_object_foreach(j, k, v)
	{
		char *text = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
		if (json_is_string(v))
			printf("%-20s %s\n", k, json_string_value(v));
		else
			printf("%-20s %s\n", k, text ? text : "");
		free(text);
	}
}

int cmd_status(struct cli *c)
{
	if (cli_args(c, 0))
		return 2;
	return cli_call(c, "GET", "/status", NULL, 0, print_object);
}

static void print_domains(json_t *j)
{
	size_t i;
	json_t *d;
	if (json_array_size(j) == 0)
		printf("no domains configured\n");
	json_array_foreach(j, i, d)
	{
		printf("%-40s %s\n", json_string_value(json_object_get(d, "name")),
		       json_string_value(json_object_get(d, "destination")));
	}
}

static void print_domain(json_t *j)
{
	printf("%s -> %s\n", json_string_value(json_object_get(j, "name")),
	       json_string_value(json_object_get(j, "destination")));
}

int cmd_domain_add(struct cli *c)
{
	const char *dest = cli_opt(c, "--destination");
	if (cli_args(c, 1))
		return 2;
	if (!dest) {
		fprintf(stderr, "rampart: domain add needs --destination smtp:HOST:PORT or maildir:PATH\n");
		return 2;
	}
	return cli_call(c, "POST", "/domains",
		   json_pack("{s:s, s:s}", "name", c->argv[0], "destination", dest), 1, print_domain);
}

int cmd_domain_list(struct cli *c)
{
	if (cli_args(c, 0))
		return 2;
	return cli_call(c, "GET", "/domains", NULL, 1, print_domains);
}

static void print_removed(json_t *j)
{
	printf("removed %s\n", json_string_value(json_object_get(j, "removed")));
}

static void path_with_param(char *out, size_t outlen, const char *prefix, const char *param,
			    const char *scope)
{
	char *enc = evhttp_uriencode(param, -1, 0);
	char *senc = scope ? evhttp_uriencode(scope, -1, 0) : NULL;
	snprintf(out, outlen, "%s%s%s%s", prefix, enc ? enc : "", senc ? "?scope=" : "",
		 senc ? senc : "");
	free(enc);
	free(senc);
}

int cmd_domain_remove(struct cli *c)
{
	if (cli_args(c, 1))
		return 2;
	char path[1024];
	path_with_param(path, sizeof path, "/domains/", c->argv[0], NULL);
	return cli_call(c, "DELETE", path, NULL, 1, print_removed);
}

static void print_setting(json_t *j)
{
	json_t *v = json_object_get(j, "value");
	char *text = json_dumps(v, JSON_ENCODE_ANY);
	printf("%s = %s\n", json_string_value(json_object_get(j, "name")),
	       json_is_string(v) ? json_string_value(v) : (text ? text : ""));
	free(text);
}

static void print_settings(json_t *j)
{
	size_t i;
	json_t *s;
	json_array_foreach(j, i, s)
		print_setting(s);
}

int cmd_config_get(struct cli *c)
{
	const char *scope = cli_opt(c, "--scope");
	if (cli_args(c, 1))
		return 2;
	char path[1024];
	path_with_param(path, sizeof path, "/config/", c->argv[0], scope);
	return cli_call(c, "GET", path, NULL, 1, print_setting);
}

int cmd_config_set(struct cli *c)
{
	const char *scope = cli_opt(c, "--scope");
	if (cli_args(c, 2))
		return 2;
	char path[1024];
	path_with_param(path, sizeof path, "/config/", c->argv[0], NULL);
	json_t *body = json_pack("{s:s}", "value", c->argv[1]);
	if (scope)
		json_object_set_new(body, "scope", json_string(scope));
	return cli_call(c, "PUT", path, body, 1, print_setting);
}

int cmd_config_unset(struct cli *c)
{
	const char *scope = cli_opt(c, "--scope");
	if (cli_args(c, 1))
		return 2;
	char path[1024];
	path_with_param(path, sizeof path, "/config/", c->argv[0], scope);
	return cli_call(c, "DELETE", path, NULL, 1, print_setting);
}

int cmd_config_list(struct cli *c)
{
	const char *scope = cli_opt(c, "--scope");
	if (cli_args(c, 0))
		return 2;
	char path[1024];
	snprintf(path, sizeof path, "/config");
	if (scope) {
		char *enc = evhttp_uriencode(scope, -1, 0);
		snprintf(path, sizeof path, "/config?scope=%s", enc);
		free(enc);
	}
	return cli_call(c, "GET", path, NULL, 1, print_settings);
}

/* "2026-11-25T10:00:00Z", "2026-11-25" or epoch seconds -> epoch ms. */
static int parse_time(const char *s, long long *ms)
{
	struct tm tm;
	memset(&tm, 0, sizeof tm);
	char *end;
	long long v = strtoll(s, &end, 10);
	if (*s && !*end) {
		*ms = v * 1000;
		return 0;
	}
	end = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
	if (!end) {
		memset(&tm, 0, sizeof tm);
		end = strptime(s, "%Y-%m-%d", &tm);
	}
	if (!end || (*end && strcmp(end, "Z") != 0))
		return -1;
	*ms = (long long)timegm(&tm) * 1000;
	return 0;
}

static void print_log(json_t *j)
{
	json_t *rows = json_object_get(j, "rows"), *r;
	size_t i;
	printf("%-20s %-15s %-10s %5s  %-28s %-28s %s\n", "time", "client", "action", "score",
	       "from", "to", "subject");
	json_array_foreach(rows, i, r)
	{
		json_t *rc = json_object_get(r, "rcpts");
		char to[64];
		snprintf(to, sizeof to, "%s%s", json_string_value(json_array_get(rc, 0)) ?: "",
			 json_array_size(rc) > 1 ? ",..." : "");
		printf("%-20s %-15s %-10s %5.1f  %-28.28s %-28.28s %.60s\n",
		       json_string_value(json_object_get(r, "time")),
		       json_string_value(json_object_get(r, "client_ip")),
		       json_string_value(json_object_get(r, "action")),
		       json_number_value(json_object_get(r, "score")),
		       json_string_value(json_object_get(r, "mail_from")), to,
		       json_string_value(json_object_get(r, "subject")));
	}
	printf("(%zu of %lld shown)\n", json_array_size(rows),
	       (long long)json_integer_value(json_object_get(j, "total")));
}

int cmd_log(struct cli *c)
{
	static const struct {
		const char *opt, *param;
		int is_time;
	} filters[] = {
		{"--limit", "limit", 0},     {"--offset", "offset", 0},   {"--since", "since", 1},
		{"--until", "until", 1},     {"--sender", "sender", 0},   {"--rcpt", "rcpt", 0},
		{"--subject", "subject", 0}, {"--client-ip", "client_ip", 0},
		{"--action", "action", 0},   {"--min-score", "min_score", 0},
	};
	struct buf path;
	buf_init(&path, 8192);
	buf_puts(&path, "/log");
	char sep = '?';
	for (size_t i = 0; i < sizeof filters / sizeof *filters; i++) {
		const char *v = cli_opt(c, filters[i].opt);
		if (!v)
			continue;
		char num[32];
		if (filters[i].is_time) {
			long long ms;
			if (parse_time(v, &ms) < 0) {
				fprintf(stderr, "rampart: %s: expected YYYY-MM-DD[THH:MM:SSZ] or epoch seconds\n",
					filters[i].opt);
				buf_free(&path);
				return 2;
			}
			snprintf(num, sizeof num, "%lld", ms);
			v = num;
		}
		char *enc = evhttp_uriencode(v, -1, 0);
		buf_printf(&path, "%c%s=%s", sep, filters[i].param, enc);
		free(enc);
		sep = '&';
	}
	if (cli_args(c, 0)) {
		buf_free(&path);
		return 2;
	}
	int rc = cli_call(c, "GET", path.data, NULL, 1, print_log);
	buf_free(&path);
	return rc;
}

static void print_queue(json_t *j)
{
	size_t i, k;
	json_t *m, *r;
	if (json_array_size(j) == 0)
		printf("queue is empty\n");
	json_array_foreach(j, i, m)
	{
		printf("%s  %s  %lld bytes  from <%s>\n", json_string_value(json_object_get(m, "id")),
		       json_string_value(json_object_get(m, "arrival")),
		       (long long)json_integer_value(json_object_get(m, "size")),
		       json_string_value(json_object_get(m, "from")));
		json_array_foreach(json_object_get(m, "recipients"), k, r)
		{
			printf("    <%s> %s, %lld attempt(s)%s%s\n",
			       json_string_value(json_object_get(r, "address")),
			       json_string_value(json_object_get(r, "state")),
			       (long long)json_integer_value(json_object_get(r, "attempts")),
			       *json_string_value(json_object_get(r, "last_reply")) ? ": " : "",
			       json_string_value(json_object_get(r, "last_reply")));
		}
	}
}

int cmd_queue_list(struct cli *c)
{
	if (cli_args(c, 0))
		return 2;
	return cli_call(c, "GET", "/queue", NULL, 0, print_queue);
}

static void print_flush(json_t *j)
{
	printf("queue flushed: %lld message(s) scheduled for immediate retry\n",
	       (long long)json_integer_value(json_object_get(j, "messages")));
}

int cmd_queue_flush(struct cli *c)
{
	if (cli_args(c, 0))
		return 2;
	return cli_call(c, "POST", "/queue/flush", NULL, 0, print_flush);
}
