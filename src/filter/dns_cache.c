/* The resolver's answer cache: a hash table of (type, name) -> packed
 * result with an absolute expiry, bounded in entries; when full the
 * oldest insertion goes first (DNS list answers are short-lived and
 * uniformly hot, so FIFO is as good as LRU here and cheaper). */
#include "filter/dns_int.h"
#include "util/log.h"

#include <stdlib.h>
#include <string.h>

struct centry {
	struct centry *hnext;	      /* hash chain */
	struct centry *older, *newer; /* insertion order */
	int type;
	int64_t expires_ms;
	char *name;
	size_t rlen;	  /* bytes of the packed result */
	unsigned char *r; /* packed dns_result: header + used text only */
};

struct dns_cache {
	struct centry **tab;
	size_t ntab, n, max;
	struct centry *oldest, *newest;
};

static uint32_t hash(int type, const char *s)
{
	uint32_t h = 2166136261u ^ (uint32_t)type;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h;
}

struct dns_cache *dns_cache_new(size_t max_entries)
{
	struct dns_cache *c = calloc(1, sizeof *c);
	if (!c)
		log_panic("dns: out of memory");
	c->max = max_entries ? max_entries : 1;
	c->ntab = 64;
	while (c->ntab < c->max)
		c->ntab <<= 1;
	c->tab = calloc(c->ntab, sizeof *c->tab);
	if (!c->tab)
		log_panic("dns: out of memory");
	return c;
}

static struct centry **slot_of(struct dns_cache *c, int type, const char *name)
{
	struct centry **pp = &c->tab[hash(type, name) & (c->ntab - 1)];
	while (*pp && ((*pp)->type != type || strcmp((*pp)->name, name) != 0))
		pp = &(*pp)->hnext;
	return pp;
}

static void entry_unlink(struct dns_cache *c, struct centry **pp)
{
	struct centry *ce = *pp;
	*pp = ce->hnext;
	if (ce->older)
		ce->older->newer = ce->newer;
	else
		c->oldest = ce->newer;
	if (ce->newer)
		ce->newer->older = ce->older;
	else
		c->newest = ce->older;
	free(ce->name);
	free(ce->r);
	free(ce);
	c->n--;
}

void dns_cache_free(struct dns_cache *c)
{
	if (!c)
		return;
	while (c->oldest)
		entry_unlink(c, slot_of(c, c->oldest->type, c->oldest->name));
	free(c->tab);
	free(c);
}

int dns_cache_get(struct dns_cache *c, int type, const char *name, int64_t now_ms,
		  struct dns_result *out)
{
	struct centry **pp = slot_of(c, type, name);
	if (!*pp)
		return 0;
	if ((*pp)->expires_ms <= now_ms) {
		entry_unlink(c, pp);
		return 0;
	}
	memcpy(out, (*pp)->r, (*pp)->rlen);
	out->text[out->text_len] = '\0';
	out->ttl = (uint32_t)(((*pp)->expires_ms - now_ms + 999) / 1000);
	out->cached = 1;
	return 1;
}

void dns_cache_put(struct dns_cache *c, int type, const char *name, const struct dns_result *r,
		   int64_t now_ms)
{
	if (r->ttl == 0 ||
	    (r->status != DNS_OK && r->status != DNS_NXDOMAIN && r->status != DNS_NODATA))
		return;
	struct centry **pp = slot_of(c, type, name);
	if (*pp)
		entry_unlink(c, pp);
	while (c->n >= c->max && c->oldest)
		entry_unlink(c, slot_of(c, c->oldest->type, c->oldest->name));
	size_t rlen = offsetof(struct dns_result, text) + r->text_len;
	struct centry *ce = calloc(1, sizeof *ce);
	if (!ce || !(ce->r = malloc(rlen)) || !(ce->name = strdup(name)))
		log_panic("dns: out of memory");
	memcpy(ce->r, r, rlen);
	ce->rlen = rlen;
	ce->type = type;
	uint32_t ttl = r->ttl < DNS_MAX_TTL ? r->ttl : DNS_MAX_TTL;
	ce->expires_ms = now_ms + (int64_t)ttl * 1000;
	pp = slot_of(c, type, name); /* evictions may have changed the chain */
	ce->hnext = *pp;
	*pp = ce;
	ce->older = c->newest;
	if (c->newest)
		c->newest->newer = ce;
	else
		c->oldest = ce;
	c->newest = ce;
	c->n++;
}

size_t dns_cache_size(const struct dns_cache *c)
{
	return c->n;
}
