/*
 * test_products.c — data products (数据产品) on a real connector node: a tax bureau imports a CSV,
 * registers a resource and has it approved by two operators; then an API product (wizard), an API
 * product (SQL script), a dataset and a file are registered over HTTP, reviewed (the registrant's
 * own review refused with 403), coded, listed, updated while listed (the approved version stays
 * readable exactly), delisted. Bad input answers 4xx and registers nothing: SQL that writes,
 * attaches, reads another table or sqlite_master, several statements, undeclared parameters,
 * control characters, unknown members, junk ids and versions, wrong roles, an oversize upload. The
 * `tds product …` verbs run a lifecycle against the node too.
 */
#include "harness.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "catalog/catalog.h"

static tn_node *con;
static char *admin, rev1[128], rev2[128], plain[128], res_id[64];

static const char CSV[] = "纳税人识别号,企业名称,法定代表人身份证号,纳税额,年份\n"
			  "91310110666007217T,上海某贸易有限公司,11010119900307299X,8800.00,2024\n"
			  "91330101589882738D,杭州某科技有限公司,110101199003074477,12000.50,2024\n"
			  "91350500676532779B,泉州某制造有限公司,430102197606046442,,2025\n";

static const char *err_code(json_t *out) { return tds_json_str(json_object_get(out, "error"), "code", ""); }

static long call(const char *method, const char *path, const char *tok, const char *body, json_t **out)
{
	return tn_json(con, method, path, tok, body, out);
}

static void expect(long st, long want, json_t *out, const char *what)
{
	if (st != want)
		fail_msg("%s: HTTP %ld, wanted %ld (%s: %s)", what, st, want, err_code(out),
			 tds_json_str(json_object_get(out, "error"), "message", ""));
}

/* Expects status `want` and error code `code`; frees the answer. */
static void refused(const char *method, const char *path, const char *tok, const char *body, long want, const char *code)
{
	json_t *out = NULL;
	long st = call(method, path, tok, body, &out);
	expect(st, want, out, path);
	if (code && strcmp(err_code(out), code))
		fail_msg("%s %s: error %s (%s), wanted %s", method, path, err_code(out),
			 tds_json_str(json_object_get(out, "error"), "message", ""), code);
	json_decref(out);
}

static void account(const char *user, const char *roles, char *token, size_t cap)
{
	char body[256];
	json_t *out = NULL;
	snprintf(body, sizeof body, "{\"username\":\"%s\",\"password\":\"correct horse battery %s\",\"roles\":%s}", user, user,
		 roles);
	expect(call("POST", "/api/v1/accounts", admin, body, &out), 201, out, "account");
	json_decref(out);
	snprintf(body, sizeof body, "{\"username\":\"%s\",\"password\":\"correct horse battery %s\"}", user, user);
	expect(call("POST", "/api/v1/auth/login", NULL, body, &out), 200, out, "login");
	snprintf(token, cap, "%s", tds_json_str(out, "token", ""));
	json_decref(out);
}

static const char *APPROVE_RES = "{\"decision\":\"approve\",\"legality\":\"compliant\",\"masking_adequate\":true,"
				 "\"filing_status\":\"filed\"}";

