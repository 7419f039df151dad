/* Fingerprints of known spam (fingerprint.h): the SimHash, its table and
 * the shared in-memory copy the scan threads match against. */
#include "filter/fingerprint.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/config.h"
#include "store/db.h"
#include "util/log.h"
#include "util/timeutil.h"

#define TOKEN_MIN 2
#define TOKEN_MAX 40          /* longer runs are random strings or encodings */
#define RECHECK_MS 2000       /* how often scans look for rows other processes wrote */

/* ---- the hash ------------------------------------------------------ */

static uint64_t mix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull; /* splitmix64 */
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

static uint64_t rotl(uint64_t x, int r)
{
	return x << r | x >> (64 - r);
}

/* Slot k hashes a shingle h as mul[k] * h + add[k] (mod 2^64, mul odd:
 * a permutation of the 64-bit values); the constants are fixed so stored
 * fingerprints stay comparable across versions. */
static uint64_t mul[FINGERPRINT_SLOTS], add[FINGERPRINT_SLOTS];
static pthread_once_t consts_once = PTHREAD_ONCE_INIT;

static void consts_init(void)
{
	for (int k = 0; k < FINGERPRINT_SLOTS; k++) {
		mul[k] = mix64((uint64_t)k * 2 + 1) | 1;
		add[k] = mix64((uint64_t)k * 2 + 1000);
	}
}

struct minhash {
	uint64_t min[FINGERPRINT_SLOTS];
	uint64_t w[3];  /* hashes of the last three words */
	uint32_t nwords, features;
};

static void add_feature(struct minhash *m, uint64_t f)
{
	uint64_t h = mix64(f);
	for (int k = 0; k < FINGERPRINT_SLOTS; k++) {
		uint64_t v = mul[k] * h + add[k];
		m->min[k] = v < m->min[k] ? v : m->min[k];
	}
	m->features++;
}

static void add_word(struct minhash *m, const char *w, size_t n)
{
	uint64_t h = 1469598103934665603ull; /* FNV-1a */
	for (size_t i = 0; i < n; i++) {
		h ^= (unsigned char)w[i];
		h *= 1099511628211ull;
	}
	m->w[0] = m->w[1];
	m->w[1] = m->w[2];
	m->w[2] = h;
	if (++m->nwords >= 3)
		add_feature(m, m->w[0] ^ rotl(m->w[1], 21) ^ rotl(m->w[2], 42));
}

/* Words: runs of letters (ASCII, lower-cased, or any byte of a UTF-8
 * sequence); digits, punctuation and markup separate them, so numbers,
 * prices and tracking codes do not change the fingerprint. */
int fingerprint_text(const char *text, size_t len, struct fingerprint *fp)
{
	struct minhash m;
	pthread_once(&consts_once, consts_init);
	memset(&m, 0, sizeof m);
	memset(m.min, 0xff, sizeof m.min);
	char word[TOKEN_MAX + 1];
	size_t wn = 0;
	int overlong = 0;
	for (size_t i = 0; i <= len && m.nwords < FINGERPRINT_MAX_TOKENS; i++) {
		unsigned char c = i < len ? (unsigned char)text[i] : ' ';
		int letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c >= 0x80;
		if (letter) {
			if (wn < TOKEN_MAX)
				word[wn++] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
			else
				overlong = 1;
			continue;
		}
		if (wn >= TOKEN_MIN && !overlong)
			add_word(&m, word, wn);
		wn = 0;
		overlong = 0;
	}
	memset(fp, 0, sizeof *fp);
	fp->features = m.features;
	if (m.features < FINGERPRINT_MIN_FEATURES)
		return -1;
	/* 8 bits of each minimum: unrelated slots agree by chance 1 in 256 */
	for (int k = 0; k < FINGERPRINT_SLOTS; k++)
		fp->slot[k] = (uint8_t)(m.min[k] >> 24);
	return 0;
}

int fingerprint_compute(const struct msg_view *v, struct fingerprint *fp)
{
	if (!v || !v->text.data)
		return -1;
	return fingerprint_text(v->text.data, v->text.len, fp);
}

#define WORDS (FINGERPRINT_SLOTS / 8)

/* Slots that differ, 8 at a time: a byte of x = a ^ b is non-zero iff its
 * high bit ends up set here. Stops counting beyond limit. */
