/*
 * test_delivery.c — the delivery module without nodes: the masking rules of contract duties (the
 * white paper's resident ID 6+4 and mobile 3+4 defaults applied through the anon module), product
 * field masks, CSV cells, and the module on a real store, ledger, catalog and contract handle:
 * migrations, an empty list, and every refusal that comes before a decision (no token, a junk
 * token, malformed ids, bad receipts, the operator). The whole path with real products and
 * contracts runs in tests/integration/test_deliveries.c.
 */
#include "delivery/internal.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

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

/* rule applied to value gives want (want NULL: the rule is refused with code/name). */
static void masks(const char *rule, const char *value, const char *want)
{
	tds_anon_mask m;
	ok(tds_delivery_mask_rule_parse(rule, &m));
	tds_buf b = TDS_BUF_INIT;
	ok(tds_anon_mask_apply(&m, value, strlen(value), &b));
	if (strcmp(b.data ? b.data : "", want))
		fail_msg("%s(%s) = %s, wanted %s", rule, value, b.data ? b.data : "", want);
	tds_buf_free(&b);
}

static void test_mask_rules(void **state)
{
	(void)state;
	/* the white paper's defaults */
	masks("keep_first6_last4", "11010119900307299X", "110101********299X");
	masks("resident_id", "430102197606046442", "430102********6442");
	masks("keep_first3_last4", "13812345678", "138****5678");
	masks("mobile", "15011112222", "150****2222");
	/* one end only, named methods */
	masks("keep_first1", "张三丰", "张**");
	masks("keep_last2", "abcdef", "****ef");
	masks("suppress", "anything", "*");
	masks("none", "as is", "as is");
	masks("email", "zhang@example.com", "z***@example.com");
	masks("year", "2026-10-15", "2026");
	masks("ip", "10.1.2.3", "10.1.*.*");
	/* refused rules */
	static const char *const bad[] = {"",          "keep",          "keep_",          "keep_first",    "keep_first0",
					  "keep_first65", "keep_first6_", "keep_last4_first6", "keep_first06",  "keep_firstx",
					  "keep_first6_last4x", "KEEP_first6", "unknown",     "keep_first0_last0"};
	for (size_t i = 0; i < TDS_ARRAY_LEN(bad); i++) {
		tds_anon_mask m;
		int rc = tds_delivery_mask_rule_parse(bad[i], &m);
		if (rc != TDS_EINVAL || strcmp(tds_error_name(), "invalid_mask_rule"))
			fail_msg("rule \"%s\": %d %s, wanted invalid_mask_rule", bad[i], rc, tds_error_name());
	}
	tds_anon_mask m;
	expect(tds_delivery_mask_rule_parse(NULL, &m), TDS_EINVAL, "invalid_mask_rule");
	ok(tds_delivery_mask_rule_parse("hash", &m));
	assert_int_equal(m.method, TDS_ANON_MASK_HASH);
	/* product field masks, as the catalog stores them */
	json_t *j = json_pack("{s:s, s:i, s:i}", "method", "keep", "first", 6, "last", 4);
	ok(dlv_mask_from_json(j, &m));
	assert_int_equal(m.method, TDS_ANON_MASK_KEEP);
	assert_int_equal(m.first, 6);
	assert_int_equal(m.last, 4);
	json_decref(j);
	j = json_pack("{s:s}", "method", "suppress");
	ok(dlv_mask_from_json(j, &m));
	assert_int_equal(m.method, TDS_ANON_MASK_SUPPRESS);
	json_decref(j);
	j = json_pack("{s:s}", "method", "hash");
	ok(dlv_mask_from_json(j, &m));
	assert_int_equal(m.method, TDS_ANON_MASK_HASH);
	json_decref(j);
}

