#include "mail/spool.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/buf.h"
#include "util/fsutil.h"
#include "util/timeutil.h"

#define SPOOL_MAGIC "RAMPART-SPOOL 1\r\n"
#define SPOOL_MAX_ENVELOPE (16u << 20)

void envelope_free(struct envelope *env)
{
	for (int i = 0; i < env->nrcpt; i++)
		free(env->rcpts[i]);
	free(env->rcpts);
	env->rcpts = NULL;
	env->nrcpt = 0;
}

int envelope_add_rcpt(struct envelope *env, const char *rcpt)
{
	char **r = realloc(env->rcpts, sizeof *r * (size_t)(env->nrcpt + 1));
	if (!r)
		return -1;
	env->rcpts = r;
	r[env->nrcpt] = strdup(rcpt);
	if (!r[env->nrcpt])
		return -1;
	env->nrcpt++;
	return 0;
}

int spool_init(struct spool *sp, const char *data_dir, struct err *e)
{
	snprintf(sp->incoming, sizeof sp->incoming, "%s/spool/incoming", data_dir);
	snprintf(sp->queue, sizeof sp->queue, "%s/spool/queue", data_dir);
	pthread_mutex_init(&sp->mu, NULL);
	pthread_cond_init(&sp->synced, NULL);
	sp->renamed = sp->synced_upto = 0;
	sp->syncing = sp->nreserve = sp->refilling = 0;
	if (fs_mkdir_p(sp->incoming, 0700, e) < 0 || fs_mkdir_p(sp->queue, 0700, e) < 0)
		return -1;
	return 0;
}

void spool_new_id(char id[SPOOL_ID_LEN])
{
	static atomic_uint counter;
	static unsigned pid_salt;
	if (!pid_salt)
		pid_salt = (unsigned)getpid() & 0xffff;
	unsigned c = atomic_fetch_add(&counter, 1);
	snprintf(id, SPOOL_ID_LEN, "%011llX%04X%05X", (unsigned long long)time_now_ms(),
		 pid_salt, c & 0xfffff);
}

static int envelope_format(const struct envelope *env, struct buf *b)
{
	int rc = buf_puts(b, SPOOL_MAGIC);
	rc |= buf_printf(b, "id: %s\r\ntime: %lld\r\nclient: %s\r\nhelo: %s\r\nfrom: %s\r\n",
			 env->id, (long long)env->time_ms, env->client_ip, env->helo,
			 env->mail_from);
	for (int i = 0; i < env->nrcpt; i++)
		rc |= buf_printf(b, "rcpt: %s\r\n", env->rcpts[i]);
	rc |= buf_printf(b, "flags: %s%s\r\n\r\n", env->smtputf8 ? "smtputf8 " : "",
			 env->body_8bit ? "8bit" : "");
	return rc;
}

static int reserve_take(struct spool *sp, char id[SPOOL_ID_LEN])
{
	int fd = -1;
	pthread_mutex_lock(&sp->mu);
	if (sp->nreserve > 0) {
		sp->nreserve--;
		fd = sp->reserve_fd[sp->nreserve];
		memcpy(id, sp->reserve_id[sp->nreserve], SPOOL_ID_LEN);
	}
	pthread_mutex_unlock(&sp->mu);
	return fd;
}

int spool_reserve_wanted(struct spool *sp)
{
	pthread_mutex_lock(&sp->mu);
	int want = !sp->refilling && sp->nreserve < SPOOL_RESERVE / 2;
	if (want)
		sp->refilling = 1;
	pthread_mutex_unlock(&sp->mu);
	return want;
}

void spool_reserve_fill(struct spool *sp)
{
	for (;;) {
		char id[SPOOL_ID_LEN], path[4200];
		pthread_mutex_lock(&sp->mu);
		int full = sp->nreserve >= SPOOL_RESERVE;
		pthread_mutex_unlock(&sp->mu);
		if (full)
			break;
		spool_new_id(id);
		snprintf(path, sizeof path, "%s/%s", sp->incoming, id);
		int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd < 0)
			break;
		pthread_mutex_lock(&sp->mu);
		sp->reserve_fd[sp->nreserve] = fd;
		memcpy(sp->reserve_id[sp->nreserve], id, SPOOL_ID_LEN);
		sp->nreserve++;
		pthread_mutex_unlock(&sp->mu);
	}
	pthread_mutex_lock(&sp->mu);
	sp->refilling = 0;
	pthread_mutex_unlock(&sp->mu);
}

