/*
 * test_enforce.c — the connector's enforcement point (contract.h section 5): a tax bureau's connector
 * receives a filed contract from its operator's feed (countersignature checked), acknowledges it,
 * and decides the bank's requests: within the granted fields permitted, outside denied and counted;
 * the bank frozen at the contract's Nth violation (or at once for a prohibited action), unfrozen by
 * the operator's feed item; suspended, terminated and not-yet-active contracts refuse without
 * counting; counters survive a restart (snapshot and journal) and are exact under threads; tokens
 * are checked for revocation, audience and connector binding.
 */
#include "contract/enforcer.h"
#include "crypto/crypto.h"
#include "ledger/ledger.h"
#include "store/store.h"

#include <pthread.h>
#include <unistd.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define TAX "org_01JTAXTAXTAXTAXTAXTAXTAXTA"
#define BANK "org_01JBANKBANKBANKBANKBANKBAZ"
#define OP_NODE "node_01JQPERATQRQPERATQRQPERAZZ"
#define BANK_NODE "node_01JBANKNQDEBANKNQDEBANKNZZ"
#define BANK_ACC "acc_01JBANKACCBANKACCBANKACCBZ"

typedef struct fx {
	char dir[64];
	tds_store *store;
	tds_key *node_key, *op_key, *party_key;
	char *op_pem;
	uint8_t master[TDS_MASTER_KEY_LEN];
	tds_ledger *lg;
	tds_contract *ct;
	int64_t seq;
} fx;

static fx *F;

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

static void open_ct(const char *own_org)
{
	tds_contract_opts o = {.ledger = F->lg, .key = F->node_key, .node_id = "node_01JTAXNQDETAXNQDETAXNQDEZZ",
			       .suite = TDS_SUITE_GM, .is_operator = false};
	ok(tds_contract_open(F->store, &o, &F->ct));
	ok(ct_enforce_set_operator(F->ct, F->op_pem, OP_NODE, own_org));
}

/* A clean stop: what tds_contract_free does (flush, then free), made explicit. */
static void close_ct(void)
{
	ok(tds_contract_flush(F->ct, true));
	ct_enforce_free(F->ct);
	tds_contract_free(F->ct);
	F->ct = NULL;
}

static int fx_setup(void **state)
{
	(void)state;
	F = calloc(1, sizeof *F);
	strcpy(F->dir, "/tmp/tds-enforce-XXXXXX");
	if (!mkdtemp(F->dir))
		return -1;
	char p[128];
	snprintf(p, sizeof p, "%s/tds.db", F->dir);
	tds_buf pem = TDS_BUF_INIT;
	if (tds_store_open(p, &F->store) || tds_key_generate(TDS_SUITE_GM, &F->node_key) ||
	    tds_key_generate(TDS_SUITE_INTL, &F->op_key) || tds_key_generate(TDS_SUITE_GM, &F->party_key) ||
	    tds_random(F->master, sizeof F->master) || tds_key_public_pem(F->op_key, &pem))
		return -1;
	F->op_pem = tds_buf_steal(&pem);
	tds_ledger_opts lo = {.store = F->store, .suite = TDS_SUITE_GM, .origin = "tds.local/node_enforce_test",
			      .key = F->node_key, .master = F->master};
	if (tds_ledger_open(&lo, &F->lg))
		return -1;
	open_ct(TAX);
	return 0;
}

static int fx_teardown(void **state)
{
	(void)state;
	if (F->ct)
		close_ct();
	tds_ledger_free(F->lg);
	tds_store_close(F->store);
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf %s", F->dir);
	if (system(cmd) != 0)
		return -1;
	tds_key_free(F->node_key);
	tds_key_free(F->op_key);
	tds_key_free(F->party_key);
	free(F->op_pem);
	free(F);
	return 0;
}

/* ---- contracts as the operator would file them ---- */

static const char POLICY[] =
    "{\"uid\":\"%s/v%d\",\"permission\":[{\"action\":[\"read\",\"query\"],\"constraint\":["
    "{\"leftOperand\":\"count\",\"operator\":\"lteq\",\"rightOperand\":%d},"
    "{\"leftOperand\":\"purpose\",\"operator\":\"eq\",\"rightOperand\":\"credit-risk\"},"
    "{\"leftOperand\":\"field\",\"operator\":\"isAnyOf\",\"rightOperand\":[\"name\",\"tax_amount\",\"tax_grade\"]}]}],"
    "\"prohibition\":[{\"action\":[\"distribute\",\"export\",\"grantUse\"]}],\"obligation\":[{\"action\":\"log\"}]}";

static json_t *document(const char *id, int version, int count, int freeze_after, int64_t from_ms, int64_t to_ms)
{
	char pol[2048], from[TDS_TIME_MAX], to[TDS_TIME_MAX];
	snprintf(pol, sizeof pol, POLICY, id, version, count);
	json_t *policy;
	ok(tds_json_parse(pol, strlen(pol), &policy));
	tds_time_format(from_ms, from);
	tds_time_format(to_ms, to);
	return json_pack("{s:s, s:s, s:i, s:{s:s, s:i, s:s}, s:s, s:{s:s}, s:{s:s}, s:[], s:{s:s, s:s, s:i, s:s},"
			 " s:{s:s, s:s, s:s, s:s}, s:o, s:{s:s, s:s}, s:{s:i}}",
			 "type", "tds.contract/1", "id", id, "version", version, "template", "id",
			 "tpl_01JTPMTPMTPMTPMTPMTPMTPMTP", "version", 1, "form", "api", "order_id",
			 "ord_01JQRDQRDQRDQRDQRDQRDQRDQR", "provider", "org_id", TAX, "consumer", "org_id", BANK, "service",
			 "product", "id", "prd_01JPRDPRDPRDPRDPRDPRDPRDPR", "code", "P-TAX-1", "version", 1, "form", "api",
			 "clauses", "data_use_rules", "credit checks only", "security_duties", "keep it safe",
			 "performance_supervision", "the operator watches", "breach_handling", "freeze and report", "policy",
			 policy, "validity", "from", from, "to", to, "violation_policy", "freeze_after", freeze_after);
}

