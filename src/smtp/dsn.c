#include "smtp/dsn.h"

#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "util/timeutil.h"

#define DIAG_MAX 900   /* keeps every line of the report under 998 bytes */
#define ADDR_MAX 512

/* Text for the notice part, by kind. */
static const struct {
	const char *subject;
	const char *intro;
} kinds[] = {
	{"Undelivered Mail Returned to Sender",
	 "I'm sorry to have to inform you that your message could not\r\n"
	 "be delivered to one or more recipients. The reasons are below;\r\n"
	 "the headers of your message are attached.\r\n"
	 "\r\n"
	 "For further assistance, please send mail to postmaster and\r\n"
	 "include this report.\r\n"},
	{"Delayed Mail (still being retried)",
	 "#### THIS IS A WARNING ONLY. YOU DO NOT NEED TO RESEND YOUR MESSAGE. ####\r\n"
	 "\r\n"
	 "Your message could not be delivered yet to the recipients below.\r\n"
	 "The mail system will keep trying to deliver it, and will tell you\r\n"
	 "if it finally gives up.\r\n"},
};

static int has_8bit(const char *s)
{
	for (; s && *s; s++)
		if ((unsigned char)*s >= 0x80)
			return 1;
	return 0;
}

/* Copies s into out without control bytes (and without 8-bit bytes unless
 * allowed), capped at outlen - 1. */
static const char *clean(char *out, size_t outlen, const char *s, int allow_8bit)
{
	size_t o = 0;
	for (; s && *s && o + 1 < outlen; s++) {
		unsigned char ch = (unsigned char)*s;
		int ok = (ch >= 0x20 && ch < 0x7f) || (allow_8bit && ch >= 0x80);
		out[o++] = ok ? (char)ch : '?';
	}
	out[o] = '\0';
	return out;
}

static int status_ok(const char *s)
{
	if (!s || (s[0] != '2' && s[0] != '4' && s[0] != '5') || s[1] != '.')
		return 0;
	s += 2;
	for (int part = 0; part < 2; part++) {
		int n = 0;
		while (isdigit((unsigned char)*s) && n < 4)
			s++, n++;
		if (n == 0 || n > 3 || (part == 0 && *s++ != '.'))
			return 0;
	}
	return *s == '\0';
}

static int host_ok(const char *h)
{
	size_t n = h ? strlen(h) : 0;
	if (n == 0 || n > 253)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)h[i]) && !strchr(".-_[]:", h[i]))
			return 0;
	return 1;
}

static unsigned long long rand64(void)
{
	unsigned long long r = 0;
	if (getrandom(&r, sizeof r, 0) != (ssize_t)sizeof r)
		r = (unsigned long long)time(NULL) * 6364136223846793005ULL + (uintptr_t)&r;
	return r;
}

/* The original header block: up to the empty line, at most
 * DSN_MAX_HEADERS, always ending with CRLF. */
static int read_headers(struct buf *h, int fd, off_t off, size_t len, struct err *e)
{
	size_t want = len < DSN_MAX_HEADERS ? len : DSN_MAX_HEADERS;
	char *p = malloc(want + 1);
	size_t got = 0;
	if (!p)
		return err_set(e, "out of memory");
	while (got < want) {
		ssize_t n = pread(fd, p + got, want - got, off + (off_t)got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			free(p);
			return err_set(e, "read message: %s", n < 0 ? strerror(errno) : "file too short");
		}
		got += (size_t)n;
	}
	size_t end = got;
	const char *blank = memmem(p, got, "\r\n\r\n", 4);
	if (got >= 2 && p[0] == '\r' && p[1] == '\n') {
		end = 0;   /* no header at all */
	} else if (blank) {
		end = (size_t)(blank - p) + 2;
	} else if (got < len) {
		/* cut at the last whole line within the cap */
		while (end > 0 && p[end - 1] != '\n')
			end--;
	}
	int rc = buf_append(h, p, end);
	if (!rc && end && p[end - 1] != '\n')
		rc = buf_puts(h, "\r\n");
	free(p);
	return rc < 0 ? err_set(e, "header block too large") : 0;
}

static void make_boundary(char *out, size_t outlen, const struct buf *hdrs)
{
	do
		snprintf(out, outlen, "=_rampart_%016llx%016llx", rand64(), rand64());
	while (hdrs->len && memmem(hdrs->data, hdrs->len, out, strlen(out)));
}

