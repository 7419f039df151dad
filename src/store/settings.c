#include "store/settings.h"
#include "mail/smtp_parse.h"
#include "util/net.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/log.h"

#define G SCOPE_GLOBAL
#define D SCOPE_DOMAIN
#define U SCOPE_USER
#define N SCOPE_NODE

/* name, type, default, min, max, scopes, choices (or STRING class), help */
const struct setting_def settings_table[] = {
	{"smtp_max_message_size", SETTING_SIZE, "52428800", 1024, 2147483648.0, G | D, NULL,
	 "Largest message accepted, advertised as the EHLO SIZE limit"},
	{"smtp_max_recipients", SETTING_INT, "100", 1, 10000, G, NULL,
	 "Most RCPT TO commands accepted for one message"},
	{"smtp_max_line_length", SETTING_INT, "1000", 512, 65536, G, NULL,
	 "Longest SMTP command line accepted, including CRLF"},
	{"smtp_max_data_line", SETTING_INT, "65536", 1000, 1048576, G, NULL,
	 "Longest line accepted inside DATA, including CRLF (RFC 5322 asks for 1000)"},
	{"smtp_command_timeout", SETTING_DURATION, "300", 5, 3600, G, NULL,
	 "Idle time allowed between SMTP commands"},
	{"smtp_data_timeout", SETTING_DURATION, "600", 5, 3600, G, NULL,
	 "Idle time allowed while receiving message data"},
	{"smtp_max_connections", SETTING_INT, "500", 1, 100000, G, NULL,
	 "Most simultaneous SMTP connections"},
	{"smtp_max_connections_per_ip", SETTING_INT, "50", 1, 100000, G, NULL,
	 "Most simultaneous SMTP connections from one client IP"},
	{"smtp_max_errors", SETTING_INT, "10", 1, 1000, G, NULL,
	 "Errors allowed in one session before it is dropped"},
	{"smtp_max_messages_per_session", SETTING_INT, "1000", 1, 100000, G, NULL,
	 "Messages accepted in one SMTP session"},
	{"rate_max_connections", SETTING_INT, "0", 0, 1000000, G, NULL,
	 "Connections per client IP per 30 minutes (0 = unlimited); 421 4.7.0 beyond"},
	{"rate_max_messages", SETTING_INT, "0", 0, 1000000, G, NULL,
	 "Messages per client IP per 30 minutes (0 = unlimited); 421 4.7.0 beyond"},
	{"rate_exempt", SETTING_STRING, "127.0.0.0/8, ::1/128", 0, 4000, G, "cidrlist",
	 "Client addresses (CIDR, comma-separated) exempt from rate control"},
	{"smtp_helo_required", SETTING_BOOL, "true", 0, 0, G, NULL,
	 "Require HELO/EHLO before MAIL FROM"},
	{"smtp_strict_rfc", SETTING_BOOL, "false", 0, 0, G, NULL,
	 "Strict RFC 5321: HELO/EHLO must name a fully qualified domain or an address literal, "
	 "MAIL FROM/RCPT TO must be <address> right after the colon (off: forgive the common "
	 "slips of scripts and old appliances)"},
	{"smtp_banner", SETTING_STRING, "ESMTP rampart", 1, 200, G, "ascii",
	 "Text of the 220 greeting after the host name"},
	{"smtp_drain_timeout", SETTING_DURATION, "30", 0, 3600, N | G, NULL,
	 "On shutdown, time given to open SMTP sessions to finish"},
	{"queue_retry_min", SETTING_DURATION, "60", 1, 86400, G, NULL,
	 "First retry delay for a deferred delivery"},
	{"queue_retry_max", SETTING_DURATION, "3600", 1, 604800, G, NULL,
	 "Longest delay between delivery retries"},
	{"queue_lifetime", SETTING_DURATION, "432000", 60, 2592000, G, NULL,
	 "Time a message may stay in the relay queue before it bounces"},
	{"queue_max_per_destination", SETTING_INT, "10", 1, 1000, G, NULL,
	 "Most simultaneous deliveries to one destination"},
	{"queue_connect_timeout", SETTING_DURATION, "30", 1, 600, G, NULL,
	 "Time allowed to connect to a destination server"},
	{"queue_command_timeout", SETTING_DURATION, "300", 1, 3600, G, NULL,
	 "Time allowed for a destination server to answer a command"},
	{"scan_threads", SETTING_INT, "0", 0, 256, N, NULL,
	 "Scanning threads on this node (0 = one per core)"},
	{"tag_score", SETTING_FLOAT, "3.5", -100, 100, G | D | U, NULL,
	 "Score from which a message is tagged (10 or more disables tagging)"},
	{"quarantine_score", SETTING_FLOAT, "10", -100, 100, G | D | U, NULL,
	 "Score from which a message is quarantined (10 or more disables quarantine)"},
	{"block_score", SETTING_FLOAT, "9", -100, 100, G | D | U, NULL,
	 "Score from which a message is blocked (10 or more disables blocking)"},
	{"tag_subject_prefix", SETTING_STRING, "[BULK]", 0, 100, G | D, "text",
	 "Prefix added to the subject of tagged messages"},
	{"msglog_retention_days", SETTING_INT, "30", 1, 3650, G, NULL,
	 "Days message log entries are kept"},
	{"default_hostname", SETTING_STRING, "", 0, 253, N, "hostname",
	 "This node's host name in the SMTP greeting, Received: headers, DSNs and mailed links "
	 "(blank = hostname of the bootstrap file)"},
	{"default_domain", SETTING_STRING, "", 0, 253, G, "hostname",
	 "Domain of the gateway's own addresses: a bare <postmaster> recipient and the "
	 "MAILER-DAEMON/postmaster senders of notices (blank = the host name)"},
	{"postmaster_address", SETTING_STRING, "", 0, 254, G, "email",
	 "From address of delivery status notifications (blank = MAILER-DAEMON@<hostname>)"},
	{"outbound_relay", SETTING_STRING, "", 0, 512, G, "ascii",
	 "Where mail for other domains (DSNs to outside senders) goes: smtp:HOST:PORT; blank = the "
	 "domain's MX"},
	/* network layers: DNS lists, SPF, virus scan (src/filter/dnsbl.c, spf.c, av.c) */
	{"dns_timeout_ms", SETTING_INT, "2000", 100, 30000, G, NULL,
	 "Longest wait, in milliseconds, for the DNS answers of one layer (DNSBL, SPF, URIBL); "
	 "when it passes the layer is skipped for that message"},
	{"dnsbl_scan_received", SETTING_BOOL, "false", 0, 0, G, NULL,
	 "Also look up the addresses in the Received: headers in the DNS blocklists"},
	{"dnsbl_skip_private", SETTING_BOOL, "true", 0, 0, G, NULL,
	 "Do not look up private (RFC 1918), CGNAT, link-local and unique-local addresses in DNS "
	 "blocklists (loopback addresses are looked up: lists never list 127.0.0.1)"},
	{"spf_enabled", SETTING_BOOL, "true", 0, 0, G, NULL,
	 "Check the sender domain's SPF record against the client address"},
	{"spf_fail_action", SETTING_ENUM, "score", 0, 0, G, "none|score|tag|quarantine|block",
	 "What an SPF fail (-all) does"},
	{"spf_fail_score", SETTING_FLOAT, "3", -100, 100, G, NULL,
	 "Score added by an SPF fail when its action is score"},
	{"spf_softfail_action", SETTING_ENUM, "score", 0, 0, G, "none|score|tag|quarantine|block",
	 "What an SPF softfail (~all) does"},
	{"spf_softfail_score", SETTING_FLOAT, "1", -100, 100, G, NULL,
	 "Score added by an SPF softfail when its action is score"},
	{"spf_none_action", SETTING_ENUM, "none", 0, 0, G, "none|score|tag|quarantine|block",
	 "What a sender domain without an SPF record does"},
	{"spf_none_score", SETTING_FLOAT, "0", -100, 100, G, NULL,
	 "Score added when the sender domain has no SPF record and its action is score"},
	{"spf_pass_action", SETTING_ENUM, "none", 0, 0, G, "none|score",
	 "What an SPF pass does (score: add spf_pass_score, usually negative)"},
	{"spf_pass_score", SETTING_FLOAT, "0", -100, 100, G, NULL,
	 "Score added by an SPF pass when its action is score"},
	{"spf_trusted_forwarders", SETTING_STRING, "127.0.0.1, ::1", 0, 1000, G, "cidrlist",
	 "Client addresses never checked with SPF, as CIDRs separated by commas (local injection, "
	 "your backup MX, forwarders)"},
	{"av_enabled", SETTING_BOOL, "true", 0, 0, G, NULL,
	 "Scan every message with clamd (the bootstrap setting clamd says where it listens)"},
	{"av_infected_action", SETTING_ENUM, "block", 0, 0, G, "block|quarantine",
	 "What happens to a message clamd finds a virus in"},
	{"av_unreachable", SETTING_ENUM, "tempfail", 0, 0, G, "tempfail|accept",
	 "When clamd cannot be reached or fails: tempfail answers 451 (nothing lost, the sender "
	 "retries); accept lets the message through unscanned with a log warning"},
	{"av_timeout_ms", SETTING_INT, "60000", 1000, 600000, G, NULL,
	 "Longest time, in milliseconds, one clamd scan may take before clamd counts as unreachable"},
	{"av_oversize", SETTING_ENUM, "accept", 0, 0, G, "accept|tempfail|block",
	 "When a message is larger than clamd's StreamMaxLength: accept it unscanned (logged), "
	 "tempfail (451) or block it"},
	{"uribl_max_hosts", SETTING_INT, "20", 0, 200, G, NULL,
	 "Most distinct URL hosts of one message looked up in the URI blocklists"},
	/* policy: attachments and fingerprints (src/filter/attach.c, fingerprint.c) */
	{"attach_encrypted_action", SETTING_ENUM, "quarantine", 0, 0, G, "allow|tag|quarantine|block",
	 "What an encrypted (password-protected) or unreadable archive attachment does"},
	{"attach_double_ext_action", SETTING_ENUM, "block", 0, 0, G, "allow|tag|quarantine|block",
	 "What an attachment with a disguised executable name (invoice.pdf.exe, padded or "
	 "right-to-left names) does, also inside zip archives"},
	/* cluster roles (src/cluster/failover.c) */
	{"cluster_failover", SETTING_ENUM, "automatic", 0, 0, G, "automatic|manual",
	 "automatic: a standby member takes over when an active member is down for the grace "
	 "period; manual: roles change only when the administrator sets them"},
	{"cluster_failover_grace", SETTING_DURATION, "30", 2, 3600, G, NULL,
	 "How long an active member must be down before a standby takes over"},
	{"bayes_autolearn", SETTING_BOOL, "false", 0, 0, G, NULL,
	 "Train Bayes on live mail whose score without Bayes is 12 or more (spam) or 0.1 or less "
	 "(ham)"},
	{"fingerprint_score", SETTING_FLOAT, "6", -100, 100, G, NULL,
	 "Score added when a message is near the fingerprint of a message classified as spam"},
	{"fingerprint_max_distance", SETTING_INT, "48", 0, 127, G, NULL,
	 "How many of the 128 fingerprint slots may differ for a message to match a stored one "
	 "(higher catches more variants and risks more false matches)"},

	/* users, quarantine, web (src/store/users.c, src/web/) */
	{"quarantine_enabled", SETTING_BOOL, "true", 0, 0, G | D | U, NULL,
	 "Keep would-be-quarantined mail in the recipient's quarantine (off: deliver it with a "
	 "[QUAR]: subject prefix)"},
	{"quarantine_summary", SETTING_ENUM, "daily", 0, 0, G | D | U, "never|daily|weekly",
	 "How often a user is mailed a summary of newly quarantined messages"},
	{"quarantine_retention_days", SETTING_INT, "14", 1, 3650, G, NULL,
	 "Days quarantined messages are kept before they are purged"},
	{"quarantine_auto_users", SETTING_BOOL, "true", 0, 0, G | D, NULL,
	 "Create a user account (and mail a login link) when a message is first quarantined for "
	 "a recipient"},
	{"admin_allowed_ips", SETTING_STRING, "", 0, 4000, G, "cidrlist",
	 "Client addresses (CIDR, comma-separated) the administrator may log in from (blank = any)"},
	{"metrics_allowed_ips", SETTING_STRING, "127.0.0.0/8, ::1", 0, 4000, G, "cidrlist",
	 "Client addresses (CIDR, comma-separated) that may read /metrics (blank = any)"},
	{"web_base_url", SETTING_STRING, "", 0, 200, G, "ascii",
	 "Base URL of the web interface used in mailed links, e.g. https://spam.example.com:8443 "
	 "(blank = https://<hostname>:<port>)"},
	{"web_session_idle", SETTING_DURATION, "1800", 60, 86400, G, NULL,
	 "A web session ends after this long without a request"},
	{"web_link_lifetime", SETTING_DURATION, "604800", 300, 2592000, G, NULL,
	 "How long links in mails (login, quarantine actions) stay valid"},
	{"login_max_failures", SETTING_INT, "5", 1, 1000, G, NULL,
	 "Failed logins for one user name before it is locked for login_lockout"},
	{"login_lockout", SETTING_DURATION, "900", 10, 86400, G, NULL,
	 "How long a user name (or client address) stays locked after too many failed logins"},
	/* cluster (src/cluster) */
	{"cluster_port", SETTING_INT, "5405", 1024, 65535, G, NULL,
	 "UDP port of the cluster engine (corosync knet) on every member; a change takes effect "
	 "when corosync restarts"},
	{"cluster_token_ms", SETTING_INT, "1000", 200, 10000, G, NULL,
	 "Cluster engine token timeout in milliseconds: a member that stops answering is seen "
	 "down after about twice this"},
	{"io_threads", SETTING_INT, "8", 1, 64, N, NULL,
	 "Threads that wait on the disk (fsync of accepted mail, spool files); takes effect at restart"},
};

