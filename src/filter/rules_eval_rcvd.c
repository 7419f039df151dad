/* Native ports of SpamAssassin's Received-based HeaderEval tests (4.0.1,
 * Plugin/HeaderEval.pm): forged Yahoo!, Hotmail, Gmail, Juno and
 * Eudoramail trails, fake AOL relays, and the "gated through a Received
 * remover" exemption they share. The Perl runs regular expressions over
 * the Received headers joined (whitespace collapsed for most); so do we,
 * with the same patterns in PCRE2, compiled once per process. */
#include "filter/rules_int.h"

#include <ctype.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/log.h"

/* Dotted IPv4 or a loose IPv6 form: SpamAssassin's IP_ADDRESS, narrowed
 * to what a Received header shows. */
#define O4 "(?:1\\d\\d|2[0-4]\\d|25[0-5]|[1-9]\\d|\\d)"
#define IP                                                                 \
	"(?:\\b(?<!:)" O4 "\\." O4 "\\." O4 "\\." O4 "\\b|(?i:IPv6:)?(?<![a-fA-F0-9:])" \
	"(?:[a-fA-F0-9]{0,4}:){2,7}[a-fA-F0-9]{1,4}(?![a-fA-F0-9:]))"

#define RCVD_MAX (64u << 10)       /* joined Received text read */
#define RCVD_MATCH_LIMIT 200000
#define RCVD_DEPTH_LIMIT 5000

enum {
	P_AOL_RLY, P_AOL_VIA, P_AOL_ID,
	P_EZMLM, P_EZ_DLTO, P_EZ_QMAIL, P_MSN_GATE,
	P_HM_PICKUP, P_HM_1, P_HM_2, P_HM_3, P_HM_4, P_HM_5, P_HM_6, P_HM_HELO, P_HM_ORIG,
	P_Y_TRUST, P_Y_UNTRUST, P_Y_1, P_Y_2, P_Y_3, P_Y_4, P_Y_BULK, P_Y_REPLY, P_Y_5,
	P_J_1, P_J_2, P_J_3, P_J_XM, P_J_4, P_J_WXM, P_IP,
	P_G_1, P_G_2, P_G_3, P_EU, P_MSN_PICKUP,
	P_FROM_YAHOO, P_FROM_HOTMAIL, P_FROM_JUNO, P_FROM_GMAIL, P_FROM_EUDORA,
	NPAT
};

