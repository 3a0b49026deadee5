/*
 * test_product.c — data products (数据产品) on a real store and ledger: a tax bureau's resource is
 * registered and approved, then products of every form are built on it. An API product from the
 * wizard is reviewed (self review refused and evidenced), coded, listed (an outbox entry for the
 * fused catalog), updated while listed (version 2 waits, version 1 stays listed and readable
 * exactly as approved), re-approved (the listing moves to version 2), delisted (withdrawn) and
 * removed. Script SQL that writes, attaches, reads other tables or the schema, holds several
 * statements or undeclared parameters is refused with its offset; datasets take default and chosen
 * masking rules; files are stored 0600 with hash and preview and survive a reopen; bad input
 * (control characters, unknown members, industries, wrong states) changes nothing.
 */
#include "catalog/catalog.h"
#include "crypto/crypto.h"
#include "ledger/ledger.h"
#include "store/store.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <pthread.h>

#include <cmocka.h>

typedef struct fx {
	char dir[64];
	tds_store *store;
	tds_key *key;
	uint8_t master[TDS_MASTER_KEY_LEN];
	tds_ledger *lg;
	tds_catalog *cat;
	char res[TDS_ID_MAX];     /* approved tax resource (L3) */
	char pending[TDS_ID_MAX]; /* a resource still pending review */
} fx;

static fx *F;
static const char *ORG_A = "org_01JAAAAAAAAAAAAAAAAAAAAAAA";
static const char *ORG_B = "org_01JBBBBBBBBBBBBBBBBBBBBBBB";
static const tds_ledger_actor PROV = {.org = "org_01JAAAAAAAAAAAAAAAAAAAAAAA", .account = "acc_01JAAAAAAAAAAAAAAAAAAAAAAA"};
static const tds_ledger_actor PROV_COLLEAGUE = {.org = "org_01JAAAAAAAAAAAAAAAAAAAAAAA",
						.account = "acc_01JCCCCCCCCCCCCCCCCCCCCCCC"};
static const tds_ledger_actor REV1 = {.org = "org_01JRRRRRRRRRRRRRRRRRRRRRRR", .account = "acc_01JRRRRRRRRRRRRRRRRRRRRRR1"};
static const tds_ledger_actor REV2 = {.org = "org_01JRRRRRRRRRRRRRRRRRRRRRRR", .account = "acc_01JRRRRRRRRRRRRRRRRRRRRRR2"};

static const char TAX_CSV[] = "纳税人识别号,企业名称,法定代表人身份证号,纳税额,年份\n"
			      "91310110666007217T,上海某贸易有限公司,11010119900307299X,8800.00,2024\n"
			      "91330101589882738D,杭州某科技有限公司,110101199003074477,12000.50,2024\n"
			      "91350500676532779B,泉州某制造有限公司,430102197606046442,,2025\n";

static void ok(int rc)
{
	if (rc)
		fail_msg("failed: %s (%s)", tds_error_message(), tds_error_name());
}

static void expect(int rc, int want, const char *name)
{
	if (rc != want || (name && strcmp(tds_error_name(), name) != 0))
		fail_msg("got %d %s (%s), wanted %d %s", rc, tds_error_name(), tds_error_message(), want, name ? name : "");
}

static json_t *J(const char *s)
{
	json_error_t e;
	json_t *j = json_loads(s, 0, &e);
	if (!j)
		fail_msg("bad test JSON %s: %s", s, e.text);
	return j;
}

static void source(const char *name, const char *csv, char id[TDS_ID_MAX])
{
	tds_source_new s = {.org_id = ORG_A, .name = name, .kind = "csv", .content = csv, .content_len = strlen(csv)};
	json_t *out;
	ok(tds_catalog_source_create(F->cat, &PROV, &s, &out));
	snprintf(id, TDS_ID_MAX, "%s", tds_json_str(out, "id", ""));
	json_decref(out);
	ok(tds_catalog_source_import(F->cat, &PROV, ORG_A, id, NULL, NULL, &out));
	json_decref(out);
}

static const char *APPROVE_RES = "{\"decision\":\"approve\",\"legality\":\"compliant\",\"masking_adequate\":true,"
				 "\"filing_status\":\"filed\"}";

static void resource(const char *src, char id[TDS_ID_MAX], bool approve)
{
	char body[256];
	snprintf(body, sizeof body, "{\"source_id\":\"%s\",\"name\":\"企业纳税信息\",\"update_frequency\":\"monthly\"}", src);
	json_t *in = J(body), *out;
	ok(tds_catalog_resource_create(F->cat, &PROV, ORG_A, in, &out));
	json_decref(in);
	snprintf(id, TDS_ID_MAX, "%s", tds_json_str(out, "id", ""));
	json_decref(out);
	if (!approve)
		return;
	in = J(APPROVE_RES);
	ok(tds_catalog_resource_review(F->cat, &REV1, id, in, &out));
	json_decref(out);
	ok(tds_catalog_resource_review(F->cat, &REV2, id, in, &out));
	assert_string_equal(tds_json_str(out, "status", ""), "approved");
	json_decref(out);
	json_decref(in);
}

static int fx_setup(void **state)
{
	(void)state;
	F = calloc(1, sizeof *F);
	strcpy(F->dir, "/tmp/tds-product-XXXXXX");
	if (!mkdtemp(F->dir))
		return -1;
	char p[128];
	snprintf(p, sizeof p, "%s/tds.db", F->dir);
	if (tds_store_open(p, &F->store) || tds_key_generate(TDS_SUITE_GM, &F->key) || tds_random(F->master, sizeof F->master))
		return -1;
	tds_ledger_opts lo = {.store = F->store, .suite = TDS_SUITE_GM, .origin = "tds.local/node_product_test", .key = F->key,
			      .master = F->master};
	if (tds_ledger_open(&lo, &F->lg))
		return -1;
	tds_catalog_opts co = {.ledger = F->lg, .node_id = "node_01JAAAAAAAAAAAAAAAAAAAAAAA", .dir = F->dir,
			       .seal_key = F->master, .suite = TDS_SUITE_GM, .code_base = "tds://tax.example.cn"};
	if (tds_catalog_open(F->store, &co, &F->cat))
		return -1;
	char src[TDS_ID_MAX], src2[TDS_ID_MAX];
	source("企业纳税信息", TAX_CSV, src);
	resource(src, F->res, true);
	source("tax2", TAX_CSV, src2);
	resource(src2, F->pending, false);
	return 0;
}

static int fx_teardown(void **state)
{
	(void)state;
	tds_catalog_free(F->cat);
	tds_ledger_free(F->lg);
	tds_store_close(F->store);
	tds_key_free(F->key);
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf %s", F->dir);
	int rc = system(cmd);
	free(F);
	return rc == 0 ? 0 : -1;
}

/* Registers a product of ORG_A with `form` and `spec` (JSON text); returns rc, *id (may be NULL). */
static int create(const char *form, const char *spec, const char *extra, char *id)
{
	char *body = malloc(strlen(spec) + 1024);
	sprintf(body,
		"{\"resource_id\":\"%s\",\"name\":\"企业纳税查询\",\"description\":\"按年份查询纳税额\",\"form\":\"%s\","
		"\"scenarios\":[\"信贷审批\",\"税务核查\"],\"industry\":\"I6510\",\"domain\":\"tax\",\"tags\":[\"纳税\"],"
		"\"spec\":%s%s}",
		F->res, form, spec, extra ? extra : "");
	json_t *in = J(body), *out = NULL;
	free(body);
	int rc = tds_catalog_product_create(F->cat, &PROV, ORG_A, in, &out);
	if (id)
		snprintf(id, TDS_ID_MAX, "%s", rc ? "" : tds_json_str(out, "id", ""));
	json_decref(in);
	json_decref(out);
	return rc;
}

