/* Local delivery into Maildirs (the default destination when no
 * destination server is configured). Blocking: runs in a worker thread. */
#ifndef RAMPART_SMTP_MAILDIR_H
#define RAMPART_SMTP_MAILDIR_H

#include <stddef.h>
#include <sys/types.h>

#include "util/err.h"

/* Delivers the byte range [off, off+len) of fd (SMTP canonical form,
 * CRLF) into the Maildir dir/<rcpt>/ (a Maildir per recipient, created
 * with cur/ new/ tmp/ when missing), converting CRLF to LF, with
 * "Return-Path: <from>" and "Delivered-To: rcpt" prepended. The file gets
 * a unique name (time.pid_counter_random.host), is written in tmp/,
 * fsync'd, linked into new/ and the directory fsync'd: a message is either
 * wholly in new/ or nowhere. Returns 0, or -1 with e filled. */
int maildir_deliver(const char *dir, const char *rcpt, const char *mail_from, int fd, off_t off,
		    size_t len, struct err *e);

/* The directory name used for rcpt: the address with '/' and control
 * bytes turned into '_', a leading '.' into '_', the domain lower-cased.
 * Returns 0, or -1 when empty or longer than 255 bytes. */
int maildir_rcpt_name(const char *rcpt, char *out, size_t outlen);

#endif