struct dsn_ctx {
	struct buf *out;
	const char *mta;
	const char *from;   /* From: address, NULL = MAILER-DAEMON@mta */
	const char *boundary;
	int eight;          /* 8-bit addresses: RFC 6533 types */
	int all_delayed;
};

static int put_header(struct dsn_ctx *x, const char *sender)
{
	char date[64], addr[ADDR_MAX], from[ADDR_MAX];
	time_rfc5322(time(NULL), date, sizeof date);
	if (x->from && *x->from)
		clean(from, sizeof from, x->from, 1);
	else
		snprintf(from, sizeof from, "MAILER-DAEMON@%s", x->mta);
	return buf_printf(x->out,
			  "From: Mail Delivery System <%s>\r\n"
			  "To: <%s>\r\n"
			  "Subject: %s\r\n"
			  "Date: %s\r\n"
			  "Message-ID: <%lld.%016llx@%s>\r\n"
			  "Auto-Submitted: auto-replied\r\n"
			  "MIME-Version: 1.0\r\n"
			  "Content-Type: multipart/report; report-type=delivery-status;\r\n"
			  "\tboundary=\"%s\"\r\n"
			  "\r\n"
			  "This is a MIME-encapsulated message.\r\n"
			  "\r\n",
			  from, clean(addr, sizeof addr, sender, 1), kinds[x->all_delayed].subject,
			  date, (long long)time(NULL), rand64(), x->mta, x->boundary);
}

static const char *diag_text(char *out, size_t outlen, const char *diag)
{
	char tmp[DIAG_MAX];
	clean(tmp, sizeof tmp, diag ? diag : "", 0);
	if (!tmp[0])
		snprintf(out, outlen, "X-rampart; delivery failed");
	else if (!strchr(tmp, ';'))   /* an SMTP reply, or our own words */
		snprintf(out, outlen, "%s; %s",
			 tmp[0] >= '2' && tmp[0] <= '5' && isdigit((unsigned char)tmp[1]) &&
					 isdigit((unsigned char)tmp[2])
				 ? "smtp"
				 : "X-rampart",
			 tmp);
	else
		snprintf(out, outlen, "%s", tmp);
	return out;
}

static int put_notice(struct dsn_ctx *x, const struct dsn_rcpt *r, int n)
{
	char addr[ADDR_MAX], diag[DIAG_MAX + 8];
	int rc = buf_printf(x->out,
			    "--%s\r\n"
			    "Content-Description: Notification\r\n"
			    "Content-Type: text/plain; charset=%s\r\n"
			    "%s"
			    "\r\n"
			    "This is the mail system at host %s.\r\n"
			    "\r\n"
			    "%s"
			    "\r\n"
			    "                   The mail system\r\n"
			    "\r\n",
			    x->boundary, x->eight ? "utf-8" : "us-ascii",
			    x->eight ? "Content-Transfer-Encoding: 8bit\r\n" : "", x->mta,
			    kinds[x->all_delayed].intro);
	for (int i = 0; !rc && i < n; i++) {
		/* the reader wants the server's words, not the type */
		const char *d = strchr(diag_text(diag, sizeof diag, r[i].diagnostic), ';') + 1;
		while (*d == ' ')
			d++;
		rc = buf_printf(x->out, "<%s>: %s%s\r\n\r\n", clean(addr, sizeof addr, r[i].rcpt, 1),
				r[i].delayed ? "delayed: " : "", d);
	}
	return rc;
}

static int put_status(struct dsn_ctx *x, const char *envid, time_t arrival,
		      const struct dsn_rcpt *r, int n)
{
	char date[64], addr[ADDR_MAX], diag[DIAG_MAX + 8], host[256], id[256];
	time_rfc5322(arrival, date, sizeof date);
	int rc = buf_printf(x->out,
			    "--%s\r\n"
			    "Content-Description: Delivery report\r\n"
			    "Content-Type: message/%sdelivery-status\r\n"
			    "\r\n"
			    "Reporting-MTA: dns; %s\r\n",
			    x->boundary, x->eight ? "global-" : "", x->mta);
	if (!rc && envid && *envid)
		rc = buf_printf(x->out, "Original-Envelope-Id: %s\r\n", clean(id, sizeof id, envid, 0));
	if (!rc)
		rc = buf_printf(x->out, "Arrival-Date: %s\r\n", date);
	for (int i = 0; !rc && i < n; i++) {
		int utf8 = has_8bit(r[i].rcpt);
		const char *status = status_ok(r[i].status) ? r[i].status
				   : r[i].delayed ? "4.0.0" : "5.0.0";
		rc = buf_printf(x->out,
				"\r\n"
				"Final-Recipient: %s; %s\r\n"
				"Action: %s\r\n"
				"Status: %s\r\n",
				utf8 ? "utf-8" : "rfc822", clean(addr, sizeof addr, r[i].rcpt, 1),
				r[i].delayed ? "delayed" : "failed", status);
		if (!rc && r[i].remote_mta && *r[i].remote_mta)
			rc = buf_printf(x->out, "Remote-MTA: dns; %s\r\n",
					clean(host, sizeof host, r[i].remote_mta, 0));
		if (!rc && r[i].diagnostic && *r[i].diagnostic)
			rc = buf_printf(x->out, "Diagnostic-Code: %s\r\n",
					diag_text(diag, sizeof diag, r[i].diagnostic));
	}
	return rc;
}

