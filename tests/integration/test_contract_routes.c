/*
 * test_contract_routes.c — the operator's contract routes over HTTP and through the `tds contract` /
 * `tds order` CLI on a real operator node: templates listed, shown and versioned (by the operator
 * only), every route's bad input and wrong caller answered 4xx with its code (never 5xx), node-only
 * routes refused to accounts, the connector's signing route refused on the operator, and the CLI's
 * usage errors. The whole order → contract → enforcement story across nodes is test_contracts.c.
 */
#include "harness.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static tn_node *op;
static char *admin;
static char *const OP_ENV[] = {"TDS_LEDGER_CHECKPOINT_INTERVAL_S=0", NULL};
static struct {
	char tax_org[64], tax_tok[128], bank_org[64], bank_tok[128];
} S;

static const char *err_code(json_t *out) { return tds_json_str(json_object_get(out, "error"), "code", ""); }

static void expect(long st, long want, json_t *out, const char *what)
{
	if (st != want)
		fail_msg("%s: HTTP %ld, wanted %ld (%s: %s)", what, st, want, err_code(out),
			 tds_json_str(json_object_get(out, "error"), "message", ""));
}

/* Expects status `want` and error `code` (NULL: any); frees the answer. */
static void refused(const char *method, const char *path, const char *tok, const char *body, long want, const char *code)
{
	json_t *out = NULL;
	long st = tn_json(op, method, path, tok, body, &out);
	char what[512];
	snprintf(what, sizeof what, "%s %s", method, path);
	expect(st, want, out, what);
	if (code && strcmp(err_code(out), code))
		fail_msg("%s: error %s (%s), wanted %s", what, err_code(out), tds_json_str(json_object_get(out, "error"), "message", ""),
			 code);
	json_decref(out);
}

/* Runs `tds --node OP --token TOK ARGS`; *out the parsed stdout (may be NULL); the exit status. */
static int cli(const char *tok, const char *args, json_t **out)
{
	char cmd[4096], *o = NULL;
	snprintf(cmd, sizeof cmd, "%s/tds --node %s --token %s %s 2>/dev/null", tn_bin_dir(), op->api, tok, args);
	int st = tn_run(cmd, &o);
	if (out)
		*out = o && *o ? json_loads(o, 0, NULL) : NULL;
	free(o);
	return st;
}

static int setup(void **state)
{
	(void)state;
	op = tn_init("operator", "gm");
	if (tn_start(op, OP_ENV) || !(admin = tn_login_admin(op)))
		return -1;
	if (tn_onboard_org(op, admin, "taxbureau", "某市税务局", "government", "91350100M000100Y43", "provider", S.tax_org,
			   S.tax_tok) ||
	    tn_onboard_org(op, admin, "citybank", "示例城市商业银行", "bank", "91370100780603055K", "consumer", S.bank_org,
			   S.bank_tok))
		return -1;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	free(admin);
	int rc = tn_stop(op);
	tn_free(op);
	return rc == 0 ? 0 : -1;
}