static int words_differ(const uint64_t *a, const uint64_t *b, int limit)
{
	const uint64_t low7 = 0x7f7f7f7f7f7f7f7full;
	int d = 0;
	for (int i = 0; i < WORDS && d <= limit; i++) {
		uint64_t x = a[i] ^ b[i];
		d += __builtin_popcountll((((x & low7) + low7) | x) & ~low7);
	}
	return d;
}

static void slots_words(const uint8_t *slot, uint64_t *w)
{
	memcpy(w, slot, FINGERPRINT_SLOTS);
}

static int slots_differ(const uint8_t *a, const uint8_t *b)
{
	uint64_t wa[WORDS], wb[WORDS];
	slots_words(a, wa);
	slots_words(b, wb);
	return words_differ(wa, wb, FINGERPRINT_SLOTS);
}

int fingerprint_distance(const struct fingerprint *a, const struct fingerprint *b)
{
	return slots_differ(a->slot, b->slot);
}

void fingerprint_hex(const struct fingerprint *fp, char out[FINGERPRINT_HEX_LEN + 1])
{
	static const char digits[] = "0123456789abcdef";
	for (int k = 0; k < FINGERPRINT_SLOTS; k++) {
		out[2 * k] = digits[fp->slot[k] >> 4];
		out[2 * k + 1] = digits[fp->slot[k] & 15];
	}
	out[FINGERPRINT_HEX_LEN] = '\0';
}

