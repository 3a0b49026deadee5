/*
 * test_operation.c — authorized operation (授权运营) on a real store, ledger and fused catalog: a bank
 * applies for the tax bureau's data for credit assessment; every shape error and every
 * minimum-necessary issue fails on its own example; the application is submitted, accepted,
 * rejected at the initial review with advice, rectified and resubmitted, approved twice and gets
 * its authorization list (授权清单); an AI-training scenario needs the regulator's concurring
 * decision; reviewers outside their role or of the applicant's own organisation are refused; eight
 * reviewers racing on one step yield one decision; deadlines make overdue steps and one reminder
 * each; and the contract engine refuses orders and clauses beyond the list.
 */
#include "contract/contract.h"
#include "crypto/crypto.h"
#include "http/http.h"
#include "ledger/ledger.h"
#include "operation/operation.h"
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
#define ORG_AUTH "org_01JAVTHAAAAAAAAAAAAAAAAAAA"
#define ORG_REG "org_01JREGAAAAAAAAAAAAAAAAAAAA"
#define ORG_HR "org_01JHRAAAAAAAAAAAAAAAAAAAAA"
#define PRD_TAX "prd_01JTAXPRDAAAAAAAAAAAAAAAAA"
#define PRD_CORE "prd_01JC0REAAAAAAAAAAAAAAAAAAA"
#define PRD_HIDDEN "prd_01JH1DDENAAAAAAAAAAAAAAAAA"
#define PRD_GONE "prd_01JGNEAAAAAAAAAAAAAAAAAAAA"
#define PRD_BANK "prd_01JBANKPRDAAAAAAAAAAAAAAAA"
#define PUB_SOCIAL "pub_01JS0C1AAAAAAAAAAAAAAAAAAA"
#define PUB_CLOSED "pub_01JC1DSEDAAAAAAAAAAAAAAAAA"
#define RES_TAX "res_01JTAXRESAAAAAAAAAAAAAAAAA"
#define QUAL_BANK "qual_01JBANKQAAAAAAAAAAAAAAAAAA"
#define QUAL_PENDING "qual_01JPENDQAAAAAAAAAAAAAAAAAA"

static const tds_operation_caller BANK = {.org = ORG_BANK, .account = "acc_01JBANKACCAAAAAAAAAAAAAAAA",
					  .roles = TDS_ROLE_CONSUMER};
static const tds_operation_caller BANK_PROVIDER = {.org = ORG_BANK, .account = "acc_01JBANKPRVAAAAAAAAAAAAAAAA",
						   .roles = TDS_ROLE_PROVIDER};
static const tds_operation_caller BANK_REVIEWER = {.org = ORG_BANK, .account = "acc_01JBANKREVAAAAAAAAAAAAAAAA",
						   .roles = TDS_ROLE_AUTH_OPERATOR | TDS_ROLE_CONSUMER};
static const tds_operation_caller HR = {.org = ORG_HR, .account = "acc_01JHRACCAAAAAAAAAAAAAAAAAA",
					.roles = TDS_ROLE_CONSUMER};
static const tds_operation_caller AUTHOP = {.org = ORG_AUTH, .account = "acc_01JAVTHACCAAAAAAAAAAAAAAAA",
					    .roles = TDS_ROLE_AUTH_OPERATOR};
static const tds_operation_caller AUTHOP2 = {.org = ORG_AUTH, .account = "acc_01JAVTH2CCAAAAAAAAAAAAAAAA",
					     .roles = TDS_ROLE_AUTH_OPERATOR};
static const tds_operation_caller AUTHOP3 = {.org = ORG_AUTH, .account = "acc_01JAVTH3CCAAAAAAAAAAAAAAAA",
					     .roles = TDS_ROLE_AUTH_OPERATOR};
static const tds_operation_caller REGULATOR = {.org = ORG_REG, .account = "acc_01JREGACCAAAAAAAAAAAAAAAAA",
					       .roles = TDS_ROLE_REGULATOR};
static const tds_operation_caller NOORG = {.account = "acc_01JN0RGACCAAAAAAAAAAAAAAAA", .roles = TDS_ROLE_CONSUMER};

