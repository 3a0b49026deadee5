/*
 * test_contract.c — digital contracts (数字合约) on the operator, on a real store, ledger and fused
 * catalog: a bank orders a tax bureau's API product, the operator drafts the contract from the API
 * template, the bank narrows the fields in a negotiation round (diffed), every check of the engine
 * fails on its own example, both parties accept and sign with their connectors' keys (signatures
 * over other bytes, of another organisation, with unknown or revoked keys refused), the operator
 * countersigns and files it with a checked filing number, the feed carries it to the parties only,
 * both acknowledge and it becomes active; suspension, resumption, termination, expiry and an
 * amendment (临时扩容) follow; wrong-state transitions are conflicts and unknown members are 400.
 */
#include "contract/contract.h"
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
#include <pthread.h>

#define ORG_TAX "org_01JTAXAAAAAAAAAAAAAAAAAAAA"
#define ORG_BANK "org_01JBANKAAAAAAAAAAAAAAAAAAA"
#define ORG_HR "org_01JHRAAAAAAAAAAAAAAAAAAAAA"
#define ORG_SVC "org_01JSVCAAAAAAAAAAAAAAAAAAAA"
#define PRD_TAX "prd_01JTAXPRDAAAAAAAAAAAAAAAAA"
#define PRD_HIDDEN "prd_01JHJDDENAAAAAAAAAAAAAAAAA"
#define PRD_HIDDEN_GONE "prd_01JHJDDENGAAAAAAAAAAAAAAAA" /* org-scoped, then withdrawn */
#define PRD_GONE "prd_01JGNEAAAAAAAAAAAAAAAAAAAA"
#define PRD_BANK "prd_01JBANKPRDAAAAAAAAAAAAAAAA"
#define RES_TAX "res_01JTAXRESAAAAAAAAAAAAAAAAA"
#define CRT_TAX "crt_01JTAXCRTAAAAAAAAAAAAAAAAA"
#define CRT_BANK "crt_01JBANKCRTAAAAAAAAAAAAAAAA"
#define CRT_HR "crt_01JHRCRTAAAAAAAAAAAAAAAAAA"
#define CRT_REVOKED "crt_01JREVCRTAAAAAAAAAAAAAAAAA"
#define CRT_INTL "crt_01JNTMCRTAAAAAAAAAAAAAAAAA"

static const tds_ledger_actor OPERATOR = {.account = "acc_01JPPERATPRAAAAAAAAAAAAAAA"};
static const tds_ledger_actor BANK = {.org = ORG_BANK, .account = "acc_01JBANKACCAAAAAAAAAAAAAAAA"};
static const tds_ledger_actor TAX = {.org = ORG_TAX, .account = "acc_01JTAXACCAAAAAAAAAAAAAAAAA"};
static const tds_ledger_actor SVC = {.org = ORG_SVC, .account = "acc_01JSVCACCAAAAAAAAAAAAAAAAA"};
static const tds_ledger_actor HR = {.org = ORG_HR, .account = "acc_01JHRACCAAAAAAAAAAAAAAAAAA"};
static const tds_ledger_actor TAX_NODE = {.org = ORG_TAX, .node = "node_01JTAXNPDEAAAAAAAAAAAAAAAA"};
static const tds_ledger_actor BANK_NODE = {.org = ORG_BANK, .node = "node_01JBANKNPDEAAAAAAAAAAAAAAA"};

