/* One Vectorscan database per text, with an on-disk cache: compiling the
 * stock SpamAssassin set takes Vectorscan a minute or more of CPU, so
 * each database is serialised under a key that hashes its expressions,
 * flags and the library version; a restart or a reload that leaves a
 * text's rules unchanged loads it in milliseconds. A pattern the
 * database rejects is demoted (exact -> prefilter -> PCRE2 only) and the
 * build retried; the demotions are stored with the cached database. */
#include "filter/rules_int.h"

#include <dirent.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/fsutil.h"
#include "util/log.h"
#include "util/timeutil.h"

#define CACHE_MAGIC "RHSDB1\n"
#define CACHE_MAX (512u << 20)
#define MAX_DEMOTIONS 500

static const char *class_name(int cls)
{
	static const char *const names[] = {"header", "body", "rawbody", "uri", "full", "meta"};
	return cls >= 0 && cls < RULES_NCLASS ? names[cls] : "?";
}

struct demotion {
	uint32_t member;   /* index in g->members */
	uint32_t eng;
};

struct exprs {
	const char **ex;
	unsigned *fl, *ids;
	size_t k;
};

/* Expressions for the database from the members' current engines. */
static void exprs_fill(const struct ruleset *rs, struct rgroup *g, struct exprs *x)
{
	x->k = 0;
	g->npcre = 0;
	for (size_t i = 0; i < g->nmembers; i++) {
		const struct rule *r = &rs->rules[g->members[i]];
		if (r->eng == ENG_DROPPED)
			continue;
		if (r->eng == ENG_PCRE) {
			g->pcre[g->npcre++] = g->members[i];
			continue;
		}
		x->ex[x->k] = r->re;
		x->fl[x->k] = r->hsflags | (r->eng == ENG_HS_PRE ? HS_FLAG_PREFILTER : 0);
		x->ids[x->k] = (unsigned)x->k;
		g->map[x->k++] = g->members[i];
	}
}

static void group_key(const struct ruleset *rs, const struct rgroup *g, char *hex)
{
	crypto_generichash_state st;
	unsigned char h[32];
	crypto_generichash_init(&st, NULL, 0, sizeof h);
	const char *ver = hs_version();
	crypto_generichash_update(&st, (const unsigned char *)ver, strlen(ver) + 1);
	for (size_t i = 0; i < g->nmembers; i++) {
		const struct rule *r = &rs->rules[g->members[i]];
		uint32_t meta[2] = {r->hsflags, r->eng};
		crypto_generichash_update(&st, (const unsigned char *)meta, sizeof meta);
		crypto_generichash_update(&st, (const unsigned char *)r->re, strlen(r->re) + 1);
	}
	crypto_generichash_final(&st, h, sizeof h);
	sodium_bin2hex(hex, 65, h, sizeof h);
}

static int cache_load(struct ruleset *rs, struct rgroup *g, const char *dir, struct exprs *x)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/%s.hsdb", dir, g->key);
	char *data = NULL;
	size_t len = 0;
	struct err e;
	if (access(path, R_OK) != 0 || fs_read_all(path, CACHE_MAX, &data, &len, &e) < 0)
		return -1;
	size_t ml = sizeof CACHE_MAGIC - 1, off = ml + 4;
	uint32_t nd = 0;
	if (len < off || memcmp(data, CACHE_MAGIC, ml) != 0)
		goto bad;
	memcpy(&nd, data + ml, 4);
	if (nd > MAX_DEMOTIONS || len < off + nd * sizeof(struct demotion))
		goto bad;
	for (uint32_t i = 0; i < nd; i++) {
		struct demotion d;
		memcpy(&d, data + off + i * sizeof d, sizeof d);
		if (d.member >= g->nmembers || d.eng > ENG_DROPPED)
			goto bad;
		rules_set_engine(&rs->rules[g->members[d.member]], (enum rengine)d.eng);
	}
	off += nd * sizeof(struct demotion);
	exprs_fill(rs, g, x);
	if (x->k && hs_deserialize_database(data + off, len - off, &g->db) != HS_SUCCESS)
		goto bad;
	free(data);
	g->cached = 1;
	return 0;
bad:
	free(data);
	log_warn("rules: ignoring bad cache file %s", path);
	return -1;
}

