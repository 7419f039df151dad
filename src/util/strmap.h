/* String-keyed hash map (open addressing), for per-IP counters and the
 * like. Keys are copied; values are opaque. Not thread-safe. */
#ifndef RAMPART_UTIL_STRMAP_H
#define RAMPART_UTIL_STRMAP_H

#include <stddef.h>

struct strmap_entry {
	char *key;
	void *value;
	int used;      /* 0 empty, 1 live, 2 deleted */
};

struct strmap {
	struct strmap_entry *slots;
	size_t cap;
	size_t live;
	size_t dead;
};

void strmap_init(struct strmap *m);
void strmap_free(struct strmap *m, void (*free_value)(void *));
void *strmap_get(const struct strmap *m, const char *key);
/* Inserts or replaces; returns the old value or NULL. */
int strmap_put(struct strmap *m, const char *key, void *value, void **old);
void *strmap_del(struct strmap *m, const char *key);
size_t strmap_size(const struct strmap *m);
/* Iteration: returns the next live slot index >= *pos or -1. */
struct strmap_entry *strmap_next(const struct strmap *m, size_t *pos);

#endif
