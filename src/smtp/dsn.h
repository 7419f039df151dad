/* RFC 3464 delivery status notifications (bounces and delay warnings).
 * Pure function of its inputs plus the original message's header block;
 * blocking reads, so it runs in a worker thread. */
#ifndef RAMPART_SMTP_DSN_H
#define RAMPART_SMTP_DSN_H

#include <stddef.h>
#include <sys/types.h>
#include <time.h>

#include "util/buf.h"
#include "util/err.h"

#define DSN_MAX_RCPT 1000
#define DSN_MAX_HEADERS (64 * 1024)   /* original header block kept in part 3 */

struct dsn_rcpt {
	const char *rcpt;
	const char *status;       /* "5.1.1" */
	const char *diagnostic;   /* "smtp; 550 5.1.1 no such user"; without a "type;" prefix,
				   * "smtp; " is added to an SMTP reply, "X-rampart; " to other text */
	const char *remote_mta;   /* may be NULL */
	int delayed;              /* 1 = delay warning (action delayed), 0 = failed */
};

/* Appends to out a complete RFC 5322 message (CRLF line endings):
 * From: MAILER-DAEMON@<reporting_mta>, To: the original sender, Subject
 * "Undelivered Mail Returned to Sender" ("Delayed Mail (still being
 * retried)" when every recipient is a delay), Auto-Submitted: auto-replied,
 * multipart/report; report-type=delivery-status with (1) a human readable
 * text part, (2) message/delivery-status (Reporting-MTA, Original-Envelope-
 * Id, Arrival-Date, then per recipient Final-Recipient / Action / Status /
 * Remote-MTA / Diagnostic-Code), (3) text/rfc822-headers holding the
 * original message's header block, read from [off, off+len) of fd and
 * capped at DSN_MAX_HEADERS. Text from remote servers is reduced to
 * printable ASCII and capped; 8-bit (SMTPUTF8) addresses make part 2
 * message/global-delivery-status with utf-8 address types (RFC 6533).
 * Refuses (-1) a null or empty orig_sender: a bounce is never bounced. */
int dsn_build(struct buf *out, const char *reporting_mta, const char *orig_sender,
	      const char *orig_envid, time_t arrival, const struct dsn_rcpt *rcpts, int nrcpt,
	      int fd, off_t off, size_t len, struct err *e);
/* The same with the From: address given (postmaster_address); NULL or ""
 * = MAILER-DAEMON@reporting_mta. */
int dsn_build_from(struct buf *out, const char *from_addr, const char *reporting_mta,
		   const char *orig_sender, const char *orig_envid, time_t arrival,
		   const struct dsn_rcpt *rcpts, int nrcpt, int fd, off_t off, size_t len,
		   struct err *e);

#endif
