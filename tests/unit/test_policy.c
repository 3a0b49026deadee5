/*
 * test_policy.c — the usage-control engine (使用控制) without a node: every left operand and
 * operator at its boundaries (the second a window opens and closes, the Nth and N+1th use, a rate
 * window rolling over, CIDR edges, the ε budget used up exactly), prohibitions overriding
 * permissions, duties returned as obligations, logical constraints, counters exact under 8 racing
 * threads, snapshot / restore and the journal hook, and the compiler refusing bad policies with the
 * path of the bad member; `tds bench pdp` on a small run.
 */
#include "policy/policy.h"

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

int tds_cli_bench_pdp(int argc, char **argv);

/* cmd_pdp.c reports usage errors through the CLI's helper, which lives in main_tds.c */
int tds_cli_usage(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	return 2;
}

#define T0 1781496000000LL /* 2026-06-15T04:00:00Z */

static tds_policy *compile_or_fail(const char *json)
{
	tds_policy *p = NULL;
	int rc = tds_policy_compile(json, strlen(json), &p);
	if (rc) {
		fprintf(stderr, "compile failed: %s\n  policy: %s\n", tds_error_message(), json);
		fail();
	}
	return p;
}

/* one constraint in one "read" permission */
static tds_policy *one(const char *constraint)
{
	char buf[4096];
	snprintf(buf, sizeof buf, "{\"uid\":\"pol_t\",\"permission\":[{\"action\":\"read\",\"constraint\":[%s]}]}",
		 constraint);
	return compile_or_fail(buf);
}

/* ---- table of stateless operands ------------------------------------------------------------------ */

typedef struct row {
	const char *constraint;
	/* request; NULL = the default below, "-" = absent */
	const char *purpose, *env, *ip, *region, *row, *org, *connector;
	const char *fields; /* comma separated; NULL = none */
	int64_t now;        /* 0 = T0 */
	int64_t acquired;   /* 0 = none */
	const char *expect; /* decision code */
} row;

#define DT_OPEN "2026-06-15T04:00:00Z" /* == T0 */