/* Keyed pseudonyms: stable within a contract, unlinkable across contracts and keys. */
static void test_pseudonyms(void **state)
{
	(void)state;
	static const uint8_t k1[32] = {1, 2, 3}, k2[32] = {9, 9, 9};
	const char *c1 = "ctr_01JAAAAAAAAAAAAAAAAAAAAAAA", *c2 = "ctr_01JBBBBBBBBBBBBBBBBBBBBBBB", *id = "11010119900307299X";
	tds_buf a = TDS_BUF_INIT, b = TDS_BUF_INIT, c = TDS_BUF_INIT, d = TDS_BUF_INIT, e = TDS_BUF_INIT, f = TDS_BUF_INIT;
	ok(tds_delivery_pseudonym(TDS_SUITE_GM, k1, c1, id, strlen(id), &a));
	ok(tds_delivery_pseudonym(TDS_SUITE_GM, k1, c1, id, strlen(id), &b));
	ok(tds_delivery_pseudonym(TDS_SUITE_GM, k1, c2, id, strlen(id), &c));
	ok(tds_delivery_pseudonym(TDS_SUITE_GM, k2, c1, id, strlen(id), &d));
	ok(tds_delivery_pseudonym(TDS_SUITE_GM, k1, c1, "430102197606046442", 18, &e));
	ok(tds_delivery_pseudonym(TDS_SUITE_INTL, k1, c1, id, strlen(id), &f));
	assert_int_equal(a.len, 32);
	assert_int_equal(strspn(a.data, "0123456789abcdef"), 32);
	assert_string_equal(a.data, b.data);    /* the same person, the same contract */
	assert_string_not_equal(a.data, c.data); /* another contract */
	assert_string_not_equal(a.data, d.data); /* another provider key */
	assert_string_not_equal(a.data, e.data); /* another person */
	assert_string_not_equal(a.data, f.data); /* another suite's hash */
	assert_null(strstr(a.data, "299X"));
	tds_buf g = TDS_BUF_INIT;
	expect(tds_delivery_pseudonym(TDS_SUITE_GM, k1, "ctr_bad", id, strlen(id), &g), TDS_EINVAL, "invalid_contract");
	tds_buf *all[] = {&a, &b, &c, &d, &e, &f, &g};
	for (size_t i = 0; i < TDS_ARRAY_LEN(all); i++)
		tds_buf_free(all[i]);
}

static void test_csv_cells(void **state)
{
	(void)state;
	static const struct {
		const char *in, *out;
	} cases[] = {{"plain", "plain"},     {"a,b", "\"a,b\""},     {"say \"hi\"", "\"say \"\"hi\"\"\""},
		     {"two\nlines", "\"two\nlines\""}, {"cr\r", "\"cr\r\""}, {"", ""}, {"上海某贸易有限公司", "上海某贸易有限公司"}};
	for (size_t i = 0; i < TDS_ARRAY_LEN(cases); i++) {
		tds_buf b = TDS_BUF_INIT;
		ok(tds_buf_reserve(&b, 1));
		ok(dlv_csv_cell(&b, cases[i].in, strlen(cases[i].in)));
		assert_string_equal(b.data, cases[i].out);
		tds_buf_free(&b);
	}
}

/* ---- the module on a real store ---- */

typedef struct fx {
	char dir[64];
	tds_store *store;
	tds_key *key;
	uint8_t master[TDS_MASTER_KEY_LEN];
	tds_ledger *lg;
	tds_catalog *cat;
	tds_contract *ct;
	tds_delivery *d, *op;
} fx;

static fx *F;

static int fx_setup(void **state)
{
	(void)state;
	F = calloc(1, sizeof *F);
	strcpy(F->dir, "/tmp/tds-delivery-XXXXXX");
	if (!mkdtemp(F->dir))
		return -1;
	char p[128];
	snprintf(p, sizeof p, "%s/tds.db", F->dir);
	if (tds_store_open(p, &F->store) || tds_key_generate(TDS_SUITE_GM, &F->key) || tds_random(F->master, sizeof F->master))
		return -1;
	tds_ledger_opts lo = {.store = F->store, .suite = TDS_SUITE_GM, .origin = "tds.local/node_delivery_test",
			      .key = F->key, .master = F->master};
	tds_catalog_opts co = {.ledger = NULL, .node_id = "node_01JTAXNQDETAXNQDETAXNQDEZZ", .dir = F->dir,
			       .suite = TDS_SUITE_GM};
	tds_contract_opts cto = {.key = F->key, .node_id = "node_01JTAXNQDETAXNQDETAXNQDEZZ", .suite = TDS_SUITE_GM};
	if (tds_ledger_open(&lo, &F->lg))
		return -1;
	co.ledger = F->lg;
	cto.ledger = F->lg;
	if (tds_catalog_open(F->store, &co, &F->cat) || tds_contract_open(F->store, &cto, &F->ct))
		return -1;
	tds_delivery_opts o = {.ledger = F->lg, .catalog = F->cat, .contract = F->ct, .node_id = "node_01JTAXNQDETAXNQDETAXNQDEZZ",
			       .suite = TDS_SUITE_GM};
	if (tds_delivery_open(F->store, &o, &F->d))
		return -1;
	o.is_operator = true;
	if (tds_delivery_open(F->store, &o, &F->op)) /* migrations run once */
		return -1;
	return 0;
}

