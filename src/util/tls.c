#include "util/tls.h"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/fsutil.h"

static int ssl_err(struct err *e, const char *what)
{
	char buf[256];
	ERR_error_string_n(ERR_get_error(), buf, sizeof buf);
	return err_set(e, "%s: %s", what, buf);
}

static int write_pem(const char *path, int mode, int (*writer)(FILE *, void *), void *obj,
		     struct err *e)
{
	char dir[4096];
	fs_dirname(path, dir, sizeof dir);
	if (fs_mkdir_p(dir, 0700, e) < 0)
		return -1;
	FILE *f = fopen(path, "w");
	if (!f)
		return err_set(e, "cannot write %s", path);
	chmod(path, (mode_t)mode);
	int ok = writer(f, obj);
	ok = fflush(f) == 0 && fsync(fileno(f)) == 0 && ok;
	fclose(f);
	return ok ? 0 : err_set(e, "cannot write %s", path);
}

static int pem_key(FILE *f, void *k)
{
	return PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL);
}

static int pem_cert(FILE *f, void *c)
{
	return PEM_write_X509(f, c);
}

static X509 *make_cert(EVP_PKEY *pkey, const char *hostname)
{
	X509 *x = X509_new();
	if (!x)
		return NULL;
	X509_set_version(x, 2);
	unsigned char serial[16];
	FILE *r = fopen("/dev/urandom", "r");
	if (!r || fread(serial, 1, sizeof serial, r) != sizeof serial)
		serial[0] = 1;
	if (r)
		fclose(r);
	serial[0] &= 0x7f;
	BIGNUM *bn = BN_bin2bn(serial, sizeof serial, NULL);
	BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x));
	BN_free(bn);
	X509_gmtime_adj(X509_getm_notBefore(x), -3600);
	X509_gmtime_adj(X509_getm_notAfter(x), 10L * 365 * 86400);
	X509_set_pubkey(x, pkey);
	X509_NAME *name = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)hostname, -1,
				   -1, 0);
	X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, (const unsigned char *)"rampart", -1,
				   -1, 0);
	X509_set_issuer_name(x, name);
	char san[300];
	snprintf(san, sizeof san, "DNS:%s", hostname);
	X509V3_CTX ctx;
	X509V3_set_ctx_nodb(&ctx);
	X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
	X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &ctx, NID_subject_alt_name, san);
	if (ext) {
		X509_add_ext(x, ext, -1);
		X509_EXTENSION_free(ext);
	}
	if (!X509_sign(x, pkey, EVP_sha256())) {
		X509_free(x);
		return NULL;
	}
	return x;
}

int tls_ensure_selfsigned(const char *cert, const char *key, const char *hostname,
			  struct err *e)
{
	if (access(cert, R_OK) == 0 && access(key, R_OK) == 0)
		return 0;
	EVP_PKEY *pkey = EVP_EC_gen("P-256");
	if (!pkey)
		return ssl_err(e, "generate key");
	X509 *x = make_cert(pkey, hostname);
	int rc = -1;
	if (!x)
		ssl_err(e, "make certificate");
	else if (write_pem(key, 0600, pem_key, pkey, e) == 0 &&
		 write_pem(cert, 0644, pem_cert, x, e) == 0)
		rc = 0;
	X509_free(x);
	EVP_PKEY_free(pkey);
	return rc;
}

SSL_CTX *tls_server_ctx(const char *cert, const char *key, struct err *e)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	if (!ctx) {
		ssl_err(e, "SSL_CTX_new");
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
	if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
		ssl_err(e, cert);
		SSL_CTX_free(ctx);
		return NULL;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1) {
		ssl_err(e, key);
		SSL_CTX_free(ctx);
		return NULL;
	}
	return ctx;
}

SSL_CTX *tls_client_ctx(struct err *e)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	if (!ctx) {
		ssl_err(e, "SSL_CTX_new");
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	return ctx;
}