static char *b64(const tds_buf *b)
{
	tds_buf o = TDS_BUF_INIT;
	tds_b64_encode(b->data, b->len, &o);
	return tds_buf_steal(&o);
}

/* The body of a "filed" item: document, both parties' signatures, the operator's filing. spoil: 1 =
 * a countersignature over other bytes, 2 = the consumer's signature missing, 3 = the document
 * changed after filing, 4 = countersigned by another key. */
static json_t *filed_body(json_t *doc, int spoil)
{
	tds_buf canon = TDS_BUF_INIT, sig = TDS_BUF_INIT, hex = TDS_BUF_INIT;
	uint8_t h[TDS_HASH_LEN];
	ok(tds_json_canonical(doc, &canon));
	ok(tds_sign(F->party_key, canon.data, canon.len, &sig));
	char *s64 = b64(&sig);
	ok(tds_hash(TDS_SUITE_INTL, canon.data, canon.len, h));
	tds_hex_encode(h, sizeof h, &hex);
	char dh[128], number[TDS_CONTRACT_FILING_MAX], kid[TDS_KEY_ID_LEN + 1];
	snprintf(dh, sizeof dh, "sha256:%s", hex.data);
	ok(tds_contract_filing_format(2026, (uint32_t)++F->seq + 100, number));
	tds_key_id(F->op_key, kid);
	json_t *sigs = json_pack("[{s:s, s:s, s:s, s:s}]", "org_id", TAX, "key_id", "crt_01JTAXCRTTAXCRTTAXCRTTAXCZ", "alg",
				 "sm2-sm3", "signature", s64);
	if (spoil != 2)
		json_array_append_new(sigs, json_pack("{s:s, s:s, s:s, s:s}", "org_id", BANK, "key_id",
						      "crt_01JBANKCRTBANKCRTBANKCRTBZ", "alg", "sm2-sm3", "signature", s64));
	json_t *cs = json_pack("{s:s, s:O, s:s, s:s}", "document_hash", dh, "signatures", sigs, "number", number, "filed_at",
			       "2026-03-01T00:00:00.000Z");
	if (spoil == 1)
		json_object_set_new(cs, "number", json_string("HT-2026-999999-X"));
	tds_buf cb = TDS_BUF_INIT, csig = TDS_BUF_INIT;
	ok(tds_json_canonical(cs, &cb));
	tds_key *signer = F->op_key, *other = NULL;
	if (spoil == 4) {
		ok(tds_key_generate(TDS_SUITE_INTL, &other));
		signer = other;
	}
	ok(tds_sign(signer, cb.data, cb.len, &csig));
	char *c64 = b64(&csig);
	json_t *body = json_pack("{s:o, s:o, s:{s:s, s:s, s:s, s:{s:s, s:s, s:s}}}", "document", json_deep_copy(doc), "signatures", sigs,
				 "filing", "number", number, "filed_at", "2026-03-01T00:00:00.000Z", "document_hash", dh,
				 "countersignature", "key_id", kid, "alg", "ed25519", "signature", c64);
	if (spoil == 3)
		json_object_set_new(json_object_get(body, "document"), "order_id", json_string("ord_01JQTHERQTHERQTHERQTHERQTZ"));
	tds_key_free(other);
	json_decref(cs);
	free(s64);
	free(c64);
	tds_buf_free(&canon);
	tds_buf_free(&sig);
	tds_buf_free(&hex);
	tds_buf_free(&cb);
	tds_buf_free(&csig);
	return body;
}

static int apply(const char *id, const char *kind, json_t *body)
{
	json_t *item = json_pack("{s:I, s:s, s:s, s:o, s:s}", "seq", (json_int_t)++F->seq, "contract_id", id, "kind", kind,
				 "body", body ? body : json_object(), "created_at", "2026-03-01T00:00:00.000Z");
	int64_t v;
	char hash[TDS_HASH_HEX_LEN + 16];
	int rc = ct_sync_apply(F->ct, item, &v, hash);
	json_decref(item);
	return rc;
}

static void file_contract(const char *id, int count, int freeze_after, bool activate)
{
	int64_t now = tds_now_ms();
	json_t *doc = document(id, 1, count, freeze_after, now - 3600000, now + 86400000);
	ok(apply(id, "filed", filed_body(doc, 0)));
	json_decref(doc);
	if (activate)
		ok(apply(id, "activated", json_pack("{s:i}", "version", 1)));
}

/* ---- deciding ---- */

static const char *const GOOD_FIELDS[] = {"name", "tax_amount"};
static const char *const BAD_FIELDS[] = {"name", "id_no"};

