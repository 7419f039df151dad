/* DNS wire format: the queries we send and the replies we accept
 * (RFC 1035, EDNS0 from RFC 6891). Replies come from the network, so
 * every read is bounds-checked and name compression is followed only
 * backwards, a bounded number of times. */
#include "filter/dns_int.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define HDR_LEN 12
#define NAME_WIRE_MAX 255
#define MAX_POINTERS 64
#define CLASS_IN 1

struct rd {
	const unsigned char *p;
	size_t len;
};

static int get16(const struct rd *m, size_t pos, uint16_t *v)
{
	if (pos > m->len || m->len - pos < 2)
		return -1;
	*v = (uint16_t)(m->p[pos] << 8 | m->p[pos + 1]);
	return 0;
}

static int get32(const struct rd *m, size_t pos, uint32_t *v)
{
	uint16_t hi, lo;
	if (get16(m, pos, &hi) < 0 || get16(m, pos + 2, &lo) < 0)
		return -1;
	*v = (uint32_t)hi << 16 | lo;
	return 0;
}

static int put16(unsigned char *out, size_t outlen, size_t *pos, unsigned v)
{
	if (*pos + 2 > outlen)
		return -1;
	out[(*pos)++] = (unsigned char)(v >> 8);
	out[(*pos)++] = (unsigned char)v;
	return 0;
}

int dns_name_valid(const char *name)
{
	size_t n = name ? strlen(name) : 0;
	if (n && name[n - 1] == '.')
		n--;
	if (n == 0 || n > DNS_NAME_MAX)
		return 0;
	size_t label = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)name[i];
		if (c == '.') {
			if (label == 0)
				return 0;
			label = 0;
			continue;
		}
		if (!isalnum(c) && c != '-' && c != '_')
			return 0;
		if (++label > 63)
			return 0;
	}
	return label > 0;
}

int dns_name_canon(const char *name, char *out, size_t outlen)
{
	if (!dns_name_valid(name))
		return -1;
	size_t n = strlen(name);
	if (name[n - 1] == '.')
		n--;
	if (n >= outlen)
		return -1;
	for (size_t i = 0; i < n; i++)
		out[i] = (char)tolower((unsigned char)name[i]);
	out[n] = '\0';
	return 0;
}

int dnsmsg_query(unsigned char *out, size_t outlen, uint16_t id, const char *name, int type,
		 int edns)
{
	char canon[DNS_NAME_MAX + 1];
	size_t pos = 0;
	if (dns_name_canon(name, canon, sizeof canon) < 0 || outlen < HDR_LEN)
		return -1;
	memset(out, 0, HDR_LEN);
	out[0] = (unsigned char)(id >> 8);
	out[1] = (unsigned char)id;
	out[2] = 0x01;		/* RD */
	out[5] = 1;		/* QDCOUNT */
	out[11] = edns ? 1 : 0; /* ARCOUNT */
	pos = HDR_LEN;
	for (const char *l = canon; *l;) {
		size_t n = strcspn(l, ".");
		if (pos + 1 + n > outlen)
			return -1;
		out[pos++] = (unsigned char)n;
		memcpy(out + pos, l, n);
		pos += n;
		l += n + (l[n] == '.');
	}
	if (pos + 1 > outlen)
		return -1;
	out[pos++] = 0;
	if (put16(out, outlen, &pos, (unsigned)type) < 0 || put16(out, outlen, &pos, CLASS_IN) < 0)
		return -1;
	if (edns) {
		/* root name, type OPT, class = payload size, ttl 0, rdlen 0 */
		if (pos + 1 > outlen)
			return -1;
		out[pos++] = 0;
		if (put16(out, outlen, &pos, DNS_T_OPT) < 0 ||
		    put16(out, outlen, &pos, DNS_EDNS_SIZE) < 0 ||
		    put16(out, outlen, &pos, 0) < 0 || put16(out, outlen, &pos, 0) < 0 ||
		    put16(out, outlen, &pos, 0) < 0)
			return -1;
	}
	return (int)pos;
}

/* Reads the (possibly compressed) name at *pos into out as dotted text,
 * bytes outside printable ASCII (and dots inside labels) shown as '?';
 * *pos moves past the name where it starts. */