static int fx_teardown(void **state)
{
	(void)state;
	tds_delivery_free(F->d);
	tds_delivery_free(F->op);
	tds_contract_free(F->ct);
	tds_catalog_free(F->cat);
	tds_ledger_free(F->lg);
	tds_store_close(F->store);
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf %s", F->dir);
	int rc = system(cmd);
	tds_key_free(F->key);
	free(F);
	return rc == 0 ? 0 : -1;
}

static void test_open_and_list(void **state)
{
	(void)state;
	int v = 0;
	ok(tds_store_version(F->store, "delivery", &v));
	assert_int_equal(v, 1);
	json_t *out = NULL;
	ok(tds_delivery_list(F->d, NULL, NULL, 10, NULL, &out));
	assert_int_equal(json_array_size(json_object_get(out, "items")), 0);
	assert_true(json_is_null(json_object_get(out, "next_cursor")));
	json_decref(out);
	tds_delivery *x = NULL;
	tds_delivery_opts bad = {.ledger = F->lg};
	expect(tds_delivery_open(F->store, &bad, &x), TDS_EINVAL, "invalid_options");
	assert_null(x);
}

/* Metering events are read in seq order after a seq (rows written as a delivery writes them). */
static void test_metering_read(void **state)
{
	(void)state;
	sqlite3 *db = tds_store_conn(F->store);
	assert_non_null(db);
	for (int i = 0; i < 3; i++) {
		char sql[1024];
		snprintf(sql, sizeof sql,
			 "INSERT INTO delivery_records (id, contract_id, contract_version, provider_org, consumer_org, product_id, "
			 "product_version, form, format, rows, bytes, content_hash, cursor, next_cursor, delivered_at, "
			 "evidence_index) VALUES ('dlv_01JAAAAAAAAAAAAAAAAAAAAAA%d', 'ctr_01JAAAAAAAAAAAAAAAAAAAAAAA', 2, "
			 "'org_01JTAXTAXTAXTAXTAXTAXTAXTA', 'org_01JBANKBANKBANKBANKBANKBAZ', 'prd_01JAAAAAAAAAAAAAAAAAAAAAAA', 1, "
			 "'api', 'json', %d, %d, 'sm3:00', '', '', 1767225600000, %d);"
			 "INSERT INTO delivery_metering (delivery_id, contract_id, consumer_org, product_id, calls, rows, bytes, "
			 "duration_us, at) VALUES ('dlv_01JAAAAAAAAAAAAAAAAAAAAAA%d', 'ctr_01JAAAAAAAAAAAAAAAAAAAAAAA', "
			 "'org_01JBANKBANKBANKBANKBANKBAZ', 'prd_01JAAAAAAAAAAAAAAAAAAAAAAA', 1, %d, %d, 100, 1767225600000)",
			 i, i + 1, 100 * (i + 1), i, i, i + 1, 100 * (i + 1));
		ok(tds_store_exec(db, sql));
	}
	json_t *out = NULL;
	ok(tds_delivery_metering(F->d, 0, 2, &out));
	json_t *items = json_object_get(out, "items");
	assert_int_equal(json_array_size(items), 2);
	assert_int_equal(tds_json_int(json_array_get(items, 1), "rows", 0), 2);
	assert_int_equal(tds_json_int(json_array_get(items, 1), "bytes", 0), 200);
	assert_string_equal(tds_json_str(json_array_get(items, 0), "at", ""), "2026-01-01T00:00:00.000Z");
	int64_t last = tds_json_int(out, "last_seq", 0);
	json_decref(out);
	ok(tds_delivery_metering(F->d, last, 10, &out));
	assert_int_equal(json_array_size(json_object_get(out, "items")), 1);
	last = tds_json_int(out, "last_seq", 0);
	json_decref(out);
	ok(tds_delivery_metering(F->d, last, 10, &out));
	assert_int_equal(json_array_size(json_object_get(out, "items")), 0);
	assert_int_equal(tds_json_int(out, "last_seq", 0), last);
	json_decref(out);
	expect(tds_delivery_metering(F->d, 0, 0, &out), TDS_EINVAL, "invalid_limit");
	expect(tds_delivery_metering(F->d, 0, 1001, &out), TDS_EINVAL, "invalid_limit");
	/* the listing pages by id */
	ok(tds_delivery_list(F->d, NULL, NULL, 2, NULL, &out));
	assert_int_equal(json_array_size(json_object_get(out, "items")), 2);
	char cursor[64];
	snprintf(cursor, sizeof cursor, "%s", tds_json_str(out, "next_cursor", ""));
	json_decref(out);
	ok(tds_delivery_list(F->d, "org_01JBANKBANKBANKBANKBANKBAZ", "ctr_01JAAAAAAAAAAAAAAAAAAAAAAA", 2, cursor, &out));
	assert_int_equal(json_array_size(json_object_get(out, "items")), 1);
	assert_true(json_is_null(json_object_get(out, "next_cursor")));
	json_decref(out);
	ok(tds_delivery_list(F->d, "org_01JOTHEROTHEROTHEROTHEROZ", NULL, 10, NULL, &out));
	assert_int_equal(json_array_size(json_object_get(out, "items")), 0);
	json_decref(out);
}

