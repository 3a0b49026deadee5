/*
 * test_catalog_sync.c — the fused catalog (融合目录) across real nodes: an operator and a tax
 * bureau's enrolled connector. The connector imports a social-security CSV, registers, reviews and
 * publishes a resource; within a few seconds its outbox reaches the operator (signed), where a bank
 * finds it by searching "社保" and reads it (and its DCAT view) by id and by code. Narrowing the
 * scope to named organisations hides it from the bank; deregistering it takes it out of search.
 * POST /api/v1/catalog/entries refuses an unsigned call (401) and an account's call (403), and bad
 * search input is 400. The operator imports a public-data catalog and the bank finds its items.
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
#include <sqlite3.h>

static tn_node *op, *con;
static char *op_admin, *con_admin;
static char tax_org[64], tax_tok[128], bank_org[64], bank_tok[128], reviewer[128];

static const char CSV[] = "地区,年份,参保人数,缴费基数\n"
			  "杭州,2024,1200,8000\n"
			  "宁波,2024,800,7000\n"
			  "温州,2024,600,6500\n";

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
	/* a second account on the connector reviews what its admin registers */
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

/* Searches the operator as the bank for q (URL-encoded by the caller) and returns how many items
 * carry id. */
static int bank_finds(const char *query, const char *id)
{
	char path[512];
	snprintf(path, sizeof path, "/api/v1/catalog/search?%s", query);
	json_t *out = NULL;
	expect(tn_json(op, "GET", path, bank_tok, NULL, &out), 200, out, "search");
	int n = 0;
	size_t i;
	json_t *e;
	json_array_foreach(json_object_get(out, "items"), i, e) n += strcmp(tds_json_str(e, "id", ""), id) == 0;
	json_decref(out);
	return n;
}

