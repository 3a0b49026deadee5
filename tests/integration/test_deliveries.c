/*
 * test_deliveries.c — issue 8's data plane on real nodes: an operator and two enrolled connectors, a
 * tax bureau (provider) and a bank (consumer). The bureau imports a CSV holding legal
 * representatives' resident ID numbers and mobile numbers, registers and has reviewed the resource,
 * packages an API product and a dataset product, has them reviewed and lists them; the bank orders
 * both; the bureau adds the white paper's mask duties in a negotiation round (resident ID keeps its
 * first 6 and last 4, mobile its first 3 and last 4); both sign; the contracts reach both
 * connectors. Then, at the bureau's data listener with the bank's token: a permitted query returns
 * masked rows, page by page and as CSV; a field outside the grant is 403 with the clause; the
 * count runs out; the dataset export streams every row masked, resumable from its cursor; the
 * bank's connector confirms receipts (evidenced) and a receipt over other bytes is refused. Bad
 * input on every route answers 4xx and charges nothing.
 *
 * Tests run in order and build on each other.
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
#include <sqlite3.h>

#include "contract/contract.h"
#include "crypto/crypto.h"

static const char TAX_CSV[] = "纳税人识别号,企业名称,法定代表人身份证号,联系电话,所属行业,年度,纳税额\n"
			      "91310110666007217T,上海某贸易有限公司,11010119900307299X,13812345678,批发业,2025,8800.00\n"
			      "91330101589882738D,杭州某科技有限公司,110101199003074477,13987654321,软件业,2025,12000.50\n"
			      "91350500676532779B,泉州某制造有限公司,430102197606046442,15011112222,制造业,2026,3300.00\n";

static tn_node *op, *tax, *bank;
static char *admin, *tax_admin;
static char env_op[300];
static char *const OP_ENV[] = {"TDS_LEDGER_CHECKPOINT_INTERVAL_S=0", NULL};
static char *con_env[] = {env_op, "TDS_LEDGER_CHECKPOINT_INTERVAL_S=0", "TDS_CONNECTOR_HEARTBEAT_INTERVAL_S=1",
			  "TDS_CONNECTOR_REVOCATION_POLL_S=1", NULL};

static struct {
	char tax_org[64], tax_tok[128], bank_org[64], bank_tok[128];
	char tax_con[64], tax_serial[64], bank_con[64], bank_serial[64];
	char rev1[160], rev2[160];
	char resource[64], api[64], dataset[64];
	char api_contract[64], ds_contract[64];
	char api_token[TDS_CONTRACT_TOKEN_MAX_LEN + 1], ds_token[TDS_CONTRACT_TOKEN_MAX_LEN + 1];
	char delivery[64], hash[128], export_delivery[64], export_hash[128];
	char rf_product[64], rf_token[TDS_CONTRACT_TOKEN_MAX_LEN + 1], rf_pseudonym[40];
	tds_key *bank_key;
} S;

/* ---- helpers ---- */

static const char *err_code(json_t *out) { return tds_json_str(json_object_get(out, "error"), "code", ""); }

static void expect(long st, long want, json_t *out, const char *what)
{
	if (st != want)
		fail_msg("%s: HTTP %ld, wanted %ld (%s: %s)", what, st, want, err_code(out),
			 tds_json_str(json_object_get(out, "error"), "message", ""));
}

static long post(tn_node *n, const char *path, const char *tok, json_t *body, json_t **out)
{
	char *text = json_dumps(body, 0);
	long st = tn_json(n, "POST", path, tok, text, out);
	free(text);
	json_decref(body);
	return st;
}

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

/* One answer of the data plane, raw. */
typedef struct answer {
	long status;
	tds_buf body;
	json_t *json; /* parsed when the body is JSON */
	char delivery[64], hash[128], next[32], rows[16], content_type[128];
} answer;

static void answer_free(answer *a)
{
	tds_buf_free(&a->body);
	json_decref(a->json);
	memset(a, 0, sizeof *a);
}

/* A request to n (data listener when data, else the API), with a bearer token (may be NULL), extra
 * headers and a body; signed by key/keyid when key is given. */
static void call(tn_node *n, bool data, const char *method, const char *path, const char *bearer, const char *accept,
		 const char *body, const tds_key *key, const char *keyid, answer *a)
{
	memset(a, 0, sizeof *a);
	tds_http_client *c = tds_http_client_new(data ? n->data : n->api, 10000);
	if (key)
		assert_int_equal(tds_http_client_set_signer(c, key, keyid), 0);
	char auth[TDS_CONTRACT_TOKEN_MAX_LEN + 32], acc[80];
	const char *h[4];
	size_t k = 0;
	if (bearer) {
		snprintf(auth, sizeof auth, "Authorization: Bearer %s", bearer);
		h[k++] = auth;
	}
	if (accept) {
		snprintf(acc, sizeof acc, "Accept: %s", accept);
		h[k++] = acc;
	}
	if (body)
		h[k++] = "Content-Type: application/json";
	h[k] = NULL;
	tds_http_response r = {0};
	assert_int_equal(tds_http_client_do(c, method, path, h, body, body ? strlen(body) : 0, &r), 0);
	tds_http_client_free(c);
	a->status = r.status;
	a->body = r.body;
	r.body = (tds_buf)TDS_BUF_INIT;
	snprintf(a->content_type, sizeof a->content_type, "%s", r.content_type);
	tds_http_response_header(&r, "X-Delivery-Id", a->delivery, sizeof a->delivery);
	tds_http_response_header(&r, "X-Content-Hash", a->hash, sizeof a->hash);
	tds_http_response_header(&r, "X-Next-Cursor", a->next, sizeof a->next);
	tds_http_response_header(&r, "X-Rows", a->rows, sizeof a->rows);
	if (a->body.len && strstr(a->content_type, "application/json"))
		a->json = json_loadb(a->body.data, a->body.len, 0, NULL);
}

/* A query of the API product with the bank's token; body is the JSON request. */
static void query(const char *body, const char *accept, answer *a)
{
	char path[160];
	snprintf(path, sizeof path, "/data/v1/products/%s/query", S.api);
	call(tax, true, "POST", path, S.api_token, accept, body, NULL, NULL, a);
}

/* Expects status want and (when code) the error code; frees the answer. */
static void refused(answer *a, long want, const char *code, const char *what)
{
	if (a->status != want)
		fail_msg("%s: HTTP %ld, wanted %ld (%s: %s)", what, a->status, want, err_code(a->json),
			 tds_json_str(json_object_get(a->json, "error"), "message", ""));
	if (code && strcmp(err_code(a->json), code))
		fail_msg("%s: error %s (%s), wanted %s", what, err_code(a->json),
			 tds_json_str(json_object_get(a->json, "error"), "message", ""), code);
	answer_free(a);
}

