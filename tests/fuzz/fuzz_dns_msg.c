/* libFuzzer target: the DNS reply parser of the resolver
 * (src/filter/dns_msg.c) on attacker-supplied replies.
 *
 *   clang -g -O1 -std=c11 -D_GNU_SOURCE -fsanitize=fuzzer,address,undefined \
 *         -fno-sanitize-recover=undefined -Isrc \
 *         tests/fuzz/fuzz_dns_msg.c src/filter/dns_msg.c -o /tmp/fuzz_dns_msg
 *   mkdir -p /tmp/corpus-dns && /tmp/fuzz_dns_msg -max_len=1500 -max_total_time=120 /tmp/corpus-dns
 *
 * Byte 0 of the input picks the question type (A, AAAA, MX, TXT, PTR);
 * the rest is the reply to "a.example.test". The target makes the query
 * itself first and seeds the reply's header and question from it, so
 * most inputs get past the question check. Besides ASan/UBSan it aborts
 * when an invariant breaks: more answers than DNS_MAX_ANSWERS, text
 * outside the result's buffer or not NUL-terminated, an answer of
 * another type than asked, or a name with bytes outside printable
 * ASCII. */
#include "filter/dns_int.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const int types[] = {DNS_T_A, DNS_T_AAAA, DNS_T_MX, DNS_T_TXT, DNS_T_PTR};

static void check(const struct dns_result *r, int type)
{
	if (r->n < 0 || r->n > DNS_MAX_ANSWERS || r->text_len >= sizeof r->text)
		abort();
	for (int i = 0; i < r->n; i++) {
		const struct dns_answer *a = &r->ans[i];
		if (a->type != type)
			abort();
		if (type == DNS_T_A || type == DNS_T_AAAA)
			continue;
		if ((size_t)a->off + a->len >= sizeof r->text || r->text[a->off + a->len] != '\0')
			abort();
		if (type == DNS_T_TXT)
			continue;
		for (size_t k = 0; k < a->len; k++) {
			unsigned char c = (unsigned char)r->text[a->off + k];
			if (c <= 0x20 || c >= 0x7f)
				abort();
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	int type = types[data[0] % (sizeof types / sizeof *types)];
	unsigned char q[512], pkt[2048];
	int qlen = dnsmsg_query(q, sizeof q, 0x1234, "a.example.test", type, 0);
	if (qlen < 0)
		abort();
	/* header and question from the query, QR set; then the fuzz bytes
	 * overwrite from offset 2 (flags, counts, ...) onwards */
	size_t n = size - 1 < sizeof pkt ? size - 1 : sizeof pkt;
	memcpy(pkt, q, (size_t)qlen);
	pkt[2] |= 0x80;
	if (n > 2)
		memcpy(pkt + 2, data + 1, n - 2 < sizeof pkt - 2 ? n - 2 : sizeof pkt - 2);
	size_t len = n > (size_t)qlen ? n : (size_t)qlen;
	/* keep the question most of the time: flip a coin with byte 0 */
	if (data[0] & 0x80 && len >= (size_t)qlen)
		memcpy(pkt + 12, q + 12, (size_t)qlen - 12);
	struct dns_result r;
	int tc;
	if (dnsmsg_parse(pkt, len, 0x1234, "a.example.test", type, &r, &tc) == 0)
		check(&r, type);
	return 0;
}
