/*
 * test_identity.c — identity without HTTP: the check-character validators against published valid
 * and invalid codes (and every single-character corruption of the valid ones), dates, document
 * hashes, the requirements spec, the permission matrix against docs/identity.md, and the domain on a
 * real store and ledger: effective roles of basic, verified and restricted accounts, self review and
 * escalation refused with evidence, and the qualification watch driven by an explicit clock.
 */
#include "crypto/crypto.h"
#include "identity/identity.h"
#include "ledger/ledger.h"
#include "store/store.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define DAY_MS (24LL * 3600 * 1000)

/* ------------------------------------------------------------------------------------------------
 * Published examples. Each was checked against the algorithm before being used here.
 * ---------------------------------------------------------------------------------------------- */

/* Unified social credit codes printed as valid examples in open-source validators' tests and
 * documentation (hutool's Validator/CreditCodeUtil tests and docs, base-tools, …). */
static const char *const USCC_VALID[] = {
    "91350100M000100Y43", "91370100780603055K", "91310110666007217T", "91350500676532779B",
    "91510100350611266D", "91330101589882738D", "91510100MA6BKY6U36",
};
/* Real codes from early pilot regions (published as non-conforming by the id-rule project): the
 * standard's algorithm gives another check character (1, R, J), so they are refused. */
static const char *const USCC_PILOT_NONCONFORMING[] = {
    "91350100M0001TGQXM", "91350211M0000XUF46", "91350203M0001FUE2P",
};
/* Resident ID numbers: GB 11643-1999's own sample (11010519491231002X), and valid examples used in
 * open-source validators' tests (hutool's IdcardUtil tests). */
static const char *const ID_VALID[] = {
    "11010519491231002X", "11010119900307299X", "371724201006052210", "110101199003074477",
    "430102197606046442",
};

static void test_uscc_valid(void **state)
{
	(void)state;
	for (size_t i = 0; i < TDS_ARRAY_LEN(USCC_VALID); i++) {
		if (tds_identity_check_uscc(USCC_VALID[i], 18) != 0)
			fail_msg("%s refused: %s", USCC_VALID[i], tds_error_message());
	}
	for (size_t i = 0; i < TDS_ARRAY_LEN(USCC_PILOT_NONCONFORMING); i++) {
		assert_int_equal(tds_identity_check_uscc(USCC_PILOT_NONCONFORMING[i], 18), TDS_EINVAL);
		assert_string_equal(tds_error_name(), "invalid_uscc");
		assert_non_null(strstr(tds_error_message(), "check character"));
	}
}

/* Every single-character substitution (any byte) of every valid code is refused, and the message
 * never echoes the code. */
static void test_uscc_every_corruption(void **state)
{
	(void)state;
	size_t tried = 0;
	for (size_t i = 0; i < TDS_ARRAY_LEN(USCC_VALID); i++) {
		for (size_t pos = 0; pos < 18; pos++) {
			for (int b = 1; b < 256; b++) {
				char c[19];
				memcpy(c, USCC_VALID[i], 19);
				if ((unsigned char)c[pos] == b)
					continue;
				c[pos] = (char)b;
				if (tds_identity_check_uscc(c, 18) != TDS_EINVAL)
					fail_msg("corruption of %s at %zu to 0x%02x accepted", USCC_VALID[i], pos + 1, b);
				assert_null(strstr(tds_error_message(), USCC_VALID[i] + 8));
				tried++;
			}
		}
	}
	assert_int_equal(tried, TDS_ARRAY_LEN(USCC_VALID) * 18 * 254);
}

static void test_uscc_errors(void **state)
{
	(void)state;
	struct {
		const char *code;
		size_t len;
		const char *needle;
	} cases[] = {
	    {"91350100m000100Y43", 18, "lower-case"},
	    {"91350100M000100y43", 18, "lower-case"},
	    {"91350100M000100Y4", 17, "exactly 18"},
	    {"91350100M000100Y433", 19, "exactly 18"},
	    {"", 0, "exactly 18"},
	    {"91350100I000100Y43", 18, "never I, O, S, V or Z"},
	    {"91350100O000100Y43", 18, "not allowed"},
	    {"9135010-M000100Y43", 18, "not allowed"},
	    {"91350100M000100Y4\xe4", 18, "not allowed"},
	    {"91350100M000100Y42", 18, "check character"},
	};
	for (size_t i = 0; i < TDS_ARRAY_LEN(cases); i++) {
		assert_int_equal(tds_identity_check_uscc(cases[i].code, cases[i].len), TDS_EINVAL);
		assert_string_equal(tds_error_name(), "invalid_uscc");
		if (!strstr(tds_error_message(), cases[i].needle))
			fail_msg("case %zu: '%s' lacks '%s'", i, tds_error_message(), cases[i].needle);
	}
	/* a NUL inside the 18 bytes is not a character */
	assert_int_equal(tds_identity_check_uscc("91350100M000100Y\0" "3", 18), TDS_EINVAL);
	assert_int_equal(tds_identity_check_uscc(NULL, 18), TDS_EINVAL);
}

static void test_id_number_valid(void **state)
{
	(void)state;
	for (size_t i = 0; i < TDS_ARRAY_LEN(ID_VALID); i++)
		if (tds_identity_check_resident_id(ID_VALID[i], 18, 0) != 0)
			fail_msg("%s refused: %s", ID_VALID[i], tds_error_message());
	char m[19];
	tds_identity_mask_resident_id("11010519491231002X", m);
	assert_string_equal(m, "110105********002X");
}

static void test_id_number_every_corruption(void **state)
{
	(void)state;
	for (size_t i = 0; i < TDS_ARRAY_LEN(ID_VALID); i++)
		for (size_t pos = 0; pos < 18; pos++)
			for (int b = 1; b < 256; b++) {
				char c[19];
				memcpy(c, ID_VALID[i], 19);
				if ((unsigned char)c[pos] == b)
					continue;
				c[pos] = (char)b;
				if (tds_identity_check_resident_id(c, 18, 0) != TDS_EINVAL)
					fail_msg("corruption of %s at %zu to 0x%02x accepted", ID_VALID[i], pos + 1, b);
				assert_string_equal(tds_error_name(), "invalid_id_number");
				assert_null(strstr(tds_error_message(), "1949"));
			}
}

