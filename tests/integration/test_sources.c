/*
 * test_sources.c — data sources (数据源) on a real connector node: a tax bureau's CSV (UTF-8 with
 * Chinese, and the same file in GB18030) is registered by upload, imported into the connector's
 * data store, profiled and sampled; a server-side path outside the import directory, broken CSV
 * and bad fields are refused with errors that say where; deleting removes the source; every step
 * leaves ledger evidence.
 */
#include "harness.h"

#include <iconv.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static tn_node *con;
static char *tok;

static const char CSV[] = "纳税人识别号,企业名称,纳税额,申报日期\n"
			  "91110108MA01ABCD3X,北京某科技有限公司,12000.50,2026-10-15\n"
			  "91310000MA1FL8XQ30,上海某贸易有限公司,8800.00,2026-10-16\n"
			  "91440300MA5ETEST1K,深圳某制造有限公司,,2026-10-17\n";

static int setup(void **state)
{
	(void)state;
	con = tn_init("connector", "gm");
	char *env[] = {"TDS_LEDGER_CHECKPOINT_INTERVAL_S=0", NULL};
	if (tn_start(con, env))
		return -1;
	tok = tn_login_admin(con);
	return tok ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	free(tok);
	int rc = tn_stop(con);
	tn_free(con);
	return rc == 0 ? 0 : -1;
}

static char *upload_body(const char *name, const void *data, size_t len, const char *extra)
{
	tds_buf b64 = TDS_BUF_INIT;
	tds_b64_encode(data, len, &b64);
	json_t *o = json_pack("{s:s, s:s, s:s}", "name", name, "kind", "csv", "content_base64", b64.data ? b64.data : "");
	if (extra) {
		json_t *e = json_loads(extra, 0, NULL);
		json_object_update(o, e);
		json_decref(e);
	}
	char *s = json_dumps(o, 0);
	json_decref(o);
	tds_buf_free(&b64);
	return s;
}

static const char *err_code(json_t *out) { return tds_json_str(json_object_get(out, "error"), "code", ""); }

static char *register_and_import(const char *name, const void *data, size_t len, const char *extra, json_t **meta)
{
	char *body = upload_body(name, data, len, extra);
	json_t *out = NULL;
	long st = tn_json(con, "POST", "/api/v1/sources", tok, body, &out);
	free(body);
	if (st != 201)
		fail_msg("register %s: %ld %s", name, st, tds_json_str(json_object_get(out, "error"), "message", ""));
	char *id = strdup(tds_json_str(out, "id", ""));
	json_decref(out);
	char path[128];
	snprintf(path, sizeof path, "/api/v1/sources/%s/import", id);
	st = tn_json(con, "POST", path, tok, "{}", &out);
	if (st != 200)
		fail_msg("import %s: %ld %s", name, st, tds_json_str(json_object_get(out, "error"), "message", ""));
	json_decref(out);
	snprintf(path, sizeof path, "/api/v1/sources/%s", id);
	assert_int_equal(tn_json(con, "GET", path, tok, NULL, meta), 200);
	return id;
}

static void test_import_profile_sample_delete(void **state)
{
	(void)state;
	json_t *meta;
	char *id = register_and_import("enterprise-tax", CSV, strlen(CSV), NULL, &meta);
	char *dump = json_dumps(meta, JSON_COMPACT);
	/* four columns with their Chinese names, three rows, one empty 纳税额 */
	assert_non_null(strstr(dump, "纳税人识别号"));
	assert_non_null(strstr(dump, "纳税额"));
	if (!strstr(dump, "\"row_count\":3") || !strstr(dump, "\"nulls\":1"))
		fail_msg("metadata lacks row_count 3 / one null: %s", dump);
	free(dump);
	json_decref(meta);

	char path[128];
	json_t *out;
	snprintf(path, sizeof path, "/api/v1/sources/%s/sample?limit=2", id);
	assert_int_equal(tn_json(con, "GET", path, tok, NULL, &out), 200);
	dump = json_dumps(out, JSON_COMPACT);
	assert_non_null(strstr(dump, "北京某科技有限公司"));
	assert_null(strstr(dump, "深圳某制造有限公司")); /* limit 2 */
	free(dump);
	json_decref(out);

	/* the same file in GB18030 imports to the same text */
	iconv_t cd = iconv_open("GB18030", "UTF-8");
	assert_true(cd != (iconv_t)-1);
	char gb[1024], *in = (char *)CSV, *o = gb;
	size_t inl = strlen(CSV), outl = sizeof gb;
	assert_true(iconv(cd, &in, &inl, &o, &outl) != (size_t)-1);
	iconv_close(cd);
	char *id2 = register_and_import("enterprise-tax-gb", gb, sizeof gb - outl, NULL, &meta);
	dump = json_dumps(meta, JSON_COMPACT);
	assert_non_null(strstr(dump, "纳税人识别号"));
	free(dump);
	json_decref(meta);

	/* listed, evidenced, deleted */
	assert_int_equal(tn_json(con, "GET", "/api/v1/sources", tok, NULL, &out), 200);
	assert_true(json_array_size(json_object_get(out, "items")) >= 2);
	json_decref(out);
	assert_int_equal(tn_json(con, "GET", "/api/v1/ledger/search?type=catalog.&limit=50", tok, NULL, &out), 200);
	assert_true(json_array_size(json_object_get(out, "items")) >= 4); /* 2 registered + 2 imported */
	json_decref(out);
	snprintf(path, sizeof path, "/api/v1/sources/%s", id2);
	assert_int_equal(tn_json(con, "DELETE", path, tok, NULL, &out), 200);
	json_decref(out);
	assert_int_equal(tn_json(con, "GET", path, tok, NULL, &out), 404);
	json_decref(out);
	free(id);
	free(id2);
}

