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
#include "catalog/internal.h"
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
static const char *ORG_BANK = "org_01JBANKAAAAAAAAAAAAAAAAAAA";
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
		 "\"tags\":%s%s%s%s%s}", id, version, title, desc, tags,
		 extra && strstr(extra, "\"form\"") ? "" : ",\"form\":\"api\"",
		 extra && strstr(extra, "\"scope\"") ? "" : ",\"scope\":{\"scope\":\"space\"}", extra && *extra ? "," : "",
		 extra ? extra : "");
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


/* Searches as v and returns the ids found, space-separated, in order. */
static void search_ids(const tds_catalog_viewer *v, const tds_catalog_query *q, char *ids, size_t cap)
{
	json_t *out;
	ok(tds_catalog_search(F->cat, v, q, &out));
	ids[0] = 0;
	size_t i;
	json_t *e;
	json_array_foreach(json_object_get(out, "items"), i, e) {
		size_t l = strlen(ids);
		snprintf(ids + l, cap - l, "%s%s", l ? " " : "", tds_json_str(e, "id", "") + 29);
	}
	json_decref(out);
}

static const tds_catalog_viewer OPERATOR = {.org = "org_01JOPAAAAAAAAAAAAAAAAAAAAA", .roles = TDS_ROLE_OPERATOR};
static const tds_catalog_viewer BANK = {.org = "org_01JBANKAAAAAAAAAAAAAAAAAAA", .roles = TDS_ROLE_CONSUMER};

#define P4 "prd_01JPRD00000000000000000004"
#define P5 "prd_01JPRD00000000000000000005"

/* Five products: tax, social security, a tax credit product for banks only, an English one, one for
 * an insurer only. Ids end in 0001…0005 (the last 6 characters are what search_ids prints). */
static void corpus(void)
{
	product(ORG_TAX, P1, 1, "企业纳税信息查询", "按统一社会信用代码查询企业纳税额与纳税等级", "[\"纳税\",\"企业\",\"税务\"]",
		"\"domain\":\"tax\",\"grade\":\"一般\",\"update_frequency\":\"monthly\",\"authorization_type\":\"有条件开放\","
		"\"fields\":[{\"name\":\"uscc\",\"label\":\"统一社会信用代码\",\"type\":\"text\"},{\"name\":\"tax_amount\",\"label\":\"纳税额\",\"type\":\"decimal\"}],"
		"\"modified\":\"2026-01-01T00:00:00Z\"");
	product(ORG_HR, P2, 1, "个人社保缴纳记录", "社会保险缴费基数与缴纳月份", "[\"社保\",\"个人\"]",
		"\"domain\":\"social_security\",\"grade\":\"重要\",\"update_frequency\":\"monthly\",\"form\":\"dataset\","
		"\"modified\":\"2026-03-01T00:00:00Z\"");
	product(ORG_TAX, P3, 1, "纳税信用贷款评估", "供银行评估企业纳税信用", "[\"纳税\",\"信贷\"]",
		"\"domain\":\"tax\",\"scope\":{\"scope\":\"roles\",\"roles\":[\"consumer\"]},\"modified\":\"2026-02-01T00:00:00Z\"");
	product(ORG_HR, P4, 1, "Employment statistics API", "Monthly employment figures by district", "[\"employment\",\"统计\"]",
		"\"domain\":\"labour\",\"update_frequency\":\"daily\",\"modified\":\"2026-04-01T00:00:00Z\"");
	product(ORG_HR, P5, 1, "医保结算明细", "保险公司核保用的医保结算记录", "[\"医保\",\"保险\"]",
		"\"scope\":{\"scope\":\"orgs\",\"orgs\":[\"org_01JNSRAAAAAAAAAAAAAAAAAAAA\"]},\"modified\":\"2026-05-01T00:00:00Z\"");
}

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
	/* an equal version flips it between listed and withdrawn (relisting at the approved version) */
	ok(up(ORG_TAX, "{\"kind\":\"product\",\"id\":\"" P1 "\",\"version\":2,\"title\":\"企业纳税信息\",\"form\":\"api\","
		       "\"scope\":{\"scope\":\"space\"}}", &applied));
	assert_true(applied);
	ok(tds_catalog_entry_get(F->cat, P1, &e));
	assert_false(tds_json_bool(e, "withdrawn", true));
	json_decref(e);
	ok(up(ORG_TAX, "{\"kind\":\"product\",\"id\":\"" P1 "\",\"version\":2,\"title\":\"企业纳税信息\",\"form\":\"api\","
		       "\"scope\":{\"scope\":\"space\"}}", &applied));
	assert_false(applied); /* the same again: nothing */
	ok(up(ORG_TAX, "{\"kind\":\"product\",\"id\":\"" P1 "\",\"version\":2,\"withdrawn\":true}", &applied));
	assert_true(applied);
	ok(up(ORG_TAX, "{\"kind\":\"product\",\"id\":\"" P1 "\",\"version\":2,\"withdrawn\":true}", &applied));
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