static json_t *wait_for(tn_node *n, const char *path, const char *tok, const char *key, const char *want)
{
	for (int i = 0; i < 150; i++) {
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

static void local_account(const char *user, char *token, size_t cap)
{
	json_t *out = NULL;
	char pw[96];
	snprintf(pw, sizeof pw, "correct horse battery %s", user);
	expect(post(tax, "/api/v1/accounts", tax_admin,
		    json_pack("{s:s, s:s, s:[s]}", "username", user, "password", pw, "roles", "operator"), &out),
	       201, out, "account");
	json_decref(out);
	char *tok = tn_login(tax, user, pw);
	assert_non_null(tok);
	snprintf(token, cap, "%s", tok);
	free(tok);
}

/* Registers a product, has it approved by a reviewer and lists it to the whole space. */
static void product(json_t *body, char *id)
{
	json_t *out = NULL;
	char path[160];
	expect(post(tax, "/api/v1/products", tax_admin, body, &out), 201, out, "register product");
	snprintf(id, 64, "%s", tds_json_str(out, "id", ""));
	json_decref(out);
	snprintf(path, sizeof path, "/api/v1/products/%s/review", id);
	expect(post(tax, path, S.rev1, json_pack("{s:s}", "decision", "approve"), &out), 200, out, "approve product");
	json_decref(out);
	snprintf(path, sizeof path, "/api/v1/products/%s/list", id);
	expect(post(tax, path, tax_admin, json_pack("{s:s}", "scope", "space"), &out), 200, out, "list");
	json_decref(out);
}

/* Order → draft → (a round adding the mask duties) → accept, sign → active on both connectors;
 * the contract id is written to contract. */
static void contract_for(const char *product, json_t *order, json_t *mask_duties, json_t *constraint, char *contract)
{
	json_t *out = NULL;
	char path[256], body[512];
	/* the fused catalog has the product once the bureau's outbox reached the operator */
	snprintf(path, sizeof path, "/api/v1/catalog/entries/%s", product);
	for (int i = 0; i < 150; i++) {
		long st = tn_json(op, "GET", path, S.bank_tok, NULL, &out);
		json_decref(out);
		out = NULL;
		if (st == 200)
			break;
		usleep(100 * 1000);
	}
	json_object_set_new(order, "product_id", json_string(product));
	expect(post(op, "/api/v1/orders", S.bank_tok, order, &out), 201, out, "order");
	char ord[64];
	snprintf(ord, sizeof ord, "%s", tds_json_str(out, "id", ""));
	json_decref(out);
	snprintf(path, sizeof path, "/api/v1/orders/%s/contract", ord);
	expect(tn_json(op, "POST", path, admin, "{}", &out), 201, out, "draft");
	snprintf(contract, 64, "%s", tds_json_str(out, "id", ""));
	json_decref(out);
	/* the bureau adds the mask duties to the policy's obligations */
	snprintf(path, sizeof path, "/api/v1/contracts/%s/versions/1", contract);
	expect(tn_json(op, "GET", path, S.tax_tok, NULL, &out), 200, out, "version 1");
	json_t *policy = json_deep_copy(json_object_get(json_object_get(out, "document"), "policy"));
	json_decref(out);
	json_t *obl = json_object_get(policy, "obligation");
	if (!obl) {
		obl = json_array();
		json_object_set_new(policy, "obligation", obl);
	}
	size_t i;
	json_t *v;
	json_array_foreach(mask_duties, i, v) json_array_append(obl, v);
	json_decref(mask_duties);
	if (constraint) /* narrowed further: one more constraint on the permission */
		json_array_append_new(json_object_get(json_array_get(json_object_get(policy, "permission"), 0), "constraint"),
				      constraint);
	snprintf(path, sizeof path, "/api/v1/contracts/%s/proposals", contract);
	expect(post(op, path, S.tax_tok,
		    json_pack("{s:i, s:{s:o}, s:s}", "base_version", 1, "patch", "policy", policy, "note", "按白皮书要求脱敏"), &out),
	       201, out, "proposal");
	assert_int_equal(json_array_size(json_object_get(out, "issues")), 0);
	snprintf(body, sizeof body, "{\"version\":2,\"document_hash\":\"%s\"}", tds_json_str(out, "document_hash", ""));
	json_decref(out);
	snprintf(path, sizeof path, "/api/v1/contracts/%s/accept", contract);
	expect(tn_json(op, "POST", path, S.tax_tok, body, &out), 200, out, "accept (tax)");
	json_decref(out);
	expect(tn_json(op, "POST", path, S.bank_tok, body, &out), 200, out, "accept (bank)");
	json_decref(out);
	char *bank_admin = tn_login_admin(bank);
	snprintf(path, sizeof path, "/api/v1/contracts/%s/sign", contract);
	expect(tn_json(tax, "POST", path, tax_admin, body, &out), 200, out, "sign (tax)");
	json_decref(out);
	expect(tn_json(bank, "POST", path, bank_admin, body, &out), 200, out, "sign (bank)");
	json_decref(out);
	free(bank_admin);
	snprintf(path, sizeof path, "/api/v1/enforcement/contracts/%s", contract);
	json_decref(wait_for(tax, path, tax_admin, "state", "active"));
	snprintf(path, sizeof path, "/api/v1/contracts/%s", contract);
	json_decref(wait_for(op, path, admin, "state", "active"));
}

static void token_for(const char *contract, char *token)
{
	char path[160];
	json_t *out = NULL;
	snprintf(path, sizeof path, "/api/v1/contracts/%s/tokens", contract);
	expect(tn_json(op, "POST", path, S.bank_tok, "{}", &out), 201, out, "token");
	snprintf(token, TDS_CONTRACT_TOKEN_MAX_LEN + 1, "%s", tds_json_str(out, "token", ""));
	json_decref(out);
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
	S.bank_key = node_key(bank);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	free(admin);
	free(tax_admin);
	tds_key_free(S.bank_key);
	int a = tn_stop(tax), b = tn_stop(bank), c = tn_stop(op);
	tn_free(tax);
	tn_free(bank);
	tn_free(op);
	return a == 0 && b == 0 && c == 0 ? 0 : -1;
}

/* ---- the story ---- */

/* The bureau's data, resource and two products; the bank's two contracts and tokens. */
static void test_products_and_contracts(void **state)
{
	(void)state;
	json_t *out = NULL;
	char path[256];
	local_account("reviewer1", S.rev1, sizeof S.rev1);
	local_account("reviewer2", S.rev2, sizeof S.rev2);
	/* the CSV source, imported */
	tds_buf b64 = TDS_BUF_INIT;
	assert_int_equal(tds_b64_encode(TAX_CSV, strlen(TAX_CSV), &b64), 0);
	expect(post(tax, "/api/v1/sources", tax_admin,
		    json_pack("{s:s, s:s, s:s}", "name", "enterprise-tax", "kind", "csv", "content_base64", b64.data), &out),
	       201, out, "source");
	tds_buf_free(&b64);
	char src[64];
	snprintf(src, sizeof src, "%s", tds_json_str(out, "id", ""));
	json_decref(out);
	snprintf(path, sizeof path, "/api/v1/sources/%s/import", src);
	expect(post(tax, path, tax_admin, json_object(), &out), 200, out, "import");
	json_decref(out);
	/* the resource, reviewed (two reviewers when high-risk) and published */
	expect(post(tax, "/api/v1/resources", tax_admin,
		    json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:[s]}", "source_id", src, "name", "企业纳税信息", "description",
			      "企业纳税申报信息，含法定代表人身份证号与联系电话", "source_category", "government",
			      "update_frequency", "monthly", "domain", "tax", "tags", "纳税"),
		    &out),
	       201, out, "resource");
	snprintf(S.resource, sizeof S.resource, "%s", tds_json_str(out, "id", ""));
	json_int_t needed = json_integer_value(json_object_get(out, "approvals_needed"));
	json_decref(out);
	snprintf(path, sizeof path, "/api/v1/resources/%s/reviews", S.resource);
	json_t *approval = json_pack("{s:s, s:s, s:b, s:s}", "decision", "approve", "legality", "compliant",
				     "masking_adequate", 1, "filing_status", "filed");
	expect(post(tax, path, S.rev1, json_deep_copy(approval), &out), 200, out, "review 1");
	json_decref(out);
	if (needed == 2) {
		expect(post(tax, path, S.rev2, json_deep_copy(approval), &out), 200, out, "review 2");
		json_decref(out);
	}
	json_decref(approval);
	snprintf(path, sizeof path, "/api/v1/resources/%s/publish", S.resource);
	expect(post(tax, path, tax_admin, json_pack("{s:s}", "scope", "space"), &out), 200, out, "publish");
	json_decref(out);
	/* an API product: by industry (optional) from a year on */
	product(json_pack("{s:s, s:s, s:s, s:[s], s:{s:s, s:[s, s, s, s, s], s:[{s:s, s:s, s:s, s:b}, {s:s, s:s, s:s}], "
			  "s:[{s:s}]}}",
			  "resource_id", S.resource, "name", "企业纳税信息查询接口", "form", "api", "scenarios", "信贷审批", "spec",
			  "mode", "wizard", "fields", "纳税人识别号", "企业名称", "法定代表人身份证号", "联系电话", "纳税额",
			  "filters", "field", "所属行业", "op", "eq", "param", "industry", "required", 0, "field", "年度", "op",
			  "ge", "param", "year", "order_by", "field", "纳税人识别号"),
		S.api);
	/* a dataset product: the mobile masked 3+4, the tax amount compute-only, the ID by the scan's mask */
	product(json_pack("{s:s, s:s, s:s, s:[s], s:{s:[{s:s}, {s:s}, {s:s, s:s, s:{s:s, s:i, s:i}}, {s:s, s:s}]}}",
			  "resource_id", S.resource, "name", "企业法人联系数据集", "form", "dataset", "scenarios", "企业经营评估",
			  "spec", "fields", "name", "纳税人识别号", "name", "法定代表人身份证号", "name", "联系电话", "permission",
			  "masked", "mask", "method", "keep", "first", 3, "last", 4, "name", "纳税额", "permission",
			  "compute_only"),
		S.dataset);
	/* the bank's contracts: the API without the tax amount, 6 calls; the dataset for download */
	contract_for(S.api,
		     json_pack("{s:[s], s:[s, s, s, s], s:[s], s:i}", "actions", "query", "fields", "纳税人识别号", "企业名称",
			       "法定代表人身份证号", "联系电话", "purposes", "信贷审批", "count", 6),
		     json_pack("[{s:s, s:s, s:s}, {s:s, s:s, s:s}]", "action", "mask", "field", "法定代表人身份证号", "rule",
			       "keep_first6_last4", "action", "mask", "field", "联系电话", "rule", "keep_first3_last4"),
		     NULL, S.api_contract);
	contract_for(S.dataset,
		     json_pack("{s:[s], s:[s, s, s], s:[s]}", "actions", "download", "fields", "纳税人识别号",
			       "法定代表人身份证号", "联系电话", "purposes", "企业经营评估"),
		     json_pack("[{s:s, s:s, s:s}]", "action", "mask", "field", "法定代表人身份证号", "rule", "resident_id"), NULL,
		     S.ds_contract);
	token_for(S.api_contract, S.api_token);
	token_for(S.ds_contract, S.ds_token);
}

