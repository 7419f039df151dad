/* CLI commands for users, quarantine, classification, API tokens, the
 * admin password and configuration backup (docs/api.md §10). */
#include <errno.h>
#include <event2/http.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "cli/commands.h"
#include "util/buf.h"
#include "util/fsutil.h"

#define CLI_FILE_MAX (256u << 20)

static void enc_path(char *out, size_t outlen, const char *fmt, const char *arg)
{
	char *enc = evhttp_uriencode(arg, -1, 0);
	snprintf(out, outlen, fmt, enc ? enc : "");
	free(enc);
}

/* A password from --password, the terminal (asked twice, no echo) or
 * the first line of stdin. */
static int read_password(struct cli *c, const char *opt, char *out, size_t outlen)
{
	if (opt) {
		snprintf(out, outlen, "%s", opt);
		return 0;
	}
	int tty = isatty(STDIN_FILENO);
	struct termios old, quiet;
	char again[512];
	for (int round = 0; round < (tty ? 2 : 1); round++) {
		char *dst = round ? again : out;
		size_t len = round ? sizeof again : outlen;
		if (tty) {
			fprintf(stderr, round ? "Repeat the password: " : "New password: ");
			tcgetattr(STDIN_FILENO, &old);
			quiet = old;
			quiet.c_lflag &= ~(tcflag_t)ECHO;
			tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
		}
		char *ok = fgets(dst, (int)len, stdin);
		if (tty) {
			tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
			fputc('\n', stderr);
		}
		if (!ok) {
			fprintf(stderr, "rampart: no password given\n");
			return -1;
		}
		dst[strcspn(dst, "\r\n")] = '\0';
	}
	if (tty && strcmp(out, again) != 0) {
		fprintf(stderr, "rampart: the passwords differ\n");
		return -1;
	}
	(void)c;
	return 0;
}

/* ---- users ------------------------------------------------------------------ */

static void print_user(json_t *u)
{
	json_t *f = json_object_get(u, "features");
	time_t t = (time_t)(json_integer_value(json_object_get(u, "created_ms")) / 1000);
	char when[32];
	strftime(when, sizeof when, "%Y-%m-%d %H:%M", gmtime(&t));
	printf("%-40s %s  %-6s %-8s q:%s s:%s p:%s %5lld\n",
	       json_string_value(json_object_get(u, "address")), when,
	       json_string_value(json_object_get(u, "source")),
	       json_is_true(json_object_get(u, "has_password")) ? "password" : "-",
	       json_is_true(json_object_get(f, "quarantine")) ? "on" : "off",
	       json_is_true(json_object_get(f, "scanning")) ? "on" : "off",
	       json_is_true(json_object_get(f, "settings")) ? "on" : "off",
	       (long long)json_integer_value(json_object_get(u, "quarantine_count")));
}

int cmd_user_add(struct cli *c)
{
	const char *pw = cli_opt(c, "--password");
	int link = cli_flag(c, "--send-link");
	if (cli_args(c, 1))
		return 2;
	json_t *body = json_pack("{s:s}", "address", c->argv[0]);
	if (pw)
		json_object_set_new(body, "password", json_string(pw));
	if (link)
		json_object_set_new(body, "send_link", json_true());
	return cli_call(c, "POST", "/users", body, 1, print_user);
}

int cmd_user_list(struct cli *c)
{
	const char *q = cli_opt(c, "--filter");
	if (cli_args(c, 0))
		return 2;
	json_t *all = json_array();
	long long total = 0;
	for (long long off = 0;; off += 1000) {
		char path[1200];
		char *enc = q ? evhttp_uriencode(q, -1, 0) : NULL;
		snprintf(path, sizeof path, "/users?limit=1000&offset=%lld%s%s", off, enc ? "&q=" : "",
			 enc ? enc : "");
		free(enc);
		json_t *reply;
		int status = cli_api(c, "GET", path, NULL, 1, &reply);
		if (status != 200) {
			json_decref(all);
			return cli_fail(reply, status);
		}
		json_t *rows = json_object_get(reply, "rows");
		total = json_integer_value(json_object_get(reply, "total"));
		json_array_extend(all, rows);
		size_t got = json_array_size(rows);
		json_decref(reply);
		if (got == 0 || (long long)json_array_size(all) >= total)
			break;
	}
	if (c->json) {
		cli_print_json(all);
	} else {
		size_t i;
		json_t *u;
		json_array_foreach(all, i, u)
			print_user(u);
		printf("(%lld user(s))\n", total);
	}
	json_decref(all);
	return 0;
}

static void print_changed(json_t *j)
{
	(void)j;
	printf("password changed\n");
}

int cmd_user_passwd(struct cli *c)
{
	const char *opt = cli_opt(c, "--password");
	char pw[512], path[1200];
	if (cli_args(c, 1) || read_password(c, opt, pw, sizeof pw) < 0)
		return 2;
	enc_path(path, sizeof path, "/users/%s/password", c->argv[0]);
	return cli_call(c, "PUT", path, json_pack("{s:s}", "password", pw), 1, print_changed);
}