static void test_search(void **state)
{
	(void)state;
	corpus();
	char ids[256];
	tds_catalog_query q = {.q = "纳税"};
	/* two characters: the acceptance test's words */
	search_ids(&OPERATOR, &q, ids, sizeof ids);
	assert_string_equal(ids, "3 1"); /* both have it in title and tags; 3's title is shorter */
	q.q = "企业";
	search_ids(&OPERATOR, &q, ids, sizeof ids);
	assert_string_equal(ids, "1 3"); /* title, tags and description beat description alone */
	q.q = "社保";
	search_ids(&BANK, &q, ids, sizeof ids);
	assert_string_equal(ids, "2");
	/* one character, also where it ends a word (缴纳 → 纳) */
	q.q = "纳";
	search_ids(&OPERATOR, &q, ids, sizeof ids);
	assert_string_equal(ids, "3 1 2");
	q.q = "税";
	search_ids(&OPERATOR, &q, ids, sizeof ids);
	assert_string_equal(ids, "3 1");
	/* three and more: consecutive characters only */
	q.q = "纳税额";
	search_ids(&OPERATOR, &q, ids, sizeof ids);
	assert_string_equal(ids, "1");
	q.q = "统一社会信用代码";
	search_ids(&OPERATOR, &q, ids, sizeof ids);
	assert_string_equal(ids, "1");
	q.q = "纳额"; /* not consecutive anywhere */
	search_ids(&OPERATOR, &q, ids, sizeof ids);
	assert_string_equal(ids, "");
	/* English words, any case, whole words or prefixes with '*'; field names */
	q.q = "EMPLOYMENT";
	search_ids(&OPERATOR, &q, ids, sizeof ids);
	assert_string_equal(ids, "4");
	q.q = "employ";
	search_ids(&OPERATOR, &q, ids, sizeof ids);
	assert_string_equal(ids, "");
	q.q = "employ*";
	search_ids(&OPERATOR, &q, ids, sizeof ids);
	assert_string_equal(ids, "4");
	q = (tds_catalog_query){.q = "employ* figures", .sort = "recency"};
	search_ids(&OPERATOR, &q, ids, sizeof ids);
	assert_string_equal(ids, "4");
	q = (tds_catalog_query){.q = "税", .sort = "popularity"};
	search_ids(&OPERATOR, &q, ids, sizeof ids);
	assert_string_equal(ids, "3 1"); /* no uses yet: the newest first */
	q = (tds_catalog_query){0};
	q.q = "tax_amount";
	search_ids(&OPERATOR, &q, ids, sizeof ids);
	assert_string_equal(ids, "1");
	/* words together: all must match; mixed scripts */
	q.q = "纳税 信贷";
	search_ids(&OPERATOR, &q, ids, sizeof ids);
	assert_string_equal(ids, "3");
	q.q = "employment统计";
	search_ids(&OPERATOR, &q, ids, sizeof ids);
	assert_string_equal(ids, "4");
	/* query syntax is never FTS syntax */
	q.q = "纳税\" OR \"社保";
	search_ids(&OPERATOR, &q, ids, sizeof ids);
	assert_string_equal(ids, "");
	q.q = "NEAR(a b) * ^ :";
	search_ids(&OPERATOR, &q, ids, sizeof ids);
	assert_string_equal(ids, "");
	/* filters */
	q = (tds_catalog_query){.q = "纳税", .domain = "tax", .form = "api"};
	search_ids(&OPERATOR, &q, ids, sizeof ids);
	assert_string_equal(ids, "3 1");
	/* every filter with words (facet tokens in the index) */
	q = (tds_catalog_query){.q = "纳税", .org = ORG_TAX};
	search_ids(&OPERATOR, &q, ids, sizeof ids);
	assert_string_equal(ids, "3 1");
	q = (tds_catalog_query){.q = "纳税", .org = ORG_HR};
	search_ids(&OPERATOR, &q, ids, sizeof ids);
	assert_string_equal(ids, "");
	q = (tds_catalog_query){.q = "缴纳", .grade = "重要", .update_frequency = "monthly", .kind = "product", .form = "dataset"};
	search_ids(&OPERATOR, &q, ids, sizeof ids);
	assert_string_equal(ids, "2");
	q = (tds_catalog_query){.q = "纳税", .authorization_type = "有条件开放", .sort = "popularity"};
	search_ids(&OPERATOR, &q, ids, sizeof ids);
	assert_string_equal(ids, "1");
	q = (tds_catalog_query){.q = "纳税", .grade = "核心"};
	search_ids(&OPERATOR, &q, ids, sizeof ids);
	assert_string_equal(ids, "");
	q = (tds_catalog_query){.grade = "important"};
	search_ids(&OPERATOR, &q, ids, sizeof ids);
	assert_string_equal(ids, "2");
	q = (tds_catalog_query){.grade = "一般"};
	search_ids(&OPERATOR, &q, ids, sizeof ids);
	assert_string_equal(ids, "1");
	q = (tds_catalog_query){.form = "dataset"};
	search_ids(&OPERATOR, &q, ids, sizeof ids);
	assert_string_equal(ids, "2");
	q = (tds_catalog_query){.update_frequency = "monthly", .sort = "recency"};
	search_ids(&OPERATOR, &q, ids, sizeof ids);
	assert_string_equal(ids, "2 1");
	q = (tds_catalog_query){.authorization_type = "有条件开放"};
	search_ids(&OPERATOR, &q, ids, sizeof ids);
	assert_string_equal(ids, "1");
	q = (tds_catalog_query){.org = ORG_TAX};
	search_ids(&OPERATOR, &q, ids, sizeof ids);
	assert_string_equal(ids, "3 1");
	q = (tds_catalog_query){.kind = "resource"};
	search_ids(&OPERATOR, &q, ids, sizeof ids);
	assert_string_equal(ids, "");
	/* sorts: recency (the default without q), popularity */
	q = (tds_catalog_query){0};
	search_ids(&OPERATOR, &q, ids, sizeof ids);
	assert_string_equal(ids, "5 4 2 3 1");
	ok(tds_catalog_entry_bump(F->cat, P1, ORG_BANK));
	ok(tds_catalog_entry_bump(F->cat, P1, ORG_HR));
	ok(tds_catalog_entry_bump(F->cat, P4, ORG_BANK));
	q = (tds_catalog_query){.sort = "popularity"};
	search_ids(&OPERATOR, &q, ids, sizeof ids);
	assert_string_equal(ids, "1 4 5 2 3");
	q = (tds_catalog_query){.q = "纳税", .sort = "recency"};
	search_ids(&OPERATOR, &q, ids, sizeof ids);
	assert_string_equal(ids, "3 1");
	/* paging */
	q = (tds_catalog_query){.limit = 2};
	json_t *out;
	ok(tds_catalog_search(F->cat, &OPERATOR, &q, &out));
	assert_int_equal(json_array_size(json_object_get(out, "items")), 2);
	q.cursor = tds_json_str(out, "next_cursor", NULL);
	assert_non_null(q.cursor);
	char cur[16];
	snprintf(cur, sizeof cur, "%s", q.cursor);
	json_decref(out);
	q.cursor = cur;
	search_ids(&OPERATOR, &q, ids, sizeof ids);
	assert_string_equal(ids, "2 3");
	q.cursor = "4";
	ok(tds_catalog_search(F->cat, &OPERATOR, &q, &out));
	assert_true(json_is_null(json_object_get(out, "next_cursor")));
	json_decref(out);
	/* withdrawn entries never appear */
	bool applied;
	ok(up(ORG_TAX, "{\"kind\":\"product\",\"id\":\"" P1 "\",\"version\":2,\"withdrawn\":true}", &applied));
	q = (tds_catalog_query){.q = "纳税"};
	search_ids(&OPERATOR, &q, ids, sizeof ids);
	assert_string_equal(ids, "3");
	q = (tds_catalog_query){.sort = "popularity"};
	search_ids(&OPERATOR, &q, ids, sizeof ids);
	assert_string_equal(ids, "4 5 2 3");
}

