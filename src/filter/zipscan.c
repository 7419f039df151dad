/* Zip central directory reader (PKWARE APPNOTE 6.3): finds the end of
 * central directory record (and the ZIP64 one when the classic record is
 * saturated), then walks the directory entries, checking each entry's
 * local header for the encryption flag too (a tool may trust either).
 * Every read is bounds-checked against the buffer; nothing is inflated.
 * Data before the archive (self-extractors, polyglots) is allowed: the
 * difference between where the directory is and where the end record
 * says it is gives the prefix length. */
#include <string.h>

#include "filter/attach.h"

#define SIG_LOCAL 0x04034b50u
#define SIG_CENTRAL 0x02014b50u
#define SIG_EOCD 0x06054b50u
#define SIG_EOCD64 0x06064b50u
#define SIG_LOC64 0x07064b50u
#define EOCD_LEN 22u
#define LOC64_LEN 20u
#define EOCD64_LEN 56u
#define CENTRAL_LEN 46u
#define LOCAL_LEN 30u
#define FLAG_ENCRYPTED 0x0001u
#define FLAG_STRONG 0x0040u
#define METHOD_AES 99u
#define EXTRA_ZIP64 0x0001u
#define EXTRA_AES 0x9901u

static uint16_t rd16(const unsigned char *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t rd32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t rd64(const unsigned char *p)
{
	return (uint64_t)rd32(p) | (uint64_t)rd32(p + 4) << 32;
}

/* [off, off+len) inside [0, n)? (no overflow) */
static int in_bounds(uint64_t off, uint64_t len, size_t n)
{
	return off <= n && len <= n - off;
}

int zip_is_zip(const unsigned char *d, size_t n)
{
	return n >= 4 && d[0] == 'P' && d[1] == 'K' &&
	       ((d[2] == 3 && d[3] == 4) || (d[2] == 5 && d[3] == 6) || (d[2] == 7 && d[3] == 8));
}

struct dir {
	uint64_t entries, size, offset; /* as the end record says */
	uint64_t start;                 /* where the directory really is */
	uint64_t base;                  /* prefix before the archive */
};

/* ZIP64 end record through its locator just before the classic one. */
static int eocd64(const unsigned char *d, size_t n, size_t at, struct dir *dir, struct err *e)
{
	if (at < LOC64_LEN || rd32(d + at - LOC64_LEN) != SIG_LOC64)
		return err_set(e, "zip: saturated end record without a ZIP64 locator");
	size_t loc = at - LOC64_LEN;
	uint64_t rec = rd64(d + loc + 8);
	if (rd32(d + loc + 16) > 1)
		return err_set(e, "zip: spanned archive");
	/* with a prefix the recorded offset is short by it: the record sits
	 * right before the locator in a well-formed file */
	if (loc < EOCD64_LEN || rd32(d + loc - EOCD64_LEN) != SIG_EOCD64) {
		if (!in_bounds(rec, EOCD64_LEN, n) || rd32(d + rec) != SIG_EOCD64)
			return err_set(e, "zip: ZIP64 end record not found");
	} else {
		rec = loc - EOCD64_LEN;
	}
	const unsigned char *r = d + rec;
	if (rd32(r + 16) != 0 || rd32(r + 20) != 0)
		return err_set(e, "zip: spanned archive");
	dir->entries = rd64(r + 32);
	dir->size = rd64(r + 40);
	dir->offset = rd64(r + 48);
	if (dir->size > rec)
		return err_set(e, "zip: central directory larger than the archive");
	dir->start = rec - dir->size;
	return 0;
}

/* Last end record whose comment ends the buffer; else the last one seen
 * (trailing junk after an archive is common). */
static int find_eocd(const unsigned char *d, size_t n, struct dir *dir, struct err *e)
{
	if (n < EOCD_LEN)
		return err_set(e, "zip: too short");
	size_t lo = n - EOCD_LEN > 65535 + 1024 ? n - EOCD_LEN - 65535 - 1024 : 0;
	size_t found = (size_t)-1;
	for (size_t i = n - EOCD_LEN + 1; i-- > lo;) {
		if (rd32(d + i) != SIG_EOCD)
			continue;
		if (found == (size_t)-1)
			found = i;
		if (i + EOCD_LEN + rd16(d + i + 20) == n) {
			found = i;
			break;
		}
	}
	if (found == (size_t)-1)
		return err_set(e, "zip: no end of central directory record");
	const unsigned char *r = d + found;
	if (rd16(r + 4) != 0 || rd16(r + 6) != 0)
		return err_set(e, "zip: spanned archive");
	dir->entries = rd16(r + 10);
	dir->size = rd32(r + 12);
	dir->offset = rd32(r + 16);
	if (dir->entries == 0xffff || dir->size == 0xffffffffu || dir->offset == 0xffffffffu)
		return eocd64(d, n, found, dir, e);
	if (dir->size > found)
		return err_set(e, "zip: central directory larger than the archive");
	dir->start = found - dir->size;
	return 0;
}

/* ZIP64 sizes/offset and the AES marker from the extra field. */
static int parse_extra(const unsigned char *x, size_t len, struct zip_entry *ze, uint64_t *off,
		       struct err *e)
{
	while (len >= 4) {
		uint16_t id = rd16(x), sz = rd16(x + 2);
		if (sz > len - 4)
			return err_set(e, "zip: extra field overruns its entry");
		const unsigned char *p = x + 4;
		size_t left = sz;
		if (id == EXTRA_AES)
			ze->encrypted = 1;
		if (id == EXTRA_ZIP64) {
			uint64_t *want[] = {ze->usize == 0xffffffffu ? &ze->usize : NULL,
					    ze->csize == 0xffffffffu ? &ze->csize : NULL,
					    *off == 0xffffffffu ? off : NULL};
			for (size_t i = 0; i < 3; i++) {
				if (!want[i])
					continue;
				if (left < 8)
					return err_set(e, "zip: short ZIP64 extra field");
				*want[i] = rd64(p);
				p += 8;
				left -= 8;
			}
		}
		x += 4 + sz;
		len -= 4 + sz;
	}
	return 0;
}

/* The entry's local header: its flags, and where a stored entry's
 * content is. */
static int check_local(const unsigned char *d, size_t n, uint64_t at, struct zip_entry *ze,
		       struct err *e)
{
	if (!in_bounds(at, LOCAL_LEN, n) || rd32(d + at) != SIG_LOCAL)
		return err_set(e, "zip: entry points outside the archive or at no local header");
	uint16_t flags = rd16(d + at + 6);
	if (flags & (FLAG_ENCRYPTED | FLAG_STRONG) || rd16(d + at + 8) == METHOD_AES)
		ze->encrypted = 1;
	uint64_t data = at + LOCAL_LEN + rd16(d + at + 26) + rd16(d + at + 28);
	if (!ze->encrypted && ze->method == 0 && !ze->is_dir && in_bounds(data, ze->csize, n)) {
		ze->data = d + data;
		ze->data_len = (size_t)ze->csize;
	}
	return 0;
}

/* One central directory entry at *pos; advances it. */
static int read_entry(const unsigned char *d, size_t n, const struct dir *dir, uint64_t *pos,
		      struct zip_entry *ze, struct err *e)
{
	uint64_t at = *pos;
	if (!in_bounds(at, CENTRAL_LEN, n) || rd32(d + at) != SIG_CENTRAL)
		return err_set(e, "zip: damaged central directory");
	const unsigned char *c = d + at;
	uint16_t nl = rd16(c + 28), xl = rd16(c + 30), cl = rd16(c + 32);
	uint64_t total = CENTRAL_LEN + (uint64_t)nl + xl + cl;
	if (!in_bounds(at, total, n) || at + total > dir->start + dir->size)
		return err_set(e, "zip: central directory entry overruns the directory");
	memset(ze, 0, sizeof *ze);
	ze->flags = rd16(c + 8);
	ze->method = rd16(c + 10);
	ze->csize = rd32(c + 20);
	ze->usize = rd32(c + 24);
	ze->name = (const char *)c + CENTRAL_LEN;
	ze->name_len = nl;
	ze->is_dir = nl > 0 && (ze->name[nl - 1] == '/' || ze->name[nl - 1] == '\\');
	ze->encrypted = (ze->flags & (FLAG_ENCRYPTED | FLAG_STRONG)) || ze->method == METHOD_AES;
	uint64_t local = rd32(c + 42);
	if (parse_extra(c + CENTRAL_LEN + nl, xl, ze, &local, e) < 0)
		return -1;
	if (local > UINT64_MAX - dir->base)
		return err_set(e, "zip: bad local header offset");
	if (check_local(d, n, dir->base + local, ze, e) < 0)
		return -1;
	*pos = at + total;
	return 0;
}

int zip_scan(const unsigned char *d, size_t n, zip_entry_fn fn, void *arg, struct err *e)
{
	struct dir dir = {0};
	if (find_eocd(d, n, &dir, e) < 0)
		return -1;
	if (dir.start < dir.offset)
		return err_set(e, "zip: central directory offset beyond its position");
	dir.base = dir.start - dir.offset;
	if (dir.entries > ZIP_MAX_ENTRIES)
		return err_set(e, "zip: more than %d entries", ZIP_MAX_ENTRIES);
	uint64_t pos = dir.start;
	for (uint64_t i = 0; i < dir.entries; i++) {
		struct zip_entry ze;
		if (read_entry(d, n, &dir, &pos, &ze, e) < 0)
			return -1;
		if (fn(arg, &ze))
			return 0;
	}
	return 0;
}