const size_t settings_count = sizeof settings_table / sizeof settings_table[0];

#undef G
#undef D
#undef U
#undef N

const struct setting_def *settings_find(const char *name)
{
	if (!name)
		return NULL;
	for (size_t i = 0; i < settings_count; i++)
		if (strcmp(settings_table[i].name, name) == 0)
			return &settings_table[i];
	return NULL;
}

const char *settings_scope_name(unsigned scope)
{
	switch (scope) {
	case SCOPE_GLOBAL: return "global";
	case SCOPE_DOMAIN: return "domain";
	case SCOPE_USER: return "user";
	case SCOPE_NODE: return "node";
	}
	return NULL;
}

/* ---- helpers ------------------------------------------------------- */

/* The offending input, escaped and shortened for an error message. */
static const char *got(const char *in, char *tmp, size_t tmplen)
{
	return log_escape(tmp, tmplen, in, strlen(in), 60);
}

/* Copies in without surrounding ASCII whitespace. -1 when too long. */
static int trim_copy(const char *in, char *out, size_t outlen)
{
	while (*in == ' ' || *in == '\t')
		in++;
	size_t n = strlen(in);
	while (n && (in[n - 1] == ' ' || in[n - 1] == '\t'))
		n--;
	if (n >= outlen)
		return -1;
	memcpy(out, in, n);
	out[n] = '\0';
	return 0;
}

