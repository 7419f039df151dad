/* SpamAssassin's relay analysis over a whole message: the Received headers
 * (newest first) parsed by rules_relays.c, the trust boundary inferred as
 * Received.pm does without trusted_networks (a relay is trusted while it
 * comes from a private address or carries an authentication token; the
 * first other one and all older ones are untrusted and external), the
 * X-Spam-Relays-* pseudo-headers, and the RelayEval tests the stock rules
 * use. Parsed once per message into the scan thread's scratch. */
#include "filter/rules_int.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Headers whose IP SpamAssassin appends as a relay (10_default_prefs.cf
 * originating_ip_headers). */
static const char *const orig_hdrs[] = {
	"X-Yahoo-Post-IP", "X-Originating-IP", "X-Apparently-From", "X-SenderIP", "X-AOL-IP",
	"X-MS-Exchange-CrossTenant-OriginalAttributedTenantConnectingIp",
};

#define RELAY_MATCH_LIMIT 200000  /* per pattern: hostile lines stay cheap */
#define RELAY_DEPTH_LIMIT 5000

void rules_relay_string(const struct relay *r, int internal, struct buf *out)
{
	buf_printf(out, "[ ip=%s rdns=%s helo=%s by=%s ident=%s envfrom=%s intl=%d id=%s auth=%s msa=0 ]",
		   r->ip, r->rdns, r->helo, r->by, r->ident, r->envfrom, internal, r->id, r->auth);
}

/* IS_IP_PRIVATE for a dotted IPv4 address. */
int rules_relay_private4(const char *ip)
{
	unsigned a = 0, b = 0;
	if (sscanf(ip, "%u.%u.", &a, &b) != 2)
		return 0;
	return a == 10 || a == 127 || (a == 169 && b == 254) || (a == 172 && b >= 16 && b <= 31) ||
	       (a == 192 && b == 168) || (a == 100 && b >= 64 && b <= 127);
}

struct relays *rules_relays_new(void)
{
	struct relays *rl = calloc(1, sizeof *rl);
	if (!rl)
		return NULL;
	rl->md = pcre2_match_data_create(16, NULL);
	rl->mctx = pcre2_match_context_create(NULL);
	if (!rl->md || !rl->mctx) {
		rules_relays_free(rl);
		return NULL;
	}
	pcre2_set_match_limit(rl->mctx, RELAY_MATCH_LIMIT);
	pcre2_set_depth_limit(rl->mctx, RELAY_DEPTH_LIMIT);
	return rl;
}

void rules_relays_free(struct relays *rl)
{
	if (!rl)
		return;
	pcre2_match_data_free(rl->md);
	pcre2_match_context_free(rl->mctx);
	free(rl);
}

struct trust {
	int in_trusted;
	int allow_fetch;      /* mail fetcher markers restart the parse */
	char pending[RELAY_FIELD]; /* qmail-scanner's envelope sender */
};

static void add_header(struct relays *rl, struct trust *t, const char *line)
{
	struct relay r;
	struct relay_pstate ps = {0};
	char qms[RELAY_FIELD];
	snprintf(qms, sizeof qms, "%s", t->pending);
	t->pending[0] = '\0';
	int rc = rules_relay_parse(rl, line, &r, &ps);
	if (rc < 0)
		rl->unparseable++;
	if (rc <= 0) {
		if (ps.pop_marker && t->allow_fetch)
			rl->n = 0;  /* everything so far was trusted: start again */
		if (ps.qms_set)
			snprintf(t->pending, sizeof t->pending, "%s", ps.qms_envfrom);
		return;
	}
	if (qms[0]) {
		snprintf(r.envfrom, sizeof r.envfrom, "%s", qms);
		r.has_envfrom = 1;
	}
	if (t->in_trusted && !r.priv && !r.auth[0])
		t->in_trusted = 0;
	r.trusted = r.internal = (unsigned)t->in_trusted;
	t->allow_fetch = t->in_trusted;
	if (rl->n < RELAYS_MAX)
		rl->r[rl->n++] = r;
}

