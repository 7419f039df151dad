/* The Bayes tokenizer: turns a parsed message (struct msg_view) into a
 * set of 64-bit token hashes, deduplicated per message. Tokens are
 * prefixed by where they come from ("s:" subject word, "f:d:" From domain,
 * "u:h:" URL host, "t:" HTML tag ...), so the same word in different
 * places counts as different evidence. Only hashes are stored; the debug
 * hook shows the strings. */
#ifndef RAMPART_FILTER_TOKENIZE_H
#define RAMPART_FILTER_TOKENIZE_H

#include <stddef.h>
#include <stdint.h>

#include "mail/msgview.h"

/* Bounds: tokens kept per message, and how much decoded text is read. */
#define TOK_MAX_TOKENS 4000
#define TOK_MAX_TEXT (256u << 10)
/* Words shorter than this are dropped; longer than TOK_MAX_WORD
 * characters become a "skip:" summary token. */
#define TOK_MIN_WORD 3
#define TOK_MAX_WORD 15

typedef void (*tok_debug_fn)(void *ctx, const char *tok, size_t len);

/* Where a token comes from, kept in the top 4 bits of its hash so the
 * classifier can limit how many clues one kind of evidence contributes
 * (markup and header-name tokens come in large correlated bunches). */
enum tok_group {
	TOK_G_TEXT,    /* body and subject words, synthetic */
	TOK_G_HEADER,  /* header values */
	TOK_G_HNAME,   /* header names present */
	TOK_G_URI,     /* URL hosts and paths */
	TOK_G_MARKUP,  /* HTML tags and attributes */
	TOK_G_MIME,    /* MIME structure */
	TOK_G_COUNT
};
#define TOK_GROUP(h) ((unsigned)((h) >> 60))

struct tok_set {
	uint64_t *h;        /* unique token hashes, in first-seen order */
	size_t n;
	uint64_t *slots;    /* open-addressing set (0 = empty) */
	size_t nslots;
	int full;           /* TOK_MAX_TOKENS reached */
	int group;          /* enum tok_group of tokens added now */
	tok_debug_fn debug; /* optional: sees every new token string */
	void *debug_ctx;
};

void tok_set_init(struct tok_set *ts);
void tok_set_free(struct tok_set *ts);
/* Empties the set for the next message (keeps memory). */
void tok_set_reset(struct tok_set *ts);

/* 64-bit hash of a token string (never 0). */
uint64_t tok_hash(const char *s, size_t n);
/* The stored form: hash with the group in the top 4 bits (never 0). */
uint64_t tok_hash_group(const char *s, size_t n, int group);
/* Adds one token string in ts->group; returns 1 if it was new, 0 if seen
 * or full. */
int tok_add(struct tok_set *ts, const char *s, size_t n);
/* prefix + s (s is length-limited to 200 bytes). */
int tok_add2(struct tok_set *ts, const char *prefix, const char *s, size_t n);

/* Tokenizes the whole message into ts (which the caller reset). */
void tokenize_view(const struct msg_view *v, struct tok_set *ts);

/* Pieces, exposed for the header/URL/HTML part and for tests. */
/* Body-style words of UTF-8 text, each prefixed (prefix may be ""). */
void tokenize_words(struct tok_set *ts, const char *prefix, const char *text, size_t len);
void tokenize_headers(const struct msg_view *v, struct tok_set *ts);
void tokenize_uris(const struct msg_view *v, struct tok_set *ts);
void tokenize_html(const struct msg_view *v, struct tok_set *ts);
void tokenize_mime(const struct msg_view *v, struct tok_set *ts);

#endif