/* The check character of 17 digits (to build numbers with chosen birth dates). */
static char id_check(const char *d17)
{
	static const int w[17] = {7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2};
	int s = 0;
	for (int i = 0; i < 17; i++)
		s += (d17[i] - '0') * w[i];
	return "10X98765432"[s % 11];
}

static void expect_id(const char *d17, int64_t now, int rc, const char *needle)
{
	char id[19];
	memcpy(id, d17, 17);
	id[17] = id_check(d17);
	id[18] = 0;
	assert_int_equal(tds_identity_check_resident_id(id, 18, now), rc);
	if (rc && !strstr(tds_error_message(), needle))
		fail_msg("'%s' lacks '%s'", tds_error_message(), needle);
}

static void test_id_number_errors(void **state)
{
	(void)state;
	int64_t now;
	assert_int_equal(tds_time_parse("2026-06-15T12:00:00+08:00", &now), 0);
	assert_int_equal(tds_identity_check_resident_id("11010519491231002x", 18, 0), TDS_EINVAL);
	assert_non_null(strstr(tds_error_message(), "upper case"));
	assert_int_equal(tds_identity_check_resident_id("11010519491231002", 17, 0), TDS_EINVAL);
	assert_int_equal(tds_identity_check_resident_id("11010519491231002XX", 19, 0), TDS_EINVAL);
	assert_int_equal(tds_identity_check_resident_id("1101051949123100AX", 18, 0), TDS_EINVAL);
	assert_non_null(strstr(tds_error_message(), "digit"));
	assert_int_equal(tds_identity_check_resident_id("110105194912310021", 18, 0), TDS_EINVAL);
	assert_non_null(strstr(tds_error_message(), "check character"));
	/* Wikipedia's example 440524188001010014 checks, but 1880 is not a plausible birth year */
	assert_int_equal(tds_identity_check_resident_id("440524188001010014", 18, 0), TDS_EINVAL);
	assert_non_null(strstr(tds_error_message(), "birth date"));
	expect_id("11010520000229123", now, 0, NULL);           /* 2000 was a leap year */
	expect_id("11010519000228123", now, 0, NULL);           /* the earliest plausible year */
	expect_id("11010519000229123", now, TDS_EINVAL, "birth date"); /* 1900 was not */
	expect_id("11010520010431123", now, TDS_EINVAL, "birth date");
	expect_id("11010520011301123", now, TDS_EINVAL, "birth date");
	expect_id("11010520010100123", now, TDS_EINVAL, "birth date");
	expect_id("11010520260615123", now, 0, NULL);           /* born today (Beijing) */
	expect_id("11010520260616123", now, TDS_EINVAL, "birth date"); /* tomorrow */
}

static void test_dates_and_hashes(void **state)
{
	(void)state;
	int64_t ms, expect;
	assert_int_equal(tds_identity_parse_date("2026-01-31", 10, &ms), 0);
	assert_int_equal(tds_time_parse("2026-01-30T16:00:00Z", &expect), 0);
	assert_true(ms == expect);
	const char *bad[] = {"2026-02-29", "2026-1-31", "2026/01/31", "2026-01-31T", "20260131", "1899-12-31", "2026-13-01",
			     "２026-01-31"};
	for (size_t i = 0; i < TDS_ARRAY_LEN(bad); i++) {
		assert_int_equal(tds_identity_parse_date(bad[i], strlen(bad[i]), &ms), TDS_EINVAL);
		assert_string_equal(tds_error_name(), "invalid_date");
	}
	assert_int_equal(tds_identity_parse_date("2024-02-29", 10, &ms), 0);
	const char *h = "6b86b273ff34fce19d6b804eff5a3f5747ada4eaa22f1d49c01e52ddb7875b4b";
	assert_int_equal(tds_identity_check_doc_hash(h, 64), 0);
	assert_int_equal(tds_identity_check_doc_hash(h, 63), TDS_EINVAL);
	assert_int_equal(tds_identity_check_doc_hash("6B86B273FF34FCE19D6B804EFF5A3F5747ADA4EAA22F1D49C01E52DDB7875B4B", 64),
			 TDS_EINVAL);
	assert_string_equal(tds_error_name(), "invalid_document_hash");
	assert_int_equal(tds_identity_check_doc_hash("../../../../../../../../../../../../../../../../etc/passwd/xxxxxxxx", 64),
			 TDS_EINVAL);
}

static void test_requirements_spec(void **state)
{
	(void)state;
	tds_identity_requirements r;
	assert_int_equal(tds_identity_requirements_parse(TDS_IDENTITY_DEFAULT_REQUIREMENTS, &r), 0);
	assert_int_equal(r.role[1].n, 1); /* provider */
	assert_int_equal(r.role[1].req[0].type, TDS_QUAL_DENGBAO);
	assert_int_equal(r.role[1].req[0].min_level, 2);
	assert_int_equal(r.role[2].n, 0); /* consumer */
	assert_int_equal(tds_identity_requirements_parse("auth_operator=dengbao:3+iso27701+dsmc:2;provider=;", &r), 0);
	assert_int_equal(r.role[5].n, 3);
	assert_int_equal(r.role[5].req[1].type, TDS_QUAL_ISO27701);
	assert_int_equal(r.role[5].req[2].min_level, 2);
	assert_int_equal(r.role[1].n, 0);
	assert_int_equal(tds_identity_requirements_parse("", &r), 0);
	json_t *j = tds_identity_requirements_json(&r);
	assert_int_equal(json_object_size(j), 0);
	json_decref(j);
	const char *bad[] = {
	    "provider",		     "provider=dengbao:5",	     "provider=dengbao:0",   "provider=iso27701:1",
	    "admin=dengbao:2",	     "emperor=dengbao:2",	     "provider=nothing",     "provider=dengbao:2;provider=dsmc",
	    "provider=other",	     "provider=dengbao:2+",	     "=dengbao",	     ";;",
	    "provider=dengbao:22",   "provider=a+b+c+d+e",	     "provider=dengbao:2+dengbao:3+dsmc:1+iso27701+industry_licence",
	    "provider=dengbao:\xff", "provider\x00=x",
	};
	for (size_t i = 0; i < TDS_ARRAY_LEN(bad); i++) {
		if (tds_identity_requirements_parse(bad[i], &r) != TDS_EINVAL)
			fail_msg("spec %zu '%s' accepted", i, bad[i]);
		assert_string_equal(tds_error_name(), "invalid_requirements");
	}
}