static const row ROWS[] = {
    /* dateTime: the second the window opens and closes */
    {"{\"leftOperand\":\"dateTime\",\"operator\":\"gteq\",\"rightOperand\":\"" DT_OPEN "\"}", .now = T0 - 1000, .expect = "outside_window"},
    {"{\"leftOperand\":\"dateTime\",\"operator\":\"gteq\",\"rightOperand\":\"" DT_OPEN "\"}", .now = T0, .expect = "permit"},
    {"{\"leftOperand\":\"dateTime\",\"operator\":\"gt\",\"rightOperand\":\"" DT_OPEN "\"}", .now = T0, .expect = "outside_window"},
    {"{\"leftOperand\":\"dateTime\",\"operator\":\"gt\",\"rightOperand\":\"" DT_OPEN "\"}", .now = T0 + 1000, .expect = "permit"},
    {"{\"leftOperand\":\"dateTime\",\"operator\":\"lt\",\"rightOperand\":\"" DT_OPEN "\"}", .now = T0 - 1000, .expect = "permit"},
    {"{\"leftOperand\":\"dateTime\",\"operator\":\"lt\",\"rightOperand\":\"" DT_OPEN "\"}", .now = T0, .expect = "outside_window"},
    {"{\"leftOperand\":\"dateTime\",\"operator\":\"lteq\",\"rightOperand\":\"" DT_OPEN "\"}", .now = T0, .expect = "permit"},
    {"{\"leftOperand\":\"dateTime\",\"operator\":\"lteq\",\"rightOperand\":\"" DT_OPEN "\"}", .now = T0 + 1000, .expect = "outside_window"},
    {"{\"leftOperand\":\"dateTime\",\"operator\":\"lteq\",\"rightOperand\":\"2026-06-15T12:00:00+08:00\"}", .now = T0, .expect = "permit"},
    {"{\"leftOperand\":\"dateTime\",\"operator\":\"lt\",\"rightOperand\":\"2026-06-15T12:00:00+08:00\"}", .now = T0, .expect = "outside_window"},
    /* purpose */
    {"{\"leftOperand\":\"purpose\",\"operator\":\"eq\",\"rightOperand\":\"credit-risk\"}", .expect = "permit"},
    {"{\"leftOperand\":\"purpose\",\"operator\":\"eq\",\"rightOperand\":\"credit-risk\"}", .purpose = "marketing", .expect = "purpose_not_allowed"},
    {"{\"leftOperand\":\"purpose\",\"operator\":\"eq\",\"rightOperand\":\"credit-risk\"}", .purpose = "-", .expect = "purpose_not_allowed"},
    {"{\"leftOperand\":\"purpose\",\"operator\":\"neq\",\"rightOperand\":\"marketing\"}", .expect = "permit"},
    {"{\"leftOperand\":\"purpose\",\"operator\":\"neq\",\"rightOperand\":\"marketing\"}", .purpose = "marketing", .expect = "purpose_not_allowed"},
    {"{\"leftOperand\":\"purpose\",\"operator\":\"isAnyOf\",\"rightOperand\":[\"a\",\"credit-risk\"]}", .expect = "permit"},
    {"{\"leftOperand\":\"purpose\",\"operator\":\"isAnyOf\",\"rightOperand\":[\"a\",\"b\"]}", .expect = "purpose_not_allowed"},
    {"{\"leftOperand\":\"purpose\",\"operator\":\"isNoneOf\",\"rightOperand\":[\"marketing\",\"resale\"]}", .expect = "permit"},
    {"{\"leftOperand\":\"purpose\",\"operator\":\"isNoneOf\",\"rightOperand\":[\"marketing\",\"resale\"]}", .purpose = "resale", .expect = "purpose_not_allowed"},
    /* recipient: org, account or connector */
    {"{\"leftOperand\":\"recipient\",\"operator\":\"eq\",\"rightOperand\":\"org_bank\"}", .expect = "permit"},
    {"{\"leftOperand\":\"recipient\",\"operator\":\"eq\",\"rightOperand\":\"org_bank\"}", .org = "org_other", .expect = "recipient_not_allowed"},
    {"{\"leftOperand\":\"recipient\",\"operator\":\"eq\",\"rightOperand\":\"cn_bank1\"}", .org = "org_other", .connector = "cn_bank1", .expect = "permit"},
    {"{\"leftOperand\":\"recipient\",\"operator\":\"isAnyOf\",\"rightOperand\":[\"org_x\",\"org_bank\"]}", .expect = "permit"},
    {"{\"leftOperand\":\"recipient\",\"operator\":\"isNoneOf\",\"rightOperand\":[\"org_bank\"]}", .expect = "recipient_not_allowed"},
    {"{\"leftOperand\":\"recipient\",\"operator\":\"neq\",\"rightOperand\":\"org_x\"}", .expect = "permit"},
    {"{\"leftOperand\":\"recipient\",\"operator\":\"neq\",\"rightOperand\":\"org_x\"}", .org = "org_x", .expect = "recipient_not_allowed"},
    /* field: every requested field must satisfy it */
    {"{\"leftOperand\":\"field\",\"operator\":\"isAnyOf\",\"rightOperand\":[\"name\",\"tax_amount\"]}", .fields = "name,tax_amount", .expect = "permit"},
    {"{\"leftOperand\":\"field\",\"operator\":\"isAnyOf\",\"rightOperand\":[\"name\",\"tax_amount\"]}", .fields = "name", .expect = "permit"},
    {"{\"leftOperand\":\"field\",\"operator\":\"isAnyOf\",\"rightOperand\":[\"name\",\"tax_amount\"]}", .fields = "name,id_no", .expect = "field_not_granted"},
    {"{\"leftOperand\":\"field\",\"operator\":\"eq\",\"rightOperand\":\"name\"}", .fields = "name", .expect = "permit"},
    {"{\"leftOperand\":\"field\",\"operator\":\"isAnyOf\",\"rightOperand\":[\"name\"]}", .expect = "field_not_granted"},
    {"{\"leftOperand\":\"field\",\"operator\":\"isNoneOf\",\"rightOperand\":[\"id_no\"]}", .expect = "field_not_granted"},
    {"{\"leftOperand\":\"field\",\"operator\":\"eq\",\"rightOperand\":\"name\"}", .fields = "name,tax_amount", .expect = "field_not_granted"},
    {"{\"leftOperand\":\"field\",\"operator\":\"isNoneOf\",\"rightOperand\":[\"id_no\"]}", .fields = "name,unknown_col", .expect = "permit"},
    {"{\"leftOperand\":\"field\",\"operator\":\"isNoneOf\",\"rightOperand\":[\"id_no\"]}", .fields = "name,id_no", .expect = "field_not_granted"},
    {"{\"leftOperand\":\"field\",\"operator\":\"neq\",\"rightOperand\":\"id_no\"}", .fields = "id_no", .expect = "field_not_granted"},
    /* rowFilter */
    {"{\"leftOperand\":\"rowFilter\",\"operator\":\"eq\",\"rightOperand\":\"org_bank\"}", .row = "org_bank", .expect = "permit"},
    {"{\"leftOperand\":\"rowFilter\",\"operator\":\"eq\",\"rightOperand\":\"org_bank\"}", .row = "org_bank2", .expect = "row_filter_not_allowed"},
    {"{\"leftOperand\":\"rowFilter\",\"operator\":\"eq\",\"rightOperand\":\"org_bank\"}", .expect = "row_filter_not_allowed"},
    {"{\"leftOperand\":\"rowFilter\",\"operator\":\"isAnyOf\",\"rightOperand\":[\"r1\",\"r2\"]}", .row = "r2", .expect = "permit"},
    {"{\"leftOperand\":\"rowFilter\",\"operator\":\"isNoneOf\",\"rightOperand\":[\"r1\",\"r2\"]}", .row = "r2", .expect = "row_filter_not_allowed"},
    /* spatial: CIDR edges, IPv6, region hierarchy */
    {"{\"leftOperand\":\"spatial\",\"operator\":\"isAnyOf\",\"rightOperand\":[\"10.0.0.0/8\"]}", .ip = "10.0.0.0", .expect = "permit"},
    {"{\"leftOperand\":\"spatial\",\"operator\":\"isAnyOf\",\"rightOperand\":[\"10.0.0.0/8\"]}", .ip = "10.255.255.255", .expect = "permit"},
    {"{\"leftOperand\":\"spatial\",\"operator\":\"isAnyOf\",\"rightOperand\":[\"10.0.0.0/8\"]}", .ip = "11.0.0.0", .expect = "location_not_allowed"},
    {"{\"leftOperand\":\"spatial\",\"operator\":\"isAnyOf\",\"rightOperand\":[\"10.0.0.0/8\"]}", .ip = "9.255.255.255", .expect = "location_not_allowed"},
    {"{\"leftOperand\":\"spatial\",\"operator\":\"isAnyOf\",\"rightOperand\":[\"192.168.1.128/25\"]}", .ip = "192.168.1.127", .expect = "location_not_allowed"},
    {"{\"leftOperand\":\"spatial\",\"operator\":\"isAnyOf\",\"rightOperand\":[\"192.168.1.128/25\"]}", .ip = "192.168.1.128", .expect = "permit"},
    {"{\"leftOperand\":\"spatial\",\"operator\":\"eq\",\"rightOperand\":\"203.0.113.7\"}", .ip = "203.0.113.7", .expect = "permit"},
    {"{\"leftOperand\":\"spatial\",\"operator\":\"eq\",\"rightOperand\":\"203.0.113.7\"}", .ip = "203.0.113.8", .expect = "location_not_allowed"},
    {"{\"leftOperand\":\"spatial\",\"operator\":\"isAnyOf\",\"rightOperand\":[\"2001:db8::/32\"]}", .ip = "2001:db8:ffff:ffff::1", .expect = "permit"},
    {"{\"leftOperand\":\"spatial\",\"operator\":\"isAnyOf\",\"rightOperand\":[\"2001:db8::/32\"]}", .ip = "2001:db9::", .expect = "location_not_allowed"},
    {"{\"leftOperand\":\"spatial\",\"operator\":\"isAnyOf\",\"rightOperand\":[\"10.0.0.0/8\"]}", .ip = "::ffff:10.0.0.1", .expect = "location_not_allowed"},
    {"{\"leftOperand\":\"spatial\",\"operator\":\"isAnyOf\",\"rightOperand\":[\"0.0.0.0/0\"]}", .ip = "255.255.255.255", .expect = "permit"},
    {"{\"leftOperand\":\"spatial\",\"operator\":\"isAnyOf\",\"rightOperand\":[\"CN-11\",\"10.0.0.0/8\"]}", .region = "CN-11", .expect = "permit"},
    {"{\"leftOperand\":\"spatial\",\"operator\":\"isAnyOf\",\"rightOperand\":[\"CN-11\"]}", .region = "CN-11-01", .expect = "permit"},
    {"{\"leftOperand\":\"spatial\",\"operator\":\"isAnyOf\",\"rightOperand\":[\"CN-11\"]}", .region = "CN-12", .expect = "location_not_allowed"},
    {"{\"leftOperand\":\"spatial\",\"operator\":\"isAnyOf\",\"rightOperand\":[\"CN\"]}", .region = "CN-GD", .expect = "permit"},
    {"{\"leftOperand\":\"spatial\",\"operator\":\"isAnyOf\",\"rightOperand\":[\"CN\"]}", .expect = "location_not_allowed"},
    {"{\"leftOperand\":\"spatial\",\"operator\":\"isNoneOf\",\"rightOperand\":[\"US\",\"10.0.0.0/8\"]}", .region = "CN", .ip = "11.0.0.1", .expect = "permit"},
    {"{\"leftOperand\":\"spatial\",\"operator\":\"isNoneOf\",\"rightOperand\":[\"US\",\"10.0.0.0/8\"]}", .region = "CN", .ip = "10.0.0.1", .expect = "location_not_allowed"},
    {"{\"leftOperand\":\"spatial\",\"operator\":\"isNoneOf\",\"rightOperand\":[\"US\"]}", .region = "US-CA", .expect = "location_not_allowed"},
    /* environment */
    {"{\"leftOperand\":\"environment\",\"operator\":\"eq\",\"rightOperand\":\"sandbox-prod\"}", .expect = "permit"},
    {"{\"leftOperand\":\"environment\",\"operator\":\"eq\",\"rightOperand\":\"sandbox-prod\"}", .env = "sandbox-dev", .expect = "environment_not_allowed"},
    {"{\"leftOperand\":\"environment\",\"operator\":\"isAnyOf\",\"rightOperand\":[\"sandbox-dev\",\"sandbox-prod\"]}", .env = "consumer-domain", .expect = "environment_not_allowed"},
    {"{\"leftOperand\":\"environment\",\"operator\":\"isNoneOf\",\"rightOperand\":[\"consumer-domain\"]}", .env = "provider-domain", .expect = "permit"},
    {"{\"leftOperand\":\"environment\",\"operator\":\"neq\",\"rightOperand\":\"consumer-domain\"}", .env = "consumer-domain", .expect = "environment_not_allowed"},
    /* elapsedTime (retention) */
    {"{\"leftOperand\":\"elapsedTime\",\"operator\":\"lteq\",\"rightOperand\":\"P1D\"}", .acquired = T0 - 86400000, .expect = "permit"},
    {"{\"leftOperand\":\"elapsedTime\",\"operator\":\"lteq\",\"rightOperand\":\"P1D\"}", .acquired = T0 - 86400001, .expect = "retention_expired"},
    {"{\"leftOperand\":\"elapsedTime\",\"operator\":\"lt\",\"rightOperand\":\"PT1H30M\"}", .acquired = T0 - 5400000, .expect = "retention_expired"},
    {"{\"leftOperand\":\"elapsedTime\",\"operator\":\"lt\",\"rightOperand\":\"PT1H30M\"}", .acquired = T0 - 5399999, .expect = "permit"},
    {"{\"leftOperand\":\"elapsedTime\",\"operator\":\"lt\",\"rightOperand\":\"PT1H30M\"}", .expect = "permit"},
    /* logical constraints */
    {"{\"or\":[{\"leftOperand\":\"purpose\",\"operator\":\"eq\",\"rightOperand\":\"x\"},{\"leftOperand\":\"environment\",\"operator\":\"eq\",\"rightOperand\":\"sandbox-prod\"}]}", .expect = "permit"},
    {"{\"or\":[{\"leftOperand\":\"purpose\",\"operator\":\"eq\",\"rightOperand\":\"x\"},{\"leftOperand\":\"environment\",\"operator\":\"eq\",\"rightOperand\":\"sandbox-dev\"}]}", .expect = "constraint_not_met"},
    {"{\"xone\":[{\"leftOperand\":\"purpose\",\"operator\":\"eq\",\"rightOperand\":\"credit-risk\"},{\"leftOperand\":\"environment\",\"operator\":\"eq\",\"rightOperand\":\"sandbox-prod\"}]}", .expect = "constraint_not_met"},
    {"{\"xone\":[{\"leftOperand\":\"purpose\",\"operator\":\"eq\",\"rightOperand\":\"credit-risk\"},{\"leftOperand\":\"environment\",\"operator\":\"eq\",\"rightOperand\":\"sandbox-dev\"}]}", .expect = "permit"},
    {"{\"and\":[{\"leftOperand\":\"purpose\",\"operator\":\"eq\",\"rightOperand\":\"credit-risk\"},{\"leftOperand\":\"environment\",\"operator\":\"eq\",\"rightOperand\":\"sandbox-dev\"}]}", .expect = "environment_not_allowed"},
    {"{\"or\":[{\"and\":[{\"leftOperand\":\"purpose\",\"operator\":\"eq\",\"rightOperand\":\"credit-risk\"},{\"leftOperand\":\"spatial\",\"operator\":\"eq\",\"rightOperand\":\"CN\"}]},{\"leftOperand\":\"field\",\"operator\":\"eq\",\"rightOperand\":\"a\"}]}", .region = "CN-11", .expect = "permit"},
};

