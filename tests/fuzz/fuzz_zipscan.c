/* libFuzzer target: the zip central directory reader (src/filter/zipscan.c)
 * on attacker-supplied bytes.
 *
 *   clang -g -O1 -std=c11 -D_GNU_SOURCE -fsanitize=fuzzer,address,undefined \
 *         -fno-sanitize-recover=undefined -Isrc $(pkg-config --cflags jansson gmime-3.0) \
 *         tests/fuzz/fuzz_zipscan.c src/filter/zipscan.c src/util/err.c -o /tmp/fuzz_zipscan
 *   mkdir -p /tmp/corpus-zip && /tmp/fuzz_zipscan -max_len=4096 -max_total_time=120 /tmp/corpus-zip
 *
 * Seed the corpus with a few small zips (python3 -c 'import zipfile ...')
 * for faster coverage. Besides ASan/UBSan it aborts when an invariant
 * breaks: an entry's name or stored data outside the input, or more
 * entries reported than ZIP_MAX_ENTRIES. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "filter/attach.h"

struct bounds {
	const unsigned char *d;
	size_t n;
	unsigned entries;
};

static int inside(const struct bounds *b, const void *p, size_t len)
{
	const unsigned char *c = p;
	return c >= b->d && len <= b->n && c - b->d <= (ptrdiff_t)(b->n - len);
}

static int entry(void *arg, const struct zip_entry *ze)
{
	struct bounds *b = arg;
	if (!inside(b, ze->name, ze->name_len))
		abort();
	if (ze->data && (!inside(b, ze->data, ze->data_len) || ze->encrypted || ze->method != 0))
		abort();
	if (++b->entries > ZIP_MAX_ENTRIES)
		abort();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct bounds b = {data, size, 0};
	struct err e;
	/* exact-size copy so reading one byte past the end is caught */
	unsigned char *copy = malloc(size ? size : 1);
	memcpy(copy, data, size);
	b.d = copy;
	zip_scan(copy, size, entry, &b, &e);
	free(copy);
	return 0;
}
