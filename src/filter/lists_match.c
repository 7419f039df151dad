/* The policy snapshot: every list and content filter of one config
 * version in structures built for matching (a binary trie per address
 * family for CIDRs, hash maps for addresses, extensions and MIME types,
 * compiled regexes), immutable once built and shared by reference
 * between the scan threads. A config change makes the next scan rebuild
 * it, unless no list/ or filter/ key changed (a digest says so). */
#include <arpa/inet.h>
#include <ctype.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "filter/content.h"
#include "filter/lists.h"
#include "store/config.h"
#include "util/log.h"
#include "util/net.h"
#include "util/strmap.h"

#define TRIE_MAX_NODES (4u << 20) /* bounds memory whatever the lists hold */
#define NO_ENTRY (-1)

struct pentry {
	char *entry;
	char *comment;
	enum action action;
	enum list_id list;
};

/* hit[0]: the allow list's entry at this prefix, hit[1]: the block list's */
struct tnode {
	int32_t child[2];
	int32_t hit[2];
};

struct trie {
	struct tnode *n;
	size_t len, cap;
};

struct pair {
	int32_t hit[2];
};

struct policy {
	int refs;
	uint64_t version;
	uint64_t digest;
	struct pentry *ent;
	size_t nent, capent;
	struct trie v4, v6;
	struct strmap addr[2];   /* sender, rcpt: entry -> pair index + 1 */
	struct pair *pairs;
	size_t npairs, cappairs;
	struct strmap ext, mime; /* entry -> entry index + 1 */
	size_t count[L_COUNT];
	struct content_set *content;
};

static void *xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);
	if (!q)
		log_panic("policy: out of memory");
	return q;
}

static char *xstrdup(const char *s)
{
	char *d = strdup(s ? s : "");
	if (!d)
		log_panic("policy: out of memory");
	return d;
}

/* ---- trie ------------------------------------------------------------ */

static int32_t trie_node(struct trie *t)
{
	if (t->len == t->cap) {
		t->cap = t->cap ? t->cap * 2 : 64;
		t->n = xrealloc(t->n, t->cap * sizeof *t->n);
	}
	t->n[t->len] = (struct tnode){{NO_ENTRY, NO_ENTRY}, {NO_ENTRY, NO_ENTRY}};
	return (int32_t)t->len++;
}

static int bit_at(const unsigned char *a, int i)
{
	return (a[i / 8] >> (7 - i % 8)) & 1;
}

static int trie_insert(struct trie *t, const unsigned char *addr, int prefix, int block,
		       int32_t idx)
{
	if (!t->len)
		trie_node(t);
	int32_t cur = 0;
	for (int i = 0; i < prefix; i++) {
		int b = bit_at(addr, i);
		if (t->n[cur].child[b] == NO_ENTRY) {
			if (t->len >= TRIE_MAX_NODES)
				return -1;
			int32_t nn = trie_node(t);
			t->n[cur].child[b] = nn;
		}
		cur = t->n[cur].child[b];
	}
	t->n[cur].hit[block] = idx;
	return 0;
}

/* The entry of the longest matching prefix; block on a tie. */
static int32_t trie_lookup(const struct trie *t, const unsigned char *addr, int bits)
{
	int32_t best = NO_ENTRY, cur = t->len ? 0 : NO_ENTRY;
	for (int i = 0; cur != NO_ENTRY; i++) {
		const struct tnode *n = &t->n[cur];
		if (n->hit[1] != NO_ENTRY)
			best = n->hit[1];
		else if (n->hit[0] != NO_ENTRY)
			best = n->hit[0];
		if (i == bits)
			break;
		cur = n->child[bit_at(addr, i)];
	}
	return best;
}

/* ---- building ------------------------------------------------------ */