static const char *row_str(json_t *items, size_t i, const char *field)
{
	return tds_json_str(json_array_get(items, i), field, "?");
}

/* Permitted queries: masked rows, pages, CSV; a field outside the grant; the count runs out. */
static void test_api_delivery(void **state)
{
	(void)state;
	answer a;
	/* page 1 of the 2025-on rows (all three), two at a time */
	query("{\"parameters\":{\"year\":2025},\"fields\":[\"纳税人识别号\",\"法定代表人身份证号\",\"联系电话\"],"
	      "\"purpose\":\"信贷审批\",\"limit\":2}",
	      NULL, &a);
	expect(a.status, 200, a.json, "query page 1");
	json_t *items = json_object_get(a.json, "items");
	assert_int_equal(json_array_size(items), 2);
	assert_string_equal(row_str(items, 0, "纳税人识别号"), "91310110666007217T");
	assert_string_equal(row_str(items, 0, "法定代表人身份证号"), "110101********299X"); /* 6 + 4 */
	assert_string_equal(row_str(items, 0, "联系电话"), "138****5678");                  /* 3 + 4 */
	assert_string_equal(row_str(items, 1, "法定代表人身份证号"), "110101********4477");
	assert_null(strstr(a.body.data, "11010119900307299X"));
	assert_null(strstr(a.body.data, "13812345678"));
	assert_string_equal(tds_json_str(a.json, "next_cursor", ""), "2");
	assert_string_equal(a.next, "2");
	assert_string_equal(a.rows, "2");
	assert_true(strncmp(a.delivery, "dlv_", 4) == 0);
	/* the hash in the header is that of the bytes received */
	uint8_t h[TDS_HASH_LEN];
	tds_buf hex = TDS_BUF_INIT;
	assert_int_equal(tds_hash(TDS_SUITE_GM, a.body.data, a.body.len, h), 0);
	assert_int_equal(tds_hex_encode(h, sizeof h, &hex), 0);
	snprintf(S.hash, sizeof S.hash, "sm3:%s", hex.data);
	tds_buf_free(&hex);
	assert_string_equal(a.hash, S.hash);
	snprintf(S.delivery, sizeof S.delivery, "%s", a.delivery);
	answer_free(&a);
	/* page 2 from the cursor */
	query("{\"parameters\":{\"year\":2025},\"fields\":[\"纳税人识别号\",\"联系电话\"],\"purpose\":\"信贷审批\","
	      "\"limit\":2,\"cursor\":\"2\"}",
	      NULL, &a);
	expect(a.status, 200, a.json, "query page 2");
	items = json_object_get(a.json, "items");
	assert_int_equal(json_array_size(items), 1);
	assert_string_equal(row_str(items, 0, "纳税人识别号"), "91350500676532779B");
	assert_string_equal(row_str(items, 0, "联系电话"), "150****2222");
	assert_true(json_is_null(json_object_get(a.json, "next_cursor")));
	assert_string_equal(a.next, "");
	answer_free(&a);
	/* CSV on request, with an optional parameter and an injection attempt bound as a value */
	query("{\"parameters\":{\"year\":2025,\"industry\":\"软件业\"},\"fields\":[\"企业名称\",\"法定代表人身份证号\"],"
	      "\"purpose\":\"信贷审批\"}",
	      "text/csv", &a);
	expect(a.status, 200, a.json, "query csv");
	assert_non_null(strstr(a.content_type, "text/csv"));
	assert_string_equal(a.body.data, "企业名称,法定代表人身份证号\r\n杭州某科技有限公司,110101********4477\r\n");
	answer_free(&a);
	query("{\"parameters\":{\"year\":2025,\"industry\":\"x' OR '1'='1\"},\"fields\":[\"企业名称\"],\"purpose\":\"信贷审批\"}",
	      NULL, &a);
	expect(a.status, 200, a.json, "injection attempt");
	assert_int_equal(json_array_size(json_object_get(a.json, "items")), 0);
	answer_free(&a);
	/* a field outside the grant: 403 with the clause that denied it, counted as a violation */
	query("{\"parameters\":{\"year\":2025},\"fields\":[\"企业名称\",\"纳税额\"],\"purpose\":\"信贷审批\"}", NULL, &a);
	expect(a.status, 403, a.json, "field outside the grant");
	assert_string_equal(err_code(a.json), "field_not_granted");
	json_t *det = json_object_get(json_object_get(a.json, "error"), "details");
	assert_non_null(strstr(tds_json_str(det, "clause", ""), "permission[0].constraint"));
	assert_string_equal(tds_json_str(det, "contract_id", ""), S.api_contract);
	assert_int_equal(tds_json_int(det, "violations", 0), 1);
	assert_non_null(strstr(a.body.data, "clause"));
	answer_free(&a);
	/* two more permitted calls use the count up (4 used so far + 2 = 6); the 7th is refused */
	for (int i = 0; i < 2; i++) {
		query("{\"parameters\":{\"year\":2026},\"fields\":[\"企业名称\"],\"purpose\":\"信贷审批\"}", NULL, &a);
		expect(a.status, 200, a.json, "within the count");
		assert_int_equal(json_array_size(json_object_get(a.json, "items")), 1);
		answer_free(&a);
	}
	query("{\"parameters\":{\"year\":2026},\"fields\":[\"企业名称\"],\"purpose\":\"信贷审批\"}", NULL, &a);
	expect(a.status, 403, a.json, "count exhausted");
	assert_string_equal(err_code(a.json), "count_exhausted");
	assert_non_null(strstr(tds_json_str(json_object_get(json_object_get(a.json, "error"), "details"), "clause", ""),
			       "permission[0]"));
	answer_free(&a);
}