typedef int (*rev_fn)(tds_catalog *, const tds_ledger_actor *, const char *, const json_t *, json_t **);
typedef int (*prov_fn)(tds_catalog *, const tds_ledger_actor *, const char *, const char *, const json_t *, json_t **);

static int rev(rev_fn fn, const tds_ledger_actor *a, const char *id, const char *body, char status[32])
{
	json_t *in = J(body), *out = NULL;
	int rc = fn(F->cat, a, id, in, &out);
	if (status)
		snprintf(status, 32, "%s", rc ? "" : tds_json_str(out, "status", ""));
	json_decref(in);
	json_decref(out);
	return rc;
}

static int prov(prov_fn fn, const char *id, const char *body, char status[32])
{
	json_t *in = J(body), *out = NULL;
	int rc = fn(F->cat, &PROV, ORG_A, id, in, &out);
	if (status)
		snprintf(status, 32, "%s", rc ? "" : tds_json_str(out, "status", ""));
	json_decref(in);
	json_decref(out);
	return rc;
}

static void evidence_of(const char *id, char *out, size_t cap)
{
	tds_ledger_query q = {.subject = id, .limit = 50};
	json_t *res;
	ok(tds_ledger_search(F->lg, &q, &res));
	out[0] = 0;
	json_t *e;
	size_t i;
	json_array_foreach(json_object_get(res, "items"), i, e) {
		json_t *entry = json_object_get(e, "entry") ? json_object_get(e, "entry") : e;
		snprintf(out + strlen(out), cap - strlen(out), "%s%s", i ? " " : "", tds_json_str(entry, "type", "?"));
	}
	json_decref(res);
}

/* The outbox rows of a product as "v1 v2 v2-withdrawn …" and the last entry. */
static void outbox_of(const char *id, char *out, size_t cap, json_t **last)
{
	sqlite3 *db = tds_store_conn(F->store);
	sqlite3_stmt *st;
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT version, entry FROM catalog_outbox WHERE entry_id = ? ORDER BY seq", -1, &st,
					    NULL),
			 SQLITE_OK);
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	out[0] = 0;
	if (last)
		*last = NULL;
	while (sqlite3_step(st) == SQLITE_ROW) {
		json_t *e = J((const char *)sqlite3_column_text(st, 1));
		snprintf(out + strlen(out), cap - strlen(out), "%sv%lld%s", out[0] ? " " : "", sqlite3_column_int64(st, 0),
			 json_is_true(json_object_get(e, "withdrawn")) ? "-withdrawn" : "");
		if (last) {
			json_decref(*last);
			*last = e;
		} else {
			json_decref(e);
		}
	}
	sqlite3_finalize(st);
}

static int64_t count_products(void)
{
	json_t *out;
	ok(tds_catalog_product_list(F->cat, NULL, NULL, NULL, 500, NULL, &out));
	int64_t n = (int64_t)json_array_size(json_object_get(out, "items"));
	json_decref(out);
	return n;
}

static const char *WIZARD = "{\"mode\":\"wizard\",\"fields\":[\"企业名称\",\"纳税额\"],"
			    "\"filters\":[{\"field\":\"年份\",\"op\":\"eq\"},{\"field\":\"纳税额\",\"op\":\"ge\",\"required\":false}],"
			    "\"order_by\":[{\"field\":\"纳税额\",\"desc\":true}],\"limit\":100}";