static int setup(void **state)
{
	(void)state;
	con = tn_init("connector", "gm");
	char *env[] = {"TDS_LEDGER_CHECKPOINT_INTERVAL_S=0", "TDS_CATALOG_CODE_BASE=tds://tax.example.cn", "TDS_API_MAX_BODY=262144",
		       NULL};
	if (tn_start(con, env))
		return -1;
	if (!(admin = tn_login_admin(con)))
		return -1;
	account("reviewer1", "[\"operator\"]", rev1, sizeof rev1);
	account("reviewer2", "[\"operator\"]", rev2, sizeof rev2);
	account("plainprov", "[\"provider\"]", plain, sizeof plain);
	/* the source, imported, and its resource, approved by two reviewers (L3) */
	tds_buf b64 = TDS_BUF_INIT;
	tds_b64_encode(CSV, strlen(CSV), &b64);
	json_t *o = json_pack("{s:s, s:s, s:s}", "name", "企业纳税", "kind", "csv", "content_base64", b64.data), *out = NULL;
	char *body = json_dumps(o, 0), path[160];
	json_decref(o);
	tds_buf_free(&b64);
	expect(call("POST", "/api/v1/sources", admin, body, &out), 201, out, "source");
	free(body);
	char src[64];
	snprintf(src, sizeof src, "%s", tds_json_str(out, "id", ""));
	json_decref(out);
	snprintf(path, sizeof path, "/api/v1/sources/%s/import", src);
	expect(call("POST", path, admin, "{}", &out), 200, out, "import");
	json_decref(out);
	char rb[256];
	snprintf(rb, sizeof rb, "{\"source_id\":\"%s\",\"name\":\"企业纳税信息\",\"update_frequency\":\"monthly\"}", src);
	expect(call("POST", "/api/v1/resources", admin, rb, &out), 201, out, "resource");
	snprintf(res_id, sizeof res_id, "%s", tds_json_str(out, "id", ""));
	json_decref(out);
	snprintf(path, sizeof path, "/api/v1/resources/%s/reviews", res_id);
	expect(call("POST", path, rev1, APPROVE_RES, &out), 200, out, "resource review 1");
	json_decref(out);
	expect(call("POST", path, rev2, APPROVE_RES, &out), 200, out, "resource review 2");
	json_decref(out);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	free(admin);
	int rc = tn_stop(con);
	tn_free(con);
	return rc == 0 ? 0 : -1;
}

/* A product registration body with `form` and `spec` (JSON text). malloc'd. */
static char *product_body(const char *form, const char *spec)
{
	size_t n = strlen(spec) + 512;
	char *b = malloc(n);
	snprintf(b, n,
		 "{\"resource_id\":\"%s\",\"name\":\"企业纳税查询\",\"form\":\"%s\",\"scenarios\":[\"信贷审批\"],"
		 "\"industry\":\"I6510\",\"domain\":\"tax\",\"tags\":[\"纳税\"],\"spec\":%s}",
		 res_id, form, spec);
	return b;
}

static int64_t count_products(void)
{
	json_t *out = NULL;
	expect(call("GET", "/api/v1/products?limit=500", admin, NULL, &out), 200, out, "list");
	int64_t n = (int64_t)json_array_size(json_object_get(out, "items"));
	json_decref(out);
	return n;
}

