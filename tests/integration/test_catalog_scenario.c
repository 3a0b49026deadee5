/*
 * test_catalog_scenario.c — issue 5's acceptance scenario on real nodes: a tax bureau (税务局) with its
 * own connector imports an enterprise tax CSV and a social-security CSV, the scan grades them, the
 * platform's reviewers review and code them, the bureau publishes them and packages an API product
 * and a dataset product, lists them, and a bank — an account on the operator, which never saw a row —
 * finds them in the fused catalog by searching in Chinese ("纳税", "社保"). Along the way: the raw
 * rows never reach the operator (only metadata does), a delisted product disappears from search, and
 * every step leaves evidence on the node where it happened.
 *
 * Tests run in order and build on each other.
 */
#include "harness.h"

#include "catalog/catalog.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

static const char TAX_CSV[] = "纳税人识别号,企业名称,法定代表人身份证号,所属行业,纳税额,申报日期\n"
			      "91310110666007217T,上海某贸易有限公司,11010119900307299X,批发业,8800.00,2026-10-15\n"
			      "91330101589882738D,杭州某科技有限公司,110101199003074477,软件业,12000.50,2026-10-16\n"
			      "91350500676532779B,泉州某制造有限公司,430102197606046442,制造业,,2026-10-17\n";

static const char SOCIAL_CSV[] = "统一社会信用代码,单位名称,参保人数,缴费基数合计,缴费月份\n"
				 "91310110666007217T,上海某贸易有限公司,35,420000,2026-09\n"
				 "91330101589882738D,杭州某科技有限公司,120,1680000,2026-09\n"
				 "91350500676532779B,泉州某制造有限公司,860,5160000,2026-09\n";

static tn_node *op, *tax;
static char *admin, *tax_admin;
static char env_op[300];
static char *const OP_ENV[] = {"TDS_LEDGER_CHECKPOINT_INTERVAL_S=0", NULL};
static char *tax_env[] = {env_op, "TDS_LEDGER_CHECKPOINT_INTERVAL_S=0", "TDS_CATALOG_CODE_BASE=tds://space.example.cn",
			  NULL};

static struct {
	char tax_org[64], tax_token[128], bank_org[64], bank_token[128];
	char rev1[160], rev2[160];
	char res_tax[64], res_social[64];
	char prd_api[64], prd_dataset[64];
} S;

static int setup(void **state)
{
	(void)state;
	op = tn_init("operator", "gm");
	tax = tn_init("connector", "gm");
	if (tn_start(op, OP_ENV))
		return -1;
	snprintf(env_op, sizeof env_op, "TDS_NODE_OPERATOR_URL=%s", op->api);
	if (tn_start(tax, tax_env))
		return -1;
	admin = tn_login_admin(op);
	tax_admin = tn_login_admin(tax);
	return admin && tax_admin ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	free(admin);
	free(tax_admin);
	int a = tn_stop(tax), b = tn_stop(op);
	tn_free(tax);
	tn_free(op);
	return a == 0 && b == 0 ? 0 : -1;
}

/* ---- helpers ---- */

static const char *err_code(json_t *out) { return tds_json_str(json_object_get(out, "error"), "code", ""); }

static void expect(long got, long want, json_t *out, const char *what)
{
	if (got != want)
		fail_msg("%s: HTTP %ld, wanted %ld (%s: %s)", what, got, want, err_code(out),
			 tds_json_str(json_object_get(out, "error"), "message", ""));
}

/* POST with a body built by json_pack-like construction (body consumed). */
static long post(tn_node *n, const char *path, const char *tok, json_t *body, json_t **out)
{
	char *text = json_dumps(body, 0);
	long st = tn_json(n, "POST", path, tok, text, out);
	free(text);
	json_decref(body);
	return st;
}

static long get(tn_node *n, const char *path, const char *tok, json_t **out) { return tn_json(n, "GET", path, tok, NULL, out); }

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
	nanosleep(&ts, NULL);
}

/* An account with `roles` on the tax connector (created by its admin), logged in. */
static void local_account(const char *user, const char *roles, char *token, size_t cap)
{
	json_t *out = NULL;
	char pw[96];
	snprintf(pw, sizeof pw, "correct horse battery %s", user);
	expect(post(tax, "/api/v1/accounts", tax_admin, json_pack("{s:s, s:s, s:o}", "username", user, "password", pw, "roles",
								   json_loads(roles, 0, NULL)),
		    &out),
	       201, out, "account");
	json_decref(out);
	char *tok = tn_login(tax, user, pw);
	assert_non_null(tok);
	snprintf(token, cap, "%s", tok);
	free(tok);
}

