/*
 * test_contract_routes.c — the operator's contract routes over HTTP and through the `tds contract` /
 * `tds order` CLI on a real operator node: templates listed, shown and versioned (by the operator
 * only), every route's bad input and wrong caller answered 4xx with its code (never 5xx), node-only
 * routes refused to accounts, the connector's signing route refused on the operator, and the CLI's
 * usage errors; then the contract lifecycle driven through the CLI alone across the operator and two
 * enrolled connectors: order, draft, a proposal, diff, acceptance, signing on each connector, filing,
 * activation by the connectors' acknowledgements, suspension, resumption and termination. The
 * enforcement story (tokens, decisions, freezes) is test_contracts.c.
 */
#include "harness.h"

#include "contract/contract.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <unistd.h>

#include "crypto/crypto.h"

static tn_node *op, *tax, *bank;
static char *admin, *tax_admin, *bank_admin;
static char env_op[300];
static char *const OP_ENV[] = {"TDS_LEDGER_CHECKPOINT_INTERVAL_S=0", NULL};
static char *con_env[] = {env_op, "TDS_LEDGER_CHECKPOINT_INTERVAL_S=0", "TDS_CONNECTOR_HEARTBEAT_INTERVAL_S=1",
			  "TDS_CONNECTOR_REVOCATION_POLL_S=1", NULL};
