/* Export and import of the Bayes database as JSON Lines (one object or
 * array per line), so a large table streams without being held in memory
 * twice. Token hashes are written as 16 hex digits: JSON numbers cannot
 * carry 64 bits exactly. */
#include <inttypes.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "filter/bayes.h"

#define BAYES_IO_FORMAT "rampart-bayes"
#define BAYES_IO_LINE_MAX 512

static int export_tokens(sqlite3 *db, FILE *out, struct err *e)
{
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(db, "SELECT h, spam, ham, atime FROM bayes_token", -1, &st, NULL) !=
	    SQLITE_OK)
		return err_set(e, "bayes export: %s", sqlite3_errmsg(db));
	while (sqlite3_step(st) == SQLITE_ROW)
		fprintf(out, "[\"%016" PRIx64 "\",%lld,%lld,%lld]\n",
			(uint64_t)sqlite3_column_int64(st, 0), sqlite3_column_int64(st, 1),
			sqlite3_column_int64(st, 2), sqlite3_column_int64(st, 3));
	sqlite3_finalize(st);
	if (sqlite3_prepare_v2(db, "SELECT msgkey, spam, atime FROM bayes_seen", -1, &st, NULL) !=
	    SQLITE_OK)
		return err_set(e, "bayes export: %s", sqlite3_errmsg(db));
	while (sqlite3_step(st) == SQLITE_ROW)
		fprintf(out, "{\"seen\":\"%016" PRIx64 "\",\"spam\":%d,\"day\":%lld}\n",
			(uint64_t)sqlite3_column_int64(st, 0), sqlite3_column_int(st, 1),
			sqlite3_column_int64(st, 2));
	sqlite3_finalize(st);
	return 0;
}

int bayes_export(sqlite3 *db, FILE *out, struct err *e)
{
	struct bayes_counts c;
	/* a read transaction so the file is one consistent state */
	if (sqlite3_exec(db, "SAVEPOINT bayes_export", NULL, NULL, NULL) != SQLITE_OK)
		return err_set(e, "bayes export: %s", sqlite3_errmsg(db));
	int rc = bayes_counts(db, &c, e);
	if (rc == 0) {
		fprintf(out, "{\"format\":\"%s\",\"version\":1,\"nspam\":%lld,\"nham\":%lld}\n",
			BAYES_IO_FORMAT, (long long)c.nspam, (long long)c.nham);
		rc = export_tokens(db, out, e);
	}
	sqlite3_exec(db, "RELEASE bayes_export", NULL, NULL, NULL);
	if (rc == 0 && (fflush(out) != 0 || ferror(out)))
		rc = err_set(e, "bayes export: write failed");
	return rc;
}

static int parse_hex64(const char *s, uint64_t *out)
{
	char *end;
	if (!s || strlen(s) != 16)
		return -1;
	*out = strtoull(s, &end, 16);
	return *end ? -1 : 0;
}

struct import_ctx {
	sqlite3 *db;
	sqlite3_stmt *tok, *seen, *var;
	int merge;
	long line;
};

static int import_token(struct import_ctx *c, json_t *j, struct err *e)
{
	uint64_t h;
	json_t *hs = json_array_get(j, 0);
	json_int_t spam = json_integer_value(json_array_get(j, 1));
	json_int_t ham = json_integer_value(json_array_get(j, 2));
	json_int_t day = json_integer_value(json_array_get(j, 3));
	if (json_array_size(j) != 4 || parse_hex64(json_string_value(hs), &h) < 0 || spam < 0 ||
	    ham < 0 || (spam == 0 && ham == 0))
		return err_set(e, "bayes import: line %ld: bad token", c->line);
	sqlite3_bind_int64(c->tok, 1, (sqlite3_int64)h);
	sqlite3_bind_int64(c->tok, 2, spam);
	sqlite3_bind_int64(c->tok, 3, ham);
	sqlite3_bind_int64(c->tok, 4, day);
	int rc = sqlite3_step(c->tok);
	sqlite3_reset(c->tok);
	return rc == SQLITE_DONE ? 0 : err_set(e, "bayes import: %s", sqlite3_errmsg(c->db));
}