static void test_refusals_before_a_decision(void **state)
{
	(void)state;
	const char *fields[] = {"name"};
	tds_delivery_request rq = {.product_id = "prd_01JAAAAAAAAAAAAAAAAAAAAAAA", .fields = fields, .n_fields = 1};
	tds_delivery_caller none = {.peer = "127.0.0.1"};
	tds_delivery_result r;
	expect(tds_delivery_query(F->d, &none, &rq, &r), TDS_EAUTH, "token_required");
	expect(tds_delivery_export(F->d, &none, &rq, &r), TDS_EAUTH, "token_required");
	/* a junk token is refused by the verifier's structure checks (no operator key needed first) */
	tds_delivery_caller junk = {.token = "tds1.x.y", .token_len = 8, .peer = "127.0.0.1"};
	int rc = tds_delivery_query(F->d, &junk, &rq, &r);
	assert_true(rc == TDS_EINVAL || rc == TDS_EAUTH || rc == TDS_EUNPROC);
	/* malformed product ids are unknown products */
	rq.product_id = "../../etc/passwd";
	expect(tds_delivery_query(F->d, &junk, &rq, &r), TDS_ENOTFOUND, "product_not_found");
	expect(tds_delivery_export(F->d, &junk, &rq, &r), TDS_ENOTFOUND, "product_not_found");
	/* the operator delivers nothing */
	rq.product_id = "prd_01JAAAAAAAAAAAAAAAAAAAAAAA";
	expect(tds_delivery_query(F->op, &junk, &rq, &r), TDS_ECONFLICT, "not_a_connector");
	/* receipts: ids, hashes, callers */
	json_t *out = NULL;
	tds_delivery_caller node = {.caller_org = "org_01JBANKBANKBANKBANKBANKBAZ", .caller_node = "node_01JBANKNQDEBANKNQDEBANKNZZ"};
	char good[80];
	snprintf(good, sizeof good, "sm3:%064d", 0);
	expect(tds_delivery_receipt(F->d, &node, "dlv_bad", good, &out), TDS_ENOTFOUND, "delivery_not_found");
	expect(tds_delivery_receipt(F->d, &node, "dlv_01JAAAAAAAAAAAAAAAAAAAAAAA", good, &out), TDS_ENOTFOUND,
	       "delivery_not_found");
	static const char *const hashes[] = {"", "sm3:", "sha256:0000000000000000000000000000000000000000000000000000000000000000",
					     "sm3:000000000000000000000000000000000000000000000000000000000000000",
					     "sm3:000000000000000000000000000000000000000000000000000000000000000G",
					     "sm3:0000000000000000000000000000000000000000000000000000000000000000A",
					     "SM3:0000000000000000000000000000000000000000000000000000000000000000"};
	for (size_t i = 0; i < TDS_ARRAY_LEN(hashes); i++)
		expect(tds_delivery_receipt(F->d, &node, "dlv_01JAAAAAAAAAAAAAAAAAAAAAAA", hashes[i], &out), TDS_EINVAL,
		       "invalid_content_hash");
	expect(tds_delivery_receipt(F->d, &node, "dlv_01JAAAAAAAAAAAAAAAAAAAAAAA", NULL, &out), TDS_EINVAL,
	       "invalid_content_hash");
	expect(tds_delivery_receipt(F->d, &none, "dlv_01JAAAAAAAAAAAAAAAAAAAAAAA", good, &out), TDS_EAUTH, "token_required");
	expect(tds_delivery_receipt(F->op, &node, "dlv_01JAAAAAAAAAAAAAAAAAAAAAAA", good, &out), TDS_ECONFLICT,
	       "not_a_connector");
	assert_null(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_mask_rules),
	    cmocka_unit_test(test_csv_cells),
	    cmocka_unit_test(test_pseudonyms),
	    cmocka_unit_test_setup_teardown(test_open_and_list, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_refusals_before_a_decision, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_metering_read, fx_setup, fx_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
