/* The table of native eval: functions: the SpamAssassin HeaderEval/BodyEval/MIMEEval/
 * HTMLEval tests that carry weight in the stock rules (missing To, subject
 * in capitals, shifted dates, forged Outlook Message-IDs, recipient lists,
 * capitals ratio, HTML-only mail, HTML tags) implemented as SpamAssassin
 * does them. Functions not listed are skipped and counted at load;
 * network tests are counted apart. */
#include "filter/rules_int.h"

#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- the table --------------------------------------------------------- */

/* AC_RE: strings, the last one a regular expression when there are max_args */
/* AC_HTML_TEXT: 'title', 'comment' or 'anchor', then a regular expression */
enum argcheck { AC_NONE, AC_HTML_TEST, AC_TAG, AC_HTML_LEN, AC_MIME, AC_RE, AC_HTML_TEXT };

static const struct eval_def {
	const char *name;
	eval_fn fn;
	int min_args, max_args;
	enum argcheck check;
} evals[] = {
	{"check_for_missing_to_header", rules_ev_missing_to, 0, 0, AC_NONE},
	{"subject_is_all_caps", rules_ev_subject_caps, 0, 0, AC_NONE},
	{"check_for_to_in_subject", rules_ev_to_in_subject, 1, 1, AC_NONE},
	{"check_illegal_chars", rules_ev_illegal_chars, 3, 3, AC_NONE},
	{"check_header_count_range", rules_ev_header_count, 3, 3, AC_NONE},
	{"check_outlook_message_id", rules_ev_outlook_msgid, 0, 0, AC_NONE},
	{"check_unresolved_template", rules_ev_unresolved_template, 0, 0, AC_NONE},
	{"sorted_recipients", rules_ev_sorted_recips, 0, 0, AC_NONE},
	{"similar_recipients", rules_ev_similar_recips, 2, 2, AC_NONE},
	{"check_for_shifted_date", rules_ev_shifted_date, 2, 2, AC_NONE},
	/* ok_locales/ok_languages default to "all": these never fire */
	{"check_for_faraway_charset_in_headers", rules_ev_false, 0, 0, AC_NONE},
	{"check_for_faraway_charset", rules_ev_false, 0, 0, AC_NONE},
	/* RelayEval (rules_relays_eval.c) */
	{"check_all_trusted", rules_ev_all_trusted, 0, 0, AC_NONE},
	{"check_no_relays", rules_ev_no_relays, 0, 0, AC_NONE},
	{"check_relays_unparseable", rules_ev_relays_unparseable, 0, 0, AC_NONE},
	{"helo_ip_mismatch", rules_ev_helo_ip_mismatch, 0, 0, AC_NONE},
	{"check_for_no_rdns_dotcom_helo", rules_ev_no_rdns_dotcom_helo, 0, 0, AC_NONE},
	{"check_for_forged_received_trail", rules_ev_forged_received_trail, 0, 0, AC_NONE},
	{"check_equal_from_domains", rules_ev_equal_from_domains, 0, 0, AC_NONE},
	{"check_for_matching_env_and_hdr_from", rules_ev_env_hdr_from_match, 0, 0, AC_NONE},
	{"check_ratware_name_id", rules_ev_ratware_name_id, 0, 0, AC_NONE},
	{"check_ratware_envelope_from", rules_ev_ratware_envfrom, 0, 0, AC_NONE},
	{"check_for_uppercase", rules_ev_uppercase, 2, 2, AC_NONE},
	{"check_body_length", rules_ev_body_length, 1, 1, AC_NONE},
	{"check_for_mime_html", rules_ev_mime_html, 0, 0, AC_NONE},
	{"check_for_mime_html_only", rules_ev_mime_html_only, 0, 0, AC_NONE},
	{"check_for_mime", rules_ev_check_for_mime2, 1, 1, AC_MIME},
	{"html_test", rules_ev_html_test, 1, 1, AC_HTML_TEST},
	{"html_tag_exists", rules_ev_html_tag_exists, 1, 1, AC_TAG},
	{"html_tag_balance", rules_ev_html_tag_balance, 2, 2, AC_TAG},
	/* 'length' is HTML.pm's: the HTML source length of a part
	 * (rules_eval_mime.c) */
	{"html_eval", rules_ev_html_length_eval, 2, 2, AC_HTML_LEN},
	{"html_range", rules_ev_html_length_range, 3, 3, AC_HTML_LEN},
	/* Received-based HeaderEval (rules_eval_rcvd.c) */
	{"check_for_fake_aol_relay_in_rcvd", rules_ev_fake_aol_relay, 0, 0, AC_NONE},
	{"gated_through_received_hdr_remover", rules_ev_gated_rcvd_remover, 0, 0, AC_NONE},
	{"check_for_forged_hotmail_received_headers", rules_ev_forged_hotmail, 0, 0, AC_NONE},
	{"check_for_no_hotmail_received_headers", rules_ev_no_hotmail, 0, 0, AC_NONE},
	{"check_for_forged_eudoramail_received_headers", rules_ev_forged_eudoramail, 0, 0, AC_NONE},
	{"check_for_forged_yahoo_received_headers", rules_ev_forged_yahoo, 0, 0, AC_NONE},
	{"check_for_forged_juno_received_headers", rules_ev_forged_juno, 0, 0, AC_NONE},
	{"check_for_forged_gmail_received_headers", rules_ev_forged_gmail, 0, 0, AC_NONE},
	/* BodyEval/MIMEEval/HTMLEval over the parts (rules_eval_mime.c) */
	{"multipart_alternative_difference", rules_ev_madiff, 2, 2, AC_NONE},
	{"multipart_alternative_difference_count", rules_ev_madiff_count, 2, 2, AC_NONE},
	{"tvd_vertical_words", rules_ev_tvd_vertical_words, 2, 2, AC_NONE},
	{"check_blank_line_ratio", rules_ev_blank_line_ratio, 2, 3, AC_NONE},
	{"check_ma_non_text", rules_ev_ma_non_text, 0, 0, AC_NONE},
	{"check_base64_length", rules_ev_base64_length, 1, 2, AC_NONE},
	{"check_mime_multipart_ratio", rules_ev_mime_multipart_ratio, 2, 2, AC_NONE},
	{"html_title_subject_ratio", rules_ev_html_title_subject_ratio, 1, 1, AC_NONE},
	{"html_text_match", rules_ev_html_text_match, 2, 2, AC_HTML_TEXT},
	{"html_image_only", rules_ev_html_image_only, 2, 2, AC_NONE},
	/* rampart's own, for rules/ */
	{"check_replyto_domain_differs", rules_ev_replyto_differs, 0, 0, AC_NONE},
	{"check_from_name_addr_mismatch", rules_ev_from_name_mismatch, 0, 0, AC_NONE},
	/* FreeMail plugin (rules_freemail.c) */
	{"check_freemail_from", rules_ev_freemail_from, 0, 1, AC_RE},
	{"check_freemail_header", rules_ev_freemail_header, 1, 2, AC_RE},
	{"check_freemail_replyto", rules_ev_freemail_replyto, 0, 1, AC_NONE},
};

