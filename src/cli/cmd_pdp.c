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
 *   5. the connector's whole in-process call, tds_contract_decide, with the consumer's token: a
 *      contract filed into a scratch connector store (temp directory, countersigned by a scratch
 *      operator key), the token verified once and then served from the cache, the local contract
 *      looked up, its state and freeze checked, then the PDP with the journalled counters:
 *      contract_decisions_per_s_per_core and contract_decision_p99_us.
 * Every counters object carries the connector's write-behind journal (tds_contract_journal, the hook
 * enforce.c attaches to each local contract), and each thread takes its pending records every 4096
 * decisions as the node's flusher would: the journal's cost is in every figure. Step 1 is run once
 * more without the journal (decisions_per_s_per_core_no_journal) to show that cost.
 * Every decision must be a permit carrying its obligations, or the benchmark fails.
 */
#include "cli/cli.h"
#include "contract/contract.h"
#include "ledger/ledger.h"
#include "policy/policy.h"
#include "store/store.h"

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

/* ---- step 5: tds_contract_decide on a scratch connector ---- */

#define BENCH_TAX "org_01JTAXTAXTAXTAXTAXTAXTAXTA"
#define BENCH_BANK "org_01JBANKBANKBANKBANKBANKBAZ"
#define BENCH_CONTRACT "ctr_01JBENCHBENCHBENCHBENCHBEZ"

typedef struct scratch {
	char dir[64];
	tds_store *store;
	tds_ledger *lg;
	tds_contract *ct;
	tds_key *node_key, *op_key;
	char *token;
} scratch;

static void scratch_free(scratch *x)
{
	tds_contract_stop(x->ct);
	tds_contract_free(x->ct);
	tds_ledger_free(x->lg);
	tds_store_close(x->store);
	tds_key_free(x->node_key);
	tds_key_free(x->op_key);
	free(x->token);
	if (x->dir[0]) {
		const char *names[] = {"tds.db", "tds.db-wal", "tds.db-shm"};
		char p[128];
		for (size_t i = 0; i < TDS_ARRAY_LEN(names); i++) {
			snprintf(p, sizeof p, "%s/%s", x->dir, names[i]);
			unlink(p);
		}
		rmdir(x->dir);
	}
}

/* The "filed" feed item of the bench contract, countersigned by x->op_key. */
static json_t *bench_filed(scratch *x, int64_t now_ms)
{
	json_t *policy = NULL;
	if (tds_json_parse(BENCH_POLICY, sizeof BENCH_POLICY - 1, &policy))
		return NULL;
	/* the recipient is the consumer's real id */
	size_t i;
	json_t *c;
	json_array_foreach(json_object_get(json_array_get(json_object_get(policy, "permission"), 0), "constraint"), i, c) {
		if (!strcmp(tds_json_str(c, "leftOperand", ""), "recipient"))
			json_object_set_new(c, "rightOperand", json_pack("[s, s]", BENCH_BANK, "cn_bank1"));
	}
	char from[TDS_TIME_MAX], to[TDS_TIME_MAX], at[TDS_TIME_MAX], number[TDS_CONTRACT_FILING_MAX],
	    kid[TDS_KEY_ID_LEN + 1];
	tds_time_format(now_ms - 3600000, from);
	tds_time_format(now_ms + 86400000, to);
	tds_time_format(now_ms, at);
	tds_contract_filing_format(2026, 1, number);
	tds_key_id(x->op_key, kid);
	json_t *doc = json_pack("{s:s, s:s, s:i, s:{s:s}, s:{s:s}, s:{s:s, s:s}, s:o, s:{s:s, s:s}, s:{s:i}}", "type",
				"tds.contract/1", "id", BENCH_CONTRACT, "version", 1, "provider", "org_id", BENCH_TAX,
				"consumer", "org_id", BENCH_BANK, "product", "id", "prd_01JBENCHBENCHBENCHBENCHBEZ", "form",
				"api", "policy", policy, "validity", "from", from, "to", to, "violation_policy",
				"freeze_after", 100);
	tds_buf canon = TDS_BUF_INIT, hex = TDS_BUF_INIT, cs = TDS_BUF_INIT, sig = TDS_BUF_INIT, b64 = TDS_BUF_INIT;
	uint8_t h[TDS_HASH_LEN];
	char dh[128];
	json_t *item = NULL, *sigs = NULL, *stmt = NULL;
	if (!doc || tds_json_canonical(doc, &canon) || tds_hash(TDS_SUITE_INTL, canon.data, canon.len, h) ||
	    tds_hex_encode(h, sizeof h, &hex))
		goto out;
	snprintf(dh, sizeof dh, "sha256:%s", hex.data);
	/* the parties' signatures are only checked present by connectors (the operator verified them) */
	sigs = json_pack("[{s:s, s:s, s:s, s:s}, {s:s, s:s, s:s, s:s}]", "org_id", BENCH_TAX, "key_id",
			 "crt_01JTAXCRTTAXCRTTAXCRTTAXCR", "alg", "ed25519", "signature", "AA==", "org_id", BENCH_BANK,
			 "key_id", "crt_01JBANKCRTBANKCRTBANKCRTBA", "alg", "ed25519", "signature", "AA==");
	stmt = json_pack("{s:s, s:O, s:s, s:s}", "document_hash", dh, "signatures", sigs, "number", number, "filed_at", at);
	if (!stmt || tds_json_canonical(stmt, &cs) || tds_sign(x->op_key, cs.data, cs.len, &sig) ||
	    tds_b64_encode(sig.data, sig.len, &b64))
		goto out;
	item = json_pack("{s:i, s:s, s:s, s:{s:O, s:O, s:{s:s, s:s, s:s, s:{s:s, s:s, s:s}}}}", "seq", 1, "contract_id",
			 BENCH_CONTRACT, "kind", "filed", "body", "document", doc, "signatures", sigs, "filing", "number",
			 number, "filed_at", at, "document_hash", dh, "countersignature", "key_id", kid, "alg", "ed25519",
			 "signature", b64.data);
out:
	json_decref(doc);
	json_decref(sigs);
	json_decref(stmt);
	tds_buf_free(&canon);
	tds_buf_free(&hex);
	tds_buf_free(&cs);
	tds_buf_free(&sig);
	tds_buf_free(&b64);
	return item;
}

