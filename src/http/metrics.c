/*
 * metrics.c — a server's request counters and their Prometheus text exposition (format 0.0.4).
 *
 * Counters are relaxed atomics in flat arrays sized once at server start: per route (by
 * registration index) x status slot, per method x status slot for unmatched requests, one latency
 * histogram and an in-flight gauge. Recording is a handful of atomic adds and never locks or
 * allocates; rendering reads the atomics one by one, so a scrape during traffic may be off by the
 * requests that finished while it ran (never negative, never torn).
 *
 * Status slots: the codes TDS answers with have their own slot; anything else is counted under its
 * class ("2xx", "4xx"…). Not for business metrics: modules that want their own counters expose
 * them next to these through tds_server_metrics' buffer.
 */
#include "http/http_internal.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const int CODES[] = {200, 201, 202, 204, 206, 301, 302, 304, 307, 308, 400, 401, 403, 404, 405, 406,
			    409, 410, 412, 413, 414, 415, 416, 422, 429, 500, 501, 502, 503, 504};
#define NCODES ((int)TDS_ARRAY_LEN(CODES))
#define NSLOTS (NCODES + 5) /* + one per class 1xx..5xx */

static const char *const METHODS[] = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "OTHER"};
#define NMETHODS ((int)TDS_ARRAY_LEN(METHODS))

static const int64_t BUCKETS_US[] = {1000, 5000, 10000, 50000, 100000, 500000, 1000000, 5000000};
static const char *const BUCKET_LABELS[] = {"0.001", "0.005", "0.01", "0.05", "0.1", "0.5", "1", "5"};
#define NBUCKETS ((int)TDS_ARRAY_LEN(BUCKETS_US))

typedef _Atomic uint64_t counter;

struct http_metrics {
	size_t nroutes;
	counter *routes;                    /* nroutes x NSLOTS */
	counter unmatched[NMETHODS][NSLOTS];
	counter buckets[NBUCKETS + 1];      /* not cumulative; last is +Inf */
	counter sum_us;
	_Atomic int64_t in_flight;
};

static int slot_of(int status)
{
	for (int i = 0; i < NCODES; i++)
		if (CODES[i] == status)
			return i;
	int cls = status / 100;
	return NCODES + (cls >= 1 && cls <= 5 ? cls - 1 : 4);
}

static void slot_label(int slot, char out[8])
{
	if (slot < NCODES)
		snprintf(out, 8, "%d", CODES[slot] % 1000);
	else
		snprintf(out, 8, "%dxx", (slot - NCODES + 1) % 10);
}

static int method_index(const char *m)
{
	for (int i = 0; i < NMETHODS - 1; i++)
		if (m && strcmp(m, METHODS[i]) == 0)
			return i;
	return NMETHODS - 1;
}

http_metrics *http_metrics_new(size_t nroutes)
{
	http_metrics *m = calloc(1, sizeof *m);
	if (!m)
		return NULL;
	m->nroutes = nroutes;
	m->routes = calloc(nroutes ? nroutes * NSLOTS : 1, sizeof *m->routes);
	if (!m->routes) {
		free(m);
		return NULL;
	}
	return m;
}

void http_metrics_free(http_metrics *m)
{
	if (!m)
		return;
	free(m->routes);
	free(m);
}

void http_metrics_record(http_metrics *m, const http_route *route, const char *method, int status,
			 int64_t duration_us)
{
	int slot = slot_of(status);
	if (route && route->index < m->nroutes)
		atomic_fetch_add_explicit(&m->routes[route->index * NSLOTS + (size_t)slot], 1,
					  memory_order_relaxed);
	else
		atomic_fetch_add_explicit(&m->unmatched[method_index(method)][slot], 1, memory_order_relaxed);
	if (duration_us < 0)
		duration_us = 0;
	int b = 0;
	while (b < NBUCKETS && duration_us > BUCKETS_US[b])
		b++;
	atomic_fetch_add_explicit(&m->buckets[b], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&m->sum_us, (uint64_t)duration_us, memory_order_relaxed);
}

void http_metrics_in_flight(http_metrics *m, int delta)
{
	atomic_fetch_add_explicit(&m->in_flight, delta, memory_order_relaxed);
}

/* Label values escape '\\', '"' and newline (exposition format 0.0.4). */
static void put_label(tds_buf *out, const char *s)
{
	for (; *s; s++) {
		if (*s == '\\' || *s == '"')
			tds_buf_putc(out, '\\'), tds_buf_putc(out, *s);
		else if (*s == '\n')
			tds_buf_puts(out, "\\n");
		else
			tds_buf_putc(out, *s);
	}
}

static void put_counter(tds_buf *out, const char *server, const char *route, const char *method, int slot,
			uint64_t v)
{
	char code[8];
	slot_label(slot, code);
	tds_buf_puts(out, "tds_http_requests_total{server=\"");
	put_label(out, server);
	tds_buf_puts(out, "\",route=\"");
	put_label(out, route);
	tds_buf_puts(out, "\",method=\"");
	put_label(out, method);
	tds_buf_printf(out, "\",code=\"%s\"} %llu\n", code, (unsigned long long)v);
}