static int name_read(const struct rd *m, size_t *pos, char *out, size_t outlen)
{
	size_t p = *pos, o = 0, wire = 0, end = 0;
	int jumps = 0;
	for (;;) {
		if (p >= m->len)
			return -1;
		unsigned c = m->p[p];
		if ((c & 0xc0) == 0xc0) {
			uint16_t ptr;
			if (get16(m, p, &ptr) < 0)
				return -1;
			ptr &= 0x3fff;
			if (!end)
				end = p + 2;
			/* only backwards, and not forever */
			if (ptr >= p || ++jumps > MAX_POINTERS)
				return -1;
			p = ptr;
			continue;
		}
		if (c & 0xc0)
			return -1; /* 0x40/0x80: obsolete label types */
		p++;
		wire += c + 1;
		if (wire > NAME_WIRE_MAX)
			return -1;
		if (c == 0)
			break;
		if (p + c > m->len)
			return -1;
		if (o && o < outlen)
			out[o++] = '.';
		for (unsigned i = 0; i < c && o < outlen; i++) {
			unsigned char b = m->p[p + i];
			out[o++] = (b > 0x20 && b < 0x7f && b != '.') ? (char)b : '?';
		}
		p += c;
	}
	if (o >= outlen)
		return -1;
	out[o] = '\0';
	*pos = end ? end : p;
	return 0;
}

int dns_result_add_text(struct dns_result *r, struct dns_answer *a, const char *text, size_t len)
{
	if (len >= sizeof r->text - r->text_len)
		return -1;
	a->off = (uint16_t)r->text_len;
	a->len = (uint16_t)len;
	memcpy(r->text + r->text_len, text, len);
	r->text_len += len;
	r->text[r->text_len++] = '\0';
	return 0;
}

/* TXT rdata: character strings, concatenated (RFC 7208 3.3). */
static int txt_read(const struct rd *m, size_t pos, size_t rdlen, char *out, size_t outlen,
		    size_t *n)
{
	size_t o = 0, end = pos + rdlen;
	while (pos < end) {
		size_t l = m->p[pos++];
		if (l > end - pos)
			return -1;
		if (o + l >= outlen)
			return -1;
		memcpy(out + o, m->p + pos, l);
		o += l;
		pos += l;
	}
	out[o] = '\0';
	*n = o;
	return 0;
}

/* One answer RR of the asked type into r. */
static int answer_add(const struct rd *m, size_t pos, uint16_t type, uint16_t rdlen,
		      struct dns_result *r)
{
	char text[DNS_TEXT_MAX];
	size_t n = 0;
	if (r->n == DNS_MAX_ANSWERS) {
		r->truncated = 1;
		return 0;
	}
	struct dns_answer *a = &r->ans[r->n];
	memset(a, 0, sizeof *a);
	a->type = type;
	switch (type) {
	case DNS_T_A:
	case DNS_T_AAAA:
		if (rdlen != (type == DNS_T_A ? 4 : 16))
			return -1;
		memcpy(a->addr, m->p + pos, rdlen);
		r->n++;
		return 0;
	case DNS_T_MX:
		if (get16(m, pos, &a->pref) < 0)
			return -1;
		pos += 2;
		/* fall through */
	case DNS_T_PTR:
	case DNS_T_CNAME:
		if (name_read(m, &pos, text, sizeof text) < 0)
			return -1;
		n = strlen(text);
		break;
	case DNS_T_TXT:
		if (txt_read(m, pos, rdlen, text, sizeof text, &n) < 0)
			return -1;
		break;
	default:
		return 0;
	}
	if (dns_result_add_text(r, a, text, n) < 0) {
		r->truncated = 1;
		return 0;
	}
	r->n++;
	return 0;
}

/* Question section: exactly our question. */
static int question_check(const struct rd *m, size_t *pos, const char *name, int type)
{
	char qname[NAME_WIRE_MAX + 1];
	uint16_t qtype, qclass;
	if (name_read(m, pos, qname, sizeof qname) < 0 || get16(m, *pos, &qtype) < 0 ||
	    get16(m, *pos + 2, &qclass) < 0)
		return -1;
	*pos += 4;
	if (qtype != type || qclass != CLASS_IN || strcasecmp(qname, name) != 0)
		return -1;
	return 0;
}

/* Walks the answer and authority sections: answers of the asked type
 * into r, the smallest TTL, the negative TTL from an SOA. */
