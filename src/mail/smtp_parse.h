/* SMTP grammar (RFC 5321, 1869/1870, 3461, 6152, 6531): command lines,
 * paths, ESMTP parameters, the anti-relay screen and the reply formatter.
 * Pure functions over bounded input: no allocation, no I/O, no globals. */
#ifndef RAMPART_MAIL_SMTP_PARSE_H
#define RAMPART_MAIL_SMTP_PARSE_H

#include <stddef.h>

#include "util/err.h"

enum smtp_verb {
	SMTP_UNKNOWN, SMTP_HELO, SMTP_EHLO, SMTP_MAIL, SMTP_RCPT, SMTP_DATA,
	SMTP_RSET, SMTP_NOOP, SMTP_QUIT, SMTP_VRFY, SMTP_HELP, SMTP_STARTTLS,
	SMTP_EXPN, SMTP_BDAT, SMTP_AUTH
};

/* Splits one command line (without CRLF) into verb and argument.
 * "MAIL FROM:<a@b>" -> SMTP_MAIL, arg "FROM:<a@b>". Case-insensitive verb;
 * verb and argument are separated by spaces or tabs. Leading blanks of
 * the argument are skipped. The line is const, so trailing blanks cannot
 * be cut off in place: *arg may still end in blanks. Every parser of
 * this module ignores them; use smtp_parse_verb_len when the exact
 * trimmed length matters (AUTH, BDAT).
 * Returns the verb; *arg points into line (or to "" when none). For
 * SMTP_UNKNOWN *arg is what follows the first word. */
enum smtp_verb smtp_parse_verb(const char *line, const char **arg);

/* Same, and *arg_len receives the length of the argument without its
 * trailing blanks. */
enum smtp_verb smtp_parse_verb_len(const char *line, const char **arg, size_t *arg_len);

/* "MAIL", "RCPT", ... for logs; "UNKNOWN" for SMTP_UNKNOWN. */
const char *smtp_verb_name(enum smtp_verb v);

/* Screens one raw command line (len bytes, CRLF already removed) before
 * it is treated as a C string: refuses NUL, bare CR and bare LF, which
 * would otherwise hide the rest of the line from the parser.
 * Returns 0, or -1 with e->msg (reply 500 5.5.2). */
int smtp_line_check(const char *line, size_t len, struct err *e);

#define SMTP_LOCAL_MAX 64     /* RFC 5321 4.5.3.1.1, octets as written */
#define SMTP_DOMAIN_MAX 255   /* RFC 5321 4.5.3.1.2 */
#define SMTP_PATH_MAX 256     /* RFC 5321 4.5.3.1.3, with "<" ">" */

struct smtp_path {
	char local[65 * 4];   /* local part as written, without quotes when the quoting was unnecessary; UTF-8 allowed only with SMTPUTF8 */
	char domain[256];     /* lower-cased domain (or address literal "[1.2.3.4]") */
	char addr[512];       /* canonical "local@domain", or "" for the null path <> */
	int is_null;          /* <> */
	int is_postmaster;    /* bare <postmaster> (no domain) */
	int quoted;           /* the local part needed quoting */
	int has_route;        /* had a source route <@a,@b:user@c> (the route is dropped) */
	int utf8;             /* contains non-ASCII */
};

/* RFC 3461 NOTIFY bits. */
#define SMTP_NOTIFY_NEVER 1
#define SMTP_NOTIFY_SUCCESS 2
#define SMTP_NOTIFY_FAILURE 4
#define SMTP_NOTIFY_DELAY 8

struct smtp_params {
	long long size;       /* SIZE=n, -1 when absent */
	int body_8bit;        /* BODY=8BITMIME */
	int smtputf8;         /* SMTPUTF8 */
	char ret[8];          /* RET=FULL|HDRS (DSN), "" if absent */
	char envid[101];      /* ENVID, still xtext-encoded, "" if absent */
	/* RCPT only (RFC 3461); kept encoded so the relay passes them on. */
	int notify;           /* SMTP_NOTIFY_* bits, 0 when absent */
	char orcpt[501];      /* ORCPT=addr-type;xtext, "" if absent */
};