static void cache_store(const struct rgroup *g, const char *dir, const struct demotion *dm,
			uint32_t nd)
{
	char *ser = NULL;
	size_t slen = 0;
	if (g->db && hs_serialize_database(g->db, &ser, &slen) != HS_SUCCESS)
		return;
	struct buf b;
	buf_init(&b, CACHE_MAX);
	char path[4096];
	struct err e;
	snprintf(path, sizeof path, "%s/%s.hsdb", dir, g->key);
	if (buf_append(&b, CACHE_MAGIC, sizeof CACHE_MAGIC - 1) == 0 && buf_append(&b, &nd, 4) == 0 &&
	    buf_append(&b, dm, nd * sizeof *dm) == 0 && buf_append(&b, ser ? ser : "", slen) == 0 &&
	    (fs_mkdir_p(dir, 0750, &e) < 0 || fs_write_atomic(path, b.data, b.len, 0640, &e) < 0))
		log_warn("rules: cannot write cache %s: %s", path, e.msg);
	buf_free(&b);
	free(ser);
}

static int compile(struct ruleset *rs, struct rgroup *g, struct exprs *x, struct demotion *dm,
		   uint32_t *nd, struct err *e)
{
	for (;;) {
		exprs_fill(rs, g, x);
		if (!x->k)
			return 0;
		hs_compile_error_t *ce = NULL;
		if (hs_compile_multi(x->ex, x->fl, x->ids, (unsigned)x->k, HS_MODE_BLOCK, NULL, &g->db,
				     &ce) == HS_SUCCESS)
			return 0;
		int bad = ce->expression;
		if (bad < 0 || *nd >= MAX_DEMOTIONS) {  /* the database as a whole failed */
			err_set(e, "vectorscan: %s", ce->message);
			hs_free_compile_error(ce);
			return -1;
		}
		hs_free_compile_error(ce);
		struct rule *r = &rs->rules[g->map[bad]];
		/* without PCRE2 code (too large for it) the rule cannot degrade */
		enum rengine want = !r->pc ? ENG_DROPPED : r->eng < ENG_HS_PRE ? ENG_HS_PRE : ENG_PCRE;
		for (size_t i = 0; i < g->nmembers; i++)
			if (g->members[i] == g->map[bad])
				dm[(*nd)++] = (struct demotion){(uint32_t)i, want};
		rules_set_engine(r, want);
	}
}

int rules_group_build(struct ruleset *rs, struct rgroup *g, const char *cache_dir, struct err *e)
{
	size_t n = g->nmembers ? g->nmembers : 1;
	struct exprs x = {calloc(n, sizeof *x.ex), calloc(n, sizeof *x.fl), calloc(n, sizeof *x.ids), 0};
	struct demotion *dm = calloc(MAX_DEMOTIONS, sizeof *dm);
	g->map = calloc(n, sizeof *g->map);
	g->pcre = calloc(n, sizeof *g->pcre);
	int rc = -1;
	if (!x.ex || !x.fl || !x.ids || !dm || !g->map || !g->pcre) {
		err_set(e, "out of memory");
		goto out;
	}
	if (sodium_init() < 0) {
		err_set(e, "libsodium init failed");
		goto out;
	}
	group_key(rs, g, g->key);
	if (cache_dir && cache_load(rs, g, cache_dir, &x) == 0) {
		rc = 0;
		goto out;
	}
	uint32_t nd = 0;
	int64_t t0 = time_mono_us();
	rc = compile(rs, g, &x, dm, &nd, e);
	int64_t ms = (time_mono_us() - t0) / 1000;
	if (rc == 0 && ms >= 1000)  /* explains a slow first start */
		log_info("rules: compiled the %s database (%zu patterns) in %lld ms",
			 g->target >= 0 ? rs->targets[g->target].key : class_name(g->cls), x.k,
			 (long long)ms);
	if (rc == 0 && cache_dir)
		cache_store(g, cache_dir, dm, nd);
out:
	g->nmap = x.k;
	free(x.ex);
	free(x.fl);
	free(x.ids);
	free(dm);
	return rc;
}

/* Drops cached databases the set does not use (older rule versions). */
void rules_cache_prune(const char *cache_dir, const struct ruleset *rs)
{
	DIR *d = cache_dir ? opendir(cache_dir) : NULL;
	if (!d)
		return;
	struct dirent *de;
	while ((de = readdir(d))) {
		size_t l = strlen(de->d_name);
		if (l != 64 + 5 || strcmp(de->d_name + 64, ".hsdb") != 0)
			continue;
		int used = 0;
		for (size_t i = 0; i < rs->ngroups && !used; i++)
			used = strncmp(rs->groups[i].key, de->d_name, 64) == 0;
		if (!used) {
			char path[4096];
			snprintf(path, sizeof path, "%s/%s", cache_dir, de->d_name);
			unlink(path);
		}
	}
	closedir(d);
}
