/* libFuzzer harness for src/mail/smtp_parse: command lines, paths, ESMTP
 * parameters, relay screening, HELO and the reply formatter. Besides the
 * sanitizers it checks invariants and aborts when one breaks:
 *   - an accepted path holds no control bytes, respects the RFC 5321
 *     length limits, has a lower-case ASCII domain part, and is ASCII
 *     unless UTF-8 was allowed;
 *   - its canonical form parses again to the same address (round trip);
 *   - a refusal carries a 501/553/555 code and an enhanced code;
 *   - a formatted reply is CRLF-terminated printable ASCII lines of at
 *     most 512 octets, each "DDD-" except the last "DDD ".
 * Input: byte 0 = flags (bit 0 kind, bit 1 utf8_allowed, bits 2-7 reply
 * buffer size), the rest = one command line. See README.md. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mail/smtp_parse.h"

#define CHECK(cond)                                                              \
	do {                                                                     \
		if (!(cond)) {                                                   \
			fprintf(stderr, "invariant failed: %s (line %d)\n", #cond, \
				__LINE__);                                       \
			abort();                                                 \
		}                                                                \
	} while (0)

static void check_text(const char *s, int utf8)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		CHECK(*p >= 0x20 && *p != 0x7f);
		CHECK(utf8 || *p < 0x80);
	}
}

static void check_path(const struct smtp_path *p, enum smtp_path_kind kind, int utf8)
{
	check_text(p->local, utf8);
	check_text(p->domain, utf8);
	check_text(p->addr, utf8);
	CHECK(utf8 || !p->utf8);
	if (p->is_null) {
		CHECK(kind == SMTP_PATH_MAIL && p->addr[0] == '\0');
		return;
	}
	CHECK(strlen(p->local) <= 2 + 2 * SMTP_LOCAL_MAX);
	CHECK(strlen(p->domain) <= SMTP_DOMAIN_MAX);
	for (const char *d = p->domain; *d; d++)
		CHECK(!(*d >= 'A' && *d <= 'Z') || p->domain[0] == '[');
	if (p->is_postmaster) {
		CHECK(kind == SMTP_PATH_RCPT && p->domain[0] == '\0');
		return;
	}
	CHECK(p->domain[0] != '\0' && strchr(p->addr, '@') != NULL);
}

/* The canonical address must parse again to itself. */
static void check_round_trip(const struct smtp_path *p, enum smtp_path_kind kind, int utf8)
{
	char arg[600];
	struct smtp_path again;
	struct err e;
	int code;
	char enh[16];
	if (p->is_null)
		return;
	snprintf(arg, sizeof arg, "%s<%s>", kind == SMTP_PATH_MAIL ? "FROM:" : "TO:", p->addr);
	if (smtp_parse_path(arg, kind, &again, NULL, utf8, &code, enh, sizeof enh, &e) != 0) {
		fprintf(stderr, "round trip refused %s: %s\n", arg, e.msg);
		abort();
	}
	CHECK(strcmp(again.addr, p->addr) == 0);
	CHECK(again.quoted == p->quoted && again.utf8 == p->utf8);
}

static void check_reply(const char *out, size_t n, size_t outlen)
{
	CHECK(n < outlen || (outlen == 0 && n == 0));
	if (outlen == 0)
		return;
	CHECK(strlen(out) == n);
	if (n == 0)
		return;
	CHECK(n >= 5 && out[n - 2] == '\r' && out[n - 1] == '\n');
	const char *line = out;
	while (line < out + n) {
		const char *eol = strstr(line, "\r\n");
		CHECK(eol != NULL);
		CHECK(eol - line + 2 <= 512);
		CHECK(eol - line >= 3);
		int last = eol + 2 == out + n;
		CHECK(eol - line == 3 || line[3] == (last ? ' ' : '-'));
		for (const char *c = line; c < eol; c++)
			CHECK(*c >= 0x20 && *c < 0x7f);
		line = eol + 2;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char line[4096];
	static char out[1024];
	struct smtp_path path;
	struct smtp_params prm;
	struct err e;
	int code = 0;
	char enh[16] = "";
	if (size == 0 || size > sizeof line)
		return 0;
	unsigned flags = data[0];
	enum smtp_path_kind kind = (flags & 1) ? SMTP_PATH_RCPT : SMTP_PATH_MAIL;
	int utf8 = (flags >> 1) & 1;
	size_t outlen = (size_t)(flags >> 2) * 16;
	memcpy(line, data + 1, size - 1);
	line[size - 1] = '\0';

	(void)smtp_line_check(line, size - 1, &e);
	const char *arg;
	size_t arg_len;
	enum smtp_verb v = smtp_parse_verb_len(line, &arg, &arg_len);
	CHECK(arg != NULL && arg_len <= strlen(arg));
	CHECK(smtp_verb_name(v) != NULL);

	/* the argument as given, and the whole line as an argument */
	const char *args[2] = { arg, line };
	for (int i = 0; i < 2; i++) {
		int rc = smtp_parse_path(args[i], kind, &path, &prm, utf8, &code, enh, sizeof enh, &e);
		if (rc == 0) {
			int allowed = utf8 || (kind == SMTP_PATH_MAIL && prm.smtputf8);
			check_path(&path, kind, allowed);
			check_round_trip(&path, kind, allowed);
			CHECK(prm.size >= -1);
			if (kind == SMTP_PATH_RCPT)
				(void)smtp_path_relay_check(&path, &e);
		} else {
			CHECK(rc == -1);
			CHECK(code == 501 || code == 553 || code == 555);
			CHECK(enh[0] == '5' && strlen(enh) == 5);
		}
	}

	char helo[256];
	if (smtp_parse_helo(arg, helo, sizeof helo, &e) == 0)
		check_text(helo, 0);
	(void)smtp_domain_valid(arg, utf8);

	size_t n = smtp_format_reply(out, outlen, 250 + (int)(flags & 0x3) * 100, utf8 ? "2.0.0" : arg, line);
	check_reply(out, n, outlen);
	return 0;
}