void rules_relays_analyse(struct relays *rl, const struct msg_view *v)
{
	struct trust t = {1, 1, ""};
	size_t seen = 0;
	rl->n = 0;
	rl->unparseable = 0;
	for (size_t i = 0; i < v->nheaders && seen < RELAYS_MAX_HEADERS; i++) {
		const struct msg_header *h = &v->headers[i];
		if (!h->name || strcasecmp(h->name, "Received") != 0)
			continue;
		seen++;
		add_header(rl, &t, h->value ? h->value : (h->raw ? h->raw : ""));
	}
	for (size_t k = 0; k < sizeof orig_hdrs / sizeof orig_hdrs[0]; k++) {
		const char *val = NULL;
		for (size_t i = 0; i < v->nheaders; i++)  /* the last one, as get_header does */
			if (v->headers[i].name && strcasecmp(v->headers[i].name, orig_hdrs[k]) == 0)
				val = v->headers[i].value ? v->headers[i].value : v->headers[i].raw;
		char ip[64], syn[96];
		if (!val || !rules_relay_find_ip(rl, val, ip, sizeof ip))
			continue;
		snprintf(syn, sizeof syn, "from X-Originating-IP: %s", ip);
		add_header(rl, &t, syn);
	}
	rl->ntrusted = 0;
	for (size_t i = 0; i < rl->n; i++)
		rl->ntrusted += rl->r[i].trusted;
}

const struct relays *rules_relays_get(struct rules_scratch *s, const struct msg_view *v)
{
	if (!s->relays_done) {
		s->relays_done = 1;
		if (!s->relays)
			s->relays = rules_relays_new();
		if (s->relays)
			rules_relays_analyse(s->relays, v);
	}
	return s->relays;
}

void rules_relays_text(const struct relays *rl, enum relay_set which, struct buf *out)
{
	int any = 0;
	for (size_t i = 0; rl && i < rl->n; i++) {
		const struct relay *r = &rl->r[i];
		int in = which == RELAYS_TRUSTED ? r->trusted : which == RELAYS_UNTRUSTED ? !r->trusted
			 : which == RELAYS_INTERNAL ? r->internal : !r->internal;
		if (!in)
			continue;
		if (any++)
			buf_putc(out, ' ');
		rules_relay_string(r, r->internal, out);
	}
}

/* ---- RelayEval --------------------------------------------------------- */

static const struct relays *relays_of(struct eval_ctx *c)
{
	return rules_relays_get(c->s, c->v);
}

/* SpamAssassin's IS_IPV4_ADDRESS: four decimal octets, nothing else. */
static int is_ipv4(const char *s)
{
	for (int k = 0; k < 4; k++) {
		int n = 0, v = 0;
		if (s[0] == '0' && isdigit((unsigned char)s[1]))
			return 0;
		while (isdigit((unsigned char)*s) && n < 4) {
			v = v * 10 + (*s++ - '0');
			n++;
		}
		if (!n || n > 3 || v > 255 || *s != (k < 3 ? '.' : '\0'))
			return 0;
		s++;
	}
	return 1;
}

int rules_ev_helo_ip_mismatch(struct eval_ctx *c, const struct eval_args *a)
{
	(void)a;
	const struct relays *rl = relays_of(c);
	for (size_t i = 0; rl && i < rl->n; i++) {
		const struct relay *r = &rl->r[i];
		if (r->trusted || !is_ipv4(r->helo) || rules_relay_private4(r->helo))
			continue;
		if (!is_ipv4(r->ip) || r->priv || strcmp(r->helo, r->ip) == 0)
			continue;
		/* a different address in the same /24 is fine */
		const char *d = strrchr(r->helo, '.');
		size_t n = (size_t)(d - r->helo) + 1;
		if (strncmp(r->ip, r->helo, n) != 0)
			return 1;
	}
	return 0;
}

static int dotcom_helo(const char *helo)
{
	static const char *const doms[] = {"lycos.com", "lycos.co.uk", "hotmail.com", "localhost.com",
					   "excite.com", "caramail.com", "cs.com", "aol.com",
					   "msn.com", "yahoo.com", "drizzle.com"};
	size_t n = strlen(helo);
	for (size_t i = 0; i < sizeof doms / sizeof doms[0]; i++) {
		size_t d = strlen(doms[i]);
		if (n >= d && strcasecmp(helo + n - d, doms[i]) == 0 && (n == d || helo[n - d - 1] == '.'))
			return 1;
	}
	return 0;
}

/* As RelayEval's _check_received_helos: only the oldest public untrusted
 * relay decides (the flag is reset on each one). */
int rules_ev_no_rdns_dotcom_helo(struct eval_ctx *c, const struct eval_args *a)
{
	(void)a;
	const struct relays *rl = relays_of(c);
	int hit = 0;
	for (size_t i = 0; rl && i < rl->n; i++) {
		const struct relay *r = &rl->r[i];
		if (r->trusted || r->priv)
			continue;
		hit = dotcom_helo(r->helo) && r->no_rdns;
	}
	return hit;
}

int rules_ev_relays_unparseable(struct eval_ctx *c, const struct eval_args *a)
{
	(void)a;
	const struct relays *rl = relays_of(c);
	return rl && rl->unparseable > 0;
}

