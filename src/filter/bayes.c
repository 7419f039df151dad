/* Bayes token database in SQLite: schema, learning, unlearning, expiry.
 * Token rows are keyed by the 64-bit token hash (stored as a signed
 * INTEGER PRIMARY KEY, i.e. the rowid: one B-tree, no extra index).
 * Every change bumps bayes_var.version so scan threads reload their
 * snapshot. */
#include "filter/bayes.h"

#include <string.h>
#include <time.h>

#include "util/log.h"

static const char schema[] =
	"CREATE TABLE IF NOT EXISTS bayes_token ("
	" h INTEGER PRIMARY KEY, spam INTEGER NOT NULL DEFAULT 0,"
	" ham INTEGER NOT NULL DEFAULT 0, atime INTEGER NOT NULL);"
	"CREATE TABLE IF NOT EXISTS bayes_var (name TEXT PRIMARY KEY, value INTEGER NOT NULL);"
	"CREATE TABLE IF NOT EXISTS bayes_seen ("
	" msgkey INTEGER PRIMARY KEY, spam INTEGER NOT NULL, atime INTEGER NOT NULL);"
	"INSERT OR IGNORE INTO bayes_var VALUES ('nspam', 0), ('nham', 0), ('version', 0),"
	" ('last_expire', 0);";

static int db_err(sqlite3 *db, struct err *e, const char *what)
{
	return err_set(e, "bayes: %s: %s", what, sqlite3_errmsg(db));
}

int bayes_init(sqlite3 *db, struct err *e)
{
	if (sqlite3_exec(db, schema, NULL, NULL, NULL) != SQLITE_OK)
		return db_err(db, e, "create tables");
	return 0;
}

static int64_t today(void)
{
	return (int64_t)time(NULL) / 86400;
}

static int exec(sqlite3 *db, const char *sql, struct err *e)
{
	if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK)
		return db_err(db, e, sql);
	return 0;
}

static int var_get(sqlite3 *db, const char *name, int64_t *out, struct err *e)
{
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(db, "SELECT value FROM bayes_var WHERE name = ?", -1, &st, NULL) !=
	    SQLITE_OK)
		return db_err(db, e, "read var");
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	*out = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
	sqlite3_finalize(st);
	return 0;
}

static int var_add(sqlite3 *db, const char *name, int64_t delta, struct err *e)
{
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(db, "UPDATE bayes_var SET value = max(value + ?, 0) WHERE name = ?",
			       -1, &st, NULL) != SQLITE_OK)
		return db_err(db, e, "update var");
	sqlite3_bind_int64(st, 1, delta);
	sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : db_err(db, e, "update var");
}

static int var_set(sqlite3 *db, const char *name, int64_t value, struct err *e)
{
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(db, "INSERT OR REPLACE INTO bayes_var VALUES (?, ?)", -1, &st,
			       NULL) != SQLITE_OK)
		return db_err(db, e, "set var");
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, value);
	int rc = sqlite3_step(st);
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : db_err(db, e, "set var");
}

uint64_t bayes_msg_key(const struct msg_view *v)
{
	/* Message-ID plus the start of the body: stable when gateways add
	 * headers, distinct when a sender reuses IDs */
	const char *mid = msgview_header(v, "Message-ID");
	uint64_t k = tok_hash(mid ? mid : "", mid ? strlen(mid) : 0);
	size_t n = v->rawbody.len < 65536 ? v->rawbody.len : 65536;
	uint64_t b = tok_hash(v->rawbody.data ? v->rawbody.data : "", n);
	if (!mid) {
		const char *s = msgview_header(v, "Subject");
		const char *d = msgview_header(v, "Date");
		k ^= tok_hash(s ? s : "", s ? strlen(s) : 0) * 31;
		k ^= tok_hash(d ? d : "", d ? strlen(d) : 0) * 131;
	}
	k ^= b + 0x9e3779b97f4a7c15ULL + (k << 6) + (k >> 2);
	return k ? k : 1;
}

/* Drops rows that unlearning brought to zero. */
static int tokens_prune(sqlite3 *db, const struct tok_set *ts, struct err *e)
{
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(db, "DELETE FROM bayes_token WHERE h = ? AND spam = 0 AND ham = 0",
			       -1, &st, NULL) != SQLITE_OK)
		return db_err(db, e, "prepare prune");
	for (size_t i = 0; i < ts->n; i++) {
		sqlite3_bind_int64(st, 1, (sqlite3_int64)ts->h[i]);
		if (sqlite3_step(st) != SQLITE_DONE) {
			sqlite3_finalize(st);
			return db_err(db, e, "prune");
		}
		sqlite3_reset(st);
	}
	sqlite3_finalize(st);
	return 0;
}

