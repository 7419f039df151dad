/* corosync as rampartd's child: its configuration (rendered from the
 * member records, addresses resolved on this node), the authkey derived
 * from the shared secret, the process (started from the loop thread so
 * that PR_SET_PDEATHSIG ties it to rampartd's life, restarted with
 * backoff), reloads after membership changes, and what a previous
 * rampartd left: its corosync, still running (killed before ours starts),
 * and a killed corosync's files in /dev/shm.
 *
 * Files, all under data_dir/cluster: corosync.conf, authkey (0400),
 * state/ (corosync's state_dir), corosync.log (its stderr). corosync
 * keeps a fixed pid file (/run/corosync.pid) and fixed IPC names: one
 * corosync per machine, or per mount + network namespace (tests). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <corosync/cfg.h>

#include "cluster/cluster_int.h"
#include "node.h"
#include "store/config.h"
#include "util/fsutil.h"
#include "util/log.h"
#include "util/timeutil.h"

#define COROSYNC_BIN "/usr/sbin/corosync"
#define COROSYNC_PIDFILE "/run/corosync.pid"
#define COROSYNC_LOG_MAX (8 << 20)
#define CHILD_BACKOFF_MAX_MS 30000

/* A corosync node name: the member name with anything unusual replaced. */
static void node_name(const char *in, char *out, size_t outlen)
{
	size_t i = 0;
	for (; in[i] && i + 1 < outlen; i++) {
		char ch = in[i];
		int ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
			 (ch >= '0' && ch <= '9') || ch == '-' || ch == '.' || ch == '_';
		out[i] = ok ? ch : '_';
	}
	out[i] = '\0';
}

int corosync_render(const struct cs_conf *cf, struct buf *out, struct err *e)
{
	char addr[64], name[CLUSTER_NAME_MAX];
	if (cf->n == 0 || cf->n > CLUSTER_MAX_MEMBERS)
		return err_set(e, "corosync: %zu nodes (1 to %d)", cf->n, CLUSTER_MAX_MEMBERS);
	if (cf->port < 1024 || cf->port > 65535 || cf->token_ms < 200 || cf->token_ms > 10000)
		return err_set(e, "corosync: bad port or token timeout");
	buf_reset(out);
	buf_printf(out,
		   "# Written by rampartd from the cluster's member records; do not edit.\n"
		   "totem {\n\tversion: 2\n\tcluster_name: %s\n\ttransport: knet\n"
		   "\ttoken: %d\n\ttoken_coefficient: 0\n"
		   /* a failed PMTU probe (a local send error) stops knet's data
		    * path to that host until the next successful probe: every 5 s
		    * instead of 30 s, so a healed partition merges quickly */
		   "\tknet_pmtud_interval: 5\n"
		   "\tcrypto_cipher: aes256\n\tcrypto_hash: sha256\n\tkeyfile: %s\n"
		   "\tinterface {\n\t\tlinknumber: 0\n\t\tknet_transport: udp\n\t\tmcastport: %d\n\t}\n"
		   "}\n\nnodelist {\n",
		   cf->cluster_name, cf->token_ms, cf->keyfile, cf->port);
	for (size_t i = 0; i < cf->n; i++) {
		const struct cs_node *nd = &cf->nodes[i];
		if (nd->nodeid == 0 || hostmap_addr_check(nd->addr, addr, sizeof addr, NULL) < 0)
			return err_set(e, "corosync: node %u has no valid address", nd->nodeid);
		for (size_t k = 0; k < i; k++)
			if (cf->nodes[k].nodeid == nd->nodeid)
				return err_set(e, "corosync: node id %u twice", nd->nodeid);
		node_name(nd->name, name, sizeof name);
		buf_printf(out, "\tnode {\n\t\tnodeid: %u\n\t\tname: %s\n\t\tring0_addr: %s\n\t}\n",
			   nd->nodeid, name[0] ? name : addr, addr);
	}
	/* two members: the survivor stays quorate. two_node implies
	 * wait_for_all, which would leave a founder whose joiner never came up
	 * without quorum (and unable even to remove it): off; a cold start of
	 * both apart is a split brain that the merge resolves and lists */
	buf_printf(out, "}\n\nquorum {\n\tprovider: corosync_votequorum\n%s}\n\n",
		   cf->n == 2 ? "\ttwo_node: 1\n\twait_for_all: 0\n" : "");
	buf_printf(out, "logging {\n\tto_stderr: yes\n\tto_logfile: no\n\tto_syslog: no\n"
			"\ttimestamp: on\n}\n\nsystem {\n\tstate_dir: %s\n}\n",
		   cf->state_dir);
	if (out->len == 0 || !out->data)
		return err_set(e, "corosync: configuration too large");
	return 0;
}