static void test_search_bad_input(void **state)
{
	(void)state;
	corpus();
	static const struct {
		tds_catalog_query q;
		const char *name;
	} cases[] = {
	    {{.kind = "products"}, "invalid_filter"},
	    {{.form = "stream"}, "invalid_filter"},
	    {{.grade = "secret"}, "invalid_filter"},
	    {{.update_frequency = "often"}, "invalid_filter"},
	    {{.domain = ""}, "invalid_filter"},
	    {{.authorization_type = "a\tb"}, "invalid_filter"},
	    {{.org = "org with space"}, "invalid_filter"},
	    {{.sort = "random"}, "invalid_sort"},
	    {{.limit = 101}, "invalid_limit"},
	    {{.limit = -1}, "invalid_limit"},
	    {{.cursor = "abc"}, "invalid_cursor"},
	    {{.cursor = "99999"}, "invalid_cursor"},
	    {{.cursor = ""}, "invalid_cursor"},
	    {{.q = "!!! ??"}, "invalid_query"},
	    {{.q = "\xff\xfe"}, "invalid_query"},
	    {{.q = "a b c d e f g h i j k l m n o p q"}, "invalid_query"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		json_t *out = NULL;
		int rc = tds_catalog_search(F->cat, &OPERATOR, &cases[i].q, &out);
		if (rc != TDS_EINVAL || strcmp(tds_error_name(), cases[i].name))
			fail_msg("case %zu: got %d %s (%s), wanted %s", i, rc, tds_error_name(), tds_error_message(), cases[i].name);
		assert_null(out);
	}
	char big[300];
	memset(big, 'a', sizeof big - 1);
	big[sizeof big - 1] = 0;
	json_t *out;
	tds_catalog_query q = {.q = big};
	expect(tds_catalog_search(F->cat, &OPERATOR, &q, &out), TDS_EINVAL, "invalid_query");
	expect(tds_catalog_entry_bump(F->cat, "prd_01JPRD0000000000000000000X", ORG_BANK), TDS_ENOTFOUND, "entry_not_found");
	expect(tds_catalog_entry_bump(F->cat, "nonsense", ORG_BANK), TDS_ENOTFOUND, "entry_not_found");
	expect(tds_catalog_entry_bump(F->cat, P1, NULL), TDS_EINVAL, "invalid_org");
}

static void test_scope_visibility(void **state)
{
	(void)state;
	corpus();
	char ids[256];
	tds_catalog_query q = {0};
	/* a consumer bank sees space entries and the consumers-only one, not the insurer's */
	search_ids(&BANK, &q, ids, sizeof ids);
	assert_string_equal(ids, "4 2 3 1");
	tds_catalog_viewer dev = {.org = "org_01JDEVAAAAAAAAAAAAAAAAAAAA", .roles = TDS_ROLE_DEVELOPER};
	search_ids(&dev, &q, ids, sizeof ids);
	assert_string_equal(ids, "4 2 1");
	tds_catalog_viewer insurer = {.org = "org_01JNSRAAAAAAAAAAAAAAAAAAAA", .roles = TDS_ROLE_CONSUMER};
	search_ids(&insurer, &q, ids, sizeof ids);
	assert_string_equal(ids, "5 4 2 3 1");
	/* the provider always sees its own */
	tds_catalog_viewer tax = {.org = ORG_TAX, .roles = TDS_ROLE_PROVIDER};
	search_ids(&tax, &q, ids, sizeof ids);
	assert_string_equal(ids, "4 2 3 1");
	tds_catalog_viewer regulator = {.org = NULL, .roles = TDS_ROLE_REGULATOR};
	search_ids(&regulator, &q, ids, sizeof ids);
	assert_string_equal(ids, "5 4 2 3 1");
	tds_catalog_viewer nobody = {.org = NULL, .roles = TDS_ROLE_DEVELOPER};
	q.q = "纳税";
	search_ids(&nobody, &q, ids, sizeof ids);
	assert_string_equal(ids, "1");
	/* the same rule for one entry */
	json_t *e;
	ok(tds_catalog_entry_get(F->cat, P5, &e));
	assert_false(tds_catalog_entry_visible(e, &BANK));
	assert_true(tds_catalog_entry_visible(e, &insurer));
	assert_true(tds_catalog_entry_visible(e, &OPERATOR));
	json_decref(e);
	ok(tds_catalog_entry_get(F->cat, P3, &e));
	assert_true(tds_catalog_entry_visible(e, &BANK));
	assert_false(tds_catalog_entry_visible(e, &dev));
	assert_true(tds_catalog_entry_visible(e, &tax));
	json_decref(e);
}

static void test_related(void **state)
{
	(void)state;
	corpus();
	json_t *out;
	/* by tags: P3 shares 纳税 with P1 */
	ok(tds_catalog_related(F->cat, &OPERATOR, P1, 0, &out));
	assert_int_equal(json_array_size(json_object_get(out, "items")), 1);
	assert_string_equal(tds_json_str(json_array_get(json_object_get(out, "items"), 0), "id", ""), P3);
	assert_int_equal(tds_json_int(json_array_get(json_object_get(out, "items"), 0), "shared_tags", 0), 1);
	json_decref(out);
	/* by co-usage: the bank used P1 and P4, the HR bureau P1, P2 and P4 */
	ok(tds_catalog_entry_bump(F->cat, P1, ORG_BANK));
	ok(tds_catalog_entry_bump(F->cat, P4, ORG_BANK));
	ok(tds_catalog_entry_bump(F->cat, P1, ORG_HR));
	ok(tds_catalog_entry_bump(F->cat, P4, ORG_HR));
	ok(tds_catalog_entry_bump(F->cat, P2, ORG_HR));
	ok(tds_catalog_related(F->cat, &OPERATOR, P1, 0, &out));
	json_t *items = json_object_get(out, "items");
	assert_int_equal(json_array_size(items), 3);
	assert_string_equal(tds_json_str(json_array_get(items, 0), "id", ""), P4); /* two co-users: 4 */
	assert_int_equal(tds_json_int(json_array_get(items, 0), "co_users", 0), 2);
	assert_string_equal(tds_json_str(json_array_get(items, 1), "id", ""), P2); /* one co-user: 2 */
	assert_string_equal(tds_json_str(json_array_get(items, 2), "id", ""), P3); /* one tag: 1 */
	json_decref(out);
	/* a developer does not see P3 (consumers only) among them, nor P5 at all */
	tds_catalog_viewer dev = {.org = "org_01JDEVAAAAAAAAAAAAAAAAAAAA", .roles = TDS_ROLE_DEVELOPER};
	ok(tds_catalog_related(F->cat, &dev, P1, 0, &out));
	assert_int_equal(json_array_size(json_object_get(out, "items")), 2);
	json_decref(out);
	expect(tds_catalog_related(F->cat, &dev, P5, 0, &out), TDS_ENOTFOUND, "entry_not_found");
	expect(tds_catalog_related(F->cat, &dev, P1, 51, &out), TDS_EINVAL, "invalid_limit");
	expect(tds_catalog_related(F->cat, &dev, "prd_01JPRD0000000000000000009Z", 0, &out), TDS_ENOTFOUND, "entry_not_found");
	/* withdrawn entries are not suggested */
	bool applied;
	ok(up(ORG_HR, "{\"kind\":\"product\",\"id\":\"" P4 "\",\"version\":2,\"withdrawn\":true}", &applied));
	ok(tds_catalog_related(F->cat, &OPERATOR, P1, 0, &out));
	assert_int_equal(json_array_size(json_object_get(out, "items")), 2);
	json_decref(out);
}


static const tds_ledger_actor OP_ADMIN = {.org = "org_01JPRTRAAAAAAAAAAAAAAAAAAA", .account = "acc_01JPRTRAAAAAAAAAAAAAAAAAAA"};
#define ORG_OP "org_01JPRTRAAAAAAAAAAAAAAAAAAA"

static void test_import_json(void **state)
{
	(void)state;
	json_t *items = J("[{\"name\":\"企业登记信息\",\"type\":\"接口\",\"format\":\"JSON\",\"update_frequency\":\"每日\","
			  "\"authorization_type\":\"有条件开放\",\"usage_restrictions\":\"仅限信贷审批\","
			  "\"application_path\":\"https://auth.example.cn/apply\",\"required_materials\":[\"营业执照\",\"用途说明\"]},"
			  "{\"目录名称\":\"社保缴纳明细\",\"类型\":\"库表\",\"格式\":\"CSV\",\"更新频率\":\"monthly\","
			  "\"申请材料\":\"授权书；承诺书、营业执照\",\"领域\":\"social_security\"}]"),
	       *out;
	uint64_t n0 = ledger_size();
	ok(tds_catalog_import_items(F->cat, &OP_ADMIN, ORG_OP, items, &out));
	assert_int_equal(tds_json_int(out, "imported", 0), 2);
	char id1[TDS_ID_MAX];
	snprintf(id1, sizeof id1, "%s", tds_json_str(json_array_get(json_object_get(out, "items"), 0), "id", ""));
	assert_true(tds_id_valid(id1, "pub"));
	json_decref(out);
	assert_int_equal(ledger_size(), n0 + 2);
	json_t *e;
	ok(tds_catalog_entry_get(F->cat, id1, &e));
	assert_string_equal(tds_json_str(e, "kind", ""), "public_item");
	assert_string_equal(tds_json_str(e, "form", ""), "api");
	assert_string_equal(tds_json_str(e, "update_frequency", ""), "daily");
	assert_string_equal(tds_json_str(e, "org_id", ""), ORG_OP);
	assert_int_equal(json_array_size(json_object_get(e, "required_materials")), 2);
	json_decref(e);
	/* found by its words, its materials, its kind */
	char ids[256];
	tds_catalog_query q = {.q = "社保", .kind = "public_item"};
	json_t *res;
	ok(tds_catalog_search(F->cat, &BANK, &q, &res));
	json_t *hit = json_array_get(json_object_get(res, "items"), 0);
	assert_string_equal(tds_json_str(hit, "title", ""), "社保缴纳明细");
	assert_string_equal(tds_json_str(hit, "form", ""), "dataset");
	assert_int_equal(json_array_size(json_object_get(hit, "required_materials")), 3); /* ；、 split */
	json_decref(res);
	q = (tds_catalog_query){.q = "承诺书"};
	search_ids(&BANK, &q, ids, sizeof ids);
	assert_true(ids[0] != 0);
	/* importing the same name again: a new version of the same entry */
	ok(tds_catalog_import_items(F->cat, &OP_ADMIN, ORG_OP, items, &out));
	assert_string_equal(tds_json_str(json_array_get(json_object_get(out, "items"), 0), "id", ""), id1);
	assert_int_equal(tds_json_int(json_array_get(json_object_get(out, "items"), 0), "version", 0), 2);
	json_decref(out);
	json_decref(items);
	/* bad items: every one listed, nothing imported */
	items = J("[{\"name\":\"好的\",\"type\":\"文件\"},"
		  "{\"type\":\"接口\"},"
		  "{\"name\":\"坏类型\",\"type\":\"视频\"},"
		  "{\"name\":\"坏频率\",\"type\":\"api\",\"update_frequency\":\"偶尔\"},"
		  "{\"name\":\"未知列\",\"type\":\"api\",\"color\":\"red\"},"
		  "{\"name\":\"好的\",\"type\":\"file\"},"
		  "\"not an object\","
		  "{\"name\":\"坏材料\",\"type\":\"api\",\"required_materials\":5}]");
	n0 = ledger_size();
	expect(tds_catalog_import_items(F->cat, &OP_ADMIN, ORG_OP, items, &out), TDS_EINVAL, "invalid_import");
	assert_non_null(strstr(tds_error_message(), "items[1]"));
	json_t *errs = json_object_get(tds_error_details(), "errors");
	assert_int_equal(json_array_size(errs), 7);
	const char *want[] = {"items[1]", "items[2]", "items[3]", "items[4]", "items[5]", "items[6]", "items[7]"};
	for (size_t i = 0; i < 7; i++)
		assert_string_equal(tds_json_str(json_array_get(errs, i), "line", ""), want[i]);
	assert_non_null(strstr(tds_json_str(json_array_get(errs, 4), "message", ""), "repeats items[0]"));
	json_decref(items);
	assert_int_equal(ledger_size(), n0);
	q = (tds_catalog_query){.q = "好的"};
	search_ids(&BANK, &q, ids, sizeof ids);
	assert_string_equal(ids, "");
	items = J("{\"name\":\"x\"}");
	expect(tds_catalog_import_items(F->cat, &OP_ADMIN, ORG_OP, items, &out), TDS_EINVAL, "invalid_import");
	json_decref(items);
	items = J("[]");
	expect(tds_catalog_import_items(F->cat, &OP_ADMIN, ORG_OP, items, &out), TDS_EINVAL, "empty_import");
	/* only the operator imports */
	tds_catalog_set_operator(F->cat, false);
	json_decref(items);
	items = J("[{\"name\":\"x\",\"type\":\"api\"}]");
	expect(tds_catalog_import_items(F->cat, &OP_ADMIN, ORG_OP, items, &out), TDS_EUNPROC, "not_operator");
	json_decref(items);
}

static void test_import_csv(void **state)
{
	(void)state;
	static const char CSV[] = "数据项名称,类型,格式,更新频率,授权类型,使用限制,申请路径,申请材料\r\n"
				  "企业纳税信用等级,接口,JSON,每月,有条件开放,\"仅限金融机构, 不得转售\",政务服务网/授权运营专区,营业执照;授权书\r\n"
				  "不动产登记信息,数据集,CSV,不定期,有条件开放,,线下申请,\r\n";
	json_t *out;
	ok(tds_catalog_import_csv(F->cat, &OP_ADMIN, ORG_OP, CSV, strlen(CSV), &out));
	assert_int_equal(tds_json_int(out, "imported", 0), 2);
	assert_string_equal(tds_json_str(json_array_get(json_object_get(out, "items"), 1), "line", ""), "line 3");
	json_t *e;
	ok(tds_catalog_entry_get(F->cat, tds_json_str(json_array_get(json_object_get(out, "items"), 0), "id", ""), &e));
	assert_string_equal(tds_json_str(e, "usage_restrictions", ""), "仅限金融机构, 不得转售");
	assert_string_equal(tds_json_str(e, "update_frequency", ""), "monthly");
	assert_string_equal(tds_json_str(e, "authorization_type", ""), "有条件开放");
	assert_int_equal(json_array_size(json_object_get(e, "required_materials")), 2);
	json_decref(e);
	json_decref(out);
	char ids[64];
	tds_catalog_query q = {.q = "纳税", .authorization_type = "有条件开放", .kind = "public_item"};
	json_t *res;
	ok(tds_catalog_search(F->cat, &BANK, &q, &res));
	assert_int_equal(json_array_size(json_object_get(res, "items")), 1);
	json_decref(res);
	/* English headers; errors name the line */
	static const char BAD[] = "name,type,update_frequency\n"
				  "好,api,daily\n"
				  ",api,daily\n"
				  "坏,api,sometimes\n"
				  "短,api\n";
	expect(tds_catalog_import_csv(F->cat, &OP_ADMIN, ORG_OP, BAD, strlen(BAD), &out), TDS_EINVAL, "invalid_import");
	assert_non_null(strstr(tds_error_message(), "line 3"));
	json_t *errs = json_object_get(tds_error_details(), "errors");
	assert_int_equal(json_array_size(errs), 3);
	assert_string_equal(tds_json_str(json_array_get(errs, 1), "line", ""), "line 4");
	assert_string_equal(tds_json_str(json_array_get(errs, 2), "line", ""), "line 5");
	q = (tds_catalog_query){.q = "好"};
	search_ids(&BANK, &q, ids, sizeof ids);
	assert_string_equal(ids, "");
	/* a catalog exported in GB18030 (名称,类型 / 企业信息,接口): detected and converted */
	static const char GBK[] = "\xc3\xfb\xb3\xc6,\xc0\xe0\xd0\xcd\n\xc6\xf3\xd2\xb5\xd0\xc5\xcf\xa2,\xbd\xd3\xbf\xda\n";
	ok(tds_catalog_import_csv(F->cat, &OP_ADMIN, ORG_OP, GBK, strlen(GBK), &out));
	assert_string_equal(tds_json_str(json_array_get(json_object_get(out, "items"), 0), "title", ""), "企业信息");
	json_decref(out);
	static const char UNKNOWN[] = "name,type,colour\nx,api,red\n";
	expect(tds_catalog_import_csv(F->cat, &OP_ADMIN, ORG_OP, UNKNOWN, strlen(UNKNOWN), &out), TDS_EINVAL, "invalid_import");
	assert_non_null(strstr(tds_error_message(), "line 1"));
	assert_non_null(strstr(tds_error_message(), "colour"));
	static const char TWICE[] = "name,名称,type\nx,y,api\n";
	expect(tds_catalog_import_csv(F->cat, &OP_ADMIN, ORG_OP, TWICE, strlen(TWICE), &out), TDS_EINVAL, "invalid_import");
	static const char QUOTE[] = "name,type\n\"x,api\n";
	expect(tds_catalog_import_csv(F->cat, &OP_ADMIN, ORG_OP, QUOTE, strlen(QUOTE), &out), TDS_EINVAL, "unbalanced_quote");
	expect(tds_catalog_import_csv(F->cat, &OP_ADMIN, ORG_OP, "", 0, &out), TDS_EINVAL, "empty_import");
	static const char HEADER_ONLY[] = "name,type\n";
	expect(tds_catalog_import_csv(F->cat, &OP_ADMIN, ORG_OP, HEADER_ONLY, strlen(HEADER_ONLY), &out), TDS_EINVAL,
	       "empty_import");
}

static void test_dcat(void **state)
{
	(void)state;
	corpus();
	json_t *e, *d;
	ok(tds_catalog_entry_get(F->cat, P1, &e));
	d = tds_catalog_entry_dcat(e, "tds://space.example.cn");
	assert_non_null(d);
	assert_string_equal(tds_json_str(d, "@type", ""), "dcat:DataService"); /* an API product */
	assert_string_equal(tds_json_str(json_object_get(d, "@context"), "dcat", ""), "http://www.w3.org/ns/dcat#");
	assert_string_equal(tds_json_str(d, "dct:identifier", ""), P1);
	assert_string_equal(tds_json_str(d, "dct:title", ""), "企业纳税信息查询");
	assert_int_equal(json_array_size(json_object_get(d, "dcat:keyword")), 3);
	assert_string_equal(tds_json_str(json_object_get(d, "dct:publisher"), "@id", ""), "tds://space.example.cn/orgs/" "org_01JTAXAAAAAAAAAAAAAAAAAAAA");
	assert_string_equal(tds_json_str(json_object_get(d, "dct:accrualPeriodicity"), "@id", ""),
			    "http://publications.europa.eu/resource/authority/frequency/MONTHLY");
	assert_string_equal(tds_json_str(json_array_get(json_object_get(d, "dcat:theme"), 0), "skos:prefLabel", ""), "tax");
	assert_string_equal(tds_json_str(json_object_get(d, "dct:modified"), "@value", ""), "2026-01-01T00:00:00.000Z");
	assert_non_null(json_object_get(d, "dct:issued"));
	json_t *dist = json_array_get(json_object_get(d, "dcat:distribution"), 0);
	assert_string_equal(tds_json_str(dist, "@type", ""), "dcat:Distribution");
	assert_non_null(json_object_get(dist, "dcat:accessService"));
	assert_string_equal(tds_json_str(dist, "dcat:mediaType", ""), "https://www.iana.org/assignments/media-types/application/json");
	assert_string_equal(tds_json_str(d, "dct:accessRights", ""), "有条件开放");
	json_decref(d);
	json_decref(e);
	ok(tds_catalog_entry_get(F->cat, P2, &e));
	d = tds_catalog_entry_dcat(e, "tds://space.example.cn");
	assert_string_equal(tds_json_str(d, "@type", ""), "dcat:Dataset");
	assert_null(json_object_get(json_array_get(json_object_get(d, "dcat:distribution"), 0), "dcat:accessService"));
	assert_string_equal(tds_json_str(d, "tds:grade", ""), "重要");
	json_decref(d);
	json_decref(e);
}

static void test_receive(void **state)
{
	(void)state;
	json_t *body = J("{\"entries\":["
			 "{\"kind\":\"resource\",\"id\":\"" R1 "\",\"version\":1,\"title\":\"企业纳税\",\"scope\":{\"scope\":\"space\"}},"
			 "{\"kind\":\"resource\",\"id\":\"" R1 "\",\"version\":1,\"title\":\"企业纳税\",\"scope\":{\"scope\":\"space\"}},"
			 "{\"kind\":\"resource\",\"id\":\"res_01JRES00000000000000000002\",\"version\":1},"
			 "{\"kind\":\"public_item\",\"id\":\"pub_01JPUB00000000000000000001\",\"version\":1,\"title\":\"x\",\"scope\":{\"scope\":\"space\"}},"
			 "7]}"),
	       *out;
	ok(tds_catalog_entries_receive(F->cat, &NODE_TAX, ORG_TAX, body, &out));
	json_t *r = json_object_get(out, "results");
	assert_int_equal(json_array_size(r), 5);
	assert_true(tds_json_bool(json_array_get(r, 0), "applied", false));
	assert_false(tds_json_bool(json_array_get(r, 1), "applied", true)); /* the same version again */
	assert_int_equal(tds_json_int(json_array_get(r, 2), "status", 0), 400);
	assert_string_equal(tds_json_str(json_object_get(json_array_get(r, 2), "error"), "code", ""), "invalid_entry");
	assert_int_equal(tds_json_int(json_array_get(r, 3), "status", 0), 422);
	assert_int_equal(tds_json_int(json_array_get(r, 4), "status", 0), 400);
	json_decref(out);
	json_decref(body);
	static const char *const BAD[] = {"{}", "{\"entries\":[]}", "{\"entries\":{}}", "{\"entries\":[],\"x\":1}"};
	for (size_t i = 0; i < 4; i++) {
		body = J(BAD[i]);
		expect(tds_catalog_entries_receive(F->cat, &NODE_TAX, ORG_TAX, body, &out), TDS_EINVAL, NULL);
		json_decref(body);
	}
	body = J("{\"entries\":[]}");
	expect(tds_catalog_entries_receive(F->cat, &NODE_TAX, NULL, body, &out), TDS_EPERM, "no_organisation");
	tds_catalog_set_operator(F->cat, false);
	expect(tds_catalog_entries_receive(F->cat, &NODE_TAX, ORG_TAX, body, &out), TDS_EUNPROC, "not_operator");
	json_decref(body);
}


/* The outbox rows as a JSON array of entries, oldest first. */
static json_t *outbox(void)
{
	sqlite3 *db = tds_store_conn(F->store);
	sqlite3_stmt *st;
	ok(tds_store_prepare(db, "SELECT entry FROM catalog_outbox ORDER BY seq", &st));
	json_t *a = json_array();
	while (sqlite3_step(st) == SQLITE_ROW)
		json_array_append_new(a, J((const char *)sqlite3_column_text(st, 0)));
	sqlite3_finalize(st);
	return a;
}

static void test_resource_outbox(void **state)
{
	(void)state;
	tds_catalog_set_operator(F->cat, false); /* a connector: entries wait in the outbox */
	static const char CSV[] = "地区,年份,参保人数\n杭州,2024,120\n宁波,2024,80\n";
	static const tds_ledger_actor PROV = {.org = "org_01JTAXAAAAAAAAAAAAAAAAAAAA", .account = "acc_01JTAXAAAAAAAAAAAAAAAAAAAA"};
	static const tds_ledger_actor REV = {.org = ORG_OP, .account = "acc_01JREVAAAAAAAAAAAAAAAAAAAA"};
	tds_source_new sn = {.org_id = ORG_TAX, .name = "社保参保", .kind = "csv", .content = CSV, .content_len = strlen(CSV)};
	json_t *out, *in;
	ok(tds_catalog_source_create(F->cat, &PROV, &sn, &out));
	char src[TDS_ID_MAX], res[TDS_ID_MAX];
	snprintf(src, sizeof src, "%s", tds_json_str(out, "id", ""));
	json_decref(out);
	ok(tds_catalog_source_import(F->cat, &PROV, ORG_TAX, src, NULL, NULL, &out));
	json_decref(out);
	char body[512];
	snprintf(body, sizeof body, "{\"source_id\":\"%s\",\"name\":\"社保参保统计\",\"description\":\"各区参保人数\","
				    "\"update_frequency\":\"monthly\",\"domain\":\"social_security\",\"tags\":[\"社保\",\"统计\"]}", src);
	in = J(body);
	ok(tds_catalog_resource_create(F->cat, &PROV, ORG_TAX, in, &out));
	json_decref(in);
	snprintf(res, sizeof res, "%s", tds_json_str(out, "id", ""));
	json_decref(out);
	in = J("{\"decision\":\"approve\",\"legality\":\"compliant\",\"masking_adequate\":true,\"filing_status\":\"not_required\"}");
	ok(tds_catalog_resource_review(F->cat, &REV, res, in, &out));
	json_decref(in);
	assert_string_equal(tds_json_str(out, "status", ""), "approved");
	json_decref(out);
	json_t *rows = outbox();
	assert_int_equal(json_array_size(rows), 0); /* approved is not listed yet */
	json_decref(rows);
	/* publish: the entry */
	in = J("{\"scope\":\"space\"}");
	ok(tds_catalog_resource_publish(F->cat, &PROV, ORG_TAX, res, in, &out));
	json_decref(in);
	json_decref(out);
	/* publish again with a narrower scope: a higher version */
	in = J("{\"scope\":\"roles\",\"roles\":[\"consumer\"]}");
	ok(tds_catalog_resource_publish(F->cat, &PROV, ORG_TAX, res, in, &out));
	json_decref(in);
	json_decref(out);
	/* a metadata update that keeps it published */
	in = J("{\"description\":\"各区参保人数（月度）\"}");
	ok(tds_catalog_resource_update(F->cat, &PROV, ORG_TAX, res, in, &out));
	json_decref(in);
	assert_string_equal(tds_json_str(out, "status", ""), "published");
	json_decref(out);
	rows = outbox();
	assert_int_equal(json_array_size(rows), 3);
	json_t *e = json_array_get(rows, 0);
	assert_string_equal(tds_json_str(e, "kind", ""), "resource");
	assert_string_equal(tds_json_str(e, "id", ""), res);
	assert_int_equal(tds_json_int(e, "version", 0), 1);
	assert_string_equal(tds_json_str(e, "title", ""), "社保参保统计");
	assert_string_equal(tds_json_str(e, "grade", ""), "一般");
	assert_true(tds_json_str(e, "code", NULL) != NULL);
	assert_int_equal(json_array_size(json_object_get(e, "fields")), 3);
	assert_int_equal(tds_json_int(json_array_get(rows, 1), "version", 0), 2);
	assert_string_equal(tds_json_str(json_object_get(json_array_get(rows, 1), "scope"), "scope", ""), "roles");
	assert_string_equal(tds_json_str(json_array_get(rows, 2), "description", ""), "各区参保人数（月度）");
	/* what the connector sends is what the operator accepts, in order */
	bool applied;
	size_t i;
	json_array_foreach(rows, i, e) {
		ok(tds_catalog_entry_upsert(F->cat, &NODE_TAX, ORG_TAX, e, &applied));
		assert_true(applied);
	}
	json_decref(rows);
	char ids[64];
	tds_catalog_query q = {.q = "社保"};
	search_ids(&BANK, &q, ids, sizeof ids);
	assert_int_equal(strlen(ids), 1);
	tds_catalog_viewer dev = {.org = "org_01JDEVAAAAAAAAAAAAAAAAAAAA", .roles = TDS_ROLE_DEVELOPER};
	search_ids(&dev, &q, ids, sizeof ids);
	assert_string_equal(ids, ""); /* consumers only now */
	/* deregistration and its confirmation: withdrawals */
	in = J("{\"reason\":\"数据停止更新\"}");
	ok(tds_catalog_resource_deregister(F->cat, &PROV, ORG_TAX, res, in, &out));
	json_decref(in);
	json_decref(out);
	in = J("{\"copies_destroyed\":true}");
	ok(tds_catalog_resource_confirm_deregistration(F->cat, &REV, res, in, &out));
	json_decref(in);
	json_decref(out);
	rows = outbox();
	assert_int_equal(json_array_size(rows), 5);
	for (i = 3; i < 5; i++) {
		e = json_array_get(rows, i);
		assert_true(tds_json_bool(e, "withdrawn", false));
		assert_int_equal(tds_json_int(e, "version", 0), (json_int_t)i + 1);
		ok(tds_catalog_entry_upsert(F->cat, &NODE_TAX, ORG_TAX, e, &applied));
		assert_true(applied);
	}
	json_decref(rows);
	/* withdrawn twice, still readable as it was listed */
	ok(tds_catalog_entry_get(F->cat, res, &e));
	assert_true(tds_json_bool(e, "withdrawn", false));
	assert_int_equal(tds_json_int(e, "version", 0), 5);
	assert_string_equal(tds_json_str(e, "title", ""), "社保参保统计");
	json_decref(e);
	search_ids(&BANK, &q, ids, sizeof ids);
	assert_string_equal(ids, "");
	/* a failed step adds nothing: publishing a deregistered resource */
	in = J("{\"scope\":\"space\"}");
	expect(tds_catalog_resource_publish(F->cat, &PROV, ORG_TAX, res, in, &out), TDS_ECONFLICT, "invalid_state");
	json_decref(in);
	rows = outbox();
	assert_int_equal(json_array_size(rows), 5);
	json_decref(rows);
}


/* Listed products reach the operator the same way: what product.c puts in the outbox (list, delist,
 * list again at the same approved version) is accepted by the operator, in order, and leaves the
 * product listed. */
static void test_product_outbox(void **state)
{
	(void)state;
	tds_catalog_set_operator(F->cat, false); /* a connector: entries wait in the outbox */
	static const char CSV[] = "地区,年份,参保人数\n杭州,2024,120\n宁波,2024,80\n";
	static const tds_ledger_actor PROV = {.org = "org_01JTAXAAAAAAAAAAAAAAAAAAAA", .account = "acc_01JTAXAAAAAAAAAAAAAAAAAAAA"};
	static const tds_ledger_actor REV = {.org = ORG_OP, .account = "acc_01JREVAAAAAAAAAAAAAAAAAAAA"};
	tds_source_new sn = {.org_id = ORG_TAX, .name = "社保参保", .kind = "csv", .content = CSV, .content_len = strlen(CSV)};
	json_t *out, *in;
	char src[TDS_ID_MAX], res[TDS_ID_MAX], prd[TDS_ID_MAX], body[1024];
	ok(tds_catalog_source_create(F->cat, &PROV, &sn, &out));
	snprintf(src, sizeof src, "%s", tds_json_str(out, "id", ""));
	json_decref(out);
	ok(tds_catalog_source_import(F->cat, &PROV, ORG_TAX, src, NULL, NULL, &out));
	json_decref(out);
	snprintf(body, sizeof body, "{\"source_id\":\"%s\",\"name\":\"社保参保统计\"}", src);
	in = J(body);
	ok(tds_catalog_resource_create(F->cat, &PROV, ORG_TAX, in, &out));
	json_decref(in);
	snprintf(res, sizeof res, "%s", tds_json_str(out, "id", ""));
	json_decref(out);
	static const char APPROVE[] =
	    "{\"decision\":\"approve\",\"legality\":\"compliant\",\"masking_adequate\":true,\"filing_status\":\"not_required\"}";
	in = J(APPROVE);
	ok(tds_catalog_resource_review(F->cat, &REV, res, in, &out));
	json_decref(in);
	json_decref(out);
	snprintf(body, sizeof body,
		 "{\"resource_id\":\"%s\",\"name\":\"社保参保人数查询\",\"description\":\"按年份查询各区参保人数\",\"form\":\"api\","
		 "\"scenarios\":[\"信贷审批\"],\"industry\":\"I6510\",\"domain\":\"social_security\",\"tags\":[\"社保\"],"
		 "\"spec\":{\"mode\":\"wizard\",\"fields\":[\"地区\",\"参保人数\"],\"filters\":[{\"field\":\"年份\",\"op\":\"eq\"}],"
		 "\"limit\":100}}",
		 res);
	in = J(body);
	ok(tds_catalog_product_create(F->cat, &PROV, ORG_TAX, in, &out));
	json_decref(in);
	snprintf(prd, sizeof prd, "%s", tds_json_str(out, "id", ""));
	json_decref(out);
	in = J("{\"decision\":\"approve\"}");
	ok(tds_catalog_product_review(F->cat, &REV, prd, in, &out));
	json_decref(in);
	json_decref(out);
	in = J("{}");
	ok(tds_catalog_product_list_on(F->cat, &PROV, ORG_TAX, prd, in, &out));
	json_decref(out);
	ok(tds_catalog_product_delist(F->cat, &PROV, ORG_TAX, prd, in, &out));
	json_decref(out);
	ok(tds_catalog_product_list_on(F->cat, &PROV, ORG_TAX, prd, in, &out));
	json_decref(out);
	json_decref(in);
	json_t *rows = outbox(), *e;
	size_t i, n = 0;
	char ids[64];
	tds_catalog_query q = {.q = "参保人数", .kind = "product"};
	json_array_foreach(rows, i, e) {
		if (strcmp(tds_json_str(e, "kind", ""), "product"))
			continue;
		bool applied;
		ok(tds_catalog_entry_upsert(F->cat, &NODE_TAX, ORG_TAX, e, &applied));
		assert_true(applied);
		search_ids(&BANK, &q, ids, sizeof ids);
		assert_int_equal(strlen(ids), tds_json_bool(e, "withdrawn", false) ? 0 : 1);
		n++;
	}
	json_decref(rows);
	assert_int_equal(n, 3); /* listed, delisted, listed again */
	ok(tds_catalog_entry_get(F->cat, prd, &e));
	assert_false(tds_json_bool(e, "withdrawn", true));
	assert_string_equal(tds_json_str(e, "form", ""), "api");
	assert_int_equal(json_array_size(json_object_get(e, "fields")), 2);
	json_t *d = tds_catalog_entry_dcat(e, "tds://space.example.cn");
	assert_string_equal(tds_json_str(d, "@type", ""), "dcat:DataService");
	json_decref(d);
	json_decref(e);
}


static int add_bad_row_tx(sqlite3 *db, void *arg)
{
	(void)arg;
	json_t *e = J("{\"kind\":\"resource\",\"id\":\"res_01JRES00000000000000000055\",\"version\":1,\"title\":\"\","
		      "\"scope\":{\"scope\":\"space\"}}");
	int rc = cat_outbox_add_tx(F->cat, db, e);
	json_decref(e);
	return rc;
}

/* On the operator its own producers' entries go straight into its fused catalog, in the producer's
 * transaction; one it would refuse is recorded as failed and the producer's change stands. */
static void test_operator_local_entries(void **state)
{
	(void)state;
	static const char CSV[] = "地区,年份,参保人数\n杭州,2024,120\n";
	static const tds_ledger_actor ADMIN = {.account = "acc_01JADMAAAAAAAAAAAAAAAAAAAA"};
	static const tds_ledger_actor REV = {.org = ORG_OP, .account = "acc_01JREVAAAAAAAAAAAAAAAAAAAA"};
	tds_source_new sn = {.name = "社保参保", .kind = "csv", .content = CSV, .content_len = strlen(CSV)};
	json_t *out, *in;
	char src[TDS_ID_MAX], res[TDS_ID_MAX], body[512], ids[64];
	ok(tds_catalog_source_create(F->cat, &ADMIN, &sn, &out));
	snprintf(src, sizeof src, "%s", tds_json_str(out, "id", ""));
	json_decref(out);
	ok(tds_catalog_source_import(F->cat, &ADMIN, NULL, src, NULL, NULL, &out));
	json_decref(out);
	snprintf(body, sizeof body, "{\"source_id\":\"%s\",\"name\":\"中心节点社保数据\",\"tags\":[\"社保\"]}", src);
	in = J(body);
	ok(tds_catalog_resource_create(F->cat, &ADMIN, NULL, in, &out));
	json_decref(in);
	snprintf(res, sizeof res, "%s", tds_json_str(out, "id", ""));
	json_decref(out);
	in = J("{\"decision\":\"approve\",\"legality\":\"compliant\",\"masking_adequate\":true,\"filing_status\":\"not_required\"}");
	ok(tds_catalog_resource_review(F->cat, &REV, res, in, &out));
	json_decref(in);
	json_decref(out);
	in = J("{\"scope\":\"space\"}");
	ok(tds_catalog_resource_publish(F->cat, &ADMIN, NULL, res, in, &out));
	json_decref(in);
	json_decref(out);
	/* at once, owned by the node (the resource has no organisation) */
	tds_catalog_query q = {.q = "中心节点"};
	search_ids(&BANK, &q, ids, sizeof ids);
	assert_int_equal(strlen(ids), 1);
	json_t *e;
	ok(tds_catalog_entry_get(F->cat, res, &e));
	assert_string_equal(tds_json_str(e, "org_id", ""), "node_01JOPAAAAAAAAAAAAAAAAAAAAA");
	json_decref(e);
	/* nothing left to send */
	sqlite3 *db = tds_store_conn(F->store);
	sqlite3_stmt *st;
	ok(tds_store_prepare(db, "SELECT count(*) FROM catalog_outbox WHERE sent_at IS NULL", &st));
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int(st, 0), 0);
	sqlite3_finalize(st);
	/* deregistered: out of search at once */
	in = J("{\"reason\":\"停止\"}");
	ok(tds_catalog_resource_deregister(F->cat, &ADMIN, NULL, res, in, &out));
	json_decref(in);
	json_decref(out);
	search_ids(&BANK, &q, ids, sizeof ids);
	assert_string_equal(ids, "");
	/* an entry the catalog refuses: the row is failed, the transaction commits */
	ok(tds_store_tx(F->store, add_bad_row_tx, NULL));
	ok(tds_store_prepare(db, "SELECT failed_at IS NOT NULL, error FROM catalog_outbox"
				 " WHERE entry_id = 'res_01JRES00000000000000000055'", &st));
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int(st, 0), 1);
	assert_non_null(strstr((const char *)sqlite3_column_text(st, 1), "invalid_entry"));
	sqlite3_finalize(st);
	expect(tds_catalog_entry_get(F->cat, "res_01JRES00000000000000000055", &e), TDS_ENOTFOUND, "entry_not_found");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_upsert_versions, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_withdrawal, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_strict_validation, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_search, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_search_bad_input, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_scope_visibility, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_related, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_import_json, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_import_csv, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_dcat, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_receive, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_resource_outbox, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_product_outbox, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_operator_local_entries, fx_setup, fx_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
