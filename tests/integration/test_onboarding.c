/*
 * test_onboarding.c — the white paper's onboarding on a real operator `tdsd`: an enterprise registers,
 * is verified and becomes a data provider (its members inherit the role); a bank becomes a consumer; a
 * government body becomes the regulator; a rejected organisation gets nothing; a person is verified.
 * Then the refusals: reviewing your own organisation, role escalation (both evidenced), every
 * non-public route without credentials (401), every identity route for principals of each role
 * against the permission matrix, login throttling, password change ending other sessions, bad input
 * on every new endpoint changing nothing, the qualification watch suspending a role, and the CLI verbs.
 *
 * Tests run in order and build on each other (the organisations of the first ones are used later).
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

#define DAY_MS (24LL * 3600 * 1000)
static const char *PW = "correct horse battery staple";
static const char *HASH1 = "6b86b273ff34fce19d6b804eff5a3f5747ada4eaa22f1d49c01e52ddb7875b4b";

static tn_node *node;
static char *admin;

/* What the tests learn and share. */
static struct {
	char acme[64], acme_admin[128], acme_member[128], acme_intern[128], acme_qual[64];
	char bank[64], bank_admin[128];
	char regulator[64], regulator_admin[128];
	char ops[64], ops_admin[128];
	char rejected[64], rejected_admin[128];
	char target[64], target_admin[128], target_person[64];
	char basic[64], basic_admin[128];
	char person[64], person_token[128];
	char operator_tok[128], auditor_tok[128];
} S;

static int setup(void **state)
{
	(void)state;
	node = tn_init("operator", "gm");
	if (tn_start(node, NULL))
		return -1;
	admin = tn_login_admin(node);
	return admin ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	free(admin);
	int st = tn_stop(node);
	tn_free(node);
	return st == 0 ? 0 : -1;
}

/* ---- helpers ---- */

static long call(const char *method, const char *path, const char *token, const char *body, json_t **out)
{
	json_t *tmp = NULL;
	long st = tn_json(node, method, path, token, body, out ? out : &tmp);
	json_decref(tmp);
	return st;
}

