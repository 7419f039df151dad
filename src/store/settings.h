/* THE settings table: every tunable of rampart, its type, default, bounds
 * and the scopes it may be set at. Adding a setting = adding one row to
 * settings_table in settings.c; validation, the config store, the API and
 * the UI all read this table. */
#ifndef RAMPART_STORE_SETTINGS_H
#define RAMPART_STORE_SETTINGS_H

#include <jansson.h>
#include <stddef.h>

#include "util/err.h"

enum setting_type {
	SETTING_INT,
	SETTING_FLOAT,
	SETTING_BOOL,
	SETTING_STRING,
	SETTING_ENUM,
	SETTING_SIZE,
	SETTING_DURATION
};

enum { SCOPE_GLOBAL = 1, SCOPE_DOMAIN = 2, SCOPE_USER = 4, SCOPE_NODE = 8 };

/* min/max: value bounds for INT, FLOAT, SIZE (bytes) and DURATION
 * (seconds); length bounds in characters for STRING; unused otherwise.
 * choices: "a|b|c" for ENUM. For STRING it names the character class
 * instead: NULL or "text" (UTF-8, no control characters), "ascii"
 * (printable ASCII only), "email" (an address local@domain; blank allowed
 * when min is 0). */
struct setting_def {
	const char *name;
	enum setting_type type;
	const char *def;
	double min, max;
	unsigned scopes;
	const char *choices; /* "a|b|c" for ENUM */
	const char *help;
};

extern const struct setting_def settings_table[];
extern const size_t settings_count;

/* NULL when there is no such setting. */
const struct setting_def *settings_find(const char *name);

/* Validates `in` against type/bounds/choices and writes the canonical form
 * to out: SIZE accepts "10M", "512K", "1G", plain bytes -> canonical bytes
 * integer; DURATION accepts "30s","5m","1h","5d", plain seconds ->
 * canonical seconds; BOOL accepts true/false/yes/no/on/off/1/0 ->
 * "true"/"false"; FLOAT/INT range-checked against min/max. Error messages
 * are for administrators: e.g. "smtp_max_recipients: must be an integer
 * between 1 and 10000 (got \"abc\")". */
int settings_normalize(const struct setting_def *d, const char *in, char *out, size_t outlen,
		       struct err *e);

/* "int", "float", "bool", "string", "enum", "size", "duration". */
const char *settings_type_name(enum setting_type t);
/* "global", "domain", "user", "node" for one SCOPE_* bit; NULL otherwise. */
const char *settings_scope_name(unsigned scope);

/* Canonical forms of the names administrators type, with errors meant
 * for them. Domain: LDH labels, at least two, lower case, no trailing
 * dot, <= 253. Address: local@domain, lower case. Destination:
 * "smtp:HOST:PORT" (HOST a host name, IPv4 or [IPv6]; PORT defaults to
 * 25) or "maildir:/absolute/path". */
int settings_domain_normalize(const char *name, char *out, size_t outlen, struct err *e);
int settings_address_normalize(const char *addr, char *out, size_t outlen, struct err *e);
int settings_destination_normalize(const char *dest, char *out, size_t outlen, struct err *e);

/* One setting as the API shows it, with `value` (canonical text) as its
 * effective value: {"name", "type", "value", "default", "min", "max",
 * "scopes", "choices", "help", "set"}; see config_settings_json. */
json_t *settings_json(const struct setting_def *d, const char *value, int set);

/* Longest canonical value (bytes, without the NUL) of any setting. */
#define SETTING_VALUE_MAX 4096

#endif
