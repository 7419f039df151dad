/* The resolver: wire format (crafted and hostile replies), reverse names,
 * the TTL cache, and live lookups against a real dnsmasq (A/AAAA through
 * evdns, TXT/MX/PTR through our UDP client, TCP fallback, timeouts
 * against a server that never answers, failover to a second server). */

/* cmocka needs these first, in this order */
/* clang-format off */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
/* clang-format on */

#include "filter/net_testutil.h"

/* ---- a reply writer for crafted packets ---- */

struct pkt {
	unsigned char b[4096];
	size_t n;
};

static void p8(struct pkt *p, unsigned v)
{
	p->b[p->n++] = (unsigned char)v;
}

static void p16(struct pkt *p, unsigned v)
{
	p8(p, v >> 8);
	p8(p, v & 0xff);
}

static void p32(struct pkt *p, uint32_t v)
{
	p16(p, v >> 16);
	p16(p, v & 0xffff);
}

static void pname(struct pkt *p, const char *name)
{
	while (*name) {
		size_t l = strcspn(name, ".");
		p8(p, (unsigned)l);
		memcpy(p->b + p->n, name, l);
		p->n += l;
		name += l + (name[l] == '.');
	}
	p8(p, 0);
}

static void phdr(struct pkt *p, uint16_t id, unsigned flags, int an, int ns, const char *q,
		 int type)
{
	p->n = 0;
	p16(p, id);
	p16(p, flags);
	p16(p, 1);
	p16(p, (unsigned)an);
	p16(p, (unsigned)ns);
	p16(p, 0);
	pname(p, q);
	p16(p, (unsigned)type);
	p16(p, 1);
}

/* RR owned by the question name (pointer 0xc00c) */
static void prr(struct pkt *p, int type, uint32_t ttl, const void *rdata, size_t rdlen)
{
	p16(p, 0xc00c);
	p16(p, (unsigned)type);
	p16(p, 1);
	p32(p, ttl);
	p16(p, (unsigned)rdlen);
	memcpy(p->b + p->n, rdata, rdlen);
	p->n += rdlen;
}

#define RESP 0x8180 /* QR RD RA, rcode 0 */

/* A reply whose MX target is 63-byte labels chained by pointers:
 * (chain + 1) labels in all. The chain hides in a TXT record first. */
static int long_name_reply(struct pkt *p, int chain)
{
	unsigned char rd[600], mx[80];
	size_t n = 0, start = 0;
	phdr(p, 5, RESP, 2, 0, "a.test", DNS_T_MX);
	size_t base = p->n + 12; /* rdata offset of the TXT record below */
	for (int i = 0; i < chain; i++) {
		size_t here = n;
		rd[n++] = 63;
		memset(rd + n, 'a' + i, 63);
		n += 63;
		if (i == 0) {
			rd[n++] = 0;
		} else {
			rd[n++] = (unsigned char)(0xc0 | ((base + start) >> 8));
			rd[n++] = (unsigned char)((base + start) & 0xff);
		}
		start = here;
	}
	prr(p, DNS_T_TXT, 1, rd, n);
	size_t m = 0;
	mx[m++] = 0;
	mx[m++] = 1;
	mx[m++] = 63;
	memset(mx + m, 'z', 63);
	m += 63;
	mx[m++] = (unsigned char)(0xc0 | ((base + start) >> 8));
	mx[m++] = (unsigned char)((base + start) & 0xff);
	prr(p, DNS_T_MX, 1, mx, m);
	return 0;
}

static void test_query_encoding(void **state)
{
	(void)state;
	unsigned char q[512];
	int n = dnsmsg_query(q, sizeof q, 0xbeef, "Example.COM.", DNS_T_TXT, 1);
	assert_int_equal(n, 12 + 13 + 4 + 11);
	assert_int_equal(q[0], 0xbe);
	assert_int_equal(q[1], 0xef);
	assert_int_equal(q[2], 0x01); /* RD */
	assert_int_equal(q[5], 1);
	assert_int_equal(q[11], 1); /* the OPT record */
	assert_memory_equal(q + 12, "\7example\3com\0", 13);
	assert_int_equal(q[12 + 13 + 1], DNS_T_TXT);
	assert_int_equal(q[12 + 13 + 4 + 2], DNS_T_OPT);
	assert_int_equal(q[12 + 13 + 4 + 3] << 8 | q[12 + 13 + 4 + 4], DNS_EDNS_SIZE);
	/* bad names never reach the wire */
	char label64[80];
	memset(label64, 'a', 64);
	label64[64] = '\0';
	const char *bad[] = {"", ".", "a..b", "bad name.test", "x\n.test", label64, "ü.test", NULL};
	for (int i = 0; bad[i]; i++)
		assert_int_equal(dnsmsg_query(q, sizeof q, 1, bad[i], DNS_T_A, 0), -1);
	assert_true(dns_name_valid("_spf.example.com"));
	assert_true(dns_name_valid("2.0.0.127.zen.example."));
	/* too small a buffer */
	assert_int_equal(dnsmsg_query(q, 20, 1, "example.com", DNS_T_A, 1), -1);
}