int rules_ev_no_relays(struct eval_ctx *c, const struct eval_args *a)
{
	(void)a;
	const struct relays *rl = relays_of(c);
	return rl && rl->n == 0 && rl->unparseable == 0;
}

int rules_ev_all_trusted(struct eval_ctx *c, const struct eval_args *a)
{
	(void)a;
	const struct relays *rl = relays_of(c);
	return rl && rl->ntrusted > 0 && rl->ntrusted == rl->n && rl->unparseable == 0;
}

/* RelayEval's hostname_to_domain, on a lower-cased name. */
static void host_domain(const char *h, char *out, size_t cap)
{
	int alpha = 0;
	for (const char *p = h; *p; p++)
		alpha |= isalpha((unsigned char)*p);
	size_t n = strlen(h);
	while (n && h[n - 1] == '.')  /* Perl's split drops trailing empty fields */
		n--;
	size_t dots = 0, d1 = n, d2 = n;  /* last and second-to-last dot */
	for (size_t i = 0; i < n; i++)
		if (h[i] == '.') {
			dots++;
			d2 = d1;
			d1 = i;
		}
	if (!alpha) {
		snprintf(out, cap, "%s", h);
		return;
	}
	const char *last = dots ? h + d1 + 1 : h;
	size_t ll = (size_t)(h + n - last);
	int long_tld = 0;
	for (size_t i = 0, run = 0; i < ll; i++) {
		run = isspace((unsigned char)last[i]) ? 0 : run + 1;
		long_tld |= run >= 3;
	}
	for (size_t i = 0; i + 1 < ll; i++)
		long_tld |= !strncmp(last + i, "ie", 2) || !strncmp(last + i, "fr", 2) || !strncmp(last + i, "de", 2);
	if (dots >= 1 && long_tld)
		snprintf(out, cap, "%.*s", (int)(n - (dots >= 2 ? d2 + 1 : 0)), h + (dots >= 2 ? d2 + 1 : 0));
	else if (dots >= 2) {
		size_t d3 = 0;
		int seen = 0;
		for (size_t i = n; i-- > 0;)
			if (h[i] == '.' && ++seen == 3) {
				d3 = i + 1;
				break;
			}
		snprintf(out, cap, "%.*s", (int)(n - d3), h + d3);
	} else {
		snprintf(out, cap, "%s", h);
	}
}

static void lower_copy(const char *s, char *out, size_t cap)
{
	size_t i = 0;
	for (; s[i] && i + 1 < cap; i++)
		out[i] = (char)tolower((unsigned char)s[i]);
	out[i] = '\0';
}

/* /^\w+(?:[\w.-]+\.)+\w+$/ */
static int hostish(const char *s)
{
	size_t n = strlen(s);
	const char *d = strrchr(s, '.');
	if (!n || !d || d - s < 2 || !d[1] || !(isalnum((unsigned char)s[0]) || s[0] == '_'))
		return 0;
	for (const char *p = s; *p; p++)
		if (!isalnum((unsigned char)*p) && *p != '_' && ((p < d && *p != '.' && *p != '-') || p > d))
			return 0;
	return 1;
}

/* FORGED_RCVD_TRAIL: an untrusted relay's "by" is not the domain the next
 * newer relay saw it come from, more than once. */
int rules_ev_forged_received_trail(struct eval_ctx *c, const struct eval_args *a)
{
	(void)a;
	const struct relays *rl = relays_of(c);
	char by[RELAY_FIELD], from[RELAY_FIELD], prev[RELAY_FIELD], tmp[RELAY_FIELD];
	unsigned mismatch = 0;
	int have_prev = 0;
	for (size_t i = 0, k = 0; rl && i < rl->n; i++) {
		const struct relay *r = &rl->r[i];
		if (r->trusted)
			continue;
		lower_copy(r->by, tmp, sizeof tmp);
		host_domain(tmp, by, sizeof by);
		lower_copy(r->rdns, tmp, sizeof tmp);
		host_domain(tmp, from, sizeof from);
		int from_def = 1;
		if (hostish(by)) {
			if (!strcmp(from, "localhost") || !strcmp(from, "localhost.localdomain"))
				from_def = strcmp(r->ip, "127.0.0.1") != 0;
			if (k > 0 && have_prev && hostish(prev) && strcmp(by, prev) != 0 &&
			    !(strcmp(by, "msn.com") == 0 && strcmp(prev, "hotmail.com") == 0))
				mismatch++;
		}
		snprintf(prev, sizeof prev, "%s", from);
		have_prev = from_def;
		k++;
	}
	return mismatch > 1;
}