/* Uploads and imports a CSV source on the tax connector; returns its id in id (64 bytes). */
static void import_csv(const char *name, const char *csv, char *id)
{
	tds_buf b64 = TDS_BUF_INIT;
	assert_int_equal(tds_b64_encode(csv, strlen(csv), &b64), 0);
	json_t *out = NULL;
	char path[160];
	expect(post(tax, "/api/v1/sources", tax_admin, json_pack("{s:s, s:s, s:s}", "name", name, "kind", "csv", "content_base64", b64.data),
		    &out),
	       201, out, "register source");
	tds_buf_free(&b64);
	snprintf(id, 64, "%s", tds_json_str(out, "id", ""));
	json_decref(out);
	snprintf(path, sizeof path, "/api/v1/sources/%s/import", id);
	expect(post(tax, path, tax_admin, json_object(), &out), 200, out, "import");
	json_decref(out);
}

static json_t *approval(void)
{
	return json_pack("{s:s, s:s, s:b, s:s}", "decision", "approve", "legality", "compliant", "masking_adequate", 1,
			 "filing_status", "filed");
}

/* Registers a resource from source `src`, has it reviewed (by one or both reviewers as needed) and
 * published to the space; returns the resource id in id and its level in level. */
static void resource(const char *src, const char *name, const char *desc, json_t *tags, char *id, char *level)
{
	json_t *out = NULL;
	char path[160];
	expect(post(tax, "/api/v1/resources", tax_admin,
		    json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:o}", "source_id", src, "name", name, "description", desc,
			      "source_category", "government", "update_frequency", "monthly", "domain", "tax", "tags", tags),
		    &out),
	       201, out, "register resource");
	snprintf(id, 64, "%s", tds_json_str(out, "id", ""));
	snprintf(level, 4, "%s", tds_json_str(out, "level", ""));
	json_int_t needed = json_integer_value(json_object_get(out, "approvals_needed"));
	assert_string_equal(tds_json_str(out, "status", ""), "pending_review");
	json_decref(out);
	snprintf(path, sizeof path, "/api/v1/resources/%s/reviews", id);
	expect(post(tax, path, S.rev1, approval(), &out), 200, out, "review 1");
	json_decref(out);
	if (needed == 2) {
		expect(post(tax, path, S.rev2, approval(), &out), 200, out, "review 2");
		json_decref(out);
	}
	snprintf(path, sizeof path, "/api/v1/resources/%s", id);
	expect(get(tax, path, S.rev1, &out), 200, out, "read resource");
	assert_string_equal(tds_json_str(out, "status", ""), "approved");
	assert_int_equal(tds_rescode_parse("tds://space.example.cn", tds_json_str(out, "code", ""), NULL), 0);
	json_decref(out);
	snprintf(path, sizeof path, "/api/v1/resources/%s/publish", id);
	expect(post(tax, path, tax_admin, json_pack("{s:s}", "scope", "space"), &out), 200, out, "publish");
	json_decref(out);
}

/* Searches the operator's fused catalog as the bank; the ids of the hits (a new reference). */
static json_t *search(const char *query_string)
{
	char path[512];
	json_t *out = NULL, *ids = json_array();
	snprintf(path, sizeof path, "/api/v1/catalog/search?%s", query_string);
	expect(get(op, path, S.bank_token, &out), 200, out, path);
	size_t i;
	json_t *it;
	json_array_foreach(json_object_get(out, "items"), i, it) json_array_append_new(ids, json_string(tds_json_str(it, "id", "")));
	json_decref(out);
	return ids;
}

static bool has(const json_t *ids, const char *id)
{
	size_t i;
	json_t *it;
	json_array_foreach(ids, i, it) if (strcmp(json_string_value(it), id) == 0) return true;
	return false;
}

/* Waits (up to 15 s) until searching `q` as the bank finds (or, with want false, no longer finds) id. */
static void wait_search(const char *q, const char *id, bool want)
{
	for (int i = 0; i < 150; i++) {
		json_t *ids = search(q);
		bool found = has(ids, id);
		json_decref(ids);
		if (found == want)
			return;
		sleep_ms(100);
	}
	fail_msg("search %s never %s %s", q, want ? "found" : "stopped finding", id);
}

/* ---- the scenario ---- */

static void test_space(void **state)
{
	(void)state;
	/* the tax bureau: a verified government organisation with the provider role and its connector */
	assert_int_equal(tn_onboard_org(op, admin, "taxbureau", "某市税务局", "government", "11350100MB01234565", "provider",
					S.tax_org, S.tax_token),
			 0);
	assert_int_equal(tn_enroll_connector(op, admin, S.tax_token, tax, "tax-connector-01", NULL, NULL), 0);
	/* the bank: a verified consumer on the operator only */
	assert_int_equal(
	    tn_onboard_org(op, admin, "citybank", "示例城市商业银行", "bank", "91370100780603055K", "consumer", S.bank_org, S.bank_token), 0);
	/* the platform's reviewers hold operator accounts on the connector where the data lives */
	local_account("reviewer1", "[\"operator\"]", S.rev1, sizeof S.rev1);
	local_account("reviewer2", "[\"operator\"]", S.rev2, sizeof S.rev2);
}