static tds_contract_request req_for(const char *id, const char *const *fields, size_t n)
{
	tds_contract_request r = {.contract_id = id, .account = BANK_ACC};
	r.policy.action = TDS_POLICY_ACTION_QUERY;
	r.policy.purpose = "credit-risk";
	r.policy.fields = fields;
	r.policy.n_fields = n;
	return r;
}

static const char *decide(const tds_contract_request *r, tds_contract_outcome *o)
{
	static tds_policy_decision d;
	ok(tds_contract_decide(F->ct, r, tds_now_ms(), &d, o));
	return d.code;
}

static int64_t rows(const char *sql)
{
	sqlite3 *db = tds_store_conn(F->store);
	sqlite3_stmt *st;
	ok(tds_store_prepare(db, sql, &st));
	int64_t n = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
	sqlite3_finalize(st);
	return n;
}

#define C1 "ctr_01JCQNTRACTQNECQNTRACTQNEZ"
#define C2 "ctr_01JCQNTRACTTWQCQNTRACTTWQZ"

static void test_violations_freeze_unfreeze(void **state)
{
	(void)state;
	tds_contract_outcome o;
	tds_contract_request good = req_for(C1, GOOD_FIELDS, 2), bad = req_for(C1, BAD_FIELDS, 2);
	file_contract(C1, 1000, 3, false);
	/* filed, not yet acknowledged by both: not in force, and no violation for it */
	assert_string_equal(decide(&good, &o), "contract_not_active");
	assert_int_equal(o.violations, 0);
	ok(apply(C1, "activated", json_pack("{s:i}", "version", 1)));
	assert_string_equal(decide(&good, &o), "permit");
	assert_string_equal(o.contract_id, C1);
	assert_int_equal(o.version, 1);
	/* a field not granted: denied, the 1st and 2nd violations */
	assert_string_equal(decide(&bad, &o), "field_not_granted");
	assert_int_equal(o.violations, 1);
	assert_false(o.frozen);
	assert_true(strncmp(o.violation_id, "vio_", 4) == 0);
	assert_string_equal(decide(&bad, &o), "field_not_granted");
	assert_int_equal(o.violations, 2);
	assert_false(o.frozen);
	assert_string_equal(decide(&good, &o), "permit"); /* N-1 violations: still in use */
	tds_contract_request wrong_purpose = good;
	wrong_purpose.policy.purpose = "marketing";
	assert_string_equal(decide(&wrong_purpose, &o), "purpose_not_allowed");
	assert_int_equal(o.violations, 3);
	assert_true(o.frozen); /* the Nth freezes */
	assert_string_equal(decide(&good, &o), "frozen");
	assert_true(o.frozen);
	assert_int_equal(o.violations, 3); /* refusals while frozen are not violations */
	assert_string_equal(decide(&bad, &o), "frozen");
	assert_int_equal(o.violations, 3);
	/* recorded, reported (outbox), evidenced */
	assert_int_equal(rows("SELECT count(*) FROM enforce_violations WHERE contract_id = '" C1 "'"), 3);
	assert_int_equal(rows("SELECT count(*) FROM enforce_violations WHERE froze = 1"), 1);
	assert_int_equal(rows("SELECT count(*) FROM enforce_outbox WHERE kind = 'violation'"), 3);
	assert_int_equal(rows("SELECT count(*) FROM enforce_outbox WHERE body LIKE '%\"frozen\":true%'"), 1);
	assert_int_equal(rows("SELECT count(*) FROM enforce_violations WHERE request LIKE '%id_no%'"), 2);
	json_t *list;
	ok(tds_contract_violation_list(F->ct, NULL, C1, 2, NULL, &list));
	assert_int_equal(json_array_size(json_object_get(list, "items")), 2);
	const char *cursor = tds_json_str(list, "next_cursor", NULL);
	assert_non_null(cursor);
	json_t *rest;
	ok(tds_contract_violation_list(F->ct, BANK, C1, 2, cursor, &rest));
	assert_int_equal(json_array_size(json_object_get(rest, "items")), 1);
	assert_true(tds_json_bool(json_array_get(json_object_get(rest, "items"), 0), "froze", false));
	assert_true(json_is_null(json_object_get(rest, "next_cursor")) || !json_object_get(rest, "next_cursor"));
	json_decref(list);
	json_decref(rest);
	expect(tds_contract_violation_list(F->ct, NULL, C1, 2, "../x", &list), TDS_EINVAL, "invalid_cursor");
	/* the operator unfreezes (feed item): permitted again, count starts over */
	ok(apply(C1, "unfrozen", json_pack("{s:s}", "reason", "reviewed: a misconfigured client")));
	assert_string_equal(decide(&good, &o), "permit");
	assert_false(o.frozen);
	assert_int_equal(o.violations, 0);
	/* the local view */
	json_t *local;
	ok(tds_contract_local_get(F->ct, C1, &local));
	assert_string_equal(tds_json_str(local, "state", ""), "active");
	assert_string_equal(tds_json_str(local, "role", ""), "provider");
	assert_false(tds_json_bool(local, "frozen", true));
	assert_int_equal(tds_json_int(local, "freeze_after", 0), 3);
	assert_int_equal(tds_json_int(json_array_get(json_object_get(json_object_get(local, "counters"), "counters"), 0), "used", 0), 3);
	json_decref(local);
	expect(tds_contract_local_get(F->ct, C2, &local), TDS_ENOTFOUND, "contract_not_found");
}

