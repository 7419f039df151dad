/* The spool: one file per accepted message, queue/<id>, holding a small
 * envelope header and then the message in SMTP canonical form (CRLF,
 * dot-unstuffed). The file is the durable truth about an accepted
 * message: it is fsync'd (file and directory) before the 250 reply, and
 * removed only when every recipient is done. */
#ifndef RAMPART_MAIL_SPOOL_H
#define RAMPART_MAIL_SPOOL_H

#include <stddef.h>
#include <stdint.h>
#include <pthread.h>
#include <sys/types.h>

#include "util/err.h"

#define SPOOL_ID_LEN 24

struct envelope {
	char id[SPOOL_ID_LEN];
	int64_t time_ms;
	char client_ip[64];
	char helo[256];
	char mail_from[512];
	char **rcpts;
	int nrcpt;
	int smtputf8;
	int body_8bit;
};

void envelope_free(struct envelope *env);
int envelope_add_rcpt(struct envelope *env, const char *rcpt);

#define SPOOL_RESERVE 16

struct spool {
	char incoming[4096];  /* being received */
	char queue[4096];     /* committed */
	/* group commit of the queue directory: one fsync covers every rename
	 * made before it started */
	pthread_mutex_t mu;
	pthread_cond_t synced;
	uint64_t renamed, synced_upto;
	int syncing;
	/* files created ahead of need, so the loop never waits on the inode
	 * allocator in open(O_CREAT) */
	int reserve_fd[SPOOL_RESERVE];
	char reserve_id[SPOOL_RESERVE][SPOOL_ID_LEN];
	int nreserve;
	int refilling;
};

int spool_init(struct spool *sp, const char *data_dir, struct err *e);
/* Fresh unique queue id. */
void spool_new_id(char id[SPOOL_ID_LEN]);

struct spool_writer {
	int fd;
	char tmp_path[4200];
	char path[4200];
	size_t env_len;     /* bytes of envelope header = body offset */
	size_t body_len;
	char wbuf[65536];   /* batches small writes into few syscalls */
	size_t wlen;
	int failed;         /* a write failed: the message must get 451 */
};

/* Creates incoming/<id> (from the reserve when it has one), assigns
 * env->id and writes the envelope header. */
int spool_begin(struct spool *sp, struct envelope *env, struct spool_writer *w, struct err *e);
/* Whether the reserve wants a refill (and marks one as started). */
int spool_reserve_wanted(struct spool *sp);
/* Creates files until the reserve is full (blocking: a worker thread). */
void spool_reserve_fill(struct spool *sp);
int spool_write(struct spool_writer *w, const void *p, size_t n);
/* Flushes buffered bytes (still on the loop thread). */
int spool_flush(struct spool_writer *w);
/* Durable hand-over: fsync, rename into queue/, fsync the directory
 * (shared with concurrent commits). Blocking: a worker thread. Closes
 * the fd. */
int spool_commit(struct spool *sp, struct spool_writer *w, struct err *e);
/* Makes every rename into queue/ done before the call durable. */
int spool_sync_queue_dir(struct spool *sp, struct err *e);
/* Drops a message that was not accepted. */
void spool_abort(struct spool_writer *w);

/* Reads the envelope of a spool file; *body_off receives where the
 * message starts, *body_len its length. */
int spool_read_envelope(const char *path, struct envelope *env, size_t *body_off,
			size_t *body_len, struct err *e);

#endif