static int import_object(struct import_ctx *c, json_t *j, struct err *e)
{
	const char *fmt = json_string_value(json_object_get(j, "format"));
	if (fmt) {
		if (strcmp(fmt, BAYES_IO_FORMAT) != 0 ||
		    json_integer_value(json_object_get(j, "version")) != 1)
			return err_set(e, "bayes import: not a rampart-bayes v1 file");
		const char *names[] = {"nspam", "nham"};
		for (int i = 0; i < 2; i++) {
			sqlite3_bind_int64(c->var, 1, json_integer_value(json_object_get(j, names[i])));
			sqlite3_bind_text(c->var, 2, names[i], -1, SQLITE_STATIC);
			int rc = sqlite3_step(c->var);
			sqlite3_reset(c->var);
			if (rc != SQLITE_DONE)
				return err_set(e, "bayes import: %s", sqlite3_errmsg(c->db));
		}
		return 0;
	}
	uint64_t key;
	if (parse_hex64(json_string_value(json_object_get(j, "seen")), &key) < 0)
		return err_set(e, "bayes import: line %ld: unknown object", c->line);
	sqlite3_bind_int64(c->seen, 1, (sqlite3_int64)key);
	sqlite3_bind_int(c->seen, 2, json_integer_value(json_object_get(j, "spam")) ? 1 : 0);
	sqlite3_bind_int64(c->seen, 3, json_integer_value(json_object_get(j, "day")));
	int rc = sqlite3_step(c->seen);
	sqlite3_reset(c->seen);
	return rc == SQLITE_DONE ? 0 : err_set(e, "bayes import: %s", sqlite3_errmsg(c->db));
}

static int import_lines(struct import_ctx *c, FILE *in, struct err *e)
{
	char line[BAYES_IO_LINE_MAX];
	int header = 0;
	while (fgets(line, sizeof line, in)) {
		c->line++;
		if (!strchr(line, '\n') && !feof(in))
			return err_set(e, "bayes import: line %ld too long", c->line);
		if (line[0] == '\n')
			continue;
		json_error_t je;
		json_t *j = json_loads(line, 0, &je);
		if (!j)
			return err_set(e, "bayes import: line %ld: %s", c->line, je.text);
		int rc;
		if (!header && !json_object_get(j, "format"))
			rc = err_set(e, "bayes import: missing header line");
		else if (json_is_array(j))
			rc = import_token(c, j, e);
		else
			rc = import_object(c, j, e);
		header = 1;
		json_decref(j);
		if (rc < 0)
			return -1;
	}
	return header ? 0 : err_set(e, "bayes import: empty file");
}

int bayes_import(sqlite3 *db, FILE *in, int merge, struct err *e)
{
	struct import_ctx c = {.db = db, .merge = merge};
	if (bayes_init(db, e) < 0 ||
	    sqlite3_exec(db, "SAVEPOINT bayes_import", NULL, NULL, NULL) != SQLITE_OK)
		return err_set(e, "bayes import: %s", sqlite3_errmsg(db));
	int rc = 0;
	if (!merge && sqlite3_exec(db, "DELETE FROM bayes_token; DELETE FROM bayes_seen;"
				       "UPDATE bayes_var SET value = 0 WHERE name IN ('nspam','nham')",
				   NULL, NULL, NULL) != SQLITE_OK)
		rc = err_set(e, "bayes import: %s", sqlite3_errmsg(db));
	const char *tok = "INSERT INTO bayes_token VALUES (?1, ?2, ?3, ?4) ON CONFLICT(h) DO UPDATE"
			  " SET spam = spam + ?2, ham = ham + ?3, atime = max(atime, ?4)";
	const char *seen = "INSERT OR REPLACE INTO bayes_seen VALUES (?, ?, ?)";
	const char *var = "UPDATE bayes_var SET value = value + ?1 WHERE name = ?2";
	if (rc == 0 && (sqlite3_prepare_v2(db, tok, -1, &c.tok, NULL) != SQLITE_OK ||
			sqlite3_prepare_v2(db, seen, -1, &c.seen, NULL) != SQLITE_OK ||
			sqlite3_prepare_v2(db, var, -1, &c.var, NULL) != SQLITE_OK))
		rc = err_set(e, "bayes import: %s", sqlite3_errmsg(db));
	if (rc == 0)
		rc = import_lines(&c, in, e);
	sqlite3_finalize(c.tok);
	sqlite3_finalize(c.seen);
	sqlite3_finalize(c.var);
	if (rc == 0 && sqlite3_exec(db, "UPDATE bayes_var SET value = value + 1 WHERE name = "
				    "'version'; RELEASE bayes_import", NULL, NULL, NULL) == SQLITE_OK)
		return 0;
	if (rc == 0)
		err_set(e, "bayes import: %s", sqlite3_errmsg(db));
	sqlite3_exec(db, "ROLLBACK TO bayes_import; RELEASE bayes_import", NULL, NULL, NULL);
	return -1;
}
