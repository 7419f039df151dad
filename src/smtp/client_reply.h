/* Incremental parser for SMTP server replies (private to the client).
 * Bounded whatever arrives: a line is at most SMTP_CLIENT_MAX_LINE bytes, a
 * reply at most SMTP_CLIENT_MAX_LINES lines, anything malformed is an
 * error (the connection is then unusable). */
#ifndef RAMPART_SMTP_CLIENT_REPLY_H
#define RAMPART_SMTP_CLIENT_REPLY_H

#include <event2/buffer.h>
#include <stddef.h>

#include "smtp/client.h"

struct smtpc_parser {
	int code;      /* of the reply's first line, 0 before it */
	int nlines;
	unsigned ext;  /* SMTP_EXT_* seen in continuation lines (EHLO) */
	size_t size_max;   /* SIZE parameter, 0 = none or unlimited */
};

void smtpc_parser_reset(struct smtpc_parser *p);

/* Consumes bytes of in. Returns 1 with *out filled when a whole reply was
 * read (p->ext/size_max then describe its extension lines), 0 when more
 * input is needed, -1 with err filled on a protocol error. */
int smtpc_reply_feed(struct smtpc_parser *p, struct evbuffer *in, struct smtp_reply *out,
		     char *err, size_t errlen);

/* Fills r as a local outcome (code 0 for network errors). */
void smtpc_reply_local(struct smtp_reply *r, int code, const char *enhanced, const char *text);

/* Copies text into out (size outlen) with every byte outside printable
 * ASCII replaced by '?'. */
void smtpc_sanitise(char *out, size_t outlen, const char *text, size_t len);

#endif