/* Process start time: boot time (/proc/stat btime) + start ticks (/proc/self/stat field 22), read
 * once; falls back to the first call's wall clock. */
static double start_time_s;
static pthread_once_t start_once = PTHREAD_ONCE_INIT;

static void read_start_time(void)
{
	start_time_s = (double)tds_now_ms() / 1000.0;
	FILE *f = fopen("/proc/stat", "r");
	if (!f)
		return;
	char line[256];
	long long btime = -1;
	while (fgets(line, sizeof line, f))
		if (sscanf(line, "btime %lld", &btime) == 1)
			break;
	fclose(f);
	f = fopen("/proc/self/stat", "r");
	if (!f || btime < 0) {
		if (f)
			fclose(f);
		return;
	}
	char stat[1024];
	size_t n = fread(stat, 1, sizeof stat - 1, f);
	fclose(f);
	stat[n] = 0;
	char *p = strrchr(stat, ')'); /* the command name may hold spaces and parentheses */
	long hz = sysconf(_SC_CLK_TCK);
	if (!p || hz <= 0)
		return;
	/* after ')': field 3 (state) … field 22 (starttime, clock ticks after boot) */
	char *save = NULL, *tok = strtok_r(p + 1, " ", &save);
	for (int field = 3; tok && field < 22; field++)
		tok = strtok_r(NULL, " ", &save);
	char *end;
	unsigned long long ticks = tok ? strtoull(tok, &end, 10) : 0;
	if (tok && end != tok)
		start_time_s = (double)btime + (double)ticks / (double)hz;
}

int http_metrics_render(const http_metrics *m, const tds_router *r, const char *server, tds_buf *out)
{
	pthread_once(&start_once, read_start_time);
	size_t before = out->len;
	tds_buf_puts(out, "# HELP tds_http_requests_total HTTP requests answered, by route pattern, method "
			  "and status code.\n# TYPE tds_http_requests_total counter\n");
	for (size_t i = 0; i < m->nroutes; i++) {
		const http_route *rt = http_router_route(r, i);
		if (!rt)
			break;
		for (int s = 0; s < NSLOTS; s++) {
			uint64_t v = atomic_load_explicit(&m->routes[i * NSLOTS + (size_t)s], memory_order_relaxed);
			if (v)
				put_counter(out, server, rt->info.pattern, rt->info.method, s, v);
		}
	}
	for (int mi = 0; mi < NMETHODS; mi++)
		for (int s = 0; s < NSLOTS; s++) {
			uint64_t v = atomic_load_explicit(&m->unmatched[mi][s], memory_order_relaxed);
			if (v)
				put_counter(out, server, "unmatched", METHODS[mi], s, v);
		}

	tds_buf_puts(out, "# HELP tds_http_request_duration_seconds Time from request line to response "
			  "queued.\n# TYPE tds_http_request_duration_seconds histogram\n");
	uint64_t cum = 0;
	for (int b = 0; b <= NBUCKETS; b++) {
		cum += atomic_load_explicit(&m->buckets[b], memory_order_relaxed);
		tds_buf_puts(out, "tds_http_request_duration_seconds_bucket{server=\"");
		put_label(out, server);
		tds_buf_printf(out, "\",le=\"%s\"} %llu\n", b < NBUCKETS ? BUCKET_LABELS[b] : "+Inf",
			       (unsigned long long)cum);
	}
	uint64_t sum = atomic_load_explicit(&m->sum_us, memory_order_relaxed);
	tds_buf_puts(out, "tds_http_request_duration_seconds_sum{server=\"");
	put_label(out, server);
	tds_buf_printf(out, "\"} %llu.%06llu\n", (unsigned long long)(sum / 1000000),
		       (unsigned long long)(sum % 1000000));
	tds_buf_puts(out, "tds_http_request_duration_seconds_count{server=\"");
	put_label(out, server);
	tds_buf_printf(out, "\"} %llu\n", (unsigned long long)cum);

	tds_buf_puts(out, "# HELP tds_http_requests_in_flight Requests received and not yet answered.\n"
			  "# TYPE tds_http_requests_in_flight gauge\ntds_http_requests_in_flight{server=\"");
	put_label(out, server);
	tds_buf_printf(out, "\"} %lld\n",
		       (long long)atomic_load_explicit(&((http_metrics *)m)->in_flight, memory_order_relaxed));

	tds_buf_printf(out, "# HELP tds_process_start_time_seconds Start time of the process since the Unix "
			    "epoch in seconds.\n# TYPE tds_process_start_time_seconds gauge\n"
			    "tds_process_start_time_seconds %.3f\n", start_time_s);
	/* tds_buf_* fail only on allocation failure: check once at the end */
	if (out->len == before || !out->data)
		return tds_error_set(TDS_ENOMEM, NULL, "out of memory rendering metrics");
	return 0;
}