enum smtp_path_kind { SMTP_PATH_MAIL, SMTP_PATH_RCPT };

/* Parses the argument of MAIL ("FROM:<path> params") or RCPT
 * ("TO:<path> params"). Returns 0, or -1 with *code / *enhanced / e->msg
 * set to the SMTP reply to send:
 *   501 5.5.4 "Syntax: MAIL FROM:<address>"  garbage, missing FROM:/TO:,
 *                                            unbalanced brackets
 *   501 5.1.7 "Bad sender address syntax"    / 501 5.1.3 (recipient)
 *   501 5.1.7 / 5.1.3 "... address too long" (RFC 5321 4.5.3.1 limits)
 *   501 5.5.4 bad parameter syntax or value, duplicate parameter
 *   555 5.5.4 "Unsupported parameter FOO"    unknown, or MAIL-only on RCPT
 *   553 5.6.7 non-ASCII address without SMTPUTF8 (RFC 6531 3.7.4)
 * path and params are always reset first; params may be NULL.
 * utf8_allowed: 1 when the session's MAIL had SMTPUTF8 (for RCPT); for
 * MAIL the line's own SMTPUTF8 parameter also allows it. */
int smtp_parse_path(const char *arg, enum smtp_path_kind kind, struct smtp_path *path,
		    struct smtp_params *params, int utf8_allowed, int *code, char *enhanced,
		    size_t enhanced_len, struct err *e);

/* Resets params to "nothing given" (size -1, everything else empty). */
void smtp_params_reset(struct smtp_params *params);

/* Parses the ESMTP parameters that follow a path: [p, p+len) is empty or
 * starts with a space; several spaces between parameters are tolerated.
 * Resets params first. Same replies as smtp_parse_path (501 5.5.4 bad
 * syntax or value or duplicate, 555 5.5.4 unsupported). Known: SIZE,
 * BODY=7BIT|8BITMIME, SMTPUTF8, RET, ENVID, AUTH (checked, ignored) on
 * MAIL; NOTIFY, ORCPT on RCPT. SIZE beyond long long is clamped to
 * LLONG_MAX (the server's limit then answers 552); more than 20 digits
 * is a syntax error (RFC 1870). */
int smtp_parse_params(const char *p, size_t len, enum smtp_path_kind kind,
		      struct smtp_params *params, int *code, char *enhanced, size_t enhanced_len,
		      struct err *e);

/* Anti-relay screening of a RECIPIENT (separate from "is the domain
 * ours"): 0 when it may be checked further, -1 with e->msg when it must
 * be refused with 550 5.7.1: '%' or '!' in the local part, a quoted local
 * part holding '@', an address literal, a source route, a domain with a
 * trailing dot or empty labels. */
int smtp_path_relay_check(const struct smtp_path *path, struct err *e);

/* Domain syntax: LDH labels of 1..63 octets, total <= 253, no leading or
 * trailing hyphen, a single label allowed. With utf8, labels may hold
 * well-formed UTF-8 (U-labels; only octet lengths are checked). Returns
 * 1 when valid, 0 when not. */
int smtp_domain_valid(const char *domain, int utf8);

/* EHLO/HELO argument: any printable ASCII without spaces, 1..255 octets
 * (a domain or an address literal; we do not judge it here). Copies it
 * to out. Returns 0, or -1 with e->msg (reply 501 5.5.4). */
int smtp_parse_helo(const char *arg, char *out, size_t outlen, struct err *e);

/* Formats "CODE ENH text\r\n" (or multi-line with CODE-ENH ... when text
 * contains '\n'), text sanitised to printable ASCII, each line at most
 * 512 octets; enhanced may be NULL or "" (greeting, EHLO). A code outside
 * 200..599 becomes 451. Always NUL-terminates and, when anything fits,
 * ends with CRLF. Returns the length written. */
size_t smtp_format_reply(char *out, size_t outlen, int code, const char *enhanced,
			 const char *text);

#endif
