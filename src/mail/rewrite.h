/* Header rewriting for tagged mail: prepend headers and prefix the
 * Subject, streaming the rest of the message unchanged. */
#ifndef RAMPART_MAIL_REWRITE_H
#define RAMPART_MAIL_REWRITE_H

#include <stddef.h>

#include "util/err.h"

/* Writes data (an RFC 5322 message, CRLF) to fd with `headers` (complete
 * CRLF-terminated lines) inserted before the first header and the Subject
 * prefixed by `prefix` (a Subject is added when there is none; a subject
 * already carrying the prefix is left alone). */
int rewrite_tag(const char *data, size_t len, const char *prefix, const char *headers, int fd,
		struct err *e);

#endif