static const char *req_or(const char *v, const char *def)
{
	if (!v)
		return def;
	return strcmp(v, "-") ? v : NULL;
}

static void test_operands(void **state)
{
	for (size_t i = 0; i < TDS_ARRAY_LEN(ROWS); i++) {
		const row *w = &ROWS[i];
		tds_policy *p = one(w->constraint);
		char fbuf[256];
		const char *fields[16];
		size_t nf = 0;
		if (w->fields) {
			snprintf(fbuf, sizeof fbuf, "%s", w->fields);
			for (char *s = strtok(fbuf, ","); s; s = strtok(NULL, ","))
				fields[nf++] = s;
		}
		tds_policy_request rq = {
		    .org = req_or(w->org, "org_bank"),
		    .account = "acc_1",
		    .connector = req_or(w->connector, NULL),
		    .action = TDS_POLICY_ACTION_READ,
		    .purpose = req_or(w->purpose, "credit-risk"),
		    .environment = req_or(w->env, "sandbox-prod"),
		    .fields = fields,
		    .n_fields = nf,
		    .client_ip = req_or(w->ip, NULL),
		    .region = req_or(w->region, NULL),
		    .row_filter = req_or(w->row, NULL),
		    .acquired_ms = w->acquired,
		};
		tds_policy_decision d;
		assert_int_equal(tds_policy_decide(p, NULL, &rq, w->now ? w->now : T0, &d), 0);
		if (strcmp(d.code, w->expect)) {
			fprintf(stderr, "row %zu: %s → %s (%s at %s), expected %s\n", i, w->constraint, d.code, d.reason,
				d.clause, w->expect);
			fail();
		}
		assert_int_equal(d.permit, !strcmp(w->expect, "permit"));
		if (!d.permit)
			assert_non_null(strstr(d.clause, "permission[0].constraint[0]"));
		tds_policy_free(p);
	}
}

/* ---- stateful operands ------------------------------------------------------------------------------- */

static tds_policy_decision decide_at(tds_policy *p, tds_policy_counters *c, const char *eps, int64_t now)
{
	tds_policy_request rq = {.org = "org_bank", .action = TDS_POLICY_ACTION_READ, .epsilon = eps};
	tds_policy_decision d;
	assert_int_equal(tds_policy_decide(p, c, &rq, now, &d), 0);
	return d;
}