/* authkey from the secret; rewritten only when it changed. */
static int write_authkey(struct cluster *c, const char *path, struct err *e)
{
	unsigned char key[KEYS_AUTHKEY_SIZE];
	char *cur = NULL;
	size_t curlen = 0;
	pthread_mutex_lock(&c->mu);
	int rc = keys_derive(c->loc.secret, KEYS_LABEL_AUTHKEY, key, sizeof key);
	pthread_mutex_unlock(&c->mu);
	if (rc < 0)
		return err_set(e, "cannot derive the corosync authkey");
	if (fs_read_all(path, 4096, &cur, &curlen, NULL) == 0 && curlen == sizeof key &&
	    memcmp(cur, key, sizeof key) == 0) {
		free(cur);
		return 0;
	}
	free(cur);
	return fs_write_atomic(path, key, sizeof key, 0400, e);
}

int corosync_write(struct cluster *c, struct err *e)
{
	char conf[4400], keyfile[4400], state[4400];
	struct cs_node nodes[CLUSTER_MAX_MEMBERS];
	size_t n = 0;
	snprintf(conf, sizeof conf, "%s/corosync.conf", c->dir);
	snprintf(keyfile, sizeof keyfile, "%s/authkey", c->dir);
	snprintf(state, sizeof state, "%s/state", c->dir);
	if (fs_mkdir_p(state, 0700, e) < 0 || write_authkey(c, keyfile, e) < 0)
		return -1;
	pthread_mutex_lock(&c->mu);
	for (size_t i = 0; i < c->nmembers; i++) {
		if (!c->members[i].addr[0])
			continue; /* unresolvable here: logged by cluster_load_members */
		nodes[n].nodeid = c->members[i].nodeid;
		snprintf(nodes[n].name, sizeof nodes[n].name, "%s", c->members[i].name);
		snprintf(nodes[n].addr, sizeof nodes[n].addr, "%s", c->members[i].addr);
		n++;
	}
	pthread_mutex_unlock(&c->mu);
	struct cs_conf cf = {CLUSTER_GROUP,
			     (int)config_int(c->cfg, "cluster_port", NULL, NULL),
			     (int)config_int(c->cfg, "cluster_token_ms", NULL, NULL),
			     keyfile,
			     state,
			     nodes,
			     n};
	struct buf b;
	buf_init(&b, 1 << 20);
	char *cur = NULL;
	size_t curlen = 0;
	int rc = corosync_render(&cf, &b, e);
	if (rc == 0 && fs_read_all(conf, 1 << 20, &cur, &curlen, NULL) == 0 && curlen == b.len &&
	    memcmp(cur, b.data, b.len) == 0)
		rc = 0; /* unchanged */
	else if (rc == 0)
		rc = fs_write_atomic(conf, b.data, b.len, 0600, e) < 0 ? -1 : 1;
	free(cur);
	buf_free(&b);
	return rc;
}

/* ---- the child ---- */

/* Up to len - 1 bytes of /proc/PID/WHAT, NUL-terminated; -1 when the
 * process is gone. */
static ssize_t read_proc(pid_t pid, const char *what, char *buf, size_t len)
{
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/%s", (int)pid, what);
	return fs_read_into(path, buf, len);
}

/* Whether the process still holds its sockets: alive, not yet a zombie
 * (an orphan may stay a zombie for long where init does not reap). */
static int proc_alive(pid_t pid)
{
	char st[512];
	ssize_t n = read_proc(pid, "stat", st, sizeof st);
	if (n <= 0)
		return 0;
	char *p = strrchr(st, ')');
	return p && p[1] == ' ' && p[2] != 'Z' && p[2] != 'X' && p[2] != '\0';
}

/* Whether pid runs corosync (argv[0] named corosync) with conf among its
 * arguments; with conf NULL, any corosync. cmd gets its command line. */
static int proc_is_corosync(pid_t pid, const char *conf, char *cmd, size_t len)
{
	char argv[4200];
	ssize_t n = read_proc(pid, "cmdline", argv, sizeof argv);
	if (n <= 0)
		return 0;
	const char *slash = strrchr(argv, '/'); /* within argv[0] */
	if (strcmp(slash ? slash + 1 : argv, "corosync") != 0)
		return 0;
	int found = !conf;
	for (ssize_t i = 0; !found && i < n; i += (ssize_t)strlen(argv + i) + 1)
		found = strcmp(argv + i, conf) == 0;
	for (ssize_t i = 0; i < n; i++)
		if (argv[i] == '\0')
			argv[i] = ' ';
	snprintf(cmd, len, "%s", argv);
	return found;
}