static void test_parse_addresses(void **state)
{
	(void)state;
	struct pkt p;
	struct dns_result r;
	int tc;
	phdr(&p, 7, RESP, 2, 0, "2.0.0.127.bl.test", DNS_T_A);
	prr(&p, DNS_T_A, 300, "\x7f\0\0\x02", 4);
	prr(&p, DNS_T_A, 60, "\x7f\0\0\x0a", 4);
	assert_int_equal(dnsmsg_parse(p.b, p.n, 7, "2.0.0.127.BL.test", DNS_T_A, &r, &tc), 0);
	assert_int_equal(r.status, DNS_OK);
	assert_int_equal(tc, 0);
	assert_int_equal(r.n, 2);
	assert_int_equal(r.ttl, 60);
	assert_memory_equal(r.ans[1].addr, "\x7f\0\0\x0a", 4);
	/* an A record of the wrong size is malformed */
	phdr(&p, 7, RESP, 1, 0, "x.test", DNS_T_A);
	prr(&p, DNS_T_A, 300, "\x7f\0\0\x02\0", 5);
	assert_int_equal(dnsmsg_parse(p.b, p.n, 7, "x.test", DNS_T_A, &r, &tc), -1);
	/* records of other types (a CNAME chain) are skipped */
	phdr(&p, 9, RESP, 2, 0, "x.test", DNS_T_AAAA);
	prr(&p, DNS_T_CNAME, 30, "\1y\xc0\x0e", 4);
	prr(&p, DNS_T_AAAA, 30, "\x20\x01\x0d\xb8\0\0\0\0\0\0\0\0\0\0\0\1", 16);
	assert_int_equal(dnsmsg_parse(p.b, p.n, 9, "x.test", DNS_T_AAAA, &r, &tc), 0);
	assert_int_equal(r.n, 1);
	assert_int_equal(r.ans[0].type, DNS_T_AAAA);
}

static void test_parse_text_records(void **state)
{
	(void)state;
	struct pkt p;
	struct dns_result r;
	int tc;
	phdr(&p, 1, RESP, 2, 0, "example.test", DNS_T_TXT);
	prr(&p, DNS_T_TXT, 100, "\x0bv=spf1 -all", 12);
	prr(&p, DNS_T_TXT, 100, "\3abc\0\3def", 9); /* strings joined, empty one included */
	assert_int_equal(dnsmsg_parse(p.b, p.n, 1, "example.test", DNS_T_TXT, &r, &tc), 0);
	assert_int_equal(r.n, 2);
	assert_string_equal(dns_answer_text(&r, 0), "v=spf1 -all");
	assert_string_equal(dns_answer_text(&r, 1), "abcdef");
	assert_string_equal(dns_answer_text(&r, 2), ""); /* out of range */
	/* a string longer than its record */
	phdr(&p, 1, RESP, 1, 0, "example.test", DNS_T_TXT);
	prr(&p, DNS_T_TXT, 100, "\x20short", 6);
	assert_int_equal(dnsmsg_parse(p.b, p.n, 1, "example.test", DNS_T_TXT, &r, &tc), -1);

	/* MX: preference + compressed name pointing into the question */
	phdr(&p, 2, RESP, 1, 0, "mail.example.test", DNS_T_MX);
	prr(&p, DNS_T_MX, 100, "\0\x0a\2mx\xc0\x11", 7);
	assert_int_equal(dnsmsg_parse(p.b, p.n, 2, "mail.example.test", DNS_T_MX, &r, &tc), 0);
	assert_int_equal(r.n, 1);
	assert_int_equal(r.ans[0].pref, 10);
	assert_string_equal(dns_answer_text(&r, 0), "mx.example.test");

	/* PTR */
	phdr(&p, 3, RESP, 1, 0, "2.0.0.127.in-addr.arpa", DNS_T_PTR);
	prr(&p, DNS_T_PTR, 100, "\4host\4test\0", 11);
	assert_int_equal(dnsmsg_parse(p.b, p.n, 3, "2.0.0.127.in-addr.arpa", DNS_T_PTR, &r, &tc),
			 0);
	assert_string_equal(dns_answer_text(&r, 0), "host.test");
}