/* Adds delta (+1/-1) to the spam or ham count of every token. */
static int tokens_apply(sqlite3 *db, const struct tok_set *ts, int spam, int delta,
			struct err *e)
{
	const char *up = delta > 0
		? (spam ? "INSERT INTO bayes_token (h, spam, ham, atime) VALUES (?1, 1, 0, ?2)"
			  " ON CONFLICT(h) DO UPDATE SET spam = spam + 1, atime = max(atime, ?2)"
			: "INSERT INTO bayes_token (h, spam, ham, atime) VALUES (?1, 0, 1, ?2)"
			  " ON CONFLICT(h) DO UPDATE SET ham = ham + 1, atime = max(atime, ?2)")
		: (spam ? "UPDATE bayes_token SET spam = max(spam - 1, 0) WHERE h = ?1 AND ?2 >= 0"
			: "UPDATE bayes_token SET ham = max(ham - 1, 0) WHERE h = ?1 AND ?2 >= 0");
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(db, up, -1, &st, NULL) != SQLITE_OK)
		return db_err(db, e, "prepare token update");
	int64_t day = today();
	for (size_t i = 0; i < ts->n; i++) {
		sqlite3_bind_int64(st, 1, (sqlite3_int64)ts->h[i]);
		sqlite3_bind_int64(st, 2, day);
		if (sqlite3_step(st) != SQLITE_DONE) {
			sqlite3_finalize(st);
			return db_err(db, e, "token update");
		}
		sqlite3_reset(st);
	}
	sqlite3_finalize(st);
	return delta < 0 ? tokens_prune(db, ts, e) : 0;
}

/* Class a message was learned as: 1 spam, 0 ham, -1 never learned. */
static int seen_class(sqlite3 *db, uint64_t key, struct err *e, int *out)
{
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(db, "SELECT spam FROM bayes_seen WHERE msgkey = ?", -1, &st, NULL) !=
	    SQLITE_OK)
		return db_err(db, e, "read seen");
	sqlite3_bind_int64(st, 1, (sqlite3_int64)key);
	*out = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int(st, 0) : -1;
	sqlite3_finalize(st);
	return 0;
}

static int seen_set(sqlite3 *db, uint64_t key, int spam, struct err *e)
{
	sqlite3_stmt *st;
	const char *sql = spam < 0 ? "DELETE FROM bayes_seen WHERE msgkey = ?1 AND ?2 < 0 AND ?3 >= 0"
				   : "INSERT OR REPLACE INTO bayes_seen VALUES (?1, ?2, ?3)";
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		return db_err(db, e, "write seen");
	sqlite3_bind_int64(st, 1, (sqlite3_int64)key);
	sqlite3_bind_int(st, 2, spam);
	sqlite3_bind_int64(st, 3, today());
	int rc = sqlite3_step(st);
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : db_err(db, e, "write seen");
}

/* Moves a message to class `spam` (1/0), or forgets it (-1). */
static int learn_move(sqlite3 *db, uint64_t key, const struct tok_set *ts, int spam,
		      struct err *e)
{
	int was = -1;
	if (seen_class(db, key, e, &was) < 0)
		return -1;
	if (was == spam)
		return 0;
	if (was >= 0) {
		if (tokens_apply(db, ts, was, -1, e) < 0 ||
		    var_add(db, was ? "nspam" : "nham", -1, e) < 0)
			return -1;
	}
	if (spam >= 0) {
		if (tokens_apply(db, ts, spam, +1, e) < 0 ||
		    var_add(db, spam ? "nspam" : "nham", +1, e) < 0)
			return -1;
	}
	if (seen_set(db, key, spam, e) < 0 || var_add(db, "version", 1, e) < 0)
		return -1;
	return 1;
}

static int in_savepoint(sqlite3 *db, uint64_t key, const struct tok_set *ts, int spam,
			struct err *e)
{
	if (exec(db, "SAVEPOINT bayes_learn", e) < 0)
		return -1;
	int rc = learn_move(db, key, ts, spam, e);
	if (rc < 0) {
		sqlite3_exec(db, "ROLLBACK TO bayes_learn; RELEASE bayes_learn", NULL, NULL, NULL);
		return -1;
	}
	if (exec(db, "RELEASE bayes_learn", e) < 0)
		return -1;
	return rc;
}

/* Expiry runs from learning, at most once a day, so a busy database stays
 * bounded without a separate job. */