/* docs/identity.md's permission matrix table lists exactly the actions of matrix.c with the same
 * roles and scope. */
static void test_matrix_matches_docs(void **state)
{
	(void)state;
	char path[1024];
	snprintf(path, sizeof path, "%s/docs/identity.md", getenv("TDS_SOURCE_DIR") ? getenv("TDS_SOURCE_DIR") : ".");
	FILE *f = fopen(path, "r");
	assert_non_null(f);
	size_t n, seen = 0;
	(void)tds_identity_actions(&n);
	char line[2048];
	while (fgets(line, sizeof line, f)) {
		if (strncmp(line, "| `", 3) != 0)
			continue;
		char name[64], roles[512], scope[32];
		if (sscanf(line, "| `%63[^`]` | %511[^|]| %31[^ |] |", name, roles, scope) != 3)
			continue;
		const tds_identity_action *a = tds_identity_action_find(name);
		if (!a)
			continue; /* another table (evidence types) */
		seen++;
		size_t rl = strlen(roles);
		while (rl && roles[rl - 1] == ' ')
			roles[--rl] = 0;
		tds_roles doc = 0;
		if (strcmp(roles, "—") != 0) {
			char *save = NULL;
			for (char *t = strtok_r(roles, ", ", &save); t; t = strtok_r(NULL, ", ", &save)) {
				tds_roles bit;
				if (tds_role_parse(t, &bit))
					fail_msg("docs: action %s names unknown role %s", name, t);
				doc |= bit;
			}
		}
		if (doc != a->roles)
			fail_msg("docs/identity.md: action %s roles differ from matrix.c", name);
		static const char *const scopes[] = {"roles", "public", "self", "org_admin", "member"};
		if (strcmp(scope, scopes[a->scope]) != 0)
			fail_msg("docs/identity.md: action %s scope %s, matrix.c %s", name, scope, scopes[a->scope]);
	}
	fclose(f);
	if (seen != n)
		fail_msg("docs/identity.md lists %zu of the %zu actions of matrix.c", seen, n);
}

static void test_can(void **state)
{
	(void)state;
	tds_principal reviewer = {.account_id = "acc_x", .roles = TDS_ROLE_OPERATOR};
	tds_principal admin = {.account_id = "acc_y", .roles = TDS_ROLE_ADMIN};
	tds_principal provider = {.account_id = "acc_z", .roles = TDS_ROLE_PROVIDER};
	tds_principal basic = {.account_id = "acc_b"};
	tds_principal node = {.roles = TDS_ROLE_NODE};
	assert_int_equal(tds_identity_can(&reviewer, "org.review"), 1);
	assert_int_equal(tds_identity_can(&reviewer, "role.grant_platform"), 0);
	assert_int_equal(tds_identity_can(&admin, "role.grant_platform"), 1);
	assert_int_equal(tds_identity_can(&provider, "org.review"), 0);
	assert_int_equal(tds_identity_can(&provider, "whitelist.read"), 1);
	assert_int_equal(tds_identity_can(&basic, "whitelist.read"), 0);
	assert_int_equal(tds_identity_can(&basic, "account.self"), 1);
	assert_int_equal(tds_identity_can(&node, "account.self"), 0);
	assert_int_equal(tds_identity_can(NULL, "org.register"), 1);
	assert_int_equal(tds_identity_can(NULL, "account.self"), 0);
	assert_int_equal(tds_identity_can(&admin, "no.such.action"), 0); /* fail closed */
	assert_int_equal(tds_identity_can(&basic, "member.manage"), 0);    /* needs the org scope */
}

/* ------------------------------------------------------------------------------------------------
 * The domain on a real store and ledger
 * ---------------------------------------------------------------------------------------------- */

typedef struct fx {
	char dir[64], path[128];
	tds_store *store;
	tds_key *key;
	uint8_t master[TDS_MASTER_KEY_LEN];
	tds_ledger *lg;
	tds_witness *witness;
	tds_identity *id;
	tds_arena *arena;
} fx;

#define FX_NODE "node_01JAAAAAAAAAAAAAAAAAAAAAAA"
#define FX_OFFLINE_MS 5000

static fx *F;
static const char *PW = "correct horse battery staple";

static int fx_setup(void **state)
{
	(void)state;
	F = calloc(1, sizeof *F);
	strcpy(F->dir, "/tmp/tds-identity-XXXXXX");
	if (!mkdtemp(F->dir))
		return -1;
	snprintf(F->path, sizeof F->path, "%s/tds.db", F->dir);
	uint8_t pii[32], secret[32];
	if (tds_store_open(F->path, &F->store) || tds_key_generate(TDS_SUITE_GM, &F->key) ||
	    tds_random(F->master, sizeof F->master) || tds_random(pii, sizeof pii) || tds_random(secret, sizeof secret))
		return -1;
	tds_ledger_opts lo = {.store = F->store, .suite = TDS_SUITE_GM, .origin = "tds.local/node_identity_test",
			      .key = F->key, .master = F->master};
	if (tds_ledger_open(&lo, &F->lg))
		return -1;
	tds_witness_opts wo = {.store = F->store, .name = "tds.local/" FX_NODE, .key = F->key, .own = F->lg};
	if (tds_witness_open(&wo, &F->witness))
		return -1;
	tds_identity_opts io = {.ledger = F->lg, .node_id = FX_NODE, .pii_key = pii, .node_key = F->key,
				.secret_key = secret, .witness = F->witness, .offline_after_ms = FX_OFFLINE_MS};
	if (tds_identity_open(F->store, &io, &F->id))
		return -1;
	F->arena = tds_arena_new(0);
	return 0;
}

static int fx_teardown(void **state)
{
	(void)state;
	tds_arena_free(F->arena);
	tds_identity_free(F->id);
	tds_witness_free(F->witness);
	tds_ledger_free(F->lg);
	tds_store_close(F->store);
	tds_key_free(F->key);
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf %s", F->dir);
	int rc = system(cmd);
	free(F);
	return rc == 0 ? 0 : -1;
}

static void ok(int rc)
{
	if (rc)
		fail_msg("failed: %s (%s)", tds_error_message(), tds_error_name());
}

/* A signed-in account: its session token and the principal the HTTP layer would see. */
typedef struct who {
	tds_principal p;
	char token[96];
} who;