/* Bad input: 4xx, and nothing charged (the dataset contract's use below starts from zero). */
static void test_bad_input(void **state)
{
	(void)state;
	answer a;
	char path[200];
	snprintf(path, sizeof path, "/data/v1/products/%s/query", S.api);
	const char *body = "{\"parameters\":{\"year\":2025},\"fields\":[\"企业名称\"],\"purpose\":\"信贷审批\"}";
	call(tax, true, "POST", path, NULL, NULL, body, NULL, NULL, &a);
	refused(&a, 401, "token_required", "no token");
	call(tax, true, "POST", path, "tds1.abc.def", NULL, body, NULL, NULL, &a);
	refused(&a, 400, NULL, "junk token");
	call(tax, true, "POST", path, "not-a-usage-token", NULL, body, NULL, NULL, &a);
	refused(&a, 401, NULL, "a session token that is not one");
	/* the bad inputs, with the dataset token on the API product's route first: not its product */
	call(tax, true, "POST", path, S.ds_token, NULL, body, NULL, NULL, &a);
	refused(&a, 403, "product_not_in_contract", "another contract's product");
	static const struct {
		const char *body, *code;
		long status;
	} bad[] = {
	    {"{\"parameters\":{\"year\":2025,\"yaer\":1},\"fields\":[\"企业名称\"]}", "unknown_parameter", 400},
	    {"{\"parameters\":{\"year\":\"2025\"},\"fields\":[\"企业名称\"]}", "invalid_parameter_type", 400},
	    {"{\"parameters\":{\"year\":true},\"fields\":[\"企业名称\"]}", "invalid_parameter_type", 400},
	    {"{\"parameters\":{\"year\":2025,\"industry\":7},\"fields\":[\"企业名称\"]}", "invalid_parameter_type", 400},
	    {"{\"parameters\":{},\"fields\":[\"企业名称\"]}", "missing_parameter", 400},
	    {"{\"parameters\":[],\"fields\":[\"企业名称\"]}", NULL, 400},
	    {"{\"parameters\":{\"year\":2025},\"fields\":[\"企业名称\"],\"limit\":5000}", "invalid_limit", 400},
	    {"{\"parameters\":{\"year\":2025},\"fields\":[\"企业名称\"],\"limit\":0}", "invalid_limit", 400},
	    {"{\"parameters\":{\"year\":2025},\"fields\":[\"企业名称\"],\"cursor\":\"abc\"}", "invalid_cursor", 400},
	    {"{\"parameters\":{\"year\":2025},\"fields\":[\"企业名称\"],\"cursor\":\"-1\"}", "invalid_cursor", 400},
	    {"{\"parameters\":{\"year\":2025},\"fields\":[\"企业名称\"],\"cursor\":\"007\"}", "invalid_cursor", 400},
	    {"{\"parameters\":{\"year\":2025},\"fields\":[]}", "fields_required", 400},
	    {"{\"parameters\":{\"year\":2025}}", NULL, 400},
	    {"{\"parameters\":{\"year\":2025},\"fields\":[\"密码\"]}", "unknown_field", 400},
	    {"{\"parameters\":{\"year\":2025},\"fields\":[\"企业名称\",\"企业名称\"]}", "duplicate_field", 400},
	    {"{\"parameters\":{\"year\":2025},\"fields\":[\"企业名称\"],\"extra\":1}", NULL, 400},
	    {"not json", NULL, 400},
	};
	for (size_t i = 0; i < TDS_ARRAY_LEN(bad); i++) {
		call(tax, true, "POST", path, S.api_token, NULL, bad[i].body, NULL, NULL, &a);
		refused(&a, bad[i].status, bad[i].code, bad[i].body);
	}
	/* unknown and malformed products */
	call(tax, true, "POST", "/data/v1/products/prd_01JAAAAAAAAAAAAAAAAAAAAAAA/query", S.api_token, NULL, body, NULL, NULL,
	     &a);
	refused(&a, 403, "product_not_in_contract", "unknown product");
	call(tax, true, "POST", "/data/v1/products/..%2f..%2fetc/query", S.api_token, NULL, body, NULL, NULL, &a);
	refused(&a, 400, "invalid_path", "a path in the product id");
	call(tax, true, "POST", "/data/v1/products/prd_bad/query", S.api_token, NULL, body, NULL, NULL, &a);
	refused(&a, 404, "product_not_found", "malformed product id");
	/* export: the wrong form, bad formats, limits, cursors, fields */
	snprintf(path, sizeof path, "/data/v1/products/%s/export?fields=企业名称", S.api);
	call(tax, true, "GET", path, S.api_token, NULL, NULL, NULL, NULL, &a);
	refused(&a, 409, "wrong_form", "export of an API product");
	static const struct {
		const char *query, *code;
		long status;
	} xbad[] = {
	    {"fields=%E7%BA%B3%E7%A8%8E%E4%BA%BA%E8%AF%86%E5%88%AB%E5%8F%B7&format=xml", "invalid_format", 400},
	    {"fields=%E7%BA%B3%E7%A8%8E%E4%BA%BA%E8%AF%86%E5%88%AB%E5%8F%B7&format=json", "invalid_format", 400},
	    {"fields=%E7%BA%B3%E7%A8%8E%E4%BA%BA%E8%AF%86%E5%88%AB%E5%8F%B7&limit=20000", "invalid_limit", 400},
	    {"fields=%E7%BA%B3%E7%A8%8E%E4%BA%BA%E8%AF%86%E5%88%AB%E5%8F%B7&limit=0", "invalid_limit", 400},
	    {"fields=%E7%BA%B3%E7%A8%8E%E4%BA%BA%E8%AF%86%E5%88%AB%E5%8F%B7&limit=1x", "invalid_limit", 400},
	    {"fields=%E7%BA%B3%E7%A8%8E%E4%BA%BA%E8%AF%86%E5%88%AB%E5%8F%B7&cursor=zz", "invalid_cursor", 400},
	    {"format=csv", "fields_required", 400},
	    {"fields=nope", "unknown_field", 400},
	    {"fields=%E7%BA%B3%E7%A8%8E%E9%A2%9D", "field_not_deliverable", 403}, /* 纳税额: compute_only */
	};
	for (size_t i = 0; i < TDS_ARRAY_LEN(xbad); i++) {
		snprintf(path, sizeof path, "/data/v1/products/%s/export?%s", S.dataset, xbad[i].query);
		call(tax, true, "GET", path, S.ds_token, NULL, NULL, NULL, NULL, &a);
		refused(&a, xbad[i].status, xbad[i].code, xbad[i].query);
	}
	snprintf(path, sizeof path, "/data/v1/products/%s/export?fields=%%E8%%81%%94%%E7%%B3%%BB%%E7%%94%%B5%%E8%%AF%%9D",
		 S.dataset);
	call(tax, true, "GET", path, NULL, NULL, NULL, NULL, NULL, &a);
	refused(&a, 401, "token_required", "export without a token");
	/* the operator delivers nothing */
	snprintf(path, sizeof path, "/data/v1/products/%s/query", S.api);
	call(op, true, "POST", path, S.api_token, NULL, body, NULL, NULL, &a);
	refused(&a, 409, "not_a_connector", "operator");
	/* the violations so far are only the two denials of test_api_delivery */
	char lpath[160];
	json_t *out = NULL;
	snprintf(lpath, sizeof lpath, "/api/v1/enforcement/contracts/%s", S.api_contract);
	expect(tn_json(tax, "GET", lpath, tax_admin, NULL, &out), 200, out, "local contract");
	assert_int_equal(tds_json_int(out, "violations", -1), 2);
	json_decref(out);
	snprintf(lpath, sizeof lpath, "/api/v1/enforcement/contracts/%s", S.ds_contract);
	expect(tn_json(tax, "GET", lpath, tax_admin, NULL, &out), 200, out, "local dataset contract");
	assert_int_equal(tds_json_int(out, "violations", -1), 0);
	json_decref(out);
}

