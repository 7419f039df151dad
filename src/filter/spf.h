/* SPF (layer 2, envelope): libspf2 evaluates the sender domain's record;
 * every DNS query it makes goes through the node's resolver (a custom
 * libspf2 DNS layer), so it shares the cache, the servers and the
 * timeout of the other network layers. */
#ifndef RAMPART_FILTER_SPF_H
#define RAMPART_FILTER_SPF_H

#include "filter/dns.h"
#include "filter/pipeline.h"

enum spf_outcome {
	SPF_OUT_NONE,
	SPF_OUT_NEUTRAL,
	SPF_OUT_PASS,
	SPF_OUT_FAIL,
	SPF_OUT_SOFTFAIL,
	SPF_OUT_TEMPERROR, /* DNS failed or timed out: the layer is skipped */
	SPF_OUT_PERMERROR, /* the record is broken */
};

struct spf_check {
	enum spf_outcome result;
	char domain[256];  /* the domain checked (MAIL FROM's, or HELO for <>) */
	char comment[300]; /* libspf2's explanation, for the log */
	int lookups;	   /* DNS queries made */
};

/* Evaluates SPF for a message from client_ip with this HELO and MAIL
 * FROM ("" for the null sender: the HELO name is checked); all DNS
 * through d, at most timeout_ms in total. Loopback clients are checked
 * like any other (libspf2's own shortcut passes them unconditionally;
 * rampart's spf_trusted_forwarders default covers local injection).
 * Returns 0, or -1 when the input cannot be checked (bad IP, nothing to
 * check). */
int spf_check(struct dns *d, const char *client_ip, const char *helo, const char *mail_from,
	      int timeout_ms, struct spf_check *out);
const char *spf_outcome_name(enum spf_outcome o);

/* 1 when ip is in the list of CIDRs (separated by commas or spaces). */
int spf_ip_in_list(const char *ip, const char *cidrs);

int stage_spf(struct scan_job *job);

#endif
