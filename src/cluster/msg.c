#include "cluster/msg.h"

#include <stdlib.h>
#include <string.h>

/* ---- little-endian packing ---- */

static void put_u16(unsigned char *p, uint16_t v)
{
	p[0] = (unsigned char)v;
	p[1] = (unsigned char)(v >> 8);
}

static void put_u32(unsigned char *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static void put_u64(unsigned char *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static uint16_t get_u16(const unsigned char *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t get_u32(const unsigned char *p)
{
	uint32_t v = 0;
	for (int i = 3; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static uint64_t get_u64(const unsigned char *p)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

#define CHANGE_FIXED 18 /* hlc 8, node 4, value length 4, key length 2 */
#define SYNC_SIZE 72    /* view 8, digest 32, maxhlc 8, rows 8, flags 4, backlog 4, pad 8 */

const char *msg_type_name(int type)
{
	static const char *const names[] = {"?", "change", "digest", "done", "status", "conflict"};
	return type >= MSG_CHANGE && type <= MSG_CONFLICT ? names[type] : names[0];
}

size_t msg_change_size(const struct config_rawchange *c)
{
	return CHANGE_FIXED + strlen(c->key) + (c->value ? strlen(c->value) : 0);
}

static void put_header(unsigned char *h, int type, unsigned flags, uint32_t origin, uint32_t count,
		       uint64_t seq, int64_t sent_us)
{
	put_u32(h, MSG_MAGIC);
	h[4] = MSG_VERSION;
	h[5] = (unsigned char)type;
	put_u16(h + 6, (uint16_t)flags);
	put_u32(h + 8, origin);
	put_u32(h + 12, count);
	put_u64(h + 16, seq);
	put_u64(h + 24, (uint64_t)sent_us);
}

static int encode_rows(struct buf *out, int type, unsigned flags, uint32_t origin, uint64_t seq,
		       int64_t sent_us, const struct config_rawchange *c, size_t n, struct err *e)
{
	unsigned char h[MSG_HEADER_SIZE];
	buf_reset(out);
	put_header(h, type, flags, origin, (uint32_t)n, seq, sent_us);
	if (buf_append(out, h, sizeof h) < 0)
		return err_set(e, "message too large");
	for (size_t i = 0; i < n; i++) {
		size_t kl = strlen(c[i].key), vl = c[i].value ? strlen(c[i].value) : 0;
		unsigned char f[CHANGE_FIXED];
		if (kl == 0 || kl > MSG_KEY_MAX || vl > MSG_VALUE_MAX)
			return err_set(e, "change of %.64s: key or value too long", c[i].key);
		put_u64(f, c[i].hlc);
		put_u32(f + 8, c[i].node);
		put_u32(f + 12, c[i].value ? (uint32_t)vl : MSG_TOMBSTONE);
		put_u16(f + 16, (uint16_t)kl);
		if (buf_append(out, f, sizeof f) < 0 || buf_append(out, c[i].key, kl) < 0 ||
		    buf_append(out, c[i].value ? c[i].value : "", vl) < 0)
			return err_set(e, "message larger than %u bytes", MSG_MAX);
	}
	if (out->len > MSG_MAX)
		return err_set(e, "message larger than %u bytes", MSG_MAX);
	return 0;
}

int msg_encode_change(struct buf *out, unsigned flags, uint32_t origin, uint64_t seq,
		      int64_t sent_us, const struct config_rawchange *c, size_t n, struct err *e)
{
	return encode_rows(out, MSG_CHANGE, flags, origin, seq, sent_us, c, n, e);
}

int msg_encode_rows(struct buf *out, int type, uint32_t origin, uint64_t seq, int64_t sent_us,
		    const struct config_rawchange *c, size_t n, struct err *e)
{
	if (type != MSG_CONFLICT || n % 2)
		return err_set(e, "bad rows message");
	return encode_rows(out, type, 0, origin, seq, sent_us, c, n, e);
}

int msg_encode_sync(struct buf *out, int type, uint32_t origin, uint64_t seq, int64_t sent_us,
		    const struct msg_sync *s, struct err *e)
{
	unsigned char m[MSG_HEADER_SIZE + SYNC_SIZE];
	if (type != MSG_DIGEST && type != MSG_DONE && type != MSG_STATUS)
		return err_set(e, "not a sync message type: %d", type);
	memset(m, 0, sizeof m);
	put_header(m, type, 0, origin, 1, seq, sent_us);
	unsigned char *p = m + MSG_HEADER_SIZE;
	put_u64(p, s->view);
	memcpy(p + 8, s->digest, 32);
	put_u64(p + 40, s->maxhlc);
	put_u64(p + 48, s->rows);
	put_u32(p + 56, s->flags);
	put_u32(p + 60, s->backlog);
	buf_reset(out);
	if (buf_append(out, m, sizeof m) < 0)
		return err_set(e, "message too large");
	return 0;
}

/* Checks every row of a CHANGE body; *mem is the bytes needed for the
 * NUL-terminated copies. */
static int change_scan(const unsigned char *p, size_t len, uint32_t count, size_t *mem,
		       struct err *e)
{
	size_t off = 0, need = 0;
	for (uint32_t i = 0; i < count; i++) {
		if (len - off < CHANGE_FIXED)
			return err_set(e, "truncated change %u", i);
		uint32_t vl = get_u32(p + off + 12);
		uint16_t kl = get_u16(p + off + 16);
		size_t vbytes = vl == MSG_TOMBSTONE ? 0 : vl;
		if (get_u64(p + off) == 0 || kl == 0 || kl > MSG_KEY_MAX ||
		    (vl != MSG_TOMBSTONE && vl > MSG_VALUE_MAX))
			return err_set(e, "bad change %u", i);
		off += CHANGE_FIXED;
		if (len - off < (size_t)kl + vbytes)
			return err_set(e, "truncated change %u", i);
		if (memchr(p + off, '\0', (size_t)kl + vbytes))
			return err_set(e, "NUL byte in change %u", i);
		off += (size_t)kl + vbytes;
		need += (size_t)kl + vbytes + 2;
	}
	if (off != len)
		return err_set(e, "%zu stray bytes after the changes", len - off);
	*mem = need;
	return 0;
}

static int decode_change(const unsigned char *p, size_t len, uint32_t count, struct msg *m,
			 struct err *e)
{
	size_t need = 0;
	/* every row takes more than CHANGE_FIXED bytes: this bounds count */
	if (count > len / CHANGE_FIXED)
		return err_set(e, "bad change count %u", count);
	if (change_scan(p, len, count, &need, e) < 0)
		return -1;
	m->changes = calloc(count ? count : 1, sizeof *m->changes);
	m->mem = malloc(need ? need : 1);
	if (!m->changes || !m->mem)
		return err_set(e, "out of memory");
	char *w = m->mem;
	size_t off = 0;
	for (uint32_t i = 0; i < count; i++) {
		struct config_rawchange *c = &m->changes[i];
		uint32_t vl = get_u32(p + off + 12);
		uint16_t kl = get_u16(p + off + 16);
		c->hlc = get_u64(p + off);
		c->node = get_u32(p + off + 8);
		off += CHANGE_FIXED;
		memcpy(w, p + off, kl);
		w[kl] = '\0';
		c->key = w;
		w += kl + 1;
		off += kl;
		if (vl == MSG_TOMBSTONE) {
			c->value = NULL;
			continue;
		}
		memcpy(w, p + off, vl);
		w[vl] = '\0';
		c->value = w;
		w += vl + 1;
		off += vl;
	}
	m->n = count;
	return 0;
}

int msg_decode(const void *data, size_t len, struct msg *m, struct err *e)
{
	const unsigned char *p = data;
	memset(m, 0, sizeof *m);
	if (len < MSG_HEADER_SIZE || len > MSG_MAX)
		return err_set(e, "bad message size %zu", len);
	if (get_u32(p) != MSG_MAGIC || p[4] != MSG_VERSION)
		return err_set(e, "not a rampart message (or another version)");
	m->type = p[5];
	m->flags = get_u16(p + 6);
	m->origin = get_u32(p + 8);
	uint32_t count = get_u32(p + 12);
	m->seq = get_u64(p + 16);
	m->sent_us = (int64_t)get_u64(p + 24);
	p += MSG_HEADER_SIZE;
	len -= MSG_HEADER_SIZE;
	if (m->type == MSG_CHANGE || m->type == MSG_CONFLICT) {
		if (m->type == MSG_CONFLICT && count % 2)
			return err_set(e, "odd number of conflict rows");
		if (decode_change(p, len, count, m, e) < 0) {
			msg_free(m);
			return -1;
		}
		return 0;
	}
	if (m->type < MSG_DIGEST || m->type > MSG_STATUS)
		return err_set(e, "unknown message type %d", m->type);
	if (len != SYNC_SIZE || count != 1)
		return err_set(e, "bad %s message", msg_type_name(m->type));
	m->sync.view = get_u64(p);
	memcpy(m->sync.digest, p + 8, 32);
	m->sync.maxhlc = get_u64(p + 40);
	m->sync.rows = get_u64(p + 48);
	m->sync.flags = get_u32(p + 56);
	m->sync.backlog = get_u32(p + 60);
	return 0;
}

void msg_free(struct msg *m)
{
	free(m->changes);
	free(m->mem);
	m->changes = NULL;
	m->mem = NULL;
	m->n = 0;
}