static void test_serious_violation_freezes_at_once(void **state)
{
	(void)state;
	tds_contract_outcome o;
	file_contract(C1, 1000, 3, true);
	tds_contract_request r = req_for(C1, GOOD_FIELDS, 2);
	r.policy.action = TDS_POLICY_ACTION_DISTRIBUTE;
	assert_string_equal(decide(&r, &o), "prohibited");
	assert_int_equal(o.violations, 1);
	assert_true(o.frozen);
	/* a bulk pattern (more than 16 fields) on another contract */
	file_contract(C2, 1000, 3, true);
	const char *many[20];
	for (int i = 0; i < 20; i++)
		many[i] = "name";
	many[19] = "id_no";
	tds_contract_request bulk = req_for(C2, many, 20);
	assert_string_equal(decide(&bulk, &o), "field_not_granted");
	assert_true(o.frozen);
	assert_int_equal(rows("SELECT count(*) FROM enforce_violations WHERE serious = 1"), 2);
}

static void test_contract_states(void **state)
{
	(void)state;
	tds_contract_outcome o;
	tds_contract_request good = req_for(C1, GOOD_FIELDS, 2);
	file_contract(C1, 1000, 3, true);
	assert_string_equal(decide(&good, &o), "permit");
	ok(apply(C1, "suspended", json_pack("{s:i, s:s}", "version", 1, "reason", "audit")));
	assert_string_equal(decide(&good, &o), "contract_suspended");
	ok(apply(C1, "resumed", json_pack("{s:i, s:s}", "version", 1, "reason", "audit done")));
	assert_string_equal(decide(&good, &o), "permit");
	ok(apply(C1, "terminated", json_pack("{s:i, s:s}", "version", 1, "reason", "breach")));
	assert_string_equal(decide(&good, &o), "contract_terminated");
	assert_int_equal(o.violations, 0);
	/* expired by its own validity, without waiting for the operator's item */
	int64_t now = tds_now_ms();
	json_t *doc = document(C2, 1, 10, 3, now - 7200000, now - 1000);
	ok(apply(C2, "filed", filed_body(doc, 0)));
	json_decref(doc);
	ok(apply(C2, "activated", NULL));
	tds_contract_request late = req_for(C2, GOOD_FIELDS, 2);
	assert_string_equal(decide(&late, &o), "contract_expired");
	ok(apply(C2, "expired", NULL));
	assert_string_equal(decide(&late, &o), "contract_expired");
	assert_int_equal(rows("SELECT count(*) FROM enforce_violations"), 0);
	/* an item applied twice (a resent page) changes nothing the second time */
	json_t *item = json_pack("{s:I, s:s, s:s, s:{}}", "seq", (json_int_t)F->seq, "contract_id", C1, "kind", "activated", "body");
	int64_t v;
	char h[TDS_HASH_HEX_LEN + 16];
	ok(ct_sync_apply(F->ct, item, &v, h));
	json_decref(item);
	assert_string_equal(decide(&good, &o), "contract_terminated");
	/* unknown contract; a malformed request */
	tds_contract_request none = req_for(C2, GOOD_FIELDS, 2);
	none.contract_id = "ctr_01JNQNENQNENQNENQNENQNENQN";
	tds_policy_decision d;
	expect(tds_contract_decide(F->ct, &none, tds_now_ms(), &d, &o), TDS_ENOTFOUND, "contract_not_found");
	none.contract_id = "x";
	expect(tds_contract_decide(F->ct, &none, tds_now_ms(), &d, &o), TDS_EINVAL, "invalid_request");
	assert_false(d.permit);
}

static void test_feed_items_refused(void **state)
{
	(void)state;
	int64_t now = tds_now_ms();
	json_t *doc = document(C1, 1, 10, 3, now - 1000, now + 86400000);
	expect(apply(C1, "filed", filed_body(doc, 1)), TDS_ECRYPTO, "countersignature_invalid");
	expect(apply(C1, "filed", filed_body(doc, 4)), TDS_ECRYPTO, "countersignature_invalid");
	expect(apply(C1, "filed", filed_body(doc, 2)), TDS_EUNPROC, "invalid_feed_item");
	expect(apply(C1, "filed", filed_body(doc, 3)), TDS_ECRYPTO, "document_hash_mismatch");
	expect(apply(C2, "filed", filed_body(doc, 0)), TDS_EUNPROC, "invalid_feed_item"); /* another contract's document */
	expect(apply(C1, "token_revoked", json_pack("{s:s}", "token_id", "nope")), TDS_EUNPROC, "invalid_feed_item");
	/* none of it was stored, and the position did not move */
	assert_int_equal(rows("SELECT count(*) FROM enforce_contracts"), 0);
	assert_int_equal(rows("SELECT count(*) FROM enforce_feed_state"), 0);
	/* a malformed item */
	json_t *item = json_pack("{s:s, s:s, s:s}", "seq", "1", "contract_id", C1, "kind", "filed");
	int64_t v;
	char h[TDS_HASH_HEX_LEN + 16];
	expect(ct_sync_apply(F->ct, item, &v, h), TDS_EUNPROC, "invalid_feed_item");
	json_decref(item);
	/* a contract between two others is refused (this node is neither party) */
	close_ct();
	open_ct("org_01JQTHERQTHERQTHERQTHERQTZ");
	expect(apply(C1, "filed", filed_body(doc, 0)), TDS_EUNPROC, "invalid_feed_item");
	/* the consumer's connector stores it, but does not enforce it */
	close_ct();
	open_ct(BANK);
	ok(apply(C1, "filed", filed_body(doc, 0)));
	ok(apply(C1, "activated", NULL));
	tds_contract_request r = req_for(C1, GOOD_FIELDS, 2);
	tds_policy_decision d;
	tds_contract_outcome o;
	expect(tds_contract_decide(F->ct, &r, tds_now_ms(), &d, &o), TDS_EPERM, "not_the_provider");
	json_decref(doc);
}