static void test_count(void **state)
{
	/* lteq 3: the 3rd use permitted, the 4th refused; lt 3: the 2nd, not the 3rd */
	const char *ops[] = {"lteq", "lt"};
	int limits[] = {3, 2};
	for (size_t k = 0; k < 2; k++) {
		char cons[128];
		snprintf(cons, sizeof cons, "{\"leftOperand\":\"count\",\"operator\":\"%s\",\"rightOperand\":3}", ops[k]);
		tds_policy *p = one(cons);
		assert_int_equal(tds_policy_counter_slots(p), 1);
		tds_policy_counters *c = tds_policy_counters_new(p);
		for (int i = 0; i < limits[k]; i++)
			assert_true(decide_at(p, c, NULL, T0).permit);
		tds_policy_decision d = decide_at(p, c, NULL, T0);
		assert_false(d.permit);
		assert_string_equal(d.code, "count_exhausted");
		assert_string_equal(d.clause, "permission[0].constraint[0]");
		tds_policy_slot_state st;
		assert_int_equal(tds_policy_counters_get(c, 0, &st), 0);
		assert_int_equal(st.used, limits[k]); /* the refusal charged nothing */
		tds_policy_counters_free(c);
		tds_policy_free(p);
	}
	/* without counters: refused as a malformed call */
	tds_policy *p = one("{\"leftOperand\":\"count\",\"operator\":\"lteq\",\"rightOperand\":1}");
	tds_policy_request rq = {.action = TDS_POLICY_ACTION_READ};
	tds_policy_decision d;
	assert_int_equal(tds_policy_decide(p, NULL, &rq, T0, &d), TDS_EINVAL);
	assert_false(d.permit);
	tds_policy_free(p);
}

static void test_rate(void **state)
{
	tds_policy *p = one("{\"leftOperand\":\"rate\",\"operator\":\"lteq\",\"rightOperand\":2,\"unit\":\"minute\"}");
	tds_policy_counters *c = tds_policy_counters_new(p);
	int64_t m = (T0 / 60000) * 60000; /* start of a minute */
	assert_true(decide_at(p, c, NULL, m).permit);
	assert_true(decide_at(p, c, NULL, m + 59999).permit);
	tds_policy_decision d = decide_at(p, c, NULL, m + 59999);
	assert_string_equal(d.code, "rate_exceeded");
	assert_true(decide_at(p, c, NULL, m + 60000).permit); /* the next minute */
	assert_true(decide_at(p, c, NULL, m + 60001).permit);
	assert_false(decide_at(p, c, NULL, m + 119999).permit);
	assert_false(decide_at(p, c, NULL, m + 1000).permit); /* an earlier window after a later one: refused */
	tds_policy_counters_free(c);
	tds_policy_free(p);

	p = one("{\"leftOperand\":\"rate\",\"operator\":\"lt\",\"rightOperand\":2,\"unit\":\"day\"}");
	c = tds_policy_counters_new(p);
	int64_t day = (T0 / 86400000) * 86400000;
	assert_true(decide_at(p, c, NULL, day + 86399999).permit);
	assert_false(decide_at(p, c, NULL, day + 86399999).permit);
	assert_true(decide_at(p, c, NULL, day + 86400000).permit);
	tds_policy_counters_free(c);
	tds_policy_free(p);

	/* count and rate together: a rate refusal does not charge the count */
	p = one("{\"leftOperand\":\"count\",\"operator\":\"lteq\",\"rightOperand\":5},"
		"{\"leftOperand\":\"rate\",\"operator\":\"lteq\",\"rightOperand\":1,\"unit\":\"minute\"}");
	c = tds_policy_counters_new(p);
	assert_true(decide_at(p, c, NULL, m).permit);
	d = decide_at(p, c, NULL, m + 1);
	assert_string_equal(d.code, "rate_exceeded");
	assert_string_equal(d.clause, "permission[0].constraint[1]");
	tds_policy_slot_state st;
	tds_policy_counters_get(c, 0, &st);
	assert_int_equal(st.used, 1);
	tds_policy_counters_free(c);
	tds_policy_free(p);
}

static void test_budget(void **state)
{
	tds_policy *p = one("{\"leftOperand\":\"privacyBudget\",\"operator\":\"lteq\",\"rightOperand\":\"1.0\"}");
	tds_policy_counters *c = tds_policy_counters_new(p);
	assert_true(decide_at(p, c, "0.4", T0).permit);
	assert_true(decide_at(p, c, "0.6", T0).permit); /* exactly 1.0: still within */
	tds_policy_decision d = decide_at(p, c, "0.000001", T0);
	assert_string_equal(d.code, "budget_exhausted");
	d = decide_at(p, c, NULL, T0); /* a budgeted rule needs an ε */
	assert_false(d.permit);
	tds_policy_slot_state st;
	tds_policy_counters_get(c, 0, &st);
	assert_int_equal(st.used, 1000000);
	/* malformed ε */
	tds_policy_request rq = {.action = TDS_POLICY_ACTION_READ, .epsilon = "0.1e3"};
	assert_int_equal(tds_policy_decide(p, c, &rq, T0, &d), TDS_EINVAL);
	assert_string_equal(d.code, "invalid_request");
	tds_policy_counters_free(c);
	tds_policy_free(p);

	uint64_t u;
	assert_int_equal(tds_policy_decimal_parse("0.000001", &u), 0);
	assert_int_equal(u, 1);
	assert_int_equal(tds_policy_decimal_parse("12.5", &u), 0);
	assert_int_equal(u, 12500000);
	const char *badd[] = {"", "-1", "1.", ".5", "01", "1.0000001", "1e3", "1,5", " 1", "1 "};
	for (size_t i = 0; i < TDS_ARRAY_LEN(badd); i++)
		assert_int_equal(tds_policy_decimal_parse(badd[i], &u), TDS_EINVAL);
}

/* ---- prohibitions, duties, actions --------------------------------------------------------------------- */

static const char *CONTRACT =
    "{\"@context\":\"http://www.w3.org/ns/odrl.jsonld\",\"uid\":\"pol_tax_api\",\"type\":\"Agreement\","
    "\"assigner\":\"org_tax\",\"assignee\":\"org_bank\",\"target\":\"res_tax\","
    "\"permission\":[{\"action\":[\"read\",\"query\"],\"constraint\":["
    "{\"leftOperand\":\"purpose\",\"operator\":\"isAnyOf\",\"rightOperand\":[\"credit-risk\",\"marketing\"]},"
    "{\"leftOperand\":\"field\",\"operator\":\"isAnyOf\",\"rightOperand\":[\"name\",\"tax_amount\",\"id_no\"]}],"
    "\"duty\":[{\"action\":\"mask\",\"field\":\"id_no\",\"rule\":\"keep_first6_last4\"},"
    "{\"action\":\"watermark\",\"code\":\"wm-bank\"},{\"action\":\"delete\",\"after\":\"P30D\"},"
    "{\"action\":\"pay\",\"pricingRule\":\"price_per_call\"},{\"action\":\"notify\",\"recipient\":\"org_tax\"}]},"
    "{\"action\":\"compute\"}],"
    "\"prohibition\":[{\"action\":\"use\",\"constraint\":[{\"leftOperand\":\"purpose\",\"operator\":\"eq\",\"rightOperand\":\"marketing\"}]},"
    "{\"action\":[\"distribute\",\"export\",\"grantUse\"]}],"
    "\"obligation\":[{\"action\":\"log\"}]}";

