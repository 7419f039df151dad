/* Process-wide counters for /metrics (Prometheus text format). Atomic so
 * scan threads and the loop can both update them. */
#ifndef RAMPART_UTIL_METRICS_H
#define RAMPART_UTIL_METRICS_H

#include <stdatomic.h>
#include <stdint.h>

#include "util/buf.h"

#define METRICS_HIST_BUCKETS 14

struct histogram {
	atomic_uint_fast64_t buckets[METRICS_HIST_BUCKETS]; /* cumulative on output */
	atomic_uint_fast64_t count;
	atomic_uint_fast64_t sum_us;
};

enum metric_counter {
	M_CONNECTIONS_TOTAL,
	M_CONNECTIONS_REJECTED,
	M_MESSAGES_RECEIVED,
	M_MESSAGES_ALLOW,
	M_MESSAGES_TAG,
	M_MESSAGES_QUARANTINE,
	M_MESSAGES_BLOCK,
	M_MESSAGES_TEMPFAIL,
	M_MESSAGES_REJECTED,        /* refused before scanning: size, syntax */
	M_RCPT_REJECTED,
	M_DELIVERY_ATTEMPTS,
	M_DELIVERY_SUCCESS,
	M_DELIVERY_DEFERRED,
	M_DELIVERY_FAILED,
	M_DSN_SENT,
	M_COUNTER_MAX
};

enum metric_gauge {
	G_CONNECTIONS_ACTIVE,
	G_QUEUE_MESSAGES,
	G_QUEUE_RECIPIENTS,
	G_GAUGE_MAX
};

void metrics_inc(enum metric_counter c);
void metrics_add(enum metric_counter c, uint64_t n);
void metrics_gauge_set(enum metric_gauge g, int64_t v);
void metrics_gauge_add(enum metric_gauge g, int64_t delta);
int64_t metrics_gauge_get(enum metric_gauge g);
uint64_t metrics_get(enum metric_counter c);
/* Scan latency in microseconds. */
void metrics_observe_scan(int64_t us);
/* Whole SMTP DATA-to-reply latency. */
void metrics_observe_data(int64_t us);
int metrics_render(struct buf *out);

#endif