static void test_api_wizard_lifecycle(void **state)
{
	(void)state;
	char id[TDS_ID_MAX], st[32], ev[4096], ob[256];
	ok(create("api", WIZARD, NULL, id));
	json_t *p, *v1;
	ok(tds_catalog_product_get(F->cat, ORG_A, id, &p));
	assert_string_equal(tds_json_str(p, "status", ""), "pending_review");
	assert_int_equal(json_integer_value(json_object_get(p, "version")), 1);
	assert_int_equal(json_integer_value(json_object_get(p, "pending_version")), 1);
	assert_true(json_is_null(json_object_get(p, "code")));
	const json_t *spec = json_object_get(json_object_get(json_object_get(p, "current"), "content"), "spec");
	assert_string_equal(tds_json_str(spec, "sql", ""),
			    "SELECT \"企业名称\", \"纳税额\" FROM \"企业纳税信息\" WHERE \"年份\" = :年份 AND (:纳税额_min IS NULL OR"
			    " \"纳税额\" >= :纳税额_min) ORDER BY \"纳税额\" DESC LIMIT 100");
	const json_t *params = json_object_get(spec, "parameters");
	assert_int_equal(json_array_size(params), 2);
	assert_string_equal(tds_json_str(json_array_get(params, 0), "type", ""), "integer");
	assert_false(json_is_true(json_object_get(json_array_get(params, 1), "required")));
	assert_string_equal(tds_json_str(json_array_get(json_object_get(spec, "outputs"), 1), "type", ""), "decimal");
	json_decref(p);
	/* another organisation sees nothing */
	expect(tds_catalog_product_get(F->cat, ORG_B, id, &p), TDS_ENOTFOUND, "product_not_found");

	/* self review: its own organisation or its registrant are refused, and that is evidenced */
	expect(rev(tds_catalog_product_review, &PROV_COLLEAGUE, id, "{\"decision\":\"approve\"}", NULL), TDS_EPERM, "self_review");
	expect(rev(tds_catalog_product_review, &PROV, id, "{\"decision\":\"approve\"}", NULL), TDS_EPERM, "self_review");
	/* wrong states before approval */
	expect(prov(tds_catalog_product_list_on, id, "{}", NULL), TDS_ECONFLICT, "invalid_state");
	expect(prov(tds_catalog_product_delist, id, "{}", NULL), TDS_ECONFLICT, "invalid_state");
	expect(prov(tds_catalog_product_update, id, "{\"name\":\"x\"}", NULL), TDS_ECONFLICT, "review_pending");
	/* bad review input */
	expect(rev(tds_catalog_product_review, &REV1, id, "{\"decision\":\"maybe\"}", NULL), TDS_EINVAL, "invalid_decision");
	expect(rev(tds_catalog_product_review, &REV1, id, "{\"decision\":\"reject\"}", NULL), TDS_EINVAL, "reasons_required");
	expect(rev(tds_catalog_product_review, &REV1, id, "{\"decision\":\"approve\",\"extra\":1}", NULL), TDS_EINVAL, NULL);
	expect(rev(tds_catalog_product_review, &REV1, id, "{\"decision\":\"approve\",\"version\":2}", NULL), TDS_ECONFLICT,
	       "version_mismatch");

	ok(rev(tds_catalog_product_review, &REV1, id, "{\"decision\":\"approve\",\"version\":1}", st));
	assert_string_equal(st, "approved");
	ok(tds_catalog_product_get(F->cat, NULL, id, &p));
	const char *code = tds_json_str(p, "code", "");
	uint64_t serial;
	ok(tds_prdcode_parse("tds://tax.example.cn", code, &serial));
	assert_int_equal(serial, 1);
	assert_non_null(strstr(code, "/prd/00000001"));
	json_t *byc;
	ok(tds_catalog_product_by_code(F->cat, ORG_A, code, &byc));
	assert_string_equal(tds_json_str(byc, "id", ""), id);
	json_decref(byc);
	char bad_code[TDS_RESCODE_MAX];
	snprintf(bad_code, sizeof bad_code, "%s", code);
	bad_code[strlen(bad_code) - 2] ^= 1; /* a digit of the serial changed: the check catches it */
	expect(tds_catalog_product_by_code(F->cat, ORG_A, bad_code, &byc), TDS_EINVAL, "invalid_code");
	json_decref(p);
	ok(tds_catalog_product_version(F->cat, ORG_A, id, 1, &v1));
	assert_string_equal(tds_json_str(v1, "status", ""), "approved");

	/* listing writes the fused-catalog entry */
	expect(prov(tds_catalog_product_list_on, id, "{\"scope\":\"galaxy\"}", NULL), TDS_EINVAL, "invalid_scope");
	ok(prov(tds_catalog_product_list_on, id, "{}", st));
	assert_string_equal(st, "listed");
	json_t *entry;
	outbox_of(id, ob, sizeof ob, &entry);
	assert_string_equal(ob, "v1");
	assert_string_equal(tds_json_str(entry, "kind", ""), "product");
	assert_string_equal(tds_json_str(entry, "form", ""), "api");
	assert_string_equal(tds_json_str(entry, "title", ""), "企业纳税查询");
	assert_string_equal(tds_json_str(entry, "grade", ""), "一般");
	assert_string_equal(tds_json_str(entry, "level", ""), "L3");
	assert_string_equal(tds_json_str(entry, "update_frequency", ""), "monthly");
	assert_string_equal(tds_json_str(entry, "industry", ""), "I6510");
	assert_string_equal(tds_json_str(entry, "org_id", ""), ORG_A);
	assert_string_equal(tds_json_str(json_object_get(entry, "scope"), "scope", ""), "space");
	assert_string_equal(tds_json_str(json_array_get(json_object_get(entry, "fields"), 0), "name", ""), "企业名称");
	assert_string_equal(json_string_value(json_array_get(json_object_get(entry, "scenarios"), 0)), "信贷审批");
	assert_true(json_is_array(json_object_get(entry, "required_materials")));
	json_decref(entry);

	/* update while listed: version 2 waits, version 1 stays listed and readable as approved */
	expect(prov(tds_catalog_product_update, id, "{}", NULL), TDS_EINVAL, "empty_update");
	expect(prov(tds_catalog_product_update, id, "{\"form\":\"file\"}", NULL), TDS_EINVAL, NULL);
	ok(prov(tds_catalog_product_update, id,
		"{\"name\":\"企业纳税查询（新）\",\"spec\":{\"mode\":\"script\",\"sql\":\"SELECT 企业名称, 纳税额 FROM 企业纳税信息 WHERE 年份 = :year\","
		"\"parameters\":[{\"name\":\"year\",\"type\":\"integer\"}],\"labels\":{\"纳税额\":\"应纳税额（元）\"}}}",
		st));
	assert_string_equal(st, "listed");
	ok(tds_catalog_product_get(F->cat, ORG_A, id, &p));
	assert_int_equal(json_integer_value(json_object_get(p, "version")), 2);
	assert_int_equal(json_integer_value(json_object_get(p, "approved_version")), 1);
	assert_int_equal(json_integer_value(json_object_get(p, "pending_version")), 2);
	assert_string_equal(tds_json_str(json_object_get(p, "approved"), "status", ""), "approved");
	json_decref(p);
	json_t *v1again;
	ok(tds_catalog_product_version(F->cat, ORG_A, id, 1, &v1again));
	assert_true(json_equal(v1, v1again));
	json_decref(v1again);
	expect(tds_catalog_product_version(F->cat, ORG_A, id, 3, &v1again), TDS_ENOTFOUND, "version_not_found");
	/* versions cannot be edited, even by SQL */
	assert_int_not_equal(sqlite3_exec(tds_store_conn(F->store), "UPDATE product_versions SET content = '{}'", NULL, NULL, NULL),
			     SQLITE_OK);
	outbox_of(id, ob, sizeof ob, NULL);
	assert_string_equal(ob, "v1");

	/* approval of version 2 moves the listing */
	ok(rev(tds_catalog_product_review, &REV2, id, "{\"decision\":\"approve\"}", st));
	assert_string_equal(st, "listed");
	outbox_of(id, ob, sizeof ob, &entry);
	assert_string_equal(ob, "v1 v2");
	assert_string_equal(tds_json_str(entry, "title", ""), "企业纳税查询（新）");
	assert_string_equal(tds_json_str(json_array_get(json_object_get(entry, "fields"), 1), "label", ""), "应纳税额（元）");
	json_decref(entry);

	/* a rejected update keeps the approved version listed */
	ok(prov(tds_catalog_product_update, id, "{\"tags\":[\"纳税\",\"企业\"]}", NULL));
	ok(rev(tds_catalog_product_review, &REV1, id, "{\"decision\":\"reject\",\"reasons\":[\"标签不准确\"]}", st));
	assert_string_equal(st, "listed");
	ok(tds_catalog_product_get(F->cat, ORG_A, id, &p));
	assert_int_equal(json_integer_value(json_object_get(p, "approved_version")), 2);
	assert_true(json_is_null(json_object_get(p, "pending_version")));
	assert_int_equal(json_array_size(json_object_get(p, "reviews")), 3);
	json_decref(p);

	ok(prov(tds_catalog_product_delist, id, "{\"reason\":\"季度维护\"}", st));
	assert_string_equal(st, "delisted");
	expect(prov(tds_catalog_product_delist, id, "{}", NULL), TDS_ECONFLICT, "invalid_state");
	outbox_of(id, ob, sizeof ob, NULL);
	assert_string_equal(ob, "v1 v2 v3-withdrawn"); /* catalog revisions, one per change */
	ok(prov(tds_catalog_product_list_on, id, "{\"scope\":\"roles\",\"roles\":[\"consumer\"]}", st));
	assert_string_equal(st, "listed");
	expect(rev(tds_catalog_product_remove, &REV1, id, "{}", NULL), TDS_EINVAL, NULL);
	ok(rev(tds_catalog_product_remove, &REV1, id, "{\"reason\":\"违规\"}", st));
	assert_string_equal(st, "removed");
	outbox_of(id, ob, sizeof ob, NULL);
	assert_string_equal(ob, "v1 v2 v3-withdrawn v4 v5-withdrawn");
	expect(prov(tds_catalog_product_update, id, "{\"name\":\"x\"}", NULL), TDS_ECONFLICT, "invalid_state");
	expect(rev(tds_catalog_product_remove, &REV1, id, "{\"reason\":\"again\"}", NULL), TDS_ECONFLICT, "invalid_state");
	expect(prov(tds_catalog_product_list_on, id, "{}", NULL), TDS_ECONFLICT, "invalid_state");

	evidence_of(id, ev, sizeof ev);
	assert_string_equal(ev, "catalog.product_registered catalog.product_review_refused catalog.product_review_refused "
				"catalog.product_reviewed catalog.product_listed catalog.product_updated catalog.product_reviewed "
				"catalog.product_updated catalog.product_reviewed catalog.product_delisted catalog.product_listed "
				"catalog.product_removed");
	json_decref(v1);
}