static void test_templates(void **state)
{
	(void)state;
	json_t *out = NULL;
	assert_int_equal(cli(S.bank_tok, "contract template list --json", &out), 0);
	json_t *items = json_object_get(out, "items");
	assert_int_equal(json_array_size(items), 4);
	char api[64] = "";
	size_t i;
	json_t *t;
	json_array_foreach(items, i, t) {
		if (!strcmp(tds_json_str(t, "form", ""), "api"))
			snprintf(api, sizeof api, "%s", tds_json_str(t, "id", ""));
		assert_true(strlen(tds_json_str(json_object_get(t, "clauses"), "data_use_rules", "")) > 20);
	}
	json_decref(out);
	assert_true(api[0]);
	char args[2048], path[256];
	snprintf(args, sizeof args, "contract template show %s --json", api);
	assert_int_equal(cli(S.bank_tok, args, &out), 0);
	assert_int_equal(tds_json_int(out, "version", 0), 1);
	json_decref(out);
	/* a new version, by the operator only */
	static const char CLAUSES[] = "'{\"data_use_rules\":\"仅限约定用途。\",\"security_duties\":\"安全义务。\","
				      "\"performance_supervision\":\"履约监督。\",\"breach_handling\":\"违约处理。\"}'";
	static const char DEFAULTS[] = "'{\"obligations\":[{\"action\":\"log\"}],\"violation_policy\":{\"freeze_after\":3},"
				       "\"max_validity_days\":366}'";
	snprintf(args, sizeof args, "contract template create --form api --name 'API v2' --clauses %s --defaults %s --json", CLAUSES,
		 DEFAULTS);
	assert_int_equal(cli(S.bank_tok, args, &out), 1);
	assert_string_equal(err_code(out), "forbidden");
	json_decref(out);
	assert_int_equal(cli(admin, args, &out), 0);
	assert_int_equal(tds_json_int(out, "version", 0), 2);
	assert_string_equal(tds_json_str(out, "id", ""), api);
	json_decref(out);
	snprintf(path, sizeof path, "/api/v1/contract-templates/%s?version=1", api);
	expect(tn_json(op, "GET", path, S.tax_tok, NULL, &out), 200, out, "template v1");
	assert_int_equal(tds_json_int(out, "version", 0), 1);
	json_decref(out);
	snprintf(path, sizeof path, "/api/v1/contract-templates/%s?version=0", api);
	refused("GET", path, S.tax_tok, NULL, 400, "invalid_query");
	snprintf(path, sizeof path, "/api/v1/contract-templates/%s?version=7", api);
	refused("GET", path, S.tax_tok, NULL, 404, "template_not_found");
	refused("GET", "/api/v1/contract-templates/tpl_01JAAAAAAAAAAAAAAAAAAAAAAA", S.tax_tok, NULL, 404, "template_not_found");
	refused("GET", "/api/v1/contract-templates", NULL, NULL, 401, "unauthenticated");
	refused("POST", "/api/v1/contract-templates", admin, "{\"form\":\"api\"}", 400, NULL);
	refused("POST", "/api/v1/contract-templates", admin, "[1]", 400, NULL);
	refused("POST", "/api/v1/contract-templates", admin,
		"{\"form\":\"tv\",\"name\":\"x\",\"clauses\":{},\"policy_defaults\":{}}", 400, "invalid_form");
	/* CLI usage errors */
	assert_int_equal(cli(admin, "contract template create --form api --json", NULL), 2);
	assert_int_equal(cli(admin, "contract template create --form api --name x --clauses '{bad' --defaults '{}' --json", NULL),
			 2);
	assert_int_equal(cli(admin, "contract show not-an-id --json", NULL), 2);
	assert_int_equal(cli(admin, "contract frobnicate --json", NULL), 2);
	assert_int_equal(cli(admin, "contract list --colour red --json", NULL), 2);
	assert_int_equal(cli(admin, "contract propose ctr_01JAAAAAAAAAAAAAAAAAAAAAAA --base 1 --json", NULL), 2);
	assert_int_equal(cli(admin, "contract accept ctr_01JAAAAAAAAAAAAAAAAAAAAAAA --version x --hash h --json", NULL), 2);
	assert_int_equal(cli(admin, "contract suspend ctr_01JAAAAAAAAAAAAAAAAAAAAAAA --json", NULL), 2);
	assert_int_equal(cli(admin, "order create --action query --json", NULL), 2);
	assert_int_equal(cli(admin, "order create --product prd_01JAAAAAAAAAAAAAAAAAAAAAAA --json", NULL), 2);
	assert_int_equal(cli(admin, "order create --product prd_01JAAAAAAAAAAAAAAAAAAAAAAA --action query --rate 5 --json", NULL), 2);
	assert_int_equal(cli(admin, "order show ord --json", NULL), 2);
}