static long callf(const char *method, const char *token, json_t **out, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static long callf(const char *method, const char *token, json_t **out, const char *path, const char *fmt, ...)
{
	char body[4096];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(body, sizeof body, fmt, ap);
	va_end(ap);
	return call(method, path, token, body, out);
}

/* expect(call(…, &out), want, out, what): the call runs before out is read. */
#define expect(got, want, out, what)                                                                        \
	do {                                                                                                \
		long got_ = (got);                                                                          \
		expect_status(got_, want, out, what);                                                       \
	} while (0)

static void expect_status(long got, long want, json_t *out, const char *what)
{
	if (got != want) {
		json_t *e = json_object_get(out, "error");
		fail_msg("%s: HTTP %ld, expected %ld (%s: %s)", what, got, want, tds_json_str(e, "code", "-"),
			 tds_json_str(e, "message", "-"));
	}
}

static void expect_code(json_t *out, const char *code)
{
	const char *got = tds_json_str(json_object_get(out, "error"), "code", "");
	if (strcmp(got, code) != 0)
		fail_msg("expected error %s, got %s (%s)", code, got,
			 tds_json_str(json_object_get(out, "error"), "message", ""));
	assert_true(strlen(tds_json_str(json_object_get(out, "error"), "message", "")) > 10);
}

static void login(const char *user, const char *pw, char *token, size_t cap)
{
	json_t *out = NULL;
	long st = callf("POST", NULL, &out, "/api/v1/auth/login", "{\"username\":\"%s\",\"password\":\"%s\"}", user, pw);
	expect(st, 200, out, "login");
	snprintf(token, cap, "%s", tds_json_str(out, "token", ""));
	json_decref(out);
}

/* The caller's effective roles as a comma-separated string ("" for none). */
static void roles_of(const char *token, char *out, size_t cap)
{
	json_t *w = NULL;
	expect(call("GET", "/api/v1/auth/whoami", token, NULL, &w), 200, w, "whoami");
	out[0] = 0;
	size_t i;
	json_t *r;
	json_array_foreach(json_object_get(w, "roles"), i, r) {
		size_t n = strlen(out);
		snprintf(out + n, cap - n, "%s%s", n ? "," : "", json_string_value(r));
	}
	json_decref(w);
}

static void assert_roles(const char *token, const char *want)
{
	char got[256];
	roles_of(token, got, sizeof got);
	if (strcmp(got, want) != 0)
		fail_msg("roles '%s', expected '%s'", got, want);
}

/* Registers an organisation and logs its admin in. */
static void register_org(const char *user, const char *name, const char *type, char *org, char *token)
{
	json_t *out = NULL;
	long st = callf("POST", NULL, &out, "/api/v1/orgs",
			"{\"username\":\"%s\",\"password\":\"%s\",\"name\":\"%s\",\"type\":\"%s\"}", user, PW, name, type);
	expect(st, 201, out, "register org");
	snprintf(org, 64, "%s", tds_json_str(json_object_get(out, "org"), "id", ""));
	assert_true(tds_id_valid(org, "org"));
	assert_string_equal(tds_json_str(json_object_get(out, "org"), "status", ""), "registered");
	assert_int_equal(json_array_size(json_object_get(json_object_get(out, "account"), "roles")), 0);
	json_decref(out);
	login(user, PW, token, 128);
	assert_roles(token, ""); /* a basic account */
}

static void submit_org(const char *org, const char *token, const char *uscc)
{
	char path[128];
	json_t *out = NULL;
	snprintf(path, sizeof path, "/api/v1/orgs/%s/verification", org);
	long st = callf("POST", token, &out, path, "{\"uscc\":\"%s\",\"legal_rep\":\"张三\",\"licence_hash\":\"%s\"}", uscc, HASH1);
	expect(st, 200, out, "submit verification");
	assert_string_equal(tds_json_str(out, "status", ""), "submitted");
	json_decref(out);
}

static void review_org(const char *org, const char *token, const char *decision, const char *reason, long want)
{
	char path[128];
	json_t *out = NULL;
	snprintf(path, sizeof path, "/api/v1/orgs/%s/review", org);
	long st = reason ? callf("POST", token, &out, path, "{\"decision\":\"%s\",\"reason\":\"%s\"}", decision, reason)
			 : callf("POST", token, &out, path, "{\"decision\":\"%s\"}", decision);
	expect(st, want, out, "review org");
	json_decref(out);
}

/* Beijing calendar date at now + days. */
static void date_in(int days, char out[11])
{
	char t[TDS_TIME_MAX];
	tds_time_format(tds_now_ms() + days * DAY_MS + 8 * 3600 * 1000LL, t);
	memcpy(out, t, 10);
	out[10] = 0;
}

/* Records a 等保 qualification valid until now + days; returns its id. */
static void add_qualification(const char *org, const char *token, int level, int days, const char *hash, char *qual)
{
	char path[128], from[11], to[11];
	json_t *out = NULL;
	date_in(-300, from);
	date_in(days, to);
	snprintf(path, sizeof path, "/api/v1/orgs/%s/qualifications", org);
	long st = callf("POST", token, &out, path,
			"{\"type\":\"dengbao\",\"level\":%d,\"issuer\":\"公安部第三研究所\",\"cert_no\":\"DJCP-2025-001\","
			"\"valid_from\":\"%s\",\"valid_to\":\"%s\",\"doc_hash\":\"%s\"}",
			level, from, to, hash);
	expect(st, 201, out, "add qualification");
	assert_string_equal(tds_json_str(out, "status", ""), "pending");
	snprintf(qual, 64, "%s", tds_json_str(out, "id", ""));
	json_decref(out);
}

static void review_qualification(const char *qual, const char *token, const char *decision, long want)
{
	char path[128];
	json_t *out = NULL;
	snprintf(path, sizeof path, "/api/v1/qualifications/%s/review", qual);
	long st = callf("POST", token, &out, path, "{\"decision\":\"%s\",\"reason\":\"资质核验\"}", decision);
	expect(st, want, out, "review qualification");
	json_decref(out);
}

static void apply_role(const char *token, const char *role, char *app)
{
	json_t *out = NULL;
	long st = callf("POST", token, &out, "/api/v1/role-applications",
			"{\"role\":\"%s\",\"justification\":\"依据授权运营协议开展%s业务\"}", role, role);
	expect(st, 201, out, "apply for role");
	assert_string_equal(tds_json_str(out, "status", ""), "pending");
	snprintf(app, 64, "%s", tds_json_str(out, "id", ""));
	json_decref(out);
}

static long grant(const char *app, const char *token, json_t **out)
{
	char path[128];
	snprintf(path, sizeof path, "/api/v1/role-applications/%s/review", app);
	return call("POST", path, token, "{\"decision\":\"approve\",\"reason\":\"材料齐全\"}", out);
}

/* Number of evidence entries of a type about a subject (admin's audit search). */
static size_t evidence(const char *type, const char *subject)
{
	char path[256];
	json_t *out = NULL;
	snprintf(path, sizeof path, "/api/v1/ledger/search?type=%s&subject=%s&limit=500", type, subject ? subject : "");
	if (!subject)
		snprintf(path, sizeof path, "/api/v1/ledger/search?type=%s&limit=500", type);
	expect(call("GET", path, admin, NULL, &out), 200, out, "ledger search");
	size_t n = json_array_size(json_object_get(out, "items"));
	json_decref(out);
	return n;
}

/* ---- the white paper's onboarding ---- */

static void test_enterprise_becomes_provider(void **state)
{
	(void)state;
	json_t *out = NULL;
	char path[256], app[64], tok[128];
	register_org("acme", "示例数据科技有限公司", "enterprise", S.acme, S.acme_admin);
	/* nothing beyond a basic account works yet */
	expect(call("GET", "/api/v1/whitelist", S.acme_admin, NULL, &out), 403, out, "whitelist before verification");
	json_decref(out);
	expect(callf("POST", S.acme_admin, &out, "/api/v1/role-applications", "{\"role\":\"provider\",\"justification\":\"x\"}"),
	       403, out, "apply before verification");
	expect_code(out, "not_verified");
	json_decref(out);

	/* real-name verification: a mistyped code is refused, then the right one */
	snprintf(path, sizeof path, "/api/v1/orgs/%s/verification", S.acme);
	expect(callf("POST", S.acme_admin, &out, path, "{\"uscc\":\"91350100M000100Y44\",\"legal_rep\":\"张三\",\"licence_hash\":\"%s\"}", HASH1),
	       400, out, "bad check character");
	expect_code(out, "invalid_uscc");
	json_decref(out);
	submit_org(S.acme, S.acme_admin, "91350100M000100Y43");
	review_org(S.acme, admin, "approve", "营业执照与登记信息一致", 200);
	snprintf(path, sizeof path, "/api/v1/orgs/%s", S.acme);
	expect(call("GET", path, S.acme_admin, NULL, &out), 200, out, "read own org");
	assert_string_equal(tds_json_str(out, "status", ""), "verified");
	assert_string_equal(tds_json_str(out, "uscc", ""), "91350100M000100Y43");
	json_decref(out);
	assert_roles(S.acme_admin, ""); /* verified, no role yet */

	/* the provider role needs 等保 >= 2: refused until a qualification is approved */
	apply_role(S.acme_admin, "provider", app);
	expect(grant(app, admin, &out), 422, out, "grant without qualification");
	expect_code(out, "qualification_required");
	json_decref(out);
	add_qualification(S.acme, S.acme_admin, 3, 20, HASH1, S.acme_qual);
	review_qualification(S.acme_qual, admin, "approve", 200);
	expect(grant(app, admin, &out), 200, out, "grant provider");
	assert_string_equal(tds_json_str(out, "status", ""), "granted");
	json_decref(out);
	assert_roles(S.acme_admin, "provider");

	/* members inherit it; a restricted member only what the restriction allows */
	snprintf(path, sizeof path, "/api/v1/orgs/%s/members", S.acme);
	expect(callf("POST", S.acme_admin, &out, path, "{\"username\":\"acme-analyst\",\"password\":\"%s\"}", PW), 201, out,
	       "add member");
	assert_string_equal(tds_json_str(out, "kind", ""), "org");
	assert_false(json_is_true(json_object_get(out, "org_admin")));
	json_decref(out);
	expect(callf("POST", S.acme_admin, &out, path, "{\"username\":\"acme-intern\",\"password\":\"%s\",\"roles\":[\"consumer\"]}", PW),
	       201, out, "add restricted member");
	json_decref(out);
	login("acme-analyst", PW, S.acme_member, sizeof S.acme_member);
	login("acme-intern", PW, S.acme_intern, sizeof S.acme_intern);
	assert_roles(S.acme_member, "provider");
	assert_roles(S.acme_intern, "");
	expect(call("GET", path, S.acme_admin, NULL, &out), 200, out, "member list");
	assert_int_equal(json_array_size(json_object_get(out, "items")), 3);
	json_decref(out);
	/* the whitelist lists acme for any role holder */
	expect(call("GET", "/api/v1/whitelist", S.acme_member, NULL, &out), 200, out, "whitelist");
	assert_int_equal(json_array_size(json_object_get(out, "items")), 1);
	assert_string_equal(tds_json_str(json_array_get(json_object_get(out, "items"), 0), "id", ""), S.acme);
	json_decref(out);
	/* every step is evidence */
	assert_int_equal(evidence("identity.org_registered", S.acme), 1);
	assert_int_equal(evidence("identity.org_verification_submitted", S.acme), 1);
	assert_int_equal(evidence("identity.org_verified", S.acme), 1);
	assert_int_equal(evidence("identity.role_applied", S.acme), 1);
	assert_int_equal(evidence("identity.role_granted", S.acme), 1);
	assert_int_equal(evidence("identity.qualification_approved", S.acme), 1);
	assert_int_equal(evidence("identity.member_added", S.acme), 2);
	/* the restricted member's restriction can be lifted by its admin */
	json_t *members = NULL;
	expect(call("GET", path, S.acme_admin, NULL, &members), 200, members, "member list");
	size_t i;
	json_t *m;
	json_array_foreach(json_object_get(members, "items"), i, m) {
		if (strcmp(tds_json_str(m, "username", ""), "acme-intern") != 0)
			continue;
		snprintf(path, sizeof path, "/api/v1/orgs/%s/members/%s/roles", S.acme, tds_json_str(m, "id", ""));
		expect(call("POST", path, S.acme_admin, "{\"roles\":null}", &out), 200, out, "lift restriction");
		json_decref(out);
	}
	json_decref(members);
	assert_roles(S.acme_intern, "provider");
	(void)tok;
}

static void test_bank_becomes_consumer(void **state)
{
	(void)state;
	json_t *out = NULL;
	char app[64], path[128], member[128];
	register_org("citybank", "示例城市商业银行", "bank", S.bank, S.bank_admin);
	submit_org(S.bank, S.bank_admin, "91370100780603055K");
	review_org(S.bank, admin, "approve", NULL, 200);
	apply_role(S.bank_admin, "consumer", app);
	expect(grant(app, admin, &out), 200, out, "grant consumer");
	json_decref(out);
	assert_roles(S.bank_admin, "consumer");
	snprintf(path, sizeof path, "/api/v1/orgs/%s/members", S.bank);
	expect(callf("POST", S.bank_admin, &out, path, "{\"username\":\"bank-risk\",\"password\":\"%s\"}", PW), 201, out,
	       "add member");
	json_decref(out);
	login("bank-risk", PW, member, sizeof member);
	assert_roles(member, "consumer");
	/* an organisation may hold several roles: the bank also applies as a developer */
	apply_role(S.bank_admin, "developer", app);
	expect(grant(app, admin, &out), 200, out, "grant developer");
	json_decref(out);
	assert_roles(member, "consumer,developer");
	/* applying twice for a held role, or while one is pending */
	expect(callf("POST", S.bank_admin, &out, "/api/v1/role-applications", "{\"role\":\"consumer\",\"justification\":\"再次申请\"}"),
	       409, out, "role held");
	expect_code(out, "role_held");
	json_decref(out);
}

static void test_regulator_and_platform_roles(void **state)
{
	(void)state;
	json_t *out = NULL;
	char app[64];
	register_org("market-regulator", "市场监督管理局", "government", S.regulator, S.regulator_admin);
	submit_org(S.regulator, S.regulator_admin, "11100000000013127D");
	review_org(S.regulator, admin, "approve", NULL, 200);
	apply_role(S.regulator_admin, "regulator", app);
	/* an operator who is not a node administrator cannot grant a platform role */
	expect(call("POST", "/api/v1/accounts", admin,
		    "{\"username\":\"reviewer1\",\"password\":\"correct horse battery staple\",\"roles\":[\"operator\"]}", &out),
	       201, out, "operator account");
	json_decref(out);
	expect(call("POST", "/api/v1/accounts", admin,
		    "{\"username\":\"auditor1\",\"password\":\"correct horse battery staple\",\"roles\":[\"auditor\"]}", &out),
	       201, out, "auditor account");
	json_decref(out);
	login("reviewer1", PW, S.operator_tok, sizeof S.operator_tok);
	login("auditor1", PW, S.auditor_tok, sizeof S.auditor_tok);
	size_t refused = evidence("identity.refused", S.regulator);
	expect(grant(app, S.operator_tok, &out), 403, out, "operator grants regulator");
	expect_code(out, "role_escalation");
	json_decref(out);
	assert_int_equal(evidence("identity.refused", S.regulator), refused + 1);
	expect(grant(app, admin, &out), 200, out, "admin grants regulator");
	json_decref(out);
	assert_roles(S.regulator_admin, "regulator");
	/* the regulator reads the registry and the evidence ledger */
	expect(call("GET", "/api/v1/orgs?status=verified", S.regulator_admin, NULL, &out), 200, out, "regulator lists orgs");
	assert_true(json_array_size(json_object_get(out, "items")) >= 3);
	json_decref(out);
	expect(call("GET", "/api/v1/ledger/search?type=identity.&limit=5", S.regulator_admin, NULL, &out), 200, out,
	       "regulator audits");
	json_decref(out);
	/* but it reviews nothing */
	char path[128];
	snprintf(path, sizeof path, "/api/v1/orgs/%s/review", S.acme);
	expect(call("POST", path, S.regulator_admin, "{\"decision\":\"reject\",\"reason\":\"x\"}", &out), 403, out,
	       "regulator reviews");
	json_decref(out);
}

static void test_rejected_org_gets_nothing(void **state)
{
	(void)state;
	json_t *out = NULL;
	char path[128];
	register_org("shell-co", "某空壳公司", "enterprise", S.rejected, S.rejected_admin);
	submit_org(S.rejected, S.rejected_admin, "91310110666007217T");
	review_org(S.rejected, admin, "reject", NULL, 400); /* a rejection needs a reason */
	review_org(S.rejected, admin, "reject", "营业执照与企业名称不符", 200);
	review_org(S.rejected, admin, "approve", NULL, 409); /* nothing left to review */
	snprintf(path, sizeof path, "/api/v1/orgs/%s", S.rejected);
	expect(call("GET", path, S.rejected_admin, NULL, &out), 200, out, "read rejected org");
	assert_string_equal(tds_json_str(out, "status", ""), "rejected");
	assert_string_equal(tds_json_str(out, "review_reason", ""), "营业执照与企业名称不符");
	json_decref(out);
	assert_roles(S.rejected_admin, "");
	expect(callf("POST", S.rejected_admin, &out, "/api/v1/role-applications", "{\"role\":\"consumer\",\"justification\":\"想用数据\"}"),
	       403, out, "rejected org applies");
	expect_code(out, "not_verified");
	json_decref(out);
	expect(call("GET", "/api/v1/whitelist", S.rejected_admin, NULL, &out), 403, out, "whitelist");
	json_decref(out);
	assert_int_equal(evidence("identity.org_rejected", S.rejected), 1);
	/* after a rejection another organisation may claim the code (the rejected claim does not hold it) */
	char other[64], other_tok[128];
	register_org("real-owner", "真实权利人有限公司", "enterprise", other, other_tok);
	submit_org(other, other_tok, "91310110666007217T");
}

static void test_person_onboarding(void **state)
{
	(void)state;
	json_t *out = NULL;
	char path[128], app[64];
	expect(callf("POST", NULL, &out, "/api/v1/persons", "{\"username\":\"wang.wu\",\"password\":\"%s\",\"display_name\":\"王五\"}", PW),
	       201, out, "register person");
	snprintf(S.person, sizeof S.person, "%s", tds_json_str(json_object_get(out, "person"), "id", ""));
	json_decref(out);
	login("wang.wu", PW, S.person_token, sizeof S.person_token);
	snprintf(path, sizeof path, "/api/v1/persons/%s/verification", S.person);
	expect(call("POST", path, S.person_token, "{\"real_name\":\"王五\",\"id_number\":\"110105194912310021\"}", &out), 400,
	       out, "bad check character");
	expect_code(out, "invalid_id_number");
	assert_null(strstr(tds_json_str(json_object_get(out, "error"), "message", ""), "1949")); /* never echoed */
	json_decref(out);
	expect(call("POST", path, S.person_token, "{\"real_name\":\"王五\",\"id_number\":\"11010519491231002X\"}", &out), 200,
	       out, "submit person");
	assert_string_equal(tds_json_str(out, "id_number_masked", ""), "110105********002X");
	assert_null(json_object_get(out, "id_number"));
	json_decref(out);
	snprintf(path, sizeof path, "/api/v1/persons/%s/review", S.person);
	expect(call("POST", path, admin, "{\"decision\":\"approve\"}", &out), 200, out, "approve person");
	json_decref(out);
	expect(call("POST", "/api/v1/role-applications", S.person_token,
		    "{\"role\":\"developer\",\"justification\":\"个人开发者参与数据产品开发\"}", &out),
	       201, out, "person applies");
	snprintf(app, sizeof app, "%s", tds_json_str(out, "id", ""));
	json_decref(out);
	expect(grant(app, admin, &out), 200, out, "grant developer");
	json_decref(out);
	assert_roles(S.person_token, "developer");
	/* the same number again: 409, and nobody else reads the record */
	char other[64], other_tok[128];
	expect(callf("POST", NULL, &out, "/api/v1/persons", "{\"username\":\"zhao.liu\",\"password\":\"%s\",\"display_name\":\"赵六\"}", PW),
	       201, out, "register person");
	snprintf(other, sizeof other, "%s", tds_json_str(json_object_get(out, "person"), "id", ""));
	json_decref(out);
	login("zhao.liu", PW, other_tok, sizeof other_tok);
	snprintf(path, sizeof path, "/api/v1/persons/%s/verification", other);
	expect(call("POST", path, other_tok, "{\"real_name\":\"赵六\",\"id_number\":\"11010519491231002X\"}", &out), 409, out,
	       "duplicate ID number");
	expect_code(out, "id_number_taken");
	json_decref(out);
	snprintf(path, sizeof path, "/api/v1/persons/%s", S.person);
	expect(call("GET", path, other_tok, NULL, &out), 403, out, "someone else's person record");
	json_decref(out);
	/* the log never holds the number */
	char cmd[512], *log = NULL;
	snprintf(cmd, sizeof cmd, "cat %s/tds.db* | grep -a -c 0519491231002X", node->dir);
	tn_run(cmd, &log);
	assert_int_equal(atoi(log), 0);
	free(log);
}

/* ---- refusals ---- */

static void test_self_review_refused(void **state)
{
	(void)state;
	json_t *out = NULL;
	char app[64], qual[64];
	/* a platform operations centre becomes an operator organisation */
	register_org("ops-center", "数据运营中心", "institution", S.ops, S.ops_admin);
	submit_org(S.ops, S.ops_admin, "91350500676532779B");
	review_org(S.ops, admin, "approve", NULL, 200);
	add_qualification(S.ops, S.ops_admin, 3, 700, "4e07408562bedb8b60ce05c1decfe3ad16b72230967de01f640b7e4729b49fce", qual);
	review_qualification(qual, admin, "approve", 200);
	apply_role(S.ops_admin, "operator", app);
	expect(grant(app, admin, &out), 200, out, "grant operator");
	json_decref(out);
	assert_roles(S.ops_admin, "operator");
	/* now a reviewer, it reviews others … */
	add_qualification(S.bank, S.bank_admin, 2, 365, "d4735e3a265e16eee03f59718b9b5d03019c07d8b6c51f90da3a666eec13ab35", qual);
	review_qualification(qual, S.ops_admin, "approve", 200);
	/* … but never its own organisation: qualification, role application */
	size_t refused = evidence("identity.refused", S.ops);
	add_qualification(S.ops, S.ops_admin, 3, 500, "ef2d127de37b942baad06145e54b0c619a1f22327b2ebbcfbec78f5564afe39d", qual);
	char path[128];
	snprintf(path, sizeof path, "/api/v1/qualifications/%s/review", qual);
	expect(call("POST", path, S.ops_admin, "{\"decision\":\"approve\"}", &out), 403, out, "own qualification");
	expect_code(out, "self_review");
	json_decref(out);
	apply_role(S.ops_admin, "consumer", app);
	expect(grant(app, S.ops_admin, &out), 403, out, "own role application");
	expect_code(out, "self_review");
	json_decref(out);
	snprintf(path, sizeof path, "/api/v1/orgs/%s/roles/operator/suspend", S.ops);
	expect(call("POST", path, S.ops_admin, "{\"reason\":\"自行暂停\"}", &out), 403, out, "own grant");
	expect_code(out, "self_review");
	json_decref(out);
	assert_int_equal(evidence("identity.refused", S.ops), refused + 3);
	/* another reviewer decides */
	expect(grant(app, admin, &out), 200, out, "admin grants");
	json_decref(out);
}

static void test_role_escalation_refused(void **state)
{
	(void)state;
	json_t *out = NULL;
	char path[128];
	size_t refused = evidence("identity.refused", NULL);
	/* an organisation admin creating a local admin account: the router refuses */
	expect(call("POST", "/api/v1/accounts", S.acme_admin,
		    "{\"username\":\"evil\",\"password\":\"correct horse battery staple\",\"roles\":[\"admin\"]}", &out),
	       403, out, "create admin");
	json_decref(out);
	/* a member given admin, applying for admin or node, an API key beyond one's roles */
	snprintf(path, sizeof path, "/api/v1/orgs/%s/members", S.acme);
	expect(callf("POST", S.acme_admin, &out, path, "{\"username\":\"acme-root\",\"password\":\"%s\",\"roles\":[\"admin\"]}", PW),
	       403, out, "member with admin");
	expect_code(out, "role_escalation");
	json_decref(out);
	expect(call("POST", "/api/v1/role-applications", S.acme_admin, "{\"role\":\"admin\",\"justification\":\"需要管理员\"}", &out),
	       403, out, "apply for admin");
	expect_code(out, "role_escalation");
	json_decref(out);
	expect(call("POST", "/api/v1/role-applications", S.acme_admin, "{\"role\":\"node\",\"justification\":\"需要节点身份\"}", &out),
	       403, out, "apply for node");
	json_decref(out);
	expect(call("POST", "/api/v1/api-keys", S.acme_member, "{\"name\":\"ci\",\"roles\":[\"operator\"]}", &out), 403, out,
	       "key beyond roles");
	expect_code(out, "role_escalation");
	json_decref(out);
	/* a provider granting itself roles or reviewing */
	expect(grant("rap_01JAAAAAAAAAAAAAAAAAAAAAAA", S.acme_admin, &out), 403, out, "provider grants");
	json_decref(out);
	snprintf(path, sizeof path, "/api/v1/orgs/%s/review", S.bank);
	expect(call("POST", path, S.acme_member, "{\"decision\":\"approve\"}", &out), 403, out, "provider reviews");
	json_decref(out);
	/* a member managing its own organisation's members */
	snprintf(path, sizeof path, "/api/v1/orgs/%s/members", S.acme);
	expect(callf("POST", S.acme_member, &out, path, "{\"username\":\"acme-x\",\"password\":\"%s\"}", PW), 403, out,
	       "member adds member");
	json_decref(out);
	/* an admin of one organisation managing another's */
	snprintf(path, sizeof path, "/api/v1/orgs/%s/members", S.bank);
	expect(call("GET", path, S.acme_admin, NULL, &out), 403, out, "another org's members");
	json_decref(out);
	assert_int_equal(evidence("identity.refused", NULL), refused + 4);
}

/* Every non-public route answers 401 without credentials (and without a body being read). */
static void test_unauthenticated_401(void **state)
{
	(void)state;
	json_t *routes = NULL;
	expect(call("GET", "/api/v1/routes", admin, NULL, &routes), 200, routes, "routes");
	/* routes that are public on purpose */
	static const char *const PUBLIC[] = {
	    "GET /healthz", "GET /metrics", "GET /api/v1/node", "GET /data/v1/node", "POST /api/v1/auth/login",
	    "POST /api/v1/orgs", "POST /api/v1/persons", "GET /api/v1/identity/permissions",
	    "GET /api/v1/ledger/checkpoint", "GET /api/v1/ledger/proof/consistency", "POST /api/v1/ledger/cosign",
	    "POST /api/v1/connectors/enroll",
	    "POST /api/v1/decisions", /* the token in the body is the credential (docs/contracts.md) */
	    "POST /api/v1/deliveries/{id}/receipt", /* the consumer's token or connector signature (docs/delivery.md) */
	};
	size_t i, checked = 0;
	json_t *r;
	json_array_foreach(json_object_get(routes, "items"), i, r) {
		char key[300], path[300];
		const char *method = tds_json_str(r, "method", ""), *pattern = tds_json_str(r, "path", "");
		snprintf(key, sizeof key, "%s %s", method, pattern);
		bool pub = false;
		for (size_t k = 0; k < TDS_ARRAY_LEN(PUBLIC); k++)
			pub = pub || strcmp(key, PUBLIC[k]) == 0;
		if (pub)
			continue;
		bool identity = strncmp(pattern, "/api/v1/ledger", 14) != 0 && strncmp(pattern, "/data/", 6) != 0 &&
				strcmp(pattern, "/api/v1/routes") != 0;
		if (json_array_size(json_object_get(r, "roles")) == 0 && !identity)
			continue; /* another module's public route */
		/* fill path parameters with well-formed ids */
		size_t o = 0;
		for (const char *p = pattern; *p && o < sizeof path - 40; p++) {
			if (*p == '{') {
				o += (size_t)snprintf(path + o, sizeof path - o, "%s",
						      strncmp(p, "{role}", 6) == 0 ? "provider" : "org_01JAAAAAAAAAAAAAAAAAAAAAAA");
				p = strchr(p, '}');
			} else {
				path[o++] = *p;
			}
		}
		path[o] = 0;
		json_t *out = NULL;
		const char *l = strcmp(tds_json_str(r, "listener", ""), "data") == 0 ? "data" : "api";
		long st = tn_call(node, strcmp(l, "api") == 0, method, path, NULL, "application/json",
				  strcmp(method, "POST") == 0 ? "{}" : NULL, strcmp(method, "POST") == 0 ? 2 : 0, &out);
		if (st != 401)
			fail_msg("%s (%s) without credentials answered %ld, expected 401", key, path, st);
		expect_code(out, "unauthenticated");
		json_decref(out);
		checked++;
	}
	json_decref(routes);
	assert_true(checked > 30);
}

/* Every identity route for principals of each role, against the permission matrix. */
enum { ANON, BASIC, ADMIN, OPERATOR, AUDITOR, PROVIDER, MEMBER, CONSUMER, REGULATOR, TARGET, NPRIN };
#define B(x) (1u << (x))
#define ALL 0x3ffu
#define ACC (ALL & ~B(ANON))
#define OVERSIGHT (B(ADMIN) | B(OPERATOR) | B(AUDITOR) | B(REGULATOR))
#define REVIEW (B(ADMIN) | B(OPERATOR))
#define ORGADMINS (B(BASIC) | B(PROVIDER) | B(CONSUMER) | B(REGULATOR) | B(TARGET))
#define ROLEHOLDERS (B(ADMIN) | B(OPERATOR) | B(AUDITOR) | B(PROVIDER) | B(MEMBER) | B(CONSUMER) | B(REGULATOR))

static void test_permission_matrix(void **state)
{
	(void)state;
	json_t *out = NULL;
	register_org("basic-co", "待认证公司", "enterprise", S.basic, S.basic_admin);
	register_org("target-co", "目标机构", "research", S.target, S.target_admin);
	submit_org(S.target, S.target_admin, "91510100350611266D");
	review_org(S.target, admin, "approve", NULL, 200);
	expect(callf("POST", NULL, &out, "/api/v1/persons", "{\"username\":\"target.person\",\"password\":\"%s\",\"display_name\":\"目标\"}", PW),
	       201, out, "target person");
	snprintf(S.target_person, sizeof S.target_person, "%s", tds_json_str(json_object_get(out, "person"), "id", ""));
	json_decref(out);
	const char *tok[NPRIN] = {NULL, S.basic_admin, admin, S.operator_tok, S.auditor_tok, S.acme_admin,
				  S.acme_member, S.bank_admin, S.regulator_admin, S.target_admin};
	static const char *const NAMES[NPRIN] = {"anon", "basic", "admin", "operator", "auditor", "provider",
						 "member", "consumer", "regulator", "target"};
	const char *D = "01JAAAAAAAAAAAAAAAAAAAAAAA"; /* a well-formed id that names nothing */
	struct {
		const char *method, *pattern;
		unsigned allowed;
	} routes[] = {
	    {"POST", "/api/v1/auth/login", ALL},
	    {"GET", "/api/v1/auth/whoami", ACC},
	    {"GET", "/api/v1/me", ACC},
	    {"POST", "/api/v1/me/password", ACC},
	    {"GET", "/api/v1/me/sessions", ACC},
	    {"DELETE", "/api/v1/me/sessions/ses_D", ACC},
	    {"GET", "/api/v1/identity/permissions", ALL},
	    {"POST", "/api/v1/identity/watch", REVIEW},
	    {"POST", "/api/v1/accounts", B(ADMIN)},
	    {"GET", "/api/v1/accounts", B(ADMIN)},
	    {"GET", "/api/v1/accounts/acc_D", B(ADMIN)},
	    {"POST", "/api/v1/accounts/acc_D/disable", B(ADMIN)},
	    {"POST", "/api/v1/accounts/acc_D/enable", B(ADMIN)},
	    {"POST", "/api/v1/api-keys", ACC},
	    {"GET", "/api/v1/api-keys", ACC},
	    {"DELETE", "/api/v1/api-keys/key_D", ACC},
	    {"POST", "/api/v1/orgs", ALL},
	    {"GET", "/api/v1/orgs", OVERSIGHT},
	    {"GET", "/api/v1/orgs/T", OVERSIGHT | B(TARGET)},
	    {"POST", "/api/v1/orgs/T/verification", B(TARGET)},
	    {"POST", "/api/v1/orgs/T/review", REVIEW},
	    {"GET", "/api/v1/orgs/T/members", OVERSIGHT | B(TARGET)},
	    {"POST", "/api/v1/orgs/T/members", B(TARGET)},
	    {"POST", "/api/v1/orgs/T/members/acc_D/disable", B(TARGET)},
	    {"POST", "/api/v1/orgs/T/members/acc_D/enable", B(TARGET)},
	    {"POST", "/api/v1/orgs/T/members/acc_D/roles", B(TARGET)},
	    {"GET", "/api/v1/orgs/T/qualifications", OVERSIGHT | B(TARGET)},
	    {"POST", "/api/v1/orgs/T/qualifications", B(TARGET)},
	    {"POST", "/api/v1/orgs/T/roles/provider/suspend", REVIEW},
	    {"POST", "/api/v1/orgs/T/roles/provider/restore", REVIEW},
	    {"POST", "/api/v1/persons", ALL},
	    {"GET", "/api/v1/persons", OVERSIGHT},
	    {"GET", "/api/v1/persons/P", OVERSIGHT},
	    {"POST", "/api/v1/persons/P/verification", 0},
	    {"POST", "/api/v1/persons/P/review", REVIEW},
	    {"POST", "/api/v1/role-applications", ORGADMINS},
	    {"GET", "/api/v1/role-applications", OVERSIGHT | ORGADMINS},
	    {"POST", "/api/v1/role-applications/rap_D/review", REVIEW},
	    {"GET", "/api/v1/qualifications", OVERSIGHT},
	    {"POST", "/api/v1/qualifications/qual_D/review", REVIEW},
	    {"GET", "/api/v1/whitelist", ROLEHOLDERS},
	    {"POST", "/api/v1/connectors", ORGADMINS},
	    {"GET", "/api/v1/connectors", ACC},
	    {"GET", "/api/v1/connectors/con_D", ACC},
	    {"POST", "/api/v1/connectors/con_D/review", REVIEW},
	    {"POST", "/api/v1/connectors/con_D/revoke", REVIEW},
	    {"POST", "/api/v1/connectors/enroll", ALL},
	    {"POST", "/api/v1/connectors/heartbeat", 0},
	    {"GET", "/api/v1/connectors/revocations", OVERSIGHT},
	    {"GET", "/api/v1/connectors/certificates/crt_D", OVERSIGHT},
	    {"POST", "/api/v1/node/enrollment", B(ADMIN)},
	};
	/* the table covers every identity route the node registers (logout is tested on its own) */
	json_t *reg = NULL;
	expect(call("GET", "/api/v1/routes", admin, NULL, &reg), 200, reg, "routes");
	size_t i, n_identity = 0;
	json_t *r;
	json_array_foreach(json_object_get(reg, "items"), i, r) {
		const char *pat = tds_json_str(r, "path", "");
		if (strncmp(pat, "/api/v1/", 8) != 0 || strncmp(pat, "/api/v1/ledger", 14) == 0 ||
		    strncmp(pat, "/api/v1/sources", 15) == 0 || /* catalog: its own tests */
		    strncmp(pat, "/api/v1/resource", 16) == 0 || /* resources and resource codes: catalog too */
		    strncmp(pat, "/api/v1/catalog", 15) == 0 || /* the fused catalog: test_fused, test_catalog_sync */
		    strncmp(pat, "/api/v1/product", 15) == 0 || /* products and product codes: catalog too */
		    strncmp(pat, "/api/v1/contract", 16) == 0 || /* contracts and templates: their own tests */
		    strncmp(pat, "/api/v1/order", 13) == 0 ||
		    strncmp(pat, "/api/v1/application", 19) == 0 || /* authorized operation: test_operation, test_operations */
		    strncmp(pat, "/api/v1/authorization", 21) == 0 ||
		    strncmp(pat, "/api/v1/violations", 18) == 0 || /* enforcement: test_enforce, test_contracts */
		    strcmp(pat, "/api/v1/decisions") == 0 || strncmp(pat, "/api/v1/enforcement", 19) == 0 ||
		    strncmp(pat, "/api/v1/deliveries", 18) == 0 || /* delivery: test_delivery, test_deliveries */
		    strcmp(pat, "/api/v1/node") == 0 || strcmp(pat, "/api/v1/routes") == 0 ||
		    strcmp(pat, "/api/v1/auth/logout") == 0)
			continue;
		n_identity++;
	}
	json_decref(reg);
	assert_int_equal(n_identity, TDS_ARRAY_LEN(routes));

	for (size_t k = 0; k < TDS_ARRAY_LEN(routes); k++) {
		/* T = the target organisation, P = the target person, D = an id naming nothing */
		char path[256];
		size_t o = 0;
		for (const char *p = routes[k].pattern; *p && o < sizeof path - 40; p++) {
			if (*p == 'T' && p[-1] == '/' && (p[1] == '/' || !p[1]))
				o += (size_t)snprintf(path + o, sizeof path - o, "%s", S.target);
			else if (*p == 'P' && p[-1] == '/' && (p[1] == '/' || !p[1]))
				o += (size_t)snprintf(path + o, sizeof path - o, "%s", S.target_person);
			else if (*p == 'D' && p[-1] == '_')
				o += (size_t)snprintf(path + o, sizeof path - o, "%s", D);
			else
				path[o++] = *p;
		}
		path[o] = 0;
		bool post = strcmp(routes[k].method, "POST") == 0;
		for (int who = 0; who < NPRIN; who++) {
			long st = tn_call(node, 1, routes[k].method, path, tok[who], post ? "application/json" : NULL,
					  post ? "{}" : NULL, post ? 2 : 0, &out);
			bool allowed = routes[k].allowed & B(who);
			bool denied = who == ANON ? st == 401 : st == 403;
			if (allowed == denied || st >= 500)
				fail_msg("%s %s as %s: HTTP %ld (%s) but the matrix says %s", routes[k].method, routes[k].pattern,
					 NAMES[who], st, tds_json_str(json_object_get(out, "error"), "code", "-"),
					 allowed ? "allow" : "deny");
			json_decref(out);
			out = NULL;
		}
	}
	/* the served matrix agrees for one principal */
	expect(call("GET", "/api/v1/identity/permissions", S.target_admin, NULL, &out), 200, out, "permissions");
	json_t *allowed = json_object_get(out, "allowed");
	bool has_verify = false, has_review = false;
	json_array_foreach(allowed, i, r) {
		has_verify = has_verify || strcmp(json_string_value(r), "org.verify") == 0;
		has_review = has_review || strcmp(json_string_value(r), "org.review") == 0;
	}
	assert_true(has_verify);
	assert_false(has_review);
	assert_non_null(json_object_get(json_object_get(out, "requirements"), "provider"));
	json_decref(out);
}

/* ---- user centre ---- */

static void test_login_throttling(void **state)
{
	(void)state;
	json_t *out = NULL;
	char tok[128];
	for (int i = 0; i < 5; i++) {
		expect(call("POST", "/api/v1/auth/login", NULL, "{\"username\":\"bank-risk\",\"password\":\"not the password\"}", &out),
		       401, out, "wrong password");
		expect_code(out, "invalid_credentials");
		json_decref(out);
	}
	/* now even the right password waits, with Retry-After */
	tds_http_client *c = tds_http_client_new(node->api, 10000);
	const char *h[] = {"Content-Type: application/json", NULL};
	char body[256];
	snprintf(body, sizeof body, "{\"username\":\"bank-risk\",\"password\":\"%s\"}", PW);
	tds_http_response r = {0};
	assert_int_equal(tds_http_client_do(c, "POST", "/api/v1/auth/login", h, body, strlen(body), &r), 0);
	assert_int_equal(r.status, 429);
	char retry[32] = "";
	assert_true(tds_http_response_header(&r, "Retry-After", retry, sizeof retry));
	assert_true(atoi(retry) > 800 && atoi(retry) <= 900);
	json_t *j = json_loadb(r.body.data, r.body.len, 0, NULL);
	expect_code(j, "too_many_attempts");
	assert_int_equal(tds_json_int(json_object_get(json_object_get(j, "error"), "details"), "retry_after_s", 0), atoi(retry));
	json_decref(j);
	tds_http_response_free(&r);
	tds_http_client_free(c);
	/* the failures are evidence; other users log in as usual */
	assert_true(evidence("identity.login_failed", NULL) >= 5);
	login("acme-analyst", PW, tok, sizeof tok);
	(void)tok;
}

static void test_password_change_ends_other_sessions(void **state)
{
	(void)state;
	json_t *out = NULL;
	char a[128], b[128], c2[128];
	login("acme-intern", PW, a, sizeof a);
	login("acme-intern", PW, b, sizeof b);
	expect(call("GET", "/api/v1/me/sessions", a, NULL, &out), 200, out, "sessions");
	assert_true(json_array_size(json_object_get(out, "items")) >= 3);
	json_decref(out);
	expect(call("POST", "/api/v1/me/password", a, "{\"old_password\":\"wrong old password\",\"new_password\":\"a brand new passphrase\"}", &out),
	       403, out, "wrong old password");
	expect_code(out, "wrong_password");
	json_decref(out);
	expect(callf("POST", a, &out, "/api/v1/me/password", "{\"old_password\":\"%s\",\"new_password\":\"short\"}", PW), 400, out,
	       "weak password");
	json_decref(out);
	expect(callf("POST", a, &out, "/api/v1/me/password", "{\"old_password\":\"%s\",\"new_password\":\"a brand new passphrase\"}", PW),
	       200, out, "change password");
	assert_true(tds_json_int(out, "sessions_ended", 0) >= 2);
	json_decref(out);
	expect(call("GET", "/api/v1/auth/whoami", b, NULL, &out), 401, out, "other session ended");
	json_decref(out);
	expect(call("GET", "/api/v1/auth/whoami", S.acme_intern, NULL, &out), 401, out, "older session ended");
	json_decref(out);
	expect(call("GET", "/api/v1/me/sessions", a, NULL, &out), 200, out, "this session lives");
	assert_int_equal(json_array_size(json_object_get(out, "items")), 1);
	assert_true(json_is_true(json_object_get(json_array_get(json_object_get(out, "items"), 0), "current")));
	json_decref(out);
	expect(callf("POST", NULL, &out, "/api/v1/auth/login", "{\"username\":\"acme-intern\",\"password\":\"%s\"}", PW), 401, out,
	       "old password");
	json_decref(out);
	login("acme-intern", "a brand new passphrase", c2, sizeof c2);
	/* ending one's own other session by id */
	expect(call("GET", "/api/v1/me/sessions", a, NULL, &out), 200, out, "sessions");
	char sid[64] = "", path[128];
	size_t i;
	json_t *s;
	json_array_foreach(json_object_get(out, "items"), i, s)
		if (!json_is_true(json_object_get(s, "current")))
			snprintf(sid, sizeof sid, "%s", tds_json_str(s, "id", ""));
	json_decref(out);
	snprintf(path, sizeof path, "/api/v1/me/sessions/%s", sid);
	expect(call("DELETE", path, a, NULL, &out), 200, out, "end session");
	json_decref(out);
	expect(call("GET", "/api/v1/auth/whoami", c2, NULL, &out), 401, out, "ended");
	json_decref(out);
	assert_true(evidence("identity.password_changed", NULL) >= 1);
	snprintf(S.acme_intern, sizeof S.acme_intern, "%s", a);
}

static void test_expired_api_key(void **state)
{
	(void)state;
	json_t *out = NULL;
	expect(call("POST", "/api/v1/api-keys", S.acme_member, "{\"name\":\"short-lived\",\"expires_in_s\":1}", &out), 201, out,
	       "key");
	char key[128];
	snprintf(key, sizeof key, "%s", tds_json_str(out, "key", ""));
	json_decref(out);
	assert_roles(key, "provider");
	struct timespec ts = {1, 300 * 1000 * 1000};
	nanosleep(&ts, NULL);
	expect(call("GET", "/api/v1/auth/whoami", key, NULL, &out), 401, out, "expired key");
	json_decref(out);
}

/* ---- bad input ---- */

static size_t count(const char *path)
{
	json_t *out = NULL;
	expect(call("GET", path, admin, NULL, &out), 200, out, path);
	size_t n = json_array_size(json_object_get(out, "items"));
	json_decref(out);
	return n;
}

static void test_bad_input(void **state)
{
	(void)state;
	size_t orgs = count("/api/v1/orgs?limit=500"), persons = count("/api/v1/persons?limit=500"),
	       apps = count("/api/v1/role-applications?limit=500"), quals = count("/api/v1/qualifications?limit=500"),
	       accounts = count("/api/v1/accounts?limit=500");
	size_t entries;
	{
		json_t *cp = NULL;
		expect(call("GET", "/api/v1/ledger/search?type=identity.org_&limit=500", admin, NULL, &cp), 200, cp, "search");
		entries = json_array_size(json_object_get(cp, "items"));
		json_decref(cp);
	}
	char person_tok[128];
	login("target.person", PW, person_tok, sizeof person_tok);
	char verify[128], pverify[128], quals_path[128], restrict_path[160], review[128], suspend[160], dup[256];
	snprintf(verify, sizeof verify, "/api/v1/orgs/%s/verification", S.basic);
	snprintf(pverify, sizeof pverify, "/api/v1/persons/%s/verification", S.target_person);
	snprintf(quals_path, sizeof quals_path, "/api/v1/orgs/%s/qualifications", S.acme);
	snprintf(restrict_path, sizeof restrict_path, "/api/v1/orgs/%s/members/acc_01JAAAAAAAAAAAAAAAAAAAAAAA/roles", S.acme);
	snprintf(review, sizeof review, "/api/v1/orgs/%s/review", S.basic);
	snprintf(suspend, sizeof suspend, "/api/v1/orgs/%s/roles/emperor/suspend", S.acme);
	snprintf(dup, sizeof dup, "{\"uscc\":\"91350100M000100Y43\",\"legal_rep\":\"冒名者\",\"licence_hash\":\"%s\"}", HASH1);
	char from[11], to[11], past[11];
	date_in(-10, from);
	date_in(100, to);
	date_in(-1, past);
	char q_bad_type[512], q_level[512], q_iso_level[512], q_date[512], q_order[512], q_expired[512], q_hash[512],
	    q_noname[512], q_dup[512];
#define QUAL(buf, type, extra, f, t, h)                                                                              \
	snprintf(buf, sizeof buf,                                                                                    \
		 "{\"type\":\"%s\"%s,\"issuer\":\"某机构\",\"valid_from\":\"%s\",\"valid_to\":\"%s\",\"doc_hash\":\"%s\"}", \
		 type, extra, f, t, h)
	QUAL(q_bad_type, "iso9001", "", from, to, "aa86b273ff34fce19d6b804eff5a3f5747ada4eaa22f1d49c01e52ddb7875b4b");
	QUAL(q_level, "dengbao", ",\"level\":5", from, to, "ab86b273ff34fce19d6b804eff5a3f5747ada4eaa22f1d49c01e52ddb7875b4b");
	QUAL(q_iso_level, "iso27701", ",\"level\":2", from, to, "ac86b273ff34fce19d6b804eff5a3f5747ada4eaa22f1d49c01e52ddb7875b4b");
	QUAL(q_date, "dengbao", ",\"level\":2", from, "2026-02-30", "ad86b273ff34fce19d6b804eff5a3f5747ada4eaa22f1d49c01e52ddb7875b4b");
	QUAL(q_order, "dengbao", ",\"level\":2", to, from, "ae86b273ff34fce19d6b804eff5a3f5747ada4eaa22f1d49c01e52ddb7875b4b");
	QUAL(q_expired, "dengbao", ",\"level\":2", from, past, "af86b273ff34fce19d6b804eff5a3f5747ada4eaa22f1d49c01e52ddb7875b4b");
	QUAL(q_hash, "dengbao", ",\"level\":2", from, to, "../../etc/passwd");
	QUAL(q_noname, "industry_licence", "", from, to, "b086b273ff34fce19d6b804eff5a3f5747ada4eaa22f1d49c01e52ddb7875b4b");
	QUAL(q_dup, "dengbao", ",\"level\":3", from, to, HASH1);
#undef QUAL
	const char *acme = S.acme_admin, *basic = S.basic_admin, *pers = person_tok;
	struct {
		const char *method, *path, *token, *ctype, *body;
		long status;
		const char *code;
	} cases[] = {
	    /* registration */
	    {"POST", "/api/v1/orgs", NULL, "application/json", "{\"username\":", 400, "invalid_json"},
	    {"POST", "/api/v1/orgs", NULL, "application/json", "[1,2]", 400, NULL},
	    {"POST", "/api/v1/orgs", NULL, "application/json", "{\"username\":5,\"password\":\"correct horse battery\",\"name\":\"x\",\"type\":\"bank\"}", 400, "invalid_field"},
	    {"POST", "/api/v1/orgs", NULL, "application/json", "{\"username\":\"zz1\",\"password\":\"correct horse battery\",\"name\":\"x\",\"type\":\"bank\",\"verified\":true}", 400, "unknown_field"},
	    {"POST", "/api/v1/orgs", NULL, "application/json", "{\"username\":\"zz2\",\"password\":\"correct horse battery\",\"name\":\"x\",\"type\":\"spaceship\"}", 400, "invalid_org_type"},
	    {"POST", "/api/v1/orgs", NULL, "application/json", "{\"username\":\"zz3\",\"password\":\"correct horse battery\",\"name\":\"\",\"type\":\"bank\"}", 400, "invalid_field"},
	    {"POST", "/api/v1/orgs", NULL, "application/json", "{\"username\":\"zz4\",\"password\":\"correct horse battery\",\"name\":\"a\\u0007b\",\"type\":\"bank\"}", 400, "invalid_field"},
	    {"POST", "/api/v1/orgs", NULL, "application/json", "{\"username\":\"acme\",\"password\":\"correct horse battery\",\"name\":\"x\",\"type\":\"bank\"}", 409, "username_taken"},
	    {"POST", "/api/v1/orgs", NULL, "text/plain", "{\"username\":\"zz5\",\"password\":\"correct horse battery\",\"name\":\"x\",\"type\":\"bank\"}", 415, "unsupported_media_type"},
	    {"POST", "/api/v1/persons", NULL, "application/json", "{\"username\":\"zz6\",\"password\":\"correct horse battery\"}", 400, "missing_field"},
	    {"POST", "/api/v1/persons", NULL, "application/json", "{\"username\":\"../x\",\"password\":\"correct horse battery\",\"display_name\":\"x\"}", 400, "invalid_username"},
	    /* real-name information */
	    {"POST", verify, basic, "application/json", "{\"uscc\":\"91350100m000100Y43\",\"legal_rep\":\"张三\",\"licence_hash\":\"6b86b273ff34fce19d6b804eff5a3f5747ada4eaa22f1d49c01e52ddb7875b4b\"}", 400, "invalid_uscc"},
	    {"POST", verify, basic, "application/json", "{\"uscc\":\"91350100M000100Y4\",\"legal_rep\":\"张三\",\"licence_hash\":\"6b86b273ff34fce19d6b804eff5a3f5747ada4eaa22f1d49c01e52ddb7875b4b\"}", 400, "invalid_uscc"},
	    {"POST", verify, basic, "application/json", "{\"uscc\":\"91350100I000100Y43\",\"legal_rep\":\"张三\",\"licence_hash\":\"6b86b273ff34fce19d6b804eff5a3f5747ada4eaa22f1d49c01e52ddb7875b4b\"}", 400, "invalid_uscc"},
	    {"POST", verify, basic, "application/json", "{\"uscc\":\"91350100M0001TGQXM\",\"legal_rep\":\"张三\",\"licence_hash\":\"6b86b273ff34fce19d6b804eff5a3f5747ada4eaa22f1d49c01e52ddb7875b4b\"}", 400, "invalid_uscc"},
	    {"POST", verify, basic, "application/json", "{\"uscc\":\"91510100MA6BKY6U36\",\"legal_rep\":\"张三\",\"licence_hash\":\"xyz\"}", 400, "invalid_document_hash"},
	    {"POST", verify, basic, "application/json", "{\"uscc\":918,\"legal_rep\":\"张三\",\"licence_hash\":\"xyz\"}", 400, "invalid_field"},
	    {"POST", verify, basic, "application/json", "{\"uscc\":\"91510100MA6BKY6U36\",\"legal_rep\":\"张三\",\"licence_hash\":\"6b86b273ff34fce19d6b804eff5a3f5747ada4eaa22f1d49c01e52ddb7875b4b\",\"status\":\"verified\"}", 400, "unknown_field"},
	    {"POST", verify, basic, "application/json", dup, 409, "uscc_taken"},
	    {"POST", pverify, pers, "application/json", "{\"real_name\":\"目标\",\"id_number\":\"11010119900307299x\"}", 400, "invalid_id_number"},
	    {"POST", pverify, pers, "application/json", "{\"real_name\":\"目标\",\"id_number\":\"1101011990030729\"}", 400, "invalid_id_number"},
	    {"POST", pverify, pers, "application/json", "{\"real_name\":\"目标\",\"id_number\":\"440524188001010014\"}", 400, "invalid_id_number"},
	    {"POST", pverify, pers, "application/json", "{\"real_name\":\"目标\",\"id_number\":\"11010119900307299X\",\"x\":1}", 400, "unknown_field"},
	    {"POST", pverify, pers, "application/json", "{\"real_name\":\"目标\",\"id_number\":11010119900307299}", 400, "invalid_field"},
	    /* reviews */
	    {"POST", review, admin, "application/json", "{\"decision\":\"maybe\"}", 400, "invalid_decision"},
	    {"POST", review, admin, "application/json", "{\"decision\":\"approve\",\"notes\":\"x\"}", 400, "unknown_field"},
	    {"POST", review, admin, "application/json", "{\"decision\":\"approve\"}", 409, "not_submitted"},
	    {"POST", "/api/v1/role-applications/not-an-id/review", admin, "application/json", "{\"decision\":\"approve\"}", 400, "invalid_id"},
	    {"POST", "/api/v1/role-applications/rap_01JAAAAAAAAAAAAAAAAAAAAAAA/review", admin, "application/json", "{\"decision\":\"approve\"}", 404, "application_not_found"},
	    {"POST", "/api/v1/qualifications/qual_..%2F..%2Fx/review", admin, "application/json", "{\"decision\":\"approve\"}", 400, NULL},
	    /* role applications */
	    {"POST", "/api/v1/role-applications", acme, "application/json", "{\"role\":\"emperor\",\"justification\":\"x\"}", 400, "invalid_role"},
	    {"POST", "/api/v1/role-applications", acme, "application/json", "{\"role\":\"service\",\"justification\":\"数据经纪\"}", 400, "invalid_service_type"},
	    {"POST", "/api/v1/role-applications", acme, "application/json", "{\"role\":\"service\",\"justification\":\"数据经纪\",\"service_type\":\"trading\"}", 400, "invalid_service_type"},
	    {"POST", "/api/v1/role-applications", acme, "application/json", "{\"role\":\"consumer\",\"justification\":\"x\",\"service_type\":\"custody\"}", 400, "invalid_service_type"},
	    {"POST", "/api/v1/role-applications", acme, "application/json", "{\"role\":\"consumer\",\"justification\":\"\"}", 400, "invalid_field"},
	    {"POST", "/api/v1/role-applications", acme, "application/json", "{\"role\":\"consumer\",\"justification\":7}", 400, "invalid_field"},
	    {"POST", "/api/v1/role-applications", acme, "application/json", "{\"role\":\"consumer\",\"justification\":\"x\",\"granted\":true}", 400, "unknown_field"},
	    {"POST", "/api/v1/role-applications", acme, "application/json", "{\"role\":\"provider\",\"justification\":\"再次\"}", 409, "role_held"},
	    /* qualifications */
	    {"POST", quals_path, acme, "application/json", q_bad_type, 400, "invalid_qualification_type"},
	    {"POST", quals_path, acme, "application/json", q_level, 400, "invalid_level"},
	    {"POST", quals_path, acme, "application/json", q_iso_level, 400, "invalid_level"},
	    {"POST", quals_path, acme, "application/json", q_date, 400, "invalid_date"},
	    {"POST", quals_path, acme, "application/json", q_order, 400, "invalid_validity"},
	    {"POST", quals_path, acme, "application/json", q_expired, 422, "qualification_expired"},
	    {"POST", quals_path, acme, "application/json", q_hash, 400, "invalid_document_hash"},
	    {"POST", quals_path, acme, "application/json", q_noname, 400, "missing_field"},
	    {"POST", quals_path, acme, "application/json", q_dup, 409, "qualification_exists"},
	    /* members */
	    {"POST", restrict_path, acme, "application/json", "{\"roles\":[\"emperor\"]}", 400, "invalid_role"},
	    {"POST", restrict_path, acme, "application/json", "{\"roles\":\"provider\"}", 400, "invalid_role"},
	    {"POST", restrict_path, acme, "application/json", "{}", 400, "missing_field"},
	    {"POST", restrict_path, acme, "application/json", "{\"roles\":[\"provider\"]}", 404, "member_not_found"},
	    {"POST", suspend, admin, "application/json", "{\"reason\":\"x\"}", 400, "invalid_role"},
	    /* ids in paths */
	    {"GET", "/api/v1/orgs/..%2F..%2Fetc%2Fpasswd", admin, NULL, NULL, 400, NULL},
	    {"GET", "/api/v1/orgs/org_%00", admin, NULL, NULL, 400, NULL},
	    {"GET", "/api/v1/orgs/not-an-id", admin, NULL, NULL, 400, "invalid_id"},
	    {"GET", "/api/v1/orgs/psn_01JAAAAAAAAAAAAAAAAAAAAAAA", admin, NULL, NULL, 400, "invalid_id"},
	    {"GET", "/api/v1/orgs/org_01JAAAAAAAAAAAAAAAAAAAAAAA", admin, NULL, NULL, 404, "org_not_found"},
	    {"GET", "/api/v1/persons/psn_x", admin, NULL, NULL, 400, "invalid_id"},
	    {"GET", "/api/v1/orgs/..%2F/members", admin, NULL, NULL, 400, NULL},
	    /* lists */
	    {"GET", "/api/v1/orgs?status=bogus", admin, NULL, NULL, 400, "invalid_status"},
	    {"GET", "/api/v1/orgs?limit=0", admin, NULL, NULL, 400, NULL},
	    {"GET", "/api/v1/orgs?cursor=..%2F", admin, NULL, NULL, 400, NULL},
	    {"GET", "/api/v1/role-applications?holder=..%2Fx", admin, NULL, NULL, 400, "invalid_id"},
	    {"GET", "/api/v1/qualifications?status=valid", admin, NULL, NULL, 400, "invalid_status"},
	    {"GET", "/api/v1/qualifications?org=org_1", admin, NULL, NULL, 400, "invalid_id"},
	    {"GET", "/api/v1/whitelist?limit=100000", admin, NULL, NULL, 400, NULL},
	    /* user centre and the watch */
	    {"POST", "/api/v1/me/password", acme, "application/json", "{\"old_password\":\"x\",\"new_password\":\"y\",\"hint\":1}", 400, "unknown_field"},
	    {"POST", "/api/v1/identity/watch", admin, "application/json", "{\"at\":\"yesterday\"}", 400, "invalid_time"},
	    {"POST", "/api/v1/identity/watch", admin, "application/json", "{\"at\":\"2000-01-01T00:00:00Z\"}", 400, "invalid_time"},
	    {"POST", "/api/v1/identity/watch", S.operator_tok, "application/json", "{\"at\":\"2100-01-01T00:00:00Z\"}", 403, "forbidden"},
	    {"DELETE", "/api/v1/me/sessions/not-a-session", acme, NULL, NULL, 400, "invalid_id"},
	};
	for (size_t i = 0; i < TDS_ARRAY_LEN(cases); i++) {
		json_t *out = NULL;
		long st = tn_call(node, 1, cases[i].method, cases[i].path, cases[i].token, cases[i].ctype, cases[i].body,
				  cases[i].body ? strlen(cases[i].body) : 0, &out);
		if (st != cases[i].status)
			fail_msg("case %zu %s %s: HTTP %ld, expected %ld (%s: %s)", i, cases[i].method, cases[i].path, st,
				 cases[i].status, tds_json_str(json_object_get(out, "error"), "code", "-"),
				 tds_json_str(json_object_get(out, "error"), "message", "-"));
		if (cases[i].code)
			expect_code(out, cases[i].code);
		else
			assert_non_null(json_object_get(out, "error"));
		json_decref(out);
	}
	/* nothing changed */
	assert_int_equal(count("/api/v1/orgs?limit=500"), orgs);
	assert_int_equal(count("/api/v1/persons?limit=500"), persons);
	assert_int_equal(count("/api/v1/role-applications?limit=500"), apps);
	assert_int_equal(count("/api/v1/qualifications?limit=500"), quals);
	assert_int_equal(count("/api/v1/accounts?limit=500"), accounts);
	json_t *cp = NULL;
	expect(call("GET", "/api/v1/ledger/search?type=identity.org_&limit=500", admin, NULL, &cp), 200, cp, "search");
	assert_int_equal(json_array_size(json_object_get(cp, "items")), entries);
	json_decref(cp);
	json_t *o = NULL;
	char path[128];
	snprintf(path, sizeof path, "/api/v1/orgs/%s", S.basic);
	expect(call("GET", path, admin, NULL, &o), 200, o, "basic org");
	assert_string_equal(tds_json_str(o, "status", ""), "registered");
	json_decref(o);
}

/* ---- the qualification watch ---- */

static void test_qualification_expiry_suspends_role(void **state)
{
	(void)state;
	json_t *out = NULL;
	char at[TDS_TIME_MAX], body[128];
	/* acme's 等保 certificate ends in 20 days: the watch warned about it (the permission-matrix test
	 * ran it already), once */
	size_t i;
	json_t *w;
	expect(call("POST", "/api/v1/identity/watch", S.operator_tok, "{}", &out), 200, out, "watch");
	json_array_foreach(json_object_get(out, "warned"), i, w) assert_string_not_equal(tds_json_str(w, "id", ""), S.acme_qual);
	json_decref(out);
	assert_int_equal(evidence("identity.qualification_expiring", S.acme), 1);
	/* 22 days on (an administrator rehearses the date): expired, and the provider role suspended */
	tds_time_format(tds_now_ms() + 22 * DAY_MS, at);
	snprintf(body, sizeof body, "{\"at\":\"%s\"}", at);
	expect(call("POST", "/api/v1/identity/watch", admin, body, &out), 200, out, "watch at +22 days");
	bool suspended = false;
	json_array_foreach(json_object_get(out, "suspended"), i, w) suspended = suspended ||
		(strcmp(tds_json_str(w, "holder", ""), S.acme) == 0 && strcmp(tds_json_str(w, "role", ""), "provider") == 0);
	assert_true(suspended);
	json_decref(out);
	assert_roles(S.acme_admin, "");
	assert_roles(S.acme_member, "");
	assert_int_equal(evidence("identity.watch_rehearsed", NULL), 1);
	assert_int_equal(evidence("identity.qualification_expired", S.acme), 1);
	assert_int_equal(evidence("identity.role_suspended", S.acme), 1);
	expect(call("GET", "/api/v1/whitelist", S.bank_admin, NULL, &out), 200, out, "whitelist");
	json_array_foreach(json_object_get(out, "items"), i, w) assert_string_not_equal(tds_json_str(w, "id", ""), S.acme);
	json_decref(out);
	char path[128];
	snprintf(path, sizeof path, "/api/v1/orgs/%s", S.acme);
	expect(call("GET", path, admin, NULL, &out), 200, out, "org");
	json_t *g = json_array_get(json_object_get(out, "roles"), 0);
	assert_string_equal(tds_json_str(g, "status", ""), "suspended");
	assert_string_equal(tds_json_str(g, "suspended_reason", ""), "qualification");
	json_decref(out);
	/* a renewed certificate, once approved, restores the role at once */
	char qual[64];
	add_qualification(S.acme, S.acme_admin, 3, 400, "2c624232cdd221771294dfbb310aca000a0df6ac8b66b696d90ef06fdefb64a3", qual);
	review_qualification(qual, S.ops_admin, "approve", 200);
	assert_roles(S.acme_member, "provider");
	assert_int_equal(evidence("identity.role_restored", S.acme), 1);
	/* a revocation suspends it at once */
	review_qualification(qual, admin, "revoke", 200);
	assert_roles(S.acme_member, "");
}

/* ---- the CLI ---- */

static int cli(const char *token, const char *args, json_t **out)
{
	char cmd[2048], *o = NULL;
	snprintf(cmd, sizeof cmd, "TDS_PASSWORD='%s' %s/tds --node %s %s%s %s --json 2>/dev/null", PW, tn_bin_dir(), node->api,
		 token ? "--token " : "", token ? token : "", args);
	int st = tn_run(cmd, &o);
	if (out)
		*out = json_loads(o, 0, NULL);
	free(o);
	return st;
}

static void test_cli_verbs(void **state)
{
	(void)state;
	json_t *out = NULL;
	char args[1024], org[64], tok[128], app[64];
	assert_int_equal(cli(NULL, "org register --username cli-co --name 命令行公司 --type insurer", &out), 0);
	snprintf(org, sizeof org, "%s", tds_json_str(json_object_get(out, "org"), "id", ""));
	json_decref(out);
	assert_true(tds_id_valid(org, "org"));
	login("cli-co", PW, tok, sizeof tok);
	snprintf(args, sizeof args, "org verify %s --uscc 91330101589882738D --legal-rep 赵六 --licence-hash %s", org, HASH1);
	assert_int_equal(cli(tok, args, &out), 0);
	json_decref(out);
	snprintf(args, sizeof args, "org review %s --decision approve", org);
	assert_int_equal(cli(tok, args, &out), 1); /* not a reviewer */
	json_decref(out);
	assert_int_equal(cli(admin, args, &out), 0);
	assert_string_equal(tds_json_str(out, "status", ""), "verified");
	json_decref(out);
	snprintf(args, sizeof args, "org show %s", org);
	assert_int_equal(cli(tok, args, &out), 0);
	json_decref(out);
	assert_int_equal(cli(tok, "role apply --role consumer --justification 保险理赔核验", &out), 0);
	snprintf(app, sizeof app, "%s", tds_json_str(out, "id", ""));
	json_decref(out);
	assert_int_equal(cli(admin, "role list --status pending", &out), 0);
	assert_true(json_array_size(json_object_get(out, "items")) >= 1);
	json_decref(out);
	snprintf(args, sizeof args, "role grant %s --reason 同意", app);
	assert_int_equal(cli(admin, args, &out), 0);
	assert_string_equal(tds_json_str(out, "status", ""), "granted");
	json_decref(out);
	snprintf(args, sizeof args, "member add %s --username cli-co-ops", org);
	assert_int_equal(cli(tok, args, &out), 0);
	json_decref(out);
	snprintf(args, sizeof args, "member list %s --limit 10", org);
	assert_int_equal(cli(tok, args, &out), 0);
	assert_int_equal(json_array_size(json_object_get(out, "items")), 2);
	json_decref(out);
	char from[11], to[11];
	date_in(-1, from);
	date_in(200, to);
	snprintf(args, sizeof args,
		 "qualification add %s --type iso27701 --issuer 中国网络安全审查认证和市场监管大数据中心 --valid-from %s --valid-to %s "
		 "--doc-hash d4735e3a265e16eee03f59718b9b5d03019c07d8b6c51f90da3a666eec13ab35",
		 org, from, to);
	assert_int_equal(cli(tok, args, &out), 0);
	char qual[64];
	snprintf(qual, sizeof qual, "%s", tds_json_str(out, "id", ""));
	json_decref(out);
	snprintf(args, sizeof args, "qualification review %s --decision approve", qual);
	assert_int_equal(cli(admin, args, &out), 0);
	json_decref(out);
	snprintf(args, sizeof args, "qualification list --org %s --status approved", org);
	assert_int_equal(cli(admin, args, &out), 0);
	assert_int_equal(json_array_size(json_object_get(out, "items")), 1);
	json_decref(out);
	assert_int_equal(cli(tok, "whitelist", &out), 0);
	json_decref(out);
	/* bad usage: exit 2 */
	assert_int_equal(cli(admin, "org show", NULL), 2);
	assert_int_equal(cli(admin, "org show ../../etc", NULL), 2);
	assert_int_equal(cli(admin, "role apply --role a --role b --justification x", NULL), 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_enterprise_becomes_provider),
	    cmocka_unit_test(test_bank_becomes_consumer),
	    cmocka_unit_test(test_regulator_and_platform_roles),
	    cmocka_unit_test(test_rejected_org_gets_nothing),
	    cmocka_unit_test(test_person_onboarding),
	    cmocka_unit_test(test_self_review_refused),
	    cmocka_unit_test(test_role_escalation_refused),
	    cmocka_unit_test(test_unauthenticated_401),
	    cmocka_unit_test(test_permission_matrix),
	    cmocka_unit_test(test_login_throttling),
	    cmocka_unit_test(test_password_change_ends_other_sessions),
	    cmocka_unit_test(test_expired_api_key),
	    cmocka_unit_test(test_bad_input),
	    cmocka_unit_test(test_qualification_expiry_suspends_role),
	    cmocka_unit_test(test_cli_verbs),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
