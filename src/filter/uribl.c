/* URI blocklists (layer 3, intent/URL analysis): the hosts of the URLs
 * the message view found in text and HTML parts (obfuscated and encoded
 * ones included, see msgview_uri.c) are looked up in the list/uribl/
 * zones through the node's resolver, all in one parallel batch.
 *
 * What is looked up for a host: an IPv4 literal reversed (1.2.3.4 ->
 * 4.3.2.1.<zone>, the SURBL convention); a name by its last two and last
 * three labels (www.evil.example.co.uk -> co.uk and example.co.uk, which
 * covers registrable domains under both generic and two-level country
 * suffixes without a public-suffix list; lists never list a public
 * suffix). International names are looked up in their ASCII (punycode)
 * form. */
#include "filter/dnsbl.h"
#include "store/config.h"
#include "util/log.h"

#include <arpa/inet.h>
#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define URIBL_MAX_NAMES 400

/* The host part of a normalised URL ("scheme://host[:port]/..." or
 * "mailto:local@host") into out; -1 when there is none. */
static int uri_host(const char *uri, char *out, size_t outlen)
{
	const char *h;
	size_t n;
	if (strncasecmp(uri, "mailto:", 7) == 0) {
		const char *at = strrchr(uri, '@');
		if (!at)
			return -1;
		h = at + 1;
		n = strcspn(h, "?>&, ");
	} else {
		const char *p = strstr(uri, "://");
		if (!p)
			return -1;
		h = p + 3;
		if (*h == '[') /* IPv6 literal: URI lists have none */
			return -1;
		n = strcspn(h, ":/?#");
	}
	while (n && h[n - 1] == '.')
		n--;
	if (n == 0 || n >= outlen)
		return -1;
	memcpy(out, h, n);
	out[n] = '\0';
	return 0;
}

/* A UTF-8 host in the ASCII form DNS knows, lower case; -1 if invalid. */
static int host_ascii(const char *host, char *out, size_t outlen)
{
	int plain = 1;
	for (const char *p = host; *p; p++)
		plain &= (unsigned char)*p < 0x80;
	if (plain)
		return dns_name_canon(host, out, outlen);
	if (!g_utf8_validate(host, -1, NULL))
		return -1;
	gchar *a = g_hostname_to_ascii(host);
	int rc = a ? dns_name_canon(a, out, outlen) : -1;
	g_free(a);
	return rc;
}

/* The suffix of name made of its last `labels` labels, or NULL when it
 * has fewer. */
static const char *last_labels(const char *name, int labels)
{
	const char *p = name + strlen(name);
	int seen = 0;
	while (p > name) {
		p--;
		if (*p == '.' && ++seen == labels)
			return p + 1;
	}
	return seen == labels - 1 ? name : NULL;
}

struct names {
	char (*name)[DNS_NAME_MAX + 1]; /* query prefix */
	char (*item)[DNS_NAME_MAX + 1]; /* what it stands for */
	int n, max;
};

static void name_add(struct names *ns, const char *name, const char *item)
{
	if (!name || ns->n >= ns->max)
		return;
	for (int i = 0; i < ns->n; i++)
		if (strcmp(ns->name[i], name) == 0)
			return;
	snprintf(ns->name[ns->n], sizeof ns->name[0], "%s", name);
	snprintf(ns->item[ns->n], sizeof ns->item[0], "%s", item);
	ns->n++;
}

/* Query names for every distinct URL host, at most max_hosts hosts. */
static void uribl_names(const struct msg_view *view, int max_hosts, struct names *ns)
{
	char hosts[64][DNS_NAME_MAX + 1];
	int nh = 0;
	if (max_hosts > 64)
		max_hosts = 64;
	for (size_t i = 0; view && i < view->nuris && nh < max_hosts; i++) {
		char raw[512], host[DNS_NAME_MAX + 1];
		if (uri_host(view->uris[i], raw, sizeof raw) < 0 ||
		    host_ascii(raw, host, sizeof host) < 0)
			continue;
		int dup = 0;
		for (int k = 0; k < nh && !dup; k++)
			dup = strcmp(hosts[k], host) == 0;
		if (dup)
			continue;
		memcpy(hosts[nh++], host, sizeof host);
		struct in_addr a;
		if (inet_pton(AF_INET, host, &a) == 1) {
			char rev[80];
			if (dns_reverse_name(host, NULL, rev, sizeof rev) == 0)
				name_add(ns, rev, host);
			continue;
		}
		name_add(ns, last_labels(host, 2), last_labels(host, 2));
		name_add(ns, last_labels(host, 3), last_labels(host, 3));
	}
}

int stage_uribl(struct scan_job *job)
{
	struct dns *d = filter_engine_dns(job->fe);
	struct config_store *cs = filter_engine_cfg(job->fe);
	if (job->in->offline || !d || !job->view || job->view->nuris == 0)
		return 0;
	struct bl_list *l = malloc(sizeof *l);
	struct names ns = {.max = URIBL_MAX_NAMES};
	ns.name = calloc(URIBL_MAX_NAMES, sizeof *ns.name);
	ns.item = calloc(URIBL_MAX_NAMES, sizeof *ns.item);
	const char **qn = calloc(URIBL_MAX_NAMES, sizeof *qn),
		   **items = calloc(URIBL_MAX_NAMES, sizeof *items);
	struct bl_hit *hits = calloc(URIBL_MAX_NAMES, sizeof *hits);
	if (!l || !ns.name || !ns.item || !qn || !items || !hits)
		goto out;
	bl_list_get(cs, "uribl", l);
	if (l->n == 0)
		goto out;
	uribl_names(job->view, (int)config_int(cs, "uribl_max_hosts", NULL, NULL), &ns);
	for (int i = 0; i < ns.n; i++) {
		qn[i] = ns.name[i];
		items[i] = ns.item[i];
	}
	int failed = 0;
	int nhits =
	    bl_check(d, l, qn, items, ns.n, (int)config_int(cs, "dns_timeout_ms", NULL, NULL), hits,
		     URIBL_MAX_NAMES, &failed);
	log_debug("uribl: %d name(s) from %zu URL(s) in %d zone(s): %d listing(s), %d failed", ns.n,
		  job->view->nuris, l->n, nhits, failed);
	bl_apply(job->v, "uribl", "URL host", hits, nhits);
out:
	free(l);
	free(ns.name);
	free(ns.item);
	free(qn);
	free(items);
	free(hits);
	return 0;
}

int uribl_collect(const struct msg_view *view, int max_hosts, char (*name)[DNS_NAME_MAX + 1],
		  char (*item)[DNS_NAME_MAX + 1], int max)
{
	struct names ns = {.name = name, .item = item, .max = max};
	uribl_names(view, max_hosts, &ns);
	return ns.n;
}

int uribl_query_names(const char *uri, char (*out)[DNS_NAME_MAX + 1], int max)
{
	char *uris[1] = {(char *)uri};
	struct msg_view v = {.uris = uris, .nuris = 1};
	char(*items)[DNS_NAME_MAX + 1] = calloc((size_t)max, sizeof *items);
	int n = items ? uribl_collect(&v, 64, out, items, max) : 0;
	free(items);
	return n;
}