static who login_as(const char *user)
{
	json_t *out = NULL;
	who w;
	ok(tds_identity_login(F->id, user, PW, &out));
	snprintf(w.token, sizeof w.token, "%s", tds_json_str(out, "token", ""));
	ok(tds_identity_authenticate(F->id, w.token, F->arena, &w.p));
	json_decref(out);
	return w;
}

/* The account's effective roles now (authenticating its token again). */
static tds_roles roles_of(const who *w)
{
	tds_principal q;
	ok(tds_identity_authenticate(F->id, w->token, F->arena, &q));
	return q.roles;
}

static size_t evidence_count(const char *type)
{
	tds_ledger_query q = {.type = type, .limit = 500};
	json_t *out = NULL;
	ok(tds_ledger_search(F->lg, &q, &out));
	size_t n = json_array_size(json_object_get(out, "items"));
	json_decref(out);
	return n;
}

static void date_str(int64_t ms, char out[11])
{
	char t[TDS_TIME_MAX];
	ok(tds_time_format(ms + 8 * 3600 * 1000LL, t)); /* Beijing date */
	memcpy(out, t, 10);
	out[10] = 0;
}

static char *new_org(const char *user, const char *type, char *org_id)
{
	tds_org_registration r = {user, PW, "测试企业有限公司", type};
	json_t *out = NULL;
	ok(tds_identity_org_register(F->id, &r, &out));
	snprintf(org_id, TDS_ID_MAX, "%s", tds_json_str(json_object_get(out, "org"), "id", ""));
	assert_string_equal(tds_json_str(json_object_get(out, "org"), "status", ""), "registered");
	assert_true(json_is_true(json_object_get(json_object_get(out, "account"), "org_admin")));
	json_decref(out);
	return org_id;
}

static void test_onboarding_and_watch(void **state)
{
	(void)state;
	json_t *out = NULL;
	ok(tds_identity_account_create(F->id, NULL, "platform", PW, TDS_ROLE_ADMIN | TDS_ROLE_OPERATOR, NULL));
	who admin = login_as("platform");
	assert_int_equal(admin.p.roles, TDS_ROLE_ADMIN | TDS_ROLE_OPERATOR);

	char org[TDS_ID_MAX];
	new_org("acme", "enterprise", org);
	who acme = login_as("acme");
	assert_int_equal(acme.p.roles, 0); /* a basic account */
	assert_string_equal(acme.p.org_id, org);

	/* real-name verification: bad code, then a good one; reviewed by the platform */
	tds_org_verification v = {"91350100M000100Y42", "张三",
				  "6b86b273ff34fce19d6b804eff5a3f5747ada4eaa22f1d49c01e52ddb7875b4b"};
	assert_int_equal(tds_identity_org_submit(F->id, &acme.p, org, &v, &out), TDS_EINVAL);
	v.uscc = "91350100M000100Y43";
	ok(tds_identity_org_submit(F->id, &acme.p, org, &v, &out));
	json_decref(out);
	assert_int_equal(tds_identity_org_submit(F->id, &acme.p, org, &v, &out), TDS_ECONFLICT);
	assert_string_equal(tds_error_name(), "already_submitted");
	/* the applicant cannot review itself (it has no reviewer role to begin with) */
	assert_int_equal(tds_identity_org_review(F->id, &acme.p, org, TDS_REVIEW_APPROVE, NULL, &out), TDS_EPERM);
	ok(tds_identity_org_review(F->id, &admin.p, org, TDS_REVIEW_APPROVE, "licence matches", &out));
	assert_string_equal(tds_json_str(out, "status", ""), "verified");
	json_decref(out);
	assert_int_equal(roles_of(&acme), 0); /* verified, but no role yet */

	/* another organisation claiming the same code: 409 */
	char other[TDS_ID_MAX];
	new_org("copycat", "enterprise", other);
	who copycat = login_as("copycat");
	assert_int_equal(tds_identity_org_submit(F->id, &copycat.p, other, &v, &out), TDS_ECONFLICT);
	assert_string_equal(tds_error_name(), "uscc_taken");

	/* the provider role needs 等保 >= 2 */
	ok(tds_identity_role_apply(F->id, &acme.p, TDS_ROLE_PROVIDER, NULL, "我们提供企业经营数据产品", &out));
	char app[TDS_ID_MAX];
	snprintf(app, sizeof app, "%s", tds_json_str(out, "id", ""));
	json_decref(out);
	assert_int_equal(tds_identity_role_review(F->id, &admin.p, app, TDS_REVIEW_APPROVE, NULL, &out), TDS_EUNPROC);
	assert_string_equal(tds_error_name(), "qualification_required");

	int64_t now = tds_now_ms();
	char from[11], to[11];
	date_str(now - 365 * DAY_MS, from);
	date_str(now + 100 * DAY_MS, to);
	tds_qualification_in q = {.type = TDS_QUAL_DENGBAO, .level = 3, .issuer = "公安部第三研究所", .valid_from = from,
				  .valid_to = to, .doc_hash = v.licence_hash};
	ok(tds_identity_qualification_add(F->id, &acme.p, org, &q, &out));
	char qual[TDS_ID_MAX];
	snprintf(qual, sizeof qual, "%s", tds_json_str(out, "id", ""));
	json_decref(out);
	ok(tds_identity_qualification_review(F->id, &admin.p, qual, TDS_REVIEW_APPROVE, NULL, &out));
	json_decref(out);
	ok(tds_identity_role_review(F->id, &admin.p, app, TDS_REVIEW_APPROVE, "资质齐全", &out));
	json_decref(out);
	assert_int_equal(roles_of(&acme), TDS_ROLE_PROVIDER);

	/* a member inherits it; a restricted member inherits only what the restriction allows */
	ok(tds_identity_member_add(F->id, &acme.p, org, "acme-ops", PW, false, 0, &out));
	json_decref(out);
	ok(tds_identity_member_add(F->id, &acme.p, org, "acme-intern", PW, true, TDS_ROLE_CONSUMER, &out));
	json_decref(out);
	assert_int_equal(tds_identity_member_add(F->id, &acme.p, org, "acme-root", PW, true, TDS_ROLE_ADMIN, &out), TDS_EPERM);
	assert_string_equal(tds_error_name(), "role_escalation");
	who ops = login_as("acme-ops"), intern = login_as("acme-intern");
	assert_int_equal(ops.p.roles, TDS_ROLE_PROVIDER);
	assert_int_equal(intern.p.roles, 0);

	/* the whitelist holds acme now */
	ok(tds_identity_whitelist(F->id, now, 50, NULL, &out));
	assert_int_equal(json_array_size(json_object_get(out, "items")), 1);
	json_decref(out);

	/* the watch, on an explicit clock: a warning 30 days ahead, once */
	json_t *rep = NULL;
	ok(tds_identity_watch(F->id, now + 60 * DAY_MS, &rep));
	assert_int_equal(json_array_size(json_object_get(rep, "warned")), 0);
	json_decref(rep);
	ok(tds_identity_watch(F->id, now + 75 * DAY_MS, &rep));
	assert_int_equal(json_array_size(json_object_get(rep, "warned")), 1);
	json_decref(rep);
	ok(tds_identity_watch(F->id, now + 76 * DAY_MS, &rep));
	assert_int_equal(json_array_size(json_object_get(rep, "warned")), 0);
	json_decref(rep);
	assert_int_equal(evidence_count("identity.qualification_expiring"), 1);
	/* expiry suspends the provider role, for the organisation and its members */
	ok(tds_identity_watch(F->id, now + 102 * DAY_MS, &rep));
	assert_int_equal(json_array_size(json_object_get(rep, "expired")), 1);
	assert_int_equal(json_array_size(json_object_get(rep, "suspended")), 1);
	assert_string_equal(tds_json_str(json_array_get(json_object_get(rep, "suspended"), 0), "role", ""), "provider");
	json_decref(rep);
	assert_int_equal(roles_of(&acme), 0);
	assert_int_equal(roles_of(&ops), 0);
	ok(tds_identity_whitelist(F->id, now + 102 * DAY_MS, 50, NULL, &out));
	assert_int_equal(json_array_size(json_object_get(out, "items")), 0);
	json_decref(out);
	/* a new approved qualification restores it at once */
	date_str(now + 400 * DAY_MS, to);
	q.valid_to = to;
	q.doc_hash = "d4735e3a265e16eee03f59718b9b5d03019c07d8b6c51f90da3a666eec13ab35";
	ok(tds_identity_qualification_add(F->id, &acme.p, org, &q, &out));
	snprintf(qual, sizeof qual, "%s", tds_json_str(out, "id", ""));
	json_decref(out);
	ok(tds_identity_qualification_review(F->id, &admin.p, qual, TDS_REVIEW_APPROVE, NULL, &out));
	json_decref(out);
	assert_int_equal(roles_of(&ops), TDS_ROLE_PROVIDER);
	/* revocation suspends at once, in the same transaction */
	ok(tds_identity_qualification_review(F->id, &admin.p, qual, TDS_REVIEW_REVOKE, "证书被注销", &out));
	json_decref(out);
	assert_int_equal(roles_of(&ops), 0);
	assert_true(evidence_count("identity.role_suspended") >= 2);
	assert_true(evidence_count("identity.role_restored") >= 1);
	assert_int_equal(evidence_count("identity.qualification_revoked"), 1);
	assert_true(evidence_count("identity.refused") >= 1); /* the member restricted to admin */
}