static void test_api_script_refusals(void **state)
{
	(void)state;
	int64_t before = count_products();
	static const struct {
		const char *sql, *params, *want;
	} BAD[] = {
	    {"DELETE FROM 企业纳税信息", "[]", "offset 0: DELETE is not allowed"},
	    {"UPDATE 企业纳税信息 SET 纳税额 = 0", "[]", "UPDATE"},
	    {"ATTACH DATABASE 'x.db' AS x", "[]", "ATTACH is not allowed"},
	    {"SELECT sql FROM sqlite_master", "[]", "offset 16: the schema table \\\"sqlite_master\\\""},
	    {"SELECT * FROM accounts", "[]", "offset 14: no such table: accounts"},
	    {"SELECT 纳税额 FROM 企业纳税信息; DROP TABLE 企业纳税信息", "[]", "only one statement"},
	    {"SELECT 纳税额 FROM 企业纳税信息 WHERE 年份 = :year", "[]", "parameter :year is not declared"},
	    {"SELECT 纳税额 FROM 企业纳税信息 WHERE 年份 = ?", "[]", "positional"},
	    {"SELECT 纳税额 FROM 企业纳税信息", "[{\"name\":\"year\",\"type\":\"integer\"}]", "does not use it"},
	    {"PRAGMA table_info(企业纳税信息)", "[]", "PRAGMA is not allowed"},
	};
	for (size_t i = 0; i < sizeof BAD / sizeof BAD[0]; i++) {
		char spec[1024];
		snprintf(spec, sizeof spec, "{\"mode\":\"script\",\"sql\":\"%s\",\"parameters\":%s}", BAD[i].sql, BAD[i].params);
		int rc = create("api", spec, NULL, NULL);
		if (rc != TDS_EINVAL)
			fail_msg("%s: accepted (%d)", BAD[i].sql, rc);
		char want[256];
		snprintf(want, sizeof want, "%s", BAD[i].want);
		for (char *s = want, *d = want; ; s++) /* unescape \" */
			if (!(*d++ = (*s == '\\' ? *++s : *s)))
				break;
		if (!strstr(tds_error_message(), want))
			fail_msg("%s: message \"%s\" lacks \"%s\"", BAD[i].sql, tds_error_message(), want);
	}
	/* spec shape errors */
	expect(create("api", "{\"mode\":\"gui\"}", NULL, NULL), TDS_EINVAL, "invalid_spec");
	expect(create("api", "{\"mode\":\"script\",\"sql\":\"SELECT 纳税额 FROM 企业纳税信息\",\"extra\":1}", NULL, NULL), TDS_EINVAL, NULL);
	expect(create("api", "{\"mode\":\"script\",\"sql\":\"SELECT 纳税额 FROM 企业纳税信息 WHERE 年份 = :y\","
			     "\"parameters\":[{\"name\":\"y\",\"type\":\"money\"}]}", NULL, NULL),
	       TDS_EINVAL, "invalid_parameter");
	expect(create("api", "{\"mode\":\"script\",\"sql\":\"SELECT 纳税额 FROM 企业纳税信息\",\"labels\":{\"nope\":\"x\"}}", NULL, NULL),
	       TDS_EINVAL, "invalid_labels");
	expect(create("api", "{\"mode\":\"wizard\",\"fields\":[\"nope\"]}", NULL, NULL), TDS_EINVAL, "unknown_column");
	expect(create("api", "{\"mode\":\"wizard\",\"fields\":[\"年份\"],\"table\":\"accounts\"}", NULL, NULL), TDS_EINVAL,
	       "invalid_table");
	expect(create("api", "{\"mode\":\"wizard\",\"fields\":[\"年份\"],\"filters\":[{\"field\":\"年份\",\"op\":\"drop\"}]}", NULL,
		      NULL),
	       TDS_EINVAL, "invalid_filter");
	expect(create("api", "{\"mode\":\"wizard\",\"fields\":[\"年份\"],\"filters\":[{\"field\":\"年份\",\"op\":\"eq\"},"
			     "{\"field\":\"年份\",\"op\":\"eq\"}]}", NULL, NULL),
	       TDS_EINVAL, "invalid_filter");
	expect(create("api", "{\"mode\":\"wizard\",\"fields\":[\"年份\"],\"limit\":0}", NULL, NULL), TDS_EINVAL, "invalid_limit");
	assert_int_equal(count_products(), before);
	/* a good script: outputs named and typed, parameters as declared */
	char id[TDS_ID_MAX];
	ok(create("api",
		  "{\"mode\":\"script\",\"sql\":\"SELECT 年份, count(*) AS 户数, sum(纳税额) AS 合计 FROM 企业纳税信息 "
		  "WHERE 年份 BETWEEN :from AND :to GROUP BY 年份\",\"parameters\":[{\"name\":\"from\",\"type\":\"integer\"},"
		  "{\"name\":\"to\",\"type\":\"integer\",\"required\":false,\"description\":\"最后一年\"}]}",
		  NULL, id));
	json_t *v;
	ok(tds_catalog_product_version(F->cat, ORG_A, id, 1, &v));
	const json_t *spec = json_object_get(json_object_get(v, "content"), "spec");
	assert_string_equal(tds_json_str(spec, "mode", ""), "script");
	assert_int_equal(json_array_size(json_object_get(spec, "outputs")), 3);
	assert_string_equal(tds_json_str(json_array_get(json_object_get(spec, "outputs"), 0), "type", ""), "integer");
	assert_string_equal(tds_json_str(json_array_get(json_object_get(spec, "outputs"), 1), "type", ""), "any");
	assert_string_equal(tds_json_str(v, "hash_alg", ""), "sm3");
	assert_int_equal(strlen(tds_json_str(v, "content_hash", "")), 64);
	json_decref(v);
}