static void test_parse_negative(void **state)
{
	(void)state;
	struct pkt p;
	struct dns_result r;
	int tc;
	/* NXDOMAIN with an SOA: TTL = min(SOA ttl, SOA minimum) */
	phdr(&p, 5, 0x8183, 0, 1, "nope.test", DNS_T_A);
	unsigned char soa[64];
	size_t n = 0;
	memcpy(soa, "\2ns\xc0\x11\4host\xc0\x11", 11); /* mname, rname: pointers into "test" */
	n = 11;
	static const unsigned char nums[20] = {0, 0, 0, 1, 0, 0, 0, 2, 0, 0,
					       0, 3, 0, 0, 0, 4, 0, 0, 0, 42};
	memcpy(soa + n, nums, 20);
	n += 20;
	prr(&p, DNS_T_SOA, 600, soa, n);
	assert_int_equal(dnsmsg_parse(p.b, p.n, 5, "nope.test", DNS_T_A, &r, &tc), 0);
	assert_int_equal(r.status, DNS_NXDOMAIN);
	assert_int_equal(r.ttl, 42);
	/* NOERROR without answers: NODATA, default negative TTL */
	phdr(&p, 5, RESP, 0, 0, "a.test", DNS_T_TXT);
	assert_int_equal(dnsmsg_parse(p.b, p.n, 5, "a.test", DNS_T_TXT, &r, &tc), 0);
	assert_int_equal(r.status, DNS_NODATA);
	assert_int_equal(r.ttl, DNS_NEG_TTL);
	/* SERVFAIL, REFUSED, NOTIMP */
	int rc[][2] = {{2, DNS_SERVFAIL}, {5, DNS_SERVFAIL}, {4, DNS_ERROR}, {9, DNS_ERROR}};
	for (size_t i = 0; i < 4; i++) {
		phdr(&p, 5, 0x8180 | (unsigned)rc[i][0], 0, 0, "a.test", DNS_T_A);
		assert_int_equal(dnsmsg_parse(p.b, p.n, 5, "a.test", DNS_T_A, &r, &tc), 0);
		assert_int_equal(r.status, rc[i][1]);
	}
}

static void test_parse_rejects(void **state)
{
	(void)state;
	struct pkt p;
	struct dns_result r;
	int tc;
	phdr(&p, 5, RESP, 1, 0, "a.test", DNS_T_A);
	prr(&p, DNS_T_A, 1, "\1\2\3\4", 4);
	assert_int_equal(dnsmsg_parse(p.b, p.n, 6, "a.test", DNS_T_A, &r, &tc), -1);   /* id */
	assert_int_equal(dnsmsg_parse(p.b, p.n, 5, "b.test", DNS_T_A, &r, &tc), -1);   /* name */
	assert_int_equal(dnsmsg_parse(p.b, p.n, 5, "a.test", DNS_T_TXT, &r, &tc), -1); /* type */
	for (size_t cut = 0; cut < p.n; cut++) /* every truncation of a valid reply */
		assert_int_equal(dnsmsg_parse(p.b, cut, 5, "a.test", DNS_T_A, &r, &tc), -1);
	p.b[2] &= 0x7f; /* a query, not a reply */
	assert_int_equal(dnsmsg_parse(p.b, p.n, 5, "a.test", DNS_T_A, &r, &tc), -1);

	/* compression loops and forward pointers */
	phdr(&p, 5, RESP, 1, 0, "a.test", DNS_T_MX);
	size_t at = p.n + 12 + 2; /* where the MX target name starts */
	prr(&p, DNS_T_MX, 1, "\0\1\xc0\x00", 4);
	p.b[at] = (unsigned char)(0xc0 | (at >> 8));
	p.b[at + 1] = (unsigned char)(at & 0xff); /* points at itself */
	assert_int_equal(dnsmsg_parse(p.b, p.n, 5, "a.test", DNS_T_MX, &r, &tc), -1);
	p.b[at + 1] = (unsigned char)((at + 2) & 0xff); /* forward */
	assert_int_equal(dnsmsg_parse(p.b, p.n, 5, "a.test", DNS_T_MX, &r, &tc), -1);
	/* names of more than 255 bytes, built from backward pointers */
	assert_int_equal(long_name_reply(&p, 2), 0);
	assert_int_equal(dnsmsg_parse(p.b, p.n, 5, "a.test", DNS_T_MX, &r, &tc), 0);
	assert_int_equal(strlen(dns_answer_text(&r, 0)), 3 * 64 - 1);
	assert_int_equal(long_name_reply(&p, 4), 0);
	assert_int_equal(dnsmsg_parse(p.b, p.n, 5, "a.test", DNS_T_MX, &r, &tc), -1);
	/* rdlength past the end */
	phdr(&p, 5, RESP, 1, 0, "a.test", DNS_T_A);
	prr(&p, DNS_T_A, 1, "\1\2\3\4", 4);
	p.b[p.n - 5] = 200;
	assert_int_equal(dnsmsg_parse(p.b, p.n, 5, "a.test", DNS_T_A, &r, &tc), -1);
}

