/*
 * test_resource.c — data resources (数据资源) on a real store and ledger: a provider registers a
 * resource on an imported tax CSV (the scan grades it L3 for its resident-ID column), reviewers
 * override a column, approve (two reviewers for L3, the same reviewer twice refused, self-review
 * refused and evidenced), the resource gets a valid code, is published with each kind of scope,
 * updated (re-review when the level rises, overrides kept, the code kept), deregistered and confirmed, or removed;
 * wrong state transitions are conflicts; bad input changes nothing; every step is evidenced.
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
static const char *ORG_A = "org_01JAAAAAAAAAAAAAAAAAAAAAAA";
static const tds_ledger_actor PROV = {.org = "org_01JAAAAAAAAAAAAAAAAAAAAAAA", .account = "acc_01JAAAAAAAAAAAAAAAAAAAAAAA"};
static const tds_ledger_actor PROV_COLLEAGUE = {.org = "org_01JAAAAAAAAAAAAAAAAAAAAAAA",
						.account = "acc_01JCCCCCCCCCCCCCCCCCCCCCCC"};
static const tds_ledger_actor REV1 = {.org = "org_01JRRRRRRRRRRRRRRRRRRRRRRR", .account = "acc_01JRRRRRRRRRRRRRRRRRRRRRR1"};
static const tds_ledger_actor REV2 = {.org = "org_01JRRRRRRRRRRRRRRRRRRRRRRR", .account = "acc_01JRRRRRRRRRRRRRRRRRRRRRR2"};

/* a tax CSV: USCC, enterprise, the legal representative's resident ID (sensitive: L3), amount */
static const char TAX_CSV[] = "纳税人识别号,企业名称,法定代表人身份证号,纳税额\n"
			      "91310110666007217T,上海某贸易有限公司,11010119900307299X,8800.00\n"
			      "91330101589882738D,杭州某科技有限公司,110101199003074477,12000.50\n"
			      "91350500676532779B,泉州某制造有限公司,430102197606046442,\n";
static const char PLAIN_CSV[] = "地区,年份,户数\n杭州,2024,120\n宁波,2024,80\n";

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