static int32_t add_entry(struct policy *p, enum list_id l, const char *entry, json_t *val)
{
	if (p->nent == p->capent) {
		p->capent = p->capent ? p->capent * 2 : 64;
		p->ent = xrealloc(p->ent, p->capent * sizeof *p->ent);
	}
	struct pentry *e = &p->ent[p->nent];
	e->entry = xstrdup(entry);
	e->comment = xstrdup(json_string_value(json_object_get(val, "comment")));
	e->list = l;
	e->action = ACTION_ALLOW;
	if (lists_table[l].actions &&
	    lists_action_parse(json_string_value(json_object_get(val, "action")), &e->action) < 0)
		e->action = ACTION_BLOCK;
	return (int32_t)p->nent++;
}

static void add_cidr(struct policy *p, enum list_id l, const char *entry, int32_t idx)
{
	struct cidr c;
	if (net_parse_cidr(entry, &c, NULL) < 0)
		return;
	struct trie *t = c.family == AF_INET ? &p->v4 : &p->v6;
	if (trie_insert(t, c.addr, c.prefix, l == L_IP_BLOCK, idx) < 0)
		log_warn("policy: %s: too many CIDR entries, %s and later ones ignored",
			 lists_table[l].name, entry);
}

static void add_pair(struct policy *p, struct strmap *m, const char *entry, int block,
		     int32_t idx)
{
	uintptr_t slot = (uintptr_t)strmap_get(m, entry);
	if (!slot) {
		if (p->npairs == p->cappairs) {
			p->cappairs = p->cappairs ? p->cappairs * 2 : 64;
			p->pairs = xrealloc(p->pairs, p->cappairs * sizeof *p->pairs);
		}
		p->pairs[p->npairs] = (struct pair){{NO_ENTRY, NO_ENTRY}};
		slot = ++p->npairs;
		strmap_put(m, entry, (void *)slot, NULL);
	}
	p->pairs[slot - 1].hit[block] = idx;
}

/* One list/ key. Keys were validated by the store; anything odd is
 * skipped, never trusted. */
static void add_list_key(struct policy *p, const char *rest, const char *value)
{
	size_t n = strcspn(rest, "@/");
	char name[64];
	if (n >= sizeof name || rest[n] != '/')
		return; /* domain-scoped lists are not matched yet (lists.h) */
	memcpy(name, rest, n);
	name[n] = '\0';
	const struct list_def *d = lists_find(name);
	const char *entry = rest + n + 1;
	json_t *val = json_loads(value, 0, NULL);
	if (!d || !*entry || !json_is_object(val)) {
		json_decref(val);
		return;
	}
	enum list_id l = lists_id(d);
	int32_t idx = add_entry(p, l, entry, val);
	json_decref(val);
	p->count[l]++;
	switch (d->type) {
	case LIST_CIDR:
		add_cidr(p, l, entry, idx);
		break;
	case LIST_ADDR:
		add_pair(p, &p->addr[l >= L_RCPT_ALLOW], entry, d->actions != NULL, idx);
		break;
	case LIST_EXT:
		strmap_put(&p->ext, entry, (void *)(uintptr_t)(idx + 1), NULL);
		break;
	case LIST_MIME:
		strmap_put(&p->mime, entry, (void *)(uintptr_t)(idx + 1), NULL);
		break;
	}
}

static uint64_t fnv(uint64_t h, const char *s)
{
	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 1099511628211ull;
	}
	return (h ^ 0xff) * 1099511628211ull;
}

static int policy_key(const char *key)
{
	return strncmp(key, "list/", 5) == 0 || strncmp(key, "filter/", 7) == 0;
}

/* Order-independent digest of the policy keys and values. */
static uint64_t policy_digest(json_t *keys)
{
	uint64_t sum = 0;
	const char *key;
	json_t *v;
	json_object_foreach(keys, key, v)
	{
		if (policy_key(key) && json_is_string(v))
			sum += fnv(fnv(1469598103934665603ull, key), json_string_value(v));
	}
	return sum;
}

struct policy *policy_build(json_t *keys)
{
	struct policy *p = calloc(1, sizeof *p);
	if (!p)
		log_panic("policy: out of memory");
	p->refs = 1;
	strmap_init(&p->addr[0]);
	strmap_init(&p->addr[1]);
	strmap_init(&p->ext);
	strmap_init(&p->mime);
	const char *key;
	json_t *v;
	json_object_foreach(keys, key, v)
	{
		if (strncmp(key, "list/", 5) == 0 && json_is_string(v))
			add_list_key(p, key + 5, json_string_value(v));
	}
	p->content = content_build(keys);
	p->digest = policy_digest(keys);
	return p;
}