static void test_prohibitions_and_duties(void **state)
{
	tds_policy *p = compile_or_fail(CONTRACT);
	assert_string_equal(tds_policy_uid(p), "pol_tax_api");
	const char *f[] = {"name", "id_no"};
	tds_policy_request rq = {.org = "org_bank", .action = TDS_POLICY_ACTION_QUERY, .purpose = "credit-risk",
				 .fields = f, .n_fields = 2};
	tds_policy_decision d;
	assert_int_equal(tds_policy_decide(p, NULL, &rq, T0, &d), 0);
	assert_true(d.permit);
	assert_string_equal(d.clause, "permission[0]");
	assert_int_equal(d.n_obligations, 6);
	assert_int_equal(d.obligations[0].kind, TDS_POLICY_DUTY_MASK);
	assert_string_equal(d.obligations[0].field, "id_no");
	assert_string_equal(d.obligations[0].rule, "keep_first6_last4");
	assert_string_equal(d.obligations[0].clause, "permission[0].duty[0]");
	assert_string_equal(d.obligations[1].action, "watermark");
	assert_string_equal(d.obligations[1].rule, "wm-bank");
	assert_int_equal(d.obligations[2].after_s, 30 * 86400);
	assert_string_equal(d.obligations[3].ref, "price_per_call");
	assert_string_equal(d.obligations[4].ref, "org_tax");
	assert_int_equal(d.obligations[5].kind, TDS_POLICY_DUTY_LOG);
	assert_string_equal(d.obligations[5].clause, "obligation[0]");

	/* marketing is permitted by the permission but prohibited: the prohibition wins */
	rq.purpose = "marketing";
	tds_policy_decide(p, NULL, &rq, T0, &d);
	assert_false(d.permit);
	assert_string_equal(d.code, "prohibited");
	assert_string_equal(d.clause, "prohibition[0]");
	/* the prohibition covers compute ("use"), even though permission[1] is unconditional */
	rq.action = TDS_POLICY_ACTION_COMPUTE;
	tds_policy_decide(p, NULL, &rq, T0, &d);
	assert_string_equal(d.code, "prohibited");
	rq.purpose = "credit-risk";
	tds_policy_decide(p, NULL, &rq, T0, &d);
	assert_true(d.permit);
	assert_string_equal(d.clause, "permission[1]");
	assert_int_equal(d.n_obligations, 1); /* only the policy's log */
	/* redistribution, raw-row export, re-authorisation: prohibited outright */
	int banned[] = {TDS_POLICY_ACTION_DISTRIBUTE, TDS_POLICY_ACTION_EXPORT, TDS_POLICY_ACTION_GRANT_USE};
	for (size_t i = 0; i < 3; i++) {
		rq.action = banned[i];
		tds_policy_decide(p, NULL, &rq, T0, &d);
		assert_string_equal(d.code, "prohibited");
		assert_string_equal(d.clause, "prohibition[1]");
	}
	/* download: nothing grants it */
	rq.action = TDS_POLICY_ACTION_DOWNLOAD;
	tds_policy_decide(p, NULL, &rq, T0, &d);
	assert_string_equal(d.code, "action_not_granted");
	assert_string_equal(d.clause, "");
	/* a field outside the grant */
	const char *f2[] = {"name", "phone"};
	rq.action = TDS_POLICY_ACTION_READ;
	rq.fields = f2;
	tds_policy_decide(p, NULL, &rq, T0, &d);
	assert_string_equal(d.code, "field_not_granted");
	assert_string_equal(d.clause, "permission[0].constraint[1]");
	assert_non_null(strstr(d.reason, "field"));
	/* a field prohibition applies when any requested field hits it */
	tds_policy_free(p);
	p = compile_or_fail("{\"uid\":\"p\",\"permission\":[{\"action\":\"read\"}],\"prohibition\":[{\"action\":\"read\","
			    "\"constraint\":[{\"leftOperand\":\"field\",\"operator\":\"isAnyOf\",\"rightOperand\":[\"id_no\"]}]}]}");
	rq.fields = f;
	tds_policy_decide(p, NULL, &rq, T0, &d);
	assert_string_equal(d.code, "prohibited");
	rq.fields = f2;
	tds_policy_decide(p, NULL, &rq, T0, &d);
	assert_true(d.permit);
	/* unknown action and bad IP: malformed requests */
	rq.action = 17;
	assert_int_equal(tds_policy_decide(p, NULL, &rq, T0, &d), TDS_EINVAL);
	rq.action = TDS_POLICY_ACTION_READ;
	rq.client_ip = "10.0.0.256";
	assert_int_equal(tds_policy_decide(p, NULL, &rq, T0, &d), TDS_EINVAL);
	tds_policy_free(p);

	assert_int_equal(tds_policy_action_parse("grantUse"), TDS_POLICY_ACTION_GRANT_USE);
	assert_int_equal(tds_policy_action_parse("use"), TDS_POLICY_ACTION_USE);
	assert_int_equal(tds_policy_action_parse("Read"), -1);
	assert_string_equal(tds_policy_action_name(TDS_POLICY_ACTION_DERIVE), "derive");
}

/* A second permission is tried when the first one's counter is used up. */
static void test_fallthrough(void **state)
{
	tds_policy *p = compile_or_fail(
	    "{\"uid\":\"p\",\"permission\":["
	    "{\"action\":\"read\",\"constraint\":[{\"leftOperand\":\"count\",\"operator\":\"lteq\",\"rightOperand\":1}]},"
	    "{\"action\":\"read\",\"constraint\":[{\"leftOperand\":\"environment\",\"operator\":\"eq\",\"rightOperand\":\"sandbox-dev\"}],"
	    "\"duty\":[{\"action\":\"log\"}]}]}");
	tds_policy_counters *c = tds_policy_counters_new(p);
	tds_policy_request rq = {.action = TDS_POLICY_ACTION_READ, .environment = "sandbox-dev"};
	tds_policy_decision d;
	tds_policy_decide(p, c, &rq, T0, &d);
	assert_string_equal(d.clause, "permission[0]");
	tds_policy_decide(p, c, &rq, T0, &d);
	assert_string_equal(d.clause, "permission[1]");
	assert_int_equal(d.n_obligations, 1);
	rq.environment = "sandbox-prod";
	tds_policy_decide(p, c, &rq, T0, &d);
	assert_false(d.permit);
	assert_string_equal(d.code, "count_exhausted"); /* the first failing clause is named */
	tds_policy_counters_free(c);
	tds_policy_free(p);
}

/* ---- concurrency -------------------------------------------------------------------------------------- */

typedef struct racer {
	tds_policy *p;
	tds_policy_counters *c;
	int tries;
	int permits;
} racer;

static void *race(void *arg)
{
	racer *r = arg;
	tds_policy_request rq = {.org = "org_bank", .action = TDS_POLICY_ACTION_READ, .epsilon = "0.001"};
	for (int i = 0; i < r->tries; i++) {
		tds_policy_decision d;
		if (tds_policy_decide(r->p, r->c, &rq, T0, &d) == 0 && d.permit)
			r->permits++;
	}
	return NULL;
}