static void test_dataset(void **state)
{
	(void)state;
	char id[TDS_ID_MAX];
	ok(create("dataset",
		  "{\"fields\":[{\"name\":\"企业名称\"},{\"name\":\"法定代表人身份证号\"},{\"name\":\"纳税额\",\"permission\":\"compute_only\"},"
		  "{\"name\":\"纳税人识别号\",\"mask\":\"suppress\"},{\"name\":\"年份\",\"permission\":\"read\",\"mask\":"
		  "{\"method\":\"keep\",\"first\":2,\"last\":0}}]}",
		  NULL, id));
	json_t *v;
	ok(tds_catalog_product_version(F->cat, ORG_A, id, 1, &v));
	const json_t *fields = json_object_get(json_object_get(json_object_get(v, "content"), "spec"), "fields");
	assert_int_equal(json_array_size(fields), 5);
	/* the resident ID column: the scan's default rule (keep the first 6 and last 4), so masked */
	const json_t *idf = json_array_get(fields, 1);
	assert_string_equal(tds_json_str(idf, "permission", ""), "masked");
	assert_string_equal(tds_json_str(json_object_get(idf, "mask"), "method", ""), "keep");
	assert_int_equal(json_integer_value(json_object_get(json_object_get(idf, "mask"), "first")), 6);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(idf, "mask"), "last")), 4);
	assert_string_equal(tds_json_str(json_array_get(fields, 2), "permission", ""), "compute_only");
	assert_string_equal(tds_json_str(json_object_get(json_array_get(fields, 3), "mask"), "method", ""), "suppress");
	assert_string_equal(tds_json_str(json_array_get(fields, 4), "permission", ""), "read");
	json_decref(v);

	int64_t before = count_products();
	expect(create("dataset", "{\"fields\":[{\"name\":\"企业名称\",\"mask\":\"rot13\"}]}", NULL, NULL), TDS_EINVAL, "invalid_mask");
	expect(create("dataset", "{\"fields\":[{\"name\":\"企业名称\",\"mask\":{\"method\":\"keep\"}}]}", NULL, NULL), TDS_EINVAL,
	       "invalid_mask");
	expect(create("dataset", "{\"fields\":[{\"name\":\"企业名称\",\"mask\":{\"method\":\"email\",\"first\":1}}]}", NULL, NULL),
	       TDS_EINVAL, "invalid_mask");
	expect(create("dataset", "{\"fields\":[{\"name\":\"企业名称\",\"mask\":42}]}", NULL, NULL), TDS_EINVAL, "invalid_mask");
	expect(create("dataset", "{\"fields\":[{\"name\":\"年份\",\"permission\":\"masked\"}]}", NULL, NULL), TDS_EUNPROC,
	       "mask_required");
	expect(create("dataset", "{\"fields\":[{\"name\":\"年份\",\"permission\":\"all\"}]}", NULL, NULL), TDS_EINVAL,
	       "invalid_permission");
	expect(create("dataset", "{\"fields\":[{\"name\":\"password\"}]}", NULL, NULL), TDS_EINVAL, "unknown_column");
	expect(create("dataset", "{\"fields\":[{\"name\":\"年份\"},{\"name\":\"年份\"}]}", NULL, NULL), TDS_EINVAL, "invalid_field");
	expect(create("dataset", "{\"fields\":[]}", NULL, NULL), TDS_EINVAL, "invalid_field");
	expect(create("dataset", "{\"fields\":[{\"name\":\"年份\",\"visible\":true}]}", NULL, NULL), TDS_EINVAL, NULL);
	assert_int_equal(count_products(), before);
}

static void test_file(void **state)
{
	(void)state;
	static const char CSV[] = "地区,户数\n杭州,120\n宁波,80\n";
	tds_buf b64 = TDS_BUF_INIT;
	tds_b64_encode(CSV, strlen(CSV), &b64);
	char spec[512], id[TDS_ID_MAX];
	snprintf(spec, sizeof spec, "{\"file_name\":\"households.csv\",\"media_type\":\"text/csv\",\"content_base64\":\"%s\"}",
		 (const char *)b64.data);
	ok(create("file", spec, NULL, id));
	json_t *v;
	ok(tds_catalog_product_version(F->cat, ORG_A, id, 1, &v));
	const json_t *s = json_object_get(json_object_get(v, "content"), "spec");
	assert_int_equal(json_integer_value(json_object_get(s, "size")), strlen(CSV));
	assert_string_equal(tds_json_str(s, "hash_alg", ""), "sm3");
	uint8_t h[TDS_HASH_LEN];
	tds_buf hex = TDS_BUF_INIT;
	ok(tds_hash(TDS_SUITE_GM, CSV, strlen(CSV), h));
	tds_hex_encode(h, sizeof h, &hex);
	assert_string_equal(tds_json_str(s, "hash", ""), (const char *)hex.data);
	tds_buf_free(&hex);
	const json_t *pv = json_object_get(s, "preview");
	assert_string_equal(tds_json_str(pv, "kind", ""), "csv");
	assert_int_equal(json_array_size(json_object_get(pv, "rows")), 3);
	assert_string_equal(json_string_value(json_array_get(json_array_get(json_object_get(pv, "rows"), 1), 0)), "杭州");
	char path[256];
	snprintf(path, sizeof path, "%s/data/%s", F->dir, tds_json_str(s, "stored_as", ""));
	assert_non_null(strstr(path, "-v1-"));
	struct stat sb;
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);
	assert_int_equal(sb.st_size, strlen(CSV));
	json_decref(v);
	void *data;
	size_t len;
	ok(tds_catalog_product_file(F->cat, ORG_A, id, 1, &data, &len));
	assert_int_equal(len, strlen(CSV));
	assert_memory_equal(data, CSV, len);
	free(data);
	tds_buf_free(&b64);

	/* approve, then a new version without a new upload keeps the same file; a reopen keeps it too */
	ok(rev(tds_catalog_product_review, &REV1, id, "{\"decision\":\"approve\"}", NULL));
	ok(prov(tds_catalog_product_update, id, "{\"description\":\"2024 年户数\"}", NULL));
	ok(tds_catalog_product_version(F->cat, ORG_A, id, 2, &v));
	assert_string_equal(tds_json_str(json_object_get(json_object_get(v, "content"), "spec"), "stored_as", ""),
			    strrchr(path, '/') + 1);
	json_decref(v);
	tds_catalog_free(F->cat);
	tds_catalog_opts co = {.ledger = F->lg, .node_id = "node_01JAAAAAAAAAAAAAAAAAAAAAAA", .dir = F->dir,
			       .seal_key = F->master, .suite = TDS_SUITE_GM, .code_base = "tds://tax.example.cn"};
	ok(tds_catalog_open(F->store, &co, &F->cat));
	assert_int_equal(stat(path, &sb), 0);
	ok(tds_catalog_product_file(F->cat, ORG_A, id, 2, &data, &len));
	free(data);
	/* a corrupted file is detected */
	FILE *f = fopen(path, "r+b");
	fputc('X', f);
	fclose(f);
	expect(tds_catalog_product_file(F->cat, ORG_A, id, 1, &data, &len), TDS_EIO, "file_corrupt");

	/* a new upload makes a new file beside the old one; both versions stay readable */
	ok(rev(tds_catalog_product_review, &REV2, id, "{\"decision\":\"approve\"}", NULL));
	ok(prov(tds_catalog_product_update, id,
		"{\"spec\":{\"file_name\":\"households.txt\",\"media_type\":\"text/plain\",\"content_base64\":\"djMK\"}}", NULL));
	ok(tds_catalog_product_version(F->cat, ORG_A, id, 3, &v));
	snprintf(path, sizeof path, "%s/data/%s", F->dir,
		 tds_json_str(json_object_get(json_object_get(v, "content"), "spec"), "stored_as", ""));
	json_decref(v);
	assert_non_null(strstr(path, "-v3-"));
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_size, 3);
	ok(tds_catalog_product_file(F->cat, ORG_A, id, 3, &data, &len));
	assert_memory_equal(data, "v3\n", 3);
	free(data);
	/* version 2 named version 1's file, corrupted above */
	expect(tds_catalog_product_file(F->cat, ORG_A, id, 2, &data, &len), TDS_EIO, "file_corrupt");
	/* a failed update with a new upload leaves no file behind */
	ok(rev(tds_catalog_product_review, &REV2, id, "{\"decision\":\"approve\"}", NULL));
	expect(prov(tds_catalog_product_update, id,
		    "{\"name\":\"\\u0001\",\"spec\":{\"file_name\":\"x.txt\",\"media_type\":\"text/plain\",\"content_base64\":\"eA==\"}}",
		    NULL), TDS_EINVAL, "invalid_name");
	snprintf(path, sizeof path, "ls %s/data | grep -q -- '%s-v4-'", F->dir, id);
	assert_int_not_equal(system(path), 0);

	/* a plain-text preview; a binary file has none */
	ok(create("file", "{\"file_name\":\"readme.txt\",\"media_type\":\"text/plain\",\"content_base64\":\"5LiA6KGMCuS6jOihjAo=\"}",
		  NULL, id));
	ok(tds_catalog_product_version(F->cat, ORG_A, id, 1, &v));
	pv = json_object_get(json_object_get(json_object_get(v, "content"), "spec"), "preview");
	assert_string_equal(tds_json_str(pv, "kind", ""), "text");
	assert_string_equal(json_string_value(json_array_get(json_object_get(pv, "lines"), 1)), "二行");
	json_decref(v);
	ok(create("file", "{\"file_name\":\"blob.bin\",\"media_type\":\"application/octet-stream\",\"content_base64\":\"AAEC\"}",
		  NULL, id));
	ok(tds_catalog_product_version(F->cat, ORG_A, id, 1, &v));
	assert_true(json_is_null(json_object_get(json_object_get(json_object_get(v, "content"), "spec"), "preview")));
	json_decref(v);

	int64_t before = count_products();
	expect(create("file", "{\"file_name\":\"a.csv\",\"media_type\":\"text/csv\",\"content_base64\":\"!!!\"}", NULL, NULL),
	       TDS_EINVAL, "invalid_content");
	expect(create("file", "{\"file_name\":\"a.csv\",\"media_type\":\"text/csv\",\"content_base64\":\"\"}", NULL, NULL), TDS_EINVAL,
	       "empty_file");
	expect(create("file", "{\"file_name\":\"../../tds.db\",\"media_type\":\"text/csv\",\"content_base64\":\"AAEC\"}", NULL, NULL),
	       TDS_EINVAL, "invalid_file_name");
	expect(create("file", "{\"file_name\":\"a\\u0007.csv\",\"media_type\":\"text/csv\",\"content_base64\":\"AAEC\"}", NULL, NULL),
	       TDS_EINVAL, "invalid_file_name");
	expect(create("file", "{\"file_name\":\"a.csv\",\"media_type\":\"text csv\",\"content_base64\":\"AAEC\"}", NULL, NULL),
	       TDS_EINVAL, "invalid_media_type");
	expect(create("file", "{\"file_name\":\"a.csv\",\"media_type\":\"text/csv\"}", NULL, NULL), TDS_EINVAL, NULL);
	assert_int_equal(count_products(), before);
}

