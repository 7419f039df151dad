/* The bootstrap file (/etc/rampart/rampart.conf): node-local settings
 * that must be known before the config store opens. `key = value` lines,
 * '#' comments; anything else refuses start-up with file:line. */
#ifndef RAMPART_STORE_BOOTSTRAP_H
#define RAMPART_STORE_BOOTSTRAP_H

#include <limits.h>
#include <stddef.h>

#include "util/err.h"

#define BOOT_MAX_LISTEN 8

struct bootstrap {
	char path[PATH_MAX];
	char data_dir[PATH_MAX];
	char smtp_listen[BOOT_MAX_LISTEN][128];
	int n_smtp_listen;
	char http_listen[BOOT_MAX_LISTEN][128];
	int n_http_listen;
	char hostname[256];
	char tls_cert[PATH_MAX];
	char tls_key[PATH_MAX];
	char control_socket[PATH_MAX];
	char log_level[16];
	char admin_password[256];
	char web_root[PATH_MAX];
	char rules_dirs[PATH_MAX];  /* colon-separated rule sources */
	int rules_startup_wait;     /* seconds start-up waits for the rules before listening */
	char dns_servers[BOOT_MAX_LISTEN][128]; /* host:port; none = /etc/resolv.conf */
	int n_dns_servers;
	char clamd[PATH_MAX];       /* clamd socket: /path or host:port; "" = none */
};

/* Loads and validates path; relative paths in it are resolved against
 * the file's directory; missing keys get defaults. */
int bootstrap_load(const char *path, struct bootstrap *b, struct err *e);
/* Path of a file inside the data directory. */
void bootstrap_data_path(const struct bootstrap *b, const char *name, char *out, size_t outlen);

#endif
