/* The clamd client against a real clamd started by the test with a
 * signature database of its own (no freshclam, no network): clean and
 * infected streams (raw, and zipped inside a base64 MIME attachment),
 * StreamMaxLength, clamd down (unix and TCP), a clamd that never
 * answers (timeout), and reply parsing. */

/* cmocka needs these first, in this order */
/* clang-format off */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
/* clang-format on */

#include "filter/av.h"
#include "store/config.h"
#include "util/timeutil.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#define TEST_STRING "RAMPART-AV-TEST-7d1e4c9a"
#define TEST_VIRUS "Rampart.Test.Signature.UNOFFICIAL"

struct clamd {
	char dir[64];
	char sock[128];
	char tcp[32];
	pid_t pid;
};

static int free_tcp_port(void)
{
	int s = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000001)};
	socklen_t len = sizeof a;
	bind(s, (struct sockaddr *)&a, sizeof a);
	getsockname(s, (struct sockaddr *)&a, &len);
	close(s);
	return ntohs(a.sin_port);
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static int clamd_setup(void **state)
{
	struct clamd *c = calloc(1, sizeof *c);
	char path[256], conf[1024], hex[128] = "";
	snprintf(c->dir, sizeof c->dir, "/tmp/rampart-clamd-XXXXXX");
	if (!mkdtemp(c->dir))
		return -1;
	snprintf(path, sizeof path, "%s/db", c->dir);
	mkdir(path, 0700);
	for (const char *p = TEST_STRING; *p; p++)
		snprintf(hex + strlen(hex), sizeof hex - strlen(hex), "%02x", (unsigned char)*p);
	snprintf(conf, sizeof conf, "Rampart.Test.Signature:0:*:%s\n", hex);
	snprintf(path, sizeof path, "%s/db/rampart.ndb", c->dir);
	write_file(path, conf);
	snprintf(c->sock, sizeof c->sock, "%s/clamd.sock", c->dir);
	snprintf(c->tcp, sizeof c->tcp, "127.0.0.1:%d", free_tcp_port());
	snprintf(conf, sizeof conf,
		 "Foreground yes\nLocalSocket %s\nDatabaseDirectory %s/db\nLogFile %s/clamd.log\n"
		 "TCPSocket %s\nTCPAddr 127.0.0.1\nStreamMaxLength 1M\n",
		 c->sock, c->dir, c->dir, strchr(c->tcp, ':') + 1);
	snprintf(path, sizeof path, "%s/clamd.conf", c->dir);
	write_file(path, conf);
	int64_t t0 = time_mono_us();
	c->pid = fork();
	if (c->pid == 0) {
		char arg[300];
		snprintf(arg, sizeof arg, "--config-file=%s", path);
		int devnull = open("/dev/null", O_WRONLY);
		dup2(devnull, 1);
		dup2(devnull, 2);
		execl("/usr/sbin/clamd", "clamd", arg, (char *)NULL);
		_exit(127);
	}
	/* ready when it answers PING on the unix socket */
	for (int i = 0; i < 600; i++) {
		struct av_result r;
		av_scan(c->sock, "", 0, 1000, &r);
		if (r.status == AV_CLEAN) {
			fprintf(stderr, "clamd ready in %lld ms\n",
				(long long)((time_mono_us() - t0) / 1000));
			*state = c;
			return 0;
		}
		if (waitpid(c->pid, NULL, WNOHANG) == c->pid)
			break;
		usleep(50000);
	}
	fprintf(stderr, "clamd did not start\n");
	kill(c->pid, SIGKILL);
	return -1;
}