static void test_resources_graded_reviewed_coded(void **state)
{
	(void)state;
	char src_tax[64], src_social[64], level[4];
	import_csv("enterprise-tax", TAX_CSV, src_tax);
	import_csv("social-security", SOCIAL_CSV, src_social);
	/* the tax table holds legal representatives' resident ID numbers: sensitive personal information */
	resource(src_tax, "企业纳税信息", "企业月度纳税申报信息，含纳税额与申报日期", json_pack("[s, s]", "纳税", "企业"), S.res_tax, level);
	assert_string_equal(level, "L3");
	/* the social-security table is enterprise information only */
	resource(src_social, "企业社保缴纳信息", "企业参保人数与社保缴费基数（社保缴纳情况）", json_pack("[s, s]", "社保", "企业"),
		 S.res_social, level);
	assert_true(strcmp(level, "L3") < 0);
}

/* Registers a product on the tax connector, has a reviewer approve it and lists it; id filled. */
static void product(json_t *body, char *id)
{
	json_t *out = NULL;
	char path[160];
	expect(post(tax, "/api/v1/products", tax_admin, body, &out), 201, out, "register product");
	snprintf(id, 64, "%s", tds_json_str(out, "id", ""));
	assert_string_equal(tds_json_str(out, "status", ""), "pending_review");
	json_decref(out);
	snprintf(path, sizeof path, "/api/v1/products/%s/list", id);
	expect(post(tax, path, tax_admin, json_object(), &out), 409, out, "list before review");
	json_decref(out);
	snprintf(path, sizeof path, "/api/v1/products/%s/review", id);
	expect(post(tax, path, tax_admin, json_pack("{s:s}", "decision", "approve"), &out), 403, out, "self review");
	assert_string_equal(err_code(out), "self_review");
	json_decref(out);
	expect(post(tax, path, S.rev1, json_pack("{s:s}", "decision", "approve"), &out), 200, out, "approve product");
	assert_int_equal(tds_prdcode_parse("tds://space.example.cn", tds_json_str(out, "code", ""), NULL), 0);
	json_decref(out);
	snprintf(path, sizeof path, "/api/v1/products/%s/list", id);
	expect(post(tax, path, tax_admin, json_pack("{s:s}", "scope", "space"), &out), 200, out, "list");
	assert_string_equal(tds_json_str(out, "status", ""), "listed");
	json_decref(out);
}

static void test_products_listed(void **state)
{
	(void)state;
	json_t *out = NULL;
	/* a script that reads another table is refused, naming the token */
	expect(post(tax, "/api/v1/products", tax_admin,
		    json_pack("{s:s, s:s, s:s, s:[s], s:{s:s, s:s, s:[]}}", "resource_id", S.res_tax, "name", "越权查询", "form", "api",
			      "scenarios", "信贷审批", "spec", "mode", "script", "sql", "SELECT * FROM accounts", "parameters"),
		    &out),
	       400, out, "script over another table");
	assert_string_equal(err_code(out), "invalid_sql");
	assert_non_null(strstr(tds_json_str(json_object_get(out, "error"), "message", ""), "offset"));
	json_decref(out);
	/* an API product (the wizard: a query by taxpayer id) over the tax resource */
	product(json_pack("{s:s, s:s, s:s, s:s, s:[s, s], s:s, s:s, s:[s], s:{s:s, s:[s, s, s], s:[{s:s, s:s, s:s}]}}",
			  "resource_id", S.res_tax, "name", "企业纳税信用查询接口", "form", "api", "description",
			  "按纳税人识别号查询企业的纳税额与申报日期，用于普惠金融信贷审批", "scenarios", "信贷审批", "贷后管理",
			  "industry", "J66", "domain", "tax", "tags", "纳税", "spec", "mode", "wizard", "fields", "纳税人识别号",
			  "纳税额", "申报日期", "filters", "field", "纳税人识别号", "op", "eq", "param", "uscc"),
		S.prd_api);
	/* a dataset product over the social-security resource */
	product(json_pack("{s:s, s:s, s:s, s:s, s:[s], s:s, s:[s], s:{s:[{s:s}, {s:s}, {s:s}]}}", "resource_id", S.res_social,
			  "name", "企业社保缴纳数据集", "form", "dataset", "description", "按月更新的企业参保人数与缴费基数",
			  "scenarios", "企业经营评估", "industry", "S", "tags", "社保", "spec", "fields", "name", "统一社会信用代码",
			  "name", "参保人数", "name", "缴费基数合计"),
		S.prd_dataset);
}