/* SIGKILL to pid, then waits (up to 5 s) until it no longer holds the
 * cluster port and corosync's IPC names. */
static void kill_wait(pid_t pid)
{
	kill(pid, SIGKILL);
	for (int i = 0; i < 250 && proc_alive(pid); i++)
		usleep(20000);
	if (proc_alive(pid))
		log_error("cluster: corosync (pid %d) survives SIGKILL", (int)pid);
}

/* Kills every corosync started on this configuration: the orphan of a
 * previous rampartd (PR_SET_PDEATHSIG sent it SIGTERM, but its graceful
 * shutdown takes a second, during which it still holds UDP mcastport: a
 * new corosync started then fails to bind its knet link — "knet_link_
 * set_config failed: Address already in use" — yet keeps running, cut
 * off from the cluster). Found through /proc, not the pid file: that may
 * be gone already, or live in another mount namespace. Called while this
 * rampartd has no corosync child. */
int corosync_kill_leftovers(const char *conf)
{
	DIR *d = opendir("/proc");
	char cmd[4200];
	int n = 0;
	if (!d)
		return 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		char *end;
		long pid = strtol(de->d_name, &end, 10);
		if (*end || pid <= 1 || pid == getpid())
			continue;
		if (!proc_is_corosync((pid_t)pid, conf, cmd, sizeof cmd) ||
		    !proc_alive((pid_t)pid))
			continue;
		log_warn("cluster: killing the corosync of a previous rampartd (pid %ld)", pid);
		kill_wait((pid_t)pid);
		n++;
	}
	closedir(d);
	return n;
}

/* The pid in corosync's pid file when that process is a live corosync,
 * else 0. */
static pid_t running_corosync(char *cmdline, size_t len)
{
	char *text = NULL;
	if (fs_read_all(COROSYNC_PIDFILE, 64, &text, NULL, NULL) < 0)
		return 0;
	pid_t pid = (pid_t)atoi(text);
	free(text);
	if (pid <= 1 || !proc_alive(pid))
		return 0;
	return proc_is_corosync(pid, NULL, cmdline, len) ? pid : 0;
}

/* A corosync of a previous rampartd on this data directory is killed; any
 * other refuses the start. */
static int check_foreign(struct cluster *c, const char *conf, struct err *e)
{
	char cmd[4200];
	corosync_kill_leftovers(conf);
	pid_t pid = running_corosync(cmd, sizeof cmd);
	if (pid == 0 || pid == c->child)
		return 0;
	if (!strstr(cmd, conf))
		return err_set(e,
			       "another corosync is running (pid %d: %s): stop it (Debian's "
			       "corosync.service must stay disabled on a rampart node)",
			       (int)pid, log_esc(cmd));
	log_warn("cluster: killing the corosync of a previous rampartd (pid %d)", (int)pid);
	kill_wait(pid);
	return 0;
}

static void rotate_log(const char *path)
{
	struct stat st;
	char old[4500];
	if (stat(path, &st) == 0 && st.st_size > COROSYNC_LOG_MAX) {
		snprintf(old, sizeof old, "%s.1", path);
		rename(path, old);
	}
}

