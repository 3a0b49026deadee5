/*
 * test_fused.c — the fused catalog (融合目录) on a real store and ledger: entries from connectors
 * arrive (the highest version wins, older and equal ones change nothing, withdrawals leave search
 * but stay readable, ids are owned by one organisation, the body's org_id is never trusted), strict
 * checks name the member that is wrong, every applied change is evidenced; search finds Chinese of
 * one, two and more characters ("纳税", "社保") and English words, filters and sorts, hides what a
 * scope does not show; related entries by tags and co-usage; public-data catalog imports from JSON
 * and CSV with line errors; the DCAT 3 view; the outbox of a resource.
 */
#include "catalog/catalog.h"
#include "crypto/crypto.h"
#include "http/http.h"
#include "ledger/ledger.h"
#include "store/store.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

typedef struct fx {
	char dir[64];
	tds_store *store;
	tds_key *key;
	uint8_t master[TDS_MASTER_KEY_LEN];
	tds_ledger *lg;
	tds_catalog *cat;
} fx;

static fx *F;
static const char *ORG_TAX = "org_01JTAXAAAAAAAAAAAAAAAAAAAA";
static const char *ORG_HR = "org_01JHRAAAAAAAAAAAAAAAAAAAAA";
static const char *ORG_BANK __attribute__((unused)) = "org_01JBANKAAAAAAAAAAAAAAAAAAA";
static const tds_ledger_actor NODE_TAX = {.org = "org_01JTAXAAAAAAAAAAAAAAAAAAAA", .node = "node_01JTAXAAAAAAAAAAAAAAAAAA"};

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

