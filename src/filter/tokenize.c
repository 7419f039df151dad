/* Bayes tokenizer core: the per-message token set, the hash, and the
 * word splitter used for body text and word-like header values. Word
 * rules (SpamAssassin/SpamBayes lineage): split on white space and
 * punctuation other than - ' . , $ ! _ * @, trim punctuation at the ends,
 * lower-case, 3..15 characters, longer words summarised as
 * "skip:<first char> <length/10*10>", numbers reduced to their digit
 * count (dates and prices of one corpus must not become evidence),
 * runs of CJK text split into character bigrams. */
#include "filter/tokenize.h"

#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TOK_MAX_LEN 200

void tok_set_init(struct tok_set *ts)
{
	memset(ts, 0, sizeof *ts);
}

void tok_set_free(struct tok_set *ts)
{
	free(ts->h);
	free(ts->slots);
	memset(ts, 0, sizeof *ts);
}

void tok_set_reset(struct tok_set *ts)
{
	ts->n = 0;
	ts->full = 0;
	ts->group = 0;
	if (ts->slots)
		memset(ts->slots, 0, ts->nslots * sizeof *ts->slots);
}

/* MurmurHash64A: fast on short strings, well mixed; 0 is reserved as the
 * empty slot marker. */
uint64_t tok_hash(const char *s, size_t n)
{
	const uint64_t m = 0xc6a4a7935bd1e995ULL;
	const int r = 47;
	uint64_t h = 0x9747b28c1f3a5e6dULL ^ (n * m);
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;
	for (; i + 8 <= n; i += 8) {
		uint64_t k;
		memcpy(&k, p + i, 8);
		k *= m;
		k ^= k >> r;
		k *= m;
		h ^= k;
		h *= m;
	}
	uint64_t t = 0;
	for (size_t j = n - i; j > 0; j--)
		t = (t << 8) | p[i + j - 1];
	if (n - i) {
		h ^= t;
		h *= m;
	}
	h ^= h >> r;
	h *= m;
	h ^= h >> r;
	return h ? h : 1;
}

uint64_t tok_hash_group(const char *s, size_t n, int group)
{
	uint64_t h = (tok_hash(s, n) >> 4) | ((uint64_t)(group & 15) << 60);
	return h ? h : 1;
}

static int set_grow(struct tok_set *ts)
{
	size_t ns = ts->nslots ? ts->nslots * 2 : 2048; /* typical mail: no rehash */
	uint64_t *slots = calloc(ns, sizeof *slots);
	uint64_t *h = realloc(ts->h, (ns / 2) * sizeof *h);
	if (!slots || !h) {
		free(slots);
		if (h)
			ts->h = h;
		return -1;
	}
	ts->h = h;
	for (size_t i = 0; i < ts->n; i++) {
		size_t j = ts->h[i] & (ns - 1);
		while (slots[j])
			j = (j + 1) & (ns - 1);
		slots[j] = ts->h[i];
	}
	free(ts->slots);
	ts->slots = slots;
	ts->nslots = ns;
	return 0;
}

int tok_add(struct tok_set *ts, const char *s, size_t n)
{
	if (ts->n >= TOK_MAX_TOKENS) {
		ts->full = 1;
		return 0;
	}
	/* load factor <= 1/2 keeps probes short */
	if ((ts->n + 1) * 2 > ts->nslots && set_grow(ts) < 0)
		return 0;
	uint64_t h = tok_hash_group(s, n, ts->group);
	size_t j = h & (ts->nslots - 1);
	while (ts->slots[j]) {
		if (ts->slots[j] == h)
			return 0;
		j = (j + 1) & (ts->nslots - 1);
	}
	ts->slots[j] = h;
	ts->h[ts->n++] = h;
	if (ts->debug)
		ts->debug(ts->debug_ctx, s, n);
	return 1;
}