/* Network tests (DNS blocklists, hash services, sender authentication)
 * belong to other layers of rampart. */
static const char *const net_prefixes[] = {
	"check_rbl", "check_dns", "check_uridnsbl", "check_razor", "check_pyzor", "check_dcc",
	"check_spf", "check_for_spf", "check_for_def_spf", "check_dkim", "check_for_dkim",
	"check_for_def_dkim", "check_arc", "check_dmarc", "check_hashbl", "askdns",
	"check_access_database", "check_senders_reputation", "check_from_in_auto",
};

int rules_eval_lookup(const char *fn, enum eval_kind *kind)
{
	for (size_t i = 0; i < sizeof evals / sizeof evals[0]; i++)
		if (strcmp(evals[i].name, fn) == 0) {
			*kind = EVK_NATIVE;
			return (int)i;
		}
	*kind = EVK_UNKNOWN;
	for (size_t i = 0; i < sizeof net_prefixes / sizeof net_prefixes[0]; i++)
		if (strncmp(fn, net_prefixes[i], strlen(net_prefixes[i])) == 0)
			*kind = EVK_NET;
	return -1;
}

static int parse_args(const char *s, struct eval_args *a, struct err *e)
{
	memset(a, 0, sizeof *a);
	for (;;) {
		while (isspace((unsigned char)*s))
			s++;
		if (!*s)
			return 0;
		if (a->n >= RULES_MAX_EVAL_ARGS)
			return err_set(e, "too many arguments");
		const char *st;
		size_t n;
		if (*s == '\'' || *s == '"') {
			char q = *s++;
			st = s;
			while (*s && *s != q)
				s++;
			if (!*s)
				return err_set(e, "unterminated string");
			n = (size_t)(s - st);
			s++;
		} else {
			st = s;
			while (*s && *s != ',' && !isspace((unsigned char)*s))
				s++;
			n = (size_t)(s - st);
		}
		/* SpamAssassin's rules write undef bare or quoted ('undef') */
		int undef = n == 5 && strncmp(st, "undef", 5) == 0;
		a->s[a->n] = undef ? NULL : strndup(st, n);
		if (!undef && !a->s[a->n])
			return err_set(e, "out of memory");
		char *end;
		a->d[a->n] = undef ? NAN : strtod(a->s[a->n], &end);
		if (!undef && (end == a->s[a->n] || *end))
			a->d[a->n] = NAN;
		a->n++;
		while (isspace((unsigned char)*s))
			s++;
		if (*s == ',')
			s++;
		else if (*s)
			return err_set(e, "expected ',' in arguments");
	}
}