static void test_counters_survive_restart(void **state)
{
	(void)state;
	tds_contract_outcome o;
	tds_contract_request good = req_for(C1, GOOD_FIELDS, 2);
	file_contract(C1, 5, 10, true);
	for (int i = 0; i < 3; i++)
		assert_string_equal(decide(&good, &o), "permit");
	/* a clean stop and start: the snapshot */
	close_ct();
	open_ct(TAX);
	assert_string_equal(decide(&good, &o), "permit"); /* the 4th use */
	/* the journal without a snapshot: a second instance reads what the first flushed */
	ok(tds_contract_flush(F->ct, false));
	assert_true(rows("SELECT count(*) FROM enforce_journal") >= 1);
	tds_contract *first = F->ct;
	open_ct(TAX);
	tds_contract *second = F->ct;
	assert_string_equal(decide(&good, &o), "permit"); /* the 5th use, counted from snapshot + journal */
	assert_string_equal(decide(&good, &o), "count_exhausted");
	F->ct = first;
	close_ct();
	F->ct = second;
	close_ct();
	open_ct(TAX);
	assert_string_equal(decide(&good, &o), "count_exhausted"); /* the N+1th, after a restart */
	assert_int_equal(o.violations, 2);
	/* an amendment with a larger count keeps what was used */
	int64_t now = tds_now_ms();
	json_t *doc = document(C1, 2, 7, 10, now - 3600000, now + 86400000);
	ok(apply(C1, "amended", filed_body(doc, 0)));
	json_decref(doc);
	assert_string_equal(decide(&good, &o), "permit"); /* 6 of 7 */
	assert_int_equal(o.version, 2);
	assert_string_equal(decide(&good, &o), "permit"); /* 7 of 7 */
	assert_string_equal(decide(&good, &o), "count_exhausted");
	/* an older version arriving late is skipped, and the feed moves on */
	doc = document(C1, 1, 5, 10, now - 3600000, now + 86400000);
	ok(apply(C1, "filed", filed_body(doc, 0)));
	json_decref(doc);
	assert_string_equal(decide(&good, &o), "count_exhausted");
	assert_int_equal(o.version, 2);
	assert_int_equal(rows("SELECT after FROM enforce_feed_state"), F->seq);
	close_ct();
	open_ct(TAX);
	assert_string_equal(decide(&good, &o), "count_exhausted");
	json_t *local;
	ok(tds_contract_local_get(F->ct, C1, &local));
	assert_int_equal(tds_json_int(local, "version", 0), 2);
	assert_int_equal(tds_json_int(local, "acked_version", -1), 0); /* nobody acknowledged in a unit test */
	json_decref(local);
}

/* An amendment that adds a constraint before the count (here the validity window's lower bound)
 * moves the count's clause from constraint[0] to constraint[1]: what was used still counts. */
static void test_amendment_moving_the_count(void **state)
{
	(void)state;
	tds_contract_outcome o;
	tds_contract_request good = req_for(C1, GOOD_FIELDS, 2);
	file_contract(C1, 5, 10, true);
	for (int i = 0; i < 3; i++)
		assert_string_equal(decide(&good, &o), "permit");
	int64_t now = tds_now_ms();
	json_t *doc = document(C1, 2, 5, 10, now - 3600000, now + 86400000);
	char from[TDS_TIME_MAX];
	tds_time_format(now - 3600000, from);
	json_t *cons = json_object_get(json_array_get(json_object_get(json_object_get(doc, "policy"), "permission"), 0),
				       "constraint");
	json_array_insert_new(cons, 0, json_pack("{s:s, s:s, s:s}", "leftOperand", "dateTime", "operator", "gteq",
						 "rightOperand", from));
	ok(apply(C1, "amended", filed_body(doc, 0)));
	json_decref(doc);
	assert_string_equal(decide(&good, &o), "permit"); /* 4 of 5 */
	assert_int_equal(o.version, 2);
	assert_string_equal(decide(&good, &o), "permit"); /* 5 of 5 */
	assert_string_equal(decide(&good, &o), "count_exhausted");
	/* and so after a restart */
	close_ct();
	open_ct(TAX);
	assert_string_equal(decide(&good, &o), "count_exhausted");
}

#define THREADS 8
#define PER_THREAD 200
#define LIMIT 1000

static void *hammer(void *arg)
{
	int *permits = arg;
	tds_contract_request good = req_for(C1, GOOD_FIELDS, 2);
	for (int i = 0; i < PER_THREAD; i++) {
		tds_policy_decision d;
		tds_contract_outcome o;
		if (tds_contract_decide(F->ct, &good, tds_now_ms(), &d, &o) == 0 && d.permit)
			(*permits)++;
		if (i % 50 == 0)
			tds_contract_flush(F->ct, i % 100 == 0); /* flushes racing the charges */
	}
	return NULL;
}

