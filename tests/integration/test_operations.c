/*
 * test_operations.c — authorized operation (授权运营, issue 7) on real nodes: an operator and the tax
 * bureau's enrolled connector, whose tax-data API product is in the fused catalog. A city bank
 * applies for it for credit assessment (普惠金融): the draft asks for the legal representative's ID
 * number without a justification and is flagged, the fix is clean, it is submitted; the
 * authorization operator (授权运营方) accepts it and rejects it at the initial review with advice;
 * the bank rectifies and resubmits; initial and final review approve, and the authorization list
 * (授权清单) is issued; the bank's order beyond the list is refused, one within it drafted. Then an
 * AI company applies to train a model on an imported public-data item (公共数据目录): the regulator
 * must join the final review. Bad input, wrong roles and the applicant's own reviewer are refused at
 * every route; the CLI drives a whole application.
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

#include "crypto/crypto.h"
#include "http/http.h"

static tn_node *op, *tax;
static char *admin;
static char env_op[300];
static char *const OP_ENV[] = {"TDS_LEDGER_CHECKPOINT_INTERVAL_S=0", "TDS_OPERATION_INITIAL_REVIEW_DAYS=2",
			       "TDS_OPERATION_FINAL_REVIEW_DAYS=7", NULL};
static char *con_env[] = {env_op, "TDS_LEDGER_CHECKPOINT_INTERVAL_S=0", "TDS_CONNECTOR_HEARTBEAT_INTERVAL_S=1", NULL};

static struct {
	char tax_org[64], tax_tok[128], bank_org[64], bank_tok[128], reg_org[64], reg_tok[128];
	char auth_org[64], auth_tok[128], ai_org[64], ai_tok[128];
	char tax_con[64], tax_serial[64];
	char bank_qual[64], ai_qual[64], auth_qual[64];
	char product[TDS_ID_MAX], pub[TDS_ID_MAX], auth_list[TDS_ID_MAX];
	tds_key *tax_key;
} S;

static const char *err_code(json_t *out) { return tds_json_str(json_object_get(out, "error"), "code", ""); }

static void expect(long st, long want, json_t *out, const char *what)
{
	if (st != want) {
		char *s = out ? json_dumps(out, JSON_COMPACT) : NULL;
		fail_msg("%s: HTTP %ld, wanted %ld: %s", what, st, want, s ? s : "(no body)");
	}
}

/* A call that must be refused with status want and error code code. */
static void refused(const char *method, const char *path, const char *tok, const char *body, long want, const char *code)
{
	json_t *out = NULL;
	long st = tn_json(op, method, path, tok, body, &out);
	if (st != want || (code && strcmp(err_code(out), code)))
		fail_msg("%s %s: HTTP %ld %s (%s), wanted %ld %s", method, path, st, err_code(out),
			 tds_json_str(json_object_get(out, "error"), "message", ""), want, code ? code : "");
	json_decref(out);
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

/* Files an approved level-3 等保 qualification for org (its admin's token tok); fills id. */
static int qualify(const char *org, const char *tok, char *id)
{
	char path[160], from[TDS_TIME_MAX], to[TDS_TIME_MAX], body[512];
	tds_time_format(tds_now_ms() - 100LL * 86400000, from);
	tds_time_format(tds_now_ms() + 400LL * 86400000, to);
	from[10] = to[10] = 0;
	snprintf(body, sizeof body,
		 "{\"type\":\"dengbao\",\"level\":3,\"issuer\":\"公安部第三研究所\",\"valid_from\":\"%s\",\"valid_to\":\"%s\","
		 "\"doc_hash\":\"6b86b273ff34fce19d6b804eff5a3f5747ada4eaa22f1d49c01e52ddb7875b4b\"}",
		 from, to);
	snprintf(path, sizeof path, "/api/v1/orgs/%s/qualifications", org);
	json_t *out = NULL;
	if (tn_json(op, "POST", path, tok, body, &out) != 201) {
		json_decref(out);
		return -1;
	}
	snprintf(id, 64, "%s", tds_json_str(out, "id", ""));
	json_decref(out);
	snprintf(path, sizeof path, "/api/v1/qualifications/%s/review", id);
	long st = tn_json(op, "POST", path, admin, "{\"decision\":\"approve\"}", &out);
	json_decref(out);
	return st == 200 ? 0 : -1;
}

/* Grants role to org: its admin applies, the node admin approves. */
static int grant(const char *tok, const char *role)
{
	char body[256], path[160];
	json_t *out = NULL;
	snprintf(body, sizeof body, "{\"role\":\"%s\",\"justification\":\"开展授权运营业务\"}", role);
	if (tn_json(op, "POST", "/api/v1/role-applications", tok, body, &out) != 201) {
		json_decref(out);
		return -1;
	}
	snprintf(path, sizeof path, "/api/v1/role-applications/%s/review", tds_json_str(out, "id", ""));
	json_decref(out);
	long st = tn_json(op, "POST", path, admin, "{\"decision\":\"approve\"}", &out);
	json_decref(out);
	return st == 200 ? 0 : -1;
}

static int setup(void **state)
{
	(void)state;
	op = tn_init("operator", "gm");
	tax = tn_init("connector", "gm");
	if (tn_start(op, OP_ENV))
		return -1;
	snprintf(env_op, sizeof env_op, "TDS_NODE_OPERATOR_URL=%s", op->api);
	if (tn_start(tax, con_env) || !(admin = tn_login_admin(op)))
		return -1;
	if (tn_onboard_org(op, admin, "taxbureau", "某市税务局", "government", "91350100M000100Y43", "provider", S.tax_org,
			   S.tax_tok) ||
	    tn_onboard_org(op, admin, "citybank", "示例城市商业银行", "bank", "91370100780603055K", "consumer", S.bank_org,
			   S.bank_tok) ||
	    tn_onboard_org(op, admin, "regulator", "地方金融监督管理局", "government", "11100000000013127D", "regulator",
			   S.reg_org, S.reg_tok) ||
	    tn_onboard_org(op, admin, "dataops", "某市公共数据运营有限公司", "enterprise", "91310110666007217T", NULL,
			   S.auth_org, S.auth_tok) ||
	    tn_onboard_org(op, admin, "aimodels", "示例人工智能科技有限公司", "enterprise", "91510100350611266D",
			   "developer", S.ai_org, S.ai_tok) ||
	    qualify(S.auth_org, S.auth_tok, S.auth_qual) || grant(S.auth_tok, "auth_operator") ||
	    qualify(S.bank_org, S.bank_tok, S.bank_qual) || qualify(S.ai_org, S.ai_tok, S.ai_qual) ||
	    tn_enroll_connector(op, admin, S.tax_tok, tax, "tax-gateway", S.tax_con, S.tax_serial))
		return -1;
	S.tax_key = node_key(tax);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	free(admin);
	tds_key_free(S.tax_key);
	int a = tn_stop(tax), c = tn_stop(op);
	tn_free(tax);
	tn_free(op);
	return a == 0 && c == 0 ? 0 : -1;
}

#define PLAN                                                                                                        \
	"\"security_plan\":{\"transfer_encryption\":\"国密 SM4 加密传输\",\"access_control\":\"最小权限与双人审批\","     \
	"\"masking\":\"查询结果不含个人敏感信息\",\"logging\":\"每次调用留存日志180天\",\"destruction\":\"到期删除并出具销毁证明\"}"

/* The bank's application text with the given fields of the tax product. */
static void bank_app(char *buf, size_t n, const char *fields)
{
	snprintf(buf, n,
		 "{\"scenario\":{\"name\":\"普惠金融小微企业信贷评估\",\"description\":\"小微企业申请贷款时，经企业授权核验其纳税情况，"
		 "作为授信额度的依据\"},\"purpose\":\"credit-risk\",\"industry\":\"banking\",\"qualifications\":[\"%s\"],"
		 "\"needs\":[{\"entry\":\"%s\",\"fields\":%s,\"volume\":{\"amount\":200000,\"unit\":\"calls\"},"
		 "\"frequency\":\"daily\",\"period\":{\"from\":\"2026-01-01T00:00:00Z\",\"to\":\"2028-01-01T00:00:00Z\"}}]," PLAN "}",
		 S.bank_qual, S.product, fields);
}

static json_t *get_app(const char *id, const char *tok)
{
	char path[128];
	json_t *out = NULL;
	snprintf(path, sizeof path, "/api/v1/applications/%s", id);
	expect(tn_json(op, "GET", path, tok, NULL, &out), 200, out, "application");
	return out;
}

static void review(const char *id, const char *tok, const char *body, long want, const char *code)
{
	char path[128];
	snprintf(path, sizeof path, "/api/v1/applications/%s/reviews", id);
	if (want == 200) {
		json_t *out = NULL;
		expect(tn_json(op, "POST", path, tok, body, &out), 200, out, "review");
		json_decref(out);
	} else {
		refused("POST", path, tok, body, want, code);
	}
}

static const char INITIAL_OK[] = "{\"stage\":\"initial\",\"decision\":\"approve\",\"findings\":{"
				 "\"scenario_compliance\":{\"ok\":true,\"note\":\"普惠金融，公共利益优先\"},"
				 "\"industry_relevance\":{\"ok\":true,\"note\":\"信贷是银行主营业务\"},"
				 "\"necessity\":{\"ok\":true,\"note\":\"两个字段，最小必要\"}}}";
static const char FINAL_OK[] = "{\"stage\":\"final\",\"decision\":\"approve\",\"findings\":{"
			       "\"security\":{\"ok\":true,\"note\":\"安全方案可控\"},"
			       "\"public_interest\":{\"ok\":true,\"note\":\"缓解小微企业融资难\"}},"
			       "\"conditions\":[\"查询须经企业授权\"]}";

static void test_credit_assessment(void **state)
{
	(void)state;
	json_t *out = NULL;
	char body[4096], path[160], id[TDS_ID_MAX];
	/* the tax bureau's product in the fused catalog */
	tds_id_new("prd", S.product);
	snprintf(body, sizeof body,
		 "{\"entries\":[{\"kind\":\"product\",\"id\":\"%s\",\"version\":1,\"title\":\"企业纳税信息查询\","
		 "\"description\":\"按统一社会信用代码查询企业纳税信息\",\"form\":\"api\",\"domain\":\"tax\",\"tags\":[\"纳税\"],"
		 "\"fields\":[{\"name\":\"name\",\"label\":\"企业名称\",\"type\":\"text\"},"
		 "{\"name\":\"tax_amount\",\"label\":\"纳税额\",\"type\":\"decimal\"},"
		 "{\"name\":\"tax_grade\",\"label\":\"纳税信用等级\",\"type\":\"text\"},"
		 "{\"name\":\"legal_rep_id\",\"label\":\"法定代表人身份证号\",\"type\":\"text\"}],"
		 "\"scenarios\":[\"credit-risk\",\"anti-fraud\"],\"scope\":{\"scope\":\"space\"}}]}",
		 S.product);
	expect(signed_call(op, "POST", "/api/v1/catalog/entries", S.tax_key, S.tax_serial, body, &out), 200, out, "entries");
	json_decref(out);

	/* 1. the draft asks for the legal representative's ID number without a reason: flagged */
	bank_app(body, sizeof body, "[\"name\",\"tax_amount\",\"legal_rep_id\"]");
	expect(tn_json(op, "POST", "/api/v1/applications", S.bank_tok, body, &out), 201, out, "draft");
	snprintf(id, sizeof id, "%s", tds_json_str(out, "id", ""));
	json_t *is = json_object_get(out, "issues");
	assert_int_equal(json_array_size(is), 1);
	assert_string_equal(tds_json_str(json_array_get(is, 0), "code", ""), "field_justification_missing");
	assert_string_equal(tds_json_str(json_array_get(is, 0), "path", ""), "$.needs[0].fields[2]");
	json_decref(out);
	snprintf(path, sizeof path, "/api/v1/applications/%s/submit", id);
	refused("POST", path, S.bank_tok, "{}", 422, "application_has_issues");
	/* fixed: the ID number dropped */
	snprintf(path, sizeof path, "/api/v1/applications/%s", id);
	bank_app(body, sizeof body, "[\"name\",\"tax_amount\",\"tax_grade\"]");
	expect(tn_json(op, "PUT", path, S.bank_tok, body, &out), 200, out, "fix");
	assert_int_equal(json_array_size(json_object_get(out, "issues")), 0);
	json_decref(out);
	snprintf(path, sizeof path, "/api/v1/applications/%s/submit", id);
	expect(tn_json(op, "POST", path, S.bank_tok, "{\"note\":\"请审核\"}", &out), 200, out, "submit");
	assert_string_equal(tds_json_str(out, "state", ""), "submitted");
	int64_t due = 0, at = 0;
	assert_int_equal(tds_time_parse(tds_json_str(out, "due_at", ""), &due), 0);
	assert_int_equal(tds_time_parse(tds_json_str(out, "submitted_at", ""), &at), 0);
	assert_int_equal(due - at, 2 * 86400000LL); /* operation.initial_review_days = 2 */
	assert_false(tds_json_bool(out, "overdue", true));
	json_decref(out);

	/* 2. the authorization operator accepts it and rejects it at the initial review with advice */
	review(id, S.bank_tok, "{\"stage\":\"accept\",\"decision\":\"approve\"}", 403, NULL); /* consumer: route refuses */
	review(id, S.reg_tok, "{\"stage\":\"accept\",\"decision\":\"approve\"}", 403, "wrong_role");
	review(id, S.auth_tok, "{\"stage\":\"accept\",\"decision\":\"approve\"}", 200, NULL);
	review(id, S.auth_tok, "{\"stage\":\"accept\",\"decision\":\"approve\"}", 409, "invalid_state");
	review(id, S.auth_tok,
	       "{\"stage\":\"initial\",\"decision\":\"reject\",\"findings\":{"
	       "\"scenario_compliance\":{\"ok\":true,\"note\":\"合规\"},\"industry_relevance\":{\"ok\":true,\"note\":\"相关\"},"
	       "\"necessity\":{\"ok\":false,\"note\":\"纳税信用等级与授信额度无直接关系\"}},"
	       "\"reasons\":\"申请字段超出最小必要范围\",\"advice\":\"删除 tax_grade 字段后重新提交\"}",
	       200, NULL);
	out = get_app(id, S.bank_tok);
	assert_string_equal(tds_json_str(out, "state", ""), "rejected");
	json_t *last = json_array_get(json_object_get(out, "steps"), json_array_size(json_object_get(out, "steps")) - 1);
	assert_string_equal(tds_json_str(last, "advice", ""), "删除 tax_grade 字段后重新提交");
	assert_string_equal(tds_json_str(last, "stage", ""), "initial");
	json_decref(out);

	/* 3. rectified and resubmitted */
	refused("POST", path, S.bank_tok, "{}", 400, "rectification_required");
	snprintf(path, sizeof path, "/api/v1/applications/%s", id);
	bank_app(body, sizeof body, "[\"name\",\"tax_amount\"]");
	expect(tn_json(op, "PUT", path, S.bank_tok, body, &out), 200, out, "rectify");
	json_decref(out);
	snprintf(path, sizeof path, "/api/v1/applications/%s/submit", id);
	expect(tn_json(op, "POST", path, S.bank_tok, "{\"rectification\":\"已删除纳税信用等级字段\"}", &out), 200, out,
	       "resubmit");
	assert_int_equal(tds_json_int(out, "round", 0), 2);
	json_decref(out);

	/* 4. accepted, initial and final approval: the authorization list */
	review(id, S.auth_tok, "{\"stage\":\"accept\",\"decision\":\"approve\"}", 200, NULL);
	review(id, S.auth_tok, INITIAL_OK, 200, NULL);
	out = get_app(id, S.bank_tok);
	int64_t now = tds_now_ms();
	assert_int_equal(tds_time_parse(tds_json_str(out, "due_at", ""), &due), 0);
	assert_true(due > now + 6 * 86400000LL && due <= now + 7 * 86400000LL); /* operation.final_review_days = 7 */
	json_decref(out);
	review(id, S.reg_tok,
	       "{\"stage\":\"regulator\",\"decision\":\"approve\",\"findings\":{\"supervision\":{\"ok\":true,\"note\":\"x\"}}}",
	       422, "regulator_not_required");
	review(id, admin, FINAL_OK, 200, NULL);
	out = get_app(id, S.bank_tok);
	assert_string_equal(tds_json_str(out, "state", ""), "approved");
	assert_int_equal(json_array_size(json_object_get(out, "steps")), 7);
	snprintf(S.auth_list, sizeof S.auth_list, "%s", tds_json_str(out, "authorization_id", ""));
	json_decref(out);
	snprintf(path, sizeof path, "/api/v1/authorizations/%s", S.auth_list);
	expect(tn_json(op, "GET", path, S.bank_tok, NULL, &out), 200, out, "authorization");
	json_t *item = json_array_get(json_object_get(out, "items"), 0);
	assert_string_equal(tds_json_str(item, "name", ""), "企业纳税信息查询");
	assert_int_equal(json_array_size(json_object_get(item, "fields")), 2);
	assert_string_equal(tds_json_str(json_object_get(item, "scope_of_use"), "purpose", ""), "credit-risk");
	assert_int_equal(json_array_size(json_object_get(json_object_get(item, "restrictions"), "general")), 3);
	assert_string_equal(json_string_value(json_array_get(json_object_get(json_object_get(item, "restrictions"), "specific"), 0)),
			    "查询须经企业授权");
	json_decref(out);
	refused("GET", path, S.ai_tok, NULL, 404, "authorization_not_found");
	expect(tn_json(op, "GET", "/api/v1/authorizations", S.bank_tok, NULL, &out), 200, out, "authorizations");
	assert_int_equal(json_array_size(json_object_get(out, "items")), 1);
	json_decref(out);

	/* 5. the contract stays within the list */
	snprintf(body, sizeof body,
		 "{\"product_id\":\"%s\",\"actions\":[\"query\"],\"fields\":[\"name\",\"tax_grade\"],\"purpose\":\"credit-risk\","
		 "\"validity\":{\"from\":\"2026-12-01T00:00:00Z\",\"to\":\"2027-06-01T00:00:00Z\"},\"authorization_id\":\"%s\"}",
		 S.product, S.auth_list);
	expect(tn_json(op, "POST", "/api/v1/orders", S.bank_tok, body, &out), 422, out, "order beyond");
	assert_string_equal(err_code(out), "beyond_authorization");
	assert_string_equal(tds_json_str(json_array_get(json_object_get(json_object_get(json_object_get(out, "error"), "details"),
									 "issues"), 0), "code", ""),
			    "field_not_authorized");
	json_decref(out);
	snprintf(body, sizeof body,
		 "{\"product_id\":\"%s\",\"actions\":[\"query\"],\"fields\":[\"name\",\"tax_amount\"],\"purpose\":\"credit-risk\","
		 "\"validity\":{\"from\":\"2026-12-01T00:00:00Z\",\"to\":\"2027-06-01T00:00:00Z\"},\"authorization_id\":\"%s\"}",
		 S.product, S.auth_list);
	expect(tn_json(op, "POST", "/api/v1/orders", S.bank_tok, body, &out), 201, out, "order within");
	snprintf(path, sizeof path, "/api/v1/orders/%s/contract", tds_json_str(out, "id", ""));
	json_decref(out);
	expect(tn_json(op, "POST", path, admin, "{}", &out), 201, out, "draft contract");
	char cpath[160];
	snprintf(cpath, sizeof cpath, "/api/v1/contracts/%s/versions/1", tds_json_str(out, "id", ""));
	json_decref(out);
	expect(tn_json(op, "GET", cpath, S.bank_tok, NULL, &out), 200, out, "version 1");
	assert_int_equal(json_array_size(json_object_get(out, "issues")), 0);
	json_decref(out);
}

static void test_ai_training_regulator(void **state)
{
	(void)state;
	json_t *out = NULL;
	char body[4096], path[160], id[TDS_ID_MAX];
	/* the public-data catalog item, imported by the operator */
	expect(tn_json(op, "POST", "/api/v1/catalog/import", admin,
		       "{\"items\":[{\"name\":\"企业登记注册信息\",\"type\":\"库表\",\"update_frequency\":\"每日\","
		       "\"authorization_type\":\"有条件开放\",\"usage_restrictions\":\"不得用于识别个人\","
		       "\"application_path\":\"授权运营平台\",\"required_materials\":[\"申请书\",\"安全承诺书\"]}]}",
		       &out),
	       201, out, "import");
	snprintf(S.pub, sizeof S.pub, "%s", tds_json_str(json_array_get(json_object_get(out, "items"), 0), "id", ""));
	json_decref(out);
	assert_true(strncmp(S.pub, "pub_", 4) == 0);
	snprintf(body, sizeof body,
		 "{\"scenario\":{\"name\":\"企业经营风险大模型训练\",\"description\":\"用企业登记信息训练企业经营风险识别模型\"},"
		 "\"purpose\":\"model-training\",\"industry\":\"ai\",\"ai_training\":true,\"qualifications\":[\"%s\"],"
		 "\"needs\":[{\"entry\":\"%s\",\"fields\":[],\"volume\":{\"amount\":50,\"unit\":\"megabytes\"},"
		 "\"frequency\":\"once\",\"period\":{\"from\":\"2026-01-01T00:00:00Z\",\"to\":\"2027-12-31T00:00:00Z\"}}]," PLAN "}",
		 S.ai_qual, S.pub);
	expect(tn_json(op, "POST", "/api/v1/applications", S.ai_tok, body, &out), 201, out, "ai draft");
	snprintf(id, sizeof id, "%s", tds_json_str(out, "id", ""));
	assert_int_equal(json_array_size(json_object_get(out, "issues")), 0);
	assert_true(tds_json_bool(out, "regulator_required", false));
	json_decref(out);
	snprintf(path, sizeof path, "/api/v1/applications/%s/submit", id);
	expect(tn_json(op, "POST", path, S.ai_tok, "{}", &out), 200, out, "ai submit");
	json_decref(out);
	review(id, S.auth_tok, "{\"stage\":\"accept\",\"decision\":\"approve\"}", 200, NULL);
	review(id, S.auth_tok, INITIAL_OK, 200, NULL);
	review(id, S.auth_tok, FINAL_OK, 403, "same_reviewer"); /* four eyes: initial and final by two accounts */
	review(id, admin, FINAL_OK, 200, NULL);
	out = get_app(id, S.ai_tok);
	assert_string_equal(tds_json_str(out, "state", ""), "final_review"); /* waiting for the regulator */
	json_decref(out);
	review(id, S.auth_tok,
	       "{\"stage\":\"regulator\",\"decision\":\"approve\",\"findings\":{\"supervision\":{\"ok\":true,\"note\":\"x\"}}}",
	       403, "wrong_role");
	review(id, S.reg_tok,
	       "{\"stage\":\"regulator\",\"decision\":\"approve\",\"findings\":{\"supervision\":{\"ok\":true,"
	       "\"note\":\"训练数据不含个人信息，同意\"}}}",
	       200, NULL);
	out = get_app(id, S.ai_tok);
	assert_string_equal(tds_json_str(out, "state", ""), "approved");
	json_t *steps = json_object_get(out, "steps");
	assert_string_equal(tds_json_str(json_array_get(steps, json_array_size(steps) - 1), "role", ""), "regulator");
	snprintf(path, sizeof path, "/api/v1/authorizations/%s", tds_json_str(out, "authorization_id", ""));
	json_decref(out);
	expect(tn_json(op, "GET", path, S.ai_tok, NULL, &out), 200, out, "ai authorization");
	json_t *item = json_array_get(json_object_get(out, "items"), 0);
	assert_string_equal(tds_json_str(item, "kind", ""), "public_item");
	assert_string_equal(json_string_value(json_array_get(json_object_get(json_object_get(item, "restrictions"), "specific"), 0)),
			    "不得用于识别个人");
	json_decref(out);
	/* the regulator reads every application; the bank only its own */
	expect(tn_json(op, "GET", "/api/v1/applications", S.reg_tok, NULL, &out), 200, out, "regulator list");
	assert_true(json_array_size(json_object_get(out, "items")) >= 2);
	json_decref(out);
	expect(tn_json(op, "GET", "/api/v1/applications?state=approved", S.bank_tok, NULL, &out), 200, out, "bank list");
	assert_int_equal(json_array_size(json_object_get(out, "items")), 1);
	json_decref(out);
	snprintf(path, sizeof path, "/api/v1/applications/%s", id);
	refused("GET", path, S.bank_tok, NULL, 404, "application_not_found");
}

static void test_bad_input(void **state)
{
	(void)state;
	char body[4096], path[160], id[TDS_ID_MAX];
	json_t *out = NULL;
	/* roles at the routes and in the module */
	refused("POST", "/api/v1/applications", S.tax_tok, "{}", 403, NULL); /* a provider */
	refused("POST", "/api/v1/applications", NULL, "{}", 401, NULL);
	refused("GET", "/api/v1/applications/overdue", S.bank_tok, NULL, 403, NULL);
	refused("GET", "/api/v1/authorizations", S.tax_tok, NULL, 403, NULL);
	/* malformed bodies: nothing stored */
	refused("POST", "/api/v1/applications", S.bank_tok, "not json", 400, NULL);
	refused("POST", "/api/v1/applications", S.bank_tok, "[]", 400, NULL);
	refused("POST", "/api/v1/applications", S.bank_tok, "{\"purpose\":\"x\"}", 400, NULL);
	bank_app(body, sizeof body, "[\"name\"]");
	body[strlen(body) - 1] = 0;
	strcat(body, ",\"unknown\":true}");
	refused("POST", "/api/v1/applications", S.bank_tok, body, 400, NULL);
	bank_app(body, sizeof body, "[7]");
	refused("POST", "/api/v1/applications", S.bank_tok, body, 400, "invalid_need");
	/* queries */
	refused("GET", "/api/v1/applications?state=open", S.bank_tok, NULL, 400, "invalid_query");
	refused("GET", "/api/v1/applications?limit=abc", S.bank_tok, NULL, 400, NULL);
	refused("GET", "/api/v1/applications?cursor=../x", S.bank_tok, NULL, 400, "invalid_cursor");
	refused("GET", "/api/v1/authorizations?cursor=x", S.bank_tok, NULL, 400, "invalid_cursor");
	refused("GET", "/api/v1/applications/overdue?limit=0", S.auth_tok, NULL, 400, NULL);
	refused("GET", "/api/v1/applications/apl_nope", S.bank_tok, NULL, 404, "application_not_found");
	refused("GET", "/api/v1/authorizations/aut_nope", S.bank_tok, NULL, 404, "authorization_not_found");
	expect(tn_json(op, "GET", "/api/v1/applications/overdue", S.auth_tok, NULL, &out), 200, out, "overdue");
	assert_true(json_is_array(json_object_get(out, "items")));
	json_decref(out);

	/* a draft: review junk, the applicant's own reviewer, a decision on a closed application */
	bank_app(body, sizeof body, "[\"name\"]");
	expect(tn_json(op, "POST", "/api/v1/applications", S.bank_tok, body, &out), 201, out, "draft");
	snprintf(id, sizeof id, "%s", tds_json_str(out, "id", ""));
	json_decref(out);
	review(id, S.auth_tok, "{\"stage\":\"accept\",\"decision\":\"approve\"}", 409, "invalid_state"); /* a draft */
	snprintf(path, sizeof path, "/api/v1/applications/%s/submit", id);
	refused("POST", path, S.bank_tok, "{\"rectification\":42}", 400, NULL);
	refused("POST", path, S.ai_tok, "{}", 404, "application_not_found"); /* another organisation's */
	expect(tn_json(op, "POST", path, S.bank_tok, "{}", &out), 200, out, "submit");
	json_decref(out);
	review(id, S.auth_tok, "{}", 400, NULL);
	review(id, S.auth_tok, "{\"stage\":\"accept\"}", 400, NULL);
	review(id, S.auth_tok, "{\"stage\":\"accept\",\"decision\":\"approve\",\"x\":1}", 400, NULL);
	review(id, S.auth_tok, "{\"stage\":\"accept\",\"decision\":\"reject\"}", 400, "reasons_required");
	review(id, S.auth_tok, "{\"stage\":\"accept\",\"decision\":\"reject\",\"reasons\":\"材料不全\"}", 400, "advice_required");
	review(id, S.auth_tok, "{\"stage\":\"accept\",\"decision\":\"reject\",\"reasons\":\"材料不全\",\"advice\":\"补充材料\"}", 200,
	       NULL);
	review(id, S.auth_tok, "{\"stage\":\"accept\",\"decision\":\"approve\"}", 409, "invalid_state");
	review("apl_01JN0SXCHAAAAAAAAAAAAAAAAA", S.auth_tok, "{\"stage\":\"accept\",\"decision\":\"approve\"}", 404,
	       "application_not_found");
	/* the authorization operator's own organisation cannot review its own application: give the data
	 * company the consumer role and let it apply */
	assert_int_equal(grant(S.auth_tok, "consumer"), 0);
	char text[4096];
	snprintf(text, sizeof text, "%s", body);
	char *q = strstr(text, S.bank_qual);
	assert_non_null(q);
	memcpy(q, S.auth_qual, strlen(S.auth_qual)); /* ids of one prefix have one length */
	expect(tn_json(op, "POST", "/api/v1/applications", S.auth_tok, text, &out), 201, out, "own draft");
	snprintf(id, sizeof id, "%s", tds_json_str(out, "id", ""));
	assert_int_equal(json_array_size(json_object_get(out, "issues")), 0);
	json_decref(out);
	snprintf(path, sizeof path, "/api/v1/applications/%s/submit", id);
	expect(tn_json(op, "POST", path, S.auth_tok, "{}", &out), 200, out, "own submit");
	json_decref(out);
	review(id, S.auth_tok, "{\"stage\":\"accept\",\"decision\":\"approve\"}", 403, "own_application");
	review(id, admin, "{\"stage\":\"accept\",\"decision\":\"approve\"}", 200, NULL);
}

static void test_cli(void **state)
{
	(void)state;
	char cmd[8192], file[300], app[4096], id[TDS_ID_MAX];
	char *out = NULL;
	json_t *j;
	snprintf(file, sizeof file, "%s/app.json", op->dir);
	bank_app(app, sizeof app, "[\"name\",\"tax_amount\"]");
	FILE *f = fopen(file, "w");
	assert_non_null(f);
	fputs(app, f);
	fclose(f);
	const char *bin = tn_bin_dir();
	snprintf(cmd, sizeof cmd, "%s/tds --node %s --token %s application create --body @%s --json", bin, op->api, S.bank_tok,
		 file);
	assert_int_equal(tn_run(cmd, &out), 0);
	j = json_loads(out, 0, NULL);
	free(out);
	snprintf(id, sizeof id, "%s", tds_json_str(j, "id", ""));
	json_decref(j);
	snprintf(cmd, sizeof cmd, "%s/tds --node %s --token %s application submit %s --json", bin, op->api, S.bank_tok, id);
	assert_int_equal(tn_run(cmd, &out), 0);
	free(out);
	snprintf(cmd, sizeof cmd, "%s/tds --node %s --token %s review %s --stage accept --decision approve --json", bin, op->api,
		 S.auth_tok, id);
	if (tn_run(cmd, &out) != 0)
		fail_msg("accept: %s", out);
	free(out);
	snprintf(cmd, sizeof cmd,
		 "%s/tds --node %s --token %s review %s --stage initial --decision approve --finding 'scenario_compliance=ok:合规'"
		 " --finding 'industry_relevance=ok:主营业务' --finding 'necessity=ok:最小必要' --json",
		 bin, op->api, S.auth_tok, id);
	assert_int_equal(tn_run(cmd, &out), 0);
	free(out);
	snprintf(cmd, sizeof cmd,
		 "%s/tds --node %s --token %s review %s --stage final --decision approve --finding 'security=ok:可控'"
		 " --finding 'public_interest=ok:普惠' --condition '仅限授信审批' --json",
		 bin, op->api, admin, id);
	assert_int_equal(tn_run(cmd, &out), 0);
	j = json_loads(out, 0, NULL);
	free(out);
	assert_string_equal(tds_json_str(j, "state", ""), "approved");
	char aut[TDS_ID_MAX];
	snprintf(aut, sizeof aut, "%s", tds_json_str(j, "authorization_id", ""));
	json_decref(j);
	snprintf(cmd, sizeof cmd, "%s/tds --node %s --token %s authorization show %s --json", bin, op->api, S.bank_tok, aut);
	assert_int_equal(tn_run(cmd, &out), 0);
	j = json_loads(out, 0, NULL);
	free(out);
	assert_string_equal(tds_json_str(j, "application_id", ""), id);
	json_decref(j);
	snprintf(cmd, sizeof cmd, "%s/tds --node %s --token %s application show %s", bin, op->api, S.bank_tok, id);
	assert_int_equal(tn_run(cmd, &out), 0); /* human-readable: state, steps, the list */
	assert_non_null(strstr(out, "状态 state approved"));
	assert_non_null(strstr(out, "final"));
	assert_non_null(strstr(out, aut));
	free(out);
	snprintf(cmd, sizeof cmd, "%s/tds --node %s --token %s authorization show %s", bin, op->api, S.bank_tok, aut);
	assert_int_equal(tn_run(cmd, &out), 0);
	if (!strstr(out, "企业纳税信息查询"))
		fail_msg("authorization show: %s", out);
	assert_non_null(strstr(out, "credit-risk"));
	free(out);
	snprintf(cmd, sizeof cmd, "%s/tds --node %s --token %s application list --state approved", bin, op->api, S.bank_tok);
	assert_int_equal(tn_run(cmd, &out), 0);
	assert_non_null(strstr(out, id));
	free(out);
	/* refusals (1) and usage errors (2) */
	snprintf(cmd, sizeof cmd, "%s/tds --node %s --token %s review %s --stage final --decision approve --json", bin, op->api,
		 admin, id);
	assert_int_equal(tn_run(cmd, &out), 1);
	free(out);
	snprintf(cmd, sizeof cmd, "%s/tds --node %s review %s --stage x --decision y --finding bad 2>/dev/null", bin, op->api, id);
	assert_int_equal(tn_run(cmd, &out), 2);
	free(out);
	snprintf(cmd, sizeof cmd, "%s/tds --node %s application create 2>/dev/null", bin, op->api);
	assert_int_equal(tn_run(cmd, &out), 2);
	free(out);
	snprintf(cmd, sizeof cmd, "%s/tds --node %s application show nope 2>/dev/null", bin, op->api);
	assert_int_equal(tn_run(cmd, &out), 2);
	free(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_credit_assessment),
	    cmocka_unit_test(test_ai_training_regulator),
	    cmocka_unit_test(test_bad_input),
	    cmocka_unit_test(test_cli),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