static const struct {
	const char *re;
	unsigned opts;
} pats[NPAT] = {
	[P_AOL_RLY] = {" rly-[a-z][a-z]\\d\\d\\.", PCRE2_CASELESS},
	[P_AOL_VIA] = {"/AOL-\\d+\\.\\d+\\.\\d+\\)", 0},
	[P_AOL_ID] = {"ESMTP id (?:RELAY|MAILRELAY|MAILIN)", 0},
	[P_EZMLM] = {"^contact \\S+@\\S+; run by ezmlm$", PCRE2_MULTILINE},
	[P_EZ_DLTO] = {"^mailing list \\S+@\\S+", PCRE2_MULTILINE},
	[P_EZ_QMAIL] = {"qmail \\d+ invoked (?:from network|by .{3,20})\\); \\d+ ... \\d+", 0},
	[P_MSN_GATE] = {"from groups\\.msn\\.com \\(\\S+\\.msn\\.com ", 0},
	[P_HM_PICKUP] = {"from mail pickup service by hotmail\\.com with Microsoft SMTPSVC;", 0},
	[P_HM_1] = {"from (?:\\S*\\.)?hotmail.com \\(\\S+\\.hotmail(?:\\.msn)?\\.com[ \\)]", 0},
	[P_HM_2] = {"from \\S*\\.outbound\\.protection\\.outlook\\.com "
		    "\\(\\S+\\.outbound\\.protection\\.outlook\\.com[ \\)]", 0},
	[P_HM_3] = {"from \\S*\\.(?:eur|nam)prd\\d+\\.prod\\.outlook\\.com \\(" IP "\\)", 0},
	[P_HM_4] = {"from \\S*\\.hotmail.com \\(\\[" IP "\\][ \\):]", 0},
	[P_HM_5] = {"from \\S+ by \\S+\\.hotmail(?:\\.msn)?\\.com with HTTP;", 0},
	[P_HM_6] = {"from \\[66\\.218.\\S+\\] by \\S+\\.yahoo\\.com", 0},
	[P_HM_HELO] = {"(?:from |HELO |helo=)\\S*hotmail\\.com\\b", 0},
	[P_HM_ORIG] = {"hotmail\\.com|msonline\\-outlook", 0},
	[P_Y_TRUST] = {" rdns=\\S+\\.yahoo\\.com ", 0},
	[P_Y_UNTRUST] = {"^[^\\]]+ rdns=\\S+\\.yahoo\\.com ", 0},
	[P_Y_1] = {"by web\\S+\\.mail\\S*\\.yahoo\\.com via HTTP", 0},
	[P_Y_2] = {"by sonic\\S+\\.consmr\\.mail\\S*\\.yahoo\\.com with HTTP", 0},
	[P_Y_3] = {"by smtp\\S+\\.yahoo\\.com with SMTP", 0},
	[P_Y_4] = {"from \\[" IP "\\] by \\S+\\.(?:groups|scd|dcn)\\.yahoo\\.com with NNFMP", 0},
	[P_Y_BULK] = {"\\bmailer\\d+\\.bulk\\.scd\\.yahoo\\.com\\b", 0},
	[P_Y_REPLY] = {"@reply\\.yahoo\\.com$", PCRE2_CASELESS},
	[P_Y_5] = {"by \\w+\\.\\w+\\.yahoo\\.com \\(\\d+\\.\\d+\\.\\d+/\\d+\\.\\d+\\.\\d+\\)"
		   "(?: with ESMTP)? id \\w+", 0},
	[P_J_1] = {"from.*\\b(?:juno|untd)\\.com.*[\\[\\(]" IP "[\\]\\)].*by", 0},
	[P_J_2] = {" cookie\\.(?:juno|untd)\\.com ", 0},
	[P_J_3] = {"from.*\\bmail\\.com.*\\[" IP "\\].*by", 0},
	[P_J_XM] = {"\\bmail\\.com", 0},
	[P_J_4] = {"from (webmail\\S+\\.untd\\.com) \\(\\1 \\[" IP "\\]\\) by", 0},
	[P_J_WXM] = {"^Webmail Version \\d", 0},
	[P_IP] = {IP, 0},
	[P_G_1] = {"by 10\\.\\S+ with SMTP id \\S+", 0},
	[P_G_2] = {"by 2002:a\\d\\d:\\w+:\\S+ with SMTP id \\S+", 0},
	[P_G_3] = {"by smtp\\.googlemail\\.com with ESMTPSA id \\S+", 0},
	[P_EU] = {"by \\S*whowhere.com;", 0},
	[P_MSN_PICKUP] = {"from mail pickup service by ((?:p\\d\\d\\.)groups\\.msn\\.com)\\b", 0},
	[P_FROM_YAHOO] = {"\\byahoo\\.com$", PCRE2_CASELESS},
	[P_FROM_HOTMAIL] = {"\\bhotmail\\.com$", PCRE2_CASELESS},
	[P_FROM_JUNO] = {"\\bjuno\\.com$", PCRE2_CASELESS},
	[P_FROM_GMAIL] = {"\\bgmail\\.com$", PCRE2_CASELESS},
	[P_FROM_EUDORA] = {"\\beudoramail\\.com$", PCRE2_CASELESS},
};

static struct {
	pcre2_code *c[NPAT];
	pcre2_match_context *mctx;
	int ok;
} rc;
static pthread_once_t rc_once = PTHREAD_ONCE_INIT;

static void rcvd_compile(void)
{
	rc.ok = 1;
	for (size_t i = 0; i < NPAT; i++) {
		int ec;
		PCRE2_SIZE off;
		rc.c[i] = pcre2_compile((PCRE2_SPTR)pats[i].re, PCRE2_ZERO_TERMINATED, pats[i].opts, &ec,
					&off, NULL);
		if (!rc.c[i]) {
			log_error("rules: Received eval pattern %zu does not compile at %zu", i, (size_t)off);
			rc.ok = 0;
			continue;
		}
		pcre2_jit_compile(rc.c[i], PCRE2_JIT_COMPLETE);
	}
	rc.mctx = pcre2_match_context_create(NULL);
	if (!rc.mctx) {
		rc.ok = 0;
		return;
	}
	pcre2_set_match_limit(rc.mctx, RCVD_MATCH_LIMIT);
	pcre2_set_depth_limit(rc.mctx, RCVD_DEPTH_LIMIT);
}