/* A connector store holding the bench contract, active, and a token of the bank for it. */
static int scratch_new(scratch *x, int64_t now_ms)
{
	memset(x, 0, sizeof *x);
	snprintf(x->dir, sizeof x->dir, "/tmp/tds-bench-pdp-XXXXXX");
	if (!mkdtemp(x->dir)) {
		x->dir[0] = 0;
		return tds_error_set(TDS_EIO, NULL, "cannot make a scratch directory in /tmp");
	}
	char p[128];
	uint8_t master[TDS_MASTER_KEY_LEN];
	snprintf(p, sizeof p, "%s/tds.db", x->dir);
	int rc = tds_store_open(p, &x->store);
	if (!rc)
		rc = tds_key_generate(TDS_SUITE_INTL, &x->node_key);
	if (!rc)
		rc = tds_key_generate(TDS_SUITE_INTL, &x->op_key);
	if (!rc)
		rc = tds_random(master, sizeof master);
	tds_ledger_opts lo = {.store = x->store, .suite = TDS_SUITE_INTL, .origin = "tds.local/node_bench",
			      .key = x->node_key, .master = master};
	if (!rc)
		rc = tds_ledger_open(&lo, &x->lg);
	tds_contract_opts co = {.ledger = x->lg, .key = x->node_key, .node_id = "node_01JBENCHBENCHBENCHBENCHBEZ",
				.suite = TDS_SUITE_INTL};
	if (!rc)
		rc = tds_contract_open(x->store, &co, &x->ct);
	tds_buf pem = TDS_BUF_INIT, tok = TDS_BUF_INIT;
	if (!rc && !(rc = tds_key_public_pem(x->op_key, &pem)))
		rc = tds_contract_set_operator(x->ct, pem.data, "node_01JQPERATQRQPERATQRQPERATZ", BENCH_TAX);
	tds_buf_free(&pem);
	json_t *filed = rc ? NULL : bench_filed(x, now_ms);
	if (!rc && !filed)
		rc = tds_error_set(TDS_ENOMEM, NULL, "cannot build the bench contract");
	if (!rc)
		rc = tds_contract_feed_apply(x->ct, filed, NULL);
	json_decref(filed);
	json_t *act = json_pack("{s:i, s:s, s:s, s:{}}", "seq", 2, "contract_id", BENCH_CONTRACT, "kind", "activated", "body");
	if (!rc)
		rc = tds_contract_feed_apply(x->ct, act, NULL);
	json_decref(act);
	tds_token_claims c = {.version = 1, .n_products = 1, .actions = 1u << TDS_POLICY_ACTION_QUERY,
			      .limit_count = -1, .limit_per_minute = -1, .limit_per_day = -1,
			      .issued_at_ms = now_ms, .not_before_ms = now_ms, .expires_at_ms = now_ms + TDS_CONTRACT_TOKEN_TTL_MS};
	snprintf(c.id, sizeof c.id, "tok_01JBENCHBENCHBENCHBENCHBEZ");
	snprintf(c.issuer, sizeof c.issuer, "node_01JQPERATQRQPERATQRQPERATZ");
	snprintf(c.org, sizeof c.org, "%s", BENCH_BANK);
	snprintf(c.account, sizeof c.account, "acc_01JBANKACCBANKACCBANKACCBZ");
	snprintf(c.audience, sizeof c.audience, "%s", BENCH_TAX);
	snprintf(c.contract_id, sizeof c.contract_id, "%s", BENCH_CONTRACT);
	snprintf(c.products[0], sizeof c.products[0], "prd_01JBENCHBENCHBENCHBENCHBEZ");
	snprintf(c.mode, sizeof c.mode, "api");
	if (!rc && !(rc = tds_contract_token_issue(&c, x->op_key, &tok)))
		x->token = tds_buf_steal(&tok);
	tds_buf_free(&tok);
	memset(master, 0, sizeof master);
	return rc;
}

