/* SPF through libspf2 with a DNS layer of our own: libspf2 asks, the
 * node's resolver answers (cache, configured servers, timeouts). One
 * libspf2 server object is shared by every scan thread; the resolver and
 * the deadline of the check in progress reach the DNS layer through a
 * thread-local pointer. */
#include "filter/spf.h"

#include "store/config.h"
#include "util/log.h"
#include "util/net.h"
#include "util/timeutil.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <pthread.h>
#include <spf2/spf.h>
#include <spf2/spf_dns.h>
#include <spf2/spf_dns_rr.h>
#include <spf2/spf_log.h>
#include <spf2/spf_record.h>
#include <spf2/spf_request.h>
#include <spf2/spf_response.h>
#include <spf2/spf_server.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* libspf2 bounds mechanisms (10) and MX/PTR names (10 each); this bounds
 * everything else, e.g. explanations and includes of includes. */
#define SPF_MAX_LOOKUPS 60

struct spf_ctx {
	struct dns *dns;
	int64_t deadline_ms;
	int lookups;
};

static __thread struct spf_ctx *tl_ctx;

static int64_t now_ms(void)
{
	return time_mono_us() / 1000;
}

/* ---- the DNS layer ------------------------------------------------- */

static int rr_type_supported(ns_type t)
{
	return t == ns_t_a || t == ns_t_aaaa || t == ns_t_mx || t == ns_t_txt || t == ns_t_ptr;
}

static int herrno_of(enum dns_status s)
{
	switch (s) {
	case DNS_OK:
		return NETDB_SUCCESS;
	case DNS_NXDOMAIN:
		return HOST_NOT_FOUND;
	case DNS_NODATA:
		return NO_DATA;
	default:
		return TRY_AGAIN;
	}
}

/* Copies the answers of r into a libspf2 record set. */
static SPF_dns_rr_t *rr_from_result(SPF_dns_server_t *srv, const char *domain, ns_type type,
				    const struct dns_result *r)
{
	SPF_dns_rr_t *rr =
	    SPF_dns_rr_new_init(srv, domain, type, (int)r->ttl, herrno_of(r->status));
	if (!rr || r->status != DNS_OK)
		return rr;
	int cnt = 0;
	for (int i = 0; i < r->n; i++) {
		const struct dns_answer *a = &r->ans[i];
		size_t len = a->type == DNS_T_A	     ? 4
			     : a->type == DNS_T_AAAA ? 16
						     : (size_t)a->len + 1;
		if (a->type != (int)type || SPF_dns_rr_buf_realloc(rr, cnt, len) != SPF_E_SUCCESS)
			continue;
		if (a->type == DNS_T_A || a->type == DNS_T_AAAA)
			memcpy(rr->rr[cnt], a->addr, len);
		else
			memcpy(rr->rr[cnt], dns_answer_text(r, i), len);
		cnt++;
	}
	rr->num_rr = cnt;
	if (cnt == 0)
		rr->herrno = NO_DATA;
	return rr;
}

static SPF_dns_rr_t *layer_lookup(SPF_dns_server_t *srv, const char *domain, ns_type type,
				  int should_cache)
{
	(void)should_cache; /* our resolver caches every answer by its TTL */
	struct spf_ctx *c = tl_ctx;
	/* type SPF (99) is obsolete (RFC 7208): no query, libspf2 then asks TXT */
	if (!c || !rr_type_supported(type))
		return SPF_dns_rr_new_init(srv, domain, type, 0, NO_DATA);
	/* a name that cannot exist (macro expansion of hostile input) */
	if (!dns_name_valid(domain))
		return SPF_dns_rr_new_init(srv, domain, type, 0, HOST_NOT_FOUND);
	int64_t left = c->deadline_ms - now_ms();
	if (left <= 0 || ++c->lookups > SPF_MAX_LOOKUPS)
		return SPF_dns_rr_new_init(srv, domain, type, 0, TRY_AGAIN);
	struct dns_result *r = malloc(sizeof *r);
	if (!r)
		return SPF_dns_rr_new_init(srv, domain, type, 0, TRY_AGAIN);
	dns_lookup_sync(c->dns, (int)type, domain, (int)left, r);
	SPF_dns_rr_t *rr = rr_from_result(srv, domain, type, r);
	free(r);
	return rr;
}

/* libspf2's messages are about the records it reads: untrusted text. */
static void spf_log_debug(const char *file, int line, const char *msg)
{
	(void)file;
	(void)line;
	log_debug("spf: libspf2: %s", log_esc(msg));
}

static SPF_server_t *shared_server;