static int fx_setup(void **state)
{
	(void)state;
	F = calloc(1, sizeof *F);
	strcpy(F->dir, "/tmp/tds-fused-XXXXXX");
	if (!mkdtemp(F->dir))
		return -1;
	char p[128];
	snprintf(p, sizeof p, "%s/tds.db", F->dir);
	if (tds_store_open(p, &F->store) || tds_key_generate(TDS_SUITE_GM, &F->key) || tds_random(F->master, sizeof F->master))
		return -1;
	tds_ledger_opts lo = {.store = F->store, .suite = TDS_SUITE_GM, .origin = "tds.local/node_fused_test", .key = F->key,
			      .master = F->master};
	tds_catalog_opts co = {.node_id = "node_01JOPAAAAAAAAAAAAAAAAAAAAA", .dir = F->dir, .seal_key = F->master,
			       .suite = TDS_SUITE_GM, .code_base = "tds://space.example.cn"};
	if (tds_ledger_open(&lo, &F->lg))
		return -1;
	co.ledger = F->lg;
	if (tds_catalog_open(F->store, &co, &F->cat))
		return -1;
	tds_catalog_set_operator(F->cat, true);
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

/* Upserts a JSON literal from org; returns the code, *applied filled. */
static int up(const char *org, const char *entry, bool *applied)
{
	json_t *e = J(entry);
	bool a = false;
	tds_ledger_actor actor = {.org = org, .node = "node_01JCONNAAAAAAAAAAAAAAAAAAA"};
	int rc = tds_catalog_entry_upsert(F->cat, &actor, org, e, &a);
	json_decref(e);
	if (applied)
		*applied = a;
	return rc;
}

/* A product entry with the given id, version, title, description, tags and extra members. */
static void product(const char *org, const char *id, int version, const char *title, const char *desc, const char *tags,
		    const char *extra)
{
	char buf[4096];
	snprintf(buf, sizeof buf,
		 "{\"kind\":\"product\",\"id\":\"%s\",\"version\":%d,\"title\":\"%s\",\"description\":\"%s\","
		 "\"form\":\"api\",\"tags\":%s,\"scope\":{\"scope\":\"space\"}%s%s}",
		 id, version, title, desc, tags, extra && *extra ? "," : "", extra ? extra : "");
	bool applied;
	ok(up(org, buf, &applied));
	assert_true(applied);
}

static uint64_t ledger_size(void)
{
	uint64_t n = 0;
	ok(tds_ledger_size(F->lg, &n, NULL));
	return n;
}

#define P1 "prd_01JPRD00000000000000000001"
#define P2 "prd_01JPRD00000000000000000002"
#define P3 "prd_01JPRD00000000000000000003"
#define R1 "res_01JRES00000000000000000001"

static void test_upsert_versions(void **state)
{
	(void)state;
	uint64_t n0 = ledger_size();
	product(ORG_TAX, P1, 2, "企业纳税信息查询", "按统一社会信用代码查询企业纳税情况", "[\"纳税\",\"企业\"]",
		"\"code\":\"tds://space.example.cn/prd/00000001K\",\"org_id\":\"org_01JFORGEDAAAAAAAAAAAAAAAAA\"");
	json_t *e;
	ok(tds_catalog_entry_get(F->cat, P1, &e));
	assert_string_equal(tds_json_str(e, "org_id", ""), ORG_TAX); /* never the body's */
	assert_int_equal(tds_json_int(e, "version", 0), 2);
	assert_false(tds_json_bool(e, "withdrawn", true));
	assert_int_equal(tds_json_int(e, "popularity", -1), 0);
	assert_true(json_is_null(json_object_get(e, "grade"))); /* the whole shape is there */
	assert_true(json_is_array(json_object_get(e, "fields")));
	json_decref(e);
	/* by code */
	ok(tds_catalog_entry_get(F->cat, "tds://space.example.cn/prd/00000001K", &e));
	assert_string_equal(tds_json_str(e, "id", ""), P1);
	json_decref(e);
	/* an older and an equal version change nothing and are not evidenced */
	uint64_t n1 = ledger_size();
	assert_true(n1 > n0);
	bool applied = true;
	ok(up(ORG_TAX, "{\"kind\":\"product\",\"id\":\"" P1 "\",\"version\":1,\"title\":\"旧\",\"form\":\"api\","
		       "\"scope\":{\"scope\":\"space\"}}", &applied));
	assert_false(applied);
	ok(up(ORG_TAX, "{\"kind\":\"product\",\"id\":\"" P1 "\",\"version\":2,\"title\":\"同版本\",\"form\":\"api\","
		       "\"scope\":{\"scope\":\"space\"}}", &applied));
	assert_false(applied);
	ok(tds_catalog_entry_get(F->cat, P1, &e));
	assert_string_equal(tds_json_str(e, "title", ""), "企业纳税信息查询");
	json_decref(e);
	assert_int_equal(ledger_size(), n1);
	/* a higher one replaces */
	product(ORG_TAX, P1, 3, "企业纳税信用查询", "新版本", "[\"纳税\"]", NULL);
	ok(tds_catalog_entry_get(F->cat, P1, &e));
	assert_string_equal(tds_json_str(e, "title", ""), "企业纳税信用查询");
	assert_int_equal(tds_json_int(e, "version", 0), 3);
	json_decref(e);
	/* another organisation cannot take the id */
	expect(up(ORG_HR, "{\"kind\":\"product\",\"id\":\"" P1 "\",\"version\":9,\"title\":\"抢占\",\"form\":\"api\","
		      "\"scope\":{\"scope\":\"space\"}}", &applied),
	       TDS_ECONFLICT, "entry_owned_elsewhere");
	expect(tds_catalog_entry_get(F->cat, P2, &e), TDS_ENOTFOUND, "entry_not_found");
	expect(tds_catalog_entry_get(F->cat, "no-such-code", &e), TDS_ENOTFOUND, "entry_not_found");
	expect(tds_catalog_entry_get(F->cat, "", &e), TDS_ENOTFOUND, "entry_not_found");
}

static void test_withdrawal(void **state)
{
	(void)state;
	product(ORG_TAX, P1, 1, "企业纳税信息", "描述", "[\"纳税\"]", NULL);
	bool applied;
	ok(up(ORG_TAX, "{\"kind\":\"product\",\"id\":\"" P1 "\",\"version\":2,\"withdrawn\":true}", &applied));
	assert_true(applied);
	json_t *e;
	ok(tds_catalog_entry_get(F->cat, P1, &e));
	assert_true(tds_json_bool(e, "withdrawn", false));
	assert_string_equal(tds_json_str(e, "title", ""), "企业纳税信息"); /* still readable */
	assert_int_equal(tds_json_int(e, "version", 0), 2);
	json_decref(e);
	/* a late older copy does not bring it back */
	ok(up(ORG_TAX, "{\"kind\":\"product\",\"id\":\"" P1 "\",\"version\":1,\"title\":\"企业纳税信息\",\"form\":\"api\","
		       "\"scope\":{\"scope\":\"space\"}}", &applied));
	assert_false(applied);
	/* a withdrawal of an unknown id leaves a tombstone */
	ok(up(ORG_TAX, "{\"kind\":\"resource\",\"id\":\"" R1 "\",\"version\":5,\"withdrawn\":true}", &applied));
	assert_true(applied);
	ok(up(ORG_TAX, "{\"kind\":\"resource\",\"id\":\"" R1 "\",\"version\":4,\"title\":\"迟到\",\"scope\":{\"scope\":\"space\"}}",
	      &applied));
	assert_false(applied);
	ok(tds_catalog_entry_get(F->cat, R1, &e));
	assert_true(tds_json_bool(e, "withdrawn", false));
	json_decref(e);
	/* a higher version lists it again */
	product(ORG_TAX, P1, 3, "企业纳税信息", "重新上架", "[\"纳税\"]", NULL);
	ok(tds_catalog_entry_get(F->cat, P1, &e));
	assert_false(tds_json_bool(e, "withdrawn", true));
	json_decref(e);
}

static void test_strict_validation(void **state)
{
	(void)state;
	static const struct {
		const char *entry, *member;
	} cases[] = {
	    {"[]", "JSON object"},
	    {"{\"id\":\"" P1 "\",\"version\":1}", "kind"},
	    {"{\"kind\":\"dataset\",\"id\":\"" P1 "\",\"version\":1}", "kind"},
	    {"{\"kind\":\"product\",\"id\":\"res_01JRES00000000000000000001\",\"version\":1}", "id"},
	    {"{\"kind\":\"product\",\"id\":\"" P1 "\",\"version\":0,\"title\":\"t\",\"form\":\"api\",\"scope\":{\"scope\":\"space\"}}", "version"},
	    {"{\"kind\":\"product\",\"id\":\"" P1 "\",\"version\":\"1\"}", "version"},
	    {"{\"kind\":\"product\",\"id\":\"" P1 "\",\"version\":1,\"form\":\"api\",\"scope\":{\"scope\":\"space\"}}", "title"},
	    {"{\"kind\":\"product\",\"id\":\"" P1 "\",\"version\":1,\"title\":\"t\",\"scope\":{\"scope\":\"space\"}}", "form"},
	    {"{\"kind\":\"product\",\"id\":\"" P1 "\",\"version\":1,\"title\":\"t\",\"form\":\"csv\",\"scope\":{\"scope\":\"space\"}}", "form"},
	    {"{\"kind\":\"resource\",\"id\":\"" R1 "\",\"version\":1,\"title\":\"t\",\"form\":\"api\",\"scope\":{\"scope\":\"space\"}}", "form"},
	    {"{\"kind\":\"product\",\"id\":\"" P1 "\",\"version\":1,\"title\":\"t\",\"form\":\"api\"}", "scope"},
	    {"{\"kind\":\"product\",\"id\":\"" P1 "\",\"version\":1,\"title\":\"t\",\"form\":\"api\",\"scope\":{\"scope\":\"world\"}}", "scope"},
	    {"{\"kind\":\"product\",\"id\":\"" P1 "\",\"version\":1,\"title\":\"t\",\"form\":\"api\",\"scope\":{\"scope\":\"roles\",\"roles\":[\"king\"]}}", "scope.roles[0]"},
	    {"{\"kind\":\"product\",\"id\":\"" P1 "\",\"version\":1,\"title\":\"t\",\"form\":\"api\",\"scope\":{\"scope\":\"orgs\",\"orgs\":[\"bank\"]}}", "scope.orgs[0]"},
	    {"{\"kind\":\"product\",\"id\":\"" P1 "\",\"version\":1,\"title\":\"t\",\"form\":\"api\",\"scope\":{\"scope\":\"space\"},\"grade\":\"secret\"}", "grade"},
	    {"{\"kind\":\"product\",\"id\":\"" P1 "\",\"version\":1,\"title\":\"t\",\"form\":\"api\",\"scope\":{\"scope\":\"space\"},\"level\":\"L5\"}", "level"},
	    {"{\"kind\":\"product\",\"id\":\"" P1 "\",\"version\":1,\"title\":\"t\",\"form\":\"api\",\"scope\":{\"scope\":\"space\"},\"update_frequency\":\"sometimes\"}", "update_frequency"},
	    {"{\"kind\":\"product\",\"id\":\"" P1 "\",\"version\":1,\"title\":\"t\",\"form\":\"api\",\"scope\":{\"scope\":\"space\"},\"tags\":[\"\"]}", "tags[0]"},
	    {"{\"kind\":\"product\",\"id\":\"" P1 "\",\"version\":1,\"title\":\"t\",\"form\":\"api\",\"scope\":{\"scope\":\"space\"},\"tags\":[\"a\",\"b\\u0001\"]}", "tags[1]"},
	    {"{\"kind\":\"product\",\"id\":\"" P1 "\",\"version\":1,\"title\":\"t\",\"form\":\"api\",\"scope\":{\"scope\":\"space\"},\"fields\":[{\"name\":\"a\"},{\"label\":\"x\"}]}", "fields[1]"},
	    {"{\"kind\":\"product\",\"id\":\"" P1 "\",\"version\":1,\"title\":\"t\",\"form\":\"api\",\"scope\":{\"scope\":\"space\"},\"fields\":[{\"name\":\"a\",\"secret\":1}]}", "fields[0]"},
	    {"{\"kind\":\"product\",\"id\":\"" P1 "\",\"version\":1,\"title\":\"t\",\"form\":\"api\",\"scope\":{\"scope\":\"space\"},\"modified\":\"yesterday\"}", "modified"},
	    {"{\"kind\":\"product\",\"id\":\"" P1 "\",\"version\":1,\"title\":\"t\",\"form\":\"api\",\"scope\":{\"scope\":\"space\"},\"code\":\"has space\"}", "code"},
	    {"{\"kind\":\"product\",\"id\":\"" P1 "\",\"version\":1,\"title\":\"t\\u0007\",\"form\":\"api\",\"scope\":{\"scope\":\"space\"}}", "title"},
	    {"{\"kind\":\"product\",\"id\":\"" P1 "\",\"version\":1,\"title\":\"t\",\"form\":\"api\",\"scope\":{\"scope\":\"space\"},\"rows\":[]}", "rows"},
	    {"{\"kind\":\"product\",\"id\":\"" P1 "\",\"version\":1,\"title\":\"t\",\"form\":\"api\",\"scope\":{\"scope\":\"space\"},\"org_id\":5}", "org_id"},
	    {"{\"kind\":\"product\",\"id\":\"" P1 "\",\"version\":2,\"withdrawn\":true,\"title\":\"x\"}", "title"},
	};
	uint64_t n0 = ledger_size();
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		bool applied = true;
		int rc = up(ORG_TAX, cases[i].entry, &applied);
		if (rc != TDS_EINVAL || !strstr(tds_error_message(), cases[i].member))
			fail_msg("case %zu: got %d %s, wanted EINVAL naming %s", i, rc, tds_error_message(), cases[i].member);
		assert_false(applied);
	}
	assert_int_equal(ledger_size(), n0);
	json_t *e;
	expect(tds_catalog_entry_get(F->cat, P1, &e), TDS_ENOTFOUND, "entry_not_found");
	/* the organisation must be an id */
	bool applied;
	json_t *in = J("{\"kind\":\"product\",\"id\":\"" P1 "\",\"version\":1,\"title\":\"t\",\"form\":\"api\",\"scope\":{\"scope\":\"space\"}}");
	expect(tds_catalog_entry_upsert(F->cat, &NODE_TAX, NULL, in, &applied), TDS_EINVAL, "invalid_org");
	json_decref(in);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_upsert_versions, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_withdrawal, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_strict_validation, fx_setup, fx_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