int tok_add2(struct tok_set *ts, const char *prefix, const char *s, size_t n)
{
	char tmp[TOK_MAX_LEN + 32];
	size_t pl = strnlen(prefix, 31);
	if (n > TOK_MAX_LEN)
		n = TOK_MAX_LEN;
	memcpy(tmp, prefix, pl);
	memcpy(tmp + pl, s, n);
	return tok_add(ts, tmp, pl + n);
}

static int word_byte(unsigned char c)
{
	return g_ascii_isalnum(c) || c >= 0x80 || c == '-' || c == '\'' || c == '.' || c == ',' ||
	       c == '$' || c == '!' || c == '_' || c == '*' || c == '@';
}

static int trim_byte(unsigned char c)
{
	return c == '-' || c == '\'' || c == '.' || c == ',' || c == '!' || c == '_' || c == '*';
}

static int is_cjk(gunichar c)
{
	return (c >= 0x3040 && c <= 0x30ff) || (c >= 0x3400 && c <= 0x4dbf) ||
	       (c >= 0x4e00 && c <= 0x9fff) || (c >= 0xac00 && c <= 0xd7af) ||
	       (c >= 0xf900 && c <= 0xfaff) || (c >= 0xff00 && c <= 0xffef);
}

/* Character bigrams of a CJK run (no spaces between words there). */
static void words_cjk(struct tok_set *ts, const char *prefix, const char *w, size_t n)
{
	const char *p = w, *end = w + n;
	const char *prev = NULL;
	int count = 0;
	while (p < end && count < 200) {
		const char *next = g_utf8_find_next_char(p, end);
		if (!next)
			next = end;
		if (prev) {
			char tmp[32];
			size_t l = (size_t)(next - prev);
			if (l < sizeof tmp - 4) {
				memcpy(tmp, "cjk:", 4);
				memcpy(tmp + 4, prev, l);
				tok_add2(ts, prefix, tmp, l + 4);
				count++;
			}
		}
		prev = p;
		p = next;
	}
}

/* An e-mail address in text: its domain is the evidence. */
static void word_email(struct tok_set *ts, const char *prefix, const char *w, size_t n)
{
	const char *at = memchr(w, '@', n);
	size_t dl = n - (size_t)(at - w) - 1;
	char dom[128];
	if (dl < 3 || dl >= sizeof dom || !memchr(at + 1, '.', dl))
		return;
	for (size_t i = 0; i < dl; i++)
		dom[i] = (char)g_ascii_tolower(at[1 + i]);
	char p2[40];
	snprintf(p2, sizeof p2, "%semail:", prefix);
	tok_add2(ts, p2, dom, dl);
}

/* Numbers say little by value: "n:<digits>" ("$n:" for prices). */
static int word_number(struct tok_set *ts, const char *prefix, const char *w, size_t n)
{
	size_t digits = 0, i = 0;
	int money = (w[0] == '$');
	for (i = money; i < n; i++) {
		if (g_ascii_isdigit(w[i]))
			digits++;
		else if (w[i] != '.' && w[i] != ',' && w[i] != '-')
			return 0;
	}
	if (!digits)
		return 0;
	char tmp[16];
	int l = snprintf(tmp, sizeof tmp, "%sn:%zu", money ? "$" : "", digits > 12 ? 12 : digits);
	tok_add2(ts, prefix, tmp, (size_t)l);
	return 1;
}