static void test_exact_under_threads(void **state)
{
	(void)state;
	file_contract(C1, LIMIT, 100, true);
	pthread_t t[THREADS];
	int permits[THREADS] = {0};
	for (int i = 0; i < THREADS; i++)
		pthread_create(&t[i], NULL, hammer, &permits[i]);
	for (int i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	int total = 0;
	for (int i = 0; i < THREADS; i++)
		total += permits[i];
	assert_int_equal(total, LIMIT);
	/* the denials past the limit were violations, counted exactly; the 100th froze */
	assert_int_equal(rows("SELECT violations FROM enforce_contracts"), 100);
	assert_int_equal(rows("SELECT count(*) FROM enforce_violations"), 100);
	assert_int_equal(rows("SELECT count(*) FROM enforce_violations WHERE froze = 1"), 1);
	close_ct();
	open_ct(TAX);
	json_t *local;
	ok(tds_contract_local_get(F->ct, C1, &local));
	assert_int_equal(tds_json_int(json_array_get(json_object_get(json_object_get(local, "counters"), "counters"), 0), "used", 0),
			 LIMIT);
	assert_true(tds_json_bool(local, "frozen", false));
	json_decref(local);
}

static char *token_for(const char *contract, const char *audience, const char *connector, int64_t exp_ms)
{
	tds_token_claims c = {0};
	tds_id_new("tok", c.id);
	strcpy(c.issuer, OP_NODE);
	strcpy(c.org, BANK);
	if (connector)
		strcpy(c.connector, connector);
	else
		strcpy(c.account, BANK_ACC);
	strcpy(c.audience, audience);
	strcpy(c.contract_id, contract);
	c.version = 1;
	c.n_products = 1;
	strcpy(c.products[0], "prd_01JPRDPRDPRDPRDPRDPRDPRDPR");
	c.actions = 1u << TDS_POLICY_ACTION_QUERY;
	strcpy(c.mode, "api");
	c.limit_count = c.limit_per_minute = c.limit_per_day = -1;
	c.issued_at_ms = c.not_before_ms = tds_now_ms() - 1000;
	c.expires_at_ms = exp_ms ? exp_ms : tds_now_ms() + TDS_CONTRACT_TOKEN_TTL_MS;
	tds_buf b = TDS_BUF_INIT;
	ok(tds_contract_token_issue(&c, F->op_key, &b));
	return tds_buf_steal(&b);
}

static void test_tokens(void **state)
{
	(void)state;
	file_contract(C1, 1000, 3, true);
	tds_contract_outcome o;
	tds_policy_decision d;
	char *t = token_for(C1, TAX, NULL, 0);
	tds_contract_request r = req_for(NULL, GOOD_FIELDS, 2);
	r.account = NULL;
	r.token = t;
	r.token_len = strlen(t);
	assert_string_equal(decide(&r, &o), "permit");
	assert_string_equal(decide(&r, &o), "permit"); /* from the cache */
	/* an action the token does not carry (read) is a violation, like the policy's own refusals */
	r.policy.action = TDS_POLICY_ACTION_READ;
	assert_string_equal(decide(&r, &o), "action_not_granted");
	assert_int_equal(o.violations, 1);
	r.policy.action = TDS_POLICY_ACTION_QUERY;
	/* revoked through the feed: refused at once, also from the cache */
	tds_token_claims c;
	ok(tds_contract_token_verify(t, strlen(t), F->op_key, tds_now_ms(), &c));
	ok(apply(C1, "token_revoked", json_pack("{s:s, s:s}", "token_id", c.id, "reason", "lost laptop")));
	expect(tds_contract_decide(F->ct, &r, tds_now_ms(), &d, &o), TDS_EAUTH, "token_revoked");
	/* and after a restart (the list is stored) */
	close_ct();
	open_ct(TAX);
	expect(tds_contract_decide(F->ct, &r, tds_now_ms(), &d, &o), TDS_EAUTH, "token_revoked");
	free(t);
	/* another provider's token */
	t = token_for(C1, "org_01JQTHERQTHERQTHERQTHERQTZ", NULL, 0);
	r.token = t;
	r.token_len = strlen(t);
	expect(tds_contract_decide(F->ct, &r, tds_now_ms(), &d, &o), TDS_EPERM, "token_wrong_audience");
	free(t);
	/* bound to the bank's connector: only its signed call */
	t = token_for(C1, TAX, BANK_NODE, 0);
	r.token = t;
	r.token_len = strlen(t);
	expect(tds_contract_decide(F->ct, &r, tds_now_ms(), &d, &o), TDS_EPERM, "token_wrong_connector");
	r.caller_node = BANK_NODE;
	assert_string_equal(decide(&r, &o), "permit");
	/* the cached token expires on time: decide later than its end */
	expect(tds_contract_decide(F->ct, &r, tds_now_ms() + 2 * TDS_CONTRACT_TOKEN_TTL_MS, &d, &o), TDS_EAUTH, "token_expired");
	free(t);
	/* a token for a contract this connector does not hold */
	t = token_for(C2, TAX, NULL, 0);
	r.token = t;
	r.token_len = strlen(t);
	expect(tds_contract_decide(F->ct, &r, tds_now_ms(), &d, &o), TDS_ENOTFOUND, "contract_not_found");
	free(t);
	/* garbage */
	r.token = "tds1.x";
	r.token_len = 6;
	expect(tds_contract_decide(F->ct, &r, tds_now_ms(), &d, &o), TDS_EINVAL, "token_malformed");
	assert_false(d.permit);
	/* revocations of tokens long past any expiry are forgotten, recent ones kept */
	ok(apply(C1, "token_revoked", json_pack("{s:s}", "token_id", "tok_00000000000000000000000000")));
	struct ct_enforcer *e = ct_enf(F->ct);
	assert_true(ct_enf_revoked(e, "tok_00000000000000000000000000"));
	ok(ct_enf_prune_revoked(F->ct, e, tds_now_ms()));
	assert_false(ct_enf_revoked(e, "tok_00000000000000000000000000"));
	assert_true(ct_enf_revoked(e, c.id));
	/* new tokens from one address are verified at most TDS_CONTRACT_TOKEN_VERIFY_PER_MIN a minute;
	   a token already verified (in the cache) is not limited, another address neither */
	r.caller_node = NULL;
	r.peer = "192.0.2.7";
	char *last = NULL;
	int verified = 0;
	for (; verified < TDS_CONTRACT_TOKEN_VERIFY_PER_MIN; verified++) {
		free(last);
		last = token_for(C1, "org_01JQTHERQTHERQTHERQTHERQTZ", NULL, 0); /* valid, another audience */
		r.token = last;
		r.token_len = strlen(last);
		if (tds_contract_decide(F->ct, &r, tds_now_ms(), &d, &o) != TDS_EPERM)
			break;
	}
	assert_int_equal(verified, TDS_CONTRACT_TOKEN_VERIFY_PER_MIN);
	t = token_for(C1, TAX, NULL, 0);
	r.token = t;
	r.token_len = strlen(t);
	expect(tds_contract_decide(F->ct, &r, tds_now_ms(), &d, &o), TDS_ELIMIT, "token_verify_limited");
	r.token = last; /* cached: answered without a verification */
	r.token_len = strlen(last);
	expect(tds_contract_decide(F->ct, &r, tds_now_ms(), &d, &o), TDS_EPERM, "token_wrong_audience");
	r.peer = "192.0.2.8";
	r.token = t;
	r.token_len = strlen(t);
	assert_string_equal(decide(&r, &o), "permit");
	free(t);
	free(last);
	/* before the operator's key is known, nothing verifies */
	tds_contract_opts opts = {.ledger = F->lg, .key = F->node_key, .node_id = "node_01JTAXNQDETAXNQDETAXNQDEZZ",
				  .suite = TDS_SUITE_GM};
	tds_contract *fresh;
	ok(tds_contract_open(F->store, &opts, &fresh));
	t = token_for(C1, TAX, NULL, 0);
	r.token = t;
	r.token_len = strlen(t);
	expect(tds_contract_decide(fresh, &r, tds_now_ms(), &d, &o), TDS_EUNPROC, "not_enrolled");
	free(t);
	ok(tds_contract_flush(fresh, true));
	ct_enforce_free(fresh);
	tds_contract_free(fresh);
}

/* The operator's key changes while a new token is being verified under the old one: the token
 * must not be remembered as verified once the new key is in place (else it would be accepted from
 * the cache until it expires, signed by a key the connector no longer trusts). */
typedef struct rotate_race {
	pthread_barrier_t go;
	tds_contract_request r;
	const char *pem;
} rotate_race;

static void *race_decide(void *arg)
{
	rotate_race *x = arg;
	tds_policy_decision d;
	tds_contract_outcome o;
	pthread_barrier_wait(&x->go);
	tds_contract_decide(F->ct, &x->r, tds_now_ms(), &d, &o);
	return NULL;
}

static void *race_rotate(void *arg)
{
	rotate_race *x = arg;
	pthread_barrier_wait(&x->go);
	usleep(20);
	ok(ct_enforce_set_operator(F->ct, x->pem, OP_NODE, TAX));
	return NULL;
}

static void test_key_rotation_during_verification(void **state)
{
	(void)state;
	file_contract(C1, 100000, 100, true);
	tds_key *keys[2] = {F->op_key, NULL};
	tds_buf pem = TDS_BUF_INIT;
	ok(tds_key_generate(TDS_SUITE_INTL, &keys[1]));
	ok(tds_key_public_pem(keys[1], &pem));
	char *pems[2] = {F->op_pem, tds_buf_steal(&pem)};
	for (int i = 0; i < 60; i++) {
		int cur = i % 2, next = !cur;
		ok(ct_enforce_set_operator(F->ct, pems[cur], OP_NODE, TAX));
		F->op_key = keys[cur];
		char *t = token_for(C1, TAX, NULL, 0);
		rotate_race x = {.r = req_for(NULL, GOOD_FIELDS, 2), .pem = pems[next]};
		x.r.account = NULL;
		x.r.token = t;
		x.r.token_len = strlen(t);
		pthread_barrier_init(&x.go, NULL, 2);
		pthread_t a, b;
		pthread_create(&a, NULL, race_decide, &x);
		pthread_create(&b, NULL, race_rotate, &x);
		pthread_join(a, NULL);
		pthread_join(b, NULL);
		pthread_barrier_destroy(&x.go);
		/* the key in place is the other one: this token is no longer good */
		tds_policy_decision d;
		tds_contract_outcome o;
		int rc = tds_contract_decide(F->ct, &x.r, tds_now_ms(), &d, &o);
		if (rc != TDS_EAUTH || strcmp(tds_error_name(), "token_unknown_key"))
			fail_msg("round %d: a token of the replaced key was answered %d %s (%s)", i, rc, rc ? tds_error_name() : d.code,
				 rc ? tds_error_message() : "decided");
		free(t);
	}
	F->op_key = keys[0];
	tds_key_free(keys[1]);
	free(pems[1]);
}

/* A sync pass against an operator that does not answer: the key file is read, the journal flushed,
 * nothing else changes, and the pass says why it stopped. */
static void test_sync_offline(void **state)
{
	(void)state;
	file_contract(C1, 100, 3, true);
	tds_contract_outcome o;
	tds_contract_request good = req_for(C1, GOOD_FIELDS, 2);
	assert_string_equal(decide(&good, &o), "permit");
	assert_int_equal(rows("SELECT count(*) FROM enforce_journal"), 0);
	char pub[128];
	snprintf(pub, sizeof pub, "%s/operator.pub", F->dir);
	ok(tds_file_write_atomic(pub, F->op_pem, strlen(F->op_pem), 0644));
	tds_contract_link link = {.operator_url = "http://127.0.0.1:1", .operator_pub_path = pub,
				  .operator_node_id = OP_NODE, .own_serial = "crt_01JTAXCRTTAXCRTTAXCRTTAXCR",
				  .own_org_id = TAX, .own_node_id = "node_01JTAXNQDETAXNQDETAXNQDEZ"};
	json_t *report = NULL;
	expect(tds_contract_sync(F->ct, &link, &report), TDS_EIO, "operator_unreachable");
	assert_null(report);
	assert_int_equal(rows("SELECT count(*) FROM enforce_journal"), 1); /* flushed before asking */
	assert_string_equal(decide(&good, &o), "permit");
	/* a missing key file, an incomplete link, the operator node */
	link.operator_pub_path = "/nonexistent/operator.pub";
	expect(tds_contract_sync(F->ct, &link, NULL), TDS_ENOTFOUND, NULL);
	link.own_serial = NULL;
	expect(tds_contract_sync(F->ct, &link, NULL), TDS_EINVAL, "invalid_argument");
	tds_contract_opts opts = {.ledger = F->lg, .key = F->node_key, .node_id = OP_NODE, .suite = TDS_SUITE_GM,
				  .is_operator = true};
	tds_contract *op;
	ok(tds_contract_open(F->store, &opts, &op));
	expect(tds_contract_sync(op, &link, NULL), TDS_ECONFLICT, "not_a_connector");
	tds_policy_decision d;
	expect(tds_contract_decide(op, &good, tds_now_ms(), &d, &o), TDS_ECONFLICT, "not_a_connector");
	tds_contract_free(op);
}

/* The journal on its own: latest value per slot, taken once, put back only when nothing newer came. */
static void test_journal(void **state)
{
	(void)state;
	static const char pol[] = "{\"uid\":\"p\",\"permission\":[{\"action\":\"query\",\"constraint\":["
				  "{\"leftOperand\":\"count\",\"operator\":\"lteq\",\"rightOperand\":100},"
				  "{\"leftOperand\":\"rate\",\"operator\":\"lteq\",\"rightOperand\":100,\"unit\":\"day\"}]}]}";
	tds_policy *p;
	ok(tds_policy_compile(pol, strlen(pol), &p));
	tds_policy_counters *c = tds_policy_counters_new(p);
	tds_contract_journal *j = tds_contract_journal_new(c, tds_policy_counter_slots(p));
	assert_non_null(j);
	tds_policy_request rq = {.action = TDS_POLICY_ACTION_QUERY};
	tds_policy_decision d;
	tds_policy_slot_state st[4];
	bool charged = false;
	assert_int_equal(tds_contract_journal_take(j, st, &charged), 0);
	assert_false(charged);
	for (int i = 0; i < 3; i++)
		ok(tds_policy_decide(p, c, &rq, tds_now_ms(), &d));
	assert_int_equal(tds_contract_journal_take(j, st, &charged), 2);
	assert_true(charged);
	assert_int_equal(st[0].slot, 0);
	assert_int_equal(st[0].used, 3);
	assert_int_equal(st[1].kind, TDS_POLICY_SLOT_RATE);
	assert_int_equal(st[1].used, 3);
	assert_int_equal(tds_contract_journal_take(j, st, &charged), 0); /* taken once */
	assert_false(charged);
	/* a failed store: put back, taken again */
	tds_contract_journal_putback(j, st, 2, true);
	assert_int_equal(tds_contract_journal_take(j, st, &charged), 2);
	assert_true(charged);
	assert_int_equal(st[0].used, 3);
	/* a newer charge wins over a put-back older record */
	ok(tds_policy_decide(p, c, &rq, tds_now_ms(), &d));
	tds_contract_journal_putback(j, st, 2, false);
	assert_int_equal(tds_contract_journal_take(j, st, NULL), 2);
	assert_int_equal(st[0].used, 4);
	/* a denied request charges nothing and journals nothing */
	rq.action = TDS_POLICY_ACTION_EXPORT;
	ok(tds_policy_decide(p, c, &rq, tds_now_ms(), &d));
	assert_false(d.permit);
	assert_int_equal(tds_contract_journal_take(j, st, NULL), 0);
	tds_contract_journal_free(j, c);
	tds_policy_counters_free(c);
	tds_policy_free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_violations_freeze_unfreeze, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_serious_violation_freezes_at_once, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_contract_states, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_feed_items_refused, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_counters_survive_restart, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_amendment_moving_the_count, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_exact_under_threads, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_tokens, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_key_rotation_during_verification, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_sync_offline, fx_setup, fx_teardown),
	    cmocka_unit_test(test_journal),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
