/*
 * test_product_sync.c — data products (数据产品) reaching the operator's fused catalog (融合目录): an
 * operator and a tax bureau's enrolled connector. The connector registers and approves a resource,
 * then an API product on it; listing it (上架) brings it to the operator within seconds, where a bank
 * finds it by searching "纳税" with its form, scenarios, industry, fields and code; delisting (下架)
 * takes it out of search, listing again brings it back (the catalog revision outranks the
 * withdrawal), an approved update replaces the title the bank sees, and removal takes it out.
 */
#include "harness.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

static tn_node *op, *con;
static char *op_admin, *con_admin;
static char tax_org[64], tax_tok[128], bank_org[64], bank_tok[128], reviewer[128];

static const char CSV[] = "纳税人识别号,企业名称,纳税额,年份\n"
			  "91310110666007217T,上海某贸易有限公司,8800,2024\n"
			  "91330101589882738D,杭州某科技有限公司,12000,2024\n";

static const char *err_code(json_t *out) { return tds_json_str(json_object_get(out, "error"), "code", ""); }

static void expect(long st, long want, json_t *out, const char *what)
{
	if (st != want)
		fail_msg("%s: HTTP %ld, wanted %ld (%s: %s)", what, st, want, err_code(out),
			 tds_json_str(json_object_get(out, "error"), "message", ""));
}

static int setup(void **state)
{
	(void)state;
	op = tn_init("operator", "gm");
	char *op_env[] = {"TDS_LEDGER_CHECKPOINT_INTERVAL_S=0", NULL};
	if (tn_start(op, op_env) || !(op_admin = tn_login_admin(op)))
		return -1;
	con = tn_init("connector", "gm");
	char url[160], *con_env[] = {url, "TDS_LEDGER_CHECKPOINT_INTERVAL_S=0", "TDS_CONNECTOR_CATALOG_SYNC_INTERVAL_MS=200",
				     NULL};
	snprintf(url, sizeof url, "TDS_NODE_OPERATOR_URL=%s", op->api);
	if (tn_start(con, con_env) || !(con_admin = tn_login_admin(con)))
		return -1;
	if (tn_onboard_org(op, op_admin, "tax-admin", "某市税务局", "government", "91310110666007217T", "provider", tax_org,
			   tax_tok) ||
	    tn_onboard_org(op, op_admin, "bank-admin", "某商业银行", "bank", "91370100780603055K", "consumer", bank_org, bank_tok) ||
	    tn_enroll_connector(op, op_admin, tax_tok, con, "tax-connector-1", NULL, NULL))
		return -1;
	json_t *out = NULL;
	if (tn_json(con, "POST", "/api/v1/accounts", con_admin,
		    "{\"username\":\"reviewer\",\"password\":\"correct horse battery reviewer\",\"roles\":[\"operator\"]}", &out) != 201)
		return -1;
	json_decref(out);
	char *tok = tn_login(con, "reviewer", "correct horse battery reviewer");
	if (!tok)
		return -1;
	snprintf(reviewer, sizeof reviewer, "%s", tok);
	free(tok);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	free(op_admin);
	free(con_admin);
	int a = tn_stop(con), b = tn_stop(op);
	tn_free(con);
	tn_free(op);
	return a == 0 && b == 0 ? 0 : -1;
}

/* 纳税 URL-encoded */
#define Q_NASHUI "q=%E7%BA%B3%E7%A8%8E"

/* The bank's search hit for id (new reference) or NULL. */
static json_t *bank_hit(const char *id)
{
	json_t *out = NULL, *hit = NULL, *e;
	expect(tn_json(op, "GET", "/api/v1/catalog/search?" Q_NASHUI, bank_tok, NULL, &out), 200, out, "search");
	size_t i;
	json_array_foreach(json_object_get(out, "items"), i, e) {
		if (!hit && !strcmp(tds_json_str(e, "id", ""), id))
			hit = json_incref(e);
	}
	json_decref(out);
	return hit;
}

/* Waits up to 10 s until the bank finds id (and, when title is given, with that title) or, with
 * want 0, no longer finds it. */