static void test_routes_refuse_bad_input(void **state)
{
	(void)state;
	json_t *out = NULL;
	const char *CTR = "/api/v1/contracts/ctr_01JAAAAAAAAAAAAAAAAAAAAAAA";
	char path[256];
	/* orders: only consumers order; an unknown product; strict bodies */
	refused("POST", "/api/v1/orders", S.tax_tok, "{\"product_id\":\"prd_01JAAAAAAAAAAAAAAAAAAAAAAA\",\"actions\":[\"query\"]}",
		403, "forbidden");
	refused("POST", "/api/v1/orders", S.bank_tok, "{\"product_id\":\"prd_01JAAAAAAAAAAAAAAAAAAAAAAA\",\"actions\":[\"query\"]}",
		404, "product_not_found");
	refused("POST", "/api/v1/orders", S.bank_tok, "{\"product_id\":\"../x\",\"actions\":[\"query\"]}", 400, "invalid_product");
	refused("POST", "/api/v1/orders", S.bank_tok, "{\"product_id\":\"prd_01JAAAAAAAAAAAAAAAAAAAAAAA\"}", 400, NULL);
	refused("POST", "/api/v1/orders", S.bank_tok, "not json", 400, "invalid_json");
	json_t *o = NULL;
	assert_int_equal(cli(S.bank_tok, "order create --product prd_01JAAAAAAAAAAAAAAAAAAAAAAA --action query --json", &o), 1);
	assert_string_equal(err_code(o), "product_not_found");
	json_decref(o);
	expect(tn_json(op, "GET", "/api/v1/orders", S.bank_tok, NULL, &out), 200, out, "orders");
	assert_int_equal(json_array_size(json_object_get(out, "items")), 0);
	json_decref(out);
	refused("GET", "/api/v1/orders?limit=abc", S.bank_tok, NULL, 400, "invalid_limit");
	refused("GET", "/api/v1/orders?cursor=zzz", admin, NULL, 400, "invalid_cursor");
	refused("GET", "/api/v1/orders/ord_01JAAAAAAAAAAAAAAAAAAAAAAA", S.bank_tok, NULL, 404, "order_not_found");
	refused("POST", "/api/v1/orders/ord_01JAAAAAAAAAAAAAAAAAAAAAAA/contract", admin, "{}", 404, "order_not_found");
	refused("POST", "/api/v1/orders/ord_01JAAAAAAAAAAAAAAAAAAAAAAA/contract", admin, "{\"service\":[\"x\"]}", 400,
		"invalid_service");
	refused("POST", "/api/v1/orders/ord_01JAAAAAAAAAAAAAAAAAAAAAAA/contract", S.bank_tok, "{}", 403, "forbidden");

	/* contracts */
	expect(tn_json(op, "GET", "/api/v1/contracts", S.bank_tok, NULL, &out), 200, out, "contracts");
	assert_int_equal(json_array_size(json_object_get(out, "items")), 0);
	json_decref(out);
	refused("GET", "/api/v1/contracts?state=happy", admin, NULL, 400, "invalid_state_filter");
	refused("GET", "/api/v1/contracts?limit=-1", admin, NULL, 400, "invalid_limit");
	refused("GET", CTR, S.bank_tok, NULL, 404, "contract_not_found");
	refused("GET", "/api/v1/contracts/..%2Fetc", admin, NULL, 400, NULL);
	snprintf(path, sizeof path, "%s/versions", CTR);
	refused("GET", path, admin, NULL, 404, "contract_not_found");
	snprintf(path, sizeof path, "%s/versions/abc", CTR);
	refused("GET", path, admin, NULL, 400, "invalid_version");
	snprintf(path, sizeof path, "%s/versions/0", CTR);
	refused("GET", path, admin, NULL, 400, "invalid_version");
	snprintf(path, sizeof path, "%s/diff", CTR);
	refused("GET", path, admin, NULL, 400, "invalid_query");
	snprintf(path, sizeof path, "%s/diff?from=1&to=x", CTR);
	refused("GET", path, admin, NULL, 400, "invalid_query");
	snprintf(path, sizeof path, "%s/diff?from=1&to=2", CTR);
	refused("GET", path, admin, NULL, 404, "contract_not_found");
	snprintf(path, sizeof path, "%s/proposals", CTR);
	refused("POST", path, S.bank_tok, "{\"base_version\":1,\"patch\":{\"violation_policy\":{\"freeze_after\":2}}}", 404,
		"contract_not_found");
	refused("POST", path, S.bank_tok, "{\"base_version\":\"1\"}", 404, "contract_not_found");
	refused("POST", path, admin, "{\"base_version\":1,\"patch\":{}}", 403, "forbidden");
	snprintf(path, sizeof path, "%s/accept", CTR);
	refused("POST", path, S.tax_tok, "{\"version\":1,\"document_hash\":\"sm3:00\"}", 404, "contract_not_found");
	refused("POST", path, admin, "{\"version\":1,\"document_hash\":\"sm3:00\"}", 403, "forbidden");
	static const char *const ops[] = {"suspend", "resume", "terminate"};
	for (size_t i = 0; i < 3; i++) {
		snprintf(path, sizeof path, "%s/%s", CTR, ops[i]);
		refused("POST", path, admin, "{\"reason\":\"检查\"}", 404, "contract_not_found");
		refused("POST", path, admin, "{}", 400, NULL);
		refused("POST", path, admin, "{\"reason\":\"x\",\"extra\":1}", 400, NULL);
		refused("POST", path, S.bank_tok, "{\"reason\":\"x\"}", 403, "forbidden");
	}
	/* node-only routes are refused to accounts and to anonymous callers */
	refused("GET", "/api/v1/contracts/feed", admin, NULL, 403, "forbidden");
	refused("GET", "/api/v1/contracts/feed", NULL, NULL, 401, "unauthenticated");
	snprintf(path, sizeof path, "%s/signatures", CTR);
	refused("POST", path, S.bank_tok, "{}", 403, "forbidden");
	snprintf(path, sizeof path, "%s/ack", CTR);
	refused("POST", path, S.bank_tok, "{\"version\":1,\"document_hash\":\"x\"}", 403, "forbidden");
	/* signing happens on a party's connector, never on the operator */
	snprintf(path, sizeof path, "%s/sign", CTR);
	refused("POST", path, admin, "{\"version\":1,\"document_hash\":\"sm3:00\"}", 422, "connector_only");
	refused("POST", path, admin, "[]", 400, NULL);
	/* and the node still answers */
	expect(tn_json(op, "GET", "/healthz", NULL, NULL, &out), 200, out, "healthz");
	json_decref(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_templates),
	    cmocka_unit_test(test_routes_refuse_bad_input),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