static void test_common_members(void **state)
{
	(void)state;
	int64_t before = count_products();
	static const struct {
		const char *body, *want;
		int code;
	} BAD[] = {
	    {"{\"resource_id\":\"%s\",\"name\":\"a\\u0001b\",\"form\":\"api\",\"scenarios\":[\"x\"],\"spec\":{}}", "invalid_name", TDS_EINVAL},
	    {"{\"resource_id\":\"%s\",\"name\":\"\",\"form\":\"api\",\"scenarios\":[\"x\"],\"spec\":{}}", "invalid_name", TDS_EINVAL},
	    {"{\"resource_id\":\"%s\",\"name\":\"n\",\"form\":\"api\",\"scenarios\":[\"x\"],\"spec\":{},\"sql\":\"x\"}", NULL, TDS_EINVAL},
	    {"{\"resource_id\":\"%s\",\"name\":\"n\",\"form\":\"stream\",\"scenarios\":[\"x\"],\"spec\":{}}", "invalid_form", TDS_EINVAL},
	    {"{\"resource_id\":\"%s\",\"name\":\"n\",\"form\":\"api\",\"scenarios\":[],\"spec\":{}}", "invalid_field", TDS_EINVAL},
	    {"{\"resource_id\":\"%s\",\"name\":\"n\",\"form\":\"api\",\"scenarios\":[\"a\\nb\"],\"spec\":{}}", "invalid_field", TDS_EINVAL},
	    {"{\"resource_id\":\"%s\",\"name\":\"n\",\"form\":\"api\",\"scenarios\":[\"x\",\"x\"],\"spec\":{}}", "invalid_field", TDS_EINVAL},
	    {"{\"resource_id\":\"%s\",\"name\":\"n\",\"form\":\"api\",\"scenarios\":[\"x\"],\"spec\":{}}", "invalid_spec", TDS_EINVAL},
	    {"{\"resource_id\":\"%s\",\"name\":\"n\",\"form\":\"api\",\"scenarios\":[\"x\"],\"spec\":{},\"industry\":\"Z\"}", "invalid_industry", TDS_EINVAL},
	    {"{\"resource_id\":\"%s\",\"name\":\"n\",\"form\":\"api\",\"scenarios\":[\"x\"],\"spec\":{},\"industry\":\"A99\"}", "invalid_industry", TDS_EINVAL},
	    {"{\"resource_id\":\"%s\",\"name\":\"n\",\"form\":\"api\",\"scenarios\":[\"x\"],\"spec\":{},\"industry\":\"I6\"}", "invalid_industry", TDS_EINVAL},
	    {"{\"resource_id\":\"%s\",\"name\":\"n\",\"form\":\"api\",\"scenarios\":[\"x\"],\"spec\":{},\"industry\":\"i65\"}", "invalid_industry", TDS_EINVAL},
	    {"{\"resource_id\":\"%s\",\"name\":\"n\",\"form\":\"api\",\"scenarios\":[\"x\"],\"spec\":{},\"tags\":[\"\"]}", "invalid_field", TDS_EINVAL},
	    {"{\"resource_id\":\"%s\",\"name\":\"n\",\"form\":\"api\",\"scenarios\":[\"x\"],\"spec\":[]}", NULL, TDS_EINVAL},
	    {"{\"resource_id\":\"%s\",\"name\":\"n\",\"form\":\"api\",\"scenarios\":[\"x\"],\"spec\":{},\"description\":\"a\\u0001b\"}", "invalid_field", TDS_EINVAL},
	    {"{\"resource_id\":\"%s\",\"name\":\"n\",\"form\":\"api\",\"scenarios\":[\"x\"],\"spec\":{},\"domain\":null}", "invalid_field", TDS_EINVAL},
	    {"{\"resource_id\":\"res_x\",\"name\":\"n\",\"form\":\"api\",\"scenarios\":[\"x\"],\"spec\":{}%s}", "invalid_resource_id", TDS_EINVAL},
	};
	for (size_t i = 0; i < sizeof BAD / sizeof BAD[0]; i++) {
		char body[1024];
		snprintf(body, sizeof body, BAD[i].body, strstr(BAD[i].body, "res_x") ? "" : F->res);
		json_t *in = J(body), *out = NULL;
		int rc = tds_catalog_product_create(F->cat, &PROV, ORG_A, in, &out);
		if (rc != BAD[i].code || (BAD[i].want && strcmp(tds_error_name(), BAD[i].want)))
			fail_msg("case %zu: got %d %s (%s)", i, rc, tds_error_name(), tds_error_message());
		json_decref(in);
	}
	/* a resource still pending review, or of another organisation */
	char body[512];
	snprintf(body, sizeof body,
		 "{\"resource_id\":\"%s\",\"name\":\"n\",\"form\":\"api\",\"scenarios\":[\"x\"],\"spec\":{\"mode\":\"wizard\",\"fields\":[\"年份\"]}}",
		 F->pending);
	json_t *in = J(body), *out = NULL;
	expect(tds_catalog_product_create(F->cat, &PROV, ORG_A, in, &out), TDS_ECONFLICT, "resource_not_approved");
	json_decref(in);
	snprintf(body, sizeof body,
		 "{\"resource_id\":\"%s\",\"name\":\"n\",\"form\":\"api\",\"scenarios\":[\"x\"],\"spec\":{\"mode\":\"wizard\",\"fields\":[\"年份\"]}}",
		 F->res);
	in = J(body);
	expect(tds_catalog_product_create(F->cat, &PROV, ORG_B, in, &out), TDS_ENOTFOUND, "resource_not_found");
	json_decref(in);
	assert_int_equal(count_products(), before);
	/* the good industries */
	static const char *const IND[] = {"A", "A01", "C4390", "T97", "I65", "K70"};
	for (size_t i = 0; i < sizeof IND / sizeof IND[0]; i++) {
		char extra[64];
		snprintf(extra, sizeof extra, ",\"industry\":\"%s\"", IND[i]);
		/* create() sets industry already: build by hand instead */
		snprintf(body, sizeof body,
			 "{\"resource_id\":\"%s\",\"name\":\"n\",\"form\":\"api\",\"scenarios\":[\"x\"],\"spec\":{\"mode\":\"wizard\","
			 "\"fields\":[\"年份\"]}%s}", F->res, extra);
		in = J(body);
		ok(tds_catalog_product_create(F->cat, &PROV, ORG_A, in, &out));
		json_decref(out);
		json_decref(in);
	}
	/* reject, then an update goes back to review; lists filter by status and form */
	char id[TDS_ID_MAX], st[32];
	ok(create("api", "{\"mode\":\"wizard\",\"fields\":[\"年份\"]}", NULL, id));
	ok(rev(tds_catalog_product_review, &REV1, id, "{\"decision\":\"reject\",\"reasons\":[\"场景不清\"]}", st));
	assert_string_equal(st, "rejected");
	expect(rev(tds_catalog_product_review, &REV1, id, "{\"decision\":\"approve\"}", NULL), TDS_ECONFLICT, "invalid_state");
	expect(prov(tds_catalog_product_list_on, id, "{}", NULL), TDS_ECONFLICT, "invalid_state");
	expect(prov(tds_catalog_product_update, id, "{\"name\":null}", NULL), TDS_EINVAL, "invalid_field");
	ok(prov(tds_catalog_product_update, id, "{\"scenarios\":[\"信贷审批\"],\"description\":\"第一行\\n第二行\"}", st));
	assert_string_equal(st, "pending_review");
	json_t *list;
	ok(tds_catalog_product_list(F->cat, ORG_A, "pending_review", "api", 2, NULL, &list));
	assert_int_equal(json_array_size(json_object_get(list, "items")), 2);
	assert_true(json_is_string(json_object_get(list, "next_cursor")));
	json_decref(list);
	expect(tds_catalog_product_list(F->cat, ORG_A, "sold", NULL, 10, NULL, &list), TDS_EINVAL, "invalid_status");
	expect(tds_catalog_product_list(F->cat, ORG_A, NULL, "stream", 10, NULL, &list), TDS_EINVAL, "invalid_form");
	expect(tds_catalog_product_list(F->cat, ORG_A, NULL, NULL, 10, "../x", &list), TDS_EINVAL, "invalid_cursor");
	ok(tds_catalog_product_list(F->cat, ORG_B, NULL, NULL, 10, NULL, &list));
	assert_int_equal(json_array_size(json_object_get(list, "items")), 0);
	json_decref(list);
	expect(tds_catalog_product_get(F->cat, NULL, "../../etc/passwd", &list), TDS_ENOTFOUND, "product_not_found");
	expect(tds_catalog_product_by_code(F->cat, NULL, "tds://tax.example.cn/res/000000019", &list), TDS_EINVAL, "invalid_code");
}