/* Step 5: n decisions back to back (CPU time of this thread), then `samples` timed alone. */
static int run_contract(int64_t now_ms, uint64_t n, uint64_t samples, double *per_core, double *p99)
{
	scratch x;
	int rc = scratch_new(&x, now_ms);
	uint64_t *lat = rc ? NULL : malloc(samples * sizeof *lat);
	if (!rc && !lat)
		rc = tds_error_set(TDS_ENOMEM, NULL, "out of memory");
	tds_contract_request r = {.token = x.token, .token_len = x.token ? strlen(x.token) : 0};
	bench_request(&r.policy);
	r.policy.acquired_ms = now_ms - 3600000;
	tds_policy_decision d;
	tds_contract_outcome o;
	uint64_t bad = 0;
	if (!rc) {
		double t0 = now_s(CLOCK_THREAD_CPUTIME_ID);
		for (uint64_t i = 0; i < n; i++)
			bad += tds_contract_decide(x.ct, &r, now_ms, &d, &o) != 0 || !d.permit || d.n_obligations != 4;
		*per_core = (double)n / (now_s(CLOCK_THREAD_CPUTIME_ID) - t0);
		for (uint64_t i = 0; i < samples; i++) {
			struct timespec a, b;
			clock_gettime(CLOCK_MONOTONIC, &a);
			bad += tds_contract_decide(x.ct, &r, now_ms, &d, &o) != 0 || !d.permit;
			clock_gettime(CLOCK_MONOTONIC, &b);
			lat[i] = (uint64_t)((b.tv_sec - a.tv_sec) * 1000000000LL + (b.tv_nsec - a.tv_nsec));
		}
		qsort(lat, samples, sizeof *lat, cmp_u64);
		*p99 = (double)lat[samples * 99 / 100] / 1000.0;
		if (bad)
			rc = tds_error_set(TDS_EINTERNAL, "bench_failed", "a contract decision was not a permit with 4 obligations: "
									 "%s", d.code);
	}
	free(lat);
	scratch_free(&x);
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

	/* 5. the connector's in-process call with a token */
	double ct_per_core = 0, ct_p99 = 0;
	uint64_t ct_n = n / 5 ? n / 5 : 1, ct_samples = samples / 5 ? samples / 5 : 1;
	tds_log_set_level(TDS_LOG_ERROR);
	if (run_contract(now_ms, ct_n, ct_samples, &ct_per_core, &ct_p99))
		return bench_failed(json, tds_error_message());

	double per_core = (double)n / tcpu;
	json_t *metrics = json_pack("{s:I, s:f, s:f, s:f, s:f, s:f, s:I, s:I, s:I, s:I}", "decisions_per_s_per_core",
				    (json_int_t)per_core, "decision_p50_us", p50, "decision_p99_us", p99,
				    "decision_p999_us", p999, "decision_max_us", pmax, "cpu_ns_per_decision",
				    tcpu * 1e9 / (double)n, "decisions_per_s_single_wall", (json_int_t)((double)n / twall),
				    "decisions_per_s_all_cores", (json_int_t)all_s, "decisions_per_s_per_core_all_cores",
				    (json_int_t)all_cpu_s, "decisions_per_s_shared_counters", (json_int_t)sh_s);
	json_object_set_new(metrics, "decisions_per_s_per_core_shared_counters", json_integer((json_int_t)sh_cpu_s));
	json_object_set_new(metrics, "decisions_per_s_per_core_no_journal", json_integer((json_int_t)((double)n / tcpu_nj)));
	json_object_set_new(metrics, "contract_decisions_per_s_per_core", json_integer((json_int_t)ct_per_core));
	json_object_set_new(metrics, "contract_decision_p99_us", json_real(ct_p99));
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
		printf("  contract:     %.0f tds_contract_decide/s per core with a (cached) token, p99 %.3f µs\n", ct_per_core,
		       ct_p99);
	}
	json_decref(out);
	return 0;
}
