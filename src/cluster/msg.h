/* The messages members multicast to the CPG group "rampart", in a fixed
 * little-endian binary layout (members may run on different builds):
 *
 *   header  magic "RMPT" u32, version u8, type u8, flags u16,
 *           origin node id u32, count u32, origin seq u64, sent_us i64
 *   CHANGE  count x { hlc u64, node u32, value length u32 (0xffffffff =
 *           tombstone), key length u16, key, value }
 *   CONFLICT like CHANGE, rows in pairs: the kept row, then the lost one
 *   DIGEST, DONE, STATUS  one msg_sync { view u64, digest 32 bytes,
 *           max hlc u64, rows u64, flags u32, backlog u32 }
 *
 * CHANGE carries config rows with their stamps, applied by every member
 * in delivery order; the others drive the synchronisation after a
 * membership change (sync.c) and the status of each member. Decoding
 * checks every length against the message and the store's limits: a
 * malformed message is refused whole. */
#ifndef RAMPART_CLUSTER_MSG_H
#define RAMPART_CLUSTER_MSG_H

#include <stddef.h>
#include <stdint.h>

#include "store/config.h"
#include "util/buf.h"
#include "util/err.h"

#define MSG_MAGIC 0x54504d52u /* "RMPT" little-endian */
#define MSG_VERSION 1
#define MSG_HEADER_SIZE 32
#define MSG_MAX (1u << 20)       /* one CPG message; larger batches are split */
#define MSG_KEY_MAX 1024
#define MSG_VALUE_MAX 65536
#define MSG_TOMBSTONE 0xffffffffu

enum msg_type {
	MSG_CHANGE = 1, /* config rows */
	MSG_DIGEST = 2, /* a member's state digest, after a membership change */
	MSG_DONE = 3,   /* a member finished synchronising for a view */
	MSG_STATUS = 4, /* periodic: digest, backlog (anti-entropy, status page) */
	MSG_CONFLICT = 5, /* conflicts found by a merge: rows in pairs (winner, loser) */
};

/* msg_sync.flags */
#define SYNC_JOINING 1u /* the sender is joining: its rows are not merged */

/* msg_header.flags of CHANGE */
#define MSG_F_MERGE 1u /* rows of a joiner's users, stamps kept (not a new write) */

struct msg_sync {
	uint64_t view;         /* membership the message belongs to (sync.c) */
	unsigned char digest[32];
	uint64_t maxhlc;       /* highest stamp of the sender's propagated rows */
	uint64_t rows;
	uint32_t flags;
	uint32_t backlog;      /* deliveries the sender has not applied yet */
};

struct msg {
	int type;
	unsigned flags;
	uint32_t origin;
	uint64_t seq;
	int64_t sent_us;
	size_t n;                         /* CHANGE, CONFLICT: rows */
	struct config_rawchange *changes; /* CHANGE: keys and values point into mem */
	struct msg_sync sync;             /* DIGEST, DONE, STATUS */
	char *mem;
};

/* Encoded size of one CHANGE row. */
size_t msg_change_size(const struct config_rawchange *c);
/* Appends a whole CHANGE message of n rows to out (which it resets). */
int msg_encode_change(struct buf *out, unsigned flags, uint32_t origin, uint64_t seq,
		      int64_t sent_us, const struct config_rawchange *c, size_t n, struct err *e);
/* The same layout as a CONFLICT message (n even: winner, loser, ...). */
int msg_encode_rows(struct buf *out, int type, uint32_t origin, uint64_t seq, int64_t sent_us,
		    const struct config_rawchange *c, size_t n, struct err *e);
int msg_encode_sync(struct buf *out, int type, uint32_t origin, uint64_t seq, int64_t sent_us,
		    const struct msg_sync *s, struct err *e);
/* Parses one message; m owns copies of everything (msg_free). */
int msg_decode(const void *data, size_t len, struct msg *m, struct err *e);
void msg_free(struct msg *m);
const char *msg_type_name(int type);

#endif