static int records_read(const struct rd *m, size_t pos, int nan, int nns, int type,
			struct dns_result *r, uint32_t *min_ttl, uint32_t *neg_ttl)
{
	char owner[NAME_WIRE_MAX + 1];
	for (int i = 0; i < nan + nns; i++) {
		uint16_t rtype, rclass, rdlen;
		uint32_t ttl;
		if (name_read(m, &pos, owner, sizeof owner) < 0 || get16(m, pos, &rtype) < 0 ||
		    get16(m, pos + 2, &rclass) < 0 || get32(m, pos + 4, &ttl) < 0 ||
		    get16(m, pos + 8, &rdlen) < 0)
			return -1;
		pos += 10;
		if (rdlen > m->len - pos)
			return -1;
		if (ttl > 0x7fffffff)
			ttl = 0;
		if (i < nan && rtype == type && rclass == CLASS_IN) {
			if (answer_add(m, pos, rtype, rdlen, r) < 0)
				return -1;
			if (ttl < *min_ttl)
				*min_ttl = ttl;
		} else if (i >= nan && rtype == DNS_T_SOA) {
			/* negative caching: min(SOA TTL, SOA MINIMUM) (RFC 2308) */
			uint32_t minimum;
			if (rdlen >= 4 && get32(m, pos + rdlen - 4, &minimum) == 0)
				*neg_ttl = minimum < ttl ? minimum : ttl;
		}
		pos += rdlen;
	}
	return 0;
}

int dnsmsg_parse(const unsigned char *p, size_t len, uint16_t id, const char *name, int type,
		 struct dns_result *out, int *tc)
{
	struct rd m = {p, len};
	uint16_t rid, flags, qd, an, ns;
	size_t pos = HDR_LEN;
	if (len < HDR_LEN || get16(&m, 0, &rid) < 0 || get16(&m, 2, &flags) < 0 ||
	    get16(&m, 4, &qd) < 0 || get16(&m, 6, &an) < 0 || get16(&m, 8, &ns) < 0)
		return -1;
	if (rid != id || !(flags & 0x8000) || ((flags >> 11) & 0xf) != 0 || qd != 1)
		return -1;
	if (question_check(&m, &pos, name, type) < 0)
		return -1;
	memset(out, 0, offsetof(struct dns_result, text));
	out->text[0] = '\0';
	*tc = (flags & 0x0200) != 0;
	uint32_t min_ttl = DNS_MAX_TTL, neg_ttl = DNS_NEG_TTL;
	int rcode = flags & 0xf;
	/* a truncated reply may end in the middle of a record */
	if (records_read(&m, pos, an, ns, type, out, &min_ttl, &neg_ttl) < 0 && !*tc)
		return -1;
	static const enum dns_status by_rcode[] = {
	    [0] = DNS_OK,	[1] = DNS_ERROR, [2] = DNS_SERVFAIL,
	    [3] = DNS_NXDOMAIN, [4] = DNS_ERROR, [5] = DNS_SERVFAIL,
	};
	out->status = rcode < 6 ? by_rcode[rcode] : DNS_ERROR;
	if (out->status == DNS_OK && out->n == 0)
		out->status = DNS_NODATA;
	if (out->status == DNS_OK)
		out->ttl = min_ttl;
	else if (out->status == DNS_NXDOMAIN || out->status == DNS_NODATA)
		out->ttl = neg_ttl < DNS_MAX_TTL ? neg_ttl : DNS_MAX_TTL;
	return 0;
}

int dns_reverse_name(const char *ip, const char *zone, char *out, size_t outlen)
{
	unsigned char a[16];
	size_t o = 0;
	int w;
	const char *z = zone && *zone ? zone : NULL;
	if (inet_pton(AF_INET, ip, a) == 1) {
		w = snprintf(out, outlen, "%u.%u.%u.%u%s%s", a[3], a[2], a[1], a[0], z ? "." : "",
			     z ? z : "");
		return w > 0 && (size_t)w < outlen ? 0 : -1;
	}
	if (inet_pton(AF_INET6, ip, a) != 1)
		return -1;
	static const char hex[] = "0123456789abcdef";
	if (outlen < 64 + 1)
		return -1;
	for (int i = 15; i >= 0; i--) {
		out[o++] = hex[a[i] & 0xf];
		out[o++] = '.';
		out[o++] = hex[a[i] >> 4];
		out[o++] = '.';
	}
	o--; /* no dot after the last nibble unless a zone follows */
	w = snprintf(out + o, outlen - o, "%s%s", z ? "." : "", z ? z : "");
	return w >= 0 && (size_t)w < outlen - o ? 0 : -1;
}

const char *dns_answer_text(const struct dns_result *r, int i)
{
	if (i < 0 || i >= r->n || r->ans[i].off >= sizeof r->text)
		return "";
	return r->text + r->ans[i].off;
}

const char *dns_status_name(enum dns_status s)
{
	static const char *names[] = {
	    [DNS_OK] = "ok",	       [DNS_NXDOMAIN] = "nxdomain", [DNS_NODATA] = "nodata",
	    [DNS_TIMEOUT] = "timeout", [DNS_SERVFAIL] = "servfail", [DNS_ERROR] = "error",
	};
	return (unsigned)s < sizeof names / sizeof *names ? names[s] : "unknown";
}