/* Waits up to 10 s for the bank's search to find (want = 1) or not find (want = 0) id. */
static void wait_for(const char *query, const char *id, int want, const char *what)
{
	for (int i = 0; i < 100; i++) {
		if (bank_finds(query, id) == want)
			return;
		struct timespec ts = {0, 100 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	fail_msg("%s: the operator's search did not %s %s within 10 s", what, want ? "show" : "drop", id);
}

/* 社保 URL-encoded */
#define Q_SHEBAO "q=%E7%A4%BE%E4%BF%9D"

static void test_published_resource_reaches_operator(void **state)
{
	(void)state;
	tds_buf b64 = TDS_BUF_INIT;
	tds_b64_encode(CSV, strlen(CSV), &b64);
	json_t *o = json_pack("{s:s, s:s, s:s}", "name", "社保参保", "kind", "csv", "content_base64", b64.data), *out = NULL;
	char *body = json_dumps(o, 0), path[256], src[64], res[64], code[160];
	json_decref(o);
	tds_buf_free(&b64);
	expect(tn_json(con, "POST", "/api/v1/sources", con_admin, body, &out), 201, out, "source");
	free(body);
	snprintf(src, sizeof src, "%s", tds_json_str(out, "id", ""));
	json_decref(out);
	snprintf(path, sizeof path, "/api/v1/sources/%s/import", src);
	expect(tn_json(con, "POST", path, con_admin, "{}", &out), 200, out, "import");
	json_decref(out);
	char rbody[512];
	snprintf(rbody, sizeof rbody,
		 "{\"source_id\":\"%s\",\"name\":\"社保参保统计\",\"description\":\"各区参保人数与缴费基数\","
		 "\"update_frequency\":\"monthly\",\"domain\":\"social_security\",\"tags\":[\"社保\",\"参保\"]}", src);
	expect(tn_json(con, "POST", "/api/v1/resources", con_admin, rbody, &out), 201, out, "resource");
	snprintf(res, sizeof res, "%s", tds_json_str(out, "id", ""));
	json_decref(out);
	snprintf(path, sizeof path, "/api/v1/resources/%s/reviews", res);
	expect(tn_json(con, "POST", path, reviewer,
		       "{\"decision\":\"approve\",\"legality\":\"compliant\",\"masking_adequate\":true,\"filing_status\":\"not_required\"}",
		       &out),
	       200, out, "review");
	assert_string_equal(tds_json_str(out, "status", ""), "approved");
	snprintf(code, sizeof code, "%s", tds_json_str(out, "code", ""));
	json_decref(out);
	/* not published yet: nothing on the operator */
	assert_int_equal(bank_finds(Q_SHEBAO, res), 0);
	snprintf(path, sizeof path, "/api/v1/resources/%s/publish", res);
	expect(tn_json(con, "POST", path, con_admin, "{\"scope\":\"space\"}", &out), 200, out, "publish");
	json_decref(out);
	wait_for(Q_SHEBAO, res, 1, "publish");
	/* the entry on the operator: the provider is the certificate's organisation */
	snprintf(path, sizeof path, "/api/v1/catalog/entries/%s", res);
	expect(tn_json(op, "GET", path, bank_tok, NULL, &out), 200, out, "entry");
	assert_string_equal(tds_json_str(out, "org_id", ""), tax_org);
	assert_string_equal(tds_json_str(out, "kind", ""), "resource");
	assert_string_equal(tds_json_str(out, "code", ""), code);
	assert_int_equal(json_array_size(json_object_get(out, "fields")), 4);
	json_decref(out);
	/* by its code (URL-encoded) and as DCAT */
	char enc[400] = "/api/v1/catalog/entry-codes?code=";
	for (const char *p = code; *p; p++) {
		size_t l = strlen(enc);
		if (*p == ':' || *p == '/')
			snprintf(enc + l, sizeof enc - l, "%%%02X", (unsigned char)*p);
		else
			snprintf(enc + l, sizeof enc - l, "%c", *p);
	}
	expect(tn_json(op, "GET", enc, bank_tok, NULL, &out), 200, out, "entry by code");
	assert_string_equal(tds_json_str(out, "id", ""), res);
	json_decref(out);
	snprintf(path, sizeof path, "/api/v1/catalog/entries/%s?format=dcat", res);
	expect(tn_json(op, "GET", path, bank_tok, NULL, &out), 200, out, "dcat");
	assert_string_equal(tds_json_str(out, "@type", ""), "dcat:Dataset");
	assert_string_equal(tds_json_str(out, "dct:identifier", ""), code);
	json_decref(out);
	snprintf(path, sizeof path, "/api/v1/catalog/entries/%s?format=xml", res);
	expect(tn_json(op, "GET", path, bank_tok, NULL, &out), 400, out, "bad format");
	json_decref(out);
	snprintf(path, sizeof path, "/api/v1/catalog/entries/%s/related", res);
	expect(tn_json(op, "GET", path, bank_tok, NULL, &out), 200, out, "related");
	json_decref(out);
	/* the evidence on the operator */
	expect(tn_json(op, "GET", "/api/v1/ledger/search?type=catalog.entry_received", op_admin, NULL, &out), 200, out,
	       "evidence");
	assert_true(json_array_size(json_object_get(out, "items")) >= 1);
	json_decref(out);
	/* a scope naming another organisation hides it from the bank */
	snprintf(path, sizeof path, "/api/v1/resources/%s/publish", res);
	char sbody[160];
	snprintf(sbody, sizeof sbody, "{\"scope\":\"orgs\",\"orgs\":[\"%s\"]}", tax_org);
	expect(tn_json(con, "POST", path, con_admin, sbody, &out), 200, out, "publish to orgs");
	json_decref(out);
	wait_for(Q_SHEBAO, res, 0, "scope orgs");
	snprintf(path, sizeof path, "/api/v1/catalog/entries/%s", res);
	expect(tn_json(op, "GET", path, bank_tok, NULL, &out), 404, out, "hidden entry");
	json_decref(out);
	snprintf(sbody, sizeof sbody, "{\"scope\":\"orgs\",\"orgs\":[\"%s\",\"%s\"]}", tax_org, bank_org);
	snprintf(path, sizeof path, "/api/v1/resources/%s/publish", res);
	expect(tn_json(con, "POST", path, con_admin, sbody, &out), 200, out, "publish to the bank too");
	json_decref(out);
	wait_for(Q_SHEBAO, res, 1, "scope orgs with the bank");
	/* deregistered: it leaves the search */
	snprintf(path, sizeof path, "/api/v1/resources/%s/deregister", res);
	expect(tn_json(con, "POST", path, con_admin, "{\"reason\":\"停止共享\"}", &out), 200, out, "deregister");
	json_decref(out);
	wait_for(Q_SHEBAO, res, 0, "deregister");
	snprintf(path, sizeof path, "/api/v1/catalog/entries/%s", res);
	expect(tn_json(op, "GET", path, op_admin, NULL, &out), 200, out, "withdrawn entry");
	assert_true(tds_json_bool(out, "withdrawn", false));
	json_decref(out);
}

static void test_entries_route_refuses_unsigned_and_accounts(void **state)
{
	(void)state;
	static const char ENTRY[] = "{\"entries\":[{\"kind\":\"resource\",\"id\":\"res_01JRES00000000000000000009\","
				    "\"version\":99,\"title\":\"伪造的社保数据\",\"scope\":{\"scope\":\"space\"}}]}";
	json_t *out = NULL;
	expect(tn_json(op, "POST", "/api/v1/catalog/entries", NULL, ENTRY, &out), 401, out, "unsigned");
	json_decref(out);
	expect(tn_json(op, "POST", "/api/v1/catalog/entries", op_admin, ENTRY, &out), 403, out, "operator admin account");
	json_decref(out);
	expect(tn_json(op, "POST", "/api/v1/catalog/entries", tax_tok, ENTRY, &out), 403, out, "provider account");
	json_decref(out);
	expect(tn_json(op, "GET", "/api/v1/catalog/entries/res_01JRES00000000000000000009", op_admin, NULL, &out), 404, out,
	       "nothing stored");
	json_decref(out);
	/* a connector's own node is not an operator: its route refuses */
	expect(tn_json(con, "POST", "/api/v1/catalog/entries", NULL, ENTRY, &out), 401, out, "unsigned on connector");
	json_decref(out);
}

static void test_search_and_import_over_http(void **state)
{
	(void)state;
	json_t *out = NULL;
	/* bad search input: 400 naming the parameter */
	static const char *const BAD[] = {"sort=random", "kind=table", "limit=0", "limit=101", "cursor=x", "q=%21%21",
					  "grade=secret", "update_frequency=often", "form=csv"};
	for (size_t i = 0; i < sizeof BAD / sizeof BAD[0]; i++) {
		char path[128];
		snprintf(path, sizeof path, "/api/v1/catalog/search?%s", BAD[i]);
		expect(tn_json(op, "GET", path, bank_tok, NULL, &out), 400, out, BAD[i]);
		json_decref(out);
	}
	expect(tn_json(op, "GET", "/api/v1/catalog/search", NULL, NULL, &out), 401, out, "search without a token");
	json_decref(out);
	static const struct {
		const char *path;
		long status;
	} JUNK[] = {
	    {"/api/v1/catalog/entry-codes", 400},
	    {"/api/v1/catalog/entry-codes?code=", 400},
	    {"/api/v1/catalog/entry-codes?code=tds%3A%2F%2Fspace.local%2Fres%2F000000019", 404},
	    {"/api/v1/catalog/entries/..%2F..%2Ftds.db", 400}, /* encoded slashes: refused by the server */
	    {"/api/v1/catalog/entries/not-an-id", 404},
	    {"/api/v1/catalog/entries/res_01JRES00000000000000000001?format=rdf", 400},
	    {"/api/v1/catalog/entries/res_01JRES00000000000000000001/related?limit=51", 400},
	    {"/api/v1/catalog/entries/res_01JRES00000000000000000001/related?limit=x", 400},
	    {"/api/v1/catalog/search?q=%FF%FE", 400},
	    {"/api/v1/catalog/search?org=a%20b", 400},
	};
	for (size_t i = 0; i < sizeof JUNK / sizeof JUNK[0]; i++) {
		expect(tn_json(op, "GET", JUNK[i].path, bank_tok, NULL, &out), JUNK[i].status, out, JUNK[i].path);
		json_decref(out);
	}
	expect(tn_json(op, "GET", "/api/v1/catalog/entries/prd_01JPRD00000000000000000009/related", bank_tok, NULL, &out), 404,
	       out, "related of nothing");
	json_decref(out);
	/* a public-data catalog: only operators import, JSON or CSV; the bank finds the items */
	static const char ITEMS[] = "[{\"目录名称\":\"企业纳税信用等级\",\"类型\":\"接口\",\"格式\":\"JSON\",\"更新频率\":\"每月\","
				    "\"授权类型\":\"有条件开放\",\"申请材料\":\"营业执照；授权书\"}]";
	expect(tn_json(op, "POST", "/api/v1/catalog/import", bank_tok, ITEMS, &out), 403, out, "bank imports");
	json_decref(out);
	expect(tn_json(op, "POST", "/api/v1/catalog/import", op_admin, ITEMS, &out), 201, out, "import JSON");
	assert_int_equal(tds_json_int(out, "imported", 0), 1);
	char id[64];
	snprintf(id, sizeof id, "%s", tds_json_str(json_array_get(json_object_get(out, "items"), 0), "id", ""));
	json_decref(out);
	assert_int_equal(bank_finds("q=%E7%BA%B3%E7%A8%8E&kind=public_item", id), 1); /* 纳税 */
	static const char CSVCAT[] = "name,type,update_frequency\n不动产登记,数据集,不定期\n坏条目,视频,每日\n";
	tds_buf b64 = TDS_BUF_INIT;
	tds_b64_encode(CSVCAT, strlen(CSVCAT), &b64);
	char body[512];
	snprintf(body, sizeof body, "{\"content_base64\":\"%s\"}", b64.data);
	tds_buf_free(&b64);
	expect(tn_json(op, "POST", "/api/v1/catalog/import", op_admin, body, &out), 400, out, "import CSV with a bad line");
	assert_string_equal(err_code(out), "invalid_import");
	assert_non_null(strstr(tds_json_str(json_object_get(out, "error"), "message", ""), "line 3"));
	json_decref(out);
	assert_int_equal(bank_finds("q=%E4%B8%8D%E5%8A%A8%E4%BA%A7", "x"), 0); /* 不动产: nothing imported */
	expect(tn_json(op, "POST", "/api/v1/catalog/import", op_admin, "{\"items\":[],\"content_base64\":\"\"}", &out), 400, out,
	       "both");
	json_decref(out);
	expect(tn_json(op, "POST", "/api/v1/catalog/import", op_admin, "not json", &out), 400, out, "not JSON");
	json_decref(out);
	/* a text/csv body */
	static const char GOOD[] = "目录名称,类型\n不动产登记信息,库表\n";
	long st = tn_call(op, 1, "POST", "/api/v1/catalog/import", op_admin, "text/csv", GOOD, strlen(GOOD), &out);
	expect(st, 201, out, "import text/csv");
	json_decref(out);
	/* the same through the CLI: search, show (by id and as DCAT), related, import */
	char cmd[1024], *o = NULL;
	snprintf(cmd, sizeof cmd, "%s/tds --node %s --token %s catalog search 纳税 --kind public_item --json 2>/dev/null",
		 tn_bin_dir(), op->api, bank_tok);
	assert_int_equal(tn_run(cmd, &o), 0);
	assert_non_null(strstr(o, id));
	free(o);
	snprintf(cmd, sizeof cmd, "%s/tds --node %s --token %s catalog show %s --dcat --json 2>/dev/null", tn_bin_dir(), op->api,
		 bank_tok, id);
	assert_int_equal(tn_run(cmd, &o), 0);
	assert_non_null(strstr(o, "dcat:DataService"));
	free(o);
	snprintf(cmd, sizeof cmd, "%s/tds --node %s --token %s catalog related %s --json 2>/dev/null", tn_bin_dir(), op->api,
		 bank_tok, id);
	assert_int_equal(tn_run(cmd, &o), 0);
	free(o);
	snprintf(cmd, sizeof cmd, "%s/tds --node %s --token %s catalog search --sort random --json 2>/dev/null", tn_bin_dir(),
		 op->api, bank_tok);
	assert_int_equal(tn_run(cmd, &o), 1);
	assert_non_null(strstr(o, "invalid_sort"));
	free(o);
	snprintf(cmd, sizeof cmd, "%s/tds --node %s --token %s catalog frobnicate 2>/dev/null", tn_bin_dir(), op->api, bank_tok);
	assert_int_equal(tn_run(cmd, &o), 2);
	free(o);
	char csvpath[300];
	snprintf(csvpath, sizeof csvpath, "%s/catalog.csv", op->dir);
	FILE *f = fopen(csvpath, "w");
	assert_non_null(f);
	fputs("目录名称,类型,更新频率,授权类型\n公积金缴存信息,接口,每月,有条件开放\n", f);
	fclose(f);
	snprintf(cmd, sizeof cmd, "%s/tds --node %s --token %s catalog import %s --json 2>/dev/null", tn_bin_dir(), op->api,
		 op_admin, csvpath);
	assert_int_equal(tn_run(cmd, &o), 0);
	assert_non_null(strstr(o, "\"imported\":1"));
	free(o);
	/* importing on a connector is refused */
	expect(tn_json(con, "POST", "/api/v1/catalog/import", con_admin, ITEMS, &out), 422, out, "import on a connector");
	assert_string_equal(err_code(out), "not_operator");
	json_decref(out);
}


/* A row the operator refuses for good does not block the queue: it is marked failed with the error
 * and the rows after it arrive. The rows are written straight into the connector's outbox (the
 * database is shared safely between processes), as a producer with a bug would. */
static void test_refused_row_does_not_block_the_outbox(void **state)
{
	(void)state;
	char path[300];
	snprintf(path, sizeof path, "%s/tds.db", con->dir);
	sqlite3 *db = NULL;
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	sqlite3_busy_timeout(db, 5000);
	const char *sql =
	    "INSERT INTO catalog_outbox (kind, entry_id, version, entry, created_at) VALUES"
	    " ('resource', 'res_01JRES00000000000000000077', 1, '{\"kind\":\"resource\",\"id\":\"res_01JRES00000000000000000077\","
	    "\"version\":1,\"title\":\"坏\\u0007\",\"scope\":{\"scope\":\"space\"}}', 0),"
	    " ('resource', 'res_01JRES00000000000000000078', 1, '{\"kind\":\"resource\",\"id\":\"res_01JRES00000000000000000078\","
	    "\"version\":1,\"title\":\"队列不阻塞的社保数据\",\"scope\":{\"scope\":\"space\"}}', 0)";
	char *err = NULL;
	if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK)
		fail_msg("insert: %s", err);
	wait_for("q=%E9%98%9F%E5%88%97", "res_01JRES00000000000000000078", 1, "the row after a refused one"); /* 队列 */
	sqlite3_stmt *st;
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT failed_at IS NOT NULL, error, sent_at IS NULL FROM catalog_outbox"
						" WHERE entry_id = 'res_01JRES00000000000000000077'", -1, &st, NULL),
			 SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int(st, 0), 1);
	assert_non_null(strstr((const char *)sqlite3_column_text(st, 1), "invalid_entry"));
	assert_int_equal(sqlite3_column_int(st, 2), 1);
	sqlite3_finalize(st);
	sqlite3_close(db);
	json_t *out = NULL;
	expect(tn_json(op, "GET", "/api/v1/catalog/entries/res_01JRES00000000000000000077", op_admin, NULL, &out), 404, out,
	       "the refused entry");
	json_decref(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_published_resource_reaches_operator),
	    cmocka_unit_test(test_entries_route_refuses_unsigned_and_accounts),
	    cmocka_unit_test(test_refused_row_does_not_block_the_outbox),
	    cmocka_unit_test(test_search_and_import_over_http),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