static void print_removed(json_t *j)
{
	printf("removed %s\n", json_string_value(json_object_get(j, "removed")));
}

int cmd_user_delete(struct cli *c)
{
	char path[1200];
	if (cli_args(c, 1))
		return 2;
	enc_path(path, sizeof path, "/users/%s", c->argv[0]);
	return cli_call(c, "DELETE", path, NULL, 1, print_removed);
}

/* Writes text to FILE ("-": stdout), private: it holds password hashes. */
static int write_out(const char *file, const char *text, size_t len)
{
	struct err e;
	if (strcmp(file, "-") == 0)
		return fs_write_full(STDOUT_FILENO, text, len) == 0 ? 0 : 1;
	if (fs_write_atomic(file, text, len, 0600, &e) < 0) {
		fprintf(stderr, "rampart: %s\n", e.msg);
		return 1;
	}
	return 0;
}

static char *read_in(const char *file, size_t *len)
{
	struct err e;
	char *data = NULL;
	if (strcmp(file, "-") == 0) {
		struct buf b;
		char chunk[65536];
		ssize_t n;
		buf_init(&b, CLI_FILE_MAX);
		while ((n = read(STDIN_FILENO, chunk, sizeof chunk)) > 0)
			if (buf_append(&b, chunk, (size_t)n) < 0)
				break;
		*len = b.len;
		return b.data ? buf_steal(&b) : strdup("");
	}
	if (fs_read_all(file, CLI_FILE_MAX, &data, len, &e) < 0) {
		fprintf(stderr, "rampart: %s\n", e.msg);
		return NULL;
	}
	return data;
}

int cmd_user_export(struct cli *c)
{
	if (cli_args(c, 1))
		return 2;
	json_t *reply;
	int status = cli_api(c, "GET", "/users/export?format=json", NULL, 1, &reply);
	if (status != 200)
		return cli_fail(reply, status);
	const char *csv = json_string_value(json_object_get(reply, "csv"));
	int rc = write_out(c->argv[0], csv ? csv : "", csv ? strlen(csv) : 0);
	json_decref(reply);
	return rc;
}

static void print_import(json_t *j)
{
	printf("%lld created, %lld updated, %lld error(s)\n",
	       (long long)json_integer_value(json_object_get(j, "created")),
	       (long long)json_integer_value(json_object_get(j, "updated")),
	       (long long)json_integer_value(json_object_get(j, "error_count")));
	size_t i;
	json_t *e;
	json_array_foreach(json_object_get(j, "errors"), i, e)
		printf("  line %lld: %s\n", (long long)json_integer_value(json_object_get(e, "line")),
		       json_string_value(json_object_get(e, "error")));
}

int cmd_user_import(struct cli *c)
{
	int send = cli_flag(c, "--send-links");
	size_t len;
	if (cli_args(c, 1))
		return 2;
	char *csv = read_in(c->argv[0], &len);
	if (!csv)
		return 1;
	json_t *body = json_pack("{s:s%, s:b}", "csv", csv, len, "send_links", send);
	free(csv);
	if (!body) {
		fprintf(stderr, "rampart: %s is not UTF-8 text\n", c->argv[0]);
		return 1;
	}
	return cli_call(c, "POST", "/users/import", body, 1, print_import);
}

/* ---- quarantine, classify ---------------------------------------------------- */

static void print_quarantine(json_t *j)
{
	size_t i;
	json_t *r;
	printf("%-8s %-20s %6s  %-32s %s\n", "id", "time", "score", "from", "subject");
	json_array_foreach(json_object_get(j, "rows"), i, r)
		printf("%-8lld %-20s %6.1f  %-32.32s %.60s\n",
		       (long long)json_integer_value(json_object_get(r, "id")),
		       json_string_value(json_object_get(r, "time")),
		       json_number_value(json_object_get(r, "score")),
		       json_string_value(json_object_get(r, "mail_from")),
		       json_string_value(json_object_get(r, "subject")));
	printf("(%zu of %lld shown)\n", json_array_size(json_object_get(j, "rows")),
	       (long long)json_integer_value(json_object_get(j, "total")));
}

int cmd_quarantine_list(struct cli *c)
{
	const char *limit = cli_opt(c, "--limit");
	char path[1300];
	if (cli_args(c, 1))
		return 2;
	char *enc = evhttp_uriencode(c->argv[0], -1, 0);
	snprintf(path, sizeof path, "/quarantine?user=%s&limit=%s", enc ? enc : "", limit ? limit : "1000");
	free(enc);
	return cli_call(c, "GET", path, NULL, 0, print_quarantine);
}

static int id_arg(const char *s)
{
	char *end;
	long long v = strtoll(s, &end, 10);
	if (!*s || *end || v <= 0) {
		fprintf(stderr, "rampart: %s is not a message id\n", s);
		return -1;
	}
	return 0;
}

