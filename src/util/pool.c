#include "util/pool.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "util/log.h"

struct job {
	pool_work_fn work;
	pool_done_fn done;
	void *arg;
	struct job *next;
};

struct jobq {
	struct job *head, *tail;
};

struct pool {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct jobq todo;   /* waiting for a worker */
	struct jobq done;   /* finished, waiting for the loop */
	int stopping;
	atomic_int busy;
	int nthreads;
	pthread_t *threads;
	struct event *done_ev;
	pool_init_fn init;
	pool_fini_fn fini;
	void *user;
};

struct worker_start {
	struct pool *p;
	int index;
};

static void q_push(struct jobq *q, struct job *j)
{
	j->next = NULL;
	if (q->tail)
		q->tail->next = j;
	else
		q->head = j;
	q->tail = j;
}

static struct job *q_take_all(struct jobq *q)
{
	struct job *j = q->head;
	q->head = q->tail = NULL;
	return j;
}

static void *worker_main(void *arg)
{
	struct worker_start *ws = arg;
	struct pool *p = ws->p;
	void *ctx = p->init ? p->init(ws->index, p->user) : NULL;
	free(ws);
	pthread_mutex_lock(&p->mu);
	for (;;) {
		while (!p->todo.head && !p->stopping)
			pthread_cond_wait(&p->cv, &p->mu);
		struct job *j = p->todo.head;
		if (!j)
			break;
		p->todo.head = j->next;
		if (!p->todo.head)
			p->todo.tail = NULL;
		pthread_mutex_unlock(&p->mu);
		j->work(ctx, j->arg);
		pthread_mutex_lock(&p->mu);
		q_push(&p->done, j);
		event_active(p->done_ev, EV_READ, 0);
	}
	pthread_mutex_unlock(&p->mu);
	if (p->fini)
		p->fini(ctx);
	return NULL;
}

static void run_done(struct pool *p)
{
	pthread_mutex_lock(&p->mu);
	struct job *j = q_take_all(&p->done);
	pthread_mutex_unlock(&p->mu);
	while (j) {
		struct job *next = j->next;
		atomic_fetch_sub(&p->busy, 1);
		if (j->done)
			j->done(j->arg);
		free(j);
		j = next;
	}
}

static void on_done(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	run_done(arg);
}

struct pool *pool_new(struct event_base *base, int nthreads, pool_init_fn init, pool_fini_fn fini,
		      void *user)
{
	struct pool *p = calloc(1, sizeof *p);
	if (!p)
		log_fatal("out of memory");
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->cv, NULL);
	p->init = init;
	p->fini = fini;
	p->user = user;
	p->nthreads = nthreads;
	p->done_ev = event_new(base, -1, 0, on_done, p);
	p->threads = calloc((size_t)nthreads, sizeof *p->threads);
	for (int i = 0; i < nthreads; i++) {
		struct worker_start *ws = malloc(sizeof *ws);
		ws->p = p;
		ws->index = i;
		if (pthread_create(&p->threads[i], NULL, worker_main, ws) != 0)
			log_fatal("cannot start worker thread");
	}
	return p;
}

void pool_submit(struct pool *p, pool_work_fn work, pool_done_fn done, void *arg)
{
	struct job *j = malloc(sizeof *j);
	if (!j)
		log_fatal("out of memory");
	j->work = work;
	j->done = done;
	j->arg = arg;
	atomic_fetch_add(&p->busy, 1);
	pthread_mutex_lock(&p->mu);
	q_push(&p->todo, j);
	pthread_cond_signal(&p->cv);
	pthread_mutex_unlock(&p->mu);
}

int pool_busy(const struct pool *p)
{
	return atomic_load(&((struct pool *)p)->busy);
}

void pool_free(struct pool *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->mu);
	p->stopping = 1;
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
	for (int i = 0; i < p->nthreads; i++)
		pthread_join(p->threads[i], NULL);
	run_done(p);
	event_free(p->done_ev);
	pthread_mutex_destroy(&p->mu);
	pthread_cond_destroy(&p->cv);
	free(p->threads);
	free(p);
}