static void test_products_over_http(void **state)
{
	(void)state;
	char path[256], id[64], code[TDS_RESCODE_MAX];
	json_t *out = NULL;

	/* API, wizard */
	char *b = product_body("api", "{\"mode\":\"wizard\",\"fields\":[\"企业名称\",\"纳税额\"],"
				      "\"filters\":[{\"field\":\"年份\",\"op\":\"eq\",\"param\":\"year\"}]}");
	expect(call("POST", "/api/v1/products", admin, b, &out), 201, out, "api wizard");
	free(b);
	snprintf(id, sizeof id, "%s", tds_json_str(out, "id", ""));
	assert_string_equal(tds_json_str(out, "status", ""), "pending_review");
	json_decref(out);
	snprintf(path, sizeof path, "/api/v1/products/%s/review", id);
	refused("POST", path, admin, "{\"decision\":\"approve\"}", 403, "self_review");
	refused("POST", path, plain, "{\"decision\":\"approve\"}", 403, NULL); /* a provider does not review */
	refused("POST", path, rev1, "{\"decision\":\"approve\",\"note\":1}", 400, NULL);
	expect(call("POST", path, rev1, "{\"decision\":\"approve\"}", &out), 200, out, "review");
	assert_string_equal(tds_json_str(out, "status", ""), "approved");
	snprintf(code, sizeof code, "%s", tds_json_str(out, "code", ""));
	assert_int_equal(tds_prdcode_parse("tds://tax.example.cn", code, NULL), 0);
	json_decref(out);
	snprintf(path, sizeof path, "/api/v1/products/%s/list", id);
	refused("POST", path, rev1, "{}", 403, NULL); /* an operator does not list */
	refused("POST", path, admin, "{\"scope\":\"moon\"}", 400, "invalid_scope");
	expect(call("POST", path, admin, "{}", &out), 200, out, "list");
	assert_string_equal(tds_json_str(out, "status", ""), "listed");
	json_decref(out);
	snprintf(path, sizeof path, "/api/v1/products/%s/versions/1", id);
	json_t *v1 = NULL;
	expect(call("GET", path, rev2, NULL, &v1), 200, v1, "version 1");
	assert_string_equal(tds_json_str(json_object_get(json_object_get(v1, "content"), "spec"), "mode", ""), "wizard");
	/* update while listed: version 2 waits, version 1 unchanged */
	snprintf(path, sizeof path, "/api/v1/products/%s/update", id);
	refused("POST", path, admin, "{\"name\":\"bad\\u0007name\"}", 400, "invalid_name");
	refused("POST", path, admin, "{\"resource_id\":\"res_x\"}", 400, NULL);
	expect(call("POST", path, admin, "{\"description\":\"新增说明\"}", &out), 200, out, "update");
	assert_string_equal(tds_json_str(out, "status", ""), "listed");
	assert_int_equal(json_integer_value(json_object_get(out, "pending_version")), 2);
	json_decref(out);
	refused("POST", path, admin, "{\"description\":\"again\"}", 409, "review_pending");
	snprintf(path, sizeof path, "/api/v1/products/%s/versions/1", id);
	expect(call("GET", path, admin, NULL, &out), 200, out, "version 1 again");
	assert_true(json_equal(out, v1));
	json_decref(out);
	json_decref(v1);
	snprintf(path, sizeof path, "/api/v1/products/%s/versions/3", id);
	refused("GET", path, admin, NULL, 404, "version_not_found");
	snprintf(path, sizeof path, "/api/v1/products/%s/versions/abc", id);
	refused("GET", path, admin, NULL, 400, "invalid_version");
	snprintf(path, sizeof path, "/api/v1/products/%s/versions/0", id);
	refused("GET", path, admin, NULL, 400, "invalid_version");
	/* by code */
	tds_buf q = TDS_BUF_INIT;
	tds_buf_puts(&q, "/api/v1/product-codes?code=");
	for (const char *p = code; *p; p++)
		tds_buf_printf(&q, strchr(":/", *p) ? "%%%02X" : "%c", *p);
	expect(call("GET", (const char *)q.data, rev1, NULL, &out), 200, out, "by code");
	assert_string_equal(tds_json_str(out, "id", ""), id);
	json_decref(out);
	tds_buf_free(&q);
	refused("GET", "/api/v1/product-codes?code=tds%3A%2F%2Ftax.example.cn%2Fprd%2F000000019", rev1, NULL, 400, "invalid_code");
	refused("GET", "/api/v1/product-codes", rev1, NULL, 400, "missing_code");
	snprintf(path, sizeof path, "/api/v1/products/%s/delist", id);
	expect(call("POST", path, admin, "{\"reason\":\"维护\"}", &out), 200, out, "delist");
	assert_string_equal(tds_json_str(out, "status", ""), "delisted");
	json_decref(out);

	/* API, script */
	b = product_body("api", "{\"mode\":\"script\",\"sql\":\"SELECT 年份, sum(纳税额) AS 合计 FROM 企业纳税 WHERE 年份 >= :from "
				"GROUP BY 年份\",\"parameters\":[{\"name\":\"from\",\"type\":\"integer\"}]}");
	expect(call("POST", "/api/v1/products", admin, b, &out), 201, out, "api script");
	free(b);
	json_decref(out);
	/* dataset */
	b = product_body("dataset", "{\"fields\":[{\"name\":\"企业名称\"},{\"name\":\"法定代表人身份证号\"},"
				    "{\"name\":\"纳税额\",\"permission\":\"compute_only\"}]}");
	expect(call("POST", "/api/v1/products", admin, b, &out), 201, out, "dataset");
	free(b);
	const json_t *f1 = json_array_get(
	    json_object_get(json_object_get(json_object_get(json_object_get(out, "current"), "content"), "spec"), "fields"), 1);
	assert_string_equal(tds_json_str(f1, "permission", ""), "masked");
	json_decref(out);
	/* file */
	b = product_body("file", "{\"file_name\":\"2024.csv\",\"media_type\":\"text/csv\",\"content_base64\":"
				 "\"5Zyw5Yy6LOaIt+aVsArmna3lt54sMTIwCg==\"}");
	expect(call("POST", "/api/v1/products", admin, b, &out), 201, out, "file");
	free(b);
	const json_t *fs = json_object_get(json_object_get(json_object_get(out, "current"), "content"), "spec");
	assert_string_equal(tds_json_str(fs, "hash_alg", ""), "sm3");
	assert_string_equal(tds_json_str(json_object_get(fs, "preview"), "kind", ""), "csv");
	json_decref(out);
	expect(call("GET", "/api/v1/products?form=file", admin, NULL, &out), 200, out, "list files");
	assert_int_equal(json_array_size(json_object_get(out, "items")), 1);
	json_decref(out);
}