static void test_self_review_and_escalation(void **state)
{
	(void)state;
	json_t *out = NULL;
	who admin = login_as("platform");
	/* an organisation that becomes a platform operator */
	char ops[TDS_ID_MAX];
	new_org("ops-center", "institution", ops);
	who opsp = login_as("ops-center");
	tds_org_verification v = {"91370100780603055K", "李四",
				  "4e07408562bedb8b60ce05c1decfe3ad16b72230967de01f640b7e4729b49fce"};
	ok(tds_identity_org_submit(F->id, &opsp.p, ops, &v, &out));
	json_decref(out);
	ok(tds_identity_org_review(F->id, &admin.p, ops, TDS_REVIEW_APPROVE, NULL, &out));
	json_decref(out);
	int64_t now = tds_now_ms();
	char from[11], to[11];
	date_str(now - DAY_MS, from);
	date_str(now + 700 * DAY_MS, to);
	tds_qualification_in q = {.type = TDS_QUAL_DENGBAO, .level = 3, .issuer = "测评机构", .valid_from = from,
				  .valid_to = to, .doc_hash = v.licence_hash};
	ok(tds_identity_qualification_add(F->id, &opsp.p, ops, &q, &out));
	char qual[TDS_ID_MAX];
	snprintf(qual, sizeof qual, "%s", tds_json_str(out, "id", ""));
	json_decref(out);
	ok(tds_identity_qualification_review(F->id, &admin.p, qual, TDS_REVIEW_APPROVE, NULL, &out));
	json_decref(out);
	ok(tds_identity_role_apply(F->id, &opsp.p, TDS_ROLE_OPERATOR, NULL, "承担平台运营", &out));
	char app[TDS_ID_MAX];
	snprintf(app, sizeof app, "%s", tds_json_str(out, "id", ""));
	json_decref(out);
	/* an operator-only reviewer may not grant a platform role */
	ok(tds_identity_account_create(F->id, NULL, "reviewer", PW, TDS_ROLE_OPERATOR, NULL));
	who reviewer = login_as("reviewer");
	size_t refused = evidence_count("identity.refused");
	assert_int_equal(tds_identity_role_review(F->id, &reviewer.p, app, TDS_REVIEW_APPROVE, NULL, &out), TDS_EPERM);
	assert_string_equal(tds_error_name(), "role_escalation");
	assert_int_equal(evidence_count("identity.refused"), refused + 1);
	ok(tds_identity_role_review(F->id, &admin.p, app, TDS_REVIEW_APPROVE, NULL, &out));
	json_decref(out);
	who opsp2 = login_as("ops-center");
	assert_int_equal(opsp2.p.roles, TDS_ROLE_OPERATOR);
	/* now a reviewer, it still cannot review its own organisation's things */
	q.doc_hash = "ef2d127de37b942baad06145e54b0c619a1f22327b2ebbcfbec78f5564afe39d";
	ok(tds_identity_qualification_add(F->id, &opsp2.p, ops, &q, &out));
	snprintf(qual, sizeof qual, "%s", tds_json_str(out, "id", ""));
	json_decref(out);
	assert_int_equal(tds_identity_qualification_review(F->id, &opsp2.p, qual, TDS_REVIEW_APPROVE, NULL, &out), TDS_EPERM);
	assert_string_equal(tds_error_name(), "self_review");
	ok(tds_identity_role_apply(F->id, &opsp2.p, TDS_ROLE_CONSUMER, NULL, "也使用数据", &out));
	snprintf(app, sizeof app, "%s", tds_json_str(out, "id", ""));
	json_decref(out);
	assert_int_equal(tds_identity_role_review(F->id, &opsp2.p, app, TDS_REVIEW_APPROVE, NULL, &out), TDS_EPERM);
	assert_string_equal(tds_error_name(), "self_review");
	assert_int_equal(evidence_count("identity.refused"), refused + 3);
	/* but it may review others: a bank's verification */
	char bank[TDS_ID_MAX];
	new_org("citybank", "bank", bank);
	who bankp = login_as("citybank");
	tds_org_verification bv = {"91310110666007217T", "王五",
				   "6b86b273ff34fce19d6b804eff5a3f5747ada4eaa22f1d49c01e52ddb7875b4b"};
	ok(tds_identity_org_submit(F->id, &bankp.p, bank, &bv, &out));
	json_decref(out);
	ok(tds_identity_org_review(F->id, &opsp2.p, bank, TDS_REVIEW_REJECT, "营业执照模糊", &out));
	assert_string_equal(tds_json_str(out, "status", ""), "rejected");
	json_decref(out);
	assert_int_equal(roles_of(&bankp), 0);
	assert_int_equal(tds_identity_role_apply(F->id, &bankp.p, TDS_ROLE_CONSUMER, NULL, "信贷风控", &out), TDS_EPERM);
	assert_string_equal(tds_error_name(), "not_verified");
	/* applying for admin is an escalation attempt */
	assert_int_equal(tds_identity_role_apply(F->id, &opsp2.p, TDS_ROLE_ADMIN, NULL, "请给我管理员", &out), TDS_EPERM);
	assert_string_equal(tds_error_name(), "role_escalation");
	/* API keys cannot carry roles the account lacks */
	assert_int_equal(tds_identity_apikey_create(F->id, opsp2.p.account_id, "k", TDS_ROLE_ADMIN, 60000, &out), TDS_EPERM);
	assert_int_equal(evidence_count("identity.refused"), refused + 5);
}