static void test_resource_withdrawn(void **state)
{
	(void)state;
	char a[TDS_ID_MAX], b[TDS_ID_MAX];
	ok(create("api", "{\"mode\":\"wizard\",\"fields\":[\"年份\"]}", NULL, a));
	ok(rev(tds_catalog_product_review, &REV1, a, "{\"decision\":\"approve\"}", NULL));
	ok(prov(tds_catalog_product_list_on, a, "{}", NULL));
	ok(create("api", "{\"mode\":\"wizard\",\"fields\":[\"年份\"]}", NULL, b));
	ok(rev(tds_catalog_resource_remove, &REV1, F->res, "{\"reason\":\"违规\"}", NULL));
	/* the listed product went with its resource: delisted, withdrawn from the fused catalog */
	char ob[128], st[32], ev[1024];
	json_t *pa;
	ok(tds_catalog_product_get(F->cat, ORG_A, a, &pa));
	snprintf(st, sizeof st, "%s", tds_json_str(pa, "status", ""));
	assert_string_equal(st, "delisted");
	assert_string_equal(tds_json_str(pa, "note", ""), "resource_withdrawn");
	json_decref(pa);
	outbox_of(a, ob, sizeof ob, NULL);
	assert_string_equal(ob, "v1 v2-withdrawn");
	evidence_of(a, ev, sizeof ev);
	assert_non_null(strstr(ev, "catalog.product_listed catalog.product_delisted"));
	/* a product of a removed resource is neither approved nor listed, nor can one be built on it */
	expect(rev(tds_catalog_product_review, &REV2, b, "{\"decision\":\"approve\"}", NULL), TDS_ECONFLICT,
	       "resource_not_approved");
	expect(prov(tds_catalog_product_list_on, a, "{}", NULL), TDS_ECONFLICT, "resource_not_approved");
	expect(create("api", "{\"mode\":\"wizard\",\"fields\":[\"年份\"]}", NULL, NULL), TDS_ECONFLICT, "resource_not_approved");
	json_t *p;
	ok(tds_catalog_product_get(F->cat, ORG_A, b, &p));
	assert_string_equal(tds_json_str(p, "status", ""), "pending_review");
	assert_int_equal(json_array_size(json_object_get(p, "reviews")), 0); /* the refused review left nothing */
	json_decref(p);
	/* a rejection is still possible */
	ok(rev(tds_catalog_product_review, &REV2, b, "{\"decision\":\"reject\",\"reasons\":[\"资源已移除\"]}", NULL));
}

/* Concurrent reviewers and providers: each product gets one code, no code twice; of two racing
 * updates of one product exactly one wins. */
typedef struct race {
	char id[TDS_ID_MAX];
	const tds_ledger_actor *who;
	int rc;
	char name[64];
} race;

static void *approve_thread(void *arg)
{
	race *r = arg;
	json_t *in = json_loads("{\"decision\":\"approve\"}", 0, NULL), *out = NULL;
	r->rc = tds_catalog_product_review(F->cat, r->who, r->id, in, &out);
	json_decref(out);
	json_decref(in);
	return NULL;
}