static void server_init(void)
{
	SPF_warning_handler = spf_log_debug;
	SPF_info_handler = spf_log_debug;
	SPF_debug_handler = spf_log_debug;
	SPF_dns_server_t *layer = calloc(1, sizeof *layer);
	if (!layer)
		return;
	layer->lookup = layer_lookup;
	layer->name = "rampart";
	layer->destroy = NULL; /* shared for the life of the process */
	shared_server = SPF_server_new_dns(layer, 0);
	if (!shared_server)
		log_error("spf: cannot create the libspf2 server");
}

static SPF_server_t *server_get(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	pthread_once(&once, server_init);
	return shared_server;
}

/* ---- the check ------------------------------------------------------ */

static enum spf_outcome outcome_of(SPF_result_t r)
{
	switch (r) {
	case SPF_RESULT_PASS:
		return SPF_OUT_PASS;
	case SPF_RESULT_FAIL:
		return SPF_OUT_FAIL;
	case SPF_RESULT_SOFTFAIL:
		return SPF_OUT_SOFTFAIL;
	case SPF_RESULT_NEUTRAL:
		return SPF_OUT_NEUTRAL;
	case SPF_RESULT_TEMPERROR:
		return SPF_OUT_TEMPERROR;
	case SPF_RESULT_PERMERROR:
		return SPF_OUT_PERMERROR;
	default:
		return SPF_OUT_NONE;
	}
}

const char *spf_outcome_name(enum spf_outcome o)
{
	static const char *names[] = {"none",	  "neutral",   "pass",	   "fail",
				      "softfail", "temperror", "permerror"};
	return (unsigned)o < sizeof names / sizeof *names ? names[o] : "unknown";
}

static int request_setup(SPF_request_t *req, const char *ip, const char *helo, const char *from)
{
	unsigned char a[16];
	if (inet_pton(AF_INET, ip, a) == 1) {
		if (SPF_request_set_ipv4_str(req, ip) != SPF_E_SUCCESS)
			return -1;
	} else if (SPF_request_set_ipv6_str(req, ip) != SPF_E_SUCCESS) {
		return -1;
	}
	if (helo && *helo && SPF_request_set_helo_dom(req, helo) != SPF_E_SUCCESS)
		return -1;
	if (from && *from)
		return SPF_request_set_env_from(req, from) == 0 ? 0 : -1;
	return helo && *helo ? 0 : -1; /* null sender: the HELO identity */
}

/* SPF_request_query_mailfrom without its "localhost passes" shortcut:
 * fetch the record, then interpret it (both public libspf2 API). */
static enum spf_outcome evaluate(SPF_server_t *server, SPF_request_t *req, SPF_response_t *resp)
{
	SPF_record_t *record = NULL;
	req->cur_dom = req->env_from_dp;
	SPF_errcode_t err = SPF_server_get_record(server, req, resp, &record);
	if (err != SPF_E_SUCCESS) {
		if (record)
			SPF_record_free(record);
		if (err == SPF_E_DNS_ERROR)
			return SPF_OUT_TEMPERROR;
		return resp->result == SPF_RESULT_PERMERROR ? SPF_OUT_PERMERROR : SPF_OUT_NONE;
	}
	resp->spf_record_exp = record;
	SPF_record_interpret(record, req, resp, 0);
	resp->spf_record_exp = NULL;
	SPF_record_free(record);
	return outcome_of(resp->result);
}

int spf_check(struct dns *d, const char *client_ip, const char *helo, const char *mail_from,
	      int timeout_ms, struct spf_check *out)
{
	memset(out, 0, sizeof *out);
	SPF_server_t *server = server_get();
	if (!server || !d || !client_ip || !*client_ip)
		return -1;
	SPF_request_t *req = SPF_request_new(server);
	if (!req)
		return -1;
	if (request_setup(req, client_ip, helo, mail_from) < 0 || !req->env_from_dp) {
		SPF_request_free(req);
		return -1;
	}
	snprintf(out->domain, sizeof out->domain, "%s", req->env_from_dp);
	struct spf_ctx ctx = {d, now_ms() + (timeout_ms > 0 ? timeout_ms : 1), 0};
	SPF_response_t *resp = SPF_response_new(req);
	if (!resp) {
		SPF_request_free(req);
		return -1;
	}
	tl_ctx = &ctx;
	out->result = evaluate(server, req, resp);
	tl_ctx = NULL;
	out->lookups = ctx.lookups;
	const char *comment = SPF_response_get_header_comment(resp);
	snprintf(out->comment, sizeof out->comment, "%s", comment ? comment : "");
	SPF_response_free(resp);
	SPF_request_free(req);
	return 0;
}