static int put(const struct setting_def *d, char *out, size_t outlen, const char *val,
	       struct err *e)
{
	int n = snprintf(out, outlen, "%s", val);
	if (n < 0 || (size_t)n >= outlen)
		return err_set(e, "%s: value too long", d->name);
	return 0;
}

/* Unsigned decimal integer at *p; advances p. -1 without digits or on
 * overflow. */
static int parse_u64(const char **p, uint64_t *v)
{
	const char *s = *p;
	uint64_t x = 0;
	if (!isdigit((unsigned char)*s))
		return -1;
	for (; isdigit((unsigned char)*s); s++) {
		unsigned dgt = (unsigned)(*s - '0');
		if (x > (UINT64_MAX - dgt) / 10)
			return -1;
		x = x * 10 + dgt;
	}
	*p = s;
	*v = x;
	return 0;
}

/* Bound written as an administrator would type it: 2G, 512K, 1h, 5d. */
static void fmt_unit(double v, const char *const *units, const double *mult, size_t n,
		     char *out, size_t outlen)
{
	for (size_t i = n; i-- > 1;) {
		if (v >= mult[i] && fmod(v, mult[i]) == 0) {
			snprintf(out, outlen, "%.0f%s", v / mult[i], units[i]);
			return;
		}
	}
	snprintf(out, outlen, "%.0f%s", v, units[0]);
}