static void test_bad_input(void **state)
{
	(void)state;
	int64_t before = count_products();
	static const struct {
		const char *sql, *code;
	} SQL[] = {
	    {"DELETE FROM 企业纳税", "invalid_sql"},
	    {"INSERT INTO 企业纳税 (年份) VALUES (1)", "invalid_sql"},
	    {"ATTACH DATABASE '/tmp/x.db' AS x", "invalid_sql"},
	    {"SELECT sql FROM sqlite_master", "invalid_sql"},
	    {"SELECT * FROM accounts", "invalid_sql"},
	    {"SELECT 年份 FROM 企业纳税; DELETE FROM 企业纳税", "invalid_sql"},
	    {"SELECT 年份 FROM 企业纳税 WHERE 年份 = :year", "invalid_sql"},
	    {"SELECT 年份 FROM 企业纳税 WHERE 年份 = ?", "invalid_sql"},
	    {"WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c) SELECT 年份 FROM 企业纳税, c", "invalid_sql"},
	};
	for (size_t i = 0; i < sizeof SQL / sizeof SQL[0]; i++) {
		json_t *spec = json_pack("{s:s, s:s}", "mode", "script", "sql", SQL[i].sql);
		char *s = json_dumps(spec, 0), *b = product_body("api", s);
		json_t *out = NULL;
		long st = call("POST", "/api/v1/products", admin, b, &out);
		if (st != 400 || strcmp(err_code(out), SQL[i].code) ||
		    !strstr(tds_json_str(json_object_get(out, "error"), "message", ""), "offset"))
			fail_msg("%s: HTTP %ld %s (%s)", SQL[i].sql, st, err_code(out),
				 tds_json_str(json_object_get(out, "error"), "message", ""));
		json_decref(out);
		free(b);
		free(s);
		json_decref(spec);
	}
	refused("POST", "/api/v1/products", admin, "[]", 400, NULL);
	refused("POST", "/api/v1/products", admin, "{\"name\":\"x\"}", 400, NULL);
	char *b = product_body("api", "{\"mode\":\"wizard\",\"fields\":[\"年份\"]}");
	char *extra = malloc(strlen(b) + 64);
	snprintf(extra, strlen(b) + 64, "%.*s,\"price\":100}", (int)strlen(b) - 1, b);
	refused("POST", "/api/v1/products", admin, extra, 400, NULL); /* unknown member */
	refused("POST", "/api/v1/products", rev1, b, 403, NULL);      /* an operator does not register */
	refused("POST", "/api/v1/products", plain, b, 403, "no_organisation");
	refused("POST", "/api/v1/products", NULL, b, 401, NULL);
	free(extra);
	free(b);
	b = product_body("api", "{\"mode\":\"wizard\",\"fields\":[\"年份\"]}");
	char *ctl = malloc(strlen(b) + 16);
	char *p = strstr(b, "企业纳税查询");
	snprintf(ctl, strlen(b) + 16, "%.*s\\u001b[31m%s", (int)(p - b), b, p);
	refused("POST", "/api/v1/products", admin, ctl, 400, "invalid_name");
	free(ctl);
	free(b);
	b = product_body("dataset", "{\"fields\":[{\"name\":\"企业名称\",\"mask\":\"rot13\"}]}");
	refused("POST", "/api/v1/products", admin, b, 400, "invalid_mask");
	free(b);
	b = product_body("file", "{\"file_name\":\"../../tds.db\",\"media_type\":\"text/csv\",\"content_base64\":\"AAEC\"}");
	refused("POST", "/api/v1/products", admin, b, 400, "invalid_file_name");
	free(b);
	/* an upload above api.max_body (256 KiB here) */
	size_t big = 300000;
	char *spec = malloc(big + 128);
	int n = snprintf(spec, big + 128, "{\"file_name\":\"big.bin\",\"media_type\":\"application/octet-stream\",\"content_base64\":\"");
	memset(spec + n, 'A', big);
	strcpy(spec + n + big, "\"}");
	b = product_body("file", spec);
	refused("POST", "/api/v1/products", admin, b, 413, NULL);
	free(b);
	free(spec);
	assert_int_equal(count_products(), before);
	/* junk ids, queries and states */
	refused("GET", "/api/v1/products/..%2F..%2Ftds.db", admin, NULL, 400, "invalid_path");
	refused("GET", "/api/v1/products/prd_01JZZZZZZZZZZZZZZZZZZZZZZZ", admin, NULL, 404, "product_not_found");
	refused("POST", "/api/v1/products/prd_01JZZZZZZZZZZZZZZZZZZZZZZZ/review", rev1, "{\"decision\":\"approve\"}", 404,
		"product_not_found");
	refused("POST", "/api/v1/products/prd_01JZZZZZZZZZZZZZZZZZZZZZZZ/remove", rev1, "{\"reason\":\"x\"}", 404, NULL);
	refused("GET", "/api/v1/products?status=sold", admin, NULL, 400, "invalid_status");
	refused("GET", "/api/v1/products?cursor=..%2Fx", admin, NULL, 400, "invalid_cursor");
	refused("GET", "/api/v1/products?limit=-1", admin, NULL, 400, NULL);
	refused("GET", "/api/v1/products", NULL, NULL, 401, NULL);
	/* a pending product: list and delist are conflicts; a rejection needs reasons */
	json_t *out = NULL;
	b = product_body("api", "{\"mode\":\"wizard\",\"fields\":[\"年份\"]}");
	expect(call("POST", "/api/v1/products", admin, b, &out), 201, out, "pending product");
	free(b);
	char path[160], id[64];
	snprintf(id, sizeof id, "%s", tds_json_str(out, "id", ""));
	json_decref(out);
	snprintf(path, sizeof path, "/api/v1/products/%s/list", id);
	refused("POST", path, admin, "{}", 409, "invalid_state");
	snprintf(path, sizeof path, "/api/v1/products/%s/delist", id);
	refused("POST", path, admin, "{}", 409, "invalid_state");
	snprintf(path, sizeof path, "/api/v1/products/%s/review", id);
	refused("POST", path, rev1, "{\"decision\":\"reject\"}", 400, "reasons_required");
	refused("POST", path, rev1, "{\"decision\":\"approve\",\"version\":2}", 409, "version_mismatch");
	snprintf(path, sizeof path, "/api/v1/products/%s/remove", id);
	refused("POST", path, admin, "{}", 400, NULL);
	refused("POST", path, plain, "{\"reason\":\"x\"}", 403, NULL);
	expect(call("POST", path, rev2, "{\"reason\":\"测试移除\"}", &out), 200, out, "remove");
	assert_string_equal(tds_json_str(out, "status", ""), "removed");
	json_decref(out);
	refused("POST", path, rev2, "{\"reason\":\"again\"}", 409, "invalid_state");
}