static void word_emit(struct tok_set *ts, const char *prefix, const char *w, size_t n)
{
	while (n && trim_byte((unsigned char)w[0])) {
		w++;
		n--;
	}
	while (n && trim_byte((unsigned char)w[n - 1]))
		n--;
	if (!n)
		return;
	if (memchr(w, '@', n)) {
		word_email(ts, prefix, w, n);
		return;
	}
	if (word_number(ts, prefix, w, n))
		return;
	int ascii = 1;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)w[i] >= 0x80)
			ascii = 0;
	char low[TOK_MAX_LEN + 1];
	size_t chars;
	if (ascii) {
		if (n > TOK_MAX_LEN)
			n = TOK_MAX_LEN;
		for (size_t i = 0; i < n; i++)
			low[i] = (char)g_ascii_tolower(w[i]);
		chars = n;
	} else {
		if (!g_utf8_validate(w, (gssize)n, NULL))
			return;
		gunichar c0 = g_utf8_get_char(w);
		if (is_cjk(c0)) {
			words_cjk(ts, prefix, w, n);
			return;
		}
		char *d = g_utf8_strdown(w, (gssize)n);
		size_t dl = strlen(d);
		if (dl > TOK_MAX_LEN) {
			const char *cut = g_utf8_find_prev_char(d, d + TOK_MAX_LEN);
			dl = cut ? (size_t)(cut - d) : 0;
		}
		memcpy(low, d, dl);
		g_free(d);
		n = dl;
		chars = (size_t)g_utf8_strlen(low, (gssize)n);
	}
	if (chars < TOK_MIN_WORD)
		return;
	if (chars > TOK_MAX_WORD) {
		/* SpamBayes: long words are mostly noise (encoded blobs,
		 * run-together words); keep their shape only */
		char tmp[32];
		const char *second = g_utf8_find_next_char(low, low + n);
		size_t fl = second ? (size_t)(second - low) : 1;
		int l = snprintf(tmp, sizeof tmp, "skip:%.*s %zu", (int)fl, low,
				 (chars / 10) * 10 > 50 ? 50 : (chars / 10) * 10);
		tok_add2(ts, prefix, tmp, (size_t)l);
		return;
	}
	tok_add2(ts, prefix, low, n);
}

void tokenize_words(struct tok_set *ts, const char *prefix, const char *text, size_t len)
{
	size_t i = 0;
	while (i < len && !ts->full) {
		while (i < len && !word_byte((unsigned char)text[i]))
			i++;
		size_t s = i;
		while (i < len && word_byte((unsigned char)text[i]))
			i++;
		if (i > s)
			word_emit(ts, prefix, text + s, i - s);
	}
}

static unsigned bucket_log2(size_t n)
{
	unsigned b = 0;
	while (n > 1 && b < 30) {
		n >>= 1;
		b++;
	}
	return b;
}

/* Whole-message features that single words do not show. */
static void tokenize_synthetic(const struct msg_view *v, struct tok_set *ts, size_t textlen)
{
	char tmp[64];
	size_t upper = 0, letters = 0;
	for (size_t i = 0; i < textlen; i++) {
		unsigned char c = (unsigned char)v->text.data[i];
		if (g_ascii_isalpha(c)) {
			letters++;
			upper += g_ascii_isupper(c) != 0;
		}
	}
	if (letters >= 20) {
		int l = snprintf(tmp, sizeof tmp, "x:caps:%zu", (upper * 10) / letters);
		tok_add(ts, tmp, (size_t)l);
	}
	int l = snprintf(tmp, sizeof tmp, "x:textlen:%u", bucket_log2(textlen) / 2);
	tok_add(ts, tmp, (size_t)l);
	l = snprintf(tmp, sizeof tmp, "x:uris:%u", v->nuris ? bucket_log2(v->nuris) + 1 : 0);
	tok_add(ts, tmp, (size_t)l);
	if (v->mime_errors)
		tok_add(ts, "x:mime-errors", 13);
	if (v->truncated)
		tok_add(ts, "x:truncated", 11);
}

void tokenize_view(const struct msg_view *v, struct tok_set *ts)
{
	tokenize_headers(v, ts);
	size_t textlen = v->text.len < TOK_MAX_TEXT ? v->text.len : TOK_MAX_TEXT;
	ts->group = TOK_G_TEXT;
	if (textlen)
		tokenize_words(ts, "", v->text.data, textlen);
	ts->group = TOK_G_URI;
	tokenize_uris(v, ts);
	ts->group = TOK_G_MARKUP;
	tokenize_html(v, ts);
	ts->group = TOK_G_MIME;
	tokenize_mime(v, ts);
	ts->group = TOK_G_TEXT;
	tokenize_synthetic(v, ts, textlen);
}