/* ---- one normaliser per type ------------------------------------- */

static int norm_int(const struct setting_def *d, const char *in, char *out, size_t outlen,
		    struct err *e)
{
	char t[64], g[128];
	long long v = 0;
	int ok = trim_copy(in, t, sizeof t) == 0 && t[0];
	if (ok) {
		char *end;
		errno = 0;
		v = strtoll(t, &end, 10);
		ok = !*end && errno == 0 && isdigit((unsigned char)t[strspn(t, "+-")]);
	}
	if (!ok || (double)v < d->min || (double)v > d->max)
		return err_set(e, "%s: must be an integer between %.0f and %.0f (got \"%s\")", d->name,
			       d->min, d->max, got(in, g, sizeof g));
	snprintf(t, sizeof t, "%lld", v);
	return put(d, out, outlen, t, e);
}

/* Shortest text that reads back as exactly v. */
static void fmt_double(double v, char *out, size_t outlen)
{
	for (int prec = 15; prec <= 17; prec++) {
		snprintf(out, outlen, "%.*g", prec, v);
		if (strtod(out, NULL) == v)
			return;
	}
}

static int norm_float(const struct setting_def *d, const char *in, char *out, size_t outlen,
		      struct err *e)
{
	char t[64], g[128];
	double v = 0;
	/* plain decimal notation only: strtod would also take inf, nan, hex */
	int ok = trim_copy(in, t, sizeof t) == 0 && t[0] && !t[strspn(t, "0123456789+-.eE")];
	if (ok) {
		char *end;
		v = strtod(t, &end);
		ok = !*end && isfinite(v);
	}
	if (!ok || v < d->min || v > d->max)
		return err_set(e, "%s: must be a number between %g and %g (got \"%s\")", d->name,
			       d->min, d->max, got(in, g, sizeof g));
	if (v == 0)
		v = 0; /* no "-0" */
	fmt_double(v, t, sizeof t);
	return put(d, out, outlen, t, e);
}

static int norm_bool(const struct setting_def *d, const char *in, char *out, size_t outlen,
		     struct err *e)
{
	static const struct {
		const char *text;
		int value;
	} words[] = {
		{"true", 1}, {"yes", 1}, {"on", 1}, {"1", 1},
		{"false", 0}, {"no", 0}, {"off", 0}, {"0", 0},
	};
	char t[16], g[128];
	if (trim_copy(in, t, sizeof t) == 0) {
		for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
			if (strcasecmp(t, words[i].text) == 0)
				return put(d, out, outlen, words[i].value ? "true" : "false", e);
	}
	return err_set(e, "%s: must be true or false (yes/no, on/off, 1/0 also work) (got \"%s\")",
		       d->name, got(in, g, sizeof g));
}

