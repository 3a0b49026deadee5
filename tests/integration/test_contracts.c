/*
 * test_contracts.c — issue 6 end to end on real nodes: an operator and two enrolled connectors, a tax
 * bureau (provider) and a bank (consumer). The tax bureau's tax-data API product is in the
 * operator's fused catalog; the bank orders it; the operator drafts the contract; one negotiation
 * round narrows the fields; both accept and sign through their connectors; the operator files it;
 * both connectors acknowledge it (active); the bank gets a token; at the tax connector a decision
 * within the granted fields is permitted, one outside them denied; after freeze_after violations
 * the bank is frozen (permitted calls now deny with code frozen) and the operator sees the reports
 * and refuses new tokens; the operator unfreezes and the bank is permitted again; a revoked token
 * stops working at the tax connector. Bad input on every route of the enforcement side answers 4xx.
 */
#include "harness.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "contract/contract.h"
#include "crypto/crypto.h"

static tn_node *op, *tax, *bank;
static char *admin, *tax_admin;
static char env_op[300];
static char *const OP_ENV[] = {"TDS_LEDGER_CHECKPOINT_INTERVAL_S=0", NULL};
static char *con_env[] = {env_op, "TDS_LEDGER_CHECKPOINT_INTERVAL_S=0", "TDS_CONNECTOR_HEARTBEAT_INTERVAL_S=1",
			  "TDS_CONNECTOR_REVOCATION_POLL_S=1", NULL};

static struct {
	char tax_org[64], tax_tok[128], bank_org[64], bank_tok[128];
	char tax_con[64], tax_serial[64], bank_con[64], bank_serial[64];
	char product[64], order[64], contract[64], hash[128];
	char token[TDS_CONTRACT_TOKEN_MAX_LEN + 1], token_id[64];
	tds_key *tax_key;
} S;

static const char *err_code(json_t *out) { return tds_json_str(json_object_get(out, "error"), "code", ""); }

static void expect(long st, long want, json_t *out, const char *what)
{
	if (st != want)
		fail_msg("%s: HTTP %ld, wanted %ld (%s: %s)", what, st, want, err_code(out),
			 tds_json_str(json_object_get(out, "error"), "message", ""));
}