/* The last argument as a PCRE2 pattern (FreeMail's optional filter). */
static int compile_re_arg(struct eval_args *a, struct err *e)
{
	int ec;
	PCRE2_SIZE off;
	const char *re = a->s[a->n - 1];
	a->re = pcre2_compile((PCRE2_SPTR)re, PCRE2_ZERO_TERMINATED, PCRE2_UTF | PCRE2_MATCH_INVALID_UTF,
			      &ec, &off, NULL);
	if (!a->re) {
		PCRE2_UCHAR msg[128];
		pcre2_get_error_message(ec, msg, sizeof msg);
		return err_set(e, "bad regular expression at %zu: %s", (size_t)off, (char *)msg);
	}
	return 0;
}

int rules_eval_prepare(int fn, const char *args, struct eval_args *out, struct err *e)
{
	const struct eval_def *d = &evals[fn];
	if (parse_args(args, out, e) < 0)
		return -1;
	if (out->n < d->min_args || out->n > d->max_args)
		return err_set(e, "takes %d to %d arguments", d->min_args, d->max_args);
	for (int i = 0; i < out->n; i++)
		if (!out->s[i] && !(fn >= 0 && (d->fn == rules_ev_similar_recips || d->fn == rules_ev_shifted_date ||
						   d->fn == rules_ev_madiff)))
			return err_set(e, "undef argument");
	switch (d->check) {
	case AC_HTML_TEST:
		return strcmp(out->s[0], "html") == 0 ? 0 : 1;
	case AC_TAG: {
		int t = rules_html_tag_index(out->s[0], strlen(out->s[0]));
		if (t < 0)
			return 1;
		out->d[0] = t;
		return 0;
	}
	case AC_HTML_LEN:
		return strcmp(out->s[0], "length") == 0 ? 0 : 1;
	case AC_MIME:
		for (size_t i = 0; i < RULES_MIME_TESTS; i++)
			if (strcmp(out->s[0], rules_mime_tests[i]) == 0)
				return 0;
		return strcmp(out->s[0], "mime_base64_encoded_text") == 0 ? 0 : 1;
	case AC_RE:
		return out->n == d->max_args ? compile_re_arg(out, e) : 0;
	case AC_HTML_TEXT:
		if (strcmp(out->s[0], "title") != 0 && strcmp(out->s[0], "comment") != 0 &&
		    strcmp(out->s[0], "anchor") != 0)
			return 1;
		return compile_re_arg(out, e);
	case AC_NONE:
		break;
	}
	for (int i = 0; i < out->n; i++)
		if (d->fn != rules_ev_illegal_chars && d->fn != rules_ev_header_count &&
		    d->fn != rules_ev_to_in_subject && d->fn != rules_ev_freemail_replyto && out->s[i] && isnan(out->d[i]))
			return err_set(e, "argument %d is not a number", i + 1);
	return 0;
}

void rules_eval_args_free(struct eval_args *a)
{
	for (int i = 0; i < a->n; i++)
		free(a->s[i]);
	if (a->re)
		pcre2_code_free(a->re);
	memset(a, 0, sizeof *a);
}

int rules_eval_run(int fn, struct eval_ctx *c, const struct eval_args *a)
{
	if (fn < 0 || (size_t)fn >= sizeof evals / sizeof evals[0])
		return 0;
	return evals[fn].fn(c, a);
}

/* ---- plugins and capabilities ------------------------------------------ */

int rules_plugin_known(const char *name)
{
	static const char *const known[] = {"Check",    "ReplaceTags", "HeaderEval", "BodyEval",
					    "MIMEEval", "HTMLEval",    "RelayEval",  "URIEval",
					    "FreeMail"};
	static const char prefix[] = "Mail::SpamAssassin::Plugin::";
	if (strncmp(name, prefix, sizeof prefix - 1) == 0)
		name += sizeof prefix - 1;
	size_t n = strcspn(name, " \t");
	for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
		if (strlen(known[i]) == n && strncmp(name, known[i], n) == 0)
			return 1;
	return 0;
}

int rules_can(const char *name)
{
	static const char *const can[] = {
		"Mail::SpamAssassin::Conf::feature_bug6558_free",
		"Mail::SpamAssassin::Conf::perl_min_version_5010000",
		"Mail::SpamAssassin::Conf::feature_registryboundaries",
		"Mail::SpamAssassin::Conf::feature_welcomelist_blocklist",
		"Mail::SpamAssassin::Plugin::BodyEval::has_check_body_length",
	};
	for (size_t i = 0; i < sizeof can / sizeof can[0]; i++)
		if (strcmp(name, can[i]) == 0)
			return 1;
	return 0;
}