int rules_eval_rcvd_ready(void)
{
	pthread_once(&rc_once, rcvd_compile);
	return rc.ok;
}

/* Pattern p matches s; a pattern that failed to compile or hit a limit
 * counts as no match. Capture group 1 into cap when asked. */
static int mcap(int p, const char *s, char *cap, size_t capn)
{
	if (!s || !rc.c[p])
		return 0;
	pcre2_match_data *md = pcre2_match_data_create(4, NULL);
	if (!md)
		return 0;
	int r = pcre2_match(rc.c[p], (PCRE2_SPTR)s, strlen(s), 0, 0, md, rc.mctx);
	if (r > 1 && cap) {
		PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
		size_t n = ov[3] - ov[2];
		if (n >= capn)
			n = capn - 1;
		memcpy(cap, s + ov[2], n);
		cap[n] = '\0';
	}
	pcre2_match_data_free(md);
	return r > 0;
}

static int m(int p, const char *s)
{
	return mcap(p, s, NULL, 0);
}

/* $pms->get(name): every value of the header, each ending in a newline
 * (out left empty when absent); returns the number of headers. */
static size_t hdr_all(const struct msg_view *v, const char *name, struct buf *out)
{
	size_t n = 0;
	buf_init(out, RCVD_MAX);
	buf_puts(out, "");
	for (size_t i = 0; i < v->nheaders; i++)
		if (v->headers[i].name && strcasecmp(v->headers[i].name, name) == 0) {
			buf_puts(out, v->headers[i].value ? v->headers[i].value : "");
			buf_putc(out, '\n');
			n++;
		}
	return n;
}

/* s/\s+/ /gs in place. */
static void collapse(struct buf *b)
{
	size_t o = 0;
	for (size_t i = 0; i < b->len; i++) {
		if (isspace((unsigned char)b->data[i])) {
			if (o && b->data[o - 1] == ' ')
				continue;
			b->data[o++] = ' ';
		} else {
			b->data[o++] = b->data[i];
		}
	}
	b->len = o;
	if (b->data)
		b->data[o] = '\0';
}

static const char *hval(const struct msg_view *v, const char *name)
{
	const char *s = rules_header_first(v, name, 0);
	return s ? s : "";
}

static void from_addr(const struct msg_view *v, char *out, size_t n)
{
	out[0] = '\0';
	const char *f = rules_header_first(v, "From", 1);
	if (f)
		rules_addr_first(f, out, n);
}

int rules_ev_fake_aol_relay(struct eval_ctx *c, const struct eval_args *a)
{
	(void)a;
	int any = 0;
	for (size_t i = 0; i < c->v->nheaders && !any; i++)
		any = c->v->headers[i].name && strcasecmp(c->v->headers[i].name, "Received") == 0 &&
		      c->v->headers[i].value && strcasestr(c->v->headers[i].value, "rly-");
	if (!any || !rules_eval_rcvd_ready())
		return 0;
	struct buf r;
	hdr_all(c->v, "Received", &r);
	collapse(&r);
	int hit = m(P_AOL_RLY, r.data) && !m(P_AOL_VIA, r.data) && !m(P_AOL_ID, r.data);
	buf_free(&r);
	return hit;
}

