/* Fingerprints of known spam: a MinHash (Broder) of the message's
 * normalised text, whose features are 3-word shingles. 128 independent
 * hash functions each keep the smallest hash over the shingles (8 bits
 * of it are stored); the share of slots two fingerprints agree on
 * estimates the Jaccard similarity of their shingle sets, so the number
 * of slots that differ is the distance: unrelated texts differ in about
 * 127 of 128, a message with a few words changed (names, numbers, links,
 * a sentence) in a few dozen. The administrator classifies a message as
 * spam (fingerprint_add); later messages within the distance threshold
 * (setting fingerprint_max_distance) score FINGERPRINT_MATCH.
 *
 * Measured on the SpamAssassin corpus (2,500 ham, 500 spam, text as the
 * pipeline sees it): no ham within 54 of any spam; at the default 48,
 * 99% of spam with 2% of its words replaced plus a personalised greeting
 * still match, 89% with 5% replaced.
 *
 * Node-local: a SQLite table in the node database, read by the scan
 * threads through a shared in-memory copy reloaded when it changes. */
#ifndef RAMPART_FILTER_FINGERPRINT_H
#define RAMPART_FILTER_FINGERPRINT_H

#include <jansson.h>
#include <sqlite3.h>
#include <stdint.h>

#include "filter/pipeline.h"
#include "mail/msgview.h"
#include "util/err.h"

#define FINGERPRINT_SLOTS 128
#define FINGERPRINT_MIN_FEATURES 16    /* fewer shingles: too little text to fingerprint */
#define FINGERPRINT_MAX_TOKENS 5000    /* words of a message looked at */
#define FINGERPRINT_MAX_STORED 50000   /* the oldest go beyond this */
#define FINGERPRINT_RULE "FINGERPRINT_MATCH"

struct fingerprint {
	uint8_t slot[FINGERPRINT_SLOTS];
	uint32_t features; /* shingles that went into it */
};

/* 0 and *fp; -1 when the message has too little text. */
int fingerprint_compute(const struct msg_view *v, struct fingerprint *fp);
/* The same on UTF-8 text (what fingerprint_compute feeds it). */
int fingerprint_text(const char *text, size_t len, struct fingerprint *fp);
int fingerprint_distance(const struct fingerprint *a, const struct fingerprint *b);
/* Slots as 256 hex digits and back (-1 on a malformed string). */
#define FINGERPRINT_HEX_LEN (2 * FINGERPRINT_SLOTS)
void fingerprint_hex(const struct fingerprint *fp, char out[FINGERPRINT_HEX_LEN + 1]);
int fingerprint_parse_hex(const char *hex, struct fingerprint *fp);

/* CREATE TABLE IF NOT EXISTS fingerprint. */
int fingerprint_init(sqlite3 *db, struct err *e);
/* Stores the message's fingerprint (classified as spam by the
 * administrator). Returns its id (the existing id when the same
 * fingerprint is already stored), 0 when the message has too little text,
 * -1 on a database error (logged). */
int64_t fingerprint_add(sqlite3 *db, const struct msg_view *v);
/* The same with the error and a note (e.g. who classified it) kept. */
int64_t fingerprint_add_note(sqlite3 *db, const struct msg_view *v, const char *note,
			     struct err *e);
/* Removes one; error "no fingerprint N" when absent. */
int fingerprint_remove(sqlite3 *db, int64_t id, struct err *e);
/* {"total": N, "rows": [{"id", "hash", "features", "subject", "note",
 * "created_ms"}...]} newest first. */
json_t *fingerprint_list(sqlite3 *db, int limit, int offset, struct err *e);

/* The nearest stored fingerprint: 1 with *id and *distance when it is
 * within max_distance slots, 0 otherwise. */
int fingerprint_match(sqlite3 *db, const struct fingerprint *fp, int max_distance, int64_t *id,
		      int *distance);
/* Drops the shared in-memory copy (at shutdown and in tests). */
void fingerprint_shared_reset(void);

/* Pipeline stage (scoring): adds FINGERPRINT_MATCH with the
 * fingerprint_score setting when the message is near a stored one. */
int stage_fingerprint_run(struct scan_job *job);

#endif