int spf_ip_in_list(const char *ip, const char *cidrs)
{
	char copy[SETTING_VALUE_MAX + 1], *save = NULL;
	snprintf(copy, sizeof copy, "%s", cidrs ? cidrs : "");
	for (char *tok = strtok_r(copy, ", ", &save); tok; tok = strtok_r(NULL, ", ", &save)) {
		struct cidr c;
		if (net_parse_cidr(tok, &c, NULL) == 0 && net_cidr_match_text(&c, ip))
			return 1;
	}
	return 0;
}

/* ---- the stage ------------------------------------------------------ */

/* What each result does: the settings that say so and the rule name. */
static const struct {
	enum spf_outcome result;
	const char *action_setting, *score_setting, *rule;
} policy[] = {
    {SPF_OUT_PASS, "spf_pass_action", "spf_pass_score", "SPF_PASS"},
    {SPF_OUT_FAIL, "spf_fail_action", "spf_fail_score", "SPF_FAIL"},
    {SPF_OUT_SOFTFAIL, "spf_softfail_action", "spf_softfail_score", "SPF_SOFTFAIL"},
    {SPF_OUT_NONE, "spf_none_action", "spf_none_score", "SPF_NONE"},
};

static const struct {
	const char *name;
	enum action action;
} decisions[] = {
    {"tag", ACTION_TAG},
    {"quarantine", ACTION_QUARANTINE},
    {"block", ACTION_BLOCK},
};

static void spf_apply(struct scan_job *job, const char *ip, const struct spf_check *c)
{
	struct config_store *cs = filter_engine_cfg(job->fe);
	for (size_t i = 0; i < sizeof policy / sizeof *policy; i++) {
		if (policy[i].result != c->result)
			continue;
		char act[32], desc[400];
		config_str(cs, policy[i].action_setting, NULL, NULL, act, sizeof act);
		snprintf(desc, sizeof desc, "SPF %s for %s from %s", spf_outcome_name(c->result),
			 log_esc(c->domain), ip);
		if (strcmp(act, "none") == 0)
			return;
		if (strcmp(act, "score") == 0) {
			verdict_hit(job->v, policy[i].rule,
				    config_float(cs, policy[i].score_setting, NULL, NULL), desc);
			return;
		}
		for (size_t k = 0; k < sizeof decisions / sizeof *decisions; k++) {
			if (strcmp(act, decisions[k].name) != 0)
				continue;
			char pub[128];
			snprintf(pub, sizeof pub, "SPF %s: %s does not permit %s to send its mail",
				 spf_outcome_name(c->result), log_esc(c->domain), ip);
			verdict_hit(job->v, policy[i].rule, 0, desc);
			verdict_decide(job->v, decisions[k].action, "spf", desc, pub);
		}
		return;
	}
}

int stage_spf(struct scan_job *job)
{
	const struct scan_input *in = job->in;
	struct config_store *cs = filter_engine_cfg(job->fe);
	struct dns *d = filter_engine_dns(job->fe);
	if (in->offline || !d || !in->client_ip || !*in->client_ip ||
	    !config_bool(cs, "spf_enabled", NULL, NULL))
		return 0;
	char trusted[SETTING_VALUE_MAX + 1];
	config_str(cs, "spf_trusted_forwarders", NULL, NULL, trusted, sizeof trusted);
	if (spf_ip_in_list(in->client_ip, trusted)) {
		log_debug("spf: %s is a trusted forwarder, not checked", in->client_ip);
		return 0;
	}
	struct spf_check c;
	int timeout = (int)config_int(cs, "dns_timeout_ms", NULL, NULL);
	if (spf_check(d, in->client_ip, in->helo, in->mail_from, timeout, &c) < 0) {
		log_debug("spf: nothing to check (client %s, helo %s, sender %s)", in->client_ip,
			  log_esc(in->helo ? in->helo : ""),
			  log_esc(in->mail_from ? in->mail_from : ""));
		return 0;
	}
	if (c.result == SPF_OUT_TEMPERROR) {
		log_warn("spf: %s from %s: DNS failed or timed out after %d lookup(s), SPF skipped",
			 log_esc(c.domain), in->client_ip, c.lookups);
		return 0;
	}
	log_info("spf: %s from %s: %s (%s)", log_esc(c.domain), in->client_ip,
		 spf_outcome_name(c.result), log_esc(c.comment));
	spf_apply(job, in->client_ip, &c);
	return 0;
}