static struct {
	char tax_org[64], tax_tok[128], bank_org[64], bank_tok[128];
	char tax_con[64], tax_serial[64], bank_con[64], bank_serial[64];
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

/* Runs `tds --node N --token TOK ARGS`; *out the parsed stdout (may be NULL); the exit status. */
static int cli_on(tn_node *n, const char *tok, const char *args, json_t **out)
{
	char cmd[8192], *o = NULL;
	if (snprintf(cmd, sizeof cmd, "%s/tds --node %s --token %s %s 2>/dev/null", tn_bin_dir(), n->api, tok, args) >=
	    (int)sizeof cmd)
		fail_msg("command too long");
	int st = tn_run(cmd, &o);
	if (out)
		*out = o && *o ? json_loads(o, 0, NULL) : NULL;
	free(o);
	return st;
}

static int cli(const char *tok, const char *args, json_t **out) { return cli_on(op, tok, args, out); }

static int setup(void **state)
{
	(void)state;
	op = tn_init("operator", "gm");
	tax = tn_init("connector", "gm");
	bank = tn_init("connector", "gm");
	if (tn_start(op, OP_ENV) || !(admin = tn_login_admin(op)))
		return -1;
	snprintf(env_op, sizeof env_op, "TDS_NODE_OPERATOR_URL=%s", op->api);
	if (tn_start(tax, con_env) || tn_start(bank, con_env) || !(tax_admin = tn_login_admin(tax)) ||
	    !(bank_admin = tn_login_admin(bank)))
		return -1;
	if (tn_onboard_org(op, admin, "taxbureau", "某市税务局", "government", "91350100M000100Y43", "provider", S.tax_org,
			   S.tax_tok) ||
	    tn_onboard_org(op, admin, "citybank", "示例城市商业银行", "bank", "91370100780603055K", "consumer", S.bank_org,
			   S.bank_tok) ||
	    tn_enroll_connector(op, admin, S.tax_tok, tax, "tax-gateway", S.tax_con, S.tax_serial) ||
	    tn_enroll_connector(op, admin, S.bank_tok, bank, "bank-gateway", S.bank_con, S.bank_serial))
		return -1;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	free(admin);
	free(tax_admin);
	free(bank_admin);
	int a = tn_stop(tax), b = tn_stop(bank), c = tn_stop(op);
	tn_free(tax);
	tn_free(bank);
	tn_free(op);
	return a == 0 && b == 0 && c == 0 ? 0 : -1;
}

/* The connector's node key, read from its directory as tdsd does. */
static tds_key *node_key(tn_node *n)
{
	char p[512];
	tds_buf m = TDS_BUF_INIT;
	snprintf(p, sizeof p, "%s/master.key", n->dir);
	assert_int_equal(tds_file_read(p, 64, &m), 0);
	snprintf(p, sizeof p, "%s/node.key", n->dir);
	tds_key *k = NULL;
	assert_int_equal(tds_key_load_sealed(p, (const uint8_t *)m.data, &k), 0);
	memset(m.data, 0, m.len);
	tds_buf_free(&m);
	return k;
}

/* A request to the operator signed with the connector's key (RFC 9421); the status, *out the answer. */
static long signed_json(const char *method, const char *path, const tds_key *key, const char *keyid, const char *body,
			json_t **out)
{
	tds_http_client *c = tds_http_client_new(op->api, 10000);
	assert_int_equal(tds_http_client_set_signer(c, key, keyid), 0);
	const char *h[] = {"Content-Type: application/json", NULL};
	tds_http_response r = {0};
	int rc = tds_http_client_do(c, method, path, body ? h : NULL, body, body ? strlen(body) : 0, &r);
	tds_http_client_free(c);
	assert_int_equal(rc, 0);
	*out = r.body.len ? json_loadb(r.body.data, r.body.len, 0, NULL) : NULL;
	long st = r.status;
	tds_http_response_free(&r);
	return st;
}

static long signed_call(const char *method, const char *path, const tds_key *key, const char *keyid, const char *body)
{
	tds_http_client *c = tds_http_client_new(op->api, 10000);
	assert_int_equal(tds_http_client_set_signer(c, key, keyid), 0);
	const char *h[] = {"Content-Type: application/json", NULL};
	tds_http_response r = {0};
	int rc = tds_http_client_do(c, method, path, body ? h : NULL, body, body ? strlen(body) : 0, &r);
	tds_http_client_free(c);
	assert_int_equal(rc, 0);
	long st = r.status;
	tds_http_response_free(&r);
	return st;
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

/* `tds contract show` until the state is `want` (10 s at most). */
static void wait_state(const char *cid, const char *want)
{
	char args[256];
	snprintf(args, sizeof args, "contract show %s --json", cid);
	for (int i = 0; i < 100; i++) {
		json_t *out = NULL;
		int st = cli(admin, args, &out);
		bool done = st == 0 && !strcmp(tds_json_str(out, "state", ""), want);
		json_decref(out);
		if (done)
			return;
		usleep(100 * 1000);
	}
	fail_msg("contract %s never became %s", cid, want);
}

static void test_cli_lifecycle(void **state)
{
	(void)state;
	json_t *out = NULL;
	char args[4096], prd[TDS_ID_MAX], ord[64], cid[64], hash[128];
	/* the tax bureau's API product in the fused catalog, as its connector sends it */
	tds_id_new("prd", prd);
	char body[2048];
	snprintf(body, sizeof body,
		 "{\"entries\":[{\"kind\":\"product\",\"id\":\"%s\",\"version\":1,\"title\":\"企业纳税信息查询\","
		 "\"form\":\"api\",\"fields\":[{\"name\":\"name\"},{\"name\":\"tax_amount\"},{\"name\":\"id_no\"}],"
		 "\"scenarios\":[\"credit-risk\"],\"scope\":{\"scope\":\"space\"}}]}",
		 prd);
	tds_key *k = node_key(tax);
	assert_int_equal(signed_call("POST", "/api/v1/catalog/entries", k, S.tax_serial, body), 200);
	tds_key_free(k);
	/* the bank orders it; the operator drafts */
	snprintf(args, sizeof args,
		 "order create --product %s --action query --field name --field tax_amount --field id_no --purpose credit-risk "
		 "--from 2026-12-01T00:00:00Z --to 2027-06-30T00:00:00Z --count 1000 --rate 60/minute --env consumer-domain --json",
		 prd);
	assert_int_equal(cli(S.bank_tok, args, &out), 0);
	snprintf(ord, sizeof ord, "%s", tds_json_str(out, "id", ""));
	assert_int_equal(tds_json_int(json_object_get(out, "request"), "count", 0), 1000);
	json_decref(out);
	assert_int_equal(cli(S.bank_tok, "order list --json", &out), 0);
	assert_int_equal(json_array_size(json_object_get(out, "items")), 1);
	json_decref(out);
	snprintf(args, sizeof args, "order draft %s --json", ord);
	assert_int_equal(cli(S.bank_tok, args, &out), 1); /* not the operator */
	json_decref(out);
	assert_int_equal(cli(admin, args, &out), 0);
	snprintf(cid, sizeof cid, "%s", tds_json_str(out, "id", ""));
	assert_string_equal(tds_json_str(out, "state", ""), "draft");
	json_decref(out);
	snprintf(args, sizeof args, "order show %s --json", ord);
	assert_int_equal(cli(S.tax_tok, args, &out), 0);
	assert_string_equal(tds_json_str(out, "contract_id", ""), cid);
	json_decref(out);
	/* the tax bureau drops id_no: a patch of the policy, written to a file */
	snprintf(args, sizeof args, "contract version %s 1 --json", cid);
	assert_int_equal(cli(S.tax_tok, args, &out), 0);
	json_t *policy = json_deep_copy(json_object_get(json_object_get(out, "document"), "policy"));
	json_decref(out);
	size_t i;
	json_t *c;
	json_array_foreach(json_object_get(json_array_get(json_object_get(policy, "permission"), 0), "constraint"), i, c) {
		if (!strcmp(tds_json_str(c, "leftOperand", ""), "field"))
			json_object_set_new(c, "rightOperand", json_pack("[s, s]", "name", "tax_amount"));
	}
	char file[512];
	snprintf(file, sizeof file, "%s/patch.json", op->dir);
	json_t *patch = json_pack("{s:o}", "policy", policy);
	assert_int_equal(json_dump_file(patch, file, 0), 0);
	json_decref(patch);
	snprintf(args, sizeof args, "contract propose %s --base 1 --patch @%s --note '只开放两个字段' --json", cid, file);
	assert_int_equal(cli(S.tax_tok, args, &out), 0);
	assert_int_equal(tds_json_int(out, "version", 0), 2);
	assert_int_equal(json_array_size(json_object_get(out, "issues")), 0);
	snprintf(hash, sizeof hash, "%s", tds_json_str(out, "document_hash", ""));
	json_decref(out);
	snprintf(args, sizeof args, "contract diff %s --from 1 --to 2 --json", cid);
	assert_int_equal(cli(S.bank_tok, args, &out), 0);
	bool removed = false;
	json_array_foreach(json_object_get(out, "changes"), i, c) removed |= !strcmp(tds_json_str(c, "op", ""), "removed") &&
									 !strcmp(json_string_value(json_object_get(c, "old")), "id_no");
	assert_true(removed);
	json_decref(out);
	snprintf(args, sizeof args, "contract versions %s --json", cid);
	assert_int_equal(cli(S.bank_tok, args, &out), 0);
	assert_int_equal(json_array_size(json_object_get(out, "items")), 2);
	json_decref(out);
	/* both accept what they were shown; signing a hash nobody was shown is refused */
	snprintf(args, sizeof args, "contract accept %s --version 2 --hash %s --json", cid, hash);
	assert_int_equal(cli(S.tax_tok, args, &out), 0);
	json_decref(out);
	assert_int_equal(cli(S.bank_tok, args, &out), 0);
	json_decref(out);
	snprintf(args, sizeof args, "contract sign %s --version 2 --hash sm3:%064d --json", cid, 0);
	assert_int_equal(cli_on(tax, tax_admin, args, &out), 1);
	assert_string_equal(err_code(out), "document_hash_mismatch");
	json_decref(out);
	/* on the tax connector: a local account signs for the side its role covers, the provider's */
	json_t *acc = NULL;
	expect(tn_json(tax, "POST", "/api/v1/accounts", tax_admin,
		       "{\"username\":\"tax-clerk\",\"password\":\"" TN_PASSWORD "\",\"roles\":[\"consumer\"]}", &acc),
	       201, acc, "account");
	json_decref(acc);
	expect(tn_json(tax, "POST", "/api/v1/accounts", tax_admin,
		       "{\"username\":\"tax-signer\",\"password\":\"" TN_PASSWORD "\",\"roles\":[\"provider\"]}", &acc),
	       201, acc, "account");
	json_decref(acc);
	char *clerk = tn_login(tax, "tax-clerk", TN_PASSWORD), *signer = tn_login(tax, "tax-signer", TN_PASSWORD);
	assert_non_null(clerk);
	assert_non_null(signer);
	snprintf(args, sizeof args, "contract sign %s --version 2 --hash %s --json", cid, hash);
	assert_int_equal(cli_on(tax, clerk, args, &out), 1);
	assert_string_equal(err_code(out), "wrong_role");
	json_decref(out);
	snprintf(args, sizeof args, "contract sign %s --version 3 --hash %s --json", cid, hash);
	assert_int_equal(cli_on(tax, signer, args, &out), 1);
	assert_string_equal(err_code(out), "version_not_found");
	json_decref(out);
	snprintf(args, sizeof args, "contract sign %s --version 2 --hash %s --json", cid, hash);
	assert_int_equal(cli_on(tax, signer, args, &out), 0);
	assert_false(tds_json_bool(out, "filed", true));
	json_decref(out);
	free(clerk);
	assert_int_equal(cli_on(tax, tax_admin, args, &out), 1);
	assert_string_equal(err_code(out), "already_signed");
	json_decref(out);
	assert_int_equal(cli_on(bank, bank_admin, args, &out), 0);
	assert_true(tds_json_bool(out, "filed", false));
	const char *number = tds_json_str(json_object_get(json_object_get(out, "contract"), "filing"), "number", "");
	assert_int_equal(tds_contract_filing_parse(number, NULL, NULL), 0);
	json_decref(out);
	/* the connectors take it from the feed and acknowledge it */
	wait_state(cid, "active");
	/* the connector's own provider account reads the contract as the connector holds it (local
	   accounts are the connector organisation's, whatever their local org id) */
	char lpath[128];
	snprintf(lpath, sizeof lpath, "/api/v1/enforcement/contracts/%s", cid);
	for (int w = 0; w < 100; w++) {
		expect(tn_json(tax, "GET", lpath, tax_admin, NULL, &out), 200, out, "local contract (admin)");
		bool active = !strcmp(tds_json_str(out, "state", ""), "active");
		json_decref(out);
		if (active)
			break;
		usleep(100 * 1000);
	}
	expect(tn_json(tax, "GET", lpath, signer, NULL, &out), 200, out, "local contract (provider account)");
	assert_string_equal(tds_json_str(out, "role", ""), "provider");
	json_decref(out);
	free(signer);
	snprintf(args, sizeof args, "contract list --state active --json");
	assert_int_equal(cli(S.bank_tok, args, &out), 0);
	assert_int_equal(json_array_size(json_object_get(out, "items")), 1);
	json_decref(out);
	/* the operator suspends, resumes and terminates */
	snprintf(args, sizeof args, "contract suspend %s --reason '监管检查' --json", cid);
	assert_int_equal(cli(S.tax_tok, args, &out), 1);
	json_decref(out);
	assert_int_equal(cli(admin, args, &out), 0);
	assert_string_equal(tds_json_str(out, "state", ""), "suspended");
	json_decref(out);
	assert_int_equal(cli(admin, args, &out), 1);
	assert_string_equal(err_code(out), "invalid_state");
	json_decref(out);
	snprintf(args, sizeof args, "contract resume %s --reason '检查结束' --json", cid);
	assert_int_equal(cli(admin, args, &out), 0);
	assert_string_equal(tds_json_str(out, "state", ""), "active");
	json_decref(out);
	snprintf(args, sizeof args, "contract terminate %s --reason '协议终止' --json", cid);
	assert_int_equal(cli(admin, args, &out), 0);
	assert_string_equal(tds_json_str(out, "state", ""), "terminated");
	json_decref(out);

	/* the connector-facing routes with the tax connector's signature: the feed holds the story */
	k = node_key(tax);
	expect(signed_json("GET", "/api/v1/contracts/feed?after=0&limit=500", k, S.tax_serial, NULL, &out), 200, out, "feed");
	char kinds[256] = "";
	size_t o = 0;
	json_array_foreach(json_object_get(out, "items"), i, c) {
		if (!strcmp(tds_json_str(c, "contract_id", ""), cid))
			o += (size_t)snprintf(kinds + o, sizeof kinds - o, "%s%s", o ? "," : "", tds_json_str(c, "kind", ""));
	}
	json_decref(out);
	assert_string_equal(kinds, "filed,activated,suspended,resumed,terminated");
	static const char *const bad_feed[] = {"/api/v1/contracts/feed?after=abc", "/api/v1/contracts/feed?after=-1",
					       "/api/v1/contracts/feed?limit=0", "/api/v1/contracts/feed?limit=501"};
	for (i = 0; i < TDS_ARRAY_LEN(bad_feed); i++) {
		expect(signed_json("GET", bad_feed[i], k, S.tax_serial, NULL, &out), 400, out, bad_feed[i]);
		json_decref(out);
	}
	char path[256];
	snprintf(path, sizeof path, "/api/v1/contracts/%s/ack", cid);
	expect(signed_json("POST", path, k, S.tax_serial, "{\"version\":2}", &out), 400, out, "ack without hash");
	json_decref(out);
	snprintf(body, sizeof body, "{\"version\":2,\"document_hash\":\"%s\"}", hash);
	expect(signed_json("POST", path, k, S.tax_serial, body, &out), 409, out, "ack of a terminated contract");
	assert_string_equal(err_code(out), "invalid_state");
	json_decref(out);
	snprintf(path, sizeof path, "/api/v1/contracts/%s/signatures", cid);
	snprintf(body, sizeof body, "{\"org_id\":\"%s\",\"key_id\":\"%s\",\"alg\":\"sm2-sm3\",\"signature\":\"AAAA\"}",
		 S.bank_org, S.bank_serial);
	expect(signed_json("POST", path, k, S.tax_serial, body, &out), 422, out, "signature for another organisation");
	assert_string_equal(err_code(out), "wrong_organisation");
	json_decref(out);
	expect(signed_json("POST", path, k, S.tax_serial, "{\"org_id\":1}", &out), 400, out, "junk signature");
	json_decref(out);
	snprintf(path, sizeof path, "/api/v1/contracts/%s", cid);
	expect(signed_json("GET", path, k, S.tax_serial, NULL, &out), 200, out, "the contract, to a party's connector");
	assert_string_equal(tds_json_str(out, "state", ""), "terminated");
	assert_int_equal(json_array_size(json_object_get(out, "acks")), 2);
	json_decref(out);
	tds_key_free(k);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_templates),
	    cmocka_unit_test(test_routes_refuse_bad_input),
	    cmocka_unit_test(test_cli_lifecycle),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
