/*
 * cmd_pdp.c — `tds bench pdp [--json] [--n N] [--samples S] [--threads T]`: throughput and latency
 * of the usage-control decision point (tds_policy_decide) on a compiled contract with 10
 * constraints of mixed operands, counters (count and rate) charged on every decision.
 *
 * Steps:
 *   1. one thread, N decisions back to back: decisions per second of that thread's CPU time
 *      (decisions_per_s_per_core) and of wall time;
 *   2. one thread, S decisions each timed alone (CLOCK_MONOTONIC around the call, the clock read's
 *      own cost included): p50, p99, p999 in µs;
 *   3. T threads (default: every core), N decisions each, each thread with its own counters (one
 *      consumer each): total per second of wall time and per second of process CPU time;
 *   4. the same T threads sharing one counters object (one consumer from every core: the lock is
 *      contended).
 * Every counters object carries the connector's write-behind journal (tds_contract_journal, the hook
 * enforce.c attaches to each local contract), and each thread takes its pending records every 4096
 * decisions as the node's flusher would: the journal's cost is in every figure. Step 1 is run once
 * more without the journal (decisions_per_s_per_core_no_journal) to show that cost.
 * Every decision must be a permit carrying its obligations, or the benchmark fails.
 */
#include "cli/cli.h"
#include "contract/contract.h"
#include "policy/policy.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

/* A tax-data API contract: 10 constraints (window ×2, count, rate, purpose, recipient, fields,
 * spatial, environment, retention), duties, and prohibitions the request does not hit. */
static const char BENCH_POLICY[] =
    "{\"uid\":\"pol_bench\",\"type\":\"Agreement\",\"assigner\":\"org_tax\",\"assignee\":\"org_bank\","
    "\"permission\":[{\"action\":[\"read\",\"query\"],\"constraint\":["
    "{\"leftOperand\":\"dateTime\",\"operator\":\"gteq\",\"rightOperand\":\"2026-01-01T00:00:00+08:00\"},"
    "{\"leftOperand\":\"dateTime\",\"operator\":\"lt\",\"rightOperand\":\"2099-01-01T00:00:00+08:00\"},"
    "{\"leftOperand\":\"count\",\"operator\":\"lteq\",\"rightOperand\":1000000000000},"
    "{\"leftOperand\":\"rate\",\"operator\":\"lteq\",\"rightOperand\":1000000000000,\"unit\":\"minute\"},"
    "{\"leftOperand\":\"purpose\",\"operator\":\"isAnyOf\",\"rightOperand\":[\"credit-risk\",\"anti-fraud\",\"tax-check\"]},"
    "{\"leftOperand\":\"recipient\",\"operator\":\"isAnyOf\",\"rightOperand\":[\"org_bank\",\"cn_bank1\"]},"
    "{\"leftOperand\":\"field\",\"operator\":\"isAnyOf\",\"rightOperand\":[\"name\",\"credit_code\",\"tax_amount\","
    "\"tax_grade\",\"period\",\"region\",\"industry\",\"id_no\"]},"
    "{\"leftOperand\":\"spatial\",\"operator\":\"isAnyOf\",\"rightOperand\":[\"10.0.0.0/8\",\"2001:db8::/32\",\"CN-11\"]},"
    "{\"leftOperand\":\"environment\",\"operator\":\"isAnyOf\",\"rightOperand\":[\"consumer-domain\",\"sandbox-prod\"]},"
    "{\"leftOperand\":\"elapsedTime\",\"operator\":\"lteq\",\"rightOperand\":\"P30D\"}],"
    "\"duty\":[{\"action\":\"mask\",\"field\":\"id_no\",\"rule\":\"keep_first6_last4\"},"
    "{\"action\":\"watermark\",\"code\":\"wm-bank\"},{\"action\":\"pay\",\"pricingRule\":\"price_per_call\"}]}],"
    "\"prohibition\":[{\"action\":\"use\",\"constraint\":[{\"leftOperand\":\"purpose\",\"operator\":\"eq\","
    "\"rightOperand\":\"marketing\"}]},{\"action\":[\"distribute\",\"export\",\"grantUse\"]}],"
    "\"obligation\":[{\"action\":\"log\"}]}";