static int norm_enum(const struct setting_def *d, const char *in, char *out, size_t outlen,
		     struct err *e)
{
	char t[128], g[128], list[512];
	const char *c = d->choices ? d->choices : "";
	if (trim_copy(in, t, sizeof t) == 0 && t[0]) {
		for (const char *p = c; *p;) {
			size_t n = strcspn(p, "|");
			if (n == strlen(t) && strncasecmp(p, t, n) == 0) {
				snprintf(t, sizeof t, "%.*s", (int)n, p);
				return put(d, out, outlen, t, e);
			}
			p += n + (p[n] == '|');
		}
	}
	size_t o = 0;
	for (const char *p = c; *p && o < sizeof list;) {
		size_t n = strcspn(p, "|");
		int w = snprintf(list + o, sizeof list - o, "%s%.*s", o ? ", " : "", (int)n, p);
		o += w > 0 ? (size_t)w : 0;
		p += n + (p[n] == '|');
	}
	list[o < sizeof list ? o : sizeof list - 1] = '\0';
	return err_set(e, "%s: must be one of %s (got \"%s\")", d->name, list, got(in, g, sizeof g));
}

static const char *const size_units[] = {"", "K", "M", "G", "T"};
static const double size_mult[] = {1, 1024.0, 1048576.0, 1073741824.0, 1099511627776.0};

/* "10M", "1.5G", "512 KiB", "2048" -> bytes (1K = 1024). */
static int parse_size(const char *t, double *bytes)
{
	static const char letters[] = "KMGT";
	const char *p = t;
	uint64_t whole;
	double frac = 0, scale = 0.1;
	int dot = 0;
	if (parse_u64(&p, &whole) < 0)
		return -1;
	if (*p == '.') {
		dot = 1;
		if (!isdigit((unsigned char)*++p))
			return -1;
		for (; isdigit((unsigned char)*p); p++, scale /= 10)
			frac += (*p - '0') * scale;
	}
	while (*p == ' ')
		p++;
	size_t u = 0;
	if (*p && *p != 'b' && *p != 'B') {
		const char *hit = strchr(letters, toupper((unsigned char)*p));
		if (!hit)
			return -1;
		u = (size_t)(hit - letters) + 1;
		p++;
	}
	if (strcasecmp(p, "") && strcasecmp(p, "b") && !(u && strcasecmp(p, "ib") == 0))
		return -1;
	if (u == 0 && dot) /* no fractional bytes */
		return -1;
	*bytes = floor(((double)whole + frac) * size_mult[u] + 0.5);
	return 0;
}

static int norm_size(const struct setting_def *d, const char *in, char *out, size_t outlen,
		     struct err *e)
{
	char t[64], g[128], lo[32], hi[32];
	double v;
	int ok = trim_copy(in, t, sizeof t) == 0 && parse_size(t, &v) == 0;
	if (!ok || v < d->min || v > d->max || v > 9e18) {
		fmt_unit(d->min, size_units, size_mult, 5, lo, sizeof lo);
		fmt_unit(d->max, size_units, size_mult, 5, hi, sizeof hi);
		return err_set(e,
			       "%s: must be a size between %s and %s, e.g. 10M, 512K, 1G or a "
			       "number of bytes (got \"%s\")",
			       d->name, lo, hi, got(in, g, sizeof g));
	}
	snprintf(t, sizeof t, "%.0f", v);
	return put(d, out, outlen, t, e);
}

static const char *const dur_units[] = {"s", "m", "h", "d", "w"};
static const double dur_mult[] = {1, 60, 3600, 86400, 604800};

/* "90", "30s", "5m", "1h30m", "5d" -> seconds. */
static int parse_duration(const char *t, double *secs)
{
	const char *p = t;
	double total = 0;
	uint64_t n;
	if (parse_u64(&p, &n) < 0)
		return -1;
	if (!*p) {
		*secs = (double)n;
		return 0;
	}
	for (;;) {
		const char *u = strchr("smhdw", tolower((unsigned char)*p));
		if (!*p || !u)
			return -1;
		total += (double)n * dur_mult[u - "smhdw"];
		p++;
		if (!*p)
			break;
		if (parse_u64(&p, &n) < 0)
			return -1;
	}
	*secs = total;
	return 0;
}

static int norm_duration(const struct setting_def *d, const char *in, char *out, size_t outlen,
			 struct err *e)
{
	char t[64], g[128], lo[32], hi[32];
	double v;
	int ok = trim_copy(in, t, sizeof t) == 0 && parse_duration(t, &v) == 0;
	if (!ok || v < d->min || v > d->max || v > 9e15) {
		fmt_unit(d->min, dur_units, dur_mult, 4, lo, sizeof lo);
		fmt_unit(d->max, dur_units, dur_mult, 4, hi, sizeof hi);
		return err_set(e,
			       "%s: must be a duration between %s and %s, e.g. 30s, 5m, 1h, 5d or "
			       "a number of seconds (got \"%s\")",
			       d->name, lo, hi, got(in, g, sizeof g));
	}
	snprintf(t, sizeof t, "%.0f", v);
	return put(d, out, outlen, t, e);
}

/* Code points in a valid UTF-8 string without control characters; -1
 * otherwise. */