/* Expects status `want` and error `code`; frees the answer. */
static void refused(tn_node *n, const char *method, const char *path, const char *tok, const char *body, long want,
		    const char *code)
{
	json_t *out = NULL;
	long st = tn_json(n, method, path, tok, body, &out);
	expect(st, want, out, path);
	if (code && strcmp(err_code(out), code))
		fail_msg("%s %s: error %s (%s), wanted %s", method, path, err_code(out),
			 tds_json_str(json_object_get(out, "error"), "message", ""), code);
	json_decref(out);
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

/* A request to node n signed with key under keyid (RFC 9421); *out the JSON answer. */
static long signed_call(tn_node *n, const char *method, const char *path, const tds_key *key, const char *keyid,
			const char *body, json_t **out)
{
	tds_http_client *c = tds_http_client_new(n->api, 10000);
	assert_int_equal(tds_http_client_set_signer(c, key, keyid), 0);
	const char *h[] = {"Content-Type: application/json", NULL};
	tds_http_response r = {0};
	int rc = tds_http_client_do(c, method, path, body ? h : NULL, body, body ? strlen(body) : 0, &r);
	tds_http_client_free(c);
	assert_int_equal(rc, 0);
	if (out)
		*out = r.body.len ? json_loadb(r.body.data, r.body.len, 0, NULL) : NULL;
	long st = r.status;
	tds_http_response_free(&r);
	return st;
}

static int setup(void **state)
{
	(void)state;
	op = tn_init("operator", "gm");
	tax = tn_init("connector", "gm");
	bank = tn_init("connector", "gm");
	if (tn_start(op, OP_ENV))
		return -1;
	snprintf(env_op, sizeof env_op, "TDS_NODE_OPERATOR_URL=%s", op->api);
	if (tn_start(tax, con_env) || tn_start(bank, con_env))
		return -1;
	if (!(admin = tn_login_admin(op)) || !(tax_admin = tn_login_admin(tax)))
		return -1;
	if (tn_onboard_org(op, admin, "taxbureau", "某市税务局", "government", "91350100M000100Y43", "provider", S.tax_org,
			   S.tax_tok) ||
	    tn_onboard_org(op, admin, "citybank", "示例城市商业银行", "bank", "91370100780603055K", "consumer", S.bank_org,
			   S.bank_tok) ||
	    tn_enroll_connector(op, admin, S.tax_tok, tax, "tax-gateway", S.tax_con, S.tax_serial) ||
	    tn_enroll_connector(op, admin, S.bank_tok, bank, "bank-gateway", S.bank_con, S.bank_serial))
		return -1;
	S.tax_key = node_key(tax);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	free(admin);
	free(tax_admin);
	tds_key_free(S.tax_key);
	int a = tn_stop(tax), b = tn_stop(bank), c = tn_stop(op);
	tn_free(tax);
	tn_free(bank);
	tn_free(op);
	return a == 0 && b == 0 && c == 0 ? 0 : -1;
}

/* Polls GET path on n with tok until member `key` of the answer equals `want` (10 s at most). */
static json_t *wait_for(tn_node *n, const char *path, const char *tok, const char *key, const char *want)
{
	for (int i = 0; i < 100; i++) {
		json_t *out = NULL;
		long st = tn_json(n, "GET", path, tok, NULL, &out);
		if (st == 200 && strcmp(tds_json_str(out, key, ""), want) == 0)
			return out;
		json_decref(out);
		usleep(100 * 1000);
	}
	fail_msg("%s: %s never became %s", path, key, want);
	return NULL;
}

/* A decision at the tax connector with the bank's token: fields as JSON text. */
static json_t *decide(const char *fields, const char *purpose)
{
	json_t *body = json_pack("{s:s, s:s, s:s, s:s}", "token", S.token, "action", "query", "purpose", purpose, "client_ip",
				 "10.1.2.3"),
	       *f = NULL, *out = NULL;
	assert_int_equal(tds_json_parse(fields, strlen(fields), &f), 0);
	json_object_set_new(body, "fields", f);
	char *text = json_dumps(body, 0);
	long st = tn_json(tax, "POST", "/api/v1/decisions", NULL, text, &out);
	free(text);
	json_decref(body);
	expect(st, 200, out, "decision");
	return out;
}

static void expect_decision(json_t *d, const char *decision, const char *code)
{
	if (strcmp(tds_json_str(d, "decision", ""), decision) || strcmp(tds_json_str(d, "code", ""), code))
		fail_msg("decision %s/%s (%s), wanted %s/%s", tds_json_str(d, "decision", ""), tds_json_str(d, "code", ""),
			 tds_json_str(d, "reason", ""), decision, code);
}

static void get_token(void)
{
	char path[160];
	json_t *out = NULL;
	snprintf(path, sizeof path, "/api/v1/contracts/%s/tokens", S.contract);
	expect(tn_json(op, "POST", path, S.bank_tok, "{}", &out), 201, out, "token");
	snprintf(S.token, sizeof S.token, "%s", tds_json_str(out, "token", ""));
	snprintf(S.token_id, sizeof S.token_id, "%s", tds_json_str(out, "token_id", ""));
	assert_true(strncmp(S.token, "tds1.", 5) == 0);
	json_t *claims = json_object_get(out, "claims");
	assert_string_equal(tds_json_str(json_object_get(claims, "sub"), "org", ""), S.bank_org);
	assert_string_equal(tds_json_str(claims, "aud", ""), S.tax_org);
	json_decref(out);
}

/* The whole story, in order. */
static void test_order_to_enforcement(void **state)
{
	(void)state;
	json_t *out = NULL;
	char path[256], body[2048];
	/* 1. the tax bureau's API product in the operator's fused catalog (its connector's signed call) */
	char prd[TDS_ID_MAX];
	tds_id_new("prd", prd);
	snprintf(S.product, sizeof S.product, "%s", prd);
	snprintf(body, sizeof body,
		 "{\"entries\":[{\"kind\":\"product\",\"id\":\"%s\",\"version\":1,\"title\":\"企业纳税信息查询\","
		 "\"description\":\"按统一社会信用代码查询企业纳税信息\",\"form\":\"api\",\"domain\":\"tax\",\"tags\":[\"纳税\"],"
		 "\"fields\":[{\"name\":\"name\",\"label\":\"企业名称\",\"type\":\"text\"},"
		 "{\"name\":\"tax_amount\",\"label\":\"纳税额\",\"type\":\"decimal\"},"
		 "{\"name\":\"tax_grade\",\"label\":\"纳税信用等级\",\"type\":\"text\"},"
		 "{\"name\":\"id_no\",\"label\":\"法定代表人身份证号\",\"type\":\"text\"}],"
		 "\"scenarios\":[\"credit-risk\",\"anti-fraud\"],\"scope\":{\"scope\":\"space\"}}]}",
		 prd);
	expect(signed_call(op, "POST", "/api/v1/catalog/entries", S.tax_key, S.tax_serial, body, &out), 200, out, "entries");
	json_decref(out);
	/* 2. the bank orders it */
	snprintf(body, sizeof body,
		 "{\"product_id\":\"%s\",\"actions\":[\"query\"],\"fields\":[\"name\",\"tax_amount\",\"tax_grade\"],"
		 "\"purposes\":[\"credit-risk\"],\"count\":1000}",
		 prd);
	expect(tn_json(op, "POST", "/api/v1/orders", S.bank_tok, body, &out), 201, out, "order");
	snprintf(S.order, sizeof S.order, "%s", tds_json_str(out, "id", ""));
	json_decref(out);
	/* 3. the operator drafts the contract */
	snprintf(path, sizeof path, "/api/v1/orders/%s/contract", S.order);
	expect(tn_json(op, "POST", path, admin, "{}", &out), 201, out, "draft");
	snprintf(S.contract, sizeof S.contract, "%s", tds_json_str(out, "id", ""));
	json_decref(out);
	assert_true(strncmp(S.contract, "ctr_", 4) == 0);
	/* 4. one round: the tax bureau narrows the fields to name and tax_amount, freeze after 3 */
	snprintf(path, sizeof path, "/api/v1/contracts/%s/versions/1", S.contract);
	expect(tn_json(op, "GET", path, S.tax_tok, NULL, &out), 200, out, "version 1");
	json_t *policy = json_deep_copy(json_object_get(json_object_get(out, "document"), "policy"));
	json_decref(out);
	size_t i, j;
	json_t *perm, *c;
	bool narrowed = false;
	json_array_foreach(json_object_get(policy, "permission"), i, perm) {
		json_array_foreach(json_object_get(perm, "constraint"), j, c) {
			if (strcmp(tds_json_str(c, "leftOperand", ""), "field") == 0) {
				json_object_set_new(c, "rightOperand", json_pack("[s, s]", "name", "tax_amount"));
				narrowed = true;
			}
		}
	}
	assert_true(narrowed);
	json_t *prop = json_pack("{s:i, s:{s:o, s:{s:i}}, s:s}", "base_version", 1, "patch", "policy", policy,
				 "violation_policy", "freeze_after", 3, "note", "只开放企业名称和纳税额");
	char *text = json_dumps(prop, 0);
	json_decref(prop);
	snprintf(path, sizeof path, "/api/v1/contracts/%s/proposals", S.contract);
	expect(tn_json(op, "POST", path, S.tax_tok, text, &out), 201, out, "proposal");
	free(text);
	assert_int_equal(tds_json_int(out, "version", 0), 2);
	assert_int_equal(json_array_size(json_object_get(out, "issues")), 0);
	snprintf(S.hash, sizeof S.hash, "%s", tds_json_str(out, "document_hash", ""));
	json_decref(out);
	/* 5. both accept version 2, both sign it through their connectors; the operator files it */
	snprintf(body, sizeof body, "{\"version\":2,\"document_hash\":\"%s\"}", S.hash);
	snprintf(path, sizeof path, "/api/v1/contracts/%s/accept", S.contract);
	expect(tn_json(op, "POST", path, S.tax_tok, body, &out), 200, out, "accept (tax)");
	json_decref(out);
	expect(tn_json(op, "POST", path, S.bank_tok, body, &out), 200, out, "accept (bank)");
	json_decref(out);
	char *bank_admin = tn_login_admin(bank);
	snprintf(path, sizeof path, "/api/v1/contracts/%s/sign", S.contract);
	expect(tn_json(tax, "POST", path, tax_admin, body, &out), 200, out, "sign (tax)");
	json_decref(out);
	expect(tn_json(bank, "POST", path, bank_admin, body, &out), 200, out, "sign (bank)");
	json_decref(out);
	/* 6. both connectors receive it, check the countersignature and acknowledge: active */
	snprintf(path, sizeof path, "/api/v1/contracts/%s", S.contract);
	out = wait_for(op, path, admin, "state", "active");
	assert_non_null(json_object_get(out, "filing"));
	json_decref(out);
	snprintf(path, sizeof path, "/api/v1/enforcement/contracts/%s", S.contract);
	out = wait_for(tax, path, tax_admin, "state", "active");
	assert_string_equal(tds_json_str(out, "role", ""), "provider");
	assert_int_equal(tds_json_int(out, "version", 0), 2);
	assert_int_equal(tds_json_int(out, "freeze_after", 0), 3);
	json_decref(out);
	out = wait_for(bank, path, bank_admin, "state", "active");
	assert_string_equal(tds_json_str(out, "role", ""), "consumer");
	json_decref(out);
	/* 7. the bank's token; within the granted fields: permit, with the contract's obligations */
	get_token();
	out = decide("[\"name\",\"tax_amount\"]", "credit-risk");
	expect_decision(out, "permit", "permit");
	assert_int_equal(tds_json_int(out, "violations", -1), 0);
	assert_true(json_array_size(json_object_get(out, "obligations")) >= 1); /* log, from the template */
	json_decref(out);
	/* 8. outside the granted fields: denied, violations counted; the 3rd freezes */
	out = decide("[\"name\",\"id_no\"]", "credit-risk");
	expect_decision(out, "deny", "field_not_granted");
	assert_int_equal(tds_json_int(out, "violations", 0), 1);
	assert_false(tds_json_bool(out, "frozen", true));
	json_decref(out);
	out = decide("[\"tax_grade\"]", "credit-risk");
	expect_decision(out, "deny", "field_not_granted");
	assert_int_equal(tds_json_int(out, "violations", 0), 2);
	json_decref(out);
	out = decide("[\"name\"]", "marketing");
	assert_string_equal(tds_json_str(out, "decision", ""), "deny");
	assert_int_equal(tds_json_int(out, "violations", 0), 3);
	assert_true(tds_json_bool(out, "frozen", false));
	json_decref(out);
	out = decide("[\"name\",\"tax_amount\"]", "credit-risk");
	expect_decision(out, "deny", "frozen");
	json_decref(out);
	/* 9. the operator sees the reports (sent from the tax connector's outbox) and refuses tokens */
	snprintf(path, sizeof path, "/api/v1/violations?contract_id=%s", S.contract);
	json_t *reports = NULL;
	for (int k = 0; k < 100; k++) {
		json_decref(reports);
		reports = NULL;
		expect(tn_json(op, "GET", path, admin, NULL, &reports), 200, reports, "violations");
		if (json_array_size(json_object_get(reports, "items")) == 3)
			break;
		usleep(100 * 1000);
	}
	assert_int_equal(json_array_size(json_object_get(reports, "items")), 3);
	json_t *last = json_array_get(json_object_get(reports, "items"), 2);
	assert_true(tds_json_bool(last, "frozen", false));
	assert_string_equal(tds_json_str(last, "consumer_org", ""), S.bank_org);
	assert_string_equal(tds_json_str(json_array_get(json_object_get(reports, "items"), 0), "code", ""), "field_not_granted");
	assert_null(json_object_get(json_object_get(last, "request"), "client_ip")); /* no personal data */
	json_decref(reports);
	/* the parties see their own reports; the bank too */
	expect(tn_json(op, "GET", path, S.bank_tok, NULL, &out), 200, out, "violations (bank)");
	assert_int_equal(json_array_size(json_object_get(out, "items")), 3);
	json_decref(out);
	/* on the tax connector its own provider account sees its records (local accounts are the
	   connector organisation's) */
	expect(tn_json(tax, "POST", "/api/v1/accounts", tax_admin,
		       "{\"username\":\"tax-watch\",\"password\":\"" TN_PASSWORD "\",\"roles\":[\"provider\"]}", &out),
	       201, out, "account");
	json_decref(out);
	char *watch = tn_login(tax, "tax-watch", TN_PASSWORD);
	assert_non_null(watch);
	expect(tn_json(tax, "GET", path, watch, NULL, &out), 200, out, "local violations (provider account)");
	assert_int_equal(json_array_size(json_object_get(out, "items")), 3);
	json_decref(out);
	free(watch);
	snprintf(path, sizeof path, "/api/v1/contracts/%s/tokens", S.contract);
	refused(op, "POST", path, S.bank_tok, "{}", 409, "contract_frozen");
	/* 10. the operator unfreezes after review; the tax connector applies it; permitted again */
	snprintf(path, sizeof path, "/api/v1/contracts/%s/unfreeze", S.contract);
	refused(op, "POST", path, admin, "{}", 400, NULL);
	refused(op, "POST", path, S.bank_tok, "{\"reason\":\"please\"}", 403, NULL);
	expect(tn_json(op, "POST", path, admin, "{\"reason\":\"已核查：客户端配置错误，已整改\"}", &out), 200, out, "unfreeze");
	json_decref(out);
	refused(op, "POST", path, admin, "{\"reason\":\"again\"}", 409, "not_frozen");
	bool permitted = false;
	for (int k = 0; k < 100 && !permitted; k++) {
		out = decide("[\"name\",\"tax_amount\"]", "credit-risk");
		permitted = strcmp(tds_json_str(out, "decision", ""), "permit") == 0;
		if (permitted)
			assert_int_equal(tds_json_int(out, "violations", -1), 0);
		json_decref(out);
		if (!permitted)
			usleep(100 * 1000);
	}
	assert_true(permitted);
	snprintf(path, sizeof path, "/api/v1/enforcement/contracts/%s", S.contract);
	expect(tn_json(tax, "GET", path, tax_admin, NULL, &out), 200, out, "local contract");
	assert_false(tds_json_bool(out, "frozen", true));
	json_decref(out);
	/* new tokens again; the bank revokes its first one; the tax connector learns it from the feed */
	char first[TDS_CONTRACT_TOKEN_MAX_LEN + 1], first_id[64];
	snprintf(first, sizeof first, "%s", S.token);
	snprintf(first_id, sizeof first_id, "%s", S.token_id);
	get_token();
	snprintf(path, sizeof path, "/api/v1/contracts/%s/tokens/%s/revoke", S.contract, first_id);
	expect(tn_json(op, "POST", path, S.bank_tok, "{\"reason\":\"轮换\"}", &out), 200, out, "revoke");
	json_decref(out);
	refused(op, "POST", path, S.bank_tok, "{\"reason\":\"again\"}", 409, "already_revoked");
	json_t *b = json_pack("{s:s, s:s, s:[s], s:s}", "token", first, "action", "query", "fields", "name", "purpose",
			      "credit-risk");
	text = json_dumps(b, 0);
	json_decref(b);
	long st = 0;
	for (int k = 0; k < 100 && st != 401; k++) {
		out = NULL;
		st = tn_json(tax, "POST", "/api/v1/decisions", NULL, text, &out);
		if (st == 401)
			assert_string_equal(err_code(out), "token_revoked");
		json_decref(out);
		if (st != 401)
			usleep(100 * 1000);
	}
	free(text);
	assert_int_equal(st, 401);
	out = decide("[\"name\"]", "credit-risk"); /* the new token still works */
	expect_decision(out, "permit", "permit");
	json_decref(out);
	free(bank_admin);
}

/* Bad input on every enforcement route: 4xx, never 5xx, nothing changed. */
static void test_bad_input(void **state)
{
	(void)state;
	char path[256], body[TDS_CONTRACT_TOKEN_MAX_LEN + 512];
	/* decisions */
	refused(tax, "POST", "/api/v1/decisions", NULL, "{\"action\":\"query\"}", 400, "invalid_request");
	refused(tax, "POST", "/api/v1/decisions", NULL, "not json", 400, "invalid_json");
	refused(tax, "POST", "/api/v1/decisions", NULL, "{\"token\":\"tds1.a.b\",\"action\":\"sell\"}", 400, "invalid_action");
	refused(tax, "POST", "/api/v1/decisions", NULL, "{\"token\":\"tds1.a.b\",\"action\":\"use\"}", 400, "invalid_action");
	refused(tax, "POST", "/api/v1/decisions", NULL, "{\"token\":\"x\",\"action\":\"query\"}", 400, "token_malformed");
	refused(tax, "POST", "/api/v1/decisions", NULL, "{\"token\":\"tds1.A.AAAA\",\"action\":\"query\"}", 400,
		"token_bad_encoding");
	refused(tax, "POST", "/api/v1/decisions", NULL, "{\"token\":\"x\",\"action\":\"query\",\"extra\":1}", 400, NULL);
	refused(tax, "POST", "/api/v1/decisions", NULL, "{\"token\":\"x\",\"action\":\"query\",\"fields\":[1]}", 400, NULL);
	snprintf(body, sizeof body, "{\"token\":\"%s\",\"contract_id\":\"%s\",\"action\":\"query\"}", S.token, S.contract);
	refused(tax, "POST", "/api/v1/decisions", NULL, body, 400, "invalid_request");
	snprintf(body, sizeof body, "{\"token\":\"%s\",\"account\":\"acc_01JAAAAAAAAAAAAAAAAAAAAAAA\",\"action\":\"query\"}",
		 S.token);
	refused(tax, "POST", "/api/v1/decisions", NULL, body, 400, "invalid_request");
	snprintf(body, sizeof body, "{\"token\":\"%s\",\"action\":\"query\",\"acquired_at\":\"yesterday\"}", S.token);
	refused(tax, "POST", "/api/v1/decisions", NULL, body, 400, "invalid_request");
	snprintf(body, sizeof body, "{\"token\":\"%s\",\"action\":\"query\",\"client_ip\":\"999.1.1.1\"}", S.token);
	refused(tax, "POST", "/api/v1/decisions", NULL, body, 400, "invalid_request");
	/* an oversized token */
	memset(body, 0, sizeof body);
	strcpy(body, "{\"action\":\"query\",\"token\":\"tds1.");
	memset(body + strlen(body), 'A', TDS_CONTRACT_TOKEN_MAX_LEN + 10);
	strcat(body, "\"}");
	refused(tax, "POST", "/api/v1/decisions", NULL, body, 413, "token_too_large");
	/* by contract id: only this connector's admin or provider accounts */
	snprintf(body, sizeof body, "{\"contract_id\":\"%s\",\"action\":\"query\",\"fields\":[\"name\"],\"purpose\":\"credit-risk\"}",
		 S.contract);
	refused(tax, "POST", "/api/v1/decisions", NULL, body, 401, "credentials_required");
	json_t *out = NULL;
	expect(tn_json(tax, "POST", "/api/v1/decisions", tax_admin, body, &out), 200, out, "decision by contract id");
	expect_decision(out, "permit", "permit");
	json_decref(out);
	snprintf(body, sizeof body, "{\"contract_id\":\"ctr_01JAAAAAAAAAAAAAAAAAAAAAAA\",\"action\":\"query\"}");
	refused(tax, "POST", "/api/v1/decisions", tax_admin, body, 404, "contract_not_found");
	snprintf(body, sizeof body, "{\"contract_id\":\"../x\",\"action\":\"query\"}");
	refused(tax, "POST", "/api/v1/decisions", tax_admin, body, 400, "invalid_request");
	/* the consumer's connector does not enforce; the operator makes no decisions */
	snprintf(body, sizeof body, "{\"token\":\"%s\",\"action\":\"query\",\"fields\":[\"name\"]}", S.token);
	refused(bank, "POST", "/api/v1/decisions", NULL, body, 403, "token_wrong_audience");
	refused(op, "POST", "/api/v1/decisions", NULL, body, 409, "not_a_connector");
	/* tokens */
	refused(op, "POST", "/api/v1/contracts/ctr_01JAAAAAAAAAAAAAAAAAAAAAAA/tokens", S.bank_tok, "{}", 404, "contract_not_found");
	refused(op, "POST", "/api/v1/contracts/..%2Fx/tokens", S.bank_tok, "{}", 400, "invalid_path");
	snprintf(path, sizeof path, "/api/v1/contracts/%s/tokens", S.contract);
	refused(op, "POST", path, S.bank_tok, "{\"ttl\":1}", 400, "invalid_body");
	refused(op, "POST", path, S.tax_tok, "{}", 403, NULL); /* the provider's account: not a consumer role */
	refused(op, "POST", path, admin, "{}", 403, NULL);
	refused(op, "POST", path, NULL, "{}", 401, NULL);
	refused(tax, "POST", path, tax_admin, "{}", 403, NULL);
	snprintf(path, sizeof path, "/api/v1/contracts/%s/tokens/tok_01JAAAAAAAAAAAAAAAAAAAAAAA/revoke", S.contract);
	refused(op, "POST", path, S.bank_tok, "{\"reason\":\"x\"}", 404, "token_not_found");
	snprintf(path, sizeof path, "/api/v1/contracts/%s/tokens/%s/revoke", S.contract, S.token_id);
	refused(op, "POST", path, S.bank_tok, "{}", 400, NULL);
	refused(op, "POST", path, S.bank_tok, "{\"reason\":\"\"}", 400, "reason_required");
	refused(op, "POST", path, S.bank_tok, "{\"reason\":\"x\",\"more\":1}", 400, NULL);
	refused(op, "POST", path, S.tax_tok, "{\"reason\":\"x\"}", 403, NULL);
	/* unfreeze */
	refused(op, "POST", "/api/v1/contracts/ctr_01JAAAAAAAAAAAAAAAAAAAAAAA/unfreeze", admin, "{\"reason\":\"x\"}", 404,
		"contract_not_found");
	/* violation reports come from the provider's connector only */
	refused(op, "POST", "/api/v1/violations", admin, "{}", 403, NULL);
	json_t *report = json_pack("{s:s, s:s, s:i, s:s, s:s, s:s, s:s, s:s, s:b, s:b, s:i, s:{}, s:s}", "id",
				   "vio_01JAAAAAAAAAAAAAAAAAAAAAAA", "contract_id", S.contract, "version", 2, "consumer_org",
				   S.bank_org, "provider_org", S.tax_org, "code", "field_not_granted", "clause", "x", "reason",
				   "x", "serious", 0, "frozen", 1, "violations", 9, "request", "at", "2026-01-01T00:00:00Z");
	char *text = json_dumps(report, 0);
	tds_key *bank_key = node_key(bank);
	expect(signed_call(op, "POST", "/api/v1/violations", bank_key, S.bank_serial, text, &out), 403, out, "bank reports");
	assert_string_equal(err_code(out), "not_the_provider");
	json_decref(out);
	expect(signed_call(op, "POST", "/api/v1/violations", S.tax_key, S.tax_serial, "{\"id\":1}", &out), 400, out, "junk");
	json_decref(out);
	json_object_set_new(report, "id", json_string("../x"));
	free(text);
	text = json_dumps(report, 0);
	expect(signed_call(op, "POST", "/api/v1/violations", S.tax_key, S.tax_serial, text, &out), 400, out, "bad id");
	assert_string_equal(err_code(out), "invalid_report");
	json_decref(out);
	json_object_set_new(report, "id", json_string("vio_01JAAAAAAAAAAAAAAAAAAAAAAA"));
	json_object_set_new(report, "consumer_org", json_string(S.tax_org));
	free(text);
	text = json_dumps(report, 0);
	expect(signed_call(op, "POST", "/api/v1/violations", S.tax_key, S.tax_serial, text, &out), 400, out, "wrong party");
	assert_string_equal(err_code(out), "invalid_report");
	json_decref(out);
	free(text);
	json_decref(report);
	tds_key_free(bank_key);
	/* listing */
	refused(op, "GET", "/api/v1/violations?cursor=../x", admin, NULL, 400, "invalid_cursor");
	refused(op, "GET", "/api/v1/violations?contract_id=x", admin, NULL, 400, "invalid_contract_id");
	refused(op, "GET", "/api/v1/violations?limit=0", admin, NULL, 400, "invalid_limit");
	refused(op, "GET", "/api/v1/violations", NULL, NULL, 401, NULL);
	refused(tax, "GET", "/api/v1/enforcement/contracts/ctr_01JAAAAAAAAAAAAAAAAAAAAAAA", tax_admin, NULL, 404,
		"contract_not_found");
	refused(tax, "GET", "/api/v1/enforcement/contracts/x", tax_admin, NULL, 404, "contract_not_found");
	refused(op, "GET", "/api/v1/enforcement/contracts/x", admin, NULL, 409, "not_a_connector");
	/* the connector's own records */
	expect(tn_json(tax, "GET", "/api/v1/violations?limit=2", tax_admin, NULL, &out), 200, out, "local violations");
	assert_int_equal(json_array_size(json_object_get(out, "items")), 2);
	assert_true(json_is_string(json_object_get(out, "next_cursor")));
	json_decref(out);
	/* the nodes stay healthy */
	assert_int_equal(tn_json(tax, "GET", "/healthz", NULL, NULL, NULL), 200);
	assert_int_equal(tn_json(op, "GET", "/healthz", NULL, NULL, NULL), 200);
}

/* A token bound to the bank's connector works only in that connector's signed calls. */
static void test_connector_bound_token(void **state)
{
	(void)state;
	char path[160];
	json_t *out = NULL;
	tds_key *bank_key = node_key(bank);
	snprintf(path, sizeof path, "/api/v1/contracts/%s/tokens", S.contract);
	expect(signed_call(op, "POST", path, bank_key, S.bank_serial, "{}", &out), 201, out, "connector token");
	json_t *sub = json_object_get(json_object_get(out, "claims"), "sub");
	assert_non_null(json_object_get(sub, "connector"));
	assert_null(json_object_get(sub, "account"));
	json_t *b = json_pack("{s:s, s:s, s:[s], s:s}", "token", tds_json_str(out, "token", ""), "action", "query", "fields",
			      "name", "purpose", "credit-risk");
	char *text = json_dumps(b, 0);
	json_decref(b);
	json_decref(out);
	refused(tax, "POST", "/api/v1/decisions", NULL, text, 403, "token_wrong_connector");
	expect(signed_call(tax, "POST", "/api/v1/decisions", bank_key, S.bank_serial, text, &out), 200, out, "signed decision");
	expect_decision(out, "permit", "permit");
	json_decref(out);
	/* the tax connector's own signed call is another connector */
	expect(signed_call(tax, "POST", "/api/v1/decisions", S.tax_key, S.tax_serial, text, &out), 403, out, "other signer");
	assert_string_equal(err_code(out), "token_wrong_connector");
	json_decref(out);
	free(text);
	tds_key_free(bank_key);
}

/* The tax connector restarts: the contract, its state and its counters are what they were. */
static void test_restart_keeps_counters(void **state)
{
	(void)state;
	char path[160];
	json_t *before = NULL, *after = NULL;
	snprintf(path, sizeof path, "/api/v1/enforcement/contracts/%s", S.contract);
	expect(tn_json(tax, "GET", path, tax_admin, NULL, &before), 200, before, "before");
	int64_t used = tds_json_int(json_array_get(json_object_get(json_object_get(before, "counters"), "counters"), 0), "used", -1);
	assert_true(used >= 4); /* the permits of the tests before */
	assert_int_equal(tn_stop(tax), 0);
	assert_int_equal(tn_start(tax, con_env), 0);
	expect(tn_json(tax, "GET", path, tax_admin, NULL, &after), 200, after, "after");
	assert_string_equal(tds_json_str(after, "state", ""), "active");
	assert_int_equal(tds_json_int(json_array_get(json_object_get(json_object_get(after, "counters"), "counters"), 0), "used", -2),
			 used);
	json_decref(before);
	json_decref(after);
	/* and it goes on counting from there */
	json_t *out = decide("[\"name\"]", "credit-risk");
	expect_decision(out, "permit", "permit");
	json_decref(out);
	expect(tn_json(tax, "GET", path, tax_admin, NULL, &after), 200, after, "after a use");
	assert_int_equal(tds_json_int(json_array_get(json_object_get(json_object_get(after, "counters"), "counters"), 0), "used", -2),
			 used + 1);
	json_decref(after);
}

/* Polls decisions (name, credit-risk) at the tax connector until the code is `code` (10 s at most). */
static void wait_decision(const char *code)
{
	for (int k = 0; k < 100; k++) {
		json_t *out = decide("[\"name\"]", "credit-risk");
		bool done = strcmp(tds_json_str(out, "code", ""), code) == 0;
		json_decref(out);
		if (done)
			return;
		usleep(100 * 1000);
	}
	fail_msg("the tax connector never answered %s", code);
}

/* The operator suspends and resumes the contract: effective on the connector within a sync pass, and
 * the refusals while suspended are not violations. */
static void test_suspend_effective_on_connector(void **state)
{
	(void)state;
	char path[160];
	json_t *out = NULL;
	snprintf(path, sizeof path, "/api/v1/contracts/%s/suspend", S.contract);
	expect(tn_json(op, "POST", path, admin, "{\"reason\":\"履约审计\"}", &out), 200, out, "suspend");
	json_decref(out);
	wait_decision("contract_suspended");
	out = decide("[\"id_no\"]", "credit-risk"); /* outside the fields, but the contract is not in force */
	expect_decision(out, "deny", "contract_suspended");
	assert_int_equal(tds_json_int(out, "violations", -1), 0);
	json_decref(out);
	snprintf(path, sizeof path, "/api/v1/contracts/%s/tokens", S.contract);
	refused(op, "POST", path, S.bank_tok, "{}", 409, "contract_not_active");
	snprintf(path, sizeof path, "/api/v1/contracts/%s/resume", S.contract);
	expect(tn_json(op, "POST", path, admin, "{\"reason\":\"审计完成\"}", &out), 200, out, "resume");
	json_decref(out);
	wait_decision("permit");
}

/* The same through `tds`: a token, a decision with it, the violations, a connector's copy, usage errors. */
static void test_cli(void **state)
{
	(void)state;
	char cmd[8192];
	char *out = NULL;
	json_t *j;
	snprintf(cmd, sizeof cmd, "%s/tds --node %s --token %s token create %s --json", tn_bin_dir(), op->api, S.bank_tok,
		 S.contract);
	assert_int_equal(tn_run(cmd, &out), 0);
	j = json_loads(out, 0, NULL);
	assert_non_null(j);
	char tok[TDS_CONTRACT_TOKEN_MAX_LEN + 1];
	snprintf(tok, sizeof tok, "%s", tds_json_str(j, "token", ""));
	json_decref(j);
	free(out);
	snprintf(cmd, sizeof cmd,
		 "TDS_USAGE_TOKEN=%s %s/tds --node %s decision --action query --field name --field tax_amount --purpose "
		 "credit-risk --json",
		 tok, tn_bin_dir(), tax->api);
	assert_int_equal(tn_run(cmd, &out), 0);
	j = json_loads(out, 0, NULL);
	expect_decision(j, "permit", "permit");
	json_decref(j);
	free(out);
	snprintf(cmd, sizeof cmd, "TDS_USAGE_TOKEN=%s %s/tds --node %s decision --action query --field id_no --json", tok,
		 tn_bin_dir(), tax->api);
	assert_int_equal(tn_run(cmd, &out), 0); /* a deny is an answer, not a failure */
	j = json_loads(out, 0, NULL);
	assert_string_equal(tds_json_str(j, "decision", ""), "deny");
	json_decref(j);
	free(out);
	snprintf(cmd, sizeof cmd, "%s/tds --node %s --token %s violation list --contract %s --json", tn_bin_dir(), op->api,
		 admin, S.contract);
	assert_int_equal(tn_run(cmd, &out), 0);
	j = json_loads(out, 0, NULL);
	assert_true(json_array_size(json_object_get(j, "items")) >= 3);
	json_decref(j);
	free(out);
	snprintf(cmd, sizeof cmd, "%s/tds --node %s --token %s violation contract %s --json", tn_bin_dir(), tax->api,
		 tax_admin, S.contract);
	assert_int_equal(tn_run(cmd, &out), 0);
	j = json_loads(out, 0, NULL);
	assert_string_equal(tds_json_str(j, "role", ""), "provider");
	json_decref(j);
	free(out);
	/* refusals and usage errors */
	snprintf(cmd, sizeof cmd, "%s/tds --node %s --token %s violation unfreeze %s --reason r --json", tn_bin_dir(), op->api,
		 admin, S.contract);
	assert_int_equal(tn_run(cmd, &out), 1); /* not frozen: 409 */
	free(out);
	snprintf(cmd, sizeof cmd, "%s/tds --node %s violation unfreeze %s 2>/dev/null", tn_bin_dir(), op->api, S.contract);
	assert_int_equal(tn_run(cmd, &out), 2);
	free(out);
	snprintf(cmd, sizeof cmd, "%s/tds --node %s decision --action query 2>/dev/null", tn_bin_dir(), tax->api);
	assert_int_equal(tn_run(cmd, &out), 2);
	free(out);
	snprintf(cmd, sizeof cmd, "%s/tds --node %s token create x 2>/dev/null", tn_bin_dir(), op->api);
	assert_int_equal(tn_run(cmd, &out), 2);
	free(out);
}

/* An amendment (临时扩容: a larger count) goes through the same signing; the connectors take version 3
 * in force with the counters carried over. */
static void test_amendment(void **state)
{
	(void)state;
	char path[256], body[512];
	json_t *out = NULL, *before = NULL;
	snprintf(path, sizeof path, "/api/v1/enforcement/contracts/%s", S.contract);
	expect(tn_json(tax, "GET", path, tax_admin, NULL, &before), 200, before, "before");
	int64_t used = tds_json_int(json_array_get(json_object_get(json_object_get(before, "counters"), "counters"), 0), "used", -1);
	json_decref(before);
	snprintf(path, sizeof path, "/api/v1/contracts/%s", S.contract);
	expect(tn_json(op, "GET", path, S.tax_tok, NULL, &out), 200, out, "contract");
	int64_t latest = tds_json_int(out, "version", 0);
	json_t *policy = json_deep_copy(json_object_get(json_object_get(out, "document"), "policy"));
	json_decref(out);
	size_t i, j;
	json_t *perm, *c;
	json_array_foreach(json_object_get(policy, "permission"), i, perm) {
		json_array_foreach(json_object_get(perm, "constraint"), j, c) {
			if (strcmp(tds_json_str(c, "leftOperand", ""), "count") == 0)
				json_object_set_new(c, "rightOperand", json_integer(2000));
		}
	}
	json_t *prop = json_pack("{s:I, s:{s:o}, s:s}", "base_version", (json_int_t)latest, "patch", "policy", policy, "note",
				 "临时扩容");
	char *text = json_dumps(prop, 0);
	json_decref(prop);
	snprintf(path, sizeof path, "/api/v1/contracts/%s/proposals", S.contract);
	expect(tn_json(op, "POST", path, S.bank_tok, text, &out), 201, out, "amendment proposal");
	free(text);
	int64_t v = tds_json_int(out, "version", 0);
	assert_int_equal(v, latest + 1);
	snprintf(body, sizeof body, "{\"version\":%lld,\"document_hash\":\"%s\"}", (long long)v, tds_json_str(out, "document_hash", ""));
	json_decref(out);
	snprintf(path, sizeof path, "/api/v1/contracts/%s/accept", S.contract);
	expect(tn_json(op, "POST", path, S.tax_tok, body, &out), 200, out, "accept (tax)");
	json_decref(out);
	expect(tn_json(op, "POST", path, S.bank_tok, body, &out), 200, out, "accept (bank)");
	json_decref(out);
	char *bank_admin = tn_login_admin(bank);
	snprintf(path, sizeof path, "/api/v1/contracts/%s/sign", S.contract);
	expect(tn_json(tax, "POST", path, tax_admin, body, &out), 200, out, "sign (tax)");
	json_decref(out);
	expect(tn_json(bank, "POST", path, bank_admin, body, &out), 200, out, "sign (bank)");
	json_decref(out);
	free(bank_admin);
	/* the tax connector takes it in force, still active, with what was used */
	bool done = false;
	for (int k = 0; k < 100 && !done; k++) {
		json_t *d = decide("[\"name\"]", "credit-risk");
		done = tds_json_int(d, "version", 0) == v;
		if (done) {
			expect_decision(d, "permit", "permit");
		}
		json_decref(d);
		if (!done)
			usleep(100 * 1000);
	}
	assert_true(done);
	snprintf(path, sizeof path, "/api/v1/enforcement/contracts/%s", S.contract);
	expect(tn_json(tax, "GET", path, tax_admin, NULL, &out), 200, out, "after");
	assert_string_equal(tds_json_str(out, "state", ""), "active");
	assert_int_equal(tds_json_int(out, "version", 0), v);
	assert_true(tds_json_int(json_array_get(json_object_get(json_object_get(out, "counters"), "counters"), 0), "used", -1) > used);
	json_decref(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_order_to_enforcement),
	    cmocka_unit_test(test_bad_input),
	    cmocka_unit_test(test_connector_bound_token),
	    cmocka_unit_test(test_restart_keeps_counters),
	    cmocka_unit_test(test_suspend_effective_on_connector),
	    cmocka_unit_test(test_cli),
	    cmocka_unit_test(test_amendment),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