static int cli(const char *token, const char *args, json_t **out)
{
	char cmd[4096], *o = NULL;
	snprintf(cmd, sizeof cmd, "%s/tds --node %s --token %s %s --json 2>/dev/null", tn_bin_dir(), con->api, token, args);
	int st = tn_run(cmd, &o);
	*out = o ? json_loads(o, 0, NULL) : NULL;
	free(o);
	return st;
}

static void test_cli_verbs(void **state)
{
	(void)state;
	char args[1024], id[64], code[TDS_RESCODE_MAX];
	json_t *out = NULL;
	snprintf(args, sizeof args,
		 "product create --resource %s --name 纳税查询-cli --form api --scenario 信贷审批 --industry J6621 "
		 "--sql 'SELECT 企业名称, 纳税额 FROM 企业纳税 WHERE 年份 = :year' --param year:integer",
		 res_id);
	assert_int_equal(cli(admin, args, &out), 0);
	snprintf(id, sizeof id, "%s", tds_json_str(out, "id", ""));
	json_decref(out);
	snprintf(args, sizeof args, "product review %s --decision approve", id);
	assert_int_not_equal(cli(admin, args, &out), 0); /* self review */
	json_decref(out);
	assert_int_equal(cli(rev1, args, &out), 0);
	snprintf(code, sizeof code, "%s", tds_json_str(out, "code", ""));
	json_decref(out);
	snprintf(args, sizeof args, "product list-on %s --scope roles --role consumer", id);
	assert_int_equal(cli(admin, args, &out), 0);
	assert_string_equal(tds_json_str(out, "status", ""), "listed");
	json_decref(out);
	snprintf(args, sizeof args, "product code '%s'", code);
	assert_int_equal(cli(rev2, args, &out), 0);
	assert_string_equal(tds_json_str(out, "id", ""), id);
	json_decref(out);
	snprintf(args, sizeof args, "product update %s --form dataset --field 企业名称 --field 法定代表人身份证号:masked:suppress", id);
	assert_int_not_equal(cli(admin, args, &out), 0); /* an API product takes no dataset spec */
	json_decref(out);
	snprintf(args, sizeof args, "product update %s --description 'v2 说明'", id);
	assert_int_equal(cli(admin, args, &out), 0);
	json_decref(out);
	snprintf(args, sizeof args, "product version %s 1", id);
	assert_int_equal(cli(admin, args, &out), 0);
	assert_string_equal(tds_json_str(out, "status", ""), "approved");
	json_decref(out);
	snprintf(args, sizeof args, "product delist %s --reason 维护", id);
	assert_int_equal(cli(admin, args, &out), 0);
	assert_string_equal(tds_json_str(out, "status", ""), "delisted");
	json_decref(out);
	snprintf(args, sizeof args, "product create --resource %s --name 纳税数据集 --form dataset --scenario 统计分析 "
		 "--field 企业名称 --field 法定代表人身份证号:masked:suppress", res_id);
	assert_int_equal(cli(admin, args, &out), 0);
	assert_string_equal(tds_json_str(out, "form", ""), "dataset");
	json_decref(out);
	assert_int_equal(cli(rev1, "product list --status delisted --limit 5", &out), 0);
	assert_int_equal(json_array_size(json_object_get(out, "items")), 2);
	json_decref(out);
	assert_int_not_equal(cli(rev1, "product show ../../etc/passwd", &out), 0);
	json_decref(out);
	assert_int_not_equal(cli(rev1, "product review", &out), 0);
	json_decref(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_products_over_http),
	    cmocka_unit_test(test_bad_input),
	    cmocka_unit_test(test_cli_verbs),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