static void *update_thread(void *arg)
{
	race *r = arg;
	char body[128];
	snprintf(body, sizeof body, "{\"description\":\"%s\"}", r->name);
	json_t *in = json_loads(body, 0, NULL), *out = NULL;
	r->rc = tds_catalog_product_update(F->cat, &PROV, ORG_A, r->id, in, &out);
	snprintf(r->name, sizeof r->name, "%s", r->rc ? tds_error_name() : "");
	json_decref(out);
	json_decref(in);
	return NULL;
}

static void test_concurrency(void **state)
{
	(void)state;
	enum { N = 6 };
	race r[N];
	pthread_t t[N];
	for (int i = 0; i < N; i++) {
		memset(&r[i], 0, sizeof r[i]);
		ok(create("api", "{\"mode\":\"wizard\",\"fields\":[\"年份\"]}", NULL, r[i].id));
		r[i].who = i % 2 ? &REV1 : &REV2;
	}
	for (int i = 0; i < N; i++)
		assert_int_equal(pthread_create(&t[i], NULL, approve_thread, &r[i]), 0);
	for (int i = 0; i < N; i++)
		pthread_join(t[i], NULL);
	char codes[N][TDS_RESCODE_MAX];
	for (int i = 0; i < N; i++) {
		assert_int_equal(r[i].rc, 0);
		json_t *p;
		ok(tds_catalog_product_get(F->cat, ORG_A, r[i].id, &p));
		snprintf(codes[i], sizeof codes[i], "%s", tds_json_str(p, "code", ""));
		json_decref(p);
		ok(tds_prdcode_parse("tds://tax.example.cn", codes[i], NULL));
		for (int k = 0; k < i; k++)
			assert_string_not_equal(codes[i], codes[k]);
	}
	/* two reviewers approve the same pending version at once: one approval */
	ok(prov(tds_catalog_product_update, r[0].id, "{\"description\":\"v2\"}", NULL));
	race a = {.who = &REV1}, b = {.who = &REV2};
	snprintf(a.id, sizeof a.id, "%s", r[0].id);
	snprintf(b.id, sizeof b.id, "%s", r[0].id);
	pthread_create(&t[0], NULL, approve_thread, &a);
	pthread_create(&t[1], NULL, approve_thread, &b);
	pthread_join(t[0], NULL);
	pthread_join(t[1], NULL);
	assert_true((a.rc == 0) != (b.rc == 0));
	assert_int_equal(a.rc ? a.rc : b.rc, TDS_ECONFLICT);
	/* two updates at once: one new version, the other refused */
	race u1 = {0}, u2 = {0};
	snprintf(u1.id, sizeof u1.id, "%s", r[1].id);
	snprintf(u2.id, sizeof u2.id, "%s", r[1].id);
	snprintf(u1.name, sizeof u1.name, "one");
	snprintf(u2.name, sizeof u2.name, "two");
	pthread_create(&t[0], NULL, update_thread, &u1);
	pthread_create(&t[1], NULL, update_thread, &u2);
	pthread_join(t[0], NULL);
	pthread_join(t[1], NULL);
	assert_true((u1.rc == 0) != (u2.rc == 0));
	assert_int_equal(u1.rc ? u1.rc : u2.rc, TDS_ECONFLICT); /* review_pending or concurrent_update */
	json_t *p;
	ok(tds_catalog_product_get(F->cat, ORG_A, r[1].id, &p));
	assert_int_equal(json_integer_value(json_object_get(p, "version")), 2);
	json_decref(p);
}

/* Two providers upload a new file to the same file product at once: the winner's version keeps its
 * own file, whole (the loser neither overwrites nor deletes it). */
typedef struct file_race {
	const char *id, *b64;
	pthread_barrier_t *go;
	int rc;
} file_race;

static void *file_update_thread(void *arg)
{
	file_race *r = arg;
	char body[256];
	snprintf(body, sizeof body,
		 "{\"spec\":{\"file_name\":\"n.txt\",\"media_type\":\"text/plain\",\"content_base64\":\"%s\"}}", r->b64);
	json_t *in = json_loads(body, 0, NULL), *out = NULL;
	pthread_barrier_wait(r->go);
	r->rc = tds_catalog_product_update(F->cat, &PROV, ORG_A, r->id, in, &out);
	json_decref(out);
	json_decref(in);
	return NULL;
}

static void test_file_update_race(void **state)
{
	(void)state;
	char id[TDS_ID_MAX];
	ok(create("file", "{\"file_name\":\"n.txt\",\"media_type\":\"text/plain\",\"content_base64\":\"djEK\"}", NULL, id));
	pthread_barrier_t go;
	pthread_barrier_init(&go, NULL, 2);
	for (int round = 0; round < 20; round++) {
		ok(rev(tds_catalog_product_review, round % 2 ? &REV1 : &REV2, id, "{\"decision\":\"approve\"}", NULL));
		file_race a = {.id = id, .b64 = "QUFBQQo=", .go = &go}, b = {.id = id, .b64 = "QkJCQgo=", .go = &go};
		pthread_t t[2];
		pthread_create(&t[0], NULL, file_update_thread, &a);
		pthread_create(&t[1], NULL, file_update_thread, &b);
		pthread_join(t[0], NULL);
		pthread_join(t[1], NULL);
		assert_true(a.rc == 0 || b.rc == 0);
		json_t *p;
		ok(tds_catalog_product_get(F->cat, ORG_A, id, &p));
		int64_t v = json_integer_value(json_object_get(p, "version"));
		json_decref(p);
		void *data;
		size_t len;
		if (tds_catalog_product_file(F->cat, ORG_A, id, v, &data, &len))
			fail_msg("round %d: version %lld's file: %s (%s)", round, (long long)v, tds_error_message(), tds_error_name());
		assert_int_equal(len, 5);
		assert_true(!memcmp(data, "AAAA\n", 5) || !memcmp(data, "BBBB\n", 5));
		free(data);
	}
	pthread_barrier_destroy(&go);
}

static void test_codes(void **state)
{
	(void)state;
	char code[TDS_RESCODE_MAX], rcode[TDS_RESCODE_MAX];
	ok(tds_prdcode_format("tds://space.local", 427, code, sizeof code));
	ok(tds_rescode_format("tds://space.local", 427, rcode, sizeof rcode));
	assert_int_equal(strncmp(code, "tds://space.local/prd/00000427", 30), 0);
	assert_int_equal(code[30], rcode[30]); /* the same check character over the same serial */
	uint64_t s;
	ok(tds_prdcode_parse("tds://space.local", code, &s));
	assert_int_equal(s, 427);
	expect(tds_prdcode_parse("tds://space.local", rcode, &s), TDS_EINVAL, "invalid_code");
	expect(tds_rescode_parse("tds://space.local", code, &s), TDS_EINVAL, "invalid_code");
	code[25] = code[25] == '4' ? '5' : '4';
	expect(tds_prdcode_parse("tds://space.local", code, &s), TDS_EINVAL, "invalid_code");
	expect(tds_prdcode_format("tds://space.local", 0, code, sizeof code), TDS_EINVAL, "invalid_serial");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_codes),
	    cmocka_unit_test_setup_teardown(test_api_wizard_lifecycle, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_api_script_refusals, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_dataset, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_file, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_common_members, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_resource_withdrawn, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_concurrency, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_file_update_race, fx_setup, fx_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