static void test_parse_truncated_flag(void **state)
{
	(void)state;
	struct pkt p;
	struct dns_result r;
	int tc;
	phdr(&p, 5, RESP | 0x0200, 3, 0, "big.test", DNS_T_TXT);
	prr(&p, DNS_T_TXT, 1, "\3abc", 4);
	/* two more answers announced, not present: fine when TC is set */
	assert_int_equal(dnsmsg_parse(p.b, p.n, 5, "big.test", DNS_T_TXT, &r, &tc), 0);
	assert_int_equal(tc, 1);
	p.b[2] &= (unsigned char)~0x02;
	assert_int_equal(dnsmsg_parse(p.b, p.n, 5, "big.test", DNS_T_TXT, &r, &tc), -1);
}

/* Random corruption of a valid reply: never a crash or an overread
 * (run under ASan), and the answer count never exceeds its bound. */
static void test_parse_fuzz(void **state)
{
	(void)state;
	struct pkt p, m;
	struct dns_result r;
	int tc;
	phdr(&p, 5, RESP, 3, 1, "mail.example.test", DNS_T_MX);
	prr(&p, DNS_T_MX, 100, "\0\x0a\2mx\xc0\x11", 7);
	prr(&p, DNS_T_MX, 100, "\0\x0b\3mx2\xc0\x11", 8);
	prr(&p, DNS_T_TXT, 100, "\3abc", 4);
	prr(&p, DNS_T_SOA, 100, "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 22);
	srand(1234);
	for (int i = 0; i < 20000; i++) {
		m = p;
		int flips = 1 + rand() % 4;
		for (int k = 0; k < flips; k++)
			m.b[rand() % (int)m.n] = (unsigned char)rand();
		if (rand() % 4 == 0)
			m.n = (size_t)(rand() % (int)m.n);
		if (dnsmsg_parse(m.b, m.n, 5, "mail.example.test", DNS_T_MX, &r, &tc) == 0) {
			assert_true(r.n >= 0 && r.n <= DNS_MAX_ANSWERS);
			assert_true(r.text_len < sizeof r.text);
		}
	}
}

static void test_reverse_names(void **state)
{
	(void)state;
	char out[300];
	assert_int_equal(dns_reverse_name("127.0.0.2", "zen.example", out, sizeof out), 0);
	assert_string_equal(out, "2.0.0.127.zen.example");
	assert_int_equal(dns_reverse_name("192.0.2.99", NULL, out, sizeof out), 0);
	assert_string_equal(out, "99.2.0.192");
	assert_int_equal(dns_reverse_name("2001:db8::1", "bl.test", out, sizeof out), 0);
	assert_string_equal(
	    out, "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.bl.test");
	assert_int_equal(dns_reverse_name("2001:db8::1", "", out, sizeof out), 0);
	assert_int_equal(strlen(out), 63);
	assert_int_equal(dns_reverse_name("not-an-ip", "bl.test", out, sizeof out), -1);
	assert_int_equal(dns_reverse_name("1.2.3.4", "bl.test", out, 10), -1);
	assert_int_equal(dns_reverse_name("::1", "bl.test", out, 40), -1);
}

static void test_cache(void **state)
{
	(void)state;
	struct dns_cache *c = dns_cache_new(3);
	struct dns_result r, got;
	memset(&r, 0, sizeof r);
	r.status = DNS_OK;
	r.ttl = 10;
	r.n = 1;
	r.ans[0].type = DNS_T_TXT;
	dns_result_add_text(&r, &r.ans[0], "hello", 5);
	dns_cache_put(c, DNS_T_TXT, "a.test", &r, 1000);
	assert_int_equal(dns_cache_get(c, DNS_T_TXT, "a.test", 5000, &got), 1);
	assert_int_equal(got.cached, 1);
	assert_int_equal(got.ttl, 6);
	assert_string_equal(dns_answer_text(&got, 0), "hello");
	assert_int_equal(dns_cache_get(c, DNS_T_A, "a.test", 5000, &got), 0);	 /* other type */
	assert_int_equal(dns_cache_get(c, DNS_T_TXT, "a.test", 11000, &got), 0); /* expired */
	assert_int_equal(dns_cache_size(c), 0);
	/* failures and zero TTLs are not cached */
	r.status = DNS_SERVFAIL;
	dns_cache_put(c, DNS_T_TXT, "b.test", &r, 0);
	r.status = DNS_NXDOMAIN;
	r.ttl = 0;
	dns_cache_put(c, DNS_T_TXT, "c.test", &r, 0);
	assert_int_equal(dns_cache_size(c), 0);
	/* bounded: the oldest goes */
	r.ttl = 100;
	const char *names[] = {"1.test", "2.test", "3.test", "4.test", "2.test"};
	for (int i = 0; i < 5; i++)
		dns_cache_put(c, DNS_T_A, names[i], &r, 0);
	assert_int_equal(dns_cache_size(c), 3);
	assert_int_equal(dns_cache_get(c, DNS_T_A, "1.test", 1, &got), 0);
	assert_int_equal(dns_cache_get(c, DNS_T_A, "3.test", 1, &got), 1);
	assert_int_equal(got.status, DNS_NXDOMAIN);
	assert_int_equal(dns_cache_get(c, DNS_T_A, "2.test", 1, &got), 1);
	dns_cache_free(c);
}

/* ---- live, against dnsmasq ---- */

struct live {
	int port;
	pid_t dnsmasq;
	struct tu_loop *loop;
};

static int live_setup(void **state)
{
	static char big[8][300];
	static char bigopt[8][340];
	const char *opts[32];
	int n = 0;
	opts[n++] = "--address=/2.0.0.127.bl.test/127.0.0.2";
	opts[n++] = "--txt-record=2.0.0.127.bl.test,Listed: see http://bl.test/?127.0.0.2";
	opts[n++] = "--txt-record=sender.test,v=spf1 ip4:127.0.0.1 -all";
	opts[n++] = "--txt-record=sender.test,other text";
	opts[n++] = "--mx-host=sender.test,mx1.sender.test,10";
	opts[n++] = "--host-record=mx1.sender.test,127.0.0.9,2001:db8::9";
	for (int i = 0; i < 8; i++) {
		memset(big[i], 'a' + i, 250);
		big[i][250] = '\0';
		snprintf(bigopt[i], sizeof bigopt[i], "--txt-record=big.test,%s", big[i]);
		opts[n++] = bigopt[i];
	}
	opts[n] = NULL;
	struct live *l = calloc(1, sizeof *l);
	l->port = tu_free_port();
	l->dnsmasq = tu_dnsmasq_start(l->port, opts);
	if (l->dnsmasq < 0) {
		fprintf(stderr, "cannot start dnsmasq\n");
		return -1;
	}
	char server[64];
	snprintf(server, sizeof server, "127.0.0.1:%d", l->port);
	const char *servers[] = {server};
	l->loop = tu_loop_start(servers, 1);
	*state = l;
	return l->loop ? 0 : -1;
}

static int live_teardown(void **state)
{
	struct live *l = *state;
	tu_loop_stop(l->loop);
	tu_dnsmasq_stop(l->dnsmasq);
	free(l);
	return 0;
}

/* dns_lookup_async, driven on the loop thread as session_rdns.c does:
 * PTR, then the name's address; a cached repeat calls back at once; off
 * the loop it refuses. */
struct async_run {
	struct dns *d;
	pthread_mutex_t mu;
	pthread_cond_t cond;
	int done, calls, sync_cb, cached;
	int in_start, finished; /* loop thread only */
	char ptr[256];
	unsigned char addr[4];
};

static void async_signal(struct async_run *a)
{
	pthread_mutex_lock(&a->mu);
	a->done = 1;
	pthread_cond_signal(&a->cond);
	pthread_mutex_unlock(&a->mu);
}

/* The end of the chain; inside async_start that one signals (after its
 * last touch of a, which lives on the waiting thread's stack). */
static void async_finish(struct async_run *a)
{
	a->finished = 1;
	if (!a->in_start)
		async_signal(a);
}

static void on_async_addr(const struct dns_result *r, void *arg)
{
	struct async_run *a = arg;
	a->calls++;
	if (r->status == DNS_OK && r->n > 0)
		memcpy(a->addr, r->ans[0].addr, 4);
	async_finish(a);
}

static void on_async_ptr(const struct dns_result *r, void *arg)
{
	struct async_run *a = arg;
	a->calls++;
	a->cached = r->cached;
	if (r->status != DNS_OK || r->n < 1)
		return async_finish(a);
	snprintf(a->ptr, sizeof a->ptr, "%s", dns_answer_text(r, 0));
	if (dns_lookup_async(a->d, DNS_T_A, "2.0.0.127.bl.test", on_async_addr, a) < 0)
		async_finish(a);
}

static void async_start(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	struct async_run *a = arg;
	a->in_start = 1;
	a->finished = 0;
	int started = dns_lookup_async(a->d, DNS_T_PTR, "9.0.0.127.in-addr.arpa", on_async_ptr, a) == 0;
	a->in_start = 0;
	a->sync_cb = a->finished;
	if (!started || a->finished)
		async_signal(a);
}

static void async_once(struct live *l, struct async_run *a)
{
	a->done = 0;
	struct timeval now = {0, 0};
	assert_int_equal(event_base_once(l->loop->base, -1, EV_TIMEOUT, async_start, a, &now), 0);
	pthread_mutex_lock(&a->mu);
	while (!a->done)
		pthread_cond_wait(&a->cond, &a->mu);
	pthread_mutex_unlock(&a->mu);
}

static void test_live_async(void **state)
{
	struct live *l = *state;
	struct async_run a = {.d = l->loop->dns};
	pthread_mutex_init(&a.mu, NULL);
	pthread_cond_init(&a.cond, NULL);
	async_once(l, &a);
	assert_int_equal(a.calls, 2);
	assert_string_equal(a.ptr, "mx1.sender.test");
	assert_memory_equal(a.addr, "\x7f\0\0\x02", 4);
	/* both answers are cached now: the chain completes inside the call */
	memset(a.addr, 0, sizeof a.addr);
	async_once(l, &a);
	assert_int_equal(a.calls, 4);
	assert_true(a.cached && a.sync_cb);
	assert_memory_equal(a.addr, "\x7f\0\0\x02", 4);
	/* not on the loop thread: refused, no callback */
	assert_int_equal(dns_lookup_async(a.d, DNS_T_PTR, "9.0.0.127.in-addr.arpa", on_async_ptr, &a), -1);
	assert_int_equal(a.calls, 4);
	pthread_cond_destroy(&a.cond);
	pthread_mutex_destroy(&a.mu);
}

static void test_live_lookups(void **state)
{
	struct live *l = *state;
	struct dns *d = l->loop->dns;
	struct dns_result *r = malloc(sizeof *r);
	assert_int_equal(dns_lookup_a_sync(d, "2.0.0.127.bl.test", 2000, r), 0);
	assert_int_equal(r->status, DNS_OK);
	assert_int_equal(r->n, 1);
	assert_memory_equal(r->ans[0].addr, "\x7f\0\0\x02", 4);
	assert_int_equal(r->cached, 0);
	/* second time from the cache */
	assert_int_equal(dns_lookup_a_sync(d, "2.0.0.127.BL.test.", 2000, r), 0);
	assert_int_equal(r->cached, 1);
	assert_int_equal(dns_lookup_a_sync(d, "3.0.0.127.bl.test", 2000, r), 0);
	assert_int_equal(r->status, DNS_NXDOMAIN);
	assert_int_equal(dns_lookup_txt_sync(d, "2.0.0.127.bl.test", 2000, r), 0);
	assert_string_equal(dns_answer_text(r, 0), "Listed: see http://bl.test/?127.0.0.2");
	assert_int_equal(dns_lookup_txt_sync(d, "sender.test", 2000, r), 0);
	assert_int_equal(r->n, 2);
	assert_int_equal(dns_lookup_sync(d, DNS_T_MX, "sender.test", 2000, r), 0);
	assert_int_equal(r->n, 1);
	assert_int_equal(r->ans[0].pref, 10);
	assert_string_equal(dns_answer_text(r, 0), "mx1.sender.test");
	assert_int_equal(dns_lookup_sync(d, DNS_T_AAAA, "mx1.sender.test", 2000, r), 0);
	assert_int_equal(r->n, 1);
	assert_int_equal(r->ans[0].addr[15], 9);
	assert_int_equal(dns_lookup_sync(d, DNS_T_PTR, "9.0.0.127.in-addr.arpa", 2000, r), 0);
	assert_string_equal(dns_answer_text(r, 0), "mx1.sender.test");
	assert_int_equal(dns_lookup_txt_sync(d, "mx1.sender.test", 2000, r), 0);
	assert_int_equal(r->status, DNS_NODATA);
	assert_int_equal(dns_lookup_txt_sync(d, "nothing.test", 2000, r), 0);
	assert_int_equal(r->status, DNS_NXDOMAIN);
	/* an invalid name is an error without a query */
	assert_int_equal(dns_lookup_txt_sync(d, "bad name.test", 2000, r), -1);
	assert_int_equal(r->status, DNS_ERROR);
	struct dns_stats st;
	dns_get_stats(d, &st);
	assert_true(st.cache_hits >= 1);
	assert_true(st.cache_entries >= 8);
	free(r);
}

static void test_live_tcp_fallback(void **state)
{
	struct live *l = *state;
	struct dns_result *r = malloc(sizeof *r);
	/* 8 x 250 bytes does not fit the 1232 bytes of EDNS over UDP */
	assert_int_equal(dns_lookup_txt_sync(l->loop->dns, "big.test", 3000, r), 0);
	assert_int_equal(r->status, DNS_OK);
	assert_int_equal(r->n, 8);
	int seen = 0;
	for (int i = 0; i < r->n; i++) {
		const char *t = dns_answer_text(r, i);
		assert_int_equal(strlen(t), 250);
		seen |= 1 << (t[0] - 'a');
	}
	assert_int_equal(seen, 0xff);
	free(r);
}

static void test_live_batch(void **state)
{
	struct live *l = *state;
	struct dns_query_spec q[] = {
	    {DNS_T_A, "2.0.0.127.bl.test"}, {DNS_T_A, "4.0.0.127.bl.test"},
	    {DNS_T_TXT, "sender.test"},	    {DNS_T_MX, "sender.test"},
	    {DNS_T_A, "bad..name"},
	};
	struct dns_result *r = calloc(5, sizeof *r);
	assert_int_equal(dns_lookup_batch(l->loop->dns, q, 5, 2000, r), 4);
	assert_int_equal(r[0].status, DNS_OK);
	assert_int_equal(r[1].status, DNS_NXDOMAIN);
	assert_int_equal(r[2].n, 2);
	assert_int_equal(r[3].n, 1);
	assert_int_equal(r[4].status, DNS_ERROR);
	free(r);
}

/* Many threads at once: every answer right, nothing lost. */
static void *hammer(void *arg)
{
	struct dns *d = arg;
	struct dns_result *r = malloc(sizeof *r);
	intptr_t bad = 0;
	for (int i = 0; i < 200; i++) {
		char name[64];
		snprintf(name, sizeof name, "%d.0.0.127.bl.test", i % 50);
		if (dns_lookup_a_sync(d, name, 3000, r) < 0)
			bad++;
		else if ((i % 50 == 2) != (r->status == DNS_OK))
			bad++;
	}
	free(r);
	return (void *)bad;
}

static void test_live_threads(void **state)
{
	struct live *l = *state;
	pthread_t th[8];
	for (int i = 0; i < 8; i++)
		pthread_create(&th[i], NULL, hammer, l->loop->dns);
	for (int i = 0; i < 8; i++) {
		void *bad;
		pthread_join(th[i], &bad);
		assert_int_equal((intptr_t)bad, 0);
	}
}

/* A server that never answers: the caller gets DNS_TIMEOUT after its
 * own timeout, both for evdns (A) and our client (TXT); stopping the
 * resolver with those queries still in flight leaks nothing (ASan). */
static void test_timeout(void **state)
{
	(void)state;
	int port = 0;
	int s = tu_silent_udp(&port);
	assert_true(s >= 0);
	char server[64];
	snprintf(server, sizeof server, "127.0.0.1:%d", port);
	const char *servers[] = {server};
	struct tu_loop *l = tu_loop_start(servers, 1);
	assert_non_null(l);
	struct dns_result *r = malloc(sizeof *r);
	int types[] = {DNS_T_A, DNS_T_TXT};
	for (int i = 0; i < 2; i++) {
		int64_t t0 = time_mono_us();
		assert_int_equal(dns_lookup_sync(l->dns, types[i], "slow.test", 300, r), -1);
		int64_t ms = (time_mono_us() - t0) / 1000;
		assert_int_equal(r->status, DNS_TIMEOUT);
		assert_true(ms >= 290 && ms < 1000);
	}
	tu_loop_stop(l);
	close(s);
	free(r);
}

/* First server silent, second one dnsmasq: answered after a failover. */
static void test_failover(void **state)
{
	struct live *live = *state;
	int port = 0;
	int s = tu_silent_udp(&port);
	char s1[64], s2[64];
	snprintf(s1, sizeof s1, "127.0.0.1:%d", port);
	snprintf(s2, sizeof s2, "127.0.0.1:%d", live->port);
	const char *servers[] = {s1, s2};
	struct tu_loop *l = tu_loop_start(servers, 2);
	assert_non_null(l);
	struct dns_result *r = malloc(sizeof *r);
	assert_int_equal(dns_lookup_txt_sync(l->dns, "sender.test", 6000, r), 0);
	assert_int_equal(r->n, 2);
	assert_int_equal(dns_lookup_a_sync(l->dns, "2.0.0.127.bl.test", 6000, r), 0);
	assert_int_equal(r->status, DNS_OK);
	tu_loop_stop(l);
	close(s);
	free(r);
}

/* A closed port answers with ICMP: the next try comes at once. */
static void test_refused_port(void **state)
{
	(void)state;
	int port = tu_free_port();
	char server[64];
	snprintf(server, sizeof server, "127.0.0.1:%d", port);
	const char *servers[] = {server};
	struct tu_loop *l = tu_loop_start(servers, 1);
	struct dns_result *r = malloc(sizeof *r);
	int64_t t0 = time_mono_us();
	assert_int_equal(dns_lookup_txt_sync(l->dns, "x.test", 3000, r), -1);
	assert_int_equal(r->status, DNS_SERVFAIL);
	assert_true(time_mono_us() - t0 < 1000000);
	tu_loop_stop(l);
	free(r);
}

static void test_bad_servers(void **state)
{
	(void)state;
	struct event_base *base = event_base_new();
	struct err e;
	const char servers[][128] = {"not-an-address:53"};
	assert_null(dns_new(base, servers, 1, &e));
	assert_non_null(strstr(e.msg, "not-an-address"));
	event_base_free(base);
}

int main(void)
{
	const struct CMUnitTest offline[] = {
	    cmocka_unit_test(test_query_encoding),
	    cmocka_unit_test(test_parse_addresses),
	    cmocka_unit_test(test_parse_text_records),
	    cmocka_unit_test(test_parse_negative),
	    cmocka_unit_test(test_parse_rejects),
	    cmocka_unit_test(test_parse_truncated_flag),
	    cmocka_unit_test(test_parse_fuzz),
	    cmocka_unit_test(test_reverse_names),
	    cmocka_unit_test(test_cache),
	    cmocka_unit_test(test_timeout),
	    cmocka_unit_test(test_refused_port),
	    cmocka_unit_test(test_bad_servers),
	};
	const struct CMUnitTest live[] = {
	    cmocka_unit_test(test_live_lookups), cmocka_unit_test(test_live_async),
	    cmocka_unit_test(test_live_tcp_fallback),
	    cmocka_unit_test(test_live_batch),	 cmocka_unit_test(test_live_threads),
	    cmocka_unit_test(test_failover),
	};
	int rc = cmocka_run_group_tests_name("dns", offline, NULL, NULL);
	return rc + cmocka_run_group_tests_name("dns_live", live, live_setup, live_teardown);
}