/* The third violation of the API contract freezes the bank's use of it: every request is then
 * refused with "frozen", and the operator has the reports. */
static void test_freeze(void **state)
{
	(void)state;
	answer a;
	query("{\"parameters\":{\"year\":2025},\"fields\":[\"企业名称\"],\"purpose\":\"marketing\"}", NULL, &a);
	expect(a.status, 403, a.json, "third violation");
	assert_string_equal(err_code(a.json), "purpose_not_allowed");
	json_t *det = json_object_get(json_object_get(a.json, "error"), "details");
	assert_int_equal(tds_json_int(det, "violations", 0), 3);
	assert_true(tds_json_bool(det, "frozen", false));
	answer_free(&a);
	query("{\"parameters\":{\"year\":2025},\"fields\":[\"企业名称\"],\"purpose\":\"信贷审批\"}", NULL, &a);
	refused(&a, 403, "frozen", "frozen");
	/* the reports reach the operator from the connector's outbox */
	char path[200];
	json_t *out = NULL;
	snprintf(path, sizeof path, "/api/v1/violations?contract_id=%s", S.api_contract);
	size_t n = 0;
	for (int k = 0; k < 100 && n < 3; k++) {
		json_decref(out);
		out = NULL;
		expect(tn_json(op, "GET", path, admin, NULL, &out), 200, out, "violations");
		n = json_array_size(json_object_get(out, "items"));
		if (n < 3)
			usleep(100 * 1000);
	}
	assert_int_equal(n, 3);
	assert_true(tds_json_bool(json_array_get(json_object_get(out, "items"), 2), "frozen", false));
	json_decref(out);
}