static int clamd_teardown(void **state)
{
	struct clamd *c = *state;
	char cmd[128];
	kill(c->pid, SIGTERM);
	waitpid(c->pid, NULL, 0);
	snprintf(cmd, sizeof cmd, "rm -rf %s", c->dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", c->dir);
	free(c);
	return 0;
}

static void test_clean_and_infected(void **state)
{
	struct clamd *c = *state;
	struct av_result r;
	static const char clean[] = "From: a@b.test\r\nSubject: hi\r\n\r\nnothing here\r\n";
	static const char bad[] =
	    "From: a@b.test\r\nSubject: hi\r\n\r\nsee " TEST_STRING " here\r\n";
	const char *addrs[] = {c->sock, c->tcp};
	for (int i = 0; i < 2; i++) {
		assert_int_equal(av_scan(addrs[i], clean, sizeof clean - 1, 5000, &r), 0);
		assert_int_equal(r.status, AV_CLEAN);
		assert_int_equal(av_scan(addrs[i], bad, sizeof bad - 1, 5000, &r), 0);
		assert_int_equal(r.status, AV_INFECTED);
		assert_string_equal(r.virus, TEST_VIRUS);
	}
}

/* zip archive (stored, one member holding the test string), base64 in a
 * multipart message: clamd decodes the MIME and unpacks the zip */
static void test_zipped_attachment(void **state)
{
	struct clamd *c = *state;
	char dir[128], cmd[512], path[160];
	snprintf(dir, sizeof dir, "%s/zip", c->dir);
	mkdir(dir, 0700);
	snprintf(path, sizeof path, "%s/payload.txt", dir);
	write_file(path, "junk " TEST_STRING " junk\n");
	snprintf(
	    cmd, sizeof cmd,
	    "cd %s && /usr/bin/python3 -c \"import zipfile,base64;z=zipfile.ZipFile('a.zip','w',"
	    "zipfile.ZIP_DEFLATED);z.write('payload.txt');z.close();"
	    "open('a.b64','w').write(base64.encodebytes(open('a.zip','rb').read()).decode())\"",
	    dir);
	assert_int_equal(system(cmd), 0);
	snprintf(path, sizeof path, "%s/a.b64", dir);
	FILE *f = fopen(path, "r");
	assert_non_null(f);
	char b64[4096];
	size_t n = fread(b64, 1, sizeof b64 - 1, f);
	fclose(f);
	b64[n] = '\0';
	assert_null(strstr(b64, TEST_STRING));
	char msg[8192];
	int len =
	    snprintf(msg, sizeof msg,
		     "From: a@b.test\r\nSubject: zip\r\nMIME-Version: 1.0\r\n"
		     "Content-Type: multipart/mixed; boundary=\"XX\"\r\n\r\n"
		     "--XX\r\nContent-Type: text/plain\r\n\r\nsee attachment\r\n"
		     "--XX\r\nContent-Type: application/zip; name=\"a.zip\"\r\n"
		     "Content-Transfer-Encoding: base64\r\n"
		     "Content-Disposition: attachment; filename=\"a.zip\"\r\n\r\n%s\r\n--XX--\r\n",
		     b64);
	struct av_result r;
	assert_int_equal(av_scan(c->sock, msg, (size_t)len, 5000, &r), 0);
	assert_int_equal(r.status, AV_INFECTED);
	assert_string_equal(r.virus, TEST_VIRUS);
}

/* StreamMaxLength is 1M in the test clamd: a 3 MB message is refused
 * with "INSTREAM size limit exceeded" and reported as too big, over the
 * unix socket and over TCP. */
static void test_too_big(void **state)
{
	struct clamd *c = *state;
	size_t len = 3u << 20;
	char *big = malloc(len);
	memset(big, 'a', len);
	const char *addrs[] = {c->sock, c->tcp};
	for (int i = 0; i < 2; i++) {
		struct av_result r;
		assert_int_equal(av_scan(addrs[i], big, len, 10000, &r), 0);
		if (r.status != AV_TOO_BIG)
			fail_msg("%s: status %d (%s)", addrs[i], r.status, r.detail);
		assert_non_null(strstr(r.detail, "size limit exceeded"));
	}
	free(big);
}

static void test_unreachable(void **state)
{
	struct clamd *c = *state;
	struct av_result r;
	char path[160];
	snprintf(path, sizeof path, "%s/nothing.sock", c->dir);
	int64_t t0 = time_mono_us();
	assert_int_equal(av_scan(path, "x", 1, 5000, &r), 0);
	assert_int_equal(r.status, AV_ERROR);
	assert_non_null(strstr(r.detail, "cannot connect to clamd"));
	char tcp[32];
	snprintf(tcp, sizeof tcp, "127.0.0.1:%d", free_tcp_port());
	assert_int_equal(av_scan(tcp, "x", 1, 5000, &r), 0);
	assert_int_equal(r.status, AV_ERROR);
	assert_non_null(strstr(r.detail, "Connection refused"));
	assert_int_equal(av_scan("no-such-host.invalid:3310", "x", 1, 5000, &r), 0);
	assert_int_equal(r.status, AV_ERROR);
	assert_true(time_mono_us() - t0 < 3000000);
}

/* A listener that accepts nothing and answers nothing: the scan gives up
 * at its deadline. */
static void test_timeout(void **state)
{
	struct clamd *c = *state;
	char path[160];
	snprintf(path, sizeof path, "%s/silent.sock", c->dir);
	int s = socket(AF_UNIX, SOCK_STREAM, 0);
	struct sockaddr_un su = {.sun_family = AF_UNIX};
	snprintf(su.sun_path, sizeof su.sun_path, "%s", path);
	assert_int_equal(bind(s, (struct sockaddr *)&su, sizeof su), 0);
	assert_int_equal(listen(s, 4), 0);
	struct av_result r;
	int64_t t0 = time_mono_us();
	assert_int_equal(av_scan(path, "hello", 5, 1000, &r), 0);
	int64_t ms = (time_mono_us() - t0) / 1000;
	assert_int_equal(r.status, AV_ERROR);
	assert_non_null(strstr(r.detail, "in time"));
	assert_true(ms >= 990 && ms < 2000);
	close(s);
}

static void test_parse_reply(void **state)
{
	(void)state;
	struct av_result r;
	av_parse_reply("stream: OK", &r);
	assert_int_equal(r.status, AV_CLEAN);
	av_parse_reply("stream: Eicar-Test-Signature FOUND\n", &r);
	assert_int_equal(r.status, AV_INFECTED);
	assert_string_equal(r.virus, "Eicar-Test-Signature");
	av_parse_reply("INSTREAM size limit exceeded. ERROR", &r);
	assert_int_equal(r.status, AV_TOO_BIG);
	av_parse_reply("stream: Can't allocate memory ERROR", &r);
	assert_int_equal(r.status, AV_ERROR);
	av_parse_reply("", &r);
	assert_int_equal(r.status, AV_ERROR);
	av_parse_reply("stream:  FOUND", &r);
	assert_int_equal(r.status, AV_ERROR); /* no name: not a detection */
}

/* The stage with the settings of a real config store. */
static void stage_once(struct filter_engine *fe, const char *data, struct verdict *v)
{
	const char *rcpts[] = {"u@example.test"};
	struct scan_input in = {.data = data,
				.len = strlen(data),
				.client_ip = "192.0.2.1",
				.rcpts = rcpts,
				.nrcpt = 1};
	struct scan_job job = {.fe = fe, .in = &in, .v = v};
	assert_int_equal(stage_av(&job), 0);
}

static void test_stage(void **state)
{
	struct clamd *c = *state;
	char db[128], missing[128];
	struct err e;
	snprintf(db, sizeof db, "%s/rampart.db", c->dir);
	snprintf(missing, sizeof missing, "%s/down.sock", c->dir);
	struct config_store *cs = config_open(db, &e);
	assert_non_null(cs);
	struct filter_engine *fe = filter_engine_new(cs, c->dir, &e);
	static const char clean[] = "Subject: hi\r\n\r\nnothing\r\n";
	static const char bad[] = "Subject: hi\r\n\r\n" TEST_STRING "\r\n";
	struct verdict v;
	av_set_clamd(c->sock);
	verdict_init(&v, 1);
	stage_once(fe, clean, &v);
	assert_int_equal(v.final, 0);
	verdict_free(&v);
	verdict_init(&v, 1);
	stage_once(fe, bad, &v);
	assert_int_equal(v.action, ACTION_BLOCK);
	assert_string_equal(v.layer, "virus");
	assert_string_equal(v.rules.data, "VIRUS_RAMPART_TEST_SIGNATURE_UNOFFICIAL");
	assert_string_equal(v.public_reason, "virus found (" TEST_VIRUS ")");
	verdict_free(&v);
	assert_int_equal(config_set(cs, "av_infected_action", NULL, "quarantine", &e), 0);
	verdict_init(&v, 1);
	stage_once(fe, bad, &v);
	assert_int_equal(v.action, ACTION_QUARANTINE);
	verdict_free(&v);
	/* a message already refused is not scanned */
	verdict_init(&v, 1);
	verdict_decide(&v, ACTION_BLOCK, "dnsbl", "listed", "listed");
	stage_once(fe, bad, &v);
	assert_string_equal(v.layer, "dnsbl");
	verdict_free(&v);
	/* clamd down: tempfail by default, accept when told */
	av_set_clamd(missing);
	verdict_init(&v, 1);
	stage_once(fe, clean, &v);
	assert_int_equal(v.action, ACTION_TEMPFAIL);
	assert_non_null(strstr(v.public_reason, "try again later"));
	verdict_free(&v);
	assert_int_equal(config_set(cs, "av_unreachable", NULL, "accept", &e), 0);
	verdict_init(&v, 1);
	stage_once(fe, bad, &v);
	assert_int_equal(v.final, 0);
	assert_int_equal(v.action, ACTION_ALLOW);
	verdict_free(&v);
	/* over StreamMaxLength: accept (default), or block when told */
	av_set_clamd(c->sock);
	size_t len = 2u << 20;
	char *big = malloc(len + 1);
	memset(big, 'b', len);
	big[len] = '\0';
	verdict_init(&v, 1);
	stage_once(fe, big, &v);
	assert_int_equal(v.final, 0);
	verdict_free(&v);
	assert_int_equal(config_set(cs, "av_oversize", NULL, "block", &e), 0);
	verdict_init(&v, 1);
	stage_once(fe, big, &v);
	assert_int_equal(v.action, ACTION_BLOCK);
	verdict_free(&v);
	free(big);
	/* av_enabled off, or no clamd configured: nothing happens */
	assert_int_equal(config_set(cs, "av_enabled", NULL, "false", &e), 0);
	verdict_init(&v, 1);
	stage_once(fe, bad, &v);
	assert_int_equal(v.final, 0);
	verdict_free(&v);
	assert_int_equal(config_set(cs, "av_enabled", NULL, "true", &e), 0);
	av_set_clamd("");
	verdict_init(&v, 1);
	stage_once(fe, bad, &v);
	assert_int_equal(v.final, 0);
	verdict_free(&v);
	filter_engine_free(fe);
	config_close(cs);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse_reply),
	    cmocka_unit_test(test_clean_and_infected),
	    cmocka_unit_test(test_zipped_attachment),
	    cmocka_unit_test(test_too_big),
	    cmocka_unit_test(test_unreachable),
	    cmocka_unit_test(test_timeout),
	    cmocka_unit_test(test_stage),
	};
	return cmocka_run_group_tests_name("av", tests, clamd_setup, clamd_teardown);
}