int corosync_child_start(struct cluster *c, struct err *e)
{
	char conf[4400], logf[4400];
	snprintf(conf, sizeof conf, "%s/corosync.conf", c->dir);
	snprintf(logf, sizeof logf, "%s/corosync.log", c->dir);
	pthread_mutex_lock(&c->mu);
	int have = c->child > 0;
	pthread_mutex_unlock(&c->mu);
	if (have)
		return 0;
	if (check_foreign(c, conf, e) < 0)
		return -1;
	corosync_shm_cleanup();
	rotate_log(logf);
	int logfd = open(logf, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (logfd < 0)
		return err_set(e, "%s: %s", logf, strerror(errno));
	pid_t parent = getpid();
	pid_t pid = fork();
	if (pid == 0) {
		/* only async-signal-safe calls until exec */
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (getppid() != parent) /* rampartd died before the prctl */
			_exit(1);
		int devnull = open("/dev/null", O_RDONLY);
		dup2(devnull, 0);
		dup2(logfd, 1);
		dup2(logfd, 2);
		close_range(3, ~0u, 0);
		char *argv[] = {(char *)"corosync", (char *)"-f", (char *)"-c", conf, NULL};
		execv(COROSYNC_BIN, argv);
		_exit(127);
	}
	close(logfd);
	if (pid < 0)
		return err_set(e, "fork: %s", strerror(errno));
	pthread_mutex_lock(&c->mu);
	c->child = pid;
	c->child_started_ms = time_now_ms();
	c->child_stopping = 0;
	c->child_error[0] = '\0';
	pthread_mutex_unlock(&c->mu);
	log_info("cluster: corosync started (pid %d, %s)", (int)pid, conf);
	return 0;
}

void corosync_child_reap(struct cluster *c)
{
	int status;
	pthread_mutex_lock(&c->mu);
	pid_t pid = c->child;
	if (pid <= 0 || waitpid(pid, &status, WNOHANG) != pid) {
		pthread_mutex_unlock(&c->mu);
		return;
	}
	c->child = 0;
	int expected = c->child_stopping || !c->running || c->stopping;
	int64_t up = time_now_ms() - c->child_started_ms;
	if (up > 60000)
		c->child_backoff_ms = 0;
	c->child_backoff_ms = c->child_backoff_ms ? c->child_backoff_ms * 2 : 1000;
	if (c->child_backoff_ms > CHILD_BACKOFF_MAX_MS)
		c->child_backoff_ms = CHILD_BACKOFF_MAX_MS;
	int backoff = c->child_backoff_ms;
	pthread_cond_broadcast(&c->cv);
	pthread_mutex_unlock(&c->mu);
	if (expected) {
		log_info("cluster: corosync (pid %d) stopped", (int)pid);
		return;
	}
	if (WIFEXITED(status))
		log_error("cluster: corosync (pid %d) exited with status %d (see %s/corosync.log); "
			  "restarting in %d ms",
			  (int)pid, WEXITSTATUS(status), c->dir, backoff);
	else
		log_error("cluster: corosync (pid %d) killed by signal %d; restarting in %d ms",
			  (int)pid, WTERMSIG(status), backoff);
	struct timeval tv = {backoff / 1000, (backoff % 1000) * 1000};
	if (c->restart_timer)
		evtimer_add(c->restart_timer, &tv);
}

void corosync_child_stop(struct cluster *c)
{
	pthread_mutex_lock(&c->mu);
	pid_t pid = c->child;
	c->child_stopping = 1;
	pthread_mutex_unlock(&c->mu);
	if (pid <= 0)
		return;
	kill(pid, SIGTERM);
	for (int i = 0; i < 200; i++) {
		if (i == 100) {
			log_warn("cluster: corosync (pid %d) ignores SIGTERM, killing it", (int)pid);
			kill(pid, SIGKILL);
		}
		corosync_child_reap(c);
		pthread_mutex_lock(&c->mu);
		int gone = c->child == 0;
		pthread_mutex_unlock(&c->mu);
		if (gone)
			return;
		usleep(50000);
	}
	log_error("cluster: corosync (pid %d) did not stop", (int)pid);
}

int corosync_reload(struct err *e)
{
	corosync_cfg_handle_t h;
	cs_error_t rc = corosync_cfg_initialize(&h, NULL);
	if (rc != CS_OK)
		return err_set(e, "cannot reach corosync to reload (error %d)", rc);
	rc = corosync_cfg_reload_config(h);
	corosync_cfg_finalize(h);
	if (rc != CS_OK)
		return err_set(e, "corosync reload failed (error %d)", rc);
	return 0;
}

/* Whether a libqb shared-memory file of /dev/shm belongs to no live
 * process: "qb-corosync-PID-blackbox-..." or "qb-SERVERPID-CLIENTPID-...". */
static int shm_stale(const char *name)
{
	long p1 = 0, p2 = 0;
	if (strncmp(name, "qb-corosync-", 12) == 0)
		p1 = strtol(name + 12, NULL, 10);
	else if (sscanf(name, "qb-%ld-%ld-", &p1, &p2) < 1)
		return 0;
	if (p1 <= 1 || kill((pid_t)p1, 0) == 0 || errno != ESRCH)
		return 0;
	return p2 <= 1 || (kill((pid_t)p2, 0) < 0 && errno == ESRCH);
}

void corosync_shm_cleanup(void)
{
	DIR *d = opendir("/dev/shm");
	if (!d)
		return;
	struct dirent *de;
	int n = 0;
	while ((de = readdir(d))) {
		if (strncmp(de->d_name, "qb-", 3) != 0 || !shm_stale(de->d_name))
			continue;
		if (unlinkat(dirfd(d), de->d_name, 0) == 0)
			n++;
	}
	closedir(d);
	if (n)
		log_info("cluster: removed %d stale corosync IPC files from /dev/shm", n);
}