static long utf8_text_len(const unsigned char *s)
{
	long n = 0;
	while (*s) {
		unsigned c = *s;
		int extra = c < 0x80 ? 0 : (c & 0xe0) == 0xc0 ? 1 : (c & 0xf0) == 0xe0 ? 2
			  : (c & 0xf8) == 0xf0 ? 3 : -1;
		if (c < 0x20 || c == 0x7f)
			return -1;
		if (extra < 0 || (extra == 1 && c < 0xc2) || (c == 0xf4 && s[1] > 0x8f) || c > 0xf4)
			return -1;
		if (c == 0xe0 && s[1] < 0xa0) /* overlong */
			return -1;
		if (c == 0xed && s[1] > 0x9f) /* surrogates */
			return -1;
		if (c == 0xf0 && s[1] < 0x90)
			return -1;
		for (int i = 1; i <= extra; i++)
			if ((s[i] & 0xc0) != 0x80)
				return -1;
		if (extra == 1 && s[1] >= 0x80 && s[1] < 0xa0 && c == 0xc2)
			return -1; /* C1 controls */
		s += 1 + extra;
		n++;
	}
	return n;
}

static int is_ascii_printable(const char *s)
{
	for (; *s; s++)
		if (*s < 0x20 || *s > 0x7e)
			return 0;
	return 1;
}