static void test_concurrency(void **state)
{
	enum { THREADS = 8, N = 20000, TRIES = 5000 };
	const char *policies[] = {
	    "{\"uid\":\"p\",\"permission\":[{\"action\":\"read\",\"constraint\":[{\"leftOperand\":\"count\",\"operator\":\"lteq\",\"rightOperand\":20000}]}]}",
	    /* budget 20 = 20000 × 0.001 */
	    "{\"uid\":\"p\",\"permission\":[{\"action\":\"read\",\"constraint\":[{\"leftOperand\":\"privacyBudget\",\"operator\":\"lteq\",\"rightOperand\":\"20\"}]}]}",
	    "{\"uid\":\"p\",\"permission\":[{\"action\":\"read\",\"constraint\":[{\"leftOperand\":\"rate\",\"operator\":\"lteq\",\"rightOperand\":20000,\"unit\":\"day\"}]}]}",
	};
	for (size_t k = 0; k < 3; k++) {
		tds_policy *p = compile_or_fail(policies[k]);
		tds_policy_counters *c = tds_policy_counters_new(p);
		racer r[THREADS];
		pthread_t t[THREADS];
		for (int i = 0; i < THREADS; i++) {
			r[i] = (racer){.p = p, .c = c, .tries = TRIES};
			pthread_create(&t[i], NULL, race, &r[i]);
		}
		int total = 0;
		for (int i = 0; i < THREADS; i++) {
			pthread_join(t[i], NULL);
			total += r[i].permits;
		}
		assert_int_equal(total, N);
		tds_policy_slot_state st;
		tds_policy_counters_get(c, 0, &st);
		assert_int_equal(st.used, k == 1 ? 20000000 : N);
		tds_policy_counters_free(c);
		tds_policy_free(p);
	}
}

/* ---- persistence -------------------------------------------------------------------------------------- */

static const char *STATEFUL =
    "{\"uid\":\"pol_s\",\"permission\":[{\"action\":\"read\",\"constraint\":["
    "{\"leftOperand\":\"count\",\"operator\":\"lteq\",\"rightOperand\":3},"
    "{\"leftOperand\":\"rate\",\"operator\":\"lteq\",\"rightOperand\":10,\"unit\":\"day\"},"
    "{\"leftOperand\":\"privacyBudget\",\"operator\":\"lteq\",\"rightOperand\":\"2.5\"}]}]}";

typedef struct jlog {
	int calls;
	tds_policy_slot_state last[4];
	size_t n;
} jlog;

static void on_journal(void *ctx, const tds_policy_slot_state *s, size_t n)
{
	jlog *j = ctx;
	j->calls++;
	j->n = n;
	memcpy(j->last, s, n * sizeof *s);
}

static void test_snapshot_restore(void **state)
{
	tds_policy *p = compile_or_fail(STATEFUL);
	tds_policy_counters *c = tds_policy_counters_new(p);
	jlog j = {0};
	tds_policy_counters_set_journal(c, on_journal, &j);
	assert_true(decide_at(p, c, "1.25", T0).permit);
	assert_true(decide_at(p, c, "0.5", T0).permit);
	assert_int_equal(j.calls, 2);
	assert_int_equal(j.n, 3);
	assert_int_equal(j.last[0].used, 2);
	assert_int_equal(j.last[1].window, T0 / 86400000);
	assert_int_equal(j.last[2].used, 1750000);
	assert_false(decide_at(p, c, "1", T0).permit); /* 2.75 > 2.5 */
	assert_int_equal(j.calls, 2);                   /* a refusal journals nothing */

	json_t *snap;
	assert_int_equal(tds_policy_counters_snapshot(c, &snap), 0);
	char *text = json_dumps(snap, JSON_COMPACT);
	assert_non_null(strstr(text, "\"used\":\"1.75\""));
	assert_non_null(strstr(text, "\"clause\":\"permission[0].constraint[1]\""));
	free(text);
	tds_policy_counters_free(c);

	/* "restart": a new policy object and counters restored from the snapshot */
	tds_policy *p2 = compile_or_fail(STATEFUL);
	tds_policy_counters *c2 = tds_policy_counters_new(p2);
	assert_int_equal(tds_policy_counters_restore(c2, snap), 0);
	assert_true(decide_at(p2, c2, "0.75", T0).permit); /* the 3rd use, budget exactly 2.5 */
	assert_string_equal(decide_at(p2, c2, "0.000001", T0).code, "count_exhausted");
	/* journal replay: absolute values */
	tds_policy_slot_state s = {.slot = 0, .kind = TDS_POLICY_SLOT_COUNT, .used = 1};
	assert_int_equal(tds_policy_counters_set(c2, &s), 0);
	s.kind = TDS_POLICY_SLOT_RATE;
	assert_int_equal(tds_policy_counters_set(c2, &s), TDS_EINVAL);
	s.slot = 9;
	assert_int_equal(tds_policy_counters_set(c2, &s), TDS_EINVAL);
	tds_policy_slot_state g;
	assert_int_equal(tds_policy_counters_get(c2, 3, &g), TDS_EINVAL);

	/* mismatched snapshots are refused and change nothing */
	json_t *bad = json_deep_copy(snap);
	json_object_set_new(bad, "policy", json_string("pol_other"));
	assert_int_equal(tds_policy_counters_restore(c2, bad), TDS_EINVAL);
	json_decref(bad);
	bad = json_deep_copy(snap);
	json_object_set_new(json_array_get(json_object_get(bad, "counters"), 1), "kind", json_string("count"));
	assert_int_equal(tds_policy_counters_restore(c2, bad), TDS_EINVAL);
	assert_non_null(strstr(tds_error_message(), "counters[1]"));
	json_decref(bad);
	bad = json_deep_copy(snap);
	json_object_set_new(json_array_get(json_object_get(bad, "counters"), 2), "used", json_real(1.5));
	assert_int_equal(tds_policy_counters_restore(c2, bad), TDS_EINVAL);
	json_decref(bad);
	bad = json_deep_copy(snap);
	json_array_remove(json_object_get(bad, "counters"), 0);
	assert_int_equal(tds_policy_counters_restore(c2, bad), TDS_EINVAL);
	json_decref(bad);
	tds_policy_counters_get(c2, 0, &g);
	assert_int_equal(g.used, 1);
	json_decref(snap);
	tds_policy_counters_free(c2);
	tds_policy_free(p2);
	tds_policy_free(p);
}

/* ---- parser refusals ----------------------------------------------------------------------------------- */

typedef struct refusal {
	const char *json;
	const char *message; /* prefix of the error message */
} refusal;

#define P1(c) "{\"uid\":\"p\",\"permission\":[{\"action\":\"read\",\"constraint\":[" c "]}]}"
#define LEAF(l, o, r) "{\"leftOperand\":\"" l "\",\"operator\":\"" o "\",\"rightOperand\":" r "}"