static void test_bank_finds_them(void **state)
{
	(void)state;
	/* the connector's outbox reaches the operator within seconds */
	wait_search("q=%E7%BA%B3%E7%A8%8E", S.prd_api, true);        /* 纳税 */
	wait_search("q=%E7%A4%BE%E4%BF%9D", S.prd_dataset, true);    /* 社保 */
	/* the published resources are in the fused catalog too */
	json_t *ids = search("q=%E7%BA%B3%E7%A8%8E");
	assert_true(has(ids, S.res_tax));
	assert_false(has(ids, S.prd_dataset));
	json_decref(ids);
	/* filters: only API products; only datasets */
	ids = search("q=%E7%BA%B3%E7%A8%8E&kind=product&form=api");
	assert_true(has(ids, S.prd_api));
	assert_false(has(ids, S.res_tax));
	json_decref(ids);
	ids = search("q=%E7%A4%BE%E4%BF%9D&form=api");
	assert_false(has(ids, S.prd_dataset));
	json_decref(ids);

	/* the same search with the CLI, as the bank would type it */
	char cmd[1024], *o = NULL;
	snprintf(cmd, sizeof cmd, "%s/tds --node %s --token %s catalog search 社保 --kind product --json", tn_bin_dir(), op->api,
		 S.bank_token);
	assert_int_equal(tn_run(cmd, &o), 0);
	json_t *cli = json_loads(o, 0, NULL);
	free(o);
	assert_non_null(cli);
	assert_string_equal(tds_json_str(json_array_get(json_object_get(cli, "items"), 0), "id", ""), S.prd_dataset);
	json_decref(cli);

	/* what the bank sees is metadata: fields and grades, never a row */
	char path[256];
	json_t *out = NULL;
	snprintf(path, sizeof path, "/api/v1/catalog/entries/%s", S.prd_api);
	expect(get(op, path, S.bank_token, &out), 200, out, "entry");
	assert_string_equal(tds_json_str(out, "form", ""), "api");
	assert_string_equal(tds_json_str(out, "org_id", ""), S.tax_org);
	assert_int_equal(json_array_size(json_object_get(out, "fields")), 3);
	assert_int_equal(tds_prdcode_parse("tds://space.example.cn", tds_json_str(out, "code", ""), NULL), 0);
	char *text = json_dumps(out, 0);
	assert_null(strstr(text, "8800"));
	assert_null(strstr(text, "上海某贸易有限公司"));
	assert_null(strstr(text, "11010119900307299X"));
	free(text);
	json_decref(out);
	/* the DCAT view of the API product */
	snprintf(path, sizeof path, "/api/v1/catalog/entries/%s?format=dcat", S.prd_api);
	expect(get(op, path, S.bank_token, &out), 200, out, "dcat");
	assert_non_null(json_object_get(out, "@context"));
	json_decref(out);

	/* the bureau delists the dataset: it leaves the bank's search */
	snprintf(path, sizeof path, "/api/v1/products/%s/delist", S.prd_dataset);
	expect(post(tax, path, tax_admin, json_pack("{s:s}", "reason", "数据口径调整"), &out), 200, out, "delist");
	json_decref(out);
	wait_search("q=%E7%A4%BE%E4%BF%9D&kind=product", S.prd_dataset, false);

	/* evidence on the connector: registration, review, listing, delisting of the products */
	snprintf(path, sizeof path, "/api/v1/ledger/search?subject=%s&limit=50", S.prd_dataset);
	expect(get(tax, path, tax_admin, &out), 200, out, "evidence");
	text = json_dumps(out, JSON_COMPACT);
	assert_non_null(strstr(text, "catalog.product_registered"));
	assert_non_null(strstr(text, "catalog.product_reviewed"));
	assert_non_null(strstr(text, "catalog.product_listed"));
	assert_non_null(strstr(text, "catalog.product_delisted"));
	free(text);
	json_decref(out);
	/* and on the operator: the entries it received */
	snprintf(path, sizeof path, "/api/v1/ledger/search?subject=%s&limit=50", S.prd_api);
	expect(get(op, path, admin, &out), 200, out, "operator evidence");
	text = json_dumps(out, JSON_COMPACT);
	assert_non_null(strstr(text, "catalog.entry_received"));
	free(text);
	json_decref(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_space),
	    cmocka_unit_test(test_resources_graded_reviewed_coded),
	    cmocka_unit_test(test_products_listed),
	    cmocka_unit_test(test_bank_finds_them),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