/* The dataset export: every row, masked, resumable from the cursor, in CSV and NDJSON. */
static void test_dataset_export(void **state)
{
	(void)state;
	answer a;
	char path[600];
	/* 纳税人识别号, 法定代表人身份证号, 联系电话 */
	const char *fields = "%E7%BA%B3%E7%A8%8E%E4%BA%BA%E8%AF%86%E5%88%AB%E5%8F%B7,"
			     "%E6%B3%95%E5%AE%9A%E4%BB%A3%E8%A1%A8%E4%BA%BA%E8%BA%AB%E4%BB%BD%E8%AF%81%E5%8F%B7,"
			     "%E8%81%94%E7%B3%BB%E7%94%B5%E8%AF%9D";
	snprintf(path, sizeof path, "/data/v1/products/%s/export?format=csv&limit=2&purpose=%s&fields=%s", S.dataset,
		 "%E4%BC%81%E4%B8%9A%E7%BB%8F%E8%90%A5%E8%AF%84%E4%BC%B0", fields);
	call(tax, true, "GET", path, S.ds_token, NULL, NULL, NULL, NULL, &a);
	expect(a.status, 200, a.json, "export page 1");
	assert_string_equal(a.body.data, "纳税人识别号,法定代表人身份证号,联系电话\r\n"
					 "91310110666007217T,110101********299X,138****5678\r\n"
					 "91330101589882738D,110101********4477,139****4321\r\n");
	assert_string_equal(a.next, "2");
	snprintf(S.export_delivery, sizeof S.export_delivery, "%s", a.delivery);
	snprintf(S.export_hash, sizeof S.export_hash, "%s", a.hash);
	char next[32];
	snprintf(next, sizeof next, "%s", a.next);
	answer_free(&a);
	/* resumed from the cursor: the rest, and no further cursor */
	snprintf(path, sizeof path, "/data/v1/products/%s/export?format=ndjson&cursor=%s&purpose=%s&fields=%s", S.dataset,
		 next, "%E4%BC%81%E4%B8%9A%E7%BB%8F%E8%90%A5%E8%AF%84%E4%BC%B0", fields);
	call(tax, true, "GET", path, S.ds_token, NULL, NULL, NULL, NULL, &a);
	expect(a.status, 200, a.json, "export page 2");
	assert_non_null(strstr(a.content_type, "ndjson"));
	assert_string_equal(a.body.data,
			    "{\"纳税人识别号\":\"91350500676532779B\",\"法定代表人身份证号\":\"430102********6442\",\"联系电话\":"
			    "\"150****2222\"}\n");
	assert_string_equal(a.next, "");
	answer_free(&a);
	/* the purpose must be the contract's: a deny with its clause */
	snprintf(path, sizeof path, "/data/v1/products/%s/export?purpose=marketing&fields=%s", S.dataset, fields);
	call(tax, true, "GET", path, S.ds_token, NULL, NULL, NULL, NULL, &a);
	expect(a.status, 403, a.json, "wrong purpose");
	assert_string_equal(err_code(a.json), "purpose_not_allowed");
	answer_free(&a);
}

