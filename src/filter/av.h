/* Virus scan (layer 3) through clamd's INSTREAM protocol, on a unix
 * socket or TCP: the whole message is streamed in length-prefixed
 * chunks; clamd decodes MIME and unpacks archives itself.
 *
 * Infected -> av_infected_action (block, or quarantine). clamd down,
 * timing out or answering an error -> av_unreachable: tempfail (451
 * 4.3.0, the sender retries, nothing is lost) or accept with a log
 * warning. A message larger than clamd's StreamMaxLength (clamd answers
 * "INSTREAM size limit exceeded") -> av_oversize: accept unscanned with a
 * log line (default: clamd's limit is a local resource choice, not a
 * verdict on the mail), tempfail or block. */
#ifndef RAMPART_FILTER_AV_H
#define RAMPART_FILTER_AV_H

#include "filter/pipeline.h"

#include <stddef.h>
#include <stdint.h>

enum av_status {
	AV_CLEAN,
	AV_INFECTED,
	AV_TOO_BIG, /* over clamd's StreamMaxLength */
	AV_ERROR,   /* unreachable, timed out, or an error reply */
};

struct av_result {
	enum av_status status;
	char virus[128];  /* for AV_INFECTED, as clamd names it */
	char detail[256]; /* why, for AV_ERROR / AV_TOO_BIG (for the log) */
	int64_t ms;	  /* how long the scan took */
};

/* Where clamd listens: "/path/to/clamd.ctl" or "host:port" (bootstrap
 * key `clamd`); "" or NULL = no clamd configured (the stage is a
 * no-op). Set once at start-up, before scan threads run. */
void av_set_clamd(const char *addr);
const char *av_clamd(void);

/* Streams data[len] to clamd at addr and reads its verdict, all within
 * timeout_ms. Returns 0 with out->status set (AV_ERROR included). */
int av_scan(const char *addr, const char *data, size_t len, int timeout_ms, struct av_result *out);
/* The reply line of clamd (without "z" framing) into out. */
void av_parse_reply(const char *reply, struct av_result *out);

int stage_av(struct scan_job *job);

#endif