static const char *const FIELDS[] = {"name", "credit_code", "tax_amount", "id_no"};

static void bench_request(tds_policy_request *rq)
{
	memset(rq, 0, sizeof *rq);
	rq->org = "org_bank";
	rq->account = "acc_analyst";
	rq->connector = "cn_bank1";
	rq->action = TDS_POLICY_ACTION_QUERY;
	rq->purpose = "credit-risk";
	rq->environment = "consumer-domain";
	rq->fields = FIELDS;
	rq->n_fields = TDS_ARRAY_LEN(FIELDS);
	rq->client_ip = "10.12.0.7";
	rq->region = "CN-11";
}

static double now_s(clockid_t id)
{
	struct timespec ts;
	clock_gettime(id, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double process_cpu_s(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
	       (double)ru.ru_stime.tv_usec / 1e6;
}

typedef struct worker {
	const tds_policy *p;
	tds_policy_counters *c;
	tds_contract_journal *j; /* NULL: no journal */
	uint64_t n;
	int64_t now_ms;
	uint64_t permits;
} worker;

static void *run_worker(void *arg)
{
	worker *w = arg;
	tds_policy_request rq;
	bench_request(&rq);
	rq.acquired_ms = w->now_ms - 3600000;
	tds_policy_decision d;
	tds_policy_slot_state taken[TDS_POLICY_MAX_CONSTRAINTS];
	for (uint64_t i = 0; i < w->n; i++) {
		if (tds_policy_decide(w->p, w->c, &rq, w->now_ms, &d) == 0 && d.permit && d.n_obligations == 4)
			w->permits++;
		if (w->j && (i & 4095) == 4095)
			tds_contract_journal_take(w->j, taken, NULL); /* the flusher's share */
	}
	if (w->j)
		tds_contract_journal_take(w->j, taken, NULL);
	return NULL;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static int bench_failed(bool json, const char *msg)
{
	if (json) {
		json_t *o = json_pack("{s:b, s:{s:s, s:s}}", "ok", 0, "error", "code", "bench_failed", "message", msg);
		char *s = json_dumps(o, JSON_COMPACT);
		if (s)
			puts(s);
		free(s);
		json_decref(o);
	} else {
		fprintf(stderr, "tds: bench pdp: %s\n", msg);
	}
	return 1;
}

/* T threads, n decisions each; shared: one counters object for all. Returns decisions per wall second. */
static int run_threads(const tds_policy *p, int threads, uint64_t n, int64_t now_ms, bool shared, double *per_s,
		       double *per_cpu_s)
{
	worker *w = calloc((size_t)threads, sizeof *w);
	pthread_t *t = calloc((size_t)threads, sizeof *t);
	tds_policy_counters *one = shared ? tds_policy_counters_new(p) : NULL;
	tds_contract_journal *one_j = shared ? tds_contract_journal_new(one, tds_policy_counter_slots(p)) : NULL;
	int rc = 0;
	for (int i = 0; i < threads; i++) {
		w[i] = (worker){.p = p, .c = shared ? one : tds_policy_counters_new(p), .n = n, .now_ms = now_ms};
		w[i].j = shared ? one_j : tds_contract_journal_new(w[i].c, tds_policy_counter_slots(p));
	}
	double c0 = process_cpu_s(), t0 = now_s(CLOCK_MONOTONIC);
	for (int i = 0; i < threads; i++)
		pthread_create(&t[i], NULL, run_worker, &w[i]);
	for (int i = 0; i < threads; i++)
		pthread_join(t[i], NULL);
	double wall = now_s(CLOCK_MONOTONIC) - t0, cpu = process_cpu_s() - c0;
	uint64_t permits = 0;
	for (int i = 0; i < threads; i++) {
		permits += w[i].permits;
		if (!shared) {
			tds_contract_journal_free(w[i].j, w[i].c);
			tds_policy_counters_free(w[i].c);
		}
	}
	tds_contract_journal_free(one_j, one);
	tds_policy_counters_free(one);
	if (permits != n * (uint64_t)threads)
		rc = -1;
	*per_s = (double)(n * (uint64_t)threads) / wall;
	*per_cpu_s = (double)(n * (uint64_t)threads) / cpu;
	free(w);
	free(t);
	return rc;
}

int tds_cli_bench_pdp(int argc, char **argv)
{
	bool json = false;
	uint64_t n = 5000000, samples = 1000000;
	long threads = sysconf(_SC_NPROCESSORS_ONLN);
	for (int i = 2; i < argc; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "--json")) {
			json = true;
		} else if ((!strcmp(a, "--n") || !strcmp(a, "--samples") || !strcmp(a, "--threads")) && i + 1 < argc) {
			char *end;
			errno = 0;
			unsigned long long v = strtoull(argv[++i], &end, 10);
			if (errno || *end || v < 1 || v > 1000000000ULL)
				return tds_cli_usage("bench pdp: %s wants a number from 1 to 10^9", a);
			if (!strcmp(a, "--n"))
				n = v;
			else if (!strcmp(a, "--samples"))
				samples = v;
			else if (v > 256)
				return tds_cli_usage("bench pdp: at most 256 threads");
			else
				threads = (long)v;
		} else {
			return tds_cli_usage("bench pdp: bad option %s (options: --json --n N --samples S --threads T)", a);
		}
	}
	if (threads < 1)
		threads = 1;

	tds_policy *p;
	if (tds_policy_compile(BENCH_POLICY, sizeof BENCH_POLICY - 1, &p))
		return bench_failed(json, tds_error_message());
	int64_t now_ms = tds_now_ms();
	size_t constraints = 10;

	/* 1. one thread, back to back: without the journal, then with it (the figure) */
	tds_policy_counters *c0 = tds_policy_counters_new(p);
	worker w0 = {.p = p, .c = c0, .n = n, .now_ms = now_ms};
	double tc0 = now_s(CLOCK_THREAD_CPUTIME_ID);
	run_worker(&w0);
	double tcpu_nj = now_s(CLOCK_THREAD_CPUTIME_ID) - tc0;
	tds_policy_counters_free(c0);
	tds_policy_counters *c = tds_policy_counters_new(p);
	tds_contract_journal *jc = tds_contract_journal_new(c, tds_policy_counter_slots(p));
	worker w = {.p = p, .c = c, .j = jc, .n = n, .now_ms = now_ms};
	tc0 = now_s(CLOCK_THREAD_CPUTIME_ID);
	double tw0 = now_s(CLOCK_MONOTONIC);
	run_worker(&w);
	double tcpu = now_s(CLOCK_THREAD_CPUTIME_ID) - tc0, twall = now_s(CLOCK_MONOTONIC) - tw0;
	if (w.permits != n || w0.permits != n) {
		tds_contract_journal_free(jc, c);
		tds_policy_counters_free(c);
		tds_policy_free(p);
		return bench_failed(json, "a decision of the single-thread run was not a permit with 4 obligations");
	}

	/* 2. latency, each decision timed alone */
	uint64_t *lat = malloc(samples * sizeof *lat);
	if (!lat) {
		tds_contract_journal_free(jc, c);
		tds_policy_counters_free(c);
		tds_policy_free(p);
		return bench_failed(json, "out of memory");
	}
	tds_policy_request rq;
	bench_request(&rq);
	rq.acquired_ms = now_ms - 3600000;
	tds_policy_decision d;
	tds_policy_slot_state taken[TDS_POLICY_MAX_CONSTRAINTS];
	uint64_t bad = 0;
	for (uint64_t i = 0; i < samples; i++) {
		struct timespec a, b;
		clock_gettime(CLOCK_MONOTONIC, &a);
		int rc = tds_policy_decide(p, c, &rq, now_ms, &d);
		clock_gettime(CLOCK_MONOTONIC, &b);
		bad += rc != 0 || !d.permit;
		lat[i] = (uint64_t)((b.tv_sec - a.tv_sec) * 1000000000LL + (b.tv_nsec - a.tv_nsec));
		if ((i & 4095) == 4095)
			tds_contract_journal_take(jc, taken, NULL); /* untimed: the flusher's work, on its own thread */
	}
	tds_policy_slot_state st;
	tds_policy_counters_get(c, 0, &st);
	uint64_t charged = st.used;
	size_t last = tds_contract_journal_take(jc, taken, NULL);
	bool journalled = last == 0 || (taken[0].slot == 0 && taken[0].used == charged);
	tds_contract_journal_free(jc, c);
	tds_policy_counters_free(c);
	qsort(lat, samples, sizeof *lat, cmp_u64);
	double p50 = (double)lat[samples / 2] / 1000.0, p99 = (double)lat[samples * 99 / 100] / 1000.0,
	       p999 = (double)lat[samples * 999 / 1000] / 1000.0, pmax = (double)lat[samples - 1] / 1000.0;
	free(lat);
	if (bad || charged != n + samples || !journalled) {
		tds_policy_free(p);
		return bench_failed(json, "a timed decision was not a permit, or the count was not charged once per decision");
	}

	/* 3 and 4. every core */
	double all_s, all_cpu_s, sh_s, sh_cpu_s;
	int r1 = run_threads(p, (int)threads, n, now_ms, false, &all_s, &all_cpu_s);
	int r2 = run_threads(p, (int)threads, n / 4 ? n / 4 : 1, now_ms, true, &sh_s, &sh_cpu_s);
	tds_policy_free(p);
	if (r1 || r2)
		return bench_failed(json, "a decision of the multi-thread runs was not a permit with 4 obligations");

	double per_core = (double)n / tcpu;
	json_t *metrics = json_pack("{s:I, s:f, s:f, s:f, s:f, s:f, s:I, s:I, s:I, s:I}", "decisions_per_s_per_core",
				    (json_int_t)per_core, "decision_p50_us", p50, "decision_p99_us", p99,
				    "decision_p999_us", p999, "decision_max_us", pmax, "cpu_ns_per_decision",
				    tcpu * 1e9 / (double)n, "decisions_per_s_single_wall", (json_int_t)((double)n / twall),
				    "decisions_per_s_all_cores", (json_int_t)all_s, "decisions_per_s_per_core_all_cores",
				    (json_int_t)all_cpu_s, "decisions_per_s_shared_counters", (json_int_t)sh_s);
	json_object_set_new(metrics, "decisions_per_s_per_core_shared_counters", json_integer((json_int_t)sh_cpu_s));
	json_object_set_new(metrics, "decisions_per_s_per_core_no_journal", json_integer((json_int_t)((double)n / tcpu_nj)));
	json_t *params = json_pack("{s:I, s:I, s:I, s:I, s:I, s:s}", "n", (json_int_t)n, "samples", (json_int_t)samples,
				   "threads", (json_int_t)threads, "constraints", (json_int_t)constraints, "shared_n",
				   (json_int_t)(n / 4 ? n / 4 : 1), "counters",
				   "count + rate per minute, charged on every permit, journalled (tds_contract_journal)");
	json_t *out = json_pack("{s:s, s:o, s:o, s:o}", "bench", "pdp", "machine", tds_cli_bench_machine(), "metrics",
				metrics, "params", params);
	if (json) {
		char *s = json_dumps(out, JSON_COMPACT | JSON_REAL_PRECISION(6));
		if (s)
			puts(s);
		free(s);
	} else {
		printf("决策基准 pdp benchmark: %zu constraints (count + rate counters charged), %ld threads\n",
		       constraints, threads);
		printf("  one thread:   %.0f decisions/s per core (%.0f ns CPU each), %.0f/s wall; %.0f/s per core "
		       "without the journal\n",
		       per_core, tcpu * 1e9 / (double)n, (double)n / twall, (double)n / tcpu_nj);
		printf("  latency:      p50 %.3f µs, p99 %.3f µs, p99.9 %.3f µs, max %.1f µs (%llu samples)\n", p50, p99,
		       p999, pmax, (unsigned long long)samples);
		printf("  all cores:    %.0f decisions/s wall, %.0f per CPU-second (own counters per thread)\n", all_s,
		       all_cpu_s);
		printf("  shared:       %.0f decisions/s wall, %.0f per CPU-second (one counters object)\n", sh_s, sh_cpu_s);
	}
	json_decref(out);
	return 0;
}