static void policy_free(struct policy *p)
{
	for (size_t i = 0; i < p->nent; i++) {
		free(p->ent[i].entry);
		free(p->ent[i].comment);
	}
	free(p->ent);
	free(p->v4.n);
	free(p->v6.n);
	free(p->pairs);
	strmap_free(&p->addr[0], NULL);
	strmap_free(&p->addr[1], NULL);
	strmap_free(&p->ext, NULL);
	strmap_free(&p->mime, NULL);
	content_free(p->content);
	free(p);
}

void policy_release(struct policy *p)
{
	if (p && __atomic_sub_fetch(&p->refs, 1, __ATOMIC_ACQ_REL) == 0)
		policy_free(p);
}

/* ---- the shared snapshot ------------------------------------------- */

static pthread_mutex_t shared_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t build_lock = PTHREAD_MUTEX_INITIALIZER;
static struct policy *shared;
static const struct config_store *shared_cs;

static struct policy *shared_get(const struct config_store *cs, uint64_t version)
{
	struct policy *p = NULL;
	pthread_mutex_lock(&shared_lock);
	if (shared && shared_cs == cs && shared->version == version) {
		p = shared;
		__atomic_add_fetch(&p->refs, 1, __ATOMIC_ACQ_REL);
	}
	pthread_mutex_unlock(&shared_lock);
	return p;
}

static void shared_set(const struct config_store *cs, struct policy *p)
{
	pthread_mutex_lock(&shared_lock);
	struct policy *old = shared;
	shared = p;
	shared_cs = cs;
	pthread_mutex_unlock(&shared_lock);
	policy_release(old);
}

/* {key: value} of the list/ and filter/ keys only: a change elsewhere in
 * the store (settings, users) costs a digest of these, not an export. */
static json_t *policy_keys(struct config_store *cs)
{
	static const char *const prefixes[] = {"list/", "filter/"};
	json_t *keys = json_object();
	for (size_t i = 0; i < sizeof prefixes / sizeof *prefixes; i++) {
		json_t *rows = config_list_prefix(cs, prefixes[i]), *it;
		size_t k;
		json_array_foreach(rows, k, it)
		{
			const char *key = json_string_value(json_object_get(it, "key"));
			json_t *val = json_object_get(it, "value");
			if (key && json_is_string(val))
				json_object_set(keys, key, val);
		}
		json_decref(rows);
	}
	return keys;
}

struct policy *policy_acquire(struct config_store *cs)
{
	uint64_t version = config_version(cs);
	struct policy *p = shared_get(cs, version);
	if (p)
		return p;
	pthread_mutex_lock(&build_lock);
	/* another thread may have built it while we waited */
	version = config_version(cs);
	p = shared_get(cs, version);
	if (!p) {
		json_t *keys = policy_keys(cs);
		uint64_t digest = policy_digest(keys);
		pthread_mutex_lock(&shared_lock);
		if (shared && shared_cs == cs && shared->digest == digest) {
			shared->version = version; /* no policy key changed */
			p = shared;
			__atomic_add_fetch(&p->refs, 1, __ATOMIC_ACQ_REL);
		}
		pthread_mutex_unlock(&shared_lock);
		if (!p) {
			p = policy_build(keys);
			p->version = version;
			__atomic_add_fetch(&p->refs, 1, __ATOMIC_ACQ_REL);
			shared_set(cs, p);
		}
		json_decref(keys);
	}
	pthread_mutex_unlock(&build_lock);
	return p;
}

void policy_shared_reset(void)
{
	shared_set(NULL, NULL);
}

size_t policy_count(const struct policy *p, enum list_id l)
{
	return l < L_COUNT ? p->count[l] : 0;
}

const struct content_set *policy_content(const struct policy *p)
{
	return p->content;
}

/* ---- matching ------------------------------------------------------ */