typedef struct fx {
	char dir[64];
	tds_store *store;
	tds_key *key;
	uint8_t master[TDS_MASTER_KEY_LEN];
	tds_ledger *lg;
	tds_catalog *cat;
	tds_contract *ct;
	tds_operation *op;
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
	char buf[32768];
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

static int qualified(void *ctx, const char *org, const char *qual_id)
{
	(void)ctx;
	return org && !strcmp(org, ORG_BANK) && !strcmp(qual_id, QUAL_BANK)
		   ? 0
		   : tds_error_set(TDS_ENOTFOUND, "qualification_not_found", "no such approved qualification");
}

static int authz(void *ctx, sqlite3 *db, const char *id, const json_t *terms, json_t *issues)
{
	(void)ctx;
	return tds_operation_terms_check(F->op, db, id, terms, issues);
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
	strcpy(F->dir, "/tmp/tds-operation-XXXXXX");
	if (!mkdtemp(F->dir))
		return -1;
	char p[128];
	snprintf(p, sizeof p, "%s/tds.db", F->dir);
	if (tds_store_open(p, &F->store) || tds_key_generate(TDS_SUITE_GM, &F->key) || tds_random(F->master, sizeof F->master))
		return -1;
	tds_ledger_opts lo = {.store = F->store, .suite = TDS_SUITE_GM, .origin = "tds.local/node_operation_test", .key = F->key,
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
			       .suite = TDS_SUITE_GM, .is_operator = true, .node = {.authorization_check = authz}};
	if (tds_contract_open(F->store, &o, &F->ct))
		return -1;
	tds_operation_opts oo = {.ledger = F->lg, .catalog = F->cat, .node_id = "node_01JPPAAAAAAAAAAAAAAAAAAAAA",
				 .qualified = qualified, .initial_review_days = 5, .final_review_days = 10};
	if (tds_operation_open(F->store, &oo, &F->op))
		return -1;
	entry(ORG_TAX, "{\"kind\":\"product\",\"id\":\"" PRD_TAX "\",\"code\":\"tds://space.example.cn/prd/00000001X\","
		       "\"version\":1,\"title\":\"企业纳税信息核验\",\"form\":\"api\",\"scope\":{\"scope\":\"space\"},"
		       "\"usage_restrictions\":\"仅限信贷风控\","
		       "\"fields\":[{\"name\":\"name\",\"label\":\"企业名称\"},{\"name\":\"tax_amount\",\"label\":\"纳税额\"},"
		       "{\"name\":\"tax_grade\",\"label\":\"纳税信用等级\"},{\"name\":\"legal_rep_id\",\"label\":\"法定代表人身份证号\"},"
		       "{\"name\":\"mobile\",\"label\":\"联系人\"}],"
		       "\"scenarios\":[\"credit-risk\",\"anti-fraud\"]}");
	entry(ORG_TAX, "{\"kind\":\"product\",\"id\":\"" PRD_CORE "\",\"version\":1,\"title\":\"核心数据\",\"form\":\"api\","
		       "\"grade\":\"核心\",\"scope\":{\"scope\":\"space\"},\"fields\":[{\"name\":\"total\"}]}");
	entry(ORG_TAX, "{\"kind\":\"product\",\"id\":\"" PRD_HIDDEN "\",\"version\":1,\"title\":\"内部\",\"form\":\"api\","
		       "\"scope\":{\"scope\":\"orgs\",\"orgs\":[\"" ORG_HR "\"]},\"fields\":[{\"name\":\"a\"}]}");
	entry(ORG_TAX, "{\"kind\":\"product\",\"id\":\"" PRD_GONE "\",\"version\":1,\"title\":\"下架\",\"form\":\"api\","
		       "\"scope\":{\"scope\":\"space\"}}");
	entry(ORG_TAX, "{\"kind\":\"product\",\"id\":\"" PRD_GONE "\",\"version\":2,\"withdrawn\":true}");
	entry(ORG_BANK, "{\"kind\":\"product\",\"id\":\"" PRD_BANK "\",\"version\":1,\"title\":\"银行\",\"form\":\"dataset\","
			"\"scope\":{\"scope\":\"space\"},\"fields\":[{\"name\":\"x\"}]}");
	entry(ORG_TAX, "{\"kind\":\"resource\",\"id\":\"" RES_TAX "\",\"version\":1,\"title\":\"资源\","
		       "\"scope\":{\"scope\":\"space\"}}");
	entry(ORG_TAX, "{\"kind\":\"public_item\",\"id\":\"" PUB_SOCIAL "\",\"version\":1,\"title\":\"社保缴纳记录\","
		       "\"form\":\"dataset\",\"authorization_type\":\"有条件开放\",\"scope\":{\"scope\":\"space\"}}");
	entry(ORG_TAX, "{\"kind\":\"public_item\",\"id\":\"" PUB_CLOSED "\",\"version\":1,\"title\":\"涉密\","
		       "\"form\":\"file\",\"authorization_type\":\"不予开放\",\"scope\":{\"scope\":\"space\"}}");
	return 0;
}

static int fx_teardown(void **state)
{
	(void)state;
	tds_operation_free(F->op);
	tds_contract_free(F->ct);
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

/* ---- helpers ---- */

#define PLAN                                                                                                     \
	"{\"transfer_encryption\":\"SM4 加密传输，TLS 国密套件\",\"access_control\":\"最小权限，双人审批\","          \
	"\"masking\":\"身份证号保留前6后4\",\"logging\":\"全量操作日志保存180天\",\"destruction\":\"到期删除并出具销毁证明\"}"
#define PERIOD "{\"from\":\"2026-01-01T00:00:00Z\",\"to\":\"2028-01-01T00:00:00Z\"}"
#define NEED_TAX(fields)                                                                                          \
	"{\"entry\":\"" PRD_TAX "\",\"fields\":" fields ",\"volume\":{\"amount\":100000,\"unit\":\"calls\"},"          \
	"\"frequency\":\"daily\",\"period\":" PERIOD "}"

static char *app_text(const char *extra, const char *needs)
{
	static char buf[16384];
	snprintf(buf, sizeof buf,
		 "{\"scenario\":{\"name\":\"普惠金融信贷评估\",\"description\":\"小微企业贷款申请时核验纳税情况\"},"
		 "\"purpose\":\"credit-risk\",\"industry\":\"finance\",\"qualifications\":[\"" QUAL_BANK "\"],"
		 "\"needs\":[%s],\"security_plan\":" PLAN "%s}",
		 needs, extra);
	return buf;
}

static const char *GOOD_NEEDS = NEED_TAX("[\"name\",\"tax_amount\",\"tax_grade\"]");

static int create_rc(const tds_operation_caller *who, const char *text, json_t **out)
{
	json_t *in = J("%s", text);
	int rc = tds_operation_application_create(F->op, who, in, out);
	json_decref(in);
	return rc;
}

static void created(const char *text, char id[TDS_ID_MAX])
{
	json_t *out;
	ok(create_rc(&BANK, text, &out));
	snprintf(id, TDS_ID_MAX, "%s", tds_json_str(out, "id", ""));
	assert_string_equal(tds_json_str(out, "state", ""), "draft");
	json_decref(out);
}

static int submit_rc(const char *id, const char *body)
{
	json_t *in = J("%s", body ? body : "{}"), *out = NULL;
	int rc = tds_operation_application_submit(F->op, &BANK, id, in, &out);
	json_decref(in);
	json_decref(out);
	return rc;
}

static int review_rc(const tds_operation_caller *who, const char *id, const char *body)
{
	json_t *in = J("%s", body), *out = NULL;
	int rc = tds_operation_review(F->op, who, id, in, &out);
	json_decref(in);
	json_decref(out);
	return rc;
}

static const char ACCEPT[] = "{\"stage\":\"accept\",\"decision\":\"approve\"}";
static const char INITIAL_OK[] =
    "{\"stage\":\"initial\",\"decision\":\"approve\",\"findings\":{"
    "\"scenario_compliance\":{\"ok\":true,\"note\":\"普惠金融场景合规\"},"
    "\"industry_relevance\":{\"ok\":true,\"note\":\"信贷是银行主营业务\"},"
    "\"necessity\":{\"ok\":true,\"note\":\"字段最小必要\"}}}";
static const char FINAL_OK[] = "{\"stage\":\"final\",\"decision\":\"approve\",\"findings\":{"
			       "\"security\":{\"ok\":true,\"note\":\"安全方案完整\"},"
			       "\"public_interest\":{\"ok\":true,\"note\":\"服务小微企业融资\"}},"
			       "\"conditions\":[\"查询结果不得留存超过30天\"]}";
static const char REG_OK[] =
    "{\"stage\":\"regulator\",\"decision\":\"approve\",\"findings\":{\"supervision\":{\"ok\":true,\"note\":\"同意\"}}}";

static const char *state_of(const char *id)
{
	static char s[32];
	json_t *out;
	ok(tds_operation_application_get(F->op, &AUTHOP, id, &out));
	snprintf(s, sizeof s, "%s", tds_json_str(out, "state", ""));
	json_decref(out);
	return s;
}

/* True when issues holds one with this code and path. */
static bool has_issue(const json_t *issues, const char *code, const char *path)
{
	size_t i;
	json_t *v;
	json_array_foreach(issues, i, v) {
		if (!strcmp(tds_json_str(v, "code", ""), code) && (!path || !strcmp(tds_json_str(v, "path", ""), path)))
			return true;
	}
	return false;
}

/* An application of the bank through both reviews; *aut the authorization list. */
static void approved(const char *text, char id[TDS_ID_MAX], char aut[TDS_ID_MAX])
{
	created(text, id);
	ok(submit_rc(id, NULL));
	ok(review_rc(&AUTHOP, id, ACCEPT));
	ok(review_rc(&AUTHOP, id, INITIAL_OK));
	ok(review_rc(&AUTHOP2, id, FINAL_OK));
	json_t *out;
	ok(tds_operation_application_get(F->op, &BANK, id, &out));
	assert_string_equal(tds_json_str(out, "state", ""), "approved");
	snprintf(aut, TDS_ID_MAX, "%s", tds_json_str(out, "authorization_id", ""));
	json_decref(out);
}

/* ---- tests ---- */

static void test_shape_refused(void **state)
{
	(void)state;
	json_t *out = NULL;
	struct {
		const char *text, *code;
	} bad[] = {
	    {"[]", NULL},
	    {"{\"purpose\":\"credit-risk\"}", NULL},
	    {"{\"scenario\":{\"name\":\"x\",\"description\":\"y\"},\"purpose\":\"p\",\"industry\":\"i\",\"needs\":[],"
	     "\"security_plan\":{}}",
	     "invalid_needs"},
	    {"{\"scenario\":{\"name\":\" \",\"description\":\"y\"},\"purpose\":\"p\",\"industry\":\"i\",\"needs\":[" NEED_TAX(
		 "[]") "],\"security_plan\":{}}",
	     "invalid_scenario"},
	    {"{\"scenario\":{\"name\":\"x\",\"description\":\"y\"},\"purpose\":\"\",\"industry\":\"i\",\"needs\":[" NEED_TAX(
		 "[]") "],\"security_plan\":{}}",
	     "invalid_purpose"},
	    {"{\"scenario\":{\"name\":\"x\",\"description\":\"y\"},\"purpose\":\"p\",\"industry\":\"i\",\"needs\":[" NEED_TAX(
		 "[]") "],\"security_plan\":{\"firewall\":\"yes\"}}",
	     "invalid_security_plan"},
	    {"{\"scenario\":{\"name\":\"x\",\"description\":\"y\"},\"purpose\":\"p\",\"industry\":\"i\",\"needs\":[" NEED_TAX(
		 "[]") "],\"security_plan\":{},\"qualifications\":[\"org_01JBANKAAAAAAAAAAAAAAAAAAA\"]}",
	     "invalid_qualifications"},
	    {"{\"scenario\":{\"name\":\"x\",\"description\":\"y\"},\"purpose\":\"p\",\"industry\":\"i\",\"needs\":[" NEED_TAX(
		 "[]") "],\"security_plan\":{},\"extra\":1}",
	     NULL},
	    {"{\"scenario\":{\"name\":\"x\",\"description\":\"y\"},\"purpose\":\"p\",\"industry\":\"i\",\"needs\":[{\"entry\":\"" PRD_TAX
	     "\",\"fields\":[],\"volume\":{\"amount\":0,\"unit\":\"calls\"},\"frequency\":\"daily\",\"period\":" PERIOD
	     "}],\"security_plan\":{}}",
	     "invalid_need"},
	    {"{\"scenario\":{\"name\":\"x\",\"description\":\"y\"},\"purpose\":\"p\",\"industry\":\"i\",\"needs\":[{\"entry\":\"" PRD_TAX
	     "\",\"fields\":[],\"volume\":{\"amount\":1,\"unit\":\"tons\"},\"frequency\":\"daily\",\"period\":" PERIOD
	     "}],\"security_plan\":{}}",
	     "invalid_need"},
	    {"{\"scenario\":{\"name\":\"x\",\"description\":\"y\"},\"purpose\":\"p\",\"industry\":\"i\",\"needs\":[{\"entry\":\"" PRD_TAX
	     "\",\"fields\":[],\"volume\":{\"amount\":1,\"unit\":\"calls\"},\"frequency\":\"hourly\",\"period\":" PERIOD
	     "}],\"security_plan\":{}}",
	     "invalid_need"},
	    {"{\"scenario\":{\"name\":\"x\",\"description\":\"y\"},\"purpose\":\"p\",\"industry\":\"i\",\"needs\":[{\"entry\":\"" PRD_TAX
	     "\",\"fields\":[],\"volume\":{\"amount\":1,\"unit\":\"calls\"},\"frequency\":\"daily\",\"period\":{\"from\":\"2026-13-01\","
	     "\"to\":\"2027-01-01T00:00:00Z\"}}],\"security_plan\":{}}",
	     "invalid_need"},
	    {"{\"scenario\":{\"name\":\"x\",\"description\":\"y\"},\"purpose\":\"p\",\"industry\":\"i\",\"needs\":[" NEED_TAX(
		 "[{\"name\":\"name\",\"why\":\"x\"}]") "],\"security_plan\":{}}",
	     NULL},
	    {"{\"scenario\":{\"name\":\"x\",\"description\":\"y\"},\"purpose\":\"p\",\"industry\":\"i\",\"needs\":[" NEED_TAX(
		 "[42]") "],\"security_plan\":{}}",
	     "invalid_need"},
	};
	for (size_t i = 0; i < TDS_ARRAY_LEN(bad); i++) {
		json_t *in = json_loads(bad[i].text, JSON_DECODE_ANY, NULL);
		assert_non_null(in);
		int rc = tds_operation_application_create(F->op, &BANK, in, &out);
		json_decref(in);
		if (rc != TDS_EINVAL || (bad[i].code && strcmp(tds_error_name(), bad[i].code)))
			fail_msg("case %zu: got %d %s (%s)", i, rc, tds_error_name(), tds_error_message());
		assert_null(out);
	}
	/* roles: a provider account, an account without an organisation */
	expect(create_rc(&BANK_PROVIDER, app_text("", GOOD_NEEDS), &out), TDS_EPERM, "wrong_role");
	expect(create_rc(&NOORG, app_text("", GOOD_NEEDS), &out), TDS_EPERM, "no_organisation");
	json_t *list;
	ok(tds_operation_application_list(F->op, &AUTHOP, NULL, 100, NULL, &list));
	assert_int_equal(json_array_size(json_object_get(list, "items")), 0); /* nothing stored */
	json_decref(list);
}

static void test_minimum_necessary(void **state)
{
	(void)state;
	/* every issue on its own example, in one application */
	char needs[8192];
	snprintf(needs, sizeof needs,
		 NEED_TAX("[\"name\",\"tax_amount\",\"legal_rep_id\",\"mobile\",\"shoe_size\",\"name\"]") ","
		 "{\"entry\":\"" PRD_CORE "\",\"fields\":[\"total\"],\"volume\":{\"amount\":1,\"unit\":\"calls\"},"
		 "\"frequency\":\"once\",\"period\":{\"from\":\"2026-01-01T00:00:00Z\",\"to\":\"2025-01-01T00:00:00Z\"}},"
		 "{\"entry\":\"" PRD_HIDDEN "\",\"fields\":[\"a\"],\"volume\":{\"amount\":1,\"unit\":\"calls\"},"
		 "\"frequency\":\"once\",\"period\":" PERIOD "},"
		 "{\"entry\":\"" PRD_GONE "\",\"fields\":[],\"volume\":{\"amount\":1,\"unit\":\"calls\"},"
		 "\"frequency\":\"once\",\"period\":{\"from\":\"2022-01-01T00:00:00Z\",\"to\":\"2024-01-01T00:00:00Z\"}},"
		 "{\"entry\":\"" RES_TAX "\",\"fields\":[],\"volume\":{\"amount\":1,\"unit\":\"calls\"},"
		 "\"frequency\":\"once\",\"period\":" PERIOD "},"
		 "{\"entry\":\"" PRD_BANK "\",\"fields\":[\"x\"],\"volume\":{\"amount\":1,\"unit\":\"calls\"},"
		 "\"frequency\":\"once\",\"period\":" PERIOD "},"
		 "{\"entry\":\"" PUB_CLOSED "\",\"fields\":[],\"volume\":{\"amount\":1,\"unit\":\"files\"},"
		 "\"frequency\":\"once\",\"period\":" PERIOD "},"
		 "{\"entry\":\"" PUB_SOCIAL "\",\"fields\":[\"amount\"],\"volume\":{\"amount\":1,\"unit\":\"records\"},"
		 "\"frequency\":\"monthly\",\"period\":" PERIOD "},"
		 "{\"entry\":\"tds://space.example.cn/prd/00000001X\",\"fields\":[\"name\"],\"volume\":{\"amount\":1,"
		 "\"unit\":\"calls\"},\"frequency\":\"once\",\"period\":" PERIOD "},"
		 "{\"entry\":\"" PRD_TAX "\",\"fields\":[],\"volume\":{\"amount\":1,\"unit\":\"calls\"},"
		 "\"frequency\":\"once\",\"period\":" PERIOD "}");
	char text[16384];
	snprintf(text, sizeof text,
		 "{\"scenario\":{\"name\":\"x\",\"description\":\"y\"},\"purpose\":\"marketing\",\"industry\":\"finance\","
		 "\"qualifications\":[\"" QUAL_PENDING "\"],\"needs\":[%s],"
		 "\"security_plan\":{\"transfer_encryption\":\"SM4 加密\",\"masking\":\"无\",\"logging\":\"\"}}",
		 needs);
	json_t *out;
	ok(create_rc(&BANK, text, &out));
	const json_t *is = json_object_get(out, "issues");
	struct {
		const char *code, *path;
	} want[] = {
	    {"qualification_invalid", "$.qualifications[0]"},
	    {"security_measure_missing", "$.security_plan.access_control"},
	    {"security_measure_missing", "$.security_plan.masking"},
	    {"security_measure_missing", "$.security_plan.logging"},
	    {"security_measure_missing", "$.security_plan.destruction"},
	    {"purpose_not_in_entry", "$.needs[0].entry"},
	    {"field_justification_missing", "$.needs[0].fields[2]"}, /* 身份证号 */
	    {"field_justification_missing", "$.needs[0].fields[3]"}, /* mobile */
	    {"field_not_in_entry", "$.needs[0].fields[4]"},
	    {"field_repeated", "$.needs[0].fields[5]"},
	    {"field_justification_missing", "$.needs[1].fields[0]"}, /* graded 核心 */
	    {"period_empty", "$.needs[1].period"},
	    {"entry_not_found", "$.needs[2].entry"}, /* hidden by its scope */
	    {"entry_withdrawn", "$.needs[3].entry"},
	    {"period_ended", "$.needs[3].period"},
	    {"entry_kind_refused", "$.needs[4].entry"},
	    {"own_entry", "$.needs[5].entry"},
	    {"entry_not_authorizable", "$.needs[6].entry"},
	    {"field_not_in_entry", "$.needs[7].fields[0]"}, /* a public item without declared fields */
	    {"need_repeated", "$.needs[8].entry"},          /* the same entry by code */
	    {"need_repeated", "$.needs[9].entry"},
	};
	for (size_t i = 0; i < TDS_ARRAY_LEN(want); i++)
		if (!has_issue(is, want[i].code, want[i].path))
			fail_msg("missing issue %s at %s in %s", want[i].code, want[i].path, json_dumps(is, 0));
	assert_int_equal(json_array_size(is), TDS_ARRAY_LEN(want));
	char id[TDS_ID_MAX];
	snprintf(id, sizeof id, "%s", tds_json_str(out, "id", ""));
	json_decref(out);
	/* submission refused while issues remain, with the list */
	expect(submit_rc(id, NULL), TDS_EUNPROC, "application_has_issues");
	assert_int_equal(json_array_size(json_object_get(tds_error_details(), "issues")), TDS_ARRAY_LEN(want));
	assert_string_equal(state_of(id), "draft");

	/* other single checks: no qualification; fields_missing; too long; a purpose the entry lists */
	ok(create_rc(&BANK,
		     "{\"scenario\":{\"name\":\"x\",\"description\":\"y\"},\"purpose\":\"credit-risk\",\"industry\":\"f\","
		     "\"needs\":[" NEED_TAX("[]") ",{\"entry\":\"" PUB_SOCIAL "\",\"fields\":[],\"volume\":{\"amount\":1,"
		     "\"unit\":\"records\"},\"frequency\":\"monthly\",\"period\":{\"from\":\"2026-01-01T00:00:00Z\","
		     "\"to\":\"2030-01-01T00:00:00Z\"}}],\"security_plan\":" PLAN "}",
		     &out));
	is = json_object_get(out, "issues");
	assert_true(has_issue(is, "qualification_missing", "$.qualifications"));
	assert_true(has_issue(is, "fields_missing", "$.needs[0].fields"));
	assert_true(has_issue(is, "period_too_long", "$.needs[1].period"));
	assert_int_equal(json_array_size(is), 3);
	json_decref(out);

	/* the excess field flagged, then fixed with a justification: clean */
	ok(create_rc(&BANK, app_text("", NEED_TAX("[\"name\",\"legal_rep_id\"]")), &out));
	assert_true(has_issue(json_object_get(out, "issues"), "field_justification_missing", "$.needs[0].fields[1]"));
	snprintf(id, sizeof id, "%s", tds_json_str(out, "id", ""));
	json_decref(out);
	json_t *in = J("%s", app_text("", NEED_TAX("[\"name\",{\"name\":\"legal_rep_id\",\"justification\":\"核验法定代表人身份\"}]")));
	ok(tds_operation_application_update(F->op, &BANK, id, in, &out));
	json_decref(in);
	assert_int_equal(json_array_size(json_object_get(out, "issues")), 0);
	json_decref(out);
	/* another organisation cannot change or submit it */
	in = J("%s", app_text("", GOOD_NEEDS));
	expect(tds_operation_application_update(F->op, &HR, id, in, &out), TDS_ENOTFOUND, "application_not_found");
	json_decref(in);
	in = json_object();
	expect(tds_operation_application_submit(F->op, &HR, id, in, &out), TDS_ENOTFOUND, "application_not_found");
	json_decref(in);
	ok(submit_rc(id, NULL));
	expect(submit_rc(id, NULL), TDS_ECONFLICT, "invalid_state");
	in = J("%s", app_text("", GOOD_NEEDS));
	expect(tds_operation_application_update(F->op, &BANK, id, in, &out), TDS_ECONFLICT, "invalid_state");
	json_decref(in);
}

static void test_workflow(void **state)
{
	(void)state;
	char id[TDS_ID_MAX];
	created(app_text("", GOOD_NEEDS), id);
	expect(submit_rc(id, "{\"rectification\":\"已整改\"}"), TDS_EINVAL, "invalid_field");
	expect(submit_rc(id, "{\"junk\":1}"), TDS_EINVAL, NULL);
	ok(submit_rc(id, "{\"note\":\"请审核\"}"));
	json_t *out;
	ok(tds_operation_application_get(F->op, &BANK, id, &out));
	assert_string_equal(tds_json_str(out, "state", ""), "submitted");
	assert_int_equal(tds_json_int(out, "round", 0), 1);
	assert_true(json_is_string(json_object_get(out, "due_at")));
	assert_false(tds_json_bool(out, "regulator_required", true));
	json_decref(out);

	/* role and state refusals */
	expect(review_rc(&BANK, id, ACCEPT), TDS_EPERM, "wrong_role");
	expect(review_rc(&REGULATOR, id, ACCEPT), TDS_EPERM, "wrong_role");
	expect(review_rc(&BANK_REVIEWER, id, ACCEPT), TDS_EPERM, "own_application");
	expect(review_rc(&AUTHOP, id, INITIAL_OK), TDS_ECONFLICT, "invalid_state");
	expect(review_rc(&AUTHOP, id, "{\"stage\":\"later\",\"decision\":\"approve\"}"), TDS_EINVAL, "invalid_stage");
	expect(review_rc(&AUTHOP, id, "{\"stage\":\"accept\",\"decision\":\"maybe\"}"), TDS_EINVAL, "invalid_decision");
	expect(review_rc(&AUTHOP, id, "{\"stage\":\"accept\",\"decision\":\"approve\",\"findings\":{\"x\":1}}"), TDS_EINVAL,
	       "invalid_findings");
	expect(review_rc(&AUTHOP, id, "{\"stage\":\"accept\",\"decision\":\"approve\",\"advice\":\"x\"}"), TDS_EINVAL,
	       "invalid_field");
	ok(review_rc(&AUTHOP, id, ACCEPT));
	assert_string_equal(state_of(id), "initial_review");

	/* initial review: findings required, reasons and advice with a rejection, no contradictions */
	expect(review_rc(&AUTHOP, id, "{\"stage\":\"initial\",\"decision\":\"approve\"}"), TDS_EINVAL, "findings_required");
	expect(review_rc(&AUTHOP, id,
			 "{\"stage\":\"initial\",\"decision\":\"approve\",\"findings\":{\"scenario_compliance\":{\"ok\":true,"
			 "\"note\":\"x\"}}}"),
	       TDS_EINVAL, "findings_required");
	expect(review_rc(&AUTHOP, id,
			 "{\"stage\":\"initial\",\"decision\":\"approve\",\"findings\":{\"scenario_compliance\":{\"ok\":true,"
			 "\"note\":\" \"},\"industry_relevance\":{\"ok\":true,\"note\":\"x\"},\"necessity\":{\"ok\":true,\"note\":\"x\"}}}"),
	       TDS_EINVAL, "invalid_findings");
	static const char NECESSITY_NO[] =
	    "{\"stage\":\"initial\",\"decision\":\"%s\",\"findings\":{"
	    "\"scenario_compliance\":{\"ok\":true,\"note\":\"合规\"},\"industry_relevance\":{\"ok\":true,\"note\":\"相关\"},"
	    "\"necessity\":{\"ok\":false,\"note\":\"纳税信用等级非必要\"}}%s}";
	char body[1024];
	snprintf(body, sizeof body, NECESSITY_NO, "approve", "");
	expect(review_rc(&AUTHOP, id, body), TDS_EUNPROC, "findings_contradict_decision");
	snprintf(body, sizeof body, NECESSITY_NO, "reject", "");
	expect(review_rc(&AUTHOP, id, body), TDS_EINVAL, "reasons_required");
	snprintf(body, sizeof body, NECESSITY_NO, "reject", ",\"reasons\":\"申请字段超出必要范围\"");
	expect(review_rc(&AUTHOP, id, body), TDS_EINVAL, "advice_required");
	snprintf(body, sizeof body, NECESSITY_NO, "reject",
		 ",\"reasons\":\"申请字段超出必要范围\",\"advice\":\"删除 tax_grade 字段后重新提交\"");
	ok(review_rc(&AUTHOP, id, body));
	assert_string_equal(state_of(id), "rejected");
	expect(review_rc(&AUTHOP2, id, INITIAL_OK), TDS_ECONFLICT, "invalid_state");

	/* the applicant sees the rejection with reasons and advice */
	ok(tds_operation_application_get(F->op, &BANK, id, &out));
	json_t *steps = json_object_get(out, "steps");
	assert_int_equal(json_array_size(steps), 3);
	json_t *rej = json_array_get(steps, 2);
	assert_string_equal(tds_json_str(rej, "decision", ""), "reject");
	assert_string_equal(tds_json_str(rej, "advice", ""), "删除 tax_grade 字段后重新提交");
	assert_string_equal(tds_json_str(rej, "reviewer", ""), AUTHOP.account);
	assert_false(json_object_get(json_object_get(json_object_get(rej, "findings"), "necessity"), "ok") == json_true());
	json_decref(out);

	/* rectified and resubmitted */
	expect(submit_rc(id, NULL), TDS_EINVAL, "rectification_required");
	json_t *in = J("%s", app_text("", NEED_TAX("[\"name\",\"tax_amount\"]")));
	ok(tds_operation_application_update(F->op, &BANK, id, in, &out));
	json_decref(in);
	json_decref(out);
	ok(submit_rc(id, "{\"rectification\":\"已删除 tax_grade 字段\"}"));
	ok(tds_operation_application_get(F->op, &BANK, id, &out));
	assert_string_equal(tds_json_str(out, "state", ""), "submitted");
	assert_int_equal(tds_json_int(out, "round", 0), 2);
	json_decref(out);
	ok(review_rc(&AUTHOP, id, ACCEPT));
	ok(review_rc(&AUTHOP, id, INITIAL_OK));
	assert_string_equal(state_of(id), "final_review");
	expect(review_rc(&REGULATOR, id, REG_OK), TDS_EUNPROC, "regulator_not_required");
	ok(review_rc(&AUTHOP2, id, FINAL_OK));
	ok(tds_operation_application_get(F->op, &BANK, id, &out));
	assert_string_equal(tds_json_str(out, "state", ""), "approved");
	assert_int_equal(json_array_size(json_object_get(out, "steps")), 7);
	assert_true(json_is_null(json_object_get(out, "due_at")));
	char aut[TDS_ID_MAX];
	snprintf(aut, sizeof aut, "%s", tds_json_str(out, "authorization_id", ""));
	json_decref(out);
	expect(review_rc(&AUTHOP, id, FINAL_OK), TDS_ECONFLICT, "invalid_state");

	/* the authorization list, item by item */
	ok(tds_operation_authorization_get(F->op, &BANK, aut, &out));
	assert_string_equal(tds_json_str(out, "holder_org", ""), ORG_BANK);
	assert_string_equal(tds_json_str(out, "state", ""), "active");
	json_t *item = json_array_get(json_object_get(out, "items"), 0);
	assert_string_equal(tds_json_str(item, "entry_id", ""), PRD_TAX);
	assert_string_equal(tds_json_str(item, "name", ""), "企业纳税信息核验");
	assert_string_equal(tds_json_str(item, "type", ""), "api");
	assert_int_equal(json_array_size(json_object_get(item, "fields")), 2);
	assert_string_equal(tds_json_str(json_array_get(json_object_get(item, "fields"), 1), "label", ""), "纳税额");
	assert_string_equal(tds_json_str(json_object_get(item, "scope_of_use"), "purpose", ""), "credit-risk");
	json_t *r = json_object_get(item, "restrictions");
	assert_int_equal(json_array_size(json_object_get(r, "general")), 3);
	assert_string_equal(tds_json_str(json_array_get(json_object_get(r, "general"), 0), "code", ""), "no_marketing");
	assert_int_equal(json_array_size(json_object_get(r, "specific")), 2); /* the entry's + the condition */
	assert_string_equal(json_string_value(json_array_get(json_object_get(r, "specific"), 1)), "查询结果不得留存超过30天");
	assert_int_equal(json_array_size(json_object_get(out, "traceability")), 4);
	json_decref(out);
	expect(tds_operation_authorization_get(F->op, &HR, aut, &out), TDS_ENOTFOUND, "authorization_not_found");
	expect(tds_operation_authorization_get(F->op, &BANK, "aut_junk", &out), TDS_ENOTFOUND, "authorization_not_found");
	ok(tds_operation_authorization_list(F->op, &HR, 10, NULL, &out));
	assert_int_equal(json_array_size(json_object_get(out, "items")), 0);
	json_decref(out);
	ok(tds_operation_authorization_list(F->op, &REGULATOR, 10, NULL, &out));
	assert_true(json_array_size(json_object_get(out, "items")) >= 1);
	json_decref(out);

	/* reads: another organisation sees nothing; lists filter by state; bad queries */
	expect(tds_operation_application_get(F->op, &HR, id, &out), TDS_ENOTFOUND, "application_not_found");
	ok(tds_operation_application_list(F->op, &HR, NULL, 10, NULL, &out));
	assert_int_equal(json_array_size(json_object_get(out, "items")), 0);
	json_decref(out);
	ok(tds_operation_application_list(F->op, &BANK, "approved", 10, NULL, &out));
	assert_true(json_array_size(json_object_get(out, "items")) >= 1);
	json_decref(out);
	expect(tds_operation_application_list(F->op, &BANK, "closed", 10, NULL, &out), TDS_EINVAL, "invalid_query");
	expect(tds_operation_application_list(F->op, &BANK, NULL, 10, "x; DROP", &out), TDS_EINVAL, "invalid_cursor");
	expect(tds_operation_application_get(F->op, &BANK, "../apl", &out), TDS_ENOTFOUND, "application_not_found");
	expect(review_rc(&AUTHOP, "apl_01JN0SXCHAAAAAAAAAAAAAAAAA", ACCEPT), TDS_ENOTFOUND, "application_not_found");
}

static void test_regulator_joins(void **state)
{
	(void)state;
	/* AI model training: both the final review and the regulator must approve */
	char id[TDS_ID_MAX];
	created(app_text(",\"ai_training\":true", GOOD_NEEDS), id);
	ok(submit_rc(id, NULL));
	ok(review_rc(&AUTHOP, id, ACCEPT));
	expect(review_rc(&REGULATOR, id, REG_OK), TDS_ECONFLICT, "invalid_state"); /* not yet in final review */
	ok(review_rc(&AUTHOP, id, INITIAL_OK));
	expect(review_rc(&AUTHOP, id, REG_OK), TDS_EPERM, "wrong_role");
	ok(review_rc(&AUTHOP2, id, FINAL_OK));
	assert_string_equal(state_of(id), "final_review");
	expect(review_rc(&AUTHOP, id, FINAL_OK), TDS_EPERM, "same_reviewer"); /* four eyes */
	expect(review_rc(&AUTHOP3, id, FINAL_OK), TDS_ECONFLICT, "already_decided");
	ok(review_rc(&REGULATOR, id, REG_OK));
	json_t *out;
	ok(tds_operation_application_get(F->op, &BANK, id, &out));
	assert_string_equal(tds_json_str(out, "state", ""), "approved");
	assert_true(tds_json_bool(out, "regulator_required", false));
	assert_true(tds_json_str(out, "authorization_id", NULL) != NULL);
	json_decref(out);

	/* special supervision data: the regulator rejects first, the application is rejected */
	created(app_text(",\"special_supervision\":true", GOOD_NEEDS), id);
	ok(submit_rc(id, NULL));
	ok(review_rc(&AUTHOP, id, ACCEPT));
	ok(review_rc(&AUTHOP, id, INITIAL_OK));
	ok(review_rc(&REGULATOR, id,
		     "{\"stage\":\"regulator\",\"decision\":\"reject\",\"findings\":{\"supervision\":{\"ok\":false,"
		     "\"note\":\"涉及监管数据\"}},\"reasons\":\"未说明监管数据用途\",\"advice\":\"补充监管数据使用说明\"}"));
	assert_string_equal(state_of(id), "rejected");
	expect(review_rc(&AUTHOP2, id, FINAL_OK), TDS_ECONFLICT, "invalid_state");
	ok(tds_operation_application_get(F->op, &BANK, id, &out));
	assert_true(json_is_null(json_object_get(out, "authorization_id")));
	json_decref(out);
}

/* ---- concurrency ---- */

typedef struct racer {
	const char *id;
	char account[TDS_ID_MAX];
	int rc;
	pthread_barrier_t *bar;
} racer;

static void *race(void *arg)
{
	racer *r = arg;
	tds_operation_caller who = {.org = ORG_AUTH, .account = r->account, .roles = TDS_ROLE_AUTH_OPERATOR};
	json_t *in = json_pack("{s:s, s:s}", "stage", "accept", "decision", "approve"), *out = NULL;
	pthread_barrier_wait(r->bar);
	r->rc = tds_operation_review(F->op, &who, r->id, in, &out);
	json_decref(in);
	json_decref(out);
	return NULL;
}

static void test_concurrent_reviewers(void **state)
{
	(void)state;
	char id[TDS_ID_MAX];
	created(app_text("", GOOD_NEEDS), id);
	ok(submit_rc(id, NULL));
	enum { N = 8 };
	pthread_t t[N];
	racer r[N];
	pthread_barrier_t bar;
	pthread_barrier_init(&bar, NULL, N);
	for (int i = 0; i < N; i++) {
		r[i] = (racer){.id = id, .bar = &bar};
		tds_id_new("acc", r[i].account);
		assert_int_equal(pthread_create(&t[i], NULL, race, &r[i]), 0);
	}
	int wins = 0, conflicts = 0;
	for (int i = 0; i < N; i++) {
		pthread_join(t[i], NULL);
		wins += r[i].rc == 0;
		conflicts += r[i].rc == TDS_ECONFLICT;
	}
	pthread_barrier_destroy(&bar);
	assert_int_equal(wins, 1);
	assert_int_equal(conflicts, N - 1);
	json_t *out;
	ok(tds_operation_application_get(F->op, &BANK, id, &out));
	assert_int_equal(json_array_size(json_object_get(out, "steps")), 2); /* submit + one acceptance */
	json_decref(out);
}

typedef struct final_racer {
	const char *id, *body;
	const tds_operation_caller *who;
	int rc;
	pthread_barrier_t *bar;
} final_racer;

static void *final_race(void *arg)
{
	final_racer *r = arg;
	json_t *in = json_loads(r->body, 0, NULL), *out = NULL;
	pthread_barrier_wait(r->bar);
	r->rc = tds_operation_review(F->op, r->who, r->id, in, &out);
	json_decref(in);
	json_decref(out);
	return NULL;
}

/* The final review and the regulator decide at once, one approving, one rejecting: whatever the
 * order, the application ends rejected without an authorization list; both approving at once: one
 * list. Repeated to meet both orders. */
static void test_concurrent_final_and_regulator(void **state)
{
	(void)state;
	static const char REG_NO[] = "{\"stage\":\"regulator\",\"decision\":\"reject\",\"findings\":{\"supervision\":"
				     "{\"ok\":false,\"note\":\"不同意\"}},\"reasons\":\"风险过高\",\"advice\":\"缩小范围\"}";
	for (int round = 0; round < 10; round++) {
		bool both_ok = round % 2;
		char id[TDS_ID_MAX];
		created(app_text(",\"ai_training\":true", GOOD_NEEDS), id);
		ok(submit_rc(id, NULL));
		ok(review_rc(&AUTHOP, id, ACCEPT));
		ok(review_rc(&AUTHOP, id, INITIAL_OK));
		pthread_barrier_t bar;
		pthread_barrier_init(&bar, NULL, 2);
		final_racer a = {.id = id, .body = FINAL_OK, .who = &AUTHOP2, .bar = &bar};
		final_racer b = {.id = id, .body = both_ok ? REG_OK : REG_NO, .who = &REGULATOR, .bar = &bar};
		pthread_t ta, tb;
		assert_int_equal(pthread_create(&ta, NULL, final_race, &a), 0);
		assert_int_equal(pthread_create(&tb, NULL, final_race, &b), 0);
		pthread_join(ta, NULL);
		pthread_join(tb, NULL);
		pthread_barrier_destroy(&bar);
		json_t *out;
		ok(tds_operation_application_get(F->op, &BANK, id, &out));
		if (both_ok) {
			ok(a.rc);
			ok(b.rc);
			assert_string_equal(tds_json_str(out, "state", ""), "approved");
			assert_true(tds_json_str(out, "authorization_id", NULL) != NULL);
		} else {
			ok(b.rc); /* the rejection always lands: in final_review, or it finds the state still open */
			assert_true(a.rc == 0 || a.rc == TDS_ECONFLICT);
			assert_string_equal(tds_json_str(out, "state", ""), "rejected");
			assert_true(json_is_null(json_object_get(out, "authorization_id")));
		}
		json_decref(out);
	}
	/* a review's "conditions": null counts as absent */
	char id[TDS_ID_MAX];
	created(app_text("", GOOD_NEEDS), id);
	ok(submit_rc(id, NULL));
	ok(review_rc(&AUTHOP, id, "{\"stage\":\"accept\",\"decision\":\"approve\",\"conditions\":null}"));
}

static void test_deadlines(void **state)
{
	(void)state;
	char id[TDS_ID_MAX];
	created(app_text("", GOOD_NEEDS), id);
	ok(submit_rc(id, NULL));
	int64_t now = tds_now_ms();
	json_t *out;
	expect(tds_operation_overdue(F->op, &BANK, now, 10, NULL, &out), TDS_EPERM, "wrong_role");
	expect(tds_operation_overdue(F->op, &AUTHOP, now, 10, "bad", &out), TDS_EINVAL, "invalid_cursor");
	/* not overdue now; overdue 6 days later (initial: 5 days) */
	ok(tds_operation_overdue(F->op, &AUTHOP, now, 100, NULL, &out));
	size_t i;
	json_t *v;
	bool found = false;
	json_array_foreach(json_object_get(out, "items"), i, v) found |= !strcmp(tds_json_str(v, "application_id", ""), id);
	assert_false(found);
	json_decref(out);
	ok(tds_operation_overdue(F->op, &REGULATOR, now + 6 * 24 * 3600 * 1000LL, 100, NULL, &out));
	json_array_foreach(json_object_get(out, "items"), i, v) {
		if (!strcmp(tds_json_str(v, "application_id", ""), id)) {
			found = true;
			assert_string_equal(tds_json_str(v, "stage", ""), "accept");
			assert_true(tds_json_int(v, "overdue_ms", 0) > 23 * 3600 * 1000LL);
		}
	}
	assert_true(found);
	json_decref(out);
	/* the reminder: once per overdue step */
	int n1 = 0, n2 = 0;
	ok(tds_operation_remind(F->op, now + 6 * 24 * 3600 * 1000LL, &n1));
	ok(tds_operation_remind(F->op, now + 6 * 24 * 3600 * 1000LL, &n2));
	assert_true(n1 >= 1);
	assert_int_equal(n2, 0);
	/* the final review has its own deadline: 10 days from its start */
	ok(review_rc(&AUTHOP, id, ACCEPT));
	ok(review_rc(&AUTHOP, id, INITIAL_OK));
	ok(tds_operation_overdue(F->op, &AUTHOP, now + 9 * 24 * 3600 * 1000LL, 100, NULL, &out));
	found = false;
	json_array_foreach(json_object_get(out, "items"), i, v) found |= !strcmp(tds_json_str(v, "application_id", ""), id);
	assert_false(found);
	json_decref(out);
	ok(tds_operation_overdue(F->op, &AUTHOP, now + 11 * 24 * 3600 * 1000LL, 100, NULL, &out));
	json_array_foreach(json_object_get(out, "items"), i, v) {
		if (!strcmp(tds_json_str(v, "application_id", ""), id)) {
			found = true;
			assert_string_equal(tds_json_str(v, "stage", ""), "final");
		}
	}
	assert_true(found);
	json_decref(out);
	ok(tds_operation_remind(F->op, now + 11 * 24 * 3600 * 1000LL, &n1));
	assert_true(n1 >= 1); /* a new step, a new reminder */
}

static void test_terms_check(void **state)
{
	(void)state;
	char id[TDS_ID_MAX], aut[TDS_ID_MAX];
	approved(app_text("", GOOD_NEEDS), id, aut);
	sqlite3 *db = tds_store_conn(F->store);
	struct {
		const char *terms, *code;
	} cases[] = {
	    {"{\"consumer_org\":\"" ORG_BANK "\",\"entry_id\":\"" PRD_TAX "\",\"fields\":[{\"name\":\"name\",\"path\":\"$.f[0]\"}],"
	     "\"purposes\":[{\"name\":\"credit-risk\",\"path\":\"$.p[0]\"}],\"validity\":{\"from\":1767225600000,\"to\":1798761600000}}",
	     NULL},
	    {"{\"consumer_org\":\"" ORG_HR "\",\"entry_id\":\"" PRD_TAX "\"}", "authorization_not_held"},
	    {"{\"consumer_org\":\"" ORG_BANK "\",\"entry_id\":\"" PRD_CORE "\"}", "entry_not_authorized"},
	    {"{\"consumer_org\":\"" ORG_BANK "\",\"entry_id\":\"" PRD_TAX "\",\"fields\":[{\"name\":\"legal_rep_id\",\"path\":\"$.f\"}]}",
	     "field_not_authorized"},
	    {"{\"consumer_org\":\"" ORG_BANK "\",\"entry_id\":\"" PRD_TAX "\",\"purposes\":[{\"name\":\"marketing\",\"path\":\"$.p\"}]}",
	     "purpose_not_authorized"},
	    {"{\"consumer_org\":\"" ORG_BANK "\",\"entry_id\":\"" PRD_TAX "\",\"unrestricted\":[{\"what\":\"field\",\"path\":\"$.x\"}]}",
	     "fields_unrestricted"},
	    {"{\"consumer_org\":\"" ORG_BANK "\",\"entry_id\":\"" PRD_TAX "\",\"unrestricted\":[{\"what\":\"purpose\",\"path\":\"$.x\"}]}",
	     "purpose_unrestricted"},
	    {"{\"consumer_org\":\"" ORG_BANK "\",\"entry_id\":\"" PRD_TAX "\",\"validity\":{\"from\":1767225600000,\"to\":1893456000000}}",
	     "validity_beyond_authorization"},
	    {"{\"consumer_org\":\"" ORG_BANK "\",\"entry_id\":\"" PRD_TAX "\",\"at\":1893456000000}", "authorization_expired"},
	};
	for (size_t i = 0; i < TDS_ARRAY_LEN(cases); i++) {
		json_t *t = J("%s", cases[i].terms), *issues = json_array();
		ok(tds_operation_terms_check(F->op, db, aut, t, issues));
		if (cases[i].code ? !has_issue(issues, cases[i].code, NULL) || json_array_size(issues) != 1
				  : json_array_size(issues) != 0)
			fail_msg("case %zu: %s", i, json_dumps(issues, 0));
		json_decref(t);
		json_decref(issues);
	}
	json_t *t = J("{\"consumer_org\":\"" ORG_BANK "\",\"entry_id\":\"" PRD_TAX "\"}"), *issues = json_array();
	ok(tds_operation_terms_check(F->op, db, "aut_01JN0SXCHAAAAAAAAAAAAAAAAA", t, issues));
	assert_true(has_issue(issues, "authorization_not_found", "$.authorization_id"));
	json_decref(t);
	json_decref(issues);
}

static void test_contract_within_list(void **state)
{
	(void)state;
	char id[TDS_ID_MAX], aut[TDS_ID_MAX];
	approved(app_text("", GOOD_NEEDS), id, aut);
	tds_ledger_actor bank = {.org = ORG_BANK, .account = BANK.account};
	char body[1024];
	json_t *in, *out = NULL;
	/* an order beyond the list: a field not authorized, then a purpose, then the validity */
	const char *bad[] = {"\"fields\":[\"name\",\"legal_rep_id\"],\"purpose\":\"credit-risk\"",
			     "\"fields\":[\"name\"],\"purpose\":\"anti-fraud\"",
			     "\"fields\":[\"name\"],\"purpose\":\"credit-risk\","
			     "\"validity\":{\"from\":\"2027-06-01T00:00:00Z\",\"to\":\"2028-06-01T00:00:00Z\"}",
			     "\"purpose\":\"credit-risk\""}; /* no fields: all the product's */
	const char *codes[] = {"field_not_authorized", "purpose_not_authorized", "validity_beyond_authorization",
			       "field_not_authorized"};
	for (size_t i = 0; i < TDS_ARRAY_LEN(bad); i++) {
		snprintf(body, sizeof body, "{\"product_id\":\"" PRD_TAX "\",\"actions\":[\"query\"],%s,\"authorization_id\":\"%s\"}",
			 bad[i], aut);
		in = J("%s", body);
		expect(tds_contract_order_create(F->ct, &bank, ORG_BANK, TDS_ROLE_CONSUMER, in, &out), TDS_EUNPROC,
		       "beyond_authorization");
		assert_true(has_issue(json_object_get(tds_error_details(), "issues"), codes[i], NULL));
		json_decref(in);
	}
	/* another organisation's list, and a malformed id */
	in = J("{\"product_id\":\"" PRD_TAX "\",\"actions\":[\"query\"],\"fields\":[\"name\"],\"purpose\":\"credit-risk\","
	       "\"authorization_id\":\"%s\"}", aut);
	tds_ledger_actor hr = {.org = ORG_HR, .account = HR.account};
	expect(tds_contract_order_create(F->ct, &hr, ORG_HR, TDS_ROLE_CONSUMER, in, &out), TDS_EUNPROC, "beyond_authorization");
	assert_true(has_issue(json_object_get(tds_error_details(), "issues"), "authorization_not_held", NULL));
	json_decref(in);
	in = J("{\"product_id\":\"" PRD_TAX "\",\"actions\":[\"query\"],\"authorization_id\":\"ord_x\"}");
	expect(tds_contract_order_create(F->ct, &bank, ORG_BANK, TDS_ROLE_CONSUMER, in, &out), TDS_EINVAL,
	       "invalid_authorization");
	json_decref(in);

	/* within the list: ordered, drafted clean; a proposal widening the fields is flagged */
	snprintf(body, sizeof body,
		 "{\"product_id\":\"" PRD_TAX "\",\"actions\":[\"query\"],\"fields\":[\"name\",\"tax_amount\"],"
		 "\"purpose\":\"credit-risk\",\"validity\":{\"from\":\"2026-12-01T00:00:00Z\",\"to\":\"2027-06-01T00:00:00Z\"},"
		 "\"authorization_id\":\"%s\"}",
		 aut);
	in = J("%s", body);
	ok(tds_contract_order_create(F->ct, &bank, ORG_BANK, TDS_ROLE_CONSUMER, in, &out));
	json_decref(in);
	assert_string_equal(tds_json_str(json_object_get(out, "request"), "authorization_id", ""), aut);
	char oid[TDS_ID_MAX];
	snprintf(oid, sizeof oid, "%s", tds_json_str(out, "id", ""));
	json_decref(out);
	tds_ledger_actor opr = {.account = "acc_01JPPERATPRAAAAAAAAAAAAAAA"};
	in = json_object();
	ok(tds_contract_draft(F->ct, &opr, oid, in, &out));
	json_decref(in);
	char cid[TDS_ID_MAX];
	snprintf(cid, sizeof cid, "%s", tds_json_str(out, "id", ""));
	json_decref(out);
	ok(tds_contract_version_get(F->ct, NULL, cid, 1, &out));
	assert_int_equal(json_array_size(json_object_get(out, "issues")), 0);
	json_t *policy = json_deep_copy(json_object_get(json_object_get(out, "document"), "policy"));
	json_decref(out);
	size_t i, j;
	json_t *perm, *c;
	json_array_foreach(json_object_get(policy, "permission"), i, perm) {
		json_array_foreach(json_object_get(perm, "constraint"), j, c) {
			if (!strcmp(tds_json_str(c, "leftOperand", ""), "field"))
				json_object_set_new(c, "rightOperand", json_pack("[s, s, s]", "name", "tax_amount", "legal_rep_id"));
		}
	}
	in = json_pack("{s:i, s:{s:o}}", "base_version", 1, "patch", "policy", policy);
	ok(tds_contract_propose(F->ct, &bank, ORG_BANK, cid, in, &out));
	json_decref(in);
	json_t *is = json_object_get(out, "issues");
	if (json_array_size(is) != 1)
		fail_msg("issues %s %s", json_dumps(is, 0), json_dumps(json_object_get(json_object_get(out, "document"), "policy"), 0));
	assert_string_equal(tds_json_str(json_array_get(is, 0), "code", ""), "field_not_authorized");
	assert_true(strstr(tds_json_str(json_array_get(is, 0), "path", ""), "rightOperand[2]") != NULL);
	json_decref(out);
}

int main(void)
{
	tds_log_set_level(TDS_LOG_OFF);
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_shape_refused),	    cmocka_unit_test(test_minimum_necessary),
	    cmocka_unit_test(test_workflow),		    cmocka_unit_test(test_regulator_joins),
	    cmocka_unit_test(test_concurrent_reviewers), cmocka_unit_test(test_concurrent_final_and_regulator),
	    cmocka_unit_test(test_deadlines),
	    cmocka_unit_test(test_terms_check),	    cmocka_unit_test(test_contract_within_list),
	};
	return cmocka_run_group_tests(tests, fx_setup, fx_teardown);
}