static void maybe_expire(sqlite3 *db)
{
	int64_t last;
	struct err e;
	if (var_get(db, "last_expire", &last, &e) < 0 || last >= today())
		return;
	if (bayes_expire(db, today(), &e) < 0)
		log_warn("%s", e.msg);
}

int bayes_learn_tokens(sqlite3 *db, uint64_t key, const struct tok_set *ts, int spam,
		       struct err *e)
{
	int rc = in_savepoint(db, key, ts, spam ? 1 : 0, e);
	if (rc > 0)
		maybe_expire(db);
	return rc;
}

static int learn_view(sqlite3 *db, const struct msg_view *v, int spam, struct err *e)
{
	struct tok_set ts;
	tok_set_init(&ts);
	tokenize_view(v, &ts);
	int rc = in_savepoint(db, bayes_msg_key(v), &ts, spam, e);
	tok_set_free(&ts);
	if (rc > 0)
		maybe_expire(db);
	return rc;
}

int bayes_learn(sqlite3 *db, const struct msg_view *v, int spam, struct err *e)
{
	return learn_view(db, v, spam ? 1 : 0, e);
}

int bayes_unlearn(sqlite3 *db, const struct msg_view *v, struct err *e)
{
	return learn_view(db, v, -1, e);
}

int bayes_autolearn(sqlite3 *db, const struct msg_view *v, double score_without_bayes,
		    struct err *e)
{
	if (score_without_bayes >= BAYES_AUTOLEARN_SPAM)
		return bayes_learn(db, v, 1, e);
	if (score_without_bayes <= BAYES_AUTOLEARN_HAM)
		return bayes_learn(db, v, 0, e);
	return 0;
}

int bayes_counts(sqlite3 *db, struct bayes_counts *c, struct err *e)
{
	memset(c, 0, sizeof *c);
	if (var_get(db, "nspam", &c->nspam, e) < 0 || var_get(db, "nham", &c->nham, e) < 0 ||
	    var_get(db, "version", &c->version, e) < 0)
		return -1;
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(db, "SELECT count(*) FROM bayes_token", -1, &st, NULL) != SQLITE_OK)
		return db_err(db, e, "count tokens");
	if (sqlite3_step(st) == SQLITE_ROW)
		c->ntokens = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return 0;
}

static int64_t expire_step(sqlite3 *db, const char *sql, int64_t a, int64_t b, struct err *e)
{
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		return db_err(db, e, "expire");
	sqlite3_bind_int64(st, 1, a);
	sqlite3_bind_int64(st, 2, b);
	int rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return db_err(db, e, "expire");
	return sqlite3_changes(db);
}

int64_t bayes_expire(sqlite3 *db, int64_t day, struct err *e)
{
	if (exec(db, "SAVEPOINT bayes_expire", e) < 0)
		return -1;
	int64_t gone = expire_step(db,
				   "DELETE FROM bayes_token WHERE atime < ?1 AND spam + ham <= ?2",
				   day - BAYES_EXPIRE_DAYS, BAYES_EXPIRE_MAX_COUNT, e);
	struct bayes_counts c;
	if (gone >= 0 && bayes_counts(db, &c, e) == 0 && c.ntokens > BAYES_MAX_DB_TOKENS) {
		/* down to 90% of the cap: oldest first, rarest first among
		 * equals, so expiry does not run again on the next message */
		int64_t excess = c.ntokens - (BAYES_MAX_DB_TOKENS / 10) * 9;
		int64_t more = expire_step(db,
					   "DELETE FROM bayes_token WHERE h IN (SELECT h FROM "
					   "bayes_token ORDER BY atime, spam + ham LIMIT ?1) AND ?2 = 0",
					   excess, 0, e);
		gone = more < 0 ? -1 : gone + more;
	}
	if (gone >= 0) {
		/* learn records outlive their tokens by a year at most */
		if (expire_step(db, "DELETE FROM bayes_seen WHERE atime < ?1 AND ?2 = 0",
				day - 365, 0, e) < 0 ||
		    var_set(db, "last_expire", day, e) < 0 ||
		    (gone > 0 && var_add(db, "version", 1, e) < 0))
			gone = -1;
	}
	if (gone < 0) {
		sqlite3_exec(db, "ROLLBACK TO bayes_expire; RELEASE bayes_expire", NULL, NULL, NULL);
		return -1;
	}
	if (exec(db, "RELEASE bayes_expire", e) < 0)
		return -1;
	if (gone)
		log_info("bayes: expired %lld tokens", (long long)gone);
	return gone;
}