static int hexval(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

int fingerprint_parse_hex(const char *hex, struct fingerprint *fp)
{
	if (!hex || strlen(hex) != FINGERPRINT_HEX_LEN)
		return -1;
	memset(fp, 0, sizeof *fp);
	for (int k = 0; k < FINGERPRINT_SLOTS; k++) {
		int hi = hexval(hex[2 * k]), lo = hexval(hex[2 * k + 1]);
		if (hi < 0 || lo < 0)
			return -1;
		fp->slot[k] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

/* ---- the table ----------------------------------------------------- */

static const char schema[] =
	"CREATE TABLE IF NOT EXISTS fingerprint(id INTEGER PRIMARY KEY, hash TEXT NOT NULL UNIQUE,"
	" features INTEGER NOT NULL, subject TEXT, note TEXT, created_ms INTEGER NOT NULL);";

/* Bumped by every change made through this process. */
static uint64_t generation = 1;

int fingerprint_init(sqlite3 *db, struct err *e)
{
	return db_exec(db, schema, e);
}

static int64_t existing_id(sqlite3 *db, const char *hex)
{
	sqlite3_stmt *st = db_cached(db, "SELECT id FROM fingerprint WHERE hash = ?1", NULL);
	if (!st)
		return -1;
	sqlite3_bind_text(st, 1, hex, -1, SQLITE_STATIC);
	int64_t id = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
	sqlite3_reset(st);
	return id;
}

static int insert_row(sqlite3 *db, const char *hex, const struct fingerprint *fp,
		      const char *subject, const char *note, struct err *e)
{
	sqlite3_stmt *st =
	    db_cached(db,
		      "INSERT INTO fingerprint(hash, features, subject, note, created_ms)"
		      " VALUES(?1, ?2, ?3, ?4, ?5)",
		      e);
	if (!st)
		return -1;
	sqlite3_bind_text(st, 1, hex, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, fp->features);
	if (subject)
		sqlite3_bind_text(st, 3, subject, (int)strnlen(subject, 1000), SQLITE_STATIC);
	if (note)
		sqlite3_bind_text(st, 4, note, (int)strnlen(note, 1000), SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, time_now_ms());
	if (db_step_done(st, e) < 0)
		return -1;
	/* keep the newest FINGERPRINT_MAX_STORED */
	st = db_cached(db,
		       "DELETE FROM fingerprint WHERE id <= (SELECT id FROM fingerprint"
		       " ORDER BY id DESC LIMIT 1 OFFSET ?1)",
		       e);
	if (!st)
		return -1;
	sqlite3_bind_int(st, 1, FINGERPRINT_MAX_STORED);
	return db_step_done(st, e);
}

int64_t fingerprint_add_note(sqlite3 *db, const struct msg_view *v, const char *note,
			     struct err *e)
{
	struct fingerprint fp;
	char hex[FINGERPRINT_HEX_LEN + 1];
	if (fingerprint_compute(v, &fp) < 0)
		return 0;
	if (fingerprint_init(db, e) < 0)
		return -1;
	fingerprint_hex(&fp, hex);
	int64_t id = existing_id(db, hex);
	if (id != 0)
		return id;
	if (insert_row(db, hex, &fp, msgview_header(v, "Subject"), note, e) < 0)
		return -1;
	__atomic_add_fetch(&generation, 1, __ATOMIC_ACQ_REL);
	return existing_id(db, hex);
}

int64_t fingerprint_add(sqlite3 *db, const struct msg_view *v)
{
	struct err e;
	int64_t id = fingerprint_add_note(db, v, NULL, &e);
	if (id < 0)
		log_error("fingerprint: %s", e.msg);
	return id;
}

int fingerprint_remove(sqlite3 *db, int64_t id, struct err *e)
{
	if (fingerprint_init(db, e) < 0)
		return -1;
	sqlite3_stmt *st = db_cached(db, "DELETE FROM fingerprint WHERE id = ?1", e);
	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, id);
	if (db_step_done(st, e) < 0)
		return -1;
	if (sqlite3_changes(db) == 0)
		return err_set(e, "no fingerprint %lld", (long long)id);
	__atomic_add_fetch(&generation, 1, __ATOMIC_ACQ_REL);
	return 0;
}

static json_t *text_or_null(sqlite3_stmt *st, int col)
{
	const char *s = (const char *)sqlite3_column_text(st, col);
	json_t *j = s ? json_string(s) : NULL;
	return j ? j : json_null();
}

json_t *fingerprint_list(sqlite3 *db, int limit, int offset, struct err *e)
{
	if (fingerprint_init(db, e) < 0)
		return NULL;
	sqlite3_stmt *st = db_cached(db, "SELECT count(*) FROM fingerprint", e);
	if (!st || sqlite3_step(st) != SQLITE_ROW) {
		err_set(e, "fingerprints: %s", sqlite3_errmsg(db));
		return NULL;
	}
	json_int_t total = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	st = db_cached(db,
		       "SELECT id, hash, features, subject, note, created_ms FROM fingerprint"
		       " ORDER BY id DESC LIMIT ?1 OFFSET ?2",
		       e);
	if (!st)
		return NULL;
	sqlite3_bind_int(st, 1, limit > 0 && limit <= 1000 ? limit : 100);
	sqlite3_bind_int(st, 2, offset > 0 ? offset : 0);
	json_t *rows = json_array();
	while (sqlite3_step(st) == SQLITE_ROW)
		json_array_append_new(rows, json_pack("{s:I,s:o,s:I,s:o,s:o,s:I}", "id",
						      (json_int_t)sqlite3_column_int64(st, 0),
						      "hash", text_or_null(st, 1), "features",
						      (json_int_t)sqlite3_column_int64(st, 2),
						      "subject", text_or_null(st, 3), "note",
						      text_or_null(st, 4), "created_ms",
						      (json_int_t)sqlite3_column_int64(st, 5)));
	sqlite3_reset(st);
	return json_pack("{s:I,s:o}", "total", total, "rows", rows);
}

/* ---- the shared copy ----------------------------------------------- */

struct fp_item {
	uint64_t w[WORDS];
	int64_t id;
};

struct fp_set {
	int refs;
	char path[1024];
	uint64_t generation;
	int64_t count, max_id;   /* what the table held when loaded */
	int64_t checked_ms;
	size_t n;
	struct fp_item *items;
};

static pthread_mutex_t shared_lock = PTHREAD_MUTEX_INITIALIZER;
static struct fp_set *shared;

static void set_release(struct fp_set *s)
{
	if (s && __atomic_sub_fetch(&s->refs, 1, __ATOMIC_ACQ_REL) == 0) {
		free(s->items);
		free(s);
	}
}

/* count(*) and max(id): -1 when the table is missing. */
static int table_state(sqlite3 *db, int64_t *count, int64_t *max_id)
{
	sqlite3_stmt *st = db_cached(db, "SELECT count(*), coalesce(max(id), 0) FROM fingerprint",
				     NULL);
	if (!st || sqlite3_step(st) != SQLITE_ROW)
		return -1;
	*count = sqlite3_column_int64(st, 0);
	*max_id = sqlite3_column_int64(st, 1);
	sqlite3_reset(st);
	return 0;
}

static struct fp_set *set_load(sqlite3 *db, const char *path, uint64_t gen)
{
	struct fp_set *s = calloc(1, sizeof *s);
	if (!s)
		return NULL;
	s->refs = 1;
	s->generation = gen;
	s->checked_ms = time_now_ms();
	snprintf(s->path, sizeof s->path, "%s", path);
	if (table_state(db, &s->count, &s->max_id) < 0)
		return s; /* no table yet: nothing to match */
	sqlite3_stmt *st = db_prepare(db, "SELECT id, hash FROM fingerprint", NULL);
	size_t cap = 0;
	while (st && sqlite3_step(st) == SQLITE_ROW) {
		struct fingerprint fp;
		if (fingerprint_parse_hex((const char *)sqlite3_column_text(st, 1), &fp) < 0)
			continue;
		if (s->n == cap) {
			cap = cap ? cap * 2 : 64;
			struct fp_item *ni = realloc(s->items, cap * sizeof *ni);
			if (!ni)
				break;
			s->items = ni;
		}
		slots_words(fp.slot, s->items[s->n].w);
		s->items[s->n++].id = sqlite3_column_int64(st, 0);
	}
	sqlite3_finalize(st);
	return s;
}

/* Still what the table holds? Rows written by another process (the CLI)
 * show in count or max(id) at the next periodic check. */
static int set_fresh(struct fp_set *s, sqlite3 *db, const char *path, uint64_t gen)
{
	if (strcmp(s->path, path) != 0 || s->generation != gen)
		return 0;
	int64_t now = time_now_ms();
	if (now - s->checked_ms < RECHECK_MS)
		return 1;
	int64_t count = 0, max_id = 0;
	table_state(db, &count, &max_id);
	if (count != s->count || max_id != s->max_id)
		return 0;
	s->checked_ms = now;
	return 1;
}

static struct fp_set *set_acquire(sqlite3 *db)
{
	const char *path = sqlite3_db_filename(db, "main");
	uint64_t gen = __atomic_load_n(&generation, __ATOMIC_ACQUIRE);
	pthread_mutex_lock(&shared_lock);
	if (!shared || !set_fresh(shared, db, path ? path : "", gen)) {
		struct fp_set *s = set_load(db, path ? path : "", gen);
		if (s) {
			set_release(shared);
			shared = s;
		}
	}
	struct fp_set *s = shared;
	if (s)
		__atomic_add_fetch(&s->refs, 1, __ATOMIC_ACQ_REL);
	pthread_mutex_unlock(&shared_lock);
	return s;
}

void fingerprint_shared_reset(void)
{
	pthread_mutex_lock(&shared_lock);
	set_release(shared);
	shared = NULL;
	pthread_mutex_unlock(&shared_lock);
}

int fingerprint_match(sqlite3 *db, const struct fingerprint *fp, int max_distance, int64_t *id,
		      int *distance)
{
	struct fp_set *s = set_acquire(db);
	if (!s)
		return 0;
	int best = FINGERPRINT_SLOTS + 1;
	int64_t best_id = 0;
	uint64_t w[WORDS];
	slots_words(fp->slot, w);
	for (size_t i = 0; i < s->n; i++) {
		int d = words_differ(w, s->items[i].w, best < max_distance ? best : max_distance);
		if (d < best) {
			best = d;
			best_id = s->items[i].id;
		}
	}
	set_release(s);
	if (best > max_distance)
		return 0;
	*id = best_id;
	*distance = best;
	return 1;
}

/* ---- the stage ----------------------------------------------------- */

/* Whether any fingerprint is stored: the MinHash of every message (a few
 * percent of the scan's CPU) is skipped until the administrator
 * classified something as spam. */
static int any_fingerprints(sqlite3 *db)
{
	struct fp_set *s = set_acquire(db);
	int n = s && s->n > 0;
	if (s)
		set_release(s);
	return n;
}

int stage_fingerprint_run(struct scan_job *job)
{
	struct fingerprint fp;
	if (!job->view || !any_fingerprints(filter_thread_db(job->ft)) ||
	    fingerprint_compute(job->view, &fp) < 0)
		return 0;
	struct config_store *cfg = filter_engine_cfg(job->fe);
	int maxd = (int)config_int(cfg, "fingerprint_max_distance", NULL, NULL);
	int64_t id;
	int d;
	if (!fingerprint_match(filter_thread_db(job->ft), &fp, maxd, &id, &d))
		return 0;
	char desc[128];
	snprintf(desc, sizeof desc,
		 "Near the fingerprint of known spam #%lld (%d of %d slots differ)", (long long)id,
		 d, FINGERPRINT_SLOTS);
	verdict_hit(job->v, FINGERPRINT_RULE, config_float(cfg, "fingerprint_score", NULL, NULL),
		    desc);
	return 0;
}