static int fx_setup(void **state)
{
	(void)state;
	F = calloc(1, sizeof *F);
	strcpy(F->dir, "/tmp/tds-resource-XXXXXX");
	if (!mkdtemp(F->dir))
		return -1;
	char p[128];
	snprintf(p, sizeof p, "%s/tds.db", F->dir);
	if (tds_store_open(p, &F->store) || tds_key_generate(TDS_SUITE_GM, &F->key) || tds_random(F->master, sizeof F->master))
		return -1;
	tds_ledger_opts lo = {.store = F->store, .suite = TDS_SUITE_GM, .origin = "tds.local/node_resource_test", .key = F->key,
			      .master = F->master};
	tds_catalog_opts co = {.ledger = NULL, .node_id = "node_01JAAAAAAAAAAAAAAAAAAAAAAA", .dir = F->dir,
			       .seal_key = F->master, .suite = TDS_SUITE_GM, .code_base = "tds://tax.example.cn"};
	if (tds_ledger_open(&lo, &F->lg))
		return -1;
	co.ledger = F->lg;
	return tds_catalog_open(F->store, &co, &F->cat) ? -1 : 0;
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

/* An uploaded and imported CSV source of ORG_A; returns its id (static buffer per call site). */
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

static json_t *J(const char *s)
{
	json_t *j = json_loads(s, 0, NULL);
	if (!j)
		fail_msg("bad test JSON %s", s);
	return j;
}

/* Runs a reviewer/provider call with a JSON literal and returns the resource's status. */
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

static const char *APPROVE = "{\"decision\":\"approve\",\"legality\":\"compliant\",\"masking_adequate\":true,"
			     "\"filing_status\":\"filed\"}";

static char *create(const char *src, const char *extra)
{
	char body[1024];
	snprintf(body, sizeof body,
		 "{\"source_id\":\"%s\",\"name\":\"企业纳税信息\",\"description\":\"enterprise tax\","
		 "\"attributes\":{\"owner_department\":\"征管科\"},\"source_category\":\"government\","
		 "\"update_frequency\":\"monthly\",\"domain\":\"tax\",\"tags\":[\"纳税\",\"企业\"]%s}",
		 src, extra ? extra : "");
	json_t *in = J(body), *out;
	ok(tds_catalog_resource_create(F->cat, &PROV, ORG_A, in, &out));
	json_decref(in);
	char *id = strdup(tds_json_str(out, "id", ""));
	json_decref(out);
	return id;
}

static void test_lifecycle_two_reviewers(void **state)
{
	(void)state;
	char src[TDS_ID_MAX], st[32], ev[2048];
	source("tax", TAX_CSV, src);
	char *id = create(src, NULL);
	json_t *r;
	ok(tds_catalog_resource_get(F->cat, ORG_A, id, &r));
	assert_string_equal(tds_json_str(r, "status", ""), "pending_review");
	assert_string_equal(tds_json_str(r, "level", ""), "L3"); /* the resident-ID column */
	assert_int_equal(json_integer_value(json_object_get(r, "approvals_needed")), 2);
	assert_true(json_is_object(json_object_get(r, "scan")));
	assert_true(json_is_object(json_object_get(r, "profile")));
	assert_string_equal(tds_json_str(json_object_get(r, "metadata"), "domain", ""), "tax");
	assert_string_equal(tds_json_str(r, "org_id", ""), ORG_A); /* the source's organisation owns it */
	json_decref(r);
	/* another organisation cannot see it */
	expect(tds_catalog_resource_get(F->cat, "org_01JBBBBBBBBBBBBBBBBBBBBBBB", id, &r), TDS_ENOTFOUND, "resource_not_found");

	/* self review: the registrant and a colleague of its organisation are refused, and it is evidenced */
	expect(rev(tds_catalog_resource_review, &PROV_COLLEAGUE, id, APPROVE, NULL), TDS_EPERM, "self_review");
	expect(rev(tds_catalog_resource_review, &PROV, id, APPROVE, NULL), TDS_EPERM, "self_review");
	expect(rev(tds_catalog_resource_override, &PROV_COLLEAGUE, id,
		   "{\"column\":\"纳税额\",\"reason\":\"mine\",\"level\":\"L1\"}", NULL), TDS_EPERM, "self_review");
	/* not approved yet: cannot publish or deregister */
	expect(prov(tds_catalog_resource_publish, id, "{\"scope\":\"space\"}", NULL), TDS_ECONFLICT, "invalid_state");
	expect(prov(tds_catalog_resource_deregister, id, "{\"reason\":\"x\"}", NULL), TDS_ECONFLICT, "invalid_state");
	/* a reviewer's override with a reason: 纳税额 raised to L2 stays L3 overall */
	ok(rev(tds_catalog_resource_override, &REV1, id, "{\"column\":\"纳税额\",\"reason\":\"金额属于经营信息\",\"level\":\"L2\"}", st));
	expect(rev(tds_catalog_resource_override, &REV1, id, "{\"column\":\"nope\",\"reason\":\"x\",\"level\":\"L2\"}", NULL),
	       TDS_ENOTFOUND, NULL);
	expect(rev(tds_catalog_resource_override, &REV1, id, "{\"column\":\"纳税额\",\"level\":\"L2\"}", NULL), TDS_EINVAL, NULL);
	/* bad reviews change nothing */
	expect(rev(tds_catalog_resource_review, &REV1, id, "{\"decision\":\"maybe\",\"legality\":\"compliant\","
			"\"masking_adequate\":true,\"filing_status\":\"filed\"}", NULL), TDS_EINVAL, "invalid_decision");
	expect(rev(tds_catalog_resource_review, &REV1, id, "{\"decision\":\"approve\",\"legality\":\"compliant\","
			"\"masking_adequate\":true,\"filing_status\":\"filed\",\"extra\":1}", NULL), TDS_EINVAL, NULL);
	expect(rev(tds_catalog_resource_review, &REV1, id, "{\"decision\":\"approve\",\"legality\":\"non_compliant\","
			"\"masking_adequate\":true,\"filing_status\":\"filed\"}", NULL), TDS_EUNPROC, "inconsistent_review");
	expect(rev(tds_catalog_resource_review, &REV1, id, "{\"decision\":\"reject\",\"legality\":\"compliant\","
			"\"masking_adequate\":false,\"filing_status\":\"filed\"}", NULL), TDS_EINVAL, "reasons_required");
	/* first approval: still pending; the same reviewer again is refused; a second reviewer approves */
	ok(rev(tds_catalog_resource_review, &REV1, id, APPROVE, st));
	assert_string_equal(st, "pending_review");
	expect(rev(tds_catalog_resource_review, &REV1, id, APPROVE, NULL), TDS_ECONFLICT, "second_reviewer_required");
	ok(rev(tds_catalog_resource_review, &REV2, id, APPROVE, st));
	assert_string_equal(st, "approved");
	ok(tds_catalog_resource_get(F->cat, NULL, id, &r));
	const char *code = tds_json_str(r, "code", "");
	ok(tds_rescode_parse("tds://tax.example.cn", code, NULL));
	assert_int_equal(strncmp(code, "tds://tax.example.cn/res/00000001", 33), 0);
	assert_int_equal(json_array_size(json_object_get(r, "reviews")), 2);
	char code_copy[TDS_RESCODE_MAX];
	snprintf(code_copy, sizeof code_copy, "%s", code);
	json_decref(r);
	/* reviewing an approved resource is a conflict */
	expect(rev(tds_catalog_resource_review, &REV1, id, APPROVE, NULL), TDS_ECONFLICT, "invalid_state");
	/* by code: valid finds it, a corrupted code is refused before any lookup */
	ok(tds_catalog_resource_by_code(F->cat, NULL, code_copy, &r));
	assert_string_equal(tds_json_str(r, "id", ""), id);
	json_decref(r);
	code_copy[strlen(code_copy) - 2] ^= 1;
	expect(tds_catalog_resource_by_code(F->cat, NULL, code_copy, &r), TDS_EINVAL, "invalid_code");
	expect(tds_catalog_resource_by_code(F->cat, NULL, "../../etc/passwd", &r), TDS_EINVAL, "invalid_code");

	/* publish with each kind of scope; bad scopes refused */
	expect(prov(tds_catalog_resource_publish, id, "{\"scope\":\"world\"}", NULL), TDS_EINVAL, "invalid_scope");
	expect(prov(tds_catalog_resource_publish, id, "{\"scope\":\"roles\",\"roles\":[\"king\"]}", NULL), TDS_EINVAL,
	       "invalid_scope");
	expect(prov(tds_catalog_resource_publish, id, "{\"scope\":\"orgs\",\"orgs\":[\"../x\"]}", NULL), TDS_EINVAL,
	       "invalid_scope");
	ok(prov(tds_catalog_resource_publish, id, "{\"scope\":\"roles\",\"roles\":[\"consumer\"]}", st));
	assert_string_equal(st, "published");
	ok(prov(tds_catalog_resource_publish, id, "{\"scope\":\"orgs\",\"orgs\":[\"org_01JBBBBBBBBBBBBBBBBBBBBBBB\"]}", st));
	ok(prov(tds_catalog_resource_publish, id, "{\"scope\":\"space\"}", st));
	assert_string_equal(st, "published");

	/* update without a level change: a new version, still published, the override kept */
	ok(prov(tds_catalog_resource_update, id, "{\"description\":\"企业月度纳税信息\",\"tags\":[\"纳税\"]}", st));
	assert_string_equal(st, "published");
	ok(tds_catalog_resource_get(F->cat, NULL, id, &r));
	assert_int_equal(json_integer_value(json_object_get(r, "version")), 2);
	char *scan = json_dumps(json_object_get(r, "scan"), JSON_COMPACT);
	assert_non_null(strstr(scan, "金额属于经营信息"));
	free(scan);
	json_decref(r);
	expect(prov(tds_catalog_resource_update, id, "{}", NULL), TDS_EINVAL, "empty_update");
	expect(prov(tds_catalog_resource_update, id, "{\"source_id\":\"src_x\"}", NULL), TDS_EINVAL, NULL);
	expect(prov(tds_catalog_resource_update, id, "{\"update_frequency\":\"sometimes\"}", NULL), TDS_EINVAL,
	       "invalid_update_frequency");

	/* deregister: the provider asks, the operator confirms destruction */
	ok(prov(tds_catalog_resource_deregister, id, "{\"reason\":\"数据停止更新\"}", st));
	assert_string_equal(st, "deregistering");
	expect(prov(tds_catalog_resource_publish, id, "{\"scope\":\"space\"}", NULL), TDS_ECONFLICT, "invalid_state");
	expect(rev(tds_catalog_resource_confirm_deregistration, &REV1, id, "{\"copies_destroyed\":false}", NULL), TDS_EUNPROC,
	       "copies_not_destroyed");
	ok(rev(tds_catalog_resource_confirm_deregistration, &REV1, id, "{\"copies_destroyed\":true,\"note\":\"托管副本已销毁\"}", st));
	assert_string_equal(st, "deregistered");
	expect(rev(tds_catalog_resource_remove, &REV1, id, "{\"reason\":\"x\"}", NULL), TDS_ECONFLICT, "invalid_state");
	expect(rev(tds_catalog_resource_confirm_deregistration, &REV1, id, "{\"copies_destroyed\":true}", NULL), TDS_ECONFLICT,
	       "invalid_state");

	evidence_of(id, ev, sizeof ev);
	const char *want[] = {"catalog.resource_registered", "catalog.resource_review_refused", "catalog.resource_overridden",
			      "catalog.resource_reviewed", "catalog.resource_published", "catalog.resource_updated",
			      "catalog.resource_deregister_requested", "catalog.resource_deregistered"};
	for (size_t i = 0; i < sizeof want / sizeof *want; i++)
		if (!strstr(ev, want[i]))
			fail_msg("evidence lacks %s: %s", want[i], ev);
	free(id);
}

static void test_one_reviewer_reject_update_remove(void **state)
{
	(void)state;
	char src[TDS_ID_MAX], st[32];
	source("plain", PLAIN_CSV, src);
	char *id = create(src, NULL);
	json_t *r;
	ok(tds_catalog_resource_get(F->cat, NULL, id, &r));
	assert_int_equal(json_integer_value(json_object_get(r, "approvals_needed")), 1);
	json_decref(r);
	ok(rev(tds_catalog_resource_review, &REV1, id, "{\"decision\":\"reject\",\"legality\":\"compliant\","
			"\"masking_adequate\":false,\"filing_status\":\"pending\",\"reasons\":[\"脱敏不足\"]}", st));
	assert_string_equal(st, "rejected");
	ok(tds_catalog_resource_get(F->cat, NULL, id, &r));
	assert_true(json_is_null(json_object_get(r, "code")));
	json_decref(r);
	/* an update sends it back to review, where one approval suffices */
	ok(prov(tds_catalog_resource_update, id, "{\"name\":\"地区户数统计\"}", st));
	assert_string_equal(st, "pending_review");
	ok(rev(tds_catalog_resource_review, &REV2, id, APPROVE, st));
	assert_string_equal(st, "approved");
	/* an update that does not raise the level keeps the approval */
	ok(prov(tds_catalog_resource_update, id, "{\"domain\":\"民政\"}", st));
	assert_string_equal(st, "approved");
	/* forced removal by the operator, with a reason */
	expect(rev(tds_catalog_resource_remove, &REV1, id, "{}", NULL), TDS_EINVAL, NULL);
	ok(rev(tds_catalog_resource_remove, &REV1, id, "{\"reason\":\"违规发布\"}", st));
	assert_string_equal(st, "removed");
	expect(prov(tds_catalog_resource_update, id, "{\"domain\":\"x\"}", NULL), TDS_ECONFLICT, "invalid_state");
	free(id);
}

/* An approved, published resource whose source gains a resident-ID column: the update's scan
 * raises the level, so it goes back to review (two reviewers now) and keeps its code. */
static void test_rereview_when_level_rises(void **state)
{
	(void)state;
	char p[256], src[TDS_ID_MAX], st[32];
	snprintf(p, sizeof p, "%s/reg.csv", tds_catalog_import_dir(F->cat));
	FILE *f = fopen(p, "wb");
	assert_non_null(f);
	fputs(PLAIN_CSV, f);
	fclose(f);
	tds_source_new s = {.org_id = ORG_A, .name = "reg", .kind = "csv", .path = "reg.csv"};
	json_t *out, *r;
	ok(tds_catalog_source_create(F->cat, &PROV, &s, &out));
	snprintf(src, sizeof src, "%s", tds_json_str(out, "id", ""));
	json_decref(out);
	ok(tds_catalog_source_import(F->cat, &PROV, ORG_A, src, NULL, NULL, &out));
	json_decref(out);
	char *id = create(src, NULL);
	ok(rev(tds_catalog_resource_review, &REV1, id, APPROVE, st));
	assert_string_equal(st, "approved");
	ok(prov(tds_catalog_resource_publish, id, "{\"scope\":\"space\"}", st));
	ok(tds_catalog_resource_get(F->cat, NULL, id, &r));
	char code[TDS_RESCODE_MAX];
	snprintf(code, sizeof code, "%s", tds_json_str(r, "code", ""));
	assert_true(strcmp(tds_json_str(r, "level", ""), "L3") < 0);
	json_decref(r);
	/* the file now holds resident IDs; re-import, update */
	f = fopen(p, "wb");
	assert_non_null(f);
	fputs(TAX_CSV, f);
	fclose(f);
	ok(tds_catalog_source_import(F->cat, &PROV, ORG_A, src, NULL, NULL, &out));
	json_decref(out);
	ok(prov(tds_catalog_resource_update, id, "{\"description\":\"now with representatives\"}", st));
	assert_string_equal(st, "pending_review");
	ok(tds_catalog_resource_get(F->cat, NULL, id, &r));
	assert_string_equal(tds_json_str(r, "level", ""), "L3");
	assert_string_equal(tds_json_str(r, "code", ""), code);
	assert_int_equal(json_integer_value(json_object_get(r, "approvals_needed")), 2);
	assert_int_equal(json_integer_value(json_object_get(r, "approvals")), 0); /* version 1's approval does not count */
	json_decref(r);
	ok(rev(tds_catalog_resource_review, &REV1, id, APPROVE, st));
	assert_string_equal(st, "pending_review");
	ok(rev(tds_catalog_resource_review, &REV2, id, APPROVE, st));
	assert_string_equal(st, "approved");
	ok(tds_catalog_resource_get(F->cat, NULL, id, &r));
	assert_string_equal(tds_json_str(r, "code", ""), code); /* the code stays */
	json_decref(r);
	free(id);
}

static void test_bad_input(void **state)
{
	(void)state;
	char src[TDS_ID_MAX];
	source("tax", TAX_CSV, src);
	json_t *out = NULL;
	struct {
		const char *body;
		int rc;
		const char *name;
	} cases[] = {
	    {"{\"name\":\"x\"}", TDS_EINVAL, NULL},
	    {"{\"source_id\":\"../../etc\",\"name\":\"x\"}", TDS_EINVAL, "invalid_source_id"},
	    {"{\"source_id\":\"src_01JAAAAAAAAAAAAAAAAAAAAAAA\",\"name\":\"x\"}", TDS_ENOTFOUND, "source_not_found"},
	    {"{\"source_id\":\"SRC\",\"name\":\"x\",\"sql\":\"DROP\"}", TDS_EINVAL, NULL},
	    {"{\"source_id\":\"SRC\",\"name\":\"\"}", TDS_EINVAL, "invalid_name"},
	    {"{\"source_id\":\"SRC\",\"name\":\"a\\u0001b\"}", TDS_EINVAL, "invalid_name"},
	    {"{\"source_id\":\"SRC\",\"name\":\"x\",\"tags\":[\"\"]}", TDS_EINVAL, "invalid_tag"},
	    {"{\"source_id\":\"SRC\",\"name\":\"x\",\"attributes\":[]}", TDS_EINVAL, NULL},
	    {"{\"source_id\":\"SRC\",\"name\":\"x\",\"update_frequency\":\"often\"}", TDS_EINVAL, "invalid_update_frequency"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		char body[512];
		const char *p = strstr(cases[i].body, "SRC");
		if (p)
			snprintf(body, sizeof body, "%.*s%s%s", (int)(p - cases[i].body), cases[i].body, src, p + 3);
		else
			snprintf(body, sizeof body, "%s", cases[i].body);
		json_t *in = J(body);
		int rc = tds_catalog_resource_create(F->cat, &PROV, ORG_A, in, &out);
		json_decref(in);
		if (rc != cases[i].rc || (cases[i].name && strcmp(tds_error_name(), cases[i].name)))
			fail_msg("case %zu: %d %s, wanted %d %s", i, rc, tds_error_name(), cases[i].rc, cases[i].name ? cases[i].name : "");
	}
	/* a source of another organisation is not found; a registered but not imported source is refused */
	json_t *in = J("{\"source_id\":\"x\",\"name\":\"x\"}");
	json_object_set_new(in, "source_id", json_string(src));
	expect(tds_catalog_resource_create(F->cat, &PROV, "org_01JBBBBBBBBBBBBBBBBBBBBBBB", in, &out), TDS_ENOTFOUND,
	       "source_not_found");
	tds_source_new s = {.org_id = ORG_A, .name = "later", .kind = "csv", .content = "a\n1\n", .content_len = 4};
	ok(tds_catalog_source_create(F->cat, &PROV, &s, &out));
	json_object_set(in, "source_id", json_object_get(out, "id"));
	json_decref(out);
	expect(tds_catalog_resource_create(F->cat, &PROV, ORG_A, in, &out), TDS_EUNPROC, "not_imported");
	json_decref(in);
	/* nothing was registered */
	ok(tds_catalog_resource_list(F->cat, NULL, NULL, 50, NULL, &out));
	assert_int_equal(json_array_size(json_object_get(out, "items")), 0);
	json_decref(out);
	expect(tds_catalog_resource_list(F->cat, NULL, "gone", 50, NULL, &out), TDS_EINVAL, "invalid_status");
	expect(tds_catalog_resource_list(F->cat, NULL, NULL, 50, "../x", &out), TDS_EINVAL, "invalid_cursor");
	expect(tds_catalog_resource_get(F->cat, NULL, "../../etc/passwd", &out), TDS_ENOTFOUND, "resource_not_found");
	expect(rev(tds_catalog_resource_review, &REV1, "res_..", APPROVE, NULL), TDS_ENOTFOUND, NULL);
}

static void test_list_paging(void **state)
{
	(void)state;
	char src[TDS_ID_MAX];
	source("plain", PLAIN_CSV, src);
	char *ids[3];
	for (int i = 0; i < 3; i++)
		ids[i] = create(src, NULL);
	json_t *out;
	ok(tds_catalog_resource_list(F->cat, ORG_A, "pending_review", 2, NULL, &out));
	assert_int_equal(json_array_size(json_object_get(out, "items")), 2);
	char cursor[TDS_ID_MAX];
	snprintf(cursor, sizeof cursor, "%s", tds_json_str(out, "next_cursor", ""));
	assert_string_equal(cursor, ids[1]);
	assert_null(json_object_get(json_array_get(json_object_get(out, "items"), 0), "scan")); /* lists are light */
	json_decref(out);
	ok(tds_catalog_resource_list(F->cat, ORG_A, NULL, 2, cursor, &out));
	assert_int_equal(json_array_size(json_object_get(out, "items")), 1);
	assert_true(json_is_null(json_object_get(out, "next_cursor")));
	json_decref(out);
	ok(tds_catalog_resource_list(F->cat, "org_01JBBBBBBBBBBBBBBBBBBBBBBB", NULL, 50, NULL, &out));
	assert_int_equal(json_array_size(json_object_get(out, "items")), 0);
	json_decref(out);
	for (int i = 0; i < 3; i++)
		free(ids[i]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_lifecycle_two_reviewers, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_one_reviewer_reject_update_remove, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_rereview_when_level_rises, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_bad_input, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_list_paging, fx_setup, fx_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
