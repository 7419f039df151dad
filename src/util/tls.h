/* TLS contexts for the SMTP server (STARTTLS), the delivery client and
 * the HTTPS listener. */
#ifndef RAMPART_UTIL_TLS_H
#define RAMPART_UTIL_TLS_H

#include <openssl/ssl.h>

#include "util/err.h"

/* Creates a self-signed certificate + key (EC P-256, 10 years, CN and
 * subjectAltName = hostname) when either file is missing. */
int tls_ensure_selfsigned(const char *cert, const char *key, const char *hostname,
			  struct err *e);
SSL_CTX *tls_server_ctx(const char *cert, const char *key, struct err *e);
/* Opportunistic client context: TLS 1.2+, no verification (as MTAs do
 * for unauthenticated opportunistic STARTTLS). */
SSL_CTX *tls_client_ctx(struct err *e);

#endif