/* local@domain, printable ASCII, no spaces or angle brackets. */
static int is_email(const char *s)
{
	const char *at = strrchr(s, '@');
	if (!at || at == s || at - s > 64 || !is_ascii_printable(s) || strpbrk(s, " <>(),;:\"[]\\"))
		return 0;
	const char *dom = at + 1;
	if (!*dom || *dom == '.' || dom[strlen(dom) - 1] == '.' || strstr(dom, ".."))
		return 0;
	return !dom[strspn(dom, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-")];
}

/* "10.0.0.0/8, ::1" : every comma-separated item a valid CIDR. */
static int cidr_list_check(const struct setting_def *d, const char *in, struct err *e)
{
	char copy[SETTING_VALUE_MAX + 1], *save = NULL;
	snprintf(copy, sizeof copy, "%s", in);
	for (char *t = strtok_r(copy, ", ", &save); t; t = strtok_r(NULL, ", ", &save)) {
		struct cidr c;
		struct err sub;
		if (net_parse_cidr(t, &c, &sub) < 0)
			return err_set(e, "%s: %s", d->name, sub.msg);
	}
	return 0;
}

static int norm_string(const struct setting_def *d, const char *in, char *out, size_t outlen,
		       struct err *e)
{
	const char *cls = d->choices ? d->choices : "text";
	char g[128];
	if (strlen(in) > SETTING_VALUE_MAX)
		return err_set(e, "%s: value too long (more than %d bytes)", d->name,
			       SETTING_VALUE_MAX);
	long n = utf8_text_len((const unsigned char *)in);
	if (n < 0)
		return err_set(e, "%s: must be UTF-8 text without control characters (got \"%s\")",
			       d->name, got(in, g, sizeof g));
	if (strcmp(cls, "ascii") == 0 && !is_ascii_printable(in))
		return err_set(e, "%s: must contain printable ASCII characters only (got \"%s\")",
			       d->name, got(in, g, sizeof g));
	if (strcmp(cls, "email") == 0 && !(n == 0 && d->min <= 0) && !is_email(in))
		return err_set(e, "%s: must be an email address like postmaster@example.com (got \"%s\")",
			       d->name, got(in, g, sizeof g));
	if (strcmp(cls, "hostname") == 0 && n > 0 && !smtp_domain_valid(in, 0))
		return err_set(e, "%s: must be a host name like mail.example.com (got \"%s\")",
			       d->name, got(in, g, sizeof g));
	if (strcmp(cls, "cidrlist") == 0 && cidr_list_check(d, in, e) < 0)
		return -1;
	if (d->max > 0 && n > d->max)
		return err_set(e, "%s: must be at most %.0f characters (got %ld)", d->name, d->max, n);
	if (n < d->min)
		return err_set(e, "%s: must be at least %.0f characters (got %ld)", d->name, d->min, n);
	return put(d, out, outlen, in, e);
}

typedef int (*norm_fn)(const struct setting_def *, const char *, char *, size_t, struct err *);

static const struct {
	const char *name;
	norm_fn norm;
} types[] = {
	[SETTING_INT] = {"int", norm_int},
	[SETTING_FLOAT] = {"float", norm_float},
	[SETTING_BOOL] = {"bool", norm_bool},
	[SETTING_STRING] = {"string", norm_string},
	[SETTING_ENUM] = {"enum", norm_enum},
	[SETTING_SIZE] = {"size", norm_size},
	[SETTING_DURATION] = {"duration", norm_duration},
};

const char *settings_type_name(enum setting_type t)
{
	if ((size_t)t >= sizeof types / sizeof types[0])
		return "unknown";
	return types[t].name;
}

int settings_normalize(const struct setting_def *d, const char *in, char *out, size_t outlen,
		       struct err *e)
{
	if (!d)
		return err_set(e, "unknown setting");
	if (!in)
		return err_set(e, "%s: a value is required", d->name);
	if ((size_t)d->type >= sizeof types / sizeof types[0])
		return err_set(e, "%s: bad setting type", d->name);
	return types[d->type].norm(d, in, out, outlen, e);
}

/* ---- names administrators type: domains, addresses, destinations -- */

/* Why an LDH name (already lower case) is not acceptable, or NULL. */
static const char *dns_name_problem(const char *s, int min_labels)
{
	int labels = 0, numeric = 1;
	size_t n = strlen(s);
	if (n == 0)
		return "the name is empty";
	if (n > 253)
		return "longer than 253 characters";
	for (const char *p = s;; p++) {
		size_t l = strcspn(p, ".");
		if (l == 0)
			return "empty label (two dots in a row, or a leading dot)";
		if (l > 63)
			return "a label is longer than 63 characters";
		if (p[0] == '-' || p[l - 1] == '-')
			return "a label cannot start or end with a hyphen";
		numeric = 1;
		for (size_t i = 0; i < l; i++) {
			if (!islower((unsigned char)p[i]) && !isdigit((unsigned char)p[i]) && p[i] != '-')
				return "only letters, digits, hyphens and dots are allowed";
			if (!isdigit((unsigned char)p[i]))
				numeric = 0;
		}
		labels++;
		p += l;
		if (!*p)
			break;
	}
	if (labels < min_labels)
		return "needs at least two labels, e.g. example.com";
	if (numeric)
		return "the last label cannot be all digits";
	return NULL;
}

/* Lower-case copy without one trailing dot; -1 when it does not fit. */
static int lower_copy(const char *in, char *out, size_t outlen)
{
	size_t n = strlen(in);
	if (n && in[n - 1] == '.')
		n--;
	if (n >= outlen)
		return -1;
	for (size_t i = 0; i < n; i++)
		out[i] = (char)tolower((unsigned char)in[i]);
	out[n] = '\0';
	return 0;
}

int settings_domain_normalize(const char *name, char *out, size_t outlen, struct err *e)
{
	char lc[256];
	if (!name || lower_copy(name, lc, sizeof lc) < 0)
		return err_set(e, "bad domain: longer than 253 characters");
	const char *why = dns_name_problem(lc, 2);
	if (why)
		return err_set(e, "bad domain \"%s\": %s", log_esc(name), why);
	if ((size_t)snprintf(out, outlen, "%s", lc) >= outlen)
		return err_set(e, "bad domain \"%s\": too long", log_esc(name));
	return 0;
}

int settings_address_normalize(const char *a, char *out, size_t outlen, struct err *e)
{
	char lc[320];
	const char *at = a ? strrchr(a, '@') : NULL;
	if (!at || at == a || at - a > 64 || strlen(a) > 254)
		return err_set(e, "bad address \"%s\": expected local@domain", log_esc(a ? a : ""));
	for (const char *p = a; p < at; p++)
		if (*p <= 0x20 || *p > 0x7e || strchr("<>()[]\\,;:\"", *p))
			return err_set(e, "bad address \"%s\": invalid character in the local part",
				       log_esc(a));
	char dom[256];
	if (settings_domain_normalize(at + 1, dom, sizeof dom, e) < 0)
		return -1;
	snprintf(lc, sizeof lc, "%.*s@%s", (int)(at - a), a, dom);
	for (char *p = lc; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	if ((size_t)snprintf(out, outlen, "%s", lc) >= outlen)
		return err_set(e, "bad address \"%s\": too long", log_esc(a));
	return 0;
}

static int port_parse(const char *s, int *port)
{
	if (!*s || strlen(s) > 5 || s[strspn(s, "0123456789")])
		return -1;
	*port = atoi(s);
	return *port >= 1 && *port <= 65535 ? 0 : -1;
}

/* HOST[:PORT] of an smtp: destination -> "host:port" canonical. */
static int smtp_dest(const char *rest, char *out, size_t outlen, struct err *e)
{
	char host[256], canon[300];
	const char *portp = NULL;
	int port = 25;
	if (rest[0] == '[') {
		const char *close = strchr(rest, ']');
		struct in6_addr a6;
		size_t hn = close ? (size_t)(close - rest - 1) : 0;
		if (!close || hn >= sizeof host)
			return err_set(e, "bad destination: missing ']' after the IPv6 address");
		memcpy(host, rest + 1, hn);
		host[hn] = '\0';
		if (inet_pton(AF_INET6, host, &a6) != 1)
			return err_set(e, "bad destination: \"%s\" is not an IPv6 address", log_esc(host));
		inet_ntop(AF_INET6, &a6, host, sizeof host);
		snprintf(canon, sizeof canon, "[%s]", host);
		if (close[1] && close[1] != ':')
			return err_set(e, "bad destination: expected ':PORT' after ']'");
		portp = close[1] ? close + 2 : NULL;
	} else {
		const char *colon = strchr(rest, ':');
		if (colon && strchr(colon + 1, ':'))
			return err_set(e, "bad destination: write IPv6 addresses in brackets, "
					  "e.g. smtp:[2001:db8::1]:25");
		size_t hn = colon ? (size_t)(colon - rest) : strlen(rest);
		if (hn == 0 || hn >= sizeof host)
			return err_set(e, "bad destination: missing host, expected smtp:HOST:PORT");
		for (size_t i = 0; i < hn; i++)
			host[i] = (char)tolower((unsigned char)rest[i]);
		host[hn] = '\0';
		if (host[hn - 1] == '.')
			host[hn - 1] = '\0';
		struct in_addr a4;
		int dotted = !host[strspn(host, "0123456789.")];
		const char *why = dotted ? "not a valid IPv4 address" : dns_name_problem(host, 1);
		if (!(dotted && inet_pton(AF_INET, host, &a4) == 1) && why)
			return err_set(e, "bad destination host \"%s\": %s", log_esc(host), why);
		snprintf(canon, sizeof canon, "%s", host);
		portp = colon ? colon + 1 : NULL;
	}
	if (portp && port_parse(portp, &port) < 0)
		return err_set(e, "bad destination port \"%s\": must be 1-65535", log_esc(portp));
	if ((size_t)snprintf(out, outlen, "smtp:%s:%d", canon, port) >= outlen)
		return err_set(e, "bad destination: too long");
	return 0;
}

static int maildir_dest(const char *path, char *out, size_t outlen, struct err *e)
{
	size_t n = strlen(path);
	while (n > 1 && path[n - 1] == '/')
		n--;
	if (path[0] != '/' || n < 2)
		return err_set(e, "bad destination: maildir needs an absolute path, "
				  "e.g. maildir:/var/lib/rampart/mail");
	if (n > 400)
		return err_set(e, "bad destination: maildir path longer than 400 characters");
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)path[i] < 0x20 || path[i] == 0x7f)
			return err_set(e, "bad destination: control character in the maildir path");
	for (const char *p = path; (p = strstr(p, "/..")) && p < path + n; p++)
		if (p + 3 == path + n || p[3] == '/')
			return err_set(e, "bad destination: '..' is not allowed in a maildir path");
	if ((size_t)snprintf(out, outlen, "maildir:%.*s", (int)n, path) >= outlen)
		return err_set(e, "bad destination: too long");
	return 0;
}

int settings_destination_normalize(const char *dest, char *out, size_t outlen, struct err *e)
{
	if (dest && strncasecmp(dest, "smtp:", 5) == 0)
		return smtp_dest(dest + 5, out, outlen, e);
	if (dest && strncasecmp(dest, "maildir:", 8) == 0)
		return maildir_dest(dest + 8, out, outlen, e);
	return err_set(e, "bad destination \"%s\": must be smtp:HOST:PORT or maildir:/absolute/path",
		       log_esc(dest ? dest : ""));
}

/* ---- JSON description of a setting -------------------------------- */

/* Canonical text of a setting as a typed JSON value. */
static json_t *typed_json(const struct setting_def *d, const char *v)
{
	switch (d->type) {
	case SETTING_INT:
	case SETTING_SIZE:
	case SETTING_DURATION: return json_integer(strtoll(v, NULL, 10));
	case SETTING_FLOAT: return json_real(strtod(v, NULL));
	case SETTING_BOOL: return json_boolean(strcmp(v, "true") == 0);
	default: return json_string(v);
	}
}

json_t *settings_json(const struct setting_def *d, const char *value, int set)
{
	json_t *o = json_object(), *scopes = json_array(), *choices = json_null();
	int bounded = d->type != SETTING_BOOL && d->type != SETTING_ENUM;
	for (unsigned b = 1; b <= SCOPE_NODE; b <<= 1)
		if (d->scopes & b)
			json_array_append_new(scopes, json_string(settings_scope_name(b)));
	if (d->type == SETTING_ENUM && d->choices) {
		json_decref(choices);
		choices = json_array();
		for (const char *p = d->choices; *p;) {
			size_t n = strcspn(p, "|");
			json_array_append_new(choices, json_stringn(p, n));
			p += n + (p[n] == '|');
		}
	}
	json_object_set_new(o, "name", json_string(d->name));
	json_object_set_new(o, "type", json_string(settings_type_name(d->type)));
	json_object_set_new(o, "value", typed_json(d, value));
	json_object_set_new(o, "default", typed_json(d, d->def));
	json_object_set_new(o, "min", bounded ? json_real(d->min) : json_null());
	json_object_set_new(o, "max", bounded ? json_real(d->max) : json_null());
	json_object_set_new(o, "scopes", scopes);
	json_object_set_new(o, "choices", choices);
	json_object_set_new(o, "help", json_string(d->help ? d->help : ""));
	json_object_set_new(o, "set", json_boolean(set));
	return o;
}
