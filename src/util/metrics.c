#include "util/metrics.h"

static atomic_uint_fast64_t counters[M_COUNTER_MAX];
static atomic_int_fast64_t gauges[G_GAUGE_MAX];
static struct histogram scan_hist, data_hist;

/* Upper bounds of the histogram buckets in microseconds. */
static const int64_t bucket_us[METRICS_HIST_BUCKETS] = {
	100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 1000000, 5000000, -1,
};

static const struct {
	const char *name, *help, *labels;
} counter_info[M_COUNTER_MAX] = {
	[M_CONNECTIONS_TOTAL] = {"rampart_smtp_connections_total", "SMTP connections accepted", ""},
	[M_CONNECTIONS_REJECTED] = {"rampart_smtp_connections_rejected_total",
				    "SMTP connections refused by limits", ""},
	[M_MESSAGES_RECEIVED] = {"rampart_messages_received_total", "Messages fully received", ""},
	[M_MESSAGES_ALLOW] = {"rampart_messages_total", "Messages by action", "action=\"allow\""},
	[M_MESSAGES_TAG] = {"rampart_messages_total", NULL, "action=\"tag\""},
	[M_MESSAGES_QUARANTINE] = {"rampart_messages_total", NULL, "action=\"quarantine\""},
	[M_MESSAGES_BLOCK] = {"rampart_messages_total", NULL, "action=\"block\""},
	[M_MESSAGES_TEMPFAIL] = {"rampart_messages_total", NULL, "action=\"tempfail\""},
	[M_MESSAGES_REJECTED] = {"rampart_messages_total", NULL, "action=\"reject\""},
	[M_RCPT_REJECTED] = {"rampart_recipients_rejected_total", "Recipients refused", ""},
	[M_DELIVERY_ATTEMPTS] = {"rampart_delivery_attempts_total", "Delivery attempts", ""},
	[M_DELIVERY_SUCCESS] = {"rampart_delivery_results_total", "Delivery results by outcome",
				"result=\"delivered\""},
	[M_DELIVERY_DEFERRED] = {"rampart_delivery_results_total", NULL, "result=\"deferred\""},
	[M_DELIVERY_FAILED] = {"rampart_delivery_results_total", NULL, "result=\"failed\""},
	[M_DSN_SENT] = {"rampart_dsn_generated_total", "Delivery status notifications generated",
			""},
};

static const struct {
	const char *name, *help;
} gauge_info[G_GAUGE_MAX] = {
	[G_CONNECTIONS_ACTIVE] = {"rampart_smtp_connections_active", "Open SMTP sessions"},
	[G_QUEUE_MESSAGES] = {"rampart_queue_messages", "Messages in the delivery queue"},
	[G_QUEUE_RECIPIENTS] = {"rampart_queue_recipients", "Recipients waiting for delivery"},
};

void metrics_inc(enum metric_counter c)
{
	atomic_fetch_add(&counters[c], 1);
}

void metrics_add(enum metric_counter c, uint64_t n)
{
	atomic_fetch_add(&counters[c], n);
}

uint64_t metrics_get(enum metric_counter c)
{
	return atomic_load(&counters[c]);
}

void metrics_gauge_set(enum metric_gauge g, int64_t v)
{
	atomic_store(&gauges[g], v);
}

void metrics_gauge_add(enum metric_gauge g, int64_t delta)
{
	atomic_fetch_add(&gauges[g], delta);
}

int64_t metrics_gauge_get(enum metric_gauge g)
{
	return atomic_load(&gauges[g]);
}

static void observe(struct histogram *h, int64_t us)
{
	int i = 0;
	while (bucket_us[i] >= 0 && us > bucket_us[i])
		i++;
	atomic_fetch_add(&h->buckets[i], 1);
	atomic_fetch_add(&h->count, 1);
	atomic_fetch_add(&h->sum_us, (uint64_t)(us < 0 ? 0 : us));
}

void metrics_observe_scan(int64_t us)
{
	observe(&scan_hist, us);
}

void metrics_observe_data(int64_t us)
{
	observe(&data_hist, us);
}

static int render_hist(struct buf *out, const char *name, const char *help, struct histogram *h)
{
	int rc = buf_printf(out, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
	uint64_t cum = 0;
	for (int i = 0; i < METRICS_HIST_BUCKETS; i++) {
		cum += atomic_load(&h->buckets[i]);
		if (bucket_us[i] < 0)
			rc |= buf_printf(out, "%s_bucket{le=\"+Inf\"} %llu\n", name,
					 (unsigned long long)cum);
		else
			rc |= buf_printf(out, "%s_bucket{le=\"%g\"} %llu\n", name,
					 (double)bucket_us[i] / 1e6, (unsigned long long)cum);
	}
	rc |= buf_printf(out, "%s_sum %.6f\n%s_count %llu\n", name,
			 (double)atomic_load(&h->sum_us) / 1e6, name,
			 (unsigned long long)atomic_load(&h->count));
	return rc;
}

int metrics_render(struct buf *out)
{
	int rc = 0;
	for (int c = 0; c < M_COUNTER_MAX; c++) {
		if (counter_info[c].help)
			rc |= buf_printf(out, "# HELP %s %s\n# TYPE %s counter\n",
					 counter_info[c].name, counter_info[c].help,
					 counter_info[c].name);
		if (counter_info[c].labels[0])
			rc |= buf_printf(out, "%s{%s} %llu\n", counter_info[c].name,
					 counter_info[c].labels,
					 (unsigned long long)atomic_load(&counters[c]));
		else
			rc |= buf_printf(out, "%s %llu\n", counter_info[c].name,
					 (unsigned long long)atomic_load(&counters[c]));
	}
	for (int g = 0; g < G_GAUGE_MAX; g++)
		rc |= buf_printf(out, "# HELP %s %s\n# TYPE %s gauge\n%s %lld\n", gauge_info[g].name,
				 gauge_info[g].help, gauge_info[g].name, gauge_info[g].name,
				 (long long)atomic_load(&gauges[g]));
	rc |= render_hist(out, "rampart_scan_duration_seconds", "Pipeline scan time per message",
			  &scan_hist);
	rc |= render_hist(out, "rampart_data_duration_seconds",
			  "End of DATA to final reply (scan + fsync)", &data_hist);
	return rc;
}