static void test_person_and_login_throttle(void **state)
{
	(void)state;
	json_t *out = NULL;
	who admin = login_as("platform");
	ok(tds_identity_person_register(F->id, "zhang.san", PW, "张三", &out));
	char psn[TDS_ID_MAX];
	snprintf(psn, sizeof psn, "%s", tds_json_str(json_object_get(out, "person"), "id", ""));
	json_decref(out);
	who me = login_as("zhang.san");
	assert_int_equal(tds_identity_person_submit(F->id, &me.p, psn, "张三", "11010519491231002x", &out), TDS_EINVAL);
	ok(tds_identity_person_submit(F->id, &me.p, psn, "张三", "11010519491231002X", &out));
	assert_string_equal(tds_json_str(out, "id_number_masked", ""), "110105********002X");
	json_decref(out);
	/* the number is nowhere in clear in the database files (the ledger payload is sealed) */
	char cmd[256], buf[64] = "";
	snprintf(cmd, sizeof cmd, "cat %s/tds.db* | grep -a -c 0519491231002X", F->dir);
	FILE *p = popen(cmd, "r");
	assert_non_null(p);
	assert_non_null(fgets(buf, sizeof buf, p));
	pclose(p);
	assert_int_equal(atoi(buf), 0);
	/* a second person with the same number: 409 */
	ok(tds_identity_person_register(F->id, "li.si", PW, "李四", &out));
	char psn2[TDS_ID_MAX];
	snprintf(psn2, sizeof psn2, "%s", tds_json_str(json_object_get(out, "person"), "id", ""));
	json_decref(out);
	who li = login_as("li.si");
	assert_int_equal(tds_identity_person_submit(F->id, &li.p, psn2, "李四", "11010519491231002X", &out), TDS_ECONFLICT);
	assert_string_equal(tds_error_name(), "id_number_taken");
	assert_int_equal(tds_identity_person_submit(F->id, &li.p, psn, "李四", "11010119900307299X", &out), TDS_EPERM);
	ok(tds_identity_person_review(F->id, &admin.p, psn, TDS_REVIEW_APPROVE, NULL, &out));
	json_decref(out);
	assert_int_equal(tds_identity_role_apply(F->id, &me.p, TDS_ROLE_PROVIDER, NULL, "个人数据", &out), TDS_EUNPROC);
	assert_string_equal(tds_error_name(), "role_not_for_persons");
	ok(tds_identity_role_apply(F->id, &me.p, TDS_ROLE_DEVELOPER, NULL, "个人开发者", &out));
	json_decref(out);

	/* throttling: 5 failures per username, then 429 even with the right password */
	for (int i = 0; i < 5; i++) {
		assert_int_equal(tds_identity_login_from(F->id, "li.si", "wrong password!!", "10.0.0.7", &out), TDS_EAUTH);
		assert_string_equal(tds_error_name(), "invalid_credentials");
	}
	assert_int_equal(tds_identity_login_from(F->id, "li.si", PW, "10.0.0.8", &out), TDS_ELIMIT);
	assert_string_equal(tds_error_name(), "too_many_attempts");
	assert_true(tds_json_int(tds_error_details(), "retry_after_s", 0) > 800);
	assert_true(evidence_count("identity.login_failed") >= 5);
	/* other usernames are not affected */
	who again = login_as("zhang.san");
	assert_non_null(again.p.account_id);

	/* per client address: a second handle on the same store with a low address limit */
	tds_identity *strict = NULL;
	tds_identity_opts io = {.ledger = F->lg, .login_max_failures = 100, .login_max_failures_ip = 3};
	ok(tds_identity_open(F->store, &io, &strict));
	const char *names[] = {"nobody1", "nobody2", "zhang.san"};
	for (int i = 0; i < 3; i++)
		assert_int_equal(tds_identity_login_from(strict, names[i], "wrong password!!", "192.0.2.9", &out), TDS_EAUTH);
	assert_int_equal(tds_identity_login_from(strict, "zhang.san", PW, "192.0.2.9", &out), TDS_ELIMIT);
	assert_non_null(strstr(tds_error_message(), "from this address"));
	ok(tds_identity_login_from(strict, "zhang.san", PW, "192.0.2.10", &out));
	json_decref(out);
	tds_identity_free(strict);
}

