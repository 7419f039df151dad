#include "util/strmap.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static uint64_t hash_str(const char *s)
{
	uint64_t h = 1469598103934665603ull; /* FNV-1a */
	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 1099511628211ull;
	}
	return h;
}

void strmap_init(struct strmap *m)
{
	memset(m, 0, sizeof *m);
}

void strmap_free(struct strmap *m, void (*free_value)(void *))
{
	for (size_t i = 0; i < m->cap; i++)
		if (m->slots[i].used == 1) {
			free(m->slots[i].key);
			if (free_value)
				free_value(m->slots[i].value);
		} else if (m->slots[i].used == 2) {
			free(m->slots[i].key);
		}
	free(m->slots);
	strmap_init(m);
}

static struct strmap_entry *find_slot(const struct strmap *m, const char *key, int for_insert)
{
	if (!m->cap)
		return NULL;
	size_t mask = m->cap - 1, i = hash_str(key) & mask;
	struct strmap_entry *tomb = NULL;
	for (size_t probe = 0; probe < m->cap; probe++, i = (i + 1) & mask) {
		struct strmap_entry *s = &m->slots[i];
		if (s->used == 0)
			return for_insert ? (tomb ? tomb : s) : NULL;
		if (s->used == 2) {
			if (!tomb)
				tomb = s;
			continue;
		}
		if (strcmp(s->key, key) == 0)
			return s;
	}
	return for_insert ? tomb : NULL;
}

static int grow(struct strmap *m)
{
	size_t ncap = m->cap ? m->cap * 2 : 16;
	struct strmap old = *m;
	m->slots = calloc(ncap, sizeof *m->slots);
	if (!m->slots) {
		*m = old;
		return -1;
	}
	m->cap = ncap;
	m->live = m->dead = 0;
	for (size_t i = 0; i < old.cap; i++) {
		if (old.slots[i].used == 1) {
			struct strmap_entry *s = find_slot(m, old.slots[i].key, 1);
			*s = old.slots[i];
			m->live++;
		} else if (old.slots[i].used == 2) {
			free(old.slots[i].key);
		}
	}
	free(old.slots);
	return 0;
}

void *strmap_get(const struct strmap *m, const char *key)
{
	struct strmap_entry *s = find_slot(m, key, 0);
	return s ? s->value : NULL;
}

int strmap_put(struct strmap *m, const char *key, void *value, void **old)
{
	if (old)
		*old = NULL;
	if ((m->live + m->dead + 1) * 4 >= m->cap * 3 && grow(m) < 0)
		return -1;
	struct strmap_entry *s = find_slot(m, key, 1);
	if (s->used == 1) {
		if (old)
			*old = s->value;
		s->value = value;
		return 0;
	}
	char *k = strdup(key);
	if (!k)
		return -1;
	if (s->used == 2) {
		free(s->key);
		m->dead--;
	}
	s->key = k;
	s->value = value;
	s->used = 1;
	m->live++;
	return 0;
}

void *strmap_del(struct strmap *m, const char *key)
{
	struct strmap_entry *s = find_slot(m, key, 0);
	if (!s)
		return NULL;
	void *v = s->value;
	s->used = 2;
	s->value = NULL;
	m->live--;
	m->dead++;
	return v;
}

size_t strmap_size(const struct strmap *m)
{
	return m->live;
}

struct strmap_entry *strmap_next(const struct strmap *m, size_t *pos)
{
	for (; *pos < m->cap; (*pos)++)
		if (m->slots[*pos].used == 1)
			return &m->slots[(*pos)++];
	return NULL;
}