static int put_headers(struct dsn_ctx *x, const struct buf *hdrs)
{
	int eight = 0;
	for (size_t i = 0; i < hdrs->len && !eight; i++)
		eight = (unsigned char)hdrs->data[i] >= 0x80;
	int rc = buf_printf(x->out,
			    "\r\n"
			    "--%s\r\n"
			    "Content-Description: Undelivered Message Headers\r\n"
			    "Content-Type: text/rfc822-headers\r\n"
			    "%s"
			    "\r\n",
			    x->boundary, eight ? "Content-Transfer-Encoding: 8bit\r\n" : "");
	if (!rc && hdrs->len)
		rc = buf_append(x->out, hdrs->data, hdrs->len);
	if (!rc)
		rc = buf_printf(x->out, "\r\n--%s--\r\n", x->boundary);
	return rc;
}

static int check_args(const char *mta, const char *sender, const struct dsn_rcpt *r, int n,
		      int fd, struct err *e)
{
	if (!sender || !*sender || strcmp(sender, "<>") == 0)
		return err_set(e, "dsn: refusing to build a notification for the null sender");
	if (!host_ok(mta))
		return err_set(e, "dsn: bad reporting MTA name");
	if (!r || n < 1 || n > DSN_MAX_RCPT)
		return err_set(e, "dsn: between 1 and %d recipients needed", DSN_MAX_RCPT);
	for (int i = 0; i < n; i++)
		if (!r[i].rcpt || !*r[i].rcpt)
			return err_set(e, "dsn: recipient %d has no address", i);
	if (fd < 0)
		return err_set(e, "dsn: no message file");
	return 0;
}

int dsn_build(struct buf *out, const char *reporting_mta, const char *orig_sender,
	      const char *orig_envid, time_t arrival, const struct dsn_rcpt *rcpts, int nrcpt,
	      int fd, off_t off, size_t len, struct err *e)
{
	return dsn_build_from(out, NULL, reporting_mta, orig_sender, orig_envid, arrival, rcpts,
			      nrcpt, fd, off, len, e);
}

int dsn_build_from(struct buf *out, const char *from_addr, const char *reporting_mta,
		   const char *orig_sender, const char *orig_envid, time_t arrival,
		   const struct dsn_rcpt *rcpts, int nrcpt, int fd, off_t off, size_t len,
		   struct err *e)
{
	if (check_args(reporting_mta, orig_sender, rcpts, nrcpt, fd, e) < 0)
		return -1;
	struct buf hdrs;
	buf_init(&hdrs, DSN_MAX_HEADERS + 2);
	if (read_headers(&hdrs, fd, off, len, e) < 0) {
		buf_free(&hdrs);
		return -1;
	}
	char boundary[64];
	make_boundary(boundary, sizeof boundary, &hdrs);
	struct dsn_ctx x = {.out = out, .mta = reporting_mta, .from = from_addr, .boundary = boundary,
			    .eight = has_8bit(orig_sender), .all_delayed = 1};
	for (int i = 0; i < nrcpt; i++) {
		x.eight |= has_8bit(rcpts[i].rcpt);
		x.all_delayed &= rcpts[i].delayed != 0;
	}
	size_t start = out->len;
	int rc = put_header(&x, orig_sender);
	if (!rc)
		rc = put_notice(&x, rcpts, nrcpt);
	if (!rc)
		rc = put_status(&x, orig_envid, arrival, rcpts, nrcpt);
	if (!rc)
		rc = put_headers(&x, &hdrs);
	buf_free(&hdrs);
	if (rc < 0) {
		out->len = start;   /* no half-built message left behind */
		if (out->data)
			out->data[start] = '\0';
		return err_set(e, "dsn: notification larger than the output buffer allows");
	}
	return 0;
}