static void wait_for(const char *id, int want, const char *title, const char *what)
{
	for (int i = 0; i < 100; i++) {
		json_t *hit = bank_hit(id);
		bool done = want ? hit && (!title || !strcmp(tds_json_str(hit, "title", ""), title)) : !hit;
		json_decref(hit);
		if (done)
			return;
		struct timespec ts = {0, 100 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	fail_msg("%s: the operator's search did not %s %s within 10 s", what, want ? "show" : "drop", id);
}

static void post(const char *path, const char *tok, const char *body, long want, json_t **out, const char *what)
{
	json_t *o = NULL;
	expect(tn_json(con, "POST", path, tok, body, &o), want, o, what);
	if (out)
		*out = o;
	else
		json_decref(o);
}

static void test_listed_product_reaches_operator(void **state)
{
	(void)state;
	tds_buf b64 = TDS_BUF_INIT;
	tds_b64_encode(CSV, strlen(CSV), &b64);
	json_t *o = json_pack("{s:s, s:s, s:s}", "name", "企业纳税", "kind", "csv", "content_base64", b64.data), *out = NULL;
	char *body = json_dumps(o, 0), path[256], src[64], res[64], prd[64], code[160], b[1024];
	json_decref(o);
	tds_buf_free(&b64);
	post("/api/v1/sources", con_admin, body, 201, &out, "source");
	free(body);
	snprintf(src, sizeof src, "%s", tds_json_str(out, "id", ""));
	json_decref(out);
	snprintf(path, sizeof path, "/api/v1/sources/%s/import", src);
	post(path, con_admin, "{}", 200, NULL, "import");
	snprintf(b, sizeof b, "{\"source_id\":\"%s\",\"name\":\"企业纳税信息\",\"update_frequency\":\"monthly\"}", src);
	post("/api/v1/resources", con_admin, b, 201, &out, "resource");
	snprintf(res, sizeof res, "%s", tds_json_str(out, "id", ""));
	json_decref(out);
	snprintf(path, sizeof path, "/api/v1/resources/%s/reviews", res);
	post(path, reviewer,
	     "{\"decision\":\"approve\",\"legality\":\"compliant\",\"masking_adequate\":true,\"filing_status\":\"not_required\"}",
	     200, NULL, "resource review");

	snprintf(b, sizeof b,
		 "{\"resource_id\":\"%s\",\"name\":\"企业纳税查询\",\"description\":\"按年份查询企业纳税额\",\"form\":\"api\","
		 "\"scenarios\":[\"信贷审批\",\"税务核查\"],\"industry\":\"J6621\",\"domain\":\"tax\",\"tags\":[\"纳税\"],"
		 "\"spec\":{\"mode\":\"wizard\",\"fields\":[\"企业名称\",\"纳税额\"],\"filters\":[{\"field\":\"年份\",\"op\":\"eq\"}]}}",
		 res);
	post("/api/v1/products", con_admin, b, 201, &out, "product");
	snprintf(prd, sizeof prd, "%s", tds_json_str(out, "id", ""));
	json_decref(out);
	snprintf(path, sizeof path, "/api/v1/products/%s/review", prd);
	post(path, reviewer, "{\"decision\":\"approve\"}", 200, &out, "product review");
	snprintf(code, sizeof code, "%s", tds_json_str(out, "code", ""));
	json_decref(out);
	/* approved but not listed: nothing on the operator */
	json_t *hit = bank_hit(prd);
	assert_null(hit);
	snprintf(path, sizeof path, "/api/v1/products/%s/list", prd);
	post(path, con_admin, "{}", 200, NULL, "list");
	wait_for(prd, 1, NULL, "list");
	snprintf(path, sizeof path, "/api/v1/catalog/entries/%s", prd);
	expect(tn_json(op, "GET", path, bank_tok, NULL, &out), 200, out, "entry");
	assert_string_equal(tds_json_str(out, "kind", ""), "product");
	assert_string_equal(tds_json_str(out, "form", ""), "api");
	assert_string_equal(tds_json_str(out, "org_id", ""), tax_org);
	assert_string_equal(tds_json_str(out, "code", ""), code);
	assert_string_equal(tds_json_str(out, "industry", ""), "J6621");
	assert_int_equal(json_array_size(json_object_get(out, "scenarios")), 2);
	assert_int_equal(json_array_size(json_object_get(out, "fields")), 2);
	json_decref(out);

	/* delist: gone; list again: back (a later catalog revision than the withdrawal) */
	snprintf(path, sizeof path, "/api/v1/products/%s/delist", prd);
	post(path, con_admin, "{}", 200, NULL, "delist");
	wait_for(prd, 0, NULL, "delist");
	snprintf(path, sizeof path, "/api/v1/products/%s/list", prd);
	post(path, con_admin, "{}", 200, NULL, "list again");
	wait_for(prd, 1, NULL, "list again");

	/* an update shows only once approved */
	snprintf(path, sizeof path, "/api/v1/products/%s/update", prd);
	post(path, con_admin, "{\"name\":\"企业纳税查询（2025版）\"}", 200, NULL, "update");
	snprintf(path, sizeof path, "/api/v1/products/%s/review", prd);
	post(path, reviewer, "{\"decision\":\"approve\"}", 200, NULL, "review v2");
	wait_for(prd, 1, "企业纳税查询（2025版）", "approved update");

	snprintf(path, sizeof path, "/api/v1/products/%s/remove", prd);
	post(path, reviewer, "{\"reason\":\"测试移除\"}", 200, NULL, "remove");
	wait_for(prd, 0, NULL, "remove");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_listed_product_reaches_operator),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