/* MSN Groups hand Hotmail mail on with its Received headers removed. */
static int msn_groups(struct eval_ctx *c, const char *rcvd)
{
	const char *to = hval(c->v, "To");
	const char *lt = strchr(to, '<'), *at = lt ? strcasestr(lt, "@groups.msn.com>") : NULL;
	char list[128], server[128];
	if (!at || at - lt - 1 <= 0 || (size_t)(at - lt - 1) >= sizeof list)
		return 0;
	memcpy(list, lt + 1, (size_t)(at - lt - 1));
	list[at - lt - 1] = '\0';
	if (strpbrk(list, " \t\n<") || !mcap(P_MSN_PICKUP, rcvd, server, sizeof server))
		return 0;
	const char *mid = hval(c->v, "Message-Id");
	char want[300];
	if (strcmp(list, "notifications") == 0) {
		const char *atm = strchr(mid, '@');
		snprintf(want, sizeof want, "@%s>", server);
		return mid[0] == '<' && atm && atm > mid + 1 && strncmp(atm, want, strlen(want)) == 0;
	}
	snprintf(want, sizeof want, "<%s-", list);
	if (strncmp(mid, want, strlen(want)) != 0 || !strstr(mid, "@groups.msn.com>"))
		return 0;
	char env[256];
	const char *mf = c->env && c->env->mail_from && *c->env->mail_from ? c->env->mail_from
									  : rules_header_first(c->v, "Return-Path", 1);
	env[0] = '\0';
	if (mf)
		rules_addr_first(mf, env, sizeof env);
	snprintf(want, sizeof want, "%s-bounce@groups.msn.com", list);
	return strstr(env, want) != NULL;
}

/* gated_through_received_hdr_remover: ezmlm lists and MSN Groups drop
 * Received headers, and without any the forgery tests cannot judge. */
static int gated(struct eval_ctx *c)
{
	struct buf r;
	size_t n = hdr_all(c->v, "Received", &r);
	int hit = 0;
	const char *ml = rules_header_first(c->v, "Mailing-List", 0);
	if (ml && m(P_EZMLM, ml) && m(P_EZ_DLTO, hval(c->v, "Delivered-To")) && m(P_EZ_QMAIL, r.data))
		hit = 1;
	else if (n == 0 || m(P_MSN_GATE, r.data))
		hit = 1;
	buf_free(&r);
	return hit;
}

int rules_ev_gated_rcvd_remover(struct eval_ctx *c, const struct eval_args *a)
{
	(void)a;
	return rules_eval_rcvd_ready() && gated(c);
}

/* _check_for_forged_hotmail_received_headers: both results at once. */
static void hotmail_compute(struct eval_ctx *c)
{
	if (c->c.hotmail_done)
		return;
	c->c.hotmail_done = 1;
	char from[256];
	from_addr(c->v, from, sizeof from);
	struct buf r;
	hdr_all(c->v, "Received", &r);
	/* every verdict needs "hotmail.com" in the trail or the From */
	if (!rules_eval_rcvd_ready() ||
	    (!(r.data && strstr(r.data, "hotmail.com")) && !m(P_FROM_HOTMAIL, from)))
		goto out;
	collapse(&r);
	if (m(P_HM_PICKUP, r.data) || msn_groups(c, r.data) || gated(c))
		goto out;
	const char *xip = rules_header_first(c->v, "X-Originating-Ip", 0);
	const char *xorg = rules_header_first(c->v, "X-OriginatorOrg", 0);
	int ip = xip && m(P_IP, xip), org = xorg && m(P_HM_ORIG, xorg);
	if ((ip && (m(P_HM_1, r.data) || m(P_HM_4, r.data) || m(P_HM_5, r.data) || m(P_HM_6, r.data))) ||
	    (org && (m(P_HM_2, r.data) || m(P_HM_3, r.data))))
		goto out;
	if (m(P_HM_HELO, r.data))
		c->c.hotmail_forged = 1;
	else if (m(P_FROM_HOTMAIL, from))
		c->c.hotmail_none = 1;
out:
	buf_free(&r);
}

int rules_ev_forged_hotmail(struct eval_ctx *c, const struct eval_args *a)
{
	(void)a;
	hotmail_compute(c);
	return c->c.hotmail_forged;
}

int rules_ev_no_hotmail(struct eval_ctx *c, const struct eval_args *a)
{
	(void)a;
	hotmail_compute(c);
	return c->c.hotmail_none;
}

int rules_ev_forged_eudoramail(struct eval_ctx *c, const struct eval_args *a)
{
	(void)a;
	char from[256];
	from_addr(c->v, from, sizeof from);
	if (!rules_eval_rcvd_ready() || !m(P_FROM_EUDORA, from) || gated(c))
		return 0;
	struct buf r;
	hdr_all(c->v, "Received", &r);
	collapse(&r);
	const char *xip = rules_header_first(c->v, "X-Sender-Ip", 0);
	int hit = !(m(P_EU, r.data) && xip && m(P_IP, xip));
	buf_free(&r);
	return hit;
}