int spool_begin(struct spool *sp, struct envelope *env, struct spool_writer *w, struct err *e)
{
	memset(w, 0, sizeof *w);
	w->fd = reserve_take(sp, env->id);
	if (w->fd < 0)
		spool_new_id(env->id);
	snprintf(w->tmp_path, sizeof w->tmp_path, "%s/%s", sp->incoming, env->id);
	snprintf(w->path, sizeof w->path, "%s/%s", sp->queue, env->id);
	if (w->fd < 0)
		w->fd = open(w->tmp_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (w->fd < 0)
		return err_set(e, "create %s: %s", w->tmp_path, strerror(errno));
	struct buf b;
	buf_init(&b, SPOOL_MAX_ENVELOPE);
	if (envelope_format(env, &b) < 0 || fs_write_full(w->fd, b.data, b.len) < 0) {
		buf_free(&b);
		spool_abort(w);
		return err_set(e, "write envelope: %s", strerror(errno));
	}
	w->env_len = b.len;
	buf_free(&b);
	return 0;
}

int spool_flush(struct spool_writer *w)
{
	if (w->failed)
		return -1;
	if (w->wlen && fs_write_full(w->fd, w->wbuf, w->wlen) < 0)
		w->failed = 1;
	w->wlen = 0;
	return w->failed ? -1 : 0;
}

int spool_write(struct spool_writer *w, const void *p, size_t n)
{
	if (w->failed)
		return -1;
	w->body_len += n;
	if (w->wlen + n > sizeof w->wbuf && spool_flush(w) < 0)
		return -1;
	if (n > sizeof w->wbuf) {
		if (fs_write_full(w->fd, p, n) < 0)
			w->failed = 1;
		return w->failed ? -1 : 0;
	}
	memcpy(w->wbuf + w->wlen, p, n);
	w->wlen += n;
	return 0;
}

int spool_sync_queue_dir(struct spool *sp, struct err *e)
{
	int rc = 0;
	pthread_mutex_lock(&sp->mu);
	uint64_t mine = sp->renamed;
	while (sp->synced_upto < mine) {
		if (sp->syncing) {
			pthread_cond_wait(&sp->synced, &sp->mu);
			continue;
		}
		/* lead one fsync for everything renamed so far */
		uint64_t target = sp->renamed;
		sp->syncing = 1;
		pthread_mutex_unlock(&sp->mu);
		rc = fs_fsync_dir(sp->queue, e);
		pthread_mutex_lock(&sp->mu);
		sp->syncing = 0;
		if (rc == 0 && target > sp->synced_upto)
			sp->synced_upto = target;
		pthread_cond_broadcast(&sp->synced);
		if (rc < 0)
			break;
	}
	pthread_mutex_unlock(&sp->mu);
	return rc;
}

int spool_commit(struct spool *sp, struct spool_writer *w, struct err *e)
{
	if (spool_flush(w) < 0)
		return err_set(e, "write %s: %s", w->tmp_path, strerror(errno));
	if (fdatasync(w->fd) < 0)
		return err_set(e, "fsync %s: %s", w->tmp_path, strerror(errno));
	close(w->fd);
	w->fd = -1;
	if (rename(w->tmp_path, w->path) < 0)
		return err_set(e, "rename %s: %s", w->tmp_path, strerror(errno));
	pthread_mutex_lock(&sp->mu);
	sp->renamed++;
	pthread_mutex_unlock(&sp->mu);
	return spool_sync_queue_dir(sp, e);
}

void spool_abort(struct spool_writer *w)
{
	if (w->fd >= 0)
		close(w->fd);
	w->fd = -1;
	if (w->tmp_path[0])
		unlink(w->tmp_path);
}

static int envelope_field(struct envelope *env, const char *key, const char *val)
{
	if (strcmp(key, "id") == 0)
		snprintf(env->id, sizeof env->id, "%s", val);
	else if (strcmp(key, "time") == 0)
		env->time_ms = strtoll(val, NULL, 10);
	else if (strcmp(key, "client") == 0)
		snprintf(env->client_ip, sizeof env->client_ip, "%s", val);
	else if (strcmp(key, "helo") == 0)
		snprintf(env->helo, sizeof env->helo, "%s", val);
	else if (strcmp(key, "from") == 0)
		snprintf(env->mail_from, sizeof env->mail_from, "%s", val);
	else if (strcmp(key, "rcpt") == 0)
		return envelope_add_rcpt(env, val);
	else if (strcmp(key, "flags") == 0) {
		env->smtputf8 = strstr(val, "smtputf8") != NULL;
		env->body_8bit = strstr(val, "8bit") != NULL;
	}
	return 0;
}

int spool_read_envelope(const char *path, struct envelope *env, size_t *body_off,
			size_t *body_len, struct err *e)
{
	memset(env, 0, sizeof *env);
	FILE *f = fopen(path, "r");
	if (!f)
		return err_set(e, "open %s: %s", path, strerror(errno));
	char line[1200];
	size_t off = 0;
	int ok = 0, first = 1;
	while (fgets(line, sizeof line, f)) {
		off += strlen(line);
		if (first) {
			first = 0;
			if (strcmp(line, SPOOL_MAGIC) != 0)
				break;
			continue;
		}
		if (strcmp(line, "\r\n") == 0) {
			ok = 1;
			break;
		}
		line[strcspn(line, "\r\n")] = '\0';
		char *colon = strstr(line, ": ");
		if (!colon || envelope_field(env, (*colon = '\0', line), colon + 2) < 0)
			break;
	}
	struct stat st;
	int have_stat = fstat(fileno(f), &st) == 0;
	fclose(f);
	if (!ok || !have_stat || !env->id[0]) {
		envelope_free(env);
		return err_set(e, "%s: not a valid spool file", path);
	}
	*body_off = off;
	*body_len = (size_t)st.st_size - off;
	return 0;
}