static void print_delivered(json_t *j)
{
	printf("message %lld released, queued as %s\n",
	       (long long)json_integer_value(json_object_get(j, "delivered")),
	       json_string_value(json_object_get(j, "queue_id")));
}

int cmd_quarantine_release(struct cli *c)
{
	char path[200];
	if (cli_args(c, 1) || id_arg(c->argv[0]) < 0)
		return 2;
	snprintf(path, sizeof path, "/quarantine/%s/deliver", c->argv[0]);
	return cli_call(c, "POST", path, json_object(), 0, print_delivered);
}

static void print_deleted(json_t *j)
{
	printf("message %lld deleted\n", (long long)json_integer_value(json_object_get(j, "deleted")));
}

int cmd_quarantine_delete(struct cli *c)
{
	char path[200];
	if (cli_args(c, 1) || id_arg(c->argv[0]) < 0)
		return 2;
	snprintf(path, sizeof path, "/quarantine/%s", c->argv[0]);
	return cli_call(c, "DELETE", path, NULL, 0, print_deleted);
}

static void print_learned(json_t *j)
{
	printf("%s\n", json_is_true(json_object_get(j, "learned")) ? "learned"
								 : "already learned that way");
}

int cmd_classify(struct cli *c)
{
	int log = cli_flag(c, "--log");
	char path[200];
	if (cli_args(c, 2) || id_arg(c->argv[0]) < 0)
		return 2;
	if (strcmp(c->argv[1], "spam") != 0 && strcmp(c->argv[1], "ham") != 0) {
		fprintf(stderr, "rampart: classify ID spam|ham\n");
		return 2;
	}
	snprintf(path, sizeof path, "%s/%s/classify", log ? "/log" : "/quarantine", c->argv[0]);
	return cli_call(c, "POST", path, json_pack("{s:s}", "as", c->argv[1]), 0, print_learned);
}

/* ---- configuration backup, admin password, tokens ------------------------------ */

int cmd_config_export(struct cli *c)
{
	if (cli_args(c, 1))
		return 2;
	json_t *reply;
	int status = cli_api(c, "GET", "/config/export", NULL, 1, &reply);
	if (status != 200)
		return cli_fail(reply, status);
	char *text = json_dumps(reply, JSON_INDENT(1) | JSON_SORT_KEYS);
	json_decref(reply);
	if (!text)
		return 1;
	int rc = write_out(c->argv[0], text, strlen(text));
	free(text);
	if (rc == 0 && strcmp(c->argv[0], "-") != 0)
		fprintf(stderr, "configuration written to %s\n", c->argv[0]);
	return rc;
}

static void print_imported(json_t *j)
{
	printf("imported %lld keys\n", (long long)json_integer_value(json_object_get(j, "imported")));
}

int cmd_config_import(struct cli *c)
{
	size_t len;
	json_error_t jerr;
	if (cli_args(c, 1))
		return 2;
	char *text = read_in(c->argv[0], &len);
	if (!text)
		return 1;
	json_t *doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	free(text);
	if (!doc) {
		fprintf(stderr, "rampart: %s: line %d: %s\n", c->argv[0], jerr.line, jerr.text);
		return 1;
	}
	return cli_call(c, "POST", "/config/import", doc, 1, print_imported);
}

int cmd_admin_passwd(struct cli *c)
{
	const char *opt = cli_opt(c, "--password");
	char pw[512];
	if (cli_args(c, 0) || read_password(c, opt, pw, sizeof pw) < 0)
		return 2;
	return cli_call(c, "PUT", "/admin/password", json_pack("{s:s}", "password", pw), 1, print_changed);
}

static void print_token(json_t *j)
{
	printf("token %s (%s): %s\n(shown once: store it now)\n",
	       json_string_value(json_object_get(j, "id")), json_string_value(json_object_get(j, "name")),
	       json_string_value(json_object_get(j, "token")));
}

int cmd_token_add(struct cli *c)
{
	if (cli_args(c, 1))
		return 2;
	return cli_call(c, "POST", "/tokens", json_pack("{s:s}", "name", c->argv[0]), 1, print_token);
}

static void print_tokens(json_t *j)
{
	size_t i;
	json_t *t;
	json_array_foreach(j, i, t)
		printf("%s  %-30s uses %lld\n", json_string_value(json_object_get(t, "id")),
		       json_string_value(json_object_get(t, "name")),
		       (long long)json_integer_value(json_object_get(t, "uses")));
}

int cmd_token_list(struct cli *c)
{
	if (cli_args(c, 0))
		return 2;
	return cli_call(c, "GET", "/tokens", NULL, 1, print_tokens);
}

int cmd_token_remove(struct cli *c)
{
	char path[200];
	if (cli_args(c, 1))
		return 2;
	enc_path(path, sizeof path, "/tokens/%s", c->argv[0]);
	return cli_call(c, "DELETE", path, NULL, 1, print_removed);
}