/* Bounces from Yahoo!: its rDNS in a trusted relay or the first untrusted. */
static int yahoo_relay(struct eval_ctx *c)
{
	const struct relays *rl = rules_relays_get(c->s, c->v);
	if (!rl)
		return 0;
	struct buf t;
	buf_init(&t, RCVD_MAX);
	rules_relays_text(rl, RELAYS_TRUSTED, &t);
	buf_puts(&t, "");
	int hit = m(P_Y_TRUST, t.data);
	if (!hit) {
		buf_reset(&t);
		rules_relays_text(rl, RELAYS_UNTRUSTED, &t);
		buf_puts(&t, "");
		hit = m(P_Y_UNTRUST, t.data);
	}
	buf_free(&t);
	return hit;
}

int rules_ev_forged_yahoo(struct eval_ctx *c, const struct eval_args *a)
{
	(void)a;
	char from[256];
	from_addr(c->v, from, sizeof from);
	if (!rules_eval_rcvd_ready() || !m(P_FROM_YAHOO, from))
		return 0;
	struct buf r;
	hdr_all(c->v, "Received", &r);
	if (*hval(c->v, "Resent-From") && *hval(c->v, "Resent-To")) {
		struct buf x;
		hdr_all(c->v, "X-Received", &x);
		if (x.len) {
			buf_free(&r);
			r = x;
		} else {
			buf_free(&x);
		}
	}
	collapse(&r);
	int ok = gated(c) || yahoo_relay(c) || m(P_Y_1, r.data) || m(P_Y_2, r.data) ||
		 m(P_Y_3, r.data) || m(P_Y_4, r.data) || (m(P_Y_BULK, r.data) && m(P_Y_REPLY, from)) ||
		 m(P_Y_5, r.data);
	buf_free(&r);
	return !ok;
}

int rules_ev_forged_juno(struct eval_ctx *c, const struct eval_args *a)
{
	(void)a;
	char from[256];
	from_addr(c->v, from, sizeof from);
	if (!rules_eval_rcvd_ready() || !m(P_FROM_JUNO, from) || gated(c))
		return 0;
	struct buf r;
	hdr_all(c->v, "Received", &r);
	buf_puts(&r, "");
	const char *xorig = hval(c->v, "X-Originating-IP");
	const char *xm = hval(c->v, "X-Mailer");
	int hit = 0;
	if (*xorig) {
		hit = (!m(P_J_1, r.data) && !m(P_J_2, r.data)) || !strstr(xm, "Juno ");
	} else {
		if (m(P_J_3, r.data))
			hit = !m(P_J_XM, xm);
		else if (m(P_J_4, r.data))
			hit = !m(P_J_WXM, xm);
		else
			hit = 1;
		hit = hit || !m(P_IP, xorig);
	}
	buf_free(&r);
	return hit;
}

#define GOOGLE_HDR_MIN 60  /* X-Gm-Message-State, X-Google-Smtp-Source */

int rules_ev_forged_gmail(struct eval_ctx *c, const struct eval_args *a)
{
	(void)a;
	char from[256];
	from_addr(c->v, from, sizeof from);
	if (!rules_eval_rcvd_ready() || !m(P_FROM_GMAIL, from))
		return 0;
	struct buf xr, r, gms, gss;
	hdr_all(c->v, "X-Received", &xr);
	hdr_all(c->v, "Received", &r);
	hdr_all(c->v, "X-Gm-Message-State", &gms);
	hdr_all(c->v, "X-Google-Smtp-Source", &gss);
	buf_puts(&xr, "");
	buf_puts(&r, "");
	int ok = m(P_G_1, xr.data) || m(P_G_2, xr.data) || m(P_G_3, r.data) ||
		 (gms.len >= GOOGLE_HDR_MIN && gss.len >= GOOGLE_HDR_MIN);
	buf_free(&xr);
	buf_free(&r);
	buf_free(&gms);
	buf_free(&gss);
	return !ok;
}