static int fill_hit(const struct policy *p, int32_t idx, struct list_hit *hit)
{
	if (idx == NO_ENTRY)
		return 0;
	const struct pentry *e = &p->ent[idx];
	hit->list = e->list;
	hit->action = e->action;
	hit->entry = e->entry;
	hit->comment = e->comment;
	return 1;
}

int policy_match_ip(const struct policy *p, const char *ip, struct list_hit *hit)
{
	unsigned char a[16];
	if (!ip)
		return 0;
	if (inet_pton(AF_INET, ip, a) == 1)
		return fill_hit(p, trie_lookup(&p->v4, a, 32), hit);
	if (inet_pton(AF_INET6, ip, a) != 1)
		return 0;
	static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	if (memcmp(a, mapped, 12) == 0)
		return fill_hit(p, trie_lookup(&p->v4, a + 12, 32), hit);
	return fill_hit(p, trie_lookup(&p->v6, a, 128), hit);
}

/* Address, then its domain, then each parent domain: the first key
 * listed decides, block before allow. */
static int match_addr(const struct policy *p, const struct strmap *m, const char *addr,
		      struct list_hit *hit)
{
	char lc[LISTS_ENTRY_MAX];
	size_t n = addr ? strlen(addr) : 0;
	if (n == 0 || n >= sizeof lc)
		return 0;
	for (size_t i = 0; i <= n; i++)
		lc[i] = (char)tolower((unsigned char)addr[i]);
	const char *at = strrchr(lc, '@');
	for (const char *k = lc; k && *k;) {
		uintptr_t slot = (uintptr_t)strmap_get(m, k);
		if (slot) {
			const struct pair *pr = &p->pairs[slot - 1];
			return fill_hit(p, pr->hit[1] != NO_ENTRY ? pr->hit[1] : pr->hit[0], hit);
		}
		if (k == lc && at)
			k = at + 1;
		else if ((k = strchr(k, '.')))
			k++;
	}
	return 0;
}

int policy_match_sender(const struct policy *p, const char *addr, struct list_hit *hit)
{
	return match_addr(p, &p->addr[0], addr, hit);
}

int policy_match_rcpt(const struct policy *p, const char *addr, struct list_hit *hit)
{
	return match_addr(p, &p->addr[1], addr, hit);
}

static int map_hit(const struct policy *p, const struct strmap *m, const char *key,
		   struct list_hit *hit)
{
	uintptr_t v = (uintptr_t)strmap_get(m, key);
	return v ? fill_hit(p, (int32_t)(v - 1), hit) : 0;
}

int policy_match_ext(const struct policy *p, const char *filename, struct list_hit *hit)
{
	char lc[256];
	size_t n = filename ? strlen(filename) : 0;
	if (n >= sizeof lc) { /* the end is what counts */
		filename += n - (sizeof lc - 1);
		n = sizeof lc - 1;
	}
	for (size_t i = 0; i < n; i++)
		lc[i] = (char)tolower((unsigned char)filename[i]);
	/* Windows drops trailing dots and spaces: "a.exe. " runs as a.exe */
	while (n && (lc[n - 1] == '.' || lc[n - 1] == ' '))
		n--;
	lc[n] = '\0';
	char *last = strrchr(lc, '.');
	if (!last)
		return 0;
	*last = '\0';
	char *prev = strrchr(lc, '.');
	*last = '.';
	if (prev && map_hit(p, &p->ext, prev + 1, hit))
		return 1;
	return map_hit(p, &p->ext, last + 1, hit);
}

int policy_match_mime(const struct policy *p, const char *type, struct list_hit *hit)
{
	char lc[160];
	size_t n = type ? strlen(type) : 0;
	if (n == 0 || n >= sizeof lc - 2)
		return 0;
	for (size_t i = 0; i <= n; i++)
		lc[i] = (char)tolower((unsigned char)type[i]);
	if (map_hit(p, &p->mime, lc, hit))
		return 1;
	char *slash = strchr(lc, '/');
	if (!slash)
		return 0;
	slash[1] = '*';
	slash[2] = '\0';
	return map_hit(p, &p->mime, lc, hit);
}
