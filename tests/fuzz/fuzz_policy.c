/*
 * fuzz_policy.c — libFuzzer target for the policy parser and compiler (tds_policy_compile). Any
 * bytes must compile or be refused with TDS_EINVAL / TDS_ETOOBIG and an error message that names a
 * path, never crash, leak or read past the input (the parser gets an exact-size copy). A policy
 * that compiles is then exercised: a few fixed requests are decided (with counters when it has
 * stateful constraints), each decision must be coherent (a permit names a permission and carries
 * at most TDS_POLICY_MAX_OBLIGATIONS obligations; a deny carries none), and the counters'
 * snapshot must restore into fresh counters.
 */
#include "policy/policy.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NOW 1781496000000LL

static void exercise(tds_policy *p)
{
	tds_policy_counters *c = tds_policy_counters_new(p);
	if (!c)
		abort();
	static const char *const fields[] = {"name", "id_no", "tax_amount", "x"};
	static const char *const ips[] = {"10.1.2.3", "2001:db8::1", NULL};
	static const char *const eps[] = {"0.5", NULL, "1"};
	for (int i = 0; i < 24; i++) {
		tds_policy_request rq = {
		    .org = "org_bank",
		    .connector = i & 1 ? "cn_bank1" : NULL,
		    .action = i % TDS_POLICY_ACTION_COUNT_,
		    .purpose = i & 2 ? "credit-risk" : "marketing",
		    .environment = i & 4 ? "sandbox-prod" : "consumer-domain",
		    .fields = fields,
		    .n_fields = (size_t)(i % 5),
		    .client_ip = ips[i % 3],
		    .region = i & 8 ? "CN-11-01" : "US",
		    .row_filter = i & 16 ? "org_bank" : NULL,
		    .epsilon = eps[i % 3],
		    .acquired_ms = i & 4 ? NOW - 86400000LL * i : 0,
		};
		tds_policy_decision d;
		if (tds_policy_decide(p, c, &rq, NOW + (int64_t)i * 30000, &d) != 0)
			abort();
		if (!d.code || !d.reason || !d.clause)
			abort();
		if (d.permit && (strncmp(d.clause, "permission[", 11) || d.n_obligations > TDS_POLICY_MAX_OBLIGATIONS))
			abort();
		if (!d.permit && d.n_obligations)
			abort();
	}
	json_t *snap;
	if (tds_policy_counters_snapshot(c, &snap))
		abort();
	tds_policy_counters *c2 = tds_policy_counters_new(p);
	if (tds_policy_counters_restore(c2, snap))
		abort();
	json_decref(snap);
	tds_policy_counters_free(c2);
	tds_policy_counters_free(c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *copy = malloc(size ? size : 1);
	if (!copy)
		return 0;
	memcpy(copy, data, size);
	tds_policy *p = NULL;
	int rc = tds_policy_compile(copy, size, &p);
	free(copy);
	if (rc == 0) {
		if (!p)
			abort();
		exercise(p);
		tds_policy_free(p);
	} else if (p || (rc != TDS_EINVAL && rc != TDS_ETOOBIG) || !tds_error_message()[0]) {
		abort();
	}
	return 0;
}