static const refusal REFUSALS[] = {
    {"[]", "$: a policy must be a JSON object"},
    {"{\"permission\":[{\"action\":\"read\"}]}", "uid: is required"},
    {"{\"uid\":\"p\"}", "permission: a policy needs at least one permission"},
    {"{\"uid\":\"p\",\"permission\":[{\"action\":\"read\"}],\"extra\":1}", "$: unknown member 'extra'"},
    {"{\"uid\":\"p\",\"type\":\"Contract\",\"permission\":[{\"action\":\"read\"}]}", "type: must be"},
    {"{\"uid\":\"p\",\"permission\":[{\"action\":\"steal\"}]}", "permission[0].action: unknown action 'steal'"},
    {"{\"uid\":\"p\",\"permission\":[{\"action\":[\"read\",7]}]}", "permission[0].action[1]: must be a string"},
    {"{\"uid\":\"p\",\"permission\":[{}]}", "permission[0].action: is required"},
    {"{\"uid\":\"p\",\"permission\":[{\"action\":\"read\",\"when\":1}]}", "permission[0]: unknown member 'when'"},
    {"{\"uid\":\"p\",\"permission\":[{\"action\":\"read\"}],\"prohibition\":[{\"action\":\"read\",\"duty\":[]}]}",
     "prohibition[0]: unknown member 'duty'"},
    {P1(LEAF("color", "eq", "\"red\"")), "permission[0].constraint[0].leftOperand: unknown left operand 'color'"},
    {P1(LEAF("purpose", "like", "\"x\"")), "permission[0].constraint[0].operator: unknown operator 'like'"},
    {P1(LEAF("purpose", "lt", "\"x\"")), "permission[0].constraint[0].operator: operator 'lt' does not apply"},
    {P1(LEAF("dateTime", "eq", "\"2026-01-01T00:00:00Z\"")), "permission[0].constraint[0].operator: operator 'eq'"},
    {P1(LEAF("purpose", "eq", "\"a\"") "," LEAF("count", "lteq", "-1")),
     "permission[0].constraint[1].rightOperand: must not be negative"},
    {P1(LEAF("count", "lteq", "\"5\"")), "permission[0].constraint[0].rightOperand: must be an integer"},
    {P1(LEAF("count", "lteq", "2.5")), "permission[0].constraint[0].rightOperand: a JSON real is not allowed"},
    {P1(LEAF("count", "lt", "1")), "permission[0].constraint[0].rightOperand: the rule could never be used"},
    {P1(LEAF("privacyBudget", "lteq", "1.5")), "permission[0].constraint[0].rightOperand: a JSON real is not allowed"},
    {P1(LEAF("privacyBudget", "lteq", "1")), "permission[0].constraint[0].rightOperand: must be a decimal string"},
    {P1(LEAF("privacyBudget", "lteq", "\"1.1234567\"")), "permission[0].constraint[0].rightOperand: '1.1234567' has more"},
    {P1(LEAF("rate", "lteq", "10")), "permission[0].constraint[0].unit: is required"},
    {P1("{\"leftOperand\":\"rate\",\"operator\":\"lteq\",\"rightOperand\":10,\"unit\":\"week\"}"),
     "permission[0].constraint[0].unit: unknown unit 'week'"},
    {P1("{\"leftOperand\":\"count\",\"operator\":\"lteq\",\"rightOperand\":10,\"unit\":\"day\"}"),
     "permission[0].constraint[0].unit: only a 'rate' constraint takes a unit"},
    {P1(LEAF("dateTime", "gteq", "\"2026-13-01T00:00:00Z\"")), "permission[0].constraint[0].rightOperand: '2026-13-01T00:00:00Z' is not an RFC 3339"},
    {P1(LEAF("dateTime", "gteq", "\"2026-07-01T00:00:00Z\"") "," LEAF("dateTime", "lt", "\"2026-07-01T00:00:00Z\"")),
     "permission[0].constraint[1]: contradicts the rule's other dateTime constraints"},
    {P1(LEAF("purpose", "eq", "\"a\"") "," LEAF("purpose", "eq", "\"b\"")),
     "permission[0].constraint[1]: contradicts the rule's other purpose constraints"},
    {P1(LEAF("environment", "isAnyOf", "[\"sandbox-dev\"]") "," LEAF("environment", "neq", "\"sandbox-dev\"")),
     "permission[0].constraint[1]: contradicts the rule's other environment constraints"},
    {P1(LEAF("environment", "eq", "\"cloud\"")), "permission[0].constraint[0].rightOperand: unknown environment 'cloud'"},
    {P1(LEAF("spatial", "isAnyOf", "[\"10.0.0.0/8\",\"10.0.0.1/8\"]")), "permission[0].constraint[0].rightOperand[1]: '10.0.0.1/8' has host bits"},
    {P1(LEAF("spatial", "isAnyOf", "[\"10.0.0.0/33\"]")), "permission[0].constraint[0].rightOperand[0]: '10.0.0.0/33' is neither"},
    {P1(LEAF("spatial", "isAnyOf", "[\"china\"]")), "permission[0].constraint[0].rightOperand[0]: 'china' is neither"},
    {P1(LEAF("purpose", "isAnyOf", "\"a\"")), "permission[0].constraint[0].rightOperand: must be an array of strings"},
    {P1(LEAF("purpose", "isAnyOf", "[]")), "permission[0].constraint[0].rightOperand: must not be an empty array"},
    {P1(LEAF("purpose", "isAnyOf", "[\"a\",1]")), "permission[0].constraint[0].rightOperand[1]: must be a string"},
    {P1(LEAF("purpose", "eq", "\"\"")), "permission[0].constraint[0].rightOperand: must not be empty"},
    {P1(LEAF("elapsedTime", "lteq", "\"P1M\"")), "permission[0].constraint[0].rightOperand: must be an ISO 8601 duration"},
    {P1(LEAF("elapsedTime", "lteq", "\"PT\"")), "permission[0].constraint[0].rightOperand: a 'T' must be followed"},
    {P1(LEAF("elapsedTime", "lteq", "\"P1DT1H1D\"")), "permission[0].constraint[0].rightOperand: must be an ISO 8601"},
    {P1("{\"leftOperand\":\"purpose\",\"operator\":\"eq\"}"), "permission[0].constraint[0].rightOperand: is required"},
    {P1("{\"leftOperand\":\"purpose\",\"operator\":\"eq\",\"rightOperand\":\"a\",\"note\":1}"),
     "permission[0].constraint[0]: unknown member 'note'"},
    {P1("{\"or\":[" LEAF("count", "lteq", "1") "]}"),
     "permission[0].constraint[0].or[0]: 'count' may appear only directly"},
    {P1("{\"or\":[]}"), "permission[0].constraint[0].or: must be a non-empty array"},
    {P1("{\"or\":[" LEAF("purpose", "eq", "\"a\"") "],\"and\":[]}"), "permission[0].constraint[0]: a logical constraint has exactly one member"},
    {P1("{\"or\":[{\"or\":[{\"or\":[{\"or\":[{\"or\":[" LEAF("purpose", "eq", "\"a\"") "]}]}]}]}]}"),
     "permission[0].constraint[0].or[0].or[0].or[0].or[0].or: logical constraints nested deeper than 4"},
    {"{\"uid\":\"p\",\"permission\":[{\"action\":\"read\"}],\"prohibition\":[{\"action\":\"read\",\"constraint\":[" LEAF("count", "lteq", "1") "]}]}",
     "prohibition[0].constraint[0]: 'count' does not apply to a prohibition"},
    {"{\"uid\":\"p\",\"permission\":[{\"action\":[\"read\",\"query\"],\"constraint\":[" LEAF("field", "isAnyOf", "[\"name\",\"id_no\"]") "]}],"
     "\"prohibition\":[{\"action\":\"query\",\"constraint\":[" LEAF("field", "eq", "\"id_no\"") "]}]}",
     "prohibition[0]: field 'id_no' is both granted by permission[0].constraint[0] and prohibited"},
    {"{\"uid\":\"p\",\"permission\":[{\"action\":\"read\",\"duty\":[{\"action\":\"mask\",\"field\":\"x\"}]}]}",
     "permission[0].duty[0].rule: is required for a 'mask' duty"},
    {"{\"uid\":\"p\",\"permission\":[{\"action\":\"read\",\"duty\":[{\"action\":\"log\",\"field\":\"x\"}]}]}",
     "permission[0].duty[0]: a 'log' duty takes no member 'field'"},
    {"{\"uid\":\"p\",\"permission\":[{\"action\":\"read\",\"duty\":[{\"action\":\"shred\"}]}]}",
     "permission[0].duty[0].action: unknown duty 'shred'"},
    {"{\"uid\":\"p\",\"permission\":[{\"action\":\"read\"}],\"obligation\":[{\"action\":\"delete\",\"after\":30}]}",
     "obligation[0].after: must be a string"},
    {"{\"uid\":\"p\",\"permission\":[{\"action\":\"read\"}],\"obligation\":[{\"action\":\"pay\"}]}",
     "obligation[0].pricingRule: is required for a 'pay' duty"},
    {"{\"uid\":\"p\",\"permission\":[{\"action\":\"read\"}],\"obligation\":{}}", "obligation: must be an array of duties"},
    {"{\"uid\":\"p\",\"permission\":[{\"action\":\"read\"}],\"uid\":\"q\"}", "invalid JSON"}, /* duplicate key */
};

