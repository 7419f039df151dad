/* Fixed pool of worker threads for everything that must not run on the
 * event loop: scanning, fsync, SQLite writes. A job's `work` runs on a
 * worker with that worker's private context; its `done` runs afterwards on
 * the loop thread. */
#ifndef RAMPART_UTIL_POOL_H
#define RAMPART_UTIL_POOL_H

#include <event2/event.h>

struct pool;

typedef void (*pool_work_fn)(void *worker_ctx, void *arg);
typedef void (*pool_done_fn)(void *arg);
typedef void *(*pool_init_fn)(int index, void *user);
typedef void (*pool_fini_fn)(void *worker_ctx);

/* evthread_use_pthreads() must have been called before base was made. */
struct pool *pool_new(struct event_base *base, int nthreads, pool_init_fn init, pool_fini_fn fini,
		      void *user);
/* Queues a job; never blocks. done may be NULL. */
void pool_submit(struct pool *p, pool_work_fn work, pool_done_fn done, void *arg);
/* Jobs queued or running. */
int pool_busy(const struct pool *p);
/* Waits for queued jobs, runs their done callbacks, stops the threads. */
void pool_free(struct pool *p);

#endif