/* Connectors end to end without HTTP: registration, approval (secret, certificate, witnessed log),
 * enrolment, the operator's keyring, heartbeats and the presence watch on an explicit clock,
 * revocation effective at once, and the signed statements. */
static void test_connector_lifecycle(void **state)
{
	(void)state;
	json_t *out = NULL;
	ok(tds_identity_account_create(F->id, NULL, "con-reviewer", PW, TDS_ROLE_OPERATOR, NULL));
	who reviewer = login_as("con-reviewer");
	char org[TDS_ID_MAX];
	new_org("con-bank", "bank", org);
	who bank = login_as("con-bank");
	tds_key *key = NULL;
	ok(tds_key_generate(TDS_SUITE_INTL, &key));
	tds_buf pem = TDS_BUF_INIT;
	ok(tds_key_public_pem(key, &pem));
	char node[TDS_ID_MAX];
	ok(tds_id_new("node", node));
	json_t *ips = json_pack("[s, s]", "10.1.2.3", "fe80:0:0::1");
	tds_connector_in in = {"bank-connector", "SN-9", ips, "0.1.0", "https://c.bank.example", "https://d.bank.example",
			       "d4735e3a265e16eee03f59718b9b5d03019c07d8b6c51f90da3a666eec13ab35", node, pem.data};
	/* an organisation that is not verified, then one without a role, cannot register */
	assert_int_equal(tds_identity_connector_register(F->id, &bank.p, &in, &out), TDS_EPERM);
	assert_string_equal(tds_error_name(), "not_verified");
	tds_org_verification v = {"91510100MA6BKY6U36", "李四", "6b86b273ff34fce19d6b804eff5a3f5747ada4eaa22f1d49c01e52ddb7875b4b"};
	ok(tds_identity_org_submit(F->id, &bank.p, org, &v, &out));
	json_decref(out);
	ok(tds_identity_org_review(F->id, &reviewer.p, org, TDS_REVIEW_APPROVE, NULL, &out));
	json_decref(out);
	assert_int_equal(tds_identity_connector_register(F->id, &bank.p, &in, &out), TDS_EPERM);
	assert_string_equal(tds_error_name(), "role_required");
	ok(tds_identity_role_apply(F->id, &bank.p, TDS_ROLE_CONSUMER, NULL, "风控核验", &out));
	char app[TDS_ID_MAX];
	snprintf(app, sizeof app, "%s", tds_json_str(out, "id", ""));
	json_decref(out);
	ok(tds_identity_role_review(F->id, &reviewer.p, app, TDS_REVIEW_APPROVE, NULL, &out));
	json_decref(out);
	bank = login_as("con-bank");

	/* registered: the addresses in canonical form; the same node again is a duplicate */
	ok(tds_identity_connector_register(F->id, &bank.p, &in, &out));
	char con[TDS_ID_MAX];
	snprintf(con, sizeof con, "%s", tds_json_str(out, "id", ""));
	assert_string_equal(json_string_value(json_array_get(json_object_get(out, "ips"), 1)), "fe80::1");
	json_decref(out);
	assert_int_equal(tds_identity_connector_register(F->id, &bank.p, &in, &out), TDS_ECONFLICT);
	assert_string_equal(tds_error_name(), "node_registered");

	/* approval issues the ClientID, the secret once, and a certificate the operator's key verifies */
	assert_int_equal(tds_identity_connector_review(F->id, &bank.p, con, TDS_REVIEW_APPROVE, NULL, &out), TDS_EPERM);
	ok(tds_identity_connector_review(F->id, &reviewer.p, con, TDS_REVIEW_APPROVE, NULL, &out));
	char client[TDS_ID_MAX], secret[96], serial[TDS_ID_MAX];
	snprintf(client, sizeof client, "%s", tds_json_str(out, "client_id", ""));
	snprintf(secret, sizeof secret, "%s", tds_json_str(out, "client_secret", ""));
	snprintf(serial, sizeof serial, "%s", tds_json_str(out, "cert_serial", ""));
	char *cert_text = json_dumps(json_object_get(out, "certificate"), 0);
	json_decref(out);
	tds_node_cert cert;
	ok(tds_cert_parse_verify(cert_text, strlen(cert_text), F->key, tds_now_ms(), &cert, NULL));
	free(cert_text);
	assert_string_equal(cert.org_id, org);
	assert_string_equal(cert.node_id, node);
	assert_int_equal(cert.key_suite, TDS_SUITE_INTL);
	assert_true(cert.expires_at_ms - cert.issued_at_ms == 365LL * DAY_MS);
	ok(tds_witness_log_list(F->witness, &out));
	assert_int_equal(json_array_size(json_object_get(out, "items")), 1);
	assert_non_null(strstr(tds_json_str(json_array_get(json_object_get(out, "items"), 0), "origin", ""), node));
	json_decref(out);

	/* enrolment: a wrong secret is refused and evidenced; the right one hands out the certificate */
	char wrong[96];
	snprintf(wrong, sizeof wrong, "%s", secret);
	wrong[strlen(wrong) - 1] = wrong[strlen(wrong) - 1] == 'A' ? 'B' : 'A';
	assert_int_equal(tds_identity_connector_enroll(F->id, client, wrong, NULL, &out), TDS_EAUTH);
	assert_string_equal(tds_error_name(), "invalid_client");
	assert_int_equal(evidence_count("identity.connector_enroll_failed"), 1);
	ok(tds_identity_connector_enroll(F->id, client, secret, "10.1.2.3", &out));
	assert_string_equal(tds_json_str(out, "serial", ""), serial);
	json_decref(out);

	/* the operator's keyring resolves the serial to the key and the organisation */
	tds_nodekeys *keys = NULL;
	ok(tds_nodekeys_new(F->id, &keys));
	const tds_key *k = NULL;
	tds_principal p;
	ok(tds_nodekeys_resolve(keys, serial, F->arena, &k, &p));
	assert_string_equal(p.org_id, org);
	assert_string_equal(p.username, node);
	char kid1[TDS_KEY_ID_LEN + 1], kid2[TDS_KEY_ID_LEN + 1];
	ok(tds_key_id(k, kid1));
	ok(tds_key_id(key, kid2));
	assert_string_equal(kid1, kid2);
	char nobody[TDS_ID_MAX];
	ok(tds_id_new("crt", nobody));
	assert_int_equal(tds_nodekeys_resolve(keys, nobody, F->arena, &k, &p), TDS_ENOTFOUND);

	/* heartbeats: online once; silent past offline_after: offline (on an explicit clock) */
	tds_principal nodep = {.username = node, .org_id = org, .session_id = serial, .roles = TDS_ROLE_NODE};
	json_t *report = json_pack("{s:s, s:s, s:i, s:{s:i}}", "status", "ok", "version", "0.1.0", "uptime_s", 5, "health",
				   "disk_free_bytes", 1000);
	assert_int_equal(tds_identity_connector_heartbeat(F->id, &bank.p, report, &out), TDS_EPERM);
	ok(tds_identity_connector_heartbeat(F->id, &nodep, report, &out));
	json_decref(out);
	ok(tds_identity_connector_heartbeat(F->id, &nodep, report, &out));
	json_decref(out);
	json_decref(report);
	assert_int_equal(evidence_count("identity.connector_online"), 1);
	json_t *rep = NULL;
	ok(tds_identity_connector_watch(F->id, tds_now_ms(), &rep));
	assert_int_equal(json_array_size(json_object_get(rep, "offline")), 0);
	json_decref(rep);
	ok(tds_identity_connector_watch(F->id, tds_now_ms() + FX_OFFLINE_MS + 1000, &rep));
	assert_int_equal(json_array_size(json_object_get(rep, "offline")), 1);
	json_decref(rep);
	ok(tds_identity_connector_watch(F->id, tds_now_ms() + FX_OFFLINE_MS + 2000, &rep));
	assert_int_equal(json_array_size(json_object_get(rep, "offline")), 0);
	json_decref(rep);
	assert_int_equal(evidence_count("identity.connector_offline"), 1);

	/* revocation: refused at once, listed in the signed revocation list */
	ok(tds_identity_connector_revoke(F->id, &reviewer.p, con, "密钥泄露", &out));
	json_decref(out);
	assert_int_equal(tds_nodekeys_resolve(keys, serial, F->arena, &k, &p), TDS_EAUTH);
	assert_string_equal(tds_error_name(), "certificate_revoked");
	const json_t *st = NULL;
	ok(tds_identity_cert_revocations(F->id, 0, 10, &out));
	ok(tds_nodekeys_statement_verify(out, "tds.revocations", FX_NODE, F->key, tds_now_ms(), &st));
	assert_string_equal(tds_json_str(json_array_get(json_object_get(st, "items"), 0), "serial", ""), serial);
	assert_int_equal(tds_nodekeys_statement_verify(out, "tds.cert_status", FX_NODE, F->key, tds_now_ms(), &st),
			 TDS_ECRYPTO);
	assert_int_equal(tds_nodekeys_statement_verify(out, "tds.revocations", FX_NODE, F->key,
						       tds_now_ms() + 10 * 60 * 1000, &st),
			 TDS_EAUTH);
	assert_int_equal(tds_nodekeys_statement_verify(out, "tds.revocations", FX_NODE, key, tds_now_ms(), &st), TDS_ECRYPTO);
	json_decref(out);
	ok(tds_identity_cert_revocations(F->id, 1, 10, &out));
	ok(tds_nodekeys_statement_verify(out, "tds.revocations", FX_NODE, F->key, tds_now_ms(), &st));
	assert_int_equal(json_array_size(json_object_get(st, "items")), 0);
	json_decref(out);
	ok(tds_identity_cert_status(F->id, serial, &out));
	ok(tds_nodekeys_statement_verify(out, "tds.cert_status", FX_NODE, F->key, tds_now_ms(), &st));
	assert_string_equal(tds_json_str(st, "status", ""), "revoked");
	json_decref(out);
	assert_int_equal(tds_identity_connector_enroll(F->id, client, secret, NULL, &out), TDS_EPERM);
	assert_int_equal(tds_identity_connector_review(F->id, &reviewer.p, con, TDS_REVIEW_APPROVE, NULL, &out), TDS_ECONFLICT);
	assert_string_equal(tds_error_name(), "connector_revoked");
	/* a revoked key never returns, even under another node id and device */
	ok(tds_id_new("node", node));
	in.hw_fingerprint = "ef2d127de37b942baad06145e54b0c619a1f22327b2ebbcfbec78f5564afe39d";
	assert_int_equal(tds_identity_connector_register(F->id, &bank.p, &in, &out), TDS_ECONFLICT);
	assert_string_equal(tds_error_name(), "key_registered");
	assert_int_equal(evidence_count("identity.connector_registered"), 1);
	assert_int_equal(evidence_count("identity.connector_approved"), 1);
	assert_int_equal(evidence_count("identity.certificate_issued"), 1);
	assert_int_equal(evidence_count("identity.connector_enrolled"), 1);
	assert_int_equal(evidence_count("identity.certificate_revoked"), 1);
	tds_nodekeys_free(keys);
	json_decref(ips);
	tds_buf_free(&pem);
	tds_key_free(key);
}

int main(void)
{
	const struct CMUnitTest pure[] = {
	    cmocka_unit_test(test_uscc_valid),		 cmocka_unit_test(test_uscc_every_corruption),
	    cmocka_unit_test(test_uscc_errors),		 cmocka_unit_test(test_id_number_valid),
	    cmocka_unit_test(test_id_number_every_corruption), cmocka_unit_test(test_id_number_errors),
	    cmocka_unit_test(test_dates_and_hashes),	 cmocka_unit_test(test_requirements_spec),
	    cmocka_unit_test(test_matrix_matches_docs),	 cmocka_unit_test(test_can),
	};
	const struct CMUnitTest domain[] = {
	    cmocka_unit_test(test_onboarding_and_watch),
	    cmocka_unit_test(test_self_review_and_escalation),
	    cmocka_unit_test(test_person_and_login_throttle),
	    cmocka_unit_test(test_connector_lifecycle),
	};
	int rc = cmocka_run_group_tests(pure, NULL, NULL);
	return rc + cmocka_run_group_tests(domain, fx_setup, fx_teardown);
}