/* Receipts: the bank's connector confirms with the hash; other bytes are refused; both evidenced. */
static void test_receipts(void **state)
{
	(void)state;
	answer a;
	char path[200], body[400];
	snprintf(path, sizeof path, "/api/v1/deliveries/%s/receipt", S.delivery);
	/* a hash over other bytes: refused, evidenced */
	snprintf(body, sizeof body, "{\"content_hash\":\"sm3:%064d\"}", 0);
	call(tax, false, "POST", path, NULL, NULL, body, S.bank_key, S.bank_serial, &a);
	refused(&a, 409, "receipt_hash_mismatch", "other bytes");
	/* bad input */
	call(tax, false, "POST", path, NULL, NULL, "{\"content_hash\":\"sha1:00\"}", S.bank_key, S.bank_serial, &a);
	refused(&a, 400, "invalid_content_hash", "bad hash");
	call(tax, false, "POST", path, NULL, NULL, "{}", S.bank_key, S.bank_serial, &a);
	refused(&a, 400, NULL, "no hash");
	snprintf(body, sizeof body, "{\"content_hash\":\"%s\"}", S.hash);
	call(tax, false, "POST", path, NULL, NULL, body, NULL, NULL, &a);
	refused(&a, 401, "token_required", "anonymous receipt");
	call(tax, false, "POST", "/api/v1/deliveries/dlv_01JAAAAAAAAAAAAAAAAAAAAAAA/receipt", NULL, NULL, body, S.bank_key,
	     S.bank_serial, &a);
	refused(&a, 404, "delivery_not_found", "unknown delivery");
	call(tax, false, "POST", path, tax_admin, NULL, body, NULL, NULL, &a);
	refused(&a, 403, "not_the_consumer", "the provider's admin");
	/* the bank's connector confirms with the right hash; again: the stored answer */
	for (int k = 0; k < 2; k++) {
		call(tax, false, "POST", path, NULL, NULL, body, S.bank_key, S.bank_serial, &a);
		expect(a.status, 200, a.json, "receipt");
		assert_string_equal(tds_json_str(a.json, "receipt", ""), "confirmed");
		assert_string_equal(tds_json_str(a.json, "content_hash", ""), S.hash);
		answer_free(&a);
	}
	/* the export's receipt with the bank's token */
	snprintf(path, sizeof path, "/api/v1/deliveries/%s/receipt", S.export_delivery);
	snprintf(body, sizeof body, "{\"content_hash\":\"%s\"}", S.export_hash);
	call(tax, false, "POST", path, S.ds_token, NULL, body, NULL, NULL, &a);
	expect(a.status, 200, a.json, "receipt by token");
	answer_free(&a);
	/* a token of another contract does not reach it */
	call(tax, false, "POST", path, S.api_token, NULL, body, NULL, NULL, &a);
	refused(&a, 404, "delivery_not_found", "another contract's token");
	/* the list: the bureau sees all, the bank's connector its own */
	json_t *out = NULL;
	expect(tn_json(tax, "GET", "/api/v1/deliveries?limit=500", tax_admin, NULL, &out), 200, out, "list");
	json_t *items = json_object_get(out, "items");
	assert_int_equal(json_array_size(items), 8); /* 6 API pages (the denials deliver nothing) + 2 export pages */
	json_decref(out);
	snprintf(path, sizeof path, "/api/v1/deliveries?contract_id=%s", S.ds_contract);
	call(tax, false, "GET", path, NULL, NULL, NULL, S.bank_key, S.bank_serial, &a);
	expect(a.status, 200, a.json, "list (bank connector)");
	items = json_object_get(a.json, "items");
	assert_int_equal(json_array_size(items), 2);
	assert_string_equal(tds_json_str(json_array_get(items, 0), "receipt", ""), "confirmed");
	assert_string_equal(tds_json_str(json_array_get(items, 1), "receipt", ""), "pending");
	assert_int_equal(tds_json_int(json_array_get(items, 0), "rows", 0), 2);
	answer_free(&a);
	call(tax, false, "GET", "/api/v1/deliveries?limit=0", tax_admin, NULL, NULL, NULL, NULL, &a);
	refused(&a, 400, NULL, "bad limit");
	call(tax, false, "GET", "/api/v1/deliveries?contract_id=x", tax_admin, NULL, NULL, NULL, NULL, &a);
	refused(&a, 400, NULL, "bad contract id");
	call(tax, false, "GET", "/api/v1/deliveries", NULL, NULL, NULL, NULL, NULL, &a);
	refused(&a, 401, NULL, "anonymous list");
	call(op, false, "GET", "/api/v1/deliveries", admin, NULL, NULL, NULL, NULL, &a);
	refused(&a, 409, "not_a_connector", "operator list");
	/* the metering records, one per delivery, written with it (read from the node's database) */
	char dbp[512];
	snprintf(dbp, sizeof dbp, "%s/tds.db", tax->dir);
	sqlite3 *db = NULL;
	sqlite3_stmt *q = NULL;
	assert_int_equal(sqlite3_open_v2(dbp, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	sqlite3_busy_timeout(db, 5000);
	assert_int_equal(sqlite3_prepare_v2(db,
					    "SELECT count(*), sum(m.rows), sum(m.bytes = r.bytes AND m.rows = r.rows AND "
					    "m.contract_id = r.contract_id AND m.product_id = r.product_id), sum(m.calls) "
					    "FROM delivery_metering m JOIN delivery_records r ON r.id = m.delivery_id",
					    -1, &q, NULL),
			 SQLITE_OK);
	assert_int_equal(sqlite3_step(q), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int(q, 0), 8);
	assert_int_equal(sqlite3_column_int(q, 1), 2 + 1 + 1 + 0 + 1 + 1 + 2 + 1); /* rows of the 8 pages */
	assert_int_equal(sqlite3_column_int(q, 2), 8);
	assert_int_equal(sqlite3_column_int(q, 3), 8);
	sqlite3_finalize(q);
	sqlite3_close(db);
	/* evidence on the bureau's connector: the delivery with its hash, the receipt, the refusal */
	snprintf(path, sizeof path, "/api/v1/ledger/search?subject=%s&limit=50", S.delivery);
	expect(tn_json(tax, "GET", path, tax_admin, NULL, &out), 200, out, "evidence");
	char *text = json_dumps(out, JSON_COMPACT);
	assert_non_null(strstr(text, "delivery.delivered"));
	assert_non_null(strstr(text, "delivery.receipt_confirmed"));
	assert_non_null(strstr(text, "delivery.receipt_refused"));
	free(text);
	json_decref(out);
}

/* A token bound to the bank's connector works only in that connector's signed calls; a contract's
 * rowFilter constraint admits only its values of the product's row_filter parameter. */
static void test_connector_token_and_row_filter(void **state)
{
	(void)state;
	answer a;
	json_t *out = NULL;
	char path[600], token[TDS_CONTRACT_TOKEN_MAX_LEN + 1];
	snprintf(path, sizeof path, "/api/v1/contracts/%s/tokens", S.ds_contract);
	call(op, false, "POST", path, NULL, NULL, "{}", S.bank_key, S.bank_serial, &a);
	expect(a.status, 201, a.json, "connector token");
	assert_non_null(json_object_get(json_object_get(json_object_get(a.json, "claims"), "sub"), "connector"));
	snprintf(token, sizeof token, "%s", tds_json_str(a.json, "token", ""));
	answer_free(&a);
	snprintf(path, sizeof path, "/data/v1/products/%s/export?format=ndjson&limit=1&purpose=%s&fields=%s", S.dataset,
		 "%E4%BC%81%E4%B8%9A%E7%BB%8F%E8%90%A5%E8%AF%84%E4%BC%B0", "%E8%81%94%E7%B3%BB%E7%94%B5%E8%AF%9D"); /* 联系电话 */
	call(tax, true, "GET", path, token, NULL, NULL, NULL, NULL, &a);
	refused(&a, 403, "token_wrong_connector", "connector token without the connector's signature");
	call(tax, true, "GET", path, token, NULL, NULL, S.bank_key, S.bank_serial, &a);
	expect(a.status, 200, a.json, "connector token, signed");
	assert_string_equal(a.body.data, "{\"联系电话\":\"138****5678\"}\n");
	answer_free(&a);
	/* a product partitioned by industry: its row_filter parameter is the request's row filter */
	char prd[64], ctr[64], tok[TDS_CONTRACT_TOKEN_MAX_LEN + 1];
	product(json_pack("{s:s, s:s, s:s, s:[s], s:{s:s, s:[s, s], s:[{s:s, s:s, s:s}]}}", "resource_id", S.resource, "name",
			  "分行业企业名录接口", "form", "api", "scenarios", "信贷审批", "spec", "mode", "wizard", "fields", "企业名称",
			  "所属行业", "filters", "field", "所属行业", "op", "eq", "param", "row_filter"),
		prd);
	contract_for(prd,
		     json_pack("{s:[s], s:[s, s], s:[s]}", "actions", "query", "fields", "企业名称", "所属行业", "purposes",
			       "信贷审批"),
		     json_pack("[{s:s, s:s, s:s}]", "action", "mask", "field", "所属行业", "rule", "hash"), /* a pseudonym */
		     json_pack("{s:s, s:s, s:[s]}", "leftOperand", "rowFilter", "operator", "isAnyOf", "rightOperand", "软件业"),
		     ctr);
	token_for(ctr, tok);
	snprintf(S.rf_product, sizeof S.rf_product, "%s", prd);
	snprintf(S.rf_token, sizeof S.rf_token, "%s", tok);
	snprintf(path, sizeof path, "/data/v1/products/%s/query", prd);
	call(tax, true, "POST", path, tok, NULL,
	     "{\"parameters\":{\"row_filter\":\"软件业\"},\"fields\":[\"企业名称\",\"所属行业\"],\"purpose\":\"信贷审批\"}",
	     NULL, NULL, &a);
	expect(a.status, 200, a.json, "row filter within the contract");
	assert_int_equal(json_array_size(json_object_get(a.json, "items")), 1);
	assert_string_equal(row_str(json_object_get(a.json, "items"), 0, "企业名称"), "杭州某科技有限公司");
	/* the industry is delivered as the contract's keyed pseudonym: 32 hex, stable for the contract */
	snprintf(S.rf_pseudonym, sizeof S.rf_pseudonym, "%s", row_str(json_object_get(a.json, "items"), 0, "所属行业"));
	assert_int_equal(strlen(S.rf_pseudonym), 32);
	assert_int_equal(strspn(S.rf_pseudonym, "0123456789abcdef"), 32);
	answer_free(&a);
	call(tax, true, "POST", path, tok, NULL,
	     "{\"parameters\":{\"row_filter\":\"批发业\"},\"fields\":[\"企业名称\"],\"purpose\":\"信贷审批\"}", NULL, NULL, &a);
	expect(a.status, 403, a.json, "row filter outside the contract");
	assert_string_equal(err_code(a.json), "row_filter_not_allowed");
	assert_non_null(strstr(tds_json_str(json_object_get(json_object_get(a.json, "error"), "details"), "clause", ""),
			       "permission[0].constraint"));
	answer_free(&a);
	(void)out;
}

/* A contract with a rate and an environment: the environment must be named and be the contract's,
 * and the second call of the minute is refused, each with its clause. */
static void test_rate_and_environment(void **state)
{
	(void)state;
	char ctr[64], tok[TDS_CONTRACT_TOKEN_MAX_LEN + 1], path[160];
	contract_for(S.api,
		     json_pack("{s:[s], s:[s], s:[s], s:{s:i, s:s}, s:[s]}", "actions", "query", "fields", "企业名称", "purposes",
			       "信贷审批", "rate", "limit", 1, "unit", "minute", "environment", "consumer-domain"),
		     json_array(), NULL, ctr);
	token_for(ctr, tok);
	snprintf(path, sizeof path, "/data/v1/products/%s/query", S.api);
	answer a;
	call(tax, true, "POST", path, tok, NULL,
	     "{\"parameters\":{\"year\":2026},\"fields\":[\"企业名称\"],\"purpose\":\"信贷审批\",\"environment\":\"sandbox-dev\"}",
	     NULL, NULL, &a);
	expect(a.status, 403, a.json, "another environment");
	assert_string_equal(err_code(a.json), "environment_not_allowed");
	assert_non_null(strstr(tds_json_str(json_object_get(json_object_get(a.json, "error"), "details"), "clause", ""),
			       "permission[0].constraint"));
	answer_free(&a);
	const char *ok_body =
	    "{\"parameters\":{\"year\":2026},\"fields\":[\"企业名称\"],\"purpose\":\"信贷审批\",\"environment\":\"consumer-domain\"}";
	call(tax, true, "POST", path, tok, NULL, ok_body, NULL, NULL, &a);
	expect(a.status, 200, a.json, "first call of the minute");
	answer_free(&a);
	call(tax, true, "POST", path, tok, NULL, ok_body, NULL, NULL, &a);
	if (a.status == 200) { /* the minute turned between the two calls: the next one is the second */
		answer_free(&a);
		call(tax, true, "POST", path, tok, NULL, ok_body, NULL, NULL, &a);
	}
	expect(a.status, 403, a.json, "second call of the minute");
	assert_string_equal(err_code(a.json), "rate_exceeded");
	answer_free(&a);
}

/* The CLI: tds delivery query, export (all pages), receipt and list. */
static int cli(const char *token, const char *node, const char *args, char **out)
{
	char cmd[8192];
	snprintf(cmd, sizeof cmd, "TDS_USAGE_TOKEN='%s' %s/tds --node %s %s 2>/dev/null", token ? token : "", tn_bin_dir(),
		 node, args);
	*out = NULL;
	return tn_run(cmd, out);
}

static void test_cli(void **state)
{
	(void)state;
	char args[1024], *o = NULL;
	snprintf(args, sizeof args,
		 "delivery query %s --field 企业名称 --field 所属行业 --param row_filter=软件业 --purpose 信贷审批 --json",
		 S.rf_product);
	assert_int_equal(cli(S.rf_token, tax->data, args, &o), 0);
	json_t *j = json_loads(o, 0, NULL);
	free(o);
	assert_non_null(j);
	json_t *items = json_object_get(json_object_get(j, "result"), "items");
	assert_int_equal(json_array_size(items), 1);
	assert_string_equal(row_str(items, 0, "所属行业"), S.rf_pseudonym); /* the same pseudonym again */
	assert_true(strncmp(tds_json_str(j, "delivery_id", ""), "dlv_", 4) == 0);
	json_decref(j);
	/* a denial exits 1; bad usage 2 */
	snprintf(args, sizeof args, "delivery query %s --field 企业名称 --param row_filter=批发业 --purpose 信贷审批",
		 S.rf_product);
	assert_int_equal(cli(S.rf_token, tax->data, args, &o), 1);
	free(o);
	snprintf(args, sizeof args, "delivery query %s --purpose 信贷审批", S.rf_product);
	assert_int_equal(cli(S.rf_token, tax->data, args, &o), 2);
	free(o);
	snprintf(args, sizeof args, "delivery query %s --field 企业名称", S.rf_product);
	assert_int_equal(cli(NULL, tax->data, args, &o), 2);
	free(o);
	assert_int_equal(cli(S.rf_token, tax->data, "delivery query prd_bad --field x", &o), 2);
	free(o);
	assert_int_equal(cli(S.rf_token, tax->data, "delivery frobnicate", &o), 2);
	free(o);
	/* the whole dataset, one row per page, one header */
	snprintf(args, sizeof args,
		 "delivery export %s --field 纳税人识别号 --field 联系电话 --limit 1 --all --purpose 企业经营评估", S.dataset);
	assert_int_equal(cli(S.ds_token, tax->data, args, &o), 0);
	assert_string_equal(o, "纳税人识别号,联系电话\r\n91310110666007217T,138****5678\r\n91330101589882738D,139****4321\r\n"
			       "91350500676532779B,150****2222\r\n");
	free(o);
	snprintf(args, sizeof args,
		 "delivery export %s --field 联系电话 --format ndjson --limit 2 --all --purpose 企业经营评估 --json", S.dataset);
	assert_int_equal(cli(S.ds_token, tax->data, args, &o), 0);
	j = json_loads(o, 0, NULL);
	free(o);
	assert_non_null(j);
	assert_int_equal(tds_json_int(j, "rows", 0), 3);
	json_t *pages = json_object_get(j, "pages");
	assert_int_equal(json_array_size(pages), 2);
	char dlv[64], hash[128];
	snprintf(dlv, sizeof dlv, "%s", tds_json_str(json_array_get(pages, 0), "delivery_id", ""));
	snprintf(hash, sizeof hash, "%s", tds_json_str(json_array_get(pages, 0), "content_hash", ""));
	json_decref(j);
	/* its receipt, and the list */
	snprintf(args, sizeof args, "delivery receipt %s --hash %s --json", dlv, hash);
	assert_int_equal(cli(S.ds_token, tax->api, args, &o), 0);
	j = json_loads(o, 0, NULL);
	free(o);
	assert_string_equal(tds_json_str(j, "receipt", ""), "confirmed");
	json_decref(j);
	snprintf(args, sizeof args, "delivery receipt %s --hash sm3:%064d", dlv, 0);
	assert_int_equal(cli(S.ds_token, tax->api, args, &o), 1);
	free(o);
	char cmd[1024];
	snprintf(cmd, sizeof cmd, "%s/tds --node %s --token %s delivery list --contract %s --json", tn_bin_dir(), tax->api,
		 tax_admin, S.ds_contract);
	assert_int_equal(tn_run(cmd, &o), 0);
	j = json_loads(o, 0, NULL);
	free(o);
	assert_int_equal(json_array_size(json_object_get(j, "items")), 2 + 1 + 3 + 2); /* export pages so far */
	json_decref(j);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_products_and_contracts),
	    cmocka_unit_test(test_api_delivery),
	    cmocka_unit_test(test_bad_input),
	    cmocka_unit_test(test_freeze),
	    cmocka_unit_test(test_dataset_export),
	    cmocka_unit_test(test_receipts),
	    cmocka_unit_test(test_connector_token_and_row_filter),
	    cmocka_unit_test(test_cli),
	    cmocka_unit_test(test_rate_and_environment),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