typedef struct fx {
	char dir[64];
	tds_store *store;
	tds_key *key; /* the operator's */
	tds_key *tax, *bank, *hr, *revoked, *intl;
	uint8_t master[TDS_MASTER_KEY_LEN];
	tds_ledger *lg;
	tds_catalog *cat;
	tds_contract *ct;
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

static json_t *J(const char *fmt, ...)
{
	char buf[16384];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	json_error_t e;
	json_t *j = json_loads(buf, JSON_DECODE_ANY, &e);
	if (!j)
		fail_msg("bad test JSON %s: %s", buf, e.text);
	return j;
}

/* The node's certificate registry, as tds_nodekeys_resolve would answer on the operator. */
static int resolve(void *ctx, const char *serial, tds_arena *arena, const tds_key **key, tds_principal *p)
{
	(void)ctx;
	(void)arena;
	memset(p, 0, sizeof *p);
	struct {
		const char *serial, *org;
		tds_key *key;
	} certs[] = {{CRT_TAX, ORG_TAX, F->tax}, {CRT_BANK, ORG_BANK, F->bank}, {CRT_HR, ORG_HR, F->hr},
		     {CRT_INTL, ORG_BANK, F->intl}};
	if (!strcmp(serial, CRT_REVOKED))
		return tds_error_set(TDS_EAUTH, "certificate_revoked", "the certificate %s was revoked", serial);
	for (size_t i = 0; i < TDS_ARRAY_LEN(certs); i++)
		if (!strcmp(serial, certs[i].serial)) {
			*key = certs[i].key;
			p->org_id = certs[i].org;
			p->session_id = certs[i].serial;
			return 0;
		}
	return tds_error_set(TDS_ENOTFOUND, "unknown_key", "no such certificate");
}

static void entry(const char *org, const char *json)
{
	json_t *e = J("%s", json);
	bool applied = false;
	tds_ledger_actor a = {.org = org, .node = "node_01JCPNNAAAAAAAAAAAAAAAAAAA"};
	ok(tds_catalog_entry_upsert(F->cat, &a, org, e, &applied));
	assert_true(applied);
	json_decref(e);
}

static int fx_setup(void **state)
{
	(void)state;
	F = calloc(1, sizeof *F);
	strcpy(F->dir, "/tmp/tds-contract-XXXXXX");
	if (!mkdtemp(F->dir))
		return -1;
	char p[128];
	snprintf(p, sizeof p, "%s/tds.db", F->dir);
	if (tds_store_open(p, &F->store) || tds_key_generate(TDS_SUITE_GM, &F->key) || tds_key_generate(TDS_SUITE_GM, &F->tax) ||
	    tds_key_generate(TDS_SUITE_GM, &F->bank) || tds_key_generate(TDS_SUITE_GM, &F->hr) ||
	    tds_key_generate(TDS_SUITE_GM, &F->revoked) || tds_key_generate(TDS_SUITE_INTL, &F->intl) ||
	    tds_random(F->master, sizeof F->master))
		return -1;
	tds_ledger_opts lo = {.store = F->store, .suite = TDS_SUITE_GM, .origin = "tds.local/node_contract_test", .key = F->key,
			      .master = F->master};
	tds_catalog_opts co = {.node_id = "node_01JPPAAAAAAAAAAAAAAAAAAAAA", .dir = F->dir, .seal_key = F->master,
			       .suite = TDS_SUITE_GM, .code_base = "tds://space.example.cn"};
	if (tds_ledger_open(&lo, &F->lg))
		return -1;
	co.ledger = F->lg;
	if (tds_catalog_open(F->store, &co, &F->cat))
		return -1;
	tds_catalog_set_operator(F->cat, true);
	tds_contract_opts o = {.ledger = F->lg, .catalog = F->cat, .key = F->key, .node_id = "node_01JPPAAAAAAAAAAAAAAAAAAAAA",
			       .suite = TDS_SUITE_GM, .is_operator = true, .node = {.resolve = resolve}};
	if (tds_contract_open(F->store, &o, &F->ct))
		return -1;
	entry(ORG_TAX, "{\"kind\":\"product\",\"id\":\"" PRD_TAX "\",\"code\":\"tds://space.example.cn/prd/00000001X\","
		       "\"version\":3,\"title\":\"企业纳税信息核验\",\"form\":\"api\",\"scope\":{\"scope\":\"space\"},"
		       "\"fields\":[{\"name\":\"name\"},{\"name\":\"tax_amount\"},{\"name\":\"id_no\"},{\"name\":\"uscc\"}],"
		       "\"scenarios\":[\"credit-risk\",\"anti-fraud\"]}");
	entry(ORG_TAX, "{\"kind\":\"product\",\"id\":\"" PRD_HIDDEN "\",\"version\":1,\"title\":\"内部\",\"form\":\"api\","
		       "\"scope\":{\"scope\":\"orgs\",\"orgs\":[\"" ORG_HR "\"]},\"fields\":[{\"name\":\"a\"}]}");
	entry(ORG_TAX, "{\"kind\":\"product\",\"id\":\"" PRD_HIDDEN_GONE "\",\"version\":1,\"title\":\"内部\",\"form\":\"api\","
		       "\"scope\":{\"scope\":\"orgs\",\"orgs\":[\"" ORG_HR "\"]},\"fields\":[{\"name\":\"a\"}]}");
	entry(ORG_TAX, "{\"kind\":\"product\",\"id\":\"" PRD_HIDDEN_GONE "\",\"version\":2,\"withdrawn\":true}");
	entry(ORG_TAX, "{\"kind\":\"product\",\"id\":\"" PRD_GONE "\",\"version\":1,\"title\":\"下架\",\"form\":\"api\","
		       "\"scope\":{\"scope\":\"space\"}}");
	entry(ORG_TAX, "{\"kind\":\"product\",\"id\":\"" PRD_GONE "\",\"version\":2,\"withdrawn\":true}");
	entry(ORG_BANK, "{\"kind\":\"product\",\"id\":\"" PRD_BANK "\",\"version\":1,\"title\":\"银行\",\"form\":\"dataset\","
			"\"scope\":{\"scope\":\"space\"},\"fields\":[{\"name\":\"x\"}]}");
	entry(ORG_TAX, "{\"kind\":\"resource\",\"id\":\"" RES_TAX "\",\"version\":1,\"title\":\"资源\","
		       "\"scope\":{\"scope\":\"space\"}}");
	return 0;
}

static int fx_teardown(void **state)
{
	(void)state;
	tds_contract_free(F->ct);
	tds_catalog_free(F->cat);
	tds_ledger_free(F->lg);
	tds_store_close(F->store);
	tds_key_free(F->key);
	tds_key_free(F->tax);
	tds_key_free(F->bank);
	tds_key_free(F->hr);
	tds_key_free(F->revoked);
	tds_key_free(F->intl);
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf %s", F->dir);
	int rc = system(cmd);
	free(F);
	return rc == 0 ? 0 : -1;
}

/* ---- helpers ---- */

#define CONSUMER_ROLES (TDS_ROLE_CONSUMER)

static const char ORDER_BODY[] = "{\"product_id\":\"" PRD_TAX "\",\"actions\":[\"query\"],"
				 "\"fields\":[\"name\",\"tax_amount\",\"id_no\"],\"purposes\":[\"credit-risk\"],"
				 "\"validity\":{\"from\":\"2026-12-01T00:00:00Z\",\"to\":\"2027-12-01T00:00:00Z\"},"
				 "\"count\":10000,\"rate\":{\"limit\":60,\"unit\":\"minute\"},\"environment\":[\"consumer-domain\"]}";

static int order_rc(const char *body, json_t **out)
{
	json_t *in = J("%s", body);
	int rc = tds_contract_order_create(F->ct, &BANK, ORG_BANK, CONSUMER_ROLES, in, out);
	json_decref(in);
	return rc;
}

/* Orders ORDER_BODY (or body) and drafts it; *cid the contract id. */
static void drafted(const char *body, char cid[TDS_ID_MAX])
{
	json_t *o, *c, *in = json_object();
	ok(order_rc(body ? body : ORDER_BODY, &o));
	ok(tds_contract_draft(F->ct, &OPERATOR, tds_json_str(o, "id", ""), in, &c));
	snprintf(cid, TDS_ID_MAX, "%s", tds_json_str(c, "id", ""));
	json_decref(in);
	json_decref(o);
	json_decref(c);
}

static json_t *version(const char *cid, int64_t v)
{
	json_t *out;
	ok(tds_contract_version_get(F->ct, NULL, cid, v, &out));
	return out;
}

static json_t *contract(const char *cid)
{
	json_t *out;
	ok(tds_contract_get(F->ct, NULL, cid, &out));
	return out;
}

static const char *state_of(const char *cid)
{
	static char s[16];
	json_t *c = contract(cid);
	snprintf(s, sizeof s, "%s", tds_json_str(c, "state", ""));
	json_decref(c);
	return s;
}

static int accept_rc(const tds_ledger_actor *who, const char *cid, int64_t v)
{
	json_t *ver = version(cid, v), *out = NULL;
	json_t *in = json_pack("{s:I, s:s}", "version", (json_int_t)v, "document_hash", tds_json_str(ver, "document_hash", ""));
	int rc = tds_contract_accept(F->ct, who, who->org, cid, in, &out);
	json_decref(in);
	json_decref(ver);
	json_decref(out);
	return rc;
}

/* A signature by `key` over the canonical bytes of doc, submitted as org with key_id by caller_org. */
static int sign_doc(const json_t *doc, const tds_key *key, const char *alg, const char *key_id, const char *org,
		    const char *caller_org, const char *cid, json_t **out)
{
	tds_buf canon = TDS_BUF_INIT, sig = TDS_BUF_INIT, b64 = TDS_BUF_INIT;
	ok(tds_json_canonical(doc, &canon));
	ok(tds_sign(key, canon.data, canon.len, &sig));
	ok(tds_b64_encode(sig.data, sig.len, &b64));
	json_t *in = json_pack("{s:s, s:s, s:s, s:s}", "org_id", org, "key_id", key_id, "alg", alg, "signature", b64.data);
	const tds_ledger_actor *a = !strcmp(caller_org, ORG_TAX) ? &TAX_NODE : &BANK_NODE;
	json_t *dummy = NULL;
	int rc = tds_contract_sign_submit(F->ct, a, caller_org, cid, in, out ? out : &dummy);
	json_decref(dummy);
	json_decref(in);
	tds_buf_free(&canon);
	tds_buf_free(&sig);
	tds_buf_free(&b64);
	return rc;
}

static int sign_rc(const char *cid, int64_t v, const tds_key *key, const char *key_id, const char *org, json_t **out)
{
	json_t *ver = version(cid, v);
	int rc = sign_doc(json_object_get(ver, "document"), key, "sm2-sm3", key_id, org, org, cid, out);
	json_decref(ver);
	return rc;
}

/* Draft accepted and signed by both: filed. */
static void filed(const char *body, char cid[TDS_ID_MAX])
{
	drafted(body, cid);
	ok(accept_rc(&TAX, cid, 1));
	ok(accept_rc(&BANK, cid, 1));
	ok(sign_rc(cid, 1, F->tax, CRT_TAX, ORG_TAX, NULL));
	ok(sign_rc(cid, 1, F->bank, CRT_BANK, ORG_BANK, NULL));
	assert_string_equal(state_of(cid), "filed");
}

static int ack_rc(const char *org, const char *cid, int64_t v, const char *hash, json_t **out)
{
	json_t *in = json_pack("{s:I, s:s}", "version", (json_int_t)v, "document_hash", hash), *dummy = NULL;
	const tds_ledger_actor *a = !strcmp(org, ORG_TAX) ? &TAX_NODE : &BANK_NODE;
	int rc = tds_contract_ack(F->ct, a, org, cid, in, out ? out : &dummy);
	json_decref(dummy);
	json_decref(in);
	return rc;
}

static void active(const char *body, char cid[TDS_ID_MAX])
{
	filed(body, cid);
	json_t *c = contract(cid);
	const char *h = tds_json_str(c, "document_hash", "");
	ok(ack_rc(ORG_TAX, cid, 1, h, NULL));
	ok(ack_rc(ORG_BANK, cid, 1, h, NULL));
	json_decref(c);
	assert_string_equal(state_of(cid), "active");
}

/* Feed items for org after seq (kinds joined with ','), for contract cid only when given. */
static void feed_kinds(const char *org, const char *cid, char *out, size_t cap)
{
	json_t *f;
	ok(tds_contract_feed(F->ct, org, 0, 500, &f));
	size_t i, o = 0;
	json_t *it;
	out[0] = 0;
	json_array_foreach(json_object_get(f, "items"), i, it) {
		if (cid && strcmp(tds_json_str(it, "contract_id", ""), cid))
			continue;
		o += (size_t)snprintf(out + o, cap - o, "%s%s", o ? "," : "", tds_json_str(it, "kind", ""));
	}
	json_decref(f);
}

/* Number of ledger entries of a type. */
static int evidence(const char *type)
{
	uint64_t n = 0;
	ok(tds_ledger_size(F->lg, &n, NULL));
	int count = 0;
	for (uint64_t i = 0; i < n; i++) {
		tds_ledger_entry e;
		json_t *j;
		ok(tds_ledger_entry_get(F->lg, i, &e));
		ok(tds_ledger_entry_json(&e, &j));
		count += !strcmp(tds_json_str(j, "type", ""), type);
		json_decref(j);
		tds_ledger_entry_release(&e);
	}
	return count;
}

/* Proposes (as who) a patch given as JSON text against the latest version; *v the new version. */
static int propose_rc(const tds_ledger_actor *who, const char *cid, const char *patch_kind, const char *json, json_t **out)
{
	json_t *c = contract(cid);
	json_t *in = J("{\"base_version\":%lld,\"%s\":%s}", (long long)tds_json_int(c, "version", 0), patch_kind, json);
	json_t *dummy = NULL;
	int rc = tds_contract_propose(F->ct, who, who->org, cid, in, out ? out : &dummy);
	json_decref(dummy);
	json_decref(in);
	json_decref(c);
	return rc;
}

/* The draft's terms (version 1) as JSON text, with one member replaced by value: "clauses",
 * "validity", "violation_policy", or the first permission's "constraint" or "action". */
static char *terms_with(const char *cid, const char *member, const char *value)
{
	json_t *ver = version(cid, 1);
	json_t *doc = json_object_get(ver, "document");
	json_t *t = json_pack("{s:O, s:O, s:O, s:O}", "clauses", json_object_get(doc, "clauses"), "policy",
			      json_object_get(doc, "policy"), "validity", json_object_get(doc, "validity"), "violation_policy",
			      json_object_get(doc, "violation_policy"));
	if (member) {
		json_t *v = J("%s", value);
		if (!strcmp(member, "constraint"))
			json_object_set_new(json_array_get(json_object_get(json_object_get(t, "policy"), "permission"), 0), "constraint",
					    v);
		else if (!strcmp(member, "action"))
			json_object_set_new(json_array_get(json_object_get(json_object_get(t, "policy"), "permission"), 0), "action", v);
		else
			json_object_set_new(t, member, v);
	}
	char *s = tds_json_dumps(t);
	json_decref(t);
	json_decref(ver);
	return s;
}

/* True when issues hold code at path (path NULL: anywhere). */
static bool has_issue(const json_t *issues, const char *code, const char *path)
{
	size_t i;
	json_t *it;
	json_array_foreach(issues, i, it) {
		if (!strcmp(tds_json_str(it, "code", ""), code) && (!path || !strcmp(tds_json_str(it, "path", ""), path)) &&
		    strlen(tds_json_str(it, "reason", "")) > 10)
			return true;
	}
	return false;
}

/* ---- tests ---- */

static void test_templates(void **state)
{
	(void)state;
	json_t *out, *in;
	ok(tds_contract_template_list(F->ct, &out));
	json_t *items = json_object_get(out, "items");
	assert_int_equal(json_array_size(items), 4);
	char api_id[TDS_ID_MAX] = "";
	static const char *const clauses[] = {"data_use_rules", "security_duties", "performance_supervision", "breach_handling"};
	size_t i;
	json_t *t;
	json_array_foreach(items, i, t) {
		for (size_t k = 0; k < 4; k++)
			assert_true(strlen(tds_json_str(json_object_get(t, "clauses"), clauses[k], "")) > 20);
		assert_int_equal(tds_json_int(json_object_get(json_object_get(t, "policy_defaults"), "violation_policy"),
					      "freeze_after", 0), 3);
		if (!strcmp(tds_json_str(t, "form", ""), "api"))
			snprintf(api_id, sizeof api_id, "%s", tds_json_str(t, "id", ""));
	}
	json_decref(out);
	assert_true(api_id[0]);

	/* a new version of the API template; version 1 stays as it was */
	in = J("{\"form\":\"api\",\"name\":\"API 合约 v2\",\"clauses\":{\"data_use_rules\":\"仅限约定用途。\","
	       "\"security_duties\":\"安全义务。\",\"performance_supervision\":\"履约监督。\",\"breach_handling\":\"违约处理。\"},"
	       "\"policy_defaults\":{\"obligations\":[{\"action\":\"log\"}],\"violation_policy\":{\"freeze_after\":5},"
	       "\"max_validity_days\":90}}");
	ok(tds_contract_template_create(F->ct, &OPERATOR, in, &out));
	assert_string_equal(tds_json_str(out, "id", ""), api_id);
	assert_int_equal(tds_json_int(out, "version", 0), 2);
	json_decref(out);
	json_decref(in);
	ok(tds_contract_template_get(F->ct, api_id, 1, &out));
	assert_int_equal(tds_json_int(out, "version", 0), 1);
	assert_int_equal(tds_json_int(json_object_get(json_object_get(out, "policy_defaults"), "violation_policy"), "freeze_after", 0), 3);
	json_decref(out);
	ok(tds_contract_template_get(F->ct, api_id, 0, &out));
	assert_int_equal(tds_json_int(out, "version", 0), 2);
	json_decref(out);
	assert_int_equal(evidence("contract.template_created"), 1);
	/* new drafts use it: 90 days at most now */
	expect(order_rc(ORDER_BODY, &out), TDS_EUNPROC, "validity_too_long");

	/* bad input */
	static const char *const bad[][2] = {
	    {"{\"form\":\"api\",\"name\":\"x\",\"clauses\":{},\"policy_defaults\":{},\"extra\":1}", NULL},
	    {"{\"form\":\"video\",\"name\":\"x\",\"clauses\":{},\"policy_defaults\":{}}", "invalid_form"},
	    {"{\"form\":\"api\",\"name\":\"x\",\"clauses\":{\"data_use_rules\":\"a\"},\"policy_defaults\":{}}", NULL},
	    {"{\"form\":\"api\",\"name\":\"x\",\"clauses\":{\"data_use_rules\":\" \",\"security_duties\":\"b\","
	     "\"performance_supervision\":\"c\",\"breach_handling\":\"d\"},\"policy_defaults\":{\"violation_policy\":"
	     "{\"freeze_after\":3},\"max_validity_days\":30}}", "invalid_clause"},
	    {"{\"form\":\"api\",\"name\":\"x\",\"clauses\":{\"data_use_rules\":\"a\",\"security_duties\":\"b\","
	     "\"performance_supervision\":\"c\",\"breach_handling\":\"d\"},\"policy_defaults\":{\"violation_policy\":"
	     "{\"freeze_after\":0},\"max_validity_days\":30}}", "invalid_policy_defaults"},
	    {"{\"form\":\"api\",\"name\":\"x\",\"clauses\":{\"data_use_rules\":\"a\",\"security_duties\":\"b\","
	     "\"performance_supervision\":\"c\",\"breach_handling\":\"d\"},\"policy_defaults\":{\"violation_policy\":"
	     "{\"freeze_after\":3},\"max_validity_days\":30,\"prohibitions\":[{\"action\":\"fly\"}]}}", "invalid_policy_defaults"},
	};
	for (size_t k = 0; k < TDS_ARRAY_LEN(bad); k++) {
		in = J("%s", bad[k][0]);
		expect(tds_contract_template_create(F->ct, &OPERATOR, in, &out), TDS_EINVAL, bad[k][1]);
		json_decref(in);
	}
	expect(tds_contract_template_get(F->ct, "tpl_01JNPSVCHAAAAAAAAAAAAAAAAA", 0, &out), TDS_ENOTFOUND, "template_not_found");
	expect(tds_contract_template_get(F->ct, api_id, 9, &out), TDS_ENOTFOUND, "template_not_found");
	expect(tds_contract_template_get(F->ct, "../etc", 0, &out), TDS_ENOTFOUND, "template_not_found");
}

static void test_order_and_draft(void **state)
{
	(void)state;
	json_t *o, *c, *in = json_object();
	ok(order_rc(ORDER_BODY, &o));
	assert_string_equal(tds_json_str(o, "status", ""), "open");
	assert_string_equal(tds_json_str(o, "provider_org", ""), ORG_TAX);
	assert_int_equal(tds_json_int(json_object_get(o, "product"), "version", 0), 3);
	json_t *popular;
	ok(tds_catalog_entry_get(F->cat, PRD_TAX, &popular));
	assert_int_equal(tds_json_int(popular, "popularity", 0), 1);
	json_decref(popular);
	const char *oid = tds_json_str(o, "id", "");
	ok(tds_contract_draft(F->ct, &OPERATOR, oid, in, &c));
	assert_string_equal(tds_json_str(c, "state", ""), "draft");
	assert_int_equal(tds_json_int(c, "version", 0), 1);
	const json_t *doc = json_object_get(c, "document");
	assert_string_equal(tds_json_str(doc, "type", ""), "tds.contract/1");
	assert_string_equal(tds_json_str(json_object_get(doc, "provider"), "org_id", ""), ORG_TAX);
	assert_string_equal(tds_json_str(json_object_get(doc, "consumer"), "org_id", ""), ORG_BANK);
	assert_string_equal(tds_json_str(json_object_get(doc, "product"), "form", ""), "api");
	assert_string_equal(tds_json_str(json_object_get(doc, "template"), "form", ""), "api");
	assert_true(strlen(tds_json_str(json_object_get(doc, "clauses"), "breach_handling", "")) > 20);
	const json_t *pol = json_object_get(doc, "policy");
	char uid[64];
	snprintf(uid, sizeof uid, "%s/v1", tds_json_str(c, "id", ""));
	assert_string_equal(tds_json_str(pol, "uid", ""), uid);
	tds_policy *p;
	ok(tds_policy_compile_json(pol, &p));
	/* the draft permits what was ordered and nothing else */
	tds_policy_counters *ctr = tds_policy_counters_new(p);
	const char *fields_ok[] = {"name", "tax_amount"}, *fields_bad[] = {"name", "uscc"};
	int64_t t;
	tds_time_parse("2027-01-01T00:00:00Z", &t);
	tds_policy_request rq = {.org = ORG_BANK, .action = TDS_POLICY_ACTION_QUERY, .purpose = "credit-risk",
				 .environment = "consumer-domain", .fields = fields_ok, .n_fields = 2};
	tds_policy_decision d;
	ok(tds_policy_decide(p, ctr, &rq, t, &d));
	assert_true(d.permit);
	assert_true(d.n_obligations >= 1); /* the template's log duty */
	rq.fields = fields_bad;
	ok(tds_policy_decide(p, ctr, &rq, t, &d));
	assert_false(d.permit);
	assert_string_equal(d.code, "field_not_granted");
	rq.fields = fields_ok;
	rq.action = TDS_POLICY_ACTION_DISTRIBUTE;
	ok(tds_policy_decide(p, ctr, &rq, t, &d));
	assert_false(d.permit);
	tds_policy_counters_free(ctr);
	tds_policy_free(p);
	json_t *v1 = version(tds_json_str(c, "id", ""), 1);
	assert_int_equal(json_array_size(json_object_get(v1, "issues")), 0);
	assert_string_equal(tds_json_str(json_object_get(v1, "proposed_by"), "role", ""), "operator");
	json_decref(v1);
	json_decref(c);
	/* the order is drafted; a second draft is a conflict */
	json_t *o2;
	ok(tds_contract_order_get(F->ct, ORG_BANK, oid, &o2));
	assert_string_equal(tds_json_str(o2, "status", ""), "drafted");
	json_decref(o2);
	expect(tds_contract_order_get(F->ct, ORG_HR, oid, &o2), TDS_ENOTFOUND, "order_not_found");
	expect(tds_contract_draft(F->ct, &OPERATOR, oid, in, &c), TDS_ECONFLICT, "invalid_state");
	json_decref(o);
	assert_int_equal(evidence("contract.order_placed"), 1);
	assert_int_equal(evidence("contract.drafted"), 1);

	/* one purpose */
	ok(order_rc("{\"product_id\":\"" PRD_TAX "\",\"actions\":[\"query\"],\"purpose\":\"anti-fraud\"}", &o));
	assert_string_equal(json_string_value(json_array_get(json_object_get(json_object_get(o, "request"), "purposes"), 0)),
			    "anti-fraud");
	assert_null(json_object_get(json_object_get(o, "request"), "purpose"));
	json_decref(o);
	/* by code, with defaults: every field, every scenario, a year */
	ok(order_rc("{\"product_code\":\"tds://space.example.cn/prd/00000001X\",\"actions\":[\"read\"]}", &o));
	const json_t *req = json_object_get(o, "request");
	assert_int_equal(json_array_size(json_object_get(req, "fields")), 4);
	assert_int_equal(json_array_size(json_object_get(req, "purposes")), 2);
	assert_non_null(json_object_get(req, "validity"));
	json_t *svc = J("{\"service\":[\"" ORG_SVC "\"]}");
	ok(tds_contract_draft(F->ct, &OPERATOR, tds_json_str(o, "id", ""), svc, &c));
	assert_string_equal(tds_json_str(json_array_get(json_object_get(json_object_get(c, "document"), "service"), 0), "org_id", ""),
			    ORG_SVC);
	json_decref(c);
	json_decref(svc);
	json_decref(o);

	/* refusals */
	static const struct {
		const char *body;
		int rc;
		const char *name;
	} bad[] = {
	    {"{\"product_id\":\"prd_01JNPSVCHAAAAAAAAAAAAAAAAA\",\"actions\":[\"query\"]}", TDS_ENOTFOUND, "product_not_found"},
	    {"{\"product_id\":\"" RES_TAX "\",\"actions\":[\"query\"]}", TDS_EINVAL, "invalid_product"},
	    {"{\"product_code\":\"" RES_TAX "\",\"actions\":[\"query\"]}", TDS_EUNPROC, "not_a_product"},
	    {"{\"product_id\":\"" PRD_GONE "\",\"actions\":[\"query\"]}", TDS_EUNPROC, "product_withdrawn"},
	    /* an entry out of the consumer's scope does not exist for it (as on the catalog routes) */
	    {"{\"product_id\":\"" PRD_HIDDEN "\",\"actions\":[\"query\"]}", TDS_ENOTFOUND, "product_not_found"},
	    {"{\"product_id\":\"" PRD_HIDDEN_GONE "\",\"actions\":[\"query\"]}", TDS_ENOTFOUND, "product_not_found"},
	    {"{\"product_id\":\"" PRD_BANK "\",\"actions\":[\"query\"]}", TDS_EUNPROC, "own_product"},
	    {"{\"product_id\":\"" PRD_TAX "\",\"actions\":[\"download\"]}", TDS_EUNPROC, "action_not_allowed"},
	    {"{\"product_id\":\"" PRD_TAX "\",\"actions\":[\"query\"],\"fields\":[\"salary\"]}", TDS_EUNPROC, "field_not_in_product"},
	    {"{\"product_id\":\"" PRD_TAX "\",\"actions\":[\"query\"],\"purposes\":[\"marketing\"]}", TDS_EUNPROC,
	     "purpose_not_in_product"},
	    {"{\"product_id\":\"" PRD_TAX "\",\"actions\":[\"query\"],\"validity\":{\"from\":\"2027-01-01T00:00:00Z\","
	     "\"to\":\"2027-01-01T00:00:00Z\"}}", TDS_EUNPROC, "validity_empty"},
	    {"{\"product_id\":\"" PRD_TAX "\",\"actions\":[\"query\"],\"validity\":{\"from\":\"2027-01-01T00:00:00Z\","
	     "\"to\":\"2029-01-01T00:00:00Z\"}}", TDS_EUNPROC, "validity_too_long"},
	    {"{\"product_id\":\"" PRD_TAX "\",\"actions\":[\"query\"],\"validity\":{\"from\":\"yesterday\",\"to\":\"x\"}}", TDS_EINVAL,
	     "invalid_validity"},
	    {"{\"product_id\":\"" PRD_TAX "\",\"actions\":[\"fly\"]}", TDS_EINVAL, "invalid_actions"},
	    {"{\"product_id\":\"" PRD_TAX "\",\"actions\":[\"use\"]}", TDS_EINVAL, "invalid_actions"},
	    {"{\"product_id\":\"" PRD_TAX "\",\"actions\":[]}", TDS_EINVAL, "invalid_actions"},
	    {"{\"product_id\":\"" PRD_TAX "\",\"actions\":[\"query\",\"query\"]}", TDS_EINVAL, "invalid_field"},
	    {"{\"product_id\":\"" PRD_TAX "\",\"actions\":[\"query\"],\"count\":0}", TDS_EINVAL, "invalid_count"},
	    {"{\"product_id\":\"" PRD_TAX "\",\"actions\":[\"query\"],\"rate\":{\"limit\":5,\"unit\":\"hour\"}}", TDS_EINVAL,
	     "invalid_rate"},
	    {"{\"product_id\":\"" PRD_TAX "\",\"actions\":[\"query\"],\"environment\":[\"cloud\"]}", TDS_EINVAL,
	     "invalid_environment"},
	    {"{\"product_id\":\"" PRD_TAX "\",\"actions\":[\"query\"],\"price\":1}", TDS_EINVAL, NULL},
	    {"{\"product_id\":\"" PRD_TAX "\",\"product_code\":\"x\",\"actions\":[\"query\"]}", TDS_EINVAL, "invalid_product"},
	    {"{\"actions\":[\"query\"]}", TDS_EINVAL, "invalid_product"},
	    {"{\"product_id\":\"" PRD_TAX "\",\"actions\":[\"query\"],\"purpose\":\"credit-risk\",\"purposes\":[]}", TDS_EINVAL,
	     "invalid_purposes"},
	    {"{\"product_id\":\"" PRD_TAX "\",\"actions\":[\"query\"],\"purpose\":\"marketing\"}", TDS_EUNPROC,
	     "purpose_not_in_product"},
	};
	for (size_t k = 0; k < TDS_ARRAY_LEN(bad); k++) {
		o = NULL;
		int rc = order_rc(bad[k].body, &o);
		if (rc != bad[k].rc || (bad[k].name && strcmp(tds_error_name(), bad[k].name)))
			fail_msg("order %zu: got %d %s (%s), wanted %d %s", k, rc, tds_error_name(), tds_error_message(), bad[k].rc,
				 bad[k].name ? bad[k].name : "");
		assert_null(o);
	}
	/* an organisation-less caller, a bad draft */
	json_decref(in);
	in = J("%s", ORDER_BODY);
	expect(tds_contract_order_create(F->ct, &BANK, NULL, CONSUMER_ROLES, in, &o), TDS_EPERM, "no_organisation");
	json_decref(in);
	in = J("{\"service\":[\"" ORG_BANK "\"]}");
	ok(order_rc(ORDER_BODY, &o));
	expect(tds_contract_draft(F->ct, &OPERATOR, tds_json_str(o, "id", ""), in, &c), TDS_EINVAL, "invalid_service");
	json_decref(in);
	in = J("{\"servce\":[]}");
	expect(tds_contract_draft(F->ct, &OPERATOR, tds_json_str(o, "id", ""), in, &c), TDS_EINVAL, NULL);
	json_decref(in);
	json_decref(o);
	in = json_object();
	expect(tds_contract_draft(F->ct, &OPERATOR, "ord_01JNPSVCHAAAAAAAAAAAAAAAAA", in, &c), TDS_ENOTFOUND, "order_not_found");
	json_decref(in);
	/* lists: the bank sees its orders, the HR office none */
	ok(tds_contract_order_list(F->ct, ORG_BANK, 50, NULL, &o));
	assert_int_equal(json_array_size(json_object_get(o, "items")), 4);
	json_decref(o);
	ok(tds_contract_order_list(F->ct, ORG_HR, 50, NULL, &o));
	assert_int_equal(json_array_size(json_object_get(o, "items")), 0);
	json_decref(o);
	ok(tds_contract_order_list(F->ct, NULL, 2, NULL, &o));
	assert_int_equal(json_array_size(json_object_get(o, "items")), 2);
	assert_true(json_is_string(json_object_get(o, "next_cursor")));
	json_decref(o);
}

static void test_negotiation_narrows_fields(void **state)
{
	(void)state;
	char cid[TDS_ID_MAX];
	drafted(NULL, cid);
	json_t *v1 = version(cid, 1);
	/* the constraint that holds the fields */
	const json_t *cons = json_object_get(json_array_get(json_object_get(json_object_get(json_object_get(v1, "document"), "policy"),
									 "permission"), 0), "constraint");
	size_t fi = 0, i;
	json_t *cc;
	json_array_foreach(cons, i, cc) if (!strcmp(tds_json_str(cc, "leftOperand", ""), "field")) fi = i;
	json_t *policy = json_deep_copy(json_object_get(json_object_get(v1, "document"), "policy"));
	json_t *fc = json_array_get(json_object_get(json_array_get(json_object_get(policy, "permission"), 0), "constraint"), fi);
	json_object_set_new(fc, "rightOperand", json_pack("[s, s]", "name", "tax_amount"));
	char *ps = tds_json_dumps(policy);
	char patch[8192];
	snprintf(patch, sizeof patch, "{\"policy\":%s}", ps);
	free(ps);
	json_decref(policy);
	json_t *out;
	ok(propose_rc(&BANK, cid, "patch", patch, &out));
	assert_int_equal(tds_json_int(out, "version", 0), 2);
	assert_int_equal(json_array_size(json_object_get(out, "issues")), 0);
	assert_string_equal(tds_json_str(json_object_get(out, "proposed_by"), "role", ""), "consumer");
	json_decref(out);
	assert_string_equal(state_of(cid), "negotiating");
	/* the diff: id_no removed from the fields, the policy's uid and the version changed */
	ok(tds_contract_diff(F->ct, ORG_TAX, cid, 1, 2, &out));
	const json_t *changes = json_object_get(out, "changes");
	char path[128];
	snprintf(path, sizeof path, "$.policy.permission[0].constraint[%zu].rightOperand[2]", fi);
	bool removed = false, uid = false, ver = false;
	json_array_foreach(changes, i, cc) {
		const char *op = tds_json_str(cc, "op", ""), *p = tds_json_str(cc, "path", "");
		if (!strcmp(op, "removed") && !strcmp(p, path) && !strcmp(json_string_value(json_object_get(cc, "old")), "id_no"))
			removed = true;
		if (!strcmp(op, "changed") && !strcmp(p, "$.policy.uid"))
			uid = true;
		if (!strcmp(op, "changed") && !strcmp(p, "$.version") && json_integer_value(json_object_get(cc, "new")) == 2)
			ver = true;
	}
	assert_true(removed && uid && ver);
	assert_int_equal(json_array_size(changes), 3);
	json_decref(out);
	/* the same version diffed with itself has no changes; a pure diff of two documents */
	ok(tds_contract_diff(F->ct, NULL, cid, 2, 2, &out));
	assert_int_equal(json_array_size(json_object_get(out, "changes")), 0);
	json_decref(out);
	json_t *a = J("{\"a\":1,\"b\":[1,2],\"c\":{\"d\":\"x\"},\"odd key\":1}"), *b = J("{\"a\":2,\"b\":[1],\"c\":{},\"e\":null}");
	out = tds_contract_json_diff(a, b);
	char *ds = tds_json_dumps(out);
	assert_string_equal(ds, "[{\"op\":\"changed\",\"path\":\"$.a\",\"old\":1,\"new\":2},{\"op\":\"removed\",\"path\":\"$.b[1]\","
				"\"old\":2},{\"op\":\"removed\",\"path\":\"$.c.d\",\"old\":\"x\"},{\"op\":\"added\",\"path\":\"$.e\","
				"\"new\":null},{\"op\":\"removed\",\"path\":\"$['odd key']\",\"old\":1}]");
	free(ds);
	json_decref(out);
	json_decref(a);
	json_decref(b);
	expect(tds_contract_diff(F->ct, NULL, cid, 1, 3, &out), TDS_ENOTFOUND, "version_not_found");
	expect(tds_contract_diff(F->ct, NULL, cid, 0, 1, &out), TDS_EINVAL, "invalid_version");
	expect(tds_contract_diff(F->ct, ORG_HR, cid, 1, 2, &out), TDS_ENOTFOUND, "contract_not_found");
	/* versions are immutable: version 1 is still the draft */
	json_t *again = version(cid, 1);
	assert_true(json_equal(json_object_get(again, "document"), json_object_get(v1, "document")));
	assert_string_equal(tds_json_str(again, "document_hash", ""), tds_json_str(v1, "document_hash", ""));
	json_decref(again);
	json_decref(v1);
	/* a stale base, an outsider, a named service organisation */
	json_t *in = J("{\"base_version\":1,\"patch\":{\"violation_policy\":{\"freeze_after\":2}}}");
	expect(tds_contract_propose(F->ct, &TAX, ORG_TAX, cid, in, &out), TDS_ECONFLICT, "stale_version");
	expect(tds_contract_propose(F->ct, &HR, ORG_HR, cid, in, &out), TDS_ENOTFOUND, "contract_not_found");
	expect(tds_contract_propose(F->ct, &SVC, ORG_SVC, cid, in, &out), TDS_ENOTFOUND, "contract_not_found");
	expect(tds_contract_propose(F->ct, &OPERATOR, NULL, cid, in, &out), TDS_EPERM, "not_a_party");
	json_decref(in);
	ok(propose_rc(&TAX, cid, "patch", "{\"violation_policy\":{\"freeze_after\":2},\"clauses\":{\"security_duties\":\"新的安全义务条款。\"}}",
		      &out));
	assert_string_equal(tds_json_str(json_object_get(out, "proposed_by"), "role", ""), "provider");
	assert_string_equal(tds_json_str(json_object_get(json_object_get(out, "document"), "clauses"), "security_duties", ""),
			    "新的安全义务条款。");
	assert_true(strlen(tds_json_str(json_object_get(json_object_get(out, "document"), "clauses"), "data_use_rules", "")) > 20);
	json_decref(out);
	ok(tds_contract_versions(F->ct, ORG_BANK, cid, &out));
	assert_int_equal(json_array_size(json_object_get(out, "items")), 3);
	assert_int_equal(tds_json_int(out, "latest_version", 0), 3);
	json_decref(out);
	assert_int_equal(evidence("contract.proposed"), 2);

	char cid2[TDS_ID_MAX];
	json_t *o, *c;
	ok(order_rc(ORDER_BODY, &o));
	in = J("{\"service\":[\"" ORG_SVC "\"]}");
	ok(tds_contract_draft(F->ct, &OPERATOR, tds_json_str(o, "id", ""), in, &c));
	snprintf(cid2, sizeof cid2, "%s", tds_json_str(c, "id", ""));
	json_decref(in);
	json_decref(o);
	json_decref(c);
	ok(propose_rc(&SVC, cid2, "patch", "{\"violation_policy\":{\"freeze_after\":4}}", &out));
	assert_string_equal(tds_json_str(json_object_get(out, "proposed_by"), "role", ""), "service");
	json_decref(out);
	/* the service organisation sees it, and does not accept */
	expect(accept_rc(&SVC, cid2, 2), TDS_EPERM, "not_a_party");
}

static void test_every_check(void **state)
{
	(void)state;
	char cid[TDS_ID_MAX];
	drafted(NULL, cid);
	static const struct {
		const char *member, *value, *code, *path;
	} cases[] = {
	    {"clauses", "{\"data_use_rules\":\"a\",\"security_duties\":\"b\",\"performance_supervision\":\"c\"}", "clause_missing",
	     "$.clauses.breach_handling"},
	    {"clauses", "{\"data_use_rules\":\"a\",\"security_duties\":\"  \",\"performance_supervision\":\"c\",\"breach_handling\":\"d\"}",
	     "clause_missing", "$.clauses.security_duties"},
	    {"validity", "{\"from\":\"2027-01-01T00:00:00Z\",\"to\":\"2026-01-01T00:00:00Z\"}", "validity_empty", "$.validity.to"},
	    {"validity", "{\"from\":\"2026-01-01T00:00:00Z\",\"to\":\"2028-01-01T00:00:00Z\"}", "validity_too_long", "$.validity.to"},
	    {"violation_policy", "{\"freeze_after\":0}", "violation_policy_invalid", "$.violation_policy.freeze_after"},
	    {"action", "[\"query\",\"download\"]", "action_not_allowed", "$.policy.permission[0].action[1]"},
	    {"action", "\"use\"", "action_not_allowed", "$.policy.permission[0].action"},
	    {"constraint",
	     "[{\"leftOperand\":\"dateTime\",\"operator\":\"gteq\",\"rightOperand\":\"2026-12-01T00:00:00Z\"},"
	     "{\"leftOperand\":\"dateTime\",\"operator\":\"lt\",\"rightOperand\":\"2027-12-01T00:00:00Z\"},"
	     "{\"leftOperand\":\"purpose\",\"operator\":\"eq\",\"rightOperand\":\"credit-risk\"},"
	     "{\"leftOperand\":\"field\",\"operator\":\"isAnyOf\",\"rightOperand\":[\"name\",\"salary\"]}]",
	     "field_not_in_product", "$.policy.permission[0].constraint[3].rightOperand[1]"},
	    {"constraint",
	     "[{\"leftOperand\":\"dateTime\",\"operator\":\"gteq\",\"rightOperand\":\"2026-12-01T00:00:00Z\"},"
	     "{\"leftOperand\":\"dateTime\",\"operator\":\"lt\",\"rightOperand\":\"2027-12-01T00:00:00Z\"},"
	     "{\"leftOperand\":\"purpose\",\"operator\":\"isAnyOf\",\"rightOperand\":[\"credit-risk\",\"marketing\"]}]",
	     "purpose_not_in_product", "$.policy.permission[0].constraint[2].rightOperand[1]"},
	    {"constraint",
	     "[{\"leftOperand\":\"dateTime\",\"operator\":\"gteq\",\"rightOperand\":\"2026-12-01T00:00:00Z\"},"
	     "{\"leftOperand\":\"dateTime\",\"operator\":\"lt\",\"rightOperand\":\"2027-12-01T00:00:00Z\"}]",
	     "purpose_unrestricted", "$.policy.permission[0].constraint"},
	    {"constraint",
	     "[{\"leftOperand\":\"dateTime\",\"operator\":\"gteq\",\"rightOperand\":\"2026-12-01T00:00:00Z\"},"
	     "{\"leftOperand\":\"dateTime\",\"operator\":\"lt\",\"rightOperand\":\"2027-12-01T00:00:00Z\"},"
	     "{\"leftOperand\":\"purpose\",\"operator\":\"eq\",\"rightOperand\":\"credit-risk\"},"
	     "{\"or\":[{\"leftOperand\":\"recipient\",\"operator\":\"eq\",\"rightOperand\":\"" ORG_HR "\"},"
	     "{\"leftOperand\":\"environment\",\"operator\":\"eq\",\"rightOperand\":\"sandbox-prod\"}]}]",
	     "recipient_not_party", "$.policy.permission[0].constraint[3].or[0].rightOperand"},
	    {"constraint",
	     "[{\"leftOperand\":\"dateTime\",\"operator\":\"gteq\",\"rightOperand\":\"2026-12-01T00:00:00Z\"},"
	     "{\"leftOperand\":\"purpose\",\"operator\":\"eq\",\"rightOperand\":\"credit-risk\"}]",
	     "window_missing", "$.policy.permission[0].constraint"},
	    {"constraint",
	     "[{\"leftOperand\":\"dateTime\",\"operator\":\"gteq\",\"rightOperand\":\"2026-12-01T00:00:00Z\"},"
	     "{\"leftOperand\":\"dateTime\",\"operator\":\"lt\",\"rightOperand\":\"2028-12-01T00:00:00Z\"},"
	     "{\"leftOperand\":\"purpose\",\"operator\":\"eq\",\"rightOperand\":\"credit-risk\"}]",
	     "policy_window_outside", "$.policy.permission[0].constraint[1].rightOperand"},
	    /* contradictions: the compiler's errors, with its path */
	    {"constraint",
	     "[{\"leftOperand\":\"dateTime\",\"operator\":\"gteq\",\"rightOperand\":\"2026-12-01T00:00:00Z\"},"
	     "{\"leftOperand\":\"dateTime\",\"operator\":\"lt\",\"rightOperand\":\"2027-12-01T00:00:00Z\"},"
	     "{\"leftOperand\":\"purpose\",\"operator\":\"eq\",\"rightOperand\":\"credit-risk\"},"
	     "{\"leftOperand\":\"purpose\",\"operator\":\"eq\",\"rightOperand\":\"anti-fraud\"}]",
	     "policy_invalid", NULL},
	    {"constraint",
	     "[{\"leftOperand\":\"dateTime\",\"operator\":\"gteq\",\"rightOperand\":\"2026-12-01T00:00:00Z\"},"
	     "{\"leftOperand\":\"dateTime\",\"operator\":\"lt\",\"rightOperand\":\"2027-12-01T00:00:00Z\"},"
	     "{\"leftOperand\":\"purpose\",\"operator\":\"eq\",\"rightOperand\":\"credit-risk\"},"
	     "{\"leftOperand\":\"count\",\"operator\":\"lteq\",\"rightOperand\":-1}]",
	     "policy_invalid", "$.policy.permission[0].constraint[3].rightOperand"},
	};
	for (size_t k = 0; k < TDS_ARRAY_LEN(cases); k++) {
		char *terms = terms_with(cid, cases[k].member, cases[k].value);
		json_t *out = NULL;
		int rc = propose_rc(&BANK, cid, "terms", terms, &out);
		free(terms);
		if (rc)
			fail_msg("case %zu (%s): %s (%s)", k, cases[k].code, tds_error_message(), tds_error_name());
		const json_t *issues = json_object_get(out, "issues");
		if (!has_issue(issues, cases[k].code, cases[k].path)) {
			char *s = tds_json_dumps(issues);
			fail_msg("case %zu: no %s at %s in %s", k, cases[k].code, cases[k].path ? cases[k].path : "*", s);
		}
		/* signing is impossible while issues exist: acceptance is refused with the list */
		int64_t v = tds_json_int(out, "version", 0);
		json_t *in = json_pack("{s:I, s:s}", "version", (json_int_t)v, "document_hash", tds_json_str(out, "document_hash", "")),
		       *acc = NULL;
		expect(tds_contract_accept(F->ct, &BANK, ORG_BANK, cid, in, &acc), TDS_EUNPROC, "contract_has_issues");
		assert_true(json_array_size(json_object_get(tds_error_details(), "issues")) >= 1);
		json_decref(in);
		json_decref(out);
	}
	/* the draft's own terms again: clean, and acceptable */
	char *terms = terms_with(cid, NULL, NULL);
	json_t *out;
	ok(propose_rc(&BANK, cid, "terms", terms, &out));
	free(terms);
	assert_int_equal(json_array_size(json_object_get(out, "issues")), 0);
	int64_t clean = tds_json_int(out, "version", 0);
	json_decref(out);
	ok(accept_rc(&BANK, cid, clean));

	/* malformed proposals are refused and store nothing */
	static const char *const bad[] = {
	    "{\"base_version\":1}",
	    "{\"base_version\":1,\"terms\":{},\"patch\":{}}",
	    "{\"base_version\":1,\"patch\":{}}",
	    "{\"base_version\":1,\"patch\":{\"clauses\":{\"fun\":\"x\"}}}",
	    "{\"base_version\":1,\"patch\":{\"clauses\":{\"data_use_rules\":3}}}",
	    "{\"base_version\":1,\"patch\":{\"validity\":{\"from\":\"soon\",\"to\":\"later\"}}}",
	    "{\"base_version\":1,\"patch\":{\"violation_policy\":{\"freeze_after\":\"3\"}}}",
	    "{\"base_version\":1,\"patch\":{\"price\":1}}",
	    "{\"base_version\":1,\"terms\":{\"clauses\":{}}}",
	    "{\"base_version\":1,\"patch\":{\"policy\":{}},\"extra\":true}",
	    "{\"base_version\":1,\"patch\":{\"policy\":{\"uid\":\"x\",\"permission\":[{\"action\":\"query\","
	    "\"constraint\":[{\"leftOperand\":\"count\",\"operator\":\"lteq\",\"rightOperand\":1.5}]}]}}}",
	};
	ok(tds_contract_versions(F->ct, NULL, cid, &out));
	size_t before = json_array_size(json_object_get(out, "items"));
	json_decref(out);
	for (size_t k = 0; k < TDS_ARRAY_LEN(bad); k++) {
		json_t *in = J("%s", bad[k]);
		out = NULL;
		int rc = tds_contract_propose(F->ct, &BANK, ORG_BANK, cid, in, &out);
		if (rc != TDS_EINVAL)
			fail_msg("bad proposal %zu: got %d %s", k, rc, tds_error_name());
		json_decref(in);
	}
	json_t *real = J("{\"base_version\":%zu,\"patch\":{\"violation_policy\":{\"freeze_after\":3},\"policy\":{\"n\":0.5}}}",
			 before);
	expect(tds_contract_propose(F->ct, &BANK, ORG_BANK, cid, real, &out), TDS_EINVAL, "invalid_number");
	json_decref(real);
	ok(tds_contract_versions(F->ct, NULL, cid, &out));
	assert_int_equal(json_array_size(json_object_get(out, "items")), before);
	json_decref(out);
}

static void test_accept_sign_file(void **state)
{
	(void)state;
	char cid[TDS_ID_MAX];
	drafted(NULL, cid);
	json_t *out = NULL, *v1 = version(cid, 1);
	const json_t *doc = json_object_get(v1, "document");
	/* signing before both accepted */
	expect(sign_rc(cid, 1, F->tax, CRT_TAX, ORG_TAX, NULL), TDS_EUNPROC, "not_accepted");
	/* acceptance names the bytes shown */
	json_t *in = J("{\"version\":1,\"document_hash\":\"sm3:00\"}");
	expect(tds_contract_accept(F->ct, &TAX, ORG_TAX, cid, in, &out), TDS_EUNPROC, "document_hash_mismatch");
	json_decref(in);
	in = J("{\"version\":2,\"document_hash\":\"sm3:00\"}");
	expect(tds_contract_accept(F->ct, &TAX, ORG_TAX, cid, in, &out), TDS_ECONFLICT, "stale_version");
	json_decref(in);
	in = J("{\"version\":1,\"document_hash\":\"sm3:00\",\"happy\":true}");
	expect(tds_contract_accept(F->ct, &TAX, ORG_TAX, cid, in, &out), TDS_EINVAL, NULL);
	json_decref(in);
	ok(accept_rc(&TAX, cid, 1));
	ok(accept_rc(&TAX, cid, 1)); /* once per party */
	expect(sign_rc(cid, 1, F->tax, CRT_TAX, ORG_TAX, NULL), TDS_EUNPROC, "not_accepted");
	ok(accept_rc(&BANK, cid, 1));
	assert_int_equal(evidence("contract.accepted"), 2);

	/* refused signatures */
	json_t *other = json_deep_copy(doc);
	json_object_set_new(json_object_get(other, "violation_policy"), "freeze_after", json_integer(99));
	expect(sign_doc(other, F->tax, "sm2-sm3", CRT_TAX, ORG_TAX, ORG_TAX, cid, NULL), TDS_EUNPROC, "signature_mismatch");
	json_decref(other);
	expect(sign_doc(doc, F->bank, "sm2-sm3", CRT_TAX, ORG_TAX, ORG_TAX, cid, NULL), TDS_EUNPROC, "signature_mismatch");
	expect(sign_doc(doc, F->hr, "sm2-sm3", CRT_HR, ORG_TAX, ORG_TAX, cid, NULL), TDS_EUNPROC, "wrong_organisation");
	expect(sign_doc(doc, F->tax, "sm2-sm3", CRT_TAX, ORG_TAX, ORG_BANK, cid, NULL), TDS_EUNPROC, "wrong_organisation");
	expect(sign_doc(doc, F->hr, "sm2-sm3", CRT_HR, ORG_HR, ORG_HR, cid, NULL), TDS_ENOTFOUND, "contract_not_found");
	expect(sign_doc(doc, F->tax, "sm2-sm3", "crt_01JNPSVCHAAAAAAAAAAAAAAAAA", ORG_TAX, ORG_TAX, cid, NULL), TDS_EUNPROC,
	       "unknown_key");
	expect(sign_doc(doc, F->revoked, "sm2-sm3", CRT_REVOKED, ORG_TAX, ORG_TAX, cid, NULL), TDS_EUNPROC, "certificate_revoked");
	expect(sign_doc(doc, F->bank, "ed25519", CRT_BANK, ORG_BANK, ORG_BANK, cid, NULL), TDS_EUNPROC, "algorithm_mismatch");
	expect(sign_doc(doc, F->intl, "sm2-sm3", CRT_INTL, ORG_BANK, ORG_BANK, cid, NULL), TDS_EUNPROC, "algorithm_mismatch");
	in = J("{\"org_id\":\"" ORG_TAX "\",\"key_id\":\"" CRT_TAX "\",\"alg\":\"sm2-sm3\",\"signature\":\"%%%%\"}");
	expect(tds_contract_sign_submit(F->ct, &TAX_NODE, ORG_TAX, cid, in, &out), TDS_EINVAL, "invalid_signature");
	json_decref(in);
	in = J("{\"org_id\":\"" ORG_TAX "\",\"key_id\":\"" CRT_TAX "\",\"alg\":\"sm2-sm3\",\"signature\":\"AAAA\",\"x\":1}");
	expect(tds_contract_sign_submit(F->ct, &TAX_NODE, ORG_TAX, cid, in, &out), TDS_EINVAL, NULL);
	json_decref(in);
	in = J("{\"org_id\":\"" ORG_TAX "\",\"key_id\":\"" CRT_TAX "\",\"alg\":\"sm2-sm3\",\"signature\":\"AAAA\",\"version\":2}");
	expect(tds_contract_sign_submit(F->ct, &TAX_NODE, ORG_TAX, cid, in, &out), TDS_EUNPROC, "version_mismatch");
	json_decref(in);
	assert_int_equal(evidence("contract.signature_added"), 0);

	/* the right bytes */
	ok(sign_rc(cid, 1, F->tax, CRT_TAX, ORG_TAX, &out));
	assert_false(tds_json_bool(out, "filed", true));
	json_decref(out);
	expect(sign_rc(cid, 1, F->tax, CRT_TAX, ORG_TAX, NULL), TDS_ECONFLICT, "already_signed");
	ok(sign_rc(cid, 1, F->bank, CRT_BANK, ORG_BANK, &out));
	assert_true(tds_json_bool(out, "filed", false));
	json_decref(out);
	assert_int_equal(evidence("contract.signed"), 1);
	assert_int_equal(evidence("contract.filed"), 1);

	json_t *c = contract(cid);
	assert_string_equal(tds_json_str(c, "state", ""), "filed");
	assert_int_equal(tds_json_int(c, "effective_version", 0), 1);
	const json_t *filing = json_object_get(c, "filing");
	int year;
	uint32_t serial;
	ok(tds_contract_filing_parse(tds_json_str(filing, "number", ""), &year, &serial));
	assert_int_equal(serial, 1);
	assert_string_equal(tds_json_str(filing, "document_hash", ""), tds_json_str(v1, "document_hash", ""));
	/* the countersignature verifies with the operator's key over its canonical statement */
	json_t *stmt = json_pack("{s:O, s:O, s:O, s:O}", "document_hash", json_object_get(filing, "document_hash"), "signatures",
				 json_object_get(c, "signatures"), "number", json_object_get(filing, "number"), "filed_at",
				 json_object_get(filing, "filed_at"));
	/* the record's signatures carry signed_at; the statement has the four members only */
	size_t i;
	json_t *s;
	json_array_foreach(json_object_get(stmt, "signatures"), i, s) json_object_del(s, "signed_at");
	tds_buf canon = TDS_BUF_INIT, sig = TDS_BUF_INIT;
	ok(tds_json_canonical(stmt, &canon));
	const char *b64 = tds_json_str(json_object_get(filing, "countersignature"), "signature", "");
	ok(tds_b64_decode(b64, strlen(b64), &sig));
	ok(tds_verify(F->key, canon.data, canon.len, (const uint8_t *)sig.data, sig.len));
	assert_string_equal(tds_json_str(json_array_get(json_object_get(stmt, "signatures"), 0), "org_id", ""), ORG_TAX);
	tds_buf_free(&canon);
	tds_buf_free(&sig);
	json_decref(stmt);
	/* each party's signature verifies over the canonical document */
	json_array_foreach(json_object_get(c, "signatures"), i, s) {
		tds_buf cb = TDS_BUF_INIT, sb = TDS_BUF_INIT;
		ok(tds_json_canonical(json_object_get(c, "document"), &cb));
		const char *b = tds_json_str(s, "signature", "");
		ok(tds_b64_decode(b, strlen(b), &sb));
		ok(tds_verify(!strcmp(tds_json_str(s, "org_id", ""), ORG_TAX) ? F->tax : F->bank, cb.data, cb.len,
			      (const uint8_t *)sb.data, sb.len));
		tds_buf_free(&cb);
		tds_buf_free(&sb);
	}
	json_decref(c);
	json_decref(v1);
	/* no more acceptance, proposals or signatures on a filed contract */
	expect(accept_rc(&TAX, cid, 1), TDS_ECONFLICT, "invalid_state");
	expect(propose_rc(&BANK, cid, "patch", "{\"violation_policy\":{\"freeze_after\":2}}", NULL), TDS_ECONFLICT, "invalid_state");
	expect(sign_rc(cid, 1, F->bank, CRT_BANK, ORG_BANK, NULL), TDS_ECONFLICT, "invalid_state");
	/* a second contract gets the next serial */
	char cid2[TDS_ID_MAX];
	filed(NULL, cid2);
	c = contract(cid2);
	ok(tds_contract_filing_parse(tds_json_str(json_object_get(c, "filing"), "number", ""), &year, &serial));
	assert_int_equal(serial, 2);
	json_decref(c);
}

static void test_filing_number(void **state)
{
	(void)state;
	char n[TDS_CONTRACT_FILING_MAX];
	ok(tds_contract_filing_format(2026, 123, n));
	assert_int_equal(strlen(n), 16);
	assert_memory_equal(n, "HT-2026-000123-", 15);
	assert_int_equal(n[15], tds_rescode_check_char("2026000123", 10));
	int year;
	uint32_t serial;
	ok(tds_contract_filing_parse(n, &year, &serial));
	assert_int_equal(year, 2026);
	assert_int_equal(serial, 123);
	/* every single-digit change and every adjacent swap is caught */
	static const int pos[] = {3, 4, 5, 6, 8, 9, 10, 11, 12, 13};
	for (size_t i = 0; i < TDS_ARRAY_LEN(pos); i++) {
		for (char d = '0'; d <= '9'; d++) {
			char m[TDS_CONTRACT_FILING_MAX];
			memcpy(m, n, sizeof m);
			if (m[pos[i]] == d)
				continue;
			m[pos[i]] = d;
			if (!tds_contract_filing_parse(m, NULL, NULL) && !(i >= 4 && !strncmp(m + 8, "000000", 6)))
				fail_msg("%s accepted", m);
		}
		if (i + 1 < TDS_ARRAY_LEN(pos) && pos[i + 1] == pos[i] + 1 && n[pos[i]] != n[pos[i] + 1]) {
			char m[TDS_CONTRACT_FILING_MAX];
			memcpy(m, n, sizeof m);
			m[pos[i]] = n[pos[i] + 1];
			m[pos[i] + 1] = n[pos[i]];
			expect(tds_contract_filing_parse(m, NULL, NULL), TDS_EINVAL, "invalid_filing_number");
		}
	}
	static const char *const bad[] = {"", "HT-2026-000123", "HX-2026-000123-0", "HT-2026-00012A-0", "HT-2026-000000-0",
					  "HT-2026-000123-XX"};
	for (size_t i = 0; i < TDS_ARRAY_LEN(bad); i++)
		expect(tds_contract_filing_parse(bad[i], NULL, NULL), TDS_EINVAL, "invalid_filing_number");
	expect(tds_contract_filing_format(2026, 0, n), TDS_EINVAL, "invalid_filing_number");
	expect(tds_contract_filing_format(2026, 1000000, n), TDS_EINVAL, "invalid_filing_number");
}

static void test_feed_and_ack(void **state)
{
	(void)state;
	char cid[TDS_ID_MAX], kinds[512];
	filed(NULL, cid);
	/* the feed: the parties see the filed contract, nobody else does */
	json_t *f;
	ok(tds_contract_feed(F->ct, ORG_BANK, 0, 100, &f));
	json_t *it = json_array_get(json_object_get(f, "items"), 0);
	assert_int_equal(json_array_size(json_object_get(f, "items")), 1);
	assert_string_equal(tds_json_str(it, "kind", ""), "filed");
	assert_string_equal(tds_json_str(it, "contract_id", ""), cid);
	const json_t *body = json_object_get(it, "body");
	assert_int_equal(json_array_size(json_object_get(body, "signatures")), 2);
	assert_int_equal(tds_json_int(json_object_get(body, "document"), "version", 0), 1);
	char hash[TDS_HASH_HEX_LEN + 16];
	snprintf(hash, sizeof hash, "%s", tds_json_str(json_object_get(body, "filing"), "document_hash", ""));
	int64_t seq = tds_json_int(it, "seq", 0);
	assert_int_equal(tds_json_int(f, "next_after", 0), seq);
	json_decref(f);
	feed_kinds(ORG_TAX, cid, kinds, sizeof kinds);
	assert_string_equal(kinds, "filed");
	feed_kinds(ORG_HR, NULL, kinds, sizeof kinds);
	assert_string_equal(kinds, "");
	ok(tds_contract_feed(F->ct, ORG_BANK, seq, 100, &f));
	assert_int_equal(json_array_size(json_object_get(f, "items")), 0);
	assert_int_equal(tds_json_int(f, "next_after", 0), seq);
	json_decref(f);
	expect(tds_contract_feed(F->ct, NULL, 0, 10, &f), TDS_EPERM, "no_organisation");
	expect(tds_contract_feed(F->ct, ORG_BANK, -1, 10, &f), TDS_EINVAL, "invalid_after");
	/* a draft never reaches the feed */
	char draft[TDS_ID_MAX];
	drafted(NULL, draft);
	feed_kinds(ORG_BANK, draft, kinds, sizeof kinds);
	assert_string_equal(kinds, "");

	/* acknowledgements */
	json_t *out;
	expect(ack_rc(ORG_TAX, cid, 1, "sm3:00", &out), TDS_EUNPROC, "document_hash_mismatch");
	expect(ack_rc(ORG_TAX, cid, 2, hash, &out), TDS_ECONFLICT, "version_mismatch");
	expect(ack_rc(ORG_HR, cid, 1, hash, &out), TDS_ENOTFOUND, "contract_not_found");
	expect(ack_rc(ORG_TAX, draft, 1, hash, &out), TDS_ECONFLICT, "invalid_state");
	json_t *in = J("{\"version\":1,\"document_hash\":\"%s\",\"seen\":true}", hash);
	expect(tds_contract_ack(F->ct, &TAX_NODE, ORG_TAX, cid, in, &out), TDS_EINVAL, NULL);
	json_decref(in);
	in = J("{\"version\":1,\"document_hash\":\"%s\"}", hash);
	expect(tds_contract_ack(F->ct, &SVC, ORG_SVC, cid, in, &out), TDS_ENOTFOUND, "contract_not_found");
	json_decref(in);
	ok(ack_rc(ORG_TAX, cid, 1, hash, &out));
	assert_true(tds_json_bool(out, "recorded", false));
	assert_string_equal(tds_json_str(out, "state", ""), "filed");
	json_decref(out);
	ok(ack_rc(ORG_TAX, cid, 1, hash, &out));
	assert_false(tds_json_bool(out, "recorded", true));
	json_decref(out);
	assert_string_equal(state_of(cid), "filed");
	ok(ack_rc(ORG_BANK, cid, 1, hash, &out));
	assert_string_equal(tds_json_str(out, "state", ""), "active");
	assert_int_equal(json_array_size(json_object_get(json_object_get(out, "contract"), "acks")), 2);
	json_decref(out);
	feed_kinds(ORG_TAX, cid, kinds, sizeof kinds);
	assert_string_equal(kinds, "filed,activated");
	assert_int_equal(evidence("contract.acknowledged"), 2);
	assert_int_equal(evidence("contract.activated"), 1);

	/* lists by party */
	json_t *l;
	ok(tds_contract_list(F->ct, ORG_BANK, NULL, 50, NULL, &l));
	assert_int_equal(json_array_size(json_object_get(l, "items")), 2);
	json_decref(l);
	ok(tds_contract_list(F->ct, ORG_BANK, "active", 50, NULL, &l));
	assert_int_equal(json_array_size(json_object_get(l, "items")), 1);
	json_decref(l);
	ok(tds_contract_list(F->ct, ORG_HR, NULL, 50, NULL, &l));
	assert_int_equal(json_array_size(json_object_get(l, "items")), 0);
	json_decref(l);
	ok(tds_contract_list(F->ct, NULL, NULL, 1, NULL, &l));
	assert_int_equal(json_array_size(json_object_get(l, "items")), 1);
	const char *next = tds_json_str(l, "next_cursor", NULL);
	assert_non_null(next);
	json_t *l2;
	ok(tds_contract_list(F->ct, NULL, NULL, 1, next, &l2));
	assert_int_equal(json_array_size(json_object_get(l2, "items")), 1);
	assert_string_not_equal(tds_json_str(json_array_get(json_object_get(l2, "items"), 0), "id", ""),
				tds_json_str(json_array_get(json_object_get(l, "items"), 0), "id", ""));
	json_decref(l2);
	json_decref(l);
	expect(tds_contract_list(F->ct, NULL, "happy", 10, NULL, &l), TDS_EINVAL, "invalid_state_filter");
	expect(tds_contract_list(F->ct, NULL, NULL, 10, "x", &l), TDS_EINVAL, "invalid_cursor");
	expect(tds_contract_get(F->ct, ORG_HR, cid, &l), TDS_ENOTFOUND, "contract_not_found");
	expect(tds_contract_get(F->ct, NULL, "ctr_../../x", &l), TDS_ENOTFOUND, "contract_not_found");
}

static int op_rc(int (*fn)(tds_contract *, const tds_ledger_actor *, const char *, const json_t *, json_t **),
		 const char *cid, const char *body)
{
	json_t *in = J("%s", body), *out = NULL;
	int rc = fn(F->ct, &OPERATOR, cid, in, &out);
	json_decref(in);
	json_decref(out);
	return rc;
}

static void test_suspend_resume_terminate(void **state)
{
	(void)state;
	char cid[TDS_ID_MAX], kinds[512];
	active(NULL, cid);
	expect(op_rc(tds_contract_resume, cid, "{\"reason\":\"not suspended\"}"), TDS_ECONFLICT, "invalid_state");
	expect(op_rc(tds_contract_suspend, cid, "{}"), TDS_EINVAL, NULL);
	expect(op_rc(tds_contract_suspend, cid, "{\"reason\":\"  \"}"), TDS_EINVAL, "invalid_reason");
	expect(op_rc(tds_contract_suspend, cid, "{\"reason\":\"a\\u0001b\"}"), TDS_EINVAL, "invalid_reason");
	expect(op_rc(tds_contract_suspend, cid, "{\"reason\":\"x\",\"until\":\"later\"}"), TDS_EINVAL, NULL);
	ok(op_rc(tds_contract_suspend, cid, "{\"reason\":\"监管检查\"}"));
	assert_string_equal(state_of(cid), "suspended");
	expect(op_rc(tds_contract_suspend, cid, "{\"reason\":\"again\"}"), TDS_ECONFLICT, "invalid_state");
	ok(op_rc(tds_contract_resume, cid, "{\"reason\":\"检查结束\"}"));
	assert_string_equal(state_of(cid), "active");
	ok(op_rc(tds_contract_terminate, cid, "{\"reason\":\"违约\"}"));
	assert_string_equal(state_of(cid), "terminated");
	expect(op_rc(tds_contract_terminate, cid, "{\"reason\":\"again\"}"), TDS_ECONFLICT, "invalid_state");
	expect(op_rc(tds_contract_resume, cid, "{\"reason\":\"x\"}"), TDS_ECONFLICT, "invalid_state");
	expect(propose_rc(&BANK, cid, "patch", "{\"violation_policy\":{\"freeze_after\":2}}", NULL), TDS_ECONFLICT, "invalid_state");
	expect(op_rc(tds_contract_suspend, "ctr_01JNPSVCHAAAAAAAAAAAAAAAAA", "{\"reason\":\"x\"}"), TDS_ENOTFOUND,
	       "contract_not_found");
	feed_kinds(ORG_BANK, cid, kinds, sizeof kinds);
	assert_string_equal(kinds, "filed,activated,suspended,resumed,terminated");
	json_t *f;
	ok(tds_contract_feed(F->ct, ORG_TAX, 0, 100, &f));
	json_t *last = json_array_get(json_object_get(f, "items"), json_array_size(json_object_get(f, "items")) - 1);
	assert_string_equal(tds_json_str(json_object_get(last, "body"), "reason", ""), "违约");
	json_decref(f);
	assert_int_equal(evidence("contract.suspended"), 1);
	assert_int_equal(evidence("contract.resumed"), 1);
	assert_int_equal(evidence("contract.terminated"), 1);
	/* a negotiation can be abandoned; it never reached the connectors */
	char draft[TDS_ID_MAX];
	drafted(NULL, draft);
	expect(op_rc(tds_contract_suspend, draft, "{\"reason\":\"x\"}"), TDS_ECONFLICT, "invalid_state");
	ok(op_rc(tds_contract_terminate, draft, "{\"reason\":\"abandoned\"}"));
	feed_kinds(ORG_BANK, draft, kinds, sizeof kinds);
	assert_string_equal(kinds, "");
	expect(accept_rc(&BANK, draft, 1), TDS_ECONFLICT, "invalid_state");
}

static void test_expiry(void **state)
{
	(void)state;
	char cid[TDS_ID_MAX], kinds[512];
	/* a window that ends in 1.5 s */
	char from[TDS_TIME_MAX], to[TDS_TIME_MAX], body[1024];
	int64_t now = tds_now_ms();
	tds_time_format(now - 60000, from);
	tds_time_format(now + 1500, to);
	snprintf(body, sizeof body, "{\"product_id\":\"" PRD_TAX "\",\"actions\":[\"query\"],\"validity\":{\"from\":\"%s\",\"to\":\"%s\"}}",
		 from, to);
	active(body, cid);
	int n = -1;
	ok(tds_contract_expire_due(F->ct, now, &n));
	assert_int_equal(n, 0);
	ok(tds_contract_expire_due(F->ct, now + 1500, &n));
	assert_int_equal(n, 1);
	assert_string_equal(state_of(cid), "expired");
	feed_kinds(ORG_BANK, cid, kinds, sizeof kinds);
	assert_string_equal(kinds, "filed,activated,expired");
	assert_int_equal(evidence("contract.expired"), 1);
	expect(op_rc(tds_contract_suspend, cid, "{\"reason\":\"x\"}"), TDS_ECONFLICT, "invalid_state");
	expect(op_rc(tds_contract_terminate, cid, "{\"reason\":\"x\"}"), TDS_ECONFLICT, "invalid_state");
}

static void test_amendment(void **state)
{
	(void)state;
	char cid[TDS_ID_MAX], kinds[512];
	active(NULL, cid);
	/* 临时扩容: the count goes from 10,000 to 20,000 */
	json_t *v1 = version(cid, 1);
	char *ps = tds_json_dumps(json_object_get(json_object_get(v1, "document"), "policy"));
	json_decref(v1);
	char *at = strstr(ps, "10000");
	assert_non_null(at);
	at[0] = '2';
	char patch[8192];
	snprintf(patch, sizeof patch, "{\"policy\":%s}", ps);
	free(ps);
	json_t *out;
	ok(propose_rc(&BANK, cid, "patch", patch, &out));
	assert_int_equal(tds_json_int(out, "version", 0), 2);
	json_decref(out);
	json_t *c = contract(cid);
	assert_string_equal(tds_json_str(c, "state", ""), "active");
	assert_int_equal(tds_json_int(c, "effective_version", 0), 1);
	assert_int_equal(tds_json_int(c, "pending_version", 0), 2);
	assert_int_equal(tds_json_int(json_object_get(c, "document"), "version", 0), 1);
	json_decref(c);
	ok(accept_rc(&TAX, cid, 2));
	ok(accept_rc(&BANK, cid, 2));
	ok(sign_rc(cid, 2, F->bank, CRT_BANK, ORG_BANK, NULL));
	c = contract(cid);
	assert_int_equal(tds_json_int(c, "effective_version", 0), 1);
	json_decref(c);
	ok(sign_rc(cid, 2, F->tax, CRT_TAX, ORG_TAX, NULL));
	c = contract(cid);
	assert_string_equal(tds_json_str(c, "state", ""), "active");
	assert_int_equal(tds_json_int(c, "effective_version", 0), 2);
	assert_true(json_is_null(json_object_get(c, "pending_version")));
	json_decref(c);
	feed_kinds(ORG_BANK, cid, kinds, sizeof kinds);
	assert_string_equal(kinds, "filed,activated,amended");
	assert_int_equal(evidence("contract.filed"), 2);
	assert_int_equal(evidence("contract.signed"), 1);
	/* the amendment's acknowledgement is recorded; the state stays */
	c = contract(cid);
	ok(ack_rc(ORG_TAX, cid, 2, tds_json_str(c, "document_hash", ""), NULL));
	json_decref(c);
	assert_string_equal(state_of(cid), "active");
	expect(accept_rc(&TAX, cid, 2), TDS_ECONFLICT, "invalid_state");
}

/* The order keeps the entry as ordered: a later version of the product does not change the draft. */
static void test_order_pins_the_entry(void **state)
{
	(void)state;
	json_t *o, *c, *in = json_object();
	ok(order_rc("{\"product_id\":\"" PRD_TAX "\",\"actions\":[\"query\"]}", &o));
	entry(ORG_TAX, "{\"kind\":\"product\",\"id\":\"" PRD_TAX "\",\"version\":4,\"title\":\"企业纳税信息核验\","
		       "\"form\":\"api\",\"scope\":{\"scope\":\"space\"},\"fields\":[{\"name\":\"name\"}],"
		       "\"scenarios\":[\"credit-risk\"]}");
	ok(tds_contract_draft(F->ct, &OPERATOR, tds_json_str(o, "id", ""), in, &c));
	const json_t *doc = json_object_get(c, "document");
	assert_int_equal(tds_json_int(json_object_get(doc, "product"), "version", 0), 3);
	char *s = tds_json_dumps(json_object_get(doc, "policy"));
	assert_non_null(strstr(s, "\"id_no\""));
	assert_non_null(strstr(s, "\"anti-fraud\""));
	free(s);
	char cid[TDS_ID_MAX];
	snprintf(cid, sizeof cid, "%s", tds_json_str(c, "id", ""));
	json_decref(c);
	json_decref(o);
	json_decref(in);
	/* and the checks of later versions use it too: tax_amount is still the product's field */
	json_t *out;
	ok(propose_rc(&TAX, cid, "patch", "{\"violation_policy\":{\"freeze_after\":5}}", &out));
	assert_int_equal(json_array_size(json_object_get(out, "issues")), 0);
	json_decref(out);
	/* a new order sees the new version */
	expect(order_rc("{\"product_id\":\"" PRD_TAX "\",\"actions\":[\"query\"],\"fields\":[\"id_no\"]}", &o), TDS_EUNPROC,
	       "field_not_in_product");
}

typedef struct racer {
	const char *cid;
	const tds_key *key;
	const char *serial, *org;
	const json_t *doc;
	int rc;
	pthread_barrier_t *go;
} racer;

static void *race_sign(void *arg)
{
	racer *r = arg;
	tds_buf canon = TDS_BUF_INIT, sig = TDS_BUF_INIT, b64 = TDS_BUF_INIT;
	tds_json_canonical(r->doc, &canon);
	tds_sign(r->key, canon.data, canon.len, &sig);
	tds_b64_encode(sig.data, sig.len, &b64);
	json_t *in = json_pack("{s:s, s:s, s:s, s:s}", "org_id", r->org, "key_id", r->serial, "alg", "sm2-sm3", "signature", b64.data),
	       *out = NULL;
	tds_ledger_actor a = {.org = r->org, .node = "node_01JRACERAAAAAAAAAAAAAAAAAA"};
	pthread_barrier_wait(r->go);
	r->rc = tds_contract_sign_submit(F->ct, &a, r->org, r->cid, in, &out);
	json_decref(out);
	json_decref(in);
	tds_buf_free(&canon);
	tds_buf_free(&sig);
	tds_buf_free(&b64);
	return NULL;
}

/* Both parties sign at the same moment, each twice: two signatures, one filing, one feed item. */
static void test_concurrent_signatures(void **state)
{
	(void)state;
	char cid[TDS_ID_MAX], kinds[256];
	drafted(NULL, cid);
	ok(accept_rc(&TAX, cid, 1));
	ok(accept_rc(&BANK, cid, 1));
	json_t *v1 = version(cid, 1);
	pthread_barrier_t go;
	pthread_barrier_init(&go, NULL, 4);
	racer r[4];
	pthread_t t[4];
	for (int i = 0; i < 4; i++) {
		r[i] = (racer){.cid = cid, .key = i & 1 ? F->bank : F->tax, .serial = i & 1 ? CRT_BANK : CRT_TAX,
			       .org = i & 1 ? ORG_BANK : ORG_TAX, .doc = json_object_get(v1, "document"), .go = &go};
		assert_int_equal(pthread_create(&t[i], NULL, race_sign, &r[i]), 0);
	}
	int okays = 0;
	for (int i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		okays += r[i].rc == 0;
		if (r[i].rc && r[i].rc != TDS_ECONFLICT)
			fail_msg("racer %d: %d", i, r[i].rc);
	}
	pthread_barrier_destroy(&go);
	json_decref(v1);
	assert_int_equal(okays, 2);
	assert_string_equal(state_of(cid), "filed");
	assert_int_equal(evidence("contract.filed"), 1);
	assert_int_equal(evidence("contract.signature_added"), 2);
	feed_kinds(ORG_TAX, cid, kinds, sizeof kinds);
	assert_string_equal(kinds, "filed");
}

int main(void)
{
	tds_crypto_init();
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_templates, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_order_and_draft, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_negotiation_narrows_fields, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_every_check, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_accept_sign_file, fx_setup, fx_teardown),
	    cmocka_unit_test(test_filing_number),
	    cmocka_unit_test_setup_teardown(test_feed_and_ack, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_suspend_resume_terminate, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_expiry, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_amendment, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_order_pins_the_entry, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_concurrent_signatures, fx_setup, fx_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