static void test_bad_sources(void **state)
{
	(void)state;
	json_t *out = NULL;
	int before;
	assert_int_equal(tn_json(con, "GET", "/api/v1/sources?limit=500", tok, NULL, &out), 200);
	before = (int)json_array_size(json_object_get(out, "items"));
	json_decref(out);

	struct {
		const char *body;
		long status;
	} cases[] = {
	    {"{\"name\":\"x\",\"kind\":\"csv\",\"path\":\"../../etc/passwd\"}", 400},
	    {"{\"name\":\"x\",\"kind\":\"csv\",\"path\":\"/etc/passwd\"}", 400},
	    {"{\"name\":\"x\",\"kind\":\"excel\",\"content_base64\":\"YQ==\"}", 400},
	    {"{\"name\":\"x\",\"kind\":\"csv\",\"content_base64\":\"!!!\"}", 400},
	    {"{\"name\":\"x\",\"kind\":\"csv\"}", 400},
	    {"{\"name\":5,\"kind\":\"csv\",\"content_base64\":\"YQ==\"}", 400},
	    {"{\"name\":\"x\",\"kind\":\"csv\",\"content_base64\":\"YQ==\",\"sql\":\"DROP TABLE x\"}", 400},
	    {"[]", 400},
	};
	for (size_t i = 0; i < TDS_ARRAY_LEN(cases); i++) {
		long st = tn_json(con, "POST", "/api/v1/sources", tok, cases[i].body, &out);
		if (st != cases[i].status)
			fail_msg("case %zu: %ld, wanted %ld (%s)", i, st, cases[i].status, err_code(out));
		assert_true(strlen(tds_json_str(json_object_get(out, "error"), "message", "")) > 5);
		json_decref(out);
	}
	/* unbalanced quotes: the import names the line where the field started */
	const char *broken = "a,b\n1,2\n3,\"unterminated\n4,5\n";
	char *body = upload_body("broken", broken, strlen(broken), NULL);
	assert_int_equal(tn_json(con, "POST", "/api/v1/sources", tok, body, &out), 201);
	free(body);
	char path[128];
	snprintf(path, sizeof path, "/api/v1/sources/%s/import", tds_json_str(out, "id", ""));
	json_decref(out);
	long st = tn_json(con, "POST", path, tok, "{}", &out);
	assert_true(st >= 400 && st < 500);
	assert_non_null(strstr(tds_json_str(json_object_get(out, "error"), "message", ""), "line 3"));
	json_decref(out);

	static const char *bad_paths[] = {"/api/v1/sources/..%2Fetc", "/api/v1/sources/src_%00", "/api/v1/sources/nope"};
	for (size_t i = 0; i < TDS_ARRAY_LEN(bad_paths); i++) {
		st = tn_json(con, "GET", bad_paths[i], tok, NULL, &out);
		if (st != 400 && st != 404)
			fail_msg("%s: %ld", bad_paths[i], st);
		json_decref(out);
	}
	assert_int_equal(tn_json(con, "GET", "/api/v1/sources", NULL, NULL, &out), 401);
	json_decref(out);
	assert_int_equal(tn_json(con, "GET", "/api/v1/sources?limit=500", tok, NULL, &out), 200);
	assert_int_equal((int)json_array_size(json_object_get(out, "items")), before + 1); /* only "broken" */
	json_decref(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_import_profile_sample_delete),
	    cmocka_unit_test(test_bad_sources),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