static void test_refusals(void **state)
{
	for (size_t i = 0; i < TDS_ARRAY_LEN(REFUSALS); i++) {
		tds_policy *p = (tds_policy *)1;
		int rc = tds_policy_compile(REFUSALS[i].json, strlen(REFUSALS[i].json), &p);
		assert_null(p);
		assert_int_equal(rc, TDS_EINVAL);
		const char *m = tds_error_message();
		bool ok = !strncmp(m, REFUSALS[i].message, strlen(REFUSALS[i].message)) ||
			  (!strcmp(REFUSALS[i].message, "invalid JSON") && !strcmp(tds_error_name(), "invalid_json"));
		if (!ok) {
			fprintf(stderr, "refusal %zu: got \"%s\"\n  expected \"%s…\"\n", i, m, REFUSALS[i].message);
			fail();
		}
	}
}

static void test_limits(void **state)
{
	/* 33 permissions; 33 constraints; a 64 KiB + 1 document; 257 distinct strings */
	tds_buf b = TDS_BUF_INIT;
	tds_buf_puts(&b, "{\"uid\":\"p\",\"permission\":[");
	for (int i = 0; i < 33; i++)
		tds_buf_printf(&b, "%s{\"action\":\"read\"}", i ? "," : "");
	tds_buf_puts(&b, "]}");
	tds_policy *p;
	assert_int_equal(tds_policy_compile(b.data, b.len, &p), TDS_EINVAL);
	assert_non_null(strstr(tds_error_message(), "permission: more than 32 rules"));
	tds_buf_reset(&b);
	tds_buf_puts(&b, P1(LEAF("purpose", "neq", "\"x0\"")));
	b.len -= 4;
	for (int i = 1; i < 33; i++)
		tds_buf_printf(&b, "," LEAF("purpose", "neq", "\"x%d\""), i);
	tds_buf_puts(&b, "]}]}");
	assert_int_equal(tds_policy_compile(b.data, b.len, &p), TDS_EINVAL);
	assert_non_null(strstr(tds_error_message(), "more than 32 constraints"));
	tds_buf_reset(&b);
	tds_buf_puts(&b, "{\"uid\":\"p\",\"permission\":[");
	for (int i = 0; i < 5; i++) {
		tds_buf_printf(&b, "%s{\"action\":\"read\",\"constraint\":[{\"leftOperand\":\"field\",\"operator\":"
				   "\"isAnyOf\",\"rightOperand\":[",
			       i ? "," : "");
		for (int k = 0; k < 60; k++)
			tds_buf_printf(&b, "%s\"f%d_%d\"", k ? "," : "", i, k);
		tds_buf_puts(&b, "]}]}");
	}
	tds_buf_puts(&b, "]}");
	assert_int_equal(tds_policy_compile(b.data, b.len, &p), TDS_EINVAL);
	if (!strstr(tds_error_message(), "more than 256 distinct strings"))
		fail_msg("%s", tds_error_message());
	tds_buf_reset(&b);
	tds_buf_puts(&b, "{\"uid\":\"p\",\"permission\":[{\"action\":\"read\"}],\"target\":\"");
	while (b.len < TDS_POLICY_MAX_BYTES)
		tds_buf_putc(&b, 'x');
	tds_buf_puts(&b, "\"}");
	assert_int_equal(tds_policy_compile(b.data, b.len, &p), TDS_ETOOBIG);
	tds_buf_free(&b);

	/* too many fields in a request */
	p = one(LEAF("purpose", "eq", "\"a\""));
	const char *f[TDS_POLICY_MAX_FIELDS + 1];
	for (size_t i = 0; i < TDS_ARRAY_LEN(f); i++)
		f[i] = "x";
	tds_policy_request rq = {.action = TDS_POLICY_ACTION_READ, .fields = f, .n_fields = TDS_ARRAY_LEN(f)};
	tds_policy_decision d;
	assert_int_equal(tds_policy_decide(p, NULL, &rq, T0, &d), TDS_EINVAL);
	tds_policy_free(p);
}

/* `tds bench pdp` end to end on a small run (the figures themselves are in docs/performance.md) */
static void test_bench(void **state)
{
	char *ok[] = {"bench", "pdp", "--json", "--n", "20000", "--samples", "20000", "--threads", "2"};
	assert_int_equal(tds_cli_bench_pdp((int)TDS_ARRAY_LEN(ok), ok), 0);
	char *bad[] = {"bench", "pdp", "--n", "0"};
	assert_int_equal(tds_cli_bench_pdp((int)TDS_ARRAY_LEN(bad), bad), 2);
	char *bad2[] = {"bench", "pdp", "--fast"};
	assert_int_equal(tds_cli_bench_pdp((int)TDS_ARRAY_LEN(bad2), bad2), 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_operands),	 cmocka_unit_test(test_count),
	    cmocka_unit_test(test_rate),	 cmocka_unit_test(test_budget),
	    cmocka_unit_test(test_prohibitions_and_duties), cmocka_unit_test(test_fallthrough),
	    cmocka_unit_test(test_concurrency),	 cmocka_unit_test(test_snapshot_restore),
	    cmocka_unit_test(test_refusals),	 cmocka_unit_test(test_limits),
	    cmocka_unit_test(test_bench),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
